#include "frontend/bridge.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "strata/error.h"

struct bridge {
	pthread_mutex_t lock; /* guards everything below */
	struct bridge_item *head, *tail;
	size_t events, max_events;
	uint64_t dropped;
	struct lws_context *ctx;
};

struct wsmsg *wsmsg_new(const char *json, size_t len, int family)
{
	struct wsmsg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return NULL;
	m->refs = 1;
	m->family = family;
	m->variant = -1;
	m->seq = m->epoch = 0;
	m->ts_us = 0;
	m->replayed = false;
	m->subject[0] = '\0';
	m->len = len;
	memcpy(m->data + LWS_PRE, json, len);
	return m;
}

void wsmsg_unref(struct wsmsg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

int bridge_create(struct bridge **out, size_t max_events)
{
	struct bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return STRATA_ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->max_events = max_events;
	*out = b;
	return 0;
}

void bridge_item_free(struct bridge_item *it)
{
	if (!it)
		return;
	free(it->data);
	wsmsg_unref(it->msg);
	free(it);
}

void bridge_destroy(struct bridge *b)
{
	if (!b)
		return;
	struct bridge_item *it = b->head;
	while (it) {
		struct bridge_item *next = it->next;
		bridge_item_free(it);
		it = next;
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void bridge_set_context(struct bridge *b, struct lws_context *ctx)
{
	pthread_mutex_lock(&b->lock);
	b->ctx = ctx;
	if (ctx && b->head)
		lws_cancel_service(ctx); /* what queued while nobody was woken */
	pthread_mutex_unlock(&b->lock);
}

/* Under the lock: drops the oldest queued event. */
static void drop_oldest_event(struct bridge *b)
{
	struct bridge_item **link = &b->head, *prev = NULL;
	while (*link && (*link)->kind != BRIDGE_EVENT) {
		prev = *link;
		link = &(*link)->next;
	}
	struct bridge_item *victim = *link;
	if (!victim)
		return;
	*link = victim->next;
	if (b->tail == victim)
		b->tail = prev;
	b->events--;
	b->dropped++;
	/* wsmsg_unref is service-thread only, but this message was never
	 * shared: its single reference is ours. */
	bridge_item_free(victim);
}

void bridge_push(struct bridge *b, struct bridge_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&b->lock);
	if (it->kind == BRIDGE_EVENT) {
		if (b->events >= b->max_events)
			drop_oldest_event(b);
		b->events++;
	}
	/* Only the first item into an empty queue wakes the service thread:
	 * until it takes them all, a wake for what is queued is pending. */
	bool wake = b->head == NULL;
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	if (wake && b->ctx)
		lws_cancel_service(b->ctx);
	pthread_mutex_unlock(&b->lock);
}

struct bridge_item *bridge_take_all(struct bridge *b)
{
	pthread_mutex_lock(&b->lock);
	struct bridge_item *it = b->head;
	b->head = b->tail = NULL;
	b->events = 0;
	pthread_mutex_unlock(&b->lock);
	return it;
}

uint64_t bridge_dropped(struct bridge *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t n = b->dropped;
	pthread_mutex_unlock(&b->lock);
	return n;
}

bool bridge_push_reply(struct bridge *b, uint64_t serial, int err, const void *reply, size_t len)
{
	struct bridge_item *it = calloc(1, sizeof(*it));
	if (!it)
		return false;
	it->kind = BRIDGE_REPLY;
	it->serial = serial;
	it->err = err;
	if (!err && len) {
		it->data = malloc(len);
		if (it->data) {
			memcpy(it->data, reply, len);
			it->len = len;
		} else {
			it->err = STRATA_ENOMEM;
		}
	}
	bridge_push(b, it);
	return true;
}
