/*
 * tests/unit/test_buffer.c — core/buffer (the buffer pool over the shared
 * data segment).
 *
 * Each test runs in its own process (criterion) with its own shared-memory
 * segments (named from a per-process string) and its own data directory
 * under /var/tmp. Pages are formatted slotted pages (core/page.h) holding one
 * record whose bytes derive from a seed, so any page can be recognised.
 *
 * The gauges (used/dirty/pinned) are checked against the frame descriptors
 * themselves, read straight from the segment.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

#include "core/buffer.h"
#include "core/clock.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "core/stats.h"
#include "shm/segment.h"
#include "strata/error.h"

#define PS 4096u
#define REC_LEN 1000u
#define FRAMES 16u

static char dir[256];
static struct shm_segments seg;
static bool seg_made;
static struct disk *disk;
static struct bufpool *bp;
static struct bp_memory mem;
static unsigned shm_seq;

/* ---- set-up ------------------------------------------------------------------------ */

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-buffer-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-buffer-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	emit_set_enabled(false);
	emit_set_sample_every(1);
	emit_set_rare_limit(0);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void teardown(void)
{
	file_fault_clear();
	if (bp)
		bp_destroy(bp);
	bp = NULL;
	if (disk)
		(void)disk_close(disk);
	disk = NULL;
	core_stats_attach(NULL);
	if (seg_made)
		shm_destroy(&seg);
	seg_made = false;
	emit_shutdown();
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(buffer, .init = setup, .fini = teardown);

/* Segments with `frames` frames (stats attached), then the disk. */
static void env_open(uint64_t frames)
{
	char name[128], err[256];
	snprintf(name, sizeof(name), "/tmp/st-ut-buf-%d-%u", (int)getpid(), shm_seq++);
	int rc = shm_create(&seg, name, PS, frames, 42, err, sizeof(err));
	cr_assert_eq(rc, 0, "shm_create: %s (%s)", strata_strerror(rc), err);
	seg_made = true;
	/* Unlinked at once: the mapping stays, and a test killed by a timeout
	 * leaves nothing in /dev/shm. */
	(void)shm_unlink(seg.data_name);
	(void)shm_unlink(seg.stats_name);
	core_stats_attach(seg.stats);
	mem = (struct bp_memory){.descs = seg.descs,
				 .table = seg.table,
				 .buckets = seg.data_hdr->table_buckets,
				 .frames = seg.frames,
				 .nframes = frames,
				 .page_size = PS};
	rc = disk_open(&disk, dir, PS, 0);
	cr_assert_eq(rc, 0, "disk_open: %s", strata_strerror(rc));
}

static void pool_create(unsigned lru_k, bp_wal_flush_fn hook, void *arg)
{
	struct bp_config cfg = {.lru_k = lru_k, .wal_flush = hook, .wal_arg = arg};
	int rc = bp_create(&bp, &mem, disk, &cfg);
	cr_assert_eq(rc, 0, "bp_create: %s", strata_strerror(rc));
}

static void *page_buf(void)
{
	void *p = NULL;
	cr_assert_eq(posix_memalign(&p, 4096, PS), 0);
	return p;
}

/* ---- recognisable pages ------------------------------------------------------------- */

static void fill_rec(uint8_t *rec, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		rec[i] = (uint8_t)x;
	}
}

/* Puts the seed's record into an empty formatted page (slot 0). */
static void put_rec(void *page, unsigned seed)
{
	uint8_t rec[REC_LEN];
	fill_rec(rec, sizeof(rec), seed);
	uint16_t slot = 99;
	cr_assert_eq(page_insert_record(page, PS, rec, sizeof(rec), &slot), 0);
	cr_assert_eq(slot, 0);
}

/* Rewrites slot 0 with the seed's record. */
static void set_rec(void *page, unsigned seed)
{
	uint8_t rec[REC_LEN];
	fill_rec(rec, sizeof(rec), seed);
	cr_assert_eq(page_update_record(page, PS, 0, rec, sizeof(rec)), 0);
}

/* Whether page is page id holding the seed's record in slot 0. */
static bool page_has(const void *page, uint64_t id, unsigned seed)
{
	uint8_t rec[REC_LEN];
	const void *got;
	size_t len;
	if (page_id(page) != id || page_get_record(page, PS, 0, &got, &len) != 0 || len != REC_LEN)
		return false;
	fill_rec(rec, sizeof(rec), seed);
	return memcmp(got, rec, REC_LEN) == 0;
}

/* Writes n pages (ids 1..n, seed = id) straight to the disk and syncs. */
static void populate(unsigned n)
{
	void *b = page_buf();
	for (unsigned i = 0; i < n; i++) {
		uint64_t id;
		cr_assert_eq(disk_allocate_page(disk, &id), 0);
		cr_assert_eq(id, (uint64_t)i + 1);
		page_init(b, PS, id);
		put_rec(b, (unsigned)id);
		cr_assert_eq(disk_write_page(disk, id, b), 0);
	}
	cr_assert_eq(disk_flush(disk), 0);
	free(b);
}

/* A new page through the pool with the seed's record, released dirty. */
static uint64_t new_page(unsigned seed, uint64_t lsn)
{
	struct bp_page p;
	int rc = bp_new_page(bp, &p);
	cr_assert_eq(rc, 0, "bp_new_page: %s", strata_strerror(rc));
	cr_assert_eq(p.mode, BP_EXCLUSIVE);
	put_rec(p.data, seed);
	if (lsn)
		page_set_lsn(p.data, lsn);
	uint64_t id = p.page_id;
	bp_release(bp, &p, true);
	return id;
}

static void fetch_release(uint64_t id, enum bp_mode mode)
{
	struct bp_page p;
	int rc = bp_fetch(bp, id, mode, &p);
	cr_assert_eq(rc, 0, "bp_fetch %lu: %s", (unsigned long)id, strata_strerror(rc));
	bp_release(bp, &p, false);
}

static bool resident(uint64_t id)
{
	struct bp_info info;
	bp_page_info(bp, id, &info);
	return info.resident;
}

static struct bp_stats stats(void)
{
	struct bp_stats st;
	bp_get_stats(bp, &st);
	return st;
}

/* The gauges agree with the descriptors (call when no operation is running). */
static void check_gauges(const char *when)
{
	uint64_t used = 0, dirty = 0, pinned = 0;
	for (uint64_t i = 0; i < mem.nframes; i++) {
		struct shm_frame_desc *d = &seg.descs[i];
		if (atomic_load(&d->page_id) != SHM_NO_PAGE)
			used++;
		if (atomic_load(&d->flags) & SHM_FRAME_DIRTY)
			dirty++;
		if (atomic_load(&d->pin_count))
			pinned++;
	}
	struct bp_stats st = stats();
	cr_assert_eq(st.used, used, "%s: used gauge %lu, frames holding a page %lu", when,
		     (unsigned long)st.used, (unsigned long)used);
	cr_assert_eq(st.dirty, dirty, "%s: dirty gauge %lu, dirty frames %lu", when,
		     (unsigned long)st.dirty, (unsigned long)dirty);
	cr_assert_eq(st.pinned, pinned, "%s: pinned gauge %lu, pinned frames %lu", when,
		     (unsigned long)st.pinned, (unsigned long)pinned);
}

static char *data_path(void)
{
	static char p[300];
	snprintf(p, sizeof(p), "%s/data.db", dir);
	return p;
}

/* Reads page id from data.db with plain pread (no verification). */
static void raw_read(uint64_t id, void *buf)
{
	int fd = open(data_path(), O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, PS, (off_t)(id * PS)), (ssize_t)PS);
	close(fd);
}

/* ---- hits and misses ---------------------------------------------------------------- */

Test(buffer, new_page_then_fetch_is_a_hit)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	uint64_t id = new_page(7, 0);
	struct bp_info info;
	bp_page_info(bp, id, &info);
	cr_assert(info.resident && info.dirty, "a new page is resident and dirty");
	cr_assert_eq(info.pin_count, 0, "released");

	struct bp_stats before = stats();
	struct bp_page p;
	cr_assert_eq(bp_fetch(bp, id, BP_SHARED, &p), 0);
	cr_assert_eq(p.page_id, id);
	cr_assert_eq(p.mode, BP_SHARED);
	cr_assert(page_has(p.data, id, 7), "the bytes written before release");
	bp_page_info(bp, id, &info);
	cr_assert_eq(info.pin_count, 1);
	bp_release(bp, &p, false);
	struct bp_stats after = stats();
	cr_assert_eq(after.hits, before.hits + 1, "one hit");
	cr_assert_eq(after.misses, before.misses, "no miss");
	cr_assert_eq(after.dirty, 1, "still dirty: a shared release does not clean it");
	check_gauges("after hit");
}

Test(buffer, absent_page_is_a_miss_read_from_disk)
{
	env_open(FRAMES);
	populate(3);
	pool_create(2, NULL, NULL);
	struct disk_counters c0, c1;
	disk_get_counters(disk, &c0);
	struct bp_stats before = stats();
	cr_assert_not(resident(2));

	struct bp_page p;
	cr_assert_eq(bp_fetch(bp, 2, BP_SHARED, &p), 0);
	cr_assert(page_has(p.data, 2, 2), "the page's bytes from disk");
	bp_release(bp, &p, false);
	disk_get_counters(disk, &c1);
	struct bp_stats mid = stats();
	cr_assert_eq(mid.misses, before.misses + 1);
	cr_assert_eq(mid.hits, before.hits);
	cr_assert_eq(c1.pages_read, c0.pages_read + 1, "one page read from disk");
	cr_assert(resident(2));

	fetch_release(2, BP_EXCLUSIVE);
	disk_get_counters(disk, &c0);
	struct bp_stats after = stats();
	cr_assert_eq(after.hits, mid.hits + 1, "the second fetch hits");
	cr_assert_eq(after.misses, mid.misses);
	cr_assert_eq(c0.pages_read, c1.pages_read, "and reads nothing");
	cr_assert_eq(after.used, 1);
	cr_assert_eq(after.dirty, 0, "released clean");
	check_gauges("after miss and hit");
}

/* ---- eviction ------------------------------------------------------------------------ */

Test(buffer, data_survives_eviction)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	enum { N = 100 };
	uint64_t ids[N];
	struct bp_stats before = stats();
	for (unsigned i = 0; i < N; i++)
		ids[i] = new_page(1000 + i, 0);
	struct bp_stats mid = stats();
	cr_assert_gt(mid.evictions, before.evictions, "100 pages in 16 frames evict");
	cr_assert_geq(mid.evictions - before.evictions, N - FRAMES);
	cr_assert_geq(mid.flushes - before.flushes, N - FRAMES,
		      "every evicted page was dirty and written first (%lu flushes)",
		      (unsigned long)(mid.flushes - before.flushes));
	cr_assert_leq(mid.used, FRAMES);
	check_gauges("after 100 new pages");

	/* Every page not resident is on disk with its bytes. */
	void *b = page_buf();
	unsigned on_disk = 0;
	for (unsigned i = 0; i < N; i++) {
		if (resident(ids[i]))
			continue;
		int rc = disk_read_page(disk, ids[i], b);
		cr_assert_eq(rc, 0, "evicted page %lu: %s", (unsigned long)ids[i], strata_strerror(rc));
		cr_assert(page_has(b, ids[i], 1000 + i), "evicted page %lu written back",
			  (unsigned long)ids[i]);
		on_disk++;
	}
	cr_assert_geq(on_disk, N - FRAMES);

	/* Read all back through the pool, twice over (more evictions, of clean
	 * pages now): byte-identical. */
	for (int round = 0; round < 2; round++)
		for (unsigned i = 0; i < N; i++) {
			struct bp_page p;
			int rc = bp_fetch(bp, ids[i], BP_SHARED, &p);
			cr_assert_eq(rc, 0, "fetch %lu: %s", (unsigned long)ids[i], strata_strerror(rc));
			cr_assert(page_has(p.data, ids[i], 1000 + i), "page %lu round %d",
				  (unsigned long)ids[i], round);
			bp_release(bp, &p, false);
		}
	check_gauges("after reading back");
	free(b);
}

/* Touches A twice, then 30 other pages once each, in a 16-frame pool. */
static bool twice_touched_survives_scan(unsigned k)
{
	env_open(FRAMES);
	populate(31);
	pool_create(k, NULL, NULL);
	cr_assert_eq(stats().lru_k, k);
	fetch_release(1, BP_SHARED);
	fetch_release(1, BP_SHARED);
	struct bp_stats before = stats();
	for (uint64_t id = 2; id <= 31; id++)
		fetch_release(id, BP_SHARED);
	struct bp_stats after = stats();
	cr_assert_eq(after.misses - before.misses, 30);
	cr_assert_geq(after.evictions - before.evictions, 30 - (FRAMES - 1));
	check_gauges("after the scan");
	return resident(1);
}

Test(buffer, lru_k2_keeps_twice_touched_page_through_a_scan)
{
	cr_assert(twice_touched_survives_scan(2),
		  "with K=2 a page touched twice outlives pages touched once");
}

Test(buffer, lru_k1_evicts_it)
{
	cr_assert_not(twice_touched_survives_scan(1),
		      "with K=1 (plain LRU) the least recently used page goes");
}

Test(buffer, bad_lru_k_is_rejected)
{
	env_open(FRAMES);
	struct bp_config cfg = {.lru_k = SHM_LRU_K_MAX + 1};
	struct bufpool *b2 = NULL;
	cr_assert_eq(bp_create(&b2, &mem, disk, &cfg), STRATA_EBAD_REQUEST);
	cfg.lru_k = 0;
	cr_assert_eq(bp_create(&b2, &mem, disk, &cfg), 0, "0 means the default");
	struct bp_stats st;
	bp_get_stats(b2, &st);
	cr_assert_eq(st.lru_k, 2);
	bp_destroy(b2);
}

/* ---- errors ------------------------------------------------------------------------- */

Test(buffer, every_frame_pinned_is_busy_not_a_hang)
{
	env_open(FRAMES);
	populate(FRAMES + 1);
	pool_create(2, NULL, NULL);
	struct bp_page held[FRAMES];
	for (unsigned i = 0; i < FRAMES; i++)
		cr_assert_eq(bp_fetch(bp, i + 1, BP_SHARED, &held[i]), 0);
	cr_assert_eq(stats().pinned, FRAMES);
	check_gauges("all pinned");

	uint64_t busy0 = core_stats()->buffer.busy_errors;
	uint64_t t0 = clock_mono_us();
	struct bp_page p;
	int rc = bp_fetch(bp, FRAMES + 1, BP_SHARED, &p);
	uint64_t dt = clock_mono_us() - t0;
	cr_assert_eq(rc, STRATA_EBUSY, "got %s", strata_strerror(rc));
	cr_assert_lt(dt, 1000000, "EBUSY should come promptly (took %lu us)", (unsigned long)dt);
	cr_assert_eq(core_stats()->buffer.busy_errors, busy0 + 1);
	struct bp_page np;
	cr_assert_eq(bp_new_page(bp, &np), STRATA_EBUSY, "no frame for a new page either");
	cr_assert_eq(stats().pinned, FRAMES);
	check_gauges("after the refusals");

	bp_release(bp, &held[3], false);
	rc = bp_fetch(bp, FRAMES + 1, BP_SHARED, &p);
	cr_assert_eq(rc, 0, "a frame came free: %s", strata_strerror(rc));
	cr_assert(page_has(p.data, FRAMES + 1, FRAMES + 1));
	cr_assert_not(resident(4), "the only unpinned frame was the victim");
	bp_release(bp, &p, false);
	for (unsigned i = 0; i < FRAMES; i++)
		if (i != 3)
			bp_release(bp, &held[i], false);
	cr_assert_eq(stats().pinned, 0);
	check_gauges("all released");
}

Test(buffer, fetch_beyond_the_file_is_not_found)
{
	env_open(FRAMES);
	populate(2);
	pool_create(2, NULL, NULL);
	struct bp_page p;
	uint64_t n = disk_num_pages(disk);
	cr_assert_eq(n, 3);
	cr_assert_eq(bp_fetch(bp, n, BP_SHARED, &p), STRATA_ENOT_FOUND);
	cr_assert_eq(bp_fetch(bp, n + 1000, BP_EXCLUSIVE, &p), STRATA_ENOT_FOUND);
	cr_assert_eq(bp_fetch(bp, 0, BP_SHARED, &p), STRATA_ENOT_FOUND, "page 0 is the header");
	cr_assert_eq(bp_fetch(bp, SHM_NO_PAGE, BP_SHARED, &p), STRATA_ENOT_FOUND);

	/* Allocated on disk but never written (nor formatted): not found, and
	 * the frame it was read into is given back. */
	uint64_t id;
	cr_assert_eq(disk_allocate_page(disk, &id), 0);
	cr_assert_eq(bp_fetch(bp, id, BP_SHARED, &p), STRATA_ENOT_FOUND);
	cr_assert_not(resident(id));
	struct bp_stats st = stats();
	cr_assert_eq(st.used, 0);
	cr_assert_eq(st.pinned, 0);
	check_gauges("after the not-found fetches");
}

Test(buffer, corrupt_page_is_ecorrupt_and_read_again_without_leaking_a_frame)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	uint64_t keep = new_page(1, 0);
	uint64_t id = new_page(2, 0);
	cr_assert_eq(bp_flush_page(bp, id), 0);
	cr_assert_eq(bp_discard(bp, id), 0);
	cr_assert_not(resident(id));

	/* Flip one byte of the record in data.db. */
	int fd = open(data_path(), O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t byte;
	off_t off = (off_t)(id * PS + PS - 10);
	cr_assert_eq(pread(fd, &byte, 1, off), 1);
	byte ^= 0x40;
	cr_assert_eq(pwrite(fd, &byte, 1, off), 1);
	cr_assert_eq(close(fd), 0);

	struct bp_stats before = stats();
	uint64_t cks0 = core_stats()->io.checksum_failures;
	struct disk_counters c0, c1;
	disk_get_counters(disk, &c0);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct bp_page p;
		int rc = bp_fetch(bp, id, BP_SHARED, &p);
		cr_assert_eq(rc, STRATA_ECORRUPT, "attempt %d: %s", attempt, strata_strerror(rc));
		cr_assert_not(resident(id), "the frame is not kept");
		struct bp_stats st = stats();
		cr_assert_eq(st.used, before.used, "used gauge back (%lu vs %lu)",
			     (unsigned long)st.used, (unsigned long)before.used);
		cr_assert_eq(st.pinned, before.pinned);
		check_gauges("after a corrupt read");
	}
	disk_get_counters(disk, &c1);
	cr_assert_eq(c1.corrupt_pages - c0.corrupt_pages, 2, "the second fetch read the page again");
	cr_assert_eq(core_stats()->io.checksum_failures - cks0, 2);
	/* The pool still works, the other page included. */
	fetch_release(keep, BP_SHARED);
	for (unsigned i = 0; i < 2 * FRAMES; i++)
		(void)new_page(100 + i, 0);
	check_gauges("after filling the pool");
}

Test(buffer, discard)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	uint64_t id = new_page(5, 0);
	struct bp_page p;
	cr_assert_eq(bp_fetch(bp, id, BP_SHARED, &p), 0);
	cr_assert_eq(bp_discard(bp, id), STRATA_EBUSY, "pinned");
	bp_release(bp, &p, false);
	cr_assert_eq(bp_discard(bp, id), 0);
	cr_assert_not(resident(id));
	cr_assert_eq(bp_discard(bp, id), 0, "not resident: nothing to do");
	struct bp_stats st = stats();
	cr_assert_eq(st.used, 0);
	cr_assert_eq(st.dirty, 0, "a dirty frame discarded is no longer counted dirty");
	check_gauges("after discard");
}

/* ---- flushing ------------------------------------------------------------------------ */

Test(buffer, flush_all_and_flush_page)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	enum { N = 10 };
	uint64_t ids[N];
	for (unsigned i = 0; i < N; i++)
		ids[i] = new_page(i + 1, 0);
	struct bp_stats before = stats();
	cr_assert_eq(before.dirty, N);
	check_gauges("10 dirty");

	uint64_t written = 0;
	cr_assert_eq(bp_flush_all(bp, &written), 0);
	struct bp_stats after = stats();
	cr_assert_eq(written, N);
	cr_assert_eq(after.dirty, 0);
	cr_assert_eq(after.flushes - before.flushes, N);
	cr_assert_eq(disk_coalesced_pending(disk), 0, "nothing left buffered");
	check_gauges("after flush_all");
	void *b = page_buf();
	for (unsigned i = 0; i < N; i++) {
		struct bp_info info;
		bp_page_info(bp, ids[i], &info);
		cr_assert(info.resident && !info.dirty);
		cr_assert_eq(disk_read_page(disk, ids[i], b), 0);
		cr_assert(page_has(b, ids[i], i + 1));
	}
	cr_assert_eq(bp_flush_all(bp, &written), 0);
	cr_assert_eq(written, 0, "nothing dirty: nothing written");
	cr_assert_eq(stats().flushes, after.flushes);

	/* One page changed: bp_flush_page writes just it. */
	struct bp_page p;
	cr_assert_eq(bp_fetch(bp, ids[4], BP_EXCLUSIVE, &p), 0);
	set_rec(p.data, 555);
	bp_release(bp, &p, true);
	cr_assert_eq(stats().dirty, 1);
	cr_assert_eq(bp_flush_page(bp, ids[4]), 0);
	cr_assert_eq(stats().dirty, 0);
	cr_assert_eq(stats().flushes, after.flushes + 1);
	cr_assert_eq(disk_read_page(disk, ids[4], b), 0);
	cr_assert(page_has(b, ids[4], 555));
	cr_assert_eq(bp_flush_page(bp, ids[4]), 0, "clean: nothing to do");
	cr_assert_eq(bp_flush_page(bp, 999), 0, "not resident: nothing to do");
	cr_assert_eq(stats().flushes, after.flushes + 1);

	/* bp_flush_some writes at most max. */
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(bp_fetch(bp, ids[i], BP_EXCLUSIVE, &p), 0);
		set_rec(p.data, 600 + i);
		bp_release(bp, &p, true);
	}
	cr_assert_eq(stats().dirty, 3);
	int n = bp_flush_some(bp, 2);
	cr_assert_eq(n, 2, "bp_flush_some(2) wrote %d", n);
	cr_assert_eq(stats().dirty, 1);
	check_gauges("after flush_some");
	free(b);
}

/* ---- the write-ahead hook (R5) --------------------------------------------------------- */

struct hook {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned calls;
	uint64_t max_lsn;
	int fail_with;        /* returned by the hook */
	unsigned early;       /* calls that found the page already on disk */
	uint64_t lsn_base;    /* page id = lsn - lsn_base (when set) */
	/* Blocking: the first call from a thread other than `main_thread`
	 * waits for `go` once armed. */
	pthread_t main_thread;
	bool armed, in_hook, go;
};

static int hook_fn(void *arg, uint64_t lsn)
{
	struct hook *h = arg;
	pthread_mutex_lock(&h->mu);
	h->calls++;
	if (lsn > h->max_lsn)
		h->max_lsn = lsn;
	if (h->lsn_base && lsn > h->lsn_base) {
		/* The page with this LSN must not be in data.db yet. */
		uint8_t buf[PS];
		uint64_t id = lsn - h->lsn_base;
		int fd = open(data_path(), O_RDONLY);
		if (fd >= 0) {
			if (pread(fd, buf, PS, (off_t)(id * PS)) == (ssize_t)PS && page_lsn(buf) == lsn)
				h->early++;
			close(fd);
		}
	}
	if (h->armed && !pthread_equal(pthread_self(), h->main_thread)) {
		h->armed = false;
		h->in_hook = true;
		pthread_cond_broadcast(&h->cv);
		while (!h->go)
			pthread_cond_wait(&h->cv, &h->mu);
	}
	int rv = h->fail_with;
	pthread_mutex_unlock(&h->mu);
	return rv;
}

static void hook_init(struct hook *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->main_thread = pthread_self();
}

Test(buffer, wal_hook_runs_before_each_dirty_write)
{
	static struct hook h;
	hook_init(&h);
	h.lsn_base = 1000;
	env_open(FRAMES);
	pool_create(2, hook_fn, &h);
	enum { N = 40 };
	uint64_t ids[N];
	for (unsigned i = 0; i < N; i++) {
		struct bp_page p;
		cr_assert_eq(bp_new_page(bp, &p), 0);
		ids[i] = p.page_id;
		put_rec(p.data, i);
		page_set_lsn(p.data, h.lsn_base + p.page_id);
		bp_release(bp, &p, true);
	}
	uint64_t evicted_writes = stats().flushes;
	cr_assert_geq(evicted_writes, N - FRAMES);
	cr_assert_eq(h.calls, evicted_writes, "one hook call per dirty victim written");
	cr_assert_eq(bp_flush_page(bp, ids[N - 1]), 0);
	cr_assert_eq(h.max_lsn, h.lsn_base + ids[N - 1], "the hook saw the page's LSN");
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	cr_assert_eq(h.calls, stats().flushes, "one hook call per page written");
	cr_assert_eq(h.calls, N);
	cr_assert_eq(h.early, 0, "%u pages were on disk before the log was flushed", h.early);
}

Test(buffer, wal_hook_failure_keeps_the_page_dirty_and_unwritten)
{
	static struct hook h;
	hook_init(&h);
	env_open(FRAMES);
	pool_create(2, hook_fn, &h);
	uint64_t id = new_page(3, 77);
	h.fail_with = STRATA_EIO;
	cr_assert_eq(bp_flush_page(bp, id), STRATA_EIO);
	cr_assert_eq(h.max_lsn, 77);
	struct bp_info info;
	bp_page_info(bp, id, &info);
	cr_assert(info.dirty, "a failed write leaves the page dirty (R6)");
	cr_assert_eq(stats().dirty, 1);
	cr_assert_eq(stats().flushes, 0);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(disk, id, b), STRATA_ENOT_FOUND, "nothing was written");
	cr_assert_eq(bp_flush_all(bp, NULL), STRATA_EIO);
	cr_assert_eq(stats().dirty, 1);
	check_gauges("after the failures");

	h.fail_with = 0;
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	cr_assert_eq(stats().dirty, 0);
	cr_assert_eq(disk_read_page(disk, id, b), 0);
	cr_assert(page_has(b, id, 3));
	free(b);
}

/* ---- two flushers of one page ---------------------------------------------------------- */

struct flusher_arg {
	uint64_t id;
	int use_flush_some;
	int rv;
};

static void *flusher(void *p)
{
	struct flusher_arg *a = p;
	a->rv = a->use_flush_some ? bp_flush_some(bp, 16) : bp_flush_page(bp, a->id);
	return NULL;
}

/*
 * Flusher A copies version 1 and is slow to write it (its log flush takes
 * time: the hook blocks). Meanwhile the page is changed to version 2 and
 * flusher B copies and writes version 2. Then A's write lands. The frame
 * is clean, so the disk must hold version 2: a pool that lets A's older
 * copy overwrite B's newer one loses the update once the frame is evicted.
 */
struct flush_all_arg {
	_Atomic int done;
	int rv;
};

static void *flush_all_thread(void *p)
{
	struct flush_all_arg *a = p;
	a->rv = bp_flush_all(bp, NULL);
	atomic_store(&a->done, 1);
	return NULL;
}

static void two_flushers(int use_flush_some)
{
	static struct hook h;
	hook_init(&h);
	env_open(FRAMES);
	pool_create(2, hook_fn, &h);
	uint64_t id = new_page(1, 10);

	h.armed = true;
	struct flusher_arg a = {.id = id, .use_flush_some = use_flush_some};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, flusher, &a), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.in_hook)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	struct bp_page p;
	cr_assert_eq(bp_fetch(bp, id, BP_EXCLUSIVE, &p), 0);
	set_rec(p.data, 2);
	page_set_lsn(p.data, 20);
	bp_release(bp, &p, true);
	/* Flusher B writes version 2. Flushes of one frame are serialised
	 * (core/README-buffer.md R6), so B waits for A: run it on a thread,
	 * let it start, then release A. */
	static struct flush_all_arg fb;
	memset(&fb, 0, sizeof(fb));
	pthread_t tb;
	cr_assert_eq(pthread_create(&tb, NULL, flush_all_thread, &fb), 0);
	usleep(50000);

	pthread_mutex_lock(&h.mu);
	h.go = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(pthread_join(tb, NULL), 0);
	cr_assert_eq(fb.rv, 0, "flusher B: %s", strata_strerror(fb.rv));
	cr_assert_geq(a.rv, 0, "flusher A: %s", strata_strerror(a.rv));

	struct bp_info info;
	bp_page_info(bp, id, &info);
	cr_assert_not(info.dirty, "both flushers cleaned the frame");
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(disk, id, b), 0);
	bool v2_on_disk = page_has(b, id, 2);
	/* What a reader sees once the (clean) frame is gone. */
	cr_assert_eq(bp_discard(bp, id), 0);
	cr_assert_eq(bp_fetch(bp, id, BP_SHARED, &p), 0);
	bool v2_read = page_has(p.data, id, 2);
	bp_release(bp, &p, false);
	const char *on_disk = page_has(b, id, 1) ? "1" : page_has(b, id, 2) ? "2" : "?";
	free(b);
	cr_assert(v2_on_disk && v2_read,
		  "lost update: the frame holds version 2 and is clean, but data.db has "
		  "version %s (an older copy from a slower concurrent flusher overwrote it)",
		  on_disk);
}

Test(buffer, concurrent_flush_page_never_writes_an_older_copy_last)
{
	two_flushers(0);
}

Test(buffer, background_flush_racing_flush_all_never_writes_an_older_copy_last)
{
	two_flushers(1);
}

/* ---- events ---------------------------------------------------------------------------- */

Test(buffer, evicted_and_flushed_events)
{
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	emit_set_enabled(true);
	emit_set_sample_every(0); /* no per-page events, only the rare ones */
	emit_set_rare_limit(0);
	static struct strata_event ev[8192];
	(void)emit_drain(ev, 8192);

	enum { N = 24 };
	uint64_t ids[N];
	for (unsigned i = 0; i < N; i++)
		ids[i] = new_page(i, 0);
	struct bp_stats st = stats();
	size_t n = emit_drain(ev, 8192);
	unsigned evicted = 0, flushed = 0;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].variant == STRATA_EV_PageEvicted) {
			evicted++;
			cr_assert_not(resident(ev[i].u.PageEvicted.page_id));
			cr_assert(strstr(ev[i].u.PageEvicted.reason, "dirty page written back"),
				  "reason: %s", ev[i].u.PageEvicted.reason);
			cr_assert_eq(ev[i].family, STRATA_FAM_BUFFER_POOL);
		} else if (ev[i].variant == STRATA_EV_PageFlushed) {
			flushed++;
			cr_assert_eq(ev[i].u.PageFlushed.dirty_bytes, PS);
			cr_assert_not(resident(ev[i].u.PageFlushed.page_id),
				      "only evicted pages were written so far");
		}
	}
	cr_assert_eq(evicted, st.evictions, "one PageEvicted per eviction");
	cr_assert_geq(evicted, N - FRAMES);
	cr_assert_eq(flushed, st.flushes, "one PageFlushed per page written");

	/* Flushing the rest: a PageFlushed for each. */
	uint64_t dirty = st.dirty;
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	n = emit_drain(ev, 8192);
	flushed = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].variant == STRATA_EV_PageFlushed) {
			flushed++;
			cr_assert(resident(ev[i].u.PageFlushed.page_id));
		}
	cr_assert_eq(flushed, dirty);

	/* Clean victims: reason says so. */
	for (unsigned i = 0; i < N; i++)
		fetch_release(ids[i], BP_SHARED);
	n = emit_drain(ev, 8192);
	evicted = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_neq(ev[i].variant, STRATA_EV_PageFlushed, "nothing dirty to write");
		if (ev[i].variant == STRATA_EV_PageEvicted) {
			evicted++;
			cr_assert(strstr(ev[i].u.PageEvicted.reason, "least recently used"),
				  "reason: %s", ev[i].u.PageEvicted.reason);
		}
	}
	cr_assert_gt(evicted, 0);
}

/* ---- gauges over a sequence of operations -------------------------------------------------- */

Test(buffer, gauges_match_the_frames)
{
	env_open(FRAMES);
	populate(20);
	pool_create(2, NULL, NULL);
	check_gauges("empty pool");
	cr_assert_eq(stats().used, 0);
	cr_assert_eq(stats().frames, FRAMES);

	struct bp_page a, b, c;
	cr_assert_eq(bp_fetch(bp, 1, BP_SHARED, &a), 0);
	cr_assert_eq(bp_fetch(bp, 1, BP_SHARED, &b), 0);
	cr_assert_eq(bp_fetch(bp, 2, BP_EXCLUSIVE, &c), 0);
	check_gauges("two pinned, one twice");
	cr_assert_eq(stats().pinned, 2);
	cr_assert_eq(stats().used, 2);
	bp_release(bp, &b, false);
	check_gauges("one pin of two dropped");
	cr_assert_eq(stats().pinned, 2);
	set_rec(c.data, 9);
	bp_release(bp, &c, true);
	bp_release(bp, &a, false);
	check_gauges("released, one dirty");
	cr_assert_eq(stats().dirty, 1);
	cr_assert_eq(stats().pinned, 0);

	/* A shared release asking for dirty is not dirty (exclusive only). */
	cr_assert_eq(bp_fetch(bp, 3, BP_SHARED, &a), 0);
	bp_release(bp, &a, true);
	cr_assert_eq(stats().dirty, 1);
	check_gauges("shared release");

	/* Fill and overflow the pool, dirtying every other page. */
	for (uint64_t id = 1; id <= 20; id++) {
		cr_assert_eq(bp_fetch(bp, id, BP_EXCLUSIVE, &a), 0);
		if (id % 2)
			set_rec(a.data, 1000 + (unsigned)id);
		bp_release(bp, &a, id % 2);
		check_gauges("cycling");
	}
	cr_assert_eq(stats().used, FRAMES);
	uint64_t id = new_page(77, 0);
	check_gauges("new page");
	cr_assert_eq(bp_discard(bp, id), 0);
	check_gauges("discarded a dirty page");
	cr_assert_eq(stats().used, FRAMES - 1);
	cr_assert_eq(bp_flush_page(bp, 19), 0);
	check_gauges("flush_page");
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	check_gauges("flush_all");
	cr_assert_eq(stats().dirty, 0);

	/* Everything written survives: odd pages changed in the loop, page 2
	 * before it, the other even pages never. */
	for (uint64_t i = 1; i <= 20; i++) {
		cr_assert_eq(bp_fetch(bp, i, BP_SHARED, &a), 0);
		unsigned seed = i % 2 ? 1000 + (unsigned)i : i == 2 ? 9 : (unsigned)i;
		cr_assert(page_has(a.data, i, seed), "page %lu", (unsigned long)i);
		bp_release(bp, &a, false);
	}
	check_gauges("the end");
}

Test(buffer, frame_checksum_is_refreshed_on_write)
{
	/* The pool writes the page with a correct checksum even though the
	 * frame's checksum field is stale after a change. */
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	uint64_t id = new_page(4, 0);
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	uint8_t *raw = page_buf();
	raw_read(id, raw);
	cr_assert(page_checksum_ok(raw, PS, NULL, NULL));
	cr_assert(page_has(raw, id, 4));
	free(raw);
}

/* ---- a thread that writes pages leaves nothing behind ---------------------------------- */

#ifdef HAVE_LSAN
static void *evicting_thread(void *arg)
{
	(void)arg;
	/* More dirty pages than frames: this thread writes dirty victims. */
	for (unsigned i = 0; i < 2 * FRAMES; i++) {
		struct bp_page p;
		if (bp_new_page(bp, &p) != 0)
			return (void *)1;
		bp_release(bp, &p, true);
	}
	return bp_flush_page(bp, 1) == 0 ? NULL : (void *)1;
}
#endif

/*
 * The pool keeps a per-thread copy buffer for writes. A thread that
 * wrote pages and exited must not leave it allocated (stratad's worker
 * threads come and go). Checked with LeakSanitizer, so only in ASan builds.
 */
Test(buffer, exited_writer_thread_leaks_nothing)
{
#ifndef HAVE_LSAN
	teardown(); /* criterion does not run .fini for a skipped test */
	cr_skip_test("needs LeakSanitizer (ASan build)");
#else
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks before the test");
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		void *res = (void *)1;
		cr_assert_eq(pthread_create(&t, NULL, evicting_thread, NULL), 0);
		cr_assert_eq(pthread_join(t, &res), 0);
		cr_assert_null(res, "the thread's pool operations failed");
	}
	cr_assert_gt(stats().flushes, 0);
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "memory of exited threads leaked (see the LeakSanitizer report above: "
		     "core/buffer.c thread_buffer's _Thread_local flush_buf is never freed)");
#endif
}

/* ---- I/O errors (fault injection) -------------------------------------------------------- */

Test(buffer, read_error_gives_the_frame_back_and_the_next_fetch_retries)
{
	env_open(FRAMES);
	populate(2);
	pool_create(2, NULL, NULL);
	struct file_fault f = {.ops = FILE_OP_READ,
			       .path_contains = "data.db",
			       .kind = FILE_FAULT_ERROR,
			       .errnum = EIO};
	cr_assert_eq(file_fault_inject(&f), 0);
	struct bp_page p;
	int rc = bp_fetch(bp, 1, BP_SHARED, &p);
	cr_assert_eq(rc, STRATA_EIO, "got %s", strata_strerror(rc));
	cr_assert_eq(file_fault_fired(), 1);
	cr_assert_not(resident(1));
	struct bp_stats st = stats();
	cr_assert_eq(st.used, 0, "the frame is given back");
	cr_assert_eq(st.pinned, 0);
	check_gauges("after the failed read");
	rc = bp_fetch(bp, 1, BP_SHARED, &p);
	cr_assert_eq(rc, 0, "the next fetch reads again: %s", strata_strerror(rc));
	cr_assert(page_has(p.data, 1, 1));
	bp_release(bp, &p, false);
	check_gauges("after the good read");
}

Test(buffer, failed_write_of_a_dirty_victim_keeps_it_dirty_and_resident)
{
	env_open(FRAMES);
	populate(FRAMES + 1);
	pool_create(2, NULL, NULL);
	/* Every frame dirty. */
	for (uint64_t id = 1; id <= FRAMES; id++) {
		struct bp_page p;
		cr_assert_eq(bp_fetch(bp, id, BP_EXCLUSIVE, &p), 0);
		set_rec(p.data, 500 + (unsigned)id);
		bp_release(bp, &p, true);
	}
	cr_assert_eq(stats().dirty, FRAMES);
	struct file_fault f = {.ops = FILE_OP_WRITE,
			       .path_contains = "data.db",
			       .kind = FILE_FAULT_ERROR,
			       .errnum = EIO,
			       .times = FILE_FAULT_FOREVER};
	cr_assert_eq(file_fault_inject(&f), 0);
	struct bp_page p;
	int rc = bp_fetch(bp, FRAMES + 1, BP_SHARED, &p);
	cr_assert_eq(rc, STRATA_EIO, "the victim's write error is returned: %s", strata_strerror(rc));
	cr_assert_gt(file_fault_fired(), 0);
	struct bp_stats st = stats();
	cr_assert_eq(st.dirty, FRAMES, "a failed write leaves the victim dirty");
	cr_assert_eq(st.used, FRAMES);
	cr_assert_eq(st.pinned, 0);
	check_gauges("after the failed eviction");
	for (uint64_t id = 1; id <= FRAMES; id++)
		cr_assert(resident(id), "page %lu kept", (unsigned long)id);

	file_fault_clear();
	rc = bp_fetch(bp, FRAMES + 1, BP_SHARED, &p);
	cr_assert_eq(rc, 0, "%s", strata_strerror(rc));
	bp_release(bp, &p, false);
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	void *b = page_buf();
	for (uint64_t id = 1; id <= FRAMES; id++) {
		cr_assert_eq(disk_read_page(disk, id, b), 0);
		cr_assert(page_has(b, id, 500 + (unsigned)id), "page %lu: no change lost",
			  (unsigned long)id);
	}
	free(b);
	check_gauges("the end");
}

Test(buffer, new_page_error_path_returns_the_allocated_page)
{
	/* A freed page whose frame was not discarded (a caller bug) makes
	 * bp_new_page fail with STRATA_EINTERNAL; the page it allocated for
	 * that call must go back to the free list, as on the EBUSY path. */
	env_open(FRAMES);
	pool_create(2, NULL, NULL);
	uint64_t id = new_page(1, 0);
	cr_assert_eq(bp_flush_all(bp, NULL), 0);
	cr_assert_eq(disk_free_page(disk, id), 0);
	cr_assert_eq(disk_free_count(disk), 1);
	struct bp_page p;
	cr_assert_eq(bp_new_page(bp, &p), STRATA_EINTERNAL);
	check_gauges("after EINTERNAL");
	cr_assert_eq(disk_free_count(disk), 1,
		     "bp_new_page's EINTERNAL path leaks the page it allocated (free list %lu)",
		     (unsigned long)disk_free_count(disk));
}

/* ---- bp_flush_all and a write already in flight ------------------------------------------ */

/*
 * bp_flush_all promises every page dirty at the call is written and the
 * data file synced when it returns (ps_checkpoint then deletes the log
 * segments holding those pages' images). A page whose write another
 * flusher (or an evictor) has started — DIRTY already cleared, the write
 * not yet issued — must be waited for, not skipped: else the checkpoint
 * drops the only durable copy of the change.
 */
Test(buffer, flush_all_does_not_return_before_a_write_in_flight_lands)
{
	static struct hook h;
	hook_init(&h);
	env_open(FRAMES);
	pool_create(2, hook_fn, &h);
	uint64_t id = new_page(1, 10);

	/* Flusher E copies the page and stalls before writing it. */
	h.armed = true;
	struct flusher_arg e = {.id = id};
	pthread_t te, tc;
	cr_assert_eq(pthread_create(&te, NULL, flusher, &e), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.in_hook)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	/* A checkpoint's flush_all runs meanwhile. */
	static struct flush_all_arg c;
	cr_assert_eq(pthread_create(&tc, NULL, flush_all_thread, &c), 0);
	bool returned_early = false;
	for (int i = 0; i < 100 && !returned_early; i++) {
		usleep(10000);
		returned_early = atomic_load(&c.done);
	}
	void *b = page_buf();
	int on_disk = returned_early ? disk_read_page(disk, id, b) : 0;

	pthread_mutex_lock(&h.mu);
	h.go = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	cr_assert_eq(pthread_join(te, NULL), 0);
	cr_assert_eq(pthread_join(tc, NULL), 0);
	cr_assert_eq(c.rv, 0);
	free(b);
	cr_assert_not(returned_early && on_disk != 0,
		      "bp_flush_all returned 0 while page %lu, dirty when it was called, was not "
		      "written yet (disk_read_page: %s): another flusher had cleared DIRTY and "
		      "was still before its write",
		      (unsigned long)id, strata_strerror(on_disk));
}
