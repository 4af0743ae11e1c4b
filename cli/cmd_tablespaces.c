/* cli/cmd_tablespaces.c — `strata tablespaces ...`. */
#include "cli/cli.h"

int cli_cmd_tablespaces(struct cli *c, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv;
	return cli_usage_error("strata tablespaces: not built yet");
}
