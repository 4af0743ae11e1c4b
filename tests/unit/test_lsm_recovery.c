/*
 * tests/unit/test_lsm_recovery.c — crash recovery: kill -9 under
 * LSM_SYNC_COMMIT, torn WAL tails, the manifest's atomicity (orphans,
 * temporary files, failed manifest writes) and I/O faults.
 */
#include "test_lsm_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "core/lsm_wal.h"

TestSuite(lsm_recovery, .init = tdir_setup, .fini = tdir_teardown, .timeout = 120);

static void value_of(uint32_t id, char *v, size_t *vl)
{
	*vl = (size_t)sprintf(v, "v%u-%0*u", id, (int)(id % 50), id);
}

/* Child: writes keys id0, id0+1, ... with COMMIT and reports each acked id. */
static void crash_child(int fd, uint32_t id0)
{
	struct lsm_options o = {.sync = LSM_SYNC_COMMIT, .memtable_bytes = 8 << 10,
				.l0_compaction_trigger = 2, .level_base_bytes = 32 << 10,
				.target_file_bytes = 8 << 10};
	struct lsm *t;
	if (lsm_open(&t, tree, "crash", &o))
		_exit(2);
	for (uint32_t id = id0;; id++) {
		char k[32], v[80];
		size_t vl;
		int kl = sprintf(k, "k%08u", id);
		value_of(id, v, &vl);
		if (lsm_put(t, k, (size_t)kl, v, vl, NULL))
			_exit(3);
		if (write(fd, &id, sizeof(id)) != sizeof(id))
			_exit(4);
	}
}

Test(lsm_recovery, kill9_under_commit_loses_no_acknowledged_write)
{
	uint32_t next = 0;
	uint32_t *acked = calloc(1u << 20, sizeof(*acked));
	size_t nacked = 0;
	srand((unsigned)time(NULL));
	for (int cycle = 0; cycle < 4; cycle++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(p[1], next);
		}
		close(p[1]);
		/* let it run for a random while, then kill -9 */
		usleep(100000 + (useconds_t)(rand() % 200000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status), "child exited by itself: %d", WEXITSTATUS(status));
		uint32_t id;
		size_t before = nacked;
		while (read(p[0], &id, sizeof(id)) == sizeof(id) && nacked < (1u << 20)) {
			acked[nacked++] = id;
			next = id + 1;
		}
		close(p[0]);
		cr_assert_gt(nacked, before, "cycle %d: nothing acknowledged", cycle);

		struct lsm *t;
		struct lsm_options o = {.sync = LSM_SYNC_COMMIT};
		CHECK_OK(lsm_open(&t, tree, "crash", &o));
		for (size_t i = 0; i < nacked; i++) {
			char k[32], v[80];
			size_t vl;
			int kl = sprintf(k, "k%08u", acked[i]);
			value_of(acked[i], v, &vl);
			void *got;
			size_t gl;
			int rc = lsm_get(t, k, (size_t)kl, &got, &gl);
			cr_assert_eq(rc, 0, "cycle %d: acknowledged key %s lost (%s)", cycle, k,
				     strata_strerror(rc));
			cr_assert(gl == vl && memcmp(got, v, vl) == 0, "key %s: wrong value", k);
			free(got);
		}
		struct lsm_stats st;
		lsm_get_stats(t, &st);
		cr_log_info("cycle %d: %zu acknowledged keys verified, %lu files", cycle, nacked,
			    (unsigned long)st.total_files);
		CHECK_OK(lsm_close(t));
		cr_assert_eq(count_files(tree, ".tmp"), 0);
		next += 1000; /* the unacknowledged tail may or may not be there */
	}
	free(acked);
}

/* ---- WAL ------------------------------------------------------------------- */

struct replay_seen {
	int n;
	char last[64];
};

static int replay_cb(void *arg, const uint8_t *p, size_t len)
{
	struct replay_seen *s = arg;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, (const char *)p);
	return 0;
}

static uint64_t wal_write_records(const char *path, int n, uint64_t *ends)
{
	struct lsm_wal *w;
	CHECK_OK(lsm_wal_create(&w, path, tdir));
	uint64_t end = 0;
	for (int i = 0; i < n; i++) {
		uint8_t rec[LSM_WAL_HDR + 64];
		int len = sprintf((char *)rec + LSM_WAL_HDR, "record number %d", i);
		CHECK_OK(lsm_wal_append(w, rec, LSM_WAL_HDR + (size_t)len, &end));
		ends[i] = end;
	}
	CHECK_OK(lsm_wal_sync(w, 0, NULL));
	lsm_wal_unref(w);
	return end;
}

Test(lsm_recovery, wal_torn_tail_is_cut)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/0000000000000001.log", tdir);
	uint64_t ends[10];
	wal_write_records(path, 10, ends);
	/* a crash in the middle of the last record's write */
	cr_assert_eq(truncate(path, (off_t)ends[9] - 5), 0);
	struct replay_seen s = {0};
	uint64_t records;
	bool torn;
	CHECK_OK(lsm_wal_replay(path, replay_cb, &s, &records, &torn));
	cr_assert_eq(records, 9);
	cr_assert(torn);
	cr_assert_str_eq(s.last, "record number 8");
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq((uint64_t)sb.st_size, ends[8], "torn tail not truncated");
	/* replaying again: clean */
	memset(&s, 0, sizeof(s));
	CHECK_OK(lsm_wal_replay(path, replay_cb, &s, &records, &torn));
	cr_assert_eq(records, 9);
	cr_assert(!torn);
}

Test(lsm_recovery, wal_bad_crc_ends_the_log)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/0000000000000001.log", tdir);
	uint64_t ends[10];
	wal_write_records(path, 10, ends);
	int fd = open(path, O_RDWR);
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, (off_t)ends[4] + 12), 1);
	c ^= 1;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)ends[4] + 12), 1);
	close(fd);
	struct replay_seen s = {0};
	uint64_t records;
	bool torn;
	CHECK_OK(lsm_wal_replay(path, replay_cb, &s, &records, &torn));
	cr_assert_eq(records, 5);
	cr_assert(torn);
}

Test(lsm_recovery, tree_replays_wal_and_ignores_garbage_tail)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct lsm *t;
		if (lsm_open(&t, tree, "w", NULL))
			_exit(2);
		for (int i = 0; i < 500; i++) {
			char k[16];
			int kl = sprintf(k, "key%04d", i);
			if (lsm_put(t, k, (size_t)kl, k, (size_t)kl, NULL))
				_exit(3);
		}
		_exit(0); /* no close: the memtable exists only in the WAL */
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char wal[600];
	cr_assert(first_file(tree, ".log", wal, sizeof(wal), true));
	int fd = open(wal, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "\x13\x37garbage-of-a-torn-write", 25), 25);
	close(fd);
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "w", NULL));
	for (int i = 0; i < 500; i++) {
		char k[16];
		int kl = sprintf(k, "key%04d", i);
		void *v;
		size_t vl;
		CHECK_OK(lsm_get(t, k, (size_t)kl, &v, &vl));
		cr_assert(vl == (size_t)kl && memcmp(v, k, vl) == 0);
		free(v);
	}
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_eq(st.level[0].files, 1, "the replayed WAL becomes one L0 table");
	CHECK_OK(lsm_close(t));
}

/* ---- manifest ---------------------------------------------------------------- */

static void fill(struct lsm *t, int from, int to, const char *tag)
{
	for (int i = from; i < to; i++) {
		char k[16], v[32];
		int kl = sprintf(k, "key%05d", i);
		int vl = sprintf(v, "%s-%d", tag, i);
		CHECK_OK(lsm_put(t, k, (size_t)kl, v, (size_t)vl, NULL));
	}
}

static void verify(struct lsm *t, int from, int to, const char *tag)
{
	for (int i = from; i < to; i++) {
		char k[16], v[32];
		int kl = sprintf(k, "key%05d", i);
		int vl = sprintf(v, "%s-%d", tag, i);
		void *got;
		size_t gl;
		int rc = lsm_get(t, k, (size_t)kl, &got, &gl);
		cr_assert_eq(rc, 0, "%s: %s", k, strata_strerror(rc));
		cr_assert(gl == (size_t)vl && memcmp(got, v, gl) == 0, "%s: wrong value", k);
		free(got);
	}
}

static void write_junk(const char *name)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", tree, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "half-written junk", 17), 17);
	close(fd);
}

Test(lsm_recovery, orphans_and_temp_files_are_ignored_and_deleted)
{
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	fill(t, 0, 1000, "a");
	CHECK_OK(lsm_close(t));
	/* what a crash can leave: a table being written, a table renamed but
	 * never named by a manifest, a manifest being written */
	write_junk("00000000000000f0.sst.tmp");
	write_junk("00000000000000f1.sst");
	write_junk("MANIFEST.tmp");
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	verify(t, 0, 1000, "a");
	cr_assert_eq(count_files(tree, ".tmp"), 0);
	char p[600];
	snprintf(p, sizeof(p), "%s/00000000000000f1.sst", tree);
	cr_assert_neq(access(p, F_OK), 0, "orphan table not deleted");
	fill(t, 1000, 1100, "b"); /* file numbers move past the orphans' */
	CHECK_OK(lsm_close(t));
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	verify(t, 0, 1000, "a");
	verify(t, 1000, 1100, "b");
	CHECK_OK(lsm_close(t));
}

Test(lsm_recovery, corrupt_manifest_refuses_to_open)
{
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	fill(t, 0, 100, "a");
	CHECK_OK(lsm_close(t));
	char p[600];
	snprintf(p, sizeof(p), "%s/MANIFEST", tree);
	int fd = open(p, O_RDWR);
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, 20), 1);
	c ^= 0xff;
	cr_assert_eq(pwrite(fd, &c, 1, 20), 1);
	close(fd);
	cr_assert_eq(lsm_open(&t, tree, "m", NULL), STRATA_ECORRUPT);
}

Test(lsm_recovery, missing_live_table_refuses_to_open)
{
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	fill(t, 0, 100, "a");
	CHECK_OK(lsm_close(t));
	char sst[600];
	cr_assert(first_file(tree, ".sst", sst, sizeof(sst), false));
	cr_assert_eq(unlink(sst), 0);
	cr_assert_eq(lsm_open(&t, tree, "m", NULL), STRATA_ECORRUPT);
}

Test(lsm_recovery, failed_manifest_write_keeps_old_state_and_wal)
{
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	fill(t, 0, 500, "a");
	CHECK_OK(lsm_flush(t));
	fill(t, 500, 1000, "b");
	/* the next manifest's fsync fails: the flush cannot be installed */
	struct file_fault f = {.ops = FILE_OP_SYNC, .path_contains = "MANIFEST.tmp",
			       .kind = FILE_FAULT_ERROR, .errnum = EIO};
	CHECK_OK(file_fault_inject(&f));
	int rc = lsm_flush(t);
	cr_assert_neq(rc, 0, "flush succeeded despite the fault");
	cr_assert_geq(file_fault_fired(), 1);
	file_fault_clear();
	cr_assert_neq(lsm_put(t, "x", 1, "y", 1, NULL), 0, "writes go on after a failed flush");
	verify(t, 0, 500, "a"); /* reads still work */
	verify(t, 500, 1000, "b");
	(void)lsm_close(t);
	cr_assert_eq(count_files(tree, ".tmp"), 0, "failed manifest.tmp left behind");
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	verify(t, 0, 500, "a");
	verify(t, 500, 1000, "b");
	CHECK_OK(lsm_close(t));
}

Test(lsm_recovery, failed_sstable_fsync_loses_nothing)
{
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	fill(t, 0, 800, "a");
	struct file_fault f = {.ops = FILE_OP_SYNC, .path_contains = ".sst.tmp",
			       .kind = FILE_FAULT_ERROR, .errnum = EIO};
	CHECK_OK(file_fault_inject(&f));
	cr_assert_neq(lsm_flush(t), 0);
	file_fault_clear();
	(void)lsm_close(t);
	cr_assert_eq(count_files(tree, ".sst.tmp"), 0);
	CHECK_OK(lsm_open(&t, tree, "m", NULL));
	verify(t, 0, 800, "a");
	CHECK_OK(lsm_close(t));
}
