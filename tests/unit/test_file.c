/*
 * tests/unit/test_file.c — core/file (the file layer) and core/iostats.
 *
 * Criterion runs each test in its own process, so the process-wide stats,
 * fault rules and event rings start fresh in every test.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/emit.h"
#include "core/file.h"
#include "core/iostats.h"
#include "core/stats.h"
#include "strata/error.h"

static char dir[256];
static char path[300];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-file-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-file-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/f.dat", dir);
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

TestSuite(file, .init = setup, .fini = teardown);

static struct sfile *open_new(void)
{
	struct sfile *f = NULL;
	int rc = file_open(&f, path, FILE_CREATE, "data");
	cr_assert_eq(rc, 0, "file_open: %s", strata_strerror(rc));
	return f;
}

static void fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 31u + i * 7u + (i >> 8));
}

static size_t drain_variant(enum strata_ev_variant v, struct strata_event *out, size_t max)
{
	static struct strata_event evs[8192];
	size_t n = emit_drain(evs, 8192), k = 0;
	for (size_t i = 0; i < n; i++)
		if (evs[i].variant == v && k < max)
			out[k++] = evs[i];
	return k;
}

Test(file, open_missing_and_bad_flags)
{
	struct sfile *f = NULL;
	cr_assert_eq(file_open(&f, path, 0, "data"), STRATA_ENOT_FOUND);
	cr_assert_eq(file_open(&f, path, FILE_RDONLY | FILE_CREATE, "data"), STRATA_EBAD_REQUEST);
	cr_assert_eq(file_open(&f, path, 1 << 20, "data"), STRATA_EBAD_REQUEST);
	f = open_new();
	cr_assert_str_eq(file_kind(f), "data");
	cr_assert_str_eq(file_path(f), path);
	cr_assert_eq(file_close(f), 0);
	cr_assert_eq(file_open(&f, path, FILE_CREATE | FILE_EXCL, "data"), STRATA_ECONFLICT);
}

Test(file, pread_pwrite_round_trip)
{
	struct sfile *f = open_new();
	char a[4096], b[4096], c[1000];
	fill(a, sizeof(a), 1);
	fill(c, sizeof(c), 2);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 8192), 0);
	cr_assert_eq(file_pwrite(f, c, sizeof(c), 100), 0);
	uint64_t size = 0;
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 8192 + 4096);

	cr_assert_eq(file_pread(f, b, sizeof(b), 8192), 0);
	cr_assert_arr_eq(a, b, sizeof(a));
	char d[1000];
	cr_assert_eq(file_pread(f, d, sizeof(d), 100), 0);
	cr_assert_arr_eq(c, d, sizeof(c));
	/* The hole between reads as zeros. */
	char z[100], zero[100] = {0};
	cr_assert_eq(file_pread(f, z, sizeof(z), 4000), 0);
	cr_assert_arr_eq(z, zero, sizeof(z));
	cr_assert_eq(file_close(f), 0);
}

Test(file, vectored_round_trip)
{
	struct sfile *f = open_new();
	char w1[4096], w2[100], w3[5000], r1[4096], r2[100], r3[5000];
	fill(w1, sizeof(w1), 3);
	fill(w2, sizeof(w2), 4);
	fill(w3, sizeof(w3), 5);
	struct iovec wv[3] = {{w1, sizeof(w1)}, {w2, sizeof(w2)}, {w3, sizeof(w3)}};
	cr_assert_eq(file_pwritev(f, wv, 3, 4096), 0);
	struct iovec rv[3] = {{r1, sizeof(r1)}, {r2, sizeof(r2)}, {r3, sizeof(r3)}};
	cr_assert_eq(file_preadv(f, rv, 3, 4096), 0);
	cr_assert_arr_eq(w1, r1, sizeof(w1));
	cr_assert_arr_eq(w2, r2, sizeof(w2));
	cr_assert_arr_eq(w3, r3, sizeof(w3));
	/* The iov array was not modified. */
	cr_assert_eq(rv[0].iov_base, r1);
	cr_assert_eq(rv[2].iov_len, sizeof(r3));
	/* Contiguous on disk: a plain read of the whole range matches. */
	char all[4096 + 100 + 5000];
	cr_assert_eq(file_pread(f, all, sizeof(all), 4096), 0);
	cr_assert_arr_eq(all, w1, sizeof(w1));
	cr_assert_arr_eq(all + 4096, w2, sizeof(w2));
	cr_assert_arr_eq(all + 4196, w3, sizeof(w3));
	cr_assert_eq(file_close(f), 0);
}

Test(file, vectored_more_than_iov_max)
{
	struct sfile *f = open_new();
	enum { N = 1500 };
	static char bufs[N][8];
	static struct iovec iov[N];
	for (int i = 0; i < N; i++) {
		memset(bufs[i], 'a' + i % 26, 8);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = 8;
	}
	cr_assert_eq(file_pwritev(f, iov, N, 0), 0);
	static char all[N * 8];
	cr_assert_eq(file_pread(f, all, sizeof(all), 0), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(all[i * 8 + 7], 'a' + i % 26, "iov %d", i);
	cr_assert_eq(file_close(f), 0);
}

Test(file, read_past_eof)
{
	struct sfile *f = open_new();
	char a[100], b[300];
	fill(a, sizeof(a), 9);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	memset(b, 0x55, sizeof(b));
	cr_assert_eq(file_pread(f, b, sizeof(b), 0), STRATA_ENOT_FOUND);
	cr_assert_arr_eq(b, a, sizeof(a));
	for (size_t i = sizeof(a); i < sizeof(b); i++)
		cr_assert_eq(b[i], 0, "byte %zu past EOF not zeroed", i);
	size_t got = 99;
	cr_assert_eq(file_pread_upto(f, b, sizeof(b), 50, &got), 0);
	cr_assert_eq(got, 50);
	cr_assert_eq(file_pread_upto(f, b, sizeof(b), 1000, &got), 0);
	cr_assert_eq(got, 0);
	cr_assert_eq(core_stats()->io.errors, 0, "EOF is not an I/O error");
	cr_assert_eq(file_close(f), 0);
}

Test(file, stats_counted_exactly)
{
	file_stats_reset();
	struct sfile *f = open_new();
	file_set_page_size(f, 4096);
	char p[4096], q[8192];
	fill(p, sizeof(p), 1);
	fill(q, sizeof(q), 2);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(file_pwrite(f, p, sizeof(p), (uint64_t)i * 4096), 0);
	struct iovec wv[2] = {{q, 4096}, {q + 4096, 4096}};
	cr_assert_eq(file_pwritev(f, wv, 2, 3 * 4096), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(file_pread(f, p, sizeof(p), (uint64_t)i * 4096), 0);
	struct iovec rv[2] = {{q, 4096}, {q + 4096, 4096}};
	cr_assert_eq(file_preadv(f, rv, 2, 0), 0);
	cr_assert_eq(file_sync(f), 0);

	struct io_stats_snapshot s;
	file_stats_snapshot(&s);
	cr_assert_eq(s.writes, 4);
	cr_assert_eq(s.reads, 3);
	cr_assert_eq(s.bytes_written, 3 * 4096 + 8192);
	cr_assert_eq(s.bytes_read, 2 * 4096 + 8192);
	cr_assert_eq(s.vectored_writes, 1);
	cr_assert_eq(s.vectored_reads, 1);
	cr_assert_eq(s.fsyncs, 1);
	cr_assert_eq(s.errors, 0);
	cr_assert_eq(s.queue_depth, 0);
	cr_assert(s.read_lat_max_us >= s.read_lat_p50_us);
	cr_assert(s.write_lat_max_us >= s.write_lat_p99_us);
	cr_assert(s.read_iops > 0 && s.write_iops > 0);
	cr_assert(s.iops >= s.read_iops + s.write_iops - 1e-9);
	cr_assert_eq(core_stats()->io.reads, 3);
	cr_assert_eq(core_stats()->io.writes, 4);

	/* Events: one per single-page op (sampling every 1), one per vectored. */
	static struct strata_event all[8192];
	size_t n = emit_drain(all, 8192);
	size_t rc = 0, wc = 0, vr = 0, vw = 0;
	for (size_t i = 0; i < n; i++) {
		switch (all[i].variant) {
		case STRATA_EV_ReadCompleted:
			cr_assert_eq(all[i].u.ReadCompleted.page_id, rc);
			cr_assert_eq(all[i].u.ReadCompleted.bytes, 4096);
			rc++;
			break;
		case STRATA_EV_WriteCompleted:
			cr_assert_eq(all[i].u.WriteCompleted.page_id, wc);
			wc++;
			break;
		case STRATA_EV_VectoredRead:
			cr_assert_eq(all[i].u.VectoredRead.page_count, 2);
			cr_assert_eq(all[i].u.VectoredRead.total_bytes, 8192);
			vr++;
			break;
		case STRATA_EV_VectoredWrite:
			cr_assert_eq(all[i].u.VectoredWrite.page_count, 2);
			vw++;
			break;
		default:
			break;
		}
	}
	cr_assert_eq(rc, 2);
	cr_assert_eq(wc, 3);
	cr_assert_eq(vr, 1);
	cr_assert_eq(vw, 1);
	cr_assert_eq(file_close(f), 0);
}

Test(file, single_events_sampled)
{
	emit_set_sample_every(4);
	struct sfile *f = open_new();
	file_set_page_size(f, 4096);
	char p[4096];
	fill(p, sizeof(p), 1);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(file_pwrite(f, p, sizeof(p), 0), 0);
	struct strata_event ev[16];
	cr_assert_eq(drain_variant(STRATA_EV_WriteCompleted, ev, 16), 2);
	cr_assert_eq(file_close(f), 0);
}

Test(file, reset_zeroes_counters)
{
	struct sfile *f = open_new();
	char p[4096];
	fill(p, sizeof(p), 1);
	cr_assert_eq(file_pwrite(f, p, sizeof(p), 0), 0);
	cr_assert_eq(file_pread(f, p, sizeof(p), 0), 0);
	cr_assert_eq(file_sync(f), 0);
	stat_add(&core_stats()->io.checksum_failures, 2);
	file_stats_reset();
	struct io_stats_snapshot s;
	file_stats_snapshot(&s);
	cr_assert_eq(s.reads + s.writes + s.bytes_read + s.bytes_written + s.fsyncs, 0);
	cr_assert_eq(s.checksum_failures, 0);
	cr_assert_eq(s.read_lat_p50_us + s.read_lat_p99_us + s.read_lat_max_us + s.read_lat_avg_us, 0);
	cr_assert_eq(s.write_lat_p50_us + s.write_lat_max_us, 0);
	cr_assert_eq(s.iops, 0.0);
	cr_assert_eq(core_stats()->io.read_latency_us_sum, 0);
	/* Counting resumes from zero. */
	cr_assert_eq(file_pread(f, p, sizeof(p), 0), 0);
	file_stats_snapshot(&s);
	cr_assert_eq(s.reads, 1);
	cr_assert_eq(s.bytes_read, 4096);
	cr_assert_eq(file_close(f), 0);
}

Test(file, short_write_is_looped)
{
	struct sfile *f = open_new();
	char a[4096], b[4096];
	fill(a, sizeof(a), 7);
	struct file_fault ff = {.ops = FILE_OP_WRITE, .kind = FILE_FAULT_SHORT, .partial_len = 100};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	cr_assert_eq(file_fault_fired(), 1, "the short-write fault did not fire");
	uint64_t size;
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 4096, "the layer stopped after the short write");
	cr_assert_eq(file_pread(f, b, sizeof(b), 0), 0);
	cr_assert_arr_eq(a, b, sizeof(a));
	cr_assert_eq(core_stats()->io.writes, 1, "one op, whatever the syscalls");
	cr_assert_eq(core_stats()->io.bytes_written, 4096);
	cr_assert_eq(file_close(f), 0);
}

Test(file, short_vectored_write_and_read_are_looped)
{
	struct sfile *f = open_new();
	char w1[300], w2[300], w3[300], r1[300], r2[300], r3[300];
	fill(w1, 300, 1);
	fill(w2, 300, 2);
	fill(w3, 300, 3);
	/* The first syscall stops in the middle of the second iov. */
	struct file_fault ff = {.ops = FILE_OP_WRITE | FILE_OP_READ, .times = 2,
				.kind = FILE_FAULT_SHORT, .partial_len = 450};
	cr_assert_eq(file_fault_inject(&ff), 0);
	struct iovec wv[3] = {{w1, 300}, {w2, 300}, {w3, 300}};
	cr_assert_eq(file_pwritev(f, wv, 3, 0), 0);
	struct iovec rv[3] = {{r1, 300}, {r2, 300}, {r3, 300}};
	cr_assert_eq(file_preadv(f, rv, 3, 0), 0);
	cr_assert_eq(file_fault_fired(), 2);
	cr_assert_arr_eq(w1, r1, 300);
	cr_assert_arr_eq(w2, r2, 300);
	cr_assert_arr_eq(w3, r3, 300);
	cr_assert_eq(file_close(f), 0);
}

Test(file, short_read_is_looped)
{
	struct sfile *f = open_new();
	char a[4096], b[4096];
	fill(a, sizeof(a), 8);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_fault ff = {.ops = FILE_OP_READ, .kind = FILE_FAULT_SHORT, .partial_len = 1};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(file_pread(f, b, sizeof(b), 0), 0);
	cr_assert_eq(file_fault_fired(), 1);
	cr_assert_arr_eq(a, b, sizeof(a));
	cr_assert_eq(file_close(f), 0);
}

Test(file, injected_eio_and_enospc)
{
	struct sfile *f = open_new();
	char a[512];
	fill(a, sizeof(a), 1);
	struct file_fault eio = {.ops = FILE_OP_WRITE, .nth = 2, .kind = FILE_FAULT_ERROR,
				 .errnum = EIO};
	cr_assert_eq(file_fault_inject(&eio), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), STRATA_EIO);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0, "the rule fires once");
	file_fault_clear();

	struct file_fault nospc = {.ops = FILE_OP_WRITE, .kind = FILE_FAULT_ERROR,
				   .errnum = ENOSPC};
	cr_assert_eq(file_fault_inject(&nospc), 0);
	struct iovec v = {a, sizeof(a)};
	cr_assert_eq(file_pwritev(f, &v, 1, 0), STRATA_ENOSPC);
	file_fault_clear();

	struct file_fault rd = {.ops = FILE_OP_READ, .times = FILE_FAULT_FOREVER,
				.kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&rd), 0);
	cr_assert_eq(file_pread(f, a, sizeof(a), 0), STRATA_EIO);
	cr_assert_eq(file_pread(f, a, sizeof(a), 0), STRATA_EIO);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0, "a read rule leaves writes alone");

	cr_assert_eq(core_stats()->io.errors, 4);
	cr_assert_eq(file_fault_fired(), 2);
	cr_assert_eq(file_close(f), 0);
}

Test(file, fault_path_filter)
{
	struct sfile *f = open_new();
	char a[64] = {1};
	struct file_fault other = {.ops = FILE_OP_WRITE, .path_contains = "wal.log",
				   .times = FILE_FAULT_FOREVER, .kind = FILE_FAULT_ERROR};
	cr_assert_eq(file_fault_inject(&other), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_fault mine = {.ops = FILE_OP_WRITE, .path_contains = "f.dat",
				  .kind = FILE_FAULT_ERROR};
	cr_assert_eq(file_fault_inject(&mine), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), STRATA_EIO);
	cr_assert_eq(file_fault_fired(), 1);
	cr_assert_eq(file_close(f), 0);
}

Test(file, fault_rules_validated)
{
	struct file_fault bad = {.ops = 0, .kind = FILE_FAULT_ERROR};
	cr_assert_eq(file_fault_inject(&bad), STRATA_EBAD_REQUEST);
	struct file_fault nolen = {.ops = FILE_OP_WRITE, .kind = FILE_FAULT_SHORT};
	cr_assert_eq(file_fault_inject(&nolen), STRATA_EBAD_REQUEST);
	struct file_fault ok = {.ops = FILE_OP_WRITE, .kind = FILE_FAULT_ERROR};
	for (int i = 0; i < 8; i++)
		cr_assert_eq(file_fault_inject(&ok), 0);
	cr_assert_eq(file_fault_inject(&ok), STRATA_EBUSY);
}

Test(file, torn_write_leaves_prefix_and_fails)
{
	struct sfile *f = open_new();
	char zeros[4096] = {0}, a[4096], b[4096];
	cr_assert_eq(file_pwrite(f, zeros, sizeof(zeros), 0), 0);
	memset(a, 0xAB, sizeof(a));
	struct file_fault torn = {.ops = FILE_OP_WRITE, .kind = FILE_FAULT_TORN,
				  .partial_len = 1000, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&torn), 0);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), STRATA_EIO);
	cr_assert_eq(file_pread(f, b, sizeof(b), 0), 0);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq((unsigned char)b[i], i < 1000 ? 0xAB : 0, "byte %d", i);
	cr_assert_eq(file_close(f), 0);
}

Test(file, failed_fsync_makes_file_read_only)
{
	struct sfile *f = open_new();
	char a[512], b[512];
	fill(a, sizeof(a), 3);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_fault ff = {.ops = FILE_OP_SYNC, .kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert(!file_is_failed(f));
	cr_assert_eq(file_sync(f), STRATA_EIO);
	cr_assert(file_is_failed(f));
	file_fault_clear();

	/* Even with the fault gone the file stays failed. */
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), STRATA_EREAD_ONLY);
	struct iovec v = {a, sizeof(a)};
	cr_assert_eq(file_pwritev(f, &v, 1, 0), STRATA_EREAD_ONLY);
	cr_assert_eq(file_sync(f), STRATA_EREAD_ONLY);
	cr_assert_eq(file_truncate(f, 0), STRATA_EREAD_ONLY);
	cr_assert_eq(file_allocate(f, 0, 4096), STRATA_EREAD_ONLY);
	cr_assert_eq(file_pread(f, b, sizeof(b), 0), 0, "reads still work");
	cr_assert_arr_eq(a, b, sizeof(a));
	cr_assert_eq(file_close(f), 0);

	/* A new open (after recovery) starts clean. */
	f = open_new();
	cr_assert(!file_is_failed(f));
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	cr_assert_eq(file_sync(f), 0);
	cr_assert_eq(file_close(f), 0);
}

Test(file, read_only_open_refuses_writes)
{
	struct sfile *f = open_new();
	cr_assert_eq(file_close(f), 0);
	cr_assert_eq(file_open(&f, path, FILE_RDONLY, "data"), 0);
	char a[16] = {0};
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), STRATA_EBAD_REQUEST);
	cr_assert_eq(file_close(f), 0);
}

Test(file, allocate_truncate_punch)
{
	struct sfile *f = open_new();
	uint64_t size;
	cr_assert_eq(file_allocate(f, 0, 3 * 4096), 0);
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 3 * 4096);
	char a[4096], b[4096];
	memset(a, 0x77, sizeof(a));
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 4096), 0);
	cr_assert_eq(file_punch_hole(f, 4096, 4096), 0);
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 3 * 4096, "punching keeps the size");
	cr_assert_eq(file_pread(f, b, sizeof(b), 4096), 0);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(b[i], 0);
	cr_assert_eq(file_truncate(f, 100), 0);
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 100);

	struct file_fault ff = {.ops = FILE_OP_ALLOCATE, .kind = FILE_FAULT_ERROR, .errnum = ENOSPC};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(file_allocate(f, 0, 1 << 20), STRATA_ENOSPC);
	cr_assert_eq(file_size(f, &size), 0);
	cr_assert_eq(size, 100);
	cr_assert_eq(file_sync_dir(dir), 0);
	cr_assert_eq(file_close(f), 0);
}

/* ---- io_uring ---------------------------------------------------------------- */

static struct file_ring *ring_or_skip(unsigned depth)
{
	struct file_ring *r = NULL;
	int rc = file_ring_open(&r, depth);
	if (rc == STRATA_EUNAVAILABLE)
		cr_skip_test("io_uring unavailable here");
	cr_assert_eq(rc, 0, "file_ring_open: %s", strata_strerror(rc));
	return r;
}

Test(file, ring_round_trip_and_faults)
{
	struct file_ring *r = ring_or_skip(4);
	struct sfile *f = open_new();
	enum { N = 16, SZ = 4096 };
	static char w[N][SZ], rd[N][SZ];
	struct file_io io[N];
	for (int i = 0; i < N; i++) {
		fill(w[i], SZ, (unsigned)i + 10);
		io[i] = (struct file_io){.file = f, .op = FILE_OP_WRITE, .buf = w[i], .len = SZ,
					 .off = (uint64_t)i * SZ};
	}
	cr_assert_eq(file_ring_run(r, io, N), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(io[i].result, 0);

	/* Reads: the 3rd fails with EIO, the 5th comes back short and is
	 * resubmitted; more requests than the depth. */
	struct file_fault eio = {.ops = FILE_OP_READ, .nth = 3, .kind = FILE_FAULT_ERROR,
				 .errnum = EIO};
	struct file_fault shrt = {.ops = FILE_OP_READ, .nth = 4, .kind = FILE_FAULT_SHORT,
				  .partial_len = 10};
	cr_assert_eq(file_fault_inject(&eio), 0);
	cr_assert_eq(file_fault_inject(&shrt), 0);
	for (int i = 0; i < N; i++)
		io[i] = (struct file_io){.file = f, .op = FILE_OP_READ, .buf = rd[i], .len = SZ,
					 .off = (uint64_t)i * SZ};
	cr_assert_eq(file_ring_run(r, io, N), STRATA_EIO);
	cr_assert_eq(file_fault_fired(), 2);
	for (int i = 0; i < N; i++) {
		if (i == 2) {
			cr_assert_eq(io[i].result, STRATA_EIO);
			continue;
		}
		cr_assert_eq(io[i].result, 0, "request %d: %d", i, io[i].result);
		cr_assert_arr_eq(rd[i], w[i], SZ, "request %d", i);
	}
	cr_assert_eq(core_stats()->io.uring_ops, 2 * N - 1);
	cr_assert_eq(core_stats()->io.errors, 1);
	cr_assert_eq(core_stats()->io.queue_depth, 0);

	/* Read past the end of the file. */
	struct file_io eof = {.file = f, .op = FILE_OP_READ, .buf = rd[0], .len = SZ,
			      .off = (uint64_t)N * SZ};
	cr_assert_eq(file_ring_run(r, &eof, 1), STRATA_ENOT_FOUND);
	cr_assert_eq(file_close(f), 0);
	file_ring_close(r);
}

Test(file, ring_respects_failed_file)
{
	struct file_ring *r = ring_or_skip(4);
	struct sfile *f = open_new();
	char a[512] = {1};
	struct file_fault ff = {.ops = FILE_OP_SYNC, .kind = FILE_FAULT_ERROR};
	cr_assert_eq(file_fault_inject(&ff), 0);
	cr_assert_eq(file_sync(f), STRATA_EIO);
	struct file_io io = {.file = f, .op = FILE_OP_WRITE, .buf = a, .len = sizeof(a)};
	cr_assert_eq(file_ring_run(r, &io, 1), STRATA_EREAD_ONLY);
	cr_assert_eq(file_close(f), 0);
	file_ring_close(r);
}

/* ---- alerts ---------------------------------------------------------------------- */

static size_t count_alerts(const char *kind, struct strata_event *first)
{
	struct strata_event ev[64];
	size_t n = drain_variant(STRATA_EV_IoAlert, ev, 64), k = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ev[i].u.IoAlert.kind, kind) == 0) {
			if (k == 0 && first)
				*first = ev[i];
			k++;
		}
	return k;
}

Test(file, alert_queue_depth_on_crossing)
{
	struct file_ring *r = ring_or_skip(8);
	struct sfile *f = open_new();
	static char bufs[8][4096];
	struct file_io io[8];
	for (int i = 0; i < 8; i++)
		io[i] = (struct file_io){.file = f, .op = FILE_OP_WRITE, .buf = bufs[i],
					 .len = 4096, .off = (uint64_t)i * 4096};
	file_set_alert_thresholds(3, 0, 0);
	cr_assert_eq(file_ring_run(r, io, 8), 0);
	struct strata_event first;
	cr_assert_eq(count_alerts("queue_depth", &first), 1, "one alert per crossing");
	cr_assert_eq(first.u.IoAlert.value, 4.0);
	cr_assert_eq(first.u.IoAlert.threshold, 3.0);
	/* Back below: re-armed; a new crossing alerts again. */
	cr_assert_eq(file_ring_run(r, io, 8), 0);
	cr_assert_eq(count_alerts("queue_depth", NULL), 1);
	cr_assert_eq(file_close(f), 0);
	file_ring_close(r);
}

Test(file, alert_latency_and_iops)
{
	struct sfile *f = open_new();
	size_t big = 4 << 20;
	char *a = malloc(big);
	cr_assert_not_null(a);
	memset(a, 1, big);
	file_set_alert_thresholds(0, 1, 0); /* any op over 1 µs */
	cr_assert_eq(file_pwrite(f, a, big, 0), 0);
	cr_assert_eq(file_pwrite(f, a, big, 0), 0);
	struct strata_event first;
	cr_assert_eq(count_alerts("latency_spike", &first), 1, "not one per op");
	cr_assert(first.u.IoAlert.value > 1.0);

	file_set_alert_thresholds(0, 0, 5);
	for (int i = 0; i < 50; i++)
		cr_assert_eq(file_pwrite(f, a, 64, 0), 0);
	cr_assert_eq(count_alerts("iops_threshold", &first), 1);
	cr_assert(first.u.IoAlert.value > 5.0);
	cr_assert_eq(first.u.IoAlert.threshold, 5.0);

	file_set_alert_thresholds(0, 0, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(file_pwrite(f, a, big, 0), 0);
	cr_assert_eq(count_alerts("latency_spike", NULL) + count_alerts("iops_threshold", NULL), 0,
		     "alerts are off at 0");
	free(a);
	cr_assert_eq(file_close(f), 0);
}

/* ---- histogram and rate window (core/iostats) ------------------------------------ */

Test(iostats, bucket_bounds)
{
	cr_assert_eq(lat_hist_bucket_of(0), 0);
	cr_assert_eq(lat_hist_bucket_of(1), 1);
	cr_assert_eq(lat_hist_bucket_of(2), 2);
	cr_assert_eq(lat_hist_bucket_of(3), 2);
	cr_assert_eq(lat_hist_bucket_of(4), 3);
	cr_assert_eq(lat_hist_bucket_of(1023), 10);
	cr_assert_eq(lat_hist_bucket_of(1024), 11);
	cr_assert_eq(lat_hist_bucket_of(UINT64_MAX), LAT_HIST_BUCKETS - 1);
	for (unsigned b = 1; b < LAT_HIST_BUCKETS - 1; b++) {
		cr_assert_eq(lat_hist_bucket_of(lat_hist_bucket_low(b)), b);
		cr_assert_eq(lat_hist_bucket_of(lat_hist_bucket_high(b) - 1), b);
	}
}

Test(iostats, percentiles_of_known_latencies)
{
	static struct lat_hist h;
	cr_assert_eq(lat_hist_percentile(&h, 50), 0, "empty");
	for (int i = 0; i < 90; i++)
		lat_hist_record(&h, 3);
	for (int i = 0; i < 10; i++)
		lat_hist_record(&h, 1000);
	cr_assert_eq(lat_hist_count(&h), 100);
	cr_assert_eq(lat_hist_max(&h), 1000);
	cr_assert_eq(lat_hist_mean(&h), (90 * 3 + 10 * 1000) / 100);
	uint64_t p50 = lat_hist_percentile(&h, 50);
	uint64_t p90 = lat_hist_percentile(&h, 90);
	uint64_t p95 = lat_hist_percentile(&h, 95);
	uint64_t p99 = lat_hist_percentile(&h, 99);
	cr_assert(p50 >= 2 && p50 < 4, "p50 %lu", (unsigned long)p50);
	cr_assert(p90 >= 2 && p90 < 4, "p90 %lu (rank 90 is still a 3)", (unsigned long)p90);
	cr_assert(p95 >= 512 && p95 <= 1000, "p95 %lu", (unsigned long)p95);
	cr_assert(p99 >= p95 && p99 <= 1000, "p99 %lu", (unsigned long)p99);
	cr_assert_eq(lat_hist_percentile(&h, 100), 1000);

	/* Uniform 1..1000: each percentile lands in its true power-of-two range. */
	lat_hist_reset(&h);
	cr_assert_eq(lat_hist_count(&h), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		lat_hist_record(&h, v);
	struct { double p; uint64_t truth; } cases[] = {{50, 500}, {95, 950}, {99, 990}, {10, 100}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = lat_hist_percentile(&h, cases[i].p);
		unsigned b = lat_hist_bucket_of(cases[i].truth);
		cr_assert(got >= lat_hist_bucket_low(b) && got < lat_hist_bucket_high(b),
			  "p%.0f = %lu, truth %lu", cases[i].p, (unsigned long)got,
			  (unsigned long)cases[i].truth);
	}
	/* Constant latency: every percentile is that latency (clamped to max). */
	lat_hist_reset(&h);
	for (int i = 0; i < 10; i++)
		lat_hist_record(&h, 10);
	cr_assert_eq(lat_hist_percentile(&h, 50), 10);
	cr_assert_eq(lat_hist_percentile(&h, 99), 10);
}

Test(iostats, rate_window_with_explicit_clock)
{
	static struct rate_window w;
	const uint64_t S = 1000000;
	uint64_t t0 = 1000 * S;
	rate_window_reset(&w, t0);
	cr_assert_eq(rate_window_per_sec(&w, t0), 0.0);
	for (uint64_t s = 0; s < 10; s++)
		rate_window_add(&w, t0 + s * S + S / 2, 50);
	/* 500 events over the 10 s since the reset. */
	double r = rate_window_per_sec(&w, t0 + 10 * S - 1);
	cr_assert(r > 49.9 && r < 50.1, "rate %f", r);
	/* At 1015.5 s the window is seconds 1006..1015: 200 events in 9.5 s. */
	r = rate_window_per_sec(&w, t0 + 15 * S + S / 2);
	cr_assert(r > 21.0 && r < 21.1, "rate %f", r);
	/* Long after: nothing. */
	cr_assert_eq(rate_window_per_sec(&w, t0 + 100 * S), 0.0);
	/* A slot reused for a new second starts from zero. */
	rate_window_add(&w, t0 + 100 * S, 7);
	r = rate_window_per_sec(&w, t0 + 100 * S + S / 2);
	cr_assert(r > 0.73 && r < 0.74, "rate %f (7 events in 9.5 s)", r);
	/* Shortly after a reset the span is at least one second. */
	rate_window_reset(&w, t0 + 200 * S);
	rate_window_add(&w, t0 + 200 * S + 1000, 30);
	r = rate_window_per_sec(&w, t0 + 200 * S + 2000);
	cr_assert(r > 29.9 && r < 30.1, "rate %f", r);
}

/* ---- read-only mappings ---- */

Test(file, map_reads_counted_and_bounded)
{
	struct sfile *f = open_new();
	char a[10000];
	fill(a, sizeof(a), 5);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	cr_assert_eq(file_close(f), 0);
	cr_assert_eq(file_open(&f, path, FILE_RDONLY, "sst"), 0);
	struct file_map *m = NULL;
	cr_assert_eq(file_map(f, 0, &m), STRATA_EBAD_REQUEST);
	cr_assert_eq(file_map(f, sizeof(a), &m), 0);
	cr_assert_eq(file_map_len(m), sizeof(a));
	uint64_t reads = core_stats()->io.reads, bytes = core_stats()->io.bytes_read;
	static char p[10000];
	cr_assert_eq(file_map_read(m, 5000, 4000, p), 0);
	cr_assert_arr_eq(p, a + 5000, 4000);
	cr_assert_eq(file_map_read(m, 0, sizeof(a), p), 0);
	cr_assert_arr_eq(p, a, sizeof(a));
	cr_assert_eq(core_stats()->io.reads, reads + 2);
	cr_assert_eq(core_stats()->io.bytes_read, bytes + 4000 + sizeof(a));
	/* out of the mapping: refused, nothing counted */
	memset(p, 0x5a, sizeof(p));
	cr_assert_eq(file_map_read(m, 9000, 1001, p), STRATA_ENOT_FOUND);
	cr_assert_eq(p[0], 0x5a, "nothing copied");
	cr_assert_eq(file_map_read(m, UINT64_MAX, 1, p), STRATA_ENOT_FOUND);
	cr_assert_eq(file_map_read(m, 0, 1, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(file_map_read(NULL, 0, 1, p), STRATA_EBAD_REQUEST);
	cr_assert_eq(core_stats()->io.reads, reads + 2);
	file_unmap(m);
	file_unmap(NULL);
	cr_assert_eq(file_close(f), 0);
}

Test(file, map_reads_take_injected_faults)
{
	struct sfile *f = open_new();
	char a[4096];
	fill(a, sizeof(a), 6);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_map *m;
	cr_assert_eq(file_map(f, sizeof(a), &m), 0);
	struct file_fault rd = {.ops = FILE_OP_READ, .path_contains = "f.dat", .nth = 2,
				.kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&rd), 0);
	char p[100];
	cr_assert_eq(file_map_read(m, 0, 100, p), 0);
	memset(p, 0x5a, sizeof(p));
	cr_assert_eq(file_map_read(m, 0, 100, p), STRATA_EIO);
	cr_assert_eq(p[0], 0x5a, "nothing copied");
	cr_assert_eq(file_map_read(m, 0, 100, p), 0, "the rule fires once");
	file_fault_clear();
	struct file_fault torn = {.ops = FILE_OP_READ, .kind = FILE_FAULT_TORN, .errnum = EIO,
				  .partial_len = 10};
	cr_assert_eq(file_fault_inject(&torn), 0);
	cr_assert_eq(file_map_read(m, 0, 100, p), STRATA_EIO);
	file_fault_clear();
	struct file_fault shrt = {.ops = FILE_OP_READ, .kind = FILE_FAULT_SHORT, .partial_len = 10};
	cr_assert_eq(file_fault_inject(&shrt), 0);
	cr_assert_eq(file_map_read(m, 0, 100, p), 0, "nothing to shorten");
	cr_assert_arr_eq(p, a, 100);
	cr_assert_eq(file_fault_fired(), 1);
	cr_assert_eq(core_stats()->io.errors, 2);
	file_unmap(m);
	cr_assert_eq(file_close(f), 0);
}

Test(file, mapping_survives_unlink_and_replacement)
{
	struct sfile *f = open_new();
	char a[8192], b[8192];
	fill(a, sizeof(a), 7);
	fill(b, sizeof(b), 8);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_map *m;
	cr_assert_eq(file_map(f, sizeof(a), &m), 0);
	/* a new file renamed over the path, as a rewrite would do */
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct sfile *g;
	cr_assert_eq(file_open(&g, tmp, FILE_CREATE | FILE_TRUNC, "data"), 0);
	cr_assert_eq(file_pwrite(g, b, sizeof(b), 0), 0);
	cr_assert_eq(file_close(g), 0);
	cr_assert_eq(rename(tmp, path), 0);
	char p[8192];
	cr_assert_eq(file_map_read(m, 0, sizeof(a), p), 0);
	cr_assert_arr_eq(p, a, sizeof(a), "the mapping keeps the old file's bytes");
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(file_map_read(m, 4096, 4096, p), 0);
	cr_assert_arr_eq(p, a + 4096, 4096);
	file_unmap(m);
	cr_assert_eq(file_close(f), 0);
}

/* A file truncated under its mapping: touching the lost pages raises SIGBUS;
 * the guarded copy turns it into STRATA_EIO (counted as an error), the
 * process survives, pages still backed read fine, and it works again and
 * again on the same thread and on another one. */
static void *read_lost_page(void *arg)
{
	char buf[100];
	return (void *)(intptr_t)file_map_read(arg, 3 * 4096, sizeof(buf), buf);
}

Test(file, map_read_of_truncated_file_is_eio)
{
	struct sfile *f = open_new();
	char a[4 * 4096];
	fill(a, sizeof(a), 9);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	struct file_map *m;
	cr_assert_eq(file_map(f, sizeof(a), &m), 0);
	static char p[4 * 4096];
	cr_assert_eq(file_map_read(m, 0, sizeof(a), p), 0);
	cr_assert_arr_eq(p, a, sizeof(a));
	cr_assert_eq(file_truncate(f, 4096), 0);
	uint64_t errors = core_stats()->io.errors;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(file_map_read(m, 2 * 4096, 100, p), STRATA_EIO, "try %d", i);
	/* a copy that starts in a good page and runs into a lost one */
	cr_assert_eq(file_map_read(m, 4000, 200, p), STRATA_EIO);
	cr_assert_eq(core_stats()->io.errors, errors + 4);
	cr_assert_eq(file_map_read(m, 0, 4096, p), 0, "the page still backed reads fine");
	cr_assert_arr_eq(p, a, 4096);
	pthread_t th;
	void *res;
	cr_assert_eq(pthread_create(&th, NULL, read_lost_page, m), 0);
	cr_assert_eq(pthread_join(th, &res), 0);
	cr_assert_eq((int)(intptr_t)res, STRATA_EIO);
	cr_assert_eq(file_map_read(m, 3 * 4096, 100, p), STRATA_EIO);
	file_unmap(m);
	cr_assert_eq(file_close(f), 0);
}

/* A SIGBUS outside a guarded copy still kills the process (the handler
 * passes it on to the default action): real bugs are not swallowed. Not
 * under ASan, whose own SIGBUS handler (the one ours passes it to) reports
 * and exits instead of dying of the signal. */
#ifndef __SANITIZE_ADDRESS__
Test(file, sigbus_outside_guarded_copy_still_kills, .signal = SIGBUS)
{
	cr_assert_eq(file_map_guard_install(), 0);
	struct sfile *f = open_new();
	char a[2 * 4096];
	fill(a, sizeof(a), 10);
	cr_assert_eq(file_pwrite(f, a, sizeof(a), 0), 0);
	const volatile char *q = mmap(NULL, sizeof(a), PROT_READ, MAP_SHARED, file_fd(f), 0);
	cr_assert(q != MAP_FAILED);
	cr_assert_eq(file_truncate(f, 0), 0);
	(void)q[4096]; /* SIGBUS, unguarded */
	cr_assert_fail("survived an unguarded SIGBUS");
}
#endif
