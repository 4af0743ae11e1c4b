/*
 * core/wal.h — the redo log: full-page images, group commit, segments.
 *
 * Durability contract (DESIGN.md "Files and durability"). Strata protects
 * pages with a redo log of FULL-PAGE IMAGES, as PostgreSQL's
 * full_page_writes, taken after every change (not only the first after a
 * checkpoint: a slotted-page change is small, and an image per change keeps
 * recovery a plain "last image wins" with no record-level redo to get
 * wrong; the cost is log volume, measured in bench/):
 *
 *   1. A change to a page is made under its exclusive latch; its image is
 *      appended here (wal_log_page) before the latch is released, and the
 *      page's LSN is set to the record's LSN.
 *   2. A change acknowledged with sync waits for wal_flush(lsn): the log is
 *      fdatasync'ed up to it. Concurrent syncs share one fdatasync (group
 *      commit).
 *   3. The buffer pool writes a dirty page only after wal_flush(page LSN)
 *      (write-ahead rule), so a torn data-page write is always repairable
 *      from an image in the log.
 *   4. Checkpoint: wal_switch starts a new segment; every page dirty before
 *      the switch is then written and the data file synced; wal_drop_before
 *      deletes the older segments. Writers never stop for a checkpoint.
 *      Checkpoints bound the log, and so recovery time.
 *   5. Recovery (wal_replay) reads every segment in order and hands each
 *      valid image to the caller, which writes it to the data file; the
 *      last image of a page wins. A record with a bad CRC or length ends its
 *      segment (a torn tail: it was never acknowledged, since its flush
 *      never completed); the segment is truncated there.
 *
 * Files: DIR/wal/NNNNNNNNNNNNNNNN.log (hex segment number). Each starts with
 * a 32-byte header (magic, version, page size, segment number, first LSN). A record: u32 crc32c (of everything after it), u32 length, u64 lsn,
 * u64 page_id, then page_size bytes of image. An LSN is the log position
 * just after the record: strictly increasing across segments.
 *
 * Thread safety: all functions but wal_open/wal_close/wal_replay may be
 * called from any thread.
 */
#ifndef STRATA_CORE_WAL_H
#define STRATA_CORE_WAL_H

#include <stddef.h>
#include <stdint.h>

struct wal;

/* Opens (creating) DIR/wal. Recovery must run (wal_replay) before logging.
 * STRATA_EBAD_REQUEST for a segment of another page size; STRATA_EIO ... */
int wal_open(struct wal **out, const char *dir, size_t page_size);
int wal_close(struct wal *w);

typedef int (*wal_apply_fn)(void *arg, uint64_t page_id, void *image, uint64_t lsn);

/* Replays every segment; *records = images applied. Then starts a fresh
 * segment for new records (the replayed ones stay until wal_drop_before). */
int wal_replay(struct wal *w, wal_apply_fn apply, void *arg, uint64_t *records);

/* Appends an image of page_id; *lsn = its LSN. Not yet durable. */
int wal_log_page(struct wal *w, uint64_t page_id, const void *image, uint64_t *lsn);

/* Makes the log durable up to lsn (0: everything written so far). */
int wal_flush(struct wal *w, uint64_t lsn);

/* Starts a new segment; *segment = its number (pass it to wal_drop_before
 * once every page dirtied before the switch is durable). */
int wal_switch(struct wal *w, uint64_t *segment);
/* Deletes the segments numbered below segment. */
int wal_drop_before(struct wal *w, uint64_t segment);

struct wal_stats {
	uint64_t records, bytes, flushes, group_commits; /* since open */
	uint64_t segments, log_bytes;                    /* on disk now */
	uint64_t durable_lsn, end_lsn;
};
void wal_get_stats(struct wal *w, struct wal_stats *st);

#endif
