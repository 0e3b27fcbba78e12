/* sessions.h — sessions and the tokens that belong to them.
 *
 * Every sign-in (/admin/login: org-scoped; /auth/signin: account-scoped)
 * starts a session: a document in "sessions" whose id every token of it
 * carries (the JWT's sid claim). The access token is a short-lived JWT; the
 * refresh token is 44 random-looking bytes in base64url — the session id
 * (12 bytes) and 32 bytes from getrandom — of which the database keeps only
 * the SHA-256.
 *
 * Rotation (RFC 9700 4.14.2): each refresh replaces the session's refresh
 * hash and records the old one in "session_rotations", whose unique _id
 * lets exactly one of two concurrent refreshes with one token win. A token
 * presented by a request that arrived after its rotation is reuse: one of
 * its holders is not the owner, so the whole session ends. A request with
 * the token rotated away last that arrived before that rotation was
 * written lost a race (two refreshes sent together) and is refused
 * without ending the session.
 *
 * Every authenticated request reads its session: logout, revocation, a
 * password change or reuse take effect on the next request, on every
 * instance.
 */
#ifndef ORGD_SESSIONS_H
#define ORGD_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "caller.h"
#include "model.h"

#define REFRESH_TOKEN_BYTES 44 /* 12 (session id) + 32 (random) */
#define REFRESH_TOKEN_LEN 59   /* base64url without padding */

/* A secret token's text: the base64url (no padding) of raw[0..n), which it
 * wipes, into out (cap bytes: 4n/3 + 2 is enough), and the SHA-256 of that
 * text (what the database keeps) into hash. Refresh and invitation tokens
 * are made by it. False (ERR_INTERNAL) if it does not fit. */
bool sessions_token_text(uint8_t *raw, size_t n, char *out, size_t cap, char hash[SESSION_HASH_BUF],
                         struct error *e);

#define ONE_TIME_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */

/* A fresh one-time token (an invitation's, a reset's, an address check's)
 * and its SHA-256 (what the database keeps). */
bool sessions_one_time_token(char out[ONE_TIME_TOKEN_LEN + 1], char hash[SESSION_HASH_BUF],
                             struct error *e);

/* A fresh pair: wipe it with token_pair_wipe. */
struct token_pair {
    char *access_token; /* malloc'd */
    char refresh_token[REFRESH_TOKEN_LEN + 1];
    long expires_in;
    struct session session;
};

void token_pair_wipe(struct token_pair *p);

/* Reads the caller's account into who->account (401 when it is gone). */
bool sessions_load_account(struct app *app, struct caller *who, struct error *e);
/* The caller's account into *out: who->account when loaded, else read. */
bool sessions_account(struct app *app, const struct caller *who, struct account *out,
                      struct error *e);

/* Starts a session for account a, scoped to org (NULL: account scope) with
 * `role` there, signed in from client. */
bool sessions_start(struct app *app, const struct account *a, const struct org *org, enum role role,
                    const char *client, struct token_pair *out, struct error *e);

/* Verifies the access token, then that its session is active and
 * unexpired (one read). 401 otherwise. */
bool sessions_authenticate(struct app *app, const char *token, size_t len, struct caller *out,
                           struct error *e);

struct refresh_result {
    struct token_pair pair;
    bool scoped;
    struct org org; /* scoped: the org as it is now (its name may have changed) */
    enum role role;
};

/* Rotates: a new pair for the refresh token's session. 401 for anything
 * but the session's current token; reuse ends the session (see above).
 * arrived_ms: when the request arrived (wall clock), which tells a reuse
 * (the token was rotated away before it arrived) from a lost race (while
 * it was being handled). */
bool sessions_refresh(struct app *app, const char *token, size_t len, const char *client,
                      int64_t arrived_ms, struct refresh_result *out, struct error *e);

/* Ends the caller's own session (logout). */
bool sessions_logout(struct app *app, const struct caller *who, struct error *e);

/* The caller's live sessions, the newest sign-in first, those before the
 * session `before` ("": from the newest), at most max: a page. */
bool sessions_list(struct app *app, const struct caller *who, const char *before,
                   struct session *out, size_t max, size_t *n, struct error *e);

/* Ends one of the caller's sessions; 404 if it is not a live one of theirs. */
bool sessions_revoke(struct app *app, const struct caller *who, const char *id, struct error *e);

/* Ends the account's sessions in org_id (when given) or all but keep_sid,
 * for `why`, counting them (*ended) and forgetting them here. Each live
 * one's refresh token is claimed first, after any rotation in flight, so
 * that no refresh can write one back active on a database whose updates
 * are a read and a write (FerretDB); any still live after the bulk write
 * (begun meanwhile, or beyond the first 100) is then ended one by one. */
bool sessions_end_all(struct app *app, const char *account_id, const char *org_id,
                      const char *keep_sid, enum session_end why, int64_t *ended, struct error *e);

/* Ends every session of the account but keep_sid (after its credentials
 * changed), and logs it. */
bool sessions_end_others(struct app *app, const char *account_id, const char *keep_sid,
                         struct error *e);

#endif
