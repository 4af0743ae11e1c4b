/*
 * frontend/http.h — REST request handling on the lws service thread.
 * See http.c for the session state machine.
 */
#ifndef STRATA_FRONTEND_HTTP_H
#define STRATA_FRONTEND_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/front.h"
#include "frontend/origin.h"

struct lws;
struct bridge;
struct bridge_item;

enum http_state { HTTP_NEW, HTTP_BODY, HTTP_WAITING, HTTP_ANSWER, HTTP_FAIL };

struct http_session {
	enum http_state state;
	enum http_method method;
	char path[1024];
	const struct route *route;
	enum role role;      /* the caller's, from its token (ROLE_PUBLIC: none checked) */
	json_t *params, *query;
	char *body;
	size_t body_len, body_cap;
	/* waiting for stratad */
	uint64_t serial;
	struct lws *wsi;
	bool on_pending;
	struct http_session *prev, *next;
	/* the answer */
	int status;
	const char *ctype;   /* NULL: application/json */
	char *resp;          /* LWS_PRE bytes, then resp_len bytes of JSON */
	size_t resp_len, sent;
	bool headers_sent, close_after;
	bool no_store;       /* Cache-Control: no-store (an answer carrying a credential) */
	char allow[128];
	struct origin_grant cors; /* CORS headers of the answer (frontend/origin.h) */
};

/* A control call in flight: lives from send to its callback. */
struct http_call {
	uint64_t serial;
	struct bridge *bridge;
};

int http_on_request(struct front *f, struct lws *wsi, struct http_session *s);
int http_on_body(struct front *f, struct lws *wsi, struct http_session *s, const void *in,
		 size_t len);
int http_on_body_done(struct front *f, struct lws *wsi, struct http_session *s);
/* Returns -1 to close the connection. */
int http_on_writable(struct front *f, struct lws *wsi, struct http_session *s);
void http_on_closed(struct front *f, struct http_session *s);
/* A control reply arrived (bridge); answers the session still waiting for it. */
void http_on_reply(struct front *f, struct bridge_item *it);

#endif
