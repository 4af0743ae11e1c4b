/*
 * Unit tests for proto/msg: control requests and replies, the JSON <->
 * msgpack mapping of args and results, and the decoders' totality.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"
#include "strata/error.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

	cr_assert_not_null(j, "bad test JSON %s: %s", text, jerr.text);
	return j;
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Args with every JSON shape: nesting, unicode, reals, extremes, escapes. */
static const char rich_args[] =
	"{\"key\":\"caf\\u00e9 \\u2713 \\u65e5\\u672c \\ud83c\\udf89\","
	"\"nested\":{\"a\":[1,[2,[3,{\"b\":null}]],{}],\"empty\":[],\"o\":{}},"
	"\"reals\":[3.25,-1e-300,1.7976931348623157e308,0.1,-0.0],"
	"\"ints\":[-1,0,9223372036854775807,-9223372036854775808,255,-33,65536],"
	"\"bools\":[true,false],\"null\":null,"
	"\"\\u00fcnicode key\":\"v\",\"\":\"empty key\",\"esc\":\"\\\"\\\\\\n\\t\"}";

static void roundtrip_request(const struct proto_request *in)
{
	msgpack_sbuffer sb;
	struct proto_request out;
	struct proto_err err = { "" };
	char *a, *b;

	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_request_encode(in, &sb), 0);
	cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.id, in->id);
	cr_assert_eq(out.client, in->client);
	cr_assert_str_eq(out.op, in->op);
	cr_assert_str_eq(out.tok, in->tok);
	cr_assert(json_is_object(out.args));
	a = in->args ? dump(in->args) : strdup("(none)");
	b = dump(out.args);
	cr_assert(in->args ? json_equal(in->args, out.args) : json_object_size(out.args) == 0,
		  "args differ:\n  in  %s\n  out %s", a, b);
	free(a);
	free(b);
	proto_request_clear(&out);
	cr_assert_null(out.args);
	proto_request_clear(&out); /* twice is fine */
	msgpack_sbuffer_destroy(&sb);
}

Test(request, roundtrip)
{
	struct proto_request r = { .id = 1, .client = 2, .op = "lsm.put", .tok = "" };

	r.args = parse(rich_args);
	roundtrip_request(&r);

	r.id = UINT64_MAX;
	r.client = 0;
	snprintf(r.tok, sizeof r.tok, "%s", "s3cr3t-token");
	snprintf(r.op, sizeof r.op, "%s", "events.replay");
	roundtrip_request(&r);
	json_decref(r.args);

	/* No args: sent as {}. */
	r.args = NULL;
	roundtrip_request(&r);
}

Test(request, boundaries)
{
	struct proto_request r = { .id = 1, .client = 2 };
	msgpack_sbuffer sb;

	/* 63-char op and 127-byte token are the longest that fit. */
	memset(r.op, 'a', 63);
	r.op[5] = '.';
	memset(r.tok, 'T', 127);
	roundtrip_request(&r);

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "keep", 4);
	/* op and tok without a NUL in their arrays. */
	memset(r.op, 'a', sizeof r.op);
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	snprintf(r.op, sizeof r.op, "ok.op");
	memset(r.tok, 'T', sizeof r.tok);
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	r.tok[0] = '\0';
	/* Bad op names and non-object args are refused at the sender too. */
	snprintf(r.op, sizeof r.op, "Lsm.Put");
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	r.op[0] = '\0';
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	snprintf(r.op, sizeof r.op, "ok.op");
	r.args = json_array();
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	json_decref(r.args);
	/* Refused half-way, after the envelope's head was written. */
	r.args = json_pack("{s:s%}", "k", "a\0b", (size_t)3);
	cr_assert_not_null(r.args);
	cr_assert_eq(proto_request_encode(&r, &sb), STRATA_EBAD_REQUEST);
	json_decref(r.args);
	r.args = NULL;
	cr_assert_eq(sb.size, 4, "a refused encode leaves the buffer as it was");
	cr_assert_eq(memcmp(sb.data, "keep", 4), 0);
	/* And a good one appends. */
	cr_assert_eq(proto_request_encode(&r, &sb), 0);
	cr_assert_gt(sb.size, 4);
	cr_assert_eq(memcmp(sb.data, "keep", 4), 0);
	msgpack_sbuffer_destroy(&sb);
}

/* Packs a request map by hand so tests can break any part of it. */
enum req_part { P_V, P_ID, P_CLIENT, P_OP, P_ARGS, P_TOK, P_COUNT };

struct req_spec {
	bool omit[P_COUNT];
	int v_kind;          /* 0: 1, 1: 2, 2: "1" */
	int id_kind;         /* 0: 7, 1: -7, 2: "7", 3: 7.0 */
	const char *op;      /* NULL: 7 (an integer) */
	const char *args;    /* JSON text; NULL: an array */
	size_t tok_len;      /* bytes of 'x'; with omit[P_TOK] false */
};

static void pack_request(msgpack_sbuffer *sb, const struct req_spec *s)
{
	msgpack_packer pk;
	size_t n = 0, i;

	for (i = 0; i < P_COUNT; i++)
		n += !s->omit[i];
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	if (!s->omit[P_V]) {
		msgpack_pack_str_with_body(&pk, "v", 1);
		if (s->v_kind == 2)
			msgpack_pack_str_with_body(&pk, "1", 1);
		else
			msgpack_pack_uint8(&pk, s->v_kind == 1 ? 2 : 1);
	}
	if (!s->omit[P_ID]) {
		msgpack_pack_str_with_body(&pk, "id", 2);
		switch (s->id_kind) {
		case 0: msgpack_pack_uint64(&pk, 7); break;
		case 1: msgpack_pack_int64(&pk, -7); break;
		case 2: msgpack_pack_str_with_body(&pk, "7", 1); break;
		default: msgpack_pack_double(&pk, 7.0); break;
		}
	}
	if (!s->omit[P_CLIENT]) {
		msgpack_pack_str_with_body(&pk, "client", 6);
		msgpack_pack_uint64(&pk, 99);
	}
	if (!s->omit[P_OP]) {
		msgpack_pack_str_with_body(&pk, "op", 2);
		if (s->op)
			msgpack_pack_str_with_body(&pk, s->op, strlen(s->op));
		else
			msgpack_pack_int8(&pk, 7);
	}
	if (!s->omit[P_ARGS]) {
		msgpack_pack_str_with_body(&pk, "args", 4);
		if (s->args) {
			json_t *a = parse(s->args);

			cr_assert_eq(proto_pack_json(&pk, a), 0);
			json_decref(a);
		} else {
			msgpack_pack_array(&pk, 0);
		}
	}
	if (!s->omit[P_TOK]) {
		char tok[300];

		memset(tok, 'x', s->tok_len);
		msgpack_pack_str_with_body(&pk, "tok", 3);
		msgpack_pack_str_with_body(&pk, tok, s->tok_len);
	}
}

static const struct req_spec good_spec = { .op = "buffer.flush", .args = "{\"a\":1}", .tok_len = 5 };

static void expect_request_error(const struct req_spec *s, const char *what, const char *n1,
				 const char *n2)
{
	msgpack_sbuffer sb;
	struct proto_request out;
	struct proto_err err = { "" };
	int rc;

	pack_request(&sb, s);
	rc = proto_request_decode(sb.data, sb.size, &out, &err);
	cr_assert_eq(rc, STRATA_EBAD_REQUEST, "%s: rc %d", what, rc);
	cr_assert_null(out.args, "%s: nothing owned after an error", what);
	cr_assert(n1 == NULL || strstr(err.msg, n1), "%s: '%s' not in \"%s\"", what, n1, err.msg);
	cr_assert(n2 == NULL || strstr(err.msg, n2), "%s: '%s' not in \"%s\"", what, n2, err.msg);
	msgpack_sbuffer_destroy(&sb);
}

Test(request, hand_packed_good)
{
	msgpack_sbuffer sb;
	struct proto_request out;
	struct proto_err err = { "" };

	pack_request(&sb, &good_spec);
	cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.id, 7);
	cr_assert_eq(out.client, 99);
	cr_assert_str_eq(out.op, "buffer.flush");
	cr_assert_str_eq(out.tok, "xxxxx");
	cr_assert_eq(json_integer_value(json_object_get(out.args, "a")), 1);
	proto_request_clear(&out);
	msgpack_sbuffer_destroy(&sb);

	/* tok is optional; 127 bytes is the most. */
	{
		struct req_spec s = good_spec;

		s.omit[P_TOK] = true;
		pack_request(&sb, &s);
		cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_str_eq(out.tok, "");
		proto_request_clear(&out);
		msgpack_sbuffer_destroy(&sb);
		s.omit[P_TOK] = false;
		s.tok_len = 127;
		pack_request(&sb, &s);
		cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_eq(strlen(out.tok), 127);
		proto_request_clear(&out);
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(request, missing_and_mistyped_fields)
{
	static const struct { enum req_part omit; const char *needle; } missing[] = {
		{ P_V, "v: missing" }, { P_ID, "id: missing" }, { P_CLIENT, "client: missing" },
		{ P_OP, "op: missing" }, { P_ARGS, "args: missing" },
	};
	struct req_spec s;
	size_t i;

	for (i = 0; i < ARRAY_LEN(missing); i++) {
		s = good_spec;
		s.omit[missing[i].omit] = true;
		expect_request_error(&s, missing[i].needle, missing[i].needle, NULL);
	}
	s = good_spec;
	s.v_kind = 1;
	expect_request_error(&s, "v=2", "v: unsupported version", NULL);
	s.v_kind = 2;
	expect_request_error(&s, "v=\"1\"", "v:", "string");
	s = good_spec;
	s.id_kind = 1;
	expect_request_error(&s, "negative id", "id:", "negative");
	s.id_kind = 2;
	expect_request_error(&s, "string id", "id:", "got string");
	s.id_kind = 3;
	expect_request_error(&s, "float id", "id:", "got float");
	s = good_spec;
	s.op = NULL;
	expect_request_error(&s, "integer op", "op:", "expected a string");
	s = good_spec;
	s.args = NULL;
	expect_request_error(&s, "array args", "args:", "expected a map");
	s.args = "\"x\"";
	expect_request_error(&s, "string args", "args:", "expected a map");
	s = good_spec;
	s.tok_len = 128;
	expect_request_error(&s, "long tok", "tok:", NULL);
}

Test(request, op_names)
{
	static const char *const bad[] = {
		"", "Lsm.put", "lsm put", "lsm/put", "lsm.put\n", "lsm-put", "l\xc3\xa9", "lsm:put",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
	};
	static const char *const good[] = {
		"a", "lsm.put", "tiers.migrate", "events.replay", "sys_1.x_2",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 63 */
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		struct req_spec s = good_spec;

		s.op = bad[i];
		expect_request_error(&s, bad[i], "op:", NULL);
	}
	for (i = 0; i < ARRAY_LEN(good); i++) {
		struct req_spec s = good_spec;
		msgpack_sbuffer sb;
		struct proto_request out;
		struct proto_err err = { "" };

		s.op = good[i];
		pack_request(&sb, &s);
		cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s: %s",
			     good[i], err.msg);
		cr_assert_str_eq(out.op, good[i]);
		proto_request_clear(&out);
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(request, not_a_map_and_unknown_keys)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct proto_request out;
	struct proto_err err = { "" };

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 0);
	cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "request: expected a map"), "%s", err.msg);

	/* A newer client's extra keys are ignored. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 6);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "deadline_ms", 11);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_bin_with_body(&pk, "x", 1); /* even of types args would refuse */
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 5);
	msgpack_pack_str_with_body(&pk, "client", 6);
	msgpack_pack_uint64(&pk, 6);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "sys.ping", 8);
	msgpack_pack_str_with_body(&pk, "args", 4);
	msgpack_pack_map(&pk, 0);
	cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.id, 5);
	cr_assert_eq(json_object_size(out.args), 0);
	proto_request_clear(&out);

	/* A repeated key is refused. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 5);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 6);
	cr_assert_eq(proto_request_decode(sb.data, sb.size, &out, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "id: duplicate"), "%s", err.msg);
	msgpack_sbuffer_destroy(&sb);
}

Test(request, every_truncation_fails)
{
	struct proto_request r = { .id = 77, .client = 88, .op = "lsm.scan", .tok = "tok" };
	msgpack_sbuffer sb;
	size_t n;

	r.args = parse(rich_args);
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_request_encode(&r, &sb), 0);
	for (n = 0; n < sb.size; n++) {
		char *cut = malloc(n ? n : 1);
		struct proto_request out;
		struct proto_err err = { "" };

		memcpy(cut, sb.data, n);
		cr_assert_eq(proto_request_decode(cut, n, &out, &err), STRATA_EBAD_REQUEST,
			     "cut at %zu of %zu decoded", n, sb.size);
		cr_assert_null(out.args);
		cr_assert_neq(err.msg[0], '\0');
		free(cut);
	}
	/* One byte too many fails as well. */
	{
		char *more = malloc(sb.size + 1);
		struct proto_request out;
		struct proto_err err = { "" };

		memcpy(more, sb.data, sb.size);
		more[sb.size] = (char)0xc0;
		cr_assert_eq(proto_request_decode(more, sb.size + 1, &out, &err), STRATA_EBAD_REQUEST);
		cr_assert(strstr(err.msg, "trailing"), "%s", err.msg);
		free(more);
	}
	cr_assert_eq(proto_request_decode(NULL, 0, &(struct proto_request){ 0 }, NULL),
		     STRATA_EBAD_REQUEST, "a NULL err is allowed");
	json_decref(r.args);
	msgpack_sbuffer_destroy(&sb);
}

/* A request whose args hold `value`, packed by a callback. */
static int decode_args(void (*pack_value)(msgpack_packer *, void *), void *ctx,
		       struct proto_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct proto_request out;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "client", 6);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "x.y", 3);
	msgpack_pack_str_with_body(&pk, "args", 4);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "data", 4);
	pack_value(&pk, ctx);
	rc = proto_request_decode(sb.data, sb.size, &out, err);
	proto_request_clear(&out);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void pack_nested(msgpack_packer *pk, void *ctx)
{
	int d, depth = *(int *)ctx;

	for (d = 0; d < depth; d++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_int8(pk, 1);
}

static void pack_bin(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_bin_with_body(pk, "\x00\x01\x02", 3);
}

static void pack_ext(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_ext_with_body(pk, "abcd", 4, -1);
}

static void pack_int_key(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_map(pk, 1);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_nil(pk);
}

static void pack_dup_key(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_map(pk, 2);
	msgpack_pack_str_with_body(pk, "k", 1);
	msgpack_pack_nil(pk);
	msgpack_pack_str_with_body(pk, "k", 1);
	msgpack_pack_true(pk);
}

static void pack_bad_utf8(msgpack_packer *pk, void *ctx)
{
	msgpack_pack_str_with_body(pk, ctx, strlen(ctx));
}

static void pack_bad_utf8_key(msgpack_packer *pk, void *ctx)
{
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, ctx, strlen(ctx));
	msgpack_pack_nil(pk);
}

static void pack_nul_str(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_str_with_body(pk, "a\0b", 3);
}

static void pack_nul_key(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, "k\0", 2);
	msgpack_pack_nil(pk);
}

static void pack_big_uint(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
}

static void pack_nan(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_double(pk, NAN);
}

static void pack_inf32(msgpack_packer *pk, void *ctx)
{
	(void)ctx;
	msgpack_pack_float(pk, INFINITY);
}

Test(args, depth)
{
	struct proto_err err = { "" };
	int depth;

	/* args is level 1, so "data" can open 30 more. */
	depth = PROTO_JSON_MAX_DEPTH - 1;
	cr_assert_eq(decode_args(pack_nested, &depth, &err), 0, "depth %d: %s", depth, err.msg);
	depth = PROTO_JSON_MAX_DEPTH;
	cr_assert_eq(decode_args(pack_nested, &depth, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "nested deeper"), "%s", err.msg);
	depth = 100;
	cr_assert_eq(decode_args(pack_nested, &depth, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "nested deeper"), "%s", err.msg);
	depth = 100000;
	cr_assert_eq(decode_args(pack_nested, &depth, &err), STRATA_EBAD_REQUEST);
}

Test(args, refused_values)
{
	static const struct {
		void (*fn)(msgpack_packer *, void *);
		void *ctx;
		const char *n1, *n2;
	} cases[] = {
		{ pack_bin, NULL, "args.data", "binary" },
		{ pack_ext, NULL, "args.data", "ext" },
		{ pack_int_key, NULL, "args.data", "not a string" },
		{ pack_dup_key, NULL, "args.data.k", "duplicate" },
		{ pack_bad_utf8, "\xff", "args.data", "UTF-8" },
		{ pack_bad_utf8, "\xc0\xaf", "args.data", "UTF-8" },         /* overlong '/' */
		{ pack_bad_utf8, "\xed\xa0\x80", "args.data", "UTF-8" },     /* surrogate */
		{ pack_bad_utf8, "\xf4\x90\x80\x80", "args.data", "UTF-8" }, /* > U+10FFFF */
		{ pack_bad_utf8, "ab\xe2\x82", "args.data", "UTF-8" },       /* cut sequence */
		{ pack_bad_utf8_key, "k\xff", "args.data", "UTF-8" },
		{ pack_nul_str, NULL, "args.data", "NUL" },
		{ pack_nul_key, NULL, "args.data", "NUL" },
		{ pack_big_uint, NULL, "args.data", "out of range" },
		{ pack_nan, NULL, "args.data", "NaN" },
		{ pack_inf32, NULL, "args.data", "infinite" },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct proto_err err = { "" };

		cr_assert_eq(decode_args(cases[i].fn, cases[i].ctx, &err), STRATA_EBAD_REQUEST,
			     "case %zu accepted", i);
		cr_assert(strstr(err.msg, cases[i].n1) && strstr(err.msg, cases[i].n2),
			  "case %zu: \"%s\" lacks '%s' or '%s'", i, err.msg, cases[i].n1, cases[i].n2);
	}
	/* The valid neighbours of those strings pass. */
	{
		struct proto_err err = { "" };

		cr_assert_eq(decode_args(pack_bad_utf8, "\xf4\x8f\xbf\xbf \xe2\x82\xac \xc3\xa9", &err),
			     0, "%s", err.msg);
	}
}

Test(json, pack_unpack_roundtrip_and_depth)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	struct proto_err err = { "" };
	size_t off = 0;
	json_t *in = parse(rich_args), *out, *deep, *leaf;
	int d;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	cr_assert_eq(proto_pack_json(&pk, in), 0);
	msgpack_unpacked_init(&up);
	cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	out = proto_unpack_json(&up.data, &err);
	cr_assert_not_null(out, "%s", err.msg);
	cr_assert(json_equal(in, out));
	/* Integers stay integers and reals stay reals. */
	cr_assert(json_is_integer(json_array_get(json_object_get(out, "ints"), 2)));
	cr_assert(json_is_real(json_array_get(json_object_get(out, "reals"), 0)));
	json_decref(out);
	msgpack_unpacked_destroy(&up);
	json_decref(in);

	/* Depth PROTO_JSON_MAX_DEPTH packs; one more does not. */
	deep = json_integer(1);
	for (d = 0; d < PROTO_JSON_MAX_DEPTH; d++) {
		json_t *a = json_array();

		json_array_append_new(a, deep);
		deep = a;
	}
	msgpack_sbuffer_clear(&sb);
	cr_assert_eq(proto_pack_json(&pk, deep), 0);
	leaf = json_array();
	json_array_append_new(leaf, deep);
	cr_assert_eq(proto_pack_json(&pk, leaf), STRATA_EBAD_REQUEST);
	cr_assert_eq(proto_pack_json(&pk, NULL), STRATA_EBAD_REQUEST);
	json_decref(leaf);

	/* What the receiver would refuse is refused at the sender. */
	leaf = json_stringn("a\0b", 3);
	cr_assert_eq(proto_pack_json(&pk, leaf), STRATA_EBAD_REQUEST);
	json_decref(leaf);
	leaf = json_object();
	json_object_setn_new(leaf, "k\0", 2, json_true());
	cr_assert_eq(proto_pack_json(&pk, leaf), STRATA_EBAD_REQUEST);
	json_decref(leaf);
	msgpack_sbuffer_destroy(&sb);
}

/* proto_unpack_json's own limit, on an object tree built in memory (the wire scan is not involved). */
Test(json, unpack_depth_in_memory)
{
	msgpack_object objs[101];
	struct proto_err err = { "" };
	json_t *j;
	int i;

	for (i = 0; i < 100; i++) {
		objs[i].type = MSGPACK_OBJECT_ARRAY;
		objs[i].via.array.size = 1;
		objs[i].via.array.ptr = &objs[i + 1];
	}
	objs[100].type = MSGPACK_OBJECT_NIL;
	cr_assert_null(proto_unpack_json(&objs[0], &err));
	cr_assert(strstr(err.msg, "nested deeper"), "%s", err.msg);
	cr_assert(strstr(err.msg, "value[0][0]"), "the path is reported: %s", err.msg);
	/* Exactly the limit is fine. */
	j = proto_unpack_json(&objs[100 - PROTO_JSON_MAX_DEPTH], &err);
	cr_assert_not_null(j, "%s", err.msg);
	json_decref(j);
	cr_assert_null(proto_unpack_json(&objs[100 - PROTO_JSON_MAX_DEPTH - 1], &err));
	cr_assert_null(proto_unpack_json(NULL, &err));
}

static void roundtrip_reply(const struct proto_reply *in, struct proto_reply *out)
{
	msgpack_sbuffer sb;
	struct proto_err err = { "" };

	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_reply_encode(in, &sb), 0);
	cr_assert_eq(proto_reply_decode(sb.data, sb.size, out, &err), 0, "%s", err.msg);
	cr_assert_eq(out->id, in->id);
	cr_assert_eq(out->ok, in->ok);
	msgpack_sbuffer_destroy(&sb);
}

Test(reply, ok_roundtrip)
{
	static const char *const results[] = { "{\"items\":[{\"key\":\"k\",\"value\":\"v\"}],\"next\":null}",
					       "[1,-2,3.5,\"\\u00e9\"]", "42", "\"s\"", "null", "true",
					       "{}" };
	struct proto_reply in = { .id = 9, .ok = true }, out;
	size_t i;

	for (i = 0; i < ARRAY_LEN(results); i++) {
		in.result = json_loads(results[i], JSON_DECODE_ANY, NULL);
		cr_assert_not_null(in.result);
		roundtrip_reply(&in, &out);
		cr_assert(json_equal(in.result, out.result), "result %s", results[i]);
		proto_reply_clear(&out);
		cr_assert_null(out.result);
		json_decref(in.result);
	}
	in.result = parse(rich_args);
	roundtrip_reply(&in, &out);
	cr_assert(json_equal(in.result, out.result));
	proto_reply_clear(&out);
	json_decref(in.result);

	/* No result: sent as null. */
	in.result = NULL;
	roundtrip_reply(&in, &out);
	cr_assert(json_is_null(out.result));
	proto_reply_clear(&out);
}

/* error.code and error.message as they are on the wire, read with plain msgpack-c. */
static void wire_error(const msgpack_sbuffer *sb, char *code, size_t cap, char *msg, size_t mcap)
{
	msgpack_unpacked up;
	size_t off = 0;
	uint32_t i, k;

	code[0] = msg[0] = '\0';
	msgpack_unpacked_init(&up);
	cr_assert_eq(msgpack_unpack_next(&up, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
	for (i = 0; i < up.data.via.map.size; i++) {
		msgpack_object_kv *kv = &up.data.via.map.ptr[i];

		if (kv->key.via.str.size != 5 || memcmp(kv->key.via.str.ptr, "error", 5) != 0)
			continue;
		for (k = 0; k < kv->val.via.map.size; k++) {
			msgpack_object_kv *e = &kv->val.via.map.ptr[k];
			int n = (int)e->val.via.str.size;

			if (e->key.via.str.size == 4 && memcmp(e->key.via.str.ptr, "code", 4) == 0)
				snprintf(code, cap, "%.*s", n, e->val.via.str.ptr);
			if (e->key.via.str.size == 7 && memcmp(e->key.via.str.ptr, "message", 7) == 0)
				snprintf(msg, mcap, "%.*s", n, e->val.via.str.ptr);
		}
	}
	msgpack_unpacked_destroy(&up);
}

static void wire_code(const msgpack_sbuffer *sb, char *code, size_t cap)
{
	char msg[512];

	wire_error(sb, code, cap, msg, sizeof msg);
}

Test(reply, error_codes)
{
	static const int codes[] = {
#define T_CODE_(name, val, wire, http) STRATA_E##name,
		STRATA_ERRORS(T_CODE_)
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(codes); i++) {
		msgpack_sbuffer sb;
		struct proto_reply out;
		struct proto_err err = { "" };
		char msg[64], code[32];

		snprintf(msg, sizeof msg, "failure %zu: caf\xc3\xa9", i);
		msgpack_sbuffer_init(&sb);
		cr_assert_eq(proto_reply_encode_error(1000 + i, codes[i], msg, &sb), 0);
		wire_code(&sb, code, sizeof code);
		cr_assert_str_eq(code, strata_err_name(codes[i]));
		cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_eq(out.id, 1000 + i);
		cr_assert_not(out.ok);
		cr_assert_null(out.result);
		cr_assert_eq(out.err, strata_err_from_name(strata_err_name(codes[i])));
		cr_assert_str_eq(out.message, msg);
		msgpack_sbuffer_destroy(&sb);
	}
	/* The concrete mapping, and the codes that share a wire name. */
	{
		struct proto_reply in = { .id = 5, .ok = false, .err = STRATA_ENOT_FOUND }, out;

		snprintf(in.message, sizeof in.message, "no tree 'orders'");
		roundtrip_reply(&in, &out);
		cr_assert_eq(out.err, STRATA_ENOT_FOUND);
		cr_assert_str_eq(out.message, "no tree 'orders'");
		in.err = STRATA_ENOMEM;
		roundtrip_reply(&in, &out);
		cr_assert_eq(out.err, STRATA_EINTERNAL);
		in.err = STRATA_ENOSPC;
		roundtrip_reply(&in, &out);
		cr_assert_eq(out.err, STRATA_EIO);
		in.err = 0; /* a failure needs a failure code */
		roundtrip_reply(&in, &out);
		cr_assert_eq(out.err, STRATA_EINTERNAL);
		{
			msgpack_sbuffer sb;
			char code[32];

			msgpack_sbuffer_init(&sb);
			cr_assert_eq(proto_reply_encode(&in, &sb), 0);
			wire_code(&sb, code, sizeof code);
			cr_assert_str_eq(code, "internal");
			msgpack_sbuffer_destroy(&sb);
		}
		in.err = -999;
		roundtrip_reply(&in, &out);
		cr_assert_eq(out.err, STRATA_EINTERNAL);
	}
	/* NULL message: the code's description. */
	{
		msgpack_sbuffer sb;
		struct proto_reply out;
		struct proto_err err = { "" };

		msgpack_sbuffer_init(&sb);
		cr_assert_eq(proto_reply_encode_error(3, STRATA_EBUSY, NULL, &sb), 0);
		cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_eq(out.err, STRATA_EBUSY);
		cr_assert_str_eq(out.message, strata_strerror(STRATA_EBUSY));
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(reply, messages_are_valid_utf8_and_bounded)
{
	char longmsg[600];
	struct proto_reply in = { .id = 1, .ok = false, .err = STRATA_EBAD_REQUEST }, out;
	msgpack_sbuffer sb;
	struct proto_err err = { "" };
	size_t i, n;

	/* A message cut mid-character by the sender's snprintf: repaired before it is sent. */
	snprintf(in.message, sizeof in.message, "bad key 'x\xff' and \xc3");
	roundtrip_reply(&in, &out);
	cr_assert_str_eq(out.message, "bad key 'x\xef\xbf\xbd' and \xef\xbf\xbd");
	{
		char code[32], wire[512];

		msgpack_sbuffer_init(&sb);
		cr_assert_eq(proto_reply_encode(&in, &sb), 0);
		wire_error(&sb, code, sizeof code, wire, sizeof wire);
		cr_assert_str_eq(code, "bad_request");
		cr_assert_str_eq(wire, "bad key 'x\xef\xbf\xbd' and \xef\xbf\xbd");
		msgpack_sbuffer_destroy(&sb);
	}

	/* A peer's message with a NUL and bad bytes: the reader repairs it too. */
	{
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 4);
		msgpack_pack_str_with_body(&pk, "v", 1);
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_str_with_body(&pk, "id", 2);
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_str_with_body(&pk, "ok", 2);
		msgpack_pack_false(&pk);
		msgpack_pack_str_with_body(&pk, "error", 5);
		msgpack_pack_map(&pk, 2);
		msgpack_pack_str_with_body(&pk, "code", 4);
		msgpack_pack_str_with_body(&pk, "conflict", 8);
		msgpack_pack_str_with_body(&pk, "message", 7);
		msgpack_pack_str_with_body(&pk, "a\0b\x80" "c", 5);
		cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_eq(out.err, STRATA_ECONFLICT);
		cr_assert_str_eq(out.message, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
		msgpack_sbuffer_destroy(&sb);
	}

	/* 300 two-byte characters: cut to 255 bytes or less, never inside one. */
	for (i = 0; i < 300; i++)
		memcpy(longmsg + 2 * i, "\xc3\xa9", 2);
	longmsg[600 - 1] = '\0';
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_reply_encode_error(1, STRATA_EIO, longmsg, &sb), 0);
	cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
	n = strlen(out.message);
	cr_assert_eq(n, 254);
	cr_assert_eq(memcmp(out.message, longmsg, n), 0);
	msgpack_sbuffer_destroy(&sb);
}

static void expect_reply_error(void (*build)(msgpack_packer *), const char *needle)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct proto_reply out;
	struct proto_err err = { "" };

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	build(&pk);
	cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), STRATA_EBAD_REQUEST,
		     "accepted (%s)", needle);
	cr_assert_null(out.result);
	cr_assert(strstr(err.msg, needle), "'%s' not in \"%s\"", needle, err.msg);
	msgpack_sbuffer_destroy(&sb);
}

static void head(msgpack_packer *pk, size_t n)
{
	msgpack_pack_map(pk, n);
	msgpack_pack_str_with_body(pk, "v", 1);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_str_with_body(pk, "id", 2);
	msgpack_pack_uint8(pk, 4);
}

static void r_no_ok(msgpack_packer *pk) { head(pk, 2); }
static void r_ok_int(msgpack_packer *pk)
{
	head(pk, 3);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_uint8(pk, 1);
}
static void r_no_result(msgpack_packer *pk)
{
	head(pk, 3);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_true(pk);
}
static void r_bin_result(msgpack_packer *pk)
{
	head(pk, 4);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_true(pk);
	msgpack_pack_str_with_body(pk, "result", 6);
	msgpack_pack_array(pk, 2);
	msgpack_pack_nil(pk);
	msgpack_pack_bin_with_body(pk, "x", 1);
}
static void r_no_error(msgpack_packer *pk)
{
	head(pk, 3);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_false(pk);
}
static void r_error_not_map(msgpack_packer *pk)
{
	head(pk, 4);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_false(pk);
	msgpack_pack_str_with_body(pk, "error", 5);
	msgpack_pack_str_with_body(pk, "not_found", 9);
}
static void r_error_no_code(msgpack_packer *pk)
{
	head(pk, 4);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_false(pk);
	msgpack_pack_str_with_body(pk, "error", 5);
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, "message", 7);
	msgpack_pack_str_with_body(pk, "m", 1);
}
static void r_error_no_message(msgpack_packer *pk)
{
	head(pk, 4);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_false(pk);
	msgpack_pack_str_with_body(pk, "error", 5);
	msgpack_pack_map(pk, 1);
	msgpack_pack_str_with_body(pk, "code", 4);
	msgpack_pack_str_with_body(pk, "busy", 4);
}
static void r_bad_v(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 4);
	msgpack_pack_str_with_body(pk, "v", 1);
	msgpack_pack_uint8(pk, 3);
	msgpack_pack_str_with_body(pk, "id", 2);
	msgpack_pack_uint8(pk, 4);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_true(pk);
	msgpack_pack_str_with_body(pk, "result", 6);
	msgpack_pack_nil(pk);
}
static void r_no_id(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 3);
	msgpack_pack_str_with_body(pk, "v", 1);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_str_with_body(pk, "ok", 2);
	msgpack_pack_true(pk);
	msgpack_pack_str_with_body(pk, "result", 6);
	msgpack_pack_nil(pk);
}

Test(reply, malformed)
{
	expect_reply_error(r_no_ok, "ok: missing");
	expect_reply_error(r_ok_int, "ok: expected a boolean");
	expect_reply_error(r_no_result, "result: missing");
	expect_reply_error(r_bin_result, "result[1]");
	expect_reply_error(r_no_error, "error: missing");
	expect_reply_error(r_error_not_map, "error: expected a map");
	expect_reply_error(r_error_no_code, "error.code: missing");
	expect_reply_error(r_error_no_message, "error.message: missing");
	expect_reply_error(r_bad_v, "v: unsupported version");
	expect_reply_error(r_no_id, "id: missing");

	/* An unknown code from a newer stratad reads as internal, message kept. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;
		struct proto_reply out;
		struct proto_err err = { "" };

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		head(&pk, 4);
		msgpack_pack_str_with_body(&pk, "ok", 2);
		msgpack_pack_false(&pk);
		msgpack_pack_str_with_body(&pk, "error", 5);
		msgpack_pack_map(&pk, 2);
		msgpack_pack_str_with_body(&pk, "code", 4);
		msgpack_pack_str_with_body(&pk, "from_the_future", 15);
		msgpack_pack_str_with_body(&pk, "message", 7);
		msgpack_pack_str_with_body(&pk, "over quota", 10);
		cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert_eq(out.err, STRATA_EINTERNAL);
		cr_assert_str_eq(out.message, "over quota");
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(reply, every_truncation_fails)
{
	struct proto_reply in = { .id = 3, .ok = true };
	msgpack_sbuffer sb;
	size_t n;

	in.result = parse(rich_args);
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_reply_encode(&in, &sb), 0);
	for (n = 0; n < sb.size; n++) {
		char *cut = malloc(n ? n : 1);
		struct proto_reply out;
		struct proto_err err = { "" };

		memcpy(cut, sb.data, n);
		cr_assert_eq(proto_reply_decode(cut, n, &out, &err), STRATA_EBAD_REQUEST, "cut at %zu", n);
		cr_assert_null(out.result);
		free(cut);
	}
	json_decref(in.result);
	msgpack_sbuffer_destroy(&sb);
}

Test(reply, encode_refuses_too_deep_result)
{
	struct proto_reply in = { .id = 3, .ok = true };
	msgpack_sbuffer sb;
	json_t *deep = json_null();
	int d;

	for (d = 0; d < PROTO_JSON_MAX_DEPTH + 1; d++) {
		json_t *a = json_array();

		json_array_append_new(a, deep);
		deep = a;
	}
	in.result = deep;
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_reply_encode(&in, &sb), STRATA_EBAD_REQUEST);
	cr_assert_eq(sb.size, 0, "nothing appended");
	/* One level less goes through, and decodes. */
	in.result = json_array_get(deep, 0);
	{
		struct proto_reply out;
		struct proto_err err = { "" };

		cr_assert_eq(proto_reply_encode(&in, &sb), 0);
		cr_assert_eq(proto_reply_decode(sb.data, sb.size, &out, &err), 0, "%s", err.msg);
		cr_assert(json_equal(out.result, in.result));
		proto_reply_clear(&out);
	}
	json_decref(deep);
	msgpack_sbuffer_destroy(&sb);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random bytes and single-byte changes of a valid request: decoded or refused, never a crash. */
Test(fuzz, requests_and_replies)
{
	struct proto_request r = { .id = 77, .client = 88, .op = "lsm.scan", .tok = "t" };
	static const unsigned char values[] = { 0x00, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xc0, 0xc1,
						0xc2, 0xc4, 0xc7, 0xcb, 0xd9, 0xdc, 0xdd, 0xdf, 0xff };
	uint64_t seed = 0x243f6a8885a308d3ull;
	msgpack_sbuffer sb;
	size_t pos, j;
	int round;

	r.args = parse(rich_args);
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(proto_request_encode(&r, &sb), 0);
	for (pos = 0; pos < sb.size; pos++) {
		for (j = 0; j < ARRAY_LEN(values); j++) {
			char *buf = malloc(sb.size);
			struct proto_request out;
			struct proto_reply rout;
			int rc;

			memcpy(buf, sb.data, sb.size);
			buf[pos] = (char)values[j];
			rc = proto_request_decode(buf, sb.size, &out, NULL);
			cr_assert(rc == 0 || rc == STRATA_EBAD_REQUEST);
			cr_assert(rc != 0 || json_is_object(out.args));
			proto_request_clear(&out);
			rc = proto_reply_decode(buf, sb.size, &rout, NULL);
			cr_assert(rc == STRATA_EBAD_REQUEST, "a request is not a reply");
			free(buf);
		}
	}
	for (round = 0; round < 20000; round++) {
		size_t n = rng_next(&seed) % 64, i;
		unsigned char *buf = malloc(n ? n : 1);
		struct proto_request out;
		struct proto_reply rout;
		struct proto_err err = { "" };

		for (i = 0; i < n; i++)
			buf[i] = (unsigned char)rng_next(&seed);
		if (n && round % 2)
			buf[0] = 0x85; /* a map header gets further in */
		cr_assert_eq(proto_request_decode(buf, n, &out, &err), STRATA_EBAD_REQUEST);
		cr_assert_eq(proto_reply_decode(buf, n, &rout, &err), STRATA_EBAD_REQUEST);
		free(buf);
	}
	json_decref(r.args);
	msgpack_sbuffer_destroy(&sb);
}
