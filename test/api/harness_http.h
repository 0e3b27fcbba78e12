/* harness_http.h — talking to an orgd over HTTP with libcurl (one
 * connection per thread, reused). Every exchange is appended to
 * $ORGD_TEST_EXCHANGES_DIR/<pid>.jsonl for the contract check
 * (test/docs/contract.mjs); every password sent (password,
 * current_password, new_password) and token received (access_token, token,
 * refresh_token) is remembered for the log-leak check (harness_orgd.h). */
#ifndef ORGD_TEST_HARNESS_HTTP_H
#define ORGD_TEST_HARNESS_HTTP_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness_orgd.h"

struct th_resp {
    long status;
    char *body;
    size_t len;
    json_t *json;   /* parsed body, or NULL */
    char *headers;  /* raw header block */
    double seconds; /* total time */
    long connects;  /* new connections curl opened for this request */
};

/* One request. token: bearer token or NULL; content_type NULL: none sent
 * (application/json is sent when body != NULL and content_type is NULL);
 * extra_headers: "Name: value" strings, NULL-terminated, or NULL. False if
 * no answer came; r is filled either way and must be th_resp_free'd. */
bool th_http(const struct th_orgd *o, const char *method, const char *path, const char *token,
             const char *content_type, const char *body, size_t len,
             const char *const *extra_headers, struct th_resp *r);
/* A JSON request (body may be NULL) from the local address `source`, e.g.
 * "127.0.0.2" (Linux routes all of 127/8 to lo, so orgd on 127.0.0.1 sees
 * that peer): for per-address limits and client addresses. Each such
 * request has a connection of its own, closed afterwards, so no request
 * from another address ever reuses it. Otherwise as th_http. */
bool th_http_from(const struct th_orgd *o, const char *source, const char *method, const char *path,
                  const char *token, const char *body, const char *const *extra_headers,
                  struct th_resp *r);
/* Shorthands: JSON body (may be NULL). */
bool th_http_json(const struct th_orgd *o, const char *method, const char *path, const char *token,
                  const char *body, struct th_resp *r);
/* Value of a response header (case-insensitive name) into out; false if absent. */
bool th_resp_header(const struct th_resp *r, const char *name, char *out, size_t cap);
void th_resp_free(struct th_resp *r);

/* Checks that r is a problem+json with this status and all of type, title,
 * status, detail; returns false (and prints why) otherwise. */
bool th_is_problem(const struct th_resp *r, long status);

/* The status of one request with an optional JSON body (-1: no answer). */
long th_status_of(const struct th_orgd *o, const char *method, const char *path, const char *token,
                  const char *body);

/* One request with a JSON body (taken: freed here; NULL sends none) that
 * must answer `want`: the tests' one line for a step that has to work, or
 * has to fail in one given way. Fails the test, naming the request and
 * the answer, on no answer, on another status, or when a `want` of 400 or
 * more is no problem document (th_is_problem). Returns the parsed answer
 * (caller json_decref's; NULL when there is none). */
json_t *th_expect_json(const struct th_orgd *o, const char *method, const char *path,
                       const char *token, json_t *body, long want);
/* th_expect_json for callers that need nothing from the answer. */
void th_expect_status(const struct th_orgd *o, const char *method, const char *path,
                      const char *token, json_t *body, long want);
/* The string `key` of the object j (borrowed from j); fails the test when
 * there is none, so that a test may use an answer's fields without a check
 * of its own before each. */
const char *th_json_str(const json_t *j, const char *key);
/* j as compact JSON text; takes j (decref'd here). Caller frees. */
char *th_json_text(json_t *j);
/* True if the problem r names `field` among its errors (its "errors"
 * array's "field" members). */
bool th_names_field(const struct th_resp *r, const char *field);
/* One request with a JSON text body (NULL: none) that must be a problem of
 * `status` (th_is_problem) naming `field` (NULL: no field to check); fails
 * the test, naming the request and the answer, otherwise. */
void th_expect_problem(const struct th_orgd *o, const char *method, const char *path,
                       const char *token, const char *body, long status, const char *field);
/* Milliseconds since the epoch of an RFC 3339 UTC time as orgd writes them
 * (2026-11-22T08:02:48.258Z); fails the test unless text is one, in that
 * form. */
int64_t th_epoch_ms(const char *text);

/* ---- /metrics ---- */

/* GET /metrics on o; fails the test unless it is a 200 in the Prometheus
 * text format (its Content-Type says which). Caller frees the text. */
char *th_metrics_scrape(const struct th_orgd *o);
/* The value of the sample `series` (its name with its labels as orgd
 * writes them, e.g. orgd_sessions_total{outcome="created"}) in a scrape's
 * text, or -1 if there is no such line. */
double th_metric_sample(const char *text, const char *series);
/* A counter's value: th_metric_sample, but absent is 0, because orgd lists
 * a counter only once it has been counted. */
double th_metric_counter(const char *text, const char *series);
/* Fails the test (printing the later scrape) unless the counter `series`
 * moved by exactly `by` from the scrape `before` to the scrape `after`:
 * how a test checks what a request counted without knowing what the tests
 * before it counted. */
void th_expect_counter_moved(const char *before, const char *after, const char *series, double by);

/* ---- the log line of a request ---- */

/* The "request" line of o's log whose request_id is `id` (sent as
 * X-Request-Id, or read from the answer's), polled for up to 3 s since orgd
 * writes it just after the answer. Lines that are not JSON are passed over
 * (a test that cares checks them itself). A new reference, or NULL if no
 * such line came. */
json_t *th_request_log_line(const struct th_orgd *o, const char *id);

/* ---- being served while something else goes on ---- */

/* Probes GET /healthz every 100 ms until `until` (tu_now_ms), each time on
 * a new connection (one kept alive would keep its worker); fails the test
 * unless every answer is a 200. Returns the slowest in seconds; *probes
 * counts them. */
double th_slowest_healthz_until(const struct th_orgd *o, int64_t until, int *probes);

/* ---- requests on their own threads, for races ---- */

struct th_call {
    const struct th_orgd *o;
    const char *method;
    char path[256];
    char body[512]; /* "" sends none */
    const char *token;
    const char *source; /* a local address to send from ("127.0.0.2"), or NULL */
    int delay_ms;       /* waits this long on its thread before sending */
    long status;        /* -1: no answer */
    char retry_after[16];
    bool want_json; /* keep the answer's JSON body in json (the caller frees it) */
    json_t *json;
    pthread_t thread;
    pthread_barrier_t *go; /* th_race's */
};

/* Sends c's request on a new thread; th_call_join waits and fills status. */
void th_call_start(struct th_call *c);
void th_call_join(struct th_call *c);

/* The one way a test races requests: calls[0..n) each on its own thread,
 * each with its connection open, all released at once by one barrier
 * (then each waits its delay_ms, if any); returns when every one has
 * answered. No assertion runs on those threads. */
void th_race(struct th_call *calls, size_t n);

/* A status a race's loser may honestly answer: a refusal because of what
 * the winner did, or a busy machine turning it away before it decided
 * anything (503, 429). A loaded machine is a condition, not an excuse:
 * such answers still leave exactly one winner to find. */
bool th_race_lost(long status);
/* Fails the test unless the call c, which did not win round `round` of a
 * race, answered th_race_lost; `what` names the call. */
void th_race_expect_lost(const struct th_call *c, const char *what, int round);
/* Prints how many of `rounds` rounds of `race` had a winner, and fails the
 * test unless most did: a race nobody wins tests nothing. */
void th_race_expect_decided(int decided, int rounds, const char *race);

#endif
