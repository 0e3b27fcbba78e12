/* store_sessions.c — sessions and the record of rotated refresh tokens
 * (session_rotations, whose unique _id decides every race on a session). */
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
            store__copy_oid(&it, x->account_id);
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
    store__append_oid(&doc, "admin_id", x->account_id);
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

bool store_session_by_id(store_t *s, const char *id, struct session *out, bool *found,
                         struct error *e)
{
    return store__find_by_id(s, C_SESSIONS, id, session_from_doc, out, found, "session by id", e);
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

bool store_session_revoke(store_t *s, const char *id, const char *account_id, enum session_end why,
                          int64_t now, bool *revoked, struct error *e)
{
    *revoked = false;
    bson_oid_t oid, a;
    if (!store__oid_from(id, &oid) || !store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "admin_id", BCON_OID(&a));
    int64_t n = 0;
    bool ok = revoke_where(s, filter, why, now, &n, "session revoke", e);
    bson_destroy(filter);
    *revoked = n > 0;
    return ok;
}

bool store_sessions_revoke_others(store_t *s, const char *account_id, const char *except_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a, x;
    if (!store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    if (store__oid_from(except_id, &x))
        BCON_APPEND(filter, "_id", "{", "$ne", BCON_OID(&x), "}");
    bool ok = revoke_where(s, filter, why, now, n, "sessions revoke", e);
    bson_destroy(filter);
    return ok;
}

bool store_sessions_revoke_in_org(store_t *s, const char *account_id, const char *org_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a, o;
    if (!store__oid_from(account_id, &a) || !store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = revoke_where(s, filter, why, now, n, "sessions revoke in org", e);
    bson_destroy(filter);
    return ok;
}

bool store_sessions_live(store_t *s, const char *account_id, int64_t now, const char *before_id,
                         struct session *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a, b;
    if (!store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "status", BCON_UTF8("active"), "expires_at",
                              "{", "$gt", BCON_DATE_TIME(now), "}");
    if (store__oid_from(before_id, &b))
        BCON_APPEND(filter, "_id", "{", "$lt", BCON_OID(&b), "}");
    /* the newest sign-in first, by id: a keyset that no refresh moves */
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_SESSIONS, filter, opts, sizeof *out, session_from_doc, out, max,
                               n, "live sessions", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_sessions_delete_account(store_t *s, const char *account_id, struct error *e)
{
    return store__delete_by_oid(s, C_SESSIONS, "admin_id", account_id, "sessions delete by account",
                                e);
}

bool store_session_delete(store_t *s, const char *id, struct error *e)
{
    return store__delete_by_oid(s, C_SESSIONS, "_id", id, "session delete", e);
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
    struct claim_seen c = {0};
    if (!store__find_by_utf8(s, C_ROTATIONS, "_id", hash, claim_from_doc, &c, found,
                             "claim by hash", e))
        return false;
    *by_end = c.by_end;
    *at = c.at;
    return true;
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
    return store__find_by_utf8(s, C_ROTATIONS, "_id", hash, session_id_from_doc, session_id, found,
                               "rotation by hash", e);
}
