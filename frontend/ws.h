/*
 * frontend/ws.h — WebSocket event streams on the lws service thread.
 * See ws.c for the paths, the control messages, the per-client queue,
 * resume and gap repair.
 */
#ifndef STRATA_FRONTEND_WS_H
#define STRATA_FRONTEND_WS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/front.h"
#include "strata/events.h"

struct lws;
struct wsmsg;
struct ev_live;

/* Largest control message a client may send. */
#define WS_RX_MAX 4096

struct ws_session {
	struct lws *wsi;
	uint64_t id;           /* for replies that arrive after a close */
	int stream;            /* family index, or STRATA_FAM_COUNT for all */
	unsigned mask;         /* families delivered */
	uint64_t variants;     /* variants delivered (bit per enum strata_ev_variant) */
	char subject[64];      /* only events about this tree/table ("": all) */
	unsigned stats_interval_ms;          /* 0: every *Stats event */
	int64_t stats_last_us[STRATA_EV_COUNT];
	/* what this client has been sent, per family: resume and dedup */
	uint64_t seen_epoch[STRATA_FAM_COUNT], seen_seq[STRATA_FAM_COUNT];
	/* the outgoing queue: a ring of shared messages, bounded twice */
	struct wsmsg **q;
	unsigned qhead, qcount, qcap; /* qcap: slots allocated (grows to --ws-queue) */
	size_t qbytes;
	uint64_t lagged;       /* dropped since the last lagged notice */
	uint64_t dropped_total;
	int64_t dropping_since_ms; /* first drop of the current full spell (0: none) */
	/* resume: families whose replay is in flight, and live events held meanwhile */
	unsigned resuming;
	struct wsmsg **held;
	unsigned nheld, capheld;
	/* a bus gap the frontend found while this client's replay was in flight:
	 * told after the replay, for the part the replay did not cover (to 0: none) */
	uint64_t gap_from[STRATA_FAM_COUNT], gap_to[STRATA_FAM_COUNT], gap_epoch[STRATA_FAM_COUNT];
	const char *gap_reason[STRATA_FAM_COUNT];
	/* inbound control messages: a token bucket */
	double tokens;
	int64_t tokens_ms;
	uint64_t over_rate;
	/* outbound events: a token bucket at min(--ws-max-rate, asked max_rate) */
	unsigned max_rate;     /* asked by the client (0: the frontend's cap) */
	double out_tokens;
	int64_t out_us;
	uint64_t rate_dropped; /* dropped by the cap since the last rate_limited notice */
	bool closing;          /* closed for slowness or abuse: nothing more is queued */
	char close_reason[96];
	int close_code;
	bool listed;
	struct ws_session *prev, *next;
	char *rx;              /* WS_RX_MAX bytes, allocated by the first control message */
	size_t rx_len;
	bool rx_overflow;
};

/* Creates / frees the delivery state (f->hub). */
int ws_hub_create(struct front *f);
void ws_hub_destroy(struct front *f);
/* Service-thread timer work (slow-client checks). */
void ws_tick(struct front *f);

/* Any thread: renders an event once into a shareable message (NULL: no
 * memory). */
struct wsmsg *ws_render_event(const struct strata_event *ev, const struct ev_live *live);

/* 0 to accept the upgrade of this path, 1 to refuse it. */
int ws_on_filter(struct front *f, struct lws *wsi);
int ws_on_established(struct front *f, struct lws *wsi, struct ws_session *s);
int ws_on_receive(struct front *f, struct lws *wsi, struct ws_session *s, const void *in,
		  size_t len);
int ws_on_writable(struct front *f, struct lws *wsi, struct ws_session *s);
void ws_on_closed(struct front *f, struct ws_session *s);
/* A live event from the bus (reference taken): gap check, then delivery. */
void ws_bus_event(struct front *f, struct wsmsg *m);
/* Service thread, around a run of deliveries (a bridge drain): between
 * ws_defer and ws_flush, queued messages wait; ws_flush writes each
 * client's queue with one direct write where its socket is not backed up,
 * and asks for a writable callback where it is. */
void ws_defer(struct front *f);
void ws_flush(struct front *f);
/* Tells every client that stratad's event stream went down or came back. */
void ws_connection_changed(struct front *f, bool up);
/* GET /api/v1/ws/stats */
json_t *ws_stats_json(struct front *f);

#endif
