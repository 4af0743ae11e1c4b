/*
 * ipc/guard.h — keeps a listener accepting.
 *
 * nng 1.5.2 has a bug (nng issue #1518, fixed in 1.6.0): a peer that
 * connects and goes away before the SP handshake (a killed client, a probe
 * like `nc -U`) leaves the listener accepting at the kernel level but never
 * negotiating again: new clients hang unconnected. Debian 12 ships 1.5.2.
 * (The client's side of the handshake still completes, so only a message
 * round trip shows the breakage.) The guard probes its own listener once a
 * second with a fresh socket of the peer protocol and one probe message;
 * when two probes in a row get no answer within two seconds, it closes the listener (which drops its
 * connected peers) and starts a new one on the same URL, and says so on
 * stderr. Clients redial by themselves (ipc/redial.h).
 */
#ifndef STRATA_IPC_GUARD_H
#define STRATA_IPC_GUARD_H

#include <nng/nng.h>

struct listener_guard;

enum guard_peer { GUARD_PEER_REQ, GUARD_PEER_SUB };

/* The probe: on a REP socket, a request of exactly these bytes is echoed
 * by ipc/server.c without reaching the handler; on a PUB socket it is
 * published as its own topic (subscribers of "storage." never see it). */
#define IPC_PROBE "\0strata-probe"
#define IPC_PROBE_LEN 13

/* Creates and starts the listener on url (ipc:// files get mode 0660), and
 * the guard thread. 0 or an nng error code. */
int guard_listen(struct listener_guard **out, nng_socket sock, const char *url,
		 enum guard_peer peer);
/* Stops the guard (before the socket is closed). NULL: no-op. */
void guard_stop(struct listener_guard *g);
/* Listeners re-created so far. */
unsigned guard_restarts(const struct listener_guard *g);

#endif
