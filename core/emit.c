/*
 * core/emit.c — per-thread SPSC event rings. See emit.h for the rules.
 *
 * A ring: `head` is written only by the producer (release), `tail` only by
 * the consumer (release); each reads the other's index with acquire. Slots
 * between tail and head belong to the consumer, the rest to the producer.
 *
 * Ring registry: a mutex-protected singly linked list. The producer takes the
 * mutex once, when it registers its ring; the consumer takes it once per
 * drain to walk the list and to unlink rings whose thread has exited and
 * that are empty.
 */
#include "core/emit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/stats.h"
#include "strata/error.h"

struct emit_ring {
	_Alignas(64) _Atomic uint64_t head; /* producer */
	_Alignas(64) _Atomic uint64_t tail; /* consumer */
	_Atomic bool orphaned;              /* producer thread has exited */
	struct emit_ring *next;             /* registry; under registry_lock */
	struct strata_event slots[EMIT_RING_SLOTS];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emit_ring *registry;
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct emit_ring *my_ring;

static _Atomic bool enabled = true;
static _Atomic unsigned sample_every = 100;
static _Atomic unsigned rare_limit = 1000;

/* Sampling counters per variant, per thread (a shared counter would be a
 * contended cache line on every buffer-pool hit); rate-limit windows per
 * family. */
static _Thread_local uint64_t sample_counter[STRATA_EV_COUNT];
static _Atomic uint64_t rare_window_sec[STRATA_FAM_COUNT];
static _Atomic uint64_t rare_in_window[STRATA_FAM_COUNT];

static void ring_orphan(void *p)
{
	struct emit_ring *r = p;
	atomic_store_explicit(&r->orphaned, true, memory_order_release);
}

static void make_key(void)
{
	(void)pthread_key_create(&ring_key, ring_orphan);
}

int emit_thread_init(void)
{
	if (my_ring)
		return 0;
	if (pthread_once(&ring_key_once, make_key) != 0)
		return STRATA_EINTERNAL;
	struct emit_ring *r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return STRATA_ENOMEM;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->orphaned, false);
	if (pthread_setspecific(ring_key, r) != 0) {
		free(r);
		return STRATA_EINTERNAL;
	}
	pthread_mutex_lock(&registry_lock);
	r->next = registry;
	registry = r;
	pthread_mutex_unlock(&registry_lock);
	my_ring = r;
	return 0;
}

bool emit(const struct strata_event *ev)
{
	unsigned fam = strata_ev_family_of((enum strata_ev_variant)ev->variant);
	if (fam >= STRATA_FAM_COUNT || !atomic_load_explicit(&enabled, memory_order_relaxed))
		return false;
	if (!my_ring && emit_thread_init() != 0) {
		stat_add(&core_stats()->events.dropped[fam], 1);
		return false;
	}
	struct emit_ring *r = my_ring;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail >= EMIT_RING_SLOTS) {
		stat_add(&core_stats()->events.dropped[fam], 1);
		return false;
	}
	struct strata_event *slot = &r->slots[head & (EMIT_RING_SLOTS - 1)];
	*slot = *ev;
	slot->family = (uint16_t)fam;
	if (slot->ts_us == 0)
		slot->ts_us = clock_wall_us();
	int64_t *ts = strata_ev_timestamp(slot);
	if (ts && *ts == 0)
		*ts = slot->ts_us / 1000000;
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	stat_add(&core_stats()->events.emitted[fam], 1);
	return true;
}

bool emit_sample_due(enum strata_ev_variant v)
{
	if ((unsigned)v >= STRATA_EV_COUNT || !atomic_load_explicit(&enabled, memory_order_relaxed))
		return false;
	unsigned n = atomic_load_explicit(&sample_every, memory_order_relaxed);
	unsigned fam = strata_ev_family_of(v);
	if (n == 0) {
		stat_add(&core_stats()->events.sampled_out[fam], 1);
		return false;
	}
	uint64_t c = sample_counter[v]++;
	if (c % n != 0) {
		stat_add(&core_stats()->events.sampled_out[fam], 1);
		return false;
	}
	return true;
}

bool emit_sampled(const struct strata_event *ev)
{
	return emit_sample_due((enum strata_ev_variant)ev->variant) && emit(ev);
}

bool emit_rare(const struct strata_event *ev)
{
	unsigned fam = strata_ev_family_of((enum strata_ev_variant)ev->variant);
	if (fam >= STRATA_FAM_COUNT)
		return false;
	unsigned limit = atomic_load_explicit(&rare_limit, memory_order_relaxed);
	if (limit) {
		uint64_t sec = clock_mono_us() / 1000000;
		uint64_t w = atomic_load_explicit(&rare_window_sec[fam], memory_order_relaxed);
		if (w != sec && atomic_compare_exchange_strong(&rare_window_sec[fam], &w, sec))
			atomic_store_explicit(&rare_in_window[fam], 0, memory_order_relaxed);
		if (atomic_fetch_add_explicit(&rare_in_window[fam], 1, memory_order_relaxed) >= limit) {
			stat_add(&core_stats()->events.rate_limited[fam], 1);
			return false;
		}
	}
	return emit(ev);
}

void emit_set_enabled(bool on) { atomic_store(&enabled, on); }
bool emit_enabled(void) { return atomic_load(&enabled); }
void emit_set_sample_every(unsigned n) { atomic_store(&sample_every, n); }
void emit_set_rare_limit(unsigned per_sec) { atomic_store(&rare_limit, per_sec); }

/* Per ring per pass: a busy thread cannot starve the others' rings. */
#define DRAIN_PER_RING 64

size_t emit_drain(struct strata_event *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&registry_lock);
	bool more = true;
	while (more && n < max) {
		more = false;
		struct emit_ring **link = &registry;
		while (*link) {
			struct emit_ring *r = *link;
			bool orphaned = atomic_load_explicit(&r->orphaned, memory_order_acquire);
			uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
			uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
			size_t taken = 0;
			while (tail != head && n < max && taken < DRAIN_PER_RING) {
				out[n++] = r->slots[tail++ & (EMIT_RING_SLOTS - 1)];
				taken++;
			}
			atomic_store_explicit(&r->tail, tail, memory_order_release);
			if (tail != head)
				more = true;
			if (orphaned && tail == head) {
				*link = r->next;
				free(r);
				continue;
			}
			link = &r->next;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return n;
}

void emit_shutdown(void)
{
	pthread_mutex_lock(&registry_lock);
	while (registry) {
		struct emit_ring *r = registry;
		registry = r->next;
		free(r);
	}
	pthread_mutex_unlock(&registry_lock);
	/* The calling thread's ring is gone: forget it so a later emit makes a new one. */
	if (my_ring)
		(void)pthread_setspecific(ring_key, NULL);
	my_ring = NULL;
}
