/* daemon/ops_columnar.c — control ops and module hooks of the columnar area. */
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"

const struct module module_columnar = {.name = "columnar"};

const struct op_def ops_columnar[] = {
	{0},
};
