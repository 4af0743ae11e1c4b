/*
 * core/partition/ptable.h — partitioned tables: a scheme (partition.h) and
 * one LSM tree per partition holding its rows.
 *
 * A table lives in a directory (DATA/partitioned/NAME, or its tablespace's
 * partitioned/NAME linked from there, see core/tablespace/objdir.h):
 *   TABLE.json      the table: key, strategy, hash key, primary key,
 *                   tablespace id, partitions (id, name, definition), the
 *                   row-id reservation; replaced atomically on each change
 *   <id>/           one LSM tree per partition, named by the partition's id
 *                   (ids are unique in the whole data dir and never reused,
 *                   so a dropped partition's files are never taken for a new
 *                   one's)
 *
 * Rows are JSON objects. Each is stored in its partition's tree (sync
 * "commit": acknowledged rows are in the fdatasync'ed WAL) under
 *     enc(key value) + enc(primary key value)     with a primary key column
 *     enc(key value) + 8-byte big-endian row id   without one
 * enc: 0x00 missing/null; 0x10 + order-preserving IEEE double for numbers;
 * 0x20 + bytes (0x00 escaped as 0x00 0xFF) + 0x00 0x00 for strings; so rows
 * are kept in key order. With a primary key, a row with the same key and
 * primary key replaces the earlier one (uniqueness includes the partition
 * key, as in PostgreSQL). Row ids come from a counter reserved in blocks
 * in TABLE.json, so they are never reused after a crash.
 *
 * An insert is atomic across partitions, also across a crash: it routes
 * every row first (one bad row: nothing is written), logs the whole routed
 * insert in the table's intent log (INTENT.log, core/partition/intent.h;
 * fdatasynced), writes one batch per partition, then marks the intent done.
 * An intent left pending by a crash is rolled forward — its rows put again,
 * idempotently — at the next open; one left pending by a failed partition
 * write, before the table's next operation on its rows or partitions: every
 * function below that takes a table and a msg (insert, query, info,
 * partition lists, partition-for, add, drop) completes it first, and fails
 * with the roll-forward's error (msg: "could not be completed", the intent
 * still pending) when it cannot. So after a crash an insert's rows are in
 * every partition or, if it was never acknowledged and its intent never
 * became durable, in none; and no answer counts or returns part of one.
 *
 * Thread safety: any thread; a table has a rwlock (readers share it;
 * inserts and partition changes are exclusive), so a reader never sees part
 * of an insert.
 */
#ifndef STRATA_CORE_PARTITION_PTABLE_H
#define STRATA_CORE_PARTITION_PTABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/partition/partition.h"

#define PTABLE_NAME_MAX 63
#define PTABLE_QUERY_MAX 10000  /* rows per query reply */
#define PTABLE_INSERT_MAX 10000 /* rows per insert */

struct ptable;

/*
 * Writes a new table's TABLE.json into dir (empty; the caller makes it
 * visible, see objdir_create). spec: {"key":..., "strategy":..., "hash_key"?,
 * "primary_key"?, "partitions"?: [{"name":..., ...definition or
 * "definition":{...}}]}; ids[i] is the id of partitions[i] (the caller's
 * counter). tablespace_id 0 = none.
 *   STRATA_EBAD_REQUEST, STRATA_ECONFLICT (overlapping partitions), I/O errors
 */
int ptable_init_dir(const char *dir, const char *name, const json_t *spec, const uint64_t *ids,
		    size_t nids, uint64_t tablespace_id, char *msg, size_t msglen);

/* Opens the table in dir: its trees, orphan partition dirs removed. */
int ptable_open(struct ptable **out, const char *dir, const char *name, char *msg, size_t msglen);
/* Closes every tree (flushing); frees t. The first error. */
int ptable_close(struct ptable *t);

const char *ptable_name(const struct ptable *t);
uint64_t ptable_tablespace(const struct ptable *t);
/* Largest partition id in the table (0 if none). Ids only: no roll-forward. */
uint64_t ptable_max_id(struct ptable *t);
/* Whether the table has the partition id. Ids only: no roll-forward. */
bool ptable_has_partition(struct ptable *t, uint64_t id);

/*
 * *out = {"name","key","strategy","hash_key"?,"primary_key"?,"partitions":
 * [...],"rows"}, after completing a pending insert (see above).
 *   the roll-forward's error (msg says so), STRATA_EBUSY, STRATA_ENOMEM
 */
int ptable_info(struct ptable *t, json_t **out, char *msg, size_t msglen);
/* *out = [{"id","table","name","definition","rows"}]; errors as ptable_info. */
int ptable_partitions_json(struct ptable *t, json_t **out, char *msg, size_t msglen);

/* Adds a partition with the given (fresh) id. *info: its representation.
 * STRATA_EBAD_REQUEST, STRATA_ECONFLICT (overlap, or the default partition
 * holds rows that would belong to it). */
int ptable_add_partition(struct ptable *t, uint64_t id, const char *name, const json_t *def,
			 json_t **info, char *msg, size_t msglen);
/* Drops partition id and its rows (a pending insert completed first, on
 * every partition it was routed to); *rows = how many it held.
 * STRATA_ENOT_FOUND, roll-forward errors. */
int ptable_drop_partition(struct ptable *t, uint64_t id, uint64_t *rows, char *msg, size_t msglen);

/* Routes and stores rows (an array of objects), atomically across
 * partitions (see above). *result = {"inserted":N,"by_partition":
 * {name:count}}; *bytes = key+value bytes written.
 *   STRATA_EBAD_REQUEST  a row with no partition (msg names it); nothing
 *                        written
 *   intent log errors    nothing written
 *   a partition's error  the insert is logged: it is completed before the
 *                        table's next operation or at the next start
 *   an earlier insert's error, when it still cannot be completed */
int ptable_insert(struct ptable *t, const json_t *rows, json_t **result, uint64_t *bytes,
		  char *msg, size_t msglen);
/*
 * Tests: fn runs inside every later insert after its intent is logged
 * (partitions_written 0) and after each partition's batch is written (1,
 * 2, ...), under the table's write lock. A non-zero return stops the insert
 * there as a failed write would (STRATA_EIO; the intent stays pending and
 * is completed later) and removes the hook (one-shot). stratad's debug ops
 * kill the process from it (debug.partitions_crash_after) or fail the
 * insert (debug.partitions_fail_after). fn NULL removes it.
 */
typedef int (*ptable_write_hook)(void *arg, const char *table, size_t partitions_written);
void ptable_set_write_hook(struct ptable *t, ptable_write_hook fn, void *arg);

/* Bytes rows would take (for a quota check before ptable_insert). */
uint64_t ptable_estimate(const json_t *rows);

/* Rows matching where, pruning partitions: {"rows":[...],"scanned":[names],
 * "pruned":[names],"count":N,"next":cursor|null}. limit 1..PTABLE_QUERY_MAX;
 * after: a "next" from an earlier reply or NULL. */
int ptable_query(struct ptable *t, const json_t *where, size_t limit, const char *after,
		 json_t **result, char *msg, size_t msglen);

/* {"partition":name,"id":N} for a key value (string values that look like
 * numbers are tried as numbers first: they come from a query string);
 * hash-key value for composite tables. STRATA_ENOT_FOUND. */
int ptable_partition_for(struct ptable *t, const json_t *value, const json_t *hvalue,
			 json_t **result, char *msg, size_t msglen);

#endif
