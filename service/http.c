#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* The response head is built in one buffer and goes out with its body in
 * one write: civetweb's header calls send every line by itself, and with
 * TCP_NODELAY each was a packet of its own (ten per answer). So orgd, not
 * civetweb, writes the status line, Date and Connection. */
struct head {
    char *buf;
    size_t len, cap;
};

static void head_put(struct head *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void head_put(struct head *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(h->buf + h->len, h->cap - h->len, fmt, ap);
    va_end(ap);
    /* the capacity is computed from the bounded parts, so this cannot cut */
    if (n > 0)
        h->len += (size_t)n < h->cap - h->len ? (size_t)n : h->cap - h->len - 1;
}

/* The IMF-fixdate of now, formatted once a second per thread. */
static const char *http_date(void)
{
    static _Thread_local time_t shown = -1;
    static _Thread_local char text[40];
    time_t now = time(NULL);
    if (now != shown) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        shown = now;
    }
    return text;
}

/* Whether the comma-separated header value has `token` as one of its
 * elements (any case, spaces and tabs around it ignored). */
static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; *p != '\0';) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* Whether the connection stays open after this response. When ours says
 * close, civetweb is told too; when ours says keep-alive, civetweb's own
 * rule (keep-alive is on in server.c; with a Connection header, its
 * keep-alive element; without one, HTTP/1.1) says the same, so the header
 * and what happens agree. */
static bool keeps_alive(struct request *r)
{
    bool keep = false;
    if (!r->close && !r->continued) {
        const char *c = mg_get_header(r->conn, "Connection");
        keep = c != NULL ? has_token(c, "keep-alive") && !has_token(c, "close")
                         : r->ri->http_version != NULL && strcmp(r->ri->http_version, "1.1") == 0;
    }
    if (!keep)
        mg_disable_connection_keep_alive(r->conn);
    return keep;
}

/* Bodies up to this size are copied behind the head and go out with it;
 * larger ones (the /docs assets, /metrics) are a second write of their own. */
#define HTTP_ONE_WRITE_MAX 16384
/* The length of a body sent in chunks (http_stream_begin): not known. */
#define HTTP_CHUNKED ((size_t)-1)

static void send_response(struct request *r, int status, const char *content_type, const void *body,
                          size_t len)
{
    r->status = status;
    bool chunked = len == HTTP_CHUNKED;
    if (chunked)
        len = 0;
    size_t body_len = r->head ? 0 : len;
    size_t inline_len = body_len <= HTTP_ONE_WRITE_MAX ? body_len : 0;
    struct head h = {0};
    h.cap = 512 + (content_type ? strlen(content_type) : 0) +
            HTTP_MAX_EXTRA_HEADERS * (sizeof r->extra[0].name + sizeof r->extra[0].value + 4);
    h.buf = malloc(h.cap + inline_len);
    if (h.buf == NULL) { /* a fixed answer that needs no memory, and the connection closes */
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                   "Retry-After: 1\r\nConnection: close\r\n\r\n";
        mg_disable_connection_keep_alive(r->conn);
        mg_write(r->conn, busy, sizeof busy - 1);
        r->status = 503;
        return;
    }
    bool cache_set = false; /* a handler may allow caching; everything else: no-store */
    for (int i = 0; i < r->nextra; i++)
        cache_set = cache_set || strcasecmp(r->extra[i].name, "Cache-Control") == 0;
    char length[48] = ""; /* none on a 204 (RFC 9110 8.6) */
    if (chunked && !r->head)
        snprintf(length, sizeof length, "Transfer-Encoding: chunked\r\n");
    else if (status != 204)
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", len);
    head_put(&h,
             "HTTP/1.1 %d %s\r\n%s%s%s%sX-Request-Id: %s\r\n%s"
             "X-Content-Type-Options: nosniff\r\n",
             status, problem_title(status), content_type ? "Content-Type: " : "",
             content_type ? content_type : "", content_type ? "\r\n" : "", length, r->request_id,
             cache_set ? "" : "Cache-Control: no-store\r\n");
    for (int i = 0; i < r->nextra; i++)
        head_put(&h, "%s: %s\r\n", r->extra[i].name, r->extra[i].value);
    head_put(&h, "Date: %s\r\nConnection: %s\r\n\r\n", http_date(),
             keeps_alive(r) ? "keep-alive" : "close");
    if (inline_len > 0)
        memcpy(h.buf + h.len, body, inline_len);
    mg_write(r->conn, h.buf, h.len + inline_len);
    if (body_len > inline_len)
        mg_write(r->conn, body, body_len);
    free(h.buf);
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

void http_send_html(struct request *r, int status, const char *html, size_t len)
{
    send_response(r, status, "text/html; charset=utf-8", html, len);
}

void http_stream_begin(struct request *r, const char *content_type)
{
    send_response(r, 200, content_type, NULL, HTTP_CHUNKED);
}

bool http_stream_write(struct request *r, const char *data, size_t len)
{
    if (r->head || len == 0)
        return true;
    if (mg_send_chunk(r->conn, data, (unsigned)len) < 0) {
        r->close = true; /* the client went: the connection is not reused */
        return false;
    }
    return true;
}

void http_stream_end(struct request *r)
{
    if (!r->head && mg_send_chunk(r->conn, "", 0) < 0)
        r->close = true;
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
