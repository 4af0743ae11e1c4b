/*
 * cli/commands.c — storage commands of the strata CLI: each becomes one
 * control op, and prints its JSON result (compact with --json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int parse_id(const char *s, json_int_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int run(struct cli *c, const char *op, json_t *args)
{
	json_t *r;
	int rv = cli_call(c, op, args, &r);
	if (rv)
		return rv;
	char *s = json_dumps(r, c->json ? JSON_COMPACT : JSON_INDENT(2));
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(r);
	return 0;
}

static int usage_error(const char *what)
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
		return usage_error(use);
	const char *sub = argv[0];
	json_int_t a = 0, b = 0;
	if (strcmp(sub, "alloc") == 0 && argc == 1)
		return run(c, "pages.alloc", json_object());
	if (argc < 2 || parse_id(argv[1], &a) != 0)
		return usage_error(use);
	if (strcmp(sub, "get") == 0 && argc == 2)
		return run(c, "pages.get", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "compact") == 0 && argc == 2)
		return run(c, "pages.compact", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "split") == 0 && argc == 2)
		return run(c, "pages.split", json_pack("{s:I}", "page_id", a));
	if (strcmp(sub, "merge") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return run(c, "pages.merge", json_pack("{s:I, s:I}", "page1_id", a, "page2_id", b));
	if (strcmp(sub, "put") == 0 && argc == 3) {
		/* Text in, base64 on the wire. */
		static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const unsigned char *s = (const unsigned char *)argv[2];
		size_t n = strlen(argv[2]), o = 0;
		char *enc = malloc((n + 2) / 3 * 4 + 1);
		if (!enc)
			return 1;
		for (size_t i = 0; i < n; i += 3) {
			unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
				     (i + 2 < n ? s[i + 2] : 0);
			enc[o++] = tbl[v >> 18];
			enc[o++] = tbl[(v >> 12) & 63];
			enc[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
			enc[o++] = i + 2 < n ? tbl[v & 63] : '=';
		}
		enc[o] = '\0';
		json_t *args = json_pack("{s:I, s:s}", "page_id", a, "data", enc);
		free(enc);
		return run(c, "records.insert", args);
	}
	if (strcmp(sub, "read") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return run(c, "records.get", json_pack("{s:I, s:I}", "page_id", a, "slot", b));
	if (strcmp(sub, "delete") == 0 && argc == 3 && parse_id(argv[2], &b) == 0)
		return run(c, "records.delete", json_pack("{s:I, s:I}", "page_id", a, "slot", b));
	return usage_error(use);
}

int cli_command(struct cli *c, const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "flush") == 0)
		return argc ? usage_error("strata flush") : run(c, "buffer.flush", json_object());
	if (strcmp(cmd, "buffer") == 0)
		return argc ? usage_error("strata buffer") : run(c, "buffer.stats", json_object());
	if (strcmp(cmd, "io") == 0)
		return argc ? usage_error("strata io") : run(c, "io.stats", json_object());
	if (strcmp(cmd, "disks") == 0)
		return argc ? usage_error("strata disks") : run(c, "disks.list", json_object());
	if (strcmp(cmd, "page") == 0)
		return cmd_page(c, argc, argv);
	return -1;
}
