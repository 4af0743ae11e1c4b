/*
 * core/lsm_wal.h — an LSM tree's write-ahead log.
 *
 * One log file per memtable: DIR/NNNNNNNNNNNNNNNN.log (the file number, hex).
 * A record is
 *     u32 crc32c (of everything after it), u32 payload length, payload
 * and the payload is an encoded batch (lsm.c). Records are appended by one
 * writer at a time (the tree's write_mu serialises appends); syncs may be
 * requested by any thread: a sync waits for an fdatasync already in flight
 * when that one covers its record, so concurrent committers share one
 * fdatasync (group commit).
 *
 * Once a log has been synced, appends keep the file zero-filled up to 1 MiB
 * past the last record (so an fdatasync writes data, not a size change); a
 * header of 8 zero bytes is that space, the log's logical end.
 *
 * Replay reads records in order and stops at the first one whose header,
 * length or CRC is bad: a torn tail, never acknowledged because its sync
 * never completed; or at a zero header (the zero-filled space: not torn).
 * The file is truncated there so later appends to a recovered tree never
 * follow garbage.
 *
 * After a failed append or fdatasync the log is failed: every later append
 * and sync returns STRATA_EREAD_ONLY (the bytes on disk are unknown).
 */
#ifndef STRATA_CORE_LSM_WAL_H
#define STRATA_CORE_LSM_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LSM_WAL_HDR 8u /* bytes reserved at the front of an appended record */

struct lsm_wal;

/* Creates (truncating) the log at path with one reference, and fsyncs the
 * directory dir so the file exists after a crash. File layer errors. */
int lsm_wal_create(struct lsm_wal **out, const char *path, const char *dir);

/* Appends one record. rec holds LSM_WAL_HDR reserved bytes (filled here)
 * followed by len - LSM_WAL_HDR payload bytes. *end receives the log offset
 * after the record (for lsm_wal_sync). Appends must be serialised by the
 * caller. STRATA_EREAD_ONLY, file layer errors (then the log is failed). */
int lsm_wal_append(struct lsm_wal *w, uint8_t *rec, size_t len, uint64_t *end);

/* Makes the log durable at least up to offset upto (0: everything appended
 * so far). *grouped (may be NULL) is set when another thread's fdatasync
 * covered it. STRATA_EREAD_ONLY after a failed fdatasync. Any thread. */
int lsm_wal_sync(struct lsm_wal *w, uint64_t upto, bool *grouped);

/* Bytes appended so far (the logical end; the file may be longer). */
uint64_t lsm_wal_size(struct lsm_wal *w);

void lsm_wal_ref(struct lsm_wal *w);
/* Drops a reference; closes the file at the last. NULL is a no-op. */
void lsm_wal_unref(struct lsm_wal *w);

/* Called per valid record; a non-zero return stops the replay with it. */
typedef int (*lsm_wal_replay_fn)(void *arg, const uint8_t *payload, size_t len);

/* Replays the log at path; *records = records delivered, *torn = whether a
 * bad tail was cut (a zero-filled tail is cut too, but is not torn). File
 * layer errors, or the callback's. */
int lsm_wal_replay(const char *path, lsm_wal_replay_fn fn, void *arg, uint64_t *records,
		   bool *torn);

#endif
