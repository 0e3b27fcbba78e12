/* store_invitations.c — invitations to join an org. Only the SHA-256 of an
 * invitation's token is stored. */
#include <mongoc/mongoc.h>
#include <string.h>

#include "store-private.h"

static void invitation_from_doc(const bson_t *doc, void *out)
{
    struct invitation *v = out;
    memset(v, 0, sizeof *v);
    v->role = ROLE_MEMBER;
    v->status = INV_REVOKED; /* unknown: refuse */
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char text[16];
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, v->id);
        } else if (strcmp(k, "org_id") == 0) {
            store__copy_oid(&it, v->org_id);
        } else if (strcmp(k, "email") == 0) {
            store__copy_utf8(&it, v->email, sizeof v->email);
        } else if (strcmp(k, "role") == 0) {
            store__copy_utf8(&it, text, sizeof text);
            if (!role_parse(text, &v->role))
                v->role = ROLE_MEMBER;
        } else if (strcmp(k, "invited_by") == 0) {
            store__copy_oid(&it, v->invited_by);
        } else if (strcmp(k, "status") == 0) {
            store__copy_utf8(&it, text, sizeof text);
            if (!invitation_status_parse(text, &v->status))
                v->status = INV_REVOKED;
        } else if (strcmp(k, "token_hash") == 0) {
            store__copy_utf8(&it, v->token_hash, sizeof v->token_hash);
        } else if (strcmp(k, "created_at") == 0) {
            v->created_at = store__get_time(&it);
        } else if (strcmp(k, "expires_at") == 0) {
            v->expires_at = store__get_time(&it);
        } else if (strcmp(k, "accepted_at") == 0) {
            v->accepted_at = store__get_time(&it);
        } else if (strcmp(k, "accepting_by") == 0) {
            store__copy_oid(&it, v->accepting_by);
        } else if (strcmp(k, "accepting_at") == 0) {
            v->accepting_at = store__get_time(&it);
        }
    }
}

bool store_invitation_insert(store_t *s, const struct invitation *v, struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", v->id);
    store__append_oid(&doc, "org_id", v->org_id);
    BCON_APPEND(&doc, "email", BCON_UTF8(v->email), "role", BCON_UTF8(role_name(v->role)));
    store__append_oid(&doc, "invited_by", v->invited_by);
    BCON_APPEND(&doc, "status", BCON_UTF8(invitation_status_name(v->status)), "token_hash",
                BCON_UTF8(v->token_hash), "created_at", BCON_DATE_TIME(v->created_at), "expires_at",
                BCON_DATE_TIME(v->expires_at));
    bool ok = store__insert(s, C_INVITATIONS, &doc, "invitation insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_invitation_by_hash(store_t *s, const char *token_hash, struct invitation *out,
                              struct error *e)
{
    return store__find_by_utf8(s, C_INVITATIONS, "token_hash", token_hash, invitation_from_doc, out,
                               "invitation by token", e);
}

bool store_invitation_by_id(store_t *s, const char *id, struct invitation *out, struct error *e)
{
    return store__find_by_id(s, C_INVITATIONS, id, invitation_from_doc, out, "invitation by id", e);
}

bool store_invitations_pending(store_t *s, const char *org_id, const char *email, int64_t now,
                               struct invitation *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_t *filter = BCON_NEW("status", BCON_UTF8("pending"), "expires_at", "{", "$gt",
                              BCON_DATE_TIME(now), "}");
    bson_oid_t o;
    if (org_id != NULL) {
        if (!store__oid_from(org_id, &o)) {
            bson_destroy(filter);
            return true;
        }
        BSON_APPEND_OID(filter, "org_id", &o);
    }
    if (email != NULL)
        BSON_APPEND_UTF8(filter, "email", email);
    bson_t *opts =
        BCON_NEW("sort", "{", "created_at", BCON_INT32(-1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_INVITATIONS, filter, opts, sizeof *out, invitation_from_doc,
                               out, max, n, "pending invitations", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_invitation_begin_accept(store_t *s, const char *id, const char *admin_id, int64_t at,
                                   bool *applied, struct error *e)
{
    *applied = false;
    bson_oid_t oid, a;
    if (!store__oid_from(id, &oid) || !store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("pending"));
    bson_t *update = BCON_NEW("$set", "{", "status", BCON_UTF8("accepting"), "accepting_by",
                              BCON_OID(&a), "accepting_at", BCON_DATE_TIME(at), "}");
    return store__update_one(s, C_INVITATIONS, filter, update, applied, "invitation accept", e);
}

bool store_invitations_stuck(store_t *s, int64_t before_ms, struct invitation *out, size_t max,
                             size_t *n, struct error *e)
{
    bson_t *filter = BCON_NEW("status", BCON_UTF8("accepting"), "accepting_at", "{", "$lt",
                              BCON_DATE_TIME(before_ms), "}");
    bool ok = store__find_many(s, C_INVITATIONS, filter, NULL, sizeof *out, invitation_from_doc,
                               out, max, n, "invitations stuck", e);
    bson_destroy(filter);
    return ok;
}

bool store_invitation_set_status(store_t *s, const char *id, enum invitation_status from,
                                 enum invitation_status to, int64_t at, bool *applied,
                                 struct error *e)
{
    *applied = false;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter =
        BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8(invitation_status_name(from)));
    bson_t *update =
        BCON_NEW("$set", "{", "status", BCON_UTF8(invitation_status_name(to)),
                 to == INV_ACCEPTED ? "accepted_at" : "ended_at", BCON_DATE_TIME(at), "}");
    return store__update_one(s, C_INVITATIONS, filter, update, applied, "invitation status", e);
}

bool store_invitations_revoke_pending(store_t *s, const char *org_id, const char *email, int64_t at,
                                      int64_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t o;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter =
        BCON_NEW("org_id", BCON_OID(&o), "email", BCON_UTF8(email), "status", BCON_UTF8("pending"));
    bson_t *update =
        BCON_NEW("$set", "{", "status", BCON_UTF8("revoked"), "ended_at", BCON_DATE_TIME(at), "}");
    bool ok = store__write_op(s, C_INVITATIONS, STORE__UPDATE_MANY, filter, update, n,
                              "invitations replace", e);
    bson_destroy(filter);
    bson_destroy(update);
    return ok;
}
