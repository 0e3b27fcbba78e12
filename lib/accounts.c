#include "accounts.h"

#include <stdio.h>
#include <string.h>

#include "faults.h"
#include "log.h"
#include "metrics.h"
#include "throttle.h"
#include "util.h"

static const char *const BAD_CREDENTIALS = "invalid email or password";

/* Stores a hash with the current parameters, if the account is still as
 * read (a guarded change: a password changed meanwhile is not put back);
 * a failure only costs the upgrade, never the login. */
static void upgrade_hash(struct app *c, const struct admin *a, const struct secret_text *pw)
{
    char fresh[PASSWORD_HASH_BUF];
    struct error le = ERROR_INIT;
    bool applied = false;
    if (password_hash(c->hasher, pw->text, pw->len, fresh, &le) &&
        store_admin_update(c->store, a, NULL, fresh, &applied, &le) && applied)
        log_emit(LOG_INFO, "password rehashed", json_pack("{s:s}", "admin_id", a->id));
    else
        log_emit(LOG_WARN, "password rehash skipped",
                 json_pack("{s:s, s:s}", "admin_id", a->id, "error",
                           le.kind != ERR_OK ? le.message : "the account changed meanwhile"));
    explicit_bzero(fresh, sizeof fresh);
}

/* The password check itself, after the throttle reserved its place: an
 * unknown e-mail costs a hash too (of nothing stored), and answers the
 * same. */
static bool verify(struct app *c, const char *email_key, const struct secret_text *pw,
                   struct throttle_hold *hold, struct admin *a, struct error *e)
{
    struct error le = ERROR_INIT;
    bool known = store_admin_by_email(c->store, email_key, a, &le);
    if (!known && !error_absent(e, &le))
        return false;
    bool match = false, rehash = false;
    if (!password_verify(c->hasher, known ? a->password_hash : NULL, pw->text, pw->len, &match,
                         &rehash, e))
        return false;
    if (!match) /* the reserved places stay: they are this failure */
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_CREDENTIALS);
    throttle_login_succeeded(c, hold);
    if (rehash)
        upgrade_hash(c, a, pw);
    return true;
}

bool accounts_check_password(struct app *c, const char *email, const struct secret_text *pw,
                             const char *client, struct admin *out, struct error *e)
{
    char email_key[EMAIL_BUF];
    names_email_key(email, email_key);
    struct throttle_hold hold;
    memset(out, 0, sizeof *out);
    if (!throttle_login_reserve(c, email_key, client, &hold, e))
        return false;
    bool ok = verify(c, email_key, pw, &hold, out, e);
    if (!ok && e->kind != ERR_UNAUTHORIZED) /* not checked: nothing to count */
        throttle_login_release(c, &hold);
    explicit_bzero(out->password_hash, sizeof out->password_hash);
    return ok;
}

bool accounts_reauthenticate(struct app *c, const struct admin *who, const struct secret_text *pw,
                             const char *client, struct admin *verified, struct error *e)
{
    if (accounts_check_password(c, who->email, pw, client, verified, e)) {
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

bool accounts_email_free(struct app *c, const char *email_key, const char *except_id,
                         struct error *e)
{
    struct admin other;
    struct error le = ERROR_INIT;
    if (!store_admin_by_email(c->store, email_key, &other, &le))
        return error_absent(e, &le);
    explicit_bzero(other.password_hash, sizeof other.password_hash);
    if (except_id != NULL && strcmp(other.id, except_id) == 0)
        return true;
    error_field(e, "email", "is already registered");
    return error_set(e, ERR_CONFLICT, "an account with this email already exists");
}

bool accounts_signup(struct app *c, const struct signup_request *req, const char *client,
                     struct admin *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    names_email_key(req->email, out->email);
    if (!throttle_attempt(c, THROTTLE_SIGNUP, client, e) ||
        !accounts_email_free(c, out->email, NULL, e) ||
        !password_hash(c->hasher, req->password.text, req->password.len, out->password_hash, e))
        return false;
    store_new_id(out->id);
    snprintf(out->username, sizeof out->username, "%s", req->username);
    out->origin = ORIGIN_SIGNUP;
    out->created_at = clock_now_ms();
    bool ok = store_admin_insert(c->store, out, e);
    explicit_bzero(out->password_hash, sizeof out->password_hash);
    if (!ok && e->kind == ERR_CONFLICT) {
        error_clear(e);
        error_field(e, "email", "is already registered");
        return error_set(e, ERR_CONFLICT, "an account with this email already exists");
    }
    if (ok)
        log_emit(LOG_INFO, "account created",
                 json_pack("{s:s, s:s}", "admin_id", out->id, "origin", "signup"));
    return ok;
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

bool accounts_signin(struct app *c, const struct login_request *req, const char *client,
                     struct token_pair *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct admin a;
    bool ok = accounts_check_password(c, req->email, &req->password, client, &a, e);
    accounts_count_login(ok, e);
    return ok && sessions_start(c, &a, NULL, ROLE_MEMBER, client, out, e);
}

bool accounts_change_password(struct app *c, const struct caller *who,
                              const struct password_request *req, const char *client,
                              struct error *e)
{
    char hash[PASSWORD_HASH_BUF];
    struct admin me, verified;
    bool applied = false;
    bool ok = sessions_account(c, who, &me, e) &&
              accounts_reauthenticate(c, &me, &req->current_password, client, &verified, e) &&
              password_hash(c->hasher, req->new_password.text, req->new_password.len, hash, e);
    FAULT("password.after_check");
    ok = ok && store_admin_update(c->store, &verified, NULL, hash, &applied, e);
    explicit_bzero(hash, sizeof hash);
    if (!ok)
        return false;
    if (!applied) /* the account changed since its password was checked: another change won */
        return error_set(e, ERR_CONFLICT,
                         "the account changed while the password was being changed (another "
                         "change won); nothing was changed");
    log_emit(LOG_INFO, "password changed", json_pack("{s:s}", "admin_id", who->admin.id));
    /* the change is made: a failure to end the other sessions is logged,
     * not turned into an error the client would take for "unchanged" */
    struct error se = ERROR_INIT;
    if (!sessions_end_others(c, who->admin.id, who->session.id, &se))
        log_emit(LOG_ERROR, "other sessions not ended after a password change",
                 json_pack("{s:s, s:s}", "admin_id", who->admin.id, "error", se.message));
    return true;
}
