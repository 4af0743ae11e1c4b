/*
 * frontend/graphql/gql_explorer.h — the GraphQL explorer page.
 *
 *   GET /graphql                  the page (a browser asking for text/html,
 *                                 no query argument)
 *   GET /graphql/explorer.js      its script: query, variables, operation
 *                                 name and token editors, POST /graphql,
 *                                 the schema by introspection, and
 *                                 subscriptions over WebSocket /graphql
 *                                 (graphql-transport-ws)
 *   GET /graphql/explorer.css     its style
 *
 * The files live in frontend/graphql/explorer/ and are compiled in (the
 * Makefile runs frontend/embed.sh; frontend/embedded.h), so the page needs
 * no network beyond the frontend. gql_server.c serves them before any
 * token check: the page holds no data, and its requests carry the token
 * like any client's. lws sends a CSP allowing same-origin scripts and
 * styles only, so the page has no inline code.
 */
#ifndef STRATA_GQL_EXPLORER_H
#define STRATA_GQL_EXPLORER_H

#include "frontend/embedded.h"

/* Generated (build/gen/gql_explorer_files.c); ends with a zeroed entry. */
extern const struct embedded_file gql_explorer_files[];

/* The page (index.html); *ctype is set to its Content-Type. NULL only if
 * the build left the file out. */
const struct embedded_file *gql_explorer_page(const char **ctype);

/* The asset a request path names ("/graphql/explorer.js",
 * "/graphql/explorer.css"), with *ctype set; NULL for any other path. */
const struct embedded_file *gql_explorer_asset(const char *path, const char **ctype);

#endif
