/*
 * daemon/ops_partitions.c — partitions.* ops over the partitioned tables of
 * core/partition/catalog.h, and the module hooks.
 *
 * A table created with "tablespace" lives in TSDIR/partitioned/NAME; its
 * inserts are checked against the tablespace's quota and accounted.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/partition/catalog.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"
#include "daemon/tablespaces.h"
#include "strata/error.h"

#define QUERY_DEFAULT 1000

static int pt_open(struct stratad *d, char *err, size_t errlen)
{
	return partitions_open(&d->partitions, d->data_dir, err, errlen);
}

static int pt_close(struct stratad *d)
{
	int rv = partitions_close(d->partitions);
	d->partitions = NULL;
	return rv;
}

const struct module module_partitions = {.name = "partitions", .open = pt_open, .close = pt_close};

/* Adds "tablespace": name to a table's info. */
static void add_ts_name(struct stratad *d, json_t *info, uint64_t ts_id)
{
	char name[TS_NAME_MAX + 1];
	const char *n = tablespaces_name(d, ts_id, name, sizeof(name));
	if (info)
		json_object_set_new(info, "tablespace", n ? json_string(n) : json_null());
}

static int table_of(struct stratad *d, const json_t *args, const char *field, struct ptable **t,
		    const char **name, char *msg, size_t msglen)
{
	int rv = arg_str(args, field, true, NULL, 256, name, msg, msglen);
	if (rv)
		return rv;
	if (!part_name_ok(*name, PTABLE_NAME_MAX)) {
		snprintf(msg, msglen, "field '%s' must be a table name (1..%d of letters, digits, '_', '-')",
			 field, PTABLE_NAME_MAX);
		return STRATA_EBAD_REQUEST;
	}
	if (partitions_acquire(d->partitions, *name, t) != 0) {
		snprintf(msg, msglen, "no partitioned table named '%s'", *name);
		return STRATA_ENOT_FOUND;
	}
	return 0;
}

static int op_create_table(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	static const char *known[] = {"name", "key", "strategy", "hash_key", "primary_key",
				      "partitions", "tablespace", NULL};
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)args, k, v) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(k, known[i]) == 0;
		if (!ok) {
			snprintf(msg, msglen, "unknown field '%.60s' (name, key, strategy, hash_key, "
				 "primary_key, partitions, tablespace)", k);
			return STRATA_EBAD_REQUEST;
		}
	}
	uint64_t ts_id = 0;
	char kind_dir[TS_PATH_MAX + 32];
	int rv = tablespaces_resolve(d, args, "partitioned", &ts_id, kind_dir, sizeof(kind_dir), msg, msglen);
	if (rv)
		return rv;
	rv = partitions_create_table(d->partitions, args, ts_id ? kind_dir : NULL, ts_id, result, msg, msglen);
	if (rv == 0)
		add_ts_name(d, *result, ts_id);
	return rv;
}

static int op_list_tables(struct stratad *d, const json_t *args, json_t **result, char *msg,
			  size_t msglen)
{
	(void)args;
	json_t *arr;
	int rv = partitions_list(d->partitions, &arr, msg, msglen);
	if (rv)
		return rv;
	*result = json_pack("{s:o}", "tables", arr);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_get_table(struct stratad *d, const json_t *args, json_t **result, char *msg,
			size_t msglen)
{
	struct ptable *t;
	const char *name;
	int rv = table_of(d, args, "name", &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = ptable_info(t, result, msg, msglen)) == 0)
		add_ts_name(d, *result, ptable_tablespace(t));
	partitions_release(d->partitions);
	return rv;
}

static int op_drop_table(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	const char *name;
	int rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen);
	if (rv)
		return rv;
	if (!part_name_ok(name, PTABLE_NAME_MAX)) {
		snprintf(msg, msglen, "field 'name' must be a table name");
		return STRATA_EBAD_REQUEST;
	}
	uint64_t rows = 0;
	if ((rv = partitions_drop_table(d->partitions, name, &rows, msg, msglen)))
		return rv;
	*result = json_pack("{s:s, s:b, s:I}", "name", name, "dropped", 1, "dropped_rows", (json_int_t)rows);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_insert(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct ptable *t;
	const char *name;
	int rv = table_of(d, args, "name", &t, &name, msg, msglen);
	if (rv)
		return rv;
	const json_t *rows = json_object_get(args, "rows");
	uint64_t ts_id = ptable_tablespace(t), bytes = 0;
	if (ts_id && json_is_array(rows) &&
	    (rv = tablespaces_check(d, ts_id, ptable_estimate(rows), msg, msglen)))
		goto out;
	rv = ptable_insert(t, rows, result, &bytes, msg, msglen);
	tablespaces_account(d, ts_id, bytes);
out:
	partitions_release(d->partitions);
	return rv;
}

static int op_query(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct ptable *t;
	const char *name, *after;
	uint64_t limit;
	int rv = table_of(d, args, "name", &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = arg_u64(args, "limit", false, QUERY_DEFAULT, 1, PTABLE_QUERY_MAX, &limit, msg, msglen)) ||
	    (rv = arg_str(args, "after", false, NULL, 1 << 18, &after, msg, msglen)))
		goto out;
	rv = ptable_query(t, json_object_get(args, "where"), (size_t)limit, after, result, msg, msglen);
out:
	partitions_release(d->partitions);
	return rv;
}

static int op_partition_for(struct stratad *d, const json_t *args, json_t **result, char *msg,
			    size_t msglen)
{
	struct ptable *t;
	const char *name;
	int rv = table_of(d, args, "name", &t, &name, msg, msglen);
	if (rv)
		return rv;
	json_t *value = json_object_get(args, "value");
	if (!value) {
		snprintf(msg, msglen, "field 'value' is required (a key value)");
		rv = STRATA_EBAD_REQUEST;
	} else {
		rv = ptable_partition_for(t, value, json_object_get(args, "hash_value"), result, msg, msglen);
	}
	partitions_release(d->partitions);
	return rv;
}

static int op_list(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	json_t *tv = json_object_get(args, "table");
	json_t *arr;
	int rv;
	if (!tv || (json_is_string(tv) && json_string_length(tv) == 0)) {
		rv = partitions_all(d->partitions, &arr, msg, msglen);
	} else {
		struct ptable *t;
		const char *name;
		if ((rv = table_of(d, args, "table", &t, &name, msg, msglen)) != 0)
			return rv;
		rv = ptable_partitions_json(t, &arr, msg, msglen);
		partitions_release(d->partitions);
	}
	if (rv)
		return rv;
	*result = json_pack("{s:o}", "partitions", arr);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_add(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct ptable *t;
	const char *table, *pname;
	int rv = table_of(d, args, "table", &t, &table, msg, msglen);
	if (rv)
		return rv;
	json_t *def = json_object_get(args, "definition");
	uint64_t id;
	if ((rv = arg_str(args, "name", true, NULL, 256, &pname, msg, msglen)))
		goto out;
	if (!json_is_object(def)) {
		snprintf(msg, msglen, "field 'definition' is required: e.g. {\"from\":0,\"to\":100}, "
			 "{\"values\":[...]}, {\"modulus\":4,\"remainder\":0} or {\"default\":true}");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	if ((rv = partitions_next_id(d->partitions, &id))) {
		snprintf(msg, msglen, "cannot write the partition id counter: %s", strata_strerror(rv));
		goto out;
	}
	rv = ptable_add_partition(t, id, pname, def, result, msg, msglen);
out:
	partitions_release(d->partitions);
	return rv;
}

static int op_drop(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	uint64_t id, rows = 0;
	int rv = arg_u64(args, "id", true, 0, 1, UINT64_MAX >> 2, &id, msg, msglen);
	if (rv)
		return rv;
	struct ptable *t;
	if (partitions_acquire_by_partition(d->partitions, id, &t) != 0) {
		snprintf(msg, msglen, "no partition with id %" PRIu64, id);
		return STRATA_ENOT_FOUND;
	}
	rv = ptable_drop_partition(t, id, &rows, msg, msglen);
	if (rv == 0) {
		*result = json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "table", ptable_name(t),
				    "dropped_rows", (json_int_t)rows);
		if (!*result)
			rv = STRATA_ENOMEM;
	}
	partitions_release(d->partitions);
	return rv;
}

/* debug.partitions_crash_after: the process dies (SIGKILL, as kill -9)
 * inside the next insert, after its intent is logged and `partitions`
 * partitions are written. */
static int crash_hook(void *arg, const char *table, size_t written)
{
	if (written != (size_t)(uintptr_t)arg)
		return 0;
	fprintf(stderr, "stratad: debug: killed inside an insert into '%s' after %zu partition%s\n",
		table, written, written == 1 ? "" : "s");
	(void)fflush(stderr);
	(void)raise(SIGKILL);
	return 1; /* not reached */
}

/* debug.partitions_fail_after: the next insert fails there as a failed
 * partition write would (io_error), leaving its intent pending in the
 * running stratad: the table's next operation must complete it. The hook
 * is one-shot (ptable_set_write_hook). */
static int fail_hook(void *arg, const char *table, size_t written)
{
	if (written != (size_t)(uintptr_t)arg)
		return 0;
	fprintf(stderr, "stratad: debug: failing an insert into '%s' after %zu partition%s\n",
		table, written, written == 1 ? "" : "s");
	return 1;
}

/* Arms hook on table args.name for its next insert, after args.partitions. */
static int arm_write_hook(struct stratad *d, const json_t *args, ptable_write_hook hook,
			  json_t **result, char *msg, size_t msglen)
{
	struct ptable *t;
	const char *name;
	uint64_t n;
	int rv = table_of(d, args, "name", &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = arg_u64(args, "partitions", true, 0, 0, PART_MAX, &n, msg, msglen)) == 0) {
		ptable_set_write_hook(t, hook, (void *)(uintptr_t)n);
		*result = json_pack("{s:s, s:I}", "armed", name, "partitions", (json_int_t)n);
		if (!*result)
			rv = STRATA_ENOMEM;
	}
	partitions_release(d->partitions);
	return rv;
}

static int op_crash_after(struct stratad *d, const json_t *args, json_t **result, char *msg,
			  size_t msglen)
{
	return arm_write_hook(d, args, crash_hook, result, msg, msglen);
}

static int op_fail_after(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	return arm_write_hook(d, args, fail_hook, result, msg, msglen);
}

const struct op_def ops_partitions[] = {
	{"partitions.create_table", op_create_table, true, false},
	{"partitions.list_tables", op_list_tables, false, false},
	{"partitions.get_table", op_get_table, false, false},
	{"partitions.drop_table", op_drop_table, true, false},
	{"partitions.insert", op_insert, true, false},
	{"partitions.query", op_query, false, false},
	{"partitions.partition_for", op_partition_for, false, false},
	{"partitions.list", op_list, false, false},
	{"partitions.add", op_add, true, false},
	{"partitions.drop", op_drop, true, false},
	{"debug.partitions_crash_after", op_crash_after, false, true},
	{"debug.partitions_fail_after", op_fail_after, false, true},
	{0},
};
