/*
 * bench/disk_randread.c — random 4 KiB O_DIRECT reads through the disk
 * manager's io_uring path at a fixed queue depth. See bench/README-disk.md.
 *
 *   disk_randread DIR SIZE_GIB QD SECONDS
 *
 * DIR is a data directory (created if missing); its data.db is grown to at
 * least SIZE_GIB GiB of formatted, checksummed pages through the disk
 * manager (buffered writes, then one fdatasync) unless it is already that
 * large. Then it is reopened with DISK_DIRECT and an io_uring of depth QD,
 * and batches of random page ids are read with disk_read_pages_uring (which
 * keeps QD reads in flight, refilling as each completes) for SECONDS
 * seconds. Every page read is checksum-verified, as in production.
 *
 * Output: a human summary on stderr, and one key=value line on stdout for
 * scripts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "strata/error.h"

#define PS 4096u
#define FILL_BATCH 256u

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
	/* xorshift64* */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

/* Grows dir/data.db to `pages` pages (header included) of formatted pages. */
static int fill(const char *dir, uint64_t pages)
{
	struct disk *d;
	int rc = disk_open(&d, dir, PS, DISK_NO_URING);
	if (rc) {
		fprintf(stderr, "disk_open(%s): %s\n", dir, strata_strerror(rc));
		return rc;
	}
	uint64_t have = disk_num_pages(d);
	if (have >= pages) {
		fprintf(stderr, "%s/data.db already has %llu pages\n", dir,
			(unsigned long long)have);
		return disk_close(d);
	}

	fprintf(stderr, "writing %llu pages (%.2f GiB) into %s/data.db ...\n",
		(unsigned long long)(pages - have),
		(double)(pages - have) * PS / (1u << 30), dir);
	void *bufs[FILL_BATCH];
	uint64_t ids[FILL_BATCH];
	unsigned char *mem = NULL;
	if (posix_memalign((void **)&mem, FILE_DIRECT_ALIGN, (size_t)FILL_BATCH * PS) != 0) {
		(void)disk_close(d);
		return STRATA_ENOMEM;
	}
	uint64_t t0 = clock_mono_us();
	while (rc == 0 && disk_num_pages(d) < pages) {
		unsigned n = 0;
		while (n < FILL_BATCH && disk_num_pages(d) < pages) {
			rc = disk_allocate_page(d, &ids[n]);
			if (rc)
				break;
			bufs[n] = mem + (size_t)n * PS;
			page_init(bufs[n], PS, ids[n]);
			/* Some payload so pages are not mostly zeros. */
			uint64_t payload[32];
			for (unsigned i = 0; i < 32; i++)
				payload[i] = rng_next();
			(void)page_insert_record(bufs[n], PS, payload, sizeof(payload), NULL);
			n++;
		}
		if (rc == 0 && n)
			rc = disk_write_pages_vectored(d, ids, n, bufs, NULL);
	}
	if (rc == 0)
		rc = disk_flush(d);
	free(mem);
	int crc = disk_close(d);
	if (rc == 0)
		rc = crc;
	if (rc)
		fprintf(stderr, "filling failed: %s\n", strata_strerror(rc));
	else
		fprintf(stderr, "filled in %.1f s\n", (double)(clock_mono_us() - t0) / 1e6);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t gib, qd, secs;
	if (argc != 5 || parse_u64(argv[2], &gib) || parse_u64(argv[3], &qd) ||
	    parse_u64(argv[4], &secs) || gib == 0 || qd == 0 || qd > 4096 || secs == 0) {
		fprintf(stderr, "usage: %s DIR SIZE_GIB QD SECONDS\n"
				"  random 4 KiB O_DIRECT reads through the disk manager's io_uring path\n",
			argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	emit_set_enabled(false); /* no publisher here: events would only be dropped */

	uint64_t pages = gib * ((uint64_t)1 << 30) / PS + 1;
	if (fill(dir, pages) != 0)
		return 1;

	struct disk_config cfg = {.page_size = PS, .flags = DISK_DIRECT, .uring_depth = (unsigned)qd};
	struct disk *d;
	int rc = disk_open_config(&d, dir, &cfg);
	if (rc) {
		fprintf(stderr, "disk_open(%s, DISK_DIRECT): %s\n", dir, strata_strerror(rc));
		return 1;
	}
	if (!disk_uring_enabled(d))
		fprintf(stderr, "warning: io_uring unavailable; measuring the pread fallback (QD 1)\n");
	uint64_t np = disk_num_pages(d);

	/* Batches long enough that the drain at each batch's end (QD -> 0) is
	 * negligible: 64 x QD pages, at least 1024. */
	size_t batch = (size_t)(qd * 64 < 1024 ? 1024 : qd * 64);
	unsigned char *mem = NULL;
	uint64_t *ids = malloc(batch * sizeof(*ids));
	void **bufs = malloc(batch * sizeof(*bufs));
	int *res = malloc(batch * sizeof(*res));
	if (!ids || !bufs || !res ||
	    posix_memalign((void **)&mem, FILE_DIRECT_ALIGN, batch * PS) != 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < batch; i++)
		bufs[i] = mem + i * PS;

	file_stats_reset();
	uint64_t reads = 0, errors = 0;
	uint64_t t0 = clock_mono_us(), deadline = t0 + secs * 1000000u, now = t0;
	while (now < deadline) {
		for (size_t i = 0; i < batch; i++)
			ids[i] = DISK_FIRST_PAGE + rng_next() % (np - DISK_FIRST_PAGE);
		rc = disk_read_pages_uring(d, ids, batch, bufs, res);
		if (rc)
			for (size_t i = 0; i < batch; i++)
				errors += res[i] != 0;
		reads += batch;
		now = clock_mono_us();
	}
	double elapsed = (double)(now - t0) / 1e6;
	struct io_stats_snapshot s;
	file_stats_snapshot(&s);
	struct disk_counters c;
	disk_get_counters(d, &c);
	double iops = (double)reads / elapsed;

	fprintf(stderr,
		"%llu random 4 KiB reads in %.2f s at QD %llu (%s, O_DIRECT): %.0f IOPS, %.1f MiB/s\n"
		"per-read latency (file layer): avg %llu us, p50 %llu us, p99 %llu us, max %llu us\n"
		"errors %llu, uring batches %llu\n",
		(unsigned long long)reads, elapsed, (unsigned long long)qd,
		disk_uring_enabled(d) ? "io_uring" : "pread fallback", iops,
		iops * PS / (1024.0 * 1024.0), (unsigned long long)s.read_lat_avg_us,
		(unsigned long long)s.read_lat_p50_us, (unsigned long long)s.read_lat_p99_us,
		(unsigned long long)s.read_lat_max_us, (unsigned long long)errors,
		(unsigned long long)c.uring_batches);
	printf("bench=disk_randread qd=%llu seconds=%.2f pages=%llu reads=%llu iops=%.0f "
	       "mib_s=%.1f lat_avg_us=%llu lat_p50_us=%llu lat_p99_us=%llu errors=%llu uring=%d\n",
	       (unsigned long long)qd, elapsed, (unsigned long long)np, (unsigned long long)reads,
	       iops, iops * PS / (1024.0 * 1024.0), (unsigned long long)s.read_lat_avg_us,
	       (unsigned long long)s.read_lat_p50_us, (unsigned long long)s.read_lat_p99_us,
	       (unsigned long long)errors, disk_uring_enabled(d) ? 1 : 0);

	free(mem);
	free(res);
	free(bufs);
	free(ids);
	rc = disk_close(d);
	if (rc) {
		fprintf(stderr, "disk_close: %s\n", strata_strerror(rc));
		return 1;
	}
	return errors ? 1 : 0;
}
