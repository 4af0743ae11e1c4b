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
}

static struct gql_verror *add_error(struct vctx *c)
{
	struct gql_verrors *o = c->out;
	if (o->n >= GQL_MAX_ERRORS + 1)
		return NULL;
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
	if (o->n == GQL_MAX_ERRORS + 1) {
		snprintf(e->message, sizeof(e->message),
			 "Too many validation errors, error limit reached. Validation aborted.");
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
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < nlocs && i < GQL_MAX_LOCS; i++)
		e->locs[e->nlocs++] = locs[i];
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

/* ---- overlapping fields (the common cases of OverlappingFieldsCanBeMerged) ---- */

struct fentry {
	const struct gql_selection *sel;
	const struct gql_named_type *parent;
	const struct gql_field *def;
};

static void collect_fields(struct vctx *c, const struct gql_named_type *parent,
			   const struct gql_selection *sels, struct fentry *out, size_t *n, size_t cap,
			   const struct gql_definition **seen, size_t *nseen)
{
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (s->kind == GQL_SEL_FIELD) {
			if (*n < cap) {
				out[*n].sel = s;
				out[*n].parent = parent;
				out[*n].def = parent ? gql_type_field(c->s, parent, s->name) : NULL;
				(*n)++;
			}
		} else if (s->kind == GQL_SEL_INLINE) {
			const struct gql_named_type *t =
				s->type_condition ? gql_schema_type(c->s, s->type_condition) : parent;
			collect_fields(c, t, s->selections, out, n, cap, seen, nseen);
		} else {
			const struct gql_definition *f = find_fragment(c, s->name);
			bool done = !f;
			for (size_t i = 0; i < *nseen && !done; i++)
				done = seen[i] == f;
			if (done || *nseen >= 64)
				continue;
			seen[(*nseen)++] = f;
			collect_fields(c, gql_schema_type(c->s, f->type_condition), f->selections, out, n,
				       cap, seen, nseen);
		}
	}
}

static bool same_args(const struct gql_argument *a, const struct gql_argument *b)
{
	size_t na = 0, nb = 0;
	for (const struct gql_argument *x = a; x; x = x->next)
		na++;
	for (const struct gql_argument *x = b; x; x = x->next)
		nb++;
	if (na != nb)
		return false;
	for (const struct gql_argument *x = a; x; x = x->next) {
		const struct gql_argument *y = b;
		while (y && strcmp(x->name, y->name) != 0)
			y = y->next;
		if (!y)
			return false;
		char vx[512], vy[512];
		gql_print_value(x->value, vx, sizeof(vx));
		gql_print_value(y->value, vy, sizeof(vy));
		if (strcmp(vx, vy) != 0)
			return false;
	}
	return true;
}

static bool types_conflict(const struct gql_type_ref *a, const struct gql_type_ref *b)
{
	if (a->kind == GQL_T_LIST || b->kind == GQL_T_LIST)
		return a->kind != b->kind || types_conflict(a->of, b->of);
	if (a->kind == GQL_T_NON_NULL || b->kind == GQL_T_NON_NULL)
		return a->kind != b->kind || types_conflict(a->of, b->of);
	const struct gql_named_type *x = a->resolved, *y = b->resolved;
	if (gql_is_leaf(x) || gql_is_leaf(y))
		return x != y;
	return false;
}

static void check_overlaps(struct vctx *c, const struct gql_named_type *parent,
			   const struct gql_selection *sels)
{
	struct fentry f[256];
	const struct gql_definition *seen[64];
	size_t n = 0, nseen = 0;
	collect_fields(c, parent, sels, f, &n, 256, seen, &nseen);
	for (size_t i = 0; i < n; i++) {
		const char *ri = f[i].sel->alias ? f[i].sel->alias : f[i].sel->name;
		for (size_t j = 0; j < i; j++) {
			const char *rj = f[j].sel->alias ? f[j].sel->alias : f[j].sel->name;
			if (strcmp(ri, rj) != 0)
				continue;
			bool exclusive = f[i].parent != f[j].parent && f[i].parent && f[j].parent &&
					 f[i].parent->kind == GQL_OBJECT && f[j].parent->kind == GQL_OBJECT;
			char m[600];
			m[0] = '\0';
			if (!exclusive && strcmp(f[i].sel->name, f[j].sel->name) != 0)
				snprintf(m, sizeof(m),
					 "Fields \"%s\" conflict because \"%s\" and \"%s\" are different fields. Use different aliases on the fields to fetch both if this was intentional.",
					 ri, f[j].sel->name, f[i].sel->name);
			else if (!exclusive && !same_args(f[i].sel->args, f[j].sel->args))
				snprintf(m, sizeof(m),
					 "Fields \"%s\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.",
					 ri);
			else if (f[i].def && f[j].def && types_conflict(f[j].def->type, f[i].def->type)) {
				char t1[128], t2[128];
				type_str(f[j].def->type, t1, sizeof(t1));
				type_str(f[i].def->type, t2, sizeof(t2));
				snprintf(m, sizeof(m),
					 "Fields \"%s\" conflict because they return conflicting types \"%s\" and \"%s\". Use different aliases on the fields to fetch both if this was intentional.",
					 ri, t1, t2);
			}
			if (m[0]) {
				report2(c, f[j].sel->loc, f[i].sel->loc, m);
				goto next_i;
			}
		}
	next_i:;
	}
	/* nested selection sets */
	for (const struct gql_selection *s = sels; s; s = s->next) {
		if (s->kind == GQL_SEL_FIELD && s->has_selections) {
			const struct gql_field *fd = parent ? gql_type_field(c->s, parent, s->name) : NULL;
			const struct gql_named_type *t = fd ? gql_named(fd->type) : NULL;
			check_overlaps(c, gql_is_composite(t) ? t : NULL, s->selections);
		} else if (s->kind == GQL_SEL_INLINE) {
			/* its fields were collected with the parent's; check deeper sets */
			const struct gql_named_type *t =
				s->type_condition ? gql_schema_type(c->s, s->type_condition) : parent;
			for (const struct gql_selection *x = s->selections; x; x = x->next)
				if (x->kind == GQL_SEL_FIELD && x->has_selections) {
					const struct gql_field *fd = t ? gql_type_field(c->s, t, x->name) : NULL;
					const struct gql_named_type *xt = fd ? gql_named(fd->type) : NULL;
					check_overlaps(c, gql_is_composite(xt) ? xt : NULL, x->selections);
				}
		}
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
			check_overlaps(&c, gql_is_composite(t) ? t : NULL, d->selections);
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
		check_overlaps(&c, root, d->selections);
		if (d->operation == GQL_OP_SUBSCRIPTION)
			check_subscription(&c, d);
	}
	if (c.oom)
		goto done;

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
		if (e)
			snprintf(e->message, sizeof(e->message), "Document too large to validate: out of memory.");
	}
	gql_arena_free(&c.scratch);
	return out->n;
}
