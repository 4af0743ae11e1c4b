/*
 * daemon/dispatch.h — from a control request to its reply.
 *
 * dispatch_handle is stratad's ipc_handler_fn: it decodes the msgpack
 * request (proto), finds the op, deduplicates mutating ops on
 * (client, id), runs the op on the calling worker thread, and encodes the
 * reply. Every failure becomes an error reply: unknown op and malformed
 * requests are bad_request, a reply over the message limit is too_large.
 *
 * Ops live in tables (struct op_def), one per family, in daemon/ops_*.c.
 */
#ifndef STRATA_DAEMON_DISPATCH_H
#define STRATA_DAEMON_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct stratad;

/*
 * An op. args is a JSON object (never NULL). On success sets *result (a new
 * reference; NULL means JSON null) and returns 0; on failure returns a
 * STRATA_E* code and writes a message for the client into msg.
 */
typedef int (*op_fn)(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen);

struct op_def {
	const char *name;   /* "family.verb" */
	op_fn fn;
	bool mutating;      /* deduplicated on (client, id) */
	bool debug;         /* only with --enable-debug-ops */
};

/* Tables, each ending with a zeroed entry. */
extern const struct op_def ops_sys[];
extern const struct op_def ops_events[];
extern const struct op_def ops_storage[];
extern const struct op_def ops_lsm[];
extern const struct op_def ops_tablespaces[];  /* daemon/ops_tablespaces.c */
extern const struct op_def ops_tiers[];        /* daemon/ops_tiers.c */
extern const struct op_def ops_columnar[];     /* daemon/ops_columnar.c */
extern const struct op_def ops_json[];         /* daemon/ops_json.c */
extern const struct op_def ops_partitions[];   /* daemon/ops_partitions.c */

/* JSON figures shared by several ops (daemon/ops_pages.c). */
json_t *buffer_stats_json(struct stratad *d);
json_t *io_stats_json(struct stratad *d);

/* ipc_handler_fn; arg is the struct stratad. */
int dispatch_handle(void *arg, const void *req, size_t len, void **reply, size_t *reply_len);

/* Finds an op by name, NULL if none. */
const struct op_def *dispatch_find(const char *name);

#endif
