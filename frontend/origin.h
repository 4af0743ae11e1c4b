/*
 * frontend/origin.h — which browser origins may use this frontend: the
 * CORS and WebSocket Origin checks, deny-by-default outside loopback.
 *
 * The rule, for one HTTP request or WebSocket handshake:
 *
 *   no Origin header             NONE     curl, the CLI, server-to-server:
 *                                         unaffected, no CORS headers
 *   malformed Origin             REFUSED
 *   same origin as the Host      SAME     the page was served by this
 *                                         frontend (e.g. /dashboard); on a
 *                                         loopback listener only when the
 *                                         Host is a loopback name (a DNS
 *                                         rebinding page has its own Host)
 *   in the --allow-origin list   ALLOWED  ("*" in the list: any origin
 *                                         but "null", which must be named)
 *   no list, loopback listener,  ALLOWED  http(s)://localhost[:port],
 *   loopback Origin                       127.x.x.x[:port], [::1][:port]
 *   anything else                REFUSED  HTTP: 403 JSON; WebSocket: 403
 *                                         at the handshake
 *
 * An allowed (SAME or ALLOWED) request's answer carries
 * Access-Control-Allow-Origin with the exact origin and Vary: Origin. A
 * CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * from an allowed origin is answered 204 with the methods, the request
 * headers Authorization and Content-Type, and a max-age; from any other
 * origin 403. Origins compare after normalising: scheme and host in lower
 * case, the scheme's default port dropped, no trailing slash.
 *
 * Every function runs on the lws service thread (it reads the headers of
 * the request being served); the list is immutable once the frontend runs.
 */
#ifndef STRATA_FRONTEND_ORIGIN_H
#define STRATA_FRONTEND_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

struct lws;
struct front;

#define ORIGIN_MAX 255      /* longest origin accepted, in bytes */
#define ORIGIN_LIST_MAX 32  /* --allow-origin entries */

/* The --allow-origin list, normalised. Zeroed = no list. */
struct origin_list {
	char item[ORIGIN_LIST_MAX][ORIGIN_MAX + 1];
	unsigned n;
	bool any; /* "*" was given */
};

enum origin_verdict { ORIGIN_NONE, ORIGIN_SAME, ORIGIN_ALLOWED, ORIGIN_REFUSED };

/* What one allowed request's answer must carry: the origin to echo in
 * Access-Control-Allow-Origin ("" = no CORS headers). */
struct origin_grant {
	char origin[ORIGIN_MAX + 1];
};

/*
 * Adds the entries of arg (one origin or a comma-separated list; "*" and
 * "null" are accepted as such) to l. 0, or STRATA_EBAD_REQUEST with err
 * naming the bad entry (not scheme://host[:port], too long, too many).
 */
int origin_list_add(struct origin_list *l, const char *arg, char *err, size_t errlen);

/* Whether host (a listen address or a Host name, no port) is loopback. */
bool origin_host_is_loopback(const char *host);

/*
 * The rule above, without I/O: origin is the Origin header (NULL: none),
 * host the Host header (NULL: none), loopback_listener whether the
 * frontend listens on loopback only.
 */
enum origin_verdict origin_decide(const struct origin_list *l, bool loopback_listener,
				  const char *origin, const char *host);

/* What an HTTP request handler does first (REST and GraphQL alike). */
enum origin_http {
	ORIGIN_HTTP_PASS,      /* go on; the answer carries the headers of *g */
	ORIGIN_HTTP_PREFLIGHT, /* answer with origin_answer_preflight() */
	ORIGIN_HTTP_REFUSED,   /* answer 403 with msg, in the handler's error format */
};

/*
 * Decides for the request on wsi. Always fills *g (empty unless the
 * origin is allowed) and, for REFUSED, msg with the reason.
 */
enum origin_http origin_http_check(const struct front *f, struct lws *wsi,
				   struct origin_grant *g, char *msg, size_t msglen);

/*
 * Writes the 204 answer of an allowed preflight from the LWS_CALLBACK_HTTP
 * handler and ends the transaction. Returns what that handler returns:
 * 0, or -1 to close the connection (no room for the headers, or lws
 * says so).
 */
int origin_answer_preflight(struct lws *wsi, const struct origin_grant *g);

/*
 * Adds the CORS headers of g (none when g->origin is empty) between
 * lws_add_http_common_headers and lws_finalize_*. 0, or -1 when they do
 * not fit before end.
 */
int origin_add_headers(const struct origin_grant *g, struct lws *wsi, unsigned char **p,
		       unsigned char *end);

/*
 * LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION of every WebSocket protocol:
 * 0 when the handshake's Origin is allowed; otherwise writes a 403 with a
 * JSON error and returns 1 (lws then drops the connection).
 */
int origin_filter_ws(const struct front *f, struct lws *wsi);

#endif
