/*
 * shm/segment.h — the two shared-memory segments of a data dir.
 *
 * stratad creates both at start (shm_create) and removes them at clean exit
 * (shm_destroy); it is the only process that writes them. Tools attach the
 * stats segment read-only (shm_attach_stats). Names derive from the data
 * dir's real path, so two data dirs never share a segment.
 *
 *   data segment (mode 0600)            stats segment (mode 0640)
 *   +-------------------------+         +-------------------------+
 *   | struct shm_header       |         | struct shm_header       |
 *   | frame descriptors       |         | struct shm_stats        |
 *   |   frames x shm_frame_desc|        +-------------------------+
 *   | page table              |
 *   |   stripes + buckets     |
 *   | frames (page aligned)   |
 *   +-------------------------+
 *
 * Both segments are posix_fallocate'd at creation, so a /dev/shm too small
 * for them fails at start with STRATA_ENOSPC and a message, never with a
 * SIGBUS later. A segment left by a crashed stratad (the caller holds the
 * data dir lock, so no live stratad owns it) is discarded and recreated.
 *
 * Thread safety: create/destroy from one thread; the mapped memory follows
 * the protocols of the structures placed in it (see shm/layout.h).
 */
#ifndef STRATA_SHM_SEGMENT_H
#define STRATA_SHM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"
#include "shm/stats.h"

#define SHM_MAGIC_DATA 0x5354524154414431ull  /* "STRATAD1" */
#define SHM_MAGIC_STATS 0x5354524154415331ull /* "STRATAS1" */
#define SHM_LAYOUT_VERSION 1u

/* Written once by stratad before anyone can attach; read-only afterwards. */
struct shm_header {
	uint64_t magic;
	uint32_t layout_version;
	uint32_t page_size;
	uint64_t epoch;          /* random per start */
	uint64_t pid;            /* stratad's pid */
	int64_t start_time_us;   /* wall clock */
	uint64_t frame_count;
	uint64_t segment_bytes;  /* total mapped size */
	uint64_t desc_offset;    /* data: frame descriptors */
	uint64_t table_offset;   /* data: page table */
	uint64_t table_buckets;  /* data: buckets (power of two) */
	uint64_t frames_offset;  /* data: first frame, page aligned */
	uint64_t stats_offset;   /* stats: struct shm_stats */
	char data_dir[256];      /* for tools: which dir this belongs to */
};

struct shm_segments {
	struct shm_header *data_hdr; /* mapping of the data segment */
	struct shm_header *stats_hdr;
	size_t data_bytes, stats_bytes;
	char data_name[64], stats_name[64];
	/* Convenience pointers into the mappings. */
	struct shm_frame_desc *descs;
	struct shm_page_table *table;
	uint8_t *frames;
	struct shm_stats *stats;
};

/* Segment names for a data dir (real path); buffers of 64 bytes. */
void shm_names(const char *data_dir_real, char data_name[64], char stats_name[64]);

/*
 * Creates both segments for data_dir (its real path) with frame_count frames
 * of page_size bytes, fills the headers (epoch given by the caller), and maps
 * them read-write. Stale segments of the same names are removed first.
 * On failure nothing is left behind and errbuf says why (e.g. "/dev/shm has
 * 64 MiB free, the data segment needs 512 MiB: raise /dev/shm (docker
 * --shm-size) or lower --frames").
 * Returns 0, STRATA_ENOSPC, STRATA_EIO, STRATA_EBAD_REQUEST (sizes).
 */
int shm_create(struct shm_segments *s, const char *data_dir_real, size_t page_size,
	       uint64_t frame_count, uint64_t epoch, char *errbuf, size_t errlen);

/* Unmaps and unlinks both segments. Safe on a zeroed struct. */
void shm_destroy(struct shm_segments *s);

/* Unmaps without unlinking (tests: simulate a crash). */
void shm_detach(struct shm_segments *s);

/*
 * Attaches the stats segment of data_dir read-only (tools). Checks magic and
 * layout version. *hdr points at the header; the stats follow at
 * hdr->stats_offset. Returns 0, STRATA_ENOT_FOUND (no stratad running),
 * STRATA_ECORRUPT (bad magic/version), STRATA_EIO.
 */
int shm_attach_stats(const char *data_dir_real, const struct shm_header **hdr,
		     const struct shm_stats **stats, size_t *mapped_bytes);
void shm_detach_stats(const struct shm_header *hdr, size_t mapped_bytes);

#endif
