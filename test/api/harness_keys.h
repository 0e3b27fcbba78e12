/* harness_keys.h — signing keys as the tests of them handle them
 * (test_signing_keys*.c): a private directory of key files made by the
 * real `orgd keys` commands, an orgd under ES256 with one, the JOSE header
 * of a token decoded by hand (never by orgd's code), and the JWK Set at
 * /.well-known/jwks.json, polled until a running orgd sees a change of its
 * key file. Not included by harness.h: only those tests need it. */
#ifndef ORGD_TEST_HARNESS_KEYS_H
#define ORGD_TEST_HARNESS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness_flows.h"
#include "harness_http.h"
#include "harness_orgd.h"

#define TH_KID_BUF 65 /* a kid of at most 64 characters, and its NUL */
/* how long a running orgd may take to see a change of its key file */
#define TH_KEYS_WAIT_MS 10000

/* ---- the private directory of a test's key files ---- */

/* The directory th_keydir_make made (mkdtemp, 0700); "" when there is none. */
extern char th_keydir[64];
/* A new private directory for key files; path: its file `name`. */
void th_keydir_make(const char *name, char *path, size_t cap);
/* Removes th_keydir and the files in it, if there is one: for a teardown
 * too, since a failed assertion leaves the case at once. */
void th_keydir_remove(void);

/* ---- tokens, decoded by hand ---- */

/* Decodes base64url (no padding) s[0..len) into out; its length, or -1. */
long th_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap);
/* The token's kid into out; fails the test unless it has a string one. */
void th_token_kid(const char *token, char out[TH_KID_BUF]);
/* The token's alg, as th_token_kid. */
void th_token_alg(const char *token, char *out, size_t cap);

/* ---- the JWK Set ---- */

/* GET /.well-known/jwks.json; fails the test unless it is a 200 whose body
 * is {"keys": [...]}. r is the answer (caller th_resp_free's). */
void th_jwks_get(const struct th_orgd *o, struct th_resp *r);
/* Whether o's JWK Set holds a key of this kid. */
bool th_jwks_has(const struct th_orgd *o, const char *kid);
/* Polls o's JWK Set (every 100 ms, TH_KEYS_WAIT_MS at most) until it holds
 * the key kid (present) or no longer does; fails the test otherwise.
 * Returns the milliseconds it took. */
int64_t th_wait_jwks(const struct th_orgd *o, const char *kid, bool present);
/* Signs in on o (every 100 ms, TH_KEYS_WAIT_MS at most) until the access
 * token carries kid; fails the test otherwise. t: that sign-in's tokens. */
int64_t th_wait_signing_kid(const struct th_orgd *o, const char *email, const char *kid,
                            struct th_tokens *t);

/* ---- the `orgd keys` commands ---- */

/* `orgd keys verb [kid] --file file` with o's settings; fails the test
 * unless it exits 0, or the file is not 0600 after it. Its output into
 * out. */
void th_keys_ok(struct th_orgd *o, const char *verb, const char *kid, const char *file, char *out,
                size_t cap);
/* The kids `orgd keys list` names, the signing one first; their number. */
size_t th_keys_list(struct th_orgd *o, const char *file, char (*kids)[TH_KID_BUF], size_t max);
/* `orgd keys new --file file`: the kid of the key it made, read from what
 * it printed and checked against `orgd keys list`. */
void th_keys_new(struct th_orgd *o, const char *file, char kid[TH_KID_BUF]);
/* A key file at `file` with n fresh keys (the first signs), made by `orgd
 * keys new` run with the settings of a throw-away orgd; their kids. Every
 * private `d` of it is remembered as a secret no orgd log may hold. */
void th_keyfile_with(const char *file, size_t n, char (*kids)[TH_KID_BUF]);
/* th_own_orgd under ES256 with the key file `file`, and JWT_SECRET as the
 * harness sets it (it then verifies only the HS256 tokens it signed);
 * `more`: further settings (at most 13) or NULL. */
struct th_orgd *th_es256_orgd_start(const char *file, const char *const *more);

#endif
