/* frontend/routes_tiers.c — REST routes of the tiers area (see routes.h). */
#include "frontend/routes.h"

const struct route routes_tiers[] = {
	{0},
};
