#include "routes.h"

#include <stdio.h>
#include <string.h>

const struct route routes[] = {
    {R_HEALTHZ, "GET", "/healthz", NO_BODY},
    {R_HEALTH, "GET", "/health", NO_BODY},
    {R_READYZ, "GET", "/readyz", NO_BODY},
    {R_JWKS, "GET", "/.well-known/jwks.json", NO_BODY},
    {R_ORG_CREATE, "POST", "/org/create", JSON_BODY},
    {R_LOGIN, "POST", "/admin/login", JSON_BODY},
    {R_AUTH_CHECK, "GET", "/auth/check", NO_BODY},
    {R_AUTH_TEST, "GET", "/auth/test_auth", NO_BODY},
    {R_SIGNUP, "POST", "/auth/signup", JSON_BODY},
    {R_SIGNIN, "POST", "/auth/signin", JSON_BODY},
    {R_REFRESH, "POST", "/auth/refresh_token", JSON_BODY},
    {R_LOGOUT, "POST", "/auth/logout", NO_BODY},
    {R_SESSIONS, "GET", "/auth/sessions", NO_BODY},
    {R_SESSION_DELETE, "DELETE", "/auth/sessions/{id}", NO_BODY},
    {R_PASSWORD, "PUT", "/auth/password", JSON_BODY},
    {R_ORGANIZATION_LIST, "GET", "/organization/", NO_BODY},
    {R_ORGANIZATION_CREATE, "POST", "/organization/", JSON_BODY},
    {R_ORGANIZATION_GET, "GET", "/organization/{id}", NO_BODY},
    {R_ORGANIZATION_UPDATE, "PUT", "/organization/{id}", JSON_BODY},
    {R_ORGANIZATION_DELETE, "DELETE", "/organization/{id}", NO_BODY},
    {R_ORGANIZATION_INVITE, "POST", "/organization/{id}/invite", JSON_BODY},
    {R_ORGANIZATION_INVITATIONS, "GET", "/organization/{id}/invitations", NO_BODY},
    {R_ORGANIZATION_INVITATION_DELETE, "DELETE", "/organization/{id}/invitations/{invitation_id}",
     NO_BODY},
    {R_ORGANIZATION_MEMBERS, "GET", "/organization/{id}/members", NO_BODY},
    {R_ORGANIZATION_MEMBER_ROLE, "PATCH", "/organization/{id}/members/{account_id}", JSON_BODY},
    {R_ORGANIZATION_MEMBER_DELETE, "DELETE", "/organization/{id}/members/{account_id}", NO_BODY},
    {R_MY_INVITATIONS, "GET", "/invitations", NO_BODY},
    {R_ORGANIZATION_EVENTS, "GET", "/organization/{id}/events", NO_BODY},
    {R_ORG_EVENTS, "GET", "/org/{name}/events", NO_BODY},
    {R_AUTH_EVENTS, "GET", "/auth/events", NO_BODY},
    {R_WEBHOOKS_CREATE, "POST", "/organization/{id}/webhooks", JSON_BODY},
    {R_WEBHOOKS_LIST, "GET", "/organization/{id}/webhooks", NO_BODY},
    {R_WEBHOOK_GET, "GET", "/organization/{id}/webhooks/{webhook_id}", NO_BODY},
    {R_WEBHOOK_UPDATE, "PATCH", "/organization/{id}/webhooks/{webhook_id}", JSON_BODY},
    {R_WEBHOOK_DELETE, "DELETE", "/organization/{id}/webhooks/{webhook_id}", NO_BODY},
    {R_WEBHOOK_DELIVERIES, "GET", "/organization/{id}/webhooks/{webhook_id}/deliveries", NO_BODY},
    {R_WEBHOOK_TEST, "POST", "/organization/{id}/webhooks/{webhook_id}/test", NO_BODY},
    {R_DELIVERY_REDELIVER, "POST", "/organization/{id}/deliveries/{delivery_id}/redeliver",
     NO_BODY},
    {R_PASSWORD_FORGOT, "POST", "/auth/password/forgot", JSON_BODY},
    {R_PASSWORD_RESET, "POST", "/auth/password/reset", JSON_BODY},
    {R_EMAIL_VERIFY, "POST", "/auth/email/verify", JSON_BODY},
    {R_EMAIL_VERIFY_RESEND, "POST", "/auth/email/verify/resend", JSON_BODY},
    {R_INVITATION_RESEND, "POST", "/organization/{id}/invitations/{invitation_id}/resend", NO_BODY},
    {R_PAGE_INVITATION, "GET", "/pages/invitation", NO_BODY},
    {R_PAGE_INVITATION_POST, "POST", "/pages/invitation", FORM_BODY},
    {R_PAGE_RESET, "GET", "/pages/password-reset", NO_BODY},
    {R_PAGE_RESET_POST, "POST", "/pages/password-reset", FORM_BODY},
    {R_PAGE_VERIFY, "GET", "/pages/verify-email", NO_BODY},
    {R_PAGE_VERIFY_POST, "POST", "/pages/verify-email", FORM_BODY},
    {R_INVITATION_ACCEPT, "POST", "/invitations/accept", JSON_BODY},
    {R_ORG_GET_QUERY, "GET", "/org/get", NO_BODY},
    {R_ORG_GET, "GET", "/org/{name}", NO_BODY},
    {R_ORG_UPDATE, "PUT", "/org/update", JSON_BODY},
    {R_ORG_UPDATE_NAME, "PUT", "/org/update/{name}", JSON_BODY},
    {R_ORG_DELETE, "DELETE", "/org/delete", JSON_BODY},
    {R_ORG_DELETE_NAME, "DELETE", "/org/delete/{name}", JSON_BODY},
    {R_METRICS, "GET", "/metrics", NO_BODY},
    {R_OPENAPI, "GET", "/openapi.yaml", NO_BODY},
    {R_DOCS, "GET", "/docs", NO_BODY},
    {R_DOCS_ASSET, "GET", "/docs/{asset}", NO_BODY},
};
const size_t routes_count = sizeof routes / sizeof routes[0];

/* Matches one pattern; returns the number of literal segments, or -1.
 * Captures the {param} segments (and their names) into m. */
static int match_pattern(const char *pattern, const char *path, struct route_match *m)
{
    int literals = 0;
    const char *p = pattern, *s = path;
    m->nparams = 0;
    while (*p != '\0' || *s != '\0') {
        if (*p != '/' || *s != '/')
            return -1;
        p++;
        s++;
        if (*p != '{' && *p != *s) /* a literal segment that cannot match: most routes, at once */
            return -1;
        const char *pend = strchr(p, '/');
        const char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || slen >= ROUTE_PARAM_MAX || m->nparams == ROUTE_PARAMS ||
                plen - 2 >= ROUTE_PARAM_NAME)
                return -1;
            memcpy(m->param[m->nparams], s, slen);
            m->param[m->nparams][slen] = '\0';
            memcpy(m->param_name[m->nparams], p + 1, plen - 2);
            m->param_name[m->nparams][plen - 2] = '\0';
            m->nparams++;
        } else {
            if (plen != slen || memcmp(p, s, plen) != 0)
                return -1;
            literals++;
        }
        p += plen;
        s += slen;
    }
    return literals;
}

enum match_result routes_match(const char *method, const char *path, struct route_match *m)
{
    memset(m, 0, sizeof *m);
    int best = -1;
    struct route_match tmp;
    for (size_t i = 0; i < routes_count; i++) {
        int lit = match_pattern(routes[i].pattern, path, &tmp);
        if (lit > best)
            best = lit;
    }
    if (best < 0)
        return MATCH_NOT_FOUND;

    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    size_t used = 0;
    bool get = false;
    for (size_t i = 0; i < routes_count; i++) {
        if (match_pattern(routes[i].pattern, path, &tmp) != best)
            continue;
        if (strcmp(routes[i].method, want) == 0) {
            *m = tmp;
            m->route = &routes[i];
            return MATCH_OK;
        }
        get = get || strcmp(routes[i].method, "GET") == 0;
        used += (size_t)snprintf(m->allow + used, sizeof m->allow - used, "%s%s", used ? ", " : "",
                                 routes[i].method);
        if (used >= sizeof m->allow)
            used = sizeof m->allow - 1;
    }
    if (get)
        used += (size_t)snprintf(m->allow + used, sizeof m->allow - used, ", HEAD");
    if (used < sizeof m->allow)
        snprintf(m->allow + used, sizeof m->allow - used, "%sOPTIONS", used ? ", " : "");
    return MATCH_METHOD;
}
