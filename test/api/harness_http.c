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
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cjose/cjose.h>
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

long th_create_org(const struct th_orgd *o, const char *name, const char *email,
                   const char *password)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email, "password",
                          password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/org/create", NULL, body, &r) ? r.status : -1;
    free(body);
    th_resp_free(&r);
    return status;
}

long th_login(const struct th_orgd *o, const char *email, const char *password, char **token)
{
    *token = NULL;
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/admin/login", NULL, body, &r) ? r.status : -1;
    if (status == 200)
        *token = strdup(json_string_value(json_object_get(r.json, "access_token")));
    free(body);
    th_resp_free(&r);
    return status;
}

long th_signup(const struct th_orgd *o, const char *email, const char *password)
{
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    long status = th_status_of(o, "POST", "/auth/signup", NULL, body);
    free(body);
    return status;
}

/* On a 200 with both tokens, copies them into t; otherwise fails the test. */
static void tokens_of(const struct th_resp *r, struct th_tokens *t)
{
    const char *access = json_string_value(json_object_get(r->json, "access_token"));
    const char *refresh = json_string_value(json_object_get(r->json, "refresh_token"));
    if (access == NULL || refresh == NULL || strlen(access) >= sizeof t->access ||
        strlen(refresh) >= sizeof t->refresh)
        fail_msg("a 200 without a usable token pair: %.300s", r->body);
    snprintf(t->access, sizeof t->access, "%s", access);
    snprintf(t->refresh, sizeof t->refresh, "%s", refresh);
}

long th_signin_at(const struct th_orgd *o, const char *route, const char *email,
                  const char *password, struct th_tokens *t)
{
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", route, NULL, body, &r) ? r.status : -1;
    free(body);
    if (status == 200)
        tokens_of(&r, t);
    th_resp_free(&r);
    return status;
}

long th_signin(const struct th_orgd *o, const char *email, const char *password,
               struct th_tokens *t)
{
    return th_signin_at(o, "/auth/signin", email, password, t);
}

long th_refresh(const struct th_orgd *o, const char *refresh, struct th_tokens *t)
{
    json_t *j = json_pack("{s:s}", "refresh_token", refresh);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    long status = th_http_json(o, "POST", "/auth/refresh_token", NULL, body, &r) ? r.status : -1;
    free(body);
    if (status == 200)
        tokens_of(&r, t);
    th_resp_free(&r);
    return status;
}

void th_signup_ok(const struct th_orgd *o, const char *email, const char *password)
{
    long status = th_signup(o, email, password);
    if (status != 201)
        fail_msg("sign-up of %s answered %ld", email, status);
}

void th_signin_ok(const struct th_orgd *o, const char *email, const char *password,
                  struct th_tokens *t)
{
    long status = th_signin(o, email, password, t);
    if (status != 200)
        fail_msg("sign-in of %s answered %ld", email, status);
}

void th_signup_fresh(const struct th_orgd *o, const char *prefix, char *email, size_t cap)
{
    th_fresh_email(prefix, email, cap);
    th_signup_ok(o, email, TU_PASSWORD);
}

void th_account_id_of(const struct th_orgd *o, const char *access, char *out, size_t cap)
{
    json_t *j = th_expect_json(o, "GET", "/auth/check", access, NULL, 200);
    snprintf(out, cap, "%s", th_json_str(json_object_get(j, "admin"), "id"));
    json_decref(j);
}

void th_account_new(const struct th_orgd *o, const char *prefix, struct th_account *a)
{
    memset(a, 0, sizeof *a);
    th_signup_fresh(o, prefix, a->email, sizeof a->email);
    th_signin_ok(o, a->email, TU_PASSWORD, &a->t);
    th_account_id_of(o, a->t.access, a->id, sizeof a->id);
}

void th_org_new(const struct th_orgd *o, const char *token, const char *prefix, char id[32],
                char name[64])
{
    th_unique(prefix, name, 64);
    json_t *j =
        th_expect_json(o, "POST", "/organization/", token, json_pack("{s:s}", "name", name), 201);
    snprintf(id, 32, "%s", th_json_str(j, "id"));
    json_decref(j);
}

void th_invite(const struct th_orgd *o, const char *token, const char *org_id, const char *email,
               const char *role, struct th_invitation *out)
{
    char path[128];
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    json_t *body = role ? json_pack("{s:s, s:s}", "email", email, "role", role)
                        : json_pack("{s:s}", "email", email);
    json_t *j = th_expect_json(o, "POST", path, token, body, 201);
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", th_json_str(j, "id"));
    snprintf(out->token, sizeof out->token, "%s", th_json_str(j, "token"));
    snprintf(out->email, sizeof out->email, "%s", th_json_str(j, "email"));
    json_decref(j);
}

void th_member_new(const struct th_orgd *o, const char *owner_token, const char *org_id,
                   const char *role, const char *prefix, struct th_account *a)
{
    memset(a, 0, sizeof *a);
    th_fresh_email(prefix, a->email, sizeof a->email);
    struct th_invitation inv;
    th_invite(o, owner_token, org_id, a->email, role, &inv);
    json_t *j =
        th_expect_json(o, "POST", "/invitations/accept", NULL,
                       json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD), 200);
    snprintf(a->id, sizeof a->id, "%s", th_json_str(j, "account_id"));
    json_decref(j);
    th_signin_ok(o, a->email, TU_PASSWORD, &a->t);
}

json_t *th_jwt_claims(const char *jwt)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL)
        fail_msg("not a JWT: %.100s", jwt);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    if (!cjose_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &raw_len, &err))
        fail_msg("a JWT whose payload is not base64url: %.100s", jwt);
    json_t *claims = json_loadb((const char *)raw, raw_len, 0, NULL);
    cjose_get_dealloc()(raw);
    if (!json_is_object(claims))
        fail_msg("a JWT whose payload is no JSON object: %.100s", jwt);
    return claims;
}

void th_tenant_new(const struct th_orgd *o, struct th_tenant *t, const char *prefix)
{
    memset(t, 0, sizeof *t);
    th_unique(prefix, t->name, sizeof t->name);
    snprintf(t->email, sizeof t->email, "%s@example.com", t->name);
    th_lower(t->email);
    long created = th_create_org(o, t->name, t->email, TU_PASSWORD);
    long logged_in = created == 201 ? th_login(o, t->email, TU_PASSWORD, &t->token) : 0;
    if (created != 201 || logged_in != 200)
        fail_msg("tenant %s: create answered %ld, login %ld", t->name, created, logged_in);
    struct th_resp r;
    if (!th_http_json(o, "GET", "/auth/check", t->token, NULL, &r) || r.status != 200)
        fail_msg("tenant %s: /auth/check answered %ld", t->name, r.status);
    const char *org_id =
        json_string_value(json_object_get(json_object_get(r.json, "organization"), "id"));
    const char *admin_id =
        json_string_value(json_object_get(json_object_get(r.json, "admin"), "id"));
    if (org_id == NULL || admin_id == NULL)
        fail_msg("tenant %s: /auth/check lacks the ids: %s", t->name, r.body);
    snprintf(t->id, sizeof t->id, "%s", org_id);
    snprintf(t->admin_id, sizeof t->admin_id, "%s", admin_id);
    th_resp_free(&r);
}

void th_tenant_free(struct th_tenant *t)
{
    free(t->token);
    t->token = NULL;
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

void th_collection_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "org_%s", name);
    th_lower(out);
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
