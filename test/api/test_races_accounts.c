/* Races on accounts and memberships: two credential changes of one
 * account, a role change against the member's removal, released together
 * (th_race) twenty times, each round ending with the database checked
 * against the answers and `orgd check` clean. On FerretDB an update is a
 * read and then a whole-document write: two password changes both
 * answered 204 while only one password worked, and a role change racing
 * a removal wrote the membership twice. Each of these writes is now a
 * guarded transition (store__swap): one wins, the other is told. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd;

#define ROUNDS 20

static long signin_status(const char *email, const char *password)
{
    struct th_tokens scratch;
    return th_signin(O, email, password, &scratch);
}

/* Two password changes of one account, with the same current password:
 * the one that answered 204 set the password that works; the other was
 * told it did not happen (409, or 401 once the first had changed it). */
static void password_and_password_have_one_winner(void **state)
{
    (void)state;
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account a;
        th_account_new(O, "PwRace", &a);
        struct th_tokens second;
        th_signin_ok(O, a.email, TU_PASSWORD, &second);
        const char *next[2] = {"the first new password", "the second new password"};
        struct th_call calls[2];
        for (int i = 0; i < 2; i++) {
            memset(&calls[i], 0, sizeof calls[i]);
            calls[i].o = O;
            calls[i].method = "PUT";
            calls[i].token = i == 0 ? a.t.access : second.access;
            snprintf(calls[i].path, sizeof calls[i].path, "/auth/password");
            snprintf(calls[i].body, sizeof calls[i].body,
                     "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", TU_PASSWORD, next[i]);
        }
        th_race(calls, 2);
        int won = -1;
        for (int i = 0; i < 2; i++) {
            if (calls[i].status == 204) {
                if (won >= 0)
                    fail_msg("round %d: both password changes answered 204", round);
                won = i;
            } else {
                th_race_expect_lost(&calls[i], "a password change", round);
            }
        }
        decided += won >= 0;
        /* the winner's password is the one that works, and only it */
        for (int i = 0; i < 2; i++)
            assert_int_equal(signin_status(a.email, next[i]), i == won ? 200 : 401);
        assert_int_equal(signin_status(a.email, TU_PASSWORD), won >= 0 ? 401 : 200);
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "password and password");
}

/* Two e-mail changes of one org-first account (PUT /org/update): the
 * account has the e-mail of the one that answered 200. */
static void email_and_email_have_one_winner(void **state)
{
    (void)state;
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_tenant t;
        th_tenant_new(O, &t, "MailRace");
        char email[2][96];
        struct th_call calls[2];
        for (int i = 0; i < 2; i++) {
            th_fresh_email(i == 0 ? "MailOne" : "MailTwo", email[i], sizeof email[i]);
            memset(&calls[i], 0, sizeof calls[i]);
            calls[i].o = O;
            calls[i].method = "PUT";
            calls[i].token = t.token;
            snprintf(calls[i].path, sizeof calls[i].path, "/org/update");
            snprintf(calls[i].body, sizeof calls[i].body,
                     "{\"email\":\"%s\",\"current_password\":\"%s\"}", email[i], TU_PASSWORD);
        }
        th_race(calls, 2);
        int won = -1;
        for (int i = 0; i < 2; i++) {
            if (calls[i].status == 200) {
                if (won >= 0)
                    fail_msg("round %d: both e-mail changes answered 200", round);
                won = i;
            } else {
                th_race_expect_lost(&calls[i], "an e-mail change", round);
            }
        }
        decided += won >= 0;
        for (int i = 0; i < 2; i++)
            assert_int_equal(th_db_count_str(O, "admins", "email", email[i]), i == won ? 1 : 0);
        assert_int_equal(th_db_count_str(O, "admins", "email", t.email), won >= 0 ? 0 : 1);
        th_tenant_free(&t);
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "e-mail and e-mail");
}

/* A role change and the removal of the same member: a member removed is
 * gone (no write puts the membership back), and one still there has the
 * role the answers say. */
static void role_change_and_removal_have_one_outcome(void **state)
{
    (void)state;
    struct th_account owner;
    char org[32], name[64];
    th_account_new(O, "RrOwner", &owner);
    th_org_new(O, owner.t.access, "RrOrg", org, name);
    int removed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account m;
        th_member_new(O, owner.t.access, org, "member", "RrMember", &m);
        struct th_call calls[2];
        for (int i = 0; i < 2; i++) {
            memset(&calls[i], 0, sizeof calls[i]);
            calls[i].o = O;
            calls[i].token = owner.t.access;
            snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s/members/%s", org, m.id);
        }
        calls[0].method = "PATCH";
        snprintf(calls[0].body, sizeof calls[0].body, "{\"role\":\"admin\"}");
        calls[1].method = "DELETE";
        calls[round % 2].delay_ms = round % 3; /* either may start first */
        th_race(calls, 2);
        if (calls[0].status != 200)
            th_race_expect_lost(&calls[0], "the role change", round);
        if (calls[1].status != 204)
            th_race_expect_lost(&calls[1], "the removal", round);
        removed += calls[1].status == 204;
        int64_t left = th_db_memberships_of(O, m.id, org);
        if (calls[1].status == 204 && left != 0)
            fail_msg("round %d: removed (204), but the membership is still there (role change "
                     "%ld)",
                     round, calls[0].status);
        if (calls[1].status != 204) {
            assert_int_equal(left, 1);
            bson_oid_t a, o;
            bson_oid_init_from_string(&a, m.id);
            bson_oid_init_from_string(&o, org);
            bson_t *f = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o), "role",
                                 BCON_UTF8(calls[0].status == 200 ? "admin" : "member"));
            assert_int_equal(th_db_count(O, "memberships", f), 1);
            bson_destroy(f);
        }
        th_expect_check_clean(O);
    }
    th_race_expect_decided(removed, ROUNDS, "role change and removal");
}

/* The race held open: a password change pauses (fault point, 3 s) after
 * its current password was checked and its new one hashed, another change
 * is made meanwhile; the first must not write over it. */
static void a_held_password_change_loses_to_the_one_made_meanwhile(void **state)
{
    (void)state;
    const char *env[] = {"FAULT_POINT=pause:password.after_check", NULL};
    struct th_orgd *paused = th_own_orgd_start(th_orgd_faults_bin(), env);
    struct th_account a;
    th_account_new(paused, "HeldPw", &a);
    struct th_tokens second;
    th_signin_ok(paused, a.email, TU_PASSWORD, &second);
    struct th_call held = {.o = paused, .method = "PUT", .token = a.t.access};
    snprintf(held.path, sizeof held.path, "/auth/password");
    snprintf(held.body, sizeof held.body,
             "{\"current_password\":\"%s\",\"new_password\":\"the held password\"}", TU_PASSWORD);
    th_call_start(&held);
    tu_sleep_ms(1000); /* checked and hashed; waiting at the fault point */
    /* the pause holds every thread that reaches it: this change is made
     * by hand in the database, as another instance would */
    mongoc_client_t *client = th_db_client(paused);
    mongoc_collection_t *admins = mongoc_client_get_collection(client, paused->db, "admins");
    bson_oid_t id;
    bson_oid_init_from_string(&id, a.id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&id));
    bson_t *u = BCON_NEW("$set", "{", "password_hash", BCON_UTF8("$argon2id$changed"), "}", "$inc",
                         "{", "version", BCON_INT64(1), "}");
    assert_true(mongoc_collection_update_one(admins, f, u, NULL, NULL, NULL));
    bson_destroy(f);
    bson_destroy(u);
    th_call_join(&held);
    assert_int_equal(held.status, 409);
    /* the held change wrote nothing: the hash is the one set meanwhile */
    f = BCON_NEW("_id", BCON_OID(&id), "password_hash", BCON_UTF8("$argon2id$changed"));
    assert_int_equal(mongoc_collection_count_documents(admins, f, NULL, NULL, NULL, NULL), 1);
    bson_destroy(f);
    mongoc_collection_destroy(admins);
    mongoc_client_destroy(client);
    assert_int_equal(th_orgd_stop(paused), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(password_and_password_have_one_winner),
        cmocka_unit_test(email_and_email_have_one_winner),
        cmocka_unit_test(role_change_and_removal_have_one_outcome),
        cmocka_unit_test_teardown(a_held_password_change_loses_to_the_one_made_meanwhile,
                                  th_own_orgd_stop),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
