/*
 * core/lsm_internal.h — what the LSM tree's files share: the tree, its
 * SSTable handles and versions. Not part of the public contract (lsm.h).
 *
 * Locks of a tree, in the order they are taken (never the other way):
 *
 *   compact_mu  one compaction at a time (background or manual)
 *   write_mu    one writer at a time: WAL appends, memtable inserts, and the
 *               switch to a new memtable and WAL
 *   install_mu  one version change at a time: building the next version,
 *               writing the manifest and publishing it
 *   mu          the tree's state, held briefly: which memtables, WAL and
 *               version are current, the background thread's flags, the
 *               file-number counter. Readers take only mu, to pin what they
 *               read (references), then read without locks.
 *
 * Field protection is written beside each field of struct lsm.
 */
#ifndef STRATA_CORE_LSM_INTERNAL_H
#define STRATA_CORE_LSM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/lsm.h"
#include "core/lsm_cache.h"
#include "core/lsm_cursor.h"
#include "core/lsm_memtable.h"
#include "core/lsm_sstable.h"
#include "core/lsm_wal.h"

#define LSM_MAX_IMM 16

/* Starts an LSM event of variant Name for tree t in ev (a struct
 * strata_event): zeroed, tree_name and timestamp (seconds) filled in. */
#define LSM_EVENT_INIT(ev, Name, t)                                                    \
	do {                                                                           \
		memset(&(ev), 0, sizeof(ev));                                          \
		(ev).variant = STRATA_EV_##Name;                                       \
		snprintf((ev).u.Name.tree_name, sizeof((ev).u.Name.tree_name), "%s",   \
			 (t)->name);                                                   \
		(ev).u.Name.timestamp = clock_wall_us() / 1000000;                     \
	} while (0)

/* A live SSTable. Shared by every version that lists it (refs); the last
 * unref closes it, and unlinks it when obsolete (a version change removed
 * it from the manifest). Immutable after creation except refs/obsolete. */
struct lsm_file {
	atomic_uint refs;
	atomic_bool obsolete;
	uint64_t number, size, entries;
	uint8_t *smallest, *largest; /* malloc'd */
	size_t slen, llen;
	struct lsm_sst *sst;
	char path[]; /* DIR/NNNNNNNNNNNNNNNN.sst */
};

/* An immutable snapshot of the file set. L0 is ordered newest first (by file
 * number, descending) and may overlap; L1.. are ordered by key and do not
 * overlap. Readers pin a version with a reference. */
struct lsm_version {
	atomic_uint refs;
	size_t n[LSM_MAX_LEVELS];
	struct lsm_file **files[LSM_MAX_LEVELS];
};

struct lsm_imm {
	struct lsm_memtable *mem;
	struct lsm_wal *wal;
	uint64_t wal_number;
};

enum lsm_stall_state { LSM_STALL_NORMAL, LSM_STALL_DELAYED, LSM_STALL_STOPPED };

struct lsm {
	char dir[4096];                 /* const after open */
	char name[LSM_NAME_MAX + 1];
	struct lsm_options o;           /* defaults filled in; const after open */
	struct sfile *lock_file;
	struct lsm_cache *cache;        /* block cache (NULL: none); const after open,
					 * freed after the last file */

	pthread_mutex_t compact_mu, write_mu, install_mu, mu;
	pthread_cond_t bg_cv;   /* (mu) wakes the background thread */
	pthread_cond_t done_cv; /* (mu) a flush or compaction finished; stalls wait here */

	/* write_mu to change, write_mu or mu to read */
	struct lsm_memtable *mem;
	struct lsm_wal *wal;
	uint64_t wal_number;

	struct lsm_imm imm[LSM_MAX_IMM]; /* (mu) oldest first */
	size_t nimm;                     /* (mu) */
	uint64_t imm_made, imm_flushed;  /* (mu) memtables switched / flushed so far */
	struct lsm_version *current;     /* (mu; changed under install_mu too) */
	uint64_t next_file;              /* (mu) */
	uint64_t log_number;             /* (install_mu) */
	_Atomic uint64_t last_seq;       /* written under write_mu, read anywhere */
	/* Reads that probed an L0 table in vain (gets) or had to merge every L0
	 * table (seeks) since the last L0 compaction: past a budget they make
	 * L0 worth compacting even below l0_compaction_trigger, as LevelDB's
	 * allowed_seeks does, so a read-mostly tree does not keep paying for
	 * tables a write burst left in L0. */
	_Atomic uint64_t l0_read_probes;

	int bg_error;                    /* (mu) sticky: writes fail after it */
	bool stopping;                   /* (mu) */
	bool bg_running;                 /* (mu) */
	pthread_t bg;

	enum lsm_stall_state stall;      /* (write_mu) */
	uint64_t stall_since_us;         /* (write_mu) */
	bool wa_alerted;                 /* (install_mu) */

	/* Round-robin compaction pointer per level: the largest key of the last
	 * file compacted there (compact_mu). */
	uint8_t *compact_ptr[LSM_MAX_LEVELS];
	size_t compact_ptr_len[LSM_MAX_LEVELS];

	struct {
		_Atomic uint64_t puts, deletes, batches, gets, scans, memtable_hits, sstable_hits,
			bloom_checks, bloom_useful, bloom_fp, flushes, compactions, trivial_moves,
			bytes_flushed, bytes_compacted, user_bytes, wal_bytes, wal_syncs,
			group_commits, write_stalls, stall_us, corruptions;
	} st;
};

static inline void lsm_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- files and versions (lsm_version.c) ----------------------------------- */

/* Opens DIR/number.sst and makes a file with one reference; smallest/largest
 * are copied. cache (may be NULL) is the tree's block cache, which must
 * outlive the file. map: read it through a mapping (lsm_sst_open_ex). STRATA_ENOMEM, lsm_sst_open's errors. */
int lsm_file_open(struct lsm_file **out, const char *dir, struct lsm_cache *cache, bool map,
		  uint64_t number, uint64_t size, uint64_t entries, const void *smallest,
		  size_t slen, const void *largest, size_t llen);
void lsm_file_ref(struct lsm_file *f);
void lsm_file_unref(struct lsm_file *f);
void lsm_file_path(char *buf, size_t len, const char *dir, uint64_t number, bool tmp);

/* Key range checks. */
bool lsm_file_overlaps(const struct lsm_file *f, const void *lo, size_t lolen, const void *hi,
		       size_t hilen);
bool lsm_file_contains(const struct lsm_file *f, const void *key, size_t klen);

struct lsm_version *lsm_version_new_empty(void);
void lsm_version_ref(struct lsm_version *v);
void lsm_version_unref(struct lsm_version *v);
uint64_t lsm_version_level_bytes(const struct lsm_version *v, int level);

/* A version change: files removed (by pointer, at their level) and added. */
struct lsm_edit {
	struct lsm_file **del;
	int *del_level;
	size_t ndel;
	struct lsm_file **add;
	int *add_level;
	size_t nadd;
	size_t cap_del, cap_add;
};
int lsm_edit_del(struct lsm_edit *e, struct lsm_file *f, int level);
int lsm_edit_add(struct lsm_edit *e, struct lsm_file *f, int level);
void lsm_edit_free(struct lsm_edit *e);

/* base + e as a new version with one reference. STRATA_ENOMEM. */
int lsm_version_apply(const struct lsm_version *base, const struct lsm_edit *e,
		      struct lsm_version **out);

/* In level (>= 1) of v, the index of the file that may hold key (the first
 * with largest >= key), or n if none. */
size_t lsm_level_find(const struct lsm_version *v, int level, const void *key, size_t klen);

/* A cursor over files (non-overlapping, ordered by key), opening one
 * SSTable cursor at a time. Takes a reference to each file and copies the
 * array, unless pinned: then the caller keeps files (a pinned version's
 * array) and its files alive until the cursor is freed. fill_cache: blocks
 * read enter the block cache (false for compactions). ENOMEM. */
int lsm_level_cursor(struct lsm_file **files, size_t n, bool pinned, bool fill_cache,
		     struct lsm_cursor **out);

/* ---- tree internals used across files (lsm.c) ------------------------------ */

/*
 * Makes the new version base + e current: writes the manifest (with
 * log_number when non-zero), publishes the version, marks deleted files
 * obsolete. Caller holds install_mu.
 */
int lsm_install(struct lsm *t, const struct lsm_edit *e, uint64_t log_number);

/* Creates DIR/number.sst.tmp for writing (tree's block, bloom and
 * compression options). */
int lsm_table_start(struct lsm *t, uint64_t number, struct lsm_sst_writer **w);
/* Finishes w, renames it to its final name, fsyncs the directory and opens
 * it as a file with one reference. On error the file is gone. */
int lsm_table_finish(struct lsm *t, uint64_t number, struct lsm_sst_writer *w,
		     struct lsm_file **out);

/* Takes a pinned reference to the current version (under mu). */
struct lsm_version *lsm_current(struct lsm *t);

/* Flushes the oldest immutable memtable if there is one (background
 * thread). Returns 0 when there was nothing to do. */
int lsm_flush_one(struct lsm *t);

/* Allocates a file number (under mu). */
uint64_t lsm_new_file_number(struct lsm *t);

/* Write-amplification bookkeeping after bytes were written by a flush or a
 * compaction: updates stats and emits WriteAmplificationAlert. */
void lsm_note_written(struct lsm *t);

/* ---- compaction (lsm_compaction.c) ---------------------------------------- */

/* Score of the most urgent level of v (>= 1 means a compaction is due). */
double lsm_compaction_score(const struct lsm *t, const struct lsm_version *v, int *level);

/* Picks and runs one compaction if one is due; *did says whether it did.
 * background: flush waiting memtables between output files. Caller holds
 * compact_mu. */
int lsm_compaction_run_one(struct lsm *t, bool background, bool *did);

/* Manual compaction of [lo, hi] (NULL = unbounded) into the deepest
 * non-empty level. Caller holds compact_mu. */
int lsm_compaction_manual(struct lsm *t, const void *lo, size_t lolen, const void *hi,
			  size_t hilen);

#endif
