#include "daemon/modules.h"

#include <stdatomic.h>
#include <stdio.h>

#include "daemon/stratad.h"

static const struct module *const modules[] = {
	&module_tablespaces, &module_tiers, &module_columnar, &module_json, &module_partitions,
};
#define NMODULES (sizeof(modules) / sizeof(modules[0]))

/* How many modules are open (the first n of the table). */
static _Atomic size_t opened;

int modules_open(struct stratad *d, char *err, size_t errlen)
{
	for (size_t i = 0; i < NMODULES; i++) {
		int rv = modules[i]->open ? modules[i]->open(d, err, errlen) : 0;
		if (rv != 0) {
			modules_close(d);
			return rv;
		}
		atomic_store(&opened, i + 1);
	}
	return 0;
}

void modules_tick(struct stratad *d)
{
	size_t n = atomic_load(&opened);
	for (size_t i = 0; i < n; i++)
		if (modules[i]->tick)
			modules[i]->tick(d);
}

int modules_close(struct stratad *d)
{
	int rc = 0;
	size_t n = atomic_exchange(&opened, 0);
	while (n-- > 0)
		if (modules[n]->close && modules[n]->close(d) != 0) {
			fprintf(stderr, "stratad: closing %s failed\n", modules[n]->name);
			rc = 1;
		}
	return rc;
}
