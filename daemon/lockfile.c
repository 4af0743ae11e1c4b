#include "daemon/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "strata/error.h"

int lockfile_acquire(struct lockfile *l, const char *dir, char *err, size_t errlen)
{
	snprintf(l->path, sizeof(l->path), "%s/stratad.lock", dir);
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", l->path, strerror(errno));
		return strata_err_from_errno(errno);
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char pid[32] = "?";
		ssize_t n = pread(l->fd, pid, sizeof(pid) - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		close(l->fd);
		l->fd = -1;
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen, "another stratad (pid %s) is using data dir %s", pid, dir);
			return STRATA_ECONFLICT;
		}
		snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(e));
		return STRATA_EIO;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(l->fd, 0) != 0 || pwrite(l->fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write %s: %s", l->path, strerror(errno));
		close(l->fd);
		l->fd = -1;
		return STRATA_EIO;
	}
	return 0;
}

void lockfile_release(struct lockfile *l)
{
	if (l->fd < 0)
		return;
	(void)ftruncate(l->fd, 0);
	close(l->fd); /* drops the flock */
	l->fd = -1;
}
