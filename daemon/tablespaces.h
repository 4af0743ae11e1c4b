/*
 * daemon/tablespaces.h — what the other storage areas call to put objects in
 * tablespaces and respect their quotas (daemon/ops_tablespaces.c; the
 * registry itself is core/tablespace/tablespace.h).
 *
 * Creating an object in a tablespace:
 *     uint64_t ts_id; char kind_dir[TS_PATH_MAX + 32];
 *     rv = tablespaces_resolve(d, args, "columnar", &ts_id, kind_dir, sizeof(kind_dir), msg, msglen);
 *     ... objdir_create(HOME, name, ts_id ? kind_dir : NULL, init, arg, msg, msglen) ...
 *     record ts_id with the object (its metadata)
 * Writing into it:
 *     rv = tablespaces_check(d, ts_id, bytes, msg, msglen);   (STRATA_EQUOTA_EXCEEDED)
 *     ... write ...
 *     tablespaces_account(d, ts_id, bytes);
 * ts_id 0 means "not in a tablespace": check always passes, account does
 * nothing. Usage is re-measured from the files every module tick, so the
 * accounted figure only bridges the time between two measures.
 *
 * Thread safety: any thread, after module_tablespaces opened.
 */
#ifndef STRATA_DAEMON_TABLESPACES_H
#define STRATA_DAEMON_TABLESPACES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tablespace/tablespace.h"

struct stratad;

/*
 * Reads the optional "tablespace" field (a name) of create args. Absent or
 * null: *id = 0. Else *id is its id and kind_dir = TSDIR/KIND (kind: "lsm",
 * "partitioned", "columnar", "json", ...).
 *   STRATA_EBAD_REQUEST  not a string / not a valid name
 *   STRATA_ENOT_FOUND    no such tablespace
 */
int tablespaces_resolve(struct stratad *d, const json_t *args, const char *kind, uint64_t *id,
			char *kind_dir, size_t kind_dir_len, char *msg, size_t msglen);

/* 0, or STRATA_EQUOTA_EXCEEDED (msg names the tablespace and the figures). */
int tablespaces_check(struct stratad *d, uint64_t id, uint64_t bytes, char *msg, size_t msglen);

void tablespaces_account(struct stratad *d, uint64_t id, uint64_t bytes);

/*
 * The tablespace the object HOME/NAME lives in, found from where its link
 * points (core/tablespace/objdir.h): its id, or 0 when HOME/NAME is not a
 * link into a tablespace. For areas that do not record the id themselves
 * (columnar tables, JSON collections); the placement on disk is the truth,
 * so a rename of the tablespace changes nothing.
 */
uint64_t tablespaces_owner(struct stratad *d, const char *home, const char *name);

/* The name of tablespace id into name (NULL when there is none / id 0). */
const char *tablespaces_name(struct stratad *d, uint64_t id, char *name, size_t len);

#endif
