/*
 * frontend/graphql/gql_strata.h — Strata's resolvers: GraphQL fields to
 * stratad control ops.
 *
 * Each Query/Mutation field is one table entry naming its control op
 * (daemon/ops_*.c) and the role it needs; its arguments become the op's
 * args (camelCase names to snake_case; `tree` is the op's `name`; an
 * `options` input object is flattened), and the op's JSON result is the
 * field's value, which the executor maps to the GraphQL type by key
 * (snake_case of each field's name, or a renamed key from the table).
 * Adding an area = its SDL + a few entries here.
 *
 * Resolvers run on the GraphQL worker threads: they call stratad with the
 * blocking ipc_client_call, never on the lws service thread.
 */
#ifndef STRATA_GQL_STRATA_H
#define STRATA_GQL_STRATA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/graphql/gql_exec.h"
#include "frontend/routes.h"

struct ipc_client;

/* What resolvers need from the caller (gql_exec_ctx). */
struct gql_call_ctx {
	struct ipc_client *ctl;
	uint64_t client_id;
	const char *cluster_tok;   /* "tok" of every request ("" = none) */
	_Atomic uint64_t *next_id; /* request ids, shared by the workers */
	int timeout_ms;
	enum role role;
};

extern const struct gql_resolver gql_strata_resolvers[];
extern const size_t gql_strata_nresolvers;

/* Calls op with args on stratad. 0 and *result (a new reference), or -1
 * with msg ("not_found: ...") and *code (a STRATA_E* code). */
int gql_call_op(struct gql_call_ctx *c, const char *op, json_t *args, json_t **result, int *code,
		char *msg, size_t msglen);

#endif
