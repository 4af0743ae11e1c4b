/*
 * cli/cmd_tiers.c — `strata tiers ...`.
 *
 *   strata tiers                     tiers, capacities, thresholds, usage
 *   strata tiers stats               pages/bytes per tier, migrations, ratio, latency
 *   strata tiers migrate [MAX]       run up to MAX (100) planned migrations
 *   strata tiers migrate PAGE TIER   move one page (Hot, Warm, Cold; any case)
 *   strata tiers maintenance         retune thresholds, compact segments
 *   strata tiers page ID [--data]    where a page is (and its bytes, base64)
 *   strata tiers policy              the policy
 *   strata tiers policy KEY=VALUE... change it (hot_capacity=N, zstd_level=N, ...)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define TIERS_USAGE                                                                        \
	"strata tiers [stats | migrate [MAX | PAGE TIER] | maintenance | page ID [--data] | " \
	"policy [KEY=VALUE ...]]"

static bool parse_u64(const char *s, unsigned long long *out)
{
	char *end;
	if (!*s || *s == '-')
		return false;
	*out = strtoull(s, &end, 10);
	return *end == '\0';
}

/* KEY=VALUE: integers and numbers as JSON numbers, true/false as booleans,
 * anything else as a string. */
static json_t *policy_value(const char *v)
{
	if (!strcmp(v, "true") || !strcmp(v, "false"))
		return json_boolean(!strcmp(v, "true"));
	char *end;
	long long i = strtoll(v, &end, 10);
	if (*v && *end == '\0')
		return json_integer(i);
	double d = strtod(v, &end);
	if (*v && *end == '\0')
		return json_real(d);
	return json_string(v);
}

int cli_cmd_tiers(struct cli *c, int argc, char **argv)
{
	if (argc == 0 || !strcmp(argv[0], "info"))
		return argc > 1 ? cli_usage_error(TIERS_USAGE) : cli_run(c, "tiers.info", json_object());
	const char *sub = argv[0];
	if (!strcmp(sub, "stats"))
		return argc != 1 ? cli_usage_error(TIERS_USAGE) : cli_run(c, "tiers.stats", json_object());
	if (!strcmp(sub, "maintenance"))
		return argc != 1 ? cli_usage_error(TIERS_USAGE)
				 : cli_run(c, "tiers.maintenance", json_object());
	if (!strcmp(sub, "migrate")) {
		unsigned long long n;
		if (argc == 1)
			return cli_run(c, "tiers.migrate", json_pack("{s:i}", "max", 100));
		if (argc == 2 && parse_u64(argv[1], &n))
			return cli_run(c, "tiers.migrate", json_pack("{s:I}", "max", (json_int_t)n));
		if (argc == 3 && parse_u64(argv[1], &n))
			return cli_run(c, "tiers.migrate",
				       json_pack("{s:I, s:s}", "page_id", (json_int_t)n, "to_tier", argv[2]));
		return cli_usage_error("strata tiers migrate [MAX | PAGE TIER]");
	}
	if (!strcmp(sub, "page")) {
		unsigned long long n;
		bool data = argc == 3 && !strcmp(argv[2], "--data");
		if ((argc != 2 && !data) || !parse_u64(argv[1], &n))
			return cli_usage_error("strata tiers page ID [--data]");
		return cli_run(c, "tiers.page",
			       json_pack("{s:I, s:b}", "page_id", (json_int_t)n, "data", data));
	}
	if (!strcmp(sub, "policy")) {
		if (argc == 1)
			return cli_run(c, "tiers.policy", json_object());
		json_t *args = json_object();
		for (int i = 1; i < argc; i++) {
			const char *eq = strchr(argv[i], '=');
			if (!eq || eq == argv[i]) {
				json_decref(args);
				return cli_usage_error("strata tiers policy KEY=VALUE ... (e.g. hot_capacity=512)");
			}
			char key[64];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
			json_object_set_new(args, key, policy_value(eq + 1));
		}
		return cli_run(c, "tiers.policy_set", args);
	}
	return cli_usage_error(TIERS_USAGE);
}
