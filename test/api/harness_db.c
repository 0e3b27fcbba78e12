/* harness_db.c — the libmongoc helpers and private databases: see
 * harness_db.h. */
#include "harness_db.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

/* ---- the database ---- */

/* the driver warns about endSessions on FerretDB: expected, and noise */
static void quiet_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_WARNING && strstr(message, "endSessions") == NULL)
        fprintf(stderr, "mongoc %s: %s\n", domain, message);
}

static void mongo_init_once(void)
{
    mongoc_init();
    mongoc_log_set_handler(quiet_log, NULL);
}

mongoc_client_t *th_db_client(const struct th_orgd *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, mongo_init_once);
    mongoc_client_t *c = mongoc_client_new(o->uri);
    mongoc_client_set_error_api(c, 2);
    return c;
}

bool th_db_collection_exists(const struct th_orgd *o, const char *name)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(c, o->db);
    bson_error_t e;
    bool exists = mongoc_database_has_collection(db, name, &e);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    return exists;
}

int64_t th_db_count(const struct th_orgd *o, const char *collection, const bson_t *filter)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, collection);
    bson_t empty = BSON_INITIALIZER;
    bson_error_t e;
    int64_t n =
        mongoc_collection_count_documents(coll, filter ? filter : &empty, NULL, NULL, NULL, &e);
    if (n < 0)
        fprintf(stderr, "count %s: %s\n", collection, e.message);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return n;
}

int64_t th_db_count_str(const struct th_orgd *o, const char *collection, const char *field,
                        const char *value)
{
    bson_t *f = BCON_NEW(field, BCON_UTF8(value));
    int64_t n = th_db_count(o, collection, f);
    bson_destroy(f);
    return n;
}

int64_t th_db_count_oid(const struct th_orgd *o, const char *collection, const char *field,
                        const char *hex)
{
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, hex);
    bson_t *f = BCON_NEW(field, BCON_OID(&oid));
    int64_t n = th_db_count(o, collection, f);
    bson_destroy(f);
    return n;
}

int64_t th_db_memberships_of(const struct th_orgd *o, const char *account_id, const char *org_id)
{
    bson_oid_t a, g;
    bson_oid_init_from_string(&a, account_id);
    bson_oid_init_from_string(&g, org_id);
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&g));
    int64_t n = th_db_count(o, "memberships", f);
    bson_destroy(f);
    return n;
}

int64_t th_db_active_sessions_of(const struct th_orgd *o, const char *account_id)
{
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, account_id);
    bson_t *f = BCON_NEW("status", BCON_UTF8("active"), "$or", "[", "{", "admin_id", BCON_OID(&oid),
                         "}", "{", "admin_id", BCON_UTF8(account_id), "}", "]");
    int64_t n = th_db_count(o, "sessions", f);
    bson_destroy(f);
    return n;
}

void th_db_invitation_status(const struct th_orgd *o, const char *id, char *out, size_t cap)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "invitations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, f, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    out[0] = '\0';
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "status") &&
        BSON_ITER_HOLDS_UTF8(&it))
        snprintf(out, cap, "%s", bson_iter_utf8(&it, NULL));
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
}

void th_db_make_stuck(const struct th_orgd *o, const char *id, const char *state)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "organizations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, id);
    int64_t then = (int64_t)time(NULL) * 1000 - 60000;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *update = BCON_NEW("$set", "{", "state", BCON_UTF8(state), "op", "{", "started_at",
                              BCON_DATE_TIME(then), "touched_at", BCON_DATE_TIME(then),
                              "claimed_by", BCON_UTF8(""), "from_name", BCON_UTF8(""), "from_key",
                              BCON_UTF8(""), "from_collection", BCON_UTF8(""), "to_collection",
                              BCON_UTF8(""), "}", "}", "$inc", "{", "version", BCON_INT64(1), "}");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, &e);
    bson_iter_t it;
    bool modified = false;
    if (ok && bson_iter_init_find(&it, &reply, "modifiedCount"))
        modified = bson_iter_as_int64(&it) > 0;
    bson_destroy(&reply);
    bson_destroy(filter);
    bson_destroy(update);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!ok || !modified)
        fail_msg("could not make org %s stuck: %s", id, ok ? "no match" : e.message);
}

bool th_db_insert_docs(const struct th_orgd *o, const char *collection, int n, const char *tag)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, collection);
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        bson_t *doc = BCON_NEW("i", BCON_INT32(i), "tag", BCON_UTF8(tag));
        bson_error_t e;
        ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &e);
        if (!ok)
            fprintf(stderr, "insert into %s: %s\n", collection, e.message);
        bson_destroy(doc);
    }
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return ok;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *th_db_snapshot(const struct th_orgd *o)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(c, o->db);
    bson_error_t e;
    char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &e);
    size_t n = 0;
    while (names && names[n])
        n++;
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    for (size_t i = 0; i < n; i++) {
        /* the recovery pass's bookkeeping (how far it has looked for
         * drafts), written on its own schedule by no request: a snapshot
         * taken around a request must not see the first pass land */
        if (strcmp(names[i], "marks") == 0)
            continue;
        mongoc_collection_t *coll = mongoc_database_get_collection(db, names[i]);
        bson_t empty = BSON_INITIALIZER;
        int64_t count = mongoc_collection_count_documents(coll, &empty, NULL, NULL, NULL, &e);
        fprintf(f, "%s: %lld\n", names[i], (long long)count);
        if (strcmp(names[i], "organizations") == 0 || strcmp(names[i], "admins") == 0 ||
            strcmp(names[i], "memberships") == 0) {
            bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
            mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &empty, opts, NULL);
            const bson_t *doc;
            while (mongoc_cursor_next(cur, &doc)) {
                char *text = bson_as_canonical_extended_json(doc, NULL);
                fprintf(f, "  %s\n", text);
                bson_free(text);
            }
            mongoc_cursor_destroy(cur);
            bson_destroy(opts);
        }
        mongoc_collection_destroy(coll);
    }
    fclose(f);
    bson_strfreev(names);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    return out;
}

/* ---- no secret in the database ---- */

static int b64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

/* The bytes of a base64url text (no padding) into out; false if s is not
 * one or does not fit. */
static bool b64url_decode(const char *s, unsigned char *out, size_t cap, size_t *n)
{
    uint32_t acc = 0;
    int bits = 0;
    *n = 0;
    for (; *s; s++) {
        int v = b64url_value(*s);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (*n == cap)
                return false;
            out[(*n)++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    return true;
}

/* Standard base64 of the whole 3-byte groups of data only: the characters
 * are then the same wherever the bytes sit in a longer binary. */
static void b64_std_groups(const unsigned char *data, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        for (int k = 3; k >= 0; k--)
            out[o++] = abc[(v >> (6 * k)) & 63];
    }
    out[o] = '\0';
}

struct secret_forms {
    char (*forms)[1100];
    size_t n, cap;
};

static void forms_add(struct secret_forms *f, const char *text)
{
    if (strlen(text) < 8 || strlen(text) >= sizeof f->forms[0])
        return;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 256;
        f->forms = realloc(f->forms, f->cap * sizeof f->forms[0]);
        if (f->forms == NULL)
            abort();
    }
    snprintf(f->forms[f->n++], sizeof f->forms[0], "%s", text);
}

/* s itself, and if it is base64url, its bytes as hex and standard base64 */
static void forms_of_text(struct secret_forms *f, const char *s)
{
    forms_add(f, s);
    unsigned char bytes[512];
    size_t n;
    if (strlen(s) < 16 || !b64url_decode(s, bytes, sizeof bytes, &n))
        return;
    char hex[1025], b64[700];
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    forms_add(f, hex);
    b64_std_groups(bytes, n, b64);
    forms_add(f, b64);
}

static void collect_forms(const char *secret, void *ud)
{
    struct secret_forms *f = ud;
    forms_of_text(f, secret);
    const char *dot = strrchr(secret, '.');
    if (dot != NULL) /* a JWT: its signature is what only orgd can make */
        forms_of_text(f, dot + 1);
}

void th_db_expect_no_secret(const struct th_orgd *o)
{
    struct secret_forms f = {0};
    th_secrets_each(collect_forms, &f);
    mongoc_client_t *c = th_db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(c, o->db);
    bson_error_t e;
    char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &e);
    if (names == NULL)
        fail_msg("listing the collections of %s: %s", o->db, e.message);
    char found[256] = "";
    size_t docs = 0;
    for (size_t i = 0; names[i] && !found[0]; i++) {
        mongoc_collection_t *coll = mongoc_database_get_collection(db, names[i]);
        bson_t empty = BSON_INITIALIZER;
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &empty, NULL, NULL);
        const bson_t *doc;
        while (!found[0] && mongoc_cursor_next(cur, &doc)) {
            docs++;
            char *text = bson_as_relaxed_extended_json(doc, NULL);
            for (size_t k = 0; k < f.n && !found[0]; k++) {
                if (strstr(text, f.forms[k]) != NULL)
                    snprintf(found, sizeof found, "%s holds %.24s... in %.160s", names[i],
                             f.forms[k], text);
            }
            bson_free(text);
        }
        if (mongoc_cursor_error(cur, &e) && !found[0])
            snprintf(found, sizeof found, "reading %s: %s", names[i], e.message);
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(coll);
    }
    bson_strfreev(names);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    size_t nforms = f.n;
    free(f.forms);
    if (found[0])
        fail_msg("a secret in the database: %s", found);
    /* a scan of nothing proves nothing */
    if (nforms == 0 || docs == 0)
        fail_msg("nothing to check: %zu secrets, %zu documents", nforms, docs);
}

/* ---- a private database ---- */

static bool db_script(struct th_private_db *d, const char *verb, char *out, size_t cap)
{
    char cmd[2048];
    /* on a Unix socket of its own: a database stopped and started again
     * keeps its address, which no parallel test can take meanwhile */
    snprintf(cmd, sizeof cmd,
             "env -u MONGO_URI ORGD_DB_SOCKET=1 ORGD_DB_DIR='%s' '%s/scripts/db' %s", d->dir,
             th_source_dir(), verb);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return false;
    char line[512] = "";
    if (fgets(line, sizeof line, p) != NULL && out != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(out, cap, "%s", line);
    }
    return pclose(p) == 0;
}

bool th_private_db_start(struct th_private_db *d)
{
    if (d->dir[0] == '\0') {
        const char *base = getenv("ORGD_TEST_LOG_DIR");
        /* its socket's path must fit a sockaddr_un (108 bytes), and be in
         * lower case: libmongoc lower-cases the host of a URI, a socket's
         * path among them */
        bool usable = base != NULL && strlen(base) <= 80;
        for (const char *p = base; usable && *p; p++)
            usable = !(*p >= 'A' && *p <= 'Z');
        char name[32];
        for (int tries = 0;; tries++) {
            th_unique("privdb", name, sizeof name);
            th_lower(name);
            snprintf(d->dir, sizeof d->dir, "%s/%s", usable ? base : "/tmp", name);
            if (mkdir(d->dir, 0700) == 0)
                break;
            if (tries == 10)
                return false;
        }
    }
    return db_script(d, "start", d->uri, sizeof d->uri);
}

bool th_orgd_start_on(struct th_orgd *o, struct th_private_db *d, const char *const *extra_env)
{
    if (!th_private_db_start(d))
        return false;
    snprintf(o->uri, sizeof o->uri, "%s", d->uri);
    return th_orgd_start(o, extra_env);
}

bool th_private_db_stop(struct th_private_db *d)
{
    return db_script(d, "stop", NULL, 0);
}

bool th_private_db_kill(struct th_private_db *d)
{
    char path[600];
    snprintf(path, sizeof path, "%s/pid", d->dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    if (kill((pid_t)pid, SIGKILL) != 0)
        return false;
    for (int i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++)
        tu_sleep_ms(10);
    return true;
}

void th_private_db_destroy(struct th_private_db *d)
{
    if (d->dir[0] == '\0')
        return;
    th_private_db_stop(d);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", d->dir);
    d->dir[0] = '\0';
}
