/*
 * core/tiered/temperature.h — the temperature of a page and where it
 * belongs: the model behind migrations (docs/tiers.md explains it).
 *
 * Temperature. Each page keeps a score s and the time t of its last
 * access. An access at time now does
 *
 *     s = s * 2^(-(now - t) / H) + 1,   t = now
 *
 * and the temperature at any time is s * 2^(-(now - t) / H): an access
 * count in which an access H seconds old (the half-life) weighs 1/2. It is
 * the exponentially weighted estimate of the page's access rate
 * (rate ≈ temperature * ln 2 / H accesses per second), so frequency and
 * recency are one number, and it needs 16 bytes per page whatever tier the
 * page is in (warm and cold pages have no frame).
 *
 * Placement. Two thresholds split the temperature axis: hot (>= hot_th),
 * cold (< cold_th), warm between. A page already in a tier gets a margin
 * (hysteresis) before it leaves it, so pages near a threshold do not move
 * back and forth. Capacities are hard: if more pages qualify for Hot than
 * it holds, the hottest stay and the rest are placed one tier down; the
 * same for Warm.
 *
 * Adaptation (temp_retune). The thresholds are set from the observed
 * distribution: hot_th at the temperature of the hot_capacity-th hottest
 * page, cold_th at the (hot_capacity + warm_capacity)-th — the quantiles
 * that make each tier exactly full — never below the floors (a page needs
 * some recent use to be Hot or Warm at all), and moved half-way from their
 * old value each time (exponential smoothing against bursts).
 *
 * Pure functions: no locks, no I/O.
 */
#ifndef STRATA_CORE_TIERED_TEMPERATURE_H
#define STRATA_CORE_TIERED_TEMPERATURE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tiered/tier.h"

/* The temperature of (score, touched_us) at now_us with half-life h_us. */
double temp_at(double score, int64_t touched_us, int64_t now_us, int64_t h_us);
/* One access at now_us. */
void temp_touch(double *score, int64_t *touched_us, int64_t now_us, int64_t h_us);

struct temp_params {
	double hot_th, cold_th;     /* current thresholds */
	double min_hot, min_warm;   /* floors for the thresholds */
	double hysteresis;          /* e.g. 0.1: leave a tier 10% past its threshold */
	uint64_t cap[TIER_COUNT];   /* pages; 0 = unlimited */
};

/* One page as the planner sees it. */
struct temp_page {
	uint64_t id;
	double temp;
	unsigned char tier;    /* current */
	unsigned char target;  /* out: where it belongs */
};

/* A planned move. */
struct temp_move {
	uint64_t id;
	unsigned char from, to;
	double temp;
};

/*
 * Sets pages[i].target for every page and writes up to max moves into out
 * (*n of them), in the order to run them: first every demotion (they make
 * room), coldest first, then promotions, hottest first. pages is
 * reordered. Returns the number of pages not in their target tier (may be
 * more than max). STRATA_ENOMEM (negative) when scratch space fails.
 */
long temp_plan(struct temp_page *pages, size_t npages, const struct temp_params *p,
	       struct temp_move *out, size_t max, size_t *n);

/*
 * New thresholds from the temperatures (temps is sorted in place,
 * descending): see "Adaptation" above. alpha: smoothing weight of the new
 * value (1 = jump straight to it).
 */
void temp_retune(double *temps, size_t n, const struct temp_params *p, double alpha,
		 double *hot_th, double *cold_th);

#endif
