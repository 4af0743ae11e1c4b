/*
 * core/json/jstore.c — JSON document collections (see jstore.h for the key
 * layout, the crash-safety rules and the query semantics).
 *
 * Locks, in the order they are taken:
 *   1. json_store.lock (rwlock)  read: an op on a collection; write: create,
 *                                drop, close (no op runs on a collection then)
 *   2. coll.wmu (mutex)          every write of the collection: put, delete,
 *                                index create/drop. The index array changes
 *                                only under it.
 *   3. coll.mlock (rwlock)       read: a query or index list reading the
 *                                index array; write: changing that array
 *                                (taken inside wmu).
 * Document writes do not take mlock: they hold wmu, under which the index
 * array cannot change.
 *
 * Directories: DIR/NAME, or for a collection in a tablespace a symbolic
 * link DIR/NAME -> TSDIR/json/NAME; both are created and removed with the
 * protocols of core/tablespace/objdir.h (.creating-/.dropped- names,
 * finished by jstore_open).
 */
#include "core/json/jstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json/jbudget.h"
#include "core/json/jdoc.h"
#include "core/json/jpath.h"
#include "core/lsm.h"
#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define KIND_NODE 0x01
#define KIND_ELEM 0x02
#define TAG_NULL 0x10
#define TAG_FALSE 0x20
#define TAG_TRUE 0x21
#define TAG_NUM 0x30
#define TAG_STR 0x40
#define BUILD_BATCH 512
#define MAX_CANDIDATES 1000000

struct jindex {
	uint32_t id;
	char *path;
	struct jpath *jp;
	bool ready;
};

struct coll {
	char name[JSTORE_NAME_MAX + 1];
	char dir[4400];
	struct lsm *t;
	pthread_mutex_t wmu;
	pthread_rwlock_t mlock;
	char *tablespace;
	long long created_us;
	uint32_t next_index_id;
	struct jindex *idx;
	size_t nidx;
	uint32_t *dropped; /* index ids whose entries are being deleted */
	size_t ndropped;
};

struct json_store {
	char dir[4200];
	_Atomic uint64_t index_budget; /* units per document for new index entries */
	pthread_rwlock_t lock;
	struct coll **v;
	size_t n;
};

/* ------------------------------------------------------------ byte keys */

struct kbuf {
	unsigned char *p;
	size_t n, cap;
	bool oom;
};

static void kb_put(struct kbuf *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n)
			cap *= 2;
		unsigned char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void kb_byte(struct kbuf *b, unsigned char c) { kb_put(b, &c, 1); }

static void kb_free(struct kbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool is_scalar(const json_t *v) { return v && !json_is_object(v) && !json_is_array(v); }

/* enc(v) of a scalar; false if v is not one. */
static bool kb_value(struct kbuf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL: kb_byte(b, TAG_NULL); return true;
	case JSON_FALSE: kb_byte(b, TAG_FALSE); return true;
	case JSON_TRUE: kb_byte(b, TAG_TRUE); return true;
	case JSON_INTEGER:
	case JSON_REAL: {
		int sign, exp;
		unsigned long long mant;
		jnum_parts(v, &sign, &exp, &mant);
		kb_byte(b, TAG_NUM);
		if (sign == 0) {
			kb_byte(b, 0x02);
			return true;
		}
		unsigned char o[11];
		uint16_t e = (uint16_t)(exp + 32768);
		o[0] = sign < 0 ? 0x01 : 0x03;
		o[1] = (unsigned char)(e >> 8);
		o[2] = (unsigned char)e;
		for (int i = 0; i < 8; i++)
			o[3 + i] = (unsigned char)(mant >> (56 - 8 * i));
		if (sign < 0)
			for (int i = 1; i < 11; i++)
				o[i] = (unsigned char)~o[i];
		kb_put(b, o, 11);
		return true;
	}
	case JSON_STRING: {
		const unsigned char *s = (const unsigned char *)json_string_value(v);
		size_t n = json_string_length(v), lim = n > JSTORE_STR_KEY_MAX ? JSTORE_STR_KEY_MAX : n;
		kb_byte(b, TAG_STR);
		for (size_t i = 0; i < lim; i++) {
			kb_byte(b, s[i]);
			if (s[i] == 0)
				kb_byte(b, 0xFF);
		}
		kb_byte(b, 0x00);
		kb_byte(b, n > JSTORE_STR_KEY_MAX ? 0x02 : 0x01);
		return true;
	}
	default: return false;
	}
}

size_t jstore_encode_value(const json_t *v, unsigned char *out, size_t cap)
{
	struct kbuf b = {0};
	if (!kb_value(&b, v) || b.oom) {
		kb_free(&b);
		return 0;
	}
	size_t n = b.n;
	if (n <= cap)
		memcpy(out, b.p, n);
	kb_free(&b);
	return n;
}

/* Length of the enc(v) at the start of k[0..n), 0 if malformed. */
static size_t enc_len(const unsigned char *k, size_t n)
{
	if (n == 0)
		return 0;
	switch (k[0]) {
	case TAG_NULL:
	case TAG_FALSE:
	case TAG_TRUE: return 1;
	case TAG_NUM:
		if (n < 2)
			return 0;
		return k[1] == 0x02 ? 2 : n >= 12 ? 12 : 0;
	case TAG_STR:
		for (size_t i = 1; i + 1 < n; i++) {
			if (k[i] != 0)
				continue;
			if (k[i + 1] == 0x01 || k[i + 1] == 0x02)
				return i + 2;
			i++; /* 00 FF */
		}
		return 0;
	}
	return 0;
}

static void kb_index_prefix(struct kbuf *b, uint32_t id, unsigned char kind)
{
	unsigned char p[6] = {'x', (unsigned char)(id >> 24), (unsigned char)(id >> 16),
			      (unsigned char)(id >> 8), (unsigned char)id, kind};
	kb_put(b, p, kind ? 6 : 5);
}

/* The smallest key greater than every key starting with b (in place);
 * false when there is none (all 0xFF). */
static bool kb_succ(struct kbuf *b)
{
	while (b->n > 0) {
		if (b->p[b->n - 1] != 0xFF) {
			b->p[b->n - 1]++;
			return true;
		}
		b->n--;
	}
	return false;
}

static int kb_copy(struct kbuf *dst, const struct kbuf *src)
{
	memset(dst, 0, sizeof(*dst));
	kb_put(dst, src->p, src->n);
	return dst->oom ? STRATA_ENOMEM : 0;
}

/* ------------------------------------------------------------ batches */

struct ops {
	struct lsm_batch_op *v;
	unsigned char **keys; /* owned */
	size_t n, cap;
	bool oom;
};

static void ops_add(struct ops *o, enum lsm_op_type type, const void *k, size_t klen,
		    const void *val, size_t vlen)
{
	if (o->oom)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct lsm_batch_op *nv = realloc(o->v, cap * sizeof(*nv));
		if (nv)
			o->v = nv;
		unsigned char **nk = nv ? realloc(o->keys, cap * sizeof(*nk)) : NULL;
		if (!nv || !nk) {
			o->oom = true;
			return;
		}
		o->keys = nk;
		o->cap = cap;
	}
	unsigned char *kc = malloc(klen);
	if (!kc) {
		o->oom = true;
		return;
	}
	memcpy(kc, k, klen);
	o->keys[o->n] = kc;
	o->v[o->n++] = (struct lsm_batch_op){type, kc, klen, val, vlen};
}

static void ops_reset(struct ops *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->keys[i]);
	o->n = 0;
}

static void ops_free(struct ops *o)
{
	ops_reset(o);
	free(o->v);
	free(o->keys);
	memset(o, 0, sizeof(*o));
}

static int ops_write(struct coll *c, struct ops *o)
{
	if (o->oom)
		return STRATA_ENOMEM;
	if (o->n == 0)
		return 0;
	struct lsm_batch b = {.ops = o->v, .count = o->n};
	int rv = lsm_write_batch(c->t, &b, NULL);
	ops_reset(o);
	return rv;
}

/* Adds one type op for the index entry prefix(ix_id, kind) value id. */
static int index_entry(uint32_t ix_id, unsigned char kind, const json_t *v, const char *id,
		       size_t idlen, enum lsm_op_type type, struct kbuf *k, struct ops *o)
{
	k->n = 0;
	kb_index_prefix(k, ix_id, kind);
	kb_value(k, v);
	kb_put(k, id, idlen);
	if (k->oom)
		return STRATA_ENOMEM;
	ops_add(o, type, k->p, k->n, "", 0);
	return 0;
}

/* Adds type ops for every index entry of doc (id) under index ix: a scalar
 * node is one KIND_NODE entry, each scalar element of an array node one
 * KIND_ELEM entry. The index path's evaluation is charged to budget. */
static int index_entries(const struct jindex *ix, json_t *doc, const char *id, size_t idlen,
			 enum lsm_op_type type, struct jbudget *budget, struct ops *o)
{
	struct jpath_nodes l = {0};
	int rv = jpath_eval(ix->jp, doc, budget, &l);
	struct kbuf k = {0};
	for (size_t i = 0; !rv && i < l.n; i++) {
		json_t *v = l.v[i].value;
		if (is_scalar(v)) {
			rv = index_entry(ix->id, KIND_NODE, v, id, idlen, type, &k, o);
		} else if (json_is_array(v)) {
			for (size_t e = 0; !rv && e < json_array_size(v); e++) {
				json_t *ev = json_array_get(v, e);
				if (is_scalar(ev))
					rv = index_entry(ix->id, KIND_ELEM, ev, id, idlen, type, &k, o);
			}
		}
	}
	kb_free(&k);
	jpath_nodes_free(&l);
	if (!rv && o->oom)
		rv = STRATA_ENOMEM;
	return rv;
}

/*
 * index_entries for every index of c (wmu held): a document's whole index
 * footprint, inserted (LSM_OP_PUT) or deleted (LSM_OP_DELETE).
 * Budget: new entries (PUT) are computed under a budget of limit units per
 * document (0: unlimited), shared by all the indexes; on
 * STRATA_EPATH_TOO_EXPENSIVE *slow names the index that ran out. The
 * entries of a stored document (DELETE) are computed without a limit: they
 * were computed within the budget when the document was put (the cost is
 * deterministic), and a delete must never be refused.
 */
static int doc_index_entries(const struct coll *c, json_t *doc, const char *id, size_t idlen,
			     enum lsm_op_type type, uint64_t limit, const struct jindex **slow,
			     struct ops *o)
{
	struct jbudget b = jbudget_make(limit);
	struct jbudget *bp = type == LSM_OP_PUT && limit ? &b : NULL;
	int rv = 0;
	for (size_t i = 0; !rv && i < c->nidx; i++) {
		rv = index_entries(&c->idx[i], doc, id, idlen, type, bp, o);
		if (rv == STRATA_EPATH_TOO_EXPENSIVE && slow)
			*slow = &c->idx[i];
	}
	return rv;
}

/* ------------------------------------------------------------ names */

bool jstore_name_ok(const char *name, const char *field, char *msg, size_t msglen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > JSTORE_NAME_MAX) {
		snprintf(msg, msglen, "field '%s' must be 1..%d characters", field, JSTORE_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-')) {
			snprintf(msg, msglen, "field '%s' may only contain letters, digits, '_' and '-'", field);
			return false;
		}
	}
	return true;
}

bool jstore_id_ok(const char *id, char *msg, size_t msglen)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > JSTORE_ID_MAX) {
		snprintf(msg, msglen, "document id must be 1..%d bytes", JSTORE_ID_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c < 0x20 || c == 0x7F || c == '/') {
			snprintf(msg, msglen, "document id must not contain '/' or control characters");
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ metadata */

static json_t *meta_json(const struct coll *c)
{
	json_t *ix = json_array(), *dr = json_array();
	for (size_t i = 0; ix && i < c->nidx; i++)
		json_array_append_new(ix, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)c->idx[i].id,
						    "path", c->idx[i].path, "state",
						    c->idx[i].ready ? "ready" : "building"));
	for (size_t i = 0; dr && i < c->ndropped; i++)
		json_array_append_new(dr, json_integer(c->dropped[i]));
	return json_pack("{s:s, s:s?, s:I, s:I, s:o*, s:o*}", "name", c->name, "tablespace",
			 c->tablespace, "created_us", (json_int_t)c->created_us, "next_index_id",
			 (json_int_t)c->next_index_id, "indexes", ix, "dropped", dr);
}

static int meta_write(struct coll *c)
{
	json_t *m = meta_json(c);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!text)
		return STRATA_ENOMEM;
	struct lsm_write_opts wo = {.sync = true};
	int rv = lsm_put(c->t, "m", 1, text, strlen(text), &wo);
	free(text);
	return rv;
}

static void index_clear(struct jindex *ix)
{
	free(ix->path);
	jpath_free(ix->jp);
	memset(ix, 0, sizeof(*ix));
}

static int meta_load(struct coll *c, const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	json_t *ix = json_object_get(m, "indexes"), *dr = json_object_get(m, "dropped");
	if (!m || !json_is_array(ix) || !json_is_integer(json_object_get(m, "next_index_id"))) {
		snprintf(err, errlen, "collection '%s': metadata is not valid", c->name);
		json_decref(m);
		return STRATA_ECORRUPT;
	}
	const char *ts = json_string_value(json_object_get(m, "tablespace"));
	c->tablespace = ts ? strdup(ts) : NULL;
	c->created_us = json_integer_value(json_object_get(m, "created_us"));
	c->next_index_id = (uint32_t)json_integer_value(json_object_get(m, "next_index_id"));
	size_t n = json_array_size(ix);
	c->idx = calloc(n ? n : 1, sizeof(*c->idx));
	c->dropped = calloc(json_array_size(dr) + 1, sizeof(*c->dropped));
	if (!c->idx || !c->dropped || (ts && !c->tablespace)) {
		json_decref(m);
		return STRATA_ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(dr); i++)
		c->dropped[c->ndropped++] = (uint32_t)json_integer_value(json_array_get(dr, i));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(ix, i);
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *state = json_string_value(json_object_get(e, "state"));
		char msg[256];
		struct jindex *x = &c->idx[c->nidx];
		if (!path || !state || jpath_compile(path, &x->jp, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "collection '%s': index %zu in the metadata is not valid", c->name, i);
			json_decref(m);
			return STRATA_ECORRUPT;
		}
		x->id = (uint32_t)json_integer_value(json_object_get(e, "id"));
		x->path = strdup(path);
		x->ready = strcmp(state, "ready") == 0;
		c->nidx++;
		if (!x->path) {
			json_decref(m);
			return STRATA_ENOMEM;
		}
	}
	json_decref(m);
	return 0;
}

/* ------------------------------------------------------------ collections */

static void coll_free(struct coll *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nidx; i++)
		index_clear(&c->idx[i]);
	free(c->idx);
	free(c->dropped);
	free(c->tablespace);
	pthread_mutex_destroy(&c->wmu);
	pthread_rwlock_destroy(&c->mlock);
	free(c);
}

static int coll_close(struct coll *c)
{
	int rv = c ? lsm_close(c->t) : 0;
	coll_free(c);
	return rv;
}

static struct coll *coll_new(const struct json_store *s, const char *name)
{
	struct coll *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", s->dir, name);
	pthread_mutex_init(&c->wmu, NULL);
	pthread_rwlock_init(&c->mlock, NULL);
	return c;
}

static int tree_open_at(struct coll *c, const char *dir)
{
	struct lsm_options o = {0};
	o.sync = LSM_SYNC_COMMIT;
	o.memtable_bytes = 1u << 20;
	char tname[LSM_NAME_MAX + 1];
	snprintf(tname, sizeof(tname), "json-%.58s", c->name);
	return lsm_open(&c->t, dir, tname, &o);
}

static int tree_open(struct coll *c) { return tree_open_at(c, c->dir); }

/* Deletes every key in [start, end) in batches; synced at the end. */
static int delete_range(struct coll *c, const struct kbuf *start, const struct kbuf *end)
{
	struct lsm_iter *it;
	struct ops o = {0};
	int rv = lsm_iter_new(c->t, &it);
	if (rv)
		return rv;
	rv = lsm_iter_seek(it, start->p, start->n);
	while (!rv && lsm_iter_valid(it)) {
		size_t kl;
		const unsigned char *k = lsm_iter_key(it, &kl);
		size_t m = kl < end->n ? kl : end->n;
		int cmp = memcmp(k, end->p, m);
		if (cmp > 0 || (cmp == 0 && kl >= end->n))
			break;
		ops_add(&o, LSM_OP_DELETE, k, kl, NULL, 0);
		if (o.n >= BUILD_BATCH)
			rv = ops_write(c, &o);
		if (!rv)
			rv = lsm_iter_next(it);
	}
	lsm_iter_free(it);
	if (!rv)
		rv = ops_write(c, &o);
	ops_free(&o);
	return rv;
}

static int delete_index_entries(struct coll *c, uint32_t id)
{
	struct kbuf a = {0}, b = {0};
	kb_index_prefix(&a, id, 0);
	int rv = kb_copy(&b, &a);
	if (!rv && !a.oom) {
		kb_succ(&b);
		rv = delete_range(c, &a, &b);
	} else {
		rv = STRATA_ENOMEM;
	}
	kb_free(&a);
	kb_free(&b);
	return rv;
}

/* Writes the entries of every document for index ix (wmu held), each
 * document's under a budget of limit units (0: unlimited); on
 * STRATA_EPATH_TOO_EXPENSIVE the id of the document is in slow_id. */
static int build_index(struct coll *c, const struct jindex *ix, uint64_t limit, char *slow_id,
		       size_t slow_idlen)
{
	struct lsm_iter *it;
	struct ops o = {0};
	int rv = lsm_iter_new(c->t, &it);
	if (rv)
		return rv;
	rv = lsm_iter_seek(it, "d", 1);
	while (!rv && lsm_iter_valid(it)) {
		size_t kl, vl;
		const char *k = lsm_iter_key(it, &kl);
		if (kl < 1 || k[0] != 'd')
			break;
		const char *v = lsm_iter_value(it, &vl);
		json_t *doc = json_loadb(v, vl, JSON_DECODE_ANY, NULL);
		if (!doc) {
			rv = STRATA_ECORRUPT;
			break;
		}
		struct jbudget b = jbudget_make(limit);
		rv = index_entries(ix, doc, k + 1, kl - 1, LSM_OP_PUT, limit ? &b : NULL, &o);
		if (rv == STRATA_EPATH_TOO_EXPENSIVE && slow_id)
			snprintf(slow_id, slow_idlen, "%.*s", (int)(kl - 1 > 256 ? 256 : kl - 1), k + 1);
		json_decref(doc);
		if (!rv && o.n >= BUILD_BATCH)
			rv = ops_write(c, &o);
		if (!rv)
			rv = lsm_iter_next(it);
	}
	lsm_iter_free(it);
	if (!rv)
		rv = ops_write(c, &o);
	ops_free(&o);
	return rv;
}

/* Finishes what a crash interrupted: index builds and drops. */
static int coll_recover(struct coll *c)
{
	int rv = 0;
	bool changed = c->ndropped > 0;
	for (size_t i = 0; !rv && i < c->ndropped; i++)
		rv = delete_index_entries(c, c->dropped[i]);
	if (!rv)
		c->ndropped = 0;
	for (size_t i = 0; !rv && i < c->nidx; i++) {
		if (c->idx[i].ready)
			continue;
		/* finishing a create a crash interrupted: not refused now
		 * (stratad would not start), so without a limit */
		rv = build_index(c, &c->idx[i], 0, NULL, 0);
		if (!rv) {
			c->idx[i].ready = true;
			changed = true;
		}
	}
	if (!rv && changed)
		rv = meta_write(c);
	return rv;
}

static int remove_dir(const char *dir)
{
	int rv = lsm_destroy_dir(dir);
	if (rv == STRATA_ENOT_FOUND)
		rv = 0;
	if (rmdir(dir) != 0 && errno != ENOENT && !rv)
		rv = strata_err_from_errno(errno);
	return rv;
}

static int coll_load(struct json_store *s, const char *name, char *err, size_t errlen)
{
	struct coll *c = coll_new(s, name);
	if (!c)
		return STRATA_ENOMEM;
	int rv = tree_open(c);
	if (rv) {
		snprintf(err, errlen, "collection '%s': cannot open its tree: %s", name, strata_strerror(rv));
		coll_free(c);
		return rv;
	}
	void *m = NULL;
	size_t ml = 0;
	rv = lsm_get(c->t, "m", 1, &m, &ml);
	if (rv == STRATA_ENOT_FOUND) {
		/* a create that did not finish: nothing was acknowledged
		 * (also through a link into a tablespace) */
		coll_close(c);
		(void)objdir_remove(s->dir, name); /* retried at the next open if it fails */
		return 0;
	}
	if (rv == 0)
		rv = meta_load(c, m, ml, err, errlen);
	else
		snprintf(err, errlen, "collection '%s': cannot read its metadata: %s", name, strata_strerror(rv));
	free(m);
	if (!rv && (rv = coll_recover(c)) != 0)
		snprintf(err, errlen, "collection '%s': cannot finish an index build or drop: %s", name,
			 strata_strerror(rv));
	if (!rv && s->n >= JSTORE_MAX_COLLECTIONS)
		rv = STRATA_ECONFLICT;
	struct coll **nv = rv ? NULL : realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!rv && !nv)
		rv = STRATA_ENOMEM;
	if (rv) {
		coll_close(c);
		return rv;
	}
	s->v = nv;
	s->v[s->n++] = c;
	return 0;
}

int jstore_open(struct json_store **out, const char *dir, char *err, size_t errlen)
{
	struct json_store *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return STRATA_ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	atomic_init(&s->index_budget, JBUDGET_DEFAULT);
	pthread_rwlock_init(&s->lock, NULL);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		jstore_close(s);
		return STRATA_EIO;
	}
	/* Creates and drops a crash interrupted (also through links into
	 * tablespaces): finished. */
	int rv = objdir_recover(dir);
	if (rv) {
		snprintf(err, errlen, "cannot clean %s: %s", dir, strata_strerror(rv));
		jstore_close(s);
		return rv;
	}
	DIR *dp = opendir(dir);
	if (!dp) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		jstore_close(s);
		return STRATA_EIO;
	}
	struct dirent *de;
	char msg[256];
	while (!rv && (de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char path[4600];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct stat lst;
		if (de->d_name[0] == '.' && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
			continue; /* not ours: objdir_recover handled our links */
		if (de->d_name[0] == '.') { /* a drop that did not finish */
			rv = remove_dir(path);
			if (rv)
				snprintf(err, errlen, "cannot remove %s: %s", path, strata_strerror(rv));
			continue;
		}
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    !jstore_name_ok(de->d_name, "name", msg, sizeof(msg)))
			continue; /* not ours */
		rv = coll_load(s, de->d_name, err, errlen);
	}
	closedir(dp);
	if (rv) {
		jstore_close(s);
		return rv;
	}
	*out = s;
	return 0;
}

int jstore_close(struct json_store *s)
{
	if (!s)
		return 0;
	int rv = 0;
	for (size_t i = 0; i < s->n; i++) {
		int r = coll_close(s->v[i]);
		if (r && !rv)
			rv = r;
	}
	free(s->v);
	pthread_rwlock_destroy(&s->lock);
	free(s);
	return rv;
}

static struct coll *find(struct json_store *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->name, name) == 0)
			return s->v[i];
	return NULL;
}

/* Read-locks the registry and finds name; unlock with pthread_rwlock_unlock. */
static int acquire(struct json_store *s, const char *name, struct coll **c, char *msg,
		   size_t msglen)
{
	if (!jstore_name_ok(name, "collection", msg, msglen))
		return STRATA_EBAD_REQUEST;
	pthread_rwlock_rdlock(&s->lock);
	*c = find(s, name);
	if (!*c) {
		pthread_rwlock_unlock(&s->lock);
		snprintf(msg, msglen, "no collection named '%s'", name);
		return STRATA_ENOT_FOUND;
	}
	return 0;
}

static void release(struct json_store *s) { pthread_rwlock_unlock(&s->lock); }

static json_t *coll_info(struct coll *c)
{
	json_t *ix = json_array();
	pthread_rwlock_rdlock(&c->mlock);
	for (size_t i = 0; ix && i < c->nidx; i++)
		json_array_append_new(ix, json_pack("{s:s, s:s}", "path", c->idx[i].path, "state",
						    c->idx[i].ready ? "ready" : "building"));
	pthread_rwlock_unlock(&c->mlock);
	return json_pack("{s:s, s:s?, s:I, s:o*}", "name", c->name, "tablespace", c->tablespace,
			 "created_us", (json_int_t)c->created_us, "indexes", ix);
}

static int lsm_err(int rv, const char *what, char *msg, size_t msglen)
{
	if (rv == STRATA_EBUSY)
		snprintf(msg, msglen, "%s: writes are stopped (write stall); retry later", what);
	else if (rv == STRATA_ECORRUPT)
		snprintf(msg, msglen, "%s: a block failed its checksum; no data returned", what);
	else if (rv == STRATA_EREAD_ONLY)
		snprintf(msg, msglen, "%s: the collection went read-only after an I/O failure", what);
	else if (rv == STRATA_ENOMEM)
		snprintf(msg, msglen, "%s: out of memory", what);
	else
		snprintf(msg, msglen, "%s: %s", what, strata_strerror(rv));
	return rv;
}

/* objdir init: the new directory becomes a tree holding the metadata, so
 * the collection exists as soon as the directory is in place. */
static int init_coll_dir(void *arg, const char *dir, char *msg, size_t msglen)
{
	struct coll *c = arg;
	int rv = tree_open_at(c, dir);
	if (rv) {
		snprintf(msg, msglen, "cannot create collection '%s': %s", c->name, strata_strerror(rv));
		return rv;
	}
	rv = meta_write(c);
	if (rv)
		lsm_err(rv, "create", msg, msglen);
	int r = lsm_close(c->t);
	c->t = NULL;
	if (!rv && r)
		rv = lsm_err(r, "create", msg, msglen);
	return rv;
}

int jstore_create(struct json_store *s, const char *name, const char *tablespace, json_t **info,
		  char *msg, size_t msglen)
{
	return jstore_create_in(s, name, tablespace, NULL, info, msg, msglen);
}

int jstore_create_in(struct json_store *s, const char *name, const char *tablespace,
		     const char *place_dir, json_t **info, char *msg, size_t msglen)
{
	if (!jstore_name_ok(name, "name", msg, msglen) ||
	    (tablespace && !jstore_name_ok(tablespace, "tablespace", msg, msglen)))
		return STRATA_EBAD_REQUEST;
	pthread_rwlock_wrlock(&s->lock);
	int rv = 0;
	struct coll *c = NULL;
	if (find(s, name)) {
		snprintf(msg, msglen, "collection '%s' exists", name);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	if (s->n >= JSTORE_MAX_COLLECTIONS) {
		snprintf(msg, msglen, "at most %d collections", JSTORE_MAX_COLLECTIONS);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	struct coll **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	s->v = nv;
	c = coll_new(s, name);
	if (!c) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->created_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	c->next_index_id = 1;
	if (tablespace && !(c->tablespace = strdup(tablespace))) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	/* Built aside (in the tablespace behind a .creating- link, or as
	 * DIR/.creating-NAME) with its metadata, then renamed into place. */
	if ((rv = objdir_create(s->dir, name, place_dir, init_coll_dir, c, msg, msglen)) != 0)
		goto out;
	if ((rv = tree_open(c)) != 0) {
		snprintf(msg, msglen, "cannot open collection '%s': %s", name, strata_strerror(rv));
		(void)objdir_remove(s->dir, name);
		goto out;
	}
	s->v[s->n++] = c;
	*info = coll_info(c);
	c = NULL;
	rv = *info ? 0 : STRATA_ENOMEM;
out:
	if (c)
		coll_free(c);
	pthread_rwlock_unlock(&s->lock);
	return rv;
}

int jstore_drop(struct json_store *s, const char *name, char *msg, size_t msglen)
{
	if (!jstore_name_ok(name, "collection", msg, msglen))
		return STRATA_EBAD_REQUEST;
	pthread_rwlock_wrlock(&s->lock);
	size_t i;
	for (i = 0; i < s->n && strcmp(s->v[i]->name, name) != 0; i++)
		;
	if (i == s->n) {
		pthread_rwlock_unlock(&s->lock);
		snprintf(msg, msglen, "no collection named '%s'", name);
		return STRATA_ENOT_FOUND;
	}
	struct coll *c = s->v[i];
	int rv = lsm_close(c->t);
	c->t = NULL;
	(void)rv; /* the files go anyway */
	/* Renamed to .dropped-NAME first (fsync'ed), then deleted, through
	 * the link for a collection in a tablespace; a crash in between is
	 * finished by jstore_open. */
	rv = objdir_remove(s->dir, name);
	struct stat st;
	if (rv && lstat(c->dir, &st) == 0) {
		snprintf(msg, msglen, "drop '%s': cannot rename its directory: %s", name, strata_strerror(rv));
		/* still in place: reopen so the collection stays usable */
		if (tree_open(c) != 0) {
			memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
			s->n--;
			coll_free(c);
		}
		pthread_rwlock_unlock(&s->lock);
		return rv;
	}
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
	coll_free(c);
	pthread_rwlock_unlock(&s->lock);
	if (rv) /* gone from its place; the rest is deleted at the next open */
		fprintf(stderr, "stratad: drop '%s': deleting its files: %s\n", name, strata_strerror(rv));
	return 0;
}

json_t *jstore_list(struct json_store *s)
{
	json_t *arr = json_array();
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; arr && i < s->n; i++)
		json_array_append_new(arr, coll_info(s->v[i]));
	pthread_rwlock_unlock(&s->lock);
	return json_pack("{s:o*}", "collections", arr);
}

int jstore_info(struct json_store *s, const char *name, json_t **info, char *msg, size_t msglen)
{
	struct coll *c;
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	*info = coll_info(c);
	release(s);
	return *info ? 0 : STRATA_ENOMEM;
}

/* ------------------------------------------------------------ documents */

static int doc_key(struct kbuf *k, const char *id)
{
	kb_byte(k, 'd');
	kb_put(k, id, strlen(id));
	return k->oom ? STRATA_ENOMEM : 0;
}

static int read_doc(struct coll *c, const char *id, size_t idlen, json_t **doc)
{
	struct kbuf k = {0};
	kb_byte(&k, 'd');
	kb_put(&k, id, idlen);
	if (k.oom)
		return STRATA_ENOMEM;
	void *v = NULL;
	size_t vl = 0;
	int rv = lsm_get(c->t, k.p, k.n, &v, &vl);
	kb_free(&k);
	if (rv)
		return rv;
	*doc = json_loadb(v, vl, JSON_DECODE_ANY, NULL);
	free(v);
	return *doc ? 0 : STRATA_ECORRUPT;
}

int jstore_put(struct json_store *s, const char *name, const char *id, const json_t *doc,
	       bool *created, char *msg, size_t msglen)
{
	struct coll *c;
	if (!jstore_id_ok(id, msg, msglen))
		return STRATA_EBAD_REQUEST;
	if (!doc) {
		snprintf(msg, msglen, "a document is required");
		return STRATA_EBAD_REQUEST;
	}
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	struct kbuf k = {0};
	struct ops o = {0};
	json_t *old = NULL, *cur = NULL;
	size_t idlen = strlen(id);
	if (!text || doc_key(&k, id)) {
		rv = STRATA_ENOMEM;
		goto out_unlocked;
	}
	/* what is stored must read back the same (reals with 17 digits) */
	cur = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!cur) {
		rv = STRATA_ENOMEM;
		goto out_unlocked;
	}
	pthread_mutex_lock(&c->wmu);
	rv = read_doc(c, id, idlen, &old);
	if (rv == STRATA_ENOT_FOUND) {
		rv = 0;
		old = NULL;
	}
	if (rv) {
		lsm_err(rv, "put", msg, msglen);
		goto out;
	}
	const struct jindex *slow = NULL;
	uint64_t limit = atomic_load(&s->index_budget);
	if (old)
		rv = doc_index_entries(c, old, id, idlen, LSM_OP_DELETE, 0, NULL, &o);
	ops_add(&o, LSM_OP_PUT, k.p, k.n, text, strlen(text));
	if (!rv)
		rv = doc_index_entries(c, cur, id, idlen, LSM_OP_PUT, limit, &slow, &o);
	if (!rv)
		rv = ops_write(c, &o);
	if (rv == STRATA_EPATH_TOO_EXPENSIVE)
		snprintf(msg, msglen, "put: index path '%s' on this document is over the budget of "
			 "%llu units of work per document; nothing was written",
			 slow ? slow->path : "?", (unsigned long long)limit);
	else if (rv)
		lsm_err(rv, "put", msg, msglen);
	else
		*created = old == NULL;
out:
	pthread_mutex_unlock(&c->wmu);
out_unlocked:
	release(s);
	ops_free(&o);
	kb_free(&k);
	json_decref(old);
	json_decref(cur);
	free(text);
	return rv;
}

int jstore_get(struct json_store *s, const char *name, const char *id, json_t **doc, char *msg,
	       size_t msglen)
{
	struct coll *c;
	if (!jstore_id_ok(id, msg, msglen))
		return STRATA_EBAD_REQUEST;
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	rv = read_doc(c, id, strlen(id), doc);
	if (rv == STRATA_ENOT_FOUND)
		snprintf(msg, msglen, "no document '%s' in collection '%s'", id, name);
	else if (rv)
		lsm_err(rv, "get", msg, msglen);
	release(s);
	return rv;
}

int jstore_delete(struct json_store *s, const char *name, const char *id, char *msg,
		  size_t msglen)
{
	struct coll *c;
	if (!jstore_id_ok(id, msg, msglen))
		return STRATA_EBAD_REQUEST;
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	struct kbuf k = {0};
	struct ops o = {0};
	json_t *old = NULL;
	size_t idlen = strlen(id);
	pthread_mutex_lock(&c->wmu);
	rv = read_doc(c, id, idlen, &old);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "no document '%s' in collection '%s'", id, name);
		goto out;
	}
	if (!rv)
		rv = doc_key(&k, id);
	if (!rv)
		rv = doc_index_entries(c, old, id, idlen, LSM_OP_DELETE, 0, NULL, &o);
	if (!rv) {
		ops_add(&o, LSM_OP_DELETE, k.p, k.n, NULL, 0);
		rv = ops_write(c, &o);
	}
	if (rv)
		lsm_err(rv, "delete", msg, msglen);
out:
	pthread_mutex_unlock(&c->wmu);
	release(s);
	ops_free(&o);
	kb_free(&k);
	json_decref(old);
	return rv;
}

int jstore_list_docs(struct json_store *s, const char *name, const char *after, size_t limit,
		     json_t **out, char *msg, size_t msglen)
{
	struct coll *c;
	if (after && !jstore_id_ok(after, msg, msglen))
		return STRATA_EBAD_REQUEST;
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	struct kbuf k = {0};
	kb_byte(&k, 'd');
	if (after)
		kb_put(&k, after, strlen(after) + 1); /* id + NUL: the first id after it */
	json_t *items = json_array(), *next = json_null();
	struct lsm_iter *it = NULL;
	if (k.oom || !items) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	if ((rv = lsm_iter_new(c->t, &it)) == 0)
		rv = lsm_iter_seek(it, k.p, k.n);
	while (!rv && lsm_iter_valid(it)) {
		size_t kl, vl;
		const char *key = lsm_iter_key(it, &kl);
		if (kl < 1 || key[0] != 'd')
			break;
		if (json_array_size(items) == limit) {
			json_decref(next);
			next = json_stringn(key + 1, kl - 1);
			break;
		}
		const char *v = lsm_iter_value(it, &vl);
		json_t *doc = json_loadb(v, vl, JSON_DECODE_ANY, NULL);
		if (!doc) {
			rv = STRATA_ECORRUPT;
			break;
		}
		json_array_append_new(items, json_pack("{s:s%, s:o}", "id", key + 1, kl - 1, "doc", doc));
		rv = lsm_iter_next(it);
	}
	if (rv) {
		lsm_err(rv, "list", msg, msglen);
		goto out;
	}
	*out = json_pack("{s:O, s:O}", "items", items, "next", next);
	rv = *out ? 0 : STRATA_ENOMEM;
out:
	lsm_iter_free(it);
	json_decref(items);
	json_decref(next);
	kb_free(&k);
	release(s);
	return rv;
}

/* ------------------------------------------------------------ indexes */

static struct jindex *find_index(struct coll *c, const struct jpath *p)
{
	for (size_t i = 0; i < c->nidx; i++)
		if (strcmp(jpath_canonical(c->idx[i].jp), jpath_canonical(p)) == 0)
			return &c->idx[i];
	return NULL;
}

static void remove_index_at(struct coll *c, size_t i)
{
	pthread_rwlock_wrlock(&c->mlock);
	index_clear(&c->idx[i]);
	memmove(&c->idx[i], &c->idx[i + 1], (c->nidx - i - 1) * sizeof(*c->idx));
	c->nidx--;
	pthread_rwlock_unlock(&c->mlock);
}

/* Drops index i (wmu held): out of the metadata first, then its entries. */
static int drop_index_locked(struct coll *c, size_t i)
{
	uint32_t id = c->idx[i].id;
	uint32_t *nd = realloc(c->dropped, (c->ndropped + 1) * sizeof(*nd));
	if (!nd)
		return STRATA_ENOMEM;
	c->dropped = nd;
	c->dropped[c->ndropped++] = id;
	remove_index_at(c, i);
	int rv = meta_write(c);
	if (rv)
		return rv; /* in memory it is gone; the next open finishes it */
	rv = delete_index_entries(c, id);
	if (rv)
		return rv;
	c->ndropped--;
	return meta_write(c);
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg, (void)k, (void)kl, (void)v, (void)vl;
	return 0;
}

static long long count_entries(struct coll *c, uint32_t id)
{
	struct kbuf a = {0}, b = {0};
	kb_index_prefix(&a, id, 0);
	size_t n = 0;
	if (kb_copy(&b, &a) == 0 && !a.oom && kb_succ(&b) &&
	    lsm_scan(c->t, a.p, a.n, b.p, b.n, 0, count_cb, NULL, &n) != 0)
		n = 0;
	kb_free(&a);
	kb_free(&b);
	return (long long)n;
}

int jstore_index_create(struct json_store *s, const char *name, const char *path, json_t **info,
			char *msg, size_t msglen)
{
	struct coll *c;
	struct jpath *p;
	int rv = jpath_compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	if ((rv = acquire(s, name, &c, msg, msglen)) != 0) {
		jpath_free(p);
		return rv;
	}
	pthread_mutex_lock(&c->wmu);
	struct jindex *ex = find_index(c, p);
	if (ex) {
		snprintf(msg, msglen, "collection '%s' has an index on '%s' already", name, ex->path);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	if (c->nidx >= JSTORE_MAX_INDEXES) {
		snprintf(msg, msglen, "at most %d indexes per collection", JSTORE_MAX_INDEXES);
		rv = STRATA_ECONFLICT;
		goto out;
	}
	struct jindex *nv = realloc(c->idx, (c->nidx + 1) * sizeof(*nv));
	char *ptext = strdup(path);
	if (!nv || !ptext) {
		if (nv)
			c->idx = nv;
		free(ptext);
		rv = STRATA_ENOMEM;
		goto out;
	}
	pthread_rwlock_wrlock(&c->mlock);
	c->idx = nv;
	struct jindex *ix = &c->idx[c->nidx++];
	*ix = (struct jindex){.id = c->next_index_id++, .path = ptext, .jp = p, .ready = false};
	p = NULL;
	pthread_rwlock_unlock(&c->mlock);
	size_t pos = c->nidx - 1;
	if ((rv = meta_write(c)) != 0) {
		remove_index_at(c, pos);
		lsm_err(rv, "create index", msg, msglen);
		goto out;
	}
	char slow_id[260] = "";
	if ((rv = build_index(c, &c->idx[pos], atomic_load(&s->index_budget), slow_id,
			      sizeof(slow_id))) != 0) {
		if (rv == STRATA_EPATH_TOO_EXPENSIVE)
			snprintf(msg, msglen, "index path '%s' on document '%s' is over the budget of "
				 "%llu units of work per document (a query inside a filter runs once "
				 "per candidate node; regex matching costs per input character)",
				 path, slow_id, (unsigned long long)atomic_load(&s->index_budget));
		else
			lsm_err(rv, "build index", msg, msglen);
		(void)drop_index_locked(c, pos);
		goto out;
	}
	pthread_rwlock_wrlock(&c->mlock);
	c->idx[pos].ready = true;
	pthread_rwlock_unlock(&c->mlock);
	if ((rv = meta_write(c)) != 0) {
		lsm_err(rv, "create index", msg, msglen);
		goto out;
	}
	*info = json_pack("{s:s, s:s, s:s, s:s, s:I}", "collection", name, "path", c->idx[pos].path,
			  "canonical", jpath_canonical(c->idx[pos].jp), "state", "ready", "entries",
			  (json_int_t)count_entries(c, c->idx[pos].id));
	rv = *info ? 0 : STRATA_ENOMEM;
out:
	pthread_mutex_unlock(&c->wmu);
	release(s);
	jpath_free(p);
	return rv;
}

int jstore_index_drop(struct json_store *s, const char *name, const char *path, char *msg,
		      size_t msglen)
{
	struct coll *c;
	struct jpath *p;
	int rv = jpath_compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	if ((rv = acquire(s, name, &c, msg, msglen)) != 0) {
		jpath_free(p);
		return rv;
	}
	pthread_mutex_lock(&c->wmu);
	struct jindex *ix = find_index(c, p);
	if (!ix) {
		snprintf(msg, msglen, "collection '%s' has no index on '%s'", name, path);
		rv = STRATA_ENOT_FOUND;
	} else if ((rv = drop_index_locked(c, (size_t)(ix - c->idx))) != 0) {
		lsm_err(rv, "drop index", msg, msglen);
	}
	pthread_mutex_unlock(&c->wmu);
	release(s);
	jpath_free(p);
	return rv;
}

int jstore_index_list(struct json_store *s, const char *name, json_t **out, char *msg,
		      size_t msglen)
{
	struct coll *c;
	int rv = acquire(s, name, &c, msg, msglen);
	if (rv)
		return rv;
	json_t *arr = json_array();
	pthread_rwlock_rdlock(&c->mlock);
	for (size_t i = 0; arr && i < c->nidx; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:I}", "path", c->idx[i].path,
						     "canonical", jpath_canonical(c->idx[i].jp), "id",
						     (json_int_t)c->idx[i].id, "state",
						     c->idx[i].ready ? "ready" : "building", "entries",
						     (json_int_t)count_entries(c, c->idx[i].id)));
	pthread_rwlock_unlock(&c->mlock);
	release(s);
	*out = json_pack("{s:o*}", "indexes", arr);
	return *out ? 0 : STRATA_ENOMEM;
}

/* ------------------------------------------------------------ queries */

enum qop { Q_EQ, Q_LT, Q_LE, Q_GT, Q_GE, Q_CONTAINS };

/* 1 when doc matches, 0 when not, <0 an error: STRATA_EPATH_TOO_EXPENSIVE
 * (budget), STRATA_ENOMEM. A node list over JPATH_MAX_NODES is no match. */
static int doc_matches(const struct jpath *p, json_t *doc, enum qop op, const json_t *value,
		       struct jbudget *budget)
{
	struct jpath_nodes l = {0};
	bool hit = false;
	int rv = jpath_eval(p, doc, budget, &l);
	if (rv) {
		jpath_nodes_free(&l);
		return rv == STRATA_ETOO_LARGE ? 0 : rv;
	}
	for (size_t i = 0; !hit && i < l.n; i++) {
		json_t *v = l.v[i].value;
		int c;
		switch (op) {
		case Q_EQ: hit = jvalue_equal(v, value); break;
		case Q_LT: hit = jvalue_order(v, value, &c) && c < 0; break;
		case Q_LE: hit = jvalue_order(v, value, &c) && c <= 0; break;
		case Q_GT: hit = jvalue_order(v, value, &c) && c > 0; break;
		case Q_GE: hit = jvalue_order(v, value, &c) && c >= 0; break;
		case Q_CONTAINS: hit = jdoc_contains(v, value); break;
		}
	}
	jpath_nodes_free(&l);
	return hit;
}

struct qstate {
	const struct jpath *p;
	struct jbudget *budget;
	enum qop op;
	const json_t *value;
	size_t limit;
	bool include_docs, truncated;
	json_t *ids, *docs;
	long long scanned;
	int err;
};

static int add_result(struct qstate *q, const char *id, size_t idlen, json_t *doc)
{
	if (json_array_size(q->ids) == q->limit) {
		q->truncated = true;
		return 1;
	}
	if (json_array_append_new(q->ids, json_stringn(id, idlen)) ||
	    (q->include_docs && json_array_append(q->docs, doc))) {
		q->err = STRATA_ENOMEM;
		return 1;
	}
	return 0;
}

static int scan_cb(void *arg, const void *key, size_t kl, const void *val, size_t vl)
{
	struct qstate *q = arg;
	q->scanned++;
	json_t *doc = json_loadb(val, vl, JSON_DECODE_ANY, NULL);
	if (!doc) {
		q->err = STRATA_ECORRUPT;
		return 1;
	}
	int m = doc_matches(q->p, doc, q->op, q->value, q->budget);
	int stop = m < 0 ? (q->err = m, 1) : m ? add_result(q, (const char *)key + 1, kl - 1, doc) : 0;
	json_decref(doc);
	return stop;
}

struct cands {
	char **v;
	size_t n, cap;
	size_t prefix; /* bytes before enc(v): 'x' + id + kind */
	long long scanned;
	int err;
};

static int cand_cb(void *arg, const void *key, size_t kl, const void *val, size_t vl)
{
	(void)val, (void)vl;
	struct cands *cs = arg;
	const unsigned char *k = key;
	cs->scanned++;
	size_t el = kl > cs->prefix ? enc_len(k + cs->prefix, kl - cs->prefix) : 0;
	if (el == 0 || cs->prefix + el >= kl) {
		cs->err = STRATA_ECORRUPT;
		return 1;
	}
	if (cs->n == cs->cap) {
		if (cs->n >= MAX_CANDIDATES) {
			cs->err = STRATA_ETOO_LARGE;
			return 1;
		}
		size_t cap = cs->cap ? cs->cap * 2 : 64;
		char **nv = realloc(cs->v, cap * sizeof(*nv));
		if (!nv) {
			cs->err = STRATA_ENOMEM;
			return 1;
		}
		cs->v = nv;
		cs->cap = cap;
	}
	size_t il = kl - cs->prefix - el;
	char *id = malloc(il + 1);
	if (!id) {
		cs->err = STRATA_ENOMEM;
		return 1;
	}
	memcpy(id, k + cs->prefix + el, il);
	id[il] = '\0';
	cs->v[cs->n++] = id;
	return 0;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Scans one index range [lo, hi) of kind into cs. */
static int index_range(struct coll *c, uint32_t id, unsigned char kind, enum qop op,
		       const json_t *value, struct cands *cs)
{
	struct kbuf pre = {0}, key = {0}, lo = {0}, hi = {0};
	kb_index_prefix(&pre, id, kind);
	kb_copy(&key, &pre);
	kb_value(&key, value);
	bool bucket = json_is_string(value) && json_string_length(value) > JSTORE_STR_KEY_MAX;
	unsigned char tag = json_is_number(value) ? TAG_NUM : TAG_STR;
	int rv = 0;
	struct kbuf key_succ = {0};
	kb_copy(&key_succ, &key);
	kb_succ(&key_succ);
	switch (op) {
	case Q_EQ:
	case Q_CONTAINS:
		kb_copy(&lo, &key);
		kb_copy(&hi, &key_succ);
		break;
	case Q_LT:
	case Q_LE:
		kb_copy(&lo, &pre);
		kb_byte(&lo, tag);
		kb_copy(&hi, op == Q_LE || bucket ? &key_succ : &key);
		break;
	case Q_GT:
	case Q_GE:
		kb_copy(&lo, op == Q_GE || bucket ? &key : &key_succ);
		kb_copy(&hi, &pre);
		kb_byte(&hi, (unsigned char)(tag + 1));
		break;
	}
	if (pre.oom || key.oom || lo.oom || hi.oom || key_succ.oom)
		rv = STRATA_ENOMEM;
	cs->prefix = pre.n;
	if (!rv) {
		rv = lsm_scan(c->t, lo.p, lo.n, hi.p, hi.n, 0, cand_cb, cs, NULL);
		if (!rv)
			rv = cs->err;
	}
	kb_free(&pre);
	kb_free(&key);
	kb_free(&lo);
	kb_free(&hi);
	kb_free(&key_succ);
	return rv;
}

static int parse_op(const char *op, enum qop *out)
{
	static const struct { const char *t; enum qop op; } ops[] = {
		{"=", Q_EQ}, {"==", Q_EQ}, {"<", Q_LT}, {"<=", Q_LE}, {">", Q_GT}, {">=", Q_GE},
		{"contains", Q_CONTAINS},
	};
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i].t) == 0) {
			*out = ops[i].op;
			return 0;
		}
	return STRATA_EBAD_REQUEST;
}

int jstore_query(struct json_store *s, const char *name, const char *path, const char *op_text,
		 const json_t *value, size_t limit, bool include_docs, bool no_index,
		 struct jbudget *budget, json_t **out, char *msg, size_t msglen)
{
	enum qop op;
	if (parse_op(op_text, &op) != 0) {
		snprintf(msg, msglen, "field 'op' must be one of =, <, <=, >, >=, contains");
		return STRATA_EBAD_REQUEST;
	}
	if (!value) {
		snprintf(msg, msglen, "field 'value' is required");
		return STRATA_EBAD_REQUEST;
	}
	if (op != Q_EQ && op != Q_CONTAINS && !json_is_number(value) && !json_is_string(value)) {
		snprintf(msg, msglen, "operator '%s' orders numbers and strings only; the value is %s",
			 op_text, jdoc_type_name(value));
		return STRATA_EBAD_REQUEST;
	}
	if (limit < 1 || limit > JSTORE_QUERY_MAX) {
		snprintf(msg, msglen, "field 'limit' must be an integer in 1..%d", JSTORE_QUERY_MAX);
		return STRATA_EBAD_REQUEST;
	}
	struct jpath *p;
	int rv = jpath_compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	struct coll *c;
	if ((rv = acquire(s, name, &c, msg, msglen)) != 0) {
		jpath_free(p);
		return rv;
	}
	struct qstate q = {.p = p, .budget = budget, .op = op, .value = value, .limit = limit,
			   .include_docs = include_docs, .ids = json_array(), .docs = json_array()};
	struct cands cs = {0};
	const char *used = NULL;
	if (!q.ids || !q.docs) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	pthread_rwlock_rdlock(&c->mlock);
	struct jindex *ix = no_index ? NULL : find_index(c, p);
	if (ix && (!ix->ready || !is_scalar(value)))
		ix = NULL;
	if (!ix) {
		char start = 'd', end = 'e';
		rv = lsm_scan(c->t, &start, 1, &end, 1, 0, scan_cb, &q, NULL);
		if (!rv)
			rv = q.err;
	} else {
		used = ix->path;
		rv = index_range(c, ix->id, KIND_NODE, op, value, &cs);
		if (!rv && op == Q_CONTAINS)
			rv = index_range(c, ix->id, KIND_ELEM, op, value, &cs);
		q.scanned = cs.scanned;
		if (!rv && cs.n > 1)
			qsort(cs.v, cs.n, sizeof(*cs.v), str_ptr_cmp);
		for (size_t i = 0; !rv && i < cs.n; i++) {
			if (i > 0 && strcmp(cs.v[i], cs.v[i - 1]) == 0)
				continue;
			json_t *doc;
			size_t il = strlen(cs.v[i]);
			int r = read_doc(c, cs.v[i], il, &doc);
			if (r == STRATA_ENOT_FOUND)
				continue; /* deleted since the index was read */
			if (r) {
				rv = r;
				break;
			}
			/* recheck: long-string buckets, and writes racing the scan */
			int m = doc_matches(p, doc, op, value, budget);
			int stop = m < 0 ? (q.err = m, 1) : m ? add_result(&q, cs.v[i], il, doc) : 0;
			json_decref(doc);
			if (stop)
				break;
		}
		if (!rv)
			rv = q.err;
	}
	if (rv) {
		if (rv == STRATA_ETOO_LARGE)
			snprintf(msg, msglen, "the query selects more than %d index entries; narrow it", MAX_CANDIDATES);
		else if (rv == STRATA_EPATH_TOO_EXPENSIVE)
			snprintf(msg, msglen, "query: JSONPath evaluation stopped: over its budget of "
				 "%llu units of work for the whole query, every document it reads "
				 "included (a query inside a filter runs once per candidate node; regex "
				 "matching costs per input character)",
				 budget ? (unsigned long long)budget->limit : 0ULL);
		else
			lsm_err(rv, "query", msg, msglen);
		pthread_rwlock_unlock(&c->mlock);
		goto out;
	}
	*out = json_pack("{s:O, s:s?, s:I, s:b, s:I}", "ids", q.ids, "used_index", used, "scanned",
			 (json_int_t)q.scanned, "truncated", q.truncated, "count",
			 (json_int_t)json_array_size(q.ids));
	pthread_rwlock_unlock(&c->mlock);
	if (*out && include_docs)
		json_object_set(*out, "docs", q.docs);
	if (*out && !used)
		json_object_set_new(*out, "used_index", json_null());
	rv = *out ? 0 : STRATA_ENOMEM;
out:
	for (size_t i = 0; i < cs.n; i++)
		free(cs.v[i]);
	free(cs.v);
	json_decref(q.ids);
	json_decref(q.docs);
	release(s);
	jpath_free(p);
	return rv;
}

void jstore_set_index_budget(struct json_store *s, uint64_t units)
{
	atomic_store(&s->index_budget, units);
}
