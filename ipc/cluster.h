/*
 * ipc/cluster.h — the cluster token that guards network control endpoints
 * (DESIGN.md: "tcp:// endpoints exist for frontends on other hosts and
 * require a cluster token"; the request map carries it as "tok").
 *
 * stratad started with a tcp:// endpoint refuses to start without
 * --cluster-token-file, and then answers every control request whose "tok"
 * is not the token with `unauthorized`. Frontends and the CLI read the same
 * file and send it. ipc:// endpoints are guarded by their file mode (0660)
 * and need no token.
 *
 * The event PUB endpoint cannot check a subscriber (nng PUB/SUB has no way
 * back): over tcp:// it carries storage events (names, ids, counters — no
 * stored values) to whoever connects; firewall it to the frontends' hosts.
 */
#ifndef STRATA_IPC_CLUSTER_H
#define STRATA_IPC_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

/* Longest token (bytes, without NUL); the request field holds 127. */
#define IPC_TOKEN_MAX 127
#define IPC_TOKEN_MIN 16

/* Whether url reaches beyond this host's file system: anything but
 * ipc:// and inproc://. */
bool ipc_url_is_network(const char *url);

/*
 * Reads the token from path: its first line without surrounding blanks,
 * IPC_TOKEN_MIN..IPC_TOKEN_MAX printable ASCII characters without spaces.
 * The file must not be readable or writable by group or others (as ssh
 * keys): 0600 or 0400. Returns 0, or -1 with a message in err.
 */
int ipc_cluster_token_load(const char *path, char *out, size_t outlen, char *err,
			   size_t errlen);

/* Equality in time independent of where a and b differ. */
bool ipc_token_equal(const char *a, const char *b);

#endif
