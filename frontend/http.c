/*
 * frontend/http.c — REST requests: route, authorise, call stratad, answer.
 *
 * An HTTP session's states (service thread only):
 *
 *   state     event                         -> state     action
 *   (new)     headers parsed, no body        -> ROUTED    dispatch
 *   (new)     headers parsed, body coming    -> BODY      collect chunks
 *   BODY      body complete                  -> ROUTED    parse JSON, dispatch
 *   BODY      body over the limit            -> ANSWER    413
 *   ROUTED    local route / error            -> ANSWER    body ready, ask writable
 *   ROUTED    control op sent                -> WAITING   on the pending list
 *   WAITING   reply / timeout / unavailable  -> ANSWER    ask writable
 *   WAITING   client closed                  -> (gone)    off the pending list;
 *                                                         the late reply is dropped
 *   ANSWER    writable                       -> ANSWER    headers, then body chunks
 *   ANSWER    last chunk written             -> (new)     keep-alive, or close
 */
#include "frontend/http.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "frontend/auth.h"
#include "frontend/bridge.h"
#include "frontend/ctl.h"
#include "ipc/ipc.h"
#include "proto/msg.h"
#include "strata/error.h"
#include "proto/json_text.h"

#define CHUNK 16384

static void pending_remove(struct front *f, struct http_session *s)
{
	if (!s->on_pending)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		f->pending = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->on_pending = false;
}

static void session_reset(struct http_session *s)
{
	json_decref(s->query);
	json_decref(s->params);
	free(s->body);
	free(s->resp);
	memset(s, 0, sizeof(*s));
}

/* Sets the answer: takes a reference to body. */
static void answer_json(struct lws *wsi, struct http_session *s, int status, json_t *body)
{
	char *text = NULL;
	if (body && s->ctype && json_is_string(body))
		text = strdup(json_string_value(body)); /* a text answer, sent as it is */
	else if (body)
		text = proto_json_dumps(body, JSON_COMPACT);
	if (!text)
		s->ctype = NULL;
	json_decref(body);
	if (!text) {
		text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
		status = 500;
		if (!text) {
			s->state = HTTP_FAIL;
			lws_callback_on_writable(wsi);
			return;
		}
	}
	size_t len = strlen(text);
	free(s->resp);
	s->resp = malloc(LWS_PRE + len + 1);
	if (s->resp) {
		memcpy(s->resp + LWS_PRE, text, len);
		s->resp[LWS_PRE + len] = '\n';
		s->resp_len = len + 1;
	}
	free(text);
	s->status = s->resp ? status : 500;
	s->sent = 0;
	s->headers_sent = false;
	s->state = s->resp ? HTTP_ANSWER : HTTP_FAIL;
	lws_callback_on_writable(wsi);
}

static void answer_error(struct lws *wsi, struct http_session *s, int err, const char *message)
{
	json_t *b = json_pack("{s:{s:s, s:s}}", "error", "code", strata_err_name(err), "message",
			      message ? message : strata_strerror(err));
	answer_json(wsi, s, strata_err_http_status(err), b);
}

static enum http_method method_of(struct lws *wsi, enum lws_token_indexes *tok)
{
	static const struct {
		enum lws_token_indexes tok;
		enum http_method m;
	} map[] = {
		{WSI_TOKEN_GET_URI, M_GET},       {WSI_TOKEN_POST_URI, M_POST},
		{WSI_TOKEN_PUT_URI, M_PUT},       {WSI_TOKEN_DELETE_URI, M_DELETE},
		{WSI_TOKEN_PATCH_URI, M_PATCH},   {WSI_TOKEN_HEAD_URI, M_HEAD},
		{WSI_TOKEN_OPTIONS_URI, M_OPTIONS},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (lws_hdr_total_length(wsi, map[i].tok) > 0) {
			*tok = map[i].tok;
			return map[i].m;
		}
	}
	return M_COUNT;
}

static json_t *query_of(struct lws *wsi)
{
	json_t *q = json_object();
	char frag[1024];
	for (int i = 0; q && i < 64; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		char *eq = strchr(frag, '=');
		if (eq) {
			*eq = '\0';
			json_object_set_new(q, frag, json_string(eq + 1));
		} else {
			json_object_set_new(q, frag, json_string(""));
		}
	}
	return q;
}

/* nng thread: hand the reply to the service thread. */
static void on_reply(void *arg, int err, const void *reply, size_t len)
{
	struct http_call *c = arg;
	/* Without memory the request times out at the client: nothing else to do. */
	bridge_push_reply(c->bridge, c->serial, err, reply, len);
	free(c);
}

static void dispatch(struct front *f, struct lws *wsi, struct http_session *s)
{
	char msg[256] = "";
	const struct route *r = s->route;
	struct route_req rq = {.params = s->params, .query = s->query, .body = NULL,
			       .role = s->role};
	json_t *body = NULL;

	if (s->body_len) {
		json_error_t je;
		body = json_loadb(s->body, s->body_len, 0, &je);
		if (!body) {
			snprintf(msg, sizeof(msg), "malformed JSON body at line %d column %d: %s",
				 je.line, je.column, je.text);
			answer_error(wsi, s, STRATA_EBAD_REQUEST, msg);
			return;
		}
		rq.body = body;
	}
	if (r->local) {
		int status = 500;
		json_t *out = NULL;
		r->local(f, &rq, &status, &out);
		s->ctype = r->content_type;
		s->no_store = r->no_store;
		json_decref(body);
		answer_json(wsi, s, status, out);
		return;
	}
	json_t *args = NULL;
	int rv = (r->build ? r->build : route_build_default)(&rq, &args, msg, sizeof(msg));
	json_decref(body);
	if (rv != 0) {
		answer_error(wsi, s, rv, msg[0] ? msg : NULL);
		return;
	}
	if (!ctl_breaker_allows(f)) {
		json_decref(args);
		answer_error(wsi, s, STRATA_EUNAVAILABLE,
			     "stratad is not answering: circuit breaker open, probing in the background");
		return;
	}
	struct proto_request preq = {.id = ++f->next_request_id, .client = f->client_id, .args = args};
	snprintf(preq.op, sizeof(preq.op), "%s", r->op);
	snprintf(preq.tok, sizeof(preq.tok), "%s", f->cluster_tok);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	rv = proto_request_encode(&preq, &sb);
	json_decref(args);
	if (rv != 0) {
		msgpack_sbuffer_destroy(&sb);
		answer_error(wsi, s, STRATA_EINTERNAL, "cannot encode the request");
		return;
	}
	struct http_call *c = malloc(sizeof(*c));
	if (!c) {
		msgpack_sbuffer_destroy(&sb);
		answer_error(wsi, s, STRATA_ENOMEM, NULL);
		return;
	}
	c->serial = s->serial = ++f->next_serial;
	c->bridge = f->bridge;
	rv = ipc_client_call_async(f->ctl, sb.data, sb.size, f->opt.timeout_ms, on_reply, c);
	msgpack_sbuffer_destroy(&sb);
	if (rv != 0) {
		free(c);
		ctl_breaker_record(f, rv);
		answer_error(wsi, s, rv, rv == STRATA_EUNAVAILABLE ? "stratad is unreachable" : NULL);
		return;
	}
	s->state = HTTP_WAITING;
	s->wsi = wsi;
	s->on_pending = true;
	s->prev = NULL;
	s->next = f->pending;
	if (f->pending)
		f->pending->prev = s;
	f->pending = s;
}

void http_on_reply(struct front *f, struct bridge_item *it)
{
	struct http_session *s = f->pending;
	while (s && s->serial != it->serial)
		s = s->next;
	if (!s)
		return; /* the client went away */
	pending_remove(f, s);
	if (it->err) {
		answer_error(s->wsi, s, it->err,
			     it->err == STRATA_ETIMEOUT ? "stratad did not answer in time"
			     : it->err == STRATA_EUNAVAILABLE ? "stratad is unreachable"
							      : NULL);
		return;
	}
	struct proto_reply rp = {0};
	struct proto_err perr = {{0}};
	if (proto_reply_decode(it->data, it->len, &rp, &perr) != 0) {
		answer_error(s->wsi, s, STRATA_EINTERNAL, perr.msg);
		return;
	}
	if (!rp.ok) {
		answer_error(s->wsi, s, rp.err, rp.message);
	} else {
		json_t *body = rp.result ? json_incref(rp.result) : json_object();
		answer_json(s->wsi, s, s->route->ok_status ? s->route->ok_status : 200, body);
	}
	proto_reply_clear(&rp);
}

int http_on_request(struct front *f, struct lws *wsi, struct http_session *s)
{
	session_reset(s);
	char omsg[400];
	switch (origin_http_check(f, wsi, &s->cors, omsg, sizeof(omsg))) {
	case ORIGIN_HTTP_REFUSED:
		answer_error(wsi, s, STRATA_EFORBIDDEN, omsg);
		return 0;
	case ORIGIN_HTTP_PREFLIGHT:
		return origin_answer_preflight(wsi, &s->cors);
	case ORIGIN_HTTP_PASS:
		break;
	}
	enum lws_token_indexes tok = WSI_TOKEN_GET_URI;
	enum http_method m = method_of(wsi, &tok);
	if (m == M_COUNT) {
		answer_error(wsi, s, STRATA_EBAD_REQUEST, "unsupported HTTP method");
		return 0;
	}
	s->method = m;
	if (lws_hdr_copy(wsi, s->path, sizeof(s->path), tok) < 0) {
		answer_error(wsi, s, STRATA_ETOO_LARGE, "request path too long");
		return 0;
	}
	bool known;
	char allow[128];
	s->route = routes_match(m, s->path, &s->params, &known, allow, sizeof(allow));
	if (!s->route) {
		if (known) {
			snprintf(s->allow, sizeof(s->allow), "%s", allow);
			char msg[256];
			snprintf(msg, sizeof(msg), "method %s not allowed on %.120s (allowed: %.100s)",
				 http_method_name(m), s->path, allow);
			json_t *b = json_pack("{s:{s:s, s:s}}", "error", "code", "method_not_allowed",
					      "message", msg);
			answer_json(wsi, s, 405, b);
		} else {
			char msg[600];
			snprintf(msg, sizeof(msg), "no route for %.500s", s->path);
			answer_error(wsi, s, STRATA_ENOT_FOUND, msg);
		}
		return 0;
	}
	if (s->route->role != ROLE_PUBLIC) {
		char hdr[600] = "";
		enum role role;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
			lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
		if (auth_check(f->auth, hdr[0] ? hdr : NULL, &role) != 0) {
			answer_error(wsi, s, STRATA_EUNAUTHORIZED,
				     "a valid 'Authorization: Bearer TOKEN' header is required");
			return 0;
		}
		if (role < s->route->role) {
			char msg[128];
			snprintf(msg, sizeof(msg), "this route needs the %s role; the token has %s",
				 role_name(s->route->role), role_name(role));
			answer_error(wsi, s, STRATA_EFORBIDDEN, msg);
			return 0;
		}
		s->role = role;
	}
	s->query = query_of(wsi);
	bool has_body = false;
	if (m == M_POST || m == M_PUT || m == M_PATCH || m == M_DELETE) {
		char cl[32] = "";
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
		    lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
			unsigned long long n = strtoull(cl, NULL, 10);
			if (n > f->opt.max_body) {
				char msg[128];
				snprintf(msg, sizeof(msg), "request body of %llu bytes is over the %zu-byte limit",
					 n, f->opt.max_body);
				answer_error(wsi, s, STRATA_ETOO_LARGE, msg);
				s->close_after = true;
				return 0;
			}
			has_body = n > 0;
		} else if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
			has_body = true;
		}
	}
	if (has_body) {
		s->state = HTTP_BODY;
		return 0;
	}
	dispatch(f, wsi, s);
	return 0;
}

int http_on_body(struct front *f, struct lws *wsi, struct http_session *s, const void *in,
		 size_t len)
{
	if (s->state != HTTP_BODY)
		return 0;
	if (s->body_len + len > f->opt.max_body) {
		char msg[128];
		snprintf(msg, sizeof(msg), "request body is over the %zu-byte limit", f->opt.max_body);
		s->close_after = true;
		answer_error(wsi, s, STRATA_ETOO_LARGE, msg);
		return 0;
	}
	if (s->body_len + len > s->body_cap) {
		size_t cap = s->body_cap ? s->body_cap * 2 : 4096;
		while (cap < s->body_len + len)
			cap *= 2;
		char *nb = realloc(s->body, cap);
		if (!nb) {
			answer_error(wsi, s, STRATA_ENOMEM, NULL);
			return 0;
		}
		s->body = nb;
		s->body_cap = cap;
	}
	memcpy(s->body + s->body_len, in, len);
	s->body_len += len;
	return 0;
}

int http_on_body_done(struct front *f, struct lws *wsi, struct http_session *s)
{
	if (s->state != HTTP_BODY)
		return 0;
	dispatch(f, wsi, s);
	return 0;
}

int http_on_writable(struct front *f, struct lws *wsi, struct http_session *s)
{
	if (s->state == HTTP_FAIL)
		return -1;
	if (s->state != HTTP_ANSWER)
		return 0;
	if (!s->headers_sent) {
		unsigned char hbuf[LWS_PRE + 2048]; /* lws security + CORS headers */
		unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)s->status,
						s->ctype ? s->ctype : "application/json",
						(lws_filepos_t)s->resp_len, &p, end))
			return -1;
		if (origin_add_headers(&s->cors, wsi, &p, end))
			return -1;
		if (f->frontend_id[0] &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-strata-frontend:",
						(const unsigned char *)f->frontend_id,
						(int)strlen(f->frontend_id), &p, end))
			return -1;
		if (s->allow[0] &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
						(const unsigned char *)s->allow, (int)strlen(s->allow),
						&p, end))
			return -1;
		if (s->no_store &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
						(const unsigned char *)"no-store", 8, &p, end))
			return -1;
		if (s->status == 503 &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
						(const unsigned char *)"1", 1, &p, end))
			return -1;
		if (s->close_after &&
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
						 (const unsigned char *)"close", 5, &p, end))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		s->headers_sent = true;
		if (s->method == M_HEAD)
			s->sent = s->resp_len;
		else {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (s->sent < s->resp_len) {
		size_t n = s->resp_len - s->sent;
		if (n > CHUNK)
			n = CHUNK;
		bool last = s->sent + n == s->resp_len;
		/* lws_write needs LWS_PRE writable bytes before the data: the
		 * chunk's predecessor bytes are already sent, so reuse them. */
		unsigned char *buf = (unsigned char *)s->resp + LWS_PRE + s->sent;
		if (lws_write(wsi, buf, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
			return -1;
		s->sent += n;
		if (!last) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	bool close = s->close_after;
	session_reset(s);
	if (close)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void http_on_closed(struct front *f, struct http_session *s)
{
	pending_remove(f, s);
	session_reset(s);
}
