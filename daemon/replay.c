#include "daemon/replay.h"

#include <pthread.h>
#include <stdlib.h>

#include "strata/error.h"

struct topic_ring {
	pthread_mutex_t lock;
	struct strata_event *events; /* slot = seq % cap */
	uint64_t last;               /* newest seq stored; 0 = none */
};

struct replay {
	size_t cap;
	struct topic_ring topics[STRATA_FAM_COUNT];
};

int replay_create(struct replay **out, size_t per_topic)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (!r)
		return STRATA_ENOMEM;
	r->cap = per_topic;
	for (int f = 0; f < STRATA_FAM_COUNT; f++) {
		pthread_mutex_init(&r->topics[f].lock, NULL);
		r->topics[f].events = calloc(per_topic, sizeof(struct strata_event));
		if (!r->topics[f].events) {
			replay_destroy(r);
			return STRATA_ENOMEM;
		}
	}
	*out = r;
	return 0;
}

void replay_destroy(struct replay *r)
{
	if (!r)
		return;
	for (int f = 0; f < STRATA_FAM_COUNT; f++) {
		free(r->topics[f].events);
		pthread_mutex_destroy(&r->topics[f].lock);
	}
	free(r);
}

void replay_append(struct replay *r, enum strata_ev_family fam, uint64_t seq,
		   const struct strata_event *ev)
{
	struct topic_ring *t = &r->topics[fam];
	pthread_mutex_lock(&t->lock);
	t->events[seq % r->cap] = *ev;
	t->last = seq;
	pthread_mutex_unlock(&t->lock);
}

size_t replay_read(struct replay *r, enum strata_ev_family fam, uint64_t after, size_t max,
		   struct strata_event *out, uint64_t *seqs, bool *gap, uint64_t *last)
{
	struct topic_ring *t = &r->topics[fam];
	size_t n = 0;
	pthread_mutex_lock(&t->lock);
	*last = t->last;
	uint64_t oldest = t->last >= r->cap ? t->last - r->cap + 1 : 1;
	uint64_t from = after + 1;
	*gap = false;
	if (t->last > 0 && from < oldest) {
		*gap = true;
		from = oldest;
	}
	for (uint64_t s = from; s <= t->last && n < max; s++, n++) {
		out[n] = t->events[s % r->cap];
		seqs[n] = s;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}
