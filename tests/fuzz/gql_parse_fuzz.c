/*
 * tests/fuzz/gql_parse_fuzz.c — fuzz target for the GraphQL parser and
 * validator.
 *
 * libFuzzer:  clang -fsanitize=fuzzer,address -DSTRATA_LIBFUZZER -I. -Iinclude \
 *               tests/fuzz/gql_parse_fuzz.c frontend/graphql/gql_{arena,parse,schema,validate,sdl}.c
 * gcc:        the same without -DSTRATA_LIBFUZZER builds a main() that runs
 *             the target over every file of a corpus directory, or over N
 *             random and mutated inputs: gql_parse_fuzz [DIR | -n N] [-s SEED]
 * Every input must parse or fail with a message; a valid document is then
 * validated against Strata's schema. Crashes, leaks and hangs are bugs.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/graphql/gql_ast.h"
#include "frontend/graphql/gql_schema.h"
#include "frontend/graphql/gql_sdl.h"
#include "frontend/graphql/gql_validate.h"

static struct gql_schema *schema;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!schema) {
		struct gql_error e;
		if (gql_schema_build(gql_strata_sdl, gql_strata_sdl_len, &schema, &e) != 0)
			abort();
	}
	struct gql_arena a;
	struct gql_document d;
	struct gql_error e;
	gql_arena_init(&a, 16u << 20);
	if (gql_parse(&a, (const char *)data, size, NULL, &d, &e) == 0) {
		struct gql_verrors ve = {0};
		gql_validate(schema, &d, NULL, &ve);
		gql_verrors_clear(&ve);
	} else if (!e.message[0]) {
		abort(); /* an error always says why */
	}
	gql_arena_free(&a);
	return 0;
}

#ifndef STRATA_LIBFUZZER
static const char *const seeds[] = {
	"query Q($a: Int = 1, $b: [String!]!) @d { alias: f(x: $a, y: [1, 2.5e3, \"s\", true, null, E, {k: $b}]) { ...F ... on T { g } } } fragment F on Query { status { pid } }",
	"subscription S($i: Int) { bufferPoolMetrics(intervalSeconds: $i) { hitRate evictions timestamp } }",
	"mutation { lsmBatch(tree: \"t\", ops: [{put: {key: \"a\", value: \"\"\"b\\\"\"\"\"\"}}]) { applied } }",
	"{ __schema { types { name fields(includeDeprecated: true) { name type { ofType { name } } } } } }",
	"\"\"\"d\"\"\" type T implements A & B @k { f(a: Int = 2): [T!]! } extend schema @x union U = A | B",
	"{ a(s: \"\\u00e9\\u{1F600}\\uD83D\\uDE00\") ... @skip(if: $x) { b } }",
};

static void run_one(const uint8_t *p, size_t n)
{
	LLVMFuzzerTestOneInput(p, n);
}

int main(int argc, char **argv)
{
	unsigned long n = 20000, seed = 1;
	const char *dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			seed = strtoul(argv[++i], NULL, 10);
		else
			dir = argv[i];
	}
	if (dir) {
		DIR *dh = opendir(dir);
		if (!dh) {
			perror(dir);
			return 2;
		}
		struct dirent *de;
		unsigned long files = 0;
		while ((de = readdir(dh))) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			static uint8_t buf[1 << 20];
			size_t len = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			run_one(buf, len);
			files++;
		}
		closedir(dh);
		printf("gql_parse_fuzz: %lu corpus files\n", files);
		gql_schema_free(schema);
		return 0;
	}
	/* random inputs: mutations of the seeds (byte flips, inserts of
	 * GraphQL punctuation, truncation, splices) and raw bytes */
	srand((unsigned)seed);
	static const char alphabet[] = "{}()[]:$@!=|&.\"\\ \n#,0123456789-eE_abcxyzQuerymutationfragmenton";
	uint8_t buf[4096];
	for (unsigned long i = 0; i < n; i++) {
		const char *s = seeds[(size_t)rand() % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(s);
		memcpy(buf, s, len);
		int muts = 1 + rand() % 8;
		for (int m = 0; m < muts; m++) {
			int kind = rand() % 5;
			size_t at = len ? (size_t)rand() % len : 0;
			if (kind == 0 && len) {
				buf[at] = (uint8_t)rand();
			} else if (kind == 1 && len + 1 < sizeof(buf)) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (uint8_t)alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
				len++;
			} else if (kind == 2) {
				len = at;
			} else if (kind == 3 && len) {
				size_t from = (size_t)rand() % len, cnt = (size_t)rand() % 64;
				if (from + cnt > len)
					cnt = len - from;
				if (len + cnt < sizeof(buf)) {
					memmove(buf + at + cnt, buf + at, len - at);
					memmove(buf + at, buf + from + (from >= at ? cnt : 0), cnt);
					len += cnt;
				}
			} else if (kind == 4 && len) {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
		}
		run_one(buf, len);
		if (i % 8 == 0) {
			size_t rl = (size_t)rand() % 256;
			for (size_t k = 0; k < rl; k++)
				buf[k] = (uint8_t)rand();
			run_one(buf, rl);
		}
	}
	printf("gql_parse_fuzz: %lu inputs (seed %lu)\n", n, seed);
	gql_schema_free(schema);
	return 0;
}
#endif
