/*
 * frontend/embedded.c — lookup in a table of compiled-in files (see the
 * header).
 */
#include "frontend/embedded.h"

#include <string.h>

const struct embedded_file *embedded_file_find(const struct embedded_file *table, const char *name)
{
	for (const struct embedded_file *f = table; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}
