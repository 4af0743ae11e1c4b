/*
 * tests/unit/test_crc32c.c — CRC-32C check values and agreement of the
 * ISA-L, SSE4.2 and table-driven implementations with a bit-at-a-time
 * reference written here from the definition.
 */
#include <criterion/criterion.h>
#include <isa-l/crc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static const struct {
	const char *name;
	crc_fn fn;
} impls[] = {
	{ "crc32c", crc32c },
	{ "crc32c_sw", crc32c_sw },
	{ "crc32c_hw", crc32c_hw },
};
#define N_IMPLS (sizeof impls / sizeof impls[0])

/* The definition: reflected polynomial 0x82F63B78, init and xorout ~0. */
static uint32_t crc_ref(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* xorshift64*: deterministic test data. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

Test(crc32c, check_value_123456789)
{
	for (size_t i = 0; i < N_IMPLS; i++)
		cr_assert_eq(impls[i].fn(0, "123456789", 9), 0xE3069283u,
			     "%s: %08x", impls[i].name,
			     impls[i].fn(0, "123456789", 9));
	cr_assert_eq(crc_ref(0, "123456789", 9), 0xE3069283u);
}

/* RFC 3720 appendix B.4 test vectors. */
Test(crc32c, rfc3720_vectors)
{
	uint8_t buf[48];
	struct {
		uint32_t want;
		size_t len;
		int kind;
	} v[] = {
		{ 0x8A9136AAu, 32, 0 }, /* 32 bytes of 0x00 */
		{ 0x62A8AB43u, 32, 1 }, /* 32 bytes of 0xFF */
		{ 0x46DD794Eu, 32, 2 }, /* 0x00, 0x01, ... 0x1F */
		{ 0x113FDB5Cu, 32, 3 }, /* 0x1F, 0x1E, ... 0x00 */
		{ 0xD9963A56u, 48, 4 }, /* an iSCSI read command PDU */
	};
	static const uint8_t pdu[48] = {
		0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
		0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	for (size_t t = 0; t < sizeof v / sizeof v[0]; t++) {
		for (size_t i = 0; i < v[t].len; i++)
			buf[i] = v[t].kind == 0 ? 0x00 :
				 v[t].kind == 1 ? 0xFF :
				 v[t].kind == 2 ? (uint8_t)i :
				 v[t].kind == 3 ? (uint8_t)(31 - i) : pdu[i];
		cr_assert_eq(crc_ref(0, buf, v[t].len), v[t].want, "ref vector %zu", t);
		for (size_t i = 0; i < N_IMPLS; i++)
			cr_assert_eq(impls[i].fn(0, buf, v[t].len), v[t].want,
				     "%s vector %zu", impls[i].name, t);
	}
}

Test(crc32c, empty_input_returns_seed)
{
	for (size_t i = 0; i < N_IMPLS; i++) {
		cr_assert_eq(impls[i].fn(0, NULL, 0), 0u, "%s", impls[i].name);
		cr_assert_eq(impls[i].fn(0xDEADBEEFu, "x", 0), 0xDEADBEEFu,
			     "%s", impls[i].name);
	}
}

/* Every length 0..1024 at every start offset 0..7: all implementations
 * equal the reference, from seed 0 and from a non-zero seed. */
Test(crc32c, all_lengths_and_alignments_agree)
{
	static uint8_t base[1024 + 16];

	fill_random(base, sizeof base);
	for (size_t align = 0; align < 8; align++)
		for (size_t len = 0; len <= 1024; len++) {
			const uint8_t *p = base + align;
			uint32_t seed = (uint32_t)rng();
			uint32_t want0 = crc_ref(0, p, len);
			uint32_t wants = crc_ref(seed, p, len);
			for (size_t i = 0; i < N_IMPLS; i++) {
				cr_assert_eq(impls[i].fn(0, p, len), want0,
					     "%s len %zu align %zu", impls[i].name,
					     len, align);
				cr_assert_eq(impls[i].fn(seed, p, len), wants,
					     "%s seeded len %zu align %zu",
					     impls[i].name, len, align);
			}
		}
}

Test(crc32c, chaining_equals_one_shot)
{
	static uint8_t buf[5000];

	fill_random(buf, sizeof buf);
	for (int round = 0; round < 500; round++) {
		size_t len = (size_t)(rng() % sizeof buf);
		size_t cut1 = len ? (size_t)(rng() % (len + 1)) : 0;
		size_t cut2 = cut1 + (size_t)(rng() % (len - cut1 + 1));
		for (size_t i = 0; i < N_IMPLS; i++) {
			crc_fn f = impls[i].fn;
			uint32_t whole = f(0, buf, len);
			uint32_t c = f(0, buf, cut1);
			c = f(c, buf + cut1, cut2 - cut1);
			c = f(c, buf + cut2, len - cut2);
			cr_assert_eq(c, whole, "%s len %zu cuts %zu %zu",
				     impls[i].name, len, cut1, cut2);
		}
	}
}

Test(crc32c, large_buffer_agrees)
{
	size_t n = (3u << 20) + 13;
	uint8_t *buf = malloc(n);

	cr_assert_not_null(buf);
	fill_random(buf, n);
	uint32_t sw = crc32c_sw(0, buf, n);
	cr_assert_eq(crc32c(0, buf, n), sw);
	cr_assert_eq(crc32c_hw(0, buf, n), sw);
	cr_assert_eq(crc32c(0, buf + 1, n - 1), crc32c_sw(0, buf + 1, n - 1));
	free(buf);
}

/* crc32c() is ISA-L with the inversions moved outside (see crc32c.c). */
Test(crc32c, matches_isal_convention)
{
	uint8_t buf[4096];

	fill_random(buf, sizeof buf);
	cr_assert_str_eq(crc32c_backend(), "isa-l");
	for (size_t len = 0; len <= sizeof buf; len += 97) {
		uint32_t seed = (uint32_t)rng();
		cr_assert_eq(crc32c(seed, buf, len),
			     ~crc32_iscsi(buf, (int)len, ~seed), "len %zu", len);
	}
}

Test(crc32c, hw_availability_matches_cpu)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	cr_assert_eq(crc32c_hw_available(), (bool)__builtin_cpu_supports("sse4.2"));
#else
	cr_assert_not(crc32c_hw_available());
#endif
}

/* A CRC must change on every single-bit error in a buffer (it detects all
 * of them); checks that the implementations are not, say, ignoring a tail. */
Test(crc32c, detects_every_single_bit_flip_in_a_short_buffer)
{
	uint8_t buf[67];

	fill_random(buf, sizeof buf);
	for (size_t i = 0; i < N_IMPLS; i++) {
		uint32_t good = impls[i].fn(0, buf, sizeof buf);
		for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			cr_assert_neq(impls[i].fn(0, buf, sizeof buf), good,
				      "%s bit %zu", impls[i].name, bit);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}
