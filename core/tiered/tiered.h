/*
 * core/tiered/tiered.h — tiered pages: hot / warm / cold storage of
 * page-sized blobs with adaptive, crash-safe migration.
 *
 * A tiered page is up to tiered_max_data() bytes, named by an id this
 * module allocates (1, 2, ...; never reused). It lives in exactly one tier:
 *
 *   Hot   a pagestore page (core/pagestore.h: data file, buffer pool, redo
 *         log), uncompressed: record 0 holds a 16-byte header (magic, id)
 *         and the bytes.
 *   Warm  an LZ4 record in a warm segment (DATA/tiers/warm, segment.h).
 *   Cold  a ZSTD record in a cold segment (the cold dir, default
 *         DATA/cold; may be another mount).
 *
 * The page map (pagemap.h, DATA/tiers) says where each page is and keeps
 * its temperature (temperature.h). Reads, writes and moves work whatever
 * the tier; a read counts as an access (temperature), moves happen in
 * tiered_process_migrations (background and on demand) or
 * tiered_migrate_page.
 *
 * Migration protocol (a state machine per move, under the page's lock):
 *
 *   state            action                                  crash here leaves
 *   1 PLACED(old)    read + verify the old copy              old copy, mapped
 *   2 COPYING        to Hot: alloc a pagestore page X,       old mapped; X in the
 *                    INTENT(X) logged+synced, write X (sync)  pending list → freed
 *                    to Warm/Cold: append record + fsync     old mapped; record dead
 *   3 SWITCHED       SET(id → new, leaves old X) logged+sync new mapped; old X pending
 *   4 PLACED(new)    free the old copy (pagestore page freed, new mapped; old record
 *                    or record punched out)                   dead space
 *
 * So after a crash at any point every page is mapped to exactly one
 * complete, checksummed copy, and recovery (tiered_open) frees the
 * pagestore pages of the pending list that hold a copy the map does not
 * point at (a page is freed only when it carries this module's header with
 * a page id whose mapping is elsewhere: a page id reused by someone else is
 * never touched). Segment space that no entry points at is dead and
 * reclaimed (segments compacted by maintenance, emptied ones deleted).
 *
 * Errors common to the functions below:
 *   STRATA_ENOT_FOUND    no such page
 *   STRATA_ECORRUPT      a copy failed its checksum (counted; no data)
 *   STRATA_EBAD_REQUEST  bad arguments (sizes, tiers, policy values)
 *   STRATA_EREAD_ONLY    the map log failed a write: reopen to recover
 *   + the file layer's, the pagestore's, STRATA_ENOMEM
 *
 * Thread safety: every function but tiered_open/tiered_close from any
 * thread. Per-page reader/writer locks (striped) order reads, updates and
 * moves of one page; different pages proceed in parallel.
 *
 * Events: PageMigrated {page_id, from_tier, to_tier, reason} per move
 * (emit_rare), TierRebalanced when tiered_maintenance moves the
 * thresholds, TierStats from tiered_emit_stats.
 */
#ifndef STRATA_CORE_TIERED_TIERED_H
#define STRATA_CORE_TIERED_TIERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tiered/tier.h"

struct pagestore;
struct tiered;

#define TIERED_COLD_DIR_MAX 1024

struct tiered_policy {
	uint64_t capacity[TIER_COUNT]; /* pages per tier; 0 = unlimited (cold: default) */
	double hot_threshold;          /* temperature to be Hot (adaptive) */
	double cold_threshold;         /* below it: Cold (adaptive) */
	double min_hot_temp;           /* floor of hot_threshold */
	double min_warm_temp;          /* floor of cold_threshold */
	double half_life_s;            /* temperature half-life */
	double hysteresis;             /* 0..0.9: margin before leaving a tier */
	bool adaptive;                 /* maintenance retunes the thresholds */
	bool auto_migrate;             /* the owner runs migrations and maintenance
					* in the background (stratad's thread) */
	int lz4_acceleration;          /* warm codec: 1 (best) .. 65537 */
	int zstd_level;                /* cold codec: 1 .. 19 */
	uint64_t segment_bytes;        /* roll segments at this size */
	char cold_dir[TIERED_COLD_DIR_MAX]; /* "" = DATA/cold */
};

/* The defaults (hot 1024 pages, warm 4096, cold unlimited, ...). */
void tiered_policy_default(struct tiered_policy *p);
/* Checks every field; STRATA_EBAD_REQUEST with msg naming the field. */
int tiered_policy_check(const struct tiered_policy *p, char *msg, size_t msglen);

struct tiered_recovery {
	uint64_t pages;           /* in the map after recovery */
	uint64_t log_records;     /* map log records replayed */
	uint64_t torn_bytes;      /* torn map log tail cut */
	uint64_t orphans_freed;   /* pagestore copies nobody maps */
	uint64_t segments_dropped;
	uint64_t duration_us;
};

/*
 * Opens the tiers over ps in data_dir (DATA/tiers is created). cold_dir:
 * NULL = the stored policy's, else DATA/cold; when given it replaces the
 * stored one. policy: NULL = the stored policy or the defaults.
 * Runs recovery (see the header comment).
 */
int tiered_open(struct tiered **out, const char *data_dir, const char *cold_dir,
		struct pagestore *ps, struct tiered_recovery *rec, char *err, size_t errlen);
/* Checkpoints the map and closes the segments (not ps). First error. */
int tiered_close(struct tiered *t);

/* Most bytes a tiered page holds (depends on the pagestore page size). */
size_t tiered_max_data(const struct tiered *t);

/* Stores a new page (in Hot) with len bytes; *id its id. Durable on 0. */
int tiered_store(struct tiered *t, const void *data, size_t len, uint64_t *id);
/* Copies page id into buf (cap >= its length, else STRATA_ETOO_LARGE with
 * *len set); *tier: where it was served from (may be NULL). An access. */
int tiered_get(struct tiered *t, uint64_t id, void *buf, size_t cap, size_t *len,
	       enum tier *tier);
/* Replaces page id's bytes, in the tier it is in. Durable on 0. An access. */
int tiered_update(struct tiered *t, uint64_t id, const void *data, size_t len);
/* Deletes page id (all its copies). */
int tiered_delete(struct tiered *t, uint64_t id);

/* Moves page id to tier `to` now (0 and *moved false if already there). */
int tiered_migrate_page(struct tiered *t, uint64_t id, enum tier to, const char *reason,
			bool *moved);

struct tiered_move {
	uint64_t page_id;
	enum tier from, to;
	int result;          /* 0 or the error of this move */
};

/*
 * Runs up to max planned moves (temperature.h's plan); out (cap entries,
 * may be NULL) receives each attempted move. *n = moves attempted,
 * *pending = pages still not in their tier after this call (may be NULL).
 * Returns 0 unless the plan itself failed; per-move errors are in out.
 */
int tiered_process_migrations(struct tiered *t, size_t max, struct tiered_move *out, size_t cap,
			      size_t *n, uint64_t *pending);

/*
 * Retunes the thresholds from the current temperatures (when adaptive),
 * persists them, emits TierRebalanced when they moved by more than 1%;
 * then rewrites the live records of segments more than half dead
 * (compaction, up to max_compact records). *changed: thresholds moved.
 */
int tiered_maintenance(struct tiered *t, size_t max_compact, bool *changed);

/* Writes a map checkpoint when the log is over limit bytes (0: always). */
int tiered_checkpoint(struct tiered *t, uint64_t limit);

struct tiered_page_info {
	uint64_t page_id;
	enum tier tier;
	uint32_t logical_len, stored_len;  /* stored: record bytes (warm/cold) or page size */
	int codec;
	uint32_t segment;                  /* warm/cold */
	uint64_t offset;                   /* warm/cold: record offset */
	uint64_t hot_page;                 /* hot: pagestore page id */
	double temperature;
	uint64_t accesses;
	int64_t last_access_us;
	char segment_path[4200];           /* warm/cold */
};
int tiered_page_info(struct tiered *t, uint64_t id, struct tiered_page_info *info);

struct tiered_latency {
	uint64_t reads, p50_us, p99_us, max_us;
};

struct tiered_stats {
	uint64_t pages[TIER_COUNT];
	uint64_t logical_bytes[TIER_COUNT];  /* the pages' own bytes */
	uint64_t stored_bytes[TIER_COUNT];   /* hot: page size each; else live record bytes */
	uint64_t file_bytes[TIER_COUNT];     /* warm/cold: segment file sizes */
	uint64_t dead_bytes[TIER_COUNT];     /* warm/cold: dead record bytes in them */
	uint64_t segments[TIER_COUNT];
	uint64_t migrations[TIER_COUNT][TIER_COUNT]; /* [from][to] since open */
	uint64_t promotions, demotions, total_migrations;
	uint64_t corrupt_reads;
	double avg_compression_ratio;        /* stored / logical over warm + cold (1 if none) */
	uint64_t bytes_saved;                /* logical - stored over warm + cold */
	struct tiered_latency latency[TIER_COUNT];
	double hot_threshold, cold_threshold;
	uint64_t rebalances;
};
int tiered_get_stats(struct tiered *t, struct tiered_stats *st);
/* Emits TierStats (and updates core_stats()->tiers). */
void tiered_emit_stats(struct tiered *t);

/* The policy in force (thresholds included). */
void tiered_get_policy(struct tiered *t, struct tiered_policy *p);
/* Replaces the policy (checked; persisted in the map). cold_dir cannot
 * change while the tiers are open (STRATA_EBAD_REQUEST). */
int tiered_set_policy(struct tiered *t, const struct tiered_policy *p, char *msg, size_t msglen);

/* Sets a page's temperature (tests and tools): score now. */
int tiered_set_temperature(struct tiered *t, uint64_t id, double score);

#endif
