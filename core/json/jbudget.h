/*
 * core/json/jbudget.h — the work budget of a JSONPath evaluation.
 *
 * A path such as `$[?count($..*) > 0]` runs a whole-document descent for
 * every candidate node (quadratic), and match()/search() cost up to input
 * code points x automaton states per node. A budget bounds the CPU one
 * request may spend: the evaluator (jpath.c) and the regex matcher
 * (iregexp.c) charge units as they work, and stop with
 * STRATA_EPATH_TOO_EXPENSIVE when the budget runs out.
 *
 * Units (each roughly the CPU of visiting one node, tens of nanoseconds):
 *   1 per node a segment is applied to (descendants included), per node put
 *     on a node list, per selector applied, per singular-query step, per
 *     filter-expression and function evaluation, per value pair compared;
 *   +1 per 16 bytes of a member name looked up, a string compared or a
 *     string measured by length();
 *   a regex: pattern bytes + compiled instructions for each compilation of
 *     a pattern taken from the document, and one unit per
 *     JBUDGET_REGEX_STEPS automaton states and class items the input code
 *     points touch (a step costs a few nanoseconds, a node visit tens).
 * The cost of a path on a document is deterministic: the same path on the
 * same document always spends the same units.
 *
 * One budget may be shared by several evaluations (a query over a
 * collection charges every document it reads to the same budget): the
 * limit is per budget, not per call. A NULL budget is unlimited.
 *
 * Thread safety: a budget belongs to one evaluation thread.
 */
#ifndef STRATA_CORE_JSON_JBUDGET_H
#define STRATA_CORE_JSON_JBUDGET_H

#include <stdint.h>

#include "strata/error.h"

/* 20 million units: up to about 1.5 s of one core, the slowest being node
 * visits of descendant queries (50-80 ns a unit on a loaded 2-core VM;
 * regex steps, long strings and document patterns 5-40 ns a unit).
 * Ordinary paths spend a few units per node they touch: `$..*` on a
 * document of a million nodes about 3 M. */
#define JBUDGET_DEFAULT 20000000ULL
#define JBUDGET_MIN 1000ULL
#define JBUDGET_MAX 100000000000ULL
#define JBUDGET_REGEX_STEPS 16 /* regex states touched per unit */

struct jbudget {
	uint64_t limit; /* units this budget allows */
	uint64_t used;  /* units spent so far; never above limit */
};

static inline struct jbudget jbudget_make(uint64_t limit)
{
	struct jbudget b = {limit, 0};
	return b;
}

/* Spends units from b (NULL: unlimited). 0, or STRATA_EPATH_TOO_EXPENSIVE
 * when fewer than units are left (b is then exhausted: used == limit, and
 * every later charge fails too). */
static inline int jbudget_charge(struct jbudget *b, uint64_t units)
{
	if (!b)
		return 0;
	if (units > b->limit - b->used) {
		b->used = b->limit;
		return STRATA_EPATH_TOO_EXPENSIVE;
	}
	b->used += units;
	return 0;
}

/* The units of work of handling n bytes of a string (see above). */
static inline uint64_t jbudget_bytes(uint64_t n)
{
	return n / 16;
}

#endif
