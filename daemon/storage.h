/*
 * daemon/storage.h — the core objects stratad serves, opened over the data
 * dir at start and closed (flushed) at exit.
 */
#ifndef STRATA_DAEMON_STORAGE_H
#define STRATA_DAEMON_STORAGE_H

#include <stddef.h>

struct stratad;
struct storage;

/* 0 or a STRATA_E* code with err set. */
int storage_open(struct storage **out, struct stratad *d, char *err, size_t errlen);
/* Flushes everything (clean shutdown); requests have stopped. */
void storage_quiesce(struct storage *s);
/* Closes; returns non-zero if something could not be made durable. */
int storage_close(struct storage *s);

#endif
