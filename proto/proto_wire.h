/*
 * proto/proto_wire.h — msgpack reading and UTF-8 helpers shared by proto's
 * codecs. Internal to proto/: other layers use event_codec.h and msg.h.
 *
 * Why a pre-scan before msgpack_unpack_next: msgpack-c allocates an array or
 * map's element storage from the count in its header before it has seen a
 * single element, so a 5-byte input announcing 2^32 elements asks for about
 * 100 GB. proto_mp_unpack first walks the bytes and refuses any container
 * that announces more elements than there are bytes left (each element takes
 * at least one), any string longer than what remains, nesting that
 * msgpack-c's fixed stack cannot hold, and trailing bytes. After that, the
 * unpacker's memory is bounded by a small multiple of the input size.
 */
#ifndef STRATA_PROTO_WIRE_H
#define STRATA_PROTO_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto_err.h"

/*
 * Deepest nesting of non-empty arrays/maps msgpack-c 4.0 can unpack: its
 * unpacker has a fixed stack of MSGPACK_EMBED_STACK_SIZE (32) entries,
 * compiled into the library.
 */
#define PROTO_MP_MAX_DEPTH 32

/*
 * Unpacks exactly one msgpack value from buf[0..len). `what` names the
 * message in errors ("request", "event"). msgpack_unpacked_init(up) is done
 * here; the caller must msgpack_unpacked_destroy(up) whatever the result.
 * Strings in the result point into buf, so buf must outlive them.
 * Returns 0; STRATA_EBAD_REQUEST for empty, truncated, malformed, too deep or
 * oversized input and trailing bytes; STRATA_ENOMEM.
 */
int proto_mp_unpack(const void *buf, size_t len, const char *what,
		    msgpack_unpacked *up, struct proto_err *err);

/* "string", "map", "negative integer", ... for error messages. */
const char *proto_mp_type_name(const msgpack_object *o);

/* True if o is a msgpack string equal to s. */
bool proto_mp_str_eq(const msgpack_object *o, const char *s);

/*
 * Picks the values of the keys names[0..n) out of a msgpack map: vals[i]
 * is the value of names[i], or NULL if absent. Other keys are ignored
 * (forward compatibility). `ctx` prefixes field names in errors ("" at the
 * top level, "PageHit" for "PageHit.page_id").
 * Returns 0; STRATA_EBAD_REQUEST if map is not a map, has a non-string key
 * or repeats one of names.
 */
int proto_mp_map_pick(const msgpack_object *map, const char *const *names,
		      size_t n, const msgpack_object **vals, const char *ctx,
		      struct proto_err *err);

/*
 * Typed reads of one field's value (o may be NULL: "missing"). `ctx` and
 * `name` label the field in errors. Return 0 or STRATA_EBAD_REQUEST.
 */
int proto_mp_get_u64(const msgpack_object *o, const char *ctx, const char *name,
		     uint64_t *out, struct proto_err *err);
int proto_mp_get_i64(const msgpack_object *o, const char *ctx, const char *name,
		     int64_t *out, struct proto_err *err);
/* *s points into the message buffer and is not NUL-terminated. */
int proto_mp_get_str(const msgpack_object *o, const char *ctx, const char *name,
		     const char **s, size_t *len, struct proto_err *err);

/*
 * UTF-8 as JSON (and jansson) accept it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. NUL bytes are valid.
 */
bool proto_utf8_valid(const char *s, size_t n);

/*
 * Copies s[0..n) into dst (capacity cap >= 1) as valid UTF-8 without NUL
 * bytes: each byte that does not start a valid sequence, and each NUL,
 * becomes U+FFFD. Stops before a character that would not fit, so a long
 * input is cut at a character boundary. Always NUL-terminates; returns the
 * length written.
 */
size_t proto_utf8_sanitize(char *dst, size_t cap, const char *s, size_t n);

#endif
