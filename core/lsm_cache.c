/*
 * core/lsm_cache.c — see lsm_cache.h.
 *
 * NSHARDS shards chosen by a hash of the key; each has a chained hash table
 * and an LRU list (most recent at the head) of the entries it holds, and a
 * capacity of capacity / NSHARDS. An entry in the cache holds one reference
 * for the cache; eviction unlinks it and drops that reference, so a reader
 * still holding it keeps a valid block until it releases it.
 */
#include "core/lsm_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>

#define NSHARDS 16

struct shard {
	pthread_mutex_t mu;
	struct lsm_cache_entry **buckets;
	size_t nbuckets, count, usage, capacity;
	struct lsm_cache_entry lru; /* dummy: lnext = most recent */
};

struct lsm_cache {
	struct shard shards[NSHARDS];
};

static _Atomic uint64_t next_id = 1;

uint64_t lsm_cache_new_id(void)
{
	return atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
}

static uint64_t key_hash(uint64_t id, uint64_t off)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull ^ (off >> 6) * 0xC2B2AE3D27D4EB4Full;
	return h ^ (h >> 29);
}

struct lsm_cache *lsm_cache_new(size_t capacity)
{
	if (capacity == 0)
		return NULL;
	struct lsm_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->capacity = capacity / NSHARDS ? capacity / NSHARDS : 1;
		s->nbuckets = 64;
		s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
		s->lru.lnext = s->lru.lprev = &s->lru;
		if (!s->buckets) {
			for (int j = 0; j <= i; j++) {
				free(c->shards[j].buckets);
				pthread_mutex_destroy(&c->shards[j].mu);
			}
			free(c);
			return NULL;
		}
	}
	return c;
}

static void entry_free(struct lsm_cache_entry *e)
{
	free(e->data);
	free(e);
}

void lsm_cache_free(struct lsm_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shards[i];
		struct lsm_cache_entry *e = s->lru.lnext;
		while (e != &s->lru) {
			struct lsm_cache_entry *n = e->lnext;
			entry_free(e);
			e = n;
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	free(c);
}

static struct shard *shard_of(struct lsm_cache *c, uint64_t h)
{
	return &c->shards[h % NSHARDS];
}

static struct lsm_cache_entry **bucket(struct shard *s, uint64_t h)
{
	return &s->buckets[(h / NSHARDS) & (s->nbuckets - 1)];
}

static void lru_unlink(struct lsm_cache_entry *e)
{
	e->lprev->lnext = e->lnext;
	e->lnext->lprev = e->lprev;
}

static void lru_push(struct shard *s, struct lsm_cache_entry *e)
{
	e->lnext = s->lru.lnext;
	e->lprev = &s->lru;
	s->lru.lnext->lprev = e;
	s->lru.lnext = e;
}

/* Takes e out of the table and the LRU (shard locked); true when the last
 * reference went with it, so the caller frees it outside the lock. */
static bool remove_entry(struct shard *s, struct lsm_cache_entry *e)
{
	struct lsm_cache_entry **pp = bucket(s, key_hash(e->id, e->off));
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	e->in_cache = 0;
	s->count--;
	s->usage -= e->charge;
	return --e->refs == 0;
}

static void grow(struct shard *s)
{
	size_t nb = s->nbuckets * 2;
	struct lsm_cache_entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct lsm_cache_entry *e = s->buckets[i];
		while (e) {
			struct lsm_cache_entry *n = e->hnext;
			struct lsm_cache_entry **pp = &b[(key_hash(e->id, e->off) / NSHARDS) & (nb - 1)];
			e->hnext = *pp;
			*pp = e;
			e = n;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
}

struct lsm_cache_entry *lsm_cache_lookup(struct lsm_cache *c, uint64_t id, uint64_t off)
{
	uint64_t h = key_hash(id, off);
	struct shard *s = shard_of(c, h);
	pthread_mutex_lock(&s->mu);
	struct lsm_cache_entry *e = *bucket(s, h);
	while (e && (e->id != id || e->off != off))
		e = e->hnext;
	if (e) {
		e->refs++;
		lru_unlink(e);
		lru_push(s, e);
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

struct lsm_cache_entry *lsm_cache_insert(struct lsm_cache *c, uint64_t id, uint64_t off,
					 uint8_t *data, size_t len)
{
	struct lsm_cache_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		free(data);
		return NULL;
	}
	e->data = data;
	e->len = len;
	e->id = id;
	e->off = off;
	e->charge = len + sizeof(*e) + 32;
	e->refs = 2; /* the cache's and the caller's */
	e->in_cache = 1;
	uint64_t h = key_hash(id, off);
	struct shard *s = shard_of(c, h);
	struct lsm_cache_entry *dead = NULL;
	pthread_mutex_lock(&s->mu);
	struct lsm_cache_entry *old = *bucket(s, h);
	while (old && (old->id != id || old->off != off))
		old = old->hnext;
	if (old && remove_entry(s, old)) {
		old->hnext = dead;
		dead = old;
	}
	struct lsm_cache_entry **pp = bucket(s, h);
	e->hnext = *pp;
	*pp = e;
	lru_push(s, e);
	s->count++;
	s->usage += e->charge;
	while (s->usage > s->capacity && s->lru.lprev != e) {
		struct lsm_cache_entry *v = s->lru.lprev;
		if (remove_entry(s, v)) {
			v->hnext = dead;
			dead = v;
		}
	}
	if (s->count > s->nbuckets)
		grow(s);
	pthread_mutex_unlock(&s->mu);
	while (dead) {
		struct lsm_cache_entry *n = dead->hnext;
		entry_free(dead);
		dead = n;
	}
	return e;
}

void lsm_cache_release(struct lsm_cache *c, struct lsm_cache_entry *e)
{
	struct shard *s = shard_of(c, key_hash(e->id, e->off));
	pthread_mutex_lock(&s->mu);
	bool last = --e->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		entry_free(e);
}

size_t lsm_cache_usage(struct lsm_cache *c)
{
	size_t u = 0;
	if (!c)
		return 0;
	for (int i = 0; i < NSHARDS; i++) {
		pthread_mutex_lock(&c->shards[i].mu);
		u += c->shards[i].usage;
		pthread_mutex_unlock(&c->shards[i].mu);
	}
	return u;
}
