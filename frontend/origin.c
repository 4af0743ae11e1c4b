/*
 * frontend/origin.c — the CORS and WebSocket Origin checks (see the header).
 */
#include "frontend/origin.h"

#include <ctype.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/front.h"
#include "strata/error.h"

#define PREFLIGHT_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE"
#define PREFLIGHT_HEADERS "Authorization, Content-Type"
#define PREFLIGHT_MAX_AGE "600"
#define EXPOSE_HEADERS "Retry-After, Allow"

/* An origin, normalised: "null", or scheme://host[:port] with scheme and
 * host in lower case and the scheme's default port left out. */
struct parsed_origin {
	char norm[ORIGIN_MAX + 1];
	size_t host, host_len; /* the host inside norm ("[::1]" with brackets) */
	bool is_null;
};

static bool default_port(const char *scheme, size_t len, unsigned long port)
{
	if (port == 80)
		return (len == 4 && memcmp(scheme, "http", 4) == 0) ||
		       (len == 2 && memcmp(scheme, "ws", 2) == 0);
	if (port == 443)
		return (len == 5 && memcmp(scheme, "https", 5) == 0) ||
		       (len == 3 && memcmp(scheme, "wss", 3) == 0);
	return false;
}

/* true when s is "null" or scheme://host[:port] (and, with slash_ok, one
 * trailing '/'), filling *o. */
static bool parse_origin(const char *s, bool slash_ok, struct parsed_origin *o)
{
	memset(o, 0, sizeof(*o));
	size_t n = strlen(s), i = 0, w = 0;
	if (n == 0 || n > ORIGIN_MAX)
		return false;
	if (strcmp(s, "null") == 0) {
		memcpy(o->norm, "null", 5);
		o->is_null = true;
		return true;
	}
	if (!isalpha((unsigned char)s[0]))
		return false;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		o->norm[w++] = (char)tolower((unsigned char)s[i++]);
	size_t scheme_len = w;
	if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
		return false;
	memcpy(o->norm + w, "://", 3);
	w += 3;
	i += 3;
	o->host = w;
	size_t start = i;
	if (s[i] == '[') { /* an IPv6 literal */
		o->norm[w++] = s[i++];
		while (i < n && (isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'))
			o->norm[w++] = (char)tolower((unsigned char)s[i++]);
		if (i == start + 1 || i == n || s[i] != ']')
			return false;
		o->norm[w++] = s[i++];
	} else {
		while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_'))
			o->norm[w++] = (char)tolower((unsigned char)s[i++]);
		if (i == start)
			return false;
	}
	o->host_len = w - o->host;
	if (i < n && s[i] == ':') {
		start = ++i;
		unsigned long port = 0;
		while (i < n && isdigit((unsigned char)s[i]) && i - start < 5)
			port = port * 10 + (unsigned long)(s[i++] - '0');
		if (i == start || port == 0 || port > 65535 || (i < n && isdigit((unsigned char)s[i])))
			return false;
		if (!default_port(o->norm, scheme_len, port)) {
			/* never longer than the digits it replaces */
			int k = snprintf(o->norm + w, sizeof(o->norm) - w, ":%lu", port);
			if (k < 0 || (size_t)k >= sizeof(o->norm) - w)
				return false;
			w += (size_t)k;
		}
	}
	if (slash_ok && i + 1 == n && s[i] == '/')
		i++;
	if (i != n)
		return false;
	o->norm[w] = '\0';
	return true;
}

static bool loopback_name(const char *h, size_t len)
{
	if ((len == 9 && memcmp(h, "localhost", 9) == 0) || (len == 3 && memcmp(h, "::1", 3) == 0) ||
	    (len == 5 && memcmp(h, "[::1]", 5) == 0))
		return true;
	if (len < 5 || memcmp(h, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < len; i++)
		if (!isdigit((unsigned char)h[i]) && h[i] != '.')
			return false;
	return true;
}

bool origin_host_is_loopback(const char *host)
{
	return loopback_name(host, strlen(host));
}

int origin_list_add(struct origin_list *l, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len && isspace((unsigned char)*p))
			p++, len--;
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		char entry[ORIGIN_MAX + 2];
		if (len == 0 || len > ORIGIN_MAX) {
			snprintf(err, errlen, "--allow-origin '%.300s': %s", arg,
				 len ? "an origin is at most 255 bytes" : "empty entry");
			return STRATA_EBAD_REQUEST;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		if (strcmp(entry, "*") == 0) {
			l->any = true;
		} else {
			struct parsed_origin o;
			if (!parse_origin(entry, true, &o)) {
				snprintf(err, errlen,
					 "--allow-origin '%s': expected scheme://host[:port] without a path "
					 "(e.g. https://app.example.com:8443), '*' or 'null'",
					 entry);
				return STRATA_EBAD_REQUEST;
			}
			bool dup = false;
			for (unsigned k = 0; k < l->n && !dup; k++)
				dup = strcmp(l->item[k], o.norm) == 0;
			if (!dup) {
				if (l->n == ORIGIN_LIST_MAX) {
					snprintf(err, errlen, "--allow-origin: more than %d origins",
						 ORIGIN_LIST_MAX);
					return STRATA_EBAD_REQUEST;
				}
				memcpy(l->item[l->n++], o.norm, strlen(o.norm) + 1);
			}
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Whether o's authority is the Host header's (compared as origins of o's
 * scheme, so default ports and case do not matter). */
static bool same_authority(const struct parsed_origin *o, const char *host)
{
	char buf[ORIGIN_MAX + 1];
	const char *sep = strstr(o->norm, "://");
	int k = snprintf(buf, sizeof(buf), "%.*s%s", (int)(sep - o->norm + 3), o->norm, host);
	struct parsed_origin h;
	return k > 0 && (size_t)k < sizeof(buf) && parse_origin(buf, false, &h) &&
	       strcmp(h.norm, o->norm) == 0;
}

enum origin_verdict origin_decide(const struct origin_list *l, bool loopback_listener,
				  const char *origin, const char *host)
{
	if (!origin)
		return ORIGIN_NONE;
	struct parsed_origin o;
	if (!parse_origin(origin, false, &o))
		return ORIGIN_REFUSED;
	bool loopback_origin = !o.is_null && loopback_name(o.norm + o.host, o.host_len);
	if (!o.is_null && host && same_authority(&o, host) && (!loopback_listener || loopback_origin))
		return ORIGIN_SAME;
	for (unsigned k = 0; k < l->n; k++)
		if (strcmp(l->item[k], o.norm) == 0)
			return ORIGIN_ALLOWED;
	if (l->any && !o.is_null)
		return ORIGIN_ALLOWED;
	if (l->n == 0 && !l->any && loopback_listener && loopback_origin)
		return ORIGIN_ALLOWED;
	return ORIGIN_REFUSED;
}

/* The request's Origin and Host; false when the Origin is over the limit. */
static bool read_headers(struct lws *wsi, char *origin, char *host, bool *has_origin,
			 bool *has_host)
{
	*has_origin = *has_host = false;
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n > 0) {
		if (n > ORIGIN_MAX || lws_hdr_copy(wsi, origin, ORIGIN_MAX + 1, WSI_TOKEN_ORIGIN) < 0)
			return false;
		*has_origin = true;
	}
	n = lws_hdr_total_length(wsi, WSI_TOKEN_HOST);
	if (n > 0 && n <= ORIGIN_MAX && lws_hdr_copy(wsi, host, ORIGIN_MAX + 1, WSI_TOKEN_HOST) >= 0)
		*has_host = true;
	return true;
}

static enum origin_verdict check(const struct front *f, struct lws *wsi, char *origin,
				 char *msg, size_t msglen)
{
	char host[ORIGIN_MAX + 1];
	bool has_origin, has_host;
	origin[0] = '\0';
	if (!read_headers(wsi, origin, host, &has_origin, &has_host)) {
		snprintf(msg, msglen, "the Origin header is over %d bytes", ORIGIN_MAX);
		return ORIGIN_REFUSED;
	}
	bool loopback = f->opt.listen_local;
	enum origin_verdict v = origin_decide(&f->opt.allow_origin, loopback,
					      has_origin ? origin : NULL, has_host ? host : NULL);
	const struct origin_list *l = &f->opt.allow_origin;
	if (v == ORIGIN_REFUSED)
		snprintf(msg, msglen,
			 "browser requests from origin '%.100s' are not allowed: this frontend accepts "
			 "%s",
			 origin,
			 loopback && !l->n && !l->any
				 ? "its own origin and loopback origins; allow others with strata-front "
				   "--allow-origin ORIGIN"
				 : "its own origin and those given with strata-front --allow-origin");
	return v;
}

enum origin_http origin_http_check(const struct front *f, struct lws *wsi,
				   struct origin_grant *g, char *msg, size_t msglen)
{
	g->origin[0] = '\0';
	char origin[ORIGIN_MAX + 1];
	enum origin_verdict v = check(f, wsi, origin, msg, msglen);
	if (v == ORIGIN_REFUSED)
		return ORIGIN_HTTP_REFUSED;
	if (v == ORIGIN_NONE)
		return ORIGIN_HTTP_PASS;
	memcpy(g->origin, origin, strlen(origin) + 1);
	/* A preflight: OPTIONS naming the method it asks for. Custom header
	 * names are matched as lws stores them: in lower case. */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0 &&
	    lws_hdr_custom_length(wsi, "access-control-request-method:", 30) > 0)
		return ORIGIN_HTTP_PREFLIGHT;
	return ORIGIN_HTTP_PASS;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value, (int)strlen(value), p, end)
		       ? -1
		       : 0;
}

int origin_add_headers(const struct origin_grant *g, struct lws *wsi, unsigned char **p,
		       unsigned char *end)
{
	if (!g->origin[0])
		return 0;
	if (add_header(wsi, "access-control-allow-origin:", g->origin, p, end) ||
	    add_header(wsi, "vary:", "Origin", p, end) ||
	    add_header(wsi, "access-control-expose-headers:", EXPOSE_HEADERS, p, end))
		return -1;
	return 0;
}

int origin_answer_preflight(struct lws *wsi, const struct origin_grant *g)
{
	unsigned char buf[LWS_PRE + 2048];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	if (lws_add_http_header_status(wsi, HTTP_STATUS_NO_CONTENT, &p, end) ||
	    origin_add_headers(g, wsi, &p, end) ||
	    add_header(wsi, "access-control-allow-methods:", PREFLIGHT_METHODS, &p, end) ||
	    add_header(wsi, "access-control-allow-headers:", PREFLIGHT_HEADERS, &p, end) ||
	    add_header(wsi, "access-control-max-age:", PREFLIGHT_MAX_AGE, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int origin_filter_ws(const struct front *f, struct lws *wsi)
{
	char origin[ORIGIN_MAX + 1], msg[400];
	if (check(f, wsi, origin, msg, sizeof(msg)) != ORIGIN_REFUSED)
		return 0;
	/* lws has no HTTP answer for a refused upgrade: write it raw, as lws
	 * writes its own 101, then let lws drop the connection. */
	json_t *b = json_pack("{s:{s:s, s:s}}", "error", "code", "forbidden", "message", msg);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	unsigned char buf[LWS_PRE + 1024];
	int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
			 "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
			 "content-length: %zu\r\nconnection: close\r\n\r\n%s\n",
			 body ? strlen(body) + 1 : 1, body ? body : "");
	free(body);
	if (n > 0 && (size_t)n < sizeof(buf) - LWS_PRE &&
	    lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
		lwsl_notice("origin: could not write the 403 of a refused WebSocket handshake\n");
	return 1;
}
