/* bare_mongo.c — scripts/bench's direct database tool, with libmongoc and a
 * mongoc_client_pool configured as lib/store.c configures orgd's.
 *
 *   bench_bare_mongo loop URI DB NAME_KEY ADMIN_ID CONNECTIONS MILLISECONDS
 *       The reference for GET /org/{name}: CONNECTIONS threads, each in a
 *       loop for MILLISECONDS, making the two round trips an authorized read
 *       needs at the least: the org by name_key in DB.organizations, then
 *       the membership {admin_id, org_id} in DB.memberships. Prints one
 *       line "BENCH_RESULT {json}" in the shape of test/bench/bench.lua's
 *       (requests, req/s, errors, latency percentiles in microseconds).
 *   bench_bare_mongo seed URI DB TEMPLATE_KEY PREFIX COUNT
 *       Adds COUNT organizations cloned from the one named TEMPLATE_KEY
 *       (made through orgd's API): each clone copies its document with a
 *       new _id, name PREFIX<n>, name_key and collection to match, and
 *       each of its memberships with the new org_id. No org_<name>
 *       collection is made for the clones (the reads measured never touch
 *       it). Prints how many were inserted.
 *   bench_bare_mongo probe URI DB
 *       What one find of an organization costs the database alone, by
 *       where the org lies: prints "BENCH_PROBE {json}" with the best of
 *       three times, in ms, of a find by name_key of the oldest org and of
 *       the newest, and by _id of the newest (each with limit 1, as orgd
 *       asks). A database that uses its indexes answers the three alike; one
 *       that reads the collection in order until it finds a match (FerretDB
 *       1.x on SQLite) answers the oldest at once and the newest last.
 *   bench_bare_mongo count URI DB
 *       Prints the number of documents in DB.organizations.
 *   bench_bare_mongo drop URI DB
 *       Drops DB (the bench's own, on a MONGO_URI it did not start).
 *
 * Exits 0 on success, 1 on a database error, 2 on bad arguments.
 */
#include <ctype.h>
#include <errno.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNECTIONS 256
#define MAX_SAMPLES (1L << 24) /* per thread: far beyond what a bench run makes */
#define SEED_BATCH 500
#define TIMEOUT_MS 2000 /* orgd's MONGO_TIMEOUT_MS default */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long number_arg(const char *text, long min, long max, const char *what)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench_bare_mongo: %s must be %ld to %ld (got \"%s\")\n", what, min, max,
                text);
        exit(2);
    }
    return v;
}

/* The pool as lib/store.c's store_new makes it: the same timeouts added
 * unless the URI sets them, error API 2. */
static mongoc_client_pool_t *pool_new(const char *uri_text)
{
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &be);
    if (uri == NULL) {
        fprintf(stderr, "bench_bare_mongo: bad URI: %s\n", be.message);
        exit(2);
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, TIMEOUT_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, TIMEOUT_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, TIMEOUT_MS * 5);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_appname(uri, "orgd-bench");
    mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (pool == NULL) {
        fprintf(stderr, "bench_bare_mongo: cannot make a client pool\n");
        exit(2);
    }
    mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
    return pool;
}

/* ---- loop ---- */

struct loop {
    mongoc_client_pool_t *pool;
    const char *db;
    const char *name_key;
    bson_oid_t admin;
    int64_t until_us;
    atomic_long errors;
};

struct worker {
    struct loop *loop;
    pthread_t thread;
    int64_t *samples; /* microseconds per request */
    long n, cap;
};

/* One find with limit 1 on `coll`; *found copies the document's _id. */
static bool find_one(mongoc_client_t *client, const char *db, const char *coll,
                     const bson_t *filter, bson_oid_t *id, bool *found)
{
    mongoc_collection_t *c = mongoc_client_get_collection(client, db, coll);
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    const bson_t *doc;
    *found = mongoc_cursor_next(cur, &doc);
    bson_iter_t it;
    if (*found && id != NULL && bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_copy(bson_iter_oid(&it), id);
    bson_error_t be;
    bool ok = !mongoc_cursor_error(cur, &be);
    if (!ok)
        fprintf(stderr, "bench_bare_mongo: find in %s: %s\n", coll, be.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    mongoc_collection_destroy(c);
    return ok;
}

/* The two round trips of an authorized GET /org/{name}. */
static bool authorized_read(struct loop *l)
{
    mongoc_client_t *client = mongoc_client_pool_pop(l->pool);
    bson_oid_t org;
    bool found = false;
    bson_t *by_key = BCON_NEW("name_key", BCON_UTF8(l->name_key));
    bool ok = find_one(client, l->db, "organizations", by_key, &org, &found) && found;
    bson_destroy(by_key);
    if (ok) {
        bson_t *member = BCON_NEW("admin_id", BCON_OID(&l->admin), "org_id", BCON_OID(&org));
        ok = find_one(client, l->db, "memberships", member, NULL, &found) && found;
        bson_destroy(member);
    }
    mongoc_client_pool_push(l->pool, client);
    return ok;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (now_us() < w->loop->until_us) {
        int64_t t0 = now_us();
        if (!authorized_read(w->loop))
            atomic_fetch_add(&w->loop->errors, 1);
        if (w->n == w->cap) {
            if (w->cap >= MAX_SAMPLES)
                break;
            long cap = w->cap ? w->cap * 2 : 4096;
            int64_t *more = realloc(w->samples, (size_t)cap * sizeof *more);
            if (more == NULL)
                break;
            w->samples = more;
            w->cap = cap;
        }
        w->samples[w->n++] = now_us() - t0;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-th percentile (0-100) of n sorted samples, nearest rank. */
static int64_t percentile(const int64_t *sorted, long n, double q)
{
    if (n == 0)
        return 0;
    long rank = (long)(q / 100.0 * (double)n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static int run_loop(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bench_bare_mongo loop URI DB NAME_KEY ADMIN_ID CONNECTIONS "
                        "MILLISECONDS\n");
        return 2;
    }
    struct loop l = {.db = argv[3], .name_key = argv[4]};
    if (!bson_oid_is_valid(argv[5], strlen(argv[5])) || strlen(argv[5]) != 24) {
        fprintf(stderr, "bench_bare_mongo: ADMIN_ID must be 24 hex digits\n");
        return 2;
    }
    bson_oid_init_from_string(&l.admin, argv[5]);
    long conns = number_arg(argv[6], 1, MAX_CONNECTIONS, "CONNECTIONS");
    long ms = number_arg(argv[7], 1, 3600000, "MILLISECONDS");
    l.pool = pool_new(argv[2]);
    atomic_init(&l.errors, 0);
    /* one round before the clock starts: it must work at all */
    if (!authorized_read(&l)) {
        fprintf(stderr, "bench_bare_mongo: the org %s or its membership is not there\n",
                l.name_key);
        mongoc_client_pool_destroy(l.pool);
        return 1;
    }
    struct worker *w = calloc((size_t)conns, sizeof *w);
    if (w == NULL)
        return 1;
    int64_t start = now_us();
    l.until_us = start + ms * 1000;
    for (long i = 0; i < conns; i++) {
        w[i].loop = &l;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "bench_bare_mongo: cannot start a thread\n");
            exit(1);
        }
    }
    long total = 0;
    for (long i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].n;
    }
    double secs = (double)(now_us() - start) / 1e6;
    int64_t *all = malloc((size_t)(total > 0 ? total : 1) * sizeof *all);
    if (all == NULL)
        return 1;
    long k = 0;
    double sum = 0;
    for (long i = 0; i < conns; i++) {
        for (long j = 0; j < w[i].n; j++) {
            all[k++] = w[i].samples[j];
            sum += (double)w[i].samples[j];
        }
        free(w[i].samples);
    }
    qsort(all, (size_t)total, sizeof *all, cmp_i64);
    long errors = atomic_load(&l.errors);
    printf("BENCH_RESULT {\"label\":\"bare_mongo\",\"requests\":%ld,\"duration_s\":%.3f,"
           "\"rps\":%.1f,\"errors\":{\"status\":%ld,\"connect\":0,\"read\":0,\"write\":0,"
           "\"timeout\":0},\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"p999\":%lld,"
           "\"max\":%lld,\"mean\":%.1f}}\n",
           total, secs, (double)total / secs, errors, (long long)percentile(all, total, 50),
           (long long)percentile(all, total, 90), (long long)percentile(all, total, 99),
           (long long)percentile(all, total, 99.9), (long long)(total ? all[total - 1] : 0),
           total ? sum / (double)total : 0.0);
    free(all);
    free(w);
    mongoc_client_pool_destroy(l.pool);
    return errors == 0 ? 0 : 1;
}

/* ---- seed ---- */

/* A copy of `from` with _id replaced, and name, name_key and collection
 * set for `name` when `org` (else org_id set to *org_id); the owner
 * (owner_id of an org, admin_id of a membership) becomes *owner, an account
 * of the clone's own: the measured account's list keeps its size, and what
 * grows is the database. */
static void clone_doc(const bson_t *from, bson_t *to, const bson_oid_t *id, bool org,
                      const char *name, const bson_oid_t *org_id, const bson_oid_t *owner)
{
    char key[128], coll[160];
    size_t i;
    for (i = 0; name[i] != '\0' && i + 1 < sizeof key; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[i] = '\0';
    snprintf(coll, sizeof coll, "org_%s", key);
    bson_iter_t it;
    bson_iter_init(&it, from);
    BSON_APPEND_OID(to, "_id", id);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            continue;
        if (org && strcmp(k, "name") == 0)
            BSON_APPEND_UTF8(to, k, name);
        else if (org && strcmp(k, "name_key") == 0)
            BSON_APPEND_UTF8(to, k, key);
        else if (org && strcmp(k, "collection") == 0)
            BSON_APPEND_UTF8(to, k, coll);
        else if (!org && strcmp(k, "org_id") == 0)
            BSON_APPEND_OID(to, k, org_id);
        else if (strcmp(k, org ? "owner_id" : "admin_id") == 0)
            BSON_APPEND_OID(to, k, owner);
        else
            bson_append_iter(to, k, -1, &it);
    }
}

static bool insert_batch(mongoc_collection_t *c, bson_t **docs, size_t n)
{
    bson_error_t be;
    bool ok = n == 0 || mongoc_collection_insert_many(c, (const bson_t **)docs, n, NULL, NULL, &be);
    if (!ok)
        fprintf(stderr, "bench_bare_mongo: insert into %s: %s\n", mongoc_collection_get_name(c),
                be.message);
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    return ok;
}

static int run_seed(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bench_bare_mongo seed URI DB TEMPLATE_KEY PREFIX COUNT\n");
        return 2;
    }
    const char *db = argv[3], *template_key = argv[4], *prefix = argv[5];
    long count = number_arg(argv[6], 0, 1000000, "COUNT");
    mongoc_client_pool_t *pool = pool_new(argv[2]);
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    mongoc_collection_t *orgs = mongoc_client_get_collection(client, db, "organizations");
    mongoc_collection_t *members = mongoc_client_get_collection(client, db, "memberships");

    bson_t *filter = BCON_NEW("name_key", BCON_UTF8(template_key));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(orgs, filter, NULL, NULL);
    const bson_t *doc;
    bson_t *org_template = mongoc_cursor_next(cur, &doc) ? bson_copy(doc) : NULL;
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_iter_t it;
    if (org_template == NULL || !bson_iter_init_find(&it, org_template, "_id") ||
        !BSON_ITER_HOLDS_OID(&it)) {
        fprintf(stderr, "bench_bare_mongo: no organization %s to clone\n", template_key);
        return 1;
    }
    bson_oid_t template_id;
    bson_oid_copy(bson_iter_oid(&it), &template_id);
    bson_t *member_templates[8];
    size_t nmembers = 0;
    filter = BCON_NEW("org_id", BCON_OID(&template_id));
    cur = mongoc_collection_find_with_opts(members, filter, NULL, NULL);
    while (nmembers < 8 && mongoc_cursor_next(cur, &doc))
        member_templates[nmembers++] = bson_copy(doc);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);

    bool ok = true;
    long inserted = 0;
    bson_t *org_docs[SEED_BATCH], *member_docs[SEED_BATCH * 8];
    while (ok && inserted < count) {
        size_t n = 0, m = 0;
        for (; n < SEED_BATCH && inserted + (long)n < count; n++) {
            char name[64];
            snprintf(name, sizeof name, "%s%ld", prefix, inserted + (long)n + 1);
            bson_oid_t org_id, owner;
            bson_oid_init(&org_id, NULL);
            bson_oid_init(&owner, NULL);
            org_docs[n] = bson_new();
            clone_doc(org_template, org_docs[n], &org_id, true, name, NULL, &owner);
            for (size_t j = 0; j < nmembers; j++) {
                bson_oid_t member_id;
                bson_oid_init(&member_id, NULL);
                member_docs[m] = bson_new();
                clone_doc(member_templates[j], member_docs[m++], &member_id, false, name, &org_id,
                          &owner);
            }
        }
        /* the org documents first: a membership never points at nothing */
        ok = insert_batch(orgs, org_docs, n);
        if (ok) {
            ok = insert_batch(members, member_docs, m);
        } else {
            for (size_t j = 0; j < m; j++)
                bson_destroy(member_docs[j]);
        }
        if (ok)
            inserted += (long)n;
    }
    printf("%ld\n", inserted);
    for (size_t j = 0; j < nmembers; j++)
        bson_destroy(member_templates[j]);
    bson_destroy(org_template);
    mongoc_collection_destroy(members);
    mongoc_collection_destroy(orgs);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    return ok ? 0 : 1;
}

/* ---- probe ---- */

/* The best of three times (ms) of one find with limit 1; -1 on an error. */
static double best_find_ms(mongoc_collection_t *c, const bson_t *filter)
{
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    double best = -1;
    for (int i = 0; i < 3; i++) {
        int64_t t0 = now_us();
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
        const bson_t *doc;
        bool found = mongoc_cursor_next(cur, &doc);
        bson_error_t be;
        bool failed = mongoc_cursor_error(cur, &be);
        mongoc_cursor_destroy(cur);
        double ms = (double)(now_us() - t0) / 1000.0;
        if (failed || !found) {
            fprintf(stderr, "bench_bare_mongo: probe: %s\n", failed ? be.message : "not found");
            best = -1;
            break;
        }
        if (best < 0 || ms < best)
            best = ms;
    }
    bson_destroy(opts);
    return best;
}

/* The org first or last by _id (ObjectIds grow with time): its _id and name_key. */
static bool org_at_end(mongoc_collection_t *c, int order, bson_oid_t *id, char *key, size_t cap)
{
    bson_t all = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(order), "}", "limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &all, opts, NULL);
    const bson_t *doc;
    bool ok = false;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "_id") &&
        BSON_ITER_HOLDS_OID(&it)) {
        bson_oid_copy(bson_iter_oid(&it), id);
        ok = bson_iter_init_find(&it, doc, "name_key") && BSON_ITER_HOLDS_UTF8(&it);
        if (ok)
            snprintf(key, cap, "%s", bson_iter_utf8(&it, NULL));
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    return ok;
}

static int run_probe(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_bare_mongo probe URI DB\n");
        return 2;
    }
    mongoc_client_pool_t *pool = pool_new(argv[2]);
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    mongoc_collection_t *orgs = mongoc_client_get_collection(client, argv[3], "organizations");
    bson_oid_t first_id, last_id;
    char first_key[256], last_key[256];
    bool ok = org_at_end(orgs, 1, &first_id, first_key, sizeof first_key) &&
              org_at_end(orgs, -1, &last_id, last_key, sizeof last_key);
    if (ok) {
        bson_t *by_first = BCON_NEW("name_key", BCON_UTF8(first_key));
        bson_t *by_last = BCON_NEW("name_key", BCON_UTF8(last_key));
        bson_t *by_last_id = BCON_NEW("_id", BCON_OID(&last_id));
        double a = best_find_ms(orgs, by_first), b = best_find_ms(orgs, by_last),
               c = best_find_ms(orgs, by_last_id);
        ok = a >= 0 && b >= 0 && c >= 0;
        if (ok)
            printf("BENCH_PROBE {\"name_key_oldest_ms\":%.2f,\"name_key_newest_ms\":%.2f,"
                   "\"id_newest_ms\":%.2f}\n",
                   a, b, c);
        bson_destroy(by_first);
        bson_destroy(by_last);
        bson_destroy(by_last_id);
    } else {
        fprintf(stderr, "bench_bare_mongo: probe: no organizations\n");
    }
    mongoc_collection_destroy(orgs);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    return ok ? 0 : 1;
}

/* ---- count, drop ---- */

static int run_count(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_bare_mongo count URI DB\n");
        return 2;
    }
    mongoc_client_pool_t *pool = pool_new(argv[2]);
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    mongoc_collection_t *orgs = mongoc_client_get_collection(client, argv[3], "organizations");
    bson_t all = BSON_INITIALIZER;
    bson_error_t be;
    int64_t n = mongoc_collection_count_documents(orgs, &all, NULL, NULL, NULL, &be);
    if (n < 0)
        fprintf(stderr, "bench_bare_mongo: count: %s\n", be.message);
    else
        printf("%lld\n", (long long)n);
    mongoc_collection_destroy(orgs);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    return n < 0 ? 1 : 0;
}

static int run_drop(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_bare_mongo drop URI DB\n");
        return 2;
    }
    mongoc_client_pool_t *pool = pool_new(argv[2]);
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    mongoc_database_t *db = mongoc_client_get_database(client, argv[3]);
    bson_error_t be;
    bool ok = mongoc_database_drop(db, &be);
    if (!ok)
        fprintf(stderr, "bench_bare_mongo: drop %s: %s\n", argv[3], be.message);
    mongoc_database_destroy(db);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    return ok ? 0 : 1;
}

/* The driver's warnings, less the one FerretDB causes at every pool's end
 * (it has no endSessions command); nothing below warnings. */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions") == NULL)
        fprintf(stderr, "bench_bare_mongo: driver: %s: %s\n", domain, message);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int (*run)(int, char **) = strcmp(mode, "loop") == 0    ? run_loop
                               : strcmp(mode, "seed") == 0  ? run_seed
                               : strcmp(mode, "probe") == 0 ? run_probe
                               : strcmp(mode, "count") == 0 ? run_count
                               : strcmp(mode, "drop") == 0  ? run_drop
                                                            : NULL;
    if (run == NULL) {
        fprintf(stderr, "usage: bench_bare_mongo loop|seed|probe|count|drop ...\n");
        return 2;
    }
    mongoc_init();
    mongoc_log_set_handler(driver_log, NULL);
    int code = run(argc, argv);
    mongoc_cleanup();
    return code;
}
