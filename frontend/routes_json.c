/* frontend/routes_json.c — REST routes of the json area (see routes.h):
 * operators on documents in the body, and document collections. */
#include <stdio.h>

#include "frontend/routes.h"
#include "strata/error.h"

#define J "/api/v1/storage/json"
#define C J "/collections/{collection}"

/* PUT .../docs/{id}: the body is the document itself. */
static int build_doc_put(const struct route_req *rq, json_t **args, char *msg, size_t msglen)
{
	if (!rq->body) {
		snprintf(msg, msglen, "the request body must be the JSON document");
		return STRATA_EBAD_REQUEST;
	}
	json_t *a = json_deep_copy(rq->params);
	if (!a || json_object_set(a, "doc", (json_t *)rq->body) != 0) {
		json_decref(a);
		return STRATA_ENOMEM;
	}
	*args = a;
	return 0;
}

const struct route routes_json[] = {
	{M_POST, J "/parse", ROLE_READ, "json.parse", route_build_strings, NULL, 0,
	 "parse JSON text: {text} -> {result, type}; 400 names line and column"},
	{M_POST, J "/extract", ROLE_READ, "json.extract", route_build_strings, NULL, 0,
	 "JSONPath (RFC 9535) on {json, path, all}: all matches (all:true, default) or the first; "
	 "422 path_too_expensive when the evaluation passes stratad's --json-path-budget (every "
	 "operator evaluating a path, the collection query and index paths too)"},
	{M_POST, J "/set", ROLE_READ, "json.set", route_build_strings, NULL, 0,
	 "set {json, path, value}: replaces every match, or creates a missing singular path"},
	{M_POST, J "/delete", ROLE_READ, "json.delete", route_build_strings, NULL, 0,
	 "delete every node {json, path} selects"},
	{M_POST, J "/merge", ROLE_READ, "json.merge", route_build_strings, NULL, 0,
	 "RFC 7396 merge patch: {target, patch}"},
	{M_POST, J "/contains", ROLE_READ, "json.contains", route_build_strings, NULL, 0,
	 "containment (PostgreSQL @>): does {json} (at optional path) contain {value}"},
	{M_POST, J "/keys", ROLE_READ, "json.keys", route_build_strings, NULL, 0,
	 "member names of the object at {path} (default $) of {json}"},
	{M_POST, J "/array-length", ROLE_READ, "json.array_length", route_build_strings, NULL, 0,
	 "element count of the array at {path} (default $) of {json}"},
	{M_POST, J "/agg", ROLE_READ, "json.agg", route_build_strings, NULL, 0,
	 "json_agg {docs, path} or json_object_agg {fn, docs, key_path, value_path}"},

	{M_POST, J "/collections", ROLE_WRITE, "json.collection_create", route_build_strings, NULL,
	 201, "create a document collection: {name, tablespace}"},
	{M_GET, J "/collections", ROLE_READ, "json.collection_list", route_build_strings, NULL, 0,
	 "list document collections with their indexes"},
	{M_GET, C, ROLE_READ, "json.collection_get", route_build_strings, NULL, 0,
	 "a collection's name, tablespace and indexes"},
	{M_DELETE, C, ROLE_WRITE, "json.collection_drop", route_build_strings, NULL, 0,
	 "drop a collection with its documents and indexes"},
	{M_GET, C "/docs", ROLE_READ, "json.doc_list", route_build_strings, NULL, 0,
	 "documents in id order: ?limit=&after= -> {items:[{id, doc}], next}"},
	{M_PUT, C "/docs/{id}", ROLE_WRITE, "json.doc_put", build_doc_put, NULL, 0,
	 "store the body as document {id} (replacing; indexes follow)"},
	{M_GET, C "/docs/{id}", ROLE_READ, "json.doc_get", route_build_strings, NULL, 0,
	 "a document: {id, doc}"},
	{M_DELETE, C "/docs/{id}", ROLE_WRITE, "json.doc_delete", route_build_strings, NULL, 0,
	 "delete a document and its index entries"},
	{M_POST, C "/indexes", ROLE_WRITE, "json.index_create", route_build_strings, NULL, 201,
	 "create a path index {path}, built from the existing documents"},
	{M_GET, C "/indexes", ROLE_READ, "json.index_list", route_build_strings, NULL, 0,
	 "a collection's indexes with their state and entry counts"},
	{M_DELETE, C "/indexes", ROLE_WRITE, "json.index_drop", route_build_strings, NULL, 0,
	 "drop the index on {path} (body or ?path=)"},
	{M_POST, C "/query", ROLE_READ, "json.query", route_build_strings, NULL, 0,
	 "documents whose {path} satisfies {op} (= < <= > >= contains) {value}; uses an index on "
	 "the path when there is one: {ids, docs?, used_index, scanned}; one JSONPath budget "
	 "(422 path_too_expensive) for every document the query reads"},
	{0},
};
