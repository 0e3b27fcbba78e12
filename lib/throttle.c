#include "throttle.h"

#include <stdio.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

#define KEY_BUF (EMAIL_BUF + 32)

static void key_of(char out[KEY_BUF], const char *kind, const char *who)
{
    snprintf(out, KEY_BUF, "%s:%s", kind, who);
}

/* A per-address key: an IPv6 client counts by its /64 (netaddr_throttle_key). */
static void address_key(char out[KEY_BUF], const char *kind, const char *client)
{
    char addr[NETADDR_BUF];
    netaddr_throttle_key(client, addr);
    key_of(out, kind, addr);
}

/* Refuses when key has `limit` events or more inside the window ending now;
 * *n (may be NULL) gets how many it has. */
static bool under_limit(struct app *c, const char *key, long limit, long window_s, int64_t now,
                        int64_t *count, struct error *e)
{
    if (limit <= 0)
        return true;
    int64_t window_ms = (int64_t)window_s * 1000, since = now - window_ms, n = 0;
    if (!store_throttle_count(c->store, key, since, &n, e))
        return false;
    if (count != NULL)
        *count = n;
    if (n < limit)
        return true;
    /* the count drops below the limit when event n - limit (oldest first) leaves the window */
    int64_t at = 0;
    if (!store_throttle_nth(c->store, key, since, n - limit, &at, e))
        return false;
    int64_t wait_ms = at > 0 ? at + window_ms - now : window_ms;
    e->retry_after = (int)(wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000);
    return error_set(e, ERR_RATE_LIMITED, "too many attempts; retry in %d s", e->retry_after);
}

static void add_event(struct app *c, const char *key, long window_s, int64_t now)
{
    struct error e = ERROR_INIT;
    if (!store_throttle_add(c->store, key, now, now + (int64_t)window_s * 1000, &e))
        log_emit(LOG_WARN, "throttle event not recorded", json_pack("{s:s}", "error", e.message));
}

bool throttle_login_check(struct app *c, const char *email_key, const char *client,
                          bool *account_failures, struct error *e)
{
    const struct config *cfg = c->cfg;
    char account[KEY_BUF], address[KEY_BUF];
    key_of(account, "login:account", email_key);
    address_key(address, "login:address", client);
    int64_t now = clock_now_ms(), failures = 0;
    bool ok = under_limit(c, account, cfg->login_failures_per_account, cfg->login_window_seconds,
                          now, &failures, e) &&
              under_limit(c, address, cfg->login_failures_per_address, cfg->login_window_seconds,
                          now, NULL, e);
    *account_failures = failures > 0;
    return ok;
}

void throttle_login_failed(struct app *c, const char *email_key, const char *client)
{
    const struct config *cfg = c->cfg;
    char key[KEY_BUF];
    int64_t now = clock_now_ms();
    if (cfg->login_failures_per_account > 0) {
        key_of(key, "login:account", email_key);
        add_event(c, key, cfg->login_window_seconds, now);
    }
    if (cfg->login_failures_per_address > 0) {
        address_key(key, "login:address", client);
        add_event(c, key, cfg->login_window_seconds, now);
    }
}

void throttle_login_succeeded(struct app *c, const char *email_key)
{
    if (c->cfg->login_failures_per_account <= 0)
        return;
    char key[KEY_BUF];
    key_of(key, "login:account", email_key);
    struct error e = ERROR_INIT;
    if (!store_throttle_clear(c->store, key, &e))
        log_emit(LOG_WARN, "throttle reset failed", json_pack("{s:s}", "error", e.message));
}

bool throttle_attempt(struct app *c, enum throttle_attempt kind, const char *client,
                      struct error *e)
{
    const struct config *cfg = c->cfg;
    long limit = kind == THROTTLE_SIGNUP ? cfg->signups_per_address : cfg->org_creates_per_address;
    if (limit <= 0)
        return true;
    char key[KEY_BUF];
    address_key(key, kind == THROTTLE_SIGNUP ? "signup:address" : "create:address", client);
    int64_t now = clock_now_ms();
    if (!under_limit(c, key, limit, cfg->signup_window_seconds, now, NULL, e))
        return false;
    add_event(c, key, cfg->signup_window_seconds, now);
    return true;
}
