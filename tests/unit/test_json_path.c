/*
 * tests/unit/test_json_path.c — JSONPath against the examples of RFC 9535:
 * the bookstore of §1.5, name selectors (§2.3.1.3), wildcards (§2.3.2.3),
 * indexes (§2.3.3.3), slices (§2.3.4.3), comparisons (§2.3.5.2 table),
 * filters (§2.3.5.3), descendants (§2.5.2.3), the function extensions
 * (§2.4.4-2.4.8) and their well-typedness (§2.4.9); then malformed and
 * ill-typed paths (400 naming the position).
 *
 * Expected results are JSON arrays in the RFC's order; where the RFC says
 * the order may vary (object members), ours is insertion order, which is
 * the order written in the example documents.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/json/jbudget.h"
#include "core/json/jdoc.h"
#include "core/json/jpath.h"
#include "strata/error.h"

static const char BOOKSTORE[] =
	"{ \"store\": {"
	"    \"book\": ["
	"      { \"category\": \"reference\", \"author\": \"Nigel Rees\","
	"        \"title\": \"Sayings of the Century\", \"price\": 8.95 },"
	"      { \"category\": \"fiction\", \"author\": \"Evelyn Waugh\","
	"        \"title\": \"Sword of Honour\", \"price\": 12.99 },"
	"      { \"category\": \"fiction\", \"author\": \"Herman Melville\","
	"        \"title\": \"Moby Dick\", \"isbn\": \"0-553-21311-3\", \"price\": 8.99 },"
	"      { \"category\": \"fiction\", \"author\": \"J. R. R. Tolkien\","
	"        \"title\": \"The Lord of the Rings\", \"isbn\": \"0-395-19395-8\", \"price\": 22.99 }"
	"    ],"
	"    \"bicycle\": { \"color\": \"red\", \"price\": 399 }"
	"  }"
	"}";

#define B0 "{\"category\":\"reference\",\"author\":\"Nigel Rees\",\"title\":\"Sayings of the Century\",\"price\":8.95}"
#define B1 "{\"category\":\"fiction\",\"author\":\"Evelyn Waugh\",\"title\":\"Sword of Honour\",\"price\":12.99}"
#define B2 "{\"category\":\"fiction\",\"author\":\"Herman Melville\",\"title\":\"Moby Dick\",\"isbn\":\"0-553-21311-3\",\"price\":8.99}"
#define B3 "{\"category\":\"fiction\",\"author\":\"J. R. R. Tolkien\",\"title\":\"The Lord of the Rings\",\"isbn\":\"0-395-19395-8\",\"price\":22.99}"
#define BIKE "{\"color\":\"red\",\"price\":399}"

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert_not_null(j, "bad test JSON: %s: %s", e.text, text);
	return j;
}

/* path on doc gives exactly want (a JSON array text), in order. */
static void expect(const char *doc_text, const char *path, const char *want_text)
{
	json_t *doc = load(doc_text), *want = load(want_text), *got = NULL;
	char msg[256] = "";
	/* every example runs under the default budget: ordinary paths never
	 * come near it */
	struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
	int rv = jdoc_extract(doc, path, true, &b, &got, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "%s: %s", path, msg);
	char *gs = json_dumps(got, JSON_COMPACT), *ws = json_dumps(want, JSON_COMPACT);
	cr_assert(jvalue_equal(got, want), "%s\n  got  %s\n  want %s", path, gs, ws);
	free(gs);
	free(ws);
	json_decref(got);
	json_decref(want);
	json_decref(doc);
}

Test(jpath_rfc, bookstore_1_5)
{
	const char *d = BOOKSTORE;
	expect(d, "$.store.book[*].author",
	       "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
	expect(d, "$..author", "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
	expect(d, "$.store.*", "[[" B0 "," B1 "," B2 "," B3 "]," BIKE "]");
	expect(d, "$.store..price", "[8.95, 12.99, 8.99, 22.99, 399]");
	expect(d, "$..book[2]", "[" B2 "]");
	expect(d, "$..book[2].author", "[\"Herman Melville\"]");
	expect(d, "$..book[2].publisher", "[]");
	expect(d, "$..book[-1]", "[" B3 "]");
	expect(d, "$..book[0,1]", "[" B0 "," B1 "]");
	expect(d, "$..book[:2]", "[" B0 "," B1 "]");
	expect(d, "$..book[?@.isbn]", "[" B2 "," B3 "]");
	expect(d, "$..book[?@.price<10]", "[" B0 "," B2 "]");
	/* $..*: every member value and array element (count checked; order
	 * is the pre-order walk) */
	json_t *doc = load(d), *all = NULL;
	char msg[256];
	cr_assert_eq(jdoc_extract(doc, "$..*", true, NULL, &all, msg, sizeof(msg)), 0);
	/* store, book, bicycle, 4 books, 4*4+2 book fields (2 with isbn), 2 bike fields */
	cr_assert_eq(json_array_size(all), 1 + 2 + 4 + 18 + 2, "got %zu", json_array_size(all));
	json_decref(all);
	json_decref(doc);
}

Test(jpath_rfc, root_and_shorthands)
{
	expect("{\"k\":1}", "$", "[{\"k\":1}]");
	expect("{\"a\":{\"b\":[1,2]}}", "$.a.b[1]", "[2]");
	expect("{\"_x1\":1, \"é\":2}", "$._x1", "[1]");
	expect("{\"_x1\":1, \"é\":2}", "$.é", "[2]");
	expect("[1,2]", "$.a", "[]");
	expect("{\"a\":1}", "$[0]", "[]");
}

Test(jpath_rfc, name_selector_2_3_1_3)
{
	const char *d = "{\"o\": {\"j j\": {\"k.k\": 3}}, \"'\": {\"@\": 2}}";
	expect(d, "$.o['j j']", "[{\"k.k\": 3}]");
	expect(d, "$.o['j j']['k.k']", "[3]");
	expect(d, "$.o[\"j j\"][\"k.k\"]", "[3]");
	expect(d, "$[\"'\"][\"@\"]", "[2]");
	expect(d, "$['\\'']['@']", "[2]");
	/* escapes: \u, surrogate pairs, \/ and the unicode key itself */
	expect("{\"\\u00e9t\\u00e9\":1, \"\\ud83d\\ude00\":2, \"a/b\":3, \"t\\tb\":4}", "$['\\u00e9t\\u00e9']", "[1]");
	expect("{\"\\ud83d\\ude00\":2}", "$['\\uD83D\\uDE00']", "[2]");
	expect("{\"\\ud83d\\ude00\":2}", "$['😀']", "[2]");
	expect("{\"a/b\":3}", "$['a\\/b']", "[3]");
	expect("{\"t\\tb\":4}", "$['t\\tb']", "[4]");
}

Test(jpath_rfc, wildcard_2_3_2_3)
{
	const char *d = "{\"o\": {\"j\": 1, \"k\": 2}, \"a\": [5, 3]}";
	expect(d, "$[*]", "[{\"j\": 1, \"k\": 2}, [5, 3]]");
	expect(d, "$.o[*]", "[1, 2]");
	expect(d, "$.o[*, *]", "[1, 2, 1, 2]");
	expect(d, "$.a[*]", "[5, 3]");
	expect("7", "$[*]", "[]");
}

Test(jpath_rfc, index_2_3_3_3)
{
	expect("[\"a\",\"b\"]", "$[1]", "[\"b\"]");
	expect("[\"a\",\"b\"]", "$[-2]", "[\"a\"]");
	expect("[\"a\",\"b\"]", "$[2]", "[]");
	expect("[\"a\",\"b\"]", "$[-3]", "[]");
	expect("[\"a\",\"b\"]", "$[0,1,0]", "[\"a\",\"b\",\"a\"]");
}

Test(jpath_rfc, slice_2_3_4_3)
{
	const char *d = "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\"]";
	expect(d, "$[1:3]", "[\"b\", \"c\"]");
	expect(d, "$[5:]", "[\"f\", \"g\"]");
	expect(d, "$[1:5:2]", "[\"b\", \"d\"]");
	expect(d, "$[5:1:-2]", "[\"f\", \"d\"]");
	expect(d, "$[::-1]", "[\"g\", \"f\", \"e\", \"d\", \"c\", \"b\", \"a\"]");
	/* edges: step 0, out-of-range bounds, negative bounds */
	expect(d, "$[::0]", "[]");
	expect(d, "$[-2:]", "[\"f\", \"g\"]");
	expect(d, "$[-100:2]", "[\"a\", \"b\"]");
	expect(d, "$[2:100]", "[\"c\", \"d\", \"e\", \"f\", \"g\"]");
	expect(d, "$[3:1]", "[]");
	expect(d, "$[-1:-3:-1]", "[\"g\", \"f\"]");
	expect(d, "$[100:0:-3]", "[\"g\", \"d\"]");
	/* backward edges: bounds clamped to [-1, len - 1] */
	expect(d, "$[1:-100:-1]", "[\"b\", \"a\"]");
	expect(d, "$[-100:0:-1]", "[]");
	expect(d, "$[:4:-1]", "[\"g\", \"f\"]");
	expect(d, "$[1:3:-1]", "[]");
	expect("[]", "$[::-1]", "[]");
	expect("[]", "$[::1]", "[]");
	expect(d, "$[ 1 : 3 ]", "[\"b\", \"c\"]");
	expect("{\"a\":1}", "$[0:1]", "[]");
}

/* Comparison table of §2.3.5.2: a filter on the root whose expression does
 * not depend on @ selects every child (2) when true, none when false. */
static void cmp_case(const char *expr, bool want)
{
	char path[256];
	snprintf(path, sizeof(path), "$[?%s]", expr);
	json_t *doc = load("{\"obj\": {\"x\": \"y\"}, \"arr\": [2, 3]}"), *got = NULL;
	char msg[256] = "";
	cr_assert_eq(jdoc_extract(doc, path, true, NULL, &got, msg, sizeof(msg)), 0, "%s: %s", path, msg);
	cr_assert_eq(json_array_size(got), want ? 2u : 0u, "%s should be %s", expr, want ? "true" : "false");
	json_decref(got);
	json_decref(doc);
}

Test(jpath_rfc, comparisons_2_3_5_2)
{
	cmp_case("$.absent1 == $.absent2", true);
	cmp_case("$.absent1 <= $.absent2", true);
	cmp_case("$.absent == 'g'", false);
	cmp_case("$.absent1 != $.absent2", false);
	cmp_case("$.absent != 'g'", true);
	cmp_case("1 <= 2", true);
	cmp_case("1 > 2", false);
	cmp_case("13 == '13'", false);
	cmp_case("'a' <= 'b'", true);
	cmp_case("'a' > 'b'", false);
	cmp_case("$.obj == $.arr", false);
	cmp_case("$.obj != $.arr", true);
	cmp_case("$.obj == $.obj", true);
	cmp_case("$.obj != $.obj", false);
	cmp_case("$.arr == $.arr", true);
	cmp_case("$.arr != $.arr", false);
	cmp_case("$.obj == 17", false);
	cmp_case("$.obj != 17", true);
	cmp_case("$.obj <= $.arr", false);
	cmp_case("$.obj < $.arr", false);
	cmp_case("$.obj <= $.obj", true);
	cmp_case("$.arr <= $.arr", true);
	cmp_case("1 <= $.arr", false);
	cmp_case("1 >= $.arr", false);
	cmp_case("1 > $.arr", false);
	cmp_case("1 < $.arr", false);
	cmp_case("true <= true", true);
	cmp_case("true > true", false);
	/* numbers by value */
	cmp_case("1 == 1.0", true);
	cmp_case("1e2 == 100", true);
	cmp_case("-0 == 0", true);
	cmp_case("$.arr[0] == 2.0", true);
	cmp_case("null == null", true);
	cmp_case("false != true", true);
}

Test(jpath_rfc, filters_2_3_5_3)
{
	const char *d = "{\"a\": [3, 5, 1, 2, 4, 6, {\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}],"
			" \"o\": {\"p\": 1, \"q\": 2, \"r\": 3, \"s\": 5, \"t\": {\"u\": 6}}, \"e\": \"f\"}";
	expect(d, "$.a[?@.b == 'kilo']", "[{\"b\": \"kilo\"}]");
	expect(d, "$.a[?(@.b == 'kilo')]", "[{\"b\": \"kilo\"}]");
	expect(d, "$.a[?@>3.5]", "[5, 4, 6]");
	expect(d, "$.a[?@.b]", "[{\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}]");
	expect(d, "$[?@.*]", "[[3, 5, 1, 2, 4, 6, {\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}],"
			     " {\"p\": 1, \"q\": 2, \"r\": 3, \"s\": 5, \"t\": {\"u\": 6}}]");
	expect(d, "$[?@[?@.b]]", "[[3, 5, 1, 2, 4, 6, {\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}]]");
	expect(d, "$.o[?@<3, ?@<3]", "[1, 2, 1, 2]");
	expect(d, "$.a[?@<2 || @.b == \"k\"]", "[1, {\"b\": \"k\"}]");
	expect(d, "$.o[?@>1 && @<4]", "[2, 3]");
	expect(d, "$.o[?@.u || @.x]", "[{\"u\": 6}]");
	expect(d, "$.a[?@.b == $.x]", "[3, 5, 1, 2, 4, 6]");
	expect(d, "$.a[?@ == @]", "[3, 5, 1, 2, 4, 6, {\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}]");
	/* negation, parentheses, precedence (&& binds tighter than ||) */
	expect(d, "$.a[?!@.b]", "[3, 5, 1, 2, 4, 6]");
	expect(d, "$.o[?!(@ > 1)]", "[1, {\"u\": 6}]");
	expect(d, "$.o[?@ == 1 || @ == 2 && @ == 3]", "[1]");
	expect(d, "$.o[?(@ == 1 || @ == 2) && @ == 2]", "[2]");
	expect(d, "$.a[?@ != 3 && @ < 3]", "[1, 2]");
	expect(d, "$.a[?@ >= 5]", "[5, 6]");
	expect(d, "$.a[?@ <= 2]", "[1, 2]");
	expect(d, "$.a[?@.b >= 'k']", "[{\"b\": \"k\"}, {\"b\": \"kilo\"}]");
	expect(d, "$[?$.e == 'f']", "[[3, 5, 1, 2, 4, 6, {\"b\": \"j\"}, {\"b\": \"k\"}, {\"b\": {}}, {\"b\": \"kilo\"}],"
				     " {\"p\": 1, \"q\": 2, \"r\": 3, \"s\": 5, \"t\": {\"u\": 6}}, \"f\"]");
	expect("[{\"t\":true},{\"t\":false},{\"t\":null},{}]", "$[?@.t == true]", "[{\"t\":true}]");
	expect("[{\"t\":true},{\"t\":false},{\"t\":null},{}]", "$[?@.t == null]", "[{\"t\":null}]");
	expect("[{\"t\":true},{\"t\":false},{\"t\":null},{}]", "$[?@.t]", "[{\"t\":true},{\"t\":false},{\"t\":null}]");
}

Test(jpath_rfc, descendants_2_5_2_3)
{
	const char *d = "{\"o\": {\"j\": 1, \"k\": 2}, \"a\": [5, 3, [{\"j\": 4}, {\"k\": 6}]]}";
	expect(d, "$..j", "[1, 4]");
	expect(d, "$..[0]", "[5, {\"j\": 4}]");
	expect(d, "$..[*]", "[{\"j\": 1, \"k\": 2}, [5, 3, [{\"j\": 4}, {\"k\": 6}]], 1, 2, 5, 3,"
			    " [{\"j\": 4}, {\"k\": 6}], {\"j\": 4}, {\"k\": 6}, 4, 6]");
	expect(d, "$..*", "[{\"j\": 1, \"k\": 2}, [5, 3, [{\"j\": 4}, {\"k\": 6}]], 1, 2, 5, 3,"
			  " [{\"j\": 4}, {\"k\": 6}], {\"j\": 4}, {\"k\": 6}, 4, 6]");
	expect(d, "$..o", "[{\"j\": 1, \"k\": 2}]");
	expect(d, "$.o..[*, *]", "[1, 2, 1, 2]");
	expect(d, "$.a..[0, 1]", "[5, 3, {\"j\": 4}, {\"k\": 6}]");
	expect(d, "$..[?@.j]", "[{\"j\": 1, \"k\": 2}, {\"j\": 4}]");
}

/* A malformed or unsupported path is STRATA_EBAD_REQUEST naming the byte
 * position where it went wrong. */
static void bad(const char *path, size_t pos)
{
	struct jpath *p = NULL;
	char msg[256] = "", want[32];
	int rv = jpath_compile(path, &p, msg, sizeof(msg));
	cr_assert_eq(rv, STRATA_EBAD_REQUEST, "'%s' should not compile (rv %d)", path, rv);
	cr_assert_null(p);
	snprintf(want, sizeof(want), "at position %zu", pos);
	cr_assert(strstr(msg, want) != NULL, "'%s': message '%s' lacks '%s'", path, msg, want);
	cr_assert(strncmp(msg, "JSONPath: ", 10) == 0, "'%s': %s", path, msg);
}

Test(jpath_errors, malformed_paths_name_the_position)
{
	bad("", 0);
	bad("a.b", 0);
	bad("$.", 2);
	bad("$.a[", 4);
	bad("$.a[0", 5);
	bad("$[01]", 2);
	bad("$[-0]", 2);
	bad("$['a'", 5);
	bad("$['a", 2);
	bad("$['a\\q']", 4);
	bad("$[a]", 2);
	bad("$.a b", 3);
	bad("$ ", 1);
	bad("$.a]", 3);
	bad("$[?@.a ==]", 9);
	bad("$[?@.a = 1]", 7);
	bad("$[?(@.a == 1]", 12);
	bad("$[?@.* == 1]", 3);
	bad("$[?@..a == 1]", 3);
	bad("$[?length(@)]", 3);
	bad("$[?Length(@) == 1]", 3);
	bad("$[9007199254740992]", 2);
	bad("$['\\ud800']", 3);
	bad("$[1:2:3:4]", 7);
	bad("$..", 3);
	bad("$[?!@.a == 1]", 3);
	bad("$[?'a']", 6);
}

Test(jpath_api, canonical_and_singular)
{
	struct jpath *a, *b;
	char msg[128];
	cr_assert_eq(jpath_compile("$.a.b[0]", &a, msg, sizeof(msg)), 0);
	cr_assert_eq(jpath_compile("$['a'][\"b\"][ 0 ]", &b, msg, sizeof(msg)), 0);
	cr_assert_str_eq(jpath_canonical(a), jpath_canonical(b));
	cr_assert_str_eq(jpath_canonical(a), "$['a']['b'][0]");
	cr_assert(jpath_is_singular(a));
	jpath_free(b);
	cr_assert_eq(jpath_compile("$.a[*]", &b, msg, sizeof(msg)), 0);
	cr_assert(!jpath_is_singular(b));
	cr_assert_str_neq(jpath_canonical(a), jpath_canonical(b));
	jpath_free(a);
	jpath_free(b);
}

Test(jpath_api, number_parts_order_mixed_ints_and_reals)
{
	/* a sorted list of numbers: each must compare below the next */
	const char *nums = "[-1e300, -9223372036854775807, -9007199254740993, -1.5, -1, -0.5, 0,"
			   " 1e-300, 0.5, 1, 1.5, 2, 9007199254740992, 9007199254740993,"
			   " 9223372036854775807, 1e19, 1e300]";
	json_t *a = load(nums);
	for (size_t i = 0; i + 1 < json_array_size(a); i++) {
		int c;
		cr_assert(jvalue_order(json_array_get(a, i), json_array_get(a, i + 1), &c));
		cr_assert_eq(c, -1, "element %zu should order below %zu", i, i + 1);
	}
	json_t *one = json_integer(1), *onef = json_real(1.0);
	cr_assert(jvalue_equal(one, onef));
	json_decref(one);
	json_decref(onef);
	json_decref(a);
}

/* ------------------------------------------------------ function extensions */

Test(jpath_functions, length_2_4_4)
{
	/* RFC example: $[?length(@.authors) >= 5] */
	const char *d = "[{\"authors\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}, {\"authors\": [\"a\"]},"
			" {\"authors\": \"abcdef\"}, {\"authors\": {\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}},"
			" {\"authors\": 12345}, {}]";
	expect(d, "$[?length(@.authors) >= 5]",
	       "[{\"authors\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}, {\"authors\": \"abcdef\"},"
	       " {\"authors\": {\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}}]");
	/* a number, true, null or an absent member has no length: Nothing */
	expect(d, "$[?length(@.authors) == $.absent]", "[{\"authors\": 12345}, {}]");
	/* length counts Unicode scalar values, not bytes */
	const char *u = "[\"\", \"a\", \"é\", \"日本語\", \"😀x\", \"e\\u0301\"]";
	expect(u, "$[?length(@) == 0]", "[\"\"]");
	expect(u, "$[?length(@) == 1]", "[\"a\", \"é\"]");
	expect(u, "$[?length(@) == 2]", "[\"😀x\", \"e\\u0301\"]");
	expect(u, "$[?length(@) == 3]", "[\"日本語\"]");
	/* literal arguments, $-queries, the function on either side */
	expect("[1,2]", "$[?length('abc') == 3]", "[1,2]");
	expect("[1,2]", "$[?length(1) == 1]", "[]");
	expect("{\"a\":[1,2,3],\"n\":[2,3]}", "$.n[?length($.a) == @]", "[3]");
	expect("[[1],[1,2]]", "$[?2 == length(@)]", "[[1,2]]");
	expect("[[1],[1,2]]", "$[?length(@) < length($[1])]", "[[1]]");
	expect("[[1],[1,2]]", "$[?length(@)>1]", "[[1,2]]");
}

Test(jpath_functions, count_2_4_5)
{
	/* RFC example: $[?count(@.*.author) >= 5] */
	const char *d = "[{\"x\": {\"p\":{\"author\":1},\"q\":{\"author\":2},\"r\":{\"author\":3},"
			"\"s\":{\"author\":4},\"t\":{\"author\":5}}}, {\"x\": {\"p\":{\"author\":1}}}]";
	expect(d, "$[?count(@.x.*.author) >= 5].x.p", "[{\"author\":1}]");
	const char *c = "[{\"a\":[1,2,3]},{\"a\":[1],\"d\":\"f\"},{\"a\":1,\"d\":\"f\"}]";
	expect(c, "$[?count(@..*) > 2]", "[{\"a\":[1,2,3]},{\"a\":[1],\"d\":\"f\"}]");
	/* a singular query counts 0 or 1; an empty node list counts 0 */
	expect(c, "$[?count(@.d) == 1]", "[{\"a\":[1],\"d\":\"f\"},{\"a\":1,\"d\":\"f\"}]");
	expect(c, "$[?count(@.zz) == 0]", "[{\"a\":[1,2,3]},{\"a\":[1],\"d\":\"f\"},{\"a\":1,\"d\":\"f\"}]");
	expect(c, "$[?count(@[?@ == 1]) == 1]", "[{\"a\":1,\"d\":\"f\"}]");
	expect(c, "$[?count(@.a[?@ > 1]) == 2]", "[{\"a\":[1,2,3]}]");
	expect(c, "$[?count($..d) == 2]", "[{\"a\":[1,2,3]},{\"a\":[1],\"d\":\"f\"},{\"a\":1,\"d\":\"f\"}]");
	/* duplicates count (a union selects a node twice) */
	expect("[[5]]", "$[?count(@[0,0]) == 2]", "[[5]]");
}

Test(jpath_functions, match_2_4_6)
{
	/* RFC example: $[?match(@.date, "1974-05-..")] */
	const char *d = "[{\"date\":\"1974-05-01\"},{\"date\":\"1974-05-31\"},{\"date\":\"1974-06-01\"},"
			"{\"date\":\"1974-05-011\"},{\"date\":\"x1974-05-01\"},{\"date\":19740501},{}]";
	expect(d, "$[?match(@.date, \"1974-05-..\")]", "[{\"date\":\"1974-05-01\"},{\"date\":\"1974-05-31\"}]");
	expect(d, "$[?!match(@.date, '1974-05-..')]",
	       "[{\"date\":\"1974-06-01\"},{\"date\":\"1974-05-011\"},{\"date\":\"x1974-05-01\"},"
	       "{\"date\":19740501},{}]");
	/* . excludes \n and \r only (RFC 9485); U+2028 matches */
	expect("[\"a\\nb\", \"a\\rb\", \"a\\u2028b\", \"a\\tb\"]", "$[?match(@, 'a.b')]", "[\"a\\u2028b\", \"a\\tb\"]");
	/* the pattern from the document; an invalid one or a non-string is false */
	const char *r = "[{\"s\":\"abc\",\"p\":\"a.c\"},{\"s\":\"abc\",\"p\":\"a(c\"},{\"s\":\"abc\",\"p\":7},"
			"{\"s\":5,\"p\":\"5\"},{\"s\":\"abc\"}]";
	expect(r, "$[?match(@.s, @.p)]", "[{\"s\":\"abc\",\"p\":\"a.c\"}]");
	expect(r, "$[?!match(@.s, @.p)]",
	       "[{\"s\":\"abc\",\"p\":\"a(c\"},{\"s\":\"abc\",\"p\":7},{\"s\":5,\"p\":\"5\"},{\"s\":\"abc\"}]");
	expect("[\"x\"]", "$[?match(@, 5)]", "[]");
	expect("[\"Straße\", \"STRASSE\", \"ß\"]", "$[?match(@, '\\\\p{Lu}+')]", "[\"STRASSE\"]");
	expect("[\"Straße\", \"STRASSE\", \"ß\"]", "$[?match(@, '[^A-Z]')]", "[\"ß\"]");
	/* escapes in the JSONPath string literal come first: '\\.' is the regex \. */
	expect("[\"a.b\", \"axb\"]", "$[?match(@, 'a\\\\.b')]", "[\"a.b\"]");
	expect("[\"a\\tb\"]", "$[?match(@, 'a\\tb')]", "[\"a\\tb\"]");
}

Test(jpath_functions, search_2_4_7)
{
	/* RFC example: $[?search(@.author, "[BR]ob")] */
	const char *d = "[{\"author\":\"Bob Dylan\"},{\"author\":\"Robert\"},{\"author\":\"Jacob\"},"
			"{\"author\":\"bob\"},{\"author\":[\"Bob\"]}]";
	expect(d, "$[?search(@.author, \"[BR]ob\")]", "[{\"author\":\"Bob Dylan\"},{\"author\":\"Robert\"}]");
	expect("[\"ab\", \"ba\", \"d\"]", "$[?search(@, 'a')]", "[\"ab\", \"ba\"]");
	expect("[\"ab\", \"ba\", \"d\"]", "$[?search(@, '')]", "[\"ab\", \"ba\", \"d\"]");
	expect("[\"ab\", \"ba\", \"d\"]", "$[?search(@, 'a$')]", "[]"); /* $ is a literal */
	expect("[{\"s\":\"xay\",\"p\":\"a\"},{\"s\":\"xay\",\"p\":\"[\"}]", "$[?search(@.s, @.p)]",
	       "[{\"s\":\"xay\",\"p\":\"a\"}]");
	expect("[\"日本語\", \"abc\"]", "$[?search(@, '\\\\p{Lo}')]", "[\"日本語\"]");
}

Test(jpath_functions, value_2_4_8)
{
	/* RFC example: $[?value(@..color) == "red"] */
	const char *d = "[{\"color\":\"red\"},{\"x\":{\"color\":\"red\"}},{\"color\":\"red\",\"x\":{\"color\":\"red\"}},"
			"{\"color\":\"blue\"},{}]";
	expect(d, "$[?value(@..color) == \"red\"]", "[{\"color\":\"red\"},{\"x\":{\"color\":\"red\"}}]");
	/* a non-singular node list (0 or 2 nodes) is Nothing, which equals Nothing */
	expect(d, "$[?value(@..color) == $.absent]",
	       "[{\"color\":\"red\",\"x\":{\"color\":\"red\"}},{}]");
	expect("[[1],[1,2],[]]", "$[?value(@.*) == 1]", "[[1]]");
	expect("[[4]]", "$[?value(@[0]) == 4]", "[[4]]");
}

Test(jpath_functions, nested_and_combined)
{
	const char *d = "[{\"a\":[\"xy\"]},{\"a\":[\"xyz\"]},{\"a\":[\"x\",\"y\"]},{\"a\":\"xy\"}]";
	/* functions as arguments: a ValueType result into a ValueType parameter */
	expect(d, "$[?length(value(@.a.*)) == 3]", "[{\"a\":[\"xyz\"]}]");
	expect(d, "$[?length(value(@..*)) == 2]", "[{\"a\":\"xy\"}]");
	expect("[{\"x\":[1,2]},{\"y\":{\"x\":[1,2,3]}}]", "$[?length(value(@..x)) == 3]",
	       "[{\"y\":{\"x\":[1,2,3]}}]");
	expect(d, "$[?match(value(@.a.*), 'x.*') && count(@.a.*) == 1]", "[{\"a\":[\"xy\"]},{\"a\":[\"xyz\"]}]");
	expect(d, "$[?length(length(@.a)) == 1]", "[]"); /* a number has no length */
	expect(d, "$[?count(@.a.*) == 2 || search(@.a, 'y$')]", "[{\"a\":[\"x\",\"y\"]}]");
	expect("{\"n\":2,\"v\":[[1,2],[3]]}", "$.v[?length(@) == $.n]", "[[1,2]]");
	expect("{\"p\":\"^b\",\"v\":[\"^b\",\"b\"]}", "$.v[?match(@, $.p)]", "[\"^b\"]");
	/* blank space inside the argument list */
	expect(d, "$[?count( @.a.* ) == 2]", "[{\"a\":[\"x\",\"y\"]}]");
	expect(d, "$[? match( @.a , 'xy' ) ]", "[{\"a\":\"xy\"}]");
	/* functions in nested filters */
	expect(d, "$[?@.a[?length(@) == 3]]", "[{\"a\":[\"xyz\"]}]");
	/* an empty document list */
	expect("[]", "$[?length(@) > 0]", "[]");
	expect("{}", "$[?count(@.*) == 0]", "[]");
}

/* path is well-typed: it compiles */
static void typed(const char *path)
{
	struct jpath *p = NULL;
	char msg[256] = "";
	cr_assert_eq(jpath_compile(path, &p, msg, sizeof(msg)), 0, "'%s': %s", path, msg);
	jpath_free(p);
}

/* path is not well-typed: a 400 at pos whose message contains what */
static void ill_typed(const char *path, size_t pos, const char *what)
{
	struct jpath *p = NULL;
	char msg[256] = "", want[32];
	int rv = jpath_compile(path, &p, msg, sizeof(msg));
	cr_assert_eq(rv, STRATA_EBAD_REQUEST, "'%s' should not compile (rv %d)", path, rv);
	cr_assert_null(p);
	snprintf(want, sizeof(want), "at position %zu", pos);
	cr_assert(strstr(msg, want) != NULL, "'%s': message '%s' lacks '%s'", path, msg, want);
	cr_assert(strstr(msg, what) != NULL, "'%s': message '%s' lacks '%s'", path, msg, what);
}

Test(jpath_functions, well_typedness_2_4_9)
{
	/* the RFC's table, for the functions it names that exist */
	typed("$[?length(@) < 3]");
	ill_typed("$[?length(@.*) < 3]", 10, "singular");
	typed("$[?count(@.*) == 1]");
	ill_typed("$[?count(1) == 1]", 9, "not a literal");
	typed("$[?match(@.timezone, 'Europe/.*')]");
	ill_typed("$[?match(@.timezone, 'Europe/.*') == true]", 3, "cannot be compared");
	typed("$[?value(@..color) == \"red\"]");
	ill_typed("$[?value(@..color)]", 3, "not a logical");
	/* foo(), bar(), bnl(), blt(), bal() are the RFC's hypothetical
	 * extensions: not defined here, so unknown */
	ill_typed("$[?count(foo(@.*)) == 1]", 9, "unknown function 'foo'");
	ill_typed("$[?bar(@.a)]", 3, "unknown function 'bar'");
	ill_typed("$[?blt(1==1)]", 3, "unknown function 'blt'");
	/* more of the same rules */
	ill_typed("$[?length(@.a)]", 3, "not well-typed");
	ill_typed("$[?!length(@.a)]", 4, "not well-typed");
	ill_typed("$[?count(@.a)]", 3, "not well-typed");
	ill_typed("$[?@.a == match(@.b, 'x')]", 10, "cannot be compared");
	ill_typed("$[?search(@.b, 'x') != false]", 3, "cannot be compared");
	ill_typed("$[?value('a') == 'a']", 9, "not a literal");
	ill_typed("$[?count(length(@)) == 1]", 9, "NodesType");
	ill_typed("$[?length(match(@, 'a')) == 1]", 10, "not a function returning a logical");
	ill_typed("$[?length(@.a == 1) == 1]", 10, "not a logical expression");
	ill_typed("$[?length(!@.a) == 1]", 10, "not a logical expression");
	ill_typed("$[?length(@..a) == 1]", 10, "singular");
	ill_typed("$[?match(@.a[*], 'x')]", 9, "singular");
	ill_typed("$[?length() == 1]", 10, "takes 1 argument");
	ill_typed("$[?length(@, @) == 1]", 13, "takes 1 argument");
	ill_typed("$[?match(@) == 1]", 10, "takes 2 arguments");
	ill_typed("$[?match(@, 'a', 'b')]", 17, "takes 2 arguments");
	ill_typed("$[?!search(@.a, 'x') == 1]", 3, "'!'");
	typed("$[?!search(@.a, 'x')]");
	typed("$[?length(1) == 1]");
	typed("$[?length(null) == 1]");
	typed("$[?match('a', 'a')]");
	typed("$[?match(@.a, @.b)]");
	typed("$[?length(value($..x)) > 0]");
	typed("$[?count(@[?count(@.*) > 1]) > 0]");
}

Test(jpath_functions, syntax_errors_name_the_position)
{
	bad("$[?length(@", 11);
	bad("$[?length(@ ]", 12);
	bad("$[?length (@) == 1]", 3);       /* no blank before '(' */
	bad("$[?lengthx(@) == 1]", 3);
	bad("$[?length_2(@) == 1]", 3);
	bad("$[?length(@.a,) == 1]", 14);
	/* an invalid constant I-Regexp is a compile error at the pattern */
	ill_typed("$[?match(@, 'a(')]", 12, "invalid I-Regexp");
	ill_typed("$[?search(@.x, '\\\\d+')]", 15, "invalid I-Regexp");
	ill_typed("$[?search(@.x, '[z-a]')]", 15, "range out of order");
	ill_typed("$[?match(@, '(a{1000}){1000}')]", 12, "too large");
}

Test(jpath_functions, canonical_form)
{
	struct jpath *a, *b;
	char msg[128];
	cr_assert_eq(jpath_compile("$[?length( @.a ) >= 2 && match(@.b, \"x.*\")]", &a, msg, sizeof(msg)), 0);
	cr_assert_eq(jpath_compile("$[?length(@['a'])>=2&&match(@[\"b\"],'x.*')]", &b, msg, sizeof(msg)), 0);
	cr_assert_str_eq(jpath_canonical(a), jpath_canonical(b));
	cr_assert_str_eq(jpath_canonical(a), "$[?(length(@['a'])>=2&&match(@['b'],'x.*'))]");
	jpath_free(a);
	jpath_free(b);
}

Test(jpath_functions, nesting_limit_applies_to_functions)
{
	/* length(length(...(@)...)) is well-typed; each call is one level */
	char path[1024];
	for (int depth = JPATH_MAX_NEST - 2; depth <= JPATH_MAX_NEST + 2; depth++) {
		size_t n = 0;
		n += (size_t)snprintf(path + n, sizeof(path) - n, "$[?");
		for (int i = 0; i < depth; i++)
			n += (size_t)snprintf(path + n, sizeof(path) - n, "length(");
		n += (size_t)snprintf(path + n, sizeof(path) - n, "@");
		for (int i = 0; i < depth; i++)
			n += (size_t)snprintf(path + n, sizeof(path) - n, ")");
		snprintf(path + n, sizeof(path) - n, " == 1]");
		struct jpath *p = NULL;
		char msg[256] = "";
		int rv = jpath_compile(path, &p, msg, sizeof(msg));
		/* the filter's bracket and its comparison take two levels */
		if (depth <= JPATH_MAX_NEST - 2) {
			cr_assert_eq(rv, 0, "depth %d: %s", depth, msg);
			json_t *doc = load("[\"a\", [1]]");
			struct jpath_nodes out = {0};
			cr_assert_eq(jpath_eval(p, doc, NULL, &out), 0);
			/* length(@) is 1 for both; length(1) is Nothing */
			cr_assert_eq(out.n, depth == 1 ? 2u : 0u);
			jpath_nodes_free(&out);
			json_decref(doc);
			jpath_free(p);
		} else {
			cr_assert_eq(rv, STRATA_EBAD_REQUEST, "depth %d should be too deep", depth);
			cr_assert(strstr(msg, "nested too deeply"), "%s", msg);
		}
	}
}

Test(jpath_functions, node_limit_applies_to_count)
{
	/* [[x, x, ... JPATH_MAX_NODES + 1 times]]: count(@.*) on the inner
	 * array builds a node list over the limit */
	json_t *inner = json_array(), *x = json_integer(7);
	cr_assert_not_null(inner);
	for (size_t i = 0; i <= JPATH_MAX_NODES; i++)
		cr_assert_eq(json_array_append(inner, x), 0);
	json_t *doc = json_array();
	cr_assert_eq(json_array_append_new(doc, inner), 0);
	struct jpath *p = NULL;
	char msg[128];
	cr_assert_eq(jpath_compile("$[?count(@.*) > 0]", &p, msg, sizeof(msg)), 0);
	struct jpath_nodes out = {0};
	cr_assert_eq(jpath_eval(p, doc, NULL, &out), STRATA_ETOO_LARGE);
	jpath_nodes_free(&out);
	jpath_free(p);
	/* value() of the same node list: also bounded */
	cr_assert_eq(jpath_compile("$[?value(@.*) == 7]", &p, msg, sizeof(msg)), 0);
	cr_assert_eq(jpath_eval(p, doc, NULL, &out), STRATA_ETOO_LARGE);
	jpath_nodes_free(&out);
	jpath_free(p);
	/* the operators say why */
	json_t *got = NULL;
	char why[256] = "";
	cr_assert_eq(jdoc_extract(doc, "$[?count(@.*) > 0]", true, NULL, &got, why, sizeof(why)), STRATA_ETOO_LARGE);
	cr_assert_null(got);
	cr_assert(strstr(why, "count()") != NULL, "%s", why);
	json_decref(x);
	json_decref(doc);
}

Test(jpath_functions, long_patterns_and_inputs_are_bounded, .timeout = 30)
{
	/* a document pattern over IREGEXP_MAX_LEN is not a valid I-Regexp here:
	 * LogicalFalse, not an error */
	size_t n = 5000;
	char *pat = malloc(n + 1), *text = malloc(1000001);
	cr_assert(pat && text);
	memset(pat, 'a', n);
	pat[n] = '\0';
	json_t *doc = json_pack("{s:s, s:s}", "s", pat, "p", pat);
	cr_assert_not_null(doc);
	json_t *got = NULL;
	char msg[256];
	cr_assert_eq(jdoc_extract(doc, "$[?match(@, $.p)]", true, NULL, &got, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(json_array_size(got), 0);
	json_decref(got);
	json_decref(doc);
	/* a 1 MB input with a pathological pattern: linear */
	memset(text, 'a', 1000000);
	text[1000000] = '\0';
	doc = json_pack("[s]", text);
	cr_assert_not_null(doc);
	/* ... and within the default budget */
	struct jbudget b = jbudget_make(JBUDGET_DEFAULT);
	cr_assert_eq(jdoc_extract(doc, "$[?search(@, '(a|a)*b')]", true, &b, &got, msg, sizeof(msg)), 0);
	cr_assert_gt(b.used, 1000000u / JBUDGET_REGEX_STEPS, "the regex steps are charged: %llu",
		     (unsigned long long)b.used);
	cr_assert_eq(json_array_size(got), 0);
	json_decref(got);
	cr_assert_eq(jdoc_extract(doc, "$[?match(@, '(a*)*')]", true, NULL, &got, msg, sizeof(msg)), 0);
	cr_assert_eq(json_array_size(got), 1);
	json_decref(got);
	cr_assert_eq(jdoc_extract(doc, "$[?length(@) == 1000000]", true, NULL, &got, msg, sizeof(msg)), 0);
	cr_assert_eq(json_array_size(got), 1);
	json_decref(got);
	json_decref(doc);
	free(pat);
	free(text);
}

/* Random mutations of function paths (fixed seed) compile or fail with a
 * position inside the text, and what compiles evaluates. */
Test(jpath_functions, mutated_paths_fail_cleanly)
{
	static const char *seeds[] = {
		"$[?length(@.a) > 2 && match(@.b, 'x.*')]", "$..[?count(@.*) == value($.n)]",
		"$[?search(@, '[a-z]+') || !match(@.c, @.d)]", "$[?length(value(@..x)) >= length('ab')]",
	};
	static const char alphabet[] = "()[]?@$.*,'\"!=<>&|0123 lengthcoumatsrvlx\\";
	json_t *doc = load("{\"a\":[1,\"xy\",{\"b\":\"xz\",\"c\":\"q\",\"d\":\"(\"}],\"n\":3,\"x\":\"ab\"}");
	unsigned x = 777;
	char path[96];
	for (int iter = 0; iter < 20000; iter++) {
		const char *s = seeds[iter % 4];
		size_t n = strlen(s);
		memcpy(path, s, n);
		for (int k = 0; k < 2; k++) {
			x = x * 1103515245u + 12345u;
			size_t at = (x >> 8) % n;
			x = x * 1103515245u + 12345u;
			char c = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
			if ((x >> 20) % 3 == 0 && n < sizeof(path) - 1) {
				memmove(path + at + 1, path + at, n - at);
				path[at] = c;
				n++;
			} else if ((x >> 20) % 3 == 1 && n > 1) {
				memmove(path + at, path + at + 1, n - at - 1);
				n--;
			} else {
				path[at] = c;
			}
		}
		path[n] = '\0';
		struct jpath *p = NULL;
		char msg[256] = "";
		int rv = jpath_compile(path, &p, msg, sizeof(msg));
		cr_assert(rv == 0 || rv == STRATA_EBAD_REQUEST, "%s: rv %d", path, rv);
		if (rv) {
			const char *at = strstr(msg, "at position ");
			cr_assert_not_null(at, "%s: %s", path, msg);
			cr_assert(strtoul(at + 12, NULL, 10) <= n, "%s: %s", path, msg);
			continue;
		}
		struct jpath_nodes out = {0};
		cr_assert_eq(jpath_eval(p, doc, NULL, &out), 0, "%s", path);
		jpath_nodes_free(&out);
		jpath_free(p);
	}
	json_decref(doc);
}
