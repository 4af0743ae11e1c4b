/*
 * core/wal.c — see wal.h for the contract.
 *
 * Appends are serialised by `lock` (the position is taken and the bytes
 * written under it, so records are never interleaved). Flushes: a flusher
 * notes the end LSN, drops the lock, fdatasyncs, and publishes the new
 * durable LSN; others that need an LSN at or below an fsync already in
 * flight wait for it instead of issuing their own (group commit).
 */
#include "core/wal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "strata/error.h"

#define WAL_MAGIC 0x314c4157525453ull /* "STRWAL1" */
#define WAL_VERSION 1u
#define HDR_SIZE 32u
#define REC_HDR 24u

struct wal {
	char dir[4096];
	size_t page_size;
	pthread_mutex_t lock;      /* guards everything below */
	pthread_cond_t synced;
	struct sfile *seg;         /* current segment */
	uint64_t seg_no;
	uint64_t seg_first_lsn;    /* LSN of the segment's first byte after its header */
	uint64_t seg_off;          /* write offset in the segment */
	uint64_t end_lsn;          /* LSN after the last record written */
	uint64_t durable_lsn;
	bool syncing;
	uint64_t syncing_to;
	int sync_error;            /* sticky: after a failed fsync the log is read-only */
	uint64_t records, bytes, flushes, group_commits;
	uint8_t *recbuf;           /* REC_HDR + page_size, under lock */
};

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void seg_path(const struct wal *w, uint64_t no, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016" PRIx64 ".log", w->dir, no);
}

static void header_make(const struct wal *w, uint64_t no, uint64_t first_lsn, uint8_t *h)
{
	memset(h, 0, HDR_SIZE);
	put_u64(h, WAL_MAGIC);
	put_u32(h + 8, WAL_VERSION);
	put_u32(h + 12, (uint32_t)w->page_size);
	put_u64(h + 16, no);
	put_u64(h + 24, first_lsn);
}

/* Creates segment `no` starting at first_lsn and makes it current. Under lock
 * or before threads start. */
static int segment_create(struct wal *w, uint64_t no, uint64_t first_lsn)
{
	char path[4200];
	seg_path(w, no, path, sizeof(path));
	struct sfile *f;
	int rv = file_open(&f, path, FILE_CREATE, "wal");
	if (rv)
		return rv;
	uint8_t h[HDR_SIZE];
	header_make(w, no, first_lsn, h);
	if ((rv = file_truncate(f, 0)) || (rv = file_pwrite(f, h, HDR_SIZE, 0)) ||
	    (rv = file_sync(f)) || (rv = file_sync_dir(w->dir))) {
		file_close(f);
		return rv;
	}
	if (w->seg && (rv = file_close(w->seg)) != 0) {
		file_close(f);
		return rv;
	}
	w->seg = f;
	w->seg_no = no;
	w->seg_first_lsn = first_lsn;
	w->seg_off = HDR_SIZE;
	return 0;
}

int wal_open(struct wal **out, const char *dir, size_t page_size)
{
	struct wal *w = calloc(1, sizeof(*w));
	if (!w)
		return STRATA_ENOMEM;
	snprintf(w->dir, sizeof(w->dir), "%s/wal", dir);
	w->page_size = page_size;
	w->recbuf = malloc(REC_HDR + page_size);
	if (!w->recbuf) {
		free(w);
		return STRATA_ENOMEM;
	}
	if (mkdir(w->dir, 0750) != 0 && errno != EEXIST) {
		int rv = strata_err_from_errno(errno);
		free(w->recbuf);
		free(w);
		return rv;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->synced, NULL);
	*out = w;
	return 0;
}

int wal_close(struct wal *w)
{
	if (!w)
		return 0;
	int rv = 0;
	if (w->seg) {
		rv = wal_flush(w, 0);
		int r = file_close(w->seg);
		if (!rv)
			rv = r;
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->synced);
	free(w->recbuf);
	free(w);
	return rv;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Segment numbers on disk, sorted. *out malloc'd. */
static int list_segments(const struct wal *w, uint64_t **out, size_t *n)
{
	DIR *dp = opendir(w->dir);
	if (!dp)
		return strata_err_from_errno(errno);
	size_t cap = 16, cnt = 0;
	uint64_t *v = malloc(cap * sizeof(*v));
	struct dirent *de;
	while (v && (de = readdir(dp))) {
		char *end;
		if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".log") != 0)
			continue;
		uint64_t no = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16)
			continue;
		if (cnt == cap) {
			uint64_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
		}
		v[cnt++] = no;
	}
	closedir(dp);
	if (!v)
		return STRATA_ENOMEM;
	qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

/* Replays one segment; returns 0 and the LSN after its last valid record. */
static int replay_segment(struct wal *w, uint64_t no, wal_apply_fn apply, void *arg,
			  uint64_t *records, uint64_t *end_lsn, bool *had_header)
{
	char path[4200];
	seg_path(w, no, path, sizeof(path));
	struct sfile *f;
	int rv = file_open(&f, path, 0, "wal");
	if (rv)
		return rv;
	uint64_t size;
	uint8_t h[HDR_SIZE];
	*had_header = false;
	if ((rv = file_size(f, &size)) != 0)
		goto out;
	if (size < HDR_SIZE || file_pread(f, h, HDR_SIZE, 0) != 0 || get_u64(h) != WAL_MAGIC ||
	    get_u32(h + 8) != WAL_VERSION || get_u64(h + 16) != no) {
		rv = 0; /* a segment whose header never became durable holds nothing acknowledged */
		goto out;
	}
	if (get_u32(h + 12) != w->page_size) {
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	*had_header = true;
	uint64_t first_lsn = get_u64(h + 24);
	uint64_t off = HDR_SIZE;
	size_t reclen = REC_HDR + w->page_size;
	while (off + reclen <= size) {
		if ((rv = file_pread(f, w->recbuf, reclen, off)) != 0)
			goto out;
		uint32_t crc = get_u32(w->recbuf);
		uint32_t len = get_u32(w->recbuf + 4);
		uint64_t lsn = get_u64(w->recbuf + 8);
		if (len != reclen || lsn != first_lsn + (off - HDR_SIZE) + reclen ||
		    crc32c(0, w->recbuf + 4, reclen - 4) != crc)
			break; /* torn or garbage tail */
		if ((rv = apply(arg, get_u64(w->recbuf + 16), w->recbuf + REC_HDR, lsn)) != 0)
			goto out;
		(*records)++;
		off += reclen;
	}
	*end_lsn = first_lsn + (off - HDR_SIZE);
	if (off < size) /* cut the torn tail so it is never mistaken for data */
		rv = file_truncate(f, off);
out:;
	int r = file_close(f);
	return rv ? rv : r;
}

int wal_replay(struct wal *w, wal_apply_fn apply, void *arg, uint64_t *records)
{
	uint64_t *segs;
	size_t n;
	int rv = list_segments(w, &segs, &n);
	if (rv)
		return rv;
	uint64_t end_lsn = 1, next_no = 1;
	*records = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t seg_end = 0;
		bool had_header;
		rv = replay_segment(w, segs[i], apply, arg, records, &seg_end, &had_header);
		if (rv)
			break;
		if (had_header && seg_end > end_lsn)
			end_lsn = seg_end;
		next_no = segs[i] + 1;
	}
	free(segs);
	if (rv)
		return rv;
	pthread_mutex_lock(&w->lock);
	rv = segment_create(w, next_no, end_lsn);
	w->end_lsn = w->durable_lsn = end_lsn;
	pthread_mutex_unlock(&w->lock);
	return rv;
}

int wal_log_page(struct wal *w, uint64_t page_id, const void *image, uint64_t *lsn)
{
	size_t reclen = REC_HDR + w->page_size;
	pthread_mutex_lock(&w->lock);
	if (w->sync_error) {
		pthread_mutex_unlock(&w->lock);
		return STRATA_EREAD_ONLY;
	}
	uint64_t rec_lsn = w->end_lsn + reclen;
	put_u32(w->recbuf + 4, (uint32_t)reclen);
	put_u64(w->recbuf + 8, rec_lsn);
	put_u64(w->recbuf + 16, page_id);
	memcpy(w->recbuf + REC_HDR, image, w->page_size);
	put_u32(w->recbuf, crc32c(0, w->recbuf + 4, reclen - 4));
	int rv = file_pwrite(w->seg, w->recbuf, reclen, w->seg_off);
	if (rv == 0) {
		w->seg_off += reclen;
		w->end_lsn = rec_lsn;
		w->records++;
		w->bytes += reclen;
		*lsn = rec_lsn;
	}
	pthread_mutex_unlock(&w->lock);
	return rv;
}

int wal_flush(struct wal *w, uint64_t lsn)
{
	pthread_mutex_lock(&w->lock);
	if (lsn == 0 || lsn > w->end_lsn)
		lsn = w->end_lsn;
	for (;;) {
		if (w->sync_error) {
			pthread_mutex_unlock(&w->lock);
			return STRATA_EREAD_ONLY;
		}
		if (w->durable_lsn >= lsn) {
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
		if (!w->syncing)
			break;
		if (w->syncing_to >= lsn)
			w->group_commits++;
		pthread_cond_wait(&w->synced, &w->lock); /* ride on the fsync in flight */
	}
	w->syncing = true;
	uint64_t target = w->end_lsn;
	w->syncing_to = target;
	struct sfile *seg = w->seg;
	pthread_mutex_unlock(&w->lock);

	int rv = file_sync(seg);

	pthread_mutex_lock(&w->lock);
	w->syncing = false;
	if (rv == 0) {
		if (target > w->durable_lsn)
			w->durable_lsn = target;
		w->flushes++;
	} else {
		w->sync_error = rv; /* PostgreSQL's lesson: never retry a failed fsync */
		rv = STRATA_EREAD_ONLY;
	}
	pthread_cond_broadcast(&w->synced);
	pthread_mutex_unlock(&w->lock);
	return rv;
}

int wal_switch(struct wal *w, uint64_t *segment)
{
	/* Everything in the old segment becomes durable first, so nothing a
	 * later sync acknowledges can be left behind in a closed file. */
	int rv = wal_flush(w, 0);
	if (rv)
		return rv;
	pthread_mutex_lock(&w->lock);
	while (w->syncing)
		pthread_cond_wait(&w->synced, &w->lock);
	rv = file_sync(w->seg);
	if (rv == 0)
		rv = segment_create(w, w->seg_no + 1, w->end_lsn);
	if (rv == 0) {
		w->durable_lsn = w->end_lsn;
		*segment = w->seg_no;
	} else {
		w->sync_error = rv;
	}
	pthread_mutex_unlock(&w->lock);
	return rv;
}

int wal_drop_before(struct wal *w, uint64_t segment)
{
	uint64_t *segs;
	size_t n;
	int rv = list_segments(w, &segs, &n);
	if (rv)
		return rv;
	for (size_t i = 0; i < n && segs[i] < segment; i++) {
		char path[4200];
		seg_path(w, segs[i], path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT)
			rv = strata_err_from_errno(errno);
	}
	free(segs);
	int r = file_sync_dir(w->dir);
	return rv ? rv : r;
}

void wal_get_stats(struct wal *w, struct wal_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&w->lock);
	st->records = w->records;
	st->bytes = w->bytes;
	st->flushes = w->flushes;
	st->group_commits = w->group_commits;
	st->durable_lsn = w->durable_lsn;
	st->end_lsn = w->end_lsn;
	pthread_mutex_unlock(&w->lock);
	uint64_t *segs;
	size_t n;
	if (list_segments(w, &segs, &n) == 0) {
		st->segments = n;
		for (size_t i = 0; i < n; i++) {
			char path[4200];
			struct stat sb;
			seg_path(w, segs[i], path, sizeof(path));
			if (stat(path, &sb) == 0)
				st->log_bytes += (uint64_t)sb.st_size;
		}
		free(segs);
	}
}
