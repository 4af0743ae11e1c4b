/*
 * core/lsm_version.c — SSTable handles, versions of the file set, and the
 * level cursor (see lsm_internal.h).
 *
 * Lifetime rules:
 *  1. A version holds one reference to each of its files; a reader pins a
 *     version (reference) for as long as it reads its files.
 *  2. A version change (lsm_install) makes a new version; files it removes
 *     are marked obsolete after the manifest stops naming them. A file is
 *     closed at its last reference and unlinked then if obsolete, so no
 *     reader ever sees a file vanish, and a crash before the unlink leaves
 *     only an orphan that open deletes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lsm_coding.h"
#include "core/lsm_internal.h"
#include "core/stats.h"
#include "strata/error.h"

void lsm_file_path(char *buf, size_t len, const char *dir, uint64_t number, bool tmp)
{
	snprintf(buf, len, "%s/%016" PRIx64 ".sst%s", dir, number, tmp ? ".tmp" : "");
}

int lsm_file_open(struct lsm_file **out, const char *dir, struct lsm_cache *cache, bool map,
		  uint64_t number, uint64_t size, uint64_t entries, const void *smallest,
		  size_t slen, const void *largest, size_t llen)
{
	size_t plen = strlen(dir) + 32;
	struct lsm_file *f = calloc(1, sizeof(*f) + plen);
	if (!f)
		return STRATA_ENOMEM;
	lsm_file_path(f->path, plen, dir, number, false);
	f->smallest = malloc(slen ? slen : 1);
	f->largest = malloc(llen ? llen : 1);
	int rv = STRATA_ENOMEM;
	if (!f->smallest || !f->largest)
		goto fail;
	memcpy(f->smallest, smallest, slen);
	memcpy(f->largest, largest, llen);
	f->slen = slen;
	f->llen = llen;
	f->number = number;
	f->size = size;
	f->entries = entries;
	if ((rv = lsm_sst_open_ex(&f->sst, f->path, map)))
		goto fail;
	if (cache)
		lsm_sst_set_cache(f->sst, cache);
	atomic_init(&f->refs, 1);
	stat_add(&core_stats()->lsm.sstables, 1);
	*out = f;
	return 0;
fail:
	free(f->smallest);
	free(f->largest);
	free(f);
	return rv;
}

void lsm_file_ref(struct lsm_file *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void lsm_file_unref(struct lsm_file *f)
{
	if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	lsm_sst_close(f->sst);
	if (atomic_load(&f->obsolete))
		(void)unlink(f->path); /* failure leaves an orphan, deleted at open */
	stat_sub(&core_stats()->lsm.sstables, 1);
	free(f->smallest);
	free(f->largest);
	free(f);
}

bool lsm_file_overlaps(const struct lsm_file *f, const void *lo, size_t lolen, const void *hi,
		       size_t hilen)
{
	if (lo && lsm_key_cmp(f->largest, f->llen, lo, lolen) < 0)
		return false;
	if (hi && lsm_key_cmp(f->smallest, f->slen, hi, hilen) > 0)
		return false;
	return true;
}

bool lsm_file_contains(const struct lsm_file *f, const void *key, size_t klen)
{
	return lsm_key_cmp(f->smallest, f->slen, key, klen) <= 0 &&
	       lsm_key_cmp(f->largest, f->llen, key, klen) >= 0;
}

struct lsm_version *lsm_version_new_empty(void)
{
	struct lsm_version *v = calloc(1, sizeof(*v));
	if (v)
		atomic_init(&v->refs, 1);
	return v;
}

void lsm_version_ref(struct lsm_version *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void lsm_version_unref(struct lsm_version *v)
{
	if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->n[l]; i++)
			lsm_file_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

uint64_t lsm_version_level_bytes(const struct lsm_version *v, int level)
{
	uint64_t b = 0;
	for (size_t i = 0; i < v->n[level]; i++)
		b += v->files[level][i]->size;
	return b;
}

static int grow(void **arr, int **lv, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	void *na = realloc(*arr, nc * sizeof(struct lsm_file *));
	if (!na)
		return STRATA_ENOMEM;
	*arr = na;
	int *nl = realloc(*lv, nc * sizeof(int));
	if (!nl)
		return STRATA_ENOMEM;
	*lv = nl;
	*cap = nc;
	return 0;
}

int lsm_edit_del(struct lsm_edit *e, struct lsm_file *f, int level)
{
	if (grow((void **)&e->del, &e->del_level, &e->cap_del, e->ndel))
		return STRATA_ENOMEM;
	e->del[e->ndel] = f;
	e->del_level[e->ndel++] = level;
	return 0;
}

int lsm_edit_add(struct lsm_edit *e, struct lsm_file *f, int level)
{
	if (grow((void **)&e->add, &e->add_level, &e->cap_add, e->nadd))
		return STRATA_ENOMEM;
	e->add[e->nadd] = f;
	e->add_level[e->nadd++] = level;
	return 0;
}

void lsm_edit_free(struct lsm_edit *e)
{
	free(e->del);
	free(e->del_level);
	free(e->add);
	free(e->add_level);
	memset(e, 0, sizeof(*e));
}

static int cmp_l0(const void *a, const void *b)
{
	const struct lsm_file *x = *(struct lsm_file *const *)a, *y = *(struct lsm_file *const *)b;
	return x->number < y->number ? 1 : x->number > y->number ? -1 : 0; /* newest first */
}

static int cmp_key(const void *a, const void *b)
{
	const struct lsm_file *x = *(struct lsm_file *const *)a, *y = *(struct lsm_file *const *)b;
	return lsm_key_cmp(x->smallest, x->slen, y->smallest, y->slen);
}

int lsm_version_apply(const struct lsm_version *base, const struct lsm_edit *e,
		      struct lsm_version **out)
{
	struct lsm_version *v = lsm_version_new_empty();
	if (!v)
		return STRATA_ENOMEM;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		size_t cap = base->n[l];
		for (size_t i = 0; i < e->nadd; i++)
			cap += e->add_level[i] == l;
		if (cap == 0)
			continue;
		v->files[l] = malloc(cap * sizeof(*v->files[l]));
		if (!v->files[l]) {
			lsm_version_unref(v);
			return STRATA_ENOMEM;
		}
		for (size_t i = 0; i < base->n[l]; i++) {
			struct lsm_file *f = base->files[l][i];
			bool deleted = false;
			for (size_t j = 0; j < e->ndel && !deleted; j++)
				deleted = e->del[j] == f && e->del_level[j] == l;
			if (deleted)
				continue;
			lsm_file_ref(f);
			v->files[l][v->n[l]++] = f;
		}
		for (size_t i = 0; i < e->nadd; i++) {
			if (e->add_level[i] != l)
				continue;
			lsm_file_ref(e->add[i]);
			v->files[l][v->n[l]++] = e->add[i];
		}
		qsort(v->files[l], v->n[l], sizeof(*v->files[l]), l == 0 ? cmp_l0 : cmp_key);
	}
	*out = v;
	return 0;
}

size_t lsm_level_find(const struct lsm_version *v, int level, const void *key, size_t klen)
{
	size_t lo = 0, hi = v->n[level];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lsm_file *f = v->files[level][mid];
		if (lsm_key_cmp(f->largest, f->llen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- level cursor ---------------------------------------------------------- */

struct level_cursor {
	struct lsm_cursor base;
	struct lsm_file **files;
	size_t n, cur;            /* cur == n: exhausted */
	struct lsm_cursor *sc;    /* cursor of files[cur] */
	bool fill;                /* fill the block cache */
	bool refs;                /* holds a reference to each file (and owns files) */
};

/* Opens files[i] (from its first key, or key when given) and moves on past
 * files that turn out empty from there. */
static int level_settle(struct level_cursor *c, size_t i, const void *key, size_t klen)
{
	for (; i < c->n; i++, key = NULL, klen = 0) {
		lsm_cursor_free(c->sc);
		c->sc = NULL;
		int rv = lsm_sst_cursor_ex(c->files[i]->sst, c->fill, &c->sc);
		if (!rv)
			rv = lsm_cursor_seek(c->sc, key, klen);
		if (rv) {
			c->cur = c->n;
			return rv;
		}
		if (lsm_cursor_valid(c->sc)) {
			c->cur = i;
			return 0;
		}
	}
	c->cur = c->n;
	return 0;
}

static int level_seek(struct lsm_cursor *base, const void *key, size_t klen)
{
	struct level_cursor *c = (struct level_cursor *)base;
	size_t lo = 0, hi = c->n;
	if (klen) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct lsm_file *f = c->files[mid];
			if (lsm_key_cmp(f->largest, f->llen, key, klen) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return level_settle(c, lo, klen ? key : NULL, klen);
}

static int level_next(struct lsm_cursor *base)
{
	struct level_cursor *c = (struct level_cursor *)base;
	int rv = lsm_cursor_next(c->sc);
	if (rv) {
		c->cur = c->n;
		return rv;
	}
	if (lsm_cursor_valid(c->sc))
		return 0;
	return level_settle(c, c->cur + 1, NULL, 0);
}

static bool level_valid(const struct lsm_cursor *base)
{
	const struct level_cursor *c = (const struct level_cursor *)base;
	return c->cur < c->n;
}

static void level_entry(const struct lsm_cursor *base, struct lsm_entry *e)
{
	lsm_cursor_entry(((const struct level_cursor *)base)->sc, e);
}

static void level_free(struct lsm_cursor *base)
{
	struct level_cursor *c = (struct level_cursor *)base;
	lsm_cursor_free(c->sc);
	if (c->refs) {
		for (size_t i = 0; i < c->n; i++)
			lsm_file_unref(c->files[i]);
		free(c->files);
	}
	free(c);
}

static const struct lsm_cursor_ops level_ops = {
	.seek = level_seek,
	.next = level_next,
	.valid = level_valid,
	.entry = level_entry,
	.free = level_free,
};

int lsm_level_cursor(struct lsm_file **files, size_t n, bool pinned, bool fill_cache,
		     struct lsm_cursor **out)
{
	struct level_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return STRATA_ENOMEM;
	c->fill = fill_cache;
	if (pinned) {
		c->files = files;
		goto done;
	}
	c->refs = true;
	c->files = malloc((n ? n : 1) * sizeof(*c->files));
	if (!c->files) {
		free(c);
		return STRATA_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		lsm_file_ref(files[i]);
		c->files[i] = files[i];
	}
done:
	c->base.ops = &level_ops;
	c->n = n;
	c->cur = n;
	*out = &c->base;
	return 0;
}
