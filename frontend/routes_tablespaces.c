/* frontend/routes_tablespaces.c — REST routes of the tablespaces area (see routes.h). */
#include "frontend/routes.h"

const struct route routes_tablespaces[] = {
	{0},
};
