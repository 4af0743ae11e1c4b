/*
 * daemon/lockfile.h — one stratad per data dir.
 *
 * DIR/stratad.lock is held with flock(LOCK_EX) for the process's life and
 * holds its pid. The kernel drops the lock when the process dies however it
 * dies, so a crash never leaves the dir locked; the pid is only for the
 * message a second stratad prints.
 */
#ifndef STRATA_DAEMON_LOCKFILE_H
#define STRATA_DAEMON_LOCKFILE_H

#include <stddef.h>

struct lockfile {
	int fd;
	char path[4200];
};

/* 0, or STRATA_ECONFLICT ("another stratad (pid N) is using DIR") /
 * STRATA_EIO with err set. */
int lockfile_acquire(struct lockfile *l, const char *dir, char *err, size_t errlen);
void lockfile_release(struct lockfile *l);

#endif
