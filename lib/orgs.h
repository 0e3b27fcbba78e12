/* orgs.h — the use cases: create, log in, authenticate, read, rename (and
 * change the caller's credentials), delete. The rules of who may do what
 * live here; every org route checks membership and role against the
 * database, never the token alone.
 *
 * Errors: ERR_INVALID (422), ERR_UNAUTHORIZED (401), ERR_FORBIDDEN (403),
 * ERR_NOT_FOUND (404), ERR_CONFLICT (409), ERR_BUSY (409, the org is
 * mid-operation), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ORGS_H
#define ORGD_ORGS_H

#include <stdbool.h>

#include "app.h"
#include "model.h"
#include "requests.h"

/* An org as the API shows it: with its owner. */
struct org_view {
    struct org org;
    struct admin owner; /* password_hash is always empty here */
};

/* Who is calling, established from a verified token and the database. */
struct caller {
    struct jwt_claims claims;
    struct admin admin; /* password_hash is always empty here */
    struct org org;     /* the org the token was issued for */
    struct membership membership;
};

struct login_result {
    char *access_token; /* caller frees */
    long expires_in;
    struct org org;
    enum role role;
};

bool orgs_create(struct app *c, const struct create_request *req, struct org_view *out,
                 struct error *e);

bool orgs_login(struct app *c, const struct login_request *req, struct login_result *out,
                struct error *e);

/* Verifies the token and that its admin, org and membership still exist. */
bool orgs_authenticate(struct app *c, const char *token, size_t len, struct caller *out,
                       struct error *e);

/* name NULL: the caller's own org. */
bool orgs_get(struct app *c, const struct caller *who, const char *name, struct org_view *out,
              struct error *e);

bool orgs_update(struct app *c, const struct caller *who, const struct update_request *req,
                 struct org_view *out, struct error *e);

bool orgs_delete(struct app *c, const struct caller *who, const char *name, struct error *e);

#endif
