/*
 * proto/msg.c — control requests and replies.
 *
 * Encoders refuse what the decoders would refuse (bad op names, nesting
 * beyond PROTO_JSON_MAX_DEPTH), so a frontend finds out at once with a
 * bad_request of its own instead of stratad answering one.
 */
#include "proto/msg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto_wire.h"
#include "strata/error.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Room for the path of a value in an error: "args.items[3].name". */
#define PATH_MAX_LEN 96
/* Room for a quoted piece of input in an error message. */
#define QUOTE_MAX 40

_Static_assert(PROTO_JSON_MAX_DEPTH + 1 <= PROTO_MP_MAX_DEPTH,
	       "args/results plus the envelope map must fit msgpack-c's stack");

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_key(msgpack_packer *pk, const char *s)
{
	return pack_str(pk, s, strlen(s));
}

/* depth: containers already open around v. */
static int pack_json(msgpack_packer *pk, const json_t *v, unsigned depth)
{
	size_t i, n;
	void *it;
	int rc;

	if (!v)
		return STRATA_EBAD_REQUEST;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth >= PROTO_JSON_MAX_DEPTH)
			return STRATA_EBAD_REQUEST;
		if (msgpack_pack_map(pk, json_object_size(v)))
			return STRATA_ENOMEM;
		/* jansson's iterators take a non-const object; they do not modify it. */
		for (it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			const char *k = json_object_iter_key(it);
			size_t klen = json_object_iter_key_len(it);

			if (memchr(k, '\0', klen))
				return STRATA_EBAD_REQUEST;
			if (pack_str(pk, k, klen))
				return STRATA_ENOMEM;
			rc = pack_json(pk, json_object_iter_value(it), depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	case JSON_ARRAY:
		if (depth >= PROTO_JSON_MAX_DEPTH)
			return STRATA_EBAD_REQUEST;
		n = json_array_size(v);
		if (msgpack_pack_array(pk, n))
			return STRATA_ENOMEM;
		for (i = 0; i < n; i++) {
			rc = pack_json(pk, json_array_get(v, i), depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	case JSON_STRING:
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return STRATA_EBAD_REQUEST;
		return pack_str(pk, json_string_value(v), json_string_length(v)) ? STRATA_ENOMEM : 0;
	case JSON_INTEGER:
		return msgpack_pack_int64(pk, json_integer_value(v)) ? STRATA_ENOMEM : 0;
	case JSON_REAL:
		return msgpack_pack_double(pk, json_real_value(v)) ? STRATA_ENOMEM : 0;
	case JSON_TRUE:
		return msgpack_pack_true(pk) ? STRATA_ENOMEM : 0;
	case JSON_FALSE:
		return msgpack_pack_false(pk) ? STRATA_ENOMEM : 0;
	case JSON_NULL:
		return msgpack_pack_nil(pk) ? STRATA_ENOMEM : 0;
	}
	return STRATA_EBAD_REQUEST;
}

int proto_pack_json(msgpack_packer *pk, const json_t *v)
{
	return pack_json(pk, v, 0);
}

/*
 * The msgpack → JSON walk. `path` holds the location of o ("args.a[2]"),
 * path[0..plen) being its current contents; children append to it and the
 * caller's view is restored by writing the NUL back at plen.
 */
struct unpack_ctx {
	char path[PATH_MAX_LEN];
	struct proto_err *err;
};

static int unpack_fail(struct unpack_ctx *c, const char *what)
{
	proto_err_set(c->err, "%s: %s", c->path, what);
	return STRATA_EBAD_REQUEST;
}

static int unpack_nomem(struct unpack_ctx *c)
{
	proto_err_set(c->err, "out of memory");
	return STRATA_ENOMEM;
}

static void path_push_key(struct unpack_ctx *c, size_t plen, const char *k, size_t klen)
{
	char q[QUOTE_MAX];

	snprintf(c->path + plen, sizeof c->path - plen, ".%s",
		 proto_err_quote(q, sizeof q, k, klen));
}

static void path_push_index(struct unpack_ctx *c, size_t plen, uint32_t i)
{
	snprintf(c->path + plen, sizeof c->path - plen, "[%u]", (unsigned)i);
}

static int unpack_json(struct unpack_ctx *c, const msgpack_object *o,
		       unsigned depth, json_t **out)
{
	size_t plen = strlen(c->path);
	json_t *j = NULL, *child;
	uint32_t i;
	int rc;

	*out = NULL;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		j = json_null();
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		j = json_boolean(o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return unpack_fail(c, "integer above 2^63-1 is out of range");
		j = json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		j = json_integer(o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return unpack_fail(c, "NaN and infinite numbers are not allowed");
		j = json_real(o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		if (!proto_utf8_valid(o->via.str.ptr, o->via.str.size))
			return unpack_fail(c, "string is not valid UTF-8");
		/* Readers take strings as C strings: a NUL would cut them short. */
		if (memchr(o->via.str.ptr, '\0', o->via.str.size))
			return unpack_fail(c, "string contains a NUL byte (send binary data as base64)");
		j = json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		return unpack_fail(c, "binary values are not allowed (send base64 in a string)");
	case MSGPACK_OBJECT_EXT:
		return unpack_fail(c, "ext values are not allowed");
	case MSGPACK_OBJECT_ARRAY:
		if (depth >= PROTO_JSON_MAX_DEPTH) {
			proto_err_set(c->err, "%s: nested deeper than %d levels", c->path,
				      PROTO_JSON_MAX_DEPTH);
			return STRATA_EBAD_REQUEST;
		}
		j = json_array();
		if (!j)
			break;
		for (i = 0; i < o->via.array.size; i++) {
			path_push_index(c, plen, i);
			rc = unpack_json(c, &o->via.array.ptr[i], depth + 1, &child);
			c->path[plen] = '\0';
			if (rc || json_array_append_new(j, child)) {
				json_decref(j);
				return rc ? rc : unpack_nomem(c);
			}
		}
		break;
	case MSGPACK_OBJECT_MAP:
		if (depth >= PROTO_JSON_MAX_DEPTH) {
			proto_err_set(c->err, "%s: nested deeper than %d levels", c->path,
				      PROTO_JSON_MAX_DEPTH);
			return STRATA_EBAD_REQUEST;
		}
		j = json_object();
		if (!j)
			break;
		for (i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			rc = 0;
			if (k->type != MSGPACK_OBJECT_STR) {
				proto_err_set(c->err, "%s: map key is not a string (got %s)",
					      c->path, proto_mp_type_name(k));
				rc = STRATA_EBAD_REQUEST;
			} else if (!proto_utf8_valid(k->via.str.ptr, k->via.str.size)) {
				rc = unpack_fail(c, "map key is not valid UTF-8");
			} else if (memchr(k->via.str.ptr, '\0', k->via.str.size)) {
				rc = unpack_fail(c, "map key contains a NUL byte");
			} else if (json_object_getn(j, k->via.str.ptr, k->via.str.size)) {
				/* Last-wins or first-wins would be a guess; refuse. */
				path_push_key(c, plen, k->via.str.ptr, k->via.str.size);
				rc = unpack_fail(c, "duplicate key");
			}
			if (rc) {
				c->path[plen] = '\0';
				json_decref(j);
				return rc;
			}
			path_push_key(c, plen, k->via.str.ptr, k->via.str.size);
			rc = unpack_json(c, &o->via.map.ptr[i].val, depth + 1, &child);
			c->path[plen] = '\0';
			if (rc || json_object_setn_new_nocheck(j, k->via.str.ptr,
							       k->via.str.size, child)) {
				json_decref(j);
				return rc ? rc : unpack_nomem(c);
			}
		}
		break;
	}
	if (!j)
		return unpack_nomem(c);
	*out = j;
	return 0;
}

/* Unpacks o, labelling errors with `label` as the root of the path. */
static int unpack_json_at(const msgpack_object *o, const char *label, json_t **out,
			  struct proto_err *err)
{
	struct unpack_ctx c;

	snprintf(c.path, sizeof c.path, "%s", label);
	c.err = err;
	return unpack_json(&c, o, 0, out);
}

json_t *proto_unpack_json(const msgpack_object *o, struct proto_err *err)
{
	json_t *j = NULL;

	if (!o) {
		proto_err_set(err, "value: missing");
		return NULL;
	}
	unpack_json_at(o, "value", &j, err);
	return j;
}

/* 1..63 chars of [a-z0-9_.]; the length check is the caller's. */
static bool op_chars_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

int proto_request_encode(const struct proto_request *r, msgpack_sbuffer *out)
{
	size_t oplen = strnlen(r->op, sizeof r->op);
	size_t toklen = strnlen(r->tok, sizeof r->tok);
	size_t saved = out->size;
	msgpack_packer pk;
	int rc;

	if (oplen == 0 || oplen == sizeof r->op || !op_chars_valid(r->op, oplen) ||
	    toklen == sizeof r->tok || (r->args && !json_is_object(r->args)))
		return STRATA_EBAD_REQUEST;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, toklen ? 6 : 5) ||
	    pack_key(&pk, "v") || msgpack_pack_uint64(&pk, PROTO_VERSION) ||
	    pack_key(&pk, "id") || msgpack_pack_uint64(&pk, r->id) ||
	    pack_key(&pk, "client") || msgpack_pack_uint64(&pk, r->client) ||
	    pack_key(&pk, "op") || pack_str(&pk, r->op, oplen) ||
	    pack_key(&pk, "args")) {
		rc = STRATA_ENOMEM;
		goto fail;
	}
	if (r->args)
		rc = pack_json(&pk, r->args, 0);
	else
		rc = msgpack_pack_map(&pk, 0) ? STRATA_ENOMEM : 0;
	if (rc)
		goto fail;
	if (toklen && (pack_key(&pk, "tok") || pack_str(&pk, r->tok, toklen))) {
		rc = STRATA_ENOMEM;
		goto fail;
	}
	return 0;
fail:
	out->size = saved;
	return rc;
}

/* "v" must be present and 1. */
static int check_version(const msgpack_object *v, struct proto_err *err)
{
	uint64_t ver;
	int rc = proto_mp_get_u64(v, "", "v", &ver, err);

	if (rc)
		return rc;
	if (ver != PROTO_VERSION) {
		proto_err_set(err, "v: unsupported version %llu (this build speaks %d)",
			      (unsigned long long)ver, PROTO_VERSION);
		return STRATA_EBAD_REQUEST;
	}
	return 0;
}

static int check_root_map(const msgpack_object *o, const char *what, struct proto_err *err)
{
	if (o->type == MSGPACK_OBJECT_MAP)
		return 0;
	proto_err_set(err, "%s: expected a map, got %s", what, proto_mp_type_name(o));
	return STRATA_EBAD_REQUEST;
}

int proto_request_decode(const void *buf, size_t len, struct proto_request *out,
			 struct proto_err *err)
{
	static const char *const keys[] = { "v", "id", "client", "op", "args", "tok" };
	const msgpack_object *vals[ARRAY_LEN(keys)];
	msgpack_unpacked up;
	const char *s;
	size_t n;
	char q[QUOTE_MAX];
	int rc;

	memset(out, 0, sizeof *out);
	rc = proto_mp_unpack(buf, len, "request", &up, err);
	if (!rc)
		rc = check_root_map(&up.data, "request", err);
	if (!rc)
		rc = proto_mp_map_pick(&up.data, keys, ARRAY_LEN(keys), vals, "", err);
	if (!rc)
		rc = check_version(vals[0], err);
	if (!rc)
		rc = proto_mp_get_u64(vals[1], "", "id", &out->id, err);
	if (!rc)
		rc = proto_mp_get_u64(vals[2], "", "client", &out->client, err);
	if (!rc)
		rc = proto_mp_get_str(vals[3], "", "op", &s, &n, err);
	if (rc)
		goto out;

	rc = STRATA_EBAD_REQUEST;
	if (n == 0) {
		proto_err_set(err, "op: empty");
		goto out;
	}
	if (n >= sizeof out->op) {
		proto_err_set(err, "op: longer than %zu characters", sizeof out->op - 1);
		goto out;
	}
	if (!op_chars_valid(s, n)) {
		proto_err_set(err, "op: '%s' is not an op name (a-z, 0-9, '_' and '.')",
			      proto_err_quote(q, sizeof q, s, n));
		goto out;
	}
	memcpy(out->op, s, n);

	if (vals[5]) {
		rc = proto_mp_get_str(vals[5], "", "tok", &s, &n, err);
		if (rc)
			goto out;
		rc = STRATA_EBAD_REQUEST;
		if (n >= sizeof out->tok) {
			proto_err_set(err, "tok: longer than %zu bytes", sizeof out->tok - 1);
			goto out;
		}
		if (memchr(s, '\0', n)) {
			proto_err_set(err, "tok: contains a NUL byte");
			goto out;
		}
		memcpy(out->tok, s, n);
	}

	if (!vals[4]) {
		proto_err_set(err, "args: missing");
		goto out;
	}
	if (vals[4]->type != MSGPACK_OBJECT_MAP) {
		proto_err_set(err, "args: expected a map, got %s", proto_mp_type_name(vals[4]));
		goto out;
	}
	/* Last, so that nothing after it can fail and leave args to free. */
	rc = unpack_json_at(vals[4], "args", &out->args, err);
out:
	msgpack_unpacked_destroy(&up);
	if (rc) {
		proto_request_clear(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

void proto_request_clear(struct proto_request *r)
{
	json_decref(r->args);
	r->args = NULL;
}

/* The wire code of a failed reply: never "ok". */
static const char *error_code_name(int err)
{
	return err < 0 ? strata_err_name(err) : "internal";
}

static int reply_pack(uint64_t id, bool ok, const json_t *result, int err,
		      const char *message, size_t message_len, msgpack_sbuffer *out)
{
	char msg[sizeof ((struct proto_reply *)0)->message];
	size_t saved = out->size, mlen;
	const char *code;
	msgpack_packer pk;
	int rc = STRATA_ENOMEM;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, 4) ||
	    pack_key(&pk, "v") || msgpack_pack_uint64(&pk, PROTO_VERSION) ||
	    pack_key(&pk, "id") || msgpack_pack_uint64(&pk, id) ||
	    pack_key(&pk, "ok") || (ok ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)))
		goto fail;
	if (ok) {
		if (pack_key(&pk, "result"))
			goto fail;
		rc = result ? pack_json(&pk, result, 0)
			    : (msgpack_pack_nil(&pk) ? STRATA_ENOMEM : 0);
		if (rc)
			goto fail;
		return 0;
	}
	code = error_code_name(err);
	/* Peers put the message into JSON, which must be valid UTF-8. */
	mlen = proto_utf8_sanitize(msg, sizeof msg, message, message_len);
	if (pack_key(&pk, "error") || msgpack_pack_map(&pk, 2) ||
	    pack_key(&pk, "code") || pack_key(&pk, code) ||
	    pack_key(&pk, "message") || pack_str(&pk, msg, mlen))
		goto fail;
	return 0;
fail:
	out->size = saved;
	return rc;
}

int proto_reply_encode(const struct proto_reply *r, msgpack_sbuffer *out)
{
	return reply_pack(r->id, r->ok, r->result, r->err, r->message,
			  strnlen(r->message, sizeof r->message), out);
}

int proto_reply_encode_error(uint64_t id, int err, const char *message,
			     msgpack_sbuffer *out)
{
	if (!message)
		message = strata_strerror(err);
	return reply_pack(id, false, NULL, err, message, strlen(message), out);
}

int proto_reply_decode(const void *buf, size_t len, struct proto_reply *out,
		       struct proto_err *err)
{
	static const char *const keys[] = { "v", "id", "ok", "result", "error" };
	static const char *const ekeys[] = { "code", "message" };
	const msgpack_object *vals[ARRAY_LEN(keys)], *evals[ARRAY_LEN(ekeys)];
	msgpack_unpacked up;
	const char *s;
	size_t n;
	char code[32];
	int rc;

	memset(out, 0, sizeof *out);
	rc = proto_mp_unpack(buf, len, "reply", &up, err);
	if (!rc)
		rc = check_root_map(&up.data, "reply", err);
	if (!rc)
		rc = proto_mp_map_pick(&up.data, keys, ARRAY_LEN(keys), vals, "", err);
	if (!rc)
		rc = check_version(vals[0], err);
	if (!rc)
		rc = proto_mp_get_u64(vals[1], "", "id", &out->id, err);
	if (rc)
		goto out;
	rc = STRATA_EBAD_REQUEST;
	if (!vals[2]) {
		proto_err_set(err, "ok: missing");
		goto out;
	}
	if (vals[2]->type != MSGPACK_OBJECT_BOOLEAN) {
		proto_err_set(err, "ok: expected a boolean, got %s", proto_mp_type_name(vals[2]));
		goto out;
	}
	out->ok = vals[2]->via.boolean;

	if (out->ok) {
		if (!vals[3]) {
			proto_err_set(err, "result: missing");
			goto out;
		}
		rc = unpack_json_at(vals[3], "result", &out->result, err);
		goto out;
	}

	if (!vals[4]) {
		proto_err_set(err, "error: missing");
		goto out;
	}
	if (vals[4]->type != MSGPACK_OBJECT_MAP) {
		proto_err_set(err, "error: expected a map, got %s", proto_mp_type_name(vals[4]));
		goto out;
	}
	rc = proto_mp_map_pick(vals[4], ekeys, ARRAY_LEN(ekeys), evals, "error", err);
	if (!rc)
		rc = proto_mp_get_str(evals[0], "error", "code", &s, &n, err);
	if (rc)
		goto out;
	/* No code is this long; an unknown one reads as internal either way. */
	if (n < sizeof code && !memchr(s, '\0', n)) {
		memcpy(code, s, n);
		code[n] = '\0';
		out->err = strata_err_from_name(code);
	} else {
		out->err = STRATA_EINTERNAL;
	}
	rc = proto_mp_get_str(evals[1], "error", "message", &s, &n, err);
	if (rc)
		goto out;
	proto_utf8_sanitize(out->message, sizeof out->message, s, n);
out:
	msgpack_unpacked_destroy(&up);
	if (rc) {
		proto_reply_clear(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

void proto_reply_clear(struct proto_reply *r)
{
	json_decref(r->result);
	r->result = NULL;
}
