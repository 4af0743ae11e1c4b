/*
 * frontend/graphql/gql_strata.c — the resolver table (see the header).
 */
#include "frontend/graphql/gql_strata.h"

#include <ctype.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "proto/msg.h"
#include "strata/error.h"

int gql_call_op(struct gql_call_ctx *c, const char *op, json_t *args, json_t **result, int *code,
		char *msg, size_t msglen)
{
	*result = NULL;
	*code = 0;
	if (!c || !c->ctl) {
		*code = STRATA_EUNAVAILABLE;
		snprintf(msg, msglen, "unavailable: no control connection");
		return -1;
	}
	struct proto_request preq = {.id = atomic_fetch_add(c->next_id, 1), .client = c->client_id,
				     .args = args};
	snprintf(preq.op, sizeof(preq.op), "%s", op);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	int rv = proto_request_encode(&preq, &sb);
	if (rv != 0) {
		msgpack_sbuffer_destroy(&sb);
		*code = rv;
		snprintf(msg, msglen, "internal: cannot encode the %s request", op);
		return -1;
	}
	void *reply = NULL;
	size_t rlen = 0;
	rv = ipc_client_call(c->ctl, sb.data, sb.size, c->timeout_ms, 0, &reply, &rlen);
	msgpack_sbuffer_destroy(&sb);
	if (rv != 0) {
		*code = rv;
		snprintf(msg, msglen, "%s: %s", strata_err_name(rv),
			 rv == STRATA_ETIMEOUT       ? "stratad did not answer in time"
			 : rv == STRATA_EUNAVAILABLE ? "stratad is unreachable"
						     : strata_strerror(rv));
		return -1;
	}
	struct proto_reply rp = {0};
	struct proto_err perr = {{0}};
	rv = proto_reply_decode(reply, rlen, &rp, &perr);
	free(reply);
	if (rv != 0) {
		*code = STRATA_EINTERNAL;
		snprintf(msg, msglen, "internal: bad reply from stratad: %s", perr.msg);
		return -1;
	}
	if (!rp.ok) {
		*code = rp.err;
		snprintf(msg, msglen, "%s: %s", strata_err_name(rp.err), rp.message);
		proto_reply_clear(&rp);
		return -1;
	}
	*result = rp.result ? json_incref(rp.result) : json_object();
	proto_reply_clear(&rp);
	return 0;
}

/* One field backed by one control op. */
struct op_spec {
	const char *op;
	enum role role;
	const char *unwrap;     /* the result's key holding the value; NULL: all */
	bool null_if_not_found; /* not_found is a null value, not an error */
};

static void snake(const char *in, char *out, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; in[i] && o + 2 < n; i++) {
		if (isupper((unsigned char)in[i])) {
			if (i > 0)
				out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)in[i]);
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

static void put_arg(json_t *args, const char *gql_name, json_t *v)
{
	char key[128];
	if (json_is_null(v))
		return;
	if (strcmp(gql_name, "tree") == 0)
		snprintf(key, sizeof(key), "name");
	else
		snake(gql_name, key, sizeof(key));
	json_object_set(args, key, v);
}

static int resolve_op(struct gql_exec *ex, const struct gql_field *f, json_t *source, json_t *args,
		      const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)source;
	(void)f;
	const struct op_spec *o = data;
	struct gql_call_ctx *c = gql_exec_ctx(ex);
	if (!c) {
		snprintf(msg, msglen, "unavailable: no control connection");
		return -1;
	}
	if (c->role < o->role) {
		snprintf(msg, msglen, "forbidden: this field needs the %s role; the token has %s",
			 role_name(o->role), role_name(c->role));
		return -1;
	}
	json_t *a = json_object();
	if (!a) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(args, k, v) {
		if (strcmp(k, "options") == 0 && json_is_object(v)) {
			const char *k2;
			json_t *v2;
			json_object_foreach(v, k2, v2)
				put_arg(a, k2, v2);
		} else {
			put_arg(a, k, v);
		}
	}
	json_t *result = NULL;
	int code = 0;
	int rv = gql_call_op(c, o->op, a, &result, &code, msg, msglen);
	json_decref(a);
	if (rv != 0) {
		if (o->null_if_not_found && code == STRATA_ENOT_FOUND) {
			*out = json_null();
			return 0;
		}
		return -1;
	}
	if (o->unwrap) {
		*out = json_incref(json_object_get(result, o->unwrap));
		json_decref(result);
	} else {
		*out = result;
	}
	return 0;
}

/* A field whose value is another key of its parent object. */
static int resolve_key(struct gql_exec *ex, const struct gql_field *f, json_t *source, json_t *args,
		       const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)ex, (void)f, (void)args, (void)msg, (void)msglen;
	*out = json_incref(json_object_get(source, (const char *)data));
	return 0;
}

#define OP(type, field, ...) {type, field, resolve_op, &(const struct op_spec){__VA_ARGS__}}
#define KEY(type, field, key) {type, field, resolve_key, key}

const struct gql_resolver gql_strata_resolvers[] = {
	/* system, buffer pool, I/O, disks */
	OP("Query", "status", "sys.status", ROLE_READ),
	OP("Query", "bufferPool", "buffer.stats", ROLE_READ),
	OP("Query", "ioStats", "io.stats", ROLE_READ),
	OP("Query", "disks", "disks.list", ROLE_READ, "disks"),
	OP("Mutation", "flushBufferPool", "buffer.flush", ROLE_WRITE),
	OP("Mutation", "resetIoStats", "io.reset", ROLE_ADMIN, "reset"),
	KEY("Status", "uptimeSeconds", "uptime_s"),
	KEY("IoStats", "readLatency", "read_latency_us"),
	KEY("IoStats", "writeLatency", "write_latency_us"),
	/* pages and records */
	OP("Query", "page", "pages.get", ROLE_READ),
	OP("Query", "record", "records.get", ROLE_READ),
	OP("Mutation", "allocatePage", "pages.alloc", ROLE_WRITE),
	OP("Mutation", "insertRecord", "records.insert", ROLE_WRITE),
	OP("Mutation", "updateRecord", "records.update", ROLE_WRITE),
	OP("Mutation", "deleteRecord", "records.delete", ROLE_WRITE),
	/* LSM trees */
	OP("Query", "lsmTrees", "lsm.list", ROLE_READ, "trees"),
	OP("Query", "lsmTree", "lsm.stats", ROLE_READ),
	OP("Query", "lsmGet", "lsm.get", ROLE_READ, NULL, true),
	OP("Query", "lsmScan", "lsm.scan", ROLE_READ),
	OP("Mutation", "lsmCreateTree", "lsm.create", ROLE_WRITE),
	OP("Mutation", "lsmDropTree", "lsm.drop", ROLE_WRITE),
	OP("Mutation", "lsmPut", "lsm.put", ROLE_WRITE),
	OP("Mutation", "lsmDelete", "lsm.delete", ROLE_WRITE),
	OP("Mutation", "lsmBatch", "lsm.batch", ROLE_WRITE),
	OP("Mutation", "lsmCompact", "lsm.compact", ROLE_WRITE),
	OP("Mutation", "lsmFlush", "lsm.flush", ROLE_WRITE),
};

const size_t gql_strata_nresolvers = sizeof(gql_strata_resolvers) / sizeof(gql_strata_resolvers[0]);
