/*
 * bench/fanout_floor.c — the floor of the 1,000-client WebSocket scenario on
 * this machine: the same fan-out with no Strata in it (bench/ws.sh,
 * README-ws.md).
 *
 *   fanout_floor [-n 1000] [--bytes 600] [--hz 67] [--seconds 5]
 *                [--threads 1] [--unix]
 *
 * A sender (this process) accepts n stream connections over loopback TCP
 * (TCP_NODELAY, as libwebsockets sets) or, with --unix, a Unix socket, from
 * a reader process (this program, forked) that reads them on one epoll loop,
 * as bench/ws_client does. Every 1/hz s the sender writes one message of
 * --bytes to every connection with one send() each, from --threads threads
 * that split the connections (the burst's start time is in the message).
 * That is what strata-front does per burst in the 1,000-client scenario
 * (200 ev/s arrive as ~67 bursts of 3 events, ~600 bytes framed per client),
 * minus everything Strata adds: no nng, no JSON, no WebSocket framing, no
 * queues. The latency from burst start to the reader's read() is what any
 * program pays here for that fan-out; the scenario's p99 cannot go below it.
 *
 * Prints one JSON line: latency p50/p99/max in µs, the sender's time per
 * burst (wall), both processes' CPU seconds, short or failed sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAT_BUCKETS 1000000 /* 1 µs buckets up to 1 s */
#define MAX_THREADS 8

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

struct reader_result {
	uint64_t msgs, p50, p99, max;
	double cpu_s;
	int connected;
};

static uint64_t pct(const uint32_t *h, uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q), seen = 0;
	for (uint64_t i = 0; i < LAT_BUCKETS; i++) {
		seen += h[i];
		if (seen > want)
			return i;
	}
	return LAT_BUCKETS;
}

/* The reader: n connections, one epoll loop; every complete message gives
 * one latency. Ends when every connection is closed by the sender. */
static int reader(const struct sockaddr *sa, socklen_t salen, int n, size_t bytes, int wfd)
{
	struct reader_result r = {0};
	uint32_t *h = calloc(LAT_BUCKETS, sizeof(*h));
	int *fds = calloc((size_t)n, sizeof(*fds));
	size_t *have = calloc((size_t)n, sizeof(*have));
	unsigned char *bufs = malloc((size_t)n * bytes), tmp[65536];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!h || !fds || !have || !bufs || ep < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		fds[i] = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], sa, salen) != 0) {
			perror("fanout_floor: connect");
			return 1;
		}
		int one = 1;
		if (sa->sa_family == AF_INET)
			setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
			return 1;
		r.connected++;
	}
	int open = n;
	struct epoll_event evs[256];
	while (open > 0) {
		int k = epoll_wait(ep, evs, 256, 10000);
		if (k == 0)
			break; /* the sender went quiet for 10 s: give up */
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int e = 0; e < k; e++) {
			int i = (int)evs[e].data.u32;
			ssize_t got = read(fds[i], tmp, sizeof(tmp));
			int64_t now = wall_us();
			if (got <= 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
				close(fds[i]);
				open--;
				continue;
			}
			/* messages are fixed-size; the first 8 bytes of each are
			 * the burst's start time */
			unsigned char *m = bufs + (size_t)i * bytes;
			for (ssize_t off = 0; off < got;) {
				size_t take = bytes - have[i];
				if ((size_t)(got - off) < take)
					take = (size_t)(got - off);
				memcpy(m + have[i], tmp + off, take);
				have[i] += take;
				off += (ssize_t)take;
				if (have[i] == bytes) {
					int64_t t0;
					memcpy(&t0, m, sizeof(t0));
					int64_t lat = now - t0;
					if (lat < 0)
						lat = 0;
					if (lat >= LAT_BUCKETS)
						lat = LAT_BUCKETS - 1;
					h[lat]++;
					r.msgs++;
					if ((uint64_t)lat > r.max)
						r.max = (uint64_t)lat;
					have[i] = 0;
				}
			}
		}
	}
	r.p50 = pct(h, r.msgs, 0.50);
	r.p99 = pct(h, r.msgs, 0.99);
	r.cpu_s = cpu_s();
	return write(wfd, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1;
}

struct sender {
	pthread_barrier_t go, done;
	int *fds;
	int n, threads;
	size_t bytes;
	unsigned char *msg;
	volatile bool stop;
	uint64_t short_sends[MAX_THREADS];
};

static void send_slice(struct sender *s, int t)
{
	int lo = s->n * t / s->threads, hi = s->n * (t + 1) / s->threads;
	for (int i = lo; i < hi; i++) {
		ssize_t w = send(s->fds[i], s->msg, s->bytes, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w != (ssize_t)s->bytes)
			s->short_sends[t]++;
	}
}

static void *worker(void *arg)
{
	struct sender *s = arg;
	static int next = 1;
	int t = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
	for (;;) {
		pthread_barrier_wait(&s->go);
		if (s->stop)
			return NULL;
		send_slice(s, t);
		pthread_barrier_wait(&s->done);
	}
}

int main(int argc, char **argv)
{
	int n = 1000, hz = 67, seconds = 5, threads = 1;
	size_t bytes = 600;
	bool unix_sock = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-n") && v)
			n = atoi(argv[++i]);
		else if (!strcmp(a, "--bytes") && v)
			bytes = (size_t)atol(argv[++i]);
		else if (!strcmp(a, "--hz") && v)
			hz = atoi(argv[++i]);
		else if (!strcmp(a, "--seconds") && v)
			seconds = atoi(argv[++i]);
		else if (!strcmp(a, "--threads") && v)
			threads = atoi(argv[++i]);
		else if (!strcmp(a, "--unix"))
			unix_sock = true;
		else {
			fprintf(stderr, "usage: fanout_floor [-n N] [--bytes B] [--hz HZ] [--seconds S] "
					"[--threads T] [--unix]\n");
			return 2;
		}
	}
	if (n < 1 || bytes < 8 || bytes > 65536 || hz < 1 || hz > 10000 || seconds < 1 || threads < 1 ||
	    threads > MAX_THREADS) {
		fprintf(stderr, "fanout_floor: out of range\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_storage ss = {0};
	socklen_t salen;
	char upath[108] = "";
	int lfd = socket(unix_sock ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("fanout_floor: socket");
		return 1;
	}
	if (unix_sock) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		snprintf(upath, sizeof(upath), "/tmp/fanout_floor.%d.sock", (int)getpid());
		unlink(upath);
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, upath, strlen(upath) + 1);
		salen = sizeof(*su);
	} else {
		struct sockaddr_in *si = (struct sockaddr_in *)&ss;
		si->sin_family = AF_INET;
		si->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		salen = sizeof(*si);
	}
	if (bind(lfd, (struct sockaddr *)&ss, salen) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&ss, &salen) != 0) {
		perror("fanout_floor: listen");
		return 1;
	}

	int pfd[2];
	if (pipe(pfd) != 0)
		return 1;
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(pfd[0]);
		close(lfd);
		_exit(reader((struct sockaddr *)&ss, salen, n, bytes, pfd[1]));
	}
	close(pfd[1]);

	struct sender s = {.n = n, .threads = threads, .bytes = bytes};
	s.fds = calloc((size_t)n, sizeof(*s.fds));
	s.msg = calloc(1, bytes);
	if (!s.fds || !s.msg)
		return 1;
	for (int i = 0; i < n; i++) {
		s.fds[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s.fds[i] < 0) {
			perror("fanout_floor: accept");
			kill(child, SIGKILL);
			return 1;
		}
		int one = 1;
		if (!unix_sock)
			setsockopt(s.fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	close(lfd);
	if (upath[0])
		unlink(upath);

	pthread_barrier_init(&s.go, NULL, (unsigned)threads);
	pthread_barrier_init(&s.done, NULL, (unsigned)threads);
	pthread_t tid[MAX_THREADS];
	for (int t = 1; t < threads; t++)
		if (pthread_create(&tid[t], NULL, worker, &s) != 0)
			return 1;

	double c0 = cpu_s();
	int bursts = seconds * hz;
	int64_t loop_us = 0, loop_max = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int b = 0; b < bursts; b++) {
		next.tv_nsec += 1000000000L / hz;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		int64_t t0 = wall_us();
		memcpy(s.msg, &t0, sizeof(t0));
		if (threads > 1)
			pthread_barrier_wait(&s.go);
		send_slice(&s, 0);
		if (threads > 1)
			pthread_barrier_wait(&s.done);
		int64_t took = wall_us() - t0;
		loop_us += took;
		if (took > loop_max)
			loop_max = took;
	}
	double c1 = cpu_s();
	s.stop = true;
	if (threads > 1)
		pthread_barrier_wait(&s.go);
	for (int t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	usleep(200000); /* let the last burst land */
	for (int i = 0; i < n; i++)
		close(s.fds[i]);

	struct reader_result r = {0};
	ssize_t got = read(pfd[0], &r, sizeof(r));
	int st = 0;
	waitpid(child, &st, 0);
	if (got != (ssize_t)sizeof(r) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "fanout_floor: the reader failed\n");
		return 1;
	}
	uint64_t short_sends = 0;
	for (int t = 0; t < threads; t++)
		short_sends += s.short_sends[t];
	printf("{\"transport\":\"%s\",\"clients\":%d,\"bytes\":%zu,\"hz\":%d,\"threads\":%d,\"bursts\":%d,"
	       "\"messages\":%llu,\"expected\":%llu,\"short_sends\":%llu,"
	       "\"lat_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
	       "\"send_loop_us\":{\"avg\":%lld,\"max\":%lld},\"cpu_s\":{\"sender\":%.2f,\"reader\":%.2f}}\n",
	       unix_sock ? "unix" : "tcp", n, bytes, hz, threads, bursts, (unsigned long long)r.msgs,
	       (unsigned long long)bursts * (unsigned long long)n, (unsigned long long)short_sends,
	       (unsigned long long)r.p50, (unsigned long long)r.p99, (unsigned long long)r.max,
	       (long long)(loop_us / bursts), (long long)loop_max, c1 - c0, r.cpu_s);
	return 0;
}
