/*
 * tests/unit/test_columnar.c — core/columnar: every encoding x type round
 * trip with edge cases, the chosen encoding is the smallest candidate,
 * every predicate and aggregate against a straightforward reference on
 * random data (with nulls, over many row groups), SIMD and scalar kernels
 * agree, persistence across reopen, crash safety under injected faults,
 * corruption detection.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/columnar/col_internal.h"
#include "core/emit.h"
#include "core/file.h"
#include "strata/error.h"

static char tdir[256];

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/strata-coltest-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	emit_set_enabled(false);
}

static void teardown(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	cr_assert_eq(system(cmd), 0);
	file_fault_clear();
	col_simd_force(COL_SIMD_AUTO);
}

TestSuite(columnar, .init = setup, .fini = teardown);

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- codec round trips ----------------------------------------------------------- */

static void roundtrip_all(const struct col_chunk_in *in, const char *what)
{
	size_t sizes[COL_ENC_COUNT];
	col_enc_sizes(in, sizes);
	size_t best = COL_SIZE_NA;
	int tried = 0;
	for (int e = 0; e < COL_ENC_COUNT; e++) {
		if (sizes[e] == COL_SIZE_NA)
			continue;
		tried++;
		best = sizes[e] < best ? sizes[e] : best;
		uint8_t *buf = calloc(1, sizes[e] + COL_PAD + 8);
		size_t got = col_encode(in, (enum col_encoding)e, buf, sizes[e]);
		cr_assert_eq(got, sizes[e], "%s %s: encoded %zu bytes, estimated %zu", what,
			     col_encoding_name(e), got, sizes[e]);
		struct col_vec v = {0};
		int rv = col_decode(buf, got, in->type, (enum col_encoding)e, in->n, false, &v);
		cr_assert_eq(rv, 0, "%s %s: decode %d", what, col_encoding_name(e), rv);
		for (uint32_t i = 0; i < in->n; i++) {
			if (in->type == COL_STRING) {
				uint32_t ent = v.codes ? v.codes[i] : i;
				uint32_t len = v.soff[ent + 1] - v.soff[ent];
				cr_assert(len == in->str[i].len &&
					  (len == 0 || memcmp(v.sbytes + v.soff[ent], in->str[i].p, len) == 0),
					  "%s %s: row %u differs", what, col_encoding_name(e), i);
			} else if (in->type == COL_FLOAT64) {
				cr_assert(memcmp(&v.f64[i], &in->f64[i], 8) == 0, "%s %s: row %u: %g vs %g",
					  what, col_encoding_name(e), i, v.f64[i], in->f64[i]);
			} else {
				cr_assert_eq(v.i64[i], in->i64[i], "%s %s: row %u: %lld vs %lld", what,
					     col_encoding_name(e), i, (long long)v.i64[i],
					     (long long)in->i64[i]);
			}
		}
		col_vec_free(&v);
		free(buf);
	}
	cr_assert(tried >= 1);
	if (in->n)
		cr_assert_eq(sizes[col_enc_choose(sizes)], best, "%s: chosen encoding is not the smallest",
			     what);
}

static void int_case(enum col_type ty, const int64_t *v, uint32_t n, const char *what)
{
	struct col_chunk_in in = {.type = ty, .n = n, .i64 = v};
	roundtrip_all(&in, what);
}

Test(columnar, roundtrip_int_edge_cases)
{
	static int64_t one[1] = {42};
	static int64_t extremes[6] = {INT64_MIN, INT64_MAX, 0, INT64_MIN, -1, INT64_MAX};
	static int64_t sorted[1000], neg[1000], zero[1000], rnd_small[1000], rnd_big[1000], runs[1000];
	for (int i = 0; i < 1000; i++) {
		sorted[i] = 1000000 + i * 3;
		neg[i] = 5000 - i * 7 + (i % 3);
		zero[i] = -17;
		rnd_small[i] = (int64_t)(rnd() % 13) - 6;
		rnd_big[i] = (int64_t)rnd();
		runs[i] = (i / 100) * 1000003;
	}
	enum col_type types[2] = {COL_INT64, COL_TIMESTAMP};
	for (int k = 0; k < 2; k++) {
		int_case(types[k], one, 1, "one value");
		int_case(types[k], one, 0, "empty");
		int_case(types[k], extremes, 6, "INT64_MIN/MAX");
		int_case(types[k], sorted, 1000, "sorted");
		int_case(types[k], neg, 1000, "negative deltas");
		int_case(types[k], zero, 1000, "zero deltas");
		int_case(types[k], rnd_small, 1000, "small random");
		int_case(types[k], rnd_big, 1000, "full-range random");
		int_case(types[k], runs, 1000, "runs");
	}
	/* every integer encoding is a candidate for sorted data */
	size_t sizes[COL_ENC_COUNT];
	struct col_chunk_in in = {.type = COL_INT64, .n = 1000, .i64 = sorted};
	col_enc_sizes(&in, sizes);
	for (int e = 0; e < COL_ENC_COUNT; e++)
		cr_assert_neq(sizes[e], COL_SIZE_NA, "%s not a candidate", col_encoding_name(e));
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_DELTABITPACKED);
	in.i64 = runs;
	col_enc_sizes(&in, sizes);
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_RUNLENGTH);
	in.i64 = rnd_small;
	col_enc_sizes(&in, sizes);
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_BITPACKED);
	in.i64 = rnd_big;
	col_enc_sizes(&in, sizes);
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_PLAIN);
}

Test(columnar, roundtrip_bool_float_string)
{
	int64_t b[500];
	for (int i = 0; i < 500; i++)
		b[i] = (rnd() & 1);
	int_case(COL_BOOL, b, 500, "bool random");
	for (int i = 0; i < 500; i++)
		b[i] = i < 250;
	int_case(COL_BOOL, b, 500, "bool runs");
	int_case(COL_BOOL, b, 1, "bool one");

	double f[512];
	for (int i = 0; i < 512; i++)
		f[i] = (double)(rnd() % 100000) / 7.0 - 5000;
	f[0] = NAN;
	f[1] = INFINITY;
	f[2] = -INFINITY;
	f[3] = -0.0;
	f[4] = 0.0;
	f[5] = 1e308;
	f[6] = -4.9e-324;
	struct col_chunk_in in = {.type = COL_FLOAT64, .n = 512, .f64 = f};
	roundtrip_all(&in, "float random with NaN/inf");
	for (int i = 0; i < 512; i++)
		f[i] = (double)(i % 4) * 0.5;
	roundtrip_all(&in, "float low cardinality");
	in.n = 1;
	roundtrip_all(&in, "float one");

	static char big[200000];
	memset(big, 'x', sizeof(big));
	struct col_str s[300];
	const char *words[] = {"paid", "open", "", "shipped"};
	for (int i = 0; i < 300; i++)
		s[i] = (struct col_str){words[rnd() % 4], 0}, s[i].len = (uint32_t)strlen(s[i].p);
	s[7] = (struct col_str){big, sizeof(big)};
	s[8] = (struct col_str){"", 0};
	struct col_chunk_in sin = {.type = COL_STRING, .n = 300, .str = s};
	roundtrip_all(&sin, "strings with long and empty");
	size_t sizes[COL_ENC_COUNT];
	col_enc_sizes(&sin, sizes);
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_DICTIONARY);
	for (int i = 0; i < 300; i++)
		s[i] = (struct col_str){"", 0};
	roundtrip_all(&sin, "all empty strings");
	col_enc_sizes(&sin, sizes);
	/* one empty entry + zero-width codes (9 bytes) beats one run (12) */
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_DICTIONARY);
	for (int i = 0; i < 300; i++)
		s[i] = (struct col_str){i < 150 ? "aaaa" : "bbbbbbbb", i < 150 ? 4 : 8};
	col_enc_sizes(&sin, sizes);
	cr_assert_eq(col_enc_choose(sizes), COL_ENC_RUNLENGTH);
	roundtrip_all(&sin, "two runs");
}

Test(columnar, chosen_is_smallest_on_random_shapes)
{
	int64_t v[4096];
	for (int round = 0; round < 200; round++) {
		uint32_t n = 1 + (uint32_t)(rnd() % 4096);
		int shape = (int)(rnd() % 5);
		int64_t base = (int64_t)rnd();
		for (uint32_t i = 0; i < n; i++) {
			switch (shape) {
			case 0: v[i] = base + (int64_t)i * (int64_t)(rnd() % 5); break;
			case 1: v[i] = (int64_t)(rnd() % 7); break;
			case 2: v[i] = i ? v[i - 1] + (rnd() % 10 == 0) : 0; break;
			case 3: v[i] = (int64_t)rnd(); break;
			default: v[i] = (int64_t)(rnd() % 1000) * 1000003; break;
			}
		}
		char what[64];
		snprintf(what, sizeof(what), "shape %d n %u", shape, n);
		int_case(COL_INT64, v, n, what);
	}
}

Test(columnar, corrupt_payload_is_an_error_not_a_crash)
{
	int64_t v[300];
	for (int i = 0; i < 300; i++)
		v[i] = i * 5;
	struct col_chunk_in in = {.type = COL_INT64, .n = 300, .i64 = v};
	for (int e = 0; e < COL_ENC_COUNT; e++) {
		size_t sizes[COL_ENC_COUNT];
		col_enc_sizes(&in, sizes);
		if (sizes[e] == COL_SIZE_NA)
			continue;
		uint8_t *buf = calloc(1, sizes[e] + COL_PAD);
		col_encode(&in, (enum col_encoding)e, buf, sizes[e]);
		struct col_vec vec = {0};
		/* truncated payloads must be rejected */
		int rv = col_decode(buf, sizes[e] - 1, COL_INT64, (enum col_encoding)e, 300, false, &vec);
		cr_assert_eq(rv, STRATA_ECORRUPT, "%s: truncated payload accepted", col_encoding_name(e));
		col_vec_free(&vec);
		free(buf);
	}
}

/* ---- tables: reference model -------------------------------------------------------- */

#define NROWS 5000
struct model {
	int64_t id[NROWS], ts[NROWS], flag[NROWS];
	double price[NROWS];
	struct col_str status[NROWS];
	uint8_t null_price[NROWS], null_status[NROWS], null_flag[NROWS];
};

static const char *status_words[] = {"paid", "open", "shipped", "cancelled", "refunded", ""};

static void model_fill(struct model *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		m->id[i] = (int64_t)i * 3 - 1000;
		m->ts[i] = 1700000000000000ll + (int64_t)(rnd() % 100000000);
		m->flag[i] = rnd() & 1;
		m->price[i] = (double)(rnd() % 200000) / 100.0 - 500;
		if (rnd() % 97 == 0)
			m->price[i] = NAN;
		m->status[i].p = status_words[rnd() % 6];
		m->status[i].len = (uint32_t)strlen(m->status[i].p);
		m->null_price[i] = rnd() % 10 == 0;
		m->null_status[i] = rnd() % 20 == 0;
		m->null_flag[i] = rnd() % 5 == 0;
	}
}

static const struct col_def model_defs[5] = {{"id", COL_INT64, false},
					     {"price", COL_FLOAT64, true},
					     {"status", COL_STRING, true},
					     {"ts", COL_TIMESTAMP, false},
					     {"flag", COL_BOOL, true}};

static void model_insert(struct col_table *t, struct model *m, size_t from, size_t n)
{
	struct col_input in[5] = {{.i64 = m->id + from},
				  {.f64 = m->price + from, .null = m->null_price + from},
				  {.str = m->status + from, .null = m->null_status + from},
				  {.i64 = m->ts + from},
				  {.i64 = m->flag + from, .null = m->null_flag + from}};
	char msg[256];
	int rv = col_insert(t, in, n, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "insert: %s", msg);
}

static struct columnar_db *open_db(void)
{
	struct columnar_db *db;
	char err[256];
	int rv = columnar_open(&db, tdir, err, sizeof(err));
	cr_assert_eq(rv, 0, "open: %s", err);
	return db;
}

static struct col_table *make_table(struct columnar_db *db, uint32_t rg)
{
	struct col_create_opts o = {.cols = model_defs, .ncols = 5, .row_group_rows = rg,
				    .tablespace = "ts1"};
	char msg[256];
	int rv = columnar_create(db, "m", &o, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "create: %s", msg);
	struct col_table *t;
	cr_assert_eq(columnar_acquire(db, "m", &t), 0);
	return t;
}

/* Reference: the value of column c at row i. */
static struct col_value model_value(const struct model *m, int c, size_t i)
{
	struct col_value v = {0};
	switch (c) {
	case 0: v.i = m->id[i]; break;
	case 1: v.null = m->null_price[i]; v.f = m->price[i]; break;
	case 2: v.null = m->null_status[i]; v.s = m->status[i].p; v.slen = m->status[i].len; break;
	case 3: v.i = m->ts[i]; break;
	default: v.null = m->null_flag[i]; v.i = m->flag[i];
	}
	return v;
}

static int ref_cmp(int c, const struct col_value *a, const struct col_value *b)
{
	if (c == 2) {
		size_t n = a->slen < b->slen ? a->slen : b->slen;
		int r = n ? memcmp(a->s, b->s, n) : 0;
		return r ? r : (a->slen > b->slen) - (a->slen < b->slen);
	}
	if (c == 1) {
		bool an = isnan(a->f), bn = isnan(b->f);
		if (an || bn)
			return an - bn;
		return (a->f > b->f) - (a->f < b->f);
	}
	return (a->i > b->i) - (a->i < b->i);
}

static bool ref_match(const struct col_pred *p, const struct col_value *x)
{
	if (p->op == COL_IS_NULL)
		return x->null;
	if (p->op == COL_IS_NOT_NULL)
		return !x->null;
	if (x->null)
		return false;
	int c = p->col;
	switch (p->op) {
	case COL_EQ: return ref_cmp(c, x, &p->a) == 0;
	case COL_NE: return ref_cmp(c, x, &p->a) != 0;
	case COL_LT: return ref_cmp(c, x, &p->a) < 0;
	case COL_LE: return ref_cmp(c, x, &p->a) <= 0;
	case COL_GT: return ref_cmp(c, x, &p->a) > 0;
	case COL_GE: return ref_cmp(c, x, &p->a) >= 0;
	case COL_BETWEEN: return ref_cmp(c, x, &p->a) >= 0 && ref_cmp(c, x, &p->b) <= 0;
	case COL_IN:
		for (size_t k = 0; k < p->nset; k++)
			if (ref_cmp(c, x, &p->set[k]) == 0)
				return true;
		return false;
	default: return false;
	}
}

static bool ref_row(const struct model *m, const struct col_where *w, size_t i)
{
	for (size_t k = 0; w && k < w->n; k++) {
		struct col_value x = model_value(m, w->p[k].col, i);
		if (!ref_match(&w->p[k], &x))
			return false;
	}
	return true;
}

struct collect {
	uint64_t *rows;
	size_t n;
};

static int collect_row(void *arg, uint64_t row, const struct col_value *vals)
{
	(void)vals;
	struct collect *c = arg;
	c->rows[c->n++] = row;
	return 0;
}

static void check_where(struct col_table *t, const struct model *m, size_t n, const char *text)
{
	struct col_where *w;
	char msg[256];
	int rv = col_where_parse(t, text, &w, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "parse '%s': %s", text, msg);
	/* rows */
	struct collect c = {calloc(n + 1, sizeof(uint64_t)), 0};
	int cols[1] = {0};
	struct col_scan_stats st;
	rv = col_scan(t, cols, 1, w, 0, n + 1, collect_row, &c, &st);
	cr_assert_eq(rv, 0);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!ref_row(m, w, i))
			continue;
		cr_assert(k < c.n && c.rows[k] == i, "'%s': row %zu expected (got %zu rows)", text, i, c.n);
		k++;
	}
	cr_assert_eq(k, c.n, "'%s': %zu rows, reference %zu", text, c.n, k);
	/* aggregates on every column */
	for (int col = -1; col < 5; col++) {
		for (int fn = COL_AGG_COUNT; fn <= COL_AGG_AVG; fn++) {
			if (col < 0 && fn != COL_AGG_COUNT)
				continue;
			bool numeric = col == 0 || col == 1 || col == 3;
			if ((fn == COL_AGG_SUM || fn == COL_AGG_AVG) && !numeric)
				continue;
			struct col_agg_result r;
			rv = col_aggregate(t, col, (enum col_agg)fn, w, &r, msg, sizeof(msg));
			cr_assert_eq(rv, 0, "%s: %s", text, msg);
			uint64_t cnt = 0;
			__int128 isum = 0;
			double fsum = 0;
			struct col_value best = {0};
			bool any = false;
			for (size_t i = 0; i < n; i++) {
				if (!ref_row(m, w, i))
					continue;
				if (col < 0) {
					cnt++;
					continue;
				}
				struct col_value x = model_value(m, col, i);
				if (x.null)
					continue;
				cnt++;
				isum += x.i;
				fsum += x.f;
				if (!any || (fn == COL_AGG_MIN && ref_cmp(col, &x, &best) < 0) ||
				    (fn == COL_AGG_MAX && ref_cmp(col, &x, &best) > 0))
					best = x;
				any = true;
			}
			cr_assert_eq(r.count, cnt, "'%s' %s(col %d): count %llu vs %llu", text,
				     col_agg_name(fn), col, (unsigned long long)r.count,
				     (unsigned long long)cnt);
			if (fn == COL_AGG_COUNT) {
				cr_assert_eq((uint64_t)r.i, cnt);
				continue;
			}
			cr_assert_eq(r.null, !any, "'%s' %s(col %d): null", text, col_agg_name(fn), col);
			if (!any)
				continue;
			if (fn == COL_AGG_SUM && col != 1)
				cr_assert_eq(r.i, (int64_t)isum, "'%s' sum(col %d)", text, col);
			else if (fn == COL_AGG_AVG && col != 1)
				cr_assert(fabs(r.f - (double)isum / (double)cnt) <= 1e-6 * fabs(r.f) + 1e-9);
			else if (fn == COL_AGG_SUM || fn == COL_AGG_AVG) {
				double want = fn == COL_AGG_AVG ? fsum / (double)cnt : fsum;
				cr_assert((isnan(want) && isnan(r.f)) ||
					  fabs(r.f - want) <= 1e-9 * fabs(want) + 1e-6,
					  "'%s' %s(price): %.17g vs %.17g", text, col_agg_name(fn), r.f, want);
			} else {
				struct col_value got = {.i = r.i, .f = r.f, .s = r.s, .slen = r.slen};
				cr_assert_eq(ref_cmp(col, &got, &best), 0, "'%s' %s(col %d)", text,
					     col_agg_name(fn), col);
			}
			col_agg_result_clear(&r);
		}
	}
	free(c.rows);
	col_where_free(w);
}

static const char *wheres[] = {
	"",
	"id = 299",
	"id != 299",
	"id < 0",
	"id <= 2000",
	"id > 14000",
	"id >= 13997",
	"id between 1000 and 1100",
	"id in (5, 8, 11, 2000, 14996, 99999)",
	"price < 0",
	"price <= 10.5",
	"price > 400",
	"price >= -100 and price < 100",
	"price between -10 and 10",
	"price = nan",
	"price > inf",
	"price != 3.5",
	"price in (1.5, -2.25, 400)",
	"price is null",
	"price is not null",
	"status = paid",
	"status = ''",
	"status != 'open'",
	"status < 'open'",
	"status >= shipped",
	"status between cancelled and paid",
	"status in ('paid', refunded)",
	"status is null",
	"flag = true",
	"flag != false and flag is not null",
	"flag is null and price < 0",
	"ts > 1700000050000000",
	"ts between 2023-11-14T22:13:20Z and 2023-11-14T22:14:00.5Z",
	"ts < 1700000000000000",
	"id > 100 and status = paid and price < 250",
};

Test(columnar, predicates_and_aggregates_match_reference)
{
	static struct model m;
	model_fill(&m, NROWS);
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 512);
	/* uneven batches: tail row groups get merged */
	size_t off = 0, sizes[] = {1, 700, 33, 1500, 2766};
	for (size_t k = 0; k < 5; k++) {
		model_insert(t, &m, off, sizes[k]);
		off += sizes[k];
	}
	cr_assert_eq(off, NROWS);
	for (int mode = 0; mode < 2; mode++) {
		col_simd_force(mode ? COL_SIMD_SCALAR : COL_SIMD_AVX2);
		for (size_t k = 0; k < sizeof(wheres) / sizeof(wheres[0]); k++)
			check_where(t, &m, NROWS, wheres[k]);
	}
	/* zone maps skipped row groups for selective predicates */
	struct col_where *w;
	char msg[256];
	cr_assert_eq(col_where_parse(t, "id between 1000 and 1100", &w, msg, sizeof(msg)), 0);
	struct col_agg_result r;
	cr_assert_eq(col_aggregate(t, 0, COL_AGG_SUM, w, &r, msg, sizeof(msg)), 0);
	cr_assert_gt(r.chunks_skipped, 5);
	cr_assert_lt(r.rows_scanned, 2000);
	col_where_free(w);
	columnar_release(db);
	columnar_close(db);
}

Test(columnar, where_errors)
{
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 0);
	const char *bad[] = {"nope = 1", "id = abc", "id =", "id between 1", "id in (1, 2",
			     "price = x", "ts > yesterday", "flag = maybe", "id = 1 or id = 2",
			     "status = 'open", "id = null", "id ~ 3"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct col_where *w = NULL;
		char msg[256] = "";
		int rv = col_where_parse(t, bad[k], &w, msg, sizeof(msg));
		cr_assert_eq(rv, STRATA_EBAD_REQUEST, "'%s' accepted", bad[k]);
		cr_assert(msg[0], "'%s': no message", bad[k]);
	}
	columnar_release(db);
	columnar_close(db);
}

Test(columnar, simd_and_scalar_kernels_agree)
{
	cr_assert(col_simd_avx2_available(), "this machine has AVX2");
	size_t n = 10007;
	int64_t *v = malloc(n * 8);
	double *f = malloc(n * 8);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t)rnd();
		f[i] = (double)(int64_t)(rnd() % 2000001 - 1000000) / 1000.0;
	}
	v[5] = INT64_MIN;
	v[6] = INT64_MAX;
	uint64_t a0, s0, a1, s1;
	col_simd_counters(&a0, &s0);
	for (size_t len = 0; len < 300; len += 7) {
		size_t m = len ? len : 1;
		col_simd_force(COL_SIMD_SCALAR);
		__int128 ss = col_k_sum_i64(v, m);
		int64_t smn, smx;
		col_k_minmax_i64(v, m, &smn, &smx);
		double fs, fmn, fmx;
		col_k_sum_minmax_f64(f, m, &fs, &fmn, &fmx);
		double fs2 = col_k_sum_f64(f, m);
		uint64_t sel_s[200], sel_a[200], fsel_s[200], fsel_a[200];
		for (int k = 0; k < 200; k++)
			sel_s[k] = sel_a[k] = fsel_s[k] = fsel_a[k] = ~0ull;
		col_k_filter_i64(v, m, -(1ll << 62), 1ll << 61, (len & 8) != 0, sel_s);
		col_k_filter_f64(f, m, -10.5, false, 300.25, (len & 16) != 0, (len & 8) != 0, fsel_s);
		col_simd_force(COL_SIMD_AVX2);
		cr_assert(col_k_sum_i64(v, m) == ss, "sum differs at n=%zu", m);
		int64_t amn, amx;
		col_k_minmax_i64(v, m, &amn, &amx);
		cr_assert(amn == smn && amx == smx);
		double as, amnf, amxf;
		col_k_sum_minmax_f64(f, m, &as, &amnf, &amxf);
		cr_assert(as == fs && amnf == fmn && amxf == fmx, "float kernels differ at n=%zu", m);
		cr_assert(col_k_sum_f64(f, m) == fs2);
		col_k_filter_i64(v, m, -(1ll << 62), 1ll << 61, (len & 8) != 0, sel_a);
		col_k_filter_f64(f, m, -10.5, false, 300.25, (len & 16) != 0, (len & 8) != 0, fsel_a);
		cr_assert(memcmp(sel_s, sel_a, sizeof(sel_s)) == 0, "int filter differs at n=%zu", m);
		cr_assert(memcmp(fsel_s, fsel_a, sizeof(fsel_s)) == 0, "float filter differs at n=%zu", m);
	}
	/* NaN filters */
	f[3] = NAN;
	uint64_t x[200], y[200];
	for (int k = 0; k < 200; k++)
		x[k] = y[k] = ~0ull;
	col_simd_force(COL_SIMD_SCALAR);
	col_k_filter_f64(f, n, 0, true, 0, false, false, x);
	col_simd_force(COL_SIMD_AVX2);
	col_k_filter_f64(f, n, 0, true, 0, false, false, y);
	cr_assert(memcmp(x, y, sizeof(x)) == 0);
	cr_assert_eq(x[0], 1ull << 3, "isnan filter: %llx", (unsigned long long)x[0]);
	/* the sum stays exact where 64-bit lanes would overflow */
	for (size_t i = 0; i < 64; i++)
		v[i] = INT64_MAX;
	__int128 big = col_k_sum_i64(v, 64);
	cr_assert(big == (__int128)INT64_MAX * 64);
	col_simd_counters(&a1, &s1);
	cr_assert_gt(a1, a0, "the AVX2 path never ran");
	cr_assert_gt(s1, s0, "the scalar path never ran");
	free(v);
	free(f);
}

static void expect_rows(struct col_table *t, const struct model *m, size_t n)
{
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	cr_assert_eq(ti.rows, n);
	check_where(t, m, n, "");
	check_where(t, m, n, "price < 0 and status != paid");
}

Test(columnar, persists_across_reopen_and_tail_merge)
{
	static struct model m;
	model_fill(&m, NROWS);
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 1000);
	model_insert(t, &m, 0, 1234);
	columnar_release(db);
	columnar_close(db);

	db = open_db();
	cr_assert_eq(columnar_acquire(db, "m", &t), 0);
	expect_rows(t, &m, 1234);
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	cr_assert_str_eq(ti.tablespace, "ts1");
	model_insert(t, &m, 1234, 10); /* merges into the short tail */
	columnar_release(db);
	columnar_close(db);

	db = open_db();
	cr_assert_eq(columnar_acquire(db, "m", &t), 0);
	expect_rows(t, &m, 1244);
	col_table_get_info(t, &ti);
	cr_assert_eq(ti.row_groups, 2);
	/* empty batch: nothing changes */
	char msg[256];
	cr_assert_eq(col_insert(t, NULL, 0, msg, sizeof(msg)), 0);
	columnar_release(db);
	/* only the files the manifest names remain */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls '%s/m' | grep -c '^rg-') -eq 2", tdir);
	cr_assert_eq(system(cmd), 0);
	columnar_close(db);
}

Test(columnar, all_nulls_and_batch_rejection)
{
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 0);
	static struct model m;
	model_fill(&m, 100);
	memset(m.null_price, 1, 100);
	memset(m.null_status, 1, 100);
	model_insert(t, &m, 0, 100);
	check_where(t, &m, 100, "price is null");
	check_where(t, &m, 100, "price > 0");
	struct col_column_stats s;
	cr_assert_eq(col_column_stats_get(t, 1, &s), 0);
	cr_assert_eq(s.null_count, 100);
	cr_assert(!s.has_minmax);
	col_column_stats_clear(&s);

	/* a null in the non-nullable id column rejects the whole batch */
	uint8_t nul[100] = {0};
	nul[42] = 1;
	struct col_input in[5] = {{.i64 = m.id, .null = nul}, {.f64 = m.price}, {.str = m.status},
				  {.i64 = m.ts}, {.i64 = m.flag}};
	char msg[256];
	cr_assert_eq(col_insert(t, in, 100, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "row 42") && strstr(msg, "'id'"), "%s", msg);
	int64_t badbool[100] = {0};
	badbool[7] = 2;
	in[0].null = NULL;
	in[4].i64 = badbool;
	cr_assert_eq(col_insert(t, in, 100, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "row 7") && strstr(msg, "'flag'"), "%s", msg);
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	cr_assert_eq(ti.rows, 100);
	columnar_release(db);
	columnar_close(db);
}

Test(columnar, failed_sync_leaves_the_table_as_it_was)
{
	static struct model m;
	model_fill(&m, NROWS);
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 500);
	model_insert(t, &m, 0, 700);
	const char *where[] = {"rg-", "MANIFEST.tmp"};
	for (int k = 0; k < 2; k++) {
		struct file_fault f = {.ops = FILE_OP_SYNC, .path_contains = where[k],
				       .kind = FILE_FAULT_ERROR, .errnum = 5};
		cr_assert_eq(file_fault_inject(&f), 0);
		struct col_input in[5] = {{.i64 = m.id + 700},
					  {.f64 = m.price + 700, .null = m.null_price + 700},
					  {.str = m.status + 700, .null = m.null_status + 700},
					  {.i64 = m.ts + 700},
					  {.i64 = m.flag + 700, .null = m.null_flag + 700}};
		char msg[256];
		int rv = col_insert(t, in, 900, msg, sizeof(msg));
		cr_assert_neq(rv, 0, "insert survived a failed fsync of %s", where[k]);
		file_fault_clear();
		expect_rows(t, &m, 700);
	}
	columnar_release(db);
	columnar_close(db);
	db = open_db();
	cr_assert_eq(columnar_acquire(db, "m", &t), 0);
	expect_rows(t, &m, 700);
	model_insert(t, &m, 700, 900);
	expect_rows(t, &m, 1600);
	columnar_release(db);
	columnar_close(db);
}

Test(columnar, corruption_is_reported_never_wrong_data)
{
	static struct model m;
	model_fill(&m, NROWS);
	struct columnar_db *db = open_db();
	struct col_table *t = make_table(db, 1000);
	model_insert(t, &m, 0, 3000);
	columnar_release(db);
	columnar_close(db);
	/* flip one byte in the middle of the second row group's file */
	char cmd[800];
	snprintf(cmd, sizeof(cmd),
		 "f=$(ls '%s'/m/rg-* | sed -n 2p); sz=$(stat -c %%s \"$f\"); "
		 "printf '\\xA5' | dd of=\"$f\" bs=1 seek=$((sz/2)) conv=notrunc status=none",
		 tdir);
	cr_assert_eq(system(cmd), 0);
	db = open_db(); /* a fresh open has no cached payloads */
	cr_assert_eq(columnar_acquire(db, "m", &t), 0);
	char msg[256];
	int bad = 0;
	for (int col = 0; col < 5; col++) {
		struct col_agg_result r;
		int rv = col_aggregate(t, col, COL_AGG_MIN, NULL, &r, msg, sizeof(msg));
		col_agg_result_clear(&r);
		col_set_zone_answers(false);
		int rv2 = col_aggregate(t, col, COL_AGG_MAX, NULL, &r, msg, sizeof(msg));
		col_set_zone_answers(true);
		if (rv == STRATA_ECORRUPT || rv2 == STRATA_ECORRUPT)
			bad++;
		else
			cr_assert(rv == 0 && rv2 == 0);
		col_agg_result_clear(&r);
	}
	cr_assert_eq(bad, 1, "exactly the damaged column must report corrupt (got %d)", bad);
	/* a row group that is intact still reads */
	struct col_where *w;
	cr_assert_eq(col_where_parse(t, "id < 1000", &w, msg, sizeof(msg)), 0);
	struct col_agg_result r;
	for (int col = 0; col < 5; col++) {
		cr_assert_eq(col_aggregate(t, col, COL_AGG_COUNT, w, &r, msg, sizeof(msg)), 0);
	}
	col_where_free(w);
	columnar_release(db);
	columnar_close(db);
	/* a damaged manifest stops the open with corrupt */
	snprintf(cmd, sizeof(cmd), "printf 'XX' | dd of='%s/m/MANIFEST' bs=1 seek=40 conv=notrunc status=none",
		 tdir);
	cr_assert_eq(system(cmd), 0);
	struct columnar_db *db2;
	char err[256];
	cr_assert_eq(columnar_open(&db2, tdir, err, sizeof(err)), STRATA_ECORRUPT);
	cr_assert(strstr(err, "MANIFEST"), "%s", err);
}

Test(columnar, create_drop_and_names)
{
	struct columnar_db *db = open_db();
	char msg[256];
	struct col_def d[2] = {{"a", COL_INT64, false}, {"a", COL_STRING, true}};
	struct col_create_opts o = {.cols = d, .ncols = 2};
	cr_assert_eq(columnar_create(db, "x", &o, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	o.ncols = 1;
	cr_assert_eq(columnar_create(db, "../x", &o, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_eq(columnar_create(db, "x", &o, msg, sizeof(msg)), 0);
	cr_assert_eq(columnar_create(db, "x", &o, msg, sizeof(msg)), STRATA_ECONFLICT);
	cr_assert_eq(columnar_drop(db, "x"), 0);
	cr_assert_eq(columnar_drop(db, "x"), STRATA_ENOT_FOUND);
	cr_assert_eq(columnar_create(db, "x", &o, msg, sizeof(msg)), 0);
	columnar_close(db);
	db = open_db();
	struct col_table *t;
	cr_assert_eq(columnar_acquire(db, "x", &t), 0);
	columnar_release(db);
	columnar_close(db);
}
