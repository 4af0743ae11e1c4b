/*
 * frontend/fanout.h — writing many prepared buffers to many sockets at once,
 * from several threads, fork-join.
 *
 * Fanning one burst of events out to a thousand WebSocket clients is a
 * thousand send()s, and on loopback or a fast network most of each one's
 * cost is the kernel's TCP path, charged to the sending thread. One thread
 * makes the last client of a burst wait for all the others; a fan-out of
 * T threads (the caller plus T-1 workers) splits the jobs in T slices.
 *
 * fanout_send returns only when every job is done, so the caller (the lws
 * service thread) keeps sole ownership of the sockets: no descriptor can be
 * closed or written by anyone else while the workers use it, and what a
 * socket did not take is handed back in the job for the caller to queue.
 * Workers do nothing but send(); they never call into lws.
 *
 * Sends are non-blocking (MSG_DONTWAIT | MSG_NOSIGNAL) and made once per
 * job (retried on EINTR only): a full socket gives a short count, never a
 * wait.
 */
#ifndef STRATA_FRONTEND_FANOUT_H
#define STRATA_FRONTEND_FANOUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fanout_job {
	int fd;
	const unsigned char *buf;
	size_t len;
	/* set by fanout_send */
	size_t sent; /* bytes the socket took (0..len) */
	int err;     /* 0, or the errno of a failed send other than EAGAIN */
	int64_t done_us; /* when the send returned: CLOCK_REALTIME, µs */
};

struct fanout;

/* Most threads a fan-out may use (the caller included). */
#define FANOUT_MAX_THREADS 16

/* A fan-out of threads threads in all: the caller and threads - 1 workers
 * (1: no worker, fanout_send sends on the caller's thread). 0 or
 * STRATA_EBAD_REQUEST / STRATA_ENOMEM / STRATA_EIO (a thread could not start). */
int fanout_create(struct fanout **out, unsigned threads);

/* Stops and joins the workers, frees f. NULL is fine. */
void fanout_destroy(struct fanout *f);

unsigned fanout_threads(const struct fanout *f);

/* Sends every job once and returns when all are done. Fewer jobs than
 * min_parallel go on the caller's thread alone (waking workers costs more
 * than a few sends). Not reentrant: one caller at a time. */
void fanout_send(struct fanout *f, struct fanout_job *jobs, size_t n, size_t min_parallel);

#endif
