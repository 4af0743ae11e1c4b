/*
 * daemon/ops_tablespaces.c — tablespaces.* ops, the module hooks, and the
 * API of daemon/tablespaces.h.
 *
 * Allowed roots for LOCATIONs come from the environment variable
 * STRATA_TABLESPACE_ROOTS (colon-separated absolute directories) until
 * stratad has an option for them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tablespace/objdir.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"
#include "daemon/tablespaces.h"
#include "strata/error.h"

struct tablespaces {
	struct ts_registry *reg;
};

static struct ts_registry *reg_of(struct stratad *d)
{
	return d->tablespaces ? d->tablespaces->reg : NULL;
}

/* ---- API for the other areas -------------------------------------------- */

int tablespaces_resolve(struct stratad *d, const json_t *args, const char *kind, uint64_t *id,
			char *kind_dir, size_t kind_dir_len, char *msg, size_t msglen)
{
	*id = 0;
	json_t *v = json_object_get(args, "tablespace");
	if (!v || json_is_null(v))
		return 0;
	const char *name = json_string_value(v);
	if (!name) {
		snprintf(msg, msglen, "field 'tablespace' must be a tablespace name");
		return STRATA_EBAD_REQUEST;
	}
	if (!ts_name_ok(name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	struct ts_info t;
	if (!reg_of(d) || ts_find(reg_of(d), name, &t) != 0) {
		snprintf(msg, msglen, "no tablespace named '%s'", name);
		return STRATA_ENOT_FOUND;
	}
	if ((size_t)snprintf(kind_dir, kind_dir_len, "%s/%s", t.dir, kind) >= kind_dir_len) {
		snprintf(msg, msglen, "tablespace '%s': path too long", name);
		return STRATA_EBAD_REQUEST;
	}
	*id = t.id;
	return 0;
}

int tablespaces_check(struct stratad *d, uint64_t id, uint64_t bytes, char *msg, size_t msglen)
{
	if (id == 0 || !reg_of(d))
		return 0;
	int rv = ts_check_write(reg_of(d), id, bytes, msg, msglen);
	if (rv == STRATA_EQUOTA_EXCEEDED) {
		/* The cached figure may be stale (a compaction freed space):
		 * measure once more before refusing. */
		(void)ts_refresh(reg_of(d), id);
		rv = ts_check_write(reg_of(d), id, bytes, msg, msglen);
	}
	return rv == STRATA_ENOT_FOUND ? 0 : rv;
}

void tablespaces_account(struct stratad *d, uint64_t id, uint64_t bytes)
{
	if (id && reg_of(d))
		ts_account(reg_of(d), id, bytes);
}

uint64_t tablespaces_owner(struct stratad *d, const char *home, const char *name)
{
	char target[TS_PATH_MAX + 320];
	uint64_t id = 0;
	if (!reg_of(d) || !objdir_is_linked(home, name, target, sizeof(target)))
		return 0;
	return ts_owner(reg_of(d), target, &id) == 0 ? id : 0;
}

const char *tablespaces_name(struct stratad *d, uint64_t id, char *name, size_t len)
{
	struct ts_info t;
	if (id == 0 || !reg_of(d) || ts_get(reg_of(d), id, &t) != 0)
		return NULL;
	snprintf(name, len, "%s", t.name);
	return name;
}

/* ---- module -------------------------------------------------------------- */

/* --tablespace-root, else the environment (STRATA_TABLESPACE_ROOTS). */
static const char *roots_of(const struct stratad *d)
{
	return d->opt.tablespace_roots[0] ? d->opt.tablespace_roots
					  : getenv("STRATA_TABLESPACE_ROOTS");
}

static int ts_open(struct stratad *d, char *err, size_t errlen)
{
	struct tablespaces *t = calloc(1, sizeof(*t));
	if (!t)
		return STRATA_ENOMEM;
	int rv = ts_registry_open(&t->reg, d->data_dir, roots_of(d), err, errlen);
	if (rv) {
		free(t);
		return rv;
	}
	d->tablespaces = t;
	return 0;
}

static void ts_tick(struct stratad *d)
{
	if (reg_of(d))
		(void)ts_refresh(reg_of(d), 0);
}

static int ts_close(struct stratad *d)
{
	if (d->tablespaces) {
		ts_registry_close(d->tablespaces->reg);
		free(d->tablespaces);
		d->tablespaces = NULL;
	}
	return 0;
}

const struct module module_tablespaces = {
	.name = "tablespaces", .open = ts_open, .tick = ts_tick, .close = ts_close,
};

/* ---- ops ----------------------------------------------------------------- */

static json_t *info_json(struct stratad *d, const struct ts_info *t)
{
	(void)d;
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)t->id, "name",
			      t->name, "location", t->dir, "kind", t->in_data_dir ? "data_dir" : "location",
			      "used_bytes", (json_int_t)t->used_bytes, "files", (json_int_t)t->files,
			      "measured_us", (json_int_t)t->measured_us);
	if (!j)
		return NULL;
	json_object_set_new(j, "quota_bytes", t->has_quota ? json_integer((json_int_t)t->quota_bytes) : json_null());
	json_object_set_new(j, "over_quota", json_boolean(t->has_quota && t->used_bytes > t->quota_bytes));
	return j;
}

/* quota_bytes: absent (keep), null (none) or an integer >= 0. */
static int arg_quota(const json_t *args, bool *present, bool *has, uint64_t *q, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, "quota_bytes");
	*present = v != NULL;
	*has = false;
	*q = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(msg, msglen, "field 'quota_bytes' must be an integer >= 0 (or null: no quota)");
		return STRATA_EBAD_REQUEST;
	}
	*has = true;
	*q = (uint64_t)json_integer_value(v);
	return 0;
}

static int arg_id(const json_t *args, uint64_t *id, char *msg, size_t msglen)
{
	return arg_u64(args, "id", true, 0, 1, UINT64_MAX >> 2, id, msg, msglen);
}

static int op_create(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	const char *name, *loc;
	bool present, has;
	uint64_t q;
	int rv;
	if ((rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen)) ||
	    (rv = arg_str(args, "location", false, NULL, TS_PATH_MAX, &loc, msg, msglen)) ||
	    (rv = arg_quota(args, &present, &has, &q, msg, msglen)))
		return rv;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)args, k, v) {
		if (strcmp(k, "name") && strcmp(k, "location") && strcmp(k, "quota_bytes")) {
			snprintf(msg, msglen, "unknown field '%.60s' (name, location, quota_bytes)", k);
			return STRATA_EBAD_REQUEST;
		}
	}
	struct ts_info t;
	if ((rv = ts_create(reg_of(d), name, loc, has, q, &t, msg, msglen)))
		return rv;
	*result = info_json(d, &t);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_list(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	struct ts_info *v;
	size_t n;
	int rv = ts_list(reg_of(d), &v, &n);
	if (rv)
		return rv;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, info_json(d, &v[i]));
	free(v);
	*result = json_pack("{s:o}", "tablespaces", arr);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_get(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	uint64_t id;
	int rv = arg_id(args, &id, msg, msglen);
	if (rv)
		return rv;
	struct ts_info t;
	if (ts_get(reg_of(d), id, &t) != 0) {
		snprintf(msg, msglen, "no tablespace with id %" PRIu64, id);
		return STRATA_ENOT_FOUND;
	}
	char *names[64];
	int n = ts_objects(reg_of(d), id, names, 64);
	json_t *objs = json_array();
	for (int i = 0; i < n && i < 64; i++) {
		if (names[i])
			json_array_append_new(objs, json_string(names[i]));
		free(names[i]);
	}
	*result = info_json(d, &t);
	if (*result)
		json_object_set_new(*result, "objects", objs);
	else
		json_decref(objs);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_update(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	uint64_t id;
	const char *name;
	bool present, has;
	uint64_t q;
	int rv;
	if ((rv = arg_id(args, &id, msg, msglen)) ||
	    (rv = arg_str(args, "name", false, NULL, 256, &name, msg, msglen)) ||
	    (rv = arg_quota(args, &present, &has, &q, msg, msglen)))
		return rv;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)args, k, v) {
		if (strcmp(k, "id") && strcmp(k, "name") && strcmp(k, "quota_bytes")) {
			snprintf(msg, msglen, "unknown field '%.60s' (name, quota_bytes; the location cannot change)", k);
			return STRATA_EBAD_REQUEST;
		}
	}
	if (!name && !present) {
		snprintf(msg, msglen, "give 'name' (rename) and/or 'quota_bytes' (null: no quota)");
		return STRATA_EBAD_REQUEST;
	}
	struct ts_info t;
	if ((rv = ts_update(reg_of(d), id, name, present, has, q, &t, msg, msglen)))
		return rv;
	*result = info_json(d, &t);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_drop(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	uint64_t id;
	int rv = arg_id(args, &id, msg, msglen);
	if (rv)
		return rv;
	if ((rv = ts_drop(reg_of(d), id, msg, msglen)))
		return rv;
	*result = json_pack("{s:I, s:b}", "id", (json_int_t)id, "dropped", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

const struct op_def ops_tablespaces[] = {
	{"tablespaces.create", op_create, true, false},
	{"tablespaces.list", op_list, false, false},
	{"tablespaces.get", op_get, false, false},
	{"tablespaces.update", op_update, true, false},
	{"tablespaces.drop", op_drop, true, false},
	{0},
};
