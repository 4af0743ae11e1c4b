#include "ipc/close.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
};

static void closer_free(struct closer *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static void *closer_main(void *arg)
{
	struct closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	bool abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned)
		closer_free(c); /* nobody waits any more */
	return NULL;
}

bool ipc_close_bounded(nng_socket sock, int wait_ms, const char *what)
{
	struct closer *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	if (!c) {
		nng_close(sock); /* no memory for a thread: close here */
		return true;
	}
	c->sock = sock;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_t t;
	pthread_attr_t ta;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	int rv = pthread_create(&t, &ta, closer_main, c);
	pthread_attr_destroy(&ta);
	if (rv != 0) {
		closer_free(c);
		nng_close(sock);
		return true;
	}
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += wait_ms / 1000;
	dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT)
		;
	bool done = c->done;
	if (!done)
		c->abandoned = true;
	pthread_mutex_unlock(&c->mu);
	if (done) {
		closer_free(c);
		return true;
	}
	fprintf(stderr, "%s: nng did not close the socket in %d ms (nng 1.5 bug #1543); "
			"leaving it to process exit\n", what, wait_ms);
	return false;
}
