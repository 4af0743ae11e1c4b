/*
 * frontend/server.h — starting, running and stopping one frontend.
 */
#ifndef STRATA_FRONTEND_SERVER_H
#define STRATA_FRONTEND_SERVER_H

#include <stddef.h>

#include "frontend/auth.h"
#include "frontend/front.h"

/* Opens the control client and the event subscriber (both redial stratad
 * by themselves) and the listening socket. 0 or STRATA_E* with err set. */
int front_start(struct front *f, char *err, size_t errlen);
/* Serves until f->interrupted is set (then lws_cancel_service wakes it). */
void front_run(struct front *f);
/* Closes everything front_start opened; safe after a failed start. */
void front_stop(struct front *f);

#endif
