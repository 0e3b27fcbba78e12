/* Crash safety of the account-first routes: kill orgd (orgd-faults) at
 * every fault point of updates, invitations, accepts, member removals and
 * POST /organization/; a normal orgd then recovers, `orgd check` is clean,
 * and what a client sees is sane: the step happened whole or not at all,
 * and doing it again works. Also recovery's other work on invitations:
 * half-made accepts put back, long-expired invitations swept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* Recovery at once and every second. Age 1 s, not 0, so that a recovery
 * pass never takes a live request's step for a crashed one. */
static const char *const FAST_RECOVERY[] = {"RECOVERY_AGE_SECONDS=1", "RECOVERY_INTERVAL_SECONDS=1",
                                            NULL};

/* ---- helpers ---- */

/* A normal orgd, and an owner with an organization made by POST
 * /organization/ (or none). */
struct world {
    struct th_orgd o;
    struct th_orgd crashy; /* orgd-faults on the same database */
    struct th_account owner;
    char id[32];
    char name[64];
};

/* The world of the running test: static, so that the teardown can stop its
 * orgd processes when a failed assertion jumped out of the test. */
static struct world world;

static int world_teardown(void **state)
{
    (void)state;
    if (world.crashy.pid > 0)
        th_orgd_stop(&world.crashy);
    if (world.o.pid > 0)
        th_orgd_stop(&world.o);
    return 0;
}

/* A normal orgd with an owner; with an org of theirs when with_org. */
static struct world *world_start(bool with_org)
{
    struct world *w = &world;
    memset(w, 0, sizeof *w);
    th_orgd_init(&w->o, NULL);
    assert_true(th_orgd_start(&w->o, NULL));
    th_account_new(&w->o, "owner", &w->owner);
    if (!with_org)
        return w;
    th_org_new(&w->o, w->owner.t.access, "Org", w->id, w->name);
    return w;
}

/* Stops the normal orgd, runs orgd-faults armed at `point` on the same
 * database, sends the request, and expects the process to die there. */
static void crash_at(struct world *w, const char *point, const char *method, const char *path,
                     const char *token, json_t *body)
{
    assert_int_equal(th_orgd_stop(&w->o), 0);
    struct th_orgd *crashy = &w->crashy;
    *crashy = w->o;
    crashy->binary = th_orgd_faults_bin();
    char arm[96];
    snprintf(arm, sizeof arm, "FAULT_POINT=%s", point);
    const char *env[] = {arm, NULL};
    assert_true(th_orgd_start(crashy, env));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct th_resp r;
    if (th_http_json(crashy, method, path, token, text, &r))
        fail_msg("%s: %s %s answered %ld instead of dying", point, method, path, r.status);
    th_resp_free(&r);
    free(text);
    assert_int_equal(th_orgd_wait(crashy, 15000), 128 + 9); /* SIGKILL at the fault point */
    assert_true(th_orgd_log_contains(crashy, point));
}

/* The normal orgd again, recovering promptly. */
static void restart(struct world *w)
{
    assert_true(th_orgd_start(&w->o, FAST_RECOVERY));
}

static void world_end(struct world *w)
{
    th_expect_check_clean(&w->o);
    assert_int_equal(th_orgd_stop(&w->o), 0);
}

/* Waits until invitation `id` has status `want`; false after timeout_ms. */
static bool wait_status(const struct th_orgd *o, const char *id, const char *want, int timeout_ms)
{
    char status[32];
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        th_db_invitation_status(o, id, status, sizeof status);
        if (strcmp(status, want) == 0)
            return true;
        tu_sleep_ms(100);
    }
    return false;
}

/* Sets fields of invitation `id` straight in the database. */
static void invitation_set(const struct th_orgd *o, const char *id, bson_t *set)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "invitations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    bson_t update = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&update, "$set", set);
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, f, &update, NULL, &reply, &e);
    bson_iter_t it;
    bool modified =
        ok && bson_iter_init_find(&it, &reply, "modifiedCount") && bson_iter_as_int64(&it) == 1;
    bson_destroy(&reply);
    bson_destroy(&update);
    bson_destroy(f);
    bson_destroy(set);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!modified)
        fail_msg("could not change invitation %s: %s", id, ok ? "no match" : e.message);
}

static int64_t pending_in(const struct th_orgd *o, const char *org_id)
{
    bson_oid_t g;
    bson_oid_init_from_string(&g, org_id);
    bson_t *f = BCON_NEW("org_id", BCON_OID(&g), "status", BCON_UTF8("pending"));
    int64_t n = th_db_count(o, "invitations", f);
    bson_destroy(f);
    return n;
}

static int64_t orgs_not_active(const struct th_orgd *o)
{
    bson_t *f = BCON_NEW("state", "{", "$ne", BCON_UTF8("active"), "}");
    int64_t n = th_db_count(o, "organizations", f);
    bson_destroy(f);
    return n;
}

static void org_path(char *out, size_t cap, const char *id, const char *tail)
{
    snprintf(out, cap, "/organization/%s%s", id, tail ? tail : "");
}

/* ---- updates ---- */

/* Waits (up to 5 s) for orgd to count `want` recovery actions named so. */
static void expect_recovery_counted(const struct th_orgd *o, const char *action, double want)
{
    char series[96];
    snprintf(series, sizeof series, "orgd_recovery_actions_total{action=\"%s\"}", action);
    double got = -1;
    for (int waited = 0; waited <= 5000; waited += 100) {
        char *text = th_metrics_scrape(o);
        got = th_metric_sample(text, series);
        free(text);
        if (got == want)
            return;
        tu_sleep_ms(100);
    }
    fail_msg("%s is %g, not %g", series, got, want);
}

static void crash_org_update_after_checks(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    char path[160], coll[96], new_name[64], new_coll[96];
    org_path(path, sizeof path, w->id, NULL);
    th_expect_status(&w->o, "PUT", path, w->owner.t.access,
                     json_pack("{s:s}", "description", "before"), 200);
    th_collection_of(w->name, coll, sizeof coll);
    assert_true(th_db_insert_docs(&w->o, coll, 9, "keep"));
    th_unique("Renamed", new_name, sizeof new_name);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    /* the database as it is (orgd idle: nothing moves meanwhile) */
    char *before = th_db_snapshot(&w->o);

    crash_at(w, "org_update.after_checks", "PUT", path, w->owner.t.access,
             json_pack("{s:s, s:s}", "name", new_name, "description", "after"));
    restart(w);
    tu_sleep_ms(1500); /* a recovery pass or two, which must find nothing to do */
    char *after = th_db_snapshot(&w->o);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_t *j = th_expect_json(&w->o, "GET", path, w->owner.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "name"), w->name);
    assert_string_equal(th_json_str(j, "description"), "before");
    json_decref(j);
    assert_int_equal(th_db_count(&w->o, coll, NULL), 9);
    assert_false(th_db_collection_exists(&w->o, new_coll));
    th_expect_check_clean(&w->o);

    /* and the same update now goes through */
    j = th_expect_json(&w->o, "PUT", path, w->owner.t.access,
                       json_pack("{s:s, s:s}", "name", new_name, "description", "after"), 200);
    assert_string_equal(th_json_str(j, "name"), new_name);
    assert_string_equal(th_json_str(j, "description"), "after");
    json_decref(j);
    assert_false(th_db_collection_exists(&w->o, coll));
    assert_int_equal(th_db_count(&w->o, new_coll, NULL), 9);
    world_end(w);
}

/* ---- invitations ---- */

static void crash_invite_after_replace(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    char email[96], path[160];
    th_fresh_email("invitee", email, sizeof email);
    struct th_invitation old, inv;
    th_invite(&w->o, w->owner.t.access, w->id, email, "member", &old);
    assert_int_equal(pending_in(&w->o, w->id), 1);
    org_path(path, sizeof path, w->id, "/invite");

    crash_at(w, "invite.after_replace", "POST", path, w->owner.t.access,
             json_pack("{s:s, s:s}", "email", email, "role", "admin"));
    restart(w);
    /* the old one was replaced, the new one never made: none pending */
    assert_int_equal(pending_in(&w->o, w->id), 0);
    org_path(path, sizeof path, w->id, "/invitations");
    json_t *j = th_list_all(&w->o, path, w->owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    th_expect_status(&w->o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", old.token, "password", TU_PASSWORD), 410);
    th_expect_check_clean(&w->o);

    /* inviting again works, and the invitation is accepted */
    th_invite(&w->o, w->owner.t.access, w->id, email, "admin", &inv);
    j = th_expect_json(&w->o, "POST", "/invitations/accept", NULL,
                       json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD), 200);
    assert_string_equal(th_json_str(j, "role"), "admin");
    json_decref(j);
    world_end(w);
}

static void crash_accept_after_account(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    struct th_invitation inv;
    struct th_account invitee = {0};
    th_fresh_email("invitee", invitee.email, sizeof invitee.email);
    th_invite(&w->o, w->owner.t.access, w->id, invitee.email, "member", &inv);

    crash_at(w, "accept.after_account", "POST", "/invitations/accept", NULL,
             json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD));
    restart(w);
    /* the account exists; the invitation was not touched */
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", invitee.email), 1);
    assert_int_equal(th_db_count_oid(&w->o, "memberships", "org_id", w->id), 1); /* the owner */
    char status[32];
    th_db_invitation_status(&w->o, inv.id, status, sizeof status);
    assert_string_equal(status, "pending");
    th_expect_check_clean(&w->o);
    /* a second try without a bearer finds the account; with its bearer, it joins */
    th_expect_status(&w->o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD), 409);
    th_signin_ok(&w->o, invitee.email, TU_PASSWORD, &invitee.t);
    json_t *j = th_list_all(&w->o, "/invitations", invitee.t.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    j = th_expect_json(&w->o, "POST", "/invitations/accept", invitee.t.access,
                       json_pack("{s:s}", "token", inv.token), 200);
    assert_true(json_is_false(json_object_get(j, "account_created")));
    snprintf(invitee.id, sizeof invitee.id, "%s", th_json_str(j, "account_id"));
    json_decref(j);
    assert_int_equal(th_db_memberships_of(&w->o, invitee.id, w->id), 1);
    world_end(w);
}

static void crash_accept_after_membership(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    char path[160];
    struct th_invitation inv;
    struct th_account invitee;
    th_account_new(&w->o, "invitee", &invitee);
    th_invite(&w->o, w->owner.t.access, w->id, invitee.email, "admin", &inv);

    crash_at(w, "accept.after_membership", "POST", "/invitations/accept", invitee.t.access,
             json_pack("{s:s}", "token", inv.token));
    /* half accepted: the membership is there, the invitation still accepting,
     * and `orgd check` says so once it is old enough */
    char status[32];
    th_db_invitation_status(&w->o, inv.id, status, sizeof status);
    assert_string_equal(status, "accepting");
    assert_int_equal(th_db_memberships_of(&w->o, invitee.id, w->id), 1);
    char out[8192];
    const char *args[] = {"check", NULL}, *now[] = {"RECOVERY_AGE_SECONDS=0", NULL};
    tu_sleep_ms(20);
    int code = th_orgd_command(&w->o, args, now, out, sizeof out);
    if (code == 0 || strstr(out, "stuck_invitation") == NULL)
        fail_msg("orgd check exited %d:\n%s", code, out);

    restart(w);
    if (!wait_status(&w->o, inv.id, "accepted", 15000))
        fail_msg("the invitation was not finished by recovery");
    for (int i = 0; i < 50 && !th_orgd_log_contains(&w->o, "finish_accept"); i++)
        tu_sleep_ms(20);
    assert_true(th_orgd_log_contains(&w->o, "finish_accept"));
    expect_recovery_counted(&w->o, "finish_accept", 1);
    assert_int_equal(th_db_memberships_of(&w->o, invitee.id, w->id), 1);
    org_path(path, sizeof path, w->id, NULL);
    json_t *j = th_expect_json(&w->o, "GET", path, invitee.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "admin");
    json_decref(j);
    th_expect_status(&w->o, "POST", "/invitations/accept", invitee.t.access,
                     json_pack("{s:s}", "token", inv.token), 410);
    world_end(w);
}

/* No fault point stops an accept between marking the invitation and the
 * membership insert; a database that went away there does the same: the
 * invitation is left accepting with no membership, and recovery puts it
 * back to pending, so the token works again. */
static void a_half_begun_accept_is_put_back(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    struct th_invitation inv;
    struct th_account invitee;
    th_account_new(&w->o, "invitee", &invitee);
    th_invite(&w->o, w->owner.t.access, w->id, invitee.email, "member", &inv);
    assert_int_equal(th_orgd_stop(&w->o), 0);
    bson_oid_t who;
    bson_oid_init_from_string(&who, invitee.id);
    int64_t then = (int64_t)time(NULL) * 1000 - 60000;
    invitation_set(&w->o, inv.id,
                   BCON_NEW("status", BCON_UTF8("accepting"), "accepting_by", BCON_OID(&who),
                            "accepting_at", BCON_DATE_TIME(then)));

    restart(w);
    if (!wait_status(&w->o, inv.id, "pending", 15000))
        fail_msg("the invitation was not put back by recovery");
    expect_recovery_counted(&w->o, "undo_accept", 1);
    assert_int_equal(th_db_memberships_of(&w->o, invitee.id, w->id), 0);
    th_expect_check_clean(&w->o);
    th_expect_status(&w->o, "POST", "/invitations/accept", invitee.t.access,
                     json_pack("{s:s}", "token", inv.token), 200);
    assert_int_equal(th_db_memberships_of(&w->o, invitee.id, w->id), 1);
    world_end(w);
}

static void long_expired_invitations_are_swept(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    char email[96];
    struct th_invitation recent, old;
    th_fresh_email("recent", email, sizeof email);
    th_invite(&w->o, w->owner.t.access, w->id, email, "member", &recent);
    th_fresh_email("old", email, sizeof email);
    th_invite(&w->o, w->owner.t.access, w->id, email, "member", &old);
    assert_int_equal(th_orgd_stop(&w->o), 0);
    int64_t now = (int64_t)time(NULL) * 1000;
    int64_t day = 24LL * 3600 * 1000;
    invitation_set(&w->o, recent.id, BCON_NEW("expires_at", BCON_DATE_TIME(now - 6 * day)));
    invitation_set(&w->o, old.id, BCON_NEW("expires_at", BCON_DATE_TIME(now - 8 * day)));

    restart(w);
    char status[32] = "x";
    for (int i = 0; i < 100 && status[0] != '\0'; i++) {
        th_db_invitation_status(&w->o, old.id, status, sizeof status);
        if (status[0] != '\0')
            tu_sleep_ms(100);
    }
    if (status[0] != '\0')
        fail_msg("an invitation expired 8 days ago is still there");
    /* a week after its expiry it is gone (404); within the week, 410 */
    th_expect_status(&w->o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", old.token, "password", TU_PASSWORD), 404);
    th_expect_status(&w->o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", recent.token, "password", TU_PASSWORD), 410);
    th_db_invitation_status(&w->o, recent.id, status, sizeof status);
    assert_string_equal(status, "pending");
    world_end(w);
}

/* ---- removing members ---- */

static void crash_member_remove_after_sessions(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    struct th_account member;
    th_member_new(&w->o, w->owner.t.access, w->id, "member", "member", &member);
    struct th_tokens scoped;
    th_org_login(&w->o, &member, w->name, &scoped);
    char path[160], org[160];
    snprintf(path, sizeof path, "/organization/%s/members/%s", w->id, member.id);
    org_path(org, sizeof org, w->id, NULL);

    crash_at(w, "member_remove.after_sessions", "DELETE", path, w->owner.t.access, NULL);
    /* the membership was marked as being removed before the crash: nothing
     * may start from it any more, and recovery finishes the removal */
    restart(w);
    th_expect_status(&w->o, "GET", org, member.t.access, NULL, 403);
    for (int waited = 0; th_db_memberships_of(&w->o, member.id, w->id) > 0 && waited < 10000;
         waited += 100)
        tu_sleep_ms(100);
    assert_int_equal(th_db_memberships_of(&w->o, member.id, w->id), 0);
    expect_recovery_counted(&w->o, "finish_removal", 1);
    th_expect_status(&w->o, "GET", org, member.t.access, NULL, 403);
    th_expect_status(&w->o, "GET", org, scoped.access, NULL, 401);
    th_expect_status(&w->o, "POST", "/admin/login", NULL,
                     json_pack("{s:s, s:s, s:s}", "email", member.email, "password", TU_PASSWORD,
                               "organization_name", w->name),
                     403);
    /* the account (made by the invitation) stays; removing again: no such member */
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", member.email), 1);
    th_expect_status(&w->o, "DELETE", path, w->owner.t.access, NULL, 404);
    th_expect_check_clean(&w->o);
    world_end(w);
}

static void crash_member_remove_after_membership(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    struct th_account member;
    th_member_new(&w->o, w->owner.t.access, w->id, "admin", "member", &member);
    struct th_tokens scoped;
    th_org_login(&w->o, &member, w->name, &scoped);
    char path[160], org[160];
    snprintf(path, sizeof path, "/organization/%s/members/%s", w->id, member.id);
    org_path(org, sizeof org, w->id, NULL);

    crash_at(w, "member_remove.after_membership", "DELETE", path, w->owner.t.access, NULL);
    restart(w);
    /* gone, at once and for good; the account (made by the invitation) stays */
    assert_int_equal(th_db_memberships_of(&w->o, member.id, w->id), 0);
    th_expect_status(&w->o, "GET", org, member.t.access, NULL, 403);
    th_expect_status(&w->o, "GET", org, scoped.access, NULL, 401);
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", member.email), 1);
    json_t *j = th_expect_json(&w->o, "GET", org, w->owner.t.access, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "members")), 1);
    assert_string_equal(th_json_str(j, "owner_id"), w->owner.id);
    json_decref(j);
    th_expect_status(&w->o, "DELETE", path, w->owner.t.access, NULL, 404);
    world_end(w);
}

/* The owner named by owner_id hands over and leaves, and orgd dies right
 * after the membership went: owner_id must still name an owner. */
static void crash_owner_leaving_after_membership(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    struct th_account heir;
    th_member_new(&w->o, w->owner.t.access, w->id, "member", "member", &heir);
    char path[160], org[160];
    snprintf(path, sizeof path, "/organization/%s/members/%s", w->id, heir.id);
    th_expect_status(&w->o, "PATCH", path, w->owner.t.access, json_pack("{s:s}", "role", "owner"),
                     200);
    snprintf(path, sizeof path, "/organization/%s/members/%s", w->id, w->owner.id);
    org_path(org, sizeof org, w->id, NULL);

    crash_at(w, "member_remove.after_membership", "DELETE", path, w->owner.t.access, NULL);
    restart(w);
    assert_int_equal(th_db_memberships_of(&w->o, w->owner.id, w->id), 0);
    tu_sleep_ms(1500); /* a recovery pass or two */
    json_t *j = th_expect_json(&w->o, "GET", org, heir.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "owner");
    if (strcmp(th_json_str(j, "owner_id"), heir.id) != 0)
        fail_msg("owner_id names %s, who left; the only owner is %s", th_json_str(j, "owner_id"),
                 heir.id);
    json_decref(j);
    world_end(w);
}

/* An account made by /org/create goes with its last org, also when it is
 * removed from it: a crash between the membership delete and that release
 * must not leave it behind for `orgd check` to find. */
static void crash_removing_an_org_create_account(void **state)
{
    (void)state;
    struct world *w = world_start(true);
    /* t: an account made by /org/create, then member of w's org only */
    struct th_tenant t;
    th_tenant_new(&w->o, &t, "Made");
    char path[160];
    struct th_invitation inv;
    th_invite(&w->o, w->owner.t.access, w->id, t.email, "member", &inv);
    /* an org-scoped token acts in its own org only: accepting takes the
     * account's own token (POST /auth/signin) */
    th_expect_status(&w->o, "POST", "/invitations/accept", t.token,
                     json_pack("{s:s}", "token", inv.token), 403);
    struct th_tokens account;
    th_signin_ok(&w->o, t.email, TU_PASSWORD, &account);
    th_expect_status(&w->o, "POST", "/invitations/accept", account.access,
                     json_pack("{s:s}", "token", inv.token), 200);
    /* its own org gets another owner, and it leaves it */
    char heir_email[96];
    th_fresh_email("heir", heir_email, sizeof heir_email);
    struct th_invitation heir;
    th_invite(&w->o, t.token, t.id, heir_email, "owner", &heir);
    th_expect_status(&w->o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", heir.token, "password", TU_PASSWORD), 200);
    snprintf(path, sizeof path, "/organization/%s/members/%s", t.id, t.admin_id);
    th_expect_status(&w->o, "DELETE", path, t.token, NULL, 204);
    assert_int_equal(th_db_count_oid(&w->o, "memberships", "admin_id", t.admin_id), 1);
    th_expect_check_clean(&w->o);

    snprintf(path, sizeof path, "/organization/%s/members/%s", w->id, t.admin_id);
    crash_at(w, "member_remove.after_membership", "DELETE", path, w->owner.t.access, NULL);
    restart(w);
    assert_int_equal(th_db_count_oid(&w->o, "memberships", "admin_id", t.admin_id), 0);
    tu_sleep_ms(1500); /* a recovery pass or two */
    world_end(w);
    th_tenant_free(&t);
}

/* ---- POST /organization/ ---- */

static void crash_create(const char *point)
{
    struct world *w = world_start(false);
    char name[64], coll[96], key[96];
    th_unique("Made", name, sizeof name);
    th_collection_of(name, coll, sizeof coll);

    crash_at(w, point, "POST", "/organization/", w->owner.t.access,
             json_pack("{s:s, s:s}", "name", name, "description", "never"));
    assert_int_equal(orgs_not_active(&w->o), 1); /* died mid-create */
    restart(w);
    for (int waited = 0; waited < 20000 && orgs_not_active(&w->o) > 0; waited += 100)
        tu_sleep_ms(100);
    if (orgs_not_active(&w->o) > 0)
        fail_msg("%s: not recovered", point);
    for (int i = 0; i < 50 && !th_orgd_log_contains(&w->o, "\"msg\":\"recovery\""); i++)
        tu_sleep_ms(20);
    assert_true(th_orgd_log_contains(&w->o, "\"msg\":\"recovery\""));
    /* undone: no org, membership or collection; the signed-up owner stays */
    snprintf(key, sizeof key, "%s", coll + 4);
    assert_int_equal(th_db_count_str(&w->o, "organizations", "name_key", key), 0);
    assert_int_equal(th_db_count(&w->o, "organizations", NULL), 0);
    assert_int_equal(th_db_count_oid(&w->o, "memberships", "admin_id", w->owner.id), 0);
    assert_false(th_db_collection_exists(&w->o, coll));
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", w->owner.email), 1);
    th_expect_status(&w->o, "GET", "/auth/check", w->owner.t.access, NULL, 200);
    json_t *j = th_list_all(&w->o, "/organization/", w->owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    th_expect_check_clean(&w->o);
    /* and the name is free */
    j = th_expect_json(&w->o, "POST", "/organization/", w->owner.t.access,
                       json_pack("{s:s}", "name", name), 201);
    assert_string_equal(th_json_str(j, "owner_id"), w->owner.id);
    json_decref(j);
    assert_true(th_db_collection_exists(&w->o, coll));
    world_end(w);
}

static void crash_create_after_metadata(void **s)
{
    (void)s;
    crash_create("create.after_metadata");
}
static void crash_create_after_membership(void **s)
{
    (void)s;
    crash_create("create.after_membership");
}
static void crash_create_after_collection(void **s)
{
    (void)s;
    crash_create("create.after_collection");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(crash_org_update_after_checks, world_teardown),
        cmocka_unit_test_teardown(crash_invite_after_replace, world_teardown),
        cmocka_unit_test_teardown(crash_accept_after_account, world_teardown),
        cmocka_unit_test_teardown(crash_accept_after_membership, world_teardown),
        cmocka_unit_test_teardown(a_half_begun_accept_is_put_back, world_teardown),
        cmocka_unit_test_teardown(long_expired_invitations_are_swept, world_teardown),
        cmocka_unit_test_teardown(crash_member_remove_after_sessions, world_teardown),
        cmocka_unit_test_teardown(crash_member_remove_after_membership, world_teardown),
        cmocka_unit_test_teardown(crash_owner_leaving_after_membership, world_teardown),
        cmocka_unit_test_teardown(crash_removing_an_org_create_account, world_teardown),
        cmocka_unit_test_teardown(crash_create_after_metadata, world_teardown),
        cmocka_unit_test_teardown(crash_create_after_membership, world_teardown),
        cmocka_unit_test_teardown(crash_create_after_collection, world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
