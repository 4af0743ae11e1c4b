/*
 * bench/nng_pubsub.c — the raw nng PUB/SUB lossless rate on this machine,
 * the reference for the WebSocket benchmark (bench/ws.sh, README-ws.md).
 *
 *   nng_pubsub [--size 200] [--trial-ms 1000] [--start 50000] [--max 3200000]
 *              [--sendbuf 4096] [--recvbuf 8192] [--steps 4]
 *
 * Each trial starts a subscriber process (this program, exec'd with --sub) (SUB, NNG_OPT_RECVBUF raised) that
 * dials a fresh ipc:// socket of the publisher (PUB, NNG_OPT_SENDBUF
 * raised; the buffers stratad and strata-front use by default). Once the
 * subscriber has seen a warm-up message, the publisher sends trial-ms worth
 * of messages of --size bytes, each carrying a sequence number, paced to
 * the trial's rate (checked against the clock before every message; when
 * behind it sends at once). The subscriber counts what arrives until 300 ms
 * of silence and reports through a pipe.
 *
 * A rate is lossless when every message arrives and the publisher kept the
 * pace (achieved >= 95% of the target). The search doubles the rate from
 * --start until a trial loses, then bisects --steps times. Prints one JSON
 * line: the lossless rate, and every trial.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct result {
	uint64_t received, last_seq, max_gap_run;
};

static int subscriber(const char *url, int recvbuf, int wfd)
{
	nng_socket s;
	struct result r = {0};
	int rv;
	if ((rv = nng_sub0_open(&s)) != 0 || (rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, recvbuf)) != 0 ||
	    (rv = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 300)) != 0 ||
	    (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "nng_pubsub: sub: %s\n", nng_strerror(rv));
		return 1;
	}
	bool ready = false;
	int64_t start = now_ns();
	for (;;) {
		nng_msg *m;
		rv = nng_recvmsg(s, &m, 0);
		if (rv == NNG_ETIMEDOUT) {
			if (!ready && now_ns() - start < 5000000000LL)
				continue;
			break;
		}
		if (rv != 0)
			break;
		uint64_t seq = 0;
		if (nng_msg_len(m) >= 8)
			memcpy(&seq, nng_msg_body(m), 8);
		nng_msg_free(m);
		if (seq == 0) {
			if (!ready) {
				ready = true;
				if (write(wfd, "r", 1) != 1)
					return 1;
			}
			continue;
		}
		r.received++;
		if (seq > r.last_seq + 1 && seq - r.last_seq - 1 > r.max_gap_run)
			r.max_gap_run = seq - r.last_seq - 1;
		if (seq > r.last_seq)
			r.last_seq = seq;
	}
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return 1;
	nng_close(s);
	return 0;
}

/* One trial at `rate` msg/s; returns 0 and fills the figures, or -1. */
static int trial(int n_trial, double rate, int size, int trial_ms, int sendbuf, int recvbuf,
		 uint64_t *sent, double *achieved, struct result *res)
{
	char url[128];
	snprintf(url, sizeof(url), "ipc:///tmp/nng_pubsub.%d.%d.sock", (int)getpid(), n_trial);
	nng_socket p;
	int rv;
	if ((rv = nng_pub0_open(&p)) != 0 || (rv = nng_socket_set_int(p, NNG_OPT_SENDBUF, sendbuf)) != 0 ||
	    (rv = nng_listen(p, url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_pubsub: pub: %s\n", nng_strerror(rv));
		return -1;
	}
	int to_parent[2];
	if (pipe(to_parent) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* nng is not fork-safe: the subscriber is a fresh exec of this program */
		close(to_parent[0]);
		char rb[16], fd[16];
		snprintf(rb, sizeof(rb), "%d", recvbuf);
		snprintf(fd, sizeof(fd), "%d", to_parent[1]);
		execl("/proc/self/exe", "nng_pubsub", "--sub", url, rb, fd, (char *)NULL);
		_exit(127);
	}
	close(to_parent[1]);
	/* warm up until the subscriber has a message */
	char *buf = calloc(1, (size_t)size);
	if (!buf)
		return -1;
	int ready = 0;
	for (int i = 0; i < 5000 && !ready; i++) {
		nng_send(p, buf, (size_t)size, NNG_FLAG_NONBLOCK);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		fd_set fs;
		FD_ZERO(&fs);
		FD_SET(to_parent[0], &fs);
		struct timeval tv = {0, 0};
		if (select(to_parent[0] + 1, &fs, NULL, NULL, &tv) > 0) {
			char c;
			ready = read(to_parent[0], &c, 1) == 1;
		}
	}
	uint64_t n = (uint64_t)(rate * trial_ms / 1000.0);
	int64_t t0 = now_ns();
	double ns_per = 1e9 / rate;
	for (uint64_t i = 1; i <= n && ready; i++) {
		int64_t due = t0 + (int64_t)((double)(i - 1) * ns_per);
		while (now_ns() < due) {
			int64_t d = due - now_ns();
			if (d > 60000) {
				struct timespec ts = {0, d - 50000};
				nanosleep(&ts, NULL);
			}
		}
		memcpy(buf, &i, 8);
		nng_send(p, buf, (size_t)size, 0);
	}
	double el = (double)(now_ns() - t0) / 1e9;
	*sent = ready ? n : 0;
	*achieved = ready && el > 0 ? (double)n / el : 0;
	memset(res, 0, sizeof(*res));
	ssize_t got = 0;
	while (got < (ssize_t)sizeof(*res)) {
		ssize_t k = read(to_parent[0], (char *)res + got, sizeof(*res) - (size_t)got);
		if (k <= 0)
			break;
		got += k;
	}
	close(to_parent[0]);
	int st;
	waitpid(pid, &st, 0);
	nng_close(p);
	free(buf);
	unlink(url + 6);
	return ready && got == (ssize_t)sizeof(*res) ? 0 : -1;
}

int main(int argc, char **argv)
{
	int size = 200, trial_ms = 1000, sendbuf = 4096, recvbuf = 8192, steps = 4;
	double start = 50000, max = 3200000;
	if (argc == 5 && !strcmp(argv[1], "--sub"))
		return subscriber(argv[2], atoi(argv[3]), atoi(argv[4]));
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--size"))
			size = atoi(v);
		else if (!strcmp(a, "--trial-ms"))
			trial_ms = atoi(v);
		else if (!strcmp(a, "--start"))
			start = atof(v);
		else if (!strcmp(a, "--max"))
			max = atof(v);
		else if (!strcmp(a, "--sendbuf"))
			sendbuf = atoi(v);
		else if (!strcmp(a, "--recvbuf"))
			recvbuf = atoi(v);
		else if (!strcmp(a, "--steps"))
			steps = atoi(v);
		else {
			fprintf(stderr, "nng_pubsub: unknown option %s\n", a);
			return 2;
		}
	}
	if (size < 8 || trial_ms <= 0 || start <= 0) {
		fprintf(stderr, "nng_pubsub: --size must be >= 8\n");
		return 2;
	}
	double good = 0, bad = 0, rate = start;
	int k = 0;
	printf("{\"size\":%d,\"sendbuf\":%d,\"recvbuf\":%d,\"trials\":[", size, sendbuf, recvbuf);
	for (int step = 0; step < 64; step++) {
		uint64_t sent;
		double ach;
		struct result r;
		if (trial(k, rate, size, trial_ms, sendbuf, recvbuf, &sent, &ach, &r) != 0) {
			fprintf(stderr, "nng_pubsub: trial failed\n");
			return 1;
		}
		bool ok = sent > 0 && r.received == sent && ach >= 0.95 * rate;
		printf("%s{\"rate\":%.0f,\"achieved\":%.0f,\"sent\":%llu,\"received\":%llu,\"lossless\":%s}",
		       k ? "," : "", rate, ach, (unsigned long long)sent, (unsigned long long)r.received,
		       ok ? "true" : "false");
		fflush(stdout);
		k++;
		if (ok)
			good = rate;
		else
			bad = rate;
		if (!bad) {
			if (rate * 2 > max)
				break;
			rate *= 2;
		} else {
			if (steps-- <= 0)
				break;
			rate = good ? (good + bad) / 2 : rate / 2;
		}
	}
	printf("],\"lossless_msg_s\":%.0f}\n", good);
	return 0;
}
