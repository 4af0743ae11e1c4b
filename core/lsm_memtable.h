/*
 * core/lsm_memtable.h — the memtable: a skiplist in an arena.
 *
 * Entries are (key, seq, type, value); a key written twice has two entries,
 * ordered newest (highest seq) first. Memory is taken from an arena of large
 * blocks and released all at once when the last reference goes.
 *
 * Concurrency: one writer at a time (the tree's write_mu) may call
 * lsm_memtable_add while any number of threads read (get, cursors) without a
 * lock: a node is fully built before it is linked with a release store, and
 * readers follow links with acquire loads. References (ref/unref) are atomic.
 */
#ifndef STRATA_CORE_LSM_MEMTABLE_H
#define STRATA_CORE_LSM_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/lsm_cursor.h"

struct lsm_memtable;

/* A new empty memtable with one reference. STRATA_ENOMEM. */
int lsm_memtable_new(struct lsm_memtable **out);
/* The same with a bloom filter of about filter_bits bits (rounded up to a
 * power of two, at most 64 Mibit; 0 = none) over the keys added, so lookups of absent keys
 * (lsm_memtable_get_h) mostly skip the skiplist. Blocked: one 64-bit word
 * per key, 3 bits in it. */
int lsm_memtable_new_ex(struct lsm_memtable **out, size_t filter_bits);
void lsm_memtable_ref(struct lsm_memtable *m);
/* Drops a reference; frees the memtable at the last one. NULL is a no-op. */
void lsm_memtable_unref(struct lsm_memtable *m);

/* Adds an entry (copies key and val). Single writer. STRATA_ENOMEM. */
int lsm_memtable_add(struct lsm_memtable *m, uint64_t seq, int type, const void *key, size_t klen,
		     const void *val, size_t vlen);

/* Finds the newest entry of key with seq <= snap. Returns 1 and fills *type,
 * *val, *vlen (pointing into the memtable: valid while the caller holds a
 * reference) if there is one, else 0. */
int lsm_memtable_get(struct lsm_memtable *m, const void *key, size_t klen, uint64_t snap,
		     int *type, const void **val, size_t *vlen);
/* The same with hash = bloom_hash(key, klen) (core/bloom.h), checked against
 * the memtable's filter first. */
int lsm_memtable_get_h(struct lsm_memtable *m, const void *key, size_t klen, uint64_t hash,
		       uint64_t snap, int *type, const void **val, size_t *vlen);

/* Approximate bytes used (entries plus overhead) and entry count. */
size_t lsm_memtable_bytes(const struct lsm_memtable *m);
uint64_t lsm_memtable_entries(const struct lsm_memtable *m);

/* A cursor seeing, for each key, its newest entry with seq <= snap. Holds a
 * reference to m until freed. STRATA_ENOMEM. */
int lsm_memtable_cursor(struct lsm_memtable *m, uint64_t snap, struct lsm_cursor **out);

#endif
