/* harness_orgd.h — the orgd process of a black-box test: a fresh database
 * name, secret and port; start, spawn, wait, stop; one-shot commands such
 * as `orgd check`; its log, which must never hold a secret. */
#ifndef ORGD_TEST_HARNESS_ORGD_H
#define ORGD_TEST_HARNESS_ORGD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct th_orgd {
    pid_t pid;
    int port;
    char base[64];      /* http://127.0.0.1:PORT */
    char uri[512];      /* MONGO_URI it uses */
    char db[64];        /* its MASTER_DB */
    char secret[65];    /* its JWT_SECRET */
    char log_path[512]; /* its stderr */
    const char *binary;
};

/* Paths set by CMake. */
const char *th_orgd_bin(void);
const char *th_orgd_faults_bin(void);
const char *th_source_dir(void);

/* The shared test database URI; aborts the test run with a clear message
 * when it is not set. */
const char *th_mongo_uri(void);

/* A name unique to this run: prefix + '_' + 8 hex digits. */
void th_unique(const char *prefix, char *out, size_t cap);
/* Lower-cases s (ASCII) in place: orgd stores e-mails lower-case, so this
 * is the form a test expects back for an e-mail it sent in mixed case. */
void th_lower(char *s);
/* A fresh e-mail, prefix_XXXXXXXX@example.com (th_unique), lower-case as
 * orgd would store it, so that a test may compare it with an answer as is. */
void th_fresh_email(const char *prefix, char *out, size_t cap);

/* Fills o with a fresh database name, secret and port for `binary`
 * (th_orgd_bin() when NULL). Call before th_orgd_start. */
void th_orgd_init(struct th_orgd *o, const char *binary);

/* One orgd shared by a test group: th_run_with_shared_orgd(tests) starts
 * it, runs the group, stops it, and returns the number of failures,
 * counting one more if orgd did not exit 0 or its log leaked a secret
 * (cmocka would report a failed group teardown but still exit 0). */
extern struct th_orgd th_shared_orgd;
#define th_run_with_shared_orgd(tests) th_run_group(tests, sizeof(tests) / sizeof((tests)[0]))
struct CMUnitTest;
int th_run_group(const struct CMUnitTest *tests, size_t n);

/* The orgd a test starts for itself, besides the shared one, and the
 * teardown that stops it if it still runs: a failed assertion leaves the
 * test at once, and the process would outlive the run. A test that uses it
 * is registered as cmocka_unit_test_teardown(test, th_own_orgd_stop). */
extern struct th_orgd th_own_orgd;
int th_own_orgd_stop(void **state);
/* th_orgd_init and th_orgd_start of th_own_orgd with `binary` (NULL: orgd)
 * and `extra_env`; fails the test unless it starts. Returns &th_own_orgd. */
struct th_orgd *th_own_orgd_start(const char *binary, const char *const *extra_env);

/* Cases for the end of a group on the shared orgd, after everything above
 * them: no document of its database holds a password a test sent or a
 * token orgd issued (th_db_expect_no_secret); `orgd check` finds it
 * consistent (th_expect_check_clean). */
void th_case_no_secret_in_the_database(void **state);
void th_case_check_is_clean(void **state);

/* Starts orgd with its settings plus `extra_env` ("NAME=value" strings,
 * NULL-terminated; they override). Waits until /healthz answers 200.
 * False if it did not come up (its log is printed).
 *
 * Besides MONGO_URI, MASTER_DB, JWT_SECRET, PORT and HOST, every orgd the
 * harness runs (commands too) gets LOGIN_FAILURES_PER_ACCOUNT,
 * LOGIN_FAILURES_PER_ADDRESS, SIGNUPS_PER_ADDRESS and
 * ORG_CREATES_PER_ADDRESS = 0 (no limit), so that no test is throttled by
 * the logins and sign-ups of the tests before it; a test of throttling
 * names the limits it wants in extra_env. */
bool th_orgd_start(struct th_orgd *o, const char *const *extra_env);

/* Starts orgd on a free port and returns at once, without waiting for it
 * to listen (th_orgd_start is this plus the wait). */
void th_orgd_spawn(struct th_orgd *o, const char *const *extra_env);

/* Polls /readyz until it answers 200; false after timeout_ms. */
bool th_orgd_wait_ready(const struct th_orgd *o, int timeout_ms);

/* Starts orgd expecting it to exit by itself; returns its exit status
 * (or -1 on timeout) and leaves its output in o->log_path. */
int th_orgd_run_to_exit(struct th_orgd *o, const char *const *extra_env, int timeout_ms);

/* Runs `binary args...` (e.g. {"check", "--repair", NULL}) with o's
 * settings, waits for it (60 s at most) and returns its exit code; its
 * stdout and stderr go into out (cap bytes). */
int th_orgd_command(struct th_orgd *o, const char *const *args, const char *const *extra_env,
                    char *out, size_t cap);

/* SIGTERM, then waits (at most 30 s). Returns the exit code, 128+signal if
 * killed by one, -1 if it had to be SIGKILLed. Prints the log tail unless
 * the code is 0. Returns TH_LOG_LEAK instead of 0 when the log holds a
 * password a test sent, a token orgd issued, the JWT secret or an argon2
 * hash. */
#define TH_LOG_LEAK 250
int th_orgd_stop(struct th_orgd *o);

/* Waits for an orgd that should die by itself (e.g. at a fault point).
 * Returns like th_orgd_stop (TH_LOG_LEAK included), or -1 if still alive
 * after timeout_ms. */
int th_orgd_wait(struct th_orgd *o, int timeout_ms);

/* True if the log contains `needle`. */
bool th_orgd_log_contains(const struct th_orgd *o, const char *needle);

/* Adds s to what no orgd log may hold (th_orgd_wait checks). Strings
 * shorter than 8 characters are ignored: they are hostile inputs, not
 * secrets. The HTTP layer calls it with every password sent and every
 * token received. */
void th_secret_remember(const char *s);
/* Calls fn with each remembered secret (under the harness's lock: fn must
 * not remember one). */
void th_secrets_each(void (*fn)(const char *secret, void *ud), void *ud);

/* Runs `orgd check` (with --repair when repair) with o's settings; returns
 * its exit code, its output in out. */
int th_orgd_check(struct th_orgd *o, bool repair, char *out, size_t cap);
/* Fails the test unless `orgd check` exits 0 saying "consistent". */
void th_expect_check_clean(struct th_orgd *o);

#endif
