/*
 * tests/unit/test_json_budget.c — the work budget of JSONPath evaluation
 * (core/json/jbudget.h): pathological paths (a descendant query inside a
 * filter, regex steps on long inputs, a pattern taken from the document)
 * stop with STRATA_EPATH_TOO_EXPENSIVE and leave nothing partial; ordinary
 * paths spend a few units per node and are unaffected; the cost is
 * deterministic and charged per budget (shared by the documents of an
 * aggregate or a collection query); index paths are charged per document
 * put and a delete is never refused. Leaks: run under `make asan`.
 */
#include "test_lsm_util.h"

#include "core/json/iregexp.h"
#include "core/json/jbudget.h"
#include "core/json/jdoc.h"
#include "core/json/jpath.h"
#include "core/json/jstore.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert_not_null(j, "bad test JSON: %s: %s", e.text, text);
	return j;
}

/* [0, 1, ..., n-1] */
static json_t *int_array(size_t n)
{
	json_t *a = json_array();
	cr_assert_not_null(a);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(json_array_append_new(a, json_integer((json_int_t)i)), 0);
	return a;
}

static struct jpath *compile(const char *path)
{
	struct jpath *p = NULL;
	char msg[256];
	cr_assert_eq(jpath_compile(path, &p, msg, sizeof(msg)), 0, "%s: %s", path, msg);
	return p;
}

Test(jbudget, charge_saturates)
{
	struct jbudget b = jbudget_make(10);
	cr_assert_eq(jbudget_charge(&b, 4), 0);
	cr_assert_eq(jbudget_charge(&b, 6), 0);
	cr_assert_eq(b.used, 10u);
	cr_assert_eq(jbudget_charge(&b, 0), 0);
	cr_assert_eq(jbudget_charge(&b, 1), STRATA_EPATH_TOO_EXPENSIVE);
	b = jbudget_make(10);
	cr_assert_eq(jbudget_charge(&b, 11), STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_eq(b.used, 10u, "an exhausted budget stays exhausted");
	cr_assert_eq(jbudget_charge(&b, 1), STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_eq(jbudget_charge(NULL, UINT64_MAX), 0, "NULL is unlimited");
	cr_assert_str_eq(strata_err_name(STRATA_EPATH_TOO_EXPENSIVE), "path_too_expensive");
	cr_assert_eq(strata_err_http_status(STRATA_EPATH_TOO_EXPENSIVE), 422);
}

/* The quadratic shape of the notes: a whole-document descent per
 * candidate. Small, it answers; large, it stops under the default budget
 * with nothing partial in the list. */
Test(jbudget, descent_per_candidate_hits_the_default)
{
	struct jpath *p = compile("$[?count($..*) > 0]");
	json_t *small = int_array(100);
	struct jpath_nodes out = {0};
	struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, small, &b, &out), 0);
	cr_assert_eq(out.n, 100u);
	/* quadratic: at least one unit per (candidate, node) pair */
	cr_assert_geq(b.used, 100u * 100u, "%llu", (unsigned long long)b.used);
	uint64_t used_small = b.used;
	jpath_nodes_free(&out);

	/* the same evaluation costs the same */
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, small, &b, &out), 0);
	cr_assert_eq(b.used, used_small);
	jpath_nodes_free(&out);

	/* 3000 elements: 9 million pairs, three units each at least */
	json_t *big = int_array(3000);
	json_t *first = json_integer(-1);
	struct jpath_node keep = {first, NULL, NULL, 0, 0};
	out.v = malloc(sizeof(*out.v));
	cr_assert_not_null(out.v);
	out.v[0] = keep;
	out.n = out.cap = 1;
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, big, &b, &out), STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_eq(out.n, 1u, "nothing partial: the list is as it was");
	cr_assert_eq(out.v[0].value, first);
	cr_assert_eq(b.used, b.limit);
	jpath_nodes_free(&out);

	/* unlimited (NULL), a smaller document of the same shape still works */
	cr_assert_eq(jpath_eval(p, small, NULL, &out), 0);
	cr_assert_eq(out.n, 100u);
	jpath_nodes_free(&out);

	/* the operators say which limit, and return nothing */
	json_t *got = (json_t *)1;
	char msg[512] = "";
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jdoc_extract(big, "$[?count($..*) > 0]", true, &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	cr_assert(strstr(msg, "budget of 20000000 units"), "%s", msg);
	b = jbudget_make(JBUDGET_DEFAULT);
	got = (json_t *)1;
	cr_assert_eq(jdoc_extract(big, "$[?count($..*) > 0]", false, &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	json_decref(first);
	json_decref(small);
	json_decref(big);
	jpath_free(p);
}

/* Ordinary paths on an ordinary document spend a few units per node they
 * touch: far from the default. */
Test(jbudget, ordinary_paths_are_cheap)
{
	json_t *doc = J("{\"store\":{\"book\":[{\"author\":\"Rees\",\"price\":8.95,\"tags\":[\"a\"]},"
			"{\"author\":\"Waugh\",\"price\":12.99,\"tags\":[]}],\"bicycle\":{\"price\":399}}}");
	static const char *paths[] = {
		"$.store.book[0].author", "$..price", "$..book[?@.price < 10].author",
		"$.store.book[?count(@.tags.*) > 0 && match(@.author, '[A-Z][a-z]+')]",
		"$..*", "$.store.book[::-1]", "$[?length(@.book) == 2]",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct jpath *p = compile(paths[i]);
		struct jpath_nodes out = {0};
		struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
		cr_assert_eq(jpath_eval(p, doc, &b, &out), 0, "%s", paths[i]);
		cr_assert_gt(out.n, 0u, "%s", paths[i]);
		cr_assert_gt(b.used, 0u, "%s is charged", paths[i]);
		cr_assert_lt(b.used, 500u, "%s: %llu units", paths[i], (unsigned long long)b.used);
		/* and the same answer as without a budget */
		struct jpath_nodes free_out = {0};
		cr_assert_eq(jpath_eval(p, doc, NULL, &free_out), 0);
		cr_assert_eq(free_out.n, out.n);
		jpath_nodes_free(&free_out);
		jpath_nodes_free(&out);
		jpath_free(p);
	}
	json_decref(doc);
}

/* iregexp charges the states it touches per input code point. */
Test(jbudget, regex_steps_are_charged)
{
	struct iregexp *re = NULL;
	char msg[128];
	cr_assert_eq(iregexp_compile("(a|a)*b", 7, &re, msg, sizeof(msg), NULL), 0, "%s", msg);
	size_t n = 100000;
	char *text = malloc(n);
	cr_assert_not_null(text);
	memset(text, 'a', n);
	struct jbudget b = jbudget_make(UINT64_MAX);
	cr_assert_eq(iregexp_match(re, text, n, false, &b), 0);
	/* at least one state per code point, at most the program per one */
	cr_assert_geq(b.used, n / JBUDGET_REGEX_STEPS);
	cr_assert_leq(b.used, (uint64_t)(n + 1) * 4 * iregexp_size(re) / JBUDGET_REGEX_STEPS);
	uint64_t full = b.used;
	/* twice the input, about twice the work: linear */
	struct jbudget b2 = jbudget_make(UINT64_MAX);
	char *text2 = malloc(2 * n);
	cr_assert_not_null(text2);
	memset(text2, 'a', 2 * n);
	cr_assert_eq(iregexp_match(re, text2, 2 * n, false, &b2), 0);
	cr_assert(b2.used > full * 19 / 10 && b2.used < full * 21 / 10, "%llu vs %llu",
		  (unsigned long long)b2.used, (unsigned long long)full);
	/* a budget below it stops the match */
	b = jbudget_make(full / 2);
	cr_assert_eq(iregexp_match(re, text, n, false, &b), STRATA_EPATH_TOO_EXPENSIVE);
	b = jbudget_make(full);
	cr_assert_eq(iregexp_match(re, text, n, false, &b), 0, "exactly enough is enough");
	/* an answer found early costs little */
	b = jbudget_make(1);
	cr_assert_eq(iregexp_match(re, "ab", 2, true, &b), 1);
	iregexp_free(re);

	/* class items count: a large class per state costs more per code
	 * point than a literal */
	char cls[400];
	size_t k = 0;
	cls[k++] = '[';
	for (char c = 'b'; c <= 'z'; c++)
		cls[k++] = c;
	cls[k++] = ']';
	cls[k++] = '*';
	cr_assert_eq(iregexp_compile(cls, k, &re, msg, sizeof(msg), NULL), 0, "%s", msg);
	b = jbudget_make(UINT64_MAX);
	memset(text, 'z', 1000); /* the last item: every item looked at */
	cr_assert_eq(iregexp_match(re, text, 1000, true, &b), 1);
	cr_assert_geq(b.used, 1000u * 25u / JBUDGET_REGEX_STEPS, "25 class items per code point: %llu",
		      (unsigned long long)b.used);
	iregexp_free(re);
	free(text);
	free(text2);
}

/* In a path: match/search charge the matcher's steps, and a pattern taken
 * from the document is charged its compilation at every node. */
Test(jbudget, regex_in_paths)
{
	size_t n = 200000;
	char *s = malloc(n + 1);
	cr_assert_not_null(s);
	memset(s, 'a', n);
	s[n] = '\0';
	json_t *doc = json_pack("{s:s, s:s}", "s", s, "p", "(a|a)*b");
	cr_assert_not_null(doc);
	struct jpath *p = compile("$[?search(@, '(a|a)*b')]");
	struct jpath_nodes out = {0};
	struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), 0);
	cr_assert_geq(b.used, n / JBUDGET_REGEX_STEPS, "the steps over the long string: %llu",
		      (unsigned long long)b.used);
	jpath_nodes_free(&out);
	b = jbudget_make(n / JBUDGET_REGEX_STEPS / 2);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_eq(out.n, 0u);
	jpath_free(p);

	/* the pattern from the document: its bytes and instructions each time */
	p = compile("$[?match(@, $.p)]");
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), 0);
	uint64_t with_doc_pattern = b.used;
	jpath_nodes_free(&out);
	jpath_free(p);
	p = compile("$[?match(@, '(a|a)*b')]");
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), 0);
	cr_assert_gt(with_doc_pattern, b.used, "compiling at each node costs more: %llu vs %llu",
		     (unsigned long long)with_doc_pattern, (unsigned long long)b.used);
	jpath_nodes_free(&out);
	jpath_free(p);

	/* many nodes times a long string: the product is what the budget stops
	 * (3000 x 200 k code points x about 4 states) */
	json_t *arr = json_array();
	cr_assert_not_null(arr);
	json_t *one = json_string(s); /* the same value 3000 times */
	cr_assert_not_null(one);
	for (int i = 0; i < 3000; i++)
		cr_assert_eq(json_array_append(arr, one), 0);
	json_decref(one);
	json_t *got = NULL;
	char msg[512];
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jdoc_extract(arr, "$[?search(@, '(a|a)*b')]", true, &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	json_decref(arr);
	json_decref(doc);
	free(s);
}

/* length() and comparisons of long strings cost their bytes. */
Test(jbudget, long_strings_cost_their_bytes)
{
	size_t n = 16 * 10000;
	char *s = malloc(n + 1);
	cr_assert_not_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	json_t *doc = json_pack("{s:s, s:s}", "a", s, "b", s);
	cr_assert_not_null(doc);
	struct jpath *p = compile("$[?@ == $.b]");
	struct jpath_nodes out = {0};
	struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), 0);
	cr_assert_eq(out.n, 2u);
	cr_assert_geq(b.used, 2u * 10000u, "%llu", (unsigned long long)b.used);
	jpath_nodes_free(&out);
	jpath_free(p);
	p = compile("$[?length(@) > 1]");
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jpath_eval(p, doc, &b, &out), 0);
	cr_assert_eq(out.n, 2u);
	cr_assert_geq(b.used, 2u * 10000u, "%llu", (unsigned long long)b.used);
	jpath_nodes_free(&out);
	jpath_free(p);
	json_decref(doc);
	free(s);
}

/* One budget across the documents of an aggregate; set charges the
 * copies it makes. */
Test(jbudget, shared_by_aggregates_and_set)
{
	json_t *docs = json_array();
	cr_assert_not_null(docs);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(json_array_append_new(docs, int_array(300)), 0);
	json_t *got = NULL;
	char msg[512];
	/* one document costs about 300 * 300 * 3 units: under 1 M; ten of
	 * them are over it */
	struct jbudget b = jbudget_make(1000000);
	cr_assert_eq(jdoc_agg(docs, "$[?count($..*) > 0]", &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jdoc_agg(docs, "$[?count($..*) > 0]", &b, &got, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(json_array_size(got), 10u);
	cr_assert_gt(b.used, 1000000u);
	json_decref(got);
	b = jbudget_make(1000000);
	cr_assert_eq(jdoc_object_agg(docs, "$[0]", "$[?count($..*) > 0]", &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);

	/* set: 3000 matches each getting a copy of a 1000-node value */
	json_t *doc = int_array(3000), *value = int_array(999);
	size_t matched = 0;
	b = jbudget_make(1000000);
	cr_assert_eq(jdoc_set(doc, "$[*]", value, &b, &got, &matched, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	cr_assert_eq(matched, 0u);
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jdoc_set(doc, "$[*]", value, &b, &got, &matched, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(matched, 3000u);
	json_decref(got);
	size_t removed;
	b = jbudget_make(100);
	cr_assert_eq(jdoc_delete(doc, "$[?count($..*) > 0]", &b, &got, &removed, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(got);
	b = jbudget_make(100);
	cr_assert_eq(jdoc_keys(doc, "$[?count($..*) > 0]", &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	b = jbudget_make(100);
	cr_assert_eq(jdoc_array_length(doc, "$[?count($..*) > 0]", &b, &got, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	json_decref(value);
	json_decref(doc);
	json_decref(docs);
}

/* Collections: a query's budget covers every document it reads; index
 * paths are charged per document put; a delete is never refused. */
Test(jbudget, collections, .init = tdir_setup, .fini = tdir_teardown)
{
	struct json_store *s = NULL;
	char msg[512];
	cr_assert_eq(jstore_open(&s, tree, msg, sizeof(msg)), 0, "%s", msg);
	json_t *info = NULL;
	cr_assert_eq(jstore_create(s, "c", NULL, &info, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(info);
	char id[16];
	bool created;
	for (int i = 0; i < 20; i++) {
		json_t *d = json_pack("{s:i, s:o}", "n", i, "a", int_array(200));
		snprintf(id, sizeof(id), "d%02d", i);
		cr_assert_eq(jstore_put(s, "c", id, d, &created, msg, sizeof(msg)), 0, "%s", msg);
		json_decref(d);
	}
	/* per document about 200 * 210 units (each candidate lists the 200
	 * elements); 20 documents share one budget of 500 k */
	const char *slow = "$.a[?count($.a[*]) > 0]";
	json_t *v = json_integer(5), *out = NULL;
	struct jbudget b = jbudget_make(500000);
	cr_assert_eq(jstore_query(s, "c", slow, ">", v, 100, false, false, &b, &out, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert_null(out);
	cr_assert(strstr(msg, "budget of 500000 units"), "%s", msg);
	b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jstore_query(s, "c", slow, ">", v, 100, false, false, &b, &out, msg, sizeof(msg)),
		     0, "%s", msg);
	cr_assert_eq(json_array_size(json_object_get(out, "ids")), 20u);
	json_decref(out);
	b = jbudget_make(1000);
	cr_assert_eq(jstore_query(s, "c", "$.n", ">", v, 100, false, false, &b, &out, msg, sizeof(msg)),
		     0, "an ordinary query over 20 documents: %s", msg);
	cr_assert_eq(json_array_size(json_object_get(out, "ids")), 14u);
	json_decref(out);

	/* an index path over its per-document budget: not created, and the
	 * message names the document */
	jstore_set_index_budget(s, 20000);
	cr_assert_eq(jstore_index_create(s, "c", slow, &info, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert(strstr(msg, "d00"), "%s", msg);
	json_t *list = NULL;
	cr_assert_eq(jstore_index_list(s, "c", &list, msg, sizeof(msg)), 0);
	cr_assert_eq(json_array_size(json_object_get(list, "indexes")), 0u);
	json_decref(list);
	/* within it: created; then a put over it is refused, nothing written */
	jstore_set_index_budget(s, 100000);
	cr_assert_eq(jstore_index_create(s, "c", slow, &info, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(info);
	json_t *big = json_pack("{s:i, s:o}", "n", 99, "a", int_array(400));
	cr_assert_eq(jstore_put(s, "c", "big", big, &created, msg, sizeof(msg)),
		     STRATA_EPATH_TOO_EXPENSIVE);
	cr_assert(strstr(msg, slow), "the message names the index: %s", msg);
	json_t *doc = NULL;
	cr_assert_eq(jstore_get(s, "c", "big", &doc, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	/* the budget lowered below what the stored documents cost: deleting
	 * one still works (its entries were computed within the budget) */
	jstore_set_index_budget(s, 1000);
	cr_assert_eq(jstore_delete(s, "c", "d03", msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(jstore_get(s, "c", "d03", &doc, msg, sizeof(msg)), STRATA_ENOT_FOUND);
	jstore_set_index_budget(s, 0); /* unlimited */
	cr_assert_eq(jstore_put(s, "c", "big", big, &created, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(big);
	json_decref(v);
	cr_assert_eq(jstore_close(s), 0);
}
