/* routes.h — the one route table, and matching a method and raw path
 * against it. Pure: no I/O, so it is unit-tested and compared with the
 * OpenAPI file.
 *
 * Patterns are '/'-separated; a segment "{name}" matches any non-empty
 * segment (at most ROUTE_PARAMS of them per pattern). When several patterns match a path, the one
 * with the most literal segments wins (so /org/get beats /org/{name}); a path that matches but not
 * with this method is a 405 listing the methods that would.
 */
#ifndef ORGD_ROUTES_H
#define ORGD_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

enum route_id {
    R_HEALTHZ,
    R_READYZ,
    R_ORG_CREATE,
    R_LOGIN,
    R_AUTH_CHECK,
    R_AUTH_TEST, /* /auth/test_auth: the account-first original's name for /auth/check */
    R_ORG_GET_QUERY,
    R_ORG_GET,
    R_ORG_UPDATE,
    R_ORG_UPDATE_NAME,
    R_ORG_DELETE,
    R_ORG_DELETE_NAME,
    R_METRICS,
    R_OPENAPI,
    R_DOCS,
    R_DOCS_ASSET,
    R_HEALTH, /* /health: the alias the original service's clients probe */
    R_SIGNUP,
    R_SIGNIN,
    R_REFRESH,
    R_LOGOUT,
    R_SESSIONS,
    R_SESSION_DELETE,
    R_PASSWORD,
    R_ORGANIZATION_LIST,
    R_ORGANIZATION_CREATE,
    R_ORGANIZATION_GET,
    R_ORGANIZATION_UPDATE,
    R_ORGANIZATION_DELETE,
    R_ORGANIZATION_INVITE,
    R_ORGANIZATION_INVITATIONS,
    R_ORGANIZATION_INVITATION_DELETE,
    R_ORGANIZATION_MEMBERS,
    R_ORGANIZATION_MEMBER_ROLE,
    R_ORGANIZATION_MEMBER_DELETE,
    R_MY_INVITATIONS,
    R_INVITATION_ACCEPT,
    R_JWKS, /* /.well-known/jwks.json: the public keys tokens verify with */
    R_ORGANIZATION_EVENTS,
    R_ORG_EVENTS,
    R_AUTH_EVENTS,
    R_WEBHOOKS_CREATE,
    R_WEBHOOKS_LIST,
    R_WEBHOOK_GET,
    R_WEBHOOK_UPDATE,
    R_WEBHOOK_DELETE,
    R_WEBHOOK_DELIVERIES,
    R_WEBHOOK_TEST,
    R_DELIVERY_REDELIVER,
    R_PASSWORD_FORGOT,
    R_PASSWORD_RESET,
    R_EMAIL_VERIFY,
    R_EMAIL_VERIFY_RESEND,
    R_INVITATION_RESEND,
    R_PAGE_INVITATION,
    R_PAGE_INVITATION_POST,
    R_PAGE_RESET,
    R_PAGE_RESET_POST,
    R_PAGE_VERIFY,
    R_PAGE_VERIFY_POST,
    R_COUNT
};

/* What a route reads: nothing, JSON, or an HTML form's body
 * (application/x-www-form-urlencoded: the pages of pages.c). */
enum route_body { NO_BODY, JSON_BODY, FORM_BODY };

struct route {
    enum route_id id;
    const char *method;  /* GET, POST, PUT, PATCH, DELETE */
    const char *pattern; /* the route template, as logs and metrics show it */
    enum route_body body;
};

extern const struct route routes[];
extern const size_t routes_count;

enum match_result { MATCH_OK, MATCH_NOT_FOUND, MATCH_METHOD };

#define ROUTE_PARAM_MAX 256

#define ROUTE_PARAMS 2
#define ROUTE_PARAM_NAME 24

struct route_match {
    const struct route *route;
    /* the raw {...} segments in order (still percent-encoded), and their names */
    char param[ROUTE_PARAMS][ROUTE_PARAM_MAX];
    char param_name[ROUTE_PARAMS][ROUTE_PARAM_NAME];
    int nparams;
    char allow[96]; /* for 405 and OPTIONS: "GET, HEAD, OPTIONS" */
};

/* Matches `path` (no query string) for `method`. HEAD matches GET routes.
 * OPTIONS reports MATCH_METHOD with `allow` filled (the caller answers it). */
enum match_result routes_match(const char *method, const char *path, struct route_match *m);

#endif
