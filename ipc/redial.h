/*
 * ipc/redial.h — a watchdog that re-creates a dialer nng gave up on.
 *
 * nng 1.5.2 redials by itself after a lost connection, but we saw it stop
 * doing so for good (about once in a few hundred kill -9 / restart cycles
 * of stratad: no connect() at all afterwards, apparently after a
 * connection failed during its handshake). The watchdog checks the
 * socket's live pipes (ipc/pipeset.h) every 250 ms; after REDIAL_AFTER_MS without a pipe
 * it closes the dialer and dials again (non-blocking), which nng then
 * retries as usual. Requests queued on the socket are not affected.
 */
#ifndef STRATA_IPC_REDIAL_H
#define STRATA_IPC_REDIAL_H

#include <nng/nng.h>

#include "ipc/pipeset.h"

#define REDIAL_AFTER_MS 2000

struct redialer;

/* Dials url (non-blocking) and watches pipes (kept by the owner's pipe
 * notifications). 0 or an nng error code. */
int redialer_start(struct redialer **out, nng_socket sock, const char *url, struct pipeset *pipes);
/* Stops the watchdog (the dialer closes with the socket). NULL: no-op. */
void redialer_stop(struct redialer *r);

#endif
