/*
 * core/page.c — checksummed slotted pages (layout and contract in page.h).
 *
 * Invariants of a page that passes page_validate() (every mutating function
 * checks them on entry and preserves them):
 *  1. free_start == PAGE_HEADER_SIZE + PAGE_SLOT_SIZE * slot_count and
 *     free_start <= free_end <= page_size: the slot directory and the record
 *     data never meet.
 *  2. Every slot is deleted (0, 0), empty (PAGE_HEADER_SIZE, 0) or a record
 *     inside [free_end, page_size); no two records overlap.
 *  3. live_count is the number of non-deleted slots; the last slot, if any,
 *     is live (trailing deleted slots are dropped at once).
 *  4. Byte accounting is exact: the live record bytes plus frag_bytes equal
 *     page_size - free_end. So page_size - free_end - frag_bytes is the live
 *     record bytes, known from the header alone.
 *
 * Space a new record can use is the contiguous gap [free_start, free_end)
 * plus frag_bytes, which compaction turns into contiguous space. Operations
 * first decide whether they can succeed and only then change the page, so
 * every error leaves the page as it was.
 *
 * Compaction is in place: the records sorted by offset, highest first, are
 * slid up against the end of the page. Sliding up in that order never
 * overwrites a record not yet moved (each destination lies between the
 * record's old start and the new start of the record above it), so no
 * scratch page is needed — only the sorted (offset, slot) keys, 4 bytes per
 * slot on the stack.
 */
#include "core/page.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "strata/error.h"

/* ---- little-endian field access ------------------------------------------ */

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static inline void st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void st64(uint8_t *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32(p + 4, (uint32_t)(v >> 32));
}

/* ---- header -------------------------------------------------------------- */

/* The header fields the record functions work on, loaded once, changed in
 * the struct and stored back at the end of a successful operation. */
struct page_hdr {
	uint32_t slot_count;
	uint32_t live_count;
	uint32_t free_start;
	uint32_t free_end;
	uint32_t frag;
	uint16_t flags;
};

enum slot_kind { SLOT_DELETED, SLOT_EMPTY, SLOT_DATA, SLOT_BAD };

bool page_size_valid(size_t page_size)
{
	return page_size >= PAGE_SIZE_MIN && page_size <= PAGE_SIZE_MAX &&
	       (page_size & (page_size - 1)) == 0;
}

size_t page_max_record(size_t page_size)
{
	if (!page_size_valid(page_size))
		return 0;
	return page_size - PAGE_HEADER_SIZE - PAGE_SLOT_SIZE;
}

static unsigned size_shift(size_t page_size)
{
	unsigned s = 0;
	while (((size_t)1 << s) < page_size)
		s++;
	return s;
}

static inline size_t capacity(size_t page_size)
{
	return page_size - PAGE_HEADER_SIZE;
}

/* Loads and checks the header against page_size (already known valid).
 * O(1); the slots are page_validate's business. */
static int hdr_load(const uint8_t *p, size_t page_size, struct page_hdr *h)
{
	if (ld32(p + PAGE_OFF_MAGIC) != PAGE_MAGIC ||
	    p[PAGE_OFF_VERSION] != PAGE_FORMAT_VERSION ||
	    p[PAGE_OFF_SHIFT] != size_shift(page_size) ||
	    ld32(p + PAGE_OFF_RESERVED) != 0)
		return STRATA_ECORRUPT;

	h->slot_count = ld16(p + PAGE_OFF_SLOT_COUNT);
	h->live_count = ld16(p + PAGE_OFF_LIVE_COUNT);
	h->free_start = ld32(p + PAGE_OFF_FREE_START);
	h->free_end = ld32(p + PAGE_OFF_FREE_END);
	h->frag = ld32(p + PAGE_OFF_FRAG);
	h->flags = ld16(p + PAGE_OFF_FLAGS);

	if (h->slot_count > PAGE_MAX_SLOTS || h->live_count > h->slot_count ||
	    h->free_start != PAGE_HEADER_SIZE + PAGE_SLOT_SIZE * h->slot_count ||
	    h->free_start > h->free_end || h->free_end > page_size ||
	    h->frag > page_size - h->free_end)
		return STRATA_ECORRUPT;
	return 0;
}

/* page_size check plus hdr_load, for the question functions. */
static bool hdr_get(const void *page, size_t page_size, struct page_hdr *h)
{
	return page_size_valid(page_size) && hdr_load(page, page_size, h) == 0;
}

static void hdr_store(uint8_t *p, const struct page_hdr *h)
{
	st16(p + PAGE_OFF_SLOT_COUNT, (uint16_t)h->slot_count);
	st16(p + PAGE_OFF_LIVE_COUNT, (uint16_t)h->live_count);
	st32(p + PAGE_OFF_FREE_START, h->free_start);
	st32(p + PAGE_OFF_FREE_END, h->free_end);
	st32(p + PAGE_OFF_FRAG, h->frag);
}

/* For the functions that get no page_size: trusts the stored shift only
 * within the valid range, so the header checks still bound every field. */
static int hdr_load_own_size(const uint8_t *p, struct page_hdr *h)
{
	unsigned shift = p[PAGE_OFF_SHIFT];
	if (shift < 12 || shift > 16)
		return STRATA_ECORRUPT;
	return hdr_load(p, (size_t)1 << shift, h);
}

static inline uint32_t raw_free(const struct page_hdr *h)
{
	return h->free_end - h->free_start + h->frag;
}

/* Live record bytes (invariant 4). */
static inline uint32_t live_bytes(const struct page_hdr *h, size_t page_size)
{
	return (uint32_t)page_size - h->free_end - h->frag;
}

static inline size_t used_bytes(const struct page_hdr *h, size_t page_size)
{
	return capacity(page_size) - raw_free(h);
}

/* ---- slots --------------------------------------------------------------- */

static inline uint8_t *slot_ptr(uint8_t *p, uint32_t slot)
{
	return p + PAGE_HEADER_SIZE + PAGE_SLOT_SIZE * slot;
}

static inline void slot_load(const uint8_t *p, uint32_t slot, uint32_t *off,
			     uint32_t *len)
{
	const uint8_t *s = p + PAGE_HEADER_SIZE + PAGE_SLOT_SIZE * slot;
	*off = ld16(s);
	*len = ld16(s + 2);
}

static inline void slot_store(uint8_t *p, uint32_t slot, uint32_t off,
			      uint32_t len)
{
	uint8_t *s = slot_ptr(p, slot);
	st16(s, (uint16_t)off);
	st16(s + 2, (uint16_t)len);
}

static enum slot_kind slot_classify(const struct page_hdr *h, size_t page_size,
				    uint32_t off, uint32_t len)
{
	if (len == 0) {
		if (off == 0)
			return SLOT_DELETED;
		return off == PAGE_HEADER_SIZE ? SLOT_EMPTY : SLOT_BAD;
	}
	if (off < h->free_end || off + len > page_size)
		return SLOT_BAD;
	return SLOT_DATA;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Checks every slot against h (invariants 2-4) and leaves in keys[0..*nkeys)
 * the records holding bytes as (offset << 16 | slot), sorted by offset.
 * keys has room for PAGE_MAX_SLOTS entries. */
static int slots_check(const uint8_t *p, size_t page_size,
		       const struct page_hdr *h, uint32_t *keys, size_t *nkeys)
{
	size_t n = 0;
	uint32_t live = 0, bytes = 0;
	uint32_t off, len;

	for (uint32_t i = 0; i < h->slot_count; i++) {
		slot_load(p, i, &off, &len);
		switch (slot_classify(h, page_size, off, len)) {
		case SLOT_DELETED:
			break;
		case SLOT_EMPTY:
			live++;
			break;
		case SLOT_DATA:
			live++;
			bytes += len;
			/* off < 65536: off + len <= page_size <= 65536, len >= 1 */
			keys[n++] = off << 16 | i;
			break;
		default:
			return STRATA_ECORRUPT;
		}
	}
	if (live != h->live_count)
		return STRATA_ECORRUPT;
	if (h->slot_count > 0) {
		slot_load(p, h->slot_count - 1, &off, &len);
		if (off == 0)
			return STRATA_ECORRUPT;
	}
	if ((size_t)bytes + h->frag != page_size - h->free_end)
		return STRATA_ECORRUPT;

	qsort(keys, n, sizeof keys[0], cmp_u32);
	for (size_t k = 1; k < n; k++) {
		uint32_t prev_off = keys[k - 1] >> 16, prev_len;
		slot_load(p, keys[k - 1] & 0xffff, &off, &prev_len);
		if (prev_off + prev_len > keys[k] >> 16)
			return STRATA_ECORRUPT;
	}
	*nkeys = n;
	return 0;
}

int page_validate(const void *page, size_t page_size)
{
	uint32_t keys[PAGE_MAX_SLOTS];
	struct page_hdr h;
	size_t n;

	if (!page_size_valid(page_size))
		return STRATA_EBAD_REQUEST;
	if (hdr_load(page, page_size, &h) != 0)
		return STRATA_ECORRUPT;
	return slots_check(page, page_size, &h, keys, &n);
}

/* Entry check of the mutating functions: size, header, every slot. */
static int load_validated(const void *page, size_t page_size,
			  struct page_hdr *h)
{
	uint32_t keys[PAGE_MAX_SLOTS];
	size_t n;

	if (!page_size_valid(page_size))
		return STRATA_EBAD_REQUEST;
	if (hdr_load(page, page_size, h) != 0)
		return STRATA_ECORRUPT;
	return slots_check(page, page_size, h, keys, &n);
}

/* Slides every record against the end of the page (see the top of this
 * file) and zeroes the bytes given back. h must describe a consistent page;
 * it may differ from the stored header (page_update_record compacts with the
 * old record already released). Stores the header. Returns bytes reclaimed. */
static size_t compact_consistent(uint8_t *p, size_t page_size,
				 struct page_hdr *h)
{
	uint32_t keys[PAGE_MAX_SLOTS];
	size_t n;
	int rc = slots_check(p, page_size, h, keys, &n);

	assert(rc == 0);
	if (rc != 0)
		return 0;

	size_t reclaimed = h->frag;
	uint32_t old_end = h->free_end;
	uint32_t top = (uint32_t)page_size;

	for (size_t k = n; k-- > 0;) {
		uint32_t slot = keys[k] & 0xffff, off = keys[k] >> 16, len;
		slot_load(p, slot, &off, &len);
		top -= len;
		if (top != off) {
			memmove(p + top, p + off, len);
			slot_store(p, slot, top, len);
		}
	}
	assert(top == old_end + h->frag);
	memset(p + old_end, 0, top - old_end);
	h->free_end = top;
	h->frag = 0;
	hdr_store(p, h);
	return reclaimed;
}

size_t page_compact(void *page, size_t page_size)
{
	struct page_hdr h;

	if (load_validated(page, page_size, &h) != 0 || h.frag == 0)
		return 0;
	return compact_consistent(page, page_size, &h);
}

/* Writes rec into the contiguous free space (which must hold len bytes) and
 * points slot at it. */
static void place_record(uint8_t *p, struct page_hdr *h, uint32_t slot,
			 const void *rec, size_t len)
{
	if (len == 0) {
		slot_store(p, slot, PAGE_HEADER_SIZE, 0);
		return;
	}
	assert(len <= h->free_end - h->free_start);
	h->free_end -= (uint32_t)len;
	memcpy(p + h->free_end, rec, len);
	slot_store(p, slot, h->free_end, (uint32_t)len);
}

static bool ranges_overlap(const void *a, size_t alen, const void *b,
			   size_t blen)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
	return alen > 0 && blen > 0 && x < y + blen && y < x + alen;
}

/* ---- format, header, checksum -------------------------------------------- */

void page_init(void *page, size_t page_size, uint64_t id)
{
	uint8_t *p = page;

	assert(page_size_valid(page_size));
	if (!page_size_valid(page_size))
		return;
	memset(p, 0, page_size);
	st32(p + PAGE_OFF_MAGIC, PAGE_MAGIC);
	st64(p + PAGE_OFF_PAGE_ID, id);
	p[PAGE_OFF_SHIFT] = (uint8_t)size_shift(page_size);
	p[PAGE_OFF_VERSION] = PAGE_FORMAT_VERSION;
	st32(p + PAGE_OFF_FREE_START, PAGE_HEADER_SIZE);
	st32(p + PAGE_OFF_FREE_END, (uint32_t)page_size);
	page_checksum_update(page, page_size);
}

static uint32_t checksum_compute(const uint8_t *p, size_t page_size)
{
	return crc32c(0, p + 4, page_size - 4);
}

void page_checksum_update(void *page, size_t page_size)
{
	if (!page_size_valid(page_size))
		return;
	st32(page, checksum_compute(page, page_size));
}

bool page_checksum_ok(const void *page, size_t page_size, uint32_t *stored,
		      uint32_t *computed)
{
	uint32_t s = 0, c = 0;
	bool ok = false;

	if (page_size_valid(page_size)) {
		s = ld32(page);
		c = checksum_compute(page, page_size);
		ok = s == c;
	}
	if (stored)
		*stored = s;
	if (computed)
		*computed = c;
	return ok;
}

bool page_is_formatted(const void *page, size_t page_size)
{
	struct page_hdr h;
	return hdr_get(page, page_size, &h);
}

uint64_t page_id(const void *page)
{
	return ld64((const uint8_t *)page + PAGE_OFF_PAGE_ID);
}

uint64_t page_lsn(const void *page)
{
	return ld64((const uint8_t *)page + PAGE_OFF_LSN);
}

void page_set_lsn(void *page, uint64_t lsn)
{
	st64((uint8_t *)page + PAGE_OFF_LSN, lsn);
}

uint16_t page_flags(const void *page)
{
	return ld16((const uint8_t *)page + PAGE_OFF_FLAGS);
}

void page_set_flags(void *page, uint16_t flags)
{
	st16((uint8_t *)page + PAGE_OFF_FLAGS, flags);
}

/* ---- records ------------------------------------------------------------- */

int page_insert_record(void *page, size_t page_size, const void *rec,
		       size_t len, uint16_t *slot_out)
{
	uint8_t *p = page;
	struct page_hdr h;
	uint32_t slot;
	int rc;

	if (!page_size_valid(page_size))
		return STRATA_EBAD_REQUEST;
	if (len > page_max_record(page_size))
		return STRATA_ETOO_LARGE;
	if (len > 0 && (rec == NULL || ranges_overlap(rec, len, page, page_size)))
		return STRATA_EBAD_REQUEST;
	rc = load_validated(page, page_size, &h);
	if (rc != 0)
		return rc;

	bool new_slot = h.live_count == h.slot_count;
	if (new_slot) {
		if (h.slot_count >= PAGE_MAX_SLOTS)
			return STRATA_ENOSPC;
		slot = h.slot_count;
	} else {
		uint32_t off, l;
		for (slot = 0; slot < h.slot_count; slot++) {
			slot_load(p, slot, &off, &l);
			if (off == 0)
				break;
		}
		assert(slot < h.slot_count);
	}

	size_t need = len + (new_slot ? PAGE_SLOT_SIZE : 0);
	size_t contiguous = h.free_end - h.free_start;
	if (need > contiguous + h.frag)
		return STRATA_ENOSPC;
	if (need > contiguous)
		compact_consistent(p, page_size, &h);

	if (new_slot) {
		h.slot_count++;
		h.free_start += PAGE_SLOT_SIZE;
	}
	place_record(p, &h, slot, rec, len);
	h.live_count++;
	hdr_store(p, &h);
	if (slot_out)
		*slot_out = (uint16_t)slot;
	return 0;
}

int page_get_record(const void *page, size_t page_size, uint16_t slot,
		    const void **rec, size_t *len)
{
	const uint8_t *p = page;
	struct page_hdr h;
	uint32_t off, l;

	if (!page_size_valid(page_size) || rec == NULL || len == NULL)
		return STRATA_EBAD_REQUEST;
	if (hdr_load(p, page_size, &h) != 0)
		return STRATA_ECORRUPT;
	if (slot >= h.slot_count)
		return STRATA_ENOT_FOUND;
	slot_load(p, slot, &off, &l);
	switch (slot_classify(&h, page_size, off, l)) {
	case SLOT_DELETED:
		return STRATA_ENOT_FOUND;
	case SLOT_EMPTY:
	case SLOT_DATA:
		*rec = p + off;
		*len = l;
		return 0;
	default:
		return STRATA_ECORRUPT;
	}
}

/* Marks slot deleted and drops trailing deleted slots (invariant 3). */
static void release_slot(uint8_t *p, struct page_hdr *h, uint32_t slot,
			 uint32_t len)
{
	uint32_t off, l;

	h->frag += len;
	h->live_count--;
	slot_store(p, slot, 0, 0);
	while (h->slot_count > 0) {
		slot_load(p, h->slot_count - 1, &off, &l);
		if (off != 0)
			break;
		h->slot_count--;
		h->free_start -= PAGE_SLOT_SIZE;
	}
}

int page_delete_record(void *page, size_t page_size, uint16_t slot)
{
	uint8_t *p = page;
	struct page_hdr h;
	uint32_t off, len;
	int rc = load_validated(page, page_size, &h);

	if (rc != 0)
		return rc;
	if (slot >= h.slot_count)
		return STRATA_ENOT_FOUND;
	slot_load(p, slot, &off, &len);
	if (off == 0)
		return STRATA_ENOT_FOUND;
	release_slot(p, &h, slot, len);
	hdr_store(p, &h);
	return 0;
}

int page_update_record(void *page, size_t page_size, uint16_t slot,
		       const void *rec, size_t len)
{
	uint8_t *p = page;
	struct page_hdr h;
	uint32_t off, old;
	int rc;

	if (!page_size_valid(page_size))
		return STRATA_EBAD_REQUEST;
	if (len > 0 && (rec == NULL || ranges_overlap(rec, len, page, page_size)))
		return STRATA_EBAD_REQUEST;
	rc = load_validated(page, page_size, &h);
	if (rc != 0)
		return rc;
	if (slot >= h.slot_count)
		return STRATA_ENOT_FOUND;
	slot_load(p, slot, &off, &old);
	if (off == 0)
		return STRATA_ENOT_FOUND;
	if (len > page_max_record(page_size))
		return STRATA_ETOO_LARGE;

	if (len <= old) {
		/* In place; the tail left over becomes fragmented space. */
		if (len == 0)
			slot_store(p, slot, PAGE_HEADER_SIZE, 0);
		else {
			memcpy(p + off, rec, len);
			slot_store(p, slot, off, (uint32_t)len);
		}
		h.frag += old - (uint32_t)len;
		hdr_store(p, &h);
		return 0;
	}

	size_t contiguous = h.free_end - h.free_start;
	if (len > contiguous + h.frag + old)
		return STRATA_ENOSPC;
	/* From here on it fits: release the old bytes, then place. */
	slot_store(p, slot, PAGE_HEADER_SIZE, 0);
	h.frag += old;
	if (len > contiguous)
		compact_consistent(p, page_size, &h);
	place_record(p, &h, slot, rec, len);
	hdr_store(p, &h);
	return 0;
}

/* ---- space accounting ---------------------------------------------------- */

size_t page_free_space(const void *page, size_t page_size)
{
	struct page_hdr h;

	if (!hdr_get(page, page_size, &h))
		return 0;
	if (h.live_count < h.slot_count)
		return raw_free(&h) + PAGE_SLOT_SIZE;
	if (h.slot_count >= PAGE_MAX_SLOTS)
		return 0;
	return raw_free(&h);
}

uint16_t page_slot_count(const void *page)
{
	struct page_hdr h;
	return hdr_load_own_size(page, &h) == 0 ? (uint16_t)h.slot_count : 0;
}

uint16_t page_live_records(const void *page)
{
	struct page_hdr h;
	return hdr_load_own_size(page, &h) == 0 ? (uint16_t)h.live_count : 0;
}

size_t page_used_bytes(const void *page, size_t page_size)
{
	struct page_hdr h;

	if (!hdr_get(page, page_size, &h))
		return 0;
	return used_bytes(&h, page_size);
}

double page_fill_ratio(const void *page, size_t page_size)
{
	struct page_hdr h;

	if (!hdr_get(page, page_size, &h))
		return 0.0;
	return (double)used_bytes(&h, page_size) / (double)capacity(page_size);
}

/* ---- splitting and merging ----------------------------------------------- */

bool page_should_split(const void *page, size_t page_size, double threshold)
{
	struct page_hdr h;

	return hdr_get(page, page_size, &h) && h.live_count >= 2 &&
	       (double)used_bytes(&h, page_size) / (double)capacity(page_size) >=
		       threshold;
}

int page_split(void *page, void *new_page, size_t page_size,
	       uint64_t new_page_id, uint16_t *moved)
{
	uint8_t *p = page, *np = new_page;
	struct page_hdr h, nh;
	uint32_t off, len, slot, seen;
	int rc;

	if (!page_size_valid(page_size) ||
	    ranges_overlap(page, page_size, new_page, page_size))
		return STRATA_EBAD_REQUEST;
	rc = load_validated(page, page_size, &h);
	if (rc != 0)
		return rc;
	if (h.live_count < 2)
		return STRATA_EBAD_REQUEST;

	uint32_t n_move = h.live_count / 2;
	uint32_t n_keep = h.live_count - n_move;

	/* first slot to move: the (n_keep + 1)-th live one */
	for (slot = 0, seen = 0; slot < h.slot_count; slot++) {
		slot_load(p, slot, &off, &len);
		if (off != 0 && seen++ == n_keep)
			break;
	}
	assert(slot < h.slot_count);

	page_init(np, page_size, new_page_id);
	page_set_flags(np, h.flags);
	rc = hdr_load(np, page_size, &nh);
	assert(rc == 0);

	/* The moved records came from one page of this size, so they fit in
	 * an empty one in any order. */
	for (uint32_t s = slot; s < h.slot_count; s++) {
		slot_load(p, s, &off, &len);
		if (off == 0)
			continue;
		place_record(np, &nh, nh.slot_count, p + off, len);
		nh.slot_count++;
		nh.free_start += PAGE_SLOT_SIZE;
		nh.live_count++;
	}
	assert(nh.live_count == n_move);
	hdr_store(np, &nh);

	for (uint32_t s = h.slot_count; s-- > slot;) {
		slot_load(p, s, &off, &len);
		if (off != 0)
			release_slot(p, &h, s, len);
	}
	if (h.frag > 0)
		compact_consistent(p, page_size, &h);
	hdr_store(p, &h);
	if (moved)
		*moved = (uint16_t)n_move;
	return 0;
}

/* Whether src's live records fit after dst's slots (page_merge's rule). */
static bool merge_fits(const struct page_hdr *dst, const struct page_hdr *src,
		       size_t page_size, size_t *need)
{
	*need = live_bytes(src, page_size) +
		(size_t)PAGE_SLOT_SIZE * src->live_count;
	return dst->slot_count + src->live_count <= PAGE_MAX_SLOTS &&
	       *need <= raw_free(dst);
}

bool page_should_merge(const void *a, const void *b, size_t page_size,
		       double threshold)
{
	struct page_hdr ha, hb;
	size_t need;

	if (load_validated(a, page_size, &ha) != 0 ||
	    load_validated(b, page_size, &hb) != 0 ||
	    !merge_fits(&ha, &hb, page_size, &need))
		return false;
	double fill = (double)(used_bytes(&ha, page_size) + need) /
		      (double)capacity(page_size);
	return fill < threshold;
}

int page_merge(void *dst, const void *src, size_t page_size, uint16_t *moved)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	struct page_hdr dh, sh;
	uint32_t off, len;
	size_t need;
	int rc;

	if (!page_size_valid(page_size) ||
	    ranges_overlap(dst, page_size, src, page_size))
		return STRATA_EBAD_REQUEST;
	rc = load_validated(dst, page_size, &dh);
	if (rc == 0)
		rc = load_validated(src, page_size, &sh);
	if (rc != 0)
		return rc;
	if (!merge_fits(&dh, &sh, page_size, &need))
		return STRATA_ENOSPC;
	if (need > dh.free_end - dh.free_start)
		compact_consistent(d, page_size, &dh);

	for (uint32_t i = 0; i < sh.slot_count; i++) {
		slot_load(s, i, &off, &len);
		if (off == 0)
			continue;
		dh.slot_count++;
		dh.free_start += PAGE_SLOT_SIZE;
		place_record(d, &dh, dh.slot_count - 1, s + off, len);
		dh.live_count++;
	}
	hdr_store(d, &dh);
	if (moved)
		*moved = (uint16_t)sh.live_count;
	return 0;
}
