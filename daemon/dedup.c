/*
 * daemon/dedup.c — a FIFO of the last DEDUP_SLOTS mutating requests, hashed
 * by (client, id). One mutex guards it all: it is held only for lookups and
 * pointer moves, never while an op runs.
 *
 * Entry states: FREE -> RUNNING (dedup_begin, first claim) -> DONE
 * (dedup_finish) -> FREE (evicted as the oldest when its slot is reused; a
 * RUNNING entry is never evicted: the claim then goes unrecorded).
 */
#include "daemon/dedup.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strata/error.h"

#define NBUCKETS (DEDUP_SLOTS * 2)
#define NONE UINT32_MAX

enum entry_state { ENTRY_FREE, ENTRY_RUNNING, ENTRY_DONE };

struct entry {
	uint64_t client, id;
	enum entry_state state;
	void *reply;
	size_t len;
	uint32_t next; /* bucket chain */
};

struct dedup {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct entry entries[DEDUP_SLOTS];
	uint32_t buckets[NBUCKETS];
	uint32_t oldest; /* next slot to reuse */
};

static uint32_t bucket_of(uint64_t client, uint64_t id)
{
	uint64_t h = client * 0x9e3779b97f4a7c15ull ^ (id + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	return (uint32_t)((h ^ (h >> 31)) % NBUCKETS);
}

int dedup_create(struct dedup **out)
{
	struct dedup *d = calloc(1, sizeof(*d));
	if (!d)
		return STRATA_ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->done, NULL);
	for (uint32_t i = 0; i < NBUCKETS; i++)
		d->buckets[i] = NONE;
	*out = d;
	return 0;
}

void dedup_destroy(struct dedup *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < DEDUP_SLOTS; i++)
		free(d->entries[i].reply);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->done);
	free(d);
}

static struct entry *find(struct dedup *d, uint64_t client, uint64_t id)
{
	for (uint32_t i = d->buckets[bucket_of(client, id)]; i != NONE; i = d->entries[i].next) {
		struct entry *e = &d->entries[i];
		if (e->client == client && e->id == id)
			return e;
	}
	return NULL;
}

static void unlink_entry(struct dedup *d, uint32_t idx)
{
	struct entry *e = &d->entries[idx];
	uint32_t *link = &d->buckets[bucket_of(e->client, e->id)];
	while (*link != NONE && *link != idx)
		link = &d->entries[*link].next;
	if (*link == idx)
		*link = e->next;
	free(e->reply);
	memset(e, 0, sizeof(*e));
}

int dedup_begin(struct dedup *d, uint64_t client, uint64_t id, void **reply, size_t *len)
{
	pthread_mutex_lock(&d->lock);
	struct entry *e;
	while ((e = find(d, client, id)) && e->state == ENTRY_RUNNING)
		pthread_cond_wait(&d->done, &d->lock);
	if (e) {
		void *copy = malloc(e->len ? e->len : 1);
		if (!copy) {
			pthread_mutex_unlock(&d->lock);
			return STRATA_ENOMEM;
		}
		memcpy(copy, e->reply, e->len);
		*reply = copy;
		*len = e->len;
		pthread_mutex_unlock(&d->lock);
		return 1;
	}
	/* The oldest slot that is not running (a slow op keeps its slot). */
	uint32_t idx = d->oldest, tries = 0;
	while (d->entries[idx].state == ENTRY_RUNNING && ++tries < DEDUP_SLOTS)
		idx = (idx + 1) % DEDUP_SLOTS;
	if (d->entries[idx].state == ENTRY_RUNNING) {
		pthread_mutex_unlock(&d->lock); /* every slot running: cannot record */
		return 0;
	}
	if (d->entries[idx].state == ENTRY_DONE)
		unlink_entry(d, idx);
	d->oldest = (idx + 1) % DEDUP_SLOTS;
	e = &d->entries[idx];
	e->client = client;
	e->id = id;
	e->state = ENTRY_RUNNING;
	uint32_t b = bucket_of(client, id);
	e->next = d->buckets[b];
	d->buckets[b] = idx;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void dedup_finish(struct dedup *d, uint64_t client, uint64_t id, const void *reply, size_t len)
{
	pthread_mutex_lock(&d->lock);
	struct entry *e = find(d, client, id);
	if (e && e->state == ENTRY_RUNNING && len == 0) {
		/* No reply was produced: forget the claim so a retry runs. */
		unlink_entry(d, (uint32_t)(e - d->entries));
		pthread_cond_broadcast(&d->done);
	} else if (e && e->state == ENTRY_RUNNING) {
		e->reply = malloc(len ? len : 1);
		if (e->reply) {
			memcpy(e->reply, reply, len);
			e->len = len;
			e->state = ENTRY_DONE;
		} else {
			/* Can't remember it: forget the claim so a retry runs again
			 * rather than waiting forever. */
			unlink_entry(d, (uint32_t)(e - d->entries));
		}
		pthread_cond_broadcast(&d->done);
	}
	pthread_mutex_unlock(&d->lock);
}
