/*
 * frontend/graphql/gql_explorer.c — the explorer's files by request path
 * (see the header).
 */
#include "frontend/graphql/gql_explorer.h"

#include <string.h>

static const struct {
	const char *path, *name, *ctype;
} assets[] = {
	{"/graphql/explorer.js", "explorer.js", "text/javascript; charset=utf-8"},
	{"/graphql/explorer.css", "explorer.css", "text/css; charset=utf-8"},
};

const struct embedded_file *gql_explorer_page(const char **ctype)
{
	*ctype = "text/html; charset=utf-8";
	return embedded_file_find(gql_explorer_files, "index.html");
}

const struct embedded_file *gql_explorer_asset(const char *path, const char **ctype)
{
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(path, assets[i].path) == 0) {
			*ctype = assets[i].ctype;
			return embedded_file_find(gql_explorer_files, assets[i].name);
		}
	return NULL;
}
