/* frontend/routes_tiers.c — REST routes of the tiers area (see routes.h;
 * the ops are in daemon/ops_tiers.c). */
#include <string.h>

#include "frontend/routes.h"
#include "strata/error.h"

/* GET .../page/{page_id}/data: the page with its bytes. */
static int build_with_data(const struct route_req *rq, json_t **args, char *msg, size_t msglen)
{
	int rv = route_build_default(rq, args, msg, msglen);
	if (rv == 0 && json_object_set_new(*args, "data", json_true()) != 0) {
		json_decref(*args);
		return STRATA_ENOMEM;
	}
	return rv;
}

const struct route routes_tiers[] = {
	{M_GET, "/api/v1/storage/tiers", ROLE_READ, "tiers.info", NULL, NULL, 0,
	 "the tiers: codec, location, capacity, pages, usage; thresholds and policy"},
	{M_GET, "/api/v1/storage/tiers/stats", ROLE_READ, "tiers.stats", NULL, NULL, 0,
	 "pages and bytes per tier (logical, stored, file), migrations, compression ratio, "
	 "bytes saved, read latency per tier"},
	{M_POST, "/api/v1/storage/tiers/migrate", ROLE_WRITE, "tiers.migrate", NULL, NULL, 0,
	 "run up to 'max' planned migrations, or move 'page_id' to 'to_tier'"},
	{M_POST, "/api/v1/storage/tiers/maintenance", ROLE_WRITE, "tiers.maintenance", NULL, NULL, 0,
	 "retune the thresholds from the access pattern and compact sparse segments"},
	{M_GET, "/api/v1/storage/tiers/policy", ROLE_READ, "tiers.policy", NULL, NULL, 0,
	 "capacities, thresholds, temperature model and codec levels"},
	{M_PUT, "/api/v1/storage/tiers/policy", ROLE_ADMIN, "tiers.policy_set", NULL, NULL, 0,
	 "change capacities, thresholds, model or codec levels (validated, persisted)"},
	{M_POST, "/api/v1/storage/tiers/pages", ROLE_WRITE, "tiers.store", NULL, NULL, 201,
	 "store a new tiered page (base64 'data'); it starts in Hot"},
	{M_POST, "/api/v1/storage/tiers/read", ROLE_READ, "tiers.read", NULL, NULL, 0,
	 "read several tiered pages ('page_ids') through the tier layer"},
	{M_GET, "/api/v1/storage/tiers/page/{page_id}", ROLE_READ, "tiers.page", NULL, NULL, 0,
	 "where a tiered page is (tier, location, temperature); ?data=true adds its bytes"},
	{M_GET, "/api/v1/storage/tiers/page/{page_id}/data", ROLE_READ, "tiers.page",
	 build_with_data, NULL, 0, "a tiered page with its bytes (base64 'data')"},
	{M_PUT, "/api/v1/storage/tiers/page/{page_id}", ROLE_WRITE, "tiers.update", NULL, NULL, 0,
	 "replace a tiered page's bytes, in the tier it is in"},
	{M_DELETE, "/api/v1/storage/tiers/page/{page_id}", ROLE_WRITE, "tiers.delete", NULL, NULL, 0,
	 "delete a tiered page"},
	{0},
};
