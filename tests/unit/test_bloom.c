/*
 * tests/unit/test_bloom.c — core/bloom: no false negatives, and a false
 * positive rate near the theoretical one.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bloom.h"

static double fp_rate(unsigned bits_per_key, size_t n, size_t probes)
{
	uint64_t *h = malloc(n * sizeof(*h));
	char k[32];
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "member-%zu", i);
		h[i] = bloom_hash(k, (size_t)len);
	}
	size_t sz = bloom_size(n, bits_per_key);
	uint8_t *f = malloc(sz);
	bloom_build(h, n, bits_per_key, f);
	for (size_t i = 0; i < n; i++)
		cr_assert(bloom_may_contain(f, sz, h[i]), "false negative for member %zu", i);
	size_t fp = 0;
	for (size_t i = 0; i < probes; i++) {
		int len = snprintf(k, sizeof(k), "other-%zu", i);
		fp += bloom_may_contain(f, sz, bloom_hash(k, (size_t)len));
	}
	free(f);
	free(h);
	return (double)fp / (double)probes;
}

Test(bloom, false_positive_rate_10_bits_per_key)
{
	double r = fp_rate(10, 20000, 200000);
	/* theory for b = 10, k = 7: (1 - e^(-0.7))^7 = 0.82% */
	cr_log_info("bloom 10 bits/key: %.3f%% false positives", r * 100);
	cr_assert(r > 0.003 && r < 0.015, "fp rate %.4f", r);
}

Test(bloom, more_bits_fewer_false_positives)
{
	double r5 = fp_rate(5, 10000, 100000), r16 = fp_rate(16, 10000, 100000);
	cr_assert(r5 > 0.05 && r5 < 0.15, "5 bits/key: %.4f", r5);
	cr_assert(r16 < 0.002, "16 bits/key: %.4f", r16);
}

Test(bloom, zero_bits_and_malformed_filters_say_maybe)
{
	uint8_t f[2];
	uint64_t h = bloom_hash("x", 1);
	bloom_build(&h, 1, 0, f);
	cr_assert(bloom_may_contain(f, sizeof(f), bloom_hash("y", 1)));
	cr_assert(bloom_may_contain(f, 1, h));
	uint8_t bad[9] = {0, 0, 0, 0, 0, 0, 0, 0, 200}; /* k out of range */
	cr_assert(bloom_may_contain(bad, sizeof(bad), h));
}

Test(bloom, hash_is_stable)
{
	/* stored on disk: the value must never change */
	cr_assert_eq(bloom_hash("", 0), bloom_hash("", 0));
	cr_assert_neq(bloom_hash("a", 1), bloom_hash("b", 1));
	cr_assert_neq(bloom_hash("abcdefgh", 8), bloom_hash("abcdefgi", 8));
}
