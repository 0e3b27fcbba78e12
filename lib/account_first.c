#include "account_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "accounts.h"
#include "faults.h"
#include "lifecycle.h"
#include "roles.h"
#include "throttle.h"
#include "util.h"

void account_first_view_free(struct account_first_view *v)
{
    free(v->members);
    v->members = NULL;
    v->nmembers = 0;
}

/* The view of an org the caller may read: the org, the caller's role, the
 * first MEMBERS_SHOWN members. */
static bool view_of(struct app *app, const struct org_described *o, enum role role,
                    struct account_first_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    out->org = *o;
    out->role = role;
    struct member_page page;
    if (!members_page(app, o->org.id, "", MEMBERS_SHOWN, &page, e))
        return false;
    out->members = page.items;
    out->nmembers = page.n;
    return true;
}

/* The memberships a page lists, one more than the page (there is a next
 * page only if it came): an org-scoped token's own, on the first page,
 * with its role as it is now; else the account's, by org id. */
static bool page_memberships(struct app *app, const struct caller *who,
                             const struct page_request *page, struct membership *ms, size_t *n,
                             struct error *e)
{
    *n = 0;
    if (!who->scoped)
        return store_memberships_page(app->store, who->account.id, page->cursor, ms,
                                      (size_t)page->limit + 1, n, e);
    bool found = false;
    if (page->cursor[0] != '\0' && strcmp(page->cursor, who->org.id) >= 0)
        return true;
    if (!store_membership_get(app->store, who->account.id, who->org.id, &ms[0], &found, e))
        return false;
    *n = found;
    return true;
}

bool account_first_list(struct app *app, const struct caller *who, const struct page_request *page,
                        struct account_first_page *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t limit = (size_t)page->limit;
    struct membership *ms = calloc(limit + 1, sizeof *ms);
    char(*ids)[ID_BUF] = calloc(limit, ID_BUF);
    struct org_described *orgs = calloc(limit, sizeof *orgs);
    out->items = calloc(limit, sizeof *out->items);
    size_t n = 0, found = 0;
    bool ok = ms != NULL && ids != NULL && orgs != NULL && out->items != NULL
                  ? page_memberships(app, who, page, ms, &n, e)
                  : error_set(e, ERR_INTERNAL, "out of memory");
    bool more = ok && n > limit;
    if (more)
        n = limit;
    for (size_t i = 0; ok && i < n; i++)
        memcpy(ids[i], ms[i].org_id, ID_BUF);
    if (ok)
        ok = store_orgs_by_ids(app->store, (const char(*)[ID_BUF])ids, n, orgs, &found, e);
    /* in membership order; an org being created or deleted is not (or no longer) there */
    for (size_t i = 0; ok && i < n; i++) {
        for (size_t k = 0; k < found; k++) {
            const struct org *o = &orgs[k].org;
            if (strcmp(o->id, ms[i].org_id) != 0 || o->state == ORG_CREATING ||
                o->state == ORG_DELETING)
                continue;
            out->items[out->n].org = orgs[k];
            out->items[out->n].role = ms[i].role;
            out->n++;
        }
    }
    if (ok && more)
        memcpy(out->next_cursor, ms[n - 1].org_id, ID_BUF);
    free(ms);
    free(ids);
    free(orgs);
    if (!ok) {
        free(out->items);
        memset(out, 0, sizeof *out);
    }
    return ok;
}

bool account_first_create(struct app *app, const struct caller *who, const struct org_request *req,
                          const char *client, struct account_first_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (who->scoped)
        return error_set(e, ERR_FORBIDDEN,
                         "creating an organization needs an account token (POST /auth/signin); "
                         "this one is scoped to one organization");
    struct org_described o = {0};
    struct account me;
    if (!sessions_account(app, who, &me, e) ||
        !throttle_attempt(app, THROTTLE_ORG_CREATE, client, e))
        return false;
    lifecycle_draft(req->name, &me, &o.org);
    if (!lifecycle_create(app, &o.org, req->description, NULL, "name", e))
        return false;
    snprintf(o.description, sizeof o.description, "%s", req->description);
    return view_of(app, &o, ROLE_OWNER, out, e);
}

bool account_first_get(struct app *app, const struct caller *who, const char *id,
                       struct account_first_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.id = id};
    /* not a bare read: the answer shows the caller's role as it is now */
    return access_org(app, who, &ref, ACCESS_ACT, &o, &m, e) && view_of(app, &o, m.role, out, e);
}

/* A new description, by a guarded swap of the org as read. */
static bool describe(struct app *app, struct org_described *o, const char *description,
                     struct error *e)
{
    struct org next = o->org;
    bool applied = false;
    next.updated_at = clock_now_ms();
    if (!store_org_swap_described(app->store, &o->org, &next, description, &applied, e))
        return false;
    if (!applied)
        return access_busy(e, "changed");
    o->org = next;
    snprintf(o->description, sizeof o->description, "%s", description);
    return true;
}

bool account_first_update(struct app *app, const struct caller *who, const char *id,
                          const struct org_request *req, struct account_first_view *out,
                          struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.id = id};
    if (!access_org(app, who, &ref, ACCESS_ACT, &o, &m, e))
        return false;
    /* the role first, for every field given, whatever the request would
     * change: a member learns nothing from sending the current name */
    if ((req->has_name && !roles_require(m.role, ACT_RENAME, e)) ||
        (req->has_description && !roles_require(m.role, ACT_DESCRIBE, e)))
        return false;
    bool rename = req->has_name && strcmp(req->name, o.org.name) != 0;
    if (rename && !lifecycle_name_free(app, &o.org, req->name, "name", e))
        return false;
    FAULT("org_update.after_checks");
    if ((rename && !lifecycle_rename(app, &o.org, req->name, "name", e)) ||
        (req->has_description && !describe(app, &o, req->description, e)))
        return false;
    return view_of(app, &o, m.role, out, e);
}

bool account_first_delete(struct app *app, const struct caller *who, const char *id,
                          struct error *e)
{
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.id = id};
    return access_org(app, who, &ref, ACCESS_ACT, &o, &m, e) &&
           roles_require(m.role, ACT_DELETE, e) && lifecycle_delete(app, &o.org, e);
}
