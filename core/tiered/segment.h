/*
 * core/tiered/segment.h — warm and cold segment files: append-only files of
 * checksummed page records.
 *
 * Files: DIR/NNNNNNNN.seg (hex segment number), one set per tier (warm:
 * DATA/tiers/warm, cold: the cold dir, which may be another mount). A
 * segment starts with a 32-byte header:
 *
 *   u64 magic "STRSEG01", u32 version, u32 tier, u32 segment number,
 *   u32 reserved (0), u32 reserved (0), u32 crc32c of the 28 bytes before it
 *
 * followed by records, each
 *
 *   u32 magic 0x52535453 ("STSR"), u32 crc32c (of the 24 header bytes after
 *   it and the payload), u64 page id, u32 stored length (payload bytes),
 *   u32 logical length (the page's bytes), u8 codec, u8 tier, u16 reserved,
 *   u32 crc32c of the page's (uncompressed) bytes, then the payload.
 *
 * All integers little-endian. A record is written whole (one pwrite) and
 * synced before the page map points at it (core/tiered/tiered.c); a record
 * the map does not point at is dead space: its bytes are punched out when
 * the page leaves (file_punch_hole), and a segment whose records are all
 * dead is deleted (never the active one, which takes the appends). Every
 * open starts a new active segment, so a torn record at the end of an old
 * one is never appended after.
 *
 * Reading a record verifies everything: magic, both checksums, page id,
 * lengths, codec, tier. Any mismatch is STRATA_ECORRUPT and no data.
 *
 * Thread safety: all functions but segset_open/segset_close from any
 * thread. Appends are serialised by the set's lock; reads of distinct
 * records run in parallel. A record must not be read while it is released
 * (the caller's page lock orders the two).
 */
#ifndef STRATA_CORE_TIERED_SEGMENT_H
#define STRATA_CORE_TIERED_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEG_HEADER_SIZE 32u
#define SEG_RECORD_HEADER 32u
#define SEG_RECORD_MAGIC 0x52535453u
#define SEG_VERSION 1u

struct seg_record {
	uint64_t page_id;
	uint32_t stored_len;   /* payload bytes */
	uint32_t logical_len;  /* page bytes after decoding */
	uint8_t codec;         /* enum tier_codec */
	uint8_t tier;          /* enum tier */
	uint32_t data_crc;     /* crc32c of the page bytes */
};

/* Writes the header for r and checksums header + payload (payload must
 * follow the header in buf: buf = SEG_RECORD_HEADER + r->stored_len bytes). */
void seg_record_seal(void *buf, const struct seg_record *r);

/* Checks a record read back from a file (len bytes: header + payload) and
 * fills *r. STRATA_ECORRUPT on any mismatch, including a page id or stored
 * length other than the expected ones (expect_page 0: any). */
int seg_record_check(const void *buf, size_t len, uint64_t expect_page, struct seg_record *r);

/* The 32-byte file header; seg_header_check: STRATA_ECORRUPT if bad. */
void seg_header_make(void *buf, unsigned tier, uint32_t segno);
int seg_header_check(const void *buf, unsigned tier, uint32_t segno);

struct segset;

struct segset_stats {
	uint64_t segments;
	uint64_t file_bytes;   /* sum of the segment files' sizes */
	uint64_t live_bytes;   /* records the map points at */
	uint64_t dead_bytes;   /* file bytes that are neither header nor live */
};

/*
 * Opens the segments in dir (created if missing; its parent must exist),
 * checking each header, and starts a new active segment. The live byte
 * counts start at 0: the caller adds every record its map points at
 * (segset_account) and then calls segset_drop_empty.
 *   STRATA_ECORRUPT      a segment's header is damaged
 *   STRATA_EBAD_REQUEST  a segment of another tier
 *   + the file layer's errors
 */
int segset_open(struct segset **out, const char *dir, unsigned tier, uint64_t seg_max);
int segset_close(struct segset *s);
const char *segset_dir(const struct segset *s);

/* Recovery: count a live record of len bytes in segment segno. */
void segset_account(struct segset *s, uint32_t segno, uint64_t len);
/* Deletes every segment but the active one that has no live record. */
int segset_drop_empty(struct segset *s);

/* Appends a sealed record (len bytes) and, with sync, fdatasyncs it.
 * *segno, *off: where it went. Rolls to a new segment past seg_max. */
int segset_append(struct segset *s, const void *rec, size_t len, bool sync, uint32_t *segno,
		  uint64_t *off);
/* Reads len bytes at (segno, off). STRATA_ECORRUPT when the segment does
 * not exist or the record runs past its end. */
int segset_read(struct segset *s, uint32_t segno, uint64_t off, void *buf, size_t len);
/* The record at (segno, off, len) is dead: punches it out, and deletes the
 * segment when nothing in it is live any more (unless it is active). */
int segset_release(struct segset *s, uint32_t segno, uint64_t off, uint64_t len);

void segset_get_stats(struct segset *s, struct segset_stats *st);
/* Segments whose dead bytes are over ratio of their file size (not the
 * active one); up to max numbers into out. For compaction. */
size_t segset_sparse(struct segset *s, double ratio, uint32_t *out, size_t max);

#endif
