/*
 * core/buffer.h — the buffer pool over the shared-memory data segment.
 *
 * Frames, their descriptors and the page table live in the data segment
 * (shm/layout.h); this module owns their protocol, written down with its
 * lock order in core/README-buffer.md. In short: a caller fetches a page
 * (pin + latch, shared or exclusive), reads or changes the bytes, and
 * releases it (unlatch + unpin, saying whether it dirtied it). Replacement
 * is LRU-K over unpinned frames; a dirty victim is written before reuse,
 * after the write-ahead log is flushed up to the page's LSN.
 *
 * Events: PageHit / PageMiss / PagePinned / PageUnpinned (sampled),
 * PageEvicted (with reason) and PageFlushed (rare, rate-limited).
 * Counters: core_stats()->buffer.
 *
 * Thread safety: every function but bp_create/bp_destroy may be called from
 * any thread. A thread may hold several pages at once only in ascending
 * page-id order (latch order), or shared latches only.
 */
#ifndef STRATA_CORE_BUFFER_H
#define STRATA_CORE_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"

struct disk;
struct bufpool;

/* Where the pool's memory is: the data segment's regions. */
struct bp_memory {
	struct shm_frame_desc *descs;
	struct shm_page_table *table;
	uint64_t buckets;      /* power of two */
	uint8_t *frames;       /* nframes * page_size, page aligned */
	uint64_t nframes;
	size_t page_size;
};

/* Called before a dirty page with this LSN is written: the log must be
 * durable up to lsn (the WAL rule). 0 or a STRATA_E* code. */
typedef int (*bp_wal_flush_fn)(void *arg, uint64_t lsn);

struct bp_config {
	unsigned lru_k;            /* 1..SHM_LRU_K_MAX, default 2 */
	bp_wal_flush_fn wal_flush; /* may be NULL (no log) */
	void *wal_arg;
};

enum bp_mode { BP_SHARED, BP_EXCLUSIVE };

/* A fetched page: valid until bp_release. */
struct bp_page {
	uint64_t page_id;
	void *data;        /* page_size bytes in the frame */
	uint32_t frame;
	enum bp_mode mode;
};

/* Takes over the memory (already zeroed and initialised by shm_create). */
int bp_create(struct bufpool **out, const struct bp_memory *mem, struct disk *disk,
	      const struct bp_config *cfg);
/* Flushes nothing (call bp_flush_all first); frees the pool's private state. */
void bp_destroy(struct bufpool *bp);

/*
 * Pins page_id in a frame (reading it from disk on a miss) and latches it.
 *   0                  *out is valid
 *   STRATA_ENOT_FOUND  page_id is not an allocated page (or never written
 *                      and not formatted: a freed page)
 *   STRATA_ECORRUPT    the page failed its checksum on read (the frame is
 *                      not kept: the next fetch reads again)
 *   STRATA_EBUSY       every frame is pinned
 *   STRATA_EIO ...     from the disk (a dirty victim's write, or the read)
 */
int bp_fetch(struct bufpool *bp, uint64_t page_id, enum bp_mode mode, struct bp_page *out);

/* Allocates a new page on disk, formats it (page_init) in a frame and
 * returns it latched exclusively and dirty. */
int bp_new_page(struct bufpool *bp, struct bp_page *out);

/* Unlatches and unpins; dirty marks the frame dirty (exclusive only). */
void bp_release(struct bufpool *bp, struct bp_page *p, bool dirty);

/* Writes page_id if it is resident and dirty. 0 also when it is clean or
 * not resident. */
int bp_flush_page(struct bufpool *bp, uint64_t page_id);

/* Writes every dirty page (coalescing adjacent ones), then syncs the data
 * file. *written (may be NULL) = pages written. */
int bp_flush_all(struct bufpool *bp, uint64_t *written);

/* Flushes up to max dirty unpinned pages (background flusher); returns the
 * count written or a STRATA_E* code. */
int bp_flush_some(struct bufpool *bp, unsigned max);

/* Drops page_id's frame if it is resident and unpinned (after the page was
 * freed on disk). Returns 0, or STRATA_EBUSY if it is pinned. */
int bp_discard(struct bufpool *bp, uint64_t page_id);

struct bp_info {
	bool resident, dirty;
	uint32_t pin_count;
	uint32_t frame;
};
/* What the pool knows of page_id now (a snapshot). */
void bp_page_info(struct bufpool *bp, uint64_t page_id, struct bp_info *info);

struct bp_stats {
	uint64_t frames, used, dirty, pinned, hits, misses, evictions, flushes;
	double hit_rate;
	unsigned lru_k;
};
void bp_get_stats(struct bufpool *bp, struct bp_stats *st);

size_t bp_page_size(const struct bufpool *bp);
struct disk *bp_disk(struct bufpool *bp);

#endif
