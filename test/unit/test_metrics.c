/* lib/metrics.c: counters, histogram buckets, label escaping, and the text
 * exposition format it renders. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* one sample line of orgd_http_requests_total */
#define REQ(route, method, status, n)                                                              \
    "orgd_http_requests_total{route=\"" route "\",method=\"" method "\",status=\"" status "\"} " n
#define HIST "orgd_http_request_duration_seconds"

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static char *render(const struct metrics_scrape *x)
{
    size_t len = 0;
    char *text = metrics_render(x, 1 << 20, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

#define assert_line(text, line)                                                                    \
    do {                                                                                           \
        if (!has_line((text), (line)))                                                             \
            fail_msg("missing line: %s\n---\n%s", (line), (text));                                 \
    } while (0)

#define assert_no_text(text, needle)                                                               \
    do {                                                                                           \
        if (strstr((text), (needle)) != NULL)                                                      \
            fail_msg("unexpected: %s\n---\n%s", (needle), (text));                                 \
    } while (0)

static void bucket_math(void **state)
{
    (void)state;
    /* le is "less than or equal": a value on a bound falls in that bucket */
    assert_int_equal(metrics_bucket_of(0), 0);
    assert_int_equal(metrics_bucket_of(4999), 0);
    assert_int_equal(metrics_bucket_of(5000), 0);
    assert_int_equal(metrics_bucket_of(5001), 1);
    assert_int_equal(metrics_bucket_of(10000), 1);
    assert_int_equal(metrics_bucket_of(25000), 2);
    assert_int_equal(metrics_bucket_of(99999), 4);
    assert_int_equal(metrics_bucket_of(1000000), 7);
    assert_int_equal(metrics_bucket_of(1000001), 8);
    assert_int_equal(metrics_bucket_of(10000000), 10);
    assert_int_equal(metrics_bucket_of(10000001), METRICS_BUCKETS); /* +Inf */
    assert_int_equal(metrics_bucket_of(INT64_MAX), METRICS_BUCKETS);
}

static void requests_are_counted_by_route_method_and_status(void **state)
{
    (void)state;
    metrics_request(2, "/org/create", "POST", 201, 30000);
    metrics_request(2, "/org/create", "POST", 201, 30000);
    metrics_request(2, "/org/create", "POST", 409, 7000);
    metrics_request(6, "/org/{name}", "GET", 200, 1000);
    metrics_request(6, "/org/{name}", "HEAD", 200, 1000);
    metrics_request(METRICS_ROUTE_UNMATCHED, "ignored", "GET", 404, 100);
    metrics_request(METRICS_ROUTE_UNMATCHED, NULL, "BREW", 404, 100); /* method: other */
    metrics_request(METRICS_ROUTES_MAX, "/too/far", "GET", 404, 100); /* out of range */
    metrics_request(6, "/org/{name}", "GET", 299, 100);               /* status: its class */
    metrics_request(6, "/org/{name}", "GET", 999, 100);               /* status: other */
    metrics_request(6, "/org/other", "GET", 200, 100); /* the first template names the slot */

    struct metrics_scrape x = {0};
    char *t = render(&x);
    assert_line(t, REQ("/org/create", "POST", "201", "2"));
    assert_line(t, REQ("/org/create", "POST", "409", "1"));
    assert_line(t, REQ("/org/{name}", "GET", "200", "2"));
    assert_line(t, REQ("/org/{name}", "HEAD", "200", "1"));
    assert_line(t, REQ("/org/{name}", "GET", "2xx", "1"));
    assert_line(t, REQ("/org/{name}", "GET", "other", "1"));
    assert_line(t, REQ("unmatched", "GET", "404", "2"));
    assert_line(t, REQ("unmatched", "other", "404", "1"));
    assert_no_text(t, "/org/other");
    assert_no_text(t, "/too/far");
    assert_no_text(t, "ignored");
    assert_no_text(t, "BREW");
    /* series never hit are not listed */
    assert_no_text(t, "status=\"500\"");
    free(t);
}

static void histogram_is_cumulative_with_sum_and_count(void **state)
{
    (void)state;
    metrics_request(3, "/admin/login", "POST", 200, 4000);     /* <= .005 */
    metrics_request(3, "/admin/login", "POST", 200, 5000);     /* <= .005 (on the bound) */
    metrics_request(3, "/admin/login", "POST", 401, 20000);    /* <= .025 */
    metrics_request(3, "/admin/login", "POST", 200, 300000);   /* <= .5 */
    metrics_request(3, "/admin/login", "POST", 503, 12000000); /* +Inf only */
    struct metrics_scrape x = {0};
    char *t = render(&x);
    const char *want[] = {
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.005\"} 2",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.01\"} 2",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.025\"} 3",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.05\"} 3",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.1\"} 3",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.25\"} 3",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"0.5\"} 4",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"1\"} 4",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"2.5\"} 4",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"5\"} 4",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"10\"} 4",
        "orgd_http_request_duration_seconds_bucket{route=\"/admin/login\",le=\"+Inf\"} 5",
        "orgd_http_request_duration_seconds_sum{route=\"/admin/login\"} 12.329000",
        "orgd_http_request_duration_seconds_count{route=\"/admin/login\"} 5",
    };
    const char *prev = t;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_line(t, want[i]);
        const char *at = strstr(t, want[i]);
        if (at < prev)
            fail_msg("out of order: %s", want[i]);
        prev = at;
    }
    /* a negative duration (clock trouble) counts as zero, never wraps */
    metrics_request(3, "/admin/login", "POST", 200, -5);
    free(t);
    t = render(&x);
    assert_line(t, HIST "_bucket{route=\"/admin/login\",le=\"0.005\"} 3");
    assert_line(t, "orgd_http_request_duration_seconds_sum{route=\"/admin/login\"} 12.329000");
    free(t);
}

/* GET and POST /organization/ are two routes with one template: their
 * durations are one histogram series (a series twice is refused). */
static void routes_sharing_a_template_are_one_series(void **state)
{
    (void)state;
    metrics_request(5, "/organization/", "GET", 200, 1000);
    metrics_request(6, "/organization/", "POST", 201, 2000);
    metrics_request(6, "/organization/", "POST", 201, 3000);
    struct metrics_scrape x = {0};
    char *t = render(&x);
    const char *sum = "orgd_http_request_duration_seconds_sum{route=\"/organization/\"}";
    const char *first = strstr(t, sum);
    assert_non_null(first);
    assert_null(strstr(first + 1, sum));
    assert_line(t, "orgd_http_request_duration_seconds_sum{route=\"/organization/\"} 0.006000");
    assert_line(t, "orgd_http_request_duration_seconds_count{route=\"/organization/\"} 3");
    free(t);
}

static void label_values_are_escaped(void **state)
{
    (void)state;
    char out[64];
    assert_true(metrics_escape_label("a\"b\\c\nd", out, sizeof out));
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    assert_true(metrics_escape_label("/org/{name}", out, sizeof out));
    assert_string_equal(out, "/org/{name}");
    assert_true(metrics_escape_label("", out, sizeof out));
    assert_string_equal(out, "");
    /* too long: truncated, never in the middle of an escape */
    char small[4];
    assert_false(metrics_escape_label("ab\"cd", small, sizeof small)); /* \" would need 5 */
    assert_string_equal(small, "ab");
    assert_false(metrics_escape_label("abcdef", small, sizeof small));
    assert_string_equal(small, "abc");
    assert_true(metrics_escape_label("a\"", out, 4)); /* exactly fits */
    assert_string_equal(out, "a\\\"");

    metrics_request(9, "/odd\"route\\\n", "GET", 200, 1);
    struct metrics_scrape x = {0};
    char *t = render(&x);
    assert_line(t, REQ("/odd\\\"route\\\\\\n", "GET", "200", "1"));
    assert_line(t, "orgd_http_request_duration_seconds_count{route=\"/odd\\\"route\\\\\\n\"} 1");
    free(t);
}

static void other_counters_and_scrape_values(void **state)
{
    (void)state;
    metrics_mongo_error(ERR_UNAVAILABLE);
    metrics_mongo_error(ERR_UNAVAILABLE);
    metrics_mongo_error(ERR_CONFLICT);
    metrics_mongo_error(ERR_KIND_COUNT); /* out of range: ignored */
    metrics_hash_rejected();
    metrics_hash_done(1000000);
    metrics_hash_done(50007);
    metrics_recovery_action(RECOVERY_UNDO_CREATE);
    metrics_recovery_action(RECOVERY_FINISH_DELETE);
    metrics_recovery_action(RECOVERY_FINISH_DELETE);
    metrics_recovery_action(RECOVERY_ACTION_COUNT); /* ignored */
    metrics_event_written("member.added");
    metrics_event_written("member.added");
    metrics_event_written("no.such_action"); /* counted as other, not a new series */
    metrics_webhook_delivery("delivered");
    metrics_webhook_delivery("retrying");
    metrics_webhook_delivery("retrying");
    metrics_webhook_delivery("bogus"); /* ignored */
    metrics_set_outbox(4, 12.5);
    metrics_mail_sent("invitation");
    metrics_mail_sent("password_reset");
    metrics_mail_sent("password_reset");
    metrics_mail_sent("nonesuch"); /* ignored */
    metrics_mail_failure();
    metrics_set_mail_pending(3);
    metrics_start();

    struct metrics_scrape x = {
        .hashes_in_flight = 3, .db_known = true, .db_up = true, .orgs = {1, 7, 0, 2}};
    char *t = render(&x);
    assert_line(t, "orgd_mongo_errors_total{kind=\"unavailable\"} 2");
    assert_line(t, "orgd_mongo_errors_total{kind=\"conflict\"} 1");
    assert_line(t, "orgd_mongo_errors_total{kind=\"not_found\"} 0"); /* listed from the start */
    assert_line(t, "orgd_mongo_errors_total{kind=\"internal\"} 0");
    assert_line(t, "orgd_mongo_up 1");
    assert_line(t, "orgd_organizations{state=\"creating\"} 1");
    assert_line(t, "orgd_organizations{state=\"active\"} 7");
    assert_line(t, "orgd_organizations{state=\"renaming\"} 0");
    assert_line(t, "orgd_organizations{state=\"deleting\"} 2");
    assert_line(t, "orgd_password_hashes_in_flight 3");
    assert_line(t, "orgd_password_hash_rejections_total 1");
    assert_line(t, "orgd_password_hashes_total 2");
    assert_line(t, "orgd_password_hash_cpu_seconds_total 1.050007");
    assert_line(t, "orgd_recovery_actions_total{action=\"undo_create\"} 1");
    assert_line(t, "orgd_recovery_actions_total{action=\"finish_rename\"} 0");
    assert_line(t, "orgd_recovery_actions_total{action=\"finish_delete\"} 2");
    assert_line(t, "orgd_recovery_actions_total{action=\"failed\"} 0");
    assert_line(t, "orgd_events_written_total{action=\"member.added\"} 2");
    assert_line(t, "orgd_events_written_total{action=\"org.created\"} 0");
    assert_line(t, "orgd_events_written_total{action=\"other\"} 1");
    assert_no_text(t, "no.such_action");
    assert_line(t, "orgd_webhook_deliveries_total{result=\"delivered\"} 1");
    assert_line(t, "orgd_webhook_deliveries_total{result=\"retrying\"} 2");
    assert_line(t, "orgd_webhook_deliveries_total{result=\"failed\"} 0");
    assert_no_text(t, "bogus");
    assert_line(t, "orgd_webhook_outbox_pending 4");
    assert_line(t, "orgd_webhook_outbox_oldest_seconds 12.500");
    assert_line(t, "orgd_mail_sent_total{template=\"invitation\"} 1");
    assert_line(t, "orgd_mail_sent_total{template=\"password_reset\"} 2");
    assert_line(t, "orgd_mail_sent_total{template=\"email_changed\"} 0");
    assert_no_text(t, "nonesuch");
    assert_line(t, "orgd_mail_failures_total 1");
    assert_line(t, "orgd_mail_outbox_pending 3");
    assert_line(t, "orgd_build_info{version=\"" ORGD_VERSION "\"} 1");
    const char *st = strstr(t, "\norgd_start_time_seconds ");
    assert_non_null(st);
    double started = strtod(st + strlen("\norgd_start_time_seconds "), NULL);
    assert_true(started > 1.6e9 && started < 4.1e9);
    free(t);

    /* the database did not answer: say so, and leave the org counts out */
    x.db_up = false;
    t = render(&x);
    assert_line(t, "orgd_mongo_up 0");
    assert_no_text(t, "orgd_organizations");
    assert_line(t, "orgd_password_hashes_in_flight 3");
    free(t);
    /* not asked at all */
    x.db_known = false;
    t = render(&x);
    assert_no_text(t, "orgd_mongo_up");
    assert_no_text(t, "orgd_organizations");
    free(t);
}

/* Every sample belongs to a family announced before it by exactly one HELP
 * and one TYPE; every line is `name{labels} value` or `name value`. */
static void exposition_format_is_well_formed(void **state)
{
    (void)state;
    metrics_request(0, "/healthz", "GET", 200, 100);
    metrics_request(METRICS_ROUTE_UNMATCHED, NULL, "GET", 404, 100);
    metrics_mongo_error(ERR_NOT_FOUND);
    struct metrics_scrape x = {.db_known = true, .db_up = true};
    char *t = render(&x);
    assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
    char fam[32][64], type[32][16];
    int nfam = 0, helps = 0;
    char *next = t;
    while (*next != '\0') {
        char *line = next, *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        *nl = '\0';
        next = nl + 1;
        assert_true(*line != '\0'); /* no blank lines */
        char name[64], rest[256];
        if (strncmp(line, "# HELP ", 7) == 0) {
            helps++;
            continue;
        }
        if (sscanf(line, "# TYPE %63s %255s", name, rest) == 2) {
            assert_true(nfam < 32);
            for (int i = 0; i < nfam; i++)
                if (strcmp(fam[i], name) == 0)
                    fail_msg("family %s announced twice", name);
            assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                        strcmp(rest, "histogram") == 0);
            snprintf(fam[nfam], sizeof fam[nfam], "%s", name);
            snprintf(type[nfam], sizeof type[nfam], "%s", rest);
            nfam++;
            assert_int_equal(helps, nfam); /* HELP came right before */
            continue;
        }
        assert_true(line[0] != '#');
        size_t nlen = strcspn(line, "{ ");
        assert_true(nlen > 0 && nlen < sizeof name);
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        /* the sample belongs to the last family announced */
        assert_true(nfam > 0);
        const char *f = fam[nfam - 1];
        size_t flen = strlen(f);
        bool ok = strcmp(name, f) == 0;
        if (!ok && strcmp(type[nfam - 1], "histogram") == 0 && strncmp(name, f, flen) == 0)
            ok = strcmp(name + flen, "_bucket") == 0 || strcmp(name + flen, "_sum") == 0 ||
                 strcmp(name + flen, "_count") == 0;
        if (!ok)
            fail_msg("sample %s outside its family %s", name, f);
        const char *v = line + nlen;
        if (*v == '{') {
            const char *end = strstr(v, "} ");
            assert_non_null(end);
            v = end + 1;
        }
        assert_true(*v == ' ');
        char *num_end;
        strtod(v + 1, &num_end);
        assert_true(num_end != v + 1 && *num_end == '\0');
    }
    const char *want[] = {"orgd_http_requests_total",
                          "orgd_http_request_duration_seconds",
                          "orgd_mongo_errors_total",
                          "orgd_mongo_up",
                          "orgd_organizations",
                          "orgd_password_hashes_in_flight",
                          "orgd_password_hash_rejections_total",
                          "orgd_password_hashes_total",
                          "orgd_password_hash_cpu_seconds_total",
                          "orgd_recovery_actions_total",
                          "orgd_logins_total",
                          "orgd_sessions_ended_total",
                          "orgd_refresh_retries_total",
                          "orgd_jwt_keys_loaded",
                          "orgd_jwt_key_reloads_total",
                          "orgd_events_written_total",
                          "orgd_webhook_deliveries_total",
                          "orgd_webhook_outbox_pending",
                          "orgd_webhook_outbox_oldest_seconds",
                          "orgd_mail_sent_total",
                          "orgd_mail_failures_total",
                          "orgd_mail_outbox_pending",
                          "orgd_mongo_commands_total",
                          "orgd_invitations_total",
                          "orgd_build_info",
                          "orgd_start_time_seconds"};
    assert_int_equal(nfam, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(fam[i], want[i]);
    free(t);
}

static void render_is_bounded(void **state)
{
    (void)state;
    for (int r = 0; r < 20; r++)
        metrics_request(r, "/some/route/with/a/longish/template", "GET", 200, 100);
    struct metrics_scrape x = {0};
    size_t len = 0;
    char *t = metrics_render(&x, 1 << 20, &len);
    assert_non_null(t);
    assert_true(len > 4096); /* it had to grow past the first block */
    size_t full = len;
    free(t);
    /* exactly enough (text + NUL) fits; one byte less does not */
    t = metrics_render(&x, full + 1, &len);
    assert_non_null(t);
    assert_int_equal(len, full);
    free(t);
    assert_null(metrics_render(&x, full, &len));
    assert_int_equal(len, 0);
    assert_null(metrics_render(&x, 100, &len));
    assert_null(metrics_render(&x, 0, &len));
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++)
        metrics_request(1, "/readyz", "GET", 200, 6000);
    return NULL;
}

static void counting_is_exact_under_concurrency(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct metrics_scrape x = {0};
    char *text = render(&x);
    char want[160];
    snprintf(want, sizeof want,
             "orgd_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} %d",
             THREADS * PER_THREAD);
    assert_line(text, want);
    snprintf(want, sizeof want,
             "orgd_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"0.01\"} %d",
             THREADS * PER_THREAD);
    assert_line(text, want);
    assert_line(text, HIST "_bucket{route=\"/readyz\",le=\"0.005\"} 0");
    snprintf(want, sizeof want, HIST "_sum{route=\"/readyz\"} %d.000000",
             THREADS * PER_THREAD * 6 / 1000);
    assert_line(text, want);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(bucket_math, reset),
        cmocka_unit_test_setup(requests_are_counted_by_route_method_and_status, reset),
        cmocka_unit_test_setup(histogram_is_cumulative_with_sum_and_count, reset),
        cmocka_unit_test_setup(routes_sharing_a_template_are_one_series, reset),
        cmocka_unit_test_setup(label_values_are_escaped, reset),
        cmocka_unit_test_setup(other_counters_and_scrape_values, reset),
        cmocka_unit_test_setup(exposition_format_is_well_formed, reset),
        cmocka_unit_test_setup(render_is_bounded, reset),
        cmocka_unit_test_setup(counting_is_exact_under_concurrency, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
