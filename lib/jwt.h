/* jwt.h — access tokens: compact JWS with HMAC (HS256 by default) via cjose.
 *
 * Verification refuses before it trusts: the token's length and shape, the
 * signature segment's length and the header's `alg` (which must equal the
 * configured one exactly; `none` and every other value are refused) are
 * checked before cjose_jws_verify, and the claims are read only after the
 * signature verified. Claims: iss, sub (account id), sid (session id), iat,
 * nbf, exp, jti, and for an org-scoped token org (org id) and role; times
 * are checked with a 30 s leeway. A token without sid is refused.
 */
#ifndef ORGD_JWT_H
#define ORGD_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The HMAC algorithms JWT_ALGORITHM may name; a token's alg must equal it. */
enum jwt_alg { JWT_HS256, JWT_HS384, JWT_HS512 };

#define JWT_MAX_LEN 4096
#define JWT_LEEWAY_SECONDS 30
#define JWT_TIME_MAX 253402300799 /* 9999-12-31T23:59:59Z: the largest iat, nbf, exp accepted */
#define JWT_ID_BUF 25             /* 24 hex digits of an ObjectId */
#define JWT_JTI_BUF 33            /* 32 hex digits */
#define JWT_ROLE_BUF 16

struct jwt_claims {
    char sub[JWT_ID_BUF];
    char sid[JWT_ID_BUF]; /* the session */
    char org[JWT_ID_BUF]; /* "" for an account-scoped token (and role "") */
    char role[JWT_ROLE_BUF];
    char jti[JWT_JTI_BUF];
    int64_t iat, nbf, exp;
};

typedef struct jwt jwt_t;

/* "HS256", "HS384" or "HS512". */
const char *jwt_alg_name(enum jwt_alg alg);

/* Builds the signer/verifier for `alg`; the secret is copied. The key is created once here and only
 * read afterwards, and the table of tokens verified lately has its own lock, so one jwt_t serves
 * every thread. NULL with e set on failure. */
jwt_t *jwt_new(enum jwt_alg alg, const void *secret, size_t secret_len, const char *issuer,
               long ttl_seconds, struct error *e);
void jwt_destroy(jwt_t *j);

/* Issues a token for sub/sid (and org/role unless org is "") at `now` (seconds). Fills the
 * remaining claims in *claims (iat, nbf, exp, jti). *out is malloc'd; caller frees. */
bool jwt_issue(const jwt_t *j, struct jwt_claims *claims, int64_t now, char **out, struct error *e);

/* Verifies `token` (len bytes) at `now`. On failure: ERR_UNAUTHORIZED with a
 * short reason in e->message ("token has expired", ...), or ERR_MALFORMED
 * for a token no verifier should parse: longer than JWT_MAX_LEN, or whose
 * header or payload JSON nests deeper than JSONIN_MAX_DEPTH (refused before
 * any parser recurses into it). A token verified lately (remembered by
 * the SHA-256 of its text, in a table of 1024) is not parsed and MACed
 * again; its times are checked again at every use. */
bool jwt_verify(jwt_t *j, const char *token, size_t len, int64_t now, struct jwt_claims *out,
                struct error *e);

#endif
