/* metrics.h — process-wide counters, rendered in the Prometheus text
 * exposition format (version 0.0.4).
 *
 * Pure: no HTTP, no database. Every counter lives in a fixed-size table of
 * C11 atomics, indexed by route slot, method, status and the like, so a
 * request costs a few relaxed atomic additions and no allocation, and memory
 * is bounded whatever clients send (an unknown method is "other", a status
 * outside the known list is counted under its class, "4xx"). Values that are
 * read at scrape time (hashes in flight, orgs by state) are passed to
 * metrics_render by the caller (the org counts from what the maintenance
 * thread last stored with metrics_set_orgs).
 *
 * Route slots: lib knows nothing of the route table. The service passes the
 * route's index (0 .. METRICS_ROUTES_MAX-1) together with its template; the
 * first template seen for a slot names it. An index out of range, or a
 * request that matched no route, is counted under "unmatched".
 *
 * Series:
 *   orgd_http_requests_total{route,method,status}         counter
 *   orgd_http_request_duration_seconds{route}             histogram
 *   orgd_mongo_errors_total{kind}                         counter
 *   orgd_mongo_commands_total{command}                    counter
 *   orgd_mongo_up                                         gauge (when known)
 *   orgd_password_hashes_in_flight                        gauge
 *   orgd_password_hash_rejections_total                   counter
 *   orgd_password_hashes_total                            counter
 *   orgd_password_hash_cpu_seconds_total                  counter
 *   orgd_organizations{state}                             gauge (when known)
 *   orgd_recovery_actions_total{action}                   counter
 *   orgd_logins_total{outcome}                            counter
 *   orgd_sessions_ended_total{reason}                     counter
 *   orgd_refresh_retries_total                            counter
 *   orgd_invitations_total{outcome}                       counter
 *   orgd_build_info{version}                              gauge, always 1
 *   orgd_start_time_seconds                               gauge
 */
#ifndef ORGD_METRICS_H
#define ORGD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "states.h"

#define METRICS_ROUTES_MAX 64
#define METRICS_ROUTE_UNMATCHED (-1)
/* Histogram upper bounds in microseconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 s, then +Inf */
#define METRICS_BUCKETS 11

/* The content type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Records the process start (for orgd_start_time_seconds); call once at start. */
void metrics_start(void);

/* Monotonic microseconds, for request durations. */
int64_t metrics_clock_us(void);

/* One finished request. route: slot index or METRICS_ROUTE_UNMATCHED;
 * pattern: the route template (borrowed; must live as long as the process —
 * the route table's strings do), ignored for unmatched; method: as received;
 * status: as sent; micros: its duration. */
void metrics_request(int route, const char *pattern, const char *method, int status,
                     int64_t micros);

/* Index of the histogram bucket (0 .. METRICS_BUCKETS, the last being +Inf)
 * a duration falls into: the first whose bound is >= micros. */
int metrics_bucket_of(int64_t micros);

/* One error translated from the MongoDB driver, by our kind. */
void metrics_mongo_error(enum err_kind kind);

/* One command sent to the database, by its name ("find", "insert"...);
 * names outside the known few count as "other". */
void metrics_mongo_command(const char *name);

/* A password hash refused because no slot freed up in time. */
void metrics_hash_rejected(void);

/* A password hash (or verify) computed, with the CPU time its thread spent
 * on it: the cost of one login's argon2 on this machine, as it runs. */
void metrics_hash_done(int64_t cpu_us);

/* One recovery action finished (or failed): recovery.c, invitations.c, members.c. */
void metrics_recovery_action(enum recovery_action a);

enum login_outcome { LOGIN_OK, LOGIN_BAD_CREDENTIALS, LOGIN_THROTTLED, LOGIN_OUTCOME_COUNT };

/* One login answered (POST /admin/login, /auth/signin). */
void metrics_login(enum login_outcome o);

enum invitation_outcome {
    INVITATION_CREATED,
    INVITATION_ACCEPTED,
    INVITATION_REVOKED,
    INVITATION_REFUSED, /* an accept with a token unknown, used, revoked or expired */
    INVITATION_OUTCOME_COUNT
};

void metrics_invitation(enum invitation_outcome o);

/* n sessions ended for this reason. */
void metrics_sessions_ended(enum session_end why, int64_t n);
/* A refresh answered as a retry of the rotation just made (sessions.c). */
void metrics_refresh_retry(void);
/* The signing keys: how many verify now, and a reload of the key file
 * (loaded: it replaced the keys; else it failed and they stayed). */
void metrics_jwt_keys(size_t loaded);
void metrics_jwt_reload(bool loaded);
/* One event appended to the audit log (events.c), by action. */
void metrics_event_written(const char *action);
/* One webhook attempt's result: "delivered", "retrying", "failed". */
void metrics_webhook_delivery(const char *result);
/* The outbox as the maintenance thread last counted it: pending
 * deliveries, and the age of the oldest (seconds; 0 when none). */
void metrics_set_outbox(long long pending, double oldest_age_s);
/* A message handed to the mail server, by template; one it refused or
 * did not answer; the messages waiting (counted every 2 seconds). */
void metrics_mail_sent(const char *tpl);
void metrics_mail_failure(void);
void metrics_set_mail_pending(long long n);

/* What the caller reads at scrape time. */
struct metrics_scrape {
    int hashes_in_flight;
    bool db_known;              /* false: omit orgd_mongo_up and orgd_organizations */
    bool db_up;                 /* the database answered the counts */
    long orgs[ORG_STATE_COUNT]; /* by state, when db_up */
};

/* The org counts as the maintenance thread last read them (at most once a second,
 * off the request path): a scrape runs no query. up: the database answered. */
void metrics_set_orgs(bool up, const long counts[ORG_STATE_COUNT]);
/* Fills x->db_known, db_up and orgs from the last metrics_set_orgs. */
void metrics_get_orgs(struct metrics_scrape *x);

/* Renders every series into a fresh NUL-terminated buffer of at most `max`
 * bytes. Returns NULL when the text would not fit or memory ran out.
 * Caller frees with free(); *len gets the length without the NUL. */
char *metrics_render(const struct metrics_scrape *x, size_t max, size_t *len);

/* Writes `in` escaped as a label value (\\, \" and \n) into out (cap bytes
 * with the NUL). Returns false, leaving a truncated but valid string, when
 * it does not fit. */
bool metrics_escape_label(const char *in, char *out, size_t cap);

/* Zeroes every counter and forgets route templates (for tests). */
void metrics_reset(void);

#endif
