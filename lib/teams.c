#include "teams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "orgs.h"
#include "recovery.h"
#include "roles.h"
#include "util.h"

void team_view_free(struct team_view *v)
{
    free(v->members);
    v->members = NULL;
    v->nmembers = 0;
}

static bool forbidden(struct error *e, enum action a)
{
    return error_set(e, ERR_FORBIDDEN, "your role in this organization does not allow %s",
                     a == ACT_READ ? "this" : action_name(a));
}

bool teams_access(struct app *c, const struct caller *who, const char *id, bool read,
                  struct org_described *o, struct membership *m, struct error *e)
{
    struct error le = ERROR_INIT;
    if (!store_org_by_id_described(c->store, id, &o->org, o->description, sizeof o->description,
                                   &le)) {
        if (!error_absent(e, &le))
            return false;
        return error_set(e, ERR_NOT_FOUND, "organization not found");
    }
    if (o->org.state == ORG_CREATING || o->org.state == ORG_DELETING)
        return error_set(e, ERR_NOT_FOUND, "organization not found");
    if (who->scoped && strcmp(o->org.id, who->org.id) != 0)
        return error_set(e, ERR_FORBIDDEN, "this token is scoped to another organization");
    if (read && who->scoped) {
        /* the live session proves the membership; reading needs no role */
        memset(m, 0, sizeof *m);
        memcpy(m->admin_id, who->admin.id, ID_BUF);
        memcpy(m->org_id, o->org.id, ID_BUF);
        m->role = who->role;
    } else if (!store_membership_get(c->store, who->admin.id, o->org.id, m, &le)) {
        if (!error_absent(e, &le))
            return false;
        return error_set(e, ERR_FORBIDDEN, "you are not a member of this organization");
    }
    if (o->org.state == ORG_RENAMING) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "the organization is being renamed; retry shortly");
    }
    return true;
}

/* The accounts of memberships ms[0..n) into views (username and e-mail). */
static bool member_views(struct app *c, const struct membership *ms, size_t n,
                         struct member_view *out, struct error *e)
{
    char(*ids)[ID_BUF] = calloc(n ? n : 1, ID_BUF);
    struct admin *accounts = calloc(n ? n : 1, sizeof *accounts);
    size_t found = 0;
    bool ok = ids != NULL && accounts != NULL;
    for (size_t i = 0; ok && i < n; i++)
        memcpy(ids[i], ms[i].admin_id, ID_BUF);
    ok = ok ? store_admins_by_ids(c->store, (const char(*)[ID_BUF])ids, n, accounts, &found, e)
            : error_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].m = ms[i];
        for (size_t k = 0; k < found; k++) {
            if (strcmp(accounts[k].id, ms[i].admin_id) == 0) {
                snprintf(out[i].username, sizeof out[i].username, "%s", accounts[k].username);
                snprintf(out[i].email, sizeof out[i].email, "%s", accounts[k].email);
            }
        }
    }
    free(ids);
    free(accounts);
    return ok;
}

/* A page of memberships (by account id) as member views. One more than
 * the page is asked for: there is a next page only if it came. */
static bool members_page(struct app *c, const char *org_id, const char *after, size_t limit,
                         struct member_page *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct membership *ms = calloc(limit + 1, sizeof *ms);
    out->items = calloc(limit + 1, sizeof *out->items);
    if (ms == NULL || out->items == NULL) {
        free(ms);
        free(out->items);
        out->items = NULL;
        return error_set(e, ERR_INTERNAL, "out of memory");
    }
    bool ok = store_members_page(c->store, org_id, after, ms, limit + 1, &out->n, e);
    bool more = ok && out->n > limit;
    if (more)
        out->n = limit;
    ok = ok && member_views(c, ms, out->n, out->items, e);
    if (ok && more)
        memcpy(out->next_cursor, ms[out->n - 1].admin_id, ID_BUF);
    free(ms);
    if (!ok) {
        free(out->items);
        out->items = NULL;
        out->n = 0;
    }
    return ok;
}

/* The view of an org the caller may read: the org, the caller's role, the
 * first TEAM_MEMBERS_SHOWN members. */
static bool view_of(struct app *c, const struct org_described *o, enum role role,
                    struct team_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    out->org = *o;
    out->role = role;
    struct member_page page;
    if (!members_page(c, o->org.id, "", TEAM_MEMBERS_SHOWN, &page, e))
        return false;
    out->members = page.items;
    out->nmembers = page.n;
    return true;
}

bool teams_list(struct app *c, const struct caller *who, const struct page_request *page,
                struct team_page *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t limit = (size_t)page->limit;
    /* one membership more than the page: there is a next page only if it came */
    struct membership *ms = calloc(limit + 1, sizeof *ms);
    char(*ids)[ID_BUF] = calloc(limit, ID_BUF);
    struct org_described *orgs = calloc(limit, sizeof *orgs);
    out->items = calloc(limit, sizeof *out->items);
    bool ok = ms != NULL && ids != NULL && orgs != NULL && out->items != NULL;
    size_t n = 0, found = 0;
    if (!ok) {
        error_set(e, ERR_INTERNAL, "out of memory");
    } else if (who->scoped) {
        /* an org-scoped token sees its own org, on the first page */
        /* the role as it is now, not as the token was issued */
        struct error le = ERROR_INIT;
        if ((page->cursor[0] == '\0' || strcmp(page->cursor, who->org.id) < 0) &&
            store_membership_get(c->store, who->admin.id, who->org.id, &ms[0], &le))
            n = 1;
        else if (le.kind != ERR_OK && !error_absent(e, &le))
            ok = false;
    } else {
        ok = store_memberships_page(c->store, who->admin.id, page->cursor, ms, limit + 1, &n, e);
    }
    bool more = ok && n > limit;
    if (more)
        n = limit;
    for (size_t i = 0; ok && i < n; i++)
        memcpy(ids[i], ms[i].org_id, ID_BUF);
    if (ok)
        ok = store_orgs_by_ids(c->store, (const char(*)[ID_BUF])ids, n, orgs, &found, e);
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

bool teams_create(struct app *c, const struct caller *who, const struct team_request *req,
                  const char *client, struct team_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (who->scoped)
        return error_set(e, ERR_FORBIDDEN,
                         "creating an organization needs an account token (POST /auth/signin); "
                         "this one is scoped to one organization");
    struct org_described o = {0};
    struct admin me;
    if (!sessions_account(c, who, &me, e) ||
        !orgs_create_for(c, &me, req->name, req->description, client, &o.org, e))
        return false;
    snprintf(o.description, sizeof o.description, "%s", req->description);
    return view_of(c, &o, ROLE_OWNER, out, e);
}

bool teams_get(struct app *c, const struct caller *who, const char *id, struct team_view *out,
               struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    /* not a bare read: the answer shows the caller's role as it is now */
    return teams_access(c, who, id, false, &o, &m, e) && view_of(c, &o, m.role, out, e);
}

bool teams_update(struct app *c, const struct caller *who, const char *id,
                  const struct team_request *req, struct team_view *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    if (!teams_access(c, who, id, false, &o, &m, e))
        return false;
    /* the role first, whatever the request would change: a member learns
     * nothing from sending the current name */
    if (req->has_name && !roles_may(m.role, ACT_RENAME))
        return forbidden(e, ACT_RENAME);
    bool rename = req->has_name && strcmp(req->name, o.org.name) != 0;
    if (req->has_description && !roles_may(m.role, ACT_DESCRIBE))
        return forbidden(e, ACT_DESCRIBE);
    if (rename && !orgs_name_free(c, &o.org, req->name, "name", e))
        return false;
    FAULT("team_update.after_checks");
    if (rename && !orgs_rename(c, &o.org, req->name, "name", e))
        return false;
    if (req->has_description) {
        struct org next = o.org;
        bool applied = false;
        next.updated_at = clock_now_ms();
        if (!store_org_swap_described(c->store, &o.org, &next, req->description, &applied, e))
            return false;
        if (!applied) {
            e->retry_after = 1;
            return error_set(e, ERR_BUSY, "the organization changed meanwhile; retry");
        }
        o.org = next;
        snprintf(o.description, sizeof o.description, "%s", req->description);
    }
    return view_of(c, &o, m.role, out, e);
}

bool teams_delete(struct app *c, const struct caller *who, const char *id, struct error *e)
{
    struct org_described o;
    struct membership m;
    if (!teams_access(c, who, id, false, &o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_DELETE))
        return forbidden(e, ACT_DELETE);
    return orgs_delete_org(c, &o.org, e);
}

bool teams_members(struct app *c, const struct caller *who, const char *id,
                   const struct page_request *page, struct member_page *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    return teams_access(c, who, id, true, &o, &m, e) &&
           members_page(c, o.org.id, page->cursor, (size_t)page->limit, out, e);
}

/* The org's owner_id names an owner: before that owner leaves or is
 * demoted, another one (the caller has made sure there is one). A failure
 * is logged; the document is only a pointer (the memberships decide who
 * may do what). */
static void owner_follows(struct app *c, struct org *o, const char *gone)
{
    if (strcmp(o->owner_id, gone) != 0)
        return;
    struct membership owner;
    struct error e = ERROR_INIT;
    bool applied = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        struct org next = *o;
        if (!store_member_with_role(c->store, o->id, ROLE_OWNER, gone, &owner, &e) ||
            (attempt > 0 && !store_org_by_id(c->store, o->id, o, &e)))
            break;
        struct admin a;
        if (!store_admin_by_id(c->store, owner.admin_id, &a, &e))
            break;
        next = *o;
        memcpy(next.owner_id, owner.admin_id, ID_BUF);
        memcpy(next.owner_email, a.email, EMAIL_BUF);
        if (!store_org_swap(c->store, o, &next, &applied, &e))
            break;
        if (applied)
            *o = next;
    }
    if (!applied)
        log_emit(LOG_WARN, "owner_id not moved to another owner",
                 json_pack("{s:s, s:s}", "org_id", o->id, "error", e.message));
}

/* The target's membership: 404 when it has none here. */
static bool member_of(struct app *c, const char *org_id, const char *account_id,
                      struct membership *out, struct error *e)
{
    struct error le = ERROR_INIT;
    if (store_membership_get(c->store, account_id, org_id, out, &le))
        return true;
    if (!error_absent(e, &le))
        return false;
    return error_set(e, ERR_NOT_FOUND, "no such member");
}

/* There is an owner besides `but`, or 409 (the last owner must stay). */
static bool another_owner(struct app *c, const char *org_id, const char *what, struct error *e)
{
    int64_t owners = 0;
    if (!store_members_count_role(c->store, org_id, ROLE_OWNER, &owners, e))
        return false;
    if (owners > 1)
        return true;
    return error_set(e, ERR_CONFLICT, "the last owner cannot %s; make another member owner first",
                     what);
}

/* After a write that may have taken the last owner (two owners demoting or
 * removing each other at once both saw the other): true if one is left. */
static bool owner_left(struct app *c, const char *org_id)
{
    int64_t owners = 1;
    struct error e = ERROR_INIT;
    return !store_members_count_role(c->store, org_id, ROLE_OWNER, &owners, &e) || owners > 0;
}

/* One try at a role change on target (as read); *applied false: the
 * membership changed meanwhile (read it again). */
static bool set_role_once(struct app *c, struct org *o, struct membership *target, enum role role,
                          bool *applied, struct error *e)
{
    *applied = false;
    bool demote = target->role == ROLE_OWNER && role != ROLE_OWNER;
    if (demote && !another_owner(c, o->id, "be demoted", e))
        return false;
    if (target->role == role) {
        *applied = true;
        return true;
    }
    if (demote) /* first: a crash after it leaves owner_id on an owner either way */
        owner_follows(c, o, target->admin_id);
    if (!store_membership_set_role(c->store, target, role, applied, e) || !*applied)
        return !*applied && e->kind == ERR_OK;
    target->version++;
    if (demote && !owner_left(c, o->id)) {
        struct error ue = ERROR_INIT;
        bool back = false;
        store_membership_set_role(c->store, target, ROLE_OWNER, &back, &ue);
        return error_set(e, ERR_CONFLICT, "the last owner cannot be demoted");
    }
    target->role = role;
    return true;
}

bool teams_set_role(struct app *c, const struct caller *who, const char *id, const char *account_id,
                    enum role role, struct member_view *out, struct error *e)
{
    struct org_described o;
    struct membership m, target;
    if (!teams_access(c, who, id, false, &o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_SET_ROLE))
        return forbidden(e, ACT_SET_ROLE);
    if (role == ROLE_OWNER && !roles_may(m.role, ACT_GRANT_OWNER))
        return forbidden(e, ACT_GRANT_OWNER);
    /* a guarded change of the membership as read: a removal (or another
     * role change) that got there first makes this one read it again */
    bool applied = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        if (!member_of(c, o.org.id, account_id, &target, e) ||
            !set_role_once(c, &o.org, &target, role, &applied, e))
            return false;
    }
    if (!applied) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "the membership is changing; retry shortly");
    }
    log_emit(LOG_INFO, "member role changed",
             json_pack("{s:s, s:s, s:s}", "org_id", o.org.id, "admin_id", target.admin_id, "role",
                       role_name(role)));
    return member_views(c, &target, 1, out, e);
}

/* The steps of a removal after its membership was marked and the sessions
 * in the org ended: owner_id moves off the account, an account made by
 * /org/create with no other org goes, then the membership. Each step is
 * idempotent, so recovery runs them again for a removal a crash left. */
static bool finish_removal(struct app *c, const char *org_id, const char *account_id,
                           struct error *e)
{
    struct org o;
    struct error le = ERROR_INIT;
    if (store_org_by_id(c->store, org_id, &o, &le))
        owner_follows(c, &o, account_id);
    else if (!error_absent(e, &le))
        return false;
    return lifecycle_release_account(c, account_id, org_id, e) &&
           store_membership_delete(c->store, account_id, org_id, e);
}

/* Ends the account's sessions in the org (and forgets them here). */
static bool end_sessions_in(struct app *c, const char *account_id, const char *org_id,
                            int64_t *ended, struct error *e)
{
    return sessions_end_all(c, account_id, org_id, NULL, END_MEMBER_REMOVED, ended, e);
}

/* One try at marking target (as read) removed by the caller (whose
 * membership is m); *applied false: it changed meanwhile. */
static bool mark_once(struct app *c, const struct caller *who, const char *org_id,
                      const struct membership *m, struct membership *target, bool *applied,
                      struct error *e)
{
    *applied = false;
    bool self = strcmp(target->admin_id, who->admin.id) == 0;
    enum action need = target->role == ROLE_MEMBER ? ACT_REMOVE_MEMBER : ACT_REMOVE_PRIVILEGED;
    if (!self && !roles_may(m->role, need))
        return forbidden(e, need);
    const char *what = self ? "leave" : "be removed";
    if (target->role == ROLE_OWNER && !another_owner(c, org_id, what, e))
        return false;
    /* marked first: from here on the removal is finished, by this request
     * or by recovery; and a marked owner no longer counts, so two owners
     * removing each other at once cannot both go */
    if (!store_membership_mark_removing(c->store, target, clock_now_ms(), applied, e) || !*applied)
        return !*applied && e->kind == ERR_OK;
    target->version++;
    if (target->role == ROLE_OWNER && !owner_left(c, org_id)) {
        struct error ue = ERROR_INIT;
        bool back = false;
        store_membership_mark_removing(c->store, target, 0, &back, &ue);
        return error_set(e, ERR_CONFLICT, "the last owner cannot %s", what);
    }
    return true;
}

bool teams_remove(struct app *c, const struct caller *who, const char *id, const char *account_id,
                  struct error *e)
{
    struct org_described o;
    struct membership m, target;
    if (!teams_access(c, who, id, false, &o, &m, e))
        return false;
    bool applied = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        if (!member_of(c, o.org.id, account_id, &target, e) ||
            !mark_once(c, who, o.org.id, &m, &target, &applied, e))
            return false;
    }
    if (!applied) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "the membership is changing; retry shortly");
    }
    account_id = target.admin_id; /* as stored: the path's may be spelt in capitals */
    bool self = strcmp(account_id, who->admin.id) == 0;
    int64_t ended = 0;
    if (!end_sessions_in(c, account_id, o.org.id, &ended, e))
        return false;
    FAULT("member_remove.after_sessions");
    if (!finish_removal(c, o.org.id, account_id, e))
        return false;
    FAULT("member_remove.after_membership");
    log_emit(LOG_INFO, self ? "member left" : "member removed",
             json_pack("{s:s, s:s, s:I}", "org_id", o.org.id, "admin_id", account_id, "sessions",
                       (json_int_t)ended));
    return true;
}

bool teams_recover(struct app *c, int64_t before_ms, int *done, struct error *e)
{
    *done = 0;
    struct membership stuck[32];
    size_t n = 0;
    if (!store_memberships_removing(c->store, before_ms, stuck, 32, &n, e))
        return false;
    for (size_t i = 0; i < n; i++) {
        struct error le = ERROR_INIT;
        int64_t ended = 0;
        bool ok = end_sessions_in(c, stuck[i].admin_id, stuck[i].org_id, &ended, &le) &&
                  finish_removal(c, stuck[i].org_id, stuck[i].admin_id, &le);
        if (ok)
            (*done)++;
        recovery_note(ok ? RECOVERY_FINISH_REMOVAL : RECOVERY_FAILED);
        log_emit(ok ? LOG_INFO : LOG_WARN, "recovery",
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "action", "finish_removal", "org_id",
                           stuck[i].org_id, "admin_id", stuck[i].admin_id, "instance",
                           c->instance_id, "error", ok ? "" : le.message));
    }
    return true;
}
