/*
 * frontend/front.h — the state of one strata-front process.
 *
 * Owned by the lws service thread (main thread) except where a field says
 * otherwise: nng threads reach the frontend only through the bridge.
 */
#ifndef STRATA_FRONTEND_FRONT_H
#define STRATA_FRONTEND_FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/routes.h"
#include "strata/events.h"

struct lws_context;
struct ipc_client;
struct ipc_sub;
struct bridge;
struct auth;
struct http_session;
struct ws_session;
struct gql_service;

struct front_options {
	char ctl_url[4200];
	char events_url[4200];
	char listen_host[256];
	int listen_port;
	int timeout_ms;           /* control request timeout */
	char token_file[4096];    /* "" = no auth (loopback only) */
	unsigned ws_queue_max;    /* messages queued per WebSocket client */
	size_t max_body;          /* request body limit */
};

struct front {
	struct front_options opt;
	struct lws_context *ctx;
	struct ipc_client *ctl;   /* thread-safe */
	struct ipc_sub *sub;      /* thread-safe */
	struct bridge *bridge;    /* thread-safe */
	struct auth *auth;        /* immutable after start; NULL = no auth */
	uint64_t client_id;       /* random per process: (client, id) for dedup */
	uint64_t next_request_id;
	uint64_t next_serial;
	struct http_session *pending;  /* waiting for stratad */
	struct ws_session *ws_clients;
	unsigned ws_count[STRATA_FAM_COUNT + 1]; /* per stream; [COUNT] = all */
	bool events_up;           /* last connection state told to clients */
	uint64_t ws_sent, ws_dropped, ws_lagged_notices;
	struct gql_service *gql;  /* GraphQL (frontend/graphql/gql_server.h) */
	volatile int interrupted; /* set by the signal handler */
};

#endif
