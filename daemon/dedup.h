/*
 * daemon/dedup.h — answers a repeated (client, id) with the first reply.
 *
 * nng's REQ resend is off (DESIGN.md); a client that retries sends the same
 * (client, id) again. For mutating ops stratad remembers the reply of the
 * most recent DEDUP_SLOTS requests, so a retried put, insert or migration
 * runs once. A repeat that arrives while the first is still running waits
 * for it and gets its reply.
 *
 * Thread safety: every function may be called from any worker thread.
 */
#ifndef STRATA_DAEMON_DEDUP_H
#define STRATA_DAEMON_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define DEDUP_SLOTS 4096

struct dedup;

int dedup_create(struct dedup **out);
void dedup_destroy(struct dedup *d);

/*
 * Claims (client, id). Returns 0 when the caller is first and must run the
 * op then call dedup_finish; returns 1 when a reply is known, with a
 * malloc'd copy in *reply (caller frees). STRATA_ENOMEM on failure.
 */
int dedup_begin(struct dedup *d, uint64_t client, uint64_t id, void **reply, size_t *len);

/* Records the reply of a claimed (client, id) and wakes any waiters. */
void dedup_finish(struct dedup *d, uint64_t client, uint64_t id, const void *reply, size_t len);

#endif
