/* cli/cmd_columnar.c — `strata columnar ...`: one control op per command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char use[] =
	"strata columnar list | create NAME COL:TYPE[:null|:notnull]... [--tablespace TS] |\n"
	"       drop NAME | info NAME | insert NAME JSON   (JSON: {\"rows\":[...]} or {\"columns\":{...}}, - reads stdin) |\n"
	"       column NAME COL [WHERE [OFFSET [LIMIT]]] | project NAME COLS [WHERE [OFFSET [LIMIT]]] |\n"
	"       stats NAME COL | aggregate NAME FN [COL [WHERE]]\n"
	"       (TYPE: int64 float64 bool string timestamp; FN: count sum min max avg;\n"
	"        WHERE like \"price<10 and status=paid\"; \"\" for none)";

static json_t *read_json_arg(const char *arg)
{
	json_error_t je;
	json_t *j;
	if (strcmp(arg, "-") == 0)
		j = json_loadf(stdin, 0, &je);
	else
		j = json_loads(arg, 0, &je);
	if (!j)
		fprintf(stderr, "strata columnar: bad JSON at line %d column %d: %s\n", je.line,
			je.column, je.text);
	return j;
}

/* Adds where/offset/limit from argv[i..]. */
static void page_args(json_t *a, int argc, char **argv, int i)
{
	if (argc > i && argv[i][0])
		json_object_set_new(a, "where", json_string(argv[i]));
	if (argc > i + 1)
		json_object_set_new(a, "offset", json_integer(atoll(argv[i + 1])));
	if (argc > i + 2)
		json_object_set_new(a, "limit", json_integer(atoll(argv[i + 2])));
}

int cli_cmd_columnar(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error(use);
	const char *sub = argv[0];
	if (strcmp(sub, "list") == 0 && argc == 1)
		return cli_run(c, "columnar.list", json_object());
	if (argc < 2)
		return cli_usage_error(use);
	const char *name = argv[1];
	if (strcmp(sub, "create") == 0 && argc >= 3) {
		json_t *cols = json_array();
		json_t *a = json_pack("{s:s, s:o}", "name", name, "columns", cols);
		for (int i = 2; a && i < argc; i++) {
			if (strcmp(argv[i], "--tablespace") == 0 && i + 1 < argc) {
				json_object_set_new(a, "tablespace", json_string(argv[++i]));
				continue;
			}
			char spec[256];
			snprintf(spec, sizeof(spec), "%s", argv[i]);
			char *ty = strchr(spec, ':');
			if (!ty) {
				json_decref(a);
				return cli_usage_error(use);
			}
			*ty++ = '\0';
			char *nl = strchr(ty, ':');
			bool nullable = true;
			if (nl) {
				*nl++ = '\0';
				nullable = strcmp(nl, "notnull") != 0;
			}
			json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name", spec, "type", ty,
							      "nullable", nullable));
		}
		return cli_run(c, "columnar.create", a);
	}
	if (strcmp(sub, "drop") == 0 && argc == 2)
		return cli_run(c, "columnar.drop", json_pack("{s:s}", "name", name));
	if (strcmp(sub, "info") == 0 && argc == 2)
		return cli_run(c, "columnar.info", json_pack("{s:s}", "name", name));
	if (strcmp(sub, "insert") == 0 && argc == 3) {
		json_t *body = read_json_arg(argv[2]);
		if (!body || !json_is_object(body)) {
			json_decref(body);
			return 2;
		}
		json_object_set_new(body, "name", json_string(name));
		return cli_run(c, "columnar.insert", body);
	}
	if (strcmp(sub, "column") == 0 && argc >= 3 && argc <= 6) {
		json_t *a = json_pack("{s:s, s:s}", "name", name, "col", argv[2]);
		page_args(a, argc, argv, 3);
		return cli_run(c, "columnar.column", a);
	}
	if (strcmp(sub, "project") == 0 && argc >= 3 && argc <= 6) {
		json_t *a = json_pack("{s:s, s:s}", "name", name, "columns", argv[2]);
		page_args(a, argc, argv, 3);
		return cli_run(c, "columnar.project", a);
	}
	if (strcmp(sub, "stats") == 0 && argc == 3)
		return cli_run(c, "columnar.stats", json_pack("{s:s, s:s}", "name", name, "col", argv[2]));
	if (strcmp(sub, "aggregate") == 0 && argc >= 3 && argc <= 5) {
		json_t *a = json_pack("{s:s, s:s}", "name", name, "fn", argv[2]);
		if (argc >= 4 && argv[3][0] && strcmp(argv[3], "*") != 0)
			json_object_set_new(a, "col", json_string(argv[3]));
		if (argc == 5 && argv[4][0])
			json_object_set_new(a, "where", json_string(argv[4]));
		return cli_run(c, "columnar.aggregate", a);
	}
	return cli_usage_error(use);
}
