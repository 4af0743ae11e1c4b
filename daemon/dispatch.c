#include "daemon/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "daemon/dedup.h"
#include "daemon/stratad.h"
#include "ipc/cluster.h"
#include "proto/msg.h"
#include "strata/error.h"

static const struct op_def *const op_tables[] = {
	ops_sys,
	ops_events,
	ops_storage,
	ops_lsm,
	ops_tablespaces,
	ops_tiers,
	ops_columnar,
	ops_json,
	ops_partitions,
};

const struct op_def *dispatch_find(const char *name)
{
	for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
		for (const struct op_def *op = op_tables[t]; op->name; op++)
			if (strcmp(op->name, name) == 0)
				return op;
	return NULL;
}

/* Moves an sbuffer's bytes to the caller (ownership of the malloc'd data). */
static void take_sbuffer(msgpack_sbuffer *sb, void **out, size_t *len)
{
	*out = sb->data;
	*len = sb->size;
	sb->data = NULL;
	sb->size = sb->alloc = 0;
}

static int error_reply(uint64_t id, int err, const char *message, void **reply, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	if (proto_reply_encode_error(id, err, message, &sb) != 0) {
		msgpack_sbuffer_destroy(&sb);
		return STRATA_ENOMEM;
	}
	take_sbuffer(&sb, reply, len);
	return 0;
}

/* Runs the op and encodes its reply (ok or error). */
static int run_op(struct stratad *d, const struct op_def *op, const struct proto_request *rq,
		  void **reply, size_t *len)
{
	char msg[256] = "";
	json_t *result = NULL;
	int rv = op->fn(d, rq->args, &result, msg, sizeof(msg));
	if (rv != 0) {
		json_decref(result);
		if (!msg[0])
			snprintf(msg, sizeof(msg), "%s", strata_strerror(rv));
		return error_reply(rq->id, rv, msg, reply, len);
	}
	struct proto_reply rp = {.id = rq->id, .ok = true, .result = result};
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	rv = proto_reply_encode(&rp, &sb);
	json_decref(result);
	if (rv != 0) {
		msgpack_sbuffer_destroy(&sb);
		return error_reply(rq->id, STRATA_EINTERNAL, "cannot encode the reply", reply, len);
	}
	if (sb.size > d->max_msg) {
		snprintf(msg, sizeof(msg),
			 "reply of %zu bytes is over the %zu-byte message limit: ask for fewer items",
			 sb.size, d->max_msg);
		msgpack_sbuffer_destroy(&sb);
		return error_reply(rq->id, STRATA_ETOO_LARGE, msg, reply, len);
	}
	take_sbuffer(&sb, reply, len);
	return 0;
}

int dispatch_handle(void *arg, const void *req, size_t len, void **reply, size_t *reply_len)
{
	struct stratad *d = arg;
	struct proto_request rq = {0};
	struct proto_err perr = {{0}};
	int rv = proto_request_decode(req, len, &rq, &perr);
	if (rv != 0) {
		/* The id is unknown if the request did not decode; 0 tells the
		 * client this reply answers no request of its own. */
		rv = error_reply(rq.id, STRATA_EBAD_REQUEST, perr.msg, reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	if (d->cluster_tok[0] && !ipc_token_equal(rq.tok, d->cluster_tok)) {
		rv = error_reply(rq.id, STRATA_EUNAUTHORIZED,
				 rq.tok[0] ? "tok: wrong cluster token" : "tok: this stratad needs a cluster token",
				 reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	if (atomic_load(&d->stopping)) {
		rv = error_reply(rq.id, STRATA_EUNAVAILABLE, "stratad is shutting down", reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	const struct op_def *op = dispatch_find(rq.op);
	if (!op || (op->debug && !d->opt.debug_ops)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "op: unknown op '%s'", rq.op);
		rv = error_reply(rq.id, STRATA_EBAD_REQUEST, msg, reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	if (!op->mutating) {
		rv = run_op(d, op, &rq, reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	rv = dedup_begin(d->dedup, rq.client, rq.id, reply, reply_len);
	if (rv == 1) { /* a retry: the first reply, the op does not run again */
		proto_request_clear(&rq);
		return 0;
	}
	if (rv < 0) {
		rv = error_reply(rq.id, rv, "cannot track the request", reply, reply_len);
		proto_request_clear(&rq);
		return rv;
	}
	rv = run_op(d, op, &rq, reply, reply_len);
	if (rv == 0)
		dedup_finish(d->dedup, rq.client, rq.id, *reply, *reply_len);
	else
		dedup_finish(d->dedup, rq.client, rq.id, "", 0);
	proto_request_clear(&rq);
	return rv;
}
