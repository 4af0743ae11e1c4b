/*
 * frontend/graphql/gql_sdl.h — Strata's GraphQL schema (SDL), compiled in.
 * The source of truth is schema.graphql; gql_sdl.c is generated from it by
 * embed_sdl.sh, and a unit test checks that they agree.
 */
#ifndef STRATA_GQL_SDL_H
#define STRATA_GQL_SDL_H

extern const char gql_strata_sdl[];
extern const unsigned long gql_strata_sdl_len;

#endif
