/* handlers-private.h — what the handlers share, and nothing else includes:
 * bearer authentication, small renderers, and every route's handler, so
 * that handlers.c's one table can name them.
 *
 * A handler is `bool handle_<route>(struct request *, struct error *)`:
 * it sends its response and returns true, or returns false with the error
 * in e, which handlers_run renders as a problem. The handlers of a route
 * family live in one file: handlers_org_first.c (/org/..., /admin/login),
 * handlers_account_first.c (/organization/..., /invitations),
 * handlers_auth.c (/auth/...), handlers_ops.c (/healthz, /health,
 * /readyz), docs.c (/openapi.yaml, /docs) and metrics_page.c (/metrics). */
#ifndef ORGD_HANDLERS_PRIVATE_H
#define ORGD_HANDLERS_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "requests.h"
#include "sessions.h"

/* Bearer authentication. On failure e says why; r->token_missing or
 * r->token_refused says whose fault it was (for WWW-Authenticate). */
bool handlers__authenticate(struct request *r, struct caller *who, struct error *e);

/* ms since the epoch as an RFC 3339 string. */
json_t *handlers__time_json(int64_t ms);

/* ?limit= and ?cursor= of r's query (422 naming the one at fault). */
bool handlers__page(struct request *r, struct page_request *page, struct error *e);

/* Sends a page of a list: the items, a JSON array (stolen), and when next
 * (a cursor) is not "", the next page's URL in `Link: <...>; rel="next"`
 * (RFC 8288), with the request's other query parameters. The one paging
 * style of every list. */
void handlers__send_page(struct request *r, json_t *items, const char *next,
                         const struct page_request *page);

/* A JSON string, or null for "". */
json_t *handlers__string_or_null(const char *s);

/* The answer to a sign-in or a refresh; org-scoped pairs (org not NULL)
 * also carry `token` (the original service's key for the access token),
 * the org's name and the role held there. */
json_t *handlers__pair_json(const struct token_pair *p, const struct org *org, enum role role);

/* An invitation as the account-first routes show it (its token only when
 * the view carries one: the invite's answer, with mail off). */
struct invitation_view;
json_t *handlers__invitation_json(const struct invitation_view *v);

/* handlers_ops.c */
bool handle_healthz(struct request *r, struct error *e);
bool handle_health(struct request *r, struct error *e);
bool handle_jwks(struct request *r, struct error *e);
/* handlers_events.c */
bool handle_organization_events(struct request *r, struct error *e);
bool handle_org_events(struct request *r, struct error *e);
bool handle_auth_events(struct request *r, struct error *e);
/* handlers_webhooks.c */
bool handle_webhooks_create(struct request *r, struct error *e);
bool handle_webhooks_list(struct request *r, struct error *e);
bool handle_webhook_get(struct request *r, struct error *e);
bool handle_webhook_update(struct request *r, struct error *e);
bool handle_webhook_delete(struct request *r, struct error *e);
bool handle_webhook_deliveries(struct request *r, struct error *e);
bool handle_webhook_test(struct request *r, struct error *e);
bool handle_delivery_redeliver(struct request *r, struct error *e);
/* handlers_mail.c */
bool handle_password_forgot(struct request *r, struct error *e);
bool handle_password_reset(struct request *r, struct error *e);
bool handle_email_verify(struct request *r, struct error *e);
bool handle_email_verify_resend(struct request *r, struct error *e);
bool handle_invitation_resend(struct request *r, struct error *e);
/* pages.c */
bool handle_page_invitation(struct request *r, struct error *e);
bool handle_page_invitation_post(struct request *r, struct error *e);
bool handle_page_reset(struct request *r, struct error *e);
bool handle_page_reset_post(struct request *r, struct error *e);
bool handle_page_verify(struct request *r, struct error *e);
bool handle_page_verify_post(struct request *r, struct error *e);
bool handle_readyz(struct request *r, struct error *e);

/* handlers_auth.c */
bool handle_signup(struct request *r, struct error *e);
bool handle_signin(struct request *r, struct error *e);
bool handle_refresh(struct request *r, struct error *e);
bool handle_logout(struct request *r, struct error *e);
bool handle_sessions(struct request *r, struct error *e);
bool handle_session_delete(struct request *r, struct error *e);
bool handle_password(struct request *r, struct error *e);
bool handle_auth_check(struct request *r, struct error *e);

/* handlers_org_first.c */
bool handle_org_create(struct request *r, struct error *e);
bool handle_login(struct request *r, struct error *e);
bool handle_org_get(struct request *r, struct error *e);
bool handle_org_get_query(struct request *r, struct error *e);
bool handle_org_update(struct request *r, struct error *e);
bool handle_org_update_name(struct request *r, struct error *e);
bool handle_org_delete(struct request *r, struct error *e);
bool handle_org_delete_name(struct request *r, struct error *e);

/* handlers_account_first.c */
bool handle_organization_list(struct request *r, struct error *e);
bool handle_organization_create(struct request *r, struct error *e);
bool handle_organization_get(struct request *r, struct error *e);
bool handle_organization_update(struct request *r, struct error *e);
bool handle_organization_delete(struct request *r, struct error *e);
bool handle_invite(struct request *r, struct error *e);
bool handle_invitations(struct request *r, struct error *e);
bool handle_invitation_delete(struct request *r, struct error *e);
bool handle_members(struct request *r, struct error *e);
bool handle_member_role(struct request *r, struct error *e);
bool handle_member_delete(struct request *r, struct error *e);
bool handle_my_invitations(struct request *r, struct error *e);
bool handle_invitation_accept(struct request *r, struct error *e);

/* docs.c */
bool handle_openapi(struct request *r, struct error *e);
bool handle_docs(struct request *r, struct error *e);
bool handle_docs_asset(struct request *r, struct error *e);

/* metrics_page.c */
bool handle_metrics(struct request *r, struct error *e);

#endif
