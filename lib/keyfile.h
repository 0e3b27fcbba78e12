/* keyfile.h — JWT_KEYS_FILE: the ES256 signing keys, a JWK Set (RFC 7517)
 * file, and the `orgd keys` commands that change it.
 *
 * The file is {"keys": [jwk, ...]}, each an EC P-256 private key with a
 * `kid` (1–64 characters of [A-Za-z0-9._-], unique), `alg` ES256 and `use`
 * sig when present, and two members of orgd's own that JWK readers ignore:
 * `orgd_created_at` and `orgd_signed_until` (Unix seconds; the second set
 * when the key stopped signing). The first key signs; every key verifies
 * and is published (public members only) at /.well-known/jwks.json.
 *
 * Reading refuses, with one line naming the problem: a file others may
 * read or write (mode & 077), one over 1 MiB, malformed JSON, no keys, a
 * key that is not EC, on another curve, public only, whose private part
 * does not match its public one (each key signs and verifies a message as
 * it is read), with a missing, malformed or repeated kid.
 *
 * Writing is atomic: a temporary file (mode 0600) in the same directory,
 * fsync, rename over the file, fsync of the directory. Commands hold an
 * exclusive flock on the file while they read, change and replace it, so
 * two commands at once do not lose each other's change.
 */
#ifndef ORGD_KEYFILE_H
#define ORGD_KEYFILE_H

#include <cjose/cjose.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KEYFILE_KID_MAX 64
#define KEYFILE_KID_BUF (KEYFILE_KID_MAX + 1)
#define KEYFILE_MAX_BYTES (1024 * 1024)

struct keyfile_key {
    char kid[KEYFILE_KID_BUF];
    cjose_jwk_t *jwk;     /* with its private part */
    json_t *json;         /* the member as the file holds it */
    int64_t created_at;   /* 0: not recorded */
    int64_t signed_until; /* 0: has not stopped signing (or not recorded) */
};

struct keyfile {
    struct keyfile_key *keys; /* keys[0] signs */
    size_t n;
};

/* A kid orgd accepts, in a file or a token header: 1–64 of [A-Za-z0-9._-]. */
bool keyfile_kid_valid(const char *kid, size_t len);

/* Reads and checks the file at path (see above). ERR_INVALID with a
 * one-line message naming the file and the problem. */
bool keyfile_load(const char *path, struct keyfile *out, struct error *e);
/* The checks of keyfile_load on text already read (no mode check). */
bool keyfile_parse(const char *text, size_t len, struct keyfile *out, struct error *e);
void keyfile_free(struct keyfile *kf);

/* The public JWK of a key: {kty, crv, x, y, kid, alg, use} and nothing else. */
json_t *keyfile_public_jwk(const struct keyfile_key *k);

/* ---- the `orgd keys` commands ---- */

/* `new`: a fresh P-256 key, appended (it verifies and is published, it does
 * not sign), or the first key of a new file (it signs). *created: the file
 * did not exist. */
bool keyfile_new_key(const char *path, int64_t now, char kid_out[KEYFILE_KID_BUF], bool *created,
                     struct error *e);
/* `promote`: kid signs from now on; the key that signed records
 * orgd_signed_until = now. ERR_NOT_FOUND for an unknown kid. */
bool keyfile_promote(const char *path, const char *kid, int64_t now, struct error *e);
/* `retire`: removes kid; refused (ERR_CONFLICT) for the signing key and
 * for the last key. *live_until: until when tokens it signed may be live
 * (its orgd_signed_until + token_ttl; 0 when none can be). */
bool keyfile_retire(const char *path, const char *kid, int64_t now, long token_ttl,
                    int64_t *live_until, struct error *e);

#endif
