/*
 * core/file.c — the file layer. See file.h for the contract.
 *
 * Life of one op (file_pread, file_pwritev, a ring request, ...):
 *   1. refuse early: bad arguments, a write to a failed or read-only file;
 *   2. ask the fault table what to do to it (one relaxed load when empty);
 *   3. queue_depth++ (IoAlert queue_depth may fire), start the clock;
 *   4. the syscalls, looping over short transfers and EINTR;
 *   5. queue_depth--, stop the clock, then account(): counters, histogram,
 *      rate windows, latency/IOPS alerts, events.
 * Failed ops count only in io.errors; reaching end of file is not an I/O
 * error (the op counts as a read of the bytes that were there).
 *
 * Statistics that shm/stats.h has no room for (histograms, rate windows) are
 * process-wide statics here; like the shm counters they are lock-free.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/emit.h"
#include "core/iostats.h"
#include "core/stats.h"
#include "strata/error.h"

#define RLX memory_order_relaxed

struct sfile {
	int fd;
	int flags;
	_Atomic bool failed; /* an fsync failed: writes and syncs refused */
	size_t page_size;    /* 0: not page-addressed */
	char kind[16];
	char path[];
};

/* ---- statistics state ------------------------------------------------------ */

static struct lat_hist read_hist, write_hist;
static struct rate_window read_ops_win, write_ops_win, read_bytes_win, write_bytes_win;

static _Atomic uint64_t alert_qd_thr, alert_lat_thr, alert_iops_thr;
static _Atomic bool alert_qd_armed = true, alert_lat_armed = true, alert_iops_armed = true;

static void emit_io_alert(const char *kind, double value, uint64_t threshold)
{
	struct strata_event ev = {.variant = STRATA_EV_IoAlert};
	int64_t now = clock_wall_us();
	ev.ts_us = now;
	snprintf(ev.u.IoAlert.kind, sizeof(ev.u.IoAlert.kind), "%s", kind);
	ev.u.IoAlert.value = value;
	ev.u.IoAlert.threshold = (double)threshold;
	ev.u.IoAlert.timestamp = now / 1000000;
	(void)emit_rare(&ev);
}

/* Fires once per upward crossing of thr; re-arms at or below it. */
static void alert_check(_Atomic bool *armed, uint64_t thr, double value, const char *kind)
{
	if (thr == 0)
		return;
	if (value > (double)thr) {
		if (atomic_load_explicit(armed, RLX) &&
		    atomic_exchange_explicit(armed, false, RLX))
			emit_io_alert(kind, value, thr);
	} else if (!atomic_load_explicit(armed, RLX)) {
		atomic_store_explicit(armed, true, RLX);
	}
}

static void qd_enter(void)
{
	uint64_t q = atomic_fetch_add_explicit(&core_stats()->io.queue_depth, 1, RLX) + 1;
	alert_check(&alert_qd_armed, atomic_load_explicit(&alert_qd_thr, RLX), (double)q,
		    "queue_depth");
}

static void qd_leave(void)
{
	uint64_t q = atomic_fetch_sub_explicit(&core_stats()->io.queue_depth, 1, RLX) - 1;
	uint64_t thr = atomic_load_explicit(&alert_qd_thr, RLX);
	if (thr && q <= thr && !atomic_load_explicit(&alert_qd_armed, RLX))
		atomic_store_explicit(&alert_qd_armed, true, RLX);
}

static double window_iops(uint64_t now_us)
{
	return rate_window_per_sec(&read_ops_win, now_us) +
	       rate_window_per_sec(&write_ops_win, now_us);
}

enum acct_mode { ACCT_PLAIN, ACCT_VECTORED, ACCT_URING };

/*
 * Counts one finished op. err: its result (STRATA_ENOT_FOUND = reached end
 * of file, counted as a read of `bytes`). iovcnt: for vectored events.
 */
static void account_at(struct sfile *f, int op, int err, size_t bytes, uint64_t lat_us,
		       uint64_t off, enum acct_mode mode, int iovcnt, uint64_t now_us)
{
	struct stats_io *io = &core_stats()->io;

	if (err && !(err == STRATA_ENOT_FOUND && op == FILE_OP_READ)) {
		stat_add(&io->errors, 1);
		return;
	}
	uint64_t now = now_us ? now_us : clock_mono_us();
	bool rd = op == FILE_OP_READ;
	if (rd) {
		stat_add(&io->reads, 1);
		stat_add(&io->bytes_read, bytes);
		stat_add(&io->read_latency_us_sum, lat_us);
		stat_max(&io->read_latency_us_max, lat_us);
		lat_hist_record(&read_hist, lat_us);
		rate_window_add(&read_ops_win, now, 1);
		rate_window_add(&read_bytes_win, now, bytes);
	} else {
		stat_add(&io->writes, 1);
		stat_add(&io->bytes_written, bytes);
		stat_add(&io->write_latency_us_sum, lat_us);
		stat_max(&io->write_latency_us_max, lat_us);
		lat_hist_record(&write_hist, lat_us);
		rate_window_add(&write_ops_win, now, 1);
		rate_window_add(&write_bytes_win, now, bytes);
	}
	if (mode == ACCT_VECTORED)
		stat_add(rd ? &io->vectored_reads : &io->vectored_writes, 1);
	if (mode == ACCT_URING)
		stat_add(&io->uring_ops, 1);

	alert_check(&alert_lat_armed, atomic_load_explicit(&alert_lat_thr, RLX), (double)lat_us,
		    "latency_spike");
	uint64_t iops_thr = atomic_load_explicit(&alert_iops_thr, RLX);
	if (iops_thr)
		alert_check(&alert_iops_armed, iops_thr, window_iops(now), "iops_threshold");

	if (mode == ACCT_VECTORED) {
		struct strata_event ev = {.variant = rd ? STRATA_EV_VectoredRead
							: STRATA_EV_VectoredWrite};
		int64_t wall = clock_wall_us();
		uint64_t pages = f->page_size ? bytes / f->page_size : (uint64_t)iovcnt;
		ev.ts_us = wall;
		/* VectoredRead and VectoredWrite have the same layout. */
		ev.u.VectoredRead.page_count = pages;
		ev.u.VectoredRead.total_bytes = bytes;
		ev.u.VectoredRead.latency_us = lat_us;
		ev.u.VectoredRead.timestamp = wall / 1000000;
		(void)emit(&ev);
	} else if (f->page_size && bytes == f->page_size) {
		enum strata_ev_variant v = rd ? STRATA_EV_ReadCompleted : STRATA_EV_WriteCompleted;
		if (!emit_sample_due(v))
			return;
		struct strata_event ev = {.variant = (uint16_t)v};
		int64_t wall = clock_wall_us();
		ev.ts_us = wall;
		ev.u.ReadCompleted.page_id = off / f->page_size;
		ev.u.ReadCompleted.latency_us = lat_us;
		ev.u.ReadCompleted.bytes = bytes;
		ev.u.ReadCompleted.timestamp = wall / 1000000;
		(void)emit(&ev);
	}
}

static void account(struct sfile *f, int op, int err, size_t bytes, uint64_t lat_us,
		    uint64_t off, enum acct_mode mode, int iovcnt)
{
	account_at(f, op, err, bytes, lat_us, off, mode, iovcnt, 0);
}

_Static_assert(sizeof(struct strata_ev_VectoredRead) == sizeof(struct strata_ev_VectoredWrite),
	       "VectoredRead/VectoredWrite layouts differ");
_Static_assert(sizeof(struct strata_ev_ReadCompleted) == sizeof(struct strata_ev_WriteCompleted),
	       "ReadCompleted/WriteCompleted layouts differ");

void file_set_alert_thresholds(uint64_t queue_depth, uint64_t latency_us, uint64_t iops)
{
	atomic_store(&alert_qd_thr, queue_depth);
	atomic_store(&alert_lat_thr, latency_us);
	atomic_store(&alert_iops_thr, iops);
	atomic_store(&alert_qd_armed, true);
	atomic_store(&alert_lat_armed, true);
	atomic_store(&alert_iops_armed, true);
}

void file_stats_snapshot(struct io_stats_snapshot *s)
{
	struct stats_io *io = &core_stats()->io;
	uint64_t now = clock_mono_us();

	memset(s, 0, sizeof(*s));
	s->reads = stat_get(&io->reads);
	s->writes = stat_get(&io->writes);
	s->bytes_read = stat_get(&io->bytes_read);
	s->bytes_written = stat_get(&io->bytes_written);
	s->vectored_reads = stat_get(&io->vectored_reads);
	s->vectored_writes = stat_get(&io->vectored_writes);
	s->fsyncs = stat_get(&io->fsyncs);
	s->errors = stat_get(&io->errors);
	s->uring_ops = stat_get(&io->uring_ops);
	s->checksum_failures = stat_get(&io->checksum_failures);
	s->queue_depth = stat_get(&io->queue_depth);
	s->uring_enabled = stat_get(&io->uring_enabled) != 0;

	s->read_lat_avg_us = s->reads ? stat_get(&io->read_latency_us_sum) / s->reads : 0;
	s->read_lat_p50_us = lat_hist_percentile(&read_hist, 50);
	s->read_lat_p95_us = lat_hist_percentile(&read_hist, 95);
	s->read_lat_p99_us = lat_hist_percentile(&read_hist, 99);
	s->read_lat_max_us = stat_get(&io->read_latency_us_max);
	s->write_lat_avg_us = s->writes ? stat_get(&io->write_latency_us_sum) / s->writes : 0;
	s->write_lat_p50_us = lat_hist_percentile(&write_hist, 50);
	s->write_lat_p95_us = lat_hist_percentile(&write_hist, 95);
	s->write_lat_p99_us = lat_hist_percentile(&write_hist, 99);
	s->write_lat_max_us = stat_get(&io->write_latency_us_max);

	s->read_iops = rate_window_per_sec(&read_ops_win, now);
	s->write_iops = rate_window_per_sec(&write_ops_win, now);
	s->iops = s->read_iops + s->write_iops;
	s->read_mbps = rate_window_per_sec(&read_bytes_win, now) / (1024.0 * 1024.0);
	s->write_mbps = rate_window_per_sec(&write_bytes_win, now) / (1024.0 * 1024.0);
}

void file_stats_reset(void)
{
	struct stats_io *io = &core_stats()->io;
	uint64_t now = clock_mono_us();

	stat_set(&io->reads, 0);
	stat_set(&io->writes, 0);
	stat_set(&io->bytes_read, 0);
	stat_set(&io->bytes_written, 0);
	stat_set(&io->read_latency_us_sum, 0);
	stat_set(&io->write_latency_us_sum, 0);
	stat_set(&io->read_latency_us_max, 0);
	stat_set(&io->write_latency_us_max, 0);
	stat_set(&io->vectored_reads, 0);
	stat_set(&io->vectored_writes, 0);
	stat_set(&io->fsyncs, 0);
	stat_set(&io->errors, 0);
	stat_set(&io->uring_ops, 0);
	stat_set(&io->checksum_failures, 0);
	/* queue_depth and uring_enabled are gauges of the current state. */
	lat_hist_reset(&read_hist);
	lat_hist_reset(&write_hist);
	rate_window_reset(&read_ops_win, now);
	rate_window_reset(&write_ops_win, now);
	rate_window_reset(&read_bytes_win, now);
	rate_window_reset(&write_bytes_win, now);
}

/* ---- fault injection ------------------------------------------------------- */

#define FAULT_RULES 8
#define FAULT_PATH_MAX 256

struct fault_rule {
	bool used;
	struct file_fault r;
	char path[FAULT_PATH_MAX];
	unsigned seen; /* matching ops so far */
};

/* What to do to one op. */
enum fault_act { FA_NONE = 0, FA_ERROR, FA_SHORT, FA_TORN };
struct fault_hit {
	enum fault_act act;
	int errnum;
	size_t len;
};

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_rule fault_rules[FAULT_RULES]; /* under fault_lock */
static _Atomic unsigned faults_armed;               /* rules in use */
static _Atomic uint64_t faults_fired;

static struct fault_hit fault_decide(const struct sfile *f, int op)
{
	struct fault_hit hit = {FA_NONE, 0, 0};

	if (atomic_load_explicit(&faults_armed, RLX) == 0)
		return hit;
	pthread_mutex_lock(&fault_lock);
	for (unsigned i = 0; i < FAULT_RULES; i++) {
		struct fault_rule *fr = &fault_rules[i];
		if (!fr->used || !(fr->r.ops & (unsigned)op))
			continue;
		if (fr->path[0] && !strstr(f->path, fr->path))
			continue;
		unsigned seen = ++fr->seen;
		unsigned nth = fr->r.nth ? fr->r.nth : 1;
		unsigned times = fr->r.times ? fr->r.times : 1;
		if (seen < nth || (times != FILE_FAULT_FOREVER && seen - nth >= times))
			continue;
		hit.errnum = fr->r.errnum ? fr->r.errnum : EIO;
		hit.len = fr->r.partial_len;
		switch (fr->r.kind) {
		case FILE_FAULT_ERROR: hit.act = FA_ERROR; break;
		case FILE_FAULT_SHORT: hit.act = FA_SHORT; break;
		case FILE_FAULT_TORN: hit.act = FA_TORN; break;
		}
		/* A sync or an allocation has nothing to shorten: any rule fails it. */
		if (op == FILE_OP_SYNC || op == FILE_OP_ALLOCATE)
			hit.act = FA_ERROR;
		atomic_fetch_add_explicit(&faults_fired, 1, RLX);
		break;
	}
	pthread_mutex_unlock(&fault_lock);
	return hit;
}

int file_fault_inject(const struct file_fault *f)
{
	if (!f || !f->ops || 
	    (f->ops & ~(unsigned)(FILE_OP_READ | FILE_OP_WRITE | FILE_OP_SYNC | FILE_OP_ALLOCATE)))
		return STRATA_EBAD_REQUEST;
	if (f->kind != FILE_FAULT_ERROR && f->kind != FILE_FAULT_SHORT &&
	    f->kind != FILE_FAULT_TORN)
		return STRATA_EBAD_REQUEST;
	if (f->kind == FILE_FAULT_SHORT && f->partial_len == 0)
		return STRATA_EBAD_REQUEST; /* would never make progress */
	if (f->path_contains && strlen(f->path_contains) >= FAULT_PATH_MAX)
		return STRATA_EBAD_REQUEST;

	int rc = STRATA_EBUSY;
	pthread_mutex_lock(&fault_lock);
	for (unsigned i = 0; i < FAULT_RULES; i++) {
		struct fault_rule *fr = &fault_rules[i];
		if (fr->used)
			continue;
		memset(fr, 0, sizeof(*fr));
		fr->used = true;
		fr->r = *f;
		fr->r.path_contains = NULL;
		if (f->path_contains)
			snprintf(fr->path, sizeof(fr->path), "%s", f->path_contains);
		atomic_fetch_add(&faults_armed, 1);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&fault_lock);
	return rc;
}

void file_fault_clear(void)
{
	pthread_mutex_lock(&fault_lock);
	memset(fault_rules, 0, sizeof(fault_rules));
	atomic_store(&faults_armed, 0);
	atomic_store(&faults_fired, 0);
	pthread_mutex_unlock(&fault_lock);
}

uint64_t file_fault_fired(void)
{
	return atomic_load(&faults_fired);
}

/* ---- open / close ----------------------------------------------------------- */

int file_open(struct sfile **out, const char *path, int flags, const char *kind)
{
	const int known = FILE_CREATE | FILE_DIRECT | FILE_RDONLY | FILE_EXCL | FILE_TRUNC;

	if (!out || !path || (flags & ~known))
		return STRATA_EBAD_REQUEST;
	if ((flags & FILE_RDONLY) && (flags & (FILE_CREATE | FILE_TRUNC)))
		return STRATA_EBAD_REQUEST;

	size_t plen = strlen(path);
	struct sfile *f = calloc(1, sizeof(*f) + plen + 1);
	if (!f)
		return STRATA_ENOMEM;
	memcpy(f->path, path, plen + 1);
	snprintf(f->kind, sizeof(f->kind), "%s", kind ? kind : "file");
	f->flags = flags;
	atomic_init(&f->failed, false);

	int oflags = O_CLOEXEC | ((flags & FILE_RDONLY) ? O_RDONLY : O_RDWR);
	if (flags & FILE_CREATE)
		oflags |= O_CREAT;
	if (flags & FILE_EXCL)
		oflags |= O_EXCL;
	if (flags & FILE_TRUNC)
		oflags |= O_TRUNC;
	if (flags & FILE_DIRECT)
		oflags |= O_DIRECT;

	int fd;
	do
		fd = open(path, oflags, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int rc = strata_err_from_errno(errno);
		free(f);
		return rc;
	}
	f->fd = fd;
	*out = f;
	return 0;
}

int file_close(struct sfile *f)
{
	if (!f)
		return 0;
	int rc = 0;
	/* Linux releases the descriptor even when close fails (EINTR included):
	 * never retry, only report. */
	if (close(f->fd) != 0 && errno != EINTR)
		rc = strata_err_from_errno(errno);
	free(f);
	return rc;
}

void file_set_page_size(struct sfile *f, size_t page_size)
{
	f->page_size = page_size;
}

const char *file_path(const struct sfile *f) { return f->path; }
const char *file_kind(const struct sfile *f) { return f->kind; }
int file_fd(const struct sfile *f) { return f->fd; }

bool file_is_failed(const struct sfile *f)
{
	return atomic_load_explicit(&((struct sfile *)f)->failed, memory_order_acquire);
}

/* ---- read-only mappings ------------------------------------------------------ */

/*
 * SIGBUS guard. Touching a mapped page whose backing is gone (the file was
 * truncated under the mapping, the device failed the page-in) raises SIGBUS
 * on the touching thread, synchronously. Every byte leaves a mapping through
 * map_copy(), which arms this thread's guard around one memcpy; the handler
 * turns a SIGBUS whose address lies inside the armed range into a
 * siglongjmp back to map_copy (→ STRATA_EIO). Anything else is passed on to
 * the handler installed before ours, or to the default action (the process
 * dies as it would have without us).
 *
 * SA_NODEFER keeps SIGBUS unblocked while the handler runs, so the
 * siglongjmp (which does not restore the mask: sigsetjmp(env, 0), no
 * syscall per read) leaves the thread able to take the next one.
 */
struct map_guard {
	sigjmp_buf env;
	const uint8_t *lo, *hi;     /* the range being copied */
	volatile sig_atomic_t armed;
};

static _Thread_local struct map_guard map_guard;
static struct sigaction prev_sigbus;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;
static int sigbus_install_rc;

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	struct map_guard *g = &map_guard;
	if (g->armed && si) {
		const uint8_t *a = si->si_addr;
		if (a >= g->lo && a < g->hi) {
			g->armed = 0;
			siglongjmp(g->env, 1);
		}
	}
	if (prev_sigbus.sa_flags & SA_SIGINFO) {
		if (prev_sigbus.sa_sigaction) {
			prev_sigbus.sa_sigaction(sig, si, uctx);
			return;
		}
	} else if (prev_sigbus.sa_handler != SIG_DFL && prev_sigbus.sa_handler != SIG_IGN) {
		prev_sigbus.sa_handler(sig);
		return;
	}
	/* not ours, nobody else's: die of it, as without the guard (SIGBUS is
	 * not blocked here, so raise() delivers it at once) */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(SIGBUS, &dfl, NULL);
	(void)raise(SIGBUS);
}

static void sigbus_install(void)
{
	struct sigaction sa = {.sa_sigaction = sigbus_handler,
			       .sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev_sigbus) != 0)
		sigbus_install_rc = strata_err_from_errno(errno);
}

int file_map_guard_install(void)
{
	if (pthread_once(&sigbus_once, sigbus_install) != 0)
		return STRATA_EIO;
	return sigbus_install_rc;
}

/* Copies len bytes from the mapping at src into dst; STRATA_EIO if a page
 * of it cannot be read (SIGBUS). Only map_guard is touched between
 * sigsetjmp and siglongjmp, and it is not a local: nothing needs volatile. */
static int map_copy(void *dst, const uint8_t *src, size_t len)
{
	struct map_guard *g = &map_guard;
	g->lo = src;
	g->hi = src + len;
	if (sigsetjmp(g->env, 0) != 0)
		return STRATA_EIO; /* the handler disarmed the guard */
	g->armed = 1;
	atomic_signal_fence(memory_order_seq_cst);
	memcpy(dst, src, len);
	atomic_signal_fence(memory_order_seq_cst);
	g->armed = 0;
	return 0;
}

struct file_map {
	struct sfile *f;
	const uint8_t *base;
	uint64_t len;
};

int file_map(struct sfile *f, uint64_t len, struct file_map **out)
{
	if (!f || !out || len == 0 || (f->flags & FILE_DIRECT) || len > (uint64_t)SIZE_MAX)
		return STRATA_EBAD_REQUEST;
	int rc = file_map_guard_install();
	if (rc)
		return rc; /* never map without the guard */
	struct file_map *m = malloc(sizeof(*m));
	if (!m)
		return STRATA_ENOMEM;
	void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED) {
		rc = errno == ENOMEM ? STRATA_ENOMEM : STRATA_EIO;
		free(m);
		return rc;
	}
	m->f = f;
	m->base = p;
	m->len = len;
	*out = m;
	return 0;
}

int file_map_read(struct file_map *m, uint64_t off, size_t len, void *buf)
{
	if (!m || (!buf && len))
		return STRATA_EBAD_REQUEST;
	if (off > m->len || len > m->len - off)
		return STRATA_ENOT_FOUND;
	struct fault_hit hit = fault_decide(m->f, FILE_OP_READ);
	int rc = 0;
	if (hit.act == FA_ERROR || hit.act == FA_TORN)
		rc = strata_err_from_errno(hit.errnum);
	uint64_t t0 = rc ? 0 : clock_mono_ns();
	if (!rc && len)
		rc = map_copy(buf, m->base + off, len);
	account(m->f, FILE_OP_READ, rc, rc ? 0 : len, rc ? 0 : (clock_mono_ns() - t0) / 1000, off,
		ACCT_PLAIN, 1);
	return rc;
}

uint64_t file_map_len(const struct file_map *m) { return m->len; }

void file_unmap(struct file_map *m)
{
	if (!m)
		return;
	(void)munmap((void *)m->base, (size_t)m->len);
	free(m);
}

/* ---- synchronous I/O ---------------------------------------------------------- */

#define RW_EOF 1 /* internal: the file ended before the request did */

/*
 * Transfers the bytes described by iov (modified: advanced as bytes go),
 * looping over short transfers and EINTR. limit_first bounds the bytes of
 * the first syscall (fault injection; SIZE_MAX = none); with only_first the
 * loop stops after that syscall (a torn write). *done receives the bytes
 * transferred. 0, RW_EOF (read hit end of file) or a STRATA_E* code.
 */
static int rw_loop(struct sfile *f, int op, struct iovec *iov, int iovcnt, uint64_t off,
		   size_t limit_first, bool only_first, size_t *done)
{
	size_t limit = limit_first;
	int i = 0;

	*done = 0;
	while (i < iovcnt) {
		if (iov[i].iov_len == 0) {
			i++;
			continue;
		}
		int cnt = iovcnt - i < IOV_MAX ? iovcnt - i : IOV_MAX;
		int trim = -1;
		size_t trim_saved = 0;
		if (limit != SIZE_MAX) {
			if (limit == 0)
				return 0; /* torn with nothing written: caller fails the op */
			size_t acc = 0;
			for (int k = i; k < i + cnt; k++) {
				if (acc + iov[k].iov_len >= limit) {
					trim = k;
					trim_saved = iov[k].iov_len;
					iov[k].iov_len = limit - acc;
					cnt = k - i + 1;
					break;
				}
				acc += iov[k].iov_len;
			}
			limit = SIZE_MAX;
		}

		ssize_t r;
		off_t pos = (off_t)(off + *done);
		if (op == FILE_OP_READ)
			r = cnt == 1 ? pread(f->fd, iov[i].iov_base, iov[i].iov_len, pos)
				     : preadv(f->fd, &iov[i], cnt, pos);
		else
			r = cnt == 1 ? pwrite(f->fd, iov[i].iov_base, iov[i].iov_len, pos)
				     : pwritev(f->fd, &iov[i], cnt, pos);
		int saved_errno = errno;
		if (trim >= 0)
			iov[trim].iov_len = trim_saved;

		if (r < 0) {
			if (saved_errno == EINTR)
				continue;
			return strata_err_from_errno(saved_errno);
		}
		if (r == 0) {
			if (op == FILE_OP_READ)
				return RW_EOF;
			return STRATA_EIO; /* a write that makes no progress */
		}
		*done += (size_t)r;
		if (only_first)
			return 0;
		size_t left = (size_t)r;
		while (left > 0) {
			if (left >= iov[i].iov_len) {
				left -= iov[i].iov_len;
				iov[i].iov_len = 0;
				i++;
			} else {
				iov[i].iov_base = (char *)iov[i].iov_base + left;
				iov[i].iov_len -= left;
				left = 0;
			}
		}
	}
	return 0;
}

/* Zeroes the part of iov (already advanced by rw_loop) that was not read. */
static void zero_rest(struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/* Refuses writes the file cannot take. */
static int write_allowed(const struct sfile *f)
{
	if (f->flags & FILE_RDONLY)
		return STRATA_EBAD_REQUEST;
	if (file_is_failed(f))
		return STRATA_EREAD_ONLY;
	return 0;
}

#define IOV_STACK 16

static int do_io(struct sfile *f, int op, const struct iovec *iov_in, int iovcnt, uint64_t off,
		 bool vectored, bool upto, size_t *got)
{
	if (got)
		*got = 0;
	if (!f || !iov_in || iovcnt < 1)
		return STRATA_EBAD_REQUEST;
	if (op == FILE_OP_WRITE) {
		int rc = write_allowed(f);
		if (rc)
			return rc;
	}

	struct iovec stack_iov[IOV_STACK];
	struct iovec *iov = stack_iov;
	if (iovcnt > IOV_STACK) {
		iov = malloc(sizeof(*iov) * (size_t)iovcnt);
		if (!iov)
			return STRATA_ENOMEM;
	}
	memcpy(iov, iov_in, sizeof(*iov) * (size_t)iovcnt);

	struct fault_hit hit = fault_decide(f, op);
	uint64_t t0 = clock_mono_ns();
	qd_enter();

	size_t done = 0;
	int rc;
	if (hit.act == FA_ERROR) {
		rc = strata_err_from_errno(hit.errnum);
	} else {
		size_t limit = (hit.act == FA_SHORT || hit.act == FA_TORN) ? hit.len : SIZE_MAX;
		rc = rw_loop(f, op, iov, iovcnt, off, limit, hit.act == FA_TORN, &done);
		if (rc >= 0 && hit.act == FA_TORN)
			rc = strata_err_from_errno(hit.errnum);
	}

	qd_leave();
	uint64_t t1 = clock_mono_ns();
	uint64_t lat_us = (t1 - t0) / 1000;

	if (rc == RW_EOF) {
		if (upto) {
			rc = 0;
		} else {
			zero_rest(iov, iovcnt);
			rc = STRATA_ENOT_FOUND;
		}
	}
	if (got)
		*got = rc == 0 || rc == STRATA_ENOT_FOUND ? done : 0;
	/* the op's end time is the accounting time: one clock read fewer */
	account_at(f, op, rc, done, lat_us, off, vectored ? ACCT_VECTORED : ACCT_PLAIN, iovcnt,
		   t1 / 1000 ? t1 / 1000 : 1);
	if (iov != stack_iov)
		free(iov);
	return rc;
}

int file_pread(struct sfile *f, void *buf, size_t len, uint64_t off)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};
	if (!buf)
		return STRATA_EBAD_REQUEST;
	return do_io(f, FILE_OP_READ, &v, 1, off, false, false, NULL);
}

int file_pread_upto(struct sfile *f, void *buf, size_t len, uint64_t off, size_t *got)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};
	if (!buf || !got) {
		if (got)
			*got = 0;
		return STRATA_EBAD_REQUEST;
	}
	return do_io(f, FILE_OP_READ, &v, 1, off, false, true, got);
}

int file_pwrite(struct sfile *f, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
	if (!buf)
		return STRATA_EBAD_REQUEST;
	return do_io(f, FILE_OP_WRITE, &v, 1, off, false, false, NULL);
}

int file_preadv(struct sfile *f, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return do_io(f, FILE_OP_READ, iov, iovcnt, off, true, false, NULL);
}

int file_pwritev(struct sfile *f, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return do_io(f, FILE_OP_WRITE, iov, iovcnt, off, true, false, NULL);
}

int file_sync(struct sfile *f)
{
	if (!f)
		return STRATA_EBAD_REQUEST;
	if (file_is_failed(f))
		return STRATA_EREAD_ONLY;

	struct fault_hit hit = fault_decide(f, FILE_OP_SYNC);
	int rc = 0;
	qd_enter();
	if (hit.act != FA_NONE) {
		rc = strata_err_from_errno(hit.errnum);
	} else {
		int r;
		do
			r = fdatasync(f->fd);
		while (r != 0 && errno == EINTR);
		if (r != 0)
			rc = strata_err_from_errno(errno);
	}
	qd_leave();

	if (rc) {
		/* The kernel may have dropped the dirty pages it failed to write
		 * and will report success next time: never trust this file's
		 * unsynced writes again. */
		atomic_store_explicit(&f->failed, true, memory_order_release);
		stat_add(&core_stats()->io.errors, 1);
		return rc;
	}
	stat_add(&core_stats()->io.fsyncs, 1);
	return 0;
}

int file_sync_dir(const char *dir_path)
{
	if (!dir_path)
		return STRATA_EBAD_REQUEST;
	int fd;
	do
		fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return strata_err_from_errno(errno);
	int rc = 0;
	int r;
	do
		r = fsync(fd);
	while (r != 0 && errno == EINTR);
	if (r != 0)
		rc = strata_err_from_errno(errno);
	if (close(fd) != 0 && errno != EINTR && rc == 0)
		rc = strata_err_from_errno(errno);
	if (rc == 0)
		stat_add(&core_stats()->io.fsyncs, 1);
	else
		stat_add(&core_stats()->io.errors, 1);
	return rc;
}

int file_size(struct sfile *f, uint64_t *size)
{
	struct stat st;
	if (!f || !size)
		return STRATA_EBAD_REQUEST;
	if (fstat(f->fd, &st) != 0)
		return strata_err_from_errno(errno);
	*size = (uint64_t)st.st_size;
	return 0;
}

int file_truncate(struct sfile *f, uint64_t size)
{
	if (!f)
		return STRATA_EBAD_REQUEST;
	int rc = write_allowed(f);
	if (rc)
		return rc;
	struct fault_hit hit = fault_decide(f, FILE_OP_ALLOCATE);
	if (hit.act != FA_NONE) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(hit.errnum);
	}
	int r;
	do
		r = ftruncate(f->fd, (off_t)size);
	while (r != 0 && errno == EINTR);
	if (r != 0) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(errno);
	}
	return 0;
}

int file_allocate(struct sfile *f, uint64_t off, uint64_t len)
{
	if (!f || len == 0)
		return STRATA_EBAD_REQUEST;
	int rc = write_allowed(f);
	if (rc)
		return rc;
	struct fault_hit hit = fault_decide(f, FILE_OP_ALLOCATE);
	if (hit.act != FA_NONE) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(hit.errnum);
	}
	int e;
	do
		e = posix_fallocate(f->fd, (off_t)off, (off_t)len);
	while (e == EINTR);
	if (e != 0) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(e);
	}
	return 0;
}

int file_punch_hole(struct sfile *f, uint64_t off, uint64_t len)
{
	if (!f || len == 0)
		return STRATA_EBAD_REQUEST;
	int rc = write_allowed(f);
	if (rc)
		return rc;
	struct fault_hit hit = fault_decide(f, FILE_OP_ALLOCATE);
	if (hit.act != FA_NONE) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(hit.errnum);
	}
	int r;
	do
		r = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len);
	while (r != 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS) {
		stat_add(&core_stats()->io.errors, 1);
		return strata_err_from_errno(errno);
	}

	/* No hole punching here: write zeros, aligned for O_DIRECT. */
	size_t chunk = len < (1u << 20) ? (size_t)len : (1u << 20);
	chunk = (chunk + FILE_DIRECT_ALIGN - 1) / FILE_DIRECT_ALIGN * FILE_DIRECT_ALIGN;
	void *zeros = NULL;
	if (posix_memalign(&zeros, FILE_DIRECT_ALIGN, chunk) != 0)
		return STRATA_ENOMEM;
	memset(zeros, 0, chunk);
	for (uint64_t pos = 0; pos < len && rc == 0; pos += chunk) {
		size_t n = len - pos < chunk ? (size_t)(len - pos) : chunk;
		rc = file_pwrite(f, zeros, n, off + pos);
	}
	free(zeros);
	return rc;
}

/* ---- io_uring ----------------------------------------------------------------- */

/*
 * How file_ring_run keeps the queue full at the least cost per op:
 *   - each reap takes every completion there is, settles the finished
 *     requests (result, queue_depth) and resubmits short transfers at once;
 *   - then it refills the queue with new requests, each SQE submitted on its
 *     own as fio does by default (iodepth_batch_submit=1): the device starts
 *     on a request while the next ones are prepared. Measured on virtio
 *     (Firecracker): one io_uring_enter per wave of 32 makes the queue run
 *     in lockstep waves, every completion of a wave arriving at once and the
 *     device idle in between, ~20% fewer IOPS; submitting only the first SQE
 *     of a wave on its own did not help. A syscall per op costs far less
 *     than that (the QD32 path is not CPU-bound);
 *   - only then, with the queue full again, the finished requests are
 *     accounted (counters, histogram, rate windows, events);
 *   - the clock is read once per round, not per op: an op's latency is
 *     from the round it was submitted in to the reap that saw it complete,
 *     which is what the per-op clock measured up to the cost of one round.
 */
struct file_ring {
	struct io_uring ring;
	unsigned depth;
	bool broken;            /* a hard io_uring_enter error: refuse further runs */
	struct file_io **fin;   /* settled, not yet accounted (at most depth) */
	size_t nfin;
};

int file_ring_open(struct file_ring **out, unsigned depth)
{
	if (!out || depth == 0 || depth > 4096)
		return STRATA_EBAD_REQUEST;
	struct file_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return STRATA_ENOMEM;
	r->fin = calloc(depth, sizeof(*r->fin));
	if (!r->fin) {
		free(r);
		return STRATA_ENOMEM;
	}
	int e = io_uring_queue_init(depth, &r->ring, 0);
	if (e < 0) {
		free(r->fin);
		free(r);
		errno = -e;
		return e == -ENOMEM ? STRATA_ENOMEM : STRATA_EUNAVAILABLE;
	}
	r->depth = depth;
	*out = r;
	return 0;
}

void file_ring_close(struct file_ring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r->fin);
	free(r);
}

unsigned file_ring_depth(const struct file_ring *r)
{
	return r->depth;
}

/* Fault states of a ring request (file_io.fault_). */
enum { RF_NONE = 0, RF_SHORT_PENDING, RF_TORN_PENDING };

/* Checks and starts a request submitted in the round that began at now_ns;
 * 0 = submit it, else its (final) result. */
static int ring_start(struct file_io *q, uint64_t now_ns)
{
	q->done_ = 0;
	q->fault_ = RF_NONE;
	if (!q->file || !q->buf || q->len == 0 ||
	    (q->op != FILE_OP_READ && q->op != FILE_OP_WRITE))
		return STRATA_EBAD_REQUEST;
	if (q->op == FILE_OP_WRITE) {
		int rc = write_allowed(q->file);
		if (rc)
			return rc;
	}
	struct fault_hit hit = fault_decide(q->file, q->op);
	q->fault_err_ = hit.errnum;
	q->fault_len_ = hit.len;
	if (hit.act == FA_ERROR || (hit.act == FA_TORN && hit.len == 0)) {
		int rc = strata_err_from_errno(hit.errnum);
		account(q->file, q->op, rc, 0, 0, q->off, ACCT_URING, 1);
		return rc;
	}
	if (hit.act == FA_SHORT)
		q->fault_ = RF_SHORT_PENDING;
	else if (hit.act == FA_TORN)
		q->fault_ = RF_TORN_PENDING;
	q->start_ns_ = now_ns;
	qd_enter();
	return 0;
}

static void ring_prep(struct io_uring_sqe *sqe, struct file_io *q)
{
	size_t len = q->len - q->done_;
	if (q->fault_ != RF_NONE && q->done_ == 0 && q->fault_len_ < len)
		len = q->fault_len_;
	if (q->fault_ == RF_SHORT_PENDING)
		q->fault_ = RF_NONE;
	char *p = (char *)q->buf + q->done_;
	if (q->op == FILE_OP_READ)
		io_uring_prep_read(sqe, q->file->fd, p, (unsigned)len, q->off + q->done_);
	else
		io_uring_prep_write(sqe, q->file->fd, p, (unsigned)len, q->off + q->done_);
	io_uring_sqe_set_data(sqe, q);
}

/* Completes a request: result, queue depth; accounting is ring_account's. */
static void ring_settle(struct file_io *q, int rc)
{
	qd_leave();
	if (rc == RW_EOF) {
		memset((char *)q->buf + q->done_, 0, q->len - q->done_);
		rc = STRATA_ENOT_FOUND;
	}
	q->result = rc;
}

/* Accounts a settled request that completed by end_ns. */
static void ring_account(struct file_io *q, uint64_t end_ns)
{
	uint64_t lat_us = end_ns > q->start_ns_ ? (end_ns - q->start_ns_) / 1000 : 0;
	account_at(q->file, q->op, q->result, q->done_, lat_us, q->off, ACCT_URING, 1,
		   end_ns / 1000);
}

static void ring_finish(struct file_io *q, int rc)
{
	ring_settle(q, rc);
	ring_account(q, clock_mono_ns());
}

/* Handles one completion: true if the request must be resubmitted, else it
 * is settled. */
static bool ring_complete(struct file_io *q, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return true;
	if (res < 0) {
		ring_settle(q, strata_err_from_errno(-res));
		return false;
	}
	if (res == 0) {
		ring_settle(q, q->op == FILE_OP_READ ? RW_EOF : STRATA_EIO);
		return false;
	}
	q->done_ += (size_t)res;
	if (q->fault_ == RF_TORN_PENDING) {
		ring_settle(q, strata_err_from_errno(q->fault_err_));
		return false;
	}
	if (q->done_ < q->len)
		return true;
	ring_settle(q, 0);
	return false;
}

static struct io_uring_sqe *ring_get_sqe(struct file_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		/* The SQ is full of prepared entries: hand them to the kernel. */
		(void)io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* Accounts the requests settled since the last call, as completed by end_ns. */
static void ring_account_settled(struct file_ring *r, uint64_t end_ns)
{
	for (size_t i = 0; i < r->nfin; i++)
		ring_account(r->fin[i], end_ns);
	r->nfin = 0;
}

int file_ring_run(struct file_ring *r, struct file_io *reqs, size_t n)
{
	if (!r || (!reqs && n))
		return STRATA_EBAD_REQUEST;
	if (r->broken)
		return STRATA_EUNAVAILABLE;

	size_t next = 0, inflight = 0, finished = 0;
	for (size_t i = 0; i < n; i++)
		reqs[i].result = 1; /* pending */

	uint64_t now_ns = clock_mono_ns(); /* start of this round */
	r->nfin = 0;
	while (finished < n) {
		/* Refill; each new SQE goes to the kernel on its own. */
		while (next < n && inflight < r->depth) {
			struct file_io *q = &reqs[next++];
			int rc = ring_start(q, now_ns);
			if (rc) {
				q->result = rc;
				finished++;
				continue;
			}
			struct io_uring_sqe *sqe = ring_get_sqe(r);
			if (!sqe) {
				/* Cannot happen with inflight < depth; fail safe. */
				ring_finish(q, STRATA_EINTERNAL);
				finished++;
				continue;
			}
			ring_prep(sqe, q);
			inflight++;
			/* At depth 1 the wait below submits it: one syscall per op. */
			if (r->depth > 1)
				(void)io_uring_submit(&r->ring); /* errors: seen below */
		}
		/* The queue is full again: account what the last reap settled. */
		if (r->nfin) {
			if (r->depth > 1)
				(void)io_uring_submit(&r->ring);
			ring_account_settled(r, now_ns);
		}
		if (inflight == 0)
			continue;

		int e = io_uring_submit_and_wait(&r->ring, 1);
		now_ns = clock_mono_ns(); /* end of the ops reaped below, start of
					   * the ones submitted next */
		if (e < 0 && e != -EINTR && e != -EAGAIN && e != -EBUSY) {
			/* The ring is unusable. Requests not started fail; those
			 * in flight are waited for (their buffers are the
			 * caller's) as long as the kernel lets us. */
			r->broken = true;
			for (; next < n; next++, finished++)
				reqs[next].result = STRATA_EIO;
			while (inflight > 0) {
				struct io_uring_cqe *cqe;
				int w = io_uring_wait_cqe(&r->ring, &cqe);
				if (w == -EINTR)
					continue;
				if (w < 0)
					break;
				struct file_io *q = io_uring_cqe_get_data(cqe);
				io_uring_cqe_seen(&r->ring, cqe);
				ring_finish(q, STRATA_EIO);
				inflight--;
				finished++;
			}
			for (size_t i = 0; i < n; i++)
				if (reqs[i].result == 1) {
					ring_finish(&reqs[i], STRATA_EIO);
					finished++;
				}
			break;
		}

		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct file_io *q = io_uring_cqe_get_data(cqe);
			seen++;
			if (!ring_complete(q, cqe->res)) {
				r->fin[r->nfin++] = q;
				inflight--;
				finished++;
				continue;
			}
			struct io_uring_sqe *sqe = ring_get_sqe(r);
			if (!sqe) {
				ring_settle(q, STRATA_EINTERNAL);
				r->fin[r->nfin++] = q;
				inflight--;
				finished++;
				continue;
			}
			ring_prep(sqe, q);
		}
		io_uring_cq_advance(&r->ring, seen);
	}
	ring_account_settled(r, now_ns);

	for (size_t i = 0; i < n; i++)
		if (reqs[i].result)
			return reqs[i].result;
	return 0;
}
