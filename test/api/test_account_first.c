/* Organizations by id (account-first): what each role may do, one account
 * in several organizations, paging while others come and go, removing
 * members and handing over ownership, deleting an organization with its
 * memberships and invitations, and the answers to bad ids and bad input.
 * Invitations themselves are test_invitations.c; crashes are
 * test_account_first_recovery.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd;

/* ---- helpers ---- */

static void org_path(char *out, size_t cap, const char *id, const char *tail)
{
    snprintf(out, cap, "/organization/%s%s", id, tail ? tail : "");
}

static void member_path(char *out, size_t cap, const char *org_id, const char *account_id)
{
    snprintf(out, cap, "/organization/%s/members/%s", org_id, account_id);
}

/* The member entry of `account_id` in an org answer's "members", or NULL. */
static json_t *member_in(json_t *org, const char *account_id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(org, "members"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "id")), account_id) == 0)
            return m;
    }
    return NULL;
}

/* ---- what each role may do ---- */

static void roles_limit_members_and_admins(void **state)
{
    (void)state;
    struct th_account owner, admin, member;
    char id[32], name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Roles", id, name);
    th_member_new(O, owner.t.access, id, "member", "member", &member);
    th_member_new(O, owner.t.access, id, "admin", "admin", &admin);
    org_path(path, sizeof path, id, NULL);

    /* everyone reads the org and sees their own role */
    json_t *j = th_expect_json(O, "GET", path, member.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "member");
    assert_int_equal(json_array_size(json_object_get(j, "members")), 3);
    assert_string_equal(th_json_str(member_in(j, admin.id), "role"), "admin");
    assert_string_equal(th_json_str(member_in(j, owner.id), "role"), "owner");
    assert_string_equal(th_json_str(member_in(j, member.id), "email"), member.email);
    json_decref(j);
    j = th_expect_json(O, "GET", path, admin.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "admin");
    json_decref(j);
    org_path(path, sizeof path, id, "/members");
    char next[256];
    j = th_list_page(O, path, member.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(next, "");
    json_decref(j);
    /* a full last page says it is the last: no empty page after it */
    char paged[200];
    org_path(paged, sizeof paged, id, "/members?limit=3");
    j = th_list_page(O, paged, member.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(next, "");
    json_decref(j);
    org_path(paged, sizeof paged, id, "/members?limit=2");
    j = th_list_page(O, paged, member.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 2);
    /* the next page's address: this path, the limit, and a cursor */
    char want[200];
    snprintf(want, sizeof want, "%s&cursor=", paged);
    assert_int_equal(strncmp(next, want, strlen(want)), 0);
    json_decref(j);
    char more[256];
    snprintf(more, sizeof more, "%s", next);
    j = th_list_page(O, more, member.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(next, "");
    json_decref(j);
    size_t pages = 0;
    j = th_list_all(O, paged, member.t.access, &pages);
    assert_int_equal(json_array_size(j), 3);
    assert_int_equal(pages, 2);
    json_decref(j);

    char *before = th_db_snapshot(O);
    char other[96], renamed[64];
    th_fresh_email("outsider", other, sizeof other);
    th_unique("Stolen", renamed, sizeof renamed);

    /* a member: no invite, rename, description, delete, role change, removal */
    org_path(path, sizeof path, id, "/invite");
    th_expect_status(O, "POST", path, member.t.access, json_pack("{s:s}", "email", other), 403);
    org_path(path, sizeof path, id, "/invitations");
    th_expect_status(O, "GET", path, member.t.access, NULL, 403);
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "PUT", path, member.t.access, json_pack("{s:s}", "name", renamed), 403);
    /* the role is checked before anything is compared: the current name
     * changes nothing, and is refused all the same */
    th_expect_status(O, "PUT", path, member.t.access, json_pack("{s:s}", "name", name), 403);
    th_expect_status(O, "PUT", path, member.t.access, json_pack("{s:s}", "description", "mine now"),
                     403);
    th_expect_status(O, "DELETE", path, member.t.access, NULL, 403);
    member_path(path, sizeof path, id, member.id);
    th_expect_status(O, "PATCH", path, member.t.access, json_pack("{s:s}", "role", "owner"), 403);
    member_path(path, sizeof path, id, admin.id);
    th_expect_status(O, "DELETE", path, member.t.access, NULL, 403);

    /* an admin: no owner granted, no rename, no delete, no removal of an owner */
    org_path(path, sizeof path, id, "/invite");
    th_expect_status(O, "POST", path, admin.t.access,
                     json_pack("{s:s, s:s}", "email", other, "role", "owner"), 403);
    member_path(path, sizeof path, id, member.id);
    th_expect_status(O, "PATCH", path, admin.t.access, json_pack("{s:s}", "role", "owner"), 403);
    member_path(path, sizeof path, id, admin.id);
    th_expect_status(O, "PATCH", path, admin.t.access, json_pack("{s:s}", "role", "owner"), 403);
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "DELETE", path, admin.t.access, NULL, 403);
    th_expect_status(O, "PUT", path, admin.t.access, json_pack("{s:s}", "name", renamed), 403);
    member_path(path, sizeof path, id, owner.id);
    th_expect_status(O, "DELETE", path, admin.t.access, NULL, 403);

    /* none of that changed anything */
    char *after = th_db_snapshot(O);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(th_db_count_oid(O, "invitations", "org_id", id), 2); /* the two accepted */

    /* what an admin may: the description, invitations (as member or admin) */
    org_path(path, sizeof path, id, NULL);
    j = th_expect_json(O, "PUT", path, admin.t.access,
                       json_pack("{s:s}", "description", "by the admin"), 200);
    assert_string_equal(th_json_str(j, "description"), "by the admin");
    assert_string_equal(th_json_str(j, "name"), name);
    assert_string_equal(th_json_str(j, "role"), "admin");
    json_decref(j);
    j = th_expect_json(O, "GET", path, owner.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "description"), "by the admin");
    json_decref(j);
    struct th_invitation inv;
    th_invite(O, admin.t.access, id, other, "member", &inv);
    char other2[96];
    th_fresh_email("outsider", other2, sizeof other2);
    th_invite(O, admin.t.access, id, other2, "admin", &inv);
    org_path(path, sizeof path, id, "/invitations");
    j = th_list_all(O, path, admin.t.access, NULL);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    /* and may remove a plain member */
    member_path(path, sizeof path, id, member.id);
    th_expect_status(O, "DELETE", path, admin.t.access, NULL, 204);
    assert_int_equal(th_db_count_oid(O, "memberships", "org_id", id), 2);
}

/* ---- one account, several organizations ---- */

/* An organization of a GET /organization/ list by id: its role, or NULL. */
static const char *role_in_list(json_t *list, const char *id)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        if (strcmp(th_json_str(o, "id"), id) == 0)
            return th_json_str(o, "role");
    }
    return NULL;
}

static void one_account_in_several_orgs(void **state)
{
    (void)state;
    struct th_account x, y;
    char a[32], a_name[64], b[32], b_name[64], c[32], c_name[64], path[160];
    th_account_new(O, "multi", &x);
    th_org_new(O, x.t.access, "MultiA", a, a_name);
    th_org_new(O, x.t.access, "MultiB", b, b_name);
    /* and an admin of a third, someone else's */
    th_account_new(O, "other", &y);
    th_org_new(O, y.t.access, "MultiC", c, c_name);
    struct th_invitation inv;
    th_invite(O, y.t.access, c, x.email, "admin", &inv);
    json_t *j = th_expect_json(O, "POST", "/invitations/accept", x.t.access,
                               json_pack("{s:s}", "token", inv.token), 200);
    assert_true(json_is_false(json_object_get(j, "account_created")));
    assert_string_equal(th_json_str(j, "account_id"), x.id);
    json_decref(j);

    char next[256];
    j = th_list_page(O, "/organization/", x.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(role_in_list(j, a), "owner");
    assert_string_equal(role_in_list(j, b), "owner");
    assert_string_equal(role_in_list(j, c), "admin");
    assert_string_equal(next, "");
    json_decref(j);
    /* exactly a page: the last, and it says so */
    j = th_list_page(O, "/organization/?limit=3", x.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(next, "");
    json_decref(j);
    j = th_list_page(O, "/organization/?limit=2", x.t.access, next, sizeof next);
    assert_int_equal(json_array_size(j), 2);
    assert_true(next[0] != '\0');
    json_decref(j);

    /* a token scoped to A reaches A, and nothing of B or C */
    struct th_tokens scoped;
    th_org_login(O, &x, a_name, &scoped);
    org_path(path, sizeof path, a, NULL);
    th_expect_status(O, "GET", path, scoped.access, NULL, 200);
    char *before = th_db_snapshot(O);
    const char *others[2] = {b, c};
    const char *other_names[2] = {b_name, c_name};
    for (int i = 0; i < 2; i++) {
        org_path(path, sizeof path, others[i], NULL);
        th_expect_status(O, "GET", path, scoped.access, NULL, 403);
        th_expect_status(O, "PUT", path, scoped.access, json_pack("{s:s}", "description", "from A"),
                         403);
        th_expect_status(O, "DELETE", path, scoped.access, NULL, 403);
        org_path(path, sizeof path, others[i], "/members");
        th_expect_status(O, "GET", path, scoped.access, NULL, 403);
        org_path(path, sizeof path, others[i], "/invitations");
        th_expect_status(O, "GET", path, scoped.access, NULL, 403);
        org_path(path, sizeof path, others[i], "/invite");
        th_expect_status(O, "POST", path, scoped.access,
                         json_pack("{s:s}", "email", "someone@example.com"), 403);
        snprintf(path, sizeof path, "/org/%s", other_names[i]);
        th_expect_status(O, "GET", path, scoped.access, NULL, 403);
    }
    char *after = th_db_snapshot(O);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* and its list holds A alone */
    j = th_list_all(O, "/organization/", scoped.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(role_in_list(j, a), "owner");
    json_decref(j);
    /* while the account token still reaches all three */
    org_path(path, sizeof path, b, NULL);
    th_expect_status(O, "GET", path, x.t.access, NULL, 200);
    org_path(path, sizeof path, c, NULL);
    th_expect_status(O, "GET", path, x.t.access, NULL, 200);
}

/* ---- paging while organizations come and go ---- */

#define PAGED_ORGS 45

struct churn {
    char token[2048];
    atomic_bool stop;
    atomic_int cycles;
    int failures;
    char why[512];
};

/* Creates and deletes organizations of the same account until told to stop;
 * records (never asserts: this is not cmocka's thread) what went wrong. */
static void *churn_main(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop) && c->failures == 0) {
        char name[64], body[128], path[128];
        th_unique("Churn", name, sizeof name);
        snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
        struct th_resp r;
        bool answered = th_http_json(O, "POST", "/organization/", c->token, body, &r);
        const char *id = answered ? json_string_value(json_object_get(r.json, "id")) : NULL;
        if (!answered || r.status != 201 || id == NULL) {
            snprintf(c->why, sizeof c->why, "create answered %ld: %.300s", r.status,
                     r.body ? r.body : "");
            c->failures++;
        } else {
            snprintf(path, sizeof path, "/organization/%s", id);
            long status = th_status_of(O, "DELETE", path, c->token, NULL);
            if (status != 204) {
                snprintf(c->why, sizeof c->why, "delete answered %ld", status);
                c->failures++;
            }
        }
        th_resp_free(&r);
        atomic_fetch_add(&c->cycles, 1);
    }
    return NULL;
}

/* Pages through GET /organization/?limit=20 by its Link headers; each of
 * ids[0..n) must come exactly once, in 3 pages, the last without a Link. */
static void page_through(const char *token, char ids[][32], size_t n)
{
    int seen[PAGED_ORGS] = {0};
    char path[256] = "/organization/?limit=20", next[256];
    int pages = 0;
    for (; path[0] != '\0'; pages++) {
        if (pages > 10)
            fail_msg("paging does not end");
        json_t *list = th_list_page(O, path, token, next, sizeof next);
        assert_true(json_array_size(list) <= 20);
        size_t i;
        json_t *o;
        json_array_foreach(list, i, o)
        {
            for (size_t k = 0; k < n; k++)
                if (strcmp(th_json_str(o, "id"), ids[k]) == 0)
                    seen[k]++;
        }
        json_decref(list);
        snprintf(path, sizeof path, "%s", next);
    }
    for (size_t k = 0; k < n; k++)
        if (seen[k] != 1)
            fail_msg("organization %zu of %zu came %d times", k, n, seen[k]);
    assert_int_equal(pages, 3);
}

/* The other client: static, and stopped by the teardown even when an
 * assertion jumped out of the test, so that it never runs on into the
 * next test. */
static struct churn churn;
static pthread_t churn_thread;
static bool churn_running;

static int churn_teardown(void **state)
{
    (void)state;
    if (churn_running) {
        atomic_store(&churn.stop, true);
        pthread_join(churn_thread, NULL);
        churn_running = false;
    }
    return 0;
}

static void paging_sees_each_org_once_while_others_change(void **state)
{
    (void)state;
    struct th_account x;
    th_account_new(O, "pager", &x);
    static char ids[PAGED_ORGS][32];
    char name[64];
    for (int i = 0; i < PAGED_ORGS; i++)
        th_org_new(O, x.t.access, "Page", ids[i], name);

    struct churn *c = &churn;
    memset(c, 0, sizeof *c);
    snprintf(c->token, sizeof c->token, "%s", x.t.access);
    assert_int_equal(pthread_create(&churn_thread, NULL, churn_main, c), 0);
    churn_running = true;
    for (int i = 0; i < 200 && atomic_load(&c->cycles) == 0; i++)
        tu_sleep_ms(10);
    /* page until the other client has made and removed a few meanwhile */
    int from = atomic_load(&c->cycles), rounds = 0;
    while (rounds < 3 || (atomic_load(&c->cycles) - from < 5 && rounds < 200)) {
        page_through(x.t.access, ids, PAGED_ORGS);
        rounds++;
    }
    atomic_store(&c->stop, true);
    pthread_join(churn_thread, NULL);
    churn_running = false;
    if (c->failures > 0)
        fail_msg("the other client failed: %s", c->why);
    assert_true(atomic_load(&c->cycles) > 0);

    /* bad paging parameters are 422 */
    const char *bad[] = {"/organization/?limit=0", "/organization/?limit=101",
                         "/organization/?limit=x", "/organization/?cursor=zz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        th_expect_status(O, "GET", bad[i], x.t.access, NULL, 422);
}

/* ---- removing members, the last owner, handing over ---- */

/* Sessions of account_id scoped to org_id that are still active, in the database. */
static int64_t active_sessions_in(const char *account_id, const char *org_id)
{
    bson_oid_t a, g;
    bson_oid_init_from_string(&a, account_id);
    bson_oid_init_from_string(&g, org_id);
    bson_t *f =
        BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&g), "status", BCON_UTF8("active"));
    int64_t n = th_db_count(O, "sessions", f);
    bson_destroy(f);
    return n;
}

static void a_removed_member_is_refused_at_once(void **state)
{
    (void)state;
    struct th_account owner, member;
    char id[32], name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Remove", id, name);
    th_member_new(O, owner.t.access, id, "member", "gone", &member);
    struct th_tokens scoped;
    th_org_login(O, &member, name, &scoped);
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "GET", path, member.t.access, NULL, 200);
    th_expect_status(O, "GET", path, scoped.access, NULL, 200);
    assert_int_equal(active_sessions_in(member.id, id), 1);

    char *before = th_metrics_scrape(O);
    member_path(path, sizeof path, id, member.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);
    /* its session in the org was ended then, not merely refused later */
    assert_int_equal(active_sessions_in(member.id, id), 0);
    char *after = th_metrics_scrape(O);
    const char *ended = "orgd_sessions_ended_total{reason=\"member_removed\"}";
    th_expect_counter_moved(before, after, ended, 1);
    free(before);
    free(after);
    /* the account token loses the org; the org-scoped session is over */
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "GET", path, member.t.access, NULL, 403);
    th_expect_status(O, "GET", path, scoped.access, NULL, 401);
    th_expect_status(O, "GET", "/auth/check", scoped.access, NULL, 401);
    struct th_tokens scratch;
    assert_int_equal(th_refresh(O, scoped.refresh, &scratch), 401);
    /* the account itself remains, and signs in */
    th_expect_status(O, "GET", "/auth/check", member.t.access, NULL, 200);
    assert_int_equal(th_db_count_str(O, "admins", "email", member.email), 1);
    assert_int_equal(th_db_count_oid(O, "memberships", "admin_id", member.id), 0);
    /* it is no member any more: removing it again is 404 */
    member_path(path, sizeof path, id, member.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 404);
    th_expect_status(O, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "admin"), 404);
}

static void the_last_owner_stays_until_ownership_is_handed_over(void **state)
{
    (void)state;
    struct th_account owner, heir;
    char id[32], name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Heir", id, name);
    th_member_new(O, owner.t.access, id, "member", "heir", &heir);

    /* alone as owner: cannot leave, be demoted */
    member_path(path, sizeof path, id, owner.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 409);
    th_expect_status(O, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "admin"), 409);
    th_expect_status(O, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "member"), 409);
    org_path(path, sizeof path, id, NULL);
    json_t *j = th_expect_json(O, "GET", path, owner.t.access, NULL, 200);
    assert_string_equal(th_json_str(member_in(j, owner.id), "role"), "owner");
    assert_string_equal(th_json_str(j, "owner_id"), owner.id);
    json_decref(j);

    /* hand over, then leave */
    member_path(path, sizeof path, id, heir.id);
    j = th_expect_json(O, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "owner"), 200);
    assert_string_equal(th_json_str(j, "role"), "owner");
    assert_string_equal(th_json_str(j, "id"), heir.id);
    json_decref(j);
    member_path(path, sizeof path, id, owner.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);

    org_path(path, sizeof path, id, NULL);
    j = th_expect_json(O, "GET", path, heir.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "owner");
    assert_int_equal(json_array_size(json_object_get(j, "members")), 1);
    assert_string_equal(th_json_str(member_in(j, heir.id), "role"), "owner");
    assert_null(member_in(j, owner.id));
    assert_string_equal(th_json_str(j, "owner_id"), heir.id); /* it names an owner, the only one */
    json_decref(j);
    th_expect_status(O, "GET", path, owner.t.access, NULL, 403);
    /* the one who left keeps the account (signed up, not made by /org/create) */
    assert_int_equal(th_db_count_str(O, "admins", "email", owner.email), 1);
    /* and the new owner is now the last one */
    member_path(path, sizeof path, id, heir.id);
    th_expect_status(O, "DELETE", path, heir.t.access, NULL, 409);
    th_expect_status(O, "PATCH", path, heir.t.access, json_pack("{s:s}", "role", "admin"), 409);
}

/* ---- deleting ---- */

static void deleting_removes_memberships_and_invitations(void **state)
{
    (void)state;
    struct th_account owner, member;
    char id[32], name[64], path[160], pending[96], coll[96];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Doomed", id, name);
    th_member_new(O, owner.t.access, id, "admin", "member", &member);
    th_fresh_email("pending", pending, sizeof pending);
    struct th_invitation inv;
    th_invite(O, owner.t.access, id, pending, "member", &inv);
    struct th_tokens scoped;
    th_org_login(O, &member, name, &scoped);
    th_collection_of(name, coll, sizeof coll);
    assert_true(th_db_insert_docs(O, coll, 3, "doomed"));
    assert_int_equal(th_db_count_oid(O, "memberships", "org_id", id), 2);
    assert_int_equal(th_db_count_oid(O, "invitations", "org_id", id), 2);

    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);
    assert_int_equal(th_db_count_oid(O, "organizations", "_id", id), 0);
    assert_int_equal(th_db_count_oid(O, "memberships", "org_id", id), 0);
    assert_int_equal(th_db_count_oid(O, "invitations", "org_id", id), 0);
    assert_false(th_db_collection_exists(O, coll));
    /* the accounts remain: one signed up, one made by an invitation */
    assert_int_equal(th_db_count_str(O, "admins", "email", owner.email), 1);
    assert_int_equal(th_db_count_str(O, "admins", "email", member.email), 1);
    th_expect_status(O, "GET", "/auth/check", owner.t.access, NULL, 200);
    th_expect_status(O, "GET", "/auth/check", member.t.access, NULL, 200);
    /* the org is gone for everyone; its org-scoped session with it */
    th_expect_status(O, "GET", path, owner.t.access, NULL, 404);
    th_expect_status(O, "GET", path, member.t.access, NULL, 404);
    th_expect_status(O, "GET", "/auth/check", scoped.access, NULL, 401);
    th_expect_status(O, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD), 404);
    json_t *j = th_list_all(O, "/organization/", owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    /* and its name is free again: a slug without a suffix */
    j = th_expect_json(O, "POST", "/organization/", owner.t.access,
                       json_pack("{s:s}", "name", name), 201);
    assert_string_equal(th_json_str(j, "slug"), name);
    json_decref(j);
}

/* ---- bad ids and bad input ---- */

static void unknown_and_malformed_ids_are_404(void **state)
{
    (void)state;
    struct th_account x;
    char id[32], name[64], path[160];
    th_account_new(O, "ids", &x);
    th_org_new(O, x.t.access, "Ids", id, name);
    const char *bad[] = {"0123456789abcdef01234567", "ffffffffffffffffffffffff", "not-an-id",
                         "0123456789ABCDEF0123456Z", "123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        org_path(path, sizeof path, bad[i], NULL);
        th_expect_status(O, "GET", path, x.t.access, NULL, 404);
        th_expect_status(O, "PUT", path, x.t.access, json_pack("{s:s}", "description", "x"), 404);
        th_expect_status(O, "DELETE", path, x.t.access, NULL, 404);
        org_path(path, sizeof path, bad[i], "/members");
        th_expect_status(O, "GET", path, x.t.access, NULL, 404);
        org_path(path, sizeof path, bad[i], "/invite");
        th_expect_status(O, "POST", path, x.t.access, json_pack("{s:s}", "email", "a@example.com"),
                         404);
        /* an unknown member of a real org */
        member_path(path, sizeof path, id, bad[i]);
        th_expect_status(O, "PATCH", path, x.t.access, json_pack("{s:s}", "role", "admin"), 404);
        th_expect_status(O, "DELETE", path, x.t.access, NULL, 404);
    }
    /* and without a token it is 401 before anything */
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "GET", path, NULL, NULL, 401);
}

static void create_needs_an_account_token_and_a_free_name(void **state)
{
    (void)state;
    struct th_account x, y;
    char id[32], name[64], path[160], fresh[64];
    th_account_new(O, "creator", &x);
    th_org_new(O, x.t.access, "Taken", id, name);
    struct th_tokens scoped;
    th_org_login(O, &x, name, &scoped);
    th_unique("Fresh", fresh, sizeof fresh);
    char *before = th_db_snapshot(O);
    th_expect_status(O, "POST", "/organization/", scoped.access, json_pack("{s:s}", "name", fresh),
                     403);
    /* a slug taken, in any case, by anyone: 409 naming it */
    th_account_new(O, "rival", &y);
    char upper[64];
    snprintf(upper, sizeof upper, "%s", name);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    json_t *j = th_expect_json(O, "POST", "/organization/", y.t.access,
                               json_pack("{s:s, s:s}", "name", fresh, "slug", name), 409);
    assert_string_equal(th_json_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "slug");
    json_decref(j);
    th_expect_status(O, "POST", "/organization/", y.t.access,
                     json_pack("{s:s, s:s}", "name", fresh, "slug", upper), 409);
    th_expect_status(O, "POST", "/organization/", x.t.access,
                     json_pack("{s:s, s:s}", "name", name, "slug", name), 409);
    /* and a rename onto it */
    char other_id[32], other_name[64];
    free(before);
    th_org_new(O, y.t.access, "Other", other_id, other_name);
    before = th_db_snapshot(O);
    org_path(path, sizeof path, other_id, NULL);
    th_expect_status(O, "PUT", path, y.t.access, json_pack("{s:s}", "slug", upper), 409);
    /* bad names, slugs and bodies */
    th_expect_status(O, "POST", "/organization/", y.t.access,
                     json_pack("{s:s, s:s}", "name", "a b", "slug", "a b"), 422);
    th_expect_status(O, "POST", "/organization/", y.t.access, json_pack("{s:s}", "name", "a\x01b"),
                     422);
    th_expect_status(O, "POST", "/organization/", y.t.access,
                     json_pack("{s:s}", "description", "x"), 422);
    th_expect_status(O, "POST", "/organization/", NULL, json_pack("{s:s}", "name", fresh), 401);
    char *after = th_db_snapshot(O);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* the account token of the same account may */
    char body[128], location[128], want[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", fresh);
    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/organization/", x.t.access, body, &r));
    assert_int_equal(r.status, 201);
    snprintf(want, sizeof want, "/organization/%s", th_json_str(r.json, "id"));
    assert_true(th_resp_header(&r, "Location", location, sizeof location));
    assert_string_equal(location, want);
    assert_string_equal(th_json_str(r.json, "owner_id"), x.id);
    assert_string_equal(th_json_str(member_in(r.json, x.id), "role"), "owner");
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 1);
    th_resp_free(&r);
    th_expect_status(O, "GET", want, x.t.access, NULL, 200);
    /* a taken name as display text is no conflict: the slug takes a suffix */
    char suffixed[80];
    snprintf(suffixed, sizeof suffixed, "%s-2", name);
    j = th_expect_json(O, "POST", "/organization/", y.t.access, json_pack("{s:s}", "name", name),
                       201);
    assert_string_equal(th_json_str(j, "name"), name);
    assert_string_equal(th_json_str(j, "slug"), suffixed);
    json_decref(j);
}

/* A string of n copies of the UTF-8 character c. */
static char *repeat(const char *c, size_t n)
{
    size_t len = strlen(c);
    char *s = malloc(len * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, c, len);
    s[len * n] = '\0';
    return s;
}

static void descriptions_and_empty_updates(void **state)
{
    (void)state;
    struct th_account x;
    char id[32], name[64], path[160], fresh[64];
    th_account_new(O, "desc", &x);
    th_org_new(O, x.t.access, "Desc", id, name);
    org_path(path, sizeof path, id, NULL);
    char *at_limit = repeat("\xc3\xa9", 1000); /* 1000 characters, 2000 bytes */
    char *ascii_over = repeat("d", 1001), *utf8_over = repeat("\xc3\xa9", 1001);
    json_t *j = th_expect_json(O, "PUT", path, x.t.access,
                               json_pack("{s:s}", "description", at_limit), 200);
    assert_string_equal(th_json_str(j, "description"), at_limit);
    json_decref(j);
    char *before = th_db_snapshot(O);
    j = th_expect_json(O, "PUT", path, x.t.access, json_pack("{s:s}", "description", ascii_over),
                       422);
    assert_string_equal(th_json_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "description");
    json_decref(j);
    th_expect_status(O, "PUT", path, x.t.access, json_pack("{s:s}", "description", utf8_over), 422);
    th_expect_status(O, "PUT", path, x.t.access, json_pack("{}"), 422);
    th_expect_status(O, "PUT", path, x.t.access, NULL, 422);
    /* a bad description stops the rename that comes with it */
    th_unique("Fresh", fresh, sizeof fresh);
    th_expect_status(O, "PUT", path, x.t.access,
                     json_pack("{s:s, s:s}", "name", fresh, "description", ascii_over), 422);
    th_unique("Fresh", fresh, sizeof fresh);
    th_expect_status(O, "POST", "/organization/", x.t.access,
                     json_pack("{s:s, s:s}", "name", fresh, "description", ascii_over), 422);
    char *after = th_db_snapshot(O);
    assert_string_equal(before, after);
    free(before);
    free(after);
    j = th_expect_json(O, "GET", path, x.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "description"), at_limit);
    json_decref(j);
    /* created with one */
    j = th_expect_json(O, "POST", "/organization/", x.t.access,
                       json_pack("{s:s, s:s}", "name", fresh, "description", "from the start"),
                       201);
    assert_string_equal(th_json_str(j, "description"), "from the start");
    json_decref(j);
    free(at_limit);
    free(ascii_over);
    free(utf8_over);
}

static void rename_moves_the_collection_with_its_documents(void **state)
{
    (void)state;
    struct th_account x;
    char id[32], name[64], path[160], fresh[64], coll[96], new_coll[96];
    th_account_new(O, "rename", &x);
    th_org_new(O, x.t.access, "Before", id, name);
    th_collection_of(name, coll, sizeof coll);
    assert_true(th_db_insert_docs(O, coll, 12, "kept"));
    th_unique("After", fresh, sizeof fresh);
    th_collection_of(fresh, new_coll, sizeof new_coll);
    org_path(path, sizeof path, id, NULL);
    json_t *j =
        th_expect_json(O, "PUT", path, x.t.access,
                       json_pack("{s:s, s:s}", "name", fresh, "description", "renamed"), 200);
    assert_string_equal(th_json_str(j, "name"), fresh);
    assert_string_equal(th_json_str(j, "collection_name"), new_coll);
    assert_string_equal(th_json_str(j, "description"), "renamed");
    assert_string_equal(th_json_str(j, "id"), id);
    json_decref(j);
    assert_false(th_db_collection_exists(O, coll));
    assert_true(th_db_collection_exists(O, new_coll));
    assert_int_equal(th_db_count(O, new_coll, NULL), 12);
    /* the old name is free, the new one answers on the org-first route too */
    snprintf(path, sizeof path, "/org/%s", fresh);
    struct th_tokens scoped;
    th_org_login(O, &x, fresh, &scoped);
    th_expect_status(O, "GET", path, scoped.access, NULL, 200);
    th_expect_status(O, "POST", "/organization/", x.t.access, json_pack("{s:s}", "name", name),
                     201);
}

/* Found by review: an id spelt in capitals is the same id. Removing a
 * member named so ends their sessions here at once (the session cache is
 * keyed by the stored, lower-case id), and a limit past int is a 422, not
 * a wrapped-around valid one. */
static void ids_in_capitals_and_huge_limits(void **state)
{
    (void)state;
    struct th_account owner, member;
    char id[32], name[64], path[160], upper[32];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Caps", id, name);
    th_member_new(O, owner.t.access, id, "member", "caps", &member);
    struct th_tokens scoped;
    th_org_login(O, &member, name, &scoped);
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "GET", path, scoped.access, NULL, 200); /* remembered by the cache */
    snprintf(upper, sizeof upper, "%s", member.id);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    member_path(path, sizeof path, id, upper);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);
    org_path(path, sizeof path, id, NULL);
    th_expect_status(O, "GET", path, scoped.access, NULL, 401);
    const char *limits[] = {"4294967297", "4294967396", "1000", "0100x"};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        snprintf(path, sizeof path, "/organization/?limit=%s", limits[i]);
        th_expect_status(O, "GET", path, owner.t.access, NULL, 422);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_limit_members_and_admins),
        cmocka_unit_test(one_account_in_several_orgs),
        cmocka_unit_test_teardown(paging_sees_each_org_once_while_others_change, churn_teardown),
        cmocka_unit_test(a_removed_member_is_refused_at_once),
        cmocka_unit_test(the_last_owner_stays_until_ownership_is_handed_over),
        cmocka_unit_test(deleting_removes_memberships_and_invitations),
        cmocka_unit_test(unknown_and_malformed_ids_are_404),
        cmocka_unit_test(create_needs_an_account_token_and_a_free_name),
        cmocka_unit_test(descriptions_and_empty_updates),
        cmocka_unit_test(rename_moves_the_collection_with_its_documents),
        cmocka_unit_test(ids_in_capitals_and_huge_limits),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
