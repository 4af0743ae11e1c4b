/*
 * daemon/ops_json.c — json.* ops: operators on documents given in the
 * request (core/json/jdoc.h) and document collections with path indexes
 * (core/json/jstore.h, under DATA/json/).
 *
 * A collection created with "tablespace" keeps its files in
 * TSDIR/json/NAME (DATA/json/NAME is a link to them); its document puts are
 * checked against the tablespace's quota and accounted. The "tablespace"
 * of every answer is where the files are (the current name of that
 * tablespace), found from the link.
 *
 * JSONPath work budget (core/json/jbudget.h): each request that evaluates
 * paths gets one budget of --json-path-budget units, shared by everything
 * it evaluates (every document of json.agg and of a json.query scan); index
 * paths get that many units per document put or indexed (jstore.h).
 * Over it: path_too_expensive (HTTP 422), the message naming the limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbudget.h"
#include "core/json/jdoc.h"
#include "core/json/jstore.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"
#include "daemon/tablespaces.h"
#include "strata/error.h"

#define PATH_ARG_MAX 4096
#define DOC_LIST_DEFAULT 100
#define QUERY_DEFAULT 100

static int json_open(struct stratad *d, char *err, size_t errlen)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/json", d->data_dir);
	int rv = jstore_open(&d->json, dir, err, errlen);
	if (!rv)
		jstore_set_index_budget(d->json, d->opt.json_path_budget);
	return rv;
}

static int json_close(struct stratad *d)
{
	int rv = jstore_close(d->json);
	d->json = NULL;
	return rv;
}

const struct module module_json = {.name = "json", .open = json_open, .close = json_close};

/* A JSON value field (any type, null included); required. */
static int arg_value(const json_t *args, const char *name, json_t **out, char *msg, size_t msglen)
{
	*out = json_object_get(args, name);
	if (!*out) {
		snprintf(msg, msglen, "field '%s' is required", name);
		return STRATA_EBAD_REQUEST;
	}
	return 0;
}

static int arg_path(const json_t *args, const char *name, bool required, const char **out,
		    char *msg, size_t msglen)
{
	return arg_str(args, name, required, "$", PATH_ARG_MAX, out, msg, msglen);
}

/* One request's budget. */
static struct jbudget request_budget(const struct stratad *d)
{
	return jbudget_make(d->opt.json_path_budget);
}

/* Points a client over the budget at the setting. */
static int budget_err(int rv, char *msg, size_t msglen)
{
	size_t n = strlen(msg);
	if (rv == STRATA_EPATH_TOO_EXPENSIVE && n + 1 < msglen)
		snprintf(msg + n, msglen - n, " (stratad --json-path-budget)");
	return rv;
}

static int wrap_result(json_t *v, json_t **result)
{
	*result = json_pack("{s:o}", "result", v ? v : json_null());
	return *result ? 0 : STRATA_ENOMEM;
}

/* ------------------------------------------------------------ operators */

static int op_parse(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	(void)d;
	const char *text;
	int rv = arg_str(args, "text", true, NULL, 64u << 20, &text, msg, msglen);
	if (rv)
		return rv;
	json_t *v;
	if ((rv = jdoc_parse(text, strlen(text), &v, msg, msglen)) != 0)
		return rv;
	*result = json_pack("{s:o, s:s}", "result", v, "type", jdoc_type_name(v));
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_extract(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	struct jbudget b = request_budget(d);
	json_t *doc, *v;
	const char *path;
	bool all;
	int rv;
	if ((rv = arg_value(args, "json", &doc, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)) ||
	    (rv = arg_bool(args, "all", true, &all, msg, msglen)) ||
	    (rv = jdoc_extract(doc, path, all, &b, &v, msg, msglen)))
		return budget_err(rv, msg, msglen);
	return wrap_result(v, result);
}

static int op_set(struct stratad *d, const json_t *args, json_t **result, char *msg,
		  size_t msglen)
{
	struct jbudget b = request_budget(d);
	json_t *doc, *value, *v;
	const char *path;
	size_t matched;
	int rv;
	if ((rv = arg_value(args, "json", &doc, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)) ||
	    (rv = arg_value(args, "value", &value, msg, msglen)) ||
	    (rv = jdoc_set(doc, path, value, &b, &v, &matched, msg, msglen)))
		return budget_err(rv, msg, msglen);
	*result = json_pack("{s:o, s:I}", "result", v, "matched", (json_int_t)matched);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_delete(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	struct jbudget b = request_budget(d);
	json_t *doc, *v;
	const char *path;
	size_t removed;
	int rv;
	if ((rv = arg_value(args, "json", &doc, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)) ||
	    (rv = jdoc_delete(doc, path, &b, &v, &removed, msg, msglen)))
		return budget_err(rv, msg, msglen);
	*result = json_pack("{s:o, s:I}", "result", v, "removed", (json_int_t)removed);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_merge(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	(void)d;
	json_t *target, *patch;
	int rv;
	if ((rv = arg_value(args, "target", &target, msg, msglen)) ||
	    (rv = arg_value(args, "patch", &patch, msg, msglen)))
		return rv;
	json_t *v = jdoc_merge_patch(target, patch);
	return v ? wrap_result(v, result) : STRATA_ENOMEM;
}

static int op_contains(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	struct jbudget b = request_budget(d);
	json_t *doc, *cand, *node;
	const char *path;
	int rv;
	if ((rv = arg_value(args, "json", &doc, msg, msglen)) ||
	    (rv = arg_value(args, "value", &cand, msg, msglen)) ||
	    (rv = arg_path(args, "path", false, &path, msg, msglen)) ||
	    (rv = jdoc_extract(doc, path, false, &b, &node, msg, msglen)))
		return budget_err(rv, msg, msglen);
	bool hit = node && jdoc_contains(node, cand);
	json_decref(node);
	*result = json_pack("{s:b}", "result", hit);
	return *result ? 0 : STRATA_ENOMEM;
}

/* {json, path?} -> {"result": fn(json, path)} for the read-only operators. */
typedef int (*doc_path_fn)(json_t *doc, const char *path, struct jbudget *budget, json_t **out,
			   char *msg, size_t msglen);

static int doc_path_op(const struct stratad *d, const json_t *args, doc_path_fn fn,
		       json_t **result, char *msg, size_t msglen)
{
	struct jbudget b = request_budget(d);
	json_t *doc, *v;
	const char *path;
	int rv;
	if ((rv = arg_value(args, "json", &doc, msg, msglen)) ||
	    (rv = arg_path(args, "path", false, &path, msg, msglen)) ||
	    (rv = fn(doc, path, &b, &v, msg, msglen)))
		return budget_err(rv, msg, msglen);
	return wrap_result(v, result);
}

static int op_keys(struct stratad *d, const json_t *args, json_t **result, char *msg,
		   size_t msglen)
{
	return doc_path_op(d, args, jdoc_keys, result, msg, msglen);
}

static int op_array_length(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	return doc_path_op(d, args, jdoc_array_length, result, msg, msglen);
}

static int op_agg(struct stratad *d, const json_t *args, json_t **result, char *msg,
		  size_t msglen)
{
	struct jbudget b = request_budget(d);
	const char *fn, *path, *kpath, *vpath;
	json_t *docs, *v;
	int rv;
	if ((rv = arg_str(args, "fn", false, "json_agg", 32, &fn, msg, msglen)) ||
	    (rv = arg_value(args, "docs", &docs, msg, msglen)))
		return rv;
	if (!json_is_array(docs)) {
		snprintf(msg, msglen, "field 'docs' must be an array of JSON values");
		return STRATA_EBAD_REQUEST;
	}
	if (strcmp(fn, "json_agg") == 0) {
		if ((rv = arg_path(args, "path", false, &path, msg, msglen)) ||
		    (rv = jdoc_agg(docs, path, &b, &v, msg, msglen)))
			return budget_err(rv, msg, msglen);
	} else if (strcmp(fn, "json_object_agg") == 0) {
		if ((rv = arg_path(args, "key_path", true, &kpath, msg, msglen)) ||
		    (rv = arg_path(args, "value_path", false, &vpath, msg, msglen)) ||
		    (rv = jdoc_object_agg(docs, kpath, vpath, &b, &v, msg, msglen)))
			return budget_err(rv, msg, msglen);
	} else {
		snprintf(msg, msglen, "field 'fn' must be \"json_agg\" or \"json_object_agg\"");
		return STRATA_EBAD_REQUEST;
	}
	return wrap_result(v, result);
}

/* ------------------------------------------------------------ collections */

static int arg_coll(const json_t *args, const char **name, char *msg, size_t msglen)
{
	return arg_str(args, "collection", true, NULL, 256, name, msg, msglen);
}

/* The tablespace collection name lives in: its id, 0 for none. */
static uint64_t coll_tablespace(struct stratad *d, const char *name)
{
	char home[4200];
	snprintf(home, sizeof(home), "%s/json", d->data_dir);
	return tablespaces_owner(d, home, name);
}

/* Sets info's "tablespace" to the name of the tablespace its files are in
 * (null: the data dir). */
static void set_ts_name(struct stratad *d, json_t *info)
{
	const char *name = json_string_value(json_object_get(info, "name"));
	if (!name)
		return;
	char tsname[TS_NAME_MAX + 1];
	const char *n = tablespaces_name(d, coll_tablespace(d, name), tsname, sizeof(tsname));
	json_object_set_new(info, "tablespace", n ? json_string(n) : json_null());
}

static int op_coll_create(struct stratad *d, const json_t *args, json_t **result, char *msg,
			  size_t msglen)
{
	const char *name;
	int rv;
	if ((rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen)))
		return rv;
	if (!jstore_name_ok(name, "name", msg, msglen))
		return STRATA_EBAD_REQUEST;
	uint64_t ts_id = 0;
	char kind_dir[TS_PATH_MAX + 32];
	if ((rv = tablespaces_resolve(d, args, "json", &ts_id, kind_dir, sizeof(kind_dir), msg, msglen)))
		return rv;
	const char *ts = ts_id ? json_string_value(json_object_get(args, "tablespace")) : NULL;
	if ((rv = jstore_create_in(d->json, name, ts, ts_id ? kind_dir : NULL, result, msg, msglen)))
		return rv;
	set_ts_name(d, *result);
	return 0;
}

static int op_coll_list(struct stratad *d, const json_t *args, json_t **result, char *msg,
			size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*result = jstore_list(d->json);
	if (!*result)
		return STRATA_ENOMEM;
	json_t *arr = json_object_get(*result, "collections");
	for (size_t i = 0; i < json_array_size(arr); i++)
		set_ts_name(d, json_array_get(arr, i));
	return 0;
}

static int op_coll_get(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	const char *name;
	int rv = arg_coll(args, &name, msg, msglen);
	if (rv || (rv = jstore_info(d->json, name, result, msg, msglen)))
		return rv;
	set_ts_name(d, *result);
	return 0;
}

static int op_coll_drop(struct stratad *d, const json_t *args, json_t **result, char *msg,
			size_t msglen)
{
	const char *name;
	int rv = arg_coll(args, &name, msg, msglen);
	if (rv || (rv = jstore_drop(d->json, name, msg, msglen)))
		return rv;
	*result = json_pack("{s:s, s:b}", "name", name, "dropped", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_doc_put(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	const char *name, *id;
	json_t *doc;
	bool created = false;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_str(args, "id", true, NULL, 1024, &id, msg, msglen)) ||
	    (rv = arg_value(args, "doc", &doc, msg, msglen)))
		return rv;
	/* The quota: the document's text, its id and a small header (index
	 * entries come on top; usage is re-measured from the files). */
	uint64_t ts_id = coll_tablespace(d, name);
	uint64_t bytes = json_dumpb(doc, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) + strlen(id) + 16;
	if ((rv = tablespaces_check(d, ts_id, bytes, msg, msglen)) ||
	    (rv = jstore_put(d->json, name, id, doc, &created, msg, msglen)))
		return budget_err(rv, msg, msglen);
	tablespaces_account(d, ts_id, bytes);
	*result = json_pack("{s:s, s:s, s:b}", "collection", name, "id", id, "created", created);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_doc_get(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	const char *name, *id;
	json_t *doc;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_str(args, "id", true, NULL, 1024, &id, msg, msglen)) ||
	    (rv = jstore_get(d->json, name, id, &doc, msg, msglen)))
		return rv;
	*result = json_pack("{s:s, s:o}", "id", id, "doc", doc);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_doc_delete(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	const char *name, *id;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_str(args, "id", true, NULL, 1024, &id, msg, msglen)) ||
	    (rv = jstore_delete(d->json, name, id, msg, msglen)))
		return rv;
	*result = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_doc_list(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	const char *name, *after;
	uint64_t limit;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_str(args, "after", false, NULL, 1024, &after, msg, msglen)) ||
	    (rv = arg_u64(args, "limit", false, DOC_LIST_DEFAULT, 1, JSTORE_LIST_MAX, &limit, msg,
			  msglen)))
		return rv;
	if (after && !*after)
		after = NULL;
	return jstore_list_docs(d->json, name, after, limit, result, msg, msglen);
}

static int op_index_create(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	const char *name, *path;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)))
		return rv;
	/* An index build writes entries of unknown size: refused only when
	 * the tablespace is already past its quota. */
	if ((rv = tablespaces_check(d, coll_tablespace(d, name), 0, msg, msglen)))
		return rv;
	return budget_err(jstore_index_create(d->json, name, path, result, msg, msglen), msg, msglen);
}

static int op_index_list(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	const char *name;
	int rv = arg_coll(args, &name, msg, msglen);
	return rv ? rv : jstore_index_list(d->json, name, result, msg, msglen);
}

static int op_index_drop(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	const char *name, *path;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)) ||
	    (rv = jstore_index_drop(d->json, name, path, msg, msglen)))
		return rv;
	*result = json_pack("{s:s, s:b}", "path", path, "dropped", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_query(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	const char *name, *path, *op;
	json_t *value;
	uint64_t limit;
	bool docs, no_index;
	int rv;
	if ((rv = arg_coll(args, &name, msg, msglen)) ||
	    (rv = arg_path(args, "path", true, &path, msg, msglen)) ||
	    (rv = arg_str(args, "op", false, "=", 16, &op, msg, msglen)) ||
	    (rv = arg_value(args, "value", &value, msg, msglen)) ||
	    (rv = arg_u64(args, "limit", false, QUERY_DEFAULT, 1, JSTORE_QUERY_MAX, &limit, msg,
			  msglen)) ||
	    (rv = arg_bool(args, "include_docs", false, &docs, msg, msglen)) ||
	    (rv = arg_bool(args, "no_index", false, &no_index, msg, msglen)))
		return rv;
	struct jbudget b = request_budget(d);
	return budget_err(jstore_query(d->json, name, path, op, value, limit, docs, no_index, &b,
				       result, msg, msglen), msg, msglen);
}

const struct op_def ops_json[] = {
	{"json.parse", op_parse, false, false},
	{"json.extract", op_extract, false, false},
	{"json.set", op_set, false, false},
	{"json.delete", op_delete, false, false},
	{"json.merge", op_merge, false, false},
	{"json.contains", op_contains, false, false},
	{"json.keys", op_keys, false, false},
	{"json.array_length", op_array_length, false, false},
	{"json.agg", op_agg, false, false},
	{"json.collection_create", op_coll_create, true, false},
	{"json.collection_list", op_coll_list, false, false},
	{"json.collection_get", op_coll_get, false, false},
	{"json.collection_drop", op_coll_drop, true, false},
	{"json.doc_put", op_doc_put, true, false},
	{"json.doc_get", op_doc_get, false, false},
	{"json.doc_delete", op_doc_delete, true, false},
	{"json.doc_list", op_doc_list, false, false},
	{"json.index_create", op_index_create, true, false},
	{"json.index_list", op_index_list, false, false},
	{"json.index_drop", op_index_drop, true, false},
	{"json.query", op_query, false, false},
	{0},
};
