/*
 * core/disk.h — the disk manager: page-addressed data file with checksums,
 * a persisted free list, vectored/coalesced/io_uring/async I/O.
 *
 * Files in the data directory:
 *
 *   data.db     page_size-byte pages. Page 0 is the header page: a formatted
 *               page (core/page.h, page_id 0, checksummed) whose record 0
 *               holds "STRATADB", the disk format version and the page size.
 *               Pages 1 .. disk_num_pages()-1 are data pages. The page count
 *               is the file size / page_size: allocation extends the file by
 *               one page (posix_fallocate), so no counter can disagree with
 *               the file.
 *   data.free   the free list: magic, version, page size, count, CRC-32C and
 *               the free page ids. Rewritten as data.free.tmp + fsync +
 *               rename + directory fsync by disk_flush()/disk_close() when it
 *               changed. A freed page is also hole-punched, so it reads as a
 *               never-written page until it is written again.
 *
 * Why a separate free-list file rather than a chain through freed pages:
 * the page format belongs to core/page, freeing costs no page write, and the
 * list is replaced atomically. Durability of the free list: like page data,
 * changes become durable at the next disk_flush(), which writes the free
 * list *before* syncing data.db. After a crash an allocation can therefore
 * be lost (the page leaks: it is neither free nor used) but a page is never
 * handed out twice. Ids in data.free beyond the end of data.db (an
 * extension that never became durable) are dropped on open.
 *
 * Reads verify every page: the CRC-32C, the header (page_is_formatted) and
 * that the page's own page_id is the one asked for (a misdirected write).
 * A never-written page (all zeros, e.g. just allocated, or freed) is not
 * corrupt: it reads as zeros with STRATA_ENOT_FOUND. A corrupt page is
 * never returned as data: the buffer is zeroed.
 *
 * Writes take a formatted page whose page_id is the target id
 * (page_init(buf, page_size, id) makes one) and store its checksum in place
 * (page_checksum_update) before writing: the caller must keep the buffer
 * stable during the call (hold the frame latch).
 *
 * O_DIRECT (DISK_DIRECT): page buffers should be aligned to
 * FILE_DIRECT_ALIGN (4096; posix_memalign). Unaligned buffers are bounced
 * through an aligned copy (counted in disk_counters.bounced), so they work,
 * only slower.
 *
 * io_uring: a ring of depth DISK_URING_DEPTH_DEFAULT (or disk_config) is
 * created at open unless DISK_NO_URING. If the kernel refuses it (containers
 * often do) the disk falls back to pread/pwrite, sets
 * core_stats()->io.uring_enabled to 0 and says so on stderr once per
 * process. Every function works either way; only disk_read_pages_uring and
 * disk_process_async_ops use the ring.
 *
 * Thread-safety: all functions except disk_open/disk_close may be called
 * from any number of threads at once. Reads and writes of distinct pages
 * run in parallel (positional I/O, no lock). Concurrent writes of the same
 * page, or a read concurrent with a write of it, are the caller's to order
 * (the buffer pool's frame latch). Internal locks, never held across a
 * callback and never nested except as noted:
 *   alloc_lock     free list, its bitmap, the page count
 *   flush_lock     one disk_flush at a time; taken before alloc_lock
 *   coalesce_lock  the coalescing buffer (held while it is written out)
 *   ring_lock      the io_uring (one batch at a time)
 *   async_lock     the async queue
 * disk_close() must not race with any other call on the disk.
 *
 * Errors common to the functions returning int:
 *   STRATA_EBAD_REQUEST  NULL arguments, page id 0 (the header) or
 *                        >= disk_num_pages(), a page to write that is not
 *                        formatted or carries another page_id
 *   STRATA_EIO, STRATA_ENOSPC, STRATA_EREAD_ONLY  from the file layer
 *                        (EREAD_ONLY: data.db had an fsync failure; the
 *                        disk must be closed and recovered)
 *   STRATA_ENOMEM
 */
#ifndef STRATA_CORE_DISK_H
#define STRATA_CORE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct disk;

/* disk_open flags. */
enum {
	DISK_DIRECT = 1 << 0,    /* O_DIRECT on data.db */
	DISK_NO_URING = 1 << 1,  /* never use io_uring (the fallback path) */
};

#define DISK_URING_DEPTH_DEFAULT 64u
#define DISK_COALESCE_MAX_DEFAULT 256u /* buffered pages before a forced flush */
#define DISK_FORMAT_VERSION 1u
#define DISK_FIRST_PAGE 1u             /* page 0 is the header */

struct disk_config {
	size_t page_size;      /* page_size_valid(); must match an existing file */
	unsigned flags;        /* DISK_* */
	unsigned uring_depth;  /* 0 = DISK_URING_DEPTH_DEFAULT; 1..4096 */
	unsigned coalesce_max; /* 0 = DISK_COALESCE_MAX_DEFAULT */
};

/*
 * Opens dir/data.db, creating it (and its header page) when missing or
 * empty; dir must exist. Loads data.free if present.
 *   STRATA_EBAD_REQUEST  invalid page size or flags; or data.db exists with
 *                        another page size (disk_probe_page_size tells
 *                        which); or DISK_DIRECT on a file system without
 *                        O_DIRECT (tmpfs)
 *   STRATA_ECORRUPT      data.db is not a Strata data file / its header page
 *                        fails its checksum; data.free is damaged
 *   STRATA_ENOT_FOUND    dir does not exist
 *   STRATA_EIO, STRATA_ENOSPC, STRATA_ENOMEM
 */
int disk_open(struct disk **out, const char *dir, size_t page_size, unsigned flags);
int disk_open_config(struct disk **out, const char *dir, const struct disk_config *cfg);

/*
 * Runs the queued async ops (their callbacks are called from here), writes
 * the coalescing buffer, flushes (disk_flush) and frees d — always, even on
 * error; the first error is returned. NULL is a no-op.
 */
int disk_close(struct disk *d);

/* Page size recorded in dir/data.db's header.
 * STRATA_ENOT_FOUND (no data.db), STRATA_ECORRUPT, STRATA_EIO. */
int disk_probe_page_size(const char *dir, size_t *page_size);

size_t disk_page_size(const struct disk *d);

/* Pages in data.db including the header page: data pages are
 * DISK_FIRST_PAGE .. disk_num_pages()-1. */
uint64_t disk_num_pages(const struct disk *d);

/* Pages on the free list. */
uint64_t disk_free_count(const struct disk *d);

/* Whether this disk submits through io_uring. */
bool disk_uring_enabled(const struct disk *d);

/* Whether data.db was marked failed by an fsync error (writes refused). */
bool disk_is_read_only(const struct disk *d);

/*
 * Reads page_id into buf (page_size bytes) and verifies it. Sees pages
 * still waiting in the coalescing buffer.
 *   0                    buf holds the page
 *   STRATA_ENOT_FOUND    never written (allocated, or freed): buf is zeroed
 *   STRATA_ECORRUPT      checksum mismatch (counted in
 *                        core_stats()->io.checksum_failures, ChecksumFailure
 *                        event {page_id, expected: stored checksum, actual:
 *                        computed}), bad header, or another page's id (also
 *                        counted, no event): buf is zeroed
 *   + the common errors; on an I/O error buf's contents are unspecified.
 */
int disk_read_page(struct disk *d, uint64_t page_id, void *buf);

/* Updates buf's checksum in place and writes it (see the header). A pending
 * coalesced copy of the page is discarded (this write is newer). Not
 * durable until disk_flush(). */
int disk_write_page(struct disk *d, uint64_t page_id, void *buf);

/*
 * Allocates a page: the most recently freed one if the free list has any,
 * else a new page at the end of the file (extended with posix_fallocate).
 * The page reads as never written (STRATA_ENOT_FOUND) until it is written.
 * Emits PageAllocated {page_id, size} and counts stats.pages.allocated.
 *   STRATA_ENOSPC  the file cannot grow
 */
int disk_allocate_page(struct disk *d, uint64_t *page_id);

/* Returns page_id to the free list and punches its bytes out of the file
 * (it reads as never written until reallocated and written). A pending
 * coalesced copy is discarded.
 *   STRATA_ECONFLICT  page_id is already free */
int disk_free_page(struct disk *d, uint64_t page_id);

/*
 * Makes page_id an existing, in-use page, for redo recovery (a logged page
 * image whose allocation did not become durable): grows the file to
 * page_id + 1 pages if needed (the pages in between read as never written
 * and are not put on the free list: leaked, as after any crash) and takes
 * page_id off the free list if it is there. Nothing if it already is in use.
 *   STRATA_EBAD_REQUEST  page_id 0 or absurdly large (offset overflow)
 *   STRATA_ENOSPC        the file cannot grow
 */
int disk_ensure_page(struct disk *d, uint64_t page_id);

/* Writes the coalescing buffer, then data.free if it changed, then
 * fdatasyncs data.db: everything written or freed before the call is
 * durable when it returns 0. */
int disk_flush(struct disk *d);

/*
 * Vectored I/O of n pages (ids in any order, duplicates allowed): the ids
 * are sorted and each run of consecutive ids becomes one preadv/pwritev
 * (a run of one: pread/pwrite). bufs[i] is the buffer of ids[i].
 * results (may be NULL) receives each page's result, as disk_read_page /
 * disk_write_page would return it. Returns 0 if every page succeeded, else
 * the first non-zero result in input order. Reads verify every page; writes
 * checksum every page in place first. Writes are all or nothing as far as
 * validation goes: if any page is invalid none is written, the return is
 * STRATA_EBAD_REQUEST and results[i] is STRATA_EBAD_REQUEST for each bad
 * page (0 for the others, which were not written either). Of duplicate ids
 * in one write, the last in input order is what the file ends up with.
 */
int disk_read_pages_vectored(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			     int *results);
int disk_write_pages_vectored(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			      int *results);

/*
 * Copies buf (its checksum updated in the copy; buf is not changed) into the
 * coalescing buffer, replacing an older copy of the same page. Reads see it
 * at once. When the buffer holds coalesce_max pages it is flushed here.
 * Errors: the common ones (of that forced flush, too).
 */
int disk_write_page_coalesced(struct disk *d, uint64_t page_id, const void *buf);

/* Writes the coalescing buffer: sorted, runs of adjacent pages merged into
 * one pwritev each (disk_counters.coalesce_saved_syscalls counts the calls
 * saved). Pages whose write failed stay buffered for a later flush; the
 * first error is returned. Does not fsync (disk_flush does). */
int disk_flush_coalesced(struct disk *d);

/* Pages waiting in the coalescing buffer. */
size_t disk_coalesced_pending(const struct disk *d);

/*
 * Reads n pages through io_uring, keeping up to the ring depth in flight
 * (submit, reap, refill), and verifies each like disk_read_page. Without a
 * ring (DISK_NO_URING, or io_uring refused) the same pages are read with
 * pread: same results, same bytes. results/return as the vectored calls.
 */
int disk_read_pages_uring(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			  int *results);

/*
 * Async queue. An op is queued with a priority (higher runs first; equal
 * priorities run in queue order) and runs when some thread calls
 * disk_process_async_ops(). Its callback gets the op's result as
 * disk_read_page/disk_write_page would return it; buf must stay valid and
 * unchanged until then. When queuing fails (bad id, unformatted page,
 * STRATA_ENOMEM) the callback is never called.
 */
typedef void (*disk_async_cb)(void *arg, uint64_t page_id, int result);

int disk_read_page_async(struct disk *d, uint64_t page_id, void *buf, int priority,
			 disk_async_cb cb, void *arg);
int disk_write_page_async(struct disk *d, uint64_t page_id, void *buf, int priority,
			  disk_async_cb cb, void *arg);

/* Takes up to max ops from the queue, highest priority first, runs them as
 * one batch (through io_uring when available), then calls their callbacks
 * in that same priority order, on this thread. Returns how many ran. */
size_t disk_process_async_ops(struct disk *d, size_t max);

/* Ops queued and not yet taken. */
size_t disk_async_pending(const struct disk *d);

/* Per-disk counters (since open), for tests, benchmarks and stats. */
struct disk_counters {
	uint64_t pages_read, pages_written;   /* pages moved, all paths */
	uint64_t read_calls, write_calls;     /* pread/preadv, pwrite/pwritev issued */
	uint64_t preadv_calls, pwritev_calls; /* of those, multi-page vectored calls */
	uint64_t coalesced_pages;             /* pages written by disk_flush_coalesced */
	uint64_t coalesced_calls;             /* pwrite/pwritev calls it needed */
	uint64_t coalesce_saved_syscalls;     /* coalesced_pages - coalesced_calls */
	uint64_t coalesce_read_hits;          /* reads served from the buffer */
	uint64_t uring_batches, uring_pages;  /* file_ring_run calls, pages */
	uint64_t async_completed;
	uint64_t bounced;                     /* O_DIRECT bounce copies */
	uint64_t corrupt_pages;               /* reads that returned STRATA_ECORRUPT */
};

void disk_get_counters(const struct disk *d, struct disk_counters *out);

#endif
