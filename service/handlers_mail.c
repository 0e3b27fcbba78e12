/* handlers_mail.c — the routes that send mail or take a mailed token:
 * POST /auth/password/forgot, /auth/password/reset, /auth/email/verify,
 * /auth/email/verify/resend and /organization/{id}/invitations/{id}/resend.
 * With mail off (no SMTP_URL) every one is 503 mail-disabled.
 *
 * forgot and verify/resend answer 202 before they look the e-mail up: the
 * answer, and its timing, are the same for a registered address and any
 * other; the work (a token, a message queued) follows on this thread,
 * and the connection closes, so no request waits behind it. */
#include <stdio.h>
#include <string.h>

#include "account_mail.h"
#include "handlers-private.h"
#include "invitations.h"

static const char MAILED[] = "if this e-mail belongs to an account, a message is on its way to it";

/* Answers 202 for a request about email, then lets `work` do it. The
 * connection closes after the answer: a request after it on the same
 * connection would wait for the work, and its timing would tell. */
static bool accept_then(struct request *r, const char *email,
                        void (*work)(struct app *, const char *))
{
    r->close = true;
    http_send_json(r, 202, json_pack("{s:s}", "message", MAILED));
    work(r->app, email);
    return true;
}

bool handle_password_forgot(struct request *r, struct error *e)
{
    struct email_request req;
    return account_mail_required(r->app, e) && request_email_parse(r->body, r->body_len, &req, e) &&
           account_mail_throttle(r->app, r->client, req.email, e) &&
           accept_then(r, req.email, account_mail_forgot);
}

bool handle_email_verify_resend(struct request *r, struct error *e)
{
    struct email_request req;
    return account_mail_required(r->app, e) && request_email_parse(r->body, r->body_len, &req, e) &&
           account_mail_throttle(r->app, r->client, req.email, e) &&
           accept_then(r, req.email, account_mail_resend_check);
}

bool handle_password_reset(struct request *r, struct error *e)
{
    struct token_request req;
    bool ok = account_mail_required(r->app, e) &&
              request_token_parse(r->body, r->body_len, true, &req, e) &&
              account_mail_reset(r->app, req.token, &req.new_password, e);
    secret_text_wipe(&req.new_password);
    if (ok)
        http_send_empty(r, 204);
    return ok;
}

bool handle_email_verify(struct request *r, struct error *e)
{
    struct token_request req;
    if (!account_mail_required(r->app, e) ||
        !request_token_parse(r->body, r->body_len, false, &req, e) ||
        !account_mail_verify(r->app, req.token, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_invitation_resend(struct request *r, struct error *e)
{
    struct caller who;
    struct invitation_view v;
    if (!handlers__authenticate(r, &who, e) ||
        !invitations_resend(r->app, &who, r->param, r->param2, r->client, &v, e))
        return false;
    http_send_json(r, 200, handlers__invitation_json(&v));
    return true;
}
