/*
 * core/pagestore.h — records on pages, durable: the disk manager, the redo
 * log and the buffer pool put together, with the page events.
 *
 * Every change follows core/wal.h's contract: made under the page's
 * exclusive latch, its full-page image logged before the latch is released,
 * and, when the caller asks for sync, acknowledged only after the log is
 * durable up to it. Opening a pagestore runs recovery: every image in the
 * log is written back to the data file (last wins), the data file is
 * synced and every page in it verified.
 *
 * Events: PageAllocated (disk), PageSplit, PageMerged, PageCompacted;
 * VectoredRead / VectoredWrite for the vectored calls; ChecksumFailure
 * (disk) when a page read fails its checksum.
 *
 * Thread safety: all functions but ps_open/ps_close from any thread.
 */
#ifndef STRATA_CORE_PAGESTORE_H
#define STRATA_CORE_PAGESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buffer.h"

struct pagestore;
struct disk;
struct wal;

struct ps_config {
	unsigned lru_k;             /* buffer pool K (default 2) */
	unsigned disk_flags;        /* DISK_* */
	double split_threshold;     /* fill ratio that makes should_split true (0.9) */
	double merge_threshold;     /* combined fill under which should_merge (0.7) */
};

struct ps_recovery {
	uint64_t records_replayed;  /* WAL images written back */
	uint64_t pages_verified;
	uint64_t pages_corrupt;     /* failed verification after replay */
	uint64_t duration_us;
};

/* Opens dir's data file and log, recovers, and builds the pool over mem. */
int ps_open(struct pagestore **out, const char *dir, const struct bp_memory *mem,
	    const struct ps_config *cfg, struct ps_recovery *rec, char *err, size_t errlen);
/* Checkpoints (flush + sync + log trimmed) and closes; returns the first error. */
int ps_close(struct pagestore *ps);

struct bufpool *ps_pool(struct pagestore *ps);
struct disk *ps_disk(struct pagestore *ps);
struct wal *ps_wal(struct pagestore *ps);
size_t ps_page_size(const struct pagestore *ps);

/* A new empty page; *page_id its id. */
int ps_page_alloc(struct pagestore *ps, bool sync, uint64_t *page_id);

/*
 * Frees page_id for good (the owner of the page no longer needs it: e.g.
 * core/tiered after moving the page's contents to another tier). The free
 * is logged first (an all-zero image in the redo log, which recovery
 * replays as a free), then the frame is dropped and the id returned to the
 * disk's free list. With sync, durable when it returns 0. The caller must
 * guarantee nobody else uses the page any more (a pin held for a moment by
 * a reader is waited out).
 *   STRATA_ENOT_FOUND  page_id is the header page or beyond the data file
 *   STRATA_ECONFLICT   page_id was already free (nothing changed but a
 *                      harmless free record in the log)
 *   + the log's and the disk's errors
 */
int ps_page_free(struct pagestore *ps, uint64_t page_id, bool sync);

struct ps_page_info {
	uint64_t page_id, lsn;
	size_t page_size, free_space, used_bytes, max_record;
	unsigned slot_count, live_records;
	double fill_ratio;
	bool resident, dirty;
	unsigned pin_count;
	int disk_checksum;  /* 1 ok, 0 mismatch, -1 never written to disk yet */
};
int ps_page_info(struct pagestore *ps, uint64_t page_id, struct ps_page_info *info);

/* Records. STRATA_ENOT_FOUND: no such page or slot; STRATA_ETOO_LARGE:
 * larger than a page can hold; STRATA_ENOSPC: the page is full. */
int ps_record_insert(struct pagestore *ps, uint64_t page_id, const void *data, size_t len,
		     bool sync, uint16_t *slot);
/* Copies the record into buf (cap bytes; STRATA_ETOO_LARGE if smaller). */
int ps_record_get(struct pagestore *ps, uint64_t page_id, uint16_t slot, void *buf, size_t cap,
		  size_t *len);
int ps_record_update(struct pagestore *ps, uint64_t page_id, uint16_t slot, const void *data,
		     size_t len, bool sync);
int ps_record_delete(struct pagestore *ps, uint64_t page_id, uint16_t slot, bool sync);

int ps_page_compact(struct pagestore *ps, uint64_t page_id, bool sync, size_t *reclaimed);
/* Moves the upper half of page_id's records to a new page. */
int ps_page_split(struct pagestore *ps, uint64_t page_id, bool sync, uint64_t *new_page_id,
		  unsigned *moved);
/* Moves page2's records into page1 and frees page2 (ENOSPC if they don't fit). */
int ps_page_merge(struct pagestore *ps, uint64_t page1, uint64_t page2, bool sync,
		  unsigned *moved);

/* Copies n pages (through the pool) into bufs[i] (page_size each). */
int ps_read_vectored(struct pagestore *ps, const uint64_t *ids, size_t n, void **bufs);
/* Replaces n pages with the given images (each must be a valid page whose
 * page_id is the target), through the pool and the log. */
int ps_write_vectored(struct pagestore *ps, const uint64_t *ids, size_t n, void *const *bufs,
		      bool sync);

/* Writes every dirty page, syncs, trims the log. */
int ps_checkpoint(struct pagestore *ps);
/* Writes every dirty page and syncs the data file; *written pages. */
int ps_flush(struct pagestore *ps, uint64_t *written);
/* Background flusher step: writes up to max dirty unpinned pages, and
 * checkpoints when the log is over log_limit bytes. */
int ps_background(struct pagestore *ps, unsigned max, uint64_t log_limit);

#endif
