/*
 * core/columnar/col_table.c — one table: its manifest, its row-group files,
 * inserts.
 *
 * Files in the table's directory:
 *   MANIFEST        magic "SCMF", u32 version, u32 body length, u32 CRC-32C
 *                   of the body, then the body: name, tablespace, row-group
 *                   size, next file sequence, the columns, one HyperLogLog
 *                   sketch per column, and per row group its file, rows and
 *                   per chunk {offset, length, crc, encoding, flags, null
 *                   count, distinct estimate, plain bytes, min, max}.
 *   rg-<seq>.dat    per column: a 24-byte chunk header {magic "SCK1", type,
 *                   encoding, flags, n, payload length, payload CRC, header
 *                   CRC}, the payload, zero padding to 8 bytes.
 *
 * Insert (all under the table's write lock):
 *   1. validate the batch (nothing written yet on error)
 *   2. if the last row group is short, decode it: its rows go first
 *   3. encode the rows into full row groups, each written to a new file,
 *      fsynced; then fsync the directory
 *   4. write MANIFEST.tmp, fsync, rename over MANIFEST, fsync the directory
 *      — the batch is durable and acknowledged only after this
 *   5. switch the in-memory state; unlink the replaced short row group
 * A failure in 1-4 leaves MANIFEST as it was (new files are unlinked, and
 * any a crash leaves are removed at open because MANIFEST does not name
 * them). A failure after the rename (the directory fsync) makes the table
 * read-only until reopened, since whether the switch is durable is unknown.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/columnar/col_internal.h"
#include "core/crc32c.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/stats.h"
#include "strata/error.h"

#define MANIFEST_MAGIC 0x464d4353u /* "SCMF" */
#define MANIFEST_VERSION 1u
#define CHUNK_MAGIC 0x314b4353u    /* "SCK1" */
#define CHUNK_HDR 24u
#define MAX_TABLE_ROWS (1ull << 40)

_Atomic uint64_t col_cache_bytes;
uint64_t col_cache_budget = 1ull << 30;

/* ---- byte buffers ------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static void wb_put(struct wbuf *b, const void *src, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void wb_u8(struct wbuf *b, uint8_t v) { wb_put(b, &v, 1); }
static void wb_u16(struct wbuf *b, uint16_t v) { wb_put(b, &v, 2); }
static void wb_u32(struct wbuf *b, uint32_t v) { wb_put(b, &v, 4); }
static void wb_u64(struct wbuf *b, uint64_t v) { wb_put(b, &v, 8); }
static void wb_str(struct wbuf *b, const char *s, size_t n)
{
	wb_u16(b, (uint16_t)n);
	wb_put(b, s, n);
}

struct rbuf {
	const uint8_t *p, *end;
	bool bad;
};

static void rb_get(struct rbuf *r, void *dst, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p, n);
	r->p += n;
}

static uint8_t rb_u8(struct rbuf *r) { uint8_t v; rb_get(r, &v, 1); return v; }
static uint16_t rb_u16(struct rbuf *r) { uint16_t v; rb_get(r, &v, 2); return v; }
static uint32_t rb_u32(struct rbuf *r) { uint32_t v; rb_get(r, &v, 4); return v; }
static uint64_t rb_u64(struct rbuf *r) { uint64_t v; rb_get(r, &v, 8); return v; }
/* A string into dst (cap bytes incl. NUL); bad if longer. */
static void rb_cstr(struct rbuf *r, char *dst, size_t cap)
{
	uint16_t n = rb_u16(r);
	if (n >= cap) {
		r->bad = true;
		dst[0] = '\0';
		return;
	}
	rb_get(r, dst, n);
	dst[r->bad ? 0 : n] = '\0';
}

/* ---- names ---------------------------------------------------------------------- */

static const char *type_names[COL_TYPE_COUNT] = {"int64", "float64", "bool", "string",
						 "timestamp"};
static const char *enc_names[COL_ENC_COUNT] = {"Plain", "Dictionary", "RunLength",
					       "Delta", "BitPacked", "DeltaBitPacked"};

const char *col_type_name(enum col_type t)
{
	return (unsigned)t < COL_TYPE_COUNT ? type_names[t] : "?";
}

int col_type_parse(const char *s, enum col_type *t)
{
	for (int i = 0; i < COL_TYPE_COUNT; i++)
		if (strcasecmp(s, type_names[i]) == 0) {
			*t = (enum col_type)i;
			return 0;
		}
	return STRATA_EBAD_REQUEST;
}

const char *col_encoding_name(enum col_encoding e)
{
	return (unsigned)e < COL_ENC_COUNT ? enc_names[e] : "?";
}

bool col_name_ok(const char *name, const char *what, char *msg, size_t msglen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > COL_NAME_MAX) {
		snprintf(msg, msglen, "%s must be 1..%d characters", what, COL_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-')) {
			snprintf(msg, msglen, "%s may only contain letters, digits, '_' and '-'", what);
			return false;
		}
	}
	return true;
}

/* ---- manifest ------------------------------------------------------------------- */

static void wb_value(struct wbuf *b, enum col_type ty, const struct col_value *v)
{
	if (ty == COL_STRING)
		wb_str(b, v->s ? v->s : "", v->slen);
	else if (ty == COL_FLOAT64) {
		uint64_t bits;
		memcpy(&bits, &v->f, 8);
		wb_u64(b, bits);
	} else
		wb_u64(b, (uint64_t)v->i);
}

static void rb_value(struct rbuf *r, enum col_type ty, struct col_value *v)
{
	memset(v, 0, sizeof(*v));
	if (ty == COL_STRING) {
		uint16_t n = rb_u16(r);
		if (n > COL_ZONE_STR_MAX) {
			r->bad = true;
			return;
		}
		char *s = malloc((size_t)n + 1);
		if (!s) {
			r->bad = true;
			return;
		}
		rb_get(r, s, n);
		s[n] = '\0';
		v->s = s;
		v->slen = n;
	} else if (ty == COL_FLOAT64) {
		uint64_t bits = rb_u64(r);
		memcpy(&v->f, &bits, 8);
	} else
		v->i = (int64_t)rb_u64(r);
}

static void chunk_meta_clear(struct col_chunk_meta *c)
{
	free((char *)c->min.s);
	free((char *)c->max.s);
	uint8_t *cached = atomic_load(&c->cached);
	if (cached) {
		atomic_fetch_sub(&col_cache_bytes, (uint64_t)c->len + CHUNK_HDR);
		free(cached);
	}
	memset(c, 0, sizeof(*c));
}

static void rowgroups_free(struct col_rowgroup *rg, size_t nrg, size_t ncols)
{
	for (size_t i = 0; i < nrg; i++) {
		for (size_t c = 0; rg[i].chunks && c < ncols; c++)
			chunk_meta_clear(&rg[i].chunks[c]);
		free(rg[i].chunks);
	}
	free(rg);
}

static int manifest_encode(const struct col_table *t, const struct col_rowgroup *rg, size_t nrg,
			   uint64_t next_seq, const uint8_t *hll, struct wbuf *out)
{
	struct wbuf b = {0};
	wb_str(&b, t->name, strlen(t->name));
	wb_str(&b, t->tablespace, strlen(t->tablespace));
	wb_u32(&b, t->row_group_rows);
	wb_u64(&b, next_seq);
	wb_u32(&b, (uint32_t)t->ncols);
	for (size_t c = 0; c < t->ncols; c++) {
		wb_str(&b, t->cols[c].name, strlen(t->cols[c].name));
		wb_u8(&b, (uint8_t)t->cols[c].type);
		wb_u8(&b, t->cols[c].nullable);
	}
	wb_put(&b, hll, t->ncols * COL_HLL_REGS);
	wb_u32(&b, (uint32_t)nrg);
	for (size_t i = 0; i < nrg; i++) {
		wb_u64(&b, rg[i].seq);
		wb_u32(&b, rg[i].rows);
		wb_u64(&b, rg[i].file_bytes);
		for (size_t c = 0; c < t->ncols; c++) {
			const struct col_chunk_meta *m = &rg[i].chunks[c];
			wb_u64(&b, m->off);
			wb_u32(&b, m->len);
			wb_u32(&b, m->crc);
			wb_u8(&b, m->enc);
			wb_u8(&b, m->flags);
			wb_u32(&b, m->null_count);
			wb_u64(&b, m->distinct);
			wb_u64(&b, m->plain_bytes);
			wb_value(&b, t->cols[c].type, &m->min);
			wb_value(&b, t->cols[c].type, &m->max);
		}
	}
	if (b.oom) {
		free(b.p);
		return STRATA_ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	wb_u32(out, MANIFEST_MAGIC);
	wb_u32(out, MANIFEST_VERSION);
	wb_u32(out, (uint32_t)b.n);
	wb_u32(out, crc32c(0, b.p, b.n));
	wb_put(out, b.p, b.n);
	free(b.p);
	if (out->oom) {
		free(out->p);
		return STRATA_ENOMEM;
	}
	return 0;
}

/* Writes dir/MANIFEST durably: temp file, fsync, rename, fsync dir.
 * *renamed tells whether the rename happened (then a later failure leaves
 * the outcome unknown). */
static int manifest_write(const char *dir, const struct wbuf *m, bool *renamed)
{
	char tmp[4400], path[4400];
	snprintf(tmp, sizeof(tmp), "%s/MANIFEST.tmp", dir);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	*renamed = false;
	struct sfile *f;
	int rv = file_open(&f, tmp, FILE_CREATE | FILE_TRUNC, "manifest");
	if (rv)
		return rv;
	rv = file_pwrite(f, m->p, m->n, 0);
	if (!rv)
		rv = file_sync(f);
	int rc = file_close(f);
	if (!rv)
		rv = rc;
	if (rv) {
		(void)unlink(tmp);
		return rv;
	}
	if (rename(tmp, path) != 0) {
		rv = strata_err_from_errno(errno);
		(void)unlink(tmp);
		return rv;
	}
	*renamed = true;
	return file_sync_dir(dir);
}

static int manifest_decode(struct col_table *t, const uint8_t *data, size_t len, char *msg,
			   size_t msglen)
{
	struct rbuf h = {data, data + len, false};
	uint32_t magic = rb_u32(&h), ver = rb_u32(&h), blen = rb_u32(&h), crc = rb_u32(&h);
	if (h.bad || magic != MANIFEST_MAGIC || ver != MANIFEST_VERSION ||
	    (size_t)(h.end - h.p) != blen || crc32c(0, h.p, blen) != crc) {
		snprintf(msg, msglen, "MANIFEST of table '%s' is damaged (bad header or checksum)",
			 t->name);
		return STRATA_ECORRUPT;
	}
	struct rbuf r = {h.p, h.end, false};
	char name[COL_NAME_MAX + 1];
	rb_cstr(&r, name, sizeof(name));
	rb_cstr(&r, t->tablespace, sizeof(t->tablespace));
	t->row_group_rows = rb_u32(&r);
	t->next_seq = rb_u64(&r);
	uint32_t ncols = rb_u32(&r);
	if (r.bad || ncols == 0 || ncols > COL_MAX_COLUMNS || t->row_group_rows < COL_MIN_ROW_GROUP ||
	    t->row_group_rows > COL_MAX_ROW_GROUP)
		goto bad;
	t->cols = calloc(ncols, sizeof(*t->cols));
	t->hll = calloc(ncols, COL_HLL_REGS);
	if (!t->cols || !t->hll)
		return STRATA_ENOMEM;
	t->ncols = ncols;
	for (uint32_t c = 0; c < ncols; c++) {
		rb_cstr(&r, t->cols[c].name, sizeof(t->cols[c].name));
		t->cols[c].type = (enum col_type)rb_u8(&r);
		t->cols[c].nullable = rb_u8(&r) != 0;
		if ((unsigned)t->cols[c].type >= COL_TYPE_COUNT)
			goto bad;
	}
	rb_get(&r, t->hll, (size_t)ncols * COL_HLL_REGS);
	uint32_t nrg = rb_u32(&r);
	if (r.bad || nrg > (uint32_t)(len / 8))
		goto bad;
	t->rg = calloc(nrg ? nrg : 1, sizeof(*t->rg));
	if (!t->rg)
		return STRATA_ENOMEM;
	uint64_t row = 0;
	for (uint32_t i = 0; i < nrg && !r.bad; i++) {
		struct col_rowgroup *g = &t->rg[i];
		t->nrg = i + 1;
		g->seq = rb_u64(&r);
		g->rows = rb_u32(&r);
		g->file_bytes = rb_u64(&r);
		g->first_row = row;
		row += g->rows;
		g->chunks = calloc(ncols, sizeof(*g->chunks));
		if (!g->chunks)
			return STRATA_ENOMEM;
		if (g->rows == 0 || g->rows > t->row_group_rows || g->seq >= t->next_seq)
			goto bad;
		for (uint32_t c = 0; c < ncols; c++) {
			struct col_chunk_meta *m = &g->chunks[c];
			m->off = rb_u64(&r);
			m->len = rb_u32(&r);
			m->crc = rb_u32(&r);
			m->enc = rb_u8(&r);
			m->flags = rb_u8(&r);
			m->null_count = rb_u32(&r);
			m->distinct = rb_u64(&r);
			m->plain_bytes = rb_u64(&r);
			rb_value(&r, t->cols[c].type, &m->min);
			rb_value(&r, t->cols[c].type, &m->max);
			if (m->enc >= COL_ENC_COUNT || m->null_count > g->rows ||
			    m->off + CHUNK_HDR + m->len > g->file_bytes)
				goto bad;
		}
	}
	if (r.bad || r.p != r.end)
		goto bad;
	t->rows = row;
	return 0;
bad:
	snprintf(msg, msglen, "MANIFEST of table '%s' is malformed", t->name);
	return STRATA_ECORRUPT;
}

/* ---- open / create ------------------------------------------------------------------ */

void col_table_free(struct col_table *t)
{
	if (!t)
		return;
	rowgroups_free(t->rg, t->nrg, t->ncols);
	free(t->cols);
	free(t->hll);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static struct col_table *table_alloc(const char *dir, const char *name)
{
	struct col_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	pthread_rwlock_init(&t->lock, NULL);
	return t;
}

int col_table_create_dir(const char *dir, const char *name, const struct col_create_opts *o,
			 char *msg, size_t msglen)
{
	struct col_table *t = table_alloc(dir, name);
	if (!t)
		return STRATA_ENOMEM;
	int rv = STRATA_ENOMEM;
	t->cols = calloc(o->ncols, sizeof(*t->cols));
	t->hll = calloc(o->ncols, COL_HLL_REGS);
	if (!t->cols || !t->hll)
		goto out;
	memcpy(t->cols, o->cols, o->ncols * sizeof(*t->cols));
	t->ncols = o->ncols;
	t->row_group_rows = o->row_group_rows ? o->row_group_rows : COL_DEFAULT_ROW_GROUP;
	snprintf(t->tablespace, sizeof(t->tablespace), "%s", o->tablespace ? o->tablespace : "");
	struct wbuf m;
	if ((rv = manifest_encode(t, NULL, 0, 1, t->hll, &m)) != 0)
		goto out;
	bool renamed;
	rv = manifest_write(dir, &m, &renamed);
	free(m.p);
	if (rv)
		snprintf(msg, msglen, "cannot write the manifest of '%s': %s", name, strata_strerror(rv));
out:
	col_table_free(t);
	return rv;
}

/* Removes rg-*.dat files the manifest does not name, and MANIFEST.tmp. */
static void remove_orphans(struct col_table *t)
{
	DIR *dp = opendir(t->dir);
	if (!dp)
		return;
	struct dirent *de;
	while ((de = readdir(dp))) {
		unsigned long long seq;
		char tail[8];
		bool orphan = strcmp(de->d_name, "MANIFEST.tmp") == 0;
		if (sscanf(de->d_name, "rg-%llu.%4s", &seq, tail) == 2 && strcmp(tail, "dat") == 0) {
			orphan = true;
			for (size_t i = 0; i < t->nrg; i++)
				if (t->rg[i].seq == seq)
					orphan = false;
		}
		if (orphan) {
			char path[4600];
			snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
			(void)unlink(path);
		}
	}
	closedir(dp);
}

int col_table_open(struct col_table **out, const char *dir, const char *name, char *msg,
		   size_t msglen)
{
	struct col_table *t = table_alloc(dir, name);
	if (!t)
		return STRATA_ENOMEM;
	char path[4400];
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	struct sfile *f = NULL;
	uint8_t *data = NULL;
	uint64_t size = 0;
	int rv = file_open(&f, path, FILE_RDONLY, "manifest");
	if (!rv)
		rv = file_size(f, &size);
	if (!rv && (size < 16 || size > (1ull << 30)))
		rv = STRATA_ECORRUPT;
	if (!rv && !(data = malloc(size)))
		rv = STRATA_ENOMEM;
	if (!rv)
		rv = file_pread(f, data, size, 0);
	if (f)
		file_close(f);
	if (rv) {
		snprintf(msg, msglen, "cannot read %s: %s", path, strata_strerror(rv));
		goto fail;
	}
	if ((rv = manifest_decode(t, data, size, msg, msglen)) != 0)
		goto fail;
	free(data);
	remove_orphans(t);
	*out = t;
	return 0;
fail:
	free(data);
	col_table_free(t);
	return rv;
}

/* ---- reading chunks ------------------------------------------------------------------ */

static void rg_path(const struct col_table *t, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/rg-%020" PRIu64 ".dat", t->dir, seq);
}

int col_chunk_payload(struct col_table *t, struct col_rowgroup *rg, int col,
		      const uint8_t **payload, uint8_t **scratch, size_t *scratch_cap)
{
	struct col_chunk_meta *m = &rg->chunks[col];
	uint8_t *cached = atomic_load_explicit(&m->cached, memory_order_acquire);
	if (cached) {
		*payload = cached + CHUNK_HDR;
		return 0;
	}
	size_t need = CHUNK_HDR + (size_t)m->len;
	uint8_t *buf = NULL;
	if (posix_memalign((void **)&buf, 64, need + COL_PAD) != 0)
		return STRATA_ENOMEM;
	memset(buf + need, 0, COL_PAD);
	char path[4600];
	rg_path(t, rg->seq, path, sizeof(path));
	struct sfile *f;
	int rv = file_open(&f, path, FILE_RDONLY, "columnar");
	if (rv == 0) {
		rv = file_pread(f, buf, need, m->off);
		file_close(f);
	}
	if (rv == STRATA_ENOT_FOUND)
		rv = STRATA_ECORRUPT; /* the file is missing or short */
	if (rv == 0) {
		uint32_t h[6];
		memcpy(h, buf, sizeof(h));
		bool ok = h[0] == CHUNK_MAGIC && crc32c(0, buf, 20) == h[5] &&
			  (h[1] & 0xff) == (uint32_t)t->cols[col].type &&
			  ((h[1] >> 8) & 0xff) == m->enc && h[2] == rg->rows && h[3] == m->len &&
			  h[4] == m->crc && crc32c(0, buf + CHUNK_HDR, m->len) == m->crc;
		if (!ok) {
			rv = STRATA_ECORRUPT;
			stat_add(&core_stats()->io.checksum_failures, 1);
		}
	}
	if (rv) {
		free(buf);
		return rv;
	}
	uint64_t used = atomic_fetch_add(&col_cache_bytes, need) + need;
	uint8_t *expected = NULL;
	if (used <= col_cache_budget &&
	    atomic_compare_exchange_strong(&m->cached, &expected, buf)) {
		*payload = buf + CHUNK_HDR;
		return 0;
	}
	atomic_fetch_sub(&col_cache_bytes, need);
	if (expected) { /* another reader cached it first */
		free(buf);
		*payload = expected + CHUNK_HDR;
		return 0;
	}
	free(*scratch);
	*scratch = buf;
	*scratch_cap = need;
	*payload = buf + CHUNK_HDR;
	return 0;
}

/* ---- insert ---------------------------------------------------------------------------- */

/* One column's rows for encoding: values (nulls filled) and null flags. */
struct colbuf {
	int64_t *i64;
	double *f64;
	struct col_str *str;
	uint8_t *null;
};

static int str_cmp(const char *a, uint32_t al, const char *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* Zone map, distinct estimate and encoding of rows [0, n) of one column
 * (values with nulls filled); writes the payload into *out. */
static int encode_chunk(const struct col_def *def, const struct colbuf *cb, size_t from, uint32_t n,
			uint8_t *hll, struct col_chunk_meta *m, uint8_t **out)
{
	struct col_chunk_in in = {.type = def->type, .n = n};
	int64_t *fi = NULL;
	double *ff = NULL;
	struct col_str *fs = NULL;
	uint8_t regs[COL_HLL_REGS];
	memset(regs, 0, sizeof(regs));
	memset(m, 0, sizeof(*m));
	const uint8_t *nul = cb->null ? cb->null + from : NULL;
	uint32_t nulls = 0;
	for (uint32_t i = 0; nul && i < n; i++)
		nulls += nul[i] != 0;
	/* Null slots take the previous value (0 / "" at the start). */
	if (def->type == COL_STRING) {
		fs = malloc((size_t)n * sizeof(*fs) + 1);
		if (!fs)
			return STRATA_ENOMEM;
		struct col_str prev = {"", 0};
		for (uint32_t i = 0; i < n; i++)
			fs[i] = prev = (nul && nul[i]) ? prev : cb->str[from + i];
		in.str = fs;
	} else if (def->type == COL_FLOAT64) {
		if (nulls) {
			ff = malloc((size_t)n * sizeof(*ff) + 1);
			if (!ff)
				return STRATA_ENOMEM;
			double prev = 0;
			for (uint32_t i = 0; i < n; i++)
				ff[i] = prev = nul[i] ? prev : cb->f64[from + i];
			in.f64 = ff;
		} else {
			in.f64 = cb->f64 + from;
		}
	} else {
		if (nulls) {
			fi = malloc((size_t)n * sizeof(*fi) + 1);
			if (!fi)
				return STRATA_ENOMEM;
			int64_t prev = 0;
			for (uint32_t i = 0; i < n; i++)
				fi[i] = prev = nul[i] ? prev : cb->i64[from + i];
			in.i64 = fi;
		} else {
			in.i64 = cb->i64 + from;
		}
	}
	/* zone map over the non-null values */
	bool any = false;
	for (uint32_t i = 0; i < n; i++) {
		if (nul && nul[i])
			continue;
		switch (def->type) {
		case COL_STRING: {
			const struct col_str *s = &in.str[i];
			col_hll_add(regs, col_hash_bytes(s->p, s->len));
			if (!any || str_cmp(s->p, s->len, m->min.s, m->min.slen) < 0) {
				m->min.s = s->p;
				m->min.slen = s->len;
			}
			if (!any || str_cmp(s->p, s->len, m->max.s, m->max.slen) > 0) {
				m->max.s = s->p;
				m->max.slen = s->len;
			}
			any = true;
			break;
		}
		case COL_FLOAT64: {
			double x = in.f64[i];
			uint64_t bits;
			memcpy(&bits, &x, 8);
			col_hll_add(regs, col_hash64(x == 0 ? 0 : bits));
			if (isnan(x)) {
				m->flags |= CHUNK_F_NAN;
				continue;
			}
			if (!(m->flags & CHUNK_F_MINMAX) || x < m->min.f)
				m->min.f = x;
			if (!(m->flags & CHUNK_F_MINMAX) || x > m->max.f)
				m->max.f = x;
			m->flags |= CHUNK_F_MINMAX;
			break;
		}
		default: {
			int64_t x = in.i64[i];
			col_hll_add(regs, col_hash64((uint64_t)x));
			if (!any || x < m->min.i)
				m->min.i = x;
			if (!any || x > m->max.i)
				m->max.i = x;
			any = true;
		}
		}
	}
	if (any)
		m->flags |= CHUNK_F_MINMAX;
	if (def->type == COL_STRING && any) {
		/* copies, a bounded prefix: a prefix of the minimum is still a
		 * lower bound; a cut maximum is not an upper bound */
		uint32_t ml = m->min.slen > COL_ZONE_STR_MAX ? COL_ZONE_STR_MAX : m->min.slen;
		uint32_t xl = m->max.slen > COL_ZONE_STR_MAX ? COL_ZONE_STR_MAX : m->max.slen;
		if (xl < m->max.slen)
			m->flags |= CHUNK_F_MAX_TRUNC;
		char *a = malloc((size_t)ml + 1), *b = malloc((size_t)xl + 1);
		if (!a || !b) {
			free(a);
			free(b);
			m->min.s = m->max.s = NULL;
			free(fs);
			return STRATA_ENOMEM;
		}
		memcpy(a, m->min.s, ml);
		memcpy(b, m->max.s, xl);
		a[ml] = b[xl] = '\0';
		m->min.s = a;
		m->min.slen = ml;
		m->max.s = b;
		m->max.slen = xl;
	} else if (def->type == COL_STRING) {
		m->min.s = m->max.s = NULL;
	}
	for (unsigned k = 0; k < COL_HLL_REGS; k++)
		if (regs[k] > hll[k])
			hll[k] = regs[k];
	m->distinct = (n - nulls) ? col_hll_estimate(regs) : 0;
	if (m->distinct > n - nulls)
		m->distinct = n - nulls;
	if (n - nulls > 0 && m->distinct == 0)
		m->distinct = 1;
	m->null_count = nulls;
	m->plain_bytes = col_plain_size(&in);

	size_t sizes[COL_ENC_COUNT];
	col_enc_sizes(&in, sizes);
	enum col_encoding enc = col_enc_choose(sizes);
	size_t vb = nulls ? col_validity_bytes(n) : 0;
	size_t total = CHUNK_HDR + vb + sizes[enc];
	uint8_t *buf = NULL;
	int rv = 0;
	if (posix_memalign((void **)&buf, 64, total + 8 + COL_PAD) != 0) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	memset(buf, 0, total + 8 + COL_PAD);
	uint8_t *pay = buf + CHUNK_HDR;
	for (uint32_t i = 0; nulls && i < n; i++)
		if (!nul[i])
			pay[i / 8] |= (uint8_t)(1u << (i % 8));
	size_t got = col_encode(&in, enc, pay + vb, sizes[enc]);
	if (got != sizes[enc]) {
		free(buf);
		rv = STRATA_EINTERNAL;
		goto out;
	}
	m->enc = (uint8_t)enc;
	m->len = (uint32_t)(vb + got);
	if (nulls)
		m->flags |= CHUNK_F_VALIDITY;
	m->crc = crc32c(0, pay, m->len);
	uint32_t h[6] = {CHUNK_MAGIC, (uint32_t)def->type | ((uint32_t)enc << 8) | ((uint32_t)m->flags << 16),
			 n, m->len, m->crc, 0};
	h[5] = crc32c(0, h, 20);
	memcpy(buf, h, sizeof(h));
	*out = buf;
out:
	free(fi);
	free(ff);
	free(fs);
	if (rv && def->type == COL_STRING) {
		free((char *)m->min.s);
		free((char *)m->max.s);
		m->min.s = m->max.s = NULL;
	}
	return rv;
}

/* Writes one row group [from, from+n) of every column into a new file. */
static int write_rowgroup(struct col_table *t, const struct colbuf *cbs, size_t from, uint32_t n,
			  uint64_t seq, uint8_t *hll, struct col_rowgroup *g)
{
	memset(g, 0, sizeof(*g));
	g->seq = seq;
	g->rows = n;
	g->chunks = calloc(t->ncols, sizeof(*g->chunks));
	uint8_t **bufs = calloc(t->ncols, sizeof(*bufs));
	struct iovec *iov = calloc(t->ncols, sizeof(*iov));
	int rv = 0;
	if (!g->chunks || !bufs || !iov) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	uint64_t off = 0;
	for (size_t c = 0; c < t->ncols; c++) {
		rv = encode_chunk(&t->cols[c], &cbs[c], from, n, hll + c * COL_HLL_REGS, &g->chunks[c],
				  &bufs[c]);
		if (rv)
			goto out;
		g->chunks[c].off = off;
		size_t len = CHUNK_HDR + g->chunks[c].len;
		iov[c].iov_base = bufs[c];
		iov[c].iov_len = (len + 7) & ~(size_t)7;
		off += iov[c].iov_len;
	}
	g->file_bytes = off;
	char path[4600];
	rg_path(t, seq, path, sizeof(path));
	struct sfile *f;
	if ((rv = file_open(&f, path, FILE_CREATE | FILE_TRUNC, "columnar")) != 0)
		goto out;
	rv = file_pwritev(f, iov, (int)t->ncols, 0);
	if (!rv)
		rv = file_sync(f);
	int rc = file_close(f);
	if (!rv)
		rv = rc;
	if (rv) {
		(void)unlink(path);
		goto out;
	}
	/* keep the verified payloads as the cache (they are what we wrote) */
	for (size_t c = 0; c < t->ncols; c++) {
		uint64_t need = CHUNK_HDR + (uint64_t)g->chunks[c].len;
		if (atomic_fetch_add(&col_cache_bytes, need) + need <= col_cache_budget) {
			atomic_store(&g->chunks[c].cached, bufs[c]);
			bufs[c] = NULL;
		} else {
			atomic_fetch_sub(&col_cache_bytes, need);
		}
	}
out:
	for (size_t c = 0; bufs && c < t->ncols; c++)
		free(bufs[c]);
	free(bufs);
	free(iov);
	if (rv && g->chunks) {
		for (size_t c = 0; c < t->ncols; c++)
			chunk_meta_clear(&g->chunks[c]);
		free(g->chunks);
		g->chunks = NULL;
	}
	return rv;
}

static void colbufs_free(struct colbuf *cbs, size_t ncols)
{
	for (size_t c = 0; cbs && c < ncols; c++) {
		free(cbs[c].i64);
		free(cbs[c].f64);
		free(cbs[c].str);
		free(cbs[c].null);
	}
	free(cbs);
}

/* Validates the batch; msg names the first bad row and column. */
static int validate(const struct col_table *t, const struct col_input *cols, size_t nrows,
		    char *msg, size_t msglen)
{
	for (size_t c = 0; c < t->ncols; c++) {
		const struct col_def *d = &t->cols[c];
		const struct col_input *in = &cols[c];
		bool have = d->type == COL_STRING ? in->str != NULL
			    : d->type == COL_FLOAT64 ? in->f64 != NULL : in->i64 != NULL;
		if (!have && nrows) {
			snprintf(msg, msglen, "column '%s': no values given", d->name);
			return STRATA_EBAD_REQUEST;
		}
		for (size_t r = 0; r < nrows; r++) {
			bool isnull = in->null && in->null[r];
			if (isnull && !d->nullable) {
				snprintf(msg, msglen, "row %zu, column '%s': null in a non-nullable column",
					 r, d->name);
				return STRATA_EBAD_REQUEST;
			}
			if (isnull)
				continue;
			if (d->type == COL_BOOL && (uint64_t)in->i64[r] > 1) {
				snprintf(msg, msglen, "row %zu, column '%s': a bool must be true or false",
					 r, d->name);
				return STRATA_EBAD_REQUEST;
			}
			if (d->type == COL_STRING && in->str[r].len > COL_STR_MAX) {
				snprintf(msg, msglen, "row %zu, column '%s': string of %u bytes; at most %u",
					 r, d->name, in->str[r].len, COL_STR_MAX);
				return STRATA_EBAD_REQUEST;
			}
		}
	}
	return 0;
}

/*
 * Fills cbs with the rows of the short last row group (decoded; strings
 * copied into *strpool) followed by the batch.
 */
static int gather(struct col_table *t, const struct col_input *cols, size_t nrows,
		  struct col_rowgroup *tail, struct colbuf *cbs, char **strpool)
{
	size_t tn = tail ? tail->rows : 0, total = tn + nrows;
	int rv = 0;
	struct col_vec v = {0};
	uint8_t *scratch = NULL;
	size_t scap = 0;
	size_t pool_len = 0;
	/* strings of the tail: copied so the batch does not depend on buffers */
	for (size_t c = 0; c < t->ncols; c++) {
		const struct col_def *d = &t->cols[c];
		struct colbuf *cb = &cbs[c];
		cb->null = calloc(total + 1, 1);
		if (d->type == COL_STRING)
			cb->str = calloc(total + 1, sizeof(*cb->str));
		else if (d->type == COL_FLOAT64)
			cb->f64 = malloc((total + 1) * sizeof(*cb->f64));
		else
			cb->i64 = malloc((total + 1) * sizeof(*cb->i64));
		if (!cb->null || (!cb->str && !cb->f64 && !cb->i64))
			return STRATA_ENOMEM;
	}
	if (tail) {
		/* first pass: size of the tail's strings */
		for (size_t c = 0; c < t->ncols && !rv; c++) {
			if (t->cols[c].type != COL_STRING)
				continue;
			const uint8_t *pay;
			if ((rv = col_chunk_payload(t, tail, (int)c, &pay, &scratch, &scap)) != 0)
				break;
			struct col_chunk_meta *m = &tail->chunks[c];
			if ((rv = col_decode(pay, m->len, COL_STRING, m->enc, tail->rows,
					     m->flags & CHUNK_F_VALIDITY, &v)) != 0)
				break;
			for (uint32_t i = 0; i < tail->rows; i++) {
				uint32_t e = v.codes ? v.codes[i] : i;
				pool_len += v.soff[e + 1] - v.soff[e];
			}
		}
		if (!rv && !(*strpool = malloc(pool_len + 1)))
			rv = STRATA_ENOMEM;
		size_t pos = 0;
		for (size_t c = 0; c < t->ncols && !rv; c++) {
			const uint8_t *pay;
			if ((rv = col_chunk_payload(t, tail, (int)c, &pay, &scratch, &scap)) != 0)
				break;
			struct col_chunk_meta *m = &tail->chunks[c];
			if ((rv = col_decode(pay, m->len, t->cols[c].type, m->enc, tail->rows,
					     m->flags & CHUNK_F_VALIDITY, &v)) != 0)
				break;
			struct colbuf *cb = &cbs[c];
			for (uint32_t i = 0; i < tail->rows; i++) {
				cb->null[i] = v.valid && !(v.valid[i / 8] & (1u << (i % 8)));
				switch (t->cols[c].type) {
				case COL_STRING: {
					uint32_t e = v.codes ? v.codes[i] : i;
					uint32_t len = v.soff[e + 1] - v.soff[e];
					if (len)
						memcpy(*strpool + pos, v.sbytes + v.soff[e], len);
					cb->str[i].p = *strpool + pos;
					cb->str[i].len = len;
					pos += len;
					break;
				}
				case COL_FLOAT64:
					cb->f64[i] = v.f64[i];
					break;
				default:
					cb->i64[i] = v.i64[i];
				}
			}
		}
	}
	col_vec_free(&v);
	free(scratch);
	if (rv)
		return rv;
	for (size_t c = 0; c < t->ncols; c++) {
		struct colbuf *cb = &cbs[c];
		const struct col_input *in = &cols[c];
		if (in->null)
			memcpy(cb->null + tn, in->null, nrows);
		if (!nrows)
			continue;
		if (cb->str)
			memcpy(cb->str + tn, in->str, nrows * sizeof(*cb->str));
		else if (cb->f64)
			memcpy(cb->f64 + tn, in->f64, nrows * sizeof(*cb->f64));
		else
			memcpy(cb->i64 + tn, in->i64, nrows * sizeof(*cb->i64));
		for (size_t r = 0; in->null && r < nrows; r++)
			if (in->null[r]) {
				/* defined contents for nulls (the caller's may be garbage) */
				if (cb->str)
					cb->str[tn + r] = (struct col_str){"", 0};
				else if (cb->f64)
					cb->f64[tn + r] = 0;
				else
					cb->i64[tn + r] = 0;
			}
	}
	return 0;
}

static void emit_encoding_changed(const struct col_table *t, size_t c, enum col_encoding from,
				  const struct col_chunk_meta *m)
{
	struct strata_event ev = {.variant = STRATA_EV_EncodingChanged};
	struct strata_ev_EncodingChanged *e = &ev.u.EncodingChanged;
	snprintf(e->table_name, sizeof(e->table_name), "%s", t->name);
	snprintf(e->column_name, sizeof(e->column_name), "%s", t->cols[c].name);
	snprintf(e->old_encoding, sizeof(e->old_encoding), "%s", col_encoding_name(from));
	snprintf(e->new_encoding, sizeof(e->new_encoding), "%s", col_encoding_name(m->enc));
	e->compression_ratio = m->plain_bytes ? (double)m->len / (double)m->plain_bytes : 1.0;
	e->timestamp = clock_wall_us() / 1000000;
	emit_rare(&ev);
	stat_add(&core_stats()->columnar.encoding_changes, 1);
}

int col_insert(struct col_table *t, const struct col_input *cols, size_t nrows, char *msg,
	       size_t msglen)
{
	if (nrows == 0)
		return 0;
	int rv = validate(t, cols, nrows, msg, msglen);
	if (rv)
		return rv;
	pthread_rwlock_wrlock(&t->lock);
	if (t->failed) {
		pthread_rwlock_unlock(&t->lock);
		snprintf(msg, msglen, "table '%s' is read-only after an I/O failure; restart stratad",
			 t->name);
		return STRATA_EREAD_ONLY;
	}
	if (t->rows + nrows > MAX_TABLE_ROWS) {
		pthread_rwlock_unlock(&t->lock);
		snprintf(msg, msglen, "table '%s' would exceed %llu rows", t->name,
			 (unsigned long long)MAX_TABLE_ROWS);
		return STRATA_ETOO_LARGE;
	}
	struct col_rowgroup *tail = NULL;
	if (t->nrg && t->rg[t->nrg - 1].rows < t->row_group_rows)
		tail = &t->rg[t->nrg - 1];
	size_t keep = t->nrg - (tail ? 1 : 0);
	size_t total = nrows + (tail ? tail->rows : 0);
	size_t nnew = (total + t->row_group_rows - 1) / t->row_group_rows;
	struct colbuf *cbs = calloc(t->ncols, sizeof(*cbs));
	struct col_rowgroup *nrg = calloc(keep + nnew, sizeof(*nrg));
	uint8_t *hll = malloc(t->ncols * COL_HLL_REGS);
	char *strpool = NULL;
	size_t written = 0;
	enum col_encoding *prev_enc = calloc(t->ncols, sizeof(*prev_enc));
	if (!cbs || !nrg || !hll || !prev_enc) {
		rv = STRATA_ENOMEM;
		goto fail;
	}
	memcpy(hll, t->hll, t->ncols * COL_HLL_REGS);
	if ((rv = gather(t, cols, nrows, tail, cbs, &strpool)) != 0) {
		snprintf(msg, msglen, "cannot read the last row group of '%s': %s", t->name,
			 strata_strerror(rv));
		goto fail;
	}
	uint64_t seq = t->next_seq;
	for (size_t g = 0; g < nnew; g++) {
		size_t from = g * t->row_group_rows;
		uint32_t n = (uint32_t)(total - from < t->row_group_rows ? total - from : t->row_group_rows);
		if ((rv = write_rowgroup(t, cbs, from, n, seq++, hll, &nrg[keep + g])) != 0) {
			snprintf(msg, msglen, "cannot write a row group of '%s': %s", t->name,
				 strata_strerror(rv));
			goto fail;
		}
		written++;
	}
	if ((rv = file_sync_dir(t->dir)) != 0) {
		snprintf(msg, msglen, "cannot sync the directory of '%s': %s", t->name, strata_strerror(rv));
		goto fail;
	}
	memcpy(nrg, t->rg, keep * sizeof(*nrg));
	uint64_t row = keep ? nrg[keep - 1].first_row + nrg[keep - 1].rows : 0;
	for (size_t g = keep; g < keep + nnew; g++) {
		nrg[g].first_row = row;
		row += nrg[g].rows;
	}
	struct wbuf m;
	if ((rv = manifest_encode(t, nrg, keep + nnew, seq, hll, &m)) != 0)
		goto fail_keep;
	bool renamed;
	rv = manifest_write(t->dir, &m, &renamed);
	free(m.p);
	if (rv && !renamed) {
		snprintf(msg, msglen, "cannot write the manifest of '%s': %s", t->name, strata_strerror(rv));
		goto fail_keep;
	}
	if (rv) {
		/* renamed, but the directory sync failed: the outcome after a
		 * crash is unknown; serve what we wrote, accept no more */
		t->failed = true;
		snprintf(msg, msglen, "table '%s': syncing the manifest failed (%s); the table is read-only",
			 t->name, strata_strerror(rv));
	}
	/* switch */
	for (size_t c = 0; c < t->ncols; c++) {
		struct col_rowgroup *before = tail ? tail : (keep ? &t->rg[keep - 1] : NULL);
		prev_enc[c] = before ? (enum col_encoding)before->chunks[c].enc : COL_ENC_COUNT;
	}
	uint64_t old_tail_seq = tail ? tail->seq : 0;
	if (tail) {
		for (size_t c = 0; c < t->ncols; c++)
			chunk_meta_clear(&tail->chunks[c]);
		free(tail->chunks);
	}
	free(t->rg);
	t->rg = nrg;
	t->nrg = keep + nnew;
	t->next_seq = seq;
	t->rows = row;
	memcpy(t->hll, hll, t->ncols * COL_HLL_REGS);
	if (tail) {
		char path[4600];
		rg_path(t, old_tail_seq, path, sizeof(path));
		(void)unlink(path);
	}
	for (size_t c = 0; c < t->ncols; c++) {
		enum col_encoding prev = prev_enc[c];
		for (size_t g = keep; g < keep + nnew; g++) {
			const struct col_chunk_meta *cm = &t->rg[g].chunks[c];
			if (prev != COL_ENC_COUNT && prev != cm->enc)
				emit_encoding_changed(t, c, prev, cm);
			prev = (enum col_encoding)cm->enc;
		}
	}
	struct strata_event ev = {.variant = STRATA_EV_BatchInserted};
	snprintf(ev.u.BatchInserted.table_name, sizeof(ev.u.BatchInserted.table_name), "%s", t->name);
	ev.u.BatchInserted.rows = nrows;
	ev.u.BatchInserted.columns = t->ncols;
	ev.u.BatchInserted.timestamp = clock_wall_us() / 1000000;
	emit(&ev);
	stat_add(&core_stats()->columnar.batches, 1);
	stat_add(&core_stats()->columnar.rows_inserted, nrows);
	pthread_rwlock_unlock(&t->lock);
	colbufs_free(cbs, t->ncols);
	free(strpool);
	free(hll);
	free(prev_enc);
	return rv;

fail_keep:
	/* nrg[0..keep) alias t->rg: only the new ones are ours */
	memset(nrg, 0, keep * sizeof(*nrg));
fail:
	if (nrg) {
		for (size_t g = keep; g < keep + written; g++) {
			char path[4600];
			rg_path(t, nrg[g].seq, path, sizeof(path));
			(void)unlink(path);
		}
		rowgroups_free(nrg, keep + nnew, t->ncols);
	}
	pthread_rwlock_unlock(&t->lock);
	colbufs_free(cbs, t->ncols);
	free(strpool);
	free(hll);
	free(prev_enc);
	return rv;
}

/* ---- info ----------------------------------------------------------------------------------- */

void col_table_get_info(struct col_table *t, struct col_table_info *o)
{
	pthread_rwlock_rdlock(&t->lock);
	memset(o, 0, sizeof(*o));
	o->name = t->name;
	o->tablespace = t->tablespace;
	o->cols = t->cols;
	o->ncols = t->ncols;
	o->row_group_rows = t->row_group_rows;
	o->rows = t->rows;
	o->row_groups = t->nrg;
	o->chunks = t->nrg * t->ncols;
	for (size_t i = 0; i < t->nrg; i++) {
		o->file_bytes += t->rg[i].file_bytes;
		for (size_t c = 0; c < t->ncols; c++) {
			o->stored_bytes += t->rg[i].chunks[c].len;
			o->plain_bytes += t->rg[i].chunks[c].plain_bytes;
		}
	}
	char path[4400];
	snprintf(path, sizeof(path), "%s/MANIFEST", t->dir);
	struct sfile *f;
	uint64_t sz = 0;
	if (file_open(&f, path, FILE_RDONLY, "manifest") == 0) {
		if (file_size(f, &sz) == 0)
			o->file_bytes += sz;
		file_close(f);
	}
	pthread_rwlock_unlock(&t->lock);
}

int col_table_column(struct col_table *t, const char *name)
{
	for (size_t c = 0; c < t->ncols; c++)
		if (strcmp(t->cols[c].name, name) == 0)
			return (int)c;
	return -1;
}
