/* daemon/ops_json.c — control ops and module hooks of the json area. */
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"

const struct module module_json = {.name = "json"};

const struct op_def ops_json[] = {
	{0},
};
