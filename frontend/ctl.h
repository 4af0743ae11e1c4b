/*
 * frontend/ctl.h — the frontend's own control calls to stratad, and the
 * circuit breaker every control request passes.
 *
 * Own calls: event replay for bus gap repair and client resume, health
 * probes. ctl_call sends an op asynchronously; its callback runs later on
 * the service thread with the decoded result (or an error), exactly once,
 * unless the frontend stops first.
 *
 * Circuit breaker (the seed's checklist): `breaker_failures` consecutive
 * control failures (timeouts, unreachable) open it; while open every
 * control request (REST, GraphQL, own calls) fails at once with
 * `unavailable` (503) instead of waiting out its timeout, and a probe
 * (sys.ping) runs every `breaker_probe_ms`; the first probe that succeeds
 * closes it. A transport-level disconnect seen by the nng client also
 * fails fast (nng reports it at once), so the breaker is for a stratad that
 * is there but does not answer (stopped, overloaded, wedged).
 *
 * Service thread only.
 */
#ifndef STRATA_FRONTEND_CTL_H
#define STRATA_FRONTEND_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "frontend/front.h"

struct bridge_item;

/* err: 0 with result (borrowed; may be NULL for a null result), or a
 * STRATA_E* code with message (borrowed; may be NULL). */
typedef void (*ctl_done_fn)(struct front *f, void *arg, int err, const json_t *result,
			    const char *message);

/* Sends op with args (reference stolen). 0, or a STRATA_E* code (the
 * callback is then not called). */
int ctl_call(struct front *f, const char *op, json_t *args, int timeout_ms, ctl_done_fn cb,
	     void *arg);

/* Bridge: true if the reply was for one of our calls (and was handled). */
bool ctl_on_reply(struct front *f, struct bridge_item *it);

/* Whether a control request may be sent now (false: breaker open). A
 * refusal is counted. */
bool ctl_breaker_allows(struct front *f);
/* The outcome of a control request (0 or its STRATA_E* transport error). */
void ctl_breaker_record(struct front *f, int err);
/* Periodic (service thread timer): sends the probe while open. */
void ctl_tick(struct front *f);
/* {"state":"closed|open","opens":N,"fast_failures":N,"consecutive_failures":N} */
json_t *ctl_breaker_json(const struct front *f);
/* At stop, after the control client is closed and f->ctl is NULL: runs each
 * waiting call's callback with STRATA_EUNAVAILABLE and frees it. */
void ctl_shutdown(struct front *f);

#endif
