/*
 * core/tiered/pagemap.h — the durable page map of the tiers: tiered page
 * id → tier and location, plus each page's temperature.
 *
 * Files in DIR (DATA/tiers):
 *   map.snap               a snapshot: magic "STRMAP01", version, the log
 *                          generation it goes with, next id, the policy
 *                          blob, the pending hot pages, every entry, and a
 *                          crc32c of the whole file. Replaced by write
 *                          map.snap.tmp + fsync + rename + directory fsync.
 *   map-GGGGGGGGGGGGGGGG.log  the log of changes since that snapshot
 *                          (hex generation). A record: u32 crc32c (of the
 *                          rest), u32 payload length, payload (type byte +
 *                          fields, little-endian).
 *
 * Record types: SET (a page's whole location: tier, codec, segment,
 * offset or pagestore page, lengths, data crc, and the pagestore page it
 * leaves, if any), INTENT (a pagestore page about to receive a page's hot
 * copy), DEL (a page deleted), POLICY (opaque bytes of the owner).
 *
 * Recovery (pm_open): the snapshot, then its log's records in order until
 * the first one that is short or fails its checksum — a torn tail, never
 * acknowledged — where the log is truncated. Logs of other generations
 * are deleted (an older one was folded into the snapshot; a newer one was
 * made by a checkpoint that did not finish and holds nothing).
 *
 * Pending hot pages: a pagestore page named by an INTENT, or left by a SET
 * or DEL, may or may not hold a copy the map no longer points at (a crash
 * between writing it and switching, or between switching and freeing). The
 * map keeps the list (in memory and in the snapshot) until the owner says
 * the page is dealt with (pm_pending_done); after a crash the owner gets it
 * from pm_pending() and checks each page.
 *
 * Temperatures are kept in memory and written with each snapshot only
 * (not logged per access): after a crash a page's temperature is the one
 * of the last checkpoint, and a page first mapped after it starts at 1.
 *
 * Durability: pm_set/pm_delete with sync, pm_intent and pm_set_policy are
 * durable when they return 0. After a failed log write every later change
 * is refused with STRATA_EREAD_ONLY (the log's end is unknown) until the
 * map is reopened.
 *
 * Thread safety: any thread. log_lock serialises the log (appends, the
 * checkpoint) and is taken before map_lock, which guards the entries; a
 * change is applied to memory before log_lock is released, so a checkpoint
 * never misses a logged change. Changes to one page must be ordered by the
 * caller (core/tiered's page locks).
 */
#ifndef STRATA_CORE_TIERED_PAGEMAP_H
#define STRATA_CORE_TIERED_PAGEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pm_entry {
	uint8_t tier;          /* enum tier */
	uint8_t codec;         /* enum tier_codec (warm/cold) */
	uint32_t seg;          /* segment number (warm/cold) */
	uint64_t loc;          /* hot: pagestore page id; else record offset */
	uint32_t stored_len;   /* warm/cold: record bytes (header + payload) */
	uint32_t logical_len;  /* the page's bytes */
	uint32_t data_crc;     /* crc32c of the page's bytes (warm/cold) */
	/* temperature (memory + snapshot) */
	double score;
	int64_t touched_us;
	uint64_t accesses;
};

struct pm_item {
	uint64_t id;
	struct pm_entry e;
};

struct pm_recovery {
	bool had_snapshot;
	uint64_t entries;
	uint64_t log_records;     /* replayed */
	uint64_t torn_bytes;      /* cut from the log's tail */
};

struct pagemap;

/* Opens (creating) the map in dir (which must exist). now_us stamps the
 * temperature of pages first seen in the log.
 *   STRATA_ECORRUPT  the snapshot is damaged (never silently dropped)
 *   + the file layer's errors, STRATA_ENOMEM */
int pm_open(struct pagemap **out, const char *dir, int64_t now_us, struct pm_recovery *rec,
	    char *err, size_t errlen);
/* Checkpoints (pm_checkpoint) and frees; the first error. NULL: no-op. */
int pm_close(struct pagemap *pm);

/* A new page id (never reused; made durable by the first pm_set of it). */
uint64_t pm_alloc_id(struct pagemap *pm);

/* Copies the entry of id; false if there is none. */
bool pm_get(struct pagemap *pm, uint64_t id, struct pm_entry *e);

/* Maps id to e's location (its temperature fields are kept if id exists,
 * taken from e if new). old_hot: the pagestore page id leaves (0: none),
 * added to the pending list. */
int pm_set(struct pagemap *pm, uint64_t id, const struct pm_entry *e, uint64_t old_hot,
	   bool sync);
/* Logs and syncs that hot_page is about to receive id's hot copy; adds it
 * to the pending list. */
int pm_intent(struct pagemap *pm, uint64_t id, uint64_t hot_page);
/* Removes id; old_hot as pm_set. STRATA_ENOT_FOUND if absent. */
int pm_delete(struct pagemap *pm, uint64_t id, uint64_t old_hot, bool sync);
/* hot_page no longer needs checking (freed, or now mapped). */
void pm_pending_done(struct pagemap *pm, uint64_t hot_page);
/* Copies the pending list (malloc'd; caller frees). */
int pm_pending(struct pagemap *pm, uint64_t **pages, size_t *n);

/* One access to id now (temperature; no log). False if absent. */
bool pm_touch(struct pagemap *pm, uint64_t id, int64_t now_us, int64_t half_life_us);
/* Sets id's temperature fields (tests and imports). */
bool pm_set_temperature(struct pagemap *pm, uint64_t id, double score, int64_t touched_us);

/* Every entry (malloc'd array, id order; caller frees). */
int pm_items(struct pagemap *pm, struct pm_item **items, size_t *n);
uint64_t pm_count(struct pagemap *pm);

/* The owner's policy bytes: stored durably (logged, synced). */
int pm_set_policy(struct pagemap *pm, const void *blob, size_t len);
/* Copies the policy into buf; *len its length (0: none stored).
 * STRATA_ETOO_LARGE when cap is too small. */
int pm_get_policy(struct pagemap *pm, void *buf, size_t cap, size_t *len);

/* Writes a snapshot and starts a new log generation. */
int pm_checkpoint(struct pagemap *pm);
/* Bytes in the current log (to decide when to checkpoint). */
uint64_t pm_log_bytes(struct pagemap *pm);

#endif
