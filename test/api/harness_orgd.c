/* harness_orgd.c — the orgd process: see harness_orgd.h. */
#include "harness_orgd.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "config.h"
#include "harness_db.h"
#include "harness_http.h"
#include "testutil.h"

extern char **environ;

static bool log_leaks_secret(const struct th_orgd *o, char *out, size_t cap);

const char *th_orgd_bin(void)
{
    return ORGD_BIN;
}

const char *th_orgd_faults_bin(void)
{
    return ORGD_FAULTS_BIN;
}

const char *th_source_dir(void)
{
    return ORGD_SOURCE_DIR;
}

const char *th_mongo_uri(void)
{
    const char *uri = getenv("ORGD_TEST_MONGO_URI");
    if (uri == NULL || uri[0] == '\0') {
        fprintf(stderr, "ORGD_TEST_MONGO_URI is not set: run the tests through scripts/test, "
                        "or start a database (scripts/db start) and export its URI\n");
        exit(1);
    }
    return uri;
}

void th_unique(const char *prefix, char *out, size_t cap)
{
    unsigned char b[4];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        abort();
    snprintf(out, cap, "%s_%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3]);
}

void th_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

void th_fresh_email(const char *prefix, char *out, size_t cap)
{
    char name[64];
    th_unique(prefix, name, sizeof name);
    snprintf(out, cap, "%s@example.com", name);
    th_lower(out);
}

void th_orgd_init(struct th_orgd *o, const char *binary)
{
    memset(o, 0, sizeof *o);
    o->binary = binary ? binary : th_orgd_bin();
    snprintf(o->uri, sizeof o->uri, "%s", th_mongo_uri());
    th_unique("t", o->db, sizeof o->db);
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
static char **child_env(struct th_orgd *o, const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 24, sizeof *env);
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
    if (o->port != 0) /* 0 until started: commands that do not listen leave PORT unset */
        ADD("PORT=%d", o->port);
    ADD("HOST=127.0.0.1");
    ADD("ENV_FILE=/nonexistent/orgd-test.env");
    /* libmongoc's shared-memory counters: an orgd the tests SIGKILL leaves
     * /dev/shm/mongoc-<pid> behind, and a later process given the same pid
     * cannot create its own; libmongoc then writes a plain-text warning
     * while the library loads, before orgd can route its messages into the
     * JSON log. orgd does not use those counters. */
    ADD("MONGOC_DISABLE_SHM=1");
    /* No throttling unless a test asks for it: the suite logs in and signs
     * up far more often from 127.0.0.1 than the defaults allow, and a test
     * must not depend on what ran before it against the shared orgd. */
    ADD("LOGIN_FAILURES_PER_ACCOUNT=0");
    ADD("LOGIN_FAILURES_PER_ADDRESS=0");
    ADD("SIGNUPS_PER_ADDRESS=0");
    ADD("ORG_CREATES_PER_ADDRESS=0");
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

/* ---- the reaper ----
 * An orgd started by a thread other than the main one cannot die with the
 * test by PR_SET_PDEATHSIG (the signal follows the thread that forked, and
 * the starting thread ends first). A test that ctest kills at its timeout
 * would leave such orgds running, loading the machine for every test
 * after it. So a reaper process holds their pids, sent over a pipe (a
 * negative pid: stopped, forget it), and kills the ones it still holds
 * when the pipe's write end closes: when the test process is gone. */

static int reaper_fd = -1;
static pthread_once_t reaper_once = PTHREAD_ONCE_INIT;

static void reaper_main(int fd)
{
    enum { HELD = 256 };
    pid_t held[HELD];
    size_t n = 0;
    pid_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {
        if (v > 0 && n < HELD) {
            held[n++] = v;
        } else if (v < 0) {
            for (size_t i = 0; i < n; i++)
                if (held[i] == -v)
                    held[i--] = held[--n];
        }
    }
    for (size_t i = 0; i < n; i++)
        kill(held[i], SIGKILL);
    _exit(0);
}

static void reaper_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0); /* ctest waits for the test's output to close: not on this */
        dup2(null, 1);
        dup2(null, 2);
        reaper_main(p[0]);
    }
    close(p[0]);
    if (pid > 0)
        reaper_fd = p[1];
    else
        close(p[1]);
}

static void reaper_tell(pid_t v)
{
    if (reaper_fd >= 0 && write(reaper_fd, &v, sizeof v) != (ssize_t)sizeof v)
        fprintf(stderr, "the reaper missed pid %d\n", (int)v);
}

/* Runs o->binary with args (NULL-terminated, may be NULL), output to path. */
static pid_t spawn_to(struct th_orgd *o, const char *const *extra, const char *const *args,
                      const char *path)
{
    char **env = child_env(o, extra);
    char *argv[16] = {(char *)o->binary};
    for (size_t i = 0; args && args[i] && i < 14; i++)
        argv[i + 1] = (char *)args[i];
    /* A test process that dies (a crash, an abort mid-test) takes the orgd
     * it started with it, instead of leaving it running. Only for orgds
     * the main thread starts: the signal follows the thread that forked. */
    pid_t parent = getpid();
    bool main_thread = (pid_t)syscall(SYS_gettid) == parent;
    if (!main_thread)
        pthread_once(&reaper_once, reaper_start);
    pid_t pid = fork();
    if (pid == 0) {
        if (main_thread) {
            (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) /* it died before the line above */
                _exit(127);
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(o->binary, argv, env);
        _exit(127);
    }
    if (!main_thread && pid > 0)
        reaper_tell(pid);
    free_env(env);
    return pid;
}

static pid_t spawn(struct th_orgd *o, const char *const *extra, const char *arg)
{
    const char *args[] = {arg, NULL};
    return spawn_to(o, extra, arg ? args : NULL, o->log_path);
}

static void print_log_tail(const struct th_orgd *o)
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

int th_orgd_wait(struct th_orgd *o, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(o->pid, &st, WNOHANG);
        if (r == o->pid) {
            reaper_tell(-o->pid); /* gone: its pid may be someone else's soon */
            o->pid = 0;
            /* however it ended (a crash at a fault point too), its log
             * must not hold a secret */
            char leaked[64];
            if (log_leaks_secret(o, leaked, sizeof leaked)) {
                fprintf(stderr, "orgd's log %s holds a secret: %s\n", o->log_path, leaked);
                return TH_LOG_LEAK;
            }
            return decode_status(st);
        }
        if (tu_now_ms() > until)
            return -1;
        tu_sleep_ms(10);
    }
}

void th_orgd_spawn(struct th_orgd *o, const char *const *extra_env)
{
    o->port = tu_free_port();
    snprintf(o->base, sizeof o->base, "http://127.0.0.1:%d", o->port);
    o->pid = spawn(o, extra_env, NULL);
}

bool th_orgd_start(struct th_orgd *o, const char *const *extra_env)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        th_orgd_spawn(o, extra_env);
        int64_t until = tu_now_ms() + 20000;
        while (tu_now_ms() < until) {
            struct th_resp r;
            if (th_http(o, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r) && r.status == 200) {
                th_resp_free(&r);
                return true;
            }
            th_resp_free(&r);
            int code = th_orgd_wait(o, 0);
            if (code != -1)
                break; /* it exited: maybe the port was taken; try another */
            tu_sleep_ms(20);
        }
        if (o->pid != 0) {
            kill(o->pid, SIGKILL);
            th_orgd_wait(o, 5000);
        }
    }
    fprintf(stderr, "orgd did not start\n");
    print_log_tail(o);
    return false;
}

struct th_orgd th_shared_orgd;

static int shared_orgd_setup(void **state)
{
    (void)state;
    th_orgd_init(&th_shared_orgd, NULL);
    return th_orgd_start(&th_shared_orgd, NULL) ? 0 : -1;
}

int th_run_group(const struct CMUnitTest *tests, size_t n)
{
    int failed = _cmocka_run_group_tests("tests", tests, n, shared_orgd_setup, NULL);
    if (th_shared_orgd.pid > 0 && th_orgd_stop(&th_shared_orgd) != 0) {
        fprintf(stderr, "[  FAILED  ] the shared orgd did not stop cleanly\n");
        failed++;
    }
    return failed;
}

struct th_orgd th_own_orgd;

int th_own_orgd_stop(void **state)
{
    (void)state;
    if (th_own_orgd.pid > 0)
        th_orgd_stop(&th_own_orgd);
    return 0;
}

struct th_orgd *th_own_orgd_start(const char *binary, const char *const *extra_env)
{
    th_orgd_init(&th_own_orgd, binary);
    if (!th_orgd_start(&th_own_orgd, extra_env))
        fail_msg("the test's own orgd did not start");
    return &th_own_orgd;
}

void th_case_no_secret_in_the_database(void **state)
{
    (void)state;
    th_db_expect_no_secret(&th_shared_orgd);
}

void th_case_check_is_clean(void **state)
{
    (void)state;
    th_expect_check_clean(&th_shared_orgd);
}

int th_orgd_run_to_exit(struct th_orgd *o, const char *const *extra_env, int timeout_ms)
{
    o->port = tu_free_port();
    o->pid = spawn(o, extra_env, NULL);
    int code = th_orgd_wait(o, timeout_ms);
    if (code == -1) {
        kill(o->pid, SIGKILL);
        th_orgd_wait(o, 5000);
    }
    return code;
}

int th_orgd_command(struct th_orgd *o, const char *const *args, const char *const *extra_env,
                    char *out, size_t cap)
{
    char path[600];
    snprintf(path, sizeof path, "%s.cmd", o->log_path);
    unlink(path);
    struct th_orgd run = *o;
    run.pid = spawn_to(&run, extra_env, args, path);
    snprintf(run.log_path, sizeof run.log_path, "%s", path); /* what the leak check reads */
    int code = th_orgd_wait(&run, 60000);
    if (code == -1) {
        kill(run.pid, SIGKILL);
        th_orgd_wait(&run, 5000);
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

int th_orgd_check(struct th_orgd *o, bool repair, char *out, size_t cap)
{
    const char *plain[] = {"check", NULL}, *fix[] = {"check", "--repair", NULL};
    return th_orgd_command(o, repair ? fix : plain, NULL, out, cap);
}

void th_expect_check_clean(struct th_orgd *o)
{
    char out[8192];
    int code = th_orgd_check(o, false, out, sizeof out);
    if (code != 0 || strstr(out, "consistent") == NULL)
        fail_msg("orgd check exited %d:\n%s", code, out);
}

/* ---- what must never reach a log: every password the tests sent, every
 * token orgd issued, the JWT secret and any argon2 hash ---- */

#define SECRETS_MAX 4096
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRETS_MAX];
static size_t nsecrets;

void th_secret_remember(const char *s)
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

void th_secrets_each(void (*fn)(const char *secret, void *ud), void *ud)
{
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++)
        fn(secrets[i], ud);
    pthread_mutex_unlock(&secrets_lock);
}

/* The first secret found in o's log, copied into out; false if none. */
static bool log_leaks_secret(const struct th_orgd *o, char *out, size_t cap)
{
    if (th_orgd_log_contains(o, o->secret) || th_orgd_log_contains(o, "$argon2")) {
        snprintf(out, cap, "the JWT secret or a password hash");
        return true;
    }
    pthread_mutex_lock(&secrets_lock);
    bool leak = false;
    for (size_t i = 0; i < nsecrets && !leak; i++) {
        leak = th_orgd_log_contains(o, secrets[i]);
        if (leak)
            snprintf(out, cap, "%.24s...", secrets[i]);
    }
    pthread_mutex_unlock(&secrets_lock);
    return leak;
}

int th_orgd_stop(struct th_orgd *o)
{
    if (o->pid <= 0)
        return -1;
    kill(o->pid, SIGTERM);
    int code = th_orgd_wait(o, 30000);
    if (code == -1) {
        kill(o->pid, SIGKILL);
        th_orgd_wait(o, 5000);
    }
    if (code != 0) {
        fprintf(stderr, "orgd exited with %d\n", code);
        print_log_tail(o);
    }
    return code;
}

bool th_orgd_log_contains(const struct th_orgd *o, const char *needle)
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

bool th_orgd_wait_ready(const struct th_orgd *o, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if (th_status_of(o, "GET", "/readyz", NULL, NULL) == 200)
            return true;
        tu_sleep_ms(100);
    }
    return false;
}
