/*
 * tests/unit/test_json_ops.c — the document operators (core/json/jdoc.h):
 * missing paths, type mismatches, arrays vs objects, unicode keys, and that
 * the input document is never modified.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/json/jdoc.h"
#include "core/json/jpath.h"
#include "strata/error.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert_not_null(j, "bad test JSON: %s: %s", e.text, text);
	return j;
}

static void assert_json(json_t *got, const char *want_text, const char *what)
{
	json_t *want = J(want_text);
	char *gs = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(NULL)");
	cr_assert(got && jvalue_equal(got, want), "%s: got %s, want %s", what, gs, want_text);
	free(gs);
	json_decref(want);
}

/* jdoc_set: result and matched count; the input unchanged. */
static void set_ok(const char *doc, const char *path, const char *value, const char *want,
		   size_t matched)
{
	json_t *d = J(doc), *v = J(value), *out = NULL, *before = json_deep_copy(d);
	size_t m = 99;
	char msg[256] = "";
	int rv = jdoc_set(d, path, v, NULL, &out, &m, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "set %s on %s: %s", path, doc, msg);
	assert_json(out, want, path);
	cr_assert_eq(m, matched, "set %s: matched %zu, want %zu", path, m, matched);
	cr_assert(json_equal(d, before), "set %s modified its input", path);
	json_decref(out);
	json_decref(before);
	json_decref(d);
	json_decref(v);
}

static void set_err(const char *doc, const char *path, const char *needle)
{
	json_t *d = J(doc), *v = json_integer(1), *out = (json_t *)1;
	size_t m;
	char msg[256] = "";
	int rv = jdoc_set(d, path, v, NULL, &out, &m, msg, sizeof(msg));
	cr_assert_eq(rv, STRATA_EBAD_REQUEST, "set %s on %s should fail", path, doc);
	cr_assert_null(out);
	cr_assert(strstr(msg, needle), "set %s: message '%s' lacks '%s'", path, msg, needle);
	json_decref(d);
	json_decref(v);
}

Test(jdoc_set, replace_create_and_arrays)
{
	set_ok("{\"a\":{\"b\":1}}", "$.a.b", "2", "{\"a\":{\"b\":2}}", 1);
	set_ok("{}", "$.a.b.c", "true", "{\"a\":{\"b\":{\"c\":true}}}", 1);   /* intermediates */
	set_ok("{\"a\":1}", "$", "[1]", "[1]", 1);                             /* the root */
	set_ok("{\"a\":[1,2]}", "$.a[1]", "9", "{\"a\":[1,9]}", 1);
	set_ok("{\"a\":[1,2]}", "$.a[-1]", "9", "{\"a\":[1,9]}", 1);
	set_ok("{\"a\":[1,2]}", "$.a[2]", "3", "{\"a\":[1,2,3]}", 1);          /* append */
	set_ok("{}", "$.a[0]", "\"x\"", "{\"a\":[\"x\"]}", 1);                 /* new array */
	set_ok("{}", "$.a[0].b", "1", "{\"a\":[{\"b\":1}]}", 1);
	set_ok("{\"a\":[{\"p\":1},{\"p\":2}]}", "$.a[*].p", "0", "{\"a\":[{\"p\":0},{\"p\":0}]}", 2);
	set_ok("{\"a\":[{\"p\":1},{\"p\":5}]}", "$.a[?@.p > 2].p", "0", "{\"a\":[{\"p\":1},{\"p\":0}]}", 1);
	set_ok("{\"a\":[]}", "$.a[*]", "0", "{\"a\":[]}", 0);                  /* nothing to set */
	set_ok("{\"ключ\":{}}", "$['ключ']['日本']", "\"v\"", "{\"ключ\":{\"日本\":\"v\"}}", 1);
	set_ok("{\"x\":{\"y\":1}}", "$..y", "2", "{\"x\":{\"y\":2}}", 1);
	/* nested matches: the outer is replaced first, the inner lands in the
	 * detached old subtree (no effect, no use after free) */
	set_ok("{\"a\":{\"b\":{\"c\":1}}}", "$..*", "0", "{\"a\":0}", 3);
	set_err("{\"a\":5}", "$.a.b", "is a number, not an object");
	set_err("{\"a\":[1]}", "$.a.b", "is an array, not an object");
	set_err("{\"a\":{}}", "$.a[0]", "is an object, not an array");
	set_err("{\"a\":[1]}", "$.a[5]", "arrays are not padded");
	set_err("{\"a\":[1]}", "$.a[-3]", "the array has 1 elements");
	set_err("{}", "$.a[", "at position 4");
}

static void del_ok(const char *doc, const char *path, const char *want, size_t removed)
{
	json_t *d = J(doc), *out = NULL, *before = json_deep_copy(d);
	size_t n = 99;
	char msg[256] = "";
	cr_assert_eq(jdoc_delete(d, path, NULL, &out, &n, msg, sizeof(msg)), 0, "delete %s: %s", path, msg);
	assert_json(out, want, path);
	cr_assert_eq(n, removed, "delete %s: removed %zu, want %zu", path, n, removed);
	cr_assert(json_equal(d, before), "delete %s modified its input", path);
	json_decref(out);
	json_decref(before);
	json_decref(d);
}

Test(jdoc_delete, members_elements_and_missing)
{
	del_ok("{\"a\":1,\"b\":2}", "$.a", "{\"b\":2}", 1);
	del_ok("{\"a\":1}", "$.zz", "{\"a\":1}", 0);
	del_ok("{\"a\":1}", "$.a.b.c", "{\"a\":1}", 0);
	del_ok("[0,1,2,3,4]", "$[1,3]", "[0,2,4]", 2);
	del_ok("[0,1,2,3,4]", "$[0,0]", "[1,2,3,4]", 1);              /* once each */
	del_ok("[0,1,2,3,4]", "$[::2]", "[1,3]", 3);
	del_ok("[0,1,2,3,4]", "$[-1]", "[0,1,2,3]", 1);
	del_ok("[5,1,7,2]", "$[?@ > 4]", "[1,2]", 2);
	del_ok("{\"a\":{\"b\":{\"c\":1}},\"c\":2}", "$..c", "{\"a\":{\"b\":{}}}", 2);
	del_ok("{\"a\":1,\"b\":2}", "$[*,*]", "{}", 2);
	del_ok("{\"a\":{\"x\":[1,{\"x\":2}]}}", "$..x", "{\"a\":{}}", 2);  /* nested matches */
	del_ok("{\"é\":1,\"e\":2}", "$['é']", "{\"e\":2}", 1);
	json_t *d = J("{}"), *out = (json_t *)1;
	size_t n;
	char msg[256];
	cr_assert_eq(jdoc_delete(d, "$", NULL, &out, &n, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_null(out);
	json_decref(d);
}

static void contains(const char *t, const char *c, bool want)
{
	json_t *a = J(t), *b = J(c);
	cr_assert_eq(jdoc_contains(a, b), want, "%s contains %s should be %d", t, c, want);
	json_decref(a);
	json_decref(b);
}

Test(jdoc_contains, postgres_semantics)
{
	contains("{\"a\":1,\"b\":{\"c\":[1,2,3]}}", "{\"b\":{\"c\":[3]}}", true);
	contains("{\"a\":1}", "{\"a\":1.0}", true);
	contains("{\"a\":1}", "{\"a\":2}", false);
	contains("{\"a\":1}", "{}", true);
	contains("[1,2,3]", "[3,1]", true);
	contains("[1,2,3]", "[1,1]", true);
	contains("[1,2,3]", "[4]", false);
	contains("[1,2,3]", "2", true);           /* an array contains a scalar element */
	contains("[[1,2]]", "1", false);          /* ... but not one level down */
	contains("[[1,2]]", "[[1]]", true);
	contains("[{\"a\":1,\"b\":2}]", "[{\"a\":1}]", true);
	contains("{\"a\":[1]}", "[1]", false);    /* object vs array */
	contains("\"abc\"", "\"b\"", false);      /* no substrings */
	contains("\"abc\"", "\"abc\"", true);
	contains("null", "null", true);
	contains("true", "false", false);
	contains("{\"ключ\":\"значение\"}", "{\"ключ\":\"значение\"}", true);
}

Test(jdoc_misc, keys_length_extract_missing_and_mismatch)
{
	json_t *d = J("{\"o\":{\"z\":1,\"a\":2,\"日本\":3},\"arr\":[1,[2,3],{}],\"s\":\"x\"}"), *out;
	char msg[256];
	cr_assert_eq(jdoc_keys(d, "$.o", NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "[\"z\",\"a\",\"日本\"]", "keys in insertion order");
	json_decref(out);
	cr_assert_eq(jdoc_keys(d, NULL, NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "[\"o\",\"arr\",\"s\"]", "keys of the root");
	json_decref(out);
	cr_assert_eq(jdoc_keys(d, "$.missing", NULL, &out, msg, sizeof(msg)), 0);
	cr_assert_null(out, "a missing path gives null");
	cr_assert_eq(jdoc_keys(d, "$.arr", NULL, &out, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "is an array, not an object"), "%s", msg);
	cr_assert_eq(jdoc_array_length(d, "$.arr", NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "3", "array length");
	json_decref(out);
	cr_assert_eq(jdoc_array_length(d, "$.arr[1]", NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "2", "nested array length");
	json_decref(out);
	cr_assert_eq(jdoc_array_length(d, "$.nope", NULL, &out, msg, sizeof(msg)), 0);
	cr_assert_null(out);
	cr_assert_eq(jdoc_array_length(d, "$.s", NULL, &out, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "is a string, not an array"), "%s", msg);
	cr_assert_eq(jdoc_array_length(d, "$.o", NULL, &out, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_eq(jdoc_extract(d, "$.nope", false, NULL, &out, msg, sizeof(msg)), 0);
	cr_assert_null(out, "first match of nothing is NULL");
	cr_assert_eq(jdoc_extract(d, "$.arr[*]", false, NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "1", "first match");
	json_decref(out);
	cr_assert_eq(jdoc_extract(d, "$['日本']", true, NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "[]", "no such key");
	json_decref(out);
	cr_assert_eq(jdoc_extract(d, "$.o['日本']", true, NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "[3]", "unicode key");
	json_decref(out);
	json_decref(d);
}

static void merge(const char *t, const char *p, const char *want)
{
	json_t *a = J(t), *b = J(p), *r = jdoc_merge_patch(a, b);
	assert_json(r, want, p);
	json_decref(r);
	json_decref(a);
	json_decref(b);
}

Test(jdoc_merge, rfc7396_appendix_a)
{
	merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
	merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
	merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
	merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
	merge("{\"a\":\"foo\"}", "null", "null");
	merge("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
	merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
	merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
	merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

Test(jdoc_agg, agg_and_object_agg)
{
	json_t *docs = J("[{\"id\":\"a\",\"p\":1},{\"id\":\"b\"},{\"id\":7,\"p\":[2]},{\"id\":\"a\",\"p\":3}]"), *out;
	char msg[256];
	cr_assert_eq(jdoc_agg(docs, "$.p", NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "[1,[2],3]", "json_agg skips docs without the path");
	json_decref(out);
	cr_assert_eq(jdoc_agg(docs, NULL, NULL, &out, msg, sizeof(msg)), 0);
	cr_assert_eq(json_array_size(out), 4);
	json_decref(out);
	cr_assert_eq(jdoc_object_agg(docs, "$.id", "$.p", NULL, &out, msg, sizeof(msg)), 0);
	assert_json(out, "{\"a\":3,\"b\":null,\"7\":[2]}", "json_object_agg: later wins, number keys as text");
	json_decref(out);
	json_t *bad = J("[{\"id\":null}]");
	cr_assert_eq(jdoc_object_agg(bad, "$.id", NULL, NULL, &out, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "docs[0]"), "%s", msg);
	json_decref(bad);
	bad = J("{}");
	cr_assert_eq(jdoc_agg(bad, NULL, NULL, &out, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	json_decref(bad);
	json_decref(docs);
}

Test(jdoc_parse, errors_name_line_and_column)
{
	json_t *v;
	char msg[256];
	cr_assert_eq(jdoc_parse("[1, 2", 5, &v, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert(strstr(msg, "line 1 column"), "%s", msg);
	cr_assert_eq(jdoc_parse("{\"a\":1,\"a\":2}", 13, &v, msg, sizeof(msg)), STRATA_EBAD_REQUEST);
	cr_assert_eq(jdoc_parse("42", 2, &v, msg, sizeof(msg)), 0);
	cr_assert(json_is_integer(v));
	json_decref(v);
}
