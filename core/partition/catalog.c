/* core/partition/catalog.c — see catalog.h. */
#include "core/partition/catalog.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define NEXT_ID_FILE "NEXT_ID"

struct partitions {
	char home[4200]; /* DATA/partitioned */
	pthread_rwlock_t lock;      /* read: an op on a table; write: create/drop */
	pthread_mutex_t idmu;       /* next_id */
	uint64_t next_id;
	struct ptable **v;
	size_t n;
};

static int save_next_id(struct partitions *p, uint64_t next)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", next);
	return objdir_write_file(p->home, NEXT_ID_FILE, text, (size_t)n);
}

/* Reserves count ids; *first is the first. */
static int take_ids(struct partitions *p, size_t count, uint64_t *first)
{
	pthread_mutex_lock(&p->idmu);
	int rv = save_next_id(p, p->next_id + count);
	if (rv == 0) {
		*first = p->next_id;
		p->next_id += count;
	}
	pthread_mutex_unlock(&p->idmu);
	return rv;
}

int partitions_next_id(struct partitions *p, uint64_t *id)
{
	return take_ids(p, 1, id);
}

int partitions_open(struct partitions **out, const char *data_dir, char *err, size_t errlen)
{
	struct partitions *p = calloc(1, sizeof(*p));
	if (!p)
		return STRATA_ENOMEM;
	pthread_rwlock_init(&p->lock, NULL);
	pthread_mutex_init(&p->idmu, NULL);
	p->next_id = 1;
	snprintf(p->home, sizeof(p->home), "%s/partitioned", data_dir);
	int rv = 0;
	if (mkdir(p->home, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", p->home, strerror(errno));
		rv = STRATA_EIO;
		goto fail;
	}
	if ((rv = objdir_recover(p->home)) != 0) {
		snprintf(err, errlen, "cannot clean up %s: %s", p->home, strata_strerror(rv));
		goto fail;
	}
	char path[4608];
	snprintf(path, sizeof(path), "%s/%s", p->home, NEXT_ID_FILE);
	FILE *fp = fopen(path, "r");
	if (fp) {
		unsigned long long v;
		if (fscanf(fp, "%llu", &v) == 1 && v > 0)
			p->next_id = v;
		fclose(fp);
	}
	DIR *dp = opendir(p->home);
	if (!dp) {
		snprintf(err, errlen, "cannot read %s: %s", p->home, strerror(errno));
		rv = STRATA_EIO;
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, NEXT_ID_FILE) == 0 ||
		    strcmp(de->d_name, NEXT_ID_FILE ".tmp") == 0)
			continue;
		if (!part_name_ok(de->d_name, PTABLE_NAME_MAX))
			continue;
		char dir[4608];
		snprintf(dir, sizeof(dir), "%s/%s", p->home, de->d_name);
		struct ptable *t;
		char msg[512];
		struct ptable **nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
		if (!nv) {
			rv = STRATA_ENOMEM;
			break;
		}
		p->v = nv;
		if ((rv = ptable_open(&t, dir, de->d_name, msg, sizeof(msg))) != 0) {
			snprintf(err, errlen, "partitioned table '%s': %s", de->d_name, msg);
			break;
		}
		p->v[p->n++] = t;
		uint64_t m = ptable_max_id(t);
		if (m >= p->next_id)
			p->next_id = m + 1;
	}
	closedir(dp);
	if (rv)
		goto fail;
	*out = p;
	return 0;
fail:
	partitions_close(p);
	return rv;
}

int partitions_close(struct partitions *p)
{
	if (!p)
		return 0;
	int rv = 0;
	for (size_t i = 0; i < p->n; i++) {
		int r = ptable_close(p->v[i]);
		if (r && !rv)
			rv = r;
	}
	free(p->v);
	pthread_rwlock_destroy(&p->lock);
	pthread_mutex_destroy(&p->idmu);
	free(p);
	return rv;
}

static ssize_t find(struct partitions *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(ptable_name(p->v[i]), name) == 0)
			return (ssize_t)i;
	return -1;
}

struct init_arg {
	const char *name;
	const json_t *spec;
	const uint64_t *ids;
	size_t nids;
	uint64_t ts;
};

static int init_table(void *arg, const char *dir, char *msg, size_t msglen)
{
	struct init_arg *a = arg;
	return ptable_init_dir(dir, a->name, a->spec, a->ids, a->nids, a->ts, msg, msglen);
}

int partitions_create_table(struct partitions *p, const json_t *spec, const char *kind_dir,
			    uint64_t tablespace_id, json_t **info, char *msg, size_t msglen)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	if (!name || !part_name_ok(name, PTABLE_NAME_MAX)) {
		snprintf(msg, msglen, "field 'name' must be 1..%d characters of letters, digits, '_' and '-' "
			 "(no path separators or '..')", PTABLE_NAME_MAX);
		return STRATA_EBAD_REQUEST;
	}
	json_t *parts = json_object_get(spec, "partitions");
	size_t np = json_array_size(parts);
	if (np > PART_MAX) {
		snprintf(msg, msglen, "a table has at most %d partitions", PART_MAX);
		return STRATA_EBAD_REQUEST;
	}
	pthread_rwlock_wrlock(&p->lock);
	int rv = 0;
	uint64_t *ids = NULL;
	if (find(p, name) >= 0) {
		snprintf(msg, msglen, "partitioned table '%s' exists already", name);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	if (p->n >= PARTITIONS_MAX_TABLES) {
		snprintf(msg, msglen, "at most %d partitioned tables", PARTITIONS_MAX_TABLES);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	ids = calloc(np ? np : 1, sizeof(*ids));
	uint64_t first = 0;
	if (!ids) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	if (np && (rv = take_ids(p, np, &first)) != 0) {
		snprintf(msg, msglen, "cannot write the partition id counter: %s", strata_strerror(rv));
		goto out;
	}
	for (size_t i = 0; i < np; i++)
		ids[i] = first + i;
	struct init_arg a = {name, spec, ids, np, tablespace_id};
	if ((rv = objdir_create(p->home, name, kind_dir, init_table, &a, msg, msglen)) != 0)
		goto out;
	struct ptable **nv = realloc(p->v, (p->n + 1) * sizeof(*nv));
	if (!nv) {
		rv = STRATA_ENOMEM;
		(void)objdir_remove(p->home, name);
		goto out;
	}
	p->v = nv;
	char dir[4608];
	snprintf(dir, sizeof(dir), "%s/%s", p->home, name);
	struct ptable *t;
	if ((rv = ptable_open(&t, dir, name, msg, msglen)) != 0) {
		(void)objdir_remove(p->home, name);
		goto out;
	}
	p->v[p->n++] = t;
	rv = ptable_info(t, info, msg, msglen);
out:
	pthread_rwlock_unlock(&p->lock);
	free(ids);
	return rv;
}

int partitions_drop_table(struct partitions *p, const char *name, uint64_t *rows, char *msg,
			  size_t msglen)
{
	pthread_rwlock_wrlock(&p->lock);
	ssize_t i = find(p, name);
	int rv = 0;
	if (i < 0) {
		snprintf(msg, msglen, "no partitioned table named '%s'", name);
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	json_t *info;
	if ((rv = ptable_info(p->v[i], &info, msg, msglen)) != 0)
		goto out;
	*rows = (uint64_t)json_integer_value(json_object_get(info, "rows"));
	json_decref(info);
	struct ptable *t = p->v[i];
	p->v[i] = p->v[--p->n];
	int r1 = ptable_close(t);
	rv = objdir_remove(p->home, name);
	if (rv)
		snprintf(msg, msglen, "cannot remove table '%s': %s", name, strata_strerror(rv));
	else if (r1)
		fprintf(stderr, "stratad: table '%s': closing: %s (dropped anyway)\n", name, strata_strerror(r1));
out:
	pthread_rwlock_unlock(&p->lock);
	return rv;
}

int partitions_acquire(struct partitions *p, const char *name, struct ptable **t)
{
	pthread_rwlock_rdlock(&p->lock);
	ssize_t i = find(p, name);
	if (i < 0) {
		pthread_rwlock_unlock(&p->lock);
		return STRATA_ENOT_FOUND;
	}
	*t = p->v[i];
	return 0;
}

int partitions_acquire_by_partition(struct partitions *p, uint64_t id, struct ptable **t)
{
	pthread_rwlock_rdlock(&p->lock);
	for (size_t i = 0; i < p->n; i++)
		if (ptable_has_partition(p->v[i], id)) {
			*t = p->v[i];
			return 0;
		}
	pthread_rwlock_unlock(&p->lock);
	return STRATA_ENOT_FOUND;
}

void partitions_release(struct partitions *p)
{
	pthread_rwlock_unlock(&p->lock);
}

/* *out = the array of each table's each(t), concatenated (flatten: the
 * elements of each array) or one element per table. */
static int collect(struct partitions *p, int (*each)(struct ptable *, json_t **, char *, size_t),
		   bool flatten, json_t **out, char *msg, size_t msglen)
{
	json_t *arr = json_array();
	if (!arr)
		return STRATA_ENOMEM;
	int rv = 0;
	pthread_rwlock_rdlock(&p->lock);
	for (size_t i = 0; i < p->n && !rv; i++) {
		json_t *one;
		if ((rv = each(p->v[i], &one, msg, msglen)) != 0)
			break;
		if (flatten) {
			rv = json_array_extend(arr, one) == 0 ? 0 : STRATA_ENOMEM;
			json_decref(one);
		} else {
			rv = json_array_append_new(arr, one) == 0 ? 0 : STRATA_ENOMEM;
		}
	}
	pthread_rwlock_unlock(&p->lock);
	if (rv) {
		json_decref(arr);
		return rv;
	}
	*out = arr;
	return 0;
}

int partitions_list(struct partitions *p, json_t **out, char *msg, size_t msglen)
{
	return collect(p, ptable_info, false, out, msg, msglen);
}

int partitions_all(struct partitions *p, json_t **out, char *msg, size_t msglen)
{
	return collect(p, ptable_partitions_json, true, out, msg, msglen);
}
