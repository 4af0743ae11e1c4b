#include "core/stats.h"

static struct shm_stats private_stats;
struct shm_stats *core_stats_region = &private_stats;

void core_stats_attach(struct shm_stats *s)
{
	core_stats_region = s ? s : &private_stats;
}
