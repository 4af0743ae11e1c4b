/*
 * core/columnar/col_internal.h — what the columnar files share: the chunk
 * codecs (col_encode.c), the scan kernels (col_simd.c), the table state
 * (col_table.c) used by the scans (col_scan.c).
 *
 * Chunk payload layout (what the CRC covers):
 *   [validity bitmap, only if the chunk has nulls: ceil(n/8) bytes, bit i
 *    (LSB first) = 1 when row i has a value, padded with zeros to a multiple
 *    of 8 bytes so the values after it are 8-aligned]
 *   [encoded values: see col_encode.c; null slots hold the previous value
 *    (or 0/"" at the start), which keeps runs and deltas small]
 */
#ifndef STRATA_CORE_COL_INTERNAL_H
#define STRATA_CORE_COL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/columnar/columnar.h"

/* Extra bytes allocated (zeroed) after every payload buffer so bit unpacking
 * may load 8 bytes past the last packed byte. */
#define COL_PAD 16

/* ---- codecs (col_encode.c) ---------------------------------------------- */

/* The values of one chunk (nulls already filled). */
struct col_chunk_in {
	enum col_type type;
	uint32_t n;
	const int64_t *i64;     /* int64, timestamp, bool */
	const double *f64;
	const struct col_str *str;
};

#define COL_SIZE_NA SIZE_MAX

/* Exact encoded size of the values for every encoding (COL_SIZE_NA where
 * the encoding does not apply to the type or the data). */
void col_enc_sizes(const struct col_chunk_in *in, size_t sizes[COL_ENC_COUNT]);
/* The smallest of sizes (ties: the earlier in the preference order Plain,
 * BitPacked, DeltaBitPacked, RunLength, Dictionary, Delta). */
enum col_encoding col_enc_choose(const size_t sizes[COL_ENC_COUNT]);
/* Encodes into out (cap bytes, >= the size col_enc_sizes gave); returns the
 * size written, or COL_SIZE_NA when enc does not apply / cap is short. */
size_t col_encode(const struct col_chunk_in *in, enum col_encoding enc, uint8_t *out, size_t cap);

/* A decoded chunk. Arrays may point into the payload (Plain) or into the
 * vector's own buffers, which are reused by the next decode. */
struct col_vec {
	enum col_type type;
	uint32_t n;
	const uint8_t *valid;      /* NULL: every row has a value */
	const int64_t *i64;        /* int64, timestamp, bool */
	const double *f64;
	/* strings: entry e is sbytes[soff[e] .. soff[e+1]); row i is entry
	 * codes[i] (codes NULL: entry i) */
	uint32_t nent;
	const uint32_t *soff;
	const uint8_t *sbytes;
	const uint32_t *codes;
	/* owned */
	int64_t *buf64;
	size_t cap64;
	uint32_t *bufoff, *bufcodes;
	size_t capoff, capcodes;
};

void col_vec_free(struct col_vec *v);

/* Decodes a payload of len bytes (n rows, with or without a validity
 * bitmap). STRATA_ECORRUPT if it is malformed, STRATA_ENOMEM. The payload
 * buffer must have COL_PAD readable bytes after len. */
int col_decode(const uint8_t *payload, size_t len, enum col_type type, enum col_encoding enc,
	       uint32_t n, bool has_validity, struct col_vec *v);

/* Bytes of the validity bitmap as stored (multiple of 8). */
static inline size_t col_validity_bytes(uint32_t n)
{
	return (((size_t)n + 63) / 64) * 8;
}

/* Plain size of n values of a type (strings: 4 + length each). */
size_t col_plain_size(const struct col_chunk_in *in);

/* 64-bit hashes for the distinct estimate. */
uint64_t col_hash64(uint64_t x);
uint64_t col_hash_bytes(const void *p, size_t n);

/* HyperLogLog with 2^COL_HLL_BITS registers. */
#define COL_HLL_BITS 10
#define COL_HLL_REGS (1u << COL_HLL_BITS)
void col_hll_add(uint8_t *regs, uint64_t hash);
uint64_t col_hll_estimate(const uint8_t *regs);

/* ---- kernels (col_simd.c) --------------------------------------------------
 * Each has a scalar and an AVX2 body with identical results; the dispatch
 * counts which ran. Bitmaps are uint64_t words, bit i of word i/64. */

/* Sum of n int64 values, exact. */
__int128 col_k_sum_i64(const int64_t *v, size_t n);
/* Min and max of n >= 1 int64 values. */
void col_k_minmax_i64(const int64_t *v, size_t n, int64_t *mn, int64_t *mx);
/* Sum, min, max of n >= 1 doubles that are not NaN. */
void col_k_sum_minmax_f64(const double *v, size_t n, double *sum, double *mn, double *mx);
/* Sum only (floats; NaN propagates). */
double col_k_sum_f64(const double *v, size_t n);
/* sel &= (lo <= v[i] <= hi), or with negate sel &= !(lo <= v[i] <= hi). */
void col_k_filter_i64(const int64_t *v, size_t n, int64_t lo, int64_t hi, bool negate,
		      uint64_t *sel);
/* Float range test: lower test is !(x < lo) (NaN passes; lo = -inf for
 * none) or, with lo_isnan, isnan(x); upper test (if hi_on) is x <= hi (NaN
 * fails). sel &= test (negate: sel &= !test). */
void col_k_filter_f64(const double *v, size_t n, double lo, bool lo_isnan, double hi, bool hi_on,
		      bool negate, uint64_t *sel);

/* Internal: whether this call should take the AVX2 path (and counts it). */
bool col_simd_use_avx2(void);

/* ---- tables (col_table.c) ---------------------------------------------------- */

struct col_chunk_meta {
	uint64_t off;              /* of the chunk header in the row-group file */
	uint32_t len;              /* payload bytes */
	uint32_t crc;              /* CRC-32C of the payload */
	uint8_t enc;
	uint8_t flags;             /* CHUNK_F_* */
	uint32_t null_count;
	uint64_t distinct;
	uint64_t plain_bytes;
	struct col_value min, max; /* strings: malloc'd copies (s owned) */
	/* cache of the verified payload (+COL_PAD), set once under the
	 * table's read lock (CAS), freed with the chunk */
	_Atomic(uint8_t *) cached;
};

enum {
	CHUNK_F_MINMAX = 1,        /* min/max valid (some value is not null) */
	CHUNK_F_NAN = 2,           /* float64: some value is NaN */
	CHUNK_F_MAX_TRUNC = 4,     /* string max is a prefix (not an upper bound) */
	CHUNK_F_VALIDITY = 8,      /* payload starts with a validity bitmap */
};

struct col_rowgroup {
	uint64_t seq;              /* file rg-<seq>.dat */
	uint32_t rows;
	uint64_t first_row;        /* row number of its first row */
	uint64_t file_bytes;
	struct col_chunk_meta *chunks; /* one per column */
};

struct col_table {
	char name[COL_NAME_MAX + 1];
	char tablespace[COL_NAME_MAX + 1];
	char dir[4200];
	struct col_def *cols;
	size_t ncols;
	uint32_t row_group_rows;
	uint64_t next_seq;
	uint64_t rows;
	struct col_rowgroup *rg;
	size_t nrg;
	uint8_t *hll;              /* ncols * COL_HLL_REGS */
	bool failed;               /* a switch failed half-way: read-only */
	pthread_rwlock_t lock;
};

int col_table_create_dir(const char *dir, const char *name, const struct col_create_opts *o,
			 char *msg, size_t msglen);
int col_table_open(struct col_table **out, const char *dir, const char *name, char *msg,
		   size_t msglen);
void col_table_free(struct col_table *t);

/* Returns the verified payload of a chunk: the cached copy, or one read
 * now into *scratch (malloc'd, reused; the caller frees). Call with the
 * table's lock held. STRATA_ECORRUPT, I/O errors. */
int col_chunk_payload(struct col_table *t, struct col_rowgroup *rg, int col,
		      const uint8_t **payload, uint8_t **scratch, size_t *scratch_cap);

/* Bytes of verified payloads kept in memory across all tables, and the
 * budget over which chunks are read from their files each time. */
extern _Atomic uint64_t col_cache_bytes;
extern uint64_t col_cache_budget;

#endif
