#include "core/tiered/temperature.h"

#include <math.h>
#include <stdlib.h>

#include "strata/error.h"

double temp_at(double score, int64_t touched_us, int64_t now_us, int64_t h_us)
{
	if (score <= 0)
		return 0;
	if (now_us <= touched_us || h_us <= 0)
		return score;
	return score * exp2(-(double)(now_us - touched_us) / (double)h_us);
}

void temp_touch(double *score, int64_t *touched_us, int64_t now_us, int64_t h_us)
{
	*score = temp_at(*score, *touched_us, now_us, h_us) + 1.0;
	if (now_us > *touched_us)
		*touched_us = now_us;
}

static int by_temp_desc(const void *a, const void *b)
{
	const struct temp_page *x = a, *y = b;
	if (x->temp != y->temp)
		return x->temp > y->temp ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id; /* deterministic */
}

static unsigned char by_threshold(const struct temp_page *pg, const struct temp_params *p)
{
	double h = p->hysteresis;
	if (pg->temp >= p->hot_th * (pg->tier == TIER_HOT ? 1.0 - h : 1.0))
		return TIER_HOT;
	if (pg->temp < p->cold_th * (pg->tier == TIER_COLD ? 1.0 + h : 1.0))
		return TIER_COLD;
	return TIER_WARM;
}

long temp_plan(struct temp_page *pages, size_t npages, const struct temp_params *p,
	       struct temp_move *out, size_t max, size_t *n)
{
	*n = 0;
	qsort(pages, npages, sizeof(*pages), by_temp_desc);
	uint64_t used[TIER_COUNT] = {0};
	long misplaced = 0;
	for (size_t i = 0; i < npages; i++) {
		unsigned char t = by_threshold(&pages[i], p);
		/* Hottest first: a full tier pushes the rest one tier down. */
		if (t == TIER_HOT && p->cap[TIER_HOT] && used[TIER_HOT] >= p->cap[TIER_HOT])
			t = TIER_WARM;
		if (t == TIER_WARM && p->cap[TIER_WARM] && used[TIER_WARM] >= p->cap[TIER_WARM])
			t = TIER_COLD;
		used[t]++;
		pages[i].target = t;
		if (t != pages[i].tier)
			misplaced++;
	}
	/* Demotions, coldest first, then promotions, hottest first. */
	for (size_t i = npages; i-- > 0 && *n < max;)
		if (pages[i].target > pages[i].tier)
			out[(*n)++] = (struct temp_move){pages[i].id, pages[i].tier, pages[i].target,
							 pages[i].temp};
	for (size_t i = 0; i < npages && *n < max; i++)
		if (pages[i].target < pages[i].tier)
			out[(*n)++] = (struct temp_move){pages[i].id, pages[i].tier, pages[i].target,
							 pages[i].temp};
	return misplaced;
}

static int dbl_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x > y ? -1 : x < y;
}

void temp_retune(double *temps, size_t n, const struct temp_params *p, double alpha,
		 double *hot_th, double *cold_th)
{
	qsort(temps, n, sizeof(*temps), dbl_desc);
	uint64_t k1 = p->cap[TIER_HOT], k2 = p->cap[TIER_HOT] + p->cap[TIER_WARM];
	double hot = p->min_hot, cold = p->min_warm;
	/* The boundary between the k-th and (k+1)-th hottest page. */
	if (k1 && n > k1)
		hot = (temps[k1 - 1] + temps[k1]) / 2;
	if (p->cap[TIER_WARM] && n > k2)
		cold = (temps[k2 - 1] + temps[k2]) / 2;
	if (hot < p->min_hot)
		hot = p->min_hot;
	if (cold < p->min_warm)
		cold = p->min_warm;
	if (cold > hot)
		cold = hot;
	if (alpha <= 0 || alpha > 1)
		alpha = 1;
	*hot_th = p->hot_th > 0 ? p->hot_th + alpha * (hot - p->hot_th) : hot;
	*cold_th = p->cold_th > 0 ? p->cold_th + alpha * (cold - p->cold_th) : cold;
	if (*cold_th > *hot_th)
		*cold_th = *hot_th;
}
