/*
 * frontend/graphql/gql_arena.h — a bump allocator for one GraphQL document
 * (its AST, validation scratch) or for the schema.
 *
 * Everything allocated from an arena lives until gql_arena_free. Allocation
 * fails (NULL) when malloc fails or the arena reaches its byte limit, so a
 * hostile document cannot make the frontend allocate without bound.
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef STRATA_GQL_ARENA_H
#define STRATA_GQL_ARENA_H

#include <stddef.h>

struct gql_arena_block;

struct gql_arena {
	struct gql_arena_block *head;
	size_t used, limit; /* limit 0: unlimited */
};

void gql_arena_init(struct gql_arena *a, size_t limit);
/* Zeroed memory, 16-byte aligned; NULL when out of memory or over the limit. */
void *gql_arena_alloc(struct gql_arena *a, size_t n);
/* A NUL-terminated copy of n bytes of s; NULL as gql_arena_alloc. */
char *gql_arena_strndup(struct gql_arena *a, const char *s, size_t n);
void gql_arena_free(struct gql_arena *a);

#endif
