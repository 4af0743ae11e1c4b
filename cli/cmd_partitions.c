/* cli/cmd_partitions.c — `strata partitions ...`. */
#include "cli/cli.h"

int cli_cmd_partitions(struct cli *c, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv;
	return cli_usage_error("strata partitions: not built yet");
}
