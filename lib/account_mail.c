#include "account_mail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "mail.h"
#include "names.h"
#include "password.h"
#include "throttle.h"
#include "util.h"

bool account_mail_required(const struct app *app, struct error *e)
{
    if (mail_enabled(app))
        return true;
    return error_set(e, ERR_MAIL_DISABLED, "mail is off on this server (SMTP_URL is not set)");
}

bool account_mail_throttle(struct app *app, const char *client, const char *email, struct error *e)
{
    char key[EMAIL_BUF];
    names_email_key(email, key);
    return throttle_mail(app, client, key, e);
}

/* A token for account a and purpose p: the live one before it ends (the
 * newest replaces the older), then the new one inserted. */
static bool token_issue(struct app *app, const struct account *a, enum token_purpose p,
                        char token[INVITATION_TOKEN_LEN + 1], struct account_token *out,
                        struct error *e)
{
    memset(out, 0, sizeof *out);
    if (!sessions_one_time_token(token, out->token_hash, e))
        return false;
    store_new_id(out->id);
    memcpy(out->account_id, a->id, ID_BUF);
    snprintf(out->email, sizeof out->email, "%s", a->email);
    out->purpose = p;
    out->created_at = clock_now_ms();
    out->expires_at =
        out->created_at + (p == TOKEN_RESET ? RESET_TOKEN_SECONDS : VERIFY_TOKEN_SECONDS) * 1000LL;
    out->version = 1;
    for (int attempt = 0; attempt < 4; attempt++) {
        struct account_token live;
        bool found = false, applied = false;
        if (!store_account_token_live(app->store, a->id, p, &live, &found, e) ||
            (found && !store_account_token_end(app->store, &live, &applied, e)))
            return false;
        if (store_account_token_insert(app->store, out, e))
            return true;
        if (e->kind != ERR_CONFLICT)
            return false;
        error_clear(e); /* another was made meanwhile: it is replaced in turn */
    }
    e->retry_after = 1;
    return error_set(e, ERR_BUSY, "tokens for this account are changing; retry shortly");
}

/* The account with this e-mail, if there is one. */
static bool account_of(struct app *app, const char *email, struct account *a, bool *found,
                       struct error *e)
{
    char key[EMAIL_BUF];
    names_email_key(email, key);
    bool ok = store_account_by_email(app->store, key, a, found, e);
    explicit_bzero(a->password_hash, sizeof a->password_hash);
    return ok;
}

static void mail_token(struct app *app, const struct account *a, enum token_purpose p,
                       enum mail_template tpl, const char *link_kind)
{
    char token[INVITATION_TOKEN_LEN + 1], link[1200];
    struct account_token t;
    struct error e = ERROR_INIT;
    bool ok = token_issue(app, a, p, token, &t, &e);
    if (ok) {
        mail_link(app, link_kind, token, link, sizeof link);
        json_t *vars = json_pack("{s:s, s:s, s:s}", "email", a->email, "username",
                                 a->username[0] ? a->username : a->email, "link", link);
        const struct mail_check check = {"account_token", t.id, t.token_hash};
        ok = mail_queue(app, tpl, a->email, vars, &check, &e);
        json_decref(vars);
    }
    explicit_bzero(token, sizeof token);
    if (!ok)
        log_emit(LOG_WARN, "mail not queued",
                 json_pack("{s:s, s:s, s:s}", "template", mail_template_name(tpl), "account_id",
                           a->id, "error", e.message));
}

void account_mail_forgot(struct app *app, const char *email)
{
    struct account a;
    bool found = false;
    struct error e = ERROR_INIT;
    if (account_of(app, email, &a, &found, &e) && found)
        mail_token(app, &a, TOKEN_RESET, MAIL_PASSWORD_RESET, "password_reset");
}

void account_mail_send_check(struct app *app, const struct account *a)
{
    if (mail_enabled(app))
        mail_token(app, a, TOKEN_VERIFY, MAIL_VERIFY_EMAIL, "verify_email");
}

void account_mail_resend_check(struct app *app, const char *email)
{
    struct account a;
    bool found = false;
    struct error e = ERROR_INIT;
    if (account_of(app, email, &a, &found, &e) && found && !a.email_verified)
        mail_token(app, &a, TOKEN_VERIFY, MAIL_VERIFY_EMAIL, "verify_email");
}

/* The live token of `purpose` a text names: 404 unknown, 410 ended or expired. */
static bool token_usable(struct app *app, const char *token, enum token_purpose purpose,
                         struct account_token *t, struct error *e)
{
    char hash[SESSION_HASH_BUF];
    sha256_hex(token, strlen(token), hash);
    bool found = false;
    if (!store_account_token_by_hash(app->store, hash, t, &found, e))
        return false;
    if (!found || t->purpose != purpose)
        return error_set(e, ERR_NOT_FOUND, "unknown token");
    if (t->ended || t->expires_at <= clock_now_ms())
        return error_set(e, ERR_GONE, "this link has been used, replaced or has expired");
    return true;
}

/* Ends token t (as read): of two uses at once one wins, the other is 410. */
static bool token_use(struct app *app, const struct account_token *t, struct error *e)
{
    bool applied = false;
    if (!store_account_token_end(app->store, t, &applied, e))
        return false;
    return applied || error_set(e, ERR_GONE, "this link has been used, replaced or has expired");
}

bool account_mail_reset(struct app *app, const char *token, const struct secret_text *password,
                        struct error *e)
{
    struct account_token t;
    struct account a;
    bool found = false, applied = false;
    char hash[PASSWORD_HASH_BUF];
    if (!token_usable(app, token, TOKEN_RESET, &t, e) ||
        !store_account_by_id(app->store, t.account_id, &a, &found, e))
        return false;
    if (!found || strcmp(a.email, t.email) != 0)
        return error_set(e, ERR_GONE,
                         found ? "this link was for an address the account no "
                                 "longer has"
                               : "this account no longer exists");
    /* hashed before the token is spent: a hash that fails leaves it usable */
    if (!password_hash(app->hasher, password->text, password->len, hash, e) ||
        !token_use(app, &t, e))
        return false;
    struct event_batch b = {0};
    event_draft(event_batch_add(&b), "account.password_reset", NULL, "account", a.id, NULL, a.id);
    bool ok = events_guard(app, &a.pending, e) &&
              store_account_update(app->store, &a, NULL, hash, event_batch_list(&b), &applied, e);
    explicit_bzero(hash, sizeof hash);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!ok || !applied) {
        event_batch_drop(&b);
        return ok ? error_set(e, ERR_CONFLICT,
                              "the account changed while its password was being reset; ask for "
                              "another link")
                  : false;
    }
    event_batch_commit(app, &b);
    int64_t ended = 0;
    struct error se = ERROR_INIT;
    if (!sessions_end_all(app, a.id, NULL, NULL, END_PASSWORD_CHANGE, &ended, &se))
        log_emit(LOG_ERROR, "sessions not ended after a password reset",
                 json_pack("{s:s, s:s}", "account_id", a.id, "error", se.message));
    log_emit(LOG_INFO, "password reset",
             json_pack("{s:s, s:I}", "account_id", a.id, "sessions", (json_int_t)ended));
    account_mail_password_changed(app, a.email);
    return true;
}

/* Marks a's address verified (as read), with its event. */
static bool verify_account(struct app *app, const struct account *a, struct error *e)
{
    if (a->email_verified)
        return true;
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, "account.email_verified", NULL, "account", a->id, NULL, a->id);
    event_change_str(ev, "email", NULL, a->email);
    bool applied = false;
    bool ok = events_guard(app, &a->pending, e) &&
              store_account_verify(app->store, a, event_batch_list(&b), &applied, e);
    if (ok && applied)
        event_batch_commit(app, &b);
    else
        event_batch_drop(&b);
    return ok && (applied || error_set(e, ERR_CONFLICT, "the account changed meanwhile; retry"));
}

bool account_mail_verify(struct app *app, const char *token, struct error *e)
{
    struct account_token t;
    struct account a;
    bool found = false;
    if (!token_usable(app, token, TOKEN_VERIFY, &t, e) ||
        !store_account_by_id(app->store, t.account_id, &a, &found, e))
        return false;
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!found || strcmp(a.email, t.email) != 0)
        return error_set(e, ERR_GONE,
                         found ? "this link was for an address the account no "
                                 "longer has"
                               : "this account no longer exists");
    return token_use(app, &t, e) && verify_account(app, &a, e);
}

void account_mail_proved(struct app *app, const char *account_id)
{
    struct account a;
    bool found = false;
    struct error e = ERROR_INIT;
    bool ok = store_account_by_id(app->store, account_id, &a, &found, &e);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (ok && found)
        ok = verify_account(app, &a, &e);
    if (!ok)
        log_emit(LOG_WARN, "address not marked verified",
                 json_pack("{s:s, s:s}", "account_id", account_id, "error", e.message));
}

static void notice(struct app *app, enum mail_template tpl, const char *to, json_t *vars)
{
    struct error e = ERROR_INIT;
    if (mail_enabled(app) && !mail_queue(app, tpl, to, vars, NULL, &e))
        log_emit(LOG_WARN, "mail not queued",
                 json_pack("{s:s, s:s}", "template", mail_template_name(tpl), "error", e.message));
    json_decref(vars);
}

void account_mail_password_changed(struct app *app, const char *email)
{
    notice(app, MAIL_PASSWORD_CHANGED, email, json_pack("{s:s}", "email", email));
}

void account_mail_email_changed(struct app *app, const char *old_email, const char *new_email)
{
    notice(app, MAIL_EMAIL_CHANGED, old_email,
           json_pack("{s:s, s:s}", "email", old_email, "new_email", new_email));
}
