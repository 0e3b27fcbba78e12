/* error.h — the one error type of the core.
 *
 * Every fallible function in lib/ returns bool (or a kind) and fills a
 * caller-owned `struct error`. The message is safe to show a client; driver
 * or library messages never go in it (they are logged where they happen).
 * The service maps kind -> HTTP status in exactly one place (service/problem.c).
 */
#ifndef ORGD_ERROR_H
#define ORGD_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define ERROR_KINDS(X)                                                                             \
    X(ERR_OK, "ok")                                                                                \
    X(ERR_MALFORMED, "malformed")       /* body is not the JSON we accept, wrong types */          \
    X(ERR_INVALID, "invalid")           /* well-formed but fails validation */                     \
    X(ERR_UNAUTHORIZED, "unauthorized") /* missing/invalid token, bad credentials */               \
    X(ERR_FORBIDDEN, "forbidden")       /* authenticated, not allowed */                           \
    X(ERR_NOT_FOUND, "not_found")                                                                  \
    X(ERR_CONFLICT, "conflict") /* name or email taken */                                          \
    X(ERR_BUSY, "busy")         /* the org is mid-operation; retry shortly */                      \
    X(ERR_GONE, "gone")         /* existed, and can no longer be used (an invitation) */           \
    X(ERR_RATE_LIMITED, "rate_limited")                                                            \
    X(ERR_UNAVAILABLE, "unavailable")     /* database unreachable, hash pool saturated */          \
    X(ERR_MAIL_DISABLED, "mail_disabled") /* a route that sends mail, and SMTP_URL is unset */     \
    X(ERR_EMAIL_UNVERIFIED, "email_unverified") /* REQUIRE_VERIFIED_EMAIL and it is not */         \
    X(ERR_INTERNAL, "internal")

enum err_kind {
#define X(k, s) k,
    ERROR_KINDS(X)
#undef X
        ERR_KIND_COUNT /* kinds from here on are the HTTP layer's own (service/problem.h) */
};

#define ERROR_MAX_FIELDS 8

struct field_error {
    char field[48];
    char message[128];
};

struct error {
    enum err_kind kind;
    char message[256]; /* for the client: the problem's `detail` */
    int retry_after;   /* seconds, 0 = none */
    int nfields;       /* validation details, at most ERROR_MAX_FIELDS */
    struct field_error fields[ERROR_MAX_FIELDS];
};

/* A struct error with nothing in it: `struct error e = ERROR_INIT;`. */
// clang-format off
#define ERROR_INIT {.kind = ERR_OK}
// clang-format on

/* Resets to ERR_OK. Accepts NULL. */
void error_clear(struct error *e);

/* Sets kind and a printf-style message (truncated to fit); keeps field
 * errors already added. Always returns false so callers can
 * `return error_set(...)`. Accepts NULL. */
bool error_set(struct error *e, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds one field error (ignored past ERROR_MAX_FIELDS). Returns false. */
bool error_field(struct error *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Stable lower-case name of a kind ("not_found"); "unknown" if out of range. */
const char *error_kind_name(enum err_kind kind);

#endif
