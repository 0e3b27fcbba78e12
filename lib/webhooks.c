#include "webhooks.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "actions.h"
#include "events.h"
#include "jsonin.h"
#include "log.h"
#include "names.h"
#include "roles.h"
#include "util.h"

/* ---- the request ---- */

/* An action an endpoint may subscribe to: "*", an action orgd writes, or
 * a family "x.*" of them (a typo would otherwise hear nothing, silently). */
static bool action_valid(const char *a)
{
    return event_action_pattern_known(a);
}

bool webhook_request_parse(const char *body, size_t len, bool create, struct webhook_request *out,
                           struct error *e)
{
    memset(out, 0, sizeof *out);
    json_t *root = len > 0 ? jsonin_load(body, len, "request body", e) : json_object();
    if (root == NULL)
        return false;
    if (!json_is_object(root)) {
        json_decref(root);
        return error_set(e, ERR_MALFORMED, "request body must be a JSON object");
    }
    bool malformed = false;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "url") == 0) {
            if (!json_is_string(v)) {
                malformed = error_field(e, "url", "must be a string") || true;
            } else if (json_string_length(v) >= sizeof out->url) {
                error_field(e, "url", "is too long (at most %zu bytes)", sizeof out->url - 1);
            } else {
                out->has_url = true;
                snprintf(out->url, sizeof out->url, "%s", json_string_value(v));
            }
        } else if (strcmp(key, "events") == 0) {
            size_t i;
            json_t *a;
            if (!json_is_array(v)) {
                malformed = error_field(e, "events", "must be an array of strings") || true;
                continue;
            }
            out->has_events = true;
            if (json_array_size(v) == 0 || json_array_size(v) > WEBHOOK_EVENTS_MAX)
                error_field(e, "events", "must list 1 to %d actions", WEBHOOK_EVENTS_MAX);
            json_array_foreach(v, i, a)
            {
                if (!json_is_string(a)) {
                    malformed = error_field(e, "events", "must be an array of strings") || true;
                    break;
                }
                if (!action_valid(json_string_value(a))) {
                    error_field(e, "events",
                                "must be actions orgd writes (member.removed), families of them "
                                "(member.*) or *; \"%.40s\" is none of these",
                                json_string_value(a));
                    break;
                }
                if (out->nevents < WEBHOOK_EVENTS_MAX)
                    snprintf(out->events[out->nevents++], sizeof out->events[0], "%s",
                             json_string_value(a));
            }
        } else if (strcmp(key, "description") == 0) {
            size_t dlen = json_is_string(v) ? json_string_length(v) : 0;
            if (!json_is_string(v)) {
                malformed = error_field(e, "description", "must be a string") || true;
            } else if (dlen >= sizeof out->description) {
                error_field(e, "description", "is too long");
            } else {
                out->has_description = true;
                memcpy(out->description, json_string_value(v), dlen + 1);
                if (names_display_text(out->description, &dlen, sizeof out->description,
                                       "description", e))
                    names_description_valid(out->description, dlen, "description", e);
            }
        } else if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                malformed = error_field(e, "enabled", "must be true or false") || true;
            } else {
                out->has_enabled = true;
                out->enabled = json_is_true(v);
            }
        } else {
            error_field(e, key[0] == '$' ? "(operator)" : key, "is not a known field");
        }
    }
    json_decref(root);
    if (malformed)
        return error_set(e, ERR_MALFORMED, "request body has fields of the wrong type");
    if (create && !out->has_url)
        error_field(e, "url", "is required");
    if (create && !out->has_events)
        error_field(e, "events", "is required");
    if (create && !out->has_enabled)
        out->enabled = true;
    if (!create && !out->has_url && !out->has_events && !out->has_enabled &&
        !out->has_description && e->nfields == 0)
        error_field(e, "url", "give url, events, description or enabled to change");
    if (e->nfields > 0)
        return error_set(e, ERR_INVALID, "request validation failed");
    return true;
}

/* ---- where a webhook may go ---- */

/* Addresses no webhook goes to unless WEBHOOK_ALLOWED_NETWORKS says so:
 * "this" network, private, CGNAT, loopback, link-local, IETF protocol
 * assignments, benchmarking, multicast, reserved and broadcast; IPv6
 * unspecified, loopback and IPv4-compatible (::/96), NAT64 (both), 6to4
 * (which embeds an IPv4 address), unique local,
 * link-local and multicast. IPv4-mapped IPv6 addresses are judged as the
 * IPv4 address they carry (netaddr_trusted). */
static const char denied_text[] =
    "0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,192.0.0.0/24,"
    "192.168.0.0/16,198.18.0.0/15,224.0.0.0/4,240.0.0.0/4,::/96,64:ff9b::/96,64:ff9b:1::/48,"
    "2002::/16,fc00::/7,fe80::/10,ff00::/8";

bool webhooks_destination_allowed(const struct config *cfg, const char *ip)
{
    static struct netaddr_trust denied;
    static bool parsed;
    if (!parsed) { /* a constant: the same result whoever parses it first */
        char why[80];
        netaddr_trust_parse(denied_text, &denied, why, sizeof why);
        parsed = true;
    }
    if (netaddr_trusted(&cfg->webhook_allowed, ip))
        return true;
    return !netaddr_trusted(&denied, ip);
}

bool webhooks_url_valid(const struct config *cfg, const char *url, struct error *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    bool ok = u != NULL &&
              curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
    if (ok) {
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
    }
    if (!ok)
        error_field(e, "url", "is not a URL");
    else if (strcmp(scheme, "https") != 0 &&
             !(strcmp(scheme, "http") == 0 && cfg->webhook_allow_http))
        error_field(e, "url", "must be https%s", cfg->webhook_allow_http ? " or http" : "");
    else if (user != NULL || password != NULL)
        error_field(e, "url", "must not carry credentials (user:password@)");
    else {
        /* every address the name has now; each attempt checks the one it connects to */
        char name[256];
        size_t hl = strlen(host);
        bool bracketed = hl >= 2 && host[0] == '[' && host[hl - 1] == ']';
        snprintf(name, sizeof name, "%.*s", (int)(bracketed ? hl - 2 : hl), host + bracketed);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(name, NULL, &hints, &res) != 0 || res == NULL) {
            error_field(e, "url", "names a host that does not resolve");
        } else {
            for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
                char ip[NETADDR_BUF] = "";
                if (a->ai_family == AF_INET)
                    inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip,
                              sizeof ip);
                else if (a->ai_family == AF_INET6)
                    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, ip,
                              sizeof ip);
                if (ip[0] != '\0' && !webhooks_destination_allowed(cfg, ip)) {
                    error_field(e, "url", "resolves to %s: not a public address", ip);
                    break;
                }
            }
            freeaddrinfo(res);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    if (e->nfields > 0)
        return error_set(e, ERR_INVALID, "request validation failed");
    return true;
}

bool webhooks_subscribed(const struct webhook *w, const char *action)
{
    for (size_t i = 0; i < w->nevents; i++) {
        const char *a = w->events[i];
        size_t len = strlen(a);
        if (strcmp(a, "*") == 0 || strcmp(a, action) == 0 ||
            (len >= 2 && strcmp(a + len - 2, ".*") == 0 && strncmp(action, a, len - 1) == 0))
            return true;
    }
    return false;
}

/* ---- the use cases ---- */

/* The org ref names, if who may manage its webhooks. */
static bool manage(struct app *app, const struct caller *who, const char *org_id,
                   struct org_described *o, struct error *e)
{
    struct membership m;
    const struct access_ref ref = {.id = org_id};
    return access_org(app, who, &ref, ACCESS_ACT, o, &m, e) &&
           roles_require(m.role, ACT_MANAGE_WEBHOOKS, e);
}

/* Endpoint id of org o, not deleted: 404 otherwise. */
static bool endpoint_of(struct app *app, const struct org *o, const char *id, struct webhook *out,
                        struct error *e)
{
    bool found = false;
    if (!store_webhook_by_id(app->store, id, out, &found, e))
        return false;
    if (found && !out->deleted && strcmp(out->org_id, o->id) == 0)
        return true;
    return error_set(e, ERR_NOT_FOUND, "no such webhook");
}

/* 409 for an endpoint that sends nothing now. */
static bool sending(const struct webhook *w, struct error *e)
{
    if (w->enabled)
        return true;
    return error_set(e, ERR_CONFLICT, "this webhook is disabled (%s): enable it first",
                     w->disabled_reason[0] ? w->disabled_reason : "by a user");
}

static json_t *events_json(const struct webhook *w)
{
    json_t *a = json_array();
    for (size_t i = 0; i < w->nevents; i++)
        json_array_append_new(a, json_string(w->events[i]));
    return a;
}

static bool secret_new(char out[WEBHOOK_SECRET_BUF], struct error *e)
{
    unsigned char raw[32];
    if (!random_bytes(raw, sizeof raw))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    /* standard base64, as the Standard Webhooks secret format has it */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *p = out + snprintf(out, WEBHOOK_SECRET_BUF, "whsec_");
    for (size_t i = 0; i < sizeof raw; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (i + 1 < sizeof raw ? raw[i + 1] : 0) << 8 |
                     (i + 2 < sizeof raw ? raw[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < sizeof raw ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < sizeof raw ? b64[v & 63] : '=';
    }
    *p = '\0';
    explicit_bzero(raw, sizeof raw);
    return true;
}

/* The write of an endpoint change with its event. */
/* The write of an endpoint change with its event: what changed, before
 * and after (a deletion: what was, and null). A change that changes
 * nothing writes nothing (*unchanged). */
static bool write_endpoint(struct app *app, const struct caller *who, const struct webhook *cur,
                           struct webhook *next, const char *action, bool *unchanged,
                           struct error *e)
{
    struct event_batch b = {0};
    struct event *ev = event_batch_add(&b);
    event_draft(ev, action, next->org_id, "webhook", next->id, who, NULL);
    bool gone = next->deleted, changed = cur == NULL || gone;
    if (cur == NULL || gone || strcmp(cur->url, next->url) != 0) {
        event_change_str(ev, "url", cur ? cur->url : NULL, gone ? NULL : next->url);
        changed = true;
    }
    json_t *before = cur ? events_json(cur) : NULL, *now = events_json(next);
    if (before == NULL || gone || !json_equal(before, now)) {
        event_change(ev, "events", before, gone ? NULL : json_incref(now));
        changed = true;
    } else {
        json_decref(before);
    }
    json_decref(now);
    if (cur == NULL || strcmp(cur->description, next->description) != 0) {
        event_change_str(ev, "description", cur ? cur->description : NULL, next->description);
        changed = true;
    }
    if (cur == NULL || cur->enabled != next->enabled) {
        event_change(ev, "enabled", cur ? json_boolean(cur->enabled) : NULL,
                     json_boolean(next->enabled));
        changed = true;
    }
    *unchanged = !changed;
    if (!changed) {
        event_batch_drop(&b);
        return true;
    }
    bool applied = false;
    bool ok = cur == NULL ? store_webhook_insert(app->store, next, event_batch_list(&b), e)
                          : events_guard(app, &cur->pending, e) &&
                                store_webhook_update(app->store, cur, next, event_batch_list(&b),
                                                     &applied, e);
    if (ok && cur != NULL && !applied) {
        ok = false;
        e->retry_after = 1;
        error_set(e, ERR_BUSY, "the webhook changed meanwhile; retry");
    }
    if (ok)
        event_batch_commit(app, &b);
    else
        event_batch_drop(&b);
    return ok;
}

bool webhooks_create(struct app *app, const struct caller *who, const char *org_id,
                     const struct webhook_request *req, struct webhook *out,
                     char secret[WEBHOOK_SECRET_BUF], struct error *e)
{
    memset(out, 0, sizeof *out);
    struct org_described o;
    if (!manage(app, who, org_id, &o, e) || !webhooks_url_valid(app->cfg, req->url, e) ||
        !secret_new(secret, e))
        return false;
    store_new_id(out->id);
    memcpy(out->org_id, o.org.id, ID_BUF);
    snprintf(out->url, sizeof out->url, "%s", req->url);
    memcpy(out->events, req->events, sizeof out->events);
    out->nevents = req->nevents;
    memcpy(out->secret, secret, WEBHOOK_SECRET_BUF);
    snprintf(out->description, sizeof out->description, "%s", req->description);
    out->enabled = req->enabled;
    if (!out->enabled)
        snprintf(out->disabled_reason, sizeof out->disabled_reason, "disabled by a user");
    out->created_at = out->updated_at = clock_now_ms();
    out->version = 1;
    bool unchanged = false;
    return write_endpoint(app, who, NULL, out, "webhook.created", &unchanged, e);
}

bool webhooks_list(struct app *app, const struct caller *who, const char *org_id,
                   const char *after_id, struct webhook *out, size_t max, size_t *n,
                   struct error *e)
{
    *n = 0;
    struct org_described o;
    return manage(app, who, org_id, &o, e) &&
           store_webhooks_of_org(app->store, o.org.id, after_id, out, max, n, e);
}

bool webhooks_get(struct app *app, const struct caller *who, const char *org_id, const char *id,
                  struct webhook *out, struct error *e)
{
    struct org_described o;
    return manage(app, who, org_id, &o, e) && endpoint_of(app, &o.org, id, out, e);
}

/* out, changed as req asks */
static void apply_request(const struct webhook_request *req, struct webhook *out)
{
    if (req->has_url)
        snprintf(out->url, sizeof out->url, "%s", req->url);
    if (req->has_events) {
        memcpy(out->events, req->events, sizeof out->events);
        out->nevents = req->nevents;
    }
    if (req->has_enabled) {
        out->enabled = req->enabled;
        if (req->enabled) { /* a fresh start: its failures are forgotten */
            out->disabled_reason[0] = '\0';
            out->failing_since = 0;
            out->consecutive_failures = 0;
        } else {
            snprintf(out->disabled_reason, sizeof out->disabled_reason, "disabled by a user");
        }
    }
    if (req->has_description)
        snprintf(out->description, sizeof out->description, "%s", req->description);
    out->updated_at = clock_now_ms();
}

bool webhooks_update(struct app *app, const struct caller *who, const char *org_id, const char *id,
                     const struct webhook_request *req, struct webhook *out, struct error *e)
{
    struct org_described o;
    /* a webhook is 8 KB: the one before the change lives on the heap, off
     * the request's worker stack (docs/STYLE.md, "Stack") */
    struct webhook *cur = malloc(sizeof *cur);
    if (cur == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = manage(app, who, org_id, &o, e) && endpoint_of(app, &o.org, id, cur, e) &&
              (!req->has_url || webhooks_url_valid(app->cfg, req->url, e));
    if (ok) {
        *out = *cur;
        apply_request(req, out);
        bool unchanged = false;
        ok = write_endpoint(app, who, cur, out, "webhook.updated", &unchanged, e);
        if (ok && unchanged)
            *out = *cur; /* nothing to write, and nothing written */
        else if (ok)
            out->version = cur->version + 1;
    }
    free(cur);
    return ok;
}

bool webhooks_delete(struct app *app, const struct caller *who, const char *org_id, const char *id,
                     struct error *e)
{
    struct org_described o;
    struct webhook *cur = malloc(2 * sizeof *cur);
    if (cur == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    struct webhook *next = cur + 1;
    bool ok = manage(app, who, org_id, &o, e) && endpoint_of(app, &o.org, id, cur, e);
    if (ok) {
        /* kept, marked: its deliveries' log stays readable in the database,
         * and nothing is sent to it again */
        *next = *cur;
        next->deleted = true;
        next->enabled = false;
        snprintf(next->disabled_reason, sizeof next->disabled_reason, "deleted");
        next->updated_at = clock_now_ms();
        bool unchanged = false;
        ok = write_endpoint(app, who, cur, next, "webhook.deleted", &unchanged, e);
    }
    free(cur);
    return ok;
}

bool webhooks_deliveries(struct app *app, const struct caller *who, const char *org_id,
                         const char *id, const char *before_id, struct delivery *out, size_t max,
                         size_t *n, struct error *e)
{
    *n = 0;
    struct webhook *w = malloc(sizeof *w);
    if (w == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = webhooks_get(app, who, org_id, id, w, e) &&
              store_deliveries_of(app->store, w->id, before_id, out, max, n, e);
    free(w);
    return ok;
}

bool webhooks_redeliver(struct app *app, const struct caller *who, const char *org_id,
                        const char *delivery_id, struct delivery *out, struct error *e)
{
    struct org_described o;
    bool found = false, applied = false;
    /* who may first: nobody else learns whether a delivery id exists */
    if (!manage(app, who, org_id, &o, e) ||
        !store_delivery_by_id(app->store, delivery_id, out, &found, e))
        return false;
    if (!found || strcmp(out->org_id, o.org.id) != 0)
        return error_set(e, ERR_NOT_FOUND, "no such delivery");
    struct webhook *w = malloc(sizeof *w);
    if (w == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool open = endpoint_of(app, &o.org, out->webhook_id, w, e) && sending(w, e);
    free(w);
    if (!open)
        return false;
    if (out->state == DELIVERY_PENDING && out->lease_until > clock_now_ms()) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "this delivery is being sent right now");
    }
    int64_t now = clock_now_ms();
    if (!store_delivery_reschedule(app->store, out, now, &applied, e))
        return false;
    if (!applied) {
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "this delivery changed meanwhile; retry");
    }
    out->state = DELIVERY_PENDING;
    out->next_at = now;
    out->version++;
    return true;
}

bool webhooks_test(struct app *app, const struct caller *who, const char *org_id, const char *id,
                   struct delivery *out, struct error *e)
{
    struct webhook *w = malloc(sizeof *w);
    if (w == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool open = webhooks_get(app, who, org_id, id, w, e) && sending(w, e);
    memset(out, 0, sizeof *out);
    if (open) {
        memcpy(out->webhook_id, w->id, ID_BUF);
        memcpy(out->org_id, w->org_id, ID_BUF);
    }
    free(w);
    if (!open)
        return false;
    store_new_id(out->id);
    store_new_id(out->message_id);
    snprintf(out->action, sizeof out->action, "webhook.test");
    out->state = DELIVERY_PENDING;
    out->created_at = out->next_at = clock_now_ms();
    out->version = 1;
    char at[CLOCK_TEXT_BUF];
    clock_rfc3339(out->created_at, at);
    json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "type", "webhook.test", "timestamp",
                             at, "data", "org_id", out->org_id, "webhook_id", out->webhook_id,
                             "requested_by", who->account.id);
    char *payload = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    bool inserted = false;
    if (payload == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = store_delivery_insert(app->store, out, payload, &inserted, e);
    free(payload);
    return ok;
}
