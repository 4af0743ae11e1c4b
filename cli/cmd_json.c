/* cli/cmd_json.c — `strata json ...`: JSONPath on a document given on the
 * command line, and document collections. A JSON argument may be "-" to
 * read it from stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char USE[] =
	"strata json extract JSON PATH [--first] | collections [create NAME [TABLESPACE] | drop NAME] |\n"
	"       put COLL ID JSON | get COLL ID | del COLL ID | list COLL [LIMIT [AFTER]] |\n"
	"       index COLL PATH | indexes COLL | unindex COLL PATH |\n"
	"       query COLL PATH OP VALUE [LIMIT] [--docs]   (OP: = < <= > >= contains; VALUE is JSON,\n"
	"       or a string when it does not parse)";

/* JSON text from an argument or stdin ("-"); NULL after printing why. */
static json_t *json_arg(const char *arg, bool string_fallback)
{
	json_error_t je;
	json_t *v;
	if (strcmp(arg, "-") == 0)
		v = json_loadf(stdin, JSON_DECODE_ANY, &je);
	else
		v = json_loads(arg, JSON_DECODE_ANY, &je);
	if (!v && string_fallback)
		return json_string(arg);
	if (!v)
		fprintf(stderr, "strata: invalid JSON at line %d column %d: %s\n", je.line, je.column,
			je.text);
	return v;
}

static int cmd_collections(struct cli *c, int argc, char **argv)
{
	if (argc == 0)
		return cli_run(c, "json.collection_list", json_object());
	if (strcmp(argv[0], "create") == 0 && (argc == 2 || argc == 3)) {
		json_t *a = json_pack("{s:s}", "name", argv[1]);
		if (argc == 3)
			json_object_set_new(a, "tablespace", json_string(argv[2]));
		return cli_run(c, "json.collection_create", a);
	}
	if (strcmp(argv[0], "drop") == 0 && argc == 2)
		return cli_run(c, "json.collection_drop", json_pack("{s:s}", "collection", argv[1]));
	if (strcmp(argv[0], "get") == 0 && argc == 2)
		return cli_run(c, "json.collection_get", json_pack("{s:s}", "collection", argv[1]));
	return cli_usage_error(USE);
}

static bool take_flag(int *argc, char **argv, const char *flag)
{
	for (int i = 0; i < *argc; i++)
		if (strcmp(argv[i], flag) == 0) {
			memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof(*argv));
			(*argc)--;
			return true;
		}
	return false;
}

static bool parse_limit(const char *s, json_int_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < 1)
		return false;
	*out = v;
	return true;
}

int cli_cmd_json(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error(USE);
	const char *sub = argv[0];
	argc--;
	argv++;
	json_int_t limit;
	if (strcmp(sub, "extract") == 0) {
		bool first = take_flag(&argc, argv, "--first");
		if (argc != 2)
			return cli_usage_error(USE);
		json_t *doc = json_arg(argv[0], false);
		if (!doc)
			return 2;
		return cli_run(c, "json.extract",
			       json_pack("{s:o, s:s, s:b}", "json", doc, "path", argv[1], "all", !first));
	}
	if (strcmp(sub, "collections") == 0)
		return cmd_collections(c, argc, argv);
	if (strcmp(sub, "put") == 0 && argc == 3) {
		json_t *doc = json_arg(argv[2], false);
		if (!doc)
			return 2;
		return cli_run(c, "json.doc_put", json_pack("{s:s, s:s, s:o}", "collection", argv[0], "id",
							    argv[1], "doc", doc));
	}
	if (strcmp(sub, "get") == 0 && argc == 2)
		return cli_run(c, "json.doc_get", json_pack("{s:s, s:s}", "collection", argv[0], "id", argv[1]));
	if (strcmp(sub, "del") == 0 && argc == 2)
		return cli_run(c, "json.doc_delete",
			       json_pack("{s:s, s:s}", "collection", argv[0], "id", argv[1]));
	if (strcmp(sub, "list") == 0 && argc >= 1 && argc <= 3) {
		json_t *a = json_pack("{s:s}", "collection", argv[0]);
		if (argc >= 2) {
			if (!parse_limit(argv[1], &limit)) {
				json_decref(a);
				return cli_usage_error(USE);
			}
			json_object_set_new(a, "limit", json_integer(limit));
		}
		if (argc == 3)
			json_object_set_new(a, "after", json_string(argv[2]));
		return cli_run(c, "json.doc_list", a);
	}
	if (strcmp(sub, "index") == 0 && argc == 2)
		return cli_run(c, "json.index_create",
			       json_pack("{s:s, s:s}", "collection", argv[0], "path", argv[1]));
	if (strcmp(sub, "unindex") == 0 && argc == 2)
		return cli_run(c, "json.index_drop",
			       json_pack("{s:s, s:s}", "collection", argv[0], "path", argv[1]));
	if (strcmp(sub, "indexes") == 0 && argc == 1)
		return cli_run(c, "json.index_list", json_pack("{s:s}", "collection", argv[0]));
	if (strcmp(sub, "query") == 0) {
		bool docs = take_flag(&argc, argv, "--docs");
		if (argc != 4 && argc != 5)
			return cli_usage_error(USE);
		json_t *v = json_arg(argv[3], true);
		if (!v)
			return 2;
		json_t *a = json_pack("{s:s, s:s, s:s, s:o, s:b}", "collection", argv[0], "path", argv[1],
				      "op", argv[2], "value", v, "include_docs", docs);
		if (argc == 5) {
			if (!parse_limit(argv[4], &limit)) {
				json_decref(a);
				return cli_usage_error(USE);
			}
			json_object_set_new(a, "limit", json_integer(limit));
		}
		return cli_run(c, "json.query", a);
	}
	return cli_usage_error(USE);
}
