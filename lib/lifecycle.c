#include "lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "log.h"
#include "util.h"

bool lifecycle_collection_drop_unclaimed(struct app *c, const struct org *o, struct error *e)
{
    bool claimed = true;
    if (!store_org_claiming(c->store, o->collection, o->id, &claimed, e))
        return false;
    if (claimed) {
        /* another org's data, whatever o says: never ours to drop */
        log_emit(LOG_ERROR, "collection kept: another organization claims it",
                 json_pack("{s:s, s:s}", "org_id", o->id, "collection", o->collection));
        return true;
    }
    return store_collection_drop(c->store, o->collection, e);
}

bool lifecycle_release_account(struct app *c, const char *id, const char *except_org_id,
                               struct error *e)
{
    bool deleted = false;
    if (!store_admin_delete_if_unattached(c->store, id, except_org_id, &deleted, e))
        return false;
    /* a crash between the two leaves sessions of no account: they refuse
     * every request already, and `orgd check` removes them */
    if (!deleted)
        return true;
    bool ok = store_sessions_delete_admin(c->store, id, e);
    session_cache_forget_account(c->sessions, id, NULL); /* after the write */
    return ok;
}

bool lifecycle_create_undo(struct app *c, const struct org *o, bool drop_collection,
                           struct error *e)
{
    if (drop_collection && !lifecycle_collection_drop_unclaimed(c, o, e))
        return false;
    if (!store_membership_delete(c->store, o->owner_id, o->id, e) ||
        !lifecycle_release_account(c, o->owner_id, o->id, e))
        return false;
    bool applied = false;
    if (!store_org_delete(c->store, o->id, o->version, &applied, e))
        return false;
    if (!applied)
        return error_set(e, ERR_BUSY, "the organization changed while it was being undone");
    return true;
}

bool lifecycle_settle(struct app *c, struct org *o, struct org next, const char *doing,
                      struct error *e)
{
    next.state = ORG_ACTIVE;
    next.has_op = false;
    memset(&next.op, 0, sizeof next.op);
    bool applied = false;
    if (!store_org_swap(c->store, o, &next, &applied, e))
        return false;
    if (!applied)
        return error_set(e, ERR_BUSY, "the organization changed while it was being %s", doing);
    *o = next;
    return true;
}

bool lifecycle_rename_undo(struct app *c, struct org *o, struct error *e)
{
    struct org back = *o;
    snprintf(back.name, sizeof back.name, "%s", o->op.from_name);
    snprintf(back.name_key, sizeof back.name_key, "%s", o->op.from_key);
    snprintf(back.collection, sizeof back.collection, "%s", o->op.from_collection);
    back.updated_at = clock_now_ms();
    return lifecycle_settle(c, o, back, "renamed", e);
}

bool lifecycle_rename_finish(struct app *c, struct org *o, struct error *e)
{
    const char *from = o->op.from_collection, *to = o->op.to_collection;
    struct error step = ERROR_INIT;
    if (strcmp(from, to) != 0 && !store_collection_rename(c->store, from, to, &step)) {
        bool from_exists = false, to_exists = false;
        if (step.kind != ERR_NOT_FOUND && step.kind != ERR_CONFLICT) {
            *e = step;
            return false;
        }
        if (!store_collection_exists(c->store, from, &from_exists, e) ||
            !store_collection_exists(c->store, to, &to_exists, e))
            return false;
        if (from_exists && to_exists) {
            /* the target is someone else's: give the old name back if we can */
            log_emit(LOG_ERROR, "rename blocked by an existing collection",
                     json_pack("{s:s, s:s, s:s}", "org_id", o->id, "from", from, "to", to));
            if (!lifecycle_rename_undo(c, o, e))
                return false;
            return error_set(e, ERR_CONFLICT,
                             "a collection named %s already exists and belongs to no "
                             "organization; an operator should run `orgd check`",
                             to);
        }
        if (!from_exists && !to_exists) {
            /* nothing to move: the data was lost outside orgd; keep the
             * invariant (an active org has its collection) and say so */
            log_emit(LOG_ERROR, "tenant collection missing during rename",
                     json_pack("{s:s, s:s}", "org_id", o->id, "collection", from));
            if (!store_collection_create(c->store, to, &step) && step.kind != ERR_CONFLICT) {
                *e = step;
                return false;
            }
        }
        /* !from_exists && to_exists: moved already (an earlier attempt) */
    }
    FAULT("rename.after_collection");

    struct org done = *o;
    snprintf(done.collection, sizeof done.collection, "%s", to);
    done.updated_at = clock_now_ms();
    return lifecycle_settle(c, o, done, "renamed", e);
}

struct id_list {
    char (*ids)[ID_BUF];
    size_t n, cap;
    bool oom;
};

static bool collect_admin(const struct membership *m, void *ud)
{
    struct id_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->ids, cap * sizeof *l->ids);
        if (p == NULL) {
            l->oom = true;
            return false;
        }
        l->ids = p;
        l->cap = cap;
    }
    memcpy(l->ids[l->n++], m->admin_id, ID_BUF);
    return true;
}

/* The accounts made by /org/create among ids[0..n) that belong to no other
 * org go; the others (signed up, invited, or in other orgs) stay. One read
 * picks the candidates, a hundred ids at a time. */
static bool release_accounts(struct app *c, const struct org *o, char (*ids)[ID_BUF], size_t n,
                             struct error *e)
{
    char disposable[100][ID_BUF];
    for (size_t at = 0; at < n; at += 100) {
        size_t chunk = n - at < 100 ? n - at : 100, found = 0;
        if (!store_admins_disposable(c->store, (const char(*)[ID_BUF])ids + at, chunk, disposable,
                                     &found, e))
            return false;
        for (size_t i = 0; i < found; i++) {
            if (!lifecycle_release_account(c, disposable[i], o->id, e))
                return false;
        }
    }
    return true;
}

bool lifecycle_delete_rest(struct app *c, const struct org *o, struct error *e)
{
    FAULT("delete.after_drop");
    bool extras = store_org_extras_delete(c->store, o->id, e);
    session_cache_forget_org(c->sessions, o->id); /* after the write */
    if (!extras)
        return false;

    /* accounts whose only org this is go with it; their memberships last, so
     * that a retry after a crash still finds them */
    struct id_list admins = {0};
    bool ok = store_membership_each(c->store, o->id, collect_admin, &admins, e);
    bool owner_listed = false;
    for (size_t i = 0; ok && i < admins.n; i++)
        owner_listed = owner_listed || strcmp(admins.ids[i], o->owner_id) == 0;
    struct membership owner = {0};
    memcpy(owner.admin_id, o->owner_id, ID_BUF);
    if (ok && !owner_listed)
        collect_admin(&owner, &admins);
    if (ok && admins.oom)
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    ok = ok && release_accounts(c, o, admins.ids, admins.n, e);
    free(admins.ids);
    if (!ok)
        return false;
    FAULT("delete.after_admins");
    if (!store_memberships_delete_org(c->store, o->id, e))
        return false;
    FAULT("delete.after_memberships");
    bool applied = false;
    if (!store_org_delete(c->store, o->id, o->version, &applied, e))
        return false;
    if (!applied)
        return error_set(e, ERR_BUSY, "the organization changed while it was being deleted");
    return true;
}

bool lifecycle_delete_finish(struct app *c, const struct org *o, struct error *e)
{
    return lifecycle_collection_drop_unclaimed(c, o, e) && lifecycle_delete_rest(c, o, e);
}
