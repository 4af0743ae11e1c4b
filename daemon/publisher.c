#include "daemon/publisher.h"
#include "daemon/modules.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "core/clock.h"
#include "core/emit.h"
#include "core/stats.h"
#include "daemon/replay.h"
#include "daemon/stratad.h"
#include "ipc/ipc.h"
#include "proto/event_codec.h"
#include "strata/error.h"

#define DRAIN_BATCH 256
#define BUS_BATCH_MAX 64 /* events per bus message, at most */

struct publisher {
	struct stratad *d;
	pthread_t pub_thread, tick_thread;
	bool pub_started, tick_started;
	_Atomic bool stop_tick, stop_pub;
	pthread_mutex_t tick_lock;
	pthread_cond_t tick_cond;
	uint64_t seq[STRATA_FAM_COUNT]; /* publisher thread only */
};

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* Sends k events of one family with consecutive seqs from first as one bus
 * message (a lone event as the plain map form). An event the codec refuses
 * is reported and skipped; its seq stays taken (clients see the gap). */
static void send_group(struct publisher *p, const struct strata_event *const *grp, size_t k,
		       uint64_t first, msgpack_sbuffer *sb)
{
	enum strata_ev_family fam = strata_ev_family_of(grp[0]->variant);
	msgpack_sbuffer_clear(sb);
	int rc = k == 1 ? ev_bus_encode(grp[0], p->d->epoch, first, sb)
			: ev_bus_encode_batch(grp, k, p->d->epoch, first, sb);
	if (rc == 0) {
		if (ipc_pub_send(p->d->pub, sb->data, sb->size) == 0)
			stat_add(&core_stats()->events.published[fam], k);
		return;
	}
	if (k == 1) {
		fprintf(stderr, "stratad: cannot encode event %u\n", grp[0]->variant);
		return;
	}
	for (size_t i = 0; i < k; i++)
		send_group(p, &grp[i], 1, first + i, sb);
}

/*
 * Drains the emit rings, numbers each event in its family (seq), keeps it in
 * the replay ring and publishes. What was drained together goes out as one
 * bus message per family of up to BUS_BATCH_MAX events: nng's cost is per
 * message, so under load the bus carries many events per send.
 */
static size_t publish_batch(struct publisher *p, struct strata_event *batch, msgpack_sbuffer *sb)
{
	size_t n = emit_drain(batch, DRAIN_BATCH);
	uint64_t seqs[DRAIN_BATCH];
	unsigned fams = 0;
	for (size_t i = 0; i < n; i++) {
		struct strata_event *ev = &batch[i];
		enum strata_ev_family fam = (enum strata_ev_family)ev->family;
		seqs[i] = ++p->seq[fam];
		replay_append(p->d->replay, fam, seqs[i], ev);
		fams |= 1u << fam;
	}
	const struct strata_event *grp[BUS_BATCH_MAX];
	for (int fam = 0; fam < STRATA_FAM_COUNT; fam++) {
		if (!(fams & (1u << fam)))
			continue;
		size_t k = 0;
		uint64_t first = 0;
		for (size_t i = 0; i < n; i++) {
			if (batch[i].family != fam)
				continue;
			if (k == 0)
				first = seqs[i];
			grp[k++] = &batch[i];
			if (k == BUS_BATCH_MAX) {
				send_group(p, grp, k, first, sb);
				k = 0;
			}
		}
		if (k)
			send_group(p, grp, k, first, sb);
	}
	return n;
}

static void *publisher_main(void *arg)
{
	struct publisher *p = arg;
	struct strata_event *batch = malloc(DRAIN_BATCH * sizeof(*batch));
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	if (!batch) {
		fprintf(stderr, "stratad: publisher: out of memory\n");
		return NULL;
	}
	for (;;) {
		bool stopping = atomic_load(&p->stop_pub);
		size_t n = publish_batch(p, batch, &sb);
		if (n == 0) {
			if (stopping)
				break; /* everything queued before stop is out */
			sleep_us(500);
		}
	}
	msgpack_sbuffer_destroy(&sb);
	free(batch);
	return NULL;
}

static uint64_t events_dropped_total(const struct shm_stats *s)
{
	uint64_t n = 0;
	for (int f = 0; f < STRATA_FAM_COUNT; f++)
		n += stat_get(&s->events.dropped[f]) + stat_get(&s->events.rate_limited[f]);
	return n;
}

static void emit_pool_stats(struct publisher *p)
{
	struct shm_stats *s = core_stats();
	struct strata_event ev = {.variant = STRATA_EV_PoolStats};
	struct strata_ev_PoolStats *ps = &ev.u.PoolStats;
	uint64_t hits = stat_get(&s->buffer.hits), misses = stat_get(&s->buffer.misses);
	uint64_t total = p->d->shm.data_hdr->frame_count;
	uint64_t used = stat_get(&s->buffer.used_frames);
	ps->hits = hits;
	ps->misses = misses;
	ps->hit_rate = hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
	ps->total_pages = total;
	ps->used_pages = used;
	ps->free_pages = used <= total ? total - used : 0;
	ps->dirty_pages = stat_get(&s->buffer.dirty_frames);
	ps->pinned_pages = stat_get(&s->buffer.pinned_frames);
	ps->evictions = stat_get(&s->buffer.evictions);
	ps->flushes = stat_get(&s->buffer.flushes);
	ps->events_dropped = events_dropped_total(s);
	ev.ts_us = clock_wall_us();
	ps->timestamp = ev.ts_us / 1000000;
	emit(&ev);
}

struct io_prev {
	uint64_t reads, writes, bytes_read, bytes_written, rlat, wlat;
	uint64_t at_us;
};

static void emit_io_stats(struct io_prev *prev)
{
	struct shm_stats *s = core_stats();
	struct strata_event ev = {.variant = STRATA_EV_IoStats};
	struct strata_ev_IoStats *io = &ev.u.IoStats;
	struct io_prev now = {
		.reads = stat_get(&s->io.reads),
		.writes = stat_get(&s->io.writes),
		.bytes_read = stat_get(&s->io.bytes_read),
		.bytes_written = stat_get(&s->io.bytes_written),
		.rlat = stat_get(&s->io.read_latency_us_sum),
		.wlat = stat_get(&s->io.write_latency_us_sum),
		.at_us = clock_mono_us(),
	};
	double secs = (double)(now.at_us - prev->at_us) / 1e6;
	if (secs <= 0)
		secs = 1e-6;
	/* Counters may have been reset (io-stats/reset): clamp deltas at 0. */
#define DELTA(f) (now.f >= prev->f ? now.f - prev->f : now.f)
	uint64_t dr = DELTA(reads), dw = DELTA(writes);
	io->reads_per_sec = (double)dr / secs;
	io->writes_per_sec = (double)dw / secs;
	io->read_throughput_mbps = (double)DELTA(bytes_read) / secs / 1e6;
	io->write_throughput_mbps = (double)DELTA(bytes_written) / secs / 1e6;
	io->avg_read_latency_us = dr ? DELTA(rlat) / dr : 0;
	io->avg_write_latency_us = dw ? DELTA(wlat) / dw : 0;
#undef DELTA
	io->reads = now.reads;
	io->writes = now.writes;
	io->bytes_read = now.bytes_read;
	io->bytes_written = now.bytes_written;
	io->queue_depth = stat_get(&s->io.queue_depth);
	io->events_dropped = events_dropped_total(s);
	ev.ts_us = clock_wall_us();
	io->timestamp = ev.ts_us / 1000000;
	emit(&ev);
	*prev = now;
}

static void *ticker_main(void *arg)
{
	struct publisher *p = arg;
	struct io_prev prev = {.at_us = clock_mono_us()};
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	long interval_ns = (long)p->d->opt.stats_interval_ms * 1000000L;
	pthread_mutex_lock(&p->tick_lock);
	while (!atomic_load(&p->stop_tick)) {
		next.tv_nsec += interval_ns % 1000000000L;
		next.tv_sec += interval_ns / 1000000000L + next.tv_nsec / 1000000000L;
		next.tv_nsec %= 1000000000L;
		while (!atomic_load(&p->stop_tick) &&
		       pthread_cond_timedwait(&p->tick_cond, &p->tick_lock, &next) == 0)
			;
		if (atomic_load(&p->stop_tick))
			break;
		pthread_mutex_unlock(&p->tick_lock);
		emit_pool_stats(p);
		emit_io_stats(&prev);
		modules_tick(p->d);
		pthread_mutex_lock(&p->tick_lock);
	}
	pthread_mutex_unlock(&p->tick_lock);
	return NULL;
}

int publisher_start(struct publisher **out, struct stratad *d)
{
	struct publisher *p = calloc(1, sizeof(*p));
	if (!p)
		return STRATA_ENOMEM;
	p->d = d;
	pthread_mutex_init(&p->tick_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->pub_thread, NULL, publisher_main, p) != 0)
		goto fail;
	p->pub_started = true;
	if (pthread_create(&p->tick_thread, NULL, ticker_main, p) != 0)
		goto fail;
	p->tick_started = true;
	*out = p;
	return 0;
fail:
	publisher_stop(p);
	return STRATA_EINTERNAL;
}

void publisher_stop(struct publisher *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->tick_lock);
	atomic_store(&p->stop_tick, true);
	pthread_cond_broadcast(&p->tick_cond);
	pthread_mutex_unlock(&p->tick_lock);
	if (p->tick_started)
		pthread_join(p->tick_thread, NULL);
	atomic_store(&p->stop_pub, true);
	if (p->pub_started)
		pthread_join(p->pub_thread, NULL);
	pthread_mutex_destroy(&p->tick_lock);
	pthread_cond_destroy(&p->tick_cond);
	free(p);
}
