/*
 * core/lsm_cursor.h — the internal cursor interface of the LSM tree, and the
 * merging cursor.
 *
 * A cursor walks one sorted source (a memtable, an SSTable, a level of
 * non-overlapping SSTables, or a merge of those) in ascending key order,
 * each key at most once, tombstones included (type LSM_TYPE_DEL). Entry
 * pointers stay valid until the next seek/next/free on the cursor.
 * A cursor is used by one thread at a time.
 */
#ifndef STRATA_CORE_LSM_CURSOR_H
#define STRATA_CORE_LSM_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lsm_entry {
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	int type; /* LSM_TYPE_PUT or LSM_TYPE_DEL */
};

struct lsm_cursor;

struct lsm_cursor_ops {
	/* Positions at the first key >= key (klen 0: the first key).
	 * 0, or STRATA_ECORRUPT / STRATA_EIO / STRATA_ENOMEM (then invalid). */
	int (*seek)(struct lsm_cursor *c, const void *key, size_t klen);
	/* Moves to the next key; only while valid. Errors as seek. */
	int (*next)(struct lsm_cursor *c);
	bool (*valid)(const struct lsm_cursor *c);
	/* The current entry; only while valid. */
	void (*entry)(const struct lsm_cursor *c, struct lsm_entry *e);
	void (*free)(struct lsm_cursor *c);
};

struct lsm_cursor {
	const struct lsm_cursor_ops *ops;
};

static inline int lsm_cursor_seek(struct lsm_cursor *c, const void *key, size_t klen)
{
	return c->ops->seek(c, key, klen);
}
static inline int lsm_cursor_next(struct lsm_cursor *c) { return c->ops->next(c); }
static inline bool lsm_cursor_valid(const struct lsm_cursor *c) { return c->ops->valid(c); }
static inline void lsm_cursor_entry(const struct lsm_cursor *c, struct lsm_entry *e)
{
	c->ops->entry(c, e);
}
static inline void lsm_cursor_free(struct lsm_cursor *c)
{
	if (c)
		c->ops->free(c);
}

/*
 * A merging cursor over n children ordered newest first: for a key present
 * in several children, the entry of the lowest-index child wins and the
 * others are skipped. Takes ownership of the children (freed with it, also
 * on failure). STRATA_ENOMEM.
 */
int lsm_merge_cursor_new(struct lsm_cursor **out, struct lsm_cursor **children, size_t n);

#endif
