/*
 * frontend/dashboard.h — the live dashboard page.
 *
 *   GET /dashboard                  the page (HTML)
 *   GET /dashboard/dashboard.js     its script: one WebSocket to
 *                                   /api/v1/ws/storage, reconnect + resume
 *   GET /dashboard/dashboard.css    its style
 *
 * The files live in frontend/dashboard/ and are compiled in (the Makefile
 * runs frontend/embed.sh; frontend/embedded.h): strata-front reads no file at run
 * time and the page needs no network beyond the frontend. The routes are
 * public: the page holds no data; its stream and REST calls ask for the
 * token like any client. lws sends a CSP allowing same-origin scripts and
 * styles only, so the page has no inline code.
 */
#ifndef STRATA_FRONTEND_DASHBOARD_H
#define STRATA_FRONTEND_DASHBOARD_H

#include "frontend/embedded.h"

/* Generated (build/gen/dashboard_files.c); ends with a zeroed entry. */
extern const struct embedded_file dashboard_files[];

#endif
