#include "frontend/routes.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frontend/front.h"
#include "frontend/ticket.h"
#include "frontend/ws.h"
#include "proto/base64.h"
#include "proto/event_codec.h"
#include "ipc/ipc.h"
#include "strata/error.h"
#include "strata/version.h"

const char *http_method_name(enum http_method m)
{
	static const char *names[M_COUNT] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
					     "OPTIONS"};
	return (unsigned)m < M_COUNT ? names[m] : "?";
}

const char *role_name(enum role r)
{
	switch (r) {
	case ROLE_PUBLIC: return "public";
	case ROLE_READ: return "read";
	case ROLE_WRITE: return "write";
	case ROLE_ADMIN: return "admin";
	}
	return "?";
}

static bool all_digits(const char *s)
{
	if (!*s || strlen(s) > 18)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* body object + query + path params. digits_as_numbers: a value made only
 * of digits becomes an integer (ids); otherwise values stay strings except
 * the known numeric/boolean query arguments (limit, sync). */
static int build_args(const struct route_req *rq, json_t **args, bool digits_as_numbers,
		      char *msg, size_t msglen)
{
	if (rq->body && !json_is_object(rq->body)) {
		snprintf(msg, msglen, "the request body must be a JSON object");
		return STRATA_EBAD_REQUEST;
	}
	json_t *a = rq->body ? json_deep_copy(rq->body) : json_object();
	if (!a)
		return STRATA_ENOMEM;
	const json_t *srcs[2] = {rq->query, rq->params}; /* params win */
	for (int i = 0; i < 2; i++) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)srcs[i], k, v) {
			const char *s = json_string_value(v);
			bool query = i == 0;
			json_t *nv;
			if (s && all_digits(s) && (digits_as_numbers || (query && !strcmp(k, "limit"))))
				nv = json_integer(strtoll(s, NULL, 10));
			else if (s && query && !strcmp(k, "sync") && (!strcmp(s, "true") || !strcmp(s, "false")))
				nv = json_boolean(!strcmp(s, "true"));
			else
				nv = json_incref(v);
			if (!nv || json_object_set_new(a, k, nv) != 0) {
				json_decref(a);
				return STRATA_ENOMEM;
			}
		}
	}
	*args = a;
	return 0;
}

int route_build_default(const struct route_req *rq, json_t **args, char *msg, size_t msglen)
{
	return build_args(rq, args, true, msg, msglen);
}

/* For routes whose path and query values are names, keys and ranges: they
 * stay strings ("123" is a key, not a number). */
int route_build_strings(const struct route_req *rq, json_t **args, char *msg, size_t msglen)
{
	return build_args(rq, args, false, msg, msglen);
}

static void local_healthz(struct front *f, const struct route_req *rq, int *status, json_t **body)
{
	(void)f, (void)rq;
	*status = 200;
	*body = json_pack("{s:s, s:s}", "status", "ok", "version", STRATA_VERSION);
}

static void local_readyz(struct front *f, const struct route_req *rq, int *status, json_t **body)
{
	(void)rq;
	bool ctl = ipc_client_connected(f->ctl) && !f->brk.open, ev = ipc_sub_connected(f->sub);
	if (ctl && ev) {
		*status = 200;
		*body = json_pack("{s:s}", "status", "ready");
		return;
	}
	*status = 503;
	*body = json_pack("{s:{s:s, s:s}, s:b, s:b}", "error", "code", "unavailable", "message",
			  "stratad is unreachable", "control_connected", ctl, "events_connected", ev);
}

static void local_openapi(struct front *f, const struct route_req *rq, int *status, json_t **body);

/* Appends "name{labels} value\n" lines; false when out of room. */
static void metric(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void metric(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	if (!*buf)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			free(*buf);
			*buf = NULL;
			return;
		}
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		char *nb = realloc(*buf, *cap * 2 + (size_t)n);
		if (!nb) {
			free(*buf);
			*buf = NULL;
			return;
		}
		*buf = nb;
		*cap = *cap * 2 + (size_t)n;
	}
}

static long long jint(const json_t *o, const char *path1, const char *path2)
{
	const json_t *v = json_object_get(o, path1);
	if (path2)
		v = json_object_get(v, path2);
	return (long long)json_integer_value(v);
}

/* GET /metrics: this frontend's figures in the Prometheus text format. */
static void local_metrics(struct front *f, const struct route_req *rq, int *status, json_t **body)
{
	(void)rq;
	json_t *st = ws_stats_json(f);
	size_t len = 0, cap = 4096;
	char *b = st ? malloc(cap) : NULL;
	if (b)
		b[0] = '\0';
	metric(&b, &len, &cap, "# HELP strata_ws_clients WebSocket clients connected, per stream\n"
			       "# TYPE strata_ws_clients gauge\n");
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(json_object_get(st, "clients"), "by_stream"), k, v)
		metric(&b, &len, &cap, "strata_ws_clients{stream=\"%s\"} %lld\n", k,
		       (long long)json_integer_value(v));
	static const struct { const char *name, *key, *type, *help; } counters[] = {
		{"strata_ws_messages_sent_total", "messages_sent", "counter", "messages written to WebSocket clients"},
		{"strata_ws_messages_dropped_total", "messages_dropped", "counter", "messages dropped from full client queues"},
		{"strata_ws_lagged_notices_total", "lagged_notices", "counter", "lagged notices sent"},
		{"strata_ws_closed_slow_total", "closed_slow", "counter", "clients closed for being too slow"},
		{"strata_ws_rate_limited_total", "rate_limited", "counter", "control messages refused by the rate cap"},
		{"strata_ws_rate_capped_total", "rate_capped", "counter", "events not sent: over a client's event rate cap"},
		{"strata_ws_resumes_total", "resumes", "counter", "resume requests"},
		{"strata_ws_lagged_clients", "lagged_clients_now", "gauge", "clients currently dropping messages"},
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		metric(&b, &len, &cap, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", counters[i].name,
		       counters[i].help, counters[i].name, counters[i].type, counters[i].name,
		       jint(st, counters[i].key, NULL));
	metric(&b, &len, &cap,
	       "# HELP strata_ws_queue_messages messages queued for all clients\n"
	       "# TYPE strata_ws_queue_messages gauge\nstrata_ws_queue_messages %lld\n"
	       "# HELP strata_ws_queue_bytes bytes queued for all clients\n"
	       "# TYPE strata_ws_queue_bytes gauge\nstrata_ws_queue_bytes %lld\n",
	       jint(st, "queues", "depth_total"), jint(st, "queues", "bytes_total"));
	metric(&b, &len, &cap,
	       "# HELP strata_ws_send_threads threads that send a burst to the WebSocket clients\n"
	       "# TYPE strata_ws_send_threads gauge\nstrata_ws_send_threads %lld\n"
	       "# HELP strata_ws_short_writes_total batches a full client socket took only part of\n"
	       "# TYPE strata_ws_short_writes_total counter\nstrata_ws_short_writes_total %lld\n",
	       jint(st, "fanout", "threads"), jint(st, "fanout", "short_writes"));
	metric(&b, &len, &cap, "# HELP strata_bus_gaps_repaired_total bus seq gaps repaired with events.replay\n"
			       "# TYPE strata_bus_gaps_repaired_total counter\n");
	json_object_foreach(json_object_get(json_object_get(st, "bus"), "topics"), k, v)
		metric(&b, &len, &cap, "strata_bus_gaps_repaired_total{family=\"%s\"} %lld\n", k,
		       jint(v, "gaps_repaired", NULL));
	metric(&b, &len, &cap, "# HELP strata_bus_seqs_lost_total events lost on the bus and gone from the replay ring\n"
			       "# TYPE strata_bus_seqs_lost_total counter\n");
	json_object_foreach(json_object_get(json_object_get(st, "bus"), "topics"), k, v)
		metric(&b, &len, &cap, "strata_bus_seqs_lost_total{family=\"%s\"} %lld\n", k,
		       jint(v, "seqs_lost", NULL));
	/* The latency histogram, cumulative as Prometheus wants it. */
	metric(&b, &len, &cap, "# HELP strata_ws_delivery_latency_us emission in stratad to write in this frontend\n"
			       "# TYPE strata_ws_delivery_latency_us histogram\n");
	long long acc = 0;
	size_t i;
	json_array_foreach(json_object_get(json_object_get(st, "latency_us"), "histogram"), i, v) {
		acc += jint(v, "count", NULL);
		metric(&b, &len, &cap, "strata_ws_delivery_latency_us_bucket{le=\"%lld\"} %lld\n",
		       jint(v, "le_us", NULL), acc);
	}
	metric(&b, &len, &cap, "strata_ws_delivery_latency_us_bucket{le=\"+Inf\"} %lld\n"
			       "strata_ws_delivery_latency_us_count %lld\n",
	       jint(st, "latency_us", "count"), jint(st, "latency_us", "count"));
	const json_t *tk = json_object_get(st, "tickets"); /* only with --token-file */
	if (tk) {
		metric(&b, &len, &cap,
		       "# HELP strata_ws_tickets_issued_total WebSocket tickets minted (POST /api/v1/ws/ticket)\n"
		       "# TYPE strata_ws_tickets_issued_total counter\nstrata_ws_tickets_issued_total %lld\n"
		       "# HELP strata_ws_tickets_accepted_total WebSocket upgrades let in by a ticket\n"
		       "# TYPE strata_ws_tickets_accepted_total counter\nstrata_ws_tickets_accepted_total %lld\n"
		       "# HELP strata_ws_tickets_rejected_total WebSocket upgrades refused for their ticket, by reason\n"
		       "# TYPE strata_ws_tickets_rejected_total counter\n",
		       jint(tk, "issued", NULL), jint(tk, "accepted", NULL));
		json_object_foreach(json_object_get(tk, "rejected"), k, v)
			metric(&b, &len, &cap, "strata_ws_tickets_rejected_total{reason=\"%s\"} %lld\n", k,
			       (long long)json_integer_value(v));
	}
	metric(&b, &len, &cap,
	       "# HELP strata_breaker_open 1 while the circuit breaker to stratad is open\n"
	       "# TYPE strata_breaker_open gauge\nstrata_breaker_open %d\n"
	       "# HELP strata_breaker_fast_failures_total requests refused while open\n"
	       "# TYPE strata_breaker_fast_failures_total counter\nstrata_breaker_fast_failures_total %lld\n"
	       "# HELP strata_stratad_up 1 while stratad's event stream is connected\n"
	       "# TYPE strata_stratad_up gauge\nstrata_stratad_up %d\n",
	       f->brk.open ? 1 : 0, (long long)f->brk.fast_failures, f->events_up ? 1 : 0);
	json_decref(st);
	*body = b ? json_string(b) : NULL;
	free(b);
	*status = *body ? 200 : 500;
}

static void local_ws_stats(struct front *f, const struct route_req *rq, int *status, json_t **body)
{
	(void)rq;
	*body = ws_stats_json(f);
	*status = *body ? 200 : 500;
}

/* POST /api/v1/ws/ticket: a short-lived ticket for ?ticket= on a
 * WebSocket upgrade, carrying the caller's role (frontend/ticket.h). */
static void local_ws_ticket(struct front *f, const struct route_req *rq, int *status,
			    json_t **body)
{
	char msg[160];
	int err = 0;
	json_int_t ttl = TICKET_TTL_MAX;
	if (!f->tickets) {
		err = STRATA_ENOT_FOUND;
		snprintf(msg, sizeof(msg), "WebSocket tickets are not available: this frontend runs "
			 "without --token-file, so its streams need no credentials");
		goto fail;
	}
	if (rq->body && !json_is_object(rq->body)) {
		err = STRATA_EBAD_REQUEST;
		snprintf(msg, sizeof(msg), "the request body must be a JSON object");
		goto fail;
	}
	const json_t *e = rq->body ? json_object_get(rq->body, "expires_in") : NULL;
	if (e) {
		if (!json_is_integer(e) || json_integer_value(e) < 1 ||
		    json_integer_value(e) > TICKET_TTL_MAX) {
			err = STRATA_EBAD_REQUEST;
			snprintf(msg, sizeof(msg), "field 'expires_in' must be an integer from 1 to %d "
				 "(seconds)", TICKET_TTL_MAX);
			goto fail;
		}
		ttl = json_integer_value(e);
	}
	char tk[TICKET_LEN_MAX];
	err = tickets_mint(f->tickets, rq->role, (unsigned)ttl, (int64_t)time(NULL), tk, sizeof(tk));
	if (err != 0) {
		snprintf(msg, sizeof(msg), "cannot mint a ticket: %s", strata_strerror(err));
		goto fail;
	}
	*body = json_pack("{s:s, s:I, s:s}", "ticket", tk, "expires_in", ttl, "role",
			  role_name(rq->role));
	*status = *body ? 200 : 500;
	return;
fail:
	*status = strata_err_http_status(err);
	*body = json_pack("{s:{s:s, s:s}}", "error", "code", strata_err_name(err), "message", msg);
}

static const struct route routes_core[] = {
	{M_GET, "/api/v1/openapi.json", ROLE_PUBLIC, NULL, NULL, local_openapi, 0,
	 "this OpenAPI 3 document, generated from the route table and the event definitions"},
	{M_GET, "/healthz", ROLE_PUBLIC, NULL, NULL, local_healthz, 0, "process is alive"},
	{M_GET, "/readyz", ROLE_PUBLIC, NULL, NULL, local_readyz, 0,
	 "200 when stratad is reachable, else 503"},
	{M_GET, "/metrics", ROLE_READ, NULL, NULL, local_metrics, 0,
	 "this frontend's figures in the Prometheus text format (WebSocket clients, queues, "
	 "drops, delivery latency histogram, bus gaps, circuit breaker)",
	 "text/plain; version=0.0.4"},
	{M_GET, "/api/v1/ws/stats", ROLE_READ, NULL, NULL, local_ws_stats, 0,
	 "this frontend's WebSocket delivery figures: clients per stream, queue depths, sent, "
	 "dropped, lagged, closed for slowness, gap repairs, delivery latency, circuit breaker"},
	{M_POST, "/api/v1/ws/ticket", ROLE_READ, NULL, NULL, local_ws_ticket, 0,
	 "a short-lived signed ticket for a WebSocket stream (?ticket=...) so browsers need not "
	 "put the bearer token in a URL: {\"ticket\",\"expires_in\",\"role\"} with the "
	 "caller's role; body {\"expires_in\":N} (1..30 s, default 30) is optional. A ticket "
	 "opens one stream per frontend and is accepted by every frontend sharing the token "
	 "file until it expires. 404 without --token-file (no auth: nothing to mint)",
	 NULL, true},
	{M_GET, "/api/v1/storage/status", ROLE_READ, "sys.status", NULL, NULL, 0,
	 "stratad's status: pid, epoch, uptime, sizes, versions, buffer pool and I/O figures"},

	{M_GET, "/api/v1/storage/buffer-pool", ROLE_READ, "buffer.stats", NULL, NULL, 0,
	 "buffer pool figures: frames, used, dirty, pinned, hits, misses, hit rate, evictions"},
	{M_POST, "/api/v1/storage/buffer-pool/flush", ROLE_WRITE, "buffer.flush", NULL, NULL, 0,
	 "write every dirty page and sync the data file"},
	{M_GET, "/api/v1/storage/io-stats", ROLE_READ, "io.stats", NULL, NULL, 0,
	 "I/O counters, latency percentiles, IOPS, queue depth, redo log figures"},
	{M_POST, "/api/v1/storage/io-stats/reset", ROLE_ADMIN, "io.reset", NULL, NULL, 0,
	 "zero the resettable I/O counters"},
	{M_GET, "/api/v1/storage/disks", ROLE_READ, "disks.list", NULL, NULL, 0,
	 "the file system and block device behind the data dir"},

	{M_POST, "/api/v1/storage/pages", ROLE_WRITE, "pages.alloc", NULL, NULL, 201,
	 "allocate an empty slotted page"},
	{M_POST, "/api/v1/storage/pages/split", ROLE_WRITE, "pages.split", NULL, NULL, 0,
	 "move the upper half of a page's records to a new page"},
	{M_POST, "/api/v1/storage/pages/merge", ROLE_WRITE, "pages.merge", NULL, NULL, 0,
	 "move page2's records into page1 and free page2"},
	{M_GET, "/api/v1/storage/pages/{page_id}", ROLE_READ, "pages.get", NULL, NULL, 0,
	 "a page's free space, slots, records, checksum, dirty, pinned, resident"},
	{M_POST, "/api/v1/storage/pages/{page_id}/compact", ROLE_WRITE, "pages.compact", NULL, NULL, 0,
	 "defragment a page; reports bytes reclaimed"},
	{M_POST, "/api/v1/storage/pages/{page_id}/records", ROLE_WRITE, "records.insert", NULL, NULL,
	 201, "store a record (base64 'data'; 'sync' default true)"},
	{M_GET, "/api/v1/storage/pages/{page_id}/records/{slot}", ROLE_READ, "records.get", NULL, NULL,
	 0, "read a record (base64 'data')"},
	{M_PUT, "/api/v1/storage/pages/{page_id}/records/{slot}", ROLE_WRITE, "records.update", NULL,
	 NULL, 0, "replace a record, keeping its slot"},
	{M_DELETE, "/api/v1/storage/pages/{page_id}/records/{slot}", ROLE_WRITE, "records.delete",
	 NULL, NULL, 0, "delete a record"},
	{M_POST, "/api/v1/storage/io/vectored-read", ROLE_READ, "io.vectored_read", NULL, NULL, 0,
	 "read several pages at once through the buffer pool"},
	{M_POST, "/api/v1/storage/io/vectored-write", ROLE_ADMIN, "io.vectored_write", NULL, NULL, 0,
	 "replace whole page images through the buffer pool and the redo log"},

	{M_POST, "/api/v1/storage/lsm", ROLE_WRITE, "lsm.create", route_build_strings, NULL, 201,
	 "create an LSM tree: {name, sync: none|commit|interval, memtable_bytes, compression, ...}"},
	{M_GET, "/api/v1/storage/lsm", ROLE_READ, "lsm.list", NULL, NULL, 0, "list LSM trees"},
	{M_DELETE, "/api/v1/storage/lsm/{name}", ROLE_WRITE, "lsm.drop", route_build_strings, NULL, 0,
	 "drop an LSM tree and its files"},
	{M_PUT, "/api/v1/storage/lsm/{name}/put", ROLE_WRITE, "lsm.put", route_build_strings, NULL, 0,
	 "put {key, value} (or key_b64/value_b64; optional sync)"},
	{M_GET, "/api/v1/storage/lsm/{name}/get/{key}", ROLE_READ, "lsm.get", route_build_strings, NULL, 0,
	 "get a key (404 if absent; ?encoding=base64 for binary)"},
	{M_DELETE, "/api/v1/storage/lsm/{name}/delete/{key}", ROLE_WRITE, "lsm.delete", route_build_strings,
	 NULL, 0, "delete a key (404 if absent)"},
	{M_GET, "/api/v1/storage/lsm/{name}/scan", ROLE_READ, "lsm.scan", route_build_strings, NULL, 0,
	 "scan [start, end) with ?start=&end=&limit= (max 1000); 'next' continues"},
	{M_POST, "/api/v1/storage/lsm/{name}/batch", ROLE_WRITE, "lsm.batch", route_build_strings, NULL, 0,
	 "atomic batch {ops: [{put:{key,value}}, {delete:{key}}]}"},
	{M_POST, "/api/v1/storage/lsm/{name}/compact", ROLE_WRITE, "lsm.compact", route_build_strings, NULL,
	 0, "compact the whole tree"},
	{M_POST, "/api/v1/storage/lsm/{name}/flush", ROLE_WRITE, "lsm.flush", route_build_strings, NULL, 0,
	 "flush the memtable to an SSTable"},
	{M_GET, "/api/v1/storage/lsm/{name}/stats", ROLE_READ, "lsm.stats", route_build_strings, NULL, 0,
	 "tree statistics: levels, files, bloom, write amplification, stalls"},
	{0},
};

/* Every table; routes_next walks them in this order. */
static const struct route *const route_tables[] = {
	routes_core, routes_tiers, routes_columnar, routes_json, routes_partitions,
	routes_tablespaces, routes_dashboard,
};

const struct route *routes_next(const struct route *r)
{
	size_t ntables = sizeof(route_tables) / sizeof(route_tables[0]);
	size_t t = 0;
	if (r) {
		r++;
		if (r->pattern)
			return r;
		/* end of a table: find which one and move to the next */
		for (t = 0; t < ntables; t++) {
			const struct route *b = route_tables[t];
			const struct route *e = b;
			while (e->pattern)
				e++;
			if (r == e)
				break;
		}
		t++;
	}
	for (; t < ntables; t++)
		if (route_tables[t]->pattern)
			return route_tables[t];
	return NULL;
}

/* Matches one pattern; captures go into params. */
static bool pattern_match(const char *pat, const char *path, json_t *params)
{
	while (*pat && *path) {
		if (*pat == '{') {
			const char *close = strchr(pat, '}');
			if (!close)
				return false;
			const char *seg_end = strchr(path, '/');
			size_t seglen = seg_end ? (size_t)(seg_end - path) : strlen(path);
			if (seglen == 0 || seglen > 512)
				return false;
			char name[64], val[513];
			snprintf(name, sizeof(name), "%.*s", (int)(close - pat - 1), pat + 1);
			snprintf(val, sizeof(val), "%.*s", (int)seglen, path);
			if (params) {
				json_t *v = json_string(val);
				if (v) {
					json_object_set_new(params, name, v);
				} else {
					/* Not UTF-8 (a binary key): pass the bytes as NAME_b64. */
					char b64name[80], *enc = malloc(base64_encoded_len(seglen) + 1);
					snprintf(b64name, sizeof(b64name), "%s_b64", name);
					if (enc) {
						base64_encode(val, seglen, enc);
						json_object_set_new(params, b64name, json_string(enc));
						free(enc);
					}
				}
			}
			pat = close + 1;
			path += seglen;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	/* Tolerate one trailing slash on the request. */
	return *pat == '\0' && (*path == '\0' || (path[0] == '/' && path[1] == '\0'));
}

const struct route *routes_match(enum http_method m, const char *path, json_t **params,
				 bool *path_known, char *allow, size_t allowlen)
{
	*path_known = false;
	if (allowlen)
		allow[0] = '\0';
	for (const struct route *r = routes_next(NULL); r; r = routes_next(r)) {
		if (!pattern_match(r->pattern, path, NULL))
			continue;
		if (r->method == m || (m == M_HEAD && r->method == M_GET)) {
			json_t *p = json_object();
			if (!p)
				return NULL;
			pattern_match(r->pattern, path, p);
			*params = p;
			return r;
		}
		*path_known = true;
		size_t used = strlen(allow);
		snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
			 http_method_name(r->method));
	}
	return NULL;
}

/* ---- OpenAPI, derived from the route table and proto's event fields ---- */

static json_t *schema_of_type(enum strata_ev_field_type t)
{
	switch (t) {
	case STRATA_FT_F64: return json_pack("{s:s, s:s}", "type", "number", "format", "double");
	case STRATA_FT_STR: return json_pack("{s:s, s:i}", "type", "string", "maxLength", STRATA_EV_STR_MAX - 1);
	case STRATA_FT_I64: return json_pack("{s:s, s:s}", "type", "integer", "format", "int64");
	case STRATA_FT_U32: return json_pack("{s:s, s:i, s:I}", "type", "integer", "minimum", 0, "maximum", (json_int_t)UINT32_MAX);
	default: return json_pack("{s:s, s:s, s:i}", "type", "integer", "format", "int64", "minimum", 0);
	}
}

static json_t *event_schemas(void)
{
	json_t *schemas = json_object();
	for (int v = 0; v < STRATA_EV_COUNT; v++) {
		size_t n;
		const struct ev_field *f = ev_fields((enum strata_ev_variant)v, &n);
		json_t *props = json_object(), *req = json_array();
		for (size_t i = 0; i < n; i++) {
			json_object_set_new(props, f[i].name, schema_of_type(f[i].type));
			if (!f[i].optional)
				json_array_append_new(req, json_string(f[i].name));
		}
		const char *name = ev_variant_name((enum strata_ev_variant)v);
		const char *mt = ev_family_message_type(strata_ev_family_of((enum strata_ev_variant)v));
		json_object_set_new(schemas, name, json_pack(
			"{s:s, s:s, s:{s:{s:s, s:[s]}, s:{s:s, s:{s:{s:s, s:o, s:o}}, s:[s]}, s:{s:s}, s:{s:s}, s:{s:s}},"
			" s:[s, s, s]}",
			"type", "object", "description", "WebSocket message (live messages add seq and epoch)",
			"properties",
			"message_type", "type", "string", "enum", mt,
			"data", "type", "object", "properties", name, "type", "object", "properties", props,
			"required", req, "required", name,
			"timestamp", "type", "integer",
			"seq", "type", "integer",
			"epoch", "type", "integer",
			"required", "message_type", "data", "timestamp"));
	}
	return schemas;
}

static void local_openapi(struct front *f, const struct route_req *rq, int *status, json_t **body)
{
	(void)f, (void)rq;
	json_t *paths = json_object();
	for (const struct route *r = routes_next(NULL); r; r = routes_next(r)) {
		json_t *item = json_object_get(paths, r->pattern);
		if (!item) {
			item = json_object();
			json_object_set_new(paths, r->pattern, item);
		}
		json_t *params = json_array();
		for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
			const char *e = strchr(p, '}');
			if (!e)
				break;
			json_array_append_new(params, json_pack("{s:s#, s:s, s:b, s:{s:s}}", "name", p + 1,
								(int)(e - p - 1), "in", "path", "required", 1,
								"schema", "type", "string"));
		}
		char method[16];
		snprintf(method, sizeof(method), "%s", http_method_name(r->method));
		for (char *c = method; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		char ok[8];
		snprintf(ok, sizeof(ok), "%d", r->ok_status ? r->ok_status : 200);
		json_t *op = json_pack(
			"{s:s, s:s, s:o, s:{s:{s:s, s:{s:{s:{s:s}}}}, s:{s:s, s:{s:{s:{s:s}}}}}}",
			"summary", r->summary, "x-required-role", role_name(r->role), "parameters", params,
			"responses", ok, "description", "success", "content",
			r->content_type ? r->content_type : "application/json", "schema",
			"type", r->content_type ? "string" : "object", "default", "description", "error", "content", "application/json",
			"schema", "$ref", "#/components/schemas/Error");
		/* Every route: a browser Origin this frontend does not allow
		 * (frontend/origin.h), or a role too weak. */
		json_object_set_new(json_object_get(op, "responses"), "403",
				    json_pack("{s:s, s:{s:{s:{s:s}}}}", "description",
					      "forbidden: the token's role is too weak for this route, or "
					      "the request carries a browser Origin this frontend does not "
					      "allow",
					      "content", "application/json", "schema", "$ref",
					      "#/components/schemas/Error"));
		if (r->op)
			json_object_set_new(op, "x-control-op", json_string(r->op));
		if (r->role != ROLE_PUBLIC)
			json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
		if (r->method == M_POST || r->method == M_PUT || r->method == M_PATCH)
			json_object_set_new(op, "requestBody",
					    json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 0, "content",
						      "application/json", "schema", "type", "object"));
		json_object_set_new(item, method, op);
	}
	json_t *schemas = event_schemas();
	json_object_set_new(schemas, "Error", json_pack(
		"{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}}, s:[s, s]}}, s:[s]}", "type", "object",
		"properties", "error", "type", "object", "properties", "code", "type", "string",
		"message", "type", "string", "required", "code", "message", "required", "error"));
	*body = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o, s:{s:{s:s, s:s}}}}",
			  "openapi", "3.0.3",
			  "info", "title", "Strata storage API", "version", STRATA_VERSION,
			  "description", "REST over stratad; WebSocket streams under /api/v1/ws/storage "
			  "carry the event schemas below. With a token file, a stream needs "
			  "'Authorization: Bearer TOKEN' or ?ticket= with a short-lived ticket from "
			  "POST /api/v1/ws/ticket (browsers cannot set headers; ?token= still works "
			  "but puts the token in URLs). Browser requests (those with an Origin "
			  "header) are allowed from the frontend's own origin, from the origins given "
			  "with strata-front --allow-origin, and, on a loopback frontend started "
			  "without that option, from loopback origins; any other Origin gets 403 (a "
			  "WebSocket handshake too). Allowed cross-origin answers carry "
			  "Access-Control-Allow-Origin; CORS preflights (OPTIONS with "
			  "Access-Control-Request-Method) are answered 204. Requests without an Origin "
			  "are not affected.",
			  "paths", paths,
			  "components", "schemas", schemas, "securitySchemes", "bearer", "type", "http",
			  "scheme", "bearer");
	*status = *body ? 200 : 500;
}
