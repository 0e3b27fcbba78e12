#include "server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "handlers.h"
#include "http.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "problem.h"
#include "routes.h"
#include "util.h"

struct server {
    struct mg_context *ctx;
    struct app *app;
    intake_t *intake;
    atomic_int in_flight;
};

static bool request_id_ok(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > 64)
        return false;
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

#define LINGER_MS 1000
#define LINGER_BYTES (128 * 1024)

static bool is_json_type(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    size_t len = strcspn(ct, "; ");
    if (len == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    /* application/<anything>+json */
    return len > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + len - 5, "+json", 5) == 0;
}

/* An HTML form's body (the pages' POSTs). */
static bool is_form_type(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    size_t len = strcspn(ct, "; ");
    return len == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* Reads up to `want` body bytes into r->body until `deadline`; returns how
 * many arrived. A trickling client is cut off at the deadline (or when its
 * address has too many slow ones) by intake's watchdog, whose signal makes
 * the blocked mg_read return. */
static size_t read_until(struct request *r, intake_t *intake, size_t want, int64_t deadline,
                         bool *broken)
{
    size_t got = 0;
    *broken = false;
    while (got < want && clock_mono_ms() < deadline && !intake_body_cut(intake)) {
        int n = mg_read(r->conn, r->body + got, want - got);
        if (n <= 0) {
            *broken = n < 0; /* not the end of the body: a reset, or bad chunking */
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* Reads the body into r->body, bounded by MAX_BODY_BYTES and the request's
 * deadline, and counted against its client's share of workers. False with
 * e set when it cannot; whatever is not read closes the connection
 * (r->close) rather than being drained. */
static bool read_body(struct request *r, intake_t *intake, int64_t deadline, struct error *e)
{
    long max = r->app->cfg->max_body_bytes;
    const char *te = mg_get_header(r->conn, "Transfer-Encoding");
    bool chunked = te != NULL && strcasecmp(te, "chunked") == 0;
    long long cl = r->ri->content_length;
    if (cl < 0 && !chunked)
        cl = 0;
    if (cl == 0 && !chunked) {
        r->body = calloc(1, 1);
        r->body_len = 0;
        return r->body != NULL || error_set(e, ERR_UNAVAILABLE, "out of memory");
    }
    if (cl > max)
        return error_set(e, ERR_TOO_LARGE, "the request body exceeds %ld bytes", max);
    const char *ctype = mg_get_header(r->conn, "Content-Type");
    if (r->route->body == FORM_BODY ? !is_form_type(ctype) : !is_json_type(ctype))
        return error_set(e, ERR_MEDIA_TYPE, "the request body must be %s",
                         r->route->body == FORM_BODY ? "application/x-www-form-urlencoded"
                                                     : "application/json");
    /* the body is wanted: a client waiting for leave to send it gets it now */
    const char *expect = mg_get_header(r->conn, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") != 0)
        return error_set(e, ERR_EXPECTATION, "only Expect: 100-continue is understood");
    if (expect != NULL && strcmp(r->ri->http_version, "1.1") == 0) {
        mg_printf(r->conn, "HTTP/1.1 100 Continue\r\n\r\n");
        r->continued = true;
    }
    size_t want = chunked ? (size_t)max + 1 : (size_t)cl;
    r->body = malloc(want + 1);
    if (r->body == NULL)
        return error_set(e, ERR_UNAVAILABLE, "out of memory");
    intake_body_begin(intake, r->ri->remote_addr, deadline);
    bool broken = false;
    size_t got = read_until(r, intake, want, deadline, &broken);
    bool evicted = !intake_body_end(intake, e);
    bool incomplete = (!chunked && got < want) || (chunked && broken);
    bool late = incomplete && clock_mono_ms() >= deadline;
    r->slow = evicted || late; /* a slow sender gets no lingering before the close */
    if (evicted)
        return false;
    if (chunked && got > (size_t)max)
        return error_set(e, ERR_TOO_LARGE, "the request body exceeds %ld bytes", max);
    if (late)
        return error_set(e, ERR_TIMEOUT, "the request did not arrive within %ld ms",
                         r->app->cfg->request_timeout_ms);
    if (incomplete)
        return error_set(e, ERR_MALFORMED,
                         chunked ? "the chunked request body is malformed"
                                 : "the request body ended early");
    r->body[got] = '\0';
    r->body_len = got;
    r->close = false;
    return true;
}

/* Headers a request may carry once: two of them, read differently by a
 * proxy in front and by civetweb, are the stuff of request smuggling (or
 * of acting on the other token). */
static const char *const singletons[] = {
    "Content-Length", "Transfer-Encoding", "Authorization", "Content-Type", "Host", "Expect"};

/* 1*DIGIT between optional blanks: civetweb takes the leading digits of
 * "0x41" or "39abc" and leaves the rest to be read as the next request. */
static bool length_is_plain(const char *v)
{
    v += strspn(v, " \t");
    size_t digits = strspn(v, "0123456789");
    return digits > 0 && digits <= 18 && v[digits + strspn(v + digits, " \t")] == '\0';
}

/* What is wrong with the request's framing and headers, or NULL. */
static const char *framing_fault(const struct mg_request_info *ri)
{
    int count[sizeof singletons / sizeof singletons[0]] = {0};
    for (int i = 0; i < ri->num_headers; i++) {
        for (size_t k = 0; k < sizeof singletons / sizeof singletons[0]; k++)
            count[k] += strcasecmp(ri->http_headers[i].name, singletons[k]) == 0;
        if (strcasecmp(ri->http_headers[i].name, "Content-Length") == 0 &&
            !length_is_plain(ri->http_headers[i].value))
            return "the Content-Length header must be a plain decimal number";
    }
    for (size_t k = 0; k < sizeof singletons / sizeof singletons[0]; k++) {
        if (count[k] > 1)
            return k < 2 ? "the request gives its length twice (Content-Length and "
                           "Transfer-Encoding, or two of either)"
                         : "a header that may be given once is given twice";
    }
    if (count[0] > 0 && count[1] > 0)
        return "the request gives its length twice (Content-Length and Transfer-Encoding, "
               "or two of either)";
    if (count[4] == 0 && strcmp(ri->http_version, "1.1") == 0)
        return "an HTTP/1.1 request needs a Host header";
    return NULL;
}

/* CORS, only as configured: echo an allowed Origin. Returns whether allowed. */
static bool cors(struct request *r)
{
    const char *allowed = r->app->cfg->cors_origins;
    const char *origin = mg_get_header(r->conn, "Origin");
    if (allowed[0] == '\0' || origin == NULL)
        return false;
    bool ok = strcmp(allowed, "*") == 0;
    size_t olen = strlen(origin);
    for (const char *p = allowed; !ok && *p;) {
        size_t len = strcspn(p, ",");
        ok = len == olen && strncmp(p, origin, len) == 0;
        p += len;
        if (*p == ',')
            p++;
    }
    if (!ok)
        return false;
    http_add_header(r, "Access-Control-Allow-Origin", "%s",
                    strcmp(allowed, "*") == 0 ? "*" : origin);
    http_add_header(r, "Vary", "Origin");
    http_add_header(r, "Access-Control-Expose-Headers",
                    "X-Request-Id, Retry-After, WWW-Authenticate, Location");
    return true;
}

static void log_request(const struct request *r, const char *route)
{
    enum log_level level = r->status >= 500 ? LOG_ERROR : LOG_INFO;
    if (!log_enabled(level))
        return;
    /* db_commands: what this request cost the database, in round trips */
    struct log_field f[10] = {
        {"request_id", r->request_id, 0},
        {"method", r->method, 0},
        {"route", route, 0},
        {"status", NULL, r->status},
        {"latency_ms", NULL, clock_mono_ms() - r->started_ms},
        {"client", r->client, 0},
        {"db_commands", NULL, (int64_t)store_thread_commands()},
    };
    size_t n = 7;
    if (events_thread_commands() > 0) /* of which the audit log's */
        f[n++] = (struct log_field){"events_db_commands", NULL, (int64_t)events_thread_commands()};
    if (strcmp(r->client, r->ri->remote_addr) != 0) /* behind a trusted proxy */
        f[n++] = (struct log_field){"peer", r->ri->remote_addr, 0};
    if (r->org_id[0] != '\0')
        f[n++] = (struct log_field){"org_id", r->org_id, 0};
    log_emit_fields(level, "request", f, n);
}

/* X-Forwarded-For as one list: several header lines are one list in
 * order (RFC 9110 5.3). NULL when absent, or too long to be read whole
 * (then the peer is the client: a truncated list could name anyone). */
static const char *forwarded_for(const struct mg_request_info *ri, char *buf, size_t cap)
{
    size_t used = 0;
    bool any = false;
    for (int i = 0; i < ri->num_headers; i++) {
        if (strcasecmp(ri->http_headers[i].name, "X-Forwarded-For") != 0)
            continue;
        int n = snprintf(buf + used, cap - used, "%s%s", any ? "," : "", ri->http_headers[i].value);
        if (n < 0 || (size_t)n >= cap - used)
            return NULL;
        used += (size_t)n;
        any = true;
    }
    return any ? buf : NULL;
}

/* r->client: only a trusted proxy's X-Forwarded-For is read at all. */
static void client_address(struct request *r)
{
    const struct netaddr_trust *trust = &r->app->cfg->trusted_proxies;
    char xff[1024];
    const char *list = trust->n > 0 ? forwarded_for(r->ri, xff, sizeof xff) : NULL;
    netaddr_client(trust, r->ri->remote_addr, list, r->client);
}

/* 16 random bytes for a request id, from a per-thread supply refilled from
 * getrandom 256 ids at a time: a request id needs to be unique and
 * unguessable, not a system call of its own. */
static void request_id_bytes(unsigned char out[16])
{
    static _Thread_local unsigned char supply[4096];
    static _Thread_local size_t left;
    if (left < 16) {
        if (!random_bytes(supply, sizeof supply)) {
            (void)random_bytes(out, 16); /* as before the supply: one call each */
            return;
        }
        left = sizeof supply;
    }
    left -= 16;
    memcpy(out, supply + left, 16);
    explicit_bzero(supply + left, 16); /* each id leaves the supply once */
}

static void request_init(struct request *r, struct mg_connection *conn, struct app *app)
{
    memset(r, 0, sizeof *r);
    store_thread_commands_reset();
    events_thread_commands_reset();
    r->conn = conn;
    r->ri = mg_get_request_info(conn);
    r->app = app;
    r->method = r->ri->request_method;
    r->head = strcmp(r->method, "HEAD") == 0;
    r->query = r->ri->query_string;
    r->started_ms = clock_mono_ms();
    r->arrived_ms = clock_now_ms();
    r->route_name = "unmatched";
    r->has_body = r->ri->content_length > 0 || mg_get_header(conn, "Transfer-Encoding") != NULL;
    /* a body not read to its end closes the connection, on every path (civetweb
     * would otherwise drain it, however long it is): only read_body clears this */
    r->close = r->has_body;
    client_address(r);
    const char *rid = mg_get_header(conn, "X-Request-Id");
    if (rid != NULL && request_id_ok(rid)) {
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    } else {
        unsigned char raw[16];
        request_id_bytes(raw);
        hex_encode(raw, sizeof raw, r->request_id);
    }
}

/* Requests no route may take: while shutting down, or framed ambiguously. */
static bool admit(struct request *r, struct error *e)
{
    if (atomic_load(&handlers_draining)) {
        r->close = true; /* and whatever body there is stays unread */
        e->retry_after = 1;
        return error_set(e, ERR_UNAVAILABLE, "the server is shutting down");
    }
    const char *fault = framing_fault(r->ri);
    if (fault != NULL) {
        r->close = true;
        return error_set(e, ERR_MALFORMED, "%s", fault);
    }
    return true;
}

/* What path matches on this port (/metrics alone on METRICS_PORT when set). */
static enum match_result match_on_port(const struct request *r, const char *path,
                                       struct route_match *m)
{
    enum match_result res = routes_match(r->method, path, m);
    long metrics_port = r->app->cfg->metrics_port; /* set: /metrics there, and only there */
    if (metrics_port != 0 && res != MATCH_NOT_FOUND &&
        (r->ri->server_port == metrics_port) != (strcmp(path, "/metrics") == 0))
        res = MATCH_NOT_FOUND;
    return res;
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* A path that is a route's but for its trailing slash (/organization for
 * /organization/, /org/create/ for /org/create) is answered 307 to the
 * route, query kept, as the FastAPI services did: their clients follow it
 * with the same method and body. Not for OPTIONS: a browser's preflight
 * follows no redirect. A path and query too long for one Location: 404. */
static bool redirect_slash(struct request *r, const char *path)
{
    size_t len = strlen(path);
    const char *query = r->ri->query_string;
    char to[sizeof r->extra[0].value];
    /* the whole Location must fit in a header value: a cut one would name
     * another resource (a query's last parameter cut short) */
    if (strcmp(r->method, "OPTIONS") == 0 || len < 2 ||
        len + 2 + (query ? strlen(query) + 1 : 0) >= sizeof to || !printable(path) ||
        (query && !printable(query)))
        return false;
    memcpy(to, path, len + 1);
    if (to[len - 1] == '/')
        to[len - 1] = '\0';
    else
        memcpy(to + len, "/", 2);
    struct route_match m;
    if (match_on_port(r, to, &m) == MATCH_NOT_FOUND)
        return false;
    http_add_header(r, "Location", "%s%s%s", to, query ? "?" : "", query ? query : "");
    http_send_empty(r, 307);
    return true;
}

/* Finds r's route into r->route and *m. OPTIONS is answered here (204 with
 * Allow, and CORS when configured); no route is 404 (or 307 to the route
 * the path names but for its trailing slash), another method 405. */
static bool route_request(struct request *r, struct route_match *m, struct error *e)
{
    const char *path = r->ri->local_uri_raw ? r->ri->local_uri_raw : r->ri->local_uri;
    enum match_result res = path ? match_on_port(r, path, m) : MATCH_NOT_FOUND;
    bool allowed_origin = cors(r);
    if (res == MATCH_OK) {
        r->route = m->route;
        r->route_name = m->route->pattern;
        return true;
    }
    if (res == MATCH_NOT_FOUND && path != NULL && redirect_slash(r, path))
        return true;
    if (res == MATCH_NOT_FOUND)
        return error_set(e, ERR_NOT_FOUND, "no such route");
    http_add_header(r, "Allow", "%s", m->allow);
    if (strcmp(r->method, "OPTIONS") != 0)
        return error_set(e, ERR_METHOD, "%s is not allowed here; allowed: %s", r->method, m->allow);
    if (allowed_origin && mg_get_header(r->conn, "Access-Control-Request-Method") != NULL) {
        http_add_header(r, "Access-Control-Allow-Methods", "%s", m->allow);
        http_add_header(r, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, X-Request-Id");
        http_add_header(r, "Access-Control-Max-Age", "600");
    }
    http_send_empty(r, 204);
    return true;
}

/* The route's inputs: its decoded {params}, and its body if it reads one.
 * A bad escape names the parameter ({name} as organization_name, the
 * field the org-first API names everywhere). */
static bool take_input(struct request *r, const struct route_match *m, intake_t *intake,
                       int64_t deadline, struct error *e)
{
    char *into[ROUTE_PARAMS] = {r->param, r->param2};
    r->has_param = m->nparams > 0;
    for (int i = 0; i < m->nparams; i++) {
        const char *field =
            strcmp(m->param_name[i], "name") == 0 ? "organization_name" : m->param_name[i];
        if (!http_decode(m->param[i], strlen(m->param[i]), false, into[i], ROUTE_PARAM_MAX, field,
                         e))
            return false;
    }
    if (m->route->body != NO_BODY)
        return read_body(r, intake, deadline, e);
    return true; /* a body this route never reads closes the connection (request_init) */
}

/* After an answer that leaves a body unread: read and discard a little of
 * it, for a short while, before civetweb closes. Closing a socket with
 * unread data sends a reset, and a client still uploading (curl sending a
 * 1 MB body that got 413 at once) may meet the reset before it reads the
 * answer. Bounded in bytes and time, so nothing is drained without limit. */
__attribute__((noinline)) /* its 4 KiB sink is no part of the handler's stack */
static void
linger_before_close(struct request *r, intake_t *intake)
{
    char sink[4096];
    size_t read = 0;
    int64_t until = clock_mono_ms() + LINGER_MS;
    intake_linger_begin(intake, until);
    while (read < LINGER_BYTES && clock_mono_ms() < until) {
        int n = mg_read(r->conn, sink, sizeof sink);
        if (n <= 0)
            break;
        read += (size_t)n;
    }
    intake_end(intake);
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
    struct server *s = cbdata;
    atomic_fetch_add(&s->in_flight, 1);
    int64_t deadline = intake_headers_done(s->intake);
    int64_t started_us = metrics_clock_us();
    struct request r;
    request_init(&r, conn, s->app);
    struct error e = ERROR_INIT;
    struct route_match m;
    if (!admit(&r, &e) || !route_request(&r, &m, &e))
        http_send_problem(&r, &e);
    else if (r.status == 0 && !take_input(&r, &m, s->intake, deadline, &e))
        http_send_problem(&r, &e);
    else if (r.status == 0)
        handlers_run(&r);
    if (r.status == 0) { /* a handler that sent nothing is a bug; never leave the client hanging */
        error_set(&e, ERR_INTERNAL, "no response");
        http_send_problem(&r, &e);
    }
    log_request(&r, r.route_name);
    metrics_request(r.route ? (int)r.route->id : METRICS_ROUTE_UNMATCHED, r.route_name, r.method,
                    r.status, metrics_clock_us() - started_us);
    if (r.close && r.has_body && !r.slow)
        linger_before_close(&r, s->intake);
    free(r.body);
    atomic_fetch_sub(&s->in_flight, 1);
    return r.status;
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_text(LOG_WARN, "http server", "%s", message);
    return 1;
}

static struct server *server_of(const struct mg_connection *conn)
{
    return mg_get_user_data(mg_get_context(conn));
}

/* Authorization is the handlers' (bearer tokens). Without a handler of its
 * own installed, civetweb looks for a /.htpasswd file on every request. */
static int authorize_in_handlers(struct mg_connection *conn, void *data)
{
    (void)conn;
    (void)data;
    return 1;
}

/* Runs in mg_start2 before any worker or the accepting thread exists: the
 * routes are installed before the first connection can be served. */
static void install_routes(const struct mg_context *ctx)
{
    struct mg_context *mutable_ctx = (struct mg_context *)(uintptr_t)ctx;
    mg_set_request_handler(mutable_ctx, "/", dispatch, mg_get_user_data(ctx));
    mg_set_auth_handler(mutable_ctx, "/", authorize_in_handlers, NULL);
}

/* A worker took a new connection: its first request's clock starts. */
static int connection_begin(const struct mg_connection *conn, void **conn_data)
{
    *conn_data = NULL;
    intake_connection_begin(server_of(conn)->intake);
    return 0;
}

static void connection_end(const struct mg_connection *conn)
{
    intake_end(server_of(conn)->intake);
}

/* After every request, also those civetweb answers itself without
 * dispatch: the worker is no longer receiving it. */
static void request_end(const struct mg_connection *conn, int status)
{
    (void)status;
    intake_end(server_of(conn)->intake);
}

static const char *civetweb_error_slug(int status)
{
    switch (status) {
    case 400:
        return "malformed-request";
    case 411:
        return "length-required";
    case 404:
        return "not-found";
    case 408:
        return "request-timeout";
    case 413:
        return "body-too-large";
    case 505:
        return "http-version-not-supported";
    default:
        return "http-error";
    }
}

/* civetweb's own refusals (a request it cannot parse, headers over
 * max_request_size, a bad Content-Length, an HTTP version other than 1.0
 * and 1.1) as problem+json, like ours. The request line may be unparsed
 * here, so the response is written raw. */
static int civetweb_error(struct mg_connection *conn, int status, const char *msg)
{
    log_text(LOG_WARN, "request refused by the HTTP layer", "%d %s", status, msg ? msg : "");
    if (status == 400 && intake_headers_late(server_of(conn)->intake))
        status = 408; /* civetweb's read was cut off at the deadline */
    const char *detail = status == 400   ? "the request could not be read: it is malformed, or "
                                           "its headers exceed " HTTP_MAX_HEADER_TEXT
                         : status == 408 ? "the request did not arrive in time"
                         : status == 411 ? "the Content-Length header is not a valid length"
                         : status == 505 ? "only HTTP/1.0 and HTTP/1.1 are served"
                         : status == 404 ? "no such route"
                                         : "the request could not be handled";
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"urn:orgd:problem:%s\",\"title\":\"%s\",\"status\":%d,"
                     "\"detail\":\"%s\"}",
                     civetweb_error_slug(status), problem_title(status), status, detail);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    bool head = ri != NULL && ri->request_method != NULL && strcmp(ri->request_method, "HEAD") == 0;
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
              "Content-Length: %d\r\nCache-Control: no-store\r\n"
              "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s",
              status, problem_title(status), n, head ? "" : body);
    return 0;
}

/* civetweb with orgd's settings and callbacks, listening on HOST:PORT (and
 * HOST:METRICS_PORT when set). The routes are installed by init_context,
 * before anything is accepted. */
static bool start_civetweb(struct server *s, const struct config *cfg, struct error *e)
{
    char ports[160], threads[16], timeout[16]; /* two HOST:PORT when METRICS_PORT is set */
    snprintf(ports, sizeof ports, "%s:%ld", cfg->host, cfg->port);
    if (cfg->metrics_port != 0) /* a second listener for /metrics alone */
        snprintf(ports, sizeof ports, "%s:%ld,%s:%ld", cfg->host, cfg->port, cfg->host,
                 cfg->metrics_port);
    snprintf(threads, sizeof threads, "%ld", cfg->threads);
    snprintf(timeout, sizeof timeout, "%ld", cfg->request_timeout_ms);
    // clang-format off
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "request_timeout_ms", timeout,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "5000",
        "tcp_nodelay", "1",
        "max_request_size", HTTP_MAX_HEADER_BYTES_TEXT,
        "decode_url", "no",
        "enable_directory_listing", "no",
        /* CORS is ours, and only as configured: civetweb's '*' defaults off */
        "access_control_allow_origin", "",
        "access_control_allow_methods", "",
        "access_control_allow_headers", "",
        NULL,
    };
    // clang-format on
    struct mg_callbacks callbacks = {
        .log_message = log_civetweb,
        .init_context = install_routes,
        .init_connection = connection_begin,
        .connection_close = connection_end,
        .end_request = request_end,
        .http_error = civetweb_error,
    };
    struct mg_init_data init = {
        .callbacks = &callbacks, .user_data = s, .configuration_options = options};
    char err_text[256] = "";
    unsigned err_code = 0;
    struct mg_error_data err = {
        .code = &err_code, .text = err_text, .text_buffer_size = sizeof err_text};
    s->ctx = mg_start2(&init, &err);
    if (s->ctx == NULL)
        return error_set(e, ERR_UNAVAILABLE, "cannot listen on %s: %s", ports,
                         err_text[0] ? err_text : "unknown error");
    return true;
}

server_t *server_start(struct app *app, struct error *e)
{
    const struct config *cfg = app->cfg;
    struct server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->app = app;
    long share = cfg->receiving_per_client > 0 ? cfg->receiving_per_client : cfg->threads / 2;
    s->intake = intake_new((int)cfg->threads, (int)share, cfg->request_timeout_ms, e);
    if (s->intake == NULL || !start_civetweb(s, cfg, e)) {
        intake_destroy(s->intake);
        free(s);
        return NULL;
    }
    return s;
}

/* civetweb's accept thread polls its listening sockets for up to 2 s
 * (SOCKET_TIMEOUT_QUANTUM) before it looks at the stop flag again, so
 * mg_stop took two seconds every time. While it runs, this thread knocks
 * on each listening port (connects and hangs up) so the poll returns and
 * the flag is seen at once. */
struct waker {
    char host[64];
    int ports[4];
    int nports;
    atomic_bool done;
};

static void knock(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, &sa.sin_addr) != 1)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    (void)connect(fd, (struct sockaddr *)&sa, sizeof sa); /* in progress is enough */
    close(fd);
}

static void *waker_main(void *arg)
{
    struct waker *w = arg;
    for (int round = 0; round < 200 && !atomic_load(&w->done); round++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* mg_stop has set its flag by now */
        for (int i = 0; i < w->nports && !atomic_load(&w->done); i++)
            knock(w->host, w->ports[i]);
    }
    return NULL;
}

static void stop_civetweb(server_t *s)
{
    /* the ports are read before mg_stop starts freeing the context */
    struct waker w = {0};
    struct mg_server_port ports[4];
    int n = mg_get_server_ports(s->ctx, 4, ports);
    for (int i = 0; i < n && i < 4; i++)
        w.ports[w.nports++] = ports[i].port;
    snprintf(w.host, sizeof w.host, "%s", s->app->cfg->host);
    atomic_init(&w.done, false);
    pthread_t t;
    bool waking = w.nports > 0 && pthread_create(&t, NULL, waker_main, &w) == 0;
    mg_stop(s->ctx);
    atomic_store(&w.done, true);
    if (waking)
        pthread_join(t, NULL);
}

void server_stop(server_t *s, int timeout_s)
{
    if (s == NULL)
        return;
    atomic_store(&handlers_draining, true);
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    while (atomic_load(&s->in_flight) > 0 && clock_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->in_flight);
    if (left > 0)
        log_emit(LOG_WARN, "shutdown timeout: requests cut short",
                 json_pack("{s:i}", "in_flight", left));
    stop_civetweb(s);
    intake_destroy(s->intake); /* after the workers: each left its slot idle */
    free(s);
}
