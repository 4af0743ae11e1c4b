/*
 * shm/layout.h — the structures placed in the data segment.
 *
 * Their protocols (who may change which field, under which latch) belong to
 * the buffer pool and are written down in core/buffer's README; this header
 * fixes only the memory layout, which the layout version in shm/segment.h
 * covers. Every shared field is a lock-free C11 atomic.
 */
#ifndef STRATA_SHM_LAYOUT_H
#define STRATA_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "descriptor words must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "descriptor words must be lock-free");

#define SHM_NO_PAGE UINT64_MAX
#define SHM_NO_FRAME UINT32_MAX
#define SHM_LRU_K_MAX 4
#define SHM_TABLE_STRIPES 128

/* One per frame; a cache line each so pins on neighbours don't contend. */
struct shm_frame_desc {
	_Alignas(64) _Atomic uint64_t page_id;     /* SHM_NO_PAGE when free */
	_Atomic uint32_t pin_count;
	_Atomic uint32_t flags;                    /* SHM_FRAME_* */
	_Atomic uint32_t latch;                    /* shared count | SHM_LATCH_EXCL */
	_Atomic uint32_t next;                     /* page-table chain; SHM_NO_FRAME ends it */
	_Atomic uint64_t history[SHM_LRU_K_MAX];   /* LRU-K: last K access ticks, newest first */
};

#define SHM_FRAME_VALID 0x1u  /* holds page_id's bytes */
#define SHM_FRAME_DIRTY 0x2u  /* differs from disk */
#define SHM_FRAME_IO 0x4u     /* being read in */
#define SHM_FRAME_WRITING 0x8u /* a flusher is writing a copy out */
#define SHM_LATCH_EXCL 0x80000000u

/* Page table: chained hash of page id -> frame, chains through
 * shm_frame_desc.next, one spinlock per stripe of buckets. */
struct shm_table_stripe {
	_Alignas(64) _Atomic uint32_t lock;
};

struct shm_page_table {
	struct shm_table_stripe stripes[SHM_TABLE_STRIPES];
	_Atomic uint32_t buckets[]; /* head frame of each chain */
};

#endif
