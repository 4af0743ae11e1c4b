/* frontend/routes_partitions.c — REST routes of the partitions area (see routes.h). */
#include "frontend/routes.h"

#define PT "/api/v1/storage/partitioned-tables"

const struct route routes_partitions[] = {
	{M_POST, PT, ROLE_WRITE, "partitions.create_table", route_build_strings, NULL, 201,
	 "create a partitioned table: {name, key, strategy: range|list|hash|composite, hash_key, "
	 "primary_key, partitions: [{name, from, to | values | modulus, remainder | default}], tablespace}"},
	{M_GET, PT, ROLE_READ, "partitions.list_tables", NULL, NULL, 0, "list partitioned tables"},
	{M_GET, PT "/{name}", ROLE_READ, "partitions.get_table", route_build_strings, NULL, 0,
	 "a partitioned table: key, strategy, partitions with row counts"},
	{M_DELETE, PT "/{name}", ROLE_WRITE, "partitions.drop_table", route_build_strings, NULL, 0,
	 "drop a partitioned table and its rows"},
	{M_POST, PT "/{name}/rows", ROLE_WRITE, "partitions.insert", route_build_strings, NULL, 0,
	 "insert {rows: [{...}]}, each routed to its partition"},
	{M_POST, PT "/{name}/query", ROLE_READ, "partitions.query", route_build_strings, NULL, 0,
	 "rows matching {where: {col: {eq|ne|lt|le|gt|ge|in|between: v}}, limit, after}; says which "
	 "partitions were scanned and pruned"},
	{M_GET, PT "/{name}/partition-for", ROLE_READ, "partitions.partition_for", route_build_strings,
	 NULL, 0, "the partition of ?value= (and ?hash_value= for composite tables)"},
	{M_GET, "/api/v1/storage/partitions", ROLE_READ, "partitions.list", route_build_strings, NULL, 0,
	 "partitions of ?table= (every table without it): id, table, name, definition, rows"},
	{M_POST, "/api/v1/storage/partitions", ROLE_WRITE, "partitions.add", route_build_strings, NULL,
	 201, "add a partition: {table, name, definition}"},
	{M_DELETE, "/api/v1/storage/partitions/{id}", ROLE_WRITE, "partitions.drop", route_build_default,
	 NULL, 0, "drop a partition and its rows (says how many)"},
	{0},
};
