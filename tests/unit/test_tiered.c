/*
 * tests/unit/test_tiered.c — core/tiered: the codec framing (codec.h,
 * segment.h records), the page map's recovery (torn log tail, damaged
 * snapshot), corruption reported as STRATA_ECORRUPT and never served, the
 * temperature / threshold model, and crash safety of migrations (a forked
 * child migrating in a loop is SIGKILLed; the parent recovers and checks
 * every page is intact and mapped exactly once).
 *
 * Each test runs in its own process with its own directory under
 * /var/tmp and its own (unlinked) shared-memory segment.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/crc32c.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/pagestore.h"
#include "core/stats.h"
#include "core/tiered/codec.h"
#include "core/tiered/pagemap.h"
#include "core/tiered/segment.h"
#include "core/tiered/temperature.h"
#include "core/tiered/tiered.h"
#include "shm/segment.h"
#include "strata/error.h"

#define PS 4096u
#define FRAMES 64u

static char dir[256];
static struct shm_segments seg;
static bool seg_made;
static unsigned shm_seq;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-tiers-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-tiers-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	emit_set_enabled(false);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

static void seg_drop(void)
{
	core_stats_attach(NULL);
	if (seg_made)
		shm_destroy(&seg);
	seg_made = false;
}

static void teardown(void)
{
	file_fault_clear();
	seg_drop();
	emit_shutdown();
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(tiered, .init = setup, .fini = teardown);

/* A pagestore over a fresh unlinked segment; no criterion asserts (the
 * crash children use it). */
static int ps_start(struct pagestore **ps)
{
	char name[128], err[256] = "";
	snprintf(name, sizeof(name), "/tmp/st-ut-tier-%d-%u", (int)getpid(), shm_seq++);
	int rc = shm_create(&seg, name, PS, FRAMES, 1, err, sizeof(err));
	if (rc)
		return rc;
	(void)shm_unlink(seg.data_name);
	(void)shm_unlink(seg.stats_name);
	seg_made = true;
	core_stats_attach(seg.stats);
	struct bp_memory mem = {.descs = seg.descs, .table = seg.table,
				.buckets = seg.data_hdr->table_buckets, .frames = seg.frames,
				.nframes = FRAMES, .page_size = PS};
	struct ps_config cfg = {.lru_k = 2};
	return ps_open(ps, dir, &mem, &cfg, NULL, err, sizeof(err));
}

struct env {
	struct pagestore *ps;
	struct tiered *t;
};

static void env_open(struct env *e, struct tiered_recovery *rec)
{
	char err[512] = "";
	int rc = ps_start(&e->ps);
	cr_assert_eq(rc, 0, "ps_open: %s", strata_strerror(rc));
	rc = tiered_open(&e->t, dir, NULL, e->ps, rec, err, sizeof(err));
	cr_assert_eq(rc, 0, "tiered_open: %s (%s)", strata_strerror(rc), err);
}

static void env_close(struct env *e)
{
	cr_assert_eq(tiered_close(e->t), 0);
	cr_assert_eq(ps_close(e->ps), 0);
	seg_drop();
}

/* Compressible but not trivial bytes for page n of version v. */
static size_t content(uint8_t *buf, size_t max, unsigned n, unsigned v)
{
	size_t len = 200 + (n * 37 + v * 11) % (max - 200);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)("tiered pages "[(i + n) % 13] ^ ((i / 64 + v) & 3));
	return len;
}

/* ---- codec framing ------------------------------------------------------ */

Test(tiered, codecs_round_trip_and_reject_garbage)
{
	uint8_t src[4028], dst[8192], back[4028];
	size_t len = content(src, sizeof(src), 3, 1);
	int codecs[] = {TIER_CODEC_NONE, TIER_CODEC_LZ4, TIER_CODEC_ZSTD};
	int levels[] = {0, 1, 3};
	for (int i = 0; i < 3; i++) {
		size_t out;
		cr_assert_eq(tier_codec_compress(codecs[i], levels[i], src, len, dst, sizeof(dst), &out), 0);
		if (codecs[i] != TIER_CODEC_NONE)
			cr_assert_lt(out, len / 2, "%s did not compress: %zu of %zu",
				     tier_codec_name(codecs[i]), out, len);
		cr_assert_eq(tier_codec_decompress(codecs[i], dst, out, back, len), 0);
		cr_assert_eq(memcmp(src, back, len), 0);
		/* wrong expected length, truncated input */
		cr_assert_eq(tier_codec_decompress(codecs[i], dst, out, back, len - 1), STRATA_ECORRUPT);
		if (codecs[i] != TIER_CODEC_NONE)
			cr_assert_eq(tier_codec_decompress(codecs[i], dst, out / 2, back, len),
				     STRATA_ECORRUPT);
	}
	cr_assert_eq(tier_codec_compress(TIER_CODEC_ZSTD, 99, src, len, dst, sizeof(dst), &len),
		     STRATA_EBAD_REQUEST);
	cr_assert_eq(tier_codec_compress(TIER_CODEC_LZ4, 1, src, 100, dst, 10, &len),
		     STRATA_EBAD_REQUEST);
}

Test(tiered, segment_records_are_sealed_and_checked)
{
	uint8_t buf[SEG_RECORD_HEADER + 100];
	memset(buf + SEG_RECORD_HEADER, 'x', 100);
	struct seg_record r = {.page_id = 42, .stored_len = 100, .logical_len = 100,
			       .codec = TIER_CODEC_NONE, .tier = 1,
			       .data_crc = crc32c(0, buf + SEG_RECORD_HEADER, 100)};
	seg_record_seal(buf, &r);
	struct seg_record got;
	cr_assert_eq(seg_record_check(buf, sizeof(buf), 42, &got), 0);
	cr_assert_eq(got.page_id, 42);
	cr_assert_eq(got.stored_len, 100);
	cr_assert_eq(got.data_crc, r.data_crc);
	cr_assert_eq(seg_record_check(buf, sizeof(buf), 43, &got), STRATA_ECORRUPT, "other page id");
	cr_assert_eq(seg_record_check(buf, sizeof(buf) - 1, 42, &got), STRATA_ECORRUPT, "short");
	for (size_t i = 0; i < sizeof(buf); i += 7) {
		buf[i] ^= 0x40;
		cr_assert_eq(seg_record_check(buf, sizeof(buf), 42, &got), STRATA_ECORRUPT,
			     "flipped byte %zu accepted", i);
		buf[i] ^= 0x40;
	}
	uint8_t hdr[SEG_HEADER_SIZE];
	seg_header_make(hdr, 2, 7);
	cr_assert_eq(seg_header_check(hdr, 2, 7), 0);
	cr_assert_eq(seg_header_check(hdr, 2, 8), STRATA_ECORRUPT);
	cr_assert_eq(seg_header_check(hdr, 1, 7), STRATA_EBAD_REQUEST);
	hdr[3] ^= 1;
	cr_assert_eq(seg_header_check(hdr, 2, 7), STRATA_ECORRUPT);
}

/* ---- page map recovery --------------------------------------------------- */

static char *map_log(char *buf, size_t len)
{
	/* the one map-*.log in dir */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls %s/map-*.log", dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(buf, (int)len, p));
	pclose(p);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

Test(tiered, page_map_recovers_from_a_torn_log_tail)
{
	char err[256] = "";
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) { /* the crash child: maps 10 pages, dies without closing */
		struct pagemap *pm;
		if (pm_open(&pm, dir, 1, NULL, err, sizeof(err)) != 0)
			_exit(1);
		for (uint64_t id = 1; id <= 10; id++) {
			struct pm_entry e = {.tier = 1, .codec = 1, .seg = 1, .loc = 32 * id,
					     .stored_len = 100 + (uint32_t)id, .logical_len = 4000,
					     .data_crc = (uint32_t)id};
			if (pm_alloc_id(pm) != id || pm_set(pm, id, &e, 0, true) != 0)
				_exit(2);
		}
		_exit(0);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: %d", st);
	/* Tear the last record: cut 5 bytes off, then add garbage. */
	char path[512];
	map_log(path, sizeof(path));
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(truncate(path, sb.st_size - 5), 0);
	FILE *f = fopen(path, "ab");
	fputs("garbage!", f);
	fclose(f);

	struct pagemap *pm;
	struct pm_recovery rec;
	cr_assert_eq(pm_open(&pm, dir, 1, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rec.log_records, 9);
	cr_assert_gt(rec.torn_bytes, 0);
	cr_assert_eq(pm_count(pm), 9);
	struct pm_entry e;
	cr_assert(pm_get(pm, 9, &e));
	cr_assert_eq(e.stored_len, 109);
	cr_assert(!pm_get(pm, 10, &e), "the torn record was applied");
	cr_assert_geq(pm_alloc_id(pm), 10, "an id was reused");
	cr_assert_eq(pm_close(pm), 0);
	/* After the close's checkpoint everything comes from the snapshot. */
	cr_assert_eq(pm_open(&pm, dir, 1, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert(rec.had_snapshot);
	cr_assert_eq(rec.log_records, 0);
	cr_assert_eq(pm_count(pm), 9);
	cr_assert_eq(pm_close(pm), 0);
	/* A damaged snapshot is an error, never an empty map. */
	char snap[512];
	snprintf(snap, sizeof(snap), "%s/map.snap", dir);
	int fd = open(snap, O_RDWR);
	cr_assert_geq(fd, 0);
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, 40), 1);
	c ^= 0xff;
	cr_assert_eq(pwrite(fd, &c, 1, 40), 1);
	close(fd);
	err[0] = '\0';
	cr_assert_eq(pm_open(&pm, dir, 1, &rec, err, sizeof(err)), STRATA_ECORRUPT);
	cr_assert(strstr(err, "checksum"), "message: %s", err);
}

/* ---- the engine ---------------------------------------------------------- */

Test(tiered, contents_survive_every_migration_path_and_reopen)
{
	struct env e;
	env_open(&e, NULL);
	size_t max = tiered_max_data(e.t);
	cr_assert_eq(max, PS - 48 - 4 - 16);
	uint8_t buf[PS], got[PS];
	uint64_t ids[6];
	for (unsigned i = 0; i < 6; i++) {
		size_t len = content(buf, max, i, 0);
		cr_assert_eq(tiered_store(e.t, buf, len, &ids[i]), 0);
	}
	/* every ordered pair of tiers, twice round */
	static const enum tier path[] = {TIER_WARM, TIER_COLD, TIER_HOT, TIER_COLD, TIER_WARM,
					 TIER_HOT, TIER_WARM, TIER_COLD};
	for (unsigned i = 0; i < 6; i++)
		for (size_t s = 0; s < sizeof(path) / sizeof(path[0]); s++) {
			bool moved;
			cr_assert_eq(tiered_migrate_page(e.t, ids[i], path[s], "test", &moved), 0);
			cr_assert(moved);
			size_t len = content(buf, max, i, 0), n;
			enum tier from;
			cr_assert_eq(tiered_get(e.t, ids[i], got, sizeof(got), &n, &from), 0);
			cr_assert_eq(from, path[s]);
			cr_assert_eq(n, len);
			cr_assert_eq(memcmp(buf, got, len), 0, "page %u after step %zu", i, s);
		}
	/* updates in each tier */
	for (unsigned i = 0; i < 3; i++) {
		bool moved;
		cr_assert_eq(tiered_migrate_page(e.t, ids[i], (enum tier)i, "test", &moved), 0);
		size_t len = content(buf, max, i, 5), n;
		cr_assert_eq(tiered_update(e.t, ids[i], buf, len), 0);
		cr_assert_eq(tiered_get(e.t, ids[i], got, sizeof(got), &n, NULL), 0);
		cr_assert_eq(n, len);
		cr_assert_eq(memcmp(buf, got, n), 0);
	}
	cr_assert_eq(tiered_delete(e.t, ids[5]), 0);
	cr_assert_eq(tiered_get(e.t, ids[5], got, sizeof(got), &(size_t){0}, NULL), STRATA_ENOT_FOUND);
	struct tiered_stats st;
	cr_assert_eq(tiered_get_stats(e.t, &st), 0);
	cr_assert_eq(st.pages[0] + st.pages[1] + st.pages[2], 5);
	cr_assert_gt(st.bytes_saved, 0);
	cr_assert_lt(st.avg_compression_ratio, 0.5);
	env_close(&e);

	env_open(&e, NULL);
	for (unsigned i = 0; i < 5; i++) {
		size_t len = content(buf, max, i, i < 3 ? 5 : 0), n;
		cr_assert_eq(tiered_get(e.t, ids[i], got, sizeof(got), &n, NULL), 0, "page %u", i);
		cr_assert_eq(n, len);
		cr_assert_eq(memcmp(buf, got, n), 0);
	}
	struct tiered_page_info in;
	cr_assert_eq(tiered_page_info(e.t, ids[0], &in), 0);
	cr_assert_eq(in.tier, TIER_HOT);
	cr_assert_eq(tiered_page_info(e.t, ids[2], &in), 0);
	cr_assert_eq(in.tier, TIER_COLD);
	env_close(&e);
}

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x5a;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

Test(tiered, a_corrupt_record_is_reported_never_served)
{
	struct env e;
	env_open(&e, NULL);
	uint8_t buf[PS], got[PS];
	size_t len = content(buf, tiered_max_data(e.t), 1, 0), n;
	uint64_t w, c;
	cr_assert_eq(tiered_store(e.t, buf, len, &w), 0);
	cr_assert_eq(tiered_store(e.t, buf, len, &c), 0);
	cr_assert_eq(tiered_migrate_page(e.t, w, TIER_WARM, "t", NULL), 0);
	cr_assert_eq(tiered_migrate_page(e.t, c, TIER_COLD, "t", NULL), 0);
	struct tiered_page_info in;
	for (int k = 0; k < 2; k++) {
		uint64_t id = k ? c : w;
		cr_assert_eq(tiered_page_info(e.t, id, &in), 0);
		flip_byte(in.segment_path, in.offset + SEG_RECORD_HEADER + in.stored_len / 2 - 16);
		memset(got, 0xee, sizeof(got));
		cr_assert_eq(tiered_get(e.t, id, got, sizeof(got), &n, NULL), STRATA_ECORRUPT);
		/* a corrupt page does not move either (its only copy stays) */
		cr_assert_eq(tiered_migrate_page(e.t, id, TIER_HOT, "t", NULL), STRATA_ECORRUPT);
		cr_assert_eq(tiered_page_info(e.t, id, &in), 0);
		cr_assert_eq(in.tier, k ? TIER_COLD : TIER_WARM);
	}
	struct tiered_stats st;
	cr_assert_eq(tiered_get_stats(e.t, &st), 0);
	cr_assert_geq(st.corrupt_reads, 4);
	/* the header of a record (page id) too */
	cr_assert_eq(tiered_update(e.t, w, buf, len), 0, "an update replaces the damaged copy");
	cr_assert_eq(tiered_get(e.t, w, got, sizeof(got), &n, NULL), 0);
	cr_assert_eq(memcmp(buf, got, len), 0);
	cr_assert_eq(tiered_page_info(e.t, w, &in), 0);
	flip_byte(in.segment_path, in.offset + 9);
	cr_assert_eq(tiered_get(e.t, w, got, sizeof(got), &n, NULL), STRATA_ECORRUPT);
	env_close(&e);
}

Test(tiered, a_failed_segment_sync_leaves_the_page_where_it_was)
{
	struct env e;
	env_open(&e, NULL);
	uint8_t buf[PS], got[PS];
	size_t len = content(buf, tiered_max_data(e.t), 2, 0), n;
	uint64_t id;
	cr_assert_eq(tiered_store(e.t, buf, len, &id), 0);
	struct file_fault f = {.ops = FILE_OP_SYNC, .path_contains = "/cold/", .kind = FILE_FAULT_ERROR,
			       .errnum = EIO};
	cr_assert_eq(file_fault_inject(&f), 0);
	cr_assert_neq(tiered_migrate_page(e.t, id, TIER_COLD, "t", NULL), 0);
	file_fault_clear();
	struct tiered_page_info in;
	cr_assert_eq(tiered_page_info(e.t, id, &in), 0);
	cr_assert_eq(in.tier, TIER_HOT);
	cr_assert_eq(tiered_get(e.t, id, got, sizeof(got), &n, NULL), 0);
	cr_assert_eq(memcmp(buf, got, len), 0);
	/* warm still works */
	cr_assert_eq(tiered_migrate_page(e.t, id, TIER_WARM, "t", NULL), 0);
	cr_assert_eq(tiered_get(e.t, id, got, sizeof(got), &n, NULL), 0);
	cr_assert_eq(memcmp(buf, got, len), 0);
	cr_assert_eq(tiered_close(e.t), 0);
	ps_close(e.ps);
	seg_drop();
}

/* ---- the model ---------------------------------------------------------- */

Test(tiered, temperature_decays_by_half_per_half_life)
{
	double s = 0;
	int64_t t = 0, h = 10000000; /* 10 s */
	temp_touch(&s, &t, 1000000, h);
	cr_assert_float_eq(s, 1.0, 1e-9);
	temp_touch(&s, &t, 1000000, h);
	cr_assert_float_eq(s, 2.0, 1e-9);
	cr_assert_float_eq(temp_at(s, t, 11000000, h), 1.0, 1e-9);
	cr_assert_float_eq(temp_at(s, t, 21000000, h), 0.5, 1e-9);
	temp_touch(&s, &t, 11000000, h);
	cr_assert_float_eq(s, 2.0, 1e-9, "1 decayed + 1 new");
	cr_assert_float_eq(temp_at(0, 0, 5, h), 0.0, 1e-12);
}

Test(tiered, the_plan_respects_capacities_and_orders_demotions_first)
{
	struct temp_page pg[100];
	for (unsigned i = 0; i < 100; i++) /* page i: temperature 100 - i, all Hot */
		pg[i] = (struct temp_page){.id = i + 1, .temp = 100.0 - i, .tier = TIER_HOT};
	struct temp_params p = {.hot_th = 1, .cold_th = 0.5, .hysteresis = 0.1,
				.cap = {10, 30, 0}};
	struct temp_move mv[100];
	size_t n;
	long mis = temp_plan(pg, 100, &p, mv, 100, &n);
	cr_assert_eq(mis, 90);
	cr_assert_eq(n, 90);
	unsigned to[3] = {0};
	for (size_t i = 0; i < n; i++) {
		to[mv[i].to]++;
		cr_assert_gt(mv[i].to, mv[i].from, "only demotions here");
		if (i)
			cr_assert_leq(mv[i - 1].temp, mv[i].temp, "coldest first");
	}
	cr_assert_eq(to[TIER_WARM], 30);
	cr_assert_eq(to[TIER_COLD], 60);
	/* the 10 hottest stay */
	for (unsigned i = 0; i < 100; i++)
		cr_assert_eq(pg[i].target, pg[i].id <= 10 ? TIER_HOT : pg[i].id <= 40 ? TIER_WARM : TIER_COLD);
	/* promotions come after demotions, and max bounds the list */
	for (unsigned i = 0; i < 100; i++)
		pg[i] = (struct temp_page){.id = i + 1, .temp = 100.0 - i,
					   .tier = i < 50 ? TIER_COLD : TIER_HOT};
	mis = temp_plan(pg, 100, &p, mv, 100, &n);
	bool seen_promotion = false;
	for (size_t i = 0; i < n; i++) {
		if (mv[i].to < mv[i].from)
			seen_promotion = true;
		else
			cr_assert(!seen_promotion, "a demotion after a promotion");
	}
	cr_assert_eq(temp_plan(pg, 100, &p, mv, 5, &n), mis);
	cr_assert_eq(n, 5);
	/* hysteresis: a hot page slightly under the threshold stays */
	struct temp_page one = {.id = 1, .temp = 0.95, .tier = TIER_HOT};
	temp_plan(&one, 1, &p, mv, 1, &n);
	cr_assert_eq(n, 0);
	one = (struct temp_page){.id = 1, .temp = 0.95, .tier = TIER_WARM};
	temp_plan(&one, 1, &p, mv, 1, &n);
	cr_assert_eq(n, 0, "a warm page under the hot threshold is not promoted");
}

Test(tiered, retune_puts_thresholds_at_the_capacity_quantiles)
{
	double temps[100];
	for (unsigned i = 0; i < 100; i++)
		temps[i] = (double)(i + 1); /* 1..100, unsorted order irrelevant */
	struct temp_params p = {.min_hot = 0.5, .min_warm = 0.05, .cap = {10, 30, 0}};
	double hot, cold;
	temp_retune(temps, 100, &p, 1.0, &hot, &cold);
	cr_assert_float_eq(hot, 90.5, 1e-9);   /* between the 10th (91) and 11th (90) */
	cr_assert_float_eq(cold, 60.5, 1e-9);  /* between the 40th (61) and 41st (60) */
	/* smoothing: half-way from the old values */
	p.hot_th = 10.5;
	p.cold_th = 0.5;
	temp_retune(temps, 100, &p, 0.5, &hot, &cold);
	cr_assert_float_eq(hot, 50.5, 1e-9);
	cr_assert_float_eq(cold, 30.5, 1e-9);
	/* floors: few or idle pages */
	double idle[3] = {0.01, 0.001, 0};
	p.hot_th = p.cold_th = 0;
	temp_retune(idle, 3, &p, 1.0, &hot, &cold);
	cr_assert_float_eq(hot, 0.5, 1e-9);
	cr_assert_float_eq(cold, 0.05, 1e-9);
}

Test(tiered, migrations_follow_the_model_end_to_end)
{
	struct env e;
	env_open(&e, NULL);
	struct tiered_policy pol;
	tiered_get_policy(e.t, &pol);
	pol.capacity[TIER_HOT] = 4;
	pol.capacity[TIER_WARM] = 8;
	char msg[256];
	cr_assert_eq(tiered_set_policy(e.t, &pol, msg, sizeof(msg)), 0, "%s", msg);
	uint8_t buf[PS];
	uint64_t ids[20];
	for (unsigned i = 0; i < 20; i++)
		cr_assert_eq(tiered_store(e.t, buf, content(buf, 4000, i, 0), &ids[i]), 0);
	/* pages 0..3 very hot, 4..11 warm-ish, the rest idle */
	for (unsigned i = 0; i < 20; i++)
		cr_assert_eq(tiered_set_temperature(e.t, ids[i], i < 4 ? 50 : i < 12 ? 5 : 0.01), 0);
	bool changed;
	cr_assert_eq(tiered_maintenance(e.t, 0, &changed), 0);
	cr_assert(changed);
	size_t n;
	uint64_t pending;
	for (int round = 0; round < 5; round++)
		cr_assert_eq(tiered_process_migrations(e.t, 100, NULL, 0, &n, &pending), 0);
	cr_assert_eq(pending, 0);
	for (unsigned i = 0; i < 20; i++) {
		struct tiered_page_info in;
		cr_assert_eq(tiered_page_info(e.t, ids[i], &in), 0);
		cr_assert_eq(in.tier, i < 4 ? TIER_HOT : i < 12 ? TIER_WARM : TIER_COLD, "page %u in %s", i,
			     tier_name(in.tier));
	}
	/* a cold page becomes hot again when it is used */
	cr_assert_eq(tiered_set_temperature(e.t, ids[19], 500), 0);
	for (int round = 0; round < 3; round++)
		cr_assert_eq(tiered_process_migrations(e.t, 100, NULL, 0, &n, &pending), 0);
	struct tiered_page_info in;
	cr_assert_eq(tiered_page_info(e.t, ids[19], &in), 0);
	cr_assert_eq(in.tier, TIER_HOT);
	struct tiered_stats st;
	cr_assert_eq(tiered_get_stats(e.t, &st), 0);
	cr_assert_eq(st.pages[TIER_HOT], 4);
	/* the policy persists */
	env_close(&e);
	env_open(&e, NULL);
	tiered_get_policy(e.t, &pol);
	cr_assert_eq(pol.capacity[TIER_HOT], 4);
	cr_assert_eq(pol.capacity[TIER_WARM], 8);
	env_close(&e);
}

/* ---- crash safety ------------------------------------------------------- */

Test(tiered, kill_during_migrations_loses_nothing)
{
	enum { PAGES = 24 };
	uint64_t ids[PAGES];
	uint8_t buf[PS], got[PS];
	struct env e;
	env_open(&e, NULL);
	for (unsigned i = 0; i < PAGES; i++)
		cr_assert_eq(tiered_store(e.t, buf, content(buf, 4000, i, 0), &ids[i]), 0);
	env_close(&e);
	srand((unsigned)time(NULL));
	for (int cycle = 0; cycle < 6; cycle++) {
		int fds[2];
		cr_assert_eq(pipe(fds), 0);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			close(fds[0]);
			struct pagestore *ps;
			struct tiered *t;
			char err[256];
			if (ps_start(&ps) != 0 || tiered_open(&t, dir, NULL, ps, NULL, err, sizeof(err)) != 0)
				_exit(3);
			if (write(fds[1], "r", 1) != 1)
				_exit(4);
			for (unsigned k = 0;; k++) {
				bool moved;
				int rv = tiered_migrate_page(t, ids[(k * 7) % PAGES], (enum tier)(k % 3), "crash", &moved);
				if (rv)
					_exit(5);
			}
		}
		close(fds[1]);
		char c;
		cr_assert_eq(read(fds[0], &c, 1), 1, "child did not start");
		close(fds[0]);
		struct timespec ts = {0, (long)(rand() % 40 + 5) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		cr_assert(WIFSIGNALED(st), "child exited by itself: %d", st);

		struct tiered_recovery rec;
		env_open(&e, &rec);
		unsigned per[TIER_COUNT] = {0};
		uint64_t hot_pages[PAGES];
		unsigned nhot = 0;
		for (unsigned i = 0; i < PAGES; i++) {
			size_t len = content(buf, 4000, i, 0), n;
			enum tier from;
			int rv = tiered_get(e.t, ids[i], got, sizeof(got), &n, &from);
			cr_assert_eq(rv, 0, "cycle %d page %u: %s", cycle, i, strata_strerror(rv));
			cr_assert_eq(n, len);
			cr_assert_eq(memcmp(buf, got, len), 0, "cycle %d page %u differs", cycle, i);
			per[from]++;
			struct tiered_page_info in;
			cr_assert_eq(tiered_page_info(e.t, ids[i], &in), 0);
			if (in.tier == TIER_HOT) {
				for (unsigned j = 0; j < nhot; j++)
					cr_assert_neq(hot_pages[j], in.hot_page, "two pages share a hot copy");
				hot_pages[nhot++] = in.hot_page;
			}
		}
		cr_assert_eq(per[0] + per[1] + per[2], PAGES);
		/* every live segment byte belongs to a mapped page */
		struct tiered_stats s;
		cr_assert_eq(tiered_get_stats(e.t, &s), 0);
		cr_assert_eq(s.pages[0] + s.pages[1] + s.pages[2], PAGES);
		env_close(&e);
	}
}
