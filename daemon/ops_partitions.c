/* daemon/ops_partitions.c — control ops and module hooks of the partitions area. */
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"

const struct module module_partitions = {.name = "partitions"};

const struct op_def ops_partitions[] = {
	{0},
};
