/* orgd — multi-tenant organization management service.
 *
 *   orgd [serve]            run the HTTP service
 *   orgd check [--repair]   verify (and repair) the database's consistency
 *   orgd import --source-uri URI --source-db NAME [--dry-run]
 *                           take over the original FastAPI + MongoDB service's data
 *   orgd keys new|promote KID|retire KID|list [--file F]
 *                           the ES256 signing keys (cmd_keys.c)
 *   orgd settings           list every setting with its default
 *   orgd --version
 */
#include <civetweb.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "check.h"
#include "cmd_keys.h"
#include "config.h"
#include "delivery.h"
#include "faults.h"
#include "import.h"
#include "log.h"
#include "mailer.h"
#include "metrics.h"
#include "recovery.h"
#include "server.h"
#include "store.h"
#include "util.h"

#ifndef ORGD_VERSION
#define ORGD_VERSION "0.0.0"
#endif

extern char **environ;

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: orgd [serve]            run the HTTP service\n"
                 "       orgd check [--repair]   verify (and repair) the database\n"
                 "       orgd import --source-uri URI --source-db NAME [--dry-run]\n"
                 "                               take over the database of the original\n"
                 "                               FastAPI + MongoDB service\n"
                 "       orgd keys new|promote KID|retire KID|list [--file F]\n"
                 "                               the ES256 signing keys (JWT_KEYS_FILE)\n"
                 "       orgd settings           list the settings and their defaults\n"
                 "       orgd --version\n"
                 "Settings come from the environment, then from the file named by ENV_FILE\n"
                 "(default ./.env).\n");
    return code;
}

static bool load_config(struct config *cfg)
{
    const char *env_file = getenv("ENV_FILE");
    struct error e = ERROR_INIT;
    if (!config_load(cfg, environ, env_file ? env_file : ".env", &e)) {
        log_emit(LOG_ERROR, "invalid configuration",
                 json_pack("{s:s, s:s}", "setting", e.nfields > 0 ? e.fields[0].field : "",
                           "detail", e.message));
        return false;
    }
    log_set_level(cfg->log_level);
    /* every command: the crash tests kill `serve` and `import` midway */
    if (cfg->fault_point[0] != '\0' && !faults_arm(cfg->fault_point))
        log_text(LOG_WARN, "FAULT_POINT ignored", "this build has no fault points (%s)",
                 cfg->fault_point);
    return true;
}

/* ---- background maintenance: indexes until they exist, then recovery ---- */

struct maintenance {
    struct app *app;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

/* The org gauges of /metrics are counted here, off the request path. The
 * count reads every organization (on FerretDB, 10,000 of them take about
 * 300 ms), so it runs at most once a second and never takes more than a
 * fiftieth of the time: a count that took 300 ms is next made 15 s later,
 * and none waits more than a minute. A count that failed at once (the
 * database is down) is retried at the next tick, so orgd_mongo_up follows
 * the database within a second; one that failed slowly (timed out) waits
 * as a slow count does, so a struggling database is not sent it again and
 * again. */
#define ORG_COUNT_SHARE 50
#define ORG_COUNT_WAIT_MAX_MS 60000

static void count_orgs(struct maintenance *m, int64_t *next_count)
{
    int64_t started = clock_mono_ms();
    if (started < *next_count)
        return;
    long counts[ORG_STATE_COUNT] = {0};
    struct error ce = ERROR_INIT;
    FAULT("maintenance.org_count");
    bool up = store_org_count_by_state(m->app->store, counts, &ce);
    metrics_set_orgs(up, counts);
    int64_t took = clock_mono_ms() - started;
    int64_t wait = took * ORG_COUNT_SHARE;
    if (wait > ORG_COUNT_WAIT_MAX_MS)
        wait = ORG_COUNT_WAIT_MAX_MS;
    *next_count = up || took >= 1000 ? started + wait : 0;
}

/* The outbox gauges, every OUTBOX_COUNT_MS (two reads; the count is an
 * index scan on MongoDB). */
#define OUTBOX_COUNT_MS 5000

static void count_outbox(struct maintenance *m, int64_t *next)
{
    int64_t now = clock_mono_ms();
    if (now < *next)
        return;
    *next = now + OUTBOX_COUNT_MS;
    int64_t pending = 0, oldest = 0;
    struct error e = ERROR_INIT;
    if (store_outbox_stats(m->app->store, &pending, &oldest, &e))
        metrics_set_outbox(pending, oldest > 0 ? (double)(clock_now_ms() - oldest) / 1000.0 : 0);
}

static void *maintenance_main(void *arg)
{
    struct maintenance *m = arg;
    const struct config *cfg = m->app->cfg;
    bool indexed = false;
    int64_t next_recovery = 0, next_count = 0, next_outbox = 0;
    for (;;) {
        struct error e = ERROR_INIT;
        count_orgs(m, &next_count);
        if (indexed)
            count_outbox(m, &next_outbox);
        if (!indexed) {
            indexed = store_ensure_indexes(m->app->store, &e);
            if (indexed)
                log_text(LOG_INFO, "indexes ready", "%s", cfg->master_db);
        }
        if (indexed && clock_mono_ms() >= next_recovery) {
            struct recovery_stats st;
            error_clear(&e);
            if (recovery_run(m->app, cfg->recovery_age_seconds * 1000, &st, &e))
                next_recovery = clock_mono_ms() + cfg->recovery_interval_seconds * 1000;
        }
        pthread_mutex_lock(&m->lock);
        if (!m->stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&m->wake, &m->lock, &until);
        }
        bool stop = m->stop;
        pthread_mutex_unlock(&m->lock);
        if (stop)
            return NULL;
    }
}

/* Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it
 * starts: they go to wait_for_stop's sigtimedwait, never to a worker. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void maintenance_start(struct maintenance *m, struct app *app)
{
    memset(m, 0, sizeof *m);
    m->app = app;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    pthread_create(&m->thread, NULL, maintenance_main, m);
}

static void maintenance_stop(struct maintenance *m)
{
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
}

/* The signing keys again, if JWT_KEYS_FILE changed (or always, on
 * SIGHUP): one log line and a metric either way; a file that does not
 * load leaves the keys in use. */
static void reload_keys(struct app *app, bool force)
{
    struct error e = ERROR_INIT;
    enum jwt_reload r = jwt_reload(app->jwt, force, &e);
    if (r == JWT_RELOAD_UNCHANGED)
        return;
    metrics_jwt_reload(r == JWT_RELOAD_DONE);
    metrics_jwt_keys(jwt_key_count(app->jwt));
    if (r == JWT_RELOAD_DONE)
        log_emit(LOG_INFO, "signing keys reloaded",
                 json_pack("{s:s, s:I}", "file", app->cfg->jwt_keys_file, "keys",
                           (json_int_t)jwt_key_count(app->jwt)));
    else
        log_emit(LOG_ERROR, "signing keys not reloaded: the keys in use stay",
                 json_pack("{s:s, s:s}", "file", app->cfg->jwt_keys_file, "detail", e.message));
}

/* How often JWT_KEYS_FILE is looked at for a change. */
#define KEYS_CHECK_SECONDS 2

/* Waits for SIGTERM or SIGINT; meanwhile reloads the keys on SIGHUP and
 * when their file changes. */
static void wait_for_stop(const sigset_t *set, struct app *app)
{
    const struct config *cfg = app->cfg;
    int sig;
    for (;;) {
        struct timespec wait = {KEYS_CHECK_SECONDS, 0};
        sig = sigtimedwait(set, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        reload_keys(app, sig == SIGHUP);
    }
    log_emit(LOG_INFO, "stopping",
             json_pack("{s:s, s:I}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                       "timeout_seconds", (json_int_t)cfg->shutdown_timeout_seconds));
}

static int serve(struct config *cfg)
{
    sigset_t stop_signals;
    block_stop_signals(&stop_signals);
    store_global_init();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: webhooks use libcurl */
    mg_init_library(0);
    struct app app;
    struct error e = ERROR_INIT;
    server_t *srv = NULL;
    if (!app_init(&app, cfg, &e)) {
        log_text(LOG_ERROR, "cannot start", "%s", e.message);
        store_global_cleanup();
        return 1;
    }
    metrics_start();
    metrics_jwt_keys(jwt_key_count(app.jwt));
    if ((srv = server_start(&app, &e)) == NULL) {
        log_text(LOG_ERROR, "cannot start", "%s", e.message);
        app_cleanup(&app);
        store_global_cleanup();
        return 1;
    }
    struct maintenance m;
    maintenance_start(&m, &app);
    delivery_engine_t *webhooks = delivery_start(&app);
    mailer_t *mailer = mailer_start(&app);
    log_emit(LOG_INFO, "started",
             json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:I}", "version", ORGD_VERSION, "host",
                       cfg->host, "port", (json_int_t)cfg->port, "threads",
                       (json_int_t)cfg->threads, "database", cfg->master_db, "instance",
                       app.instance_id, "jwt_algorithm", jwt_alg_name(cfg->jwt_algorithm),
                       "jwt_keys", (json_int_t)jwt_key_count(app.jwt)));
    wait_for_stop(&stop_signals, &app);
    server_stop(srv, (int)cfg->shutdown_timeout_seconds);
    delivery_stop(webhooks);
    mailer_stop(mailer);
    maintenance_stop(&m);
    app_cleanup(&app);
    mg_exit_library();
    curl_global_cleanup();
    store_global_cleanup();
    log_text(LOG_INFO, "stopped", "%s", "clean shutdown");
    return 0;
}

static void print_problem(const char *kind, const char *detail, bool repaired, void *ud)
{
    (void)ud;
    printf("%-26s %s%s\n", kind, detail, repaired ? "  [repaired]" : "");
}

static int check(struct config *cfg, bool repair)
{
    store_global_init();
    struct app app;
    struct error e = ERROR_INIT;
    int rc = 2;
    if (!app_init(&app, cfg, &e)) {
        fprintf(stderr, "orgd check: %s\n", e.message);
        store_global_cleanup();
        return 2;
    }
    int problems = 0, left = 0;
    int64_t age = cfg->recovery_age_seconds * 1000;
    if (!check_run(&app, repair, age, print_problem, NULL, &problems, &e)) {
        fprintf(stderr, "orgd check: %s\n", e.message);
    } else if (repair && problems > 0 && !check_run(&app, false, age, NULL, NULL, &left, &e)) {
        fprintf(stderr, "orgd check: %s\n", e.message);
    } else {
        if (!repair)
            left = problems;
        if (problems == 0)
            printf("consistent\n");
        else if (repair)
            printf("%d problem(s) found, %d left after repair\n", problems, left);
        else
            printf("%d problem(s) found; run `orgd check --repair` to fix them\n", problems);
        rc = left == 0 ? 0 : 1;
    }
    app_cleanup(&app);
    store_global_cleanup();
    return rc;
}

static void print_import(const char *kind, const char *detail, void *ud)
{
    (void)ud;
    printf("%-13s %s\n", kind, detail);
    fflush(stdout);
}

/* 0: everything the source holds is in orgd now; 1: some records were
 * left out (each said why); 2: it could not run. */
static int import(struct config *cfg, const char *uri, const char *db, bool dry_run)
{
    store_global_init();
    struct app app;
    struct error e = ERROR_INIT;
    if (!app_init(&app, cfg, &e)) {
        fprintf(stderr, "orgd import: %s\n", e.message);
        store_global_cleanup();
        return 2;
    }
    struct import_report rep;
    int rc = 2;
    if (!import_run(&app, uri, db, dry_run, print_import, NULL, &rep, &e)) {
        fprintf(stderr, "orgd import: %s\n", e.message);
    } else {
        printf("%s: %d organization(s) %s, %d there already, %d left out; %d account(s) %s, "
               "%d left out; %lld document(s) %s\n",
               dry_run ? "dry run" : "done", rep.orgs_imported, dry_run ? "to import" : "imported",
               rep.orgs_already, rep.orgs_left_out, rep.accounts_imported,
               dry_run ? "to import" : "imported", rep.accounts_left_out, rep.documents_copied,
               dry_run ? "to copy" : "copied");
        rc = rep.orgs_left_out + rep.accounts_left_out > 0 ? 1 : 0;
    }
    app_cleanup(&app);
    store_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "--version") == 0) {
        printf("orgd %s\n", ORGD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout, 0);
    if (strcmp(cmd, "keys") == 0)
        return cmd_keys(argc, argv);
    if (strcmp(cmd, "settings") == 0) {
        const char *name, *def, *help;
        for (size_t i = 0; config_setting_at(i, &name, &def, &help); i++)
            printf("%-26s %-28s %s\n", name, def[0] ? def : "\"\"", help);
        return 0;
    }
    bool repair = false, dry_run = false;
    const char *source_uri = NULL, *source_db = NULL;
    if (strcmp(cmd, "import") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--dry-run") == 0)
                dry_run = true;
            else if (strcmp(argv[i], "--source-uri") == 0 && i + 1 < argc)
                source_uri = argv[++i];
            else if (strcmp(argv[i], "--source-db") == 0 && i + 1 < argc)
                source_db = argv[++i];
            else
                return usage(stderr, 2);
        }
        if (source_uri == NULL || source_db == NULL)
            return usage(stderr, 2);
    } else if (strcmp(cmd, "check") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--repair") == 0)
                repair = true;
            else
                return usage(stderr, 2);
        }
    } else if (strcmp(cmd, "serve") != 0 || argc > 2) {
        return usage(stderr, 2);
    }

    static struct config cfg;
    if (!load_config(&cfg))
        return 2;
    if (strcmp(cmd, "import") == 0)
        return import(&cfg, source_uri, source_db, dry_run);
    return strcmp(cmd, "check") == 0 ? check(&cfg, repair) : serve(&cfg);
}
