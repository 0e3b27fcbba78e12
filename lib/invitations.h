/* invitations.h — inviting people into an organization with a role.
 *
 * An invitation's token (32 random bytes, base64url) is shown once, in the
 * answer to the invite; the database keeps its SHA-256. Inviting an
 * e-mail that has a pending invitation replaces it; inviting a member is a
 * conflict; an admin cannot grant owner.
 *
 * Accepting: with a bearer token of the invited e-mail's account, or with
 * a password (and optional username) that creates the account. Used,
 * revoked or expired tokens answer 410, unknown ones 404. The invitation
 * goes pending -> accepting -> accepted around the membership insert, so
 * recovery can finish or roll back one a crash left in between; the
 * unique (account, org) index makes two accepts of one token give one
 * membership.
 */
#ifndef ORGD_INVITATIONS_H
#define ORGD_INVITATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

#define INVITATION_TOKEN_BYTES 32
#define INVITATION_TOKEN_LEN 43 /* base64url without padding */

struct invitation_view {
    struct invitation inv;
    char org_name[NAME_BUF];
    char token[INVITATION_TOKEN_LEN + 1]; /* only in the answer to the invite */
};

bool invitations_create(struct app *app, const struct caller *who, const char *org_id,
                        const struct invite_request *req, struct invitation_view *out,
                        struct error *e);

/* The org's pending invitations (owner or admin), newest first, those
 * before the invitation `before` ("": from the newest), at most max: a page. */
bool invitations_list(struct app *app, const struct caller *who, const char *org_id,
                      const char *before, struct invitation_view *out, size_t max, size_t *n,
                      struct error *e);

bool invitations_revoke(struct app *app, const struct caller *who, const char *org_id,
                        const char *invitation_id, struct error *e);

/* Pending invitations to the caller's e-mail, a page as invitations_list. */
bool invitations_mine(struct app *app, const struct caller *who, const char *before,
                      struct invitation_view *out, size_t max, size_t *n, struct error *e);

struct acceptance {
    struct org org;
    struct membership membership;
    struct account account; /* password_hash empty */
    bool account_created;
};

/* who: the bearer's caller, or NULL (then req must carry a password). */
bool invitations_accept(struct app *app, const struct caller *who, const struct accept_request *req,
                        const char *client, struct acceptance *out, struct error *e);

#define INVITATIONS_STUCK_BATCH 32 /* half-accepted invitations one pass looks at */

/* Recovery: invitations left accepting since before before_ms are
 * finished (the membership exists) or put back to pending. */
bool invitations_recover(struct app *app, int64_t before_ms, int *done, struct error *e);

#endif
