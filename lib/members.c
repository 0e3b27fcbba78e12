#include "members.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "events.h"
#include "faults.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "roles.h"
#include "util.h"

/* The accounts of memberships ms[0..n) into views (username and e-mail). */
static bool member_views(struct app *app, const struct membership *ms, size_t n,
                         struct member_view *out, struct error *e)
{
    char(*ids)[ID_BUF] = calloc(n ? n : 1, ID_BUF);
    struct account *accounts = calloc(n ? n : 1, sizeof *accounts);
    size_t found = 0;
    bool ok = ids != NULL && accounts != NULL;
    for (size_t i = 0; ok && i < n; i++)
        memcpy(ids[i], ms[i].account_id, ID_BUF);
    ok = ok ? store_accounts_by_ids(app->store, (const char(*)[ID_BUF])ids, n, accounts, &found, e)
            : error_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].m = ms[i];
        for (size_t k = 0; k < found; k++) {
            if (strcmp(accounts[k].id, ms[i].account_id) == 0) {
                snprintf(out[i].username, sizeof out[i].username, "%s", accounts[k].username);
                snprintf(out[i].email, sizeof out[i].email, "%s", accounts[k].email);
            }
        }
    }
    free(ids);
    free(accounts);
    return ok;
}

/* One more than the page is asked for: there is a next page only if it came. */
bool members_page(struct app *app, const char *org_id, const char *after, size_t limit,
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
    bool ok = store_members_page(app->store, org_id, after, ms, limit + 1, &out->n, e);
    bool more = ok && out->n > limit;
    if (more)
        out->n = limit;
    ok = ok && member_views(app, ms, out->n, out->items, e);
    if (ok && more)
        memcpy(out->next_cursor, ms[out->n - 1].account_id, ID_BUF);
    free(ms);
    if (!ok) {
        free(out->items);
        out->items = NULL;
        out->n = 0;
    }
    return ok;
}

bool members_list(struct app *app, const struct caller *who, const char *org_id,
                  const struct page_request *page, struct member_page *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.id = org_id};
    return access_org(app, who, &ref, ACCESS_READ, &o, &m, e) &&
           members_page(app, o.org.id, page->cursor, (size_t)page->limit, out, e);
}

/* The org's owner_id names an owner: before that owner leaves or is
 * demoted, another one (the caller has made sure there is one). A failure
 * is logged; the document is only a pointer (the memberships decide who
 * may do what). */
static void owner_follows(struct app *app, struct org *o, const char *gone)
{
    if (strcmp(o->owner_id, gone) != 0)
        return;
    struct membership owner;
    struct account a;
    struct error e = ERROR_INIT;
    bool applied = false, found = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        if (!store_member_with_role(app->store, o->id, ROLE_OWNER, gone, &owner, &found, &e) ||
            !found ||
            (attempt > 0 && (!store_org_by_id(app->store, o->id, o, &found, &e) || !found)))
            break;
        if (!store_account_by_id(app->store, owner.account_id, &a, &found, &e) || !found)
            break;
        struct org next = *o;
        memcpy(next.owner_id, owner.account_id, ID_BUF);
        memcpy(next.owner_email, a.email, EMAIL_BUF);
        if (!store_org_swap(app->store, o, &next, &applied, &e))
            break;
        if (applied)
            *o = next;
    }
    if (!applied)
        log_emit(LOG_WARN, "owner_id not moved to another owner",
                 json_pack("{s:s, s:s}", "org_id", o->id, "error",
                           e.kind != ERR_OK ? e.message : "no other owner found"));
}

/* The target's membership: 404 when it has none here. */
static bool member_of(struct app *app, const char *org_id, const char *account_id,
                      struct membership *out, struct error *e)
{
    bool found = false;
    if (!store_membership_get(app->store, account_id, org_id, out, &found, e))
        return false;
    return found || error_set(e, ERR_NOT_FOUND, "no such member");
}

/* There is an owner besides `but`, or 409 (the last owner must stay). */
static bool another_owner(struct app *app, const char *org_id, const char *what, struct error *e)
{
    int64_t owners = 0;
    if (!store_members_count_role(app->store, org_id, ROLE_OWNER, &owners, e))
        return false;
    if (owners > 1)
        return true;
    return error_set(e, ERR_CONFLICT, "the last owner cannot %s; make another member owner first",
                     what);
}

/* After a write that may have taken the last owner (two owners demoting or
 * removing each other at once both saw the other): true if one is left. */
static bool owner_left(struct app *app, const char *org_id)
{
    int64_t owners = 1;
    struct error e = ERROR_INIT;
    return !store_members_count_role(app->store, org_id, ROLE_OWNER, &owners, &e) || owners > 0;
}

/* One try at a role change on target (as read); *applied false: the
 * membership changed meanwhile (read it again). */
static bool set_role_once(struct app *app, const struct caller *who, struct org *o,
                          struct membership *target, enum role role, bool *applied, struct error *e)
{
    *applied = false;
    bool demote = target->role == ROLE_OWNER && role != ROLE_OWNER;
    if (demote && !another_owner(app, o->id, "be demoted", e))
        return false;
    if (target->role == role) {
        *applied = true;
        return true;
    }
    if (demote) /* first: a crash after it leaves owner_id on an owner either way */
        owner_follows(app, o, target->account_id);
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, "member.role_changed", o->id, "member", target->account_id, who, NULL);
    event_change_str(ev, "role", role_name(target->role), role_name(role));
    if (!events_guard(app, &target->pending, e) ||
        !store_membership_set_role(app->store, target, role, event_batch_list(&b), applied, e) ||
        !*applied) {
        event_batch_drop(&b);
        return *applied || e->kind == ERR_OK;
    }
    target->version++;
    if (demote && !owner_left(app, o->id)) {
        /* undone: its draft goes with the role put back */
        static const struct pending_list none = {NULL, 0};
        struct error ue = ERROR_INIT;
        bool back = false;
        store_membership_set_role(app->store, target, ROLE_OWNER, &none, &back, &ue);
        event_batch_drop(&b);
        return error_set(e, ERR_CONFLICT, "the last owner cannot be demoted");
    }
    event_batch_refs(&b, &target->pending);
    event_batch_commit(app, &b);
    target->role = role;
    return true;
}

bool members_set_role(struct app *app, const struct caller *who, const char *org_id,
                      const char *account_id, enum role role, struct member_view *out,
                      struct error *e)
{
    struct org_described o;
    struct membership m, target;
    const struct access_ref ref = {.id = org_id};
    if (!access_org(app, who, &ref, ACCESS_ACT, &o, &m, e))
        return false;
    if (!roles_require(m.role, ACT_SET_ROLE, e) ||
        (role == ROLE_OWNER && !roles_require(m.role, ACT_GRANT_OWNER, e)))
        return false;
    /* a guarded change of the membership as read: a removal (or another
     * role change) that got there first makes this one read it again */
    bool applied = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        if (!member_of(app, o.org.id, account_id, &target, e) ||
            !set_role_once(app, who, &o.org, &target, role, &applied, e))
            return false;
    }
    if (!applied)
        return access_busy(e, "changed");
    log_emit(LOG_INFO, "member role changed",
             json_pack("{s:s, s:s, s:s}", "org_id", o.org.id, "account_id", target.account_id,
                       "role", role_name(role)));
    return member_views(app, &target, 1, out, e);
}

/* The steps of a removal after its membership was marked and the sessions
 * in the org ended: owner_id moves off the account, an account made by
 * /org/create with no other org goes, then the membership. Each step is
 * idempotent, so recovery runs them again for a removal a crash left. */
static bool finish_removal(struct app *app, const struct membership *marked, struct error *e)
{
    const char *org_id = marked->org_id, *account_id = marked->account_id;
    struct org o;
    bool found = false;
    /* the removal's event is in the chain before its membership goes */
    if (!events_guard(app, &marked->pending, e) ||
        !store_org_by_id(app->store, org_id, &o, &found, e))
        return false;
    if (found)
        owner_follows(app, &o, account_id);
    return lifecycle_release_account(app, account_id, org_id, e) &&
           store_membership_delete(app->store, account_id, org_id, e);
}

/* Ends the account's sessions in the org (and forgets them here). */
static bool end_sessions_in(struct app *app, const char *account_id, const char *org_id,
                            int64_t *ended, struct error *e)
{
    return sessions_end_all(app, account_id, org_id, NULL, END_MEMBER_REMOVED, ended, e);
}

/* One try at marking target (as read) removed by the caller (whose
 * membership is m); *applied false: it changed meanwhile. */
static bool mark_once(struct app *app, const struct caller *who, const char *org_id,
                      const struct membership *m, struct membership *target, bool *applied,
                      struct error *e)
{
    *applied = false;
    bool self = strcmp(target->account_id, who->account.id) == 0;
    enum action need = target->role == ROLE_MEMBER ? ACT_REMOVE_MEMBER : ACT_REMOVE_PRIVILEGED;
    if (!self && !roles_require(m->role, need, e))
        return false;
    const char *what = self ? "leave" : "be removed";
    if (target->role == ROLE_OWNER && !another_owner(app, org_id, what, e))
        return false;
    /* marked first: from here on the removal is finished, by this request
     * or by recovery; and a marked owner no longer counts, so two owners
     * removing each other at once cannot both go. The mark carries the
     * event. */
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, self ? "member.left" : "member.removed", org_id, "member", target->account_id,
                who, NULL);
    event_change_str(ev, "role", role_name(target->role), NULL);
    if (!events_guard(app, &target->pending, e) ||
        !store_membership_mark_removing(app->store, target, clock_now_ms(), event_batch_list(&b),
                                        applied, e) ||
        !*applied) {
        event_batch_drop(&b);
        return *applied || e->kind == ERR_OK;
    }
    target->version++;
    if (target->role == ROLE_OWNER && !owner_left(app, org_id)) {
        static const struct pending_list none = {NULL, 0};
        struct error ue = ERROR_INIT;
        bool back = false;
        store_membership_mark_removing(app->store, target, 0, &none, &back, &ue);
        event_batch_drop(&b);
        return error_set(e, ERR_CONFLICT, "the last owner cannot %s", what);
    }
    event_batch_refs(&b, &target->pending);
    event_batch_commit(app, &b);
    return true;
}

bool members_remove(struct app *app, const struct caller *who, const char *org_id,
                    const char *account_id, struct error *e)
{
    struct org_described o;
    struct membership m, target;
    const struct access_ref ref = {.id = org_id};
    if (!access_org(app, who, &ref, ACCESS_ACT, &o, &m, e))
        return false;
    bool applied = false;
    for (int attempt = 0; attempt < 3 && !applied; attempt++) {
        if (!member_of(app, o.org.id, account_id, &target, e) ||
            !mark_once(app, who, o.org.id, &m, &target, &applied, e))
            return false;
    }
    if (!applied)
        return access_busy(e, "changed");
    account_id = target.account_id; /* as stored: the path's may be spelt in capitals */
    bool self = strcmp(account_id, who->account.id) == 0;
    int64_t ended = 0;
    if (!end_sessions_in(app, account_id, o.org.id, &ended, e))
        return false;
    FAULT("member_remove.after_sessions");
    if (!finish_removal(app, &target, e))
        return false;
    FAULT("member_remove.after_membership");
    log_emit(LOG_INFO, self ? "member left" : "member removed",
             json_pack("{s:s, s:s, s:I}", "org_id", o.org.id, "account_id", account_id, "sessions",
                       (json_int_t)ended));
    return true;
}

bool members_recover(struct app *app, int64_t before_ms, int *done, struct error *e)
{
    *done = 0;
    struct membership stuck[32];
    size_t n = 0;
    if (!store_memberships_removing(app->store, before_ms, stuck, 32, &n, e))
        return false;
    for (size_t i = 0; i < n; i++) {
        struct error le = ERROR_INIT;
        int64_t ended = 0;
        bool ok = end_sessions_in(app, stuck[i].account_id, stuck[i].org_id, &ended, &le) &&
                  finish_removal(app, &stuck[i], &le);
        if (ok)
            (*done)++;
        metrics_recovery_action(ok ? RECOVERY_FINISH_REMOVAL : RECOVERY_FAILED);
        log_emit(ok ? LOG_INFO : LOG_WARN, "recovery",
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "action", "finish_removal", "org_id",
                           stuck[i].org_id, "account_id", stuck[i].account_id, "instance",
                           app->instance_id, "error", ok ? "" : le.message));
    }
    return true;
}
