/*
 * core/tablespace/tablespace.h — tablespaces: named locations with quotas.
 *
 * A tablespace is a named directory where objects keep their files, with an
 * optional quota on the space they use. Its directory is either
 *   DATA/tablespaces/<id>        (the default), or
 *   LOCATION                     an absolute path under one of the allowed
 *                                roots (ts_registry_open's roots; stratad
 *                                reads them from STRATA_TABLESPACE_ROOTS,
 *                                colon-separated). LOCATION is created if it
 *                                is missing, must be empty if it exists, and
 *                                is deleted again when the tablespace is.
 * Objects live in KIND/NAME inside it (see objdir.h): lsm/orders,
 * partitioned/events, ... A tablespace holding any object cannot be dropped
 * (STRATA_ECONFLICT).
 *
 * Ids are stable: numbers from 1, persisted, never reused (also after a
 * drop or a restart). Names are 1..TS_NAME_MAX characters of
 * [A-Za-z0-9_-] and unique; a rename keeps the id and the directory.
 *
 * Usage is measured from the real files: a walk of the directory summing
 * st_blocks * 512 of every regular file (the space the file system
 * allocated, so preallocated WAL space counts and holes do not). It is
 * measured at open, by ts_refresh (stratad: each module tick and after a
 * write that took it near the quota), and grows by ts_account between
 * measurements. A write of N bytes is refused by ts_check_write with
 * STRATA_EQUOTA_EXCEEDED when usage + N would exceed the quota.
 *
 * The catalog is DATA/tablespaces/TABLESPACES, a text file with a CRC32C
 * line, replaced atomically (write temp, fsync, rename, fsync dir) on every
 * change.
 *
 * Thread safety: every function may be called from any thread (one mutex;
 * directory walks run outside it).
 */
#ifndef STRATA_CORE_TABLESPACE_H
#define STRATA_CORE_TABLESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_NAME_MAX 63
#define TS_MAX 256
#define TS_PATH_MAX 1024

struct ts_registry;

struct ts_info {
	uint64_t id;
	char name[TS_NAME_MAX + 1];
	char dir[TS_PATH_MAX];     /* absolute, real */
	bool in_data_dir;          /* DATA/tablespaces/<id> (else a LOCATION) */
	bool has_quota;
	uint64_t quota_bytes;
	uint64_t used_bytes;       /* last measure + accounted since */
	uint64_t files;            /* regular files at the last measure */
	int64_t measured_us;       /* wall clock of the last measure */
};

/*
 * Opens (creating if needed) the registry of data_dir. roots: allowed roots
 * for LOCATIONs, colon-separated absolute paths (NULL or "" = none; roots
 * that do not exist are ignored with a line on stderr). Measures every
 * tablespace once. 0, or STRATA_E* with err set (STRATA_ECORRUPT: the
 * catalog fails its checksum or does not parse).
 */
int ts_registry_open(struct ts_registry **out, const char *data_dir, const char *roots,
		     char *err, size_t errlen);
void ts_registry_close(struct ts_registry *r);

/* Whether name is a valid tablespace name; msg says why not. */
bool ts_name_ok(const char *name, char *msg, size_t msglen);

/*
 * Creates a tablespace. location NULL = in the data dir. has_quota false =
 * no quota. *out (may be NULL) receives it.
 *   STRATA_EBAD_REQUEST  bad name or location (not absolute, '..', not
 *                        under an allowed root, not an empty directory)
 *   STRATA_ECONFLICT     the name is taken, or the location is another
 *                        tablespace's (or inside it)
 */
int ts_create(struct ts_registry *r, const char *name, const char *location, bool has_quota,
	      uint64_t quota_bytes, struct ts_info *out, char *msg, size_t msglen);

/* Renames (new_name non-NULL) and/or sets the quota (set_quota; has_quota
 * false removes it). A quota below the current usage is allowed (writes
 * then fail). STRATA_ENOT_FOUND, STRATA_EBAD_REQUEST, STRATA_ECONFLICT
 * (name taken). */
int ts_update(struct ts_registry *r, uint64_t id, const char *new_name, bool set_quota,
	      bool has_quota, uint64_t quota_bytes, struct ts_info *out, char *msg, size_t msglen);

/* Drops an empty tablespace and deletes its directory. STRATA_ENOT_FOUND;
 * STRATA_ECONFLICT while it holds objects (msg lists some). */
int ts_drop(struct ts_registry *r, uint64_t id, char *msg, size_t msglen);

/* Looks a tablespace up by id / by name. STRATA_ENOT_FOUND. */
int ts_get(struct ts_registry *r, uint64_t id, struct ts_info *out);
int ts_find(struct ts_registry *r, const char *name, struct ts_info *out);

/* The tablespace whose directory holds path (strictly below it, e.g. the
 * link target TSDIR/columnar/orders of an object): 0 with *id set, or
 * STRATA_ENOT_FOUND. */
int ts_owner(struct ts_registry *r, const char *path, uint64_t *id);

/* Every tablespace, by id; *out malloc'd (free it), *n its count. */
int ts_list(struct ts_registry *r, struct ts_info **out, size_t *n);

/*
 * The objects in a tablespace: "KIND/NAME" strings, at most max of them, in
 * names (each malloc'd; the caller frees them). Returns the count found (may
 * be more than max), or a negative STRATA_E*.
 */
int ts_objects(struct ts_registry *r, uint64_t id, char **names, size_t max);

/* Whether a write of bytes into tablespace id fits its quota: 0, or
 * STRATA_EQUOTA_EXCEEDED with msg naming the tablespace and the figures;
 * STRATA_ENOT_FOUND. */
int ts_check_write(struct ts_registry *r, uint64_t id, uint64_t bytes, char *msg, size_t msglen);

/* Adds bytes to id's usage until the next measure (after a write). */
void ts_account(struct ts_registry *r, uint64_t id, uint64_t bytes);

/* Measures id's usage now (id 0: every tablespace). */
int ts_refresh(struct ts_registry *r, uint64_t id);

/* Measures a directory: sum of st_blocks * 512 over its regular files. */
int ts_dir_usage(const char *dir, uint64_t *bytes, uint64_t *files);

#endif
