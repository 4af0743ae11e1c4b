/*
 * frontend/dashboard.c — the dashboard's routes (see the header).
 */
#include "frontend/dashboard.h"

#include <jansson.h>

#include "frontend/routes.h"

/* A text route's body is a JSON string sent verbatim (frontend/routes.h). */
static void answer_file(const char *name, int *status, json_t **body)
{
	const struct embedded_file *f = embedded_file_find(dashboard_files, name);
	*body = f ? json_stringn(f->data, f->len) : NULL;
	*status = *body ? 200 : 500;
}

#define FILE_ROUTE(fn, name)                                                                  \
	static void fn(struct front *f, const struct route_req *rq, int *status, json_t **body) \
	{                                                                                     \
		(void)f, (void)rq;                                                            \
		answer_file(name, status, body);                                              \
	}

FILE_ROUTE(local_page, "index.html")
FILE_ROUTE(local_script, "dashboard.js")
FILE_ROUTE(local_style, "dashboard.css")

const struct route routes_dashboard[] = {
	{M_GET, "/dashboard", ROLE_PUBLIC, NULL, NULL, local_page, 0,
	 "the live dashboard page: event rates per family, buffer pool, I/O, tiers, LSM and "
	 "tier events, fed by /api/v1/ws/storage",
	 "text/html; charset=utf-8"},
	{M_GET, "/dashboard/dashboard.js", ROLE_PUBLIC, NULL, NULL, local_script, 0,
	 "the dashboard's script", "text/javascript; charset=utf-8"},
	{M_GET, "/dashboard/dashboard.css", ROLE_PUBLIC, NULL, NULL, local_style, 0,
	 "the dashboard's style sheet", "text/css; charset=utf-8"},
	{0},
};
