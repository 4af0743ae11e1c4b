/*
 * daemon/ops_tiers.c — tiers.* ops and the tiers module (core/tiered).
 *
 * The module opens the tiers over the page store at start (recovery runs
 * there), publishes TierStats every stats interval (tick hook), and owns
 * one background thread that runs migrations (up to BG_BATCH every
 * BG_PERIOD_MS), the threshold retuning and segment compaction
 * (maintenance, every BG_MAINT_MS) and map checkpoints (when the map log
 * passes BG_CKPT_BYTES).
 *
 * Page bytes travel as base64 in `data`. Tier names are answered as
 * Hot/Warm/Cold and accepted in any case.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/tiered/codec.h"
#include "core/tiered/tiered.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/storage.h"
#include "daemon/stratad.h"
#include "proto/base64.h"
#include "strata/error.h"

#define BG_PERIOD_MS 200
#define BG_BATCH 64
#define BG_MAINT_MS 2000
#define BG_CKPT_BYTES (1u << 20)
#define MIGRATE_MAX 100000
#define READ_MAX 1000

/* ---- the module --------------------------------------------------------- */

static struct {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
} bg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *bg_main(void *arg)
{
	struct stratad *d = arg;
	uint64_t last_maint = clock_mono_us();
	pthread_mutex_lock(&bg.lock);
	while (!bg.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += BG_PERIOD_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		while (!bg.stop && pthread_cond_timedwait(&bg.cond, &bg.lock, &ts) != ETIMEDOUT)
			;
		if (bg.stop)
			break;
		pthread_mutex_unlock(&bg.lock);
		struct tiered_policy pol;
		tiered_get_policy(d->tiered, &pol);
		size_t n;
		if (pol.auto_migrate &&
		    tiered_process_migrations(d->tiered, BG_BATCH, NULL, 0, &n, NULL) != 0)
			fprintf(stderr, "stratad: tiers: background migrations failed\n");
		if (pol.auto_migrate && clock_mono_us() - last_maint >= BG_MAINT_MS * 1000ull) {
			bool changed;
			int rv = tiered_maintenance(d->tiered, BG_BATCH, &changed);
			if (rv)
				fprintf(stderr, "stratad: tiers: maintenance: %s\n", strata_strerror(rv));
			last_maint = clock_mono_us();
		}
		int rv = tiered_checkpoint(d->tiered, BG_CKPT_BYTES);
		if (rv)
			fprintf(stderr, "stratad: tiers: map checkpoint: %s\n", strata_strerror(rv));
		pthread_mutex_lock(&bg.lock);
	}
	pthread_mutex_unlock(&bg.lock);
	return NULL;
}

static int tiers_open(struct stratad *d, char *err, size_t errlen)
{
	struct tiered_recovery rec;
	int rv = tiered_open(&d->tiered, d->data_dir, d->opt.cold_dir[0] ? d->opt.cold_dir : NULL,
			     storage_pages(d->storage), &rec, err,
			     errlen);
	if (rv)
		return rv;
	if (rec.torn_bytes || rec.orphans_freed || rec.log_records)
		printf("stratad: tiers: %llu pages, %llu map records replayed, %llu torn bytes cut, "
		       "%llu orphan copies freed\n",
		       (unsigned long long)rec.pages, (unsigned long long)rec.log_records,
		       (unsigned long long)rec.torn_bytes, (unsigned long long)rec.orphans_freed);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bg.cond, &ca);
	pthread_condattr_destroy(&ca);
	bg.stop = false;
	if (pthread_create(&bg.thread, NULL, bg_main, d) != 0) {
		snprintf(err, errlen, "tiers: cannot start the migration thread");
		pthread_cond_destroy(&bg.cond);
		tiered_close(d->tiered);
		d->tiered = NULL;
		return STRATA_ENOMEM;
	}
	bg.started = true;
	return 0;
}

static void tiers_tick(struct stratad *d)
{
	if (d->tiered)
		tiered_emit_stats(d->tiered);
}

static int tiers_close(struct stratad *d)
{
	if (bg.started) {
		pthread_mutex_lock(&bg.lock);
		bg.stop = true;
		pthread_cond_signal(&bg.cond);
		pthread_mutex_unlock(&bg.lock);
		pthread_join(bg.thread, NULL);
		pthread_cond_destroy(&bg.cond);
		bg.started = false;
	}
	int rv = tiered_close(d->tiered);
	d->tiered = NULL;
	return rv;
}

const struct module module_tiers = {
	.name = "tiers", .open = tiers_open, .tick = tiers_tick, .close = tiers_close,
};

/* ---- helpers ------------------------------------------------------------ */

static int core_error(int rv, const char *what, uint64_t id, char *msg, size_t msglen)
{
	if (rv == STRATA_ENOT_FOUND)
		snprintf(msg, msglen, "no tiered page %llu", (unsigned long long)id);
	else if (rv == STRATA_ECORRUPT)
		snprintf(msg, msglen, "%s: tiered page %llu failed its checksum; no data returned", what,
			 (unsigned long long)id);
	else if (rv == STRATA_EREAD_ONLY)
		snprintf(msg, msglen, "%s: the tier map went read-only after an I/O failure; restart stratad",
			 what);
	else
		snprintf(msg, msglen, "%s: %s", what, strata_strerror(rv));
	return rv;
}

static int arg_data(const json_t *args, size_t max, void **out, size_t *len, char *msg,
		    size_t msglen)
{
	json_t *v = json_object_get(args, "data");
	if (!v) {
		snprintf(msg, msglen, "field 'data' is required (base64)");
		return STRATA_EBAD_REQUEST;
	}
	if (!json_is_string(v)) {
		snprintf(msg, msglen, "field 'data' must be a base64 string");
		return STRATA_EBAD_REQUEST;
	}
	size_t n = json_string_length(v), bad;
	if (n > base64_encoded_len(max) + 4) {
		snprintf(msg, msglen, "field 'data' is larger than a tiered page (%zu bytes)", max);
		return STRATA_ETOO_LARGE;
	}
	void *buf = malloc(n / 4 * 3 + 3);
	if (!buf)
		return STRATA_ENOMEM;
	if (base64_decode(json_string_value(v), n, buf, len, &bad) != 0) {
		free(buf);
		snprintf(msg, msglen, "field 'data' is not valid base64 (at character %zu)", bad);
		return STRATA_EBAD_REQUEST;
	}
	if (*len > max) {
		free(buf);
		snprintf(msg, msglen, "field 'data' is %zu bytes; a tiered page holds at most %zu", *len, max);
		return STRATA_ETOO_LARGE;
	}
	*out = buf;
	return 0;
}

static json_t *b64_json(const void *data, size_t len)
{
	char *s = malloc(base64_encoded_len(len) + 1);
	if (!s)
		return NULL;
	base64_encode(data, len, s);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static int arg_tier(const json_t *args, const char *name, enum tier *out, char *msg, size_t msglen)
{
	const char *s;
	int rv = arg_str(args, name, true, NULL, 16, &s, msg, msglen);
	if (rv)
		return rv;
	if (!tier_parse(s, out)) {
		snprintf(msg, msglen, "field '%s' must be Hot, Warm or Cold (any case), not '%s'", name, s);
		return STRATA_EBAD_REQUEST;
	}
	return 0;
}

/* A flag given as JSON true/false or as the query strings "true"/"1". */
static int arg_flag(const json_t *args, const char *name, bool *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, name);
	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!strcmp(s, "true") || !strcmp(s, "1")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "0"))
			return 0;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return 0;
	}
	snprintf(msg, msglen, "field '%s' must be true or false", name);
	return STRATA_EBAD_REQUEST;
}

static json_t *policy_json(const struct tiered_policy *p)
{
	return json_pack("{s:{s:I, s:I, s:I}, s:{s:f, s:f}, s:f, s:f, s:f, s:f, s:b, s:b, s:i, s:i, s:I, s:s}",
			 "capacities", "Hot", (json_int_t)p->capacity[TIER_HOT], "Warm",
			 (json_int_t)p->capacity[TIER_WARM], "Cold", (json_int_t)p->capacity[TIER_COLD],
			 "thresholds", "hot", p->hot_threshold, "cold", p->cold_threshold,
			 "min_hot_temp", p->min_hot_temp, "min_warm_temp", p->min_warm_temp,
			 "half_life_s", p->half_life_s, "hysteresis", p->hysteresis,
			 "adaptive", p->adaptive, "auto_migrate", p->auto_migrate, "lz4_acceleration", p->lz4_acceleration,
			 "zstd_level", p->zstd_level, "segment_bytes", (json_int_t)p->segment_bytes,
			 "cold_dir", p->cold_dir);
}

/* ---- ops ---------------------------------------------------------------- */

static int op_info(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	(void)args;
	struct tiered_stats st;
	struct tiered_policy p;
	int rv = tiered_get_stats(d->tiered, &st);
	if (rv)
		return core_error(rv, "stats", 0, msg, msglen);
	tiered_get_policy(d->tiered, &p);
	static const char *codec[TIER_COUNT] = {"none", "lz4", "zstd"};
	char warm[4200];
	snprintf(warm, sizeof(warm), "%s/tiers/warm", d->data_dir);
	const char *where[TIER_COUNT] = {"data file (buffer pool)", warm, p.cold_dir};
	json_t *tiers = json_array();
	for (int t = 0; t < TIER_COUNT; t++) {
		json_t *cap = p.capacity[t] ? json_integer((json_int_t)p.capacity[t]) : json_null();
		json_array_append_new(tiers, json_pack(
			"{s:s, s:s, s:s, s:o, s:I, s:f, s:I, s:I}", "name", tier_name(t), "codec", codec[t],
			"location", where[t], "capacity_pages", cap, "pages", (json_int_t)st.pages[t],
			"usage", p.capacity[t] ? (double)st.pages[t] / (double)p.capacity[t] : 0.0,
			"logical_bytes", (json_int_t)st.logical_bytes[t], "stored_bytes",
			(json_int_t)st.stored_bytes[t]));
	}
	*result = json_pack("{s:o, s:{s:f, s:f}, s:o, s:I}", "tiers", tiers, "thresholds", "hot",
			    st.hot_threshold, "cold", st.cold_threshold, "policy", policy_json(&p),
			    "max_page_bytes", (json_int_t)tiered_max_data(d->tiered));
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_stats(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	(void)args;
	struct tiered_stats st;
	int rv = tiered_get_stats(d->tiered, &st);
	if (rv)
		return core_error(rv, "stats", 0, msg, msglen);
	json_t *tiers = json_object(), *mig = json_object();
	for (int t = 0; t < TIER_COUNT; t++) {
		json_t *o = json_pack(
			"{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "pages", (json_int_t)st.pages[t],
			"logical_bytes", (json_int_t)st.logical_bytes[t], "stored_bytes",
			(json_int_t)st.stored_bytes[t], "read_latency_us", "reads",
			(json_int_t)st.latency[t].reads, "p50", (json_int_t)st.latency[t].p50_us, "p99",
			(json_int_t)st.latency[t].p99_us, "max", (json_int_t)st.latency[t].max_us);
		if (t != TIER_HOT) {
			json_object_set_new(o, "file_bytes", json_integer((json_int_t)st.file_bytes[t]));
			json_object_set_new(o, "dead_bytes", json_integer((json_int_t)st.dead_bytes[t]));
			json_object_set_new(o, "segments", json_integer((json_int_t)st.segments[t]));
			json_object_set_new(o, "compression_ratio",
					    json_real(st.logical_bytes[t] ? (double)st.stored_bytes[t] /
										  (double)st.logical_bytes[t]
									    : 1.0));
		}
		json_object_set_new(tiers, tier_name(t), o);
		for (int u = 0; u < TIER_COUNT; u++)
			if (u != t) {
				char k[16];
				snprintf(k, sizeof(k), "%s->%s", tier_name(t), tier_name(u));
				json_object_set_new(mig, k, json_integer((json_int_t)st.migrations[t][u]));
			}
	}
	json_object_set_new(mig, "promotions", json_integer((json_int_t)st.promotions));
	json_object_set_new(mig, "demotions", json_integer((json_int_t)st.demotions));
	*result = json_pack("{s:I, s:I, s:I, s:I, s:f, s:I, s:o, s:o, s:{s:f, s:f}, s:I, s:I}",
			    "hot_pages", (json_int_t)st.pages[TIER_HOT], "warm_pages",
			    (json_int_t)st.pages[TIER_WARM], "cold_pages", (json_int_t)st.pages[TIER_COLD],
			    "total_migrations", (json_int_t)st.total_migrations, "avg_compression_ratio",
			    st.avg_compression_ratio, "bytes_saved", (json_int_t)st.bytes_saved, "tiers",
			    tiers, "migrations", mig, "thresholds", "hot", st.hot_threshold, "cold",
			    st.cold_threshold, "rebalances", (json_int_t)st.rebalances, "corrupt_reads",
			    (json_int_t)st.corrupt_reads);
	return *result ? 0 : STRATA_ENOMEM;
}

static json_t *move_json(uint64_t id, int from, int to)
{
	return json_pack("{s:I, s:s, s:s}", "page_id", (json_int_t)id, "from", tier_name(from), "to",
			 tier_name(to));
}

static int op_migrate(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	json_t *pid = json_object_get(args, "page_id");
	int rv;
	if (pid) {
		uint64_t id;
		enum tier to;
		if (json_object_get(args, "max")) {
			snprintf(msg, msglen, "give either 'page_id' + 'to_tier' or 'max', not both");
			return STRATA_EBAD_REQUEST;
		}
		if ((rv = arg_u64(args, "page_id", true, 0, 1, UINT64_MAX >> 1, &id, msg, msglen)) ||
		    (rv = arg_tier(args, "to_tier", &to, msg, msglen)))
			return rv;
		struct tiered_page_info before;
		if ((rv = tiered_page_info(d->tiered, id, &before)) != 0)
			return core_error(rv, "migrate", id, msg, msglen);
		bool moved;
		if ((rv = tiered_migrate_page(d->tiered, id, to, "Requested by an operator", &moved)) != 0)
			return core_error(rv, "migrate", id, msg, msglen);
		json_t *arr = json_array();
		if (moved)
			json_array_append_new(arr, move_json(id, before.tier, to));
		*result = json_pack("{s:o, s:s}", "migrated", arr, "tier", tier_name(to));
		return *result ? 0 : STRATA_ENOMEM;
	}
	uint64_t max;
	if ((rv = arg_u64(args, "max", false, 100, 1, MIGRATE_MAX, &max, msg, msglen)))
		return rv;
	struct tiered_move *mv = malloc(max * sizeof(*mv));
	if (!mv)
		return STRATA_ENOMEM;
	size_t n;
	uint64_t pending;
	rv = tiered_process_migrations(d->tiered, max, mv, max, &n, &pending);
	if (rv) {
		free(mv);
		return core_error(rv, "migrate", 0, msg, msglen);
	}
	json_t *arr = json_array(), *errs = json_array();
	for (size_t i = 0; i < n && i < max; i++) {
		if (mv[i].result == 0)
			json_array_append_new(arr, move_json(mv[i].page_id, mv[i].from, mv[i].to));
		else
			json_array_append_new(errs, json_pack("{s:I, s:s, s:s}", "page_id",
							      (json_int_t)mv[i].page_id, "code",
							      strata_err_name(mv[i].result), "message",
							      strata_strerror(mv[i].result)));
	}
	free(mv);
	*result = json_pack("{s:o, s:o, s:I}", "migrated", arr, "errors", errs, "pending",
			    (json_int_t)pending);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_maintenance(struct stratad *d, const json_t *args, json_t **result, char *msg,
			  size_t msglen)
{
	uint64_t compact;
	int rv = arg_u64(args, "max_compact", false, 1000, 0, 1000000, &compact, msg, msglen);
	if (rv)
		return rv;
	bool changed;
	if ((rv = tiered_maintenance(d->tiered, compact, &changed)) != 0)
		return core_error(rv, "maintenance", 0, msg, msglen);
	struct tiered_policy p;
	tiered_get_policy(d->tiered, &p);
	*result = json_pack("{s:b, s:{s:f, s:f}}", "thresholds_changed", changed, "thresholds", "hot",
			    p.hot_threshold, "cold", p.cold_threshold);
	return *result ? 0 : STRATA_ENOMEM;
}

static json_t *page_json(const struct tiered_page_info *in)
{
	json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:s, s:f, s:I, s:I}", "page_id",
			      (json_int_t)in->page_id, "tier", tier_name(in->tier), "length",
			      (json_int_t)in->logical_len, "stored_bytes", (json_int_t)in->stored_len,
			      "codec", in->tier == TIER_HOT ? "none" : tier_codec_name(in->codec),
			      "temperature", in->temperature, "accesses", (json_int_t)in->accesses,
			      "last_access_us", (json_int_t)in->last_access_us);
	if (!o)
		return NULL;
	if (in->tier == TIER_HOT) {
		json_object_set_new(o, "hot_page_id", json_integer((json_int_t)in->hot_page));
	} else {
		json_object_set_new(o, "segment", json_integer(in->segment));
		json_object_set_new(o, "offset", json_integer((json_int_t)in->offset));
		json_object_set_new(o, "segment_path", json_string(in->segment_path));
	}
	return o;
}

static int op_page(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	uint64_t id;
	bool with_data;
	int rv;
	if ((rv = arg_u64(args, "page_id", true, 0, 1, UINT64_MAX >> 1, &id, msg, msglen)) ||
	    (rv = arg_flag(args, "data", &with_data, msg, msglen)))
		return rv;
	struct tiered_page_info in;
	if ((rv = tiered_page_info(d->tiered, id, &in)) != 0)
		return core_error(rv, "page", id, msg, msglen);
	json_t *o = page_json(&in);
	if (!o)
		return STRATA_ENOMEM;
	if (with_data) {
		size_t max = tiered_max_data(d->tiered), len;
		void *buf = malloc(max);
		enum tier from;
		if (!buf) {
			json_decref(o);
			return STRATA_ENOMEM;
		}
		rv = tiered_get(d->tiered, id, buf, max, &len, &from);
		if (rv == 0) {
			json_object_set_new(o, "data", b64_json(buf, len));
			json_object_set_new(o, "length", json_integer((json_int_t)len));
			json_object_set_new(o, "tier", json_string(tier_name(from)));
		}
		free(buf);
		if (rv) {
			json_decref(o);
			return core_error(rv, "read", id, msg, msglen);
		}
	}
	*result = o;
	return 0;
}

static int op_read(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	json_t *ids = json_object_get(args, "page_ids");
	if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > READ_MAX) {
		snprintf(msg, msglen, "field 'page_ids' must be an array of 1..%d page ids", READ_MAX);
		return STRATA_EBAD_REQUEST;
	}
	size_t max = tiered_max_data(d->tiered);
	void *buf = malloc(max);
	json_t *pages = json_array();
	if (!buf || !pages) {
		free(buf);
		json_decref(pages);
		return STRATA_ENOMEM;
	}
	int rv = 0;
	for (size_t i = 0; i < json_array_size(ids); i++) {
		json_t *v = json_array_get(ids, i);
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			snprintf(msg, msglen, "page_ids[%zu] must be a positive integer", i);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		uint64_t id = (uint64_t)json_integer_value(v);
		size_t len;
		enum tier from;
		if ((rv = tiered_get(d->tiered, id, buf, max, &len, &from)) != 0) {
			core_error(rv, "read", id, msg, msglen);
			break;
		}
		json_array_append_new(pages, json_pack("{s:I, s:s, s:o}", "page_id", (json_int_t)id,
						       "tier", tier_name(from), "data", b64_json(buf, len)));
	}
	free(buf);
	if (rv) {
		json_decref(pages);
		return rv;
	}
	*result = json_pack("{s:o}", "pages", pages);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_store(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	void *data;
	size_t len;
	int rv = arg_data(args, tiered_max_data(d->tiered), &data, &len, msg, msglen);
	if (rv)
		return rv;
	uint64_t id;
	rv = tiered_store(d->tiered, data, len, &id);
	free(data);
	if (rv)
		return core_error(rv, "store", 0, msg, msglen);
	*result = json_pack("{s:I, s:s, s:I}", "page_id", (json_int_t)id, "tier", "Hot", "length",
			    (json_int_t)len);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_update(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	uint64_t id;
	void *data;
	size_t len;
	int rv = arg_u64(args, "page_id", true, 0, 1, UINT64_MAX >> 1, &id, msg, msglen);
	if (rv || (rv = arg_data(args, tiered_max_data(d->tiered), &data, &len, msg, msglen)))
		return rv;
	rv = tiered_update(d->tiered, id, data, len);
	free(data);
	if (rv)
		return core_error(rv, "update", id, msg, msglen);
	struct tiered_page_info in;
	if ((rv = tiered_page_info(d->tiered, id, &in)) != 0)
		return core_error(rv, "update", id, msg, msglen);
	*result = json_pack("{s:I, s:s, s:I}", "page_id", (json_int_t)id, "tier", tier_name(in.tier),
			    "length", (json_int_t)len);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_delete(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	uint64_t id;
	int rv = arg_u64(args, "page_id", true, 0, 1, UINT64_MAX >> 1, &id, msg, msglen);
	if (rv)
		return rv;
	if ((rv = tiered_delete(d->tiered, id)) != 0)
		return core_error(rv, "delete", id, msg, msglen);
	*result = json_pack("{s:I, s:b}", "page_id", (json_int_t)id, "deleted", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_policy(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	struct tiered_policy p;
	tiered_get_policy(d->tiered, &p);
	*result = policy_json(&p);
	return *result ? 0 : STRATA_ENOMEM;
}

/* A number field into *out (unchanged when absent). */
static int num_field(const json_t *obj, const char *name, const char *label, double *out,
		     char *msg, size_t msglen)
{
	json_t *v = json_object_get(obj, name);
	if (!v)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v))) {
		snprintf(msg, msglen, "field '%s' must be a number", label);
		return STRATA_EBAD_REQUEST;
	}
	*out = json_number_value(v);
	return 0;
}

static int int_field(const json_t *obj, const char *name, const char *label, int64_t lo, int64_t hi,
		     int64_t *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(obj, name);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(msg, msglen, "field '%s' must be an integer in %lld..%lld", label, (long long)lo,
			 (long long)hi);
		return STRATA_EBAD_REQUEST;
	}
	*out = json_integer_value(v);
	return 0;
}

static int op_policy_set(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	static const char *known[] = {"capacities", "thresholds", "hot_capacity", "warm_capacity",
				      "cold_capacity", "hot_threshold", "cold_threshold",
				      "min_hot_temp", "min_warm_temp", "half_life_s", "hysteresis",
				      "adaptive", "lz4_acceleration", "zstd_level", "segment_bytes",
				      "cold_dir", "codec_levels", "auto_migrate", NULL};
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)args, k, v) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(k, known[i]) == 0;
		if (!ok) {
			snprintf(msg, msglen, "unknown policy field '%s'", k);
			return STRATA_EBAD_REQUEST;
		}
	}
	struct tiered_policy p;
	tiered_get_policy(d->tiered, &p);
	int rv = 0;
	int64_t iv;
	/* capacities: flat fields or {"capacities":{"hot":N,...}} (any case) */
	static const char *capname[TIER_COUNT] = {"hot_capacity", "warm_capacity", "cold_capacity"};
	for (int t = 0; t < TIER_COUNT && !rv; t++) {
		iv = (int64_t)p.capacity[t];
		if ((rv = int_field(args, capname[t], capname[t], 0, (int64_t)1 << 40, &iv, msg, msglen)) == 0)
			p.capacity[t] = (uint64_t)iv;
	}
	json_t *caps = json_object_get(args, "capacities");
	if (!rv && caps) {
		if (!json_is_object(caps)) {
			snprintf(msg, msglen, "field 'capacities' must be an object {\"Hot\":N, ...}");
			return STRATA_EBAD_REQUEST;
		}
		json_object_foreach(caps, k, v) {
			enum tier t;
			if (!tier_parse(k, &t)) {
				snprintf(msg, msglen, "capacities: '%s' is not a tier (Hot, Warm, Cold)", k);
				return STRATA_EBAD_REQUEST;
			}
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > ((json_int_t)1 << 40)) {
				snprintf(msg, msglen, "capacities.%s must be an integer in 0..2^40", k);
				return STRATA_EBAD_REQUEST;
			}
			p.capacity[t] = (uint64_t)json_integer_value(v);
		}
	}
	json_t *th = json_object_get(args, "thresholds");
	if (!rv && th && !json_is_object(th)) {
		snprintf(msg, msglen, "field 'thresholds' must be an object {\"hot\":x, \"cold\":y}");
		return STRATA_EBAD_REQUEST;
	}
	json_t *cl = json_object_get(args, "codec_levels");
	if (!rv && cl && !json_is_object(cl)) {
		snprintf(msg, msglen, "field 'codec_levels' must be an object {\"lz4_acceleration\":a, \"zstd_level\":z}");
		return STRATA_EBAD_REQUEST;
	}
	if (!rv)
		rv = num_field(args, "hot_threshold", "hot_threshold", &p.hot_threshold, msg, msglen);
	if (!rv)
		rv = num_field(args, "cold_threshold", "cold_threshold", &p.cold_threshold, msg, msglen);
	if (!rv && th)
		rv = num_field(th, "hot", "thresholds.hot", &p.hot_threshold, msg, msglen);
	if (!rv && th)
		rv = num_field(th, "cold", "thresholds.cold", &p.cold_threshold, msg, msglen);
	if (!rv)
		rv = num_field(args, "min_hot_temp", "min_hot_temp", &p.min_hot_temp, msg, msglen);
	if (!rv)
		rv = num_field(args, "min_warm_temp", "min_warm_temp", &p.min_warm_temp, msg, msglen);
	if (!rv)
		rv = num_field(args, "half_life_s", "half_life_s", &p.half_life_s, msg, msglen);
	if (!rv)
		rv = num_field(args, "hysteresis", "hysteresis", &p.hysteresis, msg, msglen);
	for (int pass = 0; pass < 2 && !rv; pass++) {
		const json_t *src = pass == 0 ? args : cl;
		if (!src)
			continue;
		iv = p.lz4_acceleration;
		if ((rv = int_field(src, "lz4_acceleration", "lz4_acceleration", TIER_LZ4_ACCEL_MIN,
				    TIER_LZ4_ACCEL_MAX, &iv, msg, msglen)) == 0)
			p.lz4_acceleration = (int)iv;
		iv = p.zstd_level;
		if (!rv && (rv = int_field(src, "zstd_level", "zstd_level", TIER_ZSTD_LEVEL_MIN,
					   TIER_ZSTD_LEVEL_MAX, &iv, msg, msglen)) == 0)
			p.zstd_level = (int)iv;
	}
	iv = (int64_t)p.segment_bytes;
	if (!rv && (rv = int_field(args, "segment_bytes", "segment_bytes", 65536, (int64_t)1 << 32, &iv,
				   msg, msglen)) == 0)
		p.segment_bytes = (uint64_t)iv;
	if (!rv && (v = json_object_get(args, "adaptive")) != NULL) {
		if (!json_is_boolean(v)) {
			snprintf(msg, msglen, "field 'adaptive' must be true or false");
			return STRATA_EBAD_REQUEST;
		}
		p.adaptive = json_is_true(v);
	}
	if (!rv && (v = json_object_get(args, "auto_migrate")) != NULL) {
		if (!json_is_boolean(v)) {
			snprintf(msg, msglen, "field 'auto_migrate' must be true or false");
			return STRATA_EBAD_REQUEST;
		}
		p.auto_migrate = json_is_true(v);
	}
	if (!rv && (v = json_object_get(args, "cold_dir")) != NULL &&
	    (!json_is_string(v) || strcmp(json_string_value(v), p.cold_dir) != 0)) {
		snprintf(msg, msglen, "field 'cold_dir' cannot change while stratad runs (it is %s; "
			 "start stratad with the new cold dir)", p.cold_dir);
		return STRATA_EBAD_REQUEST;
	}
	if (rv)
		return rv;
	if ((rv = tiered_set_policy(d->tiered, &p, msg, msglen)) != 0)
		return rv;
	tiered_get_policy(d->tiered, &p);
	*result = policy_json(&p);
	return *result ? 0 : STRATA_ENOMEM;
}

const struct op_def ops_tiers[] = {
	{"tiers.info", op_info, false, false},
	{"tiers.stats", op_stats, false, false},
	{"tiers.migrate", op_migrate, true, false},
	{"tiers.maintenance", op_maintenance, true, false},
	{"tiers.page", op_page, false, false},
	{"tiers.read", op_read, false, false},
	{"tiers.store", op_store, true, false},
	{"tiers.update", op_update, true, false},
	{"tiers.delete", op_delete, true, false},
	{"tiers.policy", op_policy, false, false},
	{"tiers.policy_set", op_policy_set, true, false},
	{0},
};
