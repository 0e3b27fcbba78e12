/* requests.h — request bodies: bytes in, a typed request or field errors out.
 *
 * Pure functions (no I/O, no globals) so they can be unit-tested and fuzzed.
 * A body must be one JSON object of string fields we know: malformed JSON,
 * duplicate keys, invalid UTF-8, \u0000, a non-object, a field of the wrong
 * type (including any object or array, so no operator ever reaches a
 * database filter) -> ERR_MALFORMED (400); unknown or `$`-keys, missing
 * fields and values that fail validation -> ERR_INVALID (422). Field errors
 * name the field.
 */
#ifndef ORGD_REQUESTS_H
#define ORGD_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "model.h"
#include "names.h"
#include "password.h"

struct secret_text {
    char text[PASSWORD_MAX + 1];
    size_t len;
};

struct create_request {
    char organization_name[NAME_BUF];
    char email[EMAIL_BUF];
    struct secret_text password;
};

/* /admin/login (organization_name optional) and /auth/signin (none). */
struct login_request {
    char email[EMAIL_BUF];
    struct secret_text password;
    char organization_name[NAME_BUF]; /* "" = not given */
};

struct signup_request {
    char email[EMAIL_BUF];
    struct secret_text password;
    char username[USERNAME_BUF]; /* "" = not given */
};

#define REFRESH_TOKEN_FIELD_MAX 255

struct refresh_request {
    char refresh_token[REFRESH_TOKEN_FIELD_MAX + 1];
    size_t len;
};

struct password_request {
    struct secret_text current_password;
    struct secret_text new_password;
};

/* A rename and/or a change of the caller's e-mail and password.
 * `old_name` empty: the org named in the path, else the caller's own.
 * `new_name` empty: no rename. */
struct update_request {
    char old_name[NAME_BUF];
    char new_name[NAME_BUF];
    bool has_email;
    char email[EMAIL_BUF];
    bool has_password;
    struct secret_text password;
    bool has_current_password; /* required with email or password */
    struct secret_text current_password;
};

struct delete_request {
    char name[NAME_BUF];
};

bool request_create_parse(const char *body, size_t len, struct create_request *out,
                          struct error *e);

/* with_org: organization_name is accepted (/admin/login). */
bool request_login_parse(const char *body, size_t len, bool with_org, struct login_request *out,
                         struct error *e);

bool request_signup_parse(const char *body, size_t len, struct signup_request *out,
                          struct error *e);

/* The token from the body {refresh_token} and/or the query's value
 * (query_token, already decoded; NULL if absent). Both given must agree. */
bool request_refresh_parse(const char *body, size_t len, const char *query_token,
                           struct refresh_request *out, struct error *e);

bool request_password_parse(const char *body, size_t len, struct password_request *out,
                            struct error *e);

/* path_name: the {name} of PUT /org/update/{name}, or NULL. Accepts every
 * body form of the original service:
 *   {new_organization_name}                          rename (path org, else own)
 *   {old_organization_name, new_organization_name}   rename old -> new
 *   {organization_name, new_organization_name}       rename organization_name -> new
 *   {organization_name, email?, password?}           rename own (or path) org to organization_name
 * each optionally with email and password, which need current_password
 * (422 naming it when missing; current_password without either is a 422
 * too). An empty body is a 422. */
bool request_update_parse(const char *body, size_t len, const char *path_name,
                          struct update_request *out, struct error *e);

/* The org to delete from, in this order of sources, any of which may be
 * absent: path_name, query_name (already percent-decoded; NULL if absent),
 * a body {organization_name}. Sources that are present must agree (without
 * regard to case); at least one is required. */
bool request_delete_parse(const char *body, size_t len, const char *path_name,
                          const char *query_name, struct delete_request *out, struct error *e);

/* ---- the account-first API ---- */

/* POST /organization/ (create) and PUT /organization/{id}: `name` is the
 * display text (NFC), `slug` the org name the collection is named by
 * (derived from the name when not given), `description` up to
 * DESCRIPTION_MAX_CHARS characters. `name` is required to create; an
 * update needs at least one of the three. */
struct org_request {
    bool has_name;
    char name[DISPLAY_NAME_BUF];
    bool has_slug;
    char slug[NAME_BUF];
    bool has_description;
    char description[DESCRIPTION_BUF];
};

bool request_org_parse(const char *body, size_t len, bool create, struct org_request *out,
                       struct error *e);

/* POST /organization/{id}/invite: {email, role?} (role defaults to member). */
struct invite_request {
    char email[EMAIL_BUF];
    enum role role;
};

bool request_invite_parse(const char *body, size_t len, struct invite_request *out,
                          struct error *e);

/* PATCH /organization/{id}/members/{account_id}: {role}. */
bool request_role_parse(const char *body, size_t len, enum role *out, struct error *e);

#define INVITATION_TOKEN_FIELD_MAX 255

/* POST /invitations/accept: {token, password?, username?}. */
struct accept_request {
    char token[INVITATION_TOKEN_FIELD_MAX + 1];
    size_t token_len;
    bool has_password;
    struct secret_text password;
    char username[USERNAME_BUF];
};

bool request_accept_parse(const char *body, size_t len, struct accept_request *out,
                          struct error *e);

/* POST /auth/password/forgot, /auth/email/verify/resend: {email}. */
struct email_request {
    char email[EMAIL_BUF + 1];
};
bool request_email_parse(const char *body, size_t len, struct email_request *out, struct error *e);

/* POST /auth/password/reset {token, new_password}; /auth/email/verify {token}. */
struct token_request {
    char token[INVITATION_TOKEN_FIELD_MAX + 1];
    bool has_password;
    struct secret_text new_password;
};
bool request_token_parse(const char *body, size_t len, bool with_password,
                         struct token_request *out, struct error *e);

/* ?limit=&cursor= of a paged list, already decoded (NULL: absent): limit
 * 1..100 (default 20), cursor a next_cursor from a previous page (absent:
 * the first page). */
struct page_request {
    int limit;
    char cursor[25];
    char filter[64]; /* a checked filter the next page keeps ("action=member.*"), or "" */
};

bool request_page_parse(const char *limit, const char *cursor, struct page_request *out,
                        struct error *e);

/* ?action= of an events list: an action ("member.removed") or a family
 * ("member.*"): 1-39 characters of lower-case letters, '_' and '.',
 * ending in ".*" for a family. NULL or "": any. */
bool request_event_action(const char *action, char out[40], struct error *e);

/* Wipes a password from memory (explicit_bzero). */
void secret_text_wipe(struct secret_text *s);

#endif
