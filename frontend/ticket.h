/*
 * frontend/ticket.h — short-lived, signed WebSocket tickets.
 *
 * A browser cannot set an Authorization header on a WebSocket, and a
 * bearer token in the URL ends up in proxy logs and browser history. So a
 * client that holds a token asks for a ticket over REST
 * (POST /api/v1/ws/ticket with "Authorization: Bearer TOKEN") and opens the
 * stream with ?ticket=... instead. A ticket is
 *
 *     v1.ROLE.EXP.NONCE.MAC
 *
 * ROLE   read | write | admin: the role of the token it was minted with
 * EXP    expiry, unix seconds (wall clock: tickets cross frontends)
 * NONCE  16 random bytes, 32 lower-case hex digits
 * MAC    HMAC-SHA256 over "v1.ROLE.EXP.NONCE", 64 lower-case hex digits
 *
 * Every character is URL-safe, so a ticket needs no escaping. The MAC key
 * is HMAC-SHA256(key "strata-ws-ticket-v1", the token file's bytes): every
 * frontend started with the same token file accepts tickets minted by any
 * of them (frontends are stateless, behind a load balancer), and editing
 * the token file (revoking a token) voids every ticket at once.
 *
 * Replay: a frontend remembers the nonces it has accepted until their
 * expiry (a bounded set, TICKET_USED_MAX), so a ticket opens one stream per
 * frontend. Other frontends do not know that set: across frontends a
 * stolen ticket can be replayed until it expires, which is what the short
 * lifetime (TICKET_TTL_MAX seconds) bounds.
 *
 * Crypto (HMAC, SHA-256, random bytes, constant-time comparison) is
 * OpenSSL's libcrypto. Not thread-safe: the frontend calls it from the lws
 * service thread only.
 */
#ifndef STRATA_FRONTEND_TICKET_H
#define STRATA_FRONTEND_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include "frontend/routes.h"

#define TICKET_TTL_MAX 30      /* seconds; also the default */
#define TICKET_SKEW_S 5        /* a ticket may expire this much beyond now + TTL_MAX
				* (clocks of frontends that share a token file) */
#define TICKET_LEN_MAX 160     /* a ticket's length, with its NUL, is below this */
#define TICKET_USED_MAX 8192   /* accepted nonces remembered until they expire */

/* Why a ticket was refused (or TICKET_OK). */
enum ticket_verdict {
	TICKET_OK,
	TICKET_MALFORMED,      /* not v1.ROLE.EXP.NONCE.MAC, or its expiry is too far ahead */
	TICKET_BAD_SIGNATURE,  /* the MAC does not match (tampered, or another token file) */
	TICKET_EXPIRED,        /* now >= EXP */
	TICKET_REUSED,         /* this frontend accepted it already */
	TICKET_FULL,           /* TICKET_USED_MAX live tickets in use: try again shortly */
	TICKET_VERDICT_COUNT,
};

/* Short words for figures ("expired"), and messages for clients
 * ("ticket expired"). */
const char *ticket_verdict_name(enum ticket_verdict v);
const char *ticket_verdict_message(enum ticket_verdict v);

struct tickets;

/* Figures since creation. */
struct ticket_stats {
	uint64_t issued;
	uint64_t accepted;
	uint64_t rejected[TICKET_VERDICT_COUNT]; /* [TICKET_OK] stays 0 */
	unsigned in_use;                         /* nonces remembered now */
};

/*
 * Derives the key from secret (len bytes, the token file's contents).
 * 0, STRATA_EBAD_REQUEST (len == 0), STRATA_ENOMEM, or STRATA_EINTERNAL
 * (libcrypto failed).
 */
int tickets_create(struct tickets **out, const void *secret, size_t len);

/* Reads path and calls tickets_create. 0, or an error with err naming the
 * file (STRATA_EIO when it cannot be read). */
int tickets_load(struct tickets **out, const char *path, char *err, size_t errlen);

void tickets_free(struct tickets *t);

/*
 * Mints a ticket for role (READ..ADMIN) valid for ttl_s seconds
 * (1..TICKET_TTL_MAX) from now (unix seconds) into out (outlen >=
 * TICKET_LEN_MAX). 0; STRATA_EBAD_REQUEST for a bad role, ttl or buffer;
 * STRATA_EINTERNAL when libcrypto fails (no random bytes).
 */
int tickets_mint(struct tickets *t, enum role role, unsigned ttl_s, int64_t now, char *out,
		 size_t outlen);

/*
 * Checks ticket at time now (unix seconds). TICKET_OK sets *role and
 * remembers the nonce until its expiry; anything else leaves *role alone.
 * The MAC is compared in constant time and before anything else of the
 * ticket is believed.
 */
enum ticket_verdict tickets_verify(struct tickets *t, const char *ticket, int64_t now,
				   enum role *role);

void tickets_stats(const struct tickets *t, struct ticket_stats *out);

#endif
