/* harness.h — black-box API tests: start the real orgd binary on a free
 * loopback port against the test database, speak HTTP with libcurl, look at
 * the database with libmongoc, stop orgd by its pid.
 *
 * The database URI comes from ORGD_TEST_MONGO_URI (scripts/test sets it).
 * Every orgd gets its own MASTER_DB, so tests never share state.
 */
#ifndef ORGD_TEST_HARNESS_H
#define ORGD_TEST_HARNESS_H

#include <jansson.h>
#include <pthread.h>
#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct orgd {
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
const char *harness_orgd_bin(void);
const char *harness_orgd_faults_bin(void);
const char *harness_source_dir(void);

/* The shared test database URI; aborts the test run with a clear message
 * when it is not set. */
const char *harness_mongo_uri(void);

/* A name unique to this run: prefix + '-' + 8 hex digits. */
void harness_unique(const char *prefix, char *out, size_t cap);

/* Fills o with a fresh database name, secret and port for `binary`
 * (harness_orgd_bin() when NULL). Call before orgd_start. */
void orgd_init(struct orgd *o, const char *binary);

/* One orgd shared by a test group: run_with_shared_orgd(tests) starts it,
 * runs the group, stops it, and returns the number of failures, counting
 * one more if orgd did not exit 0 or its log leaked a secret (cmocka would
 * report a failed group teardown but still exit 0). */
extern struct orgd shared_orgd;
#define run_with_shared_orgd(tests) \
    harness_run_group(tests, sizeof(tests) / sizeof((tests)[0]))
struct CMUnitTest;
int harness_run_group(const struct CMUnitTest *tests, size_t n);

/* Starts orgd with its settings plus `extra_env` ("NAME=value" strings,
 * NULL-terminated; they override). Waits until /healthz answers 200.
 * False if it did not come up (its log is printed). */
bool orgd_start(struct orgd *o, const char *const *extra_env);

/* Starts orgd on a free port and returns at once, without waiting for it
 * to listen (orgd_start is this plus the wait). */
void orgd_spawn(struct orgd *o, const char *const *extra_env);

/* Starts orgd expecting it to exit by itself; returns its exit status
 * (or -1 on timeout) and leaves its output in o->log_path. */
int orgd_run_to_exit(struct orgd *o, const char *const *extra_env, int timeout_ms);

/* Runs `binary args...` (e.g. {"check", "--repair", NULL}) with o's
 * settings, waits for it (60 s at most) and returns its exit code; its
 * stdout and stderr go into out (cap bytes). */
int orgd_command(struct orgd *o, const char *const *args, const char *const *extra_env,
                 char *out, size_t cap);

/* SIGTERM, then waits (at most 30 s). Returns the exit code, 128+signal if
 * killed by one, -1 if it had to be SIGKILLed. Prints the log tail unless
 * the code is 0. Returns HARNESS_LOG_LEAK instead of 0 when the log holds
 * a password a test sent, a token orgd issued, the JWT secret or an argon2
 * hash. */
#define HARNESS_LOG_LEAK 250
int orgd_stop(struct orgd *o);

/* Waits for an orgd that should die by itself (e.g. at a fault point).
 * Returns like orgd_stop (HARNESS_LOG_LEAK included), or -1 if still
 * alive after timeout_ms. */
int orgd_wait(struct orgd *o, int timeout_ms);

/* True if the log contains `needle`. */
bool orgd_log_contains(const struct orgd *o, const char *needle);

/* ---- HTTP ---- */

struct resp {
    long status;
    char *body;
    size_t len;
    json_t *json;      /* parsed body, or NULL */
    char *headers;     /* raw header block */
    double seconds;    /* total time */
    long connects;     /* new connections curl opened for this request */
};

/* One request. token: bearer token or NULL; content_type NULL: none sent
 * (application/json is sent when body != NULL and content_type is NULL);
 * extra_headers: "Name: value" strings, NULL-terminated, or NULL. */
bool http(const struct orgd *o, const char *method, const char *path, const char *token,
          const char *content_type, const char *body, size_t len, const char *const *extra_headers,
          struct resp *r);
/* Shorthands: JSON body (may be NULL). */
bool http_json(const struct orgd *o, const char *method, const char *path, const char *token,
               const char *body, struct resp *r);
/* Value of a response header (case-insensitive name) into out; false if absent. */
bool resp_header(const struct resp *r, const char *name, char *out, size_t cap);
void resp_free(struct resp *r);

/* Checks that r is a problem+json with this status and all of type, title,
 * status, detail; returns false (and prints why) otherwise. */
bool is_problem(const struct resp *r, long status);

/* ---- the org flow ---- */

/* POST /org/create; returns the status. */
long create_org(const struct orgd *o, const char *name, const char *email, const char *password);
/* POST /admin/login; on 200 copies the token into out (malloc'd, caller frees). */
long login(const struct orgd *o, const char *email, const char *password, char **token);

/* A fresh org with its owner logged in. */
struct tenant {
    char name[64];
    char email[96];
    char *token;
    char id[32];       /* the org's */
    char admin_id[32]; /* the owner's */
};

/* Creates prefix_XXXXXXXX with owner prefix_XXXXXXXX@example.com, logs in;
 * fails the test if any step does. t->token is malloc'd: tenant_free frees it. */
void tenant_new(const struct orgd *o, struct tenant *t, const char *prefix);
void tenant_free(struct tenant *t);

/* "org_" + the lower-case name. */
void collection_of(const char *name, char *out, size_t cap);

/* The status of one request with an optional JSON body (-1: no answer). */
long status_of(const struct orgd *o, const char *method, const char *path, const char *token,
               const char *body);

/* Runs `orgd check` (with --repair when repair) with o's settings; returns
 * its exit code, its output in out. */
int orgd_check(struct orgd *o, bool repair, char *out, size_t cap);
/* Fails the test unless `orgd check` exits 0 saying "consistent". */
void expect_check_clean(struct orgd *o);

/* ---- requests on their own threads, for races ---- */

struct call {
    const struct orgd *o;
    const char *method;
    char path[256];
    char body[512]; /* "" sends none */
    const char *token;
    int delay_ms; /* waits this long on its thread before sending */
    long status;  /* -1: no answer */
    char retry_after[16];
    pthread_t thread;
};

/* Sends c's request on a new thread; call_join waits and fills status. */
void call_start(struct call *c);
void call_join(struct call *c);

/* ---- the database, straight through libmongoc ---- */

mongoc_client_t *db_client(const struct orgd *o); /* caller: mongoc_client_destroy */
bool db_collection_exists(const struct orgd *o, const char *name);
int64_t db_count(const struct orgd *o, const char *collection, const bson_t *filter);
/* Inserts n documents {i: k, tag: tag} into the collection. */
/* Documents of `collection` whose `field` is the string / ObjectId (hex). */
int64_t db_count_str(const struct orgd *o, const char *collection, const char *field,
                     const char *value);
int64_t db_count_oid(const struct orgd *o, const char *collection, const char *field,
                     const char *hex);
/* Puts org `id` into `state` (creating, renaming, deleting) with an
 * operation last touched a minute ago, as if an orgd had died in it. */
void db_make_stuck(const struct orgd *o, const char *id, const char *state);
bool db_insert_docs(const struct orgd *o, const char *collection, int n, const char *tag);
/* A stable digest of the master database's collections and documents, for
 * "nothing changed" checks: every collection's name and document count,
 * and the organizations and admins documents themselves. Caller frees. */
char *db_snapshot(const struct orgd *o);

/* ---- a private database this test may stop and start ---- */

struct private_db {
    char dir[512];
    char uri[256];
};
bool private_db_start(struct private_db *d); /* first call creates it */
/* Starts d, then o (orgd_init'ed already) against it with extra_env. */
bool orgd_start_on(struct orgd *o, struct private_db *d, const char *const *extra_env);
/* Polls /readyz until it answers 200; false after timeout_ms. */
bool orgd_wait_ready(const struct orgd *o, int timeout_ms);
bool private_db_stop(struct private_db *d);
/* SIGKILLs the database by its recorded pid: a crash, not a shutdown. */
bool private_db_kill(struct private_db *d);
void private_db_destroy(struct private_db *d); /* stop and remove */

#endif
