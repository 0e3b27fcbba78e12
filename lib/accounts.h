/* accounts.h — accounts and their passwords: sign-up, sign-in, password
 * change, and the one credential check every login and every
 * re-authentication (current_password) goes through.
 *
 * That check is throttled (throttle.h) before any hash is computed, costs
 * the same for an unknown e-mail as for a wrong password, answers both
 * with one message, and upgrades a stored hash whose parameters are old.
 *
 * Errors: ERR_INVALID (422), ERR_UNAUTHORIZED (401), ERR_CONFLICT (409),
 * ERR_RATE_LIMITED (429), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ACCOUNTS_H
#define ORGD_ACCOUNTS_H

#include <stdbool.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

/* The account whose e-mail and password these are (password_hash wiped).
 * Throttled per account and per client address; a failure counts, a
 * success forgets the account's failures. */
bool accounts_check_password(struct app *app, const char *email, const struct secret_text *pw,
                             const char *client, struct account *out, struct error *e);

/* The caller proves its password again (current_password): 401 "current
 * password is incorrect" when wrong, throttled like a login. *verified is
 * the account as its password was checked (its version): a change of its
 * credentials is a guarded write on it, so of two changes made with one
 * password, one wins and the other is a 409. */
bool accounts_reauthenticate(struct app *app, const struct account *who,
                             const struct secret_text *pw, const char *client,
                             struct account *verified, struct error *e);

/* The e-mail (lower-cased) belongs to nobody but except_id (NULL: nobody):
 * 409 naming `email` otherwise. A fast answer; the unique index decides races. */
bool accounts_email_free(struct app *app, const char *email_key, const char *except_id,
                         struct error *e);

/* Counts a login's outcome (orgd_logins_total) from its result: ok,
 * bad_credentials (401) or throttled (429); other errors (503) are no
 * answer to the credentials and are not counted. */
void accounts_count_login(bool ok, const struct error *e);

/* The one way an account is born: its record, not yet stored. The e-mail
 * lower-cased and free (409 naming `email` otherwise: a fast answer, the
 * unique index decides a race), the password hashed, a new id, `origin`,
 * `username` (NULL or "": none), made now. accounts_create stores it; an
 * /org/create stores it as a step of the org's creation (lifecycle.h). */
bool accounts_draft(struct app *app, const char *email, const struct secret_text *pw,
                    const char *username, enum origin origin, struct account *out, struct error *e);

/* Drafts and stores an account (a sign-up, an invitation accepted without
 * one): 409 naming `email` when it is taken, also by a race. password_hash
 * is wiped in *out. */
bool accounts_create(struct app *app, const char *email, const struct secret_text *pw,
                     const char *username, enum origin origin, struct account *out,
                     struct error *e);

/* POST /auth/signup: an account with no organization (origin signup),
 * throttled per client address. */
bool accounts_signup(struct app *app, const struct signup_request *req, const char *client,
                     struct account *out, struct error *e);

/* POST /auth/signin: an account-scoped session. */
/* REQUIRE_VERIFIED_EMAIL: 403 email-unverified for an account whose
 * address is unproved (after its password was checked: the answer tells
 * nothing to someone without it). */
bool accounts_verified_enough(const struct app *app, const struct account *a, struct error *e);

bool accounts_signin(struct app *app, const struct login_request *req, const char *client,
                     struct token_pair *out, struct error *e);

/* PUT /auth/password: every other session of the account ends. 409 when
 * the account changed since its password was checked (another change
 * won): nothing changed then. */
bool accounts_change_password(struct app *app, const struct caller *who,
                              const struct password_request *req, const char *client,
                              struct error *e);

#endif
