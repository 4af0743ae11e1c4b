#include "daemon/trees.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/tablespace/objdir.h"
#include "strata/error.h"

#define MAX_TREES 1024

struct tree {
	char name[LSM_NAME_MAX + 1];
	struct lsm *lsm;
	json_t *options; /* as given (normalised) */
};

struct trees {
	char dir[4200];          /* DATA/lsm */
	pthread_rwlock_t lock;   /* read: an op on a tree; write: create/drop */
	struct tree *v;
	size_t n;
};

bool trees_name_ok(const char *name, char *msg, size_t msglen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > LSM_NAME_MAX) {
		snprintf(msg, msglen, "field 'name' must be 1..%d characters", LSM_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-')) {
			snprintf(msg, msglen, "field 'name' may only contain letters, digits, '_' and '-'");
			return false;
		}
	}
	return true;
}

static int get_uint(const json_t *o, const char *k, uint64_t min, uint64_t max, uint64_t *out,
		    char *msg, size_t msglen)
{
	json_t *v = json_object_get(o, k);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(msg, msglen, "option '%s' must be an integer in %llu..%llu", k,
			 (unsigned long long)min, (unsigned long long)max);
		return STRATA_EBAD_REQUEST;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* JSON options -> engine options; unknown keys are an error (typos). */
static int parse_options(const json_t *j, struct lsm_options *o, json_t **norm, char *msg,
			 size_t msglen)
{
	static const char *known[] = {"sync", "memtable_bytes", "compression", "bloom_bits_per_key",
				      "level_base_bytes", "level_ratio", "l0_compaction_trigger",
				      "target_file_bytes", "wa_alert_threshold", "sync_interval_ms",
				      "tablespace_id", "mmap_reads", NULL};
	memset(o, 0, sizeof(*o));
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)j, k, v) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(k, known[i]) == 0;
		if (!ok) {
			snprintf(msg, msglen, "unknown option '%.60s'", k);
			return STRATA_EBAD_REQUEST;
		}
	}
	const char *sync = json_string_value(json_object_get(j, "sync"));
	if (json_object_get(j, "sync") && !sync) {
		snprintf(msg, msglen, "option 'sync' must be \"none\", \"commit\" or \"interval\"");
		return STRATA_EBAD_REQUEST;
	}
	if (!sync || strcasecmp(sync, "none") == 0)
		o->sync = LSM_SYNC_NONE;
	else if (strcasecmp(sync, "commit") == 0)
		o->sync = LSM_SYNC_COMMIT;
	else if (strcasecmp(sync, "interval") == 0)
		o->sync = LSM_SYNC_INTERVAL;
	else {
		snprintf(msg, msglen, "option 'sync' must be \"none\", \"commit\" or \"interval\"");
		return STRATA_EBAD_REQUEST;
	}
	uint64_t mem = 4u << 20, bloom = 10, base = 16u << 20, ratio = 10, l0 = 4,
		 target = 2u << 20, interval = 100;
	int rv;
	if ((rv = get_uint(j, "memtable_bytes", 4096, 1ull << 30, &mem, msg, msglen)) ||
	    (rv = get_uint(j, "bloom_bits_per_key", 0, 32, &bloom, msg, msglen)) ||
	    (rv = get_uint(j, "level_base_bytes", 65536, 1ull << 40, &base, msg, msglen)) ||
	    (rv = get_uint(j, "level_ratio", 2, 100, &ratio, msg, msglen)) ||
	    (rv = get_uint(j, "l0_compaction_trigger", 1, 64, &l0, msg, msglen)) ||
	    (rv = get_uint(j, "target_file_bytes", 16384, 1ull << 32, &target, msg, msglen)) ||
	    (rv = get_uint(j, "sync_interval_ms", 1, 60000, &interval, msg, msglen)))
		return rv;
	uint64_t tsid = 0;
	if ((rv = get_uint(j, "tablespace_id", 0, 1ull << 62, &tsid, msg, msglen)))
		return rv;
	json_t *comp = json_object_get(j, "compression");
	if (comp && !json_is_boolean(comp)) {
		snprintf(msg, msglen, "option 'compression' must be true or false");
		return STRATA_EBAD_REQUEST;
	}
	json_t *mm = json_object_get(j, "mmap_reads");
	if (mm && !json_is_boolean(mm)) {
		snprintf(msg, msglen, "option 'mmap_reads' must be true or false");
		return STRATA_EBAD_REQUEST;
	}
	json_t *wa = json_object_get(j, "wa_alert_threshold");
	if (wa && (!json_is_number(wa) || json_number_value(wa) < 0)) {
		snprintf(msg, msglen, "option 'wa_alert_threshold' must be a number >= 0");
		return STRATA_EBAD_REQUEST;
	}
	o->memtable_bytes = mem;
	o->bloom_bits_per_key = (unsigned)bloom;
	o->level_base_bytes = base;
	o->level_ratio = (unsigned)ratio;
	o->l0_compaction_trigger = (unsigned)l0;
	if (o->l0_compaction_trigger * 2 > 8)
		o->l0_slowdown_files = o->l0_compaction_trigger * 2;
	if (o->l0_compaction_trigger * 3 > 12)
		o->l0_stop_files = o->l0_compaction_trigger * 3;
	o->target_file_bytes = target;
	o->sync_interval_ms = (unsigned)interval;
	o->no_compression = comp && !json_is_true(comp);
	o->wa_alert_threshold = wa ? json_number_value(wa) : 0;
	o->no_mmap_reads = mm && !json_is_true(mm);
	static const char *sync_names[] = {"none", "commit", "interval"};
	*norm = json_pack("{s:s, s:I, s:b, s:i, s:I, s:i, s:i, s:I, s:i, s:f}",
			  "sync", sync_names[o->sync], "memtable_bytes", (json_int_t)mem,
			  "compression", !o->no_compression, "bloom_bits_per_key", (int)bloom,
			  "level_base_bytes", (json_int_t)base, "level_ratio", (int)ratio,
			  "l0_compaction_trigger", (int)l0, "target_file_bytes", (json_int_t)target,
			  "sync_interval_ms", (int)interval, "wa_alert_threshold",
			  o->wa_alert_threshold);
	if (*norm && tsid)
		json_object_set_new(*norm, "tablespace_id", json_integer((json_int_t)tsid));
	if (*norm)
		json_object_set_new(*norm, "mmap_reads", json_boolean(!o->no_mmap_reads));
	return *norm ? 0 : STRATA_ENOMEM;
}

static struct tree *find(struct trees *ts, const char *name)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(ts->v[i].name, name) == 0)
			return &ts->v[i];
	return NULL;
}

/* Opens DIR/lsm/NAME with options (normalised JSON taken over). */
static int open_tree(struct trees *ts, const char *name, const struct lsm_options *o,
		     json_t *norm, char *msg, size_t msglen)
{
	if (ts->n >= MAX_TREES) {
		snprintf(msg, msglen, "at most %d trees", MAX_TREES);
		json_decref(norm);
		return STRATA_ECONFLICT;
	}
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", ts->dir, name);
	struct lsm *t;
	int rv = lsm_open(&t, path, name, o);
	if (rv) {
		snprintf(msg, msglen, "cannot open tree '%s': %s", name, strata_strerror(rv));
		json_decref(norm);
		return rv;
	}
	struct tree *nv = realloc(ts->v, (ts->n + 1) * sizeof(*nv));
	if (!nv) {
		lsm_close(t);
		json_decref(norm);
		return STRATA_ENOMEM;
	}
	ts->v = nv;
	struct tree *tr = &ts->v[ts->n++];
	snprintf(tr->name, sizeof(tr->name), "%s", name);
	tr->lsm = t;
	tr->options = norm;
	return 0;
}

/* Writes OPTIONS.json in dir durably (fsync the file, then the dir). */
static int write_options(const char *dir, const json_t *opts)
{
	char path[4600];
	snprintf(path, sizeof(path), "%s/OPTIONS.json", dir);
	char *text = json_dumps(opts, JSON_INDENT(2));
	if (!text)
		return STRATA_ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	int rv = 0;
	size_t n = strlen(text);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0)
		rv = strata_err_from_errno(errno);
	if (fd >= 0 && close(fd) != 0 && !rv)
		rv = strata_err_from_errno(errno);
	free(text);
	int dfd = rv ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rv && (dfd < 0 || fsync(dfd) != 0))
		rv = strata_err_from_errno(errno);
	if (dfd >= 0)
		close(dfd);
	return rv;
}

int trees_open(struct trees **out, const char *data_dir, char *err, size_t errlen)
{
	struct trees *ts = calloc(1, sizeof(*ts));
	if (!ts)
		return STRATA_ENOMEM;
	snprintf(ts->dir, sizeof(ts->dir), "%s/lsm", data_dir);
	pthread_rwlock_init(&ts->lock, NULL);
	if (mkdir(ts->dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", ts->dir, strerror(errno));
		trees_close(ts);
		return STRATA_EIO;
	}
	/* Creates and drops a crash interrupted (also through links into
	 * tablespaces): finished. */
	int rrv = objdir_recover(ts->dir);
	if (rrv)
		fprintf(stderr, "stratad: cleaning %s: %s\n", ts->dir, strata_strerror(rrv));
	DIR *dp = opendir(ts->dir);
	if (!dp) {
		snprintf(err, errlen, "cannot read %s: %s", ts->dir, strerror(errno));
		trees_close(ts);
		return STRATA_EIO;
	}
	struct dirent *de;
	int rv = 0;
	while ((de = readdir(dp))) {
		char msg[256];
		if (de->d_name[0] == '.' || !trees_name_ok(de->d_name, msg, sizeof(msg)))
			continue;
		char path[4600];
		snprintf(path, sizeof(path), "%s/%s/OPTIONS.json", ts->dir, de->d_name);
		if (access(path, F_OK) != 0) {
			/* Not a tree (nothing we write looks like this): moved
			 * aside, kept for inspection, so its name is free. */
			char from[4600], to[4700];
			snprintf(from, sizeof(from), "%s/%s", ts->dir, de->d_name);
			snprintf(to, sizeof(to), "%s/.orphan-%s-%lld", ts->dir, de->d_name, (long long)time(NULL));
			fprintf(stderr, "stratad: %s has no OPTIONS.json: not a tree, moved to %s\n", from, to);
			if (rename(from, to) != 0)
				fprintf(stderr, "stratad: cannot move %s: %s\n", from, strerror(errno));
			continue;
		}
		json_error_t je;
		json_t *j = json_load_file(path, 0, &je);
		if (!j) {
			snprintf(err, errlen, "tree '%s': cannot read %s: %s", de->d_name, path, je.text);
			rv = STRATA_ECORRUPT;
			break;
		}
		struct lsm_options o;
		json_t *norm = NULL;
		rv = parse_options(j, &o, &norm, msg, sizeof(msg));
		json_decref(j);
		if (rv == 0)
			rv = open_tree(ts, de->d_name, &o, norm, msg, sizeof(msg));
		if (rv) {
			snprintf(err, errlen, "tree '%s': %s", de->d_name, msg);
			break;
		}
	}
	closedir(dp);
	if (rv) {
		trees_close(ts);
		return rv;
	}
	*out = ts;
	return 0;
}

int trees_close(struct trees *ts)
{
	if (!ts)
		return 0;
	int rv = 0;
	for (size_t i = 0; i < ts->n; i++) {
		int r = lsm_close(ts->v[i].lsm);
		if (r && !rv)
			rv = r;
		json_decref(ts->v[i].options);
	}
	free(ts->v);
	pthread_rwlock_destroy(&ts->lock);
	free(ts);
	return rv;
}

struct init_arg {
	const json_t *opts;
};

static int init_tree_dir(void *arg, const char *dir, char *msg, size_t msglen)
{
	int rv = write_options(dir, ((struct init_arg *)arg)->opts);
	if (rv)
		snprintf(msg, msglen, "cannot write %s/OPTIONS.json: %s", dir, strata_strerror(rv));
	return rv;
}

int trees_create(struct trees *ts, const char *name, const json_t *opts, const char *kind_dir,
		 uint64_t tablespace_id, json_t **info, char *msg, size_t msglen)
{
	if (!trees_name_ok(name, msg, msglen))
		return STRATA_EBAD_REQUEST;
	struct lsm_options o;
	json_t *norm = NULL;
	json_t *all = json_deep_copy(opts);
	if (!all)
		return STRATA_ENOMEM;
	if (tablespace_id)
		json_object_set_new(all, "tablespace_id", json_integer((json_int_t)tablespace_id));
	else
		json_object_del(all, "tablespace_id");
	int rv = parse_options(all, &o, &norm, msg, msglen);
	json_decref(all);
	if (rv)
		return rv;
	pthread_rwlock_wrlock(&ts->lock);
	if (find(ts, name)) {
		pthread_rwlock_unlock(&ts->lock);
		json_decref(norm);
		snprintf(msg, msglen, "tree '%s' exists already", name);
		return STRATA_ECONFLICT;
	}
	/* Built aside (or in the tablespace, behind a .creating- link), then
	 * renamed into place: a crash leaves either no tree or a whole one
	 * (see core/tablespace/objdir.h; trees_open finishes the rest). */
	struct init_arg a = {norm};
	rv = objdir_create(ts->dir, name, kind_dir, init_tree_dir, &a, msg, msglen);
	if (rv) {
		pthread_rwlock_unlock(&ts->lock);
		json_decref(norm);
		return rv;
	}
	json_incref(norm);
	rv = open_tree(ts, name, &o, norm, msg, msglen);
	if (rv == 0)
		*info = json_pack("{s:s, s:O}", "name", name, "options", norm);
	else
		(void)objdir_remove(ts->dir, name);
	json_decref(norm);
	pthread_rwlock_unlock(&ts->lock);
	if (rv == 0 && !*info)
		return STRATA_ENOMEM;
	return rv;
}

int trees_drop(struct trees *ts, const char *name)
{
	pthread_rwlock_wrlock(&ts->lock);
	struct tree *tr = find(ts, name);
	if (!tr) {
		pthread_rwlock_unlock(&ts->lock);
		return STRATA_ENOT_FOUND;
	}
	int rv = lsm_close(tr->lsm);
	json_decref(tr->options);
	*tr = ts->v[--ts->n];
	/* Renamed away first: a crash mid-delete leaves no half tree that
	 * would reopen at the next start (trees_open removes .dropped-*),
	 * and a tree in a tablespace goes with its link. */
	int r = objdir_remove(ts->dir, name);
	pthread_rwlock_unlock(&ts->lock);
	return rv ? rv : r;
}

uint64_t trees_tablespace_id(struct trees *ts, const char *name)
{
	struct tree *tr = find(ts, name);
	json_t *v = tr ? json_object_get(tr->options, "tablespace_id") : NULL;
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

int trees_acquire(struct trees *ts, const char *name, struct lsm **t)
{
	pthread_rwlock_rdlock(&ts->lock);
	struct tree *tr = find(ts, name);
	if (!tr) {
		pthread_rwlock_unlock(&ts->lock);
		return STRATA_ENOT_FOUND;
	}
	*t = tr->lsm;
	return 0;
}

void trees_release(struct trees *ts)
{
	pthread_rwlock_unlock(&ts->lock);
}

json_t *trees_options_json(struct trees *ts, const char *name)
{
	struct tree *tr = find(ts, name);
	return tr ? json_incref(tr->options) : NULL;
}

json_t *lsm_stats_json(struct lsm *t)
{
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	json_t *levels = json_array();
	for (unsigned i = 0; levels && i < st.levels && i < LSM_MAX_LEVELS; i++)
		json_array_append_new(levels, json_pack("{s:i, s:I, s:I}", "level", (int)i, "files",
							(json_int_t)st.level[i].files, "bytes",
							(json_int_t)st.level[i].bytes));
	json_t *j = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"puts", (json_int_t)st.puts, "deletes", (json_int_t)st.deletes,
		"batches", (json_int_t)st.batches, "gets", (json_int_t)st.gets,
		"scans", (json_int_t)st.scans, "memtable_hits", (json_int_t)st.memtable_hits,
		"sstable_hits", (json_int_t)st.sstable_hits,
		"bloom", "checks", (json_int_t)st.bloom_checks, "useful", (json_int_t)st.bloom_useful,
		"false_positives", (json_int_t)st.bloom_false_positives,
		"memtable_flushes", (json_int_t)st.memtable_flushes,
		"compactions", (json_int_t)st.compactions, "trivial_moves", (json_int_t)st.trivial_moves,
		"bytes_flushed", (json_int_t)st.bytes_flushed,
		"bytes_compacted", (json_int_t)st.bytes_compacted,
		"user_bytes", (json_int_t)st.user_bytes, "wal_bytes", (json_int_t)st.wal_bytes,
		"wal_syncs", (json_int_t)st.wal_syncs, "group_commits", (json_int_t)st.group_commits,
		"write_amplification", st.write_amplification,
		"write_stalls", (json_int_t)st.write_stalls, "stall_us", (json_int_t)st.stall_us,
		"memtable_bytes", (json_int_t)st.memtable_bytes, "immutables", (json_int_t)st.immutables,
		"corruptions", (json_int_t)st.corruptions, "total_files", (json_int_t)st.total_files,
		"total_bytes", (json_int_t)st.total_bytes);
	if (j)
		json_object_set_new(j, "levels", levels);
	else
		json_decref(levels);
	return j;
}

json_t *trees_list(struct trees *ts)
{
	json_t *arr = json_array();
	pthread_rwlock_rdlock(&ts->lock);
	for (size_t i = 0; arr && i < ts->n; i++) {
		struct lsm_stats st;
		lsm_get_stats(ts->v[i].lsm, &st);
		json_array_append_new(arr, json_pack("{s:s, s:O, s:I, s:I, s:f}", "name", ts->v[i].name,
						     "options", ts->v[i].options, "total_files",
						     (json_int_t)st.total_files, "total_bytes",
						     (json_int_t)st.total_bytes, "write_amplification",
						     st.write_amplification));
	}
	pthread_rwlock_unlock(&ts->lock);
	return arr;
}
