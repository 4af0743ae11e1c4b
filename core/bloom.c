/*
 * core/bloom.c — see bloom.h for the contract and the format.
 */
#include "core/bloom.h"

#include <string.h>

/* MurmurHash64A's mixing over 8-byte words, with a final avalanche. */
uint64_t bloom_hash(const void *key, size_t len)
{
	const uint64_t m = 0xc6a4a7935bd1e995ull;
	const int r = 47;
	const uint8_t *p = key;
	uint64_t h = 0x8445d61a4e774912ull ^ (len * m);
	while (len >= 8) {
		uint64_t k;
		memcpy(&k, p, 8);
		k *= m;
		k ^= k >> r;
		k *= m;
		h ^= k;
		h *= m;
		p += 8;
		len -= 8;
	}
	uint64_t t = 0;
	switch (len) {
	case 7: t ^= (uint64_t)p[6] << 48; /* fall through */
	case 6: t ^= (uint64_t)p[5] << 40; /* fall through */
	case 5: t ^= (uint64_t)p[4] << 32; /* fall through */
	case 4: t ^= (uint64_t)p[3] << 24; /* fall through */
	case 3: t ^= (uint64_t)p[2] << 16; /* fall through */
	case 2: t ^= (uint64_t)p[1] << 8;  /* fall through */
	case 1:
		t ^= (uint64_t)p[0];
		h ^= t;
		h *= m;
	}
	h ^= h >> r;
	h *= m;
	h ^= h >> r;
	return h;
}

static unsigned probes_for(unsigned bits_per_key)
{
	/* round(b * ln 2), within [1, 30] */
	unsigned k = (unsigned)((double)bits_per_key * 0.69314718 + 0.5);
	if (k < 1)
		k = 1;
	if (k > 30)
		k = 30;
	return k;
}

static uint64_t nbits_for(size_t n, unsigned bits_per_key)
{
	uint64_t bits = (uint64_t)n * bits_per_key;
	if (bits < 64)
		bits = 64; /* tiny sets would otherwise see a high FP rate */
	return (bits + 7) / 8 * 8;
}

size_t bloom_size(size_t n, unsigned bits_per_key)
{
	if (bits_per_key == 0)
		return 2;
	return (size_t)(nbits_for(n, bits_per_key) / 8) + 1;
}

void bloom_build(const uint64_t *hashes, size_t n, unsigned bits_per_key, uint8_t *out)
{
	if (bits_per_key == 0) {
		out[0] = 0xff;
		out[1] = 0; /* k = 0: "maybe" for everything */
		return;
	}
	uint64_t bits = nbits_for(n, bits_per_key);
	unsigned k = probes_for(bits_per_key);
	memset(out, 0, (size_t)(bits / 8));
	for (size_t i = 0; i < n; i++) {
		uint32_t h1 = (uint32_t)hashes[i], h2 = (uint32_t)(hashes[i] >> 32);
		for (unsigned j = 0; j < k; j++) {
			uint64_t bit = ((uint64_t)h1 + (uint64_t)j * h2) % bits;
			out[bit / 8] |= (uint8_t)(1u << (bit % 8));
		}
	}
	out[bits / 8] = (uint8_t)k;
}

bool bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash)
{
	if (len < 2)
		return true;
	unsigned k = filter[len - 1];
	if (k == 0 || k > 30)
		return true;
	uint64_t bits = (uint64_t)(len - 1) * 8;
	uint32_t h1 = (uint32_t)hash, h2 = (uint32_t)(hash >> 32);
	for (unsigned j = 0; j < k; j++) {
		uint64_t bit = ((uint64_t)h1 + (uint64_t)j * h2) % bits;
		if (!(filter[bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}
