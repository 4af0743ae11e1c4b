/*
 * daemon/replay.h — the last N events of each topic, for events.replay.
 *
 * The publisher thread appends every event it publishes, with the seq it
 * assigned; request workers read. A reader asking for events after seq S
 * gets them in order, or learns that some are gone (gap).
 *
 * Thread safety: one mutex per topic; appends and reads may run at once.
 */
#ifndef STRATA_DAEMON_REPLAY_H
#define STRATA_DAEMON_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/events.h"

struct replay;

int replay_create(struct replay **out, size_t per_topic);
void replay_destroy(struct replay *r);

/* Publisher: records ev as the event with this seq (seqs must increase by 1). */
void replay_append(struct replay *r, enum strata_ev_family fam, uint64_t seq,
		   const struct strata_event *ev);

/*
 * Copies up to max events of fam with seq > after into out (oldest first)
 * and their seqs into seqs. *gap is set when events after `after` were
 * already overwritten (the first returned seq is then > after + 1).
 * *last is the newest seq published (0: none yet). Returns the count.
 */
size_t replay_read(struct replay *r, enum strata_ev_family fam, uint64_t after, size_t max,
		   struct strata_event *out, uint64_t *seqs, bool *gap, uint64_t *last);

#endif
