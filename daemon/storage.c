#include "daemon/storage.h"

#include <stdlib.h>

#include "daemon/stratad.h"
#include "strata/error.h"

struct storage {
	struct stratad *d;
};

int storage_open(struct storage **out, struct stratad *d, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	struct storage *s = calloc(1, sizeof(*s));
	if (!s)
		return STRATA_ENOMEM;
	s->d = d;
	*out = s;
	return 0;
}

void storage_quiesce(struct storage *s)
{
	(void)s;
}

int storage_close(struct storage *s)
{
	free(s);
	return 0;
}
