/*
 * tests/tsan/fanout_stress.c — frontend/fanout under ThreadSanitizer (make
 * tsan): many fork-join rounds of 4 threads over socketpairs, the caller
 * rewriting the job array between rounds as ws_flush does, and checking
 * every byte that arrived. The module is one file with no dependencies
 * beyond strata/error.h, so it is compiled in here.
 */
#include "frontend/fanout.c"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N 64
#define ROUNDS 2000

int main(void)
{
	int wr[N], rd[N];
	for (int i = 0; i < N; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
			perror("socketpair");
			return 1;
		}
		wr[i] = sv[0];
		rd[i] = sv[1];
	}
	struct fanout *f;
	if (fanout_create(&f, 4) != 0) {
		fprintf(stderr, "fanout_create failed\n");
		return 1;
	}
	static struct fanout_job jobs[N];
	static unsigned char buf[N][64];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++) {
			memset(buf[i], (unsigned char)(r + i), sizeof(buf[i]));
			jobs[i] = (struct fanout_job){.fd = wr[i], .buf = buf[i], .len = 1 + (size_t)((r + i) % 63)};
		}
		fanout_send(f, jobs, N, 1);
		for (int i = 0; i < N; i++) {
			unsigned char got[64];
			ssize_t n = recv(rd[i], got, sizeof(got), MSG_DONTWAIT);
			if (jobs[i].err || jobs[i].sent != jobs[i].len || n != (ssize_t)jobs[i].len ||
			    got[0] != (unsigned char)(r + i)) {
				fprintf(stderr, "round %d socket %d: err %d sent %zu got %zd\n", r, i, jobs[i].err,
					jobs[i].sent, n);
				return 1;
			}
		}
	}
	fanout_destroy(f);
	for (int i = 0; i < N; i++) {
		close(wr[i]);
		close(rd[i]);
	}
	printf("fanout_stress: %d rounds of %d jobs on 4 threads: ok\n", ROUNDS, N);
	return 0;
}
