/* E-mail as the mail server has it: mail off (503 mail-disabled, the
 * invitation as without mail), a mail server that is down for a while
 * (nothing lost, only the newest of what was overtaken sent), and two
 * instances sharing one outbox (nothing sent twice). What orgd mails, and
 * hostile values in it, are test_email.c's.
 *
 * Needs ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API (scripts/test sets
 * both): one Mailpit shared by the whole suite, so every test here mails
 * fresh addresses only (th_fresh_email) and searches by recipient; the
 * outage test starts a Mailpit of its own (scripts/mail). */
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
#include "harness_mail.h"
#include "testutil.h"

/* Waits until each of the n addresses of `to` has a mail (at most
 * timeout_ms each), then fails unless, after TH_MAIL_QUIET_MS, each has
 * exactly one. */
static void expect_one_mail_each(const char *api, char (*to)[96], int n, int timeout_ms)
{
    for (int i = 0; i < n; i++)
        json_decref(th_mp_wait_at(api, to[i], NULL, 1, timeout_ms));
    tu_sleep_ms(TH_MAIL_QUIET_MS);
    for (int i = 0; i < n; i++) {
        json_t *l = th_mp_list_at(api, to[i], NULL);
        if (json_array_size(l) != 1)
            fail_msg("%zu mails to %s", json_array_size(l), to[i]);
        json_decref(l);
    }
}

/* ---- 1. mail off ---- */

static void mail_routes_are_503_without_a_mail_server(void **state)
{
    (void)state;
    const char *cheap[] = {"ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, cheap);
    struct th_account owner;
    char org_id[32], org_name[64], invitee[96], path[200];
    th_owner_with_an_org(o, "Off", &owner, org_id, org_name);
    th_fresh_email("off", invitee, sizeof invitee);
    struct th_invitation v;
    th_invite(o, owner.t.access, org_id, invitee, NULL, &v); /* the token, as before */
    assert_true(strlen(v.token) > 20);
    const char *type = "urn:orgd:problem:mail-disabled";
    th_expect_problem_type(o, "POST", "/auth/password/forgot", NULL,
                           json_pack("{s:s}", "email", owner.email), 503, type);
    th_expect_problem_type(
        o, "POST", "/auth/password/reset", NULL,
        json_pack("{s:s, s:s}", "token", v.token, "new_password", "a new horse battery staple"),
        503, type);
    th_expect_problem_type(o, "POST", "/auth/email/verify", NULL,
                           json_pack("{s:s}", "token", v.token), 503, type);
    th_expect_problem_type(o, "POST", "/auth/email/verify/resend", NULL,
                           json_pack("{s:s}", "email", owner.email), 503, type);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s/resend", org_id, v.id);
    th_expect_problem_type(o, "POST", path, owner.t.access, NULL, 503, type);
    /* and the invitation works as it did */
    json_decref(th_accept_new(o, v.token, 200));
    /* no mail went anywhere */
    json_t *l = th_mp_list_at(th_mailpit_api, invitee, NULL);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

/* ---- 2. a mail server that is down ---- */

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
    struct th_orgd *o = th_own_orgd_start(NULL, th_mail_env(more));
    struct th_account owner;
    char org_id[32], org_name[64], path[160];
    th_owner_with_an_org(o, "Outage", &owner, org_id, org_name);
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
    json_t *j = th_invite_by_mail(o, owner.t.access, org_id, over);
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
    json_t *l = th_mp_wait_at(api, over, NULL, 1, 20000);
    assert_non_null(strstr(th_json_str(json_array_get(l, 0), "Subject"), "again"));
    json_decref(l);
    json_decref(th_mp_wait_at(api, reset, "new password", 1, 20000));
    json_decref(th_mp_wait_at(api, reset, "Confirm", 1, 20000));
    tu_sleep_ms(TH_MAIL_QUIET_MS);
    l = th_mp_list_at(api, over, NULL);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    l = th_mp_list_at(api, reset, NULL);
    assert_int_equal(json_array_size(l), 2); /* the check, and the newer reset link alone */
    json_decref(l);
    assert_true(th_orgd_log_contains(o, "mail not sent"));
    assert_true(th_orgd_log_contains(o, "mail dropped"));
}

/* ---- 3. two instances ---- */

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
    struct th_orgd *a = th_own_orgd_start(NULL, th_mail_env(NULL));
    struct th_orgd *b = &second_orgd;
    th_orgd_init(b, NULL);
    snprintf(b->db, sizeof b->db, "%s", a->db);
    snprintf(b->secret, sizeof b->secret, "%s", a->secret);
    snprintf(b->uri, sizeof b->uri, "%s", a->uri);
    if (!th_orgd_start(b, th_mail_env(NULL)))
        fail_msg("the second orgd did not start");
    struct th_account owner;
    char org_id[32], org_name[64], path[160];
    th_owner_with_an_org(a, "Twice", &owner, org_id, org_name);
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    enum { N = 12 };
    char to[N][96];
    for (int i = 0; i < N; i++) {
        th_fresh_email("twice", to[i], sizeof to[i]);
        th_expect_status(i % 2 ? a : b, "POST", path, owner.t.access,
                         json_pack("{s:s}", "email", to[i]), 201);
    }
    expect_one_mail_each(th_mailpit_api, to, N, TH_MAIL_WAIT_MS);
}

int main(void)
{
    if (!th_mail_setup("test_email_servers"))
        return 77;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(mail_routes_are_503_without_a_mail_server, th_own_orgd_stop),
        cmocka_unit_test_teardown(mail_outlives_a_server_that_is_down, outage_teardown),
        cmocka_unit_test_teardown(mail_is_sent_once_by_two_instances, second_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
