/*
 * ipc/server.c — control REP server: contexts + work queue + workers.
 *
 * Each context runs this state machine (its aio callback moves it):
 *
 *   state   event                      -> state   action
 *   RECV    aio ok                     -> WORK    queue (ctx, msg) for a worker
 *   RECV    aio error, socket closed   -> DONE    nothing
 *   RECV    aio error, other           -> RECV    receive again
 *   WORK    worker finished            -> SEND    nng_ctx_send(reply)
 *   SEND    aio done (ok or error)     -> RECV    free msg on error; receive again
 *   SEND    socket closed              -> DONE
 *
 * Workers never touch the aio of a context that is not in WORK, and the
 * callback never runs handler code, so the nng threads only move messages.
 */
#include "ipc/ipc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "ipc/close.h"
#include "ipc/guard.h"
#include "strata/error.h"

enum ctx_state { CTX_RECV, CTX_WORK, CTX_SEND, CTX_DONE };

struct server_ctx {
	struct ipc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	nng_msg *msg;             /* request while in WORK */
	struct server_ctx *next;  /* work queue link */
};

struct ipc_server {
	nng_socket sock;
	struct listener_guard *guard;
	struct ipc_server_opts opts;
	struct server_ctx *ctxs;
	unsigned nctx;
	pthread_t *workers;
	unsigned nworkers;
	pthread_mutex_t lock;     /* guards queue_head/tail, stopping, busy */
	pthread_cond_t cond;
	pthread_cond_t idle;      /* signalled when busy drops to 0 */
	struct server_ctx *queue_head, *queue_tail;
	bool stopping;
	unsigned busy;            /* contexts in WORK or SEND */
};

static void ctx_recv(struct server_ctx *c)
{
	c->state = CTX_RECV;
	nng_ctx_recv(c->ctx, c->aio);
}

static void ctx_callback(void *arg)
{
	struct server_ctx *c = arg;
	struct ipc_server *s = c->srv;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CTX_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			c->state = CTX_DONE;
			return;
		}
		if (rv != 0) {
			ctx_recv(c);
			return;
		}
		c->msg = nng_aio_get_msg(c->aio);
		if (nng_msg_len(c->msg) == IPC_PROBE_LEN &&
		    memcmp(nng_msg_body(c->msg), IPC_PROBE, IPC_PROBE_LEN) == 0) {
			/* The listener guard's probe: echoed, no handler. */
			pthread_mutex_lock(&s->lock);
			s->busy++;
			pthread_mutex_unlock(&s->lock);
			nng_aio_set_msg(c->aio, c->msg);
			c->msg = NULL;
			c->state = CTX_SEND;
			nng_ctx_send(c->ctx, c->aio);
			return;
		}
		c->state = CTX_WORK;
		c->next = NULL;
		pthread_mutex_lock(&s->lock);
		if (s->stopping) { /* workers are gone or going: drop it */
			pthread_mutex_unlock(&s->lock);
			nng_msg_free(c->msg);
			c->msg = NULL;
			c->state = CTX_DONE;
			return;
		}
		s->busy++;
		if (s->queue_tail)
			s->queue_tail->next = c;
		else
			s->queue_head = c;
		s->queue_tail = c;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		return;
	case CTX_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		pthread_mutex_lock(&s->lock);
		if (--s->busy == 0)
			pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->lock);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			c->state = CTX_DONE;
			return;
		}
		ctx_recv(c);
		return;
	case CTX_WORK:
	case CTX_DONE:
		return;
	}
}

static void serve_one(struct ipc_server *s, struct server_ctx *c)
{
	void *reply = NULL;
	size_t reply_len = 0;
	int rv = s->opts.handler(s->opts.arg, nng_msg_body(c->msg), nng_msg_len(c->msg), &reply,
				 &reply_len);
	nng_msg_free(c->msg);
	c->msg = NULL;
	nng_msg *m = NULL;
	if (rv == 0 && nng_msg_alloc(&m, 0) == 0 && nng_msg_append(m, reply, reply_len) == 0) {
		free(reply);
		nng_aio_set_msg(c->aio, m);
		c->state = CTX_SEND;
		nng_ctx_send(c->ctx, c->aio);
		return;
	}
	/* Nothing to send: the client will time out; keep serving. */
	free(reply);
	if (m)
		nng_msg_free(m);
	pthread_mutex_lock(&s->lock);
	if (--s->busy == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	ctx_recv(c);
}

static void *worker_main(void *arg)
{
	struct ipc_server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->queue_head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		struct server_ctx *c = s->queue_head;
		if (!c) { /* stopping and drained */
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		s->queue_head = c->next;
		if (!s->queue_head)
			s->queue_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		serve_one(s, c);
	}
}

static int nng_to_strata(int rv)
{
	switch (rv) {
	case NNG_EADDRINUSE: return STRATA_ECONFLICT;
	case NNG_EADDRINVAL: case NNG_EINVAL: case NNG_ENOTSUP: return STRATA_EBAD_REQUEST;
	case NNG_ENOMEM: return STRATA_ENOMEM;
	case NNG_EPERM: return STRATA_EFORBIDDEN;
	default: return STRATA_EIO;
	}
}

int ipc_server_start(struct ipc_server **out, const struct ipc_server_opts *o, char *err,
		     size_t errlen)
{
	int rv, ret;
	if ((ret = ipc_url_check(o->url, err, errlen)) != 0)
		return ret;
	struct ipc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	s->opts = *o;
	s->nctx = o->contexts ? o->contexts : 16;
	s->nworkers = o->workers ? o->workers : 4;
	size_t max_msg = o->max_msg ? o->max_msg : IPC_DEFAULT_MAX_MSG;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->idle, NULL);

	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(err, errlen, "nng_rep0_open: %s", nng_strerror(rv));
		ret = nng_to_strata(rv);
		goto fail_free;
	}
	/* Room for nng's own header beyond the largest body we accept. */
	if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, max_msg + IPC_HEADER_ROOM)) != 0) {
		snprintf(err, errlen, "%s: %s", o->url, nng_strerror(rv));
		ret = nng_to_strata(rv);
		goto fail_close;
	}
	if ((rv = guard_listen(&s->guard, s->sock, o->url, GUARD_PEER_REQ)) != 0) {
		snprintf(err, errlen, "listen on %s: %s%s", o->url, nng_strerror(rv),
			 rv == NNG_EADDRINUSE ? " (is another stratad running?)" : "");
		ret = nng_to_strata(rv);
		goto fail_close;
	}

	s->ctxs = calloc(s->nctx, sizeof(*s->ctxs));
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (!s->ctxs || !s->workers) {
		ret = STRATA_ENOMEM;
		goto fail_close;
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			snprintf(err, errlen, "cannot start worker thread");
			s->nworkers = i;
			ret = STRATA_EINTERNAL;
			goto fail_workers;
		}
	}
	for (unsigned i = 0; i < s->nctx; i++) {
		struct server_ctx *c = &s->ctxs[i];
		c->srv = s;
		if ((rv = nng_aio_alloc(&c->aio, ctx_callback, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
			snprintf(err, errlen, "nng ctx: %s", nng_strerror(rv));
			ret = nng_to_strata(rv);
			goto fail_workers;
		}
	}
	for (unsigned i = 0; i < s->nctx; i++)
		ctx_recv(&s->ctxs[i]);
	*out = s;
	return 0;

fail_workers:
	guard_stop(s->guard);
	nng_close(s->sock);
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	for (unsigned i = 0; i < s->nctx; i++)
		if (s->ctxs[i].aio)
			nng_aio_free(s->ctxs[i].aio);
	free(s->ctxs);
	free(s->workers);
	goto fail_free;
fail_close:
	guard_stop(s->guard);
	nng_close(s->sock);
	free(s->ctxs);
	free(s->workers);
fail_free:
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->idle);
	free(s);
	return ret;
}

void ipc_server_drain(struct ipc_server *s, int drain_ms)
{
	if (!s)
		return;
	/* Requests already running get their replies out: wait (bounded)
	 * until no context is working or sending. The owner's handler is
	 * expected to answer new requests quickly meanwhile (stratad says
	 * "shutting down"), so this converges. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += drain_ms / 1000;
	deadline.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (s->busy > 0 && pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&s->lock);
}

void ipc_server_stop(struct ipc_server *s)
{
	if (!s)
		return;
	/* Order matters with nng 1.5.2: closing the socket while a worker is
	 * inside nng_ctx_send panics it. So: workers finish what is queued
	 * and exit; every context's aio is stopped (no callback runs after);
	 * what was queued after the workers left is freed; then the socket
	 * closes. */
	guard_stop(s->guard);
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_stop(s->ctxs[i].aio);
	for (struct server_ctx *c = s->queue_head; c; c = c->next) {
		nng_msg_free(c->msg);
		c->msg = NULL;
	}
	s->queue_head = s->queue_tail = NULL;
	if (!ipc_close_bounded(s->sock, IPC_CLOSE_WAIT_MS, "control server"))
		return; /* abandoned: the contexts and their aios stay for nng */
	for (unsigned i = 0; i < s->nctx; i++)
		nng_aio_free(s->ctxs[i].aio);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->idle);
	free(s->ctxs);
	free(s->workers);
	free(s);
}

int ipc_url_check(const char *url, char *err, size_t errlen)
{
	if (!url || !*url) {
		snprintf(err, errlen, "empty endpoint URL");
		return STRATA_EBAD_REQUEST;
	}
	if (strncmp(url, "ipc://", 6) == 0) {
		size_t n = strlen(url + 6);
		if (n == 0 || n > IPC_MAX_SOCKET_PATH) {
			snprintf(err, errlen,
				 "socket path '%s' is %zu bytes; a unix socket path holds at most %d: "
				 "use a shorter --data dir or pass --ctl/--events",
				 url + 6, n, IPC_MAX_SOCKET_PATH);
			return STRATA_EBAD_REQUEST;
		}
		return 0;
	}
	if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "inproc://", 9) == 0)
		return 0;
	snprintf(err, errlen, "endpoint '%s': expected ipc://PATH or tcp://HOST:PORT", url);
	return STRATA_EBAD_REQUEST;
}
