/*
 * daemon/ops_lsm.c — lsm.* ops over the named trees (daemon/trees.h).
 *
 * Keys and values are binary-safe: a request names them as UTF-8 strings
 * ("key", "value") or base64 ("key_b64", "value_b64"); replies carry
 * "key"/"value" when the bytes are valid UTF-8 without NUL, else
 * "key_b64"/"value_b64" (or always base64 with "encoding":"base64").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lsm.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/stratad.h"
#include "daemon/tablespaces.h"
#include "daemon/trees.h"
#include "proto/base64.h"
#include "strata/error.h"

#define SCAN_DEFAULT 100
#define SCAN_MAX 1000
#define BATCH_MAX 10000

/* Bytes of a key or value named `field` or `field`_b64; *buf malloc'd or NULL. */
struct blob {
	const void *p;
	size_t n;
	void *owned;
};

static int arg_blob(const json_t *args, const char *field, bool required, size_t max,
		    struct blob *out, char *msg, size_t msglen)
{
	char b64name[32];
	snprintf(b64name, sizeof(b64name), "%s_b64", field);
	json_t *s = json_object_get(args, field), *b = json_object_get(args, b64name);
	memset(out, 0, sizeof(*out));
	if (s && b) {
		snprintf(msg, msglen, "give either '%s' or '%s', not both", field, b64name);
		return STRATA_EBAD_REQUEST;
	}
	if (!s && !b) {
		if (!required)
			return 1;
		snprintf(msg, msglen, "field '%s' (or '%s') is required", field, b64name);
		return STRATA_EBAD_REQUEST;
	}
	if (s) {
		if (!json_is_string(s)) {
			snprintf(msg, msglen, "field '%s' must be a string (binary: use '%s')", field, b64name);
			return STRATA_EBAD_REQUEST;
		}
		out->p = json_string_value(s);
		out->n = json_string_length(s);
	} else {
		if (!json_is_string(b)) {
			snprintf(msg, msglen, "field '%s' must be a base64 string", b64name);
			return STRATA_EBAD_REQUEST;
		}
		size_t len = json_string_length(b), bad;
		out->owned = malloc(len / 4 * 3 + 1);
		if (!out->owned)
			return STRATA_ENOMEM;
		if (base64_decode(json_string_value(b), len, out->owned, &out->n, &bad) != 0) {
			free(out->owned);
			out->owned = NULL;
			snprintf(msg, msglen, "field '%s' is not valid base64 (at character %zu)", b64name, bad);
			return STRATA_EBAD_REQUEST;
		}
		out->p = out->owned;
	}
	if (out->n > max) {
		free(out->owned);
		out->owned = NULL;
		snprintf(msg, msglen, "field '%s' is %zu bytes; at most %zu", field, out->n, max);
		return STRATA_ETOO_LARGE;
	}
	return 0;
}

static bool utf8_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (c == 0 || len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* Sets obj[field] (text) or obj[field_b64]. */
static int set_blob(json_t *obj, const char *field, const void *p, size_t n, bool force_b64)
{
	if (!force_b64 && utf8_text(p, n))
		return json_object_set_new(obj, field, json_stringn(p, n));
	char name[32];
	snprintf(name, sizeof(name), "%s_b64", field);
	char *enc = malloc(base64_encoded_len(n) + 1);
	if (!enc)
		return -1;
	base64_encode(p, n, enc);
	int rv = json_object_set_new(obj, name, json_string(enc));
	free(enc);
	return rv;
}

static int want_b64(const json_t *args, bool *b64, char *msg, size_t msglen)
{
	const char *enc;
	int rv = arg_str(args, "encoding", false, "text", 16, &enc, msg, msglen);
	if (rv)
		return rv;
	if (strcmp(enc, "text") != 0 && strcmp(enc, "base64") != 0) {
		snprintf(msg, msglen, "field 'encoding' must be \"text\" or \"base64\"");
		return STRATA_EBAD_REQUEST;
	}
	*b64 = strcmp(enc, "base64") == 0;
	return 0;
}

/* Finds the tree named in args.name (pinned; trees_release after). */
static int tree_of(struct stratad *d, const json_t *args, struct lsm **t, const char **name,
		   char *msg, size_t msglen)
{
	int rv = arg_str(args, "name", true, NULL, 256, name, msg, msglen);
	if (rv)
		return rv;
	if (!trees_name_ok(*name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	if (trees_acquire(d->trees, *name, t) != 0) {
		snprintf(msg, msglen, "no tree named '%s'", *name);
		return STRATA_ENOT_FOUND;
	}
	return 0;
}

static int write_opts(const json_t *args, struct lsm_write_opts *wo, struct lsm_write_opts **p,
		      char *msg, size_t msglen)
{
	json_t *s = json_object_get(args, "sync");
	*p = NULL;
	if (!s || json_is_null(s))
		return 0;
	if (!json_is_boolean(s)) {
		snprintf(msg, msglen, "field 'sync' must be true or false (the tree's mode applies if absent)");
		return STRATA_EBAD_REQUEST;
	}
	wo->sync = json_is_true(s);
	*p = wo;
	return 0;
}

static int core_error(int rv, const char *what, char *msg, size_t msglen)
{
	if (rv == STRATA_EBUSY)
		snprintf(msg, msglen, "%s: writes are stopped (write stall); retry later", what);
	else if (rv == STRATA_ECORRUPT)
		snprintf(msg, msglen, "%s: a block failed its checksum; no data returned", what);
	else if (rv == STRATA_EREAD_ONLY)
		snprintf(msg, msglen, "%s: the tree went read-only after an I/O failure", what);
	else
		snprintf(msg, msglen, "%s: %s", what, strata_strerror(rv));
	return rv;
}

static int op_create(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	const char *name;
	int rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen);
	if (rv)
		return rv;
	json_t *opts = json_deep_copy(args);
	if (!opts)
		return STRATA_ENOMEM;
	json_object_del(opts, "name");
	json_object_del(opts, "tablespace");
	json_object_del(opts, "tablespace_id"); /* set from "tablespace" only */
	uint64_t ts_id = 0;
	char kind_dir[TS_PATH_MAX + 32];
	rv = tablespaces_resolve(d, args, "lsm", &ts_id, kind_dir, sizeof(kind_dir), msg, msglen);
	if (rv == 0)
		rv = trees_create(d->trees, name, opts, ts_id ? kind_dir : NULL, ts_id, result, msg, msglen);
	json_decref(opts);
	if (rv == 0 && ts_id)
		json_object_set(*result, "tablespace", json_object_get(args, "tablespace"));
	return rv;
}

static int op_list(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*result = json_pack("{s:o}", "trees", trees_list(d->trees));
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_drop(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	const char *name;
	int rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen);
	if (rv)
		return rv;
	if (!trees_name_ok(name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	rv = trees_drop(d->trees, name);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "no tree named '%s'", name);
		return rv;
	}
	if (rv)
		return core_error(rv, "drop", msg, msglen);
	*result = json_pack("{s:s, s:b}", "name", name, "dropped", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_put(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct lsm *t;
	const char *name;
	struct blob k = {0}, v = {0};
	struct lsm_write_opts wo, *wop;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = arg_blob(args, "key", true, LSM_KEY_MAX, &k, msg, msglen)) ||
	    (rv = arg_blob(args, "value", true, LSM_VALUE_MAX, &v, msg, msglen)) ||
	    (rv = write_opts(args, &wo, &wop, msg, msglen)))
		goto out;
	if (k.n == 0) {
		snprintf(msg, msglen, "field 'key' must not be empty");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	/* Quota: the WAL record is about key + value + a small header. */
	uint64_t ts_id = trees_tablespace_id(d->trees, name);
	if ((rv = tablespaces_check(d, ts_id, k.n + v.n + 16, msg, msglen)))
		goto out;
	rv = lsm_put(t, k.p, k.n, v.p, v.n, wop);
	if (rv) {
		core_error(rv, "put", msg, msglen);
		goto out;
	}
	tablespaces_account(d, ts_id, k.n + v.n + 16);
	*result = json_object();
	if (!*result || set_blob(*result, "key", k.p, k.n, false) != 0)
		rv = STRATA_ENOMEM;
out:
	trees_release(d->trees);
	free(k.owned);
	free(v.owned);
	return rv;
}

static int op_get(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct lsm *t;
	const char *name;
	struct blob k = {0};
	bool b64;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = arg_blob(args, "key", true, LSM_KEY_MAX, &k, msg, msglen)) ||
	    (rv = want_b64(args, &b64, msg, msglen)))
		goto out;
	void *val = NULL;
	size_t vlen = 0;
	rv = lsm_get(t, k.p, k.n, &val, &vlen);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "key not found in tree '%s'", name);
		goto out;
	}
	if (rv) {
		core_error(rv, "get", msg, msglen);
		goto out;
	}
	*result = json_object();
	if (!*result || set_blob(*result, "key", k.p, k.n, b64) != 0 ||
	    set_blob(*result, "value", val, vlen, b64) != 0)
		rv = STRATA_ENOMEM;
	free(val);
out:
	trees_release(d->trees);
	free(k.owned);
	return rv;
}

static int op_delete(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	struct lsm *t;
	const char *name;
	struct blob k = {0};
	struct lsm_write_opts wo, *wop;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	if ((rv = arg_blob(args, "key", true, LSM_KEY_MAX, &k, msg, msglen)) ||
	    (rv = write_opts(args, &wo, &wop, msg, msglen)))
		goto out;
	/* An LSM delete writes a tombstone whether or not the key exists;
	 * users expect 404 for a missing key, so look first. */
	void *val = NULL;
	size_t vlen;
	rv = lsm_get(t, k.p, k.n, &val, &vlen);
	free(val);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "key not found in tree '%s'", name);
		goto out;
	}
	if (rv == 0)
		rv = lsm_delete(t, k.p, k.n, wop);
	if (rv) {
		core_error(rv, "delete", msg, msglen);
		goto out;
	}
	*result = json_pack("{s:b}", "deleted", 1);
	if (!*result || set_blob(*result, "key", k.p, k.n, false) != 0)
		rv = STRATA_ENOMEM;
out:
	trees_release(d->trees);
	free(k.owned);
	return rv;
}

struct scan_state {
	json_t *items;
	size_t limit, n;
	bool b64;
	json_t *next;
	int err;
};

static int scan_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct scan_state *s = arg;
	if (s->n == s->limit) { /* one more than asked: it is the next cursor */
		s->next = json_object();
		if (!s->next || set_blob(s->next, "key", key, klen, s->b64) != 0)
			s->err = STRATA_ENOMEM;
		return 1;
	}
	json_t *it = json_object();
	if (!it || set_blob(it, "key", key, klen, s->b64) != 0 ||
	    set_blob(it, "value", val, vlen, s->b64) != 0 || json_array_append_new(s->items, it) != 0) {
		s->err = STRATA_ENOMEM;
		return 1;
	}
	s->n++;
	return 0;
}

static int op_scan(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct lsm *t;
	const char *name;
	struct blob st = {0}, en = {0};
	uint64_t limit;
	struct scan_state s = {0};
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	int has_start = arg_blob(args, "start", false, LSM_KEY_MAX, &st, msg, msglen);
	if (has_start < 0) {
		rv = has_start;
		goto out;
	}
	int has_end = arg_blob(args, "end", false, LSM_KEY_MAX, &en, msg, msglen);
	if (has_end < 0) {
		rv = has_end;
		goto out;
	}
	if ((rv = arg_u64(args, "limit", false, SCAN_DEFAULT, 1, SCAN_MAX, &limit, msg, msglen)) ||
	    (rv = want_b64(args, &s.b64, msg, msglen)))
		goto out;
	s.items = json_array();
	s.limit = limit;
	if (!s.items) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	rv = lsm_scan(t, has_start == 0 ? st.p : NULL, has_start == 0 ? st.n : 0,
		      has_end == 0 ? en.p : NULL, has_end == 0 ? en.n : 0, limit + 1, scan_cb, &s, NULL);
	if (rv == 0)
		rv = s.err;
	if (rv) {
		core_error(rv, "scan", msg, msglen);
		goto out;
	}
	/* "next": the key to pass as start for the following page; null at
	 * the end. A key that is not text comes as "next_b64" instead. */
	json_t *next = json_null();
	const char *next_field = "next";
	if (s.next) {
		json_t *k = json_object_get(s.next, "key");
		json_t *kb = json_object_get(s.next, "key_b64");
		json_decref(next);
		next = json_incref(k ? k : kb);
		next_field = k ? "next" : "next_b64";
	}
	*result = json_pack("{s:O, s:o}", "items", s.items, next_field, next);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	json_decref(s.items);
	json_decref(s.next);
	trees_release(d->trees);
	free(st.owned);
	free(en.owned);
	return rv;
}

static int op_batch(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct lsm *t;
	const char *name;
	struct lsm_write_opts wo, *wop;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	json_t *ops = json_object_get(args, "ops");
	size_t n = json_array_size(ops);
	struct lsm_batch_op *bops = NULL;
	struct blob *blobs = NULL;
	if ((rv = write_opts(args, &wo, &wop, msg, msglen)))
		goto out;
	if (!json_is_array(ops) || n == 0) {
		snprintf(msg, msglen, "field 'ops' must be a non-empty array of {\"put\":{...}} or {\"delete\":{...}}");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	if (n > BATCH_MAX) {
		snprintf(msg, msglen, "field 'ops' has %zu ops; at most %d per batch", n, BATCH_MAX);
		rv = STRATA_ETOO_LARGE;
		goto out;
	}
	bops = calloc(n, sizeof(*bops));
	blobs = calloc(2 * n, sizeof(*blobs));
	if (!bops || !blobs) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *op = json_array_get(ops, i);
		json_t *put = json_object_get(op, "put"), *del = json_object_get(op, "delete");
		char inner[200] = "";
		if (!json_is_object(op) || (!put == !del) || json_object_size(op) != 1 ||
		    !json_is_object(put ? put : del)) {
			snprintf(msg, msglen, "ops[%zu] must be {\"put\":{\"key\":..,\"value\":..}} or {\"delete\":{\"key\":..}}", i);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
		json_t *body = put ? put : del;
		if ((rv = arg_blob(body, "key", true, LSM_KEY_MAX, &blobs[2 * i], inner, sizeof(inner))) ||
		    (put && (rv = arg_blob(body, "value", true, LSM_VALUE_MAX, &blobs[2 * i + 1], inner,
					   sizeof(inner))))) {
			snprintf(msg, msglen, "ops[%zu]: %s", i, inner);
			goto out;
		}
		if (blobs[2 * i].n == 0) {
			snprintf(msg, msglen, "ops[%zu]: field 'key' must not be empty", i);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
		bops[i].type = put ? LSM_OP_PUT : LSM_OP_DELETE;
		bops[i].key = blobs[2 * i].p;
		bops[i].klen = blobs[2 * i].n;
		bops[i].val = blobs[2 * i + 1].p;
		bops[i].vlen = blobs[2 * i + 1].n;
	}
	struct lsm_batch b = {.ops = bops, .count = n};
	uint64_t bytes = 0, ts_id = trees_tablespace_id(d->trees, name);
	for (size_t i = 0; i < n; i++)
		bytes += bops[i].klen + bops[i].vlen + 16;
	if ((rv = tablespaces_check(d, ts_id, bytes, msg, msglen)))
		goto out;
	rv = lsm_write_batch(t, &b, wop);
	if (rv) {
		core_error(rv, "batch", msg, msglen);
		goto out;
	}
	tablespaces_account(d, ts_id, bytes);
	*result = json_pack("{s:I}", "applied", (json_int_t)n);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	for (size_t i = 0; blobs && i < 2 * n; i++)
		free(blobs[i].owned);
	free(blobs);
	free(bops);
	trees_release(d->trees);
	return rv;
}

static int op_compact(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	struct lsm *t;
	const char *name;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	rv = lsm_compact(t);
	if (rv)
		core_error(rv, "compact", msg, msglen);
	else
		*result = json_pack("{s:s, s:b, s:o}", "name", name, "compacted", 1, "stats",
				    lsm_stats_json(t));
	trees_release(d->trees);
	return rv ? rv : *result ? 0 : STRATA_ENOMEM;
}

static int op_flush(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	struct lsm *t;
	const char *name;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	rv = lsm_flush(t);
	if (rv)
		core_error(rv, "flush", msg, msglen);
	else
		*result = json_pack("{s:s, s:b}", "name", name, "flushed", 1);
	trees_release(d->trees);
	return rv ? rv : *result ? 0 : STRATA_ENOMEM;
}

static int op_stats(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	struct lsm *t;
	const char *name;
	int rv = tree_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	*result = json_pack("{s:s, s:o, s:o}", "name", name, "options",
			    trees_options_json(d->trees, name), "stats", lsm_stats_json(t));
	trees_release(d->trees);
	return *result ? 0 : STRATA_ENOMEM;
}

const struct op_def ops_lsm[] = {
	{"lsm.create", op_create, true, false},
	{"lsm.list", op_list, false, false},
	{"lsm.drop", op_drop, true, false},
	{"lsm.put", op_put, true, false},
	{"lsm.get", op_get, false, false},
	{"lsm.delete", op_delete, true, false},
	{"lsm.scan", op_scan, false, false},
	{"lsm.batch", op_batch, true, false},
	{"lsm.compact", op_compact, true, false},
	{"lsm.flush", op_flush, true, false},
	{"lsm.stats", op_stats, false, false},
	{0},
};
