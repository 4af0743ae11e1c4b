/*
 * core/columnar/col_scan.c — where clauses, zone-map pruning, filtered
 * scans, aggregates and column statistics.
 *
 * Per row group: each predicate first asks the zone map whether any row can
 * match (if not, the row group is skipped without reading a byte) or
 * whether every row matches (then its column is not read either). The
 * rest is decoded and evaluated into a selection bitmap (AVX2 compare
 * kernels for int64/timestamp/bool and float64 ranges, per dictionary entry
 * for strings). Aggregates run on the decoded vectors under that bitmap:
 * a full 64-row word goes to the dense kernel, a partial one bit by bit.
 *
 * Semantics: comparisons with a null are false (is null / is not null
 * test it); float64 orders NaN above +inf and equal to itself, and -0.0
 * equals 0.0, in predicates and in MIN/MAX alike; strings compare bytewise.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/columnar/col_internal.h"
#include "core/emit.h"
#include "core/stats.h"
#include "strata/error.h"

/* ---- constants --------------------------------------------------------------------- */

static bool days_from_civil(int64_t y, unsigned m, unsigned d, int64_t *out)
{
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (d > mdays[m - 1])
		return false;
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*out = era * 146097 + (int64_t)doe - 719468;
	return true;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int col_parse_rfc3339(const char *s, size_t len, int64_t *us)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0;
	if (len < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d))
		return STRATA_EBAD_REQUEST;
	size_t i = 10;
	int64_t frac = 0, off = 0;
	if (i < len) {
		if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || len < i + 9 || s[i + 3] != ':' ||
		    s[i + 6] != ':' || !digits(s + i + 1, 2, &h) || !digits(s + i + 4, 2, &mi) ||
		    !digits(s + i + 7, 2, &se) || h > 23 || mi > 59 || se > 60)
			return STRATA_EBAD_REQUEST;
		i += 9;
		if (i < len && s[i] == '.') {
			i++;
			int nd = 0;
			while (i < len && isdigit((unsigned char)s[i])) {
				if (nd < 6) {
					frac = frac * 10 + (s[i] - '0');
					nd++;
				}
				i++;
			}
			if (nd == 0)
				return STRATA_EBAD_REQUEST;
			while (nd++ < 6)
				frac *= 10;
		}
		if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
		} else if (i < len && (s[i] == '+' || s[i] == '-')) {
			unsigned oh, om;
			if (len < i + 6 || s[i + 3] != ':' || !digits(s + i + 1, 2, &oh) ||
			    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
				return STRATA_EBAD_REQUEST;
			off = (s[i] == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60);
			i += 6;
		} else {
			return STRATA_EBAD_REQUEST;
		}
	}
	int64_t days;
	if (i != len || !days_from_civil(y, mo, d, &days))
		return STRATA_EBAD_REQUEST;
	*us = ((days * 86400 + (int64_t)h * 3600 + mi * 60 + se) - off) * 1000000 + frac;
	return 0;
}

int col_value_parse(enum col_type ty, const char *text, size_t len, struct col_value *v,
		    char *msg, size_t msglen)
{
	memset(v, 0, sizeof(*v));
	char buf[128];
	if (ty == COL_STRING) {
		v->s = text;
		v->slen = (uint32_t)len;
		return 0;
	}
	if (len == 0 || len >= sizeof(buf)) {
		snprintf(msg, msglen, "'%.*s' is not a valid %s", (int)(len > 60 ? 60 : len), text,
			 col_type_name(ty));
		return STRATA_EBAD_REQUEST;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	switch (ty) {
	case COL_BOOL:
		if (!strcasecmp(buf, "true") || !strcmp(buf, "1"))
			v->i = 1;
		else if (!strcasecmp(buf, "false") || !strcmp(buf, "0"))
			v->i = 0;
		else
			goto bad;
		return 0;
	case COL_FLOAT64:
		v->f = strtod(buf, &end);
		if (*end || end == buf)
			goto bad;
		return 0;
	case COL_TIMESTAMP:
		if (col_parse_rfc3339(buf, len, &v->i) == 0)
			return 0;
		__attribute__((fallthrough)); /* microseconds */
	default:
		v->i = strtoll(buf, &end, 10);
		if (*end || end == buf || errno == ERANGE)
			goto bad;
		return 0;
	}
bad:
	snprintf(msg, msglen, "'%s' is not a valid %s%s", buf, col_type_name(ty),
		 ty == COL_TIMESTAMP ? " (integer microseconds or RFC 3339)" : "");
	return STRATA_EBAD_REQUEST;
}

/* ---- where parser ------------------------------------------------------------------------ */

struct lexer {
	char *p;
	struct col_table *t;
	char *msg;
	size_t msglen;
};

static void skip_ws(struct lexer *lx)
{
	while (isspace((unsigned char)*lx->p))
		lx->p++;
}

/* A word of [A-Za-z0-9_-]; returns its length (0 if none). */
static size_t word(struct lexer *lx, char **start)
{
	skip_ws(lx);
	*start = lx->p;
	char *q = lx->p;
	while (isalnum((unsigned char)*q) || *q == '_' || *q == '-')
		q++;
	return (size_t)(q - lx->p);
}

static bool keyword(struct lexer *lx, const char *kw)
{
	char *s;
	size_t n = word(lx, &s);
	if (n == strlen(kw) && strncasecmp(s, kw, n) == 0 &&
	    !(isalnum((unsigned char)s[n]) || s[n] == '_')) {
		lx->p = s + n;
		return true;
	}
	return false;
}

/* A constant: 'quoted' ('' escapes a quote; unescaped in place) or a bare
 * run up to whitespace , ( ). */
static int constant(struct lexer *lx, enum col_type ty, struct col_value *v)
{
	skip_ws(lx);
	char *s = lx->p;
	size_t n;
	if (*s == '\'') {
		char *w = s, *r = s + 1;
		for (;;) {
			if (*r == '\0') {
				snprintf(lx->msg, lx->msglen, "unterminated string in where");
				return STRATA_EBAD_REQUEST;
			}
			if (*r == '\'' && r[1] == '\'') {
				*w++ = '\'';
				r += 2;
				continue;
			}
			if (*r == '\'')
				break;
			*w++ = *r++;
		}
		n = (size_t)(w - s);
		lx->p = r + 1;
	} else {
		while (*lx->p && !isspace((unsigned char)*lx->p) && *lx->p != ',' && *lx->p != ')' &&
		       *lx->p != '(')
			lx->p++;
		n = (size_t)(lx->p - s);
		if (n == 0) {
			snprintf(lx->msg, lx->msglen, "where: a value is missing");
			return STRATA_EBAD_REQUEST;
		}
		if (n == 4 && strncasecmp(s, "null", 4) == 0) {
			snprintf(lx->msg, lx->msglen, "where: compare with null using 'is null' / 'is not null'");
			return STRATA_EBAD_REQUEST;
		}
	}
	return col_value_parse(ty, s, n, v, lx->msg, lx->msglen);
}

static int cmp_values(enum col_type ty, const struct col_value *a, const struct col_value *b);

int col_where_parse(struct col_table *t, const char *text, struct col_where **out, char *msg,
		    size_t msglen)
{
	struct col_where *w = calloc(1, sizeof(*w));
	size_t tl = text ? strlen(text) : 0;
	if (!w || !(w->text = malloc(tl + 1))) {
		free(w);
		return STRATA_ENOMEM;
	}
	memcpy(w->text, text ? text : "", tl + 1);
	struct lexer lx = {w->text, t, msg, msglen};
	int rv = 0;
	size_t cap = 0;
	skip_ws(&lx);
	while (*lx.p) {
		if (w->n && !keyword(&lx, "and")) {
			snprintf(msg, msglen, "where: expected 'and' at '%.30s'", lx.p);
			rv = STRATA_EBAD_REQUEST;
			goto fail;
		}
		char *name;
		size_t nl = word(&lx, &name);
		char saved = name[nl];
		name[nl] = '\0';
		int col = nl ? col_table_column(t, name) : -1;
		if (col < 0) {
			if (nl)
				snprintf(msg, msglen, "where: no column named '%s'", name);
			else
				snprintf(msg, msglen, "where: expected a column name at '%.30s'", lx.p);
			rv = nl ? STRATA_EBAD_REQUEST : STRATA_EBAD_REQUEST;
			goto fail;
		}
		name[nl] = saved;
		lx.p = name + nl;
		if (w->n == cap) {
			cap = cap ? cap * 2 : 4;
			struct col_pred *np = realloc(w->p, cap * sizeof(*np));
			if (!np) {
				rv = STRATA_ENOMEM;
				goto fail;
			}
			w->p = np;
		}
		struct col_pred *p = &w->p[w->n];
		memset(p, 0, sizeof(*p));
		p->col = col;
		enum col_type ty = t->cols[col].type;
		skip_ws(&lx);
		if (keyword(&lx, "is")) {
			p->op = keyword(&lx, "not") ? COL_IS_NOT_NULL : COL_IS_NULL;
			if (!keyword(&lx, "null")) {
				snprintf(msg, msglen, "where: expected 'null' after 'is'");
				rv = STRATA_EBAD_REQUEST;
				goto fail;
			}
		} else if (keyword(&lx, "between")) {
			p->op = COL_BETWEEN;
			if ((rv = constant(&lx, ty, &p->a)) != 0)
				goto fail;
			if (!keyword(&lx, "and")) {
				snprintf(msg, msglen, "where: expected 'and' in 'between'");
				rv = STRATA_EBAD_REQUEST;
				goto fail;
			}
			if ((rv = constant(&lx, ty, &p->b)) != 0)
				goto fail;
		} else if (keyword(&lx, "in")) {
			p->op = COL_IN;
			skip_ws(&lx);
			if (*lx.p != '(') {
				snprintf(msg, msglen, "where: expected '(' after 'in'");
				rv = STRATA_EBAD_REQUEST;
				goto fail;
			}
			lx.p++;
			w->n++; /* owned now: freed on failure */
			size_t scap = 0;
			for (;;) {
				if (p->nset == COL_IN_MAX) {
					snprintf(msg, msglen, "where: at most %d values in 'in'", COL_IN_MAX);
					rv = STRATA_EBAD_REQUEST;
					goto fail;
				}
				if (p->nset == scap) {
					scap = scap ? scap * 2 : 8;
					struct col_value *ns = realloc(p->set, scap * sizeof(*ns));
					if (!ns) {
						rv = STRATA_ENOMEM;
						goto fail;
					}
					p->set = ns;
				}
				if ((rv = constant(&lx, ty, &p->set[p->nset])) != 0)
					goto fail;
				p->nset++;
				skip_ws(&lx);
				if (*lx.p == ',') {
					lx.p++;
					continue;
				}
				if (*lx.p == ')') {
					lx.p++;
					break;
				}
				snprintf(msg, msglen, "where: expected ',' or ')' in 'in'");
				rv = STRATA_EBAD_REQUEST;
				goto fail;
			}
			w->n--;
		} else {
			char *o = lx.p;
			if (o[0] == '=' && o[1] == '=')
				p->op = COL_EQ, lx.p += 2;
			else if (o[0] == '=')
				p->op = COL_EQ, lx.p += 1;
			else if ((o[0] == '!' && o[1] == '=') || (o[0] == '<' && o[1] == '>'))
				p->op = COL_NE, lx.p += 2;
			else if (o[0] == '<' && o[1] == '=')
				p->op = COL_LE, lx.p += 2;
			else if (o[0] == '<')
				p->op = COL_LT, lx.p += 1;
			else if (o[0] == '>' && o[1] == '=')
				p->op = COL_GE, lx.p += 2;
			else if (o[0] == '>')
				p->op = COL_GT, lx.p += 1;
			else {
				snprintf(msg, msglen, "where: expected an operator after '%s' at '%.20s'",
					 t->cols[col].name, o);
				rv = STRATA_EBAD_REQUEST;
				goto fail;
			}
			if ((rv = constant(&lx, ty, &p->a)) != 0)
				goto fail;
		}
		w->n++;
		skip_ws(&lx);
	}
	*out = w;
	return 0;
fail:
	col_where_free(w);
	return rv;
}

void col_where_free(struct col_where *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->p[i].set);
	free(w->p);
	free(w->text);
	free(w);
}

/* ---- comparisons --------------------------------------------------------------------------- */

static int str_cmp(const char *a, uint32_t al, const char *b, uint32_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m ? memcmp(a, b, m) : 0;
	return c ? c : (al > bl) - (al < bl);
}

/* Total order of doubles used everywhere: NaN above +inf, -0.0 == 0.0. */
static int fcmp(double a, double b)
{
	bool an = isnan(a), bn = isnan(b);
	if (an || bn)
		return an - bn;
	return (a > b) - (a < b);
}

static int cmp_values(enum col_type ty, const struct col_value *a, const struct col_value *b)
{
	if (ty == COL_STRING)
		return str_cmp(a->s, a->slen, b->s, b->slen);
	if (ty == COL_FLOAT64)
		return fcmp(a->f, b->f);
	return (a->i > b->i) - (a->i < b->i);
}

/* Whether value x satisfies p (x not null). */
static bool pred_value(enum col_type ty, const struct col_pred *p, const struct col_value *x)
{
	switch (p->op) {
	case COL_EQ: return cmp_values(ty, x, &p->a) == 0;
	case COL_NE: return cmp_values(ty, x, &p->a) != 0;
	case COL_LT: return cmp_values(ty, x, &p->a) < 0;
	case COL_LE: return cmp_values(ty, x, &p->a) <= 0;
	case COL_GT: return cmp_values(ty, x, &p->a) > 0;
	case COL_GE: return cmp_values(ty, x, &p->a) >= 0;
	case COL_BETWEEN: return cmp_values(ty, x, &p->a) >= 0 && cmp_values(ty, x, &p->b) <= 0;
	case COL_IN:
		for (size_t k = 0; k < p->nset; k++)
			if (cmp_values(ty, x, &p->set[k]) == 0)
				return true;
		return false;
	case COL_IS_NULL: return false;
	case COL_IS_NOT_NULL: return true;
	}
	return false;
}

/* ---- zone maps ---------------------------------------------------------------------------------- */

enum zone { ZONE_NONE, ZONE_SOME, ZONE_ALL };

/* What the zone map of one chunk says about p. */
static enum zone zone_test(const struct col_table *t, const struct col_rowgroup *g,
			   const struct col_pred *p)
{
	const struct col_chunk_meta *m = &g->chunks[p->col];
	enum col_type ty = t->cols[p->col].type;
	if (p->op == COL_IS_NULL)
		return m->null_count == 0 ? ZONE_NONE : m->null_count == g->rows ? ZONE_ALL : ZONE_SOME;
	if (p->op == COL_IS_NOT_NULL)
		return m->null_count == g->rows ? ZONE_NONE : m->null_count == 0 ? ZONE_ALL : ZONE_SOME;
	bool has_nan = ty == COL_FLOAT64 && (m->flags & CHUNK_F_NAN);
	if (!(m->flags & CHUNK_F_MINMAX) && !has_nan)
		return ZONE_NONE; /* only nulls */
	/* [lo, hi] of the values (floats: NaN counts as the greatest) */
	struct col_value lo = m->min, hi = m->max;
	bool hi_open = ty == COL_STRING && (m->flags & CHUNK_F_MAX_TRUNC);
	if (ty == COL_FLOAT64) {
		if (!(m->flags & CHUNK_F_MINMAX))
			lo.f = NAN;
		if (has_nan)
			hi.f = NAN;
	}
	if (ty == COL_STRING && !lo.s) /* defensive: no strings kept */
		return ZONE_SOME;
	int c_lo, c_hi;
	switch (p->op) {
	case COL_EQ:
	case COL_IN: {
		size_t n = p->op == COL_IN ? p->nset : 1;
		const struct col_value *vals = p->op == COL_IN ? p->set : &p->a;
		for (size_t k = 0; k < n; k++)
			if (cmp_values(ty, &vals[k], &lo) >= 0 &&
			    (hi_open || cmp_values(ty, &vals[k], &hi) <= 0))
				return ZONE_SOME;
		return ZONE_NONE;
	}
	case COL_NE:
		if (!hi_open && cmp_values(ty, &lo, &hi) == 0 && cmp_values(ty, &lo, &p->a) == 0)
			return ZONE_NONE;
		return ZONE_SOME;
	case COL_LT:
		return cmp_values(ty, &lo, &p->a) >= 0 ? ZONE_NONE : ZONE_SOME;
	case COL_LE:
		return cmp_values(ty, &lo, &p->a) > 0 ? ZONE_NONE : ZONE_SOME;
	case COL_GT:
		return !hi_open && cmp_values(ty, &hi, &p->a) <= 0 ? ZONE_NONE : ZONE_SOME;
	case COL_GE:
		return !hi_open && cmp_values(ty, &hi, &p->a) < 0 ? ZONE_NONE : ZONE_SOME;
	case COL_BETWEEN:
		c_lo = cmp_values(ty, &hi, &p->a);
		c_hi = cmp_values(ty, &lo, &p->b);
		if ((!hi_open && c_lo < 0) || c_hi > 0)
			return ZONE_NONE;
		if (m->null_count == 0 && !hi_open && cmp_values(ty, &lo, &p->a) >= 0 &&
		    cmp_values(ty, &hi, &p->b) <= 0)
			return ZONE_ALL;
		return ZONE_SOME;
	default:
		return ZONE_SOME;
	}
}

/* ---- evaluation into a selection bitmap ---------------------------------------------------------- */

static inline bool valid_at(const struct col_vec *v, size_t i)
{
	return !v->valid || (v->valid[i / 8] >> (i % 8)) & 1;
}

/* sel &= validity */
static void and_valid(const struct col_vec *v, uint64_t *sel, size_t words)
{
	if (!v->valid)
		return;
	for (size_t w = 0; w < words; w++) {
		uint64_t m;
		memcpy(&m, v->valid + w * 8, 8);
		sel[w] &= m;
	}
}

static void sel_clear(uint64_t *sel, size_t words)
{
	memset(sel, 0, words * 8);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Integers (int64, timestamp, bool): the op as an inclusive range. */
static bool int_range(const struct col_pred *p, int64_t *lo, int64_t *hi, bool *neg)
{
	*neg = false;
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	switch (p->op) {
	case COL_EQ: *lo = *hi = p->a.i; return true;
	case COL_NE: *lo = *hi = p->a.i; *neg = true; return true;
	case COL_LT: if (p->a.i == INT64_MIN) return false; *hi = p->a.i - 1; return true;
	case COL_LE: *hi = p->a.i; return true;
	case COL_GT: if (p->a.i == INT64_MAX) return false; *lo = p->a.i + 1; return true;
	case COL_GE: *lo = p->a.i; return true;
	case COL_BETWEEN: *lo = p->a.i; *hi = p->b.i; return p->a.i <= p->b.i;
	default: return false;
	}
}

/* Floats: the op as (lower test, upper test) for col_k_filter_f64;
 * returns false when nothing matches. A BETWEEN takes two calls. */
struct frange {
	double lo, hi;
	bool lo_isnan, hi_on, neg;
};

static bool float_bound(enum col_op op, double c, struct frange *r)
{
	r->lo = -INFINITY;
	r->hi = INFINITY;
	r->lo_isnan = r->hi_on = r->neg = false;
	switch (op) {
	case COL_EQ:
	case COL_NE:
		r->neg = op == COL_NE;
		if (isnan(c))
			r->lo_isnan = true;
		else
			r->lo = c, r->hi = c, r->hi_on = true;
		return true;
	case COL_LT:
		if (isnan(c)) { r->hi_on = true; return true; } /* not NaN */
		if (c == -INFINITY) return false;
		r->hi = nextafter(c, -INFINITY), r->hi_on = true;
		return true;
	case COL_LE:
		if (!isnan(c)) r->hi = c, r->hi_on = true;
		return true;
	case COL_GT:
		if (isnan(c)) return false;
		if (c == INFINITY) { r->lo_isnan = true; return true; }
		r->lo = nextafter(c, INFINITY);
		return true;
	case COL_GE:
		if (isnan(c)) r->lo_isnan = true;
		else r->lo = c;
		return true;
	default:
		return false;
	}
}

/* Evaluates p on a decoded vector: sel &= p (sel has n valid bits). */
static void eval_pred(const struct col_pred *p, enum col_type ty, const struct col_vec *v,
		      uint64_t *sel, size_t words, uint8_t **entbuf, size_t *entcap)
{
	size_t n = v->n;
	if (p->op == COL_IS_NULL) {
		if (!v->valid)
			sel_clear(sel, words);
		else
			for (size_t w = 0; w < words; w++) {
				uint64_t m;
				memcpy(&m, v->valid + w * 8, 8);
				sel[w] &= ~m;
			}
		return;
	}
	and_valid(v, sel, words);
	if (p->op == COL_IS_NOT_NULL)
		return;
	if (ty == COL_STRING) {
		/* per dictionary entry, then per row */
		if (*entcap < v->nent) {
			uint8_t *nb = realloc(*entbuf, v->nent);
			if (!nb) { /* fall back to per-row evaluation */
				for (size_t i = 0; i < n; i++) {
					uint32_t e = v->codes ? v->codes[i] : (uint32_t)i;
					struct col_value x = {.s = (const char *)v->sbytes + v->soff[e],
							      .slen = v->soff[e + 1] - v->soff[e]};
					if (!pred_value(ty, p, &x))
						sel[i / 64] &= ~(1ull << (i % 64));
				}
				return;
			}
			*entbuf = nb;
			*entcap = v->nent;
		}
		uint8_t *ent = *entbuf;
		for (uint32_t e = 0; e < v->nent; e++) {
			struct col_value x = {.s = (const char *)v->sbytes + v->soff[e],
					      .slen = v->soff[e + 1] - v->soff[e]};
			ent[e] = pred_value(ty, p, &x);
		}
		for (size_t w = 0; w < words; w++) {
			uint64_t m = 0;
			size_t end = n - w * 64 < 64 ? n - w * 64 : 64;
			for (size_t k = 0; k < end; k++) {
				size_t i = w * 64 + k;
				m |= (uint64_t)ent[v->codes ? v->codes[i] : i] << k;
			}
			sel[w] &= m;
		}
		return;
	}
	if (p->op == COL_IN) {
		if (ty == COL_FLOAT64) {
			for (size_t i = 0; i < n; i++) {
				struct col_value x = {.f = v->f64[i]};
				if (!pred_value(ty, p, &x))
					sel[i / 64] &= ~(1ull << (i % 64));
			}
			return;
		}
		int64_t set[COL_IN_MAX];
		for (size_t k = 0; k < p->nset; k++)
			set[k] = p->set[k].i;
		qsort(set, p->nset, sizeof(set[0]), cmp_i64);
		for (size_t w = 0; w < words; w++) {
			if (!sel[w])
				continue;
			uint64_t m = 0;
			size_t end = n - w * 64 < 64 ? n - w * 64 : 64;
			for (size_t k = 0; k < end; k++) {
				int64_t x = v->i64[w * 64 + k];
				m |= (uint64_t)(bsearch(&x, set, p->nset, sizeof(set[0]), cmp_i64) != NULL) << k;
			}
			sel[w] &= m;
		}
		return;
	}
	if (ty == COL_FLOAT64) {
		struct frange r;
		if (p->op == COL_BETWEEN) {
			if (!float_bound(COL_GE, p->a.f, &r)) {
				sel_clear(sel, words);
				return;
			}
			col_k_filter_f64(v->f64, n, r.lo, r.lo_isnan, r.hi, r.hi_on, false, sel);
			if (!float_bound(COL_LE, p->b.f, &r)) {
				sel_clear(sel, words);
				return;
			}
			col_k_filter_f64(v->f64, n, r.lo, r.lo_isnan, r.hi, r.hi_on, false, sel);
			return;
		}
		if (!float_bound(p->op, p->a.f, &r)) {
			sel_clear(sel, words);
			return;
		}
		col_k_filter_f64(v->f64, n, r.lo, r.lo_isnan, r.hi, r.hi_on, r.neg, sel);
		return;
	}
	int64_t lo, hi;
	bool neg;
	if (!int_range(p, &lo, &hi, &neg)) {
		sel_clear(sel, words);
		return;
	}
	col_k_filter_i64(v->i64, n, lo, hi, neg, sel);
}

/* ---- per-scan state --------------------------------------------------------------------------------- */

struct colread {
	struct col_vec v;
	uint8_t *scratch;
	size_t scap;
};

struct scan {
	struct col_table *t;
	const struct col_where *w;
	struct colread *cr;        /* one per table column, decoded lazily */
	uint32_t *decoded_rg;      /* rg index + 1 each column holds */
	uint64_t *sel;
	size_t selcap;
	uint8_t *ent;
	size_t entcap;
	uint64_t rows_scanned, chunks_skipped, progress_next;
	uint64_t start_us;
};

static int scan_init(struct scan *s, struct col_table *t, const struct col_where *w)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->w = w;
	s->cr = calloc(t->ncols, sizeof(*s->cr));
	s->decoded_rg = calloc(t->ncols, sizeof(*s->decoded_rg));
	s->selcap = (t->row_group_rows + 63) / 64 + 1;
	s->sel = malloc(s->selcap * 8);
	s->start_us = clock_mono_us();
	s->progress_next = t->rows / 4;
	if (!s->cr || !s->decoded_rg || !s->sel)
		return STRATA_ENOMEM;
	return 0;
}

static void scan_free(struct scan *s)
{
	for (size_t c = 0; s->cr && c < s->t->ncols; c++) {
		col_vec_free(&s->cr[c].v);
		free(s->cr[c].scratch);
	}
	free(s->cr);
	free(s->decoded_rg);
	free(s->sel);
	free(s->ent);
}

/* Decodes column c of row group g (once per row group). */
static int scan_column(struct scan *s, size_t gi, int c, const struct col_vec **out)
{
	struct colread *cr = &s->cr[c];
	if (s->decoded_rg[c] != gi + 1) {
		struct col_rowgroup *g = &s->t->rg[gi];
		const struct col_chunk_meta *m = &g->chunks[c];
		const uint8_t *pay;
		int rv = col_chunk_payload(s->t, g, c, &pay, &cr->scratch, &cr->scap);
		if (rv)
			return rv;
		rv = col_decode(pay, m->len, s->t->cols[c].type, (enum col_encoding)m->enc, g->rows,
				m->flags & CHUNK_F_VALIDITY, &cr->v);
		if (rv) {
			s->decoded_rg[c] = 0;
			return rv;
		}
		s->decoded_rg[c] = (uint32_t)gi + 1;
	}
	*out = &s->cr[c].v;
	return 0;
}

/*
 * Row group gi: 0 = skipped by a zone map; 1 = *sel holds the matching
 * rows (sel_all: every row matches, sel not filled); negative: error.
 */
static int scan_select(struct scan *s, size_t gi, bool *sel_all)
{
	struct col_rowgroup *g = &s->t->rg[gi];
	size_t words = (g->rows + 63) / 64;
	bool all = true;
	for (size_t k = 0; s->w && k < s->w->n; k++) {
		enum zone z = zone_test(s->t, g, &s->w->p[k]);
		if (z == ZONE_NONE) {
			s->chunks_skipped++;
			return 0;
		}
		if (z == ZONE_SOME)
			all = false;
	}
	s->rows_scanned += g->rows;
	*sel_all = all;
	if (all)
		return 1;
	for (size_t w = 0; w < words; w++)
		s->sel[w] = ~0ull;
	if (g->rows % 64)
		s->sel[words - 1] = (1ull << (g->rows % 64)) - 1;
	for (size_t k = 0; k < s->w->n; k++) {
		const struct col_pred *p = &s->w->p[k];
		if (zone_test(s->t, g, p) == ZONE_ALL)
			continue;
		const struct col_vec *v;
		int rv = scan_column(s, gi, p->col, &v);
		if (rv)
			return rv;
		eval_pred(p, s->t->cols[p->col].type, v, s->sel, words, &s->ent, &s->entcap);
	}
	return 1;
}

static void emit_progress(struct scan *s, const char *col)
{
	if (s->t->rows < 1000000 || s->rows_scanned < s->progress_next)
		return;
	s->progress_next += s->t->rows / 4;
	struct strata_event ev = {.variant = STRATA_EV_ColumnScanProgress};
	struct strata_ev_ColumnScanProgress *e = &ev.u.ColumnScanProgress;
	snprintf(e->table_name, sizeof(e->table_name), "%s", s->t->name);
	snprintf(e->column_name, sizeof(e->column_name), "%s", col);
	e->rows_scanned = s->rows_scanned;
	e->rows_total = s->t->rows;
	e->timestamp = clock_wall_us() / 1000000;
	emit(&ev);
}

static void emit_scanned(struct scan *s, const char *col)
{
	struct strata_event ev = {.variant = STRATA_EV_ColumnScanned};
	struct strata_ev_ColumnScanned *e = &ev.u.ColumnScanned;
	snprintf(e->table_name, sizeof(e->table_name), "%s", s->t->name);
	snprintf(e->column_name, sizeof(e->column_name), "%s", col);
	e->rows_scanned = s->rows_scanned;
	e->duration_ms = (clock_mono_us() - s->start_us) / 1000;
	e->timestamp = clock_wall_us() / 1000000;
	emit(&ev);
}

static void scan_account(struct scan *s)
{
	stat_add(&core_stats()->columnar.rows_scanned, s->rows_scanned);
	stat_add(&core_stats()->columnar.chunks_skipped, s->chunks_skipped);
}

/* ---- row scans ---------------------------------------------------------------------------------------- */

static void value_at(const struct col_vec *v, size_t i, struct col_value *x)
{
	memset(x, 0, sizeof(*x));
	if (!valid_at(v, i)) {
		x->null = true;
		return;
	}
	switch (v->type) {
	case COL_STRING: {
		uint32_t e = v->codes ? v->codes[i] : (uint32_t)i;
		x->s = (const char *)v->sbytes + v->soff[e];
		x->slen = v->soff[e + 1] - v->soff[e];
		break;
	}
	case COL_FLOAT64:
		x->f = v->f64[i];
		break;
	default:
		x->i = v->i64[i];
	}
}

static inline bool sel_bit(const uint64_t *sel, bool all, size_t i)
{
	return all || ((sel[i / 64] >> (i % 64)) & 1);
}

static uint64_t sel_count(const uint64_t *sel, bool all, uint32_t rows)
{
	if (all)
		return rows;
	uint64_t n = 0;
	for (size_t w = 0; w < (rows + 63u) / 64; w++)
		n += (uint64_t)__builtin_popcountll(sel[w]);
	return n;
}

int col_scan(struct col_table *t, const int *cols, size_t ncols, const struct col_where *w,
	     uint64_t offset, uint64_t limit, col_row_fn fn, void *arg, struct col_scan_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t k = 0; k < ncols; k++)
		if (cols[k] < 0 || (size_t)cols[k] >= t->ncols)
			return STRATA_EBAD_REQUEST;
	pthread_rwlock_rdlock(&t->lock);
	struct scan s;
	struct col_value *vals = calloc(ncols + 1, sizeof(*vals));
	const struct col_vec **vecs = calloc(ncols + 1, sizeof(*vecs));
	int rv = scan_init(&s, t, w);
	if (!rv && (!vals || !vecs))
		rv = STRATA_ENOMEM;
	bool stopped = false;
	for (size_t gi = 0; !rv && gi < t->nrg; gi++) {
		struct col_rowgroup *g = &t->rg[gi];
		if (!w && offset >= g->rows && !stopped) {
			offset -= g->rows; /* no filter: skip whole row groups */
			continue;
		}
		bool all;
		rv = scan_select(&s, gi, &all);
		if (rv <= 0)
			continue;
		rv = 0;
		uint64_t matches = sel_count(s.sel, all, g->rows);
		if (stopped) {
			if (matches) {
				st->more = true;
				break;
			}
			continue;
		}
		if (offset >= matches) {
			offset -= matches;
			continue;
		}
		for (size_t k = 0; k < ncols && !rv; k++)
			rv = scan_column(&s, gi, cols[k], &vecs[k]);
		if (rv)
			break;
		for (size_t i = 0; i < g->rows; i++) {
			if (!sel_bit(s.sel, all, i))
				continue;
			if (offset) {
				offset--;
				continue;
			}
			if (st->rows_returned == limit) {
				st->more = true;
				stopped = true;
				break;
			}
			for (size_t k = 0; k < ncols; k++)
				value_at(vecs[k], i, &vals[k]);
			st->rows_returned++;
			if ((rv = fn(arg, g->first_row + i, vals)) != 0)
				break;
		}
		if (st->more)
			break;
		if (st->rows_returned == limit)
			stopped = true;
		for (size_t k = 0; k < ncols; k++)
			emit_progress(&s, t->cols[cols[k]].name);
	}
	if (rv >= 0 || rv == STRATA_ECORRUPT) {
		for (size_t k = 0; k < ncols; k++)
			emit_scanned(&s, t->cols[cols[k]].name);
	}
	st->rows_scanned = s.rows_scanned;
	st->chunks_skipped = s.chunks_skipped;
	scan_account(&s);
	scan_free(&s);
	pthread_rwlock_unlock(&t->lock);
	free(vals);
	free(vecs);
	return rv;
}

static _Atomic bool zone_answers = true;

void col_set_zone_answers(bool on)
{
	atomic_store(&zone_answers, on);
}

/* ---- aggregates ----------------------------------------------------------------------------------------- */

const char *col_agg_name(enum col_agg a)
{
	static const char *n[] = {"count", "sum", "min", "max", "avg"};
	return (unsigned)a <= COL_AGG_AVG ? n[a] : "?";
}

int col_agg_parse(const char *s, enum col_agg *a)
{
	for (int i = 0; i <= COL_AGG_AVG; i++)
		if (strcasecmp(s, col_agg_name((enum col_agg)i)) == 0) {
			*a = (enum col_agg)i;
			return 0;
		}
	return STRATA_EBAD_REQUEST;
}

void col_agg_result_clear(struct col_agg_result *r)
{
	free(r->s);
	r->s = NULL;
}

struct acc {
	uint64_t count;
	__int128 isum;
	double fsum;
	bool any;
	int64_t imin, imax;
	double fmin, fmax;           /* total order: NaN greatest */
	const char *smin, *smax;     /* into the current vector: copied per chunk */
	uint32_t sminl, smaxl;
	char *sminbuf, *smaxbuf;
};

static void acc_i64(struct acc *a, const int64_t *v, size_t n, bool want_minmax)
{
	if (!n)
		return;
	a->count += n;
	if (!want_minmax) {
		a->isum += col_k_sum_i64(v, n);
		return;
	}
	int64_t mn, mx;
	col_k_minmax_i64(v, n, &mn, &mx);
	if (!a->any || mn < a->imin)
		a->imin = mn;
	if (!a->any || mx > a->imax)
		a->imax = mx;
	a->any = true;
}

static void acc_f64_one(struct acc *a, double x)
{
	a->count++;
	a->fsum += x;
	if (!a->any || fcmp(x, a->fmin) < 0)
		a->fmin = x;
	if (!a->any || fcmp(x, a->fmax) > 0)
		a->fmax = x;
	a->any = true;
}

static void acc_f64(struct acc *a, const double *v, size_t n, bool nan_free, bool want_minmax)
{
	if (!n)
		return;
	if (!want_minmax) {
		a->count += n;
		a->fsum += col_k_sum_f64(v, n);
		return;
	}
	if (!nan_free) {
		for (size_t i = 0; i < n; i++)
			acc_f64_one(a, v[i]);
		return;
	}
	double s, mn, mx;
	col_k_sum_minmax_f64(v, n, &s, &mn, &mx);
	a->count += n;
	a->fsum += s;
	if (!a->any || fcmp(mn, a->fmin) < 0)
		a->fmin = mn;
	if (!a->any || fcmp(mx, a->fmax) > 0)
		a->fmax = mx;
	a->any = true;
}

static int acc_keep_str(char **buf, const char **s, uint32_t *l, const char *src, uint32_t len)
{
	char *nb = malloc((size_t)len + 1);
	if (!nb)
		return STRATA_ENOMEM;
	if (len)
		memcpy(nb, src, len);
	nb[len] = '\0';
	free(*buf);
	*buf = nb;
	*s = nb;
	*l = len;
	return 0;
}

int col_aggregate(struct col_table *t, int col, enum col_agg fn, const struct col_where *w,
		  struct col_agg_result *r, char *msg, size_t msglen)
{
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	if (col < 0 && fn != COL_AGG_COUNT) {
		snprintf(msg, msglen, "%s needs a column", col_agg_name(fn));
		return STRATA_EBAD_REQUEST;
	}
	if (col >= (int)t->ncols)
		return STRATA_EBAD_REQUEST;
	enum col_type ty = col >= 0 ? t->cols[col].type : COL_INT64;
	r->type = fn == COL_AGG_COUNT ? COL_INT64 : ty;
	if ((fn == COL_AGG_SUM || fn == COL_AGG_AVG) && (ty == COL_STRING || ty == COL_BOOL)) {
		snprintf(msg, msglen, "%s of a %s column is not defined", col_agg_name(fn),
			 col_type_name(ty));
		return STRATA_EBAD_REQUEST;
	}
	pthread_rwlock_rdlock(&t->lock);
	struct scan s;
	struct acc a;
	memset(&a, 0, sizeof(a));
	int rv = scan_init(&s, t, w);
	bool minmax = fn == COL_AGG_MIN || fn == COL_AGG_MAX;
	for (size_t gi = 0; !rv && gi < t->nrg; gi++) {
		struct col_rowgroup *g = &t->rg[gi];
		bool all;
		if (fn == COL_AGG_COUNT && col >= 0 && !w) {
			/* count(col) without a filter: the zone maps answer */
			s.rows_scanned += g->rows;
			a.count += g->rows - g->chunks[col].null_count;
			continue;
		}
		rv = scan_select(&s, gi, &all);
		if (rv <= 0)
			continue;
		rv = 0;
		size_t words = (g->rows + 63) / 64;
		if (col < 0) { /* count(*) */
			a.count += sel_count(s.sel, all, g->rows);
			continue;
		}
		const struct col_chunk_meta *m = &g->chunks[col];
		if (fn == COL_AGG_COUNT && all) {
			a.count += g->rows - m->null_count;
			continue;
		}
		if (minmax && ty != COL_STRING && all && m->null_count == 0 &&
		    atomic_load_explicit(&zone_answers, memory_order_relaxed) &&
		    (m->flags & CHUNK_F_MINMAX) && !(m->flags & CHUNK_F_NAN)) {
			/* the zone map is the answer: exact min/max of the chunk */
			if (ty == COL_FLOAT64) {
				double mn = m->min.f, mx = m->max.f;
				if (!a.any || fcmp(mn, a.fmin) < 0)
					a.fmin = mn;
				if (!a.any || fcmp(mx, a.fmax) > 0)
					a.fmax = mx;
			} else {
				if (!a.any || m->min.i < a.imin)
					a.imin = m->min.i;
				if (!a.any || m->max.i > a.imax)
					a.imax = m->max.i;
			}
			a.any = true;
			a.count += g->rows;
			continue;
		}
		const struct col_vec *v;
		if ((rv = scan_column(&s, gi, col, &v)) != 0)
			break;
		if (all) {
			if (v->valid) {
				for (size_t wi = 0; wi < words; wi++)
					s.sel[wi] = ~0ull;
				if (g->rows % 64)
					s.sel[words - 1] = (1ull << (g->rows % 64)) - 1;
				all = false;
			}
		}
		if (!all)
			and_valid(v, s.sel, words);
		if (fn == COL_AGG_COUNT) {
			a.count += sel_count(s.sel, all, g->rows);
			continue;
		}
		if (ty == COL_STRING) {
			for (size_t i = 0; i < g->rows; i++) {
				if (!sel_bit(s.sel, all, i))
					continue;
				uint32_t e = v->codes ? v->codes[i] : (uint32_t)i;
				const char *p = (const char *)v->sbytes + v->soff[e];
				uint32_t l = v->soff[e + 1] - v->soff[e];
				a.count++;
				if ((!a.any || str_cmp(p, l, a.smin, a.sminl) < 0) &&
				    (rv = acc_keep_str(&a.sminbuf, &a.smin, &a.sminl, p, l)) != 0)
					break;
				if ((!a.any || str_cmp(p, l, a.smax, a.smaxl) > 0) &&
				    (rv = acc_keep_str(&a.smaxbuf, &a.smax, &a.smaxl, p, l)) != 0)
					break;
				a.any = true;
			}
			continue;
		}
		bool nan_free = !(m->flags & CHUNK_F_NAN);
		if (all) {
			if (ty == COL_FLOAT64)
				acc_f64(&a, v->f64, g->rows, nan_free, minmax);
			else
				acc_i64(&a, v->i64, g->rows, minmax);
			continue;
		}
		for (size_t wi = 0; wi < words; wi++) {
			uint64_t bits = s.sel[wi];
			if (!bits)
				continue;
			size_t base = wi * 64;
			if (bits == ~0ull) {
				if (ty == COL_FLOAT64)
					acc_f64(&a, v->f64 + base, 64, nan_free, minmax);
				else
					acc_i64(&a, v->i64 + base, 64, minmax);
				continue;
			}
			while (bits) {
				size_t i = base + (size_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (ty == COL_FLOAT64)
					acc_f64_one(&a, v->f64[i]);
				else
					acc_i64(&a, v->i64 + i, 1, minmax);
			}
		}
		emit_progress(&s, t->cols[col].name);
	}
	if (rv == 0 || rv == STRATA_ECORRUPT)
		emit_scanned(&s, col >= 0 ? t->cols[col].name : "*");
	r->rows_scanned = s.rows_scanned;
	r->chunks_skipped = s.chunks_skipped;
	r->count = a.count;
	scan_account(&s);
	scan_free(&s);
	pthread_rwlock_unlock(&t->lock);
	if (rv) {
		free(a.sminbuf);
		free(a.smaxbuf);
		if (rv == STRATA_ECORRUPT)
			snprintf(msg, msglen, "a chunk of table '%s' failed its checksum; no data returned",
				 t->name);
		return rv;
	}
	switch (fn) {
	case COL_AGG_COUNT:
		r->i = (int64_t)a.count;
		break;
	case COL_AGG_SUM:
	case COL_AGG_AVG:
		if (a.count == 0) {
			r->null = true;
			break;
		}
		if (ty == COL_FLOAT64) {
			r->is_float = true;
			r->f = fn == COL_AGG_AVG ? a.fsum / (double)a.count : a.fsum;
		} else if (fn == COL_AGG_AVG) {
			r->is_float = true;
			r->f = (double)a.isum / (double)a.count;
		} else if (a.isum >= INT64_MIN && a.isum <= INT64_MAX) {
			r->i = (int64_t)a.isum;
		} else {
			r->is_float = true;
			r->f = (double)a.isum;
		}
		break;
	case COL_AGG_MIN:
	case COL_AGG_MAX:
		if (!a.any) {
			r->null = true;
			break;
		}
		if (ty == COL_FLOAT64) {
			r->is_float = true;
			r->f = fn == COL_AGG_MIN ? a.fmin : a.fmax;
		} else if (ty == COL_STRING) {
			if (fn == COL_AGG_MIN) {
				r->s = a.sminbuf;
				r->slen = a.sminl;
				a.sminbuf = NULL;
			} else {
				r->s = a.smaxbuf;
				r->slen = a.smaxl;
				a.smaxbuf = NULL;
			}
		} else {
			r->i = fn == COL_AGG_MIN ? a.imin : a.imax;
		}
		break;
	}
	free(a.sminbuf);
	free(a.smaxbuf);
	return 0;
}

/* ---- column statistics -------------------------------------------------------------------------------------- */

void col_column_stats_clear(struct col_column_stats *s)
{
	free(s->chunks);
	free(s->strbuf);
	memset(s, 0, sizeof(*s));
}

int col_column_stats_get(struct col_table *t, int col, struct col_column_stats *o)
{
	memset(o, 0, sizeof(*o));
	if (col < 0 || (size_t)col >= t->ncols)
		return STRATA_EBAD_REQUEST;
	pthread_rwlock_rdlock(&t->lock);
	enum col_type ty = t->cols[col].type;
	o->col = col;
	o->type = ty;
	o->nchunks = t->nrg;
	o->chunks = calloc(t->nrg + 1, sizeof(*o->chunks));
	size_t strbytes = 2 * (COL_ZONE_STR_MAX + 1) * (t->nrg + 1);
	o->strbuf = ty == COL_STRING ? malloc(strbytes) : NULL;
	if (!o->chunks || (ty == COL_STRING && !o->strbuf)) {
		pthread_rwlock_unlock(&t->lock);
		col_column_stats_clear(o);
		return STRATA_ENOMEM;
	}
	size_t sp = 0;
	int imin = -1, imax = -1;
	for (size_t i = 0; i < t->nrg; i++) {
		const struct col_chunk_meta *m = &t->rg[i].chunks[col];
		struct col_chunk_stats *c = &o->chunks[i];
		c->row_group = (uint32_t)i;
		c->rows = t->rg[i].rows;
		c->enc = (enum col_encoding)m->enc;
		c->stored_bytes = m->len;
		c->plain_bytes = m->plain_bytes;
		c->null_count = m->null_count;
		c->distinct_estimate = m->distinct;
		c->has_minmax = m->flags & CHUNK_F_MINMAX;
		c->has_nan = m->flags & CHUNK_F_NAN;
		c->max_truncated = m->flags & CHUNK_F_MAX_TRUNC;
		c->min = m->min;
		c->max = m->max;
		if (ty == COL_STRING && c->has_minmax) {
			memcpy(o->strbuf + sp, m->min.s, m->min.slen);
			c->min.s = o->strbuf + sp;
			sp += m->min.slen;
			memcpy(o->strbuf + sp, m->max.s, m->max.slen);
			c->max.s = o->strbuf + sp;
			sp += m->max.slen;
		}
		o->rows += c->rows;
		o->null_count += c->null_count;
		o->stored_bytes += c->stored_bytes;
		o->plain_bytes += c->plain_bytes;
		o->encodings[c->enc]++;
		o->has_nan |= c->has_nan;
		if (c->has_minmax) {
			if (imin < 0 || cmp_values(ty, &c->min, &o->chunks[imin].min) < 0)
				imin = (int)i;
			if (imax < 0 || cmp_values(ty, &c->max, &o->chunks[imax].max) > 0)
				imax = (int)i;
		}
	}
	if (imin >= 0) {
		o->has_minmax = true;
		o->min = o->chunks[imin].min;
		o->max = o->chunks[imax].max;
		for (size_t i = 0; i < t->nrg; i++)
			o->max_truncated |= o->chunks[i].max_truncated;
	}
	o->distinct_estimate = col_hll_estimate(t->hll + (size_t)col * COL_HLL_REGS);
	if (o->distinct_estimate > o->rows - o->null_count)
		o->distinct_estimate = o->rows - o->null_count;
	if (o->rows - o->null_count > 0 && o->distinct_estimate == 0)
		o->distinct_estimate = 1;
	o->compression_ratio = o->plain_bytes ? (double)o->stored_bytes / (double)o->plain_bytes : 1.0;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}
