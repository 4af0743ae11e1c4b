/*
 * tests/unit/test_ticket.c — WebSocket tickets (frontend/ticket.h): mint
 * and verify, expiry, tampering with each field, another key, malformed
 * input, reuse within one frontend, a second frontend with the same token
 * file, the bounded used-nonce set, and the key read from a file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/ticket.h"
#include "strata/error.h"

#define SECRET "read-token-0123456789abcdef read\nadmin-token-0123456789abcdef admin\n"
#define NOW ((int64_t)1700000000)

static struct tickets *make(const char *secret)
{
	struct tickets *t = NULL;
	cr_assert_eq(tickets_create(&t, secret, strlen(secret)), 0);
	cr_assert_not_null(t);
	return t;
}

static void mint(struct tickets *t, enum role role, unsigned ttl, int64_t now, char *out)
{
	cr_assert_eq(tickets_mint(t, role, ttl, now, out, TICKET_LEN_MAX), 0);
}

Test(ticket, minted_ticket_verifies_with_its_role)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	static const enum role roles[] = {ROLE_READ, ROLE_WRITE, ROLE_ADMIN};
	for (size_t i = 0; i < 3; i++) {
		mint(t, roles[i], TICKET_TTL_MAX, NOW, tk);
		cr_assert(strspn(tk, "abcdefghijklmnopqrstuvwxyz0123456789.") == strlen(tk),
			  "URL-safe: %s", tk);
		cr_assert(strstr(tk, "token") == NULL);
		enum role r = ROLE_PUBLIC;
		cr_assert_eq(tickets_verify(t, tk, NOW + 1, &r), TICKET_OK, "%s", tk);
		cr_assert_eq(r, roles[i]);
	}
	struct ticket_stats st;
	tickets_stats(t, &st);
	cr_assert_eq(st.issued, 3);
	cr_assert_eq(st.accepted, 3);
	cr_assert_eq(st.in_use, 3);
	tickets_free(t);
}

Test(ticket, two_tickets_differ)
{
	struct tickets *t = make(SECRET);
	char a[TICKET_LEN_MAX], b[TICKET_LEN_MAX];
	mint(t, ROLE_READ, 30, NOW, a);
	mint(t, ROLE_READ, 30, NOW, b);
	cr_assert_str_neq(a, b, "the nonce is random");
	tickets_free(t);
}

Test(ticket, expired_ticket_is_refused)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	mint(t, ROLE_READ, 1, NOW, tk);
	enum role r = ROLE_PUBLIC;
	cr_assert_eq(tickets_verify(t, tk, NOW + 1, &r), TICKET_EXPIRED);
	cr_assert_eq(tickets_verify(t, tk, NOW + 3600, &r), TICKET_EXPIRED);
	cr_assert_eq(r, ROLE_PUBLIC, "a refused ticket leaves the role alone");
	mint(t, ROLE_READ, 30, NOW, tk);
	cr_assert_eq(tickets_verify(t, tk, NOW + 30, &r), TICKET_EXPIRED, "expiry is exclusive");
	struct ticket_stats st;
	tickets_stats(t, &st);
	cr_assert_eq(st.rejected[TICKET_EXPIRED], 3);
	cr_assert_str_eq(ticket_verdict_message(TICKET_EXPIRED), "ticket expired");
	tickets_free(t);
}

/* Replaces field i (0-based, dot-separated) of tk by v. */
static void set_field(char *tk, int i, const char *v)
{
	char out[TICKET_LEN_MAX * 2] = "";
	char copy[TICKET_LEN_MAX];
	snprintf(copy, sizeof(copy), "%s", tk);
	char *save = NULL, *f = strtok_r(copy, ".", &save);
	for (int k = 0; f; k++, f = strtok_r(NULL, ".", &save)) {
		if (k)
			strcat(out, ".");
		strcat(out, k == i ? v : f);
	}
	cr_assert_lt(strlen(out), TICKET_LEN_MAX);
	strcpy(tk, out);
}

Test(ticket, tampered_role_fails_the_signature)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	mint(t, ROLE_READ, 30, NOW, tk);
	cr_assert(strncmp(tk, "v1.read.", 8) == 0, "%s", tk);
	set_field(tk, 1, "admin");
	enum role r = ROLE_PUBLIC;
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_BAD_SIGNATURE, "%s", tk);
	cr_assert_eq(r, ROLE_PUBLIC);
	cr_assert_str_eq(ticket_verdict_message(TICKET_BAD_SIGNATURE), "ticket signature invalid");
	tickets_free(t);
}

Test(ticket, tampered_expiry_and_nonce_fail_the_signature)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX], field[32];
	enum role r;
	mint(t, ROLE_READ, 1, NOW, tk);
	snprintf(field, sizeof(field), "%lld", (long long)NOW + 30);
	set_field(tk, 2, field); /* a longer life */
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_BAD_SIGNATURE);
	mint(t, ROLE_READ, 30, NOW, tk);
	tk[strlen("v1.read.") + 10 + 1] ^= 1; /* first nonce digit: 0<->1, a<->`... */
	cr_assert_neq(tickets_verify(t, tk, NOW, &r), TICKET_OK);
	mint(t, ROLE_READ, 30, NOW, tk);
	set_field(tk, 3, "00000000000000000000000000000000");
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_BAD_SIGNATURE);
	tickets_free(t);
}

Test(ticket, tampered_signature_is_refused)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	enum role r;
	mint(t, ROLE_ADMIN, 30, NOW, tk);
	size_t n = strlen(tk);
	tk[n - 1] = tk[n - 1] == '0' ? '1' : '0'; /* last MAC digit */
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_BAD_SIGNATURE);
	mint(t, ROLE_ADMIN, 30, NOW, tk);
	set_field(tk, 4, "0000000000000000000000000000000000000000000000000000000000000000");
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_BAD_SIGNATURE);
	struct ticket_stats st;
	tickets_stats(t, &st);
	cr_assert_eq(st.rejected[TICKET_BAD_SIGNATURE], 2);
	cr_assert_eq(st.accepted, 0);
	tickets_free(t);
}

Test(ticket, another_key_refuses_and_the_same_key_accepts)
{
	struct tickets *a = make(SECRET), *b = make(SECRET),
		       *other = make(SECRET "extra-token-0123456789abcdef read\n");
	char tk[TICKET_LEN_MAX];
	enum role r = ROLE_PUBLIC;
	mint(a, ROLE_WRITE, 30, NOW, tk);
	cr_assert_eq(tickets_verify(other, tk, NOW, &r), TICKET_BAD_SIGNATURE,
		     "another token file: another key");
	cr_assert_eq(tickets_verify(b, tk, NOW, &r), TICKET_OK,
		     "a second frontend with the same token file");
	cr_assert_eq(r, ROLE_WRITE);
	cr_assert_eq(tickets_verify(a, tk, NOW, &r), TICKET_OK,
		     "frontends do not share used nonces: the lifetime bounds replay across them");
	tickets_free(a);
	tickets_free(b);
	tickets_free(other);
}

Test(ticket, malformed_tickets_are_refused)
{
	struct tickets *t = make(SECRET);
	char good[TICKET_LEN_MAX];
	mint(t, ROLE_READ, 30, NOW, good);
	char longer[TICKET_LEN_MAX * 2];
	snprintf(longer, sizeof(longer), "%s.x", good);
	char huge[4096];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	char upper[TICKET_LEN_MAX];
	snprintf(upper, sizeof(upper), "%s", good);
	for (char *c = upper + strlen(upper) - 64; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	char v2[TICKET_LEN_MAX];
	snprintf(v2, sizeof(v2), "%s", good);
	v2[1] = '2';
	const char *bad[] = {
		"", ".", "....", "v1", "v1.read", "v1.read.1.2.3", "v1.read.1700000030.zz.zz",
		"token=abc", huge, longer, upper, v2,
		"v1.read.1700000030.000000000000000000000000000000000.00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum role r = ROLE_PUBLIC;
		cr_assert_eq(tickets_verify(t, bad[i], NOW, &r), TICKET_MALFORMED, "%.80s", bad[i]);
		cr_assert_eq(r, ROLE_PUBLIC);
	}
	enum role r;
	cr_assert_eq(tickets_verify(t, NULL, NOW, &r), TICKET_MALFORMED);
	cr_assert_eq(tickets_verify(t, good, NOW, &r), TICKET_OK, "the untouched one still works");
	tickets_free(t);
}

Test(ticket, mint_refuses_bad_arguments)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	cr_assert_eq(tickets_mint(t, ROLE_PUBLIC, 30, NOW, tk, sizeof(tk)), STRATA_EBAD_REQUEST);
	cr_assert_eq(tickets_mint(t, ROLE_READ, 0, NOW, tk, sizeof(tk)), STRATA_EBAD_REQUEST);
	cr_assert_eq(tickets_mint(t, ROLE_READ, TICKET_TTL_MAX + 1, NOW, tk, sizeof(tk)),
		     STRATA_EBAD_REQUEST);
	cr_assert_eq(tickets_mint(t, ROLE_READ, 30, NOW, tk, 16), STRATA_EBAD_REQUEST);
	struct tickets *none = NULL;
	cr_assert_eq(tickets_create(&none, "", 0), STRATA_EBAD_REQUEST);
	cr_assert_null(none);
	tickets_free(t);
}

Test(ticket, a_ticket_opens_one_stream_per_frontend)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	enum role r;
	mint(t, ROLE_READ, 30, NOW, tk);
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_OK);
	cr_assert_eq(tickets_verify(t, tk, NOW + 1, &r), TICKET_REUSED);
	cr_assert_eq(tickets_verify(t, tk, NOW + 29, &r), TICKET_REUSED);
	cr_assert_eq(tickets_verify(t, tk, NOW + 30, &r), TICKET_EXPIRED, "then it expires");
	struct ticket_stats st;
	tickets_stats(t, &st);
	cr_assert_eq(st.rejected[TICKET_REUSED], 2);
	cr_assert_eq(st.in_use, 1);
	tickets_free(t);
}

Test(ticket, the_used_set_is_bounded_and_forgets_expired_nonces)
{
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	enum role r;
	for (int i = 0; i < TICKET_USED_MAX; i++) {
		mint(t, ROLE_READ, 10, NOW, tk);
		cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_OK, "%d", i);
	}
	mint(t, ROLE_READ, 30, NOW, tk);
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_FULL,
		     "full of live nonces: refused, none forgotten");
	cr_assert_eq(tickets_verify(t, tk, NOW + 10, &r), TICKET_OK,
		     "the first ones expired: their slots are free again");
	struct ticket_stats st;
	tickets_stats(t, &st);
	cr_assert_eq(st.in_use, 1);
	cr_assert_eq(tickets_verify(t, tk, NOW + 11, &r), TICKET_REUSED);
	tickets_free(t);
}

Test(ticket, far_future_expiry_is_refused)
{
	/* Only a frontend with our key can sign one: a clock far ahead. */
	struct tickets *t = make(SECRET);
	char tk[TICKET_LEN_MAX];
	enum role r;
	mint(t, ROLE_READ, 30, NOW + 3600, tk);
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_MALFORMED);
	mint(t, ROLE_READ, 30, NOW + TICKET_SKEW_S, tk);
	cr_assert_eq(tickets_verify(t, tk, NOW, &r), TICKET_OK, "a small skew is tolerated");
	tickets_free(t);
}

Test(ticket, key_from_the_token_file)
{
	char path[] = "/tmp/strata-ticket-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, SECRET, strlen(SECRET)), (ssize_t)strlen(SECRET));
	cr_assert_eq(close(fd), 0);
	struct tickets *f = NULL, *m = make(SECRET);
	char err[256] = "";
	cr_assert_eq(tickets_load(&f, path, err, sizeof(err)), 0, "%s", err);
	char tk[TICKET_LEN_MAX];
	enum role r;
	mint(m, ROLE_READ, 30, NOW, tk);
	cr_assert_eq(tickets_verify(f, tk, NOW, &r), TICKET_OK, "the file's bytes are the secret");
	tickets_free(f);
	tickets_free(m);
	cr_assert_eq(unlink(path), 0);
	f = NULL;
	cr_assert_eq(tickets_load(&f, path, err, sizeof(err)), STRATA_EIO);
	cr_assert(strstr(err, path) != NULL, "%s", err);
	cr_assert_null(f);
}
