/*
 * proto/base64.h — RFC 4648 base64 (standard alphabet, padded), the way
 * binary travels inside JSON (DESIGN.md: a field named `data`).
 */
#ifndef STRATA_PROTO_BASE64_H
#define STRATA_PROTO_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the NUL. */
size_t base64_encoded_len(size_t n);

/* Writes the encoding of src plus a NUL into dst (base64_encoded_len + 1
 * bytes). */
void base64_encode(const void *src, size_t n, char *dst);

/*
 * Decodes src (len chars; padding required when the length is not a
 * multiple of 4; no whitespace) into dst, which must hold len / 4 * 3
 * bytes. Returns 0 and *out_len, or STRATA_EBAD_REQUEST with *bad_at = the
 * offset of the first bad character (or len for a bad length).
 */
int base64_decode(const char *src, size_t len, void *dst, size_t *out_len, size_t *bad_at);

#endif
