/*
 * tests/unit/test_gql_explorer.c — the compiled-in files (frontend/embedded.h)
 * and the explorer's paths (frontend/graphql/gql_explorer.h): every file the
 * page names is found under its path, with its type; nothing else is.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "frontend/dashboard.h"
#include "frontend/graphql/gql_explorer.h"

Test(embedded, tables_find_by_base_name)
{
	const struct embedded_file *f = embedded_file_find(dashboard_files, "index.html");
	cr_assert(f && f->len == strlen(f->data) && strstr(f->data, "/dashboard/dashboard.js"));
	f = embedded_file_find(gql_explorer_files, "index.html");
	cr_assert(f && f->len == strlen(f->data) && strstr(f->data, "/graphql/explorer.js"));
	cr_assert_null(embedded_file_find(gql_explorer_files, "nope.js"));
	cr_assert_null(embedded_file_find(gql_explorer_files, ""));
}

Test(gql_explorer, page_and_assets_by_path)
{
	const char *ctype = NULL;
	const struct embedded_file *page = gql_explorer_page(&ctype);
	cr_assert(page && strncmp(ctype, "text/html", 9) == 0);
	cr_assert_null(strstr(page->data, "http://"));
	cr_assert_null(strstr(page->data, "https://"));
	struct {
		const char *path, *ctype;
	} want[] = {{"/graphql/explorer.js", "text/javascript"}, {"/graphql/explorer.css", "text/css"}};
	for (size_t i = 0; i < 2; i++) {
		ctype = NULL;
		const struct embedded_file *f = gql_explorer_asset(want[i].path, &ctype);
		cr_assert(f && f->len > 100, "%s", want[i].path);
		cr_assert(strncmp(ctype, want[i].ctype, strlen(want[i].ctype)) == 0, "%s", ctype);
		char ref[64];
		snprintf(ref, sizeof(ref), "\"%s\"", want[i].path);
		cr_assert(strstr(page->data, ref), "the page names %s", want[i].path);
	}
	const char *others[] = {"/graphql", "/graphql/", "/graphql/index.html", "/graphql/explorer.jsx",
				"/graphql/schema.graphql", "/dashboard/dashboard.js", ""};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		cr_assert_null(gql_explorer_asset(others[i], &ctype), "%s", others[i]);
}
