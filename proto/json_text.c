#include "proto/json_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest of %.15g/%.16g/%.17g that reads back as d, kept a real. */
static int shortest(double d, char *out, size_t n)
{
	int len = 0;
	for (int p = 15; p <= 17; p++) {
		len = snprintf(out, n, "%.*g", p, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (!strpbrk(out, ".eEni") && (size_t)len + 2 < n) {
		memcpy(out + len, ".0", 3);
		len += 2;
	}
	return len;
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

char *proto_json_shorten_reals(const char *text)
{
	size_t n = strlen(text);
	/* a rewritten number is at most 24 bytes; the original at least 1 */
	char *out = malloc(n + 1 + 32);
	if (!out)
		return NULL;
	size_t cap = n + 1 + 32, o = 0;
	const char *s = text;
	while (*s) {
		if (*s == '"') {
			const char *e = s + 1;
			while (*e && *e != '"')
				e += (*e == '\\' && e[1]) ? 2 : 1;
			if (*e)
				e++;
			memcpy(out + o, s, (size_t)(e - s));
			o += (size_t)(e - s);
			s = e;
			continue;
		}
		if (*s == '-' || (*s >= '0' && *s <= '9')) {
			const char *e = s;
			bool real = false;
			while (is_num_char(*e)) {
				real |= *e == '.' || *e == 'e' || *e == 'E';
				e++;
			}
			size_t tl = (size_t)(e - s);
			char num[40];
			int nl = 0;
			if (real && tl < 64) {
				char tmp[64];
				memcpy(tmp, s, tl);
				tmp[tl] = '\0';
				nl = shortest(strtod(tmp, NULL), num, sizeof num);
			}
			if (nl <= 0 || (size_t)nl > tl + 32) { /* keep as is */
				memcpy(out + o, s, tl);
				o += tl;
			} else {
				if (o + (size_t)nl + (n - (size_t)(e - text)) + 1 > cap) {
					cap = o + (size_t)nl + (n - (size_t)(e - text)) + 1 + 32;
					char *grown = realloc(out, cap);
					if (!grown) {
						free(out);
						return NULL;
					}
					out = grown;
				}
				memcpy(out + o, num, (size_t)nl);
				o += (size_t)nl;
			}
			s = e;
			continue;
		}
		out[o++] = *s++;
	}
	out[o] = '\0';
	return out;
}

char *proto_json_dumps(const json_t *v, size_t flags)
{
	char *t = json_dumps(v, flags);
	if (!t)
		return NULL;
	char *r = proto_json_shorten_reals(t);
	free(t);
	return r;
}
