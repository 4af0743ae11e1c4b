/*
 * ipc/client.c — control REQ client with async calls.
 *
 * Each call gets its own nng context and aio, so any number run at once.
 * Calls in flight are kept on a list so a lost connection can cancel them
 * (their callbacks then report STRATA_EUNAVAILABLE instead of waiting out
 * the timeout). A call's memory is released by nng_aio_reap from its own
 * callback, which is the one place that knows it is finished.
 */
#include "ipc/ipc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "ipc/close.h"
#include "ipc/pipeset.h"
#include "ipc/redial.h"
#include "strata/error.h"

struct client_call {
	struct ipc_client *cl;
	nng_ctx ctx;
	nng_aio *aio;
	ipc_reply_fn cb;
	void *arg;
	bool receiving;                  /* request sent, waiting for the reply */
	nng_time deadline;
	bool cancelled_unavailable;     /* under cl->lock */
	struct client_call *prev, *next; /* in-flight list, under cl->lock */
};

struct ipc_client {
	nng_socket sock;
	struct redialer *redial;
	struct pipeset pipes;           /* connected stratad pipes */
	size_t max_msg;                 /* largest reply body accepted */
	pthread_mutex_t lock;           /* guards inflight, closing */
	pthread_cond_t idle;            /* signalled when inflight empties */
	struct client_call *inflight;
	bool closing;
};

static void inflight_remove(struct ipc_client *cl, struct client_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->inflight = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void call_done(void *arg)
{
	struct client_call *c = arg;
	struct ipc_client *cl = c->cl;
	int rv = nng_aio_result(c->aio);

	if (rv == 0 && !c->receiving) {
		/* The request is on its way; now wait for the reply. */
		c->receiving = true;
		nng_time now = nng_clock();
		pthread_mutex_lock(&cl->lock);
		bool cancelled = c->cancelled_unavailable;
		pthread_mutex_unlock(&cl->lock);
		if (!cancelled && (c->deadline == 0 || now < c->deadline)) {
			nng_aio_set_timeout(c->aio, c->deadline ? (nng_duration)(c->deadline - now)
								: NNG_DURATION_INFINITE);
			nng_ctx_recv(c->ctx, c->aio);
			return;
		}
		rv = cancelled ? NNG_ECANCELED : NNG_ETIMEDOUT;
	}

	pthread_mutex_lock(&cl->lock);
	bool unavailable = c->cancelled_unavailable;
	pthread_mutex_unlock(&cl->lock);

	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(c->aio);
		if (nng_msg_len(m) > cl->max_msg)
			c->cb(c->arg, STRATA_ETOO_LARGE, NULL, 0);
		else
			c->cb(c->arg, 0, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	} else {
		/* A send that failed leaves the request message with us. */
		if (!c->receiving) {
			nng_msg *m = nng_aio_get_msg(c->aio);
			if (m)
				nng_msg_free(m);
		}
		int err;
		if (unavailable || rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			err = STRATA_EUNAVAILABLE;
		else if (rv == NNG_ETIMEDOUT)
			err = STRATA_ETIMEOUT;
		else if (rv == NNG_EMSGSIZE)
			err = STRATA_ETOO_LARGE;
		else
			err = STRATA_EUNAVAILABLE;
		c->cb(c->arg, err, NULL, 0);
	}
	nng_ctx_close(c->ctx);
	/* Off the in-flight list only now that the callback is done:
	 * ipc_client_close waits for the list to empty, so it cannot free the
	 * client (or return) while a callback still runs. */
	pthread_mutex_lock(&cl->lock);
	inflight_remove(cl, c);
	if (!cl->inflight)
		pthread_cond_broadcast(&cl->idle);
	pthread_mutex_unlock(&cl->lock);
	nng_aio_reap(c->aio);
	free(c);
}

static void on_pipes(void *arg, bool connected)
{
	struct ipc_client *cl = arg;
	if (connected)
		return;
	/* stratad went away: nothing in flight will be answered. */
	pthread_mutex_lock(&cl->lock);
	for (struct client_call *c = cl->inflight; c; c = c->next) {
		c->cancelled_unavailable = true;
		nng_aio_cancel(c->aio);
	}
	pthread_mutex_unlock(&cl->lock);
}

int ipc_client_open(struct ipc_client **out, const char *url, size_t max_msg, char *err,
		    size_t errlen)
{
	int rv, ret;
	if ((ret = ipc_url_check(url, err, errlen)) != 0)
		return ret;
	struct ipc_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return STRATA_ENOMEM;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->idle, NULL);
	pipeset_init(&cl->pipes, on_pipes, cl);
	cl->max_msg = max_msg ? max_msg : IPC_DEFAULT_MAX_MSG;
	if ((rv = nng_req0_open(&cl->sock)) != 0) {
		snprintf(err, errlen, "nng_req0_open: %s", nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_socket_set_ms(cl->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    /* nng drops the connection on a message over RECVMAXSZ, which a
	     * caller could only see as "unavailable": let replies up to 64x the
	     * limit through and answer too_large for those over it ourselves
	     * (the peer is stratad, which keeps its replies under its own limit). */
	    (rv = nng_socket_set_size(cl->sock, NNG_OPT_RECVMAXSZ,
				      cl->max_msg * 64 + IPC_HEADER_ROOM)) != 0 ||
	    (rv = nng_socket_set_ms(cl->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(cl->sock, NNG_OPT_RECONNMAXT, 500)) != 0 ||
	    (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_ADD_POST, pipeset_notify, &cl->pipes)) != 0 ||
	    (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_REM_POST, pipeset_notify, &cl->pipes)) != 0 ||
	    (rv = redialer_start(&cl->redial, cl->sock, url, &cl->pipes)) != 0) {
		snprintf(err, errlen, "%s: %s", url, nng_strerror(rv));
		nng_close(cl->sock);
		goto fail;
	}
	*out = cl;
	return 0;
fail:
	pthread_mutex_destroy(&cl->lock);
	pthread_cond_destroy(&cl->idle);
	pipeset_destroy(&cl->pipes);
	free(cl);
	return rv == NNG_ENOMEM ? STRATA_ENOMEM : STRATA_EBAD_REQUEST;
}

bool ipc_client_connected(struct ipc_client *c)
{
	return pipeset_live(&c->pipes) > 0;
}

int ipc_client_call_async(struct ipc_client *cl, const void *req, size_t len, int timeout_ms,
			  ipc_reply_fn cb, void *arg)
{
	if (pipeset_count(&cl->pipes) == 0) /* the watchdog prunes closed pipes */
		return STRATA_EUNAVAILABLE;
	struct client_call *c = calloc(1, sizeof(*c));
	if (!c)
		return STRATA_ENOMEM;
	c->cl = cl;
	c->cb = cb;
	c->arg = arg;
	nng_msg *m = NULL;
	int ret = STRATA_ENOMEM;
	if (nng_aio_alloc(&c->aio, call_done, c) != 0)
		goto fail_free;
	if (nng_ctx_open(&c->ctx, cl->sock) != 0) {
		ret = STRATA_EUNAVAILABLE;
		goto fail_aio;
	}
	(void)nng_ctx_set_ms(c->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, req, len) != 0)
		goto fail_ctx;
	pthread_mutex_lock(&cl->lock);
	if (cl->closing) {
		pthread_mutex_unlock(&cl->lock);
		ret = STRATA_EUNAVAILABLE;
		goto fail_ctx;
	}
	c->next = cl->inflight;
	if (cl->inflight)
		cl->inflight->prev = c;
	cl->inflight = c;
	pthread_mutex_unlock(&cl->lock);

	c->deadline = timeout_ms > 0 ? nng_clock() + (nng_time)timeout_ms : 0;
	nng_aio_set_timeout(c->aio, timeout_ms > 0 ? timeout_ms : NNG_DURATION_INFINITE);
	nng_aio_set_msg(c->aio, m);
	/* A REQ context sends first (the aio completes once the request is
	 * handed to a pipe), then receives the reply: call_done does both. */
	nng_ctx_send(c->ctx, c->aio);
	return 0;

fail_ctx:
	if (m)
		nng_msg_free(m);
	nng_ctx_close(c->ctx);
fail_aio:
	nng_aio_free(c->aio);
fail_free:
	free(c);
	return ret;
}

struct sync_call {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
	void *reply;
	size_t len;
};

static void sync_done(void *arg, int err, const void *reply, size_t len)
{
	struct sync_call *s = arg;
	pthread_mutex_lock(&s->lock);
	s->err = err;
	if (!err) {
		s->reply = malloc(len ? len : 1);
		if (s->reply) {
			memcpy(s->reply, reply, len);
			s->len = len;
		} else {
			s->err = STRATA_ENOMEM;
		}
	}
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int ipc_client_call(struct ipc_client *cl, const void *req, size_t len, int timeout_ms,
		    int connect_ms, void **reply, size_t *reply_len)
{
	for (int waited = 0; !ipc_client_connected(cl) && waited < connect_ms; waited += 10)
		nng_msleep(10);
	struct sync_call s = {.done = false};
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	int rv = ipc_client_call_async(cl, req, len, timeout_ms, sync_done, &s);
	if (rv == 0) {
		pthread_mutex_lock(&s.lock);
		while (!s.done)
			pthread_cond_wait(&s.cond, &s.lock);
		pthread_mutex_unlock(&s.lock);
		rv = s.err;
	}
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	if (rv == 0) {
		*reply = s.reply;
		*reply_len = s.len;
	}
	return rv;
}

void ipc_client_close(struct ipc_client *cl)
{
	if (!cl)
		return;
	pthread_mutex_lock(&cl->lock);
	cl->closing = true;
	for (struct client_call *c = cl->inflight; c; c = c->next) {
		c->cancelled_unavailable = true;
		nng_aio_cancel(c->aio);
	}
	while (cl->inflight)
		pthread_cond_wait(&cl->idle, &cl->lock);
	pthread_mutex_unlock(&cl->lock);
	redialer_stop(cl->redial);
	if (!ipc_close_bounded(cl->sock, IPC_CLOSE_WAIT_MS, "control client"))
		return; /* abandoned: cl stays for nng */
	pthread_mutex_destroy(&cl->lock);
	pthread_cond_destroy(&cl->idle);
	pipeset_destroy(&cl->pipes);
	free(cl);
}
