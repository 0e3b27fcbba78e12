#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void harness_unique(const char *prefix, char *out, size_t cap)
{
    unsigned char b[4];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        abort();
    snprintf(out, cap, "%s_%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3]);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
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

static pid_t spawn(struct orgd *o, const char *const *extra, const char *arg)
{
    char **env = child_env(o, extra);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        char *argv[] = {(char *)o->binary, (char *)arg, NULL};
        if (arg == NULL)
            argv[1] = NULL;
        execve(o->binary, argv, env);
        _exit(127);
    }
    free_env(env);
    return pid;
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
    long until = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(o->pid, &st, WNOHANG);
        if (r == o->pid) {
            o->pid = 0;
            return decode_status(st);
        }
        if (now_ms() > until)
            return -1;
        sleep_ms(10);
    }
}

bool orgd_start(struct orgd *o, const char *const *extra_env)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        o->port = free_port();
        snprintf(o->base, sizeof o->base, "http://127.0.0.1:%d", o->port);
        o->pid = spawn(o, extra_env, NULL);
        long until = now_ms() + 20000;
        while (now_ms() < until) {
            struct resp r;
            if (http(o, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r) && r.status == 200) {
                resp_free(&r);
                return true;
            }
            resp_free(&r);
            int code = orgd_wait(o, 0);
            if (code != -1)
                break; /* it exited: maybe the port was taken; try another */
            sleep_ms(20);
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

int orgd_run_to_exit(struct orgd *o, const char *const *extra_env, int timeout_ms)
{
    o->port = free_port();
    o->pid = spawn(o, extra_env, NULL);
    int code = orgd_wait(o, timeout_ms);
    if (code == -1) {
        kill(o->pid, SIGKILL);
        orgd_wait(o, 5000);
    }
    return code;
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

static __thread CURL *thread_curl;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *curl_for_thread(void)
{
    pthread_once(&curl_once, curl_global);
    if (thread_curl == NULL)
        thread_curl = curl_easy_init();
    return thread_curl;
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

bool private_db_stop(struct private_db *d)
{
    return db_script(d, "stop", NULL, 0);
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
