/*
 * frontend/embedded.h — static files compiled into strata-front.
 *
 * The Makefile runs frontend/embed.sh over a folder's files (the dashboard,
 * the GraphQL explorer) and compiles the result: one table per page, each
 * declared by the module that serves it. strata-front reads no file at run
 * time.
 */
#ifndef STRATA_FRONTEND_EMBEDDED_H
#define STRATA_FRONTEND_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name; /* the file's base name: "index.html" */
	const char *data; /* NUL-terminated */
	size_t len;
};

/* The entry of table (ended by a zeroed entry) named name, or NULL. */
const struct embedded_file *embedded_file_find(const struct embedded_file *table, const char *name);

#endif
