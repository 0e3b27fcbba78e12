/* delivery.h — sending webhooks, on threads of their own (never a
 * request's), from the outbox in MongoDB.
 *
 * Fanning out: a thread takes the events the outbox has not taken in
 * (store_events_unfanned), queues one delivery per subscribed, enabled
 * endpoint of the event's org (unique per event and endpoint, so two
 * instances queue it once), then marks the event taken in.
 *
 * Sending: WEBHOOK_WORKERS threads each claim a due delivery with a lease
 * (WEBHOOK_TIMEOUT_SECONDS + LEASE_SLACK_MS: a guarded transition, so one
 * instance sends it; if that instance dies, the lease runs out and
 * another sends it: at least once) and POST it in the Standard Webhooks
 * format: webhook-id (the event's id: receivers de-duplicate on it),
 * webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body with the endpoint's secret>", body {type, timestamp,
 * data}. libcurl, no redirects followed, a connect and a total timeout, at
 * most 4 KiB of the answer read, and the address it connects to checked
 * against the destination rule (webhooks_destination_allowed) as it
 * connects: DNS rebinding and redirects cannot get round it. A 2xx is
 * delivered; anything else is retried after the next interval of
 * WEBHOOK_RETRY_SCHEDULE, and failed after the last. One endpoint has one
 * delivery in flight per instance, so a slow one delays only itself. An
 * endpoint that fails 50 deliveries in a row, or has failed every one for
 * 24 hours, is disabled, with a webhook.disabled event. */
#ifndef ORGD_DELIVERY_H
#define ORGD_DELIVERY_H

#include <stdbool.h>

#include "app.h"

typedef struct delivery_engine delivery_engine_t;

/* Starts the fan-out thread and WEBHOOK_WORKERS senders (none: NULL is
 * no error, nothing runs). */
delivery_engine_t *delivery_start(struct app *app);
/* Stops them: each finishes the attempt it is making (bounded by its
 * timeout). */
void delivery_stop(delivery_engine_t *d);

/* The Standard Webhooks signature of a message: "v1," and the base64
 * HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes (the
 * base64 after "whsec_"). False when the secret is not one. */
bool delivery_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
                   char *out, size_t cap);

#endif
