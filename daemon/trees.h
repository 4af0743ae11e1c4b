/*
 * daemon/trees.h — stratad's named LSM trees.
 *
 * Each tree lives in DATA/lsm/NAME/ with its options in OPTIONS.json beside
 * the engine's own files; every tree found there is opened at start. A tree
 * created in a tablespace lives in TSDIR/lsm/NAME and DATA/lsm/NAME is a
 * symbolic link to it (core/tablespace/objdir.h); its OPTIONS.json records
 * "tablespace_id". Names
 * are 1..63 characters of [A-Za-z0-9_-] (no path separators, no dots).
 *
 * Thread safety: any thread. trees_acquire pins a tree for one op (a
 * read lock on the registry); create and drop take the write lock, so a
 * tree is never closed under a running op.
 */
#ifndef STRATA_DAEMON_TREES_H
#define STRATA_DAEMON_TREES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lsm.h"

struct trees;

/* Opens every tree under data_dir/lsm. 0, or STRATA_E* with err set. */
int trees_open(struct trees **out, const char *data_dir, char *err, size_t errlen);
/* Closes every tree (each flushes its memtable). */
int trees_close(struct trees *ts);

/* Whether name is a valid tree name; msg says why not. */
bool trees_name_ok(const char *name, char *msg, size_t msglen);

/*
 * Creates a tree from JSON options ({"sync":"none|commit|interval",
 * "memtable_bytes":N, "compression":bool, "bloom_bits_per_key":N,
 * "level_base_bytes":N, "level_ratio":N, "l0_compaction_trigger":N,
 * "wa_alert_threshold":X, "mmap_reads":bool}); *info = its representation. kind_dir: the
 * tablespace's lsm folder (TSDIR/lsm) and tablespace_id its id, or NULL/0
 * for DATA/lsm.
 * STRATA_ECONFLICT if it exists, STRATA_EBAD_REQUEST for bad options.
 */
int trees_create(struct trees *ts, const char *name, const json_t *opts, const char *kind_dir,
		 uint64_t tablespace_id, json_t **info, char *msg, size_t msglen);
/* Closes and deletes a tree and its files. STRATA_ENOT_FOUND. */
int trees_drop(struct trees *ts, const char *name);

/* Pins the tree for an op; release with trees_release. STRATA_ENOT_FOUND. */
int trees_acquire(struct trees *ts, const char *name, struct lsm **t);
void trees_release(struct trees *ts);

/* The tablespace id of a tree (under trees_acquire); 0 = none. */
uint64_t trees_tablespace_id(struct trees *ts, const char *name);

/* [{"name":..., "options":{...}, "stats":{...}}] */
json_t *trees_list(struct trees *ts);
/* A tree's options as JSON (under trees_acquire). */
json_t *trees_options_json(struct trees *ts, const char *name);
/* Stats as JSON. */
json_t *lsm_stats_json(struct lsm *t);

#endif
