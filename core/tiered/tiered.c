/*
 * core/tiered/tiered.c — the tiers engine. The contract, the migration
 * state machine and the recovery rules are in tiered.h; the model in
 * temperature.h; the files in pagemap.h and segment.h.
 *
 * Lock order: a page's stripe lock, then the page map's locks (log_lock,
 * map_lock), then a segment set's lock; the pagestore's own locks last.
 * policy_lock is a leaf (copied out, never held across I/O).
 */
#include "core/tiered/tiered.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "core/emit.h"
#include "core/page.h"
#include "core/pagestore.h"
#include "core/stats.h"
#include "core/tiered/codec.h"
#include "core/tiered/pagemap.h"
#include "core/tiered/segment.h"
#include "core/tiered/temperature.h"
#include "strata/error.h"

#define HOT_MAGIC 0x54485054u /* "TPHT" */
#define HOT_HEADER 16u
#define NSTRIPES 64u
#define LAT_BUCKETS 640u
#define POLICY_VERSION 1u

struct tiered {
	struct pagestore *ps;
	size_t page_size, max_data;
	char dir[4096];                 /* DATA/tiers */
	struct pagemap *pm;
	struct segset *seg[TIER_COUNT]; /* [TIER_WARM], [TIER_COLD] */
	pthread_rwlock_t stripes[NSTRIPES];

	pthread_mutex_t policy_lock;
	struct tiered_policy pol;
	uint64_t rebalances;

	pthread_mutex_t plan_lock;      /* one planner / maintenance at a time */

	_Atomic uint64_t migrations[TIER_COUNT][TIER_COUNT];
	_Atomic uint64_t corrupt_reads;
	_Atomic uint64_t lat[TIER_COUNT][LAT_BUCKETS];
};

static int64_t now_us(void)
{
	return clock_wall_us();
}

/* ---- latency histogram: 16 sub-buckets per power of two (~6%) ---------- */

static unsigned lat_bucket(uint64_t us)
{
	if (us < 32)
		return (unsigned)us;
	unsigned e = 63u - (unsigned)__builtin_clzll(us);
	unsigned b = 32 + (e - 5) * 16 + (unsigned)((us >> (e - 4)) & 15);
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static uint64_t lat_value(unsigned b)
{
	if (b < 32)
		return b;
	unsigned e = (b - 32) / 16 + 5, sub = (b - 32) % 16;
	return ((uint64_t)1 << e) + ((uint64_t)sub << (e - 4));
}

static void lat_summary(_Atomic uint64_t *h, struct tiered_latency *l)
{
	uint64_t counts[LAT_BUCKETS], total = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++)
		total += counts[i] = atomic_load_explicit(&h[i], memory_order_relaxed);
	memset(l, 0, sizeof(*l));
	l->reads = total;
	if (!total)
		return;
	uint64_t p50 = (total + 1) / 2, p99 = total - total / 100, seen = 0;
	bool got50 = false, got99 = false;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		if (!counts[i])
			continue;
		seen += counts[i];
		if (!got50 && seen >= p50) {
			l->p50_us = lat_value(i);
			got50 = true;
		}
		if (!got99 && seen >= p99) {
			l->p99_us = lat_value(i);
			got99 = true;
		}
		l->max_us = lat_value(i);
	}
}

/* ---- policy ------------------------------------------------------------- */

void tiered_policy_default(struct tiered_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->capacity[TIER_HOT] = 1024;
	p->capacity[TIER_WARM] = 4096;
	p->capacity[TIER_COLD] = 0;
	p->hot_threshold = 0.5;  /* = min_hot_temp: a new page (temperature 1) stays Hot until retuned */
	p->cold_threshold = 0.25;
	p->min_hot_temp = 0.5;
	p->min_warm_temp = 0.05;
	p->half_life_s = 300;
	p->hysteresis = 0.1;
	p->adaptive = true;
	p->auto_migrate = true;
	p->lz4_acceleration = 1;
	p->zstd_level = 3;
	p->segment_bytes = 16u << 20;
}

int tiered_policy_check(const struct tiered_policy *p, char *msg, size_t msglen)
{
#define BAD(...) do { snprintf(msg, msglen, __VA_ARGS__); return STRATA_EBAD_REQUEST; } while (0)
	if (p->capacity[TIER_HOT] < 1 || p->capacity[TIER_HOT] > ((uint64_t)1 << 40))
		BAD("hot capacity must be 1..2^40 pages");
	if (p->capacity[TIER_WARM] > ((uint64_t)1 << 40) || p->capacity[TIER_COLD] > ((uint64_t)1 << 40))
		BAD("warm and cold capacities must be 0 (unlimited) .. 2^40 pages");
	if (!isfinite(p->hot_threshold) || p->hot_threshold <= 0 || p->hot_threshold > 1e9)
		BAD("hot_threshold must be a number in (0, 1e9]");
	if (!isfinite(p->cold_threshold) || p->cold_threshold < 0 || p->cold_threshold > p->hot_threshold)
		BAD("cold_threshold must be a number in [0, hot_threshold]");
	if (!isfinite(p->min_hot_temp) || p->min_hot_temp < 0 || p->min_hot_temp > 1e9)
		BAD("min_hot_temp must be a number in [0, 1e9]");
	if (!isfinite(p->min_warm_temp) || p->min_warm_temp < 0 || p->min_warm_temp > p->min_hot_temp)
		BAD("min_warm_temp must be a number in [0, min_hot_temp]");
	if (!isfinite(p->half_life_s) || p->half_life_s < 0.1 || p->half_life_s > 1e8)
		BAD("half_life_s must be a number in [0.1, 1e8]");
	if (!isfinite(p->hysteresis) || p->hysteresis < 0 || p->hysteresis > 0.9)
		BAD("hysteresis must be a number in [0, 0.9]");
	if (p->lz4_acceleration < TIER_LZ4_ACCEL_MIN || p->lz4_acceleration > TIER_LZ4_ACCEL_MAX)
		BAD("lz4_acceleration must be an integer in %d..%d", TIER_LZ4_ACCEL_MIN, TIER_LZ4_ACCEL_MAX);
	if (p->zstd_level < TIER_ZSTD_LEVEL_MIN || p->zstd_level > TIER_ZSTD_LEVEL_MAX)
		BAD("zstd_level must be an integer in %d..%d", TIER_ZSTD_LEVEL_MIN, TIER_ZSTD_LEVEL_MAX);
	if (p->segment_bytes < (64u << 10) || p->segment_bytes > ((uint64_t)1 << 32))
		BAD("segment_bytes must be in 65536..4294967296");
	if (memchr(p->cold_dir, 0, sizeof(p->cold_dir)) == NULL)
		BAD("cold_dir is too long");
#undef BAD
	return 0;
}

static size_t policy_encode(const struct tiered_policy *p, uint8_t *buf, size_t cap)
{
	size_t dl = strlen(p->cold_dir), n = 0;
	if (cap < 128 + dl)
		return 0;
#define PUT(v) do { memcpy(buf + n, &(v), sizeof(v)); n += sizeof(v); } while (0)
	uint32_t ver = POLICY_VERSION, dl32 = (uint32_t)dl;
	uint8_t ad = (uint8_t)(p->adaptive | p->auto_migrate << 1);
	int32_t lz = p->lz4_acceleration, zs = p->zstd_level;
	PUT(ver);
	PUT(p->capacity[0]);
	PUT(p->capacity[1]);
	PUT(p->capacity[2]);
	PUT(p->hot_threshold);
	PUT(p->cold_threshold);
	PUT(p->min_hot_temp);
	PUT(p->min_warm_temp);
	PUT(p->half_life_s);
	PUT(p->hysteresis);
	PUT(ad);
	PUT(lz);
	PUT(zs);
	PUT(p->segment_bytes);
	PUT(dl32);
#undef PUT
	memcpy(buf + n, p->cold_dir, dl);
	return n + dl;
}

static bool policy_decode(const uint8_t *buf, size_t len, struct tiered_policy *p)
{
	size_t n = 0;
	bool ok = true;
#define GET(v) do { if (n + sizeof(v) > len) ok = false; else { memcpy(&(v), buf + n, sizeof(v)); n += sizeof(v); } } while (0)
	uint32_t ver = 0, dl = 0;
	uint8_t ad = 0;
	int32_t lz = 0, zs = 0;
	GET(ver);
	GET(p->capacity[0]);
	GET(p->capacity[1]);
	GET(p->capacity[2]);
	GET(p->hot_threshold);
	GET(p->cold_threshold);
	GET(p->min_hot_temp);
	GET(p->min_warm_temp);
	GET(p->half_life_s);
	GET(p->hysteresis);
	GET(ad);
	GET(lz);
	GET(zs);
	GET(p->segment_bytes);
	GET(dl);
#undef GET
	if (!ok || ver != POLICY_VERSION || dl >= sizeof(p->cold_dir) || n + dl != len)
		return false;
	p->adaptive = (ad & 1) != 0;
	p->auto_migrate = (ad & 2) != 0;
	p->lz4_acceleration = lz;
	p->zstd_level = zs;
	memcpy(p->cold_dir, buf + n, dl);
	p->cold_dir[dl] = '\0';
	char msg[128];
	return tiered_policy_check(p, msg, sizeof(msg)) == 0;
}

static int policy_persist(struct tiered *t, const struct tiered_policy *p)
{
	uint8_t buf[128 + TIERED_COLD_DIR_MAX];
	size_t n = policy_encode(p, buf, sizeof(buf));
	return n ? pm_set_policy(t->pm, buf, n) : STRATA_EINTERNAL;
}

void tiered_get_policy(struct tiered *t, struct tiered_policy *p)
{
	pthread_mutex_lock(&t->policy_lock);
	*p = t->pol;
	pthread_mutex_unlock(&t->policy_lock);
}

int tiered_set_policy(struct tiered *t, const struct tiered_policy *p, char *msg, size_t msglen)
{
	int rv = tiered_policy_check(p, msg, msglen);
	if (rv)
		return rv;
	struct tiered_policy cur;
	tiered_get_policy(t, &cur);
	if (strcmp(cur.cold_dir, p->cold_dir) != 0) {
		snprintf(msg, msglen, "cold_dir cannot change while stratad runs (it is %s)", cur.cold_dir);
		return STRATA_EBAD_REQUEST;
	}
	pthread_mutex_lock(&t->plan_lock);
	if ((rv = policy_persist(t, p)) == 0) {
		pthread_mutex_lock(&t->policy_lock);
		t->pol = *p;
		pthread_mutex_unlock(&t->policy_lock);
	} else {
		snprintf(msg, msglen, "cannot store the policy: %s", strata_strerror(rv));
	}
	pthread_mutex_unlock(&t->plan_lock);
	return rv;
}

static int64_t half_life_us(struct tiered *t)
{
	pthread_mutex_lock(&t->policy_lock);
	int64_t h = (int64_t)(t->pol.half_life_s * 1e6);
	pthread_mutex_unlock(&t->policy_lock);
	return h;
}

/* ---- copies ------------------------------------------------------------- */

static pthread_rwlock_t *stripe(struct tiered *t, uint64_t id)
{
	return &t->stripes[(id * 0x9E3779B97F4A7C15ull) >> 58];
}

size_t tiered_max_data(const struct tiered *t)
{
	return t->max_data;
}

/* Reads and verifies the copy e points at into buf (max_data bytes). */
static int read_copy(struct tiered *t, uint64_t id, const struct pm_entry *e, void *buf,
		     size_t *len)
{
	int rv;
	if (e->tier == TIER_HOT) {
		size_t cap = t->max_data + HOT_HEADER, n = 0;
		uint8_t *rec = malloc(cap);
		if (!rec)
			return STRATA_ENOMEM;
		rv = ps_record_get(t->ps, e->loc, 0, rec, cap, &n);
		if (rv == STRATA_ENOT_FOUND || rv == STRATA_ETOO_LARGE)
			rv = STRATA_ECORRUPT; /* the map points at a page without our record */
		if (rv == 0) {
			uint32_t magic, dl;
			uint64_t rid;
			memcpy(&magic, rec, 4);
			memcpy(&dl, rec + 4, 4);
			memcpy(&rid, rec + 8, 8);
			if (n < HOT_HEADER || magic != HOT_MAGIC || rid != id || dl != n - HOT_HEADER)
				rv = STRATA_ECORRUPT;
			else {
				memcpy(buf, rec + HOT_HEADER, dl);
				*len = dl;
			}
		}
		free(rec);
		return rv;
	}
	if (e->stored_len < SEG_RECORD_HEADER || e->logical_len > t->max_data)
		return STRATA_ECORRUPT;
	uint8_t *rec = malloc(e->stored_len);
	if (!rec)
		return STRATA_ENOMEM;
	struct seg_record r;
	rv = segset_read(t->seg[e->tier], e->seg, e->loc, rec, e->stored_len);
	if (rv == 0)
		rv = seg_record_check(rec, e->stored_len, id, &r);
	if (rv == 0 && (r.logical_len != e->logical_len || r.codec != e->codec || r.tier != e->tier))
		rv = STRATA_ECORRUPT;
	if (rv == 0)
		rv = tier_codec_decompress(r.codec, rec + SEG_RECORD_HEADER, r.stored_len, buf,
					   r.logical_len);
	if (rv == 0 && (crc32c(0, buf, r.logical_len) != r.data_crc || r.data_crc != e->data_crc))
		rv = STRATA_ECORRUPT;
	if (rv == 0)
		*len = r.logical_len;
	free(rec);
	return rv;
}

/* Writes a pagestore page image holding id's record (one logged image, so
 * the page is either the old or the new version after a crash). */
static int write_hot(struct tiered *t, uint64_t page, uint64_t id, const void *data, size_t len)
{
	void *img = NULL;
	if (posix_memalign(&img, 4096, t->page_size) != 0)
		return STRATA_ENOMEM;
	uint8_t *rec = malloc(HOT_HEADER + len);
	if (!rec) {
		free(img);
		return STRATA_ENOMEM;
	}
	uint32_t magic = HOT_MAGIC, dl = (uint32_t)len;
	memcpy(rec, &magic, 4);
	memcpy(rec + 4, &dl, 4);
	memcpy(rec + 8, &id, 8);
	memcpy(rec + HOT_HEADER, data, len);
	page_init(img, t->page_size, page);
	uint16_t slot;
	int rv = page_insert_record(img, t->page_size, rec, HOT_HEADER + len, &slot);
	if (rv == 0 && slot != 0)
		rv = STRATA_EINTERNAL;
	if (rv == 0) {
		page_checksum_update(img, t->page_size);
		void *bufs[1] = {img};
		rv = ps_write_vectored(t->ps, &page, 1, bufs, true);
	}
	free(rec);
	free(img);
	return rv;
}

/* Writes a new copy of data in tier `to` (durable) and describes it in *ne
 * (location fields only). */
static int write_copy(struct tiered *t, uint64_t id, enum tier to, const void *data, size_t len,
		      struct pm_entry *ne)
{
	memset(ne, 0, sizeof(*ne));
	ne->tier = (uint8_t)to;
	ne->logical_len = (uint32_t)len;
	ne->data_crc = crc32c(0, data, len);
	int rv;
	if (to == TIER_HOT) {
		uint64_t page;
		if ((rv = ps_page_alloc(t->ps, false, &page)) != 0)
			return rv;
		/* The intent is durable before the page can be: a crash after
		 * this leaves page on the pending list, never leaked. */
		if ((rv = pm_intent(t->pm, id, page)) != 0) {
			(void)ps_page_free(t->ps, page, false);
			return rv;
		}
		if ((rv = write_hot(t, page, id, data, len)) != 0) {
			if (ps_page_free(t->ps, page, true) == 0)
				pm_pending_done(t->pm, page);
			return rv;
		}
		ne->loc = page;
		return 0;
	}
	struct tiered_policy pol;
	tiered_get_policy(t, &pol);
	int codec = to == TIER_WARM ? TIER_CODEC_LZ4 : TIER_CODEC_ZSTD;
	int level = to == TIER_WARM ? pol.lz4_acceleration : pol.zstd_level;
	size_t bound = tier_codec_bound(len), out = 0;
	uint8_t *rec = malloc(SEG_RECORD_HEADER + bound);
	if (!rec)
		return STRATA_ENOMEM;
	rv = tier_codec_compress(codec, level, data, len, rec + SEG_RECORD_HEADER, bound, &out);
	if (rv == 0 && out >= len) { /* does not shrink: keep it raw */
		codec = TIER_CODEC_NONE;
		memcpy(rec + SEG_RECORD_HEADER, data, len);
		out = len;
	}
	if (rv == 0) {
		struct seg_record r = {.page_id = id, .stored_len = (uint32_t)out,
				       .logical_len = (uint32_t)len, .codec = (uint8_t)codec,
				       .tier = (uint8_t)to, .data_crc = ne->data_crc};
		seg_record_seal(rec, &r);
		uint32_t segno;
		uint64_t off;
		rv = segset_append(t->seg[to], rec, SEG_RECORD_HEADER + out, true, &segno, &off);
		if (rv == 0) {
			ne->codec = (uint8_t)codec;
			ne->seg = segno;
			ne->loc = off;
			ne->stored_len = (uint32_t)(SEG_RECORD_HEADER + out);
		}
	}
	free(rec);
	return rv;
}

/* The copy e points at is no longer mapped: free it. */
static int free_copy(struct tiered *t, const struct pm_entry *e)
{
	if (e->tier == TIER_HOT) {
		int rv = ps_page_free(t->ps, e->loc, true);
		if (rv == 0 || rv == STRATA_ECONFLICT) {
			pm_pending_done(t->pm, e->loc);
			rv = 0;
		}
		return rv; /* otherwise it stays pending: checked at the next open */
	}
	return segset_release(t->seg[e->tier], e->seg, e->loc, e->stored_len);
}

static void count_corrupt(struct tiered *t, int rv)
{
	if (rv == STRATA_ECORRUPT)
		atomic_fetch_add(&t->corrupt_reads, 1);
}

/* ---- pages -------------------------------------------------------------- */

int tiered_store(struct tiered *t, const void *data, size_t len, uint64_t *id_out)
{
	if (len > t->max_data || (!data && len))
		return STRATA_EBAD_REQUEST;
	if (!data)
		data = "";
	uint64_t id = pm_alloc_id(t->pm);
	pthread_rwlock_t *l = stripe(t, id);
	pthread_rwlock_wrlock(l);
	struct pm_entry ne;
	int rv = write_copy(t, id, TIER_HOT, data, len, &ne);
	if (rv == 0) {
		ne.score = 1.0;
		ne.touched_us = now_us();
		ne.accesses = 1;
		if ((rv = pm_set(t->pm, id, &ne, 0, true)) != 0)
			(void)free_copy(t, &ne); /* never mapped: pending if this fails */
	}
	pthread_rwlock_unlock(l);
	if (rv == 0)
		*id_out = id;
	return rv;
}

int tiered_get(struct tiered *t, uint64_t id, void *buf, size_t cap, size_t *len,
	       enum tier *tier)
{
	uint64_t t0 = clock_mono_us();
	pthread_rwlock_t *l = stripe(t, id);
	pthread_rwlock_rdlock(l);
	struct pm_entry e;
	int rv;
	if (!pm_get(t->pm, id, &e)) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	*len = e.logical_len;
	if (cap < e.logical_len && e.tier != TIER_HOT) {
		rv = STRATA_ETOO_LARGE;
		goto out;
	}
	uint8_t *tmp = cap >= t->max_data ? buf : malloc(t->max_data);
	if (!tmp) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	rv = read_copy(t, id, &e, tmp, len);
	if (rv == 0 && *len > cap)
		rv = STRATA_ETOO_LARGE;
	else if (rv == 0 && tmp != buf)
		memcpy(buf, tmp, *len);
	if (tmp != buf)
		free(tmp);
	count_corrupt(t, rv);
	if (rv == 0) {
		pm_touch(t->pm, id, now_us(), half_life_us(t));
		if (tier)
			*tier = (enum tier)e.tier;
		uint64_t us = clock_mono_us() - t0;
		atomic_fetch_add_explicit(&t->lat[e.tier][lat_bucket(us)], 1, memory_order_relaxed);
	}
out:
	pthread_rwlock_unlock(l);
	return rv;
}

int tiered_update(struct tiered *t, uint64_t id, const void *data, size_t len)
{
	if (len > t->max_data || (!data && len))
		return STRATA_EBAD_REQUEST;
	if (!data)
		data = "";
	pthread_rwlock_t *l = stripe(t, id);
	pthread_rwlock_wrlock(l);
	struct pm_entry e, ne;
	int rv;
	if (!pm_get(t->pm, id, &e)) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	if (e.tier == TIER_HOT) {
		/* In place: one logged page image. */
		if ((rv = write_hot(t, e.loc, id, data, len)) != 0)
			goto out;
		ne = e;
		ne.logical_len = (uint32_t)len;
		ne.data_crc = crc32c(0, data, len);
		/* The bytes are durable (redo log); the length in the map only
		 * feeds the figures, and a hot page's record carries its own. */
		rv = pm_set(t->pm, id, &ne, 0, false);
	} else {
		if ((rv = write_copy(t, id, (enum tier)e.tier, data, len, &ne)) != 0)
			goto out;
		if ((rv = pm_set(t->pm, id, &ne, 0, true)) != 0) {
			(void)free_copy(t, &ne);
			goto out;
		}
		(void)free_copy(t, &e);
	}
	pm_touch(t->pm, id, now_us(), half_life_us(t));
out:
	pthread_rwlock_unlock(l);
	return rv;
}

int tiered_delete(struct tiered *t, uint64_t id)
{
	pthread_rwlock_t *l = stripe(t, id);
	pthread_rwlock_wrlock(l);
	struct pm_entry e;
	int rv = STRATA_ENOT_FOUND;
	if (pm_get(t->pm, id, &e)) {
		rv = pm_delete(t->pm, id, e.tier == TIER_HOT ? e.loc : 0, true);
		if (rv == 0)
			(void)free_copy(t, &e);
	}
	pthread_rwlock_unlock(l);
	return rv;
}

static void emit_migrated(uint64_t id, int from, int to, const char *reason)
{
	struct strata_event ev = {.variant = STRATA_EV_PageMigrated};
	ev.u.PageMigrated.page_id = id;
	snprintf(ev.u.PageMigrated.from_tier, sizeof(ev.u.PageMigrated.from_tier), "%s", tier_name(from));
	snprintf(ev.u.PageMigrated.to_tier, sizeof(ev.u.PageMigrated.to_tier), "%s", tier_name(to));
	snprintf(ev.u.PageMigrated.reason, sizeof(ev.u.PageMigrated.reason), "%s", reason);
	emit_rare(&ev);
}

/* The move itself (tiered.h's state machine). rewrite: a new copy in the
 * same tier (segment compaction). */
static int move_page(struct tiered *t, uint64_t id, enum tier to, bool rewrite, const char *reason,
		     bool *moved)
{
	*moved = false;
	pthread_rwlock_t *l = stripe(t, id);
	pthread_rwlock_wrlock(l);
	struct pm_entry e, ne;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = 0;
	if (!pm_get(t->pm, id, &e)) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	if (e.tier == to && !rewrite)
		goto out;
	if (!(buf = malloc(t->max_data ? t->max_data : 1))) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	/* 1 → 2: the old copy must be good, or nothing moves. */
	if ((rv = read_copy(t, id, &e, buf, &len)) != 0) {
		count_corrupt(t, rv);
		goto out;
	}
	if ((rv = write_copy(t, id, to, buf, len, &ne)) != 0)
		goto out;
	/* 2 → 3: the switch. */
	if ((rv = pm_set(t->pm, id, &ne, e.tier == TIER_HOT ? e.loc : 0, true)) != 0) {
		(void)free_copy(t, &ne);
		goto out;
	}
	/* 3 → 4 */
	(void)free_copy(t, &e);
	*moved = true;
	atomic_fetch_add(&t->migrations[e.tier][to], 1);
out:
	pthread_rwlock_unlock(l);
	free(buf);
	if (*moved && !rewrite) {
		stat_add(&core_stats()->tiers.migrations, 1);
		emit_migrated(id, e.tier, to, reason);
	}
	return rv;
}

int tiered_migrate_page(struct tiered *t, uint64_t id, enum tier to, const char *reason,
			bool *moved)
{
	if ((unsigned)to >= TIER_COUNT)
		return STRATA_EBAD_REQUEST;
	bool m;
	int rv = move_page(t, id, to, false, reason ? reason : "Requested", &m);
	if (moved)
		*moved = m;
	if (rv == 0 && m) {
		/* A requested move says how hot the page is: give it a temperature
		 * inside its new tier's band, so the background planner does not
		 * move it straight back (its next accesses may, as for any page). */
		struct tiered_policy pol;
		struct tiered_page_info info;
		tiered_get_policy(t, &pol);
		if (tiered_page_info(t, id, &info) == 0) {
			double temp = info.temperature;
			if (to == TIER_HOT && temp < 2 * pol.hot_threshold)
				temp = 2 * pol.hot_threshold;
			else if (to == TIER_WARM && (temp >= pol.hot_threshold || temp < pol.cold_threshold))
				temp = (pol.hot_threshold + pol.cold_threshold) / 2;
			else if (to == TIER_COLD && temp >= pol.cold_threshold)
				temp = pol.cold_threshold / 2;
			(void)tiered_set_temperature(t, id, temp);
		}
	}
	return rv;
}

int tiered_set_temperature(struct tiered *t, uint64_t id, double score)
{
	if (!isfinite(score) || score < 0)
		return STRATA_EBAD_REQUEST;
	return pm_set_temperature(t->pm, id, score, now_us()) ? 0 : STRATA_ENOT_FOUND;
}

/* ---- planning ----------------------------------------------------------- */

static void params_of(const struct tiered_policy *p, struct temp_params *tp)
{
	memset(tp, 0, sizeof(*tp));
	tp->hot_th = p->hot_threshold;
	tp->cold_th = p->cold_threshold;
	tp->min_hot = p->min_hot_temp;
	tp->min_warm = p->min_warm_temp;
	tp->hysteresis = p->hysteresis;
	for (int i = 0; i < TIER_COUNT; i++)
		tp->cap[i] = p->capacity[i];
}

/* Every page with its temperature now. */
static int temp_pages(struct tiered *t, int64_t h, struct temp_page **out, size_t *n)
{
	struct pm_item *items;
	size_t k;
	int rv = pm_items(t->pm, &items, &k);
	if (rv)
		return rv;
	struct temp_page *pg = malloc((k ? k : 1) * sizeof(*pg));
	if (!pg) {
		free(items);
		return STRATA_ENOMEM;
	}
	int64_t now = now_us();
	for (size_t i = 0; i < k; i++)
		pg[i] = (struct temp_page){items[i].id,
					   temp_at(items[i].e.score, items[i].e.touched_us, now, h),
					   items[i].e.tier, items[i].e.tier};
	free(items);
	*out = pg;
	*n = k;
	return 0;
}

static void reason_of(const struct temp_move *m, const struct tiered_policy *p, char *buf,
		      size_t len)
{
	if (m->to == TIER_HOT)
		snprintf(buf, len, "Temperature %.2f at or above hot threshold %.2f", m->temp,
			 p->hot_threshold);
	else if (m->from == TIER_HOT && m->temp >= p->hot_threshold)
		snprintf(buf, len, "Hot tier over capacity (temperature %.2f)", m->temp);
	else if (m->from == TIER_HOT && m->to == TIER_WARM)
		snprintf(buf, len, "Temperature %.2f below hot threshold %.2f", m->temp, p->hot_threshold);
	else if (m->to == TIER_COLD && m->temp >= p->cold_threshold)
		snprintf(buf, len, "Warm tier over capacity (temperature %.2f)", m->temp);
	else if (m->to == TIER_COLD)
		snprintf(buf, len, "Temperature %.2f below cold threshold %.2f", m->temp,
			 p->cold_threshold);
	else
		snprintf(buf, len, "Temperature %.2f at or above cold threshold %.2f", m->temp,
			 p->cold_threshold);
}

int tiered_process_migrations(struct tiered *t, size_t max, struct tiered_move *out, size_t cap,
			      size_t *n, uint64_t *pending)
{
	*n = 0;
	if (pending)
		*pending = 0;
	struct tiered_policy pol;
	tiered_get_policy(t, &pol);
	struct temp_params tp;
	params_of(&pol, &tp);
	pthread_mutex_lock(&t->plan_lock);
	struct temp_page *pg;
	size_t np;
	int rv = temp_pages(t, (int64_t)(pol.half_life_s * 1e6), &pg, &np);
	if (rv) {
		pthread_mutex_unlock(&t->plan_lock);
		return rv;
	}
	struct temp_move *moves = malloc((max ? max : 1) * sizeof(*moves));
	if (!moves) {
		free(pg);
		pthread_mutex_unlock(&t->plan_lock);
		return STRATA_ENOMEM;
	}
	size_t nm = 0;
	long mis = temp_plan(pg, np, &tp, moves, max, &nm);
	free(pg);
	size_t done = 0;
	for (size_t i = 0; i < nm; i++) {
		char reason[STRATA_EV_STR_MAX];
		reason_of(&moves[i], &pol, reason, sizeof(reason));
		bool moved = false;
		int r = move_page(t, moves[i].id, (enum tier)moves[i].to, false, reason, &moved);
		if (r == STRATA_ENOT_FOUND)
			continue; /* deleted since the plan */
		if (out && *n < cap)
			out[*n] = (struct tiered_move){moves[i].id, (enum tier)moves[i].from,
						       (enum tier)moves[i].to, r};
		(*n)++;
		if (r == 0 && moved)
			done++;
	}
	pthread_mutex_unlock(&t->plan_lock);
	free(moves);
	if (pending)
		*pending = mis > (long)done ? (uint64_t)(mis - (long)done) : 0;
	return 0;
}

int tiered_maintenance(struct tiered *t, size_t max_compact, bool *changed)
{
	*changed = false;
	struct tiered_policy pol;
	tiered_get_policy(t, &pol);
	int rv = 0;
	pthread_mutex_lock(&t->plan_lock);
	if (pol.adaptive) {
		struct temp_page *pg;
		size_t np;
		if ((rv = temp_pages(t, (int64_t)(pol.half_life_s * 1e6), &pg, &np)) != 0)
			goto out;
		double *temps = malloc((np ? np : 1) * sizeof(double));
		if (!temps) {
			free(pg);
			rv = STRATA_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < np; i++)
			temps[i] = pg[i].temp;
		struct temp_params tp;
		params_of(&pol, &tp);
		double hot, cold;
		temp_retune(temps, np, &tp, 0.5, &hot, &cold);
		free(temps);
		bool moved_th = fabs(hot - pol.hot_threshold) > 0.01 * pol.hot_threshold ||
				fabs(cold - pol.cold_threshold) > 0.01 * (pol.cold_threshold > 0 ? pol.cold_threshold : 1);
		if (moved_th) {
			pthread_mutex_lock(&t->policy_lock);
			t->pol.hot_threshold = hot;
			t->pol.cold_threshold = cold;
			pol = t->pol;
			t->rebalances++;
			pthread_mutex_unlock(&t->policy_lock);
			rv = policy_persist(t, &pol);
			*changed = true;
			/* How many pages the new thresholds put elsewhere. */
			params_of(&pol, &tp);
			size_t nm;
			long mis = temp_plan(pg, np, &tp, NULL, 0, &nm);
			uint64_t cnt[TIER_COUNT] = {0};
			for (size_t i = 0; i < np; i++)
				cnt[pg[i].tier]++;
			struct strata_event ev = {.variant = STRATA_EV_TierRebalanced};
			ev.u.TierRebalanced.pages_moved = mis > 0 ? (uint64_t)mis : 0;
			ev.u.TierRebalanced.hot_pages = cnt[TIER_HOT];
			ev.u.TierRebalanced.warm_pages = cnt[TIER_WARM];
			ev.u.TierRebalanced.cold_pages = cnt[TIER_COLD];
			emit_rare(&ev);
		}
		free(pg);
		if (rv)
			goto out;
	}
	/* Compaction: rewrite the live records of mostly-dead segments. */
	size_t done = 0;
	for (int tier = TIER_WARM; tier <= TIER_COLD && done < max_compact; tier++) {
		uint32_t sparse[16];
		size_t ns = segset_sparse(t->seg[tier], 0.5, sparse, 16);
		if (!ns)
			continue;
		struct pm_item *items;
		size_t k;
		if ((rv = pm_items(t->pm, &items, &k)) != 0)
			goto out;
		for (size_t i = 0; i < k && done < max_compact; i++) {
			if (items[i].e.tier != tier)
				continue;
			for (size_t j = 0; j < ns; j++)
				if (items[i].e.seg == sparse[j]) {
					bool m;
					if (move_page(t, items[i].id, (enum tier)tier, true, "compaction", &m) == 0 && m)
						done++;
					break;
				}
		}
		free(items);
	}
out:
	pthread_mutex_unlock(&t->plan_lock);
	return rv;
}

int tiered_checkpoint(struct tiered *t, uint64_t limit)
{
	if (limit && pm_log_bytes(t->pm) < limit)
		return 0;
	return pm_checkpoint(t->pm);
}

/* ---- figures ------------------------------------------------------------ */

int tiered_page_info(struct tiered *t, uint64_t id, struct tiered_page_info *info)
{
	struct pm_entry e;
	if (!pm_get(t->pm, id, &e))
		return STRATA_ENOT_FOUND;
	memset(info, 0, sizeof(*info));
	info->page_id = id;
	info->tier = (enum tier)e.tier;
	info->logical_len = e.logical_len;
	info->codec = e.codec;
	info->accesses = e.accesses;
	info->last_access_us = e.touched_us;
	info->temperature = temp_at(e.score, e.touched_us, now_us(), half_life_us(t));
	if (e.tier == TIER_HOT) {
		info->hot_page = e.loc;
		info->stored_len = (uint32_t)t->page_size;
	} else {
		info->stored_len = e.stored_len;
		info->segment = e.seg;
		info->offset = e.loc;
		snprintf(info->segment_path, sizeof(info->segment_path), "%s/%08x.seg",
			 segset_dir(t->seg[e.tier]), e.seg);
	}
	return 0;
}

int tiered_get_stats(struct tiered *t, struct tiered_stats *st)
{
	memset(st, 0, sizeof(*st));
	struct pm_item *items;
	size_t k;
	int rv = pm_items(t->pm, &items, &k);
	if (rv)
		return rv;
	for (size_t i = 0; i < k; i++) {
		const struct pm_entry *e = &items[i].e;
		st->pages[e->tier]++;
		st->logical_bytes[e->tier] += e->logical_len;
		st->stored_bytes[e->tier] += e->tier == TIER_HOT ? t->page_size : e->stored_len;
	}
	free(items);
	for (int tier = TIER_WARM; tier <= TIER_COLD; tier++) {
		struct segset_stats ss;
		segset_get_stats(t->seg[tier], &ss);
		st->file_bytes[tier] = ss.file_bytes;
		st->dead_bytes[tier] = ss.dead_bytes;
		st->segments[tier] = ss.segments;
	}
	for (int a = 0; a < TIER_COUNT; a++)
		for (int b = 0; b < TIER_COUNT; b++) {
			uint64_t m = atomic_load(&t->migrations[a][b]);
			st->migrations[a][b] = m;
			if (a != b) {
				st->total_migrations += m;
				if (b < a)
					st->promotions += m;
				else
					st->demotions += m;
			}
		}
	uint64_t lg = st->logical_bytes[TIER_WARM] + st->logical_bytes[TIER_COLD];
	uint64_t sd = st->stored_bytes[TIER_WARM] + st->stored_bytes[TIER_COLD];
	st->avg_compression_ratio = lg ? (double)sd / (double)lg : 1.0;
	st->bytes_saved = lg > sd ? lg - sd : 0;
	st->corrupt_reads = atomic_load(&t->corrupt_reads);
	for (int tier = 0; tier < TIER_COUNT; tier++)
		lat_summary(t->lat[tier], &st->latency[tier]);
	pthread_mutex_lock(&t->policy_lock);
	st->hot_threshold = t->pol.hot_threshold;
	st->cold_threshold = t->pol.cold_threshold;
	st->rebalances = t->rebalances;
	pthread_mutex_unlock(&t->policy_lock);
	return 0;
}

void tiered_emit_stats(struct tiered *t)
{
	struct tiered_stats st;
	if (tiered_get_stats(t, &st) != 0)
		return;
	struct stats_tiers *s = &core_stats()->tiers;
	atomic_store_explicit(&s->hot_pages, st.pages[TIER_HOT], memory_order_relaxed);
	atomic_store_explicit(&s->warm_pages, st.pages[TIER_WARM], memory_order_relaxed);
	atomic_store_explicit(&s->cold_pages, st.pages[TIER_COLD], memory_order_relaxed);
	atomic_store_explicit(&s->bytes_before, st.logical_bytes[TIER_WARM] + st.logical_bytes[TIER_COLD],
			      memory_order_relaxed);
	atomic_store_explicit(&s->bytes_after, st.stored_bytes[TIER_WARM] + st.stored_bytes[TIER_COLD],
			      memory_order_relaxed);
	struct strata_event ev = {.variant = STRATA_EV_TierStats};
	ev.u.TierStats.hot_pages = st.pages[TIER_HOT];
	ev.u.TierStats.warm_pages = st.pages[TIER_WARM];
	ev.u.TierStats.cold_pages = st.pages[TIER_COLD];
	ev.u.TierStats.total_migrations = st.total_migrations;
	ev.u.TierStats.avg_compression_ratio = st.avg_compression_ratio;
	ev.u.TierStats.bytes_saved = st.bytes_saved;
	ev.u.TierStats.events_dropped = atomic_load_explicit(
		&core_stats()->events.dropped[STRATA_FAM_TIERS], memory_order_relaxed);
	ev.ts_us = now_us();
	ev.u.TierStats.timestamp = ev.ts_us / 1000000;
	emit(&ev);
}

/* ---- open / close -------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Pending pagestore pages: free those that hold a copy nobody maps. */
static int recover_pending(struct tiered *t, struct tiered_recovery *rec)
{
	uint64_t *pend;
	size_t np;
	int rv = pm_pending(t->pm, &pend, &np);
	if (rv)
		return rv;
	struct pm_item *items;
	size_t k;
	if ((rv = pm_items(t->pm, &items, &k)) != 0) {
		free(pend);
		return rv;
	}
	uint64_t *hot = malloc((k ? k : 1) * sizeof(uint64_t));
	size_t nh = 0;
	if (!hot) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		if (items[i].e.tier == TIER_HOT)
			hot[nh++] = items[i].e.loc;
	qsort(hot, nh, sizeof(*hot), cmp_u64);
	uint8_t *rec_buf = malloc(t->page_size);
	if (!rec_buf) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < np && rv == 0; i++) {
		uint64_t page = pend[i];
		if (!bsearch(&page, hot, nh, sizeof(*hot), cmp_u64)) {
			size_t n = 0;
			uint32_t magic = 0;
			int r = ps_record_get(t->ps, page, 0, rec_buf, t->page_size, &n);
			if (r == 0 && n >= HOT_HEADER)
				memcpy(&magic, rec_buf, 4);
			if (r == 0 && magic == HOT_MAGIC) {
				r = ps_page_free(t->ps, page, true);
				if (r == 0)
					rec->orphans_freed++;
				else if (r != STRATA_ECONFLICT && r != STRATA_ENOT_FOUND)
					rv = r;
			}
		}
		if (rv == 0)
			pm_pending_done(t->pm, page);
	}
	free(rec_buf);
out:
	free(hot);
	free(items);
	free(pend);
	return rv;
}

int tiered_open(struct tiered **out, const char *data_dir, const char *cold_dir,
		struct pagestore *ps, struct tiered_recovery *rec, char *err, size_t errlen)
{
	struct tiered_recovery local;
	if (!rec)
		rec = &local;
	memset(rec, 0, sizeof(*rec));
	uint64_t t0 = clock_mono_us();
	struct tiered *t = calloc(1, sizeof(*t));
	if (!t)
		return STRATA_ENOMEM;
	t->ps = ps;
	t->page_size = ps_page_size(ps);
	t->max_data = page_max_record(t->page_size) - HOT_HEADER;
	pthread_mutex_init(&t->policy_lock, NULL);
	pthread_mutex_init(&t->plan_lock, NULL);
	for (unsigned i = 0; i < NSTRIPES; i++)
		pthread_rwlock_init(&t->stripes[i], NULL);
	int rv;
	if (snprintf(t->dir, sizeof(t->dir), "%s/tiers", data_dir) >= (int)sizeof(t->dir)) {
		snprintf(err, errlen, "data dir path too long");
		rv = STRATA_EBAD_REQUEST;
		goto fail;
	}
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
		rv = strata_err_from_errno(errno);
		snprintf(err, errlen, "cannot create %s: %s", t->dir, strerror(errno));
		goto fail;
	}
	struct pm_recovery pr;
	if ((rv = pm_open(&t->pm, t->dir, now_us(), &pr, err, errlen)) != 0)
		goto fail;
	rec->log_records = pr.log_records;
	rec->torn_bytes = pr.torn_bytes;

	/* The policy: stored, else the defaults; the cold dir given wins. */
	uint8_t blob[128 + TIERED_COLD_DIR_MAX];
	size_t bl = 0;
	tiered_policy_default(&t->pol);
	bool store_policy = true;
	if (pm_get_policy(t->pm, blob, sizeof(blob), &bl) == 0 && bl > 0) {
		struct tiered_policy p = t->pol;
		if (!policy_decode(blob, bl, &p)) {
			snprintf(err, errlen, "the stored tier policy in %s is damaged", t->dir);
			rv = STRATA_ECORRUPT;
			goto fail;
		}
		t->pol = p;
		store_policy = false;
	}
	char cd[TIERED_COLD_DIR_MAX];
	int n = cold_dir && cold_dir[0] ? snprintf(cd, sizeof(cd), "%s", cold_dir)
		: t->pol.cold_dir[0] ? snprintf(cd, sizeof(cd), "%s", t->pol.cold_dir)
				      : snprintf(cd, sizeof(cd), "%s/cold", data_dir);
	if (n <= 0 || (size_t)n >= sizeof(cd)) {
		snprintf(err, errlen, "cold dir path too long");
		rv = STRATA_EBAD_REQUEST;
		goto fail;
	}
	if (strcmp(cd, t->pol.cold_dir) != 0) {
		memcpy(t->pol.cold_dir, cd, sizeof(cd));
		store_policy = true;
	}
	if (store_policy && (rv = policy_persist(t, &t->pol)) != 0) {
		snprintf(err, errlen, "cannot store the tier policy: %s", strata_strerror(rv));
		goto fail;
	}

	char wd[4200];
	snprintf(wd, sizeof(wd), "%s/warm", t->dir);
	if ((rv = segset_open(&t->seg[TIER_WARM], wd, TIER_WARM, t->pol.segment_bytes)) != 0) {
		snprintf(err, errlen, "cannot open the warm segments in %s: %s", wd, strata_strerror(rv));
		goto fail;
	}
	if ((rv = segset_open(&t->seg[TIER_COLD], cd, TIER_COLD, t->pol.segment_bytes)) != 0) {
		snprintf(err, errlen, "cannot open the cold segments in %s: %s", cd, strata_strerror(rv));
		goto fail;
	}
	struct pm_item *items;
	size_t k;
	if ((rv = pm_items(t->pm, &items, &k)) != 0)
		goto fail;
	for (size_t i = 0; i < k; i++)
		if (items[i].e.tier != TIER_HOT)
			segset_account(t->seg[items[i].e.tier], items[i].e.seg, items[i].e.stored_len);
	free(items);
	rec->pages = k;
	struct segset_stats before[TIER_COUNT], after;
	for (int tier = TIER_WARM; tier <= TIER_COLD; tier++) {
		segset_get_stats(t->seg[tier], &before[tier]);
		if ((rv = segset_drop_empty(t->seg[tier])) != 0) {
			snprintf(err, errlen, "cannot delete empty segments: %s", strata_strerror(rv));
			goto fail;
		}
		segset_get_stats(t->seg[tier], &after);
		rec->segments_dropped += before[tier].segments - after.segments;
	}
	if ((rv = recover_pending(t, rec)) != 0 || (rv = pm_checkpoint(t->pm)) != 0) {
		snprintf(err, errlen, "tier recovery: %s", strata_strerror(rv));
		goto fail;
	}
	rec->duration_us = clock_mono_us() - t0;
	*out = t;
	return 0;
fail:
	segset_close(t->seg[TIER_WARM]);
	segset_close(t->seg[TIER_COLD]);
	if (t->pm) {
		/* No checkpoint of a map we failed to recover fully. */
		pm_close(t->pm);
	}
	for (unsigned i = 0; i < NSTRIPES; i++)
		pthread_rwlock_destroy(&t->stripes[i]);
	pthread_mutex_destroy(&t->policy_lock);
	pthread_mutex_destroy(&t->plan_lock);
	free(t);
	return rv;
}

int tiered_close(struct tiered *t)
{
	if (!t)
		return 0;
	int rv = pm_close(t->pm);
	int r = segset_close(t->seg[TIER_WARM]);
	if (!rv)
		rv = r;
	r = segset_close(t->seg[TIER_COLD]);
	if (!rv)
		rv = r;
	for (unsigned i = 0; i < NSTRIPES; i++)
		pthread_rwlock_destroy(&t->stripes[i]);
	pthread_mutex_destroy(&t->policy_lock);
	pthread_mutex_destroy(&t->plan_lock);
	free(t);
	return rv;
}
