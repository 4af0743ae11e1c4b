#include "shm/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "strata/error.h"

/* FNV-1a: stable across runs, so a tool finds the segment from the dir. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

void shm_names(const char *data_dir_real, char data_name[64], char stats_name[64])
{
	uint64_t h = fnv1a(data_dir_real);
	snprintf(data_name, 64, "/strata-%016llx-data", (unsigned long long)h);
	snprintf(stats_name, 64, "/strata-%016llx-stats", (unsigned long long)h);
}

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Creates, sizes (fallocate: fails now rather than SIGBUS later) and maps one
 * segment. On failure nothing is left. */
static int segment_make(const char *name, mode_t mode, size_t bytes, void **map,
			char *errbuf, size_t errlen)
{
	int err;
	(void)shm_unlink(name); /* a stale one from a crashed stratad */
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
	if (fd < 0) {
		err = strata_err_from_errno(errno);
		snprintf(errbuf, errlen, "shm_open %s: %s", name, strerror(errno));
		return err;
	}
	if (fchmod(fd, mode) != 0) { /* the umask may have narrowed it */
		err = strata_err_from_errno(errno);
		snprintf(errbuf, errlen, "fchmod %s: %s", name, strerror(errno));
		goto fail_unlink;
	}
	int rc = posix_fallocate(fd, 0, (off_t)bytes);
	if (rc != 0) {
		struct statvfs sv;
		unsigned long long avail = 0;
		if (statvfs("/dev/shm", &sv) == 0)
			avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
		snprintf(errbuf, errlen,
			 "cannot reserve %zu MiB in /dev/shm for %s (%s; %llu MiB free): "
			 "enlarge /dev/shm (docker run --shm-size) or start with fewer --frames",
			 bytes >> 20, name, strerror(rc), avail >> 20);
		err = rc == ENOSPC ? STRATA_ENOSPC : strata_err_from_errno(rc);
		goto fail_unlink;
	}
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = strata_err_from_errno(errno);
		snprintf(errbuf, errlen, "mmap %s: %s", name, strerror(errno));
		goto fail_unlink;
	}
	if (close(fd) != 0) {
		err = strata_err_from_errno(errno);
		snprintf(errbuf, errlen, "close %s: %s", name, strerror(errno));
		munmap(p, bytes);
		shm_unlink(name);
		return err;
	}
	*map = p;
	return 0;

fail_unlink:
	close(fd);
	shm_unlink(name);
	return err;
}

static void header_fill(struct shm_header *h, uint64_t magic, const char *dir,
			size_t page_size, uint64_t frames, uint64_t epoch, size_t bytes)
{
	h->magic = magic;
	h->layout_version = SHM_LAYOUT_VERSION;
	h->page_size = (uint32_t)page_size;
	h->epoch = epoch;
	h->pid = (uint64_t)getpid();
	h->start_time_us = wall_us();
	h->frame_count = frames;
	h->segment_bytes = bytes;
	snprintf(h->data_dir, sizeof(h->data_dir), "%s", dir);
}

int shm_create(struct shm_segments *s, const char *data_dir_real, size_t page_size,
	       uint64_t frame_count, uint64_t epoch, char *errbuf, size_t errlen)
{
	int err;
	memset(s, 0, sizeof(*s));
	if (page_size < 4096 || page_size > 65536 || (page_size & (page_size - 1))) {
		snprintf(errbuf, errlen, "page size %zu: must be a power of two in 4096..65536", page_size);
		return STRATA_EBAD_REQUEST;
	}
	if (frame_count < 16 || frame_count > (1ull << 26)) {
		snprintf(errbuf, errlen, "frame count %llu: must be in 16..67108864",
			 (unsigned long long)frame_count);
		return STRATA_EBAD_REQUEST;
	}
	shm_names(data_dir_real, s->data_name, s->stats_name);

	uint64_t buckets = 1;
	while (buckets < frame_count)
		buckets <<= 1;
	size_t off = round_up(sizeof(struct shm_header), 64);
	size_t desc_off = off;
	off += frame_count * sizeof(struct shm_frame_desc);
	size_t table_off = round_up(off, 64);
	off = table_off + sizeof(struct shm_page_table) + buckets * sizeof(_Atomic uint32_t);
	size_t frames_off = round_up(off, page_size);
	size_t data_bytes = frames_off + frame_count * page_size;

	size_t stats_off = round_up(sizeof(struct shm_header), 64);
	size_t stats_bytes = round_up(stats_off + sizeof(struct shm_stats), 4096);

	void *dmap, *smap;
	err = segment_make(s->data_name, 0600, data_bytes, &dmap, errbuf, errlen);
	if (err)
		return err;
	err = segment_make(s->stats_name, 0640, stats_bytes, &smap, errbuf, errlen);
	if (err) {
		munmap(dmap, data_bytes);
		shm_unlink(s->data_name);
		return err;
	}
	s->data_hdr = dmap;
	s->stats_hdr = smap;
	s->data_bytes = data_bytes;
	s->stats_bytes = stats_bytes;

	header_fill(s->data_hdr, SHM_MAGIC_DATA, data_dir_real, page_size, frame_count, epoch, data_bytes);
	s->data_hdr->desc_offset = desc_off;
	s->data_hdr->table_offset = table_off;
	s->data_hdr->table_buckets = buckets;
	s->data_hdr->frames_offset = frames_off;
	header_fill(s->stats_hdr, SHM_MAGIC_STATS, data_dir_real, page_size, frame_count, epoch, stats_bytes);
	s->stats_hdr->stats_offset = stats_off;

	s->descs = (struct shm_frame_desc *)((uint8_t *)dmap + desc_off);
	s->table = (struct shm_page_table *)((uint8_t *)dmap + table_off);
	s->frames = (uint8_t *)dmap + frames_off;
	s->stats = (struct shm_stats *)((uint8_t *)smap + stats_off);

	/* fallocate gave zeroed memory; initialise what is not zero. */
	for (uint64_t i = 0; i < frame_count; i++) {
		atomic_init(&s->descs[i].page_id, SHM_NO_PAGE);
		atomic_init(&s->descs[i].next, SHM_NO_FRAME);
	}
	for (uint64_t b = 0; b < buckets; b++)
		atomic_init(&s->table->buckets[b], SHM_NO_FRAME);
	return 0;
}

void shm_detach(struct shm_segments *s)
{
	if (s->data_hdr)
		munmap(s->data_hdr, s->data_bytes);
	if (s->stats_hdr)
		munmap(s->stats_hdr, s->stats_bytes);
	s->data_hdr = NULL;
	s->stats_hdr = NULL;
}

void shm_destroy(struct shm_segments *s)
{
	bool had = s->data_hdr || s->stats_hdr;
	shm_detach(s);
	if (had) {
		shm_unlink(s->data_name);
		shm_unlink(s->stats_name);
	}
	memset(s, 0, sizeof(*s));
}

int shm_attach_stats(const char *data_dir_real, const struct shm_header **hdr,
		     const struct shm_stats **stats, size_t *mapped_bytes)
{
	char dname[64], sname[64];
	shm_names(data_dir_real, dname, sname);
	int fd = shm_open(sname, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT ? STRATA_ENOT_FOUND : strata_err_from_errno(errno);
	struct stat st;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct shm_header)) {
		close(fd);
		return STRATA_ECORRUPT;
	}
	size_t bytes = (size_t)st.st_size;
	void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	int saved = errno;
	close(fd);
	if (p == MAP_FAILED)
		return strata_err_from_errno(saved);
	const struct shm_header *h = p;
	if (h->magic != SHM_MAGIC_STATS || h->layout_version != SHM_LAYOUT_VERSION ||
	    h->stats_offset + sizeof(struct shm_stats) > bytes) {
		munmap(p, bytes);
		return STRATA_ECORRUPT;
	}
	*hdr = h;
	*stats = (const struct shm_stats *)((const uint8_t *)p + h->stats_offset);
	*mapped_bytes = bytes;
	return 0;
}

void shm_detach_stats(const struct shm_header *hdr, size_t mapped_bytes)
{
	if (hdr)
		munmap((void *)hdr, mapped_bytes);
}
