#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions.h"
#include "util.h"

#ifndef ORGD_VERSION
#define ORGD_VERSION "0.0.0"
#endif

/* ---- the label sets: closed lists, so the tables have a fixed size ---- */

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
#define N_METHODS (sizeof methods / sizeof methods[0] + 1) /* + "other" */

/* Statuses counted under their own code; any other is counted under its
 * class ("2xx" ... "5xx", or "other" outside 100..599). */
static const int known_status[] = {200, 201, 202, 204, 301, 302, 304, 307, 308, 400, 401, 403,
                                   404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416,
                                   417, 422, 429, 431, 500, 501, 502, 503, 504, 505};
#define N_KNOWN (sizeof known_status / sizeof known_status[0])
#define N_STATUS (N_KNOWN + 6) /* 1xx 2xx 3xx 4xx 5xx other */

static const int64_t bucket_us[METRICS_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const char *const bucket_text[METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

#define N_SLOTS (METRICS_ROUTES_MAX + 1) /* the last is "unmatched" */
#define SLOT_UNMATCHED METRICS_ROUTES_MAX

/* ---- the counters ---- */

static _Atomic(const char *) route_names[METRICS_ROUTES_MAX];
static atomic_ullong requests[N_SLOTS][N_METHODS][N_STATUS];
static atomic_ullong buckets[N_SLOTS][METRICS_BUCKETS + 1];
static atomic_ullong sum_us[N_SLOTS];
static atomic_ullong mongo_errors[ERR_KIND_COUNT];
static atomic_ullong hash_rejections;
static atomic_ullong hashes, hash_cpu_us;
static atomic_ullong recovery_actions[RECOVERY_ACTION_COUNT];
static atomic_ullong logins[LOGIN_OUTCOME_COUNT];
static atomic_ullong sessions_ended[END_COUNT];
static atomic_ullong refresh_retries;
static atomic_ullong jwt_keys_loaded;
/* the actions of actions.h, and "other" for one it does not know */
#define N_EVENT_ACTIONS (EVENT_ACTIONS_COUNT + 1)
static atomic_ullong events_written[N_EVENT_ACTIONS];
static const char *const delivery_results[] = {"delivered", "retrying", "failed"};
static atomic_ullong deliveries[3];
static atomic_llong outbox_pending;
static const char *const mail_templates[] = {"invitation",   "invitation_resent", "password_reset",
                                             "verify_email", "password_changed",  "email_changed"};
static atomic_ullong mail_sent[6];
static atomic_ullong mail_failures;
static atomic_llong mail_pending;
static _Atomic double outbox_oldest_s;
static atomic_ullong jwt_reloads[2]; /* [0] failed, [1] loaded */
static atomic_ullong invitations[INVITATION_OUTCOME_COUNT];

static const char *const command_names[] = {
    "find",          "insert",          "update", "delete", "aggregate",        "getMore", "count",
    "createIndexes", "listCollections", "create", "drop",   "renameCollection", "ping",    "other"};
#define N_COMMANDS (sizeof command_names / sizeof command_names[0])
static atomic_ullong commands[N_COMMANDS];

static const char *const invitation_outcome_names[INVITATION_OUTCOME_COUNT] = {
    "created", "accepted", "revoked", "refused"};

static const char *const login_outcome_names[LOGIN_OUTCOME_COUNT] = {"ok", "bad_credentials",
                                                                     "throttled"};
static atomic_llong start_ms;

#define ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

void metrics_start(void)
{
    atomic_store(&start_ms, (long long)clock_now_ms());
}

int64_t metrics_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t method_index(const char *m)
{
    for (size_t i = 0; m != NULL && i < N_METHODS - 1; i++)
        if (strcmp(m, methods[i]) == 0)
            return i;
    return N_METHODS - 1;
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (known_status[i] == status)
            return i;
    if (status >= 100 && status <= 599)
        return N_KNOWN + (size_t)(status / 100 - 1);
    return N_KNOWN + 5;
}

/* The label text of status slot i into buf. */
static const char *status_label(size_t i, char buf[8])
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    if (i >= N_KNOWN)
        return classes[i - N_KNOWN];
    snprintf(buf, 8, "%d", known_status[i]);
    return buf;
}

int metrics_bucket_of(int64_t micros)
{
    int i = 0;
    while (i < METRICS_BUCKETS && micros > bucket_us[i])
        i++;
    return i;
}

static size_t slot_of(int route, const char *pattern)
{
    if (route < 0 || route >= METRICS_ROUTES_MAX || pattern == NULL)
        return SLOT_UNMATCHED;
    const char *cur = atomic_load_explicit(&route_names[route], memory_order_acquire);
    if (cur == NULL) {
        const char *expected = NULL;
        atomic_compare_exchange_strong_explicit(&route_names[route], &expected, pattern,
                                                memory_order_acq_rel, memory_order_acquire);
    }
    return (size_t)route;
}

void metrics_request(int route, const char *pattern, const char *method, int status, int64_t micros)
{
    size_t slot = slot_of(route, pattern);
    if (micros < 0)
        micros = 0;
    ADD(requests[slot][method_index(method)][status_index(status)], 1);
    ADD(buckets[slot][metrics_bucket_of(micros)], 1);
    ADD(sum_us[slot], (unsigned long long)micros);
}

void metrics_mongo_error(enum err_kind kind)
{
    if ((unsigned)kind < ERR_KIND_COUNT)
        ADD(mongo_errors[kind], 1);
}

void metrics_hash_rejected(void)
{
    ADD(hash_rejections, 1);
}

void metrics_hash_done(int64_t cpu_us)
{
    ADD(hashes, 1);
    ADD(hash_cpu_us, cpu_us > 0 ? (unsigned long long)cpu_us : 0);
}

void metrics_recovery_action(enum recovery_action a)
{
    if ((unsigned)a < RECOVERY_ACTION_COUNT)
        ADD(recovery_actions[a], 1);
}

void metrics_login(enum login_outcome o)
{
    if ((unsigned)o < LOGIN_OUTCOME_COUNT)
        ADD(logins[o], 1);
}

/* 0: never counted, 1: the database did not answer, 2: counted */
static atomic_int orgs_state;
static atomic_long orgs_counts[ORG_STATE_COUNT];

void metrics_set_orgs(bool up, const long counts[ORG_STATE_COUNT])
{
    for (int i = 0; up && i < ORG_STATE_COUNT; i++)
        atomic_store(&orgs_counts[i], counts[i]);
    atomic_store(&orgs_state, up ? 2 : 1);
}

void metrics_get_orgs(struct metrics_scrape *x)
{
    int st = atomic_load(&orgs_state);
    x->db_known = st != 0;
    x->db_up = st == 2;
    for (int i = 0; i < ORG_STATE_COUNT; i++)
        x->orgs[i] = atomic_load(&orgs_counts[i]);
}

void metrics_mongo_command(const char *name)
{
    size_t i = 0;
    while (i < N_COMMANDS - 1 && strcmp(name, command_names[i]) != 0)
        i++;
    ADD(commands[i], 1);
}

void metrics_invitation(enum invitation_outcome o)
{
    if ((unsigned)o < INVITATION_OUTCOME_COUNT)
        ADD(invitations[o], 1);
}

void metrics_sessions_ended(enum session_end why, int64_t n)
{
    if ((unsigned)why < END_COUNT && n > 0)
        ADD(sessions_ended[why], (unsigned long long)n);
}

void metrics_refresh_retry(void)
{
    ADD(refresh_retries, 1);
}

void metrics_jwt_keys(size_t loaded)
{
    atomic_store(&jwt_keys_loaded, loaded);
}

void metrics_jwt_reload(bool loaded)
{
    ADD(jwt_reloads[loaded], 1);
}

void metrics_webhook_delivery(const char *result)
{
    for (size_t i = 0; i < 3; i++)
        if (strcmp(result, delivery_results[i]) == 0)
            ADD(deliveries[i], 1);
}

void metrics_set_outbox(long long pending, double oldest_age_s)
{
    atomic_store(&outbox_pending, pending);
    atomic_store(&outbox_oldest_s, oldest_age_s);
}

void metrics_mail_sent(const char *tpl)
{
    for (size_t i = 0; i < 6; i++)
        if (strcmp(tpl, mail_templates[i]) == 0)
            ADD(mail_sent[i], 1);
}

void metrics_mail_failure(void)
{
    ADD(mail_failures, 1);
}

void metrics_set_mail_pending(long long n)
{
    atomic_store(&mail_pending, n);
}

void metrics_event_written(const char *action)
{
    size_t i = 0;
    while (i < event_actions_n && strcmp(action, event_actions[i]) != 0)
        i++;
    ADD(events_written[i], 1);
}

void metrics_reset(void)
{
    atomic_store(&refresh_retries, 0);
    atomic_store(&jwt_keys_loaded, 0);
    atomic_store(&jwt_reloads[0], 0);
    atomic_store(&jwt_reloads[1], 0);
    for (size_t i = 0; i < N_EVENT_ACTIONS; i++)
        atomic_store(&events_written[i], 0);
    for (size_t i = 0; i < 3; i++)
        atomic_store(&deliveries[i], 0);
    atomic_store(&outbox_pending, 0);
    for (size_t i = 0; i < 6; i++)
        atomic_store(&mail_sent[i], 0);
    atomic_store(&mail_failures, 0);
    atomic_store(&mail_pending, 0);
    atomic_store(&outbox_oldest_s, 0);
    for (size_t i = 0; i < METRICS_ROUTES_MAX; i++)
        atomic_store(&route_names[i], NULL);
    for (size_t s = 0; s < N_SLOTS; s++) {
        for (size_t m = 0; m < N_METHODS; m++)
            for (size_t c = 0; c < N_STATUS; c++)
                atomic_store(&requests[s][m][c], 0);
        for (size_t b = 0; b <= METRICS_BUCKETS; b++)
            atomic_store(&buckets[s][b], 0);
        atomic_store(&sum_us[s], 0);
    }
    for (size_t k = 0; k < ERR_KIND_COUNT; k++)
        atomic_store(&mongo_errors[k], 0);
    atomic_store(&hash_rejections, 0);
    atomic_store(&hashes, 0);
    atomic_store(&hash_cpu_us, 0);
    for (size_t a = 0; a < RECOVERY_ACTION_COUNT; a++)
        atomic_store(&recovery_actions[a], 0);
    for (size_t a = 0; a < LOGIN_OUTCOME_COUNT; a++)
        atomic_store(&logins[a], 0);
    for (size_t a = 0; a < END_COUNT; a++)
        atomic_store(&sessions_ended[a], 0);
    for (size_t a = 0; a < INVITATION_OUTCOME_COUNT; a++)
        atomic_store(&invitations[a], 0);
    for (size_t a = 0; a < N_COMMANDS; a++)
        atomic_store(&commands[a], 0);
    atomic_store(&orgs_state, 0);
}

bool metrics_escape_label(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return false;
    for (const char *p = in; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        size_t n = rep ? 2 : 1;
        if (o + n >= cap) {
            out[o] = '\0';
            return false;
        }
        if (rep)
            memcpy(out + o, rep, 2);
        else
            out[o] = *p;
        o += n;
    }
    out[o] = '\0';
    return true;
}

/* ---- rendering: a growable buffer with a hard maximum ---- */

struct out {
    char *data;
    size_t len, cap, max;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->data + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        /* grow; the NUL must fit within max too */
        size_t want = o->len + (size_t)n + 1;
        if (want > o->max) {
            o->failed = true;
            return;
        }
        size_t cap = o->cap * 2 > want ? o->cap * 2 : want;
        if (cap > o->max)
            cap = o->max;
        if (cap < want) { /* never loop without growing */
            o->failed = true;
            return;
        }
        char *grown = realloc(o->data, cap);
        if (grown == NULL) {
            o->failed = true;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *slot_name(size_t slot, char *buf, size_t cap)
{
    const char *name = slot == SLOT_UNMATCHED
                           ? "unmatched"
                           : atomic_load_explicit(&route_names[slot], memory_order_acquire);
    if (name == NULL)
        return NULL;
    metrics_escape_label(name, buf, cap);
    return buf;
}

static void render_requests(struct out *o)
{
    family(o, "orgd_http_requests_total", "counter",
           "HTTP requests answered, by route template, method and status.");
    char route[256], st[8];
    for (size_t s = 0; s < N_SLOTS; s++) {
        if (slot_name(s, route, sizeof route) == NULL)
            continue;
        for (size_t m = 0; m < N_METHODS; m++) {
            for (size_t c = 0; c < N_STATUS; c++) {
                unsigned long long n = GET(requests[s][m][c]);
                if (n == 0)
                    continue;
                put(o, "orgd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n",
                    route, m < N_METHODS - 1 ? methods[m] : "other", status_label(c, st), n);
            }
        }
    }

    family(o, "orgd_http_request_duration_seconds", "histogram",
           "Time from receiving a request to having answered it, by route template.");
    for (size_t s = 0; s < N_SLOTS; s++) {
        if (slot_name(s, route, sizeof route) == NULL)
            continue;
        /* routes that share a template (GET and POST /organization/) are
         * one series: Prometheus refuses a series twice */
        char other[256];
        bool seen = false;
        for (size_t p = 0; p < s && !seen; p++)
            seen = slot_name(p, other, sizeof other) != NULL && strcmp(other, route) == 0;
        if (seen)
            continue;
        unsigned long long counts[METRICS_BUCKETS + 1] = {0}, total = 0, us = 0;
        for (size_t q = s; q < N_SLOTS; q++) {
            if (q != s && (slot_name(q, other, sizeof other) == NULL || strcmp(other, route) != 0))
                continue;
            for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
                counts[b] += GET(buckets[q][b]);
                total += GET(buckets[q][b]);
            }
            us += GET(sum_us[q]);
        }
        if (total == 0)
            continue;
        unsigned long long cumulative = 0;
        for (size_t b = 0; b < METRICS_BUCKETS; b++) {
            cumulative += counts[b];
            put(o, "orgd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                route, bucket_text[b], cumulative);
        }
        put(o, "orgd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route,
            total);
        put(o, "orgd_http_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n", route,
            us / 1000000, us % 1000000);
        put(o, "orgd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route, total);
    }
}

static void render_mongo(struct out *o, const struct metrics_scrape *x)
{
    family(o, "orgd_mongo_errors_total", "counter",
           "MongoDB driver errors, by the kind the store translated them to.");
    for (size_t k = 0; k < ERR_KIND_COUNT; k++) {
        unsigned long long n = GET(mongo_errors[k]);
        bool always =
            k == ERR_UNAVAILABLE || k == ERR_CONFLICT || k == ERR_NOT_FOUND || k == ERR_INTERNAL;
        if (n > 0 || always)
            put(o, "orgd_mongo_errors_total{kind=\"%s\"} %llu\n", error_kind_name((enum err_kind)k),
                n);
    }
    if (!x->db_known)
        return;
    family(o, "orgd_mongo_up", "gauge",
           "1 if MongoDB answered the last count of organizations, else 0.");
    put(o, "orgd_mongo_up %d\n", x->db_up ? 1 : 0);
    if (!x->db_up)
        return;
    family(o, "orgd_organizations", "gauge",
           "Organizations in the database, by state (counted at most once a second).");
    for (int s = 0; s < ORG_STATE_COUNT; s++)
        put(o, "orgd_organizations{state=\"%s\"} %ld\n", org_state_name((enum org_state)s),
            x->orgs[s]);
}

char *metrics_render(const struct metrics_scrape *x, size_t max, size_t *len)
{
    *len = 0;
    struct out o = {.cap = max < 4096 ? max : 4096, .max = max};
    if (o.cap == 0 || (o.data = malloc(o.cap)) == NULL)
        return NULL;
    o.data[0] = '\0';

    render_requests(&o);
    render_mongo(&o, x);

    family(&o, "orgd_password_hashes_in_flight", "gauge",
           "Password hashes (argon2id) computing right now.");
    put(&o, "orgd_password_hashes_in_flight %d\n", x->hashes_in_flight);
    family(&o, "orgd_password_hash_rejections_total", "counter",
           "Password hashes refused (503) because no hashing slot freed up in time.");
    put(&o, "orgd_password_hash_rejections_total %llu\n", GET(hash_rejections));
    family(&o, "orgd_password_hashes_total", "counter",
           "Password hashes and verifies (argon2id) computed.");
    put(&o, "orgd_password_hashes_total %llu\n", GET(hashes));
    family(&o, "orgd_password_hash_cpu_seconds_total", "counter",
           "CPU time the hashing threads spent computing them.");
    put(&o, "orgd_password_hash_cpu_seconds_total %llu.%06llu\n", GET(hash_cpu_us) / 1000000,
        GET(hash_cpu_us) % 1000000);

    family(&o, "orgd_recovery_actions_total", "counter",
           "Interrupted operations finished or undone by recovery, by action.");
    for (int a = 0; a < RECOVERY_ACTION_COUNT; a++)
        put(&o, "orgd_recovery_actions_total{action=\"%s\"} %llu\n",
            recovery_action_name((enum recovery_action)a), GET(recovery_actions[a]));

    family(&o, "orgd_logins_total", "counter",
           "Logins (POST /admin/login and /auth/signin) by outcome.");
    for (int a = 0; a < LOGIN_OUTCOME_COUNT; a++)
        put(&o, "orgd_logins_total{outcome=\"%s\"} %llu\n", login_outcome_names[a], GET(logins[a]));
    family(&o, "orgd_sessions_ended_total", "counter",
           "Sessions ended before they expired, by reason.");
    for (int a = 0; a < END_COUNT; a++)
        put(&o, "orgd_sessions_ended_total{reason=\"%s\"} %llu\n",
            session_end_name((enum session_end)a), GET(sessions_ended[a]));

    family(&o, "orgd_refresh_retries_total", "counter",
           "Refreshes answered with the pair a rotation just made (a retry within "
           "REFRESH_REUSE_GRACE_MS), not taken for reuse.");
    put(&o, "orgd_refresh_retries_total %llu\n", GET(refresh_retries));

    family(&o, "orgd_jwt_keys_loaded", "gauge",
           "Keys that verify tokens now (JWT_KEYS_FILE's, and HMAC secrets).");
    put(&o, "orgd_jwt_keys_loaded %llu\n", GET(jwt_keys_loaded));
    family(&o, "orgd_jwt_key_reloads_total", "counter",
           "Reloads of JWT_KEYS_FILE (on SIGHUP or a change), by result: error keeps the keys.");
    put(&o, "orgd_jwt_key_reloads_total{result=\"ok\"} %llu\n", GET(jwt_reloads[1]));
    put(&o, "orgd_jwt_key_reloads_total{result=\"error\"} %llu\n", GET(jwt_reloads[0]));

    family(&o, "orgd_events_written_total", "counter",
           "Events appended to the audit log, by action.");
    for (size_t i = 0; i < N_EVENT_ACTIONS; i++)
        put(&o, "orgd_events_written_total{action=\"%s\"} %llu\n",
            i < event_actions_n ? event_actions[i] : "other", GET(events_written[i]));

    family(&o, "orgd_webhook_deliveries_total", "counter",
           "Webhook attempts by result: delivered, retrying (failed, another try is due), failed "
           "(the last try failed).");
    for (size_t i = 0; i < 3; i++)
        put(&o, "orgd_webhook_deliveries_total{result=\"%s\"} %llu\n", delivery_results[i],
            GET(deliveries[i]));
    family(&o, "orgd_webhook_outbox_pending", "gauge",
           "Webhook deliveries waiting to be sent (counted every 5 seconds).");
    put(&o, "orgd_webhook_outbox_pending %lld\n", (long long)atomic_load(&outbox_pending));
    family(&o, "orgd_webhook_outbox_oldest_seconds", "gauge",
           "How long the oldest pending webhook delivery has waited.");
    put(&o, "orgd_webhook_outbox_oldest_seconds %.3f\n", atomic_load(&outbox_oldest_s));

    family(&o, "orgd_mail_sent_total", "counter", "Messages the mail server took, by template.");
    for (size_t i = 0; i < 6; i++)
        put(&o, "orgd_mail_sent_total{template=\"%s\"} %llu\n", mail_templates[i],
            GET(mail_sent[i]));
    family(&o, "orgd_mail_failures_total", "counter",
           "Attempts the mail server refused or did not answer (each is tried again, or fails).");
    put(&o, "orgd_mail_failures_total %llu\n", GET(mail_failures));
    family(&o, "orgd_mail_outbox_pending", "gauge", "Messages waiting to be sent.");
    put(&o, "orgd_mail_outbox_pending %lld\n", (long long)atomic_load(&mail_pending));

    family(&o, "orgd_mongo_commands_total", "counter",
           "Commands sent to the database (each one a round trip), by command.");
    for (size_t a = 0; a < N_COMMANDS; a++)
        put(&o, "orgd_mongo_commands_total{command=\"%s\"} %llu\n", command_names[a],
            GET(commands[a]));
    family(&o, "orgd_invitations_total", "counter", "Invitations by outcome.");
    for (int a = 0; a < INVITATION_OUTCOME_COUNT; a++)
        put(&o, "orgd_invitations_total{outcome=\"%s\"} %llu\n", invitation_outcome_names[a],
            GET(invitations[a]));

    char version[64];
    metrics_escape_label(ORGD_VERSION, version, sizeof version);
    family(&o, "orgd_build_info", "gauge", "Always 1; the version is in the label.");
    put(&o, "orgd_build_info{version=\"%s\"} 1\n", version);
    long long ms = atomic_load(&start_ms);
    family(&o, "orgd_start_time_seconds", "gauge", "Start time of the process, in Unix seconds.");
    put(&o, "orgd_start_time_seconds %lld.%03lld\n", ms / 1000, ms % 1000);

    if (o.failed) {
        free(o.data);
        return NULL;
    }
    *len = o.len;
    return o.data;
}
