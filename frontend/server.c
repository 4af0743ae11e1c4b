/*
 * frontend/server.c — the libwebsockets context and its one callback.
 *
 * One port serves HTTP (REST) and WebSocket (event streams). The service
 * thread runs every callback below; nng threads reach it only through the
 * bridge (frontend/bridge.h), whose pushes raise
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED here.
 */
#include "frontend/server.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "frontend/bridge.h"
#include "frontend/ctl.h"
#include "frontend/graphql/gql_server.h" /* GraphQL hook */
#include "frontend/http.h"
#include "frontend/origin.h"
#include "frontend/ticket.h"
#include "frontend/ws.h"
#include "ipc/ipc.h"
#include "proto/event_codec.h"
#include "strata/error.h"

/* Per-connection data: a connection is HTTP or WebSocket, never both at once. */
struct conn {
	struct http_session http;
	struct ws_session ws;
};

static void drain_bridge(struct front *f)
{
	struct bridge_item *it = bridge_take_all(f->bridge);
	ws_defer(f); /* one write per client for the whole drain */
	while (it) {
		struct bridge_item *next = it->next;
		switch (it->kind) {
		case BRIDGE_REPLY:
			if (!ctl_on_reply(f, it)) {
				ctl_breaker_record(f, it->err);
				http_on_reply(f, it);
			}
			break;
		case BRIDGE_EVENT:
			gql_on_event(f, it->msg); /* GraphQL subscriptions */
			ws_bus_event(f, it->msg);
			break;
		case BRIDGE_CONN:
			ws_connection_changed(f, it->up);
			break;
		}
		bridge_item_free(it);
		it = next;
	}
	ws_flush(f);
}

static int callback_strata(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			   void *in, size_t len)
{
	struct front *f = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_bridge(f);
		return 0;
	case LWS_CALLBACK_HTTP:
		return http_on_request(f, wsi, &c->http);
	case LWS_CALLBACK_HTTP_BODY:
		return http_on_body(f, wsi, &c->http, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return http_on_body_done(f, wsi, &c->http);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_on_writable(f, wsi, &c->http);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c)
			http_on_closed(f, &c->http);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (origin_filter_ws(f, wsi)) /* a browser Origin not allowed: 403 */
			return 1;
		return ws_on_filter(f, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return ws_on_established(f, wsi, &c->ws);
	case LWS_CALLBACK_RECEIVE:
		return ws_on_receive(f, wsi, &c->ws, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_on_writable(f, wsi, &c->ws);
	case LWS_CALLBACK_CLOSED:
		ws_on_closed(f, &c->ws);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	/* tx_packet_size: lws sends at most this much per write, buffering the
	 * rest; WebSocket batches are up to 64 KiB (frontend/ws.c) */
	{"strata", callback_strata, sizeof(struct conn), 4096, 0, NULL, 65536 + 64},
	GQL_LWS_PROTOCOL, /* GraphQL: /graphql, graphql-transport-ws */
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* GraphQL hook: /graphql goes to the graphql-transport-ws protocol. lws
 * takes the last matching callback mount, so it comes after "/". */
static const struct lws_http_mount mount_graphql = GQL_MOUNT(NULL);

static const struct lws_http_mount mount_all = {
	.mount_next = &mount_graphql, /* GraphQL hook */
	.mountpoint = "/",
	.mountpoint_len = 1,
	.origin = "strata",
	.origin_protocol = LWSMPRO_CALLBACK,
};

/* nng thread: each event of a bus message (one, or a batch) -> one
 * rendered, shareable WebSocket message for the service thread. */
static void on_bus_event(void *arg, const struct strata_event *ev, const struct ev_live *live)
{
	struct front *f = arg;
	struct wsmsg *m = ws_render_event(ev, live);
	struct bridge_item *it = calloc(1, sizeof(*it));
	if (!m || !it) {
		free(m);
		free(it);
		return; /* lost here: the frontend sees the seq gap and repairs it */
	}
	it->kind = BRIDGE_EVENT;
	it->msg = m;
	bridge_push(f->bridge, it);
}

static void on_bus_message(void *arg, const void *msg, size_t len)
{
	struct proto_err perr = {{0}};
	if (ev_bus_decode_each(msg, len, on_bus_event, arg, &perr) != 0)
		fprintf(stderr, "strata-front: dropped a bad bus message: %s\n", perr.msg);
}

static void on_bus_connection(void *arg, bool up)
{
	struct front *f = arg;
	struct bridge_item *it = calloc(1, sizeof(*it));
	if (!it)
		return;
	it->kind = BRIDGE_CONN;
	it->up = up;
	bridge_push(f->bridge, it);
}

/* Once a second on the service thread: the breaker's probe, slow clients. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct front *f = lws_container_of(sul, struct front, tick);
	ctl_tick(f);
	ws_tick(f);
	lws_sul_schedule(f->ctx, 0, &f->tick, on_tick, LWS_US_PER_SEC / 4);
}

/*
 * Whether a Unix socket can be made at path: nothing there, or a socket
 * nobody listens on (a crashed frontend's; lws unlinks it before binding).
 * A live socket — another frontend — or any other file is refused: lws
 * would unlink it and take its place silently.
 */
static int unix_path_free(const char *path, char *err, size_t errlen)
{
	if (path[0] == '@')
		return 0; /* abstract: bind itself refuses a name in use */
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot listen on unix:%s: %s", path, strerror(errno));
		return STRATA_EIO;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "cannot listen on unix:%s: the path exists and is not a socket", path);
		return STRATA_ECONFLICT;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on unix:%s: socket: %s", path, strerror(errno));
		return STRATA_EIO;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t pl = strlen(path);
	if (pl >= sizeof(sa.sun_path)) {
		close(fd);
		snprintf(err, errlen, "cannot listen on unix:%.200s: the path is over %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return STRATA_EBAD_REQUEST;
	}
	memcpy(sa.sun_path, path, pl + 1);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "cannot listen on unix:%s: another process is listening there", path);
		return STRATA_ECONFLICT;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "cannot listen on unix:%s: %s", path, strerror(e));
		return STRATA_EIO;
	}
	return 0; /* stale */
}

int front_start(struct front *f, char *err, size_t errlen)
{
	int rv;
	f->opt.listen_local = f->opt.listen_unix || origin_host_is_loopback(f->opt.listen_host);
	if (!f->opt.token_file[0] && !f->opt.listen_local) {
		snprintf(err, errlen,
			 "listening on %s (beyond loopback) needs --token-file: refusing to serve "
			 "storage without authentication",
			 f->opt.listen_host);
		return STRATA_EBAD_REQUEST;
	}
	if (f->opt.token_file[0] && (rv = auth_load(&f->auth, f->opt.token_file, err, errlen)) != 0)
		return rv;
	/* WebSocket tickets: keyed from the same file, so every frontend that
	 * shares it accepts the tickets of the others. */
	if (f->opt.token_file[0] &&
	    (rv = tickets_load(&f->tickets, f->opt.token_file, err, errlen)) != 0)
		return rv;
	if ((rv = bridge_create(&f->bridge, 65536)) != 0)
		return rv;
	if ((rv = ws_hub_create(f)) != 0)
		return rv;
	if ((rv = ipc_client_open(&f->ctl, f->opt.ctl_url, IPC_DEFAULT_MAX_MSG, err, errlen)) != 0)
		return rv;
	static const char *const all_topics[] = {"storage."};
	if ((rv = ipc_sub_open(&f->sub, f->opt.events_url, all_topics, 1, on_bus_message,
			       on_bus_connection, f, err, errlen)) != 0)
		return rv;

	if (f->opt.listen_unix && (rv = unix_path_free(f->opt.listen_host, err, errlen)) != 0)
		return rv;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = f->opt.listen_port;
	info.iface = f->opt.listen_host;
	if (f->opt.listen_unix)
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK; /* port 0: iface is the path */
	info.protocols = protocols;
	info.mounts = &mount_all;
	info.user = f;
	info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8 |
			LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.timeout_secs = 30;
	info.keepalive_timeout = 30;
	/* WebSocket keepalive: a ping after ws_ping_s idle seconds, hang up
	 * after three times that without traffic or pong. */
	f->idle_policy.secs_since_valid_ping = (uint16_t)f->opt.ws_ping_s;
	f->idle_policy.secs_since_valid_hangup = (uint16_t)(3 * f->opt.ws_ping_s);
	info.retry_and_idle_policy = &f->idle_policy;
	f->ctx = lws_create_context(&info);
	if (!f->ctx) {
		if (f->opt.listen_unix)
			snprintf(err, errlen, "cannot listen on unix:%s (its directory missing or not writable?)",
				 f->opt.listen_host);
		else
			snprintf(err, errlen, "cannot listen on %s:%d (in use, or a bad address)",
				 f->opt.listen_host, f->opt.listen_port);
		return STRATA_EIO;
	}
	f->unix_bound = f->opt.listen_unix && f->opt.listen_host[0] != '@';
	bridge_set_context(f->bridge, f->ctx);
	lws_sul_schedule(f->ctx, 0, &f->tick, on_tick, LWS_US_PER_SEC / 4);
	if ((rv = gql_start(f, err, errlen)) != 0) /* GraphQL hook */
		return rv;
	/* The SUB may have connected before the context existed. */
	if (ipc_sub_connected(f->sub))
		f->events_up = true;
	return 0;
}

void front_run(struct front *f)
{
	while (!f->interrupted)
		if (lws_service(f->ctx, 0) < 0)
			break;
}

void front_stop(struct front *f)
{
	/* Stop the wake-ups first: after this nng callbacks only queue. */
	if (f->bridge)
		bridge_set_context(f->bridge, NULL);
	gql_stop(f); /* GraphQL hook: its workers before the context */
	if (f->ctx) {
		lws_sul_cancel(&f->tick);
		lws_context_destroy(f->ctx);
	}
	f->ctx = NULL;
	if (f->unix_bound) { /* the socket file this frontend made */
		if (unlink(f->opt.listen_host) != 0 && errno != ENOENT)
			fprintf(stderr, "strata-front: unlink %s: %s\n", f->opt.listen_host, strerror(errno));
		f->unix_bound = false;
	}
	ipc_sub_close(f->sub);
	ipc_client_close(f->ctl);
	f->ctl = NULL;
	ctl_shutdown(f);
	ws_hub_destroy(f);
	bridge_destroy(f->bridge);
	auth_free(f->auth);
	tickets_free(f->tickets);
	f->tickets = NULL;
	f->sub = NULL;
	f->ctl = NULL;
	f->bridge = NULL;
	f->auth = NULL;
}
