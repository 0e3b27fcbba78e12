/* store_import.c — reading a database the original FastAPI + MongoDB
 * service wrote (`organizations {organization_name, collection_name,
 * admin_id}`, `admins {email, password}`), and copying its tenant
 * collections into orgd's. The source is only read. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

#include "store-private.h"
#include "util.h"

struct store_source {
    mongoc_client_t *client;
    char db[64];
};

store_source_t *store_source_open(const char *uri_text, const char *db, struct error *e)
{
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &be);
    if (uri == NULL) {
        error_set(e, ERR_INVALID, "--source-uri: %s", be.message);
        return NULL;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    store_source_t *src = bson_malloc0(sizeof *src);
    snprintf(src->db, sizeof src->db, "%s", db);
    src->client = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    if (src->client == NULL) {
        bson_free(src);
        error_set(e, ERR_INVALID, "--source-uri: cannot make a client");
        return NULL;
    }
    mongoc_client_set_error_api(src->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(src->client, "orgd-import");
    return src;
}

void store_source_close(store_source_t *src)
{
    if (src == NULL)
        return;
    mongoc_client_destroy(src->client);
    bson_free(src);
}

/* An id of the source as orgd's: an ObjectId (or its hex) as it is;
 * anything else, the first 12 bytes of SHA-256 of its text, so that every
 * run maps it to the same id (what makes an import idempotent). */
static void map_id(bson_iter_t *it, char out[ID_BUF], char *text, size_t cap)
{
    text[0] = '\0';
    if (BSON_ITER_HOLDS_OID(it)) {
        bson_oid_to_string(bson_iter_oid(it), out);
        snprintf(text, cap, "%s", out);
        return;
    }
    if (BSON_ITER_HOLDS_UTF8(it))
        snprintf(text, cap, "%s", bson_iter_utf8(it, NULL));
    else if (BSON_ITER_HOLDS_INT(it))
        snprintf(text, cap, "%lld", (long long)bson_iter_as_int64(it));
    if (strlen(text) == 24 && bson_oid_is_valid(text, 24)) {
        for (int i = 0; i < 24; i++)
            out[i] = (char)((text[i] >= 'A' && text[i] <= 'F') ? text[i] + 32 : text[i]);
        out[24] = '\0';
        return;
    }
    unsigned char digest[32];
    char seed[300];
    int n = snprintf(seed, sizeof seed, "orgd-import:%s", text);
    sha256(seed, (size_t)(n < 0 ? 0 : n), digest);
    hex_encode(digest, 12, out);
}

static int64_t time_of(bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DATE_TIME(it))
        return bson_iter_date_time(it);
    return 0;
}

static void source_account_from_doc(const bson_t *doc, struct source_account *a)
{
    memset(a, 0, sizeof *a);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            map_id(&it, a->id, a->source_id, sizeof a->source_id);
        else if (strcmp(k, "email") == 0)
            store__copy_utf8(&it, a->email, sizeof a->email);
        else if (strcmp(k, "password") == 0 || strcmp(k, "hashed_password") == 0)
            store__copy_utf8(&it, a->password_hash, sizeof a->password_hash);
        else if (strcmp(k, "created_at") == 0)
            a->created_at = time_of(&it);
    }
}

static void source_org_from_doc(const bson_t *doc, struct source_org *o)
{
    memset(o, 0, sizeof *o);
    bson_iter_t it;
    char scratch[64];
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            map_id(&it, o->id, o->source_id, sizeof o->source_id);
        else if (strcmp(k, "organization_name") == 0)
            store__copy_utf8(&it, o->name, sizeof o->name);
        else if (strcmp(k, "collection_name") == 0)
            store__copy_utf8(&it, o->collection, sizeof o->collection);
        else if (strcmp(k, "admin_id") == 0)
            map_id(&it, o->admin_id, scratch, sizeof scratch);
        else if (strcmp(k, "created_at") == 0)
            o->created_at = time_of(&it);
    }
}

/* A find over every document of the source's `coll`, by _id. */
struct source_cursor {
    mongoc_collection_t *coll;
    mongoc_cursor_t *cur;
};

static struct source_cursor source_find(store_source_t *src, const char *coll)
{
    struct source_cursor c = {mongoc_client_get_collection(src->client, src->db, coll), NULL};
    bson_t all = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    c.cur = mongoc_collection_find_with_opts(c.coll, &all, opts, NULL);
    bson_destroy(opts);
    bson_destroy(&all);
    return c;
}

static bool source_close(struct source_cursor *c, struct error *e)
{
    bson_error_t be;
    bool ok = !mongoc_cursor_error(c->cur, &be) || store__fail(e, &be, "import source read");
    mongoc_cursor_destroy(c->cur);
    mongoc_collection_destroy(c->coll);
    return ok;
}

bool store_source_accounts(store_source_t *src,
                           bool (*fn)(const struct source_account *a, void *ud), void *ud,
                           struct error *e)
{
    struct source_cursor c = source_find(src, "admins");
    const bson_t *doc;
    struct source_account a;
    bool go = true;
    while (go && mongoc_cursor_next(c.cur, &doc)) {
        source_account_from_doc(doc, &a);
        go = fn(&a, ud);
    }
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    return source_close(&c, e);
}

bool store_source_orgs(store_source_t *src, bool (*fn)(const struct source_org *o, void *ud),
                       void *ud, struct error *e)
{
    struct source_cursor c = source_find(src, "organizations");
    const bson_t *doc;
    struct source_org o;
    bool go = true;
    while (go && mongoc_cursor_next(c.cur, &doc)) {
        source_org_from_doc(doc, &o);
        go = fn(&o, ud);
    }
    return source_close(&c, e);
}

bool store_source_count(store_source_t *src, const char *coll, int64_t *n, struct error *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(src->client, src->db, coll);
    bson_t all = BSON_INITIALIZER;
    bson_error_t be;
    *n = mongoc_collection_count_documents(c, &all, NULL, NULL, NULL, &be);
    bson_destroy(&all);
    mongoc_collection_destroy(c);
    return *n >= 0 || store__fail(e, &be, "import source count");
}

#define COPY_BATCH 500

/* Inserts docs[0..n) into `to`, each by its own _id: one already there (an
 * earlier, interrupted run) is kept. Counts the new ones into *copied. */
static bool insert_batch(store_t *s, const char *to, const bson_t **docs, size_t n, int64_t *copied,
                         struct error *e)
{
    if (n == 0)
        return true;
    struct store__conn c = store__conn_open(s, to);
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_collection_insert_many(c.coll, docs, n, opts, &reply, &be);
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "insertedCount"))
        *copied += bson_iter_as_int64(&it);
    /* duplicates alone (11000 in every writeError) are what a rerun meets */
    if (!ok && bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t errs;
        bool only_duplicates = bson_iter_recurse(&it, &errs);
        while (only_duplicates && bson_iter_next(&errs)) {
            bson_iter_t one;
            only_duplicates = BSON_ITER_HOLDS_DOCUMENT(&errs) && bson_iter_recurse(&errs, &one) &&
                              bson_iter_find(&one, "code") &&
                              bson_iter_as_int64(&one) == MONGO_ERR_DUPLICATE_KEY;
        }
        ok = only_duplicates;
    }
    bson_destroy(&reply);
    bson_destroy(opts);
    store__conn_close(&c);
    return ok || store__fail(e, &be, "import copy");
}

bool store_source_copy(store_source_t *src, store_t *s, const char *from, const char *to,
                       int64_t *copied, int64_t *total, struct error *e)
{
    *copied = *total = 0;
    mongoc_collection_t *c = mongoc_client_get_collection(src->client, src->db, from);
    bson_t all = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &all, opts, NULL);
    const bson_t *doc;
    bson_t *batch[COPY_BATCH];
    size_t n = 0;
    bool ok = true;
    while (ok && mongoc_cursor_next(cur, &doc)) {
        batch[n++] = bson_copy(doc);
        (*total)++;
        if (n == COPY_BATCH) {
            ok = insert_batch(s, to, (const bson_t **)batch, n, copied, e);
            for (size_t i = 0; i < n; i++)
                bson_destroy(batch[i]);
            n = 0;
        }
    }
    if (ok)
        ok = insert_batch(s, to, (const bson_t **)batch, n, copied, e);
    for (size_t i = 0; i < n; i++)
        bson_destroy(batch[i]);
    bson_error_t be;
    if (ok && mongoc_cursor_error(cur, &be))
        ok = store__fail(e, &be, "import source read");
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(&all);
    mongoc_collection_destroy(c);
    return ok;
}

bool store_import_marked(store_t *s, const char *org_id, bool *marked, struct error *e)
{
    bson_oid_t o;
    *marked = false;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&o));
    int64_t n = 0;
    bool ok = store__count(s, C_IMPORTS, filter, &n, "import marker", e);
    bson_destroy(filter);
    *marked = ok && n > 0;
    return ok;
}

bool store_import_mark(store_t *s, const char *org_id, const char *source_id, struct error *e)
{
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", org_id);
    BCON_APPEND(&doc, "source_id", BCON_UTF8(source_id), "at", BCON_DATE_TIME(clock_now_ms()));
    bson_error_t be;
    bool ok = store__insert_raw(s, C_IMPORTS, &doc, &be);
    bson_destroy(&doc);
    /* one there already: an earlier run's, and the same */
    return ok || store__classify(&be) == ERR_CONFLICT || store__fail(e, &be, "import mark");
}
