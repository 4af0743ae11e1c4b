/*
 * core/lsm_sstable.h — sorted string tables: writer, reader, cursor.
 *
 * File layout (all blocks end with a 5-byte trailer: u8 compression
 * (0 raw, 1 LZ4), u32 crc32c of the stored bytes and the compression byte):
 *
 *     data block 0 .. data block n-1   entries, then u32 offset[count],
 *                                      u32 count (before compression);
 *                                      an entry: u8 type, varint klen,
 *                                      varint vlen, key, value
 *     filter block                     bloom filter (core/bloom.h), raw
 *     index block                      per data block: varint klen, last
 *                                      key, u64 offset, u32 stored size,
 *                                      u32 raw size; raw
 *     footer (64 bytes)                u64 magic, u32 version, u32 flags,
 *                                      u64 index off, u64 index size,
 *                                      u64 filter off, u64 filter size,
 *                                      u64 entries, u32 crc32c of the
 *                                      preceding 56 bytes, u32 zero
 *
 * Every block read verifies its CRC before anything in it is used (a block
 * served by the block cache was verified when it entered it): a
 * mismatch, or any malformed length or offset, is STRATA_ECORRUPT, never
 * wrong data. Keys in a table are unique and strictly ascending.
 *
 * Threads: a writer is used by one thread. A reader (struct lsm_sst) is
 * immutable after lsm_sst_open and may be used by any number of threads;
 * each cursor by one thread at a time.
 */
#ifndef STRATA_CORE_LSM_SSTABLE_H
#define STRATA_CORE_LSM_SSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lsm_cursor.h"

struct lsm_sst_opts {
	size_t block_bytes;     /* target raw data block size */
	unsigned bloom_bits;    /* bloom bits per key (0: no filter) */
	bool compress;          /* LZ4 data blocks */
};

/* What a finished table holds; smallest/largest are malloc'd (caller frees). */
struct lsm_sst_info {
	uint64_t size, entries, tombstones;
	uint8_t *smallest, *largest;
	size_t slen, llen;
};

struct lsm_sst_writer;

/* Starts a table at path (created/truncated). File layer errors, ENOMEM. */
int lsm_sst_writer_open(struct lsm_sst_writer **out, const char *path,
			const struct lsm_sst_opts *o);

/* Adds an entry; keys must be strictly ascending (STRATA_EBAD_REQUEST if
 * not). File layer errors. */
int lsm_sst_writer_add(struct lsm_sst_writer *w, const void *key, size_t klen, int type,
		       const void *val, size_t vlen);

/* Bytes the table would have if finished now (approximate). */
uint64_t lsm_sst_writer_size(const struct lsm_sst_writer *w);
uint64_t lsm_sst_writer_entries(const struct lsm_sst_writer *w);

/* Writes filter, index and footer, fdatasyncs and closes; fills *info. The
 * writer is freed whatever the result. STRATA_EBAD_REQUEST for an empty
 * table; file layer errors. */
int lsm_sst_writer_finish(struct lsm_sst_writer *w, struct lsm_sst_info *info);

/* Closes and frees the writer without finishing; unlinks its file. */
void lsm_sst_writer_abort(struct lsm_sst_writer *w);

void lsm_sst_info_free(struct lsm_sst_info *info);

struct lsm_sst;

/* Opens the table at path: reads and verifies footer, index and filter.
 * STRATA_ENOT_FOUND (no file), STRATA_ECORRUPT, file layer errors. */
int lsm_sst_open(struct lsm_sst **out, const char *path);
/* The same; map: read data blocks through a read-only mapping of the file
 * (core/file.h file_map) instead of pread. Blocks stored raw are then
 * copied out of the mapping on every load (no syscall), their CRC checked
 * each time, and only decompressed blocks enter the block cache. A page
 * that cannot be read (disk error, file truncated under the mapping) is
 * STRATA_EIO, not SIGBUS. Falls back to pread when the mapping fails. */
int lsm_sst_open_ex(struct lsm_sst **out, const char *path, bool map);
/* Whether r reads through a mapping. */
bool lsm_sst_mapped(const struct lsm_sst *r);
void lsm_sst_close(struct lsm_sst *r);

uint64_t lsm_sst_entries(const struct lsm_sst *r);
uint64_t lsm_sst_file_size(const struct lsm_sst *r);

/* Bloom probe: false = key certainly absent. */
bool lsm_sst_may_contain(const struct lsm_sst *r, uint64_t key_hash);

/*
 * Looks key up. 0 with *type and (for a put) a malloc'd copy in *val and *vlen
 * (a 1-byte allocation for an empty value; NULL for a tombstone);
 * STRATA_ENOT_FOUND; STRATA_ECORRUPT; file layer errors; STRATA_ENOMEM.
 */
int lsm_sst_get(struct lsm_sst *r, const void *key, size_t klen, int *type, void **val,
		size_t *vlen);

/* A cursor over the table. The reader must outlive it. STRATA_ENOMEM. */
int lsm_sst_cursor(struct lsm_sst *r, struct lsm_cursor **out);
/* The same; fill_cache false: blocks not in the cache are read without
 * being inserted (compactions: a one-time scan must not evict hot blocks). */
int lsm_sst_cursor_ex(struct lsm_sst *r, bool fill_cache, struct lsm_cursor **out);

/* Makes r look data blocks up in (and add them to) cache c (core/lsm_cache.h),
 * which must outlive r. Call before sharing r. Without it r reads every
 * block from the file. */
struct lsm_cache;
void lsm_sst_set_cache(struct lsm_sst *r, struct lsm_cache *c);

/* How many block checksum failures readers have seen (process-wide). */
uint64_t lsm_sst_corruptions(void);

#endif
