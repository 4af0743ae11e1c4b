/*
 * core/lsm.c — an LSM tree: open/recovery, the write path, reads, the
 * background thread, stats. See lsm.h for the contract and lsm_internal.h
 * for the lock order.
 *
 * Files in the tree's directory (NNNN = 16 hex digits, one counter for all):
 *     LOCK                 flock'ed while the tree is open
 *     MANIFEST             the live SSTables (lsm_manifest.h)
 *     NNNN.log             WAL of one memtable (lsm_wal.h)
 *     NNNN.sst             an SSTable named by the manifest (lsm_sstable.h)
 *     NNNN.sst.tmp, MANIFEST.tmp   being written; garbage after a crash
 *
 * Invariants:
 *  1. Every acknowledged write is in a WAL numbered >= the manifest's log
 *     number, or in an SSTable the manifest names. A WAL is deleted only
 *     after a manifest naming the SSTable of its memtable (and a higher log
 *     number) is durable.
 *  2. An SSTable is written under a temporary name, fdatasync'ed, renamed
 *     and the directory fsync'ed before a manifest names it; at open every
 *     file the manifest does not name (and every WAL below the log number)
 *     is deleted. So no half-written table is ever read.
 *  3. Entries carry sequence numbers in the WAL and memtables; a reader
 *     takes last_seq as its snapshot and ignores memtable entries above it,
 *     so a batch (one WAL record, consecutive seqs, last_seq published after
 *     the whole batch is in the memtable) is seen whole or not at all.
 *     SSTables hold one entry per key (the newest), so seqs are not stored.
 *  4. Newest wins: active memtable, immutable memtables newest first, L0
 *     newest first (file number), then L1, L2, ... An L0 compaction takes
 *     every L0 file that overlaps its range, transitively, so an older L0
 *     file left behind never overlaps a newer table moved below it.
 *  5. Stall states of the write path (write_mu):
 *        NORMAL  --L0 >= slowdown-->           DELAYED  (each write sleeps
 *                                                        stall_delay_us once)
 *        any     --memtables or L0 at stop-->  STOPPED  (writes wait, at most
 *                                                        stall_timeout_ms)
 *        DELAYED/STOPPED --a write goes through without either--> NORMAL
 *     Each transition emits one WriteStall event.
 */
#include "core/lsm.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bloom.h"
#include "core/lsm_coding.h"
#include "core/lsm_internal.h"
#include "core/lsm_manifest.h"
#include "core/stats.h"
#include "strata/error.h"

#define BATCH_MAX (256u << 20)

/* ---- options ---------------------------------------------------------------- */

static int options_fill(struct lsm_options *o, const struct lsm_options *in)
{
	static const struct lsm_options zero;
	*o = in ? *in : zero;
	if (!o->memtable_bytes)
		o->memtable_bytes = 4u << 20;
	if (!o->max_immutables)
		o->max_immutables = 2;
	if (!o->l0_compaction_trigger)
		o->l0_compaction_trigger = 4;
	if (!o->l0_slowdown_files)
		o->l0_slowdown_files = 8;
	if (!o->l0_stop_files)
		o->l0_stop_files = 12;
	if (!o->stall_delay_us)
		o->stall_delay_us = 1000;
	if (!o->stall_timeout_ms)
		o->stall_timeout_ms = 30000;
	if (!o->level_base_bytes)
		o->level_base_bytes = 16u << 20;
	if (!o->level_ratio)
		o->level_ratio = 10;
	if (!o->max_levels)
		o->max_levels = LSM_MAX_LEVELS;
	if (!o->target_file_bytes)
		o->target_file_bytes = 2u << 20;
	if (!o->block_bytes)
		o->block_bytes = 4096;
	if (!o->bloom_bits_per_key)
		o->bloom_bits_per_key = 10;
	if (!o->sync_interval_ms)
		o->sync_interval_ms = 100;
	if (!o->block_cache_bytes)
		o->block_cache_bytes = 8u << 20;
	if (o->max_immutables > LSM_MAX_IMM || o->max_levels < 2 ||
	    o->max_levels > LSM_MAX_LEVELS || o->level_ratio < 2 || o->bloom_bits_per_key > 64 ||
	    o->block_bytes > (16u << 20) || o->sync > LSM_SYNC_INTERVAL ||
	    o->l0_slowdown_files > o->l0_stop_files || o->wa_alert_threshold < 0)
		return STRATA_EBAD_REQUEST;
	return 0;
}

/* ---- small helpers -------------------------------------------------------- */

static void wal_path(char *buf, size_t len, const char *dir, uint64_t number)
{
	snprintf(buf, len, "%s/%016" PRIx64 ".log", dir, number);
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(tmp))
		return STRATA_EBAD_REQUEST;
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != 0)
			continue;
		char c = tmp[i];
		tmp[i] = 0;
		if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
			return strata_err_from_errno(errno);
		tmp[i] = c;
	}
	struct stat sb;
	if (stat(dir, &sb) != 0)
		return strata_err_from_errno(errno);
	return S_ISDIR(sb.st_mode) ? 0 : STRATA_ECONFLICT;
}

/* Parses "NNNN<suffix>" (16 hex digits); true with *number on a match. */
static bool parse_numbered(const char *name, const char *suffix, uint64_t *number)
{
	size_t sl = strlen(suffix);
	if (strlen(name) != 16 + sl || strcmp(name + 16, suffix) != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*number = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t lsm_new_file_number(struct lsm *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t n = t->next_file++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

struct lsm_version *lsm_current(struct lsm *t)
{
	pthread_mutex_lock(&t->mu);
	struct lsm_version *v = t->current;
	lsm_version_ref(v);
	pthread_mutex_unlock(&t->mu);
	return v;
}

const char *lsm_name(const struct lsm *t) { return t->name; }
const char *lsm_dir(const struct lsm *t) { return t->dir; }

/* ---- tables and installs --------------------------------------------------- */

int lsm_table_start(struct lsm *t, uint64_t number, struct lsm_sst_writer **w)
{
	char tmp[4200];
	lsm_file_path(tmp, sizeof(tmp), t->dir, number, true);
	struct lsm_sst_opts so = {
		.block_bytes = t->o.block_bytes,
		.bloom_bits = t->o.bloom_bits_per_key,
		.compress = !t->o.no_compression,
	};
	return lsm_sst_writer_open(w, tmp, &so);
}

int lsm_table_finish(struct lsm *t, uint64_t number, struct lsm_sst_writer *w,
		     struct lsm_file **out)
{
	char tmp[4200], path[4200];
	lsm_file_path(tmp, sizeof(tmp), t->dir, number, true);
	lsm_file_path(path, sizeof(path), t->dir, number, false);
	struct lsm_sst_info info;
	int rv = lsm_sst_writer_finish(w, &info);
	if (rv)
		return rv;
	if (rename(tmp, path) != 0) {
		rv = strata_err_from_errno(errno);
		(void)unlink(tmp);
		goto out;
	}
	if ((rv = file_sync_dir(t->dir)) ||
	    (rv = lsm_file_open(out, t->dir, t->cache, !t->o.no_mmap_reads, number, info.size, info.entries, info.smallest,
				info.slen, info.largest, info.llen)))
		(void)unlink(path);
out:
	lsm_sst_info_free(&info);
	return rv;
}

int lsm_install(struct lsm *t, const struct lsm_edit *e, uint64_t log_number)
{
	pthread_mutex_lock(&t->mu);
	struct lsm_version *base = t->current;
	lsm_version_ref(base);
	uint64_t next_file = t->next_file;
	pthread_mutex_unlock(&t->mu);

	struct lsm_version *v;
	struct lsm_manifest m = {0};
	int rv = lsm_version_apply(base, e, &v);
	if (rv)
		goto out_base;
	size_t total = 0;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		total += v->n[l];
	m.files = calloc(total ? total : 1, sizeof(*m.files));
	if (!m.files) {
		rv = STRATA_ENOMEM;
		goto out_version;
	}
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->n[l]; i++) {
			const struct lsm_file *f = v->files[l][i];
			m.files[m.nfiles++] = (struct lsm_manifest_file){
				.level = (unsigned)l,
				.number = f->number,
				.size = f->size,
				.entries = f->entries,
				.smallest = f->smallest,
				.slen = f->slen,
				.largest = f->largest,
				.llen = f->llen,
			};
		}
	}
	m.next_file = next_file;
	m.last_seq = atomic_load(&t->last_seq);
	m.log_number = log_number ? log_number : t->log_number;
	if ((rv = lsm_manifest_write(t->dir, &m)))
		goto out_version;
	t->log_number = m.log_number;

	pthread_mutex_lock(&t->mu);
	struct lsm_version *old = t->current;
	t->current = v;
	v = NULL;
	pthread_cond_broadcast(&t->done_cv);
	pthread_mutex_unlock(&t->mu);

	/* The manifest no longer names the removed files: they go at their last
	 * reference (a trivially moved file is both removed and added). */
	for (size_t i = 0; i < e->ndel; i++) {
		bool moved = false;
		for (size_t j = 0; j < e->nadd && !moved; j++)
			moved = e->add[j] == e->del[i];
		if (!moved)
			atomic_store(&e->del[i]->obsolete, true);
	}
	lsm_version_unref(old);
out_version:
	free(m.files);
	lsm_version_unref(v);
out_base:
	lsm_version_unref(base);
	return rv;
}

void lsm_note_written(struct lsm *t)
{
	uint64_t user = atomic_load(&t->st.user_bytes);
	if (!user || t->o.wa_alert_threshold <= 0)
		return;
	double wa = (double)(atomic_load(&t->st.bytes_flushed) + atomic_load(&t->st.bytes_compacted)) /
		    (double)user;
	pthread_mutex_lock(&t->install_mu);
	bool fire = false;
	if (wa > t->o.wa_alert_threshold && !t->wa_alerted)
		fire = t->wa_alerted = true;
	else if (wa <= t->o.wa_alert_threshold)
		t->wa_alerted = false; /* re-arm */
	pthread_mutex_unlock(&t->install_mu);
	if (fire) {
		struct strata_event ev;
		LSM_EVENT_INIT(ev, WriteAmplificationAlert, t);
		ev.u.WriteAmplificationAlert.write_amplification = wa;
		ev.u.WriteAmplificationAlert.threshold = t->o.wa_alert_threshold;
		emit_rare(&ev);
	}
}

/* Writes memtable m as a new table; *out NULL when m is empty. */
static int build_table(struct lsm *t, struct lsm_memtable *m, struct lsm_file **out)
{
	*out = NULL;
	struct lsm_cursor *c;
	struct lsm_sst_writer *w = NULL;
	int rv = lsm_memtable_cursor(m, UINT64_MAX, &c);
	if (rv)
		return rv;
	if ((rv = lsm_cursor_seek(c, NULL, 0)) || !lsm_cursor_valid(c))
		goto out;
	uint64_t number = lsm_new_file_number(t);
	if ((rv = lsm_table_start(t, number, &w)))
		goto out;
	for (; lsm_cursor_valid(c); (void)lsm_cursor_next(c)) {
		struct lsm_entry e;
		lsm_cursor_entry(c, &e);
		if ((rv = lsm_sst_writer_add(w, e.key, e.klen, e.type, e.val, e.vlen))) {
			lsm_sst_writer_abort(w);
			goto out;
		}
	}
	rv = lsm_table_finish(t, number, w, out);
out:
	lsm_cursor_free(c);
	return rv;
}

/* ---- flush ------------------------------------------------------------------ */

int lsm_flush_one(struct lsm *t)
{
	pthread_mutex_lock(&t->mu);
	if (t->nimm == 0) {
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	struct lsm_imm imm = t->imm[0];
	pthread_mutex_unlock(&t->mu);

	struct lsm_file *f;
	struct lsm_edit e = {0};
	int rv = build_table(t, imm.mem, &f);
	if (rv)
		return rv;
	if (f && (rv = lsm_edit_add(&e, f, 0)))
		goto out;
	pthread_mutex_lock(&t->install_mu);
	pthread_mutex_lock(&t->mu);
	uint64_t log_number = t->nimm > 1 ? t->imm[1].wal_number : t->wal_number;
	pthread_mutex_unlock(&t->mu);
	rv = lsm_install(t, &e, log_number);
	pthread_mutex_unlock(&t->install_mu);
	if (rv)
		goto out;

	/* counted before waiters of lsm_flush are woken */
	lsm_count(&t->st.flushes, 1);
	stat_add(&core_stats()->lsm.memtable_flushes, 1);
	if (f)
		lsm_count(&t->st.bytes_flushed, f->size);
	struct strata_event ev;
	LSM_EVENT_INIT(ev, MemtableFlushed, t);
	ev.u.MemtableFlushed.entries = lsm_memtable_entries(imm.mem);
	ev.u.MemtableFlushed.size_bytes = f ? f->size : 0;
	emit_rare(&ev);
	lsm_note_written(t);

	pthread_mutex_lock(&t->mu);
	memmove(&t->imm[0], &t->imm[1], (t->nimm - 1) * sizeof(t->imm[0]));
	t->nimm--;
	t->imm_flushed++;
	pthread_cond_broadcast(&t->done_cv);
	pthread_mutex_unlock(&t->mu);

	char path[4200];
	wal_path(path, sizeof(path), t->dir, imm.wal_number);
	(void)unlink(path); /* a leftover is below the log number: deleted at open */
	lsm_wal_unref(imm.wal);
	lsm_memtable_unref(imm.mem);
out:
	if (rv && f)
		atomic_store(&f->obsolete, true);
	lsm_file_unref(f);
	lsm_edit_free(&e);
	return rv;
}

/* ---- background thread ------------------------------------------------------ */

static void add_ms(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *bg_main(void *arg)
{
	struct lsm *t = arg;
	uint64_t last_sync = clock_mono_us();
	uint64_t compact_backoff_until = 0;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->nimm > 0 && !t->bg_error) {
			pthread_mutex_unlock(&t->mu);
			int rv = lsm_flush_one(t);
			pthread_mutex_lock(&t->mu);
			if (rv) {
				t->bg_error = rv;
				pthread_cond_broadcast(&t->done_cv);
			}
			continue;
		}
		if (t->stopping)
			break;
		uint64_t now = clock_mono_us();
		if (t->o.sync == LSM_SYNC_INTERVAL &&
		    now - last_sync >= (uint64_t)t->o.sync_interval_ms * 1000) {
			struct lsm_wal *w = t->wal;
			lsm_wal_ref(w);
			pthread_mutex_unlock(&t->mu);
			if (lsm_wal_sync(w, 0, NULL) == 0)
				lsm_count(&t->st.wal_syncs, 1);
			lsm_wal_unref(w);
			pthread_mutex_lock(&t->mu);
			last_sync = now;
			continue;
		}
		int level;
		if (!t->bg_error && now >= compact_backoff_until &&
		    lsm_compaction_score(t, t->current, &level) >= 1.0 &&
		    pthread_mutex_trylock(&t->compact_mu) == 0) {
			pthread_mutex_unlock(&t->mu);
			bool did = false;
			int rv = lsm_compaction_run_one(t, true, &did);
			pthread_mutex_unlock(&t->compact_mu);
			pthread_mutex_lock(&t->mu);
			if (rv) /* e.g. a corrupt input: retry later, writes may go on */
				compact_backoff_until = clock_mono_us() + 1000000;
			if (did && !rv)
				continue;
		}
		struct timespec ts;
		add_ms(&ts, t->o.sync == LSM_SYNC_INTERVAL ? t->o.sync_interval_ms : 1000);
		pthread_cond_timedwait(&t->bg_cv, &t->mu, &ts);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* ---- write path -------------------------------------------------------------- */

static void stall_set(struct lsm *t, enum lsm_stall_state s, const char *reason, size_t l0)
{
	if (t->stall == s)
		return;
	uint64_t now = clock_mono_us();
	struct strata_event ev;
	LSM_EVENT_INIT(ev, WriteStall, t);
	snprintf(ev.u.WriteStall.reason, sizeof(ev.u.WriteStall.reason), "%s", reason);
	ev.u.WriteStall.l0_files = l0;
	if (s == LSM_STALL_NORMAL)
		ev.u.WriteStall.stall_us = now - t->stall_since_us;
	else if (t->stall == LSM_STALL_NORMAL)
		t->stall_since_us = now;
	t->stall = s;
	emit_rare(&ev);
}

/* Bits of a live memtable's key filter: about 8 per 32 bytes it may hold
 * (4 MiB: 1 Mibit, 128 KiB; 20+ bits a key for db_bench's 116-byte
 * entries), so gets of keys it lacks (most, once a tree outgrows its
 * memtable) skip the skiplist walk. */
static size_t mem_filter_bits(const struct lsm *t)
{
	size_t bits = t->o.memtable_bytes / 4;
	return bits < ((size_t)1 << 26) ? bits : (size_t)1 << 26; /* at most 8 MiB */
}

/* Switches to a new memtable and WAL. Holds write_mu and mu; drops mu while
 * creating the file. */
static int switch_memtable(struct lsm *t)
{
	uint64_t number = t->next_file++;
	pthread_mutex_unlock(&t->mu);
	char path[4200];
	wal_path(path, sizeof(path), t->dir, number);
	struct lsm_wal *w = NULL;
	struct lsm_memtable *m = NULL;
	int rv = lsm_wal_create(&w, path, t->dir);
	if (!rv && (rv = lsm_memtable_new_ex(&m, mem_filter_bits(t))) != 0) {
		lsm_wal_unref(w);
		(void)unlink(path);
	}
	pthread_mutex_lock(&t->mu);
	if (rv)
		return rv;
	t->imm[t->nimm++] = (struct lsm_imm){t->mem, t->wal, t->wal_number};
	t->imm_made++;
	t->mem = m;
	t->wal = w;
	t->wal_number = number;
	pthread_cond_signal(&t->bg_cv);
	return 0;
}

/*
 * Makes room for a write of `need` bytes (write_mu held, mu not): applies
 * the slowdown and stop rules and switches to a new memtable when the
 * active one is full (or when force and it is not empty).
 */
static int make_room(struct lsm *t, size_t need, bool force)
{
	bool delayed = false, stalled = false;
	uint64_t wait_start = 0;
	int rv = 0;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		if (t->bg_error) {
			rv = STRATA_EREAD_ONLY;
			break;
		}
		size_t l0 = t->current->n[0];
		if (!delayed && !force && l0 >= t->o.l0_slowdown_files && l0 < t->o.l0_stop_files) {
			delayed = stalled = true;
			stall_set(t, LSM_STALL_DELAYED, "delayed: l0_files", l0);
			pthread_cond_signal(&t->bg_cv);
			pthread_mutex_unlock(&t->mu);
			uint64_t s = clock_mono_us();
			usleep(t->o.stall_delay_us);
			lsm_count(&t->st.stall_us, clock_mono_us() - s);
			pthread_mutex_lock(&t->mu);
			continue;
		}
		size_t used = lsm_memtable_bytes(t->mem);
		bool full = used > 0 && used + need > t->o.memtable_bytes;
		bool want_switch = force ? lsm_memtable_entries(t->mem) > 0 : full;
		bool stop_l0 = l0 >= t->o.l0_stop_files;
		if (!want_switch && (!stop_l0 || force))
			break;
		/* a forced switch (lsm_flush) only needs a free immutable slot:
		 * flushing is what relieves L0 pressure eventually */
		if ((want_switch && t->nimm >= t->o.max_immutables) || (stop_l0 && !force)) {
			stall_set(t, LSM_STALL_STOPPED,
				  stop_l0 && !force ? "stopped: l0_files" : "stopped: memtables", l0);
			stalled = true;
			uint64_t now = clock_mono_us();
			if (!wait_start)
				wait_start = now;
			if (now - wait_start >= (uint64_t)t->o.stall_timeout_ms * 1000) {
				rv = STRATA_EBUSY;
				break;
			}
			pthread_cond_signal(&t->bg_cv);
			struct timespec ts;
			add_ms(&ts, 50);
			pthread_cond_timedwait(&t->done_cv, &t->mu, &ts);
			continue;
		}
		rv = switch_memtable(t);
		break;
	}
	if (wait_start)
		lsm_count(&t->st.stall_us, clock_mono_us() - wait_start);
	if (stalled) {
		lsm_count(&t->st.write_stalls, 1);
		stat_add(&core_stats()->lsm.write_stalls, 1);
	} else if (t->stall != LSM_STALL_NORMAL && !force) {
		stall_set(t, LSM_STALL_NORMAL, "normal", t->current->n[0]);
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

static bool key_ok(const void *key, size_t klen)
{
	return key && klen > 0 && klen <= LSM_KEY_MAX;
}

/* Writes ops atomically: WAL record, memtable, then sync as asked. */
static int write_ops(struct lsm *t, const struct lsm_batch_op *ops, size_t n,
		     const struct lsm_write_opts *wo)
{
	if (!t || (n && !ops))
		return STRATA_EBAD_REQUEST;
	if (n == 0)
		return 0;
	uint64_t size = LSM_WAL_HDR + 12, user = 0;
	for (size_t i = 0; i < n; i++) {
		if (!key_ok(ops[i].key, ops[i].klen) ||
		    (ops[i].type != LSM_OP_PUT && ops[i].type != LSM_OP_DELETE) ||
		    (ops[i].type == LSM_OP_PUT &&
		     ((ops[i].vlen && !ops[i].val) || ops[i].vlen > LSM_VALUE_MAX)))
			return STRATA_EBAD_REQUEST;
		uint64_t vlen = ops[i].type == LSM_OP_PUT ? ops[i].vlen : 0;
		size += 1 + 20 + ops[i].klen + vlen;
		user += ops[i].klen + vlen;
	}
	if (size > BATCH_MAX)
		return STRATA_ETOO_LARGE;
	/* small records (the common put) are encoded on the stack: no malloc */
	uint8_t stack_rec[512];
	uint8_t *rec = size <= sizeof(stack_rec) ? stack_rec : malloc((size_t)size);
	if (!rec)
		return STRATA_ENOMEM;
	size_t len = LSM_WAL_HDR + 12;
	for (size_t i = 0; i < n; i++) {
		bool put = ops[i].type == LSM_OP_PUT;
		rec[len++] = put ? LSM_TYPE_PUT : LSM_TYPE_DEL;
		len += lsm_put_varint(rec + len, ops[i].klen);
		len += lsm_put_varint(rec + len, put ? ops[i].vlen : 0);
		memcpy(rec + len, ops[i].key, ops[i].klen);
		len += ops[i].klen;
		if (put && ops[i].vlen) {
			memcpy(rec + len, ops[i].val, ops[i].vlen);
			len += ops[i].vlen;
		}
	}
	lsm_put_u32(rec + LSM_WAL_HDR + 8, (uint32_t)n);

	pthread_mutex_lock(&t->write_mu);
	int rv = make_room(t, len + n * 48, false);
	if (rv)
		goto out_unlock;
	uint64_t seq = atomic_load_explicit(&t->last_seq, memory_order_relaxed) + 1;
	lsm_put_u64(rec + LSM_WAL_HDR, seq);
	uint64_t end;
	if ((rv = lsm_wal_append(t->wal, rec, len, &end))) {
		/* the WAL may end in a partial record: no write may follow it */
		pthread_mutex_lock(&t->mu);
		t->bg_error = STRATA_EREAD_ONLY;
		pthread_mutex_unlock(&t->mu);
		goto out_unlock;
	}
	for (size_t i = 0; i < n; i++) {
		bool put = ops[i].type == LSM_OP_PUT;
		rv = lsm_memtable_add(t->mem, seq + i, put ? LSM_TYPE_PUT : LSM_TYPE_DEL, ops[i].key,
				      ops[i].klen, ops[i].val, put ? ops[i].vlen : 0);
		if (rv) {
			/* in the WAL but not the memtable: only a reopen makes the
			 * tree consistent again */
			pthread_mutex_lock(&t->mu);
			t->bg_error = STRATA_EREAD_ONLY;
			pthread_mutex_unlock(&t->mu);
			goto out_unlock;
		}
	}
	atomic_store_explicit(&t->last_seq, seq + n - 1, memory_order_release);
	struct lsm_wal *w = t->wal;
	lsm_wal_ref(w);
	pthread_mutex_unlock(&t->write_mu);

	lsm_count(&t->st.wal_bytes, len);
	lsm_count(&t->st.user_bytes, user);
	bool sync = wo ? wo->sync : t->o.sync == LSM_SYNC_COMMIT;
	if (sync) {
		bool grouped;
		rv = lsm_wal_sync(w, end, &grouped);
		lsm_count(grouped ? &t->st.group_commits : &t->st.wal_syncs, 1);
		if (rv) {
			pthread_mutex_lock(&t->mu);
			t->bg_error = STRATA_EREAD_ONLY;
			pthread_mutex_unlock(&t->mu);
		}
	}
	lsm_wal_unref(w);
	if (rec != stack_rec)
		free(rec);
	return rv;

out_unlock:
	pthread_mutex_unlock(&t->write_mu);
	if (rec != stack_rec)
		free(rec);
	return rv;
}

int lsm_put(struct lsm *t, const void *key, size_t klen, const void *val, size_t vlen,
	    const struct lsm_write_opts *wo)
{
	struct lsm_batch_op op = {LSM_OP_PUT, key, klen, val, vlen};
	int rv = write_ops(t, &op, 1, wo);
	if (!rv) {
		lsm_count(&t->st.puts, 1);
		stat_add(&core_stats()->lsm.puts, 1);
	}
	return rv;
}

int lsm_delete(struct lsm *t, const void *key, size_t klen, const struct lsm_write_opts *wo)
{
	struct lsm_batch_op op = {LSM_OP_DELETE, key, klen, NULL, 0};
	int rv = write_ops(t, &op, 1, wo);
	if (!rv) {
		lsm_count(&t->st.deletes, 1);
		stat_add(&core_stats()->lsm.deletes, 1);
	}
	return rv;
}

int lsm_write_batch(struct lsm *t, const struct lsm_batch *b, const struct lsm_write_opts *wo)
{
	if (!t || !b)
		return STRATA_EBAD_REQUEST;
	int rv = write_ops(t, b->ops, b->count, wo);
	if (!rv && b->count) {
		uint64_t puts = 0;
		for (size_t i = 0; i < b->count; i++)
			puts += b->ops[i].type == LSM_OP_PUT;
		lsm_count(&t->st.batches, 1);
		lsm_count(&t->st.puts, puts);
		lsm_count(&t->st.deletes, b->count - puts);
		stat_add(&core_stats()->lsm.puts, puts);
		stat_add(&core_stats()->lsm.deletes, b->count - puts);
	}
	return rv;
}

/* ---- reads ------------------------------------------------------------------ */

/* What a reader pins: memtables (newest first) and a version. */
struct lsm_pin {
	struct lsm_memtable *mems[LSM_MAX_IMM + 1];
	size_t nmems;
	struct lsm_version *v;
	uint64_t snap;
};

static void pin_take(struct lsm *t, struct lsm_pin *p)
{
	pthread_mutex_lock(&t->mu);
	p->snap = atomic_load_explicit(&t->last_seq, memory_order_acquire);
	p->nmems = 0;
	lsm_memtable_ref(t->mem);
	p->mems[p->nmems++] = t->mem;
	for (size_t i = t->nimm; i-- > 0;) {
		lsm_memtable_ref(t->imm[i].mem);
		p->mems[p->nmems++] = t->imm[i].mem;
	}
	p->v = t->current;
	lsm_version_ref(p->v);
	pthread_mutex_unlock(&t->mu);
}

static void pin_release(struct lsm_pin *p)
{
	for (size_t i = 0; i < p->nmems; i++)
		lsm_memtable_unref(p->mems[i]);
	lsm_version_unref(p->v);
}

/* Looks key up in one file: 0 found (type/val set), ENOT_FOUND, errors. */
static int file_get(struct lsm *t, struct lsm_file *f, const void *key, size_t klen,
		    uint64_t hash, int *type, void **val, size_t *vlen)
{
	lsm_count(&t->st.bloom_checks, 1);
	if (!lsm_sst_may_contain(f->sst, hash)) {
		lsm_count(&t->st.bloom_useful, 1);
		stat_add(&core_stats()->lsm.bloom_negatives, 1);
		return STRATA_ENOT_FOUND;
	}
	int rv = lsm_sst_get(f->sst, key, klen, type, val, vlen);
	if (rv == STRATA_ENOT_FOUND)
		lsm_count(&t->st.bloom_fp, 1);
	else if (rv == STRATA_ECORRUPT)
		lsm_count(&t->st.corruptions, 1);
	return rv;
}

int lsm_get(struct lsm *t, const void *key, size_t klen, void **val, size_t *vlen)
{
	if (!t || !key_ok(key, klen) || !val || !vlen)
		return STRATA_EBAD_REQUEST;
	*val = NULL;
	*vlen = 0;
	lsm_count(&t->st.gets, 1);
	stat_add(&core_stats()->lsm.gets, 1);
	uint64_t hash = bloom_hash(key, klen);
	struct lsm_pin p;
	pin_take(t, &p);
	int rv = STRATA_ENOT_FOUND, type = 0;
	for (size_t i = 0; i < p.nmems; i++) {
		const void *mv;
		size_t mvlen;
		if (lsm_memtable_get_h(p.mems[i], key, klen, hash, p.snap, &type, &mv, &mvlen)) {
			lsm_count(&t->st.memtable_hits, 1);
			if (type == LSM_TYPE_DEL)
				goto out;
			void *copy = malloc(mvlen ? mvlen : 1);
			if (!copy) {
				rv = STRATA_ENOMEM;
				goto out;
			}
			memcpy(copy, mv, mvlen);
			*val = copy;
			*vlen = mvlen;
			rv = 0;
			goto out;
		}
	}
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		size_t i = 0, end = p.v->n[l];
		if (l > 0) {
			i = lsm_level_find(p.v, l, key, klen);
			end = i < end ? i + 1 : i;
		}
		for (; i < end; i++) {
			struct lsm_file *f = p.v->files[l][i];
			if (!lsm_file_contains(f, key, klen))
				continue;
			void *sv;
			size_t svlen;
			int r = file_get(t, f, key, klen, hash, &type, &sv, &svlen);
			if (r == STRATA_ENOT_FOUND) {
				if (l == 0)
					lsm_count(&t->l0_read_probes, 1);
				continue;
			}
			if (r) {
				rv = r;
				goto out;
			}
			lsm_count(&t->st.sstable_hits, 1);
			if (type == LSM_TYPE_PUT) {
				*val = sv;
				*vlen = svlen;
				rv = 0;
			}
			goto out;
		}
	}
out:
	pin_release(&p);
	return rv;
}

/* ---- iterators and scans ---------------------------------------------------- */

struct lsm_iter {
	struct lsm *t;
	struct lsm_cursor *m;
	struct lsm_version *v;
	int err;
	struct lsm_entry e;
};

int lsm_iter_new(struct lsm *t, struct lsm_iter **out)
{
	if (!t || !out)
		return STRATA_EBAD_REQUEST;
	struct lsm_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return STRATA_ENOMEM;
	struct lsm_pin p;
	pin_take(t, &p);
	size_t cap = p.nmems + p.v->n[0] + LSM_MAX_LEVELS, n = 0;
	struct lsm_cursor **ch = calloc(cap, sizeof(*ch));
	int rv = STRATA_ENOMEM;
	if (!ch)
		goto fail;
	for (size_t i = 0; i < p.nmems; i++)
		if ((rv = lsm_memtable_cursor(p.mems[i], p.snap, &ch[n++])))
			goto fail_children;
	for (size_t i = 0; i < p.v->n[0]; i++)
		if ((rv = lsm_sst_cursor(p.v->files[0][i]->sst, &ch[n++])))
			goto fail_children;
	for (int l = 1; l < LSM_MAX_LEVELS; l++)
		if (p.v->n[l] &&
		    (rv = lsm_level_cursor(p.v->files[l], p.v->n[l], true, true, &ch[n++])))
			goto fail_children;
	rv = lsm_merge_cursor_new(&it->m, ch, n);
	free(ch);
	if (rv)
		goto fail;
	/* the memtable cursors hold their own references; the version stays
	 * pinned for the L0 cursors */
	for (size_t i = 0; i < p.nmems; i++)
		lsm_memtable_unref(p.mems[i]);
	it->v = p.v;
	it->t = t;
	*out = it;
	return 0;
fail_children:
	for (size_t i = 0; i < n; i++)
		lsm_cursor_free(ch[i]);
	free(ch);
fail:
	pin_release(&p);
	free(it);
	return rv;
}

/* Skips tombstones from the merge cursor's position. */
static int iter_settle(struct lsm_iter *it)
{
	while (lsm_cursor_valid(it->m)) {
		lsm_cursor_entry(it->m, &it->e);
		if (it->e.type == LSM_TYPE_PUT)
			return 0;
		int rv = lsm_cursor_next(it->m);
		if (rv)
			return it->err = rv;
	}
	return 0;
}

int lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen)
{
	if (it->v && it->v->n[0])
		lsm_count(&it->t->l0_read_probes, it->v->n[0]); /* every L0 table is merged */
	it->err = lsm_cursor_seek(it->m, klen ? key : NULL, klen);
	if (it->err)
		return it->err;
	return iter_settle(it);
}

bool lsm_iter_valid(const struct lsm_iter *it)
{
	return !it->err && lsm_cursor_valid(it->m);
}

int lsm_iter_next(struct lsm_iter *it)
{
	if (!lsm_iter_valid(it))
		return it->err;
	it->err = lsm_cursor_next(it->m);
	if (it->err)
		return it->err;
	return iter_settle(it);
}

const void *lsm_iter_key(const struct lsm_iter *it, size_t *klen)
{
	*klen = it->e.klen;
	return it->e.key;
}

const void *lsm_iter_value(const struct lsm_iter *it, size_t *vlen)
{
	*vlen = it->e.vlen;
	return it->e.val;
}

void lsm_iter_free(struct lsm_iter *it)
{
	if (!it)
		return;
	lsm_cursor_free(it->m);
	lsm_version_unref(it->v);
	free(it);
}

int lsm_scan(struct lsm *t, const void *start, size_t slen, const void *end, size_t elen,
	     size_t limit, lsm_scan_fn cb, void *arg, size_t *count)
{
	if (count)
		*count = 0;
	if (!t || !cb || (slen && !start) || (elen && !end))
		return STRATA_EBAD_REQUEST;
	lsm_count(&t->st.scans, 1);
	struct lsm_iter *it;
	int rv = lsm_iter_new(t, &it);
	if (rv)
		return rv;
	size_t n = 0;
	rv = lsm_iter_seek(it, start, slen);
	while (!rv && lsm_iter_valid(it) && (!limit || n < limit)) {
		size_t kl, vl;
		const void *k = lsm_iter_key(it, &kl);
		const void *v = lsm_iter_value(it, &vl);
		if (elen && lsm_key_cmp(k, kl, end, elen) >= 0)
			break;
		n++;
		if (cb(arg, k, kl, v, vl))
			break;
		rv = lsm_iter_next(it);
	}
	lsm_iter_free(it);
	if (count)
		*count = n;
	return rv;
}

/* ---- flush and compaction requests ------------------------------------------ */

int lsm_flush(struct lsm *t)
{
	if (!t)
		return STRATA_EBAD_REQUEST;
	pthread_mutex_lock(&t->write_mu);
	int rv = make_room(t, 0, true);
	pthread_mutex_lock(&t->mu);
	uint64_t target = t->imm_made;
	pthread_mutex_unlock(&t->write_mu);
	while (!rv && t->imm_flushed < target) {
		if (t->bg_error) {
			rv = t->bg_error;
			break;
		}
		pthread_cond_signal(&t->bg_cv);
		pthread_cond_wait(&t->done_cv, &t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

int lsm_compact_range(struct lsm *t, const void *start, size_t slen, const void *end, size_t elen)
{
	if (!t || (slen && !start) || (elen && !end))
		return STRATA_EBAD_REQUEST;
	int rv = lsm_flush(t);
	if (rv)
		return rv;
	pthread_mutex_lock(&t->compact_mu);
	rv = lsm_compaction_manual(t, slen ? start : NULL, slen, elen ? end : NULL, elen);
	pthread_mutex_unlock(&t->compact_mu);
	pthread_mutex_lock(&t->mu);
	pthread_cond_signal(&t->bg_cv); /* it may have skipped work meanwhile */
	pthread_mutex_unlock(&t->mu);
	return rv;
}

int lsm_compact(struct lsm *t)
{
	return lsm_compact_range(t, NULL, 0, NULL, 0);
}

/* ---- stats ------------------------------------------------------------------- */

void lsm_get_stats(struct lsm *t, struct lsm_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->puts = atomic_load(&t->st.puts);
	st->deletes = atomic_load(&t->st.deletes);
	st->batches = atomic_load(&t->st.batches);
	st->gets = atomic_load(&t->st.gets);
	st->scans = atomic_load(&t->st.scans);
	st->memtable_hits = atomic_load(&t->st.memtable_hits);
	st->sstable_hits = atomic_load(&t->st.sstable_hits);
	st->bloom_checks = atomic_load(&t->st.bloom_checks);
	st->bloom_useful = atomic_load(&t->st.bloom_useful);
	st->bloom_false_positives = atomic_load(&t->st.bloom_fp);
	st->memtable_flushes = atomic_load(&t->st.flushes);
	st->compactions = atomic_load(&t->st.compactions);
	st->trivial_moves = atomic_load(&t->st.trivial_moves);
	st->bytes_flushed = atomic_load(&t->st.bytes_flushed);
	st->bytes_compacted = atomic_load(&t->st.bytes_compacted);
	st->user_bytes = atomic_load(&t->st.user_bytes);
	st->wal_bytes = atomic_load(&t->st.wal_bytes);
	st->wal_syncs = atomic_load(&t->st.wal_syncs);
	st->group_commits = atomic_load(&t->st.group_commits);
	st->write_stalls = atomic_load(&t->st.write_stalls);
	st->stall_us = atomic_load(&t->st.stall_us);
	st->corruptions = atomic_load(&t->st.corruptions);
	if (st->user_bytes)
		st->write_amplification =
			(double)(st->bytes_flushed + st->bytes_compacted) / (double)st->user_bytes;
	st->levels = t->o.max_levels;
	pthread_mutex_lock(&t->mu);
	st->memtable_bytes = lsm_memtable_bytes(t->mem);
	st->immutables = t->nimm;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		st->level[l].files = t->current->n[l];
		st->level[l].bytes = lsm_version_level_bytes(t->current, l);
		st->total_files += st->level[l].files;
		st->total_bytes += st->level[l].bytes;
	}
	pthread_mutex_unlock(&t->mu);
}

/* ---- open / recovery -------------------------------------------------------- */

struct replay_ctx {
	struct lsm_memtable *mem;
	uint64_t max_seq;
};

/* Applies one WAL record (an encoded batch) to the recovery memtable. A
 * record that passed its CRC but does not parse is corruption. */
static int replay_record(void *arg, const uint8_t *p, size_t len)
{
	struct replay_ctx *rc = arg;
	if (len < 12)
		return STRATA_ECORRUPT;
	uint64_t seq = lsm_get_u64(p);
	uint32_t n = lsm_get_u32(p + 8);
	const uint8_t *q = p + 12, *end = p + len;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t klen, vlen;
		if (q >= end)
			return STRATA_ECORRUPT;
		uint8_t type = *q++;
		if ((type != LSM_TYPE_PUT && type != LSM_TYPE_DEL) || !lsm_get_varint(&q, end, &klen) ||
		    !lsm_get_varint(&q, end, &vlen) || klen == 0 || klen > (uint64_t)(end - q) ||
		    vlen > (uint64_t)(end - q) - klen)
			return STRATA_ECORRUPT;
		int rv = lsm_memtable_add(rc->mem, seq + i, type, q, (size_t)klen, q + klen,
					  (size_t)vlen);
		if (rv)
			return rv;
		q += klen + vlen;
	}
	if (n && seq + n - 1 > rc->max_seq)
		rc->max_seq = seq + n - 1;
	return 0;
}

/* Loads the manifest's files into t->current. */
static int load_manifest(struct lsm *t, struct lsm_manifest *m)
{
	struct lsm_edit e = {0};
	int rv = 0;
	for (size_t i = 0; i < m->nfiles && !rv; i++) {
		const struct lsm_manifest_file *mf = &m->files[i];
		struct lsm_file *f;
		if (mf->level >= t->o.max_levels) {
			rv = STRATA_ECORRUPT;
			break;
		}
		rv = lsm_file_open(&f, t->dir, t->cache, !t->o.no_mmap_reads, mf->number, mf->size, mf->entries, mf->smallest,
				   mf->slen, mf->largest, mf->llen);
		if (rv == STRATA_ENOT_FOUND)
			rv = STRATA_ECORRUPT; /* the manifest names a missing table */
		if (rv)
			break;
		rv = lsm_edit_add(&e, f, (int)mf->level);
		if (rv)
			lsm_file_unref(f);
	}
	struct lsm_version *v = NULL;
	if (!rv)
		rv = lsm_version_apply(t->current, &e, &v);
	for (size_t i = 0; i < e.nadd; i++)
		lsm_file_unref(e.add[i]);
	lsm_edit_free(&e);
	if (rv)
		return rv;
	lsm_version_unref(t->current);
	t->current = v;
	return 0;
}

/* Lists WAL numbers >= min in dir (sorted) and the highest number of any
 * numbered file. */
static int list_dir(const char *dir, uint64_t min_log, uint64_t **logs, size_t *nlogs,
		    uint64_t *max_number)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return strata_err_from_errno(errno);
	size_t cap = 0, n = 0;
	uint64_t *v = NULL;
	struct dirent *de;
	int rv = 0;
	*max_number = 0;
	while ((de = readdir(dp))) {
		uint64_t num;
		if (parse_numbered(de->d_name, ".sst", &num) ||
		    parse_numbered(de->d_name, ".sst.tmp", &num)) {
			if (num > *max_number)
				*max_number = num;
			continue;
		}
		if (!parse_numbered(de->d_name, ".log", &num))
			continue;
		if (num > *max_number)
			*max_number = num;
		if (num < min_log)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rv = STRATA_ENOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = num;
	}
	closedir(dp);
	if (rv) {
		free(v);
		return rv;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	*logs = v;
	*nlogs = n;
	return 0;
}

/* Deletes temporary files, tables the current version does not name and
 * WALs below the log number. Runs at open, before any other thread. */
static int delete_orphans(struct lsm *t)
{
	DIR *dp = opendir(t->dir);
	if (!dp)
		return strata_err_from_errno(errno);
	struct dirent *de;
	bool removed = false;
	while ((de = readdir(dp))) {
		uint64_t num;
		bool drop = false;
		size_t nl = strlen(de->d_name);
		if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
			drop = true;
		} else if (parse_numbered(de->d_name, ".sst", &num)) {
			drop = true;
			for (int l = 0; l < LSM_MAX_LEVELS && drop; l++)
				for (size_t i = 0; i < t->current->n[l] && drop; i++)
					drop = t->current->files[l][i]->number != num;
		} else if (parse_numbered(de->d_name, ".log", &num)) {
			drop = num < t->log_number;
		}
		if (drop) {
			char path[4400];
			snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
			if (unlink(path) == 0)
				removed = true;
		}
	}
	closedir(dp);
	return removed ? file_sync_dir(t->dir) : 0;
}

static int lock_dir(const char *dir, struct sfile **out)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	int rv = file_open(out, path, FILE_CREATE, "lock");
	if (rv)
		return rv;
	/* flock is not I/O: the file layer has no call for it */
	if (flock(file_fd(*out), LOCK_EX | LOCK_NB) != 0) {
		rv = errno == EWOULDBLOCK ? STRATA_EBUSY : strata_err_from_errno(errno);
		(void)file_close(*out);
		*out = NULL;
	}
	return rv;
}

/* Replays WALs >= the log number into one memtable and writes it as an L0
 * table; then starts a fresh WAL and records both in the manifest. */
static int recover(struct lsm *t, const struct lsm_manifest *m)
{
	uint64_t *logs = NULL, max_number = 0;
	size_t nlogs = 0;
	struct replay_ctx rc = {.max_seq = m->last_seq};
	struct lsm_file *f = NULL;
	struct lsm_edit e = {0};
	int rv = list_dir(t->dir, m->log_number, &logs, &nlogs, &max_number);
	if (rv)
		return rv;
	if ((rv = lsm_memtable_new(&rc.mem)))
		goto out;
	for (size_t i = 0; i < nlogs; i++) {
		char path[4200];
		uint64_t records;
		bool torn;
		wal_path(path, sizeof(path), t->dir, logs[i]);
		if ((rv = lsm_wal_replay(path, replay_record, &rc, &records, &torn)))
			goto out;
	}
	atomic_store(&t->last_seq, rc.max_seq);
	t->next_file = m->next_file;
	if (t->next_file <= max_number)
		t->next_file = max_number + 1;
	if (t->next_file == 0)
		t->next_file = 1;
	if ((rv = build_table(t, rc.mem, &f)))
		goto out;
	if (f && (rv = lsm_edit_add(&e, f, 0)))
		goto out;
	uint64_t number = t->next_file++;
	char path[4200];
	wal_path(path, sizeof(path), t->dir, number);
	if ((rv = lsm_wal_create(&t->wal, path, t->dir)))
		goto out;
	t->wal_number = number;
	if ((rv = lsm_install(t, &e, number)))
		goto out;
	if (f) {
		lsm_count(&t->st.flushes, 1);
		lsm_count(&t->st.bytes_flushed, f->size);
		stat_add(&core_stats()->lsm.memtable_flushes, 1);
	}
	rv = delete_orphans(t);
out:
	if (rv && f)
		atomic_store(&f->obsolete, true);
	lsm_file_unref(f);
	lsm_edit_free(&e);
	lsm_memtable_unref(rc.mem);
	free(logs);
	return rv;
}

static void tree_free(struct lsm *t)
{
	lsm_memtable_unref(t->mem);
	lsm_wal_unref(t->wal);
	for (size_t i = 0; i < t->nimm; i++) {
		lsm_memtable_unref(t->imm[i].mem);
		lsm_wal_unref(t->imm[i].wal);
	}
	lsm_version_unref(t->current);
	lsm_cache_free(t->cache); /* after the last file: iterators are gone */
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		free(t->compact_ptr[l]);
	if (t->lock_file)
		(void)file_close(t->lock_file); /* releases the flock */
	pthread_mutex_destroy(&t->compact_mu);
	pthread_mutex_destroy(&t->write_mu);
	pthread_mutex_destroy(&t->install_mu);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->bg_cv);
	pthread_cond_destroy(&t->done_cv);
	free(t);
}

int lsm_open(struct lsm **out, const char *dir, const char *name, const struct lsm_options *o)
{
	if (!out || !dir || !name || !*name || strlen(name) > LSM_NAME_MAX ||
	    strlen(dir) + 40 >= sizeof(((struct lsm *)0)->dir))
		return STRATA_EBAD_REQUEST;
	struct lsm *t = calloc(1, sizeof(*t));
	if (!t)
		return STRATA_ENOMEM;
	int rv = options_fill(&t->o, o);
	if (rv) {
		free(t);
		return rv;
	}
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->name, sizeof(t->name), "%s", name);
	pthread_mutex_init(&t->compact_mu, NULL);
	pthread_mutex_init(&t->write_mu, NULL);
	pthread_mutex_init(&t->install_mu, NULL);
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->bg_cv, NULL);
	pthread_cond_init(&t->done_cv, NULL);
	struct lsm_manifest m = {0};
	t->current = lsm_version_new_empty();
	if (t->o.block_cache_bytes != SIZE_MAX)
		t->cache = lsm_cache_new(t->o.block_cache_bytes);
	if (!t->current || (t->o.block_cache_bytes != SIZE_MAX && !t->cache) ||
	    (rv = lsm_memtable_new_ex(&t->mem, mem_filter_bits(t))) != 0) {
		rv = STRATA_ENOMEM;
		goto fail;
	}
	if ((rv = mkdir_p(dir)) || (rv = lock_dir(dir, &t->lock_file)))
		goto fail;
	rv = lsm_manifest_read(dir, &m);
	if (rv == STRATA_ENOT_FOUND) {
		m.next_file = 1;
		rv = 0;
	}
	if (rv)
		goto fail;
	t->log_number = m.log_number;
	pthread_mutex_lock(&t->install_mu);
	if (!(rv = load_manifest(t, &m)))
		rv = recover(t, &m);
	pthread_mutex_unlock(&t->install_mu);
	lsm_manifest_free(&m);
	if (rv)
		goto fail;
	if ((rv = pthread_create(&t->bg, NULL, bg_main, t)) != 0) {
		rv = strata_err_from_errno(rv);
		goto fail;
	}
	t->bg_running = true;
	*out = t;
	return 0;
fail:
	lsm_manifest_free(&m);
	tree_free(t);
	return rv;
}

int lsm_close(struct lsm *t)
{
	if (!t)
		return 0;
	int rv = 0;
	pthread_mutex_lock(&t->mu);
	bool can_flush = !t->bg_error;
	pthread_mutex_unlock(&t->mu);
	if (can_flush)
		rv = lsm_flush(t);
	else if (t->wal)
		(void)lsm_wal_sync(t->wal, 0, NULL);
	pthread_mutex_lock(&t->mu);
	t->stopping = true;
	pthread_cond_broadcast(&t->bg_cv);
	int bg_error = t->bg_error;
	pthread_mutex_unlock(&t->mu);
	if (t->bg_running)
		pthread_join(t->bg, NULL);
	if (!rv)
		rv = bg_error;
	if (!rv && t->o.sync != LSM_SYNC_NONE)
		rv = lsm_wal_sync(t->wal, 0, NULL);
	tree_free(t);
	return rv;
}

int lsm_destroy_dir(const char *dir)
{
	if (!dir)
		return STRATA_EBAD_REQUEST;
	struct sfile *lock;
	struct stat sb;
	if (stat(dir, &sb) != 0)
		return strata_err_from_errno(errno);
	int rv = lock_dir(dir, &lock);
	if (rv)
		return rv;
	DIR *dp = opendir(dir);
	if (!dp) {
		rv = strata_err_from_errno(errno);
		(void)file_close(lock);
		return rv;
	}
	struct dirent *de;
	while ((de = readdir(dp))) {
		uint64_t num;
		const char *n = de->d_name;
		size_t nl = strlen(n);
		if (parse_numbered(n, ".sst", &num) || parse_numbered(n, ".sst.tmp", &num) ||
		    parse_numbered(n, ".log", &num) || strcmp(n, "MANIFEST") == 0 ||
		    strcmp(n, "MANIFEST.tmp") == 0 || strcmp(n, "LOCK") == 0 ||
		    (nl > 4 && strcmp(n + nl - 4, ".tmp") == 0)) {
			char path[4400];
			snprintf(path, sizeof(path), "%s/%s", dir, n);
			if (unlink(path) != 0 && errno != ENOENT && !rv)
				rv = strata_err_from_errno(errno);
		}
	}
	closedir(dp);
	(void)file_close(lock);
	if (!rv && rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST)
		rv = strata_err_from_errno(errno);
	return rv;
}
