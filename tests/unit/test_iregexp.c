/*
 * tests/unit/test_iregexp.c — I-Regexp (RFC 9485) engine: the syntax of
 * §5.3 (valid and invalid patterns, error positions), full match versus
 * search, code points rather than bytes, `.` and line ends, classes,
 * quantifiers, Unicode categories, and the bounds (pattern size, compiled
 * size, no exponential blow-up on nested quantifiers).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/iregexp.h"
#include "core/json/ucd.h"
#include "strata/error.h"

static struct iregexp *re_ok(const char *pat)
{
	struct iregexp *re = NULL;
	char msg[256] = "";
	size_t at = 0;
	int rv = iregexp_compile(pat, strlen(pat), &re, msg, sizeof(msg), &at);
	cr_assert_eq(rv, 0, "'%s' should compile: %s at %zu", pat, msg, at);
	cr_assert_not_null(re);
	return re;
}

/* pattern must (not) fully match / be found in text */
static void m(const char *pat, const char *text, int whole, int want_search)
{
	struct iregexp *re = re_ok(pat);
	int w = iregexp_match(re, text, strlen(text), true, NULL);
	int s = iregexp_match(re, text, strlen(text), false, NULL);
	cr_assert_eq(w, whole, "match('%s', '%s') = %d, want %d", text, pat, w, whole);
	cr_assert_eq(s, want_search, "search('%s', '%s') = %d, want %d", text, pat, s, want_search);
	iregexp_free(re);
}

static void bad(const char *pat, size_t pos)
{
	struct iregexp *re = NULL;
	char msg[256] = "";
	size_t at = 9999;
	int rv = iregexp_compile(pat, strlen(pat), &re, msg, sizeof(msg), &at);
	cr_assert_eq(rv, STRATA_EBAD_REQUEST, "'%s' should not compile (rv %d)", pat, rv);
	cr_assert_null(re);
	cr_assert_eq(at, pos, "'%s': error at %zu (%s), want %zu", pat, at, msg, pos);
	cr_assert(msg[0] != '\0');
}

Test(iregexp, literals_match_versus_search)
{
	m("abc", "abc", 1, 1);
	m("abc", "xabcx", 0, 1);
	m("abc", "ab", 0, 0);
	m("", "", 1, 1);
	m("", "x", 0, 1);
	/* ^ and $ are ordinary characters in I-Regexp */
	m("^a$", "^a$", 1, 1);
	m("^a", "a", 0, 0);
	m("a,b-c/d@e", "a,b-c/d@e", 1, 1);
}

Test(iregexp, dot_is_one_code_point_but_not_newlines)
{
	m("a.c", "abc", 1, 1);
	m("a.c", "a\xc3\xa9" "c", 1, 1);          /* é: two bytes, one code point */
	m("a.c", "a\xf0\x9f\x98\x80" "c", 1, 1);  /* 😀: four bytes */
	m("a..c", "a\xc3\xa9" "c", 0, 0);
	m("a.c", "a\nc", 0, 0);
	m("a.c", "a\rc", 0, 0);
	m("a.c", "a\tc", 1, 1);
	m(".*", "line1\nline2", 0, 1);
}

Test(iregexp, alternation_groups_quantifiers)
{
	m("a|b", "b", 1, 1);
	m("ab|cd", "cd", 1, 1);
	m("ab|cd", "ad", 0, 0);
	m("a(b|c)d", "acd", 1, 1);
	m("(a|)b", "b", 1, 1);
	m("a*", "", 1, 1);
	m("a*", "aaaa", 1, 1);
	m("a+", "", 0, 0);
	m("a+", "aaa", 1, 1);
	m("ab?c", "ac", 1, 1);
	m("ab?c", "abbc", 0, 0);
	m("a{3}", "aaa", 1, 1);
	m("a{3}", "aa", 0, 0);
	m("a{3}", "aaaa", 0, 1);
	m("a{2,}", "aaaaa", 1, 1);
	m("a{2,}", "a", 0, 0);
	m("a{2,3}", "aaa", 1, 1);
	m("a{2,3}", "aaaa", 0, 1);
	m("a{0}", "", 1, 1);
	m("a{0}b", "b", 1, 1);
	m("a{0,0}", "a", 0, 1);
	m("(ab){2}", "abab", 1, 1);
	m("(a|b)*c", "abbac", 1, 1);
	m("(a?)*", "aaa", 1, 1);     /* an empty loop ends */
	m("(a*)*b", "aaab", 1, 1);
	m("((a)(b))", "ab", 1, 1);
	m("a{01}", "a", 1, 1);       /* QuantExact allows leading zeros */
}

Test(iregexp, escapes)
{
	m("\\(\\)\\*\\+\\-\\.\\?\\[\\\\\\]\\^\\{\\|\\}", "()*+-.?[\\]^{|}", 1, 1);
	m("a\\.c", "abc", 0, 0);
	m("a\\.c", "a.c", 1, 1);
	m("\\n\\r\\t", "\n\r\t", 1, 1);
}

Test(iregexp, classes)
{
	m("[abc]", "b", 1, 1);
	m("[abc]", "d", 0, 0);
	m("[a-z]+", "hello", 1, 1);
	m("[a-z]+", "Hello", 0, 1);
	m("[^a-z]", "A", 1, 1);
	m("[^a-z]", "a", 0, 0);
	m("[^a]", "\n", 1, 1);              /* a negated class does match newlines */
	m("[-a]", "-", 1, 1);
	m("[a-]", "-", 1, 1);
	m("[^-a]", "b", 1, 1);
	m("[.]", ".", 1, 1);                /* . is literal in a class */
	m("[.]", "x", 0, 0);
	m("[\\]\\[\\-]+", "][-", 1, 1);
	m("[\\--0]", "/", 1, 1);            /* range from an escaped '-' */
	m("[a^]", "^", 1, 1);
	m("[\xc3\xa0-\xc3\xbf]", "\xc3\xa9", 1, 1);   /* à-ÿ contains é */
	m("[\xc3\xa0-\xc3\xbf]", "e", 0, 0);
	m("[\\n]", "\n", 1, 1);
	m("[\\p{Lu}0-9]+", "AB12", 1, 1);
	m("[\\P{L}]", "1", 1, 1);
	m("[\\P{L}]", "a", 0, 0);
}

Test(iregexp, unicode_categories)
{
	m("\\p{L}+", "h\xc3\xa9llo\xe6\x97\xa5", 1, 1);     /* héllo日 */
	m("\\p{Lu}", "A", 1, 1);
	m("\\p{Lu}", "a", 0, 0);
	m("\\p{Ll}", "\xc3\xa9", 1, 1);
	m("\\p{N}", "\xd9\xa3", 1, 1);                     /* ARABIC-INDIC DIGIT THREE */
	m("\\p{Nd}+", "0123", 1, 1);
	m("\\p{Nl}", "\xe2\x85\xa0", 1, 1);                /* Ⅰ ROMAN NUMERAL ONE */
	m("\\p{P}", "!", 1, 1);
	m("\\p{Pd}", "-", 1, 1);
	m("\\p{Ps}\\p{Pe}", "()", 1, 1);
	m("\\p{Z}", " ", 1, 1);
	m("\\p{Zs}", "\xc2\xa0", 1, 1);                    /* NBSP */
	m("\\p{S}", "+", 1, 1);
	m("\\p{Sc}", "\xe2\x82\xac", 1, 1);                /* € */
	m("\\p{Cc}", "\n", 1, 1);
	m("\\p{C}", "\n", 1, 1);
	m("\\p{M}", "\xcc\x81", 1, 1);                     /* combining acute */
	m("\\p{So}", "\xf0\x9f\x98\x80", 1, 1);            /* 😀 */
	m("\\P{L}", "a", 0, 0);
	m("\\P{L}", "1", 1, 1);
	m("\\P{Nd}+", "abc", 1, 1);
	cr_assert_eq(ucd_category('A'), UCD_LU);
	cr_assert_eq(ucd_category(0x10FFFF), UCD_CN);
	cr_assert_eq(ucd_category(0x110000), UCD_CN);
	cr_assert_eq(ucd_category(0xE000), UCD_CO);
	cr_assert_eq(ucd_property_mask("Cs", 2), 0u);
	cr_assert_eq(ucd_property_mask("Lx", 2), 0u);
	cr_assert_eq(ucd_property_mask("L", 1), (1u << UCD_LU) | (1u << UCD_LL) | (1u << UCD_LT) |
							(1u << UCD_LM) | (1u << UCD_LO));
}

Test(iregexp, nul_in_pattern_and_text)
{
	struct iregexp *re = NULL;
	cr_assert_eq(iregexp_compile("a\0b", 3, &re, NULL, 0, NULL), 0);
	cr_assert_eq(iregexp_match(re, "a\0b", 3, true, NULL), 1);
	cr_assert_eq(iregexp_match(re, "a\0c", 3, true, NULL), 0);
	iregexp_free(re);
}

Test(iregexp, invalid_text_does_not_match)
{
	struct iregexp *re = re_ok(".*");
	cr_assert_eq(iregexp_match(re, "a\xff", 2, true, NULL), 0);
	cr_assert_eq(iregexp_match(re, "\xc0\x80", 2, true, NULL), 0);        /* overlong */
	cr_assert_eq(iregexp_match(re, "\xed\xa0\x80", 3, true, NULL), 0);    /* surrogate */
	iregexp_free(re);
}

Test(iregexp, invalid_patterns_name_the_position)
{
	bad("(", 0);
	bad("a(b", 1);
	bad(")", 0);
	bad("a)b", 1);
	bad("*", 0);
	bad("a**", 2);
	bad("a{2}{3}", 4);
	bad("a+?", 2);               /* no lazy quantifiers */
	bad("{1}", 0);
	bad("a{", 2);
	bad("a{x}", 2);
	bad("a{1", 3);
	bad("a{3,2}", 1);
	bad("a{1001}", 2);
	bad("]", 0);
	bad("}", 0);
	bad("[", 0);
	bad("[]", 1);
	bad("[^]", 2);
	bad("[a", 0);
	bad("[z-a]", 2);
	bad("[a-b-c]", 4);
	bad("[[]", 1);
	bad("[a-\\p{L}]", 3);
	bad("\\d", 0);
	bad("\\w", 0);
	bad("\\s", 0);
	bad("\\b", 0);
	bad("\\", 0);
	bad("\\p{Xx}", 3);
	bad("\\p{Cs}", 3);
	bad("\\pL", 2);
	bad("\\p{L", 0);
	bad("a\xff", 1);
	bad("(?:a)", 1);             /* no non-capturing groups */
}

Test(iregexp, bounds)
{
	/* nesting */
	char deep[200] = "";
	for (int i = 0; i < IREGEXP_MAX_NEST; i++)
		strcat(deep, "(");
	strcat(deep, "a");
	for (int i = 0; i < IREGEXP_MAX_NEST; i++)
		strcat(deep, ")");
	m(deep, "a", 1, 1);
	char deeper[200] = "(";
	strcat(deeper, deep);
	strcat(deeper, ")");
	bad(deeper, IREGEXP_MAX_NEST);
	/* compiled size: refused before anything is built */
	bad("(a{1000}){1000}", 0);
	bad("((a{30}){30}){30}", 0);
	m("a{1000}", "", 0, 0);
	/* pattern length */
	char *big = malloc(IREGEXP_MAX_LEN + 2);
	cr_assert_not_null(big);
	memset(big, 'a', IREGEXP_MAX_LEN + 1);
	big[IREGEXP_MAX_LEN + 1] = '\0';
	bad(big, IREGEXP_MAX_LEN);
	big[IREGEXP_MAX_LEN - 1] = '\0';
	/* 4095 literal a's: 4096 instructions with MATCH, the largest program */
	struct iregexp *re = re_ok(big);
	cr_assert_eq(iregexp_match(re, big, strlen(big), true, NULL), 1);
	iregexp_free(re);
	free(big);
}

Test(iregexp, no_exponential_blowup, .timeout = 20)
{
	/* (a*)*b and (a|a)*b against a long run of a's: catastrophic for a
	 * backtracking engine, linear here. */
	size_t n = 100000;
	char *t = malloc(n + 1);
	cr_assert_not_null(t);
	memset(t, 'a', n);
	t[n] = '\0';
	const char *pats[] = {"(a*)*b", "(a|a)*b", "(a|aa)+c", "(.*)*x", "(a?){50}a{50}b"};
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct iregexp *re = re_ok(pats[i]);
		cr_assert_eq(iregexp_match(re, t, n, true, NULL), 0, "%s", pats[i]);
		cr_assert_eq(iregexp_match(re, t, n, false, NULL), 0, "%s", pats[i]);
		iregexp_free(re);
	}
	struct iregexp *re = re_ok("(a?){50}a{50}");
	cr_assert_eq(iregexp_match(re, t, 50, true, NULL), 1);
	cr_assert_eq(iregexp_match(re, t, 100, true, NULL), 1);
	cr_assert_eq(iregexp_match(re, t, 101, true, NULL), 0);
	iregexp_free(re);
	free(t);
}

/* Random mutations of valid patterns (fixed seed: reproducible) compile or
 * fail cleanly, and whatever compiles matches without crashing; under
 * `make asan` this also checks memory safety. */
Test(iregexp, mutated_patterns_fail_cleanly)
{
	static const char *seeds[] = {"(a|b)*c{2,3}", "[^\\p{L}0-9-]+x?", "\\P{Nd}.(x{0,4}|[a-c])",
				      "((a?){3}b)+|[\\-\\]]", "\xc3\xa9{1,}[\xe6\x97\xa5-\xe6\x97\xbf]"};
	static const char alphabet[] = "()[]{}|*+?.-^\\,0123456789pPLuNdab\n";
	unsigned x = 12345;
	char pat[64];
	for (int iter = 0; iter < 20000; iter++) {
		const char *s = seeds[iter % 5];
		size_t n = strlen(s);
		memcpy(pat, s, n);
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			size_t at = (x >> 8) % (n + 1);
			x = x * 1103515245u + 12345u;
			char c = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
			if ((x >> 20) % 3 == 0 && n < sizeof(pat) - 1) { /* insert */
				memmove(pat + at + 1, pat + at, n - at);
				pat[at] = c;
				n++;
			} else if ((x >> 20) % 3 == 1 && at < n) { /* delete */
				memmove(pat + at, pat + at + 1, n - at - 1);
				n--;
			} else if (at < n) {
				pat[at] = c;
			}
		}
		struct iregexp *re = NULL;
		char msg[128];
		size_t pos = 0;
		int rv = iregexp_compile(pat, n, &re, msg, sizeof(msg), &pos);
		cr_assert(rv == 0 || rv == STRATA_EBAD_REQUEST, "rv %d", rv);
		if (rv) {
			cr_assert(pos <= n, "error position %zu past the pattern (%zu)", pos, n);
			continue;
		}
		cr_assert(iregexp_match(re, "abc\xc3\xa9" "123-]", 10, false, NULL) >= 0);
		cr_assert(iregexp_match(re, pat, n, true, NULL) >= 0);
		iregexp_free(re);
	}
}
