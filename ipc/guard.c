#include "ipc/guard.h"

#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_EVERY_MS 1000
#define PROBE_TIMEOUT_MS 2000
#define PROBE_FAILURES 2 /* in a row: re-creating drops every connected peer */

struct listener_guard {
	nng_socket sock;
	nng_listener listener;
	char *url;
	enum guard_peer peer;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop */
	pthread_cond_t cond;
	bool stop;
	_Atomic unsigned restarts;
};

static int listen_on(struct listener_guard *g)
{
	int rv = nng_listener_create(&g->listener, g->sock, g->url);
	if (rv)
		return rv;
	if (strncmp(g->url, "ipc://", 6) == 0)
		(void)nng_listener_set_int(g->listener, NNG_OPT_IPC_PERMISSIONS, 0660);
	if ((rv = nng_listener_start(g->listener, 0)) != 0)
		nng_listener_close(g->listener);
	return rv;
}

static void probe_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p, (void)ev;
	atomic_store((_Atomic bool *)arg, true);
}

/* Whether a fresh peer gets a message through the listener in time. */
static bool probe(struct listener_guard *g)
{
	nng_socket s;
	_Atomic bool up = false;
	bool req = g->peer == GUARD_PEER_REQ;
	if ((req ? nng_req0_open(&s) : nng_sub0_open(&s)) != 0)
		return true; /* cannot tell: assume fine */
	bool ok = true;
	if (nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, probe_pipe, (void *)&up) != 0 ||
	    (!req && nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, IPC_PROBE, IPC_PROBE_LEN) != 0) ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, req ? PROBE_TIMEOUT_MS : 50) != 0 ||
	    nng_dial(s, g->url, NULL, NNG_FLAG_NONBLOCK) != 0)
		goto out;
	nng_time until = nng_clock() + PROBE_TIMEOUT_MS;
	while (!atomic_load(&up) && nng_clock() < until)
		nng_msleep(10);
	ok = false;
	if (!atomic_load(&up))
		goto out;
	if (req) {
		char *buf = NULL;
		size_t n = 0;
		if (nng_send(s, IPC_PROBE, IPC_PROBE_LEN, 0) == 0 &&
		    nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
			ok = n == IPC_PROBE_LEN && memcmp(buf, IPC_PROBE, n) == 0;
			nng_free(buf, n);
		}
	} else {
		/* PUB drops for a pipe that is not ready yet: publish until it
		 * arrives or the time is up. */
		while (!ok && nng_clock() < until) {
			char *buf = NULL;
			size_t n = 0;
			(void)nng_send(g->sock, IPC_PROBE, IPC_PROBE_LEN, NNG_FLAG_NONBLOCK);
			if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
				ok = true;
				nng_free(buf, n);
			}
		}
	}
out:
	nng_close(s);
	return ok;
}

static void *guard_main(void *arg)
{
	struct listener_guard *g = arg;
	int failures = 0;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += PROBE_EVERY_MS / 1000;
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		bool ok = probe(g);
		pthread_mutex_lock(&g->lock);
		failures = ok ? 0 : failures + 1;
		if (failures < PROBE_FAILURES || g->stop)
			continue;
		failures = 0;
		fprintf(stderr, "ipc: listener on %s stopped completing handshakes (nng #1518); "
				"starting a new one\n", g->url);
		nng_listener_close(g->listener);
		if (listen_on(g) == 0)
			atomic_fetch_add(&g->restarts, 1);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int guard_listen(struct listener_guard **out, nng_socket sock, const char *url,
		 enum guard_peer peer)
{
	struct listener_guard *g = calloc(1, sizeof(*g));
	if (!g)
		return NNG_ENOMEM;
	g->sock = sock;
	g->peer = peer;
	g->url = strdup(url);
	if (!g->url) {
		free(g);
		return NNG_ENOMEM;
	}
	int rv = listen_on(g);
	if (rv) {
		free(g->url);
		free(g);
		return rv;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		pthread_mutex_destroy(&g->lock);
		pthread_cond_destroy(&g->cond);
		nng_listener_close(g->listener);
		free(g->url);
		free(g);
		return NNG_ENOMEM;
	}
	*out = g;
	return 0;
}

void guard_stop(struct listener_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	/* A probe finishes within PROBE_TIMEOUT_MS, but nng 1.5.2 has been seen
	 * to block in nng_close of the probe socket while the process shuts its
	 * listeners down under load: never let that stop the shutdown. The
	 * thread and g are then left behind (the process is exiting). */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PROBE_TIMEOUT_MS / 1000 + 3;
	if (pthread_timedjoin_np(g->thread, NULL, &until) != 0) {
		fprintf(stderr, "ipc: the listener guard of %s did not stop (blocked in nng); "
				"leaving it behind\n", g->url);
		(void)pthread_detach(g->thread);
		return;
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g->url);
	free(g);
}

unsigned guard_restarts(const struct listener_guard *g)
{
	return g ? atomic_load(&((struct listener_guard *)g)->restarts) : 0;
}
