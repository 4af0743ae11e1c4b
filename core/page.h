/*
 * core/page.h — checksummed slotted pages over a caller-provided buffer.
 *
 * A page is page_size bytes (a power of two, PAGE_SIZE_MIN..PAGE_SIZE_MAX,
 * PAGE_SIZE_DEFAULT by default) owned by the caller: a buffer pool frame, a
 * read buffer, a test array. These functions never allocate, never block,
 * never emit events (the layers above do) and keep no state outside the page.
 * They are not synchronised: the caller holds the frame's latch (shared for
 * the read-only functions, exclusive for the others).
 *
 * On-page layout (all integers little-endian, whatever the host):
 *
 * byte 0        4        8                16               24
 *        +--------+--------+----------------+----------------+
 *        |checksum| magic  |    page_id     |      lsn       |
 *        +--------+--------+----------------+----------------+
 * byte 24   26   28   30 31 32       36       40       44       48
 *        +----+----+----+--+--+--------+--------+--------+--------+
 *        |flgs|slot|live|sh|v |free_st |free_end|  frag  |reserved|
 *        +----+----+----+--+--+--------+--------+--------+--------+
 *
 *   48                 free_start      free_end                  page_size
 *   +------+------+----+---------------+-----+-------+-----+-------+
 *   |slot 0|slot 1|... |  free space   | rec | (dead)| rec |  rec  |
 *   +------+------+----+---------------+-----+-------+-----+-------+
 *    slot directory grows up ->            <- record data grows down
 *
 *   off size field
 *    0  u32  checksum    CRC-32C (core/crc32c.h) of bytes [4, page_size)
 *    4  u32  magic       PAGE_MAGIC ("STPG" in byte order)
 *    8  u64  page_id
 *   16  u64  lsn         LSN of the last logged change (redo log)
 *   24  u16  flags       free for the layers above (page type, leaf, ...)
 *   26  u16  slot_count  slot directory entries, live and deleted
 *   28  u16  live_count  live entries (records, including empty ones)
 *   30  u8   page_shift  log2(page_size), 12..16
 *   31  u8   version     PAGE_FORMAT_VERSION
 *   32  u32  free_start  end of the slot directory: 48 + 4 * slot_count
 *   36  u32  free_end    lowest record byte; page_size when there are none
 *   40  u32  frag_bytes  dead bytes in [free_end, page_size) (deleted or
 *                        shrunk records), reclaimed by page_compact()
 *   44  u32  reserved    zero
 *   48  slot directory: slot i is 4 bytes at 48 + 4 * i: u16 offset, u16 len
 *         offset 0,  len 0  deleted slot
 *         offset 48, len 0  live empty record
 *         offset o,  len n  live record at [o, o + n), free_end <= o,
 *                           o + n <= page_size, no two records overlap
 *
 * Offsets that can reach page_size (65536 at most) are u32; a record offset
 * is always below 65536 and a record length at most page_max_record(), so
 * slot entries fit in u16s.
 *
 * Slot ids. A record keeps its slot id for life: updates, relocations and
 * compaction never change it. A deleted slot id in the middle of the
 * directory is reused by the next insert (lowest first); trailing deleted
 * slots are dropped from the directory at once, so slot_count is 0 or its
 * last entry is live, and page_slot_count() may shrink on delete.
 *
 * Checksums. The mutating functions do not recompute the checksum: whoever
 * writes the page out calls page_checksum_update() first, and whoever reads
 * it in calls page_checksum_ok(). page_init() leaves a correct checksum.
 *
 * Never trusting the bytes. Every function that reads a page checks what it
 * uses before using it, so garbage in the buffer is an error or a false/0
 * answer, never an out-of-bounds access: page_get_record() checks the header
 * and the one slot it reads (O(1)); the functions that change a page run the
 * full page_validate() first (O(n log n) in the slot count) and leave a page
 * that fails it untouched.
 *
 * Stack: page_validate() and the mutating functions use up to
 * 4 * PAGE_MAX_SLOTS (16 KiB) of stack for the sorted record offsets.
 *
 * Errors common to the functions returning int: STRATA_EBAD_REQUEST for a
 * page_size that page_size_valid() rejects (or the other argument errors
 * listed), STRATA_ECORRUPT for a page that fails page_validate(). Neither
 * changes anything.
 */
#ifndef STRATA_CORE_PAGE_H
#define STRATA_CORE_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE_MIN 4096u
#define PAGE_SIZE_MAX 65536u
#define PAGE_SIZE_DEFAULT 4096u

#define PAGE_MAGIC 0x47505453u /* bytes "STPG" */
#define PAGE_FORMAT_VERSION 1u

#define PAGE_HEADER_SIZE 48u
#define PAGE_SLOT_SIZE 4u

/* Most slot directory entries a page can have. Bounds the per-page work and
 * the stack used by compaction (4 bytes per slot); small pages run out of
 * bytes first (a 4 KiB page holds at most 1012 empty records). */
#define PAGE_MAX_SLOTS 4096u

/* Header field offsets, for modules that read pages without this API (the
 * disk layer's torn-page check, dump tools). */
#define PAGE_OFF_CHECKSUM 0u
#define PAGE_OFF_MAGIC 4u
#define PAGE_OFF_PAGE_ID 8u
#define PAGE_OFF_LSN 16u
#define PAGE_OFF_FLAGS 24u
#define PAGE_OFF_SLOT_COUNT 26u
#define PAGE_OFF_LIVE_COUNT 28u
#define PAGE_OFF_SHIFT 30u
#define PAGE_OFF_VERSION 31u
#define PAGE_OFF_FREE_START 32u
#define PAGE_OFF_FREE_END 36u
#define PAGE_OFF_FRAG 40u
#define PAGE_OFF_RESERVED 44u

/* ---- sizes -------------------------------------------------------------- */

/* Whether page_size is a power of two in PAGE_SIZE_MIN..PAGE_SIZE_MAX. */
bool page_size_valid(size_t page_size);

/* Largest record that fits in an empty page of this size:
 * page_size - PAGE_HEADER_SIZE - PAGE_SLOT_SIZE; 0 for an invalid size. */
size_t page_max_record(size_t page_size);

/* ---- format, header, checksum -------------------------------------------- */

/* Formats page as an empty page: no slots, lsn 0, flags 0, zeroed body and a
 * correct checksum. page_size must be valid (asserted; an invalid size
 * writes nothing). */
void page_init(void *page, size_t page_size, uint64_t page_id);

/* Stores the CRC-32C of bytes [4, page_size) at offset 0. Nothing for an
 * invalid page_size. */
void page_checksum_update(void *page, size_t page_size);

/* Whether the stored checksum matches the bytes. *stored and *computed (each
 * may be NULL) receive both values, for the ChecksumFailure event. An invalid
 * page_size answers false with *computed 0. Says nothing about the header:
 * an all-zero page fails it (see page_is_formatted). */
bool page_checksum_ok(const void *page, size_t page_size, uint32_t *stored,
		      uint32_t *computed);

/* Whether the header is a sane page header of this page_size (magic,
 * version, size, slot directory and free-space bounds) — tells a never
 * written (all-zero) page from a formatted one. O(1): the slots themselves
 * are checked by page_validate(). */
bool page_is_formatted(const void *page, size_t page_size);

/* Full check: header as page_is_formatted(), and every slot deleted, empty
 * or inside [free_end, page_size), live count and byte accounting exact, no
 * two records overlapping, the last slot live.
 * 0, STRATA_EBAD_REQUEST (invalid page_size) or STRATA_ECORRUPT. */
int page_validate(const void *page, size_t page_size);

/* Raw header fields; any buffer of at least PAGE_HEADER_SIZE bytes. */
uint64_t page_id(const void *page);
uint64_t page_lsn(const void *page);
void page_set_lsn(void *page, uint64_t lsn);
uint16_t page_flags(const void *page);
void page_set_flags(void *page, uint16_t flags);

/* ---- records ------------------------------------------------------------ */

/* Copies len bytes of rec into the page as a new record and stores its slot
 * id in *slot_out (may be NULL). The slot is the lowest deleted slot id, or a
 * new one at the end of the directory. Compacts the page first when only the
 * fragmented bytes make room. A record of len fits exactly when
 * len + PAGE_SLOT_SIZE <= page_free_space(). len 0 is a valid empty record,
 * distinct from a deleted slot. rec must not point into page.
 * 0 on success; otherwise the page is unchanged and:
 *   STRATA_ETOO_LARGE    len > page_max_record(page_size): fits in no page
 *   STRATA_ENOSPC        not enough free bytes, or PAGE_MAX_SLOTS slots and
 *                        none deleted: the page is full
 *   STRATA_EBAD_REQUEST  invalid page_size, rec NULL with len > 0, or rec
 *                        overlapping the page
 *   STRATA_ECORRUPT      the page fails page_validate() */
int page_insert_record(void *page, size_t page_size, const void *rec,
		       size_t len, uint16_t *slot_out);

/* Points *rec at the record in slot (inside page; valid until the page
 * changes) and stores its length in *len. An empty record gives len 0 and a
 * non-NULL *rec. Checks the header and this slot only.
 *   STRATA_ENOT_FOUND    slot deleted or >= page_slot_count()
 *   STRATA_EBAD_REQUEST  invalid page_size or NULL rec/len
 *   STRATA_ECORRUPT      bad header or a slot pointing outside the data */
int page_get_record(const void *page, size_t page_size, uint16_t slot,
		    const void **rec, size_t *len);

/* Deletes the record in slot; its bytes become fragmented space. The slot id
 * becomes reusable (dropped from the directory if it was the last).
 *   STRATA_ENOT_FOUND, STRATA_EBAD_REQUEST, STRATA_ECORRUPT */
int page_delete_record(void *page, size_t page_size, uint16_t slot);

/* Replaces the record in slot by len bytes of rec, keeping the slot id: in
 * place when len is not larger; else moved into the free space, compacting
 * first if the free, fragmented and old record bytes together make room.
 * rec must not point into page. On error the page is unchanged:
 *   STRATA_ENOT_FOUND    slot deleted or out of range
 *   STRATA_ETOO_LARGE    len > page_max_record(page_size)
 *   STRATA_ENOSPC        the new record does not fit in this page
 *   STRATA_EBAD_REQUEST, STRATA_ECORRUPT */
int page_update_record(void *page, size_t page_size, uint16_t slot,
		       const void *rec, size_t len);

/* Moves the live records together at the end of the page so all free space
 * is contiguous; slot ids and record bytes are unchanged. Returns the bytes
 * reclaimed (the fragmented bytes before the call; 0 if there were none or
 * the page fails page_validate(), which leaves it untouched). */
size_t page_compact(void *page, size_t page_size);

/* ---- space accounting (0 / false for a page that is not formatted) ------- */

/* Bytes one new record can use including its slot: a record of len fits
 * exactly when len + PAGE_SLOT_SIZE <= page_free_space() (a reusable deleted
 * slot counts as PAGE_SLOT_SIZE free bytes). 0 when the directory is full. */
size_t page_free_space(const void *page, size_t page_size);

/* Slot directory entries (live and deleted); 0 if the header is not sane. */
uint16_t page_slot_count(const void *page);

/* Live records, empty ones included; 0 if the header is not sane. */
uint16_t page_live_records(const void *page);

/* Bytes in use below the header: slot directory plus live record bytes.
 * page_used_bytes() + free + fragmented == page_size - PAGE_HEADER_SIZE. */
size_t page_used_bytes(const void *page, size_t page_size);

/* page_used_bytes() / (page_size - PAGE_HEADER_SIZE): 0.0 for an empty page,
 * 1.0 for a page with no free or fragmented byte left. */
double page_fill_ratio(const void *page, size_t page_size);

/* ---- splitting and merging ----------------------------------------------- */

/* PageSplitter: whether page_fill_ratio() >= threshold and the page has at
 * least two live records (so page_split() can succeed). Header only (O(1));
 * false for a page that is not formatted. */
bool page_should_split(const void *page, size_t page_size, double threshold);

/* Moves the upper half of the live records — the last floor(n/2) of the n
 * live records in slot order — to new_page, which is formatted here with
 * new_page_id and page's flags (lsn 0). The records keep their bytes; in
 * new_page they get slot ids 0, 1, ... in their old order; their old slots
 * in page are deleted (so page keeps the lower slot ids unchanged) and page
 * is compacted. *moved (may be NULL) receives the number moved.
 * On error neither page is changed:
 *   STRATA_EBAD_REQUEST  invalid page_size, fewer than two live records, or
 *                        new_page overlapping page
 *   STRATA_ECORRUPT      page fails page_validate() */
int page_split(void *page, void *new_page, size_t page_size,
	       uint64_t new_page_id, uint16_t *moved);

/* PageMerger: whether page_merge(a, b) would succeed and leave a with
 * page_fill_ratio() < threshold. False if either page fails page_validate(). */
bool page_should_merge(const void *a, const void *b, size_t page_size,
		       double threshold);

/* Appends src's live records, in slot order, to dst: they get new slot ids
 * page_slot_count(dst), +1, ... (deleted slots in dst are not reused, so the
 * order is kept). dst is compacted first if needed. src is not changed; the
 * caller frees it. *moved (may be NULL) receives the number appended.
 * On error dst is unchanged:
 *   STRATA_ENOSPC        the records do not fit (bytes or PAGE_MAX_SLOTS)
 *   STRATA_EBAD_REQUEST  invalid page_size, or src overlapping dst
 *   STRATA_ECORRUPT      dst or src fails page_validate() */
int page_merge(void *dst, const void *src, size_t page_size, uint16_t *moved);

#endif
