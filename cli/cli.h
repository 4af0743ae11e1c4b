/*
 * cli/cli.h — what the strata CLI's commands share.
 */
#ifndef STRATA_CLI_H
#define STRATA_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

struct ipc_client;

struct cli {
	char data_dir[4096];
	char data_real[4096];
	char ctl_url[4200];
	char events_url[4200];
	bool json;
	long count;
	int timeout_ms;
	char tok[128];          /* cluster token ("" = none) */
	struct ipc_client *ctl; /* opened on first call */
};

/* Calls op with args (reference taken). 0 with *result set, or an exit code
 * (1 failed, 2 usage, 3 unreachable) after printing the error. */
int cli_call(struct cli *c, const char *op, json_t *args, json_t **result);
/* The same without taking args. */
int cli_call_borrowed(struct cli *c, const char *op, const json_t *args, json_t **result);

/* `strata top`: until *stop is set. Returns an exit code. */
int cli_top(struct cli *c, volatile sig_atomic_t *stop);

/* Calls op and prints its JSON result (compact with --json); exit code. */
int cli_run(struct cli *c, const char *op, json_t *args);
/* Prints "strata: usage: WHAT" and returns 2. */
int cli_usage_error(const char *what);

/* Commands of the storage areas, one file each (cli/cmd_<area>.c); argv
 * holds the words after the command. Exit codes as cli_call. */
int cli_cmd_tiers(struct cli *c, int argc, char **argv);
int cli_cmd_columnar(struct cli *c, int argc, char **argv);
int cli_cmd_json(struct cli *c, int argc, char **argv);
int cli_cmd_partitions(struct cli *c, int argc, char **argv);
int cli_cmd_tablespaces(struct cli *c, int argc, char **argv);

/* Commands added by storage modules (cli/commands.c); -1 if cmd is unknown. */
int cli_command(struct cli *c, const char *cmd, int argc, char **argv);

#endif
