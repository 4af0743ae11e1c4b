/* daemon/ops_tablespaces.c — control ops and module hooks of the tablespaces area. */
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"

const struct module module_tablespaces = {.name = "tablespaces"};

const struct op_def ops_tablespaces[] = {
	{0},
};
