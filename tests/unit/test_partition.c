/*
 * tests/unit/test_partition.c — partition routing and pruning for each
 * strategy against a reference implementation on random data
 * (core/partition/partition.h), conflicts, and partitioned tables on LSM
 * trees (core/partition/ptable.h): queries equal a reference filter, drop
 * counts rows, everything reopens.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/emit.h"
#include "core/partition/partition.h"
#include "core/partition/ptable.h"
#include "strata/error.h"

/* ---- reference ----------------------------------------------------------- */

static uint64_t ref_fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The documented hash, written again from partition.h's description. */
static uint64_t ref_hash_num(double x)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char b[8];
	if (x == floor(x)) {
		long long i = (long long)x;
		for (int k = 0; k < 8; k++)
			b[k] = (unsigned char)((unsigned long long)i >> (8 * k));
		h = ref_fnv(h, (const unsigned char *)"i", 1);
	} else {
		memcpy(b, &x, 8);
		h = ref_fnv(h, (const unsigned char *)"f", 1);
	}
	h = ref_fnv(h, b, 8);
	h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27; h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

struct rpart {
	bool dflt;
	bool has_from, has_to;
	int from, to;
	int vals[8];
	int nvals;
	unsigned mod, rem;
};

static enum part_strategy strat;
static struct rpart rp[64];
static int nrp;

static int ref_route(double x)
{
	int d = -1;
	for (int i = 0; i < nrp; i++) {
		struct rpart *p = &rp[i];
		if (p->dflt) {
			d = i;
			continue;
		}
		bool in_range = (!p->has_from || x >= p->from) && (!p->has_to || x < p->to);
		bool in_hash = p->mod && ref_hash_num(x) % p->mod == p->rem;
		bool in_list = false;
		for (int k = 0; k < p->nvals; k++)
			in_list |= x == p->vals[k];
		bool in = strat == PART_RANGE ? in_range : strat == PART_LIST ? in_list
			  : strat == PART_HASH ? in_hash : in_range && in_hash;
		if (in)
			return i;
	}
	return d; /* -1: no partition */
}

struct rop {
	int kind; /* 0 eq 1 ne 2 lt 3 le 4 gt 5 ge 6 in 7 between */
	int a, b;
	int in[4];
	int nin;
};

static bool ref_match(const struct rop *ops, int n, double x)
{
	for (int i = 0; i < n; i++) {
		const struct rop *o = &ops[i];
		bool m;
		switch (o->kind) {
		case 0: m = x == o->a; break;
		case 1: m = x != o->a; break;
		case 2: m = x < o->a; break;
		case 3: m = x <= o->a; break;
		case 4: m = x > o->a; break;
		case 5: m = x >= o->a; break;
		case 6: m = false; for (int k = 0; k < o->nin; k++) m |= x == o->in[k]; break;
		default: m = x >= o->a && x <= o->b; break;
		}
		if (!m)
			return false;
	}
	return true;
}

static json_t *ops_json(const struct rop *ops, int n)
{
	static const char *names[] = {"eq", "ne", "lt", "le", "gt", "ge", "in", "between"};
	json_t *o = json_object();
	for (int i = 0; i < n; i++) {
		json_t *arg;
		if (ops[i].kind == 6) {
			arg = json_array();
			for (int k = 0; k < ops[i].nin; k++)
				json_array_append_new(arg, json_integer(ops[i].in[k]));
		} else if (ops[i].kind == 7) {
			arg = json_pack("[i, i]", ops[i].a, ops[i].b);
		} else {
			arg = json_integer(ops[i].a);
		}
		json_object_set_new(o, names[ops[i].kind], arg);
	}
	return json_pack("{s:o}", "k", o);
}

/* ---- random schemes ------------------------------------------------------ */

static json_t *rdef_json(const struct rpart *p)
{
	if (p->dflt)
		return json_pack("{s:b}", "default", 1);
	json_t *d = json_object();
	if (strat == PART_RANGE || strat == PART_COMPOSITE) {
		json_object_set_new(d, "from", p->has_from ? json_integer(p->from) : json_null());
		json_object_set_new(d, "to", p->has_to ? json_integer(p->to) : json_null());
	}
	if (strat == PART_LIST) {
		json_t *a = json_array();
		for (int k = 0; k < p->nvals; k++)
			json_array_append_new(a, json_integer(p->vals[k]));
		json_object_set_new(d, "values", a);
	}
	if (strat == PART_HASH || strat == PART_COMPOSITE) {
		json_object_set_new(d, "modulus", json_integer(p->mod));
		json_object_set_new(d, "remainder", json_integer(p->rem));
	}
	return d;
}

/* Builds a random valid layout in rp[] and the scheme s. */
static void random_scheme(struct part_scheme *s, enum part_strategy st, unsigned *seed, bool with_default)
{
	memset(s, 0, sizeof(*s));
	strat = st;
	s->strategy = st;
	strcpy(s->key, "k");
	strcpy(s->hash_key, "k");
	nrp = 0;
	if (st == PART_RANGE || st == PART_COMPOSITE) {
		/* cut [0, 300) at random points; maybe open ends, maybe gaps */
		int cuts[8], nc = 2 + rand_r(seed) % 5;
		for (int i = 0; i < nc; i++)
			cuts[i] = rand_r(seed) % 300;
		for (int i = 0; i < nc; i++)
			for (int j = i + 1; j < nc; j++)
				if (cuts[j] < cuts[i]) { int t = cuts[i]; cuts[i] = cuts[j]; cuts[j] = t; }
		for (int i = 0; i + 1 < nc; i++) {
			if (cuts[i] == cuts[i + 1] || rand_r(seed) % 5 == 0)
				continue; /* a gap */
			unsigned m = st == PART_COMPOSITE ? 1u << (rand_r(seed) % 3) : 0;
			for (unsigned r = 0; r < (m ? m : 1); r++) {
				if (m && rand_r(seed) % 6 == 0)
					continue; /* a hash gap */
				rp[nrp++] = (struct rpart){.has_from = i > 0 || rand_r(seed) % 2, .has_to = i + 2 < nc || rand_r(seed) % 2,
							   .from = cuts[i], .to = cuts[i + 1], .mod = m, .rem = r};
			}
		}
	} else if (st == PART_LIST) {
		int next = 0, np = 1 + rand_r(seed) % 6;
		for (int i = 0; i < np; i++) {
			struct rpart p = {.nvals = 1 + rand_r(seed) % 4};
			for (int k = 0; k < p.nvals; k++) {
				next += 1 + rand_r(seed) % 20;
				p.vals[k] = next;
			}
			rp[nrp++] = p;
		}
	} else {
		unsigned m = 1u << (1 + rand_r(seed) % 3);
		for (unsigned r = 0; r < m; r++)
			if (rand_r(seed) % 5 != 0)
				rp[nrp++] = (struct rpart){.mod = m, .rem = r};
		/* and one at a divisor modulus covering what is left, sometimes */
	}
	if (with_default && st != PART_HASH)
		rp[nrp++] = (struct rpart){.dflt = true};
	for (int i = 0; i < nrp; i++) {
		char name[16], msg[256];
		snprintf(name, sizeof(name), "p%d", i);
		struct part_def d;
		json_t *j = rdef_json(&rp[i]);
		int rc = part_def_parse(s, name, j, &d, msg, sizeof(msg));
		cr_assert_eq(rc, 0, "parse %s: %s", name, msg);
		json_decref(j);
		rc = part_check_add(s, &d, msg, sizeof(msg));
		cr_assert_eq(rc, 0, "add %s: %s", name, msg);
		d.id = (uint64_t)i + 1;
		s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
		s->v[s->n++] = d;
	}
}

static void free_scheme(struct part_scheme *s)
{
	for (size_t i = 0; i < s->n; i++)
		part_def_free(&s->v[i]);
	free(s->v);
}

static json_t *num(double x)
{
	return x == floor(x) ? json_integer((json_int_t)x) : json_real(x);
}

static void check_strategy(enum part_strategy st)
{
	unsigned seed = 12345u + (unsigned)st;
	for (int round = 0; round < 150; round++) {
		struct part_scheme s;
		random_scheme(&s, st, &seed, round % 2 == 0);
		/* routing: every sample key, integer and half-integer */
		for (double x = -10; x <= 310; x += 0.5) {
			size_t idx;
			char msg[256];
			json_t *k = num(x);
			int rc = part_route_value(&s, k, k, &idx, msg, sizeof(msg));
			int want = ref_route(x);
			if (want < 0)
				cr_assert_eq(rc, STRATA_ENOT_FOUND, "round %d x=%g: routed to %zu, want none", round, x, rc ? 0 : idx);
			else
				cr_assert(rc == 0 && (int)idx == want, "round %d x=%g: got %d/%zu want %d", round, x, rc, idx, want);
			json_decref(k);
		}
		/* pruning: random predicates */
		for (int q = 0; q < 40; q++) {
			struct rop ops[3];
			int n = 1 + rand_r(&seed) % 2;
			bool finite = false, has_ne = false;
			for (int i = 0; i < n; i++) {
				do /* one op of each kind: a JSON object has unique keys */
					ops[i].kind = rand_r(&seed) % 8;
				while (i == 1 && ops[1].kind == ops[0].kind);
				ops[i].a = rand_r(&seed) % 320 - 10;
				ops[i].b = ops[i].a + rand_r(&seed) % 80;
				ops[i].nin = 1 + rand_r(&seed) % 4;
				for (int k = 0; k < ops[i].nin; k++)
					ops[i].in[k] = rand_r(&seed) % 320 - 10;
				finite |= ops[i].kind == 0 || ops[i].kind == 6;
				has_ne |= ops[i].kind == 1;
			}
			json_t *wj = ops_json(ops, n);
			struct part_where *w;
			char msg[256];
			cr_assert_eq(part_where_parse(wj, &w, msg, sizeof(msg)), 0, "%s", msg);
			bool keep[64], need[64] = {0};
			part_prune(&s, w, keep);
			for (double x = -12; x <= 312; x += 0.5) {
				json_t *row = json_pack("{s:o}", "k", num(x));
				bool m = ref_match(ops, n, x);
				cr_assert_eq(part_where_match(w, row), m, "round %d: match of %g", round, x);
				json_decref(row);
				int p = ref_route(x);
				if (m && p >= 0)
					need[p] = true;
			}
			for (int i = 0; i < nrp; i++) {
				cr_assert(!need[i] || keep[i], "round %d q %d: partition p%d pruned but holds matches", round, q, i);
				/* exact: range and list partitions always; hash parts and
				 * the default under eq/in (ne is not used to prune them) */
				bool exact = !rp[i].dflt && (st == PART_RANGE || st == PART_LIST);
				exact |= finite && !has_ne;
				if (exact)
					cr_assert(!keep[i] || need[i], "round %d q %d: partition p%d (%s) scanned but cannot match",
						  round, q, i, part_strategy_name(st));
			}
			part_where_free(w);
			json_decref(wj);
		}
		free_scheme(&s);
	}
}

Test(partition, range_routing_and_pruning_vs_reference) { check_strategy(PART_RANGE); }
Test(partition, list_routing_and_pruning_vs_reference) { check_strategy(PART_LIST); }
Test(partition, hash_routing_and_pruning_vs_reference) { check_strategy(PART_HASH); }
Test(partition, composite_routing_and_pruning_vs_reference) { check_strategy(PART_COMPOSITE); }

static int add(struct part_scheme *s, const char *name, const char *def)
{
	json_error_t je;
	json_t *j = json_loads(def, 0, &je);
	cr_assert_not_null(j, "%s", def);
	struct part_def d;
	char msg[256];
	int rc = part_def_parse(s, name, j, &d, msg, sizeof(msg));
	json_decref(j);
	if (rc)
		return rc;
	rc = part_check_add(s, &d, msg, sizeof(msg));
	if (rc) {
		part_def_free(&d);
		return rc;
	}
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = d;
	return 0;
}

Test(partition, conflicts)
{
	struct part_scheme s = {.strategy = PART_RANGE, .key = "k", .hash_key = "k"};
	cr_assert_eq(add(&s, "a", "{\"from\":0,\"to\":10}"), 0);
	cr_assert_eq(add(&s, "b", "{\"from\":9,\"to\":20}"), STRATA_ECONFLICT);
	cr_assert_eq(add(&s, "b", "{\"from\":10,\"to\":20}"), 0);        /* to is exclusive */
	cr_assert_eq(add(&s, "c", "{\"from\":null,\"to\":1}"), STRATA_ECONFLICT);
	cr_assert_eq(add(&s, "c", "{\"from\":\"a\",\"to\":null}"), 0);   /* strings after numbers */
	cr_assert_eq(add(&s, "a", "{\"from\":100,\"to\":200}"), STRATA_ECONFLICT); /* name */
	cr_assert_eq(add(&s, "d", "{\"from\":5,\"to\":5}"), STRATA_EBAD_REQUEST);
	cr_assert_eq(add(&s, "e", "{\"default\":true}"), 0);
	cr_assert_eq(add(&s, "f", "{\"default\":true}"), STRATA_ECONFLICT);
	cr_assert_eq(add(&s, "g", "{\"values\":[1]}"), STRATA_EBAD_REQUEST);
	free_scheme(&s);

	struct part_scheme l = {.strategy = PART_LIST, .key = "k", .hash_key = "k"};
	cr_assert_eq(add(&l, "a", "{\"values\":[1,\"x\",2.5]}"), 0);
	cr_assert_eq(add(&l, "b", "{\"values\":[3,1.0]}"), STRATA_ECONFLICT); /* 1.0 == 1 */
	cr_assert_eq(add(&l, "b", "{\"values\":[3,3]}"), STRATA_EBAD_REQUEST);
	cr_assert_eq(add(&l, "b", "{\"values\":[\"1\"]}"), 0);                 /* "1" != 1 */
	free_scheme(&l);

	struct part_scheme h = {.strategy = PART_HASH, .key = "k", .hash_key = "k"};
	cr_assert_eq(add(&h, "a", "{\"modulus\":4,\"remainder\":1}"), 0);
	cr_assert_eq(add(&h, "b", "{\"modulus\":8,\"remainder\":5}"), STRATA_ECONFLICT);
	cr_assert_eq(add(&h, "b", "{\"modulus\":8,\"remainder\":3}"), 0);
	cr_assert_eq(add(&h, "c", "{\"modulus\":6,\"remainder\":0}"), STRATA_EBAD_REQUEST);
	cr_assert_eq(add(&h, "c", "{\"modulus\":2,\"remainder\":1}"), STRATA_ECONFLICT);
	cr_assert_eq(add(&h, "c", "{\"modulus\":4,\"remainder\":4}"), STRATA_EBAD_REQUEST);
	cr_assert_eq(add(&h, "c", "{\"default\":true}"), STRATA_EBAD_REQUEST);
	free_scheme(&h);
}

/* ---- tables on LSM trees ------------------------------------------------- */

static char tdir[256];

static int rm_cb(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st, (void)t, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/var/tmp/strata-test-part-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	emit_set_rare_limit(0);
}

static void teardown(void)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

Test(ptable, insert_query_drop_reopen, .init = setup, .fini = teardown)
{
	char msg[512];
	json_error_t je;
	json_t *spec = json_loads("{\"key\":\"day\",\"strategy\":\"range\",\"partitions\":["
				  "{\"name\":\"a\",\"from\":null,\"to\":100},{\"name\":\"b\",\"from\":100,\"to\":200},"
				  "{\"name\":\"c\",\"from\":200,\"to\":300},{\"name\":\"d\",\"default\":true}]}", 0, &je);
	uint64_t ids[4] = {11, 12, 13, 14};
	cr_assert_eq(ptable_init_dir(tdir, "t", spec, ids, 4, 0, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(spec);
	struct ptable *t;
	cr_assert_eq(ptable_open(&t, tdir, "t", msg, sizeof(msg)), 0, "%s", msg);

	unsigned seed = 99;
	int days[2000];
	json_t *rows = json_array();
	for (int i = 0; i < 2000; i++) {
		days[i] = rand_r(&seed) % 400 - 50;
		json_array_append_new(rows, json_pack("{s:i, s:i, s:s}", "day", days[i], "n", i,
						      "tag", i % 3 ? "x" : "y"));
	}
	json_t *res;
	uint64_t bytes;
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(json_integer_value(json_object_get(res, "inserted")), 2000);
	cr_assert_gt(bytes, 2000 * 10);
	json_decref(res);
	json_decref(rows);

	for (int round = 0; round < 2; round++) {
		for (int q = 0; q < 30; q++) {
			int lo = rand_r(&seed) % 400 - 50, hi = lo + rand_r(&seed) % 150;
			json_t *where = json_pack("{s:{s:i, s:i}, s:s}", "day", "ge", lo, "lt", hi, "tag", "x");
			cr_assert_eq(ptable_query(t, where, PTABLE_QUERY_MAX, NULL, &res, msg, sizeof(msg)), 0, "%s", msg);
			bool seen[2000] = {0};
			json_t *r;
			size_t k;
			json_array_foreach(json_object_get(res, "rows"), k, r) {
				int n = (int)json_integer_value(json_object_get(r, "n"));
				cr_assert(!seen[n], "row %d twice", n);
				seen[n] = true;
			}
			for (int i = 0; i < 2000; i++) {
				bool want = days[i] >= lo && days[i] < hi && i % 3;
				cr_assert_eq(seen[i], want, "query [%d,%d): row %d (day %d)", lo, hi, i, days[i]);
			}
			size_t ns = json_array_size(json_object_get(res, "scanned")) +
				    json_array_size(json_object_get(res, "pruned"));
			cr_assert_eq(ns, (size_t)(4 - round));
			json_decref(res);
			json_decref(where);
		}
		/* drop partition b: its rows, counted */
		if (round == 0) {
			uint64_t n = 0, want = 0;
			for (int i = 0; i < 2000; i++)
				want += days[i] >= 100 && days[i] < 200;
			cr_assert_eq(ptable_drop_partition(t, 12, &n, msg, sizeof(msg)), 0, "%s", msg);
			cr_assert_eq(n, want);
			for (int i = 0; i < 2000; i++)
				if (days[i] >= 100 && days[i] < 200)
					days[i] = 100000; /* gone: matches nothing */
			cr_assert_eq(ptable_drop_partition(t, 12, &n, msg, sizeof(msg)), STRATA_ENOT_FOUND);
			cr_assert_eq(ptable_close(t), 0);
			cr_assert_eq(ptable_open(&t, tdir, "t", msg, sizeof(msg)), 0, "%s", msg);
			char gone[300];
			snprintf(gone, sizeof(gone), "%s/12", tdir);
			cr_assert_neq(access(gone, F_OK), 0);
		}
	}
	/* the default holds rows of 150: a partition for them conflicts */
	json_t *def = json_pack("{s:i, s:i}", "from", 300, "to", 400);
	json_t *info;
	cr_assert_eq(ptable_add_partition(t, 20, "e", def, &info, msg, sizeof(msg)), STRATA_ECONFLICT);
	json_decref(def);
	def = json_pack("{s:i, s:i}", "from", 100, "to", 150);
	int has = 0;
	for (int i = 0; i < 2000; i++)
		has += days[i] >= 100 && days[i] < 150;
	cr_assert_eq(has, 0);
	cr_assert_eq(ptable_add_partition(t, 21, "b2", def, &info, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(info);
	json_decref(def);
	cr_assert_eq(ptable_close(t), 0);
}
