/*
 * frontend/graphql/gql_schema.c — building the type system from SDL.
 */
#include "frontend/graphql/gql_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built-in scalars, directives and the introspection types, as graphql-js
 * defines them. Appended after the application's SDL. */
static const char builtin_sdl[] =
	"\"The `String` scalar type represents textual data, represented as UTF-8 character sequences. The String type is most often used by GraphQL to represent free-form human-readable text.\"\n"
	"scalar String\n"
	"\"The `Int` scalar type represents non-fractional signed whole numeric values. Int can represent values between -(2^31) and 2^31 - 1.\"\n"
	"scalar Int\n"
	"\"The `Float` scalar type represents signed double-precision fractional values as specified by [IEEE 754](https://en.wikipedia.org/wiki/IEEE_floating_point).\"\n"
	"scalar Float\n"
	"\"The `Boolean` scalar type represents `true` or `false`.\"\n"
	"scalar Boolean\n"
	"\"The `ID` scalar type represents a unique identifier, often used to refetch an object or as key for a cache. The ID type appears in a JSON response as a String; however, it is not intended to be human-readable. When expected as an input type, any string (such as `\\\"4\\\"`) or integer (such as `4`) input value will be accepted as an ID.\"\n"
	"scalar ID\n"
	"\"Directs the executor to include this field or fragment only when the `if` argument is true.\"\n"
	"directive @include(\"Included when true.\" if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
	"\"Directs the executor to skip this field or fragment when the `if` argument is true.\"\n"
	"directive @skip(\"Skipped when true.\" if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
	"\"Marks an element of a GraphQL schema as no longer supported.\"\n"
	"directive @deprecated(\"Explains why this element was deprecated, usually also including a suggestion for how to access supported similar data. Formatted using the Markdown syntax, as specified by [CommonMark](https://commonmark.org/).\" reason: String = \"No longer supported\") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE\n"
	"\"Exposes a URL that specifies the behavior of this scalar.\"\n"
	"directive @specifiedBy(\"The URL that specifies the behavior of this scalar.\" url: String!) on SCALAR\n"
	"\"A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available types and directives on the server, as well as the entry points for query, mutation, and subscription operations.\"\n"
	"type __Schema {\n"
	"  description: String\n"
	"  \"A list of all types supported by this server.\"\n"
	"  types: [__Type!]!\n"
	"  \"The type that query operations will be rooted at.\"\n"
	"  queryType: __Type!\n"
	"  \"If this server supports mutation, the type that mutation operations will be rooted at.\"\n"
	"  mutationType: __Type\n"
	"  \"If this server support subscription, the type that subscription operations will be rooted at.\"\n"
	"  subscriptionType: __Type\n"
	"  \"A list of all directives supported by this server.\"\n"
	"  directives: [__Directive!]!\n"
	"}\n"
	"\"The fundamental unit of any GraphQL Schema is the type. There are many kinds of types in GraphQL as represented by the `__TypeKind` enum.\\n\\nDepending on the kind of a type, certain fields describe information about that type. Scalar types provide no information beyond a name, description and optional `specifiedByURL`, while Enum types provide their values. Object and Interface types provide the fields they describe. Abstract types, Union and Interface, provide the Object types possible at runtime. List and NonNull types compose other types.\"\n"
	"type __Type {\n"
	"  kind: __TypeKind!\n"
	"  name: String\n"
	"  description: String\n"
	"  specifiedByURL: String\n"
	"  fields(includeDeprecated: Boolean = false): [__Field!]\n"
	"  interfaces: [__Type!]\n"
	"  possibleTypes: [__Type!]\n"
	"  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]\n"
	"  inputFields(includeDeprecated: Boolean = false): [__InputValue!]\n"
	"  ofType: __Type\n"
	"  isOneOf: Boolean\n"
	"}\n"
	"\"An enum describing what kind of type a given `__Type` is.\"\n"
	"enum __TypeKind {\n"
	"  \"Indicates this type is a scalar.\" SCALAR\n"
	"  \"Indicates this type is an object. `fields` and `interfaces` are valid fields.\" OBJECT\n"
	"  \"Indicates this type is an interface. `fields`, `interfaces`, and `possibleTypes` are valid fields.\" INTERFACE\n"
	"  \"Indicates this type is a union. `possibleTypes` is a valid field.\" UNION\n"
	"  \"Indicates this type is an enum. `enumValues` is a valid field.\" ENUM\n"
	"  \"Indicates this type is an input object. `inputFields` is a valid field.\" INPUT_OBJECT\n"
	"  \"Indicates this type is a list. `ofType` is a valid field.\" LIST\n"
	"  \"Indicates this type is a non-null. `ofType` is a valid field.\" NON_NULL\n"
	"}\n"
	"\"Object and Interface types are described by a list of Fields, each of which has a name, potentially a list of arguments, and a return type.\"\n"
	"type __Field {\n"
	"  name: String!\n"
	"  description: String\n"
	"  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
	"  type: __Type!\n"
	"  isDeprecated: Boolean!\n"
	"  deprecationReason: String\n"
	"}\n"
	"\"Arguments provided to Fields or Directives and the input fields of an InputObject are represented as Input Values which describe their type and optionally a default value.\"\n"
	"type __InputValue {\n"
	"  name: String!\n"
	"  description: String\n"
	"  type: __Type!\n"
	"  \"A GraphQL-formatted string representing the default value for this input value.\"\n"
	"  defaultValue: String\n"
	"  isDeprecated: Boolean!\n"
	"  deprecationReason: String\n"
	"}\n"
	"\"One possible value for a given Enum. Enum values are unique values, not a placeholder for a string or numeric value. However an Enum value is returned in a JSON response as a string.\"\n"
	"type __EnumValue {\n"
	"  name: String!\n"
	"  description: String\n"
	"  isDeprecated: Boolean!\n"
	"  deprecationReason: String\n"
	"}\n"
	"\"A Directive provides a way to describe alternate runtime execution and type validation behavior in a GraphQL document.\\n\\nIn some cases, you need to provide options to alter GraphQL's execution behavior in ways field arguments will not suffice, such as conditionally including or skipping a field. Directives provide this by describing additional information to the executor.\"\n"
	"type __Directive {\n"
	"  name: String!\n"
	"  description: String\n"
	"  isRepeatable: Boolean!\n"
	"  locations: [__DirectiveLocation!]!\n"
	"  args(includeDeprecated: Boolean = false): [__InputValue!]!\n"
	"}\n"
	"\"A Directive can be adjacent to many parts of the GraphQL language, a __DirectiveLocation describes one such possible adjacencies.\"\n"
	"enum __DirectiveLocation {\n"
	"  \"Location adjacent to a query operation.\" QUERY\n"
	"  \"Location adjacent to a mutation operation.\" MUTATION\n"
	"  \"Location adjacent to a subscription operation.\" SUBSCRIPTION\n"
	"  \"Location adjacent to a field.\" FIELD\n"
	"  \"Location adjacent to a fragment definition.\" FRAGMENT_DEFINITION\n"
	"  \"Location adjacent to a fragment spread.\" FRAGMENT_SPREAD\n"
	"  \"Location adjacent to an inline fragment.\" INLINE_FRAGMENT\n"
	"  \"Location adjacent to a variable definition.\" VARIABLE_DEFINITION\n"
	"  \"Location adjacent to a schema definition.\" SCHEMA\n"
	"  \"Location adjacent to a scalar definition.\" SCALAR\n"
	"  \"Location adjacent to an object type definition.\" OBJECT\n"
	"  \"Location adjacent to a field definition.\" FIELD_DEFINITION\n"
	"  \"Location adjacent to an argument definition.\" ARGUMENT_DEFINITION\n"
	"  \"Location adjacent to an interface definition.\" INTERFACE\n"
	"  \"Location adjacent to a union definition.\" UNION\n"
	"  \"Location adjacent to an enum definition.\" ENUM\n"
	"  \"Location adjacent to an enum value definition.\" ENUM_VALUE\n"
	"  \"Location adjacent to an input object type definition.\" INPUT_OBJECT\n"
	"  \"Location adjacent to an input object field definition.\" INPUT_FIELD_DEFINITION\n"
	"}\n"
	"type __Meta {\n"
	"  __typename: String!\n"
	"  __schema: __Schema!\n"
	"  __type(name: String!): __Type\n"
	"}\n";

static const char *const loc_names[GQL_LOC_COUNT] = {
	"QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION", "FRAGMENT_SPREAD",
	"INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA", "SCALAR", "OBJECT", "FIELD_DEFINITION",
	"ARGUMENT_DEFINITION", "INTERFACE", "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT",
	"INPUT_FIELD_DEFINITION",
};

const char *gql_dir_location_name(enum gql_dir_location l)
{
	return (unsigned)l < GQL_LOC_COUNT ? loc_names[l] : "?";
}

static int fail(struct gql_error *err, struct gql_loc loc, const char *fmt, const char *a,
		const char *b)
{
	snprintf(err->message, sizeof(err->message), fmt, a, b ? b : "");
	err->loc = loc;
	return -1;
}

struct gql_named_type *gql_schema_type(const struct gql_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i]->name, name) == 0)
			return s->types[i];
	return NULL;
}

struct gql_directive_def *gql_schema_directive(const struct gql_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ndirectives; i++)
		if (strcmp(s->directives[i]->name, name) == 0)
			return s->directives[i];
	return NULL;
}

const struct gql_field *gql_type_field(const struct gql_schema *s, const struct gql_named_type *t,
				       const char *name)
{
	if (!t)
		return NULL;
	if (name[0] == '_' && name[1] == '_') {
		if (strcmp(name, "__typename") == 0 &&
		    (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE || t->kind == GQL_UNION))
			return &s->typename_field;
		if (t == s->query && strcmp(name, "__schema") == 0)
			return &s->schema_field;
		if (t == s->query && strcmp(name, "__type") == 0)
			return &s->type_field;
	}
	if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
		return NULL;
	for (size_t i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

const struct gql_arg_def *gql_field_arg(const struct gql_field *f, const char *name)
{
	for (size_t i = 0; i < f->nargs; i++)
		if (strcmp(f->args[i].name, name) == 0)
			return &f->args[i];
	return NULL;
}

struct gql_named_type *gql_named(const struct gql_type_ref *t)
{
	while (t && t->kind != GQL_T_NAMED)
		t = t->of;
	return t ? t->resolved : NULL;
}

bool gql_resolve_type(const struct gql_schema *s, struct gql_type_ref *t, const char **unknown)
{
	while (t->kind != GQL_T_NAMED)
		t = t->of;
	if (!t->resolved)
		t->resolved = gql_schema_type(s, t->name);
	if (!t->resolved) {
		if (unknown)
			*unknown = t->name;
		return false;
	}
	return true;
}

bool gql_is_leaf(const struct gql_named_type *t)
{
	return t && (t->kind == GQL_SCALAR || t->kind == GQL_ENUM);
}

bool gql_is_composite(const struct gql_named_type *t)
{
	return t && (t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE || t->kind == GQL_UNION);
}

bool gql_is_input_type(const struct gql_type_ref *t)
{
	const struct gql_named_type *n = gql_named(t);
	return n && (n->kind == GQL_SCALAR || n->kind == GQL_ENUM || n->kind == GQL_INPUT_OBJECT);
}

bool gql_is_output_type(const struct gql_type_ref *t)
{
	const struct gql_named_type *n = gql_named(t);
	return n && n->kind != GQL_INPUT_OBJECT;
}

bool gql_type_equal(const struct gql_type_ref *a, const struct gql_type_ref *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == GQL_T_NAMED)
		return strcmp(a->name, b->name) == 0;
	return gql_type_equal(a->of, b->of);
}

bool gql_type_sub(const struct gql_type_ref *sub, const struct gql_type_ref *super)
{
	if (super->kind == GQL_T_NON_NULL) {
		if (sub->kind != GQL_T_NON_NULL)
			return false;
		return gql_type_sub(sub->of, super->of);
	}
	if (sub->kind == GQL_T_NON_NULL)
		return gql_type_sub(sub->of, super);
	if (super->kind == GQL_T_LIST)
		return sub->kind == GQL_T_LIST && gql_type_sub(sub->of, super->of);
	if (sub->kind == GQL_T_LIST)
		return false;
	return strcmp(sub->name, super->name) == 0;
}

bool gql_is_possible(const struct gql_schema *s, const struct gql_named_type *t,
		     const struct gql_named_type *o)
{
	(void)s;
	if (t == o)
		return true;
	if (t->kind == GQL_UNION) {
		for (size_t i = 0; i < t->nmembers; i++)
			if (t->members[i] == o)
				return true;
	} else if (t->kind == GQL_INTERFACE) {
		for (size_t i = 0; i < o->ninterfaces; i++)
			if (o->interfaces[i] == t)
				return true;
	}
	return false;
}

bool gql_types_overlap(const struct gql_schema *s, const struct gql_named_type *a,
		       const struct gql_named_type *b)
{
	if (a == b)
		return true;
	if (a->kind == GQL_OBJECT)
		return b->kind != GQL_OBJECT && gql_is_possible(s, b, a);
	if (b->kind == GQL_OBJECT)
		return gql_is_possible(s, a, b);
	/* two abstract types: any object type possible for both */
	for (size_t i = 0; i < s->ntypes; i++) {
		const struct gql_named_type *o = s->types[i];
		if (o->kind == GQL_OBJECT && gql_is_possible(s, a, o) && gql_is_possible(s, b, o))
			return true;
	}
	return false;
}

/* ---- building ---- */

static char *snake_case(struct gql_arena *a, const char *name)
{
	size_t n = strlen(name), o = 0;
	char *out = gql_arena_alloc(a, 2 * n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (isupper((unsigned char)name[i])) {
			if (i > 0 && name[i - 1] != '_')
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)name[i]);
		} else {
			out[o++] = name[i];
		}
	}
	out[o] = '\0';
	return out;
}

static bool deprecation(const struct gql_directive *d, const char **reason)
{
	for (; d; d = d->next) {
		if (strcmp(d->name, "deprecated") != 0)
			continue;
		*reason = "No longer supported";
		for (const struct gql_argument *a = d->args; a; a = a->next)
			if (strcmp(a->name, "reason") == 0 && a->value->kind == GQL_V_STRING)
				*reason = a->value->text;
		return true;
	}
	*reason = NULL;
	return false;
}

static size_t count_ivd(const struct gql_input_value_def *v)
{
	size_t n = 0;
	for (; v; v = v->next)
		n++;
	return n;
}

static int build_args(struct gql_schema *s, const struct gql_input_value_def *defs,
		      struct gql_arg_def **out, size_t *n, struct gql_error *err)
{
	*n = count_ivd(defs);
	*out = NULL;
	if (!*n)
		return 0;
	*out = gql_arena_alloc(&s->arena, *n * sizeof(**out));
	if (!*out)
		return fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
	size_t i = 0;
	for (const struct gql_input_value_def *v = defs; v; v = v->next, i++) {
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j].name, v->name) == 0)
				return fail(err, v->loc, "Argument or input field \"%s\" is defined twice.%s",
					    v->name, NULL);
		(*out)[i].name = v->name;
		(*out)[i].description = v->description;
		(*out)[i].type = v->type;
		(*out)[i].default_value = v->default_value;
		(*out)[i].deprecated = deprecation(v->directives, &(*out)[i].deprecation_reason);
	}
	return 0;
}

static int add_fields(struct gql_schema *s, struct gql_named_type *t, const struct gql_field_def *defs,
		      struct gql_error *err)
{
	size_t add = 0;
	for (const struct gql_field_def *f = defs; f; f = f->next)
		add++;
	if (!add)
		return 0;
	struct gql_field *nf = gql_arena_alloc(&s->arena, (t->nfields + add) * sizeof(*nf));
	if (!nf)
		return fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
	if (t->nfields)
		memcpy(nf, t->fields, t->nfields * sizeof(*nf));
	for (const struct gql_field_def *f = defs; f; f = f->next) {
		for (size_t j = 0; j < t->nfields; j++)
			if (strcmp(nf[j].name, f->name) == 0)
				return fail(err, f->loc, "Field \"%s.%s\" can only be defined once.", t->name,
					    f->name);
		struct gql_field *x = &nf[t->nfields];
		memset(x, 0, sizeof(*x));
		x->name = f->name;
		x->description = f->description;
		x->type = f->type;
		x->deprecated = deprecation(f->directives, &x->deprecation_reason);
		x->source_key = snake_case(&s->arena, f->name);
		if (!x->source_key || build_args(s, f->args, &x->args, &x->nargs, err) != 0)
			return -1;
		t->fields = nf;
		t->nfields++;
	}
	return 0;
}

static int add_names(struct gql_schema *s, const struct gql_name_list *names,
		     struct gql_named_type ***arr, size_t *n, struct gql_error *err)
{
	size_t add = 0;
	for (const struct gql_name_list *l = names; l; l = l->next)
		add++;
	if (!add)
		return 0;
	struct gql_named_type **na = gql_arena_alloc(&s->arena, (*n + add) * sizeof(*na));
	if (!na)
		return fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
	if (*n)
		memcpy(na, *arr, *n * sizeof(*na));
	for (const struct gql_name_list *l = names; l; l = l->next) {
		struct gql_named_type *t = gql_schema_type(s, l->name);
		if (!t)
			return fail(err, l->loc, "Unknown type \"%s\".%s", l->name, NULL);
		na[(*n)++] = t;
	}
	*arr = na;
	return 0;
}

static enum gql_kind kind_of_def(enum gql_def_kind k)
{
	switch (k) {
	case GQL_DEF_OBJECT: return GQL_OBJECT;
	case GQL_DEF_INTERFACE: return GQL_INTERFACE;
	case GQL_DEF_UNION: return GQL_UNION;
	case GQL_DEF_ENUM: return GQL_ENUM;
	case GQL_DEF_INPUT_OBJECT: return GQL_INPUT_OBJECT;
	default: return GQL_SCALAR;
	}
}

static int check_ref(struct gql_schema *s, struct gql_type_ref *t, bool input, const char *where,
		     struct gql_error *err)
{
	const char *unknown = NULL;
	if (!gql_resolve_type(s, t, &unknown))
		return fail(err, t->loc, "Unknown type \"%s\" (in %s).", unknown, where);
	if (input ? !gql_is_input_type(t) : !gql_is_output_type(t))
		return fail(err, t->loc, "%s must be an %s type.", where, input ? "input" : "output");
	return 0;
}

static int link_types(struct gql_schema *s, struct gql_error *err)
{
	char where[256];
	for (size_t i = 0; i < s->ntypes; i++) {
		struct gql_named_type *t = s->types[i];
		for (size_t f = 0; f < t->nfields; f++) {
			struct gql_field *fd = &t->fields[f];
			snprintf(where, sizeof(where), "%s.%s", t->name, fd->name);
			if (check_ref(s, fd->type, false, where, err))
				return -1;
			for (size_t a = 0; a < fd->nargs; a++) {
				snprintf(where, sizeof(where), "%s.%s(%s:)", t->name, fd->name,
					 fd->args[a].name);
				if (check_ref(s, fd->args[a].type, true, where, err))
					return -1;
			}
		}
		for (size_t f = 0; f < t->ninput_fields; f++) {
			snprintf(where, sizeof(where), "%s.%s", t->name, t->input_fields[f].name);
			if (check_ref(s, t->input_fields[f].type, true, where, err))
				return -1;
		}
		if ((t->kind == GQL_OBJECT || t->kind == GQL_INTERFACE) && t->nfields == 0 &&
		    strcmp(t->name, "__Meta") != 0)
			return fail(err, (struct gql_loc){1, 1}, "Type %s must define one or more fields.%s",
				    t->name, NULL);
	}
	for (size_t i = 0; i < s->ndirectives; i++)
		for (size_t a = 0; a < s->directives[i]->nargs; a++) {
			snprintf(where, sizeof(where), "@%s(%s:)", s->directives[i]->name,
				 s->directives[i]->args[a].name);
			if (check_ref(s, s->directives[i]->args[a].type, true, where, err))
				return -1;
		}
	return 0;
}

static int collect(struct gql_schema *s, const struct gql_document *doc, bool builtin,
		   size_t cap, struct gql_error *err)
{
	for (const struct gql_definition *d = doc->definitions; d; d = d->next) {
		switch (d->kind) {
		case GQL_DEF_OPERATION:
		case GQL_DEF_FRAGMENT:
			return fail(err, d->loc, "A schema document holds no %s.%s",
				    d->kind == GQL_DEF_FRAGMENT ? "fragments" : "operations", NULL);
		case GQL_DEF_SCHEMA:
			s->description = d->description;
			for (const struct gql_root_op *r = d->root_ops; r; r = r->next) {
				struct gql_named_type **slot = r->operation == GQL_OP_QUERY ? &s->query
							       : r->operation == GQL_OP_MUTATION
								       ? &s->mutation
								       : &s->subscription;
				/* resolved after every type is known */
				*slot = (struct gql_named_type *)(void *)r->type_name;
			}
			continue;
		case GQL_DEF_DIRECTIVE: {
			if (gql_schema_directive(s, d->name))
				return fail(err, d->loc, "Directive \"@%s\" can only be defined once.%s",
					    d->name, NULL);
			struct gql_directive_def *dd = gql_arena_alloc(&s->arena, sizeof(*dd));
			if (!dd)
				return fail(err, d->loc, "out of memory%s%s", "", NULL);
			dd->name = d->name;
			dd->description = d->description;
			dd->repeatable = d->repeatable;
			for (const struct gql_name_list *l = d->locations; l; l = l->next) {
				int k;
				for (k = 0; k < GQL_LOC_COUNT; k++)
					if (strcmp(loc_names[k], l->name) == 0)
						break;
				if (k == GQL_LOC_COUNT)
					return fail(err, l->loc, "Unexpected directive location \"%s\".%s",
						    l->name, NULL);
				dd->locations |= 1u << k;
			}
			if (build_args(s, d->input_fields, &dd->args, &dd->nargs, err))
				return -1;
			s->directives[s->ndirectives++] = dd;
			continue;
		}
		default:
			break;
		}
		struct gql_named_type *t = gql_schema_type(s, d->name);
		if (d->extension) {
			if (!t || t->kind != kind_of_def(d->kind))
				return fail(err, d->loc, "Cannot extend type \"%s\": %s.", d->name,
					    t ? "it is of another kind" : "it is not defined");
		} else {
			if (t)
				return fail(err, d->loc, "There can be only one type named \"%s\".%s",
					    d->name, NULL);
			if (s->ntypes == cap)
				return fail(err, d->loc, "too many types%s%s", "", NULL);
			t = gql_arena_alloc(&s->arena, sizeof(*t));
			if (!t)
				return fail(err, d->loc, "out of memory%s%s", "", NULL);
			t->kind = kind_of_def(d->kind);
			t->name = d->name;
			t->description = d->description;
			t->builtin = builtin;
			s->types[s->ntypes++] = t;
		}
		for (const struct gql_directive *dir = d->directives; dir; dir = dir->next)
			if (strcmp(dir->name, "specifiedBy") == 0 && dir->args &&
			    dir->args->value->kind == GQL_V_STRING)
				t->specified_by = dir->args->value->text;
		if (add_fields(s, t, d->fields, err))
			return -1;
		if (d->input_fields) {
			struct gql_arg_def *more;
			size_t nmore;
			if (build_args(s, d->input_fields, &more, &nmore, err))
				return -1;
			struct gql_arg_def *all = gql_arena_alloc(&s->arena,
								  (t->ninput_fields + nmore) * sizeof(*all));
			if (!all)
				return fail(err, d->loc, "out of memory%s%s", "", NULL);
			if (t->ninput_fields)
				memcpy(all, t->input_fields, t->ninput_fields * sizeof(*all));
			memcpy(all + t->ninput_fields, more, nmore * sizeof(*all));
			t->input_fields = all;
			t->ninput_fields += nmore;
		}
		size_t add = 0;
		for (const struct gql_enum_value_def *e = d->values; e; e = e->next)
			add++;
		if (add) {
			struct gql_enum_value *vals =
				gql_arena_alloc(&s->arena, (t->nvalues + add) * sizeof(*vals));
			if (!vals)
				return fail(err, d->loc, "out of memory%s%s", "", NULL);
			if (t->nvalues)
				memcpy(vals, t->values, t->nvalues * sizeof(*vals));
			for (const struct gql_enum_value_def *e = d->values; e; e = e->next) {
				struct gql_enum_value *v = &vals[t->nvalues++];
				v->name = e->name;
				v->description = e->description;
				v->deprecated = deprecation(e->directives, &v->deprecation_reason);
			}
			t->values = vals;
		}
	}
	return 0;
}

static int link_names(struct gql_schema *s, const struct gql_document *doc, struct gql_error *err)
{
	for (const struct gql_definition *d = doc->definitions; d; d = d->next) {
		if (d->kind != GQL_DEF_OBJECT && d->kind != GQL_DEF_INTERFACE && d->kind != GQL_DEF_UNION)
			continue;
		struct gql_named_type *t = gql_schema_type(s, d->name);
		if (add_names(s, d->interfaces, &t->interfaces, &t->ninterfaces, err) ||
		    add_names(s, d->members, &t->members, &t->nmembers, err))
			return -1;
	}
	return 0;
}

static size_t count_defs(const struct gql_document *d)
{
	size_t n = 0;
	for (const struct gql_definition *x = d->definitions; x; x = x->next)
		n++;
	return n;
}

static int root_type(struct gql_schema *s, struct gql_named_type **slot, const char *dflt,
		     bool required, struct gql_error *err)
{
	const char *name = *slot ? (const char *)(void *)*slot : dflt;
	*slot = gql_schema_type(s, name);
	if (*slot && (*slot)->kind != GQL_OBJECT)
		return fail(err, (struct gql_loc){1, 1}, "Root type \"%s\" must be an object type.%s",
			    name, NULL);
	if (!*slot && required)
		return fail(err, (struct gql_loc){1, 1}, "Query root type \"%s\" is not defined.%s", name,
			    NULL);
	return 0;
}

int gql_schema_build(const char *sdl, size_t len, struct gql_schema **out, struct gql_error *err)
{
	struct gql_schema *s = calloc(1, sizeof(*s));
	if (!s)
		return fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
	gql_arena_init(&s->arena, 0);
	struct gql_limits lim = {.max_bytes = 0, .max_depth = 64, .max_tokens = 0};
	struct gql_document app, builtins;
	if (gql_parse(&s->arena, sdl, len, &lim, &app, err) != 0 ||
	    gql_parse(&s->arena, builtin_sdl, sizeof(builtin_sdl) - 1, &lim, &builtins, err) != 0)
		goto fail;
	size_t cap = count_defs(&app) + count_defs(&builtins);
	s->types = gql_arena_alloc(&s->arena, cap * sizeof(*s->types));
	s->directives = gql_arena_alloc(&s->arena, cap * sizeof(*s->directives));
	if (!s->types || !s->directives) {
		fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
		goto fail;
	}
	if (collect(s, &builtins, true, cap, err) || collect(s, &app, false, cap, err) ||
	    link_names(s, &app, err) || link_types(s, err))
		goto fail;
	if (root_type(s, &s->query, "Query", true, err) ||
	    root_type(s, &s->mutation, "Mutation", false, err) ||
	    root_type(s, &s->subscription, "Subscription", false, err))
		goto fail;
	/* Definition order: the application's types first, built-ins after. */
	size_t nb = 0;
	struct gql_named_type **ordered = gql_arena_alloc(&s->arena, cap * sizeof(*ordered));
	if (!ordered) {
		fail(err, (struct gql_loc){1, 1}, "out of memory%s%s", "", NULL);
		goto fail;
	}
	for (size_t i = 0; i < s->ntypes; i++)
		if (!s->types[i]->builtin)
			ordered[nb++] = s->types[i];
	for (size_t i = 0; i < s->ntypes; i++)
		if (s->types[i]->builtin && strcmp(s->types[i]->name, "__Meta") != 0)
			ordered[nb++] = s->types[i];
	struct gql_named_type *meta = gql_schema_type(s, "__Meta");
	s->typename_field = meta->fields[0];
	s->schema_field = meta->fields[1];
	s->type_field = meta->fields[2];
	s->types = ordered;
	s->ntypes = nb;
	*out = s;
	return 0;
fail:
	gql_schema_free(s);
	return -1;
}

void gql_schema_free(struct gql_schema *s)
{
	if (!s)
		return;
	gql_arena_free(&s->arena);
	free(s);
}
