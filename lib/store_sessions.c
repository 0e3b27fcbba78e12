/* store_sessions.c — sessions, the record of rotated refresh tokens, and
 * the throttling events. */
#include <mongoc/mongoc.h>
#include <string.h>

#include "store-private.h"

static void session_from_doc(const bson_t *doc, void *out)
{
    struct session *x = out;
    memset(x, 0, sizeof *x);
    x->status = SESSION_REVOKED; /* unknown: refuse */
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, x->id);
        } else if (strcmp(k, "admin_id") == 0) {
            store__copy_oid(&it, x->admin_id);
        } else if (strcmp(k, "org_id") == 0) {
            store__copy_oid(&it, x->org_id);
        } else if (strcmp(k, "refresh_hash") == 0) {
            store__copy_utf8(&it, x->refresh_hash, sizeof x->refresh_hash);
        } else if (strcmp(k, "previous_hash") == 0) {
            store__copy_utf8(&it, x->previous_hash, sizeof x->previous_hash);
        } else if (strcmp(k, "rotation_key") == 0) {
            store__copy_utf8(&it, x->rotation_key, sizeof x->rotation_key);
        } else if (strcmp(k, "status") == 0) {
            char st[16];
            store__copy_utf8(&it, st, sizeof st);
            x->status = strcmp(st, "active") == 0 ? SESSION_ACTIVE : SESSION_REVOKED;
        } else if (strcmp(k, "created_at") == 0) {
            x->created_at = store__get_time(&it);
        } else if (strcmp(k, "last_used_at") == 0) {
            x->last_used_at = store__get_time(&it);
        } else if (strcmp(k, "expires_at") == 0) {
            x->expires_at = store__get_time(&it);
        } else if (strcmp(k, "client_address") == 0) {
            store__copy_utf8(&it, x->client_address, sizeof x->client_address);
        }
    }
}

bool store_session_insert(store_t *s, const struct session *x, struct error *e)
{
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", x->id);
    store__append_oid(&doc, "admin_id", x->admin_id);
    store__append_oid(&doc, "org_id", x->org_id); /* nothing for account scope */
    if (x->rotation_key[0] != '\0')
        BSON_APPEND_UTF8(&doc, "rotation_key", x->rotation_key);
    BCON_APPEND(&doc, "refresh_hash", BCON_UTF8(x->refresh_hash), "status", BCON_UTF8("active"),
                "created_at", BCON_DATE_TIME(x->created_at), "last_used_at",
                BCON_DATE_TIME(x->last_used_at), "expires_at", BCON_DATE_TIME(x->expires_at),
                "client_address", BCON_UTF8(x->client_address));
    bool ok = store__insert(s, C_SESSIONS, &doc, "session insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_session_by_id(store_t *s, const char *id, struct session *out, struct error *e)
{
    return store__find_by_id(s, C_SESSIONS, id, session_from_doc, out, "session by id", e);
}

bool store_session_rotate(store_t *s, const char *id, const char *old_hash, const char *new_hash,
                          int64_t now, const char *client, bool *applied, struct error *e)
{
    *applied = false;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "refresh_hash", BCON_UTF8(old_hash), "status",
                              BCON_UTF8("active"));
    bson_t *update = BCON_NEW("$set", "{", "refresh_hash", BCON_UTF8(new_hash), "previous_hash",
                              BCON_UTF8(old_hash), "last_used_at", BCON_DATE_TIME(now),
                              "client_address", BCON_UTF8(client), "}");
    return store__update_one(s, C_SESSIONS, filter, update, applied, "session rotate", e);
}

/* Revokes the active sessions matching filter (with status: active added). */
static bool revoke_where(store_t *s, bson_t *filter, enum session_end why, int64_t now, int64_t *n,
                         const char *what, struct error *e)
{
    BSON_APPEND_UTF8(filter, "status", "active");
    bson_t *update =
        BCON_NEW("$set", "{", "status", BCON_UTF8("revoked"), "ended_reason",
                 BCON_UTF8(session_end_name(why)), "ended_at", BCON_DATE_TIME(now), "}");
    int64_t matched = 0;
    bool ok = store__write_op(s, C_SESSIONS, STORE__UPDATE_MANY, filter, update, &matched, what, e);
    bson_destroy(update);
    if (n != NULL)
        *n = ok ? matched : 0;
    return ok;
}

bool store_session_revoke(store_t *s, const char *id, const char *admin_id, enum session_end why,
                          int64_t now, bool *revoked, struct error *e)
{
    *revoked = false;
    bson_oid_t oid, a;
    if (!store__oid_from(id, &oid) || !store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "admin_id", BCON_OID(&a));
    int64_t n = 0;
    bool ok = revoke_where(s, filter, why, now, &n, "session revoke", e);
    bson_destroy(filter);
    *revoked = n > 0;
    return ok;
}

bool store_sessions_revoke_others(store_t *s, const char *admin_id, const char *except_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a, x;
    if (!store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    if (store__oid_from(except_id, &x))
        BCON_APPEND(filter, "_id", "{", "$ne", BCON_OID(&x), "}");
    bool ok = revoke_where(s, filter, why, now, n, "sessions revoke", e);
    bson_destroy(filter);
    return ok;
}

bool store_sessions_revoke_in_org(store_t *s, const char *admin_id, const char *org_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a, o;
    if (!store__oid_from(admin_id, &a) || !store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = revoke_where(s, filter, why, now, n, "sessions revoke in org", e);
    bson_destroy(filter);
    return ok;
}

bool store_sessions_live(store_t *s, const char *admin_id, int64_t now, struct session *out,
                         size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "status", BCON_UTF8("active"), "expires_at",
                              "{", "$gt", BCON_DATE_TIME(now), "}");
    bson_t *opts = BCON_NEW("sort", "{", "last_used_at", BCON_INT32(-1), "}", "limit",
                            BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_SESSIONS, filter, opts, sizeof *out, session_from_doc, out, max,
                               n, "live sessions", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

/* Deletes the sessions whose `field` is the ObjectId hex. */
static bool delete_by(store_t *s, const char *field, const char *hex, const char *what,
                      struct error *e)
{
    bson_oid_t o;
    if (!store__oid_from(hex, &o))
        return true;
    bson_t *filter = BCON_NEW(field, BCON_OID(&o));
    bool ok = store__write_op(s, C_SESSIONS, STORE__DELETE_MANY, filter, NULL, NULL, what, e);
    bson_destroy(filter);
    return ok;
}

bool store_sessions_delete_admin(store_t *s, const char *admin_id, struct error *e)
{
    return delete_by(s, "admin_id", admin_id, "sessions delete by admin", e);
}

bool store_session_delete(store_t *s, const char *id, struct error *e)
{
    return delete_by(s, "_id", id, "session delete", e);
}

bool store_session_each(store_t *s, bool (*fn)(const struct session *x, void *ud), void *ud,
                        struct error *e)
{
    bson_t *opts = BCON_NEW("projection", "{", "refresh_hash", BCON_INT32(0), "rotation_key",
                            BCON_INT32(0), "}");
    struct store__cursor c = store__find(s, C_SESSIONS, NULL, opts);
    struct session x;
    while (store__cursor_next(&c, session_from_doc, &x) && fn(&x, ud))
        ;
    bool ok = store__cursor_close(&c, "session list", e);
    bson_destroy(opts);
    return ok;
}

/* ---- rotations: the hashes of refresh tokens rotated away ---- */

static bool claim(store_t *s, const char *hash, const char *session_id, int64_t now,
                  int64_t expires_at, bool by_end, bool *won, struct error *e)
{
    *won = false;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", hash);
    store__append_oid(&doc, "session_id", session_id);
    BCON_APPEND(&doc, "rotated_at", BCON_DATE_TIME(now), "expires_at", BCON_DATE_TIME(expires_at));
    if (by_end)
        BSON_APPEND_BOOL(&doc, "by_end", true);
    bson_error_t be;
    bool ok = store__insert_raw(s, C_ROTATIONS, &doc, &be);
    bson_destroy(&doc);
    if (ok) {
        *won = true;
        return true;
    }
    if (store__classify(&be) == ERR_CONFLICT)
        return true; /* someone rotated this token first */
    return store__fail(e, &be, "rotation claim");
}

bool store_rotation_claim(store_t *s, const char *hash, const char *session_id, int64_t now,
                          int64_t expires_at, bool *won, struct error *e)
{
    return claim(s, hash, session_id, now, expires_at, false, won, e);
}

bool store_rotation_claim_end(store_t *s, const char *hash, const char *session_id, int64_t now,
                              int64_t expires_at, bool *won, struct error *e)
{
    return claim(s, hash, session_id, now, expires_at, true, won, e);
}

struct claim_seen {
    bool by_end;
    int64_t at;
};

static void claim_from_doc(const bson_t *doc, void *out)
{
    struct claim_seen *c = out;
    bson_iter_t it;
    c->by_end =
        bson_iter_init_find(&it, doc, "by_end") && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
    c->at = bson_iter_init_find(&it, doc, "rotated_at") ? store__get_time(&it) : 0;
}

bool store_rotation_claim_of(store_t *s, const char *hash, bool *by_end, int64_t *at, bool *found,
                             struct error *e)
{
    *found = false;
    struct claim_seen c = {0};
    struct error le = ERROR_INIT;
    if (store__find_by_utf8(s, C_ROTATIONS, "_id", hash, claim_from_doc, &c, "claim by hash",
                            &le)) {
        *found = true;
        *by_end = c.by_end;
        *at = c.at;
        return true;
    }
    return error_absent(e, &le);
}

static void session_id_from_doc(const bson_t *doc, void *out)
{
    char *id = out;
    bson_iter_t it;
    id[0] = '\0';
    if (bson_iter_init_find(&it, doc, "session_id"))
        store__copy_oid(&it, id);
}

bool store_rotation_session(store_t *s, const char *hash, char session_id[ID_BUF], bool *found,
                            struct error *e)
{
    *found = false;
    struct error le = ERROR_INIT;
    if (store__find_by_utf8(s, C_ROTATIONS, "_id", hash, session_id_from_doc, session_id,
                            "rotation by hash", &le)) {
        *found = true;
        return true;
    }
    return error_absent(e, &le);
}

/* ---- throttling events ---- */

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
