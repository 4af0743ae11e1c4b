/*
 * core/crc32c.c — CRC-32C: ISA-L, SSE4.2 and table-driven implementations.
 *
 * Conventions. Every routine below works on the "raw" register value, i.e.
 * the CRC before the final inversion; the public functions invert on the
 * way in and out, which is what makes them chainable:
 *
 *     crc32c(crc, buf, len) = ~raw_update(~crc, buf, len)
 *
 * ISA-L's crc32_iscsi(buf, len, init) is exactly raw_update(init, ...): it
 * neither inverts its seed nor its result (crc32_iscsi("123456789", 9,
 * 0xFFFFFFFF) == 0x1CF96D7C == ~0xE3069283), so it is called with ~crc and
 * its result inverted. It takes an int length, so longer buffers are fed in
 * chunks.
 */
#include "core/crc32c.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<isa-l/crc.h>)
#include <isa-l/crc.h>
#define CRC32C_HAVE_ISAL 1
#endif
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define CRC32C_HAVE_SSE42 1
#endif

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82F63B78u

/* ---- table-driven (slicing-by-8) ---------------------------------------- */

/* crc32c_table[0] is the classic byte-at-a-time table; crc32c_table[k][b] is
 * the CRC of byte b followed by k zero bytes, which lets eight input bytes be
 * folded with eight independent lookups. */
static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_table_build(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++) {
			uint32_t prev = crc32c_table[k - 1][b];
			crc32c_table[k][b] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
		}
}

static uint32_t raw_update_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	const uint32_t (*t)[256] = (const uint32_t (*)[256])crc32c_table;

	/* Byte loads keep this independent of alignment and endianness. */
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	if (len == 0)
		return crc;
	pthread_once(&crc32c_table_once, crc32c_table_build);
	return ~raw_update_sw(~crc, buf, len);
}

/* ---- SSE4.2 ------------------------------------------------------------- */

#ifdef CRC32C_HAVE_SSE42
__attribute__((target("sse4.2")))
static uint32_t raw_update_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c32 = crc;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c32 = _mm_crc32_u8(c32, *p++);
		n--;
	}
	uint64_t c64 = c32;
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, sizeof v);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		n -= 8;
	}
	c32 = (uint32_t)c64;
	while (n--)
		c32 = _mm_crc32_u8(c32, *p++);
	return c32;
}

static int crc32c_hw_state; /* 0 unknown, 1 yes, -1 no; racy but idempotent */

bool crc32c_hw_available(void)
{
	int s = __atomic_load_n(&crc32c_hw_state, __ATOMIC_RELAXED);
	if (s == 0) {
		__builtin_cpu_init();
		s = __builtin_cpu_supports("sse4.2") ? 1 : -1;
		__atomic_store_n(&crc32c_hw_state, s, __ATOMIC_RELAXED);
	}
	return s > 0;
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	if (len == 0)
		return crc;
	if (!crc32c_hw_available())
		return crc32c_sw(crc, buf, len);
	return ~raw_update_hw(~crc, buf, len);
}
#else
bool crc32c_hw_available(void)
{
	return false;
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}
#endif

/* ---- the one to call ---------------------------------------------------- */

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
#ifdef CRC32C_HAVE_ISAL
	const unsigned char *p = buf;
	unsigned int raw = ~crc;

	/* crc32_iscsi takes an int length and a non-const pointer it only
	 * reads. */
	while (len > 0) {
		int chunk = len > (size_t)(INT_MAX & ~7) ? (INT_MAX & ~7) : (int)len;
		raw = crc32_iscsi((unsigned char *)p, chunk, raw);
		p += chunk;
		len -= (size_t)chunk;
	}
	return ~raw;
#else
	return crc32c_hw(crc, buf, len);
#endif
}

const char *crc32c_backend(void)
{
#ifdef CRC32C_HAVE_ISAL
	return "isa-l";
#else
	return crc32c_hw_available() ? "sse4.2" : "table";
#endif
}
