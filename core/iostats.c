/*
 * core/iostats.c — see iostats.h. All atomics are relaxed: these are
 * statistics, and no other memory is published through them.
 */
#include "core/iostats.h"

#define RLX memory_order_relaxed

unsigned lat_hist_bucket_of(uint64_t us)
{
	if (us == 0)
		return 0;
	unsigned b = 64u - (unsigned)__builtin_clzll(us);
	return b < LAT_HIST_BUCKETS ? b : LAT_HIST_BUCKETS - 1;
}

uint64_t lat_hist_bucket_low(unsigned b)
{
	return b == 0 ? 0 : (uint64_t)1 << (b - 1);
}

uint64_t lat_hist_bucket_high(unsigned b)
{
	return (uint64_t)1 << b;
}

void lat_hist_record(struct lat_hist *h, uint64_t us)
{
	atomic_fetch_add_explicit(&h->buckets[lat_hist_bucket_of(us)], 1, RLX);
	atomic_fetch_add_explicit(&h->count, 1, RLX);
	atomic_fetch_add_explicit(&h->sum_us, us, RLX);
	uint64_t cur = atomic_load_explicit(&h->max_us, RLX);
	while (us > cur &&
	       !atomic_compare_exchange_weak_explicit(&h->max_us, &cur, us, RLX, RLX))
		;
}

uint64_t lat_hist_percentile(const struct lat_hist *h, double p)
{
	uint64_t counts[LAT_HIST_BUCKETS];
	uint64_t total = 0;
	struct lat_hist *mh = (struct lat_hist *)h; /* atomic loads need non-const */

	for (unsigned b = 0; b < LAT_HIST_BUCKETS; b++) {
		counts[b] = atomic_load_explicit(&mh->buckets[b], RLX);
		total += counts[b];
	}
	if (total == 0)
		return 0;
	if (!(p > 0.0))
		p = 0.0;
	if (p > 100.0)
		p = 100.0;

	/* Rank of the wanted sample, 1-based. */
	double exact = p / 100.0 * (double)total;
	uint64_t rank = (uint64_t)exact;
	if ((double)rank < exact)
		rank++;
	if (rank == 0)
		rank = 1;

	uint64_t max = atomic_load_explicit(&mh->max_us, RLX);
	uint64_t before = 0;
	for (unsigned b = 0; b < LAT_HIST_BUCKETS; b++) {
		if (counts[b] == 0 || before + counts[b] < rank) {
			before += counts[b];
			continue;
		}
		uint64_t lo = lat_hist_bucket_low(b);
		uint64_t hi = lat_hist_bucket_high(b);
		double frac = (double)(rank - before) / (double)counts[b];
		uint64_t v = lo + (uint64_t)(frac * (double)(hi - lo));
		if (v >= hi)
			v = hi - 1;
		return v < max ? v : max;
	}
	return max;
}

uint64_t lat_hist_count(const struct lat_hist *h)
{
	return atomic_load_explicit(&((struct lat_hist *)h)->count, RLX);
}

uint64_t lat_hist_max(const struct lat_hist *h)
{
	return atomic_load_explicit(&((struct lat_hist *)h)->max_us, RLX);
}

uint64_t lat_hist_mean(const struct lat_hist *h)
{
	uint64_t n = lat_hist_count(h);
	uint64_t sum = atomic_load_explicit(&((struct lat_hist *)h)->sum_us, RLX);
	return n ? sum / n : 0;
}

void lat_hist_reset(struct lat_hist *h)
{
	for (unsigned b = 0; b < LAT_HIST_BUCKETS; b++)
		atomic_store_explicit(&h->buckets[b], 0, RLX);
	atomic_store_explicit(&h->count, 0, RLX);
	atomic_store_explicit(&h->sum_us, 0, RLX);
	atomic_store_explicit(&h->max_us, 0, RLX);
}

void rate_window_add(struct rate_window *w, uint64_t now_us, uint64_t n)
{
	uint64_t sec = now_us / 1000000u;
	unsigned i = (unsigned)(sec % RATE_WINDOW_SECS);
	uint64_t cur = atomic_load_explicit(&w->slot[i].sec, RLX);

	if (cur != sec &&
	    atomic_compare_exchange_strong_explicit(&w->slot[i].sec, &cur, sec, RLX, RLX))
		atomic_store_explicit(&w->slot[i].count, 0, RLX);
	atomic_fetch_add_explicit(&w->slot[i].count, n, RLX);

	uint64_t start = atomic_load_explicit(&w->start_us, RLX);
	if (start == 0)
		(void)atomic_compare_exchange_strong_explicit(&w->start_us, &start,
							      now_us ? now_us : 1, RLX, RLX);
}

double rate_window_per_sec(const struct rate_window *w, uint64_t now_us)
{
	struct rate_window *mw = (struct rate_window *)w;
	uint64_t sec = now_us / 1000000u;
	uint64_t oldest = sec + 1 >= RATE_WINDOW_SECS ? sec + 1 - RATE_WINDOW_SECS : 0;
	uint64_t sum = 0;

	for (unsigned i = 0; i < RATE_WINDOW_SECS; i++) {
		uint64_t s = atomic_load_explicit(&mw->slot[i].sec, RLX);
		if (s >= oldest && s <= sec)
			sum += atomic_load_explicit(&mw->slot[i].count, RLX);
	}
	if (sum == 0)
		return 0.0;

	uint64_t begin = oldest * 1000000u;
	uint64_t start = atomic_load_explicit(&mw->start_us, RLX);
	if (start > begin)
		begin = start;
	uint64_t span = now_us > begin ? now_us - begin : 0;
	if (span < 1000000u)
		span = 1000000u;
	return (double)sum * 1e6 / (double)span;
}

void rate_window_reset(struct rate_window *w, uint64_t now_us)
{
	for (unsigned i = 0; i < RATE_WINDOW_SECS; i++) {
		atomic_store_explicit(&w->slot[i].sec, 0, RLX);
		atomic_store_explicit(&w->slot[i].count, 0, RLX);
	}
	atomic_store_explicit(&w->start_us, now_us ? now_us : 1, RLX);
}
