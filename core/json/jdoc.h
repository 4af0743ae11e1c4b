/*
 * core/json/jdoc.h — operators on one JSON document (jansson values).
 *
 * Every function leaves its inputs unchanged and returns new values (the
 * caller owns them). Errors: STRATA_EBAD_REQUEST with a message for the
 * client (a path that does not parse names its position, see jpath.h; a
 * type mismatch names the JSON type found), STRATA_ENOMEM,
 * STRATA_ETOO_LARGE when a node list passes JPATH_MAX_NODES, and
 * STRATA_EPATH_TOO_EXPENSIVE when path evaluation runs out of budget
 * (msg names the limit; nothing partial is returned).
 *
 * Budget: every function that evaluates a path charges it to budget
 * (core/json/jbudget.h; NULL: unlimited). The aggregates charge all their
 * documents to the one budget; set also charges one unit per node of value
 * for each node it replaces (each gets a copy).
 *
 * Missing paths: jdoc_extract gives an empty array (all) or NULL (first),
 * jdoc_keys and jdoc_array_length give NULL (JSON null for the caller),
 * jdoc_delete changes nothing; jdoc_set creates what is missing (below).
 */
#ifndef STRATA_CORE_JSON_JDOC_H
#define STRATA_CORE_JSON_JDOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct jbudget; /* core/json/jbudget.h */

/* Parses text (any JSON value, at most max_depth nested containers).
 * STRATA_EBAD_REQUEST with "JSON: <reason> at line L column C". */
int jdoc_parse(const char *text, size_t len, json_t **out, char *msg, size_t msglen);

/* Name of v's JSON type: "object", "array", "string", "number", "true",
 * "false", "null". */
const char *jdoc_type_name(const json_t *v);

/* all: *out = array of every match (possibly empty); else *out = the first
 * match (a new reference) or NULL when there is none. */
int jdoc_extract(json_t *doc, const char *path, bool all, struct jbudget *budget, json_t **out,
		 char *msg, size_t msglen);

/*
 * Sets the node(s) at path to value; *out is the new document, *matched
 * the number of nodes replaced or created.
 *  - Any path: every node it selects is replaced (`$` replaces the document).
 *  - When a singular path (names and indexes only) selects nothing, it is
 *    created: a missing member is added; a missing intermediate member
 *    becomes {} (or [] when the next step is an index); an array index equal
 *    to the array's length appends; an index past the end, or a negative
 *    index that does not exist, is an error (arrays are never padded); a
 *    step through a scalar (a name on a number, an index on an object) is
 *    an error naming the type found.
 *  - A non-singular path that selects nothing changes nothing (matched 0).
 */
int jdoc_set(json_t *doc, const char *path, json_t *value, struct jbudget *budget, json_t **out,
	     size_t *matched, char *msg, size_t msglen);

/* Removes every node path selects (array elements: each once, later
 * indexes first so the earlier stay valid); `$` itself is an error.
 * *out the new document, *removed how many. */
int jdoc_delete(json_t *doc, const char *path, struct jbudget *budget, json_t **out,
		size_t *removed, char *msg, size_t msglen);

/*
 * Containment (PostgreSQL @> semantics): an object contains an object when
 * each of the candidate's members is present and contains the candidate's
 * value; an array contains an array when each candidate element is
 * contained in some element; an array contains a scalar equal to one of its
 * elements; scalars contain equal scalars (numbers by value).
 */
bool jdoc_contains(const json_t *target, const json_t *candidate);

/* The first node at path (NULL path = the document). keys: its member
 * names in order; array_length: its element count as an integer. NULL when
 * the path selects nothing; STRATA_EBAD_REQUEST when the node has the wrong
 * type. */
int jdoc_keys(json_t *doc, const char *path, struct jbudget *budget, json_t **out, char *msg,
	      size_t msglen);
int jdoc_array_length(json_t *doc, const char *path, struct jbudget *budget, json_t **out,
		      char *msg, size_t msglen);

/* RFC 7396 JSON Merge Patch: the result of applying patch to target. */
json_t *jdoc_merge_patch(const json_t *target, const json_t *patch);

/*
 * Aggregates (as PostgreSQL's json_agg / json_object_agg).
 * jdoc_agg: for each doc, the first node at path (NULL = the document);
 * docs where it selects nothing are skipped. *out an array.
 * jdoc_object_agg: an object of key → value where key is the first node
 * at key_path of each doc (a string, or a number/boolean in its JSON text;
 * null, absent, object or array keys are errors naming the doc) and value
 * the first node at value_path (null when absent). Later docs win.
 */
int jdoc_agg(const json_t *docs, const char *path, struct jbudget *budget, json_t **out,
	     char *msg, size_t msglen);
int jdoc_object_agg(const json_t *docs, const char *key_path, const char *value_path,
		    struct jbudget *budget, json_t **out, char *msg, size_t msglen);

#endif
