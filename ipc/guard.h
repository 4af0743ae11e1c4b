/*
 * ipc/guard.h — keeps a listener accepting.
 *
 * nng 1.5.2 has a bug (nng issue #1518, fixed in 1.6.0): a peer that
 * connects and goes away before the SP handshake (a killed client, a probe
 * like `nc -U`) leaves the listener accepting at the kernel level but never
 * negotiating again: new clients hang unconnected. Debian 12 ships 1.5.2.
 * (The client's side of the handshake still completes, so only a message
 * round trip shows the breakage.) The guard probes its own listener once a
 * second: a REP listener with a fresh REQ socket and one probe message
 * (echoed by ipc/server.c); a PUB listener with a plain stream connection
 * that completes the SP handshake as a subscriber and waits until the PUB
 * socket takes the pipe (its ADD_POST notification, which the guard owns
 * on that socket) — never with an nng SUB socket, which would receive the
 * whole event stream and could hang nng's reaper when closed (see
 * probe_pub in guard.c). When two probes in a row fail within two seconds,
 * it closes the listener (which drops its connected peers) and starts a new
 * one on the same URL, and says so on stderr. Clients redial by themselves
 * (ipc/redial.h).
 */
#ifndef STRATA_IPC_GUARD_H
#define STRATA_IPC_GUARD_H

#include <nng/nng.h>

struct listener_guard;

enum guard_peer { GUARD_PEER_REQ, GUARD_PEER_SUB };

/* The probe of a REP socket: a request of exactly these bytes is echoed by
 * ipc/server.c without reaching the handler. */
#define IPC_PROBE "\0strata-probe"
#define IPC_PROBE_LEN 13

/* Creates and starts the listener on url (ipc:// files get mode 0660), and
 * the guard thread. GUARD_PEER_SUB (sock is a PUB socket): the guard takes
 * the socket's NNG_PIPE_EV_ADD_POST notification until guard_stop. 0 or an
 * nng error code. */
int guard_listen(struct listener_guard **out, nng_socket sock, const char *url,
		 enum guard_peer peer);
/* Stops the guard (before the socket is closed); returns within a probe's
 * time (two seconds). NULL: no-op. */
void guard_stop(struct listener_guard *g);
/* Listeners re-created so far. */
unsigned guard_restarts(const struct listener_guard *g);

#endif
