/* core/tablespace/objdir.c — see objdir.h for the protocols. */
#include "core/tablespace/objdir.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "strata/error.h"

#define PATHMAX 4608

int objdir_sync_dir(const char *dir)
{
	return file_sync_dir(dir);
}

int objdir_write_file(const char *dir, const char *fname, const void *data, size_t len)
{
	char path[PATHMAX], tmp[PATHMAX + 8];
	snprintf(path, sizeof(path), "%s/%s", dir, fname);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct sfile *f;
	int rv = file_open(&f, tmp, FILE_CREATE | FILE_TRUNC, "meta");
	if (rv)
		return rv;
	rv = file_pwrite(f, data, len, 0);
	if (!rv)
		rv = file_sync(f);
	int rc = file_close(f);
	if (!rv)
		rv = rc;
	if (!rv && rename(tmp, path) != 0)
		rv = strata_err_from_errno(errno);
	if (!rv)
		rv = objdir_sync_dir(dir);
	if (rv)
		(void)unlink(tmp);
	return rv;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (type == FTW_DP)
		return rmdir(p) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(p) == 0 || errno == ENOENT ? 0 : -1;
}

int objdir_rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : strata_err_from_errno(errno);
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == 0 ? 0 : strata_err_from_errno(errno);
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return strata_err_from_errno(errno ? errno : EIO);
	return 0;
}

bool objdir_is_linked(const char *home, const char *name, char *target, size_t tlen)
{
	char path[PATHMAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", home, name);
	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return false;
	if (target && tlen) {
		ssize_t n = readlink(path, target, tlen - 1);
		if (n < 0)
			return false;
		target[n] = '\0';
	}
	return true;
}

/* Deletes path, and when it is a link, the directory it points to first. */
static int remove_entry(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : strata_err_from_errno(errno);
	if (S_ISLNK(st.st_mode)) {
		char target[PATHMAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return strata_err_from_errno(errno);
		target[n] = '\0';
		int rv = objdir_rm_tree(target);
		if (rv)
			return rv;
		/* the tablespace's kind dir: make the deletion durable */
		char *slash = strrchr(target, '/');
		if (slash && slash != target) {
			*slash = '\0';
			(void)objdir_sync_dir(target);
		}
		return unlink(path) == 0 ? 0 : strata_err_from_errno(errno);
	}
	return objdir_rm_tree(path);
}

int objdir_recover(const char *home)
{
	DIR *dp = opendir(home);
	if (!dp)
		return errno == ENOENT ? 0 : strata_err_from_errno(errno);
	struct dirent *de;
	int rv = 0, changed = 0;
	while ((de = readdir(dp))) {
		if (strncmp(de->d_name, ".creating-", 10) != 0 && strncmp(de->d_name, ".dropped-", 9) != 0)
			continue;
		char path[PATHMAX];
		snprintf(path, sizeof(path), "%s/%s", home, de->d_name);
		int r = remove_entry(path);
		if (r && !rv)
			rv = r;
		changed = 1;
	}
	closedir(dp);
	if (changed) {
		int r = objdir_sync_dir(home);
		if (r && !rv)
			rv = r;
	}
	return rv;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int objdir_create(const char *home, const char *name, const char *kind_dir, objdir_init_fn init,
		  void *arg, char *msg, size_t msglen)
{
	char final[PATHMAX], tmp[PATHMAX], target[PATHMAX];
	snprintf(final, sizeof(final), "%s/%s", home, name);
	snprintf(tmp, sizeof(tmp), "%s/.creating-%s", home, name);
	if (exists(final)) {
		snprintf(msg, msglen, "'%s' exists already", name);
		return STRATA_ECONFLICT;
	}
	int rv = remove_entry(tmp); /* a leftover of an earlier failure */
	if (rv) {
		snprintf(msg, msglen, "cannot remove %s: %s", tmp, strata_strerror(rv));
		return rv;
	}
	if (!kind_dir) {
		if (mkdir(tmp, 0750) != 0) {
			rv = strata_err_from_errno(errno);
			snprintf(msg, msglen, "cannot create %s: %s", tmp, strerror(errno));
			return rv;
		}
		if ((rv = init(arg, tmp, msg, msglen)) != 0)
			goto fail_home;
		if ((rv = objdir_sync_dir(tmp)) != 0 || (rename(tmp, final) != 0 &&
		    (rv = strata_err_from_errno(errno)) != 0) || (rv = objdir_sync_dir(home)) != 0) {
			snprintf(msg, msglen, "cannot create %s: %s", final, strata_strerror(rv));
			goto fail_home;
		}
		return 0;
	fail_home:
		(void)objdir_rm_tree(tmp);
		(void)objdir_rm_tree(final);
		return rv;
	}

	snprintf(target, sizeof(target), "%s/%s", kind_dir, name);
	if (mkdir(kind_dir, 0750) != 0 && errno != EEXIST) {
		rv = strata_err_from_errno(errno);
		snprintf(msg, msglen, "cannot create %s: %s", kind_dir, strerror(errno));
		return rv;
	}
	if (exists(target)) {
		snprintf(msg, msglen, "%s exists already in the tablespace (not an object of this data dir?)",
			 target);
		return STRATA_ECONFLICT;
	}
	if (symlink(target, tmp) != 0 || (rv = objdir_sync_dir(home)) != 0) {
		rv = rv ? rv : strata_err_from_errno(errno);
		snprintf(msg, msglen, "cannot create the link %s: %s", tmp, strata_strerror(rv));
		(void)unlink(tmp);
		return rv;
	}
	/* From here on a crash is finished by objdir_recover (through the link). */
	if (mkdir(target, 0750) != 0) {
		rv = strata_err_from_errno(errno);
		snprintf(msg, msglen, "cannot create %s: %s", target, strerror(errno));
		(void)unlink(tmp);
		return rv;
	}
	if ((rv = init(arg, target, msg, msglen)) != 0)
		goto fail_ts;
	if ((rv = objdir_sync_dir(target)) != 0 || (rv = objdir_sync_dir(kind_dir)) != 0 ||
	    (rename(tmp, final) != 0 && (rv = strata_err_from_errno(errno)) != 0) ||
	    (rv = objdir_sync_dir(home)) != 0) {
		snprintf(msg, msglen, "cannot create %s: %s", final, strata_strerror(rv));
		goto fail_ts;
	}
	return 0;
fail_ts:
	(void)objdir_rm_tree(target);
	(void)unlink(tmp);
	(void)unlink(final);
	return rv;
}

int objdir_remove(const char *home, const char *name)
{
	char final[PATHMAX], gone[PATHMAX];
	snprintf(final, sizeof(final), "%s/%s", home, name);
	snprintf(gone, sizeof(gone), "%s/.dropped-%s", home, name);
	if (!exists(final))
		return STRATA_ENOT_FOUND;
	int rv = remove_entry(gone);
	if (rv)
		return rv;
	/* Renamed away first: a crash mid-delete leaves no half object that
	 * would reopen at the next start. */
	if (rename(final, gone) != 0)
		return strata_err_from_errno(errno);
	if ((rv = objdir_sync_dir(home)) != 0)
		return rv;
	rv = remove_entry(gone);
	int r = objdir_sync_dir(home);
	return rv ? rv : r;
}
