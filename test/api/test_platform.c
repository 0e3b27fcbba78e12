/* The platform: health, routing errors, graceful shutdown, settings,
 * readiness against a database that goes away and comes back. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static void healthz_and_readyz_answer(void **state)
{
    (void)state;
    struct th_resp r;
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    char ct[64];
    assert_true(th_resp_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json");
    th_resp_free(&r);
    assert_true(th_http(&th_shared_orgd, "GET", "/readyz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    /* HEAD works on GET routes, without a body */
    assert_true(th_http(&th_shared_orgd, "HEAD", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
}

static void unknown_path_is_404_problem(void **state)
{
    (void)state;
    const char *paths[] = {"/nope",       "/org",      "/org/",       "/org/acme/extra",
                           "/org/a/../b", "//healthz", "/ORG/create", "/nope/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct th_resp r;
        assert_true(th_http(&th_shared_orgd, "GET", paths[i], NULL, NULL, NULL, 0, NULL, &r));
        if (!th_is_problem(&r, 404))
            fail_msg("path %s", paths[i]);
        th_resp_free(&r);
    }
}

/* A route's path but for its trailing slash is a 307 to the route, query
 * kept, whatever the method (the FastAPI services did this; their clients
 * follow it with the same method and body). */
static void a_trailing_slash_off_by_one_is_redirected(void **state)
{
    (void)state;
    const struct {
        const char *method, *path, *location;
    } cases[] = {
        {"GET", "/organization", "/organization/"},
        {"POST", "/organization", "/organization/"},
        {"GET", "/organization?limit=5&cursor=x", "/organization/?limit=5&cursor=x"},
        {"GET", "/healthz/", "/healthz"},
        {"POST", "/org/create/", "/org/create"},
        {"GET", "/org/create/", "/org/create"}, /* the route's, though not its method */
        {"DELETE", "/organization/abc/", "/organization/abc"},
        {"GET", "/org/acme/", "/org/acme"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct th_resp r;
        assert_true(th_http(&th_shared_orgd, cases[i].method, cases[i].path, NULL, NULL, NULL, 0,
                            NULL, &r));
        char location[256] = "";
        th_resp_header(&r, "Location", location, sizeof location);
        if (r.status != 307 || strcmp(location, cases[i].location) != 0 || r.len != 0)
            fail_msg("%s %s: %ld to '%s', want 307 to %s", cases[i].method, cases[i].path, r.status,
                     location, cases[i].location);
        th_resp_free(&r);
    }
    /* no redirect whose Location would have to be cut (it would name
     * another resource), and none for a preflight (browsers follow none) */
    char longer[400];
    int n = snprintf(longer, sizeof longer, "/org/delete/?organization_name=");
    memset(longer + n, 'a', 300);
    longer[n + 300] = '\0';
    const struct {
        const char *method, *path;
    } not_redirected[] = {{"DELETE", longer}, {"OPTIONS", "/organization"}};
    for (size_t i = 0; i < sizeof not_redirected / sizeof not_redirected[0]; i++) {
        struct th_resp r;
        assert_true(th_http(&th_shared_orgd, not_redirected[i].method, not_redirected[i].path, NULL,
                            NULL, NULL, 0, NULL, &r));
        if (!th_is_problem(&r, 404))
            fail_msg("%s %.60s...: %ld, want 404", not_redirected[i].method, not_redirected[i].path,
                     r.status);
        th_resp_free(&r);
    }
}

static void wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"DELETE", "/healthz", "GET, HEAD, OPTIONS"},   {"POST", "/readyz", "GET, HEAD, OPTIONS"},
        {"GET", "/org/create", "POST, OPTIONS"},        {"PUT", "/admin/login", "POST, OPTIONS"},
        {"POST", "/org/get", "GET, HEAD, OPTIONS"},     {"PATCH", "/org/update", "PUT, OPTIONS"},
        {"GET", "/org/delete/acme", "DELETE, OPTIONS"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct th_resp r;
        assert_true(th_http(&th_shared_orgd, cases[i].method, cases[i].path, NULL, NULL, NULL, 0,
                            NULL, &r));
        assert_true(th_is_problem(&r, 405));
        char allow[128];
        assert_true(th_resp_header(&r, "Allow", allow, sizeof allow));
        assert_string_equal(allow, cases[i].allow);
        th_resp_free(&r);
    }
}

static void options_lists_methods_and_cors_is_off_by_default(void **state)
{
    (void)state;
    struct th_resp r;
    const char *origin[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST",
                            NULL};
    assert_true(
        th_http(&th_shared_orgd, "OPTIONS", "/org/create", NULL, NULL, NULL, 0, origin, &r));
    assert_int_equal(r.status, 204);
    assert_null(strcasestr(r.headers, "Content-Length")); /* none on a 204: RFC 9110 8.6 */
    char v[128];
    assert_true(th_resp_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "POST, OPTIONS");
    assert_false(th_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    th_resp_free(&r);
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, origin, &r));
    assert_false(th_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    th_resp_free(&r);
}

static void cors_answers_only_configured_origins(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    const char *env[] = {"CORS_ORIGINS=https://app.example,https://admin.example", NULL};
    assert_true(th_orgd_start(&o, env));
    const char *good[] = {"Origin: https://admin.example", "Access-Control-Request-Method: PUT",
                          NULL};
    const char *bad[] = {"Origin: https://app.example.evil", NULL};
    struct th_resp r;
    char v[256];
    assert_true(th_http(&o, "OPTIONS", "/org/update", NULL, NULL, NULL, 0, good, &r));
    assert_int_equal(r.status, 204);
    assert_true(th_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_string_equal(v, "https://admin.example");
    assert_true(th_resp_header(&r, "Access-Control-Allow-Methods", v, sizeof v));
    assert_string_equal(v, "PUT, OPTIONS");
    th_resp_free(&r);
    assert_true(th_http(&o, "GET", "/healthz", NULL, NULL, NULL, 0, bad, &r));
    assert_int_equal(r.status, 200);
    assert_false(th_resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    th_resp_free(&r);
    assert_int_equal(th_orgd_stop(&o), 0);
}

static void request_id_is_echoed_or_generated(void **state)
{
    (void)state;
    struct th_resp r;
    const char *mine[] = {"X-Request-Id: trace-42.abc", NULL};
    char v[128];
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, mine, &r));
    assert_true(th_resp_header(&r, "X-Request-Id", v, sizeof v));
    assert_string_equal(v, "trace-42.abc");
    th_resp_free(&r);
    const char *hostile[] = {"X-Request-Id: a\"b<script>", NULL};
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, hostile, &r));
    assert_true(th_resp_header(&r, "X-Request-Id", v, sizeof v));
    assert_int_equal(strlen(v), 32);
    assert_null(strchr(v, '<'));
    th_resp_free(&r);
}

static void keep_alive_reuses_the_connection(void **state)
{
    (void)state;
    struct th_resp r;
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    th_resp_free(&r);
    for (int i = 0; i < 5; i++) {
        assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
        assert_int_equal(r.status, 200);
        assert_int_equal(r.connects, 0); /* no new connection */
        th_resp_free(&r);
    }
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static size_t recv_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = recv(fd, buf + got, cap - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    return got;
}

static void body_too_large_is_413_before_reading(void **state)
{
    (void)state;
    int fd = connect_to(th_shared_orgd.port);
    const char *req = "POST /org/create HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Content-Length: 104857600\r\n\r\n";
    send_all(fd, req, strlen(req));
    /* no body is sent at all: the answer must not wait for it */
    char buf[4096];
    recv_all(fd, buf, sizeof buf);
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "application/problem+json"));
}

static void sigterm_finishes_a_request_whose_body_is_still_arriving(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start(&o, NULL));
    char name[64], body[512], head[512];
    th_unique("slow", name, sizeof name);
    int blen = snprintf(body, sizeof body,
                        "{\"organization_name\":\"%s\",\"email\":\"%s@example.com\","
                        "\"password\":\"" TU_PASSWORD "\"}",
                        name, name);
    int hlen = snprintf(head, sizeof head,
                        "POST /org/create HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n",
                        blen);
    int fd = connect_to(o.port);
    send_all(fd, head, (size_t)hlen);
    send_all(fd, body, 10); /* part of the body */
    tu_sleep_ms(200);
    assert_int_equal(kill(o.pid, SIGTERM), 0);
    tu_sleep_ms(500);
    assert_int_equal(th_orgd_wait(&o, 0), -1); /* still running: waiting for us */
    send_all(fd, body + 10, (size_t)blen - 10);
    char buf[8192];
    recv_all(fd, buf, sizeof buf);
    close(fd);
    if (strstr(buf, "HTTP/1.1 201") == NULL)
        fail_msg("expected 201, got: %.300s", buf);
    assert_int_equal(th_orgd_wait(&o, 30000), 0);
    assert_true(th_orgd_log_contains(&o, "\"msg\":\"stopping\""));
    assert_true(th_orgd_log_contains(&o, "\"msg\":\"stopped\""));
}

static void bad_settings_refuse_to_start(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"PORT=abc", "PORT"},
        {"PORT=70000", "PORT"},
        {"THREADS=1", "THREADS"},
        {"MAX_BODY_BYTES=-5", "MAX_BODY_BYTES"},
        {"LOG_LEVEL=loud", "LOG_LEVEL"},
        {"JWT_ALGORITHM=RS256", "JWT_ALGORITHM"},
        {"JWT_ALGORITHM=none", "JWT_ALGORITHM"},
        {"MONGO_URI=http://db:27017", "MONGO_URI"},
        {"HOST=localhost", "HOST"},
        {"JWT_EXPIRES_SECONDS=5", "JWT_EXPIRES_SECONDS"},
        {"MASTER_DB=a.b", "MASTER_DB"},
        {"ARGON2_MEMORY_KIB=12abc", "ARGON2_MEMORY_KIB"},
        /* 31 bytes */
        {"JWT_SECRET=0123456789012345678901234567890", "JWT_SECRET"},
        {"JWT_SECRET=", "JWT_SECRET"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct th_orgd o;
        th_orgd_init(&o, NULL);
        const char *env[] = {cases[i][0], NULL};
        int code = th_orgd_run_to_exit(&o, env, 10000);
        if (code != 2)
            fail_msg("%s: exit %d, expected 2", cases[i][0], code);
        char needle[96];
        snprintf(needle, sizeof needle, "\"setting\":\"%s\"", cases[i][1]);
        if (!th_orgd_log_contains(&o, needle) || !th_orgd_log_contains(&o, "invalid configuration"))
            fail_msg("%s: the message does not name %s", cases[i][0], cases[i][1]);
        /* the secret never shows up in the log */
        if (strncmp(cases[i][0], "JWT_SECRET=0123", 15) == 0)
            assert_false(th_orgd_log_contains(&o, "0123456789012345678901234567890"));
    }
}

static void a_32_byte_secret_starts(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    const char *env[] = {"JWT_SECRET=01234567890123456789012345678901", NULL};
    assert_true(th_orgd_start(&o, env));
    assert_int_equal(th_orgd_stop(&o), 0);
}

static void dotenv_file_is_read_and_the_environment_wins(void **state)
{
    (void)state;
    char path[600];
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    snprintf(path, sizeof path, "%s.env", o.log_path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* the file sets an invalid LOG_LEVEL (would refuse to start) and a
     * THREADS the environment overrides */
    fprintf(f, "# comment\nexport THREADS=\"abc\"\nLOG_LEVEL='warn'\n");
    fclose(f);
    char env_file[700];
    snprintf(env_file, sizeof env_file, "ENV_FILE=%s", path);
    const char *env[] = {env_file, "THREADS=4", NULL};
    assert_true(th_orgd_start(&o, env));
    assert_int_equal(th_orgd_stop(&o), 0);
    /* LOG_LEVEL=warn from the file: the info "started" line is not written */
    assert_false(th_orgd_log_contains(&o, "\"msg\":\"started\""));

    struct th_orgd bad;
    th_orgd_init(&bad, NULL);
    const char *env2[] = {env_file, NULL}; /* THREADS=abc from the file now */
    assert_int_equal(th_orgd_run_to_exit(&bad, env2, 10000), 2);
    assert_true(th_orgd_log_contains(&bad, "\"setting\":\"THREADS\""));
    unlink(path);
}

static void readyz_follows_the_database(void **state)
{
    (void)state;
    struct th_private_db db = {0};
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start_on(&o, &db, NULL));
    struct th_resp r;
    assert_true(th_http(&o, "GET", "/readyz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);

    assert_true(th_private_db_stop(&db));
    int64_t t0 = tu_now_ms();
    assert_true(th_http(&o, "GET", "/readyz", NULL, NULL, NULL, 0, NULL, &r));
    double took = (double)(tu_now_ms() - t0) / 1000.0;
    assert_true(th_is_problem(&r, 503));
    char retry[16];
    assert_true(th_resp_header(&r, "Retry-After", retry, sizeof retry));
    th_resp_free(&r);
    if (took >= 3.0)
        fail_msg("/readyz took %.2f s to say 503", took);
    /* liveness does not depend on the database */
    assert_true(th_http(&o, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);

    assert_true(th_private_db_start(&db));
    assert_true(th_orgd_wait_ready(&o, 10000));
    assert_int_equal(th_orgd_stop(&o), 0);
    th_private_db_destroy(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_and_readyz_answer),
        cmocka_unit_test(unknown_path_is_404_problem),
        cmocka_unit_test(a_trailing_slash_off_by_one_is_redirected),
        cmocka_unit_test(wrong_method_is_405_with_allow),
        cmocka_unit_test(options_lists_methods_and_cors_is_off_by_default),
        cmocka_unit_test(cors_answers_only_configured_origins),
        cmocka_unit_test(request_id_is_echoed_or_generated),
        cmocka_unit_test(keep_alive_reuses_the_connection),
        cmocka_unit_test(body_too_large_is_413_before_reading),
        cmocka_unit_test(sigterm_finishes_a_request_whose_body_is_still_arriving),
        cmocka_unit_test(bad_settings_refuse_to_start),
        cmocka_unit_test(a_32_byte_secret_starts),
        cmocka_unit_test(dotenv_file_is_read_and_the_environment_wins),
        cmocka_unit_test(readyz_follows_the_database),
    };
    return th_run_with_shared_orgd(tests);
}
