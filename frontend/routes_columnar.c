/* frontend/routes_columnar.c — REST routes of the columnar area (see routes.h). */
#include "frontend/routes.h"

const struct route routes_columnar[] = {
	{0},
};
