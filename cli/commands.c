/*
 * cli/commands.c — storage commands of the strata CLI (one per op family).
 */
#include <string.h>

#include "cli/cli.h"

int cli_command(struct cli *c, const char *cmd, int argc, char **argv)
{
	(void)c, (void)argc, (void)argv, (void)cmd;
	return -1;
}
