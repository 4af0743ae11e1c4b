/*
 * tests/unit/test_lsm.c — the LSM tree's API: basic operations, a
 * model-based randomized test across flushes, compactions and reopens, and
 * concurrent readers and writers.
 */
#include "test_lsm_util.h"

#include <pthread.h>
#include <stdint.h>

#include "core/bloom.h"
#include "core/lsm_coding.h"
#include "core/lsm_memtable.h"
#include "core/stats.h"

TestSuite(lsm, .init = tdir_setup, .fini = tdir_teardown, .timeout = 120);

static struct lsm *open_tree(const struct lsm_options *o)
{
	struct lsm *t = NULL;
	CHECK_OK(lsm_open(&t, tree, "t1", o));
	return t;
}

static void expect_value(struct lsm *t, const char *k, const char *v)
{
	void *val;
	size_t vlen;
	int rc = lsm_get(t, k, strlen(k), &val, &vlen);
	cr_assert_eq(rc, 0, "get %s: %s", k, strata_strerror(rc));
	cr_assert_eq(vlen, strlen(v), "get %s: length %zu", k, vlen);
	cr_assert(memcmp(val, v, vlen) == 0, "get %s: wrong value", k);
	free(val);
}

static void expect_missing(struct lsm *t, const char *k)
{
	void *val = (void *)1;
	size_t vlen;
	int rc = lsm_get(t, k, strlen(k), &val, &vlen);
	cr_assert_eq(rc, STRATA_ENOT_FOUND, "get %s: %d", k, rc);
	cr_assert_null(val);
}

Test(lsm, put_get_delete_basic)
{
	struct lsm *t = open_tree(NULL);
	CHECK_OK(lsm_put(t, "a", 1, "1", 1, NULL));
	CHECK_OK(lsm_put(t, "b", 1, "2", 1, NULL));
	CHECK_OK(lsm_put(t, "a", 1, "3", 1, NULL));
	CHECK_OK(lsm_put(t, "e", 1, "", 0, NULL)); /* empty value */
	expect_value(t, "a", "3");
	expect_value(t, "b", "2");
	expect_value(t, "e", "");
	expect_missing(t, "c");
	CHECK_OK(lsm_delete(t, "b", 1, NULL));
	CHECK_OK(lsm_delete(t, "zz", 2, NULL)); /* missing key: fine */
	expect_missing(t, "b");
	CHECK_OK(lsm_flush(t));
	expect_value(t, "a", "3");
	expect_missing(t, "b");
	expect_value(t, "e", "");
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_eq(st.memtable_flushes, 1, "flushes %lu", (unsigned long)st.memtable_flushes);
	cr_assert_eq(st.level[0].files, 1);
	cr_assert_geq(st.sstable_hits, 1);
	CHECK_OK(lsm_close(t));

	t = open_tree(NULL);
	expect_value(t, "a", "3");
	expect_missing(t, "b");
	CHECK_OK(lsm_close(t));
}

Test(lsm, bad_arguments)
{
	struct lsm *t = open_tree(NULL);
	void *v;
	size_t vl;
	cr_assert_eq(lsm_put(t, "", 0, "x", 1, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(lsm_put(t, NULL, 1, "x", 1, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(lsm_get(t, "", 0, &v, &vl), STRATA_EBAD_REQUEST);
	cr_assert_eq(lsm_put(t, "k", 1, NULL, 5, NULL), STRATA_EBAD_REQUEST);
	struct lsm_options bad = {.max_levels = 1};
	struct lsm *t2 = NULL;
	cr_assert_eq(lsm_open(&t2, tree, "x", &bad), STRATA_EBAD_REQUEST);
	/* a second open of the same directory is refused */
	cr_assert_eq(lsm_open(&t2, tree, "x", NULL), STRATA_EBUSY);
	cr_assert_eq(lsm_destroy_dir(tree), STRATA_EBUSY);
	CHECK_OK(lsm_close(t));
	CHECK_OK(lsm_destroy_dir(tree));
	struct stat sb;
	cr_assert_neq(stat(tree, &sb), 0, "tree directory still exists");
}

Test(lsm, batch_is_atomic_and_ordered)
{
	struct lsm *t = open_tree(NULL);
	struct lsm_batch_op ops[] = {
		{LSM_OP_PUT, "x", 1, "1", 1},
		{LSM_OP_PUT, "y", 1, "2", 1},
		{LSM_OP_DELETE, "x", 1, NULL, 0},
		{LSM_OP_PUT, "z", 1, "3", 1},
		{LSM_OP_PUT, "y", 1, "4", 1},
	};
	struct lsm_batch b = {ops, 5};
	CHECK_OK(lsm_write_batch(t, &b, NULL));
	expect_missing(t, "x");
	expect_value(t, "y", "4");
	expect_value(t, "z", "3");
	CHECK_OK(lsm_close(t));
	t = open_tree(NULL); /* via the WAL-replayed L0 table */
	expect_missing(t, "x");
	expect_value(t, "y", "4");
	CHECK_OK(lsm_close(t));
}

struct collect {
	char keys[64][16];
	size_t n;
};

static int collect_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	struct collect *c = arg;
	snprintf(c->keys[c->n++], 16, "%.*s", (int)kl, (const char *)k);
	return 0;
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return 0;
}

Test(lsm, scan_merges_sources_newest_wins)
{
	struct lsm_options o = {.l0_compaction_trigger = 100};
	struct lsm *t = open_tree(&o);
	/* three generations in three places: two L0 tables and the memtable */
	for (int i = 0; i < 10; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		CHECK_OK(lsm_put(t, k, strlen(k), "old", 3, NULL));
	}
	CHECK_OK(lsm_flush(t));
	CHECK_OK(lsm_delete(t, "k3", 2, NULL));
	CHECK_OK(lsm_put(t, "k5", 2, "mid", 3, NULL));
	CHECK_OK(lsm_flush(t));
	CHECK_OK(lsm_put(t, "k5", 2, "new", 3, NULL));
	CHECK_OK(lsm_delete(t, "k7", 2, NULL));
	CHECK_OK(lsm_put(t, "k35", 3, "ins", 3, NULL));

	struct collect c = {0};
	size_t n;
	CHECK_OK(lsm_scan(t, "k2", 2, "k8", 2, 0, collect_cb, &c, &n));
	const char *want[] = {"k2", "k35", "k4", "k5", "k6"};
	cr_assert_eq(n, 5, "scan returned %zu", n);
	for (size_t i = 0; i < 5; i++)
		cr_assert_str_eq(c.keys[i], want[i]);
	memset(&c, 0, sizeof(c));
	CHECK_OK(lsm_scan(t, NULL, 0, NULL, 0, 3, collect_cb, &c, &n));
	cr_assert_eq(n, 3);
	cr_assert_str_eq(c.keys[0], "k0");
	cr_assert_str_eq(c.keys[2], "k2");
	expect_value(t, "k5", "new");

	/* an iterator is a snapshot: later writes are invisible to it */
	struct lsm_iter *it;
	CHECK_OK(lsm_iter_new(t, &it));
	CHECK_OK(lsm_put(t, "k0", 2, "later", 5, NULL));
	CHECK_OK(lsm_put(t, "k00", 3, "later", 5, NULL));
	CHECK_OK(lsm_flush(t));
	CHECK_OK(lsm_iter_seek(it, "k0", 2));
	cr_assert(lsm_iter_valid(it));
	size_t kl, vl;
	const char *k = lsm_iter_key(it, &kl);
	const char *v = lsm_iter_value(it, &vl);
	cr_assert(kl == 2 && memcmp(k, "k0", 2) == 0);
	cr_assert(vl == 3 && memcmp(v, "old", 3) == 0);
	CHECK_OK(lsm_iter_next(it));
	k = lsm_iter_key(it, &kl);
	cr_assert(kl == 2 && memcmp(k, "k1", 2) == 0, "snapshot saw a later key");
	lsm_iter_free(it);
	CHECK_OK(lsm_close(t));
}

Test(lsm, manual_compaction_drops_tombstones)
{
	struct lsm_options o = {.l0_compaction_trigger = 100, .no_compression = true};
	struct lsm *t = open_tree(&o);
	char k[16], v[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "value-%d", i);
		CHECK_OK(lsm_put(t, k, strlen(k), v, strlen(v), NULL));
	}
	CHECK_OK(lsm_flush(t));
	for (int i = 0; i < 2000; i += 2) {
		snprintf(k, sizeof(k), "key%05d", i);
		CHECK_OK(lsm_delete(t, k, strlen(k), NULL));
	}
	CHECK_OK(lsm_flush(t));
	struct lsm_stats before, after;
	lsm_get_stats(t, &before);
	cr_assert_eq(before.level[0].files, 2);
	CHECK_OK(lsm_compact(t));
	lsm_get_stats(t, &after);
	cr_assert_eq(after.level[0].files, 0);
	cr_assert_geq(after.level[1].files, 1);
	cr_assert_eq(after.compactions, 1);
	/* tombstones and the values they shadow are gone: fewer bytes than the
	 * first table alone */
	cr_assert_lt(after.total_bytes, before.total_bytes / 2 + before.total_bytes / 4,
		     "%lu vs %lu", (unsigned long)after.total_bytes,
		     (unsigned long)before.total_bytes);
	size_t n;
	CHECK_OK(lsm_scan(t, NULL, 0, NULL, 0, 0, count_cb, NULL, &n));
	cr_assert_eq(n, 1000);
	CHECK_OK(lsm_close(t));
}

/* ---- model-based randomized test ------------------------------------------ */

#define MODEL_KEYS 3000

struct model {
	char *val[MODEL_KEYS]; /* NULL = absent */
	size_t len[MODEL_KEYS];
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t model_key(int i, char *buf)
{
	return (size_t)sprintf(buf, "key-%06d", i * 7 % 1000003);
}

/* Keys sort as strings; the model keeps them by index, so map once. */
static int order[MODEL_KEYS];
static char order_keys[MODEL_KEYS][16];
static int cmp_order(const void *a, const void *b)
{
	return strcmp(order_keys[*(const int *)a], order_keys[*(const int *)b]);
}

static void model_set(struct model *m, int i, const char *v, size_t len)
{
	free(m->val[i]);
	m->val[i] = NULL;
	if (v) {
		m->val[i] = malloc(len ? len : 1);
		memcpy(m->val[i], v, len);
	}
	m->len[i] = len;
}

static size_t make_value(char *buf, int i, uint64_t r)
{
	size_t len = (size_t)(r % 200);
	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (i + j + r / 7) % 26);
	return len;
}

struct scan_check {
	const struct model *m;
	int pos;       /* next index in `order` expected */
	int end_pos;   /* exclusive */
	size_t seen;
	bool bad;
	char why[128];
};

static int scan_check_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct scan_check *sc = arg;
	while (sc->pos < sc->end_pos && !sc->m->val[order[sc->pos]])
		sc->pos++;
	if (sc->pos >= sc->end_pos) {
		sc->bad = true;
		snprintf(sc->why, sizeof(sc->why), "extra key %.*s", (int)kl, (const char *)k);
		return 1;
	}
	int i = order[sc->pos];
	if (kl != strlen(order_keys[i]) || memcmp(k, order_keys[i], kl) != 0 ||
	    vl != sc->m->len[i] || memcmp(v, sc->m->val[i], vl) != 0) {
		sc->bad = true;
		snprintf(sc->why, sizeof(sc->why), "at %s got %.*s", order_keys[i], (int)kl,
			 (const char *)k);
		return 1;
	}
	sc->pos++;
	sc->seen++;
	return 0;
}

static void check_scan(struct lsm *t, const struct model *m, int from, int to, size_t limit)
{
	struct scan_check sc = {.m = m, .pos = from, .end_pos = to};
	size_t n;
	const char *s = from > 0 ? order_keys[order[from]] : NULL;
	const char *e = to < MODEL_KEYS ? order_keys[order[to]] : NULL;
	CHECK_OK(lsm_scan(t, s, s ? strlen(s) : 0, e, e ? strlen(e) : 0, limit, scan_check_cb, &sc,
			  &n));
	cr_assert(!sc.bad, "scan [%d,%d): %s", from, to, sc.why);
	if (!limit || n < limit) {
		/* it must have reached the end of the range */
		while (sc.pos < to && !m->val[order[sc.pos]])
			sc.pos++;
		cr_assert_eq(sc.pos, to, "scan [%d,%d) stopped early at %d", from, to, sc.pos);
	}
}

static void check_all(struct lsm *t, const struct model *m)
{
	for (int i = 0; i < MODEL_KEYS; i++) {
		void *v;
		size_t vl;
		int rc = lsm_get(t, order_keys[i], strlen(order_keys[i]), &v, &vl);
		if (!m->val[i]) {
			cr_assert_eq(rc, STRATA_ENOT_FOUND, "key %s should be absent (%d)", order_keys[i], rc);
			continue;
		}
		cr_assert_eq(rc, 0, "key %s: %s", order_keys[i], strata_strerror(rc));
		cr_assert(vl == m->len[i] && memcmp(v, m->val[i], vl) == 0, "key %s: wrong value",
			  order_keys[i]);
		free(v);
	}
	check_scan(t, m, 0, MODEL_KEYS, 0);
}

Test(lsm, model_randomized_across_flushes_compactions_reopens)
{
	struct lsm_options o = {
		.memtable_bytes = 16 << 10,
		.l0_compaction_trigger = 2,
		.level_base_bytes = 48 << 10,
		.level_ratio = 3,
		.max_levels = 5,
		.target_file_bytes = 16 << 10,
		.block_bytes = 1024,
	};
	static struct model m;
	for (int i = 0; i < MODEL_KEYS; i++) {
		model_key(i, order_keys[i]);
		order[i] = i;
	}
	qsort(order, MODEL_KEYS, sizeof(order[0]), cmp_order);

	uint64_t flushes = 0, compactions = 0, reopens = 0, moves = 0;
	int deepest = 0;
	struct lsm *t = open_tree(&o);
	char val[256];
	const int OPS = 24000;
	for (int op = 0; op < OPS; op++) {
		uint64_t r = rnd();
		int kind = (int)(r % 100);
		int i = (int)((r >> 8) % MODEL_KEYS);
		if (kind < 60) {
			size_t len = make_value(val, i, rnd());
			CHECK_OK(lsm_put(t, order_keys[i], strlen(order_keys[i]), val, len, NULL));
			model_set(&m, i, val, len);
		} else if (kind < 75) {
			CHECK_OK(lsm_delete(t, order_keys[i], strlen(order_keys[i]), NULL));
			model_set(&m, i, NULL, 0);
		} else if (kind < 82) {
			struct lsm_batch_op ops[16];
			static char vals[16][256];
			int n = 1 + (int)(rnd() % 16);
			for (int j = 0; j < n; j++) {
				int ki = (int)(rnd() % MODEL_KEYS);
				bool del = rnd() % 4 == 0;
				size_t len = del ? 0 : make_value(vals[j], ki, rnd());
				ops[j] = (struct lsm_batch_op){del ? LSM_OP_DELETE : LSM_OP_PUT, order_keys[ki],
							       strlen(order_keys[ki]), vals[j], len};
			}
			struct lsm_batch b = {ops, (size_t)n};
			CHECK_OK(lsm_write_batch(t, &b, NULL));
			for (int j = 0; j < n; j++) {
				int ki = (int)((const char (*)[16])ops[j].key - order_keys);
				model_set(&m, ki, ops[j].type == LSM_OP_PUT ? vals[j] : NULL, ops[j].vlen);
			}
		} else if (kind < 92) {
			void *v;
			size_t vl;
			int rc = lsm_get(t, order_keys[i], strlen(order_keys[i]), &v, &vl);
			if (m.val[i]) {
				cr_assert_eq(rc, 0, "op %d get %s: %d", op, order_keys[i], rc);
				cr_assert(vl == m.len[i] && memcmp(v, m.val[i], vl) == 0,
					  "op %d get %s: wrong value", op, order_keys[i]);
				free(v);
			} else {
				cr_assert_eq(rc, STRATA_ENOT_FOUND, "op %d get %s: %d", op, order_keys[i], rc);
			}
		} else if (kind < 98) {
			int a = (int)(rnd() % MODEL_KEYS), b = (int)(rnd() % MODEL_KEYS);
			if (a > b) {
				int x = a;
				a = b;
				b = x;
			}
			check_scan(t, &m, a, b, rnd() % 3 == 0 ? 1 + rnd() % 50 : 0);
		} else if (kind < 99 && op % 7 == 0) {
			CHECK_OK(lsm_flush(t));
		}
		if (op > 0 && op % 6000 == 0) {
			/* restart: stats of this run, then reopen and verify everything */
			struct lsm_stats st;
			lsm_get_stats(t, &st);
			flushes += st.memtable_flushes;
			compactions += st.compactions;
			moves += st.trivial_moves;
			for (int l = 0; l < LSM_MAX_LEVELS; l++)
				if (st.level[l].files && l > deepest)
					deepest = l;
			CHECK_OK(lsm_close(t));
			/* every other run reads with pread instead of mappings */
			o.no_mmap_reads = !o.no_mmap_reads;
			t = open_tree(&o);
			reopens++;
			check_all(t, &m);
		}
		if (op == OPS / 2)
			CHECK_OK(lsm_compact_range(t, order_keys[order[100]], 10,
						   order_keys[order[900]], 10));
	}
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	flushes += st.memtable_flushes;
	compactions += st.compactions;
	moves += st.trivial_moves;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		if (st.level[l].files && l > deepest)
			deepest = l;
	check_all(t, &m);
	CHECK_OK(lsm_close(t));
	t = open_tree(&o);
	reopens++;
	check_all(t, &m);
	CHECK_OK(lsm_compact(t));
	check_all(t, &m);
	CHECK_OK(lsm_close(t));
	cr_log_info("model: %lu flushes, %lu compactions, %lu trivial moves, deepest L%d, "
		    "%lu reopens, WA %.2f",
		    (unsigned long)flushes, (unsigned long)compactions, (unsigned long)moves,
		    deepest, (unsigned long)reopens, st.write_amplification);
	cr_assert_geq(flushes, 20, "only %lu flushes", (unsigned long)flushes);
	cr_assert_geq(compactions, 5, "only %lu compactions", (unsigned long)compactions);
	cr_assert_geq(deepest, 2, "data never reached L2 (deepest L%d)", deepest);
	cr_assert_geq(reopens, 3);
	for (int i = 0; i < MODEL_KEYS; i++)
		free(m.val[i]);
}

/* ---- concurrency ------------------------------------------------------------- */

struct worker {
	struct lsm *t;
	int id;
	int n;
	bool sync;
	int errors;
};

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	struct lsm_write_opts wo = {.sync = w->sync};
	for (int i = 0; i < w->n; i++) {
		char k[32], v[64];
		snprintf(k, sizeof(k), "w%d-%06d", w->id, i);
		snprintf(v, sizeof(v), "value-%d-%d-padding-padding-padding", w->id, i);
		if (lsm_put(w->t, k, strlen(k), v, strlen(v), w->sync ? &wo : NULL))
			w->errors++;
	}
	return NULL;
}

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->n; i++) {
		char k[32], v[64];
		int id = i % 4, j = (i * 37) % 1000;
		snprintf(k, sizeof(k), "w%d-%06d", id, j);
		snprintf(v, sizeof(v), "value-%d-%d-padding-padding-padding", id, j);
		void *got;
		size_t gl;
		int rc = lsm_get(w->t, k, strlen(k), &got, &gl);
		if (rc == 0) {
			if (gl != strlen(v) || memcmp(got, v, gl) != 0)
				w->errors++;
			free(got);
		} else if (rc != STRATA_ENOT_FOUND) {
			w->errors++;
		}
		if (i % 200 == 0) {
			size_t n;
			if (lsm_scan(w->t, "w1-", 3, "w2-", 3, 100, count_cb, NULL, &n))
				w->errors++;
		}
	}
	return NULL;
}

Test(lsm, concurrent_writers_readers_with_background_work)
{
	struct lsm_options o = {
		.memtable_bytes = 32 << 10,
		.l0_compaction_trigger = 2,
		.level_base_bytes = 128 << 10,
		.target_file_bytes = 32 << 10,
	};
	struct lsm *t = open_tree(&o);
	pthread_t th[6];
	struct worker w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){.t = t, .id = i, .n = i < 4 ? 5000 : 20000};
		pthread_create(&th[i], NULL, i < 4 ? writer_main : reader_main, &w[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].errors, 0, "worker %d: %d errors", i, w[i].errors);
	}
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_geq(st.memtable_flushes, 5);
	cr_assert_geq(st.compactions + st.trivial_moves, 1);
	for (int id = 0; id < 4; id++) {
		for (int i = 0; i < 5000; i += 97) {
			char k[32], v[64];
			snprintf(k, sizeof(k), "w%d-%06d", id, i);
			snprintf(v, sizeof(v), "value-%d-%d-padding-padding-padding", id, i);
			expect_value(t, k, v);
		}
	}
	size_t n;
	CHECK_OK(lsm_scan(t, NULL, 0, NULL, 0, 0, count_cb, NULL, &n));
	cr_assert_eq(n, 20000);
	CHECK_OK(lsm_close(t));
}

Test(lsm, group_commit_shares_fsyncs)
{
	struct lsm_options o = {.sync = LSM_SYNC_COMMIT};
	struct lsm *t = open_tree(&o);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.t = t, .id = i, .n = 200, .sync = true};
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].errors, 0);
	}
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_eq(st.wal_syncs + st.group_commits, 800);
	cr_log_info("group commit: %lu fsyncs for 800 commits", (unsigned long)st.wal_syncs);
	CHECK_OK(lsm_close(t));
}

/* The memtable's append fast path (adds after the tail skip the search)
 * mixed with adds in the middle, before the head and of newer versions of
 * the tail key: the skiplist stays ordered at every level (gets find every
 * key, the cursor sees each key once, ascending, newest version). */
static void memtable_order(size_t filter_bits)
{
	struct lsm_memtable *m;
	CHECK_OK(lsm_memtable_new_ex(&m, filter_bits));
	enum { K = 6000 };
	static int ver[K];
	memset(ver, 0, sizeof(ver));
	uint64_t seq = 1;
	char k[32], v[32];
	uint64_t r = 12345;
	for (int i = 0; i < K; i++) {
		int key;
		switch (i % 7) {
		case 3: /* somewhere before */
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			key = (int)((r >> 33) % (uint64_t)(i + 1));
			break;
		case 5: /* the tail key again: a newer version */
			key = i - 1;
			break;
		default: /* ascending */
			key = i;
		}
		if (key < 0)
			key = 0;
		ver[key]++;
		snprintf(k, sizeof(k), "k%06d", key);
		int vl = snprintf(v, sizeof(v), "v%d", ver[key]);
		CHECK_OK(lsm_memtable_add(m, seq++, LSM_TYPE_PUT, k, 7, v, (size_t)vl));
	}
	for (int key = 0; key < K; key++) {
		snprintf(k, sizeof(k), "k%06d", key);
		int type;
		const void *val;
		size_t vl;
		int found = lsm_memtable_get_h(m, k, 7, bloom_hash(k, 7), seq, &type, &val, &vl);
		cr_assert_eq(found, ver[key] > 0, "key %d", key);
		cr_assert_eq(lsm_memtable_get(m, k, 7, seq, &type, &val, &vl), found);
		/* absent keys: the filter may pass them, the lookup may not */
		snprintf(k, sizeof(k), "x%06d", key);
		cr_assert_eq(lsm_memtable_get_h(m, k, 7, bloom_hash(k, 7), seq, &type, &val, &vl), 0);
		if (found) {
			int want = snprintf(v, sizeof(v), "v%d", ver[key]);
			cr_assert(vl == (size_t)want && memcmp(val, v, vl) == 0, "key %d", key);
		}
	}
	struct lsm_cursor *c;
	CHECK_OK(lsm_memtable_cursor(m, seq, &c));
	CHECK_OK(lsm_cursor_seek(c, NULL, 0));
	int prev = -1, seen = 0;
	while (lsm_cursor_valid(c)) {
		struct lsm_entry e;
		lsm_cursor_entry(c, &e);
		cr_assert_eq(e.klen, 7);
		char kb[8];
		memcpy(kb, e.key, 7);
		kb[7] = 0;
		int key = atoi(kb + 1);
		cr_assert_gt(key, prev);
		prev = key;
		seen++;
		CHECK_OK(lsm_cursor_next(c));
	}
	int want = 0;
	for (int key = 0; key < K; key++)
		want += ver[key] > 0;
	cr_assert_eq(seen, want);
	lsm_cursor_free(c);
	lsm_memtable_unref(m);
}

Test(lsm, memtable_append_path_keeps_order) { memtable_order(0); }
/* with a key filter: roomy, and saturated (64 bits for 6000 keys) */
Test(lsm, memtable_filter_has_no_false_negatives)
{
	memtable_order(1 << 18);
	memtable_order(64);
}

/* Reads that keep merging L0 tables make L0 worth compacting below
 * l0_compaction_trigger (LevelDB's allowed_seeks): the background thread
 * merges it down and the data stays the same. */
Test(lsm, read_probes_compact_l0_below_the_trigger)
{
	struct lsm_options o = {.l0_compaction_trigger = 8, .no_compression = true};
	struct lsm *t = open_tree(&o);
	char k[16], v[32];
	for (int f = 0; f < 3; f++) {
		for (int i = f; i < 3000; i += 3) {
			snprintf(k, sizeof(k), "key%05d", i);
			snprintf(v, sizeof(v), "v%d", i);
			CHECK_OK(lsm_put(t, k, strlen(k), v, strlen(v), NULL));
		}
		CHECK_OK(lsm_flush(t));
	}
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_eq(st.level[0].files, 3, "L0 files %lu", (unsigned long)st.level[0].files);
	/* 3 tables of < 1.6 MiB: a budget of 300 wasted probes; each seek merges 3 */
	struct lsm_iter *it;
	for (int n = 0; n < 200; n++) {
		CHECK_OK(lsm_iter_new(t, &it));
		snprintf(k, sizeof(k), "key%05d", (n * 37) % 3000);
		CHECK_OK(lsm_iter_seek(it, k, strlen(k)));
		cr_assert(lsm_iter_valid(it));
		lsm_iter_free(it);
	}
	/* the background thread looks at least once a second */
	for (int i = 0; i < 100; i++) {
		lsm_get_stats(t, &st);
		if (st.level[0].files == 0)
			break;
		usleep(50 * 1000);
	}
	cr_assert_eq(st.level[0].files, 0, "L0 still holds %lu tables",
		     (unsigned long)st.level[0].files);
	cr_assert_geq(st.compactions, 1);
	expect_value(t, "key00000", "v0");
	expect_value(t, "key02999", "v2999");
	CHECK_OK(lsm_close(t));
}
