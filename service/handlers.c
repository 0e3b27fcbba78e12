#include "handlers.h"
#include "handlers-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts.h"
#include "orgs.h"
#include "requests.h"
#include "util.h"

atomic_bool handlers_draining = false;

json_t *handlers__time_json(int64_t ms)
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
                     "created_at", handlers__time_json(v->org.created_at), "updated_at",
                     handlers__time_json(v->org.updated_at));
}

bool handlers__authenticate(struct request *r, struct caller *who, struct error *e)
{
    const char *h = mg_get_header(r->conn, "Authorization");
    r->token_missing = true; /* until a token is found */
    if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
        return error_set(e, ERR_UNAUTHORIZED, "a bearer token is required");
    const char *token = h + 6;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    while (len > 0 && token[len - 1] == ' ')
        len--;
    if (len == 0)
        return error_set(e, ERR_UNAUTHORIZED, "a bearer token is required");
    r->token_missing = false;
    if (!sessions_authenticate(r->app, token, len, who, e)) {
        r->token_refused = true;
        return false;
    }
    snprintf(r->org_id, sizeof r->org_id, "%s", who->org.id);
    return true;
}

json_t *handlers__string_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

/* The answer to a sign-in or a refresh; org-scoped pairs (from
 * /admin/login) also carry `token` (the original service's key for the
 * access token), the org's name and the role held there. */
static json_t *pair_json(const struct token_pair *p, const struct org *org, enum role role)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:I}", "access_token", p->access_token,
                             "refresh_token", p->refresh_token, "token_type", "bearer",
                             "expires_in", (json_int_t)p->expires_in);
    if (body != NULL && org != NULL)
        json_object_update_new(body,
                               json_pack("{s:s, s:s, s:s}", "token", p->access_token,
                                         "organization_name", org->name, "role", role_name(role)));
    return body;
}

/* The {name} of the path, validated (422 otherwise). */
static bool path_name(struct request *r, struct error *e)
{
    if (names_org_valid(r->param, strlen(r->param), "organization_name", e))
        return true;
    return error_set(e, ERR_INVALID, "request validation failed");
}

static bool h_healthz(struct request *r, struct error *e)
{
    (void)e;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_send_bytes(r, "application/json", ok, sizeof ok - 1);
    return true;
}

static bool h_readyz(struct request *r, struct error *e)
{
    if (atomic_load(&handlers_draining)) {
        e->retry_after = 1;
        return error_set(e, ERR_UNAVAILABLE, "shutting down");
    }
    if (!store_ping(r->app->store, e))
        return false;
    http_send_json(r, 200, json_pack("{s:s}", "status", "ready"));
    return true;
}

static bool h_create(struct request *r, struct error *e)
{
    struct create_request req;
    struct org_view v;
    bool ok = request_create_parse(r->body, r->body_len, &req, e) &&
              orgs_create(r->app, &req, r->client, &v, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    snprintf(r->org_id, sizeof r->org_id, "%s", v.org.id);
    http_add_header(r, "Location", "/org/%s", v.org.name);
    http_send_json(r, 201, org_json(&v));
    return true;
}

static bool h_login(struct request *r, struct error *e)
{
    struct login_request req;
    struct login_result res;
    memset(&res, 0, sizeof res);
    bool ok = request_login_parse(r->body, r->body_len, true, &req, e) &&
              orgs_login(r->app, &req, r->client, &res, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    snprintf(r->org_id, sizeof r->org_id, "%s", res.org.id);
    http_send_json(r, 200, pair_json(&res.pair, &res.org, res.role));
    token_pair_wipe(&res.pair);
    return true;
}

static bool h_signup(struct request *r, struct error *e)
{
    struct signup_request req;
    struct admin a;
    bool ok = request_signup_parse(r->body, r->body_len, &req, e) &&
              accounts_signup(r->app, &req, r->client, &a, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    http_send_json(r, 201,
                   json_pack("{s:s, s:o, s:s, s:o}", "id", a.id, "username",
                             handlers__string_or_null(a.username), "email", a.email, "created_at",
                             handlers__time_json(a.created_at)));
    return true;
}

static bool h_signin(struct request *r, struct error *e)
{
    struct login_request req;
    struct token_pair pair;
    memset(&pair, 0, sizeof pair);
    bool ok = request_login_parse(r->body, r->body_len, false, &req, e) &&
              accounts_signin(r->app, &req, r->client, &pair, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    http_send_json(r, 200, pair_json(&pair, NULL, ROLE_MEMBER));
    token_pair_wipe(&pair);
    return true;
}

static bool h_refresh(struct request *r, struct error *e)
{
    char query_token[REFRESH_TOKEN_FIELD_MAX + 2];
    bool present = false;
    struct refresh_request req;
    struct refresh_result res;
    memset(&res, 0, sizeof res);
    bool ok =
        http_query_param(r->query, "refresh_token", query_token, sizeof query_token, &present, e) &&
        request_refresh_parse(r->body, r->body_len, present ? query_token : NULL, &req, e) &&
        sessions_refresh(r->app, req.refresh_token, req.len, r->client, r->arrived_ms, &res, e);
    explicit_bzero(query_token, sizeof query_token);
    explicit_bzero(&req, sizeof req);
    if (!ok)
        return false;
    http_send_json(r, 200, pair_json(&res.pair, res.scoped ? &res.org : NULL, res.role));
    token_pair_wipe(&res.pair);
    return true;
}

static bool h_logout(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) || !sessions_logout(r->app, &who, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

static json_t *session_json(const struct session *x, const char *current_id)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:b}", "id", x->id, "scope",
                     x->org_id[0] != '\0' ? "organization" : "account", "organization_id",
                     handlers__string_or_null(x->org_id), "client_address", x->client_address,
                     "created_at", handlers__time_json(x->created_at), "last_used_at",
                     handlers__time_json(x->last_used_at), "expires_at",
                     handlers__time_json(x->expires_at), "current", strcmp(x->id, current_id) == 0);
}

static bool h_sessions(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    struct session *list = calloc(SESSIONS_LIST_MAX, sizeof *list);
    size_t n = 0;
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = sessions_list(r->app, &who, list, SESSIONS_LIST_MAX, &n, e);
    json_t *items = ok ? json_array() : NULL;
    for (size_t i = 0; items != NULL && i < n; i++)
        json_array_append_new(items, session_json(&list[i], who.session.id));
    free(list);
    if (!ok)
        return false;
    http_send_json(r, 200, json_pack("{s:o}", "sessions", items));
    return true;
}

static bool h_session_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) || !sessions_revoke(r->app, &who, r->param, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

static bool h_password(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    struct password_request req;
    bool ok = request_password_parse(r->body, r->body_len, &req, e) &&
              accounts_change_password(r->app, &who, &req, r->client, e);
    secret_text_wipe(&req.current_password);
    secret_text_wipe(&req.new_password);
    if (!ok)
        return false;
    http_send_empty(r, 204);
    return true;
}

/* GET /auth/check: who am I. Reads the account, and for an org-scoped
 * token the org and the role held there now. */
static bool h_auth_check(struct request *r, struct error *e)
{
    struct caller who;
    struct org org;
    struct membership m;
    struct error le = ERROR_INIT;
    if (!handlers__authenticate(r, &who, e) || !sessions_load_account(r->app, &who, e))
        return false;
    if (who.scoped && (!store_org_by_id(r->app->store, who.org.id, &org, &le) ||
                       !store_membership_get(r->app->store, who.admin.id, who.org.id, &m, &le))) {
        if (!error_absent(e, &le))
            return false;
        r->token_refused = true;
        return error_set(e, ERR_UNAUTHORIZED, "token is no longer valid");
    }
    int64_t now = clock_now_ms() / 1000;
    json_t *jorg = who.scoped ? json_pack("{s:s, s:s, s:s}", "id", org.id, "organization_name",
                                          org.name, "collection_name", org.collection)
                              : json_null();
    json_t *role = who.scoped ? json_string(role_name(m.role)) : json_null();
    http_send_json(r, 200,
                   json_pack("{s:{s:s, s:s}, s:o, s:o, s:{s:s, s:s}, s:o, s:o, s:I}", "admin", "id",
                             who.admin.id, "email", who.admin.email, "organization", jorg, "role",
                             role, "session", "id", who.session.id, "scope",
                             who.scoped ? "organization" : "account", "issued_at",
                             handlers__time_json(who.claims.iat * 1000), "expires_at",
                             handlers__time_json(who.claims.exp * 1000), "expires_in",
                             (json_int_t)(who.claims.exp > now ? who.claims.exp - now : 0)));
    return true;
}

static bool get_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    struct org_view v;
    if (!handlers__authenticate(r, &who, e) || !orgs_get(r->app, &who, name, &v, e))
        return false;
    http_send_json(r, 200, org_json(&v));
    return true;
}

static bool h_org_get(struct request *r, struct error *e)
{
    return path_name(r, e) && get_org(r, r->param, e);
}

static bool h_org_get_query(struct request *r, struct error *e)
{
    char name[NAME_BUF + 1];
    bool present = false;
    if (!http_query_param(r->query, "organization_name", name, sizeof name, &present, e))
        return false;
    if (!present)
        error_field(e, "organization_name", "is required");
    else
        names_org_valid(name, strlen(name), "organization_name", e);
    if (e->nfields > 0)
        return error_set(e, ERR_INVALID, "request validation failed");
    return get_org(r, name, e);
}

static bool update_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    struct update_request req;
    struct org_view v;
    bool ok = request_update_parse(r->body, r->body_len, name, &req, e) &&
              orgs_update(r->app, &who, &req, r->client, &v, e);
    secret_text_wipe(&req.password);
    secret_text_wipe(&req.current_password);
    if (!ok)
        return false;
    http_send_json(r, 200, org_json(&v));
    return true;
}

static bool h_update(struct request *r, struct error *e)
{
    return update_org(r, NULL, e);
}

static bool h_update_name(struct request *r, struct error *e)
{
    /* the name is validated by the parser, with the body */
    return update_org(r, r->param, e);
}

static bool delete_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    char query_name[NAME_BUF + 1];
    bool present = false;
    struct delete_request req;
    if (!http_query_param(r->query, "organization_name", query_name, sizeof query_name, &present,
                          e) ||
        !request_delete_parse(r->body, r->body_len, name, present ? query_name : NULL, &req, e) ||
        !orgs_delete(r->app, &who, req.name, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

static bool h_delete(struct request *r, struct error *e)
{
    return delete_org(r, NULL, e);
}

static bool h_delete_name(struct request *r, struct error *e)
{
    return delete_org(r, r->param, e);
}

static bool (*const table[R_COUNT])(struct request *r, struct error *e) = {
    [R_HEALTHZ] = h_healthz,
    [R_HEALTH] = h_healthz,
    [R_READYZ] = h_readyz,
    [R_ORG_CREATE] = h_create,
    [R_LOGIN] = h_login,
    [R_AUTH_CHECK] = h_auth_check,
    [R_SIGNUP] = h_signup,
    [R_SIGNIN] = h_signin,
    [R_REFRESH] = h_refresh,
    [R_LOGOUT] = h_logout,
    [R_SESSIONS] = h_sessions,
    [R_SESSION_DELETE] = h_session_delete,
    [R_PASSWORD] = h_password,
    [R_TEAMS] = handlers_teams,
    [R_TEAM_CREATE] = handlers_team_create,
    [R_TEAM_GET] = handlers_team_get,
    [R_TEAM_UPDATE] = handlers_team_update,
    [R_TEAM_DELETE] = handlers_team_delete,
    [R_TEAM_INVITE] = handlers_team_invite,
    [R_TEAM_INVITATIONS] = handlers_team_invitations,
    [R_TEAM_INVITATION_DELETE] = handlers_team_invitation_delete,
    [R_TEAM_MEMBERS] = handlers_team_members,
    [R_TEAM_MEMBER_ROLE] = handlers_team_member_role,
    [R_TEAM_MEMBER_DELETE] = handlers_team_member_delete,
    [R_MY_INVITATIONS] = handlers_my_invitations,
    [R_INVITATION_ACCEPT] = handlers_invitation_accept,
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
    struct error e = ERROR_INIT;
    bool (*fn)(struct request *, struct error *) = table[r->route->id];
    if (fn == NULL)
        error_set(&e, ERR_NOT_FOUND, "no such route");
    if (fn == NULL || !fn(r, &e))
        http_send_problem(r, &e);
}
