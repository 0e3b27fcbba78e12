#include "orgs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "faults.h"
#include "lifecycle.h"
#include "log.h"
#include "roles.h"
#include "throttle.h"
#include "util.h"

#define MAX_MEMBERSHIPS_AT_LOGIN 32

/* Keeps the first error of a failed step when an undo fails too. */
static void undo_or_log(struct app *c, const struct org *o, bool drop, const char *why)
{
    struct error ue = ERROR_INIT;
    if (!lifecycle_create_undo(c, o, drop, &ue))
        log_emit(LOG_WARN, "undo deferred to recovery",
                 json_pack("{s:s, s:s, s:s, s:s}", "op", "create", "org_id", o->id, "reason", why,
                           "error", ue.message));
}

static bool busy(struct error *e, const char *what)
{
    e->retry_after = 1;
    return error_set(e, ERR_BUSY, "the organization is being %s; retry shortly", what);
}

/* The org with its owner's id and e-mail: from the org document, or (an
 * org stored before the e-mail was kept with it) from the account. */
static bool load_owner(struct app *c, const struct org *o, struct org_view *out, struct error *e)
{
    out->org = *o;
    memset(&out->owner, 0, sizeof out->owner);
    snprintf(out->owner.id, sizeof out->owner.id, "%s", o->owner_id);
    if (o->owner_email[0] != '\0') {
        snprintf(out->owner.email, sizeof out->owner.email, "%s", o->owner_email);
        return true;
    }
    struct error le = ERROR_INIT;
    if (store_admin_by_id(c->store, o->owner_id, &out->owner, &le)) {
        memset(out->owner.password_hash, 0, sizeof out->owner.password_hash);
        return true;
    }
    return error_absent(e, &le);
}

/* The org document (state creating), not yet stored, owned by owner. */
static void create_record(const char *name, const struct admin *owner, struct org *o)
{
    int64_t now = clock_now_ms();
    store_new_id(o->id);
    snprintf(o->name, sizeof o->name, "%s", name);
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

/* The collection step: on a conflict, says whether the name is still
 * being released by a rename (409 busy) or an orphan collection holds it. */
static bool create_collection(struct app *c, struct org *o, const char *field, struct error *e)
{
    if (store_collection_create(c->store, o->collection, e))
        return true;
    bool ours = e->kind != ERR_CONFLICT;
    undo_or_log(c, o, ours, "collection create failed");
    if (ours)
        return false;
    bool claimed = false;
    struct error ce = ERROR_INIT;
    error_clear(e);
    if (store_org_claiming(c->store, o->collection, o->id, &claimed, &ce) && claimed) {
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
static bool create_steps(struct app *c, struct org *o, const char *description,
                         const struct admin *new_owner, const char *field, struct error *e)
{
    if (!store_org_insert(c->store, o, description, e)) {
        if (e->kind == ERR_CONFLICT) {
            error_field(e, field, "is already taken");
            return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
        }
        return false;
    }
    FAULT("create.after_metadata");
    if (new_owner != NULL && !store_admin_insert(c->store, new_owner, e)) {
        undo_or_log(c, o, false, "admin insert failed");
        if (e->kind == ERR_CONFLICT) {
            error_field(e, "email", "is already registered");
            return error_set(e, ERR_CONFLICT, "an account with this email already exists");
        }
        return false;
    }
    FAULT("create.after_admin");
    struct membership m = {.role = ROLE_OWNER, .member_at = o->created_at};
    memcpy(m.admin_id, o->owner_id, ID_BUF);
    memcpy(m.org_id, o->id, ID_BUF);
    if (!store_membership_insert(c->store, &m, e)) {
        undo_or_log(c, o, false, "membership insert failed");
        return false;
    }
    FAULT("create.after_membership");
    if (!create_collection(c, o, field, e))
        return false;
    FAULT("create.after_collection");

    struct org created = *o;
    if (!lifecycle_settle(c, o, *o, "created", e)) {
        if (e->kind != ERR_BUSY) /* busy: recovery has it already */
            undo_or_log(c, &created, true, "activate failed");
        return false;
    }
    log_emit(LOG_INFO, "organization created",
             json_pack("{s:s, s:s, s:s}", "org_id", o->id, "organization_name", o->name,
                       "collection", o->collection));
    return true;
}

bool orgs_create(struct app *c, const struct create_request *req, const char *client,
                 struct org_view *out, struct error *e)
{
    struct org o = {0};
    struct admin a = {.origin = ORIGIN_ORG_CREATE};
    names_email_key(req->email, a.email);
    if (!throttle_attempt(c, THROTTLE_ORG_CREATE, client, e) ||
        !accounts_email_free(c, a.email, NULL, e) ||
        !password_hash(c->hasher, req->password.text, req->password.len, a.password_hash, e))
        return false;
    store_new_id(a.id);
    create_record(req->organization_name, &a, &o);
    a.created_at = o.created_at;
    bool ok = create_steps(c, &o, NULL, &a, "organization_name", e);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!ok)
        return false;
    out->org = o;
    out->owner = a;
    return true;
}

bool orgs_create_for(struct app *c, const struct admin *owner, const char *name,
                     const char *description, const char *client, struct org *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (!throttle_attempt(c, THROTTLE_ORG_CREATE, client, e))
        return false;
    create_record(name, owner, out);
    return create_steps(c, out, description, NULL, "name", e);
}

/* The org to sign in to: the one named (the caller must be a member), or
 * the account's only one. An org being renamed is a 409 to retry. */
static bool choose_membership(struct app *c, const char *admin_id, const char *name,
                              struct membership *out, struct org *out_org, struct error *e)
{
    struct error le = ERROR_INIT;
    if (name[0] != '\0') {
        char key[NAME_BUF];
        names_org_key(name, key);
        if (!store_org_by_key(c->store, key, out_org, &le) ||
            !store_membership_get(c->store, admin_id, out_org->id, out, &le)) {
            if (!error_absent(e, &le))
                return false;
            return error_set(e, ERR_FORBIDDEN, "this account is not a member of %s", name);
        }
    } else {
        struct membership ms[2];
        size_t n = 0;
        if (!store_memberships_of_admin(c->store, admin_id, ms, 2, &n, e))
            return false;
        if (n == 0)
            return error_set(e, ERR_FORBIDDEN,
                             "this account belongs to no organization; sign in with /auth/signin");
        if (n > 1) {
            error_field(e, "organization_name", "is required: the account belongs to several");
            return error_set(e, ERR_INVALID, "request validation failed");
        }
        *out = ms[0];
        if (!store_org_by_id(c->store, out->org_id, out_org, &le)) {
            if (!error_absent(e, &le))
                return false;
            return error_set(e, ERR_FORBIDDEN, "this account belongs to no organization");
        }
    }
    if (out_org->state == ORG_RENAMING)
        return busy(e, "renamed");
    if (out_org->state != ORG_ACTIVE)
        return error_set(e, ERR_FORBIDDEN, "this account belongs to no organization");
    return true;
}

bool orgs_login(struct app *c, const struct login_request *req, const char *client,
                struct login_result *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct admin a;
    struct membership m = {0};
    bool ok = accounts_check_password(c, req->email, &req->password, client, &a, e);
    accounts_count_login(ok, e);
    if (!ok || !choose_membership(c, a.id, req->organization_name, &m, &out->org, e))
        return false;
    out->role = m.role;
    if (!sessions_start(c, &a, &out->org, m.role, client, &out->pair, e))
        return false;
    /* a removal that ended the account's sessions in this org between the
     * membership read and the session's insert would miss this one: the
     * membership is read again, and the session ended if it went */
    struct error le = ERROR_INIT;
    if (store_membership_get(c->store, a.id, out->org.id, &m, &le))
        return true;
    struct error ue = ERROR_INIT;
    int64_t n = 0;
    store_sessions_revoke_in_org(c->store, a.id, out->org.id, END_MEMBER_REMOVED, clock_now_ms(),
                                 &n, &ue);
    token_pair_wipe(&out->pair);
    if (!error_absent(e, &le))
        return false;
    return error_set(e, ERR_FORBIDDEN, "this account is no longer a member of %s", out->org.name);
}

/* An account-scoped caller's only org (see orgs.h). */
static bool only_org(struct app *c, const struct caller *who, struct org *o, struct error *e)
{
    struct membership ms[2];
    size_t n = 0;
    if (!store_memberships_of_admin(c->store, who->admin.id, ms, 2, &n, e))
        return false;
    if (n > 1) {
        error_field(e, "organization_name", "is required: the account belongs to several");
        return error_set(e, ERR_INVALID, "request validation failed");
    }
    struct error le = ERROR_INIT;
    if (n == 1 && store_org_by_id(c->store, ms[0].org_id, o, &le))
        return true;
    if (le.kind != ERR_OK && !error_absent(e, &le))
        return false;
    return error_set(e, ERR_NOT_FOUND, "this account belongs to no organization");
}

/* The org a request is about and the caller's membership in it:
 * 404 / 409 busy / 403. read: the caller only reads, and an org-scoped
 * session (which proves its membership) needs no membership read. */
static bool resolve(struct app *c, const struct caller *who, const char *name, bool read,
                    struct org *o, struct membership *m, struct error *e)
{
    struct error le = ERROR_INIT;
    bool found;
    if (name == NULL || name[0] == '\0') {
        if (!who->scoped)
            found = only_org(c, who, o, e);
        else
            found = store_org_by_id(c->store, who->org.id, o, &le);
        if (!found && e->kind != ERR_OK)
            return false;
    } else {
        char key[NAME_BUF];
        names_org_key(name, key);
        found = store_org_by_key(c->store, key, o, &le);
    }
    if (!found) {
        if (!error_absent(e, &le))
            return false;
        return error_set(e, ERR_NOT_FOUND, "organization not found");
    }
    if (o->state == ORG_CREATING || o->state == ORG_DELETING)
        return error_set(e, ERR_NOT_FOUND, "organization not found");
    if (who->scoped && strcmp(o->id, who->org.id) != 0)
        return error_set(e, ERR_FORBIDDEN, "this token is scoped to another organization");
    if (read && who->scoped) {
        memset(m, 0, sizeof *m);
        memcpy(m->admin_id, who->admin.id, ID_BUF);
        memcpy(m->org_id, o->id, ID_BUF);
        m->role = who->role;
    } else if (!store_membership_get(c->store, who->admin.id, o->id, m, &le)) {
        if (!error_absent(e, &le))
            return false;
        return error_set(e, ERR_FORBIDDEN, "you are not a member of this organization");
    }
    if (o->state == ORG_RENAMING)
        return busy(e, "renamed");
    return true;
}

bool orgs_get(struct app *c, const struct caller *who, const char *name, struct org_view *out,
              struct error *e)
{
    struct org o;
    struct membership m;
    return resolve(c, who, name, true, &o, &m, e) && load_owner(c, &o, out, e);
}

/* Undoes a rename whose collection step failed, but only when the
 * collection provably did not move; otherwise recovery finishes it. */
static void rename_undo_if_unmoved(struct app *c, struct org *o)
{
    struct error ue = ERROR_INIT;
    bool from = false, to = true;
    if (store_collection_exists(c->store, o->op.from_collection, &from, &ue) &&
        store_collection_exists(c->store, o->op.to_collection, &to, &ue) && from && !to &&
        lifecycle_rename_undo(c, o, &ue))
        return;
    log_emit(LOG_WARN, "rename left to recovery",
             json_pack("{s:s, s:s}", "org_id", o->id, "error", ue.message));
}

bool orgs_rename(struct app *c, struct org *o, const char *new_name, const char *field,
                 struct error *e)
{
    char key[NAME_BUF];
    names_org_key(new_name, key);
    struct org next = *o;
    snprintf(next.name, sizeof next.name, "%s", new_name);
    next.updated_at = clock_now_ms();
    bool applied = false;

    if (strcmp(key, o->name_key) == 0) {
        /* same key (a change of case): same collection, one write */
        if (!store_org_swap(c->store, o, &next, &applied, e))
            return false;
        if (!applied)
            return busy(e, "changed");
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
    snprintf(next.op.from_key, sizeof next.op.from_key, "%s", o->name_key);
    snprintf(next.op.from_collection, sizeof next.op.from_collection, "%s", o->collection);
    names_collection(key, next.op.to_collection);
    if (!store_org_swap(c->store, o, &next, &applied, e)) {
        if (e->kind == ERR_CONFLICT) {
            error_clear(e);
            error_field(e, field, "is already taken");
            return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
        }
        return false;
    }
    if (!applied)
        return busy(e, "changed");
    FAULT("rename.after_reserve");

    /* step 2 and 3: move the collection, then activate */
    if (!lifecycle_rename_finish(c, &next, e)) {
        if (e->kind == ERR_UNAVAILABLE || e->kind == ERR_INTERNAL)
            rename_undo_if_unmoved(c, &next);
        return false;
    }
    log_emit(LOG_INFO, "organization renamed",
             json_pack("{s:s, s:s, s:s, s:s}", "org_id", o->id, "from", o->name, "to", next.name,
                       "collection", next.collection));
    *o = next;
    return true;
}

/* The new name is nobody else's (a fast answer before anything is
 * written; the unique index still decides a race). */
bool orgs_name_free(struct app *c, const struct org *o, const char *new_name, const char *field,
                    struct error *e)
{
    char key[NAME_BUF];
    names_org_key(new_name, key);
    if (strcmp(key, o->name_key) == 0)
        return true;
    struct org other;
    struct error le = ERROR_INIT;
    if (!store_org_by_key(c->store, key, &other, &le))
        return error_absent(e, &le);
    error_field(e, field, "is already taken");
    return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
}

/* Changes the caller's e-mail and/or password hash: a guarded write on the
 * account as its password was checked (*verified), so of two changes made
 * with one password one wins and the other is a 409. On success
 * verified->version is the account's new one (a failed rename puts the
 * old credentials back with it). */
static bool change_credentials(struct app *c, struct admin *verified, const char *email_key,
                               const char *hash, struct error *e)
{
    bool applied = false;
    if (!store_admin_update(c->store, verified, email_key, hash, &applied, e)) {
        if (e->kind != ERR_CONFLICT)
            return false;
        error_clear(e);
        error_field(e, "email", "is already registered");
        return error_set(e, ERR_CONFLICT, "an account with this email already exists");
    }
    if (!applied)
        return error_set(e, ERR_CONFLICT,
                         "the account changed while its credentials were being changed (another "
                         "change won); nothing was changed");
    verified->version++;
    return true;
}

/* Everything a client can be refused for, before anything is written:
 * the role, the current password, the e-mail, the new name. Fills the
 * e-mail key and the new hash the writes need. */
static bool update_checks(struct app *c, const struct caller *who, const struct update_request *req,
                          const struct org *o, const struct membership *m, const char *client,
                          struct admin *verified, char email_key[EMAIL_BUF],
                          char hash[PASSWORD_HASH_BUF], struct error *e)
{
    if (req->new_name[0] != '\0' && !roles_may(m->role, ACT_RENAME))
        return error_set(e, ERR_FORBIDDEN, "only an owner may rename this organization");
    if ((req->has_email || req->has_password) && !roles_may(m->role, ACT_CHANGE_CREDENTIALS))
        return error_set(e, ERR_FORBIDDEN, "only an owner may update this organization");
    struct admin me;
    if (req->has_email && !throttle_attempt(c, THROTTLE_EMAIL_CHANGE, client, e))
        return false;
    if ((req->has_email || req->has_password) &&
        (!sessions_account(c, who, &me, e) ||
         !accounts_reauthenticate(c, &me, &req->current_password, client, verified, e)))
        return false;
    if (req->has_email) {
        names_email_key(req->email, email_key);
        if (!accounts_email_free(c, email_key, who->admin.id, e))
            return false;
    }
    if (req->new_name[0] != '\0' &&
        !orgs_name_free(c, o, req->new_name, "new_organization_name", e))
        return false;
    return !req->has_password ||
           password_hash(c->hasher, req->password.text, req->password.len, hash, e);
}

/* The credentials change comes first among the writes: it is the one a
 * concurrent request can still refuse (the unique e-mail). A rename that
 * fails afterwards puts the old e-mail and hash back, so an error means
 * nothing changed. */
#define OWNED_MAX 256

void orgs_owner_email_changed(struct app *c, const char *admin_id, const char *email_key)
{
    struct org *owned = calloc(OWNED_MAX, sizeof *owned);
    size_t n = 0;
    struct error e = ERROR_INIT;
    if (owned == NULL || !store_orgs_owned_by(c->store, admin_id, owned, OWNED_MAX, &n, &e)) {
        log_emit(LOG_WARN, "owner e-mail not copied to the orgs",
                 json_pack("{s:s}", "error", e.message));
        free(owned);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        /* through the org's lock: an unlocked write could undo a concurrent
         * rename on a server whose update is read-then-write */
        struct org cur = owned[i];
        bool applied = false;
        for (int attempt = 0; attempt < 3 && !applied; attempt++) {
            struct org next = cur;
            snprintf(next.owner_email, sizeof next.owner_email, "%s", email_key);
            if (!store_org_swap(c->store, &cur, &next, &applied, &e) ||
                (!applied && !store_org_by_id(c->store, cur.id, &cur, &e)))
                break;
        }
        if (!applied)
            log_emit(LOG_WARN, "owner e-mail not copied to an org",
                     json_pack("{s:s, s:s}", "org_id", cur.id, "error", e.message));
    }
    free(owned);
}

bool orgs_update(struct app *c, const struct caller *who, const struct update_request *req,
                 const char *client, struct org_view *out, struct error *e)
{
    struct org o;
    struct membership m;
    struct admin verified = {0};
    char email_key[EMAIL_BUF] = "", hash[PASSWORD_HASH_BUF] = "";
    if (!resolve(c, who, req->old_name, false, &o, &m, e) ||
        !update_checks(c, who, req, &o, &m, client, &verified, email_key, hash, e)) {
        explicit_bzero(hash, sizeof hash);
        return false;
    }
    FAULT("update.after_checks");
    bool credentials = req->has_email || req->has_password;
    struct admin before = verified; /* its e-mail and hash as they were */
    struct error be = ERROR_INIT;
    bool ok = !credentials || (store_admin_by_id(c->store, who->admin.id, &before, &be) &&
                               before.version == verified.version &&
                               change_credentials(c, &verified, req->has_email ? email_key : NULL,
                                                  req->has_password ? hash : NULL, e));
    explicit_bzero(hash, sizeof hash);
    if (!ok) {
        explicit_bzero(before.password_hash, sizeof before.password_hash);
        if (be.kind != ERR_OK)
            *e = be;
        else if (e->kind == ERR_OK)
            error_set(e, ERR_CONFLICT, "the account changed meanwhile; nothing was changed");
        return false;
    }
    if (req->new_name[0] != '\0' && strcmp(req->new_name, o.name) != 0 &&
        !orgs_rename(c, &o, req->new_name, "new_organization_name", e)) {
        struct error ue = ERROR_INIT;
        bool applied = false;
        if (credentials && (!store_admin_update(c->store, &verified, before.email,
                                                before.password_hash, &applied, &ue) ||
                            !applied))
            log_emit(LOG_ERROR, "credentials kept after a failed rename",
                     json_pack("{s:s, s:s}", "admin_id", who->admin.id, "error",
                               ue.kind != ERR_OK ? ue.message : "the account changed meanwhile"));
        explicit_bzero(before.password_hash, sizeof before.password_hash);
        return false;
    }
    if (req->has_email) {
        orgs_owner_email_changed(c, who->admin.id, email_key);
        if (strcmp(o.owner_id, who->admin.id) == 0)
            snprintf(o.owner_email, sizeof o.owner_email, "%s", email_key);
    }
    if (credentials) {
        explicit_bzero(before.password_hash, sizeof before.password_hash);
        log_emit(LOG_INFO, "credentials changed",
                 json_pack("{s:s, s:b, s:b}", "admin_id", who->admin.id, "email", req->has_email,
                           "password", req->has_password));
        /* the change is made: a failure to end the other sessions is
         * logged (they still die at their expiry), not an error the
         * client would retry */
        struct error se = ERROR_INIT;
        if (!sessions_end_others(c, who->admin.id, who->session.id, &se))
            log_emit(LOG_ERROR, "other sessions not ended after a credential change",
                     json_pack("{s:s, s:s}", "admin_id", who->admin.id, "error", se.message));
    }
    return load_owner(c, &o, out, e);
}

bool orgs_delete(struct app *c, const struct caller *who, const char *name, struct error *e)
{
    struct org o;
    struct membership m;
    if (!resolve(c, who, name, false, &o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_DELETE))
        return error_set(e, ERR_FORBIDDEN, "only an owner may delete this organization");
    return orgs_delete_org(c, &o, e);
}

bool orgs_delete_org(struct app *c, const struct org *cur, struct error *e)
{
    struct org o = *cur;
    struct org next = o;
    next.state = ORG_DELETING;
    next.has_op = true;
    next.updated_at = next.op.started_at = next.op.touched_at = clock_now_ms();
    bool applied = false;
    if (!store_org_swap(c->store, &o, &next, &applied, e))
        return false;
    if (!applied)
        return busy(e, "changed");
    FAULT("delete.after_mark");

    if (!lifecycle_collection_drop_unclaimed(c, &next, e)) {
        /* undo only if the collection is provably still there */
        struct error ue = ERROR_INIT;
        bool exists = false;
        if (store_collection_exists(c->store, next.collection, &exists, &ue) && exists &&
            lifecycle_settle(c, &next, o, "deleted", &ue))
            return false;
        log_emit(LOG_WARN, "delete left to recovery",
                 json_pack("{s:s, s:s}", "org_id", o.id, "error", ue.message));
        return false;
    }
    if (!lifecycle_delete_rest(c, &next, e))
        return false;
    log_emit(LOG_INFO, "organization deleted",
             json_pack("{s:s, s:s}", "org_id", o.id, "organization_name", o.name));
    return true;
}
