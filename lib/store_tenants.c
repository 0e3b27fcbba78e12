/* store_tenants.c — the tenant collections ("org_<key>") in the master
 * database. */
#include <mongoc/mongoc.h>
#include <stdio.h>

#include "store-private.h"

bool store_collection_rename(store_t *s, const char *from, const char *to, struct error *e)
{
    char src[256], dst[256];
    snprintf(src, sizeof src, "%s.%s", s->db, from);
    snprintf(dst, sizeof dst, "%s.%s", s->db, to);
    bson_t *cmd = BCON_NEW("renameCollection", BCON_UTF8(src), "to", BCON_UTF8(dst), "dropTarget",
                           BCON_BOOL(false));
    bool ok = store__run_command(s, "admin", cmd, "collection rename", e);
    bson_destroy(cmd);
    return ok;
}

bool store_collection_drop(store_t *s, const char *name, struct error *e)
{
    bson_t *cmd = BCON_NEW("drop", BCON_UTF8(name));
    struct error local = ERROR_INIT;
    bool ok = store__run_command(s, s->db, cmd, "collection drop", &local);
    bson_destroy(cmd);
    if (!ok && local.kind == ERR_NOT_FOUND)
        return true; /* already gone */
    if (!ok && e != NULL)
        *e = local;
    return ok;
}

static bool list_collections(store_t *s, const bson_t *filter,
                             bool (*fn)(const char *name, void *ud), void *ud, struct error *e)
{
    struct store__conn c = store__conn_open(s, NULL);
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
        ok = store__fail(e, &be, "list collections");
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_database_destroy(db);
    store__conn_close(&c);
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
    bool ok = store__run_command(s, s->db, cmd, "collection create", e);
    bson_destroy(cmd);
    return ok;
}
