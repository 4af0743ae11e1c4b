/*
 * tests/unit/test_tablespace_areas.c — columnar tables (core/columnar) and
 * JSON collections (core/json/jstore.h) placed in a tablespace
 * (core/tablespace): the files live in TSDIR/KIND/NAME behind a link
 * DATA/KIND/NAME, the registry sees them (ts_objects, ts_owner, ts_drop
 * refuses), a reopen finds them and finishes interrupted creates, a drop
 * deletes the files in the tablespace.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/columnar/columnar.h"
#include "core/json/jstore.h"
#include "core/tablespace/objdir.h"
#include "core/tablespace/tablespace.h"
#include "strata/error.h"

static char tdir[256], data[300], home[400], kind_dir[TS_PATH_MAX + 32];
static char msg[512];

static int rm_cb(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st, (void)t, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/var/tmp/strata-test-tsa-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(data, sizeof(data), "%s/data", tdir);
	cr_assert_eq(mkdir(data, 0700), 0);
}

static void teardown(void)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(tsareas, .init = setup, .fini = teardown);

static struct ts_registry *open_reg(struct ts_info *t, const char *kind)
{
	struct ts_registry *r;
	cr_assert_eq(ts_registry_open(&r, data, NULL, msg, sizeof(msg)), 0, "%s", msg);
	if (ts_find(r, "fast", t) != 0)
		cr_assert_eq(ts_create(r, "fast", NULL, true, 1 << 20, t, msg, sizeof(msg)), 0, "%s", msg);
	snprintf(kind_dir, sizeof(kind_dir), "%s/%s", t->dir, kind);
	snprintf(home, sizeof(home), "%s/%s", data, kind);
	return r;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* HOME/NAME is a link to KINDDIR/NAME, which the registry attributes to t. */
static void assert_placed(struct ts_registry *r, const struct ts_info *t, const char *name)
{
	char target[TS_PATH_MAX + 200], want[TS_PATH_MAX + 200];
	cr_assert(objdir_is_linked(home, name, target, sizeof(target)), "%s/%s is not a link", home, name);
	snprintf(want, sizeof(want), "%s/%s", kind_dir, name);
	cr_assert_str_eq(target, want);
	cr_assert(is_dir(target));
	uint64_t id = 0;
	cr_assert_eq(ts_owner(r, target, &id), 0);
	cr_assert_eq(id, t->id);
}

/* A create a crash interrupted: a .creating- link to a half-built dir. */
static void fake_interrupted_create(const char *name)
{
	char target[TS_PATH_MAX + 200], link[600], junk[TS_PATH_MAX + 220];
	snprintf(target, sizeof(target), "%s/%s", kind_dir, name);
	snprintf(link, sizeof(link), "%s/.creating-%s", home, name);
	snprintf(junk, sizeof(junk), "%s/junk", target);
	cr_assert_eq(mkdir(target, 0750), 0, "%s: %s", target, strerror(errno));
	FILE *f = fopen(junk, "w");
	cr_assert_not_null(f);
	fputs("half", f);
	fclose(f);
	cr_assert_eq(symlink(target, link), 0);
}

static void insert_rows(struct columnar_db *db, const char *name, int64_t from, size_t n)
{
	struct col_table *t;
	cr_assert_eq(columnar_acquire(db, name, &t), 0);
	int64_t *v = calloc(n, sizeof(*v));
	uint8_t *nl = calloc(n, 1);
	cr_assert(v && nl);
	for (size_t i = 0; i < n; i++)
		v[i] = from + (int64_t)i;
	struct col_input in = {.i64 = v, .null = nl};
	cr_assert_eq(col_insert(t, &in, n, msg, sizeof(msg)), 0, "%s", msg);
	columnar_release(db);
	free(v);
	free(nl);
}

static uint64_t rows_of(struct columnar_db *db, const char *name)
{
	struct col_table *t;
	cr_assert_eq(columnar_acquire(db, name, &t), 0);
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	columnar_release(db);
	return ti.rows;
}

Test(tsareas, columnar_table_in_tablespace)
{
	struct ts_info t;
	struct ts_registry *r = open_reg(&t, "columnar");
	struct columnar_db *db;
	cr_assert_eq(columnar_open(&db, home, msg, sizeof(msg)), 0, "%s", msg);
	struct col_def cols[1] = {{.name = "id", .type = COL_INT64, .nullable = false}};
	struct col_create_opts o = {.cols = cols, .ncols = 1, .tablespace = "fast", .place_dir = kind_dir};
	cr_assert_eq(columnar_create(db, "a", &o, msg, sizeof(msg)), 0, "%s", msg);
	struct col_create_opts at_home = {.cols = cols, .ncols = 1};
	cr_assert_eq(columnar_create(db, "h", &at_home, msg, sizeof(msg)), 0, "%s", msg);
	/* the same name again, in the tablespace or not: a conflict, nothing left */
	cr_assert_eq(columnar_create(db, "a", &at_home, msg, sizeof(msg)), STRATA_ECONFLICT);
	assert_placed(r, &t, "a");
	cr_assert(!objdir_is_linked(home, "h", NULL, 0));
	insert_rows(db, "a", 0, 3000);

	char *names[4] = {0};
	cr_assert_eq(ts_objects(r, t.id, names, 4), 1);
	cr_assert_str_eq(names[0], "columnar/a");
	free(names[0]);
	cr_assert_eq(ts_refresh(r, t.id), 0);
	struct ts_info now;
	cr_assert_eq(ts_get(r, t.id, &now), 0);
	cr_assert_gt(now.used_bytes, 3000 * 2, "used %llu", (unsigned long long)now.used_bytes);
	cr_assert_eq(ts_drop(r, t.id, msg, sizeof(msg)), STRATA_ECONFLICT);
	cr_assert(strstr(msg, "columnar/a"), "%s", msg);

	/* reopen: found through the link; an interrupted create is finished */
	columnar_close(db);
	fake_interrupted_create("x");
	cr_assert_eq(columnar_open(&db, home, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(rows_of(db, "a"), 3000);
	char p[TS_PATH_MAX + 200];
	snprintf(p, sizeof(p), "%s/x", kind_dir);
	cr_assert(!exists(p), "the half-created table's files are still there");
	snprintf(p, sizeof(p), "%s/.creating-x", home);
	cr_assert(!exists(p));
	insert_rows(db, "a", 3000, 10);
	cr_assert_eq(rows_of(db, "a"), 3010);

	/* drop: the files in the tablespace go, then the tablespace can */
	cr_assert_eq(columnar_drop(db, "a"), 0);
	snprintf(p, sizeof(p), "%s/a", kind_dir);
	cr_assert(!exists(p));
	snprintf(p, sizeof(p), "%s/a", home);
	cr_assert(!exists(p));
	struct col_table *tt;
	cr_assert_eq(columnar_acquire(db, "a", &tt), STRATA_ENOT_FOUND);
	cr_assert_eq(ts_objects(r, t.id, NULL, 0), 0);
	cr_assert_eq(ts_drop(r, t.id, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(rows_of(db, "h"), 0);
	columnar_close(db);
	ts_registry_close(r);
}

Test(tsareas, json_collection_in_tablespace)
{
	struct ts_info t;
	struct ts_registry *r = open_reg(&t, "json");
	struct json_store *s;
	cr_assert_eq(jstore_open(&s, home, msg, sizeof(msg)), 0, "%s", msg);
	json_t *info = NULL;
	cr_assert_eq(jstore_create_in(s, "c", "fast", kind_dir, &info, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_str_eq(json_string_value(json_object_get(info, "tablespace")), "fast");
	json_decref(info);
	cr_assert_eq(jstore_create_in(s, "c", NULL, NULL, &info, msg, sizeof(msg)), STRATA_ECONFLICT);
	assert_placed(r, &t, "c");
	json_t *doc = json_pack("{s:i, s:s}", "n", 7, "s", "hello");
	bool created;
	cr_assert_eq(jstore_put(s, "c", "d1", doc, &created, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(created);
	cr_assert_eq(jstore_index_create(s, "c", "$.n", &info, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(info);

	char *names[4] = {0};
	cr_assert_eq(ts_objects(r, t.id, names, 4), 1);
	cr_assert_str_eq(names[0], "json/c");
	free(names[0]);
	cr_assert_eq(ts_drop(r, t.id, msg, sizeof(msg)), STRATA_ECONFLICT);

	cr_assert_eq(jstore_close(s), 0);
	fake_interrupted_create("y");
	cr_assert_eq(jstore_open(&s, home, msg, sizeof(msg)), 0, "%s", msg);
	json_t *got = NULL;
	cr_assert_eq(jstore_get(s, "c", "d1", &got, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(json_equal(got, doc));
	json_decref(got);
	json_decref(doc);
	json_t *q = NULL, *seven = json_integer(7);
	cr_assert_eq(jstore_query(s, "c", "$.n", "=", seven, 10, false, false, NULL, &q, msg, sizeof(msg)), 0,
		     "%s", msg);
	cr_assert_str_eq(json_string_value(json_object_get(q, "used_index")), "$.n");
	cr_assert_eq(json_array_size(json_object_get(q, "ids")), 1);
	json_decref(q);
	json_decref(seven);
	char p[TS_PATH_MAX + 200];
	snprintf(p, sizeof(p), "%s/y", kind_dir);
	cr_assert(!exists(p), "the half-created collection's files are still there");
	cr_assert_eq(jstore_info(s, "y", &info, msg, sizeof(msg)), STRATA_ENOT_FOUND);

	cr_assert_eq(jstore_drop(s, "c", msg, sizeof(msg)), 0, "%s", msg);
	snprintf(p, sizeof(p), "%s/c", kind_dir);
	cr_assert(!exists(p));
	snprintf(p, sizeof(p), "%s/c", home);
	cr_assert(!exists(p));
	cr_assert_eq(ts_objects(r, t.id, NULL, 0), 0);
	cr_assert_eq(ts_drop(r, t.id, msg, sizeof(msg)), 0, "%s", msg);
	/* the name is free again, at home this time */
	cr_assert_eq(jstore_create(s, "c", NULL, &info, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(info);
	cr_assert(!objdir_is_linked(home, "c", NULL, 0));
	cr_assert_eq(jstore_close(s), 0);
	ts_registry_close(r);
}
