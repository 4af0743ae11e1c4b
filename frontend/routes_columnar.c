/* frontend/routes_columnar.c — REST routes of the columnar area (see routes.h).
 *
 * Path and query values stay strings (route_build_strings): table and
 * column names are names, and offset/where are parsed by stratad. */
#include "frontend/routes.h"

#define T "/api/v1/storage/columnar"

const struct route routes_columnar[] = {
	{M_POST, T, ROLE_WRITE, "columnar.create", route_build_strings, NULL, 201,
	 "create a columnar table: {name, columns: [{name, type: int64|float64|bool|string|timestamp, "
	 "nullable}], row_group_rows, tablespace}"},
	{M_GET, T, ROLE_READ, "columnar.list", route_build_strings, NULL, 0,
	 "list columnar tables with rows, bytes and chunks"},
	{M_GET, T "/{name}", ROLE_READ, "columnar.info", route_build_strings, NULL, 0,
	 "a table's columns, rows, row groups, chunks, stored and plain bytes"},
	{M_DELETE, T "/{name}", ROLE_WRITE, "columnar.drop", route_build_strings, NULL, 0,
	 "drop a columnar table and its files"},
	{M_POST, T "/{name}/batch", ROLE_WRITE, "columnar.insert", route_build_strings, NULL, 0,
	 "append rows {rows: [{col: value}]} or {columns: {col: [values]}}, all or nothing"},
	{M_GET, T "/{name}/column/{col}", ROLE_READ, "columnar.column", route_build_strings, NULL, 0,
	 "values of one column: ?offset=&limit= (max 100000)&where=; next_offset continues"},
	{M_GET, T "/{name}/project", ROLE_READ, "columnar.project", route_build_strings, NULL, 0,
	 "rows of some columns: ?columns=a,b&where=&offset=&limit="},
	{M_GET, T "/{name}/stats/{col}", ROLE_READ, "columnar.stats", route_build_strings, NULL, 0,
	 "a column's zone maps, encodings per chunk, compression ratio, SIMD dispatch counters"},
	{M_GET, T "/{name}/aggregate", ROLE_READ, "columnar.aggregate", route_build_strings, NULL, 0,
	 "count|sum|min|max|avg of ?col= with an optional ?where= (zone maps skip chunks)"},
	{0},
};
