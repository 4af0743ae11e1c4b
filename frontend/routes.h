/*
 * frontend/routes.h — the one route table.
 *
 * Every REST route names its method, path pattern, the role it needs, and
 * either the control op it becomes (with an optional builder from path
 * params, query and body to the op's args) or a local handler (health
 * checks and other answers the frontend gives itself). The role checks
 * and, later, the OpenAPI document are derived from this table.
 */
#ifndef STRATA_FRONTEND_ROUTES_H
#define STRATA_FRONTEND_ROUTES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum role { ROLE_PUBLIC, ROLE_READ, ROLE_WRITE, ROLE_ADMIN };

enum http_method { M_GET, M_POST, M_PUT, M_DELETE, M_PATCH, M_HEAD, M_OPTIONS, M_COUNT };

const char *http_method_name(enum http_method m);
const char *role_name(enum role r);

struct front;

/* What a route sees of a request. params: path captures (strings);
 * query: query-string values (strings); body: parsed JSON or NULL; role:
 * the caller's (its token's role; admin without a token file; ROLE_PUBLIC
 * on a public route, where no token is checked). */
struct route_req {
	const json_t *params;
	const json_t *query;
	const json_t *body;
	enum role role;
};

/* Builds the op's args (a new object). 0, or STRATA_EBAD_REQUEST + msg. */
typedef int (*route_build_fn)(const struct route_req *rq, json_t **args, char *msg,
			      size_t msglen);

/* A route answered by the frontend itself: sets *status and *body. */
typedef void (*route_local_fn)(struct front *f, const struct route_req *rq, int *status,
			       json_t **body);

struct route {
	enum http_method method;
	const char *pattern;     /* "/api/v1/storage/pages/{id}" */
	enum role role;
	const char *op;          /* control op, or NULL with local */
	route_build_fn build;    /* NULL: body object + path params + query */
	route_local_fn local;
	int ok_status;           /* 0: 200 */
	const char *summary;
	/* A local route whose body is a JSON string sent verbatim with this
	 * content type (NULL: the body is JSON). */
	const char *content_type;
	/* The answer carries a credential: sent with Cache-Control: no-store. */
	bool no_store;
};

/* Route tables, one per area (frontend/routes*.c), each ending with a
 * zeroed entry (pattern NULL). */
extern const struct route routes_tiers[];        /* frontend/routes_tiers.c */
extern const struct route routes_columnar[];     /* frontend/routes_columnar.c */
extern const struct route routes_json[];         /* frontend/routes_json.c */
extern const struct route routes_partitions[];   /* frontend/routes_partitions.c */
extern const struct route routes_tablespaces[];  /* frontend/routes_tablespaces.c */
extern const struct route routes_dashboard[];    /* frontend/dashboard.c */

/* Walks every route of every table: routes_next(NULL) is the first,
 * routes_next(r) the one after r, NULL after the last. */
const struct route *routes_next(const struct route *r);

/*
 * Finds the route for (method, path). Returns it and fills *params (new
 * object of captures) on a match; NULL otherwise, with *path_known set when
 * the path exists under another method (405) and allow[] listing them.
 */
const struct route *routes_match(enum http_method m, const char *path, json_t **params,
				 bool *path_known, char *allow, size_t allowlen);

/* The default builder: body object (if any) + params + query, where a value
 * made only of digits becomes an integer; query sync=true/false a boolean. */
int route_build_default(const struct route_req *rq, json_t **args, char *msg, size_t msglen);

/* Like route_build_default, but path and query values stay strings ("123"
 * is a key or a name, not a number), except limit (integer) and sync
 * (boolean) in the query. */
int route_build_strings(const struct route_req *rq, json_t **args, char *msg, size_t msglen);

#endif
