#include "org_first.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "account_mail.h"
#include "accounts.h"
#include "faults.h"
#include "lifecycle.h"
#include "log.h"
#include "roles.h"
#include "throttle.h"
#include "util.h"

/* The org with its owner's id and e-mail: from the org document, or (an
 * org stored before the e-mail was kept with it) from the account. */
static bool load_owner(struct app *app, const struct org *o, struct org_first_view *out,
                       struct error *e)
{
    out->org = *o;
    memset(&out->owner, 0, sizeof out->owner);
    snprintf(out->owner.id, sizeof out->owner.id, "%s", o->owner_id);
    if (o->owner_email[0] != '\0') {
        snprintf(out->owner.email, sizeof out->owner.email, "%s", o->owner_email);
        return true;
    }
    bool found = false;
    bool ok = store_account_by_id(app->store, o->owner_id, &out->owner, &found, e);
    explicit_bzero(out->owner.password_hash, sizeof out->owner.password_hash);
    return ok;
}

bool org_first_create(struct app *app, const struct create_request *req, const char *client,
                      struct org_first_view *out, struct error *e)
{
    struct org o = {0};
    struct account a;
    if (!throttle_attempt(app, THROTTLE_ORG_CREATE, client, e) ||
        !accounts_draft(app, req->email, &req->password, NULL, ORIGIN_ORG_CREATE, &a, e))
        return false;
    lifecycle_draft(req->organization_name, NULL, &a, &o);
    a.created_at = o.created_at;
    bool ok = lifecycle_create(app, NULL, &o, NULL, &a, "organization_name", e);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!ok)
        return false;
    account_mail_send_check(app, &a); /* mail on: a link that proves the address */
    out->org = o;
    out->owner = a;
    return true;
}

/* The org to sign in to: the one named (the caller must be a member), or
 * the account's only one. An org being renamed is a 409 to retry. */
static bool choose_membership(struct app *app, const char *account_id, const char *name,
                              struct membership *out, struct org *out_org, struct error *e)
{
    bool found = false;
    if (name[0] != '\0') {
        char key[NAME_BUF];
        names_org_key(name, key);
        if (!store_org_by_key(app->store, key, out_org, &found, e) ||
            (found && !store_membership_get(app->store, account_id, out_org->id, out, &found, e)))
            return false;
        if (!found)
            return error_set(e, ERR_FORBIDDEN, "this account is not a member of %s", name);
    } else {
        struct membership ms[2];
        size_t n = 0;
        if (!store_memberships_of_account(app->store, account_id, ms, 2, &n, e))
            return false;
        if (n == 0)
            return error_set(e, ERR_FORBIDDEN,
                             "this account belongs to no organization; sign in with /auth/signin");
        if (n > 1) {
            error_field(e, "organization_name", "is required: the account belongs to several");
            return error_set(e, ERR_INVALID, "request validation failed");
        }
        *out = ms[0];
        if (!store_org_by_id(app->store, out->org_id, out_org, &found, e))
            return false;
        if (!found)
            return error_set(e, ERR_FORBIDDEN, "this account belongs to no organization");
    }
    if (out_org->state == ORG_RENAMING)
        return access_busy(e, "renamed");
    if (out_org->state != ORG_ACTIVE)
        return error_set(e, ERR_FORBIDDEN, "this account belongs to no organization");
    return true;
}

bool org_first_login(struct app *app, const struct login_request *req, const char *client,
                     struct login_result *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct account a;
    struct membership m = {0};
    bool ok = accounts_check_password(app, req->email, &req->password, client, &a, e);
    accounts_count_login(ok, e);
    if (!ok || !accounts_verified_enough(app, &a, e) ||
        !choose_membership(app, a.id, req->organization_name, &m, &out->org, e))
        return false;
    out->role = m.role;
    if (!sessions_start(app, &a, &out->org, m.role, client, &out->pair, e))
        return false;
    /* a removal that ended the account's sessions in this org between the
     * membership read and the session's insert would miss this one: the
     * membership is read again, and the session ended if it went */
    bool found = false;
    if (store_membership_get(app->store, a.id, out->org.id, &m, &found, e) && found)
        return true;
    struct error ue = ERROR_INIT;
    int64_t n = 0;
    store_sessions_revoke_in_org(app->store, a.id, out->org.id, END_MEMBER_REMOVED, clock_now_ms(),
                                 &n, &ue);
    token_pair_wipe(&out->pair);
    if (e->kind != ERR_OK)
        return false;
    return error_set(e, ERR_FORBIDDEN, "this account is no longer a member of %s", out->org.name);
}

bool org_first_get(struct app *app, const struct caller *who, const char *name,
                   struct org_first_view *out, struct error *e)
{
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.name = name};
    return access_org(app, who, &ref, ACCESS_READ, &o, &m, e) && load_owner(app, &o.org, out, e);
}

/* Changes the caller's e-mail and/or password hash: a guarded write on the
 * account as its password was checked (*verified), so of two changes made
 * with one password one wins and the other is a 409. On success
 * verified->version is the account's new one (a failed rename puts the
 * old credentials back with it). */
static bool change_credentials(struct app *app, const struct caller *who, struct account *verified,
                               const char *email_key, const char *hash, struct event_batch *b,
                               struct error *e)
{
    bool applied = false;
    if (email_key != NULL) {
        struct event *ev = event_batch_add(b);
        event_draft(ev, "account.email_changed", NULL, "account", verified->id, who, NULL);
        event_change_str(ev, "email", verified->email, email_key);
    }
    if (hash != NULL)
        event_draft(event_batch_add(b), "account.password_changed", NULL, "account", verified->id,
                    who, NULL);
    if (!events_guard(app, &verified->pending, e) ||
        !store_account_update(app->store, verified, email_key, hash, event_batch_list(b), &applied,
                              e)) {
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
 * account as its password was checked, the e-mail key and the new hash the
 * writes need. */
static bool update_checks(struct app *app, const struct caller *who,
                          const struct update_request *req, const struct org *o,
                          const struct membership *m, const char *client, struct account *verified,
                          char email_key[EMAIL_BUF], char hash[PASSWORD_HASH_BUF], struct error *e)
{
    if (req->new_name[0] != '\0' && !roles_may(m->role, ACT_RENAME))
        return error_set(e, ERR_FORBIDDEN, "only an owner may rename this organization");
    if ((req->has_email || req->has_password) && !roles_may(m->role, ACT_CHANGE_CREDENTIALS))
        return error_set(e, ERR_FORBIDDEN, "only an owner may update this organization");
    struct account me;
    if (req->has_email && !throttle_attempt(app, THROTTLE_EMAIL_CHANGE, client, e))
        return false;
    if ((req->has_email || req->has_password) &&
        (!sessions_account(app, who, &me, e) ||
         !accounts_reauthenticate(app, &me, &req->current_password, client, verified, e)))
        return false;
    if (req->has_email) {
        names_email_key(req->email, email_key);
        if (!accounts_email_free(app, email_key, who->account.id, e))
            return false;
    }
    if (req->new_name[0] != '\0' &&
        !lifecycle_name_free(app, o, req->new_name, "new_organization_name", e))
        return false;
    return !req->has_password ||
           password_hash(app->hasher, req->password.text, req->password.len, hash, e);
}

#define OWNED_MAX 256

/* Copies an account's new e-mail to the orgs it owns (their owner_email),
 * through each org's guarded swap: an unguarded write could undo a
 * concurrent rename on a server whose update is read-then-write. Failures
 * are logged: the org then shows the old e-mail until the next change. */
static void owner_email_changed(struct app *app, const char *account_id, const char *email_key)
{
    struct org *owned = calloc(OWNED_MAX, sizeof *owned);
    size_t n = 0;
    struct error e = ERROR_INIT;
    if (owned == NULL || !store_orgs_owned_by(app->store, account_id, owned, OWNED_MAX, &n, &e)) {
        log_emit(LOG_WARN, "owner e-mail not copied to the orgs",
                 json_pack("{s:s}", "error", e.message));
        free(owned);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct org cur = owned[i];
        bool applied = false, found = true;
        for (int attempt = 0; attempt < 3 && !applied && found; attempt++) {
            struct org next = cur;
            snprintf(next.owner_email, sizeof next.owner_email, "%s", email_key);
            if (!store_org_swap(app->store, &cur, &next, &applied, &e) ||
                (!applied && !store_org_by_id(app->store, cur.id, &cur, &found, &e)))
                break;
        }
        if (!applied)
            log_emit(LOG_WARN, "owner e-mail not copied to an org",
                     json_pack("{s:s, s:s}", "org_id", cur.id, "error", e.message));
    }
    free(owned);
}

/* The credentials (the account's e-mail and hash as they were, *before),
 * then the rename: the credentials first, since they are what a
 * concurrent request can still refuse (the unique e-mail, the account's
 * version). A rename that fails afterwards puts the old e-mail and hash
 * back, so an error means nothing changed. */
static bool update_writes(struct app *app, const struct caller *who,
                          const struct update_request *req, struct org *o, struct account *verified,
                          const char *email_key, const char *hash, struct error *e)
{
    bool credentials = req->has_email || req->has_password;
    struct account before;
    bool found = false;
    /* the credentials' events are appended once the rename is done too: a
     * failed rename puts the credentials back, and their drafts go */
    struct event_batch b = {0};
    if (credentials && (!store_account_by_id(app->store, who->account.id, &before, &found, e) ||
                        !found || before.version != verified->version ||
                        !change_credentials(app, who, verified, req->has_email ? email_key : NULL,
                                            req->has_password ? hash : NULL, &b, e))) {
        explicit_bzero(before.password_hash, sizeof before.password_hash);
        event_batch_drop(&b);
        if (e->kind == ERR_OK)
            error_set(e, ERR_CONFLICT, "the account changed meanwhile; nothing was changed");
        return false;
    }
    bool ok = req->new_name[0] == '\0' || strcmp(req->new_name, o->name) == 0 ||
              lifecycle_rename(app, who, o, req->new_name, NULL, "new_organization_name", e);
    if (ok)
        event_batch_commit(app, &b);
    else
        event_batch_drop(&b);
    if (ok && req->has_email) { /* the notice goes to the address it was */
        account_mail_email_changed(app, before.email, email_key);
        struct account now = before; /* and the new one is to be proved */
        snprintf(now.email, sizeof now.email, "%s", email_key);
        now.email_verified = false;
        account_mail_send_check(app, &now);
        explicit_bzero(now.password_hash, sizeof now.password_hash);
    }
    if (ok && req->has_password) /* both changed: both notices, to the address it was */
        account_mail_password_changed(app, before.email);
    if (!ok && credentials) {
        static const struct pending_list none = {NULL, 0};
        struct error ue = ERROR_INIT;
        bool applied = false;
        if (!store_account_update(app->store, verified, before.email, before.password_hash, &none,
                                  &applied, &ue) ||
            !applied)
            log_emit(LOG_ERROR, "credentials kept after a failed rename",
                     json_pack("{s:s, s:s}", "account_id", who->account.id, "error",
                               ue.kind != ERR_OK ? ue.message : "the account changed meanwhile"));
    }
    explicit_bzero(before.password_hash, sizeof before.password_hash);
    return ok;
}

/* The checks and writes of org_first_update, on o (as read). */
static bool update_org(struct app *app, const struct caller *who, const struct update_request *req,
                       const char *client, struct org_described *o, struct error *e)
{
    struct membership m;
    struct account verified = {0};
    char email_key[EMAIL_BUF] = "", hash[PASSWORD_HASH_BUF] = "";
    const struct access_ref ref = {.name = req->old_name};
    bool ok = access_org(app, who, &ref, ACCESS_ACT, o, &m, e) &&
              update_checks(app, who, req, &o->org, &m, client, &verified, email_key, hash, e);
    if (ok) {
        FAULT("update.after_checks");
        ok = update_writes(app, who, req, &o->org, &verified, email_key, hash, e);
    }
    explicit_bzero(hash, sizeof hash);
    if (ok && req->has_email && strcmp(o->org.owner_id, who->account.id) == 0)
        snprintf(o->org.owner_email, sizeof o->org.owner_email, "%s", email_key);
    if (ok && req->has_email)
        owner_email_changed(app, who->account.id, email_key);
    return ok;
}

/* After org_first_update's writes: the other sessions end on a credential
 * change, and the answer is read. */
static bool updated(struct app *app, const struct caller *who, const struct update_request *req,
                    struct org *o, struct org_first_view *out, struct error *e)
{
    if (req->has_email || req->has_password) {
        log_emit(LOG_INFO, "credentials changed",
                 json_pack("{s:s, s:b, s:b}", "account_id", who->account.id, "email",
                           req->has_email, "password", req->has_password));
        /* the change is made: a failure to end the other sessions is
         * logged (they still die at their expiry), not an error the
         * client would retry */
        struct error se = ERROR_INIT;
        if (!sessions_end_others(app, who->account.id, who->session.id, &se))
            log_emit(LOG_ERROR, "other sessions not ended after a credential change",
                     json_pack("{s:s, s:s}", "account_id", who->account.id, "error", se.message));
    }
    return load_owner(app, o, out, e);
}

bool org_first_update(struct app *app, const struct caller *who, const struct update_request *req,
                      const char *client, struct org_first_view *out, struct error *e)
{
    /* 6 KiB with its description, on the heap: a rename goes deep below
     * (docs/STYLE.md, "Stack") */
    struct org_described *o = malloc(sizeof *o);
    if (o == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = update_org(app, who, req, client, o, e) && updated(app, who, req, &o->org, out, e);
    free(o);
    return ok;
}

bool org_first_delete(struct app *app, const struct caller *who, const char *name, struct error *e)
{
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.name = name};
    if (!access_org(app, who, &ref, ACCESS_ACT, &o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_DELETE))
        return error_set(e, ERR_FORBIDDEN, "only an owner may delete this organization");
    return lifecycle_delete(app, who, &o.org, e);
}
