/*
 * core/lsm_compaction.c — choosing and running compactions.
 *
 * Leveled compaction (LevelDB's scheme):
 *  - Score of L0 = files / l0_compaction_trigger; of Ln (1 <= n < last) =
 *    bytes / (level_base_bytes * level_ratio^(n-1)). The last level has no
 *    target. The highest score >= 1 is compacted next.
 *  - L0: the oldest L0 file, every L0 file overlapping it (transitively:
 *    no older overlapping file may stay behind) and the L1 files that
 *    overlap their key range are merged into L1.
 *  - Ln: the next file after the level's round-robin pointer plus the
 *    overlapping files of Ln+1 are merged into Ln+1.
 *  - A single input file with nothing to merge below is moved down by a
 *    manifest change only (a trivial move: LevelMigration event).
 *  - Outputs are cut at target_file_bytes. A tombstone is dropped when no
 *    level below the output level has a file whose range holds its key.
 *  - While a background compaction runs, waiting memtables are flushed
 *    between its output files, so a long compaction does not stop writes.
 *
 * A compaction's states (one at a time per tree: compact_mu):
 *     PICKED --trivial--> INSTALLED (inputs moved)
 *     PICKED --merge--> WRITING --all outputs finished--> INSTALLED
 *     WRITING --error--> ABORTED (outputs unlinked, version unchanged)
 * Inputs become obsolete (and are unlinked at their last reference) only
 * after the manifest naming the outputs is durable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lsm_coding.h"
#include "core/lsm_internal.h"
#include "core/stats.h"
#include "strata/error.h"

struct compaction {
	int level, out_level;
	struct lsm_file **in[2];
	size_t n[2], cap[2];
	bool allow_trivial;
	struct lsm_version *v; /* the version inputs were picked from (pinned) */
};

static uint64_t level_target(const struct lsm *t, int level)
{
	double x = (double)t->o.level_base_bytes * pow((double)t->o.level_ratio, level - 1);
	return x > 1e18 ? (uint64_t)1e18 : (uint64_t)x;
}

/* Wasted L0 probes a version's L0 may cost before it is compacted: per
 * table, one per 16 KiB and at least 100 (LevelDB's allowed_seeks). */
static uint64_t l0_probe_budget(const struct lsm_version *v)
{
	uint64_t budget = 0;
	for (size_t i = 0; i < v->n[0]; i++) {
		uint64_t b = v->files[0][i]->size / 16384;
		budget += b < 100 ? 100 : b;
	}
	return budget;
}

double lsm_compaction_score(const struct lsm *t, const struct lsm_version *v, int *level)
{
	double best = (double)v->n[0] / t->o.l0_compaction_trigger;
	if (v->n[0] && best < 1.0 &&
	    atomic_load(&((struct lsm *)t)->l0_read_probes) >= l0_probe_budget(v))
		best = 1.0; /* reads keep paying for L0: merge it down */
	*level = 0;
	for (int l = 1; l < (int)t->o.max_levels - 1; l++) {
		double s = (double)lsm_version_level_bytes(v, l) / (double)level_target(t, l);
		if (s > best) {
			best = s;
			*level = l;
		}
	}
	return best;
}

static int comp_add(struct compaction *c, int which, struct lsm_file *f)
{
	if (c->n[which] == c->cap[which]) {
		size_t cap = c->cap[which] ? c->cap[which] * 2 : 8;
		struct lsm_file **nf = realloc(c->in[which], cap * sizeof(*nf));
		if (!nf)
			return STRATA_ENOMEM;
		c->in[which] = nf;
		c->cap[which] = cap;
	}
	c->in[which][c->n[which]++] = f;
	return 0;
}

static void comp_free(struct compaction *c)
{
	free(c->in[0]);
	free(c->in[1]);
	lsm_version_unref(c->v);
}

static bool comp_has(const struct compaction *c, int which, const struct lsm_file *f)
{
	for (size_t i = 0; i < c->n[which]; i++)
		if (c->in[which][i] == f)
			return true;
	return false;
}

/* Union key range of inputs[which]: pointers into the files. */
static void comp_range(const struct compaction *c, int which, const uint8_t **lo, size_t *lolen,
		       const uint8_t **hi, size_t *hilen)
{
	*lo = *hi = NULL;
	*lolen = *hilen = 0;
	for (size_t i = 0; i < c->n[which]; i++) {
		const struct lsm_file *f = c->in[which][i];
		if (!*lo || lsm_key_cmp(f->smallest, f->slen, *lo, *lolen) < 0) {
			*lo = f->smallest;
			*lolen = f->slen;
		}
		if (!*hi || lsm_key_cmp(f->largest, f->llen, *hi, *hilen) > 0) {
			*hi = f->largest;
			*hilen = f->llen;
		}
	}
}

/*
 * Adds to inputs[0] the files of c->level overlapping [lo, hi] (NULL =
 * unbounded); for L0, repeatedly widens the range until no other L0 file
 * overlaps it (invariant 4 of lsm.c). Then adds the overlapping files of
 * the output level to inputs[1] (when it differs from the input level).
 */
static int comp_fill(struct compaction *c, const void *lo, size_t lolen, const void *hi,
		     size_t hilen)
{
	const struct lsm_version *v = c->v;
	int rv;
	for (size_t i = 0; i < v->n[c->level]; i++) {
		struct lsm_file *f = v->files[c->level][i];
		if (lsm_file_overlaps(f, lo, lolen, hi, hilen) && (rv = comp_add(c, 0, f)))
			return rv;
	}
	if (c->n[0] == 0)
		return 0;
	const uint8_t *rlo, *rhi;
	size_t rlolen, rhilen;
	comp_range(c, 0, &rlo, &rlolen, &rhi, &rhilen);
	if (c->level == 0) {
		bool grew = true;
		while (grew) {
			grew = false;
			for (size_t i = 0; i < v->n[0]; i++) {
				struct lsm_file *f = v->files[0][i];
				if (comp_has(c, 0, f) || !lsm_file_overlaps(f, rlo, rlolen, rhi, rhilen))
					continue;
				if ((rv = comp_add(c, 0, f)))
					return rv;
				grew = true;
			}
			comp_range(c, 0, &rlo, &rlolen, &rhi, &rhilen);
		}
		/* keep L0 inputs newest first, the version's order */
		size_t k = 0;
		for (size_t i = 0; i < v->n[0]; i++)
			if (comp_has(c, 0, v->files[0][i]))
				c->in[0][k++] = v->files[0][i];
	}
	if (c->out_level != c->level) {
		for (size_t i = 0; i < v->n[c->out_level]; i++) {
			struct lsm_file *f = v->files[c->out_level][i];
			if (lsm_file_overlaps(f, rlo, rlolen, rhi, rhilen) && (rv = comp_add(c, 1, f)))
				return rv;
		}
	}
	return 0;
}

/* Whether no level below out_level may hold key. */
static bool is_base_for_key(const struct lsm *t, const struct lsm_version *v, int out_level,
			    const void *key, size_t klen)
{
	for (int l = out_level + 1; l < (int)t->o.max_levels; l++) {
		size_t i = lsm_level_find(v, l, key, klen);
		if (i < v->n[l] && lsm_file_contains(v->files[l][i], key, klen))
			return false;
	}
	return true;
}

static void emit_progress(struct lsm *t, int level, uint64_t done, uint64_t total)
{
	struct strata_event ev;
	LSM_EVENT_INIT(ev, CompactionProgress, t);
	ev.u.CompactionProgress.level = (uint64_t)level;
	ev.u.CompactionProgress.bytes_done = done;
	ev.u.CompactionProgress.bytes_total = total;
	double pct = total ? 100.0 * (double)done / (double)total : 100.0;
	ev.u.CompactionProgress.percent = pct > 100.0 ? 100.0 : pct;
	emit_rare(&ev);
}

static int install_locked(struct lsm *t, const struct lsm_edit *e)
{
	pthread_mutex_lock(&t->install_mu);
	int rv = lsm_install(t, e, 0);
	pthread_mutex_unlock(&t->install_mu);
	return rv;
}

static int trivial_move(struct lsm *t, struct compaction *c)
{
	struct lsm_edit e = {0};
	struct lsm_file *f = c->in[0][0];
	int rv;
	if ((rv = lsm_edit_del(&e, f, c->level)) || (rv = lsm_edit_add(&e, f, c->out_level)) ||
	    (rv = install_locked(t, &e)))
		goto out;
	lsm_count(&t->st.trivial_moves, 1);
	struct strata_event ev;
	LSM_EVENT_INIT(ev, LevelMigration, t);
	ev.u.LevelMigration.from_level = (uint64_t)c->level;
	ev.u.LevelMigration.to_level = (uint64_t)c->out_level;
	ev.u.LevelMigration.sstable_count = 1;
	emit_rare(&ev);
out:
	lsm_edit_free(&e);
	return rv;
}

static int merge(struct lsm *t, struct compaction *c, bool background)
{
	uint64_t t0 = clock_mono_us();
	uint64_t in_bytes = 0, out_bytes = 0;
	size_t nin = c->n[0] + c->n[1];
	for (int w = 0; w < 2; w++)
		for (size_t i = 0; i < c->n[w]; i++)
			in_bytes += c->in[w][i]->size;

	struct strata_event ev;
	LSM_EVENT_INIT(ev, CompactionStarted, t);
	ev.u.CompactionStarted.level = (uint64_t)c->level;
	ev.u.CompactionStarted.sstable_count = nin;
	emit_rare(&ev);

	struct lsm_cursor *ch[LSM_MAX_IMM + 64], **children = ch, *mc = NULL;
	size_t nch = 0;
	struct lsm_edit e = {0};
	struct lsm_file **outs = NULL;
	size_t nouts = 0, capouts = 0;
	struct lsm_sst_writer *w = NULL;
	uint64_t wnum = 0;
	int rv = 0;
	size_t need = (c->level == 0 ? c->n[0] : 1) + 1;
	if (need > sizeof(ch) / sizeof(ch[0])) {
		children = calloc(need, sizeof(*children));
		if (!children)
			return STRATA_ENOMEM;
	}
	if (c->level == 0) {
		for (size_t i = 0; i < c->n[0] && !rv; i++)
			if (!(rv = lsm_sst_cursor_ex(c->in[0][i]->sst, false, &children[nch])))
				nch++;
	} else if (!(rv = lsm_level_cursor(c->in[0], c->n[0], false, false, &children[nch]))) {
		nch++;
	}
	if (!rv && c->n[1] && !(rv = lsm_level_cursor(c->in[1], c->n[1], false, false, &children[nch])))
		nch++;
	if (rv) {
		for (size_t i = 0; i < nch; i++)
			lsm_cursor_free(children[i]);
		goto out;
	}
	if ((rv = lsm_merge_cursor_new(&mc, children, nch)) || (rv = lsm_cursor_seek(mc, NULL, 0)))
		goto out;
	while (lsm_cursor_valid(mc)) {
		struct lsm_entry en;
		lsm_cursor_entry(mc, &en);
		if (en.type == LSM_TYPE_DEL &&
		    is_base_for_key(t, c->v, c->out_level, en.key, en.klen))
			goto next;
		if (!w) {
			wnum = lsm_new_file_number(t);
			if ((rv = lsm_table_start(t, wnum, &w)))
				goto out;
		}
		if ((rv = lsm_sst_writer_add(w, en.key, en.klen, en.type, en.val, en.vlen)))
			goto out;
		if (lsm_sst_writer_size(w) >= t->o.target_file_bytes) {
			struct lsm_file *f;
			rv = lsm_table_finish(t, wnum, w, &f);
			w = NULL;
			if (rv)
				goto out;
			if (nouts == capouts) {
				capouts = capouts ? capouts * 2 : 8;
				struct lsm_file **no = realloc(outs, capouts * sizeof(*no));
				if (!no) {
					atomic_store(&f->obsolete, true);
					lsm_file_unref(f);
					rv = STRATA_ENOMEM;
					goto out;
				}
				outs = no;
			}
			outs[nouts++] = f;
			out_bytes += f->size;
			emit_progress(t, c->level, out_bytes, in_bytes);
			if (background && (rv = lsm_flush_one(t)) != 0) {
				pthread_mutex_lock(&t->mu);
				t->bg_error = rv;
				pthread_cond_broadcast(&t->done_cv);
				pthread_mutex_unlock(&t->mu);
				goto out;
			}
		}
next:
		if ((rv = lsm_cursor_next(mc)))
			goto out;
	}
	if (w) {
		struct lsm_file *f;
		rv = lsm_table_finish(t, wnum, w, &f);
		w = NULL;
		if (rv)
			goto out;
		if (nouts == capouts) {
			capouts = capouts ? capouts * 2 : 8;
			struct lsm_file **no = realloc(outs, capouts * sizeof(*no));
			if (!no) {
				atomic_store(&f->obsolete, true);
				lsm_file_unref(f);
				rv = STRATA_ENOMEM;
				goto out;
			}
			outs = no;
		}
		outs[nouts++] = f;
		out_bytes += f->size;
	}
	for (int wi = 0; wi < 2 && !rv; wi++)
		for (size_t i = 0; i < c->n[wi] && !rv; i++)
			rv = lsm_edit_del(&e, c->in[wi][i], wi == 0 ? c->level : c->out_level);
	for (size_t i = 0; i < nouts && !rv; i++)
		rv = lsm_edit_add(&e, outs[i], c->out_level);
	if (rv || (rv = install_locked(t, &e)))
		goto out;

	lsm_count(&t->st.compactions, 1);
	lsm_count(&t->st.bytes_compacted, out_bytes);
	stat_add(&core_stats()->lsm.compactions, 1);
	stat_add(&core_stats()->lsm.bytes_compacted, out_bytes);
	emit_progress(t, c->level, in_bytes, in_bytes);
	LSM_EVENT_INIT(ev, CompactionCompleted, t);
	ev.u.CompactionCompleted.level = (uint64_t)c->level;
	ev.u.CompactionCompleted.old_sstables = nin;
	ev.u.CompactionCompleted.new_sstables = nouts;
	ev.u.CompactionCompleted.duration_ms = (clock_mono_us() - t0) / 1000;
	emit_rare(&ev);
	lsm_note_written(t);
out:
	if (w)
		lsm_sst_writer_abort(w);
	for (size_t i = 0; i < nouts; i++) {
		if (rv) /* never named by a manifest */
			atomic_store(&outs[i]->obsolete, true);
		lsm_file_unref(outs[i]); /* the version holds them now */
	}
	free(outs);
	lsm_cursor_free(mc);
	if (children != ch)
		free(children);
	lsm_edit_free(&e);
	return rv;
}

static void set_compact_ptr(struct lsm *t, int level, const struct lsm_file *f)
{
	uint8_t *p = malloc(f->llen ? f->llen : 1);
	if (!p)
		return; /* only fairness suffers */
	memcpy(p, f->largest, f->llen);
	free(t->compact_ptr[level]);
	t->compact_ptr[level] = p;
	t->compact_ptr_len[level] = f->llen;
}

int lsm_compaction_run_one(struct lsm *t, bool background, bool *did)
{
	*did = false;
	struct compaction c = {0};
	c.v = lsm_current(t);
	int level;
	int rv = 0;
	if (lsm_compaction_score(t, c.v, &level) < 1.0)
		goto out;
	c.level = level;
	c.out_level = level + 1;
	c.allow_trivial = true;
	if (level == 0) {
		/* the oldest L0 table and every L0 table overlapping it,
		 * transitively: none older is left behind */
		struct lsm_file *f = c.v->files[0][c.v->n[0] - 1];
		rv = comp_fill(&c, f->smallest, f->slen, f->largest, f->llen);
	} else {
		/* the first file past the round-robin pointer, else the first */
		const struct lsm_version *v = c.v;
		size_t pick = 0;
		if (t->compact_ptr[level]) {
			pick = lsm_level_find(v, level, t->compact_ptr[level], t->compact_ptr_len[level]);
			while (pick < v->n[level] &&
			       lsm_key_cmp(v->files[level][pick]->largest, v->files[level][pick]->llen,
					   t->compact_ptr[level], t->compact_ptr_len[level]) <= 0)
				pick++;
			if (pick >= v->n[level])
				pick = 0;
		}
		struct lsm_file *f = v->files[level][pick];
		set_compact_ptr(t, level, f);
		rv = comp_fill(&c, f->smallest, f->slen, f->largest, f->llen);
	}
	if (rv || c.n[0] == 0)
		goto out;
	*did = true;
	if (c.allow_trivial && c.n[0] == 1 && c.n[1] == 0)
		rv = trivial_move(t, &c);
	else
		rv = merge(t, &c, background);
	if (!rv && level == 0)
		atomic_store(&t->l0_read_probes, 0); /* a new L0 starts a new budget */
out:
	comp_free(&c);
	return rv;
}

int lsm_compaction_manual(struct lsm *t, const void *lo, size_t lolen, const void *hi,
			  size_t hilen)
{
	struct lsm_version *v = lsm_current(t);
	int deepest = 1;
	for (int l = 1; l < LSM_MAX_LEVELS; l++)
		if (v->n[l])
			deepest = l;
	lsm_version_unref(v);
	for (int l = 0; l < deepest; l++) {
		struct compaction c = {0};
		c.v = lsm_current(t);
		c.level = l;
		c.out_level = l + 1;
		int rv = comp_fill(&c, lo, lolen, hi, hilen);
		if (!rv && c.n[0])
			rv = merge(t, &c, false);
		comp_free(&c);
		if (rv)
			return rv;
	}
	return 0;
}
