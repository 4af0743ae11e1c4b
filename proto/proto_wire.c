#include "proto/proto_wire.h"

#include <msgpack/unpack_define.h>
#include <string.h>

#include "strata/error.h"

_Static_assert(PROTO_MP_MAX_DEPTH <= MSGPACK_EMBED_STACK_SIZE,
	       "the pre-scan must not accept nesting msgpack-c cannot unpack");

static uint64_t load_be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

/*
 * Shape of one msgpack header: its own size, the payload bytes that follow
 * it (strings, bin, ext) or the number of child objects (arrays, maps).
 * `lenbytes` says how many bytes after the first hold a big-endian length.
 */
struct mp_head {
	unsigned fixed;    /* header bytes, including the length field */
	unsigned lenbytes; /* size of the length/count field, 0 if none */
	unsigned extra;    /* payload bytes not covered by the length (ext type byte, fixed-size scalars) */
	int kind;          /* 0 scalar/bytes, 1 array, 2 map, -1 invalid */
	uint64_t count;    /* fix* types: the count or length in the first byte */
};

static struct mp_head mp_classify(unsigned char b)
{
	struct mp_head h = { 1, 0, 0, 0, 0 };

	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return h;
	if (b <= 0x8f) {
		h.kind = 2;
		h.count = b & 0x0f;
		return h;
	}
	if (b <= 0x9f) {
		h.kind = 1;
		h.count = b & 0x0f;
		return h;
	}
	if (b <= 0xbf) {
		h.extra = b & 0x1f;
		return h;
	}
	switch (b) {
	case 0xc4: case 0xd9: h.lenbytes = 1; break;            /* bin8, str8 */
	case 0xc5: case 0xda: h.lenbytes = 2; break;            /* bin16, str16 */
	case 0xc6: case 0xdb: h.lenbytes = 4; break;            /* bin32, str32 */
	case 0xc7: h.lenbytes = 1; h.extra = 1; break;          /* ext8 + type */
	case 0xc8: h.lenbytes = 2; h.extra = 1; break;
	case 0xc9: h.lenbytes = 4; h.extra = 1; break;
	case 0xca: h.extra = 4; break;                           /* float32 */
	case 0xcb: h.extra = 8; break;                           /* float64 */
	case 0xcc: case 0xd0: h.extra = 1; break;
	case 0xcd: case 0xd1: h.extra = 2; break;
	case 0xce: case 0xd2: h.extra = 4; break;
	case 0xcf: case 0xd3: h.extra = 8; break;
	case 0xd4: h.extra = 2; break;                           /* fixext1: type + 1 */
	case 0xd5: h.extra = 3; break;
	case 0xd6: h.extra = 5; break;
	case 0xd7: h.extra = 9; break;
	case 0xd8: h.extra = 17; break;
	case 0xdc: h.kind = 1; h.lenbytes = 2; break;            /* array16 */
	case 0xdd: h.kind = 1; h.lenbytes = 4; break;
	case 0xde: h.kind = 2; h.lenbytes = 2; break;            /* map16 */
	case 0xdf: h.kind = 2; h.lenbytes = 4; break;
	default: h.kind = -1; break;                             /* 0xc1 */
	}
	h.fixed += h.lenbytes;
	return h;
}

/*
 * Walks one msgpack value without allocating. open[] holds, for each
 * unfinished container, how many of its children have not started yet;
 * `owed` is their sum. Every child takes at least one byte, so owed above
 * the bytes left means the input is truncated or lies about its sizes.
 * A container stays on the stack until its last child is done, as in
 * msgpack-c, so the depth limit is the same as the unpacker's.
 */
static int mp_scan(const unsigned char *p, size_t len, size_t *used,
		   const char *what, struct proto_err *err)
{
	uint64_t open[PROTO_MP_MAX_DEPTH];
	unsigned depth = 0;
	uint64_t owed = 0;
	size_t pos = 0;

	for (;;) {
		struct mp_head h;
		uint64_t n;

		if (pos >= len) {
			proto_err_set(err, "%s: truncated msgpack (%zu bytes)", what, len);
			return STRATA_EBAD_REQUEST;
		}
		h = mp_classify(p[pos]);
		if (h.kind < 0) {
			proto_err_set(err, "%s: invalid msgpack byte 0x%02x at offset %zu",
				      what, p[pos], pos);
			return STRATA_EBAD_REQUEST;
		}
		if (len - pos < h.fixed) {
			proto_err_set(err, "%s: truncated msgpack (%zu bytes)", what, len);
			return STRATA_EBAD_REQUEST;
		}
		n = h.lenbytes ? load_be(p + pos + 1, h.lenbytes) : h.count;
		pos += h.fixed;
		if (depth > 0) {
			open[depth - 1]--;
			owed--;
		}

		if (h.kind == 0) {
			uint64_t body = h.extra + (h.lenbytes ? n : 0);

			if (body > len - pos) {
				proto_err_set(err, "%s: value of %llu bytes at offset %zu "
					      "overruns the message (%zu bytes)", what,
					      (unsigned long long)body, pos, len);
				return STRATA_EBAD_REQUEST;
			}
			pos += (size_t)body;
		} else if (n > 0) {
			uint64_t children = h.kind == 2 ? 2 * n : n;

			if (depth == PROTO_MP_MAX_DEPTH) {
				proto_err_set(err, "%s: nested deeper than %d levels",
					      what, PROTO_MP_MAX_DEPTH);
				return STRATA_EBAD_REQUEST;
			}
			if (children > len - pos - owed) {
				proto_err_set(err, "%s: %s of %llu entries at offset %zu "
					      "overruns the message (%zu bytes)", what,
					      h.kind == 2 ? "map" : "array",
					      (unsigned long long)n, pos, len);
				return STRATA_EBAD_REQUEST;
			}
			open[depth++] = children;
			owed += children;
		}
		while (depth > 0 && open[depth - 1] == 0)
			depth--;
		if (depth == 0)
			break;
	}
	*used = pos;
	return 0;
}

int proto_mp_unpack(const void *buf, size_t len, const char *what,
		    msgpack_unpacked *up, struct proto_err *err)
{
	size_t used = 0, off = 0;
	msgpack_unpack_return r;
	int rc;

	msgpack_unpacked_init(up);
	if (len == 0) {
		proto_err_set(err, "%s: empty message", what);
		return STRATA_EBAD_REQUEST;
	}
	rc = mp_scan(buf, len, &used, what, err);
	if (rc)
		return rc;
	if (used != len) {
		proto_err_set(err, "%s: %zu trailing bytes after the msgpack value",
			      what, len - used);
		return STRATA_EBAD_REQUEST;
	}
	r = msgpack_unpack_next(up, buf, len, &off);
	if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
		proto_err_set(err, "%s: out of memory", what);
		return STRATA_ENOMEM;
	}
	/* The scan accepted it, so anything else is a disagreement with msgpack-c. */
	if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
		proto_err_set(err, "%s: malformed msgpack", what);
		return STRATA_EBAD_REQUEST;
	}
	return 0;
}

const char *proto_mp_type_name(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return "integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "float";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_BIN: return "binary";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "unknown type";
}

bool proto_mp_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

#define FIELD_FMT "%s%s%s"
#define FIELD_ARGS(ctx, name) (ctx), (ctx)[0] ? "." : "", (name)

int proto_mp_map_pick(const msgpack_object *map, const char *const *names,
		      size_t n, const msgpack_object **vals, const char *ctx,
		      struct proto_err *err)
{
	uint32_t i;
	size_t k;

	for (k = 0; k < n; k++)
		vals[k] = NULL;
	if (map->type != MSGPACK_OBJECT_MAP) {
		proto_err_set(err, "%s: expected a map, got %s",
			      ctx[0] ? ctx : "message", proto_mp_type_name(map));
		return STRATA_EBAD_REQUEST;
	}
	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR) {
			proto_err_set(err, "%s: map key is not a string (got %s)",
				      ctx[0] ? ctx : "message",
				      proto_mp_type_name(&kv->key));
			return STRATA_EBAD_REQUEST;
		}
		for (k = 0; k < n; k++) {
			if (!proto_mp_str_eq(&kv->key, names[k]))
				continue;
			/* Two values for one key: which one a reader takes is a guess. */
			if (vals[k]) {
				proto_err_set(err, FIELD_FMT ": duplicate key",
					      FIELD_ARGS(ctx, names[k]));
				return STRATA_EBAD_REQUEST;
			}
			vals[k] = &kv->val;
			break;
		}
	}
	return 0;
}

static int missing(const char *ctx, const char *name, struct proto_err *err)
{
	proto_err_set(err, FIELD_FMT ": missing", FIELD_ARGS(ctx, name));
	return STRATA_EBAD_REQUEST;
}

int proto_mp_get_u64(const msgpack_object *o, const char *ctx, const char *name,
		     uint64_t *out, struct proto_err *err)
{
	if (!o)
		return missing(ctx, name, err);
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		proto_err_set(err, FIELD_FMT ": expected an unsigned integer, got %s",
			      FIELD_ARGS(ctx, name), proto_mp_type_name(o));
		return STRATA_EBAD_REQUEST;
	}
	*out = o->via.u64;
	return 0;
}

int proto_mp_get_i64(const msgpack_object *o, const char *ctx, const char *name,
		     int64_t *out, struct proto_err *err)
{
	if (!o)
		return missing(ctx, name, err);
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > INT64_MAX) {
			proto_err_set(err, FIELD_FMT ": %llu is out of range for a "
				      "signed 64-bit integer", FIELD_ARGS(ctx, name),
				      (unsigned long long)o->via.u64);
			return STRATA_EBAD_REQUEST;
		}
		*out = (int64_t)o->via.u64;
		return 0;
	}
	proto_err_set(err, FIELD_FMT ": expected an integer, got %s",
		      FIELD_ARGS(ctx, name), proto_mp_type_name(o));
	return STRATA_EBAD_REQUEST;
}

int proto_mp_get_str(const msgpack_object *o, const char *ctx, const char *name,
		     const char **s, size_t *len, struct proto_err *err)
{
	if (!o)
		return missing(ctx, name, err);
	if (o->type != MSGPACK_OBJECT_STR) {
		proto_err_set(err, FIELD_FMT ": expected a string, got %s",
			      FIELD_ARGS(ctx, name), proto_mp_type_name(o));
		return STRATA_EBAD_REQUEST;
	}
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

/*
 * Length of the valid UTF-8 sequence starting at s[0] (n > 0 bytes
 * available), or 0 if s[0] does not start one.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2) /* continuation byte, or overlong 2-byte form */
		return 0;
	if (c < 0xe0)
		need = 2;
	else if (c < 0xf0)
		need = 3;
	else if (c < 0xf5)
		need = 4;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0) /* overlong 3-byte */
		return 0;
	if (c == 0xed && s[1] >= 0xa0) /* UTF-16 surrogate */
		return 0;
	if (c == 0xf0 && s[1] < 0x90) /* overlong 4-byte */
		return 0;
	if (c == 0xf4 && s[1] >= 0x90) /* above U+10FFFF */
		return 0;
	return need;
}

bool proto_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq_len(p + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

size_t proto_utf8_sanitize(char *dst, size_t cap, const char *s, size_t n)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, out = 0;

	while (i < n) {
		size_t k = p[i] ? utf8_seq_len(p + i, n - i) : 0;
		const char *src = k ? s + i : replacement;
		size_t w = k ? k : 3;

		if (out + w > cap - 1)
			break;
		memcpy(dst + out, src, w);
		out += w;
		i += k ? k : 1;
	}
	dst[out] = '\0';
	return out;
}
