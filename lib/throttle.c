#include "throttle.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

static void key_of(char out[THROTTLE_KEY_BUF], const char *kind, const char *who)
{
    snprintf(out, THROTTLE_KEY_BUF, "%s:%s", kind, who);
}

/* A per-address key: an IPv6 client counts by its /64 (netaddr_throttle_key). */
static void address_key(char out[THROTTLE_KEY_BUF], const char *kind, const char *client)
{
    char addr[NETADDR_BUF];
    netaddr_throttle_key(client, addr);
    key_of(out, kind, addr);
}

static void release(struct app *app, const char (*ids)[ID_BUF], size_t n, const char *clear_key)
{
    struct error e = ERROR_INIT;
    if (n > 0 && !store_throttle_release(app->store, ids, n, clear_key, &e))
        log_emit(LOG_WARN, "throttle event not released", json_pack("{s:s}", "error", e.message));
}

/* 429 for key, whose count `n` (its own event among them) is over limit:
 * retry_after is when the count drops to the limit, i.e. when event
 * n - limit - 1 (oldest first, after the own one is taken back) leaves
 * the window. */
static bool refuse(struct app *app, const char *key, long limit, long window_s, int64_t now,
                   int64_t n, struct error *e)
{
    int64_t window_ms = (int64_t)window_s * 1000, at = 0;
    struct error le = ERROR_INIT;
    int64_t skip = n - 1 - limit; /* without the own event, the count is n - 1 >= limit */
    if (!store_throttle_nth(app->store, key, now - window_ms, skip < 0 ? 0 : skip, &at, &le))
        at = 0; /* the answer is a refusal either way; the wait is then the window */
    int64_t wait_ms = at > 0 ? at + window_ms - now : window_ms;
    e->retry_after = (int)(wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000);
    return error_set(e, ERR_RATE_LIMITED, "too many attempts; retry in %d s", e->retry_after);
}

/* Reserves one event for each of keys[0..n) (limits[i] > 0), then counts;
 * refuses, giving the events back, when a count passes its limit. The ids
 * of the events it keeps go into ids (*kept how many), the counts before
 * this attempt into before. */
static bool reserve(struct app *app, const char *const *keys, const long *limits, size_t n,
                    long window_s, char (*ids)[ID_BUF], size_t *kept, int64_t *before,
                    struct error *e)
{
    *kept = 0;
    int64_t now = clock_now_ms();
    if (n == 0)
        return true;
    if (!store_throttle_reserve(app->store, keys, n, now, now + (int64_t)window_s * 1000, ids, e))
        return false;
    int64_t counts[THROTTLE_KEYS_MAX] = {0};
    if (!store_throttle_counts(app->store, keys, n, now - (int64_t)window_s * 1000 - 1, counts,
                               e)) {
        release(app, (const char(*)[ID_BUF])ids, n, NULL);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (counts[i] > limits[i]) {
            release(app, (const char(*)[ID_BUF])ids, n, NULL);
            return refuse(app, keys[i], limits[i], window_s, now, counts[i], e);
        }
        before[i] = counts[i] - 1;
    }
    *kept = n;
    return true;
}

bool throttle_login_reserve(struct app *app, const char *email_key, const char *client,
                            struct throttle_hold *h, struct error *e)
{
    const struct config *cfg = app->cfg;
    memset(h, 0, sizeof *h);
    char address[THROTTLE_KEY_BUF];
    key_of(h->account_key, "login:account", email_key);
    address_key(address, "login:address", client);
    const char *keys[THROTTLE_KEYS_MAX];
    long limits[THROTTLE_KEYS_MAX];
    size_t n = 0;
    bool account = cfg->login_failures_per_account > 0;
    if (account) {
        keys[n] = h->account_key;
        limits[n++] = cfg->login_failures_per_account;
    }
    if (cfg->login_failures_per_address > 0) {
        keys[n] = address;
        limits[n++] = cfg->login_failures_per_address;
    }
    int64_t before[THROTTLE_KEYS_MAX] = {0};
    if (!reserve(app, keys, limits, n, cfg->login_window_seconds, h->ids, &h->n, before, e))
        return false;
    h->account_failures = account && before[0] > 0;
    return true;
}

void throttle_login_succeeded(struct app *app, struct throttle_hold *h)
{
    release(app, (const char(*)[ID_BUF])h->ids, h->n, h->account_failures ? h->account_key : NULL);
    h->n = 0;
}

void throttle_login_release(struct app *app, struct throttle_hold *h)
{
    release(app, (const char(*)[ID_BUF])h->ids, h->n, NULL);
    h->n = 0;
}

bool throttle_mail(struct app *app, const char *client, const char *email_key, struct error *e)
{
    const struct config *cfg = app->cfg;
    char addr[THROTTLE_KEY_BUF], mail[THROTTLE_KEY_BUF], ids[2][ID_BUF];
    address_key(addr, "mail:address", client);
    key_of(mail, "mail:email", email_key);
    const char *keys[2];
    long limits[2];
    size_t n = 0, kept = 0;
    if (cfg->mail_per_address > 0) {
        keys[n] = addr;
        limits[n++] = cfg->mail_per_address;
    }
    if (cfg->mail_per_email > 0) {
        keys[n] = mail;
        limits[n++] = cfg->mail_per_email;
    }
    int64_t before[2];
    return reserve(app, keys, limits, n, 3600, ids, &kept, before, e);
}

bool throttle_attempt(struct app *app, enum throttle_attempt kind, const char *client,
                      struct error *e)
{
    const struct config *cfg = app->cfg;
    long limit =
        kind == THROTTLE_ORG_CREATE ? cfg->org_creates_per_address : cfg->signups_per_address;
    if (limit <= 0)
        return true;
    char key[THROTTLE_KEY_BUF], ids[1][ID_BUF];
    address_key(key, kind == THROTTLE_ORG_CREATE ? "create:address" : "signup:address", client);
    const char *keys[1] = {key};
    size_t kept = 0;
    int64_t before[1];
    return reserve(app, keys, &limit, 1, cfg->signup_window_seconds, ids, &kept, before, e);
}
