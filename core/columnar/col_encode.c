/*
 * core/columnar/col_encode.c — the chunk encodings, their exact size
 * estimates, and the decoders.
 *
 * Formats of the encoded values (little-endian; "packed(n, w)" is n values
 * of w bits, LSB first, ceil(n*w/8) bytes):
 *
 *   Plain          int64/timestamp/float64: n x 8 bytes; bool: n x 1 byte;
 *                  string: u32 len[n], then the bytes
 *   BitPacked      int64/timestamp/bool: i64 base (the minimum), u8 w,
 *                  packed(n, w) of (v - base) (frame of reference)
 *   DeltaBitPacked int64/timestamp: i64 first, i64 min_delta, u8 w,
 *                  packed(n-1, w) of (delta - min_delta); deltas wrap
 *   Delta          int64/timestamp: i64 first, then n-1 zigzag varints of
 *                  the (wrapping) deltas
 *   RunLength      u32 runs, then per run the value (8 bytes; bool 1 byte;
 *                  string: see below) and u32 length; string: u32 runs,
 *                  u32 len[runs], bytes, u32 runlen[runs]
 *   Dictionary     u32 entries, entries x 8 bytes (float64: bit patterns;
 *                  string: u32 len[entries] then bytes), u8 w,
 *                  packed(n, w) codes; entries in first-seen order
 *
 * Every size function returns the exact number of bytes its encoder writes,
 * so choosing the smallest estimate chooses the smallest chunk.
 */
#include <stdlib.h>
#include <string.h>

#include "core/columnar/col_internal.h"
#include "strata/error.h"

/* ---- small helpers -------------------------------------------------------- */

static inline unsigned bit_width(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static inline size_t packed_bytes(size_t n, unsigned w)
{
	return (n * w + 7) / 8;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Packs n values of w bits (each < 2^w) into out. */
static void pack_bits(const uint64_t *v, size_t n, unsigned w, uint8_t *out)
{
	if (w == 0)
		return;
	unsigned __int128 acc = 0;
	unsigned nbits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		acc |= (unsigned __int128)v[i] << nbits;
		nbits += w;
		while (nbits >= 8) {
			out[o++] = (uint8_t)acc;
			acc >>= 8;
			nbits -= 8;
		}
	}
	if (nbits)
		out[o++] = (uint8_t)acc;
}

/* Value i of a packed array (COL_PAD readable bytes after it). */
static inline uint64_t unpack_one(const uint8_t *in, size_t i, unsigned w)
{
	size_t bit = i * w;
	const uint8_t *p = in + (bit >> 3);
	unsigned sh = (unsigned)(bit & 7);
	uint64_t mask = w == 64 ? ~0ull : ((1ull << w) - 1);
	if (w <= 56)
		return (get64(p) >> sh) & mask;
	unsigned __int128 x = (unsigned __int128)get64(p) | ((unsigned __int128)get64(p + 8) << 64);
	return (uint64_t)(x >> sh) & mask;
}

/* out[i] = base + unpacked[i] for n values. */
static void unpack_add(const uint8_t *in, size_t n, unsigned w, int64_t base, int64_t *out)
{
	if (w == 0) {
		for (size_t i = 0; i < n; i++)
			out[i] = base;
		return;
	}
	if (w <= 56) {
		uint64_t mask = (1ull << w) - 1;
		size_t bit = 0;
		for (size_t i = 0; i < n; i++, bit += w)
			out[i] = (int64_t)((uint64_t)base + ((get64(in + (bit >> 3)) >> (bit & 7)) & mask));
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (int64_t)((uint64_t)base + unpack_one(in, i, w));
}

static void unpack_u32(const uint8_t *in, size_t n, unsigned w, uint32_t *out)
{
	if (w == 0) {
		memset(out, 0, n * sizeof(*out));
		return;
	}
	uint64_t mask = (1ull << w) - 1;
	size_t bit = 0;
	for (size_t i = 0; i < n; i++, bit += w)
		out[i] = (uint32_t)((get64(in + (bit >> 3)) >> (bit & 7)) & mask);
}

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline size_t varint_len(uint64_t u)
{
	size_t n = 1;
	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

/* ---- hashing ------------------------------------------------------------- */

uint64_t col_hash64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t col_hash_bytes(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		h = col_hash64(h ^ get64(s + i));
	uint64_t tail = 0;
	memcpy(&tail, s + i, n - i);
	return col_hash64(h ^ tail ^ ((uint64_t)(n - i) << 56));
}

void col_hll_add(uint8_t *regs, uint64_t hash)
{
	uint32_t idx = (uint32_t)(hash >> (64 - COL_HLL_BITS));
	uint64_t rest = (hash << COL_HLL_BITS) | (1ull << (COL_HLL_BITS - 1));
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
	if (rank > regs[idx])
		regs[idx] = rank;
}

uint64_t col_hll_estimate(const uint8_t *regs)
{
	double m = COL_HLL_REGS, sum = 0;
	unsigned zeros = 0;
	for (unsigned i = 0; i < COL_HLL_REGS; i++) {
		sum += 1.0 / (double)(1ull << regs[i]);
		zeros += regs[i] == 0;
	}
	double alpha = 0.7213 / (1 + 1.079 / m);
	double e = alpha * m * m / sum;
	if (e <= 2.5 * m && zeros) {
		/* linear counting for small cardinalities */
		double lc = m * __builtin_log(m / zeros);
		return (uint64_t)(lc + 0.5);
	}
	return (uint64_t)(e + 0.5);
}

/* ---- a hash set of 64-bit keys, first-seen order ---------------------------- */

struct u64set {
	uint64_t *keys;
	uint32_t *slot;   /* index+1 into order, 0 = empty */
	uint64_t *order;  /* distinct keys in first-seen order */
	size_t n, mask;
};

static int u64set_init(struct u64set *s, size_t expected)
{
	size_t cap = 16;
	while (cap < expected * 2)
		cap <<= 1;
	s->slot = calloc(cap, sizeof(*s->slot));
	s->order = malloc((expected + 1) * sizeof(*s->order));
	s->keys = NULL;
	s->n = 0;
	s->mask = cap - 1;
	if (!s->slot || !s->order) {
		free(s->slot);
		free(s->order);
		return STRATA_ENOMEM;
	}
	return 0;
}

static void u64set_free(struct u64set *s)
{
	free(s->slot);
	free(s->order);
}

/* Index of key (added if new). */
static uint32_t u64set_put(struct u64set *s, uint64_t key)
{
	size_t h = col_hash64(key) & s->mask;
	for (;;) {
		uint32_t sl = s->slot[h];
		if (sl == 0) {
			s->order[s->n] = key;
			s->slot[h] = (uint32_t)++s->n;
			return (uint32_t)(s->n - 1);
		}
		if (s->order[sl - 1] == key)
			return sl - 1;
		h = (h + 1) & s->mask;
	}
}

/* A hash set of strings (indexes into the input), first-seen order. */
struct strset {
	uint32_t *slot;   /* index+1 into order */
	uint32_t *order;  /* input index of each distinct string */
	size_t n, mask;
	const struct col_str *str;
};

static int strset_init(struct strset *s, const struct col_str *str, size_t expected)
{
	size_t cap = 16;
	while (cap < expected * 2)
		cap <<= 1;
	s->slot = calloc(cap, sizeof(*s->slot));
	s->order = malloc((expected + 1) * sizeof(*s->order));
	s->n = 0;
	s->mask = cap - 1;
	s->str = str;
	if (!s->slot || !s->order) {
		free(s->slot);
		free(s->order);
		return STRATA_ENOMEM;
	}
	return 0;
}

static void strset_free(struct strset *s)
{
	free(s->slot);
	free(s->order);
}

static uint32_t strset_put(struct strset *s, uint32_t idx)
{
	const struct col_str *v = &s->str[idx];
	size_t h = col_hash_bytes(v->p, v->len) & s->mask;
	for (;;) {
		uint32_t sl = s->slot[h];
		if (sl == 0) {
			s->order[s->n] = idx;
			s->slot[h] = (uint32_t)++s->n;
			return (uint32_t)(s->n - 1);
		}
		const struct col_str *o = &s->str[s->order[sl - 1]];
		if (o->len == v->len && (v->len == 0 || memcmp(o->p, v->p, v->len) == 0))
			return sl - 1;
		h = (h + 1) & s->mask;
	}
}

static inline bool str_eq(const struct col_str *a, const struct col_str *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Bit pattern of value i of a numeric chunk. */
static inline uint64_t num_bits(const struct col_chunk_in *in, size_t i)
{
	if (in->type == COL_FLOAT64) {
		uint64_t b;
		memcpy(&b, &in->f64[i], 8);
		return b;
	}
	return (uint64_t)in->i64[i];
}

/* ---- sizes ----------------------------------------------------------------- */

size_t col_plain_size(const struct col_chunk_in *in)
{
	if (in->type == COL_BOOL)
		return in->n;
	if (in->type != COL_STRING)
		return (size_t)in->n * 8;
	size_t s = (size_t)in->n * 4;
	for (uint32_t i = 0; i < in->n; i++)
		s += in->str[i].len;
	return s;
}

void col_enc_sizes(const struct col_chunk_in *in, size_t sizes[COL_ENC_COUNT])
{
	for (int e = 0; e < COL_ENC_COUNT; e++)
		sizes[e] = COL_SIZE_NA;
	uint32_t n = in->n;
	sizes[COL_ENC_PLAIN] = col_plain_size(in);
	if (n == 0)
		return;
	if (in->type == COL_STRING) {
		size_t runs = 1, run_bytes = in->str[0].len;
		for (uint32_t i = 1; i < n; i++)
			if (!str_eq(&in->str[i], &in->str[i - 1])) {
				runs++;
				run_bytes += in->str[i].len;
			}
		sizes[COL_ENC_RUNLENGTH] = 4 + runs * 8 + run_bytes;
		struct strset s;
		if (strset_init(&s, in->str, n) == 0) {
			size_t dict_bytes = 0;
			for (uint32_t i = 0; i < n; i++) {
				size_t before = s.n;
				strset_put(&s, i);
				if (s.n != before)
					dict_bytes += in->str[i].len;
			}
			unsigned w = bit_width(s.n - 1);
			sizes[COL_ENC_DICTIONARY] = 4 + s.n * 4 + dict_bytes + 1 + packed_bytes(n, w);
			strset_free(&s);
		}
		return;
	}
	/* numeric */
	size_t runs = 1;
	for (uint32_t i = 1; i < n; i++)
		runs += num_bits(in, i) != num_bits(in, i - 1);
	sizes[COL_ENC_RUNLENGTH] = 4 + runs * ((in->type == COL_BOOL ? 1 : 8) + 4);
	if (in->type != COL_BOOL) {
		struct u64set s;
		if (u64set_init(&s, n) == 0) {
			for (uint32_t i = 0; i < n; i++)
				u64set_put(&s, num_bits(in, i));
			unsigned w = bit_width(s.n - 1);
			sizes[COL_ENC_DICTIONARY] = 4 + s.n * 8 + 1 + packed_bytes(n, w);
			u64set_free(&s);
		}
	}
	if (in->type == COL_FLOAT64)
		return;
	int64_t mn = in->i64[0], mx = in->i64[0];
	for (uint32_t i = 1; i < n; i++) {
		if (in->i64[i] < mn)
			mn = in->i64[i];
		if (in->i64[i] > mx)
			mx = in->i64[i];
	}
	sizes[COL_ENC_BITPACKED] = 9 + packed_bytes(n, bit_width((uint64_t)mx - (uint64_t)mn));
	if (in->type == COL_BOOL)
		return;
	size_t vbytes = 0;
	int64_t dmin = 0, dmax = 0;
	for (uint32_t i = 1; i < n; i++) {
		int64_t d = (int64_t)((uint64_t)in->i64[i] - (uint64_t)in->i64[i - 1]);
		vbytes += varint_len(zigzag(d));
		if (i == 1 || d < dmin)
			dmin = d;
		if (i == 1 || d > dmax)
			dmax = d;
	}
	sizes[COL_ENC_DELTA] = 8 + vbytes;
	sizes[COL_ENC_DELTABITPACKED] =
		17 + packed_bytes(n - 1, bit_width((uint64_t)dmax - (uint64_t)dmin));
}

enum col_encoding col_enc_choose(const size_t sizes[COL_ENC_COUNT])
{
	static const enum col_encoding pref[] = {COL_ENC_PLAIN, COL_ENC_BITPACKED,
						 COL_ENC_DELTABITPACKED, COL_ENC_RUNLENGTH,
						 COL_ENC_DICTIONARY, COL_ENC_DELTA};
	enum col_encoding best = COL_ENC_PLAIN;
	for (size_t k = 0; k < sizeof(pref) / sizeof(pref[0]); k++)
		if (sizes[pref[k]] < sizes[best])
			best = pref[k];
	return best;
}

/* ---- encoders -------------------------------------------------------------- */

static size_t encode_string(const struct col_chunk_in *in, enum col_encoding enc, uint8_t *out)
{
	uint32_t n = in->n;
	uint8_t *p = out;
	if (enc == COL_ENC_PLAIN) {
		for (uint32_t i = 0; i < n; i++, p += 4)
			put32(p, in->str[i].len);
		for (uint32_t i = 0; i < n; i++) {
			if (in->str[i].len)
				memcpy(p, in->str[i].p, in->str[i].len);
			p += in->str[i].len;
		}
		return (size_t)(p - out);
	}
	if (enc == COL_ENC_RUNLENGTH) {
		uint32_t runs = 0;
		for (uint32_t i = 0; i < n; i++)
			runs += i == 0 || !str_eq(&in->str[i], &in->str[i - 1]);
		put32(p, runs);
		p += 4;
		uint8_t *lens = p, *bytes = p + 4 * (size_t)runs;
		for (uint32_t i = 0; i < n; i++)
			if (i == 0 || !str_eq(&in->str[i], &in->str[i - 1])) {
				put32(lens, in->str[i].len);
				lens += 4;
				if (in->str[i].len)
					memcpy(bytes, in->str[i].p, in->str[i].len);
				bytes += in->str[i].len;
			}
		uint8_t *rl = bytes;
		uint32_t len = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (i > 0 && !str_eq(&in->str[i], &in->str[i - 1])) {
				put32(rl, len);
				rl += 4;
				len = 0;
			}
			len++;
		}
		put32(rl, len);
		rl += 4;
		return (size_t)(rl - out);
	}
	/* Dictionary */
	struct strset s;
	uint64_t *codes = malloc((size_t)n * sizeof(*codes));
	if (!codes || strset_init(&s, in->str, n) != 0) {
		free(codes);
		return COL_SIZE_NA;
	}
	for (uint32_t i = 0; i < n; i++)
		codes[i] = strset_put(&s, i);
	put32(p, (uint32_t)s.n);
	p += 4;
	for (size_t e = 0; e < s.n; e++, p += 4)
		put32(p, in->str[s.order[e]].len);
	for (size_t e = 0; e < s.n; e++) {
		const struct col_str *v = &in->str[s.order[e]];
		if (v->len)
			memcpy(p, v->p, v->len);
		p += v->len;
	}
	unsigned w = bit_width(s.n - 1);
	*p++ = (uint8_t)w;
	pack_bits(codes, n, w, p);
	p += packed_bytes(n, w);
	strset_free(&s);
	free(codes);
	return (size_t)(p - out);
}

size_t col_encode(const struct col_chunk_in *in, enum col_encoding enc, uint8_t *out, size_t cap)
{
	size_t sizes[COL_ENC_COUNT];
	col_enc_sizes(in, sizes);
	if ((unsigned)enc >= COL_ENC_COUNT || sizes[enc] == COL_SIZE_NA || sizes[enc] > cap)
		return COL_SIZE_NA;
	uint32_t n = in->n;
	uint8_t *p = out;
	if (in->type == COL_STRING) {
		size_t got = encode_string(in, enc, out);
		return got == sizes[enc] ? got : COL_SIZE_NA;
	}
	switch (enc) {
	case COL_ENC_PLAIN:
		if (in->type == COL_BOOL) {
			for (uint32_t i = 0; i < n; i++)
				p[i] = (uint8_t)in->i64[i];
			p += n;
		} else {
			for (uint32_t i = 0; i < n; i++, p += 8)
				put64(p, num_bits(in, i));
		}
		break;
	case COL_ENC_RUNLENGTH: {
		uint32_t runs = 1;
		for (uint32_t i = 1; i < n; i++)
			runs += num_bits(in, i) != num_bits(in, i - 1);
		put32(p, runs);
		p += 4;
		uint32_t len = 1;
		for (uint32_t i = 1; i <= n; i++) {
			if (i < n && num_bits(in, i) == num_bits(in, i - 1)) {
				len++;
				continue;
			}
			if (in->type == COL_BOOL)
				*p++ = (uint8_t)in->i64[i - 1];
			else {
				put64(p, num_bits(in, i - 1));
				p += 8;
			}
			put32(p, len);
			p += 4;
			len = 1;
		}
		break;
	}
	case COL_ENC_DICTIONARY: {
		struct u64set s;
		uint64_t *codes = malloc((size_t)n * sizeof(*codes));
		if (!codes || u64set_init(&s, n) != 0) {
			free(codes);
			return COL_SIZE_NA;
		}
		for (uint32_t i = 0; i < n; i++)
			codes[i] = u64set_put(&s, num_bits(in, i));
		put32(p, (uint32_t)s.n);
		p += 4;
		for (size_t e = 0; e < s.n; e++, p += 8)
			put64(p, s.order[e]);
		unsigned w = bit_width(s.n - 1);
		*p++ = (uint8_t)w;
		pack_bits(codes, n, w, p);
		p += packed_bytes(n, w);
		u64set_free(&s);
		free(codes);
		break;
	}
	case COL_ENC_BITPACKED: {
		int64_t mn = in->i64[0], mx = in->i64[0];
		for (uint32_t i = 1; i < n; i++) {
			mn = in->i64[i] < mn ? in->i64[i] : mn;
			mx = in->i64[i] > mx ? in->i64[i] : mx;
		}
		unsigned w = bit_width((uint64_t)mx - (uint64_t)mn);
		uint64_t *d = malloc((size_t)n * sizeof(*d));
		if (!d)
			return COL_SIZE_NA;
		for (uint32_t i = 0; i < n; i++)
			d[i] = (uint64_t)in->i64[i] - (uint64_t)mn;
		put64(p, (uint64_t)mn);
		p[8] = (uint8_t)w;
		p += 9;
		pack_bits(d, n, w, p);
		p += packed_bytes(n, w);
		free(d);
		break;
	}
	case COL_ENC_DELTA:
		put64(p, (uint64_t)in->i64[0]);
		p += 8;
		for (uint32_t i = 1; i < n; i++) {
			uint64_t u = zigzag((int64_t)((uint64_t)in->i64[i] - (uint64_t)in->i64[i - 1]));
			while (u >= 0x80) {
				*p++ = (uint8_t)(u | 0x80);
				u >>= 7;
			}
			*p++ = (uint8_t)u;
		}
		break;
	case COL_ENC_DELTABITPACKED: {
		int64_t dmin = 0, dmax = 0;
		for (uint32_t i = 1; i < n; i++) {
			int64_t dd = (int64_t)((uint64_t)in->i64[i] - (uint64_t)in->i64[i - 1]);
			if (i == 1 || dd < dmin)
				dmin = dd;
			if (i == 1 || dd > dmax)
				dmax = dd;
		}
		unsigned w = bit_width((uint64_t)dmax - (uint64_t)dmin);
		uint64_t *d = malloc(((size_t)n + 1) * sizeof(*d));
		if (!d)
			return COL_SIZE_NA;
		for (uint32_t i = 1; i < n; i++)
			d[i - 1] = ((uint64_t)in->i64[i] - (uint64_t)in->i64[i - 1]) - (uint64_t)dmin;
		put64(p, (uint64_t)in->i64[0]);
		put64(p + 8, (uint64_t)dmin);
		p[16] = (uint8_t)w;
		p += 17;
		pack_bits(d, n - 1, w, p);
		p += packed_bytes(n - 1, w);
		free(d);
		break;
	}
	default:
		return COL_SIZE_NA;
	}
	size_t got = (size_t)(p - out);
	return got == sizes[enc] ? got : COL_SIZE_NA;
}

/* ---- decoders -------------------------------------------------------------- */

void col_vec_free(struct col_vec *v)
{
	free(v->buf64);
	free(v->bufoff);
	free(v->bufcodes);
	memset(v, 0, sizeof(*v));
}

static int need64(struct col_vec *v, size_t n)
{
	if (v->cap64 >= n)
		return 0;
	int64_t *b = NULL;
	if (posix_memalign((void **)&b, 64, (n + 4) * sizeof(*b)) != 0)
		return STRATA_ENOMEM;
	free(v->buf64);
	v->buf64 = b;
	v->cap64 = n;
	return 0;
}

static int need_off(struct col_vec *v, size_t n)
{
	if (v->capoff >= n)
		return 0;
	uint32_t *b = realloc(v->bufoff, (n + 1) * sizeof(*b));
	if (!b)
		return STRATA_ENOMEM;
	v->bufoff = b;
	v->capoff = n;
	return 0;
}

static int need_codes(struct col_vec *v, size_t n)
{
	if (v->capcodes >= n)
		return 0;
	uint32_t *b = realloc(v->bufcodes, (n + 1) * sizeof(*b));
	if (!b)
		return STRATA_ENOMEM;
	v->bufcodes = b;
	v->capcodes = n;
	return 0;
}

/* Reads `cnt` u32 string lengths at p (within [p, end)), fills soff[0..cnt]
 * and checks the bytes fit; *bytes_end = end of the string bytes. */
static int read_lens(const uint8_t *p, const uint8_t *end, uint32_t cnt, uint32_t *soff,
		     const uint8_t **bytes, const uint8_t **bytes_end)
{
	if ((size_t)(end - p) / 4 < cnt)
		return STRATA_ECORRUPT;
	uint64_t total = 0;
	soff[0] = 0;
	for (uint32_t e = 0; e < cnt; e++) {
		total += get32(p + 4 * (size_t)e);
		if (total > UINT32_MAX)
			return STRATA_ECORRUPT;
		soff[e + 1] = (uint32_t)total;
	}
	*bytes = p + 4 * (size_t)cnt;
	if ((uint64_t)(end - *bytes) < total)
		return STRATA_ECORRUPT;
	*bytes_end = *bytes + total;
	return 0;
}

static int decode_string(const uint8_t *p, const uint8_t *end, enum col_encoding enc, uint32_t n,
			 struct col_vec *v)
{
	int rv;
	const uint8_t *bytes, *bend;
	v->codes = NULL;
	if (enc == COL_ENC_PLAIN) {
		if ((rv = need_off(v, n)) != 0)
			return rv;
		if ((rv = read_lens(p, end, n, v->bufoff, &bytes, &bend)) != 0)
			return rv;
		if (bend != end)
			return STRATA_ECORRUPT;
		v->nent = n;
		v->soff = v->bufoff;
		v->sbytes = bytes;
		return 0;
	}
	if (end - p < 4)
		return STRATA_ECORRUPT;
	uint32_t cnt = get32(p);
	p += 4;
	if (cnt == 0 || cnt > n)
		return STRATA_ECORRUPT;
	if ((rv = need_off(v, cnt)) != 0 || (rv = need_codes(v, n)) != 0)
		return rv;
	if ((rv = read_lens(p, end, cnt, v->bufoff, &bytes, &bend)) != 0)
		return rv;
	v->nent = cnt;
	v->soff = v->bufoff;
	v->sbytes = bytes;
	v->codes = v->bufcodes;
	if (enc == COL_ENC_RUNLENGTH) {
		if ((size_t)(end - bend) != 4 * (size_t)cnt)
			return STRATA_ECORRUPT;
		uint64_t row = 0;
		for (uint32_t r = 0; r < cnt; r++) {
			uint32_t len = get32(bend + 4 * (size_t)r);
			if (len == 0 || row + len > n)
				return STRATA_ECORRUPT;
			for (uint32_t k = 0; k < len; k++)
				v->bufcodes[row++] = r;
		}
		return row == n ? 0 : STRATA_ECORRUPT;
	}
	if (enc != COL_ENC_DICTIONARY || end - bend < 1)
		return STRATA_ECORRUPT;
	unsigned w = *bend++;
	if (w > 32 || (size_t)(end - bend) != packed_bytes(n, w))
		return STRATA_ECORRUPT;
	unpack_u32(bend, n, w, v->bufcodes);
	for (uint32_t i = 0; i < n; i++)
		if (v->bufcodes[i] >= cnt)
			return STRATA_ECORRUPT;
	return 0;
}

int col_decode(const uint8_t *payload, size_t len, enum col_type type, enum col_encoding enc,
	       uint32_t n, bool has_validity, struct col_vec *v)
{
	const uint8_t *p = payload, *end = payload + len;
	v->type = type;
	v->n = n;
	v->valid = NULL;
	v->i64 = NULL;
	v->f64 = NULL;
	if (has_validity) {
		size_t vb = col_validity_bytes(n);
		if (len < vb)
			return STRATA_ECORRUPT;
		v->valid = p;
		p += vb;
	}
	if (n == 0)
		return p == end ? 0 : STRATA_ECORRUPT;
	if (type == COL_STRING)
		return decode_string(p, end, enc, n, v);
	size_t avail = (size_t)(end - p);
	int rv;
	if (enc == COL_ENC_PLAIN && type != COL_BOOL) {
		if (avail != (size_t)n * 8)
			return STRATA_ECORRUPT;
		/* zero copy: payload buffers are 8-aligned and the bitmap is
		 * a multiple of 8 bytes */
		if (type == COL_FLOAT64)
			v->f64 = (const double *)(const void *)p;
		else
			v->i64 = (const int64_t *)(const void *)p;
		return 0;
	}
	if ((rv = need64(v, n)) != 0)
		return rv;
	int64_t *out = v->buf64;
	switch (enc) {
	case COL_ENC_PLAIN: /* bool */
		if (avail != n)
			return STRATA_ECORRUPT;
		for (uint32_t i = 0; i < n; i++) {
			if (p[i] > 1)
				return STRATA_ECORRUPT;
			out[i] = p[i];
		}
		break;
	case COL_ENC_RUNLENGTH: {
		if (avail < 4)
			return STRATA_ECORRUPT;
		uint32_t runs = get32(p);
		size_t vw = type == COL_BOOL ? 1 : 8;
		p += 4;
		if (runs == 0 || runs > n || (size_t)(end - p) != runs * (vw + 4))
			return STRATA_ECORRUPT;
		uint64_t row = 0;
		for (uint32_t r = 0; r < runs; r++, p += vw + 4) {
			uint64_t val = vw == 1 ? p[0] : get64(p);
			uint32_t rl = get32(p + vw);
			if (rl == 0 || row + rl > n || (vw == 1 && val > 1))
				return STRATA_ECORRUPT;
			for (uint32_t k = 0; k < rl; k++)
				out[row++] = (int64_t)val;
		}
		if (row != n)
			return STRATA_ECORRUPT;
		break;
	}
	case COL_ENC_DICTIONARY: {
		if (avail < 4 || type == COL_BOOL)
			return STRATA_ECORRUPT;
		uint32_t cnt = get32(p);
		p += 4;
		if (cnt == 0 || cnt > n || (size_t)(end - p) < (size_t)cnt * 8 + 1)
			return STRATA_ECORRUPT;
		const uint8_t *dict = p;
		p += (size_t)cnt * 8;
		unsigned w = *p++;
		if (w > 32 || (size_t)(end - p) != packed_bytes(n, w))
			return STRATA_ECORRUPT;
		uint64_t mask = w ? (1ull << w) - 1 : 0;
		size_t bit = 0;
		for (uint32_t i = 0; i < n; i++, bit += w) {
			uint64_t c = w ? (get64(p + (bit >> 3)) >> (bit & 7)) & mask : 0;
			if (c >= cnt)
				return STRATA_ECORRUPT;
			out[i] = (int64_t)get64(dict + 8 * c);
		}
		break;
	}
	case COL_ENC_BITPACKED: {
		if (avail < 9 || type == COL_FLOAT64)
			return STRATA_ECORRUPT;
		int64_t base = (int64_t)get64(p);
		unsigned w = p[8];
		p += 9;
		if (w > 64 || (size_t)(end - p) != packed_bytes(n, w))
			return STRATA_ECORRUPT;
		unpack_add(p, n, w, base, out);
		if (type == COL_BOOL)
			for (uint32_t i = 0; i < n; i++)
				if ((uint64_t)out[i] > 1)
					return STRATA_ECORRUPT;
		break;
	}
	case COL_ENC_DELTA: {
		if (avail < 8 || type == COL_FLOAT64 || type == COL_BOOL)
			return STRATA_ECORRUPT;
		uint64_t cur = get64(p);
		p += 8;
		out[0] = (int64_t)cur;
		for (uint32_t i = 1; i < n; i++) {
			uint64_t u = 0;
			unsigned sh = 0;
			for (;;) {
				if (p >= end || sh > 63)
					return STRATA_ECORRUPT;
				uint8_t b = *p++;
				u |= (uint64_t)(b & 0x7f) << sh;
				sh += 7;
				if (!(b & 0x80))
					break;
			}
			cur += (uint64_t)unzigzag(u);
			out[i] = (int64_t)cur;
		}
		if (p != end)
			return STRATA_ECORRUPT;
		break;
	}
	case COL_ENC_DELTABITPACKED: {
		if (avail < 17 || type == COL_FLOAT64 || type == COL_BOOL)
			return STRATA_ECORRUPT;
		uint64_t cur = get64(p), dmin = get64(p + 8);
		unsigned w = p[16];
		p += 17;
		if (w > 64 || (size_t)(end - p) != packed_bytes(n - 1, w))
			return STRATA_ECORRUPT;
		out[0] = (int64_t)cur;
		if (w == 0) {
			for (uint32_t i = 1; i < n; i++) {
				cur += dmin;
				out[i] = (int64_t)cur;
			}
		} else if (w <= 56) {
			uint64_t mask = (1ull << w) - 1;
			size_t bit = 0;
			for (uint32_t i = 1; i < n; i++, bit += w) {
				cur += dmin + ((get64(p + (bit >> 3)) >> (bit & 7)) & mask);
				out[i] = (int64_t)cur;
			}
		} else {
			for (uint32_t i = 1; i < n; i++) {
				cur += dmin + unpack_one(p, i - 1, w);
				out[i] = (int64_t)cur;
			}
		}
		break;
	}
	default:
		return STRATA_ECORRUPT;
	}
	if (type == COL_FLOAT64)
		v->f64 = (const double *)(const void *)out;
	else
		v->i64 = out;
	return 0;
}
