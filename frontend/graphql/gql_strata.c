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
	snprintf(preq.tok, sizeof(preq.tok), "%s", c->cluster_tok ? c->cluster_tok : "");
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
	/* "gqlArg=op_arg gqlArg2=op_arg2": arguments whose op name is not the
	 * snake_case of theirs */
	const char *renames;
	/* " a b ": arguments whose explicit null is passed to the op (others'
	 * nulls are dropped, as absent) */
	const char *keep_null;
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

/* Whether word is one of the space-separated words of list. */
static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p && *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ' && *e != '=')
			e++;
		if ((size_t)(e - p) == n && n && memcmp(p, word, n) == 0)
			return true;
		while (*e && *e != ' ')
			e++;
		p = e;
	}
	return false;
}

/* The op's name of argument gql_name: a rename, `tree` -> `name`, or snake_case. */
static void op_arg_name(const struct op_spec *o, const char *gql_name, char *key, size_t n)
{
	size_t len = strlen(gql_name);
	for (const char *p = o->renames; p && *p;) {
		while (*p == ' ')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq)
			break;
		const char *end = eq + strcspn(eq, " ");
		if ((size_t)(eq - p) == len && memcmp(p, gql_name, len) == 0) {
			snprintf(key, n, "%.*s", (int)(end - eq - 1), eq + 1);
			return;
		}
		p = end;
	}
	if (strcmp(gql_name, "tree") == 0)
		snprintf(key, n, "name");
	else
		snake(gql_name, key, n);
}

/*
 * The op's form of an argument value of type t: input objects get
 * snake_case keys (recursively, by their fields' types); JSON and other
 * scalars pass unchanged. A new reference, NULL on ENOMEM.
 */
static json_t *to_op_value(const struct gql_type_ref *t, json_t *v)
{
	while (t && t->kind == GQL_T_NON_NULL)
		t = t->of;
	if (!t || json_is_null(v))
		return json_incref(v);
	if (t->kind == GQL_T_LIST) {
		if (!json_is_array(v))
			return json_incref(v);
		json_t *out = json_array();
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item) {
			json_t *c = out ? to_op_value(t->of, item) : NULL;
			if (!c || json_array_append_new(out, c) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	const struct gql_named_type *n = gql_named(t);
	if (!n || n->kind != GQL_INPUT_OBJECT || !json_is_object(v))
		return json_incref(v);
	json_t *out = json_object();
	const char *k;
	json_t *fv;
	json_object_foreach(v, k, fv) {
		const struct gql_type_ref *ft = NULL;
		for (size_t i = 0; i < n->ninput_fields; i++)
			if (strcmp(n->input_fields[i].name, k) == 0)
				ft = n->input_fields[i].type;
		char key[128];
		snake(k, key, sizeof(key));
		json_t *c = out ? to_op_value(ft, fv) : NULL;
		if (!c || json_object_set_new(out, key, c) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Sets the op's argument for GraphQL argument gql_name of type t. */
static int put_arg(const struct op_spec *o, json_t *args, const char *gql_name,
		   const struct gql_type_ref *t, json_t *v)
{
	char key[128];
	if (json_is_null(v) && !in_list(o->keep_null, gql_name))
		return 0;
	op_arg_name(o, gql_name, key, sizeof(key));
	json_t *c = to_op_value(t, v);
	return c && json_object_set_new(args, key, c) == 0 ? 0 : -1;
}

static int resolve_op(struct gql_exec *ex, const struct gql_field *f, json_t *source, json_t *args,
		      const void *data, json_t **out, char *msg, size_t msglen)
{
	(void)source;
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
	int bad = 0;
	json_object_foreach(args, k, v) {
		const struct gql_arg_def *ad = f ? gql_field_arg(f, k) : NULL;
		const struct gql_type_ref *t = ad ? ad->type : NULL;
		if ((strcmp(k, "options") == 0 || strcmp(k, "policy") == 0) && json_is_object(v)) {
			/* an options input object: its fields are the op's arguments */
			const struct gql_named_type *n = gql_named(t);
			const char *k2;
			json_t *v2;
			json_object_foreach(v, k2, v2) {
				const struct gql_type_ref *t2 = NULL;
				for (size_t i = 0; n && i < n->ninput_fields; i++)
					if (strcmp(n->input_fields[i].name, k2) == 0)
						t2 = n->input_fields[i].type;
				bad |= put_arg(o, a, k2, t2, v2);
			}
		} else {
			bad |= put_arg(o, a, k, t, v);
		}
	}
	if (bad) {
		json_decref(a);
		snprintf(msg, msglen, "out of memory");
		return -1;
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
	/* page maintenance and vectored I/O */
	OP("Query", "vectoredRead", "io.vectored_read", ROLE_READ, "pages"),
	OP("Mutation", "splitPage", "pages.split", ROLE_WRITE),
	OP("Mutation", "mergePages", "pages.merge", ROLE_WRITE),
	OP("Mutation", "compactPage", "pages.compact", ROLE_WRITE),
	OP("Mutation", "vectoredWrite", "io.vectored_write", ROLE_ADMIN),
	/* columnar tables (daemon/ops_columnar.c): the table is `name`, a column `col` */
	OP("Query", "columnarTables", "columnar.list", ROLE_READ, "tables"),
	OP("Query", "columnarTable", "columnar.info", ROLE_READ, NULL, true),
	OP("Query", "columnarColumn", "columnar.column", ROLE_READ, .renames = "table=name column=col"),
	OP("Query", "columnarProject", "columnar.project", ROLE_READ, .renames = "table=name"),
	OP("Query", "columnarColumnStats", "columnar.stats", ROLE_READ,
	   .renames = "table=name column=col"),
	OP("Query", "columnarAggregate", "columnar.aggregate", ROLE_READ,
	   .renames = "table=name column=col"),
	OP("Mutation", "columnarCreateTable", "columnar.create", ROLE_WRITE),
	OP("Mutation", "columnarDropTable", "columnar.drop", ROLE_WRITE),
	OP("Mutation", "columnarInsert", "columnar.insert", ROLE_WRITE, .renames = "table=name"),
	KEY("ColumnarInsertResult", "table", "name"),
	KEY("ColumnarColumnPage", "table", "name"),
	KEY("ColumnarProjectPage", "table", "name"),
	KEY("ColumnarColumnStats", "table", "name"),
	KEY("ColumnarAggregate", "table", "name"),
	KEY("ColumnarAggregate", "column", "col"),
	/* tiers (daemon/ops_tiers.c) */
	OP("Query", "tiers", "tiers.info", ROLE_READ),
	OP("Query", "tierStats", "tiers.stats", ROLE_READ),
	OP("Query", "tierPolicy", "tiers.policy", ROLE_READ),
	OP("Query", "tierPage", "tiers.page", ROLE_READ, NULL, true,
	   .renames = "id=page_id withData=data"),
	OP("Query", "tierRead", "tiers.read", ROLE_READ, "pages"),
	OP("Mutation", "tierStorePage", "tiers.store", ROLE_WRITE),
	OP("Mutation", "tierUpdatePage", "tiers.update", ROLE_WRITE),
	OP("Mutation", "tierDeletePage", "tiers.delete", ROLE_WRITE),
	OP("Mutation", "tiersMigrate", "tiers.migrate", ROLE_WRITE),
	OP("Mutation", "tiersMaintenance", "tiers.maintenance", ROLE_WRITE),
	OP("Mutation", "tiersPolicy", "tiers.policy_set", ROLE_ADMIN),
	KEY("TierCapacities", "hot", "Hot"),
	KEY("TierCapacities", "warm", "Warm"),
	KEY("TierCapacities", "cold", "Cold"),
	KEY("TierUsageByTier", "hot", "Hot"),
	KEY("TierUsageByTier", "warm", "Warm"),
	KEY("TierUsageByTier", "cold", "Cold"),
	KEY("TierMigrationCounts", "hotToWarm", "Hot->Warm"),
	KEY("TierMigrationCounts", "hotToCold", "Hot->Cold"),
	KEY("TierMigrationCounts", "warmToHot", "Warm->Hot"),
	KEY("TierMigrationCounts", "warmToCold", "Warm->Cold"),
	KEY("TierMigrationCounts", "coldToHot", "Cold->Hot"),
	KEY("TierMigrationCounts", "coldToWarm", "Cold->Warm"),
	/* JSON operators and document collections (daemon/ops_json.c) */
	OP("Query", "jsonExtract", "json.extract", ROLE_READ, "result"),
	OP("Query", "jsonSet", "json.set", ROLE_READ, .keep_null = "value"),
	OP("Query", "jsonDelete", "json.delete", ROLE_READ),
	OP("Query", "jsonMerge", "json.merge", ROLE_READ, "result", .keep_null = "patch"),
	OP("Query", "jsonContains", "json.contains", ROLE_READ, "result", .keep_null = "value"),
	OP("Query", "jsonKeys", "json.keys", ROLE_READ, "result"),
	OP("Query", "jsonArrayLength", "json.array_length", ROLE_READ, "result"),
	OP("Query", "jsonAgg", "json.agg", ROLE_READ, "result"),
	OP("Query", "jsonParse", "json.parse", ROLE_READ),
	OP("Query", "jsonCollections", "json.collection_list", ROLE_READ, "collections"),
	OP("Query", "jsonCollection", "json.collection_get", ROLE_READ, NULL, true,
	   .renames = "name=collection"),
	OP("Query", "jsonDocument", "json.doc_get", ROLE_READ, NULL, true),
	OP("Query", "jsonDocuments", "json.doc_list", ROLE_READ),
	OP("Query", "jsonIndexes", "json.index_list", ROLE_READ, "indexes"),
	OP("Query", "jsonQuery", "json.query", ROLE_READ, .keep_null = "value"),
	OP("Mutation", "jsonCreateCollection", "json.collection_create", ROLE_WRITE),
	OP("Mutation", "jsonDropCollection", "json.collection_drop", ROLE_WRITE,
	   .renames = "name=collection"),
	OP("Mutation", "jsonPutDocument", "json.doc_put", ROLE_WRITE),
	OP("Mutation", "jsonDeleteDocument", "json.doc_delete", ROLE_WRITE),
	OP("Mutation", "jsonCreateIndex", "json.index_create", ROLE_WRITE),
	OP("Mutation", "jsonDropIndex", "json.index_drop", ROLE_WRITE),
	/* partitioned tables (daemon/ops_partitions.c): the table is `name` but in partitions.* */
	OP("Query", "partitionedTables", "partitions.list_tables", ROLE_READ, "tables"),
	OP("Query", "partitionedTable", "partitions.get_table", ROLE_READ, NULL, true),
	OP("Query", "partitions", "partitions.list", ROLE_READ, "partitions"),
	OP("Query", "partitionFor", "partitions.partition_for", ROLE_READ, .renames = "table=name"),
	OP("Query", "partitionedQuery", "partitions.query", ROLE_READ, .renames = "table=name"),
	OP("Mutation", "partitionedCreateTable", "partitions.create_table", ROLE_WRITE),
	OP("Mutation", "partitionedDropTable", "partitions.drop_table", ROLE_WRITE),
	OP("Mutation", "partitionedInsert", "partitions.insert", ROLE_WRITE, .renames = "table=name"),
	OP("Mutation", "partitionAdd", "partitions.add", ROLE_WRITE),
	OP("Mutation", "partitionDrop", "partitions.drop", ROLE_WRITE),
	/* tablespaces (daemon/ops_tablespaces.c); changes need admin, as in REST */
	OP("Query", "tablespaces", "tablespaces.list", ROLE_READ, "tablespaces"),
	OP("Query", "tablespace", "tablespaces.get", ROLE_READ, NULL, true),
	OP("Mutation", "tablespaceCreate", "tablespaces.create", ROLE_ADMIN),
	OP("Mutation", "tablespaceUpdate", "tablespaces.update", ROLE_ADMIN, .keep_null = "quotaBytes"),
	OP("Mutation", "tablespaceDrop", "tablespaces.drop", ROLE_ADMIN),
};

const size_t gql_strata_nresolvers = sizeof(gql_strata_resolvers) / sizeof(gql_strata_resolvers[0]);
