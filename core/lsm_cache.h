/*
 * core/lsm_cache.h — the LSM tree's block cache: verified, decompressed
 * SSTable data blocks, shared by every reader of a tree, LRU-evicted.
 *
 * Entries are keyed by (table id, block offset); table ids are unique in
 * the process (lsm_cache_new_id), so a closed table's blocks can never be
 * found by another table; they age out of the LRU. An entry holds the
 * block's bytes (malloc'd, freed with the entry). A lookup or insert returns
 * a referenced entry that stays valid (even if evicted meanwhile) until
 * lsm_cache_release. Only blocks that passed their checksum are inserted,
 * so a hit is as trustworthy as a read.
 *
 * Threads: every function may be called from any thread (the cache is
 * sharded, one mutex per shard).
 */
#ifndef STRATA_CORE_LSM_CACHE_H
#define STRATA_CORE_LSM_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct lsm_cache;

struct lsm_cache_entry {
	uint8_t *data; /* the block (owned by the entry) */
	size_t len;
	/* private */
	uint64_t id, off;
	size_t charge;
	unsigned refs;      /* under the shard lock */
	int in_cache;
	struct lsm_cache_entry *hnext, *lprev, *lnext;
};

/* A cache of capacity bytes (0: NULL, no cache). NULL on ENOMEM. */
struct lsm_cache *lsm_cache_new(size_t capacity);
/* Frees the cache and its entries; none may be referenced any more. NULL is
 * a no-op. */
void lsm_cache_free(struct lsm_cache *c);

/* A process-unique table id. */
uint64_t lsm_cache_new_id(void);

/* The entry of (id, off), referenced, or NULL. */
struct lsm_cache_entry *lsm_cache_lookup(struct lsm_cache *c, uint64_t id, uint64_t off);

/* Inserts data (len bytes, malloc'd: the cache owns it from now on, also on
 * failure) as (id, off); returns it referenced. If the key is present the
 * older entry is replaced. NULL only on ENOMEM (data is then freed). */
struct lsm_cache_entry *lsm_cache_insert(struct lsm_cache *c, uint64_t id, uint64_t off,
					 uint8_t *data, size_t len);

/* Drops a reference from lookup/insert. */
void lsm_cache_release(struct lsm_cache *c, struct lsm_cache_entry *e);

/* Bytes held by entries in the cache. */
size_t lsm_cache_usage(struct lsm_cache *c);

#endif
