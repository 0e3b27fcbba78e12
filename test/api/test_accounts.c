/* Accounts over HTTP, checked in the database too: sign-up and what it
 * refuses, the shape of a failed login, what /admin/login answers, an
 * account's token reaching its own org, the login and session metrics, and
 * no token or password in clear in the database afterwards. What a session
 * does after the sign-in is test_sessions.c (its races
 * test_session_races.c, the credential changes that end it
 * test_credentials.c); throttling is test_throttle.c (the shared orgd here
 * has no limits, see harness_orgd.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd;

#define NEW_PASSWORD "a brand new password"

/* ---- sign-up ---- */

static void signup_answers_the_account(void **state)
{
    (void)state;
    char name[64], email[96], lower_email[96];
    th_unique("SignUp", name, sizeof name);
    snprintf(email, sizeof email, "%s@Example.COM", name);
    snprintf(lower_email, sizeof lower_email, "%s", email);
    th_lower(lower_email);
    char *body = th_json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    if (r.status != 201)
        fail_msg("sign-up answered %ld: %s", r.status, r.body);
    assert_int_equal(json_object_size(r.json), 6);
    assert_string_equal(th_json_str(r.json, "message"), "account created");
    /* nobody has followed a check mail yet */
    assert_true(json_is_false(json_object_get(r.json, "email_verified")));
    const char *id = json_string_value(json_object_get(r.json, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 24);
    assert_true(json_is_null(json_object_get(r.json, "username")));
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), lower_email);
    th_epoch_ms(json_string_value(json_object_get(r.json, "created_at")));
    th_resp_free(&r);
    assert_int_equal(th_db_count_str(O, "admins", "email", lower_email), 1);

    /* with a username (64 characters is the most) */
    char other[96], username[65];
    th_fresh_email("SignUpNamed", other, sizeof other);
    memset(username, 'u', 64);
    username[64] = '\0';
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "email", other, "password", TU_PASSWORD,
                                  "username", username));
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "username")), username);
    th_resp_free(&r);

    /* a username is kept in NFC: an e with a combining acute is the e-acute */
    th_fresh_email("SignUpNfc", other, sizeof other);
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "email", other, "password", TU_PASSWORD,
                                  "username", "Jose\xcc\x81"));
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "username")), "Jos\xc3\xa9");
    th_resp_free(&r);

    /* the e-mail is taken in any case, by a signed-up or an org's account */
    body = th_json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    th_expect_problem(O, "POST", "/auth/signup", NULL, body, 409, "email");
    free(body);
    struct th_tenant t;
    th_tenant_new(O, &t, "SignUpOrg");
    body = th_json_text(json_pack("{s:s, s:s}", "email", t.email, "password", TU_PASSWORD));
    th_expect_problem(O, "POST", "/auth/signup", NULL, body, 409, "email");
    free(body);
    th_tenant_free(&t);
}

static void signup_refuses_bad_input_and_creates_nothing(void **state)
{
    (void)state;
    char email[96], long_name[66];
    th_fresh_email("SignUpBad", email, sizeof email);
    memset(long_name, 'u', 65);
    long_name[65] = '\0';
    struct {
        json_t *body;
        const char *field;
    } cases[] = {
        {json_pack("{s:s, s:s}", "email", "not-an-email", "password", TU_PASSWORD), "email"},
        {json_pack("{s:s, s:s}", "email", email, "password", "short"), "password"},
        {json_pack("{s:s}", "email", email), "password"},
        {json_pack("{s:s}", "password", TU_PASSWORD), "email"},
        {json_pack("{s:s, s:s, s:s}", "email", email, "password", TU_PASSWORD, "username", ""),
         "username"},
        {json_pack("{s:s, s:s, s:s}", "email", email, "password", TU_PASSWORD, "username",
                   long_name),
         "username"},
        {json_pack("{s:s, s:s, s:s}", "email", email, "password", TU_PASSWORD, "username",
                   "tab\there"),
         "username"},
        /* identities that look like others: a Cyrillic a in the e-mail, the
         * Kelvin sign for a K, and a username that reads backwards */
        {json_pack("{s:s, s:s}", "email",
                   "\xd0\xb0"
                   "da@example.com",
                   "password", TU_PASSWORD),
         "email"},
        {json_pack("{s:s, s:s}", "email",
                   "\xe2\x84\xaa"
                   "en@example.com",
                   "password", TU_PASSWORD),
         "email"},
        {json_pack("{s:s, s:s, s:s}", "email", email, "password", TU_PASSWORD, "username",
                   "ann\xe2\x80\xae"
                   "gpj.exe"),
         "username"},
        {json_pack("{s:s, s:s, s:s}", "email", email, "password", TU_PASSWORD, "username",
                   "a\xe2\x80\x8b"
                   "nn"),
         "username"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = th_json_text(cases[i].body);
        th_expect_problem(O, "POST", "/auth/signup", NULL, body, 422, cases[i].field);
        free(body);
    }
    /* a wrong JSON type is a malformed body (400), as everywhere in the
     * API; null is not "no username" */
    json_t *wrong_types[] = {
        json_pack("{s:s, s:s, s:n}", "email", email, "password", TU_PASSWORD, "username"),
        json_pack("{s:s, s:s, s:i}", "email", email, "password", TU_PASSWORD, "username", 7),
    };
    for (size_t i = 0; i < sizeof wrong_types / sizeof wrong_types[0]; i++) {
        char *body = th_json_text(wrong_types[i]);
        th_expect_problem(O, "POST", "/auth/signup", NULL, body, 400, "username");
        free(body);
    }
    th_expect_problem(O, "POST", "/auth/signup", NULL, "{\"email\":", 400, NULL);
    struct th_resp r;
    const char *text = "email=x&password=y";
    assert_true(
        th_http(O, "POST", "/auth/signup", NULL, "text/plain", text, strlen(text), NULL, &r));
    assert_true(th_is_problem(&r, 415));
    th_resp_free(&r);
    assert_int_equal(th_db_count_str(O, "admins", "email", email), 0);
}

/* ---- failed logins ---- */

/* A 401 of `method path` with `body` (and `token`): the problem, its detail
 * containing `detail`, and no WWW-Authenticate, since no token was refused
 * (a client that sees the challenge would throw its good token away).
 * Returns the body, for comparisons. Caller frees. */
static char *failed_login(const char *method, const char *path, const char *token, const char *body,
                          const char *detail)
{
    struct th_resp r;
    assert_true(th_http_json(O, method, path, token, body, &r));
    if (!th_is_problem(&r, 401))
        fail_msg("%s %s: expected 401", method, path);
    const char *got = json_string_value(json_object_get(r.json, "detail"));
    if (strstr(got, detail) == NULL)
        fail_msg("%s %s: detail \"%s\", expected \"%s\"", method, path, got, detail);
    char www[256];
    if (th_resp_header(&r, "WWW-Authenticate", www, sizeof www))
        fail_msg("%s %s: a failed login answered WWW-Authenticate: %s", method, path, www);
    char *text = strdup(r.body);
    th_resp_free(&r);
    return text;
}

static void a_failed_login_is_a_generic_401_without_a_challenge(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "Generic");
    char nobody[96];
    th_fresh_email("GenericNobody", nobody, sizeof nobody);
    const char *routes[] = {"/auth/signin", "/admin/login"};
    for (size_t i = 0; i < 2; i++) {
        char *wrong_body =
            th_json_text(json_pack("{s:s, s:s}", "email", t.email, "password", "not the password"));
        char *unknown_body =
            th_json_text(json_pack("{s:s, s:s}", "email", nobody, "password", TU_PASSWORD));
        char *wrong =
            failed_login("POST", routes[i], NULL, wrong_body, "invalid email or password");
        char *unknown =
            failed_login("POST", routes[i], NULL, unknown_body, "invalid email or password");
        assert_string_equal(wrong, unknown); /* nothing says whether the e-mail exists */
        free(wrong);
        free(unknown);
        free(wrong_body);
        free(unknown_body);
    }
    /* a wrong current password: the token is fine, the password is not */
    free(failed_login("PUT", "/auth/password", t.token,
                      "{\"current_password\":\"not the password\",\"new_password\":\"" NEW_PASSWORD
                      "\"}",
                      "current password is incorrect"));
    free(failed_login("PUT", "/org/update", t.token,
                      "{\"password\":\"" NEW_PASSWORD
                      "\",\"current_password\":\"not the password\"}",
                      "current password is incorrect"));
    th_expect_alive(O, t.token);
    th_tenant_free(&t);
}

/* ---- org-scoped sessions ---- */

static void admin_login_answers_both_token_names(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "Login");
    char *body = th_json_text(json_pack("{s:s, s:s}", "email", t.email, "password", TU_PASSWORD));
    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/admin/login", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 200);
    const char *access = json_string_value(json_object_get(r.json, "access_token"));
    const char *refresh = json_string_value(json_object_get(r.json, "refresh_token"));
    assert_non_null(access);
    assert_non_null(refresh);
    assert_string_equal(json_string_value(json_object_get(r.json, "token")), access);
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "bearer");
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 3600);
    assert_string_equal(json_string_value(json_object_get(r.json, "organization_name")), t.name);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "owner");
    char sid[32];
    th_session_of(O, access, sid, sizeof sid);
    th_expect_refresh_of(refresh, sid);
    json_t *claims = th_jwt_claims(access);
    assert_string_equal(json_string_value(json_object_get(claims, "sid")), sid);
    assert_string_equal(json_string_value(json_object_get(claims, "org")), t.id);
    json_decref(claims);
    th_resp_free(&r);

    assert_true(th_http_json(O, "GET", "/auth/check", t.token, NULL, &r));
    assert_int_equal(r.status, 200);
    json_t *session = json_object_get(r.json, "session");
    assert_int_equal(strlen(json_string_value(json_object_get(session, "id"))), 24);
    assert_string_equal(json_string_value(json_object_get(session, "scope")), "organization");
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "owner");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "organization"),
                                                          "organization_name")),
                        t.name);
    th_resp_free(&r);

    /* an account in no organization may sign in, not log in to one */
    char email[96];
    th_signup_fresh(O, "LoginNoOrg", email, sizeof email);
    body = th_json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    th_expect_problem(O, "POST", "/admin/login", NULL, body, 403, NULL);
    free(body);
    body = th_json_text(json_pack("{s:s, s:s}", "email", email, "password", "not the password"));
    th_expect_problem(O, "POST", "/admin/login", NULL, body, 401, NULL);
    free(body);
    /* an organization the account is not a member of */
    struct th_tenant other;
    th_tenant_new(O, &other, "LoginOther");
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "email", t.email, "password", TU_PASSWORD,
                                  "organization_name", other.name));
    th_expect_problem(O, "POST", "/admin/login", NULL, body, 403, NULL);
    free(body);
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "email", t.email, "password", TU_PASSWORD,
                                  "organization_name", t.name));
    assert_int_equal(th_status_of(O, "POST", "/admin/login", NULL, body), 200);
    free(body);
    th_tenant_free(&other);
    th_tenant_free(&t);
}

static void account_tokens_reach_their_own_org(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "AcctOrg");
    struct th_tokens account;
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    char path[256], new_name[64], body[256];
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(O, "GET", path, account.access, NULL), 200);
    snprintf(path, sizeof path, "/org/get?organization_name=%s", t.name);
    assert_int_equal(th_status_of(O, "GET", path, account.access, NULL), 200);
    /* "the caller's own org": the account's only one */
    th_unique("AcctOrgNew", new_name, sizeof new_name);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", new_name);
    struct th_resp r;
    assert_true(th_http_json(O, "PUT", "/org/update", account.access, body, &r));
    if (r.status != 200)
        fail_msg("a rename with an account token answered %ld: %s", r.status, r.body);
    assert_string_equal(json_string_value(json_object_get(r.json, "organization_name")), new_name);
    th_resp_free(&r);

    /* an account in no organization has no own org */
    char email[96];
    th_signup_fresh(O, "AcctNoOrg", email, sizeof email);
    struct th_tokens lone;
    th_signin_ok(O, email, TU_PASSWORD, &lone);
    th_unique("AcctNoOrgNew", new_name, sizeof new_name);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", new_name);
    th_expect_problem(O, "PUT", "/org/update", lone.access, body, 404, NULL);
    char coll[96];
    th_collection_of(new_name, coll, sizeof coll);
    assert_false(th_db_collection_exists(O, coll));
    th_tenant_free(&t);
}

/* ---- metrics ---- */

static void metrics_count_logins_and_ended_sessions(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Metr", email, sizeof email);
    struct th_tenant t;
    th_tenant_new(O, &t, "MetrOrg");
    char *before = th_metrics_scrape(O);

    struct th_tokens a, b, c, d, b2, l2, scratch;
    th_signin_ok(O, email, TU_PASSWORD, &a);                                  /* ok 1 */
    assert_int_equal(th_signin(O, email, "not the password", &scratch), 401); /* bad 1 */
    assert_int_equal(th_signin_at(O, "/admin/login", "nobody@example.com", TU_PASSWORD, &scratch),
                     401);                                                          /* bad 2 */
    th_admin_login_ok(O, t.email, TU_PASSWORD, &l2);                                /* ok 2 */
    assert_int_equal(th_status_of(O, "POST", "/auth/logout", a.access, NULL), 204); /* logout */
    th_signin_ok(O, email, TU_PASSWORD, &b);                                        /* ok 3 */
    th_signin_ok(O, email, TU_PASSWORD, &c);                                        /* ok 4 */
    th_signin_ok(O, email, TU_PASSWORD, &d);                                        /* ok 5 */
    char id[32], path[128];
    th_session_of(O, c.access, id, sizeof id);
    snprintf(path, sizeof path, "/auth/sessions/%s", id);
    assert_int_equal(th_status_of(O, "DELETE", path, b.access, NULL), 204); /* revoked */
    assert_int_equal(th_status_of(O, "PUT", "/auth/password", b.access,
                                  "{\"current_password\":\"" TU_PASSWORD
                                  "\",\"new_password\":\"" NEW_PASSWORD "\"}"),
                     204); /* password_change: d */
    char body[256], new_email[96];
    th_fresh_email("MetrOrgMail", new_email, sizeof new_email);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"current_password\":\"" TU_PASSWORD "\"}",
             new_email);
    assert_int_equal(th_status_of(O, "PUT", "/org/update", t.token, body),
                     200); /* password_change: l2 */
    assert_int_equal(th_refresh(O, b.refresh, &b2), 200);
    /* b's spent token again, from another address: a reuse, not a retry */
    char reuse[256];
    snprintf(reuse, sizeof reuse, "{\"refresh_token\":\"%s\"}", b.refresh);
    struct th_resp rr;
    assert_true(
        th_http_from(O, "127.0.0.2", "POST", "/auth/refresh_token", NULL, reuse, NULL, &rr));
    assert_int_equal(rr.status, 401); /* refresh_reuse */
    th_resp_free(&rr);
    char *after = th_metrics_scrape(O);

    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"ok\"}", 5);
    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"bad_credentials\"}", 2);
    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"throttled\"}", 0);
    th_expect_counter_moved(before, after, "orgd_sessions_ended_total{reason=\"logout\"}", 1);
    th_expect_counter_moved(before, after, "orgd_sessions_ended_total{reason=\"revoked\"}", 1);
    th_expect_counter_moved(before, after, "orgd_sessions_ended_total{reason=\"password_change\"}",
                            2);
    th_expect_counter_moved(before, after, "orgd_sessions_ended_total{reason=\"refresh_reuse\"}",
                            1);
    for (const char *f = "# TYPE orgd_logins_total counter\0"
                         "# TYPE orgd_sessions_ended_total counter\0";
         *f; f += strlen(f) + 1)
        if (strstr(after, f) == NULL)
            fail_msg("no \"%s\" in /metrics", f);
    free(before);
    free(after);
    th_tenant_free(&t);
}

/* ---- after everything above ---- */

static void no_token_or_password_in_the_database(void **state)
{
    (void)state;
    /* every password sent and token received so far, against every
     * document of every collection */
    th_db_expect_no_secret(O);
    assert_true(th_db_count(O, "sessions", NULL) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signup_answers_the_account),
        cmocka_unit_test(signup_refuses_bad_input_and_creates_nothing),
        cmocka_unit_test(a_failed_login_is_a_generic_401_without_a_challenge),
        cmocka_unit_test(admin_login_answers_both_token_names),
        cmocka_unit_test(account_tokens_reach_their_own_org),
        cmocka_unit_test(metrics_count_logins_and_ended_sessions),
        cmocka_unit_test(no_token_or_password_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
