/* handlers_auth.c — accounts and sessions: /auth/signup, /auth/signin,
 * /auth/refresh_token, /auth/logout, /auth/sessions, /auth/password and
 * /auth/check (who am I). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "accounts.h"
#include "handlers-private.h"
#include "requests.h"
#include "util.h"

bool handle_signup(struct request *r, struct error *e)
{
    struct signup_request req;
    struct account a;
    bool ok = request_signup_parse(r->body, r->body_len, &req, e) &&
              accounts_signup(r->app, &req, r->client, &a, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    /* message: what the account-first original answered, and its clients read */
    http_send_json(r, 201,
                   json_pack("{s:s, s:o, s:s, s:b, s:o, s:s}", "id", a.id, "username",
                             handlers__string_or_null(a.username), "email", a.email,
                             "email_verified", a.email_verified, "created_at",
                             handlers__time_json(a.created_at), "message", "account created"));
    return true;
}

bool handle_signin(struct request *r, struct error *e)
{
    struct login_request req;
    struct token_pair pair;
    memset(&pair, 0, sizeof pair);
    bool ok = request_login_parse(r->body, r->body_len, false, &req, e) &&
              accounts_signin(r->app, &req, r->client, &pair, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    http_send_json(r, 200, handlers__pair_json(&pair, NULL, ROLE_MEMBER));
    token_pair_wipe(&pair);
    return true;
}

bool handle_refresh(struct request *r, struct error *e)
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
    http_send_json(r, 200, handlers__pair_json(&res.pair, res.scoped ? &res.org : NULL, res.role));
    token_pair_wipe(&res.pair);
    return true;
}

bool handle_logout(struct request *r, struct error *e)
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

bool handle_sessions(struct request *r, struct error *e)
{
    struct caller who;
    struct page_request page;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e))
        return false;
    size_t limit = (size_t)page.limit, n = 0;
    /* one more than the page: there is a next page only if it came */
    struct session *list = calloc(limit + 1, sizeof *list);
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = sessions_list(r->app, &who, page.cursor, list, limit + 1, &n, e);
    char next[ID_BUF] = "";
    if (ok && n > limit) {
        n = limit;
        memcpy(next, list[n - 1].id, ID_BUF);
    }
    json_t *items = ok ? json_array() : NULL;
    for (size_t i = 0; items != NULL && i < n; i++)
        json_array_append_new(items, session_json(&list[i], who.session.id));
    free(list);
    if (ok)
        handlers__send_page(r, items, next, &page);
    return ok;
}

bool handle_session_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) || !sessions_revoke(r->app, &who, r->param, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_password(struct request *r, struct error *e)
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

/* GET /auth/check (and /auth/test_auth): who am I. Reads the account, and
 * for an org-scoped token the org and the role held there now, through
 * the one admission rule; an org or a membership that went makes the
 * token no longer valid. */
bool handle_auth_check(struct request *r, struct error *e)
{
    struct caller who;
    struct org_described org;
    struct membership m;
    if (!handlers__authenticate(r, &who, e) || !sessions_load_account(r->app, &who, e))
        return false;
    const struct access_ref ref = {.id = who.org.id};
    if (who.scoped && !access_org(r->app, &who, &ref, ACCESS_WHOAMI, &org, &m, e)) {
        if (e->kind != ERR_NOT_FOUND && e->kind != ERR_FORBIDDEN)
            return false;
        error_clear(e);
        r->token_refused = true;
        return error_set(e, ERR_UNAUTHORIZED, "token is no longer valid");
    }
    int64_t now = clock_now_ms() / 1000;
    json_t *jorg = who.scoped ? json_pack("{s:s, s:s, s:s}", "id", org.org.id, "organization_name",
                                          org.org.name, "collection_name", org.org.collection)
                              : json_null();
    json_t *role = who.scoped ? json_string(role_name(m.role)) : json_null();
    http_send_json(r, 200,
                   json_pack("{s:{s:s, s:s, s:b}, s:o, s:o, s:{s:s, s:s}, s:o, s:o, s:I}", "admin",
                             "id", who.account.id, "email", who.account.email, "email_verified",
                             who.account.email_verified, "organization", jorg, "role", role,
                             "session", "id", who.session.id, "scope",
                             who.scoped ? "organization" : "account", "issued_at",
                             handlers__time_json(who.claims.iat * 1000), "expires_at",
                             handlers__time_json(who.claims.exp * 1000), "expires_in",
                             (json_int_t)(who.claims.exp > now ? who.claims.exp - now : 0)));
    return true;
}
