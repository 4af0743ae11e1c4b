/*
 * proto/event_codec.h — storage events on the bus (msgpack) and on
 * WebSocket (JSON).
 *
 * Everything here is driven by one field table generated from the X-macros
 * of include/strata/events.h, so adding a variant or a field there is all it
 * takes for both encodings, both decoders and the name look-ups to follow.
 *
 * Required and optional fields. Every field the seed's fixtures carry
 * (test_data/websocket/) is required: decoding fails, naming the field, if
 * it is absent or has the wrong type. The counters the *Stats variants carry
 * beyond the seed (PoolStats.evictions, IoStats.reads, ...; ev_field.optional)
 * are optional: absent means 0, and ev_to_json leaves them out while they
 * are 0, so a seed-shaped message decodes and re-encodes to the same JSON.
 * The bus encoding always carries every field.
 *
 * Thread safety: every function is reentrant; the tables are constant.
 * Errors: decoders return 0 or STRATA_EBAD_REQUEST (bad input; err->msg says
 * which field and why) or STRATA_ENOMEM. err may be NULL.
 */
#ifndef STRATA_PROTO_EVENT_CODEC_H
#define STRATA_PROTO_EVENT_CODEC_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto_err.h"
#include "strata/events.h"

/* One field of a variant struct. */
struct ev_field {
	const char *name;               /* "page_id", as on both wires */
	enum strata_ev_field_type type;
	size_t offset;                  /* inside struct strata_ev_<Name>, i.e. from &ev->u */
	bool optional;                  /* a counter beyond the seed's fixtures: absent means 0 */
};

/*
 * The fields of variant v in declaration order (timestamp last), *count set
 * to their number (count may be NULL). NULL and *count = 0 if v is out of
 * range. The table is static and constant.
 */
const struct ev_field *ev_fields(enum strata_ev_variant v, size_t *count);

/* "PageHit"; NULL if v is out of range. */
const char *ev_variant_name(enum strata_ev_variant v);

/*
 * The variant named exactly `name` (case-sensitive, the seed's spelling),
 * or -1 if there is none, name is NULL, or family is not -1 and the
 * variant belongs to another family.
 */
int ev_variant_from_name(int family, const char *name);

/* "storage.buffer_pool"; NULL if f is out of range. */
const char *ev_family_topic(enum strata_ev_family f);
/* "buffer_pool_event"; NULL if f is out of range. */
const char *ev_family_message_type(enum strata_ev_family f);
/* "buffer-pool" (WebSocket path /api/v1/ws/storage/<path>); NULL if out of range. */
const char *ev_family_path(enum strata_ev_family f);

/* The family whose topic is exactly s[0..len); -1 if none or s is NULL. */
int ev_family_from_topic(const char *s, size_t len);
/*
 * The family whose path is s: "buffer-pool", with '_' accepted for '-' and
 * any case ("Buffer_Pool"); -1 if none or s is NULL.
 */
int ev_family_from_path(const char *s);
/* The family whose message_type is exactly s; -1 if none or s is NULL. */
int ev_family_from_message_type(const char *s);

/* Position of a live event in its topic's stream (DESIGN.md "Events"). */
struct ev_live {
	uint64_t epoch, seq;
};

/*
 * The WebSocket message of ev:
 *   {"message_type":"buffer_pool_event",
 *    "data":{"PageHit":{"page_id":1,"timestamp":2}},"timestamp":2}
 * plus "seq", "epoch" and "ts_us" (emission time, microseconds) when live is not NULL. The outer "timestamp" is
 * ev->ts_us in whole seconds (rounded down); the variant's own fields are
 * written as they are. ev->family is ignored: the variant implies it.
 *
 * JSON cannot hold everything a struct can, so:
 *  - a U64 above INT64_MAX (jansson's integer limit) is written as a real;
 *    ev_from_json reads such a real back (to within double precision);
 *  - a non-finite F64 is written as null, which ev_from_json reads as NaN;
 *  - a STR field is read up to its first NUL or STRATA_EV_STR_MAX bytes, and
 *    bytes that are not valid UTF-8 become U+FFFD.
 *
 * Returns a new reference; NULL on out of memory or if ev->variant is out of
 * range.
 */
json_t *ev_to_json(const struct strata_event *ev, const struct ev_live *live);

/* ev_to_json as compact text; malloc'd, the caller frees. NULL as ev_to_json. */
char *ev_to_json_text(const struct strata_event *ev, const struct ev_live *live);

/*
 * Parses one WebSocket message into *out (zeroed first; on error its
 * contents are unspecified). Every required field must be present with its
 * JSON type:
 *   U64 an integer >= 0 (or a real >= 2^63 that is a whole number, as
 *       ev_to_json writes huge values); U32 an integer in 0..2^32-1;
 *   I64 an integer; F64 an integer or a real (null reads as NaN);
 *   STR a string of fewer than STRATA_EV_STR_MAX bytes without NUL.
 * Unknown keys are ignored (forward compatible); "data" must hold exactly
 * one variant, of the family that "message_type" names. The outer
 * "timestamp" (an integer, seconds) gives out->ts_us = timestamp * 1000000.
 * "seq" and "epoch" are optional integers >= 0; they are stored in *live; an optional "ts_us" gives the time to the microsecond
 * (0 when absent) if live is not NULL.
 * Errors name the field: "PageHit.page_id: expected an unsigned integer,
 * got string", "data: unknown variant 'PageHitt' for buffer_pool_event",
 * "message_type: missing".
 * Returns 0 or STRATA_EBAD_REQUEST (also for msg == NULL); it allocates
 * nothing.
 */
int ev_from_json(const json_t *msg, struct strata_event *out,
		 struct ev_live *live, struct proto_err *err);

/*
 * Appends ev's bus message to out: the topic in ASCII, one 0x00 byte, then
 * the msgpack map {"epoch":u64,"seq":u64,"ts_us":i64,"variant":str,
 * "data":{<every field>}}. F64 fields are always float64.
 * Returns 0; STRATA_EBAD_REQUEST if ev->variant is out of range or a STR
 * field has no NUL within STRATA_EV_STR_MAX bytes; STRATA_ENOMEM. On error
 * out is left as it was.
 */
int ev_bus_encode(const struct strata_event *ev, uint64_t epoch, uint64_t seq,
		  msgpack_sbuffer *out);

/*
 * Decodes one bus message (the whole nng message body) into *out (zeroed
 * first; unspecified on error) and, if live is not NULL, its epoch and seq.
 * Total: an empty or truncated buffer, no NUL after the topic, an unknown
 * topic, a variant of another family than the topic's, a missing or
 * mistyped field, a length that overruns the buffer, nesting msgpack-c
 * cannot unpack, bytes after the map — each is STRATA_EBAD_REQUEST with a
 * message naming the field. Numbers are accepted in any msgpack width; an
 * F64 field also accepts an integer. STR fields must be shorter than
 * STRATA_EV_STR_MAX bytes and hold no NUL; their bytes are not otherwise
 * checked (ev_to_json repairs invalid UTF-8). Unknown keys are ignored.
 * Returns 0, STRATA_EBAD_REQUEST or STRATA_ENOMEM.
 */
int ev_bus_decode(const void *buf, size_t len, struct strata_event *out,
		  struct ev_live *live, struct proto_err *err);

/*
 * A batch: several events of one topic in one bus message — the topic, one
 * 0x00 byte, then a msgpack array of the maps ev_bus_encode writes, seqs
 * first_seq, first_seq + 1, ... (stratad's publisher sends what it drained
 * together this way: one nng message instead of one per event). All of evs
 * must be of one family. Returns 0; STRATA_EBAD_REQUEST (n == 0, families
 * differ, or an event ev_bus_encode would refuse) or STRATA_ENOMEM; on
 * error out is left as it was.
 */
int ev_bus_encode_batch(const struct strata_event *const *evs, size_t n, uint64_t epoch,
			uint64_t first_seq, msgpack_sbuffer *out);

/*
 * Decodes a bus message of either form (one map, or a non-empty array of
 * maps) and calls fn for each event in order. A bad event stops there with
 * the error of ev_bus_decode (array elements are named "[i].field"); the
 * events before it have been passed to fn. Returns 0 or as ev_bus_decode.
 */
typedef void (*ev_bus_each_fn)(void *arg, const struct strata_event *ev,
			       const struct ev_live *live);
int ev_bus_decode_each(const void *buf, size_t len, ev_bus_each_fn fn, void *arg,
		       struct proto_err *err);

#endif
