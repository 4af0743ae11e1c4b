/*
 * frontend/graphql/gql_server.c — GraphQL transports, worker pool and
 * subscription feeds (see the header).
 *
 * graphql-transport-ws session states (service thread only):
 *
 *   state      event                          -> state     action
 *   OPEN       connection_init (auth ok)      -> ACKED     connection_ack
 *   OPEN       connection_init (auth bad)     -> closed    4403 Forbidden
 *   OPEN       init timer fires               -> closed    4408 Connection initialisation timeout
 *   OPEN       subscribe                      -> closed    4401 Unauthorized
 *   any        second connection_init         -> closed    4429 Too many initialisation requests
 *   ACKED      subscribe, id in use           -> closed    4409 Subscriber for <id> already exists
 *   ACKED      subscribe                      -> ACKED     job queued; then next/complete,
 *                                                          error, or a subscription on a feed
 *   ACKED      complete <id>                  -> ACKED     operation dropped (a late result too)
 *   any        ping                           -> same      pong
 *   any        not a valid message            -> closed    4400 Invalid message received
 *   any        closed by the peer             -> (gone)    subscriptions removed
 *
 * Worker jobs carry the connection's serial, never a pointer to it: a
 * connection that closes while its job runs is simply not found when the
 * result comes back, and the result is dropped.
 */
#include "frontend/graphql/gql_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "frontend/auth.h"
#include "frontend/bridge.h"
#include "frontend/graphql/gql_exec.h"
#include "frontend/graphql/gql_explorer.h"
#include "frontend/graphql/gql_schema.h"
#include "frontend/graphql/gql_sdl.h"
#include "frontend/graphql/gql_strata.h"
#include "frontend/origin.h"
#include "proto/event_codec.h"
#include "strata/error.h"
#include "strata/events.h"
#include "proto/json_text.h"

#define WORKERS 3
#define MAX_QUEUED_JOBS 256
#define WS_MAX_MESSAGE (512u * 1024)
#define WS_MAX_QUEUED 1024
#define INIT_TIMEOUT_MS_DEFAULT 3000

enum conn_kind { CONN_NONE, CONN_HTTP, CONN_WS };

struct gql_out {
	struct gql_out *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE, then len bytes */
};

struct gql_sub;

struct gql_op {
	char id[128];
	bool pending;        /* a worker job is running for it */
	struct gql_sub *sub; /* a live subscription */
	struct gql_op *next;
};

struct gql_conn {
	int kind;
	struct lws *wsi;
	uint64_t serial;
	struct gql_conn *prev, *next;
	bool listed;
	enum role role;
	bool header_auth_ok;
	/* HTTP */
	bool waiting;
	char *body;
	size_t body_len, body_cap;
	int status;
	const char *ctype;
	char *resp; /* LWS_PRE + resp_len */
	size_t resp_len, sent;
	bool headers_sent, answering;
	struct origin_grant cors; /* CORS headers of the answer (frontend/origin.h) */
	/* WebSocket */
	bool init_received, acked;
	char *rx;
	size_t rx_len, rx_cap;
	bool rx_over;
	struct gql_out *out_head, *out_tail;
	size_t out_n;
	struct gql_op *ops;
	int close_code;
	char close_reason[96];
};

_Static_assert(sizeof(struct gql_conn) <= GQL_SESSION_BYTES, "raise GQL_SESSION_BYTES");

enum job_kind { JOB_HTTP, JOB_WS };

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t conn_serial;
	char op_id[128];
	char *query;
	size_t qlen;
	json_t *variables;
	char *opname;
	enum role role;
	bool get;
	/* results */
	json_t *response;
	int status;
	bool is_sub;
	struct gql_prepared prep;
	const char *sub_field;
	json_t *sub_args;
};

struct gql_sub {
	struct gql_conn *conn;
	struct gql_op *op;
	struct gql_prepared prep;
	struct feed *feed;
	struct gql_sub *next_in_feed;
};

struct feed {
	char field[64];
	json_t *args;
	int family;
	int64_t last_ms; /* last delivery (monotonic), for intervalSeconds */
	struct gql_sub *subs;
	struct feed *next;
};

struct gql_service {
	struct front *f;
	struct gql_schema *schema;
	pthread_mutex_t lock; /* guards queue, done, stopping, ctx, queued */
	pthread_cond_t cond;
	struct job *queue, *queue_tail, *done, *done_tail;
	size_t queued;
	bool stopping;
	struct lws_context *ctx;
	pthread_t threads[WORKERS];
	unsigned nthreads;
	_Atomic uint64_t next_id;
	/* service thread only */
	uint64_t next_serial;
	struct gql_conn *conns;
	struct feed *feeds;
	int init_timeout_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->query);
	free(j->opname);
	json_decref(j->variables);
	json_decref(j->response);
	json_decref(j->sub_args);
	if (j->is_sub)
		gql_prepared_clear(&j->prep);
	free(j);
}

static json_t *forbidden(const char *what, enum role need, enum role have)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "forbidden: %s needs the %s role; the token has %s", what,
		 role_name(need), role_name(have));
	return gql_error_response(msg);
}

static void run_job(struct gql_service *svc, struct job *j)
{
	struct gql_prepared p;
	json_t *resp = NULL;
	j->status = 200;
	if (gql_prepare(svc->schema, j->query, j->qlen, j->variables, j->opname, &p, &resp) != 0) {
		j->response = resp;
		return;
	}
	if (p.operation == GQL_OP_SUBSCRIPTION) {
		if (j->kind == JOB_HTTP) {
			j->response = gql_error_response(
				"Subscriptions need the WebSocket transport: connect to /graphql with the graphql-transport-ws subprotocol.");
			j->status = 400;
			gql_prepared_clear(&p);
			return;
		}
		if (gql_subscription_field(&p, &j->sub_field, &j->sub_args, &resp) != 0) {
			j->response = resp;
			gql_prepared_clear(&p);
			return;
		}
		j->prep = p;
		j->is_sub = true;
		return;
	}
	if (p.operation == GQL_OP_MUTATION && j->get) {
		j->response = gql_error_response("Mutations need POST: GET /graphql runs queries only.");
		j->status = 405;
		gql_prepared_clear(&p);
		return;
	}
	if (p.operation == GQL_OP_MUTATION && j->role < ROLE_WRITE) {
		j->response = forbidden("a mutation", ROLE_WRITE, j->role);
		j->status = 403;
		gql_prepared_clear(&p);
		return;
	}
	struct gql_call_ctx ctx = {
		.ctl = svc->f->ctl, .client_id = svc->f->client_id,
		.cluster_tok = svc->f->cluster_tok, .next_id = &svc->next_id,
		.timeout_ms = svc->f->opt.timeout_ms > 0 ? svc->f->opt.timeout_ms : 5000, .role = j->role,
	};
	j->response = gql_execute(&p, gql_strata_resolvers, gql_strata_nresolvers, NULL, &ctx);
	gql_prepared_clear(&p);
}

static void *worker_main(void *arg)
{
	struct gql_service *svc = arg;
	pthread_mutex_lock(&svc->lock);
	for (;;) {
		while (!svc->queue && !svc->stopping)
			pthread_cond_wait(&svc->cond, &svc->lock);
		if (svc->stopping)
			break;
		struct job *j = svc->queue;
		svc->queue = j->next;
		if (!svc->queue)
			svc->queue_tail = NULL;
		svc->queued--;
		pthread_mutex_unlock(&svc->lock);
		run_job(svc, j);
		pthread_mutex_lock(&svc->lock);
		j->next = NULL;
		if (svc->done_tail)
			svc->done_tail->next = j;
		else
			svc->done = j;
		svc->done_tail = j;
		if (svc->ctx)
			lws_cancel_service(svc->ctx);
	}
	pthread_mutex_unlock(&svc->lock);
	return NULL;
}

/* Service thread: 0, or STRATA_EBUSY when the queue is full (j untouched). */
static int submit(struct gql_service *svc, struct job *j)
{
	pthread_mutex_lock(&svc->lock);
	if (svc->queued >= MAX_QUEUED_JOBS || svc->stopping) {
		pthread_mutex_unlock(&svc->lock);
		return STRATA_EBUSY;
	}
	j->next = NULL;
	if (svc->queue_tail)
		svc->queue_tail->next = j;
	else
		svc->queue = j;
	svc->queue_tail = j;
	svc->queued++;
	pthread_cond_signal(&svc->cond);
	pthread_mutex_unlock(&svc->lock);
	return 0;
}

/* ---- connections ---- */

static void conn_list(struct gql_service *svc, struct gql_conn *c)
{
	c->serial = ++svc->next_serial;
	c->prev = NULL;
	c->next = svc->conns;
	if (svc->conns)
		svc->conns->prev = c;
	svc->conns = c;
	c->listed = true;
}

static void conn_unlist(struct gql_service *svc, struct gql_conn *c)
{
	if (!c->listed)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		svc->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->listed = false;
}

static struct gql_conn *conn_find(struct gql_service *svc, uint64_t serial)
{
	for (struct gql_conn *c = svc->conns; c; c = c->next)
		if (c->serial == serial)
			return c;
	return NULL;
}

static enum role role_of_header(struct front *f, struct lws *wsi, bool *ok)
{
	enum role role = ROLE_ADMIN;
	*ok = true;
	if (!f->auth)
		return role;
	char hdr[600] = "";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
		lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (!hdr[0] || auth_check(f->auth, hdr, &role) != 0) {
		*ok = false;
		return ROLE_PUBLIC;
	}
	return role;
}

/* ---- HTTP ---- */

static void http_reset(struct gql_conn *c)
{
	free(c->body);
	free(c->resp);
	c->body = c->resp = NULL;
	c->body_len = c->body_cap = c->resp_len = c->sent = 0;
	c->headers_sent = c->answering = c->waiting = false;
}

static void http_answer_text(struct lws *wsi, struct gql_conn *c, int status, const char *ctype,
			     const char *text, size_t len)
{
	free(c->resp);
	c->resp = malloc(LWS_PRE + len + 1);
	if (!c->resp) {
		c->resp_len = 0;
		status = 500;
	} else {
		memcpy(c->resp + LWS_PRE, text, len);
		c->resp_len = len;
	}
	c->status = status;
	c->ctype = ctype;
	c->sent = 0;
	c->headers_sent = false;
	c->answering = true;
	c->waiting = false;
	lws_callback_on_writable(wsi);
}

static void http_answer_json(struct lws *wsi, struct gql_conn *c, int status, json_t *body)
{
	char *t = body ? proto_json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!t) {
		static const char oom[] = "{\"errors\":[{\"message\":\"out of memory\"}]}";
		http_answer_text(wsi, c, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	http_answer_text(wsi, c, status, "application/json", t, strlen(t));
	free(t);
}

static void http_error(struct lws *wsi, struct gql_conn *c, int status, const char *msg)
{
	http_answer_json(wsi, c, status, gql_error_response(msg));
}

/* Queues a job for an HTTP request; answers at once on failure. */
static void http_run(struct gql_service *svc, struct lws *wsi, struct gql_conn *c,
		     const char *query, json_t *variables, const char *opname, bool get)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !(j->query = strdup(query)) || (opname && !(j->opname = strdup(opname)))) {
		job_free(j);
		http_error(wsi, c, 500, "out of memory");
		return;
	}
	j->kind = JOB_HTTP;
	j->qlen = strlen(query);
	j->variables = json_incref(variables);
	j->role = c->role;
	j->get = get;
	j->conn_serial = c->serial;
	if (submit(svc, j) != 0) {
		job_free(j);
		http_error(wsi, c, 503, "busy: too many GraphQL requests in progress; retry");
		return;
	}
	c->waiting = true;
}

/* GET /graphql from a browser: Accept names text/html and there is no
 * query argument (GET /graphql?query=... runs the query). */
static bool wants_explorer(struct lws *wsi)
{
	char accept[512] = ""; /* browsers send about 150 bytes */
	if (lws_hdr_copy(wsi, accept, sizeof(accept), WSI_TOKEN_HTTP_ACCEPT) <= 0 ||
	    !strstr(accept, "text/html"))
		return false;
	char frag[256];
	for (int i = 0; i < 32; i++) {
		int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		if ((size_t)n >= sizeof(frag)) /* a long argument: not a page to open */
			return false;
		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) < 0 ||
		    strncmp(frag, "query=", 6) == 0)
			return false;
	}
	return true;
}

static int http_request(struct gql_service *svc, struct lws *wsi, struct gql_conn *c)
{
	struct front *f = svc->f;
	if (c->kind == CONN_HTTP) { /* a keep-alive connection's next request */
		conn_unlist(svc, c);
		http_reset(c);
	}
	memset(c, 0, sizeof(*c));
	char omsg[400];
	enum origin_http oh = origin_http_check(f, wsi, &c->cors, omsg, sizeof(omsg));
	if (oh == ORIGIN_HTTP_PREFLIGHT)
		return origin_answer_preflight(wsi, &c->cors); /* c stays CONN_NONE */
	c->kind = CONN_HTTP;
	c->wsi = wsi;
	conn_list(svc, c);
	if (oh == ORIGIN_HTTP_REFUSED) {
		http_error(wsi, c, 403, omsg);
		return 0;
	}
	char path[512] = "";
	bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (get)
		lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	else if (post)
		lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_POST_URI);
	bool is_sdl = strcmp(path, "/graphql/schema.graphql") == 0;
	const char *ctype;
	const struct embedded_file *file = gql_explorer_asset(path, &ctype);
	if (strcmp(path, "/graphql") != 0 && strcmp(path, "/graphql/") != 0 && !is_sdl && !file) {
		http_error(wsi, c, 404, "no route: GraphQL is at /graphql");
		return 0;
	}
	if (!get && !post) {
		http_error(wsi, c, 405, "GraphQL takes GET and POST");
		return 0;
	}
	/* the explorer's files are public: they hold no data */
	if (!file && get && !is_sdl && wants_explorer(wsi))
		file = gql_explorer_page(&ctype);
	if (file) {
		if (get)
			http_answer_text(wsi, c, 200, ctype, file->data, file->len);
		else
			http_error(wsi, c, 405, "GET only");
		return 0;
	}
	bool ok;
	c->role = role_of_header(f, wsi, &ok);
	if (!ok) {
		http_error(wsi, c, 401, "unauthorized: a valid 'Authorization: Bearer TOKEN' header is required");
		return 0;
	}
	if (is_sdl) {
		if (!get) {
			http_error(wsi, c, 405, "GET only");
			return 0;
		}
		http_answer_text(wsi, c, 200, "text/plain; charset=utf-8", gql_strata_sdl,
				 gql_strata_sdl_len);
		return 0;
	}
	if (post) {
		char cl[32] = "";
		if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
		    strtoull(cl, NULL, 10) > f->opt.max_body) {
			http_error(wsi, c, 413, "request body over the limit");
			return 0;
		}
		return 0; /* the body follows */
	}
	/* GET: query, variables, operationName from the query string */
	char *query = NULL, *vars = NULL, *opname = NULL;
	char frag[8192];
	for (int i = 0; i < 32; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		char **slot = strncmp(frag, "query=", 6) == 0           ? &query
			      : strncmp(frag, "variables=", 10) == 0     ? &vars
			      : strncmp(frag, "operationName=", 14) == 0 ? &opname
									 : NULL;
		if (slot && !*slot)
			*slot = strdup(strchr(frag, '=') + 1);
	}
	if (!query) {
		http_error(wsi, c, 400, "missing 'query' (GET /graphql?query=...)");
		free(vars);
		free(opname);
		return 0;
	}
	json_t *v = NULL;
	if (vars && vars[0]) {
		json_error_t je;
		v = json_loads(vars, 0, &je);
		if (!v || !json_is_object(v)) {
			json_decref(v);
			http_error(wsi, c, 400, "'variables' must be a JSON object");
			free(query);
			free(vars);
			free(opname);
			return 0;
		}
	}
	http_run(svc, wsi, c, query, v, opname, true);
	json_decref(v);
	free(query);
	free(vars);
	free(opname);
	return 0;
}

static int http_body(struct gql_service *svc, struct lws *wsi, struct gql_conn *c, const void *in,
		     size_t len)
{
	if (c->answering || c->waiting)
		return 0;
	if (c->body_len + len > svc->f->opt.max_body) {
		http_error(wsi, c, 413, "request body over the limit");
		return 0;
	}
	if (c->body_len + len > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap * 2 : 4096;
		while (cap < c->body_len + len)
			cap *= 2;
		char *nb = realloc(c->body, cap);
		if (!nb) {
			http_error(wsi, c, 500, "out of memory");
			return 0;
		}
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, in, len);
	c->body_len += len;
	return 0;
}

static int http_body_done(struct gql_service *svc, struct lws *wsi, struct gql_conn *c)
{
	if (c->answering || c->waiting)
		return 0;
	json_error_t je;
	json_t *b = c->body_len ? json_loadb(c->body, c->body_len, 0, &je) : NULL;
	if (!b || !json_is_object(b)) {
		json_decref(b);
		http_error(wsi, c, 400,
			   "expected a JSON body {\"query\": ..., \"variables\": {...}, \"operationName\": ...}");
		return 0;
	}
	json_t *q = json_object_get(b, "query"), *v = json_object_get(b, "variables"),
	       *o = json_object_get(b, "operationName");
	if (!json_is_string(q)) {
		http_error(wsi, c, 400, "'query' must be a string");
	} else if (v && !json_is_null(v) && !json_is_object(v)) {
		http_error(wsi, c, 400, "'variables' must be an object");
	} else if (o && !json_is_null(o) && !json_is_string(o)) {
		http_error(wsi, c, 400, "'operationName' must be a string");
	} else {
		http_run(svc, wsi, c, json_string_value(q), json_is_object(v) ? v : NULL,
			 json_is_string(o) ? json_string_value(o) : NULL, false);
	}
	json_decref(b);
	return 0;
}

static int http_writable(struct lws *wsi, struct gql_conn *c)
{
	if (!c->answering)
		return 0;
	if (!c->headers_sent) {
		unsigned char hbuf[LWS_PRE + 2048]; /* lws security + CORS headers */
		unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)c->status, c->ctype,
						(lws_filepos_t)c->resp_len, &p, end) ||
		    origin_add_headers(&c->cors, wsi, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		c->headers_sent = true;
		if (c->resp_len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (c->sent < c->resp_len) {
		size_t n = c->resp_len - c->sent;
		if (n > 16384)
			n = 16384;
		bool last = c->sent + n == c->resp_len;
		unsigned char *buf = (unsigned char *)c->resp + LWS_PRE + c->sent;
		if (lws_write(wsi, buf, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
			return -1;
		c->sent += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	/* lws may free or move this session once the transaction ends */
	struct gql_service *svc = lws_context_user(lws_get_context(wsi)) ?
		((struct front *)lws_context_user(lws_get_context(wsi)))->gql : NULL;
	if (svc)
		conn_unlist(svc, c);
	http_reset(c);
	c->kind = CONN_NONE;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- WebSocket: messages out ---- */

static void ws_send_text(struct gql_conn *c, const char *text, size_t len)
{
	if (c->close_code)
		return;
	if (c->out_n >= WS_MAX_QUEUED) {
		/* A client that stops reading loses its oldest messages. */
		struct gql_out *old = c->out_head;
		c->out_head = old->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(old);
		c->out_n--;
	}
	struct gql_out *o = malloc(sizeof(*o) + LWS_PRE + len);
	if (!o)
		return;
	o->next = NULL;
	o->len = len;
	memcpy(o->data + LWS_PRE, text, len);
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_n++;
	lws_callback_on_writable(c->wsi);
}

static void ws_send_json(struct gql_conn *c, json_t *msg)
{
	char *t = msg ? proto_json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (t) {
		ws_send_text(c, t, strlen(t));
		free(t);
	}
}

/* Closes now (from this connection's own callback): returns -1 for lws. */
static int ws_close_now(struct lws *wsi, int code, const char *reason)
{
	lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
	return -1;
}

/* ---- subscriptions ---- */

static struct gql_op *op_find(struct gql_conn *c, const char *id)
{
	for (struct gql_op *o = c->ops; o; o = o->next)
		if (strcmp(o->id, id) == 0)
			return o;
	return NULL;
}

static void sub_detach(struct gql_service *svc, struct gql_sub *s)
{
	struct feed *fd = s->feed;
	if (fd) {
		struct gql_sub **pp = &fd->subs;
		while (*pp && *pp != s)
			pp = &(*pp)->next_in_feed;
		if (*pp)
			*pp = s->next_in_feed;
		if (!fd->subs) {
			struct feed **fp = &svc->feeds;
			while (*fp && *fp != fd)
				fp = &(*fp)->next;
			if (*fp)
				*fp = fd->next;
			json_decref(fd->args);
			free(fd);
		}
	}
	gql_prepared_clear(&s->prep);
	free(s);
}

static void op_remove(struct gql_service *svc, struct gql_conn *c, struct gql_op *o)
{
	struct gql_op **pp = &c->ops;
	while (*pp && *pp != o)
		pp = &(*pp)->next;
	if (*pp)
		*pp = o->next;
	if (o->sub)
		sub_detach(svc, o->sub);
	free(o);
}

static int family_of_field(const char *field)
{
	if (strcmp(field, "bufferPoolMetrics") == 0)
		return STRATA_FAM_BUFFER_POOL;
	if (strcmp(field, "lsmTreeEvents") == 0)
		return STRATA_FAM_LSM;
	if (strcmp(field, "storageTierMetrics") == 0)
		return STRATA_FAM_TIERS;
	if (strcmp(field, "diskIoMetrics") == 0)
		return STRATA_FAM_IO;
	if (strcmp(field, "pageEvents") == 0)
		return STRATA_FAM_PAGES;
	if (strcmp(field, "columnarEvents") == 0)
		return STRATA_FAM_COLUMNAR;
	return -1;
}

static bool sub_register(struct gql_service *svc, struct gql_conn *c, struct gql_op *o,
			 struct job *j)
{
	int fam = family_of_field(j->sub_field);
	if (fam < 0)
		return false;
	struct gql_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return false;
	struct feed *fd = svc->feeds;
	while (fd && !(strcmp(fd->field, j->sub_field) == 0 && json_equal(fd->args, j->sub_args)))
		fd = fd->next;
	if (!fd) {
		fd = calloc(1, sizeof(*fd));
		if (!fd) {
			free(s);
			return false;
		}
		snprintf(fd->field, sizeof(fd->field), "%s", j->sub_field);
		fd->args = json_incref(j->sub_args);
		fd->family = fam;
		fd->next = svc->feeds;
		svc->feeds = fd;
	}
	s->conn = c;
	s->op = o;
	s->prep = j->prep; /* ownership moves to the subscription */
	j->is_sub = false;
	s->feed = fd;
	s->next_in_feed = fd->subs;
	fd->subs = s;
	o->sub = s;
	return true;
}

static void rfc3339_now(json_t *obj, json_t *ts)
{
	int64_t secs = json_is_integer(ts) ? (int64_t)json_integer_value(ts) : (int64_t)time(NULL);
	time_t tt = (time_t)secs;
	struct tm tm;
	char buf[64] = "1970-01-01T00:00:00Z";
	if (gmtime_r(&tt, &tm))
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(obj, "timestamp", json_string(buf));
}

static double num(const json_t *d, const char *k)
{
	return json_number_value(json_object_get(d, k));
}

static void set_from(json_t *out, const char *to, const json_t *d, const char *from)
{
	json_t *v = json_object_get(d, from);
	if (v)
		json_object_set(out, to, v);
}

/*
 * The GraphQL source object of one event for a feed, or NULL when the feed
 * does not take this event (another variant, another object, or inside
 * its interval).
 */
static json_t *map_event(struct feed *fd, const char *variant, json_t *d, json_t *ts)
{
	json_t *out = NULL;
	const char *field = fd->field;
	if (strcmp(field, "bufferPoolMetrics") == 0 || strcmp(field, "diskIoMetrics") == 0 ||
	    strcmp(field, "storageTierMetrics") == 0) {
		const char *want = field[0] == 'b' ? "PoolStats" : field[0] == 'd' ? "IoStats" : "TierStats";
		if (strcmp(variant, want) != 0)
			return NULL;
		json_int_t secs = json_integer_value(json_object_get(fd->args, "intervalSeconds"));
		if (secs < 1)
			secs = 1;
		int64_t now = now_ms();
		/* a little slack: the base ticks jitter around their interval */
		if (fd->last_ms && now - fd->last_ms < secs * 1000 - 300)
			return NULL;
		fd->last_ms = now;
		out = json_deep_copy(d);
		if (!out)
			return NULL;
		if (field[0] == 'd') {
			double r = num(d, "reads_per_sec"), w = num(d, "writes_per_sec");
			double rl = num(d, "avg_read_latency_us"), wl = num(d, "avg_write_latency_us");
			json_object_set_new(out, "iops", json_real(r + w));
			set_from(out, "avg_read_latency", d, "avg_read_latency_us");
			set_from(out, "avg_write_latency", d, "avg_write_latency_us");
			json_object_set_new(out, "reads", json_real(r));
			json_object_set_new(out, "writes", json_real(w));
			set_from(out, "read_throughput", d, "read_throughput_mbps");
			set_from(out, "write_throughput", d, "write_throughput_mbps");
			double avg = r + w > 0 ? (rl * r + wl * w) / (r + w) : (rl + wl) / 2;
			json_object_set_new(out, "avg_latency", json_integer((json_int_t)(avg + 0.5)));
		} else if (field[0] == 's') {
			set_from(out, "migrations", d, "total_migrations");
			set_from(out, "compression_ratio", d, "avg_compression_ratio");
		}
		rfc3339_now(out, ts);
		return out;
	}
	if (strcmp(field, "lsmTreeEvents") == 0) {
		const char *tree = json_string_value(json_object_get(fd->args, "treeName"));
		const char *name = json_string_value(json_object_get(d, "tree_name"));
		if (!tree || !name || strcmp(tree, name) != 0)
			return NULL;
		const char *type = strcmp(variant, "MemtableFlushed") == 0       ? "flush"
				   : strcmp(variant, "CompactionStarted") == 0   ? "compaction"
				   : strcmp(variant, "CompactionCompleted") == 0 ? "compaction"
				   : strcmp(variant, "CompactionProgress") == 0  ? "compaction_progress"
				   : strcmp(variant, "LevelMigration") == 0      ? "migration"
				   : strcmp(variant, "WriteStall") == 0          ? "stall"
										 : NULL;
		if (!type)
			return NULL;
		out = json_pack("{s:s, s:s, s:s}", "event_type", type, "tree_name", name, "variant", variant);
		if (!out)
			return NULL;
		if (strcmp(variant, "CompactionStarted") == 0) {
			set_from(out, "level", d, "level");
			set_from(out, "sstable_count", d, "sstable_count");
			json_object_set_new(out, "compaction_progress", json_real(0));
		} else if (strcmp(variant, "CompactionCompleted") == 0) {
			set_from(out, "level", d, "level");
			set_from(out, "sstable_count", d, "new_sstables");
			set_from(out, "duration", d, "duration_ms");
			json_object_set_new(out, "compaction_progress", json_real(100));
		} else if (strcmp(variant, "CompactionProgress") == 0) {
			set_from(out, "level", d, "level");
			set_from(out, "compaction_progress", d, "percent");
		} else if (strcmp(variant, "LevelMigration") == 0) {
			set_from(out, "level", d, "to_level");
			set_from(out, "sstable_count", d, "sstable_count");
		} else if (strcmp(variant, "WriteStall") == 0) {
			json_object_set_new(out, "duration",
					    json_integer((json_int_t)(num(d, "stall_us") / 1000)));
			set_from(out, "reason", d, "reason");
		} else {
			set_from(out, "entries", d, "entries");
		}
		rfc3339_now(out, ts);
		return out;
	}
	if (strcmp(field, "pageEvents") == 0) {
		out = json_pack("{s:s}", "event_type", variant);
		if (!out)
			return NULL;
		set_from(out, "page_id", d, "page_id");
		set_from(out, "page_id", d, "original_page_id");
		set_from(out, "page_id", d, "result_page_id");
		set_from(out, "new_page_id", d, "new_page_id");
		if (strcmp(variant, "PageMerged") == 0)
			set_from(out, "freed_page_id", d, "page2_id");
		set_from(out, "size", d, "size");
		set_from(out, "reason", d, "reason");
		set_from(out, "bytes_reclaimed", d, "bytes_reclaimed");
		set_from(out, "expected_checksum", d, "expected");
		set_from(out, "actual_checksum", d, "actual");
		json_t *want = json_object_get(fd->args, "pageId");
		if (json_is_integer(want)) {
			json_int_t w = json_integer_value(want);
			const char *keys[] = {"page_id", "new_page_id", "freed_page_id"};
			bool match = false;
			for (size_t i = 0; i < 3 && !match; i++) {
				json_t *v = json_object_get(out, keys[i]);
				match = json_is_integer(v) && json_integer_value(v) == w;
			}
			if (!match) {
				json_decref(out);
				return NULL;
			}
		}
		rfc3339_now(out, ts);
		return out;
	}
	if (strcmp(field, "columnarEvents") == 0) {
		const char *want = json_string_value(json_object_get(fd->args, "tableName"));
		const char *name = json_string_value(json_object_get(d, "table_name"));
		if (want && (!name || strcmp(want, name) != 0))
			return NULL;
		out = json_deep_copy(d);
		if (!out)
			return NULL;
		json_object_set_new(out, "event_type", json_string(variant));
		rfc3339_now(out, ts);
		return out;
	}
	return NULL;
}

static void deliver(struct gql_service *svc, struct feed *fd, json_t *payload)
{
	json_t *root = json_object();
	if (!root)
		return;
	json_object_set(root, fd->field, payload);
	for (struct gql_sub *s = fd->subs; s; s = s->next_in_feed) {
		json_t *resp = gql_execute(&s->prep, gql_strata_resolvers, gql_strata_nresolvers, root,
					   NULL);
		if (resp)
			ws_send_json(s->conn, json_pack("{s:s, s:s, s:o}", "id", s->op->id, "type", "next",
							"payload", resp));
	}
	json_decref(root);
	(void)svc;
}

void gql_on_event(struct front *f, const struct wsmsg *m)
{
	struct gql_service *svc = f->gql;
	if (!svc || !svc->feeds || m->family < 0)
		return;
	bool wanted = false;
	for (struct feed *fd = svc->feeds; fd && !wanted; fd = fd->next)
		wanted = fd->family == m->family;
	if (!wanted)
		return;
	/* one decode per event, shared by every feed and subscriber */
	json_t *ev = json_loadb((const char *)m->data + LWS_PRE, m->len, 0, NULL);
	json_t *data = json_object_get(ev, "data");
	const char *variant = NULL;
	json_t *d = NULL;
	if (json_is_object(data) && json_object_size(data) == 1) {
		void *it = json_object_iter(data);
		variant = json_object_iter_key(it);
		d = json_object_iter_value(it);
	}
	/* counters the WebSocket JSON leaves out while they are 0 */
	int v = variant ? ev_variant_from_name(m->family, variant) : -1;
	size_t nf = 0;
	const struct ev_field *fields = v >= 0 ? ev_fields((enum strata_ev_variant)v, &nf) : NULL;
	for (size_t i = 0; json_is_object(d) && i < nf; i++)
		if (fields[i].type != STRATA_FT_STR && !json_object_get(d, fields[i].name))
			json_object_set_new(d, fields[i].name,
					    fields[i].type == STRATA_FT_F64 ? json_real(0) : json_integer(0));
	if (variant && json_is_object(d)) {
		for (struct feed *fd = svc->feeds; fd; fd = fd->next) {
			if (fd->family != m->family)
				continue;
			json_t *payload = map_event(fd, variant, d, json_object_get(ev, "timestamp"));
			if (payload) {
				deliver(svc, fd, payload);
				json_decref(payload);
			}
		}
	}
	json_decref(ev);
}

/* ---- WebSocket: messages in ---- */

static void ws_job_done(struct gql_service *svc, struct gql_conn *c, struct job *j)
{
	struct gql_op *o = op_find(c, j->op_id);
	if (!o || !o->pending)
		return; /* completed by the client meanwhile */
	o->pending = false;
	if (j->is_sub) {
		if (sub_register(svc, c, o, j))
			return;
		ws_send_json(c, json_pack("{s:s, s:s, s:[{s:s}]}", "id", o->id, "type", "error", "payload",
					  "message", "cannot subscribe (out of memory)"));
		op_remove(svc, c, o);
		return;
	}
	json_t *resp = j->response;
	if (resp && !json_object_get(resp, "data")) {
		/* a request error: the error message carries the errors */
		ws_send_json(c, json_pack("{s:s, s:s, s:O}", "id", o->id, "type", "error", "payload",
					  json_object_get(resp, "errors")));
	} else if (resp) {
		ws_send_json(c, json_pack("{s:s, s:s, s:O}", "id", o->id, "type", "next", "payload", resp));
		ws_send_json(c, json_pack("{s:s, s:s}", "id", o->id, "type", "complete"));
	}
	op_remove(svc, c, o);
}

static int ws_message(struct gql_service *svc, struct lws *wsi, struct gql_conn *c, const char *text,
		      size_t len)
{
	json_t *msg = json_loadb(text, len, 0, NULL);
	const char *type = json_string_value(json_object_get(msg, "type"));
	int rv = 0;
	if (!json_is_object(msg) || !type) {
		rv = ws_close_now(wsi, 4400, "Invalid message received");
		goto out;
	}
	if (strcmp(type, "connection_init") == 0) {
		if (c->init_received) {
			rv = ws_close_now(wsi, 4429, "Too many initialisation requests");
			goto out;
		}
		c->init_received = true;
		json_t *payload = json_object_get(msg, "payload");
		if (payload && !json_is_object(payload) && !json_is_null(payload)) {
			rv = ws_close_now(wsi, 4400, "Invalid message received");
			goto out;
		}
		const char *token = json_string_value(json_object_get(payload, "token"));
		if (svc->f->auth && token) {
			char hdr[600];
			enum role role;
			snprintf(hdr, sizeof(hdr), "Bearer %s", token);
			if (auth_check(svc->f->auth, hdr, &role) != 0) {
				rv = ws_close_now(wsi, 4403, "Forbidden");
				goto out;
			}
			c->role = role;
		} else if (svc->f->auth && !c->header_auth_ok) {
			rv = ws_close_now(wsi, 4403, "Forbidden");
			goto out;
		}
		if (c->role < ROLE_READ) {
			rv = ws_close_now(wsi, 4403, "Forbidden");
			goto out;
		}
		c->acked = true;
		lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
		ws_send_json(c, json_pack("{s:s}", "type", "connection_ack"));
	} else if (strcmp(type, "ping") == 0) {
		json_t *pong = json_pack("{s:s}", "type", "pong");
		json_t *p = json_object_get(msg, "payload");
		if (pong && json_is_object(p))
			json_object_set(pong, "payload", p);
		ws_send_json(c, pong);
	} else if (strcmp(type, "pong") == 0) {
		/* nothing to do */
	} else if (strcmp(type, "subscribe") == 0) {
		const char *id = json_string_value(json_object_get(msg, "id"));
		json_t *payload = json_object_get(msg, "payload");
		const char *query = json_string_value(json_object_get(payload, "query"));
		json_t *vars = json_object_get(payload, "variables");
		json_t *opname = json_object_get(payload, "operationName");
		if (!id || !id[0] || strlen(id) >= sizeof(((struct gql_op *)0)->id) || !json_is_object(payload) ||
		    !query || (vars && !json_is_null(vars) && !json_is_object(vars)) ||
		    (opname && !json_is_null(opname) && !json_is_string(opname))) {
			rv = ws_close_now(wsi, 4400, "Invalid message received");
			goto out;
		}
		if (!c->acked) {
			rv = ws_close_now(wsi, 4401, "Unauthorized");
			goto out;
		}
		if (op_find(c, id)) {
			char reason[200];
			snprintf(reason, sizeof(reason), "Subscriber for %.100s already exists", id);
			rv = ws_close_now(wsi, 4409, reason);
			goto out;
		}
		struct gql_op *o = calloc(1, sizeof(*o));
		struct job *j = calloc(1, sizeof(*j));
		if (!o || !j || !(j->query = strdup(query)) ||
		    (json_is_string(opname) && !(j->opname = strdup(json_string_value(opname))))) {
			free(o);
			job_free(j);
			rv = ws_close_now(wsi, 1011, "out of memory");
			goto out;
		}
		snprintf(o->id, sizeof(o->id), "%s", id);
		o->pending = true;
		o->next = c->ops;
		c->ops = o;
		j->kind = JOB_WS;
		j->qlen = strlen(query);
		j->variables = json_is_object(vars) ? json_incref(vars) : NULL;
		j->role = c->role;
		j->conn_serial = c->serial;
		snprintf(j->op_id, sizeof(j->op_id), "%s", id);
		if (submit(svc, j) != 0) {
			job_free(j);
			ws_send_json(c, json_pack("{s:s, s:s, s:[{s:s}]}", "id", id, "type", "error",
						  "payload", "message",
						  "busy: too many GraphQL requests in progress; retry"));
			op_remove(svc, c, o);
		}
	} else if (strcmp(type, "complete") == 0) {
		const char *id = json_string_value(json_object_get(msg, "id"));
		if (!id) {
			rv = ws_close_now(wsi, 4400, "Invalid message received");
			goto out;
		}
		struct gql_op *o = op_find(c, id);
		if (o)
			op_remove(svc, c, o);
	} else {
		rv = ws_close_now(wsi, 4400, "Invalid message received");
	}
out:
	json_decref(msg);
	return rv;
}

static int ws_established(struct gql_service *svc, struct lws *wsi, struct gql_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->kind = CONN_WS;
	c->wsi = wsi;
	c->role = role_of_header(svc->f, wsi, &c->header_auth_ok);
	if (svc->f->auth && !c->header_auth_ok) {
		/* ?token=... (browsers cannot set headers on a WebSocket) */
		char frag[512];
		for (int i = 0; i < 32; i++) {
			if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
				break;
			if (strncmp(frag, "token=", 6) == 0) {
				char hdr[600];
				enum role role;
				snprintf(hdr, sizeof(hdr), "Bearer %s", frag + 6);
				if (auth_check(svc->f->auth, hdr, &role) == 0) {
					c->role = role;
					c->header_auth_ok = true;
				}
			}
		}
	}
	conn_list(svc, c);
	lws_set_timer_usecs(wsi, (lws_usec_t)svc->init_timeout_ms * 1000);
	return 0;
}

static void ws_closed(struct gql_service *svc, struct gql_conn *c)
{
	if (c->kind != CONN_WS)
		return;
	while (c->ops)
		op_remove(svc, c, c->ops);
	while (c->out_head) {
		struct gql_out *o = c->out_head;
		c->out_head = o->next;
		free(o);
	}
	c->out_tail = NULL;
	c->out_n = 0;
	free(c->rx);
	c->rx = NULL;
	conn_unlist(svc, c);
	c->kind = CONN_NONE;
}

static int ws_writable(struct lws *wsi, struct gql_conn *c)
{
	struct gql_out *o = c->out_head;
	if (o) {
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_n--;
		int n = lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT);
		free(o);
		if (n < 0)
			return -1;
		if (c->out_head || c->close_code)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->close_code)
		return ws_close_now(wsi, c->close_code, c->close_reason);
	return 0;
}

static int ws_receive(struct gql_service *svc, struct lws *wsi, struct gql_conn *c, const void *in,
		      size_t len)
{
	if (c->rx_len + len > WS_MAX_MESSAGE) {
		c->rx_over = true;
	} else if (!c->rx_over) {
		if (c->rx_len + len > c->rx_cap) {
			size_t cap = c->rx_cap ? c->rx_cap : 4096;
			while (cap < c->rx_len + len)
				cap *= 2;
			char *nb = realloc(c->rx, cap);
			if (!nb)
				return ws_close_now(wsi, 1011, "out of memory");
			c->rx = nb;
			c->rx_cap = cap;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	size_t n = c->rx_len;
	bool over = c->rx_over;
	c->rx_len = 0;
	c->rx_over = false;
	if (over)
		return ws_close_now(wsi, 4400, "Invalid message received");
	return ws_message(svc, wsi, c, c->rx, n);
}

/* ---- the service thread's side of the queue ---- */

static void drain_done(struct gql_service *svc)
{
	pthread_mutex_lock(&svc->lock);
	struct job *j = svc->done;
	svc->done = svc->done_tail = NULL;
	pthread_mutex_unlock(&svc->lock);
	while (j) {
		struct job *next = j->next;
		struct gql_conn *c = conn_find(svc, j->conn_serial);
		if (c && c->kind == CONN_HTTP && j->kind == JOB_HTTP && c->waiting) {
			http_answer_json(c->wsi, c, j->status, json_incref(j->response));
		} else if (c && c->kind == CONN_WS && j->kind == JOB_WS) {
			ws_job_done(svc, c, j);
		}
		job_free(j);
		j = next;
	}
}

int gql_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct front *f = ctx ? lws_context_user(ctx) : NULL;
	struct gql_service *svc = f ? f->gql : NULL;
	struct gql_conn *c = user;
	if (!svc)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		drain_done(svc);
		return 0;
	case LWS_CALLBACK_HTTP:
		return http_request(svc, wsi, c);
	case LWS_CALLBACK_HTTP_BODY:
		return http_body(svc, wsi, c, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return http_body_done(svc, wsi, c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c && c->kind == CONN_HTTP ? http_writable(wsi, c) : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (c && c->kind == CONN_HTTP) {
			conn_unlist(svc, c);
			http_reset(c);
			c->kind = CONN_NONE;
		}
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		if (origin_filter_ws(f, wsi)) /* a browser Origin not allowed: 403 */
			return 1;
		char path[256] = "";
		if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
			return 1;
		return strcmp(path, "/graphql") == 0 || strcmp(path, "/graphql/") == 0 ? 0 : 1;
	}
	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(svc, wsi, c);
	case LWS_CALLBACK_RECEIVE:
		return ws_receive(svc, wsi, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writable(wsi, c);
	case LWS_CALLBACK_TIMER:
		if (c && c->kind == CONN_WS && !c->acked)
			return ws_close_now(wsi, 4408, "Connection initialisation timeout");
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (c)
			ws_closed(svc, c);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- start / stop ---- */

int gql_start(struct front *f, char *err, size_t errlen)
{
	struct gql_service *svc = calloc(1, sizeof(*svc));
	if (!svc) {
		snprintf(err, errlen, "graphql: out of memory");
		return STRATA_ENOMEM;
	}
	struct gql_error ge;
	if (gql_schema_build(gql_strata_sdl, gql_strata_sdl_len, &svc->schema, &ge) != 0) {
		snprintf(err, errlen, "graphql: schema.graphql %u:%u: %s", ge.loc.line, ge.loc.column,
			 ge.message);
		free(svc);
		return STRATA_EINTERNAL;
	}
	svc->f = f;
	svc->next_id = (uint64_t)1 << 62; /* apart from http.c's request ids */
	const char *t = getenv("STRATA_GQL_INIT_TIMEOUT_MS");
	svc->init_timeout_ms = t && atoi(t) > 0 ? atoi(t) : INIT_TIMEOUT_MS_DEFAULT;
	pthread_mutex_init(&svc->lock, NULL);
	pthread_cond_init(&svc->cond, NULL);
	svc->ctx = f->ctx;
	for (unsigned i = 0; i < WORKERS; i++) {
		if (pthread_create(&svc->threads[i], NULL, worker_main, svc) != 0)
			break;
		svc->nthreads++;
	}
	if (svc->nthreads == 0) {
		snprintf(err, errlen, "graphql: cannot start worker threads");
		gql_schema_free(svc->schema);
		pthread_cond_destroy(&svc->cond);
		pthread_mutex_destroy(&svc->lock);
		free(svc);
		return STRATA_EINTERNAL;
	}
	f->gql = svc;
	return 0;
}

void gql_stop(struct front *f)
{
	struct gql_service *svc = f->gql;
	if (!svc)
		return;
	pthread_mutex_lock(&svc->lock);
	svc->stopping = true;
	svc->ctx = NULL;
	pthread_cond_broadcast(&svc->cond);
	pthread_mutex_unlock(&svc->lock);
	for (unsigned i = 0; i < svc->nthreads; i++)
		pthread_join(svc->threads[i], NULL);
	struct job *lists[2] = {svc->queue, svc->done};
	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct job *n = lists[k]->next;
			job_free(lists[k]);
			lists[k] = n;
		}
	/* connections still open: their subscriptions and queues */
	for (struct gql_conn *c = svc->conns; c;) {
		struct gql_conn *n = c->next;
		if (c->kind == CONN_WS)
			ws_closed(svc, c);
		else
			conn_unlist(svc, c);
		c = n;
	}
	gql_schema_free(svc->schema);
	pthread_cond_destroy(&svc->cond);
	pthread_mutex_destroy(&svc->lock);
	free(svc);
	f->gql = NULL;
}
