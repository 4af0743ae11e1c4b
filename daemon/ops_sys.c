/*
 * daemon/ops_sys.c — sys.* and events.* ops.
 */
#include <jansson.h>
#include <isa-l.h>
#include <lz4.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "core/clock.h"
#include "core/stats.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/replay.h"
#include "daemon/storage.h"
#include "daemon/stratad.h"
#include "proto/event_codec.h"
#include "strata/error.h"
#include "strata/version.h"

static json_t *library_versions(void)
{
	char isal[32];
	snprintf(isal, sizeof(isal), "%d.%d.%d", ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION,
		 ISAL_PATCH_VERSION);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			 "nng", nng_version(),
			 "msgpack", msgpack_version(),
			 "jansson", JANSSON_VERSION,
			 "zstd", ZSTD_versionString(),
			 "lz4", LZ4_versionString(),
			 /* liburing 2.3 has no version call: pkg-config's, at build time */
			 "liburing", STRATA_LIBURING_VERSION,
			 "isal", isal);
}

static int op_status(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	int64_t now = clock_wall_us();
	const struct shm_header *h = d->shm.data_hdr;
	json_t *r = json_pack("{s:I, s:I, s:f, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:o}",
			      "pid", (json_int_t)getpid(),
			      "epoch", (json_int_t)d->epoch,
			      "uptime_s", (double)(now - d->start_us) / 1e6,
			      "started_at", (json_int_t)(d->start_us / 1000000),
			      "data_dir", d->data_dir,
			      "page_size", (json_int_t)h->page_size,
			      "frame_count", (json_int_t)h->frame_count,
			      "ctl", d->opt.ctl_url,
			      "events", d->opt.events_url,
			      "version", STRATA_VERSION,
			      "stats_interval_ms", (json_int_t)d->opt.stats_interval_ms,
			      "libraries", library_versions());
	if (!r)
		return STRATA_ENOMEM;
	const struct ps_recovery *rec = storage_recovery(d->storage);
	json_object_set_new(r, "buffer_pool", buffer_stats_json(d));
	json_object_set_new(r, "io", io_stats_json(d));
	json_object_set_new(r, "recovery",
			    json_pack("{s:I, s:I, s:I, s:I}", "records_replayed",
				      (json_int_t)rec->records_replayed, "pages_verified",
				      (json_int_t)rec->pages_verified, "pages_corrupt",
				      (json_int_t)rec->pages_corrupt, "duration_us",
				      (json_int_t)rec->duration_us));
	/* What event emission did and did not send, per family: sampling and
	 * rate limits count what they held back. */
	json_t *ev = json_object();
	struct shm_stats *st = core_stats();
	for (int f = 0; ev && f < STRATA_FAM_COUNT; f++)
		json_object_set_new(ev, ev_family_path((enum strata_ev_family)f),
				    json_pack("{s:I, s:I, s:I, s:I, s:I}",
					      "emitted", (json_int_t)stat_get(&st->events.emitted[f]),
					      "published", (json_int_t)stat_get(&st->events.published[f]),
					      "dropped", (json_int_t)stat_get(&st->events.dropped[f]),
					      "sampled_out", (json_int_t)stat_get(&st->events.sampled_out[f]),
					      "rate_limited", (json_int_t)stat_get(&st->events.rate_limited[f])));
	json_object_set_new(r, "event_counts", ev);
	*result = r;
	return 0;
}

static int op_ping(struct stratad *d, const json_t *args, json_t **result, char *msg,
		   size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*result = json_pack("{s:b, s:I}", "pong", 1, "epoch", (json_int_t)d->epoch);
	return *result ? 0 : STRATA_ENOMEM;
}

/* Test-only: holds a worker for a while, to show other requests go on. */
static int op_sleep(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	(void)d;
	uint64_t ms;
	int rv = arg_u64(args, "ms", true, 0, 0, 10000, &ms, msg, msglen);
	if (rv)
		return rv;
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
	*result = json_pack("{s:I}", "slept_ms", (json_int_t)ms);
	return *result ? 0 : STRATA_ENOMEM;
}

const struct op_def ops_sys[] = {
	{"sys.status", op_status, false, false},
	{"sys.ping", op_ping, false, false},
	{"debug.sleep", op_sleep, false, true},
	{0},
};

/*
 * events.replay {"family": "buffer-pool" | "storage.buffer_pool" |
 * "buffer_pool_event", "after": SEQ, "epoch": E?, "limit": N?}
 * -> {"epoch", "family", "last_seq", "gap", "epoch_changed", "events": [...]}
 */
static int op_replay(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	const char *fname;
	uint64_t after, epoch, limit;
	int rv;
	if ((rv = arg_str(args, "family", true, NULL, 64, &fname, msg, msglen)) ||
	    (rv = arg_u64(args, "after", false, 0, 0, UINT64_MAX, &after, msg, msglen)) ||
	    (rv = arg_u64(args, "epoch", false, 0, 0, UINT64_MAX, &epoch, msg, msglen)) ||
	    (rv = arg_u64(args, "limit", false, 1000, 1, 10000, &limit, msg, msglen)))
		return rv;
	int fam = ev_family_from_path(fname);
	if (fam < 0)
		fam = ev_family_from_topic(fname, strlen(fname));
	if (fam < 0)
		fam = ev_family_from_message_type(fname);
	if (fam < 0) {
		snprintf(msg, msglen, "field 'family': unknown family '%s'", fname);
		return STRATA_EBAD_REQUEST;
	}
	bool epoch_changed = epoch != 0 && epoch != d->epoch;
	if (epoch_changed)
		after = 0; /* the client's seqs belong to another run */

	struct strata_event *evs = malloc(limit * sizeof(*evs));
	uint64_t *seqs = malloc(limit * sizeof(*seqs));
	json_t *list = json_array();
	if (!evs || !seqs || !list) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	bool gap;
	uint64_t last;
	size_t n = replay_read(d->replay, (enum strata_ev_family)fam, after, limit, evs, seqs,
			       &gap, &last);
	for (size_t i = 0; i < n; i++) {
		struct ev_live live = {.epoch = d->epoch, .seq = seqs[i]};
		json_t *j = ev_to_json(&evs[i], &live);
		if (!j || json_array_append_new(list, j) != 0) {
			rv = STRATA_ENOMEM;
			goto out;
		}
	}
	*result = json_pack("{s:I, s:s, s:I, s:b, s:b, s:O}",
			    "epoch", (json_int_t)d->epoch,
			    "family", ev_family_path((enum strata_ev_family)fam),
			    "last_seq", (json_int_t)last,
			    "gap", gap || epoch_changed,
			    "epoch_changed", epoch_changed,
			    "events", list);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	json_decref(list);
	free(evs);
	free(seqs);
	return rv;
}

const struct op_def ops_events[] = {
	{"events.replay", op_replay, false, false},
	{0},
};
