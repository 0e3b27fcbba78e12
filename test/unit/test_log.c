/* lib/log.c: the shape of a line, levels, and the last-resort redaction of
 * anything that looks like a hash or a token. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "util.h"

/* 2026-01-02T03:04:05.678Z */
static const int64_t WHEN = 1767323045678;

static json_t *line_of(int level, const char *msg, json_t *fields)
{
    char *text = log_format(level, msg, fields, WHEN);
    assert_non_null(text);
    assert_null(strchr(text, '\n')); /* one line */
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        fail_msg("not JSON: %s (%s)", text, err.text);
    free(text);
    assert_true(json_is_object(j));
    return j;
}

static const char *str(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (v == NULL)
        fail_msg("no string \"%s\"", key);
    return v;
}

static void a_line_has_time_level_msg_and_the_fields(void **state)
{
    (void)state;
    json_t *j = line_of(LOG_WARN, "request",
                        json_pack("{s:s, s:i, s:s}", "request_id", "abc-123", "status", 404,
                                  "route", "/org/{name}"));
    assert_string_equal(str(j, "time"), "2026-01-02T03:04:05.678Z");
    assert_string_equal(str(j, "level"), "warn");
    assert_string_equal(str(j, "msg"), "request");
    assert_string_equal(str(j, "request_id"), "abc-123");
    assert_string_equal(str(j, "route"), "/org/{name}");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
    json_decref(j);

    j = line_of(LOG_INFO, "started", NULL);
    assert_string_equal(str(j, "level"), "info");
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

static void fields_cannot_overwrite_the_envelope(void **state)
{
    (void)state;
    json_t *j = line_of(LOG_ERROR, "real",
                        json_pack("{s:s, s:s, s:s, s:s}", "time", "1999", "level", "debug", "msg",
                                  "forged", "detail", "kept"));
    assert_string_equal(str(j, "time"), "2026-01-02T03:04:05.678Z");
    assert_string_equal(str(j, "level"), "error");
    assert_string_equal(str(j, "msg"), "real");
    assert_string_equal(str(j, "detail"), "kept");
    json_decref(j);
}

static void control_characters_stay_on_one_line(void **state)
{
    (void)state;
    json_t *j = line_of(LOG_INFO, "http server",
                        json_pack("{s:s}", "detail", "line one\nline two\r\n\"quoted\" \xc3\xa9"));
    assert_string_equal(str(j, "detail"), "line one\nline two\r\n\"quoted\" \xc3\xa9");
    json_decref(j);
}

static void levels(void **state)
{
    (void)state;
    assert_string_equal(log_level_name(LOG_DEBUG), "debug");
    assert_string_equal(log_level_name(LOG_INFO), "info");
    assert_string_equal(log_level_name(LOG_WARN), "warn");
    assert_string_equal(log_level_name(LOG_ERROR), "error");
    log_set_level(LOG_WARN);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    log_emit(LOG_INFO, "dropped", json_pack("{s:s}", "k", "v")); /* frees its fields */
    log_set_level(LOG_DEBUG);
    assert_true(log_enabled(LOG_DEBUG));
    log_set_level(LOG_INFO);
}

static const char *const JWT =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NWYwIiwib3JnIjoiNjVmMSJ9."
    "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";
static const char *const HASH =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo";

static void secrets_are_recognised(void **state)
{
    (void)state;
    assert_true(log_looks_secret(JWT));
    assert_true(log_looks_secret(HASH));
    char wrapped[512];
    snprintf(wrapped, sizeof wrapped, "Authorization: Bearer %s rejected", JWT);
    assert_true(log_looks_secret(wrapped));
    /* without a signature segment yet: header.payload. is enough */
    assert_true(log_looks_secret("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0."));

    const char *fine[] = {"",
                          "abc-123",
                          "6b03fbd340a63ed1360350a1",
                          "/org/{name}",
                          "eyJ",
                          "eyJhbGciOiJIUzI1NiJ9",
                          "eyJhbGciOiJIUzI1NiJ9.",
                          "the database is unavailable; retry shortly",
                          "argon2 failed",
                          "org_acme.eyJ.x"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        if (log_looks_secret(fine[i]))
            fail_msg("'%s' is not a secret", fine[i]);
    assert_false(log_looks_secret(NULL));
}

static void secrets_never_reach_a_line(void **state)
{
    (void)state;
    char detail[512];
    snprintf(detail, sizeof detail, "token %s", JWT);
    json_t *j =
        line_of(LOG_WARN, "mongodb error",
                json_pack("{s:s, s:s, s:s, s:{s:s}, s:[s, s]}", "detail", detail, "hash", HASH,
                          "admin_id", "65f0", "nested", "deep", HASH, "list", "ok", JWT));
    char *text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, "eyJhbGci"));
    assert_null(strstr(text, "$argon2"));
    free(text);
    assert_string_equal(str(j, "detail"), "[redacted]");
    assert_string_equal(str(j, "hash"), "[redacted]");
    assert_string_equal(str(j, "admin_id"), "65f0");
    assert_string_equal(str(json_object_get(j, "nested"), "deep"), "[redacted]");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "list"), 0)), "ok");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "list"), 1)),
                        "[redacted]");
    json_decref(j);
    /* the message itself too */
    j = line_of(LOG_INFO, HASH, NULL);
    assert_string_equal(str(j, "msg"), "[redacted]");
    json_decref(j);
}

/* log_format_fields writes without jansson when it can; whatever the
 * input, its line is the one log_format writes for the same fields. */
static void flat_fields_make_the_same_line(void **state)
{
    (void)state;
    char detail[256];
    snprintf(detail, sizeof detail, "Bearer %s", JWT);
    const struct log_field cases[][4] = {
        {{"request_id", "abc", 0},
         {"status", NULL, 200},
         {"route", "/org/{name}", 0},
         {"latency_ms", NULL, -7}},
        {{"method", "GE\"T\\", 0}, {"n", NULL, INT64_MAX}, {"x", "", 0}, {"y", NULL, INT64_MIN}},
        {{"detail", "caf\xc3\xa9", 0}, {"a", "tab\there", 0}, {"b", "\x7f", 0}, {"c", NULL, 0}},
        {{"detail", detail, 0}, {"hash", HASH, 0}, {"ok", "fine", 0}, {"d", NULL, 1}},
        {{"msg", "forged", 0}, {"time", "1999", 0}, {"level", "debug", 0}, {"kept", NULL, 3}},
        {{"k", "first", 0}, {"k", "second", 0}, {"k\"q", "v", 0}, {"z", NULL, 4}},
    };
    const char *msgs[] = {"request", "request", "request", "request", "real", HASH};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t n = 0; n <= 4; n++) {
            json_t *fields = json_object();
            for (size_t i = 0; i < n; i++)
                json_object_set_new(fields, cases[c][i].key,
                                    cases[c][i].text ? json_string(cases[c][i].text)
                                                     : json_integer(cases[c][i].number));
            char *want = log_format(LOG_INFO, msgs[c], fields, WHEN);
            char *got = log_format_fields(LOG_INFO, msgs[c], cases[c], n, WHEN);
            assert_non_null(want);
            assert_non_null(got);
            if (strcmp(want, got) != 0)
                fail_msg("case %zu with %zu fields:\n  jansson %s\n  flat    %s", c, n, want, got);
            free(want);
            free(got);
        }
    }
}

/* Every line's time: cached per thread by the second, so the same second
 * twice, the next one, and times before 1970 must all come out right. */
static void times_are_rfc3339_to_the_millisecond(void **state)
{
    (void)state;
    const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},        {999, "1970-01-01T00:00:00.999Z"},
        {1000, "1970-01-01T00:00:01.000Z"},     {WHEN, "2026-01-02T03:04:05.678Z"},
        {WHEN + 1, "2026-01-02T03:04:05.679Z"}, {WHEN + 322, "2026-01-02T03:04:06.000Z"},
        {WHEN, "2026-01-02T03:04:05.678Z"},     {-1, "1969-12-31T23:59:59.999Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},    {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[CLOCK_TEXT_BUF];
        clock_rfc3339(cases[i].ms, out);
        if (strcmp(out, cases[i].text) != 0)
            fail_msg("%lld: %s, not %s", (long long)cases[i].ms, out, cases[i].text);
    }
}

/* ---- whole lines on a pipe, long and short at once ---- */

#define WRITERS 4
#define SHORT_LINES 4000
#define LONG_LINES 300

static void *short_lines(void *arg)
{
    (void)arg;
    for (int i = 0; i < SHORT_LINES; i++) {
        const struct log_field f[] = {{"route", "/org/{name}", 0}, {"status", NULL, 200}};
        log_emit_fields(LOG_INFO, "request", f, 2);
    }
    return NULL;
}

static void *long_lines(void *arg)
{
    (void)arg;
    char detail[6000];
    memset(detail, 'x', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    for (int i = 0; i < LONG_LINES; i++)
        log_emit(LOG_WARN, "mongodb error", json_pack("{s:s}", "detail", detail));
    return NULL;
}

struct reader {
    int fd;
    long lines, bad;
};

static void *read_lines(void *arg)
{
    struct reader *rd = arg;
    FILE *in = fdopen(rd->fd, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        rd->lines++;
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        rd->bad += j == NULL;
        json_decref(j);
    }
    free(line);
    fclose(in);
    return NULL;
}

/* Lines longer than PIPE_BUF may be split by a pipe; no short line may land
 * between their parts (a log shipper reads lines). */
static void lines_stay_whole_on_a_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[1], STDERR_FILENO) >= 0);
    close(p[1]);
    struct reader rd = {.fd = p[0]};
    pthread_t reader, writers[WRITERS + 1];
    assert_int_equal(pthread_create(&reader, NULL, read_lines, &rd), 0);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&writers[i], NULL, short_lines, NULL), 0);
    assert_int_equal(pthread_create(&writers[WRITERS], NULL, long_lines, NULL), 0);
    for (int i = 0; i <= WRITERS; i++)
        pthread_join(writers[i], NULL);
    dup2(saved, STDERR_FILENO); /* the pipe's last writer gone: the reader sees its end */
    close(saved);
    pthread_join(reader, NULL);
    if (rd.bad != 0)
        fail_msg("%ld of %ld lines were torn", rd.bad, rd.lines);
    assert_int_equal(rd.lines, WRITERS * SHORT_LINES + LONG_LINES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_line_has_time_level_msg_and_the_fields),
        cmocka_unit_test(fields_cannot_overwrite_the_envelope),
        cmocka_unit_test(control_characters_stay_on_one_line),
        cmocka_unit_test(levels),
        cmocka_unit_test(secrets_are_recognised),
        cmocka_unit_test(secrets_never_reach_a_line),
        cmocka_unit_test(flat_fields_make_the_same_line),
        cmocka_unit_test(times_are_rfc3339_to_the_millisecond),
        cmocka_unit_test(lines_stay_whole_on_a_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
