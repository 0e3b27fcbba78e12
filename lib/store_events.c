/* store_events.c — the audit log's collection `events`, the drafts that
 * documents carry until their events are in it, and the marks the
 * recovery pass keeps in `marks`.
 *
 * An event is {_id, chain, seq, at, action, org_id?, canonical, hash}:
 * `canonical` is the RFC 8785 text its hash covers (events.c makes it);
 * the other fields repeat what is in it, for the indexes and the filters.
 * (chain, seq) is unique: the chain cannot fork, whoever appends. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

#define C_MARKS "marks"

static void row_from_doc(const bson_t *doc, void *out)
{
    struct event_row *r = out;
    memset(r, 0, sizeof *r);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, r->id);
        } else if (strcmp(k, "chain") == 0) {
            store__copy_utf8(&it, r->chain, sizeof r->chain);
        } else if (strcmp(k, "seq") == 0) {
            r->seq = bson_iter_as_int64(&it);
        } else if (strcmp(k, "at") == 0) {
            r->at = store__get_time(&it);
        } else if (strcmp(k, "action") == 0) {
            store__copy_utf8(&it, r->action, sizeof r->action);
        } else if (strcmp(k, "canonical") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
            uint32_t len = 0;
            const char *text = bson_iter_utf8(&it, &len);
            free(r->canonical);
            r->canonical = malloc(len + 1);
            if (r->canonical != NULL) {
                memcpy(r->canonical, text, len);
                r->canonical[len] = '\0';
            }
        } else if (strcmp(k, "hash") == 0) {
            store__copy_utf8(&it, r->hash, sizeof r->hash);
        }
    }
}

static void row_doc(bson_t *doc, const struct event_row *r, const char *org_id)
{
    /* no BCON: its builder keeps 13 KiB on the stack, at the deepest point
     * of every write that carries events (docs/STYLE.md, "Stack") */
    store__append_oid(doc, "_id", r->id);
    BSON_APPEND_UTF8(doc, "chain", r->chain);
    BSON_APPEND_INT64(doc, "seq", r->seq);
    BSON_APPEND_DATE_TIME(doc, "at", r->at);
    BSON_APPEND_UTF8(doc, "action", r->action);
    if (org_id != NULL && org_id[0] != '\0')
        store__append_oid(doc, "org_id", org_id);
    BSON_APPEND_UTF8(doc, "canonical", r->canonical);
    BSON_APPEND_UTF8(doc, "hash", r->hash);
}

bool store_event_insert(store_t *s, const struct event_row *r, const char *org_id,
                        enum event_insert *res, struct error *e)
{
    *res = EVENT_INSERTED;
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    row_doc(&doc, r, org_id);
    bson_error_t be;
    bool ok = store__insert_raw(s, C_EVENTS, &doc, &be);
    bson_destroy(&doc);
    if (ok)
        return true;
    if (store__classify(&be) != ERR_CONFLICT)
        return store__fail(e, &be, "event insert");
    /* which index: the id (written already) or the chain's seq (taken) */
    char ids[1][ID_BUF];
    memcpy(ids[0], r->id, ID_BUF);
    bool there = false;
    if (!store_events_exist(s, (const char(*)[ID_BUF])ids, 1, &there, e))
        return false;
    *res = there ? EVENT_THERE_ALREADY : EVENT_SEQ_TAKEN;
    return true;
}

bool store_events_insert_ordered(store_t *s, const struct event_row *rows,
                                 const char *const *org_ids, size_t n, size_t *inserted,
                                 struct error *e)
{
    *inserted = 0;
    if (n == 0)
        return true;
    if (!store__indexes_ready(s, e))
        return false;
    bson_t docs[8];
    const bson_t *ptrs[8];
    if (n > 8)
        n = 8;
    for (size_t i = 0; i < n; i++) {
        bson_init(&docs[i]);
        row_doc(&docs[i], &rows[i], org_ids[i]);
        ptrs[i] = &docs[i];
    }
    struct store__conn c = store__conn_open(s, C_EVENTS);
    bson_t reply;
    bson_error_t be;
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(true));
    bool ok = mongoc_collection_insert_many(c.coll, ptrs, n, opts, &reply, &be);
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "insertedCount"))
        *inserted = (size_t)bson_iter_as_int64(&it);
    else if (ok)
        *inserted = n;
    bson_destroy(&reply);
    bson_destroy(opts);
    store__conn_close(&c);
    for (size_t i = 0; i < n; i++)
        bson_destroy(&docs[i]);
    return ok || store__fail(e, &be, "events insert");
}

bool store_event_head(store_t *s, const char *chain, struct event_row *out, bool *found,
                      struct error *e)
{
    bson_t *filter = bson_new(), *opts = bson_new(), sort; /* no BCON: see row_doc */
    BSON_APPEND_UTF8(filter, "chain", chain);
    BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "seq", -1);
    bson_append_document_end(opts, &sort);
    BSON_APPEND_INT64(opts, "limit", 1);
    size_t n = 0;
    bool ok = store__find_many(s, C_EVENTS, filter, opts, sizeof *out, row_from_doc, out, 1, &n,
                               "event head", e);
    bson_destroy(filter);
    bson_destroy(opts);
    *found = ok && n == 1;
    return ok;
}

bool store_events_exist(store_t *s, const char (*ids)[ID_BUF], size_t n, bool *exists,
                        struct error *e)
{
    for (size_t i = 0; i < n; i++)
        exists[i] = false;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER;
    store__append_in_ids(&filter, "_id", ids, n);
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
    struct store__cursor c = store__find(s, C_EVENTS, &filter, opts);
    const bson_t *doc;
    while (mongoc_cursor_next(c.cur, &doc)) {
        bson_iter_t it;
        char id[ID_BUF] = "";
        if (bson_iter_init_find(&it, doc, "_id"))
            store__copy_oid(&it, id);
        for (size_t i = 0; i < n; i++)
            exists[i] = exists[i] || strcmp(ids[i], id) == 0;
    }
    bool ok = store__cursor_close(&c, "events exist", e);
    bson_destroy(&filter);
    bson_destroy(opts);
    return ok;
}

/* {chain} and, when given, the action: exact, or "x.*" for a prefix. */
static bson_t *chain_filter(const char *chain, const char *action)
{
    bson_t *f = bson_new();
    if (chain != NULL)
        BSON_APPEND_UTF8(f, "chain", chain);
    if (action == NULL || action[0] == '\0')
        return f;
    size_t len = strlen(action);
    if (len >= 2 && strcmp(action + len - 2, ".*") == 0) {
        /* a prefix of letters, '.' and '_' (requests.c checks): no regex metacharacter but '.' */
        char re[80];
        snprintf(re, sizeof re, "^%.*s\\.", (int)(len - 2), action);
        BCON_APPEND(f, "action", "{", "$regex", BCON_UTF8(re), "}");
    } else {
        BSON_APPEND_UTF8(f, "action", action);
    }
    return f;
}

bool store_events_page(store_t *s, const char *chain, int64_t before_seq, const char *action,
                       struct event_row *out, size_t max, size_t *n, struct error *e)
{
    bson_t *filter = chain_filter(chain, action);
    if (before_seq > 0)
        BCON_APPEND(filter, "seq", "{", "$lt", BCON_INT64(before_seq), "}");
    bson_t *opts =
        BCON_NEW("sort", "{", "seq", BCON_INT32(-1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_EVENTS, filter, opts, sizeof *out, row_from_doc, out, max, n,
                               "events page", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_events_each(store_t *s, const char *chain, const char *action,
                       bool (*fn)(const struct event_row *r, void *ud), void *ud, struct error *e)
{
    bson_t *filter = chain_filter(chain, action);
    bson_t *opts = BCON_NEW("sort", "{", "chain", BCON_INT32(1), "seq", BCON_INT32(1), "}");
    struct store__cursor c = store__find(s, C_EVENTS, filter, opts);
    const bson_t *doc;
    bool go = true;
    while (go && mongoc_cursor_next(c.cur, &doc)) {
        struct event_row r;
        row_from_doc(doc, &r);
        go = fn(&r, ud);
        free(r.canonical);
    }
    bool ok = store__cursor_close(&c, "events", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

struct sweep {
    store_t *s;
    int64_t before_ms, deleted;
    char chain[40];
    int64_t newest; /* the chain's newest seq: kept */
    struct error *e;
    bool failed;
};

static bool sweep_chain(struct sweep *w)
{
    bson_t *filter =
        BCON_NEW("chain", BCON_UTF8(w->chain), "at", "{", "$lt", BCON_DATE_TIME(w->before_ms), "}",
                 "seq", "{", "$lt", BCON_INT64(w->newest), "}");
    int64_t n = 0;
    bool ok =
        store__write_op(w->s, C_EVENTS, STORE__DELETE_MANY, filter, NULL, &n, "events sweep", w->e);
    bson_destroy(filter);
    w->deleted += n;
    return ok;
}

/* Called for every event, oldest first by chain: at each chain's end,
 * deletes its old events but the newest. */
static bool sweep_visit(const struct event_row *r, void *ud)
{
    struct sweep *w = ud;
    if (strcmp(r->chain, w->chain) != 0) {
        if (w->chain[0] != '\0' && !sweep_chain(w))
            return !(w->failed = true);
        snprintf(w->chain, sizeof w->chain, "%s", r->chain);
    }
    w->newest = r->seq;
    return true;
}

bool store_events_sweep(store_t *s, int64_t before_ms, int64_t *deleted, struct error *e)
{
    struct sweep w = {.s = s, .before_ms = before_ms, .e = e};
    bool ok = store_events_each(s, NULL, NULL, sweep_visit, &w, e) && !w.failed &&
              (w.chain[0] == '\0' || sweep_chain(&w));
    *deleted = w.deleted;
    return ok && !w.failed;
}

/* ---- drafts in documents ---- */

static const char *const carrying[] = {C_ORGS, C_ACCOUNTS, C_MEMBERS, C_INVITATIONS, C_WEBHOOKS};

/* Calls fn for each draft of doc's pending_events within [since, until]. */
static bool drafts_of(const bson_t *doc, int64_t since, int64_t until,
                      bool (*fn)(const char *, const char *, int64_t, const char *, void *),
                      void *ud)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, doc, F_PENDING) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return true;
    while (bson_iter_next(&arr)) {
        bson_iter_t f;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &f))
            continue;
        char id[ID_BUF] = "", chain[40] = "";
        const char *draft = NULL;
        int64_t at = 0;
        while (bson_iter_next(&f)) {
            const char *k = bson_iter_key(&f);
            if (strcmp(k, "id") == 0)
                store__copy_oid(&f, id);
            else if (strcmp(k, "chain") == 0)
                store__copy_utf8(&f, chain, sizeof chain);
            else if (strcmp(k, "at") == 0)
                at = store__get_time(&f);
            else if (strcmp(k, "draft") == 0 && BSON_ITER_HOLDS_UTF8(&f))
                draft = bson_iter_utf8(&f, NULL);
        }
        if (id[0] != '\0' && draft != NULL && at >= since && at <= until &&
            !fn(id, chain, at, draft, ud))
            return false;
    }
    return true;
}

bool store_pending_each(store_t *s, int64_t since_ms, int64_t until_ms,
                        bool (*fn)(const char *id, const char *chain, int64_t at, const char *draft,
                                   void *ud),
                        void *ud, struct error *e)
{
    bson_t *filter = BCON_NEW(F_PENDING ".at", "{", "$gte", BCON_DATE_TIME(since_ms), "$lte",
                              BCON_DATE_TIME(until_ms), "}");
    bson_t *opts = BCON_NEW("projection", "{", F_PENDING, BCON_INT32(1), "}");
    bool ok = true, go = true;
    for (size_t i = 0; ok && go && i < sizeof carrying / sizeof carrying[0]; i++) {
        struct store__cursor c = store__find(s, carrying[i], filter, opts);
        const bson_t *doc;
        while (go && mongoc_cursor_next(c.cur, &doc))
            go = drafts_of(doc, since_ms, until_ms, fn, ud);
        ok = store__cursor_close(&c, "pending events", e);
    }
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

struct one_draft {
    const char *want;
    char *chain;
    size_t chain_cap;
    char **draft;
    bool found;
};

static bool take_draft(const char *id, const char *chain, int64_t at, const char *draft, void *ud)
{
    (void)at;
    struct one_draft *d = ud;
    if (strcmp(id, d->want) != 0)
        return true;
    snprintf(d->chain, d->chain_cap, "%s", chain);
    *d->draft = strdup(draft);
    d->found = *d->draft != NULL;
    return false;
}

bool store_pending_find(store_t *s, const char *id, char *chain, size_t chain_cap, char **draft,
                        bool *found, struct error *e)
{
    *found = false;
    *draft = NULL;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter = BCON_NEW(F_PENDING ".id", BCON_OID(&oid));
    struct one_draft d = {id, chain, chain_cap, draft, false};
    bool ok = true;
    for (size_t i = 0; ok && !d.found && i < sizeof carrying / sizeof carrying[0]; i++) {
        struct store__cursor c = store__find(s, carrying[i], filter, NULL);
        const bson_t *doc;
        while (!d.found && mongoc_cursor_next(c.cur, &doc))
            drafts_of(doc, 0, INT64_MAX, take_draft, &d);
        ok = store__cursor_close(&c, "pending event", e);
    }
    bson_destroy(filter);
    *found = d.found;
    return ok;
}

/* ---- marks ---- */

bool store_mark_get(store_t *s, const char *name, int64_t *at, bool *found, struct error *e)
{
    *at = 0;
    *found = false;
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(name));
    struct store__cursor c = store__find(s, C_MARKS, filter, NULL);
    const bson_t *doc;
    if (mongoc_cursor_next(c.cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "at")) {
            *at = store__get_time(&it);
            *found = true;
        }
    }
    bson_destroy(filter);
    return store__cursor_close(&c, "mark", e);
}

bool store_mark_set(store_t *s, const char *name, int64_t at, struct error *e)
{
    /* one writer at a time (the recovery pass of one instance claims it);
     * two writing the same mark write times that are both safe to keep */
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(name));
    bson_t *update = BCON_NEW("$set", "{", "at", BCON_DATE_TIME(at), "}");
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    struct store__conn c = store__conn_open(s, C_MARKS);
    bson_error_t be;
    bool ok = mongoc_collection_update_one(c.coll, filter, update, opts, NULL, &be);
    store__conn_close(&c);
    bson_destroy(filter);
    bson_destroy(update);
    bson_destroy(opts);
    return ok || store__fail(e, &be, "mark");
}
