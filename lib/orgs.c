#include "orgs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "lifecycle.h"
#include "log.h"
#include "util.h"

#define MAX_MEMBERSHIPS_AT_LOGIN 32

static const char *const BAD_CREDENTIALS = "invalid email or password";

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

static bool load_owner(struct app *c, const struct org *o, struct org_view *out, struct error *e)
{
    out->org = *o;
    memset(&out->owner, 0, sizeof out->owner);
    struct error le = ERROR_INIT;
    if (store_admin_by_id(c->store, o->owner_id, &out->owner, &le)) {
        memset(out->owner.password_hash, 0, sizeof out->owner.password_hash);
        return true;
    }
    if (!error_absent(e, &le))
        return false;
    snprintf(out->owner.id, sizeof out->owner.id, "%s", o->owner_id);
    return true;
}

/* The e-mail is free (a fast answer for the common conflict; the unique
 * index decides races). */
static bool email_free(struct app *c, const char *email_key, struct error *e)
{
    struct error le = ERROR_INIT;
    struct admin existing;
    if (store_admin_by_email(c->store, email_key, &existing, &le)) {
        error_field(e, "email", "is already registered");
        return error_set(e, ERR_CONFLICT, "an admin with this email already exists");
    }
    return error_absent(e, &le);
}

/* The org document (state creating) and its owner, not yet stored. */
static void create_records(const struct create_request *req, struct org *o, struct admin *a)
{
    int64_t now = clock_now_ms();
    store_new_id(o->id);
    store_new_id(a->id);
    snprintf(o->name, sizeof o->name, "%s", req->organization_name);
    names_collection(o->name_key, o->collection);
    memcpy(o->owner_id, a->id, ID_BUF);
    o->state = ORG_CREATING;
    o->created_at = o->updated_at = now;
    o->version = 1;
    o->has_op = true;
    o->op.started_at = o->op.touched_at = now;
    a->created_at = now;
}

/* The collection step: on a conflict, says whether the name is still
 * being released by a rename (409 busy) or an orphan collection holds it. */
static bool create_collection(struct app *c, struct org *o, struct error *e)
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
    error_field(e, "organization_name", "cannot be used now");
    return error_set(e, ERR_CONFLICT,
                     "a collection named %s already exists and belongs to no organization; an "
                     "operator should run `orgd check`",
                     o->collection);
}

/* Each step records what it is about to do before doing it; a failed step
 * undoes the earlier ones (lifecycle_create_undo), and recovery does the same
 * for a process that died midway. */
bool orgs_create(struct app *c, const struct create_request *req, struct org_view *out,
                 struct error *e)
{
    struct org o = {0};
    struct admin a = {0};
    names_email_key(req->email, a.email);
    names_org_key(req->organization_name, o.name_key);
    if (!email_free(c, a.email, e) ||
        !password_hash(c->hasher, req->password.text, req->password.len, a.password_hash, e))
        return false;
    create_records(req, &o, &a);

    if (!store_org_insert(c->store, &o, e)) {
        if (e->kind == ERR_CONFLICT) {
            error_field(e, "organization_name", "is already taken");
            return error_set(e, ERR_CONFLICT, "an organization with this name already exists");
        }
        return false;
    }
    FAULT("create.after_metadata");
    if (!store_admin_insert(c->store, &a, e)) {
        undo_or_log(c, &o, false, "admin insert failed");
        if (e->kind == ERR_CONFLICT) {
            error_field(e, "email", "is already registered");
            return error_set(e, ERR_CONFLICT, "an admin with this email already exists");
        }
        return false;
    }
    FAULT("create.after_admin");
    struct membership m = {.role = ROLE_OWNER, .member_at = o.created_at};
    memcpy(m.admin_id, a.id, ID_BUF);
    memcpy(m.org_id, o.id, ID_BUF);
    if (!store_membership_insert(c->store, &m, e)) {
        undo_or_log(c, &o, false, "membership insert failed");
        return false;
    }
    FAULT("create.after_membership");
    if (!create_collection(c, &o, e))
        return false;
    FAULT("create.after_collection");

    struct org created = o;
    if (!lifecycle_settle(c, &o, o, "created", e)) {
        if (e->kind != ERR_BUSY) /* busy: recovery has it already */
            undo_or_log(c, &created, true, "activate failed");
        return false;
    }
    out->org = o;
    out->owner = a;
    memset(out->owner.password_hash, 0, sizeof out->owner.password_hash);
    log_emit(LOG_INFO, "organization created",
             json_pack("{s:s, s:s, s:s}", "org_id", o.id, "organization_name", o.name, "collection",
                       o.collection));
    return true;
}

/* The account whose e-mail and password these are. An unknown e-mail
 * costs the same as a wrong password and gets the same answer. */
static bool check_credentials(struct app *c, const struct login_request *req, struct admin *a,
                              bool *rehash, struct error *e)
{
    char email_key[EMAIL_BUF];
    names_email_key(req->email, email_key);
    struct error le = ERROR_INIT;
    bool known = store_admin_by_email(c->store, email_key, a, &le);
    if (!known && !error_absent(e, &le))
        return false;
    bool match = false;
    if (!password_verify(c->hasher, known ? a->password_hash : NULL, req->password.text,
                         req->password.len, &match, rehash, e))
        return false;
    return match || error_set(e, ERR_UNAUTHORIZED, "%s", BAD_CREDENTIALS);
}

/* The first of the account's memberships whose org is active, into *out
 * and out_org. An org being renamed is a 409 to retry; none is 401. */
static bool choose_membership(struct app *c, const char *admin_id, struct membership *out,
                              struct org *out_org, struct error *e)
{
    struct membership ms[MAX_MEMBERSHIPS_AT_LOGIN];
    size_t n = 0;
    if (!store_memberships_of_admin(c->store, admin_id, ms, MAX_MEMBERSHIPS_AT_LOGIN, &n, e))
        return false;
    bool mid_operation = false;
    for (size_t i = 0; i < n; i++) {
        struct error le = ERROR_INIT;
        if (!store_org_by_id(c->store, ms[i].org_id, out_org, &le)) {
            if (!error_absent(e, &le))
                return false;
        } else if (out_org->state == ORG_ACTIVE) {
            *out = ms[i];
            return true;
        } else if (out_org->state == ORG_RENAMING) {
            mid_operation = true;
        }
    }
    if (mid_operation)
        return busy(e, "renamed");
    return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_CREDENTIALS);
}

/* Stores a hash with the current parameters; a failure only costs the
 * upgrade, never the login. */
static void upgrade_hash(struct app *c, const struct admin *a, const struct login_request *req)
{
    char fresh[PASSWORD_HASH_BUF];
    struct error le = ERROR_INIT;
    if (password_hash(c->hasher, req->password.text, req->password.len, fresh, &le) &&
        store_admin_update(c->store, a->id, NULL, fresh, &le))
        log_emit(LOG_INFO, "password rehashed", json_pack("{s:s}", "admin_id", a->id));
    else
        log_emit(LOG_WARN, "password rehash skipped",
                 json_pack("{s:s, s:s}", "admin_id", a->id, "error", le.message));
}

bool orgs_login(struct app *c, const struct login_request *req, struct login_result *out,
                struct error *e)
{
    memset(out, 0, sizeof *out);
    struct admin a;
    struct membership m = {0};
    bool rehash = false;
    if (!check_credentials(c, req, &a, &rehash, e) || !choose_membership(c, a.id, &m, &out->org, e))
        return false;
    if (rehash)
        upgrade_hash(c, &a, req);
    struct jwt_claims claims = {0};
    memcpy(claims.sub, a.id, ID_BUF);
    memcpy(claims.org, m.org_id, ID_BUF);
    snprintf(claims.role, sizeof claims.role, "%s", role_name(m.role));
    if (!jwt_issue(c->jwt, &claims, clock_now_ms() / 1000, &out->access_token, e))
        return false;
    out->expires_in = c->cfg->jwt_expires_seconds;
    out->role = m.role;
    return true;
}

bool orgs_authenticate(struct app *c, const char *token, size_t len, struct caller *out,
                       struct error *e)
{
    memset(out, 0, sizeof *out);
    if (!jwt_verify(c->jwt, token, len, clock_now_ms() / 1000, &out->claims, e))
        return false;
    struct error le = ERROR_INIT;
    if (!store_admin_by_id(c->store, out->claims.sub, &out->admin, &le) ||
        !store_org_by_id(c->store, out->claims.org, &out->org, &le) ||
        !store_membership_get(c->store, out->claims.sub, out->claims.org, &out->membership, &le)) {
        if (!error_absent(e, &le))
            return false;
        return error_set(e, ERR_UNAUTHORIZED, "token is no longer valid");
    }
    memset(out->admin.password_hash, 0, sizeof out->admin.password_hash);
    if (out->org.state == ORG_CREATING || out->org.state == ORG_DELETING)
        return error_set(e, ERR_UNAUTHORIZED, "token is no longer valid");
    return true;
}

/* The org a request is about (by name, or the caller's own) and the
 * caller's membership in it. 404 / 409 busy / 403. */
static bool resolve(struct app *c, const struct caller *who, const char *name, struct org *o,
                    struct membership *m, struct error *e)
{
    struct error le = ERROR_INIT;
    bool found;
    if (name == NULL || name[0] == '\0') {
        found = store_org_by_id(c->store, who->org.id, o, &le);
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
    if (strcmp(o->id, who->org.id) == 0) {
        *m = who->membership;
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
    return resolve(c, who, name, &o, &m, e) && load_owner(c, &o, out, e);
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

static bool rename_org(struct app *c, struct org *o, const char *new_name, struct error *e)
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
            error_field(e, "new_organization_name", "is already taken");
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

/* The caller's new e-mail is free (a fast answer; the unique index decides). */
static bool email_free_for(struct app *c, const char *email_key, const char *admin_id,
                           struct error *e)
{
    struct admin other;
    struct error le = ERROR_INIT;
    if (!store_admin_by_email(c->store, email_key, &other, &le))
        return error_absent(e, &le);
    if (strcmp(other.id, admin_id) == 0)
        return true;
    error_field(e, "email", "is already registered");
    return error_set(e, ERR_CONFLICT, "an admin with this email already exists");
}

/* Changes the caller's e-mail and/or password hash, keeping the old ones in
 * *before so a later failure can put them back. */
static bool change_credentials(struct app *c, const char *admin_id, const char *email_key,
                               const char *hash, struct admin *before, struct error *e)
{
    if (!store_admin_by_id(c->store, admin_id, before, e))
        return false;
    if (store_admin_update(c->store, admin_id, email_key, hash, e))
        return true;
    if (e->kind == ERR_CONFLICT) {
        error_clear(e);
        error_field(e, "email", "is already registered");
        return error_set(e, ERR_CONFLICT, "an admin with this email already exists");
    }
    return false;
}

/* The credentials change comes first: it is the step a concurrent request
 * can refuse (the unique e-mail). A rename that fails afterwards puts the
 * old e-mail and hash back, so an error means nothing changed. */
bool orgs_update(struct app *c, const struct caller *who, const struct update_request *req,
                 struct org_view *out, struct error *e)
{
    struct org o;
    struct membership m;
    if (!resolve(c, who, req->old_name, &o, &m, e))
        return false;
    if (m.role != ROLE_OWNER)
        return error_set(e, ERR_FORBIDDEN, "only the owner may update this organization");
    char email_key[EMAIL_BUF] = "";
    if (req->has_email) {
        names_email_key(req->email, email_key);
        if (!email_free_for(c, email_key, who->admin.id, e))
            return false;
    }
    char hash[PASSWORD_HASH_BUF] = "";
    if (req->has_password &&
        !password_hash(c->hasher, req->password.text, req->password.len, hash, e))
        return false;
    FAULT("update.after_checks");
    bool credentials = req->has_email || req->has_password;
    struct admin before;
    if (credentials && !change_credentials(c, who->admin.id, req->has_email ? email_key : NULL,
                                           req->has_password ? hash : NULL, &before, e))
        return false;
    if (req->new_name[0] != '\0' && strcmp(req->new_name, o.name) != 0 &&
        !rename_org(c, &o, req->new_name, e)) {
        struct error ue = ERROR_INIT;
        if (credentials &&
            !store_admin_update(c->store, who->admin.id, before.email, before.password_hash, &ue))
            log_emit(LOG_ERROR, "credentials kept after a failed rename",
                     json_pack("{s:s, s:s}", "admin_id", who->admin.id, "error", ue.message));
        explicit_bzero(before.password_hash, sizeof before.password_hash);
        return false;
    }
    if (credentials)
        explicit_bzero(before.password_hash, sizeof before.password_hash);
    return load_owner(c, &o, out, e);
}

bool orgs_delete(struct app *c, const struct caller *who, const char *name, struct error *e)
{
    struct org o;
    struct membership m;
    if (!resolve(c, who, name, &o, &m, e))
        return false;
    if (m.role != ROLE_OWNER)
        return error_set(e, ERR_FORBIDDEN, "only the owner may delete this organization");

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
    if (!lifecycle_delete_finish(c, &next, e))
        return false;
    log_emit(LOG_INFO, "organization deleted",
             json_pack("{s:s, s:s}", "org_id", o.id, "organization_name", o.name));
    return true;
}
