#include "handlers.h"
#include "handlers-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "events.h"
#include "requests.h"
#include "util.h"

atomic_bool handlers_draining = false;

json_t *handlers__time_json(int64_t ms)
{
    char text[CLOCK_TEXT_BUF];
    clock_rfc3339(ms, text);
    return json_string(text);
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

bool handlers__page(struct request *r, struct page_request *page, struct error *e)
{
    char limit[16], cursor[64];
    bool has_limit = false, has_cursor = false;
    return http_query_param(r->query, "limit", limit, sizeof limit, &has_limit, e) &&
           http_query_param(r->query, "cursor", cursor, sizeof cursor, &has_cursor, e) &&
           request_page_parse(has_limit ? limit : NULL, has_cursor ? cursor : NULL, page, e);
}

void handlers__send_page(struct request *r, json_t *items, const char *next,
                         const struct page_request *page)
{
    /* the path as routed (decoded: an id in it was checked to be one), the
     * limit, the cursor and the list's checked filter; nothing else of the
     * request goes into the header */
    if (next[0] != '\0')
        http_add_header(r, "Link", "<%s?limit=%d&cursor=%s%s%s>; rel=\"next\"", r->ri->local_uri,
                        page->limit, next, page->filter[0] != '\0' ? "&" : "", page->filter);
    http_send_json(r, 200, items);
}

json_t *handlers__string_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

/* The answer to a sign-in or a refresh; org-scoped pairs (from
 * /admin/login) also carry `token` (the original service's key for the
 * access token), the org's name and the role held there. */
json_t *handlers__pair_json(const struct token_pair *p, const struct org *org, enum role role)
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

static bool (*const table[R_COUNT])(struct request *r, struct error *e) = {
    [R_HEALTHZ] = handle_healthz,
    [R_HEALTH] = handle_health,
    [R_JWKS] = handle_jwks,
    [R_ORGANIZATION_EVENTS] = handle_organization_events,
    [R_ORG_EVENTS] = handle_org_events,
    [R_AUTH_EVENTS] = handle_auth_events,
    [R_WEBHOOKS_CREATE] = handle_webhooks_create,
    [R_WEBHOOKS_LIST] = handle_webhooks_list,
    [R_WEBHOOK_GET] = handle_webhook_get,
    [R_WEBHOOK_UPDATE] = handle_webhook_update,
    [R_WEBHOOK_DELETE] = handle_webhook_delete,
    [R_WEBHOOK_DELIVERIES] = handle_webhook_deliveries,
    [R_WEBHOOK_TEST] = handle_webhook_test,
    [R_DELIVERY_REDELIVER] = handle_delivery_redeliver,
    [R_PASSWORD_FORGOT] = handle_password_forgot,
    [R_PASSWORD_RESET] = handle_password_reset,
    [R_EMAIL_VERIFY] = handle_email_verify,
    [R_EMAIL_VERIFY_RESEND] = handle_email_verify_resend,
    [R_INVITATION_RESEND] = handle_invitation_resend,
    [R_PAGE_INVITATION] = handle_page_invitation,
    [R_PAGE_INVITATION_POST] = handle_page_invitation_post,
    [R_PAGE_RESET] = handle_page_reset,
    [R_PAGE_RESET_POST] = handle_page_reset_post,
    [R_PAGE_VERIFY] = handle_page_verify,
    [R_PAGE_VERIFY_POST] = handle_page_verify_post,
    [R_READYZ] = handle_readyz,
    [R_ORG_CREATE] = handle_org_create,
    [R_LOGIN] = handle_login,
    [R_AUTH_CHECK] = handle_auth_check,
    [R_AUTH_TEST] = handle_auth_check,
    [R_SIGNUP] = handle_signup,
    [R_SIGNIN] = handle_signin,
    [R_REFRESH] = handle_refresh,
    [R_LOGOUT] = handle_logout,
    [R_SESSIONS] = handle_sessions,
    [R_SESSION_DELETE] = handle_session_delete,
    [R_PASSWORD] = handle_password,
    [R_ORGANIZATION_LIST] = handle_organization_list,
    [R_ORGANIZATION_CREATE] = handle_organization_create,
    [R_ORGANIZATION_GET] = handle_organization_get,
    [R_ORGANIZATION_UPDATE] = handle_organization_update,
    [R_ORGANIZATION_DELETE] = handle_organization_delete,
    [R_ORGANIZATION_INVITE] = handle_invite,
    [R_ORGANIZATION_INVITATIONS] = handle_invitations,
    [R_ORGANIZATION_INVITATION_DELETE] = handle_invitation_delete,
    [R_ORGANIZATION_MEMBERS] = handle_members,
    [R_ORGANIZATION_MEMBER_ROLE] = handle_member_role,
    [R_ORGANIZATION_MEMBER_DELETE] = handle_member_delete,
    [R_MY_INVITATIONS] = handle_my_invitations,
    [R_INVITATION_ACCEPT] = handle_invitation_accept,
    [R_ORG_GET_QUERY] = handle_org_get_query,
    [R_ORG_GET] = handle_org_get,
    [R_ORG_UPDATE] = handle_org_update,
    [R_ORG_UPDATE_NAME] = handle_org_update_name,
    [R_ORG_DELETE] = handle_org_delete,
    [R_ORG_DELETE_NAME] = handle_org_delete_name,
    [R_METRICS] = handle_metrics,
    [R_OPENAPI] = handle_openapi,
    [R_DOCS] = handle_docs,
    [R_DOCS_ASSET] = handle_docs_asset,
};

void handlers_run(struct request *r)
{
    struct error e = ERROR_INIT;
    bool (*fn)(struct request *, struct error *) = table[r->route->id];
    if (fn == NULL)
        error_set(&e, ERR_NOT_FOUND, "no such route");
    /* the events this request writes name it and its client */
    events_context_set(r->request_id, r->client);
    if (fn == NULL || !fn(r, &e))
        http_send_problem(r, &e);
    events_context_clear();
}
