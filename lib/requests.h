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

struct login_request {
    char email[EMAIL_BUF];
    struct secret_text password;
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
};

struct delete_request {
    char name[NAME_BUF];
};

bool request_create_parse(const char *body, size_t len, struct create_request *out,
                          struct error *e);

bool request_login_parse(const char *body, size_t len, struct login_request *out, struct error *e);

/* path_name: the {name} of PUT /org/update/{name}, or NULL. Accepts every
 * body form of the original service:
 *   {new_organization_name}                          rename (path org, else own)
 *   {old_organization_name, new_organization_name}   rename old -> new
 *   {organization_name, new_organization_name}       rename organization_name -> new
 *   {organization_name, email?, password?}           rename own (or path) org to organization_name
 * each optionally with email and password. An empty body is a 422. */
bool request_update_parse(const char *body, size_t len, const char *path_name,
                          struct update_request *out, struct error *e);

/* The org to delete from, in this order of sources, any of which may be
 * absent: path_name, query_name (already percent-decoded; NULL if absent),
 * a body {organization_name}. Sources that are present must agree (without
 * regard to case); at least one is required. */
bool request_delete_parse(const char *body, size_t len, const char *path_name,
                          const char *query_name, struct delete_request *out, struct error *e);

/* Wipes a password from memory (explicit_bzero). */
void secret_text_wipe(struct secret_text *s);

#endif
