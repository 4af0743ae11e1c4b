/*
 * strata — the ops CLI. Talks to stratad over the same IPC as the
 * frontends; `strata top` maps the stats segment read-only instead.
 *
 * Exit codes: 0 ok, 1 the operation failed (error printed), 2 usage,
 * 3 stratad is not running / unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>

#include "cli/cli.h"
#include "ipc/cluster.h"
#include "ipc/ipc.h"
#include "proto/event_codec.h"
#include "proto/msg.h"
#include "strata/error.h"
#include "proto/json_text.h"

static const char usage[] =
	"usage: strata [--data DIR | --ctl URL --events URL] [--json] [--timeout-ms N] COMMAND\n"
	"\n"
	"commands:\n"
	"  status                 stratad's status (pid, epoch, uptime, sizes, versions)\n"
	"  ping                   round trip to stratad\n"
	"  events [FAMILY...]     one JSON line per event until interrupted; FAMILY is\n"
	"                         buffer-pool, lsm, io, tiers, pages or columnar (default: all)\n"
	"  top                    live buffer pool and I/O figures from the stats segment\n"
	"                         (local only; no IPC), refreshed every second\n"
	"  flush                  write every dirty page and sync the data file\n"
	"  buffer | io | disks    buffer pool, I/O and disk figures\n"
	"  page alloc             allocate a page;  page get ID: its free space, slots, checksum\n"
	"  page compact ID | split ID | merge ID1 ID2\n"
	"  page put ID TEXT       store TEXT as a record;  page read ID SLOT;  page delete ID SLOT\n"
	"  lsm list | create NAME [none|commit|interval] | drop NAME\n"
	"  lsm put NAME KEY VALUE | get NAME KEY | del NAME KEY | scan NAME [START [END [LIMIT]]]\n"
	"  lsm compact NAME | flush NAME | stats NAME\n"
	"  load TREE FILE         bulk-load KEY<TAB>VALUE or JSON lines (- for stdin), with progress\n"
	"  call OP [JSON]         any control op with a JSON object of args, e.g.\n"
	"                         strata call events.replay '{\"family\":\"io\",\"after\":0}'\n"
	"\n"
	"options:\n"
	"  --data DIR             stratad's data dir (default ./var/strata)\n"
	"  --ctl URL, --events URL  endpoints (default from --data)\n"
	"  --cluster-token-file F the cluster token a tcp:// stratad wants (default:\n"
	"                         $STRATA_CLUSTER_TOKEN_FILE)\n"
	"  --json                 machine-readable output where it is tabular\n"
	"  --count N              events: stop after N events\n"
	"  --timeout-ms N         control request timeout (default 5000)\n"
	"  --help                 this text\n";

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int resolve_urls(struct cli *c)
{
	if (c->ctl_url[0] && c->events_url[0])
		return 0;
	if (!realpath(c->data_dir, c->data_real)) {
		fprintf(stderr, "strata: data dir %s: %s (is stratad running? start it with 'make run' or "
				"'stratad --data DIR')\n",
			c->data_dir, strerror(errno));
		return 3;
	}
	if (!c->ctl_url[0])
		snprintf(c->ctl_url, sizeof(c->ctl_url), "ipc://%s/ctl.sock", c->data_real);
	if (!c->events_url[0])
		snprintf(c->events_url, sizeof(c->events_url), "ipc://%s/events.sock", c->data_real);
	return 0;
}

/* Takes the reference to args. */
int cli_call(struct cli *c, const char *op, json_t *args, json_t **result)
{
	int rv = cli_call_borrowed(c, op, args, result);
	json_decref(args);
	return rv;
}

int cli_call_borrowed(struct cli *c, const char *op, const json_t *args, json_t **result)
{
	char err[512];
	int rv;
	if (!args) {
		fprintf(stderr, "strata: out of memory\n");
		return 1;
	}
	if (!c->ctl) {
		if ((rv = resolve_urls(c)) != 0)
			return rv;
		if (ipc_client_open(&c->ctl, c->ctl_url, IPC_DEFAULT_MAX_MSG, err, sizeof(err)) != 0) {
			fprintf(stderr, "strata: %s\n", err);
			return 2;
		}
	}
	uint64_t client;
	if (getrandom(&client, sizeof(client), 0) != sizeof(client))
		client = (uint64_t)getpid();
	struct proto_request rq = {.id = 1, .client = client & ((1ull << 53) - 1), .args = (json_t *)args};
	snprintf(rq.op, sizeof(rq.op), "%s", op);
	snprintf(rq.tok, sizeof(rq.tok), "%s", c->tok);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	if (proto_request_encode(&rq, &sb) != 0) {
		msgpack_sbuffer_destroy(&sb);
		fprintf(stderr, "strata: cannot encode the request (bad op name '%s'?)\n", op);
		return 2;
	}
	void *reply = NULL;
	size_t len = 0;
	rv = ipc_client_call(c->ctl, sb.data, sb.size, c->timeout_ms, 1000, &reply, &len);
	msgpack_sbuffer_destroy(&sb);
	if (rv == STRATA_EUNAVAILABLE) {
		fprintf(stderr, "strata: stratad is not running at %s\n", c->ctl_url);
		return 3;
	}
	if (rv != 0) {
		fprintf(stderr, "strata: %s: %s\n", op, strata_strerror(rv));
		return rv == STRATA_ETIMEOUT ? 3 : 1;
	}
	struct proto_reply rp = {0};
	struct proto_err perr = {{0}};
	rv = proto_reply_decode(reply, len, &rp, &perr);
	free(reply);
	if (rv != 0) {
		fprintf(stderr, "strata: bad reply: %s\n", perr.msg);
		return 1;
	}
	if (!rp.ok) {
		fprintf(stderr, "strata: %s: %s: %s\n", op, strata_err_name(rp.err), rp.message);
		proto_reply_clear(&rp);
		return 1;
	}
	*result = rp.result ? json_incref(rp.result) : json_null();
	proto_reply_clear(&rp);
	return 0;
}

static void print_json(const json_t *j, bool compact)
{
	char *s = proto_json_dumps(j, compact ? JSON_COMPACT : JSON_INDENT(2));
	if (s) {
		puts(s);
		free(s);
	}
}

static int cmd_status(struct cli *c)
{
	json_t *r;
	int rv = cli_call(c, "sys.status", json_object(), &r);
	if (rv)
		return rv;
	if (c->json) {
		print_json(r, true);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(r, k, v) {
			if (json_is_object(v)) {
				printf("%-18s", k);
				const char *k2;
				json_t *v2;
				int first = 1;
				json_object_foreach(v, k2, v2) {
					char *s = proto_json_dumps(v2, JSON_ENCODE_ANY | JSON_COMPACT);
					printf("%s%s=%s", first ? "" : " ", k2, s ? s : "?");
					free(s);
					first = 0;
				}
				printf("\n");
			} else {
				char *s = proto_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				printf("%-18s %s\n", k, s ? s : "?");
				free(s);
			}
		}
	}
	json_decref(r);
	return 0;
}

static int cmd_ping(struct cli *c)
{
	json_t *r;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rv = cli_call(c, "sys.ping", json_object(), &r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (rv)
		return rv;
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	printf("pong from epoch %" PRId64 " in %.3f ms\n", (int64_t)json_integer_value(json_object_get(r, "epoch")), ms);
	json_decref(r);
	return 0;
}

static int cmd_call(struct cli *c, int argc, char **argv)
{
	if (argc < 1 || argc > 2) {
		fputs(usage, stderr);
		return 2;
	}
	json_t *args = json_object();
	if (argc == 2) {
		json_error_t je;
		json_decref(args);
		args = json_loads(argv[1], 0, &je);
		if (!args || !json_is_object(args)) {
			fprintf(stderr, "strata: args must be a JSON object: %s\n", args ? "not an object" : je.text);
			json_decref(args);
			return 2;
		}
	}
	json_t *r;
	int rv = cli_call(c, argv[0], args, &r);
	if (rv)
		return rv;
	print_json(r, c->json);
	json_decref(r);
	return 0;
}

struct events_state {
	long remaining; /* -1: unlimited */
	int down_reported;
};

static void print_event(void *arg, const struct strata_event *ev, const struct ev_live *live)
{
	struct events_state *st = arg;
	if (st->remaining == 0)
		return;
	char *text = ev_to_json_text(ev, live);
	if (text) {
		puts(text);
		fflush(stdout);
		free(text);
	}
	if (st->remaining > 0 && --st->remaining == 0)
		interrupted = 1;
}

/* A bus message holds one event or a batch of one topic's events. */
static void on_event(void *arg, const void *msg, size_t len)
{
	struct events_state *st = arg;
	struct proto_err perr = {{0}};
	if (st->remaining == 0)
		return;
	if (ev_bus_decode_each(msg, len, print_event, st, &perr) != 0)
		fprintf(stderr, "strata: bad event: %s\n", perr.msg);
}

static void on_conn(void *arg, bool up)
{
	(void)arg;
	fprintf(stderr, "strata: event stream %s\n", up ? "connected" : "lost; reconnecting");
}

static int cmd_events(struct cli *c, int argc, char **argv)
{
	int rv;
	if ((rv = resolve_urls(c)) != 0)
		return rv;
	const char *prefixes[STRATA_FAM_COUNT + 1];
	size_t n = 0;
	for (int i = 0; i < argc; i++) {
		int fam = ev_family_from_path(argv[i]);
		if (fam < 0) {
			fprintf(stderr, "strata: unknown family '%s' (buffer-pool, lsm, io, tiers, pages, columnar)\n", argv[i]);
			return 2;
		}
		if (n < STRATA_FAM_COUNT)
			prefixes[n++] = ev_family_topic(fam);
	}
	if (n == 0)
		prefixes[n++] = "storage."; /* every family, nothing else */
	/* Say clearly when nothing is there, rather than waiting in silence. */
	json_t *r;
	if ((rv = cli_call(c, "sys.ping", json_object(), &r)) != 0)
		return rv;
	json_decref(r);
	struct events_state st = {.remaining = c->count > 0 ? c->count : -1};
	struct ipc_sub *sub;
	char err[512];
	if (ipc_sub_open(&sub, c->events_url, prefixes, n, on_event, on_conn, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "strata: %s\n", err);
		return 1;
	}
	while (!interrupted)
		usleep(50000);
	ipc_sub_close(sub);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data", required_argument, 0, 'd'},
		{"ctl", required_argument, 0, 'c'},
		{"events", required_argument, 0, 'e'},
		{"json", no_argument, 0, 'j'},
		{"count", required_argument, 0, 'n'},
		{"timeout-ms", required_argument, 0, 'T'},
		{"cluster-token-file", required_argument, 0, 'k'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	static struct cli c;
	snprintf(c.data_dir, sizeof(c.data_dir), "./var/strata");
	c.timeout_ms = 5000;
	const char *token_file = getenv("STRATA_CLUSTER_TOKEN_FILE");
	int o;
	while ((o = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (o) {
		case 'd': snprintf(c.data_dir, sizeof(c.data_dir), "%s", optarg); break;
		case 'c': snprintf(c.ctl_url, sizeof(c.ctl_url), "%s", optarg); break;
		case 'e': snprintf(c.events_url, sizeof(c.events_url), "%s", optarg); break;
		case 'j': c.json = true; break;
		case 'n': c.count = atol(optarg); break;
		case 'T': c.timeout_ms = atoi(optarg) > 0 ? atoi(optarg) : 5000; break;
		case 'k': token_file = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (token_file && *token_file) {
		char err[512];
		if (ipc_cluster_token_load(token_file, c.tok, sizeof(c.tok), err, sizeof(err)) != 0) {
			fprintf(stderr, "strata: %s\n", err);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	const char *cmd = argv[optind];
	int rest = argc - optind - 1;
	char **rargv = argv + optind + 1;
	int rv;
	if (strcmp(cmd, "status") == 0)
		rv = cmd_status(&c);
	else if (strcmp(cmd, "ping") == 0)
		rv = cmd_ping(&c);
	else if (strcmp(cmd, "events") == 0)
		rv = cmd_events(&c, rest, rargv);
	else if (strcmp(cmd, "top") == 0)
		rv = cli_top(&c, &interrupted);
	else if (strcmp(cmd, "call") == 0)
		rv = cmd_call(&c, rest, rargv);
	else if ((rv = cli_command(&c, cmd, rest, rargv)) == -1) {
		fprintf(stderr, "strata: unknown command '%s'\n%s", cmd, usage);
		rv = 2;
	}
	ipc_client_close(c.ctl);
	return rv;
}
