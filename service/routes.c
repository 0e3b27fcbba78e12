#include "routes.h"

#include <stdio.h>
#include <string.h>

const struct route routes[] = {
    {R_HEALTHZ, "GET", "/healthz", false},
    {R_HEALTH, "GET", "/health", false},
    {R_READYZ, "GET", "/readyz", false},
    {R_JWKS, "GET", "/.well-known/jwks.json", false},
    {R_ORG_CREATE, "POST", "/org/create", true},
    {R_LOGIN, "POST", "/admin/login", true},
    {R_AUTH_CHECK, "GET", "/auth/check", false},
    {R_AUTH_TEST, "GET", "/auth/test_auth", false},
    {R_SIGNUP, "POST", "/auth/signup", true},
    {R_SIGNIN, "POST", "/auth/signin", true},
    {R_REFRESH, "POST", "/auth/refresh_token", true},
    {R_LOGOUT, "POST", "/auth/logout", false},
    {R_SESSIONS, "GET", "/auth/sessions", false},
    {R_SESSION_DELETE, "DELETE", "/auth/sessions/{id}", false},
    {R_PASSWORD, "PUT", "/auth/password", true},
    {R_ORGANIZATION_LIST, "GET", "/organization/", false},
    {R_ORGANIZATION_CREATE, "POST", "/organization/", true},
    {R_ORGANIZATION_GET, "GET", "/organization/{id}", false},
    {R_ORGANIZATION_UPDATE, "PUT", "/organization/{id}", true},
    {R_ORGANIZATION_DELETE, "DELETE", "/organization/{id}", false},
    {R_ORGANIZATION_INVITE, "POST", "/organization/{id}/invite", true},
    {R_ORGANIZATION_INVITATIONS, "GET", "/organization/{id}/invitations", false},
    {R_ORGANIZATION_INVITATION_DELETE, "DELETE", "/organization/{id}/invitations/{invitation_id}",
     false},
    {R_ORGANIZATION_MEMBERS, "GET", "/organization/{id}/members", false},
    {R_ORGANIZATION_MEMBER_ROLE, "PATCH", "/organization/{id}/members/{account_id}", true},
    {R_ORGANIZATION_MEMBER_DELETE, "DELETE", "/organization/{id}/members/{account_id}", false},
    {R_MY_INVITATIONS, "GET", "/invitations", false},
    {R_ORGANIZATION_EVENTS, "GET", "/organization/{id}/events", false},
    {R_ORG_EVENTS, "GET", "/org/{name}/events", false},
    {R_AUTH_EVENTS, "GET", "/auth/events", false},
    {R_WEBHOOKS_CREATE, "POST", "/organization/{id}/webhooks", true},
    {R_WEBHOOKS_LIST, "GET", "/organization/{id}/webhooks", false},
    {R_WEBHOOK_GET, "GET", "/organization/{id}/webhooks/{webhook_id}", false},
    {R_WEBHOOK_UPDATE, "PATCH", "/organization/{id}/webhooks/{webhook_id}", true},
    {R_WEBHOOK_DELETE, "DELETE", "/organization/{id}/webhooks/{webhook_id}", false},
    {R_WEBHOOK_DELIVERIES, "GET", "/organization/{id}/webhooks/{webhook_id}/deliveries", false},
    {R_WEBHOOK_TEST, "POST", "/organization/{id}/webhooks/{webhook_id}/test", false},
    {R_DELIVERY_REDELIVER, "POST", "/organization/{id}/deliveries/{delivery_id}/redeliver", false},
    {R_INVITATION_ACCEPT, "POST", "/invitations/accept", true},
    {R_ORG_GET_QUERY, "GET", "/org/get", false},
    {R_ORG_GET, "GET", "/org/{name}", false},
    {R_ORG_UPDATE, "PUT", "/org/update", true},
    {R_ORG_UPDATE_NAME, "PUT", "/org/update/{name}", true},
    {R_ORG_DELETE, "DELETE", "/org/delete", true},
    {R_ORG_DELETE_NAME, "DELETE", "/org/delete/{name}", true},
    {R_METRICS, "GET", "/metrics", false},
    {R_OPENAPI, "GET", "/openapi.yaml", false},
    {R_DOCS, "GET", "/docs", false},
    {R_DOCS_ASSET, "GET", "/docs/{asset}", false},
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
