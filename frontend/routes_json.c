/* frontend/routes_json.c — REST routes of the json area (see routes.h). */
#include "frontend/routes.h"

const struct route routes_json[] = {
	{0},
};
