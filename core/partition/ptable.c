/* core/partition/ptable.c — see ptable.h. */
#include "core/partition/ptable.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/clock.h"
#include "core/lsm.h"
#include "core/partition/intent.h"
#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define META "TABLE.json"
#define ROWID_BLOCK 65536u
#define PATHLEN 4608

struct ptable {
	pthread_rwlock_t lock;
	char name[PTABLE_NAME_MAX + 1];
	char dir[PATHLEN];
	char pk[PART_COL_MAX + 1];   /* "" = generated row ids */
	uint64_t tablespace_id;
	int64_t created_us;
	uint64_t next_rowid, rowid_reserved;
	struct part_scheme s;        /* s.v[i] <-> trees[i], rows[i] */
	struct lsm **trees;
	uint64_t *rows;
	struct intent_log *ilog;     /* under the write lock */
	ptable_write_hook hook;      /* tests: see ptable_set_write_hook */
	void *hook_arg;
};

/* ---- metadata ------------------------------------------------------------ */

static json_t *meta_json(const struct part_scheme *s, const char *name, const char *pk,
			 uint64_t ts, int64_t created, uint64_t reserved)
{
	json_t *parts = json_array();
	for (size_t i = 0; parts && i < s->n; i++)
		json_array_append_new(parts, json_pack("{s:I, s:s, s:o}", "id", (json_int_t)s->v[i].id,
						       "name", s->v[i].name, "definition",
						       part_def_json(s, &s->v[i])));
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:o}", "format", 1,
			 "name", name, "key", s->key, "strategy", part_strategy_name(s->strategy),
			 "hash_key", s->hash_key, "primary_key", pk[0] ? pk : NULL,
			 "tablespace_id", (json_int_t)ts, "created_us", (json_int_t)created,
			 "rowid_reserved", (json_int_t)reserved, "partitions", parts);
}

static int write_meta(const char *dir, const json_t *m)
{
	char *text = json_dumps(m, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return STRATA_ENOMEM;
	int rv = objdir_write_file(dir, META, text, strlen(text));
	free(text);
	return rv;
}

static int save(struct ptable *t)
{
	json_t *m = meta_json(&t->s, t->name, t->pk, t->tablespace_id, t->created_us,
			      t->rowid_reserved);
	if (!m)
		return STRATA_ENOMEM;
	int rv = write_meta(t->dir, m);
	json_decref(m);
	return rv;
}

static void scheme_free(struct part_scheme *s)
{
	for (size_t i = 0; i < s->n; i++)
		part_def_free(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Parses key/strategy/hash_key/primary_key of a spec into s and pk. */
static int parse_head(const json_t *spec, struct part_scheme *s, char *pk, char *msg, size_t msglen)
{
	memset(s, 0, sizeof(*s));
	const char *key = json_string_value(json_object_get(spec, "key"));
	const char *strat = json_string_value(json_object_get(spec, "strategy"));
	json_t *hk = json_object_get(spec, "hash_key"), *pkj = json_object_get(spec, "primary_key");
	if (!key || !part_name_ok(key, PART_COL_MAX)) {
		snprintf(msg, msglen, "field 'key' (the partition key column) is required: 1..%d "
			 "characters of letters, digits, '_' and '-'", PART_COL_MAX);
		return STRATA_EBAD_REQUEST;
	}
	if (!strat || part_strategy_parse(strat, &s->strategy) != 0) {
		snprintf(msg, msglen, "field 'strategy' must be \"range\", \"list\", \"hash\" or \"composite\"");
		return STRATA_EBAD_REQUEST;
	}
	if (hk && !json_is_null(hk) && (!json_is_string(hk) || !part_name_ok(json_string_value(hk), PART_COL_MAX))) {
		snprintf(msg, msglen, "field 'hash_key' must be a column name");
		return STRATA_EBAD_REQUEST;
	}
	if (hk && !json_is_null(hk) && s->strategy != PART_COMPOSITE &&
	    strcmp(json_string_value(hk), key) != 0) {
		snprintf(msg, msglen, "field 'hash_key' is for composite tables only");
		return STRATA_EBAD_REQUEST;
	}
	if (pkj && !json_is_null(pkj) && (!json_is_string(pkj) || !part_name_ok(json_string_value(pkj), PART_COL_MAX))) {
		snprintf(msg, msglen, "field 'primary_key' must be a column name");
		return STRATA_EBAD_REQUEST;
	}
	snprintf(s->key, sizeof(s->key), "%s", key);
	snprintf(s->hash_key, sizeof(s->hash_key), "%s",
		 json_is_string(hk) ? json_string_value(hk) : key);
	snprintf(pk, PART_COL_MAX + 1, "%s", json_is_string(pkj) ? json_string_value(pkj) : "");
	return 0;
}

/* A partition entry of a spec: {"name":..., "definition":{...}} or the
 * definition's fields inline beside "name". */
static int parse_entry(const struct part_scheme *s, const json_t *e, const char **name,
		       json_t **def, char *msg, size_t msglen)
{
	*name = json_string_value(json_object_get(e, "name"));
	if (!json_is_object(e) || !*name) {
		snprintf(msg, msglen, "each partition needs a 'name'");
		return STRATA_EBAD_REQUEST;
	}
	json_t *d = json_object_get(e, "definition");
	if (d) {
		if (json_object_size(e) != 2) {
			snprintf(msg, msglen, "partition '%.63s': give 'definition' or inline fields, not both", *name);
			return STRATA_EBAD_REQUEST;
		}
		*def = json_incref(d);
	} else {
		*def = json_deep_copy(e);
		if (!*def)
			return STRATA_ENOMEM;
		json_object_del(*def, "name");
	}
	(void)s;
	return 0;
}

static int add_def(struct part_scheme *s, struct part_def *d)
{
	struct part_def *nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv)
		return STRATA_ENOMEM;
	s->v = nv;
	s->v[s->n++] = *d;
	return 0;
}

int ptable_init_dir(const char *dir, const char *name, const json_t *spec, const uint64_t *ids,
		    size_t nids, uint64_t tablespace_id, char *msg, size_t msglen)
{
	struct part_scheme s;
	char pk[PART_COL_MAX + 1];
	int rv = parse_head(spec, &s, pk, msg, msglen);
	if (rv)
		return rv;
	json_t *parts = json_object_get(spec, "partitions");
	if (parts && !json_is_array(parts)) {
		snprintf(msg, msglen, "field 'partitions' must be an array");
		return STRATA_EBAD_REQUEST;
	}
	if (json_array_size(parts) > nids) {
		snprintf(msg, msglen, "internal: partition ids missing");
		return STRATA_EINTERNAL;
	}
	for (size_t i = 0; i < json_array_size(parts); i++) {
		const char *pname;
		json_t *def;
		struct part_def d;
		if ((rv = parse_entry(&s, json_array_get(parts, i), &pname, &def, msg, msglen)))
			goto out;
		rv = part_def_parse(&s, pname, def, &d, msg, msglen);
		json_decref(def);
		if (rv)
			goto out;
		d.id = ids[i];
		if ((rv = part_check_add(&s, &d, msg, msglen)) || (rv = add_def(&s, &d))) {
			part_def_free(&d);
			goto out;
		}
	}
	json_t *m = meta_json(&s, name, pk, tablespace_id, clock_wall_us(), 0);
	rv = m ? write_meta(dir, m) : STRATA_ENOMEM;
	json_decref(m);
	if (rv)
		snprintf(msg, msglen, "cannot write %s/%s: %s", dir, META, strata_strerror(rv));
out:
	scheme_free(&s);
	return rv;
}

/* ---- trees --------------------------------------------------------------- */

static int open_tree(struct ptable *t, const struct part_def *d, struct lsm **out)
{
	char path[PATHLEN + 32], lname[LSM_NAME_MAX + 1];
	snprintf(path, sizeof(path), "%s/%" PRIu64, t->dir, d->id);
	if ((size_t)snprintf(lname, sizeof(lname), "%s.%s", t->name, d->name) >= sizeof(lname))
		lname[LSM_NAME_MAX] = '\0'; /* events carry a shortened name */
	struct lsm_options o = {0};
	o.sync = LSM_SYNC_COMMIT;
	o.memtable_bytes = 1u << 20;
	o.block_cache_bytes = 1u << 20;
	return lsm_open(out, path, lname, &o);
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl, (void)v, (void)vl;
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_rows(struct lsm *l, uint64_t *n)
{
	*n = 0;
	return lsm_scan(l, NULL, 0, NULL, 0, 0, count_cb, n, NULL);
}

/* ---- the intent log ------------------------------------------------------
 *
 * An insert: route every row (nothing written on a bad one), log the whole
 * routed insert as one INTENT (fdatasynced: the trees are sync "commit",
 * and the intent must be at least as durable as the writes it covers),
 * write one batch per partition in table order (each fdatasynced by its
 * tree's WAL), then mark the intent DONE. A crash or failure between the
 * first and last partition write leaves the intent pending; it is rolled
 * forward (the same keys and values put again) at the next open, or by
 * lock_settled before the table's next operation of any kind. So all rows
 * of an insert are in the trees, or (its intent never durable) none are.
 * Readers hold the read lock and inserts the write lock, so a reader never
 * sees part of an insert either.
 */

static ssize_t tree_index(const struct ptable *t, uint64_t id)
{
	for (size_t i = 0; i < t->s.n; i++)
		if (t->s.v[i].id == id)
			return (ssize_t)i;
	return -1;
}

/*
 * Writes ops (grouped by partition: each run of one partition id is one
 * atomic batch) to the trees; ops of partitions the table no longer has are
 * skipped (dropped with their rows). hook (first apply only) runs after the
 * intent is logged (0) and after each partition written (1, 2, ...).
 * *written: ops written.
 */
static int apply_ops(struct ptable *t, const struct intent_op *ops, size_t n, bool hook,
		     size_t *written, char *msg, size_t msglen)
{
	struct lsm_batch_op *bops = calloc(n ? n : 1, sizeof(*bops));
	if (!bops) {
		snprintf(msg, msglen, "%s", strata_strerror(STRATA_ENOMEM));
		return STRATA_ENOMEM;
	}
	int rv = 0;
	size_t parts = 0;
	*written = 0;
	if (hook && t->hook && t->hook(t->hook_arg, t->name, parts) != 0) {
		snprintf(msg, msglen, "stopped by the test hook after the intent was logged");
		t->hook = NULL; /* one-shot */
		rv = STRATA_EIO;
		goto out;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && ops[j].part_id == ops[i].part_id)
			j++;
		ssize_t p = tree_index(t, ops[i].part_id);
		if (p >= 0) {
			for (size_t k = i; k < j; k++)
				bops[k - i] = (struct lsm_batch_op){LSM_OP_PUT, ops[k].key, ops[k].klen,
								    ops[k].val, ops[k].vlen};
			struct lsm_batch b = {bops, j - i};
			if ((rv = lsm_write_batch(t->trees[p], &b, NULL)) != 0) {
				snprintf(msg, msglen, "partition '%s': %s", t->s.v[p].name, strata_strerror(rv));
				goto out;
			}
			*written += j - i;
			parts++;
			if (hook && t->hook && t->hook(t->hook_arg, t->name, parts) != 0) {
				snprintf(msg, msglen, "stopped by the test hook after %zu partition%s", parts,
					 parts == 1 ? "" : "s");
				t->hook = NULL; /* one-shot */
				rv = STRATA_EIO;
				goto out;
			}
		}
		i = j;
	}
out:
	free(bops);
	return rv;
}

/* Completes the pending intent (if any): puts its rows again, marks it
 * done, recounts the rows. Caller holds the write lock (or owns t). */
static int roll_forward(struct ptable *t, char *msg, size_t msglen)
{
	if (!intent_log_is_pending(t->ilog))
		return 0;
	struct intent_rec rec;
	int rv = intent_log_pending(t->ilog, &rec);
	if (rv) {
		snprintf(msg, msglen, "cannot read the pending intent: %s", strata_strerror(rv));
		return rv;
	}
	size_t written;
	if ((rv = apply_ops(t, rec.ops, rec.n, false, &written, msg, msglen)) != 0)
		goto out;
	int r = intent_log_done(t->ilog, rec.seq);
	if (r)
		fprintf(stderr, "stratad: table '%s': cannot mark intent %" PRIu64 " done: %s (it is "
			"replayed, harmlessly, at the next open)\n", t->name, rec.seq, strata_strerror(r));
	for (size_t i = 0; i < t->s.n; i++) {
		if ((rv = count_rows(t->trees[i], &t->rows[i])) != 0) {
			snprintf(msg, msglen, "partition '%s': cannot count rows: %s", t->s.v[i].name,
				 strata_strerror(rv));
			goto out;
		}
	}
out:
	intent_rec_clear(&rec);
	return rv;
}

/* Completes an insert that failed half-way. Write lock held. */
static int settle(struct ptable *t, char *msg, size_t msglen)
{
	char inner[256];
	int rv = roll_forward(t, inner, sizeof(inner));
	if (rv)
		snprintf(msg, msglen, "table '%s' has an insert that could not be completed on every "
			 "partition (%s); it is completed before the next operation on the table, or at "
			 "the next start", t->name, inner);
	return rv;
}

#define SETTLE_TRIES 3

/*
 * The way into a table for every operation on its rows or partitions
 * (insert, query, info, partition lists, partition-for, add, drop): takes
 * t's lock — exclusive for a change, shared for a read — with no insert
 * left pending. An intent a failed partition write left behind is completed
 * first, under the write lock, so a reader never counts or returns part of
 * an insert, and a partition is never added or dropped between an insert's
 * partition writes (its rows would then go to another set of partitions
 * than the one it was routed to).
 *
 * A reader that finds an intent pending trades its read lock for the write
 * lock to complete it, then takes the read lock again; an insert failing
 * in between leaves another pending intent, completed in the same way, up
 * to SETTLE_TRIES times (then STRATA_EBUSY).
 *
 * 0 with the lock held; else the error of the roll-forward (msg says it
 * could not be completed; the intent stays pending) and the lock is not
 * held.
 */
static int lock_settled(struct ptable *t, bool exclusive, char *msg, size_t msglen)
{
	if (exclusive) {
		pthread_rwlock_wrlock(&t->lock);
		int rv = settle(t, msg, msglen);
		if (rv)
			pthread_rwlock_unlock(&t->lock);
		return rv;
	}
	pthread_rwlock_rdlock(&t->lock);
	for (int tries = 0; intent_log_is_pending(t->ilog); tries++) {
		pthread_rwlock_unlock(&t->lock);
		if (tries == SETTLE_TRIES) {
			snprintf(msg, msglen, "table '%s': inserts keep failing half-way; try again",
				 t->name);
			return STRATA_EBUSY;
		}
		pthread_rwlock_wrlock(&t->lock);
		int rv = settle(t, msg, msglen);
		pthread_rwlock_unlock(&t->lock);
		if (rv)
			return rv;
		pthread_rwlock_rdlock(&t->lock);
	}
	return 0;
}

void ptable_set_write_hook(struct ptable *t, ptable_write_hook fn, void *arg)
{
	pthread_rwlock_wrlock(&t->lock);
	t->hook = fn;
	t->hook_arg = arg;
	pthread_rwlock_unlock(&t->lock);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Removes partition directories the metadata does not name (a drop that
 * crashed after recording, or a failed add). */
static void remove_orphans(struct ptable *t)
{
	DIR *dp = opendir(t->dir);
	if (!dp)
		return;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (!all_digits(de->d_name))
			continue;
		uint64_t id = strtoull(de->d_name, NULL, 10);
		bool known = false;
		for (size_t i = 0; i < t->s.n; i++)
			known |= t->s.v[i].id == id;
		if (known)
			continue;
		char path[PATHLEN + 300];
		snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
		fprintf(stderr, "stratad: table '%s': removing %s (no such partition)\n", t->name, path);
		(void)objdir_rm_tree(path);
	}
	closedir(dp);
}

int ptable_open(struct ptable **out, const char *dir, const char *name, char *msg, size_t msglen)
{
	struct ptable *t = calloc(1, sizeof(*t));
	if (!t)
		return STRATA_ENOMEM;
	pthread_rwlock_init(&t->lock, NULL);
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	char path[PATHLEN + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, META);
	json_error_t je;
	json_t *m = json_load_file(path, 0, &je);
	int rv = STRATA_ECORRUPT;
	if (!m || json_integer_value(json_object_get(m, "format")) != 1) {
		snprintf(msg, msglen, "table '%s': cannot read %s: %s", name, path, m ? "unknown format" : je.text);
		goto fail;
	}
	if ((rv = parse_head(m, &t->s, t->pk, msg, msglen)) != 0)
		goto fail;
	t->tablespace_id = (uint64_t)json_integer_value(json_object_get(m, "tablespace_id"));
	t->created_us = json_integer_value(json_object_get(m, "created_us"));
	t->rowid_reserved = (uint64_t)json_integer_value(json_object_get(m, "rowid_reserved"));
	t->next_rowid = t->rowid_reserved; /* everything below may have been used */
	json_t *parts = json_object_get(m, "partitions");
	size_t n = json_array_size(parts);
	t->trees = calloc(n ? n : 1, sizeof(*t->trees));
	t->rows = calloc(n ? n : 1, sizeof(*t->rows));
	if (!t->trees || !t->rows) {
		rv = STRATA_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(parts, i);
		struct part_def d;
		const char *pname = json_string_value(json_object_get(e, "name"));
		json_t *id = json_object_get(e, "id");
		if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
		    (rv = part_def_parse(&t->s, pname ? pname : "", json_object_get(e, "definition"), &d,
					 msg, msglen)) != 0) {
			rv = STRATA_ECORRUPT;
			snprintf(msg, msglen, "table '%s': partitions[%zu] in %s does not parse", name, i, path);
			goto fail;
		}
		d.id = (uint64_t)json_integer_value(id);
		if ((rv = add_def(&t->s, &d)) != 0) {
			part_def_free(&d);
			goto fail;
		}
	}
	for (size_t i = 0; i < t->s.n; i++) {
		if ((rv = open_tree(t, &t->s.v[i], &t->trees[i])) != 0) {
			snprintf(msg, msglen, "table '%s': partition '%s': %s", name, t->s.v[i].name,
				 strata_strerror(rv));
			goto fail;
		}
	}
	struct intent_recovery rec;
	if ((rv = intent_log_open(&t->ilog, dir, &rec)) != 0) {
		snprintf(msg, msglen, "table '%s': cannot open its intent log: %s", name, strata_strerror(rv));
		goto fail;
	}
	if (rec.pending) {
		char inner[256];
		if ((rv = roll_forward(t, inner, sizeof(inner))) != 0) {
			snprintf(msg, msglen, "table '%s': cannot complete the insert of its intent log: %s",
				 name, inner);
			goto fail;
		}
		fprintf(stderr, "stratad: table '%s': completed an interrupted insert (intent %" PRIu64
			") from its intent log\n", name, rec.seq);
	}
	for (size_t i = 0; i < t->s.n; i++) {
		if ((rv = count_rows(t->trees[i], &t->rows[i])) != 0) {
			snprintf(msg, msglen, "table '%s': partition '%s': %s", name, t->s.v[i].name,
				 strata_strerror(rv));
			goto fail;
		}
	}
	remove_orphans(t);
	json_decref(m);
	*out = t;
	return 0;
fail:
	json_decref(m);
	ptable_close(t);
	return rv;
}

int ptable_close(struct ptable *t)
{
	if (!t)
		return 0;
	int rv = 0;
	if (t->ilog && intent_log_is_pending(t->ilog)) {
		char inner[256];
		/* Best effort: what is not completed here is at the next open. */
		if (roll_forward(t, inner, sizeof(inner)) != 0)
			fprintf(stderr, "stratad: table '%s': an insert stays in the intent log until the "
				"next start: %s\n", t->name, inner);
	}
	int r0 = intent_log_close(t->ilog);
	if (r0)
		rv = r0;
	for (size_t i = 0; t->trees && i < t->s.n; i++) {
		int r = lsm_close(t->trees[i]);
		if (r && !rv)
			rv = r;
	}
	free(t->trees);
	free(t->rows);
	scheme_free(&t->s);
	pthread_rwlock_destroy(&t->lock);
	free(t);
	return rv;
}

const char *ptable_name(const struct ptable *t)
{
	return t->name;
}

uint64_t ptable_tablespace(const struct ptable *t)
{
	return t->tablespace_id;
}

uint64_t ptable_max_id(struct ptable *t)
{
	uint64_t m = 0;
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->s.n; i++)
		if (t->s.v[i].id > m)
			m = t->s.v[i].id;
	pthread_rwlock_unlock(&t->lock);
	return m;
}

bool ptable_has_partition(struct ptable *t, uint64_t id)
{
	bool has = false;
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->s.n; i++)
		has |= t->s.v[i].id == id;
	pthread_rwlock_unlock(&t->lock);
	return has;
}

static json_t *part_json(struct ptable *t, size_t i)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:I}", "id", (json_int_t)t->s.v[i].id, "table", t->name,
			 "name", t->s.v[i].name, "definition", part_def_json(&t->s, &t->s.v[i]), "rows",
			 (json_int_t)t->rows[i]);
}

static json_t *partitions_locked(struct ptable *t)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < t->s.n; i++)
		json_array_append_new(arr, part_json(t, i));
	return arr;
}

int ptable_partitions_json(struct ptable *t, json_t **out, char *msg, size_t msglen)
{
	int rv = lock_settled(t, false, msg, msglen);
	if (rv)
		return rv;
	*out = partitions_locked(t);
	pthread_rwlock_unlock(&t->lock);
	return *out ? 0 : STRATA_ENOMEM;
}

int ptable_info(struct ptable *t, json_t **out, char *msg, size_t msglen)
{
	int rv = lock_settled(t, false, msg, msglen);
	if (rv)
		return rv;
	uint64_t rows = 0;
	for (size_t i = 0; i < t->s.n; i++)
		rows += t->rows[i];
	json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:I, s:o}", "name", t->name, "key", t->s.key,
			      "strategy", part_strategy_name(t->s.strategy), "partitions",
			      partitions_locked(t), "rows", (json_int_t)rows, "primary_key",
			      t->pk[0] ? json_string(t->pk) : json_null());
	if (j && t->s.strategy == PART_COMPOSITE)
		json_object_set_new(j, "hash_key", json_string(t->s.hash_key));
	pthread_rwlock_unlock(&t->lock);
	*out = j;
	return j ? 0 : STRATA_ENOMEM;
}

/* ---- row keys ------------------------------------------------------------ */

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static bool buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->n + n)
			cap *= 2;
		unsigned char *np = realloc(b->p, cap);
		if (!np)
			return false;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return true;
}

static bool enc_value(struct buf *b, const json_t *v)
{
	unsigned char tag;
	if (!v || json_is_null(v)) {
		tag = 0x00;
		return buf_put(b, &tag, 1);
	}
	if (json_is_string(v)) {
		tag = 0x20;
		if (!buf_put(b, &tag, 1))
			return false;
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		for (size_t i = 0; i < n; i++) {
			static const unsigned char esc[2] = {0x00, 0xFF};
			if (!(s[i] ? buf_put(b, &s[i], 1) : buf_put(b, esc, 2)))
				return false;
		}
		static const unsigned char end[2] = {0x00, 0x00};
		return buf_put(b, end, 2);
	}
	double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
	if (d == 0)
		d = 0; /* -0.0 == 0.0 */
	uint64_t bits;
	memcpy(&bits, &d, 8);
	bits = (bits >> 63) ? ~bits : bits | (1ull << 63);
	unsigned char o[9] = {0x10};
	for (int i = 0; i < 8; i++)
		o[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
	return buf_put(b, o, 9);
}

uint64_t ptable_estimate(const json_t *rows)
{
	uint64_t total = 0;
	for (size_t i = 0; i < json_array_size(rows); i++) {
		char *text = json_dumps(json_array_get(rows, i), JSON_COMPACT);
		total += (text ? strlen(text) : 0) + 32;
		free(text);
	}
	return total;
}

/* ---- insert -------------------------------------------------------------- */

struct staged {
	size_t part;
	struct buf key;
	char *val;
};

int ptable_insert(struct ptable *t, const json_t *rows, json_t **result, uint64_t *bytes,
		  char *msg, size_t msglen)
{
	size_t n = json_array_size(rows);
	if (!json_is_array(rows) || n == 0) {
		snprintf(msg, msglen, "field 'rows' must be a non-empty array of objects");
		return STRATA_EBAD_REQUEST;
	}
	if (n > PTABLE_INSERT_MAX) {
		snprintf(msg, msglen, "field 'rows' has %zu rows; at most %d per insert", n, PTABLE_INSERT_MAX);
		return STRATA_ETOO_LARGE;
	}
	struct staged *st = calloc(n, sizeof(*st));
	if (!st)
		return STRATA_ENOMEM;
	*bytes = 0;
	int rv = 0;
	size_t *per = NULL, *added = NULL;
	struct intent_op *iops = NULL;
	if ((rv = lock_settled(t, true, msg, msglen)) != 0)
		goto unlocked;
	for (size_t i = 0; i < n && !rv; i++) {
		const json_t *row = json_array_get(rows, i);
		char inner[300];
		if (!json_is_object(row)) {
			snprintf(msg, msglen, "rows[%zu] must be an object", i);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		rv = part_route(&t->s, row, &st[i].part, inner, sizeof(inner));
		if (rv) {
			snprintf(msg, msglen, "rows[%zu]: %s", i, inner);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		json_t *pkv = t->pk[0] ? json_object_get(row, t->pk) : NULL;
		if (t->pk[0] && !part_value_ok(pkv)) {
			snprintf(msg, msglen, "rows[%zu]: primary key '%s' must be a number or a string", i, t->pk);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		st[i].val = json_dumps(row, JSON_COMPACT);
		if (!st[i].val || !enc_value(&st[i].key, json_object_get(row, t->s.key)) ||
		    (pkv && !enc_value(&st[i].key, pkv)))
			rv = STRATA_ENOMEM;
	}
	if (rv)
		goto out;
	/* Row ids: reserve a block in the metadata before using it. */
	if (!t->pk[0]) {
		if (t->next_rowid + n > t->rowid_reserved) {
			uint64_t old = t->rowid_reserved;
			t->rowid_reserved = t->next_rowid + n + ROWID_BLOCK;
			if ((rv = save(t)) != 0) {
				t->rowid_reserved = old;
				snprintf(msg, msglen, "cannot write %s/%s: %s", t->dir, META, strata_strerror(rv));
				goto out;
			}
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t id = t->next_rowid++;
			unsigned char b[8];
			for (int k = 0; k < 8; k++)
				b[k] = (unsigned char)(id >> (56 - 8 * k));
			if (!buf_put(&st[i].key, b, 8)) {
				rv = STRATA_ENOMEM;
				goto out;
			}
		}
	}
	per = calloc(t->s.n, sizeof(*per));
	added = calloc(t->s.n, sizeof(*added));
	iops = calloc(n, sizeof(*iops));
	if (!per || !added || !iops) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	/* The routed insert, grouped by partition in table order. */
	size_t k = 0;
	for (size_t p = 0; p < t->s.n; p++) {
		size_t first = k;
		for (size_t i = 0; i < n; i++) {
			if (st[i].part != p)
				continue;
			/* With a primary key a row may replace one: count new keys
			 * only (later duplicates in the batch replace earlier ones). */
			bool is_new = true;
			if (t->pk[0]) {
				void *old = NULL;
				size_t ol;
				is_new = lsm_get(t->trees[p], st[i].key.p, st[i].key.n, &old, &ol) == STRATA_ENOT_FOUND;
				free(old);
				for (size_t j = first; is_new && j < k; j++)
					is_new = !(iops[j].klen == st[i].key.n &&
						   memcmp(iops[j].key, st[i].key.p, iops[j].klen) == 0);
			}
			added[p] += is_new;
			size_t vl = strlen(st[i].val);
			if (st[i].key.n > LSM_KEY_MAX || vl > LSM_VALUE_MAX) {
				snprintf(msg, msglen, "rows[%zu]: the row or its key is too large", i);
				rv = STRATA_ETOO_LARGE;
				goto out;
			}
			iops[k++] = (struct intent_op){t->s.v[p].id, st[i].key.p, (uint32_t)st[i].key.n,
						       st[i].val, (uint32_t)vl};
			*bytes += st[i].key.n + vl;
			per[p]++;
		}
	}
	/* Durable before any partition is written. */
	uint64_t seq;
	if ((rv = intent_log_begin(t->ilog, iops, n, true, &seq)) != 0) {
		snprintf(msg, msglen, "cannot log the insert's intent: %s (nothing was written)",
			 strata_strerror(rv));
		goto out;
	}
	size_t written;
	char inner[300];
	if ((rv = apply_ops(t, iops, n, true, &written, inner, sizeof(inner))) != 0) {
		/* The intent stays pending: lock_settled completes it. */
		snprintf(msg, msglen, "%s; the insert is logged and is completed before the next "
			 "operation on the table, or at the next start", inner);
		goto out;
	}
	int r = intent_log_done(t->ilog, seq);
	if (r)
		fprintf(stderr, "stratad: table '%s': cannot mark intent %" PRIu64 " done: %s (it is "
			"replayed, harmlessly, at the next open)\n", t->name, seq, strata_strerror(r));
	for (size_t p = 0; p < t->s.n; p++)
		t->rows[p] += added[p];
	json_t *by = json_object();
	for (size_t p = 0; by && p < t->s.n; p++)
		if (per[p])
			json_object_set_new(by, t->s.v[p].name, json_integer((json_int_t)per[p]));
	*result = json_pack("{s:I, s:o}", "inserted", (json_int_t)n, "by_partition", by);
	if (!*result)
		rv = STRATA_ENOMEM;
out:
	pthread_rwlock_unlock(&t->lock);
unlocked:
	for (size_t i = 0; i < n; i++) {
		free(st[i].key.p);
		free(st[i].val);
	}
	free(st);
	free(per);
	free(added);
	free(iops);
	return rv;
}

/* ---- query --------------------------------------------------------------- */

struct qstate {
	const struct part_where *w;
	json_t *rows;
	size_t limit;
	bool full;          /* one row past the limit was seen */
	struct buf last;    /* key of the last row returned */
	size_t cur, last_part; /* partition being scanned; of the last row */
	int err;
};

static int query_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct qstate *q = arg;
	json_error_t je;
	json_t *row = json_loadb(v, vl, 0, &je);
	if (!row) {
		q->err = STRATA_ECORRUPT;
		return 1;
	}
	if (!part_where_match(q->w, row)) {
		json_decref(row);
		return 0;
	}
	if (json_array_size(q->rows) == q->limit) {
		json_decref(row);
		q->full = true;
		return 1;
	}
	json_array_append_new(q->rows, row);
	q->last_part = q->cur;
	q->last.n = 0;
	if (!buf_put(&q->last, k, kl))
		q->err = STRATA_ENOMEM;
	return q->err ? 1 : 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* cursor "ID:HEXKEY": resume in partition ID after key. */
static int parse_cursor(const char *after, uint64_t *id, struct buf *key)
{
	char *colon;
	*id = strtoull(after, &colon, 10);
	if (colon == after || *colon != ':')
		return STRATA_EBAD_REQUEST;
	const char *h = colon + 1;
	size_t n = strlen(h);
	if (n % 2)
		return STRATA_EBAD_REQUEST;
	for (size_t i = 0; i < n; i += 2) {
		int a = hexval(h[i]), b = hexval(h[i + 1]);
		if (a < 0 || b < 0)
			return STRATA_EBAD_REQUEST;
		unsigned char c = (unsigned char)(a * 16 + b);
		if (!buf_put(key, &c, 1))
			return STRATA_ENOMEM;
	}
	unsigned char z = 0; /* the smallest key after it */
	return buf_put(key, &z, 1) ? 0 : STRATA_ENOMEM;
}

int ptable_query(struct ptable *t, const json_t *where, size_t limit, const char *after,
		 json_t **result, char *msg, size_t msglen)
{
	struct part_where *w;
	int rv = part_where_parse(where, &w, msg, msglen);
	if (rv)
		return rv;
	uint64_t after_id = 0;
	struct buf start = {0};
	if (after && (rv = parse_cursor(after, &after_id, &start)) != 0) {
		snprintf(msg, msglen, "field 'after' is not a cursor from an earlier reply's 'next'");
		part_where_free(w);
		free(start.p);
		return rv;
	}
	struct qstate q = {.w = w, .rows = json_array(), .limit = limit};
	json_t *scanned = json_array(), *pruned = json_array();
	bool *keep = NULL;
	if ((rv = lock_settled(t, false, msg, msglen)) != 0)
		goto unlocked;
	keep = calloc(t->s.n ? t->s.n : 1, sizeof(*keep));
	if (!keep || !q.rows || !scanned || !pruned) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	part_prune(&t->s, w, keep);
	/* With a cursor, partitions before it (in table order) are done. */
	size_t first = 0;
	if (after) {
		first = SIZE_MAX;
		for (size_t i = 0; i < t->s.n; i++)
			if (t->s.v[i].id == after_id)
				first = i;
		if (first == SIZE_MAX) {
			snprintf(msg, msglen, "field 'after': partition %" PRIu64 " is gone", after_id);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
	}
	size_t stopped = SIZE_MAX;
	for (size_t i = 0; i < t->s.n; i++) {
		json_array_append_new(keep[i] ? scanned : pruned, json_string(t->s.v[i].name));
		if (!keep[i] || i < first || stopped != SIZE_MAX)
			continue;
		bool resume = after && i == first;
		q.cur = i;
		rv = lsm_scan(t->trees[i], resume ? start.p : NULL, resume ? start.n : 0, NULL, 0, 0,
			      query_cb, &q, NULL);
		if (!rv)
			rv = q.err;
		if (rv) {
			snprintf(msg, msglen, "partition '%s': %s", t->s.v[i].name, strata_strerror(rv));
			goto out;
		}
		if (q.full)
			stopped = q.last_part;
	}
	json_t *next = json_null();
	if (stopped != SIZE_MAX) {
		size_t len = 24 + 2 * q.last.n;
		char *c = malloc(len);
		if (c) {
			int off = snprintf(c, len, "%" PRIu64 ":", t->s.v[stopped].id);
			for (size_t i = 0; i < q.last.n; i++)
				off += snprintf(c + off, len - (size_t)off, "%02x", q.last.p[i]);
			json_decref(next);
			next = json_string(c);
			free(c);
		}
	}
	*result = json_pack("{s:O, s:O, s:O, s:I, s:o}", "rows", q.rows, "scanned", scanned,
			    "pruned", pruned, "count", (json_int_t)json_array_size(q.rows), "next", next);
	if (!*result)
		rv = STRATA_ENOMEM;
out:
	pthread_rwlock_unlock(&t->lock);
unlocked:
	free(keep);
	json_decref(q.rows);
	json_decref(scanned);
	json_decref(pruned);
	free(q.last.p);
	free(start.p);
	part_where_free(w);
	return rv;
}

/* ---- partitions ---------------------------------------------------------- */

struct movecheck {
	const struct part_scheme *s;
	const struct part_def *d;
	uint64_t hits;
	int err;
};

static int movecheck_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl;
	struct movecheck *m = arg;
	json_error_t je;
	json_t *row = json_loadb(v, vl, 0, &je);
	if (!row) {
		m->err = STRATA_ECORRUPT;
		return 1;
	}
	if (part_def_contains(m->s, m->d, json_object_get(row, m->s->key),
			      json_object_get(row, m->s->hash_key)))
		m->hits++;
	json_decref(row);
	return 0;
}

int ptable_add_partition(struct ptable *t, uint64_t id, const char *name, const json_t *def,
			 json_t **info, char *msg, size_t msglen)
{
	struct part_def d;
	/* The default partition's check below must see every row. */
	int rv = lock_settled(t, true, msg, msglen);
	if (rv)
		return rv;
	if ((rv = part_def_parse(&t->s, name, def, &d, msg, msglen)) != 0)
		goto out;
	d.id = id;
	if ((rv = part_check_add(&t->s, &d, msg, msglen)) != 0)
		goto free_def;
	/* As PostgreSQL: rows the default partition holds must not belong to
	 * the new partition. */
	for (size_t i = 0; i < t->s.n && !d.is_default; i++) {
		if (!t->s.v[i].is_default)
			continue;
		struct movecheck m = {&t->s, &d, 0, 0};
		rv = lsm_scan(t->trees[i], NULL, 0, NULL, 0, 0, movecheck_cb, &m, NULL);
		if (!rv)
			rv = m.err;
		if (rv) {
			snprintf(msg, msglen, "default partition: %s", strata_strerror(rv));
			goto free_def;
		}
		if (m.hits) {
			snprintf(msg, msglen, "the default partition '%s' holds %" PRIu64 " row%s that would "
				 "belong to '%s'; move them first", t->s.v[i].name, m.hits,
				 m.hits == 1 ? "" : "s", name);
			rv = STRATA_ECONFLICT;
			goto free_def;
		}
	}
	struct lsm **nt = realloc(t->trees, (t->s.n + 1) * sizeof(*nt));
	if (nt)
		t->trees = nt;
	uint64_t *nr = realloc(t->rows, (t->s.n + 1) * sizeof(*nr));
	if (nr)
		t->rows = nr;
	if (!nt || !nr || (rv = add_def(&t->s, &d)) != 0) {
		rv = STRATA_ENOMEM;
		goto free_def;
	}
	size_t idx = t->s.n - 1;
	t->rows[idx] = 0;
	/* Recorded first: a crash before the tree exists makes an empty one at
	 * the next open. */
	if ((rv = save(t)) != 0) {
		snprintf(msg, msglen, "cannot write %s/%s: %s", t->dir, META, strata_strerror(rv));
		t->s.n--;
		goto free_def;
	}
	if ((rv = open_tree(t, &t->s.v[idx], &t->trees[idx])) != 0) {
		snprintf(msg, msglen, "partition '%s': cannot open its tree: %s", name, strata_strerror(rv));
		t->s.n--;
		part_def_free(&d);
		(void)save(t);
		goto out;
	}
	*info = part_json(t, idx);
	rv = *info ? 0 : STRATA_ENOMEM;
	goto out;
free_def:
	part_def_free(&d);
out:
	pthread_rwlock_unlock(&t->lock);
	return rv;
}

int ptable_drop_partition(struct ptable *t, uint64_t id, uint64_t *rows, char *msg, size_t msglen)
{
	/* A pending insert is completed on the partitions it was routed to
	 * (this one included) before any of them goes: the count below has
	 * all of its rows. */
	int rv = lock_settled(t, true, msg, msglen);
	if (rv)
		return rv;
	size_t idx = SIZE_MAX;
	for (size_t i = 0; i < t->s.n; i++)
		if (t->s.v[i].id == id)
			idx = i;
	if (idx == SIZE_MAX) {
		snprintf(msg, msglen, "no partition with id %" PRIu64 " in table '%s'", id, t->name);
		rv = STRATA_ENOT_FOUND;
		goto out;
	}
	/* The real figure, counted from the tree. */
	if ((rv = count_rows(t->trees[idx], rows)) != 0) {
		snprintf(msg, msglen, "cannot count the rows of '%s': %s", t->s.v[idx].name, strata_strerror(rv));
		goto out;
	}
	struct part_def d = t->s.v[idx];
	struct lsm *tree = t->trees[idx];
	uint64_t cnt = t->rows[idx];
	memmove(&t->s.v[idx], &t->s.v[idx + 1], (t->s.n - idx - 1) * sizeof(*t->s.v));
	memmove(&t->trees[idx], &t->trees[idx + 1], (t->s.n - idx - 1) * sizeof(*t->trees));
	memmove(&t->rows[idx], &t->rows[idx + 1], (t->s.n - idx - 1) * sizeof(*t->rows));
	t->s.n--;
	/* Recorded first; the directory is an orphan from here on (removed
	 * at the next open if the delete below does not finish). */
	if ((rv = save(t)) != 0) {
		memmove(&t->s.v[idx + 1], &t->s.v[idx], (t->s.n - idx) * sizeof(*t->s.v));
		memmove(&t->trees[idx + 1], &t->trees[idx], (t->s.n - idx) * sizeof(*t->trees));
		memmove(&t->rows[idx + 1], &t->rows[idx], (t->s.n - idx) * sizeof(*t->rows));
		t->s.v[idx] = d;
		t->trees[idx] = tree;
		t->rows[idx] = cnt;
		t->s.n++;
		snprintf(msg, msglen, "cannot write %s/%s: %s", t->dir, META, strata_strerror(rv));
		goto out;
	}
	(void)lsm_close(tree);
	char path[PATHLEN + 32];
	snprintf(path, sizeof(path), "%s/%" PRIu64, t->dir, id);
	if (objdir_rm_tree(path) != 0 || objdir_sync_dir(t->dir) != 0)
		fprintf(stderr, "stratad: table '%s': cannot remove %s (removed at the next start)\n", t->name, path);
	part_def_free(&d);
out:
	pthread_rwlock_unlock(&t->lock);
	return rv;
}

/* A string from a query string that spells a number, as that number. */
static json_t *as_number(const json_t *v)
{
	if (!json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	char *end;
	if (!*s)
		return NULL;
	errno = 0;
	long long i = strtoll(s, &end, 10);
	if (!*end && errno == 0)
		return json_integer(i);
	double d = strtod(s, &end);
	if (!*end && isfinite(d))
		return json_real(d);
	return NULL;
}

int ptable_partition_for(struct ptable *t, const json_t *value, const json_t *hvalue,
			 json_t **result, char *msg, size_t msglen)
{
	json_t *num = as_number(value), *hnum = as_number(hvalue);
	int rv = lock_settled(t, false, msg, msglen);
	if (rv)
		goto unlocked;
	size_t idx = SIZE_MAX, sidx = SIZE_MAX;
	rv = num ? part_route_value(&t->s, num, hnum ? hnum : hvalue, &idx, msg, msglen) : STRATA_ENOT_FOUND;
	if (!num || rv || t->s.v[idx].is_default) {
		/* as a string (or when the number found only the default) */
		int r2 = part_route_value(&t->s, value, hvalue, &sidx, msg, msglen);
		if (r2 == 0 && (idx == SIZE_MAX || rv || !t->s.v[sidx].is_default)) {
			idx = sidx;
			rv = 0;
		} else if (!num) {
			rv = r2;
		}
	}
	if (rv == 0) {
		*result = json_pack("{s:s, s:I, s:b}", "partition", t->s.v[idx].name, "id",
				    (json_int_t)t->s.v[idx].id, "default", t->s.v[idx].is_default);
		if (!*result)
			rv = STRATA_ENOMEM;
	}
	pthread_rwlock_unlock(&t->lock);
unlocked:
	json_decref(num);
	json_decref(hnum);
	return rv;
}
