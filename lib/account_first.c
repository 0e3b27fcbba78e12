#include "account_first.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "accounts.h"
#include "events.h"
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

/* How many slugs a create or a rename tries when the one derived from the
 * name is taken: "grace-labs", then "grace-labs-2" ... */
/* A derived slug that is taken gets the suffix -2, -3, -4, then a random
 * number: a name everybody uses ("Team", or one in a script with no ASCII
 * letters, whose slug is "org") costs a few tries, not one per org made. */
#define SLUG_COUNTED_TRIES 4
#define SLUG_TRIES 8

/* The slug try k (1, 2, ...) asks for: the one the request gives (only
 * k 1), or the display name's. False when there is no try k. */
static bool slug_try(const struct org_request *req, int k, char out[NAME_BUF])
{
    if (req->has_slug) {
        memcpy(out, req->slug, NAME_BUF);
        return k == 1;
    }
    uint32_t r = 0;
    int suffix = k;
    if (k > SLUG_COUNTED_TRIES) {
        if (!random_bytes(&r, sizeof r))
            return false;
        suffix = 10000 + (int)(r % 90000000u); /* 5 to 8 digits */
    }
    names_slug_derive(req->name, suffix, out);
    return k <= SLUG_TRIES;
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
    /* a derived slug that is taken gets a numeric suffix; a given one is
     * the client's to change (409) */
    char slug[NAME_BUF];
    for (int k = 1; slug_try(req, k, slug); k++) {
        error_clear(e);
        lifecycle_draft(slug, req->name, &me, &o.org);
        if (lifecycle_create(app, who, &o.org, req->description, NULL,
                             req->has_slug ? "slug" : "name", e)) {
            snprintf(o.description, sizeof o.description, "%s", req->description);
            return view_of(app, &o, ROLE_OWNER, out, e);
        }
        if (e->kind != ERR_CONFLICT)
            return false;
    }
    return false;
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

/* A new display name and/or description, by a guarded swap of the org as
 * read (the name, and so the collection, stays). */
static bool redescribe(struct app *app, const struct caller *who, struct org_described *o,
                       const struct org_request *req, struct error *e)
{
    struct org next = o->org;
    bool applied = false;
    next.updated_at = clock_now_ms();
    if (req->has_name)
        snprintf(next.display_name, sizeof next.display_name, "%s", req->name);
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, "org.updated", o->org.id, "org", o->org.id, who, NULL);
    if (strcmp(next.display_name, o->org.display_name) != 0)
        event_change_str(ev, "display_name", o->org.display_name, next.display_name);
    if (req->has_description && strcmp(req->description, o->description) != 0)
        event_change_str(ev, "description", o->description, req->description);
    if (!events_guard(app, &o->org.pending, e) ||
        !store_org_swap_described(app->store, &o->org, &next,
                                  req->has_description ? req->description : NULL,
                                  event_batch_list(&b), &applied, e)) {
        event_batch_drop(&b);
        return false;
    }
    if (!applied) {
        event_batch_drop(&b);
        return access_busy(e, "changed");
    }
    event_batch_commit(app, &b);
    o->org = next;
    if (req->has_description)
        snprintf(o->description, sizeof o->description, "%s", req->description);
    return true;
}

/* The slug an update moves the org to: the one the body gives, or the new
 * name's (k: the try, as slug_try); "" when the name keeps the slug (a
 * new display name whose slug is the current one, with or without a
 * suffix, moves nothing). */
static bool new_slug(const struct org *o, const struct org_request *req, int k, char out[NAME_BUF])
{
    out[0] = '\0';
    if (!req->has_slug && (!req->has_name || names_slug_of(o->name, req->name)))
        return k == 1;
    return slug_try(req, k, out);
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
    if (((req->has_name || req->has_slug) && !roles_require(m.role, ACT_RENAME, e)) ||
        (req->has_description && !roles_require(m.role, ACT_DESCRIBE, e)))
        return false;
    char slug[NAME_BUF];
    const char *field = req->has_slug ? "slug" : "name";
    const char *display = req->has_name ? req->name : o.org.display_name;
    if (!new_slug(&o.org, req, 1, slug))
        return false;
    bool rename = slug[0] != '\0' && strcmp(slug, o.org.name) != 0;
    if (rename && req->has_slug && !lifecycle_name_free(app, &o.org, slug, field, e))
        return false;
    FAULT("org_update.after_checks");
    for (int k = 2; rename; k++) {
        error_clear(e);
        if (lifecycle_rename(app, who, &o.org, slug, display, field, e))
            break;
        if (e->kind != ERR_CONFLICT || !new_slug(&o.org, req, k, slug))
            return false; /* a taken slug the body gave, or no free one derived */
    }
    if (((req->has_name && !rename) || req->has_description) && !redescribe(app, who, &o, req, e))
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
           roles_require(m.role, ACT_DELETE, e) && lifecycle_delete(app, who, &o.org, e);
}
