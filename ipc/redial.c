#include "ipc/redial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct redialer {
	nng_socket sock;
	nng_dialer dialer;
	char *url;
	struct pipeset *pipes;
	pthread_t thread;
	pthread_mutex_t lock;   /* guards stop */
	pthread_cond_t cond;
	bool stop;
};

static void *watch(void *arg)
{
	struct redialer *r = arg;
	int down_ms = 0;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		if (r->stop)
			break;
		if (pipeset_live(r->pipes) > 0) {
			down_ms = 0;
			continue;
		}
		down_ms += 250;
		if (down_ms < REDIAL_AFTER_MS)
			continue;
		down_ms = 0;
		nng_dialer_close(r->dialer);
		if (nng_dial(r->sock, r->url, &r->dialer, NNG_FLAG_NONBLOCK) != 0)
			r->dialer = (nng_dialer)NNG_DIALER_INITIALIZER;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int redialer_start(struct redialer **out, nng_socket sock, const char *url, struct pipeset *pipes)
{
	struct redialer *r = calloc(1, sizeof(*r));
	if (!r)
		return NNG_ENOMEM;
	r->sock = sock;
	r->pipes = pipes;
	r->url = strdup(url);
	if (!r->url) {
		free(r);
		return NNG_ENOMEM;
	}
	int rv = nng_dial(sock, url, &r->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		free(r->url);
		free(r);
		return rv;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, watch, r) != 0) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		free(r->url);
		free(r);
		return NNG_ENOMEM;
	}
	*out = r;
	return 0;
}

void redialer_stop(struct redialer *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->url);
	free(r);
}
