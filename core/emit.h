/*
 * core/emit.h — emitting storage events without blocking the hot path.
 *
 * Producers are any threads of the process doing storage work; the single
 * consumer is the publisher thread (in stratad: daemon/publisher.c), which
 * drains every ring and puts the events on the bus.
 *
 * Rules:
 *  1. Each producing thread owns one bounded single-producer/single-consumer
 *     ring of fixed-size slots (struct strata_event). A thread's ring is
 *     allocated by its first emit (or emit_thread_init); after that emitting
 *     never allocates, never takes a lock and never blocks.
 *  2. A full ring drops the event and counts it in
 *     stats.events.dropped[family]; it never waits for the consumer.
 *  3. Per-page events (hits, misses, pins, single I/Os) go through
 *     emit_sampled(), which lets through one in N (emit_set_sample_every);
 *     the others are counted in stats.events.sampled_out.
 *  4. Rare events (flushes, evictions, splits, checksum failures, …) go
 *     through emit_rare(), which allows at most emit_set_rare_limit() per
 *     second per family; the rest are counted in stats.events.rate_limited.
 *  5. Exactly one thread calls emit_drain() at a time.
 *  6. When a producing thread exits, its ring is kept until the consumer has
 *     drained it, then freed by the consumer.
 *
 * Without a consumer (a program that embeds libstrata and never drains),
 * emit_set_enabled(false) turns every emit into a no-op (nothing counted).
 */
#ifndef STRATA_CORE_EMIT_H
#define STRATA_CORE_EMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "strata/events.h"

/* Slots per thread ring (power of two). */
#define EMIT_RING_SLOTS 4096u

/* Queues ev (its family and ts_us are filled in here if zero). Returns true
 * if queued, false if dropped or emission is disabled. */
bool emit(const struct strata_event *ev);

/* Like emit() for per-page events: emits one in every N calls per variant. */
bool emit_sampled(const struct strata_event *ev);

/* Like emit() for rare events, under a per-family rate limit. */
bool emit_rare(const struct strata_event *ev);

/* Whether a sampled event of this variant would be emitted now; lets a hot
 * path skip building the event. Counts a skip when it answers false. */
bool emit_sample_due(enum strata_ev_variant v);

/* Configuration; safe to call at any time from any thread. */
void emit_set_enabled(bool on);
bool emit_enabled(void);
void emit_set_sample_every(unsigned n);      /* 1 = every event; 0 = none */
void emit_set_rare_limit(unsigned per_sec);  /* 0 = unlimited */

/* Allocates the calling thread's ring now. 0 or STRATA_ENOMEM. */
int emit_thread_init(void);

/* Consumer: moves up to max queued events into out, oldest first per ring.
 * Returns how many were moved. */
size_t emit_drain(struct strata_event *out, size_t max);

/* Frees every ring (tests and shutdown; no producer may be running). */
void emit_shutdown(void);

#endif
