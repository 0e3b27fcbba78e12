/* access.h — the one way into an org: which org a request is about, and
 * whether its caller may be there. Both flows (org-first by name,
 * account-first by id) and GET /auth/check go through access_org; what
 * the caller may then do there is roles.h's table, asked by each use case
 * with the role this returns.
 *
 * Errors: ERR_NOT_FOUND (404), ERR_FORBIDDEN (403), ERR_INVALID (422, an
 * account token in several orgs that names none), ERR_BUSY (409 with
 * Retry-After), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ACCESS_H
#define ORGD_ACCESS_H

#include <stdbool.h>

#include "app.h"
#include "model.h"
#include "sessions.h"

/* Where a request names its org: by id (account-first), by name
 * (org-first; case does not matter), or neither: the caller's own (an
 * org-scoped token's org, or an account token's only org). */
struct access_ref {
    const char *id;
    const char *name;
};

enum access_mode {
    /* reading: an org-scoped session proves its membership (removing a
     * member ends their sessions in the org first), so no membership is
     * read and m->role is the token's */
    ACCESS_READ,
    /* acting: the membership is read, for the role held now */
    ACCESS_ACT,
    /* GET /auth/check: as ACCESS_ACT, and an org being renamed is no
     * reason to refuse (the answer only says who the caller is) */
    ACCESS_WHOAMI,
};

/* The admission, in this order:
 *   1. the org: by id, by name, or the caller's own (422 naming
 *      organization_name when an account token's account is in several,
 *      404 when in none);
 *   2. an org being created or deleted is not there: 404;
 *   3. a token scoped to another org: 403;
 *   4. the caller's membership: proven by an org-scoped session for
 *      ACCESS_READ, else read (403 when there is none);
 *   5. an org being renamed: 409 busy, with Retry-After (not for
 *      ACCESS_WHOAMI).
 * Fills *o (with its description) and *m. */
bool access_org(struct app *app, const struct caller *who, const struct access_ref *ref,
                enum access_mode mode, struct org_described *o, struct membership *m,
                struct error *e);

/* 409 busy with Retry-After: the org is in the middle of `what` (renamed,
 * changed, deleted). Returns false. */
bool access_busy(struct error *e, const char *what);

#endif
