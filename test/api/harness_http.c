/* harness_http.c — requests, responses and the exchange recording: see
 * harness_http.h. */
#include "harness_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t add = size * n;
    char *grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* One curl handle per thread (connections are reused); the key's
 * destructor frees it when a request thread of a race ends. */
static __thread CURL *thread_curl;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void curl_thread_done(void *handle)
{
    curl_easy_cleanup(handle);
    thread_curl = NULL;
}

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&curl_key, curl_thread_done);
}

static CURL *curl_for_thread(void)
{
    pthread_once(&curl_once, curl_global);
    if (thread_curl == NULL) {
        thread_curl = curl_easy_init();
        pthread_setspecific(curl_key, thread_curl);
    }
    return thread_curl;
}

/* Every exchange, as one JSON line per request into
 * $ORGD_TEST_EXCHANGES_DIR/<pid>.jsonl, for the contract check that
 * validates them against service/openapi.yaml after the suite. */
static pthread_mutex_t exchanges_lock = PTHREAD_MUTEX_INITIALIZER;

static void exchange_record(const struct th_orgd *o, const char *method, const char *path,
                            const struct th_resp *r)
{
    const char *dir = getenv("ORGD_TEST_EXCHANGES_DIR");
    if (dir == NULL || dir[0] == '\0')
        return;
    char file[1024], ctype[256] = "";
    snprintf(file, sizeof file, "%s/%ld.jsonl", dir, (long)getpid());
    th_resp_header(r, "Content-Type", ctype, sizeof ctype);
    json_t *line = json_pack("{s:s, s:s, s:i, s:s, s:b, s:s, s:i}", "method", method, "path", path,
                             "status", (int)r->status, "content_type", ctype, "has_body",
                             r->len > 0, "url_base", o->base, "orgd_port", o->port);
    if (line == NULL)
        return;
    if (r->json != NULL)
        json_object_set(line, "body", r->json);
    else if (r->len > 0 && r->len < 4096)
        json_object_set_new(line, "text", json_stringn(r->body, r->len));
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (text == NULL)
        return;
    pthread_mutex_lock(&exchanges_lock);
    FILE *f = fopen(file, "a");
    if (f != NULL) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    pthread_mutex_unlock(&exchanges_lock);
    free(text);
}

/* Every password a request carried and every token a response carried:
 * none of them may reach a log (or, for th_db_expect_no_secret, the
 * database). A refresh token's part after its 16-character session id is
 * remembered on its own too, since that random tail alone is the secret. */
static void secrets_of_exchange(const char *body, size_t len, const struct th_resp *r)
{
    static const char *const sent[] = {"password", "current_password", "new_password"};
    static const char *const got[] = {"access_token", "token", "refresh_token"};
    if (body != NULL) {
        json_t *req = json_loadb(body, len, 0, NULL);
        for (size_t i = 0; json_is_object(req) && i < sizeof sent / sizeof sent[0]; i++)
            th_secret_remember(json_string_value(json_object_get(req, sent[i])));
        json_decref(req);
    }
    for (size_t i = 0; json_is_object(r->json) && i < sizeof got / sizeof got[0]; i++)
        th_secret_remember(json_string_value(json_object_get(r->json, got[i])));
    const char *refresh = json_string_value(json_object_get(r->json, "refresh_token"));
    if (refresh != NULL && strlen(refresh) > 16)
        th_secret_remember(refresh + 16);
}

/* th_http from `source` (NULL: the default address on the thread's reused
 * connection). */
static bool request(const struct th_orgd *o, const char *source, const char *method,
                    const char *path, const char *token, const char *content_type, const char *body,
                    size_t len, const char *const *extra_headers, struct th_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c;
    if (source == NULL) {
        c = curl_for_thread();
        curl_easy_reset(c);
    } else {
        /* A handle of its own for this one request: curl would otherwise
         * hand its connection, bound to `source`, to the thread's next
         * request from the default address (it only refuses the reverse). */
        pthread_once(&curl_once, curl_global);
        c = curl_easy_init();
        if (c == NULL)
            abort();
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", o->base, path);
    struct buf data = {0}, hdrs = {0};
    struct curl_slist *h = NULL;
    char line[8192];
    if (token != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, line);
    }
    if (content_type != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    } else if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
    } else {
        h = curl_slist_append(h, "Content-Type:");
    }
    h = curl_slist_append(h, "Expect:");
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        h = curl_slist_append(h, extra_headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &data);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    char interface[80];
    if (source != NULL) {
        /* "host!": bind to this address, never read it as a device name */
        snprintf(interface, sizeof interface, "host!%s", source);
        curl_easy_setopt(c, CURLOPT_INTERFACE, interface);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    r->body = data.data ? data.data : calloc(1, 1);
    r->len = data.len;
    r->headers = hdrs.data ? hdrs.data : calloc(1, 1);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    }
    if (source != NULL)
        curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        if (rc != CURLE_COULDNT_CONNECT) /* (waiting for a start: not news) */
            fprintf(stderr, "no answer to %s %s: %s\n", method, path, curl_easy_strerror(rc));
        return false;
    }
    if (r->len > 0)
        r->json = json_loadb(r->body, r->len, 0, NULL);
    secrets_of_exchange(body, len, r);
    exchange_record(o, method, path, r);
    return true;
}

bool th_http(const struct th_orgd *o, const char *method, const char *path, const char *token,
             const char *content_type, const char *body, size_t len,
             const char *const *extra_headers, struct th_resp *r)
{
    return request(o, NULL, method, path, token, content_type, body, len, extra_headers, r);
}

bool th_http_from(const struct th_orgd *o, const char *source, const char *method, const char *path,
                  const char *token, const char *body, const char *const *extra_headers,
                  struct th_resp *r)
{
    return request(o, source, method, path, token, NULL, body, body ? strlen(body) : 0,
                   extra_headers, r);
}

bool th_http_json(const struct th_orgd *o, const char *method, const char *path, const char *token,
                  const char *body, struct th_resp *r)
{
    return th_http(o, method, path, token, NULL, body, body ? strlen(body) : 0, NULL, r);
}

bool th_resp_header(const struct th_resp *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vlen = len - (size_t)(v - p);
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p += len;
        if (*p)
            p += 2;
    }
    return false;
}

void th_resp_free(struct th_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

bool th_is_problem(const struct th_resp *r, long status)
{
    char ct[128] = "";
    th_resp_header(r, "Content-Type", ct, sizeof ct);
    json_t *j = r->json;
    bool ok = r->status == status && strncmp(ct, "application/problem+json", 24) == 0 &&
              json_is_object(j) && json_is_string(json_object_get(j, "type")) &&
              json_is_string(json_object_get(j, "title")) &&
              json_integer_value(json_object_get(j, "status")) == status &&
              json_is_string(json_object_get(j, "detail"));
    if (!ok)
        fprintf(stderr, "expected a %ld problem, got %ld %s: %.*s\n", status, r->status, ct,
                (int)(r->len > 500 ? 500 : r->len), r->body ? r->body : "");
    return ok;
}

static void *call_main(void *arg)
{
    struct th_call *c = arg;
    struct th_resp r;
    c->retry_after[0] = '\0';
    c->json = NULL;
    if (c->go != NULL) {
        /* this thread's connection first, so that the race is between the
         * requests and not between connects (a source address gets a
         * connection per request: nothing to open ahead for it) */
        if (c->source == NULL && th_http(c->o, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r))
            th_resp_free(&r);
        pthread_barrier_wait(c->go);
    }
    if (c->delay_ms > 0)
        tu_sleep_ms(c->delay_ms);
    const char *body = c->body[0] ? c->body : NULL;
    bool answered = c->source != NULL ? th_http_from(c->o, c->source, c->method, c->path, c->token,
                                                     body, NULL, &r)
                                      : th_http_json(c->o, c->method, c->path, c->token, body, &r);
    if (answered) {
        c->status = r.status;
        th_resp_header(&r, "Retry-After", c->retry_after, sizeof c->retry_after);
        c->json = c->want_json && r.json != NULL ? json_incref(r.json) : NULL;
    } else {
        c->status = -1;
    }
    th_resp_free(&r);
    return NULL;
}

void th_call_start(struct th_call *c)
{
    if (pthread_create(&c->thread, NULL, call_main, c) != 0)
        abort();
}

void th_call_join(struct th_call *c)
{
    pthread_join(c->thread, NULL);
}

void th_race(struct th_call *calls, size_t n)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        calls[i].go = &go;
        th_call_start(&calls[i]);
    }
    for (size_t i = 0; i < n; i++) {
        th_call_join(&calls[i]);
        calls[i].go = NULL;
    }
    pthread_barrier_destroy(&go);
}

bool th_race_lost(long status)
{
    /* a loser's honest answers: refused for what the winner did (403,
     * 404, 409, 410, 401 for a token the winner spent), or turned away by
     * a busy machine before it decided anything (503 from the hash queue,
     * 429); never a success, never a 500, never no answer */
    return status == 401 || status == 403 || status == 404 || status == 409 || status == 410 ||
           status == 429 || status == 503;
}

void th_race_expect_lost(const struct th_call *c, const char *what, int round)
{
    if (!th_race_lost(c->status))
        fail_msg("round %d: %s answered %ld, which is neither a win nor an honest loss", round,
                 what, c->status);
}

void th_race_expect_decided(int decided, int rounds, const char *race)
{
    printf("# %s: %d of %d rounds had a winner\n", race, decided, rounds);
    if (decided < rounds / 2)
        fail_msg("%s: only %d of %d rounds had a winner", race, decided, rounds);
}

long th_status_of(const struct th_orgd *o, const char *method, const char *path, const char *token,
                  const char *body)
{
    struct th_resp r;
    long s = th_http_json(o, method, path, token, body, &r) ? r.status : -1;
    th_resp_free(&r);
    return s;
}

json_t *th_expect_json(const struct th_orgd *o, const char *method, const char *path,
                       const char *token, json_t *body, long want)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct th_resp r;
    if (!th_http_json(o, method, path, token, text, &r))
        fail_msg("%s %s: no answer", method, path);
    if (r.status != want)
        fail_msg("%s %s %s: expected %ld, got %ld: %s", method, path, text ? text : "", want,
                 r.status, r.body ? r.body : "");
    if (want >= 400 && !th_is_problem(&r, want))
        fail_msg("%s %s: a %ld that is no problem document", method, path, want);
    free(text);
    json_t *answer = json_incref(r.json);
    th_resp_free(&r);
    return answer;
}

void th_expect_status(const struct th_orgd *o, const char *method, const char *path,
                      const char *token, json_t *body, long want)
{
    json_decref(th_expect_json(o, method, path, token, body, want));
}

const char *th_json_str(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    if (s == NULL)
        fail_msg("no string \"%s\" in the answer", key);
    return s;
}

char *th_json_text(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

bool th_names_field(const struct th_resp *r, const char *field)
{
    json_t *errors = json_object_get(r->json, "errors");
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        if (f != NULL && strcmp(f, field) == 0)
            return true;
    }
    return false;
}

void th_expect_problem(const struct th_orgd *o, const char *method, const char *path,
                       const char *token, const char *body, long status, const char *field)
{
    struct th_resp r;
    assert_true(th_http_json(o, method, path, token, body, &r));
    if (!th_is_problem(&r, status))
        fail_msg("%s %s %s: expected %ld", method, path, body ? body : "", status);
    if (field != NULL && !th_names_field(&r, field))
        fail_msg("%s %s %s: the %ld does not name %s: %s", method, path, body ? body : "", status,
                 field, r.body);
    th_resp_free(&r);
}

int64_t th_epoch_ms(const char *text)
{
    assert_non_null(text);
    assert_int_equal(strlen(text), 24);
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        fail_msg("not an RFC 3339 time: %s", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

char *th_metrics_scrape(const struct th_orgd *o)
{
    struct th_resp r;
    if (!th_http(o, "GET", "/metrics", NULL, NULL, NULL, 0, NULL, &r))
        fail_msg("/metrics: no answer");
    if (r.status != 200)
        fail_msg("/metrics answered %ld: %s", r.status, r.body ? r.body : "");
    char ct[128] = "";
    th_resp_header(&r, "Content-Type", ct, sizeof ct);
    if (strcmp(ct, "text/plain; version=0.0.4; charset=utf-8") != 0)
        fail_msg("/metrics answered Content-Type \"%s\", not the text format", ct);
    char *text = strdup(r.body);
    th_resp_free(&r);
    return text;
}

double th_metric_sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

double th_metric_counter(const char *text, const char *series)
{
    double v = th_metric_sample(text, series);
    return v < 0 ? 0 : v;
}

void th_expect_counter_moved(const char *before, const char *after, const char *series, double by)
{
    double d = th_metric_counter(after, series) - th_metric_counter(before, series);
    if (d != by)
        fail_msg("%s moved by %g, expected %g\n---- after ----\n%s", series, d, by, after);
}

json_t *th_request_log_line(const struct th_orgd *o, const char *id)
{
    for (int waited = 0; waited <= 3000; waited += 50) {
        FILE *f = fopen(o->log_path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (f != NULL && (n = getline(&line, &cap, f)) > 0) {
            json_t *j = json_loadb(line, (size_t)n, 0, NULL);
            const char *rid = json_string_value(json_object_get(j, "request_id"));
            const char *msg = json_string_value(json_object_get(j, "msg"));
            if (rid != NULL && msg != NULL && strcmp(msg, "request") == 0 && strcmp(rid, id) == 0) {
                free(line);
                fclose(f);
                return j;
            }
            json_decref(j);
        }
        free(line);
        if (f != NULL)
            fclose(f);
        tu_sleep_ms(50);
    }
    return NULL;
}

double th_slowest_healthz_until(const struct th_orgd *o, int64_t until, int *probes)
{
    const char *fresh[] = {"Connection: close", NULL};
    double slowest = 0;
    while (tu_now_ms() < until) {
        struct th_resp r;
        assert_true(th_http(o, "GET", "/healthz", NULL, NULL, NULL, 0, fresh, &r));
        assert_int_equal(r.status, 200);
        if (r.seconds > slowest)
            slowest = r.seconds;
        th_resp_free(&r);
        (*probes)++;
        tu_sleep_ms(100);
    }
    return slowest;
}
