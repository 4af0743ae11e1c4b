/*
 * Unit tests for proto/event_codec: the field tables, the WebSocket JSON
 * mapping against the seed's fixtures, the bus (msgpack) encoding, and the
 * decoders' totality on mutated and malformed input. Run from the repo root
 * (fixtures are read from test_data/websocket/).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/event_codec.h"
#include "strata/error.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const fixture_files[] = {
	"test_data/websocket/buffer_pool_events.json",
	"test_data/websocket/lsm_events.json",
	"test_data/websocket/disk_io_events.json",
	"test_data/websocket/tier_events.json",
	"test_data/websocket/page_events.json",
	"test_data/websocket/columnar_events.json",
};

/* Number of messages across the six fixture files. */
#define FIXTURE_MESSAGES 26

/* All fixture messages, in file order, as one array (new reference). */
static json_t *load_fixtures(void)
{
	json_t *all = json_array();
	size_t f, i;

	cr_assert_not_null(all);
	for (f = 0; f < ARRAY_LEN(fixture_files); f++) {
		json_error_t jerr;
		json_t *arr = json_load_file(fixture_files[f], 0, &jerr);

		cr_assert_not_null(arr, "cannot load %s (run from the repo root): %s",
				   fixture_files[f], jerr.text);
		cr_assert(json_is_array(arr) && json_array_size(arr) > 0, "%s", fixture_files[f]);
		for (i = 0; i < json_array_size(arr); i++)
			json_array_append(all, json_array_get(arr, i));
		json_decref(arr);
	}
	cr_assert_eq(json_array_size(all), FIXTURE_MESSAGES);
	return all;
}

/* The variant name and body of a fixture message. */
static const char *fixture_variant(json_t *msg, json_t **body)
{
	json_t *data = json_object_get(msg, "data");
	void *it = json_object_iter(data);

	cr_assert_not_null(it);
	*body = json_object_iter_value(it);
	return json_object_iter_key(it);
}

/* The first fixture message of variant `name`, decoded. */
static struct strata_event decode_first(json_t *all, const char *name)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	size_t i;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *msg = json_array_get(all, i), *body;

		if (strcmp(fixture_variant(msg, &body), name) != 0)
			continue;
		cr_assert_eq(ev_from_json(msg, &ev, NULL, &err), 0, "%s: %s", name, err.msg);
		return ev;
	}
	cr_assert_fail("no fixture message of variant %s", name);
	return ev;
}

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Field sizes and alignments as the C struct lays them out. */
static size_t type_size(enum strata_ev_field_type t)
{
	switch (t) {
	case STRATA_FT_U32: return 4;
	case STRATA_FT_STR: return STRATA_EV_STR_MAX;
	default: return 8;
	}
}

static size_t type_align(enum strata_ev_field_type t)
{
	switch (t) {
	case STRATA_FT_U32: return 4;
	case STRATA_FT_STR: return 1;
	default: return 8;
	}
}

/* Independent of proto: what events.h declares, via its own X-macros. */
#define T_NAME_(type, name) #name ","
#define T_TYPE_(type, name) #type ","
static const char *const decl_names[STRATA_EV_COUNT] = {
#define T_DECL_NAMES_(fam, Name) [STRATA_EV_##Name] = STRATA_EV_##Name(T_NAME_),
	STRATA_EVENT_VARIANTS(T_DECL_NAMES_)
};
static const char *const decl_types[STRATA_EV_COUNT] = {
#define T_DECL_TYPES_(fam, Name) [STRATA_EV_##Name] = STRATA_EV_##Name(T_TYPE_),
	STRATA_EVENT_VARIANTS(T_DECL_TYPES_)
};
static const size_t decl_sizes[STRATA_EV_COUNT] = {
#define T_DECL_SIZES_(fam, Name) [STRATA_EV_##Name] = sizeof(struct strata_ev_##Name),
	STRATA_EVENT_VARIANTS(T_DECL_SIZES_)
};
static const char *const decl_variant_names[STRATA_EV_COUNT] = {
#define T_DECL_VNAMES_(fam, Name) [STRATA_EV_##Name] = #Name,
	STRATA_EVENT_VARIANTS(T_DECL_VNAMES_)
};

static const char *type_tag(enum strata_ev_field_type t)
{
	switch (t) {
	case STRATA_FT_U64: return "U64";
	case STRATA_FT_I64: return "I64";
	case STRATA_FT_U32: return "U32";
	case STRATA_FT_F64: return "F64";
	case STRATA_FT_STR: return "STR";
	}
	return "?";
}

Test(tables, match_events_h)
{
	int v;

	for (v = 0; v < STRATA_EV_COUNT; v++) {
		size_t n, i, off = 0;
		const struct ev_field *f = ev_fields(v, &n);
		char names[1024] = "", types[256] = "";

		cr_assert_not_null(f, "variant %d", v);
		cr_assert_str_eq(ev_variant_name(v), decl_variant_names[v]);
		for (i = 0; i < n; i++) {
			size_t a = type_align(f[i].type);

			strcat(names, f[i].name);
			strcat(names, ",");
			strcat(types, type_tag(f[i].type));
			strcat(types, ",");
			/* The layout C gives the struct: declaration order, natural alignment. */
			off = (off + a - 1) / a * a;
			cr_assert_eq(f[i].offset, off, "%s.%s offset", ev_variant_name(v), f[i].name);
			off += type_size(f[i].type);
		}
		cr_assert_str_eq(names, decl_names[v], "%s names", ev_variant_name(v));
		cr_assert_str_eq(types, decl_types[v], "%s types", ev_variant_name(v));
		cr_assert_leq(off, decl_sizes[v]);
		cr_assert_str_eq(f[n - 1].name, "timestamp");
	}
	/* A few offsets straight from the compiler. */
	{
		size_t n;
		const struct ev_field *f = ev_fields(STRATA_EV_ChecksumFailure, &n);

		cr_assert_eq(n, 4);
		cr_assert_eq(f[1].offset, offsetof(struct strata_ev_ChecksumFailure, expected));
		cr_assert_eq(f[2].offset, offsetof(struct strata_ev_ChecksumFailure, actual));
		f = ev_fields(STRATA_EV_EncodingChanged, &n);
		cr_assert_eq(f[4].offset, offsetof(struct strata_ev_EncodingChanged, compression_ratio));
	}
	cr_assert_null(ev_fields(STRATA_EV_COUNT, NULL));
	cr_assert_null(ev_fields((enum strata_ev_variant)-1, NULL));
	cr_assert_null(ev_variant_name(STRATA_EV_COUNT));
}

Test(tables, optional_fields)
{
	static const struct { enum strata_ev_variant v; const char *field; bool optional; } cases[] = {
		{ STRATA_EV_PoolStats, "hit_rate", false },
		{ STRATA_EV_PoolStats, "dirty_pages", false },
		{ STRATA_EV_PoolStats, "evictions", true },
		{ STRATA_EV_PoolStats, "free_pages", true },
		{ STRATA_EV_PoolStats, "events_dropped", true },
		{ STRATA_EV_PoolStats, "timestamp", false },
		{ STRATA_EV_IoStats, "avg_write_latency_us", false },
		{ STRATA_EV_IoStats, "queue_depth", true },
		{ STRATA_EV_TierStats, "bytes_saved", false },
		{ STRATA_EV_TierStats, "events_dropped", true },
		{ STRATA_EV_PageHit, "page_id", false },
	};
	size_t c, i, n, total = 0;
	int v;

	for (c = 0; c < ARRAY_LEN(cases); c++) {
		const struct ev_field *f = ev_fields(cases[c].v, &n);

		for (i = 0; i < n && strcmp(f[i].name, cases[c].field) != 0; i++)
			;
		cr_assert_lt(i, n, "%s", cases[c].field);
		cr_assert_eq(f[i].optional, cases[c].optional, "%s.%s",
			     ev_variant_name(cases[c].v), cases[c].field);
	}
	for (v = 0; v < STRATA_EV_COUNT; v++) {
		const struct ev_field *f = ev_fields(v, &n);

		for (i = 0; i < n; i++)
			total += f[i].optional;
	}
	cr_assert_eq(total, 14, "only the *Stats extension counters are optional");
}

Test(tables, names_and_families)
{
	int v, f;

	for (v = 0; v < STRATA_EV_COUNT; v++) {
		int fam = strata_ev_family_of(v);

		cr_assert_eq(ev_variant_from_name(-1, ev_variant_name(v)), v);
		cr_assert_eq(ev_variant_from_name(fam, ev_variant_name(v)), v);
		cr_assert_eq(ev_variant_from_name((fam + 1) % STRATA_FAM_COUNT, ev_variant_name(v)), -1);
	}
	cr_assert_eq(ev_variant_from_name(-1, "PageHitt"), -1);
	cr_assert_eq(ev_variant_from_name(-1, "pagehit"), -1);
	cr_assert_eq(ev_variant_from_name(-1, ""), -1);
	cr_assert_eq(ev_variant_from_name(-1, NULL), -1);
	cr_assert_eq(ev_variant_from_name(STRATA_FAM_COUNT, "PageHit"), -1);
	cr_assert_eq(ev_variant_from_name(STRATA_FAM_PAGES, "ChecksumFailure"), STRATA_EV_ChecksumFailure);

	for (f = 0; f < STRATA_FAM_COUNT; f++) {
		const char *t = ev_family_topic(f);

		cr_assert_eq(ev_family_from_topic(t, strlen(t)), f);
		cr_assert_eq(ev_family_from_topic(t, strlen(t) - 1), -1);
		cr_assert_eq(ev_family_from_message_type(ev_family_message_type(f)), f);
		cr_assert_eq(ev_family_from_path(ev_family_path(f)), f);
	}
	cr_assert_str_eq(ev_family_topic(STRATA_FAM_BUFFER_POOL), "storage.buffer_pool");
	cr_assert_str_eq(ev_family_message_type(STRATA_FAM_IO), "disk_io_event");
	cr_assert_str_eq(ev_family_path(STRATA_FAM_BUFFER_POOL), "buffer-pool");
	cr_assert_eq(ev_family_from_topic("storage.lsmx", 12), -1);
	cr_assert_eq(ev_family_from_topic("storage.lsm\0", 12), -1);
	cr_assert_eq(ev_family_from_topic(NULL, 0), -1);
	cr_assert_eq(ev_family_from_path("buffer_pool"), STRATA_FAM_BUFFER_POOL);
	cr_assert_eq(ev_family_from_path("BUFFER-POOL"), STRATA_FAM_BUFFER_POOL);
	cr_assert_eq(ev_family_from_path("Buffer_Pool"), STRATA_FAM_BUFFER_POOL);
	cr_assert_eq(ev_family_from_path("IO"), STRATA_FAM_IO);
	cr_assert_eq(ev_family_from_path("buffer pool"), -1);
	cr_assert_eq(ev_family_from_path("buffer-pools"), -1);
	cr_assert_eq(ev_family_from_path("buffer"), -1);
	cr_assert_eq(ev_family_from_path(""), -1);
	cr_assert_eq(ev_family_from_path(NULL), -1);
	cr_assert_eq(ev_family_from_message_type("Lsm_event"), -1);
	cr_assert_eq(ev_family_from_message_type(NULL), -1);
	cr_assert_null(ev_family_topic(STRATA_FAM_COUNT));
	cr_assert_null(ev_family_message_type(STRATA_FAM_COUNT));
	cr_assert_null(ev_family_path(STRATA_FAM_COUNT));
}

Test(fixtures, every_message_decodes)
{
	json_t *all = load_fixtures();
	size_t i;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *msg = json_array_get(all, i), *body;
		const char *name = fixture_variant(msg, &body);
		struct strata_event ev;
		struct ev_live live = { 7, 7 };
		struct proto_err err = { "" };
		json_int_t ts = json_integer_value(json_object_get(msg, "timestamp"));

		cr_assert_eq(ev_from_json(msg, &ev, &live, &err), 0, "message %zu (%s): %s", i, name, err.msg);
		cr_assert_str_eq(ev_variant_name(ev.variant), name);
		cr_assert_eq(ev.family, strata_ev_family_of(ev.variant));
		cr_assert_eq(ev.family, ev_family_from_message_type(
						json_string_value(json_object_get(msg, "message_type"))));
		cr_assert_eq(ev.ts_us, (int64_t)ts * 1000000);
		{
			size_t n;
			const struct ev_field *f = ev_fields(ev.variant, &n);
			int64_t vts;

			memcpy(&vts, (char *)&ev.u + f[n - 1].offset, sizeof vts);
			cr_assert_eq(vts, json_integer_value(json_object_get(body, "timestamp")));
		}
		cr_assert_eq(live.seq, 0, "absent seq reads as 0");
		cr_assert_eq(live.epoch, 0);
	}
	json_decref(all);
}

Test(fixtures, concrete_values)
{
	json_t *all = load_fixtures();
	struct strata_event ev;

	ev = decode_first(all, "PageHit");
	cr_assert_eq(ev.u.PageHit.page_id, 12345);
	cr_assert_eq(ev.u.PageHit.timestamp, 1702569600);
	cr_assert_eq(ev.ts_us, 1702569600LL * 1000000);

	ev = decode_first(all, "PageEvicted");
	cr_assert_eq(ev.u.PageEvicted.page_id, 11111);
	cr_assert_str_eq(ev.u.PageEvicted.reason, "LRU eviction - least recently used");

	ev = decode_first(all, "PoolStats");
	cr_assert_float_eq(ev.u.PoolStats.hit_rate, 0.95, 1e-12);
	cr_assert_eq(ev.u.PoolStats.total_pages, 10000);
	cr_assert_eq(ev.u.PoolStats.used_pages, 7500);
	cr_assert_eq(ev.u.PoolStats.dirty_pages, 500);
	cr_assert_eq(ev.u.PoolStats.evictions, 0, "absent optional counter reads as 0");

	ev = decode_first(all, "ChecksumFailure");
	cr_assert_eq(ev.family, STRATA_FAM_PAGES);
	cr_assert_eq(ev.u.ChecksumFailure.page_id, 33333);
	cr_assert_eq(ev.u.ChecksumFailure.expected, 2863311530u);
	cr_assert_eq(ev.u.ChecksumFailure.actual, 3735928559u);

	ev = decode_first(all, "IoStats");
	cr_assert_eq(ev.u.IoStats.reads_per_sec, 1500.0);
	cr_assert_eq(ev.u.IoStats.read_throughput_mbps, 150.5);
	cr_assert_eq(ev.u.IoStats.avg_write_latency_us, 3200);

	ev = decode_first(all, "CompactionCompleted");
	cr_assert_str_eq(ev.u.CompactionCompleted.tree_name, "user_data_lsm");
	cr_assert_eq(ev.u.CompactionCompleted.level, 0);
	cr_assert_eq(ev.u.CompactionCompleted.duration_ms, 5432);

	ev = decode_first(all, "PageMigrated");
	cr_assert_str_eq(ev.u.PageMigrated.from_tier, "Hot");
	cr_assert_str_eq(ev.u.PageMigrated.to_tier, "Warm");

	ev = decode_first(all, "TierStats");
	cr_assert_eq(ev.u.TierStats.bytes_saved, 50000000);
	cr_assert_float_eq(ev.u.TierStats.avg_compression_ratio, 0.35, 1e-12);

	ev = decode_first(all, "EncodingChanged");
	cr_assert_str_eq(ev.u.EncodingChanged.old_encoding, "Plain");
	cr_assert_str_eq(ev.u.EncodingChanged.new_encoding, "Dictionary");
	cr_assert_float_eq(ev.u.EncodingChanged.compression_ratio, 0.15, 1e-12);
	cr_assert_eq(ev.u.EncodingChanged.timestamp, 1702569620);

	ev = decode_first(all, "PageSplit");
	cr_assert_eq(ev.u.PageSplit.original_page_id, 67890);
	cr_assert_eq(ev.u.PageSplit.new_page_id, 67891);
	json_decref(all);
}

/* JSON -> struct -> bus -> struct -> JSON gives back the fixture, for each. */
Test(fixtures, roundtrip_through_the_bus)
{
	json_t *all = load_fixtures();
	size_t i;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *msg = json_array_get(all, i), *back, *reparsed;
		struct strata_event a, b;
		struct ev_live live;
		struct proto_err err = { "" };
		msgpack_sbuffer sb;
		char *text, *s1, *s2;

		cr_assert_eq(ev_from_json(msg, &a, NULL, &err), 0, "%zu: %s", i, err.msg);
		msgpack_sbuffer_init(&sb);
		cr_assert_eq(ev_bus_encode(&a, 0xabcdef0123456789ull, i + 1, &sb), 0);
		cr_assert_eq(ev_bus_decode(sb.data, sb.size, &b, &live, &err), 0, "%zu: %s", i, err.msg);
		cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "message %zu: struct differs after the bus", i);
		cr_assert_eq(live.epoch, 0xabcdef0123456789ull);
		cr_assert_eq(live.seq, i + 1);

		back = ev_to_json(&b, NULL);
		cr_assert_not_null(back);
		s1 = dump(msg);
		s2 = dump(back);
		cr_assert(json_equal(msg, back), "message %zu:\n  fixture %s\n  back    %s", i, s1, s2);
		free(s1);
		free(s2);

		/* And through the text form, as a WebSocket client gets it. */
		text = ev_to_json_text(&b, NULL);
		cr_assert_not_null(text);
		reparsed = json_loads(text, 0, NULL);
		cr_assert(json_equal(msg, reparsed), "message %zu text: %s", i, text);
		free(text);
		json_decref(reparsed);
		json_decref(back);
		msgpack_sbuffer_destroy(&sb);
	}
	json_decref(all);
}

Test(fixtures, live_fields)
{
	json_t *all = load_fixtures();
	json_t *msg = json_deep_copy(json_array_get(all, 0)), *back;
	struct strata_event ev;
	struct ev_live live = { 0, 0 }, in = { 99, 12 };
	struct proto_err err = { "" };

	json_int_t secs = json_integer_value(json_object_get(msg, "timestamp"));
	json_object_set_new(msg, "seq", json_integer(12));
	json_object_set_new(msg, "epoch", json_integer(99));
	json_object_set_new(msg, "ts_us", json_integer(secs * 1000000 + 123456));
	cr_assert_eq(ev_from_json(msg, &ev, &live, &err), 0, "%s", err.msg);
	cr_assert_eq(live.seq, 12);
	cr_assert_eq(live.epoch, 99);
	cr_assert_eq(ev.ts_us, secs * 1000000 + 123456);
	back = ev_to_json(&ev, &in);
	cr_assert(json_equal(msg, back));
	json_decref(back);

	/* ts_us must lie within the second "timestamp" names */
	json_object_set_new(msg, "ts_us", json_integer((secs + 5) * 1000000));
	cr_assert_eq(ev_from_json(msg, &ev, &live, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "ts_us"), "%s", err.msg);
	json_object_set_new(msg, "ts_us", json_integer(secs * 1000000));

	json_object_set_new(msg, "seq", json_integer(-1));
	cr_assert_eq(ev_from_json(msg, &ev, &live, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "seq"), "%s", err.msg);
	json_object_set_new(msg, "seq", json_string("12"));
	cr_assert_eq(ev_from_json(msg, &ev, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "seq"), "%s", err.msg);
	json_decref(msg);
	json_decref(all);
}

Test(json, exact_text)
{
	struct strata_event ev;
	struct ev_live live = { 4, 3 };
	char *s;

	memset(&ev, 0, sizeof ev);
	ev.variant = STRATA_EV_PageHit;
	ev.family = STRATA_FAM_BUFFER_POOL;
	ev.ts_us = 2 * 1000000 + 999999; /* rounds down to 2 */
	ev.u.PageHit.page_id = 1;
	ev.u.PageHit.timestamp = 2;
	s = ev_to_json_text(&ev, &live);
	cr_assert_str_eq(s, "{\"message_type\":\"buffer_pool_event\",\"data\":{\"PageHit\":"
			    "{\"page_id\":1,\"timestamp\":2}},\"timestamp\":2,\"seq\":3,\"epoch\":4,"
			    "\"ts_us\":2999999}");
	free(s);

	ev.ts_us = -1; /* just before the epoch: second -1 */
	s = ev_to_json_text(&ev, NULL);
	cr_assert(strstr(s, "},\"timestamp\":-1}"), "%s", s);
	free(s);

	ev.variant = STRATA_EV_COUNT;
	cr_assert_null(ev_to_json(&ev, NULL));
	cr_assert_null(ev_to_json_text(&ev, NULL));
}

Test(json, optional_counters)
{
	struct strata_event ev, back;
	struct proto_err err = { "" };
	json_t *j, *body;

	memset(&ev, 0, sizeof ev);
	ev.variant = STRATA_EV_PoolStats;
	ev.family = STRATA_FAM_BUFFER_POOL;
	ev.u.PoolStats.evictions = 5;
	j = ev_to_json(&ev, NULL);
	body = json_object_get(json_object_get(j, "data"), "PoolStats");
	cr_assert_eq(json_integer_value(json_object_get(body, "evictions")), 5);
	cr_assert_null(json_object_get(body, "flushes"), "zero optional counters are left out");
	cr_assert_not_null(json_object_get(body, "total_pages"), "required fields are always written");
	cr_assert_eq(json_integer_value(json_object_get(body, "total_pages")), 0);
	cr_assert_eq(ev_from_json(j, &back, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(memcmp(&ev, &back, sizeof ev), 0);
	json_decref(j);
}

/* Distinct, type-appropriate values for field i of variant v. */
static void fill_event(struct strata_event *ev, enum strata_ev_variant v, bool json_safe)
{
	size_t n, i;
	const struct ev_field *f = ev_fields(v, &n);

	memset(ev, 0, sizeof *ev);
	ev->variant = v;
	ev->family = strata_ev_family_of(v);
	ev->ts_us = json_safe ? (1700000000LL + v) * 1000000 : -123456789012345LL - v;
	for (i = 0; i < n; i++) {
		char *p = (char *)&ev->u + f[i].offset;
		uint64_t u = 0x0102030405060708ull * (i + 1) + (uint64_t)v * 131;
		int64_t s = -(int64_t)(i + 1) * 1000003 - v;
		uint32_t u32 = 0xf0000000u + (uint32_t)(i * 17 + v);
		double d = -((double)i + 0.25) * 1e10 + v / 7.0;
		size_t len = (i * 7 + (size_t)v * 3) % STRATA_EV_STR_MAX, k;

		if (json_safe)
			u &= INT64_MAX;
		else if (i == 0)
			u = UINT64_MAX;
		switch (f[i].type) {
		case STRATA_FT_U64: memcpy(p, &u, 8); break;
		case STRATA_FT_I64: memcpy(p, &s, 8); break;
		case STRATA_FT_U32: memcpy(p, &u32, 4); break;
		case STRATA_FT_F64: memcpy(p, &d, 8); break;
		case STRATA_FT_STR:
			if (i == 0)
				len = STRATA_EV_STR_MAX - 1;
			for (k = 0; k < len; k++)
				p[k] = (char)('a' + (k + i + v) % 26);
			break;
		}
	}
}

Test(variants, every_variant_roundtrips_the_bus)
{
	int v;

	for (v = 0; v < STRATA_EV_COUNT; v++) {
		struct strata_event a, b;
		struct ev_live live;
		struct proto_err err = { "" };
		msgpack_sbuffer sb;

		fill_event(&a, v, false);
		msgpack_sbuffer_init(&sb);
		cr_assert_eq(ev_bus_encode(&a, UINT64_MAX, (uint64_t)v, &sb), 0);
		cr_assert_eq(memcmp(sb.data, ev_family_topic(a.family),
				    strlen(ev_family_topic(a.family)) + 1), 0, "topic and NUL first");
		memset(&b, 0xa5, sizeof b);
		cr_assert_eq(ev_bus_decode(sb.data, sb.size, &b, &live, &err), 0, "%s: %s",
			     ev_variant_name(v), err.msg);
		cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "%s differs", ev_variant_name(v));
		cr_assert_eq(live.epoch, UINT64_MAX);
		cr_assert_eq(live.seq, (uint64_t)v);
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(variants, every_variant_roundtrips_json_text)
{
	int v;

	for (v = 0; v < STRATA_EV_COUNT; v++) {
		struct strata_event a, b;
		struct proto_err err = { "" };
		char *text;
		json_t *j;

		fill_event(&a, v, true);
		text = ev_to_json_text(&a, NULL);
		cr_assert_not_null(text);
		j = json_loads(text, 0, NULL);
		cr_assert_not_null(j, "%s", text);
		cr_assert_eq(ev_from_json(j, &b, NULL, &err), 0, "%s: %s", text, err.msg);
		cr_assert_eq(memcmp(&a, &b, sizeof a), 0, "%s differs: %s", ev_variant_name(v), text);
		json_decref(j);
		free(text);
	}
}

Test(json, values_beyond_json)
{
	struct strata_event ev, back;
	struct proto_err err = { "" };
	json_t *j, *body;
	char *s;

	memset(&ev, 0, sizeof ev);
	ev.variant = STRATA_EV_PoolStats;
	ev.u.PoolStats.total_pages = UINT64_MAX - 2047; /* a double holds it exactly */
	ev.u.PoolStats.hit_rate = NAN;
	j = ev_to_json(&ev, NULL);
	body = json_object_get(json_object_get(j, "data"), "PoolStats");
	cr_assert(json_is_real(json_object_get(body, "total_pages")));
	cr_assert(json_is_null(json_object_get(body, "hit_rate")));
	cr_assert_eq(ev_from_json(j, &back, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(back.u.PoolStats.total_pages, UINT64_MAX - 2047);
	cr_assert(isnan(back.u.PoolStats.hit_rate));
	json_decref(j);

	/* Invalid UTF-8 and a missing NUL in a string field still give valid JSON. */
	memset(&ev, 0, sizeof ev);
	ev.variant = STRATA_EV_PageEvicted;
	memcpy(ev.u.PageEvicted.reason, "bad \xff\xfe end", 11);
	s = ev_to_json_text(&ev, NULL);
	cr_assert_not_null(s);
	cr_assert(strstr(s, "\"bad \xef\xbf\xbd\xef\xbf\xbd end\""), "%s", s);
	free(s);
	memset(ev.u.PageEvicted.reason, 'x', STRATA_EV_STR_MAX);
	s = ev_to_json_text(&ev, NULL);
	cr_assert_not_null(s);
	j = json_loads(s, 0, NULL);
	body = json_object_get(json_object_get(j, "data"), "PageEvicted");
	cr_assert_eq(json_string_length(json_object_get(body, "reason")), STRATA_EV_STR_MAX);
	json_decref(j);
	free(s);
}

/* Decodes msg, expecting failure with a message that contains each of the needles. */
static void expect_json_error(json_t *msg, const char *what, const char *n1, const char *n2)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	int rc = ev_from_json(msg, &ev, NULL, &err);
	char *s = msg ? dump(msg) : NULL;

	cr_assert_eq(rc, STRATA_EBAD_REQUEST, "%s: accepted %s", what, s ? s : "NULL");
	cr_assert(n1 == NULL || strstr(err.msg, n1), "%s: '%s' not in \"%s\"", what, n1, err.msg);
	cr_assert(n2 == NULL || strstr(err.msg, n2), "%s: '%s' not in \"%s\"", what, n2, err.msg);
	free(s);
}

Test(mutations, each_field_removed)
{
	json_t *all = load_fixtures();
	size_t i, tried = 0;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *orig = json_array_get(all, i), *body;
		const char *name = fixture_variant(orig, &body);
		static const char *const top[] = { "message_type", "data", "timestamp" };
		const char *key;
		json_t *val;
		size_t t;

		json_object_foreach(body, key, val) {
			json_t *m = json_deep_copy(orig), *mb;
			char label[128];

			fixture_variant(m, &mb);
			json_object_del(mb, key);
			snprintf(label, sizeof label, "%s.%s", name, key);
			expect_json_error(m, label, label, "missing");
			json_decref(m);
			tried++;
		}
		for (t = 0; t < ARRAY_LEN(top); t++) {
			json_t *m = json_deep_copy(orig);

			json_object_del(m, top[t]);
			expect_json_error(m, top[t], top[t], NULL);
			json_decref(m);
		}
	}
	cr_assert_gt(tried, 90);
	json_decref(all);
}

Test(mutations, variant_renamed)
{
	json_t *all = load_fixtures();
	size_t i;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *m = json_deep_copy(json_array_get(all, i)), *body;
		json_t *data = json_object_get(m, "data");
		char name[64], bad[80], lower[64];
		size_t k;

		snprintf(name, sizeof name, "%s", fixture_variant(m, &body));
		json_incref(body);
		json_object_del(data, name);

		snprintf(bad, sizeof bad, "%st", name);
		json_object_set(data, bad, body);
		expect_json_error(m, bad, "data", bad);
		json_object_del(data, bad);

		/* Names are case-sensitive: the seed's spelling only. */
		for (k = 0; name[k]; k++)
			lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] - 'A' + 'a' : name[k]);
		lower[k] = '\0';
		json_object_set(data, lower, body);
		expect_json_error(m, lower, "data", lower);
		json_object_del(data, lower);

		/* And with the right name back it decodes, so the failures came from the name. */
		json_object_set(data, name, body);
		{
			struct strata_event ev;
			struct proto_err err = { "" };

			cr_assert_eq(ev_from_json(m, &ev, NULL, &err), 0, "%s", err.msg);
		}
		json_decref(body);
		json_decref(m);
	}
	json_decref(all);
}

Test(mutations, integer_turned_into_string)
{
	json_t *all = load_fixtures();
	size_t i, tried = 0;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *orig = json_array_get(all, i), *body;
		const char *name = fixture_variant(orig, &body);
		const char *key;
		json_t *val;

		json_object_foreach(body, key, val) {
			json_t *m, *mb;
			char label[128], num[32];

			if (!json_is_integer(val))
				continue;
			m = json_deep_copy(orig);
			fixture_variant(m, &mb);
			snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
			json_object_set_new(mb, key, json_string(num));
			snprintf(label, sizeof label, "%s.%s", name, key);
			expect_json_error(m, label, label, "got string");
			json_decref(m);
			tried++;
		}
		{
			json_t *m = json_deep_copy(orig);

			json_object_set_new(m, "timestamp", json_string("1702569600"));
			expect_json_error(m, "outer timestamp", "timestamp", "got string");
			json_decref(m);
		}
	}
	cr_assert_gt(tried, 60);
	json_decref(all);
}

Test(mutations, message_type_changed)
{
	json_t *all = load_fixtures();
	size_t i;

	for (i = 0; i < json_array_size(all); i++) {
		json_t *m = json_deep_copy(json_array_get(all, i)), *body;
		const char *name = fixture_variant(m, &body);
		int fam = strata_ev_family_of(ev_variant_from_name(-1, name));

		json_object_set_new(m, "message_type", json_string("storage_event"));
		expect_json_error(m, "unknown type", "message_type", "storage_event");
		/* Another family's type: the variant does not belong to it. */
		json_object_set_new(m, "message_type",
				    json_string(ev_family_message_type((fam + 1) % STRATA_FAM_COUNT)));
		expect_json_error(m, "other family", "data", name);
		json_object_set_new(m, "message_type", json_integer(3));
		expect_json_error(m, "not a string", "message_type", "got integer");
		json_decref(m);
	}
	json_decref(all);
}

static json_t *page_msg(const char *fmt_body)
{
	char text[512];
	json_t *j;

	snprintf(text, sizeof text,
		 "{\"message_type\":\"page_event\",\"data\":%s,\"timestamp\":1702569640}", fmt_body);
	j = json_loads(text, JSON_ALLOW_NUL, NULL);
	cr_assert_not_null(j, "%s", text);
	return j;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Messages quote the bad input, but never pass raw bytes through to clients. */
Test(mutations, messages_are_printable)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	json_t *m = json_pack("{s:s, s:{s:{}}, s:i}", "message_type", "lsm_event", "data",
			      "Tree\x01\xc3\xa9\x7f\n", "timestamp", 1);
	char buf[64];

	cr_assert_not_null(m);
	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "'Tree\?\?\?\?\?'"), "%s", err.msg);
	cr_assert(printable_ascii(err.msg), "%s", err.msg);
	json_decref(m);

	/* message_type with a NUL inside is not "lsm_event". */
	m = json_pack("{s:s%, s:{s:{}}, s:i}", "message_type", "lsm_event\0x", (size_t)11, "data",
		      "MemtableFlushed", "timestamp", 1);
	cr_assert_not_null(m);
	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "message_type: unknown"), "%s", err.msg);
	cr_assert(printable_ascii(err.msg), "%s", err.msg);
	json_decref(m);

	memcpy(buf, "storage.\x1b[31m\xff\0\x80", 17);
	cr_assert_eq(ev_bus_decode(buf, 17, &ev, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "topic"), "%s", err.msg);
	cr_assert(printable_ascii(err.msg), "%s", err.msg);

	/* A long bad name is cut short. */
	memset(buf, 'Z', sizeof buf);
	m = json_pack("{s:s, s:{s%:{}}, s:i}", "message_type", "lsm_event", "data", buf,
		      sizeof buf, "timestamp", 1);
	cr_assert_not_null(m);
	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "ZZZ...'"), "%s", err.msg);
	cr_assert_lt(strlen(err.msg), 120);
	json_decref(m);
}

Test(mutations, field_types_and_ranges)
{
	static const struct { const char *data, *n1, *n2; } bad[] = {
		{ "{\"ChecksumFailure\":{\"page_id\":1.5,\"expected\":1,\"actual\":2,\"timestamp\":3}}",
		  "ChecksumFailure.page_id", "got real" },
		{ "{\"ChecksumFailure\":{\"page_id\":1.0,\"expected\":1,\"actual\":2,\"timestamp\":3}}",
		  "ChecksumFailure.page_id", "got real" },
		{ "{\"ChecksumFailure\":{\"page_id\":-1,\"expected\":1,\"actual\":2,\"timestamp\":3}}",
		  "ChecksumFailure.page_id", "negative" },
		{ "{\"ChecksumFailure\":{\"page_id\":1,\"expected\":4294967296,\"actual\":2,\"timestamp\":3}}",
		  "ChecksumFailure.expected", "out of range" },
		{ "{\"ChecksumFailure\":{\"page_id\":1,\"expected\":-1,\"actual\":2,\"timestamp\":3}}",
		  "ChecksumFailure.expected", "out of range" },
		{ "{\"ChecksumFailure\":{\"page_id\":1,\"expected\":1,\"actual\":null,\"timestamp\":3}}",
		  "ChecksumFailure.actual", "got null" },
		{ "{\"ChecksumFailure\":{\"page_id\":1,\"expected\":1,\"actual\":2,\"timestamp\":3.5}}",
		  "ChecksumFailure.timestamp", "got real" },
		{ "{\"PageSplit\":{\"original_page_id\":1,\"new_page_id\":2,\"reason\":7,\"timestamp\":3}}",
		  "PageSplit.reason", "expected a string" },
		{ "{\"PageSplit\":{\"original_page_id\":1,\"new_page_id\":2,\"reason\":\"a\\u0000b\",\"timestamp\":3}}",
		  "PageSplit.reason", "NUL" },
		{ "{\"PageSplit\":[1,2]}", "PageSplit", "expected an object" },
		{ "[]", "data", "expected an object" },
		{ "{}", "data", "exactly one variant" },
		{ "{\"PageSplit\":{},\"PageMerged\":{}}", "data", "exactly one variant" },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		json_t *m = page_msg(bad[i].data);

		expect_json_error(m, bad[i].data, bad[i].n1, bad[i].n2);
		json_decref(m);
	}
	{
		json_t *m = page_msg("{\"ChecksumFailure\":{\"page_id\":1,\"expected\":4294967295,"
				     "\"actual\":0,\"timestamp\":3}}");
		struct strata_event ev;
		struct proto_err err = { "" };

		cr_assert_eq(ev_from_json(m, &ev, NULL, &err), 0, "%s", err.msg);
		cr_assert_eq(ev.u.ChecksumFailure.expected, UINT32_MAX);
		json_decref(m);
	}
}

Test(mutations, envelope)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	json_t *m;

	expect_json_error(NULL, "NULL", "message", NULL);
	m = json_array();
	expect_json_error(m, "array", "message", "got array");
	json_decref(m);

	m = json_loads("{\"message_type\":\"buffer_pool_event\",\"data\":{\"PageHit\":"
		       "{\"page_id\":1,\"timestamp\":2}},\"timestamp\":9223372036855}", 0, NULL);
	expect_json_error(m, "timestamp overflow", "timestamp", "out of range");
	json_decref(m);

	/* Forward compatible: unknown keys anywhere are ignored. */
	m = json_loads("{\"message_type\":\"buffer_pool_event\",\"data\":{\"PageHit\":"
		       "{\"page_id\":1,\"timestamp\":2,\"heat\":[1]}},\"timestamp\":2,"
		       "\"lagged\":3,\"extra\":{}}", 0, NULL);
	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ev.u.PageHit.page_id, 1);
	json_decref(m);

	/* F64 fields take integers. */
	m = json_loads("{\"message_type\":\"buffer_pool_event\",\"data\":{\"PoolStats\":"
		       "{\"hit_rate\":1,\"total_pages\":1,\"used_pages\":1,\"dirty_pages\":0,"
		       "\"timestamp\":2}},\"timestamp\":2}", 0, NULL);
	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ev.u.PoolStats.hit_rate, 1.0);
	json_object_set_new(json_object_get(json_object_get(m, "data"), "PoolStats"),
			    "hit_rate", json_string("0.5"));
	expect_json_error(m, "F64 string", "PoolStats.hit_rate", "expected a number");
	json_decref(m);
}

static json_t *str_msg(size_t len)
{
	char *s = malloc(len + 1);
	json_t *m;

	memset(s, 'r', len);
	s[len] = '\0';
	m = json_pack("{s:s, s:{s:{s:I, s:s, s:I}}, s:I}", "message_type", "buffer_pool_event",
		      "data", "PageEvicted", "page_id", (json_int_t)1, "reason", s, "timestamp",
		      (json_int_t)2, "timestamp", (json_int_t)2);
	free(s);
	cr_assert_not_null(m);
	return m;
}

Test(strings, length_limit_json)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	json_t *m = str_msg(STRATA_EV_STR_MAX - 1);

	cr_assert_eq(ev_from_json(m, &ev, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(ev.u.PageEvicted.reason), STRATA_EV_STR_MAX - 1);
	json_decref(m);
	m = str_msg(STRATA_EV_STR_MAX);
	expect_json_error(m, "64 bytes", "PageEvicted.reason", "too long");
	json_decref(m);
}

/* A bus message with `reason` of len bytes, packed by hand. */
static void pack_evicted(msgpack_sbuffer *sb, size_t len)
{
	msgpack_packer pk;
	char s[256];

	memset(s, 'r', len);
	msgpack_sbuffer_write(sb, "storage.buffer_pool", 20);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "epoch", 5);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_str_with_body(&pk, "seq", 3);
	msgpack_pack_uint16(&pk, 2);
	msgpack_pack_str_with_body(&pk, "ts_us", 5);
	msgpack_pack_int8(&pk, -3);
	msgpack_pack_str_with_body(&pk, "variant", 7);
	msgpack_pack_str_with_body(&pk, "PageEvicted", 11);
	msgpack_pack_str_with_body(&pk, "data", 4);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "page_id", 7);
	msgpack_pack_int32(&pk, 77); /* a signed width holding a non-negative value */
	msgpack_pack_str_with_body(&pk, "reason", 6);
	msgpack_pack_str_with_body(&pk, s, len);
	msgpack_pack_str_with_body(&pk, "timestamp", 9);
	msgpack_pack_int64(&pk, -5);
}

Test(strings, length_limit_bus)
{
	struct strata_event ev;
	struct ev_live live;
	struct proto_err err = { "" };
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	pack_evicted(&sb, STRATA_EV_STR_MAX - 1);
	cr_assert_eq(ev_bus_decode(sb.data, sb.size, &ev, &live, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(ev.u.PageEvicted.reason), STRATA_EV_STR_MAX - 1);
	cr_assert_eq(ev.u.PageEvicted.page_id, 77);
	cr_assert_eq(ev.u.PageEvicted.timestamp, -5);
	cr_assert_eq(ev.ts_us, -3);
	cr_assert_eq(live.epoch, 1);
	cr_assert_eq(live.seq, 2);
	msgpack_sbuffer_clear(&sb);
	pack_evicted(&sb, STRATA_EV_STR_MAX);
	cr_assert_eq(ev_bus_decode(sb.data, sb.size, &ev, &live, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "PageEvicted.reason") && strstr(err.msg, "too long"), "%s", err.msg);
	msgpack_sbuffer_destroy(&sb);

	/* The encoder refuses a string with no NUL in its buffer, leaving out as it was. */
	memset(&ev, 0, sizeof ev);
	ev.variant = STRATA_EV_PageEvicted;
	memset(ev.u.PageEvicted.reason, 'x', STRATA_EV_STR_MAX);
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "keep", 4);
	cr_assert_eq(ev_bus_encode(&ev, 1, 1, &sb), STRATA_EBAD_REQUEST);
	cr_assert_eq(sb.size, 4);
	ev.variant = STRATA_EV_COUNT;
	cr_assert_eq(ev_bus_encode(&ev, 1, 1, &sb), STRATA_EBAD_REQUEST);
	cr_assert_eq(sb.size, 4);
	msgpack_sbuffer_destroy(&sb);
}

/* A valid bus message for tests to break. */
static void encode_sample(msgpack_sbuffer *sb, enum strata_ev_variant v)
{
	struct strata_event ev;

	fill_event(&ev, v, false);
	msgpack_sbuffer_init(sb);
	cr_assert_eq(ev_bus_encode(&ev, 42, 43, sb), 0);
}

static void expect_bus_error(const void *buf, size_t len, const char *what, const char *needle)
{
	struct strata_event ev;
	struct ev_live live;
	struct proto_err err = { "" };
	int rc = ev_bus_decode(buf, len, &ev, &live, &err);

	cr_assert_eq(rc, STRATA_EBAD_REQUEST, "%s: rc %d", what, rc);
	cr_assert_neq(err.msg[0], '\0', "%s: no message", what);
	cr_assert(needle == NULL || strstr(err.msg, needle), "%s: '%s' not in \"%s\"", what,
		  needle, err.msg);
}

Test(malformed, empty_and_truncated)
{
	static const enum strata_ev_variant vs[] = { STRATA_EV_EncodingChanged, STRATA_EV_PoolStats,
						     STRATA_EV_ChecksumFailure };
	size_t k, n;

	expect_bus_error("", 0, "empty", "empty");
	expect_bus_error(NULL, 0, "NULL", "empty");
	for (k = 0; k < ARRAY_LEN(vs); k++) {
		msgpack_sbuffer sb;

		encode_sample(&sb, vs[k]);
		for (n = 0; n < sb.size; n++) {
			/* A copy of exactly n bytes, so ASan sees any read past them. */
			char *cut = malloc(n ? n : 1);
			char what[64];

			memcpy(cut, sb.data, n);
			snprintf(what, sizeof what, "%s cut at %zu/%zu", ev_variant_name(vs[k]), n, sb.size);
			expect_bus_error(cut, n, what, NULL);
			free(cut);
		}
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(malformed, topic)
{
	msgpack_sbuffer sb;
	char buf[512];
	size_t tl;

	expect_bus_error("storage.buffer_pool", 19, "no NUL", "topic: no NUL");
	memset(buf, 'a', 200);
	expect_bus_error(buf, 200, "long garbage", "topic: no NUL");
	/* A NUL, but only after more bytes than any topic has. */
	buf[150] = '\0';
	expect_bus_error(buf, 200, "NUL too far", "topic: no NUL");

	encode_sample(&sb, STRATA_EV_PageHit);
	tl = strlen("storage.buffer_pool");
	/* Unknown topic, same body. */
	memcpy(buf, "storage.foo", 12);
	memcpy(buf + 12, sb.data + tl + 1, sb.size - tl - 1);
	expect_bus_error(buf, 12 + sb.size - tl - 1, "unknown topic", "storage.foo");
	/* Another family's topic: the variant does not belong to it. */
	memcpy(buf, "storage.lsm", 12);
	expect_bus_error(buf, 12 + sb.size - tl - 1, "wrong family", "variant");
	/* An empty topic. */
	memcpy(buf, "", 1);
	memcpy(buf + 1, sb.data + tl + 1, sb.size - tl - 1);
	expect_bus_error(buf, sb.size - tl, "empty topic", "topic");
	/* Trailing garbage. */
	memcpy(buf, sb.data, sb.size);
	buf[sb.size] = 0;
	expect_bus_error(buf, sb.size + 1, "trailing byte", "trailing");
	msgpack_sbuffer_destroy(&sb);
}

/* Builds topic + map from a list of (key, packing function) steps. */
enum val { V_U64, V_STR, V_NEG, V_FLOAT, V_ARRAY, V_MAP_HIT, V_NIL, V_U64_BIG, V_BIN };

static void pack_val(msgpack_packer *pk, enum val v)
{
	switch (v) {
	case V_U64: msgpack_pack_uint64(pk, 5); break;
	case V_U64_BIG: msgpack_pack_uint64(pk, UINT64_MAX); break;
	case V_STR: msgpack_pack_str_with_body(pk, "PageHit", 7); break;
	case V_NEG: msgpack_pack_int64(pk, -5); break;
	case V_FLOAT: msgpack_pack_double(pk, 1.5); break;
	case V_ARRAY: msgpack_pack_array(pk, 1); msgpack_pack_nil(pk); break;
	case V_NIL: msgpack_pack_nil(pk); break;
	case V_BIN: msgpack_pack_bin_with_body(pk, "xy", 2); break;
	case V_MAP_HIT:
		msgpack_pack_map(pk, 2);
		msgpack_pack_str_with_body(pk, "page_id", 7);
		msgpack_pack_uint64(pk, 1);
		msgpack_pack_str_with_body(pk, "timestamp", 9);
		msgpack_pack_int64(pk, 2);
		break;
	}
}

struct kv { const char *k; enum val v; };

static void pack_envelope(msgpack_sbuffer *sb, const struct kv *kvs, size_t n)
{
	msgpack_packer pk;
	size_t i;

	msgpack_sbuffer_init(sb);
	msgpack_sbuffer_write(sb, "storage.buffer_pool", 20);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_str_with_body(&pk, kvs[i].k, strlen(kvs[i].k));
		pack_val(&pk, kvs[i].v);
	}
}

Test(malformed, envelope_types)
{
	static const struct { struct kv kvs[6]; size_t n; const char *needle; } cases[] = {
		{ { { "epoch", V_STR }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 5, "epoch" },
		{ { { "epoch", V_U64 }, { "seq", V_NEG }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 5, "seq" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_FLOAT }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 5, "ts_us" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64_BIG }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 5, "ts_us" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_U64 }, { "data", V_MAP_HIT } }, 5, "variant" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_ARRAY } }, 5, "data" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_NIL } }, 5, "data" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_U64 } }, 5, "data" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR } }, 4, "data" },
		{ { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "data", V_MAP_HIT } }, 4, "variant" },
		{ { { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 4, "epoch" },
		{ { { "epoch", V_BIN }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 5, "epoch" },
		{ { { "epoch", V_U64 }, { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_U64 }, { "variant", V_STR }, { "data", V_MAP_HIT } }, 6, "duplicate" },
	};
	size_t c;

	for (c = 0; c < ARRAY_LEN(cases); c++) {
		msgpack_sbuffer sb;
		char what[32];

		pack_envelope(&sb, cases[c].kvs, cases[c].n);
		snprintf(what, sizeof what, "case %zu", c);
		expect_bus_error(sb.data, sb.size, what, cases[c].needle);
		msgpack_sbuffer_destroy(&sb);
	}
	/* The same builder with every field right decodes (so the cases above test one thing each). */
	{
		static const struct kv ok[] = { { "epoch", V_U64 }, { "seq", V_U64 }, { "ts_us", V_NEG },
						{ "variant", V_STR }, { "data", V_MAP_HIT }, { "new", V_ARRAY } };
		msgpack_sbuffer sb;
		struct strata_event ev;
		struct proto_err err = { "" };

		pack_envelope(&sb, ok, ARRAY_LEN(ok));
		cr_assert_eq(ev_bus_decode(sb.data, sb.size, &ev, NULL, &err), 0, "%s", err.msg);
		cr_assert_eq(ev.variant, STRATA_EV_PageHit);
		cr_assert_eq(ev.ts_us, -5);
		msgpack_sbuffer_destroy(&sb);
	}
	/* Root not a map. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_sbuffer_write(&sb, "storage.io", 11);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 2);
		msgpack_pack_nil(&pk);
		msgpack_pack_nil(&pk);
		expect_bus_error(sb.data, sb.size, "root array", "event: expected a map, got array");
		msgpack_sbuffer_destroy(&sb);
	}
}

Test(malformed, data_field_types)
{
	struct strata_event ev;
	struct proto_err err = { "" };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int variant_case;

	/* data of ChecksumFailure with each field in turn broken. */
	for (variant_case = 0; variant_case < 7; variant_case++) {
		static const char *const needles[] = {
			"ChecksumFailure.page_id", "ChecksumFailure.expected", "ChecksumFailure.actual",
			"ChecksumFailure.timestamp", "ChecksumFailure.page_id", "ChecksumFailure",
			"ChecksumFailure.expected",
		};

		msgpack_sbuffer_init(&sb);
		msgpack_sbuffer_write(&sb, "storage.pages", 14);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 5);
		msgpack_pack_str_with_body(&pk, "epoch", 5);
		msgpack_pack_uint64(&pk, 1);
		msgpack_pack_str_with_body(&pk, "seq", 3);
		msgpack_pack_uint64(&pk, 1);
		msgpack_pack_str_with_body(&pk, "ts_us", 5);
		msgpack_pack_uint64(&pk, 1);
		msgpack_pack_str_with_body(&pk, "variant", 7);
		msgpack_pack_str_with_body(&pk, "ChecksumFailure", 15);
		msgpack_pack_str_with_body(&pk, "data", 4);
		msgpack_pack_map(&pk, variant_case == 4 ? 3 : 4);
		if (variant_case != 4) {
			msgpack_pack_str_with_body(&pk, "page_id", 7);
			if (variant_case == 0)
				msgpack_pack_float(&pk, 1.0f);
			else
				msgpack_pack_uint64(&pk, 1);
		}
		msgpack_pack_str_with_body(&pk, "expected", 8);
		if (variant_case == 1)
			msgpack_pack_uint64(&pk, 1ull << 32);
		else if (variant_case == 6)
			msgpack_pack_int8(&pk, -1);
		else
			msgpack_pack_uint32(&pk, 5);
		msgpack_pack_str_with_body(&pk, "actual", 6);
		if (variant_case == 2)
			msgpack_pack_str_with_body(&pk, "5", 1);
		else
			msgpack_pack_uint32(&pk, 6);
		if (variant_case == 5)
			msgpack_pack_uint64(&pk, 9); /* a non-string key */
		else
			msgpack_pack_str_with_body(&pk, "timestamp", 9);
		if (variant_case == 3)
			msgpack_pack_true(&pk);
		else
			msgpack_pack_int64(&pk, 7);
		{
			char what[32];

			snprintf(what, sizeof what, "data case %d", variant_case);
			expect_bus_error(sb.data, sb.size, what, needles[variant_case]);
		}
		msgpack_sbuffer_destroy(&sb);
	}

	/* F64 fields take any number; STR fields refuse NUL. */
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "storage.columnar", 17);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "epoch", 5);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "seq", 3);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "ts_us", 5);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "variant", 7);
	msgpack_pack_str_with_body(&pk, "EncodingChanged", 15);
	msgpack_pack_str_with_body(&pk, "data", 4);
	msgpack_pack_map(&pk, 6);
	msgpack_pack_str_with_body(&pk, "table_name", 10);
	msgpack_pack_str_with_body(&pk, "t", 1);
	msgpack_pack_str_with_body(&pk, "column_name", 11);
	msgpack_pack_str_with_body(&pk, "c", 1);
	msgpack_pack_str_with_body(&pk, "old_encoding", 12);
	msgpack_pack_str_with_body(&pk, "Plain", 5);
	msgpack_pack_str_with_body(&pk, "new_encoding", 12);
	msgpack_pack_str_with_body(&pk, "Delta", 5);
	msgpack_pack_str_with_body(&pk, "compression_ratio", 17);
	msgpack_pack_int8(&pk, -2);
	msgpack_pack_str_with_body(&pk, "timestamp", 9);
	msgpack_pack_int64(&pk, 7);
	cr_assert_eq(ev_bus_decode(sb.data, sb.size, &ev, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ev.u.EncodingChanged.compression_ratio, -2.0);
	cr_assert_str_eq(ev.u.EncodingChanged.new_encoding, "Delta");
	/* Swap "Delta" for "De\0ta" in place. */
	{
		char *p = memmem(sb.data, sb.size, "Delta", 5);

		cr_assert_not_null(p);
		p[2] = '\0';
		expect_bus_error(sb.data, sb.size, "NUL in string", "EncodingChanged.new_encoding");
	}
	msgpack_sbuffer_destroy(&sb);

	/* float32 is read too. */
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "storage.io", 11);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "epoch", 5);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "seq", 3);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "ts_us", 5);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "variant", 7);
	msgpack_pack_str_with_body(&pk, "IoAlert", 7);
	msgpack_pack_str_with_body(&pk, "data", 4);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str_with_body(&pk, "kind", 4);
	msgpack_pack_str_with_body(&pk, "latency_spike", 13);
	msgpack_pack_str_with_body(&pk, "value", 5);
	msgpack_pack_float(&pk, 2.5f);
	msgpack_pack_str_with_body(&pk, "threshold", 9);
	msgpack_pack_uint16(&pk, 1000);
	msgpack_pack_str_with_body(&pk, "timestamp", 9);
	msgpack_pack_uint8(&pk, 7);
	cr_assert_eq(ev_bus_decode(sb.data, sb.size, &ev, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(ev.u.IoAlert.value, 2.5);
	cr_assert_eq(ev.u.IoAlert.threshold, 1000.0);
	cr_assert_str_eq(ev.u.IoAlert.kind, "latency_spike");
	msgpack_sbuffer_destroy(&sb);
}

Test(malformed, absurd_lengths_and_depth)
{
	static const unsigned char heads[][6] = {
		{ 0xdd, 0xff, 0xff, 0xff, 0xff, 0 }, /* array32 of 4G */
		{ 0xdf, 0xff, 0xff, 0xff, 0xff, 0 }, /* map32 of 4G */
		{ 0xdb, 0xff, 0xff, 0xff, 0xff, 0 }, /* str32 of 4G */
		{ 0xc6, 0xff, 0xff, 0xff, 0xff, 0 }, /* bin32 of 4G */
		{ 0xc9, 0xff, 0xff, 0xff, 0xff, 1 }, /* ext32 of 4G */
		{ 0xdc, 0xff, 0xff, 0, 0, 0 },       /* array16 of 64K */
	};
	char buf[64];
	size_t h;

	for (h = 0; h < ARRAY_LEN(heads); h++) {
		char what[32];

		memcpy(buf, "storage.io", 11);
		memcpy(buf + 11, heads[h], 6);
		snprintf(what, sizeof what, "head %zu", h);
		expect_bus_error(buf, 17, what, "overruns");
	}
	/* A map claiming 2^31 entries inside a valid-looking envelope. */
	{
		static const unsigned char body[] = { 0x81, 0xa4, 'd', 'a', 't', 'a',
						      0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0 };

		memcpy(buf, "storage.io", 11);
		memcpy(buf + 11, body, sizeof body);
		expect_bus_error(buf, 11 + sizeof body, "nested huge map", "overruns");
	}
	/* 40 nested one-element arrays under an unknown key. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;
		int d;

		msgpack_sbuffer_init(&sb);
		msgpack_sbuffer_write(&sb, "storage.io", 11);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		msgpack_pack_str_with_body(&pk, "x", 1);
		for (d = 0; d < 40; d++)
			msgpack_pack_array(&pk, 1);
		msgpack_pack_nil(&pk);
		expect_bus_error(sb.data, sb.size, "deep nesting", "nested deeper");
		msgpack_sbuffer_destroy(&sb);
	}
	/* The reserved byte 0xc1. */
	memcpy(buf, "storage.io\0\x81\xa1x\xc1", 15);
	expect_bus_error(buf, 15, "0xc1", "invalid");
}

/* xorshift: the same "random" inputs on every run. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

Test(malformed, garbage_never_crashes)
{
	static const char *const prefixes[] = { "", "storage.buffer_pool", "storage.io", "storage.columnar" };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int round;

	for (round = 0; round < 20000; round++) {
		const char *pre = prefixes[round % ARRAY_LEN(prefixes)];
		size_t plen = pre[0] ? strlen(pre) + 1 : 0;
		size_t n = plen + rng_next(&seed) % 48, i;
		unsigned char *buf = malloc(n ? n : 1);
		struct strata_event ev;
		struct proto_err err = { "" };

		memcpy(buf, pre, plen);
		for (i = plen; i < n; i++)
			buf[i] = (unsigned char)rng_next(&seed);
		/* Bias towards map headers so more inputs get past the first byte. */
		if (n > plen && round % 3 == 0)
			buf[plen] = 0x85;
		cr_assert_eq(ev_bus_decode(buf, n, &ev, NULL, &err), STRATA_EBAD_REQUEST,
			     "round %d accepted garbage", round);
		free(buf);
	}
}

/* Every single-byte change of valid messages: decoded or refused, never a crash. */
Test(malformed, byte_mutations_never_crash)
{
	static const unsigned char values[] = { 0x00, 0x01, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf,
						0xc0, 0xc1, 0xc4, 0xca, 0xcb, 0xcf, 0xd3, 0xd9,
						0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff };
	static const enum strata_ev_variant vs[] = { STRATA_EV_PageMigrated, STRATA_EV_IoStats };
	size_t k, pos, j, accepted = 0, refused = 0;

	for (k = 0; k < ARRAY_LEN(vs); k++) {
		msgpack_sbuffer sb;

		encode_sample(&sb, vs[k]);
		for (pos = 0; pos < sb.size; pos++) {
			for (j = 0; j < ARRAY_LEN(values); j++) {
				char *buf = malloc(sb.size);
				struct strata_event ev;
				struct proto_err err = { "" };
				int rc;

				memcpy(buf, sb.data, sb.size);
				buf[pos] = (char)values[j];
				rc = ev_bus_decode(buf, sb.size, &ev, NULL, &err);
				cr_assert(rc == 0 || rc == STRATA_EBAD_REQUEST, "rc %d", rc);
				if (rc == 0) {
					cr_assert_lt(ev.variant, STRATA_EV_COUNT);
					accepted++;
				} else {
					cr_assert_neq(err.msg[0], '\0');
					refused++;
				}
				free(buf);
			}
		}
		msgpack_sbuffer_destroy(&sb);
	}
	cr_assert_gt(accepted, 0, "changes inside values should still decode");
	cr_assert_gt(refused, 0);
}

/* ---- batches: several events of one topic in one bus message ---- */

struct collected {
	struct strata_event ev[8];
	struct ev_live live[8];
	size_t n;
};

static void collect(void *arg, const struct strata_event *ev, const struct ev_live *live)
{
	struct collected *c = arg;
	cr_assert_lt(c->n, ARRAY_LEN(c->ev));
	c->ev[c->n] = *ev;
	c->live[c->n] = *live;
	c->n++;
}

Test(batch, roundtrips_in_order_with_consecutive_seqs)
{
	static const enum strata_ev_variant vs[] = { STRATA_EV_PageHit, STRATA_EV_PagePinned,
						     STRATA_EV_PoolStats, STRATA_EV_PageUnpinned };
	struct strata_event evs[ARRAY_LEN(vs)];
	const struct strata_event *p[ARRAY_LEN(vs)];
	struct collected c = { .n = 0 };
	struct proto_err err = { "" };
	msgpack_sbuffer sb;

	for (size_t i = 0; i < ARRAY_LEN(vs); i++) {
		fill_event(&evs[i], vs[i], false);
		p[i] = &evs[i];
	}
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(ev_bus_encode_batch(p, ARRAY_LEN(vs), 7, 100, &sb), 0);
	cr_assert_eq(memcmp(sb.data, "storage.buffer_pool", 20), 0, "one topic, then NUL");
	cr_assert_eq(ev_bus_decode_each(sb.data, sb.size, collect, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(c.n, ARRAY_LEN(vs));
	for (size_t i = 0; i < c.n; i++) {
		cr_assert_eq(memcmp(&evs[i], &c.ev[i], sizeof evs[i]), 0, "event %zu differs", i);
		cr_assert_eq(c.live[i].epoch, 7);
		cr_assert_eq(c.live[i].seq, 100 + i);
	}
	/* the single-event decoder wants the map form and says so */
	struct strata_event one;
	cr_assert_eq(ev_bus_decode(sb.data, sb.size, &one, NULL, &err), STRATA_EBAD_REQUEST);
	cr_assert(strstr(err.msg, "expected a map"), "%s", err.msg);
	msgpack_sbuffer_destroy(&sb);

	/* the map form goes through decode_each as one event */
	c.n = 0;
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(ev_bus_encode(&evs[0], 7, 5, &sb), 0);
	cr_assert_eq(ev_bus_decode_each(sb.data, sb.size, collect, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.live[0].seq, 5);
	msgpack_sbuffer_destroy(&sb);
}

Test(batch, refuses_mixed_families_and_empty)
{
	struct strata_event a, b;
	const struct strata_event *p[2] = { &a, &b };
	msgpack_sbuffer sb;

	fill_event(&a, STRATA_EV_PageHit, false);
	fill_event(&b, STRATA_EV_MemtableFlushed, false);
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(ev_bus_encode_batch(p, 2, 1, 1, &sb), STRATA_EBAD_REQUEST);
	cr_assert_eq(ev_bus_encode_batch(p, 0, 1, 1, &sb), STRATA_EBAD_REQUEST);
	cr_assert_eq(sb.size, 0, "nothing written on error");
	msgpack_sbuffer_destroy(&sb);
}

Test(batch, a_bad_element_stops_the_batch_and_is_named)
{
	struct collected c = { .n = 0 };
	struct proto_err err = { "" };
	struct strata_event ev;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	/* [good PageHit, 42, good PageHit] */
	fill_event(&ev, STRATA_EV_PageHit, false);
	msgpack_sbuffer_init(&sb);
	cr_assert_eq(ev_bus_encode(&ev, 1, 1, &sb), 0);
	size_t tl = strlen("storage.buffer_pool") + 1;
	msgpack_sbuffer good;
	msgpack_sbuffer_init(&good);
	msgpack_sbuffer_write(&good, sb.data + tl, sb.size - tl);
	sb.size = tl;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_sbuffer_write(&sb, good.data, good.size);
	msgpack_pack_int(&pk, 42);
	msgpack_sbuffer_write(&sb, good.data, good.size);
	cr_assert_eq(ev_bus_decode_each(sb.data, sb.size, collect, &c, &err), STRATA_EBAD_REQUEST);
	cr_assert_eq(c.n, 1, "the event before the bad one was delivered");
	cr_assert(strstr(err.msg, "[1]"), "names the element: %s", err.msg);

	/* an empty array is refused */
	sb.size = tl;
	msgpack_pack_array(&pk, 0);
	c.n = 0;
	cr_assert_eq(ev_bus_decode_each(sb.data, sb.size, collect, &c, &err), STRATA_EBAD_REQUEST);
	cr_assert_eq(c.n, 0);
	cr_assert(strstr(err.msg, "empty array"), "%s", err.msg);
	msgpack_sbuffer_destroy(&good);
	msgpack_sbuffer_destroy(&sb);
}
