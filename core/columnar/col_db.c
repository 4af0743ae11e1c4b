/*
 * core/columnar/col_db.c — the registry of tables in one directory
 * (DATA/columnar): open at start, create, drop, pin for an op.
 *
 * Create builds the table aside (.creating-NAME: its empty MANIFEST), then
 * renames it into place and fsyncs the directory; drop renames the table
 * away (.dropped-NAME) first, so a crash never leaves half a table that
 * would open at the next start. columnar_open finishes both. A table in a
 * tablespace is the same with DIR/NAME a symbolic link to its files
 * (core/tablespace/objdir.h implements both protocols).
 *
 * Lock: a reader/writer lock over the list; an op holds it shared from
 * columnar_acquire to columnar_release, create and drop hold it
 * exclusively (so a table is never freed under a running op).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/columnar/col_internal.h"
#include "core/file.h"
#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define MAX_TABLES 4096

struct columnar_db {
	char dir[4096];
	pthread_rwlock_t lock;
	struct col_table **v;      /* sorted by name */
	size_t n;
};

static size_t find_pos(struct columnar_db *db, const char *name, bool *found)
{
	size_t lo = 0, hi = db->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(db->v[mid]->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int insert_table(struct columnar_db *db, struct col_table *t)
{
	bool found;
	size_t pos = find_pos(db, t->name, &found);
	if (found)
		return STRATA_ECONFLICT;
	struct col_table **nv = realloc(db->v, (db->n + 1) * sizeof(*nv));
	if (!nv)
		return STRATA_ENOMEM;
	db->v = nv;
	memmove(&db->v[pos + 1], &db->v[pos], (db->n - pos) * sizeof(*nv));
	db->v[pos] = t;
	db->n++;
	return 0;
}

int columnar_open(struct columnar_db **out, const char *dir, char *err, size_t errlen)
{
	struct columnar_db *db = calloc(1, sizeof(*db));
	if (!db)
		return STRATA_ENOMEM;
	snprintf(db->dir, sizeof(db->dir), "%s", dir);
	pthread_rwlock_init(&db->lock, NULL);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		columnar_close(db);
		return STRATA_EIO;
	}
	/* Creates and drops a crash interrupted (also through links into
	 * tablespaces): finished. */
	int rrv = objdir_recover(dir);
	if (rrv)
		fprintf(stderr, "stratad: cleaning %s: %s\n", dir, strata_strerror(rrv));
	DIR *dp = opendir(dir);
	if (!dp) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		columnar_close(db);
		return STRATA_EIO;
	}
	struct dirent *de;
	int rv = 0;
	while ((de = readdir(dp))) {
		char path[4400], msg[256];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || !col_name_ok(de->d_name, "name", msg, sizeof(msg)))
			continue;
		char mf[4500];
		snprintf(mf, sizeof(mf), "%s/MANIFEST", path);
		if (access(mf, F_OK) != 0) {
			char to[4600];
			snprintf(to, sizeof(to), "%s/.orphan-%s-%lld", dir, de->d_name, (long long)time(NULL));
			fprintf(stderr, "stratad: %s has no MANIFEST: not a table, moved to %s\n", path, to);
			if (rename(path, to) != 0)
				fprintf(stderr, "stratad: cannot move %s: %s\n", path, strerror(errno));
			continue;
		}
		struct col_table *t;
		if ((rv = col_table_open(&t, path, de->d_name, err, errlen)) != 0)
			break;
		if ((rv = insert_table(db, t)) != 0) {
			col_table_free(t);
			snprintf(err, errlen, "table '%s': %s", de->d_name, strata_strerror(rv));
			break;
		}
	}
	closedir(dp);
	if (rv) {
		columnar_close(db);
		return rv;
	}
	*out = db;
	return 0;
}

void columnar_close(struct columnar_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++)
		col_table_free(db->v[i]);
	free(db->v);
	pthread_rwlock_destroy(&db->lock);
	free(db);
}

struct create_arg {
	const char *name;
	const struct col_create_opts *o;
};

static int init_table_dir(void *arg, const char *dir, char *msg, size_t msglen)
{
	const struct create_arg *a = arg;
	return col_table_create_dir(dir, a->name, a->o, msg, msglen);
}

int columnar_create(struct columnar_db *db, const char *name, const struct col_create_opts *o,
		    char *msg, size_t msglen)
{
	if (!col_name_ok(name, "table name", msg, msglen))
		return STRATA_EBAD_REQUEST;
	if (o->ncols == 0 || o->ncols > COL_MAX_COLUMNS) {
		snprintf(msg, msglen, "a table has 1..%d columns", COL_MAX_COLUMNS);
		return STRATA_EBAD_REQUEST;
	}
	if (o->row_group_rows &&
	    (o->row_group_rows < COL_MIN_ROW_GROUP || o->row_group_rows > COL_MAX_ROW_GROUP)) {
		snprintf(msg, msglen, "row_group_rows must be in %u..%u", COL_MIN_ROW_GROUP,
			 COL_MAX_ROW_GROUP);
		return STRATA_EBAD_REQUEST;
	}
	if (o->tablespace && o->tablespace[0] &&
	    !col_name_ok(o->tablespace, "tablespace", msg, msglen))
		return STRATA_EBAD_REQUEST;
	for (size_t c = 0; c < o->ncols; c++) {
		char what[96];
		snprintf(what, sizeof(what), "columns[%zu].name", c);
		if (!col_name_ok(o->cols[c].name, what, msg, msglen))
			return STRATA_EBAD_REQUEST;
		if ((unsigned)o->cols[c].type >= COL_TYPE_COUNT) {
			snprintf(msg, msglen, "columns[%zu].type is not a type", c);
			return STRATA_EBAD_REQUEST;
		}
		for (size_t k = 0; k < c; k++)
			if (!strcmp(o->cols[k].name, o->cols[c].name)) {
				snprintf(msg, msglen, "column '%s' is defined twice", o->cols[c].name);
				return STRATA_EBAD_REQUEST;
			}
	}
	pthread_rwlock_wrlock(&db->lock);
	bool found;
	find_pos(db, name, &found);
	int rv = 0;
	if (found) {
		snprintf(msg, msglen, "table '%s' exists already", name);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	if (db->n >= MAX_TABLES) {
		snprintf(msg, msglen, "at most %d tables", MAX_TABLES);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	/* Built aside (or in the tablespace, behind a .creating- link), then
	 * renamed into place: a crash leaves either no table or a whole one. */
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s/%s", db->dir, name);
	struct create_arg a = {name, o};
	if ((rv = objdir_create(db->dir, name, o->place_dir, init_table_dir, &a, msg, msglen)) != 0)
		goto out;
	struct col_table *t;
	if ((rv = col_table_open(&t, dir, name, msg, msglen)) != 0) {
		(void)objdir_remove(db->dir, name);
		goto out;
	}
	if ((rv = insert_table(db, t)) != 0) {
		col_table_free(t);
		(void)objdir_remove(db->dir, name);
	}
out:
	pthread_rwlock_unlock(&db->lock);
	return rv;
}

int columnar_drop(struct columnar_db *db, const char *name)
{
	pthread_rwlock_wrlock(&db->lock);
	bool found;
	size_t pos = find_pos(db, name, &found);
	if (!found) {
		pthread_rwlock_unlock(&db->lock);
		return STRATA_ENOT_FOUND;
	}
	struct col_table *t = db->v[pos];
	/* Renamed away first (a crash mid-delete leaves no half table that
	 * would reopen), then the files go: through the link for a table in
	 * a tablespace. */
	int rv = objdir_remove(db->dir, name);
	struct stat st;
	if (rv == 0 || lstat(t->dir, &st) != 0) {
		/* gone from its place: whatever is left of the files is
		 * .dropped-NAME, finished by the next columnar_open */
		memmove(&db->v[pos], &db->v[pos + 1], (db->n - pos - 1) * sizeof(*db->v));
		db->n--;
		col_table_free(t);
	}
	pthread_rwlock_unlock(&db->lock);
	return rv;
}

int columnar_acquire(struct columnar_db *db, const char *name, struct col_table **t)
{
	pthread_rwlock_rdlock(&db->lock);
	bool found;
	size_t pos = find_pos(db, name, &found);
	if (!found) {
		pthread_rwlock_unlock(&db->lock);
		return STRATA_ENOT_FOUND;
	}
	*t = db->v[pos];
	return 0;
}

void columnar_release(struct columnar_db *db)
{
	pthread_rwlock_unlock(&db->lock);
}

void columnar_foreach(struct columnar_db *db, void (*fn)(struct col_table *t, void *arg), void *arg)
{
	pthread_rwlock_rdlock(&db->lock);
	for (size_t i = 0; i < db->n; i++)
		fn(db->v[i], arg);
	pthread_rwlock_unlock(&db->lock);
}
