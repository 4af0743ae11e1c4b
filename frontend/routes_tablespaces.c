/* frontend/routes_tablespaces.c — REST routes of the tablespaces area (see routes.h). */
#include "frontend/routes.h"

#define TS "/api/v1/storage/tablespaces"

const struct route routes_tablespaces[] = {
	{M_GET, TS, ROLE_READ, "tablespaces.list", NULL, NULL, 0,
	 "tablespaces: id, name, location, quota, usage measured from the files"},
	{M_POST, TS, ROLE_ADMIN, "tablespaces.create", route_build_strings, NULL, 201,
	 "create a tablespace: {name, quota_bytes (optional), location (optional, under an allowed root)}"},
	{M_GET, TS "/{id}", ROLE_READ, "tablespaces.get", route_build_default, NULL, 0,
	 "a tablespace with the objects it holds"},
	{M_PUT, TS "/{id}", ROLE_ADMIN, "tablespaces.update", route_build_default, NULL, 0,
	 "rename ({name}) and/or set the quota ({quota_bytes}, null: none)"},
	{M_DELETE, TS "/{id}", ROLE_ADMIN, "tablespaces.drop", route_build_default, NULL, 0,
	 "drop an empty tablespace (409 while it holds objects)"},
	{0},
};
