#include "ipc/guard.h"

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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
	_Atomic unsigned pipes_added; /* GUARD_PEER_SUB: pipes the socket took */
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

/* Whether a fresh REQ peer gets the probe echoed through the listener in
 * time. Safe to close afterwards: the only message this socket ever
 * receives is its own echo, and that has arrived (or the wait is over). */
static bool probe_req(struct listener_guard *g)
{
	nng_socket s;
	_Atomic bool up = false;
	if (nng_req0_open(&s) != 0)
		return true; /* cannot tell: assume fine */
	bool ok = true;
	if (nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, probe_pipe, (void *)&up) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, PROBE_TIMEOUT_MS) != 0 ||
	    nng_dial(s, g->url, NULL, NNG_FLAG_NONBLOCK) != 0)
		goto out;
	nng_time until = nng_clock() + PROBE_TIMEOUT_MS;
	while (!atomic_load(&up) && nng_clock() < until)
		nng_msleep(10);
	ok = false;
	if (!atomic_load(&up))
		goto out;
	char *buf = NULL;
	size_t n = 0;
	if (nng_send(s, IPC_PROBE, IPC_PROBE_LEN, 0) == 0 &&
	    nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
		ok = n == IPC_PROBE_LEN && memcmp(buf, IPC_PROBE, n) == 0;
		nng_free(buf, n);
	}
out:
	nng_close(s);
	return ok;
}

/* Counts the pipes the guarded socket accepted (PUB listeners only). */
static void server_pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p, (void)ev;
	atomic_fetch_add(&((struct listener_guard *)arg)->pipes_added, 1);
}

/* A plain stream connection to url (ipc:// or tcp://), or -1. */
static int raw_connect(const char *url, nng_time until)
{
	int fd = -1;
	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(url + 6) >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, url + 6, strlen(url + 6) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS ||
		    errno == EAGAIN)
			goto wait_connected;
		goto fail;
	}
	if (strncmp(url, "tcp://", 6) != 0)
		return -1;
	char host[256];
	const char *hp = url + 6, *colon = strrchr(hp, ':');
	if (!colon || (size_t)(colon - hp) >= sizeof(host))
		return -1;
	if (*hp == '[' && colon > hp + 1 && colon[-1] == ']') { /* [v6]:port */
		memcpy(host, hp + 1, (size_t)(colon - hp - 2));
		host[colon - hp - 2] = '\0';
	} else {
		memcpy(host, hp, (size_t)(colon - hp));
		host[colon - hp] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : "127.0.0.1", colon + 1, &hints,
			&ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	if (rc != 0 && errno != EINPROGRESS)
		goto fail;
wait_connected:;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	nng_time now = nng_clock();
	int err = 0;
	socklen_t len = sizeof(err);
	if (now >= until || poll(&pfd, 1, (int)(until - now)) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Moves exactly n bytes through fd before until; false on error or time. */
static bool raw_io(int fd, void *buf, size_t n, bool out, nng_time until)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = out ? send(fd, (char *)buf + done, n - done, MSG_NOSIGNAL)
				: recv(fd, (char *)buf + done, n - done, 0);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return false;
		struct pollfd pfd = {.fd = fd, .events = out ? POLLOUT : POLLIN};
		nng_time now = nng_clock();
		if (now >= until || poll(&pfd, 1, (int)(until - now)) < 0)
			return false;
	}
	return true;
}

/*
 * Whether a fresh subscriber gets through the PUB listener: the SP header
 * exchange completes and the PUB socket takes the pipe (its ADD_POST
 * notification). Not an nng SUB socket: nng's PUB sends every message to
 * every subscriber (SUB filters on receipt), so such a probe receives the
 * whole event stream, and closing an nng socket while a message is between
 * its header and its body leaves nng 1.5.2's ipc pipe waiting forever for
 * a body read that was never started (ipc_pipe_recv_cb resubmits rx_aio
 * after ipc_pipe_close stopped it; nni_aio_begin drops it silently). nng's
 * one reaper thread then blocks in sub0_pipe_stop, and every later
 * nng_close in the process — the next probe, the control socket at
 * shutdown — waits on that reaper for ever. A plain socket has no reaper:
 * closing it is always immediate.
 */
static bool probe_pub(struct listener_guard *g)
{
	if (strncmp(g->url, "inproc://", 9) == 0)
		return true; /* no handshake to break */
	nng_time until = nng_clock() + PROBE_TIMEOUT_MS;
	unsigned before = atomic_load(&g->pipes_added);
	int fd = raw_connect(g->url, until);
	if (fd < 0)
		return false;
	/* SP over a stream: 0x00 'S' 'P' 0x00, the sender's protocol (16 bits,
	 * big endian: sub0 is 0x21), two reserved zero bytes. */
	unsigned char hello[8] = {0, 'S', 'P', 0, 0, 0x21, 0, 0}, peer[8];
	bool ok = raw_io(fd, hello, sizeof(hello), true, until) &&
		  raw_io(fd, peer, sizeof(peer), false, until) && peer[0] == 0 &&
		  peer[1] == 'S' && peer[2] == 'P' && peer[3] == 0;
	while (ok && atomic_load(&g->pipes_added) == before && nng_clock() < until)
		nng_msleep(5);
	ok = ok && atomic_load(&g->pipes_added) != before;
	close(fd);
	return ok;
}

static bool probe(struct listener_guard *g)
{
	return g->peer == GUARD_PEER_REQ ? probe_req(g) : probe_pub(g);
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
	int rv = peer == GUARD_PEER_SUB
			 ? nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, server_pipe_added, g)
			 : 0;
	if (rv == 0 && (rv = listen_on(g)) != 0 && peer == GUARD_PEER_SUB)
		(void)nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
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
		if (peer == GUARD_PEER_SUB)
			(void)nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
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
	/* A probe ends within PROBE_TIMEOUT_MS: it never closes an nng socket
	 * that may be receiving (see probe_pub), so nothing here waits on nng's
	 * reaper. */
	pthread_join(g->thread, NULL);
	if (g->peer == GUARD_PEER_SUB) /* no callback into g after this */
		(void)nng_pipe_notify(g->sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g->url);
	free(g);
}

unsigned guard_restarts(const struct listener_guard *g)
{
	return g ? atomic_load(&((struct listener_guard *)g)->restarts) : 0;
}
