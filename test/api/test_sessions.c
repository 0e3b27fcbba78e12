/* Accounts and sessions over HTTP, checked in the database too: sign-up,
 * sign-in, refresh with rotation and reuse detection, logout and session
 * revocation that bite at once on every instance, password and e-mail
 * changes that end the other sessions, the session list, org-scoped
 * sessions through renames and deletions, the metrics, and no token or
 * password in clear in the database afterwards. Throttling is
 * test_throttle.c (the shared orgd here has no limits, see harness_orgd.h). */
#include <pthread.h>
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

#define NEW_PASSWORD "a brand new password"
/* REFRESH_TOKEN_SECONDS by default: 14 days */
#define SESSION_SECONDS 1209600

/* An orgd a test starts besides the shared one; the teardown stops it if
 * the test failed before it could (a failed assertion leaves the test at
 * once, and the process would outlive the run). */
static struct th_orgd extra;

static int stop_extra(void **state)
{
    (void)state;
    if (extra.pid > 0)
        th_orgd_stop(&extra);
    return 0;
}

/* ---- helpers ---- */

static void login_ok(const char *email, const char *password, struct th_tokens *t)
{
    long status = th_signin_at(O, "/admin/login", email, password, t);
    if (status != 200)
        fail_msg("/admin/login of %s answered %ld", email, status);
}

static long refresh_status(const char *refresh)
{
    struct th_tokens scratch;
    return th_refresh(O, refresh, &scratch);
}

static void expect_alive(const char *access)
{
    struct th_resp r;
    assert_true(th_http_json(O, "GET", "/auth/check", access, NULL, &r));
    if (r.status != 200)
        fail_msg("a live session's token answered %ld: %s", r.status, r.body);
    th_resp_free(&r);
}

/* The token is refused as a token: 401 with WWW-Authenticate: Bearer. */
static void expect_refused(const char *access)
{
    struct th_resp r;
    assert_true(th_http_json(O, "GET", "/auth/check", access, NULL, &r));
    if (!th_is_problem(&r, 401))
        fail_msg("an ended session's token still answers %ld", r.status);
    char www[256];
    assert_true(th_resp_header(&r, "WWW-Authenticate", www, sizeof www));
    assert_int_equal(strncmp(www, "Bearer", 6), 0);
    th_resp_free(&r);
}

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
    expect_refused(access);
}

/* The session id GET /auth/check names for a token (24 hex). */
static void session_of(const char *access, char *out, size_t cap)
{
    struct th_resp r;
    assert_true(th_http_json(O, "GET", "/auth/check", access, NULL, &r));
    assert_int_equal(r.status, 200);
    const char *id = json_string_value(json_object_get(json_object_get(r.json, "session"), "id"));
    if (id == NULL || strlen(id) != 24)
        fail_msg("/auth/check names no session: %s", r.body);
    snprintf(out, cap, "%s", id);
    th_resp_free(&r);
}

/* True if the problem r names `field` among its errors. */
static bool names_field(const struct th_resp *r, const char *field)
{
    json_t *errors = json_object_get(r->json, "errors");
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f != NULL && strcmp(f, field) == 0)
            return true;
    }
    return false;
}

/* A request expected to be a problem of `status` naming `field` (NULL: no
 * field to check). */
static void expect_problem(const char *method, const char *path, const char *token,
                           const char *body, long status, const char *field)
{
    struct th_resp r;
    assert_true(th_http_json(O, method, path, token, body, &r));
    if (!th_is_problem(&r, status))
        fail_msg("%s %s %s: expected %ld", method, path, body ? body : "", status);
    if (field != NULL && !names_field(&r, field))
        fail_msg("%s %s %s: the %ld does not name %s: %s", method, path, body ? body : "", status,
                 field, r.body);
    th_resp_free(&r);
}

static char *json_text(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static bool is_b64url(const char *s)
{
    for (; *s; s++) {
        bool ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || *s == '-' || *s == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* base64url (no padding) of len characters into out; returns the bytes. */
static size_t b64url_bytes(const char *s, size_t len, unsigned char *out, size_t cap)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        const char *at = strchr(abc, s[i]);
        assert_non_null(at);
        acc = (acc << 6) | (uint32_t)(at - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    return n;
}

/* The refresh token's shape (59 base64url characters) and the session it
 * names: its first 12 bytes are the session id. */
static void expect_refresh_of(const char *refresh, const char *session_id)
{
    if (strlen(refresh) != 59 || !is_b64url(refresh))
        fail_msg("not a 59-character base64url refresh token: %s", refresh);
    unsigned char sid[12];
    assert_int_equal(b64url_bytes(refresh, 16, sid, sizeof sid), 12);
    char hex[25];
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", sid[i]);
    assert_string_equal(hex, session_id);
}

/* Milliseconds since the epoch of an RFC 3339 UTC time as orgd writes them
 * (2026-11-22T08:02:48.258Z), checking that form. */
static int64_t epoch_of(const char *text)
{
    assert_non_null(text);
    assert_int_equal(strlen(text), 24);
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        fail_msg("not an RFC 3339 time: %s", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
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

/* GET /auth/sessions with `access`; fails unless 200 with a sessions
 * array. Caller decrefs. */
static json_t *sessions_of(const char *access)
{
    struct th_resp r;
    assert_true(th_http_json(O, "GET", "/auth/sessions", access, NULL, &r));
    if (r.status != 200)
        fail_msg("GET /auth/sessions answered %ld: %s", r.status, r.body);
    json_t *list = json_incref(json_object_get(r.json, "sessions"));
    if (!json_is_array(list))
        fail_msg("no sessions array: %s", r.body);
    th_resp_free(&r);
    return list;
}

/* Active sessions of one account in the database (admin_id as an ObjectId
 * or as its hex). */
static int64_t active_sessions_of(const char *admin_id)
{
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, admin_id);
    bson_t *f = BCON_NEW("status", BCON_UTF8("active"), "$or", "[", "{", "admin_id", BCON_OID(&oid),
                         "}", "{", "admin_id", BCON_UTF8(admin_id), "}", "]");
    int64_t n = th_db_count(O, "sessions", f);
    bson_destroy(f);
    return n;
}

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

/* ---- sign-up ---- */

static void signup_answers_the_account(void **state)
{
    (void)state;
    char name[64], email[96], lower_email[96];
    th_unique("SignUp", name, sizeof name);
    snprintf(email, sizeof email, "%s@Example.COM", name);
    snprintf(lower_email, sizeof lower_email, "%s", email);
    th_lower(lower_email);
    char *body = json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    struct th_resp r;
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    if (r.status != 201)
        fail_msg("sign-up answered %ld: %s", r.status, r.body);
    assert_int_equal(json_object_size(r.json), 4);
    const char *id = json_string_value(json_object_get(r.json, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 24);
    assert_true(json_is_null(json_object_get(r.json, "username")));
    assert_string_equal(json_string_value(json_object_get(r.json, "email")), lower_email);
    epoch_of(json_string_value(json_object_get(r.json, "created_at")));
    th_resp_free(&r);
    assert_int_equal(th_db_count_str(O, "admins", "email", lower_email), 1);

    /* with a username (64 characters is the most) */
    char other[96], username[65];
    th_fresh_email("SignUpNamed", other, sizeof other);
    memset(username, 'u', 64);
    username[64] = '\0';
    body = json_text(json_pack("{s:s, s:s, s:s}", "email", other, "password", TU_PASSWORD,
                               "username", username));
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "username")), username);
    th_resp_free(&r);

    /* a username is kept in NFC: an e with a combining acute is the e-acute */
    th_fresh_email("SignUpNfc", other, sizeof other);
    body = json_text(json_pack("{s:s, s:s, s:s}", "email", other, "password", TU_PASSWORD,
                               "username", "Jose\xcc\x81"));
    assert_true(th_http_json(O, "POST", "/auth/signup", NULL, body, &r));
    free(body);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "username")), "Jos\xc3\xa9");
    th_resp_free(&r);

    /* the e-mail is taken in any case, by a signed-up or an org's account */
    body = json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    expect_problem("POST", "/auth/signup", NULL, body, 409, "email");
    free(body);
    struct th_tenant t;
    th_tenant_new(O, &t, "SignUpOrg");
    body = json_text(json_pack("{s:s, s:s}", "email", t.email, "password", TU_PASSWORD));
    expect_problem("POST", "/auth/signup", NULL, body, 409, "email");
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
        char *body = json_text(cases[i].body);
        expect_problem("POST", "/auth/signup", NULL, body, 422, cases[i].field);
        free(body);
    }
    /* a wrong JSON type is a malformed body (400), as everywhere in the
     * API; null is not "no username" */
    json_t *wrong_types[] = {
        json_pack("{s:s, s:s, s:n}", "email", email, "password", TU_PASSWORD, "username"),
        json_pack("{s:s, s:s, s:i}", "email", email, "password", TU_PASSWORD, "username", 7),
    };
    for (size_t i = 0; i < sizeof wrong_types / sizeof wrong_types[0]; i++) {
        char *body = json_text(wrong_types[i]);
        expect_problem("POST", "/auth/signup", NULL, body, 400, "username");
        free(body);
    }
    expect_problem("POST", "/auth/signup", NULL, "{\"email\":", 400, NULL);
    struct th_resp r;
    const char *text = "email=x&password=y";
    assert_true(
        th_http(O, "POST", "/auth/signup", NULL, "text/plain", text, strlen(text), NULL, &r));
    assert_true(th_is_problem(&r, 415));
    th_resp_free(&r);
    assert_int_equal(th_db_count_str(O, "admins", "email", email), 0);
}

/* ---- sign-in, refresh, reuse ---- */

static void signin_and_refresh_rotate_the_tokens(void **state)
{
    (void)state;
    char email[96], sid[32];
    th_signup_fresh(O, "Rot", email, sizeof email);
    char *body = json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
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

    session_of(first.access, sid, sizeof sid);
    expect_refresh_of(first.refresh, sid);
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
    body = json_text(json_pack("{s:s}", "refresh_token", first.refresh));
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
    expect_refresh_of(second.refresh, sid);
    char sid2[32];
    session_of(second.access, sid2, sizeof sid2);
    assert_string_equal(sid2, sid);
    /* rotation spends only the refresh token: the first access token is
     * still the session's until the session ends */
    expect_alive(first.access);

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
    session_of(other.access, other_sid, sizeof other_sid);
    assert_int_equal(th_refresh(O, t1.refresh, &t2), 200);
    assert_int_equal(th_refresh(O, t2.refresh, &t3), 200);
    expect_alive(t3.access);

    /* t1's refresh token, spent two rotations ago, comes back: a thief or a
     * confused client holds it, so the whole session ends */
    struct th_resp r;
    char *body = json_text(json_pack("{s:s}", "refresh_token", t1.refresh));
    assert_true(th_http_json(O, "POST", "/auth/refresh_token", NULL, body, &r));
    free(body);
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    expect_refused(t3.access);
    expect_refused(t2.access);
    expect_refused(t1.access);
    assert_int_equal(refresh_status(t3.refresh), 401);
    assert_int_equal(refresh_status(t2.refresh), 401);
    /* the account's other session goes on */
    expect_alive(other.access);
    struct th_tokens next;
    assert_int_equal(th_refresh(O, other.refresh, &next), 200);
    expect_alive(next.access);
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
    expect_alive(q.access);

    /* in both, equal: fine */
    snprintf(path, sizeof path, "/auth/refresh_token?refresh_token=%s", q.refresh);
    char *body = json_text(json_pack("{s:s}", "refresh_token", q.refresh));
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
    body = json_text(json_pack("{s:s}", "refresh_token", b.refresh));
    expect_problem("POST", path, NULL, body, 422, "refresh_token");
    free(body);
    expect_alive(b.access);
    expect_alive(o2.access);

    /* missing */
    expect_problem("POST", "/auth/refresh_token", NULL, "{}", 422, "refresh_token");
    expect_problem("POST", "/auth/refresh_token", NULL, NULL, 422, "refresh_token");
    /* not a refresh token, or a well-made one nobody issued */
    expect_problem("POST", "/auth/refresh_token", NULL, "{\"refresh_token\":\"nonsense\"}", 401,
                   NULL);
    char forged[64];
    memcpy(forged, b.refresh, 59);
    forged[59] = '\0';
    forged[40] = forged[40] == 'A' ? 'B' : 'A'; /* the session's id, a wrong secret */
    body = json_text(json_pack("{s:s}", "refresh_token", forged));
    expect_problem("POST", "/auth/refresh_token", NULL, body, 401, NULL);
    free(body);
    body = json_text(
        json_pack("{s:s}", "refresh_token",
                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* 59 */
    expect_problem("POST", "/auth/refresh_token", NULL, body, 401, NULL);
    free(body);
    expect_alive(b.access);
    assert_int_equal(refresh_status(b.refresh), 200);
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
            json_text(json_pack("{s:s, s:s}", "email", t.email, "password", "not the password"));
        char *unknown_body =
            json_text(json_pack("{s:s, s:s}", "email", nobody, "password", TU_PASSWORD));
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
    expect_alive(t.token);
    th_tenant_free(&t);
}

/* ---- tokens without a session ---- */

static void a_token_without_a_live_session_is_refused(void **state)
{
    (void)state;
    char email[96], sid[32];
    th_signup_fresh(O, "Sid", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(O, email, TU_PASSWORD, &t);
    session_of(t.access, sid, sizeof sid);
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t klen = strlen(O->secret);
    /* forged from the real token's own claims, so that only the session
     * differs between the accepted one and the refused ones */
    json_t *claims = th_jwt_claims(t.access);
    char *text = json_dumps(claims, JSON_COMPACT);
    char *good = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    expect_alive(good);             /* the forger is right */
    json_object_del(claims, "sid"); /* a well-signed token of the old kind */
    text = json_dumps(claims, JSON_COMPACT);
    char *no_sid = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    expect_refused(no_sid);
    /* a session nobody started */
    json_object_set_new(claims, "sid", json_string("0123456789abcdef01234567"));
    text = json_dumps(claims, JSON_COMPACT);
    char *unknown = forge_jwt(hs256, text, FORGE_HS256, O->secret, klen);
    free(text);
    json_decref(claims);
    expect_refused(unknown);

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
    expect_refused(good);
    assert_int_equal(refresh_status(t.refresh), 401);
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
    struct th_orgd *second = &extra;
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
    expect_refused(t.access);
    assert_true(th_http_json(second, "GET", "/auth/check", t.access, NULL, &r));
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    struct th_tokens scratch;
    assert_int_equal(th_refresh(second, t.refresh, &scratch), 401);
    assert_int_equal(refresh_status(t.refresh), 401);
    assert_int_equal(th_status_of(O, "POST", "/auth/logout", t.access, NULL), 401);
    /* the account's other session goes on, there too */
    expect_alive(other.access);
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
        char *body = json_text(refusals[i].body);
        struct th_resp r;
        assert_true(th_http_json(O, "PUT", "/auth/password", mine.access, body, &r));
        if (!th_is_problem(&r, refusals[i].status))
            fail_msg("PUT /auth/password %s", body);
        if (refusals[i].field != NULL && !names_field(&r, refusals[i].field))
            fail_msg("PUT /auth/password %s does not name %s: %s", body, refusals[i].field, r.body);
        th_resp_free(&r);
        free(body);
    }
    expect_problem("PUT", "/auth/password", NULL,
                   "{\"current_password\":\"" TU_PASSWORD "\",\"new_password\":\"" NEW_PASSWORD
                   "\"}",
                   401, NULL);
    expect_alive(mine.access);
    expect_alive(refreshed.access);
    expect_alive(third.access);
    assert_int_equal(active_sessions_of(admin_id), 3);

    /* the change */
    struct th_resp r;
    assert_true(th_http_json(
        O, "PUT", "/auth/password", mine.access,
        "{\"current_password\":\"" TU_PASSWORD "\",\"new_password\":\"" NEW_PASSWORD "\"}", &r));
    if (r.status != 204)
        fail_msg("the password change answered %ld: %s", r.status, r.body);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    expect_alive(mine.access);
    expect_refused(refreshed.access);
    expect_refused(second.access);
    expect_refused(third.access);
    assert_int_equal(refresh_status(refreshed.refresh), 401);
    assert_int_equal(refresh_status(third.refresh), 401);
    /* the caller's session goes on, refresh included */
    struct th_tokens next;
    assert_int_equal(th_refresh(O, mine.refresh, &next), 200);
    expect_alive(next.access);
    assert_int_equal(active_sessions_of(admin_id), 1);

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
    login_ok(t.email, TU_PASSWORD, &first);
    login_ok(t.email, TU_PASSWORD, &second);
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
    expect_refused(account.access);
    assert_int_equal(refresh_status(second.refresh), 401);
    assert_int_equal(refresh_status(account.refresh), 401);
    struct th_tokens scratch;
    assert_int_equal(th_signin_at(O, "/admin/login", t.email, TU_PASSWORD, &scratch), 401);
    assert_int_equal(th_signin(O, t.email, TU_PASSWORD, &scratch), 401);

    /* the e-mail, through PUT /org/update/{name}, from a newer session */
    struct th_tokens third, fourth;
    login_ok(t.email, NEW_PASSWORD, &third);
    login_ok(t.email, NEW_PASSWORD, &fourth);
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
    assert_int_equal(refresh_status(fourth.refresh), 401);
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
        json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "password",
                            NEW_PASSWORD, "current_password", "not the password"));
    expect_problem("PUT", "/org/update", t.token, body, 401, NULL);
    free(body);
    snprintf(path, sizeof path, "/org/update/%s", t.name);
    body = json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "email",
                               new_email, "current_password", "not the password"));
    expect_problem("PUT", path, t.token, body, 401, NULL);
    free(body);
    /* no current password with a credential change; one without */
    body = json_text(
        json_pack("{s:s, s:s}", "new_organization_name", new_name, "password", NEW_PASSWORD));
    expect_problem("PUT", "/org/update", t.token, body, 422, "current_password");
    free(body);
    body = json_text(json_pack("{s:s}", "email", new_email));
    expect_problem("PUT", "/org/update", t.token, body, 422, "current_password");
    free(body);
    body = json_text(json_pack("{s:s, s:s}", "new_organization_name", new_name, "current_password",
                               TU_PASSWORD));
    expect_problem("PUT", "/org/update", t.token, body, 422, "current_password");
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
    body = json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", other.name, "password",
                               NEW_PASSWORD, "current_password", TU_PASSWORD));
    expect_problem("PUT", "/org/update", t.token, body, 409, NULL);
    free(body);
    body = json_text(json_pack("{s:s, s:s, s:s}", "new_organization_name", new_name, "email",
                               other.email, "current_password", TU_PASSWORD));
    expect_problem("PUT", "/org/update", t.token, body, 409, NULL);
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

/* ---- concurrent refreshes ---- */

#define RACERS 16
#define ROUNDS 20

struct racer {
    const char *refresh;
    pthread_barrier_t *go;
    long status;
    struct th_tokens got;
};

/* No cmocka assertions here: they must run on the test's thread. */
static void *racer_main(void *arg)
{
    struct racer *x = arg;
    struct th_resp r;
    /* open this thread's connection first, so that the race is between the
     * refreshes and not between connects */
    th_http(O, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r);
    th_resp_free(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", x->refresh);
    pthread_barrier_wait(x->go);
    x->status = -1;
    if (th_http_json(O, "POST", "/auth/refresh_token", NULL, body, &r)) {
        x->status = r.status;
        const char *a = json_string_value(json_object_get(r.json, "access_token"));
        const char *f = json_string_value(json_object_get(r.json, "refresh_token"));
        snprintf(x->got.access, sizeof x->got.access, "%s", a ? a : "");
        snprintf(x->got.refresh, sizeof x->got.refresh, "%s", f ? f : "");
    }
    th_resp_free(&r);
    return NULL;
}

/* A client that sends one refresh many times at once (a retrying HTTP
 * stack, several tabs): one rotation happens, and every answer that is a
 * 200 carries its pair, the same refresh token; the others are 409s to
 * retry. The session never ends (REFRESH_REUSE_GRACE_MS: it is one
 * client, from one address, within the grace). Twenty rounds of sixteen
 * refreshes released together. */
static void concurrent_refreshes_share_one_rotation(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Race", email, sizeof email);
    int busy = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_tokens t;
        th_signin_ok(O, email, TU_PASSWORD, &t);
        struct racer racers[RACERS];
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        pthread_t threads[RACERS];
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (struct racer){.refresh = t.refresh, .go = &go};
            if (pthread_create(&threads[i], NULL, racer_main, &racers[i]) != 0)
                fail_msg("pthread_create");
        }
        for (int i = 0; i < RACERS; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&go);
        const char *pair = NULL;
        for (int i = 0; i < RACERS; i++) {
            if (racers[i].status == 409) {
                busy++;
                continue;
            }
            if (racers[i].status != 200)
                fail_msg("round %d: a refresh of one client answered %ld", round, racers[i].status);
            if (pair == NULL)
                pair = racers[i].got.refresh;
            if (strcmp(pair, racers[i].got.refresh) != 0)
                fail_msg("round %d: two refreshes of one token answered two different refresh "
                         "tokens",
                         round);
            expect_alive(racers[i].got.access);
        }
        if (pair == NULL)
            fail_msg("round %d: no refresh of %d succeeded", round, RACERS);
        expect_alive(t.access);
        struct th_tokens next;
        assert_int_equal(th_refresh(O, pair, &next), 200);
        expect_alive(next.access);
    }
    printf("# %d of %d refreshes were told to retry (409)\n", busy, ROUNDS * RACERS);
}

/* The race made deterministic: the winner stops (fault point, 3 s) after
 * it has claimed the token and before it rotates. A second refresh with
 * the same token meanwhile waits the grace for the rotation, and is told
 * to retry (409); retried once the rotation is written, it gets the
 * winner's pair. After the grace the spent token is a reuse, and the
 * session ends. */
static void a_lost_race_keeps_the_session(void **state)
{
    (void)state;
    struct th_orgd *paused = &extra;
    th_orgd_init(paused, th_orgd_faults_bin());
    const char *env[] = {"FAULT_POINT=pause:refresh.after_claim", "REFRESH_REUSE_GRACE_MS=1500",
                         NULL};
    assert_true(th_orgd_start(paused, env));
    char email[96];
    th_signup_fresh(paused, "Paused", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(paused, email, TU_PASSWORD, &t);
    struct th_call winner = {.o = paused, .method = "POST", .want_json = true};
    snprintf(winner.path, sizeof winner.path, "/auth/refresh_token");
    snprintf(winner.body, sizeof winner.body, "{\"refresh_token\":\"%s\"}", t.refresh);
    th_call_start(&winner);
    tu_sleep_ms(1000); /* the winner has claimed the token and waits */
    struct th_tokens retried;
    assert_int_equal(th_refresh(paused, t.refresh, &retried), 409);
    th_call_join(&winner);
    assert_int_equal(winner.status, 200);
    const char *pair = json_string_value(json_object_get(winner.json, "refresh_token"));
    assert_non_null(pair);
    /* retried within the grace, from the same address: the winner's pair */
    assert_int_equal(th_refresh(paused, t.refresh, &retried), 200);
    assert_string_equal(retried.refresh, pair);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", retried.access, NULL), 200);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", t.access, NULL), 200);
    /* after the grace the spent token is a reuse: the session ends */
    tu_sleep_ms(1700);
    struct th_tokens scratch;
    assert_int_equal(th_refresh(paused, t.refresh, &scratch), 401);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", t.access, NULL), 401);
    assert_int_equal(th_refresh(paused, pair, &scratch), 401);
    json_decref(winner.json);
    assert_int_equal(th_orgd_stop(paused), 0);
}

/* Within the grace, the same token from another address is no retry: it
 * is a reuse, and the session ends. */
static void a_spent_token_from_elsewhere_is_a_reuse(void **state)
{
    (void)state;
    char email[96], body[256];
    th_signup_fresh(O, "Elsewhere", email, sizeof email);
    struct th_tokens t, next;
    th_signin_ok(O, email, TU_PASSWORD, &t);
    assert_int_equal(th_refresh(O, t.refresh, &next), 200);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", t.refresh);
    struct th_resp r;
    assert_true(th_http_from(O, "127.0.0.2", "POST", "/auth/refresh_token", NULL, body, NULL, &r));
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    expect_refused(next.access);
    assert_int_equal(refresh_status(next.refresh), 401);
}

/* A logout sent together with a refresh of the same session. FerretDB
 * applies an update as a read and then a whole-document write, so a
 * rotation that read the session just before the logout's write would
 * write it back active: the logout must never be undone, whichever of the
 * two the database takes first. */
#define LOGOUT_RACES 60
static void a_logout_racing_a_refresh_is_not_undone(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Racing", email, sizeof email);
    int undone = 0, refreshed = 0;
    for (int i = 0; i < LOGOUT_RACES; i++) {
        struct th_tokens t;
        th_signin_ok(O, email, TU_PASSWORD, &t);
        struct th_call refresh = {.o = O, .method = "POST", .want_json = true};
        snprintf(refresh.path, sizeof refresh.path, "/auth/refresh_token");
        snprintf(refresh.body, sizeof refresh.body, "{\"refresh_token\":\"%s\"}", t.refresh);
        struct th_call logout = {.o = O, .method = "POST", .token = t.access};
        snprintf(logout.path, sizeof logout.path, "/auth/logout");
        logout.delay_ms = i % 3; /* a little either way of the refresh */
        th_call_start(&refresh);
        th_call_start(&logout);
        th_call_join(&refresh);
        th_call_join(&logout);
        assert_int_equal(logout.status, 204);
        if (refresh.status == 200) {
            refreshed++;
            struct th_tokens next;
            if (th_refresh(O, th_json_str(refresh.json, "refresh_token"), &next) == 200)
                undone++;
        } else {
            assert_int_equal(refresh.status, 401);
        }
        json_decref(refresh.json);
    }
    if (undone > 0)
        fail_msg("%d of %d logouts were undone by a refresh (%d refreshes went through first)",
                 undone, LOGOUT_RACES, refreshed);
}

/* The same for a password change, which ends the account's other
 * sessions at once: none of them refreshing at that moment may come back
 * (a thief's refresh racing the owner's change). The change hashes twice
 * before it ends anything, so the others refresh at staggered moments
 * around then. */
#define PASSWORD_RACES 6
#define OTHERS 8
static void a_password_change_racing_refreshes_is_not_undone(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "RacingPw", email, sizeof email);
    const char *pw[2] = {TU_PASSWORD, NEW_PASSWORD};
    int undone = 0, through = 0;
    for (int i = 0; i < PASSWORD_RACES; i++) {
        struct th_tokens mine, other[OTHERS];
        th_signin_ok(O, email, pw[i % 2], &mine);
        struct th_call refresh[OTHERS];
        for (int k = 0; k < OTHERS; k++) {
            th_signin_ok(O, email, pw[i % 2], &other[k]);
            refresh[k] = (struct th_call){.o = O, .method = "POST", .want_json = true};
            snprintf(refresh[k].path, sizeof refresh[k].path, "/auth/refresh_token");
            snprintf(refresh[k].body, sizeof refresh[k].body, "{\"refresh_token\":\"%s\"}",
                     other[k].refresh);
            refresh[k].delay_ms = 40 + k * 15 + i * 4;
        }
        struct th_call change = {.o = O, .method = "PUT", .token = mine.access};
        snprintf(change.path, sizeof change.path, "/auth/password");
        snprintf(change.body, sizeof change.body,
                 "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", pw[i % 2],
                 pw[(i + 1) % 2]);
        th_call_start(&change);
        for (int k = 0; k < OTHERS; k++)
            th_call_start(&refresh[k]);
        /* every thread joined before anything is asserted: a failed assert
         * leaves the test, and the calls live on this stack */
        th_call_join(&change);
        for (int k = 0; k < OTHERS; k++)
            th_call_join(&refresh[k]);
        assert_int_equal(change.status, 204);
        for (int k = 0; k < OTHERS; k++) {
            if (refresh[k].status == 200) {
                through++;
                struct th_tokens next;
                if (th_refresh(O, th_json_str(refresh[k].json, "refresh_token"), &next) == 200)
                    undone++;
            }
            json_decref(refresh[k].json);
        }
    }
    if (undone > 0)
        fail_msg("%d sessions came back after a password change ended them (%d refreshes went "
                 "through)",
                 undone, through);
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
    session_of(s1.access, id1, sizeof id1);
    session_of(s2.access, id2, sizeof id2);
    session_of(s3.access, id3, sizeof id3);

    json_t *list = sessions_of(s1.access);
    assert_int_equal(json_array_size(list), 3);
    const char *order[] = {id3, id2, id1}; /* the most recently used first */
    int64_t expires1 = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(list, i);
        assert_int_equal(json_object_size(s), 8);
        assert_string_equal(json_string_value(json_object_get(s, "id")), order[i]);
        assert_string_equal(json_string_value(json_object_get(s, "scope")), "account");
        assert_true(json_is_null(json_object_get(s, "organization_id")));
        assert_string_equal(json_string_value(json_object_get(s, "client_address")), "127.0.0.1");
        int64_t created = epoch_of(json_string_value(json_object_get(s, "created_at")));
        int64_t used = epoch_of(json_string_value(json_object_get(s, "last_used_at")));
        int64_t expires = epoch_of(json_string_value(json_object_get(s, "expires_at")));
        assert_true(used >= created);
        expect_lifetime(created, expires, SESSION_SECONDS);
        assert_true(json_is_boolean(json_object_get(s, "current")));
        assert_int_equal(json_is_true(json_object_get(s, "current")), i == 2);
        if (i == 2)
            expires1 = expires;
    }
    json_decref(list);

    /* a refresh makes s1 the most recently used; its end does not move */
    struct th_tokens s1b;
    assert_int_equal(th_refresh(O, s1.refresh, &s1b), 200);
    list = sessions_of(s3.access);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), id1);
    assert_int_equal(
        epoch_of(json_string_value(json_object_get(json_array_get(list, 0), "expires_at"))),
        expires1);
    assert_true(
        epoch_of(json_string_value(json_object_get(json_array_get(list, 0), "last_used_at"))) >
        epoch_of(json_string_value(json_object_get(json_array_get(list, 0), "created_at"))));
    assert_true(json_is_false(json_object_get(json_array_get(list, 0), "current")));
    assert_true(json_is_true(json_object_get(json_array_get(list, 1), "current")));
    json_decref(list);

    /* end s2 from s1 */
    char path[128];
    snprintf(path, sizeof path, "/auth/sessions/%s", id2);
    struct th_resp r;
    assert_true(th_http_json(O, "DELETE", path, s1b.access, NULL, &r));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    expect_refused(s2.access);
    assert_int_equal(refresh_status(s2.refresh), 401);
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
    session_of(other.access, other_id, sizeof other_id);
    const char *not_mine[] = {id2, other_id, "0123456789abcdef01234567", "not-a-session",
                              "0123456789ABCDEF0123456Z"};
    for (size_t i = 0; i < sizeof not_mine / sizeof not_mine[0]; i++) {
        snprintf(path, sizeof path, "/auth/sessions/%s", not_mine[i]);
        expect_problem("DELETE", path, s1b.access, NULL, 404, NULL);
    }
    expect_alive(other.access);
    list = sessions_of(other.access);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);

    /* one's own current session too */
    snprintf(path, sizeof path, "/auth/sessions/%s", id1);
    assert_int_equal(th_status_of(O, "DELETE", path, s1b.access, NULL), 204);
    expect_refused(s1b.access);
    assert_int_equal(refresh_status(s1b.refresh), 401);
    expect_alive(s3.access);
    /* without a token */
    snprintf(path, sizeof path, "/auth/sessions/%s", id3);
    assert_int_equal(th_status_of(O, "DELETE", path, NULL, NULL), 401);
    assert_int_equal(th_status_of(O, "GET", "/auth/sessions", NULL, NULL), 401);
    expect_alive(s3.access);
}

static void the_session_lifetime_is_a_setting(void **state)
{
    (void)state;
    struct th_orgd *own = &extra;
    th_orgd_init(own, NULL);
    const char *env[] = {"REFRESH_TOKEN_SECONDS=60", NULL};
    assert_true(th_orgd_start(own, env));
    char email[96];
    th_fresh_email("Lifetime", email, sizeof email);
    assert_int_equal(th_signup(own, email, TU_PASSWORD), 201);
    struct th_tokens t, next;
    assert_int_equal(th_signin(own, email, TU_PASSWORD, &t), 200);
    assert_int_equal(th_refresh(own, t.refresh, &next), 200);
    struct th_resp r;
    assert_true(th_http_json(own, "GET", "/auth/sessions", next.access, NULL, &r));
    assert_int_equal(r.status, 200);
    json_t *s = json_array_get(json_object_get(r.json, "sessions"), 0);
    int64_t created = epoch_of(json_string_value(json_object_get(s, "created_at")));
    int64_t expires = epoch_of(json_string_value(json_object_get(s, "expires_at")));
    expect_lifetime(created, expires, 60); /* from the sign-in, not the refresh */
    th_resp_free(&r);
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

static void admin_login_answers_both_token_names(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "Login");
    char *body = json_text(json_pack("{s:s, s:s}", "email", t.email, "password", TU_PASSWORD));
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
    session_of(access, sid, sizeof sid);
    expect_refresh_of(refresh, sid);
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
    body = json_text(json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD));
    expect_problem("POST", "/admin/login", NULL, body, 403, NULL);
    free(body);
    body = json_text(json_pack("{s:s, s:s}", "email", email, "password", "not the password"));
    expect_problem("POST", "/admin/login", NULL, body, 401, NULL);
    free(body);
    /* an organization the account is not a member of */
    struct th_tenant other;
    th_tenant_new(O, &other, "LoginOther");
    body = json_text(json_pack("{s:s, s:s, s:s}", "email", t.email, "password", TU_PASSWORD,
                               "organization_name", other.name));
    expect_problem("POST", "/admin/login", NULL, body, 403, NULL);
    free(body);
    body = json_text(json_pack("{s:s, s:s, s:s}", "email", t.email, "password", TU_PASSWORD,
                               "organization_name", t.name));
    assert_int_equal(th_status_of(O, "POST", "/admin/login", NULL, body), 200);
    free(body);
    th_tenant_free(&other);
    th_tenant_free(&t);
}

static void org_sessions_refresh_as_logins_and_survive_a_rename(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(O, &t, "OrgRefresh");
    struct th_tokens login;
    login_ok(t.email, TU_PASSWORD, &login);
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
    login_ok(t.email, TU_PASSWORD, &first);
    login_ok(t.email, TU_PASSWORD, &second);
    th_signin_ok(O, t.email, TU_PASSWORD, &account);
    assert_int_equal(active_sessions_of(t.admin_id), 4);
    char path[256];
    snprintf(path, sizeof path, "/org/delete/%s", t.name);
    assert_int_equal(th_status_of(O, "DELETE", path, first.access, NULL), 204);
    assert_int_equal(refresh_status(first.refresh), 401);
    assert_int_equal(refresh_status(second.refresh), 401);
    expect_refused(second.access);
    /* the account came with the org and went with it, and its sessions */
    assert_int_equal(refresh_status(account.refresh), 401);
    expect_refused(account.access);
    assert_int_equal(active_sessions_of(t.admin_id), 0);
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
    expect_problem("PUT", "/org/update", lone.access, body, 404, NULL);
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
    login_ok(t.email, TU_PASSWORD, &l2);                                            /* ok 2 */
    assert_int_equal(th_status_of(O, "POST", "/auth/logout", a.access, NULL), 204); /* logout */
    th_signin_ok(O, email, TU_PASSWORD, &b);                                        /* ok 3 */
    th_signin_ok(O, email, TU_PASSWORD, &c);                                        /* ok 4 */
    th_signin_ok(O, email, TU_PASSWORD, &d);                                        /* ok 5 */
    char id[32], path[128];
    session_of(c.access, id, sizeof id);
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

static void check_is_clean(void **state)
{
    (void)state;
    th_expect_check_clean(O);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signup_answers_the_account),
        cmocka_unit_test(signup_refuses_bad_input_and_creates_nothing),
        cmocka_unit_test(signin_and_refresh_rotate_the_tokens),
        cmocka_unit_test(a_reused_refresh_token_ends_the_session),
        cmocka_unit_test(the_refresh_token_may_come_in_the_query),
        cmocka_unit_test(a_failed_login_is_a_generic_401_without_a_challenge),
        cmocka_unit_test(a_token_without_a_live_session_is_refused),
        cmocka_unit_test_teardown(logout_ends_the_session_on_every_instance, stop_extra),
        cmocka_unit_test(a_password_change_ends_every_other_session),
        cmocka_unit_test(org_update_credential_changes_end_every_other_session),
        cmocka_unit_test(org_update_checks_everything_before_it_writes),
        cmocka_unit_test(concurrent_refreshes_share_one_rotation),
        cmocka_unit_test(a_spent_token_from_elsewhere_is_a_reuse),
        cmocka_unit_test_teardown(a_lost_race_keeps_the_session, stop_extra),
        cmocka_unit_test(a_logout_racing_a_refresh_is_not_undone),
        cmocka_unit_test(a_password_change_racing_refreshes_is_not_undone),
        cmocka_unit_test(sessions_are_listed_and_ended_one_by_one),
        cmocka_unit_test_teardown(the_session_lifetime_is_a_setting, stop_extra),
        cmocka_unit_test(org_and_account_sessions_are_listed_together),
        cmocka_unit_test(admin_login_answers_both_token_names),
        cmocka_unit_test(org_sessions_refresh_as_logins_and_survive_a_rename),
        cmocka_unit_test(deleting_the_org_ends_its_sessions),
        cmocka_unit_test(account_tokens_reach_their_own_org),
        cmocka_unit_test(metrics_count_logins_and_ended_sessions),
        cmocka_unit_test(no_token_or_password_in_the_database),
        cmocka_unit_test(check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
