/*
 * ipc/pipeset.h — the connected pipes of one nng socket, kept from its pipe
 * notifications, and whether it is connected.
 *
 * A counter (+1 on ADD_POST, -1 on REM_POST) drifts with nng 1.5.2: a pipe
 * that closes between ADD_PRE and ADD_POST (the peer killed as it
 * connects, or the protocol refusing the pipe) gets REM_POST without ever
 * having had ADD_POST, and REM_POST (run by the reaper) can come before
 * the dialer thread's ADD_POST. One lost decrement and the socket looks
 * disconnected for good while it talks to its peer. So the set keeps pipe
 * ids: REM_POST of an id it does not hold is remembered (a small ring of
 * "removed before added" ids) and cancels that id's later ADD_POST, and a
 * pipe nng no longer knows (closed) is pruned whenever the set is asked.
 *
 * on_change(arg, connected) runs when the set goes from empty to non-empty
 * and back, in order, under the set's lock: it must not call back into the
 * set. All functions are thread-safe.
 */
#ifndef STRATA_IPC_PIPESET_H
#define STRATA_IPC_PIPESET_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PIPESET_MAX 64     /* pipes of one socket tracked; more count as one */
#define PIPESET_GHOSTS 16  /* ids removed before they were added, remembered */

typedef void (*pipeset_change_fn)(void *arg, bool connected);

struct pipeset {
	pthread_mutex_t lock;
	uint32_t ids[PIPESET_MAX];
	unsigned n;
	uint32_t ghosts[PIPESET_GHOSTS];
	unsigned ghost_next;
	pipeset_change_fn on_change; /* may be NULL */
	void *arg;
};

void pipeset_init(struct pipeset *s, pipeset_change_fn on_change, void *arg);
void pipeset_destroy(struct pipeset *s);

/* The nng pipe notification callback (ADD_POST and REM_POST; others are
 * ignored): arg is the struct pipeset. */
void pipeset_notify(nng_pipe p, nng_pipe_ev ev, void *arg);

/* Pipes in the set that nng still has open (closed ones are pruned, which
 * can report a disconnection through on_change). Asks nng about each pipe:
 * for readiness checks and the redial watchdog. */
unsigned pipeset_live(struct pipeset *s);

/* Pipes in the set as notified, without asking nng (a pipe closed unnoticed
 * counts until the next pipeset_live): for per-request checks. */
unsigned pipeset_count(struct pipeset *s);

#endif
