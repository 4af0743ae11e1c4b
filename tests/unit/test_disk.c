/*
 * tests/unit/test_disk.c — core/disk (the disk manager).
 *
 * Each test runs in its own process (criterion) with its own directory
 * under /var/tmp (disk-backed here, so O_DIRECT works; /tmp may be tmpfs).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "core/stats.h"
#include "strata/error.h"

#define PS 4096u

static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-disk-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-disk-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
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
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(disk, .init = setup, .fini = teardown);

static struct disk *open_disk(unsigned flags)
{
	struct disk *d = NULL;
	int rc = disk_open(&d, dir, PS, flags);
	cr_assert_eq(rc, 0, "disk_open: %s", strata_strerror(rc));
	return d;
}

static void *page_buf(void)
{
	void *p = NULL;
	cr_assert_eq(posix_memalign(&p, 4096, PS), 0);
	return p;
}

/* A formatted page for id with one record of recognisable bytes. */
static void make_page(void *buf, uint64_t id, unsigned seed)
{
	unsigned char rec[200];
	for (size_t i = 0; i < sizeof(rec); i++)
		rec[i] = (unsigned char)(seed * 13u + i);
	page_init(buf, PS, id);
	cr_assert_eq(page_insert_record(buf, PS, rec, sizeof(rec), NULL), 0);
}

/* Whether buf is the page make_page(id, seed) makes (checksum aside). */
static bool is_page(const void *buf, uint64_t id, unsigned seed)
{
	unsigned char expect[PS];
	make_page(expect, id, seed);
	page_checksum_update(expect, PS);
	return memcmp(buf, expect, PS) == 0;
}

static bool all_zero(const void *buf)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < PS; i++)
		if (p[i])
			return false;
	return true;
}

static char *data_path(void)
{
	static char p[300];
	snprintf(p, sizeof(p), "%s/data.db", dir);
	return p;
}

static uint64_t alloc(struct disk *d)
{
	uint64_t id = 0;
	int rc = disk_allocate_page(d, &id);
	cr_assert_eq(rc, 0, "allocate: %s", strata_strerror(rc));
	return id;
}

static void write_new(struct disk *d, uint64_t id, unsigned seed)
{
	void *b = page_buf();
	make_page(b, id, seed);
	int rc = disk_write_page(d, id, b);
	cr_assert_eq(rc, 0, "write %lu: %s", (unsigned long)id, strata_strerror(rc));
	free(b);
}

static size_t drain(struct strata_event *out, size_t max)
{
	return emit_drain(out, max);
}

/* ---- basics ------------------------------------------------------------------------ */

Test(disk, round_trip_survives_reopen)
{
	struct disk *d = open_disk(0);
	cr_assert_eq(disk_num_pages(d), 1, "a new file has only its header page");
	uint64_t ids[3];
	for (int i = 0; i < 3; i++) {
		ids[i] = alloc(d);
		cr_assert_eq(ids[i], (uint64_t)i + 1);
		write_new(d, ids[i], (unsigned)i + 100);
	}
	cr_assert_eq(disk_num_pages(d), 4);
	void *b = page_buf();
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(disk_read_page(d, ids[i], b), 0);
		cr_assert(is_page(b, ids[i], (unsigned)i + 100));
	}
	cr_assert_eq(disk_close(d), 0);

	d = open_disk(0);
	cr_assert_eq(disk_num_pages(d), 4);
	for (int i = 0; i < 3; i++) {
		memset(b, 0xEE, PS);
		cr_assert_eq(disk_read_page(d, ids[i], b), 0);
		cr_assert(is_page(b, ids[i], (unsigned)i + 100), "page %d after reopen", i);
	}
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, bad_ids_and_unformatted_writes)
{
	struct disk *d = open_disk(0);
	void *b = page_buf();
	uint64_t id = alloc(d);
	cr_assert_eq(disk_read_page(d, 0, b), STRATA_EBAD_REQUEST, "page 0 is the header");
	cr_assert_eq(disk_read_page(d, id + 1, b), STRATA_EBAD_REQUEST, "beyond the file");
	memset(b, 0, PS);
	cr_assert_eq(disk_write_page(d, id, b), STRATA_EBAD_REQUEST, "not formatted");
	make_page(b, id + 5, 1);
	cr_assert_eq(disk_write_page(d, id, b), STRATA_EBAD_REQUEST, "carries another id");
	make_page(b, 0, 1);
	cr_assert_eq(disk_write_page(d, 0, b), STRATA_EBAD_REQUEST, "header not writable");
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, never_written_page_reads_zero_not_found)
{
	struct disk *d = open_disk(0);
	uint64_t id = alloc(d);
	void *b = page_buf();
	memset(b, 0xCC, PS);
	cr_assert_eq(disk_read_page(d, id, b), STRATA_ENOT_FOUND);
	cr_assert(all_zero(b));
	cr_assert_eq(core_stats()->io.checksum_failures, 0);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, page_allocated_event_and_counter)
{
	struct disk *d = open_disk(0);
	static struct strata_event ev[4096];
	(void)drain(ev, 4096);
	uint64_t before = core_stats()->pages.allocated;
	uint64_t id = alloc(d);
	cr_assert_eq(core_stats()->pages.allocated, before + 1);
	size_t n = drain(ev, 4096), found = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].variant == STRATA_EV_PageAllocated) {
			cr_assert_eq(ev[i].u.PageAllocated.page_id, id);
			cr_assert_eq(ev[i].u.PageAllocated.size, PS);
			found++;
		}
	cr_assert_eq(found, 1);
	cr_assert_eq(disk_close(d), 0);
}

/* ---- free list ------------------------------------------------------------------------ */

Test(disk, free_list_persists_across_reopen)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 5; i++)
		write_new(d, alloc(d), (unsigned)i);
	cr_assert_eq(disk_free_page(d, 3), 0);
	cr_assert_eq(disk_free_page(d, 3), STRATA_ECONFLICT, "double free");
	cr_assert_eq(disk_free_count(d), 1);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(d, 3, b), STRATA_ENOT_FOUND, "freed pages read as never written");
	cr_assert_eq(disk_close(d), 0);

	d = open_disk(0);
	cr_assert_eq(disk_free_count(d), 1);
	cr_assert_eq(alloc(d), 3, "the freed page is reused first");
	cr_assert_eq(alloc(d), 6, "then the file grows");
	cr_assert_eq(disk_free_count(d), 0);
	cr_assert_eq(disk_close(d), 0);

	/* Reallocation is persisted too: 3 is not handed out again. */
	d = open_disk(0);
	cr_assert_eq(disk_free_count(d), 0);
	cr_assert_eq(alloc(d), 7);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, free_list_is_lifo_and_flush_persists)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 6; i++)
		(void)alloc(d);
	cr_assert_eq(disk_free_page(d, 2), 0);
	cr_assert_eq(disk_free_page(d, 5), 0);
	cr_assert_eq(disk_free_page(d, 4), 0);
	cr_assert_eq(disk_flush(d), 0);
	/* A second handle sees the flushed list (no close of the first). */
	struct disk *d2 = open_disk(DISK_NO_URING);
	cr_assert_eq(disk_free_count(d2), 3);
	cr_assert_eq(disk_close(d2), 0);
	cr_assert_eq(alloc(d), 4);
	cr_assert_eq(alloc(d), 5);
	cr_assert_eq(alloc(d), 2);
	cr_assert_eq(disk_close(d), 0);
}

Test(disk, damaged_free_list_rejected)
{
	struct disk *d = open_disk(0);
	(void)alloc(d);
	(void)alloc(d);
	cr_assert_eq(disk_free_page(d, 1), 0);
	cr_assert_eq(disk_close(d), 0);
	char p[300];
	snprintf(p, sizeof(p), "%s/data.free", dir);
	int fd = open(p, O_RDWR);
	cr_assert(fd >= 0);
	unsigned char byte;
	cr_assert_eq(pread(fd, &byte, 1, 32), 1);
	byte ^= 0x01;
	cr_assert_eq(pwrite(fd, &byte, 1, 32), 1);
	cr_assert_eq(close(fd), 0);
	struct disk *d2 = NULL;
	cr_assert_eq(disk_open(&d2, dir, PS, 0), STRATA_ECORRUPT);
}

struct alloc_arg {
	struct disk *d;
	uint64_t *out;
	int n;
	int rc;
};

static void *alloc_worker(void *p)
{
	struct alloc_arg *a = p;
	for (int i = 0; i < a->n && a->rc == 0; i++)
		a->rc = disk_allocate_page(a->d, &a->out[i]);
	return NULL;
}

Test(disk, concurrent_allocation_gives_distinct_pages)
{
	struct disk *d = open_disk(0);
	enum { T = 4, PER = 100 };
	static uint64_t got[T * PER];
	/* Some freed pages to hand out as well. */
	for (int i = 0; i < 20; i++)
		(void)alloc(d);
	for (uint64_t id = 1; id <= 20; id += 2)
		cr_assert_eq(disk_free_page(d, id), 0);
	struct alloc_arg args[T];
	pthread_t th[T];
	for (int t = 0; t < T; t++) {
		args[t] = (struct alloc_arg){.d = d, .out = &got[t * PER], .n = PER};
		cr_assert_eq(pthread_create(&th[t], NULL, alloc_worker, &args[t]), 0);
	}
	for (int t = 0; t < T; t++) {
		cr_assert_eq(pthread_join(th[t], NULL), 0);
		cr_assert_eq(args[t].rc, 0);
	}
	static unsigned char seen[1000];
	for (int i = 0; i < T * PER; i++) {
		cr_assert(got[i] >= 1 && got[i] < disk_num_pages(d));
		cr_assert_eq(seen[got[i]], 0, "page %lu handed out twice", (unsigned long)got[i]);
		seen[got[i]] = 1;
	}
	cr_assert_eq(disk_num_pages(d), 1 + 20 + T * PER - 10);
	cr_assert_eq(disk_free_count(d), 0);
	cr_assert_eq(disk_close(d), 0);
}

Test(disk, ensure_page_for_recovery)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 4; i++)
		(void)alloc(d);
	cr_assert_eq(disk_ensure_page(d, 0), STRATA_EBAD_REQUEST);
	/* Beyond the end: the file grows to include it. */
	cr_assert_eq(disk_ensure_page(d, 9), 0);
	cr_assert_eq(disk_num_pages(d), 10);
	write_new(d, 9, 9);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(d, 7, b), STRATA_ENOT_FOUND, "the gap reads as never written");
	/* On the free list: taken off it (keeping the others in order). */
	cr_assert_eq(disk_free_page(d, 2), 0);
	cr_assert_eq(disk_free_page(d, 3), 0);
	cr_assert_eq(disk_free_page(d, 4), 0);
	cr_assert_eq(disk_ensure_page(d, 3), 0);
	cr_assert_eq(disk_free_count(d), 2);
	/* Already in use: nothing changes. */
	cr_assert_eq(disk_ensure_page(d, 1), 0);
	cr_assert_eq(disk_free_count(d), 2);
	cr_assert_eq(disk_close(d), 0);
	d = open_disk(0);
	cr_assert_eq(disk_num_pages(d), 10);
	cr_assert_eq(disk_free_count(d), 2, "the removal is persisted");
	cr_assert_eq(alloc(d), 4);
	cr_assert_eq(alloc(d), 2);
	cr_assert_eq(alloc(d), 10);
	cr_assert_eq(disk_read_page(d, 9, b), 0);
	cr_assert(is_page(b, 9, 9));
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, allocation_enospc_leaves_file_unchanged)
{
	struct disk *d = open_disk(0);
	(void)alloc(d);
	struct file_fault ff = {.ops = FILE_OP_ALLOCATE, .path_contains = "data.db",
				.kind = FILE_FAULT_ERROR, .errnum = ENOSPC};
	cr_assert_eq(file_fault_inject(&ff), 0);
	uint64_t id = 0;
	cr_assert_eq(disk_allocate_page(d, &id), STRATA_ENOSPC);
	cr_assert_eq(disk_num_pages(d), 2);
	cr_assert_eq(alloc(d), 2, "the next allocation works and takes the same id");
	cr_assert_eq(disk_close(d), 0);
}

/* ---- page size and header ------------------------------------------------------------- */

Test(disk, wrong_page_size_rejected)
{
	struct disk *d = open_disk(0);
	write_new(d, alloc(d), 1);
	cr_assert_eq(disk_close(d), 0);

	struct disk *d2 = NULL;
	cr_assert_eq(disk_open(&d2, dir, 8192, 0), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_open(&d2, dir, 16384, 0), STRATA_EBAD_REQUEST);
	size_t ps = 0;
	cr_assert_eq(disk_probe_page_size(dir, &ps), 0);
	cr_assert_eq(ps, PS);
	cr_assert_eq(disk_open(&d2, dir, 1000, 0), STRATA_EBAD_REQUEST, "invalid size");
	/* The file was not damaged by the refusals. */
	d = open_disk(0);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(d, 1, b), 0);
	cr_assert(is_page(b, 1, 1));
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, larger_page_size_round_trip)
{
	struct disk *d = NULL;
	cr_assert_eq(disk_open(&d, dir, 16384, 0), 0);
	void *b = NULL;
	cr_assert_eq(posix_memalign(&b, 4096, 16384), 0);
	uint64_t id;
	cr_assert_eq(disk_allocate_page(d, &id), 0);
	page_init(b, 16384, id);
	cr_assert_eq(disk_write_page(d, id, b), 0);
	cr_assert_eq(disk_close(d), 0);
	cr_assert_eq(disk_open(&d, dir, PS, 0), STRATA_EBAD_REQUEST);
	size_t ps;
	cr_assert_eq(disk_probe_page_size(dir, &ps), 0);
	cr_assert_eq(ps, 16384);
	cr_assert_eq(disk_open(&d, dir, 16384, 0), 0);
	memset(b, 0xAA, 16384);
	cr_assert_eq(disk_read_page(d, id, b), 0);
	cr_assert_eq(page_id(b), id);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, not_a_data_file_is_corrupt)
{
	int fd = open(data_path(), O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	static char junk[3 * PS];
	memset(junk, 'x', sizeof(junk));
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert_eq(close(fd), 0);
	struct disk *d = NULL;
	cr_assert_eq(disk_open(&d, dir, PS, 0), STRATA_ECORRUPT);
	size_t ps;
	cr_assert_eq(disk_probe_page_size(dir, &ps), STRATA_ECORRUPT);
	cr_assert_eq(disk_probe_page_size("/nonexistent-strata-dir", &ps), STRATA_ENOT_FOUND);
}

Test(disk, cut_short_header_is_recreated)
{
	/* A crash while the header page was being written: no data pages
	 * exist yet, so the file is started again. */
	int fd = open(data_path(), O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	char part[100] = {0};
	cr_assert_eq(write(fd, part, sizeof(part)), (ssize_t)sizeof(part));
	cr_assert_eq(close(fd), 0);
	struct disk *d = open_disk(0);
	cr_assert_eq(disk_num_pages(d), 1);
	write_new(d, alloc(d), 3);
	cr_assert_eq(disk_close(d), 0);
	size_t ps;
	cr_assert_eq(disk_probe_page_size(dir, &ps), 0);
}

Test(disk, damaged_header_with_data_is_corrupt)
{
	struct disk *d = open_disk(0);
	write_new(d, alloc(d), 3);
	cr_assert_eq(disk_close(d), 0);
	int fd = open(data_path(), O_RDWR);
	cr_assert(fd >= 0);
	unsigned char byte = 0x5A;
	cr_assert_eq(pwrite(fd, &byte, 1, PS - 10), 1); /* inside the header page */
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(disk_open(&d, dir, PS, 0), STRATA_ECORRUPT);
}

/* ---- corruption --------------------------------------------------------------------------- */

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

Test(disk, flipped_byte_is_detected)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 3; i++)
		write_new(d, alloc(d), (unsigned)i + 40);
	cr_assert_eq(disk_close(d), 0);

	/* Flip one byte of page 2 behind the engine's back. */
	unsigned char raw[PS];
	int fd = open(data_path(), O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, raw, PS, 2 * PS), (ssize_t)PS);
	uint32_t stored = le32(raw);
	raw[1000] ^= 0x10;
	uint32_t actual = crc32c(0, raw + 4, PS - 4);
	cr_assert_neq(stored, actual);
	cr_assert_eq(pwrite(fd, raw + 1000, 1, 2 * PS + 1000), 1);
	cr_assert_eq(close(fd), 0);

	d = open_disk(0);
	static struct strata_event ev[4096];
	(void)drain(ev, 4096);
	file_stats_reset();
	void *b = page_buf();
	memset(b, 0xCC, PS);
	cr_assert_eq(disk_read_page(d, 2, b), STRATA_ECORRUPT);
	cr_assert(all_zero(b), "no bad bytes may be left in the buffer");
	cr_assert_eq(core_stats()->io.checksum_failures, 1);

	size_t n = drain(ev, 4096), found = 0;
	for (size_t i = 0; i < n; i++)
		if (ev[i].variant == STRATA_EV_ChecksumFailure) {
			cr_assert_eq(ev[i].family, STRATA_FAM_PAGES);
			cr_assert_eq(ev[i].u.ChecksumFailure.page_id, 2);
			cr_assert_eq(ev[i].u.ChecksumFailure.expected, stored);
			cr_assert_eq(ev[i].u.ChecksumFailure.actual, actual);
			found++;
		}
	cr_assert_eq(found, 1);

	/* Neighbours are fine; the vectored and uring paths see it too. */
	cr_assert_eq(disk_read_page(d, 1, b), 0);
	cr_assert(is_page(b, 1, 40));
	uint64_t ids[3] = {1, 2, 3};
	void *bufs[3] = {page_buf(), page_buf(), page_buf()};
	int res[3];
	memset(bufs[1], 0xCC, PS);
	cr_assert_eq(disk_read_pages_vectored(d, ids, 3, bufs, res), STRATA_ECORRUPT);
	cr_assert_eq(res[0], 0);
	cr_assert_eq(res[1], STRATA_ECORRUPT);
	cr_assert_eq(res[2], 0);
	cr_assert(all_zero(bufs[1]));
	memset(bufs[1], 0xCC, PS);
	cr_assert_eq(disk_read_pages_uring(d, ids, 3, bufs, res), STRATA_ECORRUPT);
	cr_assert_eq(res[1], STRATA_ECORRUPT);
	cr_assert(all_zero(bufs[1]));
	cr_assert(is_page(bufs[2], 3, 42));
	cr_assert_eq(core_stats()->io.checksum_failures, 3);

	/* Rewriting the page repairs it. */
	write_new(d, 2, 41);
	cr_assert_eq(disk_read_page(d, 2, b), 0);
	cr_assert(is_page(b, 2, 41));
	for (int i = 0; i < 3; i++)
		free(bufs[i]);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, misdirected_page_is_corrupt)
{
	struct disk *d = open_disk(0);
	write_new(d, alloc(d), 1);
	write_new(d, alloc(d), 2);
	cr_assert_eq(disk_close(d), 0);
	/* Page 1's (valid, checksummed) bytes land in page 2's slot. */
	unsigned char raw[PS];
	int fd = open(data_path(), O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, raw, PS, 1 * PS), (ssize_t)PS);
	cr_assert_eq(pwrite(fd, raw, PS, 2 * PS), (ssize_t)PS);
	cr_assert_eq(close(fd), 0);

	d = open_disk(0);
	void *b = page_buf();
	memset(b, 0xCC, PS);
	cr_assert_eq(disk_read_page(d, 2, b), STRATA_ECORRUPT);
	cr_assert(all_zero(b));
	cr_assert_eq(disk_read_page(d, 1, b), 0);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, torn_write_is_detected_on_read)
{
	struct disk *d = open_disk(0);
	uint64_t id = alloc(d);
	write_new(d, id, 5);
	struct file_fault torn = {.ops = FILE_OP_WRITE, .path_contains = "data.db",
				  .kind = FILE_FAULT_TORN, .partial_len = PS / 2, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&torn), 0);
	void *b = page_buf();
	make_page(b, id, 6);
	/* A different record so the halves differ. */
	cr_assert_eq(page_insert_record(b, PS, "torn-page-test", 14, NULL), 0);
	cr_assert_eq(disk_write_page(d, id, b), STRATA_EIO);
	file_fault_clear();
	memset(b, 0xCC, PS);
	cr_assert_eq(disk_read_page(d, id, b), STRATA_ECORRUPT);
	cr_assert(all_zero(b));
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, read_error_surfaces)
{
	struct disk *d = open_disk(DISK_NO_URING);
	uint64_t id = alloc(d);
	write_new(d, id, 1);
	struct file_fault ff = {.ops = FILE_OP_READ, .path_contains = "data.db",
				.kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&ff), 0);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(d, id, b), STRATA_EIO);
	cr_assert_eq(disk_read_page(d, id, b), 0);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, failed_fsync_makes_disk_read_only)
{
	struct disk *d = open_disk(0);
	uint64_t id = alloc(d);
	write_new(d, id, 1);
	struct file_fault ff = {.ops = FILE_OP_SYNC, .path_contains = "data.db",
				.kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(disk_flush(d), STRATA_EIO);
	file_fault_clear();
	cr_assert(disk_is_read_only(d));
	void *b = page_buf();
	make_page(b, id, 2);
	cr_assert_eq(disk_write_page(d, id, b), STRATA_EREAD_ONLY);
	cr_assert_eq(disk_flush(d), STRATA_EREAD_ONLY);
	uint64_t x;
	cr_assert_eq(disk_allocate_page(d, &x), STRATA_EREAD_ONLY);
	cr_assert_eq(disk_read_page(d, id, b), 0, "reads still work");
	cr_assert(is_page(b, id, 1));
	cr_assert_eq(disk_close(d), STRATA_EREAD_ONLY, "close reports the failed flush");
	free(b);
}

/* ---- vectored ---------------------------------------------------------------------------- */

Test(disk, vectored_scattered_ids_group_runs)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 12; i++)
		(void)alloc(d);
	uint64_t ids[6] = {7, 3, 4, 5, 10, 11};
	void *bufs[6];
	for (int i = 0; i < 6; i++) {
		bufs[i] = page_buf();
		make_page(bufs[i], ids[i], (unsigned)ids[i] * 3);
	}
	struct disk_counters c0, c1;
	disk_get_counters(d, &c0);
	int res[6];
	cr_assert_eq(disk_write_pages_vectored(d, ids, 6, bufs, res), 0);
	disk_get_counters(d, &c1);
	cr_assert_eq(c1.write_calls - c0.write_calls, 3, "runs 3-5, 7, 10-11");
	cr_assert_eq(c1.pwritev_calls - c0.pwritev_calls, 2);
	cr_assert_eq(c1.pages_written - c0.pages_written, 6);
	cr_assert_eq(core_stats()->io.vectored_writes, 2);

	enum { R = 8 };
	uint64_t rids[R] = {11, 5, 3, 10, 8, 4, 7, 1};
	void *rb[R];
	for (int i = 0; i < R; i++) {
		rb[i] = page_buf();
		memset(rb[i], 0xCC, PS);
	}
	int rres[R];
	disk_get_counters(d, &c0);
	/* Pages 1 and 8 were never written: their results say so. The first
	 * such result in input order is returned. */
	cr_assert_eq(disk_read_pages_vectored(d, rids, R, rb, rres), STRATA_ENOT_FOUND);
	disk_get_counters(d, &c1);
	cr_assert_eq(c1.read_calls - c0.read_calls, 4, "runs 1, 3-5, 7-8, 10-11");
	cr_assert_eq(c1.preadv_calls - c0.preadv_calls, 3);
	cr_assert_eq(c1.pages_read - c0.pages_read, R);
	for (int i = 0; i < R; i++) {
		if (rids[i] == 8 || rids[i] == 1) {
			cr_assert_eq(rres[i], STRATA_ENOT_FOUND);
			cr_assert(all_zero(rb[i]));
			continue;
		}
		cr_assert_eq(rres[i], 0, "page %lu", (unsigned long)rids[i]);
		cr_assert(is_page(rb[i], rids[i], (unsigned)rids[i] * 3), "page %lu",
			  (unsigned long)rids[i]);
	}
	for (int i = 0; i < 6; i++)
		free(bufs[i]);
	for (int i = 0; i < R; i++)
		free(rb[i]);
	cr_assert_eq(disk_close(d), 0);
}

Test(disk, vectored_write_all_or_nothing)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 4; i++)
		(void)alloc(d);
	uint64_t ids[3] = {1, 2, 3};
	void *bufs[3] = {page_buf(), page_buf(), page_buf()};
	make_page(bufs[0], 1, 1);
	make_page(bufs[1], 9, 2); /* wrong id */
	make_page(bufs[2], 3, 3);
	int res[3];
	cr_assert_eq(disk_write_pages_vectored(d, ids, 3, bufs, res), STRATA_EBAD_REQUEST);
	cr_assert_eq(res[1], STRATA_EBAD_REQUEST);
	void *b = page_buf();
	cr_assert_eq(disk_read_page(d, 1, b), STRATA_ENOT_FOUND, "nothing was written");
	cr_assert_eq(disk_read_page(d, 3, b), STRATA_ENOT_FOUND);
	/* Duplicates: the later buffer in input order wins. */
	uint64_t dup[2] = {2, 2};
	void *db[2] = {page_buf(), page_buf()};
	make_page(db[0], 2, 10);
	make_page(db[1], 2, 11);
	cr_assert_eq(disk_write_pages_vectored(d, dup, 2, db, NULL), 0);
	cr_assert_eq(disk_read_page(d, 2, b), 0);
	cr_assert(is_page(b, 2, 11));
	for (int i = 0; i < 3; i++)
		free(bufs[i]);
	free(db[0]);
	free(db[1]);
	free(b);
	cr_assert_eq(disk_close(d), 0);
}

/* ---- coalesced writes ----------------------------------------------------------------- */

Test(disk, coalesced_writes_merge_adjacent_pages)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 10; i++)
		(void)alloc(d);
	/* Pages 1-4 and 6-8, in shuffled order; page 1 twice. */
	uint64_t order[] = {7, 2, 4, 1, 8, 3, 6, 1};
	void *b = page_buf();
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		unsigned seed = (unsigned)order[i] + (i == 7 ? 50u : 0u);
		make_page(b, order[i], seed);
		cr_assert_eq(disk_write_page_coalesced(d, order[i], b), 0);
	}
	cr_assert_eq(disk_coalesced_pending(d), 7);

	/* Reads see buffered pages before they reach the file. */
	struct disk_counters c0, c1;
	disk_get_counters(d, &c0);
	cr_assert_eq(disk_read_page(d, 3, b), 0);
	cr_assert(is_page(b, 3, 3));
	cr_assert_eq(disk_read_page(d, 1, b), 0);
	cr_assert(is_page(b, 1, 51), "the newer copy replaced the older");
	disk_get_counters(d, &c1);
	cr_assert_eq(c1.coalesce_read_hits - c0.coalesce_read_hits, 2);
	cr_assert_eq(c1.read_calls, c0.read_calls, "no file read for buffered pages");

	cr_assert_eq(disk_flush_coalesced(d), 0);
	disk_get_counters(d, &c1);
	cr_assert_eq(disk_coalesced_pending(d), 0);
	cr_assert_eq(c1.coalesced_pages, 7);
	cr_assert_eq(c1.coalesced_calls, 2, "runs 1-4 and 6-8");
	cr_assert_eq(c1.coalesce_saved_syscalls, 5);
	cr_assert_eq(c1.pwritev_calls, 2);
	cr_assert_eq(disk_close(d), 0);

	d = open_disk(0);
	uint64_t expect[] = {1, 2, 3, 4, 6, 7, 8};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		cr_assert_eq(disk_read_page(d, expect[i], b), 0);
		cr_assert(is_page(b, expect[i], (unsigned)expect[i] + (expect[i] == 1 ? 50u : 0u)),
			  "page %lu", (unsigned long)expect[i]);
	}
	cr_assert_eq(disk_read_page(d, 5, b), STRATA_ENOT_FOUND);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, coalesced_buffer_superseded_and_bounded)
{
	struct disk_config cfg = {.page_size = PS, .coalesce_max = 4};
	struct disk *d = NULL;
	cr_assert_eq(disk_open_config(&d, dir, &cfg), 0);
	for (int i = 0; i < 10; i++)
		(void)alloc(d);
	void *b = page_buf();
	make_page(b, 1, 1);
	cr_assert_eq(disk_write_page_coalesced(d, 1, b), 0);
	/* A direct write is newer: the buffered copy must not overwrite it. */
	make_page(b, 1, 2);
	cr_assert_eq(disk_write_page(d, 1, b), 0);
	cr_assert_eq(disk_coalesced_pending(d), 0);
	/* A freed page's buffered copy is dropped as well. */
	make_page(b, 2, 3);
	cr_assert_eq(disk_write_page_coalesced(d, 2, b), 0);
	cr_assert_eq(disk_free_page(d, 2), 0);
	cr_assert_eq(disk_coalesced_pending(d), 0);
	cr_assert_eq(disk_flush_coalesced(d), 0);
	cr_assert_eq(disk_read_page(d, 1, b), 0);
	cr_assert(is_page(b, 1, 2));
	cr_assert_eq(disk_read_page(d, 2, b), STRATA_ENOT_FOUND);

	/* The fourth buffered page forces a flush. */
	for (uint64_t id = 3; id <= 6; id++) {
		make_page(b, id, (unsigned)id);
		cr_assert_eq(disk_write_page_coalesced(d, id, b), 0);
	}
	cr_assert_eq(disk_coalesced_pending(d), 0);
	struct disk_counters c;
	disk_get_counters(d, &c);
	cr_assert_eq(c.coalesced_pages, 4);
	cr_assert_eq(c.coalesce_saved_syscalls, 3);
	/* Unformatted pages are refused. */
	memset(b, 0, PS);
	cr_assert_eq(disk_write_page_coalesced(d, 7, b), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

Test(disk, coalesced_failed_flush_keeps_pages)
{
	struct disk *d = open_disk(0);
	for (int i = 0; i < 4; i++)
		(void)alloc(d);
	void *b = page_buf();
	for (uint64_t id = 1; id <= 3; id++) {
		make_page(b, id, (unsigned)id);
		cr_assert_eq(disk_write_page_coalesced(d, id, b), 0);
	}
	struct file_fault ff = {.ops = FILE_OP_WRITE, .path_contains = "data.db",
				.kind = FILE_FAULT_ERROR, .errnum = ENOSPC};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(disk_flush_coalesced(d), STRATA_ENOSPC);
	cr_assert_eq(disk_coalesced_pending(d), 3, "nothing lost");
	file_fault_clear();
	cr_assert_eq(disk_flush_coalesced(d), 0);
	cr_assert_eq(disk_close(d), 0);
	d = open_disk(0);
	for (uint64_t id = 1; id <= 3; id++) {
		cr_assert_eq(disk_read_page(d, id, b), 0);
		cr_assert(is_page(b, id, (unsigned)id));
	}
	cr_assert_eq(disk_close(d), 0);
	free(b);
}

/* ---- io_uring and its fallback ---------------------------------------------------------- */

enum { UN = 100 };

static void read_all_uring(unsigned flags, unsigned char *out, struct disk_counters *c,
			   bool *uring)
{
	struct disk *d = open_disk(flags);
	*uring = disk_uring_enabled(d);
	uint64_t ids[UN];
	void *bufs[UN];
	int res[UN];
	for (int i = 0; i < UN; i++) {
		ids[i] = (uint64_t)((i * 37) % UN) + 1; /* scattered order */
		bufs[i] = out + (size_t)i * PS;
	}
	cr_assert_eq(disk_read_pages_uring(d, ids, UN, bufs, res), 0);
	for (int i = 0; i < UN; i++) {
		cr_assert_eq(res[i], 0);
		cr_assert(is_page(bufs[i], ids[i], (unsigned)ids[i] * 7));
	}
	disk_get_counters(d, c);
	cr_assert_eq(disk_close(d), 0);
}

Test(disk, uring_and_fallback_give_identical_bytes)
{
	struct disk *d = open_disk(DISK_NO_URING);
	for (int i = 0; i < UN; i++) {
		uint64_t id = alloc(d);
		write_new(d, id, (unsigned)id * 7);
	}
	cr_assert_eq(disk_close(d), 0);

	unsigned char *a = NULL, *b = NULL;
	cr_assert_eq(posix_memalign((void **)&a, 4096, (size_t)UN * PS), 0);
	cr_assert_eq(posix_memalign((void **)&b, 4096, (size_t)UN * PS), 0);
	struct disk_counters ca, cb;
	bool ua, ub;

	file_stats_reset();
	read_all_uring(0, a, &ca, &ua);
	if (ua) {
		cr_assert_eq(ca.uring_batches, 1);
		cr_assert_eq(ca.uring_pages, UN);
		cr_assert_eq(core_stats()->io.uring_ops, UN);
		cr_assert_eq(core_stats()->io.uring_enabled, 1);
	}
	uint64_t uring_ops = core_stats()->io.uring_ops;

	read_all_uring(DISK_NO_URING, b, &cb, &ub);
	cr_assert(!ub);
	cr_assert_eq(core_stats()->io.uring_enabled, 0);
	cr_assert_eq(cb.uring_batches, 0);
	cr_assert_eq(cb.read_calls, UN, "one pread per page");
	cr_assert_eq(core_stats()->io.uring_ops, uring_ops, "the fallback never uses the ring");
	cr_assert_arr_eq(a, b, (size_t)UN * PS);
	free(a);
	free(b);
	/* If this process may create a ring, the disk must have used one. */
	struct file_ring *probe = NULL;
	int prc = file_ring_open(&probe, 4);
	file_ring_close(probe);
	if (prc == 0)
		cr_assert(ua, "io_uring works here but the disk fell back");
	else
		cr_skip_test("io_uring unavailable: only the fallback was exercised");
}

Test(disk, uring_more_pages_than_depth_with_errors)
{
	struct disk_config cfg = {.page_size = PS, .uring_depth = 4};
	struct disk *d = NULL;
	cr_assert_eq(disk_open_config(&d, dir, &cfg), 0);
	for (int i = 0; i < 20; i++)
		write_new(d, alloc(d), (unsigned)i + 1);
	uint64_t ids[22];
	void *bufs[22];
	int res[22];
	for (int i = 0; i < 20; i++)
		ids[i] = (uint64_t)i + 1;
	ids[20] = 0;    /* invalid */
	ids[21] = 1000; /* beyond the file */
	for (int i = 0; i < 22; i++)
		bufs[i] = page_buf();
	struct file_fault ff = {.ops = FILE_OP_READ, .path_contains = "data.db", .nth = 5,
				.kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(disk_read_pages_uring(d, ids, 22, bufs, res), STRATA_EIO);
	for (int i = 0; i < 20; i++) {
		if (i == 4) {
			cr_assert_eq(res[i], STRATA_EIO);
			continue;
		}
		cr_assert_eq(res[i], 0, "page %d: %d", i + 1, res[i]);
		cr_assert(is_page(bufs[i], ids[i], (unsigned)ids[i]));
	}
	cr_assert_eq(res[20], STRATA_EBAD_REQUEST);
	cr_assert_eq(res[21], STRATA_EBAD_REQUEST);
	for (int i = 0; i < 22; i++)
		free(bufs[i]);
	cr_assert_eq(disk_close(d), 0);
}

/* ---- async queue ---------------------------------------------------------------------- */

struct cb_log {
	uint64_t ids[32];
	int results[32];
	int n;
};

static void log_cb(void *arg, uint64_t page_id, int result)
{
	struct cb_log *l = arg;
	l->ids[l->n] = page_id;
	l->results[l->n] = result;
	l->n++;
}

static void async_priority_case(unsigned flags)
{
	struct disk *d = open_disk(flags);
	for (int i = 0; i < 5; i++)
		write_new(d, alloc(d), (unsigned)i + 60);
	struct cb_log log = {0};
	int prio[5] = {1, 5, 3, 5, 2};
	void *bufs[5];
	for (int i = 0; i < 5; i++) {
		bufs[i] = page_buf();
		cr_assert_eq(disk_read_page_async(d, (uint64_t)i + 1, bufs[i], prio[i], log_cb, &log), 0);
	}
	cr_assert_eq(disk_read_page_async(d, 99, bufs[0], 9, log_cb, &log), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_async_pending(d), 5);
	cr_assert_eq(log.n, 0, "nothing runs before processing");

	cr_assert_eq(disk_process_async_ops(d, 2), 2);
	cr_assert_eq(log.n, 2);
	cr_assert_eq(log.ids[0], 2, "priority 5, queued first");
	cr_assert_eq(log.ids[1], 4, "priority 5, queued second");
	cr_assert_eq(disk_async_pending(d), 3);

	cr_assert_eq(disk_process_async_ops(d, 10), 3);
	cr_assert_eq(log.n, 5);
	cr_assert_eq(log.ids[2], 3);
	cr_assert_eq(log.ids[3], 5);
	cr_assert_eq(log.ids[4], 1);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(log.results[i], 0);
		cr_assert(is_page(bufs[i], (uint64_t)i + 1, (unsigned)i + 60));
	}
	cr_assert_eq(disk_process_async_ops(d, 10), 0);

	/* Async write, then an async read of it; and an unformatted write is
	 * refused at once (its callback never runs). */
	struct cb_log wl = {0};
	make_page(bufs[0], 3, 99);
	cr_assert_eq(disk_write_page_async(d, 3, bufs[0], 0, log_cb, &wl), 0);
	memset(bufs[1], 0, PS);
	cr_assert_eq(disk_write_page_async(d, 4, bufs[1], 0, log_cb, &wl), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_process_async_ops(d, 10), 1);
	cr_assert_eq(wl.n, 1);
	cr_assert_eq(wl.results[0], 0);
	cr_assert_eq(disk_read_page_async(d, 3, bufs[2], 0, log_cb, &wl), 0);
	/* Queued ops left at close run there. */
	cr_assert_eq(disk_close(d), 0);
	cr_assert_eq(wl.n, 2);
	cr_assert_eq(wl.results[1], 0);
	cr_assert(is_page(bufs[2], 3, 99));
	for (int i = 0; i < 5; i++)
		free(bufs[i]);
}

Test(disk, async_queue_honours_priority) { async_priority_case(0); }
Test(disk, async_queue_honours_priority_without_uring) { async_priority_case(DISK_NO_URING); }

/* ---- O_DIRECT ------------------------------------------------------------------------- */

Test(disk, direct_io_round_trip)
{
	struct disk *d = NULL;
	int rc = disk_open(&d, dir, PS, DISK_DIRECT);
	if (rc == STRATA_EBAD_REQUEST)
		cr_skip_test("the file system refuses O_DIRECT");
	cr_assert_eq(rc, 0, "disk_open(DISK_DIRECT): %s", strata_strerror(rc));
	for (int i = 0; i < 8; i++)
		(void)alloc(d);

	void *aligned = page_buf();
	make_page(aligned, 1, 11);
	cr_assert_eq(disk_write_page(d, 1, aligned), 0);
	/* An unaligned buffer is bounced. */
	unsigned char *raw = malloc(PS + 64);
	cr_assert_not_null(raw);
	void *unaligned = raw + 8;
	make_page(unaligned, 2, 12);
	cr_assert_eq(disk_write_page(d, 2, unaligned), 0);
	struct disk_counters c;
	disk_get_counters(d, &c);
	cr_assert_eq(c.bounced, 1);

	/* Vectored + coalesced under O_DIRECT. */
	uint64_t ids[2] = {3, 4};
	void *bufs[2] = {page_buf(), raw + 8};
	make_page(bufs[0], 3, 13);
	cr_assert_eq(disk_write_page_coalesced(d, 3, bufs[0]), 0);
	make_page(bufs[1], 4, 14);
	cr_assert_eq(disk_write_page_coalesced(d, 4, bufs[1]), 0);
	cr_assert_eq(disk_flush(d), 0);
	cr_assert_eq(disk_close(d), 0);

	cr_assert_eq(disk_open(&d, dir, PS, DISK_DIRECT), 0);
	memset(unaligned, 0, PS);
	cr_assert_eq(disk_read_page(d, 2, unaligned), 0);
	cr_assert(is_page(unaligned, 2, 12));
	cr_assert_eq(disk_read_page(d, 1, aligned), 0);
	cr_assert(is_page(aligned, 1, 11));
	int res[2];
	cr_assert_eq(disk_read_pages_vectored(d, ids, 2, bufs, res), 0);
	cr_assert(is_page(bufs[0], 3, 13));
	cr_assert(is_page(bufs[1], 4, 14));
	memset(bufs[0], 0, PS);
	memset(bufs[1], 0, PS);
	cr_assert_eq(disk_read_pages_uring(d, ids, 2, bufs, res), 0);
	cr_assert(is_page(bufs[0], 3, 13));
	cr_assert(is_page(bufs[1], 4, 14));
	cr_assert_eq(disk_read_page(d, 5, aligned), STRATA_ENOT_FOUND);
	cr_assert_eq(disk_free_page(d, 1), 0);
	cr_assert_eq(disk_read_page(d, 1, aligned), STRATA_ENOT_FOUND);
	cr_assert_eq(disk_close(d), 0);
	free(bufs[0]);
	free(aligned);
	free(raw);
}

Test(disk, bad_open_arguments)
{
	struct disk *d = NULL;
	cr_assert_eq(disk_open(&d, dir, 3000, 0), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_open(&d, dir, PS, 1u << 9), STRATA_EBAD_REQUEST);
	cr_assert_eq(disk_open(&d, "/nonexistent-strata-dir/x", PS, 0), STRATA_ENOT_FOUND);
	cr_assert_eq(disk_close(NULL), 0);
}
