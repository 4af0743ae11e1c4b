/* cli/cmd_tiers.c — `strata tiers ...`. */
#include "cli/cli.h"

int cli_cmd_tiers(struct cli *c, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv;
	return cli_usage_error("strata tiers: not built yet");
}
