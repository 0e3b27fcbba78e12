/* harness_webhooks.h — what the webhook tests (test_webhooks*.c) share: a
 * receiver of our own (webhook_receiver.py) that checks every delivery's
 * Standard Webhooks signature with an implementation written independently
 * in Python and records what came; an orgd that sends to it, with an org
 * and endpoints; and the org's events and the endpoints' deliveries as the
 * API shows them.
 *
 * Every test that sends runs its own orgd with short settings
 * (WEBHOOK_RETRY_SCHEDULE of seconds, WEBHOOK_TIMEOUT_SECONDS=2) and
 * WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8, because the receiver is on
 * loopback, which webhooks may not reach otherwise. Names are th_rx_ (the
 * receiver) and th_wh_ (the rest). Not part of harness.h: only the webhook
 * tests include it. */
#ifndef ORGD_TEST_HARNESS_WEBHOOKS_H
#define ORGD_TEST_HARNESS_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness.h"

/* Settings of an orgd that sends to the receiver: quick retries (a
 * production schedule waits minutes), a short timeout (the hanging
 * receiver sleeps past it). */
#define TH_WH_ALLOW_LOOPBACK "WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8"
#define TH_WH_ALLOW_HTTP "WEBHOOK_ALLOW_HTTP=true"
#define TH_WH_QUICK_RETRIES "WEBHOOK_RETRY_SCHEDULE=1,1,2"
#define TH_WH_SHORT_TIMEOUT "WEBHOOK_TIMEOUT_SECONDS=2"

/* ---- the receiver ---- */

/* A receiver: its process, the address it listens on, and its directory
 * (the secrets and modes it is given, the arrivals it records). */
struct th_wh_receiver {
    pid_t pid;
    int port;
    char bind[32];
    char dir[512];
};

/* The receivers and the second orgd a test may start; the teardown stops
 * them, since a failed assertion leaves the test at once. */
extern struct th_wh_receiver th_rx, th_rx_alt;
extern struct th_orgd th_wh_second;

/* Hands the receiver endpoint `name`'s secret, which it checks the
 * signatures of that endpoint's deliveries with. */
void th_rx_secret(const struct th_wh_receiver *r, const char *name, const char *secret);

/* How the receiver answers endpoint `name`: "ok", "down" (500), "slow:<s>"
 * (answers after s seconds), "hang:<s>" (for s past orgd's timeout: no
 * answer heard), "redirect:<url>". */
void th_rx_mode(const struct th_wh_receiver *r, const char *name, const char *mode);

/* Starts the receiver on bind:port (port 0: any free one) with r's
 * directory (made on the first start, kept across restarts: its secrets,
 * modes and arrivals stay). */
void th_rx_start(struct th_wh_receiver *r, const char *bind, int port);

/* Stops it by its pid (its directory stays, for a restart). */
void th_rx_stop(struct th_wh_receiver *r);

/* Receiver r's URL for endpoint `name`: http://<bind>:<port>/hook/<name>. */
void th_rx_url(const struct th_wh_receiver *r, const char *name, char *out, size_t cap);

/* Every arrival at endpoint `name` (NULL: at any), oldest first, as the
 * receiver recorded them. */
json_t *th_rx_arrivals(const struct th_wh_receiver *r, const char *name);

/* j's string member `key`, or "" (borrowed). */
const char *th_wh_str_of(const json_t *j, const char *key);

/* Whether the receiver accepted the arrival (answered it 200). */
bool th_wh_accepted(const json_t *arrival);

/* How many arrivals carried webhook-id `id` (all of them, or only those
 * the receiver accepted). */
int th_wh_arrivals_of(const json_t *arrivals, const char *id, bool only_accepted);

/* The first accepted arrival of webhook-id id, or NULL (borrowed). */
json_t *th_wh_accepted_arrival(const json_t *arrivals, const char *id);

/* Waits until endpoint `name` has accepted every webhook-id of `ids` (an
 * array of strings), at most timeout_ms; fails the test naming those that
 * never came. Returns the endpoint's arrivals. */
json_t *th_rx_wait_accepted(const struct th_wh_receiver *r, const char *name, const json_t *ids,
                            int timeout_ms);

/* Waits until endpoint `name` has at least n arrivals (of any kind). */
json_t *th_rx_wait_count(const struct th_wh_receiver *r, const char *name, size_t n,
                         int timeout_ms);

/* Runs the receiver's own check of its verifier against the Standard
 * Webhooks test vector: a receiver that accepted anything would make
 * every signature test here pass. */
void th_rx_self_test(void);

/* POSTs a delivery to the receiver ourselves (not through harness_http:
 * this is not an exchange with orgd). Returns the status, -1 for none. */
long th_rx_post(const struct th_wh_receiver *r, const char *name, const char *id, const char *ts,
                const char *sig, const char *body);

/* ---- orgd, its orgs and endpoints ---- */

/* The teardown of every test that starts its own orgd, receivers or second
 * orgd: stops all of them (a failed assertion leaves the test at once);
 * returns 0. */
int th_wh_stop_everything(void **state);

/* An account with an org of its own, on o. */
struct th_wh_tenant {
    struct th_account owner;
    char org[32];
    char name[64];
};

/* Makes t on o: an account and an org named after `prefix`. */
void th_wh_tenant_new(const struct th_orgd *o, struct th_wh_tenant *t, const char *prefix);

/* An endpoint of a tenant's org, as th_wh_hook_new made it. */
struct th_wh_hook {
    char id[32];
    char name[32]; /* the receiver's endpoint: /hook/<name> */
    char secret[80];
    char path[160]; /* /organization/<org>/webhooks/<id> */
};

/* Creates an endpoint of t's org at receiver r's /hook/<name> subscribing
 * to `subscribed` (a JSON array's text), as its owner: fails the test unless
 * 201 with a Location naming it and a Standard Webhooks secret, which is
 * handed to the receiver at once. orgd must never log it (the harness's
 * leak check looks for it). */
void th_wh_hook_new(const struct th_orgd *o, const struct th_wh_tenant *t,
                    const struct th_wh_receiver *r, const char *name, const char *subscribed,
                    struct th_wh_hook *h);

/* Starts an orgd that sends to the receiver (loopback and http allowed,
 * the short timeout, `retries` its WEBHOOK_RETRY_SCHEDULE setting), then
 * the receiver itself, th_rx, on 127.0.0.1. */
struct th_orgd *th_wh_start_orgd_and_receiver(const char *retries);

/* The same, with a tenant named after `prefix` whose org has one endpoint
 * at the receiver's /hook/<name>, subscribed to org.*. */
struct th_orgd *th_wh_start_orgd_with_an_endpoint(const char *retries, struct th_wh_tenant *t,
                                                  const char *prefix, const char *name,
                                                  struct th_wh_hook *h);

/* PUT /organization/{id} {"description": text}: an org.updated event. */
void th_wh_describe(const struct th_orgd *o, const struct th_wh_tenant *t, const char *text);

/* Makes n org.updated events, described "<what> <k>" for k from `from`
 * on, pause_ms apart (0: at once). */
void th_wh_describe_numbered(const struct th_orgd *o, const struct th_wh_tenant *t,
                             const char *what, int from, int n, int pause_ms);

/* The org's whole log, newest first, as GET .../events shows it. */
json_t *th_wh_events_of(const struct th_orgd *o, const struct th_wh_tenant *t);

/* The first of items whose string member `key` is value, or NULL
 * (borrowed). */
json_t *th_wh_first_with(const json_t *items, const char *key, const char *value);

/* The event of `events` whose id is `id`, or NULL (borrowed). */
json_t *th_wh_event_by_id(const json_t *events, const char *id);

/* An event's seq. */
json_int_t th_wh_seq_of(const json_t *ev);

/* The seq of endpoint h's webhook.created event. */
json_int_t th_wh_created_seq(const json_t *events, const struct th_wh_hook *h);

/* Ids of the events after seq `after` whose action starts with prefix
 * ("" for all), oldest first. */
json_t *th_wh_ids_after(const json_t *events, json_int_t after, const char *prefix);

/* The endpoint's deliveries, newest first (following Link, `limit` a page). */
json_t *th_wh_deliveries_of(const struct th_orgd *o, const struct th_wh_tenant *t,
                            const struct th_wh_hook *h, int limit, size_t *pages);

/* Waits until the endpoint has n deliveries and none is pending; fails the
 * test with them otherwise. */
json_t *th_wh_wait_settled(const struct th_orgd *o, const struct th_wh_tenant *t,
                           const struct th_wh_hook *h, size_t n, int timeout_ms);

/* The `i`th attempt (oldest first) of delivery d's log. */
json_t *th_wh_attempt(const json_t *d, size_t i);

/* The HTTP status attempt `a` logs (0 for none). */
long th_wh_status_of_attempt(const json_t *a);

/* Waits until the endpoint's only delivery has an attempt; returns the
 * deliveries. */
json_t *th_wh_wait_attempted(const struct th_orgd *o, const struct th_wh_tenant *t,
                             const struct th_wh_hook *h, int timeout_ms);

/* Counts an endpoint's deliveries by state and its attempts. */
void th_wh_tally(const json_t *ds, int *failed, int *pending, int *attempts);

#endif
