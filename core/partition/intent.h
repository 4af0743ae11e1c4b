/*
 * core/partition/intent.h — a partitioned table's intent log: the
 * write-ahead record that makes one insert atomic across partitions.
 *
 * Each partition is its own LSM tree with its own WAL, so one insert that
 * spans partitions is several independent writes. Before any of them, the
 * whole routed insert (every row's partition id, key and value) is written
 * here as one checksummed INTENT record and (sync) fdatasynced; then the
 * partitions are written; then a DONE record marks it complete. Recovery
 * (intent_log_open) hands back an intent without its DONE, and the caller
 * rolls it forward: it puts the same keys and values again, which is
 * idempotent because the intent is, by construction, the last write to its
 * keys (see "Why replay is safe" below).
 *
 * File: DIR/INTENT.log. Little-endian. A record is
 *     u32 crc32c      of every byte after this field (len included)
 *     u32 len         bytes after this header (INTENT_HDR)
 *     u32 magic       INTENT_MAGIC ("PTI1": the format version)
 *     u8  kind        1 = INTENT, 2 = DONE
 *     u8  pad[3]      zero
 *     u64 seq         the intent's sequence number (DONE: the one it closes)
 *   INTENT only:
 *     u32 nops, then per op:
 *       u64 partition id, u32 klen, u32 vlen, key bytes, value bytes
 *
 * Layout: one insert is in flight per table at a time (the table's write
 * lock), so the log holds one slot: an INTENT is always written at offset 0
 * (overwriting the previous one, which is complete), and its DONE right
 * after it. A file that does not grow makes each fdatasync a data write
 * only. Bytes after the DONE are stale and never read.
 *
 * Recovery reads the record at 0: if it is an INTENT that decodes (length,
 * magic and CRC good) and the record after it is not a DONE of the same
 * seq, the intent is pending. A record at 0 that does not decode is a torn
 * INTENT write: its fdatasync never returned, so no partition was written
 * for it and its insert was never acknowledged; the log is then truncated
 * to empty (synced), so no stale bytes from before can follow later
 * records. Sequence numbers go on from the one found, so a stale DONE in the
 * file never matches a later INTENT.
 *
 * Why replay is safe: the INTENT at 0 is the latest insert begun on the
 * table, and rows change only through inserts (a dropped partition's ops
 * are skipped by the caller), so putting its keys and values again leaves
 * every key with the value it had (or was about to have). The caller must
 * not begin a new intent while one is pending (not rolled forward).
 *
 * Bounded: the file is as long as the largest intent written since the
 * last shrink; intent_log_done cuts it back when it is over
 * INTENT_SHRINK_BYTES and the current intent is shorter.
 *
 * Durability: with sync, intent_log_begin returns after fdatasync, so the
 * intent is durable before any partition write it covers (kill -9 and power
 * loss). Without sync it is in the OS page cache before the partition
 * writes (kill -9 only). DONE is never synced: losing it costs one
 * idempotent replay.
 *
 * Errors: 0 or a negative STRATA_E* (strata/error.h); file layer errors as
 * core/file.h. After a failed fdatasync the file is failed and every later
 * begin returns STRATA_EREAD_ONLY until the log is reopened.
 *
 * Thread safety: a log is used by one thread at a time (the table's write
 * lock); encode/decode are pure.
 */
#ifndef STRATA_CORE_PARTITION_INTENT_H
#define STRATA_CORE_PARTITION_INTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INTENT_FILE "INTENT.log"
#define INTENT_MAGIC 0x31495450u /* "PTI1" */
#define INTENT_HDR 8u            /* crc + len */
#define INTENT_FIXED 16u         /* magic, kind, pad, seq */
#define INTENT_OP_FIXED 16u      /* partition id, klen, vlen */
#define INTENT_REC_MAX (1u << 30) /* longest record accepted by decode */
#define INTENT_SHRINK_BYTES (1u << 20)

enum intent_kind { INTENT_KIND_INTENT = 1, INTENT_KIND_DONE = 2 };

/* One row write: key → val in partition part_id. */
struct intent_op {
	uint64_t part_id;
	const void *key;
	uint32_t klen;
	const void *val;
	uint32_t vlen;
};

/* A decoded record. ops (malloc'd) point into the decoded bytes: buf when
 * the record owns them, else the caller's buffer (buf NULL). */
struct intent_rec {
	enum intent_kind kind;
	uint64_t seq;
	size_t n;
	struct intent_op *ops;
	uint8_t *buf;
};

/*
 * Encodes a record (kind INTENT with ops[0..n), or DONE with n == 0) into a
 * new buffer *out (owned by the caller, free()) of *len bytes.
 *   STRATA_ENOMEM; STRATA_ETOO_LARGE (over INTENT_REC_MAX);
 *   STRATA_EBAD_REQUEST (a DONE with ops, a NULL key with klen > 0)
 */
int intent_encode(enum intent_kind kind, uint64_t seq, const struct intent_op *ops, size_t n,
		  uint8_t **out, size_t *len);

/*
 * Decodes the record at the start of buf[0..len). On success *rec is filled
 * (rec->ops is malloc'd and points into buf; rec->buf is NULL: buf stays the
 * caller's; release with intent_rec_clear) and *used is the record's size.
 *   STRATA_ENOT_FOUND  buf is shorter than the record says (a torn tail),
 *                      or len < INTENT_HDR
 *   STRATA_ECORRUPT    CRC mismatch, bad magic or kind, a length that does
 *                      not fit (ops overrunning the record, trailing bytes)
 *   STRATA_ENOMEM
 * Bad bytes are an error, never a crash.
 */
int intent_decode(const uint8_t *buf, size_t len, struct intent_rec *rec, size_t *used);

/* Frees rec->ops and rec->buf and zeroes rec. NULL is a no-op. */
void intent_rec_clear(struct intent_rec *rec);

struct intent_log;

/* What intent_log_open found. */
struct intent_recovery {
	bool torn;          /* the record at 0 did not decode (the log was reset) */
	bool pending;       /* an INTENT without its DONE was found */
	uint64_t seq;       /* the INTENT's seq (0: none) */
};

/*
 * Opens dir/INTENT.log (created if missing; the directory is fsynced then)
 * and recovers it as described above. When an intent is pending
 * (rec_info->pending, intent_log_is_pending), the caller rolls it forward
 * (intent_log_pending) and then calls intent_log_done. rec_info may be
 * NULL. File layer errors, STRATA_ENOMEM.
 */
int intent_log_open(struct intent_log **out, const char *dir, struct intent_recovery *rec_info);

/* Whether an intent is logged and not yet marked done: recovered at open,
 * or begun by an insert whose partition writes failed. */
bool intent_log_is_pending(const struct intent_log *l);

/*
 * The pending intent, decoded: rec->ops is malloc'd and points into the
 * log's copy of the record, valid until intent_log_done or close; release
 * with intent_rec_clear. STRATA_ENOT_FOUND (none), STRATA_ENOMEM.
 */
int intent_log_pending(const struct intent_log *l, struct intent_rec *rec);

/*
 * Logs an intent (n >= 1 ops) at offset 0 with the next seq (*seq), and
 * fdatasyncs it when sync. On success the intent is pending until
 * intent_log_done. On failure nothing may be written to the partitions
 * (the intent may or may not be on disk: recovery treats a torn one as
 * never written; a whole one is rolled forward, which is harmless).
 *   STRATA_EREAD_ONLY (after a failed fdatasync), errors as intent_encode
 */
int intent_log_begin(struct intent_log *l, const struct intent_op *ops, size_t n, bool sync,
		     uint64_t *seq);

/*
 * Marks intent seq complete (its partition writes are durable): writes the
 * DONE record (not synced), and shrinks the file when it is over
 * INTENT_SHRINK_BYTES. An error here loses nothing (the intent replays
 * idempotently); callers may report it and carry on.
 *   STRATA_EBAD_REQUEST  seq is not the last begun intent
 */
int intent_log_done(struct intent_log *l, uint64_t seq);

/* The last seq assigned (0: none yet). */
uint64_t intent_log_seq(const struct intent_log *l);

/* Closes the file and frees l (always). NULL is a no-op. The close error. */
int intent_log_close(struct intent_log *l);

#endif
