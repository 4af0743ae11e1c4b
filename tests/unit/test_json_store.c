/*
 * tests/unit/test_json_store.c — document collections (core/json/jstore.h):
 * CRUD and names, the order-preserving key encoding, indexed and
 * unindexed queries returning the same ids on random data, and a
 * randomized model test of documents with index maintenance across
 * reopens (index entry counts prove that updates remove old entries).
 *
 * Randomised tests print their seed; STRATA_TEST_SEED=N replays one.
 */
#include "test_lsm_util.h"

#include <stdint.h>
#include <time.h>

#include "core/json/jdoc.h"
#include "core/json/jpath.h"
#include "core/json/jstore.h"

TestSuite(jstore, .init = tdir_setup, .fini = tdir_teardown);

static char msg[512];

static struct json_store *open_store(void)
{
	struct json_store *s = NULL;
	int rv = jstore_open(&s, tree, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "open: %s", msg);
	return s;
}

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	cr_assert_not_null(j, "bad test JSON: %s", e.text);
	return j;
}

static unsigned seed_of(void)
{
	const char *s = getenv("STRATA_TEST_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	fprintf(stderr, "STRATA_TEST_SEED=%u\n", seed);
	return seed;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void put(struct json_store *s, const char *c, const char *id, json_t *doc)
{
	bool created;
	int rv = jstore_put(s, c, id, doc, &created, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "put %s: %s", id, msg);
}

Test(jstore, crud_names_and_reopen)
{
	struct json_store *s = open_store();
	json_t *info, *doc;
	CHECK_OK(jstore_create(s, "books", "ts1", &info, msg, sizeof(msg)));
	cr_assert_str_eq(json_string_value(json_object_get(info, "tablespace")), "ts1");
	json_decref(info);
	cr_assert_eq(jstore_create(s, "books", NULL, &info, msg, sizeof(msg)), STRATA_ECONFLICT);
	const char *bad[] = {"", "a/b", "..", "a.b", "x y", "ü",
			     "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(jstore_create(s, bad[i], NULL, &info, msg, sizeof(msg)), STRATA_EBAD_REQUEST,
			     "name '%s'", bad[i]);
	cr_assert_eq(jstore_create(s, "ok", "../x", &info, msg, sizeof(msg)), STRATA_EBAD_REQUEST);

	bool created;
	json_t *d1 = J("{\"title\":\"Moby Dick\",\"price\":8.99,\"ключ\":[1,2]}");
	CHECK_OK(jstore_put(s, "books", "b1", d1, &created, msg, sizeof(msg)));
	cr_assert(created);
	CHECK_OK(jstore_put(s, "books", "b1", d1, &created, msg, sizeof(msg)));
	cr_assert(!created);
	cr_assert_eq(jstore_put(s, "nope", "b1", d1, &created, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	cr_assert_eq(jstore_put(s, "books", "a/b", d1, &created, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_eq(jstore_put(s, "books", "", d1, &created, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	CHECK_OK(jstore_get(s, "books", "b1", &doc, msg, sizeof(msg)));
	cr_assert(jvalue_equal(doc, d1));
	json_decref(doc);
	cr_assert_eq(jstore_get(s, "books", "b2", &doc, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	cr_assert_eq(jstore_delete(s, "books", "b2", msg, sizeof(msg)), STRATA_ENOT_FOUND);
	for (int i = 0; i < 25; i++) {
		char id[16];
		snprintf(id, sizeof(id), "k%02d", i);
		put(s, "books", id, d1);
	}
	/* pagination: 26 ids in pages of 10 */
	const char *after = NULL;
	char after_buf[64];
	size_t total = 0;
	for (int page = 0; page < 5; page++) {
		json_t *out;
		CHECK_OK(jstore_list_docs(s, "books", after, 10, &out, msg, sizeof(msg)));
		total += json_array_size(json_object_get(out, "items"));
		json_t *next = json_object_get(out, "next");
		if (json_is_null(next)) {
			json_decref(out);
			break;
		}
		snprintf(after_buf, sizeof(after_buf), "%s", json_string_value(next));
		/* next is the first id of the following page: resume after the
		 * last id of this page */
		json_t *items = json_object_get(out, "items");
		snprintf(after_buf, sizeof(after_buf), "%s",
			 json_string_value(json_object_get(json_array_get(items, json_array_size(items) - 1), "id")));
		after = after_buf;
		json_decref(out);
	}
	cr_assert_eq(total, 26u);
	CHECK_OK(jstore_delete(s, "books", "k00", msg, sizeof(msg)));
	CHECK_OK(jstore_index_create(s, "books", "$.price", &info, msg, sizeof(msg)));
	cr_assert_eq(json_integer_value(json_object_get(info, "entries")), 25);
	json_decref(info);
	cr_assert_eq(jstore_index_create(s, "books", "$['price']", &info, msg, sizeof(msg)), STRATA_ECONFLICT);
	cr_assert_eq(jstore_index_create(s, "books", "$.price[", &info, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	CHECK_OK(jstore_create(s, "gone", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	put(s, "gone", "x", d1);
	CHECK_OK(jstore_drop(s, "gone", msg, sizeof(msg)));
	cr_assert_eq(jstore_drop(s, "gone", msg, sizeof(msg)), STRATA_ENOT_FOUND);
	CHECK_OK(jstore_close(s));

	s = open_store();
	json_t *list = jstore_list(s);
	cr_assert_eq(json_array_size(json_object_get(list, "collections")), 1u, "only 'books' after reopen");
	json_decref(list);
	CHECK_OK(jstore_get(s, "books", "b1", &doc, msg, sizeof(msg)));
	cr_assert(jvalue_equal(doc, d1));
	json_decref(doc);
	cr_assert_eq(jstore_get(s, "books", "k00", &doc, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	json_t *q, *v = json_real(8.99);
	CHECK_OK(jstore_query(s, "books", "$.price", "=", v, 100, false, false, NULL, &q, msg, sizeof(msg)));
	cr_assert_eq(json_array_size(json_object_get(q, "ids")), 25u);
	cr_assert_str_eq(json_string_value(json_object_get(q, "used_index")), "$.price");
	json_decref(q);
	json_decref(v);
	/* a recreated 'gone' is empty */
	CHECK_OK(jstore_create(s, "gone", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	cr_assert_eq(jstore_get(s, "gone", "x", &doc, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	json_decref(d1);
	CHECK_OK(jstore_close(s));
}

Test(jstore, key_encoding_preserves_order)
{
	/* ascending by the query order: null < false < true < numbers < strings */
	const char *vals = "[null, false, true, -1e300, -9223372036854775807, -2.5, -1, -1e-300, 0,"
			   " 1e-300, 0.5, 1, 2, 3.5, 9007199254740993, 9223372036854775807, 1e300,"
			   " \"\", \"\\u0000\", \"\\u0000a\", \"a\", \"a\\u0000\", \"ab\", \"b\", \"é\", \"😀\"]";
	json_t *a = J(vals);
	unsigned char prev[64], cur[64];
	size_t pl = 0;
	for (size_t i = 0; i < json_array_size(a); i++) {
		size_t n = jstore_encode_value(json_array_get(a, i), cur, sizeof(cur));
		cr_assert(n > 0 && n <= sizeof(cur));
		if (i > 0) {
			int c = memcmp(prev, cur, pl < n ? pl : n);
			cr_assert(c < 0 || (c == 0 && pl < n), "element %zu does not encode above %zu", i, i - 1);
		}
		memcpy(prev, cur, n);
		pl = n;
	}
	/* 1 and 1.0 encode alike */
	json_t *i1 = json_integer(1), *r1 = json_real(1.0);
	unsigned char x[32], y[32];
	size_t nx = jstore_encode_value(i1, x, sizeof(x)), ny = jstore_encode_value(r1, y, sizeof(y));
	cr_assert(nx == ny && memcmp(x, y, nx) == 0);
	json_decref(i1);
	json_decref(r1);
	json_decref(a);
}

/* A random value for the fields the queries look at. */
static json_t *rand_scalar(void)
{
	static const char *strs[] = {"a", "b", "ab", "é", "日本", "", "zz", "a\u00e9"};
	switch (rnd() % 8) {
	case 0: return json_integer((json_int_t)(rnd() % 21) - 10);
	case 1: return json_real((double)((int)(rnd() % 41) - 20) / 4.0);
	case 2:
	case 3: return json_string(strs[rnd() % 8]);
	case 4: return json_boolean(rnd() % 2);
	case 5: return json_null();
	default: return json_integer((json_int_t)(rnd() % 5));
	}
}

static json_t *rand_doc(void)
{
	json_t *d = json_object();
	if (rnd() % 6)
		json_object_set_new(d, "n", rand_scalar());
	if (rnd() % 4 == 0) { /* an array at the indexed path */
		json_t *arr = json_array();
		for (unsigned k = rnd() % 4; k > 0; k--)
			json_array_append_new(arr, rand_scalar());
		json_object_set_new(d, "n", arr);
	}
	json_t *tags = json_array();
	for (unsigned k = rnd() % 4; k > 0; k--)
		json_array_append_new(tags, rand_scalar());
	json_object_set_new(d, "tags", tags);
	if (rnd() % 2)
		json_object_set_new(d, "o", json_pack("{s:o}", "x", rand_scalar()));
	if (rnd() % 5 == 0)
		json_object_set_new(d, "o", json_pack("{s:o}", "x", json_pack("{s:i}", "deep", 1)));
	return d;
}

static const char *PATHS[] = {"$.n", "$.tags", "$.tags[*]", "$.o.x"};
static const char *OPS[] = {"=", "<", "<=", ">", ">=", "contains"};

/* Runs one random query with and without the index; the ids agree. */
static void compare_query(struct json_store *s, const char *c, bool all_indexed)
{
	const char *path = PATHS[rnd() % 4], *op = OPS[rnd() % 6];
	json_t *v = rand_scalar();
	if (strcmp(op, "contains") == 0 && rnd() % 4 == 0) {
		json_decref(v);
		v = json_pack("[o]", rand_scalar());
	}
	bool ordered = strcmp(op, "=") != 0 && strcmp(op, "contains") != 0;
	if (ordered && !json_is_number(v) && !json_is_string(v)) {
		json_decref(v);
		v = json_integer((json_int_t)(rnd() % 10) - 5);
	}
	json_t *a, *b;
	CHECK_OK(jstore_query(s, c, path, op, v, JSTORE_QUERY_MAX, false, true, NULL, &a, msg, sizeof(msg)));
	CHECK_OK(jstore_query(s, c, path, op, v, JSTORE_QUERY_MAX, false, false, NULL, &b, msg, sizeof(msg)));
	char *vs = json_dumps(v, JSON_ENCODE_ANY);
	cr_assert(json_is_null(json_object_get(a, "used_index")));
	if (all_indexed && !json_is_array(v))
		cr_assert(json_is_string(json_object_get(b, "used_index")), "%s %s %s: no index used", path, op, vs);
	char *as = json_dumps(json_object_get(a, "ids"), 0), *bs = json_dumps(json_object_get(b, "ids"), 0);
	cr_assert(json_equal(json_object_get(a, "ids"), json_object_get(b, "ids")),
		  "%s %s %s: scan %s, index %s", path, op, vs, as, bs);
	free(as);
	free(bs);
	free(vs);
	json_decref(a);
	json_decref(b);
	json_decref(v);
}

Test(jstore, indexed_and_unindexed_queries_agree)
{
	rng_state = seed_of() | 1;
	struct json_store *s = open_store();
	json_t *info;
	CHECK_OK(jstore_create(s, "r", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	/* half the documents before the indexes exist (built), half after */
	for (int i = 0; i < 300; i++) {
		char id[16];
		snprintf(id, sizeof(id), "d%04d", (int)(rnd() % 400));
		json_t *d = rand_doc();
		put(s, "r", id, d);
		json_decref(d);
		if (i == 150)
			for (int k = 0; k < 4; k++) {
				CHECK_OK(jstore_index_create(s, "r", PATHS[k], &info, msg, sizeof(msg)));
				json_decref(info);
			}
	}
	for (int i = 0; i < 400; i++)
		compare_query(s, "r", true);
	CHECK_OK(jstore_close(s));
}

/* Index entries a document contributes to index path p (as jstore.h says). */
static size_t expected_entries(const char *path, json_t *doc)
{
	struct jpath *p;
	char m[128];
	cr_assert_eq(jpath_compile(path, &p, m, sizeof(m)), 0);
	struct jpath_nodes l = {0};
	cr_assert_eq(jpath_eval(p, doc, NULL, &l), 0);
	size_t n = 0;
	for (size_t i = 0; i < l.n; i++) {
		json_t *v = l.v[i].value;
		if (json_is_array(v)) {
			for (size_t k = 0; k < json_array_size(v); k++) {
				json_t *e = json_array_get(v, k);
				n += !json_is_array(e) && !json_is_object(e);
			}
		} else if (!json_is_object(v)) {
			n++;
		}
	}
	jpath_nodes_free(&l);
	jpath_free(p);
	return n;
}

/* Entry counts are unique keys: duplicates within one doc collapse. */
static size_t expected_unique_entries(const char *path, json_t *model, size_t nids)
{
	size_t total = 0;
	(void)nids;
	const char *id;
	json_t *doc;
	json_object_foreach(model, id, doc) {
		/* count distinct (kind, value) pairs of this doc */
		struct jpath *p;
		char m[128];
		cr_assert_eq(jpath_compile(path, &p, m, sizeof(m)), 0);
		struct jpath_nodes l = {0};
		cr_assert_eq(jpath_eval(p, doc, NULL, &l), 0);
		json_t *seen = json_array();
		for (size_t i = 0; i < l.n; i++) {
			json_t *v = l.v[i].value;
			size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
			for (size_t k = 0; k < cnt; k++) {
				json_t *e = json_is_array(v) ? json_array_get(v, k) : v;
				if (json_is_array(e) || json_is_object(e))
					continue;
				json_t *key = json_pack("[b, O]", json_is_array(v), e);
				bool dup = false;
				for (size_t z = 0; z < json_array_size(seen) && !dup; z++) {
					json_t *o = json_array_get(seen, z);
					dup = json_equal(json_array_get(o, 0), json_array_get(key, 0)) &&
					      jvalue_equal(json_array_get(o, 1), json_array_get(key, 1));
				}
				if (dup)
					json_decref(key);
				else
					json_array_append_new(seen, key);
			}
		}
		total += json_array_size(seen);
		json_decref(seen);
		jpath_nodes_free(&l);
		jpath_free(p);
	}
	return total;
}

static void check_model(struct json_store *s, json_t *model)
{
	/* every document reads back; the list has exactly the model's ids */
	const char *id;
	json_t *doc, *got;
	json_object_foreach(model, id, doc) {
		CHECK_OK(jstore_get(s, "m", id, &got, msg, sizeof(msg)));
		cr_assert(jvalue_equal(got, doc), "doc %s differs", id);
		json_decref(got);
	}
	json_t *out;
	CHECK_OK(jstore_list_docs(s, "m", NULL, JSTORE_LIST_MAX, &out, msg, sizeof(msg)));
	cr_assert_eq(json_array_size(json_object_get(out, "items")), json_object_size(model));
	json_decref(out);
	/* index entry counts: no stale entries left by updates and deletes */
	CHECK_OK(jstore_index_list(s, "m", &out, msg, sizeof(msg)));
	json_t *ix;
	size_t i;
	json_array_foreach(json_object_get(out, "indexes"), i, ix) {
		const char *path = json_string_value(json_object_get(ix, "path"));
		size_t want = expected_unique_entries(path, model, 0);
		cr_assert_eq((size_t)json_integer_value(json_object_get(ix, "entries")), want,
			     "index %s: %lld entries, want %zu", path,
			     (long long)json_integer_value(json_object_get(ix, "entries")), want);
	}
	json_decref(out);
}

Test(jstore, randomized_model_with_index_maintenance)
{
	rng_state = seed_of() | 1;
	struct json_store *s = open_store();
	json_t *info, *model = json_object();
	CHECK_OK(jstore_create(s, "m", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	CHECK_OK(jstore_index_create(s, "m", "$.n", &info, msg, sizeof(msg)));
	json_decref(info);
	(void)expected_entries;
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 120; i++) {
			char id[16];
			snprintf(id, sizeof(id), "id%02d", (int)(rnd() % 60));
			unsigned r = rnd() % 10;
			if (r < 7) {
				json_t *d = rand_doc();
				put(s, "m", id, d);
				json_object_set_new(model, id, d);
			} else {
				int rv = jstore_delete(s, "m", id, msg, sizeof(msg));
				cr_assert_eq(rv, json_object_get(model, id) ? 0 : STRATA_ENOT_FOUND, "delete %s", id);
				json_object_del(model, id);
			}
		}
		check_model(s, model);
		for (int q = 0; q < 40; q++)
			compare_query(s, "m", false);
		if (round == 1) {
			CHECK_OK(jstore_index_create(s, "m", "$.tags", &info, msg, sizeof(msg)));
			json_decref(info);
		}
		if (round == 3)
			CHECK_OK(jstore_index_drop(s, "m", "$.n", msg, sizeof(msg)));
		if (round == 4) {
			CHECK_OK(jstore_index_create(s, "m", "$.o.x", &info, msg, sizeof(msg)));
			json_decref(info);
		}
		if (round % 2 == 1) { /* reopen: documents and indexes persist */
			CHECK_OK(jstore_close(s));
			s = open_store();
			check_model(s, model);
		}
	}
	json_t *out;
	CHECK_OK(jstore_index_list(s, "m", &out, msg, sizeof(msg)));
	cr_assert_eq(json_array_size(json_object_get(out, "indexes")), 2u);
	json_decref(out);
	json_decref(model);
	CHECK_OK(jstore_close(s));
}

Test(jstore, long_strings_share_a_bucket_but_answer_exactly)
{
	struct json_store *s = open_store();
	json_t *info;
	CHECK_OK(jstore_create(s, "L", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	CHECK_OK(jstore_index_create(s, "L", "$.s", &info, msg, sizeof(msg)));
	json_decref(info);
	char *base = malloc(JSTORE_STR_KEY_MAX + 10);
	memset(base, 'q', JSTORE_STR_KEY_MAX + 8);
	base[JSTORE_STR_KEY_MAX + 8] = '\0';
	const char tails[] = "acegb";
	for (int i = 0; i < 5; i++) {
		base[JSTORE_STR_KEY_MAX + 4] = tails[i];
		char id[16];
		snprintf(id, sizeof(id), "L%d", i);
		json_t *d = json_pack("{s:s}", "s", base);
		put(s, "L", id, d);
		json_decref(d);
	}
	base[JSTORE_STR_KEY_MAX + 4] = 'c';
	json_t *v = json_string(base);
	const char *ops[] = {"=", "<", "<=", ">", ">="};
	size_t want[] = {1, 2, 3, 2, 3};
	for (int i = 0; i < 5; i++) {
		json_t *a, *b;
		CHECK_OK(jstore_query(s, "L", "$.s", ops[i], v, 100, false, false, NULL, &a, msg, sizeof(msg)));
		CHECK_OK(jstore_query(s, "L", "$.s", ops[i], v, 100, false, true, NULL, &b, msg, sizeof(msg)));
		cr_assert_eq(json_array_size(json_object_get(a, "ids")), want[i], "op %s", ops[i]);
		cr_assert(json_equal(json_object_get(a, "ids"), json_object_get(b, "ids")), "op %s", ops[i]);
		json_decref(a);
		json_decref(b);
	}
	json_decref(v);
	free(base);
	CHECK_OK(jstore_close(s));
}

Test(jstore, query_errors)
{
	struct json_store *s = open_store();
	json_t *info, *out, *v = json_true();
	CHECK_OK(jstore_create(s, "e", NULL, &info, msg, sizeof(msg)));
	json_decref(info);
	cr_assert_eq(jstore_query(s, "e", "$.a", "<", v, 10, false, false, NULL, &out, msg, sizeof(msg)),
		     STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "orders numbers and strings"), "%s", msg);
	cr_assert_eq(jstore_query(s, "e", "$.a", "~", v, 10, false, false, NULL, &out, msg, sizeof(msg)),
		     STRATA_EBAD_REQUEST);
	cr_assert_eq(jstore_query(s, "e", "$.a[", "=", v, 10, false, false, NULL, &out, msg, sizeof(msg)),
		     STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "position 4"), "%s", msg);
	cr_assert_eq(jstore_query(s, "nope", "$.a", "=", v, 10, false, false, NULL, &out, msg, sizeof(msg)),
		     STRATA_ENOT_FOUND);
	CHECK_OK(jstore_query(s, "e", "$.a", "=", v, 10, true, false, NULL, &out, msg, sizeof(msg)));
	cr_assert_eq(json_array_size(json_object_get(out, "ids")), 0u);
	cr_assert(json_is_array(json_object_get(out, "docs")));
	json_decref(out);
	json_decref(v);
	CHECK_OK(jstore_close(s));
}
