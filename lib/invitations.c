#include "invitations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "account_mail.h"
#include "accounts.h"
#include "events.h"
#include "faults.h"
#include "log.h"
#include "mail.h"
#include "metrics.h"
#include "roles.h"
#include "throttle.h"
#include "util.h"

/* A new token into out, its hash into hash. */
/* The org and the caller's right to manage its invitations. */
static bool manage(struct app *app, const struct caller *who, const char *org_id,
                   struct org_described *o, struct error *e)
{
    struct membership m;
    const struct access_ref ref = {.id = org_id};
    if (!access_org(app, who, &ref, ACCESS_ACT, o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_INVITE))
        return error_set(e, ERR_FORBIDDEN, "only an owner or an admin may manage invitations");
    return true;
}

/* The e-mail already belongs to a member of the org: 409. */
static bool not_a_member(struct app *app, const char *org_id, const char *email_key,
                         struct error *e)
{
    struct account a;
    struct membership m;
    bool found = false;
    bool ok = store_account_by_email(app->store, email_key, &a, &found, e);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!ok || !found || !store_membership_get(app->store, a.id, org_id, &m, &found, e) || !found)
        return ok && e->kind == ERR_OK;
    error_field(e, "email", "is already a member of this organization");
    return error_set(e, ERR_CONFLICT, "this person is already a member");
}

/* Ends invitation v (as read) for who (NULL: the system): revoked, its
 * slot given back; `why` says so in its event. */
static bool end_invitation(struct app *app, const struct caller *who, const struct invitation *v,
                           const char *why, bool *applied, struct error *e)
{
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, "invitation.revoked", v->org_id, "invitation", v->id, who, NULL);
    event_change_str(ev, "status", invitation_status_name(v->status),
                     invitation_status_name(INV_REVOKED));
    event_change_str(ev, "reason", NULL, why);
    bool ok = events_guard(app, &v->pending, e) &&
              store_invitation_move(app->store, v, INV_REVOKED, NULL, clock_now_ms(),
                                    event_batch_list(&b), applied, e);
    if (ok && *applied)
        event_batch_commit(app, &b);
    else
        event_batch_drop(&b);
    return ok;
}

/* The events of an accepted invitation: the invitation's, and the member's
 * when it made one (who NULL: recovery finished it). */
static void accepted_events(struct event_batch *b, const struct caller *who,
                            const struct invitation *v, const char *account_id, bool joined)
{
    struct event *ev = event_batch_add(b);
    event_draft(ev, "invitation.accepted", v->org_id, "invitation", v->id, who, account_id);
    event_change_str(ev, "status", "pending", "accepted");
    event_change_str(ev, "account_id", NULL, account_id);
    if (joined) {
        struct event *m = event_batch_add(b);
        event_draft(m, "member.added", v->org_id, "member", account_id, who, account_id);
        event_change_str(m, "role", NULL, role_name(v->role));
        event_change_str(m, "invitation_id", NULL, v->id);
    }
}

/* Inserts v, replacing the invitation that holds its (org, e-mail) slot:
 * the unique pending_key makes one pending per e-mail the database's rule,
 * so a conflict names the holder, which is revoked (a guarded transition:
 * an accept of it that got there first wins, and this is a 409) before the
 * insert is tried again. *replaced counts those revoked. */
static bool insert_replacing(struct app *app, const struct caller *who, const struct invitation *v,
                             int64_t *replaced, struct error *e)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        struct event_batch b = {0};
        struct event *ev = event_batch_add(&b);
        event_draft(ev, "invitation.created", v->org_id, "invitation", v->id, who, NULL);
        event_change_str(ev, "email", NULL, v->email);
        event_change_str(ev, "role", NULL, role_name(v->role));
        if (store_invitation_insert(app->store, v, event_batch_list(&b), e)) {
            event_batch_commit(app, &b);
            return true;
        }
        event_batch_drop(&b);
        if (e->kind != ERR_CONFLICT || attempt == 7) /* never end on a revoke: no insert follows */
            break;
        error_clear(e);
        struct invitation holder;
        bool found = false, applied = false;
        if (!store_invitation_holding(app->store, v->org_id, v->email, &holder, &found, e))
            return false;
        if (!found)
            continue; /* given back meanwhile */
        if (holder.status == INV_ACCEPTING) {
            e->retry_after = 1;
            error_field(e, "email", "has an invitation being accepted right now");
            return error_set(e, ERR_BUSY,
                             "an invitation to this e-mail is being accepted; "
                             "retry shortly");
        }
        if (!end_invitation(app, who, &holder, "replaced", &applied, e))
            return false;
        *replaced += applied;
        FAULT("invite.after_replace");
    }
    if (e->kind != ERR_CONFLICT)
        return false;
    error_clear(e);
    e->retry_after = 1;
    return error_set(e, ERR_BUSY, "invitations to this e-mail are changing; retry shortly");
}

/* The invitation's mail (tpl) with its token to the invitee; errors
 * logged (the invitation stands: the inviter can send it again). */
static void mail_invitation(struct app *app, const struct caller *who,
                            const struct org_described *o, const struct invitation *v,
                            const char *token, enum mail_template tpl)
{
    char link[1200], expires[CLOCK_TEXT_BUF];
    mail_link(app, "invitation", token, link, sizeof link);
    clock_rfc3339(v->expires_at, expires);
    struct account inviter;
    struct error e = ERROR_INIT;
    const char *by = who->account.email;
    if (by[0] == '\0' && sessions_account(app, who, &inviter, &e))
        by = inviter.email[0] ? inviter.email : "someone";
    json_t *vars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "email", v->email, "inviter",
                             by[0] ? by : "someone", "organization", o->org.display_name, "role",
                             role_name(v->role), "link", link, "expires_at", expires);
    const struct mail_check check = {"invitation", v->id, v->token_hash};
    if (!mail_queue(app, tpl, v->email, vars, &check, &e))
        log_emit(LOG_WARN, "invitation mail not queued",
                 json_pack("{s:s, s:s}", "invitation_id", v->id, "error", e.message));
    json_decref(vars);
    explicit_bzero(link, sizeof link);
}

bool invitations_create(struct app *app, const struct caller *who, const char *org_id,
                        const struct invite_request *req, struct invitation_view *out,
                        struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct membership m;
    const struct access_ref ref = {.id = org_id};
    if (!access_org(app, who, &ref, ACCESS_ACT, &o, &m, e))
        return false;
    if (!roles_may(m.role, ACT_INVITE))
        return error_set(e, ERR_FORBIDDEN, "only an owner or an admin may invite");
    if (req->role == ROLE_OWNER && !roles_may(m.role, ACT_GRANT_OWNER))
        return error_set(e, ERR_FORBIDDEN, "only an owner may invite an owner");
    struct invitation *v = &out->inv;
    names_email_key(req->email, v->email);
    if (!sessions_one_time_token(out->token, v->token_hash, e))
        return false;
    store_new_id(v->id);
    memcpy(v->org_id, o.org.id, ID_BUF);
    memcpy(v->invited_by, who->account.id, ID_BUF);
    v->role = req->role;
    v->status = INV_PENDING;
    v->version = 1;
    v->created_at = clock_now_ms();
    v->expires_at = v->created_at + (int64_t)app->cfg->invitation_seconds * 1000;
    snprintf(out->org_name, sizeof out->org_name, "%s", o.org.name);
    int64_t replaced = 0;
    if (!insert_replacing(app, who, v, &replaced, e)) {
        explicit_bzero(out->token, sizeof out->token);
        return false;
    }
    /* after the insert: an accept that finished just before it (the slot
     * it gave back is what let the insert through) made a member, and an
     * invitation to a member would be a live token for nothing */
    struct error me = ERROR_INIT;
    if (!not_a_member(app, o.org.id, v->email, &me)) {
        bool applied = false;
        struct error ue = ERROR_INIT;
        if (!end_invitation(app, who, v, "already a member", &applied, &ue) || !applied)
            log_emit(LOG_WARN, "invitation to a member left pending",
                     json_pack("{s:s, s:s}", "invitation_id", v->id, "error", ue.message));
        explicit_bzero(out->token, sizeof out->token);
        *e = me;
        return false;
    }
    if (mail_enabled(app)) { /* the token goes to the invitee, and only there */
        mail_invitation(app, who, &o, v, out->token, MAIL_INVITATION);
        explicit_bzero(out->token, sizeof out->token);
    }
    metrics_invitation(INVITATION_CREATED);
    log_emit(LOG_INFO, "invitation created",
             json_pack("{s:s, s:s, s:s, s:I}", "org_id", o.org.id, "invitation_id", v->id, "role",
                       role_name(v->role), "replaced", (json_int_t)replaced));
    return true;
}

bool invitations_resend(struct app *app, const struct caller *who, const char *org_id,
                        const char *invitation_id, const char *client, struct invitation_view *out,
                        struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    struct invitation v;
    bool found = false, applied = false;
    if (!account_mail_required(app, e) || !manage(app, who, org_id, &o, e) ||
        !store_invitation_by_id(app->store, invitation_id, &v, &found, e))
        return false;
    if (!found || strcmp(v.org_id, o.org.id) != 0 || v.status != INV_PENDING)
        return error_set(e, ERR_NOT_FOUND, "no such pending invitation");
    if (!throttle_mail(app, client, v.email, e))
        return false;
    struct invitation next = v;
    char token[INVITATION_TOKEN_LEN + 1];
    if (!sessions_one_time_token(token, next.token_hash, e))
        return false;
    next.expires_at = clock_now_ms() + (int64_t)app->cfg->invitation_seconds * 1000;
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, "invitation.resent", v.org_id, "invitation", v.id, who, NULL);
    event_change_str(ev, "email", NULL, v.email);
    bool ok = events_guard(app, &v.pending, e) &&
              store_invitation_retoken(app->store, &v, next.token_hash, next.expires_at,
                                       event_batch_list(&b), &applied, e);
    if (!ok || !applied) {
        event_batch_drop(&b);
        explicit_bzero(token, sizeof token);
        if (!ok)
            return false;
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "the invitation changed meanwhile; retry");
    }
    event_batch_commit(app, &b);
    next.version++;
    mail_invitation(app, who, &o, &next, token, MAIL_INVITATION_RESENT);
    explicit_bzero(token, sizeof token);
    out->inv = next;
    snprintf(out->org_name, sizeof out->org_name, "%s", o.org.name);
    return true;
}

bool invitations_list(struct app *app, const struct caller *who, const char *org_id,
                      const char *before, struct invitation_view *out, size_t max, size_t *n,
                      struct error *e)
{
    *n = 0;
    struct org_described o;
    struct invitation *list = calloc(max ? max : 1, sizeof *list);
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = manage(app, who, org_id, &o, e) &&
              store_invitations_pending(app->store, o.org.id, NULL, clock_now_ms(), before, list,
                                        max, n, e);
    for (size_t i = 0; ok && i < *n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].inv = list[i];
        snprintf(out[i].org_name, sizeof out[i].org_name, "%s", o.org.name);
    }
    free(list);
    return ok;
}

bool invitations_revoke(struct app *app, const struct caller *who, const char *org_id,
                        const char *invitation_id, struct error *e)
{
    struct org_described o;
    if (!manage(app, who, org_id, &o, e))
        return false;
    /* a guarded transition from pending: of a revoke and an accept sent
     * together exactly one happens; a version that moved on while it
     * stayed pending (an accept undone) is read again */
    for (int attempt = 0; attempt < 3; attempt++) {
        struct invitation v;
        bool applied = false, found = false;
        if (!store_invitation_by_id(app->store, invitation_id, &v, &found, e))
            return false;
        if (!found || strcmp(v.org_id, o.org.id) != 0 || v.status != INV_PENDING)
            return error_set(e, ERR_NOT_FOUND, "no such pending invitation");
        FAULT("revoke.after_read");
        if (!end_invitation(app, who, &v, "revoked", &applied, e))
            return false;
        if (applied) {
            metrics_invitation(INVITATION_REVOKED);
            return true;
        }
    }
    e->retry_after = 1;
    return error_set(e, ERR_BUSY, "the invitation is changing; retry shortly");
}

bool invitations_mine(struct app *app, const struct caller *who, const char *before,
                      struct invitation_view *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    struct account me;
    if (who->scoped)
        return error_set(e, ERR_FORBIDDEN,
                         "invitations to other organizations need an account token "
                         "(POST /auth/signin); this one is scoped to one organization");
    if (!sessions_account(app, who, &me, e))
        return false;
    struct invitation *list = calloc(max ? max : 1, sizeof *list);
    char(*ids)[ID_BUF] = calloc(max ? max : 1, ID_BUF);
    struct org_described *orgs = calloc(max ? max : 1, sizeof *orgs);
    size_t found = 0;
    bool ok = list != NULL && ids != NULL && orgs != NULL
                  ? store_invitations_pending(app->store, NULL, me.email, clock_now_ms(), before,
                                              list, max, n, e)
                  : error_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; ok && i < *n; i++)
        memcpy(ids[i], list[i].org_id, ID_BUF);
    if (ok)
        ok = store_orgs_by_ids(app->store, (const char(*)[ID_BUF])ids, *n, orgs, &found, e);
    for (size_t i = 0; ok && i < *n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].inv = list[i];
        for (size_t k = 0; k < found; k++) {
            if (strcmp(orgs[k].org.id, list[i].org_id) == 0)
                snprintf(out[i].org_name, sizeof out[i].org_name, "%s", orgs[k].org.name);
        }
    }
    free(list);
    free(ids);
    free(orgs);
    return ok;
}

static bool refused(struct error *e, enum err_kind kind, const char *why)
{
    metrics_invitation(INVITATION_REFUSED);
    return error_set(e, kind, "%s", why);
}

/* The invitation a token names, if it can still be accepted. */
static bool usable(struct app *app, const struct accept_request *req, struct invitation *v,
                   struct error *e)
{
    char hash[SESSION_HASH_BUF];
    sha256_hex(req->token, req->token_len, hash);
    bool found = false;
    if (!store_invitation_by_hash(app->store, hash, v, &found, e))
        return false;
    if (!found) { /* a token a resend replaced is gone, not unknown */
        if (!store_invitation_by_replaced_hash(app->store, hash, v, &found, e))
            return false;
        return found ? refused(e, ERR_GONE, "this invitation's link was replaced by a newer one")
                     : refused(e, ERR_NOT_FOUND, "no such invitation");
    }
    switch (v->status) {
    case INV_ACCEPTED:
        return refused(e, ERR_GONE, "this invitation has already been accepted");
    case INV_REVOKED:
        return refused(e, ERR_GONE, "this invitation has been revoked");
    case INV_ACCEPTING:
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "this invitation is being accepted; retry shortly");
    default:
        break;
    }
    if (v->expires_at <= clock_now_ms())
        return refused(e, ERR_GONE, "this invitation has expired");
    return true;
}

/* The account that joins: the bearer's (whose e-mail must be the invited
 * one), or a new one made from the request's password. */
static bool joining_account(struct app *app, const struct caller *who,
                            const struct accept_request *req, const struct invitation *v,
                            const char *client, struct acceptance *out, struct error *e)
{
    if (who != NULL) {
        if (who->scoped) /* it acts in its own org only, and this is another */
            return error_set(e, ERR_FORBIDDEN,
                             "accepting an invitation needs an account token (POST "
                             "/auth/signin); this one is scoped to one organization");
        if (req->has_password) {
            error_field(e, "password", "is for a new account; this request is signed in");
            return error_set(e, ERR_INVALID, "request validation failed");
        }
        if (!sessions_account(app, who, &out->account, e))
            return false;
        if (strcmp(out->account.email, v->email) != 0)
            return error_set(e, ERR_FORBIDDEN, "this invitation is for another e-mail address");
        return true;
    }
    if (!req->has_password) {
        error_field(e, "password",
                    "is required to create the account (or accept with a bearer token)");
        return error_set(e, ERR_INVALID, "request validation failed");
    }
    if (!throttle_attempt(app, THROTTLE_SIGNUP, client, e))
        return false;
    if (!accounts_create(app, v->email, &req->password, req->username, ORIGIN_INVITATION,
                         &out->account, e)) {
        if (e->kind != ERR_CONFLICT)
            return false;
        error_clear(e);
        return error_set(e, ERR_CONFLICT,
                         "an account with this e-mail exists: sign in and accept with its "
                         "bearer token");
    }
    out->account_created = true;
    return true;
}

/* The invitation's inviter may still grant its role in the org: an
 * invitation made by an admin who was then removed, or demoted below
 * what it grants, is no longer an offer anyone stands behind. Checked at
 * the accept (not by revoking at the removal): whatever the order of the
 * two, the accept stands only on a right held when it was made. */
static bool inviter_may_grant(struct app *app, const struct invitation *v, struct error *e)
{
    struct membership inviter;
    bool found = false;
    if (!store_membership_get(app->store, v->invited_by, v->org_id, &inviter, &found, e))
        return false;
    if (found && roles_may(inviter.role, ACT_INVITE) &&
        (v->role != ROLE_OWNER || roles_may(inviter.role, ACT_GRANT_OWNER)))
        return true;
    bool applied = false;
    struct error ue = ERROR_INIT;
    /* best effort: the 410 stands either way */
    end_invitation(app, NULL, v, "its inviter may no longer grant its role", &applied, &ue);
    return refused(e, ERR_GONE,
                   "this invitation is no longer valid: the person who sent it may no longer "
                   "grant its role");
}

/* The org is still there to join (not being created or deleted). */
static bool org_joinable(struct app *app, const char *org_id, struct org *out, struct error *e)
{
    bool found = false;
    if (!store_org_by_id(app->store, org_id, out, &found, e))
        return false;
    if (found && out->state != ORG_CREATING && out->state != ORG_DELETING)
        return true;
    return refused(e, ERR_GONE, "the organization no longer exists");
}

/* Why an invitation that was pending when read is not now. */
static bool moved_on(struct app *app, const struct invitation *read, struct error *e)
{
    struct invitation now;
    bool found = false;
    if (!store_invitation_by_id(app->store, read->id, &now, &found, e))
        return false;
    if (found && now.status == INV_ACCEPTING) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "this invitation is being accepted; retry shortly");
    }
    if (found && now.status == INV_ACCEPTED)
        return refused(e, ERR_GONE, "this invitation has already been accepted");
    return refused(e, ERR_GONE, "this invitation has been revoked");
}

bool invitations_preview(struct app *app, const char *token, struct invitation_preview *out,
                         struct error *e)
{
    memset(out, 0, sizeof *out);
    struct accept_request req = {0};
    snprintf(req.token, sizeof req.token, "%s", token);
    req.token_len = strlen(req.token);
    struct invitation v;
    struct org o;
    struct account a;
    bool found = false;
    if (!usable(app, &req, &v, e) || !org_joinable(app, v.org_id, &o, e) ||
        !store_account_by_email(app->store, v.email, &a, &found, e))
        return false;
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    snprintf(out->email, sizeof out->email, "%s", v.email);
    snprintf(out->org_display_name, sizeof out->org_display_name, "%s", o.display_name);
    out->role = v.role;
    out->has_account = found;
    return true;
}

bool invitations_accept_signed_in(struct app *app, const struct accept_request *req,
                                  const char *client, struct acceptance *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct invitation v;
    struct caller who = {0};
    if (!usable(app, req, &v, e))
        return false;
    bool ok = accounts_check_password(app, v.email, &req->password, client, &who.account, e);
    accounts_count_login(ok, e);
    explicit_bzero(who.account.password_hash, sizeof who.account.password_hash);
    if (!ok)
        return false;
    who.account_loaded = true;
    struct accept_request signed_in = *req;
    signed_in.has_password = false;
    explicit_bzero(&signed_in.password, sizeof signed_in.password);
    return invitations_accept(app, &who, &signed_in, client, out, e);
}

bool invitations_accept(struct app *app, const struct caller *who, const struct accept_request *req,
                        const char *client, struct acceptance *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct invitation v;
    if (!usable(app, req, &v, e) || !org_joinable(app, v.org_id, &out->org, e) ||
        !joining_account(app, who, req, &v, client, out, e))
        return false;
    FAULT("accept.after_account");
    if (!inviter_may_grant(app, &v, e))
        return false;
    int64_t now = clock_now_ms();
    bool applied = false;
    /* the guarded transition that decides this invitation's fate: of this
     * accept and a revoke, a replacing invite or another accept, one wins */
    if (!store_invitation_move(app->store, &v, INV_ACCEPTING, out->account.id, now, NULL, &applied,
                               e))
        return false;
    if (!applied)
        return moved_on(app, &v, e);
    v.status = INV_ACCEPTING;
    v.version++;
    struct membership *m = &out->membership;
    memcpy(m->account_id, out->account.id, ID_BUF);
    memcpy(m->org_id, v.org_id, ID_BUF);
    m->role = v.role;
    m->member_at = now;
    bool joined = store_membership_insert(app->store, m, NULL, e);
    if (!joined && e->kind != ERR_CONFLICT) {
        struct error ue = ERROR_INIT; /* back to pending, or recovery does it */
        store_invitation_move(app->store, &v, INV_PENDING, NULL, now, NULL, &applied, &ue);
        return false;
    }
    FAULT("accept.after_membership");
    /* a delete of the org that began after the first look removes every
     * membership it finds; this one may have come after that: look again */
    struct org again;
    struct error oe = ERROR_INIT;
    if (joined && !org_joinable(app, v.org_id, &again, &oe)) {
        struct error ue = ERROR_INIT;
        if (oe.kind == ERR_GONE &&
            !store_membership_delete(app->store, m->account_id, m->org_id, &ue))
            log_emit(LOG_WARN, "membership of a deleted org left for check --repair",
                     json_pack("{s:s, s:s}", "org_id", v.org_id, "error", ue.message));
        store_invitation_move(app->store, &v, INV_REVOKED, NULL, now, NULL, &applied, &ue);
        *e = oe;
        return false;
    }
    /* the accept's end carries its events (recovery finishes one left
     * accepting, and writes them then) */
    struct error se = ERROR_INIT;
    struct event_batch b = {0};
    accepted_events(&b, who, &v, out->account.id, joined);
    if (events_guard(app, &v.pending, &se) &&
        store_invitation_move(app->store, &v, INV_ACCEPTED, NULL, now, event_batch_list(&b),
                              &applied, &se) &&
        applied) {
        event_batch_commit(app, &b);
    } else {
        event_batch_drop(&b);
        log_emit(LOG_WARN, "invitation left accepting for recovery",
                 json_pack("{s:s, s:s}", "invitation_id", v.id, "error", se.message));
    }
    if (!joined) { /* already a member: one membership */
        error_clear(e);
        return error_set(e, ERR_CONFLICT, "already a member of this organization");
    }
    /* the token reached the invitee by mail, and only there: accepting
     * proves the address (without mail, the inviter had the token) */
    if (mail_enabled(app))
        account_mail_proved(app, out->account.id);
    metrics_invitation(INVITATION_ACCEPTED);
    log_emit(LOG_INFO, "invitation accepted",
             json_pack("{s:s, s:s, s:s, s:b}", "invitation_id", v.id, "org_id", v.org_id,
                       "account_id", out->account.id, "account_created", out->account_created));
    return true;
}

bool invitations_recover(struct app *app, int64_t before_ms, int *done, struct error *e)
{
    *done = 0;
    struct invitation *stuck = calloc(INVITATIONS_STUCK_BATCH, sizeof *stuck);
    size_t n = 0;
    if (stuck == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    if (!store_invitations_stuck(app->store, before_ms, stuck, INVITATIONS_STUCK_BATCH, &n, e)) {
        free(stuck);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct membership m;
        struct error le = ERROR_INIT;
        bool member = false;
        if (!store_membership_get(app->store, stuck[i].accepting_by, stuck[i].org_id, &m, &member,
                                  &le))
            continue; /* the database cannot tell now: next pass */
        bool applied = false;
        enum invitation_status to = member ? INV_ACCEPTED : INV_PENDING;
        struct event_batch b = {0};
        if (member)
            accepted_events(&b, NULL, &stuck[i], stuck[i].accepting_by, true);
        bool moved = (!member || events_guard(app, &stuck[i].pending, &le)) &&
                     store_invitation_move(app->store, &stuck[i], to, NULL, clock_now_ms(),
                                           member ? event_batch_list(&b) : NULL, &applied, &le) &&
                     applied;
        if (moved)
            event_batch_commit(app, &b);
        else
            event_batch_drop(&b);
        if (moved) {
            (*done)++;
            enum recovery_action a = member ? RECOVERY_FINISH_ACCEPT : RECOVERY_UNDO_ACCEPT;
            metrics_recovery_action(a);
            log_emit(LOG_INFO, "recovery",
                     json_pack("{s:s, s:s, s:s}", "action", recovery_action_name(a),
                               "invitation_id", stuck[i].id, "instance", app->instance_id));
        }
    }
    free(stuck);
    return true;
}
