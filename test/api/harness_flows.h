/* harness_flows.h — the API's flows as a test takes them, each step
 * failing the test when it does not work: an org-first tenant (an org
 * made with its owner, logged in), an account-first account (signed up,
 * signed in) with its orgs, invitations and members, the sign-ins of both
 * flows, and what a session's tokens answer afterwards. Built on
 * harness_http.h: every exchange is recorded and its secrets remembered
 * like any other. */
#ifndef ORGD_TEST_HARNESS_FLOWS_H
#define ORGD_TEST_HARNESS_FLOWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness_http.h"
#include "harness_orgd.h"

/* ---- lists: a JSON array a page at a time, the next in a Link header ---- */

/* GET path (one page); fails the test unless 200 with an array body and,
 * when there is one, a Link header `<target>; rel="next"` whose target
 * carries a cursor. Copies the target into next ("" on the last page).
 * Returns the array (caller decrefs). */
json_t *th_list_page(const struct th_orgd *o, const char *path, const char *token, char *next,
                     size_t cap);
/* Every item of the list at path, following its Link headers; *pages: how
 * many answers it took (may be NULL). Caller decrefs. */
json_t *th_list_all(const struct th_orgd *o, const char *path, const char *token, size_t *pages);

/* ---- the org flow ---- */

/* POST /org/create; returns the status. */
long th_create_org(const struct th_orgd *o, const char *name, const char *email,
                   const char *password);
/* POST /admin/login; on 200 copies the token into out (malloc'd, caller frees). */
long th_login(const struct th_orgd *o, const char *email, const char *password, char **token);

/* A fresh org with its owner logged in. */
struct th_tenant {
    char name[64];
    char email[96];
    char *token;
    char id[32];       /* the org's */
    char admin_id[32]; /* the owner's */
};

/* Creates prefix_XXXXXXXX with owner prefix_XXXXXXXX@example.com (password
 * TU_PASSWORD), logs in; fails the test if any step does. t->token is
 * malloc'd: th_tenant_free frees it. */
void th_tenant_new(const struct th_orgd *o, struct th_tenant *t, const char *prefix);
void th_tenant_free(struct th_tenant *t);

/* ---- the account flow ---- */

/* The two tokens of a session, as a sign-in or a refresh answered them. */
struct th_tokens {
    char access[2048];
    char refresh[128];
};

/* POST /auth/signup {email, password}; returns the status. */
long th_signup(const struct th_orgd *o, const char *email, const char *password);
/* POST `route` ("/auth/signin" or "/admin/login") {email, password}; on 200
 * fills t (fails the test if the answer lacks either token). Returns the
 * status. */
long th_signin_at(const struct th_orgd *o, const char *route, const char *email,
                  const char *password, struct th_tokens *t);
/* th_signin_at "/auth/signin": an account session. */
long th_signin(const struct th_orgd *o, const char *email, const char *password,
               struct th_tokens *t);
/* POST /auth/refresh_token {refresh_token}; on 200 fills t (which may be
 * the struct `refresh` points into). Returns the status. */
long th_refresh(const struct th_orgd *o, const char *refresh, struct th_tokens *t);

/* th_signup that fails the test unless it answers 201. */
void th_signup_ok(const struct th_orgd *o, const char *email, const char *password);
/* th_signin that fails the test unless it answers 200. */
void th_signin_ok(const struct th_orgd *o, const char *email, const char *password,
                  struct th_tokens *t);
/* A fresh e-mail (th_fresh_email) signed up with TU_PASSWORD: an account
 * in no organization. Fails the test unless the sign-up answers 201. */
void th_signup_fresh(const struct th_orgd *o, const char *prefix, char *email, size_t cap);

/* An account of the account-first flow: its e-mail (lower-case), its id
 * and the tokens of an account-scoped session. */
struct th_account {
    char email[96];
    char id[32];
    struct th_tokens t;
};

/* The account id GET /auth/check names for an access token; fails the
 * test unless it answers 200 with one. */
void th_account_id_of(const struct th_orgd *o, const char *access, char *out, size_t cap);
/* A new account (th_signup_fresh with prefix), signed in, with its id: the
 * start of most account-first tests. Fails the test if a step does. */
void th_account_new(const struct th_orgd *o, const char *prefix, struct th_account *a);

/* POST /organization/ {name: prefix_XXXXXXXX} with `token`: fails the test
 * unless it answers 201 naming the org so, with the caller as its owner;
 * the org's id and name. */
void th_org_new(const struct th_orgd *o, const char *token, const char *prefix, char id[32],
                char name[64]);

/* An invitation as its answer named it. */
struct th_invitation {
    char id[32];
    char token[128];
    char email[96];
};

/* POST /organization/{org_id}/invite {email, role} (role NULL: the
 * default) with `token`: fails the test unless 201. */
void th_invite(const struct th_orgd *o, const char *token, const char *org_id, const char *email,
               const char *role, struct th_invitation *out);
/* th_invite that also returns the whole answer, for a test that looks at
 * more of it (caller json_decref's). */
json_t *th_invite_answer(const struct th_orgd *o, const char *token, const char *org_id,
                         const char *email, const char *role, struct th_invitation *out);

/* A new account that joins org_id as `role` (NULL: the default, member) by
 * accepting an invitation without a bearer token (the accept creates it),
 * signed in. Fails the test unless the accept answers 200 naming the org,
 * the role, the e-mail and account_created true. */
void th_member_new(const struct th_orgd *o, const char *owner_token, const char *org_id,
                   const char *role, const char *prefix, struct th_account *a);

/* th_signin_at "/admin/login" that fails the test unless it answers 200:
 * a session scoped to the account's only org. */
void th_admin_login_ok(const struct th_orgd *o, const char *email, const char *password,
                       struct th_tokens *t);
/* POST /admin/login {email, TU_PASSWORD, organization_name}: a session of
 * account a scoped to the org named `org_name`. Fails the test unless it
 * answers 200. */
void th_org_login(const struct th_orgd *o, const struct th_account *a, const char *org_name,
                  struct th_tokens *t);

/* ---- a session, as a test expects it ---- */

/* Fails the test unless GET /auth/check with the access token answers 200:
 * its session is live. */
void th_expect_alive(const struct th_orgd *o, const char *access);
/* Fails the test unless GET /auth/check refuses the access token as a
 * token: a 401 problem with WWW-Authenticate: Bearer. What an ended
 * session's tokens get. */
void th_expect_refused(const struct th_orgd *o, const char *access);
/* The session id (24 hex) GET /auth/check names for an access token, into
 * out; fails the test unless it answers 200 with one. */
void th_session_of(const struct th_orgd *o, const char *access, char *out, size_t cap);
/* The status of POST /auth/refresh_token with `refresh` (its tokens, on a
 * 200, thrown away): for a test that only asks whether it still works. */
long th_refresh_status(const struct th_orgd *o, const char *refresh);
/* Fails the test unless `refresh` has a refresh token's shape (59
 * base64url characters) and names session `session_id` (hex): its first
 * 16 characters are the session id's 12 bytes. */
void th_expect_refresh_of(const char *refresh, const char *session_id);

/* The claims of a JWT orgd issued: its payload decoded, not verified (orgd
 * did that), for tests that look at what a token says (sid, org, role).
 * Fails the test unless the payload is a JSON object. Caller decrefs. */
json_t *th_jwt_claims(const char *jwt);

/* "org_" + the lower-case name. */
void th_collection_of(const char *name, char *out, size_t cap);

#endif
