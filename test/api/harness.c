#include "harness.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "testutil.h"

extern char **environ;

static bool log_leaks_secret(const struct orgd *o, char *out, size_t cap);

const char *harness_orgd_bin(void)
{
    return ORGD_BIN;
}

const char *harness_orgd_faults_bin(void)
{
    return ORGD_FAULTS_BIN;
}

const char *harness_source_dir(void)
{
    return ORGD_SOURCE_DIR;
}

const char *harness_mongo_uri(void)
{
    const char *uri = getenv("ORGD_TEST_MONGO_URI");
    if (uri == NULL || uri[0] == '\0') {
        fprintf(stderr, "ORGD_TEST_MONGO_URI is not set: run the tests through scripts/test, "
                        "or start a database (scripts/db start) and export its URI\n");
        exit(1);
    }
    return uri;
}

void harness_unique(const char *prefix, char *out, size_t cap)
{
    unsigned char b[4];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        abort();
    snprintf(out, cap, "%s_%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3]);
}

void orgd_init(struct orgd *o, const char *binary)
{
    memset(o, 0, sizeof *o);
    o->binary = binary ? binary : harness_orgd_bin();
    snprintf(o->uri, sizeof o->uri, "%s", harness_mongo_uri());
    harness_unique("t", o->db, sizeof o->db);
    unsigned char b[32];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        abort();
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(o->secret + 2 * i, 3, "%02x", b[i]);
    const char *dir = getenv("ORGD_TEST_LOG_DIR");
    snprintf(o->log_path, sizeof o->log_path, "%s/orgd-%s.log", dir ? dir : "/tmp", o->db);
}

static bool is_setting(const char *entry)
{
    const char *name, *def, *help;
    for (size_t i = 0; config_setting_at(i, &name, &def, &help); i++) {
        size_t n = strlen(name);
        if (strncmp(entry, name, n) == 0 && entry[n] == '=')
            return true;
    }
    return strncmp(entry, "ENV_FILE=", 9) == 0;
}

static bool overridden(const char *entry, const char *const *extra)
{
    size_t n = strcspn(entry, "=");
    for (size_t i = 0; extra && extra[i]; i++) {
        if (strncmp(extra[i], entry, n) == 0 && extra[i][n] == '=')
            return true;
    }
    return false;
}

/* environ without orgd's settings, then ours, then the extras */
static char **child_env(struct orgd *o, const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 16, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_setting(environ[i]))
            env[k++] = strdup(environ[i]);
    }
    char buf[1024];
    /* ours, unless an extra sets the same name (the first one found wins) */
#define ADD(...)                                                                                   \
    do {                                                                                           \
        snprintf(buf, sizeof buf, __VA_ARGS__);                                                    \
        if (!overridden(buf, extra))                                                               \
            env[k++] = strdup(buf);                                                                \
    } while (0)
    ADD("MONGO_URI=%s", o->uri);
    ADD("MASTER_DB=%s", o->db);
    ADD("JWT_SECRET=%s", o->secret);
    ADD("PORT=%d", o->port);
    ADD("HOST=127.0.0.1");
    ADD("ENV_FILE=/nonexistent/orgd-test.env");
#undef ADD
    for (size_t i = 0; i < m; i++)
        env[k++] = strdup(extra[i]);
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

/* Runs o->binary with args (NULL-terminated, may be NULL), output to path. */
static pid_t spawn_to(struct orgd *o, const char *const *extra, const char *const *args,
                      const char *path)
{
    char **env = child_env(o, extra);
    char *argv[16] = {(char *)o->binary};
    for (size_t i = 0; args && args[i] && i < 14; i++)
        argv[i + 1] = (char *)args[i];
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(o->binary, argv, env);
        _exit(127);
    }
    free_env(env);
    return pid;
}

static pid_t spawn(struct orgd *o, const char *const *extra, const char *arg)
{
    const char *args[] = {arg, NULL};
    return spawn_to(o, extra, arg ? args : NULL, o->log_path);
}

static void print_log_tail(const struct orgd *o)
{
    FILE *f = fopen(o->log_path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 6000 ? size - 6000 : 0, SEEK_SET);
    fprintf(stderr, "---- %s (tail) ----\n", o->log_path);
    char line[2048];
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fprintf(stderr, "---- end ----\n");
    fclose(f);
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int orgd_wait(struct orgd *o, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(o->pid, &st, WNOHANG);
        if (r == o->pid) {
            o->pid = 0;
            /* however it ended (a crash at a fault point too), its log
             * must not hold a secret */
            char leaked[64];
            if (log_leaks_secret(o, leaked, sizeof leaked)) {
                fprintf(stderr, "orgd's log %s holds a secret: %s\n", o->log_path, leaked);
                return HARNESS_LOG_LEAK;
            }
            return decode_status(st);
        }
        if (tu_now_ms() > until)
            return -1;
        tu_sleep_ms(10);
    }
}

void orgd_spawn(struct orgd *o, const char *const *extra_env)
{
    o->port = tu_free_port();
    snprintf(o->base, sizeof o->base, "http://127.0.0.1:%d", o->port);
    o->pid = spawn(o, extra_env, NULL);
}

bool orgd_start(struct orgd *o, const char *const *extra_env)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        orgd_spawn(o, extra_env);
        int64_t until = tu_now_ms() + 20000;
        while (tu_now_ms() < until) {
            struct resp r;
            if (http(o, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r) && r.status == 200) {
                resp_free(&r);
                return true;
            }
            resp_free(&r);
            int code = orgd_wait(o, 0);
            if (code != -1)
                break; /* it exited: maybe the port was taken; try another */
            tu_sleep_ms(20);
        }
        if (o->pid != 0) {
            kill(o->pid, SIGKILL);
            orgd_wait(o, 5000);
        }
    }
    fprintf(stderr, "orgd did not start\n");
    print_log_tail(o);
    return false;
}

struct orgd shared_orgd;

static int shared_orgd_setup(void **state)
{
    (void)state;
    orgd_init(&shared_orgd, NULL);
    return orgd_start(&shared_orgd, NULL) ? 0 : -1;
}

int harness_run_group(const struct CMUnitTest *tests, size_t n)
{
    int failed = _cmocka_run_group_tests("tests", tests, n, shared_orgd_setup, NULL);
    if (shared_orgd.pid > 0 && orgd_stop(&shared_orgd) != 0) {
        fprintf(stderr, "[  FAILED  ] the shared orgd did not stop cleanly\n");
        failed++;
    }
    return failed;
}

int orgd_run_to_exit(struct orgd *o, const char *const *extra_env, int timeout_ms)
{
    o->port = tu_free_port();
    o->pid = spawn(o, extra_env, NULL);
    int code = orgd_wait(o, timeout_ms);
    if (code == -1) {
        kill(o->pid, SIGKILL);
        orgd_wait(o, 5000);
    }
    return code;
}

int orgd_command(struct orgd *o, const char *const *args, const char *const *extra_env,
                 char *out, size_t cap)
{
    char path[600];
    snprintf(path, sizeof path, "%s.cmd", o->log_path);
    unlink(path);
    struct orgd run = *o;
    run.pid = spawn_to(&run, extra_env, args, path);
    snprintf(run.log_path, sizeof run.log_path, "%s", path); /* what the leak check reads */
    int code = orgd_wait(&run, 60000);
    if (code == -1) {
        kill(run.pid, SIGKILL);
        orgd_wait(&run, 5000);
    }
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    return code;
}

int orgd_check(struct orgd *o, bool repair, char *out, size_t cap)
{
    const char *plain[] = {"check", NULL}, *fix[] = {"check", "--repair", NULL};
    return orgd_command(o, repair ? fix : plain, NULL, out, cap);
}

void expect_check_clean(struct orgd *o)
{
    char out[8192];
    int code = orgd_check(o, false, out, sizeof out);
    if (code != 0 || strstr(out, "consistent") == NULL)
        fail_msg("orgd check exited %d:\n%s", code, out);
}

/* ---- what must never reach a log: every password the tests sent, every
 * token orgd issued, the JWT secret and any argon2 hash ---- */

#define SECRETS_MAX 4096
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRETS_MAX];
static size_t nsecrets;

static void secret_remember(const char *s)
{
    if (s == NULL || strlen(s) < 8) /* shorter ones are hostile inputs, not secrets */
        return;
    pthread_mutex_lock(&secrets_lock);
    bool known = false;
    for (size_t i = 0; i < nsecrets && !known; i++)
        known = strcmp(secrets[i], s) == 0;
    if (!known) {
        size_t slot;
        if (nsecrets < SECRETS_MAX) {
            slot = nsecrets++;
        } else { /* full: forget one at random, keep checking the rest */
            slot = (size_t)rand() % SECRETS_MAX;
            free(secrets[slot]);
        }
        secrets[slot] = strdup(s);
    }
    pthread_mutex_unlock(&secrets_lock);
}

/* The first secret found in o's log, copied into out; false if none. */
static bool log_leaks_secret(const struct orgd *o, char *out, size_t cap)
{
    if (orgd_log_contains(o, o->secret) || orgd_log_contains(o, "$argon2")) {
        snprintf(out, cap, "the JWT secret or a password hash");
        return true;
    }
    pthread_mutex_lock(&secrets_lock);
    bool leak = false;
    for (size_t i = 0; i < nsecrets && !leak; i++) {
        leak = orgd_log_contains(o, secrets[i]);
        if (leak)
            snprintf(out, cap, "%.24s...", secrets[i]);
    }
    pthread_mutex_unlock(&secrets_lock);
    return leak;
}

int orgd_stop(struct orgd *o)
{
    if (o->pid <= 0)
        return -1;
    kill(o->pid, SIGTERM);
    int code = orgd_wait(o, 30000);
    if (code == -1) {
        kill(o->pid, SIGKILL);
        orgd_wait(o, 5000);
    }
    if (code != 0) {
        fprintf(stderr, "orgd exited with %d\n", code);
        print_log_tail(o);
    }
    return code;
}

bool orgd_log_contains(const struct orgd *o, const char *needle)
{
    FILE *f = fopen(o->log_path, "r");
    if (f == NULL)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0)
        found = strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return found;
}

/* ---- HTTP ---- */

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

static void exchange_record(const struct orgd *o, const char *method, const char *path,
                            const struct resp *r)
{
    const char *dir = getenv("ORGD_TEST_EXCHANGES_DIR");
    if (dir == NULL || dir[0] == '\0')
        return;
    char file[1024], ctype[256] = "";
    snprintf(file, sizeof file, "%s/%ld.jsonl", dir, (long)getpid());
    resp_header(r, "Content-Type", ctype, sizeof ctype);
    json_t *line = json_pack("{s:s, s:s, s:i, s:s, s:b, s:s, s:i}", "method", method, "path",
                             path, "status", (int)r->status, "content_type", ctype, "has_body",
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

static void secrets_of_exchange(const char *body, size_t len, const struct resp *r)
{
    if (body != NULL) {
        json_t *req = json_loadb(body, len, 0, NULL);
        if (json_is_object(req))
            secret_remember(json_string_value(json_object_get(req, "password")));
        json_decref(req);
    }
    if (json_is_object(r->json))
        secret_remember(json_string_value(json_object_get(r->json, "access_token")));
}

bool http(const struct orgd *o, const char *method, const char *path, const char *token,
          const char *content_type, const char *body, size_t len, const char *const *extra_headers,
          struct resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_for_thread();
    curl_easy_reset(c);
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
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    r->body = data.data ? data.data : calloc(1, 1);
    r->len = data.len;
    r->headers = hdrs.data ? hdrs.data : calloc(1, 1);
    if (rc != CURLE_OK)
        return false;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    if (r->len > 0)
        r->json = json_loadb(r->body, r->len, 0, NULL);
    secrets_of_exchange(body, len, r);
    exchange_record(o, method, path, r);
    return true;
}

bool http_json(const struct orgd *o, const char *method, const char *path, const char *token,
               const char *body, struct resp *r)
{
    return http(o, method, path, token, NULL, body, body ? strlen(body) : 0, NULL, r);
}

bool resp_header(const struct resp *r, const char *name, char *out, size_t cap)
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

void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

bool is_problem(const struct resp *r, long status)
{
    char ct[128] = "";
    resp_header(r, "Content-Type", ct, sizeof ct);
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

long create_org(const struct orgd *o, const char *name, const char *email, const char *password)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email,
                          "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct resp r;
    long status = http_json(o, "POST", "/org/create", NULL, body, &r) ? r.status : -1;
    free(body);
    resp_free(&r);
    return status;
}

long login(const struct orgd *o, const char *email, const char *password, char **token)
{
    *token = NULL;
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct resp r;
    long status = http_json(o, "POST", "/admin/login", NULL, body, &r) ? r.status : -1;
    if (status == 200)
        *token = strdup(json_string_value(json_object_get(r.json, "access_token")));
    free(body);
    resp_free(&r);
    return status;
}

void tenant_new(const struct orgd *o, struct tenant *t, const char *prefix)
{
    memset(t, 0, sizeof *t);
    harness_unique(prefix, t->name, sizeof t->name);
    snprintf(t->email, sizeof t->email, "%s@example.com", t->name);
    for (char *p = t->email; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    long created = create_org(o, t->name, t->email, TU_PASSWORD);
    long logged_in = created == 201 ? login(o, t->email, TU_PASSWORD, &t->token) : 0;
    if (created != 201 || logged_in != 200)
        fail_msg("tenant %s: create answered %ld, login %ld", t->name, created, logged_in);
    struct resp r;
    if (!http_json(o, "GET", "/auth/check", t->token, NULL, &r) || r.status != 200)
        fail_msg("tenant %s: /auth/check answered %ld", t->name, r.status);
    const char *org_id =
        json_string_value(json_object_get(json_object_get(r.json, "organization"), "id"));
    const char *admin_id = json_string_value(json_object_get(json_object_get(r.json, "admin"), "id"));
    if (org_id == NULL || admin_id == NULL)
        fail_msg("tenant %s: /auth/check lacks the ids: %s", t->name, r.body);
    snprintf(t->id, sizeof t->id, "%s", org_id);
    snprintf(t->admin_id, sizeof t->admin_id, "%s", admin_id);
    resp_free(&r);
}

void tenant_free(struct tenant *t)
{
    free(t->token);
    t->token = NULL;
}

static void *call_main(void *arg)
{
    struct call *c = arg;
    struct resp r;
    c->retry_after[0] = '\0';
    if (c->delay_ms > 0)
        tu_sleep_ms(c->delay_ms);
    if (http_json(c->o, c->method, c->path, c->token, c->body[0] ? c->body : NULL, &r)) {
        c->status = r.status;
        resp_header(&r, "Retry-After", c->retry_after, sizeof c->retry_after);
    } else {
        c->status = -1;
    }
    resp_free(&r);
    return NULL;
}

void call_start(struct call *c)
{
    if (pthread_create(&c->thread, NULL, call_main, c) != 0)
        abort();
}

void call_join(struct call *c)
{
    pthread_join(c->thread, NULL);
}

void collection_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "org_%s", name);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

long status_of(const struct orgd *o, const char *method, const char *path, const char *token,
               const char *body)
{
    struct resp r;
    long s = http_json(o, method, path, token, body, &r) ? r.status : -1;
    resp_free(&r);
    return s;
}

/* ---- the database ---- */

/* the driver warns about endSessions on FerretDB: expected, and noise */
static void quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions") == NULL)
        fprintf(stderr, "mongoc %s: %s\n", domain, message);
}

static void mongo_init_once(void)
{
    mongoc_init();
    mongoc_log_set_handler(quiet_log, NULL);
}

mongoc_client_t *db_client(const struct orgd *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, mongo_init_once);
    mongoc_client_t *c = mongoc_client_new(o->uri);
    mongoc_client_set_error_api(c, 2);
    return c;
}

bool db_collection_exists(const struct orgd *o, const char *name)
{
    mongoc_client_t *c = db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(c, o->db);
    bson_error_t e;
    bool exists = mongoc_database_has_collection(db, name, &e);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    return exists;
}

int64_t db_count(const struct orgd *o, const char *collection, const bson_t *filter)
{
    mongoc_client_t *c = db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, collection);
    bson_t empty = BSON_INITIALIZER;
    bson_error_t e;
    int64_t n = mongoc_collection_count_documents(coll, filter ? filter : &empty, NULL, NULL, NULL,
                                                  &e);
    if (n < 0)
        fprintf(stderr, "count %s: %s\n", collection, e.message);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return n;
}

int64_t db_count_str(const struct orgd *o, const char *collection, const char *field,
                     const char *value)
{
    bson_t *f = BCON_NEW(field, BCON_UTF8(value));
    int64_t n = db_count(o, collection, f);
    bson_destroy(f);
    return n;
}

int64_t db_count_oid(const struct orgd *o, const char *collection, const char *field,
                     const char *hex)
{
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, hex);
    bson_t *f = BCON_NEW(field, BCON_OID(&oid));
    int64_t n = db_count(o, collection, f);
    bson_destroy(f);
    return n;
}

void db_make_stuck(const struct orgd *o, const char *id, const char *state)
{
    mongoc_client_t *c = db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "organizations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, id);
    int64_t then = (int64_t)time(NULL) * 1000 - 60000;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8(state), "op", "{", "started_at",
                              BCON_DATE_TIME(then), "touched_at", BCON_DATE_TIME(then),
                              "claimed_by", BCON_UTF8(""), "from_name", BCON_UTF8(""), "from_key",
                              BCON_UTF8(""), "from_collection", BCON_UTF8(""), "to_collection",
                              BCON_UTF8(""), "}", "}", "$inc", "{", "version", BCON_INT64(1),
                              "}");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, &e);
    bson_iter_t it;
    bool modified = false;
    if (ok && bson_iter_init_find(&it, &reply, "modifiedCount"))
        modified = bson_iter_as_int64(&it) > 0;
    bson_destroy(&reply);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!ok || !modified)
        fail_msg("could not make org %s stuck: %s", id, ok ? "no match" : e.message);
}

bool db_insert_docs(const struct orgd *o, const char *collection, int n, const char *tag)
{
    mongoc_client_t *c = db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, collection);
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        bson_t *doc = BCON_NEW("i", BCON_INT32(i), "tag", BCON_UTF8(tag));
        bson_error_t e;
        ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &e);
        if (!ok)
            fprintf(stderr, "insert into %s: %s\n", collection, e.message);
        bson_destroy(doc);
    }
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return ok;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *db_snapshot(const struct orgd *o)
{
    mongoc_client_t *c = db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(c, o->db);
    bson_error_t e;
    char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &e);
    size_t n = 0;
    while (names && names[n])
        n++;
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    for (size_t i = 0; i < n; i++) {
        mongoc_collection_t *coll = mongoc_database_get_collection(db, names[i]);
        bson_t empty = BSON_INITIALIZER;
        int64_t count = mongoc_collection_count_documents(coll, &empty, NULL, NULL, NULL, &e);
        fprintf(f, "%s: %lld\n", names[i], (long long)count);
        if (strcmp(names[i], "organizations") == 0 || strcmp(names[i], "admins") == 0 ||
            strcmp(names[i], "memberships") == 0) {
            bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
            mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &empty, opts, NULL);
            const bson_t *doc;
            while (mongoc_cursor_next(cur, &doc)) {
                char *text = bson_as_canonical_extended_json(doc, NULL);
                fprintf(f, "  %s\n", text);
                bson_free(text);
            }
            mongoc_cursor_destroy(cur);
            bson_destroy(opts);
        }
        mongoc_collection_destroy(coll);
    }
    fclose(f);
    bson_strfreev(names);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    return out;
}

/* ---- a private database ---- */

static bool db_script(struct private_db *d, const char *verb, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "env -u MONGO_URI ORGD_DB_DIR='%s' '%s/scripts/db' %s", d->dir,
             harness_source_dir(), verb);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return false;
    char line[512] = "";
    if (fgets(line, sizeof line, p) != NULL && out != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(out, cap, "%s", line);
    }
    return pclose(p) == 0;
}

bool private_db_start(struct private_db *d)
{
    if (d->dir[0] == '\0') {
        const char *base = getenv("ORGD_TEST_LOG_DIR");
        snprintf(d->dir, sizeof d->dir, "%s/privdb.XXXXXX", base ? base : "/tmp");
        if (mkdtemp(d->dir) == NULL)
            return false;
    }
    return db_script(d, "start", d->uri, sizeof d->uri);
}

bool orgd_start_on(struct orgd *o, struct private_db *d, const char *const *extra_env)
{
    if (!private_db_start(d))
        return false;
    snprintf(o->uri, sizeof o->uri, "%s", d->uri);
    return orgd_start(o, extra_env);
}

bool orgd_wait_ready(const struct orgd *o, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if (status_of(o, "GET", "/readyz", NULL, NULL) == 200)
            return true;
        tu_sleep_ms(100);
    }
    return false;
}

bool private_db_stop(struct private_db *d)
{
    return db_script(d, "stop", NULL, 0);
}

bool private_db_kill(struct private_db *d)
{
    char path[600];
    snprintf(path, sizeof path, "%s/pid", d->dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    if (kill((pid_t)pid, SIGKILL) != 0)
        return false;
    for (int i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++)
        tu_sleep_ms(10);
    return true;
}

void private_db_destroy(struct private_db *d)
{
    if (d->dir[0] == '\0')
        return;
    private_db_stop(d);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", d->dir);
    d->dir[0] = '\0';
}
