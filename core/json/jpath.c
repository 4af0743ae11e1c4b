/*
 * core/json/jpath.c — JSONPath (RFC 9535): a recursive-descent compiler to
 * a small tree, and an evaluator over jansson values.
 *
 * Grammar (RFC 9535 §2):
 *   query      = "$" *(S segment)
 *   segment    = "[" S sel *(S "," S sel) S "]" | "." (name | "*")
 *              | ".." ("[" ... "]" | name | "*")
 *   sel        = 'name' | "name" | "*" | int | slice | "?" S or-expr
 *   slice      = [int] S ":" S [int] [S ":" S [int]]
 *   or-expr    = and-expr *(S "||" S and-expr)
 *   and-expr   = basic *(S "&&" S basic)
 *   basic      = ["!" S] "(" S or-expr S ")" | ["!" S] query-rel-or-abs
 *              | ["!" S] function | comparable S op S comparable
 *   comparable = literal | singular query (@ or $ with name/index segments)
 *              | function
 *   function   = name "(" S [arg *(S "," S arg)] S ")"   ; name [a-z][a-z0-9_]*
 *   arg        = literal | query | function | or-expr
 *
 * Types (§2.4.1-3): the signatures are the FNS table. An argument is parsed
 * as an operand (literal / query / function); when a comparison or && / ||
 * follows, it is parsed again as a logical expression, which no supported
 * function accepts. check_arg applies the well-typedness rules, parse_basic
 * and parse_comparable those of test expressions and comparisons, so an
 * ill-typed path never compiles and evaluation needs no type checks. A
 * function's result is a struct jval (a value, borrowed from the document
 * or owned when made by length()/count(); NULL is Nothing) or a logical.
 *
 * Evaluation keeps a node list per segment: the nodes selected so far; a
 * segment maps each of them to its selections, in order. A descendant
 * segment applies its selectors to a node and then to each descendant in
 * pre-order (so `$..[*]` lists the RFC's example in its order).
 */
#include "core/json/jpath.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/iregexp.h"
#include "core/json/jbudget.h"
#include "strata/error.h"

#define INT_LIMIT 9007199254740991LL /* 2^53 - 1, RFC 9535 I-JSON range */

enum sel_kind { SEL_NAME, SEL_WILD, SEL_INDEX, SEL_SLICE, SEL_FILTER };
enum expr_kind { EX_OR, EX_AND, EX_NOT, EX_CMP, EX_TEST, EX_FUNC };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct expr;

struct sel {
	enum sel_kind kind;
	char *name;
	size_t name_len;
	long long index;
	long long start, end, step;
	bool has_start, has_end, has_step;
	struct expr *filter;
};

struct seg {
	bool desc;
	struct sel *sels;
	size_t nsel;
};

struct jpath {
	bool relative; /* @ instead of $ (inside filters) */
	struct seg *segs;
	size_t nseg;
	char *text;
	char *canon;
};

/* RFC 9535 §2.4.1 types of function parameters and results. */
enum jtype { T_VALUE, T_LOGICAL, T_NODES };

enum fn_id { FN_LENGTH, FN_COUNT, FN_MATCH, FN_SEARCH, FN_VALUE };

static const struct fn_sig {
	const char *name;
	enum jtype result;
	size_t nparams;
	enum jtype params[2];
} FNS[] = {
	[FN_LENGTH] = {"length", T_VALUE, 1, {T_VALUE}},
	[FN_COUNT] = {"count", T_VALUE, 1, {T_NODES}},
	[FN_MATCH] = {"match", T_LOGICAL, 2, {T_VALUE, T_VALUE}},
	[FN_SEARCH] = {"search", T_LOGICAL, 2, {T_VALUE, T_VALUE}},
	[FN_VALUE] = {"value", T_VALUE, 1, {T_NODES}},
};

struct fcall;

/* A comparable or a function argument: exactly one member is set. */
struct operand {
	json_t *lit;        /* a literal */
	struct jpath *q;    /* a query (singular where a value is needed) */
	struct fcall *f;    /* a function expression */
};

struct fcall {
	enum fn_id fn;
	size_t nargs;
	struct operand args[2];
	struct iregexp *re; /* match/search with a string literal pattern */
};

struct expr {
	enum expr_kind kind;
	struct expr *a, *b;     /* OR / AND / NOT (a) */
	enum cmp_op op;         /* CMP */
	struct operand l, r;    /* CMP */
	struct jpath *test;     /* TEST */
	struct fcall *fn;       /* FUNC: a function with a LogicalType result */
};

/* ---------------------------------------------------------------- freeing */

static void expr_free(struct expr *e);
static void fcall_free(struct fcall *f);

static void operand_free(struct operand *o)
{
	json_decref(o->lit);
	jpath_free(o->q);
	fcall_free(o->f);
	memset(o, 0, sizeof(*o));
}

static void fcall_free(struct fcall *f)
{
	if (!f)
		return;
	/* every slot: an argument that failed to parse or type-check holds
	 * what it had parsed, past nargs */
	for (size_t i = 0; i < sizeof(f->args) / sizeof(f->args[0]); i++)
		operand_free(&f->args[i]);
	iregexp_free(f->re);
	free(f);
}

static void path_free_parts(struct jpath *p)
{
	for (size_t i = 0; i < p->nseg; i++) {
		struct seg *s = &p->segs[i];
		for (size_t k = 0; k < s->nsel; k++) {
			free(s->sels[k].name);
			expr_free(s->sels[k].filter);
		}
		free(s->sels);
	}
	free(p->segs);
	free(p->text);
	free(p->canon);
}

void jpath_free(struct jpath *p)
{
	if (!p)
		return;
	path_free_parts(p);
	free(p);
}

static void expr_free(struct expr *e)
{
	if (!e)
		return;
	expr_free(e->a);
	expr_free(e->b);
	operand_free(&e->l);
	operand_free(&e->r);
	jpath_free(e->test);
	fcall_free(e->fn);
	free(e);
}

/* ---------------------------------------------------------------- parser */

struct parser {
	const char *s;
	size_t pos, len;
	unsigned depth;
	char *msg;
	size_t msglen;
	int err;
};

static int perr(struct parser *ps, size_t at, const char *fmt, const char *what)
{
	if (!ps->err) {
		char m[200];
		snprintf(m, sizeof(m), fmt, what);
		snprintf(ps->msg, ps->msglen, "JSONPath: %s at position %zu", m, at);
		ps->err = STRATA_EBAD_REQUEST;
	}
	return ps->err;
}

static int pnomem(struct parser *ps)
{
	if (!ps->err) {
		snprintf(ps->msg, ps->msglen, "JSONPath: out of memory");
		ps->err = STRATA_ENOMEM;
	}
	return ps->err;
}

static int peekc(const struct parser *ps)
{
	return ps->pos < ps->len ? (unsigned char)ps->s[ps->pos] : -1;
}

static bool at_str(const struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);
	return ps->len - ps->pos >= n && memcmp(ps->s + ps->pos, lit, n) == 0;
}

static void skip_ws(struct parser *ps)
{
	while (ps->pos < ps->len) {
		char c = ps->s[ps->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		ps->pos++;
	}
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_name_first(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static bool is_name_char(int c) { return is_name_first(c) || is_digit(c); }

/* UTF-8 validation of s[0..n): the bytes of a name shorthand. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* RFC int: "0" / ["-"] DIGIT1 *DIGIT, within ±(2^53-1). */
static int parse_int(struct parser *ps, long long *out)
{
	size_t start = ps->pos;
	bool neg = false;
	if (peekc(ps) == '-') {
		neg = true;
		ps->pos++;
	}
	if (!is_digit(peekc(ps)))
		return perr(ps, ps->pos, "expected %s", "a digit");
	if (peekc(ps) == '0') {
		ps->pos++;
		if (neg)
			return perr(ps, start, "%s is not allowed", "-0");
		if (is_digit(peekc(ps)))
			return perr(ps, start, "%s", "leading zeros are not allowed");
		*out = 0;
		return 0;
	}
	long long v = 0;
	while (is_digit(peekc(ps))) {
		v = v * 10 + (peekc(ps) - '0');
		ps->pos++;
		if (v > INT_LIMIT)
			return perr(ps, start, "%s", "integer out of range (at most 2^53-1)");
	}
	*out = neg ? -v : v;
	return 0;
}

static int hex4(struct parser *ps, unsigned *out)
{
	if (ps->len - ps->pos < 4)
		return perr(ps, ps->pos, "%s", "\\u needs four hex digits");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = ps->s[ps->pos + i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return perr(ps, ps->pos + i, "%s", "\\u needs four hex digits");
		v = v * 16 + d;
	}
	ps->pos += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A quoted string ('...' or "..."), unescaped into a new buffer. */
static int parse_string(struct parser *ps, char **out, size_t *outlen)
{
	size_t start = ps->pos;
	char q = ps->s[ps->pos++];
	char *buf = malloc(ps->len - ps->pos + 1);
	size_t n = 0;
	if (!buf)
		return pnomem(ps);
	for (;;) {
		if (ps->pos >= ps->len) {
			free(buf);
			return perr(ps, start, "%s", "unterminated string");
		}
		unsigned char c = (unsigned char)ps->s[ps->pos];
		if (c == (unsigned char)q) {
			ps->pos++;
			break;
		}
		if (c < 0x20) {
			free(buf);
			return perr(ps, ps->pos, "%s", "control character in a string (escape it)");
		}
		if (c != '\\') {
			buf[n++] = (char)c;
			ps->pos++;
			continue;
		}
		size_t esc = ps->pos++;
		int e = peekc(ps);
		ps->pos++;
		switch (e) {
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case '/': buf[n++] = '/'; break;
		case '\\': buf[n++] = '\\'; break;
		case '\'':
		case '"':
			if (e != q) {
				free(buf);
				return perr(ps, esc, "%s", "this quote needs no escape here");
			}
			buf[n++] = (char)e;
			break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(ps, &cp)) {
				free(buf);
				return ps->err;
			}
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				free(buf);
				return perr(ps, esc, "%s", "lone low surrogate");
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (!at_str(ps, "\\u")) {
					free(buf);
					return perr(ps, esc, "%s", "high surrogate without its low half");
				}
				ps->pos += 2;
				if (hex4(ps, &lo)) {
					free(buf);
					return ps->err;
				}
				if (lo < 0xDC00 || lo > 0xDFFF) {
					free(buf);
					return perr(ps, esc, "%s", "high surrogate without its low half");
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			/* 6 escaped bytes always make at most 4 output bytes */
			n += put_utf8(buf + n, cp);
			break;
		}
		default:
			free(buf);
			return perr(ps, esc, "%s", "unknown escape");
		}
	}
	if (!utf8_ok((unsigned char *)buf, n)) {
		free(buf);
		return perr(ps, start, "%s", "string is not valid UTF-8");
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int parse_query(struct parser *ps, struct jpath *p, bool relative);

static struct expr *expr_new(struct parser *ps, enum expr_kind k)
{
	struct expr *e = calloc(1, sizeof(*e));
	if (!e)
		pnomem(ps);
	else
		e->kind = k;
	return e;
}

/* A number literal: int / (int | "-0") [frac] [exp]. */
static json_t *parse_number(struct parser *ps)
{
	size_t start = ps->pos;
	if (peekc(ps) == '-')
		ps->pos++;
	if (!is_digit(peekc(ps))) {
		perr(ps, ps->pos, "expected %s", "a digit");
		return NULL;
	}
	if (peekc(ps) == '0') {
		ps->pos++;
		if (is_digit(peekc(ps))) {
			perr(ps, start, "%s", "leading zeros are not allowed");
			return NULL;
		}
	} else {
		while (is_digit(peekc(ps)))
			ps->pos++;
	}
	bool real = false;
	if (peekc(ps) == '.') {
		ps->pos++;
		real = true;
		if (!is_digit(peekc(ps))) {
			perr(ps, ps->pos, "expected %s", "a digit after '.'");
			return NULL;
		}
		while (is_digit(peekc(ps)))
			ps->pos++;
	}
	if (peekc(ps) == 'e' || peekc(ps) == 'E') {
		ps->pos++;
		real = true;
		if (peekc(ps) == '+' || peekc(ps) == '-')
			ps->pos++;
		if (!is_digit(peekc(ps))) {
			perr(ps, ps->pos, "expected %s", "a digit in the exponent");
			return NULL;
		}
		while (is_digit(peekc(ps)))
			ps->pos++;
	}
	char tmp[64];
	size_t n = ps->pos - start;
	if (n >= sizeof(tmp)) {
		perr(ps, start, "%s", "number literal too long");
		return NULL;
	}
	memcpy(tmp, ps->s + start, n);
	tmp[n] = '\0';
	json_t *v = NULL;
	if (!real && strcmp(tmp, "-0") != 0) {
		char *end;
		long long i = strtoll(tmp, &end, 10);
		if (i > -INT_LIMIT - 1 && i < INT_LIMIT + 1 && *end == '\0')
			v = json_integer(i);
		else
			v = json_real(strtod(tmp, NULL));
	} else {
		double d = strtod(tmp, NULL);
		if (!isfinite(d)) {
			perr(ps, start, "%s", "number out of range");
			return NULL;
		}
		v = json_real(d);
	}
	if (!v)
		pnomem(ps);
	return v;
}

/* Whether a function expression starts here: a function-name
 * (LCALPHA *(LCALPHA / DIGIT / "_")) directly followed by '('. */
static bool at_function(const struct parser *ps)
{
	size_t e = ps->pos;
	if (e >= ps->len || ps->s[e] < 'a' || ps->s[e] > 'z')
		return false;
	while (e < ps->len && ((ps->s[e] >= 'a' && ps->s[e] <= 'z') || is_digit(ps->s[e]) ||
			       ps->s[e] == '_'))
		e++;
	return e < ps->len && ps->s[e] == '(';
}

static int parse_function(struct parser *ps, struct fcall **out);
static bool parse_cmp_op(struct parser *ps, enum cmp_op *op);

/* A literal, a query (any: the caller checks singularity) or a function
 * expression (any result type: the caller checks it). */
static int parse_operand(struct parser *ps, struct operand *o)
{
	size_t start = ps->pos;
	int c = peekc(ps);
	if (c == '\'' || c == '"') {
		char *s;
		size_t n;
		if (parse_string(ps, &s, &n))
			return ps->err;
		o->lit = json_stringn(s, n);
		free(s);
		return o->lit ? 0 : pnomem(ps);
	}
	if (c == '-' || is_digit(c)) {
		o->lit = parse_number(ps);
		return o->lit ? 0 : ps->err;
	}
	if (at_function(ps))
		return parse_function(ps, &o->f);
	if (at_str(ps, "true") && !is_name_char(ps->pos + 4 < ps->len ? ps->s[ps->pos + 4] : 0)) {
		ps->pos += 4;
		o->lit = json_true();
		return 0;
	}
	if (at_str(ps, "false") && !is_name_char(ps->pos + 5 < ps->len ? ps->s[ps->pos + 5] : 0)) {
		ps->pos += 5;
		o->lit = json_false();
		return 0;
	}
	if (at_str(ps, "null") && !is_name_char(ps->pos + 4 < ps->len ? ps->s[ps->pos + 4] : 0)) {
		ps->pos += 4;
		o->lit = json_null();
		return 0;
	}
	if (c == '@' || c == '$') {
		o->q = calloc(1, sizeof(*o->q));
		if (!o->q)
			return pnomem(ps);
		return parse_query(ps, o->q, c == '@');
	}
	if (is_name_first(c)) {
		size_t e = ps->pos;
		while (e < ps->len && is_name_char((unsigned char)ps->s[e]))
			e++;
		char fn[32];
		snprintf(fn, sizeof(fn), "%.*s", (int)(e - ps->pos < 31 ? e - ps->pos : 31), ps->s + ps->pos);
		if (e < ps->len && ps->s[e] == '(')
			return perr(ps, start, "unknown function '%s' (function names are lower case)", fn);
		return perr(ps, start, "unexpected '%s'", fn);
	}
	if (c < 0)
		return perr(ps, start, "%s", "unexpected end of path in a filter");
	return perr(ps, start, "%s", "expected a literal, @, $ or a function");
}

static const char *type_name(enum jtype t)
{
	return t == T_VALUE ? "a value (ValueType)" : t == T_LOGICAL ? "a logical (LogicalType)"
								      : "nodes (NodesType)";
}

/* A comparable (RFC 9535 §2.3.5.1): a literal, a singular query or a
 * function whose result is a ValueType (§2.4.3). */
static int parse_comparable(struct parser *ps, struct operand *o)
{
	size_t start = ps->pos;
	if (parse_operand(ps, o))
		return ps->err;
	if (o->q && !jpath_is_singular(o->q))
		return perr(ps, start, "%s", "a comparison needs a singular query (names and indexes only)");
	if (o->f && FNS[o->f->fn].result != T_VALUE) {
		char m[120];
		snprintf(m, sizeof(m), "function '%s' returns %s and cannot be compared (not well-typed)",
			 FNS[o->f->fn].name, type_name(FNS[o->f->fn].result));
		return perr(ps, start, "%s", m);
	}
	return 0;
}

static struct expr *parse_or(struct parser *ps);

/* RFC 9535 §2.4.3: whether argument a (at position at) is well-typed for a
 * parameter of type want of function fn; an error naming it if not. */
static int check_arg(struct parser *ps, enum fn_id fn, size_t i, const struct operand *a,
		     size_t at)
{
	enum jtype want = FNS[fn].params[i];
	const char *why = NULL;
	char m[200];
	if (want == T_VALUE) {
		if (a->q && !jpath_is_singular(a->q))
			why = "a singular query (names and indexes only), a literal or a function "
			      "returning a value";
		else if (a->f && FNS[a->f->fn].result != T_VALUE)
			why = "a value, not a function returning a logical";
	} else if (want == T_NODES) {
		if (a->lit)
			why = "a query (NodesType), not a literal";
		else if (a->f && FNS[a->f->fn].result != T_NODES)
			why = "a query (NodesType), not a function returning a value or logical";
	}
	if (!why)
		return 0;
	snprintf(m, sizeof(m), "function '%s' argument %zu must be %s (not well-typed)", FNS[fn].name,
		 i + 1, why);
	return perr(ps, at, "%s", m);
}

/* An argument of function fn: a literal, query or function (operand), or
 * a logical expression, which no supported function takes. */
static int parse_farg(struct parser *ps, enum fn_id fn, size_t i, struct operand *o)
{
	size_t start = ps->pos;
	int c = peekc(ps);
	if (c != '!' && c != '(') {
		if (parse_operand(ps, o))
			return ps->err;
		size_t save = ps->pos;
		skip_ws(ps);
		enum cmp_op op;
		bool logical = at_str(ps, "&&") || at_str(ps, "||") || parse_cmp_op(ps, &op);
		ps->pos = save;
		if (!logical)
			return check_arg(ps, fn, i, o, start);
		operand_free(o);
		ps->pos = start;
	}
	/* Parsed for its syntax errors first, then refused as ill-typed. */
	struct expr *e = parse_or(ps);
	if (!e)
		return ps->err;
	expr_free(e);
	char m[160];
	snprintf(m, sizeof(m), "function '%s' argument %zu must be %s, not a logical expression "
		 "(not well-typed)", FNS[fn].name, i + 1, type_name(FNS[fn].params[i]));
	return perr(ps, start, "%s", m);
}

/* A function expression (RFC 9535 §2.4): name "(" args ")", arguments
 * type-checked against the declared parameter types; a string literal
 * pattern of match() / search() is compiled here. */
static int parse_function(struct parser *ps, struct fcall **out)
{
	size_t start = ps->pos, e = ps->pos;
	while (ps->s[e] != '(')
		e++;
	char name[32];
	snprintf(name, sizeof(name), "%.*s", (int)(e - start < 31 ? e - start : 31), ps->s + start);
	size_t fn = 0;
	while (fn < sizeof(FNS) / sizeof(FNS[0]) &&
	       !(strlen(FNS[fn].name) == e - start && memcmp(FNS[fn].name, ps->s + start, e - start) == 0))
		fn++;
	if (fn == sizeof(FNS) / sizeof(FNS[0]))
		return perr(ps, start, "unknown function '%s' (supported: length, count, match, search, "
				       "value)", name);
	if (++ps->depth > JPATH_MAX_NEST)
		return perr(ps, start, "%s", "nested too deeply");
	struct fcall *f = calloc(1, sizeof(*f));
	if (!f)
		return pnomem(ps);
	*out = f;
	f->fn = (enum fn_id)fn;
	ps->pos = e + 1;
	skip_ws(ps);
	size_t pattern_at = 0;
	char m[200];
	if (peekc(ps) != ')') {
		for (;;) {
			size_t at = ps->pos;
			if (f->nargs == FNS[fn].nparams) {
				snprintf(m, sizeof(m), "function '%s' takes %zu argument%s", name,
					 FNS[fn].nparams, FNS[fn].nparams == 1 ? "" : "s");
				return perr(ps, at, "%s", m);
			}
			if (f->nargs == 1)
				pattern_at = at;
			if (parse_farg(ps, f->fn, f->nargs, &f->args[f->nargs]))
				return ps->err;
			f->nargs++;
			skip_ws(ps);
			if (peekc(ps) == ',') {
				ps->pos++;
				skip_ws(ps);
				continue;
			}
			if (peekc(ps) == ')')
				break;
			return perr(ps, ps->pos, "expected %s", "',' or ')' in the function's arguments");
		}
	}
	if (f->nargs != FNS[fn].nparams) {
		snprintf(m, sizeof(m), "function '%s' takes %zu argument%s", name, FNS[fn].nparams,
			 FNS[fn].nparams == 1 ? "" : "s");
		return perr(ps, ps->pos, "%s", m);
	}
	ps->pos++; /* ')' */
	const json_t *pat = f->args[1].lit;
	if ((f->fn == FN_MATCH || f->fn == FN_SEARCH) && json_is_string(pat)) {
		char why[120];
		size_t where = 0;
		int rv = iregexp_compile(json_string_value(pat), json_string_length(pat), &f->re, why,
					 sizeof(why), &where);
		if (rv == STRATA_ENOMEM)
			return pnomem(ps);
		if (rv) {
			snprintf(m, sizeof(m), "invalid I-Regexp in %s(): %s (pattern byte %zu)", name, why,
				 where);
			return perr(ps, pattern_at, "%s", m);
		}
	}
	ps->depth--;
	return 0;
}

static bool parse_cmp_op(struct parser *ps, enum cmp_op *op)
{
	static const struct { const char *t; enum cmp_op op; } ops[] = {
		{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"<", OP_LT}, {">", OP_GT},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (at_str(ps, ops[i].t)) {
			ps->pos += strlen(ops[i].t);
			*op = ops[i].op;
			return true;
		}
	return false;
}

static struct expr *parse_basic(struct parser *ps)
{
	size_t start = ps->pos;
	if (++ps->depth > JPATH_MAX_NEST) {
		perr(ps, start, "%s", "nested too deeply");
		return NULL;
	}
	struct expr *e = NULL;
	bool neg = false;
	if (peekc(ps) == '!' && !at_str(ps, "!=")) {
		neg = true;
		ps->pos++;
		skip_ws(ps);
	}
	if (peekc(ps) == '(') {
		ps->pos++;
		skip_ws(ps);
		e = parse_or(ps);
		if (!e)
			goto fail;
		skip_ws(ps);
		if (peekc(ps) != ')') {
			perr(ps, ps->pos, "expected %s", "')'");
			goto fail;
		}
		ps->pos++;
	} else {
		int c = peekc(ps);
		/* An existence test (a query not followed by a comparison
		 * operator) or a comparison. */
		if (c == '@' || c == '$') {
			struct jpath *q = calloc(1, sizeof(*q));
			if (!q) {
				pnomem(ps);
				goto fail;
			}
			if (parse_query(ps, q, c == '@')) {
				jpath_free(q);
				goto fail;
			}
			size_t save = ps->pos;
			skip_ws(ps);
			enum cmp_op op;
			if (!parse_cmp_op(ps, &op)) {
				ps->pos = save;
				e = expr_new(ps, EX_TEST);
				if (!e) {
					jpath_free(q);
					goto fail;
				}
				e->test = q;
			} else {
				if (neg) {
					jpath_free(q);
					perr(ps, start, "%s", "'!' applies to a test or a parenthesised expression, not a comparison");
					goto fail;
				}
				if (!jpath_is_singular(q)) {
					jpath_free(q);
					perr(ps, start, "%s", "a comparison needs a singular query (names and indexes only)");
					goto fail;
				}
				e = expr_new(ps, EX_CMP);
				if (!e) {
					jpath_free(q);
					goto fail;
				}
				e->l.q = q;
				e->op = op;
				skip_ws(ps);
				if (parse_comparable(ps, &e->r))
					goto fail;
			}
		} else if (at_function(ps)) {
			/* A test of a LogicalType function, or a comparison of a
			 * ValueType one (§2.4.3). */
			struct fcall *f = NULL;
			size_t fpos = ps->pos;
			if (parse_function(ps, &f)) {
				fcall_free(f);
				goto fail;
			}
			size_t save = ps->pos;
			skip_ws(ps);
			enum cmp_op op;
			enum jtype rt = FNS[f->fn].result;
			char m[200];
			if (!parse_cmp_op(ps, &op)) {
				ps->pos = save;
				if (rt == T_VALUE) {
					snprintf(m, sizeof(m), "function '%s' returns a value, not a logical: "
						 "compare it (e.g. %s(...) == 1) (not well-typed)",
						 FNS[f->fn].name, FNS[f->fn].name);
					fcall_free(f);
					perr(ps, fpos, "%s", m);
					goto fail;
				}
				e = expr_new(ps, EX_FUNC);
				if (!e) {
					fcall_free(f);
					goto fail;
				}
				e->fn = f;
			} else {
				if (neg) {
					fcall_free(f);
					perr(ps, start, "%s", "'!' applies to a test or a parenthesised expression, not a comparison");
					goto fail;
				}
				if (rt != T_VALUE) {
					snprintf(m, sizeof(m), "function '%s' returns %s and cannot be compared "
						 "(not well-typed)", FNS[f->fn].name, type_name(rt));
					fcall_free(f);
					perr(ps, start, "%s", m);
					goto fail;
				}
				e = expr_new(ps, EX_CMP);
				if (!e) {
					fcall_free(f);
					goto fail;
				}
				e->l.f = f;
				e->op = op;
				skip_ws(ps);
				if (parse_comparable(ps, &e->r))
					goto fail;
			}
		} else {
			if (neg) {
				perr(ps, start, "%s", "'!' applies to a test or a parenthesised expression, not a comparison");
				goto fail;
			}
			e = expr_new(ps, EX_CMP);
			if (!e)
				goto fail;
			if (parse_comparable(ps, &e->l))
				goto fail;
			skip_ws(ps);
			size_t at = ps->pos;
			if (!parse_cmp_op(ps, &e->op)) {
				perr(ps, at, "expected %s", "a comparison operator (== != < <= > >=)");
				goto fail;
			}
			skip_ws(ps);
			if (parse_comparable(ps, &e->r))
				goto fail;
		}
	}
	if (neg) {
		struct expr *n = expr_new(ps, EX_NOT);
		if (!n)
			goto fail;
		n->a = e;
		e = n;
	}
	ps->depth--;
	return e;
fail:
	expr_free(e);
	return NULL;
}

static struct expr *parse_and(struct parser *ps)
{
	struct expr *e = parse_basic(ps);
	while (e) {
		size_t save = ps->pos;
		skip_ws(ps);
		if (!at_str(ps, "&&")) {
			ps->pos = save;
			break;
		}
		ps->pos += 2;
		skip_ws(ps);
		struct expr *r = parse_basic(ps), *n = r ? expr_new(ps, EX_AND) : NULL;
		if (!n) {
			expr_free(r);
			expr_free(e);
			return NULL;
		}
		n->a = e;
		n->b = r;
		e = n;
	}
	return e;
}

static struct expr *parse_or(struct parser *ps)
{
	struct expr *e = parse_and(ps);
	while (e) {
		size_t save = ps->pos;
		skip_ws(ps);
		if (!at_str(ps, "||")) {
			ps->pos = save;
			break;
		}
		ps->pos += 2;
		skip_ws(ps);
		struct expr *r = parse_and(ps), *n = r ? expr_new(ps, EX_OR) : NULL;
		if (!n) {
			expr_free(r);
			expr_free(e);
			return NULL;
		}
		n->a = e;
		n->b = r;
		e = n;
	}
	return e;
}

static int sel_add(struct parser *ps, struct seg *s, struct sel **out)
{
	struct sel *nv = realloc(s->sels, (s->nsel + 1) * sizeof(*nv));
	if (!nv)
		return pnomem(ps);
	s->sels = nv;
	*out = &nv[s->nsel++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int parse_selector(struct parser *ps, struct seg *s)
{
	struct sel *sl;
	if (sel_add(ps, s, &sl))
		return ps->err;
	int c = peekc(ps);
	size_t start = ps->pos;
	if (c == '\'' || c == '"') {
		sl->kind = SEL_NAME;
		return parse_string(ps, &sl->name, &sl->name_len);
	}
	if (c == '*') {
		ps->pos++;
		sl->kind = SEL_WILD;
		return 0;
	}
	if (c == '?') {
		ps->pos++;
		skip_ws(ps);
		sl->kind = SEL_FILTER;
		sl->filter = parse_or(ps);
		return sl->filter ? 0 : ps->err;
	}
	if (c == '-' || is_digit(c) || c == ':') {
		long long v = 0;
		bool has_first = c != ':';
		if (has_first && parse_int(ps, &v))
			return ps->err;
		size_t save = ps->pos;
		skip_ws(ps);
		if (peekc(ps) != ':') {
			ps->pos = save;
			sl->kind = SEL_INDEX;
			sl->index = v;
			return 0;
		}
		sl->kind = SEL_SLICE;
		sl->has_start = has_first;
		sl->start = v;
		ps->pos++; /* ':' */
		skip_ws(ps);
		c = peekc(ps);
		if (c == '-' || is_digit(c)) {
			if (parse_int(ps, &sl->end))
				return ps->err;
			sl->has_end = true;
			skip_ws(ps);
		}
		if (peekc(ps) == ':') {
			ps->pos++;
			skip_ws(ps);
			c = peekc(ps);
			if (c == '-' || is_digit(c)) {
				if (parse_int(ps, &sl->step))
					return ps->err;
				sl->has_step = true;
			}
		}
		return 0;
	}
	if (is_name_first(c))
		return perr(ps, start, "%s", "a name in brackets must be quoted");
	if (c < 0)
		return perr(ps, start, "%s", "unexpected end of path (expected a selector)");
	return perr(ps, start, "%s", "expected a selector (name, *, index, slice or ?filter)");
}

static int parse_bracket(struct parser *ps, struct seg *s)
{
	size_t open = ps->pos;
	ps->pos++; /* '[' */
	if (++ps->depth > JPATH_MAX_NEST)
		return perr(ps, open, "%s", "nested too deeply");
	skip_ws(ps);
	for (;;) {
		if (parse_selector(ps, s))
			return ps->err;
		skip_ws(ps);
		if (peekc(ps) == ',') {
			ps->pos++;
			skip_ws(ps);
			continue;
		}
		if (peekc(ps) == ']') {
			ps->pos++;
			break;
		}
		return perr(ps, ps->pos, "expected %s", "',' or ']'");
	}
	ps->depth--;
	return 0;
}

static int parse_shorthand(struct parser *ps, struct seg *s)
{
	struct sel *sl;
	int c = peekc(ps);
	if (sel_add(ps, s, &sl))
		return ps->err;
	if (c == '*') {
		ps->pos++;
		sl->kind = SEL_WILD;
		return 0;
	}
	if (!is_name_first(c))
		return perr(ps, ps->pos, "%s", c < 0 ? "unexpected end of path after '.'"
						     : "expected a member name or '*' after '.'");
	size_t start = ps->pos;
	while (ps->pos < ps->len && is_name_char((unsigned char)ps->s[ps->pos]))
		ps->pos++;
	size_t n = ps->pos - start;
	if (!utf8_ok((const unsigned char *)ps->s + start, n))
		return perr(ps, start, "%s", "member name is not valid UTF-8");
	sl->kind = SEL_NAME;
	sl->name = malloc(n + 1);
	if (!sl->name)
		return pnomem(ps);
	memcpy(sl->name, ps->s + start, n);
	sl->name[n] = '\0';
	sl->name_len = n;
	return 0;
}

static int seg_add(struct parser *ps, struct jpath *p, struct seg **out)
{
	struct seg *nv = realloc(p->segs, (p->nseg + 1) * sizeof(*nv));
	if (!nv)
		return pnomem(ps);
	p->segs = nv;
	*out = &nv[p->nseg++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* Parses "$..." or "@..." up to the first character that cannot continue
 * a segment (the caller checks what follows). */
static int parse_query(struct parser *ps, struct jpath *p, bool relative)
{
	if (peekc(ps) != (relative ? '@' : '$'))
		return perr(ps, ps->pos, "expected %s", relative ? "'@'" : "'$' at the start");
	p->relative = relative;
	ps->pos++;
	for (;;) {
		size_t save = ps->pos;
		skip_ws(ps);
		int c = peekc(ps);
		struct seg *s;
		if (c == '[') {
			if (seg_add(ps, p, &s) || parse_bracket(ps, s))
				return ps->err;
		} else if (c == '.' && at_str(ps, "..")) {
			if (save != ps->pos)
				return perr(ps, save, "%s", "blank space before '..'");
			ps->pos += 2;
			if (seg_add(ps, p, &s))
				return ps->err;
			s->desc = true;
			if (peekc(ps) == '[') {
				if (parse_bracket(ps, s))
					return ps->err;
			} else if (parse_shorthand(ps, s)) {
				return ps->err;
			}
		} else if (c == '.') {
			ps->pos++;
			if (seg_add(ps, p, &s) || parse_shorthand(ps, s))
				return ps->err;
		} else {
			ps->pos = save;
			return 0;
		}
	}
}

/* ---------------------------------------------------------- canonical form */

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_quoted(struct sbuf *b, const char *s, size_t n)
{
	sb_puts(b, "'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '\'' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			sb_putn(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_puts(b, esc);
		} else {
			sb_putn(b, (const char *)&c, 1);
		}
	}
	sb_puts(b, "'");
}

static void canon_path(struct sbuf *b, const struct jpath *p);

static void canon_operand(struct sbuf *b, const struct operand *o);

static void canon_fcall(struct sbuf *b, const struct fcall *f)
{
	sb_puts(b, FNS[f->fn].name);
	sb_puts(b, "(");
	for (size_t i = 0; i < f->nargs; i++) {
		if (i)
			sb_puts(b, ",");
		canon_operand(b, &f->args[i]);
	}
	sb_puts(b, ")");
}

static void canon_operand(struct sbuf *b, const struct operand *o)
{
	if (o->f) {
		canon_fcall(b, o->f);
		return;
	}
	if (o->q) {
		canon_path(b, o->q);
		return;
	}
	if (json_is_string(o->lit)) {
		sb_quoted(b, json_string_value(o->lit), json_string_length(o->lit));
		return;
	}
	char *t = json_dumps(o->lit, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	if (!t) {
		b->oom = true;
		return;
	}
	sb_puts(b, t);
	free(t);
}

static void canon_expr(struct sbuf *b, const struct expr *e)
{
	static const char *ops[] = {"==", "!=", "<", "<=", ">", ">="};
	switch (e->kind) {
	case EX_OR:
	case EX_AND:
		sb_puts(b, "(");
		canon_expr(b, e->a);
		sb_puts(b, e->kind == EX_OR ? "||" : "&&");
		canon_expr(b, e->b);
		sb_puts(b, ")");
		break;
	case EX_NOT:
		sb_puts(b, "!(");
		canon_expr(b, e->a);
		sb_puts(b, ")");
		break;
	case EX_CMP:
		canon_operand(b, &e->l);
		sb_puts(b, ops[e->op]);
		canon_operand(b, &e->r);
		break;
	case EX_TEST:
		canon_path(b, e->test);
		break;
	case EX_FUNC:
		canon_fcall(b, e->fn);
		break;
	}
}

static void canon_path(struct sbuf *b, const struct jpath *p)
{
	char num[96];
	sb_puts(b, p->relative ? "@" : "$");
	for (size_t i = 0; i < p->nseg; i++) {
		const struct seg *s = &p->segs[i];
		sb_puts(b, s->desc ? "..[" : "[");
		for (size_t k = 0; k < s->nsel; k++) {
			const struct sel *sl = &s->sels[k];
			if (k)
				sb_puts(b, ",");
			switch (sl->kind) {
			case SEL_NAME: sb_quoted(b, sl->name, sl->name_len); break;
			case SEL_WILD: sb_puts(b, "*"); break;
			case SEL_INDEX:
				snprintf(num, sizeof(num), "%lld", sl->index);
				sb_puts(b, num);
				break;
			case SEL_SLICE:
				num[0] = '\0';
				if (sl->has_start)
					snprintf(num, sizeof(num), "%lld", sl->start);
				sb_puts(b, num);
				sb_puts(b, ":");
				num[0] = '\0';
				if (sl->has_end)
					snprintf(num, sizeof(num), "%lld", sl->end);
				sb_puts(b, num);
				snprintf(num, sizeof(num), ":%lld", sl->has_step ? sl->step : 1);
				sb_puts(b, num);
				break;
			case SEL_FILTER:
				sb_puts(b, "?");
				canon_expr(b, sl->filter);
				break;
			}
		}
		sb_puts(b, "]");
	}
}

int jpath_compile(const char *text, struct jpath **out, char *msg, size_t msglen)
{
	struct parser ps = {.s = text, .len = text ? strlen(text) : 0, .msg = msg, .msglen = msglen};
	*out = NULL;
	if (!text || ps.len == 0) {
		snprintf(msg, msglen, "JSONPath: empty path (it starts with '$') at position 0");
		return STRATA_EBAD_REQUEST;
	}
	if (ps.len > JPATH_MAX_LEN) {
		snprintf(msg, msglen, "JSONPath: longer than %d bytes at position %d", JPATH_MAX_LEN,
			 JPATH_MAX_LEN);
		return STRATA_EBAD_REQUEST;
	}
	struct jpath *p = calloc(1, sizeof(*p));
	if (!p)
		return STRATA_ENOMEM;
	if (parse_query(&ps, p, false) == 0 && ps.pos != ps.len)
		perr(&ps, ps.pos, "%s", ps.s[ps.pos] == ' ' || ps.s[ps.pos] == '\t'
					 ? "unexpected blank space" : "unexpected character");
	if (ps.err) {
		jpath_free(p);
		return ps.err;
	}
	struct sbuf b = {0};
	canon_path(&b, p);
	p->text = strdup(text);
	p->canon = b.p;
	if (b.oom || !p->text || !p->canon) {
		jpath_free(p);
		return STRATA_ENOMEM;
	}
	*out = p;
	return 0;
}

const char *jpath_text(const struct jpath *p) { return p->text; }
const char *jpath_canonical(const struct jpath *p) { return p->canon; }

bool jpath_is_singular(const struct jpath *p)
{
	for (size_t i = 0; i < p->nseg; i++) {
		const struct seg *s = &p->segs[i];
		if (s->desc || s->nsel != 1 ||
		    (s->sels[0].kind != SEL_NAME && s->sels[0].kind != SEL_INDEX))
			return false;
	}
	return true;
}

size_t jpath_steps(const struct jpath *p) { return p->nseg; }

bool jpath_step(const struct jpath *p, size_t i, const char **name, size_t *name_len,
		long long *index)
{
	if (i >= p->nseg || p->segs[i].desc || p->segs[i].nsel != 1)
		return false;
	const struct sel *sl = &p->segs[i].sels[0];
	*name = NULL;
	*name_len = 0;
	*index = 0;
	if (sl->kind == SEL_NAME) {
		*name = sl->name;
		*name_len = sl->name_len;
		return true;
	}
	if (sl->kind == SEL_INDEX) {
		*index = sl->index;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------- values */

void jnum_parts(const json_t *n, int *sign, int *exp, unsigned long long *mant)
{
	*sign = 0;
	*exp = 0;
	*mant = 0;
	if (json_is_integer(n)) {
		json_int_t i = json_integer_value(n);
		if (i == 0)
			return;
		uint64_t u = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
		int bits = 64 - __builtin_clzll(u);
		*sign = i < 0 ? -1 : 1;
		*exp = bits;
		*mant = u << (64 - bits);
		return;
	}
	double d = json_real_value(n);
	if (d == 0 || !isfinite(d))
		return;
	int e;
	double m = frexp(fabs(d), &e); /* |d| = m * 2^e, m in [0.5, 1) */
	*sign = d < 0 ? -1 : 1;
	*exp = e;
	*mant = (unsigned long long)ldexp(m, 64);
}

static int num_cmp(const json_t *a, const json_t *b)
{
	int sa, sb, ea, eb;
	unsigned long long ma, mb;
	jnum_parts(a, &sa, &ea, &ma);
	jnum_parts(b, &sb, &eb, &mb);
	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (sa == 0)
		return 0;
	int c = ea != eb ? (ea < eb ? -1 : 1) : ma != mb ? (ma < mb ? -1 : 1) : 0;
	return sa < 0 ? -c : c;
}

static int str_cmp(const json_t *a, const json_t *b)
{
	size_t la = json_string_length(a), lb = json_string_length(b);
	int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
	if (c)
		return c < 0 ? -1 : 1;
	return la == lb ? 0 : la < lb ? -1 : 1;
}

bool jvalue_order(const json_t *a, const json_t *b, int *cmp)
{
	if (json_is_number(a) && json_is_number(b)) {
		*cmp = num_cmp(a, b);
		return true;
	}
	if (json_is_string(a) && json_is_string(b)) {
		*cmp = str_cmp(a, b);
		return true;
	}
	return false;
}

/* Deep equality, charged to b (NULL: unlimited): one unit per pair of
 * values compared, plus the bytes of compared strings and member names.
 * 1 equal, 0 not, <0 the budget ran out. */
static int equal_charged(const json_t *a, const json_t *b, struct jbudget *bud)
{
	int rv = jbudget_charge(bud, 1);
	if (rv)
		return rv;
	if (!a || !b)
		return a == b;
	if (json_is_number(a) && json_is_number(b))
		return num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_STRING: {
		size_t la = json_string_length(a);
		if (la != json_string_length(b))
			return 0;
		if ((rv = jbudget_charge(bud, jbudget_bytes(la))))
			return rv;
		return str_cmp(a, b) == 0;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(a);
		if (n != json_array_size(b))
			return 0;
		for (size_t i = 0; i < n; i++)
			if ((rv = equal_charged(json_array_get(a, i), json_array_get(b, i), bud)) != 1)
				return rv;
		return 1;
	}
	case JSON_OBJECT: {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		const char *k;
		size_t kl;
		json_t *v;
		json_object_keylen_foreach((json_t *)a, k, kl, v) {
			if ((rv = jbudget_charge(bud, jbudget_bytes(kl))))
				return rv;
			json_t *w = json_object_getn(b, k, kl);
			if (!w)
				return 0;
			if ((rv = equal_charged(v, w, bud)) != 1)
				return rv;
		}
		return 1;
	}
	default: return 1; /* true, false, null */
	}
}

bool jvalue_equal(const json_t *a, const json_t *b)
{
	return equal_charged(a, b, NULL) == 1;
}

/* ------------------------------------------------------------- evaluator */

static int list_add(struct jpath_nodes *l, json_t *v, json_t *parent, const char *key,
		    size_t klen, size_t index)
{
	if (l->n >= JPATH_MAX_NODES)
		return STRATA_ETOO_LARGE;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct jpath_node *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return STRATA_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = (struct jpath_node){v, parent, key, klen, index};
	return 0;
}

void jpath_nodes_free(struct jpath_nodes *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* One evaluation: the document's root and the budget every step charges
 * (core/json/jbudget.h lists the units). */
struct evalctx {
	json_t *root;
	struct jbudget *budget;
};

static int charge(struct evalctx *cx, uint64_t units)
{
	return jbudget_charge(cx->budget, units);
}

/* list_add, charged one unit. */
static int cx_add(struct evalctx *cx, struct jpath_nodes *l, json_t *v, json_t *parent,
		  const char *key, size_t klen, size_t index)
{
	int rv = charge(cx, 1);
	return rv ? rv : list_add(l, v, parent, key, klen, index);
}

static int eval_path(struct evalctx *cx, const struct jpath *p, json_t *start,
		     struct jpath_nodes *out);

/* A singular query's value into *out, or NULL (Nothing). 0 or <0 error
 * (the budget). */
static int eval_singular(struct evalctx *cx, const struct jpath *q, json_t *cur, json_t **out)
{
	json_t *v = q->relative ? cur : cx->root;
	int rv;
	*out = NULL;
	for (size_t i = 0; v && i < q->nseg; i++) {
		const struct sel *sl = &q->segs[i].sels[0];
		if (sl->kind == SEL_NAME) {
			if ((rv = charge(cx, 1 + jbudget_bytes(sl->name_len))))
				return rv;
			v = json_is_object(v) ? json_object_getn(v, sl->name, sl->name_len) : NULL;
		} else {
			if ((rv = charge(cx, 1)))
				return rv;
			if (!json_is_array(v))
				return 0;
			long long n = (long long)json_array_size(v), k = sl->index < 0 ? n + sl->index : sl->index;
			v = k >= 0 && k < n ? json_array_get(v, (size_t)k) : NULL;
		}
	}
	*out = v;
	return 0;
}

/* jvalue_equal, charged to the evaluation's budget. 1, 0, <0 error. */
static int cx_equal(struct evalctx *cx, const json_t *a, const json_t *b)
{
	return equal_charged(a, b, cx->budget);
}

/* jvalue_order, charged (strings by their bytes). 1 ordered (*c set), 0
 * not ordered, <0 error. */
static int cx_order(struct evalctx *cx, const json_t *a, const json_t *b, int *c)
{
	if (json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int rv = charge(cx, jbudget_bytes(la < lb ? la : lb));
		if (rv)
			return rv;
	}
	return jvalue_order(a, b, c);
}

/* 1 true, 0 false, <0 error. */
static int cmp_values(struct evalctx *cx, const json_t *l, enum cmp_op op, const json_t *r)
{
	int c, rv;
	switch (op) {
	case OP_EQ: return cx_equal(cx, l, r);
	case OP_NE:
		rv = cx_equal(cx, l, r);
		return rv < 0 ? rv : !rv;
	case OP_LT:
	case OP_GT:
		if (!l || !r)
			return 0;
		if ((rv = cx_order(cx, l, r, &c)) <= 0)
			return rv;
		return op == OP_LT ? c < 0 : c > 0;
	case OP_LE:
	case OP_GE:
		if ((rv = cx_equal(cx, l, r)) != 0)
			return rv;
		if (!l || !r)
			return 0;
		if ((rv = cx_order(cx, l, r, &c)) <= 0)
			return rv;
		return op == OP_LE ? c < 0 : c > 0;
	}
	return 0;
}

/* A value that is borrowed (from the document or a literal) or owned (made
 * by a function: length(), count()); v NULL is Nothing. */
struct jval {
	json_t *v;
	bool owned;
};

static void jval_release(struct jval *x)
{
	if (x->owned)
		json_decref(x->v);
	x->v = NULL;
	x->owned = false;
}

static int eval_fcall(struct evalctx *cx, const struct fcall *f, json_t *cur,
		      struct jval *val, bool *logical);

/* A ValueType operand: a literal, a singular query's node or Nothing, or
 * a ValueType function's result. 0 or <0 error. */
static int eval_value(struct evalctx *cx, const struct operand *o, json_t *cur,
		      struct jval *out)
{
	*out = (struct jval){NULL, false};
	if (o->lit) {
		out->v = o->lit;
		return 0;
	}
	if (o->q)
		return eval_singular(cx, o->q, cur, &out->v);
	bool unused;
	return eval_fcall(cx, o->f, cur, out, &unused);
}

/* A NodesType argument (a query): how many nodes it selects, and the
 * node when it is exactly one (NULL otherwise). */
static int eval_nodes(struct evalctx *cx, const struct jpath *q, json_t *cur,
		      size_t *count, json_t **single)
{
	if (jpath_is_singular(q)) {
		int rv = eval_singular(cx, q, cur, single);
		*count = *single != NULL;
		return rv;
	}
	struct jpath_nodes l = {0};
	int rv = eval_path(cx, q, q->relative ? cur : cx->root, &l);
	*count = l.n;
	*single = l.n == 1 ? l.v[0].value : NULL;
	jpath_nodes_free(&l);
	return rv;
}

/* The number of code points of a (valid UTF-8) string. */
static size_t utf8_count(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

/* match() / search(): LogicalFalse unless both are strings and the
 * pattern is a valid I-Regexp. A pattern from the document is compiled at
 * each call and charged its bytes and instructions; the matching charges
 * its own steps. 1, 0 or <0 error. */
static int eval_regex(struct evalctx *cx, const struct fcall *f, const json_t *str,
		      const json_t *pat)
{
	if (!json_is_string(str) || !json_is_string(pat))
		return 0;
	struct iregexp *re = f->re;
	int rv;
	if (!re) {
		size_t plen = json_string_length(pat);
		if ((rv = charge(cx, 1 + plen)))
			return rv;
		rv = iregexp_compile(json_string_value(pat), plen, &re, NULL, 0, NULL);
		if (rv)
			return rv == STRATA_ENOMEM ? rv : 0;
		if ((rv = charge(cx, iregexp_size(re)))) {
			iregexp_free(re);
			return rv;
		}
	}
	int m = iregexp_match(re, json_string_value(str), json_string_length(str),
			      f->fn == FN_MATCH, cx->budget);
	if (re != f->re)
		iregexp_free(re);
	return m;
}

/* Evaluates f at cur: a ValueType function sets *val, a LogicalType one
 * *logical. 0 or <0 error (memory, the budget, or a node list over
 * JPATH_MAX_NODES). */
static int eval_fcall(struct evalctx *cx, const struct fcall *f, json_t *cur,
		      struct jval *val, bool *logical)
{
	struct jval a = {NULL, false}, b = {NULL, false};
	size_t n;
	json_t *single;
	int rv = 0;
	*val = (struct jval){NULL, false};
	*logical = false;
	if ((rv = charge(cx, 1)))
		return rv;
	switch (f->fn) {
	case FN_LENGTH:
		if ((rv = eval_value(cx, &f->args[0], cur, &a)))
			break;
		if (json_is_string(a.v)) {
			if ((rv = charge(cx, jbudget_bytes(json_string_length(a.v)))))
				break;
			n = utf8_count(json_string_value(a.v), json_string_length(a.v));
		} else if (json_is_array(a.v)) {
			n = json_array_size(a.v);
		} else if (json_is_object(a.v)) {
			n = json_object_size(a.v);
		} else {
			break; /* Nothing */
		}
		val->v = json_integer((json_int_t)n);
		val->owned = true;
		rv = val->v ? 0 : STRATA_ENOMEM;
		break;
	case FN_COUNT:
		if ((rv = eval_nodes(cx, f->args[0].q, cur, &n, &single)))
			break;
		val->v = json_integer((json_int_t)n);
		val->owned = true;
		rv = val->v ? 0 : STRATA_ENOMEM;
		break;
	case FN_VALUE:
		if ((rv = eval_nodes(cx, f->args[0].q, cur, &n, &single)))
			break;
		val->v = single; /* Nothing unless exactly one node */
		break;
	case FN_MATCH:
	case FN_SEARCH:
		if ((rv = eval_value(cx, &f->args[0], cur, &a)) ||
		    (rv = eval_value(cx, &f->args[1], cur, &b)))
			break;
		rv = eval_regex(cx, f, a.v, b.v);
		*logical = rv == 1;
		rv = rv < 0 ? rv : 0;
		break;
	}
	jval_release(&a);
	jval_release(&b);
	return rv;
}

/* 1 true, 0 false, <0 error. */
static int eval_expr(struct evalctx *cx, const struct expr *e, json_t *cur)
{
	int a = charge(cx, 1);
	if (a)
		return a;
	switch (e->kind) {
	case EX_OR:
		a = eval_expr(cx, e->a, cur);
		return a != 0 ? a : eval_expr(cx, e->b, cur);
	case EX_AND:
		a = eval_expr(cx, e->a, cur);
		return a <= 0 ? a : eval_expr(cx, e->b, cur);
	case EX_NOT:
		a = eval_expr(cx, e->a, cur);
		return a < 0 ? a : !a;
	case EX_CMP: {
		struct jval l, r = {NULL, false};
		int rv = eval_value(cx, &e->l, cur, &l);
		if (!rv)
			rv = eval_value(cx, &e->r, cur, &r);
		if (!rv)
			rv = cmp_values(cx, l.v, e->op, r.v);
		jval_release(&l);
		jval_release(&r);
		return rv;
	}
	case EX_FUNC: {
		struct jval v;
		bool t;
		int rv = eval_fcall(cx, e->fn, cur, &v, &t);
		jval_release(&v);
		return rv < 0 ? rv : t;
	}
	case EX_TEST: {
		if (jpath_is_singular(e->test)) {
			json_t *v;
			int rv = eval_singular(cx, e->test, cur, &v);
			return rv < 0 ? rv : v != NULL;
		}
		struct jpath_nodes l = {0};
		int rv = eval_path(cx, e->test, e->test->relative ? cur : cx->root, &l);
		bool any = l.n > 0;
		jpath_nodes_free(&l);
		return rv ? rv : any;
	}
	}
	return 0;
}

static long long clamp_ll(long long x, long long lo, long long hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* RFC 9535 §2.3.4.2.2: normalize start and end, clamp them to the array
 * (to [0, len] going forward, [-1, len - 1] going backward), then walk from
 * the clamped start towards the clamped end, excluded, by step. */
static int apply_slice(struct evalctx *cx, const struct sel *sl, json_t *v,
		       struct jpath_nodes *out)
{
	long long len = (long long)json_array_size(v);
	long long step = sl->has_step ? sl->step : 1;
	if (step == 0)
		return 0;
	bool fwd = step > 0;
	long long start = sl->has_start ? sl->start : fwd ? 0 : len - 1;
	long long end = sl->has_end ? sl->end : fwd ? len : -len - 1;
	long long ns = start >= 0 ? start : len + start, ne = end >= 0 ? end : len + end;
	long long lo = fwd ? 0 : -1, hi = fwd ? len : len - 1;
	long long first = clamp_ll(ns, lo, hi), stop = clamp_ll(ne, lo, hi);
	for (long long i = first; fwd ? i < stop : i > stop; i += step) {
		int rv = cx_add(cx, out, json_array_get(v, (size_t)i), v, NULL, 0, (size_t)i);
		if (rv)
			return rv;
	}
	return 0;
}

static int apply_selector(struct evalctx *cx, const struct sel *sl, json_t *v,
			  struct jpath_nodes *out)
{
	int rv = charge(cx, 1);
	if (rv)
		return rv;
	switch (sl->kind) {
	case SEL_NAME: {
		if ((rv = charge(cx, jbudget_bytes(sl->name_len))))
			return rv;
		json_t *c = json_is_object(v) ? json_object_getn(v, sl->name, sl->name_len) : NULL;
		return c ? cx_add(cx, out, c, v, sl->name, sl->name_len, 0) : 0;
	}
	case SEL_WILD:
		if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v) && !rv; i++)
				rv = cx_add(cx, out, json_array_get(v, i), v, NULL, 0, i);
		} else if (json_is_object(v)) {
			const char *k;
			size_t kl;
			json_t *x;
			json_object_keylen_foreach(v, k, kl, x) {
				if ((rv = cx_add(cx, out, x, v, k, kl, 0)))
					break;
			}
		}
		return rv;
	case SEL_INDEX: {
		if (!json_is_array(v))
			return 0;
		long long n = (long long)json_array_size(v), k = sl->index < 0 ? n + sl->index : sl->index;
		return k >= 0 && k < n ? cx_add(cx, out, json_array_get(v, (size_t)k), v, NULL, 0, (size_t)k) : 0;
	}
	case SEL_SLICE:
		return json_is_array(v) ? apply_slice(cx, sl, v, out) : 0;
	case SEL_FILTER:
		if (json_is_array(v)) {
			for (size_t i = 0; i < json_array_size(v) && !rv; i++) {
				json_t *c = json_array_get(v, i);
				int t = eval_expr(cx, sl->filter, c);
				rv = t < 0 ? t : t ? cx_add(cx, out, c, v, NULL, 0, i) : 0;
			}
		} else if (json_is_object(v)) {
			const char *k;
			size_t kl;
			json_t *x;
			json_object_keylen_foreach(v, k, kl, x) {
				int t = eval_expr(cx, sl->filter, x);
				rv = t < 0 ? t : t ? cx_add(cx, out, x, v, k, kl, 0) : 0;
				if (rv)
					break;
			}
		}
		return rv;
	}
	return 0;
}

/* Applies s to v (and, for a descendant segment, to each descendant of v
 * in pre-order): one unit per node it is applied to. */
static int apply_segment(struct evalctx *cx, const struct seg *s, json_t *v,
			 struct jpath_nodes *out)
{
	int rv = charge(cx, 1);
	if (rv)
		return rv;
	for (size_t k = 0; k < s->nsel; k++)
		if ((rv = apply_selector(cx, &s->sels[k], v, out)))
			return rv;
	if (!s->desc)
		return 0;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if ((rv = apply_segment(cx, s, json_array_get(v, i), out)))
				return rv;
	} else if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if ((rv = apply_segment(cx, s, x, out)))
				return rv;
		}
	}
	return 0;
}

static int eval_path(struct evalctx *cx, const struct jpath *p, json_t *start,
		     struct jpath_nodes *out)
{
	struct jpath_nodes cur = {0}, next = {0};
	int rv = cx_add(cx, &cur, start, NULL, NULL, 0, 0);
	for (size_t i = 0; !rv && i < p->nseg; i++) {
		for (size_t k = 0; !rv && k < cur.n; k++)
			rv = apply_segment(cx, &p->segs[i], cur.v[k].value, &next);
		jpath_nodes_free(&cur);
		cur = next;
		memset(&next, 0, sizeof(next));
	}
	for (size_t k = 0; !rv && k < cur.n; k++) {
		struct jpath_node *nd = &cur.v[k];
		rv = list_add(out, nd->value, nd->parent, nd->key, nd->klen, nd->index);
	}
	jpath_nodes_free(&cur);
	jpath_nodes_free(&next);
	return rv;
}

int jpath_eval(const struct jpath *p, json_t *doc, struct jbudget *budget,
	       struct jpath_nodes *out)
{
	struct evalctx cx = {.root = doc, .budget = budget};
	if (!doc)
		return 0;
	size_t had = out->n;
	int rv = eval_path(&cx, p, doc, out);
	if (rv)
		out->n = had; /* nothing partial */
	return rv;
}

int jpath_first(const struct jpath *p, json_t *doc, struct jbudget *budget, json_t **out)
{
	*out = NULL;
	if (!doc)
		return 0;
	if (jpath_is_singular(p)) {
		struct evalctx cx = {.root = doc, .budget = budget};
		return eval_singular(&cx, p, doc, out);
	}
	struct jpath_nodes l = {0};
	int rv = jpath_eval(p, doc, budget, &l);
	if (!rv && l.n > 0)
		*out = l.v[0].value;
	jpath_nodes_free(&l);
	return rv;
}
