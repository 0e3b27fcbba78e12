/* store.c — the pool, the translation of driver errors, the indexes and the
 * generic reads and writes the other lib/store_*.c files build on (see
 * store-private.h). */
#include <mongoc/mongoc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store-private.h"
#include "util.h"

/* ---- errors ---- */

static bool is_unavailable_code(uint32_t code)
{
    switch (code) {
    case MONGO_ERR_HOST_UNREACHABLE:
    case MONGO_ERR_HOST_NOT_FOUND:
    case MONGO_ERR_NETWORK_TIMEOUT:
    case MONGO_ERR_SHUTDOWN_IN_PROGRESS:
    case MONGO_ERR_PRIMARY_STEPPED_DOWN:
    case MONGO_ERR_EXCEEDED_TIME_LIMIT:
    case MONGO_ERR_SOCKET_EXCEPTION:
    case MONGO_ERR_NOT_WRITABLE_PRIMARY:
    case MONGO_ERR_INTERRUPTED_AT_SHUTDOWN:
    case MONGO_ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE:
    case MONGO_ERR_NOT_PRIMARY_NO_SECONDARY_OK:
    case MONGO_ERR_NOT_PRIMARY_OR_SECONDARY:
        return true;
    default:
        return false;
    }
}

static bool is_duplicate_code(uint32_t code)
{
    return code == MONGO_ERR_DUPLICATE_KEY || code == MONGO_ERR_DUPLICATE_KEY_ON_UPDATE ||
           code == MONGO_ERR_NAMESPACE_EXISTS;
}

/* FerretDB reports what its backend said as InternalError (code 1) with
 * the backend's own words, which differ between its SQLite and its
 * PostgreSQL backends: a unique clash on an update is no DuplicateKey
 * there, and a backend going away is no network error. Each row is one
 * wording seen from one of them; test/unit/test_store_errors.c holds the
 * messages as the servers write them. */
static const struct {
    const char *words;
    enum err_kind kind;
} worded[] = {
    {"UNIQUE constraint failed", ERR_CONFLICT},                       /* SQLite */
    {"duplicate key value violates unique constraint", ERR_CONFLICT}, /* PostgreSQL, 23505 */
    {"(SQLSTATE 23505)", ERR_CONFLICT},
    {"database is locked", ERR_UNAVAILABLE}, /* SQLite busy past its timeout */
    {"context canceled", ERR_UNAVAILABLE},   /* FerretDB shutting down */
    {"context deadline exceeded", ERR_UNAVAILABLE},
    {"the database system is shutting down", ERR_UNAVAILABLE}, /* PostgreSQL, 57P03 */
    {"the database system is starting up", ERR_UNAVAILABLE},
    {"(SQLSTATE 57P01)", ERR_UNAVAILABLE},     /* terminating connection: administrator command */
    {"(SQLSTATE 57P02)", ERR_UNAVAILABLE},     /* crash shutdown */
    {"(SQLSTATE 57P03)", ERR_UNAVAILABLE},     /* cannot connect now */
    {"(SQLSTATE 53300)", ERR_UNAVAILABLE},     /* too many connections */
    {"failed to connect to", ERR_UNAVAILABLE}, /* PostgreSQL unreachable */
    {"conn closed", ERR_UNAVAILABLE},
    {"unexpected EOF", ERR_UNAVAILABLE},
};

/* The kind a server error's words give it, or ERR_INTERNAL. */
enum err_kind store__worded_kind(const char *message)
{
    for (size_t i = 0; i < sizeof worded / sizeof worded[0]; i++)
        if (strstr(message, worded[i].words) != NULL)
            return worded[i].kind;
    return ERR_INTERNAL;
}

enum err_kind store__classify(const bson_error_t *be)
{
    enum err_kind kind = ERR_INTERNAL;
    if (be->domain == MONGOC_ERROR_SERVER_SELECTION || be->domain == MONGOC_ERROR_STREAM ||
        be->domain == MONGOC_ERROR_PROTOCOL || be->domain == MONGOC_ERROR_CLIENT) {
        kind = ERR_UNAVAILABLE;
    } else if (is_duplicate_code(be->code)) {
        kind = ERR_CONFLICT;
    } else if (be->code == MONGO_ERR_NAMESPACE_NOT_FOUND) {
        kind = ERR_NOT_FOUND;
    } else if (is_unavailable_code(be->code)) {
        kind = ERR_UNAVAILABLE;
    } else if (be->code == MONGO_ERR_INTERNAL_ERROR || be->code == 0) {
        kind = store__worded_kind(be->message);
    }
    return kind;
}

/* A missing namespace is no database error (a drop of what is gone
 * succeeds), so the metric leaves it out. */
bool store__fail(struct error *e, const bson_error_t *be, const char *what)
{
    enum err_kind kind = store__classify(be);
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

static void driver_log(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
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
    /* first: mongoc_init itself may warn (no shared memory for its counters) */
    mongoc_log_set_handler(driver_log, NULL);
    mongoc_init();
}

void store_global_cleanup(void)
{
    mongoc_cleanup();
}

static _Thread_local unsigned long thread_commands;

void store_thread_commands_reset(void)
{
    thread_commands = 0;
}

unsigned long store_thread_commands(void)
{
    return thread_commands;
}

/* The driver calls this on the thread that sends the command. */
static void command_started(const mongoc_apm_command_started_t *event)
{
    thread_commands++;
    metrics_mongo_command(mongoc_apm_command_started_get_command_name(event));
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
    atomic_init(&s->locks_indexed, false);
    atomic_init(&s->ttl_unsupported, false);
    s->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (s->pool == NULL) {
        bson_free(s);
        error_set(e, ERR_INVALID, "MONGO_URI: cannot create a client pool");
        return NULL;
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_apm_callbacks_t *apm = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(apm, command_started);
    mongoc_client_pool_set_apm_callbacks(s->pool, apm, NULL);
    mongoc_apm_callbacks_destroy(apm);
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

/* ---- connections and commands ---- */

struct store__conn store__conn_open(store_t *s, const char *collection)
{
    struct store__conn c = {s, mongoc_client_pool_pop(s->pool), NULL};
    if (collection != NULL)
        c.coll = mongoc_client_get_collection(c.client, s->db, collection);
    return c;
}

void store__conn_close(struct store__conn *c)
{
    mongoc_collection_destroy(c->coll);
    mongoc_client_pool_push(c->s->pool, c->client);
}

bool store__run_command(store_t *s, const char *db, const bson_t *cmd, const char *what,
                        struct error *e)
{
    struct store__conn c = store__conn_open(s, NULL);
    bson_error_t be;
    bson_t reply;
    bool ok = mongoc_client_command_simple(c.client, db, cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    store__conn_close(&c);
    return ok || store__fail(e, &be, what);
}

bool store_ping(store_t *s, struct error *e)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool ok = store__run_command(s, "admin", cmd, "ping", e);
    bson_destroy(cmd);
    return ok;
}

/* How an index treats its documents beyond ordering them. */
enum index_kind {
    INDEX_PLAIN,
    INDEX_UNIQUE,
    INDEX_TTL,      /* the document goes at the date in k1 */
    INDEX_TTL_GRACE /* ...STORE_INVITATION_GRACE_S after it (invitations) */
};

static bson_t *index_command(const char *coll, const char *name, enum index_kind kind,
                             const char *k1, const char *k2)
{
    bson_t *cmd = bson_new();
    bson_t indexes, index, key;
    BSON_APPEND_UTF8(cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(cmd, "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, k1, 1);
    if (k2 != NULL)
        BSON_APPEND_INT32(&key, k2, 1);
    bson_append_document_end(&index, &key);
    BSON_APPEND_UTF8(&index, "name", name);
    if (kind == INDEX_UNIQUE)
        BSON_APPEND_BOOL(&index, "unique", true);
    else if (kind == INDEX_TTL || kind == INDEX_TTL_GRACE)
        BSON_APPEND_INT32(&index, "expireAfterSeconds",
                          kind == INDEX_TTL ? 0 : STORE_INVITATION_GRACE_S);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(cmd, &indexes);
    return cmd;
}

/* A TTL index where the server has them; where it has not (FerretDB 1.x
 * answers NotImplemented), a plain index on the same date, and the
 * periodic sweep (store_expired_delete) removes what has expired. */
static bool create_index(store_t *s, const char *coll, const char *name, enum index_kind kind,
                         const char *k1, const char *k2, struct error *e)
{
    bson_t *cmd = index_command(coll, name, kind, k1, k2);
    struct store__conn c = store__conn_open(s, NULL);
    bson_error_t be;
    bson_t reply;
    bool ok = mongoc_client_command_simple(c.client, s->db, cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    store__conn_close(&c);
    bson_destroy(cmd);
    if (!ok && (kind == INDEX_TTL || kind == INDEX_TTL_GRACE) &&
        be.code == MONGO_ERR_NOT_IMPLEMENTED) {
        if (!atomic_exchange(&s->ttl_unsupported, true))
            log_emit(LOG_INFO,
                     "no TTL indexes on this server: expired sessions and throttling "
                     "events are removed by the periodic sweep",
                     NULL);
        return create_index(s, coll, name, INDEX_PLAIN, k1, k2, e);
    }
    return ok || store__fail(e, &be, "createIndexes");
}

bool store_ensure_indexes(store_t *s, struct error *e)
{
    /* the locks first: every guarded transition needs them, the upgrade of
     * older invitations below too */
    if (!create_index(s, C_LOCKS, "key_unique", INDEX_UNIQUE, "key", NULL, e))
        return false;
    atomic_store(&s->locks_indexed, true);
    bool ok =
        create_index(s, C_ORGS, "name_key_unique", INDEX_UNIQUE, "name_key", NULL, e) &&
        create_index(s, C_ORGS, "state_touched", INDEX_PLAIN, "state", "op.touched_at", e) &&
        create_index(s, C_ORGS, "collection", INDEX_PLAIN, "collection", NULL, e) &&
        create_index(s, C_ACCOUNTS, "email_unique", INDEX_UNIQUE, "email", NULL, e) &&
        create_index(s, C_MEMBERS, "admin_org_unique", INDEX_UNIQUE, "admin_id", "org_id", e) &&
        create_index(s, C_MEMBERS, "org", INDEX_PLAIN, "org_id", NULL, e) &&
        create_index(s, C_INVITATIONS, "org", INDEX_PLAIN, "org_id", NULL, e) &&
        create_index(s, C_INVITATIONS, "token_hash_unique", INDEX_UNIQUE, "token_hash", NULL, e) &&
        create_index(s, C_INVITATIONS, "email", INDEX_PLAIN, "email", NULL, e) &&
        create_index(s, C_INVITATIONS, "replaced_hashes", INDEX_PLAIN, "replaced_hashes", NULL,
                     e) &&
        create_index(s, C_INVITATIONS, "expires", INDEX_TTL_GRACE, "expires_at", NULL, e) &&
        store__invitations_slot_legacy(s, e) &&
        create_index(s, C_INVITATIONS, "pending_key_unique", INDEX_UNIQUE, "pending_key", NULL,
                     e) &&
        create_index(s, C_SESSIONS, "admin_last_used", INDEX_PLAIN, "admin_id", "last_used_at",
                     e) &&
        create_index(s, C_SESSIONS, "org", INDEX_PLAIN, "org_id", NULL, e) &&
        create_index(s, C_SESSIONS, "expires", INDEX_TTL, "expires_at", NULL, e) &&
        create_index(s, C_ROTATIONS, "expires", INDEX_TTL, "expires_at", NULL, e) &&
        create_index(s, C_THROTTLE, "key_at", INDEX_PLAIN, "key", "at", e) &&
        create_index(s, C_THROTTLE, "expires", INDEX_TTL, "expires_at", NULL, e) &&
        create_index(s, C_EVENTS, "chain_seq_unique", INDEX_UNIQUE, "chain", "seq", e) &&
        create_index(s, C_EVENTS, "at", INDEX_PLAIN, "at", NULL, e) &&
        create_index(s, C_ORGS, "pending_at", INDEX_PLAIN, F_PENDING ".at", NULL, e) &&
        create_index(s, C_ACCOUNTS, "pending_at", INDEX_PLAIN, F_PENDING ".at", NULL, e) &&
        create_index(s, C_MEMBERS, "pending_at", INDEX_PLAIN, F_PENDING ".at", NULL, e) &&
        create_index(s, C_INVITATIONS, "pending_at", INDEX_PLAIN, F_PENDING ".at", NULL, e) &&
        create_index(s, C_WEBHOOKS, "pending_at", INDEX_PLAIN, F_PENDING ".at", NULL, e) &&
        create_index(s, C_WEBHOOKS, "org", INDEX_PLAIN, "org_id", NULL, e) &&
        create_index(s, C_EVENTS, "fanned", INDEX_PLAIN, "fanned", NULL, e) &&
        create_index(s, C_DELIVERIES, "key_unique", INDEX_UNIQUE, "key", NULL, e) &&
        create_index(s, C_DELIVERIES, "due", INDEX_PLAIN, "state", "next_at", e) &&
        create_index(s, C_DELIVERIES, "webhook", INDEX_PLAIN, "webhook_id", NULL, e) &&
        create_index(s, C_MAIL, "due", INDEX_PLAIN, "state", "next_at", e) &&
        create_index(s, C_TOKENS, "slot_unique", INDEX_UNIQUE, "slot", NULL, e) &&
        create_index(s, C_TOKENS, "token_hash", INDEX_PLAIN, "token_hash", NULL, e);
    if (ok)
        atomic_store(&s->indexed, true);
    return ok;
}

/* Writes whose correctness rests on a unique index (names, e-mails,
 * memberships, org locks) wait for the indexes: until they exist, a
 * duplicate would go through. Creating them is idempotent and cheap. */
bool store__indexes_ready(store_t *s, struct error *e)
{
    return atomic_load(&s->indexed) || store_ensure_indexes(s, e);
}

/* ---- documents <-> records ---- */

bool store__oid_from(const char *hex, bson_oid_t *oid)
{
    if (hex == NULL || strlen(hex) != 24 || !bson_oid_is_valid(hex, 24))
        return false;
    bson_oid_init_from_string(oid, hex);
    return true;
}

void store__copy_utf8(bson_iter_t *it, char *out, size_t cap)
{
    uint32_t len = 0;
    const char *v = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &len) : "";
    if (len >= cap)
        len = (uint32_t)cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

void store__copy_oid(bson_iter_t *it, char out[ID_BUF])
{
    if (BSON_ITER_HOLDS_OID(it))
        bson_oid_to_string(bson_iter_oid(it), out);
    else
        out[0] = '\0';
}

int64_t store__get_time(bson_iter_t *it)
{
    return BSON_ITER_HOLDS_DATE_TIME(it) ? bson_iter_date_time(it) : 0;
}

void store__append_oid(bson_t *b, const char *key, const char *hex)
{
    bson_oid_t oid;
    if (store__oid_from(hex, &oid))
        BSON_APPEND_OID(b, key, &oid);
}

void store__append_in_ids(bson_t *b, const char *key, const char (*ids)[ID_BUF], size_t n)
{
    bson_t cond, in;
    BSON_APPEND_DOCUMENT_BEGIN(b, key, &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &in);
    for (size_t i = 0; i < n; i++) {
        char buf[16];
        const char *index;
        bson_uint32_to_string((uint32_t)i, &index, buf, sizeof buf);
        store__append_oid(&in, index, ids[i]);
    }
    bson_append_array_end(&cond, &in);
    bson_append_document_end(b, &cond);
}

/* ---- events a write carries ---- */

void store__append_pending(bson_t *doc, const struct pending_list *ev)
{
    if (ev == NULL)
        return;
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, F_PENDING, &arr);
    for (size_t i = 0; i < ev->n; i++) {
        char buf[16];
        const char *index;
        bson_uint32_to_string((uint32_t)i, &index, buf, sizeof buf);
        bson_t item;
        BSON_APPEND_DOCUMENT_BEGIN(&arr, index, &item);
        store__append_oid(&item, "id", ev->items[i].id);
        BCON_APPEND(&item, "chain", BCON_UTF8(ev->items[i].chain), "at",
                    BCON_DATE_TIME(ev->items[i].at), "draft", BCON_UTF8(ev->items[i].draft));
        bson_append_document_end(&arr, &item);
    }
    bson_append_array_end(doc, &arr);
}

void store__read_pending(bson_iter_t *it, struct pending_refs *out)
{
    out->n = 0;
    bson_iter_t arr;
    if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &arr))
        return;
    while (bson_iter_next(&arr) && out->n < PENDING_MAX) {
        bson_iter_t id;
        if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &id) &&
            bson_iter_find(&id, "id") && BSON_ITER_HOLDS_OID(&id))
            bson_oid_to_string(bson_iter_oid(&id), out->id[out->n++]);
    }
}

/* ---- generic reads ---- */

struct store__cursor store__find(store_t *s, const char *coll, const bson_t *filter,
                                 const bson_t *opts)
{
    bson_t all = BSON_INITIALIZER;
    struct store__cursor c = {store__conn_open(s, coll), NULL};
    c.cur =
        mongoc_collection_find_with_opts(c.conn.coll, filter != NULL ? filter : &all, opts, NULL);
    bson_destroy(&all);
    return c;
}

bool store__cursor_next(struct store__cursor *c, store__from_doc_fn conv, void *out)
{
    const bson_t *doc;
    if (!mongoc_cursor_next(c->cur, &doc))
        return false;
    if (out != NULL)
        conv(doc, out);
    return true;
}

bool store__cursor_close(struct store__cursor *c, const char *what, struct error *e)
{
    bson_error_t be;
    bool ok = !mongoc_cursor_error(c->cur, &be) || store__fail(e, &be, what);
    mongoc_cursor_destroy(c->cur);
    store__conn_close(&c->conn);
    return ok;
}

bool store__find_one(store_t *s, const char *coll, const bson_t *filter, store__from_doc_fn conv,
                     void *out, bool *found, const char *what, struct error *e)
{
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    struct store__cursor c = store__find(s, coll, filter, opts);
    *found = store__cursor_next(&c, conv, out);
    bool ok = store__cursor_close(&c, what, e);
    bson_destroy(opts);
    if (!ok)
        *found = false;
    return ok;
}

bool store__find_by_id(store_t *s, const char *coll, const char *id, store__from_doc_fn conv,
                       void *out, bool *found, const char *what, struct error *e)
{
    *found = false;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true; /* no id of ours: no such document */
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    bool ok = store__find_one(s, coll, f, conv, out, found, what, e);
    bson_destroy(f);
    return ok;
}

bool store__find_by_utf8(store_t *s, const char *coll, const char *field, const char *value,
                         store__from_doc_fn conv, void *out, bool *found, const char *what,
                         struct error *e)
{
    bson_t *f = BCON_NEW(field, BCON_UTF8(value));
    bool ok = store__find_one(s, coll, f, conv, out, found, what, e);
    bson_destroy(f);
    return ok;
}

bool store__find_many(store_t *s, const char *coll, const bson_t *filter, const bson_t *opts,
                      size_t item_size, store__from_doc_fn conv, void *out, size_t max, size_t *n,
                      const char *what, struct error *e)
{
    unsigned char *slots = out;
    /* no options: at most max documents are asked for */
    bson_t *limit = opts == NULL && max > 0 ? BCON_NEW("limit", BCON_INT64((int64_t)max)) : NULL;
    struct store__cursor c = store__find(s, coll, filter, opts != NULL ? opts : limit);
    bson_destroy(limit);
    *n = 0;
    /* reads one past the last slot rather than stop before it: with max 0
     * (no limit, to the server) the query still runs and its failure counts */
    while (store__cursor_next(&c, conv, *n < max ? slots + *n * item_size : NULL) && *n < max)
        (*n)++;
    return store__cursor_close(&c, what, e);
}

/* ---- generic writes ---- */

bool store__insert_raw(store_t *s, const char *coll, const bson_t *doc, bson_error_t *be)
{
    struct store__conn c = store__conn_open(s, coll);
    bson_t reply;
    bool ok = mongoc_collection_insert_one(c.coll, doc, NULL, &reply, be);
    bson_destroy(&reply);
    store__conn_close(&c);
    return ok;
}

bool store__insert(store_t *s, const char *coll, const bson_t *doc, const char *what,
                   struct error *e)
{
    bson_error_t be;
    return store__insert_raw(s, coll, doc, &be) || store__fail(e, &be, what);
}

bool store__write_op(store_t *s, const char *coll, enum store__write_kind kind,
                     const bson_t *filter, const bson_t *update, int64_t *matched, const char *what,
                     struct error *e)
{
    struct store__conn c = store__conn_open(s, coll);
    bson_error_t be;
    bson_t reply;
    bool ok;
    if (kind == STORE__UPDATE_ONE)
        ok = mongoc_collection_update_one(c.coll, filter, update, NULL, &reply, &be);
    else if (kind == STORE__UPDATE_MANY)
        ok = mongoc_collection_update_many(c.coll, filter, update, NULL, &reply, &be);
    else if (kind == STORE__DELETE_ONE)
        ok = mongoc_collection_delete_one(c.coll, filter, NULL, &reply, &be);
    else
        ok = mongoc_collection_delete_many(c.coll, filter, NULL, &reply, &be);
    if (ok && matched != NULL) {
        bson_iter_t it;
        bool update_kind = kind == STORE__UPDATE_ONE || kind == STORE__UPDATE_MANY;
        const char *field = update_kind ? "matchedCount" : "deletedCount";
        *matched = bson_iter_init_find(&it, &reply, field) ? bson_iter_as_int64(&it) : 0;
    }
    bson_destroy(&reply);
    store__conn_close(&c);
    return ok || store__fail(e, &be, what);
}

bool store__delete_by_oid(store_t *s, const char *coll, const char *field, const char *hex,
                          const char *what, struct error *e)
{
    bson_oid_t o;
    if (!store__oid_from(hex, &o))
        return true;
    bson_t *filter = BCON_NEW(field, BCON_OID(&o));
    bool ok = store__write_op(s, coll, STORE__DELETE_MANY, filter, NULL, NULL, what, e);
    bson_destroy(filter);
    return ok;
}

bool store__update_one(store_t *s, const char *coll, bson_t *filter, bson_t *update, bool *applied,
                       const char *what, struct error *e)
{
    int64_t matched = 0;
    bool ok = store__write_op(s, coll, STORE__UPDATE_ONE, filter, update, &matched, what, e);
    bson_destroy(filter);
    bson_destroy(update);
    *applied = ok && matched == 1;
    return ok;
}

/* ---- the guarded transition ----
 *
 * FerretDB applies an update or a delete as a read followed by a write of
 * the whole document by _id, on its SQLite and its PostgreSQL backends
 * alike, so a filter on `version` alone is no compare-and-swap there: two
 * writers that read the same version both write, and the later write puts
 * back every field the earlier one changed. An insert into a unique index
 * is atomic everywhere, so a writer first inserts the lock (collection,
 * id, version), then writes filtered on that version, then removes its
 * lock. Of the writers that read one version exactly one takes the lock;
 * a writer that read an older version takes its lock but matches nothing.
 * A lock left behind by a process that died between the two writes
 * freezes only that document, until store_locks_stale removes it (the
 * recovery pass does, once it is older than both the recovery age and
 * twice the socket timeout, so that no write can still be in flight under
 * it); `orgd check` reports such locks. On MongoDB the version filter
 * alone would do; the lock is one insert and one delete more. */

static bool lock_take(store_t *s, const char *coll, const char *id, int64_t version,
                      bson_oid_t *lock, bool *taken, struct error *e)
{
    *taken = false;
    if (!atomic_load(&s->locks_indexed) && !store__indexes_ready(s, e))
        return false;
    char key[128];
    snprintf(key, sizeof key, "%s:%s:%lld", coll, id, (long long)version);
    bson_oid_init(lock, NULL);
    /* built without BCON: its builder keeps 13 KiB on the stack, and this
     * is the deepest frame of every guarded write (docs/STYLE.md, "Stack") */
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", lock);
    BSON_APPEND_UTF8(&doc, "key", key);
    BSON_APPEND_DATE_TIME(&doc, "at", clock_now_ms());
    bson_error_t be;
    bool ok = store__insert_raw(s, C_LOCKS, &doc, &be);
    bson_destroy(&doc);
    if (ok) {
        *taken = true;
        return true;
    }
    if (store__classify(&be) == ERR_CONFLICT)
        return true; /* another writer has this version: contention, not an error */
    return store__fail(e, &be, "lock");
}

static void lock_release(store_t *s, const bson_oid_t *lock)
{
    bson_t filter = BSON_INITIALIZER; /* no BCON here either: see lock_take */
    BSON_APPEND_OID(&filter, "_id", lock);
    struct error e = ERROR_INIT;
    if (!store__write_op(s, C_LOCKS, STORE__DELETE_ONE, &filter, NULL, NULL, "unlock", &e))
        log_text(LOG_WARN, "lock left for recovery to expire", "%s", e.message);
    bson_destroy(&filter);
}

/* _id, and version (or its absence, for version 0: a document written
 * before it had one). */
static bson_t *version_filter(const bson_oid_t *oid, int64_t version)
{
    bson_t *f = bson_new(); /* no BCON: see lock_take */
    BSON_APPEND_OID(f, "_id", oid);
    if (version > 0) {
        BSON_APPEND_INT64(f, "version", version);
    } else {
        bson_t exists;
        BSON_APPEND_DOCUMENT_BEGIN(f, "version", &exists);
        BSON_APPEND_BOOL(&exists, "$exists", false);
        bson_append_document_end(f, &exists);
    }
    return f;
}

bool store__swap(store_t *s, const char *coll, const char *id, int64_t version,
                 const bson_t *update, bool *applied, const char *what, struct error *e)
{
    *applied = false;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter = version_filter(&oid, version);
    bson_t write = BSON_INITIALIZER;
    if (update != NULL) {
        bson_copy_to_excluding_noinit(update, &write, "$inc", NULL);
        BCON_APPEND(&write, "$inc", "{", "version", BCON_INT64(1), "}");
    }
    int64_t matched = 0;
    bson_oid_t lock;
    bool taken = false;
    char lock_id[ID_BUF];
    bson_oid_to_string(&oid, lock_id);
    bool ok = lock_take(s, coll, lock_id, version, &lock, &taken, e);
    if (ok && taken) {
        ok = store__write_op(s, coll, update != NULL ? STORE__UPDATE_ONE : STORE__DELETE_ONE,
                             filter, update != NULL ? &write : NULL, &matched, what, e);
        if (ok || e->kind == ERR_CONFLICT) /* else the write may still land: let the lock expire */
            lock_release(s, &lock);
    }
    *applied = ok && matched == 1;
    bson_destroy(filter);
    bson_destroy(&write);
    return ok;
}

bool store_locks_stale(store_t *s, int64_t before_ms, bool remove, int64_t *n, struct error *e)
{
    int64_t ttl_cutoff = clock_now_ms() - s->lock_ttl_ms;
    bson_t *filter = BCON_NEW("at", "{", "$lt",
                              BCON_DATE_TIME(before_ms < ttl_cutoff ? before_ms : ttl_cutoff), "}");
    *n = 0;
    bool ok =
        remove ? store__write_op(s, C_LOCKS, STORE__DELETE_MANY, filter, NULL, n, "locks expire", e)
               : store__count(s, C_LOCKS, filter, n, "locks count", e);
    bson_destroy(filter);
    return ok;
}

bool store__count(store_t *s, const char *coll, const bson_t *filter, int64_t *n, const char *what,
                  struct error *e)
{
    struct store__conn c = store__conn_open(s, coll);
    bson_error_t be;
    *n = mongoc_collection_count_documents(c.coll, filter, NULL, NULL, NULL, &be);
    store__conn_close(&c);
    return *n >= 0 || store__fail(e, &be, what);
}

/* ---- expiry ---- */

bool store_expired_delete(store_t *s, int64_t now, int64_t *n, struct error *e)
{
    *n = 0;
    const char *colls[] = {C_SESSIONS, C_ROTATIONS, C_THROTTLE};
    bson_t *filter = BCON_NEW("expires_at", "{", "$lte", BCON_DATE_TIME(now), "}");
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof colls / sizeof colls[0]; i++) {
        int64_t gone = 0;
        ok = store__write_op(s, colls[i], STORE__DELETE_MANY, filter, NULL, &gone, "expired delete",
                             e);
        *n += gone;
    }
    bson_destroy(filter);
    if (ok) {
        int64_t gone = 0;
        int64_t cutoff = now - (int64_t)STORE_INVITATION_GRACE_S * 1000;
        bson_t *old = BCON_NEW("expires_at", "{", "$lte", BCON_DATE_TIME(cutoff), "}");
        ok = store__write_op(s, C_INVITATIONS, STORE__DELETE_MANY, old, NULL, &gone,
                             "expired delete", e);
        bson_destroy(old);
        *n += gone;
    }
    return ok;
}

/* ---- the outboxes ---- */

bson_t *store__outbox_due(int64_t now)
{
    return BCON_NEW("state", BCON_UTF8("pending"), "next_at", "{", "$lte", BCON_DATE_TIME(now), "}",
                    "lease_until", "{", "$lt", BCON_DATE_TIME(now), "}");
}

bool store__outbox_lease(store_t *s, const char *coll, const char *id, int64_t version,
                         int64_t lease_until, const char *instance, bool *applied, const char *what,
                         struct error *e)
{
    bson_t *update = BCON_NEW("$set", "{", "lease_until", BCON_DATE_TIME(lease_until), "leased_by",
                              BCON_UTF8(instance), "}");
    bool ok = store__swap(s, coll, id, version, update, applied, what, e);
    bson_destroy(update);
    return ok;
}
