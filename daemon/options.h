/*
 * daemon/options.h — stratad's command line.
 */
#ifndef STRATA_DAEMON_OPTIONS_H
#define STRATA_DAEMON_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stratad_options {
	char data_dir[4096];     /* as given (default ./var/strata) */
	char ctl_url[4200];      /* default ipc://DATA/ctl.sock */
	char events_url[4200];   /* default ipc://DATA/events.sock */
	size_t page_size;        /* 4096 */
	uint64_t frames;         /* 1024 */
	unsigned stats_interval_ms; /* 1000, min 100 */
	unsigned replay_size;    /* events kept per topic for events.replay */
	unsigned workers;        /* request worker threads */
	unsigned sample_every;   /* per-page events: 1 in N */
	unsigned rare_limit;     /* rare events per second per family */
	unsigned lru_k;          /* buffer pool LRU-K */
	bool direct_io;          /* O_DIRECT on the data file */
	uint64_t alert_queue_depth, alert_latency_us, alert_iops; /* IoAlert thresholds, 0 = off */
	bool debug_ops;          /* enables debug.* ops (tests) */
	char cluster_token_file[4096]; /* "" = none (ipc:// endpoints only) */
	char cold_dir[4096];     /* cold tier segments ("": DATA/cold or the stored policy's) */
	char tablespace_roots[8192]; /* colon-separated roots tablespaces may live under */
	uint64_t json_path_budget; /* JSONPath work units per request (JBUDGET_DEFAULT) */
};

/*
 * Parses argv into o (defaults first). Returns 0, 1 when --help was printed
 * (exit 0), or -1 after printing a message to stderr (exit 2).
 * The URLs are filled from the data dir when not given.
 */
int stratad_parse_options(int argc, char **argv, struct stratad_options *o);

#endif
