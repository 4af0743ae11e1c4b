/*
 * proto/msg.h — control-protocol envelopes (DESIGN.md "Control protocol"):
 * requests and replies as msgpack maps, with JSON-shaped args and results.
 *
 *   request: {"v":1,"id":u64,"client":u64,"op":"lsm.put","args":{...}}
 *            (+ "tok":str when the caller has a cluster token)
 *   reply:   {"v":1,"id":u64,"ok":true,"result":<any>}
 *            {"v":1,"id":u64,"ok":false,"error":{"code":"not_found","message":"..."}}
 *
 * Decoders are total: any byte string gives 0 or STRATA_EBAD_REQUEST with a
 * message naming the field ("id: missing", "op: invalid character ...",
 * "args.items[3]: binary values are not allowed"), never a crash or an
 * allocation out of proportion to the input. Unknown keys are ignored, so a
 * newer peer may add fields. err may be NULL everywhere.
 *
 * Thread safety: reentrant; no shared state.
 */
#ifndef STRATA_PROTO_MSG_H
#define STRATA_PROTO_MSG_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto_err.h"

#define PROTO_VERSION 1

/*
 * Deepest nesting of arrays/objects in args and results, counting the
 * outermost one: [[1]] has depth 2. msgpack-c 4.0 cannot unpack more than
 * 32 nested containers and the envelope map is one of them, so 31 is the
 * most that can cross the wire; proto_pack_json refuses more at the sender.
 */
#define PROTO_JSON_MAX_DEPTH 31

struct proto_request {
	uint64_t id;     /* chosen by the client; echoed in the reply */
	uint64_t client; /* random per client process; (client, id) spots retries */
	char op[64];     /* "family.verb": 1..63 chars of [a-z0-9_.] */
	json_t *args;    /* an object; owned by the struct; never NULL after decode */
	char tok[128];   /* cluster token, "" if none */
};

struct proto_reply {
	uint64_t id;
	bool ok;
	json_t *result;    /* when ok: owned by the struct, may be json null */
	int err;           /* when !ok: a STRATA_E* code */
	char message[256]; /* when !ok: for humans; valid UTF-8 */
};

/*
 * Appends r as a request map to out. r->args may be NULL (sent as {}).
 * Returns 0; STRATA_EBAD_REQUEST if op is not a valid op name, tok or op is
 * not NUL-terminated, args is not an object or nests deeper than
 * PROTO_JSON_MAX_DEPTH; STRATA_ENOMEM. On error out is left as it was.
 */
int proto_request_encode(const struct proto_request *r, msgpack_sbuffer *out);

/*
 * Decodes one request (the whole buffer) into *out, which is overwritten:
 * call proto_request_clear first if it holds args. On success the caller
 * owns out->args (an object; {} is sent as {}), released by
 * proto_request_clear. On error nothing is owned and out->args is NULL.
 * "v" must be 1 ("v: unsupported version"); "id", "client", "op" and
 * "args" (a map) are required; "tok" is optional (at most 127 bytes).
 * Returns 0, STRATA_EBAD_REQUEST or STRATA_ENOMEM.
 */
int proto_request_decode(const void *buf, size_t len, struct proto_request *out,
			 struct proto_err *err);

/* Drops r->args and sets it to NULL; safe to call twice. */
void proto_request_clear(struct proto_request *r);

/*
 * Appends r as a reply map to out. When r->ok, r->result is sent (NULL is
 * sent as null). Otherwise the error code is strata_err_name(r->err) —
 * "internal" for 0 or unknown codes, since a failed reply needs a failure
 * code — and r->message up to its first NUL, with invalid UTF-8 replaced
 * by U+FFFD.
 * Returns 0; STRATA_EBAD_REQUEST if result nests deeper than
 * PROTO_JSON_MAX_DEPTH; STRATA_ENOMEM. On error out is left as it was.
 */
int proto_reply_encode(const struct proto_reply *r, msgpack_sbuffer *out);

/*
 * Decodes one reply into *out (overwritten, as for requests). When ok, the
 * caller owns out->result (json null for a nil result). When !ok, out->err
 * is strata_err_from_name(code) — so an unknown code, and the codes that
 * share a wire name ("internal" for STRATA_ENOMEM, "io_error" for
 * STRATA_ENOSPC), come back as STRATA_EINTERNAL / STRATA_EIO — and
 * out->message holds the message cut to 255 bytes at a character boundary.
 * Returns 0, STRATA_EBAD_REQUEST or STRATA_ENOMEM.
 */
int proto_reply_decode(const void *buf, size_t len, struct proto_reply *out,
		       struct proto_err *err);

/* Drops r->result and sets it to NULL; safe to call twice. */
void proto_reply_clear(struct proto_reply *r);

/*
 * Appends an error reply for request `id` in one call. message may be NULL
 * (strata_strerror(err) is sent) and is cut to 255 bytes.
 * Returns 0 or STRATA_ENOMEM; out is left as it was on error.
 */
int proto_reply_encode_error(uint64_t id, int err, const char *message,
			     msgpack_sbuffer *out);

/*
 * Packs a JSON value as msgpack: objects as maps (string keys), arrays,
 * strings, integers (signed 64-bit), reals (float64), booleans, null.
 * Returns 0; STRATA_EBAD_REQUEST if v is NULL, nests deeper than
 * PROTO_JSON_MAX_DEPTH or holds a string or key with a NUL byte (which
 * proto_unpack_json refuses); STRATA_ENOMEM if the packer's write fails.
 * On error, what was written so far stays in the packer's buffer.
 */
int proto_pack_json(msgpack_packer *pk, const json_t *v);

/*
 * Converts an unpacked msgpack value to JSON. Returns a new reference, or
 * NULL with a message in err for: nesting deeper than PROTO_JSON_MAX_DEPTH,
 * a map key that is not a string, a repeated map key, bin or ext values,
 * strings or keys that are not valid UTF-8 or contain a NUL byte (every
 * reader takes them as C strings; binary data travels as base64), integers
 * above INT64_MAX (JSON integers here are signed 64-bit), NaN or infinite
 * floats — or out of memory ("out of memory"). Errors give the path of the
 * bad value from "value": "value.items[3]: binary values are not allowed".
 */
json_t *proto_unpack_json(const msgpack_object *o, struct proto_err *err);

#endif
