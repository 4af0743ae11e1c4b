/* cli/cmd_tablespaces.c — `strata tablespaces ...`. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char use[] =
	"strata tablespaces list | get ID | create NAME [QUOTA_BYTES|-] [LOCATION] |\n"
	"       rename ID NAME | quota ID QUOTA_BYTES|none | drop ID";

static int parse_u64(const char *s, json_int_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

int cli_cmd_tablespaces(struct cli *c, int argc, char **argv)
{
	json_int_t id, q;
	if (argc < 1)
		return cli_usage_error(use);
	const char *sub = argv[0];
	if (strcmp(sub, "list") == 0 && argc == 1)
		return cli_run(c, "tablespaces.list", json_object());
	if (strcmp(sub, "create") == 0 && argc >= 2 && argc <= 4) {
		json_t *a = json_pack("{s:s}", "name", argv[1]);
		if (argc >= 3 && strcmp(argv[2], "-") != 0) {
			if (parse_u64(argv[2], &q) != 0) {
				json_decref(a);
				return cli_usage_error(use);
			}
			json_object_set_new(a, "quota_bytes", json_integer(q));
		}
		if (argc == 4)
			json_object_set_new(a, "location", json_string(argv[3]));
		return cli_run(c, "tablespaces.create", a);
	}
	if (argc < 2 || parse_u64(argv[1], &id) != 0)
		return cli_usage_error(use);
	if (strcmp(sub, "get") == 0 && argc == 2)
		return cli_run(c, "tablespaces.get", json_pack("{s:I}", "id", id));
	if (strcmp(sub, "drop") == 0 && argc == 2)
		return cli_run(c, "tablespaces.drop", json_pack("{s:I}", "id", id));
	if (strcmp(sub, "rename") == 0 && argc == 3)
		return cli_run(c, "tablespaces.update", json_pack("{s:I, s:s}", "id", id, "name", argv[2]));
	if (strcmp(sub, "quota") == 0 && argc == 3) {
		if (strcmp(argv[2], "none") == 0)
			return cli_run(c, "tablespaces.update", json_pack("{s:I, s:n}", "id", id, "quota_bytes"));
		if (parse_u64(argv[2], &q) != 0)
			return cli_usage_error(use);
		return cli_run(c, "tablespaces.update", json_pack("{s:I, s:I}", "id", id, "quota_bytes", q));
	}
	return cli_usage_error(use);
}
