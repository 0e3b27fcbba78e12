/* Credential changes over HTTP, checked in the database too: a password
 * change through PUT /auth/password, and a password or e-mail change
 * through PUT /org/update, each ending every other session of the account
 * at once; and an org update that checks everything (the current
 * password, a name or e-mail taken) before it writes anything. The same
 * changes racing refreshes are test_session_races.c. */
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

/* th_db_snapshot without the counts of the collections with a TTL, whose
 * documents the database may expire at any moment, and to which a failed
 * attempt may add a throttle event even with no limit set. Caller frees. */
static char *snapshot(void)
{
    char *s = th_db_snapshot(O);
    const char *volatile_counts[] = {"throttle_events: ", "sessions: ", "session_rotations: "};
    for (size_t i = 0; i < sizeof volatile_counts / sizeof volatile_counts[0]; i++) {
        char *line = s;
        while ((line = strstr(line, volatile_counts[i])) != NULL && line != s && line[-1] != '\n')
            line++;
        if (line == NULL)
            continue;
        char *end = strchr(line, '\n');
        const char *rest = end ? end + 1 : "";
        memmove(line, rest, strlen(rest) + 1);
    }
    return s;
}

/* ---- password and e-mail changes ---- */

static void a_password_change_ends_every_other_session(void **state)
{
    (void)state;
    char email[96], admin_id[32];
    th_signup_fresh(O, "Passwd", email, sizeof email);
    struct th_tokens mine, second, third, refreshed;
    th_signin_ok(O, email, TU_PASSWORD, &mine);
    th_signin_ok(O, email, TU_PASSWORD, &second);
    th_signin_ok(O, email, TU_PASSWORD, &third);
    assert_int_equal(th_refresh(O, second.refresh, &refreshed), 200);
    th_account_id_of(O, mine.access, admin_id, sizeof admin_id);

    /* refusals first: none of them changes or ends anything */
    char long_pw[130];
    memset(long_pw, 'p', 129);
    long_pw[129] = '\0';
    struct {
        json_t *body;
        const char *field;
        long status;
    } refusals[] = {
        {json_pack("{}"), "current_password", 422},
        {json_pack("{}"), "new_password", 422},
        {json_pack("{s:s}", "current_password", TU_PASSWORD), "new_password", 422},
        {json_pack("{s:s}", "new_password", NEW_PASSWORD), "current_password", 422},
        {json_pack("{s:s, s:s}", "current_password", TU_PASSWORD, "new_password", "1234567"),
         "new_password", 422},
        {json_pack("{s:s, s:s}", "current_password", TU_PASSWORD, "new_password", long_pw),
         "new_password", 422},
        {json_pack("{s:s, s:s}", "current_password", "not the password", "new_password",
                   NEW_PASSWORD),
         NULL, 401},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char *body = th_json_text(refusals[i].body);
        struct th_resp r;
        assert_true(th_http_json(O, "PUT", "/auth/password", mine.access, body, &r));
        if (!th_is_problem(&r, refusals[i].status))
            fail_msg("PUT /auth/password %s", body);
        if (refusals[i].field != NULL && !th_names_field(&r, refusals[i].field))
            fail_msg("PUT /auth/password %s does not name %s: %s", body, refusals[i].field, r.body);
        th_resp_free(&r);
        free(body);
    }
    th_expect_problem(O, "PUT", "/auth/password", NULL,
                      "{\"current_password\":\"" TU_PASSWORD "\",\"new_password\":\"" NEW_PASSWORD
                      "\"}",
                      401, NULL);
    th_expect_alive(O, mine.access);
    th_expect_alive(O, refreshed.access);
    th_expect_alive(O, third.access);
    assert_int_equal(th_db_active_sessions_of(O, admin_id), 3);

    /* the change */
    struct th_resp r;
    assert_true(th_http_json(
        O, "PUT", "/auth/password", mine.access,
        "{\"current_password\":\"" TU_PASSWORD "\",\"new_password\":\"" NEW_PASSWORD "\"}", &r));
    if (r.status != 204)
        fail_msg("the password change answered %ld: %s", r.status, r.body);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    th_expect_alive(O, mine.access);
    th_expect_refused(O, refreshed.access);
    th_expect_refused(O, second.access);
    th_expect_refused(O, third.access);
    assert_int_equal(th_refresh_status(O, refreshed.refresh), 401);
    assert_int_equal(th_refresh_status(O, third.refresh), 401);
    /* the caller's session goes on, refresh included */
    struct th_tokens next;
    assert_int_equal(th_refresh(O, mine.refresh, &next), 200);
    th_expect_alive(O, next.access);
    assert_int_equal(th_db_active_sessions_of(O, admin_id), 1);

    struct th_tokens t;
    assert_int_equal(th_signin(O, email, TU_PASSWORD, &t), 401);
    assert_int_equal(th_signin(O, email, NEW_PASSWORD, &t), 200);
}

static void org_update_credential_changes_end_every_other_session(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "UpdCred");
    struct th_tokens first, second, account;
    th_admin_login_ok(O, t.email, TU_PASSWORD, &first);
    th_admin_login_ok(O, t.email, TU_PASSWORD, &second);
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    char path[256], body[512];
    snprintf(path, sizeof path, "/org/%s", t.name);

    /* the password, through PUT /org/update */
    snprintf(body, sizeof body,
             "{\"password\":\"" NEW_PASSWORD "\",\"current_password\":\"" TU_PASSWORD "\"}");
    struct th_resp r;
    assert_true(th_http_json(O, "PUT", "/org/update", first.access, body, &r));
    if (r.status != 200)
        fail_msg("the password change answered %ld: %s", r.status, r.body);
    th_resp_free(&r);
    assert_int_equal(th_status_of(O, "GET", path, first.access, NULL), 200);
    assert_int_equal(th_status_of(O, "GET", path, second.access, NULL), 401);
    assert_int_equal(th_status_of(O, "GET", path, t.token, NULL), 401);
    th_expect_refused(O, account.access);
    assert_int_equal(th_refresh_status(O, second.refresh), 401);
    assert_int_equal(th_refresh_status(O, account.refresh), 401);
    struct th_tokens scratch;
    assert_int_equal(th_signin_at(O, "/admin/login", t.email, TU_PASSWORD, &scratch), 401);
    assert_int_equal(th_signin(O, t.email, TU_PASSWORD, &scratch), 401);

    /* the e-mail, through PUT /org/update/{name}, from a newer session */
    struct th_tokens third, fourth;
    th_admin_login_ok(O, t.email, NEW_PASSWORD, &third);
    th_admin_login_ok(O, t.email, NEW_PASSWORD, &fourth);
    char new_email[96];
    th_fresh_email("UpdCredMail", new_email, sizeof new_email);
    snprintf(path, sizeof path, "/org/update/%s", t.name);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"current_password\":\"" NEW_PASSWORD "\"}",
             new_email);
    assert_true(th_http_json(O, "PUT", path, third.access, body, &r));
    if (r.status != 200)
        fail_msg("the e-mail change answered %ld: %s", r.status, r.body);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(O, "GET", path, third.access, NULL), 200);
    assert_int_equal(th_status_of(O, "GET", path, fourth.access, NULL), 401);
    assert_int_equal(th_status_of(O, "GET", path, first.access, NULL), 401);
    assert_int_equal(th_refresh_status(O, fourth.refresh), 401);
    assert_int_equal(th_signin_at(O, "/admin/login", t.email, NEW_PASSWORD, &scratch), 401);
    assert_int_equal(th_signin_at(O, "/admin/login", new_email, NEW_PASSWORD, &scratch), 200);
    th_tenant_free(&t);
}

static void org_update_checks_everything_before_it_writes(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "UpdCheck");
    char coll[96], new_name[64], new_coll[96], new_email[96], path[256];
    th_collection_of(t.name, coll, sizeof coll);
    assert_true(th_db_insert_docs(O, coll, 4, "keep"));
    th_unique("UpdCheckNew", new_name, sizeof new_name);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    th_fresh_email("UpdCheckMail", new_email, sizeof new_email);
    char *before = snapshot();

    /* a rename with a credential change and the wrong current password */
    char *body =
        th_json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "password",
                               NEW_PASSWORD, "current_password", "not the password"));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 401, NULL);
    free(body);
    snprintf(path, sizeof path, "/org/update/%s", t.name);
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "email",
                                  new_email, "current_password", "not the password"));
    th_expect_problem(O, "PUT", path, t.token, body, 401, NULL);
    free(body);
    /* no current password with a credential change; one without */
    body = th_json_text(
        json_pack("{s:s, s:s}", "new_organization_name", new_name, "password", NEW_PASSWORD));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 422, "current_password");
    free(body);
    body = th_json_text(json_pack("{s:s}", "email", new_email));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 422, "current_password");
    free(body);
    body = th_json_text(json_pack("{s:s, s:s}", "new_organization_name", new_name,
                                  "current_password", TU_PASSWORD));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 422, "current_password");
    free(body);

    char *after = snapshot();
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* a credential change with the right current password, and a rename
     * onto a taken name: the 409 leaves the password as it was */
    struct th_tenant other;
    th_tenant_new(O, &other, "UpdCheckOther");
    before = snapshot();
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", other.name,
                                  "password", NEW_PASSWORD, "current_password", TU_PASSWORD));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 409, NULL);
    free(body);
    body = th_json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "email",
                                  other.email, "current_password", TU_PASSWORD));
    th_expect_problem(O, "PUT", "/org/update", t.token, body, 409, NULL);
    free(body);
    th_tenant_free(&other);
    after = snapshot();
    assert_string_equal(before, after);
    free(before);
    free(after);
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(O, "GET", path, t.token, NULL), 200);
    snprintf(path, sizeof path, "/org/%s", new_name);
    assert_int_equal(th_status_of(O, "GET", path, t.token, NULL), 404);
    assert_true(th_db_collection_exists(O, coll));
    assert_false(th_db_collection_exists(O, new_coll));
    assert_int_equal(th_db_count(O, coll, NULL), 4);
    struct th_tokens scratch;
    assert_int_equal(th_signin_at(O, "/admin/login", t.email, TU_PASSWORD, &scratch), 200);
    assert_int_equal(th_signin_at(O, "/admin/login", new_email, TU_PASSWORD, &scratch), 401);
    th_tenant_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_password_change_ends_every_other_session),
        cmocka_unit_test(org_update_credential_changes_end_every_other_session),
        cmocka_unit_test(org_update_checks_everything_before_it_writes),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
