/*
 * strata/error.h — the one project-wide error enum.
 *
 * Functions that can fail return int: 0 on success or a negative STRATA_E*
 * value. errno is converted where the system call happens. Each code has a
 * stable wire name (the "code" of an error reply, see DESIGN.md) and maps to
 * an HTTP status.
 *
 * Dependency-free: usable from every layer.
 */
#ifndef STRATA_ERROR_H
#define STRATA_ERROR_H

/* X(enum suffix, value, wire name, HTTP status) */
#define STRATA_ERRORS(X)                        \
	X(BAD_REQUEST, -1, "bad_request", 400)  \
	X(UNAUTHORIZED, -2, "unauthorized", 401) \
	X(FORBIDDEN, -3, "forbidden", 403)      \
	X(NOT_FOUND, -4, "not_found", 404)      \
	X(CONFLICT, -5, "conflict", 409)        \
	X(TOO_LARGE, -6, "too_large", 413)      \
	X(RATE_LIMITED, -7, "rate_limited", 429) \
	X(BUSY, -8, "busy", 503)                \
	X(READ_ONLY, -9, "read_only", 503)      \
	X(UNAVAILABLE, -10, "unavailable", 503) \
	X(TIMEOUT, -11, "timeout", 504)         \
	X(IO, -12, "io_error", 500)             \
	X(CORRUPT, -13, "corrupt", 500)         \
	X(INTERNAL, -14, "internal", 500)       \
	X(NOMEM, -15, "internal", 500)          \
	X(NOSPC, -16, "io_error", 500)          \
	X(QUOTA_EXCEEDED, -17, "quota_exceeded", 507) \
	X(PATH_TOO_EXPENSIVE, -18, "path_too_expensive", 422)

enum strata_err {
	STRATA_OK = 0,
#define STRATA_ERR_ENUM_(name, val, wire, http) STRATA_E##name = (val),
	STRATA_ERRORS(STRATA_ERR_ENUM_)
#undef STRATA_ERR_ENUM_
};

#include <errno.h>
#include <string.h>

/* Human-readable description of an error code; never NULL. */
static inline const char *strata_strerror(int err)
{
	switch (err) {
	case STRATA_OK: return "success";
	case STRATA_EBAD_REQUEST: return "malformed or invalid input";
	case STRATA_EUNAUTHORIZED: return "missing or invalid token";
	case STRATA_EFORBIDDEN: return "role does not allow this operation";
	case STRATA_ENOT_FOUND: return "no such object";
	case STRATA_ECONFLICT: return "conflicts with an existing object";
	case STRATA_ETOO_LARGE: return "over its size limit";
	case STRATA_ERATE_LIMITED: return "over a rate limit";
	case STRATA_EBUSY: return "no free resource (all frames pinned or write stall)";
	case STRATA_EREAD_ONLY: return "object is read-only after an fsync failure";
	case STRATA_EUNAVAILABLE: return "stratad unreachable";
	case STRATA_ETIMEOUT: return "stratad did not answer in time";
	case STRATA_EIO: return "I/O error";
	case STRATA_ECORRUPT: return "checksum mismatch: data is corrupt";
	case STRATA_EINTERNAL: return "internal error";
	case STRATA_ENOMEM: return "out of memory";
	case STRATA_ENOSPC: return "no space left on device";
	case STRATA_EQUOTA_EXCEEDED: return "tablespace quota exceeded";
	case STRATA_EPATH_TOO_EXPENSIVE: return "JSONPath evaluation over its work budget";
	default: return "unknown error";
	}
}

/* Wire name ("not_found"); "internal" for unknown codes, "ok" for 0. */
static inline const char *strata_err_name(int err)
{
	switch (err) {
	case STRATA_OK: return "ok";
#define STRATA_ERR_NAME_(name, val, wire, http) case STRATA_E##name: return wire;
	STRATA_ERRORS(STRATA_ERR_NAME_)
#undef STRATA_ERR_NAME_
	default: return "internal";
	}
}

/* Parses a wire name back to a code; STRATA_EINTERNAL if unknown. */
static inline int strata_err_from_name(const char *name)
{
#define STRATA_ERR_PARSE_(n, val, wire, http) if (strcmp(name, wire) == 0) return (val);
	STRATA_ERRORS(STRATA_ERR_PARSE_)
#undef STRATA_ERR_PARSE_
	return STRATA_EINTERNAL;
}

/* HTTP status for a code (200 for STRATA_OK, 500 for unknown codes). */
static inline int strata_err_http_status(int err)
{
	switch (err) {
	case STRATA_OK: return 200;
#define STRATA_ERR_HTTP_(name, val, wire, http) case STRATA_E##name: return (http);
	STRATA_ERRORS(STRATA_ERR_HTTP_)
#undef STRATA_ERR_HTTP_
	default: return 500;
	}
}

/* Converts an errno value to a STRATA_E* code. */
static inline int strata_err_from_errno(int errnum)
{
	switch (errnum) {
	case 0: return STRATA_OK;
	case ENOMEM: return STRATA_ENOMEM;
	case ENOSPC: case EDQUOT: return STRATA_ENOSPC;
	case ENOENT: return STRATA_ENOT_FOUND;
	case EEXIST: return STRATA_ECONFLICT;
	case EINVAL: return STRATA_EBAD_REQUEST;
	case EAGAIN: case EBUSY: return STRATA_EBUSY;
	case ETIMEDOUT: return STRATA_ETIMEOUT;
	case EROFS: return STRATA_EREAD_ONLY;
	default: return STRATA_EIO;
	}
}

#endif
