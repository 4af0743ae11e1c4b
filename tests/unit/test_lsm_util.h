/*
 * tests/unit/test_lsm_util.h — helpers shared by the LSM unit tests:
 * a temporary directory per test and small key/value makers.
 */
#ifndef STRATA_TEST_LSM_UTIL_H
#define STRATA_TEST_LSM_UTIL_H

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/emit.h"
#include "core/file.h"
#include "core/lsm.h"
#include "strata/error.h"

static char tdir[256];  /* the test's scratch directory */
static char tree[300];  /* tdir/tree */

static void tdir_setup(void)
{
	snprintf(tdir, sizeof(tdir), "/var/tmp/strata-test-lsm-XXXXXX");
	if (!mkdtemp(tdir)) {
		snprintf(tdir, sizeof(tdir), "build/strata-test-lsm-XXXXXX");
		cr_assert_not_null(mkdtemp(tdir), "mkdtemp: %s", strerror(errno));
	}
	snprintf(tree, sizeof(tree), "%s/tree", tdir);
	emit_set_rare_limit(0);
	emit_set_sample_every(1);
}

static int tdir_rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void tdir_teardown(void)
{
	file_fault_clear();
	(void)nftw(tdir, tdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define CHECK_OK(expr)                                                                 \
	do {                                                                           \
		int rc_ = (expr);                                                      \
		cr_assert_eq(rc_, 0, "%s: %s (%d)", #expr, strata_strerror(rc_), rc_); \
	} while (0)

/* Number of files in tree whose names end with suffix. */
static inline int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	size_t sl = strlen(suffix);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl >= sl && strcmp(de->d_name + nl - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Path of the first (lowest-named) file in dir ending with suffix; false if none. */
static inline bool first_file(const char *dir, const char *suffix, char *out, size_t outlen, bool last)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	char best[256] = "";
	struct dirent *de;
	size_t sl = strlen(suffix);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < sl || strcmp(de->d_name + nl - sl, suffix) != 0 || nl >= sizeof(best))
			continue;
		if (!best[0] || (last ? strcmp(de->d_name, best) > 0 : strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (!best[0])
		return false;
	snprintf(out, outlen, "%s/%s", dir, best);
	return true;
}

#endif
