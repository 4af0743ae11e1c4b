/*
 * bench/lsm_bench.c — db_bench-style workloads against Strata's LSM tree
 * (core/lsm), RocksDB (C API) and LevelDB (C API), in one process, one run.
 *
 * Workloads (db_bench's defaults: N = 1M keys, 16-byte keys "%016llu",
 * 100-byte values that compress to about half, one thread):
 *   fillseq     fresh db, N puts in key order
 *   fillrandom  fresh db, N puts of uniformly random keys in [0, N)
 *   overwrite   same db, N more random puts
 *   readrandom  same db, N random gets (found count printed)
 *   seekrandom  same db, S random seeks, each + 10 next (a new iterator per
 *               seek, as LevelDB's db_bench does)
 *   fillsync    fresh db, M random puts with sync=commit (fdatasync per write)
 * WAL on without fsync for everything but fillsync. Timing covers the
 * operations only (as db_bench: compactions may still run afterwards).
 * Write amplification = (flush + compaction bytes written) / user bytes
 * (keys + values), from each engine's own counters, after overwrite.
 *
 * Usage: lsm_bench [--num=N] [--seeks=S] [--syncs=M] [--engines=strata,rocksdb,leveldb]
 *                  [--compression=none|lz4] [--cache_mb=8] [--dir=/var/tmp/strata-lsm-bench]
 *                  [--workloads=fillseq,fillrandom,...] (a subset, for profiling;
 *                  the reads always run after fillrandom and overwrite)
 * compression lz4 = LZ4 on Strata and RocksDB, Snappy on LevelDB (it has no LZ4).
 * Output: one "bench=lsm ..." line per workload and engine, then a table.
 */
#include <errno.h>
#include <inttypes.h>
#include <leveldb/c.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "core/lsm.h"
#include "strata/error.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define SEEK_NEXTS 10
#define TMPFS_MAGIC 0x01021994

static uint64_t num = 1000000, seeks = 0, syncs = 10000;
static size_t cache_mb = 8;
static bool compress_on = false;
static const char *dir_base = "/var/tmp/strata-lsm-bench";
static const char *only = NULL; /* --workloads: NULL = all */
static bool want(const char *w) { return !only || strstr(only, w); }
static char *valpool;
#define VALPOOL (1u << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* "%016llu" of n (n < 10^16) */
static void make_key(char *k, uint64_t n)
{
	for (int i = KEY_LEN - 1; i >= 0; i--) {
		k[i] = (char)('0' + n % 10);
		n /= 10;
	}
	k[KEY_LEN] = 0;
}

/* db_bench's value generator: random data compressible to ~50%. */
static void make_valpool(void)
{
	valpool = malloc(VALPOOL + VAL_LEN);
	rng_seed(301);
	for (size_t i = 0; i < VALPOOL + VAL_LEN; i += VAL_LEN) {
		char chunk[VAL_LEN / 2];
		for (size_t j = 0; j < sizeof(chunk); j++)
			chunk[j] = (char)(' ' + rng_next() % 95);
		for (size_t j = 0; j < VAL_LEN && i + j < VALPOOL + VAL_LEN; j++)
			valpool[i + j] = chunk[j % sizeof(chunk)];
	}
}
static size_t valpos;
static const char *next_val(void)
{
	if (valpos + VAL_LEN > VALPOOL)
		valpos = 0;
	const char *v = valpool + valpos;
	valpos += VAL_LEN;
	return v;
}

/* ---- engines ---------------------------------------------------------------- */

struct engine {
	const char *name;
	int (*open)(void **db, const char *dir);
	int (*put)(void *db, const char *k, const char *v, bool sync);
	int (*get)(void *db, const char *k, bool *found);     /* 0 ok */
	int (*seek)(void *db, const char *k, int nexts, int *got);
	double (*wamp)(void *db, uint64_t user_bytes);        /* <0: unknown */
	void (*close)(void *db);
	void (*destroy)(const char *dir);
};

/* Strata */
static int s_open(void **db, const char *dir)
{
	struct lsm_options o = {0};
	o.memtable_bytes = 4u << 20;
	o.bloom_bits_per_key = 10;
	o.no_compression = !compress_on;
	o.sync = LSM_SYNC_NONE;
	o.block_cache_bytes = cache_mb << 20;
	struct lsm *t;
	int rv = lsm_open(&t, dir, "bench", &o);
	*db = t;
	return rv;
}
static int s_put(void *db, const char *k, const char *v, bool sync)
{
	struct lsm_write_opts wo = {.sync = sync};
	return lsm_put(db, k, KEY_LEN, v, VAL_LEN, &wo);
}
static int s_get(void *db, const char *k, bool *found)
{
	void *v;
	size_t vl;
	int rv = lsm_get(db, k, KEY_LEN, &v, &vl);
	*found = rv == 0;
	if (rv == 0)
		free(v);
	return rv == STRATA_ENOT_FOUND ? 0 : rv;
}
static int s_seek(void *db, const char *k, int nexts, int *got)
{
	struct lsm_iter *it;
	int rv = lsm_iter_new(db, &it);
	if (rv)
		return rv;
	rv = lsm_iter_seek(it, k, KEY_LEN);
	int n = 0;
	while (!rv && lsm_iter_valid(it)) {
		size_t kl, vl;
		(void)lsm_iter_key(it, &kl);
		(void)lsm_iter_value(it, &vl);
		if (++n > nexts)
			break;
		rv = lsm_iter_next(it);
	}
	lsm_iter_free(it);
	*got = n;
	return rv;
}
static double s_wamp(void *db, uint64_t user)
{
	struct lsm_stats st;
	lsm_get_stats(db, &st);
	return (double)(st.bytes_flushed + st.bytes_compacted) / (double)user;
}
static void s_close(void *db)
{
	int rv = lsm_close(db);
	if (rv)
		fprintf(stderr, "strata: close: %d\n", rv);
}
static void s_destroy(const char *dir) { (void)lsm_destroy_dir(dir); }

/* RocksDB */
struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *o;
	rocksdb_block_based_table_options_t *bbo;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wo, *wos;
	rocksdb_readoptions_t *ro;
};
static int r_open(void **out, const char *dir)
{
	struct rdb *r = calloc(1, sizeof(*r));
	char *err = NULL;
	r->o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->o, 1);
	rocksdb_options_set_write_buffer_size(r->o, 4u << 20);
	rocksdb_options_set_compression(r->o, compress_on ? rocksdb_lz4_compression
							   : rocksdb_no_compression);
	rocksdb_options_enable_statistics(r->o);
	r->bbo = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_filter_policy(r->bbo, rocksdb_filterpolicy_create_bloom(10));
	r->cache = rocksdb_cache_create_lru(cache_mb << 20);
	rocksdb_block_based_options_set_block_cache(r->bbo, r->cache);
	rocksdb_block_based_options_set_block_size(r->bbo, 4096);
	rocksdb_options_set_block_based_table_factory(r->o, r->bbo);
	r->db = rocksdb_open(r->o, dir, &err);
	if (err) {
		fprintf(stderr, "rocksdb: open: %s\n", err);
		rocksdb_free(err);
		return -1;
	}
	r->wo = rocksdb_writeoptions_create();
	r->wos = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wos, 1);
	r->ro = rocksdb_readoptions_create();
	*out = r;
	return 0;
}
static int r_put(void *db, const char *k, const char *v, bool sync)
{
	struct rdb *r = db;
	char *err = NULL;
	rocksdb_put(r->db, sync ? r->wos : r->wo, k, KEY_LEN, v, VAL_LEN, &err);
	if (err) {
		rocksdb_free(err);
		return -1;
	}
	return 0;
}
static int r_get(void *db, const char *k, bool *found)
{
	struct rdb *r = db;
	char *err = NULL;
	size_t vl;
	char *v = rocksdb_get(r->db, r->ro, k, KEY_LEN, &vl, &err);
	if (err) {
		rocksdb_free(err);
		return -1;
	}
	*found = v != NULL;
	rocksdb_free(v);
	return 0;
}
static int r_seek(void *db, const char *k, int nexts, int *got)
{
	struct rdb *r = db;
	rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->ro);
	rocksdb_iter_seek(it, k, KEY_LEN);
	int n = 0;
	while (rocksdb_iter_valid(it)) {
		size_t kl, vl;
		(void)rocksdb_iter_key(it, &kl);
		(void)rocksdb_iter_value(it, &vl);
		if (++n > nexts)
			break;
		rocksdb_iter_next(it);
	}
	rocksdb_iter_destroy(it);
	*got = n;
	return 0;
}
static uint64_t stat_count(const char *s, const char *name)
{
	const char *p = s ? strstr(s, name) : NULL;
	if (!p || !(p = strstr(p, "COUNT : ")))
		return 0;
	return strtoull(p + 8, NULL, 10);
}
static double r_wamp(void *db, uint64_t user)
{
	struct rdb *r = db;
	char *s = rocksdb_options_statistics_get_string(r->o);
	uint64_t fl = stat_count(s, "rocksdb.flush.write.bytes ");
	uint64_t co = stat_count(s, "rocksdb.compact.write.bytes ");
	rocksdb_free(s);
	return (double)(fl + co) / (double)user;
}
static void r_close(void *db)
{
	struct rdb *r = db;
	rocksdb_close(r->db);
	rocksdb_writeoptions_destroy(r->wo);
	rocksdb_writeoptions_destroy(r->wos);
	rocksdb_readoptions_destroy(r->ro);
	rocksdb_options_destroy(r->o);
	rocksdb_block_based_options_destroy(r->bbo);
	rocksdb_cache_destroy(r->cache);
	free(r);
}
static void r_destroy(const char *dir)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	rocksdb_destroy_db(o, dir, &err);
	rocksdb_free(err);
	rocksdb_options_destroy(o);
	(void)rmdir(dir);
}

/* LevelDB */
struct ldb {
	leveldb_t *db;
	leveldb_options_t *o;
	leveldb_filterpolicy_t *fp;
	leveldb_cache_t *cache;
	leveldb_writeoptions_t *wo, *wos;
	leveldb_readoptions_t *ro;
};
static int l_open(void **out, const char *dir)
{
	struct ldb *l = calloc(1, sizeof(*l));
	char *err = NULL;
	l->o = leveldb_options_create();
	leveldb_options_set_create_if_missing(l->o, 1);
	leveldb_options_set_write_buffer_size(l->o, 4u << 20);
	leveldb_options_set_compression(l->o, compress_on ? leveldb_snappy_compression
							  : leveldb_no_compression);
	l->fp = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_filter_policy(l->o, l->fp);
	l->cache = leveldb_cache_create_lru(cache_mb << 20);
	leveldb_options_set_cache(l->o, l->cache);
	leveldb_options_set_block_size(l->o, 4096);
	l->db = leveldb_open(l->o, dir, &err);
	if (err) {
		fprintf(stderr, "leveldb: open: %s\n", err);
		leveldb_free(err);
		return -1;
	}
	l->wo = leveldb_writeoptions_create();
	l->wos = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(l->wos, 1);
	l->ro = leveldb_readoptions_create();
	*out = l;
	return 0;
}
static int l_put(void *db, const char *k, const char *v, bool sync)
{
	struct ldb *l = db;
	char *err = NULL;
	leveldb_put(l->db, sync ? l->wos : l->wo, k, KEY_LEN, v, VAL_LEN, &err);
	if (err) {
		leveldb_free(err);
		return -1;
	}
	return 0;
}
static int l_get(void *db, const char *k, bool *found)
{
	struct ldb *l = db;
	char *err = NULL;
	size_t vl;
	char *v = leveldb_get(l->db, l->ro, k, KEY_LEN, &vl, &err);
	if (err) {
		leveldb_free(err);
		return -1;
	}
	*found = v != NULL;
	leveldb_free(v);
	return 0;
}
static int l_seek(void *db, const char *k, int nexts, int *got)
{
	struct ldb *l = db;
	leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->ro);
	leveldb_iter_seek(it, k, KEY_LEN);
	int n = 0;
	while (leveldb_iter_valid(it)) {
		size_t kl, vl;
		(void)leveldb_iter_key(it, &kl);
		(void)leveldb_iter_value(it, &vl);
		if (++n > nexts)
			break;
		leveldb_iter_next(it);
	}
	leveldb_iter_destroy(it);
	*got = n;
	return 0;
}
/* Sums the "Write(MB)" column of leveldb.stats. */
static double l_wamp(void *db, uint64_t user)
{
	struct ldb *l = db;
	char *s = leveldb_property_value(l->db, "leveldb.stats");
	double mb = 0;
	const char *p = s ? strstr(s, "--------\n") : NULL;
	if (p) {
		p = strchr(p, '\n') + 1;
		int lvl, files;
		double size, time, rd, wr;
		while (sscanf(p, "%d %d %lf %lf %lf %lf", &lvl, &files, &size, &time, &rd, &wr) == 6) {
			mb += wr;
			const char *nl = strchr(p, '\n');
			if (!nl)
				break;
			p = nl + 1;
		}
	}
	leveldb_free(s);
	return mb * 1048576.0 / (double)user;
}
static void l_close(void *db)
{
	struct ldb *l = db;
	leveldb_close(l->db);
	leveldb_writeoptions_destroy(l->wo);
	leveldb_writeoptions_destroy(l->wos);
	leveldb_readoptions_destroy(l->ro);
	leveldb_options_destroy(l->o);
	leveldb_filterpolicy_destroy(l->fp);
	leveldb_cache_destroy(l->cache);
	free(l);
}
static void l_destroy(const char *dir)
{
	leveldb_options_t *o = leveldb_options_create();
	char *err = NULL;
	leveldb_destroy_db(o, dir, &err);
	leveldb_free(err);
	leveldb_options_destroy(o);
	(void)rmdir(dir);
}

static const struct engine engines[] = {
	{"strata", s_open, s_put, s_get, s_seek, s_wamp, s_close, s_destroy},
	{"rocksdb", r_open, r_put, r_get, r_seek, r_wamp, r_close, r_destroy},
	{"leveldb", l_open, l_put, l_get, l_seek, l_wamp, l_close, l_destroy},
};
#define NENG 3

enum { W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_READRANDOM, W_SEEKRANDOM, W_FILLSYNC, NW };
static const char *wname[NW] = {"fillseq", "fillrandom", "overwrite",
				"readrandom", "seekrandom", "fillsync"};
static double result[NENG][NW];
static double wamp[NENG];
static bool ran[NENG];

static void die(const char *e, const char *what, int rv)
{
	fprintf(stderr, "%s: %s failed (%d)\n", e, what, rv);
	exit(1);
}

static void report(int e, int w, uint64_t ops, double secs, const char *extra)
{
	result[e][w] = (double)ops / secs;
	printf("bench=lsm engine=%s workload=%s ops=%" PRIu64 " secs=%.3f ops_per_sec=%.0f %s\n",
	       engines[e].name, wname[w], ops, secs, result[e][w], extra ? extra : "");
	fflush(stdout);
}

static void fill(int e, void *db, int w, uint64_t n, bool random, bool sync)
{
	const struct engine *en = &engines[e];
	char k[KEY_LEN + 1];
	rng_seed(1000 + (uint64_t)w);
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		make_key(k, random ? rng_next() % num : i);
		int rv = en->put(db, k, next_val(), sync);
		if (rv)
			die(en->name, "put", rv);
	}
	double secs = now_s() - t0;
	char extra[200] = "";
	if (e == 0) { /* Strata: where the time went */
		struct lsm_stats st;
		lsm_get_stats(db, &st);
		snprintf(extra, sizeof(extra),
			 "stalls=%" PRIu64 " stall_ms=%" PRIu64 " flushes=%" PRIu64
			 " compactions=%" PRIu64 " l0=%" PRIu64 " wal_syncs=%" PRIu64
			 " group_commits=%" PRIu64,
			 st.write_stalls, st.stall_us / 1000, st.memtable_flushes, st.compactions,
			 st.level[0].files, st.wal_syncs, st.group_commits);
	}
	report(e, w, n, secs, extra);
}

static void run_engine(int e)
{
	const struct engine *en = &engines[e];
	char dir[4096];
	void *db;
	int rv;
	ran[e] = true;

	/* fillseq */
	if (want("fillseq")) {
		snprintf(dir, sizeof(dir), "%s/%s-seq", dir_base, en->name);
		en->destroy(dir);
		if ((rv = en->open(&db, dir)))
			die(en->name, "open", rv);
		fill(e, db, W_FILLSEQ, num, false, false);
		en->close(db);
		en->destroy(dir);
	}
	if (!want("fillrandom") && !want("overwrite") && !want("readrandom") &&
	    !want("seekrandom"))
		goto sync;

	/* fillrandom, overwrite, readrandom, seekrandom on one db (the fills
	 * always run: the reads need them) */
	snprintf(dir, sizeof(dir), "%s/%s-rand", dir_base, en->name);
	en->destroy(dir);
	if ((rv = en->open(&db, dir)))
		die(en->name, "open", rv);
	fill(e, db, W_FILLRANDOM, num, true, false);
	fill(e, db, W_OVERWRITE, num, true, false);
	wamp[e] = en->wamp(db, 2 * num * (KEY_LEN + VAL_LEN));

	char k[KEY_LEN + 1], extra[160];
	uint64_t found = 0;
	rng_seed(7);
	double t0 = now_s();
	for (uint64_t i = 0; i < (want("readrandom") ? num : 0); i++) {
		bool f;
		make_key(k, rng_next() % num);
		if ((rv = en->get(db, k, &f)))
			die(en->name, "get", rv);
		found += f;
	}
	snprintf(extra, sizeof(extra), "found=%" PRIu64, found);
	if (want("readrandom"))
		report(e, W_READRANDOM, num, now_s() - t0, extra);

	uint64_t entries = 0;
	rng_seed(8);
	t0 = now_s();
	for (uint64_t i = 0; i < (want("seekrandom") ? seeks : 0); i++) {
		int got;
		make_key(k, rng_next() % num);
		if ((rv = en->seek(db, k, SEEK_NEXTS, &got)))
			die(en->name, "seek", rv);
		entries += (uint64_t)got;
	}
	double secs = now_s() - t0;
	int off = snprintf(extra, sizeof(extra), "entries=%" PRIu64, entries);
	if (e == 0) { /* Strata: the sorted runs each seek has to position */
		struct lsm_stats st;
		lsm_get_stats(db, &st);
		off += snprintf(extra + off, sizeof(extra) - (size_t)off, " files=");
		for (unsigned l = 0; l < st.levels && off < (int)sizeof(extra) - 8; l++)
			off += snprintf(extra + off, sizeof(extra) - (size_t)off, "%s%" PRIu64,
					l ? "/" : "", st.level[l].files);
		snprintf(extra + off, sizeof(extra) - (size_t)off, " imm=%" PRIu64, st.immutables);
	}
	if (want("seekrandom"))
		report(e, W_SEEKRANDOM, seeks, secs, extra);
	en->close(db);
	en->destroy(dir);

sync:
	if (!want("fillsync"))
		return;
	/* fillsync */
	snprintf(dir, sizeof(dir), "%s/%s-sync", dir_base, en->name);
	en->destroy(dir);
	if ((rv = en->open(&db, dir)))
		die(en->name, "open", rv);
	fill(e, db, W_FILLSYNC, syncs, true, true);
	en->close(db);
	en->destroy(dir);
}

int main(int argc, char **argv)
{
	const char *which = "strata,rocksdb,leveldb";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--num=", 6))
			num = strtoull(a + 6, NULL, 10);
		else if (!strncmp(a, "--seeks=", 8))
			seeks = strtoull(a + 8, NULL, 10);
		else if (!strncmp(a, "--syncs=", 8))
			syncs = strtoull(a + 8, NULL, 10);
		else if (!strncmp(a, "--engines=", 10))
			which = a + 10;
		else if (!strncmp(a, "--compression=", 14))
			compress_on = strcmp(a + 14, "none") != 0;
		else if (!strncmp(a, "--cache_mb=", 11))
			cache_mb = strtoull(a + 11, NULL, 10);
		else if (!strncmp(a, "--dir=", 6))
			dir_base = a + 6;
		else if (!strncmp(a, "--workloads=", 12))
			only = a + 12;
		else {
			fprintf(stderr, "usage: see bench/lsm_bench.c\n");
			return 2;
		}
	}
	if (!seeks)
		seeks = num;
	if (mkdir(dir_base, 0750) != 0 && errno != EEXIST) {
		perror(dir_base);
		return 1;
	}
	struct statfs sf;
	if (statfs(dir_base, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr, "warning: %s is tmpfs: fsync numbers mean nothing\n", dir_base);
	make_valpool();
	printf("options: num=%" PRIu64 " key=%d value=%d (compressible to ~50%%) threads=1 seeks=%" PRIu64
	       " (+%d next, new iterator per seek) fillsync=%" PRIu64 " dir=%s\n",
	       num, KEY_LEN, VAL_LEN, seeks, SEEK_NEXTS, syncs, dir_base);
	printf("options: all engines: write_buffer=4MiB bloom=10 bits/key block=4KiB "
	       "block_cache=%zuMiB WAL on, sync=false (fillsync: sync=true)\n", cache_mb);
	printf("options: compression: %s\n",
	       compress_on ? "strata LZ4, rocksdb LZ4, leveldb Snappy (no LZ4 in LevelDB)"
			   : "none on all three");
	printf("options: otherwise each engine's defaults (rocksdb %s: 64MiB target files, "
	       "256MiB L1; leveldb: 2MiB files, 10MiB L1; strata: 2MiB files, 16MiB L1)\n",
	       "7.8");
	fflush(stdout);

	for (int e = 0; e < NENG; e++)
		if (strstr(which, engines[e].name))
			run_engine(e);
	(void)rmdir(dir_base);

	printf("\n%-11s %12s %12s %12s %8s\n", "workload", "strata", "rocksdb", "leveldb",
	       "ratio");
	for (int w = 0; w < NW; w++) {
		double best = 0;
		for (int e = 1; e < NENG; e++)
			if (result[e][w] > best)
				best = result[e][w];
		printf("%-11s", wname[w]);
		for (int e = 0; e < NENG; e++)
			printf(" %12.0f", result[e][w]);
		if (best > 0 && result[0][w] > 0)
			printf(" %7.2fx\n", result[0][w] / best);
		else
			printf(" %8s\n", "n/a");
	}
	printf("%-11s", "write-amp");
	for (int e = 0; e < NENG; e++)
		printf(" %12.2f", ran[e] ? wamp[e] : 0.0);
	printf("   (after fillrandom+overwrite; flush+compaction bytes / user bytes)\n");
	printf("ratio = strata / max(rocksdb, leveldb)\n");
	return 0;
}
