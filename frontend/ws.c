/*
 * frontend/ws.c — WebSocket event streams.
 *
 * Paths: /api/v1/ws/storage/<family> (one family) and /api/v1/ws/storage
 * (every family). Live event messages carry "seq" (per family, gap-free
 * within an epoch) and "epoch" (stratad's run).
 *
 * Control messages (JSON objects; any subset of the keys, at any time):
 *   {"subscribe":["lsm","tiers"],            families (within the stream)
 *    "filter":{"tree_name":"orders",         one tree/table (or table_name)
 *              "variants":["PoolStats"]},    only these variants
 *    "stats_interval_ms":5000,               downsample *Stats events
 *    "resume_from":{"lsm":41,"io":7} | 41,   replay what came after these seqs
 *    "epoch":E,                              ... of this epoch
 *    "max_rate":N}                           at most N events/s (0: the frontend's cap)
 * answered with {"message_type":"subscribed","data":{...settings}}; a bad
 * one gets {"message_type":"error","data":{"code","message"}} and the
 * connection stays. Resume also works at connect time:
 * ?resume_from=SEQ&epoch=E (or resume_from=lsm:41,io:7 on the all-families
 * stream).
 *
 * Delivery (service thread): events reach ws_bus_event in bus order. Per
 * family the hub remembers the last seq delivered; a jump means the bus or
 * the bridge lost events: the hub asks stratad's replay ring for them
 * (events.replay) and holds later events until the answer, then delivers
 * the missing ones and the held ones in order. Only events that are gone
 * from the ring become a {"message_type":"gap","data":{"family","from_seq",
 * "to_seq","epoch","reason"}} message to that family's clients.
 *
 * Resume: the client's last seq per family is where its replay starts;
 * live events of that family are held for the client while the replay is
 * in flight, then deduplicated by seq. Events no longer in the ring, or an
 * epoch that changed (stratad restarted), give one gap message first.
 *
 * Slow clients: each client has a queue of shared, already-rendered
 * messages (encoded once per event for everyone) bounded by count
 * (--ws-queue) and bytes (--ws-queue-bytes). When full, the oldest goes and
 * the client is sent {"message_type":"lagged","data":{"dropped":N}} before
 * its next message. A client that keeps dropping for --ws-slow-close-ms is
 * closed with 1008 and a reason. A stalled client costs its own bounded
 * queue and nothing else: nobody waits for it.
 *
 * Rate cap: live events beyond min(--ws-max-rate, the client's max_rate)
 * per second (a token bucket holding one second's worth) are not queued;
 * the client gets {"message_type":"rate_limited","data":{"dropped":N,
 * "max_rate":R}} before its next message. Every seq is either delivered or
 * counted there (or in lagged / gap).
 *
 * Session states (service thread only):
 *   (filter)     path not a stream           -> rejected
 *   (filter)     no/bad token or ticket      -> rejected, 401 JSON (ws_authorise)
 *   (filter)     ok                      -> OPEN       listed, hello queued
 *   OPEN         resume asked            -> RESUMING   replay call in flight
 *   RESUMING     replay answered         -> OPEN       replayed + held events queued
 *   OPEN         event for its filters   -> OPEN       queued (oldest dropped if full)
 *   any          dropping too long/flood -> CLOSING    queue freed, close on writable
 *   any          closed                  -> (gone)     unlisted, queue released
 */
#include "frontend/ws.h"

#include <errno.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "frontend/auth.h"
#include "frontend/bridge.h"
#include "frontend/ctl.h"
#include "frontend/fanout.h"
#include "frontend/ticket.h"
#include "proto/event_codec.h"
#include "strata/error.h"
#include "proto/json_text.h"

#define WS_PREFIX "/api/v1/ws/storage"
#define ALL_FAMILIES ((1u << STRATA_FAM_COUNT) - 1)
#define ALL_VARIANTS (~(uint64_t)0)
#define REPLAY_LIMIT 10000
#define TOPIC_HELD_MAX 65536u
#define LAT_BUCKETS 40
#define REPLAY_TIMEOUT_MS 3000
#define WS_BATCH_MAX (64u * 1024)

struct ws_topic {
	uint64_t epoch, last_seq;  /* last delivered */
	bool repairing;
	uint64_t repair_gen;
	struct wsmsg **held;       /* live events waiting for the repair, in order */
	unsigned nheld, capheld;
	uint64_t received, gaps_repaired, events_repaired, gaps_reported, seqs_lost;
	uint64_t duplicates, epoch_changes;
};

/* A client of ws_flush's round: its batch is at arena + off, its events'
 * emission times are ts[ts_lo..ts_hi) of the hub. */
struct round_client {
	struct ws_session *s;
	size_t off;
	size_t ts_lo, ts_hi;
};

struct ws_hub {
	struct ws_topic topic[STRATA_FAM_COUNT];
	uint64_t next_id;
	uint64_t sent, dropped, lagged_notices, lagged_clients, closed_slow, closed_flood;
	uint64_t rate_limited, bad_messages, resumes, resume_gaps, replayed_to_clients;
	uint64_t rate_capped;        /* events dropped by the per-client rate cap */
	uint64_t lat[LAT_BUCKETS], lat_count, lat_max_us;
	uint64_t direct_writes;      /* batches written from ws_flush (no poll round) */
	uint64_t parallel_rounds;    /* ws_flush rounds sent by the fan-out threads */
	uint64_t short_writes;       /* batches a full socket took part of (lws sends the rest) */
	bool deferring;              /* between ws_defer and ws_flush */
	unsigned char wbuf[LWS_PRE + WS_BATCH_MAX]; /* one batch being written */
	/* ws_flush's round: every client's batch framed into one arena, then
	 * sent by the fan-out threads (fanout.h) */
	struct fanout *fanout;
	unsigned char *arena;
	size_t arena_cap;
	struct fanout_job *jobs;
	struct round_client *job_s; /* jobs[i] is job_s[i].s's batch */
	size_t jobs_cap;
	int64_t *ts;                /* emission times of the round's events */
	size_t nts, ts_cap;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ws_hub_create(struct front *f)
{
	f->hub = calloc(1, sizeof(*f->hub));
	if (!f->hub)
		return STRATA_ENOMEM;
	unsigned threads = f->opt.ws_send_threads ? f->opt.ws_send_threads : 1;
	int rv = fanout_create(&f->hub->fanout, threads);
	if (rv != 0) {
		free(f->hub);
		f->hub = NULL;
	}
	return rv;
}

void ws_hub_destroy(struct front *f)
{
	if (!f->hub)
		return;
	for (int i = 0; i < STRATA_FAM_COUNT; i++) {
		struct ws_topic *t = &f->hub->topic[i];
		for (unsigned k = 0; k < t->nheld; k++)
			wsmsg_unref(t->held[k]);
		free(t->held);
	}
	fanout_destroy(f->hub->fanout);
	free(f->hub->arena);
	free(f->hub->jobs);
	free(f->hub->job_s);
	free(f->hub->ts);
	free(f->hub);
	f->hub = NULL;
}

/* ---- rendering ---- */

/* The object an event is about (its tree_name or table_name). */
static void subject_of(const struct strata_event *ev, char *out, size_t n)
{
	size_t cnt = 0;
	const struct ev_field *fl = ev_fields((enum strata_ev_variant)ev->variant, &cnt);
	out[0] = '\0';
	for (size_t i = 0; fl && i < cnt; i++) {
		if (fl[i].type == STRATA_FT_STR &&
		    (strcmp(fl[i].name, "tree_name") == 0 || strcmp(fl[i].name, "table_name") == 0)) {
			snprintf(out, n, "%s", (const char *)&ev->u + fl[i].offset);
			return;
		}
	}
}

struct wsmsg *ws_render_event(const struct strata_event *ev, const struct ev_live *live)
{
	char *text = ev_to_json_text(ev, live);
	if (!text)
		return NULL;
	struct wsmsg *m = wsmsg_new(text, strlen(text), ev->family);
	free(text);
	if (!m)
		return NULL;
	m->variant = ev->variant;
	m->seq = live ? live->seq : 0;
	m->epoch = live ? live->epoch : 0;
	m->ts_us = ev->ts_us;
	subject_of(ev, m->subject, sizeof(m->subject));
	return m;
}

static struct wsmsg *notice(const char *type, json_t *data)
{
	if (!data)
		return NULL;
	json_t *j = json_pack("{s:s, s:o, s:I}", "message_type", type, "data", data, "timestamp",
			      (json_int_t)time(NULL));
	char *text = j ? proto_json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return NULL;
	struct wsmsg *m = wsmsg_new(text, strlen(text), -1);
	free(text);
	return m;
}

/* ---- paths and auth ---- */

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

/* Writes the refusal of an upgrade (lws has no HTTP answer for one: write
 * it raw, as frontend/origin.c does for a refused Origin); lws then drops
 * the connection. */
static void refuse_upgrade(struct lws *wsi, int err, const char *msg)
{
	json_t *b = json_pack("{s:{s:s, s:s}}", "error", "code", strata_err_name(err), "message",
			      msg);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	int status = strata_err_http_status(err);
	unsigned char buf[LWS_PRE + 1024];
	int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
			 "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
			 "cache-control: no-store\r\ncontent-length: %zu\r\nconnection: close\r\n"
			 "\r\n%s\n",
			 status, status == 401 ? "Unauthorized" : "Service Unavailable",
			 body ? strlen(body) + 1 : 1, body ? body : "");
	free(body);
	if (n > 0 && (size_t)n < sizeof(buf) - LWS_PRE &&
	    lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
		lwsl_notice("ws: could not write the refusal of a WebSocket upgrade\n");
}

/*
 * Who may open a stream (a token file is loaded; any role reads):
 *   Authorization: Bearer TOKEN    (clients that can set headers)
 *   ?ticket=T                      (browsers: from POST /api/v1/ws/ticket)
 *   ?token=TOKEN                   (kept for old clients; puts the token in
 *                                   URLs and so in logs: discouraged)
 * 0, or the error to refuse with and msg saying why.
 */
static int ws_authorise(struct front *f, struct lws *wsi, char *msg, size_t msglen)
{
	if (!f->auth)
		return 0;
	char hdr[600] = "";
	enum role role;
	bool had_header = false;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		had_header = true;
		if (auth_check(f->auth, hdr, &role) == 0 && role >= ROLE_READ)
			return 0;
	}
	char frag[512];
	for (int i = 0; i < 32; i++) {
		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
			break;
		if (strncmp(frag, "ticket=", 7) == 0) {
			enum ticket_verdict v =
				tickets_verify(f->tickets, frag + 7, (int64_t)time(NULL), &role);
			if (v == TICKET_OK)
				return 0;
			snprintf(msg, msglen, "%s", ticket_verdict_message(v));
			return v == TICKET_FULL ? STRATA_EUNAVAILABLE : STRATA_EUNAUTHORIZED;
		}
		if (strncmp(frag, "token=", 6) == 0) {
			snprintf(hdr, sizeof(hdr), "Bearer %s", frag + 6);
			if (auth_check(f->auth, hdr, &role) == 0 && role >= ROLE_READ)
				return 0;
			snprintf(msg, msglen, "the token in ?token= is not valid");
			return STRATA_EUNAUTHORIZED;
		}
	}
	snprintf(msg, msglen, had_header ? "the Authorization header's token is not valid"
			      : "a stream needs 'Authorization: Bearer TOKEN' or ?ticket= "
				"(from POST /api/v1/ws/ticket)");
	return STRATA_EUNAUTHORIZED;
}

int ws_on_filter(struct front *f, struct lws *wsi)
{
	char path[256];
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		return 1;
	if (stream_of_path(path) < 0)
		return 1;
	char msg[160];
	int err = ws_authorise(f, wsi, msg, sizeof(msg));
	if (err == 0)
		return 0;
	refuse_upgrade(wsi, err, msg);
	return 1;
}

/* ---- the per-client queue ---- */

static void release_queue(struct ws_session *s)
{
	for (unsigned i = 0; i < s->qcount; i++)
		wsmsg_unref(s->q[(s->qhead + i) % s->qcap]);
	s->qcount = 0;
	s->qbytes = 0;
	for (unsigned i = 0; i < s->nheld; i++)
		wsmsg_unref(s->held[i]);
	s->nheld = 0;
}

/* Closes s at its next writable callback (or kills it if it never comes:
 * a stalled client does not read its close frame either). */
static void start_close(struct front *f, struct ws_session *s, int code, const char *reason)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	release_queue(s);
	(void)f;
	lws_callback_on_writable(s->wsi);
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

static void check_slow(struct front *f, struct ws_session *s, int64_t now)
{
	if (!s->dropping_since_ms || s->closing)
		return;
	if (now - s->dropping_since_ms < (int64_t)f->opt.ws_slow_close_ms)
		return;
	char reason[96];
	snprintf(reason, sizeof(reason), "client too slow: %llu messages dropped in %lld ms",
		 (unsigned long long)s->dropped_total, (long long)(now - s->dropping_since_ms));
	f->hub->closed_slow++;
	start_close(f, s, LWS_CLOSE_STATUS_POLICY_VIOLATION, reason);
}

/* Queues m for s (a reference is taken), dropping the oldest if full. */
static void enqueue(struct front *f, struct ws_session *s, struct wsmsg *m)
{
	if (s->closing || !s->q)
		return;
	bool dropped = false;
	if (s->qcount == s->qcap && s->qcap < f->opt.ws_queue_max) {
		/* Queues start small (idle connections are cheap) and double. */
		unsigned cap = s->qcap * 2 < f->opt.ws_queue_max ? s->qcap * 2 : f->opt.ws_queue_max;
		struct wsmsg **nq = malloc(cap * sizeof(*nq));
		if (nq) {
			for (unsigned i = 0; i < s->qcount; i++)
				nq[i] = s->q[(s->qhead + i) % s->qcap];
			free(s->q);
			s->q = nq;
			s->qhead = 0;
			s->qcap = cap;
		}
	}
	while (s->qcount > 0 &&
	       (s->qcount == s->qcap || s->qbytes + m->len > f->opt.ws_queue_bytes)) {
		struct wsmsg *old = s->q[s->qhead];
		s->q[s->qhead] = NULL;
		s->qbytes -= old->len;
		wsmsg_unref(old);
		s->qhead = (s->qhead + 1) % s->qcap;
		s->qcount--;
		s->lagged++;
		s->dropped_total++;
		f->hub->dropped++;
		dropped = true;
	}
	if (dropped && !s->dropping_since_ms) {
		s->dropping_since_ms = mono_ms();
		f->hub->lagged_clients++;
	}
	m->refs++;
	s->q[(s->qhead + s->qcount) % s->qcap] = m;
	s->qcount++;
	s->qbytes += m->len;
	if (!f->hub->deferring)
		lws_callback_on_writable(s->wsi); /* else ws_flush writes it */
	if (dropped)
		check_slow(f, s, mono_ms());
}

static void enqueue_new(struct front *f, struct ws_session *s, struct wsmsg *m)
{
	if (m) {
		enqueue(f, s, m);
		wsmsg_unref(m);
	}
}

static void send_error(struct front *f, struct ws_session *s, const char *code,
		       const char *message)
{
	enqueue_new(f, s, notice("error", json_pack("{s:s, s:s}", "code", code, "message",
						     message)));
}

static json_t *gap_data(int fam, uint64_t from, uint64_t to, uint64_t epoch, const char *reason)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:s}", "family", ev_family_path(fam), "from_seq",
			 (json_int_t)from, "to_seq", (json_int_t)to, "epoch", (json_int_t)epoch,
			 "reason", reason);
}

static bool is_stats_variant(int v)
{
	return v == STRATA_EV_PoolStats || v == STRATA_EV_IoStats || v == STRATA_EV_TierStats;
}

/* Whether s wants event m by its filters (family, variant, subject). */
static bool wants(const struct ws_session *s, const struct wsmsg *m)
{
	if (!(s->mask & (1u << m->family)))
		return false;
	if (m->variant >= 0 && !(s->variants & ((uint64_t)1 << m->variant)))
		return false;
	if (s->subject[0] && m->subject[0] && strcmp(s->subject, m->subject) != 0)
		return false;
	return true;
}

/* The client's event rate cap (0: none). */
static unsigned max_rate_of(const struct front *f, const struct ws_session *s)
{
	unsigned cap = f->opt.ws_max_rate;
	if (s->max_rate && (!cap || s->max_rate < cap))
		return s->max_rate;
	return cap;
}

/* Token bucket for outbound events: true if one more may go now. */
static bool out_rate_ok(struct front *f, struct ws_session *s)
{
	unsigned rate = max_rate_of(f, s);
	if (!rate)
		return true;
	int64_t now = wall_us();
	s->out_tokens += (double)(now - s->out_us) * rate / 1e6;
	if (s->out_tokens > rate)
		s->out_tokens = rate; /* one second's burst */
	s->out_us = now;
	if (s->out_tokens >= 1.0) {
		s->out_tokens -= 1.0;
		return true;
	}
	return false;
}

/* Queues an event for s unless s has it already (seq dedup), a stats
 * downsampling skips it or its rate cap drops it. */
static void offer(struct front *f, struct ws_session *s, struct wsmsg *m)
{
	int fam = m->family;
	if (m->seq) {
		if (s->seen_epoch[fam] == m->epoch && m->seq <= s->seen_seq[fam])
			return;
		s->seen_epoch[fam] = m->epoch;
		s->seen_seq[fam] = m->seq;
	}
	if (s->stats_interval_ms && is_stats_variant(m->variant) && !m->replayed) {
		int64_t last = s->stats_last_us[m->variant];
		/* half a base tick of slack so 1000 ms of 1000-ms ticks is not 2000 */
		if (last && m->ts_us - last + 50000 < (int64_t)s->stats_interval_ms * 1000)
			return;
		s->stats_last_us[m->variant] = m->ts_us;
	}
	if (!m->replayed && !out_rate_ok(f, s)) {
		s->rate_dropped++;
		f->hub->rate_capped++;
		if (!f->hub->deferring)
			lws_callback_on_writable(s->wsi); /* for the notice */
		return;
	}
	if (m->replayed)
		f->hub->replayed_to_clients++;
	if (s->rate_dropped) {
		/* the drops came before m: say so in front of it */
		enqueue_new(f, s, notice("rate_limited", json_pack("{s:I, s:i}", "dropped",
				(json_int_t)s->rate_dropped, "max_rate", (int)max_rate_of(f, s))));
		s->rate_dropped = 0;
	}
	enqueue(f, s, m);
}

static void hold(struct front *f, struct ws_session *s, struct wsmsg *m)
{
	if (s->nheld == s->capheld) {
		unsigned cap = s->capheld ? s->capheld * 2 : 64;
		if (cap > f->opt.ws_queue_max)
			cap = f->opt.ws_queue_max;
		if (s->nheld == cap) {
			/* bounded like the queue: the oldest held goes */
			wsmsg_unref(s->held[0]);
			memmove(s->held, s->held + 1, (s->nheld - 1) * sizeof(*s->held));
			s->nheld--;
			s->lagged++;
			s->dropped_total++;
			f->hub->dropped++;
		} else {
			struct wsmsg **h = realloc(s->held, cap * sizeof(*h));
			if (!h) {
				s->lagged++;
				f->hub->dropped++;
				return;
			}
			s->held = h;
			s->capheld = cap;
		}
	}
	m->refs++;
	s->held[s->nheld++] = m;
}

/* Hands a live (or repaired) event to every client that wants it. */
static void deliver(struct front *f, struct wsmsg *m)
{
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		if (s->closing || !wants(s, m))
			continue;
		if (s->resuming & (1u << m->family))
			hold(f, s, m);
		else
			offer(f, s, m);
	}
}

/* Tells the clients of family fam about lost seqs: those that do not have
 * everything through to already (a resumed client's replay may have
 * brought it). A client whose replay is in flight is told when it ends. */
static void report_gap(struct front *f, int fam, uint64_t from, uint64_t to, uint64_t epoch,
		       const char *reason)
{
	struct ws_topic *t = &f->hub->topic[fam];
	t->gaps_reported++;
	t->seqs_lost += to >= from ? to - from + 1 : 0;
	struct wsmsg *m = notice("gap", gap_data(fam, from, to, epoch, reason));
	if (!m)
		return;
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		if (s->closing || !(s->mask & (1u << fam)))
			continue;
		if (s->seen_epoch[fam] == epoch && s->seen_seq[fam] >= to)
			continue;
		if (s->resuming & (1u << fam)) {
			if (!s->gap_to[fam] || s->gap_epoch[fam] != epoch) {
				s->gap_from[fam] = from;
				s->gap_epoch[fam] = epoch;
			}
			s->gap_to[fam] = to;
			s->gap_reason[fam] = reason;
			continue;
		}
		enqueue(f, s, m);
	}
	wsmsg_unref(m);
}

/* The bus gap held for s during its replay (ws_session.gap_*), told now for
 * the seqs the replay did not bring. */
static void tell_held_gap(struct front *f, struct ws_session *s, int fam)
{
	uint64_t from = s->gap_from[fam], to = s->gap_to[fam], epoch = s->gap_epoch[fam];
	s->gap_to[fam] = 0;
	if (!to || s->seen_epoch[fam] != epoch || s->seen_seq[fam] >= to)
		return;
	if (from <= s->seen_seq[fam])
		from = s->seen_seq[fam] + 1;
	enqueue_new(f, s, notice("gap", gap_data(fam, from, to, epoch, s->gap_reason[fam])));
}

/* ---- bus events, gap repair ---- */

struct repair_arg {
	int fam;
	uint64_t gen;
};

static void topic_accept(struct front *f, struct wsmsg *m);
static void on_repair(struct front *f, void *arg, int err, const json_t *result,
		      const char *message);

static void start_repair(struct front *f, int fam, uint64_t missing)
{
	struct ws_topic *t = &f->hub->topic[fam];
	struct repair_arg *ra = malloc(sizeof(*ra));
	if (!ra)
		return;
	ra->fam = fam;
	ra->gen = ++t->repair_gen;
	uint64_t limit = missing < REPLAY_LIMIT ? missing : REPLAY_LIMIT;
	int rv = ctl_call(f, "events.replay",
			  json_pack("{s:s, s:I, s:I, s:I}", "family", ev_family_path(fam), "after",
				    (json_int_t)t->last_seq, "epoch", (json_int_t)t->epoch, "limit",
				    (json_int_t)limit),
			  REPLAY_TIMEOUT_MS, on_repair, ra);
	if (rv != 0) {
		free(ra);
		return;
	}
	t->repairing = true;
}

/* Ends a repair: what is still missing before the first held event is
 * reported, then the held events go through again in order. */
static void finish_repair(struct front *f, int fam, const char *reason)
{
	struct ws_topic *t = &f->hub->topic[fam];
	t->repairing = false;
	struct wsmsg **held = t->held;
	unsigned n = t->nheld;
	t->held = NULL;
	t->nheld = t->capheld = 0;
	if (n && held[0]->epoch == t->epoch && held[0]->seq > t->last_seq + 1) {
		report_gap(f, fam, t->last_seq + 1, held[0]->seq - 1, t->epoch, reason);
		t->last_seq = held[0]->seq - 1;
	}
	for (unsigned i = 0; i < n; i++) {
		topic_accept(f, held[i]);
		wsmsg_unref(held[i]);
	}
	free(held);
}

static struct wsmsg *render_json_event(const json_t *j, bool replayed)
{
	struct strata_event ev;
	struct ev_live live = {0};
	struct proto_err perr = {{0}};
	if (ev_from_json(j, &ev, &live, &perr) != 0)
		return NULL;
	struct wsmsg *m = ws_render_event(&ev, &live);
	if (m)
		m->replayed = replayed;
	return m;
}

static void on_repair(struct front *f, void *arg, int err, const json_t *result,
		      const char *message)
{
	struct repair_arg *ra = arg;
	int fam = ra->fam;
	struct ws_topic *t = &f->hub->topic[fam];
	bool stale = ra->gen != t->repair_gen || !t->repairing;
	free(ra);
	if (stale)
		return;
	(void)message;
	if (err || !result) {
		finish_repair(f, fam, "unavailable");
		return;
	}
	uint64_t first_held = t->nheld ? t->held[0]->seq : UINT64_MAX;
	json_t *evs = json_object_get(result, "events");
	size_t i;
	json_t *e;
	uint64_t got = 0;
	json_array_foreach(evs, i, e) {
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
		uint64_t epoch = (uint64_t)json_integer_value(json_object_get(e, "epoch"));
		if (epoch != t->epoch || seq <= t->last_seq || seq >= first_held)
			continue;
		if (seq != t->last_seq + 1) {
			report_gap(f, fam, t->last_seq + 1, seq - 1, t->epoch, "gone");
		}
		struct wsmsg *m = render_json_event(e, true);
		t->last_seq = seq;
		if (m) {
			/* repaired events are live for the clients: latency is not measured */
			deliver(f, m);
			wsmsg_unref(m);
		}
		got++;
	}
	if (got) {
		t->gaps_repaired++;
		t->events_repaired += got;
	}
	finish_repair(f, fam, "gone");
}

/* One event of the topic in bus order (a reference is taken while held). */
static void topic_accept(struct front *f, struct wsmsg *m)
{
	struct ws_topic *t = &f->hub->topic[m->family];
	if (t->repairing) {
		if (t->nheld == TOPIC_HELD_MAX) {
			/* too far behind: give up on this repair */
			t->repair_gen++;
			finish_repair(f, m->family, "gone");
			topic_accept(f, m);
			return;
		}
		if (t->nheld == t->capheld) {
			unsigned cap = t->capheld ? t->capheld * 2 : 256;
			struct wsmsg **h = realloc(t->held, cap * sizeof(*h));
			if (!h)
				return; /* lost: the next event shows the gap */
			t->held = h;
			t->capheld = cap;
		}
		m->refs++;
		t->held[t->nheld++] = m;
		return;
	}
	if (t->epoch != m->epoch) {
		if (t->epoch != 0) {
			/* stratad restarted: a new seq space */
			t->epoch_changes++;
			struct wsmsg *n = notice("epoch", json_pack("{s:s, s:I, s:I}", "family",
					ev_family_path(m->family), "old_epoch", (json_int_t)t->epoch,
					"epoch", (json_int_t)m->epoch));
			for (struct ws_session *s = f->ws_clients; n && s; s = s->next)
				if (!s->closing && (s->mask & (1u << m->family)))
					enqueue(f, s, n);
			wsmsg_unref(n);
			t->last_seq = 0;
		} else {
			t->last_seq = m->seq ? m->seq - 1 : 0; /* first sight: start here */
		}
		t->epoch = m->epoch;
	}
	if (m->seq && m->seq <= t->last_seq) {
		t->duplicates++;
		return;
	}
	if (m->seq > t->last_seq + 1) {
		start_repair(f, m->family, m->seq - t->last_seq - 1);
		if (t->repairing) {
			topic_accept(f, m); /* held */
			return;
		}
		report_gap(f, m->family, t->last_seq + 1, m->seq - 1, t->epoch, "unavailable");
	}
	t->last_seq = m->seq;
	deliver(f, m);
}

void ws_bus_event(struct front *f, struct wsmsg *m)
{
	if (m->family < 0 || m->family >= STRATA_FAM_COUNT)
		return;
	f->hub->topic[m->family].received++;
	topic_accept(f, m);
}

/* ---- resume ---- */

struct resume_arg {
	uint64_t session;
	int fam;
	uint64_t after, epoch;
};

static struct ws_session *find_session(struct front *f, uint64_t id)
{
	for (struct ws_session *s = f->ws_clients; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void start_resume(struct front *f, struct ws_session *s, int fam, uint64_t after,
			 uint64_t epoch);

/* The replay for one family is done: held live events follow, deduplicated. */
static void end_resume(struct front *f, struct ws_session *s, int fam)
{
	s->resuming &= ~(1u << fam);
	unsigned keep = 0;
	for (unsigned i = 0; i < s->nheld; i++) {
		struct wsmsg *m = s->held[i];
		if (m->family == fam) {
			if (s->gap_to[fam] && (m->epoch != s->gap_epoch[fam] || m->seq >= s->gap_from[fam]))
				tell_held_gap(f, s, fam); /* in its place among the held events */
			offer(f, s, m);
			wsmsg_unref(m);
		} else {
			s->held[keep++] = m;
		}
	}
	s->nheld = keep;
	tell_held_gap(f, s, fam); /* after every held event: still untold */
}

static void on_resume(struct front *f, void *arg, int err, const json_t *result,
		      const char *message)
{
	struct resume_arg ra = *(struct resume_arg *)arg;
	free(arg);
	struct ws_session *s = find_session(f, ra.session);
	if (!s || s->closing)
		return;
	int fam = ra.fam;
	if (err || !result) {
		f->hub->resume_gaps++;
		char why[160];
		snprintf(why, sizeof(why), "unavailable: %s",
			 message ? message : strata_strerror(err));
		enqueue_new(f, s, notice("gap", gap_data(fam, ra.after + 1, 0, ra.epoch, why)));
		end_resume(f, s, fam);
		return;
	}
	uint64_t epoch = (uint64_t)json_integer_value(json_object_get(result, "epoch"));
	uint64_t last = (uint64_t)json_integer_value(json_object_get(result, "last_seq"));
	json_t *evs = json_object_get(result, "events");
	bool epoch_changed = json_is_true(json_object_get(result, "epoch_changed"));
	bool gap = json_is_true(json_object_get(result, "gap"));
	uint64_t after = ra.after;
	if (epoch_changed) {
		f->hub->resume_gaps++;
		enqueue_new(f, s, notice("gap", json_pack("{s:s, s:I, s:I, s:s}", "family",
				ev_family_path(fam), "old_epoch", (json_int_t)ra.epoch, "epoch",
				(json_int_t)epoch, "reason", "epoch_changed")));
		after = 0;
		s->seen_epoch[fam] = epoch;
		s->seen_seq[fam] = 0;
	} else if (gap) {
		f->hub->resume_gaps++;
		json_t *first = json_array_get(evs, 0);
		uint64_t first_seq = first ? (uint64_t)json_integer_value(json_object_get(first, "seq"))
					   : last + 1;
		enqueue_new(f, s, notice("gap", gap_data(fam, after + 1, first_seq - 1, epoch,
							  "gone")));
	}
	size_t i;
	json_t *e;
	uint64_t upto = after;
	json_array_foreach(evs, i, e) {
		struct wsmsg *m = render_json_event(e, true);
		if (!m)
			continue;
		upto = m->seq;
		if (wants(s, m))
			offer(f, s, m);
		wsmsg_unref(m);
	}
	/* Everything up to upto is the client's now (filtered or not). */
	if (s->seen_epoch[fam] == epoch && s->seen_seq[fam] < upto)
		s->seen_seq[fam] = upto;
	if (json_array_size(evs) >= REPLAY_LIMIT && upto < last) {
		start_resume(f, s, fam, upto, epoch); /* the next page */
		return;
	}
	end_resume(f, s, fam);
}

static void start_resume(struct front *f, struct ws_session *s, int fam, uint64_t after,
			 uint64_t epoch)
{
	struct resume_arg *ra = malloc(sizeof(*ra));
	if (!ra) {
		send_error(f, s, "internal", "out of memory");
		return;
	}
	*ra = (struct resume_arg){.session = s->id, .fam = fam, .after = after, .epoch = epoch};
	s->resuming |= 1u << fam;
	s->seen_epoch[fam] = epoch;
	s->seen_seq[fam] = after;
	int rv = ctl_call(f, "events.replay",
			  json_pack("{s:s, s:I, s:I, s:I}", "family", ev_family_path(fam), "after",
				    (json_int_t)after, "epoch", (json_int_t)epoch, "limit",
				    (json_int_t)REPLAY_LIMIT),
			  REPLAY_TIMEOUT_MS, on_resume, ra);
	if (rv != 0) {
		free(ra);
		f->hub->resume_gaps++;
		enqueue_new(f, s, notice("gap", gap_data(fam, after + 1, 0, epoch,
							  "unavailable: stratad is unreachable")));
		end_resume(f, s, fam);
	}
}

/* ---- control messages ---- */

static json_t *settings_json(const struct front *f, const struct ws_session *s)
{
	json_t *fams = json_array(), *vars = NULL;
	for (int fam = 0; fams && fam < STRATA_FAM_COUNT; fam++)
		if (s->mask & (1u << fam))
			json_array_append_new(fams, json_string(ev_family_path(fam)));
	if (s->variants != ALL_VARIANTS) {
		vars = json_array();
		for (int v = 0; vars && v < STRATA_EV_COUNT; v++)
			if (s->variants & ((uint64_t)1 << v))
				json_array_append_new(vars, json_string(ev_variant_name(v)));
	}
	json_t *d = json_pack("{s:o, s:I, s:I}", "families", fams, "stats_interval_ms",
			      (json_int_t)s->stats_interval_ms, "max_rate",
			      (json_int_t)max_rate_of(f, s));
	json_t *filter = json_object();
	if (s->subject[0])
		json_object_set_new(filter, "subject", json_string(s->subject));
	if (vars)
		json_object_set_new(filter, "variants", vars);
	json_object_set_new(d, "filter", filter);
	return d;
}

/* Parses a seq from a JSON integer >= 0. */
static bool json_seq(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* Applies one control message; on error sends it and changes nothing. */
static void apply_control(struct front *f, struct ws_session *s, const json_t *j)
{
	char msg[200];
	unsigned mask = s->mask;
	uint64_t variants = s->variants;
	char subject[64];
	snprintf(subject, sizeof(subject), "%s", s->subject);
	unsigned interval = s->stats_interval_ms;
	unsigned max_rate = s->max_rate;
	uint64_t resume_seq[STRATA_FAM_COUNT] = {0};
	unsigned resume_mask = 0;
	uint64_t epoch = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)j, k, v) {
		if (strcmp(k, "subscribe") == 0) {
			if (!json_is_array(v)) {
				send_error(f, s, "bad_request",
					   "subscribe: expected an array of family names");
				return;
			}
			mask = 0;
			size_t i;
			json_t *x;
			json_array_foreach(v, i, x) {
				int fam = json_is_string(x) ? ev_family_from_path(json_string_value(x)) : -1;
				if (fam < 0)
					fam = json_is_string(x) ? ev_family_from_topic(json_string_value(x), strlen(json_string_value(x))) : -1;
				if (fam < 0) {
					snprintf(msg, sizeof(msg),
						 "subscribe[%zu]: unknown family; expected one of buffer-pool, lsm, io, tiers, pages, columnar",
						 i);
					send_error(f, s, "bad_request", msg);
					return;
				}
				mask |= 1u << fam;
			}
			/* A single-family stream stays within its family. */
			if (s->stream != STRATA_FAM_COUNT)
				mask &= 1u << s->stream;
		} else if (strcmp(k, "filter") == 0) {
			if (!json_is_object(v)) {
				send_error(f, s, "bad_request",
					   "filter: expected an object such as {\"tree_name\":\"orders\"}");
				return;
			}
			subject[0] = '\0';
			variants = ALL_VARIANTS;
			const char *fk;
			json_t *fv;
			json_object_foreach(v, fk, fv) {
				if (!strcmp(fk, "tree_name") || !strcmp(fk, "table_name")) {
					if (!json_is_string(fv) || json_string_length(fv) == 0 ||
					    json_string_length(fv) >= sizeof(subject)) {
						snprintf(msg, sizeof(msg),
							 "filter.%s: expected a name of 1..63 characters", fk);
						send_error(f, s, "bad_request", msg);
						return;
					}
					snprintf(subject, sizeof(subject), "%s", json_string_value(fv));
				} else if (!strcmp(fk, "variants")) {
					if (!json_is_array(fv)) {
						send_error(f, s, "bad_request",
							   "filter.variants: expected an array of variant names");
						return;
					}
					variants = 0;
					size_t i;
					json_t *x;
					json_array_foreach(fv, i, x) {
						int vv = -1;
						for (int c = 0; json_is_string(x) && c < STRATA_EV_COUNT; c++)
							if (!strcasecmp(ev_variant_name(c), json_string_value(x)))
								vv = c;
						if (vv < 0) {
							snprintf(msg, sizeof(msg),
								 "filter.variants[%zu]: unknown event variant", i);
							send_error(f, s, "bad_request", msg);
							return;
						}
						variants |= (uint64_t)1 << vv;
					}
				} else {
					snprintf(msg, sizeof(msg),
						 "filter.%.40s: unknown; expected tree_name, table_name or variants",
						 fk);
					send_error(f, s, "bad_request", msg);
					return;
				}
			}
		} else if (strcmp(k, "stats_interval_ms") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 3600000) {
				send_error(f, s, "bad_request",
					   "stats_interval_ms: expected an integer 0..3600000");
				return;
			}
			interval = (unsigned)json_integer_value(v);
		} else if (strcmp(k, "max_rate") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 10000000) {
				send_error(f, s, "bad_request",
					   "max_rate: expected events per second 0..10000000 (0: the frontend's cap)");
				return;
			}
			max_rate = (unsigned)json_integer_value(v);
		} else if (strcmp(k, "resume_from") == 0) {
			if (json_is_object(v)) {
				const char *rk;
				json_t *rv;
				json_object_foreach(v, rk, rv) {
					int fam = ev_family_from_path(rk);
					uint64_t seq;
					if (fam < 0 || !json_seq(rv, &seq)) {
						snprintf(msg, sizeof(msg),
							 "resume_from.%.40s: expected a family name mapped to a seq >= 0",
							 rk);
						send_error(f, s, "bad_request", msg);
						return;
					}
					resume_seq[fam] = seq;
					resume_mask |= 1u << fam;
				}
			} else {
				uint64_t seq;
				if (!json_seq(v, &seq)) {
					send_error(f, s, "bad_request",
						   "resume_from: expected a seq >= 0 or {\"family\": seq, ...}");
					return;
				}
				for (int fam = 0; fam < STRATA_FAM_COUNT; fam++) {
					resume_seq[fam] = seq;
					resume_mask |= 1u << fam;
				}
			}
		} else if (strcmp(k, "epoch") == 0) {
			if (!json_seq(v, &epoch)) {
				send_error(f, s, "bad_request", "epoch: expected an integer >= 0");
				return;
			}
		} else {
			snprintf(msg, sizeof(msg),
				 "unknown control key '%.40s': expected subscribe, filter, stats_interval_ms, max_rate, resume_from, epoch",
				 k);
			send_error(f, s, "bad_request", msg);
			return;
		}
	}
	if (resume_mask && !json_object_get(j, "epoch")) {
		send_error(f, s, "bad_request", "resume_from needs the epoch its seqs belong to");
		return;
	}
	s->mask = mask;
	s->variants = variants;
	snprintf(s->subject, sizeof(s->subject), "%s", subject);
	s->stats_interval_ms = interval;
	if (max_rate != s->max_rate) {
		s->max_rate = max_rate;
		s->out_tokens = max_rate_of(f, s); /* a new cap starts with a full second */
		s->out_us = wall_us();
	}
	enqueue_new(f, s, notice("subscribed", settings_json(f, s)));
	for (int fam = 0; fam < STRATA_FAM_COUNT; fam++)
		if ((resume_mask & (1u << fam)) && (s->mask & (1u << fam)) &&
		    !(s->resuming & (1u << fam))) {
			f->hub->resumes++;
			start_resume(f, s, fam, resume_seq[fam], epoch);
		}
}

/* Token bucket: true if a control message may be handled now. */
static bool rate_ok(struct front *f, struct ws_session *s)
{
	if (!f->opt.ws_msg_rate)
		return true;
	int64_t now = mono_ms();
	double burst = 2.0 * f->opt.ws_msg_rate;
	s->tokens += (double)(now - s->tokens_ms) * f->opt.ws_msg_rate / 1000.0;
	if (s->tokens > burst)
		s->tokens = burst;
	s->tokens_ms = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		return true;
	}
	return false;
}

int ws_on_receive(struct front *f, struct lws *wsi, struct ws_session *s, const void *in,
		  size_t len)
{
	if (s->closing)
		return 0;
	/* Control messages are small: collect fragments up to a limit. */
	if (!s->rx && !(s->rx = malloc(WS_RX_MAX))) {
		start_close(f, s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return 0;
	}
	if (s->rx_len + len > WS_RX_MAX - 1) {
		s->rx_len = 0;
		s->rx_overflow = true;
	} else if (!s->rx_overflow) {
		memcpy(s->rx + s->rx_len, in, len);
		s->rx_len += len;
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (!rate_ok(f, s)) {
		s->rx_len = 0;
		s->rx_overflow = false;
		f->hub->rate_limited++;
		if (++s->over_rate > 10u * f->opt.ws_msg_rate + 100u) {
			f->hub->closed_flood++;
			start_close(f, s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				    "too many control messages");
			return 0;
		}
		char msg[120];
		snprintf(msg, sizeof(msg), "over %u control messages per second: message ignored",
			 f->opt.ws_msg_rate);
		send_error(f, s, "rate_limited", msg);
		return 0;
	}
	if (s->rx_overflow) {
		s->rx_overflow = false;
		s->rx_len = 0;
		f->hub->bad_messages++;
		send_error(f, s, "bad_request", "control message over 4096 bytes");
		return 0;
	}
	json_error_t je;
	json_t *j = json_loadb(s->rx, s->rx_len, 0, &je);
	s->rx_len = 0;
	if (!j || !json_is_object(j)) {
		json_decref(j);
		f->hub->bad_messages++;
		send_error(f, s, "bad_request",
			   "expected a JSON object such as {\"subscribe\":[\"lsm\",\"tiers\"]}");
		return 0;
	}
	apply_control(f, s, j);
	json_decref(j);
	return 0;
}

/* ---- lifecycle ---- */

static struct wsmsg *connection_notice(struct front *f, int stream)
{
	json_t *d = json_pack("{s:s}", "stratad", f->events_up ? "up" : "down");
	if (d && stream >= 0 && stream < STRATA_FAM_COUNT)
		json_object_set_new(d, "stream", json_string(ev_family_path(stream)));
	else if (d)
		json_object_set_new(d, "stream", json_string("all"));
	return notice("connection", d);
}

/* ?resume_from=SEQ or resume_from=lsm:41,io:7 with epoch=E. */
static json_t *resume_from_query(struct lws *wsi, int stream)
{
	char frag[300];
	json_t *seqs = NULL, *epoch = NULL;
	for (int i = 0; i < 32; i++) {
		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
			break;
		if (strncmp(frag, "epoch=", 6) == 0) {
			char *end;
			unsigned long long e = strtoull(frag + 6, &end, 10);
			json_decref(epoch);
			epoch = *end || end == frag + 6 ? json_string(frag + 6) : json_integer((json_int_t)e);
		} else if (strncmp(frag, "resume_from=", 12) == 0) {
			json_decref(seqs);
			const char *v = frag + 12;
			char *end;
			unsigned long long n = strtoull(v, &end, 10);
			if (!*end && end != v) {
				seqs = json_integer((json_int_t)n);
				continue;
			}
			seqs = json_object();
			char *save = NULL, *tok;
			for (tok = strtok_r(frag + 12, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				char *colon = strchr(tok, ':');
				if (!colon) {
					json_object_set_new(seqs, tok, json_string("?"));
					continue;
				}
				*colon = '\0';
				unsigned long long q = strtoull(colon + 1, &end, 10);
				json_object_set_new(seqs, tok, *end || end == colon + 1 ? json_string(colon + 1)
									: json_integer((json_int_t)q));
			}
		}
	}
	if (!seqs) {
		json_decref(epoch);
		return NULL;
	}
	(void)stream;
	json_t *msg = json_pack("{s:o}", "resume_from", seqs);
	if (msg && epoch)
		json_object_set_new(msg, "epoch", epoch);
	else
		json_decref(epoch);
	return msg;
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
	s->id = ++f->hub->next_id;
	s->stream = stream;
	s->mask = stream == STRATA_FAM_COUNT ? ALL_FAMILIES : 1u << stream;
	s->variants = ALL_VARIANTS;
	s->tokens = 2.0 * f->opt.ws_msg_rate;
	s->tokens_ms = mono_ms();
	s->out_tokens = f->opt.ws_max_rate;
	s->out_us = wall_us();
	if (f->opt.ws_sndbuf) {
		/* the kernel's share of what a slow client holds (its send
		 * buffer) bounded too, not left to autotuning (up to
		 * net.ipv4.tcp_wmem's max, 4 MiB by default) */
		int v = (int)f->opt.ws_sndbuf;
		if (setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) != 0)
			lwsl_warn("strata-front: SO_SNDBUF %d on a WebSocket: %s\n", v, strerror(errno));
	}
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
	s->qcap = f->opt.ws_queue_max < 16 ? f->opt.ws_queue_max : 16;
	s->q = calloc(s->qcap, sizeof(*s->q));
	if (!s->q)
		return -1;
	s->next = f->ws_clients;
	if (f->ws_clients)
		f->ws_clients->prev = s;
	f->ws_clients = s;
	s->listed = true;
	f->ws_count[stream]++;
	enqueue_new(f, s, connection_notice(f, stream));
	json_t *resume = resume_from_query(wsi, stream);
	if (resume) {
		apply_control(f, s, resume);
		json_decref(resume);
	}
	return 0;
}

/* One delivery latency: a live event emitted at emitted_us (stratad's
 * clock) whose write returned at sent_us. */
static void record_latency_at(struct ws_hub *h, int64_t emitted_us, int64_t sent_us)
{
	int64_t lat = sent_us - emitted_us;
	if (lat < 0)
		lat = 0;
	int b = 0;
	while (b < LAT_BUCKETS - 1 && ((int64_t)1 << (b + 1)) <= lat + 1)
		b++;
	h->lat[b]++;
	h->lat_count++;
	if ((uint64_t)lat > h->lat_max_us)
		h->lat_max_us = (uint64_t)lat;
}

static bool has_latency(const struct wsmsg *m)
{
	return m->family >= 0 && !m->replayed && m->ts_us > 0;
}

static void record_latency(struct ws_hub *h, const struct wsmsg *m)
{
	if (has_latency(m))
		record_latency_at(h, m->ts_us, wall_us());
}

/* m was framed into a batch of ws_flush's round: its latency is recorded
 * when the batch's send returns (send_round), or now if there is no memory
 * to remember it. */
static void defer_latency(struct ws_hub *h, const struct wsmsg *m)
{
	if (!has_latency(m))
		return;
	if (h->nts == h->ts_cap) {
		size_t cap = h->ts_cap ? 2 * h->ts_cap : 1024;
		int64_t *ts = realloc(h->ts, cap * sizeof(*ts));
		if (!ts) {
			record_latency(h, m);
			return;
		}
		h->ts = ts;
		h->ts_cap = cap;
	}
	h->ts[h->nts++] = m->ts_us;
}

/* An unmasked server text frame's header for len bytes; its length. */
static size_t frame_header(unsigned char *h, size_t len)
{
	h[0] = 0x81; /* FIN, text */
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static struct wsmsg *pop(struct ws_session *s)
{
	struct wsmsg *m = s->q[s->qhead];
	s->q[s->qhead] = NULL;
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qcount--;
	s->qbytes -= m->len;
	return m;
}

/*
 * Frames what is queued for s into out (WS_BATCH_MAX bytes): the lagged
 * notice, as many messages as fit, and — once the queue is empty — the
 * rate_limited notice. Server frames are unmasked, so the bytes are the same
 * for every client, and a burst costs one write instead of one per message.
 * Returns the bytes framed. A head message too big for a batch alone is
 * popped into *big instead (nothing framed): the caller writes it through
 * lws, which frames it.
 */
static size_t frame_batch(struct front *f, struct ws_session *s, unsigned char *out, struct wsmsg **big,
			  bool deferred)
{
	struct ws_hub *h = f->hub;
	size_t used = 0;
	*big = NULL;
	if (s->lagged) {
		char txt[160];
		int n = snprintf(txt, sizeof(txt),
				 "{\"message_type\":\"lagged\",\"data\":{\"dropped\":%llu},\"timestamp\":%lld}",
				 (unsigned long long)s->lagged, (long long)time(NULL));
		used += frame_header(out, (size_t)n);
		memcpy(out + used, txt, (size_t)n);
		used += (size_t)n;
		s->lagged = 0;
		h->lagged_notices++;
	}
	while (s->qcount) {
		struct wsmsg *m = s->q[s->qhead];
		if (used + 10 + m->len > WS_BATCH_MAX) {
			if (!used)
				*big = pop(s);
			return used;
		}
		m = pop(s);
		used += frame_header(out + used, m->len);
		memcpy(out + used, m->data + LWS_PRE, m->len);
		used += m->len;
		if (deferred)
			defer_latency(h, m);
		else
			record_latency(h, m);
		h->sent++;
		wsmsg_unref(m);
	}
	char txt[160];
	int n;
	if (!s->qcount && s->rate_dropped &&
	    (n = snprintf(txt, sizeof(txt),
			  "{\"message_type\":\"rate_limited\",\"data\":{\"dropped\":%llu,"
			  "\"max_rate\":%u},\"timestamp\":%lld}",
			  (unsigned long long)s->rate_dropped, max_rate_of(f, s),
			  (long long)time(NULL))) > 0 &&
	    used + 10 + (size_t)n <= WS_BATCH_MAX) {
		/* drops after everything queued (no later event carries them yet) */
		used += frame_header(out + used, (size_t)n);
		memcpy(out + used, txt, (size_t)n);
		used += (size_t)n;
		s->rate_dropped = 0;
	}
	return used;
}

/* After a write that went out whole or that lws now holds the rest of:
 * the slow-client clock, and a writable callback for what is left. */
static void after_write(struct lws *wsi, struct ws_session *s)
{
	if (s->qcount == 0)
		s->dropping_since_ms = 0; /* caught up */
	if (s->qcount || s->rate_dropped)
		lws_callback_on_writable(wsi);
}

/* A connection a write failed on: lws finds out and closes it; nothing
 * more is queued or sent. */
static void mark_broken(struct ws_session *s)
{
	s->closing = true;
	release_queue(s);
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* A message over a batch, alone: lws frames and writes it. Takes big's
 * reference. -1: the connection is broken. */
static int write_big(struct ws_hub *h, struct lws *wsi, struct wsmsg *big)
{
	int rv = lws_write(wsi, big->data + LWS_PRE, big->len, LWS_WRITE_TEXT);
	if (rv >= 0) {
		record_latency(h, big);
		h->sent++;
	}
	wsmsg_unref(big);
	return rv < 0 ? -1 : 0;
}

/*
 * Writes what is queued for s, one batch (frame_batch) through lws. lws
 * keeps what the socket did not take (at most one batch: nothing more is
 * written while lws holds some, see ws_flush) and calls back when it has
 * sent it. -1: the connection is broken.
 */
static int write_queued(struct front *f, struct lws *wsi, struct ws_session *s)
{
	struct ws_hub *h = f->hub;
	struct wsmsg *big;
	unsigned char *out = h->wbuf + LWS_PRE;
	size_t used = frame_batch(f, s, out, &big, false);
	if (big) {
		if (write_big(h, wsi, big) < 0)
			return -1;
	} else if (used && lws_write(wsi, out, used, LWS_WRITE_RAW) < (int)used) {
		return -1;
	}
	after_write(wsi, s);
	return 0;
}

int ws_on_writable(struct front *f, struct lws *wsi, struct ws_session *s)
{
	if (s->closing) {
		lws_close_reason(wsi, (enum lws_close_status)s->close_code,
				 (unsigned char *)s->close_reason, strlen(s->close_reason));
		return -1;
	}
	return write_queued(f, wsi, s);
}

void ws_defer(struct front *f)
{
	f->hub->deferring = true;
}

/* ws_flush: clients framed per round at most (the arena stays under
 * WS_ROUND_BYTES), and fewer clients than this are sent by the service
 * thread alone. */
#define WS_ROUND_BYTES (4u << 20)
#define WS_PARALLEL_MIN 64

/* Sends the round's batches (fanout_send), then, on the service thread,
 * hands lws what a socket did not take and settles each client. */
static void send_round(struct front *f, size_t nj)
{
	struct ws_hub *h = f->hub;
	for (size_t i = 0; i < nj; i++)
		h->jobs[i].buf = h->arena + h->job_s[i].off;
	fanout_send(h->fanout, h->jobs, nj, WS_PARALLEL_MIN);
	if (fanout_threads(h->fanout) > 1 && nj >= WS_PARALLEL_MIN)
		h->parallel_rounds++;
	for (size_t i = 0; i < nj; i++) {
		struct fanout_job *j = &h->jobs[i];
		struct ws_session *s = h->job_s[i].s;
		for (size_t k = h->job_s[i].ts_lo; k < h->job_s[i].ts_hi; k++)
			record_latency_at(h, h->ts[k], j->done_us);
		bool broken = j->err != 0;
		if (!broken && j->sent < j->len) {
			/* lws sends the rest when the socket drains, before
			 * anything else on this connection */
			size_t rest = j->len - j->sent;
			h->short_writes++;
			memcpy(h->wbuf + LWS_PRE, j->buf + j->sent, rest);
			broken = lws_write(s->wsi, h->wbuf + LWS_PRE, rest, LWS_WRITE_RAW) < (int)rest;
		}
		if (broken)
			mark_broken(s);
		else
			after_write(s->wsi, s);
	}
	h->nts = 0;
}

/* Room in the round for one more client's batch; 0, or -1 when memory for
 * a round runs out (the caller sends what it has and starts a new one). */
static int round_room(struct ws_hub *h, size_t nj, size_t off)
{
	if (nj == h->jobs_cap) {
		size_t cap = h->jobs_cap ? 2 * h->jobs_cap : 256;
		struct fanout_job *j = realloc(h->jobs, cap * sizeof(*j));
		if (!j)
			return -1;
		h->jobs = j;
		struct round_client *js = realloc(h->job_s, cap * sizeof(*js));
		if (!js)
			return -1;
		h->job_s = js;
		h->jobs_cap = cap;
	}
	if (off + WS_BATCH_MAX > h->arena_cap) {
		if (h->arena_cap >= WS_ROUND_BYTES)
			return -1;
		size_t cap = h->arena_cap ? 2 * h->arena_cap : 256u << 10;
		if (cap < off + WS_BATCH_MAX)
			cap = off + WS_BATCH_MAX;
		unsigned char *a = realloc(h->arena, cap);
		if (!a)
			return -1;
		h->arena = a; /* the jobs' buf are set from their offsets in send_round */
		h->arena_cap = cap;
	}
	return 0;
}

/*
 * Writes what the deferred enqueues left, straight from the service thread:
 * a burst fanned out to many clients costs one send() each instead of a
 * poll round and a writable callback each. Every client's batch is framed
 * into one arena, then the sends are split among the fan-out threads
 * (--ws-send-threads, fanout.h); the service thread waits for them, so it
 * still owns every socket. A client whose socket still holds a partial write
 * (lws buffered it) waits for its writable callback as usual, so its queue —
 * not lws's buffer — is what grows and is bounded.
 */
void ws_flush(struct front *f)
{
	struct ws_hub *h = f->hub;
	if (!h->deferring)
		return;
	h->deferring = false;
	size_t nj = 0, off = 0;
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		if ((!s->qcount && !s->lagged && !s->rate_dropped) || s->closing)
			continue;
		if (lws_partial_buffered(s->wsi)) {
			lws_callback_on_writable(s->wsi);
			continue;
		}
		h->direct_writes++;
		if (round_room(h, nj, off) != 0) {
			send_round(f, nj);
			nj = off = 0;
			if (round_room(h, nj, off) != 0) {
				/* no memory for a round at all: this client through lws */
				if (write_queued(f, s->wsi, s) < 0)
					mark_broken(s);
				continue;
			}
		}
		struct wsmsg *big;
		size_t ts_lo = h->nts;
		size_t used = frame_batch(f, s, h->arena + off, &big, true);
		if (big || !used) {
			if (big && write_big(h, s->wsi, big) < 0)
				mark_broken(s);
			else
				after_write(s->wsi, s);
			continue;
		}
		h->jobs[nj] = (struct fanout_job){.fd = lws_get_socket_fd(s->wsi), .len = used};
		h->job_s[nj] = (struct round_client){.s = s, .off = off, .ts_lo = ts_lo, .ts_hi = h->nts};
		nj++;
		off += used;
	}
	send_round(f, nj);
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
	release_queue(s);
	free(s->q);
	s->q = NULL;
	free(s->held);
	s->held = NULL;
	s->capheld = 0;
	free(s->rx);
	s->rx = NULL;
}

void ws_tick(struct front *f)
{
	int64_t now = mono_ms();
	for (struct ws_session *s = f->ws_clients; s; s = s->next)
		check_slow(f, s, now);
}

void ws_connection_changed(struct front *f, bool up)
{
	if (f->events_up == up)
		return;
	f->events_up = up;
	for (struct ws_session *s = f->ws_clients; s; s = s->next)
		enqueue_new(f, s, connection_notice(f, s->stream));
}

/* ---- figures ---- */

static uint64_t lat_quantile(const struct ws_hub *h, double q)
{
	if (!h->lat_count)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)h->lat_count), acc = 0;
	for (int b = 0; b < LAT_BUCKETS; b++) {
		acc += h->lat[b];
		if (acc >= want) {
			uint64_t upper = ((uint64_t)1 << (b + 1)) - 1;
			return upper < h->lat_max_us ? upper : h->lat_max_us;
		}
	}
	return h->lat_max_us;
}

json_t *ws_stats_json(struct front *f)
{
	struct ws_hub *h = f->hub;
	json_t *streams = json_object();
	unsigned total = 0;
	for (int i = 0; i <= STRATA_FAM_COUNT; i++) {
		json_object_set_new(streams, i < STRATA_FAM_COUNT ? ev_family_path(i) : "all",
				    json_integer(f->ws_count[i]));
		total += f->ws_count[i];
	}
	uint64_t depth = 0, depth_max = 0, bytes = 0, held = 0, lagging = 0, resuming = 0;
	for (struct ws_session *s = f->ws_clients; s; s = s->next) {
		depth += s->qcount;
		bytes += s->qbytes;
		held += s->nheld;
		if (s->qcount > depth_max)
			depth_max = s->qcount;
		if (s->dropping_since_ms)
			lagging++;
		if (s->resuming)
			resuming++;
	}
	json_t *topics = json_object();
	for (int i = 0; i < STRATA_FAM_COUNT; i++) {
		const struct ws_topic *t = &h->topic[i];
		json_object_set_new(topics, ev_family_path(i), json_pack(
			"{s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
			"epoch", (json_int_t)t->epoch, "last_seq", (json_int_t)t->last_seq,
			"received", (json_int_t)t->received, "repairing", t->repairing,
			"gaps_repaired", (json_int_t)t->gaps_repaired,
			"events_repaired", (json_int_t)t->events_repaired,
			"gaps_reported", (json_int_t)t->gaps_reported,
			"seqs_lost", (json_int_t)t->seqs_lost,
			"duplicates", (json_int_t)t->duplicates,
			"epoch_changes", (json_int_t)t->epoch_changes));
	}
	json_t *hist = json_array();
	for (int b = 0; b < LAT_BUCKETS; b++)
		if (h->lat[b])
			json_array_append_new(hist, json_pack("{s:I, s:I}", "le_us",
							      (json_int_t)(((uint64_t)1 << (b + 1)) - 1),
							      "count", (json_int_t)h->lat[b]));
	json_t *out = json_pack(
		"{s:{s:i, s:o}, s:{s:I, s:I, s:I, s:I, s:i, s:I}, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:{s:I, s:I, s:I, s:I, s:o}, s:{s:b, s:I, s:o}, s:o}",
		"clients", "total", total, "by_stream", streams,
		"queues", "depth_total", (json_int_t)depth, "depth_max", (json_int_t)depth_max,
		"bytes_total", (json_int_t)bytes, "held_total", (json_int_t)held,
		"limit_messages", f->opt.ws_queue_max, "limit_bytes",
		(json_int_t)f->opt.ws_queue_bytes,
		"messages_sent", (json_int_t)h->sent,
		"direct_writes", (json_int_t)h->direct_writes,
		"rate_capped", (json_int_t)h->rate_capped,
		"messages_dropped", (json_int_t)h->dropped,
		"lagged_notices", (json_int_t)h->lagged_notices,
		"lagged_clients_now", (json_int_t)lagging,
		"lagged_spells", (json_int_t)h->lagged_clients,
		"closed_slow", (json_int_t)h->closed_slow,
		"closed_flood", (json_int_t)h->closed_flood,
		"rate_limited", (json_int_t)h->rate_limited,
		"bad_messages", (json_int_t)h->bad_messages,
		"resumes", (json_int_t)h->resumes,
		"resumes_in_flight", (json_int_t)resuming,
		"resume_gaps", (json_int_t)h->resume_gaps,
		"latency_us", "count", (json_int_t)h->lat_count, "p50", (json_int_t)lat_quantile(h, 0.5),
		"p99", (json_int_t)lat_quantile(h, 0.99), "max", (json_int_t)h->lat_max_us,
		"histogram", hist,
		"bus", "connected", f->events_up, "bridge_dropped",
		(json_int_t)(f->bridge ? bridge_dropped(f->bridge) : 0), "topics", topics,
		"breaker", ctl_breaker_json(f));
	if (out) /* ws_flush's fan-out threads (--ws-send-threads) */
		json_object_set_new(out, "fanout",
				    json_pack("{s:i, s:I, s:I}", "threads", (int)fanout_threads(h->fanout),
					      "parallel_rounds", (json_int_t)h->parallel_rounds,
					      "short_writes", (json_int_t)h->short_writes));
	if (out && f->tickets) { /* WebSocket tickets (frontend/ticket.h) */
		struct ticket_stats ts;
		tickets_stats(f->tickets, &ts);
		json_t *rej = json_object();
		for (int v = TICKET_OK + 1; rej && v < TICKET_VERDICT_COUNT; v++)
			json_object_set_new(rej, ticket_verdict_name((enum ticket_verdict)v),
					    json_integer((json_int_t)ts.rejected[v]));
		json_object_set_new(out, "tickets",
				    json_pack("{s:I, s:I, s:o*, s:I}", "issued", (json_int_t)ts.issued,
					      "accepted", (json_int_t)ts.accepted, "rejected", rej,
					      "in_use", (json_int_t)ts.in_use));
	}
	return out;
}
