/*
 * daemon/modules.h — the storage areas stratad opens beside the page store
 * and the LSM trees: tablespaces, tiers, columnar tables, JSON document
 * collections, partitioned tables.
 *
 * Each area is one struct module (defined in its daemon/ops_<area>.c next
 * to its op table). main() opens them in the order of the table in
 * modules.c after the page store and the trees, ticks them from the stats
 * ticker each --stats-interval-ms, and closes them in reverse order before
 * the trees. Hooks may be NULL.
 */
#ifndef STRATA_DAEMON_MODULES_H
#define STRATA_DAEMON_MODULES_H

#include <stddef.h>

struct stratad;

struct module {
	const char *name;
	/* Opens the area's state (stored in struct stratad). 0, or STRATA_E*
	 * with err set; stratad does not start then. */
	int (*open)(struct stratad *d, char *err, size_t errlen);
	/* Periodic work on the ticker thread (stats events, maintenance). */
	void (*tick)(struct stratad *d);
	/* Frees the area's state; 0, or nonzero if something was not saved. */
	int (*close)(struct stratad *d);
};

extern const struct module module_tablespaces;  /* daemon/ops_tablespaces.c */
extern const struct module module_tiers;        /* daemon/ops_tiers.c */
extern const struct module module_columnar;     /* daemon/ops_columnar.c */
extern const struct module module_json;         /* daemon/ops_json.c */
extern const struct module module_partitions;   /* daemon/ops_partitions.c */

/* Opens every module in order; on failure closes those opened. */
int modules_open(struct stratad *d, char *err, size_t errlen);
void modules_tick(struct stratad *d);
/* Closes every opened module in reverse order; nonzero if any failed. */
int modules_close(struct stratad *d);

#endif
