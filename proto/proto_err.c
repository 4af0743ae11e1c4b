#include "proto/proto_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void proto_err_set(struct proto_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

char *proto_err_quote(char *dst, size_t cap, const char *s, size_t len)
{
	size_t i, n = 0;
	int cut = len > cap - 1;
	size_t room = cut ? cap - 4 : len; /* keep space for "..." */

	for (i = 0; i < room; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[n++] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
	}
	if (cut) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}
