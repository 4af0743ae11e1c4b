/*
 * tests/unit/test_tablespace.c — the tablespace registry
 * (core/tablespace/tablespace.h): create, rename, quota, drop, persistence
 * and id reuse, catalog checksum, usage measured from the files, quota
 * checks; crash-safe object directories (core/tablespace/objdir.h).
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tablespace/objdir.h"
#include "core/tablespace/tablespace.h"
#include "strata/error.h"

static char tdir[256], data[300], roots[300];

static int rm_cb(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st, (void)t, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/var/tmp/strata-test-ts-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(data, sizeof(data), "%s/data", tdir);
	snprintf(roots, sizeof(roots), "%s/roots", tdir);
	cr_assert_eq(mkdir(data, 0700), 0);
	cr_assert_eq(mkdir(roots, 0700), 0);
}

static void teardown(void)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(tablespace, .init = setup, .fini = teardown);

static struct ts_registry *open_reg(void)
{
	struct ts_registry *r;
	char err[512];
	int rc = ts_registry_open(&r, data, roots, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	return r;
}

static void write_file(const char *path, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
		cr_assert_eq(write(fd, buf, k), (ssize_t)k);
		done += k;
	}
	cr_assert_eq(fsync(fd), 0);
	close(fd);
}

Test(tablespace, create_update_drop_persist)
{
	struct ts_registry *r = open_reg();
	char msg[512];
	struct ts_info a, b, c;
	cr_assert_eq(ts_create(r, "fast", NULL, true, 1000, &a, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(ts_create(r, "slow", NULL, false, 0, &b, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(ts_create(r, "fast", NULL, false, 0, NULL, msg, sizeof(msg)), STRATA_ECONFLICT);
	const char *bad[] = {"", "../x", "a/b", "..", "a.b", "x y",
			     "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ts_create(r, bad[i], NULL, false, 0, NULL, msg, sizeof(msg)), STRATA_EBAD_REQUEST, "%s", bad[i]);
	cr_assert_neq(a.id, b.id);
	struct stat st;
	cr_assert_eq(stat(a.dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(ts_update(r, a.id, "quick", true, false, 0, &c, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_str_eq(c.name, "quick");
	cr_assert(!c.has_quota);
	cr_assert_eq(ts_update(r, a.id, "slow", false, false, 0, NULL, msg, sizeof(msg)), STRATA_ECONFLICT);
	cr_assert_eq(ts_update(r, 999, "zz", false, false, 0, NULL, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	cr_assert_eq(ts_drop(r, b.id, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_neq(stat(b.dir, &st), 0);
	ts_registry_close(r);

	r = open_reg();
	struct ts_info *v;
	size_t n;
	cr_assert_eq(ts_list(r, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].name, "quick");
	cr_assert_eq(v[0].id, a.id);
	free(v);
	cr_assert_eq(ts_create(r, "new", NULL, false, 0, &c, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_gt(c.id, b.id, "ids are never reused");
	ts_registry_close(r);

	/* a damaged catalog is refused, not misread */
	char path[400];
	snprintf(path, sizeof(path), "%s/tablespaces/TABLESPACES", data);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, 25), 1);
	close(fd);
	char err[512];
	cr_assert_eq(ts_registry_open(&r, data, NULL, err, sizeof(err)), STRATA_ECORRUPT);
}

Test(tablespace, usage_quota_and_not_empty)
{
	struct ts_registry *r = open_reg();
	char msg[512], path[1200];
	struct ts_info a;
	cr_assert_eq(ts_create(r, "q", NULL, true, 100 * 1024, &a, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(ts_check_write(r, a.id, 50 * 1024, msg, sizeof(msg)), 0);
	snprintf(path, sizeof(path), "%s/lsm", a.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/lsm/t1", a.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/lsm/t1/f", a.dir);
	write_file(path, 80 * 1024);
	uint64_t bytes, files;
	cr_assert_eq(ts_dir_usage(a.dir, &bytes, &files), 0);
	cr_assert_eq(files, 1);
	cr_assert_geq(bytes, 80 * 1024, "st_blocks*512 of an 80 KiB written file: %llu", (unsigned long long)bytes);
	cr_assert_eq(ts_refresh(r, a.id), 0);
	cr_assert_eq(ts_check_write(r, a.id, 10 * 1024, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(ts_check_write(r, a.id, 40 * 1024, msg, sizeof(msg)), STRATA_EQUOTA_EXCEEDED);
	cr_assert(strstr(msg, "'q'") && strstr(msg, "quota"), "%s", msg);
	ts_account(r, a.id, 20 * 1024);
	cr_assert_eq(ts_check_write(r, a.id, 1, msg, sizeof(msg)), STRATA_EQUOTA_EXCEEDED);
	cr_assert_eq(ts_refresh(r, a.id), 0); /* measured again: the accounted bytes were not written */
	cr_assert_eq(ts_check_write(r, a.id, 1, msg, sizeof(msg)), 0);

	cr_assert_eq(ts_drop(r, a.id, msg, sizeof(msg)), STRATA_ECONFLICT);
	cr_assert(strstr(msg, "lsm/t1"), "%s", msg);
	char *names[4];
	cr_assert_eq(ts_objects(r, a.id, names, 4), 1);
	cr_assert_str_eq(names[0], "lsm/t1");
	free(names[0]);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lsm/t1", a.dir);
	rmdir(path);
	cr_assert_eq(ts_drop(r, a.id, msg, sizeof(msg)), 0, "%s", msg);
	ts_registry_close(r);
}

Test(tablespace, locations_under_roots)
{
	struct ts_registry *r = open_reg();
	char msg[512], loc[400];
	struct ts_info a;
	snprintf(loc, sizeof(loc), "%s/disk1", roots);
	cr_assert_eq(ts_create(r, "ext", loc, false, 0, &a, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(!a.in_data_dir);
	cr_assert_str_eq(a.dir, loc);
	cr_assert_eq(ts_create(r, "x", "/etc/strata-x", false, 0, NULL, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_eq(ts_create(r, "x", roots, false, 0, NULL, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	snprintf(loc, sizeof(loc), "%s/../x", roots);
	cr_assert_eq(ts_create(r, "x", loc, false, 0, NULL, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	snprintf(loc, sizeof(loc), "%s/disk1/inner", roots);
	cr_assert_eq(ts_create(r, "x", loc, false, 0, NULL, msg, sizeof(msg)), STRATA_ECONFLICT);
	ts_registry_close(r);
	r = open_reg();
	struct ts_info g;
	cr_assert_eq(ts_find(r, "ext", &g), 0);
	cr_assert_str_eq(g.dir, a.dir);
	cr_assert_eq(ts_drop(r, g.id, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_neq(access(a.dir, F_OK), 0);
	ts_registry_close(r);
}

static int init_ok(void *arg, const char *dir, char *msg, size_t msglen)
{
	(void)arg, (void)msg, (void)msglen;
	char p[1200];
	snprintf(p, sizeof(p), "%s/META", dir);
	return objdir_write_file(dir, "META", "m", 1) ? -1 : access(p, F_OK);
}

static int init_fail(void *arg, const char *dir, char *msg, size_t msglen)
{
	(void)arg, (void)dir;
	snprintf(msg, msglen, "nope");
	return STRATA_EQUOTA_EXCEEDED;
}

Test(tablespace, objdir_create_remove_recover)
{
	char home[400], kind[400], p[900], t[900];
	snprintf(home, sizeof(home), "%s/home", tdir);
	snprintf(kind, sizeof(kind), "%s/ts/lsm", tdir);
	snprintf(p, sizeof(p), "%s/ts", tdir);
	cr_assert_eq(mkdir(home, 0700), 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	char msg[256];
	cr_assert_eq(objdir_create(home, "a", NULL, init_ok, NULL, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(objdir_create(home, "b", kind, init_ok, NULL, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(objdir_is_linked(home, "b", t, sizeof(t)));
	snprintf(p, sizeof(p), "%s/b/META", home);
	cr_assert_eq(access(p, F_OK), 0);
	cr_assert_eq(objdir_create(home, "b", kind, init_ok, NULL, msg, sizeof(msg)), STRATA_ECONFLICT);
	/* a failing init leaves nothing */
	cr_assert_eq(objdir_create(home, "c", kind, init_fail, NULL, msg, sizeof(msg)), STRATA_EQUOTA_EXCEEDED);
	snprintf(p, sizeof(p), "%s/c", kind);
	cr_assert_neq(access(p, F_OK), 0);
	/* a crash in the middle of a create into a tablespace: link + dir */
	snprintf(p, sizeof(p), "%s/.creating-d", home);
	snprintf(t, sizeof(t), "%s/d", kind);
	cr_assert_eq(symlink(t, p), 0);
	cr_assert_eq(mkdir(t, 0700), 0);
	cr_assert_eq(objdir_recover(home), 0);
	cr_assert_neq(access(t, F_OK), 0);
	struct stat st;
	cr_assert_neq(lstat(p, &st), 0);
	/* remove through the link */
	snprintf(t, sizeof(t), "%s/b", kind);
	cr_assert_eq(objdir_remove(home, "b"), 0);
	cr_assert_neq(access(t, F_OK), 0);
	snprintf(p, sizeof(p), "%s/b", home);
	cr_assert_neq(lstat(p, &st), 0);
	cr_assert_eq(objdir_remove(home, "b"), STRATA_ENOT_FOUND);
	cr_assert_eq(objdir_remove(home, "a"), 0);
}
