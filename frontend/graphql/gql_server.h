/*
 * frontend/graphql/gql_server.h — GraphQL over HTTP and WebSocket in
 * strata-front.
 *
 *   POST /graphql                 {"query", "variables", "operationName"}
 *   GET  /graphql?query=...       queries only (a mutation needs POST)
 *   GET  /graphql                 the explorer page (a browser asking for
 *                                 text/html), with /graphql/explorer.js and
 *                                 .css: frontend/graphql/gql_explorer.h
 *   GET  /graphql/schema.graphql  the SDL
 *   WS   /graphql                 subprotocol graphql-transport-ws
 *
 * One lws protocol ("graphql-transport-ws") serves both: the HTTP mount
 * /graphql routes its requests here, and a WebSocket upgrade asking for
 * that subprotocol lands here too. Requests are parsed, validated and
 * executed on a small worker pool (resolvers block on stratad); results
 * come back to the lws service thread through a queue and
 * lws_cancel_service, so the service thread never waits. Subscriptions
 * are fed from the frontend's one event SUB socket (gql_on_event, called
 * for every bus event on the service thread); subscribers to the same
 * field and arguments share one feed (one decode and one mapping per
 * event).
 *
 * Hooks (frontend/server.c): GQL_LWS_PROTOCOL in the protocol list,
 * GQL_MOUNT(next) as the first mount, gql_start / gql_stop around the
 * context, gql_on_event for each bus event. frontend/front.h holds the
 * service pointer.
 */
#ifndef STRATA_GQL_SERVER_H
#define STRATA_GQL_SERVER_H

#include <libwebsockets.h>
#include <stddef.h>

#include "frontend/front.h"

struct wsmsg;

#define GQL_PROTOCOL_NAME "graphql-transport-ws"
/* Per-connection bytes lws allocates for this protocol (checked in .c). */
#define GQL_SESSION_BYTES 1024

int gql_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len);

#define GQL_LWS_PROTOCOL                                                                  \
	{                                                                                 \
		GQL_PROTOCOL_NAME, gql_lws_callback,                                      \
			GQL_SESSION_BYTES, 65536, 0, NULL, 0                              \
	}

#define GQL_MOUNT(next)                                                                   \
	{                                                                                 \
		.mount_next = (next), .mountpoint = "/graphql", .mountpoint_len = 8,      \
		.origin = GQL_PROTOCOL_NAME, .origin_protocol = LWSMPRO_CALLBACK,         \
	}

/* Builds the schema and starts the workers. 0, or an error with err set. */
int gql_start(struct front *f, char *err, size_t errlen);
/* Call while the lws context still exists (before lws_context_destroy):
 * stops the workers (calls in flight end within the control timeout). */
void gql_stop(struct front *f);
/* Service thread: one bus event for the subscriptions. */
void gql_on_event(struct front *f, const struct wsmsg *m);

#endif
