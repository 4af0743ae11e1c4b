/*
 * frontend/bridge.h — moving things from nng threads to the lws service
 * thread without ever blocking it.
 *
 * nng callbacks (control replies, bus events, connection changes) push an
 * item and wake the service thread with lws_cancel_service(); the service
 * thread drains the queue in LWS_CALLBACK_EVENT_WAIT_CANCELLED. The queue
 * lock is held only for pointer moves. The bus queue is bounded: when the
 * service thread falls behind, the oldest events are dropped and counted
 * (the clients see a seq gap), so memory stays bounded.
 */
#ifndef STRATA_FRONTEND_BRIDGE_H
#define STRATA_FRONTEND_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws_context;

/* A rendered event, encoded once and shared by every client that gets it.
 * Owned by the service thread once popped; refs counted there only. */
struct wsmsg {
	int refs;
	int family;        /* enum strata_ev_family, or -1 for notices to all */
	int variant;       /* enum strata_ev_variant, or -1 */
	uint64_t seq, epoch;
	int64_t ts_us;     /* emission time in stratad (0: not an event) */
	bool replayed;     /* fetched with events.replay, not live */
	char subject[64];  /* tree_name / table_name of the event, or "" */
	size_t len;        /* JSON bytes at data + LWS_PRE */
	unsigned char data[];
};

struct wsmsg *wsmsg_new(const char *json, size_t len, int family);
void wsmsg_unref(struct wsmsg *m);

enum bridge_kind { BRIDGE_REPLY, BRIDGE_EVENT, BRIDGE_CONN };

struct bridge_item {
	enum bridge_kind kind;
	struct bridge_item *next;
	/* BRIDGE_REPLY */
	uint64_t serial;
	int err;
	void *data;
	size_t len;
	/* BRIDGE_EVENT */
	struct wsmsg *msg;
	/* BRIDGE_CONN */
	bool up;
};

struct bridge;

int bridge_create(struct bridge **out, size_t max_events);
void bridge_destroy(struct bridge *b);
/* Sets the context to wake (NULL: stop waking; items still queue). */
void bridge_set_context(struct bridge *b, struct lws_context *ctx);
/* Any thread. Takes ownership of item. */
void bridge_push(struct bridge *b, struct bridge_item *item);
/* Any thread (an ipc_reply_fn's body): queues a BRIDGE_REPLY for serial with
 * a copy of the reply (an allocation failure becomes err STRATA_ENOMEM).
 * false if even the item could not be allocated (nothing queued). */
bool bridge_push_reply(struct bridge *b, uint64_t serial, int err, const void *reply,
		       size_t len);
/* Service thread: takes every queued item, oldest first (a list). */
struct bridge_item *bridge_take_all(struct bridge *b);
/* Events dropped because the service thread fell behind. */
uint64_t bridge_dropped(struct bridge *b);
void bridge_item_free(struct bridge_item *it);

#endif
