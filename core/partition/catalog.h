/*
 * core/partition/catalog.h — the partitioned tables of a data dir.
 *
 * Tables are DATA/partitioned/NAME (a directory, or a link into a
 * tablespace: core/tablespace/objdir.h), each opened at start. Partition ids
 * come from one counter for the whole data dir, DATA/partitioned/NEXT_ID,
 * written (atomically) before an id is used, and never below the largest id
 * found in any table: ids are never reused.
 *
 * Thread safety: any thread. partitions_acquire pins a table for one op (a
 * read lock on the catalog); create and drop take the write lock.
 */
#ifndef STRATA_CORE_PARTITION_CATALOG_H
#define STRATA_CORE_PARTITION_CATALOG_H

#include <jansson.h>
#include <stdint.h>

#include "core/partition/ptable.h"

#define PARTITIONS_MAX_TABLES 1024

struct partitions;

int partitions_open(struct partitions **out, const char *data_dir, char *err, size_t errlen);
int partitions_close(struct partitions *p);

/*
 * Creates a table from spec ({"name", "key", "strategy", ...} as
 * ptable_init_dir). kind_dir: TSDIR/partitioned when in a tablespace (with
 * its id), else NULL/0. *info: the table.
 *   STRATA_EBAD_REQUEST, STRATA_ECONFLICT (name taken, overlapping
 *   partitions), I/O errors
 */
int partitions_create_table(struct partitions *p, const json_t *spec, const char *kind_dir,
			    uint64_t tablespace_id, json_t **info, char *msg, size_t msglen);
/* Drops a table and every row. *rows = how many (a pending insert
 * completed first: counted whole; when it cannot be, the table stays and
 * the roll-forward's error is returned). STRATA_ENOT_FOUND. */
int partitions_drop_table(struct partitions *p, const char *name, uint64_t *rows, char *msg,
			  size_t msglen);

/* Pins a table (release with partitions_release). STRATA_ENOT_FOUND. */
int partitions_acquire(struct partitions *p, const char *name, struct ptable **t);
/* Pins the table holding partition id. STRATA_ENOT_FOUND. */
int partitions_acquire_by_partition(struct partitions *p, uint64_t id, struct ptable **t);
void partitions_release(struct partitions *p);

/* A fresh partition id (persisted first). */
int partitions_next_id(struct partitions *p, uint64_t *id);

/* *out = [ptable_info of each table]. A table whose pending insert cannot
 * be completed fails the whole list with its error (msg names it). */
int partitions_list(struct partitions *p, json_t **out, char *msg, size_t msglen);
/* *out = every partition of every table (ptable_partitions_json); errors
 * as partitions_list. */
int partitions_all(struct partitions *p, json_t **out, char *msg, size_t msglen);

#endif
