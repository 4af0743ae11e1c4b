/*
 * stratad — the storage process. See DESIGN.md "Processes".
 *
 * Start-up order (each step undone in reverse on failure and at exit):
 *   1. options, data dir (created), its real path, the socket URLs
 *   2. the data dir lock (a second stratad on the same dir stops here)
 *   3. shm segments (stale ones discarded), core pointed at the stats
 *   4. storage (core objects over the data dir)
 *   5. event publisher socket, replay ring, publisher + ticker threads
 *   6. control server (request workers)
 *   then the main thread waits for SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/emit.h"
#include "core/stats.h"
#include "daemon/dedup.h"
#include "daemon/dispatch.h"
#include "daemon/lockfile.h"
#include "daemon/modules.h"
#include "daemon/publisher.h"
#include "daemon/replay.h"
#include "daemon/storage.h"
#include "daemon/trees.h"
#include "daemon/stratad.h"
#include "ipc/cluster.h"
#include "ipc/ipc.h"
#include "shm/segment.h"
#include "strata/error.h"

static int mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0750) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static uint64_t random_epoch(void)
{
	uint64_t e = 0;
	while (e == 0)
		if (getrandom(&e, sizeof(e), 0) != sizeof(e))
			e = (uint64_t)clock_wall_us() ^ ((uint64_t)getpid() << 32);
	/* Keep it inside JSON's exact integer range (2^53) and jansson's
	 * signed json_int_t, so every client reads the same number. */
	return e & ((1ull << 53) - 1) ? e & ((1ull << 53) - 1) : 1;
}

int main(int argc, char **argv)
{
	static struct stratad d;
	struct publisher *pub = NULL;
	struct ipc_server *srv = NULL;
	char err[512] = "";
	int rc = 1;

	int po = stratad_parse_options(argc, argv, &d.opt);
	if (po != 0)
		return po > 0 ? 0 : 2;

	/* Signals are taken by sigwait in main; every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (mkdir_p(d.opt.data_dir) != 0) {
		fprintf(stderr, "stratad: cannot create data dir %s: %s\n", d.opt.data_dir,
			strerror(errno));
		return 1;
	}
	if (!realpath(d.opt.data_dir, d.data_dir)) {
		fprintf(stderr, "stratad: data dir %s: %s\n", d.opt.data_dir, strerror(errno));
		return 1;
	}
	if (!d.opt.ctl_url[0])
		snprintf(d.opt.ctl_url, sizeof(d.opt.ctl_url), "ipc://%s/ctl.sock", d.data_dir);
	if (!d.opt.events_url[0])
		snprintf(d.opt.events_url, sizeof(d.opt.events_url), "ipc://%s/events.sock", d.data_dir);
	if (ipc_url_check(d.opt.ctl_url, err, sizeof(err)) != 0 ||
	    ipc_url_check(d.opt.events_url, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		return 2;
	}
	if (d.opt.cluster_token_file[0]) {
		if (ipc_cluster_token_load(d.opt.cluster_token_file, d.cluster_tok,
					   sizeof(d.cluster_tok), err, sizeof(err)) != 0) {
			fprintf(stderr, "stratad: %s\n", err);
			return 2;
		}
	} else if (ipc_url_is_network(d.opt.ctl_url) || ipc_url_is_network(d.opt.events_url)) {
		fprintf(stderr, "stratad: %s is a network endpoint: refusing to serve it without "
				"--cluster-token-file\n",
			ipc_url_is_network(d.opt.ctl_url) ? d.opt.ctl_url : d.opt.events_url);
		return 2;
	}

	struct lockfile lock;
	if (lockfile_acquire(&lock, d.data_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		return 1;
	}

	d.epoch = random_epoch();
	d.start_us = clock_wall_us();
	d.max_msg = IPC_DEFAULT_MAX_MSG;
	if (shm_create(&d.shm, d.data_dir, d.opt.page_size, d.opt.frames, d.epoch, err,
		       sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		goto out_lock;
	}
	core_stats_attach(d.shm.stats);
	emit_set_sample_every(d.opt.sample_every);
	emit_set_rare_limit(d.opt.rare_limit);

	if (storage_open(&d.storage, &d, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		goto out_shm;
	}
	if (trees_open(&d.trees, d.data_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		goto out_storage;
	}
	if (modules_open(&d, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: %s\n", err);
		goto out_storage;
	}
	if (dedup_create(&d.dedup) != 0 || replay_create(&d.replay, d.opt.replay_size) != 0) {
		fprintf(stderr, "stratad: out of memory\n");
		goto out_storage;
	}
	if (ipc_pub_open(&d.pub, d.opt.events_url, 4096, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: events endpoint: %s\n", err);
		goto out_tables;
	}
	if (publisher_start(&pub, &d) != 0) {
		fprintf(stderr, "stratad: cannot start the publisher\n");
		goto out_pub;
	}
	struct ipc_server_opts so = {
		.url = d.opt.ctl_url,
		.contexts = d.opt.workers * 4,
		.workers = d.opt.workers,
		.max_msg = d.max_msg,
		.handler = dispatch_handle,
		.arg = &d,
	};
	if (ipc_server_start(&srv, &so, err, sizeof(err)) != 0) {
		fprintf(stderr, "stratad: control endpoint: %s\n", err);
		goto out_publisher;
	}

	printf("stratad: pid %d, data %s, epoch %llu\n  control %s\n  events  %s\n",
	       (int)getpid(), d.data_dir, (unsigned long long)d.epoch, d.opt.ctl_url,
	       d.opt.events_url);
	fflush(stdout);

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	printf("stratad: %s, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	fflush(stdout);
	atomic_store(&d.stopping, true);
	rc = 0;

	/* Requests still arriving are answered "shutting down" (dispatch);
	 * running ones finish and their replies go out. */
	ipc_server_drain(srv, 30000);
	ipc_server_stop(srv);
out_publisher:
	storage_quiesce(d.storage); /* flush before the last events go out */
	publisher_stop(pub);        /* publishes what is still queued */
out_pub:
	ipc_pub_close(d.pub);
out_tables:
	replay_destroy(d.replay);
	dedup_destroy(d.dedup);
out_storage:
	if (modules_close(&d) != 0)
		rc = 1;
	if (trees_close(d.trees) != 0)
		rc = 1;
	if (storage_close(d.storage) != 0)
		rc = 1;
out_shm:
	core_stats_attach(NULL);
	emit_shutdown();
	shm_destroy(&d.shm);
	for (const char *u = d.opt.ctl_url; u; u = u == d.opt.ctl_url ? d.opt.events_url : NULL)
		if (strncmp(u, "ipc://", 6) == 0)
			(void)unlink(u + 6);
out_lock:
	lockfile_release(&lock);
	return rc;
}
