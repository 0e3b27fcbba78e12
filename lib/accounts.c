#include "accounts.h"

#include <stdio.h>
#include <string.h>

#include "account_mail.h"
#include "events.h"
#include "faults.h"
#include "log.h"
#include "metrics.h"
#include "throttle.h"
#include "util.h"

static const char *const BAD_CREDENTIALS = "invalid email or password";

/* Stores a hash with the current parameters, if the account is still as
 * read (a guarded change: a password changed meanwhile is not put back);
 * a failure only costs the upgrade, never the login. */
static void upgrade_hash(struct app *app, const struct account *a, const struct secret_text *pw)
{
    char fresh[PASSWORD_HASH_BUF];
    struct error le = ERROR_INIT;
    bool applied = false;
    if (password_hash(app->hasher, pw->text, pw->len, fresh, &le) &&
        store_account_update(app->store, a, NULL, fresh, NULL, &applied, &le) && applied)
        log_emit(LOG_INFO, "password rehashed", json_pack("{s:s}", "account_id", a->id));
    else
        log_emit(LOG_WARN, "password rehash skipped",
                 json_pack("{s:s, s:s}", "account_id", a->id, "error",
                           le.kind != ERR_OK ? le.message : "the account changed meanwhile"));
    explicit_bzero(fresh, sizeof fresh);
}

/* The password check itself, after the throttle reserved its place: an
 * unknown e-mail costs a hash too (of nothing stored), and answers the
 * same. */
static bool verify(struct app *app, const char *email_key, const struct secret_text *pw,
                   struct throttle_hold *hold, struct account *a, struct error *e)
{
    bool known = false;
    if (!store_account_by_email(app->store, email_key, a, &known, e))
        return false;
    bool match = false, rehash = false;
    if (!password_verify(app->hasher, known ? a->password_hash : NULL, pw->text, pw->len, &match,
                         &rehash, e))
        return false;
    if (!match) /* the reserved places stay: they are this failure */
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_CREDENTIALS);
    throttle_login_succeeded(app, hold);
    if (rehash)
        upgrade_hash(app, a, pw);
    return true;
}

bool accounts_check_password(struct app *app, const char *email, const struct secret_text *pw,
                             const char *client, struct account *out, struct error *e)
{
    char email_key[EMAIL_BUF];
    names_email_key(email, email_key);
    struct throttle_hold hold;
    memset(out, 0, sizeof *out);
    if (!throttle_login_reserve(app, email_key, client, &hold, e))
        return false;
    bool ok = verify(app, email_key, pw, &hold, out, e);
    if (!ok && e->kind != ERR_UNAUTHORIZED) /* not checked: nothing to count */
        throttle_login_release(app, &hold);
    explicit_bzero(out->password_hash, sizeof out->password_hash);
    return ok;
}

bool accounts_reauthenticate(struct app *app, const struct account *who,
                             const struct secret_text *pw, const char *client,
                             struct account *verified, struct error *e)
{
    if (accounts_check_password(app, who->email, pw, client, verified, e)) {
        if (strcmp(verified->id, who->id) == 0)
            return true;
        /* the e-mail moved to another account between the two reads */
        return error_set(e, ERR_CONFLICT, "the account changed meanwhile; retry");
    }
    if (e->kind == ERR_UNAUTHORIZED) {
        error_clear(e);
        error_field(e, "current_password", "is incorrect");
        return error_set(e, ERR_UNAUTHORIZED, "the current password is incorrect");
    }
    return false;
}

bool accounts_email_free(struct app *app, const char *email_key, const char *except_id,
                         struct error *e)
{
    struct account other;
    bool found = false;
    if (!store_account_by_email(app->store, email_key, &other, &found, e))
        return false;
    explicit_bzero(other.password_hash, sizeof other.password_hash);
    if (!found || (except_id != NULL && strcmp(other.id, except_id) == 0))
        return true;
    error_field(e, "email", "is already registered");
    return error_set(e, ERR_CONFLICT, "an account with this email already exists");
}

bool accounts_draft(struct app *app, const char *email, const struct secret_text *pw,
                    const char *username, enum origin origin, struct account *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    names_email_key(email, out->email);
    if (!accounts_email_free(app, out->email, NULL, e) ||
        !password_hash(app->hasher, pw->text, pw->len, out->password_hash, e))
        return false;
    store_new_id(out->id);
    snprintf(out->username, sizeof out->username, "%s", username != NULL ? username : "");
    out->origin = origin;
    out->created_at = clock_now_ms();
    out->version = 1;
    return true;
}

bool accounts_create(struct app *app, const char *email, const struct secret_text *pw,
                     const char *username, enum origin origin, struct account *out, struct error *e)
{
    bool ok = accounts_draft(app, email, pw, username, origin, out, e);
    struct event_batch b = {0};
    if (ok) {
        struct event *ev = event_batch_add(&b);
        event_draft(ev, "account.created", NULL, "account", out->id, NULL, out->id);
        ev->new_chain = true;
        event_change_str(ev, "email", NULL, out->email);
        event_change_str(ev, "origin", NULL, origin_name(origin));
        ok = store_account_insert(app->store, out, event_batch_list(&b), e);
    }
    if (ok)
        event_batch_commit(app, &b);
    else
        event_batch_drop(&b);
    explicit_bzero(out->password_hash, sizeof out->password_hash);
    if (!ok && e->kind == ERR_CONFLICT) { /* the unique index decided a race */
        error_clear(e);
        error_field(e, "email", "is already registered");
        return error_set(e, ERR_CONFLICT, "an account with this email already exists");
    }
    if (ok)
        log_emit(LOG_INFO, "account created",
                 json_pack("{s:s, s:s}", "account_id", out->id, "origin", origin_name(origin)));
    return ok;
}

bool accounts_signup(struct app *app, const struct signup_request *req, const char *client,
                     struct account *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (!throttle_attempt(app, THROTTLE_SIGNUP, client, e) ||
        !accounts_create(app, req->email, &req->password, req->username, ORIGIN_SIGNUP, out, e))
        return false;
    account_mail_send_check(app, out); /* mail on: a link that proves the address */
    return true;
}

void accounts_count_login(bool ok, const struct error *e)
{
    if (ok)
        metrics_login(LOGIN_OK);
    else if (e->kind == ERR_UNAUTHORIZED)
        metrics_login(LOGIN_BAD_CREDENTIALS);
    else if (e->kind == ERR_RATE_LIMITED)
        metrics_login(LOGIN_THROTTLED);
}

bool accounts_verified_enough(const struct app *app, const struct account *a, struct error *e)
{
    if (!app->cfg->require_verified_email || a->email_verified)
        return true;
    return error_set(e, ERR_EMAIL_UNVERIFIED,
                     "this account's e-mail address is not verified yet: follow the link in the "
                     "mail sent to it, or ask for another (POST /auth/email/verify/resend)");
}

bool accounts_signin(struct app *app, const struct login_request *req, const char *client,
                     struct token_pair *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct account a;
    bool ok = accounts_check_password(app, req->email, &req->password, client, &a, e);
    accounts_count_login(ok, e);
    return ok && accounts_verified_enough(app, &a, e) &&
           sessions_start(app, &a, NULL, ROLE_MEMBER, client, out, e);
}

bool accounts_change_password(struct app *app, const struct caller *who,
                              const struct password_request *req, const char *client,
                              struct error *e)
{
    char hash[PASSWORD_HASH_BUF];
    struct account me, verified;
    bool applied = false;
    bool ok = sessions_account(app, who, &me, e) &&
              accounts_reauthenticate(app, &me, &req->current_password, client, &verified, e) &&
              password_hash(app->hasher, req->new_password.text, req->new_password.len, hash, e);
    FAULT("password.after_check");
    struct event_batch b = {0};
    if (ok)
        event_draft(event_batch_add(&b), "account.password_changed", NULL, "account",
                    who->account.id, who, NULL);
    ok = ok && events_guard(app, &verified.pending, e) &&
         store_account_update(app->store, &verified, NULL, hash, event_batch_list(&b), &applied, e);
    explicit_bzero(hash, sizeof hash);
    if (!ok || !applied)
        event_batch_drop(&b);
    if (!ok)
        return false;
    if (!applied) /* the account changed since its password was checked: another change won */
        return error_set(e, ERR_CONFLICT,
                         "the account changed while the password was being changed (another "
                         "change won); nothing was changed");
    event_batch_commit(app, &b);
    log_emit(LOG_INFO, "password changed", json_pack("{s:s}", "account_id", who->account.id));
    account_mail_password_changed(app, verified.email);
    /* the change is made: a failure to end the other sessions is logged,
     * not turned into an error the client would take for "unchanged" */
    struct error se = ERROR_INIT;
    if (!sessions_end_others(app, who->account.id, who->session.id, &se))
        log_emit(LOG_ERROR, "other sessions not ended after a password change",
                 json_pack("{s:s, s:s}", "account_id", who->account.id, "error", se.message));
    return true;
}
