/* http.h — one request as the handlers see it, and the only functions that
 * write responses. Every response carries Content-Length (keep-alive needs
 * it), X-Request-Id, and Cache-Control: no-store; errors are problem+json.
 */
#ifndef ORGD_HTTP_H
#define ORGD_HTTP_H

#include <civetweb.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "error.h"
#include "model.h"
#include "routes.h"

#define HTTP_MAX_EXTRA_HEADERS 8
/* The request line and headers together (civetweb's max_request_size):
 * larger is refused with 400 before any handler runs. */
#define HTTP_MAX_HEADER_BYTES_TEXT "16384"
#define HTTP_MAX_HEADER_TEXT "16 KiB"

struct request {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    struct app *app;
    const struct route *route; /* NULL when unmatched */
    const char *route_name;    /* its template, or "unmatched" (for logs and metrics) */
    bool has_body;             /* the client sent (or announced) a body */
    bool slow;                 /* its body was cut off: too slow, or its address had too many */
    const char *method;
    bool head;
    const char *query;            /* raw, or NULL */
    char param[ROUTE_PARAM_MAX];  /* the decoded first {param}, when the route has one */
    char param2[ROUTE_PARAM_MAX]; /* the second ({invitation_id}, {account_id}) */
    bool has_param;
    char *body; /* NUL-terminated copy, body_len bytes (owned by the dispatcher) */
    size_t body_len;
    char request_id[65];
    char client[NETADDR_BUF]; /* the client's address: the peer, or X-Forwarded-For from a
                                 trusted proxy (TRUSTED_PROXIES) */
    int64_t started_ms;       /* monotonic */
    int64_t arrived_ms;  /* wall clock, for what is compared with times stored in the database */
    char org_id[ID_BUF]; /* for the log line, when known */
    int status;          /* what was sent */
    bool close;          /* ask civetweb to close the connection after this response */
    bool token_refused;  /* the bearer token presented was refused (WWW-Authenticate says why) */
    bool token_missing;  /* a bearer route got no token (a plain WWW-Authenticate challenge);
                            other 401s (bad credentials) carry no challenge */
    bool continued;      /* a 100 Continue was sent: the final head is written raw, then close */
    int nextra;
    struct {
        char name[32];
        char value[256];
    } extra[HTTP_MAX_EXTRA_HEADERS];
};

/* Adds a header to the response about to be sent. */
void http_add_header(struct request *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends `body` (stolen; NULL sends no body) as application/json. */
void http_send_json(struct request *r, int status, json_t *body);

/* Sends a problem+json for e, with Retry-After as the kind calls for, and
 * WWW-Authenticate when a bearer token was missing (r->token_missing) or
 * refused (r->token_refused: with error="invalid_token" or
 * "invalid_request" and the reason). */
void http_send_problem(struct request *r, const struct error *e);

/* Sends an HTML page with this status (the pages of pages.c). */
void http_send_html(struct request *r, int status, const char *html, size_t len);

/* Sends raw bytes with a content type (status 200). */
void http_send_bytes(struct request *r, const char *content_type, const void *data, size_t len);

/* A 200 whose body goes out in pieces as it is made (Transfer-Encoding:
 * chunked; nothing of it is held): begin, write each piece (false: the
 * client went away; stop), end. */
void http_stream_begin(struct request *r, const char *content_type);
bool http_stream_write(struct request *r, const char *data, size_t len);
void http_stream_end(struct request *r);

/* Sends a response without a body (204, or a HEAD). */
void http_send_empty(struct request *r, int status);

/* Percent-decodes len bytes of `in` into out (cap bytes with the NUL).
 * '+' stays '+' unless plus_is_space. Bad escapes, %00 and overflow fail
 * with ERR_MALFORMED naming `field`. */
bool http_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t cap,
                 const char *field, struct error *e);

/* Finds `name` in a raw query string and decodes its value into out.
 * *present tells whether it was there; a name given twice is ERR_MALFORMED. */
bool http_query_param(const char *query, const char *name, char *out, size_t cap, bool *present,
                      struct error *e);

#endif
