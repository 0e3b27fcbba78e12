#include "events.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* ---- what writing events costs this thread ---- */

static _Thread_local unsigned long event_commands;

void events_thread_commands_reset(void)
{
    event_commands = 0;
}

unsigned long events_thread_commands(void)
{
    return event_commands;
}

/* ---- who acts ---- */

static _Thread_local char ctx_request_id[65];
static _Thread_local char ctx_client[NETADDR_BUF];
static _Thread_local bool ctx_set;
static _Thread_local char ctx_system[32];

void events_context_set(const char *request_id, const char *client_address)
{
    snprintf(ctx_request_id, sizeof ctx_request_id, "%s", request_id ? request_id : "");
    snprintf(ctx_client, sizeof ctx_client, "%s", client_address ? client_address : "");
    ctx_set = true;
}

void events_context_system(const char *name)
{
    snprintf(ctx_system, sizeof ctx_system, "%s", name);
}

void events_context_clear(void)
{
    ctx_request_id[0] = ctx_client[0] = '\0';
    ctx_set = false;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* The actor of an event drafted on this thread now. */
static json_t *actor_json(const struct caller *who, const char *account_id)
{
    if (!ctx_set || (who == NULL && (account_id == NULL || account_id[0] == '\0')))
        return json_pack("{s:s}", "system",
                         ctx_set         ? "orgd"
                         : ctx_system[0] ? ctx_system
                                         : "recovery");
    return json_pack("{s:o, s:o, s:o, s:o}", "account_id",
                     str_or_null(who != NULL ? who->account.id : account_id), "session_id",
                     str_or_null(who != NULL ? who->session.id : NULL), "client_address",
                     str_or_null(ctx_client), "request_id", str_or_null(ctx_request_id));
}

/* ---- drafting ---- */

bool event_draft(struct event *ev, const char *action, const char *org_id, const char *target_type,
                 const char *target_id, const struct caller *who, const char *account_id)
{
    memset(ev, 0, sizeof *ev);
    store_new_id(ev->id);
    bool of_org = org_id != NULL && org_id[0] != '\0';
    snprintf(ev->chain, sizeof ev->chain, "%s:%s", of_org ? "org" : "account",
             of_org ? org_id : target_id);
    char at[CLOCK_TEXT_BUF];
    clock_rfc3339(clock_now_ms(), at);
    ev->body = json_pack("{s:o, s:s, s:o, s:s, s:{s:s, s:s}, s:{}}", "org_id",
                         str_or_null(of_org ? org_id : NULL), "at", at, "actor",
                         actor_json(who, account_id), "action", action, "target", "type",
                         target_type, "id", target_id, "changes");
    return ev->body != NULL;
}

/* A field whose value must never be recorded, whatever the caller passes. */
static bool secret_field(const char *field)
{
    static const char *const words[] = {"password", "token", "hash", "secret"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strstr(field, words[i]) != NULL)
            return true;
    }
    return false;
}

void event_change(struct event *ev, const char *field, json_t *before, json_t *after)
{
    json_t *changes = json_object_get(ev->body, "changes");
    if (changes == NULL || secret_field(field)) {
        json_decref(before);
        json_decref(after);
        return;
    }
    json_object_set_new(
        changes, field,
        json_pack("[o, o]", before ? before : json_null(), after ? after : json_null()));
}

void event_change_str(struct event *ev, const char *field, const char *before, const char *after)
{
    event_change(ev, field, before ? json_string(before) : NULL, after ? json_string(after) : NULL);
}

void event_free(struct event *ev)
{
    json_decref(ev->body);
    ev->body = NULL;
}

/* ---- chain heads this process knows ---- */

#define HEADS 1024

struct head {
    char chain[EVENT_CHAIN_BUF];
    int64_t seq;
    char hash[EVENT_HASH_BUF];
};

static pthread_mutex_t heads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct head heads[HEADS];

/* Event ids this process wrote lately: a write that finds one of them in
 * a document's drafts knows it is in the chain without asking. */
#define WRITTEN 4096
static char written[WRITTEN][ID_BUF];
static unsigned written_next;

static size_t slot_of(const char *chain)
{
    unsigned char d[32];
    sha256(chain, strlen(chain), d);
    return (size_t)(d[0] | d[1] << 8) % HEADS;
}

static bool head_get(const char *chain, struct head *out)
{
    pthread_mutex_lock(&heads_lock);
    const struct head *h = &heads[slot_of(chain)];
    bool hit = strcmp(h->chain, chain) == 0;
    if (hit)
        *out = *h;
    pthread_mutex_unlock(&heads_lock);
    return hit;
}

static void head_put(const struct head *h)
{
    pthread_mutex_lock(&heads_lock);
    struct head *slot = &heads[slot_of(h->chain)];
    /* never back: a later head another thread stored stays */
    if (strcmp(slot->chain, h->chain) != 0 || slot->seq < h->seq)
        *slot = *h;
    pthread_mutex_unlock(&heads_lock);
}

static void head_drop(const char *chain)
{
    pthread_mutex_lock(&heads_lock);
    struct head *slot = &heads[slot_of(chain)];
    if (strcmp(slot->chain, chain) == 0)
        memset(slot, 0, sizeof *slot);
    pthread_mutex_unlock(&heads_lock);
}

static void remember_written(const char *id)
{
    pthread_mutex_lock(&heads_lock);
    memcpy(written[written_next++ % WRITTEN], id, ID_BUF);
    pthread_mutex_unlock(&heads_lock);
}

static bool known_written(const char *id)
{
    bool known = false;
    pthread_mutex_lock(&heads_lock);
    for (size_t i = 0; i < WRITTEN && !known; i++)
        known = strcmp(written[i], id) == 0;
    pthread_mutex_unlock(&heads_lock);
    return known;
}

void events_forget_heads(void)
{
    pthread_mutex_lock(&heads_lock);
    memset(heads, 0, sizeof heads);
    pthread_mutex_unlock(&heads_lock);
}

/* ---- appending ---- */

/* The canonical text and hash of body at seq after prev_hash ("" none). */
static bool seal(const json_t *body, int64_t seq, const char *prev_hash, struct event_row *r)
{
    json_t *full = json_deep_copy(body);
    if (full == NULL)
        return false;
    json_object_set_new(full, "seq", json_integer(seq));
    json_object_set_new(full, "prev_hash", str_or_null(prev_hash));
    r->canonical = jcs_dumps(full);
    json_decref(full);
    if (r->canonical == NULL)
        return false;
    sha256_hex(r->canonical, strlen(r->canonical), r->hash);
    r->seq = seq;
    return true;
}

/* The chain's head: from memory, else from the database. */
static bool head_of(struct app *app, const char *chain, bool fresh, struct head *h, struct error *e)
{
    if (!fresh && head_get(chain, h))
        return true;
    struct event_row row = {0};
    bool found = false;
    if (!store_event_head(app->store, chain, &row, &found, e))
        return false;
    memset(h, 0, sizeof *h);
    snprintf(h->chain, sizeof h->chain, "%s", chain);
    if (found) {
        h->seq = row.seq;
        memcpy(h->hash, row.hash, sizeof h->hash);
    }
    free(row.canonical);
    return true;
}

#define APPEND_TRIES 50

static bool append_one(struct app *app, const struct event *ev, struct error *e)
{
    const char *action = json_string_value(json_object_get(ev->body, "action"));
    const char *org_id = json_string_value(json_object_get(ev->body, "org_id"));
    bool fresh = false;
    for (int attempt = 0; attempt < APPEND_TRIES; attempt++) {
        struct head h = {0};
        if (attempt == 0 && ev->new_chain)
            snprintf(h.chain, sizeof h.chain, "%s", ev->chain); /* nothing before it */
        else if (!head_of(app, ev->chain, fresh, &h, e))
            return false;
        struct event_row r = {0};
        memcpy(r.id, ev->id, ID_BUF);
        snprintf(r.chain, sizeof r.chain, "%s", ev->chain);
        snprintf(r.action, sizeof r.action, "%s", action ? action : "");
        r.at = clock_now_ms();
        if (!seal(ev->body, h.seq + 1, h.hash, &r))
            return error_set(e, ERR_INTERNAL, "cannot seal an event");
        enum event_insert res;
        bool ok = store_event_insert(app->store, &r, org_id, &res, e);
        if (ok && res == EVENT_INSERTED) {
            struct head next = h;
            next.seq = r.seq;
            memcpy(next.hash, r.hash, sizeof next.hash);
            head_put(&next);
            remember_written(ev->id);
            metrics_event_written(action ? action : "");
        }
        free(r.canonical);
        if (!ok)
            return false;
        if (res == EVENT_THERE_ALREADY) {
            remember_written(ev->id);
            return true;
        }
        if (res == EVENT_INSERTED)
            return true;
        fresh = true; /* another writer appended: the head from the database */
        head_drop(ev->chain);
    }
    return error_set(e, ERR_UNAVAILABLE, "the audit log is too busy; retry");
}

/* The events of one write in one round trip, when the head of every
 * chain they go to is known (remembered, or the chain is new): in order,
 * each after the one before it. How many went in: those after a clash
 * (another writer appended) go one by one, append_one's way. */
static size_t append_batch(struct app *app, struct event *evs, size_t n)
{
    struct event_row rows[PENDING_MAX] = {0};
    const char *orgs[PENDING_MAX];
    struct head batch[PENDING_MAX];
    size_t nbatch = 0, sealed = 0, inserted = 0;
    for (; sealed < n && sealed < PENDING_MAX; sealed++) {
        const struct event *ev = &evs[sealed];
        struct head *h = NULL;
        for (size_t k = 0; k < nbatch && h == NULL; k++)
            h = strcmp(batch[k].chain, ev->chain) == 0 ? &batch[k] : NULL;
        if (h == NULL) {
            h = &batch[nbatch];
            memset(h, 0, sizeof *h);
            snprintf(h->chain, sizeof h->chain, "%s", ev->chain);
            if (ev->body == NULL || (!ev->new_chain && !head_get(ev->chain, h)))
                break; /* not known without a read */
            nbatch++;
        }
        const char *action = json_string_value(json_object_get(ev->body, "action"));
        orgs[sealed] = json_string_value(json_object_get(ev->body, "org_id"));
        memcpy(rows[sealed].id, ev->id, ID_BUF);
        snprintf(rows[sealed].chain, sizeof rows[sealed].chain, "%s", ev->chain);
        snprintf(rows[sealed].action, sizeof rows[sealed].action, "%s", action ? action : "");
        rows[sealed].at = clock_now_ms();
        if (!seal(ev->body, h->seq + 1, h->hash, &rows[sealed]))
            break;
        h->seq = rows[sealed].seq;
        memcpy(h->hash, rows[sealed].hash, sizeof h->hash);
    }
    struct error e = ERROR_INIT;
    if (sealed == n) /* all or nothing known: a part would cost as much as one by one */
        store_events_insert_ordered(app->store, rows, orgs, n, &inserted, &e);
    for (size_t i = 0; i < inserted; i++) {
        struct head h = {0};
        snprintf(h.chain, sizeof h.chain, "%s", rows[i].chain);
        h.seq = rows[i].seq;
        memcpy(h.hash, rows[i].hash, sizeof h.hash);
        head_put(&h);
        remember_written(rows[i].id);
        metrics_event_written(rows[i].action);
    }
    for (size_t i = 0; i < n && i < PENDING_MAX; i++)
        free(rows[i].canonical);
    return inserted;
}

static bool commit(struct app *app, struct event *evs, size_t n, struct error *e)
{
    size_t done = n > 1 ? append_batch(app, evs, n) : 0;
    bool ok = true;
    for (size_t i = done; ok && i < n; i++)
        ok = evs[i].body == NULL || append_one(app, &evs[i], e);
    return ok;
}

bool events_commit(struct app *app, struct event *evs, size_t n, struct error *e)
{
    unsigned long before = store_thread_commands();
    bool ok = commit(app, evs, n, e);
    event_commands += store_thread_commands() - before;
    return ok;
}

static bool guard(struct app *app, const struct pending_refs *pending, struct error *e);

bool events_guard(struct app *app, const struct pending_refs *pending, struct error *e)
{
    unsigned long before = store_thread_commands();
    bool ok = guard(app, pending, e);
    event_commands += store_thread_commands() - before;
    return ok;
}

static bool guard(struct app *app, const struct pending_refs *pending, struct error *e)
{
    for (int i = 0; i < pending->n; i++) {
        if (known_written(pending->id[i]))
            continue;
        bool there = false;
        const char(*one)[ID_BUF] = (const char(*)[ID_BUF])pending->id[i];
        if (!store_events_exist(app->store, one, 1, &there, e))
            return false;
        if (there) {
            remember_written(pending->id[i]);
            continue;
        }
        /* a writer died before it appended this one: append it now */
        char chain[EVENT_CHAIN_BUF], *draft = NULL;
        bool found = false;
        if (!store_pending_find(app->store, pending->id[i], chain, sizeof chain, &draft, &found, e))
            return false;
        struct event ev = {0};
        bool ok = true;
        if (found) {
            json_t *body = json_loads(draft, 0, NULL);
            memcpy(ev.id, pending->id[i], ID_BUF);
            snprintf(ev.chain, sizeof ev.chain, "%s", chain);
            ev.body = body;
            ok = body == NULL || commit(app, &ev, 1, e);
            event_free(&ev);
        }
        free(draft);
        if (!ok)
            return false;
    }
    return true;
}

/* ---- the drafts a write carries ---- */

struct event *event_batch_add(struct event_batch *b)
{
    return b->n < PENDING_MAX ? &b->ev[b->n++] : NULL;
}

const struct pending_list *event_batch_list(struct event_batch *b)
{
    b->list.items = b->items;
    b->list.n = 0;
    for (size_t i = 0; i < b->n; i++) {
        free(b->texts[i]);
        b->texts[i] = b->ev[i].body ? json_dumps(b->ev[i].body, JSON_COMPACT) : NULL;
        if (b->texts[i] == NULL)
            return NULL;
        memcpy(b->items[i].id, b->ev[i].id, ID_BUF);
        snprintf(b->items[i].chain, sizeof b->items[i].chain, "%s", b->ev[i].chain);
        b->items[i].at = clock_now_ms();
        b->items[i].draft = b->texts[i];
        b->list.n++;
    }
    return &b->list;
}

void event_batch_refs(const struct event_batch *b, struct pending_refs *out)
{
    out->n = 0;
    for (size_t i = 0; i < b->n && i < PENDING_MAX; i++)
        memcpy(out->id[out->n++], b->ev[i].id, ID_BUF);
}

void event_batch_drop(struct event_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        event_free(&b->ev[i]);
        free(b->texts[i]);
        b->texts[i] = NULL;
    }
    b->n = 0;
}

void event_batch_commit(struct app *app, struct event_batch *b)
{
    struct error e = ERROR_INIT;
    if (!events_commit(app, b->ev, b->n, &e))
        log_emit(
            LOG_WARN, "event left for recovery",
            json_pack("{s:s, s:s}", "event_id", b->n > 0 ? b->ev[0].id : "", "error", e.message));
    event_batch_drop(b);
}

/* ---- recovery ---- */

struct recover {
    struct app *app;
    struct event evs[64];
    size_t n;
    int written;
    struct error *e;
    bool failed;
};

static bool flush_recovered(struct recover *r)
{
    char ids[64][ID_BUF];
    bool exists[64];
    for (size_t i = 0; i < r->n; i++)
        memcpy(ids[i], r->evs[i].id, ID_BUF);
    bool ok = store_events_exist(r->app->store, (const char(*)[ID_BUF])ids, r->n, exists, r->e);
    for (size_t i = 0; ok && i < r->n; i++) {
        if (!exists[i]) {
            ok = events_commit(r->app, &r->evs[i], 1, r->e);
            r->written += ok;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        event_free(&r->evs[i]);
    r->n = 0;
    return ok;
}

static bool take_pending(const char *id, const char *chain, int64_t at, const char *draft, void *ud)
{
    (void)at;
    struct recover *r = ud;
    struct event *ev = &r->evs[r->n];
    memset(ev, 0, sizeof *ev);
    memcpy(ev->id, id, ID_BUF);
    snprintf(ev->chain, sizeof ev->chain, "%s", chain);
    ev->body = json_loads(draft, 0, NULL);
    if (ev->body == NULL)
        return true; /* not ours to read: skipped */
    if (++r->n == 64 && !flush_recovered(r))
        return !(r->failed = true);
    return true;
}

bool events_recover(struct app *app, int64_t since_ms, int64_t until_ms, int *appended,
                    struct error *e)
{
    struct recover r = {.app = app, .e = e};
    bool ok = store_pending_each(app->store, since_ms, until_ms, take_pending, &r, e) &&
              !r.failed && flush_recovered(&r);
    for (size_t i = 0; i < r.n; i++)
        event_free(&r.evs[i]);
    *appended = r.written;
    return ok;
}

/* ---- the chain as stored ---- */

void event_row_free(struct event_row *r)
{
    free(r->canonical);
    r->canonical = NULL;
}

json_t *event_render(const struct event_row *r)
{
    json_t *v = r->canonical ? json_loads(r->canonical, 0, NULL) : NULL;
    if (v == NULL)
        return NULL;
    json_object_set_new(v, "id", json_string(r->id));
    json_object_set_new(v, "hash", json_string(r->hash));
    return v;
}

bool event_verify(const struct event_row *r, const struct event_row *prev, char *why, size_t cap)
{
    char hash[EVENT_HASH_BUF];
    if (r->canonical == NULL)
        return snprintf(why, cap, "seq %lld has no canonical text", (long long)r->seq), false;
    sha256_hex(r->canonical, strlen(r->canonical), hash);
    if (strcmp(hash, r->hash) != 0)
        return snprintf(why, cap, "seq %lld: its hash does not cover its contents",
                        (long long)r->seq),
               false;
    json_t *v = json_loads(r->canonical, 0, NULL);
    char *again = v ? jcs_dumps(v) : NULL;
    json_t *seq = json_object_get(v, "seq"), *ph = json_object_get(v, "prev_hash");
    bool canonical = again != NULL && strcmp(again, r->canonical) == 0;
    bool seq_ok = json_is_integer(seq) && json_integer_value(seq) == r->seq;
    bool link_ok = prev == NULL
                       ? (json_is_null(ph) || json_is_string(ph))
                       : json_is_string(ph) && strcmp(json_string_value(ph), prev->hash) == 0;
    bool contiguous = prev == NULL || r->seq == prev->seq + 1;
    free(again);
    json_decref(v);
    if (!canonical)
        return snprintf(why, cap, "seq %lld: its text is not canonical JSON", (long long)r->seq),
               false;
    if (!seq_ok || !contiguous)
        return snprintf(why, cap, "seq %lld: out of sequence", (long long)r->seq), false;
    if (!link_ok)
        return snprintf(why, cap, "seq %lld: prev_hash is not the hash of seq %lld",
                        (long long)r->seq, (long long)(r->seq - 1)),
               false;
    return true;
}
