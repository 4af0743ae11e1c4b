/*
 * ipc/pubsub.c — event PUB and SUB sockets.
 *
 * The subscriber runs one receive aio in a loop: its callback hands each
 * message to the owner's function and re-arms. Connection changes come from
 * nng's pipe notifications.
 */
#include "ipc/ipc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "ipc/close.h"
#include "ipc/guard.h"
#include "ipc/redial.h"
#include "strata/error.h"

struct ipc_pub {
	nng_socket sock;
	struct listener_guard *guard;
};

int ipc_pub_open(struct ipc_pub **out, const char *url, int sendbuf, char *err, size_t errlen)
{
	int rv, ret;
	if ((ret = ipc_url_check(url, err, errlen)) != 0)
		return ret;
	struct ipc_pub *p = calloc(1, sizeof(*p));
	if (!p)
		return STRATA_ENOMEM;
	if ((rv = nng_pub0_open(&p->sock)) != 0) {
		snprintf(err, errlen, "nng_pub0_open: %s", nng_strerror(rv));
		free(p);
		return STRATA_EIO;
	}
	/* nng's PUB drops silently for a lagging subscriber: give it room. */
	if ((rv = nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, sendbuf > 0 ? sendbuf : 1024)) != 0) {
		snprintf(err, errlen, "%s: %s", url, nng_strerror(rv));
		ret = STRATA_EBAD_REQUEST;
		goto fail;
	}
	if ((rv = guard_listen(&p->guard, p->sock, url, GUARD_PEER_SUB)) != 0) {
		snprintf(err, errlen, "listen on %s: %s", url, nng_strerror(rv));
		ret = rv == NNG_EADDRINUSE ? STRATA_ECONFLICT : STRATA_EIO;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	nng_close(p->sock);
	free(p);
	return ret;
}

int ipc_pub_send(struct ipc_pub *p, const void *msg, size_t len)
{
	int rv = nng_send(p->sock, (void *)msg, len, NNG_FLAG_NONBLOCK);
	if (rv == 0 || rv == NNG_EAGAIN)
		return 0; /* EAGAIN: nobody to send to, or dropped by design */
	return rv == NNG_ENOMEM ? STRATA_ENOMEM : STRATA_EIO;
}

void ipc_pub_close(struct ipc_pub *p)
{
	if (!p)
		return;
	guard_stop(p->guard);
	nng_close(p->sock);
	free(p);
}

struct ipc_sub {
	nng_socket sock;
	nng_aio *aio;
	ipc_msg_fn on_msg;
	ipc_conn_fn on_conn;
	void *arg;
	struct pipeset pipes;
	_Atomic bool closing;
	struct redialer *redial;
};

static void sub_recv_done(void *arg)
{
	struct ipc_sub *s = arg;
	int rv = nng_aio_result(s->aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || atomic_load(&s->closing)) {
		if (rv == 0) /* a message that arrived as we close is ours to free */
			nng_msg_free(nng_aio_get_msg(s->aio));
		return;
	}
	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(s->aio);
		s->on_msg(s->arg, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	nng_recv_aio(s->sock, s->aio);
}

static void sub_on_pipes(void *arg, bool connected)
{
	struct ipc_sub *s = arg;
	if (!atomic_load(&s->closing) && s->on_conn)
		s->on_conn(s->arg, connected);
}

int ipc_sub_open(struct ipc_sub **out, const char *url, const char *const *prefixes,
		 size_t nprefixes, ipc_msg_fn on_msg, ipc_conn_fn on_conn, void *arg, char *err,
		 size_t errlen)
{
	int rv, ret;
	if ((ret = ipc_url_check(url, err, errlen)) != 0)
		return ret;
	struct ipc_sub *s = calloc(1, sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	s->on_msg = on_msg;
	s->on_conn = on_conn;
	s->arg = arg;
	pipeset_init(&s->pipes, sub_on_pipes, s);
	if ((rv = nng_sub0_open(&s->sock)) != 0) {
		snprintf(err, errlen, "nng_sub0_open: %s", nng_strerror(rv));
		pipeset_destroy(&s->pipes);
		free(s);
		return STRATA_EIO;
	}
	if ((rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, IPC_DEFAULT_MAX_MSG + IPC_HEADER_ROOM)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 500)) != 0)
		goto fail_rv;
	if (nprefixes == 0) {
		if ((rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0)
			goto fail_rv;
	}
	for (size_t i = 0; i < nprefixes; i++)
		if ((rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefixes[i],
					 strlen(prefixes[i]))) != 0)
			goto fail_rv;
	if ((rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, pipeset_notify, &s->pipes)) != 0 ||
	    (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipeset_notify, &s->pipes)) != 0 ||
	    (rv = nng_aio_alloc(&s->aio, sub_recv_done, s)) != 0)
		goto fail_rv;
	if ((rv = redialer_start(&s->redial, s->sock, url, &s->pipes)) != 0) {
		nng_aio_free(s->aio);
		goto fail_rv;
	}
	nng_recv_aio(s->sock, s->aio);
	*out = s;
	return 0;
fail_rv:
	snprintf(err, errlen, "%s: %s", url, nng_strerror(rv));
	nng_close(s->sock);
	pipeset_destroy(&s->pipes);
	free(s);
	return STRATA_EBAD_REQUEST;
}

bool ipc_sub_connected(struct ipc_sub *s)
{
	return pipeset_live(&s->pipes) > 0;
}

void ipc_sub_close(struct ipc_sub *s)
{
	if (!s)
		return;
	atomic_store(&s->closing, true);
	redialer_stop(s->redial);
	nng_aio_stop(s->aio); /* waits for a running callback */
	if (!ipc_close_bounded(s->sock, IPC_CLOSE_WAIT_MS, "event subscriber"))
		return; /* abandoned: s and its aio stay for nng */
	nng_aio_free(s->aio);
	pipeset_destroy(&s->pipes);
	free(s);
}
