/* throttle.h — login, sign-up, org-creation and e-mail-change limits,
 * shared by every instance through the database.
 *
 * Each counted event is one document (key, at, expires_at; a TTL index
 * removes it after the window): inserts cannot lose a concurrent
 * increment, as a read-then-write counter can on FerretDB. An attempt
 * reserves its place first (inserts its event), then counts the key's
 * events inside the window, its own among them; past the limit it takes
 * its event back and is refused with ERR_RATE_LIMITED (429), retry_after
 * set to when the count drops below the limit again. Of attempts that
 * arrive together each sees at least the events inserted before its own,
 * so however many arrive at once, at most `limit` of them go on within a
 * window: a burst cannot pass the check before any of it is counted. All
 * of it comes before any password hash, so a refused attempt costs three
 * small commands, not an argon2 run.
 *
 * Keys: "login:account:<e-mail>", "login:address:<ip>",
 * "signup:address:<ip>" (sign-ups, accounts made by accepting an
 * invitation, and e-mail changes), "create:address:<ip>"; an IPv6 client
 * counts by its /64. A limit of 0 is off.
 */
#ifndef ORGD_THROTTLE_H
#define ORGD_THROTTLE_H

#include <stdbool.h>

#include "app.h"
#include "store.h"

#define THROTTLE_KEY_BUF (EMAIL_BUF + 32)

/* A login attempt's places in its account's and its address's counts,
 * held while its password is checked. */
struct throttle_hold {
    char ids[THROTTLE_KEYS_MAX][ID_BUF];
    size_t n;
    char account_key[THROTTLE_KEY_BUF];
    bool account_failures; /* the account had failures before this attempt */
};

/* Before a password is checked: reserves the attempt's places, and refuses
 * (giving them back) when the account or the client address has used up
 * its failed logins. */
bool throttle_login_reserve(struct app *app, const char *email_key, const char *client,
                            struct throttle_hold *h, struct error *e);

/* The password was right: the attempt's places are given back, and the
 * account's failures forgotten (the address's are not, or one good account
 * would launder guesses at others). */
void throttle_login_succeeded(struct app *app, struct throttle_hold *h);

/* The password could not be checked (the database or the hash pool
 * failed): the places are given back, since nothing was learnt. A wrong
 * password needs no call: its places stay, as its failures. Database
 * errors are logged, not returned: the caller's answer does not change. */
void throttle_login_release(struct app *app, struct throttle_hold *h);

enum throttle_attempt { THROTTLE_SIGNUP, THROTTLE_ORG_CREATE, THROTTLE_EMAIL_CHANGE };

/* A sign-up, an org creation or an e-mail change from client: counted
 * first (whatever its outcome will be), refused past the limit. E-mail
 * changes count as sign-ups: each tells whether an address is registered. */
bool throttle_attempt(struct app *app, enum throttle_attempt kind, const char *client,
                      struct error *e);

/* A mail asked for (a reset, an address check, an invitation resent) from
 * client about email_key: counted per address and per e-mail within an
 * hour, refused past MAIL_PER_ADDRESS or MAIL_PER_EMAIL. */
bool throttle_mail(struct app *app, const char *client, const char *email_key, struct error *e);

#endif
