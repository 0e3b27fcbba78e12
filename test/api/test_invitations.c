/* Invitations over HTTP, checked in the database too: the answer and the
 * lists, every way a token stops working (used, expired, revoked,
 * replaced, tampered, unknown), who may accept and how, concurrent
 * accepts of one token, the metrics, the lifetime setting, and no token in
 * clear in the database. */
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

static struct th_orgd *const O = &th_shared_orgd;

#define WEEK_MS (7LL * 24 * 3600 * 1000) /* INVITATION_TTL_SECONDS by default */

/* ---- helpers ---- */

/* POST /invitations/accept {token} with a bearer, or {token, password}
 * without one; the status must be `want`. */
static json_t *accept_as(const char *bearer, const char *inv_token, long want)
{
    json_t *body = bearer ? json_pack("{s:s}", "token", inv_token)
                          : json_pack("{s:s, s:s}", "token", inv_token, "password", TU_PASSWORD);
    return th_expect_json(O, "POST", "/invitations/accept", bearer, body, want);
}

/* A 410 with the problem type of a gone invitation. */
static void expect_gone(const char *bearer, const char *inv_token)
{
    json_t *j = accept_as(bearer, inv_token, 410);
    assert_string_equal(th_json_str(j, "type"), "urn:orgd:problem:gone");
    json_decref(j);
}

/* True if `id` is the id of an invitation of the list. */
static bool listed(json_t *answer, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(answer, i, v)
    {
        if (strcmp(th_json_str(v, "id"), id) == 0)
            return true;
    }
    return false;
}

/* ---- the invitation and the lists ---- */

static void invitations_are_answered_and_listed(void **state)
{
    (void)state;
    struct th_account owner, invitee, admin, member;
    char id[32], name[64], other_id[32], other_name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "invitee", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    th_org_new(O, owner.t.access, "Inv", other_id, other_name);

    /* the e-mail in any case is the account's */
    char shouting[96];
    snprintf(shouting, sizeof shouting, "%s", invitee.email);
    for (char *p = shouting; *p && *p != '@'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    struct th_invitation a, b;
    int64_t before_ms = (int64_t)time(NULL) * 1000 - 2000;
    json_t *j = th_invite_answer(O, owner.t.access, id, shouting, NULL, &a);
    assert_string_equal(th_json_str(j, "email"), invitee.email);
    assert_string_equal(th_json_str(j, "role"), "member"); /* the default */
    assert_string_equal(th_json_str(j, "status"), "pending");
    assert_string_equal(th_json_str(j, "organization_id"), id);
    assert_string_equal(th_json_str(j, "organization_name"), name);
    assert_string_equal(th_json_str(j, "invited_by"), owner.id);
    assert_int_equal(strlen(a.id), 24);
    assert_int_equal(strlen(a.token), 43); /* 32 random bytes, base64url */
    int64_t created = th_epoch_ms(th_json_str(j, "created_at"));
    assert_true(created >= before_ms);
    assert_true(th_epoch_ms(th_json_str(j, "expires_at")) - created == WEEK_MS);
    json_decref(j);
    th_invite(O, owner.t.access, other_id, invitee.email, "admin", &b);

    /* the invitee sees both, without tokens */
    j = th_list_all(O, "/invitations", invitee.t.access, NULL);
    assert_int_equal(json_array_size(j), 2);
    assert_true(listed(j, a.id) && listed(j, b.id));
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        assert_null(json_object_get(v, "token"));
        assert_string_equal(th_json_str(v, "organization_name"),
                            strcmp(th_json_str(v, "id"), a.id) == 0 ? name : other_name);
    }
    json_decref(j);
    /* someone else sees none of them */
    j = th_list_all(O, "/invitations", owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);

    /* the org's list: pending ones, for its owner and admins */
    th_account_new(O, "admin", &admin);
    th_account_new(O, "member", &member);
    struct th_invitation ia, im;
    th_invite(O, owner.t.access, id, admin.email, "admin", &ia);
    th_invite(O, owner.t.access, id, member.email, "member", &im);
    json_decref(accept_as(admin.t.access, ia.token, 200));
    json_decref(accept_as(member.t.access, im.token, 200));
    snprintf(path, sizeof path, "/organization/%s/invitations", id);
    j = th_list_all(O, path, owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_true(listed(j, a.id));
    assert_null(json_object_get(json_array_get(j, 0), "token"));
    json_decref(j);
    j = th_list_all(O, path, admin.t.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    th_expect_status(O, "GET", path, member.t.access, NULL, 403);
    th_expect_status(O, "GET", path, invitee.t.access, NULL, 403); /* not a member yet */

    /* accepting one leaves the other listed */
    j = accept_as(invitee.t.access, a.token, 200);
    assert_string_equal(th_json_str(j, "organization_id"), id);
    assert_string_equal(th_json_str(j, "organization_name"), name);
    assert_string_equal(th_json_str(j, "account_id"), invitee.id);
    assert_string_equal(th_json_str(j, "email"), invitee.email);
    assert_string_equal(th_json_str(j, "role"), "member");
    assert_true(json_is_false(json_object_get(j, "account_created")));
    json_decref(j);
    j = th_list_all(O, "/invitations", invitee.t.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_true(listed(j, b.id));
    json_decref(j);
    j = th_list_all(O, path, owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    char status[32];
    th_db_invitation_status(O, a.id, status, sizeof status);
    assert_string_equal(status, "accepted");
    assert_int_equal(th_db_memberships_of(O, invitee.id, id), 1);
    /* the role the invitation named */
    snprintf(path, sizeof path, "/organization/%s", id);
    j = th_expect_json(O, "GET", path, admin.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "role"), "admin");
    json_decref(j);
}

/* ---- every way a token stops working ---- */

static void a_used_token_is_gone(void **state)
{
    (void)state;
    struct th_account owner;
    char id[32], name[64], email[96];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Inv", id, name);
    th_fresh_email("new", email, sizeof email);
    struct th_invitation v;
    th_invite(O, owner.t.access, id, email, NULL, &v);
    json_t *j = accept_as(NULL, v.token, 200);
    assert_true(json_is_true(json_object_get(j, "account_created")));
    assert_true(json_is_null(json_object_get(j, "username")));
    char account[32];
    snprintf(account, sizeof account, "%s", th_json_str(j, "account_id"));
    json_decref(j);
    /* the account it made signs in; the token is spent either way */
    struct th_account made = {0};
    snprintf(made.email, sizeof made.email, "%s", email);
    assert_int_equal(th_signin(O, email, TU_PASSWORD, &made.t), 200);
    expect_gone(made.t.access, v.token);
    j = th_expect_json(
        O, "POST", "/invitations/accept", NULL,
        json_pack("{s:s, s:s}", "token", v.token, "password", "another password here"), 410);
    json_decref(j);
    assert_int_equal(th_db_memberships_of(O, account, id), 1);
    assert_int_equal(th_db_count_str(O, "admins", "email", email), 1);
}

static void an_expired_token_is_gone(void **state)
{
    (void)state;
    struct th_account owner, invitee;
    char id[32], name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "late", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    struct th_invitation v;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &v);

    /* its time passes, in the database */
    mongoc_client_t *c = th_db_client(O);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, O->db, "invitations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, v.id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    int64_t past = (int64_t)time(NULL) * 1000 - 1000;
    bson_t *u = BCON_NEW("$set", "{", "expires_at", BCON_DATE_TIME(past), "}");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, f, u, NULL, &reply, &e);
    bson_iter_t it;
    assert_true(ok && bson_iter_init_find(&it, &reply, "modifiedCount") &&
                bson_iter_as_int64(&it) == 1);
    bson_destroy(&reply);
    bson_destroy(f);
    bson_destroy(u);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);

    expect_gone(invitee.t.access, v.token);
    expect_gone(NULL, v.token);
    assert_int_equal(th_db_memberships_of(O, invitee.id, id), 0);
    /* and no list shows it */
    json_t *j = th_list_all(O, "/invitations", invitee.t.access, NULL);
    assert_false(listed(j, v.id));
    json_decref(j);
    snprintf(path, sizeof path, "/organization/%s/invitations", id);
    j = th_list_all(O, path, owner.t.access, NULL);
    assert_false(listed(j, v.id));
    json_decref(j);
    /* a new invitation works */
    struct th_invitation again;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &again);
    json_decref(accept_as(invitee.t.access, again.token, 200));
}

static void a_revoked_token_is_gone(void **state)
{
    (void)state;
    struct th_account owner, invitee;
    char id[32], name[64], other[32], other_name[64], path[200];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "revoked", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    th_org_new(O, owner.t.access, "Inv", other, other_name);
    struct th_invitation v;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &v);
    /* not through another org's path */
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", other, v.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 404);
    /* not by the invitee, who is no member */
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", id, v.id);
    th_expect_status(O, "DELETE", path, invitee.t.access, NULL, 403);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 404); /* no longer pending */
    char status[32];
    th_db_invitation_status(O, v.id, status, sizeof status);
    assert_string_equal(status, "revoked");
    expect_gone(invitee.t.access, v.token);
    assert_int_equal(th_db_memberships_of(O, invitee.id, id), 0);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", id, "0123456789abcdef01234567");
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 404);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", id, "not-an-id");
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 404);
}

static void a_replaced_token_is_gone(void **state)
{
    (void)state;
    struct th_account owner, invitee;
    char id[32], name[64], path[160];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "twice", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    struct th_invitation first, second;
    th_invite(O, owner.t.access, id, invitee.email, "admin", &first);
    th_invite(O, owner.t.access, id, invitee.email, "member", &second);
    assert_string_not_equal(first.token, second.token);
    /* one pending invitation per e-mail: the newer */
    snprintf(path, sizeof path, "/organization/%s/invitations", id);
    json_t *j = th_list_all(O, path, owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 1);
    assert_true(listed(j, second.id));
    json_decref(j);
    expect_gone(invitee.t.access, first.token);
    j = accept_as(invitee.t.access, second.token, 200);
    assert_string_equal(th_json_str(j, "role"), "member"); /* the newer's role, not the older's */
    json_decref(j);
    assert_int_equal(th_db_memberships_of(O, invitee.id, id), 1);
}

static void tampered_and_unknown_tokens_are_404(void **state)
{
    (void)state;
    struct th_account owner, invitee;
    char id[32], name[64];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "tamper", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    struct th_invitation v;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &v);
    char tampered[128];
    const size_t positions[] = {0, 21, 42};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        snprintf(tampered, sizeof tampered, "%s", v.token);
        tampered[positions[i]] = (char)(tampered[positions[i]] == 'A' ? 'B' : 'A');
        json_decref(accept_as(invitee.t.access, tampered, 404));
        json_decref(accept_as(NULL, tampered, 404));
    }
    json_decref(accept_as(invitee.t.access, "this-token-was-never-issued-by-orgd-at-all", 404));
    json_decref(accept_as(invitee.t.access, "x", 404));
    /* a prefix or an extension of a real token is no token either */
    snprintf(tampered, sizeof tampered, "%.42s", v.token);
    json_decref(accept_as(invitee.t.access, tampered, 404));
    snprintf(tampered, sizeof tampered, "%sA", v.token);
    json_decref(accept_as(invitee.t.access, tampered, 404));
    assert_int_equal(th_db_memberships_of(O, invitee.id, id), 0);
    /* the real one still works */
    json_decref(accept_as(invitee.t.access, v.token, 200));
}

/* ---- who may accept, and how ---- */

static void accepting_needs_the_right_account(void **state)
{
    (void)state;
    struct th_account owner, invitee, stranger;
    char id[32], name[64], path[160], email[96];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "invitee", &invitee);
    th_account_new(O, "stranger", &stranger);
    th_org_new(O, owner.t.access, "Inv", id, name);
    struct th_invitation v;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &v);
    char *before = th_db_snapshot(O);

    /* another e-mail's bearer */
    json_decref(accept_as(stranger.t.access, v.token, 403));
    /* no bearer, no password */
    json_t *j = th_expect_json(O, "POST", "/invitations/accept", NULL,
                               json_pack("{s:s}", "token", v.token), 422);
    assert_string_equal(th_json_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "password");
    json_decref(j);
    /* no bearer, for an e-mail that has an account */
    json_decref(accept_as(NULL, v.token, 409));
    /* a bearer and a password */
    th_expect_status(O, "POST", "/invitations/accept", invitee.t.access,
                     json_pack("{s:s, s:s}", "token", v.token, "password", TU_PASSWORD), 422);
    /* no token */
    th_expect_status(O, "POST", "/invitations/accept", invitee.t.access, json_pack("{}"), 422);
    th_expect_status(O, "POST", "/invitations/accept", invitee.t.access,
                     json_pack("{s:s}", "token", ""), 422);
    /* a bearer that is no token */
    th_expect_status(O, "POST", "/invitations/accept", "not.a.token",
                     json_pack("{s:s}", "token", v.token), 401);
    char *after = th_db_snapshot(O);
    assert_string_equal(before, after);
    free(before);
    free(after);
    char status[32];
    th_db_invitation_status(O, v.id, status, sizeof status);
    assert_string_equal(status, "pending");

    /* the right one */
    json_decref(accept_as(invitee.t.access, v.token, 200));
    /* inviting a member is a conflict, in any case */
    char upper[96];
    snprintf(upper, sizeof upper, "%s", invitee.email);
    upper[0] = (char)(upper[0] - 'a' + 'A');
    snprintf(path, sizeof path, "/organization/%s/invite", id);
    j = th_expect_json(O, "POST", path, owner.t.access, json_pack("{s:s}", "email", upper), 409);
    assert_string_equal(th_json_str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "email");
    json_decref(j);
    th_expect_status(O, "POST", path, owner.t.access, json_pack("{s:s}", "email", owner.email),
                     409);
    /* bad invitations */
    th_expect_status(O, "POST", path, owner.t.access, json_pack("{s:s}", "email", "not an e-mail"),
                     422);
    th_fresh_email("role", email, sizeof email);
    th_expect_status(O, "POST", path, owner.t.access,
                     json_pack("{s:s, s:s}", "email", email, "role", "superuser"), 422);
    th_expect_status(O, "POST", path, owner.t.access, json_pack("{}"), 422);
    /* a new account with a username */
    struct th_invitation named;
    th_invite(O, owner.t.access, id, email, "admin", &named);
    j = th_expect_json(O, "POST", "/invitations/accept", NULL,
                       json_pack("{s:s, s:s, s:s}", "token", named.token, "password", TU_PASSWORD,
                                 "username", "Named One"),
                       200);
    assert_string_equal(th_json_str(j, "username"), "Named One");
    assert_string_equal(th_json_str(j, "role"), "admin");
    assert_true(json_is_true(json_object_get(j, "account_created")));
    json_decref(j);
}

/* ---- concurrent accepts ---- */

#define RACERS 8

static void concurrent_accepts_make_one_membership(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        struct th_account owner, invitee;
        char id[32], name[64];
        th_account_new(O, "owner", &owner);
        th_account_new(O, "racer", &invitee);
        th_org_new(O, owner.t.access, "Inv", id, name);
        struct th_invitation v;
        th_invite(O, owner.t.access, id, invitee.email, NULL, &v);
        struct th_call calls[RACERS];
        for (int i = 0; i < RACERS; i++) {
            calls[i] = (struct th_call){.o = O, .method = "POST", .token = invitee.t.access};
            snprintf(calls[i].path, sizeof calls[i].path, "/invitations/accept");
            snprintf(calls[i].body, sizeof calls[i].body, "{\"token\":\"%s\"}", v.token);
        }
        th_race(calls, RACERS);
        int ok = 0;
        for (int i = 0; i < RACERS; i++) {
            if (calls[i].status == 200)
                ok++;
            else if (calls[i].status != 409 && calls[i].status != 410)
                fail_msg("a concurrent accept answered %ld", calls[i].status);
        }
        if (ok != 1)
            fail_msg("%d of %d concurrent accepts answered 200", ok, RACERS);
        assert_int_equal(th_db_memberships_of(O, invitee.id, id), 1);
        char status[32];
        th_db_invitation_status(O, v.id, status, sizeof status);
        assert_string_equal(status, "accepted");
        expect_gone(invitee.t.access, v.token);
    }
}

/* ---- metrics ---- */

static void assert_moved(const char *before, const char *after, const char *outcome, double by)
{
    char series[96];
    snprintf(series, sizeof series, "orgd_invitations_total{outcome=\"%s\"}", outcome);
    th_expect_counter_moved(before, after, series, by);
}

static void metrics_count_invitation_outcomes(void **state)
{
    (void)state;
    struct th_account owner, invitee;
    char id[32], name[64], path[200];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "counted", &invitee);
    th_org_new(O, owner.t.access, "Inv", id, name);
    char *before = th_metrics_scrape(O);
    struct th_invitation a, b, c;
    th_invite(O, owner.t.access, id, invitee.email, NULL, &a);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", id, a.id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);
    expect_gone(invitee.t.access, a.token);                                  /* refused: revoked */
    json_decref(accept_as(invitee.t.access, "no-such-token-anywhere", 404)); /* refused */
    th_invite(O, owner.t.access, id, invitee.email, NULL, &b);
    th_invite(O, owner.t.access, id, invitee.email, NULL, &c); /* replaces b */
    expect_gone(invitee.t.access, b.token);                    /* refused */
    json_decref(accept_as(invitee.t.access, c.token, 200));
    expect_gone(invitee.t.access, c.token); /* refused: used */
    char *after = th_metrics_scrape(O);
    assert_moved(before, after, "created", 3);
    assert_moved(before, after, "revoked", 1);
    assert_moved(before, after, "accepted", 1);
    assert_moved(before, after, "refused", 4);
    free(before);
    free(after);
}

/* ---- the lifetime is a setting ---- */

static void the_lifetime_is_a_setting(void **state)
{
    (void)state;
    const char *env[] = {"INVITATION_TTL_SECONDS=60", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    struct th_account owner;
    char id[32], name[64], email[96];
    th_account_new(o, "owner", &owner);
    th_org_new(o, owner.t.access, "Inv", id, name);
    th_fresh_email("short", email, sizeof email);
    struct th_invitation v;
    json_t *j = th_invite_answer(o, owner.t.access, id, email, NULL, &v);
    assert_true(th_epoch_ms(th_json_str(j, "expires_at")) -
                    th_epoch_ms(th_json_str(j, "created_at")) ==
                60000);
    json_decref(j);
    th_expect_check_clean(o);
    assert_int_equal(th_orgd_stop(o), 0);

    /* out of range: orgd refuses to start, naming the setting */
    const char *bad[] = {"INVITATION_TTL_SECONDS=59", "INVITATION_TTL_SECONDS=31536001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct th_orgd b;
        th_orgd_init(&b, NULL);
        const char *one[] = {bad[i], NULL};
        int code = th_orgd_run_to_exit(&b, one, 20000);
        if (code == 0 || code == -1)
            fail_msg("%s: orgd exited %d", bad[i], code);
        assert_true(th_orgd_log_contains(&b, "INVITATION_TTL_SECONDS"));
    }
}

/* ---- after everything above ---- */

/* Hex of the bytes a base64url text encodes (how a driver could show a
 * token stored as binary). */
static void b64url_hex(const char *s, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    out[0] = '\0';
    for (; *s && w + 3 < cap; s++) {
        const char *p = strchr(alphabet, *s);
        if (p == NULL)
            return;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            w += (size_t)snprintf(out + w, cap - w, "%02x", (acc >> bits) & 0xff);
        }
    }
}

static void no_invitation_token_in_the_database(void **state)
{
    (void)state;
    /* fresh ones, pending, accepted and revoked */
    struct th_account owner, one;
    char id[32], name[64], email[96], path[200];
    th_account_new(O, "owner", &owner);
    th_account_new(O, "one", &one);
    th_org_new(O, owner.t.access, "Inv", id, name);
    struct th_invitation v[3];
    th_invite(O, owner.t.access, id, one.email, NULL, &v[0]);
    json_decref(accept_as(one.t.access, v[0].token, 200));
    th_fresh_email("pending", email, sizeof email);
    th_invite(O, owner.t.access, id, email, NULL, &v[1]);
    th_fresh_email("revoked", email, sizeof email);
    th_invite(O, owner.t.access, id, email, NULL, &v[2]);
    snprintf(path, sizeof path, "/organization/%s/invitations/%s", id, v[2].id);
    th_expect_status(O, "DELETE", path, owner.t.access, NULL, 204);

    mongoc_client_t *c = th_db_client(O);
    mongoc_database_t *db = mongoc_client_get_database(c, O->db);
    bson_error_t e;
    char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &e);
    assert_non_null(names);
    size_t docs = 0;
    for (size_t i = 0; names[i]; i++) {
        mongoc_collection_t *coll = mongoc_database_get_collection(db, names[i]);
        bson_t all = BSON_INITIALIZER;
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &all, NULL, NULL);
        const bson_t *doc;
        while (mongoc_cursor_next(cur, &doc)) {
            char *text = bson_as_relaxed_extended_json(doc, NULL);
            docs++;
            for (int k = 0; k < 3; k++) {
                char hex[128];
                b64url_hex(v[k].token, hex, sizeof hex);
                if (strstr(text, v[k].token) != NULL || strstr(text, hex) != NULL)
                    fail_msg("an invitation token in clear in %s: %s", names[i], text);
            }
            bson_free(text);
        }
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(coll);
    }
    bson_strfreev(names);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    assert_true(docs > 0);
    assert_int_equal(th_db_count_oid(O, "invitations", "org_id", id), 3);
    /* and every token and password the tests saw, in any encoding */
    th_db_expect_no_secret(O);
}

/* Found by review: an org-scoped token (from /admin/login) acts in its own
 * org only, so it may neither list the invitations to its account nor
 * accept one into another org; the account's own token may. */
static void an_org_token_stays_in_its_org(void **state)
{
    (void)state;
    struct th_account owner;
    char org_id[32], org_name[64];
    th_account_new(O, "owner", &owner);
    th_org_new(O, owner.t.access, "Inv", org_id, org_name);
    struct th_tenant t; /* an account made by /org/create, with an org token */
    th_tenant_new(O, &t, "Scoped");
    struct th_invitation v;
    th_invite(O, owner.t.access, org_id, t.email, "member", &v);
    th_expect_status(O, "GET", "/invitations", t.token, NULL, 403);
    json_decref(accept_as(t.token, v.token, 403));
    struct th_tokens account;
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    th_expect_status(O, "GET", "/invitations", account.access, NULL, 200);
    json_decref(accept_as(account.access, v.token, 200));
    th_tenant_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invitations_are_answered_and_listed),
        cmocka_unit_test(a_used_token_is_gone),
        cmocka_unit_test(an_expired_token_is_gone),
        cmocka_unit_test(a_revoked_token_is_gone),
        cmocka_unit_test(a_replaced_token_is_gone),
        cmocka_unit_test(tampered_and_unknown_tokens_are_404),
        cmocka_unit_test(accepting_needs_the_right_account),
        cmocka_unit_test(concurrent_accepts_make_one_membership),
        cmocka_unit_test(metrics_count_invitation_outcomes),
        cmocka_unit_test_teardown(the_lifetime_is_a_setting, th_own_orgd_stop),
        cmocka_unit_test(an_org_token_stays_in_its_org),
        cmocka_unit_test(no_invitation_token_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
