/*
 * bench/tier_codec.c — the tier codecs as core/tiered uses them (one page
 * at a time through core/tiered/codec.h, per-thread contexts), and read
 * latency per tier through the whole tier layer.
 *
 *   tier_codec CORPUS PAGES SECONDS WORKDIR
 *
 * Writes PAGES pages of page-like data (4028 bytes each: the largest
 * tiered page with 4 KiB pagestore pages) to CORPUS, so that bench/tiers.sh
 * can run `lz4 -b` and `zstd -b` on the same bytes in blocks of the same
 * size. Prints one `bench=` line per codec (compress and decompress MB/s,
 * MB = 10^6 bytes as the lz4/zstd CLIs count, and the ratio) and one per
 * tier (read latency p50/p99 in µs over random reads).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/emit.h"
#include "core/pagestore.h"
#include "core/stats.h"
#include "core/tiered/codec.h"
#include "core/tiered/tiered.h"
#include "shm/segment.h"
#include "strata/error.h"

#define PAGE 4028u

/* Page-like contents: rows of a table (ids, names, amounts, timestamps)
 * with some free text — typical of what a database page holds. */
static void make_page(uint8_t *p, unsigned n, unsigned *rng)
{
	static const char *names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace",
				      "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "trent"};
	static const char *words[] = {"order", "shipped", "pending", "refund", "invoice", "paid",
				      "express", "standard", "warehouse", "berlin", "lyon", "oslo"};
	size_t off = 0;
	while (off < PAGE) {
		*rng = *rng * 1103515245u + 12345u;
		unsigned r = *rng >> 8;
		char row[160];
		int k = snprintf(row, sizeof(row), "%u|%s|%u.%02u|17025%05u|%s %s|", n * 1000 + (r % 997),
				 names[r % 14], r % 5000, r % 100, r % 99999, words[(r >> 4) % 12],
				 words[(r >> 9) % 12]);
		size_t c = (size_t)k < PAGE - off ? (size_t)k : PAGE - off;
		memcpy(p + off, row, c);
		off += c;
	}
}

static double now_s(void)
{
	return (double)clock_mono_us() / 1e6;
}

static void bench_codec(const char *name, int codec, int level, uint8_t *pages, unsigned n,
			double secs)
{
	size_t bound = tier_codec_bound(PAGE);
	uint8_t *comp = malloc((size_t)n * bound), *back = malloc(PAGE);
	size_t *clen = malloc(n * sizeof(size_t));
	if (!comp || !back || !clen) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	uint64_t in = 0, out = 0;
	double t0 = now_s(), t;
	do {
		for (unsigned i = 0; i < n; i++) {
			if (tier_codec_compress(codec, level, pages + (size_t)i * PAGE, PAGE,
						comp + (size_t)i * bound, bound, &clen[i]) != 0) {
				fprintf(stderr, "compress failed\n");
				exit(1);
			}
			in += PAGE;
		}
	} while ((t = now_s() - t0) < secs);
	double cmbps = (double)in / t / 1e6;
	for (unsigned i = 0; i < n; i++)
		out += clen[i];
	in = 0;
	t0 = now_s();
	do {
		for (unsigned i = 0; i < n; i++) {
			if (tier_codec_decompress(codec, comp + (size_t)i * bound, clen[i], back, PAGE) != 0) {
				fprintf(stderr, "decompress failed\n");
				exit(1);
			}
			in += PAGE;
		}
	} while ((t = now_s() - t0) < secs);
	double dmbps = (double)in / t / 1e6;
	if (memcmp(back, pages + (size_t)(n - 1) * PAGE, PAGE) != 0) {
		fprintf(stderr, "round trip differs\n");
		exit(1);
	}
	printf("bench=codec codec=%s level=%d page_bytes=%u compress_mbps=%.1f decompress_mbps=%.1f "
	       "ratio=%.3f\n", name, level, PAGE, cmbps, dmbps, (double)((uint64_t)n * PAGE) / (double)out);
	free(comp);
	free(back);
	free(clen);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

static int bench_latency(uint8_t *pages, unsigned n, const char *work)
{
	char dir[512], err[512] = "", name[128];
	snprintf(dir, sizeof(dir), "%s/tier-latency-XXXXXX", work);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	const uint64_t frames = 256;
	struct shm_segments seg;
	snprintf(name, sizeof(name), "/tmp/st-bench-tier-%d", (int)getpid());
	int rv = shm_create(&seg, name, 4096, frames, 1, err, sizeof(err));
	if (rv) {
		fprintf(stderr, "shm: %s\n", err);
		return 1;
	}
	(void)shm_unlink(seg.data_name);
	(void)shm_unlink(seg.stats_name);
	core_stats_attach(seg.stats);
	struct bp_memory mem = {.descs = seg.descs, .table = seg.table,
				.buckets = seg.data_hdr->table_buckets, .frames = seg.frames,
				.nframes = frames, .page_size = 4096};
	struct ps_config cfg = {.lru_k = 2};
	struct pagestore *ps;
	struct tiered *t;
	if ((rv = ps_open(&ps, dir, &mem, &cfg, NULL, err, sizeof(err))) != 0 ||
	    (rv = tiered_open(&t, dir, NULL, ps, NULL, err, sizeof(err))) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	struct tiered_policy pol;
	tiered_get_policy(t, &pol);
	pol.auto_migrate = false;
	tiered_set_policy(t, &pol, err, sizeof(err));
	unsigned per = n / 3 < 200 ? n / 3 : 200;
	uint64_t *ids = malloc(3 * per * sizeof(uint64_t));
	for (unsigned i = 0; i < 3 * per; i++) {
		if ((rv = tiered_store(t, pages + (size_t)i * PAGE, PAGE, &ids[i])) != 0 ||
		    (rv = tiered_migrate_page(t, ids[i], (enum tier)(i % 3), "bench", NULL)) != 0) {
			fprintf(stderr, "setup: %s\n", strata_strerror(rv));
			return 1;
		}
	}
	uint8_t buf[4096];
	unsigned rng = 7;
	for (unsigned k = 0; k < 30000; k++) {
		rng = rng * 1103515245u + 12345u;
		size_t len;
		if ((rv = tiered_get(t, ids[(rng >> 8) % (3 * per)], buf, sizeof(buf), &len, NULL)) != 0) {
			fprintf(stderr, "read: %s\n", strata_strerror(rv));
			return 1;
		}
	}
	struct tiered_stats st;
	tiered_get_stats(t, &st);
	for (int tier = 0; tier < TIER_COUNT; tier++)
		printf("bench=read_latency tier=%s pages=%u reads=%llu p50_us=%llu p99_us=%llu max_us=%llu\n",
		       tier_name(tier), per, (unsigned long long)st.latency[tier].reads,
		       (unsigned long long)st.latency[tier].p50_us,
		       (unsigned long long)st.latency[tier].p99_us,
		       (unsigned long long)st.latency[tier].max_us);
	printf("bench=tiers compression_ratio=%.3f (stored/logical over warm+cold) buffer_frames=%llu\n",
	       st.avg_compression_ratio, (unsigned long long)frames);
	free(ids);
	tiered_close(t);
	ps_close(ps);
	core_stats_attach(NULL);
	shm_destroy(&seg);
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: tier_codec CORPUS PAGES SECONDS WORKDIR\n");
		return 2;
	}
	unsigned n = (unsigned)strtoul(argv[2], NULL, 10);
	double secs = strtod(argv[3], NULL);
	if (n < 30 || secs <= 0) {
		fprintf(stderr, "tier_codec: PAGES >= 30, SECONDS > 0\n");
		return 2;
	}
	emit_set_enabled(false);
	uint8_t *pages = malloc((size_t)n * PAGE);
	if (!pages)
		return 1;
	unsigned rng = 12345;
	for (unsigned i = 0; i < n; i++)
		make_page(pages + (size_t)i * PAGE, i, &rng);
	FILE *f = fopen(argv[1], "wb");
	if (!f || fwrite(pages, PAGE, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bench_codec("lz4", TIER_CODEC_LZ4, 1, pages, n, secs);
	bench_codec("zstd", TIER_CODEC_ZSTD, 3, pages, n, secs);
	int rv = bench_latency(pages, n, argv[4]);
	free(pages);
	return rv;
}
