/*
 * core/lsm.h — LSM trees: the public contract.
 *
 * A tree lives in its own directory and holds binary keys and values
 * (keys 1..LSM_KEY_MAX bytes, values 0..LSM_VALUE_MAX bytes). Writes go to a
 * write-ahead log and a memtable; full memtables are flushed to sorted,
 * checksummed SSTables by the tree's background thread, which also runs
 * leveled compaction. The design, file formats and lock order are written
 * down at the top of core/lsm.c.
 *
 * Errors: functions that can fail return 0 or a negative STRATA_E* code
 * (strata/error.h). Common to all of them:
 *   STRATA_EBAD_REQUEST  NULL tree/key, empty or oversized key or value,
 *                        bad options
 *   STRATA_ENOMEM        out of memory (nothing was changed)
 *   STRATA_EIO, STRATA_ENOSPC  the file layer failed an I/O
 * Each function lists the others.
 *
 * Durability: a write acknowledged (returned 0) with a sync (LSM_SYNC_COMMIT,
 * or lsm_write_opts.sync) is in the fdatasync'ed WAL and survives kill -9 and
 * power loss. Under LSM_SYNC_NONE it is in the OS page cache (survives kill -9
 * of the process, not a power loss); under LSM_SYNC_INTERVAL at most
 * sync_interval_ms of acknowledged writes can be lost on power loss.
 * A write that returned an error may or may not have been applied.
 *
 * Thread safety: every function except lsm_open, lsm_close and
 * lsm_destroy_dir may be called from any number of threads at once on the
 * same tree (reads run concurrently with writers, flushes and compactions).
 * lsm_close must not race with any other call on the tree; iterators must be
 * freed before lsm_close. One tree directory may be open once at a time
 * (a LOCK file enforces it across processes).
 */
#ifndef STRATA_CORE_LSM_H
#define STRATA_CORE_LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LSM_KEY_MAX 65535u
#define LSM_VALUE_MAX (64u << 20)
#define LSM_MAX_LEVELS 7
#define LSM_NAME_MAX 63 /* tree names (events carry them) */

struct lsm;

enum lsm_sync_mode {
	LSM_SYNC_NONE = 0,     /* no fsync; the WAL is written before acknowledging */
	LSM_SYNC_COMMIT = 1,   /* fdatasync before acknowledging (group commit) */
	LSM_SYNC_INTERVAL = 2, /* the background thread fdatasyncs every sync_interval_ms */
};

/*
 * Options. Zero fields take the default in brackets, so
 * `struct lsm_options o = {0}` is a valid, default configuration.
 */
struct lsm_options {
	size_t memtable_bytes;        /* memtable size that triggers a flush [4 MiB] */
	unsigned max_immutables;      /* flushing memtables before writes stop [2] */
	unsigned l0_compaction_trigger; /* L0 files that start an L0 compaction [4] */
	unsigned l0_slowdown_files;   /* L0 files at which writes are delayed [8] */
	unsigned l0_stop_files;       /* L0 files at which writes wait [12] */
	unsigned stall_delay_us;      /* delay per write while slowed down [1000] */
	unsigned stall_timeout_ms;    /* longest wait when stopped; then EBUSY [30000] */
	uint64_t level_base_bytes;    /* target size of L1 [16 MiB] */
	unsigned level_ratio;         /* size ratio between levels [10] */
	unsigned max_levels;          /* levels L0..L(max-1), 2..LSM_MAX_LEVELS [7] */
	uint64_t target_file_bytes;   /* SSTable size cut by compactions [2 MiB] */
	size_t block_bytes;           /* data block size before compression [4 KiB] */
	unsigned bloom_bits_per_key;  /* bloom filter bits per key [10] */
	bool no_compression;          /* false: LZ4 data blocks (stored raw when
				       * LZ4 does not save 1/8) */
	enum lsm_sync_mode sync;      /* [LSM_SYNC_NONE] */
	unsigned sync_interval_ms;    /* for LSM_SYNC_INTERVAL [100] */
	double wa_alert_threshold;    /* WriteAmplificationAlert level; 0 = off */
	size_t block_cache_bytes;     /* cache of uncompressed data blocks [8 MiB];
				       * SIZE_MAX = no cache */
	bool no_mmap_reads;           /* false: SSTables are read through read-only
				       * mappings (file_map): raw blocks copied out
				       * per read, CRC checked on every read, only
				       * decompressed blocks cached; an unreadable
				       * mapped page (device error, truncated file)
				       * is STRATA_EIO (guarded copy, see file.h).
				       * true: pread every block miss */
};

/* Per-write options; NULL means "the tree's sync mode". */
struct lsm_write_opts {
	bool sync; /* fdatasync the WAL before returning, whatever the tree's mode */
};

enum lsm_op_type { LSM_OP_PUT = 1, LSM_OP_DELETE = 2 };

struct lsm_batch_op {
	enum lsm_op_type type;
	const void *key;
	size_t klen;
	const void *val; /* LSM_OP_PUT only */
	size_t vlen;
};

/* An atomic group of writes: all or none survive a crash, and readers see
 * all or none of them. Later ops on the same key win. The caller owns ops. */
struct lsm_batch {
	const struct lsm_batch_op *ops;
	size_t count;
};

/*
 * Opens the tree in dir (created, with its parents, if missing); name is the
 * tree's name in events (1..LSM_NAME_MAX bytes). Recovers: deletes orphan and
 * temporary files, replays the WAL into a new L0 SSTable, then starts the
 * background thread. o may be NULL (defaults). On success *out is the tree,
 * owned by the caller until lsm_close.
 *   STRATA_EBUSY     the tree is open elsewhere (LOCK held)
 *   STRATA_ECORRUPT  the manifest or a live SSTable fails its checksum or is
 *                    missing (a torn WAL tail is not an error: it is cut)
 */
int lsm_open(struct lsm **out, const char *dir, const char *name, const struct lsm_options *o);

/*
 * Flushes the memtable, stops the background thread and frees the tree
 * (always, even on error; NULL is a no-op). Returns the first error of the
 * final flush or of the background work (the WAL still holds the data then).
 */
int lsm_close(struct lsm *t);

/*
 * Writes key → val (overwriting). The tree copies key and val.
 *   STRATA_EBUSY       the write stall lasted stall_timeout_ms (nothing written)
 *   STRATA_EREAD_ONLY  an earlier fsync or background flush failed: the tree
 *                      takes no more writes until reopened
 */
int lsm_put(struct lsm *t, const void *key, size_t klen, const void *val, size_t vlen,
	    const struct lsm_write_opts *wo);

/* Deletes key (a tombstone; deleting a missing key is not an error).
 * Errors as lsm_put. */
int lsm_delete(struct lsm *t, const void *key, size_t klen, const struct lsm_write_opts *wo);

/* Applies b atomically (one WAL record). An empty batch is a no-op.
 * Errors as lsm_put; STRATA_ETOO_LARGE when the batch encodes to more than
 * 256 MiB. */
int lsm_write_batch(struct lsm *t, const struct lsm_batch *b, const struct lsm_write_opts *wo);

/*
 * Reads key. On success *val is a malloc'd copy (owned by the caller, free()
 * it; a 0-byte value gives a non-NULL 1-byte allocation) and *vlen its length.
 *   STRATA_ENOT_FOUND  no such key (or deleted)
 *   STRATA_ECORRUPT    a block on the key's path failed its checksum
 *                      (nothing is returned)
 */
int lsm_get(struct lsm *t, const void *key, size_t klen, void **val, size_t *vlen);

/*
 * Calls cb for each live key in [start, end) in ascending byte order, at
 * most limit times (0 = no limit). start NULL/slen 0 = from the first key;
 * end NULL/elen 0 = to the last. The view is a consistent snapshot taken when
 * the scan starts. key and val are valid only during the callback. cb returns
 * 0 to continue, non-zero to stop (lsm_scan then returns 0).
 * *count (may be NULL) receives the number of callbacks made.
 *   STRATA_ECORRUPT  a block failed its checksum (callbacks may have run)
 */
typedef int (*lsm_scan_fn)(void *arg, const void *key, size_t klen, const void *val,
			   size_t vlen);
int lsm_scan(struct lsm *t, const void *start, size_t slen, const void *end, size_t elen,
	     size_t limit, lsm_scan_fn cb, void *arg, size_t *count);

/*
 * Iterators: a forward cursor over a consistent snapshot (taken at
 * lsm_iter_new) merging the memtables and every SSTable; newest wins,
 * tombstones hidden. An iterator pins the files it reads (they are not
 * deleted while it lives); use it from one thread at a time, free it before
 * lsm_close. Key/value pointers are valid until the next call on it.
 */
struct lsm_iter;
int lsm_iter_new(struct lsm *t, struct lsm_iter **out);
/* Positions at the first key >= key (klen 0: the first key). */
int lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen);
bool lsm_iter_valid(const struct lsm_iter *it);
int lsm_iter_next(struct lsm_iter *it);
const void *lsm_iter_key(const struct lsm_iter *it, size_t *klen);
const void *lsm_iter_value(const struct lsm_iter *it, size_t *vlen);
void lsm_iter_free(struct lsm_iter *it);

/* Makes the memtable an SSTable now and waits for it (no-op when empty). */
int lsm_flush(struct lsm *t);

/*
 * Manual full compaction: flushes, then merges every level down into the
 * deepest non-empty level (L1 at least), dropping tombstones and overwritten
 * values. Waits for it. Runs at most one compaction at a time with the
 * background thread.
 */
int lsm_compact(struct lsm *t);

/* Like lsm_compact, limited to files overlapping [start, end] (NULL/0 =
 * unbounded on that side). */
int lsm_compact_range(struct lsm *t, const void *start, size_t slen, const void *end, size_t elen);

struct lsm_level_stats {
	uint64_t files;
	uint64_t bytes;
};

struct lsm_stats {
	uint64_t puts, deletes, batches, gets, scans;
	uint64_t memtable_hits;      /* gets answered by a memtable */
	uint64_t sstable_hits;       /* gets answered by an SSTable */
	uint64_t bloom_checks;       /* filter probes */
	uint64_t bloom_useful;       /* probes that skipped a file */
	uint64_t bloom_false_positives; /* "maybe" but the key was not there */
	uint64_t memtable_flushes;
	uint64_t compactions;        /* merging compactions (trivial moves excluded) */
	uint64_t trivial_moves;
	uint64_t bytes_flushed;      /* SSTable bytes written by flushes */
	uint64_t bytes_compacted;    /* SSTable bytes written by compactions */
	uint64_t user_bytes;         /* key + value bytes written by the user */
	uint64_t wal_bytes;
	uint64_t wal_syncs, group_commits;
	double write_amplification;  /* (bytes_flushed + bytes_compacted) / user_bytes */
	uint64_t write_stalls;       /* writes that were delayed or stopped */
	uint64_t stall_us;           /* total time writes spent stalled */
	uint64_t memtable_bytes;     /* active memtable, approximate */
	uint64_t immutables;         /* memtables waiting to be flushed */
	uint64_t corruptions;        /* blocks that failed a checksum */
	unsigned levels;             /* max_levels */
	struct lsm_level_stats level[LSM_MAX_LEVELS];
	uint64_t total_files, total_bytes;
};

/* Fills *st. Any thread; a snapshot (fields are consistent per field). */
void lsm_get_stats(struct lsm *t, struct lsm_stats *st);

/* The tree's name and directory, as given to lsm_open. */
const char *lsm_name(const struct lsm *t);
const char *lsm_dir(const struct lsm *t);

/*
 * Deletes a closed tree's files (its WALs, SSTables, manifest, temporary
 * files and LOCK) and then the directory if it is empty.
 *   STRATA_ENOT_FOUND  dir does not exist
 *   STRATA_EBUSY       the tree is open (LOCK held)
 */
int lsm_destroy_dir(const char *dir);

#endif
