/*
 * frontend/graphql/gql_schema.h — the type system, built from SDL.
 *
 * gql_schema_build parses a schema document (type system definitions;
 * `extend type` merges fields into an earlier type), adds the built-in
 * scalars, directives (@include, @skip, @deprecated, @specifiedBy) and the
 * introspection types, resolves every type reference and checks the result
 * (unknown types, input/output positions, duplicate names, root types).
 * The schema is immutable afterwards and may be read by any thread.
 *
 * Types are kept in definition order (the order introspection lists them,
 * so graphql-js rebuilds the same schema), built-ins after them.
 */
#ifndef STRATA_GQL_SCHEMA_H
#define STRATA_GQL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "frontend/graphql/gql_ast.h"

enum gql_kind {
	GQL_SCALAR,
	GQL_OBJECT,
	GQL_INTERFACE,
	GQL_UNION,
	GQL_ENUM,
	GQL_INPUT_OBJECT,
};

struct gql_arg_def {
	const char *name;
	const char *description;
	struct gql_type_ref *type;
	const struct gql_value *default_value; /* NULL: none */
	bool deprecated;
	const char *deprecation_reason;
};

struct gql_field {
	const char *name;
	const char *description;
	struct gql_type_ref *type;
	struct gql_arg_def *args;
	size_t nargs;
	bool deprecated;
	const char *deprecation_reason;
	const char *source_key; /* the default resolver's key: snake_case of name */
	const void *resolver;   /* set by the executor's resolver table; NULL: default */
};

struct gql_enum_value {
	const char *name;
	const char *description;
	bool deprecated;
	const char *deprecation_reason;
};

struct gql_named_type {
	enum gql_kind kind;
	const char *name;
	const char *description;
	const char *specified_by;
	bool builtin;               /* a built-in scalar or an introspection type */
	struct gql_field *fields;   /* OBJECT, INTERFACE */
	size_t nfields;
	struct gql_arg_def *input_fields; /* INPUT_OBJECT */
	size_t ninput_fields;
	struct gql_enum_value *values;    /* ENUM */
	size_t nvalues;
	struct gql_named_type **interfaces; /* OBJECT, INTERFACE */
	size_t ninterfaces;
	struct gql_named_type **members;    /* UNION */
	size_t nmembers;
};

/* Directive locations as bits. */
enum gql_dir_location {
	GQL_LOC_QUERY,
	GQL_LOC_MUTATION,
	GQL_LOC_SUBSCRIPTION,
	GQL_LOC_FIELD,
	GQL_LOC_FRAGMENT_DEFINITION,
	GQL_LOC_FRAGMENT_SPREAD,
	GQL_LOC_INLINE_FRAGMENT,
	GQL_LOC_VARIABLE_DEFINITION,
	GQL_LOC_SCHEMA,
	GQL_LOC_SCALAR,
	GQL_LOC_OBJECT,
	GQL_LOC_FIELD_DEFINITION,
	GQL_LOC_ARGUMENT_DEFINITION,
	GQL_LOC_INTERFACE,
	GQL_LOC_UNION,
	GQL_LOC_ENUM,
	GQL_LOC_ENUM_VALUE,
	GQL_LOC_INPUT_OBJECT,
	GQL_LOC_INPUT_FIELD_DEFINITION,
	GQL_LOC_COUNT
};

const char *gql_dir_location_name(enum gql_dir_location l);

struct gql_directive_def {
	const char *name;
	const char *description;
	struct gql_arg_def *args;
	size_t nargs;
	unsigned locations; /* 1u << enum gql_dir_location */
	bool repeatable;
};

struct gql_schema {
	struct gql_arena arena;
	const char *description;
	struct gql_named_type **types;
	size_t ntypes;
	struct gql_named_type *query, *mutation, *subscription;
	struct gql_directive_def **directives;
	size_t ndirectives;
	/* the meta fields every object answers without declaring them */
	struct gql_field typename_field, schema_field, type_field;
};

/*
 * Builds a schema from SDL text. Returns 0 and *out, or -1 with err set
 * (a syntax error or a schema error naming the type and field). The caller
 * frees with gql_schema_free.
 */
int gql_schema_build(const char *sdl, size_t len, struct gql_schema **out, struct gql_error *err);
void gql_schema_free(struct gql_schema *s);

struct gql_named_type *gql_schema_type(const struct gql_schema *s, const char *name);
struct gql_directive_def *gql_schema_directive(const struct gql_schema *s, const char *name);
/* A field of an object or interface, including __typename (and __schema,
 * __type on the query type); NULL: none. */
const struct gql_field *gql_type_field(const struct gql_schema *s, const struct gql_named_type *t,
				       const char *name);
const struct gql_arg_def *gql_field_arg(const struct gql_field *f, const char *name);

/* Resolves the named leaves of t against s; false when a name is unknown
 * (*unknown set to it). */
bool gql_resolve_type(const struct gql_schema *s, struct gql_type_ref *t, const char **unknown);
struct gql_named_type *gql_named(const struct gql_type_ref *t);
bool gql_is_input_type(const struct gql_type_ref *t);
bool gql_is_output_type(const struct gql_type_ref *t);
bool gql_is_leaf(const struct gql_named_type *t);
bool gql_is_composite(const struct gql_named_type *t);
/* Whether a value of type sub may be used where type super is expected
 * (for variables: same type, or a non-null of it; lists covariantly). */
bool gql_type_sub(const struct gql_type_ref *sub, const struct gql_type_ref *super);
bool gql_type_equal(const struct gql_type_ref *a, const struct gql_type_ref *b);
/* Whether an object of type t can be of type cond (same type, a member of
 * the union, an implementor of the interface, or overlapping abstracts). */
bool gql_types_overlap(const struct gql_schema *s, const struct gql_named_type *a,
		       const struct gql_named_type *b);
/* Whether object type o is a possible type of abstract (or equal) type t. */
bool gql_is_possible(const struct gql_schema *s, const struct gql_named_type *t,
		     const struct gql_named_type *o);

#endif
