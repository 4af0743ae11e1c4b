/*
 * frontend/graphql/gql_exec.h — preparing and executing GraphQL requests.
 *
 * gql_prepare turns a request (document text, variables, operation name)
 * into a prepared operation: parsed, validated, the operation selected and
 * its variables coerced. gql_execute runs a prepared operation against a
 * resolver table and returns the response object {"data": ..., "errors":
 * [...]}, with partial data and null propagation for non-null fields as the
 * specification's Execution section says. Values are jansson JSON
 * throughout: a resolver receives its parent's value (a JSON object) and
 * returns the field's value; a field without a resolver reads its parent
 * object's key of the same name, or its snake_case form (hitRate reads
 * "hit_rate"), so mapping a stratad reply is mostly automatic.
 *
 * Introspection (__schema, __type, __typename) is built in.
 *
 * Threads: a prepared operation belongs to one thread at a time; the
 * schema and the resolver table are read-only and shared.
 */
#ifndef STRATA_GQL_EXEC_H
#define STRATA_GQL_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "frontend/graphql/gql_ast.h"
#include "frontend/graphql/gql_schema.h"
#include "frontend/graphql/gql_validate.h"

struct gql_exec;

/*
 * A resolver: sets *out to a new reference (NULL or json_null(): null) and
 * returns 0, or returns non-zero with msg set (a field error). args is the
 * field's coerced arguments as a JSON object (never NULL); source is the
 * parent's value.
 */
typedef int (*gql_resolve_fn)(struct gql_exec *ex, const struct gql_field *field,
			      json_t *source, json_t *args, const void *data, json_t **out,
			      char *msg, size_t msglen);

struct gql_resolver {
	const char *type;  /* "Query", "Mutation", "LsmTree", ... */
	const char *field;
	gql_resolve_fn fn;
	const void *data;  /* passed to fn: e.g. the control op it calls */
};

struct gql_prepared {
	struct gql_arena arena;
	const struct gql_schema *schema;
	struct gql_document doc;
	struct gql_definition *op;
	json_t *variables;      /* coerced; an object */
	enum gql_operation operation;
};

/*
 * Returns 0 and fills p (release with gql_prepared_clear), or -1 with
 * *response set to {"errors":[...]} (syntax, validation, unknown operation
 * or bad variables). variables may be NULL; operation_name may be NULL.
 */
int gql_prepare(const struct gql_schema *schema, const char *query, size_t len,
		json_t *variables, const char *operation_name, struct gql_prepared *p,
		json_t **response);
void gql_prepared_clear(struct gql_prepared *p);

/*
 * Executes p. root is the root value (may be NULL: {}); ctx is handed to
 * resolvers through gql_exec_ctx. Returns the response object (never NULL
 * unless out of memory).
 */
json_t *gql_execute(struct gql_prepared *p, const struct gql_resolver *resolvers,
		    size_t nresolvers, json_t *root, void *ctx);

void *gql_exec_ctx(const struct gql_exec *ex);

/* The response key and field name of the subscription's single root field
 * (after fragments and @skip/@include), and its coerced arguments (a new
 * reference); -1 with *response set when it cannot be determined. */
int gql_subscription_field(struct gql_prepared *p, const char **field_name, json_t **args,
			   json_t **response);

/* {"errors":[{"message": msg}]} */
json_t *gql_error_response(const char *msg);

#endif
