/*
 * tests/unit/test_fanout.c — frontend/fanout: many buffers to many sockets
 * from several threads, fork-join; what a full socket did not take and what
 * a closed one refused come back in the job.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frontend/fanout.h"

#define N 300

static int wr[N], rd[N];
static unsigned char bufs[N][700];

static void pairs(int n)
{
	for (int i = 0; i < n; i++) {
		int sv[2];
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0, "socketpair: %s", strerror(errno));
		wr[i] = sv[0];
		rd[i] = sv[1];
	}
}

static void unpair(int n)
{
	for (int i = 0; i < n; i++) {
		if (wr[i] >= 0)
			close(wr[i]);
		if (rd[i] >= 0)
			close(rd[i]);
	}
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Every socket of n gets exactly its own buffer, once, whatever the number
 * of threads; jobs report the whole length and a send time. */
static void round_trip(unsigned threads, int n, size_t min_parallel)
{
	struct fanout *f;
	cr_assert_eq(fanout_create(&f, threads), 0);
	cr_assert_eq(fanout_threads(f), threads);
	pairs(n);
	static struct fanout_job jobs[N];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < n; i++) {
			size_t len = 100 + (size_t)((i * 7 + round) % 600);
			for (size_t k = 0; k < len; k++)
				bufs[i][k] = (unsigned char)(i + k + round);
			jobs[i] = (struct fanout_job){.fd = wr[i], .buf = bufs[i], .len = len, .sent = 999, .err = -1};
		}
		int64_t t0 = wall_us();
		fanout_send(f, jobs, (size_t)n, min_parallel);
		int64_t t1 = wall_us();
		for (int i = 0; i < n; i++) {
			cr_assert_eq(jobs[i].err, 0, "job %d: err %d", i, jobs[i].err);
			cr_assert_eq(jobs[i].sent, jobs[i].len, "job %d: sent %zu of %zu", i, jobs[i].sent,
				     jobs[i].len);
			cr_assert(jobs[i].done_us >= t0 && jobs[i].done_us <= t1, "job %d: done_us outside the call", i);
			unsigned char got[800];
			ssize_t r = recv(rd[i], got, sizeof(got), MSG_DONTWAIT);
			cr_assert_eq(r, (ssize_t)jobs[i].len, "socket %d: %zd bytes, want %zu", i, r, jobs[i].len);
			cr_assert_eq(memcmp(got, bufs[i], jobs[i].len), 0, "socket %d got another's bytes", i);
			cr_assert_eq(recv(rd[i], got, sizeof(got), MSG_DONTWAIT), -1, "socket %d written twice", i);
		}
	}
	unpair(n);
	fanout_destroy(f);
}

Test(fanout, one_thread_sends_every_job)
{
	round_trip(1, N, 64);
}

Test(fanout, two_threads_split_the_jobs)
{
	round_trip(2, N, 64);
}

Test(fanout, more_threads_than_cores_and_uneven_slices)
{
	round_trip(7, N - 3, 1);
}

Test(fanout, few_jobs_stay_on_the_caller)
{
	round_trip(4, 5, 64);
	round_trip(4, 3, 1); /* fewer jobs than threads */
}

Test(fanout, full_socket_gives_a_short_count_not_a_wait)
{
	struct fanout *f;
	cr_assert_eq(fanout_create(&f, 2), 0);
	pairs(100);
	/* fill socket 42 until it takes nothing more */
	cr_assert_eq(fcntl(wr[42], F_SETFL, O_NONBLOCK), 0);
	static unsigned char junk[65536];
	while (send(wr[42], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	static struct fanout_job jobs[100];
	for (int i = 0; i < 100; i++)
		jobs[i] = (struct fanout_job){.fd = wr[i], .buf = junk, .len = 600};
	fanout_send(f, jobs, 100, 1);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(jobs[i].err, 0);
		if (i == 42)
			cr_assert_lt(jobs[i].sent, jobs[i].len, "a full socket took everything");
		else
			cr_assert_eq(jobs[i].sent, 600u);
	}
	unpair(100);
	fanout_destroy(f);
}

Test(fanout, closed_peer_is_an_error_not_a_signal)
{
	struct fanout *f;
	cr_assert_eq(fanout_create(&f, 3), 0);
	pairs(90);
	close(rd[10]);
	rd[10] = -1;
	close(rd[77]);
	rd[77] = -1;
	static struct fanout_job jobs[90];
	static unsigned char msg[300];
	for (int i = 0; i < 90; i++)
		jobs[i] = (struct fanout_job){.fd = wr[i], .buf = msg, .len = sizeof(msg)};
	fanout_send(f, jobs, 90, 1); /* MSG_NOSIGNAL: no SIGPIPE kills the test */
	for (int i = 0; i < 90; i++) {
		if (i == 10 || i == 77) {
			cr_assert_eq(jobs[i].err, EPIPE, "job %d: err %d", i, jobs[i].err);
			cr_assert_eq(jobs[i].sent, 0u);
		} else {
			cr_assert_eq(jobs[i].err, 0);
			cr_assert_eq(jobs[i].sent, sizeof(msg));
		}
	}
	unpair(90);
	fanout_destroy(f);
}

Test(fanout, bad_thread_counts_are_refused)
{
	struct fanout *f = (struct fanout *)&f;
	cr_assert_neq(fanout_create(&f, 0), 0);
	cr_assert_null(f);
	cr_assert_neq(fanout_create(&f, FANOUT_MAX_THREADS + 1), 0);
	cr_assert_null(f);
	cr_assert_eq(fanout_create(&f, FANOUT_MAX_THREADS), 0);
	fanout_send(f, NULL, 0, 1); /* nothing to do */
	fanout_destroy(f);
	fanout_destroy(NULL);
}
