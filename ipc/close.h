/*
 * ipc/close.h — closing an nng socket without hanging the process.
 *
 * nng 1.5.2 (Debian 12) can block forever in nng_close of a socket one of
 * whose ipc/tcp pipes is halfway through receiving a message: the
 * transport stops its read but the protocol's receive never completes, and
 * nng's single reaper thread waits for it (nng #1543/#1813, fixed in 1.8).
 * A subscriber closed while events stream, or a control socket closed
 * while requests or replies arrive, can hit it.
 *
 * ipc_close_bounded closes on a helper thread and waits at most wait_ms.
 * If the close does not finish, the socket is abandoned to process exit
 * (the callers close at shutdown), a line goes to stderr, and false is
 * returned: the caller must then leave everything nng may still touch
 * (aios, the struct holding them) allocated.
 */
#ifndef STRATA_IPC_CLOSE_H
#define STRATA_IPC_CLOSE_H

#include <stdbool.h>

#include <nng/nng.h>

#define IPC_CLOSE_WAIT_MS 3000

bool ipc_close_bounded(nng_socket sock, int wait_ms, const char *what);

#endif
