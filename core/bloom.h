/*
 * core/bloom.h — bloom filters for SSTables.
 *
 * A filter is a byte string: ceil(bits/8) bytes of bit array followed by one
 * byte holding k, the number of probes. Keys are hashed once to 64 bits
 * (bloom_hash); probe i tests bit (h1 + i*h2) mod bits (Kirsch–Mitzenmacher
 * double hashing with the two 32-bit halves). With b bits per key and
 * k = round(b * ln 2) probes the false-positive rate is about
 * (1 - e^(-k/b))^k: 0.8% for b = 10.
 *
 * The encoded form is stable (it is stored in SSTables). All functions are
 * pure: any thread, no global state.
 */
#ifndef STRATA_CORE_BLOOM_H
#define STRATA_CORE_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of a key (stable across versions: it is stored on disk). */
uint64_t bloom_hash(const void *key, size_t len);

/* Size in bytes of the filter bloom_build makes for n keys at bits_per_key. */
size_t bloom_size(size_t n, unsigned bits_per_key);

/* Writes the filter of the n hashes into out (bloom_size(n, bits_per_key)
 * bytes). bits_per_key 0 makes a filter that answers "maybe" to everything. */
void bloom_build(const uint64_t *hashes, size_t n, unsigned bits_per_key, uint8_t *out);

/* false: the key is certainly not in the set; true: it may be. A malformed
 * filter (len < 2, k out of range) answers true. */
bool bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash);

#endif
