/*
 * bench/ws_client.c — N WebSocket clients in one process on one epoll loop,
 * for the event-streaming benchmark (bench/ws.sh, bench/README-ws.md).
 *
 *   ws_client (--port P [--host 127.0.0.1] | --unix PATH)
 *             [--path /api/v1/ws/storage/buffer-pool]
 *             [-n N] [--ready-file F] [--drain-ms 300] [--max-s 120]
 *
 * --unix: connect to strata-front --listen unix:PATH instead of TCP (the hop
 * from a proxy on the same host).
 *
 * Opens N connections (at most 128 handshakes in flight), touches
 * --ready-file once every handshake is done, then reads until SIGUSR1 or
 * SIGTERM (or --max-s), after which it keeps reading until the sockets have
 * been quiet for --drain-ms (at most 3 s) and prints one JSON object.
 *
 * A minimal RFC 6455 client: the upgrade handshake (the server's 101 is
 * checked, not its accept key), unmasked server frames (text, binary,
 * continuation, ping, pong, close), masked pongs for pings.
 *
 * Per connection it follows "seq" of live messages (consecutive per family:
 * a jump counts the seqs skipped as missing, a repeat or step back counts as
 * out of order), sums "dropped" of lagged notices and the seqs named by gap
 * notices, and takes the latency of every message carrying "ts_us" (the
 * emission time in stratad, CLOCK_REALTIME µs) as the wall-clock time when
 * the read() that brought it returned, minus ts_us. Latencies go into an
 * histogram of 1-µs buckets up to 100 ms, 1-ms buckets up to 120 s (max is exact).
 *
 * Only the buffer-pool family is expected on the default path; seq
 * continuity is tracked per connection, which is per family there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAT_FINE_US 100000   /* 1-µs buckets below 100 ms */
#define LAT_COARSE_MS 120000 /* then 1-ms buckets up to 120 s */
#define LAT_BUCKETS (LAT_FINE_US + LAT_COARSE_MS + 1)
#define MAX_INFLIGHT_CONNECTS 128

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

struct conn {
	int fd;
	enum cstate st;
	unsigned char *buf;
	size_t len, cap;
	/* fragmented message being assembled */
	unsigned char *frag;
	size_t fraglen, fragcap;
	bool in_frag;
	/* figures */
	uint64_t last_seq, first_seq, msgs, events, missing, out_of_order, lagged_dropped,
		gap_seqs, gap_notices, lagged_notices, pings, other;
	int close_code;
};

static volatile sig_atomic_t g_stop;
static uint64_t *g_lat; /* [LAT_BUCKETS], last is overflow */
static uint64_t g_lat_n, g_lat_max;
static int64_t g_first_rx, g_last_rx;
static uint64_t g_ev_bytes, g_ev_min = UINT64_MAX, g_ev_max; /* live event message sizes */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool grow(unsigned char **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	unsigned char *p = realloc(*b, n);
	if (!p)
		return false;
	*b = p;
	*cap = n;
	return true;
}

/* Last occurrence of needle in [h, h+n). */
static const char *rfind(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (n < k)
		return NULL;
	for (size_t i = n - k + 1; i-- > 0;)
		if (h[i] == needle[0] && memcmp(h + i, needle, k) == 0)
			return h + i;
	return NULL;
}

static bool num_after(const char *h, size_t n, const char *key, bool last, uint64_t *out)
{
	const char *p = last ? rfind(h, n, key) : memmem(h, n, key, strlen(key));
	if (!p)
		return false;
	p += strlen(key);
	const char *e = h + n;
	if (p >= e || *p < '0' || *p > '9')
		return false;
	uint64_t v = 0;
	while (p < e && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = v;
	return true;
}

static void on_message(struct conn *c, const char *m, size_t n, int64_t rx_us)
{
	c->msgs++;
	static const char pfx[] = "{\"message_type\":\"";
	const char *type = n > sizeof(pfx) - 1 && memcmp(m, pfx, sizeof(pfx) - 1) == 0
				   ? m + sizeof(pfx) - 1
				   : "";
	uint64_t v;
	if (strncmp(type, "lagged\"", 7) == 0) {
		c->lagged_notices++;
		if (num_after(m, n, "\"dropped\":", false, &v))
			c->lagged_dropped += v;
		return;
	}
	if (strncmp(type, "gap\"", 4) == 0) {
		uint64_t from, to;
		c->gap_notices++;
		if (num_after(m, n, "\"from_seq\":", false, &from) &&
		    num_after(m, n, "\"to_seq\":", false, &to) && to >= from)
			c->gap_seqs += to - from + 1;
		return;
	}
	uint64_t seq;
	if (!num_after(m, n, ",\"seq\":", true, &seq)) {
		c->other++; /* connection notices and the like */
		return;
	}
	c->events++;
	g_ev_bytes += n;
	if (n < g_ev_min)
		g_ev_min = n;
	if (n > g_ev_max)
		g_ev_max = n;
	if (!c->first_seq)
		c->first_seq = seq;
	if (c->last_seq) {
		if (seq > c->last_seq + 1)
			c->missing += seq - c->last_seq - 1;
		else if (seq <= c->last_seq)
			c->out_of_order++;
	}
	if (seq > c->last_seq)
		c->last_seq = seq;
	uint64_t ts;
	if (num_after(m, n, ",\"ts_us\":", true, &ts)) {
		int64_t lat = rx_us - (int64_t)ts;
		if (lat < 0)
			lat = 0;
		int64_t b = lat < LAT_FINE_US ? lat : LAT_FINE_US + (lat - LAT_FINE_US) / 1000;
		g_lat[b < LAT_BUCKETS - 1 ? b : LAT_BUCKETS - 1]++;
		g_lat_n++;
		if ((uint64_t)lat > g_lat_max)
			g_lat_max = (uint64_t)lat;
		if (!g_first_rx)
			g_first_rx = rx_us;
		g_last_rx = rx_us;
	}
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	int spins = 0;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN && ++spins < 1000) {
			usleep(100);
		} else {
			return;
		}
	}
}

static void send_pong(struct conn *c, const unsigned char *p, size_t n)
{
	unsigned char f[2 + 4 + 125];
	if (n > 125)
		n = 125;
	f[0] = 0x8A;
	f[1] = 0x80 | (unsigned char)n;
	uint32_t mask = (uint32_t)rand();
	memcpy(f + 2, &mask, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = p[i] ^ f[2 + (i & 3)];
	send_all(c->fd, f, 6 + n);
}

/* Parses the complete frames in c->buf; returns false on a protocol error. */
static bool parse_frames(struct conn *c, int64_t rx_us)
{
	size_t off = 0;
	while (c->len - off >= 2) {
		const unsigned char *h = c->buf + off;
		int op = h[0] & 0x0f;
		bool fin = h[0] & 0x80;
		if (h[1] & 0x80)
			return false; /* servers do not mask */
		uint64_t plen = h[1] & 0x7f;
		size_t hl = 2;
		if (plen == 126) {
			if (c->len - off < 4)
				break;
			plen = (uint64_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (plen == 127) {
			if (c->len - off < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | h[2 + i];
			hl = 10;
		}
		if (plen > (64u << 20))
			return false;
		if (c->len - off < hl + plen)
			break;
		const unsigned char *p = h + hl;
		switch (op) {
		case 0x1:
		case 0x2:
			if (fin) {
				on_message(c, (const char *)p, plen, rx_us);
			} else {
				c->in_frag = true;
				c->fraglen = 0;
				if (!grow(&c->frag, &c->fragcap, plen))
					return false;
				memcpy(c->frag, p, plen);
				c->fraglen = plen;
			}
			break;
		case 0x0:
			if (!c->in_frag || !grow(&c->frag, &c->fragcap, c->fraglen + plen))
				return false;
			memcpy(c->frag + c->fraglen, p, plen);
			c->fraglen += plen;
			if (fin) {
				c->in_frag = false;
				on_message(c, (const char *)c->frag, c->fraglen, rx_us);
			}
			break;
		case 0x8:
			c->close_code = plen >= 2 ? (p[0] << 8 | p[1]) : 1005;
			return false;
		case 0x9:
			c->pings++;
			send_pong(c, p, plen);
			break;
		default:
			break; /* pong */
		}
		off += hl + plen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return true;
}

static const char *g_host = "127.0.0.1", *g_path = "/api/v1/ws/storage/buffer-pool";
static int g_port;
static const char *g_unix;

static int start_connect(struct conn *c, int ep)
{
	c->fd = socket(g_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (g_unix) {
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		if (strlen(g_unix) >= sizeof(su.sun_path))
			return -1;
		memcpy(su.sun_path, g_unix, strlen(g_unix) + 1);
		/* a full backlog is EAGAIN here: counted as a failed connection */
		if (connect(c->fd, (struct sockaddr *)&su, sizeof(su)) != 0 && errno != EINPROGRESS)
			return -1;
	} else {
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
		if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1)
			return -1;
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
			return -1;
	}
	c->st = C_CONNECTING;
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_upgrade(struct conn *c, int ep)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n\r\n",
			 g_path, g_host, g_port);
	send_all(c->fd, req, (size_t)n);
	c->st = C_HANDSHAKE;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void kill_conn(struct conn *c, int ep, int *open, int *dead)
{
	if (c->st == C_OPEN)
		(*open)--;
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->st = C_DEAD;
	(*dead)++;
}

int main(int argc, char **argv)
{
	int n = 1, drain_ms = 300, max_s = 120;
	const char *ready = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--port"))
			g_port = atoi(v);
		else if (!strcmp(a, "--host"))
			g_host = v;
		else if (!strcmp(a, "--unix"))
			g_unix = v;
		else if (!strcmp(a, "--path"))
			g_path = v;
		else if (!strcmp(a, "-n"))
			n = atoi(v);
		else if (!strcmp(a, "--ready-file"))
			ready = v;
		else if (!strcmp(a, "--drain-ms"))
			drain_ms = atoi(v);
		else if (!strcmp(a, "--max-s"))
			max_s = atoi(v);
		else {
			fprintf(stderr, "ws_client: unknown option %s\n", a);
			return 2;
		}
	}
	if ((g_port <= 0 && !g_unix) || n <= 0) {
		fprintf(stderr, "usage: ws_client (--port P [--host H] | --unix PATH) [--path PATH] [-n N] "
				"[--ready-file F] [--drain-ms MS] [--max-s S]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	g_lat = calloc(LAT_BUCKETS, sizeof(*g_lat));
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!g_lat || !cs || ep < 0) {
		perror("ws_client");
		return 1;
	}
	for (int i = 0; i < n; i++)
		cs[i].fd = -1;

	int next = 0, inflight = 0, open = 0, dead = 0, failed = 0;
	bool readied = false;
	int64_t t_start = mono_ms(), t_ready = 0, stop_at = 0, last_rx = mono_ms();
	struct epoll_event evs[256];
	size_t rdcap = 16384;
	for (;;) {
		while (next < n && inflight < MAX_INFLIGHT_CONNECTS && !g_stop) {
			struct conn *c = &cs[next++];
			if (start_connect(c, ep) != 0) {
				failed++;
				kill_conn(c, ep, &open, &dead);
			} else {
				inflight++;
			}
		}
		if (!readied && open + dead == n) {
			readied = true;
			t_ready = mono_ms();
			if (ready) {
				FILE *f = fopen(ready, "w");
				if (f) {
					fprintf(f, "%d\n", open);
					fclose(f);
				}
			}
		}
		int64_t now = mono_ms();
		if (!stop_at && (g_stop || now - t_start > (int64_t)max_s * 1000))
			stop_at = now;
		if (stop_at && (now - last_rx >= drain_ms || now - stop_at > 3000 || open == 0))
			break;
		int k = epoll_wait(ep, evs, 256, 50);
		if (k < 0 && errno != EINTR) {
			perror("epoll_wait");
			break;
		}
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->st == C_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
					inflight--;
					failed++;
					kill_conn(c, ep, &open, &dead);
					continue;
				}
				send_upgrade(c, ep);
				continue;
			}
			if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			bool bad = false;
			for (;;) {
				if (!grow(&c->buf, &c->cap, c->len + rdcap)) {
					bad = true;
					break;
				}
				size_t avail = c->cap - c->len;
				ssize_t r = read(c->fd, c->buf + c->len, avail);
				if (r < 0 && errno == EAGAIN)
					break;
				if (r <= 0) {
					bad = true;
					break;
				}
				int64_t rx_us = wall_us(); /* receipt: when this read() returned */
				c->len += (size_t)r;
				last_rx = mono_ms();
				if (c->st == C_HANDSHAKE) {
					unsigned char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
					if (!e)
						continue;
					if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
						bad = true;
						break;
					}
					size_t hl = (size_t)(e + 4 - c->buf);
					memmove(c->buf, c->buf + hl, c->len - hl);
					c->len -= hl;
					c->st = C_OPEN;
					open++;
					inflight--;
				}
				if (!parse_frames(c, rx_us)) {
					bad = true;
					break;
				}
				if ((size_t)r < avail)
					break;
			}
			if (bad) {
				if (c->st == C_HANDSHAKE || c->st == C_CONNECTING) {
					inflight--;
					failed++;
				}
				kill_conn(c, ep, &open, &dead);
			}
		}
	}

	/* totals */
	uint64_t msgs = 0, events = 0, missing = 0, ooo = 0, lagged = 0, lagn = 0, gaps = 0,
		 gapn = 0, pings = 0, minev = UINT64_MAX, maxev = 0, expected = 0;
	int closed_by_server = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &cs[i];
		msgs += c->msgs;
		events += c->events;
		missing += c->missing;
		ooo += c->out_of_order;
		lagged += c->lagged_dropped;
		lagn += c->lagged_notices;
		gaps += c->gap_seqs;
		gapn += c->gap_notices;
		pings += c->pings;
		if (c->first_seq)
			expected += c->last_seq - c->first_seq + 1;
		if (c->close_code)
			closed_by_server++;
		if (c->st != C_DEAD || c->close_code) {
			if (c->events < minev)
				minev = c->events;
			if (c->events > maxev)
				maxev = c->events;
		}
	}
	if (minev == UINT64_MAX)
		minev = 0;
	uint64_t q[4] = {0, 0, 0, 0};
	double qs[4] = {0.5, 0.99, 0.999, 1.0};
	for (int j = 0; j < 4 && g_lat_n; j++) {
		uint64_t target = (uint64_t)(qs[j] * (double)g_lat_n);
		if (target == 0)
			target = 1;
		uint64_t acc = 0;
		for (uint64_t b = 0; b < LAT_BUCKETS; b++) {
			acc += g_lat[b];
			if (acc >= target) {
				q[j] = b < LAT_FINE_US ? b : LAT_FINE_US + (b - LAT_FINE_US) * 1000;
				break;
			}
		}
	}
	double span = g_last_rx > g_first_rx ? (double)(g_last_rx - g_first_rx) / 1e6 : 0;
	printf("{\"clients\":%d,\"opened\":%d,\"failed\":%d,\"closed_by_server\":%d,"
	       "\"connect_ms\":%lld,\"messages\":%llu,\"events\":%llu,\"expected\":%llu,"
	       "\"missing\":%llu,\"out_of_order\":%llu,\"lagged_notices\":%llu,\"lagged_dropped\":%llu,"
	       "\"gap_notices\":%llu,\"gap_seqs\":%llu,\"pings\":%llu,"
	       "\"events_per_client_min\":%llu,\"events_per_client_max\":%llu,"
	       "\"event_bytes\":{\"avg\":%.1f,\"min\":%llu,\"max\":%llu},\"span_s\":%.3f,\"delivered_per_s\":%.0f,"
	       "\"lat_us\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu}}\n",
	       n, n - failed, failed, closed_by_server, (long long)(t_ready ? t_ready - t_start : -1),
	       (unsigned long long)msgs, (unsigned long long)events, (unsigned long long)expected,
	       (unsigned long long)missing, (unsigned long long)ooo, (unsigned long long)lagn,
	       (unsigned long long)lagged, (unsigned long long)gapn, (unsigned long long)gaps,
	       (unsigned long long)pings, (unsigned long long)minev, (unsigned long long)maxev,
	       events ? (double)g_ev_bytes / (double)events : 0.0,
	       (unsigned long long)(events ? g_ev_min : 0), (unsigned long long)g_ev_max, span,
	       span > 0 ? (double)g_lat_n / span : 0.0, (unsigned long long)g_lat_n,
	       (unsigned long long)q[0], (unsigned long long)q[1], (unsigned long long)q[2],
	       (unsigned long long)g_lat_max);
	for (int i = 0; i < n; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].buf);
		free(cs[i].frag);
	}
	free(cs);
	free(g_lat);
	close(ep);
	return 0;
}
