/* Races on invitations: every pair of requests that may decide one
 * invitation's fate, released together (th_race) twenty times, each round
 * ending with what the database holds checked against what the answers
 * said, and `orgd check` clean. On FerretDB an update is a read and then
 * a whole-document write, so before every one of these writes went
 * through the guarded transition (store__swap) both sides of a pair would
 * answer success: a revoke answered 204 beside an accept that made the
 * invitee a member, a re-invite beside an accept, 4 to 8 pending
 * invitations from 8 invites of one e-mail.
 *
 * A loser's answer must be honest (th_race_lost): refused because of
 * what the winner did, or turned away by a busy machine before deciding
 * anything. The rule in every race is "at most one winner, and the
 * database says what the answers said"; a round where nobody won (a busy
 * machine turned both away) proves nothing, so each race also needs
 * winners in most of its rounds. */
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
#define INVITERS 8

/* Pending invitations of (org, e-mail) in the database. */
static int64_t pending_of(const char *org_id, const char *email)
{
    bson_oid_t org;
    bson_oid_init_from_string(&org, org_id);
    bson_t *f = BCON_NEW("org_id", BCON_OID(&org), "email", BCON_UTF8(email), "status",
                         BCON_UTF8("pending"));
    int64_t n = th_db_count(O, "invitations", f);
    bson_destroy(f);
    return n;
}

static void call_init(struct th_call *c, const char *method, const char *token)
{
    memset(c, 0, sizeof *c);
    c->o = O;
    c->method = method;
    c->token = token;
}

static void accept_call(struct th_call *c, const char *bearer, const char *inv_token)
{
    call_init(c, "POST", bearer);
    snprintf(c->path, sizeof c->path, "/invitations/accept");
    snprintf(c->body, sizeof c->body, "{\"token\":\"%s\"}", inv_token);
}

static void invite_call(struct th_call *c, const char *token, const char *org_id, const char *email,
                        const char *role)
{
    call_init(c, "POST", token);
    snprintf(c->path, sizeof c->path, "/organization/%s/invite", org_id);
    snprintf(c->body, sizeof c->body, "{\"email\":\"%s\",\"role\":\"%s\"}", email, role);
}

/* A revoke and an accept of one invitation: one of them happens. */
static void revoke_and_accept_have_one_winner(void **state)
{
    (void)state;
    struct th_account owner;
    char org[32], name[64];
    th_account_new(O, "RvOwner", &owner);
    th_org_new(O, owner.t.access, "RvOrg", org, name);
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account invitee;
        struct th_invitation inv;
        th_account_new(O, "RvInvitee", &invitee);
        th_invite(O, owner.t.access, org, invitee.email, "admin", &inv);
        struct th_call calls[2];
        call_init(&calls[0], "DELETE", owner.t.access);
        snprintf(calls[0].path, sizeof calls[0].path, "/organization/%s/invitations/%s", org,
                 inv.id);
        accept_call(&calls[1], invitee.t.access, inv.token);
        th_race(calls, 2);
        bool revoked = calls[0].status == 204, accepted = calls[1].status == 200;
        if (revoked && accepted)
            fail_msg("round %d: the revoke answered 204 and the accept 200", round);
        if (!revoked)
            th_race_expect_lost(&calls[0], "the revoke", round);
        if (!accepted)
            th_race_expect_lost(&calls[1], "the accept", round);
        decided += revoked || accepted;
        char status[16];
        th_db_invitation_status(O, inv.id, status, sizeof status);
        assert_int_equal(th_db_memberships_of(O, invitee.id, org), accepted ? 1 : 0);
        assert_string_equal(status, accepted ? "accepted" : revoked ? "revoked" : "pending");
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "revoke and accept");
}

/* An accept of the pending invitation and a new invite of the same
 * e-mail: the invitee is a member with no invitation pending, or the new
 * invitation replaced the old one before it could be used. */
static void accept_and_reinvite_have_one_winner(void **state)
{
    (void)state;
    struct th_account owner;
    char org[32], name[64];
    th_account_new(O, "ReOwner", &owner);
    th_org_new(O, owner.t.access, "ReOrg", org, name);
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account invitee;
        struct th_invitation inv;
        th_account_new(O, "ReInvitee", &invitee);
        th_invite(O, owner.t.access, org, invitee.email, "member", &inv);
        struct th_call calls[2];
        accept_call(&calls[0], invitee.t.access, inv.token);
        invite_call(&calls[1], owner.t.access, org, invitee.email, "admin");
        /* the second half of the rounds gives the invite a head start */
        calls[0].delay_ms = round < ROUNDS / 2 ? 0 : round % 5;
        th_race(calls, 2);
        bool accepted = calls[0].status == 200, reinvited = calls[1].status == 201;
        if (accepted && reinvited)
            fail_msg("round %d: the accept answered 200 and the re-invite 201", round);
        if (!accepted)
            th_race_expect_lost(&calls[0], "the accept", round);
        if (!reinvited)
            th_race_expect_lost(&calls[1], "the re-invite", round);
        decided += accepted || reinvited;
        assert_int_equal(th_db_memberships_of(O, invitee.id, org), accepted ? 1 : 0);
        /* a member has no invitation pending; otherwise exactly one is */
        assert_int_equal(pending_of(org, invitee.email), accepted ? 0 : 1);
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "accept and re-invite");
}

/* Eight invites of one e-mail at once leave one pending invitation: each
 * 201 was in force until the next replaced it, and of their tokens
 * exactly one still works. */
static void parallel_invites_leave_one_pending(void **state)
{
    (void)state;
    struct th_account owner;
    char org[32], name[64];
    th_account_new(O, "PiOwner", &owner);
    th_org_new(O, owner.t.access, "PiOrg", org, name);
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account invitee;
        th_account_new(O, "PiInvitee", &invitee);
        struct th_call calls[INVITERS];
        for (int i = 0; i < INVITERS; i++) {
            invite_call(&calls[i], owner.t.access, org, invitee.email, i % 2 ? "admin" : "member");
            calls[i].want_json = true;
        }
        th_race(calls, INVITERS);
        int created = 0;
        for (int i = 0; i < INVITERS; i++) {
            if (calls[i].status == 201)
                created++;
            else
                th_race_expect_lost(&calls[i], "an invite", round);
        }
        decided += created > 0;
        assert_int_equal(pending_of(org, invitee.email), created > 0 ? 1 : 0);
        /* exactly one of the answered tokens still opens the door */
        int accepted = 0;
        for (int i = 0; i < INVITERS; i++) {
            if (calls[i].status != 201)
                continue;
            struct th_call a;
            accept_call(&a, invitee.t.access, th_json_str(calls[i].json, "token"));
            struct th_resp r;
            assert_true(th_http_json(O, "POST", a.path, a.token, a.body, &r));
            long s = r.status;
            th_resp_free(&r);
            if (s == 200)
                accepted++;
            else if (s != 410 && s != 409)
                fail_msg("round %d: a replaced token's accept answered %ld", round, s);
        }
        for (int i = 0; i < INVITERS; i++)
            json_decref(calls[i].json);
        assert_int_equal(accepted, created > 0 ? 1 : 0);
        assert_int_equal(th_db_memberships_of(O, invitee.id, org), created > 0 ? 1 : 0);
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "parallel invites");
}

/* Two accepts of one token by its account: one membership, one 200. */
static void accept_and_accept_have_one_winner(void **state)
{
    (void)state;
    struct th_account owner;
    char org[32], name[64];
    th_account_new(O, "AaOwner", &owner);
    th_org_new(O, owner.t.access, "AaOrg", org, name);
    int decided = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account invitee;
        struct th_invitation inv;
        th_account_new(O, "AaInvitee", &invitee);
        th_invite(O, owner.t.access, org, invitee.email, "member", &inv);
        struct th_call calls[2];
        accept_call(&calls[0], invitee.t.access, inv.token);
        accept_call(&calls[1], invitee.t.access, inv.token);
        th_race(calls, 2);
        int won = (calls[0].status == 200) + (calls[1].status == 200);
        if (won > 1)
            fail_msg("round %d: both accepts answered 200", round);
        for (int i = 0; i < 2; i++)
            if (calls[i].status != 200)
                th_race_expect_lost(&calls[i], "an accept", round);
        decided += won;
        assert_int_equal(th_db_memberships_of(O, invitee.id, org), won);
        th_expect_check_clean(O);
    }
    th_race_expect_decided(decided, ROUNDS, "accept and accept");
}

/* A delete of the org and an accept into it: no membership outlives the
 * org, whichever came first; an accept that answered 200 came first. */
static void delete_and_accept_leave_no_member_behind(void **state)
{
    (void)state;
    int deleted = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_account owner, invitee;
        struct th_invitation inv;
        char org[32], name[64];
        th_account_new(O, "DaOwner", &owner);
        th_org_new(O, owner.t.access, "DaOrg", org, name);
        th_account_new(O, "DaInvitee", &invitee);
        th_invite(O, owner.t.access, org, invitee.email, "member", &inv);
        struct th_call calls[2];
        call_init(&calls[0], "DELETE", owner.t.access);
        snprintf(calls[0].path, sizeof calls[0].path, "/organization/%s", org);
        accept_call(&calls[1], invitee.t.access, inv.token);
        calls[1].delay_ms = round % 4; /* the accept's few steps against the delete's many */
        th_race(calls, 2);
        if (calls[0].status != 204)
            th_race_expect_lost(&calls[0], "the delete", round);
        if (calls[1].status != 200)
            th_race_expect_lost(&calls[1], "the accept", round);
        deleted += calls[0].status == 204;
        if (calls[0].status == 204) {
            assert_int_equal(th_db_memberships_of(O, invitee.id, org), 0);
            assert_int_equal(th_db_count_oid(O, "organizations", "_id", org), 0);
        } else {
            assert_int_equal(th_db_memberships_of(O, invitee.id, org),
                             calls[1].status == 200 ? 1 : 0);
        }
        th_expect_check_clean(O);
    }
    th_race_expect_decided(deleted, ROUNDS, "delete and accept");
}

/* An invitation accepted at the moment it expires: revoked and accepted
 * never both, and a member only if the accept said so. */
static void revoke_and_expiry_have_one_outcome(void **state)
{
    (void)state;
    const char *env[] = {"INVITATION_TTL_SECONDS=60", NULL};
    struct th_orgd *brief = th_own_orgd_start(NULL, env);
    struct th_account owner;
    char org[32], name[64];
    th_account_new(brief, "ExOwner", &owner);
    th_org_new(brief, owner.t.access, "ExOrg", org, name);
    int outcomes[3] = {0}; /* accepted, revoked, expired */
    /* the expiry falls before, at and after the moment both are sent */
    const int offsets_ms[] = {-60, -20, 0, 10, 20, 60, 200};
    const int rounds = (int)(sizeof offsets_ms / sizeof offsets_ms[0]);
    for (int round = 0; round < rounds; round++) {
        struct th_account invitee;
        struct th_invitation inv;
        th_account_new(brief, "ExInvitee", &invitee);
        th_invite(brief, owner.t.access, org, invitee.email, "member", &inv);
        /* its expiry moved to a moment from now, as if it had been made a
         * minute ago: the race meets it */
        bson_oid_t id;
        bson_oid_init_from_string(&id, inv.id);
        mongoc_client_t *client = th_db_client(brief);
        mongoc_collection_t *coll = mongoc_client_get_collection(client, brief->db, "invitations");
        bson_t *f = BCON_NEW("_id", BCON_OID(&id));
        int64_t sent = tu_now_ms() + 300; /* the calls' delay, from about now */
        bson_t *u =
            BCON_NEW("$set", "{", "expires_at", BCON_DATE_TIME(sent + offsets_ms[round]), "}");
        assert_true(mongoc_collection_update_one(coll, f, u, NULL, NULL, NULL));
        bson_destroy(f);
        bson_destroy(u);
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(client);
        struct th_call calls[2];
        call_init(&calls[0], "DELETE", owner.t.access);
        calls[0].o = brief;
        snprintf(calls[0].path, sizeof calls[0].path, "/organization/%s/invitations/%s", org,
                 inv.id);
        accept_call(&calls[1], invitee.t.access, inv.token);
        calls[1].o = brief;
        calls[0].delay_ms = calls[1].delay_ms = (int)(sent - tu_now_ms());
        th_race(calls, 2);
        bool revoked = calls[0].status == 204, accepted = calls[1].status == 200;
        if (revoked && accepted)
            fail_msg("round %d: the revoke answered 204 and the accept 200", round);
        if (!accepted && calls[1].status != 410 && !th_race_lost(calls[1].status))
            fail_msg("round %d: the accept answered %ld", round, calls[1].status);
        outcomes[accepted ? 0 : revoked ? 1 : 2]++;
        assert_int_equal(th_db_memberships_of(brief, invitee.id, org), accepted ? 1 : 0);
        th_expect_check_clean(brief);
    }
    printf("# at expiry: accepted %d, revoked %d, neither %d\n", outcomes[0], outcomes[1],
           outcomes[2]);
    assert_int_equal(th_orgd_stop(brief), 0);
}

/* An invitation stands only on its inviter's right to grant its role: an
 * admin's invitation dies with the admin's demotion, and one of an owner
 * invitation with the owner's. */
static void an_invitation_follows_its_inviter(void **state)
{
    (void)state;
    struct th_account owner, admin, invitee, other;
    char org[32], name[64], path[160];
    th_account_new(O, "FoOwner", &owner);
    th_org_new(O, owner.t.access, "FoOrg", org, name);
    th_member_new(O, owner.t.access, org, "admin", "FoAdmin", &admin);
    th_account_new(O, "FoInvitee", &invitee);
    th_account_new(O, "FoOther", &other);
    struct th_invitation by_admin, by_owner;
    th_invite(O, admin.t.access, org, invitee.email, "admin", &by_admin);
    th_invite(O, owner.t.access, org, other.email, "owner", &by_owner);
    /* the admin becomes a member: its invitation grants what it no longer may */
    snprintf(path, sizeof path, "/organization/%s/members/%s", org, admin.id);
    th_expect_status(O, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "member"), 200);
    json_t *j = th_expect_json(O, "POST", "/invitations/accept", invitee.t.access,
                               json_pack("{s:s}", "token", by_admin.token), 410);
    json_decref(j);
    assert_int_equal(th_db_memberships_of(O, invitee.id, org), 0);
    /* the owner's stands while the owner does */
    j = th_expect_json(O, "POST", "/invitations/accept", other.t.access,
                       json_pack("{s:s}", "token", by_owner.token), 200);
    assert_string_equal(th_json_str(j, "role"), "owner");
    json_decref(j);
    th_expect_check_clean(O);
}

/* The race held open: a revoke pauses (fault point, 3 s) after it read
 * the invitation pending; the invitee accepts meanwhile. The revoke's
 * write is a guarded transition from the version it read, so it finds the
 * invitation moved on and says so (404), and the member stays. */
static void a_held_revoke_loses_to_the_accept_made_meanwhile(void **state)
{
    (void)state;
    const char *env[] = {"FAULT_POINT=pause:revoke.after_read", NULL};
    struct th_orgd *held = th_own_orgd_start(th_orgd_faults_bin(), env);
    struct th_account owner, invitee;
    struct th_invitation inv;
    char org[32], name[64];
    th_account_new(held, "HeldOwner", &owner);
    th_org_new(held, owner.t.access, "HeldOrg", org, name);
    th_account_new(held, "HeldInvitee", &invitee);
    th_invite(held, owner.t.access, org, invitee.email, "admin", &inv);
    struct th_call revoke;
    call_init(&revoke, "DELETE", owner.t.access);
    revoke.o = held;
    snprintf(revoke.path, sizeof revoke.path, "/organization/%s/invitations/%s", org, inv.id);
    th_call_start(&revoke);
    tu_sleep_ms(1000); /* read pending; waiting at the fault point */
    json_t *j = th_expect_json(held, "POST", "/invitations/accept", invitee.t.access,
                               json_pack("{s:s}", "token", inv.token), 200);
    json_decref(j);
    th_call_join(&revoke);
    assert_int_equal(revoke.status, 404);
    assert_int_equal(th_db_memberships_of(held, invitee.id, org), 1);
    char status[16];
    th_db_invitation_status(held, inv.id, status, sizeof status);
    assert_string_equal(status, "accepted");
    th_expect_check_clean(held);
    assert_int_equal(th_orgd_stop(held), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(revoke_and_accept_have_one_winner),
        cmocka_unit_test(accept_and_reinvite_have_one_winner),
        cmocka_unit_test(parallel_invites_leave_one_pending),
        cmocka_unit_test(accept_and_accept_have_one_winner),
        cmocka_unit_test(delete_and_accept_leave_no_member_behind),
        cmocka_unit_test_teardown(revoke_and_expiry_have_one_outcome, th_own_orgd_stop),
        cmocka_unit_test(an_invitation_follows_its_inviter),
        cmocka_unit_test_teardown(a_held_revoke_loses_to_the_accept_made_meanwhile,
                                  th_own_orgd_stop),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
