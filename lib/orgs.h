/* orgs.h — the org-first use cases: create, log in, read, rename (and
 * change the caller's credentials), delete. The rules of who may do what
 * live here; every org route checks membership and role against the
 * database, never the token alone.
 *
 * Errors: ERR_INVALID (422), ERR_UNAUTHORIZED (401), ERR_FORBIDDEN (403),
 * ERR_NOT_FOUND (404), ERR_CONFLICT (409), ERR_BUSY (409, the org is
 * mid-operation), ERR_RATE_LIMITED (429), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ORGS_H
#define ORGD_ORGS_H

#include <stdbool.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

/* An org as the API shows it: with its owner. */
struct org_view {
    struct org org;
    struct admin owner; /* password_hash is always empty here */
};

struct login_result {
    struct token_pair pair; /* wipe with token_pair_wipe */
    struct org org;
    enum role role;
};

/* POST /org/create from client (throttled per address). */
bool orgs_create(struct app *c, const struct create_request *req, const char *client,
                 struct org_view *out, struct error *e);

/* POST /organization/: an org owned by an existing account (the caller),
 * with the same crash-safe steps; errors name the field `name`. */
bool orgs_create_for(struct app *c, const struct admin *owner, const char *name,
                     const char *description, const char *client, struct org *out, struct error *e);

/* POST /admin/login: an org-scoped session in req->organization_name, or
 * in the account's only organization (422 naming organization_name when it
 * has several; 403 when it has none or is no member of the one named). */
bool orgs_login(struct app *c, const struct login_request *req, const char *client,
                struct login_result *out, struct error *e);

/* The org a request is about: by name, or (NULL) the caller's own — an
 * org-scoped token's org, or an account-scoped token's only org (422
 * naming organization_name when it has several, 404 when none). An
 * org-scoped token acts only in its org (403 elsewhere). */
bool orgs_get(struct app *c, const struct caller *who, const char *name, struct org_view *out,
              struct error *e);

/* Checks everything (role, current password, e-mail and name free) before
 * it writes anything, so an error means nothing changed. A credential
 * change ends the account's other sessions. */
bool orgs_update(struct app *c, const struct caller *who, const struct update_request *req,
                 const char *client, struct org_view *out, struct error *e);

bool orgs_delete(struct app *c, const struct caller *who, const char *name, struct error *e);

/* The steps the routes of both flows share, on an org already resolved
 * and permitted: */
/* 409 naming `field` when another org has new_name (a fast answer before
 * anything is written; the unique index decides a race). */
bool orgs_name_free(struct app *c, const struct org *o, const char *new_name, const char *field,
                    struct error *e);
/* Copies an account's new e-mail to the orgs it owns (their owner_email);
 * failures are logged: the org then shows the old e-mail until the next change. */
void orgs_owner_email_changed(struct app *c, const char *admin_id, const char *email_key);
/* The crash-safe rename (name, then collection, then active). */
bool orgs_rename(struct app *c, struct org *o, const char *new_name, const char *field,
                 struct error *e);
/* The crash-safe delete: collection, invitations, sessions, memberships,
 * accounts made by /org/create left without an org, the document. */
bool orgs_delete_org(struct app *c, const struct org *o, struct error *e);

#endif
