/*
 * core/tablespace/objdir.h — crash-safe object directories, at home or in
 * a tablespace.
 *
 * An object that holds data (an LSM tree, a partitioned table, ...) is a
 * directory HOME/NAME, where HOME is its kind's folder in the data dir
 * (DATA/lsm, DATA/partitioned). When the object is created in a
 * tablespace, its files live in KINDDIR/NAME (KINDDIR = TSDIR/KIND, e.g.
 * TSDIR/lsm) and HOME/NAME is a symbolic link to that directory, so the
 * code that opens objects at start finds them where it always did, and the
 * link records where they are.
 *
 * Protocols (every step that matters is followed by an fsync of the file
 * or directory it changed):
 *   create at home   mkdir HOME/.creating-NAME, init, rename to HOME/NAME
 *   create in a ts   symlink HOME/.creating-NAME -> KINDDIR/NAME, mkdir
 *                    KINDDIR/NAME, init, rename the link to HOME/NAME
 *   remove           rename HOME/NAME to HOME/.dropped-NAME, delete the
 *                    target's files (through the link), unlink
 * objdir_recover finishes whatever a crash interrupted: every
 * HOME/.creating-* and HOME/.dropped-* is deleted, and with it the
 * directory it points to. So a crash leaves either no object or a whole one.
 *
 * Names are the caller's to validate (no '/', no leading '.').
 * Thread safety: none; callers serialise per HOME.
 */
#ifndef STRATA_CORE_TABLESPACE_OBJDIR_H
#define STRATA_CORE_TABLESPACE_OBJDIR_H

#include <stdbool.h>
#include <stddef.h>

/* Fills the new, empty directory dir (e.g. writes its metadata); 0 or
 * STRATA_E* with msg set. */
typedef int (*objdir_init_fn)(void *arg, const char *dir, char *msg, size_t msglen);

/*
 * Creates HOME/NAME (kind_dir NULL) or KINDDIR/NAME linked from HOME/NAME,
 * calling init on the directory before it becomes visible. kind_dir's parent
 * (the tablespace directory) must exist; kind_dir is created if missing.
 *   STRATA_ECONFLICT  HOME/NAME or KINDDIR/NAME exists
 *   STRATA_EIO, STRATA_ENOSPC, STRATA_EQUOTA_EXCEEDED (from init) ...
 * On failure nothing is left behind.
 */
int objdir_create(const char *home, const char *name, const char *kind_dir, objdir_init_fn init,
		  void *arg, char *msg, size_t msglen);

/* Removes HOME/NAME and (through a link) its files. STRATA_ENOT_FOUND. */
int objdir_remove(const char *home, const char *name);

/* Deletes the leftovers of interrupted creates and removes in home. */
int objdir_recover(const char *home);

/* Whether HOME/NAME is a link into a tablespace; fills target if so. */
bool objdir_is_linked(const char *home, const char *name, char *target, size_t tlen);

/* rm -rf path (never follows symbolic links inside it). 0 if it is gone. */
int objdir_rm_tree(const char *path);

/* Replaces dir/fname with data atomically through the file layer: writes
 * dir/fname.tmp, fsyncs it, renames it over dir/fname, fsyncs dir. */
int objdir_write_file(const char *dir, const char *fname, const void *data, size_t len);

/* fsyncs a directory. */
int objdir_sync_dir(const char *dir);

#endif
