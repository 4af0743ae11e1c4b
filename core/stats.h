/*
 * core/stats.h — where core's counters live.
 *
 * stratad points core at the stats segment in shared memory
 * (core_stats_attach); a program that embeds libstrata without a segment
 * gets a process-private zeroed instance. Either way core_stats() is never
 * NULL, so the hot path needs no check.
 */
#ifndef STRATA_CORE_STATS_H
#define STRATA_CORE_STATS_H

#include "shm/stats.h"

extern struct shm_stats *core_stats_region;

/* Points core's counters at s (NULL: back to the private instance). Call
 * before any other core function runs, from one thread. */
void core_stats_attach(struct shm_stats *s);

static inline struct shm_stats *core_stats(void)
{
	return core_stats_region;
}

#endif
