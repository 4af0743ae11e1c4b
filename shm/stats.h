/*
 * shm/stats.h — layout of the stats segment's counter region.
 *
 * Every counter is a lock-free C11 atomic written only by stratad (relaxed
 * increments from whichever thread does the work) and read by anyone who
 * maps the segment read-only (`strata top`, the stats ticker). Readers take
 * no locks; a snapshot of several counters may be slightly inconsistent
 * (e.g. hits read before a concurrent miss is counted), which every reader
 * tolerates: rates and ratios are computed from deltas and clamped.
 *
 * Gauges (used, dirty, pinned, …) are counters that go up and down; they are
 * maintained by the code that changes the state they count.
 *
 * Adding a counter: append it to the end of its struct and bump
 * SHM_LAYOUT_VERSION in shm/segment.h.
 */
#ifndef STRATA_SHM_STATS_H
#define STRATA_SHM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "strata/events.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "stats counters must be lock-free");

typedef _Atomic uint64_t stat_u64;

/* Buffer pool (core/buffer). */
struct stats_buffer {
	stat_u64 hits;
	stat_u64 misses;
	stat_u64 evictions;
	stat_u64 flushes;      /* pages written back */
	stat_u64 used_frames;  /* gauge: frames holding a page */
	stat_u64 dirty_frames; /* gauge */
	stat_u64 pinned_frames;/* gauge: frames with pin count > 0 */
	stat_u64 busy_errors;  /* fetches refused: every frame pinned */
};

/* All I/O through the file layer (core/file). Latencies in microseconds. */
struct stats_io {
	stat_u64 reads;
	stat_u64 writes;
	stat_u64 bytes_read;
	stat_u64 bytes_written;
	stat_u64 read_latency_us_sum;
	stat_u64 write_latency_us_sum;
	stat_u64 read_latency_us_max;
	stat_u64 write_latency_us_max;
	stat_u64 vectored_reads;
	stat_u64 vectored_writes;
	stat_u64 fsyncs;
	stat_u64 errors;
	stat_u64 queue_depth;    /* gauge: submitted, not completed */
	stat_u64 uring_ops;      /* ops that went through io_uring */
	stat_u64 uring_enabled;  /* 1 if io_uring is in use, 0 if the fallback is */
	stat_u64 checksum_failures;
};

/* LSM trees (core/lsm). */
struct stats_lsm {
	stat_u64 puts;
	stat_u64 gets;
	stat_u64 deletes;
	stat_u64 memtable_flushes;
	stat_u64 compactions;
	stat_u64 bytes_compacted;
	stat_u64 write_stalls;
	stat_u64 sstables;       /* gauge */
	stat_u64 bloom_negatives;
};

/* Tiers (core/tiered). */
struct stats_tiers {
	stat_u64 hot_pages;      /* gauges */
	stat_u64 warm_pages;
	stat_u64 cold_pages;
	stat_u64 migrations;
	stat_u64 bytes_before;   /* uncompressed bytes of compressed pages */
	stat_u64 bytes_after;    /* their compressed size */
};

/* Pages (core/page operations done on behalf of users). */
struct stats_pages {
	stat_u64 allocated;
	stat_u64 splits;
	stat_u64 merges;
	stat_u64 compactions;
	stat_u64 bytes_reclaimed;
	stat_u64 records_inserted;
	stat_u64 records_deleted;
};

/* Columnar tables (core/columnar). */
struct stats_columnar {
	stat_u64 batches;
	stat_u64 rows_inserted;
	stat_u64 rows_scanned;
	stat_u64 chunks_skipped;
	stat_u64 encoding_changes;
};

/* Event emission (core/emit), per family. */
struct stats_events {
	stat_u64 emitted[STRATA_FAM_COUNT];      /* accepted into a ring */
	stat_u64 published[STRATA_FAM_COUNT];    /* sent on the bus */
	stat_u64 dropped[STRATA_FAM_COUNT];      /* ring full */
	stat_u64 sampled_out[STRATA_FAM_COUNT];  /* skipped by sampling */
	stat_u64 rate_limited[STRATA_FAM_COUNT]; /* suppressed by a rate limit */
};

struct shm_stats {
	struct stats_buffer buffer;
	struct stats_io io;
	struct stats_lsm lsm;
	struct stats_tiers tiers;
	struct stats_pages pages;
	struct stats_columnar columnar;
	struct stats_events events;
};

/* Relaxed helpers: counters need atomicity, not ordering. */
static inline void stat_add(stat_u64 *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}
static inline void stat_sub(stat_u64 *c, uint64_t n)
{
	atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}
static inline uint64_t stat_get(const stat_u64 *c)
{
	return atomic_load_explicit((stat_u64 *)c, memory_order_relaxed);
}
static inline void stat_set(stat_u64 *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}
/* Raises *c to v if v is larger (for maxima). */
static inline void stat_max(stat_u64 *c, uint64_t v)
{
	uint64_t cur = stat_get(c);
	while (v > cur && !atomic_compare_exchange_weak_explicit(
				  c, &cur, v, memory_order_relaxed, memory_order_relaxed))
		;
}

#endif
