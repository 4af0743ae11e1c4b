/*
 * bench/bufpool_hits.c — buffer-pool hit throughput: fetch + release of
 * resident pages (shared latch), with 1 and 2 threads.
 *
 * Anchor: the target of 10M hits/s per thread; we print the ratio
 * to it. Usage: bufpool_hits [seconds-per-run]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/clock.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/stats.h"
#include "shm/segment.h"

#define PAGES 256
#define TARGET_PER_THREAD 10e6

static struct bufpool *bp;
static _Atomic bool stop;
static uint64_t page_ids[PAGES];

struct worker {
	pthread_t t;
	uint64_t ops;
	unsigned seed;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t n = 0;
	unsigned x = w->seed;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++) {
			x = x * 1103515245u + 12345u;
			struct bp_page p;
			if (bp_fetch(bp, page_ids[(x >> 8) % PAGES], BP_SHARED, &p) != 0) {
				fprintf(stderr, "fetch failed\n");
				exit(1);
			}
			bp_release(bp, &p, false);
		}
		n += 1024;
	}
	w->ops = n;
	return NULL;
}

static double measure(int threads, double secs)
{
	struct worker w[8];
	atomic_store(&stop, false);
	uint64_t t0 = clock_mono_ns();
	for (int i = 0; i < threads; i++) {
		w[i].seed = (unsigned)i * 7919u + 1;
		pthread_create(&w[i].t, NULL, run, &w[i]);
	}
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	uint64_t total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].ops;
	}
	double el = (double)(clock_mono_ns() - t0) / 1e9;
	return (double)total / el;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	char dir[] = "/var/tmp/st-bench-XXXXXX", err[256];
	if (!mkdtemp(dir))
		return 1;
	struct shm_segments seg;
	if (shm_create(&seg, dir, 4096, 1024, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	core_stats_attach(seg.stats);
	/* Hits are sampled per-page events: count them, emit none, as in a
	 * stratad started with --sample-every 0. */
	emit_set_enabled(false);
	struct disk *disk;
	if (disk_open(&disk, dir, 4096, 0) != 0)
		return 1;
	struct bp_memory mem = {seg.descs, seg.table, seg.data_hdr->table_buckets, seg.frames,
				seg.data_hdr->frame_count, 4096};
	if (bp_create(&bp, &mem, disk, NULL) != 0)
		return 1;
	for (int i = 0; i < PAGES; i++) {
		struct bp_page p;
		if (bp_new_page(bp, &p) != 0)
			return 1;
		page_ids[i] = p.page_id;
		bp_release(bp, &p, true);
	}
	double one = measure(1, secs);
	double two = measure(2, secs);
	printf("bufpool_hits: 1 thread %.2f M/s (%.2fx of 10M/s target); 2 threads %.2f M/s total, "
	       "%.2f M/s per thread (%.2fx)\n",
	       one / 1e6, one / TARGET_PER_THREAD, two / 1e6, two / 2e6, two / 2 / TARGET_PER_THREAD);
	bp_flush_all(bp, NULL);
	bp_destroy(bp);
	disk_close(disk);
	shm_destroy(&seg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
