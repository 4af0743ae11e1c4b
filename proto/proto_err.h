/*
 * proto/proto_err.h — the error message every proto decoder fills in.
 *
 * Decoders return a STRATA_E* code; the message says which field was wrong
 * and why, in words a client can act on ("PageHit.page_id: expected an
 * unsigned integer, got string"). Frontends put it in the "message" of a
 * bad_request answer as is, so it never contains raw bytes from the input:
 * quoted input is cut short and non-printable bytes are replaced.
 */
#ifndef STRATA_PROTO_ERR_H
#define STRATA_PROTO_ERR_H

#include <stddef.h>

struct proto_err {
	char msg[256]; /* NUL-terminated; "" when no error was recorded */
};

/*
 * Formats a message into err->msg (truncated to fit). err may be NULL, in
 * which case nothing happens: every decoder accepts a NULL err.
 */
void proto_err_set(struct proto_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Writes s[0..len) into dst (capacity cap >= 4) as printable ASCII for use
 * inside a message: bytes outside 0x20..0x7e become '?', and input longer
 * than fits is cut with "...". Always NUL-terminates. Returns dst.
 */
char *proto_err_quote(char *dst, size_t cap, const char *s, size_t len);

#endif
