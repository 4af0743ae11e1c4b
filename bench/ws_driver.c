/*
 * bench/ws_driver.c — makes real buffer-pool events for the WebSocket
 * benchmark (bench/ws.sh, bench/README-ws.md).
 *
 * It talks to stratad's control endpoint directly (nng REQ, the same
 * msgpack envelopes as the CLI) and calls io.vectored_read (include_data
 * false: the pages are read, only their ids and lsns come back) on pages that are
 * resident in the buffer pool. With stratad started as
 * `--sample-every 1 --rare-limit 0` every page read emits PageHit,
 * PagePinned and PageUnpinned (family buffer-pool): 3 events per page.
 *
 *   ws_driver --ctl URL --alloc N
 *       allocates N pages (pages.alloc, sync=false); prints the id range.
 *   ws_driver --ctl URL --first ID --pages N --rate EV_PER_S --duration-s S
 *             [--tick-us 1000] [--events-per-page 3]
 *       reads pages ID..ID+N-1 round-robin, paced so that the events
 *       emitted follow rate (checked every tick: the pages due so far are
 *       read in one call of at most 256 ids). Prints one JSON line:
 *       calls, pages read, events caused, elapsed, achieved event rate and
 *       the slowest call.
 *
 * The reply (each page base64-encoded) is checked for "ok" with a zero-copy
 * msgpack walk, not decoded into JSON: the driver should cost little CPU.
 */
#include <errno.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "proto/msg.h"
#include "strata/error.h"

#define MAX_IDS 256

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until(int64_t t_us)
{
	int64_t d = t_us - now_us();
	if (d <= 0)
		return;
	struct timespec ts = {.tv_sec = d / 1000000, .tv_nsec = (d % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t g_client, g_id;

/* Sends op(args) and waits; on success (*reply, *len) is the raw reply. */
static int call_raw(struct ipc_client *c, const char *op, json_t *args, void **reply, size_t *len)
{
	struct proto_request rq = {.id = ++g_id, .client = g_client, .args = args};
	snprintf(rq.op, sizeof(rq.op), "%s", op);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	int rv = proto_request_encode(&rq, &sb);
	if (rv == 0)
		rv = ipc_client_call(c, sb.data, sb.size, 10000, 3000, reply, len);
	msgpack_sbuffer_destroy(&sb);
	if (rv)
		fprintf(stderr, "ws_driver: %s: %s\n", op, strata_strerror(rv));
	return rv;
}

/* Zero-copy check of a reply's "ok" (strings stay in the buffer). */
static bool reply_ok(const void *buf, size_t len)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	bool ok = false;
	if (msgpack_unpack_next(&u, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP) {
		const msgpack_object_map *m = &u.data.via.map;
		for (uint32_t i = 0; i < m->size; i++) {
			const msgpack_object *k = &m->ptr[i].key;
			if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
			    memcmp(k->via.str.ptr, "ok", 2) == 0)
				ok = m->ptr[i].val.type == MSGPACK_OBJECT_BOOLEAN &&
				     m->ptr[i].val.via.boolean;
		}
	}
	msgpack_unpacked_destroy(&u);
	return ok;
}

static int do_alloc(struct ipc_client *c, long n)
{
	uint64_t first = 0, last = 0;
	for (long i = 0; i < n; i++) {
		json_t *args = json_pack("{s:b}", "sync", 0);
		void *reply = NULL;
		size_t len = 0;
		int rv = args ? call_raw(c, "pages.alloc", args, &reply, &len) : STRATA_ENOMEM;
		json_decref(args);
		if (rv)
			return 1;
		struct proto_reply rp = {0};
		struct proto_err perr = {{0}};
		rv = proto_reply_decode(reply, len, &rp, &perr);
		free(reply);
		if (rv || !rp.ok) {
			fprintf(stderr, "ws_driver: pages.alloc failed: %s\n", rv ? perr.msg : rp.message);
			proto_reply_clear(&rp);
			return 1;
		}
		uint64_t id = (uint64_t)json_integer_value(json_object_get(rp.result, "page_id"));
		proto_reply_clear(&rp);
		if (!first)
			first = id;
		last = id;
	}
	printf("{\"first\":%llu,\"last\":%llu}\n", (unsigned long long)first, (unsigned long long)last);
	return 0;
}

static int do_drive(struct ipc_client *c, uint64_t first, long npages, double rate, double dur_s,
		    long tick_us, int ev_per_page)
{
	double pages_per_us = rate / ev_per_page / 1e6;
	long long pages_done = 0, calls = 0, failed = 0;
	int64_t max_call = 0;
	uint64_t next = 0;
	int64_t t0 = now_us(), end = t0 + (int64_t)(dur_s * 1e6);
	for (int64_t tick = t0;; tick += tick_us) {
		int64_t t = now_us();
		if (t >= end)
			break;
		long long due = (long long)((double)(t - t0) * pages_per_us) - pages_done;
		while (due > 0 && now_us() < end) {
			long k = due > MAX_IDS ? MAX_IDS : (long)due;
			json_t *ids = json_array();
			for (long i = 0; ids && i < k; i++) {
				json_array_append_new(ids, json_integer((json_int_t)(first + next)));
				next = (next + 1) % (uint64_t)npages;
			}
			json_t *args = json_pack("{s:o, s:b}", "page_ids", ids, "include_data", 0);
			void *reply = NULL;
			size_t len = 0;
			int64_t c0 = now_us();
			int rv = args ? call_raw(c, "io.vectored_read", args, &reply, &len) : STRATA_ENOMEM;
			int64_t dt = now_us() - c0;
			json_decref(args);
			if (dt > max_call)
				max_call = dt;
			calls++;
			if (rv || !reply_ok(reply, len)) {
				failed++;
				free(reply);
				if (failed > 10) {
					fprintf(stderr, "ws_driver: too many failed calls\n");
					return 1;
				}
				break;
			}
			free(reply);
			pages_done += k;
			due -= k;
		}
		if (tick + tick_us > now_us())
			sleep_until(tick + tick_us);
		else
			tick = now_us() - tick_us; /* behind: do not try to catch up a burst of ticks */
	}
	double el = (double)(now_us() - t0) / 1e6;
	printf("{\"target_ev_s\":%.0f,\"calls\":%lld,\"failed\":%lld,\"pages\":%lld,\"events\":%lld,"
	       "\"elapsed_s\":%.3f,\"achieved_ev_s\":%.0f,\"max_call_us\":%lld}\n",
	       rate, calls, failed, pages_done, pages_done * ev_per_page, el,
	       (double)(pages_done * ev_per_page) / el, (long long)max_call);
	return failed ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ws_driver --ctl URL --alloc N\n"
			"       ws_driver --ctl URL --first ID --pages N --rate EV_PER_S --duration-s S\n"
			"                 [--tick-us 1000] [--events-per-page 3]\n");
}

int main(int argc, char **argv)
{
	const char *ctl = NULL;
	long alloc = 0, npages = 0, tick_us = 1000;
	int ev_per_page = 3;
	uint64_t first = 0;
	double rate = 0, dur = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--ctl"))
			ctl = v;
		else if (!strcmp(a, "--alloc"))
			alloc = atol(v);
		else if (!strcmp(a, "--first"))
			first = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--pages"))
			npages = atol(v);
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--duration-s"))
			dur = atof(v);
		else if (!strcmp(a, "--tick-us"))
			tick_us = atol(v);
		else if (!strcmp(a, "--events-per-page"))
			ev_per_page = atoi(v);
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!ctl || (!alloc && (!first || npages <= 0 || rate <= 0 || dur <= 0 || tick_us <= 0 ||
				ev_per_page <= 0))) {
		usage();
		return 2;
	}
	g_client = ((uint64_t)getpid() << 20 ^ (uint64_t)now_us()) & ((1ull << 53) - 1);
	struct ipc_client *c;
	char err[256];
	if (ipc_client_open(&c, ctl, IPC_DEFAULT_MAX_MSG, err, sizeof(err)) != 0) {
		fprintf(stderr, "ws_driver: %s\n", err);
		return 1;
	}
	int rc = alloc ? do_alloc(c, alloc) : do_drive(c, first, npages, rate, dur, tick_us, ev_per_page);
	ipc_client_close(c);
	return rc;
}
