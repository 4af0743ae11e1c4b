/*
 * daemon/publisher.h — the event publisher thread and the stats ticker.
 *
 * Publisher: drains core's per-thread event rings (core/emit.h), assigns each
 * event the next seq of its topic (gap-free per topic within an epoch: seqs
 * are assigned here, after any drop, so drops show up in the *Stats
 * counters, not as seq gaps), records it in the replay ring, encodes it
 * (proto) and sends it on the PUB socket.
 *
 * Ticker: every --stats-interval-ms emits PoolStats and IoStats built from
 * the counters in the stats segment.
 */
#ifndef STRATA_DAEMON_PUBLISHER_H
#define STRATA_DAEMON_PUBLISHER_H

struct stratad;
struct publisher;

int publisher_start(struct publisher **out, struct stratad *d);
/* Stops the ticker, publishes what is still queued, joins both threads. */
void publisher_stop(struct publisher *p);

#endif
