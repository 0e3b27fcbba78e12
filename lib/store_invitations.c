/* store_invitations.c — invitations to join an org. Only the SHA-256 of an
 * invitation's token is stored.
 *
 * pending_key is what keeps one invitation pending per (org, e-mail) in
 * the database itself: "<org id>:<e-mail>" while the invitation is pending
 * or being accepted, its own id once it has ended, under a unique index.
 * The field is always there (FerretDB has no sparse or partial indexes),
 * and it changes in the same guarded write as the status. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
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
        } else if (strcmp(k, F_PENDING) == 0) {
            store__read_pending(&it, &v->pending);
        } else if (strcmp(k, "version") == 0) {
            v->version = bson_iter_as_int64(&it);
        }
    }
}

/* The pending slot of (org, e-mail) while an invitation holds it. */
static void slot_key(const char *org_id, const char *email, char out[ID_BUF + EMAIL_BUF + 1])
{
    snprintf(out, ID_BUF + EMAIL_BUF + 1, "%s:%s", org_id, email);
}

/* pending_key for an invitation in `status`: the slot, or its own id. */
static void pending_key_of(const struct invitation *v, enum invitation_status status,
                           char out[ID_BUF + EMAIL_BUF + 1])
{
    if (status == INV_PENDING || status == INV_ACCEPTING)
        slot_key(v->org_id, v->email, out);
    else
        memcpy(out, v->id, ID_BUF);
}

bool store_invitation_insert(store_t *s, const struct invitation *v, const struct pending_list *ev,
                             struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    char key[ID_BUF + EMAIL_BUF + 1];
    pending_key_of(v, v->status, key);
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", v->id);
    store__append_oid(&doc, "org_id", v->org_id);
    BCON_APPEND(&doc, "email", BCON_UTF8(v->email), "role", BCON_UTF8(role_name(v->role)));
    store__append_oid(&doc, "invited_by", v->invited_by);
    BCON_APPEND(&doc, "status", BCON_UTF8(invitation_status_name(v->status)), "pending_key",
                BCON_UTF8(key), "token_hash", BCON_UTF8(v->token_hash), "created_at",
                BCON_DATE_TIME(v->created_at), "expires_at", BCON_DATE_TIME(v->expires_at),
                "version", BCON_INT64(1));
    store__append_pending(&doc, ev);
    bool ok = store__insert(s, C_INVITATIONS, &doc, "invitation insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_invitation_holding(store_t *s, const char *org_id, const char *email,
                              struct invitation *out, bool *found, struct error *e)
{
    char key[ID_BUF + EMAIL_BUF + 1];
    slot_key(org_id, email, key);
    return store__find_by_utf8(s, C_INVITATIONS, "pending_key", key, invitation_from_doc, out,
                               found, "invitation holding", e);
}

bool store_invitation_by_hash(store_t *s, const char *token_hash, struct invitation *out,
                              bool *found, struct error *e)
{
    return store__find_by_utf8(s, C_INVITATIONS, "token_hash", token_hash, invitation_from_doc, out,
                               found, "invitation by token", e);
}

bool store_invitation_by_replaced_hash(store_t *s, const char *token_hash, struct invitation *out,
                                       bool *found, struct error *e)
{
    return store__find_by_utf8(s, C_INVITATIONS, "replaced_hashes", token_hash, invitation_from_doc,
                               out, found, "invitation by replaced token", e);
}

bool store_invitation_by_id(store_t *s, const char *id, struct invitation *out, bool *found,
                            struct error *e)
{
    return store__find_by_id(s, C_INVITATIONS, id, invitation_from_doc, out, found,
                             "invitation by id", e);
}

bool store_invitations_pending(store_t *s, const char *org_id, const char *email, int64_t now,
                               const char *before_id, struct invitation *out, size_t max, size_t *n,
                               struct error *e)
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
    if (store__oid_from(before_id, &o))
        BCON_APPEND(filter, "_id", "{", "$lt", BCON_OID(&o), "}");
    /* newest first, by id: a keyset that no insert or change moves */
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_INVITATIONS, filter, opts, sizeof *out, invitation_from_doc,
                               out, max, n, "pending invitations", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
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

bool store_invitation_move(store_t *s, const struct invitation *cur, enum invitation_status to,
                           const char *by, int64_t at, const struct pending_list *ev, bool *applied,
                           struct error *e)
{
    char key[ID_BUF + EMAIL_BUF + 1];
    pending_key_of(cur, to, key);
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BCON_APPEND(&set, "status", BCON_UTF8(invitation_status_name(to)), "pending_key",
                BCON_UTF8(key));
    if (to == INV_ACCEPTING) {
        store__append_oid(&set, "accepting_by", by);
        BSON_APPEND_DATE_TIME(&set, "accepting_at", at);
    } else if (to == INV_ACCEPTED) {
        BSON_APPEND_DATE_TIME(&set, "accepted_at", at);
    } else if (to == INV_REVOKED) {
        BSON_APPEND_DATE_TIME(&set, "ended_at", at);
    }
    store__append_pending(&set, ev);
    bson_append_document_end(&update, &set);
    bool ok = store__swap(s, C_INVITATIONS, cur->id, cur->version, &update, applied,
                          "invitation status", e);
    bson_destroy(&update);
    return ok;
}

bool store_invitation_retoken(store_t *s, const struct invitation *cur, const char *token_hash,
                              int64_t expires_at, const struct pending_list *ev, bool *applied,
                              struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BCON_APPEND(&set, "token_hash", BCON_UTF8(token_hash), "expires_at",
                BCON_DATE_TIME(expires_at));
    store__append_pending(&set, ev);
    bson_append_document_end(&update, &set);
    /* the old token stays known as replaced (a 410, not a 404); resends are
     * throttled, and the list keeps the last few */
    BCON_APPEND(&update, "$push", "{", "replaced_hashes", "{", "$each", "[",
                BCON_UTF8(cur->token_hash), "]", "$slice", BCON_INT32(-16), "}", "}");
    /* pending only: a revoke or an accept that got there first wins */
    bool ok = cur->status == INV_PENDING && store__swap(s, C_INVITATIONS, cur->id, cur->version,
                                                        &update, applied, "invitation retoken", e);
    bson_destroy(&update);
    return ok || (cur->status != INV_PENDING && !(*applied = false));
}

bool store_invitations_by_inviter(store_t *s, const char *org_id, const char *inviter_id,
                                  struct invitation *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t o, i;
    if (!store__oid_from(org_id, &o) || !store__oid_from(inviter_id, &i))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o), "invited_by", BCON_OID(&i), "status",
                              BCON_UTF8("pending"));
    bool ok = store__find_many(s, C_INVITATIONS, filter, NULL, sizeof *out, invitation_from_doc,
                               out, max, n, "invitations by inviter", e);
    bson_destroy(filter);
    return ok;
}

/* Sets pending_key on one invitation stored before it existed (as read):
 * its slot if it is pending or being accepted and the slot is free, else
 * its own id (a pending one that finds its slot taken is revoked: one
 * pending invitation per e-mail is the rule from now on). */
static bool slot_legacy(store_t *s, const struct invitation *v, struct error *e)
{
    char key[ID_BUF + EMAIL_BUF + 1];
    bool live = v->status == INV_PENDING || v->status == INV_ACCEPTING;
    bool applied = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool revoke = attempt == 1 && v->status == INV_PENDING;
        pending_key_of(v, live && attempt == 0 ? v->status : INV_REVOKED, key);
        bson_t *update = revoke ? BCON_NEW("$set", "{", "pending_key", BCON_UTF8(key), "status",
                                           BCON_UTF8("revoked"), "}")
                                : BCON_NEW("$set", "{", "pending_key", BCON_UTF8(key), "}");
        struct error le = ERROR_INIT;
        bool ok = store__swap(s, C_INVITATIONS, v->id, v->version, update, &applied,
                              "invitation slot", &le);
        bson_destroy(update);
        if (ok)
            return true; /* written, or changed meanwhile by someone who set it */
        if (le.kind != ERR_CONFLICT || !live) {
            *e = le;
            return false;
        }
    }
    return true;
}

bool store__invitations_slot_legacy(store_t *s, struct error *e)
{
    enum { BATCH = 64 };
    /* on the heap: this may run on a worker thread, whose stack is small */
    struct invitation *batch = calloc(BATCH, sizeof *batch);
    if (batch == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bson_t *filter = BCON_NEW("pending_key", "{", "$exists", BCON_BOOL(false), "}");
    bool ok = true, done = false;
    for (int round = 0; ok && !done && round < 1000; round++) { /* a stale lock holds one back */
        size_t n = 0;
        ok = store__find_many(s, C_INVITATIONS, filter, NULL, sizeof batch[0], invitation_from_doc,
                              batch, BATCH, &n, "invitations to slot", e);
        for (size_t i = 0; ok && i < n; i++)
            ok = slot_legacy(s, &batch[i], e);
        done = n < BATCH;
    }
    bson_destroy(filter);
    free(batch);
    if (ok && !done)
        return error_set(e, ERR_UNAVAILABLE, "invitations are still being upgraded; retry shortly");
    return ok;
}
