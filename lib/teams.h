/* teams.h — the account-first organization API: organizations by id, their
 * members and roles.
 *
 * Every call reads the caller's role in the organization from the database
 * and asks roles_may() (roles.h); the token's role claim is never trusted.
 * An org-scoped token (from /admin/login) acts only in its org; an
 * account-scoped one in every org of its account.
 *
 * Create, rename and delete are the crash-safe operations of orgs.h.
 * Removing a member ends the sessions they hold in that org; the last
 * owner can be neither demoted nor removed, nor leave.
 *
 * Errors: ERR_INVALID (422), ERR_FORBIDDEN (403), ERR_NOT_FOUND (404),
 * ERR_CONFLICT (409), ERR_BUSY (409), ERR_RATE_LIMITED (429),
 * ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_TEAMS_H
#define ORGD_TEAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

#define TEAM_MEMBERS_SHOWN 100 /* GET /organization/{id} shows this many; /members pages */

struct member_view {
    struct membership m;
    char username[USERNAME_BUF];
    char email[EMAIL_BUF];
};

struct team_view {
    struct org_described org;
    enum role role; /* the caller's */
    size_t nmembers;
    struct member_view *members; /* malloc'd; team_view_free */
};

struct team_item {
    struct org_described org;
    enum role role; /* the caller's */
};

/* A page of a list; items malloc'd (free with free()). next_cursor "" at the end. */
struct team_page {
    struct team_item *items;
    size_t n;
    char next_cursor[ID_BUF];
};

struct member_page {
    struct member_view *items;
    size_t n;
    char next_cursor[ID_BUF];
};

void team_view_free(struct team_view *v);

/* The org {id} (with its description) and the caller's membership there:
 * 404 when there is no such org, 403 when the caller is no member or the
 * token is scoped to another org, 409 busy while it is being renamed.
 * read: the caller only reads, so an org-scoped session (which proves its
 * membership) needs no membership read; m->role is then the token's. */
bool teams_access(struct app *c, const struct caller *who, const char *id, bool read,
                  struct org_described *o, struct membership *m, struct error *e);

bool teams_list(struct app *c, const struct caller *who, const struct page_request *page,
                struct team_page *out, struct error *e);
/* Needs an account-scoped token (403 otherwise): the account is the owner. */
bool teams_create(struct app *c, const struct caller *who, const struct team_request *req,
                  const char *client, struct team_view *out, struct error *e);
bool teams_get(struct app *c, const struct caller *who, const char *id, struct team_view *out,
               struct error *e);
/* Checks both changes before making either. */
bool teams_update(struct app *c, const struct caller *who, const char *id,
                  const struct team_request *req, struct team_view *out, struct error *e);
bool teams_delete(struct app *c, const struct caller *who, const char *id, struct error *e);

bool teams_members(struct app *c, const struct caller *who, const char *id,
                   const struct page_request *page, struct member_page *out, struct error *e);
bool teams_set_role(struct app *c, const struct caller *who, const char *id, const char *account_id,
                    enum role role, struct member_view *out, struct error *e);
/* Removes account_id from org id; the caller's own id is leaving. */
bool teams_remove(struct app *c, const struct caller *who, const char *id, const char *account_id,
                  struct error *e);

/* Recovery: removals a crash left (their membership marked since before
 * before_ms) are finished. */
bool teams_recover(struct app *c, int64_t before_ms, int *done, struct error *e);

#endif
