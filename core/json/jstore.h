/*
 * core/json/jstore.h — JSON document collections on LSM trees.
 *
 * A collection is one LSM tree in DIR/<name>/ (sync mode commit: an
 * acknowledged write is in the fdatasync'ed WAL). It holds three kinds of
 * keys, so that a document and its index entries change in one atomic
 * write batch:
 *   "m"                               → metadata (JSON: name, tablespace,
 *                                       created_us, next_index_id, indexes)
 *   "d" id                            → the document (compact JSON text)
 *   "x" u32be(index id) kind enc(v) id → "" (an index entry)
 * kind is 0x01 when v is the node the index path selects and 0x02 when v is
 * a scalar element of an array node (so `contains` can use the index).
 * enc(v) is an order-preserving, self-delimiting encoding of a scalar:
 * null 0x10 < false 0x20 < true 0x21 < numbers 0x30 < strings 0x40; numbers
 * by sign, binary exponent and 64-bit mantissa (exact for every int64 and
 * double, so 1 and 1.0 encode alike and mixed integers/reals order
 * correctly); strings as their bytes with 0x00 escaped as 00 FF, ended by
 * 00 01 — or, past JSTORE_STR_KEY_MAX bytes, the first JSTORE_STR_KEY_MAX
 * bytes ended by 00 02 (a bucket: queries recheck every candidate against
 * the document, so a bucket only costs extra reads).
 *
 * Crash safety: a collection is built under a hidden name (its tree and its
 * durable "m" key) and renamed into place; a directory without "m" is a
 * create that did not finish and is deleted at open. Drop renames the
 * directory to a hidden name first (fsync'ed), then deletes it; hidden
 * directories are deleted at open (core/tablespace/objdir.h). An index is added to the metadata as "building" before
 * its entries are written and marked "ready" after; an index found
 * "building" at open is built again before the store opens.
 *
 * Query semantics (the same with and without an index): a document matches
 * when any node its path selects satisfies the operator: = (deep equality,
 * numbers by value), < <= > >= (numbers with numbers, strings with strings
 * in code point order; other pairs never match), contains (jdoc_contains).
 * Results are ids in ascending byte order (limit applies after ordering).
 * An index is used when one exists on the same path (canonical form, so
 * `$.a` and `$['a']` are the same path), its state is ready, and the value
 * is a scalar (for contains too); otherwise every document is scanned.
 *
 * Names: collection names and tablespace names are 1..63 characters of
 * [A-Za-z0-9_-]; ids are 1..JSTORE_ID_MAX bytes of UTF-8 without control
 * characters or '/'.
 *
 * Errors: 0 or STRATA_E*, with msg set for the client: STRATA_ENOT_FOUND
 * (collection, document or index), STRATA_ECONFLICT (exists), 
 * STRATA_EBAD_REQUEST (names, paths, operators), the LSM tree's errors.
 *
 * Thread safety: any thread. A registry rwlock pins a collection for an op
 * (create/drop take it for writing); each collection serialises its writes
 * (put, delete, index create/drop) with a mutex; reads run concurrently.
 */
#ifndef STRATA_CORE_JSON_JSTORE_H
#define STRATA_CORE_JSON_JSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbudget; /* core/json/jbudget.h */

#define JSTORE_NAME_MAX 63
#define JSTORE_ID_MAX 256
#define JSTORE_STR_KEY_MAX 1024
#define JSTORE_MAX_COLLECTIONS 1024
#define JSTORE_MAX_INDEXES 32
#define JSTORE_LIST_MAX 1000
#define JSTORE_QUERY_MAX 10000

struct json_store;

/* Opens every collection under dir (created if missing). */
int jstore_open(struct json_store **out, const char *dir, char *err, size_t errlen);
/* Closes every collection; the first error (the WALs keep the data). */
int jstore_close(struct json_store *s);

bool jstore_name_ok(const char *name, const char *field, char *msg, size_t msglen);
bool jstore_id_ok(const char *id, char *msg, size_t msglen);

/* Creates a collection; tablespace may be NULL (kept in the metadata).
 * *info its representation. */
int jstore_create(struct json_store *s, const char *name, const char *tablespace, json_t **info,
		  char *msg, size_t msglen);
/* The same, placing the files: place_dir NULL = DIR/NAME; else the folder
 * of a tablespace for collections (TSDIR/json): the files are
 * PLACE_DIR/NAME and DIR/NAME is a symbolic link to them
 * (core/tablespace/objdir.h), which jstore_open follows. Drop deletes them
 * there too. */
int jstore_create_in(struct json_store *s, const char *name, const char *tablespace,
		     const char *place_dir, json_t **info, char *msg, size_t msglen);
int jstore_drop(struct json_store *s, const char *name, char *msg, size_t msglen);
/* {"collections":[{name, tablespace, created_us, indexes:[...]}]} */
json_t *jstore_list(struct json_store *s);
int jstore_info(struct json_store *s, const char *name, json_t **info, char *msg, size_t msglen);

/* Stores doc under id (replacing; index entries follow). *created: new id. */
int jstore_put(struct json_store *s, const char *name, const char *id, const json_t *doc,
	       bool *created, char *msg, size_t msglen);
int jstore_get(struct json_store *s, const char *name, const char *id, json_t **doc, char *msg,
	       size_t msglen);
int jstore_delete(struct json_store *s, const char *name, const char *id, char *msg,
		  size_t msglen);
/* Documents with id > after (NULL: from the first), at most limit (1..
 * JSTORE_LIST_MAX): {"items":[{"id":..,"doc":..}],"next":id or null}. */
int jstore_list_docs(struct json_store *s, const char *name, const char *after, size_t limit,
		     json_t **out, char *msg, size_t msglen);

/* Creates an index on path (built from the existing documents before this
 * returns); STRATA_ECONFLICT if one exists on the same canonical path. */
int jstore_index_create(struct json_store *s, const char *name, const char *path, json_t **info,
			char *msg, size_t msglen);
int jstore_index_drop(struct json_store *s, const char *name, const char *path, char *msg,
		      size_t msglen);
/* {"indexes":[{"path":..,"canonical":..,"id":N,"state":"ready","entries":N}]} */
int jstore_index_list(struct json_store *s, const char *name, json_t **out, char *msg,
		      size_t msglen);

/*
 * Query: op is "=" (or "=="), "<", "<=", ">", ">=", "contains". limit 1..
 * JSTORE_QUERY_MAX. no_index forces a full scan (tests compare both).
 * The path's evaluation on every document the query reads is charged to
 * the one budget (per query, not per document; NULL: unlimited):
 * STRATA_EPATH_TOO_EXPENSIVE when it runs out, no partial result.
 * *out: {"ids":[...], "docs":[...] (include_docs), "used_index": path or
 * null, "scanned": index entries or documents read, "truncated": bool}.
 */
int jstore_query(struct json_store *s, const char *name, const char *path, const char *op,
		 const json_t *value, size_t limit, bool include_docs, bool no_index,
		 struct jbudget *budget, json_t **out, char *msg, size_t msglen);

/*
 * The budget of index paths (core/json/jbudget.h), in units per document:
 * a put evaluates every index path on the new document under it, shared by
 * the collection's indexes (over it: STRATA_EPATH_TOO_EXPENSIVE naming the
 * index, nothing written); an index create evaluates its path on each
 * existing document under it (over it: the index is not created, msg names
 * the document). 0 is unlimited; the default is JBUDGET_DEFAULT. Not
 * limited: the entries of stored documents removed by a delete or a
 * replacing put (computed within the budget when they were written) and
 * finishing at open an index build a crash interrupted.
 */
void jstore_set_index_budget(struct json_store *s, uint64_t units);

/* enc(v) of a scalar into out (at most cap bytes); returns the length it
 * needs (> cap: nothing useful written), 0 for a non-scalar. For tests. */
size_t jstore_encode_value(const json_t *v, unsigned char *out, size_t cap);

#endif
