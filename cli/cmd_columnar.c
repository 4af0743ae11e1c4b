/* cli/cmd_columnar.c — `strata columnar ...`. */
#include "cli/cli.h"

int cli_cmd_columnar(struct cli *c, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv;
	return cli_usage_error("strata columnar: not built yet");
}
