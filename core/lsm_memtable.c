/*
 * core/lsm_memtable.c — skiplist memtable (see lsm_memtable.h).
 *
 * Invariants:
 *  1. Nodes are ordered by (key ascending, seq descending); no two nodes
 *     have the same (key, seq).
 *  2. A node's fields and its forward links are written before the node is
 *     published by a release store into its predecessor's link at level 0
 *     (then the upper levels, bottom up), so a reader that reaches a node by
 *     acquire loads sees it complete.
 *  3. Nodes are never unlinked or freed before the whole memtable is.
 */
#include "core/lsm_memtable.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/bloom.h"
#include "core/lsm_coding.h"
#include "strata/error.h"

#define MAX_HEIGHT 12
#define ARENA_BLOCK (256u * 1024u)

struct node {
	uint64_t seq;
	uint32_t klen;
	uint32_t vlen;
	uint8_t type;
	uint8_t height;
	_Atomic(struct node *) next[]; /* height links, then key, then value */
};

struct arena_block {
	struct arena_block *prev;
	size_t used, cap;
	_Alignas(16) uint8_t data[];
};

struct lsm_memtable {
	atomic_uint refs;
	struct arena_block *arena;  /* writer only */
	_Atomic size_t bytes;
	_Atomic uint64_t entries;
	uint32_t rnd;               /* writer only */
	_Atomic int height;         /* current max height */
	struct node *head;
	/* writer only: the last node added and, per level, the node whose link
	 * at that level would precede a node added right after it. While that
	 * node is the tail, an ascending add (fill in key order) links there
	 * without a search. */
	struct node *last;
	struct node *last_prev[MAX_HEIGHT];
	/* Bloom filter of the keys (NULL: none): words are set by the writer
	 * before the node is linked (release), so a reader that can see an
	 * entry sees its bits. */
	_Atomic uint64_t *filter;
	size_t filter_mask;         /* words - 1 */
};

/* Word and bit mask of a key's filter probes: 3 bits of one word. */
static inline size_t filter_word(const struct lsm_memtable *m, uint64_t h)
{
	return (size_t)(h >> 32) & m->filter_mask;
}
static inline uint64_t filter_bits(uint64_t h)
{
	uint32_t l = (uint32_t)h;
	return (1ull << (l & 63)) | (1ull << ((l >> 6) & 63)) | (1ull << ((l >> 12) & 63));
}

static inline const uint8_t *node_key(const struct node *n)
{
	return (const uint8_t *)&n->next[n->height];
}
static inline const uint8_t *node_val(const struct node *n) { return node_key(n) + n->klen; }

static void *arena_alloc(struct lsm_memtable *m, size_t len)
{
	len = (len + 7) & ~(size_t)7;
	struct arena_block *b = m->arena;
	if (!b || b->cap - b->used < len) {
		size_t cap = len > ARENA_BLOCK / 4 ? len : ARENA_BLOCK;
		struct arena_block *nb = malloc(sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->cap = cap;
		nb->used = 0;
		/* A block for one large entry goes behind the current one so the
		 * current block keeps being filled. */
		if (b && cap != ARENA_BLOCK) {
			nb->prev = b->prev;
			b->prev = nb;
		} else {
			nb->prev = b;
			m->arena = nb;
		}
		b = nb;
		atomic_fetch_add_explicit(&m->bytes, sizeof(*nb), memory_order_relaxed);
	}
	void *p = b->data + b->used;
	b->used += len;
	return p;
}

static struct node *node_new(struct lsm_memtable *m, int height, size_t klen, size_t vlen)
{
	size_t sz = sizeof(struct node) + (size_t)height * sizeof(struct node *) + klen + vlen;
	struct node *n = arena_alloc(m, sz);
	if (!n)
		return NULL;
	n->height = (uint8_t)height;
	n->klen = (uint32_t)klen;
	n->vlen = (uint32_t)vlen;
	for (int i = 0; i < height; i++)
		atomic_init(&n->next[i], NULL);
	return n;
}

int lsm_memtable_new(struct lsm_memtable **out) { return lsm_memtable_new_ex(out, 0); }

int lsm_memtable_new_ex(struct lsm_memtable **out, size_t filter_bits_wanted)
{
	struct lsm_memtable *m = calloc(1, sizeof(*m));
	if (!m)
		return STRATA_ENOMEM;
	if (filter_bits_wanted) {
		size_t words = 1;
		while (words * 64 < filter_bits_wanted && words < ((size_t)1 << 20))
			words *= 2;
		m->filter = calloc(words, sizeof(*m->filter));
		if (!m->filter) {
			free(m);
			return STRATA_ENOMEM;
		}
		m->filter_mask = words - 1;
	}
	atomic_init(&m->refs, 1);
	m->rnd = 0x2545F491u;
	atomic_init(&m->height, 1);
	m->head = node_new(m, MAX_HEIGHT, 0, 0);
	if (!m->head) {
		free((void *)m->filter);
		free(m);
		return STRATA_ENOMEM;
	}
	*out = m;
	return 0;
}

void lsm_memtable_ref(struct lsm_memtable *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void lsm_memtable_unref(struct lsm_memtable *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct arena_block *b = m->arena;
	while (b) {
		struct arena_block *p = b->prev;
		free(b);
		b = p;
	}
	free((void *)m->filter);
	free(m);
}

/* Order of a node against (key, seq): <0 if the node comes first. */
static int node_cmp(const struct node *n, const void *key, size_t klen, uint64_t seq)
{
	int c = lsm_key_cmp(node_key(n), n->klen, key, klen);
	if (c)
		return c;
	return n->seq > seq ? -1 : n->seq < seq; /* higher seq first */
}

/* First node >= (key, seq); fills prev[] when given. */
static struct node *find_ge(const struct lsm_memtable *m, const void *key, size_t klen,
			    uint64_t seq, struct node **prev)
{
	struct node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_acquire) - 1;
	for (;;) {
		struct node *nx = atomic_load_explicit(&x->next[level], memory_order_acquire);
		if (nx && node_cmp(nx, key, klen, seq) < 0) {
			x = nx;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return nx;
		level--;
	}
}

static int random_height(struct lsm_memtable *m)
{
	int h = 1;
	for (;;) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 17;
		m->rnd ^= m->rnd << 5;
		if (h >= MAX_HEIGHT || (m->rnd & 3))
			return h; /* branching factor 4 */
		h++;
	}
}

int lsm_memtable_add(struct lsm_memtable *m, uint64_t seq, int type, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct node *prev[MAX_HEIGHT];
	/* Appending after the tail: the links to update are exactly those that
	 * led to the tail (invariant 3: nothing is ever unlinked; one writer). */
	if (m->last && !atomic_load_explicit(&m->last->next[0], memory_order_relaxed) &&
	    node_cmp(m->last, key, klen, seq) < 0)
		memcpy(prev, m->last_prev, sizeof(prev));
	else
		find_ge(m, key, klen, seq, prev);
	int h = random_height(m);
	struct node *n = node_new(m, h, klen, type == LSM_TYPE_PUT ? vlen : 0);
	if (!n)
		return STRATA_ENOMEM;
	n->seq = seq;
	n->type = (uint8_t)type;
	memcpy((uint8_t *)node_key(n), key, klen);
	if (type == LSM_TYPE_PUT && vlen)
		memcpy((uint8_t *)node_val(n), val, vlen);
	else
		n->vlen = 0;
	if (m->filter) {
		uint64_t kh = bloom_hash(key, klen);
		_Atomic uint64_t *w = &m->filter[filter_word(m, kh)];
		atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | filter_bits(kh),
				      memory_order_relaxed); /* one writer; published below */
	}
	int cur = atomic_load_explicit(&m->height, memory_order_relaxed);
	for (int i = cur; i < MAX_HEIGHT; i++)
		prev[i] = m->head; /* levels nothing reaches yet */
	if (h > cur) {
		/* Readers that see the new height before the links find NULL
		 * links at the head there and just go down a level. */
		atomic_store_explicit(&m->height, h, memory_order_release);
	}
	for (int i = 0; i < h; i++) {
		atomic_store_explicit(&n->next[i],
				      atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed),
				      memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	}
	m->last = n;
	for (int i = 0; i < MAX_HEIGHT; i++)
		m->last_prev[i] = i < h ? n : prev[i];
	atomic_fetch_add_explicit(&m->bytes, klen + vlen + 32 + (size_t)h * 8, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
	return 0;
}

int lsm_memtable_get_h(struct lsm_memtable *m, const void *key, size_t klen, uint64_t hash,
		       uint64_t snap, int *type, const void **val, size_t *vlen)
{
	if (m->filter) {
		uint64_t b = filter_bits(hash);
		if ((atomic_load_explicit(&m->filter[filter_word(m, hash)], memory_order_relaxed) & b) != b)
			return 0;
	}
	return lsm_memtable_get(m, key, klen, snap, type, val, vlen);
}

int lsm_memtable_get(struct lsm_memtable *m, const void *key, size_t klen, uint64_t snap,
		     int *type, const void **val, size_t *vlen)
{
	struct node *n = find_ge(m, key, klen, snap, NULL);
	if (!n || lsm_key_cmp(node_key(n), n->klen, key, klen) != 0)
		return 0;
	*type = n->type;
	*val = node_val(n);
	*vlen = n->vlen;
	return 1;
}

size_t lsm_memtable_bytes(const struct lsm_memtable *m)
{
	return atomic_load_explicit(&m->bytes, memory_order_relaxed);
}

uint64_t lsm_memtable_entries(const struct lsm_memtable *m)
{
	return atomic_load_explicit(&m->entries, memory_order_relaxed);
}

/* ---- cursor ---------------------------------------------------------------- */

struct mem_cursor {
	struct lsm_cursor base;
	struct lsm_memtable *m;
	uint64_t snap;
	struct node *cur;
};

static struct node *next0(const struct node *n)
{
	return atomic_load_explicit(&((struct node *)n)->next[0], memory_order_acquire);
}

/* From n on, the first node visible at snap. */
static struct node *skip_invisible(struct node *n, uint64_t snap)
{
	while (n && n->seq > snap)
		n = next0(n);
	return n;
}

static int mem_seek(struct lsm_cursor *c, const void *key, size_t klen)
{
	struct mem_cursor *mc = (struct mem_cursor *)c;
	struct node *n = klen ? find_ge(mc->m, key, klen, mc->snap, NULL) : next0(mc->m->head);
	mc->cur = skip_invisible(n, mc->snap);
	return 0;
}

static int mem_next(struct lsm_cursor *c)
{
	struct mem_cursor *mc = (struct mem_cursor *)c;
	struct node *n = mc->cur;
	struct node *x = next0(n);
	while (x && lsm_key_cmp(node_key(x), x->klen, node_key(n), n->klen) == 0)
		x = next0(x); /* older versions of the same key */
	mc->cur = skip_invisible(x, mc->snap);
	return 0;
}

static bool mem_valid(const struct lsm_cursor *c)
{
	return ((const struct mem_cursor *)c)->cur != NULL;
}

static void mem_entry(const struct lsm_cursor *c, struct lsm_entry *e)
{
	const struct node *n = ((const struct mem_cursor *)c)->cur;
	e->key = node_key(n);
	e->klen = n->klen;
	e->val = node_val(n);
	e->vlen = n->vlen;
	e->type = n->type;
}

static void mem_free(struct lsm_cursor *c)
{
	struct mem_cursor *mc = (struct mem_cursor *)c;
	lsm_memtable_unref(mc->m);
	free(mc);
}

static const struct lsm_cursor_ops mem_ops = {
	.seek = mem_seek,
	.next = mem_next,
	.valid = mem_valid,
	.entry = mem_entry,
	.free = mem_free,
};

int lsm_memtable_cursor(struct lsm_memtable *m, uint64_t snap, struct lsm_cursor **out)
{
	struct mem_cursor *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return STRATA_ENOMEM;
	mc->base.ops = &mem_ops;
	mc->m = m;
	mc->snap = snap;
	lsm_memtable_ref(m);
	*out = &mc->base;
	return 0;
}
