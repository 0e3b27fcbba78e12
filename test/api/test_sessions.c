/* Sessions over HTTP, checked in the database too: sign-in and refresh
 * with rotation, reuse detection, the refresh token in the query, tokens
 * whose session is gone, logout that bites at once on every instance, the
 * session list and its lifetime setting, and org-scoped sessions through
 * renames and deletions. Accounts and sign-up are test_accounts.c;
 * concurrent refreshes and what races them test_session_races.c; the
 * password and e-mail changes that end sessions test_credentials.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "forge.h"
#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd;

/* REFRESH_TOKEN_SECONDS by default: 14 days */
#define SESSION_SECONDS 1209600

/* ---- helpers ---- */

/* An instance that saw a session live takes it as live for SESSION_CACHE_MS
 * (default 1000) without asking the database again: a session ended
 * elsewhere (another instance, or by hand in the database) is refused here
 * within that window. Polls for the refusal, and fails if it comes later
 * than the window plus a request's time. */
#define SESSION_CACHE_DEFAULT_MS 1000

static void expect_refused_within_the_cache_window(const char *access)
{
    int64_t start = tu_now_ms();
    for (;;) {
        struct th_resp r;
        assert_true(th_http_json(O, "GET", "/auth/check", access, NULL, &r));
        long status = r.status;
        th_resp_free(&r);
        if (status == 401)
            break;
        if (status != 200 || tu_now_ms() - start > SESSION_CACHE_DEFAULT_MS + 500)
            fail_msg("an ended session's token still answers %ld after %lld ms", status,
                     (long long)(tu_now_ms() - start));
        tu_sleep_ms(50);
    }
    th_expect_refused(O, access);
}

/* A session's lifetime: the end from the sign-in, give or take the
 * moments between orgd's two readings of its clock. */
static void expect_lifetime(int64_t created_ms, int64_t expires_ms, int64_t seconds)
{
    int64_t off = expires_ms - created_ms - seconds * 1000;
    if (off < -1000 || off > 1000)
        fail_msg("the session lasts %lld ms, expected %lld s", (long long)(expires_ms - created_ms),
                 (long long)seconds);
}

/* Every session GET /auth/sessions lists for `access`, all pages. Caller
 * decrefs. */
static json_t *sessions_of(const char *access)
{
    return th_list_all(O, "/auth/sessions", access, NULL);
}

/* ---- sign-in, refresh, reuse ---- */

static void signin_and_refresh_rotate_the_tokens(void **state)
{
    (void)state;
    char email[96], sid[32];
    th_signup_fresh(O, "Rot", email, sizeof email);
    char *body = th_json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/auth/signin", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 200);
    /* the account shape: no org, no role, no `token` */
    assert_int_equal(json_object_size(r.json), 4);
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "bearer");
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 3600);
    struct th_tokens first;
    snprintf(first.access, sizeof first.access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    snprintf(first.refresh, sizeof first.refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    th_resp_free(&r);

    th_session_of(O, first.access, sid, sizeof sid);
    th_expect_refresh_of(first.refresh, sid);
    json_t *claims = th_jwt_claims(first.access);
    assert_string_equal(json_string_value(json_object_get(claims, "sid")), sid);
    assert_null(json_object_get(claims, "org"));
    assert_null(json_object_get(claims, "role"));
    json_decref(claims);

    /* /auth/check of an account session */
    assert_true(th_http_json(O, "GET", "/auth/check", first.access, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "organization")));
    assert_true(json_is_null(json_object_get(r.json, "role")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "admin"), "email")), email);
    json_t *session = json_object_get(r.json, "session");
    assert_string_equal(json_string_value(json_object_get(session, "id")), sid);
    assert_string_equal(json_string_value(json_object_get(session, "scope")), "account");
    th_resp_free(&r);

    /* refresh: the same shape, new tokens, the same session */
    body = th_json_text(json_pack("{s:s}", "refresh_token", first.refresh));
    assert_true(th_http_json(O, "POST", "/auth/refresh_token", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_object_size(r.json), 4);
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "bearer");
    assert_null(json_object_get(r.json, "token"));
    assert_null(json_object_get(r.json, "organization_name"));
    struct th_tokens second;
    snprintf(second.access, sizeof second.access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    snprintf(second.refresh, sizeof second.refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    th_resp_free(&r);
    assert_string_not_equal(second.refresh, first.refresh);
    assert_string_not_equal(second.access, first.access);
    th_expect_refresh_of(second.refresh, sid);
    char sid2[32];
    th_session_of(O, second.access, sid2, sizeof sid2);
    assert_string_equal(sid2, sid);
    /* rotation spends only the refresh token: the first access token is
     * still the session's until the session ends */
    th_expect_alive(O, first.access);

    /* the refresh token is stored only as its digest */
    assert_int_equal(th_db_count_str(O, "sessions", "refresh_hash", second.refresh), 0);
}

static void a_reused_refresh_token_ends_the_session(void **state)
{
    (void)state;
    char email[96], other_sid[32];
    th_signup_fresh(O, "Reuse", email, sizeof email);
    struct th_tokens t1, t2, t3, other;
    th_signin_ok(O, email, TU_PASSWORD, &t1);
    th_signin_ok(O, email, TU_PASSWORD, &other);
    th_session_of(O, other.access, other_sid, sizeof other_sid);
    assert_int_equal(th_refresh(O, t1.refresh, &t2), 200);
    assert_int_equal(th_refresh(O, t2.refresh, &t3), 200);
    th_expect_alive(O, t3.access);

    /* t1's refresh token, spent two rotations ago, comes back: a thief or a
     * confused client holds it, so the whole session ends */
    struct th_resp r;
    char *body = th_json_text(json_pack("{s:s}", "refresh_token", t1.refresh));
    assert_true(th_http_json(O, "POST", "/auth/refresh_token", NULL, body, &r));
    free(body);
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    th_expect_refused(O, t3.access);
    th_expect_refused(O, t2.access);
    th_expect_refused(O, t1.access);
    assert_int_equal(th_refresh_status(O, t3.refresh), 401);
    assert_int_equal(th_refresh_status(O, t2.refresh), 401);
    /* the account's other session goes on */
    th_expect_alive(O, other.access);
    struct th_tokens next;
    assert_int_equal(th_refresh(O, other.refresh, &next), 200);
    th_expect_alive(O, next.access);
}

static void the_refresh_token_may_come_in_the_query(void **state)
{
    (void)state;
    char email[96], path[256];
    th_signup_fresh(O, "Query", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(O, email, TU_PASSWORD, &t);

    /* in the query alone */
    snprintf(path, sizeof path, "/auth/refresh_token?refresh_token=%s", t.refresh);
    struct th_resp r;
    assert_true(th_http(O, "POST", path, NULL, NULL, NULL, 0, NULL, &r));
    if (r.status != 200)
        fail_msg("refresh by query answered %ld: %s", r.status, r.body);
    struct th_tokens q;
    snprintf(q.access, sizeof q.access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    snprintf(q.refresh, sizeof q.refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    th_resp_free(&r);
    th_expect_alive(O, q.access);

    /* in both, equal: fine */
    snprintf(path, sizeof path, "/auth/refresh_token?refresh_token=%s", q.refresh);
    char *body = th_json_text(json_pack("{s:s}", "refresh_token", q.refresh));
    assert_true(th_http_json(O, "POST", path, NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 200);
    struct th_tokens b;
    snprintf(b.refresh, sizeof b.refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    snprintf(b.access, sizeof b.access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);

    /* in both, different: 422, and nothing spent */
    char other_email[96];
    th_signup_fresh(O, "QueryOther", other_email, sizeof other_email);
    struct th_tokens o2;
    th_signin_ok(O, other_email, TU_PASSWORD, &o2);
    snprintf(path, sizeof path, "/auth/refresh_token?refresh_token=%s", o2.refresh);
    body = th_json_text(json_pack("{s:s}", "refresh_token", b.refresh));
    th_expect_problem(O, "POST", path, NULL, body, 422, "refresh_token");
    free(body);
    th_expect_alive(O, b.access);
    th_expect_alive(O, o2.access);

    /* missing */
    th_expect_problem(O, "POST", "/auth/refresh_token", NULL, "{}", 422, "refresh_token");
    th_expect_problem(O, "POST", "/auth/refresh_token", NULL, NULL, 422, "refresh_token");
    /* not a refresh token, or a well-made one nobody issued */
    th_expect_problem(O, "POST", "/auth/refresh_token", NULL, "{\"refresh_token\":\"nonsense\"}",
                      401, NULL);
    char forged[64];
    memcpy(forged, b.refresh, 59);
    forged[59] = '\0';
    forged[40] = forged[40] == 'A' ? 'B' : 'A'; /* the session's id, a wrong secret */
    body = th_json_text(json_pack("{s:s}", "refresh_token", forged));
    th_expect_problem(O, "POST", "/auth/refresh_token", NULL, body, 401, NULL);
    free(body);
    body = th_json_text(
        json_pack("{s:s}", "refresh_token",
                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* 59 */
    th_expect_problem(O, "POST", "/auth/refresh_token", NULL, body, 401, NULL);
    free(body);
    th_expect_alive(O, b.access);
    assert_int_equal(th_refresh_status(O, b.refresh), 200);
}

/* ---- tokens without a session ---- */

static void a_token_without_a_live_session_is_refused(void **state)
{
    (void)state;
    char email[96], sid[32];
    th_signup_fresh(O, "Sid", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(O, email, TU_PASSWORD, &t);
    th_session_of(O, t.access, sid, sizeof sid);
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t klen = strlen(O->secret);
    /* forged from the real token's own claims, so that only the session
     * differs between the accepted one and the refused ones */
    json_t *claims = th_jwt_claims(t.access);
    char *text = json_dumps(claims, JSON_COMPACT);
    char *good = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    th_expect_alive(O, good);       /* the forger is right */
    json_object_del(claims, "sid"); /* a well-signed token of the old kind */
    text = json_dumps(claims, JSON_COMPACT);
    char *no_sid = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    th_expect_refused(O, no_sid);
    /* a session nobody started */
    json_object_set_new(claims, "sid", json_string("0123456789abcdef01234567"));
    text = json_dumps(claims, JSON_COMPACT);
    char *unknown = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    json_decref(claims);
    th_expect_refused(O, unknown);

    /* the session expires (as REFRESH_TOKEN_SECONDS would end it): every
     * token of it is dead at once, although the JWT itself is not */
    mongoc_client_t *c = th_db_client(O);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, O->db, "sessions");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, sid);
    bson_t *filter =
        BCON_NEW("$or", "[", "{", "_id", BCON_OID(&oid), "}", "{", "_id", BCON_UTF8(sid), "}", "]");
    int64_t past = (int64_t)time(NULL) * 1000 - 5000;
    bson_t *update = BCON_NEW("$set", "{", "expires_at", BCON_DATE_TIME(past), "}");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, &e);
    bson_iter_t it;
    int64_t matched =
        ok && bson_iter_init_find(&it, &reply, "matchedCount") ? bson_iter_as_int64(&it) : 0;
    bson_destroy(&reply);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!ok || matched != 1)
        fail_msg("could not expire session %s: %s", sid, ok ? "no match" : e.message);
    /* changed behind this instance's back: refused within its cache window */
    expect_refused_within_the_cache_window(t.access);
    th_expect_refused(O, good);
    assert_int_equal(th_refresh_status(O, t.refresh), 401);
    free(good);
    free(no_sid);
    free(unknown);
}

/* ---- logout ---- */

static void logout_ends_the_session_on_every_instance(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Logout", email, sizeof email);
    struct th_tokens t, other;
    th_signin_ok(O, email, TU_PASSWORD, &t);
    th_signin_ok(O, email, TU_PASSWORD, &other);

    /* a second orgd on the same database, which has seen the token work;
     * without a session cache it asks the database on every request, so it
     * refuses at once (with the default cache it would within
     * SESSION_CACHE_MS: below, this instance shows that) */
    struct th_orgd *second = &th_own_orgd;
    th_orgd_init(second, NULL);
    snprintf(second->db, sizeof second->db, "%s", O->db);
    memcpy(second->secret, O->secret, sizeof second->secret);
    const char *no_cache[] = {"SESSION_CACHE_MS=0", NULL};
    assert_true(th_orgd_start(second, no_cache));
    assert_int_equal(th_status_of(second, "GET", "/auth/check", t.access, NULL), 200);

    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/auth/logout", t.access, NULL, &r));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);

    /* the very next requests, here and there */
    th_expect_refused(O, t.access);
    assert_true(th_http_json(second, "GET", "/auth/check", t.access, NULL, &r));
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    struct th_tokens scratch;
    assert_int_equal(th_refresh(second, t.refresh, &scratch), 401);
    assert_int_equal(th_refresh_status(O, t.refresh), 401);
    assert_int_equal(th_status_of(O, "POST", "/auth/logout", t.access, NULL), 401);
    /* the account's other session goes on, there too */
    th_expect_alive(O, other.access);
    assert_int_equal(th_status_of(second, "GET", "/auth/check", other.access, NULL), 200);
    /* and logging out there is seen here, within this instance's cache window */
    assert_int_equal(th_status_of(second, "POST", "/auth/logout", other.access, NULL), 204);
    expect_refused_within_the_cache_window(other.access);
    assert_int_equal(th_orgd_stop(second), 0);

    /* without a token: 401 with WWW-Authenticate */
    assert_true(th_http_json(O, "POST", "/auth/logout", NULL, NULL, &r));
    assert_true(th_is_problem(&r, 401));
    char www[128];
    assert_true(th_resp_header(&r, "WWW-Authenticate", www, sizeof www));
    th_resp_free(&r);
}

/* ---- the session list ---- */

static void sessions_are_listed_and_ended_one_by_one(void **state)
{
    (void)state;
    char email[96], id1[32], id2[32], id3[32];
    th_signup_fresh(O, "List", email, sizeof email);
    struct th_tokens s1, s2, s3;
    th_signin_ok(O, email, TU_PASSWORD, &s1);
    th_signin_ok(O, email, TU_PASSWORD, &s2);
    th_signin_ok(O, email, TU_PASSWORD, &s3);
    th_session_of(O, s1.access, id1, sizeof id1);
    th_session_of(O, s2.access, id2, sizeof id2);
    th_session_of(O, s3.access, id3, sizeof id3);

    json_t *list = sessions_of(s1.access);
    assert_int_equal(json_array_size(list), 3);
    const char *order[] = {id3, id2, id1}; /* the newest sign-in first */
    int64_t expires1 = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(list, i);
        assert_int_equal(json_object_size(s), 8);
        assert_string_equal(json_string_value(json_object_get(s, "id")), order[i]);
        assert_string_equal(json_string_value(json_object_get(s, "scope")), "account");
        assert_true(json_is_null(json_object_get(s, "organization_id")));
        assert_string_equal(json_string_value(json_object_get(s, "client_address")), "127.0.0.1");
        int64_t created = th_epoch_ms(json_string_value(json_object_get(s, "created_at")));
        int64_t used = th_epoch_ms(json_string_value(json_object_get(s, "last_used_at")));
        int64_t expires = th_epoch_ms(json_string_value(json_object_get(s, "expires_at")));
        assert_true(used >= created);
        expect_lifetime(created, expires, SESSION_SECONDS);
        assert_true(json_is_boolean(json_object_get(s, "current")));
        assert_int_equal(json_is_true(json_object_get(s, "current")), i == 2);
        if (i == 2)
            expires1 = expires;
    }
    json_decref(list);

    /* a page at a time, as every list: the newest sign-in first */
    size_t pages = 0;
    list = th_list_all(O, "/auth/sessions?limit=2", s1.access, &pages);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(pages, 2);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "id")),
                            order[i]);
    json_decref(list);

    /* a refresh marks s1 used, keeps its place (by sign-in) and its end */
    struct th_tokens s1b;
    assert_int_equal(th_refresh(O, s1.refresh, &s1b), 200);
    list = sessions_of(s3.access);
    assert_int_equal(json_array_size(list), 3);
    json_t *first = json_array_get(list, 2);
    assert_string_equal(json_string_value(json_object_get(first, "id")), id1);
    assert_int_equal(th_epoch_ms(json_string_value(json_object_get(first, "expires_at"))),
                     expires1);
    assert_true(th_epoch_ms(json_string_value(json_object_get(first, "last_used_at"))) >
                th_epoch_ms(json_string_value(json_object_get(first, "created_at"))));
    assert_true(json_is_false(json_object_get(first, "current")));
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "current")));
    json_decref(list);

    /* end s2 from s1 */
    char path[128];
    snprintf(path, sizeof path, "/auth/sessions/%s", id2);
    struct th_resp r;
    assert_true(th_http_json(O, "DELETE", path, s1b.access, NULL, &r));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    th_expect_refused(O, s2.access);
    assert_int_equal(th_refresh_status(O, s2.refresh), 401);
    list = sessions_of(s1b.access);
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_not_equal(json_string_value(json_object_get(json_array_get(list, i), "id")),
                                id2);
    json_decref(list);

    /* an ended one, someone else's, an unknown one, not an id: 404 */
    char other_email[96], other_id[32];
    th_signup_fresh(O, "ListOther", other_email, sizeof other_email);
    struct th_tokens other;
    th_signin_ok(O, other_email, TU_PASSWORD, &other);
    th_session_of(O, other.access, other_id, sizeof other_id);
    const char *not_mine[] = {id2, other_id, "0123456789abcdef01234567", "not-a-session",
                              "0123456789ABCDEF0123456Z"};
    for (size_t i = 0; i < sizeof not_mine / sizeof not_mine[0]; i++) {
        snprintf(path, sizeof path, "/auth/sessions/%s", not_mine[i]);
        th_expect_problem(O, "DELETE", path, s1b.access, NULL, 404, NULL);
    }
    th_expect_alive(O, other.access);
    list = sessions_of(other.access);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);

    /* one's own current session too */
    snprintf(path, sizeof path, "/auth/sessions/%s", id1);
    assert_int_equal(th_status_of(O, "DELETE", path, s1b.access, NULL), 204);
    th_expect_refused(O, s1b.access);
    assert_int_equal(th_refresh_status(O, s1b.refresh), 401);
    th_expect_alive(O, s3.access);
    /* without a token */
    snprintf(path, sizeof path, "/auth/sessions/%s", id3);
    assert_int_equal(th_status_of(O, "DELETE", path, NULL, NULL), 401);
    assert_int_equal(th_status_of(O, "GET", "/auth/sessions", NULL, NULL), 401);
    th_expect_alive(O, s3.access);
}

static void the_session_lifetime_is_a_setting(void **state)
{
    (void)state;
    const char *env[] = {"REFRESH_TOKEN_SECONDS=60", NULL};
    struct th_orgd *own = th_own_orgd_start(NULL, env);
    char email[96];
    th_fresh_email("Lifetime", email, sizeof email);
    assert_int_equal(th_signup(own, email, TU_PASSWORD), 201);
    struct th_tokens t, next;
    assert_int_equal(th_signin(own, email, TU_PASSWORD, &t), 200);
    assert_int_equal(th_refresh(own, t.refresh, &next), 200);
    json_t *list = th_list_all(own, "/auth/sessions", next.access, NULL);
    json_t *s = json_array_get(list, 0);
    int64_t created = th_epoch_ms(json_string_value(json_object_get(s, "created_at")));
    int64_t expires = th_epoch_ms(json_string_value(json_object_get(s, "expires_at")));
    expect_lifetime(created, expires, 60); /* from the sign-in, not the refresh */
    json_decref(list);
    assert_int_equal(th_orgd_stop(own), 0);
}

static void org_and_account_sessions_are_listed_together(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "ListOrg");
    struct th_tokens account;
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    json_t *list = sessions_of(account.access);
    /* th_tenant_new's /admin/login, then the sign-in */
    assert_int_equal(json_array_size(list), 2);
    json_t *mine = json_array_get(list, 0), *org = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(mine, "scope")), "account");
    assert_true(json_is_null(json_object_get(mine, "organization_id")));
    assert_true(json_is_true(json_object_get(mine, "current")));
    assert_string_equal(json_string_value(json_object_get(org, "scope")), "organization");
    assert_string_equal(json_string_value(json_object_get(org, "organization_id")), t.id);
    assert_true(json_is_false(json_object_get(org, "current")));
    json_decref(list);
    th_tenant_free(&t);
}

/* ---- org-scoped sessions ---- */

static void org_sessions_refresh_as_logins_and_survive_a_rename(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "OrgRefresh");
    struct th_tokens login;
    th_admin_login_ok(O, t.email, TU_PASSWORD, &login);
    char new_name[64], body[256], path[256];
    th_unique("OrgRefreshNew", new_name, sizeof new_name);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", new_name);
    assert_int_equal(th_status_of(O, "PUT", "/org/update", t.token, body), 200);

    /* both sessions live on under the new name */
    struct th_resp r;
    assert_true(th_http_json(O, "GET", "/auth/check", login.access, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "organization"),
                                                          "organization_name")),
                        new_name);
    th_resp_free(&r);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", login.refresh);
    assert_true(th_http_json(O, "POST", "/auth/refresh_token", NULL, body, &r));
    if (r.status != 200)
        fail_msg("refresh after a rename answered %ld: %s", r.status, r.body);
    const char *access = json_string_value(json_object_get(r.json, "access_token"));
    assert_non_null(access);
    assert_string_equal(json_string_value(json_object_get(r.json, "token")), access);
    assert_non_null(json_string_value(json_object_get(r.json, "refresh_token")));
    assert_string_equal(json_string_value(json_object_get(r.json, "organization_name")), new_name);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "owner");
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "bearer");
    snprintf(path, sizeof path, "/org/%s", new_name);
    assert_int_equal(th_status_of(O, "GET", path, access, NULL), 200);
    th_resp_free(&r);
    th_tenant_free(&t);
}

static void deleting_the_org_ends_its_sessions(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "OrgGone");
    struct th_tokens first, second, account;
    th_admin_login_ok(O, t.email, TU_PASSWORD, &first);
    th_admin_login_ok(O, t.email, TU_PASSWORD, &second);
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    assert_int_equal(th_db_active_sessions_of(O, t.admin_id), 4);
    char path[256];
    snprintf(path, sizeof path, "/org/delete/%s", t.name);
    assert_int_equal(th_status_of(O, "DELETE", path, first.access, NULL), 204);
    assert_int_equal(th_refresh_status(O, first.refresh), 401);
    assert_int_equal(th_refresh_status(O, second.refresh), 401);
    th_expect_refused(O, second.access);
    /* the account came with the org and went with it, and its sessions */
    assert_int_equal(th_refresh_status(O, account.refresh), 401);
    th_expect_refused(O, account.access);
    assert_int_equal(th_db_active_sessions_of(O, t.admin_id), 0);
    th_tenant_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signin_and_refresh_rotate_the_tokens),
        cmocka_unit_test(a_reused_refresh_token_ends_the_session),
        cmocka_unit_test(the_refresh_token_may_come_in_the_query),
        cmocka_unit_test(a_token_without_a_live_session_is_refused),
        cmocka_unit_test_teardown(logout_ends_the_session_on_every_instance, th_own_orgd_stop),
        cmocka_unit_test(sessions_are_listed_and_ended_one_by_one),
        cmocka_unit_test_teardown(the_session_lifetime_is_a_setting, th_own_orgd_stop),
        cmocka_unit_test(org_and_account_sessions_are_listed_together),
        cmocka_unit_test(org_sessions_refresh_as_logins_and_survive_a_rename),
        cmocka_unit_test(deleting_the_org_ends_its_sessions),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
