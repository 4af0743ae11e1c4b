/*
 * core/json/jdoc.c — operators on one JSON document. The caller's
 * document is never modified: set and delete work on a deep copy.
 */
#include "core/json/jdoc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbudget.h"
#include "core/json/jpath.h"
#include "strata/error.h"

int jdoc_parse(const char *text, size_t len, json_t **out, char *msg, size_t msglen)
{
	json_error_t je;
	*out = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!*out) {
		snprintf(msg, msglen, "JSON: %s at line %d column %d", je.text, je.line, je.column);
		return STRATA_EBAD_REQUEST;
	}
	return 0;
}

const char *jdoc_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "?";
}

static int compile(const char *path, struct jpath **p, char *msg, size_t msglen)
{
	return jpath_compile(path ? path : "$", p, msg, msglen);
}

static int eval_err(int rv, const struct jbudget *budget, char *msg, size_t msglen)
{
	if (rv == STRATA_ETOO_LARGE)
		snprintf(msg, msglen, "the path builds a node list of more than %d nodes "
			 "(its result, a filter query, count() or value())", JPATH_MAX_NODES);
	else if (rv == STRATA_EPATH_TOO_EXPENSIVE)
		snprintf(msg, msglen, "JSONPath evaluation stopped: over its budget of %llu units "
			 "of work (a query inside a filter runs once per candidate node; regex "
			 "matching costs per input character)",
			 budget ? (unsigned long long)budget->limit : 0ULL);
	return rv;
}

int jdoc_extract(json_t *doc, const char *path, bool all, struct jbudget *budget, json_t **out,
		 char *msg, size_t msglen)
{
	struct jpath *p;
	int rv = compile(path, &p, msg, msglen);
	*out = NULL;
	if (rv)
		return rv;
	if (!all) {
		json_t *v;
		rv = jpath_first(p, doc, budget, &v);
		*out = v ? json_incref(v) : NULL;
		jpath_free(p);
		return eval_err(rv, budget, msg, msglen);
	}
	struct jpath_nodes l = {0};
	rv = jpath_eval(p, doc, budget, &l);
	json_t *arr = rv ? NULL : json_array();
	if (!rv && !arr)
		rv = STRATA_ENOMEM;
	for (size_t i = 0; !rv && i < l.n; i++)
		if (json_array_append(arr, l.v[i].value) != 0)
			rv = STRATA_ENOMEM;
	jpath_nodes_free(&l);
	jpath_free(p);
	if (rv) {
		json_decref(arr);
		return eval_err(rv, budget, msg, msglen);
	}
	*out = arr;
	return 0;
}

/* Replaces node nd (in the copy) by value. */
static int replace_node(const struct jpath_node *nd, json_t *value)
{
	if (json_is_object(nd->parent))
		return json_object_setn_new(nd->parent, nd->key, nd->klen, json_deep_copy(value)) ? STRATA_ENOMEM : 0;
	return json_array_set_new(nd->parent, nd->index, json_deep_copy(value)) ? STRATA_ENOMEM : 0;
}

/* Walks/creates a singular path in doc (a copy); sets the last step. */
static int create_path(json_t *doc, const struct jpath *p, json_t *value, char *msg, size_t msglen)
{
	size_t n = jpath_steps(p);
	json_t *cur = doc;
	for (size_t i = 0; i < n; i++) {
		const char *name;
		size_t nlen;
		long long index;
		jpath_step(p, i, &name, &nlen, &index);
		bool last = i + 1 == n;
		json_t *next = NULL;
		if (i + 1 < n) {
			const char *nn;
			size_t nnl;
			long long ni;
			jpath_step(p, i + 1, &nn, &nnl, &ni);
			next = nn ? json_object() : json_array();
			if (!next)
				return STRATA_ENOMEM;
		}
		json_t *child;
		if (name) {
			if (!json_is_object(cur)) {
				json_decref(next);
				snprintf(msg, msglen, "cannot set member '%.*s': step %zu of the path is %s %s, not an object",
					 (int)(nlen > 60 ? 60 : nlen), name, i, json_is_array(cur) ? "an" : "a",
					 jdoc_type_name(cur));
				return STRATA_EBAD_REQUEST;
			}
			child = json_object_getn(cur, name, nlen);
			if (last) {
				return json_object_setn_new(cur, name, nlen, json_deep_copy(value)) ? STRATA_ENOMEM : 0;
			}
			if (!child) {
				if (json_object_setn_new(cur, name, nlen, next))
					return STRATA_ENOMEM;
				child = next;
			} else {
				json_decref(next);
			}
		} else {
			if (!json_is_array(cur)) {
				json_decref(next);
				snprintf(msg, msglen, "cannot set index %lld: step %zu of the path is %s %s, not an array",
					 index, i, json_is_object(cur) ? "an" : "a", jdoc_type_name(cur));
				return STRATA_EBAD_REQUEST;
			}
			size_t size = json_array_size(cur);
			long long k = index < 0 ? (long long)size + index : index;
			if (k < 0 || k > (long long)size) {
				json_decref(next);
				snprintf(msg, msglen, "cannot set index %lld: the array has %zu elements (use %zu to append; arrays are not padded)",
					 index, size, size);
				return STRATA_EBAD_REQUEST;
			}
			if (k == (long long)size) {
				json_t *nv = last ? json_deep_copy(value) : next;
				if (!nv || json_array_append_new(cur, nv))
					return STRATA_ENOMEM;
				child = nv;
				if (last)
					return 0;
			} else {
				if (last) {
					json_decref(next);
					return json_array_set_new(cur, (size_t)k, json_deep_copy(value)) ? STRATA_ENOMEM : 0;
				}
				json_decref(next);
				child = json_array_get(cur, (size_t)k);
			}
		}
		cur = child;
	}
	return 0;
}

/* Nodes of v (itself and everything under it). */
static uint64_t count_nodes(const json_t *v)
{
	uint64_t n = 1;
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_array(v))
		json_array_foreach((json_t *)v, i, x)
			n += count_nodes(x);
	else if (json_is_object(v))
		json_object_foreach((json_t *)v, k, x)
			n += count_nodes(x);
	return n;
}

int jdoc_set(json_t *doc, const char *path, json_t *value, struct jbudget *budget, json_t **out,
	     size_t *matched, char *msg, size_t msglen)
{
	struct jpath *p;
	*out = NULL;
	*matched = 0;
	if (!value) {
		snprintf(msg, msglen, "a value is required");
		return STRATA_EBAD_REQUEST;
	}
	int rv = compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	json_t *copy = json_deep_copy(doc);
	struct jpath_nodes l = {0};
	if (!copy) {
		jpath_free(p);
		return STRATA_ENOMEM;
	}
	if ((rv = jpath_eval(p, copy, budget, &l)) != 0) {
		rv = eval_err(rv, budget, msg, msglen);
		goto out;
	}
	/* each match gets its own copy of value: `$..*` with a large value
	 * would copy it once per node */
	if (l.n > 1 && (rv = jbudget_charge(budget, (uint64_t)l.n * count_nodes(value))) != 0) {
		rv = eval_err(rv, budget, msg, msglen);
		goto out;
	}
	if (l.n == 1 && l.v[0].parent == NULL) { /* `$` */
		json_decref(copy);
		copy = json_deep_copy(value);
		*matched = 1;
		rv = copy ? 0 : STRATA_ENOMEM;
		goto out;
	}
	if (l.n > 0) {
		/* a match may sit inside another one replaced before it: keep
		 * every parent alive until all are done */
		for (size_t i = 0; i < l.n; i++)
			json_incref(l.v[i].parent);
		for (size_t i = 0; !rv && i < l.n; i++)
			rv = replace_node(&l.v[i], value);
		for (size_t i = 0; i < l.n; i++)
			json_decref(l.v[i].parent);
		*matched = l.n;
		goto out;
	}
	if (jpath_is_singular(p)) {
		rv = create_path(copy, p, value, msg, msglen);
		*matched = rv ? 0 : 1;
	}
out:
	jpath_nodes_free(&l);
	jpath_free(p);
	if (rv) {
		json_decref(copy);
		return rv;
	}
	*out = copy;
	return 0;
}

struct del_item {
	json_t *parent;
	char *key; /* a copy: removing a member frees the object's own */
	size_t klen;
	size_t index;
};

/* Array elements of one parent: later indexes first; others in order. */
static int del_cmp(const void *a, const void *b)
{
	const struct del_item *x = a, *y = b;
	if (x->parent != y->parent)
		return (uintptr_t)x->parent < (uintptr_t)y->parent ? -1 : 1;
	if (x->key || y->key)
		return 0;
	return x->index == y->index ? 0 : x->index > y->index ? -1 : 1;
}

int jdoc_delete(json_t *doc, const char *path, struct jbudget *budget, json_t **out,
		size_t *removed, char *msg, size_t msglen)
{
	struct jpath *p;
	*out = NULL;
	*removed = 0;
	int rv = compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	json_t *copy = json_deep_copy(doc);
	struct jpath_nodes l = {0};
	struct del_item *items = NULL;
	if (!copy) {
		jpath_free(p);
		return STRATA_ENOMEM;
	}
	if ((rv = jpath_eval(p, copy, budget, &l)) != 0) {
		rv = eval_err(rv, budget, msg, msglen);
		goto out;
	}
	if (l.n == 0)
		goto out;
	items = calloc(l.n, sizeof(*items));
	if (!items) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (!l.v[i].parent) {
			snprintf(msg, msglen, "cannot delete the document itself ('$')");
			rv = STRATA_EBAD_REQUEST;
			goto out;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		items[i] = (struct del_item){l.v[i].parent, NULL, l.v[i].klen, l.v[i].index};
		if (l.v[i].key) {
			items[i].key = malloc(l.v[i].klen + 1);
			if (!items[i].key) {
				for (size_t k = 0; k < i; k++) {
					json_decref(items[k].parent);
					free(items[k].key);
				}
				rv = STRATA_ENOMEM;
				goto out;
			}
			memcpy(items[i].key, l.v[i].key, l.v[i].klen);
			items[i].key[l.v[i].klen] = '\0';
		}
		/* Removing a node may free its subtree; parents below it are
		 * then kept alive by this reference until we are done. */
		json_incref(l.v[i].parent);
	}
	size_t n = l.n;
	qsort(items, n, sizeof(*items), del_cmp);
	for (size_t i = 0; i < n; i++) {
		struct del_item *it = &items[i];
		if (it->key) {
			if (json_object_getn(it->parent, it->key, it->klen) &&
			    json_object_deln(it->parent, it->key, it->klen) == 0)
				(*removed)++;
		} else if (!(i > 0 && items[i - 1].parent == it->parent && !items[i - 1].key &&
			     items[i - 1].index == it->index)) {
			if (json_array_remove(it->parent, it->index) == 0)
				(*removed)++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_decref(items[i].parent);
		free(items[i].key);
	}
out:
	free(items);
	jpath_nodes_free(&l);
	jpath_free(p);
	if (rv) {
		json_decref(copy);
		*removed = 0;
		return rv;
	}
	*out = copy;
	return 0;
}

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

bool jdoc_contains(const json_t *t, const json_t *c)
{
	if (json_is_object(c)) {
		if (!json_is_object(t))
			return false;
		const char *k;
		size_t kl;
		json_t *v;
		json_object_keylen_foreach((json_t *)c, k, kl, v) {
			json_t *w = json_object_getn(t, k, kl);
			if (!w || !jdoc_contains(w, v))
				return false;
		}
		return true;
	}
	if (json_is_array(c)) {
		if (!json_is_array(t))
			return false;
		for (size_t i = 0; i < json_array_size(c); i++) {
			json_t *cv = json_array_get(c, i);
			bool found = false;
			for (size_t k = 0; k < json_array_size(t) && !found; k++) {
				json_t *tv = json_array_get(t, k);
				/* a nested scalar must match exactly, not by array
				 * membership one level down */
				found = is_scalar(cv) ? jvalue_equal(tv, cv) : jdoc_contains(tv, cv);
			}
			if (!found)
				return false;
		}
		return true;
	}
	if (json_is_array(t)) {
		for (size_t k = 0; k < json_array_size(t); k++)
			if (jvalue_equal(json_array_get(t, k), c))
				return true;
		return false;
	}
	return jvalue_equal(t, c);
}

static int first_node(json_t *doc, const char *path, struct jbudget *budget, json_t **node,
		      char *msg, size_t msglen)
{
	struct jpath *p;
	*node = NULL;
	int rv = compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	rv = jpath_first(p, doc, budget, node);
	jpath_free(p);
	return eval_err(rv, budget, msg, msglen);
}

int jdoc_keys(json_t *doc, const char *path, struct jbudget *budget, json_t **out, char *msg,
           size_t msglen)
{
	json_t *v;
	*out = NULL;
	int rv = first_node(doc, path, budget, &v, msg, msglen);
	if (rv || !v)
		return rv;
	if (!json_is_object(v)) {
		snprintf(msg, msglen, "keys: the value at '%s' is %s %s, not an object",
			 path ? path : "$", json_is_array(v) ? "an" : "a", jdoc_type_name(v));
		return STRATA_EBAD_REQUEST;
	}
	json_t *arr = json_array();
	const char *k;
	size_t kl;
	json_t *x;
	if (!arr)
		return STRATA_ENOMEM;
	json_object_keylen_foreach(v, k, kl, x) {
		if (json_array_append_new(arr, json_stringn(k, kl))) {
			json_decref(arr);
			return STRATA_ENOMEM;
		}
	}
	*out = arr;
	return 0;
}

int jdoc_array_length(json_t *doc, const char *path, struct jbudget *budget, json_t **out, char *msg,
                   size_t msglen)
{
	json_t *v;
	*out = NULL;
	int rv = first_node(doc, path, budget, &v, msg, msglen);
	if (rv || !v)
		return rv;
	if (!json_is_array(v)) {
		snprintf(msg, msglen, "array-length: the value at '%s' is %s %s, not an array",
			 path ? path : "$", json_is_object(v) ? "an" : "a", jdoc_type_name(v));
		return STRATA_EBAD_REQUEST;
	}
	*out = json_integer((json_int_t)json_array_size(v));
	return *out ? 0 : STRATA_ENOMEM;
}

/* RFC 7396 §2 MergePatch(Target, Patch). */
json_t *jdoc_merge_patch(const json_t *target, const json_t *patch)
{
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
	if (!res)
		return NULL;
	const char *k;
	size_t kl;
	json_t *v;
	json_object_keylen_foreach((json_t *)patch, k, kl, v) {
		if (json_is_null(v)) {
			json_object_deln(res, k, kl);
			continue;
		}
		json_t *merged = jdoc_merge_patch(json_object_getn(res, k, kl), v);
		if (!merged || json_object_setn_new(res, k, kl, merged)) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

int jdoc_agg(const json_t *docs, const char *path, struct jbudget *budget, json_t **out,
	     char *msg, size_t msglen)
{
	struct jpath *p;
	*out = NULL;
	if (!json_is_array(docs)) {
		snprintf(msg, msglen, "field 'docs' must be an array");
		return STRATA_EBAD_REQUEST;
	}
	int rv = compile(path, &p, msg, msglen);
	if (rv)
		return rv;
	json_t *arr = json_array();
	if (!arr)
		rv = STRATA_ENOMEM;
	for (size_t i = 0; !rv && i < json_array_size(docs); i++) {
		json_t *v;
		rv = jpath_first(p, json_array_get(docs, i), budget, &v);
		if (!rv && v && json_array_append(arr, v))
			rv = STRATA_ENOMEM;
	}
	jpath_free(p);
	if (rv) {
		json_decref(arr);
		return eval_err(rv, budget, msg, msglen);
	}
	*out = arr;
	return 0;
}

int jdoc_object_agg(const json_t *docs, const char *key_path, const char *value_path,
		    struct jbudget *budget, json_t **out, char *msg, size_t msglen)
{
	struct jpath *kp = NULL, *vp = NULL;
	*out = NULL;
	if (!json_is_array(docs)) {
		snprintf(msg, msglen, "field 'docs' must be an array");
		return STRATA_EBAD_REQUEST;
	}
	if (!key_path) {
		snprintf(msg, msglen, "field 'key_path' is required for json_object_agg");
		return STRATA_EBAD_REQUEST;
	}
	int rv = compile(key_path, &kp, msg, msglen);
	if (!rv)
		rv = compile(value_path, &vp, msg, msglen);
	json_t *obj = rv ? NULL : json_object();
	if (!rv && !obj)
		rv = STRATA_ENOMEM;
	for (size_t i = 0; !rv && i < json_array_size(docs); i++) {
		json_t *d = json_array_get(docs, i);
		json_t *k, *v;
		if ((rv = jpath_first(kp, d, budget, &k)) || (rv = jpath_first(vp, d, budget, &v))) {
			eval_err(rv, budget, msg, msglen);
			break;
		}
		char *ktext = NULL;
		if (!k || json_is_null(k) || json_is_object(k) || json_is_array(k)) {
			snprintf(msg, msglen, "docs[%zu]: the key at '%s' is %s (a key must be a string, number or boolean)",
				 i, key_path, k ? jdoc_type_name(k) : "absent");
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		if (!json_is_string(k) && !(ktext = json_dumps(k, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)))) {
			rv = STRATA_ENOMEM;
			break;
		}
		json_t *val = v ? json_incref(v) : json_null();
		if (ktext)
			rv = json_object_set_new(obj, ktext, val) ? STRATA_ENOMEM : 0;
		else
			rv = json_object_setn_new(obj, json_string_value(k), json_string_length(k), val)
				     ? STRATA_ENOMEM : 0;
		free(ktext);
	}
	jpath_free(kp);
	jpath_free(vp);
	if (rv) {
		json_decref(obj);
		return rv;
	}
	*out = obj;
	return 0;
}
