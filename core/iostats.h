/*
 * core/iostats.h — lock-free latency histograms and per-second rate windows.
 *
 * The file layer (core/file) keeps one histogram per direction (reads,
 * writes) and rate windows for ops and bytes; they are separate here so they
 * can be unit-tested with known values and explicit clocks.
 *
 * Thread-safety: every function may be called from any thread at any time
 * without a lock. Recording is a few relaxed atomic adds. A reader running
 * concurrently with writers sees a slightly inconsistent picture (a sample
 * counted in `count` but not yet in its bucket, a window slot being rolled
 * over by another thread); percentiles and rates tolerate that: they are
 * estimates, clamped to the recorded maximum.
 *
 * Reset (lat_hist_reset, rate_window_reset) racing with recording may lose
 * the samples recorded during the reset; that is the documented price of not
 * taking a lock on the hot path.
 */
#ifndef STRATA_CORE_IOSTATS_H
#define STRATA_CORE_IOSTATS_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * Latency histogram: log2 buckets in microseconds.
 *   bucket 0      [0, 1) µs
 *   bucket b > 0  [2^(b-1), 2^b) µs
 *   the last bucket also takes everything larger.
 */
#define LAT_HIST_BUCKETS 40u

struct lat_hist {
	_Atomic uint64_t buckets[LAT_HIST_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
	_Atomic uint64_t max_us;
};

/* Bucket index of a latency. */
unsigned lat_hist_bucket_of(uint64_t us);

/* Lower (inclusive) and upper (exclusive) bound of bucket b, in µs. */
uint64_t lat_hist_bucket_low(unsigned b);
uint64_t lat_hist_bucket_high(unsigned b);

/* Records one sample. */
void lat_hist_record(struct lat_hist *h, uint64_t us);

/* The p-th percentile (0 < p <= 100) in µs: the bucket holding the sample of
 * rank ceil(p/100 * n), linearly interpolated inside that bucket, never above
 * the recorded maximum. 0 for an empty histogram. Accurate to the bucket:
 * the true value lies in the same power-of-two range. */
uint64_t lat_hist_percentile(const struct lat_hist *h, double p);

/* Mean in µs (0 when empty), number of samples, largest sample. */
uint64_t lat_hist_mean(const struct lat_hist *h);
uint64_t lat_hist_count(const struct lat_hist *h);
uint64_t lat_hist_max(const struct lat_hist *h);

/* Zeroes every bucket and total. */
void lat_hist_reset(struct lat_hist *h);

/*
 * Rate window: counts per wall second over the last RATE_WINDOW_SECS
 * seconds, as a ring of (second, count) slots. Times are passed in by the
 * caller (monotonic µs) so tests can drive the clock.
 */
#define RATE_WINDOW_SECS 10u

struct rate_window {
	struct {
		_Atomic uint64_t sec;   /* which second this slot counts */
		_Atomic uint64_t count;
	} slot[RATE_WINDOW_SECS];
	_Atomic uint64_t start_us; /* time of the reset (or first add); 0 = unset */
};

/* Adds n events at time now_us. */
void rate_window_add(struct rate_window *w, uint64_t now_us, uint64_t n);

/* Events per second over the window ending at now_us: the events counted in
 * the last RATE_WINDOW_SECS seconds (the current one included) divided by the
 * time they span — RATE_WINDOW_SECS, or less when the window was reset more
 * recently, but at least one second. 0 when nothing was added. */
double rate_window_per_sec(const struct rate_window *w, uint64_t now_us);

/* Empties the window; the span of later rates starts at now_us. */
void rate_window_reset(struct rate_window *w, uint64_t now_us);

#endif
