/*
 * core/partition/partition.h — partitioning schemes: definitions, routing,
 * predicates and pruning. Pure logic over JSON values (jansson), no I/O;
 * core/partition/ptable.h stores the rows.
 *
 * Key values are JSON numbers or strings, in one total order: every number
 * before every string; numbers by value (1 == 1.0), strings by bytes.
 *
 * Strategies and their partition definitions (JSON objects):
 *   range      {"from":V, "to":V}        from <= key < to; a missing or null
 *                                        bound is unbounded on that side
 *   list       {"values":[V, ...]}       key equals one of the values
 *   hash       {"modulus":M, "remainder":R}   part_hash(key) % M == R
 *                                        (1 <= M <= 1024, 0 <= R < M)
 *   composite  {"from":V, "to":V, "modulus":M, "remainder":R}: range on the
 *              key, then hash of the hash key (the key unless the table names
 *              another column) — a leaf of PostgreSQL's RANGE-then-HASH
 *              subpartitioning
 *   any but hash: {"default":true}, the partition for rows no other takes
 *              (and rows without a key value)
 * Conflicts (STRATA_ECONFLICT): a name in use, a second default, overlapping
 * ranges, a list value in two partitions, hash partitions covering the same
 * hashes (for moduli m1 | m2: r2 % m1 == r1). As in PostgreSQL, hash moduli
 * of overlapping partitions must divide one another (else
 * STRATA_EBAD_REQUEST).
 *
 * Hash: FNV-1a 64 over a tag byte and the value's bytes ('i' + little-endian
 * int64 for integral numbers, whatever their JSON spelling; 'f' + the IEEE
 * double otherwise; 's' + the string's bytes), then the splitmix64
 * finalizer.
 *
 * Predicates ("where"): {"col": {"op": V, ...}, ...}; several ops and
 * columns are ANDed; {"col": V} means eq. Ops: eq, ne, lt, le, gt, ge (V a
 * scalar), in (an array), between ([lo, hi], inclusive). A row without the
 * column matches no op; lt/le/gt/ge/between compare numbers with numbers
 * and strings with strings only (other pairs do not match); eq/in compare
 * any JSON (numbers by value); ne is "not eq".
 *
 * Pruning is sound (a partition holding a matching row is never pruned) and
 * exact for range and list partitions (a kept partition has a key value
 * that satisfies the key's ops), and for hash partitions under eq/in on the
 * hashed column; a default partition is pruned only when the key's ops
 * allow finitely many values and every one routes elsewhere.
 *
 * Thread safety: schemes are plain data; callers serialise changes.
 */
#ifndef STRATA_CORE_PARTITION_H
#define STRATA_CORE_PARTITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PART_NAME_MAX 63
#define PART_COL_MAX 127
#define PART_MAX 256       /* partitions per table */
#define PART_MODULUS_MAX 1024

enum part_strategy { PART_RANGE = 1, PART_LIST, PART_HASH, PART_COMPOSITE };

const char *part_strategy_name(enum part_strategy s);
/* Any case. STRATA_EBAD_REQUEST. */
int part_strategy_parse(const char *s, enum part_strategy *out);

struct part_def {
	uint64_t id;
	char name[PART_NAME_MAX + 1];
	bool is_default;
	json_t *from, *to;            /* range, composite; NULL = unbounded (owned) */
	json_t *values;               /* list (owned) */
	uint32_t modulus, remainder;  /* hash, composite */
};

struct part_scheme {
	enum part_strategy strategy;
	char key[PART_COL_MAX + 1];
	char hash_key[PART_COL_MAX + 1]; /* the hashed column (= key but for composite) */
	struct part_def *v;              /* owned */
	size_t n;
};

/* Whether v can be a key value (a finite number or a string). */
bool part_value_ok(const json_t *v);
/* Total order of key values (both part_value_ok): <0, 0, >0. */
int part_value_cmp(const json_t *a, const json_t *b);
uint64_t part_hash(const json_t *v);

/* Whether a name (table, partition, column) is 1..max of [A-Za-z0-9_-]. */
bool part_name_ok(const char *name, size_t max);

/* Parses a definition for scheme s into out (id 0; out owns references).
 * STRATA_EBAD_REQUEST with msg. */
int part_def_parse(const struct part_scheme *s, const char *name, const json_t *def,
		   struct part_def *out, char *msg, size_t msglen);
void part_def_free(struct part_def *d);
/* The definition as JSON (new reference). */
json_t *part_def_json(const struct part_scheme *s, const struct part_def *d);

/* Whether d may join s: 0, STRATA_ECONFLICT or STRATA_EBAD_REQUEST (msg). */
int part_check_add(const struct part_scheme *s, const struct part_def *d, char *msg,
		   size_t msglen);

/* Whether a (non-default) partition takes key value key (and hash-key value
 * hkey, composite only; NULL = missing). */
bool part_def_contains(const struct part_scheme *s, const struct part_def *d, const json_t *key,
		       const json_t *hkey);

/*
 * The partition of key value key (NULL or JSON null: missing) and hash-key
 * value hkey (composite; ignored otherwise): *idx into s->v.
 *   STRATA_EBAD_REQUEST  a key that is not a number or string (msg)
 *   STRATA_ENOT_FOUND    no partition takes it and there is no default (msg)
 */
int part_route_value(const struct part_scheme *s, const json_t *key, const json_t *hkey,
		     size_t *idx, char *msg, size_t msglen);
/* The same for a row (a JSON object). */
int part_route(const struct part_scheme *s, const json_t *row, size_t *idx, char *msg,
	       size_t msglen);

struct part_where;
/* Parses a where object (NULL or {} = everything). STRATA_EBAD_REQUEST. */
int part_where_parse(const json_t *where, struct part_where **out, char *msg, size_t msglen);
void part_where_free(struct part_where *w);
bool part_where_match(const struct part_where *w, const json_t *row);
/* Sets keep[i] for each of s->n partitions: whether a row matching w can be
 * in it (see above). */
void part_prune(const struct part_scheme *s, const struct part_where *w, bool *keep);

#endif
