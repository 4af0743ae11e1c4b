/*
 * cli/commands.c — storage commands of the strata CLI: each becomes one
 * control op, and prints its JSON result (compact with --json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "proto/base64.h"
#include "proto/json_text.h"

static int parse_id(const char *s, json_int_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

int cli_run(struct cli *c, const char *op, json_t *args)
{
	json_t *r;
	int rv = cli_call(c, op, args, &r);
	if (rv)
		return rv;
	char *s = proto_json_dumps(r, c->json ? JSON_COMPACT : JSON_INDENT(2));
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(r);
	return 0;
}

int cli_usage_error(const char *what)
{
	fprintf(stderr, "strata: usage: %s\n", what);
	return 2;
}

static int cmd_page(struct cli *c, int argc, char **argv)
{
	static const char use[] =
		"strata page alloc | get ID | compact ID | split ID | merge ID1 ID2 | "
		"put ID TEXT | read ID SLOT | delete ID SLOT";
	if (argc < 1)
		return cli_usage_error(use);
	const char *sub = argv[0];
	json_int_t a = 0, b = 0;
	if (strcmp(sub, "alloc") == 0 && argc == 1)
		return cli_run(c, "pages.alloc", json_object());
	if (argc < 2 || parse_id(argv[1], &a) != 0)
		return cli_usage_error(use);
	if (strcmp(sub, "get") == 0 && argc == 2)
		return cli_run(c, "pages.get", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "compact") == 0 && argc == 2)
		return cli_run(c, "pages.compact", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "split") == 0 && argc == 2)
		return cli_run(c, "pages.split", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "merge") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return cli_run(c, "pages.merge", json_pack("{s:I, s:I}", "page1_id", a, "page2_id", b));
	if (strcmp(sub, "put") == 0 && argc == 3) {
		/* Text in, base64 on the wire. */
		size_t n = strlen(argv[2]);
		char *enc = malloc(base64_encoded_len(n) + 1);
		if (!enc)
			return 1;
		base64_encode(argv[2], n, enc);
		json_t *args = json_pack("{s:I, s:s}", "page_id", a, "data", enc);
		free(enc);
		return cli_run(c, "records.insert", args);
	}
	if (strcmp(sub, "read") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return cli_run(c, "records.get", json_pack("{s:I, s:I}", "page_id", a, "slot", b));
	if (strcmp(sub, "delete") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return cli_run(c, "records.delete", json_pack("{s:I, s:I}", "page_id", a, "slot", b));
	return cli_usage_error(use);
}

static int cmd_lsm(struct cli *c, int argc, char **argv)
{
	static const char use[] =
		"strata lsm list | create NAME [SYNC] | drop NAME | put NAME KEY VALUE | get NAME KEY |\n"
		"       del NAME KEY | scan NAME [START [END [LIMIT]]] | compact NAME | flush NAME | stats NAME\n"
		"       (SYNC: none, commit or interval)";
	if (argc < 1)
		return cli_usage_error(use);
	const char *sub = argv[0];
	if (strcmp(sub, "list") == 0 && argc == 1)
		return cli_run(c, "lsm.list", json_object());
	if (argc < 2)
		return cli_usage_error(use);
	const char *name = argv[1];
	if (strcmp(sub, "create") == 0 && (argc == 2 || argc == 3))
		return cli_run(c, "lsm.create", json_pack("{s:s, s:s}", "name", name, "sync",
						       argc == 3 ? argv[2] : "none"));
	if (strcmp(sub, "drop") == 0 && argc == 2)
		return cli_run(c, "lsm.drop", json_pack("{s:s}", "name", name));
	if (strcmp(sub, "put") == 0 && argc == 4)
		return cli_run(c, "lsm.put", json_pack("{s:s, s:s, s:s}", "name", name, "key", argv[2],
						   "value", argv[3]));
	if (strcmp(sub, "get") == 0 && argc == 3)
		return cli_run(c, "lsm.get", json_pack("{s:s, s:s}", "name", name, "key", argv[2]));
	if ((strcmp(sub, "del") == 0 || strcmp(sub, "delete") == 0) && argc == 3)
		return cli_run(c, "lsm.delete", json_pack("{s:s, s:s}", "name", name, "key", argv[2]));
	if (strcmp(sub, "scan") == 0 && argc >= 2 && argc <= 5) {
		json_t *a = json_pack("{s:s}", "name", name);
		if (a && argc >= 3)
			json_object_set_new(a, "start", json_string(argv[2]));
		if (a && argc >= 4)
			json_object_set_new(a, "end", json_string(argv[3]));
		if (a && argc == 5)
			json_object_set_new(a, "limit", json_integer(atoi(argv[4])));
		return cli_run(c, "lsm.scan", a);
	}
	if (strcmp(sub, "compact") == 0 && argc == 2)
		return cli_run(c, "lsm.compact", json_pack("{s:s}", "name", name));
	if (strcmp(sub, "flush") == 0 && argc == 2)
		return cli_run(c, "lsm.flush", json_pack("{s:s}", "name", name));
	if (strcmp(sub, "stats") == 0 && argc == 2)
		return cli_run(c, "lsm.stats", json_pack("{s:s}", "name", name));
	return cli_usage_error(use);
}

/* Sends one batch of ops; returns an exit code. */
static int load_flush(struct cli *c, const char *tree, json_t *ops)
{
	if (json_array_size(ops) == 0)
		return 0;
	json_t *r;
	int rv = cli_call_borrowed(c, "lsm.batch",
				   json_pack("{s:s, s:O}", "name", tree, "ops", ops), &r);
	json_array_clear(ops);
	if (rv == 0)
		json_decref(r);
	return rv;
}

/* strata load TREE FILE: "key<TAB>value" lines or JSON lines {"key":..,"value":..}
 * ("-" reads stdin), sent in batches of 1000 with a progress line on a tty. */
static int cmd_load(struct cli *c, int argc, char **argv)
{
	if (argc != 2)
		return cli_usage_error("strata load TREE FILE   (lines of KEY<TAB>VALUE or JSON {\"key\":..,\"value\":..}; - for stdin)");
	FILE *fp = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
	if (!fp) {
		perror(argv[1]);
		return 1;
	}
	long total = 0;
	if (fp != stdin && fseek(fp, 0, SEEK_END) == 0) {
		total = ftell(fp);
		rewind(fp);
	}
	bool tty = isatty(STDERR_FILENO);
	json_t *ops = json_array();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, loaded = 0;
	int rv = 0;
	while (ops && (n = getline(&line, &cap, fp)) > 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		json_t *kv;
		if (line[0] == '{') {
			json_error_t je;
			json_t *j = json_loads(line, 0, &je);
			if (!j || !json_is_string(json_object_get(j, "key")) ||
			    !json_is_string(json_object_get(j, "value"))) {
				fprintf(stderr, "strata load: line %ld: expected {\"key\":\"..\",\"value\":\"..\"}\n", lineno);
				json_decref(j);
				rv = 2;
				break;
			}
			kv = json_pack("{s:O, s:O}", "key", json_object_get(j, "key"), "value",
				       json_object_get(j, "value"));
			json_decref(j);
		} else {
			char *tab = strchr(line, '\t');
			if (!tab) {
				fprintf(stderr, "strata load: line %ld: expected KEY<TAB>VALUE\n", lineno);
				rv = 2;
				break;
			}
			*tab = '\0';
			kv = json_pack("{s:s, s:s}", "key", line, "value", tab + 1);
		}
		json_array_append_new(ops, json_pack("{s:o}", "put", kv));
		if (json_array_size(ops) == 1000) {
			if ((rv = load_flush(c, argv[0], ops)) != 0)
				break;
			loaded += 1000;
			if (tty && total > 0)
				fprintf(stderr, "\rloading %s: %ld keys, %3.0f%%", argv[0], loaded,
					100.0 * (double)ftell(fp) / (double)total);
			else if (tty)
				fprintf(stderr, "\rloading %s: %ld keys", argv[0], loaded);
		}
	}
	if (rv == 0) {
		size_t last = json_array_size(ops);
		if ((rv = load_flush(c, argv[0], ops)) == 0)
			loaded += (long)last;
	}
	if (tty)
		fprintf(stderr, "\r");
	if (rv == 0)
		printf("loaded %ld keys into %s\n", loaded, argv[0]);
	free(line);
	json_decref(ops);
	if (fp != stdin)
		fclose(fp);
	return rv;
}

int cli_command(struct cli *c, const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "lsm") == 0)
		return cmd_lsm(c, argc, argv);
	if (strcmp(cmd, "load") == 0)
		return cmd_load(c, argc, argv);
	if (strcmp(cmd, "flush") == 0)
		return argc ? cli_usage_error("strata flush") : cli_run(c, "buffer.flush", json_object());
	if (strcmp(cmd, "buffer") == 0)
		return argc ? cli_usage_error("strata buffer") : cli_run(c, "buffer.stats", json_object());
	if (strcmp(cmd, "io") == 0)
		return argc ? cli_usage_error("strata io") : cli_run(c, "io.stats", json_object());
	if (strcmp(cmd, "disks") == 0)
		return argc ? cli_usage_error("strata disks") : cli_run(c, "disks.list", json_object());
	if (strcmp(cmd, "page") == 0)
		return cmd_page(c, argc, argv);
	if (strcmp(cmd, "tiers") == 0)
		return cli_cmd_tiers(c, argc, argv);
	if (strcmp(cmd, "columnar") == 0)
		return cli_cmd_columnar(c, argc, argv);
	if (strcmp(cmd, "json") == 0)
		return cli_cmd_json(c, argc, argv);
	if (strcmp(cmd, "partitions") == 0)
		return cli_cmd_partitions(c, argc, argv);
	if (strcmp(cmd, "tablespaces") == 0)
		return cli_cmd_tablespaces(c, argc, argv);
	return -1;
}
