/*
 * core/json/iregexp.h — I-Regexp (RFC 9485), the interoperable regular
 * expressions of JSONPath's match() and search() (RFC 9535 §2.4.6-7).
 *
 * The dialect, exactly RFC 9485 §5.3: alternation `|`, groups `( )`,
 * quantifiers `* + ? {n} {n,} {n,m}` (one per atom), `.` (any code point
 * except \n and \r), character classes `[...]` / `[^...]` with ranges
 * (`-` literal first or last), escapes `\( \) \* \+ \- \. \? \[ \\ \] \^
 * \{ \| \} \n \r \t`, and the Unicode General_Category escapes `\p{X}` /
 * `\P{X}` (X one of L Lu Ll Lt Lm Lo, M Mn Mc Me, N Nd Nl No, P Pc Pd Ps Pe
 * Pi Pf Po, S Sm Sc Sk So, Z Zs Zl Zp, C Cc Cf Co Cn; data: core/json/ucd.h,
 * Unicode 14). Everything else is literal: `^` and `$` are ordinary
 * characters, there are no anchors, no back-references, no \d \w \s.
 * Matching is over Unicode code points of UTF-8 text.
 *
 * Cost is bounded: a compiled expression is a Thompson NFA of at most
 * IREGEXP_MAX_INSNS instructions, simulated in lock step (no backtracking):
 * time O(input code points x instructions), memory O(instructions), so no
 * pattern can make matching exponential. Patterns that would compile larger
 * (`(a{1000}){1000}`) are refused at compile time. The product can still be
 * large (a 1 MB string x 4096 states), so iregexp_match charges the work it
 * does to the caller's budget and stops when it runs out.
 *
 * Thread safety: a compiled expression is immutable; any number of threads
 * may match with it at once.
 */
#ifndef STRATA_CORE_JSON_IREGEXP_H
#define STRATA_CORE_JSON_IREGEXP_H

#include <stdbool.h>
#include <stddef.h>

#define IREGEXP_MAX_LEN 4096    /* pattern, bytes */
#define IREGEXP_MAX_NEST 32     /* nested groups */
#define IREGEXP_MAX_REPEAT 1000 /* n and m of {n,m} */
#define IREGEXP_MAX_INSNS 4096  /* compiled program size */

struct iregexp;
struct jbudget;

/*
 * Compiles the pattern pat[0..len) (UTF-8, may contain NUL). On success
 * *out is owned by the caller (iregexp_free). Errors:
 *   STRATA_EBAD_REQUEST — not an I-Regexp, over a limit, or not UTF-8;
 *     msg holds a reason ("unknown escape", "nothing to repeat", ...) and
 *     *errpos the 0-based byte offset in pat where it was found;
 *   STRATA_ENOMEM.
 * msg / errpos may be NULL.
 */
int iregexp_compile(const char *pat, size_t len, struct iregexp **out, char *msg,
		    size_t msglen, size_t *errpos);
void iregexp_free(struct iregexp *re);

/* The number of instructions of the compiled program (<= IREGEXP_MAX_INSNS):
 * the most states one input code point can touch. */
size_t iregexp_size(const struct iregexp *re);

/*
 * Whether re matches text s[0..len) (UTF-8): all of it when whole is true
 * (RFC 9535 match()), some substring of it otherwise (search()).
 * The work is charged to budget (core/json/jbudget.h; NULL: unlimited): for
 * each input code point, the states and class items it touches (one unit
 * per JBUDGET_REGEX_STEPS of them).
 * Returns 1 (matches), 0 (does not, or s is not valid UTF-8),
 * STRATA_EPATH_TOO_EXPENSIVE (the budget ran out before an answer) or
 * STRATA_ENOMEM (the per-call state could not be allocated).
 */
int iregexp_match(const struct iregexp *re, const char *s, size_t len, bool whole,
		  struct jbudget *budget);

#endif
