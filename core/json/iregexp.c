/*
 * core/json/iregexp.c — I-Regexp (RFC 9485): a recursive-descent parser to
 * a small syntax tree, a compiler from the tree to a Thompson NFA program,
 * and a lock-step simulation of the program (Thompson / Pike, without
 * captures: match() and search() only need a yes or no).
 *
 * Grammar (RFC 9485 §5.3, over code points):
 *   regexp = branch *("|" branch)
 *   branch = *piece
 *   piece  = atom [quantifier]          ; one quantifier: `a**` is an error
 *   atom   = NormalChar / "." / escape / class / "(" regexp ")"
 *   class  = "[" ["^"] ("-" / item) *item ["-"] "]"
 *   item   = ccchar ["-" ccchar] / "\p{..}" / "\P{..}"
 *
 * Program (instructions are struct insn):
 *   CHAR c     consume the code point c
 *   ANY        consume any code point but \n and \r
 *   CLASS k    consume a code point in class k
 *   SPLIT x y  continue at both x and y
 *   JMP x      continue at x
 *   MATCH      the expression matched
 * Tree → program: alternation of k branches is k-1 SPLITs and JMPs around
 * the branches; x{n,m} is n copies of x then m-n copies of (SPLIT; x);
 * x{n,} is n copies then the loop L: SPLIT L+1, E; x; JMP L; E:. The tree's
 * size is computed first (saturating), so an over-large program is refused
 * before anything is emitted.
 *
 * Simulation: the set of live states (program counters of consuming
 * instructions) for the current position; each input code point maps it to
 * the next set, following SPLIT/JMP with an explicit stack and a per-step
 * mark, so a state enters a set once (epsilon loops such as `(a?)*` end).
 * search() adds the start state at every position.
 */
#include "core/json/iregexp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbudget.h"
#include "core/json/ucd.h"
#include "strata/error.h"

enum nkind { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_CAT, N_ALT, N_REPEAT };

/* A tree node; children form a list (first, then next of each child), so
 * a long concatenation is a list, not a deep tree. */
struct node {
	enum nkind kind;
	uint32_t v;      /* CHAR: the code point; CLASS: the class index */
	int first, last; /* CAT / ALT / REPEAT: children (REPEAT has one) */
	int next;        /* the next sibling */
	int min, max;    /* REPEAT; max -1 for no upper bound */
};

/* A class item: the range [lo, hi], or a category mask (negated: \P). */
struct citem {
	uint32_t lo, hi;
	uint32_t mask;
	bool cat, neg;
};

struct cclass {
	size_t first, n; /* items[first .. first + n) */
	bool neg;        /* [^...] */
};

enum op { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_MATCH };

struct insn {
	uint8_t op;
	uint32_t x, y;
};

struct iregexp {
	struct insn *prog;
	size_t n;
	struct citem *items;
	struct cclass *classes;
};

/* ------------------------------------------------------------------ UTF-8 */

/* Decodes one code point of s[0..n): its length (1..4), or 0 when the bytes
 * are not UTF-8 (overlong forms, surrogates and > U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if ((c & 0xE0) == 0xC0) {
		len = 2, v = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, v = c & 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3Fu);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* ----------------------------------------------------------------- parser */

struct rparser {
	const unsigned char *s;
	size_t len, pos;
	unsigned depth;
	struct node *nodes;
	size_t nnodes, capnodes;
	struct citem *items;
	size_t nitems, capitems;
	struct cclass *classes;
	size_t nclasses, capclasses;
	int err;
	char *msg;
	size_t msglen;
	size_t errpos;
};

static int rp_fail(struct rparser *p, size_t at, const char *why)
{
	if (!p->err) {
		p->err = STRATA_EBAD_REQUEST;
		p->errpos = at;
		if (p->msg && p->msglen)
			snprintf(p->msg, p->msglen, "%s", why);
	}
	return p->err;
}

static int rp_nomem(struct rparser *p)
{
	if (!p->err) {
		p->err = STRATA_ENOMEM;
		if (p->msg && p->msglen)
			snprintf(p->msg, p->msglen, "out of memory");
	}
	return p->err;
}

/* Grows *v (elements of size sz) to hold one more; 0 or STRATA_ENOMEM. */
static int grow(struct rparser *p, void **v, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *nv = realloc(*v, nc * sz);
	if (!nv)
		return rp_nomem(p);
	*v = nv;
	*cap = nc;
	return 0;
}

/* The code point at the current position (its length in *clen), or -1 at
 * the end; not UTF-8 is an error (returns -2). */
static long cur(struct rparser *p, size_t *clen)
{
	uint32_t cp;
	if (p->pos >= p->len) {
		*clen = 0;
		return -1;
	}
	*clen = utf8_decode(p->s + p->pos, p->len - p->pos, &cp);
	if (*clen == 0) {
		rp_fail(p, p->pos, "pattern is not valid UTF-8");
		return -2;
	}
	return (long)cp;
}

static int peek_byte(const struct rparser *p, size_t off)
{
	return p->pos + off < p->len ? p->s[p->pos + off] : -1;
}

static int node_new(struct rparser *p, enum nkind k)
{
	if (grow(p, (void **)&p->nodes, &p->capnodes, p->nnodes, sizeof(*p->nodes)))
		return -1;
	p->nodes[p->nnodes] = (struct node){.kind = k, .first = -1, .last = -1, .next = -1};
	return (int)p->nnodes++;
}

static void node_add_child(struct rparser *p, int parent, int child)
{
	struct node *n = &p->nodes[parent];
	if (n->last < 0)
		n->first = child;
	else
		p->nodes[n->last].next = child;
	n->last = child;
}

static int item_add(struct rparser *p, struct citem it)
{
	if (grow(p, (void **)&p->items, &p->capitems, p->nitems, sizeof(*p->items)))
		return p->err;
	p->items[p->nitems++] = it;
	p->classes[p->nclasses - 1].n++;
	return 0;
}

/* A new class (its items follow with item_add); its index or -1. */
static int class_new(struct rparser *p, bool neg)
{
	if (grow(p, (void **)&p->classes, &p->capclasses, p->nclasses, sizeof(*p->classes)))
		return -1;
	p->classes[p->nclasses] = (struct cclass){.first = p->nitems, .n = 0, .neg = neg};
	return (int)p->nclasses++;
}

/* An escape at '\': a single character (*cat false, *cp) or a category
 * escape (*cat true, *mask, *neg). */
static int parse_escape(struct rparser *p, bool *cat, uint32_t *cp, uint32_t *mask, bool *neg)
{
	size_t at = p->pos++;
	int c = peek_byte(p, 0);
	*cat = false;
	if (c < 0)
		return rp_fail(p, at, "pattern ends inside an escape");
	if (c == 'p' || c == 'P') {
		p->pos++;
		if (peek_byte(p, 0) != '{')
			return rp_fail(p, p->pos, "expected '{' after \\p / \\P");
		size_t name = ++p->pos;
		while (p->pos < p->len && p->s[p->pos] != '}')
			p->pos++;
		if (p->pos >= p->len)
			return rp_fail(p, at, "unterminated \\p{...}");
		*mask = ucd_property_mask((const char *)p->s + name, p->pos - name);
		if (!*mask)
			return rp_fail(p, name, "unknown Unicode category (L Lu Ll Lt Lm Lo M Mn Mc Me "
					  "N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp "
					  "C Cc Cf Co Cn)");
		p->pos++; /* '}' */
		*cat = true;
		*neg = c == 'P';
		return 0;
	}
	p->pos++;
	switch (c) {
	case 'n': *cp = '\n'; return 0;
	case 'r': *cp = '\r'; return 0;
	case 't': *cp = '\t'; return 0;
	default:
		if (c < 0x80 && strchr("()*+-.?[\\]^{|}", c)) {
			*cp = (uint32_t)c;
			return 0;
		}
		return rp_fail(p, at, "unknown escape (I-Regexp has no \\d \\w \\s \\b; "
				  "escape only ( ) * + - . ? [ \\ ] ^ { | } n r t p P)");
	}
}

/* A class character (the end of a range): a code point but - [ ], or an
 * escaped single character. */
static int parse_ccchar(struct rparser *p, uint32_t *cp)
{
	size_t clen, at = p->pos;
	long c = cur(p, &clen);
	if (c == -2)
		return p->err;
	if (c < 0)
		return rp_fail(p, at, "pattern ends inside a character class");
	if (c == '\\') {
		bool cat, neg;
		uint32_t mask;
		if (parse_escape(p, &cat, cp, &mask, &neg))
			return p->err;
		return cat ? rp_fail(p, at, "a range cannot end with a category escape") : 0;
	}
	if (c == '-' || c == '[' || c == ']')
		return rp_fail(p, at, "expected a character to end the range");
	p->pos += clen;
	*cp = (uint32_t)c;
	return 0;
}

static int parse_class(struct rparser *p)
{
	size_t open = p->pos++;
	bool neg = false;
	if (peek_byte(p, 0) == '^') {
		neg = true;
		p->pos++;
	}
	int k = class_new(p, neg);
	if (k < 0)
		return -1;
	for (bool first = true;; first = false) {
		size_t clen, at = p->pos;
		long c = cur(p, &clen);
		if (c == -2)
			return -1;
		if (c < 0) {
			rp_fail(p, open, "unclosed '['");
			return -1;
		}
		if (c == ']') {
			if (first) {
				rp_fail(p, at, "empty character class");
				return -1;
			}
			p->pos++;
			break;
		}
		if (c == '-') {
			if (!first && peek_byte(p, 1) != ']') {
				rp_fail(p, at, "'-' in a class must be escaped, or first or last");
				return -1;
			}
			p->pos++;
			if (item_add(p, (struct citem){.lo = '-', .hi = '-'}))
				return -1;
			continue;
		}
		if (c == '[') {
			rp_fail(p, at, "'[' in a class must be escaped");
			return -1;
		}
		uint32_t lo, hi;
		if (c == '\\') {
			bool cat, cneg;
			uint32_t mask;
			if (parse_escape(p, &cat, &lo, &mask, &cneg))
				return -1;
			if (cat) {
				if (item_add(p, (struct citem){.mask = mask, .cat = true, .neg = cneg}))
					return -1;
				continue;
			}
		} else {
			lo = (uint32_t)c;
			p->pos += clen;
		}
		hi = lo;
		if (peek_byte(p, 0) == '-' && peek_byte(p, 1) >= 0 && peek_byte(p, 1) != ']') {
			size_t dash = p->pos++;
			if (parse_ccchar(p, &hi))
				return -1;
			if (hi < lo) {
				rp_fail(p, dash, "range out of order in a class");
				return -1;
			}
		}
		if (item_add(p, (struct citem){.lo = lo, .hi = hi}))
			return -1;
	}
	int n = node_new(p, N_CLASS);
	if (n >= 0)
		p->nodes[n].v = (uint32_t)k;
	return n;
}

static int parse_alt(struct rparser *p);

/* Digits of a {n,m} count (at least one); their value, at most
 * IREGEXP_MAX_REPEAT. */
static int parse_count(struct rparser *p, int *out)
{
	size_t at = p->pos;
	long v = 0;
	if (peek_byte(p, 0) < '0' || peek_byte(p, 0) > '9')
		return rp_fail(p, at, "expected a number in {n,m}");
	while (peek_byte(p, 0) >= '0' && peek_byte(p, 0) <= '9') {
		v = v * 10 + (p->s[p->pos++] - '0');
		if (v > IREGEXP_MAX_REPEAT)
			return rp_fail(p, at, "repeat count over 1000");
	}
	*out = (int)v;
	return 0;
}

static int parse_atom(struct rparser *p)
{
	size_t clen, at = p->pos;
	long c = cur(p, &clen);
	int n;
	if (c == -2)
		return -1;
	switch (c) {
	case '(':
		if (++p->depth > IREGEXP_MAX_NEST) {
			rp_fail(p, at, "groups nested too deeply");
			return -1;
		}
		p->pos++;
		n = parse_alt(p);
		if (n < 0)
			return -1;
		if (peek_byte(p, 0) != ')') {
			rp_fail(p, at, "unclosed '('");
			return -1;
		}
		p->pos++;
		p->depth--;
		return n;
	case '.':
		p->pos++;
		return node_new(p, N_ANY);
	case '[':
		return parse_class(p);
	case '\\': {
		bool cat, neg;
		uint32_t cp, mask;
		if (parse_escape(p, &cat, &cp, &mask, &neg))
			return -1;
		if (!cat) {
			n = node_new(p, N_CHAR);
			if (n >= 0)
				p->nodes[n].v = cp;
			return n;
		}
		int k = class_new(p, false);
		if (k < 0 || item_add(p, (struct citem){.mask = mask, .cat = true, .neg = neg}))
			return -1;
		n = node_new(p, N_CLASS);
		if (n >= 0)
			p->nodes[n].v = (uint32_t)k;
		return n;
	}
	case '*':
	case '+':
	case '?':
	case '{':
		rp_fail(p, at, "nothing to repeat (a quantifier needs an atom; one quantifier per atom)");
		return -1;
	case ']':
	case '}':
		rp_fail(p, at, c == ']' ? "']' must be escaped" : "'}' must be escaped");
		return -1;
	default:
		p->pos += clen;
		n = node_new(p, N_CHAR);
		if (n >= 0)
			p->nodes[n].v = (uint32_t)c;
		return n;
	}
}

static int parse_piece(struct rparser *p)
{
	int a = parse_atom(p);
	if (a < 0)
		return -1;
	int c = peek_byte(p, 0), min, max;
	size_t at = p->pos;
	switch (c) {
	case '*': min = 0, max = -1, p->pos++; break;
	case '+': min = 1, max = -1, p->pos++; break;
	case '?': min = 0, max = 1, p->pos++; break;
	case '{':
		p->pos++;
		if (parse_count(p, &min))
			return -1;
		max = min;
		if (peek_byte(p, 0) == ',') {
			p->pos++;
			max = -1;
			if (peek_byte(p, 0) != '}' && parse_count(p, &max))
				return -1;
		}
		if (peek_byte(p, 0) != '}') {
			rp_fail(p, p->pos, "expected '}' to end {n,m}");
			return -1;
		}
		p->pos++;
		if (max >= 0 && max < min) {
			rp_fail(p, at, "{n,m} with m below n");
			return -1;
		}
		break;
	default:
		return a;
	}
	int r = node_new(p, N_REPEAT);
	if (r < 0)
		return -1;
	p->nodes[r].min = min;
	p->nodes[r].max = max;
	node_add_child(p, r, a);
	return r;
}

static int parse_branch(struct rparser *p)
{
	int cat = node_new(p, N_CAT);
	if (cat < 0)
		return -1;
	while (p->pos < p->len && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
		int piece = parse_piece(p);
		if (piece < 0)
			return -1;
		node_add_child(p, cat, piece);
	}
	return cat;
}

static int parse_alt(struct rparser *p)
{
	int alt = node_new(p, N_ALT);
	if (alt < 0)
		return -1;
	for (;;) {
		int br = parse_branch(p);
		if (br < 0)
			return -1;
		node_add_child(p, alt, br);
		if (peek_byte(p, 0) != '|')
			return alt;
		p->pos++;
	}
}

/* --------------------------------------------------------------- compiler */

#define SIZE_CAP ((uint64_t)IREGEXP_MAX_INSNS + 1)

static uint64_t cap_size(uint64_t v) { return v > SIZE_CAP ? SIZE_CAP : v; }

/* Instructions node i compiles to, saturated at SIZE_CAP. */
static uint64_t node_size(const struct node *nodes, int i)
{
	const struct node *n = &nodes[i];
	uint64_t s = 0, k = 0;
	switch (n->kind) {
	case N_EMPTY: return 0;
	case N_CHAR:
	case N_ANY:
	case N_CLASS: return 1;
	case N_CAT:
	case N_ALT:
		for (int c = n->first; c >= 0; c = nodes[c].next, k++)
			s = cap_size(s + node_size(nodes, c));
		return n->kind == N_ALT && k > 1 ? cap_size(s + 2 * (k - 1)) : s;
	case N_REPEAT:
		s = node_size(nodes, n->first);
		k = (uint64_t)n->min * s;
		k += n->max < 0 ? s + 2 : (uint64_t)(n->max - n->min) * (s + 1);
		return cap_size(k);
	}
	return 0;
}

struct emitter {
	struct insn *prog;
	size_t n;
	const struct node *nodes;
};

static size_t put(struct emitter *e, uint8_t op, uint32_t x, uint32_t y)
{
	e->prog[e->n] = (struct insn){op, x, y};
	return e->n++;
}

static void emit(struct emitter *e, int i)
{
	const struct node *n = &e->nodes[i];
	switch (n->kind) {
	case N_EMPTY: return;
	case N_CHAR: put(e, I_CHAR, n->v, 0); return;
	case N_ANY: put(e, I_ANY, 0, 0); return;
	case N_CLASS: put(e, I_CLASS, n->v, 0); return;
	case N_CAT:
		for (int c = n->first; c >= 0; c = e->nodes[c].next)
			emit(e, c);
		return;
	case N_ALT: {
		/* SPLIT next, L2; b1; JMP end; L2: SPLIT ...; ...; bk; end: —
		 * the JMPs chain through their x until patched. */
		size_t jmps = SIZE_MAX;
		for (int c = n->first; c >= 0; c = e->nodes[c].next) {
			if (e->nodes[c].next < 0) {
				emit(e, c);
				break;
			}
			size_t split = put(e, I_SPLIT, (uint32_t)e->n + 1, 0);
			emit(e, c);
			size_t j = put(e, I_JMP, (uint32_t)jmps, 0);
			jmps = j;
			e->prog[split].y = (uint32_t)e->n;
		}
		while (jmps != SIZE_MAX) {
			size_t prev = e->prog[jmps].x == (uint32_t)SIZE_MAX ? SIZE_MAX : e->prog[jmps].x;
			e->prog[jmps].x = (uint32_t)e->n;
			jmps = prev;
		}
		return;
	}
	case N_REPEAT:
		for (int k = 0; k < n->min; k++)
			emit(e, n->first);
		if (n->max < 0) {
			size_t loop = put(e, I_SPLIT, (uint32_t)e->n + 1, 0);
			emit(e, n->first);
			put(e, I_JMP, (uint32_t)loop, 0);
			e->prog[loop].y = (uint32_t)e->n;
		} else {
			for (int k = n->min; k < n->max; k++) {
				size_t split = put(e, I_SPLIT, (uint32_t)e->n + 1, 0);
				emit(e, n->first);
				e->prog[split].y = (uint32_t)e->n;
			}
		}
		return;
	}
}

int iregexp_compile(const char *pat, size_t len, struct iregexp **out, char *msg,
		    size_t msglen, size_t *errpos)
{
	struct rparser p = {.s = (const unsigned char *)pat, .len = len, .msg = msg,
			    .msglen = msglen};
	struct iregexp *re = NULL;
	*out = NULL;
	if (len > IREGEXP_MAX_LEN) {
		rp_fail(&p, IREGEXP_MAX_LEN, "pattern longer than 4096 bytes");
		goto fail;
	}
	int root = parse_alt(&p);
	if (root < 0)
		goto fail;
	if (p.pos < p.len) { /* parse_alt stops only at the end or a ')' */
		rp_fail(&p, p.pos, "unmatched ')'");
		goto fail;
	}
	uint64_t size = node_size(p.nodes, root) + 1;
	if (size > IREGEXP_MAX_INSNS) {
		rp_fail(&p, 0, "pattern too large once compiled (over 4096 instructions: "
			       "lower the {n,m} counts)");
		goto fail;
	}
	re = calloc(1, sizeof(*re));
	if (!re || !(re->prog = malloc(size * sizeof(*re->prog)))) {
		rp_nomem(&p);
		goto fail;
	}
	struct emitter e = {.prog = re->prog, .nodes = p.nodes};
	emit(&e, root);
	put(&e, I_MATCH, 0, 0);
	re->n = e.n;
	re->items = p.items;
	re->classes = p.classes;
	p.items = NULL;
	p.classes = NULL;
	free(p.nodes);
	*out = re;
	return 0;
fail:
	iregexp_free(re);
	free(p.nodes);
	free(p.items);
	free(p.classes);
	if (errpos)
		*errpos = p.errpos;
	return p.err;
}

void iregexp_free(struct iregexp *re)
{
	if (!re)
		return;
	free(re->prog);
	free(re->items);
	free(re->classes);
	free(re);
}

/* ---------------------------------------------------------------- matcher */

/* *work counts the class items looked at. */
static bool class_has(const struct iregexp *re, const struct cclass *k, uint32_t cp,
		      uint64_t *work)
{
	bool in = false;
	int gc = -1;
	for (size_t i = k->first; i < k->first + k->n && !in; i++) {
		const struct citem *it = &re->items[i];
		(*work)++;
		if (it->cat) {
			if (gc < 0)
				gc = (int)ucd_category(cp);
			in = ((it->mask >> gc) & 1) != it->neg;
		} else {
			in = cp >= it->lo && cp <= it->hi;
		}
	}
	return in != k->neg;
}

struct sim {
	const struct iregexp *re;
	uint32_t *stack;
	uint64_t *mark; /* mark[pc] == gen: pc is in the list being built */
	uint64_t gen;
	bool matched;   /* MATCH was reached while building the list */
	uint64_t work;  /* states and class items touched since the last charge */
};

struct slist {
	uint32_t *pc;
	size_t n;
};

/* Adds pc and everything reachable from it without consuming input. */
static void add_state(struct sim *s, struct slist *l, uint32_t pc)
{
	size_t sp = 0;
	s->stack[sp++] = pc;
	while (sp) {
		pc = s->stack[--sp];
		s->work++;
		if (s->mark[pc] == s->gen)
			continue;
		s->mark[pc] = s->gen;
		const struct insn *in = &s->re->prog[pc];
		switch (in->op) {
		case I_JMP: s->stack[sp++] = in->x; break;
		case I_SPLIT:
			s->stack[sp++] = in->y;
			s->stack[sp++] = in->x;
			break;
		case I_MATCH: s->matched = true; break;
		default: l->pc[l->n++] = pc; break;
		}
	}
}

static bool consumes(const struct iregexp *re, const struct insn *in, uint32_t cp,
		     uint64_t *work)
{
	(*work)++;
	switch (in->op) {
	case I_CHAR: return cp == in->x;
	case I_ANY: return cp != '\n' && cp != '\r';
	case I_CLASS: return class_has(re, &re->classes[in->x], cp, work);
	default: return false;
	}
}

size_t iregexp_size(const struct iregexp *re)
{
	return re->n;
}

int iregexp_match(const struct iregexp *re, const char *text, size_t len, bool whole,
		  struct jbudget *budget)
{
	size_t n = re->n;
	/* Each state is marked before it pushes at most two more: the stack
	 * never holds more than 2n + 1 entries. */
	uint32_t *mem32 = malloc((4 * n + 1) * sizeof(uint32_t));
	uint64_t *mark = calloc(n, sizeof(uint64_t));
	if (!mem32 || !mark) {
		free(mem32);
		free(mark);
		return STRATA_ENOMEM;
	}
	struct slist cl = {mem32, 0}, nl = {mem32 + n, 0};
	struct sim s = {.re = re, .stack = mem32 + 2 * n, .mark = mark, .gen = 1};
	const unsigned char *t = (const unsigned char *)text;
	int rv = 0;
	add_state(&s, &cl, 0);
	for (size_t pos = 0;;) {
		/* charged per code point: one step's work is at most the
		 * program's states and their class items; JBUDGET_REGEX_STEPS
		 * of them make a unit, the remainder carries over */
		uint64_t units = s.work / JBUDGET_REGEX_STEPS;
		if ((rv = jbudget_charge(budget, units)) != 0)
			break;
		s.work -= units * JBUDGET_REGEX_STEPS;
		if (s.matched && (!whole || pos == len)) {
			rv = 1;
			break;
		}
		if (pos == len || (whole && cl.n == 0))
			break;
		uint32_t cp;
		size_t clen = utf8_decode(t + pos, len - pos, &cp);
		if (clen == 0)
			break; /* not UTF-8: no match */
		pos += clen;
		s.gen++;
		s.matched = false;
		nl.n = 0;
		for (size_t i = 0; i < cl.n; i++)
			if (consumes(re, &re->prog[cl.pc[i]], cp, &s.work))
				add_state(&s, &nl, cl.pc[i] + 1);
		if (!whole)
			add_state(&s, &nl, 0);
		struct slist tmp = cl;
		cl = nl;
		nl = tmp;
	}
	free(mem32);
	free(mark);
	return rv;
}
