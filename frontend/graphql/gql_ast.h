/*
 * frontend/graphql/gql_ast.h — GraphQL documents: lexer, parser and AST.
 *
 * gql_parse reads a whole document (executable definitions and the type
 * system language: schema, scalar, type, interface, union, enum, input,
 * directive, and their extensions) as the GraphQL specification (October
 * 2021) defines it, into an AST allocated from the caller's arena. Lists in
 * the AST are singly linked through `next`, in source order.
 *
 * Errors are syntax errors worded as graphql-js words them ("Syntax Error:
 * Expected Name, found <EOF>.") with the line and column (1-based) where
 * they occur. Bad input is never a crash: the parser bounds its nesting
 * depth and its token count (struct gql_limits), and a document over a
 * limit is an error like any other.
 */
#ifndef STRATA_GQL_AST_H
#define STRATA_GQL_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "frontend/graphql/gql_arena.h"

struct gql_loc {
	unsigned line, column;
};

enum gql_value_kind {
	GQL_V_VARIABLE,
	GQL_V_INT,
	GQL_V_FLOAT,
	GQL_V_STRING,
	GQL_V_BOOLEAN,
	GQL_V_NULL,
	GQL_V_ENUM,
	GQL_V_LIST,
	GQL_V_OBJECT,
};

struct gql_value;

struct gql_object_field {
	const char *name;
	struct gql_loc loc;
	struct gql_value *value;
	struct gql_object_field *next;
};

struct gql_value {
	enum gql_value_kind kind;
	struct gql_loc loc;
	const char *text;   /* VARIABLE name (no $), INT/FLOAT digits, STRING
	                     * cooked value, ENUM name */
	bool boolean;       /* BOOLEAN */
	bool block;         /* STRING written as a block string */
	struct gql_value *items;          /* LIST */
	struct gql_object_field *fields;  /* OBJECT */
	struct gql_value *next;           /* next item of a list */
};

struct gql_argument {
	const char *name;
	struct gql_loc loc;
	struct gql_value *value;
	struct gql_argument *next;
};

struct gql_directive {
	const char *name;
	struct gql_loc loc;
	struct gql_argument *args;
	struct gql_directive *next;
};

enum gql_type_kind { GQL_T_NAMED, GQL_T_LIST, GQL_T_NON_NULL };

struct gql_named_type; /* schema side, gql_schema.h */

struct gql_type_ref {
	enum gql_type_kind kind;
	struct gql_loc loc;
	const char *name;             /* NAMED */
	struct gql_type_ref *of;      /* LIST, NON_NULL */
	struct gql_named_type *resolved; /* NAMED, set by whoever resolves it */
};

enum gql_selection_kind { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE };

struct gql_selection {
	enum gql_selection_kind kind;
	struct gql_loc loc;
	const char *alias;            /* FIELD; NULL: none */
	const char *name;             /* FIELD name, SPREAD fragment name */
	struct gql_loc name_loc;
	struct gql_loc set_loc;       /* the '{' of its selection set */
	struct gql_argument *args;    /* FIELD */
	struct gql_directive *directives;
	const char *type_condition;   /* INLINE; NULL: none */
	struct gql_loc type_condition_loc;
	bool has_selections;          /* FIELD: a selection set was written */
	struct gql_selection *selections; /* FIELD, INLINE */
	struct gql_selection *next;
};

struct gql_variable_def {
	const char *name;
	struct gql_loc loc;           /* the '$' */
	struct gql_loc name_loc;
	struct gql_type_ref *type;
	struct gql_value *default_value; /* NULL: none */
	struct gql_directive *directives;
	struct gql_variable_def *next;
};

/* A field definition (type/interface), or an input value definition
 * (argument, input field) when type_only. */
struct gql_input_value_def {
	const char *description;
	const char *name;
	struct gql_loc loc;
	struct gql_type_ref *type;
	struct gql_value *default_value;
	struct gql_directive *directives;
	struct gql_input_value_def *next;
};

struct gql_field_def {
	const char *description;
	const char *name;
	struct gql_loc loc;
	struct gql_input_value_def *args;
	struct gql_type_ref *type;
	struct gql_directive *directives;
	struct gql_field_def *next;
};

struct gql_enum_value_def {
	const char *description;
	const char *name;
	struct gql_loc loc;
	struct gql_directive *directives;
	struct gql_enum_value_def *next;
};

struct gql_name_list {
	const char *name;
	struct gql_loc loc;
	struct gql_name_list *next;
};

struct gql_root_op {
	int operation; /* enum gql_operation */
	const char *type_name;
	struct gql_root_op *next;
};

enum gql_operation { GQL_OP_QUERY, GQL_OP_MUTATION, GQL_OP_SUBSCRIPTION };

enum gql_def_kind {
	GQL_DEF_OPERATION,
	GQL_DEF_FRAGMENT,
	GQL_DEF_SCHEMA,
	GQL_DEF_SCALAR,
	GQL_DEF_OBJECT,
	GQL_DEF_INTERFACE,
	GQL_DEF_UNION,
	GQL_DEF_ENUM,
	GQL_DEF_INPUT_OBJECT,
	GQL_DEF_DIRECTIVE,
};

struct gql_definition {
	enum gql_def_kind kind;
	bool extension;               /* "extend ..." */
	struct gql_loc loc;
	const char *description;
	const char *name;             /* NULL: anonymous operation */
	struct gql_loc name_loc;
	struct gql_loc set_loc;       /* the '{' of its selection set */
	/* OPERATION */
	enum gql_operation operation;
	bool shorthand;               /* "{ ... }" query shorthand */
	struct gql_variable_def *variables;
	/* OPERATION, FRAGMENT */
	struct gql_directive *directives;
	struct gql_selection *selections;
	/* FRAGMENT */
	const char *type_condition;
	struct gql_loc type_condition_loc;
	/* OBJECT, INTERFACE */
	struct gql_name_list *interfaces;
	struct gql_field_def *fields;
	/* UNION */
	struct gql_name_list *members;
	/* ENUM */
	struct gql_enum_value_def *values;
	/* INPUT_OBJECT; DIRECTIVE arguments */
	struct gql_input_value_def *input_fields;
	/* DIRECTIVE */
	bool repeatable;
	struct gql_name_list *locations;
	/* SCHEMA */
	struct gql_root_op *root_ops;
	struct gql_definition *next;
};

struct gql_document {
	struct gql_definition *definitions;
};

struct gql_limits {
	size_t max_bytes;   /* document size (0: no limit) */
	unsigned max_depth; /* nesting of selections, values and types */
	unsigned max_tokens;
};

/* The limits the frontend applies to client documents. */
extern const struct gql_limits gql_default_limits;

struct gql_error {
	char message[512];
	struct gql_loc loc;
};

/*
 * Parses src[0..len) into *out (allocated from arena). Returns 0, or -1
 * with err set (a syntax error, a limit, or out of memory). The arena
 * owns everything; strings in the AST are NUL-terminated copies.
 */
int gql_parse(struct gql_arena *arena, const char *src, size_t len,
	      const struct gql_limits *limits, struct gql_document *out, struct gql_error *err);

/* Writes a value as GraphQL source (as graphql-js's print does) into buf;
 * returns the length it needed (like snprintf). */
size_t gql_print_value(const struct gql_value *v, char *buf, size_t n);
/* Writes a type reference ("[Int!]!"); as gql_print_value. */
size_t gql_print_type(const struct gql_type_ref *t, char *buf, size_t n);

const char *gql_operation_name(enum gql_operation op); /* "query" ... */

#endif
