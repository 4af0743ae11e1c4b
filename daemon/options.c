#include "daemon/options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbudget.h"

static const char usage[] =
	"usage: stratad [options]\n"
	"  --data DIR               data directory (default ./var/strata)\n"
	"  --ctl URL                control endpoint (default ipc://DIR/ctl.sock)\n"
	"  --events URL             event endpoint (default ipc://DIR/events.sock)\n"
	"  --page-size N            page size in bytes, power of two 4096..65536 (default 4096)\n"
	"  --frames N               buffer pool frames (default 1024)\n"
	"  --stats-interval-ms N    *Stats event interval, min 100 (default 1000)\n"
	"  --replay-size N          events kept per topic for events.replay (default 4096)\n"
	"  --workers N              request worker threads (default 4)\n"
	"  --sample-every N         emit 1 in N per-page events (hits, misses, pins, single I/O;\n"
	"                           0 = none, default 100)\n"
	"  --rare-limit N           rare events per second per family (0 = unlimited, default 1000)\n"
	"  --lru-k N                buffer pool replacement: LRU-K with this K, 1..4 (default 2)\n"
	"  --direct-io              O_DIRECT on the data file (not on tmpfs)\n"
	"  --io-alert-queue-depth N, --io-alert-latency-us N, --io-alert-iops N\n"
	"                           IoAlert event thresholds (0 = off; defaults 64, 100000, 0)\n"
	"  --cold-dir DIR           cold tier segment files (may be another mount; default DATA/cold)\n"
	"  --tablespace-root DIR    a directory tablespaces may be created under (repeatable;\n"
	"                           default: only under DATA/tablespaces)\n"
	"  --json-path-budget N     work units one JSONPath evaluation may spend per request\n"
	"                           (json.* ops, a collection query; index paths: per document),\n"
	"                           1000..100000000000 (default 20000000: 2 s of CPU at worst)\n"
	"  --cluster-token-file F   token every control request must carry (\"tok\"); required\n"
	"                           when --ctl or --events is tcp:// (file mode 0600)\n"
	"  --enable-debug-ops       allow debug.* control ops (tests only)\n"
	"  --help                   this text\n";

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "stratad: --%s %s: expected an integer in %" PRIu64 "..%" PRIu64 "\n",
			name, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int stratad_parse_options(int argc, char **argv, struct stratad_options *o)
{
	static const struct option longopts[] = {
		{"data", required_argument, 0, 'd'},
		{"ctl", required_argument, 0, 'c'},
		{"events", required_argument, 0, 'e'},
		{"page-size", required_argument, 0, 'p'},
		{"frames", required_argument, 0, 'f'},
		{"stats-interval-ms", required_argument, 0, 's'},
		{"replay-size", required_argument, 0, 'r'},
		{"workers", required_argument, 0, 'w'},
		{"sample-every", required_argument, 0, 'S'},
		{"rare-limit", required_argument, 0, 'R'},
		{"lru-k", required_argument, 0, 'K'},
		{"direct-io", no_argument, 0, 'O'},
		{"io-alert-queue-depth", required_argument, 0, 'Q'},
		{"io-alert-latency-us", required_argument, 0, 'L'},
		{"io-alert-iops", required_argument, 0, 'I'},
		{"enable-debug-ops", no_argument, 0, 'D'},
		{"cluster-token-file", required_argument, 0, 'k'},
		{"cold-dir", required_argument, 0, 'C'},
		{"tablespace-root", required_argument, 0, 'T'},
		{"json-path-budget", required_argument, 0, 'J'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	memset(o, 0, sizeof(*o));
	snprintf(o->data_dir, sizeof(o->data_dir), "./var/strata");
	o->page_size = 4096;
	o->frames = 1024;
	o->stats_interval_ms = 1000;
	o->replay_size = 4096;
	o->workers = 4;
	o->sample_every = 100;
	o->rare_limit = 1000;
	o->lru_k = 2;
	o->alert_queue_depth = 64;
	o->alert_latency_us = 100000;
	o->json_path_budget = JBUDGET_DEFAULT;

	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			if (!*optarg || strlen(optarg) >= sizeof(o->cold_dir)) {
				fprintf(stderr, "stratad: --cold-dir: bad path\n");
				return -1;
			}
			snprintf(o->cold_dir, sizeof(o->cold_dir), "%s", optarg);
			break;
		case 'T': {
			size_t used = strlen(o->tablespace_roots);
			if (optarg[0] != '/' || strchr(optarg, ':') ||
			    used + strlen(optarg) + 2 > sizeof(o->tablespace_roots)) {
				fprintf(stderr, "stratad: --tablespace-root %s: expected an absolute path "
						"without ':'\n", optarg);
				return -1;
			}
			snprintf(o->tablespace_roots + used, sizeof(o->tablespace_roots) - used, "%s%s",
				 used ? ":" : "", optarg);
			break;
		}
		case 'd':
			if (strlen(optarg) >= sizeof(o->data_dir) || !*optarg) {
				fprintf(stderr, "stratad: --data: bad path\n");
				return -1;
			}
			snprintf(o->data_dir, sizeof(o->data_dir), "%s", optarg);
			break;
		case 'c':
			snprintf(o->ctl_url, sizeof(o->ctl_url), "%s", optarg);
			break;
		case 'e':
			snprintf(o->events_url, sizeof(o->events_url), "%s", optarg);
			break;
		case 'p':
			if (parse_u64("page-size", optarg, 4096, 65536, &v))
				return -1;
			if (v & (v - 1)) {
				fprintf(stderr, "stratad: --page-size %s: must be a power of two\n", optarg);
				return -1;
			}
			o->page_size = v;
			break;
		case 'f':
			if (parse_u64("frames", optarg, 16, 1u << 26, &v))
				return -1;
			o->frames = v;
			break;
		case 's':
			if (parse_u64("stats-interval-ms", optarg, 100, 3600000, &v))
				return -1;
			o->stats_interval_ms = (unsigned)v;
			break;
		case 'r':
			if (parse_u64("replay-size", optarg, 16, 1u << 20, &v))
				return -1;
			o->replay_size = (unsigned)v;
			break;
		case 'w':
			if (parse_u64("workers", optarg, 1, 256, &v))
				return -1;
			o->workers = (unsigned)v;
			break;
		case 'S':
			if (parse_u64("sample-every", optarg, 0, 1u << 30, &v))
				return -1;
			o->sample_every = (unsigned)v;
			break;
		case 'R':
			if (parse_u64("rare-limit", optarg, 0, 1u << 30, &v))
				return -1;
			o->rare_limit = (unsigned)v;
			break;
		case 'K':
			if (parse_u64("lru-k", optarg, 1, 4, &v))
				return -1;
			o->lru_k = (unsigned)v;
			break;
		case 'O':
			o->direct_io = true;
			break;
		case 'Q':
			if (parse_u64("io-alert-queue-depth", optarg, 0, 1u << 20, &o->alert_queue_depth))
				return -1;
			break;
		case 'L':
			if (parse_u64("io-alert-latency-us", optarg, 0, 1ull << 40, &o->alert_latency_us))
				return -1;
			break;
		case 'I':
			if (parse_u64("io-alert-iops", optarg, 0, 1ull << 40, &o->alert_iops))
				return -1;
			break;
		case 'J':
			if (parse_u64("json-path-budget", optarg, JBUDGET_MIN, JBUDGET_MAX,
				      &o->json_path_budget))
				return -1;
			break;
		case 'D':
			o->debug_ops = true;
			break;
		case 'k':
			if (!*optarg || strlen(optarg) >= sizeof(o->cluster_token_file)) {
				fprintf(stderr, "stratad: --cluster-token-file: bad path\n");
				return -1;
			}
			snprintf(o->cluster_token_file, sizeof(o->cluster_token_file), "%s", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "stratad: unexpected argument '%s'\n%s", argv[optind], usage);
		return -1;
	}
	return 0;
}
