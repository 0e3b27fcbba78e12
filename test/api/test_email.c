/* E-mail, read back through Mailpit's API (harness_mail.h): invitations
 * mailed to the invitee alone, resends that replace the token and are
 * throttled, password resets, address checks, notices of credential
 * changes, and hostile values in the parts and the headers. Mail off, a
 * mail server that is down for a while and two instances sharing one
 * outbox are test_email_servers.c's.
 *
 * Needs ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API (scripts/test sets
 * both): one Mailpit shared by the whole suite, so every test here mails
 * fresh addresses only (th_fresh_email) and searches by recipient. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "harness_mail.h"
#include "testutil.h"

/* The orgd of this program: mail on, no mail throttle (one test makes its own). */
static struct th_orgd M_orgd;
static struct th_orgd *const M = &M_orgd;

/* ---- orgd ---- */

static bool verified(const struct th_orgd *o, const char *access)
{
    json_t *j = th_expect_json(o, "GET", "/auth/check", access, NULL, 200);
    bool v = json_is_true(json_object_get(json_object_get(j, "admin"), "email_verified"));
    json_decref(j);
    return v;
}

/* On the shared orgd, with token: makes an org named `name` (POST
 * /organization/) and invites a fresh address made from prefix (written
 * to invitee) to it; fails the test unless each answers 201. */
static void invite_to_a_new_org_named(const char *token, const char *name, const char *prefix,
                                      char invitee[96])
{
    json_t *org =
        th_expect_json(M, "POST", "/organization/", token, json_pack("{s:s}", "name", name), 201);
    char path[160];
    snprintf(path, sizeof path, "/organization/%s/invite", th_json_str(org, "id"));
    json_decref(org);
    th_fresh_email(prefix, invitee, 96);
    th_expect_status(M, "POST", path, token, json_pack("{s:s}", "email", invitee), 201);
}

/* ---- 1. invitations ---- */

static void an_invitation_is_mailed_to_the_invitee_alone(void **state)
{
    (void)state;
    struct th_account owner;
    char org_id[32], org_name[64], invitee[96];
    th_owner_with_an_org(M, "Mail", &owner, org_id, org_name);
    th_fresh_email("invitee", invitee, sizeof invitee);
    json_t *j = th_invite_by_mail(M, owner.t.access, org_id, invitee);
    json_t *tok = json_object_get(j, "token");
    if (tok != NULL && !json_is_null(tok))
        fail_msg("with mail on the invite answer carries the token: %s", json_string_value(tok));
    json_decref(j);

    json_t *l = th_mp_wait(invitee, NULL, 1);
    json_t *m = th_mp_message(json_array_get(l, 0));
    assert_true(strlen(th_json_str(m, "Text")) > 0);
    assert_true(strlen(th_json_str(m, "HTML")) > 0);
    assert_true(strlen(th_json_str(m, "MessageID")) > 0);
    assert_string_equal(th_json_str(json_object_get(m, "From"), "Address"), TH_MAIL_FROM_ADDR);
    assert_non_null(strstr(th_json_str(m, "Subject"), org_name));
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/invitation?token="));
    char *raw = th_mp_raw(json_array_get(l, 0));
    assert_non_null(th_mail_raw_header(raw, "Date"));
    assert_non_null(th_mail_raw_header(raw, "Message-ID"));
    assert_non_null(strstr(raw, "multipart/alternative"));
    assert_non_null(strstr(raw, "text/plain"));
    assert_non_null(strstr(raw, "text/html"));
    free(raw);
    char token[128];
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);
    json_decref(l);

    /* the mailed token makes the account, and proves its address */
    j = th_accept_new(M, token, 200);
    assert_true(json_is_true(json_object_get(j, "account_created")));
    json_decref(j);
    struct th_tokens t;
    th_signin_ok(M, invitee, TU_PASSWORD, &t);
    assert_true(verified(M, t.access));
    /* one mail, and only one, to the invitee: accepting sends no verify mail */
    th_mp_expect_exactly_at(th_mailpit_api, invitee, NULL, 1);
}

/* ---- 2. resend ---- */

static void a_resend_mails_a_new_token_and_the_old_one_dies(void **state)
{
    (void)state;
    struct th_account owner;
    char org_id[32], org_name[64], path[200];
    th_owner_with_an_org(M, "Resend", &owner, org_id, org_name);
    char invitee[96];
    th_fresh_email("resent", invitee, sizeof invitee);
    struct th_invitation v;
    json_t *j = th_invite_by_mail(M, owner.t.access, org_id, invitee);
    snprintf(v.id, sizeof v.id, "%s", th_json_str(j, "id"));
    json_decref(j);
    char first[128], second[128];
    json_t *m = th_mp_newest(invitee, NULL, 1);
    th_mail_token_of(m, first, sizeof first);
    json_decref(m);

    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id, v.id);
    j = th_expect_json(M, "POST", path, owner.t.access, NULL, 200);
    json_t *tok = json_object_get(j, "token");
    assert_true(tok == NULL || json_is_null(tok));
    json_decref(j);
    m = th_mp_newest(invitee, "again", 1);
    th_mail_token_of(m, second, sizeof second);
    json_decref(m);
    assert_string_not_equal(first, second);
    th_mp_expect_exactly_at(th_mailpit_api, invitee, NULL, 2);

    j = th_accept_new(M, first, 410);
    assert_string_equal(th_json_str(j, "type"), "urn:orgd:problem:gone");
    json_decref(j);
    json_decref(th_accept_new(M, second, 200));
    /* and a member's invitation is no longer there to resend */
    th_expect_status(M, "POST", path, owner.t.access, NULL, 404);
}

static void resends_are_throttled_per_email(void **state)
{
    (void)state;
    const char *more[] = {"MAIL_PER_EMAIL=2", "MAIL_PER_ADDRESS=3",
                          "LINK_INVITATION=https://app.example/join?from=mail&token={token}", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, th_mail_env(more));
    struct th_account owner;
    char org_id[32], org_name[64], path[200], invitee[96];
    th_owner_with_an_org(o, "Throttle", &owner, org_id, org_name);
    th_fresh_email("throttled", invitee, sizeof invitee);
    json_t *j = th_invite_by_mail(o, owner.t.access, org_id, invitee);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id,
             th_json_str(j, "id"));
    json_decref(j);
    /* each mail out before the next resend: a resend drops the mail it overtakes */
    json_t *m = th_mp_newest(invitee, NULL, 1);
    /* with LINK_INVITATION, the link is the app's (its & escaped in the HTML) */
    assert_non_null(strstr(th_json_str(m, "Text"), "https://app.example/join?from=mail&token="));
    assert_non_null(
        strstr(th_json_str(m, "HTML"), "href=\"https://app.example/join?from=mail&amp;token="));
    char token[128];
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);
    th_expect_status(o, "POST", path, owner.t.access, NULL, 200);
    json_decref(th_mp_wait(invitee, NULL, 2));
    th_expect_status(o, "POST", path, owner.t.access, NULL, 200);
    json_decref(th_mp_wait(invitee, NULL, 3));
    struct th_resp r;
    assert_true(th_http_json(o, "POST", path, owner.t.access, NULL, &r));
    assert_true(th_is_problem(&r, 429));
    char retry[32];
    assert_true(th_resp_header(&r, "Retry-After", retry, sizeof retry));
    assert_true(strtol(retry, NULL, 10) > 0);
    th_resp_free(&r);
    /* forgot-password for that address counts on the same budget */
    th_expect_status(o, "POST", "/auth/password/forgot", NULL, json_pack("{s:s}", "email", invitee),
                     429);
    /* the invitation and both resends: the throttled one sent nothing */
    th_mp_expect_exactly_at(th_mailpit_api, invitee, NULL, 3);

    /* per client address: forgot and verify/resend share MAIL_PER_ADDRESS */
    const char *routes[] = {"/auth/password/forgot", "/auth/email/verify/resend",
                            "/auth/password/forgot", "/auth/email/verify/resend"};
    for (int i = 0; i < 4; i++) {
        char email[96], body[160];
        th_fresh_email("peraddr", email, sizeof email);
        snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
        assert_true(th_http_from(o, "127.0.0.9", "POST", routes[i], NULL, body, NULL, &r));
        if (i < 3 ? r.status != 202 : !th_is_problem(&r, 429))
            fail_msg("request %d from one address to %s: %ld %s", i + 1, routes[i], r.status,
                     r.body);
        if (i == 3)
            assert_true(th_resp_header(&r, "Retry-After", retry, sizeof retry));
        th_resp_free(&r);
    }
}

/* ---- 3. password reset ---- */

static void a_forgotten_password_is_reset_by_the_mailed_token(void **state)
{
    (void)state;
    char email[96], unknown[96];
    th_signup_fresh(M, "forgot", email, sizeof email);
    th_fresh_email("nobody", unknown, sizeof unknown);
    struct th_tokens before, other;
    th_signin_ok(M, email, TU_PASSWORD, &before);
    th_signin_ok(M, email, TU_PASSWORD, &other);

    th_expect_status(M, "POST", "/auth/password/forgot", NULL, json_pack("{s:s}", "email", email),
                     202);
    th_expect_status(M, "POST", "/auth/password/forgot", NULL, json_pack("{s:s}", "email", unknown),
                     202);
    json_t *m = th_mp_newest(email, "new password", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/password-reset?token="));
    char token[128];
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);

    const char *fresh = "a new horse battery staple";
    th_secret_remember(fresh);
    /* a reset token is no address check */
    th_expect_status(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", token),
                     404);
    /* unknown and malformed tokens */
    th_expect_status(M, "POST", "/auth/password/reset", NULL,
                     json_pack("{s:s, s:s}", "token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                               "new_password", fresh),
                     404);
    th_expect_status(M, "POST", "/auth/password/reset", NULL,
                     json_pack("{s:s, s:s}", "token", token, "new_password", "short"), 422);
    th_expect_status(M, "POST", "/auth/password/reset", NULL,
                     json_pack("{s:s, s:s}", "token", token, "new_password", fresh), 204);
    struct th_tokens t;
    assert_int_equal(th_signin(M, email, TU_PASSWORD, &t), 401);
    th_signin_ok(M, email, fresh, &t);
    /* one use */
    json_t *j = th_expect_json(
        M, "POST", "/auth/password/reset", NULL,
        json_pack("{s:s, s:s}", "token", token, "new_password", "yet another battery staple"), 410);
    json_decref(j);
    th_signin_ok(M, email, fresh, &t);
    /* every session from before ended */
    assert_int_equal(th_refresh_status(M, before.refresh), 401);
    assert_int_equal(th_refresh_status(M, other.refresh), 401);
    th_expect_refused(M, other.access);
    th_expect_alive(M, t.access);
    /* the owner of the address hears of it */
    json_decref(th_mp_wait(email, "password was changed", 1));
    /* nothing for the unknown address */
    th_mp_expect_exactly_at(th_mailpit_api, unknown, NULL, 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* POST /auth/password/forgot for email, then at once GET /healthz, as a
 * client with a kept-alive connection would: how long each took. The
 * second tells whether the first left work behind on its connection. */
static void forgot_timed(const char *email, double *answer, double *next)
{
    struct th_resp r;
    char body[160];
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    assert_true(th_http_json(M, "POST", "/auth/password/forgot", NULL, body, &r));
    assert_int_equal(r.status, 202);
    *answer = r.seconds;
    th_resp_free(&r);
    assert_true(th_http(M, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    *next = r.seconds;
    th_resp_free(&r);
}

/* Neither the 202 nor the request after it on the same connection takes
 * longer for an account's address: the work for an account (a token, a
 * message) is not what a client can time. */
static void forgot_takes_as_long_for_any_address(void **state)
{
    (void)state;
    enum { N = 11 };
    char known[N][96], unknown[96];
    for (int i = 0; i < N; i++)
        th_signup_fresh(M, "timing", known[i], sizeof known[i]);
    double k[N], u[N], kn[N], un[N];
    for (int i = 0; i < N; i++) {
        th_fresh_email("ghost", unknown, sizeof unknown);
        forgot_timed(unknown, &u[i], &un[i]);
        forgot_timed(known[i], &k[i], &kn[i]);
    }
    double mk = median(k, N), mu = median(u, N), mkn = median(kn, N), mun = median(un, N);
    printf("forgot: median %.4f s for accounts, %.4f s for other addresses; the next request "
           "%.4f s and %.4f s\n",
           mk, mu, mkn, mun);
    if (mk > mu * 2 + 0.006 || mu > mk * 2 + 0.006)
        fail_msg("forgot took %.4f s (median) for accounts, %.4f s for other addresses", mk, mu);
    if (mkn > mun * 2 + 0.006)
        fail_msg("the request after a forgot took %.4f s (median) for accounts, %.4f s for other "
                 "addresses: it waited for the work on the account",
                 mkn, mun);
    /* and the accounts did get their mail */
    json_decref(th_mp_wait(known[N - 1], "new password", 1));
}

/* ---- 4. address checks ---- */

static void a_sign_up_is_checked_by_the_mailed_token(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(M, "check", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(M, email, TU_PASSWORD, &t);
    assert_false(verified(M, t.access));
    json_t *m = th_mp_newest(email, "Confirm", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/verify-email?token="));
    char first[128], second[128];
    th_mail_token_of(m, first, sizeof first);
    json_decref(m);

    /* a resend replaces it */
    th_expect_status(M, "POST", "/auth/email/verify/resend", NULL,
                     json_pack("{s:s}", "email", email), 202);
    m = th_mp_newest(email, "Confirm", 2);
    th_mail_token_of(m, second, sizeof second);
    json_decref(m);
    assert_string_not_equal(first, second);
    th_expect_problem_type(M, "POST", "/auth/email/verify", NULL,
                           json_pack("{s:s}", "token", first), 410, "urn:orgd:problem:gone");
    th_expect_status(M, "POST", "/auth/email/verify", NULL,
                     json_pack("{s:s}", "token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                     404);
    assert_false(verified(M, t.access));
    th_expect_status(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", second),
                     204);
    assert_true(verified(M, t.access));
    th_expect_status(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", second),
                     410);
    /* a verified address gets no more checks */
    th_expect_status(M, "POST", "/auth/email/verify/resend", NULL,
                     json_pack("{s:s}", "email", email), 202);
    th_mp_expect_exactly_at(th_mailpit_api, email, "Confirm", 2);
}

static void unverified_accounts_may_not_sign_in_when_required(void **state)
{
    (void)state;
    const char *more[] = {"REQUIRE_VERIFIED_EMAIL=true", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, th_mail_env(more));
    char email[96];
    th_signup_fresh(o, "unverified", email, sizeof email);
    const char *body_fmt = "{\"email\":\"%s\",\"password\":\"" TU_PASSWORD "\"}";
    char body[256];
    snprintf(body, sizeof body, body_fmt, email);
    struct th_resp r;
    const char *routes[] = {"/auth/signin", "/admin/login"};
    for (int i = 0; i < 2; i++) {
        assert_true(th_http_json(o, "POST", routes[i], NULL, body, &r));
        assert_true(th_is_problem(&r, 403));
        assert_string_equal(th_json_str(r.json, "type"), "urn:orgd:problem:email-unverified");
        th_resp_free(&r);
    }
    json_t *m = th_mp_newest(email, "Confirm", 1);
    char token[128];
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);
    th_expect_status(o, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", token),
                     204);
    struct th_tokens t;
    th_signin_ok(o, email, TU_PASSWORD, &t);

    /* an account made by accepting a mailed invitation is verified by it */
    char org_id[32], org_name[64], invitee[96], path[160];
    th_org_new(o, t.access, "Required", org_id, org_name);
    th_fresh_email("invited", invitee, sizeof invitee);
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    th_expect_status(o, "POST", path, t.access, json_pack("{s:s}", "email", invitee), 201);
    m = th_mp_newest(invitee, NULL, 1);
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);
    json_decref(th_expect_json(o, "POST", "/invitations/accept", NULL,
                               json_pack("{s:s, s:s}", "token", token, "password", TU_PASSWORD),
                               200));
    th_signin_ok(o, invitee, TU_PASSWORD, &t);
}

/* ---- notices ---- */

static void credential_changes_send_notices_to_the_old_address(void **state)
{
    (void)state;
    const char *second = "second horse battery staple";
    th_secret_remember(second);
    /* a password change (PUT /auth/password) */
    struct th_account a;
    th_account_new(M, "notice", &a);
    th_expect_status(
        M, "PUT", "/auth/password", a.t.access,
        json_pack("{s:s, s:s}", "current_password", TU_PASSWORD, "new_password", second), 204);
    json_t *m = th_mp_newest(a.email, "password was changed", 1);
    assert_null(strstr(th_json_str(m, "Text"), "token="));
    json_decref(m);

    /* an e-mail change (PUT /org/update): a notice to the old address, a
     * check to the new one, which is not verified yet */
    struct th_tenant t;
    th_tenant_new(M, &t, "Notice");
    char new_email[96], body[300];
    th_fresh_email("moved", new_email, sizeof new_email);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"current_password\":\"" TU_PASSWORD "\"}",
             new_email);
    struct th_resp r;
    assert_true(th_http_json(M, "PUT", "/org/update", t.token, body, &r));
    if (r.status != 200)
        fail_msg("the e-mail change answered %ld: %s", r.status, r.body);
    th_resp_free(&r);
    m = th_mp_newest(t.email, "e-mail address was changed", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), new_email));
    json_decref(m);
    m = th_mp_newest(new_email, "Confirm", 1);
    char token[128];
    th_mail_token_of(m, token, sizeof token);
    json_decref(m);
    struct th_tokens s2;
    th_signin_ok(M, new_email, TU_PASSWORD, &s2);
    assert_false(verified(M, s2.access));
    th_expect_status(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", token),
                     204);
    assert_true(verified(M, s2.access));
    /* nothing about it went to the new address but the check */
    th_mp_expect_exactly_at(th_mailpit_api, new_email, NULL, 1);
    th_tenant_free(&t);
}

/* ---- 5. hostile values ---- */

static void typed_values_are_escaped_in_the_html_part(void **state)
{
    (void)state;
    const char *evil = "<script>alert(1)</script>";
    char email[96], body[400];
    th_fresh_email("evil", email, sizeof email);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" TU_PASSWORD "\",\"username\":\"%s\"}", email,
             "x<script>alert(1)</script>");
    struct th_resp r;
    assert_true(th_http_json(M, "POST", "/auth/signup", NULL, body, &r));
    long signup = r.status;
    th_resp_free(&r);
    if (signup == 201) {
        json_t *m = th_mp_newest(email, "Confirm", 1);
        const char *html = th_json_str(m, "HTML");
        assert_null(strstr(html, "<script"));
        json_decref(m);
    } else {
        assert_int_equal(signup, 422); /* a username may refuse it; the org name below may not */
        th_signup_ok(M, email, TU_PASSWORD);
    }

    /* an organization's display name, in an invitation */
    struct th_tokens t;
    th_signin_ok(M, email, TU_PASSWORD, &t);
    char invitee[96];
    invite_to_a_new_org_named(t.access, "Evil <script>alert(1)</script> & Co", "evilinv", invitee);
    json_t *m = th_mp_newest(invitee, NULL, 1);
    const char *html = th_json_str(m, "HTML");
    if (strstr(html, "<script") != NULL)
        fail_msg("a raw <script> in the HTML part: %s", html);
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
    /* the text part and the subject carry it as it is */
    assert_non_null(strstr(th_json_str(m, "Text"), evil));
    assert_non_null(strstr(th_json_str(m, "Subject"), evil));
    json_decref(m);
}

static void line_breaks_never_make_a_header(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(M, "crlf", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(M, email, TU_PASSWORD, &t);
    /* in an org name (the subject of an invitation) */
    const char *names[] = {"Evil\r\nBcc: victim@example.com", "Evil\nBcc: victim@example.com",
                           "Evil\rBcc: victim@example.com"};
    for (int i = 0; i < 3; i++) {
        struct th_resp r;
        char *body = th_json_text(json_pack("{s:s}", "name", names[i]));
        assert_true(th_http_json(M, "POST", "/organization/", t.access, body, &r));
        free(body);
        if (r.status != 422)
            fail_msg("an org name with a line break: %ld %s", r.status, r.body);
        th_resp_free(&r);
    }
    /* in a username (the check mail's greeting) */
    char other[96], body[400];
    th_fresh_email("crlfuser", other, sizeof other);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" TU_PASSWORD
             "\",\"username\":\"a\\r\\nBcc: victim@example.com\"}",
             other);
    struct th_resp r;
    assert_true(th_http_json(M, "POST", "/auth/signup", NULL, body, &r));
    assert_int_equal(r.status, 422);
    th_resp_free(&r);
    /* in the e-mail itself (the To header) */
    th_expect_problem(M, "POST", "/auth/password/forgot", NULL,
                      "{\"email\":\"a@example.com\\r\\nBcc: victim@example.com\"}", 422, "email");
    th_expect_problem(M, "POST", "/auth/email/verify/resend", NULL,
                      "{\"email\":\"a@example.com\\nBcc: victim@example.com\"}", 422, "email");
    char path[160], org_id[32], org_name[64];
    th_org_new(M, t.access, "Crlf", org_id, org_name);
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    th_expect_problem(M, "POST", path, t.access,
                      "{\"email\":\"a@example.com\\r\\nBcc: victim@example.com\"}", 422, "email");
}

static void a_non_ascii_subject_is_encoded(void **state)
{
    (void)state;
    const char *name = "Größe Ærø 日本 Café";
    char email[96];
    th_signup_fresh(M, "utf8", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(M, email, TU_PASSWORD, &t);
    char invitee[96];
    invite_to_a_new_org_named(t.access, name, "utf8inv", invitee);
    json_t *l = th_mp_wait(invitee, NULL, 1);
    json_t *m = th_mp_message(json_array_get(l, 0));
    if (strstr(th_json_str(m, "Subject"), name) == NULL)
        fail_msg("the subject decodes to \"%s\"", th_json_str(m, "Subject"));
    assert_non_null(strstr(th_json_str(m, "Text"), name));
    assert_non_null(strstr(th_json_str(m, "HTML"), name));
    json_decref(m);
    char *raw = th_mp_raw(json_array_get(l, 0));
    const char *subject = th_mail_raw_header(raw, "Subject");
    assert_non_null(subject);
    /* as sent: ASCII only, encoded words */
    const char *end = strstr(raw, "\r\n\r\n");
    for (const char *p = raw; p < end; p++)
        if ((unsigned char)*p >= 0x80)
            fail_msg("a header byte above ASCII: %.200s", p);
    if (strncasecmp(subject, "Subject: =?UTF-8?", 17) != 0)
        fail_msg("the subject is not an encoded word: %.200s", subject);
    free(raw);
    json_decref(l);
}

/* ---- the end ---- */

static void no_mailed_token_stays_in_the_database(void **state)
{
    (void)state;
    th_db_expect_no_secret(M);
}

static int suite_setup(void **state)
{
    (void)state;
    th_orgd_init(M, NULL);
    return th_orgd_start(M, th_mail_env(NULL)) ? 0 : -1;
}

int main(void)
{
    if (!th_mail_setup("test_email"))
        return 77;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_invitation_is_mailed_to_the_invitee_alone),
        cmocka_unit_test(a_resend_mails_a_new_token_and_the_old_one_dies),
        cmocka_unit_test_teardown(resends_are_throttled_per_email, th_own_orgd_stop),
        cmocka_unit_test(a_forgotten_password_is_reset_by_the_mailed_token),
        cmocka_unit_test(forgot_takes_as_long_for_any_address),
        cmocka_unit_test(a_sign_up_is_checked_by_the_mailed_token),
        cmocka_unit_test_teardown(unverified_accounts_may_not_sign_in_when_required,
                                  th_own_orgd_stop),
        cmocka_unit_test(credential_changes_send_notices_to_the_old_address),
        cmocka_unit_test(typed_values_are_escaped_in_the_html_part),
        cmocka_unit_test(line_breaks_never_make_a_header),
        cmocka_unit_test(a_non_ascii_subject_is_encoded),
        cmocka_unit_test(no_mailed_token_stays_in_the_database),
    };
    int failed = cmocka_run_group_tests(tests, suite_setup, NULL);
    if (M->pid > 0 && th_orgd_stop(M) != 0) {
        fprintf(stderr, "[  FAILED  ] the mail orgd did not stop cleanly\n");
        failed++;
    }
    curl_global_cleanup();
    return failed;
}
