/* frontend/routes_partitions.c — REST routes of the partitions area (see routes.h). */
#include "frontend/routes.h"

const struct route routes_partitions[] = {
	{0},
};
