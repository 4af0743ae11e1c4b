/*
 * core/lsm_manifest.h — the set of live SSTables of a tree, changed
 * atomically.
 *
 * DIR/MANIFEST is a full snapshot of the tree's file set:
 *     u64 magic, u32 version, u32 file count, u64 next file number,
 *     u64 last sequence, u64 log number (WALs numbered below it are
 *     obsolete), then per file: u8 level, u64 number, u64 size,
 *     u64 entries, varint smallest-key length, smallest key, varint
 *     largest-key length, largest key; then u32 crc32c of all the above.
 * A change writes DIR/MANIFEST.tmp, fdatasyncs it, renames it over
 * DIR/MANIFEST and fsyncs DIR (write-new-then-rename): after a crash the
 * manifest is either the old or the new one, never a mix. A leftover
 * MANIFEST.tmp is garbage and is deleted at open.
 *
 * Not thread-safe by itself: the tree serialises writers (install_mu).
 */
#ifndef STRATA_CORE_LSM_MANIFEST_H
#define STRATA_CORE_LSM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct lsm_manifest_file {
	unsigned level;
	uint64_t number, size, entries;
	const uint8_t *smallest, *largest;
	size_t slen, llen;
};

struct lsm_manifest {
	uint64_t next_file, last_seq, log_number;
	size_t nfiles;
	struct lsm_manifest_file *files;
	uint8_t *raw_; /* read: the file's bytes, which the keys point into */
};

/* Atomically replaces DIR/MANIFEST with m. File layer errors; after an
 * error the old manifest is still in place. */
int lsm_manifest_write(const char *dir, const struct lsm_manifest *m);

/* Reads DIR/MANIFEST into *m (free with lsm_manifest_free).
 * STRATA_ENOT_FOUND (no manifest: a new tree), STRATA_ECORRUPT (bad magic,
 * version, CRC or encoding), file layer errors, STRATA_ENOMEM. */
int lsm_manifest_read(const char *dir, struct lsm_manifest *m);

void lsm_manifest_free(struct lsm_manifest *m);

#endif
