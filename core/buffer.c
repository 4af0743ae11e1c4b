/*
 * core/buffer.c — buffer pool. The rules are in core/README-buffer.md; the
 * numbers in comments (R1..R7) refer to them.
 *
 * A frame's residency (flags and table membership), as a table of
 * transitions; every one happens under the stripe lock of the page named:
 *
 *   from                   event                        to
 *   FREE (NO_PAGE, pin 0)  claimed for a miss/new page  CLAIMED (pin 1, not in table)
 *   CLAIMED                inserted for page P          IO (in table, pin >= 1)
 *   CLAIMED                new page P formatted         VALID|DIRTY (in table)
 *   IO                     read ok                      VALID
 *   IO                     read failed                  FREE (out of table; waiters retry)
 *   VALID, pin 0, clean    chosen as victim             CLAIMED (out of table)
 *   VALID, pin 0, dirty    chosen as victim             written first (stays VALID, in
 *                                                       table, pinned by the evictor), then
 *                                                       CLAIMED if still clean and unpinned
 *   VALID, pin 0           discarded (page freed)       FREE
 */
#include "core/buffer.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/disk.h"
#include "core/emit.h"
#include "core/page.h"
#include "core/stats.h"
#include "strata/error.h"

#define SCAN_CANDIDATES 64
#define EVICT_ATTEMPTS 8

struct bufpool {
	struct bp_memory m;
	struct disk *disk;
	struct bp_config cfg;
	_Atomic uint64_t tick;      /* LRU-K clock: one tick per access */
	_Atomic uint64_t hand;      /* where the next victim scan starts */
	_Atomic uint64_t flush_hand;
};

/* ---- small locks (R2, R3) ---- */

static inline void cpu_relax(unsigned *spins)
{
	if (++*spins > 64) {
		sched_yield();
		*spins = 0;
	}
#if defined(__x86_64__) || defined(__i386__)
	else
		__builtin_ia32_pause();
#endif
}

static void stripe_lock(struct shm_table_stripe *s)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t exp = 0;
		if (atomic_compare_exchange_weak_explicit(&s->lock, &exp, 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
		cpu_relax(&spins);
	}
}

static void stripe_unlock(struct shm_table_stripe *s)
{
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

static void latch_shared(struct shm_frame_desc *d)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t v = atomic_load_explicit(&d->latch, memory_order_relaxed);
		if (!(v & SHM_LATCH_EXCL) &&
		    atomic_compare_exchange_weak_explicit(&d->latch, &v, v + 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
		cpu_relax(&spins);
	}
}

static void latch_exclusive(struct shm_frame_desc *d)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t exp = 0;
		if (atomic_compare_exchange_weak_explicit(&d->latch, &exp, SHM_LATCH_EXCL,
							  memory_order_acquire, memory_order_relaxed))
			return;
		cpu_relax(&spins);
	}
}

static void unlatch(struct shm_frame_desc *d, enum bp_mode mode)
{
	if (mode == BP_EXCLUSIVE)
		atomic_store_explicit(&d->latch, 0, memory_order_release);
	else
		atomic_fetch_sub_explicit(&d->latch, 1, memory_order_release);
}

/* ---- pins (R1) ---- */

static void pin_add(struct shm_frame_desc *d)
{
	if (atomic_fetch_add_explicit(&d->pin_count, 1, memory_order_acquire) == 0)
		stat_add(&core_stats()->buffer.pinned_frames, 1);
}

static uint32_t pin_drop(struct shm_frame_desc *d)
{
	uint32_t old = atomic_fetch_sub_explicit(&d->pin_count, 1, memory_order_release);
	if (old == 1)
		stat_sub(&core_stats()->buffer.pinned_frames, 1);
	return old - 1;
}

/* ---- page table ---- */

static inline uint64_t bucket_of(const struct bufpool *bp, uint64_t page_id)
{
	uint64_t h = page_id * 0x9e3779b97f4a7c15ull;
	return (h >> 17) & (bp->m.buckets - 1);
}

static inline struct shm_table_stripe *stripe_of(struct bufpool *bp, uint64_t bucket)
{
	return &bp->m.table->stripes[bucket % SHM_TABLE_STRIPES];
}

/* Under the stripe lock. */
static uint32_t table_find(struct bufpool *bp, uint64_t bucket, uint64_t page_id)
{
	uint32_t f = atomic_load_explicit(&bp->m.table->buckets[bucket], memory_order_relaxed);
	while (f != SHM_NO_FRAME) {
		if (atomic_load_explicit(&bp->m.descs[f].page_id, memory_order_relaxed) == page_id)
			return f;
		f = atomic_load_explicit(&bp->m.descs[f].next, memory_order_relaxed);
	}
	return SHM_NO_FRAME;
}

static void table_insert(struct bufpool *bp, uint64_t bucket, uint32_t f)
{
	_Atomic uint32_t *head = &bp->m.table->buckets[bucket];
	atomic_store_explicit(&bp->m.descs[f].next, atomic_load_explicit(head, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(head, f, memory_order_relaxed);
}

static void table_remove(struct bufpool *bp, uint64_t bucket, uint32_t f)
{
	_Atomic uint32_t *link = &bp->m.table->buckets[bucket];
	uint32_t cur;
	while ((cur = atomic_load_explicit(link, memory_order_relaxed)) != SHM_NO_FRAME) {
		if (cur == f) {
			atomic_store_explicit(link,
					      atomic_load_explicit(&bp->m.descs[f].next, memory_order_relaxed),
					      memory_order_relaxed);
			atomic_store_explicit(&bp->m.descs[f].next, SHM_NO_FRAME, memory_order_relaxed);
			return;
		}
		link = &bp->m.descs[cur].next;
	}
}

static inline void *frame_data(struct bufpool *bp, uint32_t f)
{
	return bp->m.frames + (size_t)f * bp->m.page_size;
}

/* ---- LRU-K ---- */

static void touch(struct bufpool *bp, struct shm_frame_desc *d)
{
	uint64_t t = atomic_fetch_add_explicit(&bp->tick, 1, memory_order_relaxed) + 1;
	for (unsigned i = bp->cfg.lru_k - 1; i > 0; i--)
		atomic_store_explicit(&d->history[i],
				      atomic_load_explicit(&d->history[i - 1], memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&d->history[0], t, memory_order_relaxed);
}

/* Smaller is a better victim: the K-th most recent access (0 when the page
 * was touched fewer than K times: infinite backward K-distance), then the
 * most recent one. */
static bool better_victim(struct bufpool *bp, const struct shm_frame_desc *a,
			  const struct shm_frame_desc *b)
{
	unsigned k = bp->cfg.lru_k - 1;
	uint64_t ak = atomic_load_explicit(&((struct shm_frame_desc *)a)->history[k], memory_order_relaxed);
	uint64_t bk = atomic_load_explicit(&((struct shm_frame_desc *)b)->history[k], memory_order_relaxed);
	if (ak != bk)
		return ak < bk;
	return atomic_load_explicit(&((struct shm_frame_desc *)a)->history[0], memory_order_relaxed) <
	       atomic_load_explicit(&((struct shm_frame_desc *)b)->history[0], memory_order_relaxed);
}

/* ---- writing a frame (R5, R6) ---- */

/* One page-aligned copy buffer per thread that flushes, freed when the
 * thread exits (a pthread key destructor: _Thread_local has none). */
struct flush_buffer {
	size_t size;
	void *data;
};
static pthread_key_t flush_key;
static pthread_once_t flush_once = PTHREAD_ONCE_INIT;

static void flush_buffer_free(void *p)
{
	struct flush_buffer *b = p;
	free(b->data);
	free(b);
}

static void flush_key_make(void)
{
	(void)pthread_key_create(&flush_key, flush_buffer_free);
}

static void *thread_buffer(size_t size)
{
	if (pthread_once(&flush_once, flush_key_make) != 0)
		return NULL;
	struct flush_buffer *b = pthread_getspecific(flush_key);
	if (!b) {
		if (!(b = calloc(1, sizeof(*b))))
			return NULL;
		if (pthread_setspecific(flush_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (b->size < size) {
		free(b->data);
		b->data = NULL;
		b->size = 0;
		if (posix_memalign(&b->data, 4096, size) != 0)
			return NULL;
		b->size = size;
	}
	return b->data;
}

/*
 * Writes frame f (pinned by the caller) if it is dirty. Copies the page
 * under a shared latch so writers are held off only for the memcpy; the
 * copy gets the checksum and goes to disk after the log is flushed up to
 * its LSN. On failure the frame is dirty again.
 */
/* One writer of a frame's copy at a time (R6): two flushers racing could
 * otherwise land an older copy after a newer one, leaving the disk stale
 * under a frame that says it is clean. Waiting here also makes a flusher
 * that finds the frame clean return only once the write in flight landed. */
static void writing_begin(struct shm_frame_desc *d)
{
	unsigned spins = 0;
	while (atomic_fetch_or_explicit(&d->flags, SHM_FRAME_WRITING, memory_order_acquire) &
	       SHM_FRAME_WRITING)
		cpu_relax(&spins);
}

static void writing_end(struct shm_frame_desc *d)
{
	atomic_fetch_and_explicit(&d->flags, ~SHM_FRAME_WRITING, memory_order_release);
}

static int flush_frame_locked(struct bufpool *bp, uint32_t f, bool coalesce);

static int flush_frame(struct bufpool *bp, uint32_t f, bool coalesce)
{
	struct shm_frame_desc *d = &bp->m.descs[f];
	writing_begin(d);
	int rv = flush_frame_locked(bp, f, coalesce);
	writing_end(d);
	return rv;
}

static int flush_frame_locked(struct bufpool *bp, uint32_t f, bool coalesce)
{
	struct shm_frame_desc *d = &bp->m.descs[f];
	void *copy = thread_buffer(bp->m.page_size);
	if (!copy)
		return STRATA_ENOMEM;
	latch_shared(d);
	uint32_t old = atomic_fetch_and_explicit(&d->flags, ~SHM_FRAME_DIRTY, memory_order_acq_rel);
	if (!(old & SHM_FRAME_DIRTY) || !(old & SHM_FRAME_VALID)) {
		unlatch(d, BP_SHARED);
		return 0;
	}
	uint64_t page_id = atomic_load_explicit(&d->page_id, memory_order_relaxed);
	memcpy(copy, frame_data(bp, f), bp->m.page_size);
	unlatch(d, BP_SHARED);
	stat_sub(&core_stats()->buffer.dirty_frames, 1);

	int rv = 0;
	if (bp->cfg.wal_flush)
		rv = bp->cfg.wal_flush(bp->cfg.wal_arg, page_lsn(copy));
	if (rv == 0)
		rv = coalesce ? disk_write_page_coalesced(bp->disk, page_id, copy)
			      : disk_write_page(bp->disk, page_id, copy);
	if (rv != 0) {
		if (!(atomic_fetch_or_explicit(&d->flags, SHM_FRAME_DIRTY, memory_order_acq_rel) &
		      SHM_FRAME_DIRTY))
			stat_add(&core_stats()->buffer.dirty_frames, 1);
		return rv;
	}
	stat_add(&core_stats()->buffer.flushes, 1);
	struct strata_event ev = {.variant = STRATA_EV_PageFlushed};
	ev.u.PageFlushed.page_id = page_id;
	ev.u.PageFlushed.dirty_bytes = bp->m.page_size;
	emit_rare(&ev);
	return 0;
}

/* ---- finding a frame for a new page (R4) ---- */

static void emit_evicted(uint64_t page_id, bool was_dirty)
{
	struct strata_event ev = {.variant = STRATA_EV_PageEvicted};
	ev.u.PageEvicted.page_id = page_id;
	snprintf(ev.u.PageEvicted.reason, sizeof(ev.u.PageEvicted.reason), "%s",
		 was_dirty ? "LRU-K eviction - dirty page written back"
			   : "LRU-K eviction - least recently used");
	emit_rare(&ev);
}

/* Tries to take frame f, holding page P, out of the table for reuse.
 * 0: got it (pinned once by us, out of the table); 1: not possible now;
 * <0: error writing it back. */
/* Takes the first pin of an unpinned frame (0 -> 1), or fails. The acquire
 * pairs with the release of the last unpin, so the flags (DIRTY) its
 * holder set before unpinning are visible to us afterwards. */
static bool pin_claim(struct shm_frame_desc *d)
{
	uint32_t zero = 0;
	if (!atomic_compare_exchange_strong_explicit(&d->pin_count, &zero, 1, memory_order_acquire,
						     memory_order_relaxed))
		return false;
	stat_add(&core_stats()->buffer.pinned_frames, 1);
	return true;
}

static int try_evict(struct bufpool *bp, uint32_t f)
{
	struct shm_frame_desc *d = &bp->m.descs[f];
	uint64_t page_id = atomic_load_explicit(&d->page_id, memory_order_relaxed);
	if (page_id == SHM_NO_PAGE)
		return 1;
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	bool wrote = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		stripe_lock(st);
		/* Our pin first, then the flags: checking "no pin" and "clean"
		 * as two separate reads lets a holder dirty and unpin the page
		 * between them, and its change would be dropped unwritten. */
		if (atomic_load_explicit(&d->page_id, memory_order_relaxed) != page_id ||
		    !pin_claim(d)) {
			stripe_unlock(st);
			return 1;
		}
		uint32_t flags = atomic_load_explicit(&d->flags, memory_order_acquire);
		if (flags & (SHM_FRAME_IO | SHM_FRAME_WRITING)) {
			stripe_unlock(st);
			pin_drop(d);
			return 1;
		}
		if (!(flags & SHM_FRAME_DIRTY)) {
			/* Keep the pin while the page id goes: a NO_PAGE frame
			 * with no pin is free for anyone to claim. */
			table_remove(bp, b, f);
			atomic_store_explicit(&d->page_id, SHM_NO_PAGE, memory_order_relaxed);
			atomic_store_explicit(&d->flags, 0, memory_order_release);
			stripe_unlock(st);
			stat_add(&core_stats()->buffer.evictions, 1);
			emit_evicted(page_id, wrote);
			return 0;
		}
		stripe_unlock(st);
		if (attempt == 1) { /* dirtied again while we wrote it */
			pin_drop(d);
			return 1;
		}
		/* Dirty: write it back while it stays findable (a reader
		 * must never read the stale disk copy), then look again. */
		int rv = flush_frame(bp, f, false);
		pin_drop(d);
		if (rv != 0)
			return rv;
		wrote = true;
	}
	return 1;
}

/* A frame pinned once by the caller, out of the table, page NO_PAGE. */
static int get_frame(struct bufpool *bp, uint32_t *out)
{
	uint64_t n = bp->m.nframes;
	int last_err = 0;
	for (int attempt = 0; attempt < EVICT_ATTEMPTS; attempt++) {
		uint64_t start = atomic_fetch_add_explicit(&bp->hand, SCAN_CANDIDATES,
							   memory_order_relaxed);
		uint32_t best = SHM_NO_FRAME;
		unsigned seen = 0;
		for (uint64_t i = 0; i < n && seen < SCAN_CANDIDATES; i++) {
			uint32_t f = (uint32_t)((start + i) % n);
			struct shm_frame_desc *d = &bp->m.descs[f];
			if (atomic_load_explicit(&d->pin_count, memory_order_relaxed) != 0)
				continue;
			if (atomic_load_explicit(&d->page_id, memory_order_relaxed) == SHM_NO_PAGE) {
				if (!pin_claim(d))
					continue;
				/* Someone may have claimed, filled and unpinned it
				 * between our look and our pin: then it is not free. */
				if (atomic_load_explicit(&d->page_id, memory_order_relaxed) != SHM_NO_PAGE) {
					pin_drop(d);
					continue;
				}
				stat_add(&core_stats()->buffer.used_frames, 1);
				*out = f;
				return 0;
			}
			if (atomic_load_explicit(&d->flags, memory_order_relaxed) & SHM_FRAME_IO)
				continue;
			seen++;
			if (best == SHM_NO_FRAME || better_victim(bp, d, &bp->m.descs[best]))
				best = f;
		}
		if (best == SHM_NO_FRAME) {
			if (seen == 0)
				break; /* every frame pinned or in I/O */
			continue;
		}
		int rv = try_evict(bp, best);
		if (rv == 0) {
			*out = best;
			return 0;
		}
		if (rv < 0)
			last_err = rv;
	}
	if (last_err)
		return last_err;
	stat_add(&core_stats()->buffer.busy_errors, 1);
	return STRATA_EBUSY;
}

/* Gives back a claimed frame that was never inserted. */
static void release_claimed(struct bufpool *bp, uint32_t f)
{
	struct shm_frame_desc *d = &bp->m.descs[f];
	atomic_store_explicit(&d->page_id, SHM_NO_PAGE, memory_order_relaxed);
	atomic_store_explicit(&d->flags, 0, memory_order_release);
	stat_sub(&core_stats()->buffer.used_frames, 1);
	pin_drop(d);
}

/* ---- public ---- */

int bp_create(struct bufpool **out, const struct bp_memory *mem, struct disk *disk,
	      const struct bp_config *cfg)
{
	if (!mem || !disk || mem->nframes == 0 || mem->nframes >= SHM_NO_FRAME ||
	    (mem->buckets & (mem->buckets - 1)) || disk_page_size(disk) != mem->page_size)
		return STRATA_EBAD_REQUEST;
	struct bufpool *bp = calloc(1, sizeof(*bp));
	if (!bp)
		return STRATA_ENOMEM;
	bp->m = *mem;
	bp->disk = disk;
	if (cfg)
		bp->cfg = *cfg;
	if (bp->cfg.lru_k == 0)
		bp->cfg.lru_k = 2;
	if (bp->cfg.lru_k > SHM_LRU_K_MAX) {
		free(bp);
		return STRATA_EBAD_REQUEST;
	}
	stat_set(&core_stats()->buffer.used_frames, 0);
	stat_set(&core_stats()->buffer.dirty_frames, 0);
	stat_set(&core_stats()->buffer.pinned_frames, 0);
	*out = bp;
	return 0;
}

void bp_destroy(struct bufpool *bp)
{
	free(bp);
}

size_t bp_page_size(const struct bufpool *bp)
{
	return bp->m.page_size;
}

struct disk *bp_disk(struct bufpool *bp)
{
	return bp->disk;
}

static void emit_page_event(enum strata_ev_variant v, uint64_t page_id, uint32_t pins, bool dirty)
{
	if (!emit_sample_due(v))
		return;
	struct strata_event ev = {.variant = (uint16_t)v};
	switch (v) {
	case STRATA_EV_PageHit: ev.u.PageHit.page_id = page_id; break;
	case STRATA_EV_PageMiss: ev.u.PageMiss.page_id = page_id; break;
	case STRATA_EV_PagePinned:
		ev.u.PagePinned.page_id = page_id;
		ev.u.PagePinned.pin_count = pins;
		break;
	case STRATA_EV_PageUnpinned:
		ev.u.PageUnpinned.page_id = page_id;
		ev.u.PageUnpinned.pin_count = pins;
		ev.u.PageUnpinned.dirty = dirty;
		break;
	default: return;
	}
	emit(&ev);
}

int bp_fetch(struct bufpool *bp, uint64_t page_id, enum bp_mode mode, struct bp_page *out)
{
	if (page_id == SHM_NO_PAGE || page_id < DISK_FIRST_PAGE)
		return STRATA_ENOT_FOUND;
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	for (;;) {
		stripe_lock(st);
		uint32_t f = table_find(bp, b, page_id);
		if (f != SHM_NO_FRAME) {
			struct shm_frame_desc *d = &bp->m.descs[f];
			pin_add(d);
			stripe_unlock(st);
			unsigned spins = 0;
			while (atomic_load_explicit(&d->flags, memory_order_acquire) & SHM_FRAME_IO)
				cpu_relax(&spins);
			if (!(atomic_load_explicit(&d->flags, memory_order_acquire) & SHM_FRAME_VALID) ||
			    atomic_load_explicit(&d->page_id, memory_order_relaxed) != page_id) {
				pin_drop(d); /* its read failed: try ourselves */
				continue;
			}
			stat_add(&core_stats()->buffer.hits, 1);
			touch(bp, d);
			emit_page_event(STRATA_EV_PageHit, page_id, 0, false);
			if (mode == BP_EXCLUSIVE)
				latch_exclusive(d);
			else
				latch_shared(d);
			*out = (struct bp_page){.page_id = page_id, .data = frame_data(bp, f),
						.frame = f, .mode = mode};
			emit_page_event(STRATA_EV_PagePinned, page_id,
					atomic_load_explicit(&d->pin_count, memory_order_relaxed), false);
			return 0;
		}
		stripe_unlock(st);

		/* Miss. */
		if (page_id >= disk_num_pages(bp->disk))
			return STRATA_ENOT_FOUND;
		int rv = get_frame(bp, &f);
		if (rv != 0)
			return rv;
		struct shm_frame_desc *d = &bp->m.descs[f];
		stripe_lock(st);
		if (table_find(bp, b, page_id) != SHM_NO_FRAME) {
			stripe_unlock(st); /* someone else is reading it in */
			release_claimed(bp, f);
			continue;
		}
		atomic_store_explicit(&d->page_id, page_id, memory_order_relaxed);
		atomic_store_explicit(&d->flags, SHM_FRAME_IO, memory_order_release);
		for (unsigned i = 0; i < SHM_LRU_K_MAX; i++)
			atomic_store_explicit(&d->history[i], 0, memory_order_relaxed);
		table_insert(bp, b, f);
		stripe_unlock(st);

		rv = disk_read_page(bp->disk, page_id, frame_data(bp, f));
		if (rv != 0) {
			stripe_lock(st);
			table_remove(bp, b, f);
			atomic_store_explicit(&d->page_id, SHM_NO_PAGE, memory_order_relaxed);
			atomic_store_explicit(&d->flags, 0, memory_order_release);
			stripe_unlock(st);
			stat_sub(&core_stats()->buffer.used_frames, 1);
			pin_drop(d);
			return rv == STRATA_EBAD_REQUEST ? STRATA_ENOT_FOUND : rv;
		}
		atomic_store_explicit(&d->flags, SHM_FRAME_VALID, memory_order_release);
		stat_add(&core_stats()->buffer.misses, 1);
		touch(bp, d);
		emit_page_event(STRATA_EV_PageMiss, page_id, 0, false);
		if (mode == BP_EXCLUSIVE)
			latch_exclusive(d);
		else
			latch_shared(d);
		*out = (struct bp_page){.page_id = page_id, .data = frame_data(bp, f), .frame = f,
					.mode = mode};
		emit_page_event(STRATA_EV_PagePinned, page_id,
				atomic_load_explicit(&d->pin_count, memory_order_relaxed), false);
		return 0;
	}
}

int bp_new_page(struct bufpool *bp, struct bp_page *out)
{
	uint64_t page_id;
	int rv = disk_allocate_page(bp->disk, &page_id);
	if (rv != 0)
		return rv;
	uint32_t f;
	if ((rv = get_frame(bp, &f)) != 0) {
		(void)disk_free_page(bp->disk, page_id);
		return rv;
	}
	struct shm_frame_desc *d = &bp->m.descs[f];
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	stripe_lock(st);
	if (table_find(bp, b, page_id) != SHM_NO_FRAME) {
		/* A frame of a freed page with this id is still resident: the
		 * caller of disk_free_page should have discarded it. */
		stripe_unlock(st);
		release_claimed(bp, f);
		(void)disk_free_page(bp->disk, page_id);
		return STRATA_EINTERNAL;
	}
	atomic_store_explicit(&d->page_id, page_id, memory_order_relaxed);
	for (unsigned i = 0; i < SHM_LRU_K_MAX; i++)
		atomic_store_explicit(&d->history[i], 0, memory_order_relaxed);
	latch_exclusive(d);
	page_init(frame_data(bp, f), bp->m.page_size, page_id);
	atomic_store_explicit(&d->flags, SHM_FRAME_VALID | SHM_FRAME_DIRTY, memory_order_release);
	table_insert(bp, b, f);
	stripe_unlock(st);
	stat_add(&core_stats()->buffer.dirty_frames, 1);
	touch(bp, d);
	*out = (struct bp_page){.page_id = page_id, .data = frame_data(bp, f), .frame = f,
				.mode = BP_EXCLUSIVE};
	return 0;
}

void bp_release(struct bufpool *bp, struct bp_page *p, bool dirty)
{
	struct shm_frame_desc *d = &bp->m.descs[p->frame];
	if (dirty && p->mode == BP_EXCLUSIVE &&
	    !(atomic_fetch_or_explicit(&d->flags, SHM_FRAME_DIRTY, memory_order_acq_rel) &
	      SHM_FRAME_DIRTY))
		stat_add(&core_stats()->buffer.dirty_frames, 1);
	unlatch(d, p->mode);
	uint32_t left = pin_drop(d);
	emit_page_event(STRATA_EV_PageUnpinned, p->page_id, left, dirty);
	p->data = NULL;
}

/* Pins page_id if resident (no read). SHM_NO_FRAME if not. */
static uint32_t pin_resident(struct bufpool *bp, uint64_t page_id)
{
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	stripe_lock(st);
	uint32_t f = table_find(bp, b, page_id);
	if (f != SHM_NO_FRAME)
		pin_add(&bp->m.descs[f]);
	stripe_unlock(st);
	return f;
}

int bp_flush_page(struct bufpool *bp, uint64_t page_id)
{
	uint32_t f = pin_resident(bp, page_id);
	if (f == SHM_NO_FRAME)
		return 0;
	struct shm_frame_desc *d = &bp->m.descs[f];
	unsigned spins = 0;
	while (atomic_load_explicit(&d->flags, memory_order_acquire) & SHM_FRAME_IO)
		cpu_relax(&spins);
	int rv = flush_frame(bp, f, false);
	pin_drop(d);
	return rv;
}

static int cmp_u64pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Writes up to max dirty frames (all if max == 0) in page-id order through
 * the coalescing buffer. Returns the count, or a STRATA_E* code. */
static int flush_dirty(struct bufpool *bp, uint64_t max, bool only_unpinned)
{
	uint64_t n = bp->m.nframes;
	uint64_t *list = malloc(n * 2 * sizeof(uint64_t));
	if (!list)
		return STRATA_ENOMEM;
	uint64_t cnt = 0;
	uint64_t start = only_unpinned ? atomic_load(&bp->flush_hand) : 0;
	for (uint64_t i = 0; i < n && (max == 0 || cnt < max); i++) {
		uint32_t f = (uint32_t)((start + i) % n);
		struct shm_frame_desc *d = &bp->m.descs[f];
		uint32_t flags = atomic_load_explicit(&d->flags, memory_order_relaxed);
		/* A frame another flusher is writing counts too: flush_frame
		 * waits for that write, so flush_all returns after it landed. */
		if (!(flags & (SHM_FRAME_DIRTY | SHM_FRAME_WRITING)) || !(flags & SHM_FRAME_VALID))
			continue;
		if (only_unpinned && atomic_load_explicit(&d->pin_count, memory_order_relaxed))
			continue;
		list[2 * cnt] = atomic_load_explicit(&d->page_id, memory_order_relaxed);
		list[2 * cnt + 1] = f;
		cnt++;
	}
	if (only_unpinned)
		atomic_store(&bp->flush_hand, (start + n / 8 + 1) % n);
	qsort(list, cnt, 2 * sizeof(uint64_t), cmp_u64pair);
	int rv = 0, written = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		uint32_t f = pin_resident(bp, list[2 * i]);
		if (f == SHM_NO_FRAME)
			continue; /* evicted meanwhile (and written then) */
		struct shm_frame_desc *d = &bp->m.descs[f];
		unsigned spins = 0;
		while (atomic_load_explicit(&d->flags, memory_order_acquire) & SHM_FRAME_IO)
			cpu_relax(&spins);
		bool was_dirty = atomic_load_explicit(&d->flags, memory_order_relaxed) & SHM_FRAME_DIRTY;
		int r = flush_frame(bp, f, true);
		pin_drop(d);
		if (r != 0 && rv == 0)
			rv = r;
		if (r == 0 && was_dirty)
			written++;
	}
	free(list);
	int r = disk_flush_coalesced(bp->disk);
	if (rv == 0)
		rv = r;
	return rv ? rv : written;
}

int bp_flush_all(struct bufpool *bp, uint64_t *written)
{
	int rv = flush_dirty(bp, 0, false);
	if (rv < 0)
		return rv;
	if (written)
		*written = (uint64_t)rv;
	return disk_flush(bp->disk);
}

int bp_flush_some(struct bufpool *bp, unsigned max)
{
	return flush_dirty(bp, max ? max : 1, true);
}

int bp_discard(struct bufpool *bp, uint64_t page_id)
{
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	stripe_lock(st);
	uint32_t f = table_find(bp, b, page_id);
	if (f == SHM_NO_FRAME) {
		stripe_unlock(st);
		return 0;
	}
	struct shm_frame_desc *d = &bp->m.descs[f];
	if (atomic_load_explicit(&d->pin_count, memory_order_acquire) != 0) {
		stripe_unlock(st);
		return STRATA_EBUSY;
	}
	table_remove(bp, b, f);
	uint32_t flags = atomic_exchange_explicit(&d->flags, 0, memory_order_acq_rel);
	atomic_store_explicit(&d->page_id, SHM_NO_PAGE, memory_order_relaxed);
	stripe_unlock(st);
	if (flags & SHM_FRAME_DIRTY)
		stat_sub(&core_stats()->buffer.dirty_frames, 1);
	stat_sub(&core_stats()->buffer.used_frames, 1);
	return 0;
}

void bp_page_info(struct bufpool *bp, uint64_t page_id, struct bp_info *info)
{
	memset(info, 0, sizeof(*info));
	info->frame = SHM_NO_FRAME;
	uint64_t b = bucket_of(bp, page_id);
	struct shm_table_stripe *st = stripe_of(bp, b);
	stripe_lock(st);
	uint32_t f = table_find(bp, b, page_id);
	if (f != SHM_NO_FRAME) {
		struct shm_frame_desc *d = &bp->m.descs[f];
		uint32_t flags = atomic_load_explicit(&d->flags, memory_order_acquire);
		info->resident = flags & SHM_FRAME_VALID;
		info->dirty = flags & SHM_FRAME_DIRTY;
		info->pin_count = atomic_load_explicit(&d->pin_count, memory_order_relaxed);
		info->frame = f;
	}
	stripe_unlock(st);
}

void bp_get_stats(struct bufpool *bp, struct bp_stats *st)
{
	struct shm_stats *s = core_stats();
	st->frames = bp->m.nframes;
	st->used = stat_get(&s->buffer.used_frames);
	st->dirty = stat_get(&s->buffer.dirty_frames);
	st->pinned = stat_get(&s->buffer.pinned_frames);
	st->hits = stat_get(&s->buffer.hits);
	st->misses = stat_get(&s->buffer.misses);
	st->evictions = stat_get(&s->buffer.evictions);
	st->flushes = stat_get(&s->buffer.flushes);
	st->hit_rate = st->hits + st->misses ? (double)st->hits / (double)(st->hits + st->misses) : 0;
	st->lru_k = bp->cfg.lru_k;
}
