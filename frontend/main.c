/*
 * strata-front — a stateless frontend: REST + WebSocket over stratad's IPC.
 */
#include <errno.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "frontend/fanout.h"
#include "frontend/origin.h"
#include "frontend/server.h"
#include "ipc/cluster.h"
#include "strata/error.h"

static struct front front;

static const char usage[] =
	"usage: strata-front [options]\n"
	"  --ctl URL           stratad control endpoint (default ipc://./var/strata/ctl.sock, absolute)\n"
	"  --events URL        stratad event endpoint (default ipc://./var/strata/events.sock, absolute)\n"
	"  --data DIR          derive both endpoints from stratad's data dir\n"
	"  --listen HOST:PORT  where to serve HTTP and WebSocket (default 127.0.0.1:8080);\n"
	"                      unix:PATH for a Unix socket (e.g. behind nginx on the same host;\n"
	"                      local like loopback; a stale socket file is replaced, a live one refused)\n"
	"  --token-file FILE   bearer tokens, one 'TOKEN ROLE' per line (role: read|write|admin);\n"
	"                      required when listening beyond loopback\n"
	"  --allow-origin ORIGIN  a browser origin allowed to call this frontend (CORS and\n"
	"                      WebSocket Origin check): scheme://host[:port], '*' or 'null';\n"
	"                      repeatable or comma-separated. Without it only the frontend's own\n"
	"                      origin and, on a loopback listener, loopback origins are allowed\n"
	"  --cluster-token-file F  stratad's cluster token, sent with every control request;\n"
	"                      required when --ctl is tcp:// (file mode 0600)\n"
	"  --timeout-ms N      control request timeout (default 5000)\n"
	"  --ws-queue N        messages queued per WebSocket client before the oldest drop (default 1024)\n"
	"  --ws-queue-bytes N  bytes queued per WebSocket client before the oldest drop (default 4194304)\n"
	"  --ws-slow-close-ms N  close a client that keeps dropping messages this long (default 10000)\n"
	"  --ws-msg-rate N     control messages per second a client may send (default 20; 0 = no cap)\n"
	"  --ws-max-rate N     events per second delivered to one client, the rest dropped and\n"
	"                      counted in a rate_limited notice (default 0 = no cap; a client may\n"
	"                      ask for less with {\"max_rate\":N})\n"
	"  --ws-ping-s N       ping an idle WebSocket after N s, hang up after 3N s (default 20)\n"
	"  --ws-send-threads N threads that write a burst of events to the WebSocket clients,\n"
	"                      each a share of them (1..16; default: half the online CPUs, 1..4)\n"
	"  --ws-sndbuf BYTES   kernel send buffer of each WebSocket connection (4096..16777216;\n"
	"                      default 0: the kernel's autotuning, up to net.ipv4.tcp_wmem's max)\n"
	"  --breaker-failures N  consecutive control failures that open the circuit breaker (default 3)\n"
	"  --breaker-probe-ms N  probe period while the breaker is open (default 1000)\n"
	"  --verbose           libwebsockets notices on stderr\n"
	"  --help              this text\n";

static void on_signal(int sig)
{
	(void)sig;
	front.interrupted = 1;
	if (front.ctx)
		lws_cancel_service(front.ctx);
}

static int parse_listen(const char *s, struct front_options *o)
{
	if (strncmp(s, "unix:", 5) == 0) {
		/* sun_path holds 108 bytes with the NUL; '@' = Linux's abstract namespace */
		size_t pl = strlen(s + 5);
		if (pl == 0 || pl >= 108 || pl >= sizeof(o->listen_host) || (s[5] == '@' && pl == 1))
			return -1;
		memcpy(o->listen_host, s + 5, pl + 1);
		o->listen_port = 0;
		o->listen_unix = true;
		return 0;
	}
	o->listen_unix = false;
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1])
		return -1;
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 0 || port > 65535)
		return -1;
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof(o->listen_host))
		return -1;
	memcpy(o->listen_host, s, hl);
	o->listen_host[hl] = '\0';
	/* [::1]:8080 */
	if (o->listen_host[0] == '[' && o->listen_host[hl - 1] == ']') {
		memmove(o->listen_host, o->listen_host + 1, hl - 2);
		o->listen_host[hl - 2] = '\0';
	}
	o->listen_port = (int)port;
	return 0;
}

static int data_urls(const char *dir, struct front_options *o)
{
	char real[4096];
	if (!realpath(dir, real)) {
		fprintf(stderr, "strata-front: --data %s: %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(o->ctl_url, sizeof(o->ctl_url), "ipc://%s/ctl.sock", real);
	snprintf(o->events_url, sizeof(o->events_url), "ipc://%s/events.sock", real);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ctl", required_argument, 0, 'c'},
		{"events", required_argument, 0, 'e'},
		{"data", required_argument, 0, 'd'},
		{"listen", required_argument, 0, 'l'},
		{"token-file", required_argument, 0, 't'},
		{"allow-origin", required_argument, 0, 'A'},
		{"cluster-token-file", required_argument, 0, 'k'},
		{"timeout-ms", required_argument, 0, 'T'},
		{"ws-queue", required_argument, 0, 'q'},
		{"ws-queue-bytes", required_argument, 0, 'B'},
		{"ws-slow-close-ms", required_argument, 0, 'S'},
		{"ws-msg-rate", required_argument, 0, 'R'},
		{"ws-max-rate", required_argument, 0, 'M'},
		{"ws-ping-s", required_argument, 0, 'P'},
		{"ws-send-threads", required_argument, 0, 'W'},
		{"ws-sndbuf", required_argument, 0, 'Z'},
		{"breaker-failures", required_argument, 0, 'F'},
		{"breaker-probe-ms", required_argument, 0, 'O'},
		{"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct front_options *o = &front.opt;
	snprintf(o->listen_host, sizeof(o->listen_host), "127.0.0.1");
	o->listen_port = 8080;
	o->timeout_ms = 5000;
	o->ws_queue_max = 1024;
	o->ws_queue_bytes = 4u << 20;
	o->ws_slow_close_ms = 10000;
	o->ws_msg_rate = 20;
	o->ws_ping_s = 20;
	/* half the cores, 1..4: the kernel's receive side of each send runs on
	 * the sending thread's core, and the rest of the machine needs some */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->ws_send_threads = ncpu < 4 ? 1 : ncpu >= 8 ? 4 : (unsigned)(ncpu / 2);
	o->breaker_failures = 3;
	o->breaker_probe_ms = 1000;
	o->max_body = 8u << 20;
	bool verbose = false, have_data = false;
	char data_dir[4096] = "./var/strata";
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		long v;
		switch (c) {
		case 'c': snprintf(o->ctl_url, sizeof(o->ctl_url), "%s", optarg); break;
		case 'e': snprintf(o->events_url, sizeof(o->events_url), "%s", optarg); break;
		case 'd':
			snprintf(data_dir, sizeof(data_dir), "%s", optarg);
			have_data = true;
			break;
		case 'l':
			if (parse_listen(optarg, o) != 0) {
				fprintf(stderr, "strata-front: --listen %s: expected HOST:PORT or unix:PATH "
						"(PATH under 108 bytes)\n", optarg);
				return 2;
			}
			break;
		case 't': snprintf(o->token_file, sizeof(o->token_file), "%s", optarg); break;
		case 'k':
			snprintf(o->cluster_token_file, sizeof(o->cluster_token_file), "%s", optarg);
			break;
		case 'A': {
			char err[512];
			if (origin_list_add(&o->allow_origin, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "strata-front: %s\n", err);
				return 2;
			}
			break;
		}
		case 'T':
		case 'q':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 600000) {
				fprintf(stderr, "strata-front: %s %s: expected an integer in 1..600000\n",
					c == 'T' ? "--timeout-ms" : "--ws-queue", optarg);
				return 2;
			}
			if (c == 'T')
				o->timeout_ms = (int)v;
			else
				o->ws_queue_max = (unsigned)v;
			break;
		case 'B':
		case 'S':
		case 'R':
		case 'P':
		case 'F':
		case 'O':
		case 'W':
		case 'Z':
		case 'M': {
			static const struct { char c; const char *name; long lo, hi; } lim[] = {
				{'B', "--ws-queue-bytes", 4096, 1L << 30},
				{'S', "--ws-slow-close-ms", 100, 3600000},
				{'R', "--ws-msg-rate", 0, 100000},
				{'P', "--ws-ping-s", 1, 3600},
				{'F', "--breaker-failures", 1, 1000},
				{'O', "--breaker-probe-ms", 50, 600000},
				{'M', "--ws-max-rate", 0, 10000000},
				{'W', "--ws-send-threads", 1, FANOUT_MAX_THREADS},
				{'Z', "--ws-sndbuf", 4096, 16 << 20},
			};
			size_t k = 0;
			while (lim[k].c != c)
				k++;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < lim[k].lo || v > lim[k].hi) {
				fprintf(stderr, "strata-front: %s %s: expected an integer in %ld..%ld\n",
					lim[k].name, optarg, lim[k].lo, lim[k].hi);
				return 2;
			}
			switch (c) {
			case 'B': o->ws_queue_bytes = (size_t)v; break;
			case 'S': o->ws_slow_close_ms = (unsigned)v; break;
			case 'R': o->ws_msg_rate = (unsigned)v; break;
			case 'P': o->ws_ping_s = (unsigned)v; break;
			case 'F': o->breaker_failures = (unsigned)v; break;
			case 'M': o->ws_max_rate = (unsigned)v; break;
			case 'W': o->ws_send_threads = (unsigned)v; break;
			case 'Z': o->ws_sndbuf = (unsigned)v; break;
			default: o->breaker_probe_ms = (unsigned)v; break;
			}
			break;
		}
		case 'v': verbose = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strata-front: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if ((!o->ctl_url[0] || !o->events_url[0]) || have_data) {
		struct front_options d = *o;
		if (data_urls(data_dir, &d) != 0)
			return 2;
		if (!o->ctl_url[0] || have_data)
			snprintf(o->ctl_url, sizeof(o->ctl_url), "%s", d.ctl_url);
		if (!o->events_url[0] || have_data)
			snprintf(o->events_url, sizeof(o->events_url), "%s", d.events_url);
	}
	if (o->cluster_token_file[0]) {
		char terr[512];
		if (ipc_cluster_token_load(o->cluster_token_file, front.cluster_tok,
					   sizeof(front.cluster_tok), terr, sizeof(terr)) != 0) {
			fprintf(stderr, "strata-front: %s\n", terr);
			return 2;
		}
	} else if (ipc_url_is_network(o->ctl_url)) {
		fprintf(stderr, "strata-front: %s is a network endpoint: stratad wants its cluster "
				"token (--cluster-token-file)\n", o->ctl_url);
		return 2;
	}
	lws_set_log_level(verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, NULL);
	if (getrandom(&front.client_id, sizeof(front.client_id), 0) != sizeof(front.client_id))
		front.client_id = (uint64_t)getpid();
	front.client_id &= (1ull << 53) - 1;
	char host[64];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(front.frontend_id, sizeof(front.frontend_id), "%s:%ld", host, (long)getpid());

	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	char err[512] = "";
	if (front_start(&front, err, sizeof(err)) != 0) {
		fprintf(stderr, "strata-front: %s\n", err);
		front_stop(&front);
		return 1;
	}
	if (o->listen_unix)
		printf("strata-front: http over unix:%s (control %s, events %s)\n", o->listen_host,
		       o->ctl_url, o->events_url);
	else
		printf("strata-front: http://%s:%d/ (control %s, events %s)\n", o->listen_host,
		       o->listen_port, o->ctl_url, o->events_url);
	fflush(stdout);
	front_run(&front);
	front_stop(&front);
	printf("strata-front: stopped\n");
	return 0;
}
