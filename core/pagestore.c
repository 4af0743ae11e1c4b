#include "core/pagestore.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/disk.h"
#include "core/emit.h"
#include "core/page.h"
#include "core/stats.h"
#include "core/wal.h"
#include "strata/error.h"

struct pagestore {
	struct disk *disk;
	struct wal *wal;
	struct bufpool *bp;
	size_t page_size;
	struct ps_config cfg;
	pthread_mutex_t ckpt_lock; /* one checkpoint at a time */
};

struct bufpool *ps_pool(struct pagestore *ps) { return ps->bp; }
struct disk *ps_disk(struct pagestore *ps) { return ps->disk; }
struct wal *ps_wal(struct pagestore *ps) { return ps->wal; }
size_t ps_page_size(const struct pagestore *ps) { return ps->page_size; }

static int wal_flush_hook(void *arg, uint64_t lsn)
{
	return wal_flush(arg, lsn);
}

/* Recovery: one logged image back into the data file. */
static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int apply_image(void *arg, uint64_t id, void *image, uint64_t lsn)
{
	struct pagestore *ps = arg;
	if (id >= DISK_FIRST_PAGE && all_zero(image, ps->page_size)) {
		/* A free record (free_logged): the page left use here. A later
		 * image of the same id (reallocated) takes it back. */
		if (id >= disk_num_pages(ps->disk))
			return 0;
		int rv = disk_free_page(ps->disk, id);
		return rv == STRATA_ECONFLICT ? 0 : rv;
	}
	if (id < DISK_FIRST_PAGE || id != page_id(image) || page_validate(image, ps->page_size) != 0)
		return 0; /* cannot come from us: the CRC matched but the image is not a page */
	int rv = disk_ensure_page(ps->disk, id);
	if (rv)
		return rv;
	page_set_lsn(image, lsn);
	return disk_write_page(ps->disk, id, image);
}

static int verify_all(struct pagestore *ps, struct ps_recovery *rec)
{
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, ps->page_size) != 0)
		return STRATA_ENOMEM;
	uint64_t n = disk_num_pages(ps->disk);
	for (uint64_t id = DISK_FIRST_PAGE; id < n; id++) {
		int rv = disk_read_page(ps->disk, id, buf);
		if (rv == 0 || rv == STRATA_ENOT_FOUND) {
			rec->pages_verified++;
		} else if (rv == STRATA_ECORRUPT) {
			rec->pages_corrupt++;
		} else {
			free(buf);
			return rv;
		}
	}
	free(buf);
	return 0;
}

int ps_open(struct pagestore **out, const char *dir, const struct bp_memory *mem,
	    const struct ps_config *cfg, struct ps_recovery *rec, char *err, size_t errlen)
{
	int rv;
	struct ps_recovery local = {0};
	if (!rec)
		rec = &local;
	memset(rec, 0, sizeof(*rec));
	uint64_t t0 = clock_mono_us();
	struct pagestore *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return STRATA_ENOMEM;
	ps->page_size = mem->page_size;
	if (cfg)
		ps->cfg = *cfg;
	if (ps->cfg.split_threshold <= 0)
		ps->cfg.split_threshold = 0.9;
	if (ps->cfg.merge_threshold <= 0)
		ps->cfg.merge_threshold = 0.7;
	pthread_mutex_init(&ps->ckpt_lock, NULL);

	if ((rv = disk_open(&ps->disk, dir, mem->page_size, ps->cfg.disk_flags)) != 0) {
		size_t existing;
		if (rv == STRATA_EBAD_REQUEST && disk_probe_page_size(dir, &existing) == 0)
			snprintf(err, errlen, "%s/data.db has %zu-byte pages; start with --page-size %zu",
				 dir, existing, existing);
		else
			snprintf(err, errlen, "cannot open the data file in %s: %s", dir,
				 strata_strerror(rv));
		goto fail;
	}
	if ((rv = wal_open(&ps->wal, dir, mem->page_size)) != 0) {
		snprintf(err, errlen, "cannot open the redo log in %s/wal: %s", dir, strata_strerror(rv));
		goto fail;
	}
	if ((rv = wal_replay(ps->wal, apply_image, ps, &rec->records_replayed)) != 0) {
		snprintf(err, errlen, "recovery from the redo log failed: %s", strata_strerror(rv));
		goto fail;
	}
	if (rec->records_replayed) {
		if ((rv = disk_flush(ps->disk)) != 0 || (rv = verify_all(ps, rec)) != 0) {
			snprintf(err, errlen, "recovery: cannot sync or verify the data file: %s",
				 strata_strerror(rv));
			goto fail;
		}
	}
	/* Everything replayed is in the data file now: the log can go. */
	uint64_t seg;
	if ((rv = wal_switch(ps->wal, &seg)) != 0 || (rv = wal_drop_before(ps->wal, seg)) != 0) {
		snprintf(err, errlen, "cannot trim the redo log: %s", strata_strerror(rv));
		goto fail;
	}
	struct bp_config bc = {.lru_k = ps->cfg.lru_k, .wal_flush = wal_flush_hook, .wal_arg = ps->wal};
	if ((rv = bp_create(&ps->bp, mem, ps->disk, &bc)) != 0) {
		snprintf(err, errlen, "cannot create the buffer pool: %s", strata_strerror(rv));
		goto fail;
	}
	rec->duration_us = clock_mono_us() - t0;
	*out = ps;
	return 0;
fail:
	wal_close(ps->wal);
	disk_close(ps->disk);
	pthread_mutex_destroy(&ps->ckpt_lock);
	free(ps);
	return rv;
}

int ps_close(struct pagestore *ps)
{
	if (!ps)
		return 0;
	int rv = ps_checkpoint(ps);
	bp_destroy(ps->bp);
	int r = wal_close(ps->wal);
	if (!rv)
		rv = r;
	r = disk_close(ps->disk);
	if (!rv)
		rv = r;
	pthread_mutex_destroy(&ps->ckpt_lock);
	free(ps);
	return rv;
}

/* Logs the page held exclusively in p, stamps its LSN, releases it dirty,
 * and waits for durability when asked. */
/* Frees page_id for good: the free is logged first (an all-zero image, see
 * apply_image), so replaying older images of the page after a crash cannot
 * bring it back, and only then does the id go back to the free list (a
 * reallocation's image therefore always follows the free in the log). */
static int free_logged(struct pagestore *ps, uint64_t page_id, bool sync)
{
	void *zero = calloc(1, ps->page_size);
	if (!zero)
		return STRATA_ENOMEM;
	uint64_t lsn;
	int rv = wal_log_page(ps->wal, page_id, zero, &lsn);
	free(zero);
	if (rv == 0 && sync)
		rv = wal_flush(ps->wal, lsn);
	/* A reader may still hold the frame for a moment: pins are short. */
	for (int tries = 0; rv == 0 && (rv = bp_discard(ps->bp, page_id)) == STRATA_EBUSY && tries < 100000; tries++) {
		rv = 0;
		sched_yield();
	}
	if (rv == 0)
		rv = disk_free_page(ps->disk, page_id);
	return rv;
}

int ps_page_free(struct pagestore *ps, uint64_t page_id, bool sync)
{
	if (page_id < DISK_FIRST_PAGE || page_id >= disk_num_pages(ps->disk))
		return STRATA_ENOT_FOUND;
	return free_logged(ps, page_id, sync);
}

static int log_and_release(struct pagestore *ps, struct bp_page *p, bool sync)
{
	uint64_t lsn;
	int rv = wal_log_page(ps->wal, p->page_id, p->data, &lsn);
	if (rv != 0) {
		/* The change is in the frame but not in the log: it would be
		 * acknowledged by nobody, yet written at eviction. Keep it
		 * dirty (the bytes are what readers see) and report. */
		bp_release(ps->bp, p, true);
		return rv;
	}
	page_set_lsn(p->data, lsn);
	bp_release(ps->bp, p, true);
	return sync ? wal_flush(ps->wal, lsn) : 0;
}

int ps_page_alloc(struct pagestore *ps, bool sync, uint64_t *page_id)
{
	struct bp_page p;
	int rv = bp_new_page(ps->bp, &p);
	if (rv)
		return rv;
	*page_id = p.page_id;
	stat_add(&core_stats()->pages.allocated, 1);
	return log_and_release(ps, &p, sync);
}

int ps_page_info(struct pagestore *ps, uint64_t page_id, struct ps_page_info *info)
{
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_SHARED, &p);
	if (rv)
		return rv;
	memset(info, 0, sizeof(*info));
	info->page_id = page_id;
	info->lsn = page_lsn(p.data);
	info->page_size = ps->page_size;
	info->free_space = page_free_space(p.data, ps->page_size);
	info->used_bytes = page_used_bytes(p.data, ps->page_size);
	info->max_record = page_max_record(ps->page_size);
	info->slot_count = page_slot_count(p.data);
	info->live_records = page_live_records(p.data);
	info->fill_ratio = page_fill_ratio(p.data, ps->page_size);
	bp_release(ps->bp, &p, false);

	struct bp_info bi;
	bp_page_info(ps->bp, page_id, &bi);
	info->resident = bi.resident;
	info->dirty = bi.dirty;
	info->pin_count = bi.pin_count;

	/* The on-disk copy, checked without disturbing the pool. */
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, ps->page_size) != 0)
		return STRATA_ENOMEM;
	rv = disk_read_page(ps->disk, page_id, buf);
	info->disk_checksum = rv == 0 ? 1 : rv == STRATA_ENOT_FOUND ? -1 : 0;
	free(buf);
	return rv == 0 || rv == STRATA_ENOT_FOUND || rv == STRATA_ECORRUPT ? 0 : rv;
}

int ps_record_insert(struct pagestore *ps, uint64_t page_id, const void *data, size_t len,
		     bool sync, uint16_t *slot)
{
	if (len > page_max_record(ps->page_size))
		return STRATA_ETOO_LARGE;
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_EXCLUSIVE, &p);
	if (rv)
		return rv;
	rv = page_insert_record(p.data, ps->page_size, data, len, slot);
	if (rv) {
		bp_release(ps->bp, &p, false);
		return rv;
	}
	stat_add(&core_stats()->pages.records_inserted, 1);
	return log_and_release(ps, &p, sync);
}

int ps_record_get(struct pagestore *ps, uint64_t page_id, uint16_t slot, void *buf, size_t cap,
		  size_t *len)
{
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_SHARED, &p);
	if (rv)
		return rv;
	const void *rec;
	size_t n;
	rv = page_get_record(p.data, ps->page_size, slot, &rec, &n);
	if (rv == 0) {
		if (n > cap)
			rv = STRATA_ETOO_LARGE;
		else
			memcpy(buf, rec, n);
		*len = n;
	}
	bp_release(ps->bp, &p, false);
	return rv;
}

int ps_record_update(struct pagestore *ps, uint64_t page_id, uint16_t slot, const void *data,
		     size_t len, bool sync)
{
	if (len > page_max_record(ps->page_size))
		return STRATA_ETOO_LARGE;
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_EXCLUSIVE, &p);
	if (rv)
		return rv;
	rv = page_update_record(p.data, ps->page_size, slot, data, len);
	if (rv) {
		bp_release(ps->bp, &p, false);
		return rv;
	}
	return log_and_release(ps, &p, sync);
}

int ps_record_delete(struct pagestore *ps, uint64_t page_id, uint16_t slot, bool sync)
{
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_EXCLUSIVE, &p);
	if (rv)
		return rv;
	rv = page_delete_record(p.data, ps->page_size, slot);
	if (rv) {
		bp_release(ps->bp, &p, false);
		return rv;
	}
	stat_add(&core_stats()->pages.records_deleted, 1);
	return log_and_release(ps, &p, sync);
}

int ps_page_compact(struct pagestore *ps, uint64_t page_id, bool sync, size_t *reclaimed)
{
	struct bp_page p;
	int rv = bp_fetch(ps->bp, page_id, BP_EXCLUSIVE, &p);
	if (rv)
		return rv;
	if ((rv = page_validate(p.data, ps->page_size)) != 0) {
		bp_release(ps->bp, &p, false);
		return rv;
	}
	*reclaimed = page_compact(p.data, ps->page_size);
	stat_add(&core_stats()->pages.compactions, 1);
	stat_add(&core_stats()->pages.bytes_reclaimed, *reclaimed);
	rv = log_and_release(ps, &p, sync);
	struct strata_event ev = {.variant = STRATA_EV_PageCompacted};
	ev.u.PageCompacted.page_id = page_id;
	ev.u.PageCompacted.bytes_reclaimed = *reclaimed;
	emit_rare(&ev);
	return rv;
}

int ps_page_split(struct pagestore *ps, uint64_t page_id, bool sync, uint64_t *new_page_id,
		  unsigned *moved)
{
	struct bp_page p, np;
	int rv = bp_fetch(ps->bp, page_id, BP_EXCLUSIVE, &p);
	if (rv)
		return rv;
	if (page_live_records(p.data) < 2) {
		bp_release(ps->bp, &p, false);
		return STRATA_EBAD_REQUEST;
	}
	double fill = page_fill_ratio(p.data, ps->page_size);
	/* The new page is unknown to every other thread until we release it,
	 * so latching it while holding p cannot deadlock whatever its id. */
	if ((rv = bp_new_page(ps->bp, &np)) != 0) {
		bp_release(ps->bp, &p, false);
		return rv;
	}
	uint16_t m = 0;
	rv = page_split(p.data, np.data, ps->page_size, np.page_id, &m);
	if (rv) {
		uint64_t nid = np.page_id;
		bp_release(ps->bp, &np, false);
		bp_release(ps->bp, &p, false);
		(void)free_logged(ps, nid, false);
		return rv;
	}
	/* Log the new page first: if we crash between the two records, the
	 * moved records exist twice rather than not at all. */
	*new_page_id = np.page_id;
	*moved = m;
	rv = log_and_release(ps, &np, false);
	int r = log_and_release(ps, &p, sync);
	if (!rv)
		rv = r;
	stat_add(&core_stats()->pages.splits, 1);
	stat_add(&core_stats()->pages.allocated, 1);
	struct strata_event ev = {.variant = STRATA_EV_PageSplit};
	ev.u.PageSplit.original_page_id = page_id;
	ev.u.PageSplit.new_page_id = *new_page_id;
	snprintf(ev.u.PageSplit.reason, sizeof(ev.u.PageSplit.reason),
		 "Page utilization at %.0f%% (%u records moved)", fill * 100, m);
	emit_rare(&ev);
	return rv;
}

int ps_page_merge(struct pagestore *ps, uint64_t page1, uint64_t page2, bool sync,
		  unsigned *moved)
{
	if (page1 == page2)
		return STRATA_EBAD_REQUEST;
	struct bp_page a, b;
	/* R3: latch in ascending page-id order. */
	uint64_t lo = page1 < page2 ? page1 : page2, hi = page1 < page2 ? page2 : page1;
	struct bp_page *plo = page1 < page2 ? &a : &b, *phi = page1 < page2 ? &b : &a;
	int rv = bp_fetch(ps->bp, lo, BP_EXCLUSIVE, plo);
	if (rv)
		return rv;
	if ((rv = bp_fetch(ps->bp, hi, BP_EXCLUSIVE, phi)) != 0) {
		bp_release(ps->bp, plo, false);
		return rv;
	}
	uint16_t m = 0;
	rv = page_merge(a.data, b.data, ps->page_size, &m);
	if (rv) {
		bp_release(ps->bp, phi, false);
		bp_release(ps->bp, plo, false);
		return rv;
	}
	rv = log_and_release(ps, &a, false);
	/* page2's records now live in page1: free it, durably (its frame
	 * goes first so a later allocation of the id starts clean). */
	bp_release(ps->bp, &b, false);
	if (rv == 0)
		rv = free_logged(ps, page2, sync);
	*moved = m;
	stat_add(&core_stats()->pages.merges, 1);
	struct strata_event ev = {.variant = STRATA_EV_PageMerged};
	ev.u.PageMerged.page1_id = page1;
	ev.u.PageMerged.page2_id = page2;
	ev.u.PageMerged.result_page_id = page1;
	emit_rare(&ev);
	return rv;
}

int ps_read_vectored(struct pagestore *ps, const uint64_t *ids, size_t n, void **bufs)
{
	uint64_t t0 = clock_mono_us();
	for (size_t i = 0; i < n; i++) {
		struct bp_page p;
		int rv = bp_fetch(ps->bp, ids[i], BP_SHARED, &p);
		if (rv)
			return rv;
		memcpy(bufs[i], p.data, ps->page_size);
		bp_release(ps->bp, &p, false);
		/* A frame's checksum field is stale until the page is written:
		 * hand out a page whose checksum is right. */
		page_checksum_update(bufs[i], ps->page_size);
	}
	struct strata_event ev = {.variant = STRATA_EV_VectoredRead};
	ev.u.VectoredRead.page_count = n;
	ev.u.VectoredRead.total_bytes = n * ps->page_size;
	ev.u.VectoredRead.latency_us = clock_mono_us() - t0;
	emit(&ev);
	return 0;
}

int ps_write_vectored(struct pagestore *ps, const uint64_t *ids, size_t n, void *const *bufs,
		      bool sync)
{
	uint64_t t0 = clock_mono_us();
	for (size_t i = 0; i < n; i++)
		if (page_id(bufs[i]) != ids[i] || page_validate(bufs[i], ps->page_size) != 0)
			return STRATA_EBAD_REQUEST;
	for (size_t i = 0; i < n; i++) {
		struct bp_page p;
		int rv = bp_fetch(ps->bp, ids[i], BP_EXCLUSIVE, &p);
		if (rv)
			return rv;
		uint64_t lsn = page_lsn(p.data);
		memcpy(p.data, bufs[i], ps->page_size);
		page_set_lsn(p.data, lsn);
		if ((rv = log_and_release(ps, &p, false)) != 0)
			return rv;
	}
	if (sync && n > 0) {
		int rv = wal_flush(ps->wal, 0);
		if (rv)
			return rv;
	}
	struct strata_event ev = {.variant = STRATA_EV_VectoredWrite};
	ev.u.VectoredWrite.page_count = n;
	ev.u.VectoredWrite.total_bytes = n * ps->page_size;
	ev.u.VectoredWrite.latency_us = clock_mono_us() - t0;
	emit(&ev);
	return 0;
}

int ps_flush(struct pagestore *ps, uint64_t *written)
{
	return bp_flush_all(ps->bp, written);
}

int ps_checkpoint(struct pagestore *ps)
{
	pthread_mutex_lock(&ps->ckpt_lock);
	uint64_t seg;
	int rv = wal_switch(ps->wal, &seg);
	if (rv == 0)
		rv = bp_flush_all(ps->bp, NULL); /* every page dirtied before the switch */
	if (rv == 0)
		rv = wal_drop_before(ps->wal, seg);
	pthread_mutex_unlock(&ps->ckpt_lock);
	return rv;
}

int ps_background(struct pagestore *ps, unsigned max, uint64_t log_limit)
{
	int rv = bp_flush_some(ps->bp, max);
	if (rv < 0)
		return rv;
	struct wal_stats ws;
	wal_get_stats(ps->wal, &ws);
	if (log_limit && ws.log_bytes > log_limit) {
		int r = ps_checkpoint(ps);
		if (r)
			return r;
	}
	return rv;
}
