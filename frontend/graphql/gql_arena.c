#include "frontend/graphql/gql_arena.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN 8192

struct gql_arena_block {
	struct gql_arena_block *next;
	size_t cap, used;
	_Alignas(16) unsigned char data[];
};

void gql_arena_init(struct gql_arena *a, size_t limit)
{
	a->head = NULL;
	a->used = 0;
	a->limit = limit;
}

void *gql_arena_alloc(struct gql_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (a->limit && (n > a->limit || a->used > a->limit - n))
		return NULL;
	struct gql_arena_block *b = a->head;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		/* A big one-off block goes behind the head, so the head's free
		 * room stays usable. */
		if (a->head && cap == n) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = b->data + b->used;
	b->used += n;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *gql_arena_strndup(struct gql_arena *a, const char *s, size_t n)
{
	char *p = gql_arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void gql_arena_free(struct gql_arena *a)
{
	struct gql_arena_block *b = a->head;
	while (b) {
		struct gql_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->used = 0;
}
