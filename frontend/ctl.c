#include "frontend/ctl.h"

#include <libwebsockets.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frontend/bridge.h"
#include "ipc/ipc.h"
#include "proto/msg.h"
#include "strata/error.h"

struct ctl_call {
	uint64_t serial;
	ctl_done_fn cb;
	void *arg;
	bool probe;
	struct ctl_call *next;
};

/* What travels through nng's callback to the bridge. */
struct ctl_token {
	uint64_t serial;
	struct bridge *bridge;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nng thread. */
static void on_reply(void *arg, int err, const void *reply, size_t len)
{
	struct ctl_token *t = arg;
	/* Without memory the call stays listed until ctl_shutdown. */
	bridge_push_reply(t->bridge, t->serial, err, reply, len);
	free(t);
}

static int send_call(struct front *f, const char *op, json_t *args, int timeout_ms,
		     struct ctl_call *c)
{
	if (!f->ctl) {
		json_decref(args);
		return STRATA_EUNAVAILABLE;
	}
	struct proto_request preq = {.id = ++f->next_request_id, .client = f->client_id,
				     .args = args};
	snprintf(preq.op, sizeof(preq.op), "%s", op);
	snprintf(preq.tok, sizeof(preq.tok), "%s", f->cluster_tok);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	int rv = proto_request_encode(&preq, &sb);
	json_decref(args);
	if (rv != 0) {
		msgpack_sbuffer_destroy(&sb);
		return STRATA_EINTERNAL;
	}
	struct ctl_token *t = malloc(sizeof(*t));
	if (!t) {
		msgpack_sbuffer_destroy(&sb);
		return STRATA_ENOMEM;
	}
	c->serial = t->serial = ++f->next_serial;
	t->bridge = f->bridge;
	rv = ipc_client_call_async(f->ctl, sb.data, sb.size, timeout_ms, on_reply, t);
	msgpack_sbuffer_destroy(&sb);
	if (rv != 0) {
		free(t);
		return rv;
	}
	c->next = f->ctl_calls;
	f->ctl_calls = c;
	return 0;
}

int ctl_call(struct front *f, const char *op, json_t *args, int timeout_ms, ctl_done_fn cb,
	     void *arg)
{
	if (!args)
		return STRATA_ENOMEM;
	if (!f->ctl) { /* stopping */
		json_decref(args);
		return STRATA_EUNAVAILABLE;
	}
	if (!ctl_breaker_allows(f)) {
		json_decref(args);
		return STRATA_EUNAVAILABLE;
	}
	struct ctl_call *c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(args);
		return STRATA_ENOMEM;
	}
	c->cb = cb;
	c->arg = arg;
	int rv = send_call(f, op, args, timeout_ms, c);
	if (rv != 0)
		free(c);
	return rv;
}

static void breaker_close(struct front *f)
{
	f->brk.open = false;
	f->brk.failures = 0;
}

bool ctl_on_reply(struct front *f, struct bridge_item *it)
{
	struct ctl_call **pp = &f->ctl_calls;
	while (*pp && (*pp)->serial != it->serial)
		pp = &(*pp)->next;
	struct ctl_call *c = *pp;
	if (!c)
		return false;
	*pp = c->next;
	if (c->probe) {
		f->brk.probing = false;
		if (it->err == 0)
			breaker_close(f);
		free(c);
		return true;
	}
	ctl_breaker_record(f, it->err);
	if (it->err) {
		c->cb(f, c->arg, it->err, NULL, NULL);
		free(c);
		return true;
	}
	struct proto_reply rp = {0};
	struct proto_err perr = {{0}};
	if (proto_reply_decode(it->data, it->len, &rp, &perr) != 0)
		c->cb(f, c->arg, STRATA_EINTERNAL, NULL, perr.msg);
	else if (!rp.ok)
		c->cb(f, c->arg, rp.err ? rp.err : STRATA_EINTERNAL, NULL, rp.message);
	else
		c->cb(f, c->arg, 0, rp.result, NULL);
	proto_reply_clear(&rp);
	free(c);
	return true;
}

bool ctl_breaker_allows(struct front *f)
{
	if (!f->brk.open)
		return true;
	f->brk.fast_failures++;
	return false;
}

void ctl_breaker_record(struct front *f, int err)
{
	if (err != STRATA_ETIMEOUT && err != STRATA_EUNAVAILABLE) {
		if (!f->brk.open)
			f->brk.failures = 0;
		return;
	}
	if (f->brk.open)
		return;
	if (++f->brk.failures >= f->opt.breaker_failures) {
		f->brk.open = true;
		f->brk.opens++;
		f->brk.next_probe_ms = mono_ms() + f->opt.breaker_probe_ms;
		fprintf(stderr, "strata-front: %u control requests failed in a row: circuit open, "
				"requests fail fast until a probe answers\n",
			f->brk.failures);
	}
}

void ctl_tick(struct front *f)
{
	if (!f->brk.open || f->brk.probing || mono_ms() < f->brk.next_probe_ms)
		return;
	f->brk.next_probe_ms = mono_ms() + f->opt.breaker_probe_ms;
	struct ctl_call *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->probe = true;
	int timeout = (int)f->opt.breaker_probe_ms;
	if (send_call(f, "sys.ping", json_object(), timeout, c) != 0) {
		free(c);
		return;
	}
	f->brk.probing = true;
}

json_t *ctl_breaker_json(const struct front *f)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "state", f->brk.open ? "open" : "closed",
			 "opens", (json_int_t)f->brk.opens, "fast_failures",
			 (json_int_t)f->brk.fast_failures, "consecutive_failures",
			 (json_int_t)f->brk.failures, "failure_threshold",
			 (json_int_t)f->opt.breaker_failures);
}

void ctl_shutdown(struct front *f)
{
	/* Every callback runs once, so callers free what they passed; new calls
	 * fail at once now that f->ctl is gone. */
	while (f->ctl_calls) {
		struct ctl_call *c = f->ctl_calls;
		f->ctl_calls = c->next;
		if (!c->probe)
			c->cb(f, c->arg, STRATA_EUNAVAILABLE, NULL, "the frontend is stopping");
		free(c);
	}
}
