/*
 * core/lsm_cursor.c — the merging cursor (see lsm_cursor.h).
 *
 * The children are few (the memtables, the L0 files and one cursor per
 * deeper level), so the smallest key is found by a linear pass over the
 * children's current entries, cached in `cur` so each child's entry is
 * fetched once per step.
 */
#include "core/lsm_cursor.h"

#include <stdlib.h>

#include "core/lsm_coding.h"
#include "strata/error.h"

struct merge_cursor {
	struct lsm_cursor base;
	size_t n;
	struct lsm_cursor **child;
	struct lsm_entry *cur; /* entry of each valid child */
	bool *valid;
	size_t top;            /* index of the winning child; n when exhausted */
};

static void merge_refresh(struct merge_cursor *m, size_t i)
{
	m->valid[i] = lsm_cursor_valid(m->child[i]);
	if (m->valid[i])
		lsm_cursor_entry(m->child[i], &m->cur[i]);
}

static void merge_pick(struct merge_cursor *m)
{
	size_t best = m->n;
	for (size_t i = 0; i < m->n; i++) {
		if (!m->valid[i])
			continue;
		if (best == m->n || lsm_key_cmp(m->cur[i].key, m->cur[i].klen, m->cur[best].key,
						m->cur[best].klen) < 0)
			best = i; /* ties keep the lower (newer) index */
	}
	m->top = best;
}

static int merge_seek(struct lsm_cursor *c, const void *key, size_t klen)
{
	struct merge_cursor *m = (struct merge_cursor *)c;
	for (size_t i = 0; i < m->n; i++) {
		int rv = lsm_cursor_seek(m->child[i], key, klen);
		if (rv) {
			m->top = m->n;
			return rv;
		}
		merge_refresh(m, i);
	}
	merge_pick(m);
	return 0;
}

static int merge_next(struct lsm_cursor *c)
{
	struct merge_cursor *m = (struct merge_cursor *)c;
	if (m->top == m->n)
		return 0;
	const struct lsm_entry top = m->cur[m->top];
	/* Advance every child sitting on the current key: the older copies are
	 * shadowed. The winner goes last, since `top` points into its entry. */
	for (size_t i = 0; i < m->n; i++) {
		if (i == m->top || !m->valid[i])
			continue;
		if (lsm_key_cmp(m->cur[i].key, m->cur[i].klen, top.key, top.klen) == 0) {
			int rv = lsm_cursor_next(m->child[i]);
			if (rv) {
				m->top = m->n;
				return rv;
			}
			merge_refresh(m, i);
		}
	}
	int rv = lsm_cursor_next(m->child[m->top]);
	if (rv) {
		m->top = m->n;
		return rv;
	}
	merge_refresh(m, m->top);
	merge_pick(m);
	return 0;
}

static bool merge_valid(const struct lsm_cursor *c)
{
	const struct merge_cursor *m = (const struct merge_cursor *)c;
	return m->top < m->n;
}

static void merge_entry(const struct lsm_cursor *c, struct lsm_entry *e)
{
	const struct merge_cursor *m = (const struct merge_cursor *)c;
	*e = m->cur[m->top];
}

static void merge_free(struct lsm_cursor *c)
{
	struct merge_cursor *m = (struct merge_cursor *)c;
	for (size_t i = 0; i < m->n; i++)
		lsm_cursor_free(m->child[i]);
	free(m->child);
	free(m->cur);
	free(m->valid);
	free(m);
}

static const struct lsm_cursor_ops merge_ops = {
	.seek = merge_seek,
	.next = merge_next,
	.valid = merge_valid,
	.entry = merge_entry,
	.free = merge_free,
};

int lsm_merge_cursor_new(struct lsm_cursor **out, struct lsm_cursor **children, size_t n)
{
	struct merge_cursor *m = calloc(1, sizeof(*m));
	if (!m)
		goto fail_children;
	m->base.ops = &merge_ops;
	m->n = n;
	m->child = malloc((n ? n : 1) * sizeof(*m->child));
	m->cur = calloc(n ? n : 1, sizeof(*m->cur));
	m->valid = calloc(n ? n : 1, sizeof(*m->valid));
	if (!m->child || !m->cur || !m->valid) {
		free(m->child);
		free(m->cur);
		free(m->valid);
		free(m);
		goto fail_children;
	}
	for (size_t i = 0; i < n; i++)
		m->child[i] = children[i];
	m->top = n;
	*out = &m->base;
	return 0;
fail_children:
	for (size_t i = 0; i < n; i++)
		lsm_cursor_free(children[i]);
	return STRATA_ENOMEM;
}
