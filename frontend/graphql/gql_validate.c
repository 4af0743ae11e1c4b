/*
 * frontend/graphql/gql_validate.c — the validation rules (see the header).
 *
 * One walk over each operation and fragment with the type information
 * graphql-js's TypeInfo keeps (parent type, field, expected input type)
 * checks the per-node rules and records, per definition, the fragments it
 * spreads and the variables it uses with the type expected where they are
 * used. The document-wide rules (unused fragments, cycles, variables
 * through fragments) are then computed from those records. Fragment cycles
 * are tolerated everywhere (visited sets), since they are reported, not
 * assumed absent.
 */
#include "frontend/graphql/gql_validate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct gql_exec_limits gql_default_exec_limits = {.max_depth = 24, .max_fields = 2000};

struct usage {
	const char *name;
	struct gql_loc loc;
	const struct gql_type_ref *type; /* expected there; NULL: unknown */
	bool has_default;                /* the position has a default value */
	struct usage *next;
};

struct spread_rec {
	const struct gql_selection *sel;
	struct spread_rec *next;
};

struct definfo {
	struct gql_definition *def;
	struct usage *usages, **usages_tail;
	struct spread_rec *spreads, **spreads_tail; /* every spread, nested ones too */
};

struct vctx {
	const struct gql_schema *s;
	struct gql_document *doc;
	struct gql_verrors *out;
	struct gql_arena scratch;
	struct definfo *defs;
	size_t ndefs;
	bool oom;
};

/* ---- errors ---- */

void gql_verrors_clear(struct gql_verrors *e)
{
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
	gql_arena_free(&e->text);
}

/* Appends an error whatever the count (NULL: out of memory). Its message
 * says so until set_message. */
static struct gql_verror *append_error(struct gql_verrors *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct gql_verror *v = realloc(o->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		o->v = v;
		o->cap = cap;
	}
	struct gql_verror *e = &o->v[o->n++];
	memset(e, 0, sizeof(*e));
	e->message = "Out of memory while reporting a validation error.";
	return e;
}

static void set_message(struct gql_verrors *o, struct gql_verror *e, const char *msg, size_t len)
{
	char *m = gql_arena_strndup(&o->text, msg, len);
	if (m)
		e->message = m;
}

static void set_locs(struct gql_verrors *o, struct gql_verror *e, const struct gql_loc *locs,
		     unsigned n)
{
	if (n == 0)
		return;
	struct gql_loc *l = gql_arena_alloc(&o->text, n * sizeof(*l));
	if (!l)
		return;
	memcpy(l, locs, n * sizeof(*l));
	e->locs = l;
	e->nlocs = n;
}

/* The next error, or NULL past the limit (the error after the last one
 * says the limit was reached, as graphql-js's validate does). */
static struct gql_verror *add_error(struct vctx *c)
{
	struct gql_verrors *o = c->out;
	if (o->n >= GQL_MAX_ERRORS + 1)
		return NULL;
	struct gql_verror *e = append_error(o);
	if (!e)
		return NULL;
	if (o->n == GQL_MAX_ERRORS + 1) {
		static const char m[] =
			"Too many validation errors, error limit reached. Validation aborted.";
		set_message(o, e, m, sizeof(m) - 1);
		return NULL;
	}
	return e;
}

__attribute__((format(printf, 4, 5))) static void report(struct vctx *c, const struct gql_loc *locs,
							 unsigned nlocs, const char *fmt, ...)
{
	struct gql_verror *e = add_error(c);
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	char small[512];
	int len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len < sizeof(small)) {
		set_message(c->out, e, small, (size_t)len);
	} else {
		char *m = gql_arena_alloc(&c->out->text, (size_t)len + 1);
		if (m) {
			va_start(ap, fmt);
			int l2 = vsnprintf(m, (size_t)len + 1, fmt, ap);
			va_end(ap);
			if (l2 == len)
				e->message = m;
		}
	}
	set_locs(c->out, e, locs, nlocs);
}

#define REPORT1(c, l, ...) report((c), &(struct gql_loc){(l).line, (l).column}, 1, __VA_ARGS__)

static void report2(struct vctx *c, struct gql_loc a, struct gql_loc b, const char *msg)
{
	struct gql_loc l[2] = {a, b};
	report(c, l, 2, "%s", msg);
}

/* ---- suggestions (graphql-js suggestionList / didYouMean) ---- */

static int lexical_distance(const char *input, const char *option, int threshold)
{
	if (strcmp(input, option) == 0)
		return 0;
	size_t la = strlen(option), lb = strlen(input);
	if (la > 256 || lb > 256)
		return -1;
	char a[257], b[257];
	for (size_t i = 0; i <= la; i++)
		a[i] = (char)tolower((unsigned char)option[i]);
	for (size_t i = 0; i <= lb; i++)
		b[i] = (char)tolower((unsigned char)input[i]);
	if (strcmp(a, b) == 0)
		return 1;
	const char *pa = a, *pb = b;
	if (la < lb) {
		pa = b;
		pb = a;
		size_t t = la;
		la = lb;
		lb = t;
	}
	if ((int)(la - lb) > threshold)
		return -1;
	int rows[3][258];
	for (size_t j = 0; j <= lb; j++)
		rows[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int *up = rows[(i - 1) % 3], *cur = rows[i % 3];
		int smallest = cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cost = pa[i - 1] == pb[j - 1] ? 0 : 1;
			int cell = up[j] + 1;
			if (cur[j - 1] + 1 < cell)
				cell = cur[j - 1] + 1;
			if (up[j - 1] + cost < cell)
				cell = up[j - 1] + cost;
			if (i > 1 && j > 1 && pa[i - 1] == pb[j - 2] && pa[i - 2] == pb[j - 1]) {
				int dd = rows[(i - 2) % 3][j - 2] + 1;
				if (dd < cell)
					cell = dd;
			}
			if (cell < smallest)
				smallest = cell;
			cur[j] = cell;
		}
		if (smallest > threshold)
			return -1;
	}
	int d = rows[la % 3][lb];
	return d <= threshold ? d : -1;
}

static int natural_compare(const char *a, const char *b)
{
	size_t i = 0, j = 0, la = strlen(a), lb = strlen(b);
	while (i < la && j < lb) {
		int ca = (unsigned char)a[i], cb = (unsigned char)b[j];
		if (isdigit(ca) && isdigit(cb)) {
			unsigned long na = 0, nb = 0;
			do {
				++i;
				na = na * 10 + (unsigned long)(ca - '0');
				ca = i < la ? (unsigned char)a[i] : 0;
			} while (isdigit(ca) && na > 0);
			do {
				++j;
				nb = nb * 10 + (unsigned long)(cb - '0');
				cb = j < lb ? (unsigned char)b[j] : 0;
			} while (isdigit(cb) && nb > 0);
			if (na != nb)
				return na < nb ? -1 : 1;
		} else {
			if (ca != cb)
				return ca < cb ? -1 : 1;
			i++;
			j++;
		}
	}
	return (int)la - (int)lb;
}

void gql_did_you_mean(const char *input, const char *const *options, size_t n, char *buf,
		      size_t buflen)
{
	buf[0] = '\0';
	int threshold = (int)(strlen(input) * 4 / 10) + 1;
	const char *sel[64];
	int dist[64];
	size_t ns = 0;
	for (size_t i = 0; i < n && ns < 64; i++) {
		int d = lexical_distance(input, options[i], threshold);
		if (d < 0)
			continue;
		/* insertion sort by (distance, natural order) */
		size_t k = ns++;
		while (k > 0 && (dist[k - 1] > d ||
				 (dist[k - 1] == d && natural_compare(sel[k - 1], options[i]) > 0))) {
			sel[k] = sel[k - 1];
			dist[k] = dist[k - 1];
			k--;
		}
		sel[k] = options[i];
		dist[k] = d;
	}
	if (ns == 0)
		return;
	size_t show = ns > 5 ? 5 : ns;
	int o = snprintf(buf, buflen, " Did you mean ");
	for (size_t i = 0; i < show && o > 0 && (size_t)o < buflen; i++) {
		const char *sep = i == 0 ? "" : (show == 2 ? " or " : (i == show - 1 ? ", or " : ", "));
		o += snprintf(buf + o, buflen - (size_t)o, "%s\"%s\"", sep, sel[i]);
	}
	if (o > 0 && (size_t)o < buflen)
		snprintf(buf + o, buflen - (size_t)o, "?");
}

/* did-you-mean over the fields of a type / args of a field / values. */
static void suggest_fields(const struct gql_named_type *t, const char *input, char *buf, size_t n)
{
	const char *opts[256];
	size_t k = 0;
	for (size_t i = 0; i < t->nfields && k < 256; i++)
		opts[k++] = t->fields[i].name;
	for (size_t i = 0; i < t->ninput_fields && k < 256; i++)
		opts[k++] = t->input_fields[i].name;
	for (size_t i = 0; i < t->nvalues && k < 256; i++)
		opts[k++] = t->values[i].name;
	gql_did_you_mean(input, opts, k, buf, n);
}

static void suggest_args(const struct gql_arg_def *a, size_t na, const char *input, char *buf,
			 size_t n)
{
	const char *opts[64];
	size_t k = 0;
	for (size_t i = 0; i < na && k < 64; i++)
		opts[k++] = a[i].name;
	gql_did_you_mean(input, opts, k, buf, n);
}

static void suggest_types(const struct gql_schema *s, const char *input, char *buf, size_t n)
{
	const char *opts[512];
	size_t k = 0;
	for (size_t i = 0; i < s->ntypes && k < 512; i++)
		opts[k++] = s->types[i]->name;
	gql_did_you_mean(input, opts, k, buf, n);
}

/* ---- helpers ---- */

static void type_str(const struct gql_type_ref *t, char *buf, size_t n)
{
	gql_print_type(t, buf, n);
}

static void value_str(const struct gql_value *v, char *buf, size_t n)
{
	size_t need = gql_print_value(v, buf, n);
	if (need >= n && n > 4)
		memcpy(buf + n - 4, "...", 4);
}

static struct gql_definition *find_fragment(const struct vctx *c, const char *name)
{
	for (struct gql_definition *d = c->doc->definitions; d; d = d->next)
		if (d->kind == GQL_DEF_FRAGMENT && strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct definfo *info_of(const struct vctx *c, const struct gql_definition *d)
{
	for (size_t i = 0; i < c->ndefs; i++)
		if (c->defs[i].def == d)
			return &c->defs[i];
	return NULL;
}

static void add_usage(struct vctx *c, struct definfo *di, const struct gql_value *v,
		      const struct gql_type_ref *type, bool has_default)
{
	struct usage *u = gql_arena_alloc(&c->scratch, sizeof(*u));
	if (!u) {
		c->oom = true;
		return;
	}
	u->name = v->text;
	u->loc = v->loc;
	u->type = type;
	u->has_default = has_default;
	*di->usages_tail = u;
	di->usages_tail = &u->next;
}

static const struct gql_type_ref *nullable(const struct gql_type_ref *t)
{
	return t && t->kind == GQL_T_NON_NULL ? t->of : t;
}

/* ---- values ---- */

static bool parse_int32(const char *text, long long *out)
{
	char *end;
	long long v = strtoll(text, &end, 10);
	*out = v;
	return *end == '\0' && v >= -2147483648LL && v <= 2147483647LL;
}

static void check_leaf_literal(struct vctx *c, const struct gql_value *v,
			       const struct gql_type_ref *type)
{
	const struct gql_named_type *t = gql_named(type);
	char vs[256], ts[256], dym[512];
	value_str(v, vs, sizeof(vs));
	if (!gql_is_leaf(t)) {
		type_str(type, ts, sizeof(ts));
		REPORT1(c, v->loc, "Expected value of type \"%s\", found %s.", ts, vs);
		return;
	}
	if (t->kind == GQL_ENUM) {
		if (v->kind != GQL_V_ENUM) {
			suggest_fields(t, vs, dym, sizeof(dym));
			REPORT1(c, v->loc, "Enum \"%s\" cannot represent non-enum value: %s.%s", t->name, vs,
				dym);
			return;
		}
		for (size_t i = 0; i < t->nvalues; i++)
			if (strcmp(t->values[i].name, v->text) == 0)
				return;
		suggest_fields(t, vs, dym, sizeof(dym));
		REPORT1(c, v->loc, "Value \"%s\" does not exist in \"%s\" enum.%s", vs, t->name, dym);
		return;
	}
	const char *n = t->name;
	if (strcmp(n, "Int") == 0) {
		long long x;
		if (v->kind != GQL_V_INT)
			REPORT1(c, v->loc, "Int cannot represent non-integer value: %s", vs);
		else if (!parse_int32(v->text, &x))
			REPORT1(c, v->loc, "Int cannot represent non 32-bit signed integer value: %s",
				v->text);
	} else if (strcmp(n, "Float") == 0) {
		if (v->kind != GQL_V_INT && v->kind != GQL_V_FLOAT)
			REPORT1(c, v->loc, "Float cannot represent non numeric value: %s", vs);
	} else if (strcmp(n, "String") == 0) {
		if (v->kind != GQL_V_STRING)
			REPORT1(c, v->loc, "String cannot represent a non string value: %s", vs);
	} else if (strcmp(n, "Boolean") == 0) {
		if (v->kind != GQL_V_BOOLEAN)
			REPORT1(c, v->loc, "Boolean cannot represent a non boolean value: %s", vs);
	} else if (strcmp(n, "ID") == 0) {
		if (v->kind != GQL_V_STRING && v->kind != GQL_V_INT)
			REPORT1(c, v->loc, "ID cannot represent a non-string and non-integer value: %s", vs);
	}
	/* Custom scalars (BigInt, DateTime) accept any literal here, as
	 * graphql-js's default parseLiteral does; the executor coerces. */
}

/*
 * Checks a value against its expected input type (NULL: unknown) and
 * records the variables it holds. `report_errors` is false under a node
 * graphql-js's ValuesOfCorrectType stops descending into.
 */
static void check_value(struct vctx *c, struct definfo *di, const struct gql_value *v,
			const struct gql_type_ref *type, bool has_default, bool report_errors)
{
	switch (v->kind) {
	case GQL_V_VARIABLE:
		if (di)
			add_usage(c, di, v, type, has_default);
		return;
	case GQL_V_NULL:
		if (report_errors && type && type->kind == GQL_T_NON_NULL) {
			char ts[256];
			type_str(type, ts, sizeof(ts));
			REPORT1(c, v->loc, "Expected value of type \"%s\", found null.", ts);
		}
		return;
	case GQL_V_LIST: {
		const struct gql_type_ref *lt = nullable(type);
		bool is_list = lt && lt->kind == GQL_T_LIST;
		if (report_errors && type && !is_list) {
			check_leaf_literal(c, v, type);
			report_errors = false;
		}
		const struct gql_type_ref *item = is_list ? lt->of : lt;
		for (const struct gql_value *i = v->items; i; i = i->next)
			check_value(c, di, i, item, false, report_errors);
		return;
	}
	case GQL_V_OBJECT: {
		const struct gql_named_type *t = gql_named(type);
		bool is_input = t && t->kind == GQL_INPUT_OBJECT;
		/* unique input field names: reported whatever the type */
		for (const struct gql_object_field *f = v->fields; f; f = f->next)
			for (const struct gql_object_field *g = v->fields; g != f; g = g->next)
				if (strcmp(f->name, g->name) == 0) {
					char m[300];
					snprintf(m, sizeof(m), "There can be only one input field named \"%s\".",
						 f->name);
					report2(c, g->loc, f->loc, m);
					break;
				}
		if (report_errors && type && !is_input) {
			check_leaf_literal(c, v, type);
			report_errors = false;
		}
		if (report_errors && is_input) {
			for (size_t i = 0; i < t->ninput_fields; i++) {
				const struct gql_arg_def *fd = &t->input_fields[i];
				if (fd->type->kind != GQL_T_NON_NULL || fd->default_value)
					continue;
				bool found = false;
				for (const struct gql_object_field *f = v->fields; f && !found; f = f->next)
					found = strcmp(f->name, fd->name) == 0;
				if (!found) {
					char ts[256];
					type_str(fd->type, ts, sizeof(ts));
					REPORT1(c, v->loc,
						"Field \"%s.%s\" of required type \"%s\" was not provided.",
						t->name, fd->name, ts);
				}
			}
		}
		for (const struct gql_object_field *f = v->fields; f; f = f->next) {
			const struct gql_arg_def *fd = NULL;
			for (size_t i = 0; is_input && i < t->ninput_fields; i++)
				if (strcmp(t->input_fields[i].name, f->name) == 0)
					fd = &t->input_fields[i];
			if (is_input && !fd && report_errors) {
				char dym[512];
				suggest_fields(t, f->name, dym, sizeof(dym));
				REPORT1(c, f->loc, "Field \"%s\" is not defined by type \"%s\".%s", f->name,
					t->name, dym);
			}
			check_value(c, di, f->value, fd ? fd->type : NULL, fd && fd->default_value,
				    report_errors);
		}
		return;
	}
	default:
		if (report_errors && type)
			check_leaf_literal(c, v, type);
		return;
	}
}

/* ---- arguments and directives ---- */

static void check_args(struct vctx *c, struct definfo *di, const struct gql_argument *args,
		       const struct gql_arg_def *defs, size_t ndefs, bool known,
		       const char *owner_desc /* "field \"T.f\"" or "directive \"@d\"" */)
{
	/* unique argument names: one error per repeated name, every location */
	for (const struct gql_argument *a = args; a; a = a->next) {
		bool first = true;
		for (const struct gql_argument *b = args; b != a; b = b->next)
			if (strcmp(a->name, b->name) == 0)
				first = false;
		if (!first)
			continue;
		struct gql_loc locs[GQL_MAX_LOCS];
		unsigned n = 0;
		for (const struct gql_argument *b = a; b; b = b->next)
			if (strcmp(a->name, b->name) == 0 && n < GQL_MAX_LOCS)
				locs[n++] = b->loc;
		if (n > 1)
			report(c, locs, n, "There can be only one argument named \"%s\".", a->name);
	}
	for (const struct gql_argument *a = args; a; a = a->next) {
		const struct gql_arg_def *ad = NULL;
		for (size_t i = 0; known && i < ndefs; i++)
			if (strcmp(defs[i].name, a->name) == 0)
				ad = &defs[i];
		if (known && !ad) {
			char dym[512];
			suggest_args(defs, ndefs, a->name, dym, sizeof(dym));
			REPORT1(c, a->loc, "Unknown argument \"%s\" on %s.%s", a->name, owner_desc, dym);
		}
		check_value(c, di, a->value, ad ? ad->type : NULL, ad && ad->default_value, true);
	}
}

static void check_required_args(struct vctx *c, const struct gql_argument *args,
				const struct gql_arg_def *defs, size_t ndefs, struct gql_loc loc,
				const char *field_name, const char *directive_name)
{
	for (size_t i = 0; i < ndefs; i++) {
		const struct gql_arg_def *ad = &defs[i];
		if (ad->type->kind != GQL_T_NON_NULL || ad->default_value)
			continue;
		bool given = false;
		for (const struct gql_argument *a = args; a && !given; a = a->next)
			given = strcmp(a->name, ad->name) == 0;
		if (given)
			continue;
		char ts[256];
		type_str(ad->type, ts, sizeof(ts));
		if (directive_name)
			REPORT1(c, loc,
				"Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
				directive_name, ad->name, ts);
		else
			REPORT1(c, loc,
				"Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
				field_name, ad->name, ts);
	}
}

static void check_directives(struct vctx *c, struct definfo *di, const struct gql_directive *dirs,
			     enum gql_dir_location where)
{
	for (const struct gql_directive *d = dirs; d; d = d->next) {
		const struct gql_directive_def *dd = gql_schema_directive(c->s, d->name);
		char owner[300];
		snprintf(owner, sizeof(owner), "directive \"@%s\"", d->name);
		if (!dd) {
			REPORT1(c, d->loc, "Unknown directive \"@%s\".", d->name);
			check_args(c, di, d->args, NULL, 0, false, owner);
			continue;
		}
		if (!(dd->locations & (1u << where)))
			REPORT1(c, d->loc, "Directive \"@%s\" may not be used on %s.", d->name,
				gql_dir_location_name(where));
		if (!dd->repeatable)
			for (const struct gql_directive *e = dirs; e != d; e = e->next)
				if (strcmp(e->name, d->name) == 0) {
					char m[300];
					snprintf(m, sizeof(m),
						 "The directive \"@%s\" can only be used once at this location.",
						 d->name);
					report2(c, e->loc, d->loc, m);
					break;
				}
		check_args(c, di, d->args, dd->args, dd->nargs, true, owner);
		check_required_args(c, d->args, dd->args, dd->nargs, d->loc, NULL, d->name);
	}
}

/* ---- selections ---- */

static struct gql_named_type *lookup_type(struct vctx *c, const char *name, struct gql_loc loc)
{
	struct gql_named_type *t = gql_schema_type(c->s, name);
	if (!t) {
		char dym[512];
		suggest_types(c->s, name, dym, sizeof(dym));
		REPORT1(c, loc, "Unknown type \"%s\".%s", name, dym);
	}
	return t;
}

static void walk_selections(struct vctx *c, struct definfo *di, struct gql_named_type *parent,
			    const struct gql_selection *sels);

static void walk_field(struct vctx *c, struct definfo *di, struct gql_named_type *parent,
		       const struct gql_selection *s)
{
	const struct gql_field *fd = parent ? gql_type_field(c->s, parent, s->name) : NULL;
	if (parent && !fd) {
		char dym[512] = "";
		if (parent->kind == GQL_OBJECT || parent->kind == GQL_INTERFACE) {
			const char *opts[256];
			size_t k = 0;
			for (size_t i = 0; i < parent->nfields && k < 256; i++)
				opts[k++] = parent->fields[i].name;
			gql_did_you_mean(s->name, opts, k, dym, sizeof(dym));
		}
		REPORT1(c, s->loc, "Cannot query field \"%s\" on type \"%s\".%s", s->name, parent->name,
			dym);
	}
	char owner[300], fname[300];
	snprintf(fname, sizeof(fname), "%s", s->name);
	snprintf(owner, sizeof(owner), "field \"%s.%s\"", parent ? parent->name : "?", s->name);
	check_args(c, di, s->args, fd ? fd->args : NULL, fd ? fd->nargs : 0, fd != NULL, owner);
	if (fd)
		check_required_args(c, s->args, fd->args, fd->nargs, s->loc, fname, NULL);
	check_directives(c, di, s->directives, GQL_LOC_FIELD);
	struct gql_named_type *t = fd ? gql_named(fd->type) : NULL;
	if (fd) {
		char ts[256];
		type_str(fd->type, ts, sizeof(ts));
		if (gql_is_leaf(t) && s->has_selections)
			REPORT1(c, s->set_loc,
				"Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
				s->name, ts);
		else if (!gql_is_leaf(t) && !s->has_selections)
			REPORT1(c, s->loc,
				"Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
				s->name, ts, s->name);
	}
	if (s->has_selections)
		walk_selections(c, di, gql_is_composite(t) ? t : NULL, s->selections);
}

static void walk_selections(struct vctx *c, struct definfo *di, struct gql_named_type *parent,
			    const struct gql_selection *sels)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		switch (s->kind) {
		case GQL_SEL_FIELD:
			walk_field(c, di, parent, s);
			break;
		case GQL_SEL_INLINE: {
			struct gql_named_type *cond = parent;
			if (s->type_condition) {
				cond = lookup_type(c, s->type_condition, s->type_condition_loc);
				if (cond && !gql_is_composite(cond))
					REPORT1(c, s->type_condition_loc,
						"Fragment cannot condition on non composite type \"%s\".",
						cond->name);
				if (cond && parent && gql_is_composite(cond) &&
				    !gql_types_overlap(c->s, cond, parent))
					REPORT1(c, s->loc,
						"Fragment cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
						parent->name, cond->name);
			}
			check_directives(c, di, s->directives, GQL_LOC_INLINE_FRAGMENT);
			walk_selections(c, di, gql_is_composite(cond) ? cond : NULL, s->selections);
			break;
		}
		case GQL_SEL_SPREAD: {
			struct spread_rec *r = gql_arena_alloc(&c->scratch, sizeof(*r));
			if (!r) {
				c->oom = true;
				return;
			}
			r->sel = s;
			*di->spreads_tail = r;
			di->spreads_tail = &r->next;
			const struct gql_definition *f = find_fragment(c, s->name);
			if (!f) {
				REPORT1(c, s->name_loc, "Unknown fragment \"%s\".", s->name);
			} else {
				struct gql_named_type *ft = gql_schema_type(c->s, f->type_condition);
				if (ft && parent && gql_is_composite(ft) && !gql_types_overlap(c->s, ft, parent))
					REPORT1(c, s->loc,
						"Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
						s->name, parent->name, ft->name);
			}
			check_directives(c, di, s->directives, GQL_LOC_FRAGMENT_SPREAD);
			break;
		}
		}
	}
}

/* ---- overlapping fields: graphql-js's OverlappingFieldsCanBeMergedRule ----
 *
 * A port of graphql-js 16's rule (tests/graphql/node_modules/graphql/
 * validation/rules/OverlappingFieldsCanBeMergedRule.mjs), step for step:
 * the same comparisons in the same order (steps A-J), the same memos
 * (collected fields per parent type and selection set, overlapping
 * response names per pair of collections, fragments compared with a
 * collection, fragment pairs, reasons per field pair), so the same
 * conflicts are found and reported with the same messages, locations and
 * order of locations. Its complexity budget is spent at the same points;
 * when it runs out, validation stops with "Validation aborted." as
 * graphql-js's validate does. The rule's state lives for the whole
 * document (a memo set in one selection set holds in the next), and the
 * selection sets are checked in document order, as graphql-js's visitor
 * enters them. Everything is allocated from the validation's arena.
 */

#define OV_MAX_DETAIL 1000     /* MAX_CONFLICT_DETAIL_LENGTH */
#define OV_MAX_NODES 20        /* MAX_CONFLICT_NODES */
#define OV_BUDGET 500000L      /* MAX_COMPLEXITY_BUDGET */
#define OV_MAX_NESTING 2000    /* recursion guard (graphql-js: the JS stack) */
#define OV_KEEP (GQL_MAX_ERRORS + 2) /* conflicts kept per list (see ov_push) */

enum ov_tag { OV_COLLECT = 1, OV_GROUP, OV_FRAGSET, OV_CMPFRAG, OV_OVERLAP, OV_PAIR, OV_REASON,
	      OV_ARG, OV_VALUE, OV_FRAGDEF, OV_EXCEEDED, OV_CHECKED, OV_VISITED };

struct ov_slot {
	const void *a, *b;
	unsigned tag;
	void *val;
};

struct ov_map {
	struct ov_slot *slots; /* NULL a and b and tag 0: free */
	size_t cap, n;
};

struct ov_name {
	const char *s;
};

struct ov_names {
	struct ov_name *slots;
	size_t cap, n;
};

struct ov_field { /* graphql-js FieldDetails (+ its lazily made FieldInfo) */
	const struct gql_selection *node;
	const struct gql_named_type *parent; /* NULL: undefined */
	const struct gql_field *def;         /* NULL: undefined */
	bool simple_leaf;
	bool has_info;
	const struct gql_named_type *named; /* info.namedType */
	const char **arg_names;             /* info.arguments: interned names */
	size_t nargs;                       /* 0: info.arguments undefined */
	const char *type_string;
};

struct ov_group {
	const char *name; /* interned response name */
	struct ov_field **f;
	size_t n, cap;
	struct ov_group *next;
};

struct ov_collect { /* graphql-js CollectFieldsResult */
	struct ov_group *groups, **tail;
	size_t ngroups;
	const char **frags; /* interned, unique, in order */
	size_t nfrags, fcap;
};

struct ov_overlap {
	size_t n;
	struct ov_group **g1, **g2;
};

struct ov_conflict {
	const char *rn; /* response name */
	const char *reason;
	const struct gql_selection **f1, **f2;
	size_t n1, n2;
};

struct ov_clist {
	struct ov_conflict *v;
	size_t n, cap;
	size_t total; /* conflicts found, kept or not */
};

struct ov {
	struct vctx *c;
	struct gql_arena *a;
	struct ov_map map;
	struct ov_names names;
	long budget;
	unsigned nesting;
	bool aborted; /* the budget ran out, or the nesting guard tripped */
};

static bool ov_stop(const struct ov *o)
{
	return o->aborted || o->c->oom;
}

static void *ov_alloc(struct ov *o, size_t n)
{
	void *p = gql_arena_alloc(o->a, n);
	if (!p)
		o->c->oom = true;
	return p;
}

static bool ov_spend(struct ov *o, long cost)
{
	o->budget -= cost;
	if (o->budget < 0)
		o->aborted = true;
	return !ov_stop(o);
}

static size_t ov_hash_ptrs(const void *a, const void *b, unsigned tag)
{
	uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;
	h ^= (uint64_t)(uintptr_t)b + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
	h ^= (uint64_t)tag * 0xC2B2AE3D27D4EB4Full;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (size_t)h;
}

/* The slot of (a, b, tag): found, or NULL (absent, or out of memory when
 * create). A created slot's val is NULL. */
static struct ov_slot *ov_map_slot(struct ov *o, const void *a, const void *b, unsigned tag,
				   bool create)
{
	struct ov_map *m = &o->map;
	if (create && (m->n + 1) * 4 > m->cap * 3) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		struct ov_slot *s = ov_alloc(o, cap * sizeof(*s));
		if (!s)
			return NULL;
		for (size_t i = 0; i < m->cap; i++) {
			struct ov_slot *x = &m->slots[i];
			if (!x->tag)
				continue;
			size_t j = ov_hash_ptrs(x->a, x->b, x->tag) & (cap - 1);
			while (s[j].tag)
				j = (j + 1) & (cap - 1);
			s[j] = *x;
		}
		m->slots = s;
		m->cap = cap;
	}
	if (!m->cap)
		return NULL;
	size_t j = ov_hash_ptrs(a, b, tag) & (m->cap - 1);
	while (m->slots[j].tag) {
		struct ov_slot *x = &m->slots[j];
		if (x->a == a && x->b == b && x->tag == tag)
			return x;
		j = (j + 1) & (m->cap - 1);
	}
	if (!create)
		return NULL;
	m->slots[j] = (struct ov_slot){.a = a, .b = b, .tag = tag};
	m->n++;
	return &m->slots[j];
}

static void *ov_get(struct ov *o, const void *a, const void *b, unsigned tag)
{
	struct ov_slot *s = ov_map_slot(o, a, b, tag, false);
	return s ? s->val : NULL;
}

static bool ov_set(struct ov *o, const void *a, const void *b, unsigned tag, void *val)
{
	struct ov_slot *s = ov_map_slot(o, a, b, tag, true);
	if (!s)
		return false;
	s->val = val;
	return true;
}

static size_t ov_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h ^ (h >> 31));
}

/* The one pointer every equal name is mapped to (NULL: out of memory). */
static const char *ov_intern(struct ov *o, const char *s)
{
	struct ov_names *t = &o->names;
	if ((t->n + 1) * 4 > t->cap * 3) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct ov_name *v = ov_alloc(o, cap * sizeof(*v));
		if (!v)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->slots[i].s)
				continue;
			size_t j = ov_hash_str(t->slots[i].s) & (cap - 1);
			while (v[j].s)
				j = (j + 1) & (cap - 1);
			v[j] = t->slots[i];
		}
		t->slots = v;
		t->cap = cap;
	}
	size_t j = ov_hash_str(s) & (t->cap - 1);
	while (t->slots[j].s) {
		if (strcmp(t->slots[j].s, s) == 0)
			return t->slots[j].s;
		j = (j + 1) & (t->cap - 1);
	}
	t->slots[j].s = s;
	t->n++;
	return s;
}

/* A growing text in the arena. */
struct ov_buf {
	char *p;
	size_t len, cap;
};

static bool ov_buf_add(struct ov *o, struct ov_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = ov_alloc(o, cap);
		if (!p)
			return false;
		if (b->len)
			memcpy(p, b->p, b->len);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static bool ov_buf_str(struct ov *o, struct ov_buf *b, const char *s)
{
	return ov_buf_add(o, b, s, strlen(s));
}

/* graphql-js maybeAbbreviate (names and reasons are ASCII: a character
 * is a byte). */
static bool ov_buf_abbrev(struct ov *o, struct ov_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n <= OV_MAX_DETAIL)
		return ov_buf_add(o, b, s, n);
	return ov_buf_add(o, b, s, OV_MAX_DETAIL) && ov_buf_str(o, b, "...");
}

/* validationContext.getFragment: the last fragment of that name. */
static const struct gql_definition *ov_fragment(struct ov *o, const char *name)
{
	struct ov_slot *s = ov_map_slot(o, name, NULL, OV_FRAGDEF, false);
	return s ? s->val : NULL;
}

/* ---- collecting fields (collectFields, collectFieldsImpl) ---- */

static const struct gql_field *ov_field_def(const struct gql_named_type *t, const char *name)
{
	/* parentType.getFields(): no meta fields */
	if (!t || (t->kind != GQL_OBJECT && t->kind != GQL_INTERFACE))
		return NULL;
	for (size_t i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

static bool ov_collect_impl(struct ov *o, struct ov_collect *r, const struct gql_named_type *parent,
			    const struct gql_selection *sels)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (s->kind == GQL_SEL_FIELD) {
			const char *rn = ov_intern(o, s->alias ? s->alias : s->name);
			struct ov_field *f = ov_alloc(o, sizeof(*f));
			if (!rn || !f)
				return false;
			f->node = s;
			f->parent = parent;
			f->def = ov_field_def(parent, s->name);
			f->simple_leaf = !s->args && !s->has_selections;
			struct ov_group *g = ov_get(o, r, rn, OV_GROUP);
			if (!g) {
				g = ov_alloc(o, sizeof(*g));
				if (!g || !ov_set(o, r, rn, OV_GROUP, g))
					return false;
				g->name = rn;
				*r->tail = g;
				r->tail = &g->next;
				r->ngroups++;
			}
			if (g->n == g->cap) {
				size_t cap = g->cap ? g->cap * 2 : 2;
				struct ov_field **v = ov_alloc(o, cap * sizeof(*v));
				if (!v)
					return false;
				if (g->n)
					memcpy(v, g->f, g->n * sizeof(*v));
				g->f = v;
				g->cap = cap;
			}
			g->f[g->n++] = f;
		} else if (s->kind == GQL_SEL_SPREAD) {
			const char *fn = ov_intern(o, s->name);
			if (!fn)
				return false;
			if (ov_get(o, r, fn, OV_FRAGSET))
				continue;
			if (!ov_set(o, r, fn, OV_FRAGSET, (void *)fn))
				return false;
			if (r->nfrags == r->fcap) {
				size_t cap = r->fcap ? r->fcap * 2 : 4;
				const char **v = ov_alloc(o, cap * sizeof(*v));
				if (!v)
					return false;
				if (r->nfrags)
					memcpy(v, r->frags, r->nfrags * sizeof(*v));
				r->frags = v;
				r->fcap = cap;
			}
			r->frags[r->nfrags++] = fn;
		} else {
			const struct gql_named_type *t =
				s->type_condition ? gql_schema_type(o->c->s, s->type_condition) : parent;
			if (!ov_collect_impl(o, r, t, s->selections))
				return false;
		}
	}
	return true;
}

static struct ov_collect *ov_collect(struct ov *o, const struct gql_named_type *parent,
				     const struct gql_selection *sels)
{
	struct ov_collect *r = ov_get(o, parent, sels, OV_COLLECT);
	if (r)
		return r;
	r = ov_alloc(o, sizeof(*r));
	if (!r)
		return NULL;
	r->tail = &r->groups;
	if (!ov_collect_impl(o, r, parent, sels) || !ov_set(o, parent, sels, OV_COLLECT, r))
		return NULL;
	return r;
}

static struct ov_collect *ov_collect_fragment(struct ov *o, const struct gql_definition *f)
{
	return ov_collect(o, gql_schema_type(o->c->s, f->type_condition), f->selections);
}

/* ---- conflicts ---- */

/* Keeps the first OV_KEEP conflicts of a list and counts the rest: a
 * selection set's list is reported (at most GQL_MAX_ERRORS + 1 errors
 * are), and a sub-selection's list makes one message of at most
 * OV_MAX_DETAIL characters (each part is longer than 30) and at most
 * OV_MAX_NODES locations a side (each part gives one at least). */
static void ov_push(struct ov *o, struct ov_clist *l, const struct ov_conflict *k)
{
	l->total++;
	if (l->n == OV_KEEP)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		if (cap > OV_KEEP)
			cap = OV_KEEP;
		struct ov_conflict *v = ov_alloc(o, cap * sizeof(*v));
		if (!v)
			return;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *k;
}

static void ov_push_pair(struct ov *o, struct ov_clist *l, const char *rn, const char *reason,
			 const struct gql_selection *n1, const struct gql_selection *n2)
{
	const struct gql_selection **nodes = ov_alloc(o, 2 * sizeof(*nodes));
	if (!nodes)
		return;
	nodes[0] = n1;
	nodes[1] = n2;
	ov_push(o, l, &(struct ov_conflict){rn, reason, nodes, nodes + 1, 1, 1});
}

static void ov_field_info(struct ov *o, struct ov_field *f)
{
	if (f->has_info)
		return;
	f->named = f->def ? gql_named(f->def->type) : NULL;
	size_t n = 0;
	for (const struct gql_argument *a = f->node->args; a; a = a->next)
		n++;
	if (n) {
		f->arg_names = ov_alloc(o, n * sizeof(*f->arg_names));
		if (!f->arg_names)
			return;
		for (const struct gql_argument *a = f->node->args; a; a = a->next) {
			const char *in = ov_intern(o, a->name);
			/* values.set(name, value): the last of a name wins */
			if (!in || !ov_set(o, f, in, OV_ARG, (void *)a->value))
				return;
			f->arg_names[f->nargs++] = in;
		}
	}
	f->has_info = true;
}

/* graphql-js stringifyValue: JSON.stringify of the value with object
 * fields sorted by name (a stable sort); only compared for equality. */
static bool ov_value_text(struct ov *o, struct ov_buf *b, const struct gql_value *v);

static bool ov_quoted(struct ov *o, struct ov_buf *b, const char *s)
{
	if (!ov_buf_str(o, b, "\""))
		return false;
	for (; *s; s++) {
		char e[3] = {'\\', *s, 0};
		if ((*s == '"' || *s == '\\') ? !ov_buf_add(o, b, e, 2) : !ov_buf_add(o, b, s, 1))
			return false;
	}
	return ov_buf_str(o, b, "\"");
}

static bool ov_value_text(struct ov *o, struct ov_buf *b, const struct gql_value *v)
{
	switch (v->kind) {
	case GQL_V_VARIABLE:
		return ov_buf_str(o, b, "[\"Variable\",") && ov_quoted(o, b, v->text) &&
		       ov_buf_str(o, b, "]");
	case GQL_V_INT:
		return ov_buf_str(o, b, "[\"IntValue\",") && ov_quoted(o, b, v->text) &&
		       ov_buf_str(o, b, "]");
	case GQL_V_FLOAT:
		return ov_buf_str(o, b, "[\"FloatValue\",") && ov_quoted(o, b, v->text) &&
		       ov_buf_str(o, b, "]");
	case GQL_V_STRING:
		return ov_buf_str(o, b, "[\"StringValue\",") && ov_quoted(o, b, v->text) &&
		       ov_buf_str(o, b, v->block ? ",true]" : ",false]");
	case GQL_V_BOOLEAN:
		return ov_buf_str(o, b, v->boolean ? "[\"BooleanValue\",true]" : "[\"BooleanValue\",false]");
	case GQL_V_NULL:
		return ov_buf_str(o, b, "[\"NullValue\",null]");
	case GQL_V_ENUM:
		return ov_buf_str(o, b, "[\"EnumValue\",") && ov_quoted(o, b, v->text) &&
		       ov_buf_str(o, b, "]");
	case GQL_V_LIST:
		if (!ov_buf_str(o, b, "[\"ListValue\",["))
			return false;
		for (const struct gql_value *i = v->items; i; i = i->next)
			if ((i != v->items && !ov_buf_str(o, b, ",")) || !ov_value_text(o, b, i))
				return false;
		return ov_buf_str(o, b, "]]");
	case GQL_V_OBJECT: {
		size_t n = 0;
		for (const struct gql_object_field *f = v->fields; f; f = f->next)
			n++;
		const struct gql_object_field **sorted = ov_alloc(o, (n ? n : 1) * sizeof(*sorted));
		if (!sorted)
			return false;
		n = 0;
		for (const struct gql_object_field *f = v->fields; f; f = f->next) {
			size_t k = n++; /* insertion sort: stable */
			while (k > 0 && strcmp(sorted[k - 1]->name, f->name) > 0) {
				sorted[k] = sorted[k - 1];
				k--;
			}
			sorted[k] = f;
		}
		if (!ov_buf_str(o, b, "[\"ObjectValue\",["))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((i && !ov_buf_str(o, b, ",")) || !ov_buf_str(o, b, "[") ||
			    !ov_quoted(o, b, sorted[i]->name) || !ov_buf_str(o, b, ",") ||
			    !ov_value_text(o, b, sorted[i]->value) || !ov_buf_str(o, b, "]"))
				return false;
		return ov_buf_str(o, b, "]]");
	}
	}
	return false;
}

static const char *ov_stringify(struct ov *o, const struct gql_value *v)
{
	const char *t = ov_get(o, v, NULL, OV_VALUE);
	if (t)
		return t;
	struct ov_buf b = {0};
	if (!ov_value_text(o, &b, v) || !ov_set(o, v, NULL, OV_VALUE, b.p))
		return NULL;
	return b.p;
}

/* graphql-js sameArguments; false with ov_stop when it stopped. */
static bool ov_same_args(struct ov *o, struct ov_field *f1, struct ov_field *f2)
{
	if (f1->nargs == 0)
		return f2->nargs == 0;
	if (f1->nargs != f2->nargs)
		return false;
	/* every arg1 of the first's nodes: arg1.value against the second's
	 * last value of that name */
	const struct gql_argument *a1 = f1->node->args;
	for (size_t i = 0; i < f1->nargs; i++, a1 = a1->next) {
		if (!ov_spend(o, 1))
			return false;
		const struct gql_value *v2 = ov_get(o, f2, f1->arg_names[i], OV_ARG);
		if (!v2)
			return false;
		const char *s1 = ov_stringify(o, a1->value), *s2 = ov_stringify(o, v2);
		if (!s1 || !s2 || strcmp(s1, s2) != 0)
			return false;
	}
	return true;
}

/* A type's identity as graphql-js sees it: a named type is one object, a
 * list or non-null wrapper is one per place it is written. */
static const void *ov_type_id(const struct gql_type_ref *t)
{
	if (!t)
		return NULL;
	return t->kind == GQL_T_NAMED ? (const void *)t->resolved : (const void *)t;
}

/* graphql-js doTypesConflict. */
static bool ov_types_conflict(struct ov *o, const struct gql_type_ref *t1,
			      const struct gql_type_ref *t2)
{
	if (ov_type_id(t1) == ov_type_id(t2))
		return false;
	if (!ov_spend(o, 1))
		return false;
	if (t1->kind == GQL_T_LIST)
		return t2->kind == GQL_T_LIST ? ov_types_conflict(o, t1->of, t2->of) : true;
	if (t2->kind == GQL_T_LIST)
		return true;
	if (t1->kind == GQL_T_NON_NULL)
		return t2->kind == GQL_T_NON_NULL ? ov_types_conflict(o, t1->of, t2->of) : true;
	if (t2->kind == GQL_T_NON_NULL)
		return true;
	if (gql_is_leaf(t1->resolved) || gql_is_leaf(t2->resolved))
		return t1->resolved != t2->resolved;
	return false;
}

static const char *ov_type_string(struct ov *o, struct ov_field *f)
{
	if (f->type_string)
		return f->type_string;
	size_t n = gql_print_type(f->def->type, NULL, 0);
	char *s = ov_alloc(o, n + 1);
	if (!s)
		return NULL;
	gql_print_type(f->def->type, s, n + 1);
	f->type_string = s;
	return s;
}

static void ov_between(struct ov *o, struct ov_clist *out, bool excl, struct ov_collect *c1,
		       struct ov_collect *c2);
static void ov_fields_and_fragment(struct ov *o, struct ov_clist *out, bool excl,
				   struct ov_collect *c, const char *name);
static void ov_fragments(struct ov *o, struct ov_clist *out, bool excl, const char *n1,
			 const char *n2);

/* graphql-js findConflictsBetweenSubSelectionSets (steps H, I, J). */
static void ov_between_sub_sets(struct ov *o, struct ov_clist *out, bool excl,
				const struct gql_named_type *p1, const struct gql_selection *s1,
				const struct gql_named_type *p2, const struct gql_selection *s2)
{
	struct ov_collect *c1 = ov_collect(o, p1, s1);
	struct ov_collect *c2 = c1 ? ov_collect(o, p2, s2) : NULL;
	if (!c2)
		return;
	ov_between(o, out, excl, c1, c2);
	for (size_t i = 0; i < c2->nfrags && !ov_stop(o); i++)
		ov_fields_and_fragment(o, out, excl, c1, c2->frags[i]);
	for (size_t i = 0; i < c1->nfrags && !ov_stop(o); i++)
		ov_fields_and_fragment(o, out, excl, c2, c1->frags[i]);
	for (size_t i = 0; i < c1->nfrags && !ov_stop(o); i++)
		for (size_t j = 0; j < c2->nfrags && !ov_stop(o); j++)
			ov_fragments(o, out, excl, c1->frags[i], c2->frags[j]);
}

/* graphql-js collectConflictNodes: the field, then the conflicts' nodes
 * of that side, at most OV_MAX_NODES, each conflict's last ones first
 * kept. */
static const struct gql_selection **ov_conflict_nodes(struct ov *o,
						      const struct gql_selection *node,
						      const struct ov_clist *l, bool first,
						      size_t *n)
{
	const struct gql_selection **v = ov_alloc(o, OV_MAX_NODES * sizeof(*v));
	if (!v)
		return NULL;
	v[0] = node;
	*n = 1;
	for (size_t i = 0; i < l->n; i++) {
		const struct ov_conflict *k = &l->v[i];
		size_t remaining = OV_MAX_NODES - *n;
		const struct gql_selection **src = first ? k->f1 : k->f2;
		size_t cnt = first ? k->n1 : k->n2;
		size_t take = cnt < remaining ? cnt : remaining;
		memcpy(v + *n, src + (cnt - take), take * sizeof(*v));
		*n += take;
		if (*n == OV_MAX_NODES)
			break;
	}
	return v;
}

/* graphql-js subfieldConflicts. */
static void ov_subfield_conflict(struct ov *o, struct ov_clist *out, const char *rn,
				 const struct ov_clist *sub, const struct gql_selection *n1,
				 const struct gql_selection *n2)
{
	struct ov_buf msg = {0};
	for (size_t i = 0; i < sub->n; i++) {
		if ((i && !ov_buf_str(o, &msg, " and ")) || !ov_buf_str(o, &msg, "subfields \"") ||
		    !ov_buf_abbrev(o, &msg, sub->v[i].rn) ||
		    !ov_buf_str(o, &msg, "\" conflict because ") ||
		    !ov_buf_str(o, &msg, sub->v[i].reason))
			return;
		if (msg.len > OV_MAX_DETAIL)
			break;
	}
	struct ov_buf reason = {0};
	if (!ov_buf_abbrev(o, &reason, msg.p))
		return;
	struct ov_conflict k = {.rn = rn, .reason = reason.p};
	k.f1 = ov_conflict_nodes(o, n1, sub, true, &k.n1);
	k.f2 = ov_conflict_nodes(o, n2, sub, false, &k.n2);
	if (k.f1 && k.f2)
		ov_push(o, out, &k);
}

/* graphql-js findConflict. */
static void ov_find_conflict(struct ov *o, struct ov_clist *out, bool parents_excl, const char *rn,
			     struct ov_field *f1, struct ov_field *f2)
{
	const struct gql_named_type *p1 = f1->parent, *p2 = f2->parent;
	bool excl = parents_excl || (p1 != p2 && p1 && p2 && p1->kind == GQL_OBJECT &&
				     p2->kind == GQL_OBJECT);
	if (!ov_spend(o, 2))
		return;
	const struct gql_type_ref *t1 = f1->def ? f1->def->type : NULL;
	const struct gql_type_ref *t2 = f2->def ? f2->def->type : NULL;
	const struct gql_selection *n1 = f1->node, *n2 = f2->node;
	if (f1->simple_leaf && f2->simple_leaf && ov_type_id(t1) == ov_type_id(t2) &&
	    strcmp(n1->name, n2->name) == 0)
		return;
	if (!excl) {
		ov_field_info(o, f1);
		ov_field_info(o, f2);
		if (ov_stop(o))
			return;
		static const char no_conflict[] = "";
		const char *reason = ov_get(o, f1, f2, OV_REASON);
		if (!reason) {
			if (strcmp(n1->name, n2->name) != 0) {
				struct ov_buf b = {0};
				if (!ov_buf_str(o, &b, "\"") || !ov_buf_abbrev(o, &b, n1->name) ||
				    !ov_buf_str(o, &b, "\" and \"") || !ov_buf_abbrev(o, &b, n2->name) ||
				    !ov_buf_str(o, &b, "\" are different fields"))
					return;
				reason = b.p;
			} else {
				bool same = ov_same_args(o, f1, f2);
				if (ov_stop(o))
					return;
				reason = same ? no_conflict : "they have differing arguments";
			}
			if (!ov_set(o, f1, f2, OV_REASON, (void *)reason))
				return;
		}
		if (reason != no_conflict) {
			ov_push_pair(o, out, rn, reason, n1, n2);
			return;
		}
	}
	if (t1 && t2) {
		bool conflict = ov_types_conflict(o, t1, t2);
		if (ov_stop(o))
			return;
		if (conflict) {
			const char *s1 = ov_type_string(o, f1), *s2 = ov_type_string(o, f2);
			struct ov_buf b = {0};
			if (!s1 || !s2 || !ov_buf_str(o, &b, "they return conflicting types \"") ||
			    !ov_buf_str(o, &b, s1) || !ov_buf_str(o, &b, "\" and \"") ||
			    !ov_buf_str(o, &b, s2) || !ov_buf_str(o, &b, "\""))
				return;
			ov_push_pair(o, out, rn, b.p, n1, n2);
			return;
		}
	}
	if (n1->has_selections && n2->has_selections) {
		ov_field_info(o, f1);
		ov_field_info(o, f2);
		if (ov_stop(o))
			return;
		if (++o->nesting > OV_MAX_NESTING) {
			o->aborted = true;
			return;
		}
		struct ov_clist sub = {0};
		ov_between_sub_sets(o, &sub, excl, f1->named, n1->selections, f2->named,
				    n2->selections);
		o->nesting--;
		if (!ov_stop(o) && sub.total)
			ov_subfield_conflict(o, out, rn, &sub, n1, n2);
	}
}

/* graphql-js getOverlappingFields. */
static const struct ov_overlap *ov_overlapping(struct ov *o, struct ov_collect *c1,
					       struct ov_collect *c2)
{
	struct ov_overlap *r = ov_get(o, c1, c2, OV_OVERLAP);
	if (r)
		return r;
	size_t n = 0;
	for (struct ov_group *g = c1->groups; g; g = g->next) {
		if (!ov_spend(o, 1))
			return NULL;
		if (ov_get(o, c2, g->name, OV_GROUP))
			n++;
	}
	r = ov_alloc(o, sizeof(*r));
	if (!r)
		return NULL;
	if (n) {
		r->g1 = ov_alloc(o, n * sizeof(*r->g1));
		r->g2 = ov_alloc(o, n * sizeof(*r->g2));
		if (!r->g1 || !r->g2)
			return NULL;
	}
	for (struct ov_group *g = c1->groups; g; g = g->next) {
		struct ov_group *g2 = ov_get(o, c2, g->name, OV_GROUP);
		if (g2) {
			r->g1[r->n] = g;
			r->g2[r->n++] = g2;
		}
	}
	if (!ov_set(o, c1, c2, OV_OVERLAP, r))
		return NULL;
	return r;
}

/* graphql-js collectConflictsBetween. */
static void ov_between(struct ov *o, struct ov_clist *out, bool excl, struct ov_collect *c1,
		       struct ov_collect *c2)
{
	if (c1->ngroups == 0 || c2->ngroups == 0)
		return;
	const struct ov_overlap *ovl = ov_overlapping(o, c1, c2);
	if (!ovl)
		return;
	for (size_t i = 0; i < ovl->n; i++)
		for (size_t a = 0; a < ovl->g1[i]->n; a++)
			for (size_t b = 0; b < ovl->g2[i]->n; b++) {
				ov_find_conflict(o, out, excl, ovl->g1[i]->name, ovl->g1[i]->f[a],
						 ovl->g2[i]->f[b]);
				if (ov_stop(o))
					return;
			}
}

/* Memo values: absent, or compared non-exclusively / exclusively. */
#define OV_FALSE ((void *)1)
#define OV_TRUE ((void *)2)

/* graphql-js collectConflictsBetweenFieldsAndFragment (steps D, E). */
static void ov_fields_and_fragment(struct ov *o, struct ov_clist *out, bool excl,
				   struct ov_collect *c, const char *name)
{
	if (!ov_spend(o, 1))
		return;
	if (c->ngroups == 0)
		return;
	void *compared = ov_get(o, c, name, OV_CMPFRAG);
	if (compared == OV_FALSE || (excl && compared == OV_TRUE))
		return;
	if (!ov_set(o, c, name, OV_CMPFRAG, excl ? OV_TRUE : OV_FALSE))
		return;
	const struct gql_definition *f = ov_fragment(o, name);
	if (!f)
		return;
	struct ov_collect *c2 = ov_collect_fragment(o, f);
	if (!c2 || c == c2)
		return;
	if (++o->nesting > OV_MAX_NESTING) {
		o->aborted = true;
		return;
	}
	ov_between(o, out, excl, c, c2);
	for (size_t i = 0; i < c2->nfrags && !ov_stop(o); i++)
		ov_fields_and_fragment(o, out, excl, c, c2->frags[i]);
	o->nesting--;
}

/* graphql-js PairSet.has */
static bool ov_pair_has(struct ov *o, const char *a, const char *b, bool weak)
{
	for (int k = 0; k < 2; k++) {
		void *r = k ? ov_get(o, b, a, OV_PAIR) : ov_get(o, a, b, OV_PAIR);
		if (r && (weak || r == OV_FALSE))
			return true;
	}
	return false;
}

/* graphql-js collectConflictsBetweenFragments (steps F, G). */
static void ov_fragments(struct ov *o, struct ov_clist *out, bool excl, const char *n1,
			 const char *n2)
{
	if (!ov_spend(o, 2))
		return;
	if (n1 == n2 || ov_pair_has(o, n1, n2, excl))
		return;
	if (!ov_set(o, n1, n2, OV_PAIR, excl ? OV_TRUE : OV_FALSE))
		return;
	const struct gql_definition *f1 = ov_fragment(o, n1), *f2 = ov_fragment(o, n2);
	if (!f1 || !f2)
		return;
	struct ov_collect *c1 = ov_collect_fragment(o, f1);
	struct ov_collect *c2 = c1 ? ov_collect_fragment(o, f2) : NULL;
	if (!c2)
		return;
	if (++o->nesting > OV_MAX_NESTING) {
		o->aborted = true;
		return;
	}
	ov_between(o, out, excl, c1, c2);
	for (size_t i = 0; i < c2->nfrags && !ov_stop(o); i++)
		ov_fragments(o, out, excl, n1, c2->frags[i]);
	for (size_t i = 0; i < c1->nfrags && !ov_stop(o); i++)
		ov_fragments(o, out, excl, c1->frags[i], n2);
	o->nesting--;
}

/* graphql-js findConflictsWithinSelectionSet (steps A, B, C) and the
 * report of what it finds. */
static void ov_check_set(struct ov *o, const struct gql_named_type *parent,
			 const struct gql_selection *sels)
{
	struct ov_clist out = {0};
	struct ov_collect *c = ov_collect(o, parent, sels);
	if (!c)
		return;
	for (struct ov_group *g = c->groups; g && !ov_stop(o); g = g->next)
		for (size_t i = 0; i < g->n && !ov_stop(o); i++)
			for (size_t j = i + 1; j < g->n && !ov_stop(o); j++)
				ov_find_conflict(o, &out, false, g->name, g->f[i], g->f[j]);
	if (c->nfrags && (c->ngroups || c->nfrags > 1))
		for (size_t i = 0; i < c->nfrags && !ov_stop(o); i++) {
			ov_fields_and_fragment(o, &out, false, c, c->frags[i]);
			for (size_t j = i + 1; j < c->nfrags && !ov_stop(o); j++)
				ov_fragments(o, &out, false, c->frags[i], c->frags[j]);
		}
	if (ov_stop(o))
		return;
	for (size_t i = 0; i < out.n; i++) {
		const struct ov_conflict *k = &out.v[i];
		struct ov_buf m = {0};
		struct gql_loc locs[2 * OV_MAX_NODES];
		size_t nl = 0;
		if (!ov_buf_str(o, &m, "Fields \"") || !ov_buf_abbrev(o, &m, k->rn) ||
		    !ov_buf_str(o, &m, "\" conflict because ") || !ov_buf_str(o, &m, k->reason) ||
		    !ov_buf_str(o, &m,
				". Use different aliases on the fields to fetch both if this was intentional."))
			return;
		for (size_t j = 0; j < k->n1; j++)
			locs[nl++] = k->f1[j]->loc;
		for (size_t j = 0; j < k->n2; j++)
			locs[nl++] = k->f2[j]->loc;
		report(o->c, locs, (unsigned)nl, "%s", m.p);
	}
}

/* The selection sets in the order graphql-js's visitor enters them, with
 * TypeInfo's parent type; the rule skips the set of an inline fragment
 * and a set of one selection that is not an inline fragment. */
static void ov_visit(struct ov *o, const struct gql_named_type *parent,
		     const struct gql_selection *sels, bool inline_set)
{
	if (!inline_set && sels && (sels->next || sels->kind == GQL_SEL_INLINE))
		ov_check_set(o, parent, sels);
	for (const struct gql_selection *s = sels; s && !ov_stop(o); s = s->next) {
		if (s->kind == GQL_SEL_FIELD && s->has_selections) {
			const struct gql_field *fd = gql_type_field(o->c->s, parent, s->name);
			const struct gql_named_type *t = fd ? gql_named(fd->type) : NULL;
			ov_visit(o, gql_is_composite(t) ? t : NULL, s->selections, false);
		} else if (s->kind == GQL_SEL_INLINE) {
			const struct gql_named_type *t =
				s->type_condition ? gql_schema_type(o->c->s, s->type_condition) : parent;
			ov_visit(o, gql_is_composite(t) ? t : NULL, s->selections, true);
		}
	}
}

static bool ov_init(struct ov *o, struct vctx *c)
{
	memset(o, 0, sizeof(*o));
	o->c = c;
	o->a = &c->scratch;
	o->budget = OV_BUDGET;
	for (const struct gql_definition *d = c->doc->definitions; d; d = d->next) {
		if (d->kind != GQL_DEF_FRAGMENT)
			continue;
		const char *n = ov_intern(o, d->name);
		if (!n || !ov_set(o, n, NULL, OV_FRAGDEF, (void *)d))
			return false;
	}
	return true;
}

/* ---- introspection depth: graphql-js's MaxIntrospectionDepthRule ----
 *
 * Under each __schema or __type field (anywhere, in document order), a
 * third nesting of the introspection lists fields, interfaces,
 * possibleTypes or inputFields, fragments followed, is an error on that
 * field, whose selections the rule then skips. Fragments: the smallest
 * entry depths that reached the limit or were checked hold for the whole
 * document, the ones visited for one check only (values: depth + 1). */

#define INTRO_MAX_LISTS 3
#define INTRO_MAX_NESTING 10000 /* recursion guard (graphql-js: the JS stack) */

struct intro {
	struct ov *o;
	uintptr_t check; /* which check the visited entries belong to */
	unsigned nesting;
};

static bool intro_depth(struct intro *st, const struct gql_selection *sels, unsigned depth);

static bool intro_spread(struct intro *st, const char *fname, unsigned depth)
{
	struct ov *o = st->o;
	const char *name = ov_intern(o, fname);
	if (!name)
		return false;
	uintptr_t ex = (uintptr_t)ov_get(o, name, NULL, OV_EXCEEDED);
	if (ex && ex - 1 <= depth)
		return true;
	uintptr_t vis = (uintptr_t)ov_get(o, name, (void *)st->check, OV_VISITED);
	uintptr_t chk = (uintptr_t)ov_get(o, name, NULL, OV_CHECKED);
	if ((vis && vis - 1 >= depth) || (chk && chk - 1 >= depth))
		return false;
	const struct gql_definition *f = ov_fragment(o, name);
	if (!f || !ov_set(o, name, (void *)st->check, OV_VISITED, (void *)(uintptr_t)(depth + 1)))
		return false;
	if (intro_depth(st, f->selections, depth)) {
		(void)ov_set(o, name, NULL, OV_EXCEEDED, (void *)(uintptr_t)(depth + 1));
		return true;
	}
	(void)ov_set(o, name, NULL, OV_CHECKED, (void *)(uintptr_t)(depth + 1));
	return false;
}

static bool intro_is_list(const char *n)
{
	return strcmp(n, "fields") == 0 || strcmp(n, "interfaces") == 0 ||
	       strcmp(n, "possibleTypes") == 0 || strcmp(n, "inputFields") == 0;
}

/* graphql-js checkDepth over the selections of a node at depth. */
static bool intro_depth(struct intro *st, const struct gql_selection *sels, unsigned depth)
{
	if (++st->nesting > INTRO_MAX_NESTING || st->o->c->oom) {
		st->nesting--;
		return false;
	}
	bool hit = false;
	for (const struct gql_selection *s = sels; s && !hit; s = s->next) {
		if (s->kind == GQL_SEL_SPREAD) {
			hit = intro_spread(st, s->name, depth);
		} else if (s->kind == GQL_SEL_FIELD && intro_is_list(s->name)) {
			hit = depth + 1 >= INTRO_MAX_LISTS ||
			      (s->has_selections && intro_depth(st, s->selections, depth + 1));
		} else if (s->selections) {
			hit = intro_depth(st, s->selections, depth);
		}
	}
	st->nesting--;
	return hit;
}

static void intro_walk(struct intro *st, const struct gql_selection *sels)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (s->kind == GQL_SEL_FIELD &&
		    (strcmp(s->name, "__schema") == 0 || strcmp(s->name, "__type") == 0)) {
			st->check++;
			if (s->has_selections && intro_depth(st, s->selections, 0)) {
				REPORT1(st->o->c, s->loc, "Maximum introspection depth exceeded");
				continue;
			}
		}
		if (s->kind != GQL_SEL_SPREAD && s->selections)
			intro_walk(st, s->selections);
	}
}

/* ---- fragments reached from a definition ---- */

static void reach(struct vctx *c, const struct definfo *di, bool *reached)
{
	for (const struct spread_rec *r = di->spreads; r; r = r->next) {
		const struct gql_definition *f = find_fragment(c, r->sel->name);
		if (!f)
			continue;
		size_t idx = (size_t)(info_of(c, f) - c->defs);
		if (reached[idx])
			continue;
		reached[idx] = true;
		reach(c, &c->defs[idx], reached);
	}
}

/* graphql-js getFragmentSpreads: spreads of a selection set, not following
 * fragments, in its stack order. */
static size_t direct_spreads(const struct gql_selection *sels, const struct gql_selection **out,
			     size_t cap)
{
	const struct gql_selection *stack[256];
	size_t sp = 0, n = 0;
	stack[sp++] = sels;
	while (sp) {
		const struct gql_selection *set = stack[--sp];
		for (const struct gql_selection *s = set; s; s = s->next) {
			if (s->kind == GQL_SEL_SPREAD) {
				if (n < cap)
					out[n++] = s;
			} else if (s->selections && sp < 256) {
				stack[sp++] = s->selections;
			}
		}
	}
	return n;
}

struct cycle_state {
	const struct gql_selection *path[128];
	size_t depth;
	const char *visited[512];
	size_t nvisited;
	const char *on_path[128];
	size_t path_index[128];
	size_t non_path;
};

static void detect_cycles(struct vctx *c, struct cycle_state *st, const struct gql_definition *f)
{
	for (size_t i = 0; i < st->nvisited; i++)
		if (strcmp(st->visited[i], f->name) == 0)
			return;
	if (st->nvisited < 512)
		st->visited[st->nvisited++] = f->name;
	const struct gql_selection *sp[256];
	size_t ns = direct_spreads(f->selections, sp, 256);
	if (ns == 0 || st->non_path >= 128)
		return;
	st->on_path[st->non_path] = f->name;
	st->path_index[st->non_path] = st->depth;
	st->non_path++;
	for (size_t i = 0; i < ns && st->depth < 128; i++) {
		const char *name = sp[i]->name;
		long cycle_index = -1;
		for (size_t k = 0; k < st->non_path; k++)
			if (strcmp(st->on_path[k], name) == 0)
				cycle_index = (long)st->path_index[k];
		st->path[st->depth++] = sp[i];
		if (cycle_index < 0) {
			const struct gql_definition *g = find_fragment(c, name);
			if (g)
				detect_cycles(c, st, g);
		} else {
			char msg[600], via[400] = "";
			size_t o = 0;
			for (size_t k = (size_t)cycle_index; k + 1 < st->depth && o < sizeof(via); k++)
				o += (size_t)snprintf(via + o, sizeof(via) - o, "%s\"%s\"",
						      k == (size_t)cycle_index ? "" : ", ", st->path[k]->name);
			if (via[0])
				snprintf(msg, sizeof(msg), "Cannot spread fragment \"%s\" within itself via %s.",
					 name, via);
			else
				snprintf(msg, sizeof(msg), "Cannot spread fragment \"%s\" within itself.", name);
			struct gql_loc locs[GQL_MAX_LOCS];
			unsigned nl = 0;
			for (size_t k = (size_t)cycle_index; k < st->depth && nl < GQL_MAX_LOCS; k++)
				locs[nl++] = st->path[k]->loc;
			report(c, locs, nl, "%s", msg);
		}
		st->depth--;
	}
	st->non_path--;
}

/* ---- subscriptions: one root field ---- */

static void sub_fields(struct vctx *c, const struct gql_selection *sels,
		       const struct gql_selection **out, size_t *n, size_t cap,
		       const struct gql_definition **seen, size_t *nseen)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (s->kind == GQL_SEL_FIELD) {
			if (*n < cap)
				out[(*n)++] = s;
		} else if (s->kind == GQL_SEL_INLINE) {
			sub_fields(c, s->selections, out, n, cap, seen, nseen);
		} else {
			const struct gql_definition *f = find_fragment(c, s->name);
			bool done = !f;
			for (size_t i = 0; i < *nseen && !done; i++)
				done = seen[i] == f;
			if (done || *nseen >= 64)
				continue;
			seen[(*nseen)++] = f;
			sub_fields(c, f->selections, out, n, cap, seen, nseen);
		}
	}
}

static void check_subscription(struct vctx *c, const struct gql_definition *op)
{
	const struct gql_selection *f[128];
	const struct gql_definition *seen[64];
	size_t n = 0, nseen = 0;
	sub_fields(c, op->selections, f, &n, 128, seen, &nseen);
	char who[300];
	if (op->name)
		snprintf(who, sizeof(who), "Subscription \"%s\"", op->name);
	else
		snprintf(who, sizeof(who), "Anonymous Subscription");
	const char *first = n ? (f[0]->alias ? f[0]->alias : f[0]->name) : NULL;
	struct gql_loc extra[GQL_MAX_LOCS];
	unsigned nextra = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rk = f[i]->alias ? f[i]->alias : f[i]->name;
		if (strcmp(rk, first) != 0 && nextra < GQL_MAX_LOCS)
			extra[nextra++] = f[i]->loc;
	}
	if (nextra)
		report(c, extra, nextra, "%s must select only one top level field.", who);
	for (size_t i = 0; i < n; i++)
		if (strncmp(f[i]->name, "__", 2) == 0) {
			REPORT1(c, f[i]->loc, "%s must not select an introspection top level field.", who);
			break;
		}
}

/* ---- limits ---- */

struct limit_state {
	const struct gql_exec_limits *lim;
	unsigned max_seen_depth;
	unsigned fields;
	unsigned visits;
	bool over;
};

static void measure(struct vctx *c, struct limit_state *ls, const struct gql_selection *sels,
		    unsigned depth, unsigned frag_depth)
{
	for (const struct gql_selection *s = sels; s && !ls->over; s = s->next) {
		if (++ls->visits > 100000 || frag_depth > 64) {
			ls->over = true;
			return;
		}
		if (s->kind == GQL_SEL_FIELD) {
			ls->fields++;
			if (depth + 1 > ls->max_seen_depth)
				ls->max_seen_depth = depth + 1;
			if (ls->fields > ls->lim->max_fields || ls->max_seen_depth > ls->lim->max_depth) {
				ls->over = true;
				return;
			}
			if (s->has_selections)
				measure(c, ls, s->selections, depth + 1, frag_depth);
		} else if (s->kind == GQL_SEL_INLINE) {
			measure(c, ls, s->selections, depth, frag_depth);
		} else {
			const struct gql_definition *f = find_fragment(c, s->name);
			if (f)
				measure(c, ls, f->selections, depth, frag_depth + 1);
		}
	}
}

/* ---- the whole document ---- */

size_t gql_validate(const struct gql_schema *s, struct gql_document *doc,
		    const struct gql_exec_limits *limits, struct gql_verrors *out)
{
	struct vctx c;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.doc = doc;
	c.out = out;
	gql_arena_init(&c.scratch, 64u << 20);
	if (!limits)
		limits = &gql_default_exec_limits;

	size_t nops = 0, ndefs = 0;
	for (struct gql_definition *d = doc->definitions; d; d = d->next) {
		ndefs++;
		if (d->kind == GQL_DEF_OPERATION)
			nops++;
	}
	c.defs = gql_arena_alloc(&c.scratch, (ndefs ? ndefs : 1) * sizeof(*c.defs));
	if (!c.defs) {
		c.oom = true;
		goto done;
	}
	for (struct gql_definition *d = doc->definitions; d; d = d->next) {
		struct definfo *di = &c.defs[c.ndefs++];
		di->def = d;
		di->usages_tail = &di->usages;
		di->spreads_tail = &di->spreads;
	}

	struct ov ov;
	if (!ov_init(&ov, &c)) {
		c.oom = true;
		goto done;
	}
	struct intro intro = {.o = &ov};

	/* definition-level rules, then the walk */
	for (size_t i = 0; i < c.ndefs; i++) {
		struct gql_definition *d = c.defs[i].def;
		struct definfo *di = &c.defs[i];
		if (d->kind != GQL_DEF_OPERATION && d->kind != GQL_DEF_FRAGMENT) {
			if (d->kind == GQL_DEF_SCHEMA)
				REPORT1(&c, d->loc, "The schema definition is not executable.");
			else
				REPORT1(&c, d->loc, "The \"%s\" definition is not executable.", d->name);
			continue;
		}
		if (d->kind == GQL_DEF_FRAGMENT) {
			for (size_t j = 0; j < i; j++) {
				const struct gql_definition *e = c.defs[j].def;
				if (e->kind == GQL_DEF_FRAGMENT && strcmp(e->name, d->name) == 0) {
					char m[300];
					snprintf(m, sizeof(m), "There can be only one fragment named \"%s\".",
						 d->name);
					report2(&c, e->name_loc, d->name_loc, m);
					break;
				}
			}
			struct gql_named_type *t = lookup_type(&c, d->type_condition, d->type_condition_loc);
			if (t && !gql_is_composite(t))
				REPORT1(&c, d->type_condition_loc,
					"Fragment \"%s\" cannot condition on non composite type \"%s\".", d->name,
					t->name);
			check_directives(&c, di, d->directives, GQL_LOC_FRAGMENT_DEFINITION);
			walk_selections(&c, di, gql_is_composite(t) ? t : NULL, d->selections);
			ov_visit(&ov, gql_is_composite(t) ? t : NULL, d->selections, false);
			intro_walk(&intro, d->selections);
			if (ov.aborted)
				break;
			continue;
		}
		/* operation */
		if (d->name) {
			for (size_t j = 0; j < i; j++) {
				const struct gql_definition *e = c.defs[j].def;
				if (e->kind == GQL_DEF_OPERATION && e->name && strcmp(e->name, d->name) == 0) {
					char m[300];
					snprintf(m, sizeof(m), "There can be only one operation named \"%s\".",
						 d->name);
					report2(&c, e->name_loc, d->name_loc, m);
					break;
				}
			}
		} else if (nops > 1) {
			REPORT1(&c, d->loc, "This anonymous operation must be the only defined operation.");
		}
		for (struct gql_variable_def *v = d->variables; v; v = v->next) {
			bool first = true;
			for (struct gql_variable_def *w = d->variables; w != v; w = w->next)
				if (strcmp(w->name, v->name) == 0)
					first = false;
			if (first) {
				struct gql_loc locs[GQL_MAX_LOCS];
				unsigned nl = 0;
				for (struct gql_variable_def *w = v; w; w = w->next)
					if (strcmp(w->name, v->name) == 0 && nl < GQL_MAX_LOCS)
						locs[nl++] = w->name_loc;
				if (nl > 1)
					report(&c, locs, nl, "There can be only one variable named \"$%s\".",
					       v->name);
			}
			const char *unknown = NULL;
			bool known = gql_resolve_type(s, v->type, &unknown);
			if (!known) {
				/* the named type node's location */
				const struct gql_type_ref *n = v->type;
				while (n->kind != GQL_T_NAMED)
					n = n->of;
				char dym[512];
				suggest_types(s, unknown, dym, sizeof(dym));
				REPORT1(&c, n->loc, "Unknown type \"%s\".%s", unknown, dym);
			} else if (!gql_is_input_type(v->type)) {
				char ts[256];
				type_str(v->type, ts, sizeof(ts));
				REPORT1(&c, v->type->loc, "Variable \"$%s\" cannot be non-input type \"%s\".",
					v->name, ts);
			}
			if (v->default_value)
				check_value(&c, NULL, v->default_value,
					    known && gql_is_input_type(v->type) ? v->type : NULL, false, true);
			check_directives(&c, di, v->directives, GQL_LOC_VARIABLE_DEFINITION);
		}
		struct gql_named_type *root = d->operation == GQL_OP_QUERY      ? s->query
					      : d->operation == GQL_OP_MUTATION ? s->mutation
										: s->subscription;
		enum gql_dir_location where = d->operation == GQL_OP_QUERY      ? GQL_LOC_QUERY
					      : d->operation == GQL_OP_MUTATION ? GQL_LOC_MUTATION
										: GQL_LOC_SUBSCRIPTION;
		check_directives(&c, di, d->directives, where);
		walk_selections(&c, di, root, d->selections);
		ov_visit(&ov, root, d->selections, false);
		intro_walk(&intro, d->selections);
		if (ov.aborted)
			break;
		if (d->operation == GQL_OP_SUBSCRIPTION)
			check_subscription(&c, d);
	}
	if (c.oom)
		goto done;
	if (ov.aborted) {
		/* graphql-js: the errors so far, then this one; no more rules */
		struct gql_verror *e = out->n <= GQL_MAX_ERRORS ? append_error(out) : NULL;
		static const char m[] = "Validation aborted.";
		if (e)
			set_message(out, e, m, sizeof(m) - 1);
		goto done;
	}

	/* fragments: reachability, unused, cycles */
	bool *used = gql_arena_alloc(&c.scratch, c.ndefs * sizeof(bool) + 1);
	bool *reached = gql_arena_alloc(&c.scratch, c.ndefs * sizeof(bool) + 1);
	struct cycle_state *cs = gql_arena_alloc(&c.scratch, sizeof(*cs));
	if (!used || !reached || !cs) {
		c.oom = true;
		goto done;
	}
	for (size_t i = 0; i < c.ndefs; i++) {
		struct definfo *di = &c.defs[i];
		if (di->def->kind != GQL_DEF_OPERATION)
			continue;
		memset(reached, 0, c.ndefs * sizeof(bool));
		reach(&c, di, reached);
		const struct gql_definition *op = di->def;
		/* usages: the operation's, then its fragments' */
		for (size_t k = 0; k <= c.ndefs; k++) {
			const struct definfo *src = k == 0 ? di : &c.defs[k - 1];
			if (k > 0 && !reached[k - 1])
				continue;
			for (const struct usage *u = src->usages; u; u = u->next) {
				const struct gql_variable_def *vd = op->variables;
				while (vd && strcmp(vd->name, u->name) != 0)
					vd = vd->next;
				if (!vd) {
					char m[400];
					if (op->name)
						snprintf(m, sizeof(m),
							 "Variable \"$%s\" is not defined by operation \"%s\".",
							 u->name, op->name);
					else
						snprintf(m, sizeof(m), "Variable \"$%s\" is not defined.", u->name);
					report2(&c, u->loc, op->loc, m);
					continue;
				}
				if (!u->type || !gql_resolve_type(s, vd->type, NULL))
					continue;
				const struct gql_type_ref *vt = vd->type, *lt = u->type;
				bool ok;
				if (lt->kind == GQL_T_NON_NULL && vt->kind != GQL_T_NON_NULL) {
					bool var_default = vd->default_value && vd->default_value->kind != GQL_V_NULL;
					ok = (var_default || u->has_default) && gql_type_sub(vt, lt->of);
				} else {
					ok = gql_type_sub(vt, lt);
				}
				if (!ok) {
					char m[600], a[200], b[200];
					type_str(vt, a, sizeof(a));
					type_str(lt, b, sizeof(b));
					snprintf(m, sizeof(m),
						 "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
						 u->name, a, b);
					report2(&c, vd->loc, u->loc, m);
				}
			}
		}
		for (const struct gql_variable_def *vd = op->variables; vd; vd = vd->next) {
			bool is_used = false;
			for (size_t k = 0; k <= c.ndefs && !is_used; k++) {
				const struct definfo *src = k == 0 ? di : &c.defs[k - 1];
				if (k > 0 && !reached[k - 1])
					continue;
				for (const struct usage *u = src->usages; u && !is_used; u = u->next)
					is_used = strcmp(u->name, vd->name) == 0;
			}
			if (!is_used) {
				if (op->name)
					REPORT1(&c, vd->loc, "Variable \"$%s\" is never used in operation \"%s\".",
						vd->name, op->name);
				else
					REPORT1(&c, vd->loc, "Variable \"$%s\" is never used.", vd->name);
			}
		}
		for (size_t k = 0; k < c.ndefs; k++)
			used[k] = used[k] || reached[k];
	}
	for (size_t i = 0; i < c.ndefs; i++) {
		const struct gql_definition *d = c.defs[i].def;
		if (d->kind == GQL_DEF_FRAGMENT && !used[i])
			REPORT1(&c, d->loc, "Fragment \"%s\" is never used.", d->name);
	}
	for (size_t i = 0; i < c.ndefs; i++)
		if (c.defs[i].def->kind == GQL_DEF_FRAGMENT)
			detect_cycles(&c, cs, c.defs[i].def);

	/* limits, on a document otherwise valid */
	if (out->n == 0) {
		for (size_t i = 0; i < c.ndefs; i++) {
			const struct gql_definition *d = c.defs[i].def;
			if (d->kind != GQL_DEF_OPERATION)
				continue;
			struct limit_state ls = {.lim = limits};
			measure(&c, &ls, d->selections, 0, 0);
			if (ls.over) {
				if (ls.max_seen_depth > limits->max_depth)
					REPORT1(&c, d->loc,
						"Operation is nested deeper than the limit of %u levels.",
						limits->max_depth);
				else
					REPORT1(&c, d->loc,
						"Operation selects more than the limit of %u fields (fragments counted where they are spread).",
						limits->max_fields);
			}
		}
	}
done:
	if (c.oom) {
		struct gql_verror *e = add_error(&c);
		static const char m[] = "Document too large to validate: out of memory.";
		if (e)
			set_message(out, e, m, sizeof(m) - 1);
	}
	gql_arena_free(&c.scratch);
	return out->n;
}
