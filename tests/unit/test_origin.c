/*
 * tests/unit/test_origin.c — the Origin rule (frontend/origin.h) without
 * sockets: list parsing and normalisation, loopback defaults, same-origin,
 * DNS-rebinding-shaped requests, "*" and "null".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "frontend/origin.h"
#include "strata/error.h"

static struct origin_list list_of(const char *arg)
{
	struct origin_list l;
	memset(&l, 0, sizeof(l));
	char err[512] = "";
	cr_assert_eq(origin_list_add(&l, arg, err, sizeof(err)), 0, "%s: %s", arg, err);
	return l;
}

Test(origin, list_entries_are_normalised)
{
	struct origin_list l = list_of(" HTTPS://App.Example.com:443/ , http://x.example:80,"
				       "http://x.example:8080,https://app.example.com");
	cr_assert_eq(l.n, 3);
	cr_assert_str_eq(l.item[0], "https://app.example.com");
	cr_assert_str_eq(l.item[1], "http://x.example");
	cr_assert_str_eq(l.item[2], "http://x.example:8080");
	cr_assert(!l.any);
	l = list_of("*,null,http://[::1]:3000");
	cr_assert(l.any);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.item[0], "null");
	cr_assert_str_eq(l.item[1], "http://[::1]:3000");
}

Test(origin, bad_list_entries_are_errors)
{
	static const char *const bad[] = {
		"", ",", "https://a.example,", "app.example.com", "https://", "https://a.example/x",
		"https://a.example:0", "https://a.example:65536", "https://a.example:123456",
		"https://a b.example", "https://[::1", "1http://a.example", "https://a.example?q",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct origin_list l;
		memset(&l, 0, sizeof(l));
		char err[512] = "";
		cr_assert_eq(origin_list_add(&l, bad[i], err, sizeof(err)), STRATA_EBAD_REQUEST,
			     "'%s' accepted", bad[i]);
		cr_assert(strstr(err, "--allow-origin"), "%s", err);
	}
	char long_origin[400] = "https://";
	memset(long_origin + 8, 'a', 300);
	struct origin_list l;
	memset(&l, 0, sizeof(l));
	char err[512];
	cr_assert_eq(origin_list_add(&l, long_origin, err, sizeof(err)), STRATA_EBAD_REQUEST);
}

Test(origin, too_many_entries)
{
	struct origin_list l;
	memset(&l, 0, sizeof(l));
	char err[512], o[64];
	for (int i = 0; i < ORIGIN_LIST_MAX; i++) {
		snprintf(o, sizeof(o), "https://h%d.example", i);
		cr_assert_eq(origin_list_add(&l, o, err, sizeof(err)), 0);
	}
	cr_assert_eq(origin_list_add(&l, "https://h0.example", err, sizeof(err)), 0, "a duplicate");
	cr_assert_eq(origin_list_add(&l, "https://one-more.example", err, sizeof(err)),
		     STRATA_EBAD_REQUEST);
}

Test(origin, no_origin_is_not_a_browser_request)
{
	struct origin_list none = {0};
	cr_assert_eq(origin_decide(&none, true, NULL, "127.0.0.1:8080"), ORIGIN_NONE);
	cr_assert_eq(origin_decide(&none, false, NULL, NULL), ORIGIN_NONE);
}

Test(origin, loopback_listener_without_list)
{
	struct origin_list none = {0};
	static const char *const ok[] = {
		"http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8000", "http://localhost",
		"https://localhost:8443", "http://127.1.2.3:9", "HTTP://LOCALHOST:3000",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(origin_decide(&none, true, ok[i], "127.0.0.1:8080"), ORIGIN_ALLOWED, "%s",
			     ok[i]);
	static const char *const refused[] = {
		"https://app.example.com", "null", "http://localhost.evil.example",
		"http://127.0.0.1.evil.example", "http://evil.example/127.0.0.1", "garbage", "",
		"http://[::2]:80",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert_eq(origin_decide(&none, true, refused[i], "127.0.0.1:8080"), ORIGIN_REFUSED,
			     "%s", refused[i]);
}

Test(origin, beyond_loopback_loopback_origins_are_not_special)
{
	struct origin_list none = {0};
	cr_assert_eq(origin_decide(&none, false, "http://localhost:3000", "db.example.com:8080"),
		     ORIGIN_REFUSED);
}

Test(origin, same_origin)
{
	struct origin_list none = {0};
	/* a page served by this frontend beyond loopback (e.g. /dashboard) */
	cr_assert_eq(origin_decide(&none, false, "http://db.example.com:8080", "DB.example.com:8080"),
		     ORIGIN_SAME);
	cr_assert_eq(origin_decide(&none, false, "https://db.example.com", "db.example.com:443"),
		     ORIGIN_SAME);
	cr_assert_eq(origin_decide(&none, false, "http://db.example.com:8080", "db.example.com:8081"),
		     ORIGIN_REFUSED);
	cr_assert_eq(origin_decide(&none, false, "http://db.example.com:8080", NULL), ORIGIN_REFUSED);
	cr_assert_eq(origin_decide(&none, false, "null", "null"), ORIGIN_REFUSED);
	/* a DNS-rebinding page on a loopback frontend: Origin and Host agree,
	 * but the name is not loopback */
	cr_assert_eq(origin_decide(&none, true, "http://evil.example:8080", "evil.example:8080"),
		     ORIGIN_REFUSED);
	/* a loopback frontend's own page, even when a list is given */
	struct origin_list l = list_of("https://app.example.com");
	cr_assert_eq(origin_decide(&l, true, "http://localhost:8080", "localhost:8080"), ORIGIN_SAME);
	cr_assert_eq(origin_decide(&l, true, "http://localhost:3000", "localhost:8080"),
		     ORIGIN_REFUSED);
}

Test(origin, allow_list)
{
	struct origin_list l = list_of("https://app.example.com,null");
	cr_assert_eq(origin_decide(&l, false, "https://app.example.com", "db:8080"), ORIGIN_ALLOWED);
	cr_assert_eq(origin_decide(&l, false, "https://APP.example.com:443", "db:8080"),
		     ORIGIN_ALLOWED);
	cr_assert_eq(origin_decide(&l, false, "http://app.example.com", "db:8080"), ORIGIN_REFUSED);
	cr_assert_eq(origin_decide(&l, false, "https://app.example.com:8443", "db:8080"),
		     ORIGIN_REFUSED);
	cr_assert_eq(origin_decide(&l, false, "null", "db:8080"), ORIGIN_ALLOWED);
	struct origin_list star = list_of("*");
	cr_assert_eq(origin_decide(&star, false, "https://any.example", "db:8080"), ORIGIN_ALLOWED);
	cr_assert_eq(origin_decide(&star, false, "null", "db:8080"), ORIGIN_REFUSED);
	cr_assert_eq(origin_decide(&star, false, "not an origin", "db:8080"), ORIGIN_REFUSED);
}

Test(origin, loopback_hosts)
{
	cr_assert(origin_host_is_loopback("127.0.0.1"));
	cr_assert(origin_host_is_loopback("127.0.0.53"));
	cr_assert(origin_host_is_loopback("localhost"));
	cr_assert(origin_host_is_loopback("::1"));
	cr_assert(!origin_host_is_loopback("0.0.0.0"));
	cr_assert(!origin_host_is_loopback("::"));
	cr_assert(!origin_host_is_loopback("127.evil.example"));
	cr_assert(!origin_host_is_loopback("10.0.0.1"));
}
