#include "core/tiered/pagemap.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "strata/error.h"

#define SNAP_VERSION 1u
#define REC_MAX (1u << 16)       /* a log record's payload is never larger */
#define POLICY_MAX 4096u

enum { REC_SET = 1, REC_INTENT = 2, REC_DEL = 3, REC_POLICY = 4 };

static const char snap_magic[8] = {'S', 'T', 'R', 'M', 'A', 'P', '0', '1'};

struct slot {
	bool present;
	struct pm_entry e;
};

struct pagemap {
	char dir[4096];
	pthread_mutex_t log_lock;   /* the log file, its offset, checkpoints */
	struct sfile *log;
	uint64_t log_gen, log_off;
	bool broken;                /* a log write failed: refuse changes */

	pthread_mutex_t map_lock;   /* everything below */
	struct slot *slots;         /* indexed by id */
	uint64_t nslots, count, next_id;
	uint64_t *pending;
	size_t npending, pending_cap;
	uint8_t policy[POLICY_MAX];
	size_t policy_len;
	int64_t now_us;             /* open time: temperature of log-only pages */
};

/* ---- little-endian buffers ----------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void wb_need(struct wbuf *b, size_t n)
{
	if (b->oom || b->len + n <= b->cap)
		return;
	size_t c = b->cap ? b->cap : 256;
	while (c < b->len + n)
		c *= 2;
	uint8_t *q = realloc(b->p, c);
	if (!q) {
		b->oom = true;
		return;
	}
	b->p = q;
	b->cap = c;
}
static void wb_bytes(struct wbuf *b, const void *src, size_t n)
{
	if (n == 0)
		return;
	wb_need(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, src, n);
	b->len += n;
}
static void wb_u8(struct wbuf *b, uint8_t v)
{
	wb_bytes(b, &v, 1);
}
static void wb_u32(struct wbuf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	wb_bytes(b, x, 4);
}
static void wb_u64(struct wbuf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	wb_bytes(b, x, 8);
}
static void wb_f64(struct wbuf *b, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	wb_u64(b, v);
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};
static const uint8_t *rb_take(struct rbuf *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *q = r->p + r->off;
	r->off += n;
	return q;
}
static uint8_t rb_u8(struct rbuf *r)
{
	const uint8_t *q = rb_take(r, 1);
	return q ? q[0] : 0;
}
static uint32_t rb_u32(struct rbuf *r)
{
	const uint8_t *q = rb_take(r, 4);
	return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24
		 : 0;
}
static uint64_t rb_u64(struct rbuf *r)
{
	uint64_t lo = rb_u32(r);
	return lo | (uint64_t)rb_u32(r) << 32;
}
static double rb_f64(struct rbuf *r)
{
	uint64_t v = rb_u64(r);
	double d;
	memcpy(&d, &v, 8);
	return d;
}

/* ---- in-memory state (map_lock held) ------------------------------------- */

static int slots_ensure(struct pagemap *pm, uint64_t id)
{
	if (id < pm->nslots)
		return 0;
	if (id > (UINT64_MAX >> 8) / sizeof(struct slot))
		return STRATA_ECORRUPT;
	uint64_t n = pm->nslots ? pm->nslots : 1024;
	while (n <= id)
		n *= 2;
	struct slot *s = realloc(pm->slots, n * sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	memset(s + pm->nslots, 0, (n - pm->nslots) * sizeof(*s));
	pm->slots = s;
	pm->nslots = n;
	return 0;
}

static int pending_add(struct pagemap *pm, uint64_t page)
{
	if (!page)
		return 0;
	for (size_t i = 0; i < pm->npending; i++)
		if (pm->pending[i] == page)
			return 0;
	if (pm->npending == pm->pending_cap) {
		size_t c = pm->pending_cap ? pm->pending_cap * 2 : 16;
		uint64_t *p = realloc(pm->pending, c * sizeof(*p));
		if (!p)
			return STRATA_ENOMEM;
		pm->pending = p;
		pm->pending_cap = c;
	}
	pm->pending[pm->npending++] = page;
	return 0;
}

static void pending_remove(struct pagemap *pm, uint64_t page)
{
	for (size_t i = 0; i < pm->npending; i++)
		if (pm->pending[i] == page) {
			pm->pending[i] = pm->pending[--pm->npending];
			return;
		}
}

/* The location fields of e become id's; a new id takes e's temperature
 * (or, with touched_us 0, a fresh one). */
static int apply_set(struct pagemap *pm, uint64_t id, const struct pm_entry *e, uint64_t old_hot)
{
	int rv = slots_ensure(pm, id);
	if (rv)
		return rv;
	struct slot *s = &pm->slots[id];
	if (!s->present) {
		s->e = *e;
		if (s->e.touched_us == 0) {
			s->e.score = 1;
			s->e.touched_us = pm->now_us;
		}
		s->present = true;
		pm->count++;
	} else {
		double score = s->e.score;
		int64_t touched = s->e.touched_us;
		uint64_t acc = s->e.accesses;
		s->e = *e;
		s->e.score = score;
		s->e.touched_us = touched;
		s->e.accesses = acc;
	}
	if (id >= pm->next_id)
		pm->next_id = id + 1;
	if (e->tier == 0 /* TIER_HOT */)
		pending_remove(pm, e->loc);
	return pending_add(pm, old_hot);
}

static int apply_del(struct pagemap *pm, uint64_t id, uint64_t old_hot)
{
	if (id < pm->nslots && pm->slots[id].present) {
		pm->slots[id].present = false;
		pm->count--;
	}
	if (id >= pm->next_id)
		pm->next_id = id + 1;
	return pending_add(pm, old_hot);
}

/* ---- records -------------------------------------------------------------- */

static void enc_set(struct wbuf *b, uint64_t id, const struct pm_entry *e, uint64_t old_hot)
{
	wb_u8(b, REC_SET);
	wb_u64(b, id);
	wb_u8(b, e->tier);
	wb_u8(b, e->codec);
	wb_u32(b, e->seg);
	wb_u64(b, e->loc);
	wb_u32(b, e->stored_len);
	wb_u32(b, e->logical_len);
	wb_u32(b, e->data_crc);
	wb_u64(b, old_hot);
}

/* Applies one log payload (map_lock held). STRATA_ECORRUPT: not a record
 * we write (treated as the end of the log). */
static int apply_record(struct pagemap *pm, const uint8_t *p, size_t len)
{
	struct rbuf r = {p, len, 0, false};
	uint8_t type = rb_u8(&r);
	int rv = 0;
	if (type == REC_SET) {
		struct pm_entry e = {0};
		uint64_t id = rb_u64(&r);
		e.tier = rb_u8(&r);
		e.codec = rb_u8(&r);
		e.seg = rb_u32(&r);
		e.loc = rb_u64(&r);
		e.stored_len = rb_u32(&r);
		e.logical_len = rb_u32(&r);
		e.data_crc = rb_u32(&r);
		uint64_t old = rb_u64(&r);
		if (r.bad || r.off != len || id == 0 || e.tier > 2)
			return STRATA_ECORRUPT;
		rv = apply_set(pm, id, &e, old);
	} else if (type == REC_INTENT || type == REC_DEL) {
		uint64_t id = rb_u64(&r), page = rb_u64(&r);
		if (r.bad || r.off != len || id == 0)
			return STRATA_ECORRUPT;
		if (type == REC_INTENT) {
			if ((rv = slots_ensure(pm, id)) == 0)
				rv = pending_add(pm, page);
			if (id >= pm->next_id)
				pm->next_id = id + 1;
		} else {
			rv = apply_del(pm, id, page);
		}
	} else if (type == REC_POLICY) {
		if (len - 1 > POLICY_MAX)
			return STRATA_ECORRUPT;
		memcpy(pm->policy, p + 1, len - 1);
		pm->policy_len = len - 1;
	} else {
		return STRATA_ECORRUPT;
	}
	return rv;
}

/* Appends one record (log_lock held), synced when asked. */
static int log_append(struct pagemap *pm, const struct wbuf *payload, bool sync)
{
	if (pm->broken)
		return STRATA_EREAD_ONLY;
	if (payload->oom)
		return STRATA_ENOMEM;
	size_t n = 8 + payload->len;
	uint8_t stackbuf[256], *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
	if (!buf)
		return STRATA_ENOMEM;
	memcpy(buf + 8, payload->p, payload->len);
	uint32_t len = (uint32_t)payload->len;
	for (int i = 0; i < 4; i++)
		buf[4 + i] = (uint8_t)(len >> (8 * i));
	uint32_t crc = crc32c(0, buf + 4, n - 4);
	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)(crc >> (8 * i));
	int rv = file_pwrite(pm->log, buf, n, pm->log_off);
	if (rv == 0 && sync)
		rv = file_sync(pm->log);
	if (buf != stackbuf)
		free(buf);
	if (rv) {
		pm->broken = true;
		return rv;
	}
	pm->log_off += n;
	return 0;
}

/* ---- files ---------------------------------------------------------------- */

static int log_path(const struct pagemap *pm, uint64_t gen, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/map-%016" PRIx64 ".log", pm->dir, gen);
	return n > 0 && (size_t)n < len ? 0 : STRATA_EBAD_REQUEST;
}

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
	struct sfile *f;
	int rv = file_open(&f, path, FILE_RDONLY, "tiermap");
	if (rv)
		return rv;
	uint64_t size;
	if ((rv = file_size(f, &size)) != 0)
		goto out;
	if (size > ((uint64_t)1 << 34)) {
		rv = STRATA_ECORRUPT;
		goto out;
	}
	*out = malloc(size ? size : 1);
	if (!*out) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	*len = size;
	if ((rv = file_pread(f, *out, size, 0)) != 0) {
		free(*out);
		*out = NULL;
	}
out:
	file_close(f);
	return rv;
}

static int load_snapshot(struct pagemap *pm, struct pm_recovery *rec, char *err, size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/map.snap", pm->dir);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv = read_whole(path, &buf, &len);
	if (rv == STRATA_ENOT_FOUND) {
		pm->log_gen = 1;
		return 0;
	}
	if (rv) {
		snprintf(err, errlen, "cannot read %s: %s", path, strata_strerror(rv));
		return rv;
	}
	rv = STRATA_ECORRUPT;
	if (len < 4 || crc32c(0, buf, len - 4) !=
			       ((uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
				(uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24)) {
		snprintf(err, errlen, "%s fails its checksum: the tier page map is damaged", path);
		goto out;
	}
	struct rbuf r = {buf, len - 4, 0, false};
	const uint8_t *magic = rb_take(&r, 8);
	uint32_t version = rb_u32(&r);
	(void)rb_u32(&r);
	pm->log_gen = rb_u64(&r);
	pm->next_id = rb_u64(&r);
	uint64_t count = rb_u64(&r), npend = rb_u64(&r);
	uint32_t plen = rb_u32(&r);
	if (r.bad || memcmp(magic, snap_magic, 8) != 0 || version != SNAP_VERSION ||
	    plen > POLICY_MAX || pm->log_gen == 0) {
		snprintf(err, errlen, "%s is not a tier page map of this version", path);
		goto out;
	}
	const uint8_t *pol = rb_take(&r, plen);
	if (pol) {
		memcpy(pm->policy, pol, plen);
		pm->policy_len = plen;
	}
	for (uint64_t i = 0; i < npend && !r.bad; i++)
		if ((rv = pending_add(pm, rb_u64(&r))) != 0)
			goto out;
	rv = STRATA_ECORRUPT;
	for (uint64_t i = 0; i < count && !r.bad; i++) {
		uint64_t id = rb_u64(&r);
		struct pm_entry e = {0};
		e.tier = rb_u8(&r);
		e.codec = rb_u8(&r);
		e.seg = rb_u32(&r);
		e.loc = rb_u64(&r);
		e.stored_len = rb_u32(&r);
		e.logical_len = rb_u32(&r);
		e.data_crc = rb_u32(&r);
		e.score = rb_f64(&r);
		e.touched_us = (int64_t)rb_u64(&r);
		e.accesses = rb_u64(&r);
		if (r.bad || id == 0 || e.tier > 2)
			break;
		int r2 = apply_set(pm, id, &e, 0);
		if (r2) {
			rv = r2;
			goto out;
		}
	}
	if (r.bad || r.off != r.len || pm->count != count) {
		snprintf(err, errlen, "%s is truncated or malformed", path);
		goto out;
	}
	rec->had_snapshot = true;
	rv = 0;
out:
	free(buf);
	return rv;
}

static int replay_log(struct pagemap *pm, struct pm_recovery *rec, char *err, size_t errlen)
{
	char path[4200];
	int rv = log_path(pm, pm->log_gen, path, sizeof(path));
	if (rv)
		return rv;
	if ((rv = file_open(&pm->log, path, FILE_CREATE, "tiermap")) != 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strata_strerror(rv));
		return rv;
	}
	uint64_t size;
	if ((rv = file_size(pm->log, &size)) != 0)
		return rv;
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return STRATA_ENOMEM;
	if ((rv = file_pread(pm->log, buf, size, 0)) != 0) {
		free(buf);
		return rv;
	}
	uint64_t off = 0;
	while (size - off >= 8) {
		uint32_t crc = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
			       (uint32_t)buf[off + 2] << 16 | (uint32_t)buf[off + 3] << 24;
		uint32_t len = (uint32_t)buf[off + 4] | (uint32_t)buf[off + 5] << 8 |
			       (uint32_t)buf[off + 6] << 16 | (uint32_t)buf[off + 7] << 24;
		if (len == 0 || len > REC_MAX || size - off - 8 < len ||
		    crc32c(0, buf + off + 4, 4 + (size_t)len) != crc)
			break;
		rv = apply_record(pm, buf + off + 8, len);
		if (rv == STRATA_ECORRUPT)
			break; /* a checksummed record we never write: end of the log */
		if (rv) {
			free(buf);
			return rv;
		}
		rec->log_records++;
		off += 8 + len;
	}
	free(buf);
	if (off < size) {
		rec->torn_bytes = size - off;
		if ((rv = file_truncate(pm->log, off)) != 0 || (rv = file_sync(pm->log)) != 0) {
			snprintf(err, errlen, "cannot cut the torn tail of %s: %s", path,
				 strata_strerror(rv));
			return rv;
		}
	}
	pm->log_off = off;
	return 0;
}

/* Deletes map-*.log files of other generations. */
static int drop_other_logs(struct pagemap *pm)
{
	DIR *dh = opendir(pm->dir);
	if (!dh)
		return strata_err_from_errno(errno);
	struct dirent *de;
	int rv = 0;
	bool removed = false;
	while ((de = readdir(dh)) != NULL) {
		if (strncmp(de->d_name, "map-", 4) != 0 || strlen(de->d_name) != 24 ||
		    strcmp(de->d_name + 20, ".log") != 0)
			continue;
		uint64_t gen = strtoull(de->d_name + 4, NULL, 16);
		if (gen == pm->log_gen)
			continue;
		char path[4200];
		if (log_path(pm, gen, path, sizeof(path)) != 0)
			continue;
		if (remove(path) != 0 && errno != ENOENT) {
			rv = strata_err_from_errno(errno);
			break;
		}
		removed = true;
	}
	closedir(dh);
	if (rv == 0 && removed)
		rv = file_sync_dir(pm->dir);
	return rv;
}

int pm_open(struct pagemap **out, const char *dir, int64_t now_us, struct pm_recovery *rec,
	    char *err, size_t errlen)
{
	struct pm_recovery local;
	if (!rec)
		rec = &local;
	memset(rec, 0, sizeof(*rec));
	struct pagemap *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return STRATA_ENOMEM;
	if (snprintf(pm->dir, sizeof(pm->dir), "%s", dir) >= (int)sizeof(pm->dir)) {
		free(pm);
		snprintf(err, errlen, "path too long: %s", dir);
		return STRATA_EBAD_REQUEST;
	}
	pthread_mutex_init(&pm->log_lock, NULL);
	pthread_mutex_init(&pm->map_lock, NULL);
	pm->next_id = 1;
	pm->now_us = now_us;
	int rv = load_snapshot(pm, rec, err, errlen);
	if (rv == 0)
		rv = replay_log(pm, rec, err, errlen);
	if (rv == 0 && (rv = drop_other_logs(pm)) != 0)
		snprintf(err, errlen, "cannot remove old map logs in %s: %s", dir, strata_strerror(rv));
	if (rv) {
		if (!err[0])
			snprintf(err, errlen, "tier page map in %s: %s", dir, strata_strerror(rv));
		file_close(pm->log);
		pm->log = NULL;
		pm_close(pm);
		return rv;
	}
	rec->entries = pm->count;
	*out = pm;
	return 0;
}

static int write_snapshot(struct pagemap *pm, uint64_t gen)
{
	struct wbuf b = {0};
	pthread_mutex_lock(&pm->map_lock);
	wb_bytes(&b, snap_magic, 8);
	wb_u32(&b, SNAP_VERSION);
	wb_u32(&b, 0);
	wb_u64(&b, gen);
	wb_u64(&b, pm->next_id);
	wb_u64(&b, pm->count);
	wb_u64(&b, pm->npending);
	wb_u32(&b, (uint32_t)pm->policy_len);
	wb_bytes(&b, pm->policy, pm->policy_len);
	for (size_t i = 0; i < pm->npending; i++)
		wb_u64(&b, pm->pending[i]);
	for (uint64_t id = 0; id < pm->nslots; id++) {
		const struct slot *s = &pm->slots[id];
		if (!s->present)
			continue;
		wb_u64(&b, id);
		wb_u8(&b, s->e.tier);
		wb_u8(&b, s->e.codec);
		wb_u32(&b, s->e.seg);
		wb_u64(&b, s->e.loc);
		wb_u32(&b, s->e.stored_len);
		wb_u32(&b, s->e.logical_len);
		wb_u32(&b, s->e.data_crc);
		wb_f64(&b, s->e.score);
		wb_u64(&b, (uint64_t)s->e.touched_us);
		wb_u64(&b, s->e.accesses);
	}
	pthread_mutex_unlock(&pm->map_lock);
	if (b.oom) {
		free(b.p);
		return STRATA_ENOMEM;
	}
	wb_u32(&b, crc32c(0, b.p, b.len));
	if (b.oom) {
		free(b.p);
		return STRATA_ENOMEM;
	}
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/map.snap.tmp", pm->dir);
	snprintf(path, sizeof(path), "%s/map.snap", pm->dir);
	struct sfile *f;
	int rv = file_open(&f, tmp, FILE_CREATE | FILE_TRUNC, "tiermap");
	if (rv == 0) {
		rv = file_pwrite(f, b.p, b.len, 0);
		if (rv == 0)
			rv = file_sync(f);
		int r = file_close(f);
		if (rv == 0)
			rv = r;
	}
	free(b.p);
	if (rv == 0 && rename(tmp, path) != 0)
		rv = strata_err_from_errno(errno);
	if (rv == 0)
		rv = file_sync_dir(pm->dir);
	return rv;
}

int pm_checkpoint(struct pagemap *pm)
{
	pthread_mutex_lock(&pm->log_lock);
	int rv = pm->broken ? STRATA_EREAD_ONLY : 0;
	uint64_t gen = pm->log_gen + 1;
	char newp[4200], oldp[4200];
	struct sfile *nf = NULL;
	if (rv == 0 && (rv = log_path(pm, gen, newp, sizeof(newp))) == 0 &&
	    (rv = log_path(pm, pm->log_gen, oldp, sizeof(oldp))) == 0 &&
	    (rv = file_open(&nf, newp, FILE_CREATE | FILE_TRUNC, "tiermap")) == 0) {
		/* 1. the new (empty) log exists durably; 2. the snapshot that
		 * names it replaces the old one; 3. the old log goes. A crash
		 * before 2 leaves the old pair, after it the new one. */
		if ((rv = file_sync(nf)) == 0 && (rv = file_sync_dir(pm->dir)) == 0)
			rv = write_snapshot(pm, gen);
		if (rv) {
			file_close(nf);
			(void)remove(newp);
		} else {
			file_close(pm->log);
			pm->log = nf;
			pm->log_gen = gen;
			pm->log_off = 0;
			if (remove(oldp) != 0 && errno != ENOENT)
				rv = strata_err_from_errno(errno);
		}
	}
	pthread_mutex_unlock(&pm->log_lock);
	return rv;
}

int pm_close(struct pagemap *pm)
{
	if (!pm)
		return 0;
	int rv = 0;
	if (pm->log) {
		rv = pm_checkpoint(pm);
		int r = file_close(pm->log);
		if (!rv)
			rv = r;
	}
	free(pm->slots);
	free(pm->pending);
	pthread_mutex_destroy(&pm->log_lock);
	pthread_mutex_destroy(&pm->map_lock);
	free(pm);
	return rv;
}

uint64_t pm_alloc_id(struct pagemap *pm)
{
	pthread_mutex_lock(&pm->map_lock);
	uint64_t id = pm->next_id++;
	pthread_mutex_unlock(&pm->map_lock);
	return id;
}

bool pm_get(struct pagemap *pm, uint64_t id, struct pm_entry *e)
{
	pthread_mutex_lock(&pm->map_lock);
	bool ok = id < pm->nslots && pm->slots[id].present;
	if (ok)
		*e = pm->slots[id].e;
	pthread_mutex_unlock(&pm->map_lock);
	return ok;
}

/* Logs payload and applies it (log_lock then map_lock). */
static int log_and_apply(struct pagemap *pm, struct wbuf *b, bool sync)
{
	pthread_mutex_lock(&pm->log_lock);
	int rv = log_append(pm, b, sync);
	if (rv == 0) {
		pthread_mutex_lock(&pm->map_lock);
		rv = apply_record(pm, b->p, b->len);
		pthread_mutex_unlock(&pm->map_lock);
	}
	pthread_mutex_unlock(&pm->log_lock);
	free(b->p);
	return rv;
}

int pm_set(struct pagemap *pm, uint64_t id, const struct pm_entry *e, uint64_t old_hot,
	   bool sync)
{
	if (id == 0 || e->tier > 2)
		return STRATA_EBAD_REQUEST;
	struct wbuf b = {0};
	enc_set(&b, id, e, old_hot);
	pthread_mutex_lock(&pm->log_lock);
	int rv = b.oom ? STRATA_ENOMEM : log_append(pm, &b, sync);
	if (rv == 0) {
		pthread_mutex_lock(&pm->map_lock);
		rv = apply_set(pm, id, e, old_hot);
		pthread_mutex_unlock(&pm->map_lock);
	}
	pthread_mutex_unlock(&pm->log_lock);
	free(b.p);
	return rv;
}

int pm_intent(struct pagemap *pm, uint64_t id, uint64_t hot_page)
{
	struct wbuf b = {0};
	wb_u8(&b, REC_INTENT);
	wb_u64(&b, id);
	wb_u64(&b, hot_page);
	return log_and_apply(pm, &b, true);
}

int pm_delete(struct pagemap *pm, uint64_t id, uint64_t old_hot, bool sync)
{
	struct pm_entry e;
	if (!pm_get(pm, id, &e))
		return STRATA_ENOT_FOUND;
	struct wbuf b = {0};
	wb_u8(&b, REC_DEL);
	wb_u64(&b, id);
	wb_u64(&b, old_hot);
	return log_and_apply(pm, &b, sync);
}

void pm_pending_done(struct pagemap *pm, uint64_t hot_page)
{
	pthread_mutex_lock(&pm->map_lock);
	pending_remove(pm, hot_page);
	pthread_mutex_unlock(&pm->map_lock);
}

int pm_pending(struct pagemap *pm, uint64_t **pages, size_t *n)
{
	pthread_mutex_lock(&pm->map_lock);
	*n = pm->npending;
	*pages = malloc((*n ? *n : 1) * sizeof(uint64_t));
	if (*pages && *n)
		memcpy(*pages, pm->pending, *n * sizeof(uint64_t));
	pthread_mutex_unlock(&pm->map_lock);
	return *pages ? 0 : STRATA_ENOMEM;
}

bool pm_touch(struct pagemap *pm, uint64_t id, int64_t now_us, int64_t half_life_us)
{
	pthread_mutex_lock(&pm->map_lock);
	bool ok = id < pm->nslots && pm->slots[id].present;
	if (ok) {
		struct pm_entry *e = &pm->slots[id].e;
		double s = e->score;
		if (now_us > e->touched_us && half_life_us > 0)
			s *= exp2(-(double)(now_us - e->touched_us) / (double)half_life_us);
		e->score = s + 1.0;
		if (now_us > e->touched_us)
			e->touched_us = now_us;
		e->accesses++;
	}
	pthread_mutex_unlock(&pm->map_lock);
	return ok;
}

bool pm_set_temperature(struct pagemap *pm, uint64_t id, double score, int64_t touched_us)
{
	pthread_mutex_lock(&pm->map_lock);
	bool ok = id < pm->nslots && pm->slots[id].present;
	if (ok) {
		pm->slots[id].e.score = score;
		pm->slots[id].e.touched_us = touched_us;
	}
	pthread_mutex_unlock(&pm->map_lock);
	return ok;
}

int pm_items(struct pagemap *pm, struct pm_item **items, size_t *n)
{
	pthread_mutex_lock(&pm->map_lock);
	struct pm_item *a = malloc((pm->count ? pm->count : 1) * sizeof(*a));
	size_t k = 0;
	if (a)
		for (uint64_t id = 0; id < pm->nslots && k < pm->count; id++)
			if (pm->slots[id].present)
				a[k++] = (struct pm_item){id, pm->slots[id].e};
	pthread_mutex_unlock(&pm->map_lock);
	*items = a;
	*n = k;
	return a ? 0 : STRATA_ENOMEM;
}

uint64_t pm_count(struct pagemap *pm)
{
	pthread_mutex_lock(&pm->map_lock);
	uint64_t n = pm->count;
	pthread_mutex_unlock(&pm->map_lock);
	return n;
}

int pm_set_policy(struct pagemap *pm, const void *blob, size_t len)
{
	if (len > POLICY_MAX)
		return STRATA_ETOO_LARGE;
	struct wbuf b = {0};
	wb_u8(&b, REC_POLICY);
	wb_bytes(&b, blob, len);
	return log_and_apply(pm, &b, true);
}

int pm_get_policy(struct pagemap *pm, void *buf, size_t cap, size_t *len)
{
	pthread_mutex_lock(&pm->map_lock);
	int rv = 0;
	*len = pm->policy_len;
	if (pm->policy_len > cap)
		rv = STRATA_ETOO_LARGE;
	else
		memcpy(buf, pm->policy, pm->policy_len);
	pthread_mutex_unlock(&pm->map_lock);
	return rv;
}

uint64_t pm_log_bytes(struct pagemap *pm)
{
	pthread_mutex_lock(&pm->log_lock);
	uint64_t n = pm->log_off;
	pthread_mutex_unlock(&pm->log_lock);
	return n;
}
