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

struct invitation_view {
    struct invitation inv;
    char org_name[NAME_BUF];
    char token[INVITATION_TOKEN_LEN + 1]; /* only in the answer to the invite, and only
                                             while mail is off: with mail on it goes
                                             to the invitee alone ("" here) */
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

/* A pending invitation's mail again, with a new token (the old one is
 * unknown from then on) and a new expiry; owners and admins; throttled as
 * every mail asked for (per client address and per invitee). Event
 * invitation.resent. 503 mail-disabled when mail is off. */
bool invitations_resend(struct app *app, const struct caller *who, const char *org_id,
                        const char *invitation_id, const char *client, struct invitation_view *out,
                        struct error *e);

/* What the invitation page shows of a usable invitation (its token
 * proves the holder is the invitee): the org, the role, the e-mail, and
 * whether an account has that e-mail already. 404/410 as accept. */
struct invitation_preview {
    char email[EMAIL_BUF];
    char org_display_name[DISPLAY_NAME_BUF];
    enum role role;
    bool has_account;
};
bool invitations_preview(struct app *app, const char *token, struct invitation_preview *out,
                         struct error *e);

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

/* Accepts with the password of the invited e-mail's account (the page's
 * "sign in and join"): checked as a sign-in is (throttled, one answer for
 * a wrong password), then as a signed-in accept. */
bool invitations_accept_signed_in(struct app *app, const struct accept_request *req,
                                  const char *client, struct acceptance *out, struct error *e);

#define INVITATIONS_STUCK_BATCH 32 /* half-accepted invitations one pass looks at */

/* Recovery: invitations left accepting since before before_ms are
 * finished (the membership exists) or put back to pending. */
bool invitations_recover(struct app *app, int64_t before_ms, int *done, struct error *e);

#endif
