/*
 * daemon/ops_pages.c — buffer.*, io.*, disks.*, pages.* and records.* ops:
 * the storage core (pages, buffer pool, disk manager) over the control
 * protocol. Binary data is base64 in a field named `data`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "core/buffer.h"
#include "core/disk.h"
#include "core/file.h"
#include "core/page.h"
#include "core/pagestore.h"
#include "core/stats.h"
#include "core/wal.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/storage.h"
#include "daemon/stratad.h"
#include "proto/base64.h"
#include "strata/error.h"

#define MAX_VECTORED 256

static struct pagestore *PS(struct stratad *d)
{
	return storage_pages(d->storage);
}

/* Maps a core error on a page op to a message the client can act on. */
static int page_error(int rv, uint64_t page_id, char *msg, size_t msglen)
{
	switch (rv) {
	case STRATA_ENOT_FOUND:
		snprintf(msg, msglen, "page %llu not found", (unsigned long long)page_id);
		break;
	case STRATA_ECORRUPT:
		snprintf(msg, msglen, "page %llu failed its checksum: no data returned",
			 (unsigned long long)page_id);
		break;
	case STRATA_EBUSY:
		snprintf(msg, msglen, "no free buffer frame: every frame is pinned");
		break;
	case STRATA_ENOSPC:
		snprintf(msg, msglen, "page %llu has no room for this record",
			 (unsigned long long)page_id);
		return STRATA_ECONFLICT;
	default:
		snprintf(msg, msglen, "%s", strata_strerror(rv));
	}
	return rv;
}

json_t *buffer_stats_json(struct stratad *d)
{
	struct bp_stats st;
	bp_get_stats(ps_pool(PS(d)), &st);
	struct shm_stats *s = core_stats();
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I}",
			 "total_pages", (json_int_t)st.frames,
			 "used_pages", (json_int_t)st.used,
			 "free_pages", (json_int_t)(st.frames - (st.used <= st.frames ? st.used : st.frames)),
			 "dirty_pages", (json_int_t)st.dirty,
			 "pinned_pages", (json_int_t)st.pinned,
			 "hits", (json_int_t)st.hits,
			 "misses", (json_int_t)st.misses,
			 "hit_rate", st.hit_rate,
			 "evictions", (json_int_t)st.evictions,
			 "flushes", (json_int_t)st.flushes,
			 "busy_errors", (json_int_t)stat_get(&s->buffer.busy_errors),
			 "lru_k", (json_int_t)st.lru_k,
			 "page_size", (json_int_t)ps_page_size(PS(d)));
}

json_t *io_stats_json(struct stratad *d)
{
	struct io_stats_snapshot io;
	file_stats_snapshot(&io);
	struct disk_counters dc;
	disk_get_counters(ps_disk(PS(d)), &dc);
	struct wal_stats ws;
	wal_get_stats(ps_wal(PS(d)), &ws);
	struct shm_stats *s = core_stats();
	json_t *j = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I},"
		" s:f, s:f, s:f, s:I, s:b, s:I, s:I}",
		"reads", (json_int_t)io.reads,
		"writes", (json_int_t)io.writes,
		"bytes_read", (json_int_t)io.bytes_read,
		"bytes_written", (json_int_t)io.bytes_written,
		"vectored_reads", (json_int_t)stat_get(&s->io.vectored_reads),
		"vectored_writes", (json_int_t)stat_get(&s->io.vectored_writes),
		"fsyncs", (json_int_t)stat_get(&s->io.fsyncs),
		"errors", (json_int_t)stat_get(&s->io.errors),
		"read_latency_us", "avg", (json_int_t)io.read_lat_avg_us, "p50",
		(json_int_t)io.read_lat_p50_us, "p95", (json_int_t)io.read_lat_p95_us, "p99",
		(json_int_t)io.read_lat_p99_us, "max", (json_int_t)io.read_lat_max_us,
		"write_latency_us", "avg", (json_int_t)io.write_lat_avg_us, "p50",
		(json_int_t)io.write_lat_p50_us, "p95", (json_int_t)io.write_lat_p95_us, "p99",
		(json_int_t)io.write_lat_p99_us, "max", (json_int_t)io.write_lat_max_us,
		"iops", io.iops, "read_iops", io.read_iops, "write_iops", io.write_iops,
		"queue_depth", (json_int_t)io.queue_depth,
		"io_uring", disk_uring_enabled(ps_disk(PS(d))),
		"checksum_failures", (json_int_t)stat_get(&s->io.checksum_failures),
		"coalesced_syscalls_saved", (json_int_t)dc.coalesce_saved_syscalls);
	if (j)
		json_object_set_new(j, "wal", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
							"records", (json_int_t)ws.records,
							"bytes", (json_int_t)ws.bytes,
							"fsyncs", (json_int_t)ws.flushes,
							"group_commits", (json_int_t)ws.group_commits,
							"segments", (json_int_t)ws.segments,
							"log_bytes", (json_int_t)ws.log_bytes));
	return j;
}

static int op_buffer_stats(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*result = buffer_stats_json(d);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_buffer_flush(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	(void)args;
	uint64_t written = 0;
	int rv = ps_flush(PS(d), &written);
	if (rv) {
		snprintf(msg, msglen, "flush failed: %s", strata_strerror(rv));
		return rv;
	}
	*result = json_pack("{s:I}", "flushed", (json_int_t)written);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_io_stats(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*result = io_stats_json(d);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_io_reset(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	(void)d, (void)args, (void)msg, (void)msglen;
	file_stats_reset();
	*result = json_pack("{s:b}", "reset", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

/* The block device behind a path: name from sysfs, counters from
 * /proc/diskstats, file system from /proc/self/mountinfo. */
static json_t *device_info(dev_t dev)
{
	char path[128], name[64] = "", line[512];
	json_t *j = json_pack("{s:i, s:i}", "major", (int)major(dev), "minor", (int)minor(dev));
	if (!j)
		return NULL;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(dev), minor(dev));
	FILE *fp = fopen(path, "r");
	if (fp) {
		while (fgets(line, sizeof(line), fp))
			if (strncmp(line, "DEVNAME=", 8) == 0) {
				snprintf(name, sizeof(name), "%.60s", line + 8);
				name[strcspn(name, "\n")] = '\0';
			}
		fclose(fp);
	}
	if (name[0])
		json_object_set_new(j, "device", json_string(name));
	fp = fopen("/proc/diskstats", "r");
	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			unsigned ma, mi;
			char dn[64];
			unsigned long long rd, rdm, rs, rt, wr, wrm, ws, wt, inflight, iot;
			if (sscanf(line, "%u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &ma,
				   &mi, dn, &rd, &rdm, &rs, &rt, &wr, &wrm, &ws, &wt, &inflight, &iot) == 13 &&
			    ma == major(dev) && mi == minor(dev)) {
				json_object_set_new(j, "diskstats",
						    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
							      "reads_completed", (json_int_t)rd,
							      "sectors_read", (json_int_t)rs,
							      "writes_completed", (json_int_t)wr,
							      "sectors_written", (json_int_t)ws,
							      "in_flight", (json_int_t)inflight,
							      "io_ms", (json_int_t)iot));
				break;
			}
		}
		fclose(fp);
	}
	fp = fopen("/proc/self/mountinfo", "r");
	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			unsigned ma, mi;
			char mnt[256], fstype[64], src[256];
			/* id parent major:minor root mountpoint opts ... - fstype source opts */
			if (sscanf(line, "%*u %*u %u:%u %*s %255s", &ma, &mi, mnt) != 3 || ma != major(dev) ||
			    mi != minor(dev))
				continue;
			char *dash = strstr(line, " - ");
			if (dash && sscanf(dash + 3, "%63s %255s", fstype, src) == 2) {
				json_object_set_new(j, "filesystem", json_string(fstype));
				json_object_set_new(j, "source", json_string(src));
				json_object_set_new(j, "mount_point", json_string(mnt));
			}
			break;
		}
		fclose(fp);
	}
	return j;
}

static int op_disks(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	(void)args;
	struct statvfs sv;
	struct stat st;
	if (statvfs(d->data_dir, &sv) != 0 || stat(d->data_dir, &st) != 0) {
		snprintf(msg, msglen, "statvfs %s: %s", d->data_dir, strerror(errno));
		return STRATA_EIO;
	}
	json_t *dev = device_info(st.st_dev);
	struct disk *dk = ps_disk(PS(d));
	json_t *disk = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o?, s:{s:I, s:I, s:I, s:b}}",
				 "path", d->data_dir,
				 "total_bytes", (json_int_t)((uint64_t)sv.f_blocks * sv.f_frsize),
				 "free_bytes", (json_int_t)((uint64_t)sv.f_bfree * sv.f_frsize),
				 "available_bytes", (json_int_t)((uint64_t)sv.f_bavail * sv.f_frsize),
				 "block_size", (json_int_t)sv.f_frsize,
				 "device", dev,
				 "data_file", "pages", (json_int_t)disk_num_pages(dk),
				 "free_pages", (json_int_t)disk_free_count(dk),
				 "page_size", (json_int_t)disk_page_size(dk),
				 "io_uring", disk_uring_enabled(dk));
	if (!disk)
		return STRATA_ENOMEM;
	*result = json_pack("{s:[o]}", "disks", disk);
	return *result ? 0 : STRATA_ENOMEM;
}

static int arg_page(const json_t *args, const char *name, uint64_t *id, char *msg, size_t msglen)
{
	return arg_u64(args, name, true, 0, 1, UINT64_MAX / 2, id, msg, msglen);
}

/* A slot number; one no page can have is simply not found. */
static int arg_slot(const json_t *args, uint64_t page_id, uint16_t *slot, char *msg,
		    size_t msglen)
{
	uint64_t v;
	int rv = arg_u64(args, "slot", true, 0, 0, UINT64_MAX / 2, &v, msg, msglen);
	if (rv)
		return rv;
	if (v >= PAGE_MAX_SLOTS) {
		snprintf(msg, msglen, "page %llu has no slot %llu", (unsigned long long)page_id,
			 (unsigned long long)v);
		return STRATA_ENOT_FOUND;
	}
	*slot = (uint16_t)v;
	return 0;
}

/* Decodes args.data (base64) into a malloc'd buffer. */
static int arg_data(const json_t *args, size_t max, void **out, size_t *len, char *msg,
		    size_t msglen)
{
	const char *b64;
	int rv = arg_str(args, "data", true, NULL, base64_encoded_len(max), &b64, msg, msglen);
	if (rv) {
		if (strstr(msg, "longer"))
			return STRATA_ETOO_LARGE;
		return rv;
	}
	size_t n = strlen(b64), bad;
	void *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return STRATA_ENOMEM;
	if (base64_decode(b64, n, buf, len, &bad) != 0) {
		free(buf);
		snprintf(msg, msglen, "field 'data' is not valid base64 (at character %zu)", bad);
		return STRATA_EBAD_REQUEST;
	}
	*out = buf;
	return 0;
}

static json_t *b64_json(const void *data, size_t len)
{
	char *s = malloc(base64_encoded_len(len) + 1);
	if (!s)
		return NULL;
	base64_encode(data, len, s);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static json_t *page_info_json(const struct ps_page_info *in)
{
	json_t *cs = in->disk_checksum < 0 ? json_null() : json_boolean(in->disk_checksum);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:f, s:b, s:b, s:i, s:o}",
			 "page_id", (json_int_t)in->page_id,
			 "lsn", (json_int_t)in->lsn,
			 "page_size", (json_int_t)in->page_size,
			 "free_space", (json_int_t)in->free_space,
			 "used_bytes", (json_int_t)in->used_bytes,
			 "max_record", (json_int_t)in->max_record,
			 "slots", (int)in->slot_count,
			 "records", (int)in->live_records,
			 "fill_ratio", in->fill_ratio,
			 "resident", in->resident,
			 "dirty", in->dirty,
			 "pinned", (int)in->pin_count,
			 "checksum_ok", cs);
}

static int op_page_alloc(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	bool sync;
	uint64_t id;
	int rv = arg_bool(args, "sync", true, &sync, msg, msglen);
	if (rv)
		return rv;
	if ((rv = ps_page_alloc(PS(d), sync, &id)) != 0)
		return page_error(rv, 0, msg, msglen);
	struct ps_page_info in;
	if ((rv = ps_page_info(PS(d), id, &in)) != 0)
		return page_error(rv, id, msg, msglen);
	*result = page_info_json(&in);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_page_get(struct stratad *d, const json_t *args, json_t **result, char *msg,
		       size_t msglen)
{
	uint64_t id;
	int rv = arg_page(args, "page_id", &id, msg, msglen);
	if (rv)
		return rv;
	struct ps_page_info in;
	if ((rv = ps_page_info(PS(d), id, &in)) != 0)
		return page_error(rv, id, msg, msglen);
	*result = page_info_json(&in);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_page_compact(struct stratad *d, const json_t *args, json_t **result, char *msg,
			   size_t msglen)
{
	uint64_t id;
	bool sync;
	size_t reclaimed;
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)))
		return rv;
	if ((rv = ps_page_compact(PS(d), id, sync, &reclaimed)) != 0)
		return page_error(rv, id, msg, msglen);
	*result = json_pack("{s:I, s:I}", "page_id", (json_int_t)id, "bytes_reclaimed",
			    (json_int_t)reclaimed);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_page_split(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	uint64_t id, nid;
	bool sync;
	unsigned moved;
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)))
		return rv;
	rv = ps_page_split(PS(d), id, sync, &nid, &moved);
	if (rv == STRATA_EBAD_REQUEST) {
		snprintf(msg, msglen, "page %llu has fewer than two records: nothing to split",
			 (unsigned long long)id);
		return rv;
	}
	if (rv)
		return page_error(rv, id, msg, msglen);
	*result = json_pack("{s:I, s:I, s:i}", "original_page_id", (json_int_t)id, "new_page_id",
			    (json_int_t)nid, "moved", (int)moved);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_page_merge(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	uint64_t a, b;
	bool sync;
	unsigned moved;
	int rv;
	if ((rv = arg_page(args, "page1_id", &a, msg, msglen)) ||
	    (rv = arg_page(args, "page2_id", &b, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)))
		return rv;
	if (a == b) {
		snprintf(msg, msglen, "page1_id and page2_id must differ");
		return STRATA_EBAD_REQUEST;
	}
	rv = ps_page_merge(PS(d), a, b, sync, &moved);
	if (rv == STRATA_ENOSPC) {
		snprintf(msg, msglen, "the records of both pages do not fit in one page");
		return STRATA_ECONFLICT;
	}
	if (rv)
		return page_error(rv, rv == STRATA_ENOT_FOUND ? b : a, msg, msglen);
	*result = json_pack("{s:I, s:I, s:i}", "result_page_id", (json_int_t)a, "freed_page_id",
			    (json_int_t)b, "moved", (int)moved);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_record_insert(struct stratad *d, const json_t *args, json_t **result, char *msg,
			    size_t msglen)
{
	uint64_t id;
	bool sync;
	void *data = NULL;
	size_t len;
	uint16_t slot;
	size_t max = page_max_record(ps_page_size(PS(d)));
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)) ||
	    (rv = arg_data(args, max, &data, &len, msg, msglen)))
		return rv;
	rv = ps_record_insert(PS(d), id, data, len, sync, &slot);
	free(data);
	if (rv == STRATA_ETOO_LARGE) {
		snprintf(msg, msglen, "record of %zu bytes is over the %zu bytes a page can hold", len, max);
		return rv;
	}
	if (rv)
		return page_error(rv, id, msg, msglen);
	*result = json_pack("{s:I, s:i, s:I}", "page_id", (json_int_t)id, "slot", (int)slot, "size",
			    (json_int_t)len);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_record_get(struct stratad *d, const json_t *args, json_t **result, char *msg,
			 size_t msglen)
{
	uint64_t id;
	uint16_t slot;
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) || (rv = arg_slot(args, id, &slot, msg, msglen)))
		return rv;
	size_t cap = ps_page_size(PS(d)), len;
	void *buf = malloc(cap);
	if (!buf)
		return STRATA_ENOMEM;
	rv = ps_record_get(PS(d), id, slot, buf, cap, &len);
	if (rv == STRATA_ENOT_FOUND) {
		free(buf);
		snprintf(msg, msglen, "page %llu has no record in slot %u (or no such page)",
			 (unsigned long long)id, slot);
		return rv;
	}
	if (rv) {
		free(buf);
		return page_error(rv, id, msg, msglen);
	}
	*result = json_pack("{s:I, s:i, s:I, s:o}", "page_id", (json_int_t)id, "slot", (int)slot,
			    "size", (json_int_t)len, "data", b64_json(buf, len));
	free(buf);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_record_update(struct stratad *d, const json_t *args, json_t **result, char *msg,
			    size_t msglen)
{
	uint64_t id;
	uint16_t slot;
	bool sync;
	void *data = NULL;
	size_t len;
	size_t max = page_max_record(ps_page_size(PS(d)));
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) ||
	    (rv = arg_slot(args, id, &slot, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)) ||
	    (rv = arg_data(args, max, &data, &len, msg, msglen)))
		return rv;
	rv = ps_record_update(PS(d), id, slot, data, len, sync);
	free(data);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "page %llu slot %u not found", (unsigned long long)id, slot);
		return rv;
	}
	if (rv)
		return page_error(rv, id, msg, msglen);
	*result = json_pack("{s:I, s:i, s:I}", "page_id", (json_int_t)id, "slot", (int)slot, "size",
			    (json_int_t)len);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_record_delete(struct stratad *d, const json_t *args, json_t **result, char *msg,
			    size_t msglen)
{
	uint64_t id;
	uint16_t slot;
	bool sync;
	int rv;
	if ((rv = arg_page(args, "page_id", &id, msg, msglen)) ||
	    (rv = arg_slot(args, id, &slot, msg, msglen)) ||
	    (rv = arg_bool(args, "sync", true, &sync, msg, msglen)))
		return rv;
	rv = ps_record_delete(PS(d), id, slot, sync);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "page %llu slot %u not found", (unsigned long long)id, slot);
		return rv;
	}
	if (rv)
		return page_error(rv, id, msg, msglen);
	*result = json_pack("{s:I, s:i, s:b}", "page_id", (json_int_t)id, "slot", (int)slot, "deleted", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_vectored_read(struct stratad *d, const json_t *args, json_t **result, char *msg,
			    size_t msglen)
{
	json_t *ids = json_object_get(args, "page_ids");
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		snprintf(msg, msglen, "field 'page_ids' must be a non-empty array of page ids");
		return STRATA_EBAD_REQUEST;
	}
	size_t n = json_array_size(ids);
	if (n > MAX_VECTORED) {
		snprintf(msg, msglen, "field 'page_ids' has %zu ids; at most %d per request", n, MAX_VECTORED);
		return STRATA_ETOO_LARGE;
	}
	/* include_data=false reads the pages all the same (through the pool,
	 * checksums verified, a prewarm or a scrub) but answers only each
	 * page's id and lsn instead of its base64 image. */
	bool with_data;
	int brv = arg_bool(args, "include_data", true, &with_data, msg, msglen);
	if (brv)
		return brv;
	size_t ps = ps_page_size(PS(d));
	uint64_t *v = calloc(n, sizeof(*v));
	void **bufs = calloc(n, sizeof(*bufs));
	uint8_t *mem = malloc(n * ps);
	int rv = 0;
	json_t *pages = NULL;
	if (!v || !bufs || !mem) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(ids, i);
		if (!json_is_integer(x) || json_integer_value(x) < 1) {
			snprintf(msg, msglen, "page_ids[%zu] must be a positive integer", i);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
		v[i] = (uint64_t)json_integer_value(x);
		bufs[i] = mem + i * ps;
	}
	rv = ps_read_vectored(PS(d), v, n, bufs);
	if (rv) {
		/* Name the page that failed: the first one that does alone. */
		for (size_t i = 0; i < n; i++) {
			int r = ps_read_vectored(PS(d), &v[i], 1, &bufs[i]);
			if (r) {
				rv = page_error(r, v[i], msg, msglen);
				break;
			}
		}
		goto out;
	}
	pages = json_array();
	for (size_t i = 0; pages && i < n; i++)
		json_array_append_new(pages, with_data ? json_pack("{s:I, s:o}", "page_id", (json_int_t)v[i],
								   "data", b64_json(bufs[i], ps))
						       : json_pack("{s:I, s:I}", "page_id", (json_int_t)v[i], "lsn",
								   (json_int_t)page_lsn(bufs[i])));
	*result = json_pack("{s:o}", "pages", pages);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	free(v);
	free(bufs);
	free(mem);
	return rv;
}

static int op_vectored_write(struct stratad *d, const json_t *args, json_t **result, char *msg,
			     size_t msglen)
{
	json_t *pages = json_object_get(args, "pages");
	bool sync;
	int rv = arg_bool(args, "sync", true, &sync, msg, msglen);
	if (rv)
		return rv;
	if (!json_is_array(pages) || json_array_size(pages) == 0) {
		snprintf(msg, msglen, "field 'pages' must be a non-empty array of {page_id, data}");
		return STRATA_EBAD_REQUEST;
	}
	size_t n = json_array_size(pages);
	if (n > MAX_VECTORED) {
		snprintf(msg, msglen, "field 'pages' has %zu pages; at most %d per request", n, MAX_VECTORED);
		return STRATA_ETOO_LARGE;
	}
	size_t ps = ps_page_size(PS(d));
	uint64_t *v = calloc(n, sizeof(*v));
	void **bufs = calloc(n, sizeof(*bufs));
	if (!v || !bufs) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(pages, i);
		size_t len;
		if (!json_is_object(p)) {
			snprintf(msg, msglen, "pages[%zu] must be an object {page_id, data}", i);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
		if ((rv = arg_page(p, "page_id", &v[i], msg, msglen)) ||
		    (rv = arg_data(p, ps, &bufs[i], &len, msg, msglen))) {
			char inner[200];
			snprintf(inner, sizeof(inner), "%s", msg);
			snprintf(msg, msglen, "pages[%zu]: %s", i, inner);
			goto out;
		}
		if (len != ps) {
			snprintf(msg, msglen, "pages[%zu]: data is %zu bytes; a page is %zu", i, len, ps);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
		if (page_id(bufs[i]) != v[i] || page_validate(bufs[i], ps) != 0) {
			snprintf(msg, msglen,
				 "pages[%zu]: data is not a valid page image for page %llu (format it "
				 "from a vectored-read of the page)", i, (unsigned long long)v[i]);
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
	}
	rv = ps_write_vectored(PS(d), v, n, bufs, sync);
	if (rv) {
		rv = page_error(rv, v[0], msg, msglen);
		goto out;
	}
	*result = json_pack("{s:I}", "written", (json_int_t)n);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(v);
	return rv;
}

const struct op_def ops_storage[] = {
	{"buffer.stats", op_buffer_stats, false, false},
	{"buffer.flush", op_buffer_flush, true, false},
	{"io.stats", op_io_stats, false, false},
	{"io.reset", op_io_reset, true, false},
	{"disks.list", op_disks, false, false},
	{"pages.alloc", op_page_alloc, true, false},
	{"pages.get", op_page_get, false, false},
	{"pages.compact", op_page_compact, true, false},
	{"pages.split", op_page_split, true, false},
	{"pages.merge", op_page_merge, true, false},
	{"io.vectored_read", op_vectored_read, false, false},
	{"io.vectored_write", op_vectored_write, true, false},
	{"records.insert", op_record_insert, true, false},
	{"records.get", op_record_get, false, false},
	{"records.update", op_record_update, true, false},
	{"records.delete", op_record_delete, true, false},
	{0},
};
