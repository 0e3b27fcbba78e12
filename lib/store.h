/* store.h — the only code that talks to MongoDB.
 *
 * Returns typed records and typed errors: ERR_NOT_FOUND, ERR_CONFLICT
 * (duplicate key, namespace exists), ERR_UNAVAILABLE (no server, network,
 * timeouts, shutdown), ERR_INTERNAL (anything else; the driver's message is
 * logged, never returned). Every call pops a client from the pool and
 * pushes it back before returning, so a store_t is safe to share between
 * threads. Tenant collections live in the master database, named by the
 * caller ("org_<key>").
 *
 * One header, five files: store.c (the pool, error translation, indexes,
 * the generic reads and writes), store_orgs.c (organizations and their
 * lock), store_accounts.c (admins, memberships, an org's invitations),
 * store_sessions.c (sessions, rotated refresh tokens, throttling events),
 * store_tenants.c (tenant collections); store-private.h is what they
 * share, and nothing else includes it.
 */
#ifndef ORGD_STORE_H
#define ORGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct store store_t;

/* Once per process, before any other store call / after the last one:
 * initializes libmongoc and routes its own log messages into ours. */
void store_global_init(void);
void store_global_cleanup(void);

/* Connects lazily: this fails only on a bad URI. Adds short timeouts
 * (serverSelectionTimeoutMS, connectTimeoutMS = timeout_ms;
 * socketTimeoutMS = 5 x timeout_ms) unless the URI sets them.
 * Caller frees with store_destroy. */
store_t *store_new(const char *uri, const char *db, int timeout_ms, struct error *e);
void store_destroy(store_t *s);

/* A fresh ObjectId as hex. */
void store_new_id(char out[ID_BUF]);

bool store_ping(store_t *s, struct error *e);

/* Creates the unique indexes (organizations.name_key, admins.email,
 * memberships{admin_id,org_id}) and the lookup ones; idempotent. */
bool store_ensure_indexes(store_t *s, struct error *e);

/* ---- organizations ---- */
bool store_org_insert(store_t *s, const struct org *o, struct error *e);
bool store_org_by_key(store_t *s, const char *name_key, struct org *out, struct error *e);
bool store_org_by_id(store_t *s, const char *id, struct org *out, struct error *e);

/* Compare-and-swap: if the document still has cur->version, replaces its
 * name, name_key, collection, state, updated_at and op with next's, and
 * sets version to cur->version + 1 (also written back into next->version).
 * *applied tells whether it matched. A unique-key clash is ERR_CONFLICT.
 * Atomic on FerretDB too: see the lock in store_orgs.c. */
bool store_org_swap(store_t *s, const struct org *cur, struct org *next, bool *applied,
                    struct error *e);

/* Deletes the org document if it still has `version`. */
bool store_org_delete(store_t *s, const char *id, int64_t version, bool *applied, struct error *e);

/* Org locks left by a process that died between taking one and writing:
 * those taken before `before_ms` and before the lock lifetime (twice the
 * socket timeout, plus margin). Counts them into *n, or removes them (and
 * counts those removed) when `remove`. */
bool store_org_locks_stale(store_t *s, int64_t before_ms, bool remove, int64_t *n, struct error *e);

/* Calls fn for every org document (any state). fn returns false to stop. */
/* True (in *claimed) when an org other than except_id (NULL or "": any)
 * names `collection` as its collection or as either end of a rename in
 * progress. One query, served by the index on `collection`. On failure
 * *claimed is true: a caller that cannot tell must not drop anything. */
bool store_org_claiming(store_t *s, const char *collection, const char *except_id, bool *claimed,
                        struct error *e);

bool store_org_each(store_t *s, bool (*fn)(const struct org *o, void *ud), void *ud,
                    struct error *e);

/* Orgs not active whose op was last touched before `before_ms`, at most max. */
bool store_org_stuck(store_t *s, int64_t before_ms, struct org *out, size_t max, size_t *n,
                     struct error *e);

/* ---- admins ---- */
bool store_admin_insert(store_t *s, const struct admin *a, struct error *e);
bool store_admin_by_email(store_t *s, const char *email_key, struct admin *out, struct error *e);
bool store_admin_by_id(store_t *s, const char *id, struct admin *out, struct error *e);
/* Sets email and/or password_hash (NULL: unchanged). ERR_CONFLICT if the
 * e-mail belongs to someone else; ERR_NOT_FOUND if the admin is gone. */
bool store_admin_update(store_t *s, const char *id, const char *email_key,
                        const char *password_hash, struct error *e);
/* Deletes the admin if it has no membership in any org but except_org_id
 * (NULL: none excepted); *deleted says whether it did. */
bool store_admin_delete_if_unattached(store_t *s, const char *id, const char *except_org_id,
                                      bool *deleted, struct error *e);
bool store_admin_each(store_t *s, bool (*fn)(const struct admin *a, void *ud), void *ud,
                      struct error *e);

/* ---- memberships ---- */
bool store_membership_insert(store_t *s, const struct membership *m, struct error *e);
bool store_membership_get(store_t *s, const char *admin_id, const char *org_id,
                          struct membership *out, struct error *e);
/* An admin's memberships, oldest first, at most max. */
bool store_memberships_of_admin(store_t *s, const char *admin_id, struct membership *out,
                                size_t max, size_t *n, struct error *e);
/* Calls fn for every membership of org_id (org_id NULL: every membership). */
bool store_membership_each(store_t *s, const char *org_id,
                           bool (*fn)(const struct membership *m, void *ud), void *ud,
                           struct error *e);
bool store_memberships_delete_org(store_t *s, const char *org_id, struct error *e);
bool store_membership_delete(store_t *s, const char *admin_id, const char *org_id, struct error *e);

/* Invitations and org-scoped sessions that belong to an org (collections
 * "invitations" and "sessions"): delete them all / list the org ids they
 * point at (for the checker; account-scoped sessions are not listed). */
bool store_org_extras_delete(store_t *s, const char *org_id, struct error *e);
bool store_extras_each_org_id(store_t *s,
                              bool (*fn)(const char *collection, const char *org_id, void *ud),
                              void *ud, struct error *e);

/* ---- sessions (collection "sessions"; never a token in clear) ---- */
bool store_session_insert(store_t *s, const struct session *x, struct error *e);
bool store_session_by_id(store_t *s, const char *id, struct session *out, struct error *e);
/* Replaces the refresh hash old_hash by new_hash if the session is still
 * active with old_hash; *applied says whether it was. */
bool store_session_rotate(store_t *s, const char *id, const char *old_hash, const char *new_hash,
                          int64_t now, const char *client, bool *applied, struct error *e);
/* Revokes session id if it is admin_id's and active; *revoked says whether. */
bool store_session_revoke(store_t *s, const char *id, const char *admin_id, enum session_end why,
                          int64_t now, bool *revoked, struct error *e);
/* Revokes every active session of admin_id but except_id (NULL: none
 * excepted); *n gets how many. */
bool store_sessions_revoke_others(store_t *s, const char *admin_id, const char *except_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e);
/* admin_id's active, unexpired sessions, most recently used first, at most max. */
bool store_sessions_live(store_t *s, const char *admin_id, int64_t now, struct session *out,
                         size_t max, size_t *n, struct error *e);
bool store_sessions_delete_org(store_t *s, const char *org_id, struct error *e);
bool store_sessions_delete_admin(store_t *s, const char *admin_id, struct error *e);
bool store_session_delete(store_t *s, const char *id, struct error *e);
/* Every session (refresh_hash not read), for the checker. */
bool store_session_each(store_t *s, bool (*fn)(const struct session *x, void *ud), void *ud,
                        struct error *e);

/* Rotated refresh tokens (collection "session_rotations", _id = the hash).
 * Claiming inserts the hash: the unique _id gives concurrent rotations of
 * one token exactly one winner (*won), on FerretDB too, whose updates are
 * read-then-write. */
bool store_rotation_claim(store_t *s, const char *hash, const char *session_id, int64_t now,
                          int64_t expires_at, bool *won, struct error *e);
/* The session a rotated-away hash belonged to; *found false if unknown. */
bool store_rotation_session(store_t *s, const char *hash, char session_id[ID_BUF], bool *found,
                            struct error *e);

/* ---- throttling events (collection "throttle_events"): one document per
 * counted event, so that concurrent increments cannot be lost ---- */
bool store_throttle_count(store_t *s, const char *key, int64_t since, int64_t *n, struct error *e);
/* The time of key's event number `skip` (0 = oldest) after since; 0 if none. */
bool store_throttle_nth(store_t *s, const char *key, int64_t since, int64_t skip, int64_t *at,
                        struct error *e);
bool store_throttle_add(store_t *s, const char *key, int64_t now, int64_t expires_at,
                        struct error *e);
bool store_throttle_clear(store_t *s, const char *key, struct error *e);

/* Deletes the sessions, rotations and throttling events whose expires_at
 * has passed: what a TTL index does, for servers without TTL indexes
 * (FerretDB 1.x). Cheap (indexed) and harmless where TTL indexes exist.
 * *n gets how many went. */
bool store_expired_delete(store_t *s, int64_t now, int64_t *n, struct error *e);

/* ---- tenant collections ---- */
/* ERR_CONFLICT if it exists already, on every server (MongoDB 7's `create`
 * of an existing collection succeeds: existence is asked first). */
bool store_collection_create(store_t *s, const char *name, struct error *e);
/* ERR_NOT_FOUND if `from` is missing; ERR_CONFLICT if `to` exists. Never drops a target. */
bool store_collection_rename(store_t *s, const char *from, const char *to, struct error *e);
/* A missing collection is not an error. */
bool store_collection_drop(store_t *s, const char *name, struct error *e);
bool store_collection_exists(store_t *s, const char *name, bool *exists, struct error *e);
/* Calls fn for every collection whose name starts with "org_". */
bool store_collection_each_tenant(store_t *s, bool (*fn)(const char *name, void *ud), void *ud,
                                  struct error *e);

/* Counts orgs by state (for metrics). */
bool store_org_count_by_state(store_t *s, long counts[ORG_STATE_COUNT], struct error *e);

#endif
