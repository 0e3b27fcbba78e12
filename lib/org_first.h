/* org_first.h — the org-first flow (/org/..., /admin/login): an org is
 * created together with its admin, who logs in for a token scoped to it
 * and reads, renames (changing their own e-mail and password on the way)
 * and deletes it, by name.
 *
 * Every call is admitted by access_org (access.h) and asks roles_may()
 * with the role read from the database, never the token alone. Create,
 * rename and delete are the crash-safe state machines of lifecycle.h.
 *
 * Errors: ERR_INVALID (422), ERR_UNAUTHORIZED (401), ERR_FORBIDDEN (403),
 * ERR_NOT_FOUND (404), ERR_CONFLICT (409), ERR_BUSY (409, the org is
 * mid-operation), ERR_RATE_LIMITED (429), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ORG_FIRST_H
#define ORGD_ORG_FIRST_H

#include <stdbool.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

/* An org as the org-first routes show it: with its owner. */
struct org_first_view {
    struct org org;
    struct account owner; /* password_hash is always empty here */
};

struct login_result {
    struct token_pair pair; /* wipe with token_pair_wipe */
    struct org org;
    enum role role;
};

/* POST /org/create from client (throttled per address): the org, and its
 * owner's account made with it (origin org_create: it goes with its last
 * org, as in the original service). */
bool org_first_create(struct app *app, const struct create_request *req, const char *client,
                      struct org_first_view *out, struct error *e);

/* POST /admin/login: an org-scoped session in req->organization_name, or
 * in the account's only organization (422 naming organization_name when it
 * has several; 403 when it has none or is no member of the one named). */
bool org_first_login(struct app *app, const struct login_request *req, const char *client,
                     struct login_result *out, struct error *e);

/* GET /org/{name}, /org/get: the org by name, or (NULL) the caller's own
 * (see access.h). */
bool org_first_get(struct app *app, const struct caller *who, const char *name,
                   struct org_first_view *out, struct error *e);

/* PUT /org/update: checks everything (role, current password, e-mail and
 * name free) before it writes anything, so an error means nothing changed.
 * A credential change is a guarded write on the account as its password
 * was checked (409 when another change won), counts as a sign-up for the
 * throttle when it changes the e-mail, and ends the account's other
 * sessions. */
bool org_first_update(struct app *app, const struct caller *who, const struct update_request *req,
                      const char *client, struct org_first_view *out, struct error *e);

/* DELETE /org/delete. */
bool org_first_delete(struct app *app, const struct caller *who, const char *name, struct error *e);

#endif
