/* cli/cmd_partitions.c — `strata partitions ...`. JSON arguments are given
 * as JSON text (quote them for the shell). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char use[] =
	"strata partitions tables | table NAME | create SPEC_JSON | drop-table NAME |\n"
	"       list [TABLE] | add TABLE NAME DEFINITION_JSON | drop ID |\n"
	"       insert TABLE ROWS_JSON | query TABLE [WHERE_JSON [LIMIT]] | for TABLE VALUE [HASH_VALUE]\n"
	"   e.g. strata partitions create '{\"name\":\"events\",\"key\":\"day\",\"strategy\":\"range\","
	"\"partitions\":[{\"name\":\"p1\",\"from\":0,\"to\":100}]}'";

static json_t *parse_json(const char *what, const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	if (!j)
		fprintf(stderr, "strata partitions: %s is not JSON: %s (column %d)\n", what, je.text, je.column);
	return j;
}

int cli_cmd_partitions(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error(use);
	const char *sub = argv[0];
	json_t *j;
	if (strcmp(sub, "tables") == 0 && argc == 1)
		return cli_run(c, "partitions.list_tables", json_object());
	if (strcmp(sub, "table") == 0 && argc == 2)
		return cli_run(c, "partitions.get_table", json_pack("{s:s}", "name", argv[1]));
	if (strcmp(sub, "drop-table") == 0 && argc == 2)
		return cli_run(c, "partitions.drop_table", json_pack("{s:s}", "name", argv[1]));
	if (strcmp(sub, "create") == 0 && argc == 2) {
		if (!(j = parse_json("SPEC_JSON", argv[1])))
			return 2;
		return cli_run(c, "partitions.create_table", j);
	}
	if (strcmp(sub, "list") == 0 && argc <= 2)
		return cli_run(c, "partitions.list", argc == 2 ? json_pack("{s:s}", "table", argv[1]) : json_object());
	if (strcmp(sub, "add") == 0 && argc == 4) {
		if (!(j = parse_json("DEFINITION_JSON", argv[3])))
			return 2;
		return cli_run(c, "partitions.add", json_pack("{s:s, s:s, s:o}", "table", argv[1], "name", argv[2],
							     "definition", j));
	}
	if (strcmp(sub, "drop") == 0 && argc == 2) {
		char *end;
		long long id = strtoll(argv[1], &end, 10);
		if (!*argv[1] || *end || id <= 0)
			return cli_usage_error(use);
		return cli_run(c, "partitions.drop", json_pack("{s:I}", "id", (json_int_t)id));
	}
	if (strcmp(sub, "insert") == 0 && argc == 3) {
		if (!(j = parse_json("ROWS_JSON", argv[2])))
			return 2;
		if (json_is_object(j)) { /* one row */
			json_t *arr = json_array();
			json_array_append_new(arr, j);
			j = arr;
		}
		return cli_run(c, "partitions.insert", json_pack("{s:s, s:o}", "name", argv[1], "rows", j));
	}
	if (strcmp(sub, "query") == 0 && argc >= 2 && argc <= 4) {
		json_t *a = json_pack("{s:s}", "name", argv[1]);
		if (argc >= 3) {
			if (!(j = parse_json("WHERE_JSON", argv[2]))) {
				json_decref(a);
				return 2;
			}
			json_object_set_new(a, "where", j);
		}
		if (argc == 4)
			json_object_set_new(a, "limit", json_integer(atoi(argv[3])));
		return cli_run(c, "partitions.query", a);
	}
	if (strcmp(sub, "for") == 0 && (argc == 3 || argc == 4)) {
		json_t *a = json_pack("{s:s, s:s}", "name", argv[1], "value", argv[2]);
		if (argc == 4)
			json_object_set_new(a, "hash_value", json_string(argv[3]));
		return cli_run(c, "partitions.partition_for", a);
	}
	return cli_usage_error(use);
}
