/*
 * core/lsm_wal.c — see lsm_wal.h.
 *
 * `lock` guards the sync state (durable, syncing, syncing_to, failed).
 * `end` is written by the single appender and read by syncers, so it is
 * atomic. A syncer notes the end it will cover, drops the lock, fdatasyncs
 * and publishes the new durable offset; a syncer whose offset is covered by
 * the fsync in flight waits for it instead of issuing its own.
 */
#include "core/lsm_wal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "core/lsm_coding.h"
#include "strata/error.h"

/* Longest record accepted by replay: guards against a garbage length. */
#define WAL_REC_MAX (512u << 20)

/* Zero-filled ahead of the log end once the log is synced (see
 * lsm_wal_append). */
#define WAL_PREALLOC (1u << 20)
#define WAL_ZEROS (64u << 10)
static const uint8_t wal_zeros[WAL_ZEROS];

struct lsm_wal {
	atomic_uint refs;
	struct sfile *f;
	_Atomic uint64_t end;     /* appender writes; anyone reads */
	uint64_t filled;          /* appender only: file bytes written (records
				   * and zeros after them) */
	atomic_bool prealloc;     /* set by the first sync: zero-fill ahead */
	pthread_mutex_t lock;
	pthread_cond_t synced;
	uint64_t durable;         /* under lock */
	bool syncing;             /* under lock */
	uint64_t syncing_to;      /* under lock */
	atomic_bool failed;
};

int lsm_wal_create(struct lsm_wal **out, const char *path, const char *dir)
{
	struct lsm_wal *w = calloc(1, sizeof(*w));
	if (!w)
		return STRATA_ENOMEM;
	int rv = file_open(&w->f, path, FILE_CREATE | FILE_TRUNC, "wal");
	if (rv)
		goto fail_free;
	if ((rv = file_sync_dir(dir)) != 0)
		goto fail_close;
	atomic_init(&w->refs, 1);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->synced, NULL);
	*out = w;
	return 0;
fail_close:
	file_close(w->f);
fail_free:
	free(w);
	return rv;
}

/*
 * A synced log is zero-filled ahead of its end (by its size so far, 64 KiB
 * to WAL_PREALLOC). Appending
 * grows the file, and then every fdatasync must also commit the new size
 * and block allocation (a file system journal commit: on ext4 about twice
 * the cost of the data write alone). Writing real zeros ahead (not
 * fallocate: its unwritten extents need the same commit when first written)
 * means one sync commits the metadata for the next WAL_PREALLOC bytes of
 * records, and the syncs after it only write data. Replay stops at the
 * first all-zero header, the logical end (lsm_wal_replay). A failed fill
 * only turns preallocation off: the zeros are after every record.
 */
static void wal_fill_ahead(struct lsm_wal *w)
{
	/* ahead by the log's size so far, 64 KiB .. 1 MiB: a small memtable's
	 * log stays small */
	uint64_t ahead = w->filled < WAL_ZEROS ? WAL_ZEROS
			 : w->filled > WAL_PREALLOC ? WAL_PREALLOC : w->filled;
	uint64_t target = (w->filled + ahead + WAL_ZEROS - 1) / WAL_ZEROS * WAL_ZEROS;
	while (w->filled < target) {
		uint64_t n = target - w->filled;
		if (n > WAL_ZEROS)
			n = WAL_ZEROS;
		if (file_pwrite(w->f, wal_zeros, (size_t)n, w->filled)) {
			atomic_store(&w->prealloc, false);
			return;
		}
		w->filled += n;
	}
}

int lsm_wal_append(struct lsm_wal *w, uint8_t *rec, size_t len, uint64_t *end)
{
	if (atomic_load(&w->failed))
		return STRATA_EREAD_ONLY;
	uint32_t plen = (uint32_t)(len - LSM_WAL_HDR);
	lsm_put_u32(rec + 4, plen);
	lsm_put_u32(rec, crc32c(0, rec + 4, len - 4));
	uint64_t off = atomic_load_explicit(&w->end, memory_order_relaxed);
	int rv = file_pwrite(w->f, rec, len, off);
	if (rv) {
		/* The log may now hold a partial record: nothing may follow it. */
		atomic_store(&w->failed, true);
		return rv;
	}
	atomic_store_explicit(&w->end, off + len, memory_order_release);
	*end = off + len;
	if (off + len > w->filled)
		w->filled = off + len;
	if (w->filled == off + len && atomic_load_explicit(&w->prealloc, memory_order_relaxed))
		wal_fill_ahead(w);
	return 0;
}

int lsm_wal_sync(struct lsm_wal *w, uint64_t upto, bool *grouped)
{
	if (grouped)
		*grouped = false;
	if (!atomic_load_explicit(&w->prealloc, memory_order_relaxed))
		atomic_store_explicit(&w->prealloc, true, memory_order_relaxed);
	uint64_t end = atomic_load_explicit(&w->end, memory_order_acquire);
	if (upto == 0 || upto > end)
		upto = end;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (atomic_load(&w->failed)) {
			pthread_mutex_unlock(&w->lock);
			return STRATA_EREAD_ONLY;
		}
		if (w->durable >= upto) {
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
		if (!w->syncing)
			break;
		if (w->syncing_to >= upto && grouped)
			*grouped = true;
		pthread_cond_wait(&w->synced, &w->lock); /* ride on the fsync in flight */
	}
	w->syncing = true;
	uint64_t target = atomic_load_explicit(&w->end, memory_order_acquire);
	w->syncing_to = target;
	pthread_mutex_unlock(&w->lock);

	int rv = file_sync(w->f);

	pthread_mutex_lock(&w->lock);
	w->syncing = false;
	if (rv == 0) {
		if (target > w->durable)
			w->durable = target;
	} else {
		atomic_store(&w->failed, true); /* never retry a failed fsync */
		rv = STRATA_EREAD_ONLY;
	}
	pthread_cond_broadcast(&w->synced);
	pthread_mutex_unlock(&w->lock);
	return rv;
}

uint64_t lsm_wal_size(struct lsm_wal *w)
{
	return atomic_load_explicit(&w->end, memory_order_acquire);
}

void lsm_wal_ref(struct lsm_wal *w)
{
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

void lsm_wal_unref(struct lsm_wal *w)
{
	if (!w || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	(void)file_close(w->f); /* nothing to report to: the data is in an SSTable
				 * or was synced by whoever needed it */
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->synced);
	free(w);
}

int lsm_wal_replay(const char *path, lsm_wal_replay_fn fn, void *arg, uint64_t *records,
		   bool *torn)
{
	struct sfile *f;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t size, off = 0;
	bool zero_end = false;
	*records = 0;
	*torn = false;
	int rv = file_open(&f, path, 0, "wal");
	if (rv)
		return rv;
	if ((rv = file_size(f, &size)) != 0)
		goto out;
	while (off + LSM_WAL_HDR <= size) {
		uint8_t h[LSM_WAL_HDR];
		if ((rv = file_pread(f, h, LSM_WAL_HDR, off)) != 0)
			goto out;
		uint32_t crc = lsm_get_u32(h), len = lsm_get_u32(h + 4);
		if (crc == 0 && len == 0) {
			zero_end = true; /* the zero-filled space ahead of the end */
			break;
		}
		if (len > WAL_REC_MAX || off + LSM_WAL_HDR + len > size)
			break;
		if (len > cap) {
			uint8_t *nb = realloc(buf, len);
			if (!nb) {
				rv = STRATA_ENOMEM;
				goto out;
			}
			buf = nb;
			cap = len;
		}
		if ((rv = file_pread(f, buf, len, off + LSM_WAL_HDR)) != 0)
			goto out;
		if (crc32c(crc32c(0, h + 4, 4), buf, len) != crc)
			break;
		if ((rv = fn(arg, buf, len)) != 0)
			goto out;
		(*records)++;
		off += LSM_WAL_HDR + len;
	}
	if (off < size) {
		*torn = !zero_end;
		if ((rv = file_truncate(f, off)) == 0)
			rv = file_sync(f);
	}
out:
	free(buf);
	int r = file_close(f);
	return rv ? rv : r;
}
