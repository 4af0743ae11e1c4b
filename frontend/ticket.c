/*
 * frontend/ticket.c — short-lived, signed WebSocket tickets (ticket.h).
 *
 * Verification order: shape (five dot-separated fields of the right
 * lengths and alphabets), then the MAC in constant time, and only then
 * what the signed fields say (role, expiry, nonce reuse). Nothing in a
 * ticket whose MAC fails is believed.
 *
 * The used-nonce set is a flat array scanned linearly: WebSocket upgrades
 * are rare next to events, and TICKET_USED_MAX entries of 24 bytes scan in
 * microseconds. A slot is free when empty or when its ticket has expired
 * (an expired ticket is refused anyway, so forgetting it is safe). When
 * every slot holds a live ticket, a new one is refused (TICKET_FULL)
 * rather than forgetting a live nonce, which would reopen it to replay.
 */
#include "frontend/ticket.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "strata/error.h"

#define KEY_LEN 32
#define NONCE_LEN 16
#define MAC_LEN 32
#define KDF_LABEL "strata-ws-ticket-v1"
#define TOKEN_FILE_MAX (1u << 20)

struct used_nonce {
	unsigned char nonce[NONCE_LEN];
	int64_t exp; /* 0: empty */
};

struct tickets {
	unsigned char key[KEY_LEN];
	struct used_nonce used[TICKET_USED_MAX];
	struct ticket_stats st;
};

const char *ticket_verdict_name(enum ticket_verdict v)
{
	switch (v) {
	case TICKET_OK: return "ok";
	case TICKET_MALFORMED: return "malformed";
	case TICKET_BAD_SIGNATURE: return "bad_signature";
	case TICKET_EXPIRED: return "expired";
	case TICKET_REUSED: return "reused";
	case TICKET_FULL: return "full";
	case TICKET_VERDICT_COUNT: break;
	}
	return "?";
}

const char *ticket_verdict_message(enum ticket_verdict v)
{
	switch (v) {
	case TICKET_OK: return "ticket valid";
	case TICKET_MALFORMED: return "ticket malformed";
	case TICKET_BAD_SIGNATURE: return "ticket signature invalid";
	case TICKET_EXPIRED: return "ticket expired";
	case TICKET_REUSED: return "ticket already used";
	case TICKET_FULL: return "too many tickets in use on this frontend: retry shortly";
	case TICKET_VERDICT_COUNT: break;
	}
	return "ticket refused";
}

static int hmac_sha256(const unsigned char *key, size_t keylen, const void *data, size_t len,
		       unsigned char out[MAC_LEN])
{
	unsigned int outlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) || outlen != MAC_LEN)
		return STRATA_EINTERNAL;
	return 0;
}

int tickets_create(struct tickets **out, const void *secret, size_t len)
{
	if (!secret || len == 0)
		return STRATA_EBAD_REQUEST;
	struct tickets *t = calloc(1, sizeof(*t));
	if (!t)
		return STRATA_ENOMEM;
	/* HKDF-extract shaped: a fixed label as the key, the secret as data. */
	int rv = hmac_sha256((const unsigned char *)KDF_LABEL, strlen(KDF_LABEL), secret, len,
			     t->key);
	if (rv != 0) {
		tickets_free(t);
		return rv;
	}
	*out = t;
	return 0;
}

int tickets_load(struct tickets **out, const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		return STRATA_EIO;
	}
	char *buf = malloc(TOKEN_FILE_MAX);
	if (!buf) {
		fclose(fp);
		return STRATA_ENOMEM;
	}
	size_t n = fread(buf, 1, TOKEN_FILE_MAX, fp);
	bool failed = ferror(fp) != 0, too_big = n == TOKEN_FILE_MAX;
	if (fclose(fp) != 0)
		failed = true;
	int rv;
	if (failed) {
		snprintf(err, errlen, "token file %s: read error", path);
		rv = STRATA_EIO;
	} else if (too_big) {
		snprintf(err, errlen, "token file %s: over %u bytes", path, TOKEN_FILE_MAX);
		rv = STRATA_EBAD_REQUEST;
	} else if ((rv = tickets_create(out, buf, n)) != 0) {
		snprintf(err, errlen, "token file %s: cannot derive the ticket key (%s)", path,
			 strata_strerror(rv));
	}
	OPENSSL_cleanse(buf, n);
	free(buf);
	return rv;
}

void tickets_free(struct tickets *t)
{
	if (!t)
		return;
	OPENSSL_cleanse(t->key, sizeof(t->key));
	free(t);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2n lower-case hex digits -> n bytes. */
static bool unhex(const char *s, size_t slen, unsigned char *out, size_t n)
{
	if (slen != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static bool role_of_word(const char *s, size_t n, enum role *r)
{
	static const enum role roles[] = {ROLE_READ, ROLE_WRITE, ROLE_ADMIN};
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const char *name = role_name(roles[i]);
		if (strlen(name) == n && memcmp(name, s, n) == 0) {
			*r = roles[i];
			return true;
		}
	}
	return false;
}

int tickets_mint(struct tickets *t, enum role role, unsigned ttl_s, int64_t now, char *out,
		 size_t outlen)
{
	if (role < ROLE_READ || role > ROLE_ADMIN || ttl_s < 1 || ttl_s > TICKET_TTL_MAX ||
	    outlen < TICKET_LEN_MAX || now < 0)
		return STRATA_EBAD_REQUEST;
	unsigned char nonce[NONCE_LEN], mac[MAC_LEN];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return STRATA_EINTERNAL;
	char nonce_hex[2 * NONCE_LEN + 1], mac_hex[2 * MAC_LEN + 1];
	hex(nonce, sizeof(nonce), nonce_hex);
	int n = snprintf(out, outlen, "v1.%s.%" PRId64 ".%s", role_name(role), now + (int64_t)ttl_s,
			 nonce_hex);
	if (n < 0 || (size_t)n + 1 + 2 * MAC_LEN >= outlen)
		return STRATA_EBAD_REQUEST;
	int rv = hmac_sha256(t->key, sizeof(t->key), out, (size_t)n, mac);
	if (rv != 0)
		return rv;
	hex(mac, sizeof(mac), mac_hex);
	snprintf(out + n, outlen - (size_t)n, ".%s", mac_hex);
	t->st.issued++;
	return 0;
}

/* The slot of nonce if remembered and live; else -1, with *free_slot a
 * slot to remember it in (-1: none free). */
static int used_find(struct tickets *t, const unsigned char *nonce, int64_t now, int *free_slot)
{
	*free_slot = -1;
	int found = -1;
	for (int i = 0; i < TICKET_USED_MAX; i++) {
		struct used_nonce *u = &t->used[i];
		if (u->exp <= now) { /* empty, or expired: forget it */
			if (u->exp) {
				u->exp = 0;
				t->st.in_use--;
			}
			if (*free_slot < 0)
				*free_slot = i;
			continue;
		}
		if (found < 0 && memcmp(u->nonce, nonce, NONCE_LEN) == 0)
			found = i;
	}
	return found;
}

static enum ticket_verdict reject(struct tickets *t, enum ticket_verdict v)
{
	t->st.rejected[v]++;
	return v;
}

enum ticket_verdict tickets_verify(struct tickets *t, const char *ticket, int64_t now,
				   enum role *role)
{
	/* Shape: v1.ROLE.EXP.NONCE.MAC */
	if (!ticket)
		return reject(t, TICKET_MALFORMED);
	size_t len = strnlen(ticket, TICKET_LEN_MAX);
	if (len >= TICKET_LEN_MAX)
		return reject(t, TICKET_MALFORMED);
	const char *field[5];
	size_t flen[5], nf = 0;
	const char *p = ticket;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (nf == 5)
			return reject(t, TICKET_MALFORMED);
		field[nf] = p;
		flen[nf++] = l;
		if (!dot)
			break;
		p = dot + 1;
	}
	unsigned char nonce[NONCE_LEN], mac[MAC_LEN], want[MAC_LEN];
	if (nf != 5 || flen[0] != 2 || memcmp(field[0], "v1", 2) != 0 ||
	    !unhex(field[3], flen[3], nonce, sizeof(nonce)) ||
	    !unhex(field[4], flen[4], mac, sizeof(mac)))
		return reject(t, TICKET_MALFORMED);

	/* The MAC, before believing anything else. */
	size_t signed_len = (size_t)(field[4] - ticket) - 1;
	if (hmac_sha256(t->key, sizeof(t->key), ticket, signed_len, want) != 0 ||
	    CRYPTO_memcmp(want, mac, MAC_LEN) != 0)
		return reject(t, TICKET_BAD_SIGNATURE);

	/* Signed by a frontend with our token file: its fields are ours. */
	enum role r;
	if (!role_of_word(field[1], flen[1], &r) || flen[2] == 0 || flen[2] > 18)
		return reject(t, TICKET_MALFORMED);
	int64_t exp = 0;
	for (size_t i = 0; i < flen[2]; i++) {
		char c = field[2][i];
		if (c < '0' || c > '9')
			return reject(t, TICKET_MALFORMED);
		exp = exp * 10 + (c - '0');
	}
	if (now >= exp)
		return reject(t, TICKET_EXPIRED);
	if (exp > now + TICKET_TTL_MAX + TICKET_SKEW_S)
		return reject(t, TICKET_MALFORMED); /* a clock far behind, or not ours */
	int slot;
	if (used_find(t, nonce, now, &slot) >= 0)
		return reject(t, TICKET_REUSED);
	if (slot < 0)
		return reject(t, TICKET_FULL);
	memcpy(t->used[slot].nonce, nonce, NONCE_LEN);
	t->used[slot].exp = exp;
	t->st.in_use++;
	t->st.accepted++;
	*role = r;
	return TICKET_OK;
}

void tickets_stats(const struct tickets *t, struct ticket_stats *out)
{
	*out = t->st;
}
