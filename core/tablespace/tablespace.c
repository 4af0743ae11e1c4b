/*
 * core/tablespace/tablespace.c — the tablespace registry (see tablespace.h).
 *
 * Catalog file DATA/tablespaces/TABLESPACES:
 *     strata-tablespaces 1
 *     next_id N
 *     ts ID QUOTA NAME d              (in DATA/tablespaces/ID; QUOTA '-' = none)
 *     ts ID QUOTA NAME l LOCATION     (LOCATION: the rest of the line)
 *     crc XXXXXXXX                    (CRC32C of every byte before this line)
 * Every change writes the whole file anew (objdir_write_file).
 *
 * Ordering: create makes the directory first and then records it, so a
 * crash leaves at most an empty unrecorded directory (its id was never
 * acknowledged; create reuses an empty one). Drop removes the record first
 * and then the directory (a crash leaves an empty unrecorded directory).
 */
#include "core/tablespace/tablespace.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define CATALOG "TABLESPACES"
#define MAX_ROOTS 16

struct ts_registry {
	pthread_mutex_t mu;
	char home[TS_PATH_MAX - 64]; /* DATA/tablespaces */
	char roots[MAX_ROOTS][TS_PATH_MAX];
	size_t nroots;
	uint64_t next_id;
	struct ts_info *v;         /* sorted by id */
	size_t n;
};

bool ts_name_ok(const char *name, char *msg, size_t msglen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > TS_NAME_MAX) {
		snprintf(msg, msglen, "tablespace name must be 1..%d characters", TS_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-')) {
			snprintf(msg, msglen, "tablespace name may only contain letters, digits, '_' and '-' "
				 "(no path separators or '..')");
			return false;
		}
	}
	return true;
}

static struct ts_info *by_id(struct ts_registry *r, uint64_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].id == id)
			return &r->v[i];
	return NULL;
}

static struct ts_info *by_name(struct ts_registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0)
			return &r->v[i];
	return NULL;
}

/* ---- usage -------------------------------------------------------------- */

static _Thread_local uint64_t walk_bytes, walk_files;

static int walk_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)p, (void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		walk_bytes += (uint64_t)st->st_blocks * 512u;
		walk_files++;
	}
	return 0;
}

int ts_dir_usage(const char *dir, uint64_t *bytes, uint64_t *files)
{
	walk_bytes = walk_files = 0;
	/* Files vanish under a walk (compactions delete SSTables): nftw skips
	 * what it cannot stat (FTW_NS), which is what we want. */
	if (nftw(dir, walk_entry, 16, FTW_PHYS) != 0)
		return strata_err_from_errno(errno ? errno : EIO);
	*bytes = walk_bytes;
	if (files)
		*files = walk_files;
	return 0;
}

int ts_refresh(struct ts_registry *r, uint64_t id)
{
	int rv = 0;
	pthread_mutex_lock(&r->mu);
	size_t n = r->n;
	uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	char (*dirs)[TS_PATH_MAX] = malloc((n ? n : 1) * TS_PATH_MAX);
	size_t k = 0;
	for (size_t i = 0; ids && dirs && i < n; i++)
		if (id == 0 || r->v[i].id == id) {
			ids[k] = r->v[i].id;
			memcpy(dirs[k++], r->v[i].dir, TS_PATH_MAX);
		}
	pthread_mutex_unlock(&r->mu);
	if (!ids || !dirs) {
		free(ids);
		free(dirs);
		return STRATA_ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		uint64_t b, f;
		int64_t t0 = clock_wall_us();
		int e = ts_dir_usage(dirs[i], &b, &f);
		if (e) {
			if (!rv)
				rv = e;
			continue;
		}
		pthread_mutex_lock(&r->mu);
		struct ts_info *t = by_id(r, ids[i]);
		if (t) {
			t->used_bytes = b;
			t->files = f;
			t->measured_us = t0;
		}
		pthread_mutex_unlock(&r->mu);
	}
	free(ids);
	free(dirs);
	if (id != 0 && k == 0)
		return STRATA_ENOT_FOUND;
	return rv;
}

/* ---- catalog ------------------------------------------------------------ */

static int save(struct ts_registry *r)
{
	size_t cap = 64 + r->n * (TS_PATH_MAX + TS_NAME_MAX + 64);
	char *buf = malloc(cap);
	if (!buf)
		return STRATA_ENOMEM;
	size_t len = (size_t)snprintf(buf, cap, "strata-tablespaces 1\nnext_id %" PRIu64 "\n", r->next_id);
	for (size_t i = 0; i < r->n; i++) {
		struct ts_info *t = &r->v[i];
		char q[32];
		if (t->has_quota)
			snprintf(q, sizeof(q), "%" PRIu64, t->quota_bytes);
		else
			snprintf(q, sizeof(q), "-");
		len += (size_t)snprintf(buf + len, cap - len, "ts %" PRIu64 " %s %s %s%s%s\n", t->id, q,
					t->name, t->in_data_dir ? "d" : "l", t->in_data_dir ? "" : " ",
					t->in_data_dir ? "" : t->dir);
	}
	len += (size_t)snprintf(buf + len, cap - len, "crc %08x\n", crc32c(0, buf, len));
	int rv = objdir_write_file(r->home, CATALOG, buf, len);
	free(buf);
	return rv;
}

static int load(struct ts_registry *r, char *err, size_t errlen)
{
	char path[TS_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", r->home, CATALOG);
	FILE *fp = fopen(path, "r");
	if (!fp) {
		if (errno == ENOENT) {
			r->next_id = 1;
			return 0;
		}
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return STRATA_EIO;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char chunk[4096];
	size_t got;
	while (mem && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		fwrite(chunk, 1, got, mem);
	int rerr = ferror(fp);
	fclose(fp);
	if (!mem || fclose(mem) != 0 || rerr) {
		free(text);
		snprintf(err, errlen, "cannot read %s", path);
		return STRATA_EIO;
	}
	int rv = STRATA_ECORRUPT;
	/* The crc line is the last one. */
	char *crcl = len >= 2 ? memrchr(text, '\n', len - 1) : NULL;
	unsigned crc;
	if (!crcl || sscanf(crcl + 1, "crc %x", &crc) != 1 || crc32c(0, text, (size_t)(crcl + 1 - text)) != crc) {
		snprintf(err, errlen, "%s: checksum mismatch or truncated (restore it or remove it)", path);
		goto out;
	}
	crcl[1] = '\0';
	char *save_ptr = NULL;
	int lineno = 0;
	for (char *line = strtok_r(text, "\n", &save_ptr); line; line = strtok_r(NULL, "\n", &save_ptr)) {
		lineno++;
		uint64_t id;
		char q[32], name[TS_NAME_MAX + 2], where[4];
		int off = 0;
		char m[128];
		if (lineno == 1) {
			if (strcmp(line, "strata-tablespaces 1") != 0) {
				snprintf(err, errlen, "%s: unknown format '%.40s'", path, line);
				goto out;
			}
		} else if (strncmp(line, "next_id ", 8) == 0) {
			r->next_id = strtoull(line + 8, NULL, 10);
		} else if (sscanf(line, "ts %" SCNu64 " %31s %64s %3s%n", &id, q, name, where, &off) == 4 &&
			   ts_name_ok(name, m, sizeof(m)) && id > 0) {
			struct ts_info *nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
			if (!nv) {
				rv = STRATA_ENOMEM;
				goto out;
			}
			r->v = nv;
			struct ts_info *t = &r->v[r->n];
			memset(t, 0, sizeof(*t));
			t->id = id;
			memcpy(t->name, name, strlen(name) + 1);
			t->has_quota = strcmp(q, "-") != 0;
			t->quota_bytes = t->has_quota ? strtoull(q, NULL, 10) : 0;
			t->in_data_dir = strcmp(where, "d") == 0;
			if (t->in_data_dir)
				snprintf(t->dir, sizeof(t->dir), "%s/%" PRIu64, r->home, id);
			else if (line[off] == ' ' && line[off + 1] == '/')
				snprintf(t->dir, sizeof(t->dir), "%s", line + off + 1);
			else {
				snprintf(err, errlen, "%s: line %d: bad location", path, lineno);
				goto out;
			}
			if (id >= r->next_id)
				r->next_id = id + 1;
			r->n++;
		} else {
			snprintf(err, errlen, "%s: line %d does not parse", path, lineno);
			goto out;
		}
	}
	if (r->next_id == 0)
		r->next_id = 1;
	rv = 0;
out:
	free(text);
	return rv;
}

/* ---- open / close ------------------------------------------------------- */

int ts_registry_open(struct ts_registry **out, const char *data_dir, const char *roots, char *err,
		     size_t errlen)
{
	struct ts_registry *r = calloc(1, sizeof(*r));
	if (!r)
		return STRATA_ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	if ((size_t)snprintf(r->home, sizeof(r->home), "%s/tablespaces", data_dir) >= sizeof(r->home)) {
		snprintf(err, errlen, "data dir path too long for tablespaces");
		ts_registry_close(r);
		return STRATA_EBAD_REQUEST;
	}
	if (mkdir(r->home, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", r->home, strerror(errno));
		ts_registry_close(r);
		return STRATA_EIO;
	}
	for (const char *p = roots ? roots : ""; *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char one[TS_PATH_MAX], real[PATH_MAX];
		if (n > 0 && n < sizeof(one) && r->nroots < MAX_ROOTS) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (one[0] != '/' || !realpath(one, real) || strlen(real) >= TS_PATH_MAX)
				fprintf(stderr, "stratad: tablespace root '%s' ignored (not an existing absolute directory)\n", one);
			else
				memcpy(r->roots[r->nroots++], real, strlen(real) + 1); /* length checked */
		}
		p += n;
		if (*p == ':')
			p++;
	}
	int rv = load(r, err, errlen);
	if (rv) {
		ts_registry_close(r);
		return rv;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct ts_info *t = &r->v[i];
		/* A data-dir tablespace whose directory is gone (it holds nothing
		 * then) comes back empty; a LOCATION must be there. */
		if (t->in_data_dir && mkdir(t->dir, 0750) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "tablespace '%s': cannot create %s: %s", t->name, t->dir, strerror(errno));
			ts_registry_close(r);
			return STRATA_EIO;
		}
		if (access(t->dir, R_OK | W_OK | X_OK) != 0)
			fprintf(stderr, "stratad: tablespace '%s': %s: %s\n", t->name, t->dir, strerror(errno));
	}
	(void)ts_refresh(r, 0);
	*out = r;
	return 0;
}

void ts_registry_close(struct ts_registry *r)
{
	if (!r)
		return;
	free(r->v);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- create / update / drop --------------------------------------------- */

static bool dir_empty(const char *dir)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(dp)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
			empty = false;
	closedir(dp);
	return empty;
}

static bool under(const char *path, const char *root)
{
	size_t n = strlen(root);
	return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0' || (n == 1 && root[0] == '/'));
}

/* Checks a LOCATION and resolves it to a real path in out (created). */
static int prepare_location(struct ts_registry *r, const char *loc, char *out, size_t outlen,
			    bool *created, char *msg, size_t msglen)
{
	*created = false;
	size_t n = strlen(loc);
	if (loc[0] != '/' || n >= TS_PATH_MAX - 64 || strchr(loc, '\n') || strstr(loc, "/../") ||
	    strstr(loc, "/./") || (n >= 3 && strcmp(loc + n - 3, "/..") == 0) ||
	    (n >= 2 && strcmp(loc + n - 2, "/.") == 0)) {
		snprintf(msg, msglen, "field 'location' must be an absolute path without '.' or '..' "
			 "components, shorter than %d bytes", TS_PATH_MAX - 64);
		return STRATA_EBAD_REQUEST;
	}
	if (r->nroots == 0) {
		snprintf(msg, msglen, "field 'location' is not allowed: no tablespace roots are configured "
			 "(STRATA_TABLESPACE_ROOTS)");
		return STRATA_EBAD_REQUEST;
	}
	char copy[TS_PATH_MAX], parent[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", loc);
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	char *slash = strrchr(copy, '/');
	const char *base = slash + 1;
	if (!*base) {
		snprintf(msg, msglen, "field 'location' must name a directory below an allowed root");
		return STRATA_EBAD_REQUEST;
	}
	*slash = '\0';
	if (!realpath(copy[0] ? copy : "/", parent)) {
		snprintf(msg, msglen, "field 'location': parent directory %s: %s", copy[0] ? copy : "/", strerror(errno));
		return STRATA_EBAD_REQUEST;
	}
	if ((size_t)snprintf(out, outlen, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, base) >= outlen) {
		snprintf(msg, msglen, "field 'location' is too long");
		return STRATA_EBAD_REQUEST;
	}
	bool ok = false;
	for (size_t i = 0; i < r->nroots; i++)
		ok |= under(out, r->roots[i]) && strcmp(out, r->roots[i]) != 0;
	if (!ok) {
		snprintf(msg, msglen, "field 'location': %s is not below an allowed tablespace root", out);
		return STRATA_EBAD_REQUEST;
	}
	for (size_t i = 0; i < r->n; i++)
		if (under(out, r->v[i].dir) || under(r->v[i].dir, out)) {
			snprintf(msg, msglen, "field 'location': %s overlaps tablespace '%s'", out, r->v[i].name);
			return STRATA_ECONFLICT;
		}
	if (under(out, r->home) || under(r->home, out)) {
		snprintf(msg, msglen, "field 'location': %s overlaps the data dir's tablespaces", out);
		return STRATA_ECONFLICT;
	}
	struct stat st;
	if (lstat(out, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || !dir_empty(out)) {
			snprintf(msg, msglen, "field 'location': %s exists and is not an empty directory", out);
			return STRATA_EBAD_REQUEST;
		}
		return 0;
	}
	if (mkdir(out, 0750) != 0) {
		int e = errno;
		snprintf(msg, msglen, "field 'location': cannot create %s: %s", out, strerror(e));
		return e == ENOENT || e == ENOTDIR ? STRATA_EBAD_REQUEST : strata_err_from_errno(e);
	}
	*created = true;
	return objdir_sync_dir(parent);
}

int ts_create(struct ts_registry *r, const char *name, const char *location, bool has_quota,
	      uint64_t quota_bytes, struct ts_info *out, char *msg, size_t msglen)
{
	if (!ts_name_ok(name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	pthread_mutex_lock(&r->mu);
	int rv = 0;
	bool created = false;
	struct ts_info t = {0};
	if (by_name(r, name)) {
		snprintf(msg, msglen, "tablespace '%s' exists already", name);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	if (r->n >= TS_MAX) {
		snprintf(msg, msglen, "at most %d tablespaces", TS_MAX);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	t.id = r->next_id;
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.has_quota = has_quota;
	t.quota_bytes = has_quota ? quota_bytes : 0;
	if (location) {
		if ((rv = prepare_location(r, location, t.dir, sizeof(t.dir), &created, msg, msglen)))
			goto out;
	} else {
		t.in_data_dir = true;
		snprintf(t.dir, sizeof(t.dir), "%s/%" PRIu64, r->home, t.id);
		if (mkdir(t.dir, 0750) != 0) {
			/* an empty directory left by a create that crashed before
			 * recording it is this id's: reuse it */
			if (errno != EEXIST || !dir_empty(t.dir)) {
				rv = errno == EEXIST ? STRATA_ECONFLICT : strata_err_from_errno(errno);
				snprintf(msg, msglen, "cannot create %s: %s", t.dir,
					 errno == EEXIST ? "exists and is not empty" : strerror(errno));
				goto out;
			}
		} else {
			created = true;
			if ((rv = objdir_sync_dir(r->home))) {
				snprintf(msg, msglen, "cannot sync %s: %s", r->home, strata_strerror(rv));
				goto undo;
			}
		}
	}
	struct ts_info *nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv) {
		rv = STRATA_ENOMEM;
		goto undo;
	}
	r->v = nv;
	t.measured_us = clock_wall_us();
	r->v[r->n++] = t;
	r->next_id++;
	if ((rv = save(r))) {
		r->n--;
		r->next_id--;
		snprintf(msg, msglen, "cannot write the tablespace catalog: %s", strata_strerror(rv));
		goto undo;
	}
	if (out)
		*out = t;
	goto out;
undo:
	if (created)
		(void)rmdir(t.dir);
out:
	pthread_mutex_unlock(&r->mu);
	return rv;
}

int ts_update(struct ts_registry *r, uint64_t id, const char *new_name, bool set_quota,
	      bool has_quota, uint64_t quota_bytes, struct ts_info *out, char *msg, size_t msglen)
{
	if (new_name && !ts_name_ok(new_name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	pthread_mutex_lock(&r->mu);
	int rv = 0;
	struct ts_info *t = by_id(r, id);
	if (!t) {
		snprintf(msg, msglen, "no tablespace with id %" PRIu64, id);
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	struct ts_info *other = new_name ? by_name(r, new_name) : NULL;
	if (other && other != t) {
		snprintf(msg, msglen, "tablespace '%s' exists already", new_name);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	struct ts_info old = *t;
	if (new_name)
		snprintf(t->name, sizeof(t->name), "%s", new_name);
	if (set_quota) {
		t->has_quota = has_quota;
		t->quota_bytes = has_quota ? quota_bytes : 0;
	}
	if ((rv = save(r))) {
		*t = old;
		snprintf(msg, msglen, "cannot write the tablespace catalog: %s", strata_strerror(rv));
		goto out;
	}
	if (out)
		*out = *t;
out:
	pthread_mutex_unlock(&r->mu);
	return rv;
}

/* Lists KIND/NAME entries of dir (or top-level files). */
static int list_objects(const char *dir, char **names, size_t max)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : strata_err_from_errno(errno);
	int count = 0;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[TS_PATH_MAX + 300];
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		struct stat st;
		DIR *sp = lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(sub) : NULL;
		if (!sp) {
			if (names && (size_t)count < max)
				names[count] = strdup(de->d_name);
			count++;
			continue;
		}
		struct dirent *se;
		while ((se = readdir(sp))) {
			if (!strcmp(se->d_name, ".") || !strcmp(se->d_name, ".."))
				continue;
			if (names && (size_t)count < max) {
				size_t len = strlen(de->d_name) + strlen(se->d_name) + 2;
				names[count] = malloc(len);
				if (names[count])
					snprintf(names[count], len, "%s/%s", de->d_name, se->d_name);
			}
			count++;
		}
		closedir(sp);
	}
	closedir(dp);
	return count;
}

int ts_objects(struct ts_registry *r, uint64_t id, char **names, size_t max)
{
	struct ts_info t;
	int rv = ts_get(r, id, &t);
	if (rv)
		return rv;
	return list_objects(t.dir, names, max);
}

/* Removes the (empty) kind folders and the directory itself. */
static int remove_ts_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : strata_err_from_errno(errno);
	struct dirent *de;
	int rv = 0;
	while ((de = readdir(dp))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[TS_PATH_MAX + 300];
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (rmdir(sub) != 0 && !rv)
			rv = strata_err_from_errno(errno);
	}
	closedir(dp);
	if (!rv && rmdir(dir) != 0 && errno != ENOENT)
		rv = strata_err_from_errno(errno);
	return rv;
}

int ts_drop(struct ts_registry *r, uint64_t id, char *msg, size_t msglen)
{
	pthread_mutex_lock(&r->mu);
	int rv = 0;
	struct ts_info *t = by_id(r, id);
	if (!t) {
		snprintf(msg, msglen, "no tablespace with id %" PRIu64, id);
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	char *names[4] = {0};
	int count = list_objects(t->dir, names, 4);
	if (count != 0) {
		if (count < 0) {
			rv = count;
			snprintf(msg, msglen, "cannot read %s: %s", t->dir, strata_strerror(rv));
		} else {
			rv = STRATA_ECONFLICT;
			int used = snprintf(msg, msglen, "tablespace '%s' is not empty: %d object%s (", t->name,
					    count, count == 1 ? "" : "s");
			for (int i = 0; i < count && i < 4 && used > 0 && (size_t)used < msglen; i++)
				used += snprintf(msg + used, msglen - (size_t)used, "%s%s", i ? ", " : "",
						 names[i] ? names[i] : "?");
			if (used > 0 && (size_t)used < msglen)
				snprintf(msg + used, msglen - (size_t)used, "%s); drop them first",
					 count > 4 ? ", ..." : "");
		}
		for (int i = 0; i < 4; i++)
			free(names[i]);
		goto out;
	}
	struct ts_info gone = *t;
	size_t idx = (size_t)(t - r->v);
	memmove(&r->v[idx], &r->v[idx + 1], (r->n - idx - 1) * sizeof(*r->v));
	r->n--;
	if ((rv = save(r))) {
		memmove(&r->v[idx + 1], &r->v[idx], (r->n - idx) * sizeof(*r->v));
		r->v[idx] = gone;
		r->n++;
		snprintf(msg, msglen, "cannot write the tablespace catalog: %s", strata_strerror(rv));
		goto out;
	}
	/* Recorded as gone: the empty directory is only housekeeping now. */
	if (remove_ts_dir(gone.dir) != 0)
		fprintf(stderr, "stratad: tablespace '%s' dropped; cannot remove %s: %s\n", gone.name,
			gone.dir, strerror(errno));
out:
	pthread_mutex_unlock(&r->mu);
	return rv;
}

/* ---- lookups and quota -------------------------------------------------- */

int ts_get(struct ts_registry *r, uint64_t id, struct ts_info *out)
{
	pthread_mutex_lock(&r->mu);
	struct ts_info *t = by_id(r, id);
	if (t && out)
		*out = *t;
	pthread_mutex_unlock(&r->mu);
	return t ? 0 : STRATA_ENOT_FOUND;
}

int ts_find(struct ts_registry *r, const char *name, struct ts_info *out)
{
	pthread_mutex_lock(&r->mu);
	struct ts_info *t = by_name(r, name);
	if (t && out)
		*out = *t;
	pthread_mutex_unlock(&r->mu);
	return t ? 0 : STRATA_ENOT_FOUND;
}

int ts_owner(struct ts_registry *r, const char *path, uint64_t *id)
{
	int rv = STRATA_ENOT_FOUND;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		size_t n = strlen(r->v[i].dir);
		if (n && strncmp(path, r->v[i].dir, n) == 0 && path[n] == '/') {
			*id = r->v[i].id;
			rv = 0;
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}

int ts_list(struct ts_registry *r, struct ts_info **out, size_t *n)
{
	pthread_mutex_lock(&r->mu);
	*out = malloc((r->n ? r->n : 1) * sizeof(**out));
	if (*out) {
		memcpy(*out, r->v, r->n * sizeof(**out));
		*n = r->n;
	}
	pthread_mutex_unlock(&r->mu);
	return *out ? 0 : STRATA_ENOMEM;
}

int ts_check_write(struct ts_registry *r, uint64_t id, uint64_t bytes, char *msg, size_t msglen)
{
	pthread_mutex_lock(&r->mu);
	struct ts_info *t = by_id(r, id);
	int rv = 0;
	if (!t) {
		snprintf(msg, msglen, "no tablespace with id %" PRIu64, id);
		rv = STRATA_ENOT_FOUND;
	} else if (t->has_quota && (t->used_bytes > t->quota_bytes ||
				    bytes > t->quota_bytes - t->used_bytes)) {
		snprintf(msg, msglen, "tablespace '%s' quota exceeded: %" PRIu64 " of %" PRIu64
			 " bytes used, this write needs about %" PRIu64 " more", t->name, t->used_bytes,
			 t->quota_bytes, bytes);
		rv = STRATA_EQUOTA_EXCEEDED;
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}

void ts_account(struct ts_registry *r, uint64_t id, uint64_t bytes)
{
	pthread_mutex_lock(&r->mu);
	struct ts_info *t = by_id(r, id);
	if (t)
		t->used_bytes += bytes;
	pthread_mutex_unlock(&r->mu);
}
