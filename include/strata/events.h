/*
 * strata/events.h — the storage events every layer shares.
 *
 * One definition, three users: core emits these structs, proto encodes them
 * (msgpack on the bus, JSON on WebSocket) and the frontend renders them. The
 * variant list and each variant's fields are written once, below, as
 * X-macros; the structs, the enums and proto's field tables are all
 * generated from them, so a field cannot exist in one place and be missing
 * in another.
 *
 * Field names and spellings are the seed's (see test_data/websocket/).
 * Every variant carries `timestamp` (seconds since the epoch) last, as the
 * seed's JSON does.
 *
 * Dependency-free: usable from every layer.
 */
#ifndef STRATA_EVENTS_H
#define STRATA_EVENTS_H

#include <stdint.h>

/* Longest string field, including the terminating NUL. */
#define STRATA_EV_STR_MAX 64

/*
 * Families: X(ENUM, nng topic, WebSocket message_type, ws path suffix)
 */
#define STRATA_EVENT_FAMILIES(X)                                             \
	X(BUFFER_POOL, "storage.buffer_pool", "buffer_pool_event", "buffer-pool") \
	X(LSM, "storage.lsm", "lsm_event", "lsm")                                \
	X(IO, "storage.io", "disk_io_event", "io")                               \
	X(TIERS, "storage.tiers", "tier_event", "tiers")                         \
	X(PAGES, "storage.pages", "page_event", "pages")                         \
	X(COLUMNAR, "storage.columnar", "columnar_event", "columnar")

enum strata_ev_family {
#define STRATA_EV_FAMILY_ENUM_(e, topic, mtype, path) STRATA_FAM_##e,
	STRATA_EVENT_FAMILIES(STRATA_EV_FAMILY_ENUM_)
#undef STRATA_EV_FAMILY_ENUM_
	STRATA_FAM_COUNT
};

/*
 * Field types: U64 (JSON integer >= 0), I64 (JSON integer), U32 (JSON integer
 * in 0..2^32-1), F64 (JSON number), STR (JSON string, < STRATA_EV_STR_MAX
 * bytes).
 */
enum strata_ev_field_type {
	STRATA_FT_U64,
	STRATA_FT_I64,
	STRATA_FT_U32,
	STRATA_FT_F64,
	STRATA_FT_STR,
};

/*
 * Variants: X(family, Name, FIELDS) where FIELDS(F) lists F(TYPE, name).
 * The order within a family is its variant order; add new variants at the
 * end of a family.
 */
#define STRATA_EV_PageHit(F) F(U64, page_id) F(I64, timestamp)
#define STRATA_EV_PageMiss(F) F(U64, page_id) F(I64, timestamp)
#define STRATA_EV_PageEvicted(F) F(U64, page_id) F(STR, reason) F(I64, timestamp)
#define STRATA_EV_PageFlushed(F) F(U64, page_id) F(U64, dirty_bytes) F(I64, timestamp)
#define STRATA_EV_PoolStats(F)                                                 \
	F(F64, hit_rate) F(U64, total_pages) F(U64, used_pages)                \
	F(U64, dirty_pages) F(U64, free_pages) F(U64, pinned_pages)            \
	F(U64, hits) F(U64, misses) F(U64, evictions) F(U64, flushes)          \
	F(U64, events_dropped) F(I64, timestamp)
#define STRATA_EV_PagePinned(F) F(U64, page_id) F(U64, pin_count) F(I64, timestamp)
#define STRATA_EV_PageUnpinned(F) F(U64, page_id) F(U64, pin_count) F(U64, dirty) F(I64, timestamp)

#define STRATA_EV_MemtableFlushed(F) F(STR, tree_name) F(U64, entries) F(U64, size_bytes) F(I64, timestamp)
#define STRATA_EV_CompactionStarted(F) F(STR, tree_name) F(U64, level) F(U64, sstable_count) F(I64, timestamp)
#define STRATA_EV_CompactionCompleted(F)                                       \
	F(STR, tree_name) F(U64, level) F(U64, old_sstables)                   \
	F(U64, new_sstables) F(U64, duration_ms) F(I64, timestamp)
#define STRATA_EV_LevelMigration(F)                                            \
	F(STR, tree_name) F(U64, from_level) F(U64, to_level)                  \
	F(U64, sstable_count) F(I64, timestamp)
#define STRATA_EV_CompactionProgress(F)                                        \
	F(STR, tree_name) F(U64, level) F(U64, bytes_done) F(U64, bytes_total) \
	F(F64, percent) F(I64, timestamp)
#define STRATA_EV_WriteStall(F)                                                \
	F(STR, tree_name) F(STR, reason) F(U64, l0_files) F(U64, stall_us) F(I64, timestamp)
#define STRATA_EV_WriteAmplificationAlert(F)                                   \
	F(STR, tree_name) F(F64, write_amplification) F(F64, threshold) F(I64, timestamp)

#define STRATA_EV_ReadCompleted(F) F(U64, page_id) F(U64, latency_us) F(U64, bytes) F(I64, timestamp)
#define STRATA_EV_WriteCompleted(F) F(U64, page_id) F(U64, latency_us) F(U64, bytes) F(I64, timestamp)
#define STRATA_EV_VectoredRead(F) F(U64, page_count) F(U64, total_bytes) F(U64, latency_us) F(I64, timestamp)
#define STRATA_EV_VectoredWrite(F) F(U64, page_count) F(U64, total_bytes) F(U64, latency_us) F(I64, timestamp)
#define STRATA_EV_IoStats(F)                                                   \
	F(F64, reads_per_sec) F(F64, writes_per_sec)                           \
	F(F64, read_throughput_mbps) F(F64, write_throughput_mbps)             \
	F(U64, avg_read_latency_us) F(U64, avg_write_latency_us)               \
	F(U64, reads) F(U64, writes) F(U64, bytes_read) F(U64, bytes_written)  \
	F(U64, queue_depth) F(U64, events_dropped) F(I64, timestamp)
#define STRATA_EV_IoAlert(F) F(STR, kind) F(F64, value) F(F64, threshold) F(I64, timestamp)

#define STRATA_EV_PageMigrated(F)                                              \
	F(U64, page_id) F(STR, from_tier) F(STR, to_tier) F(STR, reason) F(I64, timestamp)
#define STRATA_EV_TierStats(F)                                                 \
	F(U64, hot_pages) F(U64, warm_pages) F(U64, cold_pages)                \
	F(U64, total_migrations) F(F64, avg_compression_ratio)                 \
	F(U64, bytes_saved) F(U64, events_dropped) F(I64, timestamp)
#define STRATA_EV_TierRebalanced(F)                                            \
	F(U64, pages_moved) F(U64, hot_pages) F(U64, warm_pages) F(U64, cold_pages) F(I64, timestamp)

#define STRATA_EV_PageAllocated(F) F(U64, page_id) F(U64, size) F(I64, timestamp)
#define STRATA_EV_PageSplit(F) F(U64, original_page_id) F(U64, new_page_id) F(STR, reason) F(I64, timestamp)
#define STRATA_EV_PageMerged(F) F(U64, page1_id) F(U64, page2_id) F(U64, result_page_id) F(I64, timestamp)
#define STRATA_EV_PageCompacted(F) F(U64, page_id) F(U64, bytes_reclaimed) F(I64, timestamp)
#define STRATA_EV_ChecksumFailure(F) F(U64, page_id) F(U32, expected) F(U32, actual) F(I64, timestamp)

#define STRATA_EV_BatchInserted(F) F(STR, table_name) F(U64, rows) F(U64, columns) F(I64, timestamp)
#define STRATA_EV_ColumnScanned(F)                                             \
	F(STR, table_name) F(STR, column_name) F(U64, rows_scanned) F(U64, duration_ms) F(I64, timestamp)
#define STRATA_EV_EncodingChanged(F)                                           \
	F(STR, table_name) F(STR, column_name) F(STR, old_encoding)            \
	F(STR, new_encoding) F(F64, compression_ratio) F(I64, timestamp)
#define STRATA_EV_ColumnScanProgress(F)                                        \
	F(STR, table_name) F(STR, column_name) F(U64, rows_scanned) F(U64, rows_total) F(I64, timestamp)

#define STRATA_EVENT_VARIANTS(X)                 \
	X(BUFFER_POOL, PageHit)                  \
	X(BUFFER_POOL, PageMiss)                 \
	X(BUFFER_POOL, PageEvicted)              \
	X(BUFFER_POOL, PageFlushed)              \
	X(BUFFER_POOL, PoolStats)                \
	X(BUFFER_POOL, PagePinned)               \
	X(BUFFER_POOL, PageUnpinned)             \
	X(LSM, MemtableFlushed)                  \
	X(LSM, CompactionStarted)                \
	X(LSM, CompactionCompleted)              \
	X(LSM, LevelMigration)                   \
	X(LSM, CompactionProgress)               \
	X(LSM, WriteStall)                       \
	X(LSM, WriteAmplificationAlert)          \
	X(IO, ReadCompleted)                     \
	X(IO, WriteCompleted)                    \
	X(IO, VectoredRead)                      \
	X(IO, VectoredWrite)                     \
	X(IO, IoStats)                           \
	X(IO, IoAlert)                           \
	X(TIERS, PageMigrated)                   \
	X(TIERS, TierStats)                      \
	X(TIERS, TierRebalanced)                 \
	X(PAGES, PageAllocated)                  \
	X(PAGES, PageSplit)                      \
	X(PAGES, PageMerged)                     \
	X(PAGES, PageCompacted)                  \
	X(PAGES, ChecksumFailure)                \
	X(COLUMNAR, BatchInserted)               \
	X(COLUMNAR, ColumnScanned)               \
	X(COLUMNAR, EncodingChanged)             \
	X(COLUMNAR, ColumnScanProgress)

/* C types of the field types. */
#define STRATA_EV_CTYPE_U64(n) uint64_t n;
#define STRATA_EV_CTYPE_I64(n) int64_t n;
#define STRATA_EV_CTYPE_U32(n) uint32_t n;
#define STRATA_EV_CTYPE_F64(n) double n;
#define STRATA_EV_CTYPE_STR(n) char n[STRATA_EV_STR_MAX];
#define STRATA_EV_FIELD_DECL_(type, name) STRATA_EV_CTYPE_##type(name)

/* One struct per variant: struct strata_ev_PageHit { uint64_t page_id; ... }. */
#define STRATA_EV_STRUCT_(fam, Name) \
	struct strata_ev_##Name { STRATA_EV_##Name(STRATA_EV_FIELD_DECL_) };
STRATA_EVENT_VARIANTS(STRATA_EV_STRUCT_)
#undef STRATA_EV_STRUCT_

enum strata_ev_variant {
#define STRATA_EV_VARIANT_ENUM_(fam, Name) STRATA_EV_##Name,
	STRATA_EVENT_VARIANTS(STRATA_EV_VARIANT_ENUM_)
#undef STRATA_EV_VARIANT_ENUM_
	STRATA_EV_COUNT
};

/*
 * A whole event: fixed size, no pointers, so it can be copied into a ring
 * slot by the emitting thread and out of it by the publisher.
 */
struct strata_event {
	uint16_t variant; /* enum strata_ev_variant */
	uint16_t family;  /* enum strata_ev_family; implied by variant */
	int64_t ts_us;    /* emission time, microseconds since the epoch */
	union {
#define STRATA_EV_UNION_(fam, Name) struct strata_ev_##Name Name;
		STRATA_EVENT_VARIANTS(STRATA_EV_UNION_)
#undef STRATA_EV_UNION_
	} u;
};

/* Family of each variant, as a constant expression. */
static inline enum strata_ev_family strata_ev_family_of(enum strata_ev_variant v)
{
	static const uint8_t fam[STRATA_EV_COUNT] = {
#define STRATA_EV_FAM_OF_(f, Name) [STRATA_EV_##Name] = STRATA_FAM_##f,
		STRATA_EVENT_VARIANTS(STRATA_EV_FAM_OF_)
#undef STRATA_EV_FAM_OF_
	};
	return (unsigned)v < STRATA_EV_COUNT ? (enum strata_ev_family)fam[v] : STRATA_FAM_COUNT;
}

/* The variant's own `timestamp` field (seconds), NULL for a bad variant. */
static inline int64_t *strata_ev_timestamp(struct strata_event *ev)
{
	switch (ev->variant) {
#define STRATA_EV_TS_(f, Name) case STRATA_EV_##Name: return &ev->u.Name.timestamp;
		STRATA_EVENT_VARIANTS(STRATA_EV_TS_)
#undef STRATA_EV_TS_
	default: return 0;
	}
}

#endif
