/* session_cache.h — sessions this process found live, remembered for at
 * most SESSION_CACHE_MS.
 *
 * Every authenticated request checks its session. Reading it from the
 * database is one of the two round trips an authorized read costs; within
 * the staleness window a session this process has seen live is taken as
 * live without asking again. What that costs: a session ended on another
 * instance is still accepted here for at most the window (default 1 s).
 * Sessions ended by this process (logout, revocation, a password change,
 * reuse, removal from an org) are forgotten at once, so this instance
 * never accepts them again. SESSION_CACHE_MS=0 turns the cache off: every
 * request asks the database.
 *
 * Bounded: a fixed table of slots (a new session takes its slot from an
 * older one); thread-safe.
 */
#ifndef ORGD_SESSION_CACHE_H
#define ORGD_SESSION_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#define SESSION_CACHE_SLOTS 4096

typedef struct session_cache session_cache_t;

/* staleness_ms 0: a cache that remembers nothing. NULL if out of memory. */
session_cache_t *session_cache_new(int64_t staleness_ms);
void session_cache_destroy(session_cache_t *sc);

/* True, with the remembered session in *out, if session `id` was seen live
 * less than the staleness ago and has not expired at now_ms. */
bool session_cache_get(session_cache_t *sc, const char *id, int64_t now_ms, struct session *out);

/* A counter every forget moves on: a caller takes it before it reads a
 * session from the database and hands it to session_cache_put, which then
 * remembers nothing if a session was forgotten meanwhile (the read may
 * predate that session's end: putting it back would undo the forget). */
uint64_t session_cache_epoch(session_cache_t *sc);

/* Remembers x (seen live at now_ms, read after `epoch` was taken). */
void session_cache_put(session_cache_t *sc, const struct session *x, int64_t now_ms,
                       uint64_t epoch);

/* Forgets session id / every session of account account_id (org_id NULL) or
 * only those of it scoped to org_id. */
void session_cache_forget(session_cache_t *sc, const char *id);
void session_cache_forget_account(session_cache_t *sc, const char *account_id, const char *org_id);
/* Forgets every session scoped to org_id (the org is being deleted). */
void session_cache_forget_org(session_cache_t *sc, const char *org_id);

#endif
