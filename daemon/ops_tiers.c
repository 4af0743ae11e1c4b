/* daemon/ops_tiers.c — control ops and module hooks of the tiers area. */
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"

const struct module module_tiers = {.name = "tiers"};

const struct op_def ops_tiers[] = {
	{0},
};
