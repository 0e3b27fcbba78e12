/* account_first.h — the account-first flow's orgs (/organization/...): an
 * account creates any number of orgs, and lists, reads, renames,
 * describes and deletes them by id. Members are members.h, invitations
 * invitations.h.
 *
 * Every call is admitted by access_org (access.h) and asks roles_may()
 * with the role read from the database, never the token's claim. An
 * org-scoped token (from /admin/login) acts only in its org; an
 * account-scoped one in every org of its account. Create, rename and
 * delete are the crash-safe state machines of lifecycle.h.
 *
 * Errors: ERR_INVALID (422), ERR_FORBIDDEN (403), ERR_NOT_FOUND (404),
 * ERR_CONFLICT (409), ERR_BUSY (409), ERR_RATE_LIMITED (429),
 * ERR_UNAVAILABLE (503).
 */
#ifndef ORGD_ACCOUNT_FIRST_H
#define ORGD_ACCOUNT_FIRST_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "members.h"
#include "model.h"
#include "requests.h"
#include "sessions.h"

/* An org as /organization/{id} shows it: with the caller's role and its
 * first MEMBERS_SHOWN members. */
struct account_first_view {
    struct org_described org;
    enum role role; /* the caller's */
    size_t nmembers;
    struct member_view *members; /* malloc'd; account_first_view_free */
};

void account_first_view_free(struct account_first_view *v);

struct account_first_item {
    struct org_described org;
    enum role role; /* the caller's */
};

/* A page of the caller's orgs; items malloc'd (free with free()).
 * next_cursor "" at the end. */
struct account_first_page {
    struct account_first_item *items;
    size_t n;
    char next_cursor[ID_BUF];
};

/* GET /organization/: the caller's orgs by id, a page at a time (an
 * org-scoped token: its own org only). */
bool account_first_list(struct app *app, const struct caller *who, const struct page_request *page,
                        struct account_first_page *out, struct error *e);
/* POST /organization/: needs an account-scoped token (403 otherwise); the
 * account is the owner. */
bool account_first_create(struct app *app, const struct caller *who, const struct org_request *req,
                          const char *client, struct account_first_view *out, struct error *e);
bool account_first_get(struct app *app, const struct caller *who, const char *id,
                       struct account_first_view *out, struct error *e);
/* PUT /organization/{id}: checks the role for every field given, and both
 * changes, before making either. */
bool account_first_update(struct app *app, const struct caller *who, const char *id,
                          const struct org_request *req, struct account_first_view *out,
                          struct error *e);
bool account_first_delete(struct app *app, const struct caller *who, const char *id,
                          struct error *e);

#endif
