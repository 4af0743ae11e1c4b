/* core/partition/partition.c — see partition.h. */
#include "core/partition/partition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strata/error.h"

const char *part_strategy_name(enum part_strategy s)
{
	switch (s) {
	case PART_RANGE: return "range";
	case PART_LIST: return "list";
	case PART_HASH: return "hash";
	case PART_COMPOSITE: return "composite";
	}
	return "?";
}

int part_strategy_parse(const char *s, enum part_strategy *out)
{
	static const enum part_strategy all[] = {PART_RANGE, PART_LIST, PART_HASH, PART_COMPOSITE};
	for (size_t i = 0; s && i < 4; i++)
		if (strcasecmp(s, part_strategy_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return STRATA_EBAD_REQUEST;
}

bool part_name_ok(const char *name, size_t max)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* ---- values -------------------------------------------------------------- */

bool part_value_ok(const json_t *v)
{
	return json_is_integer(v) || json_is_string(v) ||
	       (json_is_real(v) && isfinite(json_real_value(v)));
}

/* An integral number as int64 (reals too, when exactly integral). */
static bool as_int(const json_t *v, long long *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	double d = json_real_value(v);
	if (json_is_real(v) && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
		*out = (long long)d;
		return true;
	}
	return false;
}

static long double as_ld(const json_t *v)
{
	return json_is_integer(v) ? (long double)json_integer_value(v) : (long double)json_real_value(v);
}

int part_value_cmp(const json_t *a, const json_t *b)
{
	bool as = json_is_string(a), bs = json_is_string(b);
	if (as != bs)
		return as ? 1 : -1;
	if (as) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
		return c ? c : la < lb ? -1 : la > lb;
	}
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return x < y ? -1 : x > y;
	}
	long double x = as_ld(a), y = as_ld(b);
	return x < y ? -1 : x > y;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t part_hash(const json_t *v)
{
	uint64_t h = 0xcbf29ce484222325ull;
	long long i;
	if (json_is_string(v)) {
		h = fnv(h, "s", 1);
		h = fnv(h, json_string_value(v), json_string_length(v));
	} else if (as_int(v, &i)) {
		unsigned char b[8];
		for (int k = 0; k < 8; k++)
			b[k] = (unsigned char)((unsigned long long)i >> (8 * k));
		h = fnv(h, "i", 1);
		h = fnv(h, b, 8);
	} else {
		double d = json_real_value(v);
		unsigned char b[8];
		memcpy(b, &d, 8);
		h = fnv(h, "f", 1);
		h = fnv(h, b, 8);
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

/* JSON equality with numbers by value. */
static bool value_eq(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return part_value_cmp(a, b) == 0;
	return json_equal((json_t *)a, (json_t *)b);
}

/* ---- definitions --------------------------------------------------------- */

void part_def_free(struct part_def *d)
{
	if (!d)
		return;
	json_decref(d->from);
	json_decref(d->to);
	json_decref(d->values);
	d->from = d->to = d->values = NULL;
}

static bool uses_range(const struct part_scheme *s)
{
	return s->strategy == PART_RANGE || s->strategy == PART_COMPOSITE;
}

static bool uses_hash(const struct part_scheme *s)
{
	return s->strategy == PART_HASH || s->strategy == PART_COMPOSITE;
}

static int get_bound(const json_t *def, const char *k, json_t **out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(def, k);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!part_value_ok(v)) {
		snprintf(msg, msglen, "definition field '%s' must be a number, a string or null", k);
		return STRATA_EBAD_REQUEST;
	}
	*out = json_incref(v);
	return 0;
}

static int get_u32(const json_t *def, const char *k, uint32_t min, uint32_t max, uint32_t *out,
		   char *msg, size_t msglen)
{
	json_t *v = json_object_get(def, k);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, msglen, "definition field '%s' must be an integer in %u..%u", k, min, max);
		return STRATA_EBAD_REQUEST;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int part_def_parse(const struct part_scheme *s, const char *name, const json_t *def,
		   struct part_def *out, char *msg, size_t msglen)
{
	memset(out, 0, sizeof(*out));
	if (!part_name_ok(name, PART_NAME_MAX)) {
		snprintf(msg, msglen, "partition name must be 1..%d characters of letters, digits, '_' "
			 "and '-' (no path separators or '..')", PART_NAME_MAX);
		return STRATA_EBAD_REQUEST;
	}
	memcpy(out->name, name, strlen(name) + 1);
	if (!json_is_object(def)) {
		snprintf(msg, msglen, "partition '%s': the definition must be an object", name);
		return STRATA_EBAD_REQUEST;
	}
	const char *allowed[6] = {0};
	size_t na = 0;
	json_t *dflt = json_object_get(def, "default");
	if (dflt && !json_is_boolean(dflt)) {
		snprintf(msg, msglen, "definition field 'default' must be true or false");
		return STRATA_EBAD_REQUEST;
	}
	out->is_default = json_is_true(dflt);
	allowed[na++] = "default";
	if (out->is_default) {
		if (s->strategy == PART_HASH) {
			snprintf(msg, msglen, "a hash-partitioned table cannot have a default partition");
			return STRATA_EBAD_REQUEST;
		}
	} else {
		if (uses_range(s)) {
			allowed[na++] = "from";
			allowed[na++] = "to";
		}
		if (s->strategy == PART_LIST)
			allowed[na++] = "values";
		if (uses_hash(s)) {
			allowed[na++] = "modulus";
			allowed[na++] = "remainder";
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)def, k, v) {
		bool ok = false;
		for (size_t i = 0; i < na; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok) {
			snprintf(msg, msglen, "partition '%s': field '%.40s' is not part of a %s%s definition",
				 name, k, out->is_default ? "default " : "", part_strategy_name(s->strategy));
			return STRATA_EBAD_REQUEST;
		}
	}
	if (out->is_default)
		return 0;
	int rv;
	if (uses_range(s)) {
		if ((rv = get_bound(def, "from", &out->from, msg, msglen)) ||
		    (rv = get_bound(def, "to", &out->to, msg, msglen)))
			goto fail;
		if (out->from && out->to && part_value_cmp(out->from, out->to) >= 0) {
			snprintf(msg, msglen, "partition '%s': 'from' must be below 'to' (from is inclusive, to exclusive)", name);
			rv = STRATA_EBAD_REQUEST;
			goto fail;
		}
	}
	if (s->strategy == PART_LIST) {
		json_t *vals = json_object_get(def, "values");
		size_t n = json_array_size(vals);
		if (!json_is_array(vals) || n == 0 || n > 10000) {
			snprintf(msg, msglen, "partition '%s': 'values' must be an array of 1..10000 numbers or strings", name);
			return STRATA_EBAD_REQUEST;
		}
		for (size_t i = 0; i < n; i++) {
			if (!part_value_ok(json_array_get(vals, i))) {
				snprintf(msg, msglen, "partition '%s': values[%zu] must be a number or a string", name, i);
				return STRATA_EBAD_REQUEST;
			}
			for (size_t j = 0; j < i; j++)
				if (part_value_cmp(json_array_get(vals, i), json_array_get(vals, j)) == 0) {
					snprintf(msg, msglen, "partition '%s': values[%zu] repeats values[%zu]", name, i, j);
					return STRATA_EBAD_REQUEST;
				}
		}
		out->values = json_deep_copy(vals);
		if (!out->values)
			return STRATA_ENOMEM;
	}
	if (uses_hash(s)) {
		if ((rv = get_u32(def, "modulus", 1, PART_MODULUS_MAX, &out->modulus, msg, msglen)) ||
		    (rv = get_u32(def, "remainder", 0, out->modulus - 1, &out->remainder, msg, msglen)))
			goto fail;
	}
	return 0;
fail:
	part_def_free(out);
	return rv;
}

json_t *part_def_json(const struct part_scheme *s, const struct part_def *d)
{
	if (d->is_default)
		return json_pack("{s:b}", "default", 1);
	json_t *j = json_object();
	if (!j)
		return NULL;
	if (uses_range(s)) {
		json_object_set_new(j, "from", d->from ? json_incref(d->from) : json_null());
		json_object_set_new(j, "to", d->to ? json_incref(d->to) : json_null());
	}
	if (s->strategy == PART_LIST)
		json_object_set_new(j, "values", json_incref(d->values));
	if (uses_hash(s)) {
		json_object_set_new(j, "modulus", json_integer(d->modulus));
		json_object_set_new(j, "remainder", json_integer(d->remainder));
	}
	return j;
}

/* ---- intervals ----------------------------------------------------------- */

/* lo/hi NULL = unbounded. Values are borrowed. */
struct ivl {
	const json_t *lo, *hi;
	bool lo_inc, hi_inc;
};

/* a ∩ b into out; false when empty. */
static bool ivl_meet(const struct ivl *a, const struct ivl *b, struct ivl *out)
{
	struct ivl r;
	if (!a->lo || (b->lo && part_value_cmp(b->lo, a->lo) > 0)) {
		r.lo = b->lo;
		r.lo_inc = b->lo_inc;
	} else if (b->lo && part_value_cmp(b->lo, a->lo) == 0) {
		r.lo = a->lo;
		r.lo_inc = a->lo_inc && b->lo_inc;
	} else {
		r.lo = a->lo;
		r.lo_inc = a->lo_inc;
	}
	if (!a->hi || (b->hi && part_value_cmp(b->hi, a->hi) < 0)) {
		r.hi = b->hi;
		r.hi_inc = b->hi_inc;
	} else if (b->hi && part_value_cmp(b->hi, a->hi) == 0) {
		r.hi = a->hi;
		r.hi_inc = a->hi_inc && b->hi_inc;
	} else {
		r.hi = a->hi;
		r.hi_inc = a->hi_inc;
	}
	if (r.lo && r.hi) {
		int c = part_value_cmp(r.lo, r.hi);
		if (c > 0 || (c == 0 && !(r.lo_inc && r.hi_inc)))
			return false;
	}
	if (out)
		*out = r;
	return true;
}

static bool ivl_point(const struct ivl *a)
{
	return a->lo && a->hi && a->lo_inc && a->hi_inc && part_value_cmp(a->lo, a->hi) == 0;
}

static bool ivl_has(const struct ivl *a, const json_t *v)
{
	struct ivl p = {v, v, true, true};
	return ivl_meet(a, &p, NULL);
}

/* ---- predicates ---------------------------------------------------------- */

enum pred_kind { P_EQ, P_NE, P_LT, P_LE, P_GT, P_GE, P_IN, P_BETWEEN };

struct pred {
	enum pred_kind kind;
	json_t *arg; /* owned */
};

struct colpred {
	char *col;
	struct pred *ops;
	size_t n;
};

struct part_where {
	struct colpred *cols;
	size_t n;
};

void part_where_free(struct part_where *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		for (size_t j = 0; j < w->cols[i].n; j++)
			json_decref(w->cols[i].ops[j].arg);
		free(w->cols[i].ops);
		free(w->cols[i].col);
	}
	free(w->cols);
	free(w);
}

static int parse_op(const char *col, const char *name, json_t *arg, struct pred *out, char *msg,
		    size_t msglen)
{
	static const struct {
		const char *name;
		enum pred_kind kind;
	} ops[] = {{"eq", P_EQ}, {"ne", P_NE}, {"lt", P_LT}, {"le", P_LE}, {"gt", P_GT},
		   {"ge", P_GE}, {"in", P_IN}, {"between", P_BETWEEN}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(name, ops[i].name) != 0)
			continue;
		out->kind = ops[i].kind;
		bool ok;
		switch (out->kind) {
		case P_EQ:
		case P_NE: ok = true; break;
		case P_IN: ok = json_is_array(arg); break;
		case P_BETWEEN:
			ok = json_is_array(arg) && json_array_size(arg) == 2 &&
			     part_value_ok(json_array_get(arg, 0)) && part_value_ok(json_array_get(arg, 1));
			break;
		default: ok = part_value_ok(arg); break;
		}
		if (!ok) {
			snprintf(msg, msglen, "where.%.60s.%s: %s", col, name,
				 out->kind == P_IN ? "must be an array"
				 : out->kind == P_BETWEEN ? "must be [low, high] (numbers or strings)"
							  : "must be a number or a string");
			return STRATA_EBAD_REQUEST;
		}
		out->arg = json_incref(arg);
		return 0;
	}
	snprintf(msg, msglen, "where.%.60s: unknown operator '%.20s' (eq, ne, lt, le, gt, ge, in, between)",
		 col, name);
	return STRATA_EBAD_REQUEST;
}

int part_where_parse(const json_t *where, struct part_where **out, char *msg, size_t msglen)
{
	*out = NULL;
	if (where && !json_is_null(where) && !json_is_object(where)) {
		snprintf(msg, msglen, "field 'where' must be an object {\"column\":{\"op\":value}}");
		return STRATA_EBAD_REQUEST;
	}
	struct part_where *w = calloc(1, sizeof(*w));
	size_t ncols = json_is_object(where) ? json_object_size(where) : 0;
	if (!w || (ncols && !(w->cols = calloc(ncols, sizeof(*w->cols))))) {
		free(w);
		return STRATA_ENOMEM;
	}
	const char *col;
	json_t *spec;
	int rv = 0;
	if (ncols)
		json_object_foreach((json_t *)where, col, spec) {
			struct colpred *cp = &w->cols[w->n++];
			cp->col = strdup(col);
			bool shorthand = !json_is_object(spec);
			size_t nops = shorthand ? 1 : json_object_size(spec);
			cp->ops = calloc(nops ? nops : 1, sizeof(*cp->ops));
			if (!cp->col || !cp->ops) {
				rv = STRATA_ENOMEM;
				break;
			}
			if (nops == 0) {
				snprintf(msg, msglen, "where.%.60s: no operator", col);
				rv = STRATA_EBAD_REQUEST;
				break;
			}
			if (shorthand) {
				cp->ops[0].kind = P_EQ;
				cp->ops[0].arg = json_incref(spec);
				cp->n = 1;
				continue;
			}
			const char *op;
			json_t *arg;
			json_object_foreach(spec, op, arg) {
				if ((rv = parse_op(col, op, arg, &cp->ops[cp->n], msg, msglen)))
					break;
				cp->n++;
			}
			if (rv)
				break;
		}
	if (rv) {
		part_where_free(w);
		return rv;
	}
	*out = w;
	return 0;
}

static bool ordered_pair(const json_t *a, const json_t *b)
{
	return (json_is_number(a) && json_is_number(b)) || (json_is_string(a) && json_is_string(b));
}

static bool op_match(const struct pred *p, const json_t *x)
{
	switch (p->kind) {
	case P_EQ: return value_eq(x, p->arg);
	case P_NE: return !value_eq(x, p->arg);
	case P_LT: return ordered_pair(x, p->arg) && part_value_cmp(x, p->arg) < 0;
	case P_LE: return ordered_pair(x, p->arg) && part_value_cmp(x, p->arg) <= 0;
	case P_GT: return ordered_pair(x, p->arg) && part_value_cmp(x, p->arg) > 0;
	case P_GE: return ordered_pair(x, p->arg) && part_value_cmp(x, p->arg) >= 0;
	case P_IN:
		for (size_t i = 0; i < json_array_size(p->arg); i++)
			if (value_eq(x, json_array_get(p->arg, i)))
				return true;
		return false;
	case P_BETWEEN: {
		const json_t *lo = json_array_get(p->arg, 0), *hi = json_array_get(p->arg, 1);
		return ordered_pair(x, lo) && ordered_pair(x, hi) && part_value_cmp(x, lo) >= 0 &&
		       part_value_cmp(x, hi) <= 0;
	}
	}
	return false;
}

static bool col_match(const struct colpred *cp, const json_t *x)
{
	if (!x)
		return false;
	for (size_t i = 0; i < cp->n; i++)
		if (!op_match(&cp->ops[i], x))
			return false;
	return true;
}

bool part_where_match(const struct part_where *w, const json_t *row)
{
	for (size_t i = 0; w && i < w->n; i++)
		if (!col_match(&w->cols[i], json_object_get(row, w->cols[i].col)))
			return false;
	return true;
}

/* ---- routing ------------------------------------------------------------- */

static bool hash_in(const struct part_def *d, const json_t *v)
{
	return v && part_value_ok(v) && part_hash(v) % d->modulus == d->remainder;
}

static bool range_has(const struct part_def *d, const json_t *v)
{
	struct ivl r = {d->from, d->to, true, false};
	return ivl_has(&r, v);
}

bool part_def_contains(const struct part_scheme *s, const struct part_def *d, const json_t *key,
		       const json_t *hkey)
{
	if (d->is_default || !key || !part_value_ok(key))
		return false;
	switch (s->strategy) {
	case PART_RANGE: return range_has(d, key);
	case PART_LIST:
		for (size_t i = 0; i < json_array_size(d->values); i++)
			if (part_value_cmp(key, json_array_get(d->values, i)) == 0)
				return true;
		return false;
	case PART_HASH: return hash_in(d, key);
	case PART_COMPOSITE: return range_has(d, key) && hash_in(d, hkey);
	}
	return false;
}

int part_route_value(const struct part_scheme *s, const json_t *key, const json_t *hkey,
		     size_t *idx, char *msg, size_t msglen)
{
	if (key && json_is_null(key))
		key = NULL;
	if (key && !part_value_ok(key)) {
		snprintf(msg, msglen, "partition key '%s' must be a number or a string", s->key);
		return STRATA_EBAD_REQUEST;
	}
	if (s->strategy == PART_COMPOSITE && hkey && !json_is_null(hkey) && !part_value_ok(hkey)) {
		snprintf(msg, msglen, "hash key '%s' must be a number or a string", s->hash_key);
		return STRATA_EBAD_REQUEST;
	}
	size_t dflt = SIZE_MAX;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].is_default)
			dflt = i;
		else if (key && part_def_contains(s, &s->v[i], key, hkey)) {
			*idx = i;
			return 0;
		}
	}
	if (dflt != SIZE_MAX) {
		*idx = dflt;
		return 0;
	}
	if (!key)
		snprintf(msg, msglen, "no value for the partition key '%s' and no default partition", s->key);
	else {
		char *text = json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(msg, msglen, "no partition for %s = %.80s%s and no default partition", s->key,
			 text ? text : "?", s->strategy == PART_COMPOSITE ? " (with its hash key)" : "");
		free(text);
	}
	return STRATA_ENOT_FOUND;
}

int part_route(const struct part_scheme *s, const json_t *row, size_t *idx, char *msg,
	       size_t msglen)
{
	return part_route_value(s, json_object_get(row, s->key),
				s->strategy == PART_COMPOSITE ? json_object_get(row, s->hash_key) : NULL,
				idx, msg, msglen);
}

/* ---- conflicts ----------------------------------------------------------- */

static bool ranges_overlap(const struct part_def *a, const struct part_def *b)
{
	struct ivl x = {a->from, a->to, true, false}, y = {b->from, b->to, true, false};
	return ivl_meet(&x, &y, NULL);
}

/* 0 no overlap, 1 overlap, -1 moduli do not divide each other. */
static int hash_overlap(const struct part_def *a, const struct part_def *b)
{
	uint32_t m1 = a->modulus, r1 = a->remainder, m2 = b->modulus, r2 = b->remainder;
	if (m1 > m2) {
		uint32_t t = m1; m1 = m2; m2 = t;
		t = r1; r1 = r2; r2 = t;
	}
	if (m2 % m1 != 0)
		return -1;
	return r2 % m1 == r1;
}

int part_check_add(const struct part_scheme *s, const struct part_def *d, char *msg,
		   size_t msglen)
{
	if (s->n >= PART_MAX) {
		snprintf(msg, msglen, "a table has at most %d partitions", PART_MAX);
		return STRATA_ECONFLICT;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct part_def *o = &s->v[i];
		if (strcmp(o->name, d->name) == 0) {
			snprintf(msg, msglen, "partition '%s' exists already", d->name);
			return STRATA_ECONFLICT;
		}
		if (o->is_default || d->is_default) {
			if (o->is_default && d->is_default) {
				snprintf(msg, msglen, "partition '%s' is already the default partition", o->name);
				return STRATA_ECONFLICT;
			}
			continue;
		}
		bool overlap = false;
		int h;
		switch (s->strategy) {
		case PART_RANGE: overlap = ranges_overlap(o, d); break;
		case PART_LIST:
			for (size_t a = 0; a < json_array_size(d->values); a++)
				for (size_t b = 0; b < json_array_size(o->values); b++)
					if (part_value_cmp(json_array_get(d->values, a), json_array_get(o->values, b)) == 0) {
						char *t = json_dumps(json_array_get(d->values, a), JSON_ENCODE_ANY);
						snprintf(msg, msglen, "value %.60s is already in partition '%s'", t ? t : "?", o->name);
						free(t);
						return STRATA_ECONFLICT;
					}
			break;
		case PART_HASH:
		case PART_COMPOSITE:
			if (s->strategy == PART_COMPOSITE && !ranges_overlap(o, d))
				break;
			h = hash_overlap(o, d);
			if (h < 0) {
				snprintf(msg, msglen, "modulus %u and partition '%s''s modulus %u: every hash "
					 "modulus must divide the larger ones", d->modulus, o->name, o->modulus);
				return STRATA_EBAD_REQUEST;
			}
			overlap = h == 1;
			break;
		}
		if (overlap) {
			snprintf(msg, msglen, "partition '%s' overlaps partition '%s'", d->name, o->name);
			return STRATA_ECONFLICT;
		}
	}
	return 0;
}

/* ---- pruning ------------------------------------------------------------- */

/* The values a column may take under its ops, as a union of intervals.
 * usable false: the ops do not bound the column (no pruning). */
struct ivset {
	bool usable;
	struct ivl *v;
	size_t n, cap;
};

static bool ivset_push(struct ivset *s, const struct ivl *a)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct ivl *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return false;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = *a;
	return true;
}

/* s := s ∩ (union of parts). */
static bool ivset_meet(struct ivset *s, const struct ivl *parts, size_t np)
{
	struct ivset r = {.usable = true};
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < np; j++) {
			struct ivl m;
			if (ivl_meet(&s->v[i], &parts[j], &m) && !ivset_push(&r, &m)) {
				free(r.v);
				return false;
			}
		}
	free(s->v);
	*s = r;
	return true;
}

static void build_set(const struct part_where *w, const char *col, struct ivset *s)
{
	memset(s, 0, sizeof(*s));
	const struct colpred *cp = NULL;
	for (size_t i = 0; w && i < w->n; i++)
		if (strcmp(w->cols[i].col, col) == 0)
			cp = &w->cols[i];
	if (!cp)
		return;
	struct ivl all = {NULL, NULL, false, false};
	if (!ivset_push(s, &all))
		return;
	s->usable = true;
	for (size_t i = 0; i < cp->n && s->usable; i++) {
		const struct pred *p = &cp->ops[i];
		const json_t *a = p->arg;
		struct ivl one = {NULL, NULL, false, false};
		bool ok = true;
		switch (p->kind) {
		case P_NE: continue;
		case P_EQ:
			if (!part_value_ok(a)) {
				/* eq to something no key can be (null, true, an
				 * object): no row with a key matches; rows without
				 * one do not match either — but stay safe. */
				s->usable = false;
				continue;
			}
			one = (struct ivl){a, a, true, true};
			break;
		case P_LT: one.hi = a; break;
		case P_LE: one.hi = a; one.hi_inc = true; break;
		case P_GT: one.lo = a; break;
		case P_GE: one.lo = a; one.lo_inc = true; break;
		case P_BETWEEN:
			one = (struct ivl){json_array_get(a, 0), json_array_get(a, 1), true, true};
			break;
		case P_IN: {
			size_t n = json_array_size(a);
			struct ivl *pts = calloc(n ? n : 1, sizeof(*pts));
			if (!pts) {
				s->usable = false;
				continue;
			}
			for (size_t k = 0; k < n && ok; k++) {
				const json_t *v = json_array_get(a, k);
				if (!part_value_ok(v))
					ok = false;
				pts[k] = (struct ivl){v, v, true, true};
			}
			if (!ok || !ivset_meet(s, pts, n))
				s->usable = false;
			free(pts);
			continue;
		}
		}
		/* (lt/le/gt/ge/between match same-type values only; the
		 * interval may hold values of the other type too: safe.) */
		if (!ivset_meet(s, &one, 1))
			s->usable = false;
	}
}

static bool set_finite(const struct ivset *s)
{
	if (!s->usable)
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (!ivl_point(&s->v[i]))
			return false;
	return true;
}

/* Some value of hs (finite) hashes into d; true when hs does not bound. */
static bool hash_may(const struct part_def *d, const struct ivset *hs)
{
	if (!set_finite(hs))
		return true;
	for (size_t i = 0; i < hs->n; i++)
		if (hash_in(d, hs->v[i].lo))
			return true;
	return false;
}

static bool keep_one(const struct part_scheme *s, const struct part_def *d, const struct colpred *kp,
		     const struct ivset *ks, const struct ivset *hs)
{
	bool same = strcmp(s->key, s->hash_key) == 0;
	if (d->is_default) {
		/* Pruned only when the key can take finitely many values, each
		 * routed elsewhere (with each hash-key value, composite). */
		if (!set_finite(ks))
			return true;
		if (s->strategy == PART_COMPOSITE && !same && !set_finite(hs))
			return true;
		for (size_t i = 0; i < ks->n; i++) {
			const json_t *k = ks->v[i].lo;
			size_t nh = s->strategy == PART_COMPOSITE && !same ? hs->n : 1;
			for (size_t j = 0; j < nh; j++) {
				const json_t *h = s->strategy == PART_COMPOSITE ? (same ? k : hs->v[j].lo) : NULL;
				bool elsewhere = false;
				for (size_t x = 0; x < s->n && !elsewhere; x++)
					elsewhere = !s->v[x].is_default && part_def_contains(s, &s->v[x], k, h);
				if (!elsewhere)
					return true;
			}
		}
		return false;
	}
	switch (s->strategy) {
	case PART_LIST:
		if (!kp)
			return true;
		for (size_t i = 0; i < json_array_size(d->values); i++)
			if (col_match(kp, json_array_get(d->values, i)))
				return true;
		return false;
	case PART_HASH:
		return hash_may(d, ks);
	case PART_RANGE:
	case PART_COMPOSITE: {
		if (!ks->usable)
			return s->strategy == PART_RANGE || hash_may(d, hs);
		struct ivl r = {d->from, d->to, true, false};
		bool joint = s->strategy == PART_COMPOSITE && same && set_finite(ks);
		for (size_t i = 0; i < ks->n; i++) {
			if (!ivl_meet(&ks->v[i], &r, NULL))
				continue;
			if (s->strategy == PART_RANGE)
				return true;
			if (joint ? hash_in(d, ks->v[i].lo) : hash_may(d, same ? &(struct ivset){0} : hs))
				return true;
		}
		return false;
	}
	}
	return true;
}

void part_prune(const struct part_scheme *s, const struct part_where *w, bool *keep)
{
	struct ivset ks, hs;
	build_set(w, s->key, &ks);
	build_set(w, s->hash_key, &hs);
	const struct colpred *kp = NULL;
	for (size_t i = 0; w && i < w->n; i++)
		if (strcmp(w->cols[i].col, s->key) == 0)
			kp = &w->cols[i];
	for (size_t i = 0; i < s->n; i++)
		keep[i] = keep_one(s, &s->v[i], kp, &ks, &hs);
	free(ks.v);
	free(hs.v);
}
