/*
 * frontend/auth.h — bearer tokens mapped to roles.
 *
 * A token file has one "TOKEN ROLE" pair per line (role: read, write or
 * admin; '#' starts a comment). Without a token file every caller is admin,
 * which the frontend allows only when it listens on loopback.
 */
#ifndef STRATA_FRONTEND_AUTH_H
#define STRATA_FRONTEND_AUTH_H

#include <stddef.h>

#include "frontend/routes.h"

struct auth;

/* 0, or STRATA_EBAD_REQUEST / STRATA_EIO with err naming the line. */
int auth_load(struct auth **out, const char *path, char *err, size_t errlen);
void auth_free(struct auth *a);

/*
 * Role of an "Authorization" header value ("Bearer TOKEN"). Returns 0 and
 * sets *role, STRATA_EUNAUTHORIZED when missing or unknown. a == NULL: admin.
 */
int auth_check(const struct auth *a, const char *header, enum role *role);

#endif
