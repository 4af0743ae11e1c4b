/*
 * frontend/front.h — the state of one strata-front process.
 *
 * Owned by the lws service thread (main thread) except where a field says
 * otherwise: nng threads reach the frontend only through the bridge.
 */
#ifndef STRATA_FRONTEND_FRONT_H
#define STRATA_FRONTEND_FRONT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "frontend/origin.h"
#include "frontend/routes.h"
#include "strata/events.h"

struct lws_context;
struct ipc_client;
struct ipc_sub;
struct bridge;
struct auth;
struct tickets;
struct http_session;
struct ws_session;
struct gql_service;

struct front_options {
	char ctl_url[4200];
	char events_url[4200];
	char listen_host[256];    /* host, or the socket's path with listen_unix */
	int listen_port;
	bool listen_unix;         /* --listen unix:PATH: a Unix socket (local, like loopback) */
	bool listen_local;        /* loopback or a Unix socket: only this host can connect */
	int timeout_ms;           /* control request timeout */
	char token_file[4096];    /* "" = no auth (loopback only) */
	char cluster_token_file[4096]; /* stratad's cluster token ("" = none: ipc:// only) */
	unsigned ws_queue_max;    /* messages queued per WebSocket client */
	size_t ws_queue_bytes;    /* bytes queued per WebSocket client */
	unsigned ws_slow_close_ms; /* a client dropping messages this long is closed */
	unsigned ws_msg_rate;     /* control messages per second per client */
	unsigned ws_max_rate;     /* events per second delivered per client (0 = no cap) */
	unsigned ws_ping_s;       /* idle seconds before a ping; 3x without answer closes */
	unsigned ws_send_threads; /* threads that send a burst's batches (frontend/fanout.h) */
	unsigned ws_sndbuf;       /* SO_SNDBUF of WebSocket connections (0: the kernel's autotuning) */
	unsigned breaker_failures; /* consecutive control failures that open the breaker */
	unsigned breaker_probe_ms; /* probe period while open */
	size_t max_body;          /* request body limit */
	struct origin_list allow_origin; /* --allow-origin (frontend/origin.h) */
};

struct ctl_call;
struct ws_hub;

/* The circuit breaker's state (frontend/ctl.h). */
struct breaker {
	bool open, probing;
	unsigned failures;        /* consecutive */
	int64_t next_probe_ms;    /* monotonic */
	uint64_t opens, fast_failures;
};

struct front {
	struct front_options opt;
	struct lws_context *ctx;
	struct ipc_client *ctl;   /* thread-safe */
	struct ipc_sub *sub;      /* thread-safe */
	struct bridge *bridge;    /* thread-safe */
	struct auth *auth;        /* immutable after start; NULL = no auth */
	struct tickets *tickets;  /* WebSocket tickets (frontend/ticket.h); NULL = no auth */
	uint64_t client_id;       /* random per process: (client, id) for dedup */
	char cluster_tok[128];    /* sent as "tok" with every request ("" = none) */
	char frontend_id[128];    /* "HOST:PID", sent as X-Strata-Frontend on REST
	                           * answers so a load balancer's spread shows; "" = none */
	uint64_t next_request_id;
	uint64_t next_serial;
	struct http_session *pending;  /* waiting for stratad */
	struct ws_session *ws_clients;
	unsigned ws_count[STRATA_FAM_COUNT + 1]; /* per stream; [COUNT] = all */
	bool events_up;           /* last connection state told to clients */
	struct ws_hub *hub;       /* event delivery state and figures (ws.c) */
	struct ctl_call *ctl_calls; /* the frontend's own control calls in flight */
	struct breaker brk;
	lws_sorted_usec_list_t tick;   /* the service thread's 250 ms timer */
	lws_retry_bo_t idle_policy;    /* WebSocket ping / idle hang-up */
	struct gql_service *gql;  /* GraphQL (frontend/graphql/gql_server.h) */
	bool unix_bound;          /* made the --listen unix: socket file (unlinked at stop) */
	volatile int interrupted; /* set by the signal handler */
};

#endif
