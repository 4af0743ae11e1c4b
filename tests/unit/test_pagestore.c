/*
 * tests/unit/test_pagestore.c — core/pagestore (records on pages, durable:
 * disk manager + redo log + buffer pool, and recovery).
 *
 * Each test runs in its own process (criterion) with its own directory
 * under /var/tmp. Every ps_open gets a fresh shared-memory segment (as a
 * restarted stratad would). Crashes are real: a forked child opens the
 * store, works, and dies by SIGKILL or _exit() without ps_close; the parent
 * then reopens the directory and checks what recovery gives back. The child
 * reports each acknowledged change through a pipe, so the parent knows
 * exactly what was promised durable.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buffer.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "core/pagestore.h"
#include "core/stats.h"
#include "core/wal.h"
#include "shm/segment.h"
#include "strata/error.h"

#define PS 4096u
#define FRAMES 64u

static char dir[256];
static struct shm_segments seg;
static bool seg_made;
static unsigned shm_seq;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/strata-test-ps-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "build/strata-test-ps-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	emit_set_enabled(false);
	emit_set_sample_every(0);
	emit_set_rare_limit(0);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void seg_drop(void)
{
	core_stats_attach(NULL);
	if (seg_made)
		shm_destroy(&seg);
	seg_made = false;
}

static void teardown(void)
{
	file_fault_clear();
	seg_drop();
	emit_shutdown();
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(pagestore, .init = setup, .fini = teardown, .timeout = 120);

/* ---- opening and closing ----------------------------------------------------------------- */

static void shm_name(char *buf, size_t len, const char *who)
{
	snprintf(buf, len, "/tmp/st-ut-ps-%s-%d-%u", who, (int)getpid(), shm_seq++);
}

/* Segments for one open; returns the pool memory. No criterion asserts
 * (the crash children use it). */
static int seg_make(struct shm_segments *s, const char *name, uint64_t frames,
		    struct bp_memory *mem)
{
	char err[256];
	int rc = shm_create(s, name, PS, frames, 1, err, sizeof(err));
	if (rc)
		return rc;
	/* Unlinked at once: the mapping stays, and a process that dies (a
	 * crash child, a test killed by a timeout) leaves nothing behind. */
	(void)shm_unlink(s->data_name);
	(void)shm_unlink(s->stats_name);
	core_stats_attach(s->stats);
	*mem = (struct bp_memory){.descs = s->descs,
				  .table = s->table,
				  .buckets = s->data_hdr->table_buckets,
				  .frames = s->frames,
				  .nframes = frames,
				  .page_size = PS};
	return 0;
}

static struct pagestore *ps_start_frames(struct ps_recovery *rec, uint64_t frames)
{
	char name[128], err[256] = "";
	struct bp_memory mem;
	shm_name(name, sizeof(name), "p");
	int rc = seg_make(&seg, name, frames, &mem);
	cr_assert_eq(rc, 0, "shm_create: %s", strata_strerror(rc));
	seg_made = true;
	struct pagestore *ps = NULL;
	struct ps_config cfg = {.lru_k = 2};
	rc = ps_open(&ps, dir, &mem, &cfg, rec, err, sizeof(err));
	cr_assert_eq(rc, 0, "ps_open: %s (%s)", strata_strerror(rc), err);
	return ps;
}

static struct pagestore *ps_start(struct ps_recovery *rec)
{
	return ps_start_frames(rec, FRAMES);
}

static void ps_stop(struct pagestore *ps)
{
	int rc = ps_close(ps);
	cr_assert_eq(rc, 0, "ps_close: %s", strata_strerror(rc));
	seg_drop();
}

/* ---- records ------------------------------------------------------------------------------ */

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 777u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

struct rec_ref {
	uint64_t page;
	uint16_t slot;
	unsigned seed;
	uint32_t len;
};

static uint64_t alloc_page(struct pagestore *ps)
{
	uint64_t id = 0;
	int rc = ps_page_alloc(ps, true, &id);
	cr_assert_eq(rc, 0, "ps_page_alloc: %s", strata_strerror(rc));
	return id;
}

static struct rec_ref insert(struct pagestore *ps, uint64_t page, unsigned seed, size_t len)
{
	uint8_t buf[PS];
	fill(buf, len, seed);
	struct rec_ref r = {.page = page, .seed = seed, .len = (uint32_t)len};
	int rc = ps_record_insert(ps, page, buf, len, true, &r.slot);
	cr_assert_eq(rc, 0, "insert into %lu: %s", (unsigned long)page, strata_strerror(rc));
	return r;
}

/* Whether the record is there with its bytes; rc receives the get's result. */
static bool has_record(struct pagestore *ps, const struct rec_ref *r, int *rc_out)
{
	uint8_t got[PS], want[PS];
	size_t len = 0;
	int rc = ps_record_get(ps, r->page, r->slot, got, sizeof(got), &len);
	if (rc_out)
		*rc_out = rc;
	if (rc != 0 || len != r->len)
		return false;
	fill(want, len, r->seed);
	return memcmp(got, want, len) == 0;
}

static void expect_records(struct pagestore *ps, const struct rec_ref *refs, size_t n,
			   const char *when)
{
	for (size_t i = 0; i < n; i++) {
		int rc = 0;
		cr_assert(has_record(ps, &refs[i], &rc), "%s: record %zu (page %lu slot %u): %s", when,
			  i, (unsigned long)refs[i].page, refs[i].slot, rc ? strata_strerror(rc) : "bytes differ");
	}
}

static char *data_path(void)
{
	static char p[300];
	snprintf(p, sizeof(p), "%s/data.db", dir);
	return p;
}

static void raw_page(uint64_t id, void *buf)
{
	int fd = open(data_path(), O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, PS, (off_t)(id * PS)), (ssize_t)PS);
	cr_assert_eq(close(fd), 0);
}

static void raw_write(uint64_t off, const void *buf, size_t len)
{
	int fd = open(data_path(), O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	cr_assert_eq(fsync(fd), 0);
	cr_assert_eq(close(fd), 0);
}

/* ---- basics ------------------------------------------------------------------------------- */

Test(pagestore, open_on_an_empty_dir)
{
	struct ps_recovery rec;
	memset(&rec, 0xff, sizeof(rec));
	struct pagestore *ps = ps_start(&rec);
	cr_assert_eq(rec.records_replayed, 0);
	cr_assert_eq(rec.pages_corrupt, 0);
	cr_assert_eq(ps_page_size(ps), PS);
	cr_assert_eq(disk_num_pages(ps_disk(ps)), 1, "only the header page");
	cr_assert_not_null(ps_pool(ps));
	cr_assert_not_null(ps_wal(ps));
	struct stat st;
	cr_assert_eq(stat(data_path(), &st), 0, "data.db created");
	char p[300];
	snprintf(p, sizeof(p), "%s/wal", dir);
	cr_assert_eq(stat(p, &st), 0, "wal/ created");
	cr_assert(S_ISDIR(st.st_mode));
	uint8_t buf[16];
	size_t len;
	cr_assert_eq(ps_record_get(ps, 1, 0, buf, sizeof(buf), &len), STRATA_ENOT_FOUND);
	ps_stop(ps);
}

Test(pagestore, other_page_size_is_refused_with_a_hint)
{
	struct pagestore *ps = ps_start(NULL);
	(void)alloc_page(ps);
	ps_stop(ps);

	char name[128], err[256] = "";
	struct bp_memory mem;
	struct shm_segments s2;
	shm_name(name, sizeof(name), "big");
	char e2[256];
	cr_assert_eq(shm_create(&s2, name, 8192, 16, 1, e2, sizeof(e2)), 0, "%s", e2);
	mem = (struct bp_memory){.descs = s2.descs,
				 .table = s2.table,
				 .buckets = s2.data_hdr->table_buckets,
				 .frames = s2.frames,
				 .nframes = 16,
				 .page_size = 8192};
	int rc = ps_open(&ps, dir, &mem, NULL, NULL, err, sizeof(err));
	shm_destroy(&s2);
	cr_assert_eq(rc, STRATA_EBAD_REQUEST, "got %s", strata_strerror(rc));
	cr_assert(strstr(err, "4096"), "the message names the file's page size: %s", err);
}

Test(pagestore, records_survive_close_and_reopen)
{
	struct pagestore *ps = ps_start(NULL);
	enum { N = 60 };
	static struct rec_ref refs[N];
	uint64_t pages[3];
	for (int i = 0; i < 3; i++)
		pages[i] = alloc_page(ps);
	for (unsigned i = 0; i < N; i++)
		refs[i] = insert(ps, pages[i % 3], i, 20 + (i * 53) % 180);
	/* An empty record and a large one too. */
	static struct rec_ref extra[2];
	extra[0] = insert(ps, pages[0], 5000, 0);
	uint64_t big = alloc_page(ps);
	extra[1] = insert(ps, big, 5001, page_max_record(PS));
	expect_records(ps, refs, N, "before close");
	ps_stop(ps);

	struct ps_recovery rec;
	ps = ps_start(&rec);
	cr_assert_eq(rec.records_replayed, 0, "a clean close leaves nothing to replay");
	expect_records(ps, refs, N, "after reopen");
	expect_records(ps, extra, 2, "after reopen");
	struct ps_page_info info;
	cr_assert_eq(ps_page_info(ps, pages[1], &info), 0);
	cr_assert_eq(info.live_records, N / 3);
	cr_assert_eq(info.disk_checksum, 1);
	ps_stop(ps);
}

Test(pagestore, update_and_delete_survive_reopen)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t p = alloc_page(ps);
	struct rec_ref a = insert(ps, p, 1, 100);
	struct rec_ref b = insert(ps, p, 2, 100);
	uint8_t buf[300];
	fill(buf, 300, 3);
	cr_assert_eq(ps_record_update(ps, p, a.slot, buf, 300, true), 0);
	a.seed = 3;
	a.len = 300;
	cr_assert_eq(ps_record_delete(ps, p, b.slot, true), 0);
	ps_stop(ps);

	ps = ps_start(NULL);
	expect_records(ps, &a, 1, "updated");
	int rc = 0;
	cr_assert_not(has_record(ps, &b, &rc));
	cr_assert_eq(rc, STRATA_ENOT_FOUND, "deleted: %s", strata_strerror(rc));
	ps_stop(ps);
}

Test(pagestore, checkpoint_trims_the_log)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t p = alloc_page(ps);
	for (unsigned i = 0; i < 10; i++)
		(void)insert(ps, p, i, 100);
	struct wal_stats ws;
	wal_get_stats(ps_wal(ps), &ws);
	cr_assert_geq(ws.log_bytes, 11u * (24 + PS), "eleven images logged");
	cr_assert_eq(ps_checkpoint(ps), 0);
	wal_get_stats(ps_wal(ps), &ws);
	cr_assert_eq(ws.segments, 1);
	cr_assert_lt(ws.log_bytes, 24 + PS, "only an empty segment is left");
	struct bp_stats bs;
	bp_get_stats(ps_pool(ps), &bs);
	cr_assert_eq(bs.dirty, 0);
	ps_stop(ps);
}

/* ---- crash and recovery ------------------------------------------------------------------ */

struct ack {
	uint64_t page;
	uint32_t seed, len;
	uint16_t slot;
	uint16_t pad;
};

static void child_fail(int code)
{
	_exit(code);
}

/* Child: opens dir with `frames` frames on its own segment (named `name`). */
static struct pagestore *child_open(const char *name, uint64_t frames, struct shm_segments *s)
{
	struct bp_memory mem;
	if (seg_make(s, name, frames, &mem) != 0)
		child_fail(10);
	struct pagestore *ps = NULL;
	char err[256];
	if (ps_open(&ps, dir, &mem, NULL, NULL, err, sizeof(err)) != 0)
		child_fail(11);
	return ps;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			child_fail(12);
		p += n;
		len -= (size_t)n;
	}
}

/* Child body: inserts records (sync) forever, acknowledging each. */
static void crash_child(int fd, const char *name)
{
	struct shm_segments s;
	struct pagestore *ps = child_open(name, 16, &s);
	uint64_t page;
	if (ps_page_alloc(ps, true, &page) != 0)
		child_fail(13);
	for (uint32_t i = 0; i < 100000; i++) {
		uint8_t buf[PS];
		struct ack a = {.page = page, .seed = i, .len = 30 + (i * 37) % 400};
		fill(buf, a.len, a.seed);
		int rc = ps_record_insert(ps, page, buf, a.len, true, &a.slot);
		if (rc == STRATA_ENOSPC) {
			if (ps_page_alloc(ps, true, &page) != 0)
				child_fail(14);
			a.page = page;
			rc = ps_record_insert(ps, page, buf, a.len, true, &a.slot);
		}
		if (rc != 0)
			child_fail(15);
		write_all(fd, &a, sizeof(a));
	}
	child_fail(16); /* the parent kills us long before */
}

static size_t read_acks(int fd, struct ack *acks, size_t max, size_t stop_after, pid_t kill_pid)
{
	size_t n = 0, partial = 0;
	uint8_t *p = (uint8_t *)acks;
	bool killed = false;
	for (;;) {
		if (!killed && n >= stop_after) {
			kill(kill_pid, SIGKILL);
			killed = true;
		}
		if (n >= max)
			break;
		ssize_t r = read(fd, p + n * sizeof(*acks) + partial, sizeof(*acks) - partial);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		partial += (size_t)r;
		if (partial == sizeof(*acks)) {
			partial = 0;
			n++;
		}
	}
	return n;
}

/* Removes the segments a dead child left in /dev/shm. */
static void unlink_child_segments(const char *name)
{
	char dn[64], sn[64];
	shm_names(name, dn, sn);
	(void)shm_unlink(dn);
	(void)shm_unlink(sn);
}

static void reap(pid_t pid, int want_signal)
{
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (want_signal)
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == want_signal,
			  "child status %#x (exit code %d)", status,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "child status %#x (exit code %d)", status,
			  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

Test(pagestore, every_acknowledged_record_survives_kill_9)
{
	enum { MAX_ACKS = 20000, KILL_AFTER = 400 };
	static struct ack acks[MAX_ACKS];
	char name[128];
	shm_name(name, sizeof(name), "child");
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		crash_child(pfd[1], name);
	}
	close(pfd[1]);
	size_t n = read_acks(pfd[0], acks, MAX_ACKS, KILL_AFTER, pid);
	close(pfd[0]);
	reap(pid, SIGKILL);
	unlink_child_segments(name);
	cr_assert_geq(n, KILL_AFTER, "the child acknowledged %zu records before dying", n);

	struct ps_recovery rec;
	struct pagestore *ps = ps_start(&rec);
	cr_assert_gt(rec.records_replayed, 0, "recovery replayed the log");
	cr_assert_eq(rec.pages_corrupt, 0);
	cr_assert_gt(rec.pages_verified, 0);
	size_t pages = 0;
	for (size_t i = 0; i < n; i++) {
		struct rec_ref r = {.page = acks[i].page, .slot = acks[i].slot, .seed = acks[i].seed,
				    .len = acks[i].len};
		int rc = 0;
		cr_assert(has_record(ps, &r, &rc), "acknowledged record %zu of %zu (page %lu slot %u) lost: %s",
			  i, n, (unsigned long)r.page, r.slot, rc ? strata_strerror(rc) : "bytes differ");
		if (i == 0 || acks[i].page != acks[i - 1].page)
			pages++;
	}
	cr_log_info("kill -9 after %zu acknowledged records on %zu pages; %lu images replayed",
		    n, pages, (unsigned long)rec.records_replayed);
	/* The store is usable after recovery, and the next reopen is clean. */
	uint64_t p = alloc_page(ps);
	struct rec_ref extra = insert(ps, p, 424242, 64);
	ps_stop(ps);
	ps = ps_start(&rec);
	cr_assert_eq(rec.records_replayed, 0);
	expect_records(ps, &extra, 1, "after the second reopen");
	ps_stop(ps);
}

/* Child body: a page with records, flushed to data.db, log kept (no
 * checkpoint), then gone without closing. */
static void torn_child(int fd, const char *name)
{
	struct shm_segments s;
	struct pagestore *ps = child_open(name, 16, &s);
	uint64_t page;
	if (ps_page_alloc(ps, true, &page) != 0)
		child_fail(13);
	for (uint32_t i = 0; i < 12; i++) {
		uint8_t buf[PS];
		struct ack a = {.page = page, .seed = i, .len = 150 + i};
		fill(buf, a.len, a.seed);
		if (ps_record_insert(ps, page, buf, a.len, true, &a.slot) != 0)
			child_fail(15);
		write_all(fd, &a, sizeof(a));
	}
	uint64_t written = 0;
	if (ps_flush(ps, &written) != 0 || written == 0)
		child_fail(17);
	_exit(0);
}

Test(pagestore, torn_data_page_is_repaired_from_the_log)
{
	static struct ack acks[64];
	char name[128];
	shm_name(name, sizeof(name), "child");
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		torn_child(pfd[1], name);
	}
	close(pfd[1]);
	size_t n = read_acks(pfd[0], acks, 64, 1000, pid);
	close(pfd[0]);
	reap(pid, 0);
	unlink_child_segments(name);
	cr_assert_eq(n, 12);
	uint64_t page = acks[0].page;

	/* data.db holds the page (the child flushed it); tear it. */
	uint8_t *raw = malloc(PS);
	cr_assert_not_null(raw);
	raw_page(page, raw);
	cr_assert(page_checksum_ok(raw, PS, NULL, NULL), "the child's flush wrote the page");
	uint8_t junk[PS / 2];
	memset(junk, 0xa5, sizeof(junk));
	raw_write(page * PS + PS / 2, junk, sizeof(junk));
	raw_page(page, raw);
	cr_assert_not(page_checksum_ok(raw, PS, NULL, NULL), "the page is torn now");

	struct ps_recovery rec;
	struct pagestore *ps = ps_start(&rec);
	cr_assert_gt(rec.records_replayed, 0);
	cr_assert_eq(rec.pages_corrupt, 0, "recovery repaired every page");
	for (size_t i = 0; i < n; i++) {
		struct rec_ref r = {.page = acks[i].page, .slot = acks[i].slot, .seed = acks[i].seed,
				    .len = acks[i].len};
		int rc = 0;
		cr_assert(has_record(ps, &r, &rc), "record %zu: %s", i,
			  rc ? strata_strerror(rc) : "bytes differ");
	}
	raw_page(page, raw);
	cr_assert(page_checksum_ok(raw, PS, NULL, NULL), "data.db holds the repaired page");
	free(raw);
	ps_stop(ps);
}

Test(pagestore, flipped_byte_in_a_checkpointed_page_is_ecorrupt)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t p1 = alloc_page(ps), p2 = alloc_page(ps);
	struct rec_ref a = insert(ps, p1, 1, 300);
	struct rec_ref b = insert(ps, p2, 2, 300);
	ps_stop(ps); /* checkpoint: data.db has both pages, the log nothing */

	uint8_t byte;
	int fd = open(data_path(), O_RDWR);
	cr_assert_geq(fd, 0);
	off_t off = (off_t)(p1 * PS + PS - 5); /* inside the record */
	cr_assert_eq(pread(fd, &byte, 1, off), 1);
	byte ^= 0x10;
	cr_assert_eq(pwrite(fd, &byte, 1, off), 1);
	cr_assert_eq(close(fd), 0);

	struct ps_recovery rec;
	ps = ps_start(&rec);
	cr_assert_eq(rec.records_replayed, 0, "nothing in the log to repair it with");
	uint8_t buf[PS];
	size_t len;
	uint64_t cks = core_stats()->io.checksum_failures;
	cr_assert_eq(ps_record_get(ps, p1, a.slot, buf, sizeof(buf), &len), STRATA_ECORRUPT);
	cr_assert_eq(ps_record_get(ps, p1, a.slot, buf, sizeof(buf), &len), STRATA_ECORRUPT,
		     "still corrupt on the next read");
	cr_assert_eq(core_stats()->io.checksum_failures, cks + 2);
	uint8_t rbuf[16];
	cr_assert_eq(ps_record_insert(ps, p1, rbuf, sizeof(rbuf), true, NULL), STRATA_ECORRUPT,
		     "no change to a corrupt page");
	expect_records(ps, &b, 1, "the other page");
	struct bp_stats bs;
	bp_get_stats(ps_pool(ps), &bs);
	cr_assert_eq(bs.pinned, 0, "no pin left behind");
	ps_stop(ps);
}

/* Child body: two pages merged (acknowledged with sync), then killed. */
static void merge_child(int fd, const char *name)
{
	struct shm_segments s;
	struct pagestore *ps = child_open(name, 16, &s);
	uint64_t p1, p2;
	if (ps_page_alloc(ps, true, &p1) != 0 || ps_page_alloc(ps, true, &p2) != 0)
		child_fail(13);
	for (uint32_t i = 0; i < 6; i++) {
		uint8_t buf[200];
		fill(buf, sizeof(buf), i);
		if (ps_record_insert(ps, i < 3 ? p1 : p2, buf, sizeof(buf), true, NULL) != 0)
			child_fail(15);
	}
	unsigned moved = 0;
	if (ps_page_merge(ps, p1, p2, true, &moved) != 0 || moved != 3)
		child_fail(18);
	struct ack a = {.page = p1, .seed = (uint32_t)p2};
	write_all(fd, &a, sizeof(a));
	raise(SIGKILL);
}

Test(pagestore, acknowledged_merge_survives_a_crash)
{
	static struct ack acks[4];
	char name[128];
	shm_name(name, sizeof(name), "child");
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		merge_child(pfd[1], name);
	}
	close(pfd[1]);
	size_t n = read_acks(pfd[0], acks, 4, 1000, pid);
	close(pfd[0]);
	reap(pid, SIGKILL);
	unlink_child_segments(name);
	cr_assert_eq(n, 1, "the merge was acknowledged");
	uint64_t p1 = acks[0].page, p2 = acks[0].seed;

	struct ps_recovery rec;
	struct pagestore *ps = ps_start(&rec);
	cr_assert_gt(rec.records_replayed, 0);
	struct ps_page_info info;
	cr_assert_eq(ps_page_info(ps, p1, &info), 0);
	cr_assert_eq(info.live_records, 6, "page1 holds both pages' records");
	for (uint16_t s = 0; s < 6; s++) {
		struct rec_ref r = {.page = p1, .slot = s, .seed = s, .len = 200};
		cr_assert(has_record(ps, &r, NULL), "record %u in page1", s);
	}
	/* page2 was freed by the acknowledged merge: its old records must not
	 * come back (they would exist twice, in page1 and page2). */
	uint8_t buf[PS];
	size_t len;
	int rc = ps_record_get(ps, p2, 0, buf, sizeof(buf), &len);
	ps_stop(ps);
	cr_assert_eq(rc, STRATA_ENOT_FOUND,
		     "page %lu, freed by an acknowledged merge, is back after recovery with its "
		     "old records (ps_record_get: %s): the free was never logged, so replaying "
		     "page2's older images resurrects it",
		     (unsigned long)p2, rc ? strata_strerror(rc) : "found");
}

/* ---- split, merge, compact ---------------------------------------------------------------- */

static size_t drain(struct strata_event *ev, size_t max)
{
	return emit_drain(ev, max);
}

static void events_on(void)
{
	emit_set_enabled(true);
	emit_set_sample_every(0);
	emit_set_rare_limit(0);
}

Test(pagestore, split_keeps_every_record_and_emits_page_split)
{
	struct pagestore *ps = ps_start(NULL);
	events_on();
	static struct strata_event ev[4096];
	(void)drain(ev, 4096);
	uint64_t p = alloc_page(ps);
	static struct rec_ref refs[64];
	unsigned n = 0;
	struct ps_page_info info;
	for (;;) {
		cr_assert_eq(ps_page_info(ps, p, &info), 0);
		if (info.fill_ratio >= 0.9)
			break;
		refs[n] = insert(ps, p, n, 150);
		n++;
	}
	uint64_t splits0 = core_stats()->pages.splits;
	uint64_t np = 0;
	unsigned moved = 0;
	cr_assert_eq(ps_page_split(ps, p, true, &np, &moved), 0);
	cr_assert_neq(np, p);
	cr_assert_eq(moved, n / 2, "the upper half moves (%u of %u)", moved, n);
	cr_assert_eq(core_stats()->pages.splits, splits0 + 1);
	/* The lower records keep their slots; the moved ones are slots 0.. of
	 * the new page, in their old order. */
	for (unsigned i = n - moved; i < n; i++) {
		refs[i].page = np;
		refs[i].slot = (uint16_t)(i - (n - moved));
	}
	expect_records(ps, refs, n, "after split");
	cr_assert_eq(ps_page_info(ps, p, &info), 0);
	cr_assert_eq(info.live_records, n - moved);
	cr_assert_eq(ps_page_info(ps, np, &info), 0);
	cr_assert_eq(info.live_records, moved);

	size_t k = drain(ev, 4096);
	unsigned found = 0;
	char want[64];
	snprintf(want, sizeof(want), "(%u records moved)", moved);
	for (size_t i = 0; i < k; i++)
		if (ev[i].variant == STRATA_EV_PageSplit) {
			found++;
			cr_assert_eq(ev[i].family, STRATA_FAM_PAGES);
			cr_assert_eq(ev[i].u.PageSplit.original_page_id, p);
			cr_assert_eq(ev[i].u.PageSplit.new_page_id, np);
			cr_assert(strstr(ev[i].u.PageSplit.reason, want), "reason: %s",
				  ev[i].u.PageSplit.reason);
		}
	cr_assert_eq(found, 1);

	/* A page with one record cannot split. */
	uint64_t q = alloc_page(ps);
	(void)insert(ps, q, 9999, 10);
	cr_assert_eq(ps_page_split(ps, q, true, &np, &moved), STRATA_EBAD_REQUEST);
	ps_stop(ps);

	ps = ps_start(NULL);
	expect_records(ps, refs, n, "after split and reopen");
	ps_stop(ps);
}

static void merge_case(bool page1_higher)
{
	struct pagestore *ps = ps_start(NULL);
	events_on();
	static struct strata_event ev[4096];
	(void)drain(ev, 4096);
	uint64_t lo = alloc_page(ps), hi = alloc_page(ps);
	uint64_t page1 = page1_higher ? hi : lo, page2 = page1_higher ? lo : hi;
	struct rec_ref refs[7];
	for (unsigned i = 0; i < 3; i++)
		refs[i] = insert(ps, page1, i, 100 + i);
	for (unsigned i = 3; i < 7; i++)
		refs[i] = insert(ps, page2, i, 100 + i);
	uint64_t free0 = disk_free_count(ps_disk(ps));
	unsigned moved = 0;
	cr_assert_eq(ps_page_merge(ps, page1, page2, true, &moved), 0);
	cr_assert_eq(moved, 4);
	/* page2's records are appended to page1 in slot order. */
	for (unsigned i = 3; i < 7; i++) {
		refs[i].page = page1;
		refs[i].slot = (uint16_t)i;
	}
	expect_records(ps, refs, 7, "after merge");
	cr_assert_eq(disk_free_count(ps_disk(ps)), free0 + 1, "page2 is freed");
	uint8_t buf[PS];
	size_t len;
	cr_assert_eq(ps_record_get(ps, page2, 0, buf, sizeof(buf), &len), STRATA_ENOT_FOUND);
	struct bp_info bi;
	bp_page_info(ps_pool(ps), page2, &bi);
	cr_assert_not(bi.resident, "page2's frame is discarded");

	size_t k = drain(ev, 4096);
	unsigned found = 0;
	for (size_t i = 0; i < k; i++)
		if (ev[i].variant == STRATA_EV_PageMerged) {
			found++;
			cr_assert_eq(ev[i].u.PageMerged.page1_id, page1);
			cr_assert_eq(ev[i].u.PageMerged.page2_id, page2);
			cr_assert_eq(ev[i].u.PageMerged.result_page_id, page1);
		}
	cr_assert_eq(found, 1);
	cr_assert_eq(ps_page_merge(ps, page1, page1, true, &moved), STRATA_EBAD_REQUEST);
	ps_stop(ps);

	ps = ps_start(NULL);
	expect_records(ps, refs, 7, "after merge and reopen");
	cr_assert_eq(ps_record_get(ps, page2, 0, buf, sizeof(buf), &len), STRATA_ENOT_FOUND);
	ps_stop(ps);
}

Test(pagestore, merge_into_the_lower_page_keeps_every_record)
{
	merge_case(false);
}

Test(pagestore, merge_into_the_higher_page_keeps_every_record)
{
	merge_case(true);
}

Test(pagestore, merge_that_does_not_fit_changes_nothing)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t a = alloc_page(ps), b = alloc_page(ps);
	struct rec_ref ra = insert(ps, a, 1, 3000);
	struct rec_ref rb = insert(ps, b, 2, 3000);
	unsigned moved = 77;
	cr_assert_eq(ps_page_merge(ps, a, b, true, &moved), STRATA_ENOSPC);
	expect_records(ps, &ra, 1, "a");
	expect_records(ps, &rb, 1, "b");
	struct bp_stats bs;
	bp_get_stats(ps_pool(ps), &bs);
	cr_assert_eq(bs.pinned, 0);
	ps_stop(ps);
}

Test(pagestore, compact_reclaims_fragmented_bytes_and_emits_page_compacted)
{
	struct pagestore *ps = ps_start(NULL);
	events_on();
	static struct strata_event ev[4096];
	(void)drain(ev, 4096);
	uint64_t p = alloc_page(ps);
	struct rec_ref refs[10];
	for (unsigned i = 0; i < 10; i++)
		refs[i] = insert(ps, p, i, 100);
	for (unsigned i = 1; i < 9; i += 2)
		cr_assert_eq(ps_record_delete(ps, p, refs[i].slot, true), 0);
	struct ps_page_info before, after;
	cr_assert_eq(ps_page_info(ps, p, &before), 0);
	uint64_t reclaimed0 = core_stats()->pages.bytes_reclaimed;
	size_t reclaimed = 0;
	cr_assert_eq(ps_page_compact(ps, p, true, &reclaimed), 0);
	cr_assert_eq(reclaimed, 4 * 100, "the four deleted records' bytes");
	cr_assert_eq(core_stats()->pages.bytes_reclaimed, reclaimed0 + reclaimed);
	cr_assert_eq(ps_page_info(ps, p, &after), 0);
	cr_assert_eq(after.live_records, 6);
	cr_assert_eq(after.used_bytes, before.used_bytes, "live bytes unchanged");
	for (unsigned i = 0; i < 10; i++)
		if (!(i % 2 && i < 9))
			expect_records(ps, &refs[i], 1, "after compaction");

	size_t k = drain(ev, 4096);
	unsigned found = 0;
	for (size_t i = 0; i < k; i++)
		if (ev[i].variant == STRATA_EV_PageCompacted) {
			found++;
			cr_assert_eq(ev[i].u.PageCompacted.page_id, p);
			cr_assert_eq(ev[i].u.PageCompacted.bytes_reclaimed, reclaimed);
		}
	cr_assert_eq(found, 1);

	/* Nothing left to reclaim. */
	cr_assert_eq(ps_page_compact(ps, p, true, &reclaimed), 0);
	cr_assert_eq(reclaimed, 0);
	k = drain(ev, 4096);
	for (size_t i = 0; i < k; i++)
		if (ev[i].variant == STRATA_EV_PageCompacted)
			cr_assert_eq(ev[i].u.PageCompacted.bytes_reclaimed, 0);
	ps_stop(ps);

	ps = ps_start(NULL);
	for (unsigned i = 0; i < 10; i++)
		if (!(i % 2 && i < 9))
			expect_records(ps, &refs[i], 1, "after compaction and reopen");
	ps_stop(ps);
}

/* ---- vectored I/O ------------------------------------------------------------------------- */

Test(pagestore, read_vectored_returns_checksummed_images)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t ids[4];
	for (int i = 0; i < 4; i++) {
		ids[i] = alloc_page(ps);
		(void)insert(ps, ids[i], (unsigned)i, 200);
	}
	/* Two pages on disk and not resident, two dirty in the pool. */
	cr_assert_eq(ps_flush(ps, NULL), 0);
	cr_assert_eq(bp_discard(ps_pool(ps), ids[0]), 0);
	cr_assert_eq(bp_discard(ps_pool(ps), ids[2]), 0);
	(void)insert(ps, ids[1], 11, 50);
	(void)insert(ps, ids[3], 13, 50);

	void *bufs[4];
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(posix_memalign(&bufs[i], 4096, PS), 0);
		memset(bufs[i], 0xcc, PS);
	}
	uint64_t order[4] = {ids[3], ids[0], ids[2], ids[1]};
	cr_assert_eq(ps_read_vectored(ps, order, 4, bufs), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert(page_checksum_ok(bufs[i], PS, NULL, NULL), "image %d: checksum", i);
		cr_assert_eq(page_id(bufs[i]), order[i]);
		cr_assert_eq(page_validate(bufs[i], PS), 0);
	}
	cr_assert_eq(page_live_records(bufs[0]), 2, "the unflushed change is in the image");
	cr_assert_eq(page_live_records(bufs[1]), 1);
	uint64_t bad[1] = {999};
	cr_assert_eq(ps_read_vectored(ps, bad, 1, bufs), STRATA_ENOT_FOUND);
	for (int i = 0; i < 4; i++)
		free(bufs[i]);
	ps_stop(ps);
}

Test(pagestore, write_vectored_rejects_an_image_of_another_page)
{
	struct pagestore *ps = ps_start(NULL);
	uint64_t a = alloc_page(ps), b = alloc_page(ps);
	struct rec_ref ra = insert(ps, a, 1, 100);
	struct rec_ref rb = insert(ps, b, 2, 100);
	void *bufs[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(posix_memalign(&bufs[i], 4096, PS), 0);
	uint64_t ids[2] = {a, b};
	cr_assert_eq(ps_read_vectored(ps, ids, 2, bufs), 0);

	/* New images: one more record each. */
	uint8_t rec[64];
	fill(rec, sizeof(rec), 77);
	uint16_t sa, sb;
	cr_assert_eq(page_insert_record(bufs[0], PS, rec, sizeof(rec), &sa), 0);
	fill(rec, sizeof(rec), 88);
	cr_assert_eq(page_insert_record(bufs[1], PS, rec, sizeof(rec), &sb), 0);

	void *swapped[2] = {bufs[1], bufs[0]};
	cr_assert_eq(ps_write_vectored(ps, ids, 2, swapped, true), STRATA_EBAD_REQUEST);
	void *wrong_second[2] = {bufs[0], bufs[0]};
	cr_assert_eq(ps_write_vectored(ps, ids, 2, wrong_second, true), STRATA_EBAD_REQUEST);
	/* Nothing was written, not even the valid first image. */
	struct ps_page_info info;
	cr_assert_eq(ps_page_info(ps, a, &info), 0);
	cr_assert_eq(info.live_records, 1, "page a unchanged");
	cr_assert_eq(ps_page_info(ps, b, &info), 0);
	cr_assert_eq(info.live_records, 1, "page b unchanged");
	/* Garbage is refused too. */
	uint8_t *junk = malloc(PS);
	memset(junk, 0x5a, PS);
	memcpy(junk + 8, &a, 8);
	void *junkv[1] = {junk};
	cr_assert_eq(ps_write_vectored(ps, ids, 1, junkv, true), STRATA_EBAD_REQUEST);
	free(junk);

	cr_assert_eq(ps_write_vectored(ps, ids, 2, bufs, true), 0);
	struct rec_ref na = {.page = a, .slot = sa, .seed = 77, .len = 64};
	struct rec_ref nb = {.page = b, .slot = sb, .seed = 88, .len = 64};
	expect_records(ps, &na, 1, "written a");
	expect_records(ps, &nb, 1, "written b");
	expect_records(ps, &ra, 1, "old a");
	expect_records(ps, &rb, 1, "old b");
	ps_stop(ps);

	ps = ps_start(NULL);
	expect_records(ps, &na, 1, "written a after reopen");
	expect_records(ps, &nb, 1, "written b after reopen");
	ps_stop(ps);
	free(bufs[0]);
	free(bufs[1]);
}
