/*
 * core/lsm_sstable.c — see lsm_sstable.h for the format and contract.
 */
#include "core/lsm_sstable.h"

#include <lz4.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bloom.h"
#include "core/lsm_cache.h"
#include "core/crc32c.h"
#include "core/file.h"
#include "core/lsm_coding.h"
#include "core/stats.h"
#include "strata/error.h"

#define SST_MAGIC 0x3154535341525453ull /* "STRASST1" */
#define SST_VERSION 1u
#define FOOTER 64u
#define TRAILER 5u
#define COMP_RAW 0
#define COMP_LZ4 1
/* Upper bound for any one block, checked before allocating on read. */
#define BLOCK_MAX (256u << 20)

static atomic_uint_fast64_t corruptions;

uint64_t lsm_sst_corruptions(void) { return atomic_load(&corruptions); }

static int corrupt(void)
{
	atomic_fetch_add(&corruptions, 1);
	stat_add(&core_stats()->io.checksum_failures, 1);
	return STRATA_ECORRUPT;
}

/* ---- growable buffer ------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	uint8_t *np = realloc(b->p, cap);
	if (!np)
		return STRATA_ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const void *p, size_t n)
{
	int rv = buf_reserve(b, n);
	if (rv)
		return rv;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- writer ---------------------------------------------------------------- */

struct lsm_sst_writer {
	struct sfile *f;
	char *path;
	struct lsm_sst_opts o;
	uint64_t off;            /* bytes written */
	struct buf block;        /* current data block's entries */
	struct buf offsets;      /* u32 entry offsets of the current block */
	struct buf index;
	struct buf scratch;      /* compression output */
	uint64_t *hashes;
	size_t nhashes, hcap;
	struct buf last;         /* last key added */
	struct buf first;        /* first key of the table */
	uint64_t entries, tombstones;
	uint32_t block_count;    /* entries in the current block */
};

int lsm_sst_writer_open(struct lsm_sst_writer **out, const char *path,
			const struct lsm_sst_opts *o)
{
	struct lsm_sst_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return STRATA_ENOMEM;
	w->o = *o;
	if (w->o.block_bytes < 256)
		w->o.block_bytes = 256;
	w->path = strdup(path);
	if (!w->path) {
		free(w);
		return STRATA_ENOMEM;
	}
	int rv = file_open(&w->f, path, FILE_CREATE | FILE_TRUNC, "sst");
	if (rv) {
		free(w->path);
		free(w);
		return rv;
	}
	*out = w;
	return 0;
}

/* Writes stored bytes + trailer at the current offset. */
static int write_block(struct lsm_sst_writer *w, const uint8_t *p, size_t len, uint8_t comp,
		       uint64_t *off, uint64_t *stored)
{
	uint8_t tr[TRAILER];
	tr[0] = comp;
	lsm_put_u32(tr + 1, crc32c(crc32c(0, p, len), tr, 1));
	struct iovec iov[2] = {{(void *)p, len}, {tr, TRAILER}};
	int rv = file_pwritev(w->f, iov, 2, w->off);
	if (rv)
		return rv;
	*off = w->off;
	*stored = len + TRAILER;
	w->off += len + TRAILER;
	return 0;
}

static int flush_block(struct lsm_sst_writer *w)
{
	if (w->block_count == 0)
		return 0;
	uint8_t cnt[4];
	lsm_put_u32(cnt, w->block_count);
	int rv;
	if ((rv = buf_append(&w->block, w->offsets.p, w->offsets.len)) ||
	    (rv = buf_append(&w->block, cnt, 4)))
		return rv;
	const uint8_t *out = w->block.p;
	size_t outlen = w->block.len;
	uint8_t comp = COMP_RAW;
	if (w->o.compress && w->block.len <= (size_t)LZ4_MAX_INPUT_SIZE) {
		int bound = LZ4_compressBound((int)w->block.len);
		w->scratch.len = 0;
		if ((rv = buf_reserve(&w->scratch, (size_t)bound)))
			return rv;
		int n = LZ4_compress_default((const char *)w->block.p, (char *)w->scratch.p,
					     (int)w->block.len, bound);
		if (n > 0 && (size_t)n < w->block.len - w->block.len / 8) {
			out = w->scratch.p;
			outlen = (size_t)n;
			comp = COMP_LZ4;
		}
	}
	uint64_t boff, stored;
	if ((rv = write_block(w, out, outlen, comp, &boff, &stored)))
		return rv;
	/* index entry: last key, offset, stored size, raw size */
	uint8_t tmp[10 + 16];
	size_t n = lsm_put_varint(tmp, w->last.len);
	if ((rv = buf_append(&w->index, tmp, n)) || (rv = buf_append(&w->index, w->last.p, w->last.len)))
		return rv;
	lsm_put_u64(tmp, boff);
	lsm_put_u32(tmp + 8, (uint32_t)stored);
	lsm_put_u32(tmp + 12, (uint32_t)w->block.len);
	if ((rv = buf_append(&w->index, tmp, 16)))
		return rv;
	w->block.len = 0;
	w->offsets.len = 0;
	w->block_count = 0;
	return 0;
}

int lsm_sst_writer_add(struct lsm_sst_writer *w, const void *key, size_t klen, int type,
		       const void *val, size_t vlen)
{
	if (w->entries && lsm_key_cmp(key, klen, w->last.p, w->last.len) <= 0)
		return STRATA_EBAD_REQUEST;
	if (type != LSM_TYPE_PUT)
		vlen = 0;
	int rv;
	uint8_t hdr[1 + 20], off[4];
	size_t h = 0;
	hdr[h++] = (uint8_t)type;
	h += lsm_put_varint(hdr + h, klen);
	h += lsm_put_varint(hdr + h, vlen);
	lsm_put_u32(off, (uint32_t)w->block.len);
	if ((rv = buf_append(&w->offsets, off, 4)) || (rv = buf_append(&w->block, hdr, h)) ||
	    (rv = buf_append(&w->block, key, klen)) || (rv = buf_append(&w->block, val, vlen)))
		return rv;
	if (w->nhashes == w->hcap) {
		size_t cap = w->hcap ? w->hcap * 2 : 1024;
		uint64_t *nh = realloc(w->hashes, cap * sizeof(*nh));
		if (!nh)
			return STRATA_ENOMEM;
		w->hashes = nh;
		w->hcap = cap;
	}
	w->hashes[w->nhashes++] = bloom_hash(key, klen);
	w->last.len = 0;
	if ((rv = buf_append(&w->last, key, klen)))
		return rv;
	if (w->entries == 0 && (rv = buf_append(&w->first, key, klen)))
		return rv;
	w->entries++;
	if (type == LSM_TYPE_DEL)
		w->tombstones++;
	w->block_count++;
	if (w->block.len + w->offsets.len >= w->o.block_bytes)
		return flush_block(w);
	return 0;
}

uint64_t lsm_sst_writer_size(const struct lsm_sst_writer *w)
{
	return w->off + w->block.len + w->index.len + w->nhashes * w->o.bloom_bits / 8 + FOOTER;
}

uint64_t lsm_sst_writer_entries(const struct lsm_sst_writer *w) { return w->entries; }

static void writer_free(struct lsm_sst_writer *w)
{
	free(w->block.p);
	free(w->offsets.p);
	free(w->index.p);
	free(w->scratch.p);
	free(w->hashes);
	free(w->last.p);
	free(w->first.p);
	free(w->path);
	free(w);
}

void lsm_sst_writer_abort(struct lsm_sst_writer *w)
{
	if (!w)
		return;
	(void)file_close(w->f);
	(void)unlink(w->path);
	writer_free(w);
}

int lsm_sst_writer_finish(struct lsm_sst_writer *w, struct lsm_sst_info *info)
{
	memset(info, 0, sizeof(*info));
	int rv;
	uint8_t *filter = NULL;
	if (w->entries == 0) {
		rv = STRATA_EBAD_REQUEST;
		goto fail;
	}
	if ((rv = flush_block(w)))
		goto fail;
	size_t flen = bloom_size(w->nhashes, w->o.bloom_bits);
	filter = malloc(flen);
	if (!filter) {
		rv = STRATA_ENOMEM;
		goto fail;
	}
	bloom_build(w->hashes, w->nhashes, w->o.bloom_bits, filter);
	uint64_t foff, fsize, ioff, isize;
	if ((rv = write_block(w, filter, flen, COMP_RAW, &foff, &fsize)) ||
	    (rv = write_block(w, w->index.p, w->index.len, COMP_RAW, &ioff, &isize)))
		goto fail;
	uint8_t ft[FOOTER] = {0};
	lsm_put_u64(ft, SST_MAGIC);
	lsm_put_u32(ft + 8, SST_VERSION);
	lsm_put_u64(ft + 16, ioff);
	lsm_put_u64(ft + 24, isize);
	lsm_put_u64(ft + 32, foff);
	lsm_put_u64(ft + 40, fsize);
	lsm_put_u64(ft + 48, w->entries);
	lsm_put_u32(ft + 56, crc32c(0, ft, 56));
	if ((rv = file_pwrite(w->f, ft, FOOTER, w->off)))
		goto fail;
	w->off += FOOTER;
	if ((rv = file_sync(w->f)))
		goto fail;
	rv = file_close(w->f);
	w->f = NULL;
	if (rv)
		goto fail;
	info->size = w->off;
	info->entries = w->entries;
	info->tombstones = w->tombstones;
	info->smallest = w->first.p;
	info->slen = w->first.len;
	info->largest = w->last.p;
	info->llen = w->last.len;
	w->first.p = w->last.p = NULL;
	free(filter);
	writer_free(w);
	return 0;
fail:
	free(filter);
	if (w->f)
		(void)file_close(w->f);
	(void)unlink(w->path);
	writer_free(w);
	return rv;
}

void lsm_sst_info_free(struct lsm_sst_info *info)
{
	free(info->smallest);
	free(info->largest);
	info->smallest = info->largest = NULL;
}

/* ---- reader ---------------------------------------------------------------- */

struct index_entry {
	const uint8_t *key; /* into index */
	size_t klen;
	uint64_t off;
	uint32_t stored, raw;
};

struct lsm_sst {
	struct sfile *f;
	struct file_map *map; /* NULL: blocks are read with pread */
	uint64_t size, entries;
	uint8_t *index;      /* raw index block */
	struct index_entry *blocks;
	size_t nblocks;
	uint8_t *filter;
	size_t flen;
	struct lsm_cache *cache; /* NULL: every block is read from the file */
	uint64_t cache_id;
};

void lsm_sst_set_cache(struct lsm_sst *r, struct lsm_cache *c)
{
	r->cache = c;
	r->cache_id = lsm_cache_new_id();
}

/* Reads a block (stored bytes + trailer) at off and verifies it: copied out
 * of the mapping when the table is mapped (the copy is guarded: a page that
 * cannot be read is STRATA_EIO, not SIGBUS; see core/file.h), else pread.
 * On success *out holds the raw (decompressed) bytes, malloc'd (the
 * caller's), and *lz4 whether the block was stored compressed. The CRC is
 * checked on every call. */
static int read_block(struct lsm_sst *r, uint64_t off, uint64_t stored, uint32_t raw,
		      uint8_t **out, size_t *outlen, bool *lz4)
{
	if (stored < TRAILER || stored > BLOCK_MAX || off > r->size || stored > r->size - off)
		return corrupt();
	uint8_t *buf = malloc(stored);
	if (!buf)
		return STRATA_ENOMEM;
	int rv = r->map ? file_map_read(r->map, off, stored, buf)
			: file_pread(r->f, buf, stored, off);
	if (rv) {
		free(buf);
		return rv == STRATA_ENOT_FOUND ? corrupt() : rv;
	}
	const uint8_t *p = buf;
	size_t len = stored - TRAILER;
	if (crc32c(crc32c(0, p, len), p + len, 1) != lsm_get_u32(p + len + 1)) {
		free(buf);
		return corrupt();
	}
	uint8_t comp = p[len];
	if (comp == COMP_RAW) {
		*lz4 = false;
		*out = buf;
		*outlen = len;
		return 0;
	}
	if (comp != COMP_LZ4 || raw == 0 || raw > BLOCK_MAX) {
		free(buf);
		return corrupt();
	}
	uint8_t *d = malloc(raw);
	if (!d) {
		free(buf);
		return STRATA_ENOMEM;
	}
	int n = LZ4_decompress_safe((const char *)p, (char *)d, (int)len, (int)raw);
	free(buf);
	if (n != (int)raw) {
		free(d);
		return corrupt();
	}
	*out = d;
	*outlen = raw;
	*lz4 = true;
	return 0;
}

static int parse_index(struct lsm_sst *r, size_t len)
{
	const uint8_t *p = r->index, *end = r->index + len;
	size_t cap = 0;
	while (p < end) {
		uint64_t klen;
		if (!lsm_get_varint(&p, end, &klen) || klen > (uint64_t)(end - p) ||
		    (uint64_t)(end - p) - klen < 16)
			return corrupt();
		if (r->nblocks == cap) {
			cap = cap ? cap * 2 : 64;
			struct index_entry *nb = realloc(r->blocks, cap * sizeof(*nb));
			if (!nb)
				return STRATA_ENOMEM;
			r->blocks = nb;
		}
		struct index_entry *e = &r->blocks[r->nblocks++];
		e->key = p;
		e->klen = (size_t)klen;
		p += klen;
		e->off = lsm_get_u64(p);
		e->stored = lsm_get_u32(p + 8);
		e->raw = lsm_get_u32(p + 12);
		p += 16;
	}
	return r->nblocks ? 0 : corrupt();
}

int lsm_sst_open(struct lsm_sst **out, const char *path)
{
	return lsm_sst_open_ex(out, path, false);
}

int lsm_sst_open_ex(struct lsm_sst **out, const char *path, bool map)
{
	struct lsm_sst *r = calloc(1, sizeof(*r));
	if (!r)
		return STRATA_ENOMEM;
	int rv = file_open(&r->f, path, FILE_RDONLY, "sst");
	if (rv) {
		free(r);
		return rv;
	}
	uint8_t ft[FOOTER];
	size_t ilen;
	if ((rv = file_size(r->f, &r->size)))
		goto fail;
	if (r->size < FOOTER) {
		rv = corrupt();
		goto fail;
	}
	if ((rv = file_pread(r->f, ft, FOOTER, r->size - FOOTER)))
		goto fail;
	if (lsm_get_u64(ft) != SST_MAGIC || lsm_get_u32(ft + 8) != SST_VERSION ||
	    crc32c(0, ft, 56) != lsm_get_u32(ft + 56)) {
		rv = corrupt();
		goto fail;
	}
	uint64_t ioff = lsm_get_u64(ft + 16), isize = lsm_get_u64(ft + 24);
	uint64_t foff = lsm_get_u64(ft + 32), fsize = lsm_get_u64(ft + 40);
	r->entries = lsm_get_u64(ft + 48);
	/* Index and filter are copied (verified once, here): they are used on
	 * every lookup. A failed mapping leaves the pread path. */
	bool lz4;
	if (map && file_map(r->f, r->size, &r->map) != 0)
		r->map = NULL;
	if ((rv = read_block(r, ioff, isize, 0, &r->index, &ilen, &lz4)) ||
	    (rv = read_block(r, foff, fsize, 0, &r->filter, &r->flen, &lz4)) ||
	    (rv = parse_index(r, ilen)))
		goto fail;
	*out = r;
	return 0;
fail:
	lsm_sst_close(r);
	return rv;
}

void lsm_sst_close(struct lsm_sst *r)
{
	if (!r)
		return;
	file_unmap(r->map);
	(void)file_close(r->f); /* read-only: nothing to lose */
	free(r->index);
	free(r->blocks);
	free(r->filter);
	free(r);
}

uint64_t lsm_sst_entries(const struct lsm_sst *r) { return r->entries; }
bool lsm_sst_mapped(const struct lsm_sst *r) { return r->map != NULL; }
uint64_t lsm_sst_file_size(const struct lsm_sst *r) { return r->size; }

bool lsm_sst_may_contain(const struct lsm_sst *r, uint64_t key_hash)
{
	return bloom_may_contain(r->filter, r->flen, key_hash);
}

/* Index of the first block whose last key >= key; nblocks if none. */
static size_t find_block(const struct lsm_sst *r, const void *key, size_t klen)
{
	size_t lo = 0, hi = r->nblocks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lsm_key_cmp(r->blocks[mid].key, r->blocks[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A decoded data block: its bytes are a referenced cache entry's (ce), owned
 * (malloc'd), or in the table's mapping (neither). */
struct block {
	uint8_t *data;
	size_t len;          /* entries area length */
	const uint8_t *offs; /* u32 offsets */
	uint32_t count;
	bool owned;
	struct lsm_cache_entry *ce;
	struct lsm_cache *cache;
};

static void block_release(struct block *b)
{
	if (b->ce)
		lsm_cache_release(b->cache, b->ce);
	else if (b->owned)
		free(b->data);
	b->owned = false;
	b->data = NULL;
	b->ce = NULL;
}

/* Sets b's layout from raw block bytes d (len); false if malformed. */
static bool block_parse(struct block *b, uint8_t *d, size_t len)
{
	if (len < 4)
		return false;
	uint32_t count = lsm_get_u32(d + len - 4);
	if (count == 0 || (uint64_t)count * 4 + 4 > len)
		return false;
	b->data = d;
	b->count = count;
	b->len = len - 4 - (size_t)count * 4;
	b->offs = d + b->len;
	return true;
}

/* Loads data block bi: from the cache when there, else read, verified and
 * (fill) inserted. Only verified, well-formed blocks enter the cache. A
 * mapped table copies blocks stored raw out of the mapping on every load,
 * verified each time, and caches only decompressed blocks (as LevelDB does
 * with mmap'd tables: the page cache holds them already). */
static int block_load(struct lsm_sst *r, size_t bi, struct block *b, bool fill)
{
	const struct index_entry *ie = &r->blocks[bi];
	b->ce = NULL;
	b->owned = false;
	b->cache = r->cache;
	bool mapped_raw = r->map && ie->stored >= TRAILER && ie->stored - TRAILER == ie->raw;
	if (mapped_raw) {
		uint8_t *d;
		size_t len;
		bool lz4;
		int rv = read_block(r, ie->off, ie->stored, ie->raw, &d, &len, &lz4);
		if (rv)
			return rv;
		b->owned = true;
		if (!block_parse(b, d, len)) {
			free(d);
			b->owned = false;
			b->data = NULL;
			return corrupt();
		}
		if (lz4 && r->cache && fill) { /* stored compressed after all */
			struct lsm_cache_entry *e = lsm_cache_insert(r->cache, r->cache_id, ie->off, d, len);
			b->owned = false;
			if (!e) {
				b->data = NULL;
				return STRATA_ENOMEM;
			}
			b->ce = e;
		}
		return 0;
	}
	if (r->cache) {
		struct lsm_cache_entry *e = lsm_cache_lookup(r->cache, r->cache_id, r->blocks[bi].off);
		if (e) {
			(void)block_parse(b, e->data, e->len); /* parsed before insert */
			b->ce = e;
			return 0;
		}
	}
	uint8_t *d;
	size_t len;
	bool lz4;
	int rv = read_block(r, ie->off, ie->stored, ie->raw, &d, &len, &lz4);
	if (rv)
		return rv;
	if (!block_parse(b, d, len)) {
		free(d);
		b->data = NULL;
		return corrupt();
	}
	b->owned = true;
	if (r->cache && fill) {
		struct lsm_cache_entry *e = lsm_cache_insert(r->cache, r->cache_id, ie->off, d, len);
		b->owned = false;
		if (!e) {
			b->data = NULL;
			return STRATA_ENOMEM;
		}
		b->ce = e;
	}
	return 0;
}

/* Decodes entry i of b into e. */
static int block_entry(const struct block *b, uint32_t i, struct lsm_entry *e)
{
	uint32_t off = lsm_get_u32(b->offs + (size_t)i * 4);
	if (off >= b->len)
		return corrupt();
	const uint8_t *p = b->data + off, *end = b->data + b->len;
	uint8_t type = *p++;
	uint64_t klen, vlen;
	if ((type != LSM_TYPE_PUT && type != LSM_TYPE_DEL) || !lsm_get_varint(&p, end, &klen) ||
	    !lsm_get_varint(&p, end, &vlen) || klen > (uint64_t)(end - p) ||
	    vlen > (uint64_t)(end - p) - klen)
		return corrupt();
	e->type = type;
	e->key = p;
	e->klen = (size_t)klen;
	e->val = p + klen;
	e->vlen = (size_t)vlen;
	return 0;
}

/* First entry index in b with key >= key (count if none). */
static int block_seek(const struct block *b, const void *key, size_t klen, uint32_t *pos)
{
	uint32_t lo = 0, hi = b->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		struct lsm_entry e;
		int rv = block_entry(b, mid, &e);
		if (rv)
			return rv;
		if (lsm_key_cmp(e.key, e.klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return 0;
}

int lsm_sst_get(struct lsm_sst *r, const void *key, size_t klen, int *type, void **val,
		size_t *vlen)
{
	size_t bi = find_block(r, key, klen);
	if (bi == r->nblocks)
		return STRATA_ENOT_FOUND;
	struct block b;
	int rv = block_load(r, bi, &b, true);
	if (rv)
		return rv;
	uint32_t pos;
	struct lsm_entry e;
	if ((rv = block_seek(&b, key, klen, &pos)))
		goto out;
	if (pos == b.count) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	if ((rv = block_entry(&b, pos, &e)))
		goto out;
	if (lsm_key_cmp(e.key, e.klen, key, klen) != 0) {
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	*type = e.type;
	*val = NULL;
	*vlen = 0;
	if (e.type == LSM_TYPE_PUT) {
		*val = malloc(e.vlen ? e.vlen : 1);
		if (!*val) {
			rv = STRATA_ENOMEM;
			goto out;
		}
		memcpy(*val, e.val, e.vlen);
		*vlen = e.vlen;
	}
out:
	block_release(&b);
	return rv;
}

/* ---- cursor ---------------------------------------------------------------- */

struct sst_cursor {
	struct lsm_cursor base;
	struct lsm_sst *r;
	size_t bi;          /* current block; nblocks = exhausted */
	struct block b;     /* loaded block (data NULL if none) */
	uint32_t pos;
	struct lsm_entry e;
	bool fill;          /* insert the blocks read into the cache */
};

static void cur_drop(struct sst_cursor *c)
{
	block_release(&c->b);
}

/* Loads block bi and positions on entry pos, moving on to later blocks when
 * pos is past the end of this one. */
static int cur_settle(struct sst_cursor *c, size_t bi, uint32_t pos, const void *key,
		      size_t klen)
{
	for (;;) {
		if (bi >= c->r->nblocks) {
			cur_drop(c);
			c->bi = c->r->nblocks;
			return 0;
		}
		if (!c->b.data || c->bi != bi) {
			cur_drop(c);
			int rv = block_load(c->r, bi, &c->b, c->fill);
			if (rv) {
				c->bi = c->r->nblocks;
				return rv;
			}
			c->bi = bi;
			if (key) {
				if ((rv = block_seek(&c->b, key, klen, &pos))) {
					c->bi = c->r->nblocks;
					return rv;
				}
				key = NULL;
			}
		}
		if (pos < c->b.count) {
			c->pos = pos;
			int rv = block_entry(&c->b, pos, &c->e);
			if (rv)
				c->bi = c->r->nblocks;
			return rv;
		}
		bi++;
		pos = 0;
	}
}

static int sst_seek(struct lsm_cursor *base, const void *key, size_t klen)
{
	struct sst_cursor *c = (struct sst_cursor *)base;
	if (klen == 0)
		return cur_settle(c, 0, 0, NULL, 0);
	size_t bi = find_block(c->r, key, klen);
	cur_drop(c);
	return cur_settle(c, bi, 0, key, klen);
}

static int sst_next(struct lsm_cursor *base)
{
	struct sst_cursor *c = (struct sst_cursor *)base;
	return cur_settle(c, c->bi, c->pos + 1, NULL, 0);
}

static bool sst_valid(const struct lsm_cursor *base)
{
	const struct sst_cursor *c = (const struct sst_cursor *)base;
	return c->bi < c->r->nblocks;
}

static void sst_entry(const struct lsm_cursor *base, struct lsm_entry *e)
{
	*e = ((const struct sst_cursor *)base)->e;
}

static void sst_free(struct lsm_cursor *base)
{
	struct sst_cursor *c = (struct sst_cursor *)base;
	cur_drop(c);
	free(c);
}

static const struct lsm_cursor_ops sst_ops = {
	.seek = sst_seek,
	.next = sst_next,
	.valid = sst_valid,
	.entry = sst_entry,
	.free = sst_free,
};

int lsm_sst_cursor(struct lsm_sst *r, struct lsm_cursor **out)
{
	return lsm_sst_cursor_ex(r, true, out);
}

int lsm_sst_cursor_ex(struct lsm_sst *r, bool fill_cache, struct lsm_cursor **out)
{
	struct sst_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return STRATA_ENOMEM;
	c->base.ops = &sst_ops;
	c->fill = fill_cache;
	c->r = r;
	c->bi = r->nblocks;
	*out = &c->base;
	return 0;
}
