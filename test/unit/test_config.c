#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define SECRET "JWT_SECRET=0123456789abcdef0123456789abcdef"

static bool load(char *const *env, const char *dotenv, struct config *c, char *msg)
{
    struct error e = ERROR_INIT;
    bool ok = config_load(c, env, dotenv, &e);
    snprintf(msg, 512, "%s", e.message);
    if (!ok) { /* one field error, naming the setting the message starts with */
        assert_int_equal(e.kind, ERR_INVALID);
        assert_int_equal(e.nfields, 1);
        assert_int_equal(strncmp(e.message, e.fields[0].field, strlen(e.fields[0].field)), 0);
        assert_int_equal(e.message[strlen(e.fields[0].field)], ':');
    }
    return ok;
}

static void defaults_apply(void **state)
{
    (void)state;
    char *env[] = {SECRET, NULL};
    struct config c;
    char msg[512];
    assert_true(load(env, NULL, &c, msg));
    assert_string_equal(c.mongo_uri, "mongodb://127.0.0.1:27017/");
    assert_string_equal(c.master_db, "master_db");
    assert_int_equal(c.jwt_algorithm, JWT_HS256);
    assert_int_equal(c.jwt_expires_seconds, 3600);
    assert_int_equal(c.port, 8000);
    assert_int_equal(c.max_body_bytes, 65536);
    assert_int_equal(c.argon2_memory_kib, 19456);
    assert_int_equal(c.argon2_iterations, 2);
    assert_int_equal(c.argon2_parallelism, 1);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.jwt_secret_len, 32);
    assert_string_equal(c.cors_origins, "");
    /* the numbers: 10 and 100 failures per 15 minutes, 20 per hour, 14 days */
    assert_int_equal(c.login_failures_per_account, 10);
    assert_int_equal(c.login_failures_per_address, 100);
    assert_int_equal(c.login_window_seconds, 900);
    assert_int_equal(c.signups_per_address, 20);
    assert_int_equal(c.org_creates_per_address, 20);
    assert_int_equal(c.signup_window_seconds, 3600);
    assert_int_equal(c.refresh_token_seconds, 14 * 24 * 3600);
    assert_int_equal(c.trusted_proxies.n, 0);
}

static void trusted_proxies_are_parsed(void **state)
{
    (void)state;
    char *env[] = {"TRUSTED_PROXIES=10.0.0.0/8, ::1", SECRET, NULL};
    struct config c;
    char msg[512];
    assert_true(load(env, NULL, &c, msg));
    assert_int_equal(c.trusted_proxies.n, 2);
    assert_true(netaddr_trusted(&c.trusted_proxies, "10.9.8.7"));
    assert_true(netaddr_trusted(&c.trusted_proxies, "::1"));
    assert_false(netaddr_trusted(&c.trusted_proxies, "127.0.0.1"));
}

static void each_bad_value_names_its_setting(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"PORT=0", "PORT"},
        {"PORT=65536", "PORT"},
        {"PORT=80x", "PORT"},
        {"PORT=", "PORT"},
        {"PORT= 80", "PORT"},
        {"THREADS=99999999999999999999", "THREADS"},
        {"JWT_ALGORITHM=HS1024", "JWT_ALGORITHM"},
        {"LOG_LEVEL=verbose", "LOG_LEVEL"},
        {"MONGO_URI=postgres://x", "MONGO_URI"},
        {"MONGO_URI=mongodb://a b", "MONGO_URI"},
        {"MASTER_DB=has space", "MASTER_DB"},
        {"MASTER_DB=", "MASTER_DB"},
        {"HOST=256.1.1.1", "HOST"},
        {"HOST=::1", "HOST"},
        {"HOST=010.0.0.1", "HOST"}, /* a leading zero reads as octal to some parsers */
        {"HOST=1.2.3", "HOST"},
        {"CORS_ORIGINS=example.com", "CORS_ORIGINS"},
        {"ARGON2_PARALLELISM=0", "ARGON2_PARALLELISM"},
        {"JWT_SECRET=short", "JWT_SECRET"},
        {"METRICS_PORT=8000", "METRICS_PORT"}, /* the same as PORT's default */
        {"METRICS_PORT=70000", "METRICS_PORT"},
        {"TRUSTED_PROXIES=10.0.0.1/8", "TRUSTED_PROXIES"}, /* host bits: a typo for a host? */
        {"TRUSTED_PROXIES=proxy.local", "TRUSTED_PROXIES"},
        {"LOGIN_FAILURES_PER_ACCOUNT=-1", "LOGIN_FAILURES_PER_ACCOUNT"},
        {"LOGIN_WINDOW_SECONDS=0", "LOGIN_WINDOW_SECONDS"},
        {"REFRESH_TOKEN_SECONDS=59", "REFRESH_TOKEN_SECONDS"},
        {"MAIL_FROM=orgd", "MAIL_FROM"},
        {"MAIL_FROM=no reply@example.com", "MAIL_FROM"},
        {"MAIL_FROM=orgd <a@b@c>", "MAIL_FROM"},
        {"MAIL_FROM=orgd <a@example.com", "MAIL_FROM"},
        {"MAIL_FROM=orgd <a@example.com>x", "MAIL_FROM"},
        {"MAIL_FROM=orgd <@example.com>", "MAIL_FROM"},
        {"MAIL_FROM=orgd\r\nBcc: x@example.com <a@example.com>", "MAIL_FROM"},
        {"SMTP_URL=http://mail.example.com", "SMTP_URL"},
        {"PUBLIC_URL=https://orgd.example.com/?x=1", "PUBLIC_URL"},
        {"LINK_INVITATION=https://app.example.com/join", "LINK_INVITATION"},
        {"MAIL_RETRY_SCHEDULE=5,x", "MAIL_RETRY_SCHEDULE"},
        {"WEBHOOK_ALLOWED_NETWORKS=10.0.0.1/8", "WEBHOOK_ALLOWED_NETWORKS"},
        {"WEBHOOK_RETRY_SCHEDULE=", "WEBHOOK_RETRY_SCHEDULE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *env[] = {(char *)cases[i][0], SECRET, NULL};
        struct config c;
        char msg[512] = "";
        if (load(env, NULL, &c, msg))
            fail_msg("%s was accepted", cases[i][0]);
        if (strncmp(msg, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("%s: message '%s' does not start with %s", cases[i][0], msg, cases[i][1]);
        assert_null(strchr(msg, '\n'));
    }
}

static void secret_of_31_bytes_is_refused_32_accepted(void **state)
{
    (void)state;
    char *env31[] = {"JWT_SECRET=0123456789012345678901234567890", NULL};
    char *env32[] = {"JWT_SECRET=01234567890123456789012345678901", NULL};
    char *none[] = {NULL};
    struct config c;
    char msg[512];
    assert_false(load(env31, NULL, &c, msg));
    assert_non_null(strstr(msg, "JWT_SECRET: must be at least 32 bytes (got 31)"));
    assert_null(strstr(msg, "0123456789"));
    assert_true(load(env32, NULL, &c, msg));
    assert_false(load(none, NULL, &c, msg));
    assert_non_null(strstr(msg, "JWT_SECRET: is required"));
}

static void secrets_are_never_echoed(void **state)
{
    (void)state;
    char *env[] = {"MONGO_URI=mongodb://user:pa ss@host/", SECRET, NULL};
    struct config c;
    char msg[512];
    assert_false(load(env, NULL, &c, msg));
    assert_null(strstr(msg, "pa ss"));
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/orgd-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void dotenv_fills_gaps_and_environment_wins(void **state)
{
    (void)state;
    char *path = write_file("# settings\n\nexport PORT=9001\nMASTER_DB=\"from_file\"\n"
                            "LOG_LEVEL='debug'  \nTHREADS = 12\n" SECRET "\n"
                            "UNRELATED_THING=1\nPORT=9002\n");
    char *env[] = {"MASTER_DB=from_env", NULL};
    struct config c;
    char msg[512];
    assert_true(load(env, path, &c, msg));
    assert_string_equal(c.master_db, "from_env");
    assert_int_equal(c.port, 9002); /* the last assignment in the file wins */
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.threads, 12);
    unlink(path);
}

static void dotenv_syntax_errors_name_the_line(void **state)
{
    (void)state;
    char *path = write_file("PORT=9001\nthis line has no equals sign\n");
    char *env[] = {SECRET, NULL};
    struct config c;
    char msg[512];
    assert_false(load(env, path, &c, msg));
    assert_non_null(strstr(msg, ":2: expected NAME=value"));
    unlink(path);
}

static void missing_dotenv_is_fine(void **state)
{
    (void)state;
    char *env[] = {SECRET, NULL};
    struct config c;
    char msg[512];
    assert_true(load(env, "/nonexistent/.env", &c, msg));
}

static void env_example_lists_every_setting(void **state)
{
    (void)state;
    FILE *f = fopen(ORGD_SOURCE_DIR "/.env.example", "r");
    assert_non_null(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *name, *def, *help;
    for (size_t i = 0; config_setting_at(i, &name, &def, &help); i++) {
        char line[160];
        snprintf(line, sizeof line, "\n%s=%s\n", name, strcmp(name, "JWT_SECRET") ? def : "");
        if (strstr(text, line) == NULL)
            fail_msg(".env.example lacks '%s=%s'", name, def);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(trusted_proxies_are_parsed),
        cmocka_unit_test(each_bad_value_names_its_setting),
        cmocka_unit_test(secret_of_31_bytes_is_refused_32_accepted),
        cmocka_unit_test(secrets_are_never_echoed),
        cmocka_unit_test(dotenv_fills_gaps_and_environment_wins),
        cmocka_unit_test(dotenv_syntax_errors_name_the_line),
        cmocka_unit_test(missing_dotenv_is_fine),
        cmocka_unit_test(env_example_lists_every_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
