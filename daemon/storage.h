/*
 * daemon/storage.h — the core objects stratad serves, opened over the data
 * dir at start (recovering from the redo log) and checkpointed at exit,
 * with the background flusher that writes dirty pages ahead of eviction
 * and checkpoints when the log grows.
 */
#ifndef STRATA_DAEMON_STORAGE_H
#define STRATA_DAEMON_STORAGE_H

#include <stddef.h>

#include "core/pagestore.h"

struct stratad;
struct storage;

/* 0 or a STRATA_E* code with err set. */
int storage_open(struct storage **out, struct stratad *d, char *err, size_t errlen);
/* Stops the flusher and checkpoints (clean shutdown); requests have stopped. */
void storage_quiesce(struct storage *s);
/* Closes; returns non-zero if something could not be made durable. */
int storage_close(struct storage *s);

struct pagestore *storage_pages(struct storage *s);
const struct ps_recovery *storage_recovery(struct storage *s);

#endif
