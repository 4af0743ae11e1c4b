/*
 * bench/columnar_bench.c — columnar tables (core/columnar, in-process,
 * libstrata only) on the data bench/duckdb/columnar.mjs gives DuckDB:
 *
 *   id     int64      i (sorted)
 *   status string     one of 5 words, picked by h3 % 5
 *   price  float64    h2 / 2^32 * 1000 (uniform in [0, 1000))
 *   ts     timestamp  1700000000000000 + i*1000 + h1 % 1000 (µs)
 *   with h1 = i*2654435761 mod 2^32, h2 = (h1*1103515245 + 12345) mod 2^32,
 *        h3 = (h2*1103515245 + 12345) mod 2^32 — integer math both sides
 *        compute identically.
 *
 * Measures: load (col_insert of 1M-row batches, durable), stored bytes
 * (row-group files + manifest), then warm (best of --reps after one warm-up
 * run): SUM(id), COUNT(*) WHERE price < 10, MIN(price) and MAX(price) (as
 * two aggregate calls, each decoding; zone-map answers off, so the decode
 * loop is what is timed — with them on, MIN/MAX cost ~0), plus the same
 * kernels forced scalar. Prints one JSON object.
 *
 *   columnar_bench [--rows N] [--reps R] [--dir DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/columnar/columnar.h"
#include "core/emit.h"
#include "strata/error.h"

static const char *statuses[5] = {"paid", "open", "shipped", "cancelled", "refunded"};

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

struct q {
	const char *name;
	int col;
	enum col_agg fn;
	const char *where;
};

static double run_query(struct col_table *t, const struct q *q, int reps, struct col_agg_result *out)
{
	char msg[256];
	struct col_where *w = NULL;
	if (q->where && col_where_parse(t, q->where, &w, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "where: %s\n", msg);
		exit(1);
	}
	double best = 1e9;
	for (int r = 0; r <= reps; r++) {
		struct col_agg_result res;
		double t0 = now_s();
		int rv = col_aggregate(t, q->col, q->fn, w, &res, msg, sizeof(msg));
		double dt = now_s() - t0;
		if (rv) {
			fprintf(stderr, "%s: %s\n", q->name, msg);
			exit(1);
		}
		if (r > 0 && dt < best)
			best = dt; /* r == 0 is the warm-up */
		col_agg_result_clear(&res);
		*out = res;
	}
	col_where_free(w);
	return best;
}

int main(int argc, char **argv)
{
	size_t rows = 10000000;
	int reps = 5;
	char dir[4096] = "";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rows") && i + 1 < argc)
			rows = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			snprintf(dir, sizeof(dir), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: columnar_bench [--rows N] [--reps R] [--dir DIR]\n");
			return 2;
		}
	}
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/strata-colbench-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	}
	emit_set_enabled(false);
	char err[256];
	struct columnar_db *db;
	if (columnar_open(&db, dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	columnar_drop(db, "bench");
	struct col_def defs[4] = {{"id", COL_INT64, false}, {"status", COL_STRING, false},
				  {"price", COL_FLOAT64, false}, {"ts", COL_TIMESTAMP, false}};
	struct col_create_opts o = {.cols = defs, .ncols = 4};
	if (columnar_create(db, "bench", &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "create: %s\n", err);
		return 1;
	}
	struct col_table *t;
	columnar_acquire(db, "bench", &t);
	size_t batch = 1000000;
	int64_t *id = malloc(batch * 8), *ts = malloc(batch * 8);
	double *price = malloc(batch * 8);
	struct col_str *st = malloc(batch * sizeof(*st));
	double load = 0;
	for (size_t base = 0; base < rows; base += batch) {
		size_t n = rows - base < batch ? rows - base : batch;
		for (size_t k = 0; k < n; k++) {
			uint64_t i = base + k;
			uint64_t h1 = (i * 2654435761ull) % 4294967296ull;
			uint64_t h2 = (h1 * 1103515245ull + 12345) % 4294967296ull;
			uint64_t h3 = (h2 * 1103515245ull + 12345) % 4294967296ull;
			id[k] = (int64_t)i;
			price[k] = (double)h2 / 4294967296.0 * 1000.0;
			st[k].p = statuses[h3 % 5];
			st[k].len = (uint32_t)strlen(st[k].p);
			ts[k] = 1700000000000000ll + (int64_t)i * 1000 + (int64_t)(h1 % 1000);
		}
		struct col_input in[4] = {{.i64 = id}, {.str = st}, {.f64 = price}, {.i64 = ts}};
		double t0 = now_s();
		if (col_insert(t, in, n, err, sizeof(err)) != 0) {
			fprintf(stderr, "insert: %s\n", err);
			return 1;
		}
		load += now_s() - t0;
	}
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	col_set_zone_answers(false);
	struct q qs[] = {
		{"sum_id", 0, COL_AGG_SUM, NULL},
		{"count_price_lt_10", -1, COL_AGG_COUNT, "price < 10"},
		{"min_price", 2, COL_AGG_MIN, NULL},
		{"max_price", 2, COL_AGG_MAX, NULL},
		{"count_status_refunded", -1, COL_AGG_COUNT, "status = refunded"},
	};
	size_t nq = sizeof(qs) / sizeof(qs[0]);
	printf("{\"rows\":%zu,\"load_s\":%.3f,\"stored_bytes\":%llu,\"plain_bytes\":%llu,\"row_groups\":%llu,"
	       "\"avx2\":%s,\"queries\":{",
	       rows, load, (unsigned long long)ti.file_bytes, (unsigned long long)ti.plain_bytes,
	       (unsigned long long)ti.row_groups, col_simd_avx2_available() ? "true" : "false");
	for (int mode = 0; mode < 2; mode++) {
		col_simd_force(mode == 0 ? COL_SIMD_AUTO : COL_SIMD_SCALAR);
		for (size_t k = 0; k < nq; k++) {
			struct col_agg_result r = {0};
			double s = run_query(t, &qs[k], reps, &r);
			char val[64];
			if (r.is_float)
				snprintf(val, sizeof(val), "%.17g", r.f);
			else
				snprintf(val, sizeof(val), "%lld", (long long)r.i);
			printf("%s\"%s%s\":{\"seconds\":%.6f,\"rows_per_s\":%.0f,\"value\":%s,\"chunks_skipped\":%llu}",
			       mode || k ? "," : "", qs[k].name, mode ? "_scalar" : "", s,
			       (double)rows / s, val, (unsigned long long)r.chunks_skipped);
		}
	}
	uint64_t a, sc;
	col_simd_counters(&a, &sc);
	printf("},\"simd_calls\":{\"avx2\":%llu,\"scalar\":%llu}}\n", (unsigned long long)a,
	       (unsigned long long)sc);
	columnar_release(db);
	columnar_drop(db, "bench");
	columnar_close(db);
	rmdir(dir);
	free(id);
	free(ts);
	free(price);
	free(st);
	return 0;
}
