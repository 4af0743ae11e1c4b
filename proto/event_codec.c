/*
 * proto/event_codec.c — events to and from JSON and the bus.
 *
 * No code here knows a particular variant: each codec is a loop over the
 * field table that ev_fields() builds from events.h's X-macros. The only
 * per-variant knowledge proto adds is EV_OPTIONAL_FIELDS below.
 */
#include "proto/event_codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto_wire.h"
#include "strata/error.h"
#include "proto/json_text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Room for a quoted piece of input in an error message. */
#define QUOTE_MAX 48

/* Longer than any topic; bounds the search for the NUL after it. */
#define EV_TOPIC_MAX 64

/* The most fields a variant may have (decoders keep per-field arrays on the stack). */
#define EV_MAX_FIELDS 64

/*
 * Counters the *Stats variants carry beyond the seed's fixtures. The seed's
 * clients do not send them and the fixtures must round-trip unchanged, so
 * they are optional: absent means 0. Named through offsetof, so a typo or a
 * field removed from events.h is a compile error.
 */
#define EV_OPTIONAL_FIELDS(X, off)                                            \
	X(PoolStats, free_pages, off) X(PoolStats, pinned_pages, off)         \
	X(PoolStats, hits, off) X(PoolStats, misses, off)                     \
	X(PoolStats, evictions, off) X(PoolStats, flushes, off)               \
	X(PoolStats, events_dropped, off)                                     \
	X(IoStats, reads, off) X(IoStats, writes, off)                        \
	X(IoStats, bytes_read, off) X(IoStats, bytes_written, off)            \
	X(IoStats, queue_depth, off) X(IoStats, events_dropped, off)          \
	X(TierStats, events_dropped, off)

#define EV_OPTIONAL_TEST_(Name, fname, off) \
	|| ((int)ev_cur_v_ == (int)STRATA_EV_##Name && (off) == offsetof(struct strata_ev_##Name, fname))
#define EV_IS_OPTIONAL_(off) (0 EV_OPTIONAL_FIELDS(EV_OPTIONAL_TEST_, off))

#define EV_FIELD_ENTRY_(type, fname)                                       \
	{ #fname, STRATA_FT_##type, offsetof(ev_cur_, fname),              \
	  EV_IS_OPTIONAL_(offsetof(ev_cur_, fname)) },

/*
 * Each case names its variant's struct ev_cur_ and its enum value
 * ev_cur_v_ in a scope of its own, which is how the field entries (which
 * only get a type and a name from events.h) find their offsets.
 */
const struct ev_field *ev_fields(enum strata_ev_variant v, size_t *count)
{
	const struct ev_field *f = NULL;
	size_t n = 0;

	switch (v) {
#define EV_FIELDS_CASE_(fam, Name)                                          \
	case STRATA_EV_##Name: {                                            \
		typedef struct strata_ev_##Name ev_cur_;                    \
		enum { ev_cur_v_ = STRATA_EV_##Name };                      \
		static const struct ev_field tab[] = {                      \
			STRATA_EV_##Name(EV_FIELD_ENTRY_)                   \
		};                                                          \
		_Static_assert(ARRAY_LEN(tab) <= EV_MAX_FIELDS,             \
			       #Name " has too many fields");               \
		f = tab;                                                    \
		n = ARRAY_LEN(tab);                                         \
		break;                                                      \
	}
		STRATA_EVENT_VARIANTS(EV_FIELDS_CASE_)
#undef EV_FIELDS_CASE_
	default:
		break;
	}
	if (count)
		*count = n;
	return f;
}

static const char *const ev_names[STRATA_EV_COUNT] = {
#define EV_NAME_(fam, Name) [STRATA_EV_##Name] = #Name,
	STRATA_EVENT_VARIANTS(EV_NAME_)
#undef EV_NAME_
};

static const struct {
	const char *topic, *message_type, *path;
} ev_families[STRATA_FAM_COUNT] = {
#define EV_FAMILY_(e, topic, mtype, path) [STRATA_FAM_##e] = { topic, mtype, path },
	STRATA_EVENT_FAMILIES(EV_FAMILY_)
#undef EV_FAMILY_
};

const char *ev_variant_name(enum strata_ev_variant v)
{
	return (unsigned)v < STRATA_EV_COUNT ? ev_names[v] : NULL;
}

/* The variant named s[0..len) in any family, or -1. */
static int variant_lookup(const char *s, size_t len)
{
	int v;

	for (v = 0; v < STRATA_EV_COUNT; v++)
		if (strlen(ev_names[v]) == len && memcmp(ev_names[v], s, len) == 0)
			return v;
	return -1;
}

int ev_variant_from_name(int family, const char *name)
{
	int v;

	if (!name)
		return -1;
	v = variant_lookup(name, strlen(name));
	if (v < 0 || (family != -1 && (int)strata_ev_family_of(v) != family))
		return -1;
	return v;
}

const char *ev_family_topic(enum strata_ev_family f)
{
	return (unsigned)f < STRATA_FAM_COUNT ? ev_families[f].topic : NULL;
}

const char *ev_family_message_type(enum strata_ev_family f)
{
	return (unsigned)f < STRATA_FAM_COUNT ? ev_families[f].message_type : NULL;
}

const char *ev_family_path(enum strata_ev_family f)
{
	return (unsigned)f < STRATA_FAM_COUNT ? ev_families[f].path : NULL;
}

int ev_family_from_topic(const char *s, size_t len)
{
	int f;

	if (!s)
		return -1;
	for (f = 0; f < STRATA_FAM_COUNT; f++)
		if (strlen(ev_families[f].topic) == len &&
		    memcmp(ev_families[f].topic, s, len) == 0)
			return f;
	return -1;
}

/* Folds case and '_' so "Buffer_Pool" matches "buffer-pool"; locale-free. */
static int path_fold(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c == '_' ? '-' : c;
}

int ev_family_from_path(const char *s)
{
	int f;

	if (!s)
		return -1;
	for (f = 0; f < STRATA_FAM_COUNT; f++) {
		const char *p = ev_families[f].path, *q = s;

		while (*p && *q && path_fold((unsigned char)*p) == path_fold((unsigned char)*q)) {
			p++;
			q++;
		}
		if (!*p && !*q)
			return f;
	}
	return -1;
}

int ev_family_from_message_type(const char *s)
{
	int f;

	if (!s)
		return -1;
	for (f = 0; f < STRATA_FAM_COUNT; f++)
		if (strcmp(ev_families[f].message_type, s) == 0)
			return f;
	return -1;
}

static void *field_ptr(struct strata_event *ev, const struct ev_field *f)
{
	return (char *)&ev->u + f->offset;
}

static const void *field_cptr(const struct strata_event *ev, const struct ev_field *f)
{
	return (const char *)&ev->u + f->offset;
}

static bool field_is_zero(const void *p, enum strata_ev_field_type t)
{
	static const char zero[8];

	switch (t) {
	case STRATA_FT_U32:
		return memcmp(p, zero, 4) == 0;
	case STRATA_FT_STR:
		return *(const char *)p == '\0';
	default:
		return memcmp(p, zero, 8) == 0;
	}
}

/* Seconds for the outer "timestamp": rounded down, so it inverts * 1e6. */
static int64_t ts_seconds(int64_t ts_us)
{
	int64_t q = ts_us / 1000000;

	return ts_us % 1000000 < 0 ? q - 1 : q;
}

static json_t *json_u64(uint64_t v)
{
	/* jansson integers are signed 64-bit; beyond that a real is the
	 * closest JSON can say (and what a JavaScript client would see). */
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *field_to_json(const void *p, enum strata_ev_field_type t)
{
	uint64_t u;
	int64_t i;
	uint32_t u32;
	double d;

	switch (t) {
	case STRATA_FT_U64:
		memcpy(&u, p, sizeof u);
		return json_u64(u);
	case STRATA_FT_I64:
		memcpy(&i, p, sizeof i);
		return json_integer(i);
	case STRATA_FT_U32:
		memcpy(&u32, p, sizeof u32);
		return json_integer(u32);
	case STRATA_FT_F64:
		memcpy(&d, p, sizeof d);
		return isfinite(d) ? json_real(d) : json_null();
	case STRATA_FT_STR: {
		char buf[STRATA_EV_STR_MAX * 3 + 1];
		size_t n = proto_utf8_sanitize(buf, sizeof buf, p, strnlen(p, STRATA_EV_STR_MAX));

		return json_stringn(buf, n);
	}
	}
	return NULL;
}

json_t *ev_to_json(const struct strata_event *ev, const struct ev_live *live)
{
	const struct ev_field *f;
	json_t *msg, *data, *body;
	size_t n, i;

	if (!ev || !(f = ev_fields(ev->variant, &n)))
		return NULL;
	msg = json_object();
	if (!msg)
		return NULL;
	/* Each *_set_new takes its value even when it fails, so every
	 * failure only has to drop msg. */
	data = json_object();
	if (json_object_set_new(msg, "message_type",
				json_string(ev_family_message_type(strata_ev_family_of(ev->variant)))) ||
	    json_object_set_new(msg, "data", data))
		goto fail;
	body = json_object();
	if (json_object_set_new(data, ev_names[ev->variant], body))
		goto fail;
	for (i = 0; i < n; i++) {
		const void *p = field_cptr(ev, &f[i]);

		if (f[i].optional && field_is_zero(p, f[i].type))
			continue;
		if (json_object_set_new(body, f[i].name, field_to_json(p, f[i].type)))
			goto fail;
	}
	if (json_object_set_new(msg, "timestamp", json_integer(ts_seconds(ev->ts_us))))
		goto fail;
	if (live && (json_object_set_new(msg, "seq", json_u64(live->seq)) ||
		     json_object_set_new(msg, "epoch", json_u64(live->epoch)) ||
		     json_object_set_new(msg, "ts_us", json_integer(ev->ts_us))))
		goto fail;
	return msg;
fail:
	json_decref(msg);
	return NULL;
}

char *ev_to_json_text(const struct strata_event *ev, const struct ev_live *live)
{
	json_t *j = ev_to_json(ev, live);
	char *s;

	if (!j)
		return NULL;
	s = proto_json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static const char *json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "unknown type";
}

/* Values above INT64_MAX come as reals (see json_u64). */
static bool real_to_u64(double d, uint64_t *out)
{
	if (!(d >= 9223372036854775808.0 && d < 18446744073709551616.0))
		return false;
	*out = (uint64_t)d;
	return (double)*out == d;
}

/*
 * Reads JSON value j into the field at dst. `ctx`.`name` labels it in
 * errors ("PageHit.page_id", or just "seq" when ctx is "").
 */
static int field_from_json(const json_t *j, const struct ev_field *f, void *dst,
			   const char *ctx, struct proto_err *err)
{
	const char *dot = ctx[0] ? "." : "";
	json_int_t i = json_is_integer(j) ? json_integer_value(j) : 0;
	uint64_t u;
	uint32_t u32;
	int64_t i64;
	double d;
	size_t len;
	const char *s;

	switch (f->type) {
	case STRATA_FT_U64:
		if (json_is_integer(j) && i >= 0) {
			u = (uint64_t)i;
		} else if (!(json_is_real(j) && real_to_u64(json_real_value(j), &u))) {
			proto_err_set(err, "%s%s%s: expected an unsigned integer, got %s",
				      ctx, dot, f->name,
				      json_is_integer(j) ? "a negative integer" : json_type_name(j));
			return STRATA_EBAD_REQUEST;
		}
		memcpy(dst, &u, sizeof u);
		return 0;
	case STRATA_FT_I64:
		if (!json_is_integer(j)) {
			proto_err_set(err, "%s%s%s: expected an integer, got %s",
				      ctx, dot, f->name, json_type_name(j));
			return STRATA_EBAD_REQUEST;
		}
		i64 = i;
		memcpy(dst, &i64, sizeof i64);
		return 0;
	case STRATA_FT_U32:
		if (!json_is_integer(j)) {
			proto_err_set(err, "%s%s%s: expected an unsigned integer, got %s",
				      ctx, dot, f->name, json_type_name(j));
			return STRATA_EBAD_REQUEST;
		}
		if (i < 0 || i > UINT32_MAX) {
			proto_err_set(err, "%s%s%s: %lld is out of range for a 32-bit "
				      "unsigned integer", ctx, dot, f->name, (long long)i);
			return STRATA_EBAD_REQUEST;
		}
		u32 = (uint32_t)i;
		memcpy(dst, &u32, sizeof u32);
		return 0;
	case STRATA_FT_F64:
		if (json_is_number(j))
			d = json_number_value(j);
		else if (json_is_null(j))
			d = NAN; /* what ev_to_json writes for a non-finite value */
		else {
			proto_err_set(err, "%s%s%s: expected a number, got %s",
				      ctx, dot, f->name, json_type_name(j));
			return STRATA_EBAD_REQUEST;
		}
		memcpy(dst, &d, sizeof d);
		return 0;
	case STRATA_FT_STR:
		if (!json_is_string(j)) {
			proto_err_set(err, "%s%s%s: expected a string, got %s",
				      ctx, dot, f->name, json_type_name(j));
			return STRATA_EBAD_REQUEST;
		}
		s = json_string_value(j);
		len = json_string_length(j);
		if (len >= STRATA_EV_STR_MAX) {
			proto_err_set(err, "%s%s%s: string of %zu bytes is too long "
				      "(at most %d)", ctx, dot, f->name, len,
				      STRATA_EV_STR_MAX - 1);
			return STRATA_EBAD_REQUEST;
		}
		if (memchr(s, '\0', len)) {
			proto_err_set(err, "%s%s%s: string contains a NUL byte",
				      ctx, dot, f->name);
			return STRATA_EBAD_REQUEST;
		}
		memcpy(dst, s, len);
		((char *)dst)[len] = '\0';
		return 0;
	}
	return STRATA_EBAD_REQUEST;
}

/* Fills the variant's fields from its JSON object; absent optional fields stay 0. */
static int fields_from_json(const json_t *body, enum strata_ev_variant v,
			    struct strata_event *out, struct proto_err *err)
{
	const struct ev_field *f;
	size_t n, i;
	int rc;

	f = ev_fields(v, &n);
	if (!json_is_object(body)) {
		proto_err_set(err, "%s: expected an object, got %s", ev_names[v],
			      json_type_name(body));
		return STRATA_EBAD_REQUEST;
	}
	for (i = 0; i < n; i++) {
		const json_t *j = json_object_get(body, f[i].name);

		if (!j) {
			if (f[i].optional)
				continue;
			proto_err_set(err, "%s.%s: missing", ev_names[v], f[i].name);
			return STRATA_EBAD_REQUEST;
		}
		rc = field_from_json(j, &f[i], field_ptr(out, &f[i]), ev_names[v], err);
		if (rc)
			return rc;
	}
	return 0;
}

/* The one variant inside "data", checked against the message's family. */
static int variant_from_json(const json_t *data, int fam, int *variant,
			     const json_t **body, struct proto_err *err)
{
	char q[QUOTE_MAX];
	void *it;
	const char *key;
	size_t klen;
	int v;

	if (!data) {
		proto_err_set(err, "data: missing");
		return STRATA_EBAD_REQUEST;
	}
	if (!json_is_object(data)) {
		proto_err_set(err, "data: expected an object, got %s", json_type_name(data));
		return STRATA_EBAD_REQUEST;
	}
	if (json_object_size(data) != 1) {
		proto_err_set(err, "data: expected exactly one variant, got %zu",
			      json_object_size(data));
		return STRATA_EBAD_REQUEST;
	}
	/* jansson's iterator API takes a non-const object; it does not modify it. */
	it = json_object_iter((json_t *)data);
	key = json_object_iter_key(it);
	klen = json_object_iter_key_len(it);
	*body = json_object_iter_value(it);
	v = variant_lookup(key, klen);
	if (v < 0) {
		proto_err_set(err, "data: unknown variant '%s' for %s",
			      proto_err_quote(q, sizeof q, key, klen),
			      ev_families[fam].message_type);
		return STRATA_EBAD_REQUEST;
	}
	if ((int)strata_ev_family_of(v) != fam) {
		proto_err_set(err, "data: variant '%s' is a %s, not a %s", ev_names[v],
			      ev_families[strata_ev_family_of(v)].message_type,
			      ev_families[fam].message_type);
		return STRATA_EBAD_REQUEST;
	}
	*variant = v;
	return 0;
}

/* An optional u64 at the top level ("seq", "epoch"). */
static int opt_u64_from_json(const json_t *msg, const char *name, uint64_t *out,
			     struct proto_err *err)
{
	const struct ev_field f = { name, STRATA_FT_U64, 0, true };
	const json_t *j = json_object_get(msg, name);

	*out = 0;
	return j ? field_from_json(j, &f, out, "", err) : 0;
}

int ev_from_json(const json_t *msg, struct strata_event *out,
		 struct ev_live *live, struct proto_err *err)
{
	/* ts_us is the outer timestamp in microseconds: keep it in range. */
	static const int64_t ts_limit = INT64_MAX / 1000000;
	static const struct ev_field f_ts = { "timestamp", STRATA_FT_I64, 0, false };
	struct ev_live lv = { 0, 0 };
	const json_t *mt, *ts, *body = NULL;
	int fam, v = 0, rc;
	int64_t secs;
	char q[QUOTE_MAX];

	memset(out, 0, sizeof *out);
	if (live)
		*live = lv;
	if (!json_is_object(msg)) {
		proto_err_set(err, "message: expected an object, got %s",
			      msg ? json_type_name(msg) : "nothing");
		return STRATA_EBAD_REQUEST;
	}
	mt = json_object_get(msg, "message_type");
	if (!mt) {
		proto_err_set(err, "message_type: missing");
		return STRATA_EBAD_REQUEST;
	}
	if (!json_is_string(mt)) {
		proto_err_set(err, "message_type: expected a string, got %s", json_type_name(mt));
		return STRATA_EBAD_REQUEST;
	}
	fam = ev_family_from_message_type(json_string_value(mt));
	if (fam < 0 || strlen(json_string_value(mt)) != json_string_length(mt)) {
		proto_err_set(err, "message_type: unknown message type '%s'",
			      proto_err_quote(q, sizeof q, json_string_value(mt),
					      json_string_length(mt)));
		return STRATA_EBAD_REQUEST;
	}
	rc = variant_from_json(json_object_get(msg, "data"), fam, &v, &body, err);
	if (rc)
		goto fail;
	rc = fields_from_json(body, v, out, err);
	if (rc)
		goto fail;

	ts = json_object_get(msg, "timestamp");
	if (!ts) {
		proto_err_set(err, "timestamp: missing");
		rc = STRATA_EBAD_REQUEST;
		goto fail;
	}
	rc = field_from_json(ts, &f_ts, &secs, "", err);
	if (rc)
		goto fail;
	if (secs > ts_limit || secs < -ts_limit) {
		proto_err_set(err, "timestamp: %lld is out of range", (long long)secs);
		rc = STRATA_EBAD_REQUEST;
		goto fail;
	}
	rc = opt_u64_from_json(msg, "seq", &lv.seq, err);
	if (!rc)
		rc = opt_u64_from_json(msg, "epoch", &lv.epoch, err);
	if (rc)
		goto fail;

	/* Live messages carry the emission time in microseconds too. */
	json_t *tsu = json_object_get(msg, "ts_us");
	int64_t ts_us = secs * 1000000;
	if (tsu) {
		if (!json_is_integer(tsu) || json_integer_value(tsu) / 1000000 != secs) {
			proto_err_set(err, "ts_us: expected an integer within 'timestamp''s second");
			rc = STRATA_EBAD_REQUEST;
			goto fail;
		}
		ts_us = json_integer_value(tsu);
	}

	out->variant = (uint16_t)v;
	out->family = (uint16_t)fam;
	out->ts_us = ts_us;
	if (live)
		*live = lv;
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return rc;
}

static int pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
	return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_field(msgpack_packer *pk, const void *p, enum strata_ev_field_type t)
{
	uint64_t u;
	int64_t i;
	uint32_t u32;
	double d;

	switch (t) {
	case STRATA_FT_U64:
		memcpy(&u, p, sizeof u);
		return msgpack_pack_uint64(pk, u);
	case STRATA_FT_I64:
		memcpy(&i, p, sizeof i);
		return msgpack_pack_int64(pk, i);
	case STRATA_FT_U32:
		memcpy(&u32, p, sizeof u32);
		return msgpack_pack_uint32(pk, u32);
	case STRATA_FT_F64:
		memcpy(&d, p, sizeof d);
		return msgpack_pack_double(pk, d);
	case STRATA_FT_STR:
		return pack_cstr(pk, p, strlen(p)); /* NUL checked by the caller */
	}
	return -1;
}

/* Whether ev can be encoded: a known variant, every STR field NUL-terminated. */
static bool encodable(const struct strata_event *ev)
{
	const struct ev_field *f;
	size_t n, i;

	if (!ev || !(f = ev_fields(ev->variant, &n)))
		return false;
	for (i = 0; i < n; i++)
		if (f[i].type == STRATA_FT_STR &&
		    !memchr(field_cptr(ev, &f[i]), '\0', STRATA_EV_STR_MAX))
			return false;
	return true;
}

/* One event's map {"epoch","seq","ts_us","variant","data"}; ev is encodable. */
static int pack_event_map(msgpack_packer *pk, const struct strata_event *ev, uint64_t epoch,
			  uint64_t seq)
{
	size_t n, i;
	const struct ev_field *f = ev_fields(ev->variant, &n);
	const char *name = ev_names[ev->variant];

	if (msgpack_pack_map(pk, 5) ||
	    pack_cstr(pk, "epoch", 5) || msgpack_pack_uint64(pk, epoch) ||
	    pack_cstr(pk, "seq", 3) || msgpack_pack_uint64(pk, seq) ||
	    pack_cstr(pk, "ts_us", 5) || msgpack_pack_int64(pk, ev->ts_us) ||
	    pack_cstr(pk, "variant", 7) || pack_cstr(pk, name, strlen(name)) ||
	    pack_cstr(pk, "data", 4) || msgpack_pack_map(pk, n))
		return -1;
	for (i = 0; i < n; i++)
		if (pack_cstr(pk, f[i].name, strlen(f[i].name)) ||
		    pack_field(pk, field_cptr(ev, &f[i]), f[i].type))
			return -1;
	return 0;
}

int ev_bus_encode(const struct strata_event *ev, uint64_t epoch, uint64_t seq,
		  msgpack_sbuffer *out)
{
	const char *topic;
	msgpack_packer pk;
	size_t saved;

	/* Refuse before writing anything, so out stays as it was. */
	if (!out || !encodable(ev))
		return STRATA_EBAD_REQUEST;
	saved = out->size;
	topic = ev_family_topic(strata_ev_family_of(ev->variant));
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (msgpack_sbuffer_write(out, topic, strlen(topic) + 1) ||
	    pack_event_map(&pk, ev, epoch, seq)) {
		out->size = saved;
		return STRATA_ENOMEM;
	}
	return 0;
}

int ev_bus_encode_batch(const struct strata_event *const *evs, size_t n, uint64_t epoch,
			uint64_t first_seq, msgpack_sbuffer *out)
{
	const char *topic;
	msgpack_packer pk;
	size_t saved, i;
	enum strata_ev_family fam;

	if (!evs || !out || n == 0 || n > UINT32_MAX)
		return STRATA_EBAD_REQUEST;
	for (i = 0; i < n; i++)
		if (!encodable(evs[i]))
			return STRATA_EBAD_REQUEST;
	fam = strata_ev_family_of(evs[0]->variant);
	for (i = 1; i < n; i++)
		if (strata_ev_family_of(evs[i]->variant) != fam)
			return STRATA_EBAD_REQUEST;
	saved = out->size;
	topic = ev_family_topic(fam);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	if (msgpack_sbuffer_write(out, topic, strlen(topic) + 1) ||
	    msgpack_pack_array(&pk, n))
		goto nomem;
	for (i = 0; i < n; i++)
		if (pack_event_map(&pk, evs[i], epoch, first_seq + i))
			goto nomem;
	return 0;
nomem:
	out->size = saved;
	return STRATA_ENOMEM;
}

static int field_from_mp(const msgpack_object *o, const struct ev_field *f, void *dst,
			 const char *ctx, struct proto_err *err)
{
	uint64_t u;
	int64_t i;
	uint32_t u32;
	double d;
	const char *s;
	size_t len;
	int rc;

	if (!o) {
		proto_err_set(err, "%s.%s: missing", ctx, f->name);
		return STRATA_EBAD_REQUEST;
	}
	switch (f->type) {
	case STRATA_FT_U64:
		rc = proto_mp_get_u64(o, ctx, f->name, &u, err);
		if (!rc)
			memcpy(dst, &u, sizeof u);
		return rc;
	case STRATA_FT_I64:
		rc = proto_mp_get_i64(o, ctx, f->name, &i, err);
		if (!rc)
			memcpy(dst, &i, sizeof i);
		return rc;
	case STRATA_FT_U32:
		rc = proto_mp_get_u64(o, ctx, f->name, &u, err);
		if (rc)
			return rc;
		if (u > UINT32_MAX) {
			proto_err_set(err, "%s.%s: %llu is out of range for a 32-bit "
				      "unsigned integer", ctx, f->name, (unsigned long long)u);
			return STRATA_EBAD_REQUEST;
		}
		u32 = (uint32_t)u;
		memcpy(dst, &u32, sizeof u32);
		return 0;
	case STRATA_FT_F64:
		if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
			d = o->via.f64;
		else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			d = (double)o->via.u64;
		else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			d = (double)o->via.i64;
		else {
			proto_err_set(err, "%s.%s: expected a number, got %s", ctx,
				      f->name, proto_mp_type_name(o));
			return STRATA_EBAD_REQUEST;
		}
		memcpy(dst, &d, sizeof d);
		return 0;
	case STRATA_FT_STR:
		rc = proto_mp_get_str(o, ctx, f->name, &s, &len, err);
		if (rc)
			return rc;
		if (len >= STRATA_EV_STR_MAX) {
			proto_err_set(err, "%s.%s: string of %zu bytes is too long "
				      "(at most %d)", ctx, f->name, len, STRATA_EV_STR_MAX - 1);
			return STRATA_EBAD_REQUEST;
		}
		if (memchr(s, '\0', len)) {
			proto_err_set(err, "%s.%s: string contains a NUL byte", ctx, f->name);
			return STRATA_EBAD_REQUEST;
		}
		memcpy(dst, s, len);
		((char *)dst)[len] = '\0';
		return 0;
	}
	return STRATA_EBAD_REQUEST;
}

static int fields_from_mp(const msgpack_object *data, enum strata_ev_variant v,
			  struct strata_event *out, struct proto_err *err)
{
	const char *names[EV_MAX_FIELDS];
	const msgpack_object *vals[EV_MAX_FIELDS];
	const struct ev_field *f;
	size_t n, i;
	int rc;

	f = ev_fields(v, &n);
	if (!data) {
		proto_err_set(err, "data: missing");
		return STRATA_EBAD_REQUEST;
	}
	if (data->type != MSGPACK_OBJECT_MAP) {
		proto_err_set(err, "data: expected a map, got %s", proto_mp_type_name(data));
		return STRATA_EBAD_REQUEST;
	}
	for (i = 0; i < n; i++)
		names[i] = f[i].name;
	rc = proto_mp_map_pick(data, names, n, vals, ev_names[v], err);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (!vals[i] && f[i].optional)
			continue;
		rc = field_from_mp(vals[i], &f[i], field_ptr(out, &f[i]), ev_names[v], err);
		if (rc)
			return rc;
	}
	return 0;
}

/* The topic before the NUL: its family and where the msgpack starts. */
static int bus_topic(const void *buf, size_t len, int *fam, size_t *body,
		     struct proto_err *err)
{
	const unsigned char *nul;
	size_t tlen;
	char q[QUOTE_MAX];

	if (!buf || len == 0) {
		proto_err_set(err, "topic: empty message");
		return STRATA_EBAD_REQUEST;
	}
	nul = memchr(buf, '\0', len < EV_TOPIC_MAX ? len : EV_TOPIC_MAX);
	if (!nul) {
		proto_err_set(err, "topic: no NUL byte after the topic");
		return STRATA_EBAD_REQUEST;
	}
	tlen = (size_t)(nul - (const unsigned char *)buf);
	*fam = ev_family_from_topic(buf, tlen);
	if (*fam < 0) {
		proto_err_set(err, "topic: unknown topic '%s'",
			      proto_err_quote(q, sizeof q, buf, tlen));
		return STRATA_EBAD_REQUEST;
	}
	*body = tlen + 1;
	return 0;
}

/* One event map of topic fam into *out (zeroed on error); ctx prefixes errors. */
static int event_from_map(const msgpack_object *map, int fam, struct strata_event *out,
			  struct ev_live *live, const char *ctx, struct proto_err *err)
{
	static const char *const keys[] = { "epoch", "seq", "ts_us", "variant", "data" };
	const msgpack_object *vals[ARRAY_LEN(keys)];
	struct ev_live lv = { 0, 0 };
	const char *vname;
	size_t vlen;
	int v, rc;
	int64_t ts_us;
	char q[QUOTE_MAX], pre[40];

	snprintf(pre, sizeof pre, "%s%s", ctx, *ctx ? "." : "");
	memset(out, 0, sizeof *out);
	if (map->type != MSGPACK_OBJECT_MAP) {
		proto_err_set(err, "%sevent: expected a map, got %s", pre,
			      proto_mp_type_name(map));
		return STRATA_EBAD_REQUEST;
	}
	rc = proto_mp_map_pick(map, keys, ARRAY_LEN(keys), vals, ctx, err);
	if (!rc)
		rc = proto_mp_get_u64(vals[0], ctx, "epoch", &lv.epoch, err);
	if (!rc)
		rc = proto_mp_get_u64(vals[1], ctx, "seq", &lv.seq, err);
	if (!rc)
		rc = proto_mp_get_i64(vals[2], ctx, "ts_us", &ts_us, err);
	if (!rc)
		rc = proto_mp_get_str(vals[3], ctx, "variant", &vname, &vlen, err);
	if (rc)
		goto out;
	v = variant_lookup(vname, vlen);
	if (v < 0 || (int)strata_ev_family_of(v) != fam) {
		proto_err_set(err, "%svariant: %s variant '%s' for topic %s", pre,
			      v < 0 ? "unknown" : "wrong", proto_err_quote(q, sizeof q, vname, vlen),
			      ev_families[fam].topic);
		rc = STRATA_EBAD_REQUEST;
		goto out;
	}
	rc = fields_from_mp(vals[4], v, out, err);
	if (rc)
		goto out;
	out->variant = (uint16_t)v;
	out->family = (uint16_t)fam;
	out->ts_us = ts_us;
	if (live)
		*live = lv;
out:
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}

int ev_bus_decode(const void *buf, size_t len, struct strata_event *out,
		  struct ev_live *live, struct proto_err *err)
{
	msgpack_unpacked up;
	size_t body;
	int fam, rc;

	memset(out, 0, sizeof *out);
	if (live)
		*live = (struct ev_live){ 0, 0 };
	rc = bus_topic(buf, len, &fam, &body, err);
	if (rc)
		return rc;
	rc = proto_mp_unpack((const char *)buf + body, len - body, "event", &up, err);
	if (rc)
		return rc;
	rc = event_from_map(&up.data, fam, out, live, "", err);
	msgpack_unpacked_destroy(&up);
	return rc;
}

int ev_bus_decode_each(const void *buf, size_t len, ev_bus_each_fn fn, void *arg,
		       struct proto_err *err)
{
	msgpack_unpacked up;
	struct strata_event ev;
	struct ev_live live;
	size_t body;
	int fam, rc;
	char ctx[32];

	rc = bus_topic(buf, len, &fam, &body, err);
	if (rc)
		return rc;
	rc = proto_mp_unpack((const char *)buf + body, len - body, "event", &up, err);
	if (rc)
		return rc;
	if (up.data.type == MSGPACK_OBJECT_MAP) {
		rc = event_from_map(&up.data, fam, &ev, &live, "", err);
		if (!rc)
			fn(arg, &ev, &live);
	} else if (up.data.type == MSGPACK_OBJECT_ARRAY && up.data.via.array.size > 0) {
		const msgpack_object_array *a = &up.data.via.array;
		/* In order; a bad event stops the batch (what came before it stands). */
		for (uint32_t i = 0; i < a->size && !rc; i++) {
			snprintf(ctx, sizeof ctx, "[%u]", i);
			rc = event_from_map(&a->ptr[i], fam, &ev, &live, ctx, err);
			if (!rc)
				fn(arg, &ev, &live);
		}
	} else {
		proto_err_set(err, "event: expected a map or a non-empty array of maps, got %s",
			      up.data.type == MSGPACK_OBJECT_ARRAY ? "an empty array"
								   : proto_mp_type_name(&up.data));
		rc = STRATA_EBAD_REQUEST;
	}
	msgpack_unpacked_destroy(&up);
	return rc;
}
