/* webhooks.h — an org's webhook endpoints, and what a caller may do with
 * them and their deliveries (owners and admins: ACT_MANAGE_WEBHOOKS).
 *
 * An endpoint is a URL and the actions it subscribes to ("member.*"
 * allowed, "*" for all); its secret (`whsec_` and 32 random bytes,
 * base64) is shown once, when it is made, and signs every delivery
 * (delivery.h). Its URL must be https (or http with WEBHOOK_ALLOW_HTTP),
 * carry no credentials, and resolve only to addresses the destination
 * rule allows (webhooks_destination_allowed): refused at creation with a
 * 422, and checked again at every attempt on the address connected to.
 * Creating, changing and deleting one are events (webhook.created,
 * webhook.updated, webhook.deleted) of the org's chain. */
#ifndef ORGD_WEBHOOKS_H
#define ORGD_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "access.h"
#include "app.h"
#include "requests.h"
#include "sessions.h"

struct webhook_request {
    bool has_url;
    char url[WEBHOOK_URL_BUF];
    bool has_events;
    char events[WEBHOOK_EVENTS_MAX][40]; /* the actions it subscribes to */
    size_t nevents;
    bool has_description;
    char description[DESCRIPTION_BUF];
    bool has_enabled;
    bool enabled; /* create: true unless given */
};

/* Parses POST (create: url and events required) and PATCH bodies:
 * {url, events, description?, enabled?}. */
bool webhook_request_parse(const char *body, size_t len, bool create, struct webhook_request *out,
                           struct error *e);

/* Whether a webhook may be sent to ip (text): not loopback, private,
 * link-local, CGNAT, multicast, reserved or unspecified, unless
 * WEBHOOK_ALLOWED_NETWORKS allows it. */
bool webhooks_destination_allowed(const struct config *cfg, const char *ip);
/* The URL's checks (scheme, no credentials, a host whose every address is
 * allowed). ERR_INVALID naming `url` with why. */
bool webhooks_url_valid(const struct config *cfg, const char *url, struct error *e);

bool webhooks_create(struct app *app, const struct caller *who, const char *org_id,
                     const struct webhook_request *req, struct webhook *out,
                     char secret[WEBHOOK_SECRET_BUF], struct error *e);
bool webhooks_list(struct app *app, const struct caller *who, const char *org_id,
                   const char *after_id, struct webhook *out, size_t max, size_t *n,
                   struct error *e);
bool webhooks_get(struct app *app, const struct caller *who, const char *org_id, const char *id,
                  struct webhook *out, struct error *e);
bool webhooks_update(struct app *app, const struct caller *who, const char *org_id, const char *id,
                     const struct webhook_request *req, struct webhook *out, struct error *e);
bool webhooks_delete(struct app *app, const struct caller *who, const char *org_id, const char *id,
                     struct error *e);

/* Deliveries of an endpoint, newest first, before before_id ("" first). */
bool webhooks_deliveries(struct app *app, const struct caller *who, const char *org_id,
                         const char *id, const char *before_id, struct delivery *out, size_t max,
                         size_t *n, struct error *e);
/* Sends a delivery of org_id's again, now (a new attempt of the same
 * message); 409 while its endpoint is disabled. */
bool webhooks_redeliver(struct app *app, const struct caller *who, const char *org_id,
                        const char *delivery_id, struct delivery *out, struct error *e);
/* Queues a webhook.test message to the endpoint (not an event of the log). */
bool webhooks_test(struct app *app, const struct caller *who, const char *org_id, const char *id,
                   struct delivery *out, struct error *e);

/* Whether an endpoint subscribed to its `events` takes `action`. */
bool webhooks_subscribed(const struct webhook *w, const char *action);

#endif
