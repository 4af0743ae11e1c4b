/*
 * core/json/jpath.h — JSONPath (RFC 9535) over jansson values.
 *
 * Supported (RFC 9535 semantics): the root `$`; child segments `.name`,
 * `.*`, `[selectors]`; descendant segments `..name`, `..*`, `..[selectors]`;
 * selectors: names `'a'` / `"a"` (with every RFC escape, \uXXXX and
 * surrogate pairs), wildcard `*`, index `n` / `-n`, slice `start:end:step`
 * (negative step included), filter `?expr`, and unions of any of them
 * separated by commas (`[0,1]`, `['a','b']`, `[?@.x, 0]`).
 * Filter expressions: `||`, `&&`, `!`, parentheses, comparisons `== != < <=
 * > >=` between literals (numbers, 'strings', true, false, null) and
 * singular queries (`@.a[0]`, `$.b`), and existence tests (`@.isbn`,
 * `!@.x`, `$..y`). Comparisons follow RFC 9535 §2.3.5.2.2 (an absent value
 * is "Nothing": Nothing == Nothing is true; `<` only orders numbers with
 * numbers and strings with strings; numbers compare by value, 1 == 1.0).
 *
 * Function extensions (RFC 9535 §2.4), with their declared types:
 *   length(ValueType) -> ValueType   code points of a string, elements of
 *                                     an array, members of an object;
 *                                     Nothing for anything else
 *   count(NodesType)  -> ValueType   the number of nodes
 *   match(ValueType, ValueType) -> LogicalType   the whole string matches
 *   search(ValueType, ValueType) -> LogicalType  some substring matches
 *   value(NodesType)  -> ValueType   the node's value when exactly one
 *                                     node, else Nothing
 * The pattern of match()/search() is an I-Regexp (RFC 9485, see
 * core/json/iregexp.h). They are LogicalFalse when either argument is not
 * a string or the pattern (from the document) is not a valid I-Regexp.
 * Well-typedness (§2.4.3) is checked by jpath_compile: a ValueType
 * parameter takes a literal, a singular query or a ValueType function; a
 * NodesType parameter a query; a test expression (`[?f(...)]`, `!f(...)`)
 * needs a LogicalType function; a comparison a ValueType one. Anything else
 * — `[?length(@.a)]`, `count(1)`, `length(@.*)`, `match(...) == true`, a
 * wrong number of arguments, an unknown function, a constant pattern that
 * is not a valid I-Regexp — is a compile error naming its position.
 * Function calls count towards JPATH_MAX_NEST; the node lists of count()
 * and value() towards JPATH_MAX_NODES.
 *
 * Errors: jpath_compile returns STRATA_EBAD_REQUEST with a message such as
 * "JSONPath: expected ']' at position 7" — the position is the 0-based
 * byte offset in the path text. Evaluation never fails on the document's
 * shape (a name on an array selects nothing), only for memory, when a
 * node list exceeds JPATH_MAX_NODES (STRATA_ETOO_LARGE), including a node
 * list built for count() or value() or an existence test, or when the
 * evaluation's work budget runs out (STRATA_EPATH_TOO_EXPENSIVE; see
 * core/json/jbudget.h for what each step costs).
 *
 * Thread safety: a compiled path is immutable; any number of threads may
 * evaluate it at once (on documents they do not modify meanwhile).
 */
#ifndef STRATA_CORE_JSON_JPATH_H
#define STRATA_CORE_JSON_JPATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JPATH_MAX_LEN 4096        /* path text, bytes */
#define JPATH_MAX_NEST 64         /* nested brackets / parentheses / filters / calls */
#define JPATH_MAX_NODES 1000000   /* one node list */

struct jpath;
struct jbudget; /* core/json/jbudget.h */

/* One selected node: its value and where it sits (parent NULL for the
 * root; key/klen for an object member — valid while the path and the parent
 * live unchanged —, index for an array element). */
struct jpath_node {
	json_t *value;
	json_t *parent;
	const char *key;
	size_t klen;
	size_t index;
};

struct jpath_nodes {
	struct jpath_node *v;
	size_t n, cap;
};

/* Compiles text (NUL-terminated). On success *out is owned by the caller
 * (jpath_free). STRATA_EBAD_REQUEST with msg naming the position;
 * STRATA_ENOMEM. */
int jpath_compile(const char *text, struct jpath **out, char *msg, size_t msglen);
void jpath_free(struct jpath *p);

/* The text as compiled, and a canonical form (bracket notation, `$['a'][0]`)
 * under which equivalent spellings compare equal. */
const char *jpath_text(const struct jpath *p);
const char *jpath_canonical(const struct jpath *p);

/* Whether the path has only name and index child segments (selects at most
 * one node). */
bool jpath_is_singular(const struct jpath *p);

/*
 * Appends to *out every node p selects in doc, in document order (object
 * members in their insertion order). out must be zeroed or a list from an
 * earlier call; free it with jpath_nodes_free. The work is charged to
 * budget (NULL: unlimited), which may be shared with other evaluations.
 * 0, STRATA_ENOMEM, STRATA_ETOO_LARGE or STRATA_EPATH_TOO_EXPENSIVE (the
 * budget ran out); on an error out holds what it held before the call
 * (nothing partial).
 */
int jpath_eval(const struct jpath *p, json_t *doc, struct jbudget *budget,
	       struct jpath_nodes *out);
void jpath_nodes_free(struct jpath_nodes *l);

/* *out = the first node p selects in doc (a borrowed reference), or NULL
 * when there is none. Errors as jpath_eval (*out NULL then). */
int jpath_first(const struct jpath *p, json_t *doc, struct jbudget *budget, json_t **out);

/*
 * Singular-path walking for json_set: the name / index steps of a
 * singular path. Returns the number of steps (0 for `$`); step i is a name
 * when names[i] is not NULL (length name_lens[i]), else indexes[i].
 */
size_t jpath_steps(const struct jpath *p);
bool jpath_step(const struct jpath *p, size_t i, const char **name, size_t *name_len,
		long long *index);

/*
 * Value comparison shared by filters, document queries and index keys.
 * jvalue_equal: deep equality where numbers compare by value (1 == 1.0)
 * and object member order does not matter.
 * jvalue_order: for two numbers or two strings (byte order of UTF-8, which
 * is code point order) sets *cmp to -1/0/1 and returns true; false for any
 * other pair (they are not ordered).
 */
bool jvalue_equal(const json_t *a, const json_t *b);
bool jvalue_order(const json_t *a, const json_t *b, int *cmp);

/* A number n (integer or real, finite) as sign * mant * 2^(exp - 64), mant
 * with its top bit set (sign 0 for zero: exp and mant are 0 then). Exact
 * for every int64 and every double, so comparing (sign, exp, mant) orders
 * mixed integers and reals exactly. */
void jnum_parts(const json_t *n, int *sign, int *exp, unsigned long long *mant);

#endif
