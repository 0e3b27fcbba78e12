/* store_orgs.c — organization documents. Every change to one is a guarded
 * transition (store__swap in store.c). */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store-private.h"
#include "util.h"

static void org_op_append(bson_t *b, const struct org_op *op)
{
    bson_t d;
    BSON_APPEND_DOCUMENT_BEGIN(b, "op", &d);
    BSON_APPEND_DATE_TIME(&d, "started_at", op->started_at);
    BSON_APPEND_DATE_TIME(&d, "touched_at", op->touched_at);
    BSON_APPEND_UTF8(&d, "claimed_by", op->claimed_by);
    BSON_APPEND_UTF8(&d, "from_name", op->from_name);
    BSON_APPEND_UTF8(&d, "from_display_name", op->from_display_name);
    BSON_APPEND_UTF8(&d, "from_key", op->from_key);
    BSON_APPEND_UTF8(&d, "from_collection", op->from_collection);
    BSON_APPEND_UTF8(&d, "to_collection", op->to_collection);
    bson_append_document_end(b, &d);
}

static void org_from_doc(const bson_t *doc, void *out)
{
    struct org *o = out;
    memset(o, 0, sizeof *o);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, o->id);
        } else if (strcmp(k, "name") == 0) {
            store__copy_utf8(&it, o->name, sizeof o->name);
        } else if (strcmp(k, "display_name") == 0) {
            store__copy_utf8(&it, o->display_name, sizeof o->display_name);
        } else if (strcmp(k, "name_key") == 0) {
            store__copy_utf8(&it, o->name_key, sizeof o->name_key);
        } else if (strcmp(k, "collection") == 0) {
            store__copy_utf8(&it, o->collection, sizeof o->collection);
        } else if (strcmp(k, "owner_id") == 0) {
            store__copy_oid(&it, o->owner_id);
        } else if (strcmp(k, "owner_email") == 0) {
            store__copy_utf8(&it, o->owner_email, sizeof o->owner_email);
        } else if (strcmp(k, "state") == 0) {
            char st[16];
            store__copy_utf8(&it, st, sizeof st);
            if (!org_state_parse(st, &o->state))
                o->state = ORG_CREATING; /* unknown: never shown as active */
        } else if (strcmp(k, "created_at") == 0) {
            o->created_at = store__get_time(&it);
        } else if (strcmp(k, "updated_at") == 0) {
            o->updated_at = store__get_time(&it);
        } else if (strcmp(k, F_PENDING) == 0) {
            store__read_pending(&it, &o->pending);
        } else if (strcmp(k, "version") == 0) {
            o->version = bson_iter_as_int64(&it);
        } else if (strcmp(k, "op") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t op;
            o->has_op = true;
            bson_iter_recurse(&it, &op);
            while (bson_iter_next(&op)) {
                const char *ok = bson_iter_key(&op);
                if (strcmp(ok, "started_at") == 0)
                    o->op.started_at = store__get_time(&op);
                else if (strcmp(ok, "touched_at") == 0)
                    o->op.touched_at = store__get_time(&op);
                else if (strcmp(ok, "claimed_by") == 0)
                    store__copy_utf8(&op, o->op.claimed_by, sizeof o->op.claimed_by);
                else if (strcmp(ok, "from_name") == 0)
                    store__copy_utf8(&op, o->op.from_name, sizeof o->op.from_name);
                else if (strcmp(ok, "from_display_name") == 0)
                    store__copy_utf8(&op, o->op.from_display_name, sizeof o->op.from_display_name);
                else if (strcmp(ok, "from_key") == 0)
                    store__copy_utf8(&op, o->op.from_key, sizeof o->op.from_key);
                else if (strcmp(ok, "from_collection") == 0)
                    store__copy_utf8(&op, o->op.from_collection, sizeof o->op.from_collection);
                else if (strcmp(ok, "to_collection") == 0)
                    store__copy_utf8(&op, o->op.to_collection, sizeof o->op.to_collection);
            }
        }
    }
    if (o->display_name[0] == '\0') /* stored before display names: the name is all it has */
        memcpy(o->display_name, o->name, NAME_BUF);
}

static void org_fields_append(bson_t *b, const struct org *o)
{
    BSON_APPEND_UTF8(b, "name", o->name);
    BSON_APPEND_UTF8(b, "display_name", o->display_name[0] != '\0' ? o->display_name : o->name);
    BSON_APPEND_UTF8(b, "name_key", o->name_key);
    BSON_APPEND_UTF8(b, "collection", o->collection);
    BSON_APPEND_UTF8(b, "state", org_state_name(o->state));
    BSON_APPEND_DATE_TIME(b, "updated_at", o->updated_at);
    store__append_oid(b, "owner_id", o->owner_id);
    BSON_APPEND_UTF8(b, "owner_email", o->owner_email);
}

bool store_org_insert(store_t *s, const struct org *o, const char *description, struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", o->id);
    org_fields_append(&doc, o);
    BSON_APPEND_UTF8(&doc, "description", description != NULL ? description : "");
    BSON_APPEND_DATE_TIME(&doc, "created_at", o->created_at);
    BSON_APPEND_INT64(&doc, "version", o->version);
    if (o->has_op)
        org_op_append(&doc, &o->op);
    bool ok = store__insert(s, C_ORGS, &doc, "org insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_org_by_key(store_t *s, const char *name_key, struct org *out, bool *found,
                      struct error *e)
{
    return store__find_by_utf8(s, C_ORGS, "name_key", name_key, org_from_doc, out, found,
                               "org by name", e);
}

bool store_org_by_id(store_t *s, const char *id, struct org *out, bool *found, struct error *e)
{
    return store__find_by_id(s, C_ORGS, id, org_from_doc, out, found, "org by id", e);
}

/* An org and its description, from one document. */
struct described {
    struct org *org;
    char *description;
    size_t cap;
};

static void described_from_doc(const bson_t *doc, void *out)
{
    struct described *d = out;
    org_from_doc(doc, d->org);
    bson_iter_t it;
    d->description[0] = '\0';
    if (bson_iter_init_find(&it, doc, "description"))
        store__copy_utf8(&it, d->description, d->cap);
}

static void org_described_from_doc(const bson_t *doc, void *out)
{
    struct org_described *d = out;
    struct described into = {&d->org, d->description, sizeof d->description};
    described_from_doc(doc, &into);
}

bool store_orgs_by_ids(store_t *s, const char (*ids)[ID_BUF], size_t n, struct org_described *out,
                       size_t *found, struct error *e)
{
    *found = 0;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER;
    store__append_in_ids(&filter, "_id", ids, n);
    bool ok = store__find_many(s, C_ORGS, &filter, NULL, sizeof *out, org_described_from_doc, out,
                               n, found, "orgs by ids", e);
    bson_destroy(&filter);
    return ok;
}

bool store_org_by_key_described(store_t *s, const char *name_key, struct org *out,
                                char *description, size_t cap, bool *found, struct error *e)
{
    struct described d = {out, description, cap};
    return store__find_by_utf8(s, C_ORGS, "name_key", name_key, described_from_doc, &d, found,
                               "org by name", e);
}

bool store_org_by_id_described(store_t *s, const char *id, struct org *out, char *description,
                               size_t cap, bool *found, struct error *e)
{
    struct described d = {out, description, cap};
    return store__find_by_id(s, C_ORGS, id, described_from_doc, &d, found, "org by id", e);
}

bool store_org_swap(store_t *s, const struct org *cur, struct org *next, bool *applied,
                    struct error *e)
{
    return store_org_swap_described(s, cur, next, NULL, NULL, applied, e);
}

bool store_org_swap_described(store_t *s, const struct org *cur, struct org *next,
                              const char *description, const struct pending_list *ev, bool *applied,
                              struct error *e)
{
    next->version = cur->version + 1;
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    org_fields_append(&set, next);
    if (description != NULL)
        BSON_APPEND_UTF8(&set, "description", description);
    store__append_pending(&set, ev);
    if (next->has_op)
        org_op_append(&set, &next->op);
    bson_append_document_end(&update, &set);
    if (!next->has_op) {
        bson_t unset;
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
        BSON_APPEND_UTF8(&unset, "op", "");
        bson_append_document_end(&update, &unset);
    }
    bool ok = store__swap(s, C_ORGS, cur->id, cur->version, &update, applied, "org swap", e);
    bson_destroy(&update);
    return ok;
}

bool store_org_delete(store_t *s, const char *id, int64_t version, bool *applied, struct error *e)
{
    return store__swap(s, C_ORGS, id, version, NULL, applied, "org delete", e);
}

bool store_org_claiming(store_t *s, const char *collection, const char *except_id, bool *claimed,
                        struct error *e)
{
    *claimed = true; /* until the database says otherwise */
    bson_t *filter = BCON_NEW("$or", "[", "{", "collection", BCON_UTF8(collection), "}", "{",
                              "op.from_collection", BCON_UTF8(collection), "}", "{",
                              "op.to_collection", BCON_UTF8(collection), "}", "]");
    bson_oid_t oid;
    if (except_id != NULL && store__oid_from(except_id, &oid))
        BCON_APPEND(filter, "_id", "{", "$ne", BCON_OID(&oid), "}");
    int64_t n = 0;
    bool ok = store__count(s, C_ORGS, filter, &n, "org claim count", e);
    bson_destroy(filter);
    if (ok)
        *claimed = n > 0;
    return ok;
}

bool store_orgs_owned_by(store_t *s, const char *account_id, struct org *out, size_t max, size_t *n,
                         struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("owner_id", BCON_OID(&a));
    bool ok = store__find_many(s, C_ORGS, filter, NULL, sizeof *out, org_from_doc, out, max, n,
                               "orgs owned by", e);
    bson_destroy(filter);
    return ok;
}

bool store_org_each(store_t *s, bool (*fn)(const struct org *o, void *ud), void *ud,
                    struct error *e)
{
    struct store__cursor c = store__find(s, C_ORGS, NULL, NULL);
    struct org o;
    while (store__cursor_next(&c, org_from_doc, &o) && fn(&o, ud))
        ;
    return store__cursor_close(&c, "org list", e);
}

bool store_org_stuck(store_t *s, int64_t before_ms, struct org *out, size_t max, size_t *n,
                     struct error *e)
{
    bson_t *filter = BCON_NEW("state", "{", "$ne", BCON_UTF8("active"), "}", "op.touched_at", "{",
                              "$lt", BCON_DATE_TIME(before_ms), "}");
    bool ok = store__find_many(s, C_ORGS, filter, NULL, sizeof *out, org_from_doc, out, max, n,
                               "org stuck", e);
    bson_destroy(filter);
    return ok;
}

static void state_count_from_doc(const bson_t *doc, void *out)
{
    long *counts = out;
    bson_iter_t it;
    char state[16] = "";
    enum org_state st;
    if (bson_iter_init_find(&it, doc, "_id"))
        store__copy_utf8(&it, state, sizeof state);
    if (org_state_parse(state, &st) && bson_iter_init_find(&it, doc, "n"))
        counts[st] = (long)bson_iter_as_int64(&it);
}

bool store_org_count_by_state(store_t *s, long counts[ORG_STATE_COUNT], struct error *e)
{
    memset(counts, 0, sizeof(long) * ORG_STATE_COUNT);
    /* one command: the states grouped, rather than a count per state */
    bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$group", "{", "_id", BCON_UTF8("$state"),
                                "n", "{", "$sum", BCON_INT32(1), "}", "}", "}", "]");
    struct store__conn c = store__conn_open(s, C_ORGS);
    mongoc_cursor_t *cur =
        mongoc_collection_aggregate(c.coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc))
        state_count_from_doc(doc, counts);
    bson_error_t be;
    bool ok = !mongoc_cursor_error(cur, &be);
    if (!ok) {
        /* counted, not logged: this runs every second, and a database that
         * is down says so in the log through every request that needs it */
        enum err_kind kind = store__classify(&be);
        metrics_mongo_error(kind);
        error_set(e, kind, "the database did not answer");
    }
    mongoc_cursor_destroy(cur);
    store__conn_close(&c);
    bson_destroy(pipeline);
    return ok;
}

/* ---- what else belongs to an org: its invitations and its org-scoped
 * sessions (their own collections, deleted with it) ---- */

bool store_org_extras_delete(store_t *s, const char *org_id, struct error *e)
{
    return store__delete_by_oid(s, C_INVITATIONS, "org_id", org_id, "invitations delete", e) &&
           store__delete_by_oid(s, C_SESSIONS, "org_id", org_id, "sessions delete", e);
}

static void org_id_from_doc(const bson_t *doc, void *out)
{
    char *id = out;
    bson_iter_t it;
    id[0] = '\0';
    if (bson_iter_init_find(&it, doc, "org_id"))
        store__copy_oid(&it, id);
}

bool store_extras_each_org_id(store_t *s,
                              bool (*fn)(const char *collection, const char *org_id, void *ud),
                              void *ud, struct error *e)
{
    const char *colls[] = {C_INVITATIONS, C_SESSIONS};
    bson_t *opts = BCON_NEW("projection", "{", "org_id", BCON_INT32(1), "}");
    /* account-scoped sessions belong to no org */
    bson_t *has_org = BCON_NEW("org_id", "{", "$exists", BCON_BOOL(true), "}");
    bool ok = true;
    for (size_t i = 0; ok && i < 2; i++) {
        struct store__cursor c = store__find(s, colls[i], has_org, opts);
        char id[ID_BUF];
        while (store__cursor_next(&c, org_id_from_doc, id) && fn(colls[i], id, ud))
            ;
        ok = store__cursor_close(&c, "extras list", e);
    }
    bson_destroy(opts);
    bson_destroy(has_org);
    return ok;
}
