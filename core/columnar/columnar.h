/*
 * core/columnar/columnar.h — columnar tables: typed nullable columns stored
 * as encoded, checksummed column chunks, with zone maps, predicate and
 * aggregate pushdown and AVX2 decode kernels.
 *
 * Model
 *  - A table has 1..COL_MAX_COLUMNS typed columns (int64, float64, bool,
 *    string, timestamp = int64 microseconds since the Unix epoch), each
 *    nullable or not.
 *  - Rows are stored in row groups of up to row_group_rows rows (default
 *    COL_DEFAULT_ROW_GROUP). A row group is one immutable file
 *    DIR/NAME/rg-<seq>.dat holding one chunk per column. Each chunk is
 *    encoded with the smallest of its type's candidate encodings (every
 *    candidate computes its exact encoded size, as DuckDB's analyze step
 *    does; ties go to the cheaper decoder) and carries a CRC-32C.
 *  - DIR/NAME/MANIFEST (binary, CRC-32C) lists the schema and, per row group,
 *    its file and per chunk its offset, length, checksum, encoding and zone
 *    map (min, max, null count, distinct estimate). It is replaced with
 *    write-temp + fsync + rename + fsync(dir).
 *  - A batch is durable when col_insert returns 0: new row-group files are
 *    written and fsynced, then the manifest is switched. A batch that does
 *    not fill the last row group is merged with it: the last row group is
 *    re-encoded together with the new rows into a new file, so row groups
 *    stay full-sized for scans; the old file is removed after the switch.
 *    A crash at any point leaves the previous manifest (and at open, files
 *    it does not name are removed).
 *  - Corruption (a bad checksum or a malformed chunk or manifest) is
 *    STRATA_ECORRUPT; no value of that chunk is ever returned.
 *
 * Errors: functions returning int return 0 or a negative STRATA_E* code
 * (include/strata/error.h) and, where they take msg, write a message for the
 * client there.
 *
 * Threads: a columnar_db may be used from any number of threads. Each table
 * has a reader/writer lock: scans, aggregates and stats share it, an insert
 * holds it exclusively. columnar_acquire pins a table against drop until
 * columnar_release.
 */
#ifndef STRATA_CORE_COLUMNAR_H
#define STRATA_CORE_COLUMNAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COL_NAME_MAX 63            /* table and column names, bytes */
#define COL_MAX_COLUMNS 256
#define COL_DEFAULT_ROW_GROUP 65536u
#define COL_MIN_ROW_GROUP 16u
#define COL_MAX_ROW_GROUP (1u << 20)
#define COL_STR_MAX (1u << 20)     /* longest string value, bytes */
#define COL_ZONE_STR_MAX 64        /* string min/max kept in a zone map */
#define COL_IN_MAX 1024            /* values of one IN list */

enum col_type { COL_INT64, COL_FLOAT64, COL_BOOL, COL_STRING, COL_TIMESTAMP, COL_TYPE_COUNT };

/* Names as the seed spells them (events and REST use these). */
enum col_encoding {
	COL_ENC_PLAIN,
	COL_ENC_DICTIONARY,
	COL_ENC_RUNLENGTH,
	COL_ENC_DELTA,
	COL_ENC_BITPACKED,
	COL_ENC_DELTABITPACKED,
	COL_ENC_COUNT
};

const char *col_type_name(enum col_type t);          /* "int64", ... */
int col_type_parse(const char *s, enum col_type *t);  /* any case; STRATA_EBAD_REQUEST */
const char *col_encoding_name(enum col_encoding e);  /* "Plain", ... */

/* Whether name is a valid table or column name: 1..COL_NAME_MAX bytes of
 * [A-Za-z0-9_-], not starting with '.'; msg says why not. */
bool col_name_ok(const char *name, const char *what, char *msg, size_t msglen);

struct col_def {
	char name[COL_NAME_MAX + 1];
	enum col_type type;
	bool nullable;
};

/* ---- databases and tables ------------------------------------------------ */

struct columnar_db;
struct col_table;

/* Opens (creating) dir and every table in it (also those linked into a
 * tablespace); leftovers of interrupted creates and drops are removed. STRATA_ECORRUPT with err naming the table
 * whose manifest is damaged. */
int columnar_open(struct columnar_db **out, const char *dir, char *err, size_t errlen);
void columnar_close(struct columnar_db *db);

struct col_create_opts {
	const struct col_def *cols;
	size_t ncols;
	uint32_t row_group_rows; /* 0 = COL_DEFAULT_ROW_GROUP */
	const char *tablespace;  /* NULL or "": none; kept in the metadata */
	/* NULL: the table's files are DIR/NAME. Else the folder of a
	 * tablespace for columnar tables (TSDIR/columnar): the files are
	 * PLACE_DIR/NAME and DIR/NAME is a symbolic link to them
	 * (core/tablespace/objdir.h), so columnar_open finds the table again. */
	const char *place_dir;
};

/* STRATA_ECONFLICT (exists), STRATA_EBAD_REQUEST (names, duplicate columns,
 * counts), I/O errors. The table is durable on return. */
int columnar_create(struct columnar_db *db, const char *name, const struct col_create_opts *o,
		    char *msg, size_t msglen);
/* Removes the table and its files, in a tablespace too (waits for running
 * ops). STRATA_ENOT_FOUND. */
int columnar_drop(struct columnar_db *db, const char *name);

/* Pins a table for one op; STRATA_ENOT_FOUND. Release with columnar_release. */
int columnar_acquire(struct columnar_db *db, const char *name, struct col_table **t);
void columnar_release(struct columnar_db *db);

/* Calls fn for every table (names ascending) while holding the registry. */
void columnar_foreach(struct columnar_db *db, void (*fn)(struct col_table *t, void *arg), void *arg);

struct col_table_info {
	const char *name;         /* valid while the table is pinned */
	const char *tablespace;   /* "" if none */
	const struct col_def *cols;
	size_t ncols;
	uint32_t row_group_rows;
	uint64_t rows, row_groups, chunks;
	uint64_t stored_bytes;    /* chunk payloads as stored */
	uint64_t plain_bytes;     /* the same values in the Plain encoding */
	uint64_t file_bytes;      /* row-group files + manifest on disk */
};
void col_table_get_info(struct col_table *t, struct col_table_info *out);
/* Index of a column, -1 if none. */
int col_table_column(struct col_table *t, const char *name);

/* ---- insert ---------------------------------------------------------------- */

struct col_str {
	const char *p;
	uint32_t len;
};

/* One column of a batch: the array of its type (i64 for int64, timestamp and
 * bool as 0/1; f64; str), and null[i] != 0 for a null (NULL: none). */
struct col_input {
	const int64_t *i64;
	const double *f64;
	const struct col_str *str;
	const uint8_t *null;
};

/* Appends nrows rows (cols: one per table column, in schema order). All or
 * nothing: on error nothing of the batch is visible, now or after a restart.
 * nrows == 0 is a no-op. Emits BatchInserted and, per column whose
 * encoding differs from its previous chunk's, EncodingChanged.
 *   STRATA_EBAD_REQUEST  a null in a non-nullable column, a string over
 *                        COL_STR_MAX, a bool other than 0/1 (msg names the
 *                        row and column)
 *   STRATA_EREAD_ONLY    an earlier fsync or switch failed on this table
 *   STRATA_ETOO_LARGE    the table would exceed 2^40 rows
 *   I/O errors */
int col_insert(struct col_table *t, const struct col_input *cols, size_t nrows, char *msg,
	       size_t msglen);

/* ---- predicates -------------------------------------------------------------- */

enum col_op { COL_EQ, COL_NE, COL_LT, COL_LE, COL_GT, COL_GE, COL_BETWEEN, COL_IN, COL_IS_NULL,
	      COL_IS_NOT_NULL };

/* A constant of a column's type. */
struct col_value {
	bool null;
	int64_t i;       /* int64, timestamp, bool */
	double f;        /* float64 */
	const char *s;   /* string (not NUL-terminated) */
	uint32_t slen;
};

struct col_pred {
	int col;
	enum col_op op;
	struct col_value a, b;     /* b: upper bound of BETWEEN (inclusive) */
	struct col_value *set;     /* IN */
	size_t nset;
};

/* A conjunction of predicates (AND). */
struct col_where {
	struct col_pred *p;
	size_t n;
	char *text;                /* owned copy strings point into */
};

/*
 * Parses "a=1 and price<10 and id between 5 and 9 and x in (1,2,3) and
 * y is null and z is not null and s != 'it''s'" against t's schema.
 * Operators = != <> < <= > >= between..and in (...) is null / is not null;
 * keywords in any case. Strings may be bare words or single-quoted ('' is
 * a quote); timestamps take integers (µs) or RFC 3339 text; bools
 * true/false/1/0; floats any strtod number, nan, inf. An empty or NULL text
 * gives an empty conjunction. STRATA_EBAD_REQUEST with msg naming the
 * problem (unknown column, bad constant, syntax). Free with col_where_free.
 */
int col_where_parse(struct col_table *t, const char *text, struct col_where **out, char *msg,
		    size_t msglen);
void col_where_free(struct col_where *w);

/* Parses one constant of type ty from text (as in where clauses; strings
 * verbatim). */
int col_value_parse(enum col_type ty, const char *text, size_t len, struct col_value *v,
		    char *msg, size_t msglen);
/* RFC 3339 ("2024-01-02T03:04:05.123456Z", offsets +hh:mm) to µs. */
int col_parse_rfc3339(const char *s, size_t len, int64_t *us);

/* ---- scans ------------------------------------------------------------------ */

struct col_scan_stats {
	uint64_t rows_scanned;     /* rows of the row groups that were read */
	uint64_t chunks_skipped;   /* row groups skipped by their zone maps */
	uint64_t rows_returned;
	bool more;                 /* more matching rows after the last one */
};

/* Called per matching row with one value per requested column; a nonzero
 * return stops the scan (returned as is by col_scan). */
typedef int (*col_row_fn)(void *arg, uint64_t row, const struct col_value *vals);

/* Reads the rows matching w (NULL: all), skipping the first `offset`
 * matching rows, at most `limit` rows, columns cols[0..ncols). Emits one
 * ColumnScanned per column read (and ColumnScanProgress on long scans).
 *   STRATA_ECORRUPT  a chunk failed its checksum: the scan stops; rows
 *                    already passed to fn came from verified chunks */
int col_scan(struct col_table *t, const int *cols, size_t ncols, const struct col_where *w,
	     uint64_t offset, uint64_t limit, col_row_fn fn, void *arg, struct col_scan_stats *st);

enum col_agg { COL_AGG_COUNT, COL_AGG_SUM, COL_AGG_MIN, COL_AGG_MAX, COL_AGG_AVG };
const char *col_agg_name(enum col_agg a);
int col_agg_parse(const char *s, enum col_agg *a);

struct col_agg_result {
	enum col_agg fn;
	enum col_type type;        /* of the column (count: int64) */
	bool null;                 /* no value (sum/min/max/avg of no rows) */
	bool is_float;             /* value in f (avg, float sums, int sums over int64) */
	int64_t i;
	double f;
	char *s;                   /* min/max of a string column (malloc'd) */
	uint32_t slen;
	uint64_t count;            /* values aggregated (count: the answer) */
	uint64_t rows_scanned, chunks_skipped;
};

/* Computes fn over column col (-1 with COL_AGG_COUNT: count(*)) for rows
 * matching w, inside the chunk decode loop. Nulls are ignored (count(col)
 * counts non-null values). SUM of int64 accumulates in 128 bits: the answer
 * is exact (is_float false) when it fits in int64, else a double. MIN/MAX
 * of float64 order NaN above +inf (as DuckDB). Emits ColumnScanned.
 * STRATA_EBAD_REQUEST (sum/avg of a string or bool), STRATA_ECORRUPT.
 * Free r->s with col_agg_result_clear. */
int col_aggregate(struct col_table *t, int col, enum col_agg fn, const struct col_where *w,
		  struct col_agg_result *r, char *msg, size_t msglen);
void col_agg_result_clear(struct col_agg_result *r);

/* ---- statistics ----------------------------------------------------------- */

struct col_chunk_stats {
	uint32_t row_group;
	uint32_t rows;
	enum col_encoding enc;
	uint64_t stored_bytes, plain_bytes;
	uint32_t null_count;
	uint64_t distinct_estimate;
	bool has_minmax;           /* false when every value is null */
	bool has_nan;              /* float64: some value is NaN (min/max exclude it) */
	bool max_truncated;        /* string max kept as a prefix: not exact */
	struct col_value min, max; /* strings: copies owned by the array */
};

struct col_column_stats {
	int col;
	enum col_type type;
	uint64_t rows, null_count, distinct_estimate;
	uint64_t stored_bytes, plain_bytes;
	double compression_ratio;  /* stored / plain (0.15 = 15% of Plain) */
	uint64_t encodings[COL_ENC_COUNT]; /* chunks per encoding */
	bool has_minmax, has_nan, max_truncated;
	struct col_value min, max;
	struct col_chunk_stats *chunks;
	size_t nchunks;
	char *strbuf;              /* owns the strings above */
};

/* Aggregates the zone maps of one column. Free with col_column_stats_clear. */
int col_column_stats_get(struct col_table *t, int col, struct col_column_stats *out);
void col_column_stats_clear(struct col_column_stats *s);

/* ---- SIMD dispatch ---------------------------------------------------------- */

enum col_simd_mode { COL_SIMD_AUTO, COL_SIMD_SCALAR, COL_SIMD_AVX2 };
/* Whether the CPU has AVX2 (and the build could compile the kernels). */
bool col_simd_avx2_available(void);
/* Forces a kernel family (tests, benchmarks); AVX2 without the CPU support
 * falls back to scalar. Process-wide. */
void col_simd_force(enum col_simd_mode m);
/* Whether MIN/MAX (and COUNT) may be answered from exact zone maps without
 * decoding (default true). Benchmarks turn it off to time the decode loop. */
void col_set_zone_answers(bool on);

/* How many kernel calls ran on each path since start (process-wide). */
void col_simd_counters(uint64_t *avx2_calls, uint64_t *scalar_calls);

#endif
