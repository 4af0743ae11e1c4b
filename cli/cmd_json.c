/* cli/cmd_json.c — `strata json ...`. */
#include "cli/cli.h"

int cli_cmd_json(struct cli *c, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv;
	return cli_usage_error("strata json: not built yet");
}
