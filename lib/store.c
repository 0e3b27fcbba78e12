#include "store.h"

#include <mongoc/mongoc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

struct store {
    mongoc_client_pool_t *pool;
    char db[64];
    atomic_bool indexed;  /* the unique indexes exist: names, e-mails, locks */
    int64_t lock_ttl_ms;  /* an org lock younger than this may still be in use */
};

static const char *const C_ORGS = "organizations";
static const char *const C_ADMINS = "admins";
static const char *const C_MEMBERS = "memberships";
static const char *const C_INVITATIONS = "invitations";
static const char *const C_TOKENS = "tokens";
static const char *const C_LOCKS = "locks";

/* ---- errors ---- */

static bool is_unavailable_code(uint32_t code)
{
    switch (code) {
    case 6:     /* HostUnreachable */
    case 7:     /* HostNotFound */
    case 89:    /* NetworkTimeout */
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 262:   /* ExceededTimeLimit */
    case 9001:  /* SocketException */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
    case 13436: /* NotPrimaryOrSecondary */
        return true;
    default:
        return false;
    }
}

/* What a driver error means to us. */
static enum err_kind classify(const bson_error_t *be)
{
    enum err_kind kind = ERR_INTERNAL;
    if (be->domain == MONGOC_ERROR_SERVER_SELECTION || be->domain == MONGOC_ERROR_STREAM ||
        be->domain == MONGOC_ERROR_PROTOCOL || be->domain == MONGOC_ERROR_CLIENT) {
        kind = ERR_UNAVAILABLE;
    } else if (be->code == 11000 || be->code == 11001 || be->code == 48) {
        kind = ERR_CONFLICT; /* duplicate key; NamespaceExists */
    } else if (be->code == 1 && strstr(be->message, "UNIQUE constraint failed") != NULL) {
        /* FerretDB (SQLite) reports a unique-index clash on update this way */
        kind = ERR_CONFLICT;
    } else if (be->code == 26) {
        kind = ERR_NOT_FOUND; /* NamespaceNotFound */
    } else if (is_unavailable_code(be->code) || strstr(be->message, "database is locked") != NULL) {
        kind = ERR_UNAVAILABLE;
    }
    return kind;
}

/* The one translation from a driver error to ours. `what` names the
 * operation for the log. A missing namespace is no database error (a drop
 * of what is gone succeeds), so the metric leaves it out. */
static bool fail(struct error *e, const bson_error_t *be, const char *what)
{
    enum err_kind kind = classify(be);
    if (kind != ERR_NOT_FOUND)
        metrics_mongo_error(kind);
    if (kind == ERR_UNAVAILABLE || kind == ERR_INTERNAL) {
        log_emit(kind == ERR_INTERNAL ? LOG_ERROR : LOG_WARN, "mongodb error",
                 json_pack("{s:s, s:i, s:i, s:s, s:s}", "op", what, "domain", (int)be->domain,
                           "code", (int)be->code, "error", be->message, "kind",
                           error_kind_name(kind)));
    }
    switch (kind) {
    case ERR_UNAVAILABLE:
        e->retry_after = 2;
        return error_set(e, kind, "the database is unavailable; retry shortly");
    case ERR_CONFLICT:
        return error_set(e, kind, "already exists");
    case ERR_NOT_FOUND:
        return error_set(e, kind, "not found");
    default:
        return error_set(e, kind, "internal database error");
    }
}

/* ---- lifecycle ---- */

static void driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                       void *ud)
{
    (void)ud;
    int ours = level <= MONGOC_LOG_LEVEL_WARNING ? LOG_WARN
               : level <= MONGOC_LOG_LEVEL_INFO  ? LOG_DEBUG
                                                 : -1;
    /* the driver warns that it cannot end sessions on servers without them
     * (FerretDB); that is expected and says nothing to an operator */
    if (ours < 0 || strstr(message, "endSessions") != NULL)
        return;
    log_emit(ours, "mongodb driver", json_pack("{s:s, s:s}", "domain", domain, "detail", message));
}

void store_global_init(void)
{
    mongoc_init();
    mongoc_log_set_handler(driver_log, NULL);
}

void store_global_cleanup(void)
{
    mongoc_cleanup();
}

store_t *store_new(const char *uri_text, const char *db, int timeout_ms, struct error *e)
{
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &be);
    if (uri == NULL) {
        error_set(e, ERR_INVALID, "MONGO_URI: %s", be.message);
        return NULL;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms * 5);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_appname(uri, "orgd");

    store_t *s = bson_malloc0(sizeof *s);
    snprintf(s->db, sizeof s->db, "%s", db);
    /* a write may be in flight for a socket timeout (FerretDB's SQLite busy
     * timeout is 10 s): a lock is stale only well after that */
    int32_t socket_ms = mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 0);
    s->lock_ttl_ms = 2 * (int64_t)(socket_ms > 10000 ? socket_ms : 10000) + 5000;
    atomic_init(&s->indexed, false);
    s->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (s->pool == NULL) {
        bson_free(s);
        error_set(e, ERR_INVALID, "MONGO_URI: cannot create a client pool");
        return NULL;
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    return s;
}

void store_destroy(store_t *s)
{
    if (s == NULL)
        return;
    mongoc_client_pool_destroy(s->pool);
    bson_free(s);
}

void store_new_id(char out[ID_BUF])
{
    bson_oid_t oid;
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, out);
}

/* A client and one collection of the master database, for one call. */
struct conn {
    store_t *s;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
};

static struct conn conn_open(store_t *s, const char *collection)
{
    struct conn c = {s, mongoc_client_pool_pop(s->pool), NULL};
    if (collection != NULL)
        c.coll = mongoc_client_get_collection(c.client, s->db, collection);
    return c;
}

static void conn_close(struct conn *c)
{
    mongoc_collection_destroy(c->coll);
    mongoc_client_pool_push(c->s->pool, c->client);
}

static bool oid_from(const char *hex, bson_oid_t *oid)
{
    if (hex == NULL || strlen(hex) != 24 || !bson_oid_is_valid(hex, 24))
        return false;
    bson_oid_init_from_string(oid, hex);
    return true;
}

static bool run_command(store_t *s, const char *db, const bson_t *cmd, const char *what,
                        struct error *e)
{
    struct conn c = conn_open(s, NULL);
    bson_error_t be;
    bson_t reply;
    bool ok = mongoc_client_command_simple(c.client, db, cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    conn_close(&c);
    return ok || fail(e, &be, what);
}

bool store_ping(store_t *s, struct error *e)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool ok = run_command(s, "admin", cmd, "ping", e);
    bson_destroy(cmd);
    return ok;
}

static bool create_index(store_t *s, const char *coll, const char *name, bool unique,
                         const char *k1, const char *k2, struct error *e)
{
    bson_t cmd, indexes, index, key;
    bson_init(&cmd);
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, k1, 1);
    if (k2 != NULL)
        BSON_APPEND_INT32(&key, k2, 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", name);
    if (unique)
        BSON_APPEND_BOOL(&index, "unique", true);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(&cmd, &indexes);
    bool ok = run_command(s, s->db, &cmd, "createIndexes", e);
    bson_destroy(&cmd);
    return ok;
}

bool store_ensure_indexes(store_t *s, struct error *e)
{
    bool ok = create_index(s, C_LOCKS, "key_unique", true, "key", NULL, e) &&
           create_index(s, C_ORGS, "name_key_unique", true, "name_key", NULL, e) &&
           create_index(s, C_ORGS, "state_touched", false, "state", "op.touched_at", e) &&
           create_index(s, C_ADMINS, "email_unique", true, "email", NULL, e) &&
           create_index(s, C_MEMBERS, "admin_org_unique", true, "admin_id", "org_id", e) &&
           create_index(s, C_MEMBERS, "org", false, "org_id", NULL, e) &&
           create_index(s, C_INVITATIONS, "org", false, "org_id", NULL, e) &&
           create_index(s, C_TOKENS, "org", false, "org_id", NULL, e);
    if (ok)
        atomic_store(&s->indexed, true);
    return ok;
}

/* Writes whose correctness rests on a unique index (names, e-mails,
 * memberships, org locks) wait for the indexes: until they exist, a
 * duplicate would go through. Creating them is idempotent and cheap. */
static bool indexes_ready(store_t *s, struct error *e)
{
    return atomic_load(&s->indexed) || store_ensure_indexes(s, e);
}

/* ---- documents <-> records ---- */

static void copy_utf8(bson_iter_t *it, char *out, size_t cap)
{
    uint32_t len = 0;
    const char *v = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &len) : "";
    if (len >= cap)
        len = (uint32_t)cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static void copy_oid(bson_iter_t *it, char out[ID_BUF])
{
    if (BSON_ITER_HOLDS_OID(it))
        bson_oid_to_string(bson_iter_oid(it), out);
    else
        out[0] = '\0';
}

static int64_t get_time(bson_iter_t *it)
{
    return BSON_ITER_HOLDS_DATE_TIME(it) ? bson_iter_date_time(it) : 0;
}

static void append_oid(bson_t *b, const char *key, const char *hex)
{
    bson_oid_t oid;
    if (oid_from(hex, &oid))
        BSON_APPEND_OID(b, key, &oid);
}

static void org_op_append(bson_t *b, const struct org_op *op)
{
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(b, "op", &d);
    BSON_APPEND_DATE_TIME(&d, "started_at", op->started_at);
    BSON_APPEND_DATE_TIME(&d, "touched_at", op->touched_at);
    BSON_APPEND_UTF8(&d, "claimed_by", op->claimed_by);
    BSON_APPEND_UTF8(&d, "from_name", op->from_name);
    BSON_APPEND_UTF8(&d, "from_key", op->from_key);
    BSON_APPEND_UTF8(&d, "from_collection", op->from_collection);
    BSON_APPEND_UTF8(&d, "to_collection", op->to_collection);
    bson_append_document_end(b, &d);
}

static void org_from_doc(const bson_t *doc, struct org *o)
{
    memset(o, 0, sizeof *o);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            copy_oid(&it, o->id);
        } else if (strcmp(k, "name") == 0) {
            copy_utf8(&it, o->name, sizeof o->name);
        } else if (strcmp(k, "name_key") == 0) {
            copy_utf8(&it, o->name_key, sizeof o->name_key);
        } else if (strcmp(k, "collection") == 0) {
            copy_utf8(&it, o->collection, sizeof o->collection);
        } else if (strcmp(k, "owner_id") == 0) {
            copy_oid(&it, o->owner_id);
        } else if (strcmp(k, "state") == 0) {
            char st[16];
            copy_utf8(&it, st, sizeof st);
            if (!org_state_parse(st, &o->state))
                o->state = ORG_CREATING; /* unknown: never shown as active */
        } else if (strcmp(k, "created_at") == 0) {
            o->created_at = get_time(&it);
        } else if (strcmp(k, "updated_at") == 0) {
            o->updated_at = get_time(&it);
        } else if (strcmp(k, "version") == 0) {
            o->version = bson_iter_as_int64(&it);
        } else if (strcmp(k, "op") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t op;
            o->has_op = true;
            bson_iter_recurse(&it, &op);
            while (bson_iter_next(&op)) {
                const char *ok = bson_iter_key(&op);
                if (strcmp(ok, "started_at") == 0)
                    o->op.started_at = get_time(&op);
                else if (strcmp(ok, "touched_at") == 0)
                    o->op.touched_at = get_time(&op);
                else if (strcmp(ok, "claimed_by") == 0)
                    copy_utf8(&op, o->op.claimed_by, sizeof o->op.claimed_by);
                else if (strcmp(ok, "from_name") == 0)
                    copy_utf8(&op, o->op.from_name, sizeof o->op.from_name);
                else if (strcmp(ok, "from_key") == 0)
                    copy_utf8(&op, o->op.from_key, sizeof o->op.from_key);
                else if (strcmp(ok, "from_collection") == 0)
                    copy_utf8(&op, o->op.from_collection, sizeof o->op.from_collection);
                else if (strcmp(ok, "to_collection") == 0)
                    copy_utf8(&op, o->op.to_collection, sizeof o->op.to_collection);
            }
        }
    }
}

static void admin_from_doc(const bson_t *doc, struct admin *a)
{
    memset(a, 0, sizeof *a);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            copy_oid(&it, a->id);
        else if (strcmp(k, "email") == 0)
            copy_utf8(&it, a->email, sizeof a->email);
        else if (strcmp(k, "password_hash") == 0)
            copy_utf8(&it, a->password_hash, sizeof a->password_hash);
        else if (strcmp(k, "created_at") == 0)
            a->created_at = get_time(&it);
    }
}

static void membership_from_doc(const bson_t *doc, struct membership *m)
{
    memset(m, 0, sizeof *m);
    m->role = ROLE_MEMBER;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "admin_id") == 0) {
            copy_oid(&it, m->admin_id);
        } else if (strcmp(k, "org_id") == 0) {
            copy_oid(&it, m->org_id);
        } else if (strcmp(k, "role") == 0) {
            char r[16];
            copy_utf8(&it, r, sizeof r);
            if (!role_parse(r, &m->role))
                m->role = ROLE_MEMBER; /* unknown: least privilege */
        } else if (strcmp(k, "member_at") == 0) {
            m->member_at = get_time(&it);
        }
    }
}

/* ---- generic reads ---- */

typedef void (*from_doc_fn)(const bson_t *doc, void *out);

/* Finds one document matching filter into out. ERR_NOT_FOUND if none. */
static bool find_one(store_t *s, const char *coll, const bson_t *filter, from_doc_fn conv,
                     void *out, const char *what, struct error *e)
{
    struct conn c = conn_open(s, coll);
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t be;
    bool found = mongoc_cursor_next(cur, &doc);
    if (found)
        conv(doc, out);
    bool ok = found;
    if (!found) {
        if (mongoc_cursor_error(cur, &be))
            fail(e, &be, what);
        else
            error_set(e, ERR_NOT_FOUND, "not found");
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    conn_close(&c);
    return ok;
}

/* Calls fn(doc, ud) for each document matching filter (sorted by `sort`
 * when given, at most `limit` when > 0). fn returns false to stop. */
static bool find_each(store_t *s, const char *coll, const bson_t *filter, const bson_t *opts,
                      bool (*fn)(const bson_t *doc, void *ud), void *ud, const char *what,
                      struct error *e)
{
    struct conn c = conn_open(s, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c.coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t be;
    bool ok = true;
    while (mongoc_cursor_next(cur, &doc)) {
        if (!fn(doc, ud))
            break;
    }
    if (mongoc_cursor_error(cur, &be))
        ok = fail(e, &be, what);
    mongoc_cursor_destroy(cur);
    conn_close(&c);
    return ok;
}

/* One insert; the driver's error, untranslated, in *be. */
static bool insert_raw(store_t *s, const char *coll, const bson_t *doc, bson_error_t *be)
{
    struct conn c = conn_open(s, coll);
    bson_t reply;
    bool ok = mongoc_collection_insert_one(c.coll, doc, NULL, &reply, be);
    bson_destroy(&reply);
    conn_close(&c);
    return ok;
}

static bool insert(store_t *s, const char *coll, const bson_t *doc, const char *what,
                   struct error *e)
{
    bson_error_t be;
    return insert_raw(s, coll, doc, &be) || fail(e, &be, what);
}

/* update_one or delete_one/many; *matched gets the matched/deleted count. */
enum write_kind { W_UPDATE_ONE, W_DELETE_ONE, W_DELETE_MANY };

static bool write_op(store_t *s, const char *coll, enum write_kind kind, const bson_t *filter,
                     const bson_t *update, int64_t *matched, const char *what, struct error *e)
{
    struct conn c = conn_open(s, coll);
    bson_error_t be;
    bson_t reply;
    bool ok;
    if (kind == W_UPDATE_ONE)
        ok = mongoc_collection_update_one(c.coll, filter, update, NULL, &reply, &be);
    else if (kind == W_DELETE_ONE)
        ok = mongoc_collection_delete_one(c.coll, filter, NULL, &reply, &be);
    else
        ok = mongoc_collection_delete_many(c.coll, filter, NULL, &reply, &be);
    if (ok && matched != NULL) {
        bson_iter_t it;
        const char *field = kind == W_UPDATE_ONE ? "matchedCount" : "deletedCount";
        *matched = bson_iter_init_find(&it, &reply, field) ? bson_iter_as_int64(&it) : 0;
    }
    bson_destroy(&reply);
    conn_close(&c);
    return ok || fail(e, &be, what);
}

static bool count(store_t *s, const char *coll, const bson_t *filter, int64_t *n, const char *what,
                  struct error *e)
{
    struct conn c = conn_open(s, coll);
    bson_error_t be;
    *n = mongoc_collection_count_documents(c.coll, filter, NULL, NULL, NULL, &be);
    conn_close(&c);
    return *n >= 0 || fail(e, &be, what);
}

/* ---- organizations ---- */

static void org_fields_append(bson_t *b, const struct org *o)
{
    BSON_APPEND_UTF8(b, "name", o->name);
    BSON_APPEND_UTF8(b, "name_key", o->name_key);
    BSON_APPEND_UTF8(b, "collection", o->collection);
    BSON_APPEND_UTF8(b, "state", org_state_name(o->state));
    BSON_APPEND_DATE_TIME(b, "updated_at", o->updated_at);
}

bool store_org_insert(store_t *s, const struct org *o, struct error *e)
{
    if (!indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    append_oid(&doc, "_id", o->id);
    org_fields_append(&doc, o);
    append_oid(&doc, "owner_id", o->owner_id);
    BSON_APPEND_DATE_TIME(&doc, "created_at", o->created_at);
    BSON_APPEND_INT64(&doc, "version", o->version);
    if (o->has_op)
        org_op_append(&doc, &o->op);
    bool ok = insert(s, C_ORGS, &doc, "org insert", e);
    bson_destroy(&doc);
    return ok;
}

static void org_conv(const bson_t *doc, void *out)
{
    org_from_doc(doc, out);
}

bool store_org_by_key(store_t *s, const char *name_key, struct org *out, struct error *e)
{
    bson_t *f = BCON_NEW("name_key", BCON_UTF8(name_key));
    bool ok = find_one(s, C_ORGS, f, org_conv, out, "org by name", e);
    bson_destroy(f);
    return ok;
}

bool store_org_by_id(store_t *s, const char *id, struct org *out, struct error *e)
{
    bson_oid_t oid;
    if (!oid_from(id, &oid))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    bool ok = find_one(s, C_ORGS, f, org_conv, out, "org by id", e);
    bson_destroy(f);
    return ok;
}

/* ---- the compare-and-swap on org documents ----
 *
 * FerretDB applies an update or delete as a read followed by a write by
 * _id, so a filter on `version` alone is no compare-and-swap there: two
 * writers that read the same version both write. An insert into a unique
 * index is atomic on FerretDB and MongoDB alike, so a writer first inserts
 * the lock (org id, version), then writes filtered on that version, then
 * removes its lock. A writer that read an older version gets its lock but
 * matches nothing: the version filter stops it. A lock left behind by a
 * process that died between the two writes freezes only that org, until
 * store_org_locks_stale removes it (recovery does, once it is older than
 * both the recovery age and twice the socket timeout, so that no write
 * can still be in flight under it); `orgd check` reports such locks. */

static bool lock_take(store_t *s, const char *org_id, int64_t version, bson_oid_t *lock,
                      bool *taken, struct error *e)
{
    *taken = false;
    if (!indexes_ready(s, e))
        return false;
    char key[64];
    snprintf(key, sizeof key, "%s:%lld", org_id, (long long)version);
    bson_oid_init(lock, NULL);
    bson_t *doc = BCON_NEW("_id", BCON_OID(lock), "key", BCON_UTF8(key), "at",
                           BCON_DATE_TIME(clock_now_ms()));
    bson_error_t be;
    bool ok = insert_raw(s, C_LOCKS, doc, &be);
    bson_destroy(doc);
    if (ok) {
        *taken = true;
        return true;
    }
    if (classify(&be) == ERR_CONFLICT)
        return true; /* another writer has this version: contention, not an error */
    return fail(e, &be, "org lock");
}

static void lock_release(store_t *s, const bson_oid_t *lock)
{
    bson_t *filter = BCON_NEW("_id", BCON_OID(lock));
    struct error e;
    error_clear(&e);
    if (!write_op(s, C_LOCKS, W_DELETE_ONE, filter, NULL, NULL, "org unlock", &e))
        log_text(LOG_WARN, "org lock left for recovery to expire", "%s", e.message);
    bson_destroy(filter);
}

bool store_org_locks_stale(store_t *s, int64_t before_ms, bool remove, int64_t *n,
                           struct error *e)
{
    int64_t ttl_cutoff = clock_now_ms() - s->lock_ttl_ms;
    bson_t *filter = BCON_NEW("at", "{", "$lt",
                              BCON_DATE_TIME(before_ms < ttl_cutoff ? before_ms : ttl_cutoff), "}");
    *n = 0;
    bool ok = remove ? write_op(s, C_LOCKS, W_DELETE_MANY, filter, NULL, n, "org locks expire", e)
                     : count(s, C_LOCKS, filter, n, "org locks count", e);
    bson_destroy(filter);
    return ok;
}

bool store_org_swap(store_t *s, const struct org *cur, struct org *next, bool *applied,
                    struct error *e)
{
    *applied = false;
    bson_oid_t oid;
    if (!oid_from(cur->id, &oid))
        return error_set(e, ERR_NOT_FOUND, "not found");
    next->version = cur->version + 1;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "version", BCON_INT64(cur->version));
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    org_fields_append(&set, next);
    BSON_APPEND_INT64(&set, "version", next->version);
    if (next->has_op)
        org_op_append(&set, &next->op);
    bson_append_document_end(&update, &set);
    if (!next->has_op) {
        bson_t unset;
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
        BSON_APPEND_UTF8(&unset, "op", "");
        bson_append_document_end(&update, &unset);
    }
    int64_t matched = 0;
    bson_oid_t lock;
    bool taken = false;
    bool ok = lock_take(s, cur->id, cur->version, &lock, &taken, e);
    if (ok && taken) {
        ok = write_op(s, C_ORGS, W_UPDATE_ONE, filter, &update, &matched, "org swap", e);
        if (ok || e->kind == ERR_CONFLICT) /* else the write may still land: let the lock expire */
            lock_release(s, &lock);
    }
    *applied = ok && matched == 1;
    bson_destroy(filter);
    bson_destroy(&update);
    return ok;
}

bool store_org_delete(store_t *s, const char *id, int64_t version, bool *applied,
                      struct error *e)
{
    *applied = false;
    bson_oid_t oid;
    if (!oid_from(id, &oid))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "version", BCON_INT64(version));
    int64_t n = 0;
    bson_oid_t lock;
    bool taken = false;
    bool ok = lock_take(s, id, version, &lock, &taken, e);
    if (ok && taken) {
        ok = write_op(s, C_ORGS, W_DELETE_ONE, filter, NULL, &n, "org delete", e);
        if (ok) /* else the delete may still land: let the lock expire */
            lock_release(s, &lock);
    }
    *applied = ok && n == 1;
    bson_destroy(filter);
    return ok;
}

struct each_org_ctx {
    bool (*fn)(const struct org *o, void *ud);
    void *ud;
};

static bool each_org_doc(const bson_t *doc, void *ud)
{
    struct each_org_ctx *ctx = ud;
    struct org o;
    org_from_doc(doc, &o);
    return ctx->fn(&o, ctx->ud);
}

bool store_org_each(store_t *s, bool (*fn)(const struct org *o, void *ud), void *ud,
                    struct error *e)
{
    struct each_org_ctx ctx = {fn, ud};
    bson_t filter = BSON_INITIALIZER;
    bool ok = find_each(s, C_ORGS, &filter, NULL, each_org_doc, &ctx, "org list", e);
    bson_destroy(&filter);
    return ok;
}

struct collect_orgs {
    struct org *out;
    size_t max, n;
};

static bool collect_org(const bson_t *doc, void *ud)
{
    struct collect_orgs *c = ud;
    if (c->n == c->max)
        return false;
    org_from_doc(doc, &c->out[c->n++]);
    return true;
}

bool store_org_stuck(store_t *s, int64_t before_ms, struct org *out, size_t max, size_t *n,
                     struct error *e)
{
    struct collect_orgs c = {out, max, 0};
    bson_t *filter = BCON_NEW("state", "{", "$ne", BCON_UTF8("active"), "}", "op.touched_at", "{",
                              "$lt", BCON_DATE_TIME(before_ms), "}");
    bson_t *opts = BCON_NEW("limit", BCON_INT64((int64_t)max));
    bool ok = find_each(s, C_ORGS, filter, opts, collect_org, &c, "org stuck", e);
    bson_destroy(filter);
    bson_destroy(opts);
    *n = c.n;
    return ok;
}

bool store_org_count_by_state(store_t *s, long counts[ORG_STATE_COUNT], struct error *e)
{
    for (int i = 0; i < ORG_STATE_COUNT; i++) {
        bson_t *f = BCON_NEW("state", BCON_UTF8(org_state_name((enum org_state)i)));
        int64_t n = 0;
        bool ok = count(s, C_ORGS, f, &n, "org count", e);
        bson_destroy(f);
        if (!ok)
            return false;
        counts[i] = (long)n;
    }
    return true;
}

/* ---- admins ---- */

bool store_admin_insert(store_t *s, const struct admin *a, struct error *e)
{
    if (!indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    append_oid(&doc, "_id", a->id);
    BSON_APPEND_UTF8(&doc, "email", a->email);
    BSON_APPEND_UTF8(&doc, "password_hash", a->password_hash);
    BSON_APPEND_DATE_TIME(&doc, "created_at", a->created_at);
    bool ok = insert(s, C_ADMINS, &doc, "admin insert", e);
    bson_destroy(&doc);
    return ok;
}

static void admin_conv(const bson_t *doc, void *out)
{
    admin_from_doc(doc, out);
}

bool store_admin_by_email(store_t *s, const char *email_key, struct admin *out, struct error *e)
{
    bson_t *f = BCON_NEW("email", BCON_UTF8(email_key));
    bool ok = find_one(s, C_ADMINS, f, admin_conv, out, "admin by email", e);
    bson_destroy(f);
    return ok;
}

bool store_admin_by_id(store_t *s, const char *id, struct admin *out, struct error *e)
{
    bson_oid_t oid;
    if (!oid_from(id, &oid))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    bool ok = find_one(s, C_ADMINS, f, admin_conv, out, "admin by id", e);
    bson_destroy(f);
    return ok;
}

bool store_admin_update(store_t *s, const char *id, const char *email_key,
                        const char *password_hash, struct error *e)
{
    bson_oid_t oid;
    if (!oid_from(id, &oid))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (email_key != NULL)
        BSON_APPEND_UTF8(&set, "email", email_key);
    if (password_hash != NULL)
        BSON_APPEND_UTF8(&set, "password_hash", password_hash);
    bson_append_document_end(&update, &set);
    int64_t matched = 0;
    bool ok = write_op(s, C_ADMINS, W_UPDATE_ONE, filter, &update, &matched, "admin update", e);
    bson_destroy(filter);
    bson_destroy(&update);
    if (ok && matched == 0)
        return error_set(e, ERR_NOT_FOUND, "not found");
    return ok;
}

bool store_admin_delete_if_unattached(store_t *s, const char *id, const char *except_org_id,
                                      bool *deleted, struct error *e)
{
    *deleted = false;
    bson_oid_t oid, except;
    if (!oid_from(id, &oid))
        return true;
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&oid));
    if (oid_from(except_org_id, &except)) {
        bson_t ne;
        BSON_APPEND_DOCUMENT_BEGIN(f, "org_id", &ne);
        BSON_APPEND_OID(&ne, "$ne", &except);
        bson_append_document_end(f, &ne);
    }
    int64_t n = 0;
    bool ok = count(s, C_MEMBERS, f, &n, "membership count", e);
    bson_destroy(f);
    if (!ok || n > 0)
        return ok;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    int64_t gone = 0;
    ok = write_op(s, C_ADMINS, W_DELETE_ONE, filter, NULL, &gone, "admin delete", e);
    bson_destroy(filter);
    *deleted = ok && gone == 1;
    return ok;
}

struct each_admin_ctx {
    bool (*fn)(const struct admin *a, void *ud);
    void *ud;
};

static bool each_admin_doc(const bson_t *doc, void *ud)
{
    struct each_admin_ctx *ctx = ud;
    struct admin a;
    admin_from_doc(doc, &a);
    return ctx->fn(&a, ctx->ud);
}

bool store_admin_each(store_t *s, bool (*fn)(const struct admin *a, void *ud), void *ud,
                      struct error *e)
{
    struct each_admin_ctx ctx = {fn, ud};
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("projection", "{", "password_hash", BCON_INT32(0), "}");
    bool ok = find_each(s, C_ADMINS, &filter, opts, each_admin_doc, &ctx, "admin list", e);
    bson_destroy(opts);
    bson_destroy(&filter);
    return ok;
}

/* ---- memberships ---- */

bool store_membership_insert(store_t *s, const struct membership *m, struct error *e)
{
    if (!indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    append_oid(&doc, "admin_id", m->admin_id);
    append_oid(&doc, "org_id", m->org_id);
    BSON_APPEND_UTF8(&doc, "role", role_name(m->role));
    BSON_APPEND_DATE_TIME(&doc, "member_at", m->member_at);
    bool ok = insert(s, C_MEMBERS, &doc, "membership insert", e);
    bson_destroy(&doc);
    return ok;
}

static void membership_conv(const bson_t *doc, void *out)
{
    membership_from_doc(doc, out);
}

bool store_membership_get(store_t *s, const char *admin_id, const char *org_id,
                          struct membership *out, struct error *e)
{
    bson_oid_t a, o;
    if (!oid_from(admin_id, &a) || !oid_from(org_id, &o))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = find_one(s, C_MEMBERS, f, membership_conv, out, "membership get", e);
    bson_destroy(f);
    return ok;
}

struct collect_members {
    struct membership *out;
    size_t max, n;
};

static bool collect_member(const bson_t *doc, void *ud)
{
    struct collect_members *c = ud;
    if (c->n == c->max)
        return false;
    membership_from_doc(doc, &c->out[c->n++]);
    return true;
}

bool store_memberships_of_admin(store_t *s, const char *admin_id, struct membership *out,
                                size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!oid_from(admin_id, &a))
        return true;
    struct collect_members c = {out, max, 0};
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    bson_t *opts = BCON_NEW("sort", "{", "member_at", BCON_INT32(1), "}", "limit",
                            BCON_INT64((int64_t)max));
    bool ok = find_each(s, C_MEMBERS, filter, opts, collect_member, &c, "memberships of admin", e);
    bson_destroy(filter);
    bson_destroy(opts);
    *n = c.n;
    return ok;
}

struct each_member_ctx {
    bool (*fn)(const struct membership *m, void *ud);
    void *ud;
};

static bool each_member_doc(const bson_t *doc, void *ud)
{
    struct each_member_ctx *ctx = ud;
    struct membership m;
    membership_from_doc(doc, &m);
    return ctx->fn(&m, ctx->ud);
}

bool store_membership_each(store_t *s, const char *org_id,
                           bool (*fn)(const struct membership *m, void *ud), void *ud,
                           struct error *e)
{
    struct each_member_ctx ctx = {fn, ud};
    bson_t filter = BSON_INITIALIZER;
    if (org_id != NULL) {
        bson_oid_t o;
        if (!oid_from(org_id, &o)) {
            bson_destroy(&filter);
            return true;
        }
        BSON_APPEND_OID(&filter, "org_id", &o);
    }
    bool ok = find_each(s, C_MEMBERS, &filter, NULL, each_member_doc, &ctx, "membership list", e);
    bson_destroy(&filter);
    return ok;
}

bool store_memberships_delete_org(store_t *s, const char *org_id, struct error *e)
{
    bson_oid_t o;
    if (!oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o));
    bool ok = write_op(s, C_MEMBERS, W_DELETE_MANY, filter, NULL, NULL, "memberships delete", e);
    bson_destroy(filter);
    return ok;
}

bool store_membership_delete(store_t *s, const char *admin_id, const char *org_id,
                             struct error *e)
{
    bson_oid_t a, o;
    if (!oid_from(admin_id, &a) || !oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = write_op(s, C_MEMBERS, W_DELETE_ONE, filter, NULL, NULL, "membership delete", e);
    bson_destroy(filter);
    return ok;
}

bool store_org_extras_delete(store_t *s, const char *org_id, struct error *e)
{
    bson_oid_t o;
    if (!oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o));
    bool ok = write_op(s, C_INVITATIONS, W_DELETE_MANY, filter, NULL, NULL, "invitations delete",
                       e) &&
              write_op(s, C_TOKENS, W_DELETE_MANY, filter, NULL, NULL, "tokens delete", e);
    bson_destroy(filter);
    return ok;
}

struct each_extra_ctx {
    const char *collection;
    bool (*fn)(const char *collection, const char *org_id, void *ud);
    void *ud;
};

static bool each_extra_doc(const bson_t *doc, void *ud)
{
    struct each_extra_ctx *ctx = ud;
    bson_iter_t it;
    char id[ID_BUF] = "";
    if (bson_iter_init_find(&it, doc, "org_id"))
        copy_oid(&it, id);
    return ctx->fn(ctx->collection, id, ctx->ud);
}

bool store_extras_each_org_id(store_t *s, bool (*fn)(const char *collection, const char *org_id,
                                                     void *ud),
                              void *ud, struct error *e)
{
    const char *colls[] = {C_INVITATIONS, C_TOKENS};
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("projection", "{", "org_id", BCON_INT32(1), "}");
    bool ok = true;
    for (size_t i = 0; ok && i < 2; i++) {
        struct each_extra_ctx ctx = {colls[i], fn, ud};
        ok = find_each(s, colls[i], &filter, opts, each_extra_doc, &ctx, "extras list", e);
    }
    bson_destroy(opts);
    bson_destroy(&filter);
    return ok;
}

/* ---- tenant collections ---- */

bool store_collection_rename(store_t *s, const char *from, const char *to, struct error *e)
{
    char src[256], dst[256];
    snprintf(src, sizeof src, "%s.%s", s->db, from);
    snprintf(dst, sizeof dst, "%s.%s", s->db, to);
    bson_t *cmd = BCON_NEW("renameCollection", BCON_UTF8(src), "to", BCON_UTF8(dst), "dropTarget",
                           BCON_BOOL(false));
    bool ok = run_command(s, "admin", cmd, "collection rename", e);
    bson_destroy(cmd);
    return ok;
}

bool store_collection_drop(store_t *s, const char *name, struct error *e)
{
    bson_t *cmd = BCON_NEW("drop", BCON_UTF8(name));
    struct error local;
    error_clear(&local);
    bool ok = run_command(s, s->db, cmd, "collection drop", &local);
    bson_destroy(cmd);
    if (!ok && local.kind == ERR_NOT_FOUND)
        return true; /* already gone */
    if (!ok && e != NULL)
        *e = local;
    return ok;
}

struct collection_each_ctx {
    bool (*fn)(const char *name, void *ud);
    void *ud;
};

static bool list_collections(store_t *s, const bson_t *filter,
                             bool (*fn)(const char *name, void *ud), void *ud, struct error *e)
{
    struct conn c = conn_open(s, NULL);
    mongoc_database_t *db = mongoc_client_get_database(c.client, s->db);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&opts, "filter", filter);
    BSON_APPEND_BOOL(&opts, "nameOnly", true);
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(db, &opts);
    const bson_t *doc;
    bson_error_t be;
    bool ok = true;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it)) {
            if (!fn(bson_iter_utf8(&it, NULL), ud))
                break;
        }
    }
    if (mongoc_cursor_error(cur, &be))
        ok = fail(e, &be, "list collections");
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_database_destroy(db);
    conn_close(&c);
    return ok;
}

static bool set_true(const char *name, void *ud)
{
    (void)name;
    *(bool *)ud = true;
    return false;
}

bool store_collection_exists(store_t *s, const char *name, bool *exists, struct error *e)
{
    *exists = false;
    bson_t *filter = BCON_NEW("name", BCON_UTF8(name));
    bool ok = list_collections(s, filter, set_true, exists, e);
    bson_destroy(filter);
    return ok;
}

bool store_collection_each_tenant(store_t *s, bool (*fn)(const char *name, void *ud), void *ud,
                                  struct error *e)
{
    bson_t *filter = BCON_NEW("name", "{", "$regex", BCON_UTF8("^org_"), "}");
    bool ok = list_collections(s, filter, fn, ud, e);
    bson_destroy(filter);
    return ok;
}

bool store_collection_create(store_t *s, const char *name, struct error *e)
{
    /* MongoDB 7 answers `create` of an existing collection (same options)
     * with success, FerretDB and older servers with NamespaceExists: ask
     * first, so that on every server an existing collection is a conflict
     * and never silently adopted */
    bool exists = true;
    if (!store_collection_exists(s, name, &exists, e))
        return false;
    if (exists)
        return error_set(e, ERR_CONFLICT, "the collection %s exists already", name);
    bson_t *cmd = BCON_NEW("create", BCON_UTF8(name));
    bool ok = run_command(s, s->db, cmd, "collection create", e);
    bson_destroy(cmd);
    return ok;
}
