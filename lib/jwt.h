/* jwt.h — access tokens: compact JWS signed with ES256 (ECDSA P-256, keys
 * from JWT_KEYS_FILE) or HMAC (HS256 by default, JWT_SECRET), via cjose.
 *
 * Keys. Every token carries the `kid` of the key that signed it; the
 * first key signs, every key verifies. ES256: the keys of JWT_KEYS_FILE
 * (keyfile.h), published at /.well-known/jwks.json; JWT_SECRET, when also
 * set, verifies (HS256) the tokens it signed before the move to ES256.
 * HMAC: JWT_SECRET signs, JWT_PREVIOUS_SECRETS verify; each secret's kid is
 * derived from its SHA-256 (so a kid tells nothing of the secret that a
 * token's MAC does not). A token without a kid (issued before kids) is
 * checked against JWT_SECRET alone. The key set is reloaded from the file
 * on demand (jwt_reload); a file that fails to load leaves the keys in use.
 *
 * Verification refuses before it trusts: the token's length and shape, the
 * header (`alg` must be exactly the algorithm of the key its `kid` names:
 * an ES256 header with an HMAC key, or the reverse, is refused, as are
 * `none`, `crit` and a kid that is not 1–64 of [A-Za-z0-9._-]), and the
 * signature segment's length are checked before cjose_jws_verify, and the
 * claims are read only after the signature verified. Claims: iss, sub
 * (account id), sid (session id), iat, nbf, exp, jti, and for an
 * org-scoped token org (org id) and role; times are checked with a 30 s
 * leeway. A token without sid is refused.
 */
#ifndef ORGD_JWT_H
#define ORGD_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

/* The algorithms JWT_ALGORITHM may name (in this order: config.c's choices). */
enum jwt_alg { JWT_HS256, JWT_HS384, JWT_HS512, JWT_ES256 };

#define JWT_MAX_LEN 4096
#define JWT_LEEWAY_SECONDS 30
#define JWT_TIME_MAX 253402300799 /* 9999-12-31T23:59:59Z: the largest iat, nbf, exp accepted */
#define JWT_ID_BUF 25             /* 24 hex digits of an ObjectId */
#define JWT_JTI_BUF 33            /* 32 hex digits */
#define JWT_ROLE_BUF 16
#define JWT_KID_BUF 65 /* 1–64 of [A-Za-z0-9._-] */

struct jwt_claims {
    char sub[JWT_ID_BUF];
    char sid[JWT_ID_BUF]; /* the session */
    char org[JWT_ID_BUF]; /* "" for an account-scoped token (and role "") */
    char role[JWT_ROLE_BUF];
    char jti[JWT_JTI_BUF];
    int64_t iat, nbf, exp;
};

typedef struct jwt jwt_t;

/* "HS256", "HS384", "HS512" or "ES256". */
const char *jwt_alg_name(enum jwt_alg alg);

struct jwt_settings {
    enum jwt_alg alg;
    const char *secret; /* HMAC: signs (required); ES256: verifies its old tokens ("": none) */
    size_t secret_len;
    const char *previous_secrets; /* comma-separated, verify only ("": none) */
    const char *keys_file;        /* ES256: the JWK Set file (required) */
    const char *issuer;
    long ttl_seconds;
};

/* Builds the signer/verifier: the key set, loaded now (an ES256 key file
 * that fails to load is an error: ERR_INVALID, one line naming the
 * problem). One jwt_t serves every thread: the key set is swapped whole
 * under a lock, and the table of tokens verified lately has its own. */
jwt_t *jwt_new(const struct jwt_settings *s, struct error *e);
void jwt_destroy(jwt_t *j);

enum jwt_reload { JWT_RELOAD_UNCHANGED, JWT_RELOAD_DONE, JWT_RELOAD_FAILED };
/* Reads JWT_KEYS_FILE again if it changed since it was read (its inode,
 * size or modification time), or always with force. On success the new
 * set signs and verifies from now on (tokens verified lately are checked
 * again); on failure (e says why) the keys in use stay. UNCHANGED under
 * HMAC, or when the file did not change. */
enum jwt_reload jwt_reload(jwt_t *j, bool force, struct error *e);
/* How many keys verify now. */
size_t jwt_key_count(jwt_t *j);
/* The JWK Set to publish: {"keys": [...]} with the public members of
 * each ES256 key (kty, crv, x, y, kid, alg, use); no HMAC key, ever. */
json_t *jwt_jwks(jwt_t *j);
/* The kid JWT_SECRET's tokens carry (for tests and `orgd keys list`). */
void jwt_hmac_kid(const void *secret, size_t len, char out[JWT_KID_BUF]);

/* Issues a token for sub/sid (and org/role unless org is "") at `now` (seconds). Fills the
 * remaining claims in *claims (iat, nbf, exp, jti). *out is malloc'd; caller frees. */
bool jwt_issue(jwt_t *j, struct jwt_claims *claims, int64_t now, char **out, struct error *e);

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
