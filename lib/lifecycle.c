/* lifecycle.c — create, rename and delete as state machines on the org
 * document (the states first, then every transition and the function
 * that makes it, next to the code, as sqlite's pager.c does).
 *
 * States (organizations.state): creating, active, renaming, deleting. An
 * org in any state but active carries `op`: when it started, when it was
 * last touched and by which recovering instance, and for a rename where
 * its collection comes from and goes to.
 *
 *   (none)   -> creating  lifecycle_create: the document, name reserved  [create.after_metadata]
 *   creating              the owner's account (/org/create only)        [create.after_admin]
 *   creating              the owner's membership                        [create.after_membership]
 *   creating              the collection, asked for first, never adopted [create.after_collection]
 *   creating -> active    lifecycle_settle
 *   creating -> (none)    lifecycle_create_undo: collection, membership, account, document
 *                         (after a failed step, and by recovery)
 *   active   -> renaming  lifecycle_rename: new name taken, old released [rename.after_reserve]
 *   renaming              lifecycle_rename_finish: the collection moved  [rename.after_collection]
 *   renaming -> active    lifecycle_settle under the new name; rename_undo under the old
 *                         when the move provably did not happen
 *   active   -> deleting  lifecycle_delete: marked                       [delete.after_mark]
 *   deleting              the collection dropped, unless another org claims it
 *   deleting              its invitations and org sessions; accounts it made
 *                         left without an org                            [delete.after_drop]
 *                                                                        [delete.after_admins]
 *   deleting              its memberships                                [delete.after_memberships]
 *   deleting -> (none)    the document
 *   deleting -> active    a failed drop, with the collection provably still there
 *
 * Recovery (recovery.c) claims an org stuck past RECOVERY_AGE_SECONDS with
 * a guarded swap and calls lifecycle_create_undo, lifecycle_rename_finish
 * or lifecycle_delete_finish: a create is undone (its client never got a
 * 201), a rename or a delete finished. Every step is idempotent, so a step
 * repeated after a crash does no harm. A member's removal and an
 * invitation's accept are state machines of their own, in members.c and
 * invitations.c.
 */
#include "lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "faults.h"
#include "log.h"
#include "util.h"

/* ---- shared steps ---- */

static bool drop_unclaimed(struct app *app, const struct org *o, struct error *e)
{
    bool claimed = true;
    if (!store_org_claiming(app->store, o->collection, o->id, &claimed, e))
        return false;
    if (claimed) {
        /* another org's data, whatever o says: never ours to drop */
        log_emit(LOG_ERROR, "collection kept: another organization claims it",
                 json_pack("{s:s, s:s}", "org_id", o->id, "collection", o->collection));
        return true;
    }
    return store_collection_drop(app->store, o->collection, e);
}

bool lifecycle_release_account(struct app *app, const char *id, const char *except_org_id,
                               struct error *e)
{
    bool deleted = false;
    if (!store_account_delete_if_unattached(app->store, id, except_org_id, &deleted, e))
        return false;
    /* a crash between the two leaves sessions of no account: they refuse
     * every request already, and `orgd check` removes them */
    if (!deleted)
        return true;
    bool ok = store_sessions_delete_account(app->store, id, e);
    session_cache_forget_account(app->sessions, id, NULL); /* after the write */
    return ok;
}

bool lifecycle_settle(struct app *app, struct org *o, struct org next, const char *doing,
                      struct event_batch *b, struct error *e)
{
    next.state = ORG_ACTIVE;
    next.has_op = false;
    memset(&next.op, 0, sizeof next.op);
    bool applied = false;
    /* the drafts the document carries are those of operations that ended
     * before this one: in the chain first, then replaced */
    static const struct pending_list none = {NULL, 0};
    const struct pending_list *carried = b != NULL ? event_batch_list(b) : &none;
    if (!events_guard(app, &o->pending, e)) {
        if (b != NULL)
            event_batch_drop(b);
        return false;
    }
    bool ok = store_org_swap_described(app->store, o, &next, NULL, carried, &applied, e);
    if (!ok || !applied) {
        if (b != NULL)
            event_batch_drop(b);
        return ok ? error_set(e, ERR_BUSY, "the organization changed while it was being %s", doing)
                  : false;
    }
    if (b != NULL)
        event_batch_commit(app, b);
    *o = next;
    return true;
}

/* The event of an org operation, drafted for `who` (NULL: the system). */
static struct event *org_event(struct event_batch *b, const char *action, const struct org *o,
                               const struct caller *who, const char *account_id)
{
    struct event *ev = event_batch_add(b);
    if (ev != NULL)
        event_draft(ev, action, o->id, "org", o->id, who, account_id);
    return ev;
}

/* ---- create ---- */

void lifecycle_draft(const char *name, const char *display_name, const struct account *owner,
                     struct org *o)
{
    int64_t now = clock_now_ms();
    store_new_id(o->id);
    snprintf(o->name, sizeof o->name, "%s", name);
    snprintf(o->display_name, sizeof o->display_name, "%s",
             display_name != NULL ? display_name : name);
    names_org_key(name, o->name_key);
    names_collection(o->name_key, o->collection);
    memcpy(o->owner_id, owner->id, ID_BUF);
    memcpy(o->owner_email, owner->email, EMAIL_BUF);
    o->state = ORG_CREATING;
    o->created_at = o->updated_at = now;
    o->version = 1;
    o->has_op = true;
    o->op.started_at = o->op.touched_at = now;
}

/* What the org's chain says (its drafts appended): *logged whether it has
 * any event, *deleted whether the last is org.deleted. */
static bool log_of(struct app *app, const struct org *o, bool *logged, bool *deleted,
                   struct error *e)
{
    char chain[EVENT_CHAIN_BUF];
    snprintf(chain, sizeof chain, "org:%s", o->id);
    struct event_row head = {0};
    if (!store_event_head(app->store, chain, &head, logged, e))
        return false;
    *deleted = *logged && strcmp(head.action, "org.deleted") == 0;
    event_row_free(&head);
    return true;
}

/* A delete marked by an orgd that drafted no event (one from before the
 * audit log): the system drafts org.deleted now, onto the document first,
 * so that it is appended once however often this is retried; *o becomes
 * the document as written. */
static bool delete_draft_late(struct app *app, struct org *o, struct error *e)
{
    struct org next = *o;
    struct event_batch b = {0};
    struct event *ev = org_event(&b, "org.deleted", o, NULL, NULL);
    event_change_str(ev, "name", o->name, NULL);
    event_change_str(ev, "collection", o->collection, NULL);
    bool applied = false;
    if (!store_org_swap_described(app->store, o, &next, NULL, event_batch_list(&b), &applied, e) ||
        !applied) {
        event_batch_drop(&b);
        return applied || error_set(e, ERR_BUSY, "the organization changed meanwhile");
    }
    event_batch_refs(&b, &next.pending);
    next.version = o->version + 1;
    event_batch_commit(app, &b);
    *o = next;
    return true;
}

bool lifecycle_create_undo(struct app *app, const struct org *cur, bool drop_collection,
                           struct error *e)
{
    /* a create is undone before its event is appended; one whose log has
     * begun (the state was left by hand, or by an older orgd) is a delete,
     * and its log says so */
    struct org held = *cur;
    const struct org *o = &held;
    bool logged = false, deleted = false;
    if (!events_guard(app, &held.pending, e) || !log_of(app, o, &logged, &deleted, e) ||
        (logged && !deleted && !delete_draft_late(app, &held, e)))
        return false;
    if (drop_collection && !drop_unclaimed(app, o, e))
        return false;
    if (!store_membership_delete(app->store, o->owner_id, o->id, e) ||
        !lifecycle_release_account(app, o->owner_id, o->id, e))
        return false;
    bool applied = false;
    if (!store_org_delete(app->store, o->id, o->version, &applied, e))
        return false;
    if (!applied)
        return error_set(e, ERR_BUSY, "the organization changed while it was being undone");
    return true;
}

/* Keeps the first error of a failed step when an undo fails too. */
static void undo_or_log(struct app *app, const struct org *o, bool drop, const char *why)
{
    struct error ue = ERROR_INIT;
    if (!lifecycle_create_undo(app, o, drop, &ue))
        log_emit(LOG_WARN, "undo deferred to recovery",
                 json_pack("{s:s, s:s, s:s, s:s}", "op", "create", "org_id", o->id, "reason", why,
                           "error", ue.message));
}

/* The collection step: on a conflict, says whether the name is still
 * being released by a rename (409 busy) or an orphan collection holds it. */
static bool create_collection(struct app *app, struct org *o, const char *field, struct error *e)
{
    if (store_collection_create(app->store, o->collection, e))
        return true;
    bool ours = e->kind != ERR_CONFLICT;
    undo_or_log(app, o, ours, "collection create failed");
    if (ours)
        return false;
    bool claimed = false;
    struct error ce = ERROR_INIT;
    error_clear(e);
    if (store_org_claiming(app->store, o->collection, o->id, &claimed, &ce) && claimed) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY,
                         "this name is still being released by a rename; retry shortly");
    }
    log_emit(LOG_ERROR, "create blocked by an existing collection",
             json_pack("{s:s}", "collection", o->collection));
    error_field(e, field, "cannot be used now");
    return error_set(e, ERR_CONFLICT,
                     "a collection named %s already exists and belongs to no organization; an "
                     "operator should run `orgd check`",
                     o->collection);
}

/* The steps of a create, for a new owner (new_owner: stored here, after the
 * org document) or an existing one. Each step records what it is about to
 * do before doing it; a failed step undoes the earlier ones
 * (lifecycle_create_undo), and recovery does the same for a process that
 * died midway. `field` names the name in errors. */
bool lifecycle_create(struct app *app, const struct caller *who, struct org *o,
                      const char *description, const struct account *new_owner, const char *field,
                      struct error *e)
{
    if (!store_org_insert(app->store, o, description, e)) {
        if (e->kind == ERR_CONFLICT) {
            error_field(e, field, "is already taken");
            return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
        }
        return false;
    }
    FAULT("create.after_metadata");
    if (new_owner != NULL && !store_account_insert(app->store, new_owner, NULL, e)) {
        undo_or_log(app, o, false, "admin insert failed");
        if (e->kind == ERR_CONFLICT) {
            error_field(e, "email", "is already registered");
            return error_set(e, ERR_CONFLICT, "an account with this email already exists");
        }
        return false;
    }
    FAULT("create.after_admin");
    struct membership m = {.role = ROLE_OWNER, .member_at = o->created_at};
    memcpy(m.account_id, o->owner_id, ID_BUF);
    memcpy(m.org_id, o->id, ID_BUF);
    if (!store_membership_insert(app->store, &m, NULL, e)) {
        undo_or_log(app, o, false, "membership insert failed");
        return false;
    }
    FAULT("create.after_membership");
    if (!create_collection(app, o, field, e))
        return false;
    FAULT("create.after_collection");

    struct org created = *o;
    struct event_batch b = {0};
    struct event *ev = org_event(&b, "org.created", o, who, o->owner_id);
    ev->new_chain = true;
    event_change_str(ev, "name", NULL, o->name);
    if (strcmp(o->display_name, o->name) != 0)
        event_change_str(ev, "display_name", NULL, o->display_name);
    event_change_str(ev, "collection", NULL, o->collection);
    event_change_str(ev, "owner_id", NULL, o->owner_id);
    if (new_owner != NULL) { /* its account, made by this create, in its own chain */
        struct event *acc = event_batch_add(&b);
        event_draft(acc, "account.created", NULL, "account", new_owner->id, who, new_owner->id);
        acc->new_chain = true;
        event_change_str(acc, "email", NULL, new_owner->email);
        event_change_str(acc, "origin", NULL, origin_name(new_owner->origin));
    }
    if (!lifecycle_settle(app, o, *o, "created", &b, e)) {
        if (e->kind != ERR_BUSY) /* busy: recovery has it already */
            undo_or_log(app, &created, true, "activate failed");
        return false;
    }
    log_emit(LOG_INFO, "organization created",
             json_pack("{s:s, s:s, s:s}", "org_id", o->id, "organization_name", o->name,
                       "collection", o->collection));
    return true;
}

/* ---- rename ---- */

bool lifecycle_name_free(struct app *app, const struct org *o, const char *new_name,
                         const char *field, struct error *e)
{
    char key[NAME_BUF];
    names_org_key(new_name, key);
    if (strcmp(key, o->name_key) == 0)
        return true;
    struct org other;
    bool found = false;
    if (!store_org_by_key(app->store, key, &other, &found, e))
        return false;
    if (!found)
        return true;
    error_field(e, field, "is already taken");
    return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
}

static bool rename_undo(struct app *app, struct org *o, struct error *e)
{
    struct org back = *o;
    snprintf(back.name, sizeof back.name, "%s", o->op.from_name);
    if (o->op.from_display_name[0] != '\0')
        snprintf(back.display_name, sizeof back.display_name, "%s", o->op.from_display_name);
    snprintf(back.name_key, sizeof back.name_key, "%s", o->op.from_key);
    snprintf(back.collection, sizeof back.collection, "%s", o->op.from_collection);
    back.updated_at = clock_now_ms();
    return lifecycle_settle(app, o, back, "renamed", NULL, e);
}

/* The event of a rename, from the renaming org's op: what it was, what it is. */
static void renamed_event(struct event_batch *b, const struct org *o, const struct caller *who)
{
    struct event *ev = org_event(b, "org.renamed", o, who, NULL);
    event_change_str(ev, "name", o->op.from_name, o->name);
    if (o->op.from_display_name[0] != '\0' && strcmp(o->op.from_display_name, o->display_name) != 0)
        event_change_str(ev, "display_name", o->op.from_display_name, o->display_name);
    event_change_str(ev, "collection", o->op.from_collection, o->op.to_collection);
}

bool lifecycle_rename_finish(struct app *app, const struct caller *who, struct org *o,
                             struct error *e)
{
    const char *from = o->op.from_collection, *to = o->op.to_collection;
    struct error step = ERROR_INIT;
    if (strcmp(from, to) != 0 && !store_collection_rename(app->store, from, to, &step)) {
        bool from_exists = false, to_exists = false;
        if (step.kind != ERR_NOT_FOUND && step.kind != ERR_CONFLICT) {
            *e = step;
            return false;
        }
        if (!store_collection_exists(app->store, from, &from_exists, e) ||
            !store_collection_exists(app->store, to, &to_exists, e))
            return false;
        if (from_exists && to_exists) {
            /* the target is someone else's: give the old name back if we can */
            log_emit(LOG_ERROR, "rename blocked by an existing collection",
                     json_pack("{s:s, s:s, s:s}", "org_id", o->id, "from", from, "to", to));
            if (!rename_undo(app, o, e))
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
            if (!store_collection_create(app->store, to, &step) && step.kind != ERR_CONFLICT) {
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
    struct event_batch b = {0};
    renamed_event(&b, o, who);
    return lifecycle_settle(app, o, done, "renamed", &b, e);
}

/* Undoes a rename whose collection step failed, but only when the
 * collection provably did not move; otherwise recovery finishes it. */
static void rename_undo_if_unmoved(struct app *app, struct org *o)
{
    struct error ue = ERROR_INIT;
    bool from = false, to = true;
    if (store_collection_exists(app->store, o->op.from_collection, &from, &ue) &&
        store_collection_exists(app->store, o->op.to_collection, &to, &ue) && from && !to &&
        rename_undo(app, o, &ue))
        return;
    log_emit(LOG_WARN, "rename left to recovery",
             json_pack("{s:s, s:s}", "org_id", o->id, "error", ue.message));
}

bool lifecycle_rename(struct app *app, const struct caller *who, struct org *o,
                      const char *new_name, const char *new_display_name, const char *field,
                      struct error *e)
{
    char key[NAME_BUF];
    names_org_key(new_name, key);
    struct org next = *o;
    snprintf(next.name, sizeof next.name, "%s", new_name);
    /* no display name given (an org-first rename): one that was the name
     * follows it; one of its own (given on /organization/) stays */
    if (new_display_name == NULL)
        new_display_name = strcmp(o->display_name, o->name) == 0 ? new_name : o->display_name;
    snprintf(next.display_name, sizeof next.display_name, "%s", new_display_name);
    next.updated_at = clock_now_ms();
    bool applied = false;

    if (strcmp(key, o->name_key) == 0) {
        /* same key (a change of case): same collection, one write */
        struct event_batch b = {0};
        struct event *ev = org_event(&b, "org.renamed", o, who, NULL);
        event_change_str(ev, "name", o->name, next.name);
        if (strcmp(o->display_name, next.display_name) != 0)
            event_change_str(ev, "display_name", o->display_name, next.display_name);
        if (!events_guard(app, &o->pending, e) ||
            !store_org_swap_described(app->store, o, &next, NULL, event_batch_list(&b), &applied,
                                      e) ||
            !applied) {
            event_batch_drop(&b);
            return applied || e->kind != ERR_OK ? false : access_busy(e, "changed");
        }
        event_batch_commit(app, &b);
        *o = next;
        return true;
    }

    /* step 1: take the new name and release the old one in one write;
     * the unique name_key index makes this the lock on the new name */
    memcpy(next.name_key, key, NAME_BUF);
    next.state = ORG_RENAMING;
    next.has_op = true;
    next.op.started_at = next.op.touched_at = next.updated_at;
    snprintf(next.op.from_name, sizeof next.op.from_name, "%s", o->name);
    snprintf(next.op.from_display_name, sizeof next.op.from_display_name, "%s", o->display_name);
    snprintf(next.op.from_key, sizeof next.op.from_key, "%s", o->name_key);
    snprintf(next.op.from_collection, sizeof next.op.from_collection, "%s", o->collection);
    names_collection(key, next.op.to_collection);
    if (!store_org_swap(app->store, o, &next, &applied, e)) {
        if (e->kind == ERR_CONFLICT) {
            error_clear(e);
            error_field(e, field, "is already taken");
            return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
        }
        return false;
    }
    if (!applied)
        return access_busy(e, "changed");
    FAULT("rename.after_reserve");

    /* step 2 and 3: move the collection, then activate */
    if (!lifecycle_rename_finish(app, who, &next, e)) {
        if (e->kind == ERR_UNAVAILABLE || e->kind == ERR_INTERNAL)
            rename_undo_if_unmoved(app, &next);
        return false;
    }
    log_emit(LOG_INFO, "organization renamed",
             json_pack("{s:s, s:s, s:s, s:s}", "org_id", o->id, "from", o->name, "to", next.name,
                       "collection", next.collection));
    *o = next;
    return true;
}

/* ---- delete ---- */

struct id_list {
    char (*ids)[ID_BUF];
    size_t n, cap;
    bool oom;
};

static bool collect_account(const struct membership *m, void *ud)
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
    memcpy(l->ids[l->n++], m->account_id, ID_BUF);
    return true;
}

/* The accounts made by /org/create among ids[0..n) that belong to no other
 * org go; the others (signed up, invited, or in other orgs) stay. One read
 * picks the candidates, a hundred ids at a time. */
static bool release_accounts(struct app *app, const struct org *o, char (*ids)[ID_BUF], size_t n,
                             struct error *e)
{
    char disposable[100][ID_BUF];
    for (size_t at = 0; at < n; at += 100) {
        size_t chunk = n - at < 100 ? n - at : 100, found = 0;
        if (!store_accounts_disposable(app->store, (const char(*)[ID_BUF])ids + at, chunk,
                                       disposable, &found, e))
            return false;
        for (size_t i = 0; i < found; i++) {
            if (!lifecycle_release_account(app, disposable[i], o->id, e))
                return false;
        }
    }
    return true;
}

static bool delete_rest(struct app *app, const struct org *o, struct error *e)
{
    FAULT("delete.after_drop");
    bool extras = store_org_extras_delete(app->store, o->id, e);
    session_cache_forget_org(app->sessions, o->id); /* after the write */
    if (!extras)
        return false;

    /* accounts whose only org this is go with it; their memberships last, so
     * that a retry after a crash still finds them */
    struct id_list admins = {0};
    bool ok = store_membership_each(app->store, o->id, collect_account, &admins, e);
    bool owner_listed = false;
    for (size_t i = 0; ok && i < admins.n; i++)
        owner_listed = owner_listed || strcmp(admins.ids[i], o->owner_id) == 0;
    struct membership owner = {0};
    memcpy(owner.account_id, o->owner_id, ID_BUF);
    if (ok && !owner_listed)
        collect_account(&owner, &admins);
    if (ok && admins.oom)
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    ok = ok && release_accounts(app, o, admins.ids, admins.n, e);
    free(admins.ids);
    if (!ok)
        return false;
    FAULT("delete.after_admins");
    if (!store_memberships_delete_org(app->store, o->id, e))
        return false;
    FAULT("delete.after_memberships");
    bool applied = false;
    if (!store_org_delete(app->store, o->id, o->version, &applied, e))
        return false;
    if (!applied)
        return error_set(e, ERR_BUSY, "the organization changed while it was being deleted");
    return true;
}

bool lifecycle_delete_finish(struct app *app, const struct org *cur, struct error *e)
{
    /* its event is in the chain before its document goes (a process that
     * died after the mark left it as a draft there) */
    struct org o = *cur;
    bool logged = false, deleted = false;
    if (!events_guard(app, &o.pending, e) || !log_of(app, &o, &logged, &deleted, e) ||
        (!deleted && !delete_draft_late(app, &o, e)))
        return false;
    return drop_unclaimed(app, &o, e) && delete_rest(app, &o, e);
}

/* Back to active after a failed drop: the delete's own draft goes with
 * it, unappended (the drafts before it were appended before the mark). */
static bool undo_delete(struct app *app, struct org *marked, struct org back, struct error *e)
{
    static const struct pending_list none = {NULL, 0};
    back.state = ORG_ACTIVE;
    back.has_op = false;
    memset(&back.op, 0, sizeof back.op);
    bool applied = false;
    if (!store_org_swap_described(app->store, marked, &back, NULL, &none, &applied, e))
        return false;
    return applied || error_set(e, ERR_BUSY, "the organization changed while it was being deleted");
}

bool lifecycle_delete(struct app *app, const struct caller *who, const struct org *cur,
                      struct error *e)
{
    struct org o = *cur;
    struct org next = o;
    next.state = ORG_DELETING;
    next.has_op = true;
    next.updated_at = next.op.started_at = next.op.touched_at = clock_now_ms();
    bool applied = false;
    /* the mark is the point of no return (recovery finishes a delete), so
     * it carries the event; it is appended once the collection is gone */
    struct event_batch b = {0};
    struct event *ev = org_event(&b, "org.deleted", &o, who, NULL);
    event_change_str(ev, "name", o.name, NULL);
    event_change_str(ev, "collection", o.collection, NULL);
    if (!events_guard(app, &o.pending, e) ||
        !store_org_swap_described(app->store, &o, &next, NULL, event_batch_list(&b), &applied, e)) {
        event_batch_drop(&b);
        return false;
    }
    if (!applied) {
        event_batch_drop(&b);
        return access_busy(e, "changed");
    }
    FAULT("delete.after_mark");

    if (!drop_unclaimed(app, &next, e)) {
        /* undo only if the collection is provably still there */
        struct error ue = ERROR_INIT;
        bool exists = false;
        if (store_collection_exists(app->store, next.collection, &exists, &ue) && exists &&
            undo_delete(app, &next, o, &ue)) {
            event_batch_drop(&b);
            return false;
        }
        event_batch_drop(&b); /* recovery finishes the delete, and appends its draft */
        log_emit(LOG_WARN, "delete left to recovery",
                 json_pack("{s:s, s:s}", "org_id", o.id, "error", ue.message));
        return false;
    }
    event_batch_commit(app, &b);
    if (!delete_rest(app, &next, e))
        return false;
    log_emit(LOG_INFO, "organization deleted",
             json_pack("{s:s, s:s}", "org_id", o.id, "organization_name", o.name));
    return true;
}
