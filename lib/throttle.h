/* throttle.h — login, sign-up and org-creation limits, shared by every
 * instance through the database.
 *
 * Each counted event is one document (key, at, expires_at; a TTL index
 * removes it after the window): inserts cannot lose a concurrent
 * increment, as a read-then-write counter can on FerretDB. A check counts
 * the key's events inside the window; past the limit the answer is
 * ERR_RATE_LIMITED (429) with retry_after set to when the count drops
 * below the limit again. Checks come before any password hash, so a
 * throttled request costs two small queries, not an argon2 run.
 *
 * Keys: "login:account:<e-mail>", "login:address:<ip>",
 * "signup:address:<ip>", "create:address:<ip>"; an IPv6 client counts by
 * its /64. A limit of 0 is off.
 */
#ifndef ORGD_THROTTLE_H
#define ORGD_THROTTLE_H

#include <stdbool.h>

#include "app.h"

/* Before a password is checked: refuses when the account or the client
 * address has used up its failed logins. *account_failures tells whether
 * the account has any (only then is there something for a success to
 * forget). */
bool throttle_login_check(struct app *c, const char *email_key, const char *client,
                          bool *account_failures, struct error *e);

/* A wrong password (or an unknown e-mail): one event for the account and
 * one for the address. A database error is logged, not returned: the
 * caller's answer (401) does not change. */
void throttle_login_failed(struct app *c, const char *email_key, const char *client);

/* A right password: the account's failures are forgotten (the address's
 * are not, or one good account would launder guesses at others). */
void throttle_login_succeeded(struct app *c, const char *email_key);

enum throttle_attempt { THROTTLE_SIGNUP, THROTTLE_ORG_CREATE };

/* A sign-up or an org creation from client: refused past the limit,
 * else counted (whatever its outcome will be). */
bool throttle_attempt(struct app *c, enum throttle_attempt kind, const char *client,
                      struct error *e);

#endif
