/*
 * tests/unit/test_dispatch.c — stratad's request path without a socket:
 * dispatch_handle on a hand-built struct stratad (sys.*, debug.*,
 * events.replay, malformed requests, the reply size limit, retries of
 * mutating ops), and daemon/dedup directly (first reply kept, concurrent
 * repeats wait, eviction order).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#if defined(__SANITIZE_ADDRESS__)
/*
 * criterion 2.4's runner process can leak 48 bytes (a calloc under
 * criterion_run_all_tests) when tests run in parallel, which makes
 * LeakSanitizer fail the binary although every test passed. The runner runs
 * no test code (tests run in BoxFort worker processes, which have BXFI_MAP
 * in their environment), so its leaks are suppressed there and only there.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return getenv("BXFI_MAP") ? "" : "leak:libcriterion.so\n";
}
#endif

#include "core/clock.h"
#include "core/stats.h"
#include "daemon/dedup.h"
#include "daemon/dispatch.h"
#include "daemon/options.h"
#include "daemon/replay.h"
#include "daemon/storage.h"
#include "daemon/stratad.h"
#include "ipc/ipc.h"
#include "proto/msg.h"
#include "strata/error.h"
#include "strata/events.h"

/* ---- fixture ---------------------------------------------------------------- */

#define REPLAY_SLOTS 8
#define TEST_EPOCH 0x5eed1234abcdull

static struct stratad *D;

/* What every suite needs: options at their defaults, dedup, a small replay
 * ring, a known epoch. No storage: the ops used here need none. */
static void setup(void)
{
	D = calloc(1, sizeof(*D));
	cr_assert_not_null(D);
	char *argv[] = {"stratad", NULL};
	cr_assert_eq(stratad_parse_options(1, argv, &D->opt), 0);
	cr_assert_eq(dedup_create(&D->dedup), 0);
	cr_assert_eq(replay_create(&D->replay, REPLAY_SLOTS), 0);
	D->epoch = TEST_EPOCH;
	D->start_us = clock_wall_us() - 5000000;
	D->max_msg = IPC_DEFAULT_MAX_MSG;
	snprintf(D->data_dir, sizeof(D->data_dir), "/tmp/strata-test-dispatch");
	memset(core_stats(), 0, sizeof(*core_stats()));
}

static void teardown(void)
{
	dedup_destroy(D->dedup);
	replay_destroy(D->replay);
	free(D);
	D = NULL;
}

/* sys.status also reports the buffer pool and recovery: it needs the shm
 * segments and the storage opened over a (temporary) data dir. */
static char tmpdir[64];

static void setup_storage(void)
{
	setup();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/st-dispatch-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	cr_assert_not_null(realpath(tmpdir, D->data_dir));
	snprintf(D->opt.data_dir, sizeof(D->opt.data_dir), "%s", tmpdir);
	char err[512] = "";
	int rv = shm_create(&D->shm, D->data_dir, 4096, 64, D->epoch, err, sizeof(err));
	cr_assert_eq(rv, 0, "shm_create: %d %s", rv, err);
	rv = storage_open(&D->storage, D, err, sizeof(err));
	cr_assert_eq(rv, 0, "storage_open: %d %s", rv, err);
}

static void teardown_storage(void)
{
	storage_close(D->storage);
	shm_destroy(&D->shm);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", tmpdir);
	teardown();
}

TestSuite(dispatch, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(dedup, .timeout = 20);
TestSuite(status, .init = setup_storage, .fini = teardown_storage, .timeout = 20);

/* ---- helpers ---------------------------------------------------------------- */

/* Encodes a request; args is JSON text (NULL: {}). Returns malloc'd bytes. */
static void *build_req(uint64_t client, uint64_t id, const char *op, const char *args,
		       size_t *len)
{
	struct proto_request rq = {.id = id, .client = client};
	snprintf(rq.op, sizeof(rq.op), "%s", op);
	if (args) {
		json_error_t je;
		rq.args = json_loads(args, 0, &je);
		cr_assert_not_null(rq.args, "bad test JSON %s: %s", args, je.text);
	}
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	int rv = proto_request_encode(&rq, &sb);
	json_decref(rq.args);
	cr_assert_eq(rv, 0, "proto_request_encode(%s): %d", op, rv);
	*len = sb.size;
	return sb.data; /* msgpack_sbuffer data is malloc'd */
}

struct raw_reply {
	void *buf;
	size_t len;
};

/* Runs raw request bytes through dispatch_handle; every request gets a reply. */
static struct raw_reply dispatch_raw(const void *req, size_t len)
{
	struct raw_reply r = {0};
	int rv = dispatch_handle(D, req, len, &r.buf, &r.len);
	cr_assert_eq(rv, 0, "dispatch_handle returned %d: no reply would be sent", rv);
	cr_assert_not_null(r.buf);
	cr_assert_gt(r.len, 0u);
	return r;
}

static void decode_reply(const struct raw_reply *r, struct proto_reply *out)
{
	struct proto_err e = {{0}};
	memset(out, 0, sizeof(*out));
	int rv = proto_reply_decode(r->buf, r->len, out, &e);
	cr_assert_eq(rv, 0, "reply does not decode: %s", e.msg);
}

/* One call: request -> decoded reply (caller clears it). */
static void call(uint64_t client, uint64_t id, const char *op, const char *args,
		 struct proto_reply *out)
{
	size_t len;
	void *req = build_req(client, id, op, args, &len);
	struct raw_reply r = dispatch_raw(req, len);
	free(req);
	decode_reply(&r, out);
	free(r.buf);
	cr_assert_eq(out->id, id, "reply id %llu for request %llu", (unsigned long long)out->id,
		     (unsigned long long)id);
}

static void expect_ok(const struct proto_reply *rp, const char *what)
{
	cr_assert(rp->ok, "%s: error %s: %s", what, strata_err_name(rp->err), rp->message);
	cr_assert_not_null(rp->result);
}

static void expect_error(const struct proto_reply *rp, int err, const char *needle)
{
	cr_assert_not(rp->ok, "expected %s, got ok", strata_err_name(err));
	cr_assert_eq(rp->err, err, "expected %s, got %s: %s", strata_err_name(err),
		     strata_err_name(rp->err), rp->message);
	if (needle)
		cr_assert_not_null(strstr(rp->message, needle), "message '%s' does not mention '%s'",
				   rp->message, needle);
}

static int64_t jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "'%s' is not an integer", key);
	return (int64_t)json_integer_value(v);
}

static bool jbool(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_boolean(v), "'%s' is not a boolean", key);
	return json_is_true(v);
}

/* ---- sys.* ------------------------------------------------------------------ */

Test(dispatch, ping)
{
	struct proto_reply rp;
	call(77, 1, "sys.ping", NULL, &rp);
	expect_ok(&rp, "sys.ping");
	cr_assert(jbool(rp.result, "pong"));
	cr_assert_eq((uint64_t)jint(rp.result, "epoch"), TEST_EPOCH);
	proto_reply_clear(&rp);

	/* Extra args are ignored; the id is echoed whatever it is. */
	call(77, UINT32_MAX + 5ull, "sys.ping", "{\"extra\": [1, 2, 3]}", &rp);
	expect_ok(&rp, "sys.ping with args");
	proto_reply_clear(&rp);
}

Test(status, sys_status)
{
	struct proto_reply rp;
	call(1, 2, "sys.status", NULL, &rp);
	expect_ok(&rp, "sys.status");
	cr_assert_eq(jint(rp.result, "pid"), (int64_t)getpid());
	cr_assert_eq((uint64_t)jint(rp.result, "epoch"), TEST_EPOCH);
	cr_assert_eq(jint(rp.result, "frame_count"), 64);
	cr_assert_eq(jint(rp.result, "page_size"), 4096);
	cr_assert_str_eq(json_string_value(json_object_get(rp.result, "data_dir")), D->data_dir);
	double up = json_number_value(json_object_get(rp.result, "uptime_s"));
	cr_assert(up >= 4.0 && up < 60.0, "uptime_s %f", up);
	cr_assert(json_is_object(json_object_get(rp.result, "libraries")));
	proto_reply_clear(&rp);
}

Test(status, sys_status_over_max_msg_is_too_large)
{
	struct proto_reply rp;
	D->max_msg = 64;
	call(1, 11, "sys.status", NULL, &rp);
	expect_error(&rp, STRATA_ETOO_LARGE, "64-byte");
	proto_reply_clear(&rp);
}

Test(dispatch, unknown_op_is_bad_request_naming_it)
{
	struct proto_reply rp;
	call(1, 3, "nosuch.op", NULL, &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "nosuch.op");
	proto_reply_clear(&rp);

	call(1, 4, "sys", NULL, &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'sys'");
	proto_reply_clear(&rp);

	/* The longest op name the protocol allows. */
	char op[64];
	memset(op, 'a', 63);
	op[63] = '\0';
	call(1, 5, op, NULL, &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, op);
	proto_reply_clear(&rp);
}

Test(dispatch, debug_ops_need_the_option)
{
	struct proto_reply rp;
	D->opt.debug_ops = false;
	call(1, 1, "debug.sleep", "{\"ms\": 1}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "debug.sleep");
	proto_reply_clear(&rp);

	D->opt.debug_ops = true;
	call(1, 2, "debug.sleep", "{\"ms\": 1}", &rp);
	expect_ok(&rp, "debug.sleep");
	cr_assert_eq(jint(rp.result, "slept_ms"), 1);
	proto_reply_clear(&rp);

	/* Its argument errors name the field. */
	call(1, 3, "debug.sleep", NULL, &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'ms'");
	proto_reply_clear(&rp);
	call(1, 4, "debug.sleep", "{\"ms\": \"ten\"}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'ms'");
	proto_reply_clear(&rp);
	call(1, 5, "debug.sleep", "{\"ms\": 999999}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'ms'");
	proto_reply_clear(&rp);
}

Test(dispatch, shutting_down_answers_unavailable)
{
	struct proto_reply rp;
	atomic_store(&D->stopping, true);
	call(1, 9, "sys.ping", NULL, &rp);
	expect_error(&rp, STRATA_EUNAVAILABLE, NULL);
	proto_reply_clear(&rp);
}

/* ---- malformed requests ----------------------------------------------------- */

static void expect_bad_request_bytes(const void *buf, size_t len, const char *what)
{
	struct raw_reply r = dispatch_raw(buf, len);
	struct proto_reply rp;
	decode_reply(&r, &rp);
	free(r.buf);
	cr_assert_not(rp.ok, "%s: accepted", what);
	cr_assert_eq(rp.err, STRATA_EBAD_REQUEST, "%s: %s", what, strata_err_name(rp.err));
	cr_assert_neq(rp.message[0], '\0', "%s: no message", what);
	proto_reply_clear(&rp);
}

Test(dispatch, malformed_requests_get_bad_request)
{
	static const uint8_t junk[] = {0xc1, 0xff, 0x00, 0x13, 0x37};
	expect_bad_request_bytes(junk, sizeof(junk), "junk bytes");
	expect_bad_request_bytes("", 0, "empty request");
	expect_bad_request_bytes("{\"op\":\"sys.ping\"}", 17, "JSON instead of msgpack");

	/* A well-formed msgpack value that is not a map. */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);
	expect_bad_request_bytes(sb.data, sb.size, "array");
	msgpack_sbuffer_clear(&sb);

	/* A map without "op". */
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 5);
	msgpack_pack_str_with_body(&pk, "client", 6);
	msgpack_pack_uint64(&pk, 9);
	struct raw_reply r = dispatch_raw(sb.data, sb.size);
	struct proto_reply rp;
	decode_reply(&r, &rp);
	free(r.buf);
	expect_error(&rp, STRATA_EBAD_REQUEST, "op");
	proto_reply_clear(&rp);
	msgpack_sbuffer_destroy(&sb);

	/* Every truncation of a valid request, and every single-byte change. */
	size_t len;
	uint8_t *req = build_req(3, 42, "events.replay", "{\"family\": \"lsm\", \"after\": 3}", &len);
	for (size_t cut = 0; cut < len; cut++) {
		char what[96];
		snprintf(what, sizeof(what), "request cut to %zu of %zu bytes", cut, len);
		uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees over-reads */
		memcpy(copy, req, cut);
		expect_bad_request_bytes(copy, cut, what);
		free(copy);
	}
	for (size_t i = 0; i < len; i++) {
		for (int k = 0; k < 4; k++) {
			static const uint8_t vals[] = {0x00, 0xff, 0xc1, 0xdf};
			uint8_t *copy = malloc(len);
			memcpy(copy, req, len);
			copy[i] = vals[k];
			/* Any reply is fine (some changes keep it valid): it must decode. */
			struct raw_reply rr = dispatch_raw(copy, len);
			struct proto_reply any;
			decode_reply(&rr, &any);
			proto_reply_clear(&any);
			free(rr.buf);
			free(copy);
		}
	}
	free(req);

	/* The undecodable request's reply carries id 0. */
	r = dispatch_raw(junk, sizeof(junk));
	decode_reply(&r, &rp);
	free(r.buf);
	cr_assert_eq(rp.id, 0u);
	proto_reply_clear(&rp);
}

Test(dispatch, random_bytes_never_crash)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int n = 0; n < 3000; n++) {
		size_t len = (size_t)(n % 97);
		uint8_t *buf = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++) {
			x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
			buf[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
		}
		if (len && n % 3 == 0)
			buf[0] = (uint8_t)(0x80 | (len % 16)); /* a fixmap: decoding goes deeper */
		struct raw_reply r = dispatch_raw(buf, len);
		struct proto_reply rp;
		decode_reply(&r, &rp);
		cr_assert_not(rp.ok && n % 3 != 0 && len < 4, "random bytes accepted");
		proto_reply_clear(&rp);
		free(r.buf);
		free(buf);
	}
}

/* ---- retries of mutating ops (dedup through dispatch) ------------------------ */

/*
 * io.reset is a mutating op that needs no storage: it zeroes the I/O
 * counters. Setting a counter before a retry shows whether the op ran again.
 */
Test(dispatch, retried_mutating_op_runs_once)
{
	const struct op_def *op = dispatch_find("io.reset");
	cr_assert_not_null(op);
	cr_assert(op->mutating);

	size_t len;
	void *req = build_req(1001, 5, "io.reset", NULL, &len);
	stat_set(&core_stats()->io.reads, 42);
	struct raw_reply first = dispatch_raw(req, len);
	cr_assert_eq(stat_get(&core_stats()->io.reads), 0u, "the op did not run");

	stat_set(&core_stats()->io.reads, 42);
	struct raw_reply again = dispatch_raw(req, len);
	cr_assert_eq(stat_get(&core_stats()->io.reads), 42u, "a retry ran the op again");
	cr_assert_eq(again.len, first.len);
	cr_assert_arr_eq(again.buf, first.buf, first.len, "a retry got another reply");
	free(again.buf);
	free(req);

	/* Another client with the same id is another request. */
	req = build_req(1002, 5, "io.reset", NULL, &len);
	struct raw_reply other = dispatch_raw(req, len);
	cr_assert_eq(stat_get(&core_stats()->io.reads), 0u, "client 1002's request did not run");
	free(other.buf);
	free(req);

	/* So is the same client with a new id. */
	stat_set(&core_stats()->io.reads, 42);
	struct proto_reply rp;
	call(1001, 6, "io.reset", NULL, &rp);
	expect_ok(&rp, "io.reset id 6");
	cr_assert_eq(stat_get(&core_stats()->io.reads), 0u);
	proto_reply_clear(&rp);

	/* Non-mutating ops are not remembered: a repeated id just runs. */
	call(1001, 5, "sys.ping", NULL, &rp);
	expect_ok(&rp, "sys.ping reusing a mutating op's id");
	proto_reply_clear(&rp);
	free(first.buf);
}

/* ---- events.replay ---------------------------------------------------------- */

static void append_lsm(uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s <= to; s++) {
		struct strata_event ev = {.variant = STRATA_EV_MemtableFlushed,
					  .family = STRATA_FAM_LSM,
					  .ts_us = 1700000000000000ll + (int64_t)s};
		snprintf(ev.u.MemtableFlushed.tree_name, STRATA_EV_STR_MAX, "tree-%llu",
			 (unsigned long long)s);
		ev.u.MemtableFlushed.entries = s * 10;
		ev.u.MemtableFlushed.size_bytes = s;
		ev.u.MemtableFlushed.timestamp = 1700000000;
		replay_append(D->replay, STRATA_FAM_LSM, s, &ev);
	}
}

/* Checks a replay result: events with seqs first..last in order. */
static void expect_events(const json_t *res, uint64_t first, uint64_t last, bool gap,
			  uint64_t last_seq)
{
	cr_assert_eq((uint64_t)jint(res, "epoch"), TEST_EPOCH);
	cr_assert_eq((uint64_t)jint(res, "last_seq"), last_seq);
	cr_assert_eq(jbool(res, "gap"), gap, "gap is %d, expected %d", jbool(res, "gap"), gap);
	json_t *evs = json_object_get(res, "events");
	cr_assert(json_is_array(evs));
	size_t want = last >= first ? (size_t)(last - first + 1) : 0;
	cr_assert_eq(json_array_size(evs), want, "%zu events, expected %zu", json_array_size(evs),
		     want);
	for (size_t i = 0; i < want; i++) {
		json_t *e = json_array_get(evs, i);
		uint64_t seq = first + i;
		cr_assert_eq((uint64_t)jint(e, "seq"), seq);
		cr_assert_eq((uint64_t)jint(e, "epoch"), TEST_EPOCH);
		cr_assert_str_eq(json_string_value(json_object_get(e, "message_type")), "lsm_event");
		json_t *mf = json_object_get(json_object_get(e, "data"), "MemtableFlushed");
		cr_assert(json_is_object(mf), "event %llu is not a MemtableFlushed",
			  (unsigned long long)seq);
		cr_assert_eq((uint64_t)jint(mf, "entries"), seq * 10, "event %llu holds another's data",
			     (unsigned long long)seq);
	}
}

static void replay(const char *args, struct proto_reply *rp)
{
	static uint64_t id = 100;
	call(7, id++, "events.replay", args, rp);
}

Test(dispatch, replay_without_gap)
{
	struct proto_reply rp;
	/* Nothing published yet. */
	replay("{\"family\": \"lsm\", \"after\": 0}", &rp);
	expect_ok(&rp, "empty replay");
	expect_events(rp.result, 1, 0, false, 0);
	cr_assert_str_eq(json_string_value(json_object_get(rp.result, "family")), "lsm");
	cr_assert_not(jbool(rp.result, "epoch_changed"));
	proto_reply_clear(&rp);

	append_lsm(1, 5); /* fits the ring of 8 */
	replay("{\"family\": \"lsm\", \"after\": 0}", &rp);
	expect_ok(&rp, "replay 1..5");
	expect_events(rp.result, 1, 5, false, 5);
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": 3}", &rp);
	expect_ok(&rp, "replay after 3");
	expect_events(rp.result, 4, 5, false, 5);
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": 5}", &rp);
	expect_ok(&rp, "replay after the last");
	expect_events(rp.result, 6, 5, false, 5);
	proto_reply_clear(&rp);

	/* "after" may be left out (0). */
	replay("{\"family\": \"lsm\"}", &rp);
	expect_ok(&rp, "replay without after");
	expect_events(rp.result, 1, 5, false, 5);
	proto_reply_clear(&rp);

	/* Another family has its own (empty) stream. */
	replay("{\"family\": \"io\", \"after\": 0}", &rp);
	expect_ok(&rp, "io replay");
	cr_assert_eq(jint(rp.result, "last_seq"), 0);
	cr_assert_eq(json_array_size(json_object_get(rp.result, "events")), 0u);
	proto_reply_clear(&rp);
}

Test(dispatch, replay_with_gap_when_the_ring_wrapped)
{
	struct proto_reply rp;
	append_lsm(1, 20); /* ring of 8: 13..20 remain */

	replay("{\"family\": \"lsm\", \"after\": 0}", &rp);
	expect_ok(&rp, "replay after 0");
	expect_events(rp.result, 13, 20, true, 20);
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": 11}", &rp); /* 12 is gone */
	expect_ok(&rp, "replay after 11");
	expect_events(rp.result, 13, 20, true, 20);
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": 12}", &rp); /* 13 is the oldest kept: no gap */
	expect_ok(&rp, "replay after 12");
	expect_events(rp.result, 13, 20, false, 20);
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": 16}", &rp);
	expect_ok(&rp, "replay after 16");
	expect_events(rp.result, 17, 20, false, 20);
	proto_reply_clear(&rp);

	/* limit pages through: the next page starts after the last seq seen. */
	replay("{\"family\": \"lsm\", \"after\": 12, \"limit\": 3}", &rp);
	expect_ok(&rp, "replay limit 3");
	expect_events(rp.result, 13, 15, false, 20);
	proto_reply_clear(&rp);
	replay("{\"family\": \"lsm\", \"after\": 15, \"limit\": 3}", &rp);
	expect_ok(&rp, "replay limit 3, page 2");
	expect_events(rp.result, 16, 18, false, 20);
	proto_reply_clear(&rp);
	replay("{\"family\": \"lsm\", \"after\": 0, \"limit\": 2}", &rp);
	expect_ok(&rp, "replay limit 2 with a gap");
	expect_events(rp.result, 13, 14, true, 20);
	proto_reply_clear(&rp);
}

Test(dispatch, replay_epoch_and_family_names)
{
	struct proto_reply rp;
	append_lsm(1, 20);
	char args[160];

	/* The current epoch: as if none was given. */
	snprintf(args, sizeof(args), "{\"family\": \"lsm\", \"after\": 16, \"epoch\": %llu}",
		 (unsigned long long)TEST_EPOCH);
	replay(args, &rp);
	expect_ok(&rp, "same epoch");
	cr_assert_not(jbool(rp.result, "epoch_changed"));
	expect_events(rp.result, 17, 20, false, 20);
	proto_reply_clear(&rp);

	/* Another epoch: the client's seq means nothing here; everything kept,
	 * flagged as a gap. */
	snprintf(args, sizeof(args), "{\"family\": \"lsm\", \"after\": 16, \"epoch\": %llu}",
		 (unsigned long long)TEST_EPOCH + 1);
	replay(args, &rp);
	expect_ok(&rp, "other epoch");
	cr_assert(jbool(rp.result, "epoch_changed"));
	expect_events(rp.result, 13, 20, true, 20);
	proto_reply_clear(&rp);

	/* Another epoch before anything wrapped: still epoch_changed and gap. */
	replay_destroy(D->replay);
	cr_assert_eq(replay_create(&D->replay, REPLAY_SLOTS), 0);
	append_lsm(1, 3);
	snprintf(args, sizeof(args), "{\"family\": \"lsm\", \"after\": 2, \"epoch\": 12345}");
	replay(args, &rp);
	expect_ok(&rp, "other epoch, no wrap");
	cr_assert(jbool(rp.result, "epoch_changed"));
	expect_events(rp.result, 1, 3, true, 3);
	proto_reply_clear(&rp);

	/* Every spelling of the family. */
	static const char *const names[] = {"lsm", "LSM", "storage.lsm", "lsm_event"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(args, sizeof(args), "{\"family\": \"%s\", \"after\": 1}", names[i]);
		replay(args, &rp);
		expect_ok(&rp, names[i]);
		expect_events(rp.result, 2, 3, false, 3);
		proto_reply_clear(&rp);
	}
}

Test(dispatch, replay_bad_arguments)
{
	struct proto_reply rp;
	replay("{\"family\": \"nope\"}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "family");
	cr_assert_not_null(strstr(rp.message, "nope"), "%s", rp.message);
	proto_reply_clear(&rp);

	replay(NULL, &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'family' is required");
	proto_reply_clear(&rp);

	replay("{\"family\": 3}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'family'");
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": -1}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'after'");
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"after\": \"7\"}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'after'");
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"limit\": 0}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'limit'");
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"limit\": 10001}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'limit'");
	proto_reply_clear(&rp);

	replay("{\"family\": \"lsm\", \"epoch\": true}", &rp);
	expect_error(&rp, STRATA_EBAD_REQUEST, "'epoch'");
	proto_reply_clear(&rp);
}

/* ---- the reply size limit ----------------------------------------------------- */

Test(dispatch, reply_over_max_msg_is_too_large)
{
	struct proto_reply rp;
	/* A small reply fits a small limit. */
	D->max_msg = 64;
	call(1, 12, "sys.ping", NULL, &rp);
	expect_ok(&rp, "sys.ping under a 64-byte limit");
	proto_reply_clear(&rp);

	/* A replay of many events goes over; a smaller page fits. */
	append_lsm(1, REPLAY_SLOTS);
	D->max_msg = 1024;
	replay("{\"family\": \"lsm\", \"after\": 0}", &rp);
	expect_error(&rp, STRATA_ETOO_LARGE, "1024-byte");
	proto_reply_clear(&rp);
	replay("{\"family\": \"lsm\", \"after\": 0, \"limit\": 2}", &rp);
	expect_ok(&rp, "a replay page under the limit");
	expect_events(rp.result, 1, 2, false, REPLAY_SLOTS);
	proto_reply_clear(&rp);
}

/* The reply size is checked exactly: a reply of max_msg bytes passes, one
 * byte less of limit refuses it. */
Test(dispatch, too_large_boundary)
{
	size_t len;
	void *req = build_req(1, 13, "sys.ping", NULL, &len);
	D->max_msg = IPC_DEFAULT_MAX_MSG;
	struct raw_reply r = dispatch_raw(req, len);
	size_t size = r.len;
	free(r.buf);

	D->max_msg = size;
	r = dispatch_raw(req, len);
	struct proto_reply rp;
	decode_reply(&r, &rp);
	cr_assert(rp.ok, "a reply of exactly max_msg bytes was refused");
	cr_assert_eq(r.len, size);
	proto_reply_clear(&rp);
	free(r.buf);

	D->max_msg = size - 1;
	r = dispatch_raw(req, len);
	decode_reply(&r, &rp);
	expect_error(&rp, STRATA_ETOO_LARGE, NULL);
	proto_reply_clear(&rp);
	free(r.buf);
	free(req);
}

/* ---- dedup directly ------------------------------------------------------------- */

static struct dedup *new_dedup(void)
{
	struct dedup *d = NULL;
	cr_assert_eq(dedup_create(&d), 0);
	return d;
}

Test(dedup, first_reply_is_kept)
{
	struct dedup *d = new_dedup();
	void *reply = NULL;
	size_t len = 0;

	cr_assert_eq(dedup_begin(d, 1, 7, &reply, &len), 0, "first claim must run the op");
	dedup_finish(d, 1, 7, "first reply", 11);

	for (int i = 0; i < 2; i++) {
		reply = NULL;
		cr_assert_eq(dedup_begin(d, 1, 7, &reply, &len), 1, "retry %d would run the op", i);
		cr_assert_eq(len, 11u);
		cr_assert_arr_eq(reply, "first reply", 11);
		free(reply);
	}

	/* Same id, other client: independent. Same client, other id: too. */
	cr_assert_eq(dedup_begin(d, 2, 7, &reply, &len), 0);
	dedup_finish(d, 2, 7, "client two", 10);
	cr_assert_eq(dedup_begin(d, 1, 8, &reply, &len), 0);
	dedup_finish(d, 1, 8, "", 0);

	cr_assert_eq(dedup_begin(d, 1, 7, &reply, &len), 1);
	cr_assert_arr_eq(reply, "first reply", 11);
	free(reply);
	cr_assert_eq(dedup_begin(d, 2, 7, &reply, &len), 1);
	cr_assert_eq(len, 10u);
	cr_assert_arr_eq(reply, "client two", 10);
	free(reply);
	/* No reply (len 0: the op produced none) is not remembered: a retry
	 * runs the op again rather than getting an empty message. */
	reply = NULL;
	cr_assert_eq(dedup_begin(d, 1, 8, &reply, &len), 0);
	dedup_finish(d, 1, 8, "second try", 10);
	cr_assert_eq(dedup_begin(d, 1, 8, &reply, &len), 1);
	cr_assert_arr_eq(reply, "second try", 10);
	free(reply);

	/* Extreme ids. */
	cr_assert_eq(dedup_begin(d, UINT64_MAX, UINT64_MAX, &reply, &len), 0);
	dedup_finish(d, UINT64_MAX, UINT64_MAX, "max", 3);
	cr_assert_eq(dedup_begin(d, 0, 0, &reply, &len), 0);
	dedup_finish(d, 0, 0, "zero", 4);
	cr_assert_eq(dedup_begin(d, UINT64_MAX, UINT64_MAX, &reply, &len), 1);
	cr_assert_arr_eq(reply, "max", 3);
	free(reply);

	/* dedup_finish of something never claimed records nothing. */
	dedup_finish(d, 99, 99, "stray", 5);
	cr_assert_eq(dedup_begin(d, 99, 99, &reply, &len), 0);
	dedup_finish(d, 99, 99, "real", 4);
	cr_assert_eq(dedup_begin(d, 99, 99, &reply, &len), 1);
	cr_assert_arr_eq(reply, "real", 4);
	free(reply);
	dedup_destroy(d);
}

struct waiter {
	struct dedup *d;
	uint64_t client, id;
	int rv;
	void *reply;
	size_t len;
	_Atomic int done;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->rv = dedup_begin(w->d, w->client, w->id, &w->reply, &w->len);
	atomic_store(&w->done, 1);
	return NULL;
}

static bool wait_flag(_Atomic int *flag, int ms)
{
	nng_time deadline = nng_clock() + (nng_time)ms;
	while (!atomic_load(flag)) {
		if (nng_clock() >= deadline)
			return false;
		nng_msleep(2);
	}
	return true;
}

Test(dedup, concurrent_repeat_waits_for_the_first)
{
	struct dedup *d = new_dedup();
	void *reply;
	size_t len;
	cr_assert_eq(dedup_begin(d, 5, 50, &reply, &len), 0); /* the op "runs" here */

	struct waiter w[3];
	pthread_t th[3];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 3; i++) {
		w[i].d = d;
		w[i].client = 5;
		w[i].id = 50;
		cr_assert_eq(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
	}
	/* An unrelated request is not held up meanwhile. */
	cr_assert_eq(dedup_begin(d, 5, 51, &reply, &len), 0);
	dedup_finish(d, 5, 51, "x", 1);

	nng_msleep(150);
	for (int i = 0; i < 3; i++)
		cr_assert_not(atomic_load(&w[i].done), "repeat %d did not wait for the first", i);

	dedup_finish(d, 5, 50, "the reply", 9);
	for (int i = 0; i < 3; i++) {
		cr_assert(wait_flag(&w[i].done, 3000), "repeat %d never woke up", i);
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].rv, 1, "repeat %d would run the op again", i);
		cr_assert_eq(w[i].len, 9u);
		cr_assert_arr_eq(w[i].reply, "the reply", 9);
		free(w[i].reply);
	}
	dedup_destroy(d);
}

/* Many threads retrying the same few requests: each runs exactly once and
 * every retry gets the reply of the run. */
struct storm {
	struct dedup *d;
	_Atomic int runs[8];
	_Atomic int mismatches;
	int thread;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;
	for (int round = 0; round < 2000; round++) {
		uint64_t id = (uint64_t)(round % 8);
		void *reply = NULL;
		size_t len = 0;
		int rv = dedup_begin(s->d, 77, id, &reply, &len);
		if (rv == 0) {
			atomic_fetch_add(&s->runs[id], 1);
			char buf[32];
			int n = snprintf(buf, sizeof(buf), "reply-%llu", (unsigned long long)id);
			dedup_finish(s->d, 77, id, buf, (size_t)n);
		} else {
			char want[32];
			int n = snprintf(want, sizeof(want), "reply-%llu", (unsigned long long)id);
			if (rv != 1 || len != (size_t)n || memcmp(reply, want, len) != 0)
				atomic_fetch_add(&s->mismatches, 1);
			free(reply);
		}
	}
	return NULL;
}

Test(dedup, retry_storm_runs_each_once)
{
	struct storm s = {.d = new_dedup()};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, storm_main, &s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(atomic_load(&s.runs[i]), 1, "request %d ran %d times", i,
			     atomic_load(&s.runs[i]));
	cr_assert_eq(atomic_load(&s.mismatches), 0);
	dedup_destroy(s.d);
}

Test(dedup, eviction_after_dedup_slots_newer_entries)
{
	struct dedup *d = new_dedup();
	void *reply;
	size_t len;
	cr_assert_eq(dedup_begin(d, 1, 1, &reply, &len), 0);
	dedup_finish(d, 1, 1, "old", 3);

	/* DEDUP_SLOTS - 1 newer entries: the old one is still known. */
	for (uint64_t i = 0; i < DEDUP_SLOTS - 1; i++) {
		cr_assert_eq(dedup_begin(d, 2, i, &reply, &len), 0);
		dedup_finish(d, 2, i, "n", 1);
	}
	cr_assert_eq(dedup_begin(d, 1, 1, &reply, &len), 1, "evicted too early");
	cr_assert_arr_eq(reply, "old", 3);
	free(reply);

	/* One more: it takes the old one's slot. */
	cr_assert_eq(dedup_begin(d, 2, DEDUP_SLOTS, &reply, &len), 0);
	dedup_finish(d, 2, DEDUP_SLOTS, "n", 1);
	cr_assert_eq(dedup_begin(d, 1, 1, &reply, &len), 0, "not evicted after DEDUP_SLOTS newer");
	dedup_finish(d, 1, 1, "new", 3);
	cr_assert_eq(dedup_begin(d, 1, 1, &reply, &len), 1);
	cr_assert_arr_eq(reply, "new", 3);
	free(reply);

	/* The newest entries survived that: (2, 1) was evicted by (1, 1)'s
	 * re-claim, (2, 2) not yet. */
	cr_assert_eq(dedup_begin(d, 2, 2, &reply, &len), 1);
	free(reply);
	cr_assert_eq(dedup_begin(d, 2, DEDUP_SLOTS, &reply, &len), 1);
	free(reply);
	dedup_destroy(d);
}

/*
 * A request that is still running is never evicted; the requests after it
 * must still be remembered. (Bug: dedup_begin only ever tries the slot at
 * `oldest`; when that entry is RUNNING it records nothing and does not
 * advance, so one slow mutating op — a long migration — turns dedup off for
 * every other request until it finishes, and their retries run twice.)
 */
Test(dedup, running_entry_does_not_stop_recording)
{
	struct dedup *d = new_dedup();
	void *reply;
	size_t len;
	cr_assert_eq(dedup_begin(d, 9, 9, &reply, &len), 0); /* slow op, still running */

	for (uint64_t i = 0; i < DEDUP_SLOTS - 1; i++) {
		cr_assert_eq(dedup_begin(d, 3, i, &reply, &len), 0);
		dedup_finish(d, 3, i, "n", 1);
	}
	/* The table has DEDUP_SLOTS - 1 finished entries it may evict. */
	cr_assert_eq(dedup_begin(d, 4, 1, &reply, &len), 0);
	dedup_finish(d, 4, 1, "four", 4);
	reply = NULL;
	int rv = dedup_begin(d, 4, 1, &reply, &len);
	cr_expect_eq(rv, 1, "a request made while an old one runs was not remembered: "
			    "its retry would run again");
	if (rv == 1)
		free(reply);
	else
		dedup_finish(d, 4, 1, "four", 4);

	/* The slow op finishes; a retry of it gets its reply. */
	dedup_finish(d, 9, 9, "slow", 4);
	cr_assert_eq(dedup_begin(d, 9, 9, &reply, &len), 1);
	cr_assert_arr_eq(reply, "slow", 4);
	free(reply);
	dedup_destroy(d);
}
