/* members.h — an org's members: the list, role changes, removal and
 * leaving (the account-first routes /organization/{id}/members...).
 *
 * Every call is admitted by access_org (access.h) and asks roles_may()
 * (roles.h) with the role read from the database, never the token's. A
 * role change and a removal are guarded transitions of the membership
 * (store__swap): of the two sent together one wins, the other reads again.
 * The last owner can be neither demoted nor removed, nor leave.
 *
 * A removal is a small state machine of its own: the membership marked
 * (`removing_at`; a marked owner no longer counts), the member's sessions
 * in the org ended [member_remove.after_sessions], `owner_id` moved off
 * the account, an account made by /org/create left without an org
 * released, the membership deleted [member_remove.after_membership]. A
 * removal a crash left is finished by members_recover, which repeats the
 * steps (each idempotent).
 *
 * Errors: ERR_FORBIDDEN (403), ERR_NOT_FOUND (404), ERR_CONFLICT (409, the
 * last owner), ERR_BUSY (409 with Retry-After), ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_MEMBERS_H
#define ORGD_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

#define MEMBERS_SHOWN 100 /* GET /organization/{id} shows this many; /members pages */

struct member_view {
    struct membership m;
    char username[USERNAME_BUF];
    char email[EMAIL_BUF];
};

/* A page; items malloc'd (free with free()). next_cursor "" at the end. */
struct member_page {
    struct member_view *items;
    size_t n;
    char next_cursor[ID_BUF];
};

/* A page of org_id's members by account id, after `after` ("": from the
 * first), at most limit. For a caller admitted already. */
bool members_page(struct app *app, const char *org_id, const char *after, size_t limit,
                  struct member_page *out, struct error *e);

/* GET /organization/{id}/members. */
bool members_list(struct app *app, const struct caller *who, const char *org_id,
                  const struct page_request *page, struct member_page *out, struct error *e);

/* PATCH /organization/{id}/members/{account_id}. */
bool members_set_role(struct app *app, const struct caller *who, const char *org_id,
                      const char *account_id, enum role role, struct member_view *out,
                      struct error *e);

/* DELETE /organization/{id}/members/{account_id}; the caller's own id is
 * leaving. */
bool members_remove(struct app *app, const struct caller *who, const char *org_id,
                    const char *account_id, struct error *e);

/* Recovery: removals a crash left (their membership marked since before
 * before_ms) are finished; *done counts them. */
bool members_recover(struct app *app, int64_t before_ms, int *done, struct error *e);

#endif
