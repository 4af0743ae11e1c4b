/*
 * tests/unit/test_page.c — slotted pages: layout, records, compaction,
 * checksums, split/merge, and corrupt or random bytes (run under ASan: every
 * page buffer is malloc'd at exactly page_size, so any over-read is caught).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/page.h"
#include "strata/error.h"

static const size_t sizes[] = { 4096, 8192, 16384, 32768, 65536 };
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t rnd(size_t n) /* 0..n-1 */
{
	return n ? (size_t)(rng() % n) : 0;
}

static uint8_t *page_new(size_t size, uint64_t id)
{
	uint8_t *p = malloc(size);
	cr_assert_not_null(p);
	page_init(p, size, id);
	return p;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n);
	cr_assert_not_null(c);
	memcpy(c, p, n);
	return c;
}

/* Record contents derived from (seed, length), so each record is distinct. */
static void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static uint8_t scratch[PAGE_SIZE_MAX];

static void expect_record(const uint8_t *page, size_t size, uint16_t slot,
			  size_t len, uint32_t seed)
{
	const void *rec = NULL;
	size_t got = 12345;
	int rc = page_get_record(page, size, slot, &rec, &got);

	cr_assert_eq(rc, 0, "slot %u: %s", slot, strata_strerror(rc));
	cr_assert_eq(got, len, "slot %u: len %zu want %zu", slot, got, len);
	cr_assert_not_null(rec);
	pattern(scratch, len, seed);
	cr_assert(memcmp(rec, scratch, len) == 0, "slot %u contents", slot);
}

static uint16_t insert_pattern(uint8_t *page, size_t size, size_t len,
			       uint32_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint16_t slot = 0xFFFF;
	cr_assert_not_null(buf);
	pattern(buf, len, seed);
	int rc = page_insert_record(page, size, buf, len, &slot);
	free(buf);
	cr_assert_eq(rc, 0, "insert len %zu: %s", len, strata_strerror(rc));
	return slot;
}

static int update_pattern(uint8_t *page, size_t size, uint16_t slot,
			  size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	cr_assert_not_null(buf);
	pattern(buf, len, seed);
	int rc = page_update_record(page, size, slot, buf, len);
	free(buf);
	return rc;
}

static uint32_t rd16(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	return rd16(p, off) | rd16(p, off + 2) << 16;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	return (uint64_t)rd32(p, off) | (uint64_t)rd32(p, off + 4) << 32;
}

static void wr16(uint8_t *p, size_t off, uint32_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, size_t off, uint32_t v)
{
	wr16(p, off, v & 0xffff);
	wr16(p, off + 2, v >> 16);
}

static void assert_valid(const uint8_t *page, size_t size)
{
	int rc = page_validate(page, size);
	cr_assert_eq(rc, 0, "page_validate: %s", strata_strerror(rc));
}

/* ---- sizes and format ----------------------------------------------------- */

Test(page_format, page_size_validity)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		cr_assert(page_size_valid(sizes[i]));
		cr_assert_eq(page_max_record(sizes[i]),
			     sizes[i] - PAGE_HEADER_SIZE - PAGE_SLOT_SIZE);
	}
	size_t bad[] = { 0, 1, 2048, 4095, 4097, 6144, 12288, 65535, 131072 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_not(page_size_valid(bad[i]), "%zu", bad[i]);
		cr_assert_eq(page_max_record(bad[i]), 0u);
	}
	cr_assert_eq(page_max_record(4096), 4044u);
	cr_assert_eq(page_max_record(65536), 65484u);
}

Test(page_format, fresh_page_every_size)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *p = page_new(sz, 1000 + i);

		assert_valid(p, sz);
		cr_assert(page_is_formatted(p, sz));
		cr_assert(page_checksum_ok(p, sz, NULL, NULL));
		cr_assert_eq(page_id(p), 1000 + i);
		cr_assert_eq(page_lsn(p), 0u);
		cr_assert_eq(page_flags(p), 0u);
		cr_assert_eq(page_slot_count(p), 0u);
		cr_assert_eq(page_live_records(p), 0u);
		cr_assert_eq(page_used_bytes(p, sz), 0u);
		cr_assert_eq(page_fill_ratio(p, sz), 0.0);
		cr_assert_eq(page_free_space(p, sz), sz - PAGE_HEADER_SIZE);
		cr_assert_eq(page_compact(p, sz), 0u);
		const void *rec;
		size_t len;
		cr_assert_eq(page_get_record(p, sz, 0, &rec, &len), STRATA_ENOT_FOUND);
		/* The body is zeroed. */
		for (size_t b = PAGE_HEADER_SIZE; b < sz; b++)
			cr_assert_eq(p[b], 0, "byte %zu", b);
		free(p);
	}
}

/* The byte layout other modules rely on (page.h's diagram). */
Test(page_format, header_layout_is_little_endian_at_documented_offsets)
{
	size_t sz = 65536;
	uint8_t *p = page_new(sz, 0x0102030405060708ull);

	cr_assert_eq(memcmp(p + 4, "STPG", 4), 0);
	cr_assert_eq(rd32(p, PAGE_OFF_MAGIC), PAGE_MAGIC);
	cr_assert_eq(rd64(p, PAGE_OFF_PAGE_ID), 0x0102030405060708ull);
	cr_assert_eq(p[8], 0x08);
	cr_assert_eq(p[15], 0x01);
	page_set_lsn(p, 0x1112131415161718ull);
	cr_assert_eq(p[16], 0x18);
	cr_assert_eq(p[23], 0x11);
	cr_assert_eq(page_lsn(p), 0x1112131415161718ull);
	cr_assert_eq(rd64(p, PAGE_OFF_LSN), 0x1112131415161718ull);
	page_set_flags(p, 0xA1B2);
	cr_assert_eq(rd16(p, 24), 0xA1B2u);
	cr_assert_eq(page_flags(p), 0xA1B2u);
	cr_assert_eq(p[PAGE_OFF_SHIFT], 16);
	cr_assert_eq(p[PAGE_OFF_VERSION], PAGE_FORMAT_VERSION);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_START), PAGE_HEADER_SIZE);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_END), 65536u); /* needs the u32 */
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);

	uint16_t s0 = insert_pattern(p, sz, 100, 1);
	uint16_t s1 = insert_pattern(p, sz, 0, 2);
	cr_assert_eq(s0, 0);
	cr_assert_eq(s1, 1);
	cr_assert_eq(rd16(p, PAGE_OFF_SLOT_COUNT), 2u);
	cr_assert_eq(rd16(p, PAGE_OFF_LIVE_COUNT), 2u);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_START), PAGE_HEADER_SIZE + 8);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_END), 65536u - 100);
	/* slot 0: u16 offset, u16 length at byte 48 */
	cr_assert_eq(rd16(p, 48), 65536u - 100);
	cr_assert_eq(rd16(p, 50), 100u);
	/* slot 1: the empty record */
	cr_assert_eq(rd16(p, 52), PAGE_HEADER_SIZE);
	cr_assert_eq(rd16(p, 54), 0u);
	pattern(scratch, 100, 1);
	cr_assert_eq(memcmp(p + 65536 - 100, scratch, 100), 0);

	page_checksum_update(p, sz);
	cr_assert_eq(rd32(p, 0), crc32c(0, p + 4, sz - 4));
	free(p);
}

Test(page_format, zero_page_is_not_formatted)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *p = calloc(1, sz);
		uint32_t stored = 1, computed = 0;
		cr_assert_not(page_is_formatted(p, sz));
		cr_assert_eq(page_validate(p, sz), STRATA_ECORRUPT);
		cr_assert_not(page_checksum_ok(p, sz, &stored, &computed));
		cr_assert_eq(stored, 0u);
		cr_assert_eq(computed, crc32c(0, p + 4, sz - 4));
		cr_assert_neq(computed, 0u);
		cr_assert_eq(page_slot_count(p), 0u);
		cr_assert_eq(page_free_space(p, sz), 0u);
		cr_assert_eq(page_insert_record(p, sz, "x", 1, NULL), STRATA_ECORRUPT);
		free(p);
	}
}

Test(page_format, size_mismatch_is_not_formatted)
{
	uint8_t *p = page_new(8192, 1);

	cr_assert(page_is_formatted(p, 8192));
	cr_assert_not(page_is_formatted(p, 4096));
	cr_assert_not(page_is_formatted(p, 16384 / 4));
	cr_assert_eq(page_validate(p, 4096), STRATA_ECORRUPT);
	cr_assert_eq(page_insert_record(p, 4096, "x", 1, NULL), STRATA_ECORRUPT);
	free(p);
}

Test(page_format, invalid_page_size_is_bad_request)
{
	uint8_t *p = page_new(4096, 1);
	uint8_t *q = page_new(4096, 2);
	uint8_t *before = dup_bytes(p, 4096);
	const void *rec;
	size_t len;
	uint16_t slot;

	cr_assert_eq(page_validate(p, 4000), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_insert_record(p, 4000, "x", 1, &slot), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_get_record(p, 4000, 0, &rec, &len), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_delete_record(p, 4000, 0), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_update_record(p, 4000, 0, "x", 1), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_split(p, q, 4000, 9, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_merge(p, q, 4000, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_compact(p, 4000), 0u);
	cr_assert_eq(page_free_space(p, 4000), 0u);
	cr_assert_eq(page_used_bytes(p, 4000), 0u);
	cr_assert_not(page_checksum_ok(p, 4000, NULL, NULL));
	page_checksum_update(p, 4000);
	cr_assert_eq(memcmp(p, before, 4096), 0);
	free(before);
	free(p);
	free(q);
}

/* ---- records -------------------------------------------------------------- */

Test(page_records, empty_record_is_live_and_distinct_from_deleted)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	const void *rec = NULL;
	size_t len = 99;
	uint16_t slot = 77;

	cr_assert_eq(page_insert_record(p, sz, NULL, 0, &slot), 0);
	cr_assert_eq(slot, 0);
	cr_assert_eq(page_get_record(p, sz, 0, &rec, &len), 0);
	cr_assert_eq(len, 0u);
	cr_assert_not_null(rec);
	cr_assert_eq(page_live_records(p), 1);
	cr_assert_eq(page_used_bytes(p, sz), PAGE_SLOT_SIZE);
	assert_valid(p, sz);

	/* update empty -> data -> empty */
	cr_assert_eq(update_pattern(p, sz, 0, 10, 5), 0);
	expect_record(p, sz, 0, 10, 5);
	cr_assert_eq(update_pattern(p, sz, 0, 0, 0), 0);
	cr_assert_eq(page_get_record(p, sz, 0, &rec, &len), 0);
	cr_assert_eq(len, 0u);
	assert_valid(p, sz);

	cr_assert_eq(page_delete_record(p, sz, 0), 0);
	cr_assert_eq(page_get_record(p, sz, 0, &rec, &len), STRATA_ENOT_FOUND);
	cr_assert_eq(page_live_records(p), 0);
	assert_valid(p, sz);
	free(p);
}

Test(page_records, largest_record_fits_and_one_more_is_too_large)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i], max = page_max_record(sz);
		uint8_t *p = page_new(sz, 1);
		uint8_t *big = malloc(max + 1);

		pattern(big, max + 1, 42);
		cr_assert_eq(page_insert_record(p, sz, big, max + 1, NULL),
			     STRATA_ETOO_LARGE, "size %zu", sz);
		cr_assert_eq(page_slot_count(p), 0);
		cr_assert_eq(page_free_space(p, sz), max + PAGE_SLOT_SIZE);

		uint16_t slot;
		cr_assert_eq(page_insert_record(p, sz, big, max, &slot), 0, "size %zu", sz);
		expect_record(p, sz, slot, max, 42);
		cr_assert_eq(page_free_space(p, sz), 0u);
		cr_assert_eq(page_fill_ratio(p, sz), 1.0);
		cr_assert_eq(page_used_bytes(p, sz), sz - PAGE_HEADER_SIZE);
		cr_assert_eq(page_insert_record(p, sz, NULL, 0, NULL), STRATA_ENOSPC);
		cr_assert_eq(page_update_record(p, sz, slot, big, max + 1),
			     STRATA_ETOO_LARGE);
		assert_valid(p, sz);
		free(big);
		free(p);
	}
}

Test(page_records, insert_until_full_then_delete_and_reinsert)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i], rl = 100;
		size_t want = (sz - PAGE_HEADER_SIZE) / (rl + PAGE_SLOT_SIZE);
		uint8_t *p = page_new(sz, 1);
		uint8_t rec[100];
		size_t n = 0;
		int rc;

		for (;;) {
			pattern(rec, rl, (uint32_t)n);
			uint16_t slot;
			rc = page_insert_record(p, sz, rec, rl, &slot);
			if (rc != 0)
				break;
			cr_assert_eq(slot, n);
			n++;
		}
		cr_assert_eq(rc, STRATA_ENOSPC, "size %zu: %s", sz, strata_strerror(rc));
		cr_assert_eq(n, want, "size %zu: %zu records, want %zu", sz, n, want);
		cr_assert_lt(page_free_space(p, sz), rl + PAGE_SLOT_SIZE);

		/* A failed insert leaves the page as it was. */
		uint8_t *before = dup_bytes(p, sz);
		cr_assert_eq(page_insert_record(p, sz, rec, rl, NULL), STRATA_ENOSPC);
		cr_assert_eq(memcmp(p, before, sz), 0);
		free(before);

		/* Delete one in the middle: its bytes are fragmented, and the
		 * reinsert compacts to reuse them and its slot id. */
		uint16_t victim = (uint16_t)(n / 2), slot;
		cr_assert_eq(page_delete_record(p, sz, victim), 0);
		cr_assert_geq(page_free_space(p, sz), rl + PAGE_SLOT_SIZE);
		pattern(rec, rl, 9999);
		cr_assert_eq(page_insert_record(p, sz, rec, rl, &slot), 0);
		cr_assert_eq(slot, victim);
		cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);
		for (size_t s = 0; s < n; s++)
			expect_record(p, sz, (uint16_t)s, rl,
				      s == victim ? 9999u : (uint32_t)s);
		cr_assert_eq(page_insert_record(p, sz, rec, rl, NULL), STRATA_ENOSPC);
		assert_valid(p, sz);
		free(p);
	}
}

Test(page_records, deleted_and_out_of_range_slots_are_not_found)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	const void *rec;
	size_t len;

	for (int i = 0; i < 3; i++)
		insert_pattern(p, sz, 20, (uint32_t)i);
	cr_assert_eq(page_delete_record(p, sz, 1), 0);

	uint8_t *before = dup_bytes(p, sz);
	uint16_t bad[] = { 1, 3, 4, 100, 4095, 4096, 0xFFFF };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(page_get_record(p, sz, bad[i], &rec, &len),
			     STRATA_ENOT_FOUND, "slot %u", bad[i]);
		cr_assert_eq(page_update_record(p, sz, bad[i], "abc", 3),
			     STRATA_ENOT_FOUND, "slot %u", bad[i]);
		cr_assert_eq(page_delete_record(p, sz, bad[i]), STRATA_ENOT_FOUND,
			     "slot %u", bad[i]);
	}
	cr_assert_eq(memcmp(p, before, sz), 0);
	cr_assert_eq(page_get_record(p, sz, 0, NULL, &len), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_get_record(p, sz, 0, &rec, NULL), STRATA_EBAD_REQUEST);
	expect_record(p, sz, 0, 20, 0);
	expect_record(p, sz, 2, 20, 2);
	free(before);
	free(p);
}

Test(page_records, deleted_slots_are_reused_lowest_first)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);

	for (int i = 0; i < 5; i++)
		cr_assert_eq(insert_pattern(p, sz, 10, (uint32_t)i), i);
	cr_assert_eq(page_delete_record(p, sz, 3), 0);
	cr_assert_eq(page_delete_record(p, sz, 1), 0);
	cr_assert_eq(page_slot_count(p), 5);
	cr_assert_eq(page_live_records(p), 3);
	/* a reusable slot counts as PAGE_SLOT_SIZE free bytes */
	size_t used = page_used_bytes(p, sz);
	cr_assert_eq(used, 5 * PAGE_SLOT_SIZE + 3 * 10);
	cr_assert_eq(page_free_space(p, sz),
		     sz - PAGE_HEADER_SIZE - used + PAGE_SLOT_SIZE);

	cr_assert_eq(insert_pattern(p, sz, 7, 101), 1);
	cr_assert_eq(insert_pattern(p, sz, 0, 0), 3);
	cr_assert_eq(insert_pattern(p, sz, 8, 102), 5);
	expect_record(p, sz, 1, 7, 101);
	expect_record(p, sz, 5, 8, 102);
	expect_record(p, sz, 4, 10, 4);
	assert_valid(p, sz);
	free(p);
}

Test(page_records, trailing_deleted_slots_leave_the_directory)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);

	for (int i = 0; i < 4; i++)
		insert_pattern(p, sz, 10, (uint32_t)i);
	cr_assert_eq(page_delete_record(p, sz, 1), 0);
	cr_assert_eq(page_slot_count(p), 4);
	cr_assert_eq(page_delete_record(p, sz, 2), 0);
	cr_assert_eq(page_slot_count(p), 4);
	cr_assert_eq(page_delete_record(p, sz, 3), 0); /* drops 3, 2 and 1 */
	cr_assert_eq(page_slot_count(p), 1);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_START), PAGE_HEADER_SIZE + PAGE_SLOT_SIZE);
	cr_assert_eq(page_used_bytes(p, sz), PAGE_SLOT_SIZE + 10);
	cr_assert_eq(insert_pattern(p, sz, 5, 50), 1);
	cr_assert_eq(page_delete_record(p, sz, 0), 0);
	cr_assert_eq(page_slot_count(p), 2);
	cr_assert_eq(page_delete_record(p, sz, 1), 0);
	cr_assert_eq(page_slot_count(p), 0);
	cr_assert_eq(page_live_records(p), 0);
	cr_assert_eq(page_used_bytes(p, sz), 0u);
	cr_assert_eq(page_free_space(p, sz), sz - PAGE_HEADER_SIZE);
	assert_valid(p, sz);
	free(p);
}

Test(page_records, update_smaller_is_in_place)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	const void *before_ptr, *after_ptr;
	size_t len;

	insert_pattern(p, sz, 50, 1);
	uint16_t s = insert_pattern(p, sz, 100, 2);
	insert_pattern(p, sz, 50, 3);
	cr_assert_eq(page_get_record(p, sz, s, &before_ptr, &len), 0);
	size_t used = page_used_bytes(p, sz);

	cr_assert_eq(update_pattern(p, sz, s, 60, 22), 0);
	cr_assert_eq(page_get_record(p, sz, s, &after_ptr, &len), 0);
	cr_assert_eq(after_ptr, before_ptr);
	expect_record(p, sz, s, 60, 22);
	cr_assert_eq(page_used_bytes(p, sz), used - 40);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 40u);

	/* same size: in place too */
	cr_assert_eq(update_pattern(p, sz, s, 60, 23), 0);
	cr_assert_eq(page_get_record(p, sz, s, &after_ptr, &len), 0);
	cr_assert_eq(after_ptr, before_ptr);
	expect_record(p, sz, s, 60, 23);
	expect_record(p, sz, 0, 50, 1);
	expect_record(p, sz, 2, 50, 3);
	cr_assert_eq(page_compact(p, sz), 40u);
	expect_record(p, sz, s, 60, 23);
	assert_valid(p, sz);
	free(p);
}

Test(page_records, update_larger_relocates_and_keeps_slot)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	const void *before_ptr, *after_ptr;
	size_t len;

	insert_pattern(p, sz, 50, 1);
	uint16_t s = insert_pattern(p, sz, 40, 2);
	insert_pattern(p, sz, 50, 3);
	cr_assert_eq(page_get_record(p, sz, s, &before_ptr, &len), 0);

	cr_assert_eq(update_pattern(p, sz, s, 300, 44), 0);
	cr_assert_eq(page_get_record(p, sz, s, &after_ptr, &len), 0);
	cr_assert_neq(after_ptr, before_ptr);
	expect_record(p, sz, s, 300, 44);
	expect_record(p, sz, 0, 50, 1);
	expect_record(p, sz, 2, 50, 3);
	cr_assert_eq(page_slot_count(p), 3);
	cr_assert_eq(page_live_records(p), 3);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 40u);
	cr_assert_eq(page_used_bytes(p, sz), 3 * PAGE_SLOT_SIZE + 400);
	assert_valid(p, sz);
	free(p);
}

/* Only free + fragmented + the old record's bytes together make room. */
Test(page_records, update_larger_compacts_when_needed)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	uint16_t n = 0;

	/* 20 records of 180 bytes: 20 * 184 = 3680 of 4048 used */
	while (n < 20)
		insert_pattern(p, sz, 180, n++);
	for (uint16_t s = 1; s < 19; s += 2) /* 9 deleted: 1620 fragmented */
		cr_assert_eq(page_delete_record(p, sz, s), 0);
	size_t contiguous = rd32(p, PAGE_OFF_FREE_END) - rd32(p, PAGE_OFF_FREE_START);
	cr_assert_eq(contiguous, 4048u - 3680u);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 1620u);
	/* record 0 grows to 2000: > contiguous, <= contiguous + frag + 180 */
	cr_assert_eq(update_pattern(p, sz, 0, 2000, 777), 0);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);
	expect_record(p, sz, 0, 2000, 777);
	for (uint16_t s = 2; s < 20; s += 2)
		expect_record(p, sz, s, 180, s);
	expect_record(p, sz, 19, 180, 19);
	cr_assert_eq(page_used_bytes(p, sz), 20 * PAGE_SLOT_SIZE + 10 * 180 + 2000);
	assert_valid(p, sz);
	free(p);
}

Test(page_records, update_that_cannot_fit_leaves_page_unchanged)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);

	for (uint16_t s = 0; s < 3; s++)
		insert_pattern(p, sz, 1000, s);
	cr_assert_eq(page_delete_record(p, sz, 1), 0);
	/* room for record 0: 4048 - 12 - 2000 = 2036 free + frag, +1000 own */
	size_t room = page_free_space(p, sz) - PAGE_SLOT_SIZE + 1000;
	uint8_t *before = dup_bytes(p, sz);
	cr_assert_eq(update_pattern(p, sz, 0, room + 1, 5), STRATA_ENOSPC);
	cr_assert_eq(memcmp(p, before, sz), 0);
	cr_assert_eq(update_pattern(p, sz, 0, room, 5), 0);
	expect_record(p, sz, 0, room, 5);
	expect_record(p, sz, 2, 1000, 2);
	cr_assert_eq(page_free_space(p, sz), PAGE_SLOT_SIZE); /* slot 1 reusable */
	assert_valid(p, sz);
	free(before);
	free(p);
}

Test(page_records, source_bytes_inside_the_page_are_refused)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	const void *rec;
	size_t len;

	insert_pattern(p, sz, 64, 1);
	cr_assert_eq(page_get_record(p, sz, 0, &rec, &len), 0);
	uint8_t *before = dup_bytes(p, sz);
	cr_assert_eq(page_insert_record(p, sz, rec, len, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_update_record(p, sz, 0, rec, len), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_insert_record(p, sz, p + sz - 1, 1, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_insert_record(p, sz, NULL, 5, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(page_update_record(p, sz, 0, NULL, 5), STRATA_EBAD_REQUEST);
	cr_assert_eq(memcmp(p, before, sz), 0);
	free(before);
	free(p);
}

/* Slot directory limit: a 64 KiB page of empty records reaches
 * PAGE_MAX_SLOTS while bytes are still free. */
Test(page_records, slot_directory_full)
{
	size_t sz = 65536;
	uint8_t *p = page_new(sz, 1);
	uint16_t slot;

	for (uint32_t i = 0; i < PAGE_MAX_SLOTS; i++) {
		cr_assert_eq(page_insert_record(p, sz, NULL, 0, &slot), 0, "%u", i);
		cr_assert_eq(slot, i);
	}
	cr_assert_eq(page_slot_count(p), PAGE_MAX_SLOTS);
	cr_assert_eq(page_free_space(p, sz), 0u);
	cr_assert_gt(rd32(p, PAGE_OFF_FREE_END) - rd32(p, PAGE_OFF_FREE_START), 1000u);
	uint8_t *before = dup_bytes(p, sz);
	cr_assert_eq(page_insert_record(p, sz, NULL, 0, NULL), STRATA_ENOSPC);
	cr_assert_eq(page_insert_record(p, sz, "abc", 3, NULL), STRATA_ENOSPC);
	cr_assert_eq(memcmp(p, before, sz), 0);
	assert_valid(p, sz);

	/* records can still grow: no new slot needed */
	cr_assert_eq(update_pattern(p, sz, 7, 500, 7), 0);
	cr_assert_eq(page_delete_record(p, sz, 1234), 0);
	cr_assert_eq(page_free_space(p, sz),
		     sz - PAGE_HEADER_SIZE - PAGE_MAX_SLOTS * PAGE_SLOT_SIZE - 500 +
			     PAGE_SLOT_SIZE);
	cr_assert_eq(page_insert_record(p, sz, "abc", 3, &slot), 0);
	cr_assert_eq(slot, 1234);
	cr_assert_eq(page_insert_record(p, sz, NULL, 0, NULL), STRATA_ENOSPC);
	expect_record(p, sz, 7, 500, 7);
	assert_valid(p, sz);
	free(before);
	free(p);
}

/* A 4 KiB page runs out of bytes before slots: (4096 - 48) / 4 records. */
Test(page_records, small_page_fills_with_empty_records)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);
	uint32_t n = 0;

	while (page_insert_record(p, sz, NULL, 0, NULL) == 0)
		n++;
	cr_assert_eq(n, (4096 - PAGE_HEADER_SIZE) / PAGE_SLOT_SIZE);
	cr_assert_eq(page_insert_record(p, sz, NULL, 0, NULL), STRATA_ENOSPC);
	cr_assert_eq(page_fill_ratio(p, sz), 1.0);
	assert_valid(p, sz);
	free(p);
}

/* ---- compaction ----------------------------------------------------------- */

Test(page_compact, reclaims_exactly_the_deleted_bytes)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *p = page_new(sz, 1);
		size_t lens[40], deleted = 0;

		for (uint16_t s = 0; s < 40; s++) {
			lens[s] = 1 + rnd(sz / 80);
			cr_assert_eq(insert_pattern(p, sz, lens[s], s + 1000u * (uint32_t)i), s);
		}
		for (uint16_t s = 0; s < 39; s += 3) {
			cr_assert_eq(page_delete_record(p, sz, s), 0);
			deleted += lens[s];
		}
		size_t used = page_used_bytes(p, sz), free_before = page_free_space(p, sz);
		cr_assert_eq(page_compact(p, sz), deleted, "size %zu", sz);
		cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);
		cr_assert_eq(page_used_bytes(p, sz), used);
		cr_assert_eq(page_free_space(p, sz), free_before);
		/* all free space is now contiguous and zeroed */
		uint32_t fs = rd32(p, PAGE_OFF_FREE_START), fe = rd32(p, PAGE_OFF_FREE_END);
		cr_assert_eq(fe - fs, sz - PAGE_HEADER_SIZE - used);
		for (uint32_t b = fs; b < fe; b++)
			cr_assert_eq(p[b], 0, "byte %u", b);
		for (uint16_t s = 0; s < 40; s++) {
			if (s % 3 == 0 && s < 39) {
				const void *rec;
				size_t len;
				cr_assert_eq(page_get_record(p, sz, s, &rec, &len),
					     STRATA_ENOT_FOUND);
			} else {
				expect_record(p, sz, s, lens[s], s + 1000u * (uint32_t)i);
			}
		}
		cr_assert_eq(page_compact(p, sz), 0u);
		assert_valid(p, sz);
		free(p);
	}
}

Test(page_compact, reclaims_shrunk_tails)
{
	size_t sz = 8192;
	uint8_t *p = page_new(sz, 1);

	insert_pattern(p, sz, 100, 1);
	insert_pattern(p, sz, 200, 2);
	cr_assert_eq(update_pattern(p, sz, 0, 30, 3), 0);
	cr_assert_eq(update_pattern(p, sz, 1, 0, 0), 0);
	cr_assert_eq(page_compact(p, sz), 70u + 200u);
	expect_record(p, sz, 0, 30, 3);
	expect_record(p, sz, 1, 0, 0);
	cr_assert_eq(rd32(p, PAGE_OFF_FREE_END), sz - 30);
	assert_valid(p, sz);
	free(p);
}

Test(page_compact, insert_compacts_only_when_needed)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);

	for (uint16_t s = 0; s < 10; s++)
		insert_pattern(p, sz, 300, s);
	cr_assert_eq(page_delete_record(p, sz, 4), 0);
	cr_assert_eq(page_delete_record(p, sz, 5), 0);
	size_t contiguous = rd32(p, PAGE_OFF_FREE_END) - rd32(p, PAGE_OFF_FREE_START);
	cr_assert_eq(contiguous, 4048u - 40 - 3000);
	/* fits the contiguous gap: no compaction, fragments stay */
	cr_assert_eq(insert_pattern(p, sz, 100, 100), 4);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 600u);
	/* 1000 > 908 contiguous, <= 908 + 600: compaction first */
	cr_assert_eq(insert_pattern(p, sz, 1000, 101), 5);
	cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);
	for (uint16_t s = 0; s < 10; s++)
		expect_record(p, sz, s, s == 4 ? 100 : s == 5 ? 1000 : 300,
			      s == 4 ? 100 : s == 5 ? 101 : s);
	assert_valid(p, sz);
	free(p);
}

/* ---- checksums ------------------------------------------------------------ */

static void fill_page_with_records(uint8_t *p, size_t sz, uint32_t seed)
{
	uint16_t n = 0;
	while (page_free_space(p, sz) > 64 + PAGE_SLOT_SIZE) {
		insert_pattern(p, sz, 1 + rnd(64), seed + n);
		n++;
	}
	for (uint16_t s = 1; s < n; s += 5)
		cr_assert_eq(page_delete_record(p, sz, s), 0);
}

/* Every bit of a 4 KiB page, checksum field included. */
Test(page_checksum, every_single_bit_flip_of_a_4k_page_is_detected)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 77);

	fill_page_with_records(p, sz, 1);
	page_set_lsn(p, 123456);
	page_checksum_update(p, sz);
	cr_assert(page_checksum_ok(p, sz, NULL, NULL));
	for (size_t bit = 0; bit < sz * 8; bit++) {
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_not(page_checksum_ok(p, sz, NULL, NULL), "bit %zu", bit);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	cr_assert(page_checksum_ok(p, sz, NULL, NULL));
	free(p);
}

/* Larger pages: every byte (8 KiB) or a dense sample, one random bit each. */
Test(page_checksum, bit_flips_in_larger_pages_are_detected)
{
	for (size_t i = 1; i < N_SIZES; i++) {
		size_t sz = sizes[i], step = sz <= 8192 ? 1 : sz / 8192 * 3 + 1;
		uint8_t *p = page_new(sz, 5);

		fill_page_with_records(p, sz, 2);
		page_checksum_update(p, sz);
		cr_assert(page_checksum_ok(p, sz, NULL, NULL));
		for (size_t b = 0; b < sz; b += step) {
			uint8_t m = (uint8_t)(1u << rnd(8));
			p[b] ^= m;
			cr_assert_not(page_checksum_ok(p, sz, NULL, NULL),
				      "size %zu byte %zu", sz, b);
			p[b] ^= m;
		}
		/* the last byte, always */
		p[sz - 1] ^= 0x80;
		cr_assert_not(page_checksum_ok(p, sz, NULL, NULL));
		p[sz - 1] ^= 0x80;
		cr_assert(page_checksum_ok(p, sz, NULL, NULL));
		free(p);
	}
}

Test(page_checksum, update_and_report)
{
	size_t sz = 16384;
	uint8_t *p = page_new(sz, 5);
	uint32_t stored, computed;

	cr_assert(page_checksum_ok(p, sz, &stored, &computed));
	cr_assert_eq(stored, computed);
	cr_assert_eq(stored, crc32c(0, p + 4, sz - 4));

	/* mutations leave the checksum for the writer to update */
	insert_pattern(p, sz, 10, 1);
	cr_assert_not(page_checksum_ok(p, sz, &stored, &computed));
	cr_assert_eq(stored, rd32(p, 0));
	cr_assert_eq(computed, crc32c(0, p + 4, sz - 4));
	cr_assert_neq(stored, computed);
	page_checksum_update(p, sz);
	cr_assert(page_checksum_ok(p, sz, &stored, &computed));
	cr_assert_eq(stored, computed);
	cr_assert_eq(rd32(p, 0), computed);

	page_set_lsn(p, 42);
	cr_assert_not(page_checksum_ok(p, sz, NULL, NULL));
	page_checksum_update(p, sz);
	cr_assert(page_checksum_ok(p, sz, NULL, &computed));

	/* the checksum field is not covered by itself */
	wr32(p, 0, rd32(p, 0) ^ 1);
	uint32_t c2;
	cr_assert_not(page_checksum_ok(p, sz, &stored, &c2));
	cr_assert_eq(c2, computed);
	cr_assert_eq(stored, computed ^ 1);
	free(p);
}

/* ---- split ---------------------------------------------------------------- */

Test(page_split, moves_upper_half_in_slot_order)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *p = page_new(sz, 10), *np = malloc(sz);
		size_t lens[10];
		uint16_t moved = 0;

		page_set_flags(p, 0x0042);
		page_set_lsn(p, 999);
		for (uint16_t s = 0; s < 10; s++) {
			lens[s] = s == 3 ? 0 : 10 + 37 * s;
			insert_pattern(p, sz, lens[s], s);
		}
		cr_assert_eq(page_split(p, np, sz, 11, &moved), 0);
		cr_assert_eq(moved, 5);
		assert_valid(p, sz);
		assert_valid(np, sz);
		cr_assert_eq(page_id(np), 11u);
		cr_assert_eq(page_id(p), 10u);
		cr_assert_eq(page_flags(np), 0x0042);
		cr_assert_eq(page_lsn(np), 0u);
		cr_assert_eq(page_lsn(p), 999u);
		cr_assert_eq(page_slot_count(p), 5);
		cr_assert_eq(page_live_records(p), 5);
		cr_assert_eq(page_slot_count(np), 5);
		cr_assert_eq(page_live_records(np), 5);
		for (uint16_t s = 0; s < 5; s++) {
			expect_record(p, sz, s, lens[s], s);
			expect_record(np, sz, s, lens[s + 5], s + 5u);
		}
		cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u); /* compacted */
		size_t low = 0, high = 0;
		for (int s = 0; s < 5; s++) {
			low += lens[s];
			high += lens[s + 5];
		}
		cr_assert_eq(page_used_bytes(p, sz), 5 * PAGE_SLOT_SIZE + low);
		cr_assert_eq(page_used_bytes(np, sz), 5 * PAGE_SLOT_SIZE + high);
		free(p);
		free(np);
	}
}

Test(page_split, odd_count_and_deleted_slots)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1), *np = malloc(sz);
	uint16_t moved;

	for (uint16_t s = 0; s < 10; s++)
		insert_pattern(p, sz, 20, s);
	/* live by slot order: 0 2 3 5 6 8 9 (7 live) */
	cr_assert_eq(page_delete_record(p, sz, 1), 0);
	cr_assert_eq(page_delete_record(p, sz, 4), 0);
	cr_assert_eq(page_delete_record(p, sz, 7), 0);
	cr_assert_eq(page_split(p, np, sz, 2, &moved), 0);
	cr_assert_eq(moved, 3);
	/* kept: 0 2 3 5 (slots 1 and 4 stay deleted and reusable) */
	cr_assert_eq(page_slot_count(p), 6);
	cr_assert_eq(page_live_records(p), 4);
	expect_record(p, sz, 0, 20, 0);
	expect_record(p, sz, 2, 20, 2);
	expect_record(p, sz, 3, 20, 3);
	expect_record(p, sz, 5, 20, 5);
	const void *rec;
	size_t len;
	cr_assert_eq(page_get_record(p, sz, 1, &rec, &len), STRATA_ENOT_FOUND);
	cr_assert_eq(page_get_record(p, sz, 6, &rec, &len), STRATA_ENOT_FOUND);
	/* moved: 6 8 9 -> new slots 0 1 2 */
	cr_assert_eq(page_slot_count(np), 3);
	expect_record(np, sz, 0, 20, 6);
	expect_record(np, sz, 1, 20, 8);
	expect_record(np, sz, 2, 20, 9);
	assert_valid(p, sz);
	assert_valid(np, sz);
	free(p);
	free(np);
}

Test(page_split, full_page_splits_into_two_with_room)
{
	size_t sz = 8192;
	uint8_t *p = page_new(sz, 1), *np = malloc(sz);
	uint16_t n = 0, moved;

	while (page_free_space(p, sz) >= 200 + PAGE_SLOT_SIZE)
		insert_pattern(p, sz, 200, n++);
	cr_assert(page_should_split(p, sz, 0.95));
	cr_assert_eq(page_split(p, np, sz, 2, &moved), 0);
	cr_assert_eq(moved, n / 2);
	cr_assert_not(page_should_split(p, sz, 0.95));
	cr_assert_not(page_should_split(np, sz, 0.95));
	insert_pattern(p, sz, 200, 5000);
	insert_pattern(np, sz, 200, 5001);
	for (uint16_t s = 0; s < n - n / 2; s++)
		expect_record(p, sz, s, 200, s);
	for (uint16_t s = 0; s < n / 2; s++)
		expect_record(np, sz, s, 200, (uint32_t)(n - n / 2 + s));
	free(p);
	free(np);
}

Test(page_split, refusals_leave_both_pages_unchanged)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1), *np = malloc(sz);
	uint16_t moved = 77;

	memset(np, 0xAB, sz);
	uint8_t *np_before = dup_bytes(np, sz);

	/* fewer than two live records */
	cr_assert_eq(page_split(p, np, sz, 2, &moved), STRATA_EBAD_REQUEST);
	insert_pattern(p, sz, 10, 1);
	uint8_t *before = dup_bytes(p, sz);
	cr_assert_eq(page_split(p, np, sz, 2, &moved), STRATA_EBAD_REQUEST);
	cr_assert_eq(memcmp(np, np_before, sz), 0);
	cr_assert_eq(memcmp(p, before, sz), 0);
	cr_assert_eq(moved, 77);

	/* same or overlapping buffers */
	insert_pattern(p, sz, 10, 2);
	free(before);
	before = dup_bytes(p, sz);
	cr_assert_eq(page_split(p, p, sz, 2, NULL), STRATA_EBAD_REQUEST);
	cr_assert_eq(memcmp(p, before, sz), 0);

	/* corrupt source */
	p[PAGE_OFF_VERSION] = 99;
	free(before);
	before = dup_bytes(p, sz);
	cr_assert_eq(page_split(p, np, sz, 2, NULL), STRATA_ECORRUPT);
	cr_assert_eq(memcmp(p, before, sz), 0);
	cr_assert_eq(memcmp(np, np_before, sz), 0);
	free(before);
	free(np_before);
	free(p);
	free(np);
}

Test(page_split, should_split_threshold)
{
	size_t sz = 4096;
	uint8_t *p = page_new(sz, 1);

	cr_assert_not(page_should_split(p, sz, 0.0)); /* no records */
	insert_pattern(p, sz, 1000, 1);
	insert_pattern(p, sz, 1000, 2);
	double fill = page_fill_ratio(p, sz);
	cr_assert_eq(fill, (2.0 * (1000 + PAGE_SLOT_SIZE)) / (sz - PAGE_HEADER_SIZE));
	cr_assert(page_should_split(p, sz, fill));
	cr_assert(page_should_split(p, sz, 0.4));
	cr_assert_not(page_should_split(p, sz, nextafter(fill, 2.0)));
	cr_assert_not(page_should_split(p, sz, 0.9));

	/* a full page with one record cannot be split */
	uint8_t *q = page_new(sz, 2);
	insert_pattern(q, sz, page_max_record(sz), 3);
	cr_assert_eq(page_fill_ratio(q, sz), 1.0);
	cr_assert_not(page_should_split(q, sz, 0.5));
	/* not formatted */
	memset(q, 0, sz);
	cr_assert_not(page_should_split(q, sz, 0.0));
	free(p);
	free(q);
}

/* ---- merge ---------------------------------------------------------------- */

Test(page_merge, appends_src_records_after_dst_slots)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);
		uint16_t moved = 0;

		for (uint16_t k = 0; k < 4; k++)
			insert_pattern(d, sz, 30 + k, k);
		cr_assert_eq(page_delete_record(d, sz, 1), 0); /* not reused */
		for (uint16_t k = 0; k < 5; k++)
			insert_pattern(s, sz, k == 2 ? 0 : 50 + k, 100 + k);
		cr_assert_eq(page_delete_record(s, sz, 3), 0);
		uint8_t *s_before = dup_bytes(s, sz);
		size_t used = page_used_bytes(d, sz);

		cr_assert(page_should_merge(d, s, sz, 0.9));
		cr_assert_eq(page_merge(d, s, sz, &moved), 0);
		cr_assert_eq(moved, 4);
		cr_assert_eq(memcmp(s, s_before, sz), 0);
		cr_assert_eq(page_slot_count(d), 8);
		cr_assert_eq(page_live_records(d), 7);
		cr_assert_eq(page_used_bytes(d, sz),
			     used + 4 * PAGE_SLOT_SIZE + 50 + 51 + 0 + 54);
		expect_record(d, sz, 0, 30, 0);
		expect_record(d, sz, 2, 32, 2);
		expect_record(d, sz, 3, 33, 3);
		expect_record(d, sz, 4, 50, 100);
		expect_record(d, sz, 5, 51, 101);
		expect_record(d, sz, 6, 0, 102);
		expect_record(d, sz, 7, 54, 104);
		const void *rec;
		size_t len;
		cr_assert_eq(page_get_record(d, sz, 1, &rec, &len), STRATA_ENOT_FOUND);
		assert_valid(d, sz);
		free(s_before);
		free(d);
		free(s);
	}
}

Test(page_merge, too_big_fails_and_dst_unchanged)
{
	size_t sz = 4096;
	uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);
	uint16_t moved = 55;

	insert_pattern(d, sz, 2000, 1);
	insert_pattern(s, sz, 2000, 2);
	insert_pattern(s, sz, 100, 3);
	uint8_t *before = dup_bytes(d, sz);
	cr_assert_not(page_should_merge(d, s, sz, 1.01));
	cr_assert_eq(page_merge(d, s, sz, &moved), STRATA_ENOSPC);
	cr_assert_eq(memcmp(d, before, sz), 0);
	cr_assert_eq(moved, 55);

	/* just fits: free 4048-2004 = 2044 >= 2000+4 + 36+4 */
	cr_assert_eq(update_pattern(s, sz, 1, 36, 3), 0);
	cr_assert(page_should_merge(d, s, sz, 1.01));
	cr_assert_eq(page_merge(d, s, sz, &moved), 0);
	cr_assert_eq(moved, 2);
	cr_assert_eq(page_free_space(d, sz), 0u);
	expect_record(d, sz, 2, 36, 3);
	assert_valid(d, sz);
	free(before);
	free(d);
	free(s);
}

Test(page_merge, compacts_dst_when_fragments_make_room)
{
	size_t sz = 4096;
	uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);

	for (uint16_t k = 0; k < 6; k++)
		insert_pattern(d, sz, 600, k);
	cr_assert_eq(page_delete_record(d, sz, 1), 0);
	cr_assert_eq(page_delete_record(d, sz, 2), 0);
	insert_pattern(s, sz, 1000, 50);
	cr_assert_eq(page_merge(d, s, sz, NULL), 0);
	cr_assert_eq(rd32(d, PAGE_OFF_FRAG), 0u);
	expect_record(d, sz, 6, 1000, 50);
	expect_record(d, sz, 0, 600, 0);
	expect_record(d, sz, 5, 600, 5);
	assert_valid(d, sz);
	free(d);
	free(s);
}

Test(page_merge, slot_limit_and_empty_src)
{
	size_t sz = 65536;
	uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);
	uint16_t moved = 9;

	for (int k = 0; k < 2100; k++) {
		cr_assert_eq(page_insert_record(d, sz, NULL, 0, NULL), 0);
		cr_assert_eq(page_insert_record(s, sz, NULL, 0, NULL), 0);
	}
	uint8_t *before = dup_bytes(d, sz);
	cr_assert_not(page_should_merge(d, s, sz, 1.01));
	cr_assert_eq(page_merge(d, s, sz, NULL), STRATA_ENOSPC);
	cr_assert_eq(memcmp(d, before, sz), 0);

	uint8_t *e = page_new(sz, 3);
	cr_assert(page_should_merge(d, e, sz, 0.5));
	cr_assert_eq(page_merge(d, e, sz, &moved), 0);
	cr_assert_eq(moved, 0);
	cr_assert_eq(memcmp(d, before, sz), 0);
	free(before);
	free(d);
	free(s);
	free(e);
}

Test(page_merge, should_merge_threshold_is_strict)
{
	size_t sz = 8192;
	uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);

	insert_pattern(d, sz, 1000, 1);
	insert_pattern(s, sz, 500, 2);
	insert_pattern(s, sz, 300, 3);
	double fill = (1000.0 + 500 + 300 + 3 * PAGE_SLOT_SIZE) / (sz - PAGE_HEADER_SIZE);
	cr_assert_not(page_should_merge(d, s, sz, fill));
	cr_assert(page_should_merge(d, s, sz, nextafter(fill, 2.0)));
	cr_assert_eq(page_merge(d, s, sz, NULL), 0);
	cr_assert_eq(page_fill_ratio(d, sz), fill);
	free(d);
	free(s);
}

Test(page_merge, refusals)
{
	size_t sz = 4096;
	uint8_t *d = page_new(sz, 1), *s = page_new(sz, 2);

	insert_pattern(s, sz, 10, 1);
	cr_assert_eq(page_merge(d, d, sz, NULL), STRATA_EBAD_REQUEST);
	s[PAGE_OFF_MAGIC] ^= 1;
	uint8_t *before = dup_bytes(d, sz);
	cr_assert_eq(page_merge(d, s, sz, NULL), STRATA_ECORRUPT);
	cr_assert_not(page_should_merge(d, s, sz, 1.0));
	cr_assert_eq(page_merge(s, d, sz, NULL), STRATA_ECORRUPT);
	cr_assert_eq(memcmp(d, before, sz), 0);
	free(before);
	free(d);
	free(s);
}

/* ---- a model: random operations checked against a plain array ------------ */

struct model_slot {
	bool live;
	size_t len;
	uint32_t seed;
};

static void model_check(const uint8_t *p, size_t sz, const struct model_slot *m,
			size_t count)
{
	size_t live = 0, bytes = 0;

	assert_valid(p, sz);
	cr_assert_eq(page_slot_count(p), count);
	for (size_t s = 0; s < count; s++) {
		if (m[s].live) {
			expect_record(p, sz, (uint16_t)s, m[s].len, m[s].seed);
			live++;
			bytes += m[s].len;
		} else {
			const void *rec;
			size_t len;
			cr_assert_eq(page_get_record(p, sz, (uint16_t)s, &rec, &len),
				     STRATA_ENOT_FOUND);
		}
	}
	cr_assert_eq(page_live_records(p), live);
	cr_assert_eq(page_used_bytes(p, sz), count * PAGE_SLOT_SIZE + bytes);
}

Test(page_model, random_operations_match_the_model)
{
	static struct model_slot m[PAGE_MAX_SLOTS];

	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i], count = 0, max = page_max_record(sz);
		uint8_t *p = page_new(sz, 1);
		uint8_t *before = malloc(sz);
		uint32_t seed = 1;

		memset(m, 0, sizeof m);
		for (int op = 0; op < 6000; op++) {
			size_t r = rnd(100), len;
			uint16_t slot = (uint16_t)rnd(count + 2);
			memcpy(before, p, sz);

			/* lengths: mostly small, some large, a few over the limit */
			size_t kind = rnd(20);
			len = kind == 0 ? 0 : kind < 14 ? 1 + rnd(64) :
			      kind < 19 ? rnd(sz / 4) : rnd(max + 10);

			if (r < 45) {
				size_t fs = page_free_space(p, sz);
				uint16_t got;
				int want = len > max ? STRATA_ETOO_LARGE :
					   len + PAGE_SLOT_SIZE <= fs ? 0 : STRATA_ENOSPC;
				uint8_t *buf = malloc(len + 1);
				pattern(buf, len, seed);
				int rc = page_insert_record(p, sz, buf, len, &got);
				free(buf);
				cr_assert_eq(rc, want, "op %d insert %zu free %zu: %s",
					     op, len, fs, strata_strerror(rc));
				if (rc == 0) {
					size_t expect = 0;
					while (expect < count && m[expect].live)
						expect++;
					cr_assert_eq(got, expect);
					if (expect == count)
						count++;
					m[got] = (struct model_slot){ true, len, seed };
				}
			} else if (r < 70) {
				int rc = page_delete_record(p, sz, slot);
				bool live = slot < count && m[slot].live;
				cr_assert_eq(rc, live ? 0 : STRATA_ENOT_FOUND);
				if (live) {
					m[slot].live = false;
					while (count > 0 && !m[count - 1].live)
						count--;
				}
			} else if (r < 97) {
				bool live = slot < count && m[slot].live;
				size_t raw = sz - PAGE_HEADER_SIZE - page_used_bytes(p, sz);
				int want = !live ? STRATA_ENOT_FOUND :
					   len > max ? STRATA_ETOO_LARGE :
					   len <= m[slot].len + raw ? 0 : STRATA_ENOSPC;
				int rc = update_pattern(p, sz, slot, len, seed);
				cr_assert_eq(rc, want, "op %d update slot %u len %zu: %s",
					     op, slot, len, strata_strerror(rc));
				if (rc == 0)
					m[slot] = (struct model_slot){ true, len, seed };
			} else {
				uint32_t frag = rd32(p, PAGE_OFF_FRAG);
				cr_assert_eq(page_compact(p, sz), frag);
				cr_assert_eq(rd32(p, PAGE_OFF_FRAG), 0u);
			}
			seed++;
			if (memcmp(before, p, sz) != 0)
				cr_assert_eq(page_slot_count(p), count);
			if (op % 16 == 0)
				model_check(p, sz, m, count);
		}
		model_check(p, sz, m, count);
		free(before);
		free(p);
	}
}

/* ---- corruption and fuzzing ----------------------------------------------- */

/* Calls every function on page; they must neither crash nor over-read
 * (ASan), every record handed out must lie inside the page, and a page that
 * fails page_validate must come back from every mutator unchanged. */
static void exercise(uint8_t *page, size_t sz, uint8_t *work, uint8_t *other)
{
	int valid = page_validate(page, sz);
	bool formatted = page_is_formatted(page, sz);
	const void *rec;
	size_t len;
	uint16_t moved;

	cr_assert(valid == 0 || valid == STRATA_ECORRUPT);
	if (valid == 0)
		cr_assert(formatted);
	(void)page_checksum_ok(page, sz, NULL, NULL);
	(void)page_id(page);
	(void)page_lsn(page);
	(void)page_flags(page);
	size_t fs = page_free_space(page, sz);
	cr_assert_leq(fs, sz - PAGE_HEADER_SIZE);
	cr_assert_leq(page_used_bytes(page, sz), sz - PAGE_HEADER_SIZE);
	double fill = page_fill_ratio(page, sz);
	cr_assert(fill >= 0.0 && fill <= 1.0);
	(void)page_should_split(page, sz, 0.5);
	(void)page_live_records(page);
	uint32_t sc = page_slot_count(page);
	if (!formatted)
		cr_assert_eq(fs, 0u);

	for (uint32_t s = 0; s < sc + 2 && s <= 0xFFFF; s++) {
		int rc = page_get_record(page, sz, (uint16_t)s, &rec, &len);
		if (rc == 0) {
			const uint8_t *r = rec;
			cr_assert(r >= page && r + len <= page + sz, "slot %u", s);
			if (len > 0)
				cr_assert(r >= page + PAGE_HEADER_SIZE + sc * PAGE_SLOT_SIZE);
		} else {
			cr_assert(rc == STRATA_ENOT_FOUND || rc == STRATA_ECORRUPT);
		}
	}

	/* mutators, each on a fresh copy */
	static const uint8_t data[64] = { 1, 2, 3 };
	for (int op = 0; op < 7; op++) {
		int rc = 0;
		memcpy(work, page, sz);
		switch (op) {
		case 0: rc = page_insert_record(work, sz, data, 1 + rnd(63), NULL); break;
		case 1: rc = page_delete_record(work, sz, (uint16_t)rnd(sc + 1)); break;
		case 2: rc = page_update_record(work, sz, (uint16_t)rnd(sc + 1), data, rnd(64)); break;
		case 3: rc = page_update_record(work, sz, (uint16_t)rnd(sc + 1), data, 0); break;
		case 4: {
			size_t got = page_compact(work, sz);
			if (valid != 0)
				cr_assert_eq(got, 0u);
			rc = valid != 0 ? STRATA_ECORRUPT : 0;
			break;
		}
		case 5: rc = page_split(work, other, sz, 7, &moved); break;
		case 6:
			page_init(other, sz, 8);
			insert_pattern(other, sz, 10, 1);
			rc = page_merge(work, other, sz, &moved);
			if (valid == 0 && rc == 0)
				assert_valid(work, sz);
			memcpy(work, page, sz);
			page_init(other, sz, 8);
			(void)page_should_merge(other, work, sz, 0.9);
			rc = page_merge(other, work, sz, &moved);
			if (rc == 0)
				assert_valid(other, sz);
			memcpy(work, page, sz);
			rc = page_merge(work, other, sz, &moved);
			break;
		}
		if (valid != 0) {
			cr_assert_eq(rc, STRATA_ECORRUPT, "op %d", op);
			cr_assert_eq(memcmp(work, page, sz), 0, "op %d changed a corrupt page", op);
		} else {
			assert_valid(work, sz);
			if (op == 5 && rc == 0)
				assert_valid(other, sz);
		}
	}
}

Test(page_fuzz, ten_thousand_random_pages)
{
	uint8_t *bufs[N_SIZES][3];

	for (size_t i = 0; i < N_SIZES; i++)
		for (int k = 0; k < 3; k++)
			cr_assert_not_null(bufs[i][k] = malloc(sizes[i]));

	for (int n = 0; n < 10000; n++) {
		size_t si = n % 10 < 6 ? 0 : (size_t)(n % 10 - 5); /* mostly 4 KiB */
		size_t sz = sizes[si];
		uint8_t *p = bufs[si][0];
		int mode = n % 4;

		if (mode == 0) {
			/* pure garbage */
			for (size_t b = 0; b < sz; b++)
				p[b] = (uint8_t)rng();
		} else if (mode == 1) {
			/* garbage behind a plausible header */
			for (size_t b = 0; b < sz; b++)
				p[b] = (uint8_t)rng();
			uint32_t sc = (uint32_t)rnd(40);
			wr32(p, PAGE_OFF_MAGIC, PAGE_MAGIC);
			p[PAGE_OFF_VERSION] = PAGE_FORMAT_VERSION;
			p[PAGE_OFF_SHIFT] = (uint8_t)(12 + si);
			wr32(p, PAGE_OFF_RESERVED, 0);
			wr16(p, PAGE_OFF_SLOT_COUNT, sc);
			wr16(p, PAGE_OFF_LIVE_COUNT, (uint32_t)rnd(sc + 1));
			wr32(p, PAGE_OFF_FREE_START, PAGE_HEADER_SIZE + 4 * sc);
			wr32(p, PAGE_OFF_FREE_END, (uint32_t)(sz - rnd(sz / 2)));
			wr32(p, PAGE_OFF_FRAG, (uint32_t)rnd(sz / 2));
		} else {
			/* a real page with a few bytes smashed (mode 2: in
			 * the header and slot directory; mode 3: anywhere) */
			page_init(p, sz, (uint64_t)n);
			int recs = (int)rnd(30);
			for (int k = 0; k < recs; k++)
				(void)page_insert_record(p, sz, scratch, rnd(200), NULL);
			for (int k = 0; k < recs / 3; k++)
				(void)page_delete_record(p, sz, (uint16_t)rnd((size_t)recs));
			int smash = 1 + (int)rnd(4);
			size_t span = mode == 2 ? PAGE_HEADER_SIZE + 4 * 30 : sz;
			for (int k = 0; k < smash; k++) {
				size_t at = rnd(span);
				p[at] = rnd(2) ? (uint8_t)rng() : p[at] ^ (uint8_t)(1u << rnd(8));
			}
		}
		exercise(p, sz, bufs[si][1], bufs[si][2]);
	}
	for (size_t i = 0; i < N_SIZES; i++)
		for (int k = 0; k < 3; k++)
			free(bufs[i][k]);
}

/* Each kind of damage page_validate must reject, on a page with records
 * 0 (100 bytes), 1 (60 bytes), 2 (empty), 3 (80 bytes). */
enum damage {
	D_MAGIC, D_VERSION, D_SHIFT, D_RESERVED, D_SLOTS_OVER_MAX,
	D_LIVE_OVER_SLOTS, D_FREE_START, D_DIR_OVERLAPS_DATA, D_FREE_END_PAST_END,
	D_FRAG_TOO_BIG, D_HEADER_LAST = D_FRAG_TOO_BIG,
	D_REC_PAST_END, D_REC_BELOW_FREE_END, D_RECS_OVERLAP, D_LIVE_COUNT,
	D_FRAG_ACCOUNTING, D_EMPTY_BAD_OFFSET, D_DELETED_WITH_LEN, D_TRAILING_DELETED,
	D_COUNT
};

static void damage(uint8_t *p, size_t sz, enum damage d)
{
	uint32_t sc = rd16(p, PAGE_OFF_SLOT_COUNT);
	switch (d) {
	case D_MAGIC: p[PAGE_OFF_MAGIC + 3] ^= 0x20; break;
	case D_VERSION: p[PAGE_OFF_VERSION] = 2; break;
	case D_SHIFT: p[PAGE_OFF_SHIFT] ^= 1; break;
	case D_RESERVED: p[PAGE_OFF_RESERVED + 2] = 1; break;
	case D_SLOTS_OVER_MAX:
		wr16(p, PAGE_OFF_SLOT_COUNT, PAGE_MAX_SLOTS + 1);
		wr32(p, PAGE_OFF_FREE_START, PAGE_HEADER_SIZE + 4 * (PAGE_MAX_SLOTS + 1));
		break;
	case D_LIVE_OVER_SLOTS: wr16(p, PAGE_OFF_LIVE_COUNT, sc + 1); break;
	case D_FREE_START: wr32(p, PAGE_OFF_FREE_START, PAGE_HEADER_SIZE + 4 * sc + 4); break;
	case D_DIR_OVERLAPS_DATA: {
		/* a directory long enough to run into the records */
		uint32_t fe = rd32(p, PAGE_OFF_FREE_END);
		uint32_t n = (fe - PAGE_HEADER_SIZE) / 4 + 1;
		wr16(p, PAGE_OFF_SLOT_COUNT, n);
		wr32(p, PAGE_OFF_FREE_START, PAGE_HEADER_SIZE + 4 * n);
		break;
	}
	case D_FREE_END_PAST_END: wr32(p, PAGE_OFF_FREE_END, (uint32_t)sz + 1); break;
	case D_FRAG_TOO_BIG:
		wr32(p, PAGE_OFF_FRAG, (uint32_t)sz - rd32(p, PAGE_OFF_FREE_END) + 1);
		break;
	case D_REC_PAST_END: wr16(p, 48 + 0, (uint32_t)sz - 50); break; /* 100 bytes */
	case D_REC_BELOW_FREE_END: wr16(p, 48 + 4, PAGE_HEADER_SIZE + 4); break;
	case D_RECS_OVERLAP: wr16(p, 48 + 4, rd16(p, 48 + 4) + 1); break;
	case D_LIVE_COUNT: wr16(p, PAGE_OFF_LIVE_COUNT, sc - 1); break;
	case D_FRAG_ACCOUNTING: wr32(p, PAGE_OFF_FRAG, rd32(p, PAGE_OFF_FRAG) + 1); break;
	case D_EMPTY_BAD_OFFSET: wr16(p, 48 + 8, 7); break;
	case D_DELETED_WITH_LEN: wr16(p, 48 + 4, 0); break;
	case D_TRAILING_DELETED:
		/* slot 3 deleted with the counts kept right: only the
		 * "last slot is live" rule is broken */
		wr16(p, 48 + 12, 0);
		wr16(p, 48 + 14, 0);
		wr16(p, PAGE_OFF_LIVE_COUNT, sc - 1);
		wr32(p, PAGE_OFF_FRAG, rd32(p, PAGE_OFF_FRAG) + 80);
		break;
	default: break;
	}
}

Test(page_corrupt, each_kind_of_damage_is_rejected)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t sz = sizes[i];
		uint8_t *good = page_new(sz, 1), *q = malloc(sz), *w = malloc(sz);
		uint8_t *o = malloc(sz);

		insert_pattern(good, sz, 100, 0);
		insert_pattern(good, sz, 60, 1);
		insert_pattern(good, sz, 0, 2);
		insert_pattern(good, sz, 80, 3);
		/* record 0 is the highest: records 1 and 0 are adjacent */
		cr_assert_eq(rd16(good, 48), sz - 100);
		cr_assert_eq(rd16(good, 52), sz - 160);
		assert_valid(good, sz);

		for (int d = 0; d < D_COUNT; d++) {
			memcpy(q, good, sz);
			damage(q, sz, (enum damage)d);
			cr_assert_neq(memcmp(q, good, sz), 0, "damage %d did nothing", d);
			cr_assert_eq(page_validate(q, sz), STRATA_ECORRUPT, "damage %d", d);
			cr_assert_eq(page_is_formatted(q, sz), d > D_HEADER_LAST,
				     "damage %d", d);
			exercise(q, sz, w, o);
		}
		free(good);
		free(q);
		free(w);
		free(o);
	}
}
