/*
 * frontend/fanout.c — see fanout.h.
 *
 * A round: the caller publishes (jobs, n) and a new generation under the
 * lock and wakes the workers; worker t (1..T-1) sends slice t, the caller
 * slice 0; the caller then waits until every worker has reported the
 * generation done. The lock orders the job array's writes before the
 * workers' reads and the workers' result writes before the caller's reads.
 */
#include "frontend/fanout.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "strata/error.h"

struct worker {
	struct fanout *f;
	unsigned index;
	pthread_t tid;
	bool started;
};

struct fanout {
	unsigned threads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;       /* round number, bumped by the caller */
	unsigned pending;   /* workers still sending this round */
	bool stop;
	struct fanout_job *jobs;
	size_t n;
	struct worker w[FANOUT_MAX_THREADS];
};

static void send_one(struct fanout_job *j)
{
	j->sent = 0;
	j->err = 0;
	if (j->len > 0) {
		ssize_t w;
		do
			w = send(j->fd, j->buf, j->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w >= 0)
			j->sent = (size_t)w;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			j->err = errno;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	j->done_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void send_slice(struct fanout_job *jobs, size_t n, unsigned t, unsigned threads)
{
	size_t lo = n * t / threads, hi = n * (t + 1) / threads;
	for (size_t i = lo; i < hi; i++)
		send_one(&jobs[i]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fanout *f = w->f;
	uint64_t seen = 0;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stop && f->gen == seen)
			pthread_cond_wait(&f->go, &f->mu);
		if (f->stop)
			break;
		seen = f->gen;
		struct fanout_job *jobs = f->jobs;
		size_t n = f->n;
		pthread_mutex_unlock(&f->mu);
		send_slice(jobs, n, w->index, f->threads);
		pthread_mutex_lock(&f->mu);
		if (--f->pending == 0)
			pthread_cond_signal(&f->done);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int fanout_create(struct fanout **out, unsigned threads)
{
	*out = NULL;
	if (threads < 1 || threads > FANOUT_MAX_THREADS)
		return STRATA_EBAD_REQUEST;
	struct fanout *f = calloc(1, sizeof(*f));
	if (!f)
		return STRATA_ENOMEM;
	f->threads = threads;
	if (pthread_mutex_init(&f->mu, NULL) != 0) {
		free(f);
		return STRATA_EIO;
	}
	if (pthread_cond_init(&f->go, NULL) != 0) {
		pthread_mutex_destroy(&f->mu);
		free(f);
		return STRATA_EIO;
	}
	if (pthread_cond_init(&f->done, NULL) != 0) {
		pthread_cond_destroy(&f->go);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return STRATA_EIO;
	}
	for (unsigned t = 1; t < threads; t++) {
		f->w[t].f = f;
		f->w[t].index = t;
		if (pthread_create(&f->w[t].tid, NULL, worker_main, &f->w[t]) != 0) {
			fanout_destroy(f);
			return STRATA_EIO;
		}
		f->w[t].started = true;
	}
	*out = f;
	return 0;
}

void fanout_destroy(struct fanout *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_broadcast(&f->go);
	pthread_mutex_unlock(&f->mu);
	for (unsigned t = 1; t < f->threads; t++)
		if (f->w[t].started)
			pthread_join(f->w[t].tid, NULL);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->go);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

unsigned fanout_threads(const struct fanout *f)
{
	return f->threads;
}

void fanout_send(struct fanout *f, struct fanout_job *jobs, size_t n, size_t min_parallel)
{
	if (n == 0)
		return;
	unsigned threads = f->threads;
	if (threads == 1 || n < min_parallel || n < threads) {
		send_slice(jobs, n, 0, 1);
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->jobs = jobs;
	f->n = n;
	f->pending = threads - 1;
	f->gen++;
	pthread_cond_broadcast(&f->go);
	pthread_mutex_unlock(&f->mu);

	send_slice(jobs, n, 0, threads);

	pthread_mutex_lock(&f->mu);
	while (f->pending)
		pthread_cond_wait(&f->done, &f->mu);
	f->jobs = NULL;
	f->n = 0;
	pthread_mutex_unlock(&f->mu);
}
