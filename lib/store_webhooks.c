/* store_webhooks.c — webhook endpoints (`webhooks`), the outbox of their
 * deliveries (`deliveries`), and which events the outbox has taken in
 * (`fanned` on an event, which its hash does not cover).
 *
 * A delivery is claimed with a lease (a guarded transition: one instance
 * wins it) and only its lease holder writes it until the lease runs out;
 * a delivery's key (event, endpoint) is unique, so an event is queued
 * once per endpoint whoever fans it out. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

static const char *const state_names[] = {"pending", "delivered", "failed"};

static void webhook_from_doc(const bson_t *doc, void *out)
{
    struct webhook *w = out;
    memset(w, 0, sizeof *w);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, w->id);
        } else if (strcmp(k, "org_id") == 0) {
            store__copy_oid(&it, w->org_id);
        } else if (strcmp(k, "url") == 0) {
            store__copy_utf8(&it, w->url, sizeof w->url);
        } else if (strcmp(k, "events") == 0 && BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_iter_t a;
            bson_iter_recurse(&it, &a);
            while (bson_iter_next(&a) && w->nevents < WEBHOOK_EVENTS_MAX)
                store__copy_utf8(&a, w->events[w->nevents++], sizeof w->events[0]);
        } else if (strcmp(k, "description") == 0) {
            store__copy_utf8(&it, w->description, sizeof w->description);
        } else if (strcmp(k, "secret") == 0) {
            store__copy_utf8(&it, w->secret, sizeof w->secret);
        } else if (strcmp(k, "enabled") == 0) {
            w->enabled = bson_iter_as_bool(&it);
        } else if (strcmp(k, "deleted") == 0) {
            w->deleted = bson_iter_as_bool(&it);
        } else if (strcmp(k, "disabled_reason") == 0) {
            store__copy_utf8(&it, w->disabled_reason, sizeof w->disabled_reason);
        } else if (strcmp(k, "created_at") == 0) {
            w->created_at = store__get_time(&it);
        } else if (strcmp(k, "updated_at") == 0) {
            w->updated_at = store__get_time(&it);
        } else if (strcmp(k, "failing_since") == 0) {
            w->failing_since = store__get_time(&it);
        } else if (strcmp(k, "consecutive_failures") == 0) {
            w->consecutive_failures = (int)bson_iter_as_int64(&it);
        } else if (strcmp(k, F_PENDING) == 0) {
            store__read_pending(&it, &w->pending);
        } else if (strcmp(k, "version") == 0) {
            w->version = bson_iter_as_int64(&it);
        }
    }
}

static void webhook_fields(bson_t *b, const struct webhook *w)
{
    BSON_APPEND_UTF8(b, "url", w->url);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(b, "events", &arr);
    for (size_t i = 0; i < w->nevents; i++) {
        char buf[16];
        const char *index;
        bson_uint32_to_string((uint32_t)i, &index, buf, sizeof buf);
        BSON_APPEND_UTF8(&arr, index, w->events[i]);
    }
    bson_append_array_end(b, &arr);
    BCON_APPEND(b, "description", BCON_UTF8(w->description), "enabled", BCON_BOOL(w->enabled),
                "deleted", BCON_BOOL(w->deleted), "disabled_reason", BCON_UTF8(w->disabled_reason),
                "updated_at", BCON_DATE_TIME(w->updated_at), "failing_since",
                BCON_DATE_TIME(w->failing_since), "consecutive_failures",
                BCON_INT32(w->consecutive_failures));
}

bool store_webhook_insert(store_t *s, const struct webhook *w, const struct pending_list *ev,
                          struct error *e)
{
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", w->id);
    store__append_oid(&doc, "org_id", w->org_id);
    BCON_APPEND(&doc, "secret", BCON_UTF8(w->secret), "created_at", BCON_DATE_TIME(w->created_at),
                "version", BCON_INT64(1));
    webhook_fields(&doc, w);
    store__append_pending(&doc, ev);
    bool ok = store__insert(s, C_WEBHOOKS, &doc, "webhook insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_webhook_by_id(store_t *s, const char *id, struct webhook *out, bool *found,
                         struct error *e)
{
    return store__find_by_id(s, C_WEBHOOKS, id, webhook_from_doc, out, found, "webhook", e);
}

bool store_webhooks_of_org(store_t *s, const char *org_id, const char *after_id,
                           struct webhook *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t o, a;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o), "deleted", BCON_BOOL(false));
    if (store__oid_from(after_id, &a))
        BCON_APPEND(filter, "_id", "{", "$gt", BCON_OID(&a), "}");
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_WEBHOOKS, filter, opts, sizeof *out, webhook_from_doc, out, max,
                               n, "webhooks", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_webhook_update(store_t *s, const struct webhook *cur, const struct webhook *next,
                          const struct pending_list *ev, bool *applied, struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    webhook_fields(&set, next);
    store__append_pending(&set, ev);
    bson_append_document_end(&update, &set);
    bool ok = store__swap(s, C_WEBHOOKS, cur->id, cur->version, &update, applied, "webhook", e);
    bson_destroy(&update);
    return ok;
}

/* ---- deliveries ---- */

static void attempt_from(bson_iter_t *it, struct delivery_attempt *a)
{
    memset(a, 0, sizeof *a);
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &f))
        return;
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "at") == 0)
            a->at = store__get_time(&f);
        else if (strcmp(k, "status") == 0)
            a->status = (int)bson_iter_as_int64(&f);
        else if (strcmp(k, "ms") == 0)
            a->ms = bson_iter_as_int64(&f);
        else if (strcmp(k, "error") == 0)
            store__copy_utf8(&f, a->error, sizeof a->error);
        else if (strcmp(k, "response") == 0)
            store__copy_utf8(&f, a->response, sizeof a->response);
    }
}

static void delivery_from_doc(const bson_t *doc, void *out)
{
    struct delivery *d = out;
    memset(d, 0, sizeof *d);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char text[16];
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, d->id);
        } else if (strcmp(k, "webhook_id") == 0) {
            store__copy_oid(&it, d->webhook_id);
        } else if (strcmp(k, "org_id") == 0) {
            store__copy_oid(&it, d->org_id);
        } else if (strcmp(k, "message_id") == 0) {
            store__copy_oid(&it, d->message_id);
        } else if (strcmp(k, "action") == 0) {
            store__copy_utf8(&it, d->action, sizeof d->action);
        } else if (strcmp(k, "state") == 0) {
            store__copy_utf8(&it, text, sizeof text);
            for (int i = 0; i < 3; i++)
                if (strcmp(text, state_names[i]) == 0)
                    d->state = (enum delivery_state)i;
        } else if (strcmp(k, "attempts") == 0) {
            d->attempts = (int)bson_iter_as_int64(&it);
        } else if (strcmp(k, "created_at") == 0) {
            d->created_at = store__get_time(&it);
        } else if (strcmp(k, "next_at") == 0) {
            d->next_at = store__get_time(&it);
        } else if (strcmp(k, "lease_until") == 0) {
            d->lease_until = store__get_time(&it);
        } else if (strcmp(k, "log") == 0 && BSON_ITER_HOLDS_ARRAY(&it)) {
            /* every attempt is kept; the latest DELIVERY_ATTEMPTS_SHOWN are read */
            bson_iter_t a;
            bson_iter_recurse(&it, &a);
            while (bson_iter_next(&a)) {
                if (d->nlast == DELIVERY_ATTEMPTS_SHOWN) {
                    memmove(&d->last[0], &d->last[1],
                            sizeof d->last[0] * (DELIVERY_ATTEMPTS_SHOWN - 1));
                    d->nlast--;
                }
                attempt_from(&a, &d->last[d->nlast++]);
            }
        } else if (strcmp(k, "version") == 0) {
            d->version = bson_iter_as_int64(&it);
        }
    }
}

bool store_delivery_insert(store_t *s, const struct delivery *d, const char *payload,
                           bool *inserted, struct error *e)
{
    *inserted = false;
    if (!store__indexes_ready(s, e))
        return false;
    char key[2 * ID_BUF + 1];
    snprintf(key, sizeof key, "%s:%s", d->message_id, d->webhook_id);
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", d->id);
    store__append_oid(&doc, "webhook_id", d->webhook_id);
    store__append_oid(&doc, "org_id", d->org_id);
    store__append_oid(&doc, "message_id", d->message_id);
    BCON_APPEND(&doc, "key", BCON_UTF8(key), "action", BCON_UTF8(d->action), "payload",
                BCON_UTF8(payload), "state", BCON_UTF8(state_names[d->state]), "attempts",
                BCON_INT32(0), "created_at", BCON_DATE_TIME(d->created_at), "next_at",
                BCON_DATE_TIME(d->next_at), "lease_until", BCON_DATE_TIME(0), "version",
                BCON_INT64(1));
    bson_error_t be;
    bool ok = store__insert_raw(s, C_DELIVERIES, &doc, &be);
    bson_destroy(&doc);
    if (ok)
        return *inserted = true;
    return store__classify(&be) == ERR_CONFLICT || store__fail(e, &be, "delivery insert");
}

bool store_deliveries_due(store_t *s, int64_t now, const char (*skip)[ID_BUF], size_t nskip,
                          struct delivery *out, size_t max, size_t *n, struct error *e)
{
    bson_t *filter = store__outbox_due(now);
    if (nskip > 0) {
        bson_t webhook, nin;
        BSON_APPEND_DOCUMENT_BEGIN(filter, "webhook_id", &webhook);
        BSON_APPEND_ARRAY_BEGIN(&webhook, "$nin", &nin);
        for (size_t i = 0; i < nskip; i++) {
            char buf[16];
            const char *index;
            bson_uint32_to_string((uint32_t)i, &index, buf, sizeof buf);
            store__append_oid(&nin, index, skip[i]);
        }
        bson_append_array_end(&webhook, &nin);
        bson_append_document_end(filter, &webhook);
    }
    bson_t *opts =
        BCON_NEW("sort", "{", "next_at", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max),
                 "projection", "{", "payload", BCON_INT32(0), "}");
    bool ok = store__find_many(s, C_DELIVERIES, filter, opts, sizeof *out, delivery_from_doc, out,
                               max, n, "deliveries due", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_delivery_claim(store_t *s, const struct delivery *d, int64_t lease_until,
                          const char *instance, bool *applied, struct error *e)
{
    return store__outbox_lease(s, C_DELIVERIES, d->id, d->version, lease_until, instance, applied,
                               "delivery claim", e);
}

bool store_delivery_payload(store_t *s, const char *id, char **payload, struct error *e)
{
    *payload = NULL;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *opts = BCON_NEW("projection", "{", "payload", BCON_INT32(1), "}");
    struct store__cursor c = store__find(s, C_DELIVERIES, filter, opts);
    const bson_t *doc;
    if (mongoc_cursor_next(c.cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "payload") && BSON_ITER_HOLDS_UTF8(&it))
            *payload = strdup(bson_iter_utf8(&it, NULL));
    }
    bson_destroy(filter);
    bson_destroy(opts);
    return store__cursor_close(&c, "delivery payload", e);
}

bool store_delivery_record(store_t *s, const struct delivery *d, int64_t version,
                           const struct delivery_attempt *a, enum delivery_state state,
                           int64_t next_at, bool *applied, struct error *e)
{
    bson_t update = BSON_INITIALIZER, set, push, item;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BCON_APPEND(&set, "state", BCON_UTF8(state_names[state]), "next_at", BCON_DATE_TIME(next_at),
                "lease_until", BCON_DATE_TIME(0), "attempts", BCON_INT32(d->attempts + 1));
    bson_append_document_end(&update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$push", &push);
    BSON_APPEND_DOCUMENT_BEGIN(&push, "log", &item);
    BCON_APPEND(&item, "at", BCON_DATE_TIME(a->at), "status", BCON_INT32(a->status), "ms",
                BCON_INT64(a->ms), "error", BCON_UTF8(a->error), "response",
                BCON_UTF8(a->response));
    bson_append_document_end(&push, &item);
    bson_append_document_end(&update, &push);
    bool ok = store__swap(s, C_DELIVERIES, d->id, version, &update, applied, "delivery record", e);
    bson_destroy(&update);
    return ok;
}

bool store_delivery_reschedule(store_t *s, const struct delivery *d, int64_t at, bool *applied,
                               struct error *e)
{
    bson_t *update =
        BCON_NEW("$set", "{", "state", BCON_UTF8("pending"), "next_at", BCON_DATE_TIME(at), "}");
    bool ok = store__swap(s, C_DELIVERIES, d->id, d->version, update, applied, "delivery again", e);
    bson_destroy(update);
    return ok;
}

bool store_delivery_by_id(store_t *s, const char *id, struct delivery *out, bool *found,
                          struct error *e)
{
    return store__find_by_id(s, C_DELIVERIES, id, delivery_from_doc, out, found, "delivery", e);
}

bool store_deliveries_of(store_t *s, const char *webhook_id, const char *before_id,
                         struct delivery *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t w, b;
    if (!store__oid_from(webhook_id, &w))
        return true;
    bson_t *filter = BCON_NEW("webhook_id", BCON_OID(&w));
    if (store__oid_from(before_id, &b))
        BCON_APPEND(filter, "_id", "{", "$lt", BCON_OID(&b), "}");
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64((int64_t)max),
                 "projection", "{", "payload", BCON_INT32(0), "}");
    bool ok = store__find_many(s, C_DELIVERIES, filter, opts, sizeof *out, delivery_from_doc, out,
                               max, n, "deliveries", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

static void created_from_doc(const bson_t *doc, void *out)
{
    bson_iter_t it;
    *(int64_t *)out = bson_iter_init_find(&it, doc, "created_at") ? store__get_time(&it) : 0;
}

bool store_outbox_stats(store_t *s, int64_t *pending, int64_t *oldest_at, struct error *e)
{
    *oldest_at = 0;
    bson_t *filter = BCON_NEW("state", BCON_UTF8("pending"));
    bool ok = store__count(s, C_DELIVERIES, filter, pending, "outbox count", e);
    if (ok && *pending > 0) {
        size_t n = 0;
        bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(1), "}", "limit",
                                BCON_INT64(1), "projection", "{", "created_at", BCON_INT32(1), "}");
        ok = store__find_many(s, C_DELIVERIES, filter, opts, sizeof *oldest_at, created_from_doc,
                              oldest_at, 1, &n, "outbox oldest", e);
        bson_destroy(opts);
    }
    bson_destroy(filter);
    return ok;
}

/* ---- the events the outbox has not taken in ---- */

static void unfanned_from_doc(const bson_t *doc, void *out)
{
    struct event_row *r = out;
    memset(r, 0, sizeof *r);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            store__copy_oid(&it, r->id);
        else if (strcmp(k, "chain") == 0)
            store__copy_utf8(&it, r->chain, sizeof r->chain);
        else if (strcmp(k, "action") == 0)
            store__copy_utf8(&it, r->action, sizeof r->action);
        else if (strcmp(k, "seq") == 0)
            r->seq = bson_iter_as_int64(&it);
        else if (strcmp(k, "at") == 0)
            r->at = store__get_time(&it);
        else if (strcmp(k, "hash") == 0)
            store__copy_utf8(&it, r->hash, sizeof r->hash);
        else if (strcmp(k, "canonical") == 0 && BSON_ITER_HOLDS_UTF8(&it))
            r->canonical = strdup(bson_iter_utf8(&it, NULL));
    }
}

bool store_events_unfanned(store_t *s, struct event_row *out, size_t max, size_t *n,
                           struct error *e)
{
    bson_t *filter = BCON_NEW("fanned", "{", "$exists", BCON_BOOL(false), "}");
    bson_t *opts =
        BCON_NEW("sort", "{", "at", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_EVENTS, filter, opts, sizeof *out, unfanned_from_doc, out, max,
                               n, "events to fan out", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_event_fanned(store_t *s, const char *id, struct error *e)
{
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    /* only this flag changes, and every writer writes the same value */
    bool applied = false;
    return store__update_one(s, C_EVENTS, BCON_NEW("_id", BCON_OID(&oid)),
                             BCON_NEW("$set", "{", "fanned", BCON_BOOL(true), "}"), &applied,
                             "event fanned", e);
}
