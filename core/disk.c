/*
 * core/disk.c — the disk manager. See disk.h for the contract, the file
 * formats and the locks.
 *
 * Invariants (alloc_lock held):
 *   1. num_pages * page_size <= size of data.db; ids 1..num_pages-1 exist.
 *   2. free_ids[0..free_n) are distinct, each in [1, num_pages), and
 *      exactly those ids have their bit set in free_bits.
 *   3. free_gen changes whenever free_ids does; the free list on disk is
 *      current when free_gen == free_gen_persisted (flush_lock).
 * Invariants (coalesce_lock held):
 *   4. co[0..co_n) hold distinct ids, each a valid page whose checksum is
 *      already computed; co_count == co_n.
 *   5. While a page has an entry in co, no one else writes that page
 *      through the disk: disk_write_page, disk_free_page and the vectored
 *      and async writes remove the entry first.
 *
 * Page read outcomes (verify_page):
 *   checksum ok, formatted, own id     -> 0
 *   checksum bad, all bytes zero       -> STRATA_ENOT_FOUND (never written)
 *   checksum bad, some byte non-zero   -> STRATA_ECORRUPT + ChecksumFailure
 *   checksum ok, header bad or id != requested -> STRATA_ECORRUPT
 */
#include "core/disk.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/page.h"
#include "core/stats.h"
#include "strata/error.h"

#define RLX memory_order_relaxed

#define DATA_FILE "data.db"
#define FREE_FILE "data.free"
#define FREE_TMP "data.free.tmp"

/* Header page: record 0 of page 0. */
#define HDR_MAGIC "STRATADB"
#define HDR_REC_LEN 24u
#define HDR_PAGE_FLAGS 0x4844u /* "DH": disk header */

/* data.free layout (little-endian). */
#define FL_MAGIC "STRFREE1"
#define FL_HDR 32u

struct coalesce_entry {
	uint64_t id;
	void *buf; /* aligned page copy, checksum computed; kept for reuse */
};

struct async_op {
	uint64_t seq;
	int priority;
	int op; /* FILE_OP_READ / FILE_OP_WRITE */
	uint64_t id;
	void *buf;
	disk_async_cb cb;
	void *arg;
};

struct disk_ctr {
	_Atomic uint64_t pages_read, pages_written, read_calls, write_calls;
	_Atomic uint64_t preadv_calls, pwritev_calls, coalesced_pages, coalesced_calls;
	_Atomic uint64_t coalesce_saved_syscalls, coalesce_read_hits, uring_batches, uring_pages;
	_Atomic uint64_t async_completed, bounced, corrupt_pages;
};

struct disk {
	struct sfile *file;
	char *dir;
	size_t page_size;
	unsigned flags;
	_Atomic uint64_t num_pages; /* written under alloc_lock */

	pthread_mutex_t alloc_lock;
	uint64_t *free_ids;   /* stack: last freed on top */
	size_t free_n, free_cap;
	uint8_t *free_bits;   /* bit per page id: on the free list */
	uint64_t bits_cap;    /* pages the bitmap covers */
	uint64_t free_gen;
	_Atomic uint64_t free_count;

	pthread_mutex_t flush_lock;
	uint64_t free_gen_persisted;

	pthread_mutex_t coalesce_lock;
	struct coalesce_entry *co;
	size_t co_n, co_max;
	_Atomic size_t co_count;

	pthread_mutex_t ring_lock;
	struct file_ring *ring; /* NULL: pread/pwrite fallback */

	pthread_mutex_t async_lock;
	struct async_op *heap;
	size_t heap_n, heap_cap;
	uint64_t async_seq;
	_Atomic size_t async_count;

	struct disk_ctr ctr;
};

/* ---- small helpers ------------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}
static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void *aligned_page(size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, FILE_DIRECT_ALIGN, size) != 0)
		return NULL;
	return p;
}

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static bool all_zero(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static bool needs_bounce(const struct disk *d, const void *buf)
{
	return (d->flags & DISK_DIRECT) && ((uintptr_t)buf % FILE_DIRECT_ALIGN) != 0;
}

static bool id_valid(const struct disk *d, uint64_t id)
{
	return id >= DISK_FIRST_PAGE && id < atomic_load_explicit(&d->num_pages, RLX);
}

/* A page the disk may write as page id. */
static bool page_writable(const struct disk *d, uint64_t id, const void *buf)
{
	return id_valid(d, id) && page_is_formatted(buf, d->page_size) && page_id(buf) == id;
}

static void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, RLX);
}

/* ---- verification ----------------------------------------------------------------- */

static void emit_checksum_failure(uint64_t id, uint32_t stored, uint32_t computed)
{
	struct strata_event ev = {.variant = STRATA_EV_ChecksumFailure};
	int64_t now = clock_wall_us();
	ev.ts_us = now;
	ev.u.ChecksumFailure.page_id = id;
	ev.u.ChecksumFailure.expected = stored;
	ev.u.ChecksumFailure.actual = computed;
	ev.u.ChecksumFailure.timestamp = now / 1000000;
	(void)emit_rare(&ev);
}

/* Checks a page just read as id; see the table at the top. */
static int verify_page(struct disk *d, uint64_t id, void *buf)
{
	uint32_t stored = 0, computed = 0;

	if (page_checksum_ok(buf, d->page_size, &stored, &computed)) {
		if (page_is_formatted(buf, d->page_size) && page_id(buf) == id)
			return 0;
		/* A sound page, but not this one (misdirected write) or not a
		 * page at all: corrupt, though no checksum failed. */
		memset(buf, 0, d->page_size);
		stat_add(&core_stats()->io.checksum_failures, 1);
		ctr_add(&d->ctr.corrupt_pages, 1);
		return STRATA_ECORRUPT;
	}
	if (all_zero(buf, d->page_size))
		return STRATA_ENOT_FOUND;
	memset(buf, 0, d->page_size);
	stat_add(&core_stats()->io.checksum_failures, 1);
	ctr_add(&d->ctr.corrupt_pages, 1);
	emit_checksum_failure(id, stored, computed);
	return STRATA_ECORRUPT;
}

/* ---- coalescing buffer lookups ----------------------------------------------------- */

/* Copies a buffered page into buf; true if there was one. */
static bool coalesce_lookup(struct disk *d, uint64_t id, void *buf)
{
	if (atomic_load_explicit(&d->co_count, memory_order_acquire) == 0)
		return false;
	bool found = false;
	pthread_mutex_lock(&d->coalesce_lock);
	for (size_t i = 0; i < d->co_n; i++)
		if (d->co[i].id == id) {
			memcpy(buf, d->co[i].buf, d->page_size);
			found = true;
			break;
		}
	pthread_mutex_unlock(&d->coalesce_lock);
	if (found)
		ctr_add(&d->ctr.coalesce_read_hits, 1);
	return found;
}

/* Discards a buffered copy of id (a newer write or a free supersedes it). */
static void coalesce_drop(struct disk *d, uint64_t id)
{
	if (atomic_load_explicit(&d->co_count, memory_order_acquire) == 0)
		return;
	pthread_mutex_lock(&d->coalesce_lock);
	for (size_t i = 0; i < d->co_n; i++)
		if (d->co[i].id == id) {
			struct coalesce_entry t = d->co[i];
			d->co[i] = d->co[d->co_n - 1];
			d->co[d->co_n - 1] = t; /* keep its buffer for reuse */
			d->co_n--;
			atomic_store_explicit(&d->co_count, d->co_n, memory_order_release);
			break;
		}
	pthread_mutex_unlock(&d->coalesce_lock);
}

/* ---- header page and free list file --------------------------------------------- */

static int header_create(struct disk *d)
{
	size_t ps = d->page_size;
	uint8_t rec[HDR_REC_LEN];
	int rc;

	void *buf = aligned_page(ps);
	if (!buf)
		return STRATA_ENOMEM;
	memcpy(rec, HDR_MAGIC, 8);
	put_le32(rec + 8, DISK_FORMAT_VERSION);
	put_le32(rec + 12, (uint32_t)ps);
	put_le64(rec + 16, (uint64_t)clock_wall_us());
	page_init(buf, ps, 0);
	page_set_flags(buf, HDR_PAGE_FLAGS);
	rc = page_insert_record(buf, ps, rec, sizeof(rec), NULL);
	if (rc)
		goto out_free;
	page_checksum_update(buf, ps);
	rc = file_pwrite(d->file, buf, ps, 0);
	if (rc)
		goto out_free;
	rc = file_sync(d->file);
	if (rc)
		goto out_free;
	rc = file_sync_dir(d->dir); /* the new file's name */
out_free:
	free(buf);
	return rc;
}

/* Reads and checks the header page; *stored_ps receives its page size. */
static int header_read(struct sfile *f, size_t *stored_ps)
{
	uint8_t *buf = aligned_page(PAGE_SIZE_MAX);
	size_t got = 0;
	int rc;

	if (!buf)
		return STRATA_ENOMEM;
	rc = file_pread_upto(f, buf, PAGE_SIZE_MIN, 0, &got);
	if (rc)
		goto out;
	rc = STRATA_ECORRUPT;
	if (got < PAGE_HEADER_SIZE || get_le32(buf + PAGE_OFF_MAGIC) != PAGE_MAGIC)
		goto out;
	unsigned shift = buf[PAGE_OFF_SHIFT];
	if (shift < 12 || shift > 16)
		goto out;
	size_t ps = (size_t)1 << shift;
	if (!page_size_valid(ps))
		goto out;
	if (got < ps) {
		rc = file_pread_upto(f, buf, ps, 0, &got);
		if (rc)
			goto out;
		rc = STRATA_ECORRUPT;
		if (got < ps)
			goto out;
	}
	if (!page_checksum_ok(buf, ps, NULL, NULL) || !page_is_formatted(buf, ps) ||
	    page_id(buf) != 0)
		goto out;
	const void *rec;
	size_t len;
	if (page_get_record(buf, ps, 0, &rec, &len) != 0 || len < HDR_REC_LEN)
		goto out;
	const uint8_t *r = rec;
	if (memcmp(r, HDR_MAGIC, 8) != 0 || get_le32(r + 8) != DISK_FORMAT_VERSION ||
	    get_le32(r + 12) != ps)
		goto out;
	*stored_ps = ps;
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Makes room in the bitmap for ids < pages. Under alloc_lock (or at open). */
static int bits_reserve(struct disk *d, uint64_t pages)
{
	if (pages <= d->bits_cap)
		return 0;
	uint64_t cap = d->bits_cap ? d->bits_cap : 1024;
	while (cap < pages)
		cap *= 2;
	uint8_t *b = realloc(d->free_bits, (size_t)(cap / 8));
	if (!b)
		return STRATA_ENOMEM;
	memset(b + d->bits_cap / 8, 0, (size_t)((cap - d->bits_cap) / 8));
	d->free_bits = b;
	d->bits_cap = cap;
	return 0;
}

static bool bit_get(const struct disk *d, uint64_t id)
{
	return id < d->bits_cap && (d->free_bits[id / 8] >> (id % 8)) & 1u;
}
static void bit_set(struct disk *d, uint64_t id, bool on)
{
	if (on)
		d->free_bits[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		d->free_bits[id / 8] &= (uint8_t)~(1u << (id % 8));
}

static int free_push(struct disk *d, uint64_t id)
{
	if (d->free_n == d->free_cap) {
		size_t cap = d->free_cap ? d->free_cap * 2 : 256;
		uint64_t *p = realloc(d->free_ids, cap * sizeof(*p));
		if (!p)
			return STRATA_ENOMEM;
		d->free_ids = p;
		d->free_cap = cap;
	}
	d->free_ids[d->free_n++] = id;
	bit_set(d, id, true);
	atomic_store_explicit(&d->free_count, d->free_n, RLX);
	return 0;
}

static uint32_t freelist_crc(const uint8_t *hdr, const uint64_t *ids_le, size_t n)
{
	uint32_t c = crc32c(0, hdr, 24);
	return crc32c(c, ids_le, n * 8);
}

/* Loads data.free (at open; num_pages known). Missing file: empty list. */
static int freelist_load(struct disk *d)
{
	char *path = path_join(d->dir, FREE_FILE);
	struct sfile *f = NULL;
	uint8_t *buf = NULL;
	uint64_t size;
	int rc;

	if (!path)
		return STRATA_ENOMEM;
	rc = file_open(&f, path, FILE_RDONLY, "freelist");
	if (rc == STRATA_ENOT_FOUND) {
		rc = 0;
		goto out_path;
	}
	if (rc)
		goto out_path;
	rc = file_size(f, &size);
	if (rc)
		goto out_close;
	rc = STRATA_ECORRUPT;
	if (size < FL_HDR || (size - FL_HDR) % 8 != 0 || size > ((uint64_t)1 << 40))
		goto out_close;
	buf = malloc((size_t)size);
	if (!buf) {
		rc = STRATA_ENOMEM;
		goto out_close;
	}
	rc = file_pread(f, buf, (size_t)size, 0);
	if (rc == STRATA_ENOT_FOUND)
		rc = STRATA_ECORRUPT; /* shrank under us */
	if (rc)
		goto out_buf;
	rc = STRATA_ECORRUPT;
	uint64_t count = get_le64(buf + 16);
	if (memcmp(buf, FL_MAGIC, 8) != 0 || get_le32(buf + 8) != DISK_FORMAT_VERSION ||
	    get_le32(buf + 12) != d->page_size || count != (size - FL_HDR) / 8 ||
	    get_le32(buf + 24) != freelist_crc(buf, (const uint64_t *)(buf + FL_HDR), (size_t)count))
		goto out_buf;
	rc = 0;
	uint64_t pages = atomic_load(&d->num_pages);
	for (uint64_t i = 0; i < count && rc == 0; i++) {
		uint64_t id = get_le64(buf + FL_HDR + 8 * i);
		/* Beyond the file (extension not durable) or repeated: drop. */
		if (id < DISK_FIRST_PAGE || id >= pages || bit_get(d, id))
			continue;
		rc = free_push(d, id);
	}
out_buf:
	free(buf);
out_close: {
	int crc = file_close(f);
	if (rc == 0)
		rc = crc;
}
out_path:
	free(path);
	return rc;
}

/* Writes ids as the new data.free: tmp file, fsync, rename, dir fsync. */
static int freelist_write(struct disk *d, const uint64_t *ids, size_t n)
{
	char *tmp = path_join(d->dir, FREE_TMP);
	char *dst = path_join(d->dir, FREE_FILE);
	struct sfile *f = NULL;
	uint8_t *buf = NULL;
	size_t size = FL_HDR + 8 * n;
	int rc = STRATA_ENOMEM;

	if (!tmp || !dst)
		goto out_paths;
	buf = calloc(1, size);
	if (!buf)
		goto out_paths;
	memcpy(buf, FL_MAGIC, 8);
	put_le32(buf + 8, DISK_FORMAT_VERSION);
	put_le32(buf + 12, (uint32_t)d->page_size);
	put_le64(buf + 16, n);
	for (size_t i = 0; i < n; i++)
		put_le64(buf + FL_HDR + 8 * i, ids[i]);
	put_le32(buf + 24, freelist_crc(buf, (const uint64_t *)(buf + FL_HDR), n));

	rc = file_open(&f, tmp, FILE_CREATE | FILE_TRUNC, "freelist");
	if (rc)
		goto out_buf;
	rc = file_pwrite(f, buf, size, 0);
	if (rc)
		goto out_close;
	rc = file_sync(f);
	if (rc)
		goto out_close;
	rc = file_close(f);
	f = NULL;
	if (rc)
		goto out_unlink;
	if (rename(tmp, dst) != 0) {
		rc = strata_err_from_errno(errno);
		goto out_unlink;
	}
	rc = file_sync_dir(d->dir);
	goto out_buf;

out_close:
	(void)file_close(f);
out_unlink:
	(void)unlink(tmp);
out_buf:
	free(buf);
out_paths:
	free(tmp);
	free(dst);
	return rc;
}

/* ---- open / close ---------------------------------------------------------------------- */

int disk_probe_page_size(const char *dir, size_t *page_size)
{
	if (!dir || !page_size)
		return STRATA_EBAD_REQUEST;
	char *path = path_join(dir, DATA_FILE);
	if (!path)
		return STRATA_ENOMEM;
	struct sfile *f;
	int rc = file_open(&f, path, FILE_RDONLY, "data");
	free(path);
	if (rc)
		return rc;
	rc = header_read(f, page_size);
	int crc = file_close(f);
	return rc ? rc : crc;
}

static atomic_flag uring_warned = ATOMIC_FLAG_INIT;

static void ring_setup(struct disk *d, unsigned depth)
{
	if (d->flags & DISK_NO_URING) {
		stat_set(&core_stats()->io.uring_enabled, 0);
		return;
	}
	int rc = file_ring_open(&d->ring, depth);
	if (rc == 0) {
		stat_set(&core_stats()->io.uring_enabled, 1);
		return;
	}
	int why = errno;
	d->ring = NULL;
	stat_set(&core_stats()->io.uring_enabled, 0);
	if (!atomic_flag_test_and_set(&uring_warned))
		fprintf(stderr, "strata: io_uring unavailable (%s); disk I/O falls back to "
				"pread/pwrite\n", strerror(why));
}

int disk_open(struct disk **out, const char *dir, size_t page_size, unsigned flags)
{
	struct disk_config cfg = {.page_size = page_size, .flags = flags};
	return disk_open_config(out, dir, &cfg);
}

int disk_open_config(struct disk **out, const char *dir, const struct disk_config *cfg)
{
	int rc;

	if (!out || !dir || !cfg || !page_size_valid(cfg->page_size) ||
	    (cfg->flags & ~(unsigned)(DISK_DIRECT | DISK_NO_URING)) || cfg->uring_depth > 4096)
		return STRATA_EBAD_REQUEST;

	struct disk *d = calloc(1, sizeof(*d));
	if (!d)
		return STRATA_ENOMEM;
	d->page_size = cfg->page_size;
	d->flags = cfg->flags;
	d->co_max = cfg->coalesce_max ? cfg->coalesce_max : DISK_COALESCE_MAX_DEFAULT;
	pthread_mutex_init(&d->alloc_lock, NULL);
	pthread_mutex_init(&d->flush_lock, NULL);
	pthread_mutex_init(&d->coalesce_lock, NULL);
	pthread_mutex_init(&d->ring_lock, NULL);
	pthread_mutex_init(&d->async_lock, NULL);

	rc = STRATA_ENOMEM;
	d->dir = strdup(dir);
	if (!d->dir)
		goto fail_disk;
	d->co = calloc(d->co_max, sizeof(*d->co));
	if (!d->co)
		goto fail_dir;

	char *path = path_join(dir, DATA_FILE);
	if (!path)
		goto fail_co;
	rc = file_open(&d->file, path, FILE_CREATE | ((d->flags & DISK_DIRECT) ? FILE_DIRECT : 0),
		       "data");
	free(path);
	if (rc)
		goto fail_co;
	file_set_page_size(d->file, d->page_size);

	uint64_t size;
	rc = file_size(d->file, &size);
	if (rc)
		goto fail_file;
	if (size == 0) {
		rc = header_create(d);
	} else {
		size_t stored = 0;
		rc = header_read(d->file, &stored);
		if (rc == STRATA_ECORRUPT && size <= d->page_size) {
			/* A header whose creation was cut short; there are no
			 * data pages to lose. Start again. */
			rc = file_truncate(d->file, 0);
			if (rc == 0)
				rc = header_create(d);
			size = 0;
		} else if (rc == 0 && stored != d->page_size) {
			rc = STRATA_EBAD_REQUEST;
		}
	}
	if (rc)
		goto fail_file;
	atomic_init(&d->num_pages, size > d->page_size ? size / d->page_size : 1);

	rc = bits_reserve(d, atomic_load(&d->num_pages));
	if (rc)
		goto fail_file;
	rc = freelist_load(d);
	if (rc)
		goto fail_free;
	d->free_gen = d->free_gen_persisted = 0;

	ring_setup(d, cfg->uring_depth ? cfg->uring_depth : DISK_URING_DEPTH_DEFAULT);
	*out = d;
	return 0;

fail_free:
	free(d->free_ids);
	free(d->free_bits);
fail_file:
	(void)file_close(d->file);
fail_co:
	free(d->co);
fail_dir:
	free(d->dir);
fail_disk:
	pthread_mutex_destroy(&d->async_lock);
	pthread_mutex_destroy(&d->ring_lock);
	pthread_mutex_destroy(&d->coalesce_lock);
	pthread_mutex_destroy(&d->flush_lock);
	pthread_mutex_destroy(&d->alloc_lock);
	free(d);
	return rc;
}

int disk_close(struct disk *d)
{
	if (!d)
		return 0;
	while (disk_process_async_ops(d, SIZE_MAX) > 0)
		;
	int rc = disk_flush(d);

	file_ring_close(d->ring);
	int crc = file_close(d->file);
	if (rc == 0)
		rc = crc;

	for (size_t i = 0; i < d->co_max; i++)
		free(d->co[i].buf);
	free(d->co);
	free(d->heap);
	free(d->free_ids);
	free(d->free_bits);
	free(d->dir);
	pthread_mutex_destroy(&d->async_lock);
	pthread_mutex_destroy(&d->ring_lock);
	pthread_mutex_destroy(&d->coalesce_lock);
	pthread_mutex_destroy(&d->flush_lock);
	pthread_mutex_destroy(&d->alloc_lock);
	free(d);
	return rc;
}

size_t disk_page_size(const struct disk *d) { return d->page_size; }

uint64_t disk_num_pages(const struct disk *d)
{
	return atomic_load_explicit(&((struct disk *)d)->num_pages, RLX);
}

uint64_t disk_free_count(const struct disk *d)
{
	return atomic_load_explicit(&((struct disk *)d)->free_count, RLX);
}

bool disk_uring_enabled(const struct disk *d) { return d->ring != NULL; }

bool disk_is_read_only(const struct disk *d) { return file_is_failed(d->file); }

/* ---- single pages ------------------------------------------------------------------------- */

int disk_read_page(struct disk *d, uint64_t id, void *buf)
{
	if (!d || !buf || !id_valid(d, id))
		return STRATA_EBAD_REQUEST;
	if (coalesce_lookup(d, id, buf))
		return 0;

	void *io = buf;
	if (needs_bounce(d, buf)) {
		io = aligned_page(d->page_size);
		if (!io)
			return STRATA_ENOMEM;
		ctr_add(&d->ctr.bounced, 1);
	}
	int rc = file_pread(d->file, io, d->page_size, id * d->page_size);
	ctr_add(&d->ctr.read_calls, 1);
	if (rc == 0 || rc == STRATA_ENOT_FOUND) { /* past the end: zeros */
		if (io != buf)
			memcpy(buf, io, d->page_size);
		ctr_add(&d->ctr.pages_read, 1);
		rc = verify_page(d, id, buf);
	}
	if (io != buf)
		free(io);
	return rc;
}

int disk_write_page(struct disk *d, uint64_t id, void *buf)
{
	if (!d || !buf || !page_writable(d, id, buf))
		return STRATA_EBAD_REQUEST;
	coalesce_drop(d, id);
	page_checksum_update(buf, d->page_size);

	void *io = buf;
	if (needs_bounce(d, buf)) {
		io = aligned_page(d->page_size);
		if (!io)
			return STRATA_ENOMEM;
		memcpy(io, buf, d->page_size);
		ctr_add(&d->ctr.bounced, 1);
	}
	int rc = file_pwrite(d->file, io, d->page_size, id * d->page_size);
	ctr_add(&d->ctr.write_calls, 1);
	if (rc == 0)
		ctr_add(&d->ctr.pages_written, 1);
	if (io != buf)
		free(io);
	return rc;
}

/* ---- allocation --------------------------------------------------------------------------- */

int disk_allocate_page(struct disk *d, uint64_t *page_id_out)
{
	if (!d || !page_id_out)
		return STRATA_EBAD_REQUEST;

	uint64_t id;
	int rc = 0;
	pthread_mutex_lock(&d->alloc_lock);
	if (d->free_n > 0) {
		id = d->free_ids[--d->free_n];
		bit_set(d, id, false);
		d->free_gen++;
		atomic_store_explicit(&d->free_count, d->free_n, RLX);
	} else {
		id = atomic_load_explicit(&d->num_pages, RLX);
		rc = bits_reserve(d, id + 1);
		if (rc == 0)
			rc = file_allocate(d->file, id * d->page_size, d->page_size);
		if (rc == 0)
			atomic_store_explicit(&d->num_pages, id + 1, RLX);
	}
	pthread_mutex_unlock(&d->alloc_lock);
	if (rc)
		return rc;

	stat_add(&core_stats()->pages.allocated, 1);
	struct strata_event ev = {.variant = STRATA_EV_PageAllocated};
	int64_t now = clock_wall_us();
	ev.ts_us = now;
	ev.u.PageAllocated.page_id = id;
	ev.u.PageAllocated.size = d->page_size;
	ev.u.PageAllocated.timestamp = now / 1000000;
	(void)emit(&ev);
	*page_id_out = id;
	return 0;
}

int disk_ensure_page(struct disk *d, uint64_t id)
{
	if (!d || id < DISK_FIRST_PAGE || id >= (UINT64_MAX / d->page_size) - 1)
		return STRATA_EBAD_REQUEST;

	int rc = 0;
	pthread_mutex_lock(&d->alloc_lock);
	uint64_t n = atomic_load_explicit(&d->num_pages, RLX);
	if (id >= n) {
		rc = bits_reserve(d, id + 1);
		if (rc == 0)
			rc = file_allocate(d->file, n * d->page_size, (id + 1 - n) * d->page_size);
		if (rc == 0)
			atomic_store_explicit(&d->num_pages, id + 1, RLX);
	} else if (bit_get(d, id)) {
		size_t i = 0;
		while (d->free_ids[i] != id)
			i++; /* invariant 2: it is there */
		memmove(&d->free_ids[i], &d->free_ids[i + 1], (d->free_n - i - 1) * sizeof(uint64_t));
		d->free_n--;
		bit_set(d, id, false);
		d->free_gen++;
		atomic_store_explicit(&d->free_count, d->free_n, RLX);
	}
	pthread_mutex_unlock(&d->alloc_lock);
	return rc;
}

int disk_free_page(struct disk *d, uint64_t id)
{
	if (!d || !id_valid(d, id))
		return STRATA_EBAD_REQUEST;

	pthread_mutex_lock(&d->alloc_lock);
	bool already = bit_get(d, id);
	pthread_mutex_unlock(&d->alloc_lock);
	if (already)
		return STRATA_ECONFLICT;

	/* No buffered copy may land after the hole is punched. */
	coalesce_drop(d, id);
	int rc = file_punch_hole(d->file, id * d->page_size, d->page_size);
	if (rc)
		return rc;

	pthread_mutex_lock(&d->alloc_lock);
	if (bit_get(d, id)) {
		rc = STRATA_ECONFLICT; /* a concurrent free of the same page won */
	} else {
		rc = free_push(d, id);
		if (rc == 0)
			d->free_gen++;
	}
	pthread_mutex_unlock(&d->alloc_lock);
	return rc;
}

int disk_flush(struct disk *d)
{
	if (!d)
		return STRATA_EBAD_REQUEST;
	int rc = disk_flush_coalesced(d);
	if (rc)
		return rc;

	pthread_mutex_lock(&d->flush_lock);
	uint64_t *snap = NULL;
	size_t n = 0;
	uint64_t gen;
	pthread_mutex_lock(&d->alloc_lock);
	gen = d->free_gen;
	if (gen != d->free_gen_persisted) {
		n = d->free_n;
		snap = malloc((n ? n : 1) * sizeof(*snap));
		if (snap)
			memcpy(snap, d->free_ids, n * sizeof(*snap));
		else
			rc = STRATA_ENOMEM;
	}
	pthread_mutex_unlock(&d->alloc_lock);

	/* Free list first: a crash between the two leaks pages at worst, where
	 * the other order could hand a used page out twice (see disk.h). */
	if (snap) {
		rc = freelist_write(d, snap, n);
		if (rc == 0)
			d->free_gen_persisted = gen;
		free(snap);
	}
	if (rc == 0)
		rc = file_sync(d->file);
	pthread_mutex_unlock(&d->flush_lock);
	return rc;
}

/* ---- vectored I/O ----------------------------------------------------------------------------- */

struct vec_item {
	uint64_t id;
	size_t idx; /* position in the caller's arrays */
};

static int vec_item_cmp(const void *a, const void *b)
{
	const struct vec_item *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int first_error(const int *res, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (res[i])
			return res[i];
	return 0;
}

/*
 * Runs items[0..m) (sorted) as runs of consecutive ids, one pread/preadv or
 * pwrite/pwritev per run, and stores each page's result in res[idx].
 */
static int vec_runs(struct disk *d, int op, struct vec_item *items, size_t m, void **bufs,
		    int *res)
{
	size_t ps = d->page_size;
	size_t iov_cap = m < IOV_MAX ? m : IOV_MAX;
	struct iovec *iov = malloc(iov_cap * sizeof(*iov));
	void **bounce = calloc(iov_cap, sizeof(*bounce));
	int rc = 0;

	if (!iov || !bounce) {
		rc = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m;) {
		size_t j = i + 1;
		while (j < m && items[j].id == items[j - 1].id + 1 && j - i < IOV_MAX)
			j++;
		size_t cnt = j - i;

		for (size_t k = 0; k < cnt; k++) {
			void *b = bufs[items[i + k].idx];
			if (needs_bounce(d, b)) {
				bounce[k] = aligned_page(ps);
				if (!bounce[k]) {
					for (size_t r = i; r < j; r++)
						res[items[r].idx] = STRATA_ENOMEM;
					goto next_run;
				}
				if (op == FILE_OP_WRITE)
					memcpy(bounce[k], b, ps);
				ctr_add(&d->ctr.bounced, 1);
				b = bounce[k];
			}
			iov[k].iov_base = b;
			iov[k].iov_len = ps;
		}

		int r;
		uint64_t off = items[i].id * ps;
		if (op == FILE_OP_READ) {
			r = cnt == 1 ? file_pread(d->file, iov[0].iov_base, ps, off)
				     : file_preadv(d->file, iov, (int)cnt, off);
			ctr_add(&d->ctr.read_calls, 1);
			if (cnt > 1)
				ctr_add(&d->ctr.preadv_calls, 1);
		} else {
			r = cnt == 1 ? file_pwrite(d->file, iov[0].iov_base, ps, off)
				     : file_pwritev(d->file, iov, (int)cnt, off);
			ctr_add(&d->ctr.write_calls, 1);
			if (cnt > 1)
				ctr_add(&d->ctr.pwritev_calls, 1);
		}

		for (size_t k = 0; k < cnt; k++) {
			size_t idx = items[i + k].idx;
			if (op == FILE_OP_READ && (r == 0 || r == STRATA_ENOT_FOUND)) {
				if (bounce[k])
					memcpy(bufs[idx], bounce[k], ps);
				ctr_add(&d->ctr.pages_read, 1);
				res[idx] = verify_page(d, items[i + k].id, bufs[idx]);
			} else {
				res[idx] = r;
				if (r == 0)
					ctr_add(&d->ctr.pages_written, 1);
			}
		}
next_run:
		for (size_t k = 0; k < cnt; k++) {
			free(bounce[k]);
			bounce[k] = NULL;
		}
		i = j;
	}
out:
	free(bounce);
	free(iov);
	return rc;
}

static int vectored(struct disk *d, int op, const uint64_t *ids, size_t n, void **bufs,
		    int *results)
{
	if (!d || (n && (!ids || !bufs)))
		return STRATA_EBAD_REQUEST;
	if (n == 0)
		return 0;

	int *res = results ? results : malloc(n * sizeof(*res));
	struct vec_item *items = malloc(n * sizeof(*items));
	int rc = 0;
	if (!res || !items) {
		rc = STRATA_ENOMEM;
		goto out;
	}

	size_t m = 0;
	bool invalid = false;
	for (size_t i = 0; i < n; i++) {
		res[i] = 0;
		if (!bufs[i] || (op == FILE_OP_READ ? !id_valid(d, ids[i])
						     : !page_writable(d, ids[i], bufs[i]))) {
			res[i] = STRATA_EBAD_REQUEST;
			invalid = true;
			continue;
		}
		if (op == FILE_OP_READ && coalesce_lookup(d, ids[i], bufs[i]))
			continue;
		items[m].id = ids[i];
		items[m].idx = i;
		m++;
	}
	if (op == FILE_OP_WRITE) {
		if (invalid) {
			/* All or nothing: results say which pages were bad;
			 * none is written. */
			rc = STRATA_EBAD_REQUEST;
			goto out;
		}
		for (size_t i = 0; i < m; i++) {
			coalesce_drop(d, items[i].id);
			page_checksum_update(bufs[items[i].idx], d->page_size);
		}
	}
	qsort(items, m, sizeof(*items), vec_item_cmp);
	rc = vec_runs(d, op, items, m, bufs, res);
	if (rc == 0)
		rc = first_error(res, n);
out:
	free(items);
	if (res != results)
		free(res);
	return rc;
}

int disk_read_pages_vectored(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			     int *results)
{
	return vectored(d, FILE_OP_READ, ids, n, bufs, results);
}

int disk_write_pages_vectored(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			      int *results)
{
	return vectored(d, FILE_OP_WRITE, ids, n, bufs, results);
}

/* ---- coalesced writes ---------------------------------------------------------------------- */

static int coalesce_cmp(const void *a, const void *b)
{
	const struct coalesce_entry *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Writes co[0..co_n) as runs; failed runs stay. Under coalesce_lock. */
static int coalesce_flush_locked(struct disk *d)
{
	size_t ps = d->page_size;
	if (d->co_n == 0)
		return 0;

	size_t iov_cap = d->co_n < IOV_MAX ? d->co_n : IOV_MAX;
	struct iovec *iov = malloc(iov_cap * sizeof(*iov));
	if (!iov)
		return STRATA_ENOMEM;

	qsort(d->co, d->co_n, sizeof(*d->co), coalesce_cmp);
	int first_err = 0;
	size_t keep = 0;
	for (size_t i = 0; i < d->co_n;) {
		size_t j = i + 1;
		while (j < d->co_n && d->co[j].id == d->co[j - 1].id + 1 && j - i < IOV_MAX)
			j++;
		size_t cnt = j - i;
		for (size_t k = 0; k < cnt; k++) {
			iov[k].iov_base = d->co[i + k].buf;
			iov[k].iov_len = ps;
		}
		uint64_t off = d->co[i].id * ps;
		int r = cnt == 1 ? file_pwrite(d->file, iov[0].iov_base, ps, off)
				 : file_pwritev(d->file, iov, (int)cnt, off);
		ctr_add(&d->ctr.write_calls, 1);
		ctr_add(&d->ctr.coalesced_calls, 1);
		if (cnt > 1)
			ctr_add(&d->ctr.pwritev_calls, 1);
		if (r == 0) {
			ctr_add(&d->ctr.pages_written, cnt);
			ctr_add(&d->ctr.coalesced_pages, cnt);
			ctr_add(&d->ctr.coalesce_saved_syscalls, cnt - 1);
		} else {
			if (!first_err)
				first_err = r;
			/* Keep the run for a later flush (entries before i are
			 * done, so swapping them into the run's slots is safe). */
			for (size_t k = i; k < j; k++) {
				struct coalesce_entry t = d->co[keep];
				d->co[keep++] = d->co[k];
				d->co[k] = t;
			}
		}
		i = j;
	}
	d->co_n = keep;
	atomic_store_explicit(&d->co_count, keep, memory_order_release);
	free(iov);
	return first_err;
}

int disk_write_page_coalesced(struct disk *d, uint64_t id, const void *buf)
{
	if (!d || !buf || !page_writable(d, id, buf))
		return STRATA_EBAD_REQUEST;

	int rc = 0;
	pthread_mutex_lock(&d->coalesce_lock);
	size_t i;
	for (i = 0; i < d->co_n; i++)
		if (d->co[i].id == id)
			break;
	if (i == d->co_n) {
		if (d->co_n == d->co_max) {
			rc = coalesce_flush_locked(d);
			if (d->co_n == d->co_max)
				goto out; /* still full: rc says why */
			rc = 0;
		}
		i = d->co_n;
		if (!d->co[i].buf) {
			d->co[i].buf = aligned_page(d->page_size);
			if (!d->co[i].buf) {
				rc = STRATA_ENOMEM;
				goto out;
			}
		}
		d->co[i].id = id;
		d->co_n++;
	}
	memcpy(d->co[i].buf, buf, d->page_size);
	page_checksum_update(d->co[i].buf, d->page_size);
	atomic_store_explicit(&d->co_count, d->co_n, memory_order_release);
	if (d->co_n == d->co_max)
		rc = coalesce_flush_locked(d);
out:
	pthread_mutex_unlock(&d->coalesce_lock);
	return rc;
}

int disk_flush_coalesced(struct disk *d)
{
	if (!d)
		return STRATA_EBAD_REQUEST;
	pthread_mutex_lock(&d->coalesce_lock);
	int rc = coalesce_flush_locked(d);
	pthread_mutex_unlock(&d->coalesce_lock);
	return rc;
}

size_t disk_coalesced_pending(const struct disk *d)
{
	return atomic_load_explicit(&((struct disk *)d)->co_count, memory_order_acquire);
}

/* ---- batches: io_uring or the fallback ---------------------------------------------------------- */

/* One page of a batch (uring reads, async ops). */
struct page_op {
	uint64_t id;
	void *buf;
	int op;     /* FILE_OP_READ / FILE_OP_WRITE */
	int result;
	bool done;  /* result already known (invalid, served from the buffer) */
	void *io;   /* buffer the I/O uses: buf or an aligned bounce */
};

static void run_sync(struct disk *d, struct page_op *p)
{
	if (p->op == FILE_OP_READ) {
		p->result = file_pread(d->file, p->io, d->page_size, p->id * d->page_size);
		ctr_add(&d->ctr.read_calls, 1);
	} else {
		p->result = file_pwrite(d->file, p->io, d->page_size, p->id * d->page_size);
		ctr_add(&d->ctr.write_calls, 1);
	}
}

/*
 * Runs every op not yet done: through the ring when use_ring and there is
 * one (ring_lock held for the batch), else one pread/pwrite each; then
 * finishes reads (copy back, verify). Writes must be checksummed already.
 */
static void run_page_ops(struct disk *d, struct page_op *ops, size_t n, bool use_ring)
{
	size_t ps = d->page_size;
	size_t todo = 0;

	for (size_t i = 0; i < n; i++) {
		struct page_op *p = &ops[i];
		if (p->done)
			continue;
		p->io = p->buf;
		if (needs_bounce(d, p->buf)) {
			p->io = aligned_page(ps);
			if (!p->io) {
				p->io = p->buf;
				p->result = STRATA_ENOMEM;
				p->done = true;
				continue;
			}
			if (p->op == FILE_OP_WRITE)
				memcpy(p->io, p->buf, ps);
			ctr_add(&d->ctr.bounced, 1);
		}
		todo++;
	}

	bool ran = false;
	if (use_ring && d->ring && todo > 0) {
		struct file_io *reqs = calloc(todo, sizeof(*reqs));
		if (reqs) {
			size_t m = 0;
			for (size_t i = 0; i < n; i++) {
				if (ops[i].done)
					continue;
				reqs[m].file = d->file;
				reqs[m].op = ops[i].op;
				reqs[m].buf = ops[i].io;
				reqs[m].len = ps;
				reqs[m].off = ops[i].id * ps;
				m++;
			}
			pthread_mutex_lock(&d->ring_lock);
			int rc = file_ring_run(d->ring, reqs, m);
			pthread_mutex_unlock(&d->ring_lock);
			if (rc != STRATA_EUNAVAILABLE) {
				ran = true;
				m = 0;
				for (size_t i = 0; i < n; i++)
					if (!ops[i].done)
						ops[i].result = reqs[m++].result;
				ctr_add(&d->ctr.uring_batches, 1);
				ctr_add(&d->ctr.uring_pages, m);
			}
			free(reqs);
		}
	}
	if (!ran)
		for (size_t i = 0; i < n; i++)
			if (!ops[i].done)
				run_sync(d, &ops[i]);

	for (size_t i = 0; i < n; i++) {
		struct page_op *p = &ops[i];
		if (p->done)
			continue;
		if (p->op == FILE_OP_READ) {
			if (p->result == 0 || p->result == STRATA_ENOT_FOUND) {
				if (p->io != p->buf)
					memcpy(p->buf, p->io, ps);
				ctr_add(&d->ctr.pages_read, 1);
				p->result = verify_page(d, p->id, p->buf);
			}
		} else if (p->result == 0) {
			ctr_add(&d->ctr.pages_written, 1);
		}
		if (p->io != p->buf)
			free(p->io);
		p->io = NULL;
		p->done = true;
	}
}

int disk_read_pages_uring(struct disk *d, const uint64_t *ids, size_t n, void **bufs,
			  int *results)
{
	if (!d || (n && (!ids || !bufs)))
		return STRATA_EBAD_REQUEST;
	if (n == 0)
		return 0;
	struct page_op *ops = calloc(n, sizeof(*ops));
	if (!ops)
		return STRATA_ENOMEM;

	for (size_t i = 0; i < n; i++) {
		struct page_op *p = &ops[i];
		p->id = ids[i];
		p->buf = bufs[i];
		p->op = FILE_OP_READ;
		if (!p->buf || !id_valid(d, p->id)) {
			p->result = STRATA_EBAD_REQUEST;
			p->done = true;
		} else if (coalesce_lookup(d, p->id, p->buf)) {
			p->done = true;
		}
	}
	run_page_ops(d, ops, n, true);

	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (results)
			results[i] = ops[i].result;
		if (!rc)
			rc = ops[i].result;
	}
	free(ops);
	return rc;
}

/* ---- async queue ------------------------------------------------------------------------------- */

/* Heap order: higher priority first, then queue order. */
static bool async_before(const struct async_op *a, const struct async_op *b)
{
	return a->priority != b->priority ? a->priority > b->priority : a->seq < b->seq;
}

static void heap_swap(struct async_op *h, size_t a, size_t b)
{
	struct async_op t = h[a];
	h[a] = h[b];
	h[b] = t;
}

static int async_push(struct disk *d, int op, uint64_t id, void *buf, int priority,
		      disk_async_cb cb, void *arg)
{
	int rc = 0;
	pthread_mutex_lock(&d->async_lock);
	if (d->heap_n == d->heap_cap) {
		size_t cap = d->heap_cap ? d->heap_cap * 2 : 64;
		struct async_op *h = realloc(d->heap, cap * sizeof(*h));
		if (!h) {
			rc = STRATA_ENOMEM;
			goto out;
		}
		d->heap = h;
		d->heap_cap = cap;
	}
	size_t i = d->heap_n++;
	d->heap[i] = (struct async_op){.seq = d->async_seq++, .priority = priority, .op = op,
				       .id = id, .buf = buf, .cb = cb, .arg = arg};
	while (i > 0 && async_before(&d->heap[i], &d->heap[(i - 1) / 2])) {
		heap_swap(d->heap, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	atomic_store_explicit(&d->async_count, d->heap_n, RLX);
out:
	pthread_mutex_unlock(&d->async_lock);
	return rc;
}

/* Pops the first op. Under async_lock, heap not empty. */
static struct async_op async_pop(struct disk *d)
{
	struct async_op top = d->heap[0];
	d->heap[0] = d->heap[--d->heap_n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i;
		if (l < d->heap_n && async_before(&d->heap[l], &d->heap[best]))
			best = l;
		if (r < d->heap_n && async_before(&d->heap[r], &d->heap[best]))
			best = r;
		if (best == i)
			break;
		heap_swap(d->heap, i, best);
		i = best;
	}
	return top;
}

int disk_read_page_async(struct disk *d, uint64_t id, void *buf, int priority,
			 disk_async_cb cb, void *arg)
{
	if (!d || !buf || !cb || !id_valid(d, id))
		return STRATA_EBAD_REQUEST;
	return async_push(d, FILE_OP_READ, id, buf, priority, cb, arg);
}

int disk_write_page_async(struct disk *d, uint64_t id, void *buf, int priority,
			  disk_async_cb cb, void *arg)
{
	if (!d || !buf || !cb || !page_writable(d, id, buf))
		return STRATA_EBAD_REQUEST;
	return async_push(d, FILE_OP_WRITE, id, buf, priority, cb, arg);
}

size_t disk_process_async_ops(struct disk *d, size_t max)
{
	if (!d || max == 0)
		return 0;

	pthread_mutex_lock(&d->async_lock);
	size_t n = d->heap_n < max ? d->heap_n : max;
	struct async_op *batch = n ? malloc(n * sizeof(*batch)) : NULL;
	struct page_op *ops = n ? calloc(n, sizeof(*ops)) : NULL;
	if (!batch || !ops)
		n = 0; /* out of memory (or nothing queued): leave the queue */
	for (size_t i = 0; i < n; i++)
		batch[i] = async_pop(d);
	atomic_store_explicit(&d->async_count, d->heap_n, RLX);
	pthread_mutex_unlock(&d->async_lock);
	if (n == 0) {
		free(batch);
		free(ops);
		return 0;
	}

	for (size_t i = 0; i < n; i++) {
		struct page_op *p = &ops[i];
		p->id = batch[i].id;
		p->buf = batch[i].buf;
		p->op = batch[i].op;
		if (p->op == FILE_OP_READ) {
			if (coalesce_lookup(d, p->id, p->buf))
				p->done = true;
		} else {
			/* Re-check: the caller may have changed buf since. */
			if (!page_writable(d, p->id, p->buf)) {
				p->result = STRATA_EBAD_REQUEST;
				p->done = true;
				continue;
			}
			coalesce_drop(d, p->id);
			page_checksum_update(p->buf, d->page_size);
		}
	}
	run_page_ops(d, ops, n, true);

	for (size_t i = 0; i < n; i++)
		batch[i].cb(batch[i].arg, batch[i].id, ops[i].result);
	ctr_add(&d->ctr.async_completed, n);
	free(ops);
	free(batch);
	return n;
}

size_t disk_async_pending(const struct disk *d)
{
	return atomic_load_explicit(&((struct disk *)d)->async_count, RLX);
}

void disk_get_counters(const struct disk *d, struct disk_counters *out)
{
	const struct disk_ctr *c = &d->ctr;
#define G(f) out->f = atomic_load_explicit((_Atomic uint64_t *)&c->f, RLX)
	G(pages_read);
	G(pages_written);
	G(read_calls);
	G(write_calls);
	G(preadv_calls);
	G(pwritev_calls);
	G(coalesced_pages);
	G(coalesced_calls);
	G(coalesce_saved_syscalls);
	G(coalesce_read_hits);
	G(uring_batches);
	G(uring_pages);
	G(async_completed);
	G(bounced);
	G(corrupt_pages);
#undef G
}
