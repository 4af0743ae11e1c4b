/*
 * tests/unit/test_event_ring.c — core/emit: per-thread SPSC event rings,
 * drops when full, sampling, rate limits, the enable switch, and many
 * producers against one consumer (the ThreadSanitizer target: make tsan).
 *
 * Allocation checks use the sanitizer allocator's counters under ASan/TSan
 * and mallinfo2() otherwise, so "the ring of an exited thread is freed" and
 * "emitting never allocates" are checked in every build.
 */
#if defined(__SANITIZE_THREAD__)
#define OWN_MAIN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OWN_MAIN 1
#endif
#endif

#ifndef OWN_MAIN
#include <criterion/criterion.h>
#else
/*
 * criterion 2.4 cannot start under ThreadSanitizer (its BoxFort arena wants
 * a fixed mapping inside TSan's reserved ranges: "Could not initialize
 * inheritable arena", Snaipe/Criterion#274). The TSan build runs the same
 * tests through this small stand-in: each test in a forked child, after the
 * suite's init; a failed check prints and exits the child. The Makefile's
 * `make tsan` command line works unchanged (arguments are ignored).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct shim_test {
	const char *name;
	void (*fn)(void);
};
static struct shim_test shim_tests[64];
static int shim_ntests;

static void shim_register(const char *name, void (*fn)(void))
{
	if (shim_ntests < 64)
		shim_tests[shim_ntests++] = (struct shim_test){name, fn};
}

static void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	fprintf(stderr, "%s:%d: check failed: %s\n  ", file, line, expr);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define TestSuite(...)
#define Test(suite, name, ...)                                                   \
	static void suite##_##name(void);                                        \
	__attribute__((constructor)) static void suite##_##name##_reg(void)      \
	{                                                                        \
		shim_register(#suite "::" #name, suite##_##name);                \
	}                                                                        \
	static void suite##_##name(void)
#define cr_assert(cond, ...)                                                     \
	do {                                                                     \
		if (!(cond))                                                     \
			shim_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);    \
	} while (0)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#endif

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* From the sanitizer runtime (GCC ships no allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define ALLOC_BYTES() ((long long)__sanitizer_get_current_allocated_bytes())
#else
#include <malloc.h>
static long long alloc_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
}
#define ALLOC_BYTES() alloc_bytes()
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(OWN_MAIN)
/*
 * criterion 2.4's runner process leaks 48 bytes (a calloc under
 * criterion_run_all_tests) when tests of this file run in parallel, which
 * makes LeakSanitizer fail the binary although every test passed. The
 * runner runs no test code (tests run in BoxFort worker processes, which
 * have BXFI_MAP in their environment), so its leaks are suppressed there
 * and only there.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return getenv("BXFI_MAP") ? "" : "leak:libcriterion.so\n";
}
#endif

#include "core/clock.h"
#include "core/emit.h"
#include "core/stats.h"
#include "strata/error.h"
#include "strata/events.h"

#define RING_BYTES ((long long)EMIT_RING_SLOTS * (long long)sizeof(struct strata_event))

static void reset(void)
{
	emit_shutdown();
	memset(core_stats(), 0, sizeof(*core_stats()));
	emit_set_enabled(true);
	emit_set_sample_every(100);
	emit_set_rare_limit(1000);
}

TestSuite(emit, .init = reset, .fini = emit_shutdown, .timeout = 30);

static struct shm_stats *ST(void)
{
	return core_stats();
}

static struct strata_event page_hit(uint64_t page_id)
{
	struct strata_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.variant = STRATA_EV_PageHit;
	ev.u.PageHit.page_id = page_id;
	return ev;
}

static size_t drain_all(struct strata_event *out, size_t max)
{
	size_t n = 0, got;
	while (n < max && (got = emit_drain(out + n, max - n)) > 0)
		n += got;
	return n;
}

/* ---- single thread ------------------------------------------------------------ */

Test(emit, emit_then_drain_fills_family_and_timestamps)
{
	struct strata_event out[8];
	cr_assert_eq(emit_drain(out, 8), 0u, "events before any emit");

	int64_t before = clock_wall_us();
	struct strata_event ev = page_hit(7);
	cr_assert(emit(&ev));
	int64_t after = clock_wall_us();

	cr_assert_eq(emit_drain(out, 8), 1u);
	cr_assert_eq(out[0].variant, STRATA_EV_PageHit);
	cr_assert_eq(out[0].family, STRATA_FAM_BUFFER_POOL);
	cr_assert_eq(out[0].u.PageHit.page_id, 7u);
	cr_assert(out[0].ts_us >= before && out[0].ts_us <= after, "ts_us %lld not in [%lld, %lld]",
		  (long long)out[0].ts_us, (long long)before, (long long)after);
	cr_assert_eq(out[0].u.PageHit.timestamp, out[0].ts_us / 1000000);
	cr_assert_eq(emit_drain(out, 8), 0u, "an event came out twice");
	cr_assert_eq(ST()->events.emitted[STRATA_FAM_BUFFER_POOL], 1u);

	/* A given ts_us is kept, and the variant's timestamp derived from it;
	 * a given variant timestamp is kept; a wrong family is corrected. */
	struct strata_event cs;
	memset(&cs, 0, sizeof(cs));
	cs.variant = STRATA_EV_CompactionStarted;
	cs.family = STRATA_FAM_IO;
	cs.ts_us = 5000123;
	snprintf(cs.u.CompactionStarted.tree_name, STRATA_EV_STR_MAX, "orders");
	cs.u.CompactionStarted.level = 2;
	cr_assert(emit(&cs));
	struct strata_event mf;
	memset(&mf, 0, sizeof(mf));
	mf.variant = STRATA_EV_MemtableFlushed;
	mf.u.MemtableFlushed.timestamp = 42;
	cr_assert(emit(&mf));
	struct strata_event cf;
	memset(&cf, 0, sizeof(cf));
	cf.variant = STRATA_EV_ChecksumFailure;
	cf.u.ChecksumFailure.expected = 0xdeadbeef;
	cr_assert(emit(&cf));

	cr_assert_eq(emit_drain(out, 8), 3u);
	cr_assert_eq(out[0].family, STRATA_FAM_LSM);
	cr_assert_eq(out[0].ts_us, 5000123);
	cr_assert_eq(out[0].u.CompactionStarted.timestamp, 5);
	cr_assert_str_eq(out[0].u.CompactionStarted.tree_name, "orders");
	cr_assert_eq(out[0].u.CompactionStarted.level, 2u);
	cr_assert_eq(out[1].family, STRATA_FAM_LSM);
	cr_assert_eq(out[1].u.MemtableFlushed.timestamp, 42);
	cr_assert_eq(out[2].family, STRATA_FAM_PAGES);
	cr_assert_eq(out[2].u.ChecksumFailure.expected, 0xdeadbeefu);
	cr_assert_gt(out[2].u.ChecksumFailure.timestamp, 1600000000);
	cr_assert_eq(ST()->events.emitted[STRATA_FAM_LSM], 2u);
	cr_assert_eq(ST()->events.emitted[STRATA_FAM_PAGES], 1u);

	/* A variant out of range is refused and not queued. */
	struct strata_event bad;
	memset(&bad, 0, sizeof(bad));
	bad.variant = STRATA_EV_COUNT;
	cr_assert_not(emit(&bad));
	bad.variant = 0xffff;
	cr_assert_not(emit(&bad));
	cr_assert_eq(emit_drain(out, 8), 0u);
}

Test(emit, drain_is_fifo_and_respects_max)
{
	for (uint64_t i = 0; i < 100; i++) {
		struct strata_event ev = page_hit(i);
		cr_assert(emit(&ev));
	}
	struct strata_event out[100];
	cr_assert_eq(emit_drain(out, 30), 30u);
	cr_assert_eq(emit_drain(out + 30, 0), 0u);
	cr_assert_eq(drain_all(out + 30, 70), 70u);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(out[i].u.PageHit.page_id, i, "event %llu out of order",
			     (unsigned long long)i);
}

Test(emit, full_ring_drops_and_counts)
{
	const unsigned fam = STRATA_FAM_BUFFER_POOL;
	for (uint64_t i = 0; i < EMIT_RING_SLOTS; i++) {
		struct strata_event ev = page_hit(i);
		cr_assert(emit(&ev), "slot %llu refused", (unsigned long long)i);
	}
	/* Full: every further emit returns at once, dropped and counted. */
	uint64_t t0 = clock_mono_us();
	for (uint64_t i = 0; i < 10000; i++) {
		struct strata_event ev = page_hit(1000000 + i);
		cr_assert_not(emit(&ev));
	}
	cr_assert_lt(clock_mono_us() - t0, 2000000u, "emitting into a full ring is slow");
	cr_assert_eq(ST()->events.dropped[fam], 10000u);
	cr_assert_eq(ST()->events.emitted[fam], EMIT_RING_SLOTS);
	/* Drops are counted per family. */
	struct strata_event io;
	memset(&io, 0, sizeof(io));
	io.variant = STRATA_EV_ReadCompleted;
	cr_assert_not(emit(&io));
	cr_assert_eq(ST()->events.dropped[STRATA_FAM_IO], 1u);
	cr_assert_eq(ST()->events.dropped[fam], 10000u);

	/* Room again after draining some. */
	static struct strata_event out[EMIT_RING_SLOTS + 100];
	cr_assert_eq(emit_drain(out, 100), 100u);
	for (uint64_t i = 0; i < 100; i++) {
		struct strata_event ev = page_hit(EMIT_RING_SLOTS + i);
		cr_assert(emit(&ev));
	}
	struct strata_event extra = page_hit(2000000);
	cr_assert_not(emit(&extra));
	size_t n = drain_all(out + 100, EMIT_RING_SLOTS);
	cr_assert_eq(n, EMIT_RING_SLOTS);
	/* Nothing dropped came out; everything accepted did, in order. */
	for (uint64_t i = 0; i < EMIT_RING_SLOTS + 100; i++)
		cr_assert_eq(out[i].u.PageHit.page_id, i, "position %llu holds %llu",
			     (unsigned long long)i, (unsigned long long)out[i].u.PageHit.page_id);
}

Test(emit, sampled_lets_one_in_n_through)
{
	const unsigned fam = STRATA_FAM_BUFFER_POOL;
	emit_set_sample_every(10);
	int passed = 0;
	for (uint64_t i = 0; i < 1000; i++) {
		struct strata_event ev = page_hit(i);
		passed += emit_sampled(&ev);
	}
	cr_assert_eq(passed, 100);
	cr_assert_eq(ST()->events.sampled_out[fam], 900u);
	cr_assert_eq(ST()->events.emitted[fam], 100u);
	static struct strata_event out[1000];
	cr_assert_eq(drain_all(out, 1000), 100u);
	/* Evenly spread: consecutive passes are 10 calls apart. */
	for (int i = 1; i < 100; i++)
		cr_assert_eq(out[i].u.PageHit.page_id - out[i - 1].u.PageHit.page_id, 10u);

	/* Each variant is sampled on its own. */
	memset(ST(), 0, sizeof(*ST()));
	int hits = 0, misses = 0;
	for (int i = 0; i < 100; i++) {
		struct strata_event h = page_hit((uint64_t)i);
		struct strata_event m;
		memset(&m, 0, sizeof(m));
		m.variant = STRATA_EV_PageMiss;
		hits += emit_sampled(&h);
		misses += emit_sampled(&m);
	}
	cr_assert_eq(hits, 10);
	cr_assert_eq(misses, 10);
	drain_all(out, 1000);

	/* 1: everything; 0: nothing (all counted). */
	emit_set_sample_every(1);
	memset(ST(), 0, sizeof(*ST()));
	for (int i = 0; i < 50; i++) {
		struct strata_event ev = page_hit((uint64_t)i);
		cr_assert(emit_sampled(&ev));
	}
	cr_assert_eq(ST()->events.sampled_out[fam], 0u);
	drain_all(out, 1000);
	emit_set_sample_every(0);
	for (int i = 0; i < 50; i++) {
		struct strata_event ev = page_hit((uint64_t)i);
		cr_assert_not(emit_sampled(&ev));
		cr_assert_not(emit_sample_due(STRATA_EV_PageHit));
	}
	cr_assert_eq(ST()->events.sampled_out[fam], 100u);
	cr_assert_eq(emit_drain(out, 1000), 0u);
}

/* Waits until a whole second has just begun on the monotonic clock that
 * emit_rare's windows follow, so a burst stays inside one window. */
static void align_to_second(void)
{
	for (;;) {
		uint64_t us = clock_mono_us() % 1000000;
		if (us < 200000)
			return;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(1000000 - us) * 1000};
		nanosleep(&ts, NULL);
	}
}

static struct strata_event evicted(uint64_t page_id)
{
	struct strata_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.variant = STRATA_EV_PageEvicted;
	ev.u.PageEvicted.page_id = page_id;
	snprintf(ev.u.PageEvicted.reason, STRATA_EV_STR_MAX, "lru");
	return ev;
}

Test(emit, rare_is_rate_limited_per_family_per_second)
{
	emit_set_rare_limit(5);
	align_to_second();
	uint64_t sec = clock_mono_us() / 1000000;
	int bp = 0, lsm = 0;
	for (uint64_t i = 0; i < 20; i++) {
		struct strata_event ev = evicted(i);
		bp += emit_rare(&ev);
		struct strata_event cs;
		memset(&cs, 0, sizeof(cs));
		cs.variant = STRATA_EV_CompactionStarted;
		lsm += emit_rare(&cs);
	}
	cr_assert_eq(clock_mono_us() / 1000000, sec, "the burst crossed a second: test too slow");
	cr_assert_eq(bp, 5);
	cr_assert_eq(lsm, 5, "one family's limit took another's budget");
	cr_assert_eq(ST()->events.rate_limited[STRATA_FAM_BUFFER_POOL], 15u);
	cr_assert_eq(ST()->events.rate_limited[STRATA_FAM_LSM], 15u);
	struct strata_event out[64];
	cr_assert_eq(drain_all(out, 64), 10u);
	/* The first five of the burst are the ones let through. */
	int k = 0;
	for (int i = 0; i < 10; i++)
		if (out[i].variant == STRATA_EV_PageEvicted)
			cr_assert_eq(out[i].u.PageEvicted.page_id, (uint64_t)k++);

	/* The next second has a new budget. */
	while (clock_mono_us() / 1000000 == sec)
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	bp = 0;
	for (uint64_t i = 0; i < 20; i++) {
		struct strata_event ev = evicted(100 + i);
		bp += emit_rare(&ev);
	}
	cr_assert_eq(bp, 5);
	cr_assert_eq(ST()->events.rate_limited[STRATA_FAM_BUFFER_POOL], 30u);
	drain_all(out, 64);

	/* 0: unlimited. */
	emit_set_rare_limit(0);
	for (uint64_t i = 0; i < 50; i++) {
		struct strata_event ev = evicted(i);
		cr_assert(emit_rare(&ev));
	}
	cr_assert_eq(ST()->events.rate_limited[STRATA_FAM_BUFFER_POOL], 30u);
	cr_assert_eq(drain_all(out, 64), 50u);
}

Test(emit, disabled_emits_nothing)
{
	emit_set_enabled(false);
	cr_assert_not(emit_enabled());
	struct strata_event ev = page_hit(1);
	cr_assert_not(emit(&ev));
	emit_set_sample_every(1);
	cr_assert_not(emit_sampled(&ev));
	cr_assert_not(emit_sample_due(STRATA_EV_PageHit));
	struct strata_event r = evicted(2);
	cr_assert_not(emit_rare(&r));
	struct strata_event out[4];
	cr_assert_eq(emit_drain(out, 4), 0u);
	cr_assert_eq(ST()->events.emitted[STRATA_FAM_BUFFER_POOL], 0u);

	emit_set_enabled(true);
	cr_assert(emit_enabled());
	cr_assert(emit(&ev));
	cr_assert_eq(emit_drain(out, 4), 1u);
}

/* After emit_thread_init (or the first emit) the hot path never allocates. */
Test(emit, emitting_does_not_allocate)
{
	cr_assert_eq(emit_thread_init(), 0);
	cr_assert_eq(emit_thread_init(), 0); /* idempotent */
	struct strata_event ev = page_hit(0);
	cr_assert(emit(&ev));
	struct strata_event out[64];
	drain_all(out, 64);

	long long before = ALLOC_BYTES();
	for (uint64_t i = 0; i < 3 * EMIT_RING_SLOTS; i++) {
		ev = page_hit(i);
		(void)emit(&ev); /* fills, then drops */
		if (i % 1000 == 999)
			drain_all(out, 64);
	}
	long long after = ALLOC_BYTES();
	cr_assert_lt(llabs(after - before), 4096, "emitting allocated %lld bytes", after - before);
}

/* ---- threads -------------------------------------------------------------------- */

struct producer {
	int tid;
	uint64_t count;
	uint64_t retries;
	_Atomic int *go;
};

/* page_id = thread id << 32 | per-thread counter. A full ring drops the
 * event (emit never waits), so the producer retries until it is taken. */
static void *producer_main(void *arg)
{
	struct producer *p = arg;
	while (!atomic_load(p->go))
		sched_yield();
	for (uint64_t i = 0; i < p->count; i++) {
		struct strata_event ev = page_hit(((uint64_t)p->tid << 32) | i);
		while (!emit(&ev)) {
			p->retries++;
			sched_yield();
		}
	}
	return NULL;
}

#define NPROD 4
#define PER_PROD 100000u

Test(emit, producers_and_consumer_every_event_once_in_order, .timeout = 120)
{
	/* The consumer is this thread, which never emits: it owns no ring. */
	long long base = ALLOC_BYTES();
	_Atomic int go = 0;
	struct producer prod[NPROD];
	pthread_t th[NPROD];
	for (int i = 0; i < NPROD; i++) {
		prod[i] = (struct producer){.tid = i + 1, .count = PER_PROD, .go = &go};
		cr_assert_eq(pthread_create(&th[i], NULL, producer_main, &prod[i]), 0);
	}
	atomic_store(&go, 1);

	uint64_t next[NPROD + 1] = {0};
	uint64_t total = 0, bad_order = 0, bad_tid = 0;
	static struct strata_event out[1024];
	uint64_t deadline = clock_mono_us() + 100000000u; /* 100 s, for slow sanitizers */
	while (total < (uint64_t)NPROD * PER_PROD && clock_mono_us() < deadline) {
		size_t n = emit_drain(out, 1024);
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			uint64_t id = out[k].u.PageHit.page_id;
			unsigned tid = (unsigned)(id >> 32);
			uint64_t ctr = id & 0xffffffffu;
			if (tid < 1 || tid > NPROD || out[k].variant != STRATA_EV_PageHit) {
				bad_tid++;
				continue;
			}
			if (ctr != next[tid])
				bad_order++;
			next[tid] = ctr + 1;
			total++;
		}
	}
	for (int i = 0; i < NPROD; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(bad_tid, 0u, "%llu events from nowhere", (unsigned long long)bad_tid);
	cr_assert_eq(bad_order, 0u, "%llu events out of order, lost or repeated",
		     (unsigned long long)bad_order);
	cr_assert_eq(total, (uint64_t)NPROD * PER_PROD, "received %llu of %llu",
		     (unsigned long long)total, (unsigned long long)NPROD * PER_PROD);
	for (int i = 1; i <= NPROD; i++)
		cr_assert_eq(next[i], PER_PROD, "thread %d: last event %llu", i,
			     (unsigned long long)next[i]);
	cr_assert_eq(emit_drain(out, 1024), 0u, "events after the last one");
	cr_assert_eq(ST()->events.emitted[STRATA_FAM_BUFFER_POOL], (uint64_t)NPROD * PER_PROD);
	uint64_t retries = 0;
	for (int i = 0; i < NPROD; i++)
		retries += prod[i].retries;
	cr_assert_eq(ST()->events.dropped[STRATA_FAM_BUFFER_POOL], retries);

	/* The producers have exited and their rings are empty: the next drain
	 * frees them. */
	emit_drain(out, 1024);
	long long left = ALLOC_BYTES() - base;
	cr_assert_lt(left, RING_BYTES / 2,
		     "%lld bytes still allocated after the producers exited (a ring is %lld)", left,
		     RING_BYTES);
}

static _Atomic int refused; /* emits refused in helper threads (no cr_assert there) */

static void *emit_and_exit(void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	for (uint64_t i = 0; i < n; i++) {
		struct strata_event ev = page_hit(i);
		if (!emit(&ev))
			atomic_fetch_add(&refused, 1);
	}
	return NULL;
}

/* A thread that exits with events queued: they are still delivered, then
 * its ring is freed. */
Test(emit, ring_of_exited_thread_is_drained_then_freed)
{
	long long base = ALLOC_BYTES();
	uint64_t n = 100;
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, emit_and_exit, &n), 0);
	pthread_join(th, NULL);
	long long with_ring = ALLOC_BYTES() - base;
	cr_assert_geq(with_ring, RING_BYTES, "the ring of the exited thread is gone already");

	static struct strata_event out[256];
	cr_assert_eq(emit_drain(out, 60), 60u);
	cr_assert_geq(ALLOC_BYTES() - base, RING_BYTES, "freed before it was drained");
	cr_assert_eq(emit_drain(out + 60, 256), 40u);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(out[i].u.PageHit.page_id, i);
	emit_drain(out, 256); /* nothing left; the ring is released */
	long long left = ALLOC_BYTES() - base;
	cr_assert_lt(left, RING_BYTES / 2, "%lld bytes still allocated", left);

	/* Several threads coming and going. */
	for (int round = 0; round < 8; round++) {
		uint64_t m = 10;
		cr_assert_eq(pthread_create(&th, NULL, emit_and_exit, &m), 0);
		pthread_join(th, NULL);
		cr_assert_eq(drain_all(out, 256), 10u);
	}
	emit_drain(out, 256);
	left = ALLOC_BYTES() - base;
	cr_assert_lt(left, RING_BYTES / 2, "%lld bytes still allocated after 8 threads", left);
	cr_assert_eq(atomic_load(&refused), 0);
}

#ifdef OWN_MAIN
int main(int argc, char **argv)
{
	(void)argc, (void)argv;
	int failed = 0;
	for (int i = 0; i < shim_ntests; i++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(300);
			reset();
			shim_tests[i].fn();
			emit_shutdown();
			_exit(0);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		failed += !ok;
		printf("[%s] %s (own main: TSan build)\n", ok ? "PASS" : "FAIL", shim_tests[i].name);
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d\n", shim_ntests,
	       shim_ntests - failed, failed);
	return failed ? 1 : 0;
}
#endif
