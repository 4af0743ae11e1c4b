/*
 * frontend/graphql/gql_validate.h — validation of executable documents.
 *
 * gql_validate applies the rules of the GraphQL specification's Validation
 * section, as graphql-js's `validate` (specifiedRules) applies them, with
 * the same messages and locations, so a client sees the same errors from
 * Strata as from the reference implementation:
 *   executable definitions; unique operation names; lone anonymous
 *   operation; single root field for subscriptions; known type names;
 *   fragments on composite types; variables are input types; leaf field
 *   selections; fields on correct type; unique fragment names; known
 *   fragment names; no unused fragments; possible fragment spreads; no
 *   fragment cycles; unique variable names; no undefined variables; no
 *   unused variables; known directives; unique directives per location;
 *   known argument names; unique argument names; values of correct type;
 *   provided required arguments; variables in allowed position;
 *   overlapping fields can be merged (same response name: same field and
 *   arguments, compatible types); unique input field names.
 * Then Strata's limits: the depth of the selection tree and the number of
 * fields, both counted through fragments.
 *
 * The document's named type references are resolved in place (the AST is
 * the caller's, from its arena). Errors are collected, at most 100.
 */
#ifndef STRATA_GQL_VALIDATE_H
#define STRATA_GQL_VALIDATE_H

#include <stddef.h>

#include "frontend/graphql/gql_ast.h"
#include "frontend/graphql/gql_schema.h"

#define GQL_MAX_ERRORS 100
/* The most locations the rules other than OverlappingFieldsCanBeMerged
 * give one error (that rule gives up to 40, as graphql-js does). */
#define GQL_MAX_LOCS 4

struct gql_verror {
	const char *message;        /* in the errors' arena */
	const struct gql_loc *locs; /* nlocs of them, in the errors' arena */
	unsigned nlocs;
};

/* Zero-initialise ({0}); gql_verrors_clear frees. */
struct gql_verrors {
	struct gql_verror *v; /* malloc'd */
	size_t n, cap;
	struct gql_arena text; /* the messages and locations */
};

struct gql_exec_limits {
	unsigned max_depth;  /* selection nesting, through fragments */
	unsigned max_fields; /* fields in the document, through fragments */
};

extern const struct gql_exec_limits gql_default_exec_limits;

/* Returns the number of errors (0: valid). Out of memory is reported as an
 * error too. Free out with gql_verrors_clear. */
size_t gql_validate(const struct gql_schema *s, struct gql_document *doc,
		    const struct gql_exec_limits *limits, struct gql_verrors *out);
void gql_verrors_clear(struct gql_verrors *e);

/* graphql-js's suggestionList + didYouMean: appends " Did you mean ...?"
 * for the options close to input (nothing when none is). */
void gql_did_you_mean(const char *input, const char *const *options, size_t n, char *buf,
		      size_t buflen);

#endif
