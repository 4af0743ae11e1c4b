/*
 * core/file.h — the one file layer.
 *
 * Every file core touches (data file, WAL, SSTables, tier segments, columnar
 * chunks, manifests) is opened, read, written, synced and closed through
 * this module. It is the single place that
 *   - converts errno to STRATA_E* codes (at the syscall),
 *   - loops over short reads/writes and EINTR,
 *   - counts all I/O in core_stats()->io, a latency histogram per direction,
 *     per-second rate windows (IOPS, throughput) and a queue-depth gauge,
 *   - emits the storage.io events (ReadCompleted/WriteCompleted sampled,
 *     VectoredRead/VectoredWrite for every vectored call, IoAlert on a
 *     threshold crossing),
 *   - enforces the fsync-failure rule: after a failed fsync the page cache
 *     state of the file is unknown (PostgreSQL's "fsyncgate"), so the file is
 *     marked failed and every later write or sync of it returns
 *     STRATA_EREAD_ONLY until it is closed and reopened (after recovery),
 *   - injects faults for tests (file_fault_inject).
 *
 * Errors common to the I/O functions (each function lists the others):
 *   STRATA_EIO           the OS failed the I/O (EIO and anything unmapped)
 *   STRATA_ENOSPC        no space (ENOSPC, EDQUOT)
 *   STRATA_EREAD_ONLY    write/sync on a file marked failed by an fsync error
 *   STRATA_EBAD_REQUEST  bad arguments (NULL, write to a FILE_RDONLY file,
 *                        misaligned O_DIRECT I/O: EINVAL from the kernel)
 * A function that returns an error may have transferred part of the data
 * (e.g. a write that failed half-way): the bytes in the file/buffer for that
 * range are then unspecified.
 *
 * Thread-safety: an sfile may be used by any number of threads at once for
 * positional I/O (pread/pwrite/preadv/pwritev/sync/size/allocate); the
 * layer has no file position. file_close() must not race with any other use
 * of the same sfile. Statistics, thresholds and fault injection are global
 * (process-wide) and safe from any thread. A file_ring is used by one thread
 * at a time (callers serialise, e.g. with a mutex).
 */
#ifndef STRATA_CORE_FILE_H
#define STRATA_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sfile;

/* file_open flags. */
enum {
	FILE_CREATE = 1 << 0, /* create if missing (mode 0600) */
	FILE_DIRECT = 1 << 1, /* O_DIRECT: buffers, lengths and offsets must be
			       * aligned to FILE_DIRECT_ALIGN */
	FILE_RDONLY = 1 << 2, /* open read-only; writes are STRATA_EBAD_REQUEST */
	FILE_EXCL = 1 << 3,   /* with FILE_CREATE: fail if it exists */
	FILE_TRUNC = 1 << 4,  /* truncate to 0 on open (write-new-then-rename) */
};

/* Alignment that satisfies O_DIRECT on every Linux file system we run on. */
#define FILE_DIRECT_ALIGN 4096u

/*
 * Opens path. kind ("data", "wal", "sst", ...) names the file's role in logs
 * and is copied (at most 15 bytes kept); NULL means "file".
 * On success *out owns the descriptor until file_close().
 *   STRATA_ENOT_FOUND    path does not exist and FILE_CREATE not given
 *   STRATA_ECONFLICT     FILE_CREATE|FILE_EXCL and path exists
 *   STRATA_EBAD_REQUEST  bad flags, or the file system refuses O_DIRECT
 *                        (tmpfs: EINVAL)
 *   STRATA_ENOMEM, STRATA_EIO (permissions and everything else)
 */
int file_open(struct sfile **out, const char *path, int flags, const char *kind);

/* Closes and frees f (always, even on error). Does not sync.
 *   STRATA_EIO           close(2) reported a deferred write error */
int file_close(struct sfile *f);

/* Declares that f is addressed in pages of page_size bytes, so single
 * page-sized reads and writes emit ReadCompleted/WriteCompleted with
 * page_id = offset / page_size, and vectored events count pages. 0 (the
 * default) means not page-addressed: no per-op events. Call before sharing f. */
void file_set_page_size(struct sfile *f, size_t page_size);

/* Path and kind given at open; descriptor (for diagnostics only: all I/O
 * must go through this layer). */
const char *file_path(const struct sfile *f);
const char *file_kind(const struct sfile *f);
int file_fd(const struct sfile *f);

/* Whether f was marked failed by an fsync error (see above). */
bool file_is_failed(const struct sfile *f);

/* Reads exactly len bytes at off into buf, looping over short reads.
 *   STRATA_ENOT_FOUND    the file ends before off + len; the bytes of buf
 *                        past the end of the file are zeroed. */
int file_pread(struct sfile *f, void *buf, size_t len, uint64_t off);

/* Reads up to len bytes at off, stopping early only at end of file; *got
 * receives the count (always set; 0 on error). */
int file_pread_upto(struct sfile *f, void *buf, size_t len, uint64_t off, size_t *got);

/* Writes exactly len bytes at off, looping over short writes. */
int file_pwrite(struct sfile *f, const void *buf, size_t len, uint64_t off);

/* Scatter/gather versions: iovcnt >= 1 (any count; calls above IOV_MAX are
 * split). iov is not modified. Counted as one op each in reads/writes (plus
 * vectored_reads/vectored_writes), whatever the number of syscalls.
 * file_preadv: STRATA_ENOT_FOUND as file_pread (remaining bytes zeroed). */
int file_preadv(struct sfile *f, const struct iovec *iov, int iovcnt, uint64_t off);
int file_pwritev(struct sfile *f, const struct iovec *iov, int iovcnt, uint64_t off);

/* fdatasync(2). On failure f is marked failed (later writes and syncs:
 * STRATA_EREAD_ONLY) and the error is returned. */
int file_sync(struct sfile *f);

/* fsyncs the directory at dir_path, making a create or rename in it
 * durable. Not counted as a file op. STRATA_ENOT_FOUND, STRATA_EIO. */
int file_sync_dir(const char *dir_path);

/* Current size in bytes. */
int file_size(struct sfile *f, uint64_t *size);

/* Sets the size (ftruncate). */
int file_truncate(struct sfile *f, uint64_t size);

/* Reserves [off, off + len) (posix_fallocate); the file grows if needed and
 * the new range reads as zeros. STRATA_ENOSPC when the space is not there. */
int file_allocate(struct sfile *f, uint64_t off, uint64_t len);

/* Deallocates [off, off + len) without changing the size: the range reads as
 * zeros afterwards (fallocate PUNCH_HOLE; where the file system cannot, the
 * range is overwritten with zeros, which counts as a write). */
int file_punch_hole(struct sfile *f, uint64_t off, uint64_t len);

/* ---- read-only mappings ---------------------------------------------------- */

/*
 * A read-only shared mapping of the first len bytes of a file that does not
 * change while mapped (an SSTable: written once, then only read). A read
 * copies the bytes out of the page cache: no syscall, one memcpy. Each
 * file_map_read
 *   - is checked against the fault table as a FILE_OP_READ of the file's
 *     path (FILE_FAULT_ERROR and FILE_FAULT_TORN fail it with their errno and
 *     copy nothing; FILE_FAULT_SHORT has nothing to shorten: no effect),
 *   - counts as one read of len bytes in core_stats()->io (latency: the
 *     copy, page faults included; no queue-depth change) and emits
 *     ReadCompleted like file_pread would.
 * The mapping stays valid after the file is unlinked or replaced by a
 * rename; it must be unmapped before f is closed.
 *
 * Disk errors and truncation: a page that cannot be read (an I/O error of
 * the device during the page-in, or the file truncated under the mapping by
 * someone else) raises SIGBUS on the reading thread. The layer hands out no
 * pointers into the mapping; every byte leaves it through file_map_read's
 * copy, which runs under a per-thread guard, so such a read returns
 * STRATA_EIO and the process carries on.
 *
 * Signal handler (process-wide side effect): the first file_map() (or
 * file_map_guard_install()) installs a SIGBUS handler with sigaction
 * (SA_SIGINFO | SA_NODEFER | SA_ONSTACK). A SIGBUS that does not hit a
 * guarded copy is passed to the handler that was installed before it or,
 * if that was SIG_DFL/SIG_IGN, kills the process with SIGBUS as before:
 * real bugs still crash. A program that installs its own SIGBUS handler
 * afterwards must chain to the previous one, or mapped reads will crash on
 * disk errors again.
 *
 * Thread-safety: file_map_read may be called from any number of threads.
 */
struct file_map;

/* Installs the SIGBUS guard's handler (once per process; later calls return
 * the first result). file_map() calls it; a program that wants the handler
 * in place before starting threads or installing its own may call it first.
 *   STRATA_EIO etc.      sigaction failed (file_map then maps nothing) */
int file_map_guard_install(void);

/* Maps [0, len) of f read-only (len > 0, at most the file's size).
 *   STRATA_EBAD_REQUEST  f NULL, len 0, or a FILE_DIRECT file
 *   STRATA_ENOMEM        no address space (mmap ENOMEM), or malloc
 *   STRATA_EIO           anything else mmap refuses, or the SIGBUS handler
 *                        could not be installed */
int file_map(struct sfile *f, uint64_t len, struct file_map **out);

/* Copies the bytes [off, off + len) of the mapping into buf.
 *   STRATA_ENOT_FOUND    the range is not inside the mapping (nothing
 *                        counted, nothing copied)
 *   STRATA_EIO           a page of the range could not be read (SIGBUS:
 *                        device error, file truncated under the mapping);
 *                        buf is then partly written
 *   STRATA_EBAD_REQUEST  m NULL, or buf NULL with len > 0
 *   injected faults as above (buf untouched). */
int file_map_read(struct file_map *m, uint64_t off, size_t len, void *buf);

/* Mapped length. */
uint64_t file_map_len(const struct file_map *m);

/* Unmaps and frees m. NULL is a no-op. */
void file_unmap(struct file_map *m);

/* ---- io_uring ------------------------------------------------------------ */

struct file_ring;

/* One request for file_ring_run(). The caller fills file, op, buf, len, off;
 * the ring sets result. Fields after `result` are the ring's. */
enum file_op {
	FILE_OP_READ = 1 << 0,
	FILE_OP_WRITE = 1 << 1,
	FILE_OP_SYNC = 1 << 2,
	FILE_OP_ALLOCATE = 1 << 3, /* fault injection only: file_allocate,
				    * file_truncate, file_punch_hole */
};

struct file_io {
	struct sfile *file;
	int op;          /* FILE_OP_READ or FILE_OP_WRITE */
	void *buf;
	size_t len;
	uint64_t off;
	int result;      /* out: 0 or a negative STRATA_E* (as file_pread/pwrite) */
	/* private */
	size_t done_;
	uint64_t start_ns_;
	int fault_;
	size_t fault_len_;
	int fault_err_;
};

/* Creates an io_uring with depth submission entries (1..4096).
 *   STRATA_EUNAVAILABLE  the kernel or a seccomp policy refuses io_uring
 *                        (errno is left set to the reason)
 *   STRATA_EBAD_REQUEST  depth out of range
 *   STRATA_ENOMEM */
int file_ring_open(struct file_ring **out, unsigned depth);

/* Frees the ring (waits for nothing: file_ring_run never returns with
 * requests in flight). NULL is a no-op. */
void file_ring_close(struct file_ring *r);

unsigned file_ring_depth(const struct file_ring *r);

/* Runs the n requests keeping up to depth in flight (new ones are submitted
 * as others complete), resubmitting the remainder of short transfers, and
 * returns when every one has completed. Each request is counted and
 * evented like file_pread/file_pwrite, plus core_stats()->io.uring_ops.
 * Returns 0 if every result is 0, else the first non-zero result in array
 * order.
 *   STRATA_EUNAVAILABLE  the ring broke earlier (a hard io_uring_enter
 *                        error); no request was started: use the fallback */
int file_ring_run(struct file_ring *r, struct file_io *reqs, size_t n);

/* ---- statistics ---------------------------------------------------------- */

struct io_stats_snapshot {
	uint64_t reads, writes;             /* ops (a vectored call is one op) */
	uint64_t bytes_read, bytes_written;
	uint64_t vectored_reads, vectored_writes;
	uint64_t fsyncs, errors, uring_ops, checksum_failures;
	uint64_t read_lat_avg_us, read_lat_p50_us, read_lat_p95_us, read_lat_p99_us,
		read_lat_max_us;
	uint64_t write_lat_avg_us, write_lat_p50_us, write_lat_p95_us, write_lat_p99_us,
		write_lat_max_us;
	double read_iops, write_iops, iops;  /* over the last RATE_WINDOW_SECS */
	double read_mbps, write_mbps;        /* MiB/s over the same window */
	uint64_t queue_depth;                /* ops submitted, not completed */
	bool uring_enabled;
};

/* Fills *s from core_stats()->io and the layer's histograms and windows.
 * Any thread; the fields are read without a lock (see shm/stats.h). */
void file_stats_snapshot(struct io_stats_snapshot *s);

/* Zeroes the counters of core_stats()->io (not the gauges queue_depth and
 * uring_enabled), the histograms and the rate windows. */
void file_stats_reset(void);

/* IoAlert thresholds (0 = off), process-wide. An alert is emitted (emit_rare)
 * when a value crosses from at-or-below its threshold to above it: the queue
 * depth when an op is submitted, one op's latency (µs) when it completes, the
 * total IOPS over the window when an op completes. It re-arms once the value
 * is back at or below the threshold. */
void file_set_alert_thresholds(uint64_t queue_depth, uint64_t latency_us, uint64_t iops);

/* ---- fault injection (tests) --------------------------------------------- */

enum file_fault_kind {
	FILE_FAULT_ERROR, /* the op fails with errnum; nothing is transferred */
	FILE_FAULT_SHORT, /* the first syscall of the op transfers at most
			   * partial_len bytes; the layer must loop (read, write) */
	FILE_FAULT_TORN,  /* the first syscall writes/reads partial_len bytes,
			   * then the op fails with errnum: a crash mid-write */
};

#define FILE_FAULT_FOREVER 0xffffffffu

struct file_fault {
	unsigned ops;              /* mask of FILE_OP_* the rule matches */
	const char *path_contains; /* only files whose path contains this
				    * (copied, < 256 bytes); NULL = every file */
	unsigned nth;              /* the nth matching op fires (1 = the next; 0 = 1) */
	unsigned times;            /* it and the next times-1 matching ops fire
				    * (0 = 1; FILE_FAULT_FOREVER = all) */
	enum file_fault_kind kind;
	int errnum;                /* errno for ERROR/TORN: EIO, ENOSPC, ... (0 = EIO) */
	size_t partial_len;        /* SHORT/TORN: bytes of the first syscall */
};

/* Adds a rule (up to 8 at once). Rules are checked in the order added; one
 * op fires at most one rule. A fired SYNC fault marks the file failed as a
 * real fsync error does. Checking costs one relaxed load while no rule is
 * armed. STRATA_EBUSY (table full), STRATA_EBAD_REQUEST (bad rule). */
int file_fault_inject(const struct file_fault *f);

/* Removes every rule. */
void file_fault_clear(void);

/* How many ops a fault rule has fired on since the last file_fault_clear. */
uint64_t file_fault_fired(void);

#endif
