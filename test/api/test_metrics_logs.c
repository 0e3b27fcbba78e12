/* Operating orgd: GET /metrics (counters that move, orgs by state, a
 * separate METRICS_PORT, a database that is down, recovery actions) and the
 * JSON log (one line per request with its request id, route template,
 * status, latency, client and org; start-up and shutdown; LOG_LEVEL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* ---- /metrics ---- */

/* A scrape once the maintenance thread has counted the orgs (it does so
 * once a second, starting when orgd starts). Caller frees. */
static char *scrape_counted(const struct th_orgd *o)
{
    char *text = th_metrics_scrape(o);
    for (int waited = 0; strstr(text, "# TYPE orgd_organizations gauge") == NULL && waited < 5000;
         waited += 100) {
        free(text);
        tu_sleep_ms(100);
        text = th_metrics_scrape(o);
    }
    return text;
}

#define REQ(route, method, status)                                                                 \
    "orgd_http_requests_total{route=\"" route "\",method=\"" method "\",status=\"" status "\"}"

static void counters_move(void **state)
{
    (void)state;
    char *before = scrape_counted(&th_shared_orgd);
    for (const char *f = "# HELP orgd_http_requests_total\0"
                         "# TYPE orgd_http_requests_total counter\0"
                         "# TYPE orgd_http_request_duration_seconds histogram\0"
                         "# TYPE orgd_mongo_errors_total counter\0"
                         "# TYPE orgd_password_hashes_in_flight gauge\0"
                         "# TYPE orgd_organizations gauge\0"
                         "# TYPE orgd_recovery_actions_total counter\0"
                         "# TYPE orgd_build_info gauge\0# TYPE orgd_start_time_seconds gauge\0";
         *f; f += strlen(f) + 1)
        if (strstr(before, f) == NULL)
            fail_msg("no \"%s\" in\n%s", f, before);

    char name[64], email[96];
    th_unique("Metr", name, sizeof name);
    snprintf(email, sizeof email, "%s@example.com", name);
    th_lower(email);
    assert_int_equal(th_create_org(&th_shared_orgd, name, email, TU_PASSWORD), 201);
    char *token = NULL;
    assert_int_equal(th_login(&th_shared_orgd, email, TU_PASSWORD, &token), 200);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/no/such/route", NULL, NULL), 404);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/auth/check", NULL, NULL), 401);
    assert_int_equal(th_status_of(&th_shared_orgd, "GET", "/auth/check", NULL, NULL), 401);
    /* the org gauges are counted about once a second, off the request
     * path, after the maintenance thread's other work (a recovery pass may
     * take seconds on a loaded machine): scraped until the count shows the
     * new org, each scrape counted for the /metrics counter below */
    char *after = NULL;
    int scrapes = 0;
    for (int64_t until = tu_now_ms() + 15000; scrapes == 0 || tu_now_ms() < until;) {
        tu_sleep_ms(500);
        free(after);
        after = th_metrics_scrape(&th_shared_orgd);
        scrapes++;
        if (th_metric_sample(after, "orgd_organizations{state=\"active\"}") >
            th_metric_sample(before, "orgd_organizations{state=\"active\"}"))
            break;
    }

    th_expect_counter_moved(before, after, REQ("/org/create", "POST", "201"), 1);
    th_expect_counter_moved(before, after, REQ("/admin/login", "POST", "200"), 1);
    th_expect_counter_moved(before, after, REQ("unmatched", "GET", "404"), 1);
    th_expect_counter_moved(before, after, REQ("/auth/check", "GET", "401"), 2);
    /* the first scrape, and the polls before the last */
    th_expect_counter_moved(before, after, REQ("/metrics", "GET", "200"), scrapes);
    th_expect_counter_moved(before, after, REQ("/auth/check", "GET", "200"), 0);
    th_expect_counter_moved(before, after,
                            "orgd_http_request_duration_seconds_count{route=\"/org/create\"}", 1);
    th_expect_counter_moved(before, after,
                            "orgd_http_request_duration_seconds_count{route=\"/auth/check\"}", 2);
    th_expect_counter_moved(
        before, after,
        "orgd_http_request_duration_seconds_bucket{route=\"/org/create\",le=\"+Inf\"}", 1);
    /* an argon2 hash takes milliseconds: the sum moved too */
    assert_true(
        th_metric_counter(after, "orgd_http_request_duration_seconds_sum{route=\"/org/create\"}") >
        th_metric_counter(before, "orgd_http_request_duration_seconds_sum{route=\"/org/create\"}"));
    /* every bucket of a route holds at most its count */
    double count =
        th_metric_sample(after, "orgd_http_request_duration_seconds_count{route=\"/admin/login\"}");
    assert_true(count >= 1);
    assert_true(th_metric_sample(after,
                                 "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\","
                                 "le=\"+Inf\"}") == count);
    assert_true(th_metric_sample(after,
                                 "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\","
                                 "le=\"0.005\"}") <= count);

    /* counted from the database: this orgd's database is its own */
    th_expect_counter_moved(before, after, "orgd_organizations{state=\"active\"}", 1);
    assert_true(th_metric_sample(after, "orgd_organizations{state=\"creating\"}") == 0);
    assert_true(th_metric_sample(after, "orgd_organizations{state=\"deleting\"}") == 0);
    assert_true(th_metric_sample(after, "orgd_mongo_up") == 1);
    assert_true(th_metric_sample(after, "orgd_password_hashes_in_flight") == 0); /* idle now */
    assert_true(th_metric_sample(after, "orgd_password_hash_rejections_total") == 0);
    /* the create's hash and the login's verify, and the CPU they took */
    th_expect_counter_moved(before, after, "orgd_password_hashes_total", 2);
    assert_true(th_metric_counter(after, "orgd_password_hash_cpu_seconds_total") >
                th_metric_counter(before, "orgd_password_hash_cpu_seconds_total"));
    assert_true(th_metric_sample(after, "orgd_mongo_errors_total{kind=\"unavailable\"}") == 0);
    assert_true(th_metric_sample(after, "orgd_recovery_actions_total{action=\"undo_create\"}") ==
                0);
    const char *info = strstr(after, "\norgd_build_info{version=\"");
    assert_non_null(info);
    info += strlen("\norgd_build_info{version=\"");
    assert_true(info[0] != '"' && strncmp(strstr(info, "\"}"), "\"} 1\n", 5) == 0);
    double started = th_metric_sample(after, "orgd_start_time_seconds");
    assert_true(started > (double)time(NULL) - 600 && started <= (double)time(NULL) + 1);

    /* an org name already taken: a conflict the store translated */
    assert_int_equal(th_create_org(&th_shared_orgd, name, "other@example.com", TU_PASSWORD), 409);
    char *third = th_metrics_scrape(&th_shared_orgd);
    th_expect_counter_moved(after, third, REQ("/org/create", "POST", "409"), 1);
    th_expect_counter_moved(after, third, "orgd_mongo_errors_total{kind=\"conflict\"}", 1);

    /* HEAD of /metrics: same headers, no body */
    struct th_resp r;
    assert_true(th_http(&th_shared_orgd, "HEAD", "/metrics", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    free(token);
    free(before);
    free(after);
    free(third);
}

/* ---- the log ---- */

/* Every line of o's log, parsed; fails the test on a line that is not a
 * JSON object with time, level and msg. Caller json_decrefs the array. */
static json_t *log_lines(const struct th_orgd *o)
{
    FILE *f = fopen(o->log_path, "r");
    assert_non_null(f);
    json_t *lines = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)n, 0, &err);
        if (!json_is_object(j) || !json_is_string(json_object_get(j, "time")) ||
            !json_is_string(json_object_get(j, "level")) ||
            !json_is_string(json_object_get(j, "msg")))
            fail_msg("%s: not a JSON log line: %s", o->log_path, line);
        const char *t = json_string_value(json_object_get(j, "time"));
        /* 2026-01-02T03:04:05.678Z */
        if (strlen(t) != 24 || t[10] != 'T' || t[19] != '.' || t[23] != 'Z')
            fail_msg("not an RFC 3339 UTC time: %s", t);
        json_array_append_new(lines, j);
    }
    free(line);
    fclose(f);
    return lines;
}

static const char *field(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (v == NULL) {
        char *text = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "log line: %s\n", text);
        free(text);
        fail_msg("log line without \"%s\"", key);
    }
    return v;
}

/* The response's X-Request-Id and its log line (checked for the fields every
 * request line has). */
static json_t *request_logged(const struct th_orgd *o, const struct th_resp *r, const char *method,
                              const char *route)
{
    char id[128] = "";
    assert_true(th_resp_header(r, "X-Request-Id", id, sizeof id));
    json_t *j = th_request_log_line(o, id);
    if (j == NULL)
        fail_msg("no request line with request_id %s in %s", id, o->log_path);
    json_decref(log_lines(o)); /* every line so far is a well-formed one */
    assert_string_equal(field(j, "level"), r->status >= 500 ? "error" : "info");
    assert_string_equal(field(j, "method"), method);
    assert_string_equal(field(j, "route"), route);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), r->status);
    json_t *lat = json_object_get(j, "latency_ms");
    assert_true(json_is_integer(lat) && json_integer_value(lat) >= 0 &&
                json_integer_value(lat) < 30000);
    assert_string_equal(field(j, "client"), "127.0.0.1");
    return j;
}

static void request_id_and_the_request_line(void **state)
{
    (void)state;
    struct th_tenant t;
    th_tenant_new(&th_shared_orgd, &t, "Logs");
    char path[128];
    snprintf(path, sizeof path, "/org/%s", t.name);

    /* a good id is echoed and logged, with the route template and the org */
    const char *mine[] = {"X-Request-Id: abc-123", NULL};
    struct th_resp r;
    assert_true(th_http(&th_shared_orgd, "GET", path, t.token, NULL, NULL, 0, mine, &r));
    assert_int_equal(r.status, 200);
    char id[128];
    assert_true(th_resp_header(&r, "X-Request-Id", id, sizeof id));
    assert_string_equal(id, "abc-123");
    json_t *j = request_logged(&th_shared_orgd, &r, "GET", "/org/{name}");
    assert_string_equal(field(j, "org_id"), t.id);
    assert_string_equal(field(j, "msg"), "request");
    assert_null(json_object_get(j, "param")); /* the template, never the name */
    char *text = json_dumps(j, JSON_COMPACT);
    bool named = strstr(text, t.name) != NULL;
    free(text);
    assert_false(named);
    json_decref(j);
    th_resp_free(&r);

    /* invalid ids are replaced by a generated one, which is what is logged */
    char longest[96] = "X-Request-Id: "; /* one character over the 64 allowed */
    size_t at = strlen(longest);
    memset(longest + at, 'a', 65);
    longest[at + 65] = '\0';
    const char *bad[] = {"X-Request-Id: has space", "X-Request-Id: semi;colon", longest,
                         "X-Request-Id: quote\"d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *h[] = {bad[i], NULL};
        assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, h, &r));
        assert_int_equal(r.status, 200);
        assert_true(th_resp_header(&r, "X-Request-Id", id, sizeof id));
        if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
            fail_msg("%s: got X-Request-Id %s", bad[i], id);
        j = request_logged(&th_shared_orgd, &r, "GET", "/healthz");
        assert_null(json_object_get(j, "org_id")); /* not known: not there */
        json_decref(j);
        th_resp_free(&r);
    }
    /* none sent: one is generated */
    assert_true(th_http(&th_shared_orgd, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r));
    assert_true(th_resp_header(&r, "X-Request-Id", id, sizeof id));
    assert_int_equal(strlen(id), 32);
    json_decref(request_logged(&th_shared_orgd, &r, "GET", "/healthz"));
    th_resp_free(&r);

    /* failures are logged the same way: no route, no token, someone else's org */
    const char *ids[] = {"X-Request-Id: log-404", NULL};
    assert_true(th_http(&th_shared_orgd, "GET", "/org/xyz/extra", NULL, NULL, NULL, 0, ids, &r));
    assert_int_equal(r.status, 404);
    json_decref(request_logged(&th_shared_orgd, &r, "GET", "unmatched"));
    th_resp_free(&r);
    assert_true(th_http(&th_shared_orgd, "GET", "/org/xyz", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 401);
    j = request_logged(&th_shared_orgd, &r, "GET", "/org/{name}");
    assert_null(json_object_get(j, "org_id"));
    json_decref(j);
    th_resp_free(&r);
    assert_true(th_http_json(&th_shared_orgd, "POST", "/admin/login", NULL,
                             "{\"email\":\"nobody@example.com\",\"password\":\"wrong password!\"}",
                             &r));
    assert_int_equal(r.status, 401);
    json_decref(request_logged(&th_shared_orgd, &r, "POST", "/admin/login"));
    th_resp_free(&r);
    th_tenant_free(&t);
}

/* Stops o (exit 0, no secret in its log) and checks that every line of its
 * log is JSON, with the start-up and shutdown lines when info is logged. */
static void stop_and_check_log(struct th_orgd *o, bool lifecycle)
{
    assert_int_equal(th_orgd_stop(o), 0);
    json_t *lines = log_lines(o);
    bool started = false, stopping = false, stopped = false;
    size_t i;
    json_t *j;
    json_array_foreach(lines, i, j)
    {
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (strcmp(msg, "started") == 0) {
            started = true;
            assert_int_equal(json_integer_value(json_object_get(j, "port")), o->port);
            assert_true(strlen(field(j, "version")) > 0);
        }
        stopping = stopping || strcmp(msg, "stopping") == 0;
        stopped = stopped || strcmp(msg, "stopped") == 0;
    }
    json_decref(lines);
    assert_true(started == lifecycle);
    assert_true(stopping == lifecycle);
    assert_true(stopped == lifecycle);
}

/* ---- the org count's share of the database ---- */

/* The org gauges' count reads every org. Made slow (a fault pause of 3 s
 * inside it), it must not come back the next second: at most a fiftieth
 * of the time goes to it, so one count in the 10 s that follow start-up. */
static void a_slow_org_count_is_made_seldom(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, th_orgd_faults_bin());
    const char *env[] = {"FAULT_POINT=pause:maintenance.org_count", NULL};
    assert_true(th_orgd_start(&o, env));
    tu_sleep_ms(10000);
    char *text = scrape_counted(&o);
    assert_true(th_metric_sample(text, "orgd_mongo_up") == 1); /* the one count went through */
    free(text);
    int pauses = 0;
    json_t *lines = log_lines(&o);
    size_t i;
    json_t *j;
    json_array_foreach(lines, i, j)
    {
        const char *detail = json_string_value(json_object_get(j, "detail"));
        pauses += detail != NULL && strcmp(detail, "maintenance.org_count") == 0;
    }
    json_decref(lines);
    assert_int_equal(th_orgd_stop(&o), 0);
    if (pauses != 1)
        fail_msg("the 3 s count ran %d times in 10 s; once is its share", pauses);
}

/* ---- METRICS_PORT ---- */

static void metrics_port_moves_metrics_off_the_main_port(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    int mport = tu_free_port();
    char setting[64];
    snprintf(setting, sizeof setting, "METRICS_PORT=%d", mport);
    const char *env[] = {setting, NULL};
    assert_true(th_orgd_start(&o, env));

    struct th_orgd ops = o; /* the same process, seen through its metrics port */
    snprintf(ops.base, sizeof ops.base, "http://127.0.0.1:%d", mport);

    struct th_resp r;
    assert_true(th_http(&o, "GET", "/metrics", NULL, NULL, NULL, 0, NULL, &r));
    assert_true(th_is_problem(&r, 404));
    th_resp_free(&r);
    assert_true(th_http(&o, "POST", "/metrics", NULL, NULL, NULL, 0, NULL, &r));
    assert_int_equal(r.status, 404); /* not even a 405: there is no /metrics here */
    th_resp_free(&r);
    assert_int_equal(th_status_of(&o, "GET", "/healthz", NULL, NULL), 200);

    char *text = th_metrics_scrape(&ops);
    /* the main port's 404 was counted */
    assert_true(th_metric_counter(text, REQ("unmatched", "GET", "404")) >= 1);
    assert_true(th_metric_sample(text, "orgd_password_hashes_in_flight") == 0);
    free(text);
    /* the metrics port serves /metrics and nothing else */
    assert_int_equal(th_status_of(&ops, "GET", "/healthz", NULL, NULL), 404);
    assert_int_equal(th_status_of(&ops, "POST", "/org/create", NULL, "{}"), 404);

    stop_and_check_log(&o, true);
}

/* ---- LOG_LEVEL=warn, and a database that does not answer ---- */

static void warn_level_and_a_dead_database(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    char uri[96];
    snprintf(uri, sizeof uri, "MONGO_URI=mongodb://127.0.0.1:%d/", tu_free_port());
    const char *env[] = {uri, "MONGO_TIMEOUT_MS=300", "LOG_LEVEL=warn", NULL};
    assert_true(th_orgd_start(&o, env));

    /* /metrics still answers 200: the org counts are left out, the rest is
     * there (once the maintenance thread's count has failed: within its
     * MONGO_TIMEOUT_MS plus a second) */
    const char *h[] = {"X-Request-Id: warn-metrics", NULL};
    struct th_resp r;
    for (int waited = 0;; waited += 200) {
        assert_true(th_http(&o, "GET", "/metrics", NULL, NULL, NULL, 0, h, &r));
        if (th_metric_sample(r.body, "orgd_mongo_up") == 0 || waited >= 5000)
            break;
        th_resp_free(&r);
        tu_sleep_ms(200);
    }
    assert_int_equal(r.status, 200);
    assert_true(th_metric_sample(r.body, "orgd_mongo_up") == 0);
    assert_null(strstr(r.body, "orgd_organizations"));
    assert_true(th_metric_sample(r.body, "orgd_mongo_errors_total{kind=\"unavailable\"}") >= 1);
    assert_true(th_metric_sample(r.body, "orgd_password_hashes_in_flight") == 0);
    th_resp_free(&r);

    /* a 503 is an error line, logged even at warn */
    assert_true(th_http(&o, "GET", "/readyz", NULL, NULL, NULL, 0, NULL, &r));
    assert_true(th_is_problem(&r, 503));
    json_decref(request_logged(&o, &r, "GET", "/readyz"));
    th_resp_free(&r);

    /* a 200 is an info line: not written */
    const char *ok[] = {"X-Request-Id: warn-healthz", NULL};
    assert_true(th_http(&o, "GET", "/healthz", NULL, NULL, NULL, 0, ok, &r));
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    tu_sleep_ms(200);
    assert_false(th_orgd_log_contains(&o, "warn-healthz"));
    assert_false(th_orgd_log_contains(&o, "warn-metrics"));

    stop_and_check_log(&o, false);
    json_t *lines = log_lines(&o);
    size_t i;
    json_t *j;
    bool db_error = false;
    json_array_foreach(lines, i, j)
    {
        const char *level = json_string_value(json_object_get(j, "level"));
        if (strcmp(level, "warn") != 0 && strcmp(level, "error") != 0)
            fail_msg("a %s line at LOG_LEVEL=warn (msg %s)", level,
                     json_string_value(json_object_get(j, "msg")));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        db_error = db_error || strcmp(msg, "mongodb error") == 0;
    }
    json_decref(lines);
    assert_true(db_error); /* database errors are JSON lines too */
}

/* ---- recovery is counted and logged ---- */

static void recovery_is_counted_and_logged(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    struct th_orgd crashy = o; /* the same database, its own log */
    crashy.binary = th_orgd_faults_bin();
    snprintf(crashy.log_path, sizeof crashy.log_path, "%s.crashed", o.log_path);
    const char *arm[] = {"FAULT_POINT=create.after_metadata", NULL};
    assert_true(th_orgd_start(&crashy, arm));
    char name[64], email[96];
    th_unique("Recov", name, sizeof name);
    snprintf(email, sizeof email, "%s@example.com", name);
    th_lower(email);
    th_create_org(&crashy, name, email, TU_PASSWORD); /* dies mid-way */
    assert_int_equal(th_orgd_wait(&crashy, 15000), 128 + 9);

    const char *fast[] = {"RECOVERY_AGE_SECONDS=1", "RECOVERY_INTERVAL_SECONDS=1", NULL};
    assert_true(th_orgd_start(&o, fast));
    char *text = NULL;
    for (int waited = 0; waited < 20000; waited += 200) {
        free(text);
        text = th_metrics_scrape(&o);
        if (th_metric_sample(text, "orgd_recovery_actions_total{action=\"undo_create\"}") >= 1 &&
            th_metric_sample(text, "orgd_organizations{state=\"creating\"}") == 0)
            break;
        tu_sleep_ms(200);
    }
    assert_true(th_metric_sample(text, "orgd_recovery_actions_total{action=\"undo_create\"}") == 1);
    assert_true(th_metric_sample(text, "orgd_recovery_actions_total{action=\"failed\"}") == 0);
    assert_true(th_metric_sample(text, "orgd_organizations{state=\"creating\"}") == 0);
    assert_true(th_metric_sample(text, "orgd_organizations{state=\"active\"}") == 0);
    free(text);

    stop_and_check_log(&o, true);
    json_t *lines = log_lines(&o);
    size_t i;
    json_t *j;
    bool logged = false;
    json_array_foreach(lines, i, j)
    {
        if (strcmp(json_string_value(json_object_get(j, "msg")), "recovery") == 0) {
            assert_string_equal(field(j, "action"), "undo_create");
            assert_string_equal(field(j, "organization_name"), name);
            logged = true;
        }
    }
    json_decref(lines);
    assert_true(logged);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_move),
        cmocka_unit_test(request_id_and_the_request_line),
        cmocka_unit_test(metrics_port_moves_metrics_off_the_main_port),
        cmocka_unit_test(warn_level_and_a_dead_database),
        cmocka_unit_test(recovery_is_counted_and_logged),
        cmocka_unit_test(a_slow_org_count_is_made_seldom),
    };
    return th_run_with_shared_orgd(tests);
}
