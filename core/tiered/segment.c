#include "core/tiered/segment.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "core/tiered/codec.h"
#include "strata/error.h"

static const char seg_magic[8] = {'S', 'T', 'R', 'S', 'E', 'G', '0', '1'};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void seg_record_seal(void *buf, const struct seg_record *r)
{
	uint8_t *p = buf;
	put32(p, SEG_RECORD_MAGIC);
	put64(p + 8, r->page_id);
	put32(p + 16, r->stored_len);
	put32(p + 20, r->logical_len);
	p[24] = r->codec;
	p[25] = r->tier;
	p[26] = p[27] = 0;
	put32(p + 28, r->data_crc);
	put32(p + 4, crc32c(0, p + 8, SEG_RECORD_HEADER - 8 + (size_t)r->stored_len));
}

int seg_record_check(const void *buf, size_t len, uint64_t expect_page, struct seg_record *r)
{
	const uint8_t *p = buf;
	if (len < SEG_RECORD_HEADER || get32(p) != SEG_RECORD_MAGIC)
		return STRATA_ECORRUPT;
	r->page_id = get64(p + 8);
	r->stored_len = get32(p + 16);
	r->logical_len = get32(p + 20);
	r->codec = p[24];
	r->tier = p[25];
	r->data_crc = get32(p + 28);
	if ((uint64_t)r->stored_len + SEG_RECORD_HEADER != len || p[26] || p[27] ||
	    (expect_page && r->page_id != expect_page) || r->codec > TIER_CODEC_ZSTD)
		return STRATA_ECORRUPT;
	if (crc32c(0, p + 8, len - 8) != get32(p + 4))
		return STRATA_ECORRUPT;
	return 0;
}

void seg_header_make(void *buf, unsigned tier, uint32_t segno)
{
	uint8_t *p = buf;
	memset(p, 0, SEG_HEADER_SIZE);
	memcpy(p, seg_magic, 8);
	put32(p + 8, SEG_VERSION);
	put32(p + 12, tier);
	put32(p + 16, segno);
	put32(p + 28, crc32c(0, p, 28));
}

int seg_header_check(const void *buf, unsigned tier, uint32_t segno)
{
	const uint8_t *p = buf;
	if (memcmp(p, seg_magic, 8) != 0 || crc32c(0, p, 28) != get32(p + 28) ||
	    get32(p + 8) != SEG_VERSION || get32(p + 16) != segno)
		return STRATA_ECORRUPT;
	return get32(p + 12) == tier ? 0 : STRATA_EBAD_REQUEST;
}

/* ---- the set ------------------------------------------------------------ */

struct seg {
	struct sfile *f;   /* NULL: no such segment (never was, or deleted) */
	uint64_t size;     /* file size (appends only grow it) */
	uint64_t live;     /* bytes of live records */
};

struct segset {
	char dir[4096];
	unsigned tier;
	uint64_t seg_max;
	pthread_mutex_t lock;  /* everything below; held across an append */
	struct seg *segs;      /* indexed by segment number */
	uint32_t nsegs;        /* capacity of segs */
	uint32_t active;       /* appends go here */
};

const char *segset_dir(const struct segset *s)
{
	return s->dir;
}

static int seg_path(const struct segset *s, uint32_t segno, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%08" PRIx32 ".seg", s->dir, segno);
	return n > 0 && (size_t)n < len ? 0 : STRATA_EBAD_REQUEST;
}

static int seg_slot(struct segset *s, uint32_t segno)
{
	if (segno < s->nsegs)
		return 0;
	uint32_t n = s->nsegs ? s->nsegs : 16;
	while (n <= segno)
		n *= 2;
	struct seg *g = realloc(s->segs, n * sizeof(*g));
	if (!g)
		return STRATA_ENOMEM;
	memset(g + s->nsegs, 0, (n - s->nsegs) * sizeof(*g));
	s->segs = g;
	s->nsegs = n;
	return 0;
}

/* Creates segment segno with its header, durably (file + directory). */
static int seg_create(struct segset *s, uint32_t segno)
{
	char path[4200];
	uint8_t hdr[SEG_HEADER_SIZE];
	int rv = seg_path(s, segno, path, sizeof(path));
	if (rv || (rv = seg_slot(s, segno)) != 0)
		return rv;
	struct sfile *f;
	if ((rv = file_open(&f, path, FILE_CREATE | FILE_TRUNC, "tierseg")) != 0)
		return rv;
	seg_header_make(hdr, s->tier, segno);
	if ((rv = file_pwrite(f, hdr, sizeof(hdr), 0)) != 0 || (rv = file_sync(f)) != 0 ||
	    (rv = file_sync_dir(s->dir)) != 0) {
		file_close(f);
		(void)remove(path);
		return rv;
	}
	s->segs[segno] = (struct seg){.f = f, .size = SEG_HEADER_SIZE};
	s->active = segno;
	return 0;
}

int segset_open(struct segset **out, const char *dir, unsigned tier, uint64_t seg_max)
{
	struct segset *s = calloc(1, sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	int rv = 0;
	if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir)) {
		free(s);
		return STRATA_EBAD_REQUEST;
	}
	s->tier = tier;
	s->seg_max = seg_max ? seg_max : 16u << 20;
	pthread_mutex_init(&s->lock, NULL);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rv = strata_err_from_errno(errno);
		goto fail;
	}
	DIR *dh = opendir(dir);
	if (!dh) {
		rv = strata_err_from_errno(errno);
		goto fail;
	}
	uint32_t max = 0;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL) {
		if (strlen(de->d_name) != 12 || strcmp(de->d_name + 8, ".seg") != 0 ||
		    strspn(de->d_name, "0123456789abcdef") != 8)
			continue;
		uint32_t segno = (uint32_t)strtoul(de->d_name, NULL, 16);
		if (segno == 0 || segno == UINT32_MAX)
			continue;
		char path[4200];
		struct sfile *f;
		uint8_t hdr[SEG_HEADER_SIZE];
		uint64_t size;
		if ((rv = seg_path(s, segno, path, sizeof(path))) != 0 ||
		    (rv = seg_slot(s, segno)) != 0 ||
		    (rv = file_open(&f, path, 0, "tierseg")) != 0)
			break;
		if ((rv = file_size(f, &size)) != 0) {
			file_close(f);
			break;
		}
		if (size < SEG_HEADER_SIZE) {
			/* Torn at creation (crash before the header was synced):
			 * it never held a record. */
			file_close(f);
			if (remove(path) != 0) {
				rv = strata_err_from_errno(errno);
				break;
			}
			continue;
		}
		if ((rv = file_pread(f, hdr, sizeof(hdr), 0)) != 0 ||
		    (rv = seg_header_check(hdr, tier, segno)) != 0) {
			file_close(f);
			break;
		}
		s->segs[segno] = (struct seg){.f = f, .size = size};
		if (segno + 1 > max)
			max = segno + 1;
	}
	closedir(dh);
	if (rv == 0)
		rv = seg_create(s, max ? max : 1);
	if (rv)
		goto fail;
	*out = s;
	return 0;
fail:
	segset_close(s);
	return rv;
}

int segset_close(struct segset *s)
{
	if (!s)
		return 0;
	int rv = 0;
	for (uint32_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].f) {
			int r = file_close(s->segs[i].f);
			if (!rv)
				rv = r;
		}
	free(s->segs);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rv;
}

void segset_account(struct segset *s, uint32_t segno, uint64_t len)
{
	pthread_mutex_lock(&s->lock);
	if (segno < s->nsegs)
		s->segs[segno].live += len;
	pthread_mutex_unlock(&s->lock);
}

/* Deletes segment segno (lock held; not the active one). */
static int seg_delete(struct segset *s, uint32_t segno)
{
	char path[4200];
	int rv = seg_path(s, segno, path, sizeof(path));
	if (rv)
		return rv;
	struct sfile *f = s->segs[segno].f;
	s->segs[segno] = (struct seg){0};
	rv = file_close(f);
	if (remove(path) != 0 && errno != ENOENT)
		return strata_err_from_errno(errno);
	int r = file_sync_dir(s->dir);
	return rv ? rv : r;
}

int segset_drop_empty(struct segset *s)
{
	int rv = 0;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->nsegs && rv == 0; i++)
		if (s->segs[i].f && i != s->active && s->segs[i].live == 0)
			rv = seg_delete(s, i);
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int segset_append(struct segset *s, const void *rec, size_t len, bool sync, uint32_t *segno,
		  uint64_t *off)
{
	int rv = 0;
	pthread_mutex_lock(&s->lock);
	struct seg *g = &s->segs[s->active];
	if (g->size > SEG_HEADER_SIZE && g->size + len > s->seg_max) {
		uint32_t old = s->active;
		if ((rv = seg_create(s, old + 1)) != 0)
			goto out;
		/* The old active segment may be all dead already. */
		if (s->segs[old].live == 0 && (rv = seg_delete(s, old)) != 0)
			goto out;
		g = &s->segs[s->active];
	}
	rv = file_pwrite(g->f, rec, len, g->size);
	if (rv == 0 && sync)
		rv = file_sync(g->f);
	if (rv) {
		/* The bytes may be partly there: skip past them, never reuse. */
		g->size += len;
		goto out;
	}
	*segno = s->active;
	*off = g->size;
	g->size += len;
	g->live += len;
out:
	pthread_mutex_unlock(&s->lock);
	return rv;
}

int segset_read(struct segset *s, uint32_t segno, uint64_t off, void *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	struct sfile *f = segno < s->nsegs ? s->segs[segno].f : NULL;
	uint64_t size = f ? s->segs[segno].size : 0;
	pthread_mutex_unlock(&s->lock);
	if (!f || off < SEG_HEADER_SIZE || off + len > size)
		return STRATA_ECORRUPT;
	int rv = file_pread(f, buf, len, off);
	return rv == STRATA_ENOT_FOUND ? STRATA_ECORRUPT : rv;
}

int segset_release(struct segset *s, uint32_t segno, uint64_t off, uint64_t len)
{
	int rv = 0;
	pthread_mutex_lock(&s->lock);
	if (segno >= s->nsegs || !s->segs[segno].f) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	struct seg *g = &s->segs[segno];
	g->live = g->live >= len ? g->live - len : 0;
	if (g->live == 0 && segno != s->active)
		rv = seg_delete(s, segno);
	else
		rv = file_punch_hole(g->f, off, len);
out:
	pthread_mutex_unlock(&s->lock);
	return rv;
}

void segset_get_stats(struct segset *s, struct segset_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->nsegs; i++) {
		if (!s->segs[i].f)
			continue;
		st->segments++;
		st->file_bytes += s->segs[i].size;
		st->live_bytes += s->segs[i].live;
		st->dead_bytes += s->segs[i].size - SEG_HEADER_SIZE - s->segs[i].live;
	}
	pthread_mutex_unlock(&s->lock);
}

size_t segset_sparse(struct segset *s, double ratio, uint32_t *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->nsegs && n < max; i++) {
		struct seg *g = &s->segs[i];
		if (!g->f || i == s->active || g->size <= SEG_HEADER_SIZE)
			continue;
		double dead = (double)(g->size - SEG_HEADER_SIZE - g->live);
		if (dead > ratio * (double)g->size)
			out[n++] = i;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}
