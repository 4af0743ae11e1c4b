/*
 * tests/unit/test_graphql.c — the GraphQL language module: lexer and
 * parser (well-formed and malformed documents, limits), schema building,
 * validation (graphql-js's messages) and execution (null propagation,
 * fragments, directives, variables, introspection).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/graphql/gql_exec.h"
#include "frontend/graphql/gql_schema.h"
#include "frontend/graphql/gql_sdl.h"
#include "frontend/graphql/gql_validate.h"

static struct gql_schema *strata_schema(void)
{
	struct gql_schema *s = NULL;
	struct gql_error e;
	int rv = gql_schema_build(gql_strata_sdl, gql_strata_sdl_len, &s, &e);
	cr_assert_eq(rv, 0, "schema: %u:%u %s", e.loc.line, e.loc.column, e.message);
	return s;
}

/* Parses doc; returns the error message ("" when it parsed). */
static const char *parse_msg(const char *doc, struct gql_loc *loc)
{
	static struct gql_error e;
	struct gql_arena a;
	struct gql_document d;
	gql_arena_init(&a, 64u << 20);
	memset(&e, 0, sizeof(e));
	int rv = gql_parse(&a, doc, strlen(doc), NULL, &d, &e);
	gql_arena_free(&a);
	if (loc)
		*loc = e.loc;
	return rv == 0 ? "" : e.message;
}

Test(graphql_parse, well_formed_documents)
{
	const char *docs[] = {
		"{ a }",
		"query Q($a: Int = 1, $b: [String!]! @x) @d { alias: f(x: $a, y: [1, 2.5e3, \"s\", true, null, ENUM, {k: $b}]) { ...F ... on T { g } ... @skip(if: true) { h } } }",
		"fragment F on T { a }",
		"mutation { m }",
		"subscription S { s }",
		"\"\"\"\n  block\n    indented\n\"\"\" type T implements A & B @k { f(a: Int = 2): [T!]! }",
		"extend type T { g: Int } union U = | A | B enum E { X Y } input I { a: Int = 1 } scalar S @specifiedBy(url: \"u\") directive @d(a: Int) repeatable on FIELD | QUERY schema { query: Q }",
		"\xEF\xBB\xBF{ a, b, # comment\r\n c }",
		"{ f(s: \"\\u00e9\\n\\\"\\u{1F600}\\uD83D\\uDE00\") }",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		cr_expect_str_eq(parse_msg(docs[i], NULL), "", "doc %zu", i);
}

Test(graphql_parse, malformed_documents_are_errors_with_locations)
{
	struct {
		const char *doc, *msg;
		unsigned line, col;
	} cases[] = {
		{"", "Syntax Error: Unexpected <EOF>.", 1, 1},
		{"{", "Syntax Error: Expected Name, found <EOF>.", 1, 2},
		{"{ a", "Syntax Error: Expected Name, found <EOF>.", 1, 4},
		{"{ a(b) }", "Syntax Error: Expected \":\", found \")\".", 1, 6},
		{"query { a(b: $) }", "Syntax Error: Expected Name, found \")\".", 1, 15},
		{"{ a }\n}", "Syntax Error: Unexpected \"}\".", 2, 1},
		{"{ \"unterminated }", "Syntax Error: Unterminated string.", 1, 18},
		{"{ a(x: 01) }", "Syntax Error: Invalid number, unexpected digit after 0: \"1\".", 1, 9},
		{"{ a(x: 1.) }", "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 10},
		{"{ a ? }", "Syntax Error: Unexpected character: \"?\".", 1, 5},
		{"{ a(x: \"\\q\") }", "Syntax Error: Invalid character escape sequence: \"\\q\".", 1, 9},
		{"notakeyword { a }", "Syntax Error: Unexpected Name \"notakeyword\".", 1, 1},
		{"fragment on on T { a }", "Syntax Error: Unexpected Name \"on\".", 1, 10},
		{"query Q($a: Int = $b) { a }", "Syntax Error: Unexpected variable \"$b\" in constant value.", 1, 19},
		{"{ ..a }", "Syntax Error: Unexpected character: \".\".", 1, 3},
		{"\"desc\" query { a }", "Syntax Error: Unexpected description, descriptions are supported only on type definitions.", 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gql_loc loc;
		cr_expect_str_eq(parse_msg(cases[i].doc, &loc), cases[i].msg, "case %zu", i);
		cr_expect(loc.line == cases[i].line && loc.column == cases[i].col,
			  "case %zu: at %u:%u, expected %u:%u", i, loc.line, loc.column, cases[i].line,
			  cases[i].col);
	}
}

Test(graphql_parse, limits_are_errors)
{
	/* deep nesting */
	size_t n = 10000;
	char *deep = malloc(2 * n + 8);
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		deep[o++] = i == 0 ? '{' : '[';
	deep[o] = '\0';
	cr_expect(strstr(parse_msg(deep, NULL), "nesting") || strstr(parse_msg(deep, NULL), "Syntax"));
	o = 0;
	for (size_t i = 0; i < 200; i++)
		o += (size_t)sprintf(deep + o, "{a");
	deep[o] = '\0';
	cr_expect(strstr(parse_msg(deep, NULL), "deeper than") != NULL, "%s", parse_msg(deep, NULL));
	free(deep);
	/* size */
	size_t big = gql_default_limits.max_bytes + 10;
	char *doc = malloc(big + 1);
	memset(doc, ' ', big);
	doc[0] = '{';
	doc[1] = 'a';
	doc[big - 1] = '}';
	doc[big] = '\0';
	cr_expect(strstr(parse_msg(doc, NULL), "limit") != NULL);
	free(doc);
	/* tokens */
	size_t nt = gql_default_limits.max_tokens + 10;
	char *many = malloc(2 * nt + 4);
	o = 0;
	many[o++] = '{';
	for (size_t i = 0; i < nt; i++) {
		many[o++] = 'a';
		many[o++] = ' ';
	}
	many[o++] = '}';
	many[o] = '\0';
	cr_expect(strstr(parse_msg(many, NULL), "tokens") != NULL);
	free(many);
}

Test(graphql_parse, block_string_dedent_and_print)
{
	struct gql_arena a;
	struct gql_document d;
	struct gql_error e;
	gql_arena_init(&a, 0);
	const char *doc = "{ f(s: \"\"\"\n\n    line one\n      two \\\"\"\"\n\n  \"\"\", l: [1, {x: \"q\\\"\"}]) }";
	cr_assert_eq(gql_parse(&a, doc, strlen(doc), NULL, &d, &e), 0, "%s", e.message);
	const struct gql_argument *arg = d.definitions->selections->args;
	cr_expect_str_eq(arg->value->text, "line one\n  two \"\"\"");
	char buf[128];
	gql_print_value(arg->next->value, buf, sizeof(buf));
	cr_expect_str_eq(buf, "[1, {x: \"q\\\"\"}]");
	gql_arena_free(&a);
}

Test(graphql_schema, embedded_sdl_matches_schema_graphql)
{
	const char *paths[] = {"frontend/graphql/schema.graphql", "../frontend/graphql/schema.graphql",
			       "../../frontend/graphql/schema.graphql"};
	FILE *f = NULL;
	for (size_t i = 0; !f && i < 3; i++)
		f = fopen(paths[i], "rb");
	cr_assert(f, "schema.graphql not found (run from the repository root)");
	char *buf = malloc(gql_strata_sdl_len + 2);
	size_t n = fread(buf, 1, gql_strata_sdl_len + 1, f);
	fclose(f);
	cr_expect_eq(n, gql_strata_sdl_len, "schema.graphql changed: run frontend/graphql/embed_sdl.sh");
	cr_expect(memcmp(buf, gql_strata_sdl, n < gql_strata_sdl_len ? n : gql_strata_sdl_len) == 0,
		  "schema.graphql changed: run frontend/graphql/embed_sdl.sh");
	free(buf);
}

Test(graphql_schema, contains_the_seed_types_and_arguments)
{
	struct gql_schema *s = strata_schema();
	const struct gql_named_type *sub = s->subscription;
	cr_assert(sub);
	const struct gql_field *f = gql_type_field(s, sub, "bufferPoolMetrics");
	cr_assert(f && f->nargs == 1 && strcmp(f->args[0].name, "intervalSeconds") == 0);
	cr_expect_str_eq(f->args[0].default_value->text, "1");
	f = gql_type_field(s, sub, "storageTierMetrics");
	cr_expect_str_eq(f->args[0].default_value->text, "5");
	f = gql_type_field(s, sub, "lsmTreeEvents");
	cr_expect(f->args[0].type->kind == GQL_T_NON_NULL);
	cr_expect(gql_type_field(s, sub, "pageEvents") && gql_type_field(s, sub, "columnarEvents"));
	const char *seed[][2] = {
		{"BufferPoolMetrics", "totalPages"}, {"BufferPoolMetrics", "evictions"},
		{"LsmTreeEvent", "compactionProgress"}, {"StorageTierMetrics", "bytesSaved"},
		{"DiskIoMetrics", "avgWriteLatency"}, {"DiskIoMetrics", "avgLatency"},
		{"StorageTierMetrics", "migrations"}, {"DiskIoMetrics", "readThroughput"},
	};
	for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++)
		cr_expect(gql_type_field(s, gql_schema_type(s, seed[i][0]), seed[i][1]), "%s.%s",
			  seed[i][0], seed[i][1]);
	gql_schema_free(s);
}

Test(graphql_schema, bad_schemas_are_errors)
{
	const char *bad[] = {
		"type Query { a: Nope }",
		"type Query { a: Int } type Query { b: Int }",
		"type Query { a(x: Query): Int }",
		"type Mutation { a: Int }",
		"type Query { a: Int a: Int }",
		"type Query {",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gql_schema *s = NULL;
		struct gql_error e;
		cr_expect_neq(gql_schema_build(bad[i], strlen(bad[i]), &s, &e), 0, "schema %zu", i);
		cr_expect(e.message[0]);
	}
}

/* Validates doc against Strata's schema; returns the messages joined by '\n'. */
static char *validate_msgs(struct gql_schema *s, const char *doc)
{
	struct gql_arena a;
	struct gql_document d;
	struct gql_error e;
	gql_arena_init(&a, 0);
	char *out = calloc(1, 8192);
	if (gql_parse(&a, doc, strlen(doc), NULL, &d, &e) != 0) {
		snprintf(out, 8192, "PARSE %s", e.message);
	} else {
		struct gql_verrors ve = {0};
		gql_validate(s, &d, NULL, &ve);
		size_t o = 0;
		for (size_t i = 0; i < ve.n; i++)
			o += (size_t)snprintf(out + o, 8192 - o, "%s%s", i ? "\n" : "", ve.v[i].message);
		gql_verrors_clear(&ve);
	}
	gql_arena_free(&a);
	return out;
}

#define EXPECT_VALID(s, doc)                                                      \
	do {                                                                      \
		char *m_ = validate_msgs(s, doc);                                 \
		cr_expect_str_eq(m_, "", "%s", doc);                              \
		free(m_);                                                         \
	} while (0)

#define EXPECT_ERROR(s, doc, msg)                                                 \
	do {                                                                      \
		char *m_ = validate_msgs(s, doc);                                 \
		cr_expect(strstr(m_, msg) != NULL, "%s\n  got: %s\n  want: %s", doc, m_, msg); \
		free(m_);                                                         \
	} while (0)

Test(graphql_validate, seed_documents_are_valid)
{
	struct gql_schema *s = strata_schema();
	EXPECT_VALID(s, "subscription BufferPoolMetrics($intervalSeconds: Int) { bufferPoolMetrics(intervalSeconds: $intervalSeconds) { totalPages usedPages hitRate evictions dirtyPages timestamp } }");
	EXPECT_VALID(s, "subscription LsmTreeEvents($treeName: String!) { lsmTreeEvents(treeName: $treeName) { eventType level sstableCount compactionProgress timestamp } }");
	EXPECT_VALID(s, "subscription StorageTierMetrics($intervalSeconds: Int) { storageTierMetrics(intervalSeconds: $intervalSeconds) { hotPages warmPages coldPages migrations compressionRatio timestamp } }");
	EXPECT_VALID(s, "subscription DiskIoMetrics($intervalSeconds: Int) { diskIoMetrics(intervalSeconds: $intervalSeconds) { reads writes readThroughput writeThroughput iops avgLatency timestamp } }");
	EXPECT_VALID(s, "query Q($t: String!, $n: Int = 5) { lsmScan(tree: $t, limit: $n) { items { key value } next } status { pid } }");
	EXPECT_VALID(s, "{ ...F a: bufferPool { hitRate } ... on Query { disks { path } } } fragment F on Query { ioStats { reads @skip(if: false) } }");
	EXPECT_VALID(s, "mutation M($ops: [LsmBatchOp!]!) { lsmBatch(tree: \"t\", ops: $ops) { applied } }");
	EXPECT_VALID(s, "mutation { lsmBatch(tree: \"t\", ops: [{put: {key: \"a\", value: \"b\"}}, {delete: {key: \"c\"}}]) { applied } }");
	gql_schema_free(s);
}

Test(graphql_validate, invalid_documents_give_graphql_js_messages)
{
	struct gql_schema *s = strata_schema();
	EXPECT_ERROR(s, "{ bufferPol { hitRate } }", "Cannot query field \"bufferPol\" on type \"Query\". Did you mean \"bufferPool\"?");
	EXPECT_ERROR(s, "{ bufferPool }", "Field \"bufferPool\" of type \"BufferPoolStats!\" must have a selection of subfields. Did you mean \"bufferPool { ... }\"?");
	EXPECT_ERROR(s, "{ bufferPool { hitRate { x } } }", "Field \"hitRate\" must not have a selection since type \"Float!\" has no subfields.");
	EXPECT_ERROR(s, "{ lsmTree { name } }", "Field \"lsmTree\" argument \"name\" of type \"String!\" is required, but it was not provided.");
	EXPECT_ERROR(s, "{ lsmTree(name: \"a\", nme: 1) { name } }", "Unknown argument \"nme\" on field \"Query.lsmTree\". Did you mean \"name\"?");
	EXPECT_ERROR(s, "{ lsmTree(name: 5) { name } }", "String cannot represent a non string value: 5");
	EXPECT_ERROR(s, "{ record(pageId: 1, slot: \"x\") { slot } }", "Int cannot represent non-integer value: \"x\"");
	EXPECT_ERROR(s, "{ record(pageId: 1, slot: 3000000000) { slot } }", "Int cannot represent non 32-bit signed integer value: 3000000000");
	EXPECT_ERROR(s, "query Q { lsmTree(name: $n) { name } }", "Variable \"$n\" is not defined by operation \"Q\".");
	EXPECT_ERROR(s, "query Q($n: String) { lsmTree(name: $n) { name } }", "Variable \"$n\" of type \"String\" used in position expecting type \"String!\".");
	EXPECT_ERROR(s, "query Q($n: String!) { status { pid } }", "Variable \"$n\" is never used in operation \"Q\".");
	EXPECT_ERROR(s, "query Q($n: Strin) { status { pid } }", "Unknown type \"Strin\". Did you mean \"String\"?");
	EXPECT_ERROR(s, "query Q($n: Status) { status { pid } }", "Variable \"$n\" cannot be non-input type \"Status\".");
	EXPECT_ERROR(s, "{ ...Nope }", "Unknown fragment \"Nope\".");
	EXPECT_ERROR(s, "{ status { pid } } fragment F on Query { status { pid } }", "Fragment \"F\" is never used.");
	EXPECT_ERROR(s, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", "Cannot spread fragment \"A\" within itself via \"B\".");
	EXPECT_ERROR(s, "{ ...F } fragment F on Int { a }", "Fragment \"F\" cannot condition on non composite type \"Int\".");
	EXPECT_ERROR(s, "{ ... on Status { pid } }", "Fragment cannot be spread here as objects of type \"Query\" can never be of type \"Status\".");
	EXPECT_ERROR(s, "query A { status { pid } } query A { status { pid } }", "There can be only one operation named \"A\".");
	EXPECT_ERROR(s, "{ status { pid } } query B { status { pid } }", "This anonymous operation must be the only defined operation.");
	EXPECT_ERROR(s, "subscription S { bufferPoolMetrics { hitRate } diskIoMetrics { iops } }", "Subscription \"S\" must select only one top level field.");
	EXPECT_ERROR(s, "{ status @nope { pid } }", "Unknown directive \"@nope\".");
	EXPECT_ERROR(s, "query @skip(if: true) { status { pid } }", "Directive \"@skip\" may not be used on QUERY.");
	EXPECT_ERROR(s, "{ status @skip(if: true) @skip(if: false) { pid } }", "The directive \"@skip\" can only be used once at this location.");
	EXPECT_ERROR(s, "{ status @include { pid } }", "Directive \"@include\" argument \"if\" of type \"Boolean!\" is required, but it was not provided.");
	EXPECT_ERROR(s, "{ lsmTree(name: \"a\", name: \"b\") { name } }", "There can be only one argument named \"name\".");
	EXPECT_ERROR(s, "{ status { pid: version } }", "");
	EXPECT_ERROR(s, "{ status { pid pid: version } }", "Fields \"pid\" conflict because \"pid\" and \"version\" are different fields.");
	EXPECT_ERROR(s, "mutation { lsmBatch(tree: \"t\", ops: [{put: {key: \"a\"}}]) { applied } }", "Field \"LsmPutInput.value\" of required type \"String!\" was not provided.");
	EXPECT_ERROR(s, "mutation { lsmBatch(tree: \"t\", ops: [{pt: {key: \"a\"}}]) { applied } }", "Field \"pt\" is not defined by type \"LsmBatchOp\". Did you mean \"put\"?");
	EXPECT_ERROR(s, "type T { a: Int }", "The \"T\" definition is not executable.");
	EXPECT_ERROR(s, "{ lsmTree(name: null) { name } }", "Expected value of type \"String!\", found null.");
	gql_schema_free(s);
}

/* The errors of one document: count, first message, its locations. */
static size_t validate_one(struct gql_schema *s, const char *doc, char *msg, size_t n,
			   struct gql_loc *locs, unsigned *nlocs)
{
	struct gql_arena a;
	struct gql_document d;
	struct gql_error e;
	gql_arena_init(&a, 0);
	size_t count = 0;
	msg[0] = '\0';
	*nlocs = 0;
	if (gql_parse(&a, doc, strlen(doc), NULL, &d, &e) == 0) {
		struct gql_verrors ve = {0};
		count = gql_validate(s, &d, NULL, &ve);
		if (count) {
			snprintf(msg, n, "%s", ve.v[0].message);
			for (unsigned i = 0; i < ve.v[0].nlocs && i < 64; i++)
				locs[(*nlocs)++] = ve.v[0].locs[i];
		}
		gql_verrors_clear(&ve);
	}
	gql_arena_free(&a);
	return count;
}

Test(graphql_validate, overlapping_fields_as_graphql_js)
{
	struct gql_schema *s = strata_schema();
	char m[4096];
	struct gql_loc l[64];
	unsigned nl;
	/* sub-selections: the enclosing fields' locations, then the subfields' */
	cr_expect_eq(validate_one(s, "{ status { pid } status { pid: version } }", m, sizeof(m), l, &nl), 1);
	cr_expect_str_eq(m, "Fields \"status\" conflict because subfields \"pid\" conflict because \"pid\" and \"version\" are different fields. Use different aliases on the fields to fetch both if this was intentional.");
	cr_assert_eq(nl, 4);
	cr_expect(l[0].column == 3 && l[1].column == 12 && l[2].column == 18 && l[3].column == 27);
	/* step I compares the second set with the first's fragments: sides swapped */
	cr_expect_eq(validate_one(s, "{ a: status { ...S } a: status { pid: version } } fragment S on Status { pid }", m, sizeof(m), l, &nl), 1);
	cr_assert_eq(nl, 4);
	cr_expect(l[0].column == 3 && l[1].column == 34 && l[2].column == 22 && l[3].column == 74,
		  "%u %u %u %u", l[0].column, l[1].column, l[2].column, l[3].column);
	cr_expect_str_eq(m, "Fields \"a\" conflict because subfields \"pid\" conflict because \"version\" and \"pid\" are different fields. Use different aliases on the fields to fetch both if this was intentional.");
	/* different object parents are mutually exclusive, down the sub-selections */
	cr_expect_eq(validate_one(s, "{ ... on Query { t: tiers { thresholds { hot } } } ... on TierStats { t: thresholds { hot: cold } } }", m, sizeof(m), l, &nl), 1);
	cr_expect(strstr(m, "can never be of type") != NULL, "%s", m);
	cr_expect_eq(validate_one(s, "{ tierPage(id: 1) { ... on TierPage { data } ... on TierPageData { data } } }", m, sizeof(m), l, &nl), 2);
	/* arguments compared as printed values; object fields in name order */
	cr_expect_eq(validate_one(s, "{ jsonKeys(json: {a: 1, b: [2]}) jsonKeys(json: {b: [2], a: 1}) }", m, sizeof(m), l, &nl), 0);
	cr_expect_eq(validate_one(s, "{ lsmTree(name: \"a\") { name } lsmTree(name: \"\"\"a\"\"\") { name } }", m, sizeof(m), l, &nl), 1);
	cr_expect_str_eq(m, "Fields \"lsmTree\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.");
	/* more than 256 fields of one name: none left out */
	char doc[16384];
	size_t o = (size_t)snprintf(doc, sizeof(doc), "{ ");
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "a: status { pid } ");
	snprintf(doc + o, sizeof(doc) - o, "a: bufferPool { hits } }");
	cr_expect_eq(validate_one(s, doc, m, sizeof(m), l, &nl), 101);
	/* the complexity budget: validation aborted */
	o = (size_t)snprintf(doc, sizeof(doc), "{ ");
	for (int i = 0; i < 448; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, "status { pid } ");
	snprintf(doc + o, sizeof(doc) - o, "}");
	cr_expect_eq(validate_one(s, doc, m, sizeof(m), l, &nl), 1);
	cr_expect_str_eq(m, "Validation aborted.");
	doc[o - 15] = '}';
	doc[o - 14] = '\0';
	cr_expect_eq(validate_one(s, doc, m, sizeof(m), l, &nl), 0);
	gql_schema_free(s);
}

Test(graphql_validate, depth_and_field_limits)
{
	struct gql_schema *s = strata_schema();
	char doc[8192];
	size_t o = (size_t)snprintf(doc, sizeof(doc), "{ __schema { types { fields { type");
	for (int i = 0; i < 30; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, " { ofType");
	o += (size_t)snprintf(doc + o, sizeof(doc) - o, " { name }");
	for (int i = 0; i < 30; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o, " }");
	snprintf(doc + o, sizeof(doc) - o, " } } } }");
	EXPECT_ERROR(s, doc, "nested deeper than the limit");
	/* fragments multiply: 2 spreads per level, 12 levels: over 4096 fields */
	o = (size_t)snprintf(doc, sizeof(doc), "{ ...F0 }");
	for (int i = 0; i < 12; i++)
		o += (size_t)snprintf(doc + o, sizeof(doc) - o,
				      " fragment F%d on Query { ...F%d a%d: status { pid } ...F%d }", i, i + 1,
				      i, i + 1);
	snprintf(doc + o, sizeof(doc) - o, " fragment F12 on Query { status { pid } }");
	EXPECT_ERROR(s, doc, "more than the limit");
	gql_schema_free(s);
}

/* ---- execution against a small schema with resolvers ---- */

static const char test_sdl[] =
	"scalar BigInt scalar DateTime\n"
	"type Query { a: Int! b: String n: Int c: Child d: Child! list: [Int!] items: [Child!]! big: BigInt when: DateTime echo(x: Int = 7, s: [String!], i: In): String }\n"
	"type Child { x: Int! y: String z: Int }\n"
	"input In { k: Int! v: String = \"dv\" }\n"
	"type Mutation { set(v: Int!): Int! }\n";

static int fail_resolver(struct gql_exec *ex, const struct gql_field *f, json_t *src, json_t *args,
			 const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)ex, (void)f, (void)src, (void)args, (void)data, (void)out;
	snprintf(msg, msglen, "boom");
	return -1;
}

static int echo_resolver(struct gql_exec *ex, const struct gql_field *f, json_t *src, json_t *args,
			 const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)ex, (void)f, (void)src, (void)data, (void)msg, (void)msglen;
	char *t = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	*out = json_string(t);
	free(t);
	return 0;
}

static const struct gql_resolver test_resolvers[] = {
	{"Child", "z", fail_resolver, NULL},
	{"Query", "echo", echo_resolver, NULL},
};

static char *run(struct gql_schema *s, const char *doc, const char *vars, json_t *root)
{
	struct gql_prepared p;
	json_t *resp = NULL, *v = vars ? json_loads(vars, 0, NULL) : NULL;
	if (gql_prepare(s, doc, strlen(doc), v, NULL, &p, &resp) == 0) {
		resp = gql_execute(&p, test_resolvers, 2, root, NULL);
		gql_prepared_clear(&p);
	}
	json_decref(v);
	char *t = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return t;
}

Test(graphql_exec, values_nulls_and_errors)
{
	struct gql_schema *s = NULL;
	struct gql_error e;
	cr_assert_eq(gql_schema_build(test_sdl, strlen(test_sdl), &s, &e), 0, "%s", e.message);
	json_t *root = json_loads("{\"a\":1,\"b\":\"x\",\"c\":{\"x\":2},\"list\":[1,2],\"items\":[{\"x\":1},{\"x\":null}],\"big\":9007199254740993,\"when\":0}", 0, NULL);
	char *r;

	r = run(s, "{ a b n big when list alias: a __typename }", NULL, root);
	cr_expect_str_eq(r, "{\"data\":{\"a\":1,\"b\":\"x\",\"n\":null,\"big\":\"9007199254740993\",\"when\":\"1970-01-01T00:00:00Z\",\"list\":[1,2],\"alias\":1,\"__typename\":\"Query\"}}");
	free(r);
	/* a resolver error on a nullable field: null + error with path */
	r = run(s, "{ c { x z } }", NULL, root);
	cr_expect_str_eq(r, "{\"errors\":[{\"message\":\"boom\",\"locations\":[{\"line\":1,\"column\":9}],\"path\":[\"c\",\"z\"]}],\"data\":{\"c\":{\"x\":2,\"z\":null}}}");
	free(r);
	/* non-null list item is null: the whole non-null list bubbles to data: null */
	r = run(s, "{ a items { x } }", NULL, root);
	cr_expect_str_eq(r, "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field Child.x.\",\"locations\":[{\"line\":1,\"column\":13}],\"path\":[\"items\",1,\"x\"]}],\"data\":null}");
	free(r);
	/* d is null but non-null: data null */
	r = run(s, "{ d { x } }", NULL, root);
	cr_expect(strstr(r, "Cannot return null for non-nullable field Query.d.") && strstr(r, "\"data\":null"), "%s", r);
	free(r);
	/* fragments, directives and merging */
	r = run(s, "query($no: Boolean = true) { ...F c { y } b @skip(if: $no) a @include(if: $no) } fragment F on Query { c { x } }", NULL, root);
	cr_expect_str_eq(r, "{\"data\":{\"c\":{\"x\":2,\"y\":null},\"a\":1}}");
	free(r);
	/* arguments: defaults, variables, input objects with defaults, list coercion */
	r = run(s, "query($s: [String!]) { echo(s: $s, i: {k: 1}) }", "{\"s\":\"one\"}", root);
	cr_expect_str_eq(r, "{\"data\":{\"echo\":\"{\\\"i\\\":{\\\"k\\\":1,\\\"v\\\":\\\"dv\\\"},\\\"s\\\":[\\\"one\\\"],\\\"x\\\":7}\"}}");
	free(r);
	/* bad variables */
	r = run(s, "query($x: Int!) { echo(x: $x) }", "{\"x\":\"nope\"}", root);
	cr_expect(strstr(r, "Variable \\\"$x\\\" got invalid value \\\"nope\\\"; Int cannot represent non-integer value"), "%s", r);
	free(r);
	r = run(s, "query($x: Int!) { echo(x: $x) }", NULL, root);
	cr_expect(strstr(r, "Variable \\\"$x\\\" of required type \\\"Int!\\\" was not provided."), "%s", r);
	free(r);
	/* operation selection */
	r = run(s, "query A { a } query B { b }", NULL, root);
	cr_expect(strstr(r, "Must provide operation name"), "%s", r);
	free(r);
	json_decref(root);
	gql_schema_free(s);
}

/* The JSON scalar: any literal (objects, lists, nested variables) or variable, as itself. */
Test(graphql_exec, json_scalar_literals_and_variables)
{
	static const char sdl[] = "scalar JSON\n"
				  "type Query { echo(j: JSON, l: [JSON!], n: JSON!): String out: JSON }\n";
	struct gql_schema *s = NULL;
	struct gql_error e;
	cr_assert_eq(gql_schema_build(sdl, strlen(sdl), &s, &e), 0, "%s", e.message);
	json_t *root = json_loads("{\"out\":{\"a\":[1,null,{\"b\":\"c\"}]}}", 0, NULL);
	char *r;
	r = run(s, "query($v: Int = 5) { echo(j: {a: [1, 2.5, \"s\", true, null, E], b: {c: $v}}, n: [], l: {x: 1}) out }", NULL, root);
	cr_expect_str_eq(r, "{\"data\":{\"echo\":\"{\\\"j\\\":{\\\"a\\\":[1,2.5,\\\"s\\\",true,null,\\\"E\\\"],\\\"b\\\":{\\\"c\\\":5}},\\\"l\\\":[{\\\"x\\\":1}],\\\"n\\\":[]}\",\"out\":{\"a\":[1,null,{\"b\":\"c\"}]}}}");
	free(r);
	/* variables of type JSON pass unchanged; a JSON default is a literal too */
	r = run(s, "query($d: JSON!, $e: JSON = {k: [\"v\"]}) { echo(n: $d, j: $e, l: [$d, 3]) }", "{\"d\":{\"deep\":[{\"x\":null}]}}", root);
	cr_expect_str_eq(r, "{\"data\":{\"echo\":\"{\\\"j\\\":{\\\"k\\\":[\\\"v\\\"]},\\\"l\\\":[{\\\"deep\\\":[{\\\"x\\\":null}]},3],\\\"n\\\":{\\\"deep\\\":[{\\\"x\\\":null}]}}\"}}");
	free(r);
	/* JSON! still refuses null */
	r = run(s, "{ echo(n: null) }", NULL, root);
	cr_expect(strstr(r, "\"errors\"") && strstr(r, "JSON!"), "%s", r);
	free(r);
	json_decref(root);
	gql_schema_free(s);
}

Test(graphql_exec, introspection)
{
	struct gql_schema *s = strata_schema();
	char *r = run(s, "{ __schema { queryType { name } subscriptionType { name } types { name } directives { name locations args { name defaultValue } } } }", NULL, NULL);
	cr_expect(strstr(r, "\"queryType\":{\"name\":\"Query\"}") && strstr(r, "\"name\":\"BufferPoolMetrics\"") &&
		  strstr(r, "\"name\":\"__Schema\"") && strstr(r, "{\"name\":\"reason\",\"defaultValue\":\"\\\"No longer supported\\\"\"}"),
		  "%.2000s", r);
	free(r);
	r = run(s, "{ __type(name: \"Subscription\") { kind fields { name args { name defaultValue type { kind name } } type { kind ofType { name } } } } }", NULL, NULL);
	cr_expect(strstr(r, "{\"name\":\"intervalSeconds\",\"defaultValue\":\"5\",\"type\":{\"kind\":\"SCALAR\",\"name\":\"Int\"}}"), "%.3000s", r);
	free(r);
	r = run(s, "{ __type(name: \"Nope\") { name } }", NULL, NULL);
	cr_expect_str_eq(r, "{\"data\":{\"__type\":null}}");
	free(r);
	gql_schema_free(s);
}
