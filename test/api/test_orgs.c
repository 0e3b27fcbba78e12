/* The organization lifecycle over HTTP, checked in the database too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "forge.h"
#include "harness.h"
#include "testutil.h"

static void expect_org(const struct th_resp *r, const char *name, const char *email)
{
    assert_true(json_is_object(r->json));
    assert_string_equal(json_string_value(json_object_get(r->json, "organization_name")), name);
    char coll[96];
    th_collection_of(name, coll, sizeof coll);
    assert_string_equal(json_string_value(json_object_get(r->json, "collection_name")), coll);
    json_t *admin = json_object_get(r->json, "admin");
    assert_string_equal(json_string_value(json_object_get(admin, "email")), email);
    assert_int_equal(strlen(json_string_value(json_object_get(admin, "id"))), 24);
    assert_int_equal(strlen(json_string_value(json_object_get(r->json, "id"))), 24);
    const char *created = json_string_value(json_object_get(r->json, "created_at"));
    assert_non_null(created);
    assert_int_equal(strlen(created), 24); /* 2026-11-22T08:02:48.258Z */
    assert_non_null(json_string_value(json_object_get(r->json, "updated_at")));
    assert_null(json_object_get(r->json, "password_hash"));
}

/* ---- the whole flow ---- */

static void whole_flow(void **state)
{
    (void)state;
    char name[64], email[96], coll[96], path[256], body[512];
    th_unique("Flow", name, sizeof name);
    snprintf(email, sizeof email, "%s@Example.com", name);

    json_t *req = json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email,
                            "password", TU_PASSWORD);
    char *text = json_dumps(req, 0);
    json_decref(req);
    struct th_resp r;
    assert_true(th_http_json(&th_shared_orgd, "POST", "/org/create", NULL, text, &r));
    free(text);
    assert_int_equal(r.status, 201);
    char lower_email[96];
    snprintf(lower_email, sizeof lower_email, "%s", email);
    th_lower(lower_email);
    expect_org(&r, name, lower_email);
    char loc[128], want_loc[128];
    assert_true(th_resp_header(&r, "Location", loc, sizeof loc));
    snprintf(want_loc, sizeof want_loc, "/org/%s", name);
    assert_string_equal(loc, want_loc);
    th_resp_free(&r);
    th_collection_of(name, coll, sizeof coll);
    assert_true(th_db_collection_exists(&th_shared_orgd, coll));

    /* login (the e-mail in any case) */
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", lower_email, TU_PASSWORD);
    assert_true(th_http_json(&th_shared_orgd, "POST", "/admin/login", NULL, body, &r));
    assert_int_equal(r.status, 200);
    char *token = strdup(json_string_value(json_object_get(r.json, "access_token")));
    assert_string_equal(json_string_value(json_object_get(r.json, "token_type")), "bearer");
    assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")), 3600);
    assert_string_equal(json_string_value(json_object_get(r.json, "organization_name")), name);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "owner");
    th_resp_free(&r);

    assert_true(th_http_json(&th_shared_orgd, "GET", "/auth/check", token, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "admin"), "email")), lower_email);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "organization"),
                                                          "organization_name")),
                        name);
    assert_string_equal(json_string_value(json_object_get(r.json, "role")), "owner");
    assert_true(json_integer_value(json_object_get(r.json, "expires_in")) > 3500);
    th_resp_free(&r);

    /* get, both forms, name in any case */
    snprintf(path, sizeof path, "/org/%s", name);
    assert_true(th_http_json(&th_shared_orgd, "GET", path, token, NULL, &r));
    assert_int_equal(r.status, 200);
    expect_org(&r, name, lower_email);
    th_resp_free(&r);
    char upper[64];
    snprintf(upper, sizeof upper, "%s", name);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    snprintf(path, sizeof path, "/org/get?organization_name=%s", upper);
    assert_true(th_http_json(&th_shared_orgd, "GET", path, token, NULL, &r));
    assert_int_equal(r.status, 200);
    expect_org(&r, name, lower_email);
    th_resp_free(&r);

    /* rename through every body form, the token keeps working (it carries the org id) */
    char names[6][64];
    snprintf(names[0], sizeof names[0], "%s", name);
    for (int i = 1; i < 6; i++)
        th_unique("Renamed", names[i], sizeof names[i]);
    const char *forms[5] = {
        "{\"new_organization_name\":\"%2$s\"}",
        "{\"old_organization_name\":\"%1$s\",\"new_organization_name\":\"%2$s\"}",
        "{\"organization_name\":\"%1$s\",\"new_organization_name\":\"%2$s\"}",
        "{\"organization_name\":\"%2$s\"}",
        "{\"new_organization_name\":\"%2$s\"}", /* through /org/update/{name} */
    };
    for (int i = 0; i < 5; i++) {
        th_collection_of(names[i], coll, sizeof coll);
        assert_true(th_db_insert_docs(&th_shared_orgd, coll, 7, names[i]));
        int64_t before = th_db_count(&th_shared_orgd, coll, NULL);
        snprintf(body, sizeof body, forms[i], names[i], names[i + 1]);
        if (i == 4)
            snprintf(path, sizeof path, "/org/update/%s", names[i]);
        else
            snprintf(path, sizeof path, "/org/update");
        assert_true(th_http_json(&th_shared_orgd, "PUT", path, token, body, &r));
        if (r.status != 200)
            fail_msg("form %d: %ld %s", i, r.status, r.body);
        expect_org(&r, names[i + 1], lower_email);
        th_resp_free(&r);
        char new_coll[96];
        th_collection_of(names[i + 1], new_coll, sizeof new_coll);
        assert_false(th_db_collection_exists(&th_shared_orgd, coll));
        assert_true(th_db_collection_exists(&th_shared_orgd, new_coll));
        assert_int_equal(th_db_count(&th_shared_orgd, new_coll, NULL), before);
        /* old name 404, new name 200 */
        snprintf(path, sizeof path, "/org/%s", names[i]);
        assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, token, NULL), 404);
        snprintf(path, sizeof path, "/org/%s", names[i + 1]);
        assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, token, NULL), 200);
    }
    th_collection_of(names[5], coll, sizeof coll);
    assert_int_equal(th_db_count(&th_shared_orgd, coll, NULL), 35); /* 5 x 7 documents, none lost */

    /* delete, then it is gone everywhere */
    snprintf(path, sizeof path, "/org/delete/%s", names[5]);
    assert_true(th_http_json(&th_shared_orgd, "DELETE", path, token, NULL, &r));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    assert_false(th_db_collection_exists(&th_shared_orgd, coll));
    snprintf(path, sizeof path, "/org/%s", names[5]);
    /* the token's org is gone */
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, token, NULL), 401);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", lower_email, TU_PASSWORD);
    assert_int_equal(th_status_of(&th_shared_orgd, "POST", "/admin/login", NULL, body), 401);
    bson_t *f = BCON_NEW("email", BCON_UTF8(lower_email));
    assert_int_equal(th_db_count(&th_shared_orgd, "admins", f), 0);
    bson_destroy(f);
    free(token);
}

static void every_delete_form_works(void **state)
{
    (void)state;
    for (int form = 0; form < 3; form++) {
        struct th_tenant t;
        th_tenant_new(&th_shared_orgd, &t, "Del");
        char path[256], body[256], coll[96];
        const char *b = NULL;
        if (form == 0) {
            snprintf(path, sizeof path, "/org/delete/%s", t.name);
        } else if (form == 1) {
            snprintf(path, sizeof path, "/org/delete");
            snprintf(body, sizeof body, "{\"organization_name\":\"%s\"}", t.name);
            b = body;
        } else {
            snprintf(path, sizeof path, "/org/delete?organization_name=%s", t.name);
        }
        th_collection_of(t.name, coll, sizeof coll);
        assert_true(th_db_insert_docs(&th_shared_orgd, coll, 3, "x"));
        assert_int_equal(th_status_of(&th_shared_orgd, "DELETE", path, t.token, b), 204);
        assert_false(th_db_collection_exists(&th_shared_orgd, coll));
        bson_oid_t oid;
        bson_oid_init_from_string(&oid, t.id);
        bson_t *by_org = BCON_NEW("org_id", BCON_OID(&oid));
        assert_int_equal(th_db_count(&th_shared_orgd, "memberships", by_org), 0);
        bson_destroy(by_org);
        bson_t *by_id = BCON_NEW("_id", BCON_OID(&oid));
        assert_int_equal(th_db_count(&th_shared_orgd, "organizations", by_id), 0);
        bson_destroy(by_id);
        bson_oid_init_from_string(&oid, t.admin_id);
        bson_t *admin = BCON_NEW("_id", BCON_OID(&oid));
        assert_int_equal(th_db_count(&th_shared_orgd, "admins", admin), 0);
        bson_destroy(admin);
        snprintf(path, sizeof path, "/org/%s", t.name);
        assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, t.token, NULL), 401);
        th_tenant_free(&t);
    }
}

/* ---- conflicts ---- */

static void duplicates_are_409_and_change_nothing(void **state)
{
    (void)state;
    struct th_tenant a, b;
    th_tenant_new(&th_shared_orgd, &a, "Dup");
    th_tenant_new(&th_shared_orgd, &b, "Dup");
    char upper[64], fresh[64], email[96];
    snprintf(upper, sizeof upper, "%s", a.name);
    upper[0] = (char)(upper[0] == 'D' ? 'd' : 'D');
    char *before = th_db_snapshot(&th_shared_orgd);
    th_unique("fresh", fresh, sizeof fresh);
    snprintf(email, sizeof email, "%s@example.com", fresh);
    assert_int_equal(th_create_org(&th_shared_orgd, a.name, email, TU_PASSWORD), 409);
    assert_int_equal(th_create_org(&th_shared_orgd, upper, email, TU_PASSWORD), 409);
    char other[64];
    th_unique("other", other, sizeof other);
    assert_int_equal(th_create_org(&th_shared_orgd, other, a.email, TU_PASSWORD), 409);
    char shouting[96];
    snprintf(shouting, sizeof shouting, "%s", a.email);
    for (char *p = shouting; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(th_create_org(&th_shared_orgd, other, shouting, TU_PASSWORD), 409);
    /* rename onto a taken name, in any case */
    char body[256];
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", upper);
    struct th_resp r;
    assert_true(th_http_json(&th_shared_orgd, "PUT", "/org/update", b.token, body, &r));
    assert_true(th_is_problem(&r, 409));
    th_resp_free(&r);
    /* change e-mail to a taken one */
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"current_password\":\"%s\"}", a.email,
             TU_PASSWORD);
    assert_true(th_http_json(&th_shared_orgd, "PUT", "/org/update", b.token, body, &r));
    assert_true(th_is_problem(&r, 409));
    th_resp_free(&r);
    char *after = th_db_snapshot(&th_shared_orgd);
    assert_string_equal(before, after);
    free(before);
    free(after);
    th_tenant_free(&a);
    th_tenant_free(&b);
}

static void case_only_rename_works(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "acme");
    char coll[96], body[256], upper[64];
    th_collection_of(t.name, coll, sizeof coll);
    assert_true(th_db_insert_docs(&th_shared_orgd, coll, 5, "case"));
    snprintf(upper, sizeof upper, "%s", t.name);
    upper[0] = 'A';
    upper[1] = 'C';
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", upper);
    struct th_resp r;
    assert_true(th_http_json(&th_shared_orgd, "PUT", "/org/update", t.token, body, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "organization_name")), upper);
    assert_string_equal(json_string_value(json_object_get(r.json, "collection_name")), coll);
    th_resp_free(&r);
    assert_int_equal(th_db_count(&th_shared_orgd, coll, NULL), 5);
    th_tenant_free(&t);
}

/* ---- authorization ---- */

static void another_orgs_admin_gets_403_and_changes_nothing(void **state)
{
    (void)state;
    struct th_tenant a, b;
    th_tenant_new(&th_shared_orgd, &a, "OrgA");
    th_tenant_new(&th_shared_orgd, &b, "OrgB");
    char *before = th_db_snapshot(&th_shared_orgd);
    char path[256], body[256];
    snprintf(path, sizeof path, "/org/%s", b.name);
    struct th_resp r;
    assert_true(th_http_json(&th_shared_orgd, "GET", path, a.token, NULL, &r));
    assert_true(th_is_problem(&r, 403));
    th_resp_free(&r);
    snprintf(path, sizeof path, "/org/get?organization_name=%s", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, a.token, NULL), 403);
    snprintf(path, sizeof path, "/org/update/%s", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "PUT", path, a.token,
                                  "{\"new_organization_name\":\"stolen1\"}"),
                     403);
    snprintf(body, sizeof body,
             "{\"old_organization_name\":\"%s\",\"new_organization_name\":\"stolen2\"}", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "PUT", "/org/update", a.token, body), 403);
    snprintf(path, sizeof path, "/org/delete/%s", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "DELETE", path, a.token, NULL), 403);
    snprintf(body, sizeof body, "{\"organization_name\":\"%s\"}", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "DELETE", "/org/delete", a.token, body), 403);
    snprintf(path, sizeof path, "/org/delete?organization_name=%s", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "DELETE", path, a.token, NULL), 403);
    char *after = th_db_snapshot(&th_shared_orgd);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* and B still works for B */
    snprintf(path, sizeof path, "/org/%s", b.name);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", path, b.token, NULL), 200);
    th_tenant_free(&a);
    th_tenant_free(&b);
}

static void unknown_email_and_wrong_password_look_the_same(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Creds");
    char body[256];
    struct th_resp wrong, unknown;
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"not the password\"}", t.email);
    assert_true(th_http_json(&th_shared_orgd, "POST", "/admin/login", NULL, body, &wrong));
    snprintf(body, sizeof body, "{\"email\":\"nobody-%s\",\"password\":\"not the password\"}",
             t.email);
    assert_true(th_http_json(&th_shared_orgd, "POST", "/admin/login", NULL, body, &unknown));
    assert_true(th_is_problem(&wrong, 401));
    assert_true(th_is_problem(&unknown, 401));
    assert_string_equal(wrong.body, unknown.body);
    /* and costs about the same: both ran one argon2id verify */
    double ratio = wrong.seconds / unknown.seconds;
    if (ratio < 0.25 || ratio > 4.0)
        fail_msg("timing differs: wrong %.4f s, unknown %.4f s", wrong.seconds, unknown.seconds);
    th_resp_free(&wrong);
    th_resp_free(&unknown);
    th_tenant_free(&t);
}

static void password_and_email_change(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Pw");
    char body[512], new_email[96], *token = NULL;
    snprintf(new_email, sizeof new_email, "new-%s", t.email);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"a brand new password\",\"current_password\":\"%s\"}",
             new_email, TU_PASSWORD);
    assert_int_equal(th_status_of(&th_shared_orgd, "PUT", "/org/update", t.token, body), 200);
    assert_int_equal(th_login(&th_shared_orgd, t.email, TU_PASSWORD, &token), 401);
    assert_int_equal(th_login(&th_shared_orgd, new_email, TU_PASSWORD, &token), 401);
    assert_int_equal(th_login(&th_shared_orgd, new_email, "a brand new password", &token), 200);
    free(token);
    th_tenant_free(&t);
}

/* ---- tokens ---- */

/* The sid claim of a token orgd issued (its payload read without checking
 * anything: the test only needs the session's id). */
static void session_of(const char *token, char *out, size_t cap)
{
    json_t *claims = th_jwt_claims(token);
    snprintf(out, cap, "%s", json_string_value(json_object_get(claims, "sid")));
    json_decref(claims);
    assert_int_equal(strlen(out), 24);
}

static void bad_tokens_are_401_with_www_authenticate(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Jwt");
    long now = (long)time(NULL);
    char good[512], expired[512], future[512], iss[512];
    /* the forged tokens name the tenant's real session: only what is forged differs */
    char sid[32];
    session_of(t.token, sid, sizeof sid);
    const char *fmt = "{\"iss\":\"%s\",\"sub\":\"%s\",\"sid\":\"%s\",\"org\":\"%s\","
                      "\"role\":\"owner\",\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,\"jti\":\"j1\"}";
    snprintf(good, sizeof good, fmt, "orgd", t.admin_id, sid, t.id, now, now, now + 600);
    snprintf(expired, sizeof expired, fmt, "orgd", t.admin_id, sid, t.id, now - 7200, now - 7200,
             now - 120);
    snprintf(future, sizeof future, fmt, "orgd", t.admin_id, sid, t.id, now, now + 600, now + 1200);
    snprintf(iss, sizeof iss, fmt, "evil", t.admin_id, sid, t.id, now, now, now + 600);
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t klen = strlen(th_shared_orgd.secret);

    /* the forger is right: a well-made token with the right key is accepted */
    char *ok = forge_jwt(hs256, good, FORGE_HS256, th_shared_orgd.secret, klen);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/auth/check", ok, NULL), 200);

    char *truncated = strdup(ok);
    truncated[strlen(truncated) - 3] = '\0';
    char *tokens[] = {
        forge_jwt("{\"alg\":\"none\",\"typ\":\"JWT\"}", good, FORGE_NONE, NULL, 0),
        forge_jwt("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", good, FORGE_HS384, th_shared_orgd.secret,
                  klen),
        forge_jwt("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good, FORGE_HS512, th_shared_orgd.secret,
                  klen),
        forge_jwt(hs256, good, FORGE_HS256, "the wrong key, 32 bytes long....", 32),
        forge_jwt(hs256, expired, FORGE_HS256, th_shared_orgd.secret, klen),
        forge_jwt(hs256, future, FORGE_HS256, th_shared_orgd.secret, klen),
        forge_jwt(hs256, iss, FORGE_HS256, th_shared_orgd.secret, klen),
        truncated,
        strdup("garbage"),
        strdup("a.b.c"),
    };
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        struct th_resp r;
        assert_true(th_http_json(&th_shared_orgd, "GET", "/auth/check", tokens[i], NULL, &r));
        if (!th_is_problem(&r, 401))
            fail_msg("token %zu accepted", i);
        char www[256];
        assert_true(th_resp_header(&r, "WWW-Authenticate", www, sizeof www));
        assert_int_equal(strncmp(www, "Bearer", 6), 0);
        th_resp_free(&r);
        free(tokens[i]);
    }
    /* no header, an empty Bearer, another scheme */
    const char *const headers[][2] = {{NULL, NULL},
                                      {"Authorization: Bearer", NULL},
                                      {"Authorization: Bearer    ", NULL},
                                      {"Authorization: Basic dXNlcjpwYXNz", NULL},
                                      {"Authorization: Bearertoken", NULL}};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        struct th_resp r;
        assert_true(th_http(&th_shared_orgd, "GET", "/auth/check", NULL, NULL, NULL, 0,
                            headers[i][0] ? headers[i] : NULL, &r));
        assert_true(th_is_problem(&r, 401));
        char www[256];
        assert_true(th_resp_header(&r, "WWW-Authenticate", www, sizeof www));
        th_resp_free(&r);
    }
    free(ok);
    th_tenant_free(&t);
}

/* ---- hostile input ---- */

struct bad {
    const char *method;
    const char *path; /* {t}: the tenant's name */
    const char *content_type;
    const char *body; /* {t}: the tenant's name; NULL: no body */
    long status;
};

/* Copies text into out with every "{t}" replaced by name (no format strings:
 * the paths hold percent-escapes). */
static void fill(const char *text, const char *name, char *out, size_t cap)
{
    size_t n = 0;
    while (*text && n + 1 < cap) {
        if (strncmp(text, "{t}", 3) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", name);
            text += 3;
        } else {
            out[n++] = *text++;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

static void bad_input_never_harms(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Bad");
    const char *nul_name = "{\"organization_name\":\"ab\\u0000cd\",\"email\":\"n@b.co\","
                           "\"password\":\"12345678\"}";
    const struct bad cases[] = {
        /* create */
        {"POST", "/org/create", NULL, "{", 400},
        {"POST", "/org/create", NULL, "[]", 400},
        {"POST", "/org/create", NULL, "", 422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"abc\",\"email\":{\"$ne\":null},\"password\":\"12345678\"}", 400},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"a$b\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"a.b\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"system.x\",\"email\":\"n@b.co\",\"password\":\"12345678\"}",
         422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"../x\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"ab\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 422},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":"
         "\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\","
         "\"email\":\"n@b.co\",\"password\":\"12345678\"}",
         422},
        {"POST", "/org/create", NULL, "NUL", 400},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"{t}\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 409},
        {"POST", "/org/create", NULL,
         "{\"organization_name\":\"zzz\",\"email\":\"n@b.co\",\"password\":\"12345678\","
         "\"$where\":\"sleep(1000)\"}",
         422},
        {"POST", "/org/create", "text/plain",
         "{\"organization_name\":\"zzz\",\"email\":\"n@b.co\",\"password\":\"12345678\"}", 415},
        {"POST", "/org/create", "application/x-www-form-urlencoded",
         "organization_name=zzz&email=n@b.co&password=12345678", 415},
        {"POST", "/org/create", NULL, "BIG", 413},
        /* login */
        {"POST", "/admin/login", NULL, "{", 400},
        {"POST", "/admin/login", NULL, "{\"email\":{\"$ne\":null},\"password\":{\"$ne\":null}}",
         400},
        {"POST", "/admin/login", NULL, "{\"email\":\"a@b.co\"}", 422},
        {"POST", "/admin/login", "text/plain", "{\"email\":\"a@b.co\",\"password\":\"x\"}", 415},
        {"POST", "/admin/login", NULL, "BIG", 413},
        /* update */
        {"PUT", "/org/update", NULL, "{", 400},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":{\"$ne\":null}}", 400},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"a$b\"}", 422},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"a.b\"}", 422},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"system.x\"}", 422},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"../x\"}", 422},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"ab\"}", 422},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"ab\\u0000cd\"}", 400},
        {"PUT", "/org/update", NULL, "{\"new_organization_name\":\"create\"}", 422},
        {"PUT", "/org/update", NULL, "{\"password\":\"short\"}", 422},
        {"PUT", "/org/update", NULL, "{}", 422},
        {"PUT", "/org/update", NULL, "BIG", 413},
        {"PUT", "/org/update", "text/plain", "{\"new_organization_name\":\"zzz\"}", 415},
        {"PUT", "/org/update/a%2Fb", NULL, "{\"new_organization_name\":\"zzz\"}", 422},
        {"PUT", "/org/update/..%2Fx", NULL, "{\"new_organization_name\":\"zzz\"}", 422},
        {"PUT", "/org/update/ab%00cd", NULL, "{\"new_organization_name\":\"zzz\"}", 400},
        {"PUT", "/org/update/ab%zz", NULL, "{\"new_organization_name\":\"zzz\"}", 400},
        {"PUT", "/org/update/system.x", NULL, "{\"new_organization_name\":\"zzz\"}", 422},
        /* delete */
        {"DELETE", "/org/delete", NULL, "{", 400},
        {"DELETE", "/org/delete", NULL, NULL, 422},
        {"DELETE", "/org/delete", NULL, "{\"organization_name\":{\"$ne\":null}}", 400},
        {"DELETE", "/org/delete", NULL, "{\"organization_name\":\"a$b\"}", 422},
        {"DELETE", "/org/delete?organization_name=a%2Fb", NULL, NULL, 422},
        {"DELETE", "/org/delete?organization_name=x&organization_name=y", NULL, NULL, 400},
        {"DELETE", "/org/delete/a%2Fb", NULL, NULL, 422},
        {"DELETE", "/org/delete/{t}", NULL, "{\"organization_name\":\"someone-else\"}", 422},
        {"DELETE", "/org/delete/abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
         NULL, NULL, 422},
        {"DELETE", "/org/delete", NULL, "BIG", 413},
        {"DELETE", "/org/delete", "text/plain", "{\"organization_name\":\"{t}\"}", 415},
        /* get */
        {"GET", "/org/a%2Fb", NULL, NULL, 422},
        {"GET", "/org/a%24b", NULL, NULL, 422},
        {"GET", "/org/system.x", NULL, NULL, 422},
        {"GET", "/org/ab", NULL, NULL, 422},
        {"GET", "/org/get", NULL, NULL, 422},
        {"GET", "/org/get?organization_name=../x", NULL, NULL, 422},
        {"GET", "/org/get?organization_name=", NULL, NULL, 422},
        {"GET", "/org/get?organization_name=%00", NULL, NULL, 400},
        {"GET", "/org/does-not-exist-anywhere", NULL, NULL, 404},
    };
    char *big = malloc(1024 * 1024 + 1);
    memset(big, 'x', 1024 * 1024);
    big[0] = '{';
    big[1024 * 1024] = '\0';
    char *before = th_db_snapshot(&th_shared_orgd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad *c = &cases[i];
        char path[512], body[1024];
        fill(c->path, t.name, path, sizeof path);
        const char *b = NULL;
        size_t blen = 0;
        if (c->body != NULL && strcmp(c->body, "BIG") == 0) {
            b = big;
            blen = strlen(big);
        } else if (c->body != NULL && strcmp(c->body, "NUL") == 0) {
            b = nul_name;
            blen = strlen(nul_name);
        } else if (c->body != NULL) {
            fill(c->body, t.name, body, sizeof body);
            b = body;
            blen = strlen(body);
        }
        const char *token =
            strncmp(path, "/org/create", 11) == 0 || strncmp(path, "/admin/login", 12) == 0
                ? NULL
                : t.token;
        struct th_resp r;
        if (!th_http(&th_shared_orgd, c->method, path, token, c->content_type, b, blen, NULL, &r))
            fail_msg("case %zu (%s %s): no response", i, c->method, path);
        if (!th_is_problem(&r, c->status))
            fail_msg("case %zu: %s %s with %.60s", i, c->method, path, b ? b : "(no body)");
        th_resp_free(&r);
    }
    char *after = th_db_snapshot(&th_shared_orgd);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(big);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/healthz", NULL, NULL), 200);
    th_tenant_free(&t);
}

static void login_rehashes_when_parameters_change(void **state)
{
    (void)state;
    struct th_orgd weak;
    th_orgd_init(&weak, NULL);
    const char *env[] = {"ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", NULL};
    assert_true(th_orgd_start(&weak, env));
    char name[64], email[96], *token = NULL;
    th_unique("rehash", name, sizeof name);
    snprintf(email, sizeof email, "%s@example.com", name);
    assert_int_equal(th_create_org(&weak, name, email, TU_PASSWORD), 201);
    assert_int_equal(th_orgd_stop(&weak), 0);

    /* the same database, default parameters now */
    struct th_orgd strong = weak;
    assert_true(th_orgd_start(&strong, NULL));
    assert_int_equal(th_login(&strong, email, TU_PASSWORD, &token), 200);
    free(token);
    mongoc_client_t *c = th_db_client(&strong);
    mongoc_collection_t *admins = mongoc_client_get_collection(c, strong.db, "admins");
    bson_t *f = BCON_NEW("email", BCON_UTF8(email));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(admins, f, NULL, NULL);
    const bson_t *doc;
    assert_true(mongoc_cursor_next(cur, &doc));
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, doc, "password_hash"));
    const char *hash = bson_iter_utf8(&it, NULL);
    assert_int_equal(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    mongoc_collection_destroy(admins);
    mongoc_client_destroy(c);
    /* and the password still works */
    assert_int_equal(th_login(&strong, email, TU_PASSWORD, &token), 200);
    free(token);
    assert_int_equal(th_orgd_stop(&strong), 0);
}

/* Random requests from a fixed seed: whatever arrives, never a 5xx, and the
 * server stays up. */
static void random_requests_never_500(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Rand");
    const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    const char *paths[] = {"/org/create",  "/admin/login", "/auth/check", "/org/get",
                           "/org/update",  "/org/delete",  "/org/",       "/org/update/",
                           "/org/delete/", "/healthz",     "/readyz",     "/"};
    const char *pieces[] = {"{",
                            "}",
                            "[",
                            "]",
                            "\"",
                            ":",
                            ",",
                            "organization_name",
                            "new_organization_name",
                            "email",
                            "password",
                            "$ne",
                            "null",
                            "1e999",
                            "-0",
                            "\\u0000",
                            "\\ud800",
                            "\xff",
                            "true",
                            "a@b.co",
                            "%2F",
                            "%00",
                            "..",
                            "system.x",
                            "\n",
                            " "};
    unsigned seed = 12345;
    for (int i = 0; i < 400; i++) {
        char path[256], body[512];
        seed = seed * 1103515245u + 12345u;
        const char *m = methods[(seed >> 8) % 7];
        int pn = snprintf(path, sizeof path, "%s", paths[(seed >> 4) % 12]);
        size_t bl = 0;
        int parts = (int)((seed >> 16) % 12);
        for (int k = 0; k < parts; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *piece = pieces[(seed >> 8) % 26];
            if ((seed >> 20) % 3 == 0 && pn < 200)
                pn += snprintf(path + pn, sizeof path - (size_t)pn, "%s",
                               piece[0] == '\\' || piece[0] == '"' || piece[0] == ' ' ||
                                       piece[0] == '\n'
                                   ? "x"
                                   : piece);
            else if (bl + strlen(piece) < sizeof body)
                bl += (size_t)snprintf(body + bl, sizeof body - bl, "%s", piece);
        }
        struct th_resp r;
        const char *token = (seed & 1) ? t.token : NULL;
        if (!th_http(&th_shared_orgd, m, path, token, NULL, bl ? body : NULL, bl, NULL, &r))
            fail_msg("request %d (%s %s) got no response", i, m, path);
        if (r.status >= 500)
            fail_msg("request %d: %s %s %.*s -> %ld %s", i, m, path, (int)bl, body, r.status,
                     r.body);
        th_resp_free(&r);
    }
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/healthz", NULL, NULL), 200);
    th_tenant_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_flow),
        cmocka_unit_test(every_delete_form_works),
        cmocka_unit_test(duplicates_are_409_and_change_nothing),
        cmocka_unit_test(case_only_rename_works),
        cmocka_unit_test(another_orgs_admin_gets_403_and_changes_nothing),
        cmocka_unit_test(unknown_email_and_wrong_password_look_the_same),
        cmocka_unit_test(password_and_email_change),
        cmocka_unit_test(bad_tokens_are_401_with_www_authenticate),
        cmocka_unit_test(bad_input_never_harms),
        cmocka_unit_test(login_rehashes_when_parameters_change),
        cmocka_unit_test(random_requests_never_500),
    };
    return th_run_with_shared_orgd(tests);
}
