/*
 * proto/json_text.h — JSON text as Strata writes it to people and clients.
 *
 * jansson writes every real with 17 significant digits ("uptime_s":
 * 0.55795899999999998). Here each real gets the fewest digits (15, 16 or
 * 17) that read back as the very same double — 0.558 — so nothing is lost
 * and nothing is noise. A real stays a real: 2.0, not 2.
 */
#ifndef STRATA_PROTO_JSON_TEXT_H
#define STRATA_PROTO_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* json_dumps(v, flags) with shortest round-trip reals; free() the result.
 * NULL where json_dumps would fail, or out of memory. */
char *proto_json_dumps(const json_t *v, size_t flags);

/* The same rewrite on any JSON text (numbers inside strings are left
 * alone). Returns a new string, or NULL out of memory. */
char *proto_json_shorten_reals(const char *text);

#endif
