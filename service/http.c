#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "problem.h"
#include "util.h"

void http_add_header(struct request *r, const char *name, const char *fmt, ...)
{
    if (r->nextra >= HTTP_MAX_EXTRA_HEADERS)
        return;
    snprintf(r->extra[r->nextra].name, sizeof r->extra[r->nextra].name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->extra[r->nextra].value, sizeof r->extra[r->nextra].value, fmt, ap);
    va_end(ap);
    r->nextra++;
}

/* One response header. After a 100 Continue civetweb counts the response
 * as started and refuses its header calls, so the head is written raw. */
static void head_add(struct request *r, const char *name, const char *value)
{
    if (r->continued)
        mg_printf(r->conn, "%s: %s\r\n", name, value);
    else
        mg_response_header_add(r->conn, name, value, -1);
}

static void send_response(struct request *r, int status, const char *content_type, const void *body,
                          size_t len)
{
    char length[32];
    snprintf(length, sizeof length, "%zu", len);
    r->status = status;
    if (r->close || r->continued)
        mg_disable_connection_keep_alive(r->conn);
    if (r->continued)
        mg_printf(r->conn, "HTTP/1.1 %d %s\r\n", status, problem_title(status));
    else
        mg_response_header_start(r->conn, status);
    if (content_type != NULL)
        head_add(r, "Content-Type", content_type);
    head_add(r, "Content-Length", length);
    head_add(r, "X-Request-Id", r->request_id);
    bool cache_set = false; /* a handler may allow caching; everything else: no-store */
    for (int i = 0; i < r->nextra; i++)
        cache_set = cache_set || strcasecmp(r->extra[i].name, "Cache-Control") == 0;
    if (!cache_set)
        head_add(r, "Cache-Control", "no-store");
    head_add(r, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->nextra; i++)
        head_add(r, r->extra[i].name, r->extra[i].value);
    if (r->continued)
        mg_printf(r->conn, "Connection: close\r\n\r\n");
    else
        mg_response_header_send(r->conn);
    if (len > 0 && !r->head)
        mg_write(r->conn, body, len);
}

static void send_json_as(struct request *r, int status, const char *content_type, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (body != NULL && text == NULL) {
        send_response(r, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    send_response(r, status, text ? content_type : NULL, text, text ? strlen(text) : 0);
    free(text);
}

void http_send_json(struct request *r, int status, json_t *body)
{
    send_json_as(r, status, "application/json", body);
}

void http_send_problem(struct request *r, const struct error *e)
{
    int status = problem_status(e->kind);
    if (r->token_refused && (status == 401 || status == 400))
        http_add_header(r, "WWW-Authenticate",
                        "Bearer realm=\"orgd\", error=\"%s\", error_description=\"%s\"",
                        status == 400 ? "invalid_request" : "invalid_token", e->message);
    else if (status == 401 && r->token_missing) /* RFC 6750 3: a challenge, no error code */
        http_add_header(r, "WWW-Authenticate", "Bearer realm=\"orgd\"");
    if (status == 503)   /* shedding load: the retry goes to the back of the accept queue, */
        r->close = true; /* instead of a kept-alive connection holding its worker */
    if (status == 503 || status == 429 || e->kind == ERR_BUSY)
        http_add_header(r, "Retry-After", "%d", e->retry_after > 0 ? e->retry_after : 1);
    send_json_as(r, status, "application/problem+json", problem_body(e));
}

void http_send_bytes(struct request *r, const char *content_type, const void *data, size_t len)
{
    send_response(r, 200, content_type, data, len);
}

void http_send_empty(struct request *r, int status)
{
    send_response(r, status, NULL, NULL, 0);
}

bool http_decode(const char *in, size_t len, bool plus_is_space, char *out, size_t cap,
                 const char *field, struct error *e)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == '%') {
            if (i + 2 >= len) {
                error_field(e, field, "has a malformed percent-escape");
                return error_set(e, ERR_MALFORMED, "malformed percent-encoding");
            }
            int a = hex_digit(in[i + 1]), b = hex_digit(in[i + 2]);
            if (a < 0 || b < 0) {
                error_field(e, field, "has a malformed percent-escape");
                return error_set(e, ERR_MALFORMED, "malformed percent-encoding");
            }
            ch = (char)(a * 16 + b);
            i += 2;
            if (ch == '\0') {
                error_field(e, field, "must not contain NUL");
                return error_set(e, ERR_MALFORMED, "NUL in the request target");
            }
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        if (o + 1 >= cap) {
            error_field(e, field, "is too long");
            return error_set(e, ERR_INVALID, "request validation failed");
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

bool http_query_param(const char *query, const char *name, char *out, size_t cap, bool *present,
                      struct error *e)
{
    *present = false;
    out[0] = '\0';
    if (query == NULL)
        return true;
    size_t nlen = strlen(name);
    const char *p = query;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            if (*present) {
                error_field(e, name, "is given more than once");
                return error_set(e, ERR_MALFORMED, "duplicate query parameter");
            }
            *present = true;
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            if (!http_decode(v, vlen, true, out, cap, name, e))
                return false;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return true;
}
