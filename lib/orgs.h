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

#endif
