/* E-mail, read back through Mailpit's API: invitations mailed to the
 * invitee alone, resends that replace the token and are throttled,
 * password resets, address checks, hostile values in the parts and the
 * headers, mail off (503 mail-disabled), a mail server that is down for a
 * while (nothing lost), and two instances sharing one outbox (nothing sent
 * twice).
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
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "testutil.h"

#define MAIL_FROM_ADDR "no-reply@orgd-mail.test"
#define MAIL_WAIT_MS 15000 /* how long a mail may take to arrive */
#define QUIET_MS 1500      /* how long a test waits for a mail that must not come */

/* The orgd of this program: mail on, no mail throttle (one test makes its own). */
static struct th_orgd M_orgd;
static struct th_orgd *const M = &M_orgd;
static const char *smtp_url, *mailpit_api;

/* ---- Mailpit ---- */

struct buf {
    char *p;
    size_t len;
};

static size_t buf_write(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    char *p = realloc(b->p, b->len + size * n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, size * n);
    b->p = p;
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* GET api + path (a Mailpit API at `api`); the body, or NULL unless 200. Caller frees. */
static char *mp_get_at(const char *api, const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", api, path);
    struct buf b = {0};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        free(b.p);
        return NULL;
    }
    return b.p != NULL ? b.p : strdup("");
}

static json_t *mp_json_at(const char *api, const char *path)
{
    char *text = mp_get_at(api, path);
    if (text == NULL)
        fail_msg("Mailpit did not answer GET %s%s", api, path);
    json_t *j = json_loads(text, 0, NULL);
    if (j == NULL)
        fail_msg("Mailpit's answer to %s is not JSON: %.300s", path, text);
    free(text);
    return j;
}

/* The messages to `to` (newest first) whose subject holds `subject` (NULL:
 * any), as Mailpit's search lists them. Caller decrefs. */
static json_t *mp_list_at(const char *api, const char *to, const char *subject)
{
    char query[160], path[512];
    snprintf(query, sizeof query, "to:\"%s\"", to);
    char *q = curl_easy_escape(NULL, query, 0);
    snprintf(path, sizeof path, "/search?query=%s&limit=200", q);
    curl_free(q);
    json_t *j = mp_json_at(api, path), *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "messages"), i, m)
    {
        const char *s = json_string_value(json_object_get(m, "Subject"));
        if (subject == NULL || (s != NULL && strstr(s, subject) != NULL))
            json_array_append(out, m);
    }
    json_decref(j);
    return out;
}

/* Waits until `want` messages to `to` (with `subject` in theirs) are in
 * the Mailpit at api; fails the test if they do not come in time. The
 * list, newest first (caller decrefs). */
static json_t *mp_wait_at(const char *api, const char *to, const char *subject, size_t want,
                          int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *l = mp_list_at(api, to, subject);
        if (json_array_size(l) >= want || tu_now_ms() > until) {
            if (json_array_size(l) < want)
                fail_msg("%zu of %zu mails (subject \"%s\") to %s came within %d ms",
                         json_array_size(l), want, subject ? subject : "", to, timeout_ms);
            return l;
        }
        json_decref(l);
        tu_sleep_ms(100);
    }
}

static json_t *mp_wait(const char *to, const char *subject, size_t want)
{
    return mp_wait_at(mailpit_api, to, subject, want, MAIL_WAIT_MS);
}

/* Fails unless exactly `want` mails to `to` (subject filter) are there now
 * and still after QUIET_MS. */
static void mp_expect_exactly_at(const char *api, const char *to, const char *subject, size_t want)
{
    json_decref(mp_wait_at(api, to, subject, want, MAIL_WAIT_MS));
    tu_sleep_ms(QUIET_MS);
    json_t *l = mp_list_at(api, to, subject);
    if (json_array_size(l) != want)
        fail_msg("%zu mails (subject \"%s\") to %s, not %zu", json_array_size(l),
                 subject ? subject : "", to, want);
    json_decref(l);
}

/* One message, decoded (Text, HTML, Subject, From, MessageID...). Caller decrefs. */
static json_t *mp_message(const json_t *summary)
{
    char path[128];
    snprintf(path, sizeof path, "/message/%s", th_json_str(summary, "ID"));
    return mp_json_at(mailpit_api, path);
}

/* The message as received. Caller frees. */
static char *mp_raw(const json_t *summary)
{
    char path[128];
    snprintf(path, sizeof path, "/message/%s/raw", th_json_str(summary, "ID"));
    char *raw = mp_get_at(mailpit_api, path);
    if (raw == NULL)
        fail_msg("no raw message %s", path);
    return raw;
}

/* The newest mail to `to` with `subject`, waited for, decoded. Caller decrefs. */
static json_t *mp_newest(const char *to, const char *subject, size_t count)
{
    json_t *l = mp_wait(to, subject, count);
    json_t *m = mp_message(json_array_get(l, 0));
    json_decref(l);
    return m;
}

/* The token of the link `?token=` in a mail's text (remembered as a
 * secret, so no log and no database document may hold it). */
static void token_of(const json_t *message, char *out, size_t cap)
{
    const char *text = th_json_str(message, "Text");
    const char *p = strstr(text, "token=");
    if (p == NULL)
        fail_msg("no link with a token in the mail: %s", text);
    p += 6;
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_%");
    if (n < 40 || n >= cap)
        fail_msg("the link's token is %zu characters: %s", n, text);
    memcpy(out, p, n);
    out[n] = '\0';
    th_secret_remember(out);
}

/* A header of the raw message (the first line of it), from the name on; NULL if none. */
static const char *raw_header(const char *raw, const char *name)
{
    size_t n = strlen(name);
    const char *end = strstr(raw, "\r\n\r\n");
    for (const char *p = raw; p != NULL && (end == NULL || p < end);) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p;
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return NULL;
}

/* ---- orgd ---- */

/* The settings of a mail-on orgd: `more` first (the first of a name wins),
 * then the mail server of the suite, no mail throttle, and cheap password
 * hashing (what is tested here is mail, not argon2). Static: the result
 * holds until the next call. */
static const char *const *mail_env(const char *const *more)
{
    static char smtp[600];
    static const char *env[32];
    snprintf(smtp, sizeof smtp, "SMTP_URL=%s", smtp_url);
    const char *base[] = {smtp,
                          "MAIL_FROM=Orgd Tests <" MAIL_FROM_ADDR ">",
                          "MAIL_RETRY_SCHEDULE=1,1,1,2,2,2",
                          "MAIL_PER_ADDRESS=0",
                          "MAIL_PER_EMAIL=0",
                          "PUBLIC_URL=http://orgd.test",
                          "ARGON2_MEMORY_KIB=1024",
                          "ARGON2_ITERATIONS=1",
                          NULL};
    size_t n = 0;
    for (size_t i = 0; more && more[i] && n < 16; i++)
        env[n++] = more[i];
    for (size_t i = 0; base[i]; i++)
        env[n++] = base[i];
    env[n] = NULL;
    return env;
}

static json_t *accept_new(const struct th_orgd *o, const char *token, long want)
{
    return th_expect_json(o, "POST", "/invitations/accept", NULL,
                          json_pack("{s:s, s:s}", "token", token, "password", TU_PASSWORD), want);
}

static bool verified(const struct th_orgd *o, const char *access)
{
    json_t *j = th_expect_json(o, "GET", "/auth/check", access, NULL, 200);
    bool v = json_is_true(json_object_get(json_object_get(j, "admin"), "email_verified"));
    json_decref(j);
    return v;
}

static void expect_problem_type(const struct th_orgd *o, const char *method, const char *path,
                                const char *bearer, json_t *body, long status, const char *type)
{
    json_t *j = th_expect_json(o, method, path, bearer, body, status);
    assert_string_equal(th_json_str(j, "type"), type);
    json_decref(j);
}

/* Waits until each of the n addresses of `to` has a mail (at most
 * timeout_ms each), then fails unless, after QUIET_MS, each has exactly
 * one. */
static void expect_one_mail_each(const char *api, char (*to)[96], int n, int timeout_ms)
{
    for (int i = 0; i < n; i++)
        json_decref(mp_wait_at(api, to[i], NULL, 1, timeout_ms));
    tu_sleep_ms(QUIET_MS);
    for (int i = 0; i < n; i++) {
        json_t *l = mp_list_at(api, to[i], NULL);
        if (json_array_size(l) != 1)
            fail_msg("%zu mails to %s", json_array_size(l), to[i]);
        json_decref(l);
    }
}

/* A fresh account (owner) with an org of its own named after prefix. */
static void owner_with_an_org(const struct th_orgd *o, const char *prefix, struct th_account *owner,
                              char org_id[32], char org_name[64])
{
    th_account_new(o, "owner", owner);
    th_org_new(o, owner->t.access, prefix, org_id, org_name);
}

/* POST /organization/{org_id}/invite {"email": email} with token: fails
 * the test unless 201; returns the answer (caller decrefs). */
static json_t *invite_by_mail(const struct th_orgd *o, const char *token, const char *org_id,
                              const char *email)
{
    char path[160];
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    return th_expect_json(o, "POST", path, token, json_pack("{s:s}", "email", email), 201);
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
    owner_with_an_org(M, "Mail", &owner, org_id, org_name);
    th_fresh_email("invitee", invitee, sizeof invitee);
    json_t *j = invite_by_mail(M, owner.t.access, org_id, invitee);
    json_t *tok = json_object_get(j, "token");
    if (tok != NULL && !json_is_null(tok))
        fail_msg("with mail on the invite answer carries the token: %s", json_string_value(tok));
    json_decref(j);

    json_t *l = mp_wait(invitee, NULL, 1);
    json_t *m = mp_message(json_array_get(l, 0));
    assert_true(strlen(th_json_str(m, "Text")) > 0);
    assert_true(strlen(th_json_str(m, "HTML")) > 0);
    assert_true(strlen(th_json_str(m, "MessageID")) > 0);
    assert_string_equal(th_json_str(json_object_get(m, "From"), "Address"), MAIL_FROM_ADDR);
    assert_non_null(strstr(th_json_str(m, "Subject"), org_name));
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/invitation?token="));
    char *raw = mp_raw(json_array_get(l, 0));
    assert_non_null(raw_header(raw, "Date"));
    assert_non_null(raw_header(raw, "Message-ID"));
    assert_non_null(strstr(raw, "multipart/alternative"));
    assert_non_null(strstr(raw, "text/plain"));
    assert_non_null(strstr(raw, "text/html"));
    free(raw);
    char token[128];
    token_of(m, token, sizeof token);
    json_decref(m);
    json_decref(l);

    /* the mailed token makes the account, and proves its address */
    j = accept_new(M, token, 200);
    assert_true(json_is_true(json_object_get(j, "account_created")));
    json_decref(j);
    struct th_tokens t;
    th_signin_ok(M, invitee, TU_PASSWORD, &t);
    assert_true(verified(M, t.access));
    /* one mail, and only one, to the invitee: accepting sends no verify mail */
    mp_expect_exactly_at(mailpit_api, invitee, NULL, 1);
}

/* ---- 2. resend ---- */

static void a_resend_mails_a_new_token_and_the_old_one_dies(void **state)
{
    (void)state;
    struct th_account owner;
    char org_id[32], org_name[64], path[200];
    owner_with_an_org(M, "Resend", &owner, org_id, org_name);
    char invitee[96];
    th_fresh_email("resent", invitee, sizeof invitee);
    struct th_invitation v;
    json_t *j = invite_by_mail(M, owner.t.access, org_id, invitee);
    snprintf(v.id, sizeof v.id, "%s", th_json_str(j, "id"));
    json_decref(j);
    char first[128], second[128];
    json_t *m = mp_newest(invitee, NULL, 1);
    token_of(m, first, sizeof first);
    json_decref(m);

    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id, v.id);
    j = th_expect_json(M, "POST", path, owner.t.access, NULL, 200);
    json_t *tok = json_object_get(j, "token");
    assert_true(tok == NULL || json_is_null(tok));
    json_decref(j);
    m = mp_newest(invitee, "again", 1);
    token_of(m, second, sizeof second);
    json_decref(m);
    assert_string_not_equal(first, second);
    mp_expect_exactly_at(mailpit_api, invitee, NULL, 2);

    j = accept_new(M, first, 410);
    assert_string_equal(th_json_str(j, "type"), "urn:orgd:problem:gone");
    json_decref(j);
    json_decref(accept_new(M, second, 200));
    /* and a member's invitation is no longer there to resend */
    th_expect_status(M, "POST", path, owner.t.access, NULL, 404);
}

static void resends_are_throttled_per_email(void **state)
{
    (void)state;
    const char *more[] = {"MAIL_PER_EMAIL=2", "MAIL_PER_ADDRESS=3",
                          "LINK_INVITATION=https://app.example/join?from=mail&token={token}", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, mail_env(more));
    struct th_account owner;
    char org_id[32], org_name[64], path[200], invitee[96];
    owner_with_an_org(o, "Throttle", &owner, org_id, org_name);
    th_fresh_email("throttled", invitee, sizeof invitee);
    json_t *j = invite_by_mail(o, owner.t.access, org_id, invitee);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id,
             th_json_str(j, "id"));
    json_decref(j);
    /* each mail out before the next resend: a resend drops the mail it overtakes */
    json_t *m = mp_newest(invitee, NULL, 1);
    /* with LINK_INVITATION, the link is the app's (its & escaped in the HTML) */
    assert_non_null(strstr(th_json_str(m, "Text"), "https://app.example/join?from=mail&token="));
    assert_non_null(
        strstr(th_json_str(m, "HTML"), "href=\"https://app.example/join?from=mail&amp;token="));
    char token[128];
    token_of(m, token, sizeof token);
    json_decref(m);
    th_expect_status(o, "POST", path, owner.t.access, NULL, 200);
    json_decref(mp_wait(invitee, NULL, 2));
    th_expect_status(o, "POST", path, owner.t.access, NULL, 200);
    json_decref(mp_wait(invitee, NULL, 3));
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
    mp_expect_exactly_at(mailpit_api, invitee, NULL, 3);

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
    json_t *m = mp_newest(email, "new password", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/password-reset?token="));
    char token[128];
    token_of(m, token, sizeof token);
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
    json_decref(mp_wait(email, "password was changed", 1));
    /* nothing for the unknown address */
    mp_expect_exactly_at(mailpit_api, unknown, NULL, 0);
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
    json_decref(mp_wait(known[N - 1], "new password", 1));
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
    json_t *m = mp_newest(email, "Confirm", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), "http://orgd.test/pages/verify-email?token="));
    char first[128], second[128];
    token_of(m, first, sizeof first);
    json_decref(m);

    /* a resend replaces it */
    th_expect_status(M, "POST", "/auth/email/verify/resend", NULL,
                     json_pack("{s:s}", "email", email), 202);
    m = mp_newest(email, "Confirm", 2);
    token_of(m, second, sizeof second);
    json_decref(m);
    assert_string_not_equal(first, second);
    expect_problem_type(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", first),
                        410, "urn:orgd:problem:gone");
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
    mp_expect_exactly_at(mailpit_api, email, "Confirm", 2);
}

static void unverified_accounts_may_not_sign_in_when_required(void **state)
{
    (void)state;
    const char *more[] = {"REQUIRE_VERIFIED_EMAIL=true", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, mail_env(more));
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
    json_t *m = mp_newest(email, "Confirm", 1);
    char token[128];
    token_of(m, token, sizeof token);
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
    m = mp_newest(invitee, NULL, 1);
    token_of(m, token, sizeof token);
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
    json_t *m = mp_newest(a.email, "password was changed", 1);
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
    m = mp_newest(t.email, "e-mail address was changed", 1);
    assert_non_null(strstr(th_json_str(m, "Text"), new_email));
    json_decref(m);
    m = mp_newest(new_email, "Confirm", 1);
    char token[128];
    token_of(m, token, sizeof token);
    json_decref(m);
    struct th_tokens s2;
    th_signin_ok(M, new_email, TU_PASSWORD, &s2);
    assert_false(verified(M, s2.access));
    th_expect_status(M, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", token),
                     204);
    assert_true(verified(M, s2.access));
    /* nothing about it went to the new address but the check */
    mp_expect_exactly_at(mailpit_api, new_email, NULL, 1);
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
        json_t *m = mp_newest(email, "Confirm", 1);
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
    json_t *m = mp_newest(invitee, NULL, 1);
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
    json_t *l = mp_wait(invitee, NULL, 1);
    json_t *m = mp_message(json_array_get(l, 0));
    if (strstr(th_json_str(m, "Subject"), name) == NULL)
        fail_msg("the subject decodes to \"%s\"", th_json_str(m, "Subject"));
    assert_non_null(strstr(th_json_str(m, "Text"), name));
    assert_non_null(strstr(th_json_str(m, "HTML"), name));
    json_decref(m);
    char *raw = mp_raw(json_array_get(l, 0));
    const char *subject = raw_header(raw, "Subject");
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

/* ---- 6. mail off ---- */

static void mail_routes_are_503_without_a_mail_server(void **state)
{
    (void)state;
    const char *cheap[] = {"ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, cheap);
    struct th_account owner;
    char org_id[32], org_name[64], invitee[96], path[200];
    owner_with_an_org(o, "Off", &owner, org_id, org_name);
    th_fresh_email("off", invitee, sizeof invitee);
    struct th_invitation v;
    th_invite(o, owner.t.access, org_id, invitee, NULL, &v); /* the token, as before */
    assert_true(strlen(v.token) > 20);
    const char *type = "urn:orgd:problem:mail-disabled";
    expect_problem_type(o, "POST", "/auth/password/forgot", NULL,
                        json_pack("{s:s}", "email", owner.email), 503, type);
    expect_problem_type(
        o, "POST", "/auth/password/reset", NULL,
        json_pack("{s:s, s:s}", "token", v.token, "new_password", "a new horse battery staple"),
        503, type);
    expect_problem_type(o, "POST", "/auth/email/verify", NULL, json_pack("{s:s}", "token", v.token),
                        503, type);
    expect_problem_type(o, "POST", "/auth/email/verify/resend", NULL,
                        json_pack("{s:s}", "email", owner.email), 503, type);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id, v.id);
    expect_problem_type(o, "POST", path, owner.t.access, NULL, 503, type);
    /* and the invitation works as it did */
    json_decref(accept_new(o, v.token, 200));
    /* no mail went anywhere */
    json_t *l = mp_list_at(mailpit_api, invitee, NULL);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

/* ---- 7. a mail server that is down ---- */

/* Runs scripts/mail `verb` with ORGD_MAIL_DIR=dir; its first line of output in out. */
static bool mail_script(const char *dir, const char *verb, char *out, size_t cap)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ORGD_MAIL_DIR='%s' '%s/scripts/mail' %s 2>/dev/null", dir,
             th_source_dir(), verb);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return false;
    char line[512] = "";
    if (fgets(line, sizeof line, p) == NULL)
        line[0] = '\0';
    while (fgetc(p) != EOF) {
    }
    int rc = pclose(p);
    line[strcspn(line, "\r\n")] = '\0';
    if (out != NULL)
        snprintf(out, cap, "%s", line);
    return rc == 0;
}

static char outage_dir[256];

static int outage_teardown(void **state)
{
    th_own_orgd_stop(state);
    if (outage_dir[0] != '\0') {
        mail_script(outage_dir, "stop", NULL, 0);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", outage_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", outage_dir);
        outage_dir[0] = '\0';
    }
    return 0;
}

static void mail_outlives_a_server_that_is_down(void **state)
{
    (void)state;
    snprintf(outage_dir, sizeof outage_dir, "/tmp/orgd-test-mail-XXXXXX");
    assert_non_null(mkdtemp(outage_dir));
    char url[256], api[256], env_url[300];
    if (!mail_script(outage_dir, "start", url, sizeof url) ||
        !mail_script(outage_dir, "api-url", api, sizeof api))
        fail_msg("could not start a Mailpit of this test's own in %s", outage_dir);
    assert_true(mail_script(outage_dir, "stop", NULL, 0));
    snprintf(env_url, sizeof env_url, "SMTP_URL=%s", url);
    const char *more[] = {env_url, NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, mail_env(more));
    struct th_account owner;
    char org_id[32], org_name[64], path[160];
    owner_with_an_org(o, "Outage", &owner, org_id, org_name);
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    enum { N = 4 };
    char to[N][96];
    for (int i = 0; i < N; i++) {
        th_fresh_email("outage", to[i], sizeof to[i]);
        struct th_resp r;
        char body[160];
        snprintf(body, sizeof body, "{\"email\":\"%s\"}", to[i]);
        assert_true(th_http_json(o, "POST", path, owner.t.access, body, &r));
        assert_int_equal(r.status, 201);
        if (r.seconds > 2.0)
            fail_msg("an invite took %.2f s with the mail server down", r.seconds);
        th_resp_free(&r);
    }
    /* overtaken while the server is down: only the newest goes out */
    char over[96], reset[96];
    th_fresh_email("overtaken", over, sizeof over);
    json_t *j = invite_by_mail(o, owner.t.access, org_id, over);
    char resend[200];
    snprintf(resend, sizeof resend, "/organization/%s/invitations/%s/resend", org_id,
             th_json_str(j, "id"));
    json_decref(j);
    th_expect_status(o, "POST", resend, owner.t.access, NULL, 200);
    th_signup_fresh(o, "overreset", reset, sizeof reset);
    for (int i = 0; i < 2; i++)
        th_expect_status(o, "POST", "/auth/password/forgot", NULL,
                         json_pack("{s:s}", "email", reset), 202);
    tu_sleep_ms(2500); /* a try or two fails */
    if (!mail_script(outage_dir, "start", url, sizeof url))
        fail_msg("could not start the test's Mailpit again");
    expect_one_mail_each(api, to, N, 20000);
    json_t *l = mp_wait_at(api, over, NULL, 1, 20000);
    assert_non_null(strstr(th_json_str(json_array_get(l, 0), "Subject"), "again"));
    json_decref(l);
    json_decref(mp_wait_at(api, reset, "new password", 1, 20000));
    json_decref(mp_wait_at(api, reset, "Confirm", 1, 20000));
    tu_sleep_ms(QUIET_MS);
    l = mp_list_at(api, over, NULL);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    l = mp_list_at(api, reset, NULL);
    assert_int_equal(json_array_size(l), 2); /* the check, and the newer reset link alone */
    json_decref(l);
    assert_true(th_orgd_log_contains(o, "mail not sent"));
    assert_true(th_orgd_log_contains(o, "mail dropped"));
}

/* ---- 8. two instances ---- */

static struct th_orgd second_orgd;

static int second_teardown(void **state)
{
    if (second_orgd.pid > 0)
        th_orgd_stop(&second_orgd);
    return th_own_orgd_stop(state);
}

static void mail_is_sent_once_by_two_instances(void **state)
{
    (void)state;
    struct th_orgd *a = th_own_orgd_start(NULL, mail_env(NULL));
    struct th_orgd *b = &second_orgd;
    th_orgd_init(b, NULL);
    snprintf(b->db, sizeof b->db, "%s", a->db);
    snprintf(b->secret, sizeof b->secret, "%s", a->secret);
    snprintf(b->uri, sizeof b->uri, "%s", a->uri);
    if (!th_orgd_start(b, mail_env(NULL)))
        fail_msg("the second orgd did not start");
    struct th_account owner;
    char org_id[32], org_name[64], path[160];
    owner_with_an_org(a, "Twice", &owner, org_id, org_name);
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    enum { N = 12 };
    char to[N][96];
    for (int i = 0; i < N; i++) {
        th_fresh_email("twice", to[i], sizeof to[i]);
        th_expect_status(i % 2 ? a : b, "POST", path, owner.t.access,
                         json_pack("{s:s}", "email", to[i]), 201);
    }
    expect_one_mail_each(mailpit_api, to, N, MAIL_WAIT_MS);
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
    return th_orgd_start(M, mail_env(NULL)) ? 0 : -1;
}

int main(void)
{
    smtp_url = getenv("ORGD_TEST_SMTP_URL");
    mailpit_api = getenv("ORGD_TEST_MAILPIT_API");
    if (smtp_url == NULL || smtp_url[0] == '\0' || mailpit_api == NULL || mailpit_api[0] == '\0') {
        fprintf(stderr, "test_email: ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API are not set "
                        "(scripts/test sets them; or scripts/mail start and api-url): skipped\n");
        return 77;
    }
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
        cmocka_unit_test_teardown(mail_routes_are_503_without_a_mail_server, th_own_orgd_stop),
        cmocka_unit_test_teardown(mail_outlives_a_server_that_is_down, outage_teardown),
        cmocka_unit_test_teardown(mail_is_sent_once_by_two_instances, second_teardown),
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
