#include "delivery.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "events.h"
#include "faults.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "webhooks.h"

#define LEASE_SLACK_MS 5000
#define RESPONSE_READ_MAX 4096
#define DISABLE_AFTER_FAILURES 50
#define DISABLE_AFTER_MS (24LL * 3600 * 1000)
#define IDLE_WAIT_MS 500
#define FAN_BATCH 64
#define SENDER_BATCH 8 /* due deliveries a sender looks at at once */
#define SENDERS_MAX 32

struct delivery_engine {
    struct app *app;
    atomic_bool stop;
    pthread_t fanout;
    pthread_t senders[SENDERS_MAX];
    int nsenders;
    pthread_mutex_t lock;                /* in_flight */
    char in_flight[SENDERS_MAX][ID_BUF]; /* the endpoint each sender is sending to */
};

/* ---- signing ---- */

static bool b64_decode(const char *in, unsigned char *out, size_t cap, size_t *n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    *n = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        const char *at = strchr(alphabet, *p);
        if (at == NULL)
            return false;
        acc = acc << 6 | (unsigned)(at - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (*n == cap)
                return false;
            out[(*n)++] = (unsigned char)(acc >> bits & 0xFF);
        }
    }
    return *n > 0;
}

static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v =
            (unsigned)in[i] << 16 | (i + 1 < n ? in[i + 1] : 0) << 8 | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
}

bool delivery_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
                   char *out, size_t cap)
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return false;
    unsigned char key[64], mac[32];
    size_t klen = 0;
    if (!b64_decode(secret + 6, key, sizeof key, &klen))
        return false;
    size_t blen = strlen(body);
    size_t len = strlen(msg_id) + 24 + blen;
    char *signed_text = malloc(len + 1);
    if (signed_text == NULL)
        return false;
    int head = snprintf(signed_text, len + 1, "%s.%lld.", msg_id, timestamp);
    memcpy(signed_text + head, body, blen);
    bool ok = hmac_sha256(key, klen, signed_text, (size_t)head + blen, mac);
    free(signed_text);
    explicit_bzero(key, sizeof key);
    if (!ok || cap < 3 + 45)
        return false;
    memcpy(out, "v1,", 3);
    b64_encode(mac, sizeof mac, out + 3);
    return true;
}

/* The longest prefix of `in` that fits out (cap bytes with the NUL) and
 * is valid UTF-8, each byte that is not replaced by '?': what is kept of
 * an answer must go into JSON and BSON whatever the receiver sent. */
static void utf8_prefix(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p && o + 1 < cap) {
        size_t len = *p < 0x80             ? 1
                     : (*p & 0xE0) == 0xC0 ? 2
                     : (*p & 0xF0) == 0xE0 ? 3
                     : (*p & 0xF8) == 0xF0 ? 4
                                           : 0;
        bool valid = len > 0 && (len == 1 || *p >= 0xC2) && (len != 4 || *p <= 0xF4);
        for (size_t k = 1; valid && k < len; k++)
            valid = (p[k] & 0xC0) == 0x80;
        if (!valid) {
            out[o++] = '?';
            p++;
            continue;
        }
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    out[o] = '\0';
}

/* ---- one attempt ---- */

struct attempt_ctx {
    const struct config *cfg;
    char refused[NETADDR_BUF]; /* the address the destination rule refused */
    char body[RESPONSE_READ_MAX + 1];
    size_t len;
};

/* Every socket libcurl opens goes to an address the rule allows, checked
 * on the address itself: the one that will be connected to. */
static curl_socket_t open_checked(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct attempt_ctx *x = ud;
    (void)purpose;
    char ip[NETADDR_BUF] = "";
    if (a->family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, ip, sizeof ip);
    else if (a->family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, ip, sizeof ip);
    if (ip[0] == '\0' || !webhooks_destination_allowed(x->cfg, ip)) {
        snprintf(x->refused, sizeof x->refused, "%s", ip[0] ? ip : "(not IP)");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static size_t keep_body(char *data, size_t size, size_t n, void *ud)
{
    struct attempt_ctx *x = ud;
    size_t len = size * n, room = RESPONSE_READ_MAX - x->len;
    if (len > room) /* enough of it: stop reading (the attempt ends as it is) */
        len = room;
    memcpy(x->body + x->len, data, len);
    x->len += len;
    x->body[x->len] = '\0';
    return size * n == len ? len : 0;
}

/* Posts the message; fills a (status, time, error, the answer's start). */
static void post(const struct app *app, const struct webhook *w, const struct delivery *d,
                 const char *payload, struct delivery_attempt *a)
{
    const struct config *cfg = app->cfg;
    memset(a, 0, sizeof *a);
    a->at = clock_now_ms();
    long long ts = a->at / 1000;
    char sig[128], h_id[64], h_ts[64], h_sig[160];
    if (!delivery_sign(w->secret, d->message_id, ts, payload, sig, sizeof sig)) {
        snprintf(a->error, sizeof a->error, "the endpoint's secret is unusable");
        return;
    }
    snprintf(h_id, sizeof h_id, "webhook-id: %s", d->message_id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    struct attempt_ctx x = {.cfg = cfg};
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "User-Agent: orgd-webhooks");
    hdr = curl_slist_append(hdr, h_id);
    hdr = curl_slist_append(hdr, h_ts);
    hdr = curl_slist_append(hdr, h_sig);
    hdr = curl_slist_append(hdr, "Expect:");
    struct curl_slist *resolve = NULL;
#ifdef ORGD_FAULTS
    /* tests only: a name made to resolve to an address of their choice
     * (host:port:address), as an attacker's DNS would */
    const char *fake = getenv("ORGD_TEST_RESOLVE");
    if (fake != NULL && fake[0] != '\0')
        resolve = curl_slist_append(NULL, fake);
#endif
    if (c == NULL || hdr == NULL) {
        snprintf(a->error, sizeof a->error, "out of memory");
    } else {
        curl_easy_setopt(c, CURLOPT_URL, w->url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                         cfg->webhook_allow_http ? "http,https" : "https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         cfg->webhook_timeout_seconds * 1000 < 5000
                             ? cfg->webhook_timeout_seconds * 1000
                             : 5000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->webhook_timeout_seconds * 1000);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        if (resolve != NULL)
            curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
        int64_t t0 = clock_mono_ms();
        CURLcode rc = curl_easy_perform(c);
        a->ms = clock_mono_ms() - t0;
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        a->status = (int)status;
        if (x.refused[0] != '\0')
            snprintf(a->error, sizeof a->error,
                     "refused: %s is an address webhooks may not be sent to", x.refused);
        else if (rc == CURLE_WRITE_ERROR && a->status > 0)
            ; /* the answer was longer than we read: its status stands */
        else if (rc != CURLE_OK)
            snprintf(a->error, sizeof a->error, "%s", curl_easy_strerror(rc));
        else if (status < 200 || status > 299)
            snprintf(a->error, sizeof a->error, "the endpoint answered %ld", status);
        utf8_prefix(x.body, a->response, sizeof a->response);
    }
    curl_slist_free_all(hdr);
    curl_slist_free_all(resolve);
    curl_easy_cleanup(c);
}

/* ---- the endpoint's health ---- */

/* One try of count_result, with room for the endpoint as it is (w) and
 * as it becomes (next); whether to try again (a lost race). */
static bool count_once(struct app *app, const char *webhook_id, enum delivery_state outcome,
                       struct webhook *w, struct webhook *next)
{
    bool found = false, applied = false;
    struct error e = ERROR_INIT;
    if (!store_webhook_by_id(app->store, webhook_id, w, &found, &e) || !found || w->deleted)
        return false;
    *next = *w;
    int64_t now = clock_now_ms();
    bool failing = outcome != DELIVERY_DELIVERED;
    if (!failing) {
        if (w->consecutive_failures == 0 && w->failing_since == 0)
            return false;
        next->consecutive_failures = 0;
        next->failing_since = 0;
    } else {
        if (outcome == DELIVERY_FAILED)
            next->consecutive_failures++;
        if (next->failing_since == 0)
            next->failing_since = now;
        else if (outcome == DELIVERY_PENDING &&
                 next->consecutive_failures == w->consecutive_failures &&
                 now - next->failing_since < DISABLE_AFTER_MS)
            return false; /* still failing, as already written: nothing new */
    }
    bool disable = failing && next->enabled &&
                   (next->consecutive_failures >= DISABLE_AFTER_FAILURES ||
                    now - next->failing_since >= DISABLE_AFTER_MS);
    struct event_batch b = {0};
    if (disable) {
        next->enabled = false;
        snprintf(next->disabled_reason, sizeof next->disabled_reason,
                 "%d deliveries failed in a row, failing since %lld", next->consecutive_failures,
                 (long long)(next->failing_since / 1000));
        struct event *ev = event_batch_add(&b);
        event_draft(ev, "webhook.disabled", w->org_id, "webhook", w->id, NULL, NULL);
        event_change(ev, "enabled", json_true(), json_false());
        event_change_str(ev, "reason", NULL, next->disabled_reason);
    }
    bool written = (!disable || events_guard(app, &w->pending, &e)) &&
                   store_webhook_update(app->store, w, next, disable ? event_batch_list(&b) : NULL,
                                        &applied, &e);
    if (written && applied) {
        event_batch_commit(app, &b);
        if (disable)
            log_emit(LOG_WARN, "webhook disabled",
                     json_pack("{s:s, s:s, s:i}", "webhook_id", w->id, "org_id", w->org_id,
                               "failures", next->consecutive_failures));
        return false;
    }
    event_batch_drop(&b);
    return written; /* written but not applied: another change came first */
}

/* Counts a delivery's outcome against its endpoint (a guarded change; a
 * lost race with another change is retried once, else left: the next
 * result counts): a delivery that failed for good adds one to the
 * failures in a row, one delivered ends them; any failed attempt starts
 * the failing time. Disables the endpoint, with its event, after
 * DISABLE_AFTER_FAILURES failed deliveries in a row or DISABLE_AFTER_MS
 * of failing. */
static void count_result(struct app *app, const char *webhook_id, enum delivery_state outcome)
{
    struct webhook *w = malloc(2 * sizeof *w); /* 8 KB each: off the stack */
    if (w == NULL)
        return;
    struct webhook *next = w + 1;
    bool again = true;
    for (int attempt = 0; attempt < 2 && again; attempt++)
        again = count_once(app, webhook_id, outcome, w, next);
    free(w);
}

/* ---- the senders ---- */

static bool claim_endpoint(struct delivery_engine *d, int me, const char *webhook_id)
{
    pthread_mutex_lock(&d->lock);
    bool busy = false;
    for (int i = 0; i < d->nsenders && !busy; i++)
        busy = i != me && strcmp(d->in_flight[i], webhook_id) == 0;
    if (!busy)
        snprintf(d->in_flight[me], ID_BUF, "%s", webhook_id);
    pthread_mutex_unlock(&d->lock);
    return !busy;
}

/* The endpoints the other senders of this process are sending to: what
 * this one need not look at (a hanging endpoint starves nobody else). */
static size_t busy_endpoints(struct delivery_engine *d, int me, char (*out)[ID_BUF])
{
    size_t n = 0;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->nsenders; i++)
        if (i != me && d->in_flight[i][0] != '\0')
            memcpy(out[n++], d->in_flight[i], ID_BUF);
    pthread_mutex_unlock(&d->lock);
    return n;
}

static void release_endpoint(struct delivery_engine *d, int me)
{
    pthread_mutex_lock(&d->lock);
    d->in_flight[me][0] = '\0';
    pthread_mutex_unlock(&d->lock);
}

/* When the next attempt after attempt n (1-based) is due, or 0: none. */
static int64_t next_try(const struct config *cfg, int n, int64_t now)
{
    return (size_t)n <= cfg->webhook_retries ? now + cfg->webhook_retry[n - 1] * 1000 : 0;
}

/* Sends one delivery this sender leased (version: as leased). */
static void send_one(struct delivery_engine *d, struct delivery *del, int64_t version)
{
    struct app *app = d->app;
    struct error e = ERROR_INIT;
    struct webhook *w = malloc(sizeof *w); /* 8 KB: off the stack */
    bool found = false;
    char *payload = NULL;
    struct delivery_attempt a;
    bool usable = w != NULL && store_webhook_by_id(app->store, del->webhook_id, w, &found, &e) &&
                  store_delivery_payload(app->store, del->id, &payload, &e);
    if (!usable) {
        free(w);
        return; /* the database: the lease runs out, and it is tried again */
    }
    bool live = found && !w->deleted && w->enabled;
    bool attempted = false; /* a try at the endpoint was made (else: nothing to send to) */
    if (!live || payload == NULL) {
        memset(&a, 0, sizeof a);
        a.at = clock_now_ms();
        snprintf(a.error, sizeof a.error, "not sent: the endpoint is %s",
                 !found || w->deleted ? "deleted"
                 : !w->enabled        ? "disabled"
                                      : "without a message");
    } else {
        FAULT("webhook.before_send");
        post(app, w, del, payload, &a);
        FAULT("webhook.after_send");
        attempted = true;
    }
    free(payload);
    bool ok = a.error[0] == '\0';
    /* any failed try is tried again (a refused connection takes no time
     * at all); a message with no endpoint to go to is not */
    int64_t next = ok || !attempted ? 0 : next_try(app->cfg, del->attempts + 1, clock_now_ms());
    enum delivery_state state = ok         ? DELIVERY_DELIVERED
                                : next > 0 ? DELIVERY_PENDING
                                           : DELIVERY_FAILED;
    bool applied = false;
    store_delivery_record(app->store, del, version, &a, state, next, &applied, &e);
    metrics_webhook_delivery(ok ? "delivered" : state == DELIVERY_FAILED ? "failed" : "retrying");
    log_emit(ok ? LOG_DEBUG : LOG_INFO, ok ? "webhook delivered" : "webhook attempt failed",
             json_pack("{s:s, s:s, s:s, s:i, s:I, s:s}", "delivery_id", del->id, "webhook_id",
                       del->webhook_id, "action", del->action, "status", a.status, "ms",
                       (json_int_t)a.ms, "error", a.error));
    if (live && attempted && strcmp(del->action, "webhook.test") != 0)
        count_result(app, w->id, state);
    free(w);
}

struct sender_arg {
    struct delivery_engine *d;
    int me;
};

static void *sender_main(void *arg)
{
    events_context_system("webhooks");
    struct sender_arg *sa = arg;
    struct delivery_engine *d = sa->d;
    int me = sa->me;
    free(sa);
    struct app *app = d->app;
    struct delivery *due = calloc(SENDER_BATCH, sizeof *due); /* 24 KB each */
    char busy[SENDERS_MAX][ID_BUF];
    while (due != NULL && !atomic_load(&d->stop)) {
        size_t n = 0;
        struct error e = ERROR_INIT;
        int64_t now = clock_now_ms();
        bool worked = false;
        size_t nbusy = busy_endpoints(d, me, busy);
        if (store_deliveries_due(app->store, now, (const char(*)[ID_BUF])busy, nbusy, due,
                                 SENDER_BATCH, &n, &e)) {
            for (size_t i = 0; i < n && !worked && !atomic_load(&d->stop); i++) {
                if (!claim_endpoint(d, me, due[i].webhook_id))
                    continue; /* another sender of ours is at that endpoint */
                bool applied = false;
                int64_t lease = now + app->cfg->webhook_timeout_seconds * 1000 + LEASE_SLACK_MS;
                if (store_delivery_claim(app->store, &due[i], lease, app->instance_id, &applied,
                                         &e) &&
                    applied) {
                    send_one(d, &due[i], due[i].version + 1);
                    worked = true;
                }
                release_endpoint(d, me);
            }
        }
        if (!worked)
            usleep(IDLE_WAIT_MS * 1000);
    }
    if (due == NULL)
        log_text(LOG_ERROR, "webhook sender stopped", "out of memory");
    free(due);
    return NULL;
}

/* ---- fanning out ---- */

/* Queues ev (an org's event) to each enabled endpoint of its org that
 * takes its action. */
static bool fan_one(struct app *app, const struct event_row *ev, struct error *e)
{
    json_t *v = json_loads(ev->canonical, 0, NULL);
    const char *org_id = json_string_value(json_object_get(v, "org_id"));
    bool ok = true;
    /* 16 endpoints and a delivery: 150 KB, on the heap */
    struct webhook *hooks = org_id != NULL ? calloc(16, sizeof *hooks) : NULL;
    struct delivery *del = org_id != NULL ? malloc(sizeof *del) : NULL;
    if (org_id != NULL && (hooks == NULL || del == NULL))
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    if (ok && hooks != NULL) {
        size_t n = 0;
        char after[ID_BUF] = "";
        json_t *data = event_render(ev);
        json_t *body = json_pack("{s:s, s:O, s:O}", "type", ev->action, "timestamp",
                                 json_object_get(v, "at"), "data", data);
        char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        json_decref(data);
        do {
            ok = payload != NULL &&
                 store_webhooks_of_org(app->store, org_id, after, hooks, 16, &n, e);
            for (size_t i = 0; ok && i < n; i++) {
                memcpy(after, hooks[i].id, ID_BUF);
                /* an endpoint hears of what happens after it was made, and
                 * what it subscribes to */
                if (!hooks[i].enabled || ev->at < hooks[i].created_at ||
                    !webhooks_subscribed(&hooks[i], ev->action))
                    continue;
                memset(del, 0, sizeof *del);
                store_new_id(del->id);
                memcpy(del->webhook_id, hooks[i].id, ID_BUF);
                snprintf(del->org_id, sizeof del->org_id, "%.24s", org_id);
                memcpy(del->message_id, ev->id, ID_BUF);
                snprintf(del->action, sizeof del->action, "%s", ev->action);
                del->state = DELIVERY_PENDING;
                del->created_at = del->next_at = clock_now_ms();
                bool inserted = false;
                ok = store_delivery_insert(app->store, del, payload, &inserted, e);
            }
        } while (ok && n == 16);
        free(payload);
    }
    free(hooks);
    free(del);
    json_decref(v);
    return ok && store_event_fanned(app->store, ev->id, e);
}

static void *fanout_main(void *arg)
{
    struct delivery_engine *d = arg;
    struct event_row *rows = calloc(FAN_BATCH, sizeof *rows);
    while (rows != NULL && !atomic_load(&d->stop)) {
        size_t n = 0;
        struct error e = ERROR_INIT;
        bool ok = store_events_unfanned(d->app->store, rows, FAN_BATCH, &n, &e);
        for (size_t i = 0; ok && i < n; i++)
            ok = fan_one(d->app, &rows[i], &e);
        for (size_t i = 0; i < n; i++)
            event_row_free(&rows[i]);
        if (!ok)
            log_text(LOG_WARN, "webhook fan-out will retry", "%s", e.message);
        if (!ok || n < FAN_BATCH)
            usleep(IDLE_WAIT_MS * 1000);
    }
    if (rows == NULL)
        log_text(LOG_ERROR, "webhook fan-out stopped", "out of memory");
    free(rows);
    return NULL;
}

delivery_engine_t *delivery_start(struct app *app)
{
    if (app->cfg->webhook_workers <= 0)
        return NULL;
    struct delivery_engine *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->app = app;
    pthread_mutex_init(&d->lock, NULL);
    pthread_create(&d->fanout, NULL, fanout_main, d);
    long n = app->cfg->webhook_workers < SENDERS_MAX ? app->cfg->webhook_workers : SENDERS_MAX;
    d->nsenders = (int)n; /* before any starts: they read it */
    for (int i = 0; i < n; i++) {
        struct sender_arg *sa = malloc(sizeof *sa);
        if (sa != NULL) {
            sa->d = d;
            sa->me = i;
        }
        if (sa == NULL || pthread_create(&d->senders[i], NULL, sender_main, sa) != 0) {
            free(sa);
            d->senders[i] = 0;
            log_text(LOG_ERROR, "webhook sender not started", "%d of %ld", i + 1, n);
        }
    }
    return d;
}

void delivery_stop(delivery_engine_t *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stop, true);
    pthread_join(d->fanout, NULL);
    for (int i = 0; i < d->nsenders; i++)
        if (d->senders[i] != 0)
            pthread_join(d->senders[i], NULL);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
