/*
 * core/tiered/tier.h — the three tiers and their names.
 *
 * Names keep the seed's spelling (Hot, Warm, Cold) on output and are
 * accepted in any case on input.
 */
#ifndef STRATA_CORE_TIERED_TIER_H
#define STRATA_CORE_TIERED_TIER_H

#include <stdbool.h>
#include <strings.h>

enum tier {
	TIER_HOT = 0,   /* a pagestore page (data file + buffer pool), uncompressed */
	TIER_WARM = 1,  /* LZ4 records in DATA/tiers/warm segments */
	TIER_COLD = 2,  /* ZSTD records in cold-dir segments */
	TIER_COUNT = 3,
};

static inline const char *tier_name(int t)
{
	switch (t) {
	case TIER_HOT: return "Hot";
	case TIER_WARM: return "Warm";
	case TIER_COLD: return "Cold";
	default: return "?";
	}
}

/* Parses "hot"/"Warm"/"COLD"...; false if none. */
static inline bool tier_parse(const char *s, enum tier *out)
{
	for (int t = 0; t < TIER_COUNT; t++)
		if (s && strcasecmp(s, tier_name(t)) == 0) {
			*out = (enum tier)t;
			return true;
		}
	return false;
}

#endif
