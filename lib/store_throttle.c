/* store_throttle.c — the throttling events: one document per counted
 * attempt, so that concurrent increments cannot be lost (lib/throttle.h). */
#include <mongoc/mongoc.h>
#include <string.h>

#include "store-private.h"

bool store_throttle_reserve(store_t *s, const char *const *keys, size_t n, int64_t now,
                            int64_t expires_at, char (*ids)[ID_BUF], struct error *e)
{
    struct store__conn c = store__conn_open(s, C_THROTTLE);
    bson_t *docs[THROTTLE_KEYS_MAX];
    for (size_t i = 0; i < n && i < THROTTLE_KEYS_MAX; i++) {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        bson_oid_to_string(&oid, ids[i]);
        docs[i] = BCON_NEW("_id", BCON_OID(&oid), "key", BCON_UTF8(keys[i]), "at",
                           BCON_DATE_TIME(now), "expires_at", BCON_DATE_TIME(expires_at));
    }
    bson_error_t be;
    bson_t reply;
    bool ok = mongoc_collection_insert_many(c.coll, (const bson_t **)docs, n, NULL, &reply, &be);
    bson_destroy(&reply);
    for (size_t i = 0; i < n && i < THROTTLE_KEYS_MAX; i++)
        bson_destroy(docs[i]);
    store__conn_close(&c);
    return ok || store__fail(e, &be, "throttle reserve");
}

static void key_count_from_doc(const bson_t *doc, void *out)
{
    struct store__key_count *kc = out;
    bson_iter_t it;
    kc->key[0] = '\0';
    kc->n = 0;
    if (bson_iter_init_find(&it, doc, "_id"))
        store__copy_utf8(&it, kc->key, sizeof kc->key);
    if (bson_iter_init_find(&it, doc, "n"))
        kc->n = bson_iter_as_int64(&it);
}

bool store_throttle_counts(store_t *s, const char *const *keys, size_t n, int64_t since,
                           int64_t *counts, struct error *e)
{
    bson_t pipeline = BSON_INITIALIZER, stages, match, in, group;
    BSON_APPEND_ARRAY_BEGIN(&pipeline, "pipeline", &stages);
    BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &match);
    bson_t m;
    BSON_APPEND_DOCUMENT_BEGIN(&match, "$match", &m);
    bson_t kin;
    BSON_APPEND_DOCUMENT_BEGIN(&m, "key", &kin);
    BSON_APPEND_ARRAY_BEGIN(&kin, "$in", &in);
    for (size_t i = 0; i < n; i++) {
        char buf[16];
        const char *index;
        bson_uint32_to_string((uint32_t)i, &index, buf, sizeof buf);
        BSON_APPEND_UTF8(&in, index, keys[i]);
    }
    bson_append_array_end(&kin, &in);
    bson_append_document_end(&m, &kin);
    BCON_APPEND(&m, "at", "{", "$gt", BCON_DATE_TIME(since), "}");
    bson_append_document_end(&match, &m);
    bson_append_document_end(&stages, &match);
    BSON_APPEND_DOCUMENT_BEGIN(&stages, "1", &group);
    BCON_APPEND(&group, "$group", "{", "_id", BCON_UTF8("$key"), "n", "{", "$sum", BCON_INT32(1),
                "}", "}");
    bson_append_document_end(&stages, &group);
    bson_append_array_end(&pipeline, &stages);

    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    struct store__conn c = store__conn_open(s, C_THROTTLE);
    mongoc_cursor_t *cur =
        mongoc_collection_aggregate(c.coll, MONGOC_QUERY_NONE, &pipeline, NULL, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        struct store__key_count kc;
        key_count_from_doc(doc, &kc);
        for (size_t i = 0; i < n; i++)
            if (strcmp(kc.key, keys[i]) == 0)
                counts[i] = kc.n;
    }
    bson_error_t be;
    bool ok = !mongoc_cursor_error(cur, &be) || store__fail(e, &be, "throttle count");
    mongoc_cursor_destroy(cur);
    store__conn_close(&c);
    bson_destroy(&pipeline);
    return ok;
}

static void at_from_doc(const bson_t *doc, void *out)
{
    bson_iter_t it;
    *(int64_t *)out = bson_iter_init_find(&it, doc, "at") ? store__get_time(&it) : 0;
}

bool store_throttle_nth(store_t *s, const char *key, int64_t since, int64_t skip, int64_t *at,
                        struct error *e)
{
    *at = 0;
    bson_t *filter = BCON_NEW("key", BCON_UTF8(key), "at", "{", "$gt", BCON_DATE_TIME(since), "}");
    bson_t *opts = BCON_NEW("sort", "{", "at", BCON_INT32(1), "}", "skip", BCON_INT64(skip),
                            "limit", BCON_INT64(1));
    size_t n = 0;
    bool ok = store__find_many(s, C_THROTTLE, filter, opts, sizeof *at, at_from_doc, at, 1, &n,
                               "throttle oldest", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_throttle_release(store_t *s, const char (*ids)[ID_BUF], size_t n, const char *clear_key,
                            struct error *e)
{
    bson_t filter = BSON_INITIALIZER, or ;
    BSON_APPEND_ARRAY_BEGIN(&filter, "$or", & or);
    bson_t ids_doc;
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &ids_doc);
    store__append_in_ids(&ids_doc, "_id", ids, n);
    bson_append_document_end(& or, &ids_doc);
    if (clear_key != NULL)
        BCON_APPEND(& or, "1", "{", "key", BCON_UTF8(clear_key), "}");
    bson_append_array_end(&filter, & or);
    bool ok = store__write_op(s, C_THROTTLE, STORE__DELETE_MANY, &filter, NULL, NULL,
                              "throttle release", e);
    bson_destroy(&filter);
    return ok;
}
