/*
 * core/lsm_coding.h — byte encodings shared by the LSM files (WAL records,
 * SSTable blocks, the manifest), and the key order.
 *
 * Integers are little-endian on disk (the build targets are little-endian;
 * memcpy keeps unaligned access defined). Varints are LEB128, at most 10
 * bytes for a u64. The key order is plain byte order (memcmp, shorter first
 * on a common prefix).
 */
#ifndef STRATA_CORE_LSM_CODING_H
#define STRATA_CORE_LSM_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void lsm_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void lsm_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t lsm_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t lsm_get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Writes v as a varint at p; returns the bytes written (1..10). */
static inline size_t lsm_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint from [*p, end); advances *p. false on a truncated or
 * overlong encoding (bad input from disk: never trusted). */
static inline bool lsm_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift <= 63 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* <0, 0, >0 (the sign is all that is defined). Compares 8 bytes at a time
 * as big-endian words: keys are short, and a libc memcmp call per skiplist
 * or block step was the memtable's hottest cost. */
static inline int lsm_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	const uint8_t *p = a, *q = b;
	for (; n >= 8; n -= 8, p += 8, q += 8) {
		uint64_t x, y;
		memcpy(&x, p, 8);
		memcpy(&y, q, 8);
		if (x != y) {
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
			return x < y ? -1 : 1;
		}
	}
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

/* Entry types stored in WAL records, memtables and SSTables. */
enum { LSM_TYPE_PUT = 1, LSM_TYPE_DEL = 2 };

#endif
