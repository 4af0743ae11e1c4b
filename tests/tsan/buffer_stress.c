/*
 * tests/tsan/buffer_stress.c — the buffer pool under concurrent readers and
 * writers, as a plain program so it runs under ThreadSanitizer (criterion's
 * runner cannot start under TSan on this kernel). `make tsan` runs it.
 *
 * THREADS threads each do OPS fetch/modify/release operations on PAGES
 * pages through a pool of FRAMES frames (fewer than pages: evictions and
 * re-reads happen all the time). Each page holds a version counter and the
 * whole page body filled with the version's low byte. Writers (exclusive
 * latch) bump the version and refill; readers (shared latch) check the body
 * matches the version (no torn reads). At the end the versions summed
 * equal the number of writes (no lost updates), re-read from disk after a
 * flush. Exit 0 on success, 1 with a message on failure.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/page.h"
#include "core/stats.h"
#include "shm/segment.h"
#include "strata/error.h"

#define THREADS 4
#define PAGES 32
#define FRAMES 16
#define BODY_OFF 64 /* past the page header */

static long ops_per_thread = 200000;
static struct bufpool *bp;
static uint64_t ids[PAGES];
static _Atomic uint64_t writes_done;
static _Atomic int failed;

static void fail(const char *what, uint64_t page, int rv)
{
	if (!atomic_exchange(&failed, 1))
		fprintf(stderr, "buffer_stress: %s (page %llu, rv %d)\n", what, (unsigned long long)page, rv);
}

static void *worker(void *arg)
{
	unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	for (long i = 0; i < ops_per_thread && !atomic_load(&failed); i++) {
		x = x * 1103515245u + 12345u;
		uint64_t id = ids[(x >> 8) % PAGES];
		bool write = ((x >> 20) & 3) == 0;
		struct bp_page p;
		int rv = bp_fetch(bp, id, write ? BP_EXCLUSIVE : BP_SHARED, &p);
		if (rv == STRATA_EBUSY) {
			i--;
			continue;
		}
		if (rv) {
			fail("fetch", id, rv);
			break;
		}
		uint8_t *b = p.data;
		uint64_t v;
		memcpy(&v, b + BODY_OFF, 8);
		size_t ps = bp_page_size(bp);
		for (size_t k = BODY_OFF + 8; k < ps; k += 97)
			if (b[k] != (uint8_t)v) {
				fail("torn page", id, (int)k);
				break;
			}
		if (write) {
			v++;
			memcpy(b + BODY_OFF, &v, 8);
			memset(b + BODY_OFF + 8, (uint8_t)v, ps - BODY_OFF - 8);
			atomic_fetch_add(&writes_done, 1);
		}
		bp_release(bp, &p, write);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		ops_per_thread = atol(argv[1]);
	char dir[] = "/var/tmp/st-tsan-XXXXXX", err[256];
	if (!mkdtemp(dir))
		return 1;
	struct shm_segments seg;
	if (shm_create(&seg, dir, 4096, FRAMES, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	core_stats_attach(seg.stats);
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
		ids[i] = p.page_id;
		memset((uint8_t *)p.data + BODY_OFF, 0, 4096 - BODY_OFF);
		bp_release(bp, &p, true);
	}
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	if (bp_flush_all(bp, NULL) != 0)
		fail("flush", 0, 0);
	uint64_t sum = 0;
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, 4096) != 0)
		return 1;
	for (int i = 0; i < PAGES; i++) {
		int rv = disk_read_page(disk, ids[i], buf);
		if (rv) {
			fail("read back", ids[i], rv);
			break;
		}
		uint64_t v;
		memcpy(&v, (uint8_t *)buf + BODY_OFF, 8);
		sum += v;
	}
	free(buf);
	if (!atomic_load(&failed) && sum != atomic_load(&writes_done))
		fprintf(stderr, "buffer_stress: lost updates: versions sum %llu, writes %llu\n",
			(unsigned long long)sum, (unsigned long long)atomic_load(&writes_done)),
			atomic_store(&failed, 1);
	bp_destroy(bp);
	disk_close(disk);
	shm_destroy(&seg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	if (!atomic_load(&failed))
		printf("buffer_stress: %d threads x %ld ops, %llu writes, no torn reads, no lost updates\n",
		       THREADS, ops_per_thread, (unsigned long long)atomic_load(&writes_done));
	return atomic_load(&failed) ? 1 : 0;
}
