/*
 * frontend/ws.h — WebSocket event streams on the lws service thread.
 * See ws.c for the paths, the per-client queue and the state table.
 */
#ifndef STRATA_FRONTEND_WS_H
#define STRATA_FRONTEND_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/front.h"

struct lws;
struct wsmsg;

struct ws_session {
	struct lws *wsi;
	int stream;            /* family index, or STRATA_FAM_COUNT for all */
	unsigned mask;         /* families delivered */
	char subject[64];      /* only events about this tree/table ("": all) */
	struct wsmsg **q;      /* ring of qcap */
	unsigned qhead, qcount, qcap;
	uint64_t lagged;       /* dropped since the last lagged notice */
	bool listed;
	struct ws_session *prev, *next;
	char rx[4096];
	size_t rx_len;
	bool rx_overflow;
};

/* 0 to accept the upgrade of this path, 1 to refuse it. */
int ws_on_filter(struct front *f, struct lws *wsi);
int ws_on_established(struct front *f, struct lws *wsi, struct ws_session *s);
int ws_on_receive(struct front *f, struct lws *wsi, struct ws_session *s, const void *in,
		  size_t len);
int ws_on_writable(struct front *f, struct lws *wsi, struct ws_session *s);
void ws_on_closed(struct front *f, struct ws_session *s);
/* Queues m to every client whose families include m's (all for -1). */
void ws_broadcast(struct front *f, struct wsmsg *m);
/* Tells every client that stratad's event stream went down or came back. */
void ws_connection_changed(struct front *f, bool up);

#endif
