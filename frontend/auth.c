#include "frontend/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/error.h"

struct token {
	char *token;
	enum role role;
};

struct auth {
	struct token *tokens;
	size_t n;
};

void auth_free(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->tokens[i].token);
	free(a->tokens);
	free(a);
}

int auth_load(struct auth **out, const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
		return STRATA_EIO;
	}
	struct auth *a = calloc(1, sizeof(*a));
	if (!a) {
		fclose(fp);
		return STRATA_ENOMEM;
	}
	char line[1024];
	int lineno = 0, rv = 0;
	while (fgets(line, sizeof(line), fp)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char tok[512], role[32], extra[8];
		int n = sscanf(line, "%511s %31s %7s", tok, role, extra);
		if (n <= 0)
			continue;
		enum role r;
		if (n != 2) {
			snprintf(err, errlen, "%s:%d: expected 'TOKEN ROLE'", path, lineno);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		if (strcmp(role, "read") == 0)
			r = ROLE_READ;
		else if (strcmp(role, "write") == 0)
			r = ROLE_WRITE;
		else if (strcmp(role, "admin") == 0)
			r = ROLE_ADMIN;
		else {
			snprintf(err, errlen, "%s:%d: role must be read, write or admin", path, lineno);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		if (strlen(tok) < 16) {
			snprintf(err, errlen, "%s:%d: token shorter than 16 characters", path, lineno);
			rv = STRATA_EBAD_REQUEST;
			break;
		}
		struct token *nt = realloc(a->tokens, (a->n + 1) * sizeof(*nt));
		if (!nt || !(nt[a->n].token = strdup(tok))) {
			if (nt)
				a->tokens = nt;
			rv = STRATA_ENOMEM;
			break;
		}
		a->tokens = nt;
		a->tokens[a->n++].role = r;
	}
	fclose(fp);
	if (rv == 0 && a->n == 0) {
		snprintf(err, errlen, "token file %s has no tokens", path);
		rv = STRATA_EBAD_REQUEST;
	}
	if (rv != 0) {
		auth_free(a);
		return rv;
	}
	*out = a;
	return 0;
}

/* Compares without an early exit, so timing says nothing about the token. */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i < lb ? i : 0]);
	return diff == 0;
}

int auth_check(const struct auth *a, const char *header, enum role *role)
{
	if (!a) {
		*role = ROLE_ADMIN;
		return 0;
	}
	if (!header || strncmp(header, "Bearer ", 7) != 0)
		return STRATA_EUNAUTHORIZED;
	const char *tok = header + 7;
	for (size_t i = 0; i < a->n; i++) {
		if (token_equal(tok, a->tokens[i].token)) {
			*role = a->tokens[i].role;
			return 0;
		}
	}
	return STRATA_EUNAUTHORIZED;
}
