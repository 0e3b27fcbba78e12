#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "orgs.h"
#include "requests.h"
#include "util.h"

atomic_bool handlers_draining = false;

static void fail_with(struct request *r, struct error *e)
{
    http_send_problem(r, e);
}

static json_t *time_json(int64_t ms)
{
    char text[CLOCK_TEXT_BUF];
    clock_rfc3339(ms, text);
    return json_string(text);
}

static json_t *org_json(const struct org_view *v)
{
    json_t *admin = json_pack("{s:s, s:s}", "id", v->owner.id, "email", v->owner.email);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "id", v->org.id, "organization_name",
                     v->org.name, "collection_name", v->org.collection, "admin", admin,
                     "created_at", time_json(v->org.created_at), "updated_at",
                     time_json(v->org.updated_at));
}

/* Bearer authentication; on failure the 401 is sent and false returned. */
static bool authenticate(struct request *r, struct caller *who)
{
    struct error e;
    error_clear(&e);
    const char *h = mg_get_header(r->conn, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0')) {
        http_fail(r, ERR_UNAUTHORIZED, "a bearer token is required");
        return false;
    }
    const char *token = h + 6;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    while (len > 0 && token[len - 1] == ' ')
        len--;
    if (len == 0) {
        http_fail(r, ERR_UNAUTHORIZED, "a bearer token is required");
        return false;
    }
    if (!orgs_authenticate(r->core, token, len, who, &e)) {
        if (e.kind == ERR_UNAUTHORIZED || e.kind == ERR_MALFORMED)
            http_add_header(r, "WWW-Authenticate",
                            "Bearer realm=\"orgd\", error=\"%s\", error_description=\"%s\"",
                            e.kind == ERR_MALFORMED ? "invalid_request" : "invalid_token",
                            e.message);
        fail_with(r, &e);
        return false;
    }
    snprintf(r->org_id, sizeof r->org_id, "%s", who->org.id);
    return true;
}

/* The {name} of the path, validated; NULL (and a 422 sent) if invalid. */
static const char *path_name(struct request *r)
{
    struct error e;
    error_clear(&e);
    if (!names_org_valid(r->param, strlen(r->param), "organization_name", &e)) {
        error_set(&e, ERR_INVALID, "request validation failed");
        fail_with(r, &e);
        return NULL;
    }
    return r->param;
}

static void h_healthz(struct request *r)
{
    http_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(struct request *r)
{
    struct error e;
    error_clear(&e);
    if (atomic_load(&handlers_draining)) {
        e.retry_after = 1;
        error_set(&e, ERR_UNAVAILABLE, "shutting down");
        fail_with(r, &e);
        return;
    }
    if (!store_ping(r->core->store, &e)) {
        fail_with(r, &e);
        return;
    }
    http_send_json(r, 200, json_pack("{s:s}", "status", "ready"));
}

static void h_create(struct request *r)
{
    struct error e;
    error_clear(&e);
    struct create_request req;
    struct org_view v;
    bool ok = request_create_parse(r->body, r->body_len, &req, &e) &&
              orgs_create(r->core, &req, &v, &e);
    secret_text_wipe(&req.password);
    if (!ok) {
        fail_with(r, &e);
        return;
    }
    snprintf(r->org_id, sizeof r->org_id, "%s", v.org.id);
    http_add_header(r, "Location", "/org/%s", v.org.name);
    http_send_json(r, 201, org_json(&v));
}

static void h_login(struct request *r)
{
    struct error e;
    error_clear(&e);
    struct login_request req;
    struct login_result res;
    memset(&res, 0, sizeof res);
    bool ok = request_login_parse(r->body, r->body_len, &req, &e) &&
              orgs_login(r->core, &req, &res, &e);
    secret_text_wipe(&req.password);
    if (!ok) {
        fail_with(r, &e);
        return;
    }
    snprintf(r->org_id, sizeof r->org_id, "%s", res.org.id);
    http_send_json(r, 200,
                   json_pack("{s:s, s:s, s:I, s:s, s:s}", "access_token", res.access_token,
                             "token_type", "bearer", "expires_in", (json_int_t)res.expires_in,
                             "organization_name", res.org.name, "role", role_name(res.role)));
    explicit_bzero(res.access_token, strlen(res.access_token));
    free(res.access_token);
}

static void h_auth_check(struct request *r)
{
    struct caller who;
    if (!authenticate(r, &who))
        return;
    int64_t now = clock_now_ms() / 1000;
    http_send_json(
        r, 200,
        json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:o, s:o, s:I}", "admin", "id",
                  who.admin.id, "email", who.admin.email, "organization", "id", who.org.id,
                  "organization_name", who.org.name, "collection_name", who.org.collection,
                  "role", role_name(who.membership.role), "issued_at",
                  time_json(who.claims.iat * 1000), "expires_at", time_json(who.claims.exp * 1000),
                  "expires_in", (json_int_t)(who.claims.exp > now ? who.claims.exp - now : 0)));
}

static void get_org(struct request *r, const char *name)
{
    struct caller who;
    if (!authenticate(r, &who))
        return;
    struct error e;
    error_clear(&e);
    struct org_view v;
    if (!orgs_get(r->core, &who, name, &v, &e)) {
        fail_with(r, &e);
        return;
    }
    http_send_json(r, 200, org_json(&v));
}

static void h_org_get(struct request *r)
{
    const char *name = path_name(r);
    if (name != NULL)
        get_org(r, name);
}

static void h_org_get_query(struct request *r)
{
    struct error e;
    error_clear(&e);
    char name[NAME_BUF + 1];
    bool present = false;
    if (!http_query_param(r->query, "organization_name", name, sizeof name, &present, &e)) {
        fail_with(r, &e);
        return;
    }
    if (!present) {
        error_field(&e, "organization_name", "is required");
        error_set(&e, ERR_INVALID, "request validation failed");
        fail_with(r, &e);
        return;
    }
    if (!names_org_valid(name, strlen(name), "organization_name", &e)) {
        error_set(&e, ERR_INVALID, "request validation failed");
        fail_with(r, &e);
        return;
    }
    get_org(r, name);
}

static void update_org(struct request *r, const char *name)
{
    struct caller who;
    if (!authenticate(r, &who))
        return;
    struct error e;
    error_clear(&e);
    struct update_request req;
    struct org_view v;
    bool ok = request_update_parse(r->body, r->body_len, name, &req, &e) &&
              orgs_update(r->core, &who, &req, &v, &e);
    secret_text_wipe(&req.password);
    if (!ok) {
        fail_with(r, &e);
        return;
    }
    http_send_json(r, 200, org_json(&v));
}

static void h_update(struct request *r)
{
    update_org(r, NULL);
}

static void h_update_name(struct request *r)
{
    /* the name is validated by the parser, with the body */
    update_org(r, r->param);
}

static void delete_org(struct request *r, const char *name)
{
    struct caller who;
    if (!authenticate(r, &who))
        return;
    struct error e;
    error_clear(&e);
    char query_name[NAME_BUF + 1];
    bool present = false;
    struct delete_request req;
    if (!http_query_param(r->query, "organization_name", query_name, sizeof query_name, &present,
                          &e) ||
        !request_delete_parse(r->body, r->body_len, name, present ? query_name : NULL, &req, &e) ||
        !orgs_delete(r->core, &who, req.name, &e)) {
        fail_with(r, &e);
        return;
    }
    http_send_empty(r, 204);
}

static void h_delete(struct request *r)
{
    delete_org(r, NULL);
}

static void h_delete_name(struct request *r)
{
    delete_org(r, r->param);
}

static void (*const table[R_COUNT])(struct request *r) = {
    [R_HEALTHZ] = h_healthz,
    [R_HEALTH] = h_healthz,
    [R_READYZ] = h_readyz,
    [R_ORG_CREATE] = h_create,
    [R_LOGIN] = h_login,
    [R_AUTH_CHECK] = h_auth_check,
    [R_ORG_GET_QUERY] = h_org_get_query,
    [R_ORG_GET] = h_org_get,
    [R_ORG_UPDATE] = h_update,
    [R_ORG_UPDATE_NAME] = h_update_name,
    [R_ORG_DELETE] = h_delete,
    [R_ORG_DELETE_NAME] = h_delete_name,
    [R_METRICS] = handlers_metrics,
    [R_OPENAPI] = handlers_openapi,
    [R_DOCS] = handlers_docs,
    [R_DOCS_ASSET] = handlers_docs_asset,
};

void handlers_run(struct request *r)
{
    void (*fn)(struct request *) = table[r->route->id];
    if (fn == NULL)
        http_fail(r, ERR_NOT_FOUND, "no such route");
    else
        fn(r);
}
