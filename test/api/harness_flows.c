/* harness_flows.c — the org-first and account-first flows, and what a
 * session's tokens answer: see harness_flows.h. */
#include "harness_flows.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cjose/cjose.h>
#include <cmocka.h>

#include "testutil.h"

long th_create_org(const struct th_orgd *o, const char *name, const char *email,
                   const char *password)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email, "password",
                          password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/org/create", NULL, body, &r) ? r.status : -1;
    free(body);
    th_resp_free(&r);
    return status;
}

long th_login(const struct th_orgd *o, const char *email, const char *password, char **token)
{
    *token = NULL;
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/admin/login", NULL, body, &r) ? r.status : -1;
    if (status == 200)
        *token = strdup(json_string_value(json_object_get(r.json, "access_token")));
    free(body);
    th_resp_free(&r);
    return status;
}

long th_signup(const struct th_orgd *o, const char *email, const char *password)
{
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    long status = th_status_of(o, "POST", "/auth/signup", NULL, body);
    free(body);
    return status;
}

/* On a 200 with both tokens, copies them into t; otherwise fails the test. */
static void tokens_of(const struct th_resp *r, struct th_tokens *t)
{
    const char *access = json_string_value(json_object_get(r->json, "access_token"));
    const char *refresh = json_string_value(json_object_get(r->json, "refresh_token"));
    if (access == NULL || refresh == NULL || strlen(access) >= sizeof t->access ||
        strlen(refresh) >= sizeof t->refresh)
        fail_msg("a 200 without a usable token pair: %.300s", r->body);
    snprintf(t->access, sizeof t->access, "%s", access);
    snprintf(t->refresh, sizeof t->refresh, "%s", refresh);
}

long th_signin_at(const struct th_orgd *o, const char *route, const char *email,
                  const char *password, struct th_tokens *t)
{
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", route, NULL, body, &r) ? r.status : -1;
    free(body);
    if (status == 200)
        tokens_of(&r, t);
    th_resp_free(&r);
    return status;
}

long th_signin(const struct th_orgd *o, const char *email, const char *password,
               struct th_tokens *t)
{
    return th_signin_at(o, "/auth/signin", email, password, t);
}

long th_refresh(const struct th_orgd *o, const char *refresh, struct th_tokens *t)
{
    json_t *j = json_pack("{s:s}", "refresh_token", refresh);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/auth/refresh_token", NULL, body, &r) ? r.status : -1;
    free(body);
    if (status == 200)
        tokens_of(&r, t);
    th_resp_free(&r);
    return status;
}

void th_signup_ok(const struct th_orgd *o, const char *email, const char *password)
{
    long status = th_signup(o, email, password);
    if (status != 201)
        fail_msg("sign-up of %s answered %ld", email, status);
}

void th_signin_ok(const struct th_orgd *o, const char *email, const char *password,
                  struct th_tokens *t)
{
    long status = th_signin(o, email, password, t);
    if (status != 200)
        fail_msg("sign-in of %s answered %ld", email, status);
}

void th_signup_fresh(const struct th_orgd *o, const char *prefix, char *email, size_t cap)
{
    th_fresh_email(prefix, email, cap);
    th_signup_ok(o, email, TU_PASSWORD);
}

void th_account_id_of(const struct th_orgd *o, const char *access, char *out, size_t cap)
{
    json_t *j = th_expect_json(o, "GET", "/auth/check", access, NULL, 200);
    snprintf(out, cap, "%s", th_json_str(json_object_get(j, "admin"), "id"));
    json_decref(j);
}

void th_account_new(const struct th_orgd *o, const char *prefix, struct th_account *a)
{
    memset(a, 0, sizeof *a);
    th_signup_fresh(o, prefix, a->email, sizeof a->email);
    th_signin_ok(o, a->email, TU_PASSWORD, &a->t);
    th_account_id_of(o, a->t.access, a->id, sizeof a->id);
}

void th_org_new(const struct th_orgd *o, const char *token, const char *prefix, char id[32],
                char name[64])
{
    th_unique(prefix, name, 64);
    json_t *j =
        th_expect_json(o, "POST", "/organization/", token, json_pack("{s:s}", "name", name), 201);
    snprintf(id, 32, "%s", th_json_str(j, "id"));
    assert_string_equal(th_json_str(j, "name"), name);
    assert_string_equal(th_json_str(j, "role"), "owner");
    json_decref(j);
}

json_t *th_invite_answer(const struct th_orgd *o, const char *token, const char *org_id,
                         const char *email, const char *role, struct th_invitation *out)
{
    char path[128];
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    json_t *body = role ? json_pack("{s:s, s:s}", "email", email, "role", role)
                        : json_pack("{s:s}", "email", email);
    json_t *j = th_expect_json(o, "POST", path, token, body, 201);
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", th_json_str(j, "id"));
    snprintf(out->token, sizeof out->token, "%s", th_json_str(j, "token"));
    snprintf(out->email, sizeof out->email, "%s", th_json_str(j, "email"));
    return j;
}

void th_invite(const struct th_orgd *o, const char *token, const char *org_id, const char *email,
               const char *role, struct th_invitation *out)
{
    json_decref(th_invite_answer(o, token, org_id, email, role, out));
}

void th_member_new(const struct th_orgd *o, const char *owner_token, const char *org_id,
                   const char *role, const char *prefix, struct th_account *a)
{
    memset(a, 0, sizeof *a);
    th_fresh_email(prefix, a->email, sizeof a->email);
    struct th_invitation inv;
    th_invite(o, owner_token, org_id, a->email, role, &inv);
    json_t *j =
        th_expect_json(o, "POST", "/invitations/accept", NULL,
                       json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD), 200);
    assert_string_equal(th_json_str(j, "organization_id"), org_id);
    assert_string_equal(th_json_str(j, "role"), role ? role : "member");
    assert_string_equal(th_json_str(j, "email"), a->email);
    assert_true(json_is_true(json_object_get(j, "account_created")));
    snprintf(a->id, sizeof a->id, "%s", th_json_str(j, "account_id"));
    json_decref(j);
    th_signin_ok(o, a->email, TU_PASSWORD, &a->t);
}

void th_admin_login_ok(const struct th_orgd *o, const char *email, const char *password,
                       struct th_tokens *t)
{
    long status = th_signin_at(o, "/admin/login", email, password, t);
    if (status != 200)
        fail_msg("/admin/login of %s answered %ld", email, status);
}

void th_org_login(const struct th_orgd *o, const struct th_account *a, const char *org_name,
                  struct th_tokens *t)
{
    json_t *j = th_expect_json(o, "POST", "/admin/login", NULL,
                               json_pack("{s:s, s:s, s:s}", "email", a->email, "password",
                                         TU_PASSWORD, "organization_name", org_name),
                               200);
    snprintf(t->access, sizeof t->access, "%s", th_json_str(j, "access_token"));
    snprintf(t->refresh, sizeof t->refresh, "%s", th_json_str(j, "refresh_token"));
    json_decref(j);
}

void th_expect_alive(const struct th_orgd *o, const char *access)
{
    struct th_resp r;
    assert_true(th_http_json(o, "GET", "/auth/check", access, NULL, &r));
    if (r.status != 200)
        fail_msg("a live session's token answered %ld: %s", r.status, r.body);
    th_resp_free(&r);
}

void th_expect_refused(const struct th_orgd *o, const char *access)
{
    struct th_resp r;
    assert_true(th_http_json(o, "GET", "/auth/check", access, NULL, &r));
    if (!th_is_problem(&r, 401))
        fail_msg("an ended session's token still answers %ld", r.status);
    char www[256];
    assert_true(th_resp_header(&r, "WWW-Authenticate", www, sizeof www));
    assert_int_equal(strncmp(www, "Bearer", 6), 0);
    th_resp_free(&r);
}

void th_session_of(const struct th_orgd *o, const char *access, char *out, size_t cap)
{
    struct th_resp r;
    assert_true(th_http_json(o, "GET", "/auth/check", access, NULL, &r));
    assert_int_equal(r.status, 200);
    const char *id = json_string_value(json_object_get(json_object_get(r.json, "session"), "id"));
    if (id == NULL || strlen(id) != 24)
        fail_msg("/auth/check names no session: %s", r.body);
    snprintf(out, cap, "%s", id);
    th_resp_free(&r);
}

long th_refresh_status(const struct th_orgd *o, const char *refresh)
{
    struct th_tokens scratch;
    return th_refresh(o, refresh, &scratch);
}

void th_expect_refresh_of(const char *refresh, const char *session_id)
{
    bool b64url = strlen(refresh) == 59;
    for (const char *p = refresh; b64url && *p; p++)
        b64url = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_';
    if (!b64url)
        fail_msg("not a 59-character base64url refresh token: %s", refresh);
    uint8_t *sid = NULL;
    size_t sid_len = 0;
    cjose_err err;
    if (!cjose_base64url_decode(refresh, 16, &sid, &sid_len, &err))
        fail_msg("a refresh token whose session id is not base64url: %s", refresh);
    char hex[25] = "";
    for (size_t i = 0; i < sid_len && i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", sid[i]);
    cjose_get_dealloc()(sid);
    assert_int_equal(sid_len, 12);
    assert_string_equal(hex, session_id);
}

json_t *th_jwt_claims(const char *jwt)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL)
        fail_msg("not a JWT: %.100s", jwt);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    if (!cjose_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &raw_len, &err))
        fail_msg("a JWT whose payload is not base64url: %.100s", jwt);
    json_t *claims = json_loadb((const char *)raw, raw_len, 0, NULL);
    cjose_get_dealloc()(raw);
    if (!json_is_object(claims))
        fail_msg("a JWT whose payload is no JSON object: %.100s", jwt);
    return claims;
}

void th_tenant_new(const struct th_orgd *o, struct th_tenant *t, const char *prefix)
{
    memset(t, 0, sizeof *t);
    th_unique(prefix, t->name, sizeof t->name);
    snprintf(t->email, sizeof t->email, "%s@example.com", t->name);
    th_lower(t->email);
    long created = th_create_org(o, t->name, t->email, TU_PASSWORD);
    long logged_in = created == 201 ? th_login(o, t->email, TU_PASSWORD, &t->token) : 0;
    if (created != 201 || logged_in != 200)
        fail_msg("tenant %s: create answered %ld, login %ld", t->name, created, logged_in);
    struct th_resp r;
    if (!th_http_json(o, "GET", "/auth/check", t->token, NULL, &r) || r.status != 200)
        fail_msg("tenant %s: /auth/check answered %ld", t->name, r.status);
    const char *org_id =
        json_string_value(json_object_get(json_object_get(r.json, "organization"), "id"));
    const char *admin_id =
        json_string_value(json_object_get(json_object_get(r.json, "admin"), "id"));
    if (org_id == NULL || admin_id == NULL)
        fail_msg("tenant %s: /auth/check lacks the ids: %s", t->name, r.body);
    snprintf(t->id, sizeof t->id, "%s", org_id);
    snprintf(t->admin_id, sizeof t->admin_id, "%s", admin_id);
    th_resp_free(&r);
}

void th_tenant_free(struct th_tenant *t)
{
    free(t->token);
    t->token = NULL;
}

void th_collection_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "org_%s", name);
    th_lower(out);
}

/* ---- lists ---- */

json_t *th_list_page(const struct th_orgd *o, const char *path, const char *token, char *next,
                     size_t cap)
{
    struct th_resp r;
    if (!th_http_json(o, "GET", path, token, NULL, &r))
        fail_msg("no answer to GET %s", path);
    if (r.status != 200 || !json_is_array(r.json))
        fail_msg("GET %s answered %ld, not a list: %s", path, r.status, r.body);
    char link[1024];
    next[0] = '\0';
    if (th_resp_header(&r, "Link", link, sizeof link)) {
        static const char rel[] = ">; rel=\"next\"";
        size_t len = strlen(link), rlen = sizeof rel - 1;
        if (link[0] != '<' || len <= rlen + 1 || strcmp(link + len - rlen, rel) != 0 ||
            len - rlen - 1 >= cap)
            fail_msg("GET %s: Link is not <...>; rel=\"next\": %s", path, link);
        snprintf(next, cap, "%.*s", (int)(len - rlen - 1), link + 1);
        if (strstr(next, "cursor=") == NULL)
            fail_msg("GET %s: the next page's address has no cursor: %s", path, next);
    }
    json_t *items = json_incref(r.json);
    th_resp_free(&r);
    return items;
}

json_t *th_list_all(const struct th_orgd *o, const char *path, const char *token, size_t *pages)
{
    json_t *all = json_array();
    char at[1024];
    snprintf(at, sizeof at, "%s", path);
    size_t n = 0;
    for (; at[0] != '\0'; n++) {
        if (n == 1000)
            fail_msg("GET %s: more than 1000 pages", path);
        char next[1024];
        json_t *page = th_list_page(o, at, token, next, sizeof next);
        if (json_array_size(page) == 0 && next[0] != '\0')
            fail_msg("GET %s: an empty page with a next one", at);
        json_array_extend(all, page);
        json_decref(page);
        snprintf(at, sizeof at, "%s", next);
    }
    if (pages != NULL)
        *pages = n;
    return all;
}
