/* intake.h — bounds on a request while it is still arriving.
 *
 * civetweb gives each connection one worker thread, and its reads have only
 * a per-call timeout: a client that sends a byte now and then holds its
 * worker for as long as it likes. intake bounds that phase:
 *
 * - Deadline. A worker that is receiving (the headers of a connection's
 *   first request, from the moment the worker takes the connection; then a
 *   request body) is registered with a deadline. When it passes, a watchdog
 *   thread interrupts the worker's blocking read with a signal (SIGRTMIN+1,
 *   handler does nothing, no SA_RESTART): civetweb's poll fails with EINTR,
 *   its read returns, and the dispatcher answers 408 and closes. The signal
 *   is repeated every INTAKE_RESIGNAL_MS until the worker leaves, so one
 *   that arrives between two reads is not lost.
 * - Fair share. A worker that has been receiving a body for
 *   INTAKE_SLOW_MS is slow. At most `per_client` slow workers may serve one
 *   client address; the watchdog takes back the newest ones past that
 *   (interrupting them as above; the dispatcher answers 503 + Retry-After
 *   and closes). Only workers still receiving, and slowly, count: many fast
 *   clients behind one NAT or proxy address are never refused for being
 *   many, and one address's slow senders hold at most `per_client` workers
 *   (and others only for INTAKE_SLOW_MS each, INTAKE_CROWDED_MS once the
 *   address's share is full).
 *
 * civetweb has no hook between a keep-alive connection's requests, nor any
 * way to know a client's address before its first request's headers are
 * complete: those phases are bounded by civetweb's own timeouts (see the
 * README's Limits).
 *
 * Every function is safe from any worker thread; all state is behind one
 * mutex, held only for a scan of `slots` entries. One intake per process:
 * each worker thread is bound to its slot for the life of the process.
 */
#ifndef ORGD_INTAKE_H
#define ORGD_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define INTAKE_RESIGNAL_MS 50
#define INTAKE_SLOW_MS 200
#define INTAKE_CROWDED_MS 20 /* the grace when the address's share is full */
#define INTAKE_ADDR_BUF 48

typedef struct intake intake_t;

/* Starts the watchdog. slots: the number of worker threads; per_client:
 * the fair share (>= 1); timeout_ms: REQUEST_TIMEOUT_MS. NULL with e set on
 * failure. Caller frees with intake_destroy, after civetweb has stopped
 * (mg_stop joins the workers; until then they use the intake). */
intake_t *intake_new(int slots, int per_client, long timeout_ms, struct error *e);
void intake_destroy(intake_t *in);

/* The calling worker took a new connection: its first request's headers
 * must be complete by now + timeout_ms. */
void intake_connection_begin(intake_t *in);

/* True when the calling worker was receiving a connection's first
 * request's headers and their deadline has passed (so civetweb's "cannot
 * read the request" is really a timeout). */
bool intake_headers_late(intake_t *in);

/* The calling worker has a request's headers. Returns the request's
 * deadline (monotonic ms): the one set by intake_connection_begin for a
 * connection's first request, else now + timeout_ms. The worker is no
 * longer receiving until intake_body_begin. */
int64_t intake_headers_done(intake_t *in);

/* The calling worker starts reading a body from `addr`, until `deadline_ms`. */
void intake_body_begin(intake_t *in, const char *addr, int64_t deadline_ms);

/* True when the watchdog has taken the calling worker back (see
 * intake_body_end): stop reading. */
bool intake_body_cut(intake_t *in);

/* The calling worker has stopped reading the body. False (ERR_UNAVAILABLE,
 * retry_after set) when the watchdog took the worker back because its
 * address had too many slow senders; the read was then cut short. */
bool intake_body_end(intake_t *in, struct error *e);

/* The calling worker reads what is left of an unread body for a moment
 * before its connection closes, until deadline_ms: interrupted at the
 * deadline, never counted as a slow sender. End it with intake_end. */
void intake_linger_begin(intake_t *in, int64_t deadline_ms);

/* The calling worker is no longer receiving (its request ended, its
 * connection closed, or its lingering is over). Idempotent. */
void intake_end(intake_t *in);

#endif
