/*
 * tests/unit/test_wal.c — core/wal (the redo log of full-page images).
 *
 * Each test runs in its own process (criterion) with its own directory
 * under /var/tmp; the log lives in DIR/wal. Images are formatted pages
 * (core/page.h) with one record derived from a seed, so a replayed image
 * can be compared byte for byte with what was logged.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "core/stats.h"
#include "core/wal.h"
#include "strata/error.h"

#define PS 4096u
#define HDR_SIZE 32u                 /* segment header (wal.h) */
#define RECLEN (24u + PS)            /* record header + image (wal.h) */
#define MAXREC 512u

static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-wal-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-wal-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	emit_set_enabled(false);
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
	emit_shutdown();
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(wal, .init = setup, .fini = teardown);

/* ---- images ------------------------------------------------------------------------- */

static void make_image(void *buf, uint64_t id, unsigned seed)
{
	uint8_t rec[600];
	uint32_t x = seed * 2654435761u + 12345u;
	for (size_t i = 0; i < sizeof(rec); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		rec[i] = (uint8_t)x;
	}
	page_init(buf, PS, id);
	cr_assert_eq(page_insert_record(buf, PS, rec, sizeof(rec), NULL), 0);
	page_checksum_update(buf, PS);
}

/* ---- what replay hands back ---------------------------------------------------------------- */

struct replayed {
	size_t n;
	uint64_t page_id[MAXREC];
	uint64_t lsn[MAXREC];
	uint8_t *image[MAXREC];
	int fail_at; /* return an error from this call (1-based); 0 never */
};

static int collect(void *arg, uint64_t page_id, void *image, uint64_t lsn)
{
	struct replayed *r = arg;
	if (r->fail_at && r->n + 1 == (size_t)r->fail_at)
		return STRATA_EIO;
	if (r->n >= MAXREC)
		return STRATA_ENOMEM;
	r->page_id[r->n] = page_id;
	r->lsn[r->n] = lsn;
	r->image[r->n] = malloc(PS);
	if (!r->image[r->n])
		return STRATA_ENOMEM;
	memcpy(r->image[r->n], image, PS);
	r->n++;
	return 0;
}

static void replayed_free(struct replayed *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->image[i]);
	memset(r, 0, sizeof(*r));
}

/* Opens the log and replays it into r (which is reset first). */
static struct wal *open_replay(struct replayed *r)
{
	struct wal *w = NULL;
	int rc = wal_open(&w, dir, PS);
	cr_assert_eq(rc, 0, "wal_open: %s", strata_strerror(rc));
	replayed_free(r);
	uint64_t n = 12345;
	rc = wal_replay(w, collect, r, &n);
	cr_assert_eq(rc, 0, "wal_replay: %s", strata_strerror(rc));
	cr_assert_eq(n, r->n, "records reported %lu, applied %zu", (unsigned long)n, r->n);
	return w;
}

static uint64_t log_image(struct wal *w, uint64_t id, unsigned seed)
{
	uint8_t img[PS];
	make_image(img, id, seed);
	uint64_t lsn = 0;
	int rc = wal_log_page(w, id, img, &lsn);
	cr_assert_eq(rc, 0, "wal_log_page: %s", strata_strerror(rc));
	return lsn;
}

static bool image_is(const uint8_t *img, uint64_t id, unsigned seed)
{
	uint8_t want[PS];
	make_image(want, id, seed);
	return memcmp(img, want, PS) == 0;
}

/* ---- segment files -------------------------------------------------------------------- */

static void seg_path(uint64_t no, char *buf, size_t len)
{
	snprintf(buf, len, "%s/wal/%016lx.log", dir, (unsigned long)no);
}

static bool seg_exists(uint64_t no)
{
	char p[512];
	struct stat st;
	seg_path(no, p, sizeof(p));
	return stat(p, &st) == 0;
}

static uint64_t seg_size(uint64_t no)
{
	char p[512];
	struct stat st;
	seg_path(no, p, sizeof(p));
	cr_assert_eq(stat(p, &st), 0, "segment %lu: %s", (unsigned long)no, strerror(errno));
	return (uint64_t)st.st_size;
}

static unsigned seg_count(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/wal", dir);
	DIR *d = opendir(p);
	cr_assert_not_null(d);
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".log"))
			n++;
	closedir(d);
	return n;
}

static void seg_truncate(uint64_t no, uint64_t size)
{
	char p[512];
	seg_path(no, p, sizeof(p));
	cr_assert_eq(truncate(p, (off_t)size), 0, "truncate: %s", strerror(errno));
}

static void seg_write(uint64_t no, const void *buf, size_t len, uint64_t off)
{
	char p[512];
	seg_path(no, p, sizeof(p));
	int fd = open(p, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	cr_assert_eq(close(fd), 0);
}

static struct wal_stats wstats(struct wal *w)
{
	struct wal_stats st;
	wal_get_stats(w, &st);
	return st;
}

/* ---- round trip ---------------------------------------------------------------------- */

Test(wal, replay_hands_back_exactly_the_logged_images_in_order)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	cr_assert_eq(r.n, 0, "an empty log replays nothing");
	cr_assert(seg_exists(1), "replay started segment 1");

	enum { N = 20 };
	uint64_t lsn[N], ids[N];
	for (unsigned i = 0; i < N; i++) {
		ids[i] = 1 + i % 7; /* pages logged several times: every image is kept */
		lsn[i] = log_image(w, ids[i], 100 + i);
		if (i)
			cr_assert_eq(lsn[i], lsn[i - 1] + RECLEN,
				     "an LSN is the log position after the record");
	}
	struct wal_stats st = wstats(w);
	cr_assert_eq(st.records, N);
	cr_assert_eq(st.bytes, (uint64_t)N * RECLEN);
	cr_assert_eq(st.end_lsn, lsn[N - 1]);
	cr_assert_lt(st.durable_lsn, lsn[N - 1], "not durable before a flush");
	cr_assert_eq(wal_flush(w, lsn[N - 1]), 0);
	st = wstats(w);
	cr_assert_geq(st.durable_lsn, lsn[N - 1]);
	cr_assert_eq(seg_size(1), HDR_SIZE + (uint64_t)N * RECLEN);
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, N, "replayed %zu of %d", r.n, N);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(r.page_id[i], ids[i], "record %u page id", i);
		cr_assert_eq(r.lsn[i], lsn[i], "record %u lsn", i);
		cr_assert(image_is(r.image[i], ids[i], 100 + i), "record %u image", i);
	}
	/* New records continue after the old ones. */
	uint64_t next = log_image(w, 3, 999);
	cr_assert_gt(next, lsn[N - 1]);
	cr_assert_eq(wal_flush(w, 0), 0);
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, N + 1, "old and new records");
	for (size_t i = 1; i < r.n; i++)
		cr_assert_gt(r.lsn[i], r.lsn[i - 1], "LSNs increase across segments");
	cr_assert_eq(r.lsn[N], next);
	cr_assert(image_is(r.image[N], 3, 999));
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, replay_stops_at_an_apply_error)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	for (unsigned i = 0; i < 5; i++)
		(void)log_image(w, 1, i);
	cr_assert_eq(wal_close(w), 0);

	cr_assert_eq(wal_open(&w, dir, PS), 0);
	replayed_free(&r);
	r.fail_at = 3;
	uint64_t n = 0;
	cr_assert_eq(wal_replay(w, collect, &r, &n), STRATA_EIO, "the apply error is returned");
	cr_assert_eq(r.n, 2);
	cr_assert_eq(wal_close(w), 0);
	/* Nothing was cut: a later replay sees every record. */
	w = open_replay(&r);
	cr_assert_eq(r.n, 5);
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, flush_is_idempotent_and_clamps)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	uint64_t l1 = log_image(w, 1, 1);
	uint64_t f0 = wstats(w).flushes;
	cr_assert_eq(wal_flush(w, l1 + 1000000), 0, "an LSN beyond the end means everything");
	cr_assert_eq(wstats(w).durable_lsn, l1);
	cr_assert_eq(wstats(w).flushes, f0 + 1);
	cr_assert_eq(wal_flush(w, l1), 0);
	cr_assert_eq(wal_flush(w, 0), 0);
	cr_assert_eq(wstats(w).flushes, f0 + 1, "already durable: no second fsync");
	cr_assert_eq(wal_close(w), 0);
}

/* ---- group commit -------------------------------------------------------------------- */

enum { GC_THREADS = 8, GC_ROUNDS = 25 };

struct gc_arg {
	struct wal *w;
	pthread_barrier_t *start;
	unsigned index;
	int errors;
	int not_durable;
	uint64_t lsns[GC_ROUNDS];
};

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;
	uint8_t img[PS];
	pthread_barrier_wait(a->start);
	for (unsigned i = 0; i < GC_ROUNDS; i++) {
		uint64_t id = 1 + a->index;
		unsigned seed = a->index * 1000 + i;
		page_init(img, PS, id);
		(void)page_insert_record(img, PS, &seed, sizeof(seed), NULL);
		uint64_t lsn = 0;
		if (wal_log_page(a->w, id, img, &lsn) != 0) {
			a->errors++;
			continue;
		}
		a->lsns[i] = lsn;
		if (wal_flush(a->w, lsn) != 0) {
			a->errors++;
			continue;
		}
		struct wal_stats st;
		wal_get_stats(a->w, &st);
		if (st.durable_lsn < lsn)
			a->not_durable++;
	}
	return NULL;
}

Test(wal, group_commit_shares_fsyncs)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	uint64_t f0 = wstats(w).flushes;
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, GC_THREADS);
	static struct gc_arg a[GC_THREADS];
	pthread_t t[GC_THREADS];
	for (unsigned i = 0; i < GC_THREADS; i++) {
		a[i] = (struct gc_arg){.w = w, .start = &start, .index = i};
		cr_assert_eq(pthread_create(&t[i], NULL, gc_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < GC_THREADS; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (unsigned i = 0; i < GC_THREADS; i++) {
		cr_assert_eq(a[i].errors, 0, "thread %u: a log or flush call failed", i);
		cr_assert_eq(a[i].not_durable, 0, "thread %u: wal_flush returned before its LSN was durable", i);
	}
	struct wal_stats st = wstats(w);
	uint64_t calls = GC_THREADS * GC_ROUNDS;
	cr_assert_eq(st.records, calls);
	uint64_t fsyncs = st.flushes - f0;
	cr_log_info("group commit: %lu wal_flush calls, %lu fsyncs, %lu rode on another's",
		    (unsigned long)calls, (unsigned long)fsyncs, (unsigned long)st.group_commits);
	cr_assert_geq(fsyncs, 1);
	cr_assert_lt(fsyncs, calls, "%lu fsyncs for %lu concurrent flushes: no group commit",
		     (unsigned long)fsyncs, (unsigned long)calls);
	cr_assert_eq(st.durable_lsn, st.end_lsn);
	cr_assert_eq(wal_close(w), 0);

	/* Every record is in the log once, LSNs strictly increasing. */
	w = open_replay(&r);
	cr_assert_eq(r.n, calls);
	for (size_t i = 1; i < r.n; i++)
		cr_assert_eq(r.lsn[i], r.lsn[i - 1] + RECLEN, "records never interleave");
	for (unsigned i = 0; i < GC_THREADS; i++)
		for (unsigned j = 0; j < GC_ROUNDS; j++) {
			size_t k = (a[i].lsns[j] - r.lsn[0]) / RECLEN;
			cr_assert_lt(k, r.n);
			cr_assert_eq(r.lsn[k], a[i].lsns[j]);
			cr_assert_eq(r.page_id[k], 1 + i);
			const void *rec;
			size_t len;
			unsigned seed;
			cr_assert_eq(page_get_record(r.image[k], PS, 0, &rec, &len), 0);
			cr_assert_eq(len, sizeof(seed));
			memcpy(&seed, rec, sizeof(seed));
			cr_assert_eq(seed, i * 1000 + j, "thread %u round %u: image of another call", i, j);
		}
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

/* ---- damaged tails ---------------------------------------------------------------------- */

enum { TN = 5 };

/* Logs TN images into segment 1, flushed, closed; their LSNs in lsn. */
static void five_records(uint64_t lsn[TN])
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	for (unsigned i = 0; i < TN; i++)
		lsn[i] = log_image(w, 10 + i, i);
	cr_assert_eq(wal_flush(w, 0), 0);
	cr_assert_eq(wal_close(w), 0);
	cr_assert_eq(seg_size(1), HDR_SIZE + TN * RECLEN);
	replayed_free(&r);
}

static void expect_first(struct replayed *r, size_t n, const uint64_t lsn[TN])
{
	cr_assert_eq(r->n, n, "replayed %zu records, expected %zu", r->n, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(r->lsn[i], lsn[i]);
		cr_assert_eq(r->page_id[i], 10 + i);
		cr_assert(image_is(r->image[i], 10 + i, (unsigned)i));
	}
}

Test(wal, torn_last_record_is_dropped_and_cut)
{
	uint64_t lsn[TN];
	five_records(lsn);
	seg_truncate(1, HDR_SIZE + (TN - 1) * RECLEN + RECLEN / 2);

	static struct replayed r;
	struct wal *w = open_replay(&r);
	expect_first(&r, TN - 1, lsn);
	cr_assert_eq(seg_size(1), HDR_SIZE + (TN - 1) * RECLEN, "the torn tail is truncated");
	/* The log goes on from the last valid record. */
	uint64_t next = log_image(w, 77, 77);
	cr_assert_eq(next, lsn[TN - 2] + RECLEN, "the next LSN follows the last valid record");
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, TN, "four survivors and the new record");
	cr_assert_eq(r.lsn[TN - 1], next);
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, torn_tail_then_new_record_replays_both)
{
	uint64_t lsn[TN];
	five_records(lsn);
	seg_truncate(1, HDR_SIZE + (TN - 1) * RECLEN + 100);

	static struct replayed r;
	struct wal *w = open_replay(&r);
	expect_first(&r, TN - 1, lsn);
	uint64_t next = log_image(w, 77, 77);
	cr_assert_eq(wal_flush(w, next), 0);
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, TN, "the four survivors and the new record");
	for (size_t i = 0; i < TN - 1; i++)
		cr_assert_eq(r.lsn[i], lsn[i]);
	cr_assert_eq(r.lsn[TN - 1], next);
	cr_assert_eq(r.page_id[TN - 1], 77);
	cr_assert(image_is(r.image[TN - 1], 77, 77));
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, overwritten_last_bytes_fail_the_crc)
{
	uint64_t lsn[TN];
	five_records(lsn);
	uint8_t junk[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
	seg_write(1, junk, sizeof(junk), HDR_SIZE + TN * RECLEN - sizeof(junk));

	static struct replayed r;
	struct wal *w = open_replay(&r);
	expect_first(&r, TN - 1, lsn);
	cr_assert_eq(seg_size(1), HDR_SIZE + (TN - 1) * RECLEN);
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

static void garbage_after(size_t len)
{
	uint64_t lsn[TN];
	five_records(lsn);
	uint8_t *junk = malloc(len);
	cr_assert_not_null(junk);
	uint32_t x = 99;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	/* A plausible length field, to get past the first check. */
	if (len >= 8) {
		uint32_t l = RECLEN;
		memcpy(junk + 4, &l, 4);
	}
	seg_write(1, junk, len, HDR_SIZE + TN * RECLEN);
	free(junk);

	static struct replayed r;
	struct wal *w = open_replay(&r);
	expect_first(&r, TN, lsn);
	cr_assert_eq(seg_size(1), HDR_SIZE + TN * RECLEN, "the garbage is cut");
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, short_garbage_tail_is_ignored)
{
	garbage_after(100);
}

Test(wal, record_sized_garbage_tail_is_ignored)
{
	garbage_after(RECLEN + 100);
}

/* ---- segments ------------------------------------------------------------------------- */

Test(wal, replay_spans_segments)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	uint64_t lsn[5];
	for (unsigned i = 0; i < 3; i++)
		lsn[i] = log_image(w, 1 + i, i);
	uint64_t s = 0;
	cr_assert_eq(wal_switch(w, &s), 0);
	cr_assert_eq(s, 2);
	cr_assert_geq(wstats(w).durable_lsn, lsn[2], "a switch makes the old segment durable");
	for (unsigned i = 3; i < 5; i++)
		lsn[i] = log_image(w, 1 + i, i);
	cr_assert_eq(seg_size(1), HDR_SIZE + 3 * RECLEN);
	cr_assert_eq(seg_size(2), HDR_SIZE + 2 * RECLEN);
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(r.lsn[i], lsn[i]);
		cr_assert(image_is(r.image[i], 1 + i, i));
	}
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, switch_and_drop_before_remove_old_segments)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	for (unsigned i = 0; i < 3; i++)
		(void)log_image(w, 1 + i, i);
	uint64_t s = 0;
	cr_assert_eq(wal_switch(w, &s), 0);
	uint64_t newer[2];
	newer[0] = log_image(w, 8, 80);
	newer[1] = log_image(w, 9, 90);
	cr_assert_eq(wstats(w).segments, 2);
	cr_assert_eq(wal_drop_before(w, s), 0);
	cr_assert_not(seg_exists(1), "the old segment is deleted");
	cr_assert(seg_exists(s));
	cr_assert_eq(seg_count(), 1);
	struct wal_stats st = wstats(w);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.log_bytes, HDR_SIZE + 2 * RECLEN);
	cr_assert_eq(wal_close(w), 0);

	w = open_replay(&r);
	cr_assert_eq(r.n, 2, "only the records after the switch");
	cr_assert_eq(r.lsn[0], newer[0]);
	cr_assert_eq(r.lsn[1], newer[1]);
	cr_assert(image_is(r.image[0], 8, 80));
	cr_assert(image_is(r.image[1], 9, 90));
	/* LSNs keep growing after the old segments are gone. */
	cr_assert_gt(log_image(w, 1, 1), newer[1]);
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

Test(wal, segment_of_another_page_size_is_rejected)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	(void)log_image(w, 1, 1);
	cr_assert_eq(wal_close(w), 0);
	uint64_t size = seg_size(1);

	/* wal.h: STRATA_EBAD_REQUEST for a segment of another page size, from
	 * wal_open; at the latest wal_replay must refuse before applying any. */
	struct wal *w2 = NULL;
	int rc = wal_open(&w2, dir, 8192);
	if (rc == 0) {
		replayed_free(&r);
		uint64_t n = 0;
		rc = wal_replay(w2, collect, &r, &n);
		cr_assert_eq(r.n, 0, "no image of the wrong size is applied");
		cr_assert_eq(wal_close(w2), 0);
	}
	cr_assert_eq(rc, STRATA_EBAD_REQUEST, "got %s", strata_strerror(rc));
	cr_assert_eq(seg_size(1), size, "the segment is left alone");
	cr_assert_not(seg_exists(3), "no segment of the wrong size is started");

	w = open_replay(&r);
	cr_assert_eq(r.n, 1, "the right page size still reads it");
	cr_assert_eq(wal_close(w), 0);
	replayed_free(&r);
}

/* ---- fsync failure ------------------------------------------------------------------- */

Test(wal, fsync_failure_is_sticky)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	uint64_t lsn = log_image(w, 1, 1);
	struct file_fault f = {.ops = FILE_OP_SYNC,
			       .path_contains = "/wal/",
			       .kind = FILE_FAULT_ERROR,
			       .errnum = EIO};
	cr_assert_eq(file_fault_inject(&f), 0);
	cr_assert_eq(wal_flush(w, lsn), STRATA_EREAD_ONLY);
	cr_assert_eq(file_fault_fired(), 1);
	cr_assert_lt(wstats(w).durable_lsn, lsn, "not durable");
	file_fault_clear();

	/* The fault is gone, the log stays failed (never retry an fsync). */
	uint8_t img[PS];
	make_image(img, 2, 2);
	uint64_t l2 = 0;
	cr_assert_eq(wal_log_page(w, 2, img, &l2), STRATA_EREAD_ONLY);
	cr_assert_eq(wal_flush(w, 0), STRATA_EREAD_ONLY);
	cr_assert_eq(wal_flush(w, lsn), STRATA_EREAD_ONLY);
	uint64_t s;
	cr_assert_neq(wal_switch(w, &s), 0);
	cr_assert_eq(file_fault_fired(), 0, "no fault needed for the later failures");
	cr_assert_neq(wal_close(w), 0, "close reports the failed log");
	replayed_free(&r);
}

Test(wal, failed_fsync_is_never_retried)
{
	static struct replayed r;
	struct wal *w = open_replay(&r);
	uint64_t lsn = 0;
	for (unsigned i = 0; i < 4; i++)
		lsn = log_image(w, 1 + i, i);
	struct file_fault f = {.ops = FILE_OP_SYNC,
			       .path_contains = "/wal/",
			       .kind = FILE_FAULT_ERROR,
			       .errnum = EIO,
			       .times = FILE_FAULT_FOREVER};
	cr_assert_eq(file_fault_inject(&f), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(wal_flush(w, lsn), STRATA_EREAD_ONLY);
	cr_assert_eq(file_fault_fired(), 1, "one fsync tried, never retried");
	cr_assert_neq(wal_close(w), 0);
	replayed_free(&r);
}
