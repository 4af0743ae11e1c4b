/*
 * frontend/graphql/gql_parse.c — GraphQL lexer and recursive-descent parser.
 *
 * The lexer produces one token at a time (a one-token lookahead is all the
 * grammar needs, plus a peek at the token after for `extend` / descriptions
 * handled by the parser's own state). All memory comes from the caller's
 * arena, so an error anywhere unwinds with longjmp to gql_parse: nothing
 * else has to be released on the error paths. Messages follow graphql-js's
 * wording so tools and tests see the same text from both.
 */
#include "frontend/graphql/gql_ast.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const struct gql_limits gql_default_limits = {
	.max_bytes = 256 * 1024,
	.max_depth = 64,
	.max_tokens = 50000,
};

enum tok_kind {
	T_SOF,
	T_EOF,
	T_BANG,
	T_DOLLAR,
	T_AMP,
	T_PAREN_L,
	T_PAREN_R,
	T_SPREAD,
	T_COLON,
	T_EQUALS,
	T_AT,
	T_BRACKET_L,
	T_BRACKET_R,
	T_BRACE_L,
	T_PIPE,
	T_BRACE_R,
	T_NAME,
	T_INT,
	T_FLOAT,
	T_STRING,
	T_BLOCK_STRING,
};

static const char *const tok_names[] = {
	"<SOF>", "<EOF>", "!", "$", "&", "(", ")", "...", ":", "=", "@", "[", "]", "{", "|", "}",
	"Name", "Int", "Float", "String", "BlockString",
};

struct token {
	enum tok_kind kind;
	struct gql_loc loc;
	const char *value; /* arena copy: name, number text, cooked string */
	size_t start, end; /* byte offsets */
};

struct parser {
	const char *src;
	size_t len, pos;
	unsigned line;
	size_t line_start;
	struct token tok;
	unsigned tokens, depth;
	const struct gql_limits *lim;
	struct gql_arena *arena;
	struct gql_error *err;
	jmp_buf fail;
};

/* ---- errors ---- */

static struct gql_loc loc_at(const struct parser *p, size_t pos)
{
	/* Columns count characters, not bytes: skip UTF-8 continuation bytes. */
	unsigned col = 1;
	for (size_t i = p->line_start; i < pos && i < p->len; i++)
		if (((unsigned char)p->src[i] & 0xC0) != 0x80)
			col++;
	return (struct gql_loc){p->line, col};
}

__attribute__((noreturn, format(printf, 3, 4))) static void fail_at(struct parser *p,
								    struct gql_loc loc,
								    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(p->err->message, sizeof(p->err->message), "Syntax Error: ");
	vsnprintf(p->err->message + n, sizeof(p->err->message) - (size_t)n, fmt, ap);
	va_end(ap);
	p->err->loc = loc;
	longjmp(p->fail, 1);
}

__attribute__((noreturn)) static void fail_oom(struct parser *p)
{
	snprintf(p->err->message, sizeof(p->err->message),
		 "Document too large: out of memory while parsing");
	p->err->loc = (struct gql_loc){p->line, 1};
	longjmp(p->fail, 1);
}

static void *alloc(struct parser *p, size_t n)
{
	void *m = gql_arena_alloc(p->arena, n);
	if (!m)
		fail_oom(p);
	return m;
}

static char *dup(struct parser *p, const char *s, size_t n)
{
	char *m = gql_arena_strndup(p->arena, s, n);
	if (!m)
		fail_oom(p);
	return m;
}

/* "x" for a printable ASCII character, U+XXXX otherwise (graphql-js's
 * printCodePointAt). */
static void print_char_at(const struct parser *p, size_t pos, char *out, size_t n)
{
	if (pos >= p->len) {
		snprintf(out, n, "<EOF>");
		return;
	}
	unsigned char c = (unsigned char)p->src[pos];
	if (c >= 0x20 && c < 0x7F)
		snprintf(out, n, c == '"' ? "'\"'" : "\"%c\"", c);
	else if (c < 0x80)
		snprintf(out, n, "U+%04X", c);
	else {
		/* decode one UTF-8 sequence, leniently */
		unsigned cp = 0, extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
		cp = extra == 3 ? c & 7 : extra == 2 ? c & 15 : extra == 1 ? c & 31 : c;
		for (unsigned i = 1; i <= extra && pos + i < p->len; i++)
			cp = (cp << 6) | ((unsigned char)p->src[pos + i] & 0x3F);
		snprintf(out, n, "U+%04X", cp);
	}
}

static void tok_desc(const struct token *t, char *out, size_t n)
{
	if (t->kind >= T_BANG && t->kind <= T_BRACE_R)
		snprintf(out, n, "\"%s\"", tok_names[t->kind]);
	else if (t->value)
		snprintf(out, n, "%s \"%.200s\"", tok_names[t->kind], t->value);
	else
		snprintf(out, n, "%s", tok_names[t->kind]);
}

/* ---- lexer ---- */

static bool is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static int peek_at(const struct parser *p, size_t pos)
{
	return pos < p->len ? (unsigned char)p->src[pos] : -1;
}

static void newline(struct parser *p, size_t next_line_start)
{
	p->line++;
	p->line_start = next_line_start;
}

/* Appends the UTF-8 encoding of cp to buf (room for 4 bytes assumed). */
static size_t put_utf8(char *buf, unsigned cp)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xC0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xE0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		buf[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	buf[0] = (char)(0xF0 | (cp >> 18));
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	buf[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void read_string(struct parser *p, size_t start)
{
	/* Cooked length <= raw length (an escape never grows: \uXXXX is 6
	 * bytes for at most 3 bytes of UTF-8; \u{...} for at most 4). */
	size_t pos = start + 1, o = 0;
	char *buf = alloc(p, p->len - start + 4);
	for (;;) {
		int c = peek_at(p, pos);
		if (c < 0 || c == '\n' || c == '\r')
			fail_at(p, loc_at(p, pos), "Unterminated string.");
		if (c == '"') {
			pos++;
			break;
		}
		if (c < 0x20 && c != '\t') {
			char d[16];
			print_char_at(p, pos, d, sizeof(d));
			fail_at(p, loc_at(p, pos), "Invalid character within String: %s.", d);
		}
		if (c != '\\') {
			buf[o++] = (char)c;
			pos++;
			continue;
		}
		int e = peek_at(p, pos + 1);
		switch (e) {
		case '"': buf[o++] = '"'; pos += 2; continue;
		case '\\': buf[o++] = '\\'; pos += 2; continue;
		case '/': buf[o++] = '/'; pos += 2; continue;
		case 'b': buf[o++] = '\b'; pos += 2; continue;
		case 'f': buf[o++] = '\f'; pos += 2; continue;
		case 'n': buf[o++] = '\n'; pos += 2; continue;
		case 'r': buf[o++] = '\r'; pos += 2; continue;
		case 't': buf[o++] = '\t'; pos += 2; continue;
		case 'u': {
			unsigned cp = 0;
			size_t q = pos + 2;
			bool ok = true;
			if (peek_at(p, q) == '{') {
				q++;
				int digits = 0;
				while (peek_at(p, q) != '}' && ok) {
					int h = hexval(peek_at(p, q));
					if (h < 0 || ++digits > 6)
						ok = false;
					else
						cp = cp * 16 + (unsigned)h;
					q++;
				}
				ok = ok && digits > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
				q++;
			} else {
				for (int i = 0; i < 4 && ok; i++, q++) {
					int h = hexval(peek_at(p, q));
					if (h < 0)
						ok = false;
					else
						cp = cp * 16 + (unsigned)h;
				}
				/* a surrogate pair written as two escapes */
				if (ok && cp >= 0xD800 && cp <= 0xDBFF && peek_at(p, q) == '\\' &&
				    peek_at(p, q + 1) == 'u') {
					unsigned lo = 0;
					bool lok = true;
					for (int i = 0; i < 4 && lok; i++) {
						int h = hexval(peek_at(p, q + 2 + (size_t)i));
						if (h < 0)
							lok = false;
						else
							lo = lo * 16 + (unsigned)h;
					}
					if (lok && lo >= 0xDC00 && lo <= 0xDFFF) {
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						q += 6;
					} else {
						ok = false;
					}
				} else if (ok && cp >= 0xD800 && cp <= 0xDFFF) {
					ok = false;
				}
			}
			if (!ok) {
				size_t end = q < p->len ? q : p->len;
				fail_at(p, loc_at(p, pos), "Invalid Unicode escape sequence: \"%.*s\".",
					(int)(end - pos > 16 ? 16 : end - pos), p->src + pos);
			}
			o += put_utf8(buf + o, cp);
			pos = q;
			continue;
		}
		default:
			fail_at(p, loc_at(p, pos), "Invalid character escape sequence: \"%.*s\".",
				e < 0 ? 1 : 2, p->src + pos);
		}
	}
	buf[o] = '\0';
	p->tok.kind = T_STRING;
	p->tok.value = buf;
	p->pos = pos;
}

/* The spec's BlockStringValue(): common indentation removed, leading and
 * trailing blank lines dropped. raw has \""" already unescaped. */
static char *block_string_value(struct parser *p, const char *raw, size_t n)
{
	/* split into lines */
	size_t nlines = 1;
	for (size_t i = 0; i < n; i++)
		if (raw[i] == '\n' || (raw[i] == '\r' && (i + 1 >= n || raw[i + 1] != '\n')))
			nlines++;
	size_t *ls = alloc(p, nlines * sizeof(size_t)), *le = alloc(p, nlines * sizeof(size_t));
	size_t k = 0, s = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || raw[i] == '\n' || raw[i] == '\r') {
			ls[k] = s;
			le[k] = i;
			k++;
			if (i < n && raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n')
				i++;
			s = i + 1;
		}
	}
	size_t common = SIZE_MAX;
	long first = -1, last = -1;
	for (size_t i = 0; i < k; i++) {
		size_t ind = 0;
		while (ls[i] + ind < le[i] && (raw[ls[i] + ind] == ' ' || raw[ls[i] + ind] == '\t'))
			ind++;
		if (ls[i] + ind == le[i])
			continue;
		if (first < 0)
			first = (long)i;
		last = (long)i;
		if (i != 0 && ind < common)
			common = ind;
	}
	char *out = alloc(p, n + 1);
	size_t o = 0;
	if (first < 0) {
		out[0] = '\0';
		return out;
	}
	for (long i = first; i <= last; i++) {
		size_t a = ls[i], b = le[i];
		if (i != 0)
			a = b - a > common ? a + common : b;
		if (i != first)
			out[o++] = '\n';
		memcpy(out + o, raw + a, b - a);
		o += b - a;
	}
	out[o] = '\0';
	return out;
}

static void read_block_string(struct parser *p, size_t start)
{
	size_t pos = start + 3;
	char *raw = alloc(p, p->len - start + 1);
	size_t o = 0;
	for (;;) {
		int c = peek_at(p, pos);
		if (c < 0)
			fail_at(p, loc_at(p, pos), "Unterminated string.");
		if (c == '"' && peek_at(p, pos + 1) == '"' && peek_at(p, pos + 2) == '"') {
			pos += 3;
			break;
		}
		if (c == '\\' && peek_at(p, pos + 1) == '"' && peek_at(p, pos + 2) == '"' &&
		    peek_at(p, pos + 3) == '"') {
			memcpy(raw + o, "\"\"\"", 3);
			o += 3;
			pos += 4;
			continue;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			char d[16];
			print_char_at(p, pos, d, sizeof(d));
			fail_at(p, loc_at(p, pos), "Invalid character within String: %s.", d);
		}
		raw[o++] = (char)c;
		if (c == '\n' || (c == '\r' && peek_at(p, pos + 1) != '\n'))
			newline(p, pos + 1);
		pos++;
	}
	p->tok.kind = T_BLOCK_STRING;
	p->tok.value = block_string_value(p, raw, o);
	p->pos = pos;
}

static size_t read_digits(struct parser *p, size_t pos)
{
	int c = peek_at(p, pos);
	if (!(c >= '0' && c <= '9')) {
		char d[16];
		print_char_at(p, pos, d, sizeof(d));
		fail_at(p, loc_at(p, pos), "Invalid number, expected digit but got: %s.", d);
	}
	while ((c = peek_at(p, pos)) >= '0' && c <= '9')
		pos++;
	return pos;
}

static void read_number(struct parser *p, size_t start)
{
	size_t pos = start;
	bool is_float = false;
	if (peek_at(p, pos) == '-')
		pos++;
	if (peek_at(p, pos) == '0') {
		pos++;
		int c = peek_at(p, pos);
		if (c >= '0' && c <= '9') {
			char d[16];
			print_char_at(p, pos, d, sizeof(d));
			fail_at(p, loc_at(p, pos), "Invalid number, unexpected digit after 0: %s.", d);
		}
	} else {
		pos = read_digits(p, pos);
	}
	if (peek_at(p, pos) == '.') {
		is_float = true;
		pos = read_digits(p, pos + 1);
	}
	if (peek_at(p, pos) == 'e' || peek_at(p, pos) == 'E') {
		is_float = true;
		pos++;
		if (peek_at(p, pos) == '+' || peek_at(p, pos) == '-')
			pos++;
		pos = read_digits(p, pos);
	}
	int c = peek_at(p, pos);
	if (c == '.' || is_name_start(c)) {
		char d[16];
		print_char_at(p, pos, d, sizeof(d));
		fail_at(p, loc_at(p, pos), "Invalid number, expected digit but got: %s.", d);
	}
	p->tok.kind = is_float ? T_FLOAT : T_INT;
	p->tok.value = dup(p, p->src + start, pos - start);
	p->pos = pos;
}

static void next_token(struct parser *p)
{
	if (p->lim->max_tokens && ++p->tokens > p->lim->max_tokens)
		fail_at(p, loc_at(p, p->pos), "Document contains more than %u tokens.",
			p->lim->max_tokens);
	size_t pos = p->pos;
	for (;;) {
		int c = peek_at(p, pos);
		if (c == ' ' || c == '\t' || c == ',') {
			pos++;
		} else if (c == 0xEF && peek_at(p, pos + 1) == 0xBB && peek_at(p, pos + 2) == 0xBF) {
			pos += 3; /* BOM */
		} else if (c == '\n') {
			pos++;
			newline(p, pos);
		} else if (c == '\r') {
			pos += peek_at(p, pos + 1) == '\n' ? 2 : 1;
			newline(p, pos);
		} else if (c == '#') {
			while ((c = peek_at(p, pos)) >= 0 && c != '\n' && c != '\r')
				pos++;
		} else {
			break;
		}
	}
	p->pos = pos;
	p->tok.loc = loc_at(p, pos);
	p->tok.start = pos;
	p->tok.value = NULL;
	int c = peek_at(p, pos);
	enum tok_kind k;
	switch (c) {
	case -1: k = T_EOF; break;
	case '!': k = T_BANG; break;
	case '$': k = T_DOLLAR; break;
	case '&': k = T_AMP; break;
	case '(': k = T_PAREN_L; break;
	case ')': k = T_PAREN_R; break;
	case ':': k = T_COLON; break;
	case '=': k = T_EQUALS; break;
	case '@': k = T_AT; break;
	case '[': k = T_BRACKET_L; break;
	case ']': k = T_BRACKET_R; break;
	case '{': k = T_BRACE_L; break;
	case '|': k = T_PIPE; break;
	case '}': k = T_BRACE_R; break;
	case '.':
		if (peek_at(p, pos + 1) == '.' && peek_at(p, pos + 2) == '.') {
			p->tok.kind = T_SPREAD;
			p->pos = pos + 3;
			p->tok.end = p->pos;
			return;
		}
		fail_at(p, p->tok.loc, "Unexpected character: \".\".");
	case '"':
		if (peek_at(p, pos + 1) == '"' && peek_at(p, pos + 2) == '"')
			read_block_string(p, pos);
		else
			read_string(p, pos);
		p->tok.end = p->pos;
		return;
	default:
		if (is_name_start(c)) {
			size_t e = pos;
			while (is_name_char(peek_at(p, e)))
				e++;
			p->tok.kind = T_NAME;
			p->tok.value = dup(p, p->src + pos, e - pos);
			p->pos = p->tok.end = e;
			return;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			read_number(p, pos);
			p->tok.end = p->pos;
			return;
		}
		{
			char d[16];
			print_char_at(p, pos, d, sizeof(d));
			if (c == '\'')
				fail_at(p, p->tok.loc,
					"Unexpected single quote character ('), did you mean to use a double quote (\")?");
			fail_at(p, p->tok.loc,
				(c >= 0x20 || c == '\t') ? "Unexpected character: %s." : "Invalid character: %s.",
				d);
		}
	}
	p->tok.kind = k;
	p->pos = pos + (k == T_EOF ? 0 : 1);
	p->tok.end = p->pos;
}

/* ---- parser helpers ---- */

static bool peek(const struct parser *p, enum tok_kind k)
{
	return p->tok.kind == k;
}

static bool peek_keyword(const struct parser *p, const char *kw)
{
	return p->tok.kind == T_NAME && strcmp(p->tok.value, kw) == 0;
}

__attribute__((noreturn)) static void unexpected(struct parser *p)
{
	char d[256];
	tok_desc(&p->tok, d, sizeof(d));
	fail_at(p, p->tok.loc, "Unexpected %s.", d);
}

static struct token expect(struct parser *p, enum tok_kind k)
{
	if (p->tok.kind != k) {
		char d[256];
		tok_desc(&p->tok, d, sizeof(d));
		if (k >= T_BANG && k <= T_BRACE_R)
			fail_at(p, p->tok.loc, "Expected \"%s\", found %s.", tok_names[k], d);
		fail_at(p, p->tok.loc, "Expected %s, found %s.", tok_names[k], d);
	}
	struct token t = p->tok;
	next_token(p);
	return t;
}

static bool skip(struct parser *p, enum tok_kind k)
{
	if (p->tok.kind != k)
		return false;
	next_token(p);
	return true;
}

static void expect_keyword(struct parser *p, const char *kw)
{
	if (!peek_keyword(p, kw)) {
		char d[256];
		tok_desc(&p->tok, d, sizeof(d));
		fail_at(p, p->tok.loc, "Expected \"%s\", found %s.", kw, d);
	}
	next_token(p);
}

static const char *parse_name(struct parser *p, struct gql_loc *loc)
{
	struct token t = expect(p, T_NAME);
	if (loc)
		*loc = t.loc;
	return t.value;
}

static void enter(struct parser *p)
{
	if (++p->depth > p->lim->max_depth)
		fail_at(p, p->tok.loc, "Document nesting is deeper than %u levels.",
			p->lim->max_depth);
}

static void leave(struct parser *p)
{
	p->depth--;
}

/* ---- values, types, directives ---- */

static struct gql_value *parse_value(struct parser *p, bool is_const);

static struct gql_value *parse_value(struct parser *p, bool is_const)
{
	struct gql_value *v = alloc(p, sizeof(*v));
	v->loc = p->tok.loc;
	switch (p->tok.kind) {
	case T_BRACKET_L: {
		enter(p);
		next_token(p);
		struct gql_value **tail = &v->items;
		v->kind = GQL_V_LIST;
		while (!skip(p, T_BRACKET_R)) {
			*tail = parse_value(p, is_const);
			tail = &(*tail)->next;
		}
		leave(p);
		return v;
	}
	case T_BRACE_L: {
		enter(p);
		next_token(p);
		struct gql_object_field **tail = &v->fields;
		v->kind = GQL_V_OBJECT;
		while (!skip(p, T_BRACE_R)) {
			struct gql_object_field *f = alloc(p, sizeof(*f));
			f->name = parse_name(p, &f->loc);
			expect(p, T_COLON);
			f->value = parse_value(p, is_const);
			*tail = f;
			tail = &f->next;
		}
		leave(p);
		return v;
	}
	case T_INT:
		v->kind = GQL_V_INT;
		v->text = p->tok.value;
		next_token(p);
		return v;
	case T_FLOAT:
		v->kind = GQL_V_FLOAT;
		v->text = p->tok.value;
		next_token(p);
		return v;
	case T_STRING:
	case T_BLOCK_STRING:
		v->kind = GQL_V_STRING;
		v->block = p->tok.kind == T_BLOCK_STRING;
		v->text = p->tok.value;
		next_token(p);
		return v;
	case T_NAME:
		if (strcmp(p->tok.value, "true") == 0 || strcmp(p->tok.value, "false") == 0) {
			v->kind = GQL_V_BOOLEAN;
			v->boolean = p->tok.value[0] == 't';
		} else if (strcmp(p->tok.value, "null") == 0) {
			v->kind = GQL_V_NULL;
		} else {
			v->kind = GQL_V_ENUM;
			v->text = p->tok.value;
		}
		next_token(p);
		return v;
	case T_DOLLAR:
		if (!is_const) {
			next_token(p);
			v->kind = GQL_V_VARIABLE;
			v->text = parse_name(p, NULL);
			return v;
		}
		{
			/* graphql-js: 'Unexpected variable "$x" in constant value.' */
			struct gql_loc l = p->tok.loc;
			next_token(p);
			if (peek(p, T_NAME))
				fail_at(p, l, "Unexpected variable \"$%s\" in constant value.",
					p->tok.value);
			unexpected(p);
		}
	default:
		unexpected(p);
	}
}

static struct gql_type_ref *parse_type(struct parser *p)
{
	struct gql_type_ref *t = alloc(p, sizeof(*t));
	t->loc = p->tok.loc;
	if (skip(p, T_BRACKET_L)) {
		enter(p);
		t->kind = GQL_T_LIST;
		t->of = parse_type(p);
		expect(p, T_BRACKET_R);
		leave(p);
	} else {
		t->kind = GQL_T_NAMED;
		t->name = parse_name(p, NULL);
	}
	if (skip(p, T_BANG)) {
		struct gql_type_ref *nn = alloc(p, sizeof(*nn));
		nn->loc = t->loc;
		nn->kind = GQL_T_NON_NULL;
		nn->of = t;
		return nn;
	}
	return t;
}

static struct gql_argument *parse_arguments(struct parser *p, bool is_const)
{
	struct gql_argument *head = NULL, **tail = &head;
	if (!skip(p, T_PAREN_L))
		return NULL;
	do {
		struct gql_argument *a = alloc(p, sizeof(*a));
		a->name = parse_name(p, &a->loc);
		expect(p, T_COLON);
		a->value = parse_value(p, is_const);
		*tail = a;
		tail = &a->next;
	} while (!skip(p, T_PAREN_R));
	return head;
}

static struct gql_directive *parse_directives(struct parser *p, bool is_const)
{
	struct gql_directive *head = NULL, **tail = &head;
	while (peek(p, T_AT)) {
		struct gql_directive *d = alloc(p, sizeof(*d));
		d->loc = p->tok.loc;
		next_token(p);
		d->name = parse_name(p, NULL);
		d->args = parse_arguments(p, is_const);
		*tail = d;
		tail = &d->next;
	}
	return head;
}

/* ---- executable definitions ---- */

static struct gql_selection *parse_selection_set(struct parser *p);

static struct gql_selection *parse_selection(struct parser *p)
{
	struct gql_selection *s = alloc(p, sizeof(*s));
	s->loc = p->tok.loc;
	if (skip(p, T_SPREAD)) {
		bool has_type_cond = peek_keyword(p, "on");
		if (!has_type_cond && peek(p, T_NAME)) {
			s->kind = GQL_SEL_SPREAD;
			s->name = parse_name(p, &s->name_loc);
			s->directives = parse_directives(p, false);
			return s;
		}
		s->kind = GQL_SEL_INLINE;
		if (has_type_cond) {
			next_token(p);
			s->type_condition = parse_name(p, &s->type_condition_loc);
		}
		s->directives = parse_directives(p, false);
		s->set_loc = p->tok.loc;
		s->selections = parse_selection_set(p);
		s->has_selections = true;
		return s;
	}
	s->kind = GQL_SEL_FIELD;
	struct gql_loc nl;
	const char *n = parse_name(p, &nl);
	if (skip(p, T_COLON)) {
		s->alias = n;
		s->name = parse_name(p, &s->name_loc);
	} else {
		s->name = n;
		s->name_loc = nl;
	}
	s->args = parse_arguments(p, false);
	s->directives = parse_directives(p, false);
	if (peek(p, T_BRACE_L)) {
		s->set_loc = p->tok.loc;
		s->selections = parse_selection_set(p);
		s->has_selections = true;
	}
	return s;
}

static struct gql_selection *parse_selection_set(struct parser *p)
{
	struct gql_selection *head = NULL, **tail = &head;
	enter(p);
	expect(p, T_BRACE_L);
	do {
		*tail = parse_selection(p);
		tail = &(*tail)->next;
	} while (!skip(p, T_BRACE_R));
	leave(p);
	return head;
}

static struct gql_variable_def *parse_variable_defs(struct parser *p)
{
	struct gql_variable_def *head = NULL, **tail = &head;
	if (!skip(p, T_PAREN_L))
		return NULL;
	do {
		struct gql_variable_def *v = alloc(p, sizeof(*v));
		v->loc = p->tok.loc;
		expect(p, T_DOLLAR);
		v->name = parse_name(p, &v->name_loc);
		expect(p, T_COLON);
		v->type = parse_type(p);
		if (skip(p, T_EQUALS))
			v->default_value = parse_value(p, true);
		v->directives = parse_directives(p, true);
		*tail = v;
		tail = &v->next;
	} while (!skip(p, T_PAREN_R));
	return head;
}

static bool operation_of(const char *kw, enum gql_operation *op)
{
	if (strcmp(kw, "query") == 0)
		*op = GQL_OP_QUERY;
	else if (strcmp(kw, "mutation") == 0)
		*op = GQL_OP_MUTATION;
	else if (strcmp(kw, "subscription") == 0)
		*op = GQL_OP_SUBSCRIPTION;
	else
		return false;
	return true;
}

static void parse_operation(struct parser *p, struct gql_definition *d)
{
	d->kind = GQL_DEF_OPERATION;
	if (peek(p, T_BRACE_L)) {
		d->operation = GQL_OP_QUERY;
		d->shorthand = true;
		d->set_loc = p->tok.loc;
		d->selections = parse_selection_set(p);
		return;
	}
	struct token t = expect(p, T_NAME);
	if (!operation_of(t.value, &d->operation)) {
		p->tok = t; /* report the keyword */
		unexpected(p);
	}
	if (peek(p, T_NAME))
		d->name = parse_name(p, &d->name_loc);
	d->variables = parse_variable_defs(p);
	d->directives = parse_directives(p, false);
	d->set_loc = p->tok.loc;
	d->selections = parse_selection_set(p);
}

static void parse_fragment(struct parser *p, struct gql_definition *d)
{
	d->kind = GQL_DEF_FRAGMENT;
	expect_keyword(p, "fragment");
	if (peek_keyword(p, "on"))
		unexpected(p);
	d->name = parse_name(p, &d->name_loc);
	expect_keyword(p, "on");
	d->type_condition = parse_name(p, &d->type_condition_loc);
	d->directives = parse_directives(p, false);
	d->set_loc = p->tok.loc;
	d->selections = parse_selection_set(p);
}

/* ---- type system definitions ---- */

static const char *parse_description(struct parser *p)
{
	if (peek(p, T_STRING) || peek(p, T_BLOCK_STRING)) {
		const char *s = p->tok.value;
		next_token(p);
		return s;
	}
	return NULL;
}

static struct gql_input_value_def *parse_input_value_def(struct parser *p)
{
	struct gql_input_value_def *v = alloc(p, sizeof(*v));
	v->description = parse_description(p);
	v->name = parse_name(p, &v->loc);
	expect(p, T_COLON);
	v->type = parse_type(p);
	if (skip(p, T_EQUALS))
		v->default_value = parse_value(p, true);
	v->directives = parse_directives(p, true);
	return v;
}

static struct gql_input_value_def *parse_input_value_defs(struct parser *p, enum tok_kind open,
							  enum tok_kind close)
{
	struct gql_input_value_def *head = NULL, **tail = &head;
	if (!skip(p, open))
		return NULL;
	do {
		*tail = parse_input_value_def(p);
		tail = &(*tail)->next;
	} while (!skip(p, close));
	return head;
}

static struct gql_field_def *parse_field_defs(struct parser *p)
{
	struct gql_field_def *head = NULL, **tail = &head;
	if (!skip(p, T_BRACE_L))
		return NULL;
	do {
		struct gql_field_def *f = alloc(p, sizeof(*f));
		f->description = parse_description(p);
		f->name = parse_name(p, &f->loc);
		f->args = parse_input_value_defs(p, T_PAREN_L, T_PAREN_R);
		expect(p, T_COLON);
		f->type = parse_type(p);
		f->directives = parse_directives(p, true);
		*tail = f;
		tail = &f->next;
	} while (!skip(p, T_BRACE_R));
	return head;
}

static struct gql_name_list *name_item(struct parser *p)
{
	struct gql_name_list *n = alloc(p, sizeof(*n));
	n->name = parse_name(p, &n->loc);
	return n;
}

static void parse_type_system(struct parser *p, struct gql_definition *d, const char *kw)
{
	next_token(p); /* the keyword */
	if (strcmp(kw, "schema") == 0) {
		d->kind = GQL_DEF_SCHEMA;
		d->directives = parse_directives(p, true);
		if (d->extension && !peek(p, T_BRACE_L))
			return;
		expect(p, T_BRACE_L);
		struct gql_root_op **tail = &d->root_ops;
		do {
			struct gql_root_op *r = alloc(p, sizeof(*r));
			struct token t = expect(p, T_NAME);
			enum gql_operation op;
			if (!operation_of(t.value, &op)) {
				p->tok = t;
				unexpected(p);
			}
			r->operation = (int)op;
			expect(p, T_COLON);
			r->type_name = parse_name(p, NULL);
			*tail = r;
			tail = &r->next;
		} while (!skip(p, T_BRACE_R));
		return;
	}
	if (strcmp(kw, "directive") == 0) {
		d->kind = GQL_DEF_DIRECTIVE;
		expect(p, T_AT);
		d->name = parse_name(p, &d->loc);
		d->input_fields = parse_input_value_defs(p, T_PAREN_L, T_PAREN_R);
		if (peek_keyword(p, "repeatable")) {
			d->repeatable = true;
			next_token(p);
		}
		expect_keyword(p, "on");
		skip(p, T_PIPE);
		struct gql_name_list **tail = &d->locations;
		do {
			*tail = name_item(p);
			tail = &(*tail)->next;
		} while (skip(p, T_PIPE));
		return;
	}
	d->name = parse_name(p, NULL);
	if (strcmp(kw, "scalar") == 0) {
		d->kind = GQL_DEF_SCALAR;
		d->directives = parse_directives(p, true);
	} else if (strcmp(kw, "type") == 0 || strcmp(kw, "interface") == 0) {
		d->kind = kw[0] == 't' ? GQL_DEF_OBJECT : GQL_DEF_INTERFACE;
		if (peek_keyword(p, "implements")) {
			next_token(p);
			skip(p, T_AMP);
			struct gql_name_list **tail = &d->interfaces;
			do {
				*tail = name_item(p);
				tail = &(*tail)->next;
			} while (skip(p, T_AMP));
		}
		d->directives = parse_directives(p, true);
		d->fields = parse_field_defs(p);
	} else if (strcmp(kw, "union") == 0) {
		d->kind = GQL_DEF_UNION;
		d->directives = parse_directives(p, true);
		if (skip(p, T_EQUALS)) {
			skip(p, T_PIPE);
			struct gql_name_list **tail = &d->members;
			do {
				*tail = name_item(p);
				tail = &(*tail)->next;
			} while (skip(p, T_PIPE));
		}
	} else if (strcmp(kw, "enum") == 0) {
		d->kind = GQL_DEF_ENUM;
		d->directives = parse_directives(p, true);
		if (skip(p, T_BRACE_L)) {
			struct gql_enum_value_def **tail = &d->values;
			do {
				struct gql_enum_value_def *e = alloc(p, sizeof(*e));
				e->description = parse_description(p);
				struct gql_loc l = p->tok.loc;
				if (peek_keyword(p, "true") || peek_keyword(p, "false") ||
				    peek_keyword(p, "null")) {
					char dsc[64];
					tok_desc(&p->tok, dsc, sizeof(dsc));
					fail_at(p, l, "%s is reserved and cannot be used for an enum value.",
						dsc);
				}
				e->name = parse_name(p, &e->loc);
				e->directives = parse_directives(p, true);
				*tail = e;
				tail = &e->next;
			} while (!skip(p, T_BRACE_R));
		}
	} else { /* input */
		d->kind = GQL_DEF_INPUT_OBJECT;
		d->directives = parse_directives(p, true);
		d->input_fields = parse_input_value_defs(p, T_BRACE_L, T_BRACE_R);
	}
}

static bool is_type_system_keyword(const char *kw)
{
	static const char *const kws[] = {"schema", "scalar", "type",  "interface",
					  "union",  "enum",   "input", "directive"};
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (strcmp(kw, kws[i]) == 0)
			return true;
	return false;
}

static struct gql_definition *parse_definition(struct parser *p)
{
	struct gql_definition *d = alloc(p, sizeof(*d));
	d->loc = p->tok.loc;
	if (peek(p, T_BRACE_L)) {
		parse_operation(p, d);
		return d;
	}
	bool has_desc = peek(p, T_STRING) || peek(p, T_BLOCK_STRING);
	if (has_desc)
		d->description = parse_description(p);
	if (!peek(p, T_NAME))
		unexpected(p);
	const char *kw = p->tok.value;
	if (is_type_system_keyword(kw)) {
		parse_type_system(p, d, kw);
		return d;
	}
	if (has_desc) {
		/* graphql-js: 'Unexpected description, descriptions are supported
		 * only on type definitions.' */
		fail_at(p, d->loc,
			"Unexpected description, descriptions are supported only on type definitions.");
	}
	if (strcmp(kw, "extend") == 0) {
		next_token(p);
		if (!peek(p, T_NAME) || !is_type_system_keyword(p->tok.value) ||
		    strcmp(p->tok.value, "directive") == 0)
			unexpected(p);
		d->extension = true;
		parse_type_system(p, d, p->tok.value);
		return d;
	}
	if (strcmp(kw, "query") == 0 || strcmp(kw, "mutation") == 0 ||
	    strcmp(kw, "subscription") == 0) {
		parse_operation(p, d);
		return d;
	}
	if (strcmp(kw, "fragment") == 0) {
		parse_fragment(p, d);
		return d;
	}
	unexpected(p);
}

int gql_parse(struct gql_arena *arena, const char *src, size_t len,
	      const struct gql_limits *limits, struct gql_document *out, struct gql_error *err)
{
	struct parser p;
	memset(&p, 0, sizeof(p));
	p.src = src;
	p.len = len;
	p.line = 1;
	p.lim = limits ? limits : &gql_default_limits;
	p.arena = arena;
	p.err = err;
	out->definitions = NULL;
	if (p.lim->max_bytes && len > p.lim->max_bytes) {
		snprintf(err->message, sizeof(err->message),
			 "Document of %zu bytes is over the %zu-byte limit.", len, p.lim->max_bytes);
		err->loc = (struct gql_loc){1, 1};
		return -1;
	}
	if (setjmp(p.fail))
		return -1;
	next_token(&p);
	struct gql_definition **tail = &out->definitions;
	/* graphql-js: a document has at least one definition */
	do {
		*tail = parse_definition(&p);
		tail = &(*tail)->next;
	} while (!peek(&p, T_EOF));
	return 0;
}

/* ---- printing ---- */

struct out {
	char *buf;
	size_t n, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++, o->len++)
		if (o->len + 1 < o->n)
			o->buf[o->len] = s[i];
	if (o->n)
		o->buf[o->len < o->n ? o->len : o->n - 1] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void print_string(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char esc[8];
		switch (*c) {
		case '"': puts_(o, "\\\""); break;
		case '\\': puts_(o, "\\\\"); break;
		case '\b': puts_(o, "\\b"); break;
		case '\f': puts_(o, "\\f"); break;
		case '\n': puts_(o, "\\n"); break;
		case '\r': puts_(o, "\\r"); break;
		case '\t': puts_(o, "\\t"); break;
		default:
			if (*c < 0x20 || *c == 0x7F) {
				snprintf(esc, sizeof(esc), "\\u%04X", *c);
				puts_(o, esc);
			} else {
				put(o, (const char *)c, 1);
			}
		}
	}
	put(o, "\"", 1);
}

static void print_value(struct out *o, const struct gql_value *v)
{
	switch (v->kind) {
	case GQL_V_VARIABLE:
		puts_(o, "$");
		puts_(o, v->text);
		break;
	case GQL_V_INT:
	case GQL_V_FLOAT:
	case GQL_V_ENUM:
		puts_(o, v->text);
		break;
	case GQL_V_STRING:
		print_string(o, v->text);
		break;
	case GQL_V_BOOLEAN:
		puts_(o, v->boolean ? "true" : "false");
		break;
	case GQL_V_NULL:
		puts_(o, "null");
		break;
	case GQL_V_LIST:
		puts_(o, "[");
		for (const struct gql_value *i = v->items; i; i = i->next) {
			print_value(o, i);
			if (i->next)
				puts_(o, ", ");
		}
		puts_(o, "]");
		break;
	case GQL_V_OBJECT:
		puts_(o, "{");
		for (const struct gql_object_field *f = v->fields; f; f = f->next) {
			puts_(o, f->name);
			puts_(o, ": ");
			print_value(o, f->value);
			if (f->next)
				puts_(o, ", ");
		}
		puts_(o, "}");
		break;
	}
}

size_t gql_print_value(const struct gql_value *v, char *buf, size_t n)
{
	struct out o = {buf, n, 0};
	if (n)
		buf[0] = '\0';
	print_value(&o, v);
	return o.len;
}

static void print_type(struct out *o, const struct gql_type_ref *t)
{
	switch (t->kind) {
	case GQL_T_NAMED:
		puts_(o, t->name);
		break;
	case GQL_T_LIST:
		puts_(o, "[");
		print_type(o, t->of);
		puts_(o, "]");
		break;
	case GQL_T_NON_NULL:
		print_type(o, t->of);
		puts_(o, "!");
		break;
	}
}

size_t gql_print_type(const struct gql_type_ref *t, char *buf, size_t n)
{
	struct out o = {buf, n, 0};
	if (n)
		buf[0] = '\0';
	print_type(&o, t);
	return o.len;
}

const char *gql_operation_name(enum gql_operation op)
{
	switch (op) {
	case GQL_OP_QUERY: return "query";
	case GQL_OP_MUTATION: return "mutation";
	case GQL_OP_SUBSCRIPTION: return "subscription";
	}
	return "query";
}
