/*
 * cli/top.c — `strata top`: live figures straight from the stats segment.
 *
 * Maps the segment read-only (shm_attach_stats); it never sees page data
 * and needs no IPC. Rates are deltas between two one-second samples.
 */
#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shm/segment.h"
#include "shm/stats.h"
#include "strata/error.h"

struct sample {
	uint64_t hits, misses, evictions, flushes, used, dirty, pinned;
	uint64_t reads, writes, bytes_read, bytes_written, rlat, wlat, qd, uring;
	uint64_t published, dropped;
};

static void take(const struct shm_stats *s, struct sample *o)
{
	o->hits = stat_get(&s->buffer.hits);
	o->misses = stat_get(&s->buffer.misses);
	o->evictions = stat_get(&s->buffer.evictions);
	o->flushes = stat_get(&s->buffer.flushes);
	o->used = stat_get(&s->buffer.used_frames);
	o->dirty = stat_get(&s->buffer.dirty_frames);
	o->pinned = stat_get(&s->buffer.pinned_frames);
	o->reads = stat_get(&s->io.reads);
	o->writes = stat_get(&s->io.writes);
	o->bytes_read = stat_get(&s->io.bytes_read);
	o->bytes_written = stat_get(&s->io.bytes_written);
	o->rlat = stat_get(&s->io.read_latency_us_sum);
	o->wlat = stat_get(&s->io.write_latency_us_sum);
	o->qd = stat_get(&s->io.queue_depth);
	o->uring = stat_get(&s->io.uring_enabled);
	o->published = o->dropped = 0;
	for (int f = 0; f < STRATA_FAM_COUNT; f++) {
		o->published += stat_get(&s->events.published[f]);
		o->dropped += stat_get(&s->events.dropped[f]);
	}
}

static uint64_t d(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now; /* counters may be reset */
}

int cli_top(struct cli *c, volatile sig_atomic_t *stop)
{
	if (!realpath(c->data_dir, c->data_real)) {
		fprintf(stderr, "strata top: data dir %s: %s\n", c->data_dir, strerror(errno));
		return 3;
	}
	const struct shm_header *h;
	const struct shm_stats *s;
	size_t bytes;
	int rv = shm_attach_stats(c->data_real, &h, &s, &bytes);
	if (rv == STRATA_ENOT_FOUND) {
		fprintf(stderr, "strata top: no stratad is running on %s\n", c->data_real);
		return 3;
	}
	if (rv != 0) {
		fprintf(stderr, "strata top: cannot map the stats segment: %s\n", strata_strerror(rv));
		return 1;
	}
	/* A segment left by a stratad that crashed stays until the next start:
	 * its figures are frozen, so say it is not running. */
	if (kill((pid_t)h->pid, 0) != 0 && errno == ESRCH) {
		fprintf(stderr, "strata top: no stratad is running on %s (pid %llu has exited)\n",
			c->data_real, (unsigned long long)h->pid);
		shm_detach_stats(h, bytes);
		return 3;
	}
	struct sample prev, now;
	take(s, &prev);
	long rounds = c->count > 0 ? c->count : -1;
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	while (!*stop && rounds != 0) {
		sleep(1);
		take(s, &now);
		uint64_t hm = d(now.hits, prev.hits) + d(now.misses, prev.misses);
		uint64_t dr = d(now.reads, prev.reads), dw = d(now.writes, prev.writes);
		double hit_rate = hm ? (double)d(now.hits, prev.hits) / (double)hm : 0.0;
		if (c->json) {
			printf("{\"pid\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"frames\":%" PRIu64
			       ",\"used\":%" PRIu64 ",\"dirty\":%" PRIu64 ",\"pinned\":%" PRIu64
			       ",\"hits_per_sec\":%" PRIu64 ",\"misses_per_sec\":%" PRIu64
			       ",\"hit_rate\":%.4f,\"evictions_per_sec\":%" PRIu64
			       ",\"reads_per_sec\":%" PRIu64 ",\"writes_per_sec\":%" PRIu64
			       ",\"read_mbps\":%.3f,\"write_mbps\":%.3f,\"avg_read_us\":%" PRIu64
			       ",\"avg_write_us\":%" PRIu64 ",\"queue_depth\":%" PRIu64
			       ",\"io_uring\":%s,\"events_published\":%" PRIu64 ",\"events_dropped\":%" PRIu64 "}\n",
			       h->pid, h->epoch, h->frame_count, now.used, now.dirty, now.pinned,
			       d(now.hits, prev.hits), d(now.misses, prev.misses), hit_rate,
			       d(now.evictions, prev.evictions), dr, dw,
			       (double)d(now.bytes_read, prev.bytes_read) / 1e6,
			       (double)d(now.bytes_written, prev.bytes_written) / 1e6,
			       dr ? d(now.rlat, prev.rlat) / dr : 0, dw ? d(now.wlat, prev.wlat) / dw : 0,
			       now.qd, now.uring ? "true" : "false", now.published, now.dropped);
		} else {
			if (tty)
				printf("\033[H\033[2J");
			printf("stratad pid %" PRIu64 "  epoch %" PRIu64 "  %s  page %u B\n", h->pid,
			       h->epoch, h->data_dir, h->page_size);
			printf("buffer pool  frames %" PRIu64 "  used %" PRIu64 "  dirty %" PRIu64
			       "  pinned %" PRIu64 "\n",
			       h->frame_count, now.used, now.dirty, now.pinned);
			printf("             hits/s %" PRIu64 "  misses/s %" PRIu64 "  hit rate %.1f%%  evictions/s %" PRIu64
			       "  flushes/s %" PRIu64 "\n",
			       d(now.hits, prev.hits), d(now.misses, prev.misses), hit_rate * 100,
			       d(now.evictions, prev.evictions), d(now.flushes, prev.flushes));
			printf("i/o          reads/s %" PRIu64 "  writes/s %" PRIu64 "  read %.2f MB/s  write %.2f MB/s\n",
			       dr, dw, (double)d(now.bytes_read, prev.bytes_read) / 1e6,
			       (double)d(now.bytes_written, prev.bytes_written) / 1e6);
			printf("             avg read %" PRIu64 " us  avg write %" PRIu64 " us  queue depth %" PRIu64
			       "  io_uring %s\n",
			       dr ? d(now.rlat, prev.rlat) / dr : 0, dw ? d(now.wlat, prev.wlat) / dw : 0,
			       now.qd, now.uring ? "on" : "off");
			printf("events       published %" PRIu64 "  dropped %" PRIu64 "\n", now.published,
			       now.dropped);
		}
		fflush(stdout);
		prev = now;
		if (rounds > 0)
			rounds--;
	}
	shm_detach_stats(h, bytes);
	return 0;
}
