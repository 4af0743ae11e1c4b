#include "daemon/storage.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/disk.h"
#include "core/file.h"
#include "daemon/stratad.h"
#include "strata/error.h"

/* Background flusher: pages per round, round interval, log size that
 * triggers a checkpoint (bounds recovery to replaying about this much). */
#define FLUSH_BATCH 64
#define FLUSH_INTERVAL_MS 100
#define CHECKPOINT_LOG_BYTES (64ull << 20)

struct storage {
	struct stratad *d;
	struct pagestore *ps;
	struct ps_recovery rec;
	pthread_t flusher;
	bool flusher_started;
	_Atomic bool stop;
};

struct pagestore *storage_pages(struct storage *s) { return s->ps; }
const struct ps_recovery *storage_recovery(struct storage *s) { return &s->rec; }

static void *flusher_main(void *arg)
{
	struct storage *s = arg;
	int last_err = 0;
	while (!atomic_load(&s->stop)) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = FLUSH_INTERVAL_MS * 1000000L};
		nanosleep(&ts, NULL);
		int rv = ps_background(s->ps, FLUSH_BATCH, CHECKPOINT_LOG_BYTES);
		if (rv < 0 && rv != last_err)
			fprintf(stderr, "stratad: background flush: %s\n", strata_strerror(rv));
		last_err = rv < 0 ? rv : 0;
	}
	return NULL;
}

int storage_open(struct storage **out, struct stratad *d, char *err, size_t errlen)
{
	struct storage *s = calloc(1, sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	s->d = d;
	struct bp_memory mem = {
		.descs = d->shm.descs,
		.table = d->shm.table,
		.buckets = d->shm.data_hdr->table_buckets,
		.frames = d->shm.frames,
		.nframes = d->shm.data_hdr->frame_count,
		.page_size = d->shm.data_hdr->page_size,
	};
	struct ps_config cfg = {.lru_k = d->opt.lru_k, .disk_flags = d->opt.direct_io ? DISK_DIRECT : 0};
	file_set_alert_thresholds(d->opt.alert_queue_depth, d->opt.alert_latency_us, d->opt.alert_iops);
	int rv = ps_open(&s->ps, d->data_dir, &mem, &cfg, &s->rec, err, errlen);
	if (rv) {
		free(s);
		return rv;
	}
	if (s->rec.records_replayed)
		printf("stratad: recovery replayed %llu page images, verified %llu pages, %llu corrupt, in %llu ms\n",
		       (unsigned long long)s->rec.records_replayed,
		       (unsigned long long)s->rec.pages_verified,
		       (unsigned long long)s->rec.pages_corrupt,
		       (unsigned long long)s->rec.duration_us / 1000);
	if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
		snprintf(err, errlen, "cannot start the flusher thread");
		ps_close(s->ps);
		free(s);
		return STRATA_EINTERNAL;
	}
	s->flusher_started = true;
	*out = s;
	return 0;
}

void storage_quiesce(struct storage *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	if (s->flusher_started)
		pthread_join(s->flusher, NULL);
	s->flusher_started = false;
	int rv = ps_checkpoint(s->ps);
	if (rv)
		fprintf(stderr, "stratad: final checkpoint failed: %s\n", strata_strerror(rv));
}

int storage_close(struct storage *s)
{
	if (!s)
		return 0;
	storage_quiesce(s);
	int rv = ps_close(s->ps);
	if (rv)
		fprintf(stderr, "stratad: closing storage: %s\n", strata_strerror(rv));
	free(s);
	return rv ? 1 : 0;
}
