/*
 * frontend/graphql/gql_exec.c — execution, input coercion, introspection.
 *
 * Error handling follows the specification: a field error (a resolver
 * error, an argument that does not coerce, a value that does not
 * serialise) is recorded once with its path; the field becomes null, or,
 * when its type is non-null, the failure propagates to the nearest
 * nullable parent (complete_value and execute_field return -1 to say so).
 */
#include "frontend/graphql/gql_exec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUES 200000 /* completed values per response */

struct path {
	const struct path *prev;
	const char *key; /* NULL: index */
	size_t index;
};

struct group {
	const char *key;
	const struct gql_selection *nodes[16];
	size_t n;
};

struct gql_exec {
	struct gql_prepared *p;
	const struct gql_schema *s;
	const struct gql_resolver *res;
	size_t nres;
	void *ctx;
	json_t *errors;
	size_t values;
};

void *gql_exec_ctx(const struct gql_exec *ex)
{
	return ex->ctx;
}

/* ---- errors ---- */

static json_t *path_json(const struct path *p)
{
	json_t *a = json_array();
	const struct path *stack[256];
	size_t n = 0;
	for (; p && n < 256; p = p->prev)
		stack[n++] = p;
	while (a && n--) {
		if (stack[n]->key)
			json_array_append_new(a, json_string(stack[n]->key));
		else
			json_array_append_new(a, json_integer((json_int_t)stack[n]->index));
	}
	return a;
}

static json_t *locs_json(const struct gql_loc *locs, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:i}", "line", (int)locs[i].line, "column",
						   (int)locs[i].column));
	return a;
}

__attribute__((format(printf, 4, 5))) static void field_error(struct gql_exec *ex,
							      const struct gql_selection *node,
							      const struct path *path, const char *fmt,
							      ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s}", "message", msg);
	if (!e)
		return;
	if (node)
		json_object_set_new(e, "locations", locs_json(&node->loc, 1));
	if (path)
		json_object_set_new(e, "path", path_json(path));
	json_array_append_new(ex->errors, e);
}

json_t *gql_error_response(const char *msg)
{
	return json_pack("{s:[{s:s}]}", "errors", "message", msg);
}

static json_t *errors_response_v(const struct gql_verrors *v)
{
	json_t *errs = json_array();
	for (size_t i = 0; errs && i < v->n; i++) {
		json_t *e = json_pack("{s:s}", "message", v->v[i].message);
		if (e && v->v[i].nlocs)
			json_object_set_new(e, "locations", locs_json(v->v[i].locs, v->v[i].nlocs));
		json_array_append_new(errs, e);
	}
	return json_pack("{s:o}", "errors", errs);
}

/* ---- values: literals and variables to JSON ---- */

static bool is_named(const struct gql_named_type *t, const char *name)
{
	return t && strcmp(t->name, name) == 0;
}

static bool integral(double d)
{
	return isfinite(d) && floor(d) == d;
}

/*
 * Coerces a JSON input value (from variables) to type t. Returns a new
 * reference, or NULL with msg set.
 */
static json_t *coerce_json(const struct gql_type_ref *t, json_t *v, char *msg, size_t msglen)
{
	if (t->kind == GQL_T_NON_NULL) {
		if (!v || json_is_null(v)) {
			char ts[200];
			gql_print_type(t, ts, sizeof(ts));
			snprintf(msg, msglen, "Expected non-nullable type \"%s\" not to be null.", ts);
			return NULL;
		}
		return coerce_json(t->of, v, msg, msglen);
	}
	if (!v || json_is_null(v))
		return json_null();
	if (t->kind == GQL_T_LIST) {
		json_t *out = json_array();
		if (!out)
			return NULL;
		if (!json_is_array(v)) {
			json_t *one = coerce_json(t->of, v, msg, msglen);
			if (!one) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, one);
			return out;
		}
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item) {
			json_t *c = coerce_json(t->of, item, msg, msglen);
			if (!c) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, c);
		}
		return out;
	}
	const struct gql_named_type *n = t->resolved;
	char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	const char *vs = dump ? dump : "?";
	json_t *out = NULL;
	switch (n->kind) {
	case GQL_INPUT_OBJECT: {
		if (!json_is_object(v)) {
			snprintf(msg, msglen, "Expected type \"%s\" to be an object.", n->name);
			break;
		}
		out = json_object();
		const char *k;
		json_t *fv;
		json_object_foreach(v, k, fv) {
			bool known = false;
			for (size_t i = 0; i < n->ninput_fields && !known; i++)
				known = strcmp(n->input_fields[i].name, k) == 0;
			if (!known) {
				snprintf(msg, msglen, "Field \"%s\" is not defined by type \"%s\".", k, n->name);
				json_decref(out);
				out = NULL;
				goto done;
			}
		}
		for (size_t i = 0; i < n->ninput_fields; i++) {
			const struct gql_arg_def *fd = &n->input_fields[i];
			json_t *given = json_object_get(v, fd->name);
			if (!given) {
				if (fd->type->kind == GQL_T_NON_NULL && !fd->default_value) {
					char ts[200];
					gql_print_type(fd->type, ts, sizeof(ts));
					snprintf(msg, msglen, "Field \"%s\" of required type \"%s\" was not provided.",
						 fd->name, ts);
					json_decref(out);
					out = NULL;
					goto done;
				}
				continue; /* defaults are applied by the literal path */
			}
			json_t *c = coerce_json(fd->type, given, msg, msglen);
			if (!c) {
				json_decref(out);
				out = NULL;
				goto done;
			}
			json_object_set_new(out, fd->name, c);
		}
		break;
	}
	case GQL_ENUM:
		if (json_is_string(v))
			for (size_t i = 0; i < n->nvalues; i++)
				if (strcmp(n->values[i].name, json_string_value(v)) == 0)
					out = json_incref(v);
		if (!out)
			snprintf(msg, msglen, "Value %s does not exist in \"%s\" enum.", vs, n->name);
		break;
	default:
		if (is_named(n, "Int")) {
			if (json_is_integer(v) && json_integer_value(v) >= -2147483648LL &&
			    json_integer_value(v) <= 2147483647LL)
				out = json_incref(v);
			else if (json_is_real(v) && integral(json_real_value(v)) &&
				 fabs(json_real_value(v)) <= 2147483647.0)
				out = json_integer((json_int_t)json_real_value(v));
			else
				snprintf(msg, msglen, json_is_number(v)
							      ? "Int cannot represent non 32-bit signed integer value: %s"
							      : "Int cannot represent non-integer value: %s",
					 vs);
		} else if (is_named(n, "Float")) {
			if (json_is_number(v))
				out = json_real(json_number_value(v));
			else
				snprintf(msg, msglen, "Float cannot represent non numeric value: %s", vs);
		} else if (is_named(n, "String")) {
			if (json_is_string(v))
				out = json_incref(v);
			else
				snprintf(msg, msglen, "String cannot represent a non string value: %s", vs);
		} else if (is_named(n, "Boolean")) {
			if (json_is_boolean(v))
				out = json_incref(v);
			else
				snprintf(msg, msglen, "Boolean cannot represent a non boolean value: %s", vs);
		} else if (is_named(n, "ID")) {
			if (json_is_string(v))
				out = json_incref(v);
			else if (json_is_integer(v))
				out = json_sprintf("%lld", (long long)json_integer_value(v));
			else
				snprintf(msg, msglen, "ID cannot represent value: %s", vs);
		} else if (is_named(n, "BigInt")) {
			/* a JSON integer, or a string of decimal digits */
			if (json_is_integer(v)) {
				out = json_incref(v);
			} else if (json_is_string(v)) {
				const char *s = json_string_value(v);
				char *end;
				errno = 0;
				long long x = strtoll(s, &end, 10);
				if (*s && *end == '\0' && errno == 0)
					out = json_integer(x);
			}
			if (!out)
				snprintf(msg, msglen,
					 "BigInt cannot represent %s: expected an integer or a string of decimal digits",
					 vs);
		} else {
			out = json_incref(v); /* DateTime and other custom scalars: as given */
		}
	}
done:
	free(dump);
	return out;
}

/*
 * The JSON form of any literal, for the JSON scalar (graphql-js's
 * valueFromASTUntyped): objects and lists as themselves, variables by
 * their value (null when not provided). A new reference, NULL on ENOMEM.
 */
static json_t *literal_untyped(const struct gql_value *v, json_t *vars)
{
	switch (v->kind) {
	case GQL_V_VARIABLE: {
		json_t *x = json_object_get(vars, v->text);
		return x ? json_incref(x) : json_null();
	}
	case GQL_V_INT: {
		char *end;
		errno = 0;
		long long x = strtoll(v->text, &end, 10);
		return errno == 0 ? json_integer(x) : json_real(strtod(v->text, NULL));
	}
	case GQL_V_FLOAT: return json_real(strtod(v->text, NULL));
	case GQL_V_STRING:
	case GQL_V_ENUM: return json_string(v->text);
	case GQL_V_BOOLEAN: return json_boolean(v->boolean);
	case GQL_V_LIST: {
		json_t *out = json_array();
		for (const struct gql_value *i = v->items; out && i; i = i->next) {
			json_t *c = literal_untyped(i, vars);
			if (!c || json_array_append_new(out, c) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	case GQL_V_OBJECT: {
		json_t *out = json_object();
		for (const struct gql_object_field *f = v->fields; out && f; f = f->next) {
			json_t *c = literal_untyped(f->value, vars);
			if (!c || json_object_set_new(out, f->name, c) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	default: return json_null();
	}
}

/*
 * Coerces a literal to type t, with variables. Returns a new reference,
 * NULL with msg set on error; *absent is set when the literal is a variable
 * that was not provided (the caller applies its default).
 */
static json_t *coerce_literal(const struct gql_type_ref *t, const struct gql_value *v,
			      json_t *vars, bool *absent, char *msg, size_t msglen)
{
	if (absent)
		*absent = false;
	if (v->kind == GQL_V_VARIABLE) {
		json_t *x = json_object_get(vars, v->text);
		if (!x) {
			if (absent)
				*absent = true;
			return json_null();
		}
		if (t->kind == GQL_T_NON_NULL && json_is_null(x)) {
			snprintf(msg, msglen, "Variable \"$%s\" is null where a non-null value is required.",
				 v->text);
			return NULL;
		}
		return json_incref(x);
	}
	if (t->kind == GQL_T_NON_NULL) {
		if (v->kind == GQL_V_NULL) {
			snprintf(msg, msglen, "Expected a non-null value.");
			return NULL;
		}
		return coerce_literal(t->of, v, vars, NULL, msg, msglen);
	}
	if (v->kind == GQL_V_NULL)
		return json_null();
	if (t->kind == GQL_T_LIST) {
		json_t *out = json_array();
		if (!out)
			return NULL;
		if (v->kind != GQL_V_LIST) {
			json_t *one = coerce_literal(t->of, v, vars, NULL, msg, msglen);
			if (!one) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, one);
			return out;
		}
		for (const struct gql_value *i = v->items; i; i = i->next) {
			bool miss = false;
			json_t *c = coerce_literal(t->of, i, vars, &miss, msg, msglen);
			if (!c) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, c);
		}
		return out;
	}
	const struct gql_named_type *n = t->resolved;
	if (n->kind == GQL_INPUT_OBJECT) {
		if (v->kind != GQL_V_OBJECT) {
			snprintf(msg, msglen, "Expected an input object of type \"%s\".", n->name);
			return NULL;
		}
		json_t *out = json_object();
		for (size_t i = 0; out && i < n->ninput_fields; i++) {
			const struct gql_arg_def *fd = &n->input_fields[i];
			const struct gql_object_field *of = v->fields;
			while (of && strcmp(of->name, fd->name) != 0)
				of = of->next;
			bool miss = !of;
			json_t *c = NULL;
			if (of) {
				c = coerce_literal(fd->type, of->value, vars, &miss, msg, msglen);
				if (!c) {
					json_decref(out);
					return NULL;
				}
				if (miss) {
					json_decref(c);
					c = NULL;
				}
			}
			if (miss && fd->default_value)
				c = coerce_literal(fd->type, fd->default_value, vars, NULL, msg, msglen);
			else if (miss && fd->type->kind == GQL_T_NON_NULL) {
				snprintf(msg, msglen, "Field \"%s.%s\" was not provided.", n->name, fd->name);
				json_decref(out);
				return NULL;
			}
			if (c)
				json_object_set_new(out, fd->name, c);
		}
		return out;
	}
	if (n->kind == GQL_SCALAR && is_named(n, "JSON")) {
		json_t *j = literal_untyped(v, vars);
		if (!j)
			snprintf(msg, msglen, "out of memory");
		return j;
	}
	/* leaves: build the JSON form of the literal, then coerce it */
	json_t *raw = NULL;
	switch (v->kind) {
	case GQL_V_INT: {
		char *end;
		errno = 0;
		long long x = strtoll(v->text, &end, 10);
		raw = errno == 0 ? json_integer(x) : json_real(strtod(v->text, NULL));
		break;
	}
	case GQL_V_FLOAT: raw = json_real(strtod(v->text, NULL)); break;
	case GQL_V_STRING: raw = json_string(v->text); break;
	case GQL_V_BOOLEAN: raw = json_boolean(v->boolean); break;
	case GQL_V_ENUM: raw = json_string(v->text); break;
	default: break;
	}
	if (!raw) {
		snprintf(msg, msglen, "Expected a value of type \"%s\".", n->name);
		return NULL;
	}
	if (n->kind == GQL_ENUM && v->kind != GQL_V_ENUM) {
		json_decref(raw);
		snprintf(msg, msglen, "Enum \"%s\" cannot represent a non-enum value.", n->name);
		return NULL;
	}
	if (n->kind == GQL_SCALAR && v->kind == GQL_V_ENUM && !is_named(n, "DateTime")) {
		json_decref(raw);
		snprintf(msg, msglen, "%s cannot represent an enum value: %s", n->name, v->text);
		return NULL;
	}
	if (is_named(n, "Float") && v->kind == GQL_V_INT) {
		json_t *r = json_real(json_number_value(raw));
		json_decref(raw);
		raw = r;
	}
	json_t *out = coerce_json(t, raw, msg, msglen);
	json_decref(raw);
	return out;
}

/* Coerced arguments of a field or directive: a new object, or NULL + msg. */
static json_t *argument_values(const struct gql_arg_def *defs, size_t ndefs,
			       const struct gql_argument *args, json_t *vars, char *msg, size_t msglen)
{
	json_t *out = json_object();
	for (size_t i = 0; out && i < ndefs; i++) {
		const struct gql_arg_def *ad = &defs[i];
		const struct gql_argument *a = args;
		while (a && strcmp(a->name, ad->name) != 0)
			a = a->next;
		bool miss = !a;
		json_t *c = NULL;
		char inner[512] = "";
		if (a) {
			c = coerce_literal(ad->type, a->value, vars, &miss, inner, sizeof(inner));
			if (!c) {
				snprintf(msg, msglen, "Argument \"%s\" has invalid value: %s", ad->name, inner);
				json_decref(out);
				return NULL;
			}
			if (miss) {
				json_decref(c);
				c = NULL;
			}
		}
		if (miss && ad->default_value) {
			c = coerce_literal(ad->type, ad->default_value, vars, NULL, inner, sizeof(inner));
			if (!c) {
				snprintf(msg, msglen, "Argument \"%s\" has an invalid default: %s", ad->name,
					 inner);
				json_decref(out);
				return NULL;
			}
		} else if (miss && ad->type->kind == GQL_T_NON_NULL) {
			char ts[200];
			gql_print_type(ad->type, ts, sizeof(ts));
			if (a)
				snprintf(msg, msglen,
					 "Argument \"%s\" of required type \"%s\" was provided the variable \"$%s\" which was not provided a runtime value.",
					 ad->name, ts, a->value->text);
			else
				snprintf(msg, msglen, "Argument \"%s\" of required type \"%s\" was not provided.",
					 ad->name, ts);
			json_decref(out);
			return NULL;
		}
		if (c)
			json_object_set_new(out, ad->name, c);
	}
	if (!out)
		snprintf(msg, msglen, "out of memory");
	return out;
}

/* ---- preparing ---- */

static json_t *coerce_variables(const struct gql_schema *s, struct gql_definition *op,
				json_t *given, char *msg, size_t msglen)
{
	json_t *out = json_object();
	for (struct gql_variable_def *vd = op->variables; out && vd; vd = vd->next) {
		gql_resolve_type(s, vd->type, NULL);
		json_t *v = given ? json_object_get(given, vd->name) : NULL;
		char ts[200], inner[512] = "";
		gql_print_type(vd->type, ts, sizeof(ts));
		if (!v) {
			if (vd->default_value) {
				json_t *c = coerce_literal(vd->type, vd->default_value, out, NULL, inner,
							   sizeof(inner));
				if (!c) {
					snprintf(msg, msglen, "Variable \"$%s\" has an invalid default value: %s",
						 vd->name, inner);
					goto fail;
				}
				json_object_set_new(out, vd->name, c);
			} else if (vd->type->kind == GQL_T_NON_NULL) {
				snprintf(msg, msglen, "Variable \"$%s\" of required type \"%s\" was not provided.",
					 vd->name, ts);
				goto fail;
			}
			continue;
		}
		if (json_is_null(v) && vd->type->kind == GQL_T_NON_NULL) {
			snprintf(msg, msglen, "Variable \"$%s\" of non-null type \"%s\" must not be null.",
				 vd->name, ts);
			goto fail;
		}
		json_t *c = coerce_json(vd->type, v, inner, sizeof(inner));
		if (!c) {
			char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			snprintf(msg, msglen, "Variable \"$%s\" got invalid value %.200s; %s", vd->name,
				 dump ? dump : "?", inner);
			free(dump);
			goto fail;
		}
		json_object_set_new(out, vd->name, c);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

int gql_prepare(const struct gql_schema *schema, const char *query, size_t len,
		json_t *variables, const char *operation_name, struct gql_prepared *p,
		json_t **response)
{
	memset(p, 0, sizeof(*p));
	p->schema = schema;
	gql_arena_init(&p->arena, 64u << 20);
	struct gql_error perr;
	if (gql_parse(&p->arena, query, len, &gql_default_limits, &p->doc, &perr) != 0) {
		json_t *r = gql_error_response(perr.message);
		json_t *e = r ? json_array_get(json_object_get(r, "errors"), 0) : NULL;
		if (e)
			json_object_set_new(e, "locations", locs_json(&perr.loc, 1));
		*response = r;
		goto fail;
	}
	struct gql_verrors ve = {0};
	if (gql_validate(schema, &p->doc, NULL, &ve) != 0) {
		*response = errors_response_v(&ve);
		gql_verrors_clear(&ve);
		goto fail;
	}
	gql_verrors_clear(&ve);
	size_t nops = 0;
	for (struct gql_definition *d = p->doc.definitions; d; d = d->next) {
		if (d->kind != GQL_DEF_OPERATION)
			continue;
		nops++;
		if (operation_name && operation_name[0]) {
			if (d->name && strcmp(d->name, operation_name) == 0)
				p->op = d;
		} else if (!p->op) {
			p->op = d;
		}
	}
	if (!p->op || (nops > 1 && !(operation_name && operation_name[0]))) {
		char msg[400];
		if (operation_name && operation_name[0])
			snprintf(msg, sizeof(msg), "Unknown operation named \"%.300s\".", operation_name);
		else if (nops > 1)
			snprintf(msg, sizeof(msg), "Must provide operation name if query contains multiple operations.");
		else
			snprintf(msg, sizeof(msg), "Must provide an operation.");
		*response = gql_error_response(msg);
		goto fail;
	}
	p->operation = p->op->operation;
	if (variables && !json_is_object(variables)) {
		*response = gql_error_response("\"variables\" must be an object.");
		goto fail;
	}
	char msg[1024];
	p->variables = coerce_variables(schema, p->op, variables, msg, sizeof(msg));
	if (!p->variables) {
		json_t *r = gql_error_response(msg);
		json_t *e = r ? json_array_get(json_object_get(r, "errors"), 0) : NULL;
		if (e)
			json_object_set_new(e, "locations", locs_json(&p->op->loc, 1));
		*response = r;
		goto fail;
	}
	return 0;
fail:
	gql_prepared_clear(p);
	return -1;
}

void gql_prepared_clear(struct gql_prepared *p)
{
	json_decref(p->variables);
	p->variables = NULL;
	gql_arena_free(&p->arena);
	p->op = NULL;
}

/* ---- field collection ---- */

static bool include_node(struct gql_exec *ex, const struct gql_directive *dirs)
{
	for (const struct gql_directive *d = dirs; d; d = d->next) {
		bool skip = strcmp(d->name, "skip") == 0;
		if (!skip && strcmp(d->name, "include") != 0)
			continue;
		const struct gql_directive_def *dd = gql_schema_directive(ex->s, d->name);
		char msg[256];
		json_t *args = argument_values(dd->args, dd->nargs, d->args, ex->p->variables, msg,
					       sizeof(msg));
		bool cond = args && json_is_true(json_object_get(args, "if"));
		json_decref(args);
		if (skip ? cond : !cond)
			return false;
	}
	return true;
}

static bool fragment_applies(struct gql_exec *ex, const char *cond, const struct gql_named_type *t)
{
	if (!cond)
		return true;
	const struct gql_named_type *c = gql_schema_type(ex->s, cond);
	return c && gql_is_possible(ex->s, c, t);
}

static struct gql_definition *fragment(struct gql_exec *ex, const char *name)
{
	for (struct gql_definition *d = ex->p->doc.definitions; d; d = d->next)
		if (d->kind == GQL_DEF_FRAGMENT && strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

struct groups {
	struct group *g;
	size_t n, cap;
};

static int collect(struct gql_exec *ex, const struct gql_named_type *t,
		   const struct gql_selection *sels, struct groups *out, const char **visited,
		   size_t *nvisited)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (!include_node(ex, s->directives))
			continue;
		if (s->kind == GQL_SEL_FIELD) {
			const char *key = s->alias ? s->alias : s->name;
			size_t i;
			for (i = 0; i < out->n; i++)
				if (strcmp(out->g[i].key, key) == 0)
					break;
			if (i == out->n) {
				if (out->n == out->cap) {
					size_t cap = out->cap ? out->cap * 2 : 16;
					struct group *g = gql_arena_alloc(&ex->p->arena, cap * sizeof(*g));
					if (!g)
						return -1;
					if (out->n)
						memcpy(g, out->g, out->n * sizeof(*g));
					out->g = g;
					out->cap = cap;
				}
				out->g[out->n].key = key;
				out->g[out->n].n = 0;
				out->n++;
			}
			if (out->g[i].n < 16)
				out->g[i].nodes[out->g[i].n++] = s;
		} else if (s->kind == GQL_SEL_INLINE) {
			if (fragment_applies(ex, s->type_condition, t) &&
			    collect(ex, t, s->selections, out, visited, nvisited) != 0)
				return -1;
		} else {
			bool seen = false;
			for (size_t i = 0; i < *nvisited && !seen; i++)
				seen = strcmp(visited[i], s->name) == 0;
			if (seen || *nvisited >= 256)
				continue;
			visited[(*nvisited)++] = s->name;
			struct gql_definition *f = fragment(ex, s->name);
			if (f && fragment_applies(ex, f->type_condition, t) &&
			    collect(ex, t, f->selections, out, visited, nvisited) != 0)
				return -1;
		}
	}
	return 0;
}

/* ---- introspection ---- */

static const char *kind_name(enum gql_kind k)
{
	static const char *const n[] = {"SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM", "INPUT_OBJECT"};
	return n[k];
}

static json_t *type_ref_json(const struct gql_type_ref *t)
{
	if (t->kind == GQL_T_NAMED)
		return json_pack("{s:s, s:s}", "kind", kind_name(t->resolved->kind), "name", t->name);
	return json_pack("{s:s, s:n, s:o}", "kind", t->kind == GQL_T_LIST ? "LIST" : "NON_NULL", "name",
			 "ofType", type_ref_json(t->of));
}

static json_t *named_json(const struct gql_named_type *t)
{
	return json_pack("{s:s, s:s}", "kind", kind_name(t->kind), "name", t->name);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *input_values_json(const struct gql_arg_def *a, size_t n, bool include_deprecated)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		if (a[i].deprecated && !include_deprecated)
			continue;
		json_t *dv = json_null();
		if (a[i].default_value) {
			char buf[1024];
			gql_print_value(a[i].default_value, buf, sizeof(buf));
			dv = json_string(buf);
		}
		json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o, s:b, s:o}", "name", a[i].name,
						     "description", str_or_null(a[i].description),
						     "type", type_ref_json(a[i].type), "defaultValue", dv,
						     "isDeprecated", a[i].deprecated, "deprecationReason",
						     str_or_null(a[i].deprecation_reason)));
	}
	return arr;
}

static json_t *directive_json(const struct gql_directive_def *d)
{
	json_t *locs = json_array();
	for (int l = 0; locs && l < GQL_LOC_COUNT; l++)
		if (d->locations & (1u << l))
			json_array_append_new(locs, json_string(gql_dir_location_name((enum gql_dir_location)l)));
	return json_pack("{s:s, s:o, s:b, s:o, s:o}", "name", d->name, "description",
			 str_or_null(d->description), "isRepeatable", d->repeatable, "locations", locs,
			 "args", input_values_json(d->args, d->nargs, true));
}

static int resolve_schema(struct gql_exec *ex, const struct gql_field *f, json_t *source,
			  json_t *args, const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)source;
	(void)data;
	(void)msg;
	(void)msglen;
	const struct gql_schema *s = ex->s;
	if (strcmp(f->name, "__schema") == 0) {
		*out = json_pack("{s:b}", "__schema", 1);
	} else if (strcmp(f->name, "__type") == 0) {
		const struct gql_named_type *t = gql_schema_type(s, json_string_value(json_object_get(args, "name")) ?: "");
		*out = t ? named_json(t) : json_null();
	} else if (strcmp(f->name, "description") == 0) {
		*out = str_or_null(s->description);
	} else if (strcmp(f->name, "types") == 0) {
		*out = json_array();
		for (size_t i = 0; *out && i < s->ntypes; i++)
			json_array_append_new(*out, named_json(s->types[i]));
	} else if (strcmp(f->name, "queryType") == 0) {
		*out = named_json(s->query);
	} else if (strcmp(f->name, "mutationType") == 0) {
		*out = s->mutation ? named_json(s->mutation) : json_null();
	} else if (strcmp(f->name, "subscriptionType") == 0) {
		*out = s->subscription ? named_json(s->subscription) : json_null();
	} else if (strcmp(f->name, "directives") == 0) {
		*out = json_array();
		for (size_t i = 0; *out && i < s->ndirectives; i++)
			json_array_append_new(*out, directive_json(s->directives[i]));
	}
	return 0;
}

static int resolve_type(struct gql_exec *ex, const struct gql_field *f, json_t *source,
			json_t *args, const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)data;
	(void)msg;
	(void)msglen;
	const char *name = json_string_value(json_object_get(source, "name"));
	const struct gql_named_type *t = name ? gql_schema_type(ex->s, name) : NULL;
	bool inc = json_is_true(json_object_get(args, "includeDeprecated"));
	*out = json_null();
	if (!t)
		return 0; /* LIST / NON_NULL wrappers: null for everything here */
	if (strcmp(f->name, "description") == 0) {
		*out = str_or_null(t->description);
	} else if (strcmp(f->name, "specifiedByURL") == 0) {
		*out = str_or_null(t->specified_by);
	} else if (strcmp(f->name, "isOneOf") == 0) {
		*out = t->kind == GQL_INPUT_OBJECT ? json_false() : json_null();
	} else if (strcmp(f->name, "fields") == 0) {
		if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
			return 0;
		*out = json_array();
		for (size_t i = 0; *out && i < t->nfields; i++) {
			const struct gql_field *x = &t->fields[i];
			if (x->deprecated && !inc)
				continue;
			json_array_append_new(*out, json_pack("{s:s, s:o, s:o, s:o, s:b, s:o}", "name", x->name,
							      "description", str_or_null(x->description),
							      "args", input_values_json(x->args, x->nargs, true),
							      "type", type_ref_json(x->type), "isDeprecated",
							      x->deprecated, "deprecationReason",
							      str_or_null(x->deprecation_reason)));
		}
	} else if (strcmp(f->name, "interfaces") == 0) {
		if (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE)
			return 0;
		*out = json_array();
		for (size_t i = 0; *out && i < t->ninterfaces; i++)
			json_array_append_new(*out, named_json(t->interfaces[i]));
	} else if (strcmp(f->name, "possibleTypes") == 0) {
		if (t->kind == GQL_UNION) {
			*out = json_array();
			for (size_t i = 0; *out && i < t->nmembers; i++)
				json_array_append_new(*out, named_json(t->members[i]));
		} else if (t->kind == GQL_INTERFACE) {
			*out = json_array();
			for (size_t i = 0; *out && i < ex->s->ntypes; i++)
				if (ex->s->types[i]->kind == GQL_OBJECT &&
				    gql_is_possible(ex->s, t, ex->s->types[i]))
					json_array_append_new(*out, named_json(ex->s->types[i]));
		}
	} else if (strcmp(f->name, "enumValues") == 0) {
		if (t->kind != GQL_ENUM)
			return 0;
		*out = json_array();
		for (size_t i = 0; *out && i < t->nvalues; i++) {
			const struct gql_enum_value *v = &t->values[i];
			if (v->deprecated && !inc)
				continue;
			json_array_append_new(*out, json_pack("{s:s, s:o, s:b, s:o}", "name", v->name,
							      "description", str_or_null(v->description),
							      "isDeprecated", v->deprecated, "deprecationReason",
							      str_or_null(v->deprecation_reason)));
		}
	} else if (strcmp(f->name, "inputFields") == 0) {
		if (t->kind != GQL_INPUT_OBJECT)
			return 0;
		*out = input_values_json(t->input_fields, t->ninput_fields, inc);
	}
	return 0;
}

static const struct gql_resolver builtin_resolvers[] = {
	{"__Schema", "description", resolve_schema, NULL},
	{"__Schema", "types", resolve_schema, NULL},
	{"__Schema", "queryType", resolve_schema, NULL},
	{"__Schema", "mutationType", resolve_schema, NULL},
	{"__Schema", "subscriptionType", resolve_schema, NULL},
	{"__Schema", "directives", resolve_schema, NULL},
	{"__Type", "description", resolve_type, NULL},
	{"__Type", "specifiedByURL", resolve_type, NULL},
	{"__Type", "fields", resolve_type, NULL},
	{"__Type", "interfaces", resolve_type, NULL},
	{"__Type", "possibleTypes", resolve_type, NULL},
	{"__Type", "enumValues", resolve_type, NULL},
	{"__Type", "inputFields", resolve_type, NULL},
	{"__Type", "isOneOf", resolve_type, NULL},
};

/* ---- completing values ---- */

static json_t *execute_selection_set(struct gql_exec *ex, const struct gql_named_type *t,
				     const struct gql_selection *const *nodes, size_t nnodes,
				     json_t *source, const struct path *path, bool *failed);

static void rfc3339(int64_t secs, long usec, char *buf, size_t n)
{
	time_t tt = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, n, "1970-01-01T00:00:00Z");
		return;
	}
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (usec)
		snprintf(buf + k, n - k, ".%06ldZ", usec);
	else
		snprintf(buf + k, n - k, "Z");
}

/* Serialises a leaf value; NULL with msg set when it cannot. */
static json_t *serialize_leaf(const struct gql_named_type *t, json_t *v, char *msg, size_t msglen)
{
	char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	const char *vs = dump ? dump : "?";
	json_t *out = NULL;
	const char *n = t->name;
	if (t->kind == GQL_ENUM) {
		if (json_is_string(v))
			for (size_t i = 0; i < t->nvalues && !out; i++)
				if (strcmp(t->values[i].name, json_string_value(v)) == 0)
					out = json_incref(v);
		if (!out)
			snprintf(msg, msglen, "Enum \"%s\" cannot represent value: %s", n, vs);
	} else if (strcmp(n, "Int") == 0) {
		double d = json_is_number(v) ? json_number_value(v) : json_is_boolean(v) ? json_is_true(v) : NAN;
		if (json_is_integer(v) && json_integer_value(v) >= -2147483648LL &&
		    json_integer_value(v) <= 2147483647LL)
			out = json_incref(v);
		else if (!json_is_integer(v) && integral(d) && fabs(d) <= 2147483647.0)
			out = json_integer((json_int_t)d);
		else
			snprintf(msg, msglen,
				 json_is_number(v) && integral(d) ? "Int cannot represent non 32-bit signed integer value: %s"
								  : "Int cannot represent non-integer value: %s",
				 vs);
	} else if (strcmp(n, "Float") == 0) {
		if (json_is_number(v) && isfinite(json_number_value(v)))
			out = json_real(json_number_value(v));
		else if (json_is_boolean(v))
			out = json_real(json_is_true(v) ? 1 : 0);
		else
			snprintf(msg, msglen, "Float cannot represent non numeric value: %s", vs);
	} else if (strcmp(n, "String") == 0 || strcmp(n, "ID") == 0) {
		if (json_is_string(v))
			out = json_incref(v);
		else if (json_is_integer(v))
			out = json_sprintf("%lld", (long long)json_integer_value(v));
		else if (json_is_boolean(v) && n[0] == 'S')
			out = json_string(json_is_true(v) ? "true" : "false");
		else if (json_is_real(v) && n[0] == 'S')
			out = json_string(vs);
		else
			snprintf(msg, msglen, "%s cannot represent value: %s", n, vs);
	} else if (strcmp(n, "Boolean") == 0) {
		if (json_is_boolean(v))
			out = json_incref(v);
		else if (json_is_number(v))
			out = json_boolean(json_number_value(v) != 0);
		else
			snprintf(msg, msglen, "Boolean cannot represent a non boolean value: %s", vs);
	} else if (strcmp(n, "BigInt") == 0) {
		if (json_is_integer(v))
			out = json_sprintf("%lld", (long long)json_integer_value(v));
		else if (json_is_real(v) && integral(json_real_value(v)))
			out = json_sprintf("%.0f", json_real_value(v));
		else if (json_is_string(v))
			out = json_incref(v);
		else
			snprintf(msg, msglen, "BigInt cannot represent value: %s", vs);
	} else if (strcmp(n, "DateTime") == 0) {
		/* strings pass; integers are seconds since the epoch */
		if (json_is_string(v)) {
			out = json_incref(v);
		} else if (json_is_integer(v)) {
			char buf[64];
			rfc3339((int64_t)json_integer_value(v), 0, buf, sizeof(buf));
			out = json_string(buf);
		} else {
			snprintf(msg, msglen, "DateTime cannot represent value: %s", vs);
		}
	} else {
		out = json_incref(v);
	}
	free(dump);
	return out;
}

static int complete_value(struct gql_exec *ex, const struct gql_named_type *parent,
			  const struct gql_type_ref *type, const struct group *g, json_t *value,
			  const struct path *path, json_t **out);

/* Completes one list item or field under its type's nullability. */
static int complete_nullable(struct gql_exec *ex, const struct gql_named_type *parent,
			     const struct gql_type_ref *type, const struct group *g, json_t *value,
			     const struct path *path, json_t **out)
{
	int r = complete_value(ex, parent, type, g, value, path, out);
	if (r != 0) {
		if (type->kind == GQL_T_NON_NULL)
			return -1;
		*out = json_null();
	}
	return 0;
}

static int complete_value(struct gql_exec *ex, const struct gql_named_type *parent,
			  const struct gql_type_ref *type, const struct group *g, json_t *value,
			  const struct path *path, json_t **out)
{
	*out = NULL;
	if (++ex->values > MAX_VALUES) {
		if (ex->values == MAX_VALUES + 1)
			field_error(ex, g->nodes[0], path, "Response too large: over %d values.", MAX_VALUES);
		return -1;
	}
	if (type->kind == GQL_T_NON_NULL) {
		if (complete_value(ex, parent, type->of, g, value, path, out) != 0)
			return -1;
		if (json_is_null(*out)) {
			json_decref(*out);
			*out = NULL;
			field_error(ex, g->nodes[0], path, "Cannot return null for non-nullable field %s.%s.",
				    parent->name, g->nodes[0]->name);
			return -1;
		}
		return 0;
	}
	if (!value || json_is_null(value)) {
		*out = json_null();
		return 0;
	}
	if (type->kind == GQL_T_LIST) {
		if (!json_is_array(value)) {
			field_error(ex, g->nodes[0], path,
				    "Expected Iterable, but did not find one for field \"%s.%s\".",
				    parent->name, g->nodes[0]->name);
			return -1;
		}
		json_t *arr = json_array();
		size_t i;
		json_t *item;
		json_array_foreach(value, i, item) {
			struct path p = {path, NULL, i};
			json_t *c;
			if (complete_nullable(ex, parent, type->of, g, item, &p, &c) != 0) {
				json_decref(arr);
				return -1;
			}
			json_array_append_new(arr, c);
		}
		*out = arr;
		return 0;
	}
	const struct gql_named_type *t = type->resolved;
	if (gql_is_leaf(t)) {
		char msg[512];
		*out = serialize_leaf(t, value, msg, sizeof(msg));
		if (!*out) {
			field_error(ex, g->nodes[0], path, "%s", msg);
			return -1;
		}
		return 0;
	}
	/* object: merge the sub-selections of every node of the group */
	const struct gql_selection *subs[16];
	size_t ns = 0;
	for (size_t i = 0; i < g->n; i++)
		subs[ns++] = g->nodes[i]->selections;
	bool failed = false;
	*out = execute_selection_set(ex, t, subs, ns, value, path, &failed);
	return failed ? -1 : 0;
}

static const struct gql_resolver *find_resolver(struct gql_exec *ex, const char *type,
						const char *field)
{
	for (size_t i = 0; i < ex->nres; i++)
		if (strcmp(ex->res[i].type, type) == 0 && strcmp(ex->res[i].field, field) == 0)
			return &ex->res[i];
	for (size_t i = 0; i < sizeof(builtin_resolvers) / sizeof(builtin_resolvers[0]); i++)
		if (strcmp(builtin_resolvers[i].type, type) == 0 &&
		    strcmp(builtin_resolvers[i].field, field) == 0)
			return &builtin_resolvers[i];
	return NULL;
}

/* Executes one field; *out set (null on a handled error); -1 propagates. */
static int execute_field(struct gql_exec *ex, const struct gql_named_type *t, json_t *source,
			 const struct group *g, const struct path *path, json_t **out)
{
	const struct gql_selection *node = g->nodes[0];
	const struct gql_field *fd = gql_type_field(ex->s, t, node->name);
	*out = NULL;
	if (!fd) /* validated away; be safe */
		return 0;
	if (fd == &ex->s->typename_field) {
		*out = json_string(t->name);
		return 0;
	}
	char msg[1024] = "";
	json_t *args = argument_values(fd->args, fd->nargs, node->args, ex->p->variables, msg,
				       sizeof(msg));
	json_t *value = NULL;
	int rv = 0;
	if (!args) {
		field_error(ex, node, path, "%s", msg);
		rv = -1;
	} else if (fd == &ex->s->schema_field || fd == &ex->s->type_field) {
		rv = resolve_schema(ex, fd, source, args, NULL, &value, msg, sizeof(msg));
	} else {
		const struct gql_resolver *r = find_resolver(ex, t->name, fd->name);
		if (r) {
			rv = r->fn(ex, fd, source, args, r->data, &value, msg, sizeof(msg));
			if (rv != 0)
				field_error(ex, node, path, "%s", msg[0] ? msg : "resolver failed");
		} else if (json_is_object(source)) {
			value = json_object_get(source, fd->name);
			if (!value && fd->source_key)
				value = json_object_get(source, fd->source_key);
			json_incref(value);
		}
	}
	json_decref(args);
	if (rv != 0) {
		json_decref(value);
		if (fd->type->kind == GQL_T_NON_NULL)
			return -1;
		*out = json_null();
		return 0;
	}
	rv = complete_nullable(ex, t, fd->type, g, value, path, out);
	json_decref(value);
	return rv;
}

static json_t *execute_selection_set(struct gql_exec *ex, const struct gql_named_type *t,
				     const struct gql_selection *const *nodes, size_t nnodes,
				     json_t *source, const struct path *path, bool *failed)
{
	struct groups gs = {0};
	const char *visited[256];
	size_t nvisited = 0;
	*failed = false;
	for (size_t i = 0; i < nnodes; i++)
		if (collect(ex, t, nodes[i], &gs, visited, &nvisited) != 0) {
			field_error(ex, NULL, path, "out of memory");
			*failed = true;
			return NULL;
		}
	json_t *obj = json_object();
	for (size_t i = 0; obj && i < gs.n; i++) {
		struct path p = {path, gs.g[i].key, 0};
		json_t *v;
		if (execute_field(ex, t, source, &gs.g[i], &p, &v) != 0) {
			json_decref(obj);
			*failed = true;
			return NULL;
		}
		json_object_set_new(obj, gs.g[i].key, v ? v : json_null());
	}
	if (!obj)
		*failed = true;
	return obj;
}

json_t *gql_execute(struct gql_prepared *p, const struct gql_resolver *resolvers,
		    size_t nresolvers, json_t *root, void *ctx)
{
	struct gql_exec ex = {
		.p = p, .s = p->schema, .res = resolvers, .nres = nresolvers, .ctx = ctx,
		.errors = json_array(),
	};
	const struct gql_named_type *t = p->operation == GQL_OP_QUERY      ? p->schema->query
					 : p->operation == GQL_OP_MUTATION ? p->schema->mutation
									   : p->schema->subscription;
	if (!t) {
		json_decref(ex.errors);
		return gql_error_response("Schema is not configured for this operation type.");
	}
	json_t *src = root ? json_incref(root) : json_object();
	bool failed = false;
	const struct gql_selection *sels[1] = {p->op->selections};
	json_t *data = execute_selection_set(&ex, t, sels, 1, src, NULL, &failed);
	json_decref(src);
	json_t *resp = json_object();
	if (resp && json_array_size(ex.errors))
		json_object_set(resp, "errors", ex.errors);
	if (resp)
		json_object_set_new(resp, "data", data ? data : json_null());
	else
		json_decref(data);
	json_decref(ex.errors);
	return resp;
}

int gql_subscription_field(struct gql_prepared *p, const char **field_name, json_t **args,
			   json_t **response)
{
	struct gql_exec ex = {.p = p, .s = p->schema};
	struct groups gs = {0};
	const char *visited[256];
	size_t nvisited = 0;
	if (!p->schema->subscription ||
	    collect(&ex, p->schema->subscription, p->op->selections, &gs, visited, &nvisited) != 0 ||
	    gs.n != 1) {
		*response = gql_error_response("A subscription selects exactly one root field.");
		return -1;
	}
	const struct gql_selection *node = gs.g[0].nodes[0];
	const struct gql_field *fd = gql_type_field(p->schema, p->schema->subscription, node->name);
	char msg[1024];
	json_t *a = fd ? argument_values(fd->args, fd->nargs, node->args, p->variables, msg,
					 sizeof(msg))
		       : NULL;
	if (!a) {
		json_t *r = gql_error_response(fd ? msg : "unknown subscription field");
		json_t *e = r ? json_array_get(json_object_get(r, "errors"), 0) : NULL;
		if (e)
			json_object_set_new(e, "locations", locs_json(&node->loc, 1));
		*response = r;
		return -1;
	}
	*field_name = node->name;
	*args = a;
	return 0;
}
