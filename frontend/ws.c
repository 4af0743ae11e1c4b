/*
 * frontend/ws.c — WebSocket event streams.
 *
 * Paths: /api/v1/ws/storage/<family> (one family) and /api/v1/ws/storage
 * (every family; the client narrows it with {"subscribe":["lsm","tiers"]}).
 *
 * Each client has a bounded queue of shared, already-rendered messages
 * (struct wsmsg, encoded once per event for all clients). A full queue
 * drops its oldest message; the client is then sent
 * {"message_type":"lagged","data":{"dropped":N}} before the next event, so
 * a slow client loses its own messages and never slows anyone else.
 *
 * Session states (service thread only):
 *   state        event                  -> state        action
 *   (filter)     path not a stream      -> rejected
 *   (filter)     path ok                -> ESTABLISHED  on the client list, hello sent
 *   ESTABLISHED  event for its families -> ESTABLISHED  queued (oldest dropped if full)
 *   ESTABLISHED  writable               -> ESTABLISHED  lagged notice, then one message
 *   ESTABLISHED  closed                 -> (gone)       off the list, queue released
 */
#include "frontend/ws.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "frontend/auth.h"
#include "frontend/bridge.h"
#include "proto/event_codec.h"
#include "strata/error.h"

#define WS_PREFIX "/api/v1/ws/storage"
#define ALL_FAMILIES ((1u << STRATA_FAM_COUNT) - 1)

/* Stream of a path: a family index, STRATA_FAM_COUNT for all, -1 for none. */
static int stream_of_path(const char *path)
{
	size_t n = strlen(WS_PREFIX);
	if (strncmp(path, WS_PREFIX, n) != 0)
		return -1;
	const char *rest = path + n;
	if (*rest == '\0' || strcmp(rest, "/") == 0)
		return STRATA_FAM_COUNT;
	if (*rest != '/')
		return -1;
	char fam[64];
	snprintf(fam, sizeof(fam), "%s", rest + 1);
	size_t l = strlen(fam);
	if (l && fam[l - 1] == '/')
		fam[l - 1] = '\0';
	return ev_family_from_path(fam);
}

/* The bearer token of an upgrade: the Authorization header, or (browsers
 * cannot set headers on a WebSocket) a token=... query argument. */
static bool ws_authorised(struct front *f, struct lws *wsi)
{
	if (!f->auth)
		return true;
	char hdr[600] = "";
	enum role role;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    auth_check(f->auth, hdr, &role) == 0)
		return role >= ROLE_READ;
	char frag[512];
	for (int i = 0; i < 32; i++) {
		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
			break;
		if (strncmp(frag, "token=", 6) == 0) {
			snprintf(hdr, sizeof(hdr), "Bearer %s", frag + 6);
			return auth_check(f->auth, hdr, &role) == 0 && role >= ROLE_READ;
		}
	}
	return false;
}

int ws_on_filter(struct front *f, struct lws *wsi)
{
	char path[256];
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		return 1;
	if (stream_of_path(path) < 0)
		return 1;
	return ws_authorised(f, wsi) ? 0 : 1;
}

/* Queues m for s (a reference is taken). */
static void enqueue(struct front *f, struct ws_session *s, struct wsmsg *m)
{
	if (s->qcount == s->qcap) {
		/* Full: the oldest goes, and the client will be told. */
		wsmsg_unref(s->q[s->qhead]);
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qcount--;
		s->lagged++;
		f->ws_dropped++;
	}
	m->refs++;
	s->q[(s->qhead + s->qcount) % s->qcap] = m;
	s->qcount++;
	lws_callback_on_writable(s->wsi);
}

static struct wsmsg *notice(const char *type, json_t *data)
{
	json_t *j = json_pack("{s:s, s:o, s:I}", "message_type", type, "data", data, "timestamp",
			      (json_int_t)time(NULL));
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return NULL;
	struct wsmsg *m = wsmsg_new(text, strlen(text), -1);
	free(text);
	return m;
}

static struct wsmsg *connection_notice(struct front *f, int stream)
{
	json_t *d = json_pack("{s:s}", "stratad", f->events_up ? "up" : "down");
	if (d && stream >= 0 && stream < STRATA_FAM_COUNT)
		json_object_set_new(d, "stream", json_string(ev_family_path(stream)));
	else if (d)
		json_object_set_new(d, "stream", json_string("all"));
	return d ? notice("connection", d) : NULL;
}

int ws_on_established(struct front *f, struct lws *wsi, struct ws_session *s)
{
	char path[256] = "";
	lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	int stream = stream_of_path(path);
	if (stream < 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	s->stream = stream;
	s->mask = stream == STRATA_FAM_COUNT ? ALL_FAMILIES : 1u << stream;
	/* ?tree=NAME or ?table=NAME: events about that object only. */
	char frag[128];
	for (int i = 0; i < 16; i++) {
		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
			break;
		if (strncmp(frag, "tree=", 5) == 0)
			snprintf(s->subject, sizeof(s->subject), "%.63s", frag + 5);
		else if (strncmp(frag, "table=", 6) == 0)
			snprintf(s->subject, sizeof(s->subject), "%.63s", frag + 6);
	}
	s->qcap = f->opt.ws_queue_max;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (!s->q)
		return -1;
	s->next = f->ws_clients;
	if (f->ws_clients)
		f->ws_clients->prev = s;
	f->ws_clients = s;
	s->listed = true;
	f->ws_count[stream]++;
	struct wsmsg *hello = connection_notice(f, stream);
	if (hello) {
		enqueue(f, s, hello);
		wsmsg_unref(hello);
	}
	return 0;
}

static void send_error(struct front *f, struct ws_session *s, const char *message)
{
	struct wsmsg *m = notice("error", json_pack("{s:s, s:s}", "code", "bad_request", "message",
						     message));
	if (m) {
		enqueue(f, s, m);
		wsmsg_unref(m);
	}
}

int ws_on_receive(struct front *f, struct lws *wsi, struct ws_session *s, const void *in,
		  size_t len)
{
	/* Control messages are small: collect fragments up to a limit. */
	if (s->rx_len + len > sizeof(s->rx) - 1) {
		s->rx_len = 0;
		s->rx_overflow = true;
	} else if (!s->rx_overflow) {
		memcpy(s->rx + s->rx_len, in, len);
		s->rx_len += len;
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (s->rx_overflow) {
		s->rx_overflow = false;
		s->rx_len = 0;
		send_error(f, s, "control message over 4096 bytes");
		return 0;
	}
	json_error_t je;
	json_t *j = json_loadb(s->rx, s->rx_len, 0, &je);
	s->rx_len = 0;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		send_error(f, s, "expected a JSON object such as {\"subscribe\":[\"lsm\",\"tiers\"]}");
		return 0;
	}
	json_t *sub = json_object_get(j, "subscribe");
	if (sub) {
		if (!json_is_array(sub)) {
			send_error(f, s, "subscribe: expected an array of family names");
			json_decref(j);
			return 0;
		}
		unsigned mask = 0;
		size_t i;
		json_t *v;
		json_array_foreach(sub, i, v) {
			int fam = json_is_string(v) ? ev_family_from_path(json_string_value(v)) : -1;
			if (fam < 0) {
				char msg[160];
				snprintf(msg, sizeof(msg),
					 "subscribe[%zu]: unknown family; expected one of buffer-pool, lsm, io, tiers, pages, columnar",
					 i);
				send_error(f, s, msg);
				json_decref(j);
				return 0;
			}
			mask |= 1u << fam;
		}
		/* A single-family stream stays within its family. */
		if (s->stream != STRATA_FAM_COUNT)
			mask &= 1u << s->stream;
		s->mask = mask;
		json_t *fams = json_array();
		for (int fam = 0; fams && fam < STRATA_FAM_COUNT; fam++)
			if (mask & (1u << fam))
				json_array_append_new(fams, json_string(ev_family_path(fam)));
		struct wsmsg *m = notice("subscribed", json_pack("{s:o}", "families", fams));
		if (m) {
			enqueue(f, s, m);
			wsmsg_unref(m);
		}
	} else {
		send_error(f, s, "unknown control message: expected 'subscribe'");
	}
	json_decref(j);
	return 0;
}

int ws_on_writable(struct front *f, struct lws *wsi, struct ws_session *s)
{
	if (s->lagged) {
		unsigned char buf[LWS_PRE + 160];
		int n = snprintf((char *)buf + LWS_PRE, 160,
				 "{\"message_type\":\"lagged\",\"data\":{\"dropped\":%llu},\"timestamp\":%lld}",
				 (unsigned long long)s->lagged, (long long)time(NULL));
		if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
			return -1;
		s->lagged = 0;
		f->ws_lagged_notices++;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->qcount == 0)
		return 0;
	struct wsmsg *m = s->q[s->qhead];
	s->q[s->qhead] = NULL;
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qcount--;
	int rv = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
	wsmsg_unref(m);
	if (rv < (int)0)
		return -1;
	f->ws_sent++;
	if (s->qcount)
		lws_callback_on_writable(wsi);
	return 0;
}

void ws_on_closed(struct front *f, struct ws_session *s)
{
	if (!s->listed)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		f->ws_clients = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->listed = false;
	f->ws_count[s->stream]--;
	for (unsigned i = 0; i < s->qcount; i++)
		wsmsg_unref(s->q[(s->qhead + i) % s->qcap]);
	free(s->q);
	s->q = NULL;
	s->qcount = 0;
}

void ws_broadcast(struct front *f, struct wsmsg *m)
{
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		if (m->family >= 0 && !(s->mask & (1u << m->family)))
			continue;
		if (s->subject[0] && m->subject[0] && strcmp(s->subject, m->subject) != 0)
			continue;
		enqueue(f, s, m);
	}
}

void ws_connection_changed(struct front *f, bool up)
{
	if (f->events_up == up)
		return;
	f->events_up = up;
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		struct wsmsg *m = connection_notice(f, s->stream);
		if (m) {
			enqueue(f, s, m);
			wsmsg_unref(m);
		}
	}
}
