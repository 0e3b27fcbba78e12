/* store.h — the only code that talks to MongoDB.
 *
 * Returns typed records and typed errors: ERR_CONFLICT (duplicate key,
 * namespace exists), ERR_UNAVAILABLE (no server, network, timeouts,
 * shutdown), ERR_INTERNAL (anything else; the driver's message is logged,
 * never returned). A lookup of one document says whether it found one in
 * a `bool *found` and returns false only when the database failed: "not
 * found" is an answer, not an error. Every call pops a client from the
 * pool and pushes it back before returning, so a store_t is safe to share
 * between threads. Tenant collections live in the master database, named
 * by the caller ("org_<key>").
 *
 * Each section below is one file: store.c, store_orgs.c,
 * store_accounts.c, store_memberships.c, store_invitations.c,
 * store_sessions.c, store_throttle.c, store_tenants.c, store_import.c. What they share is
 * store-private.h, which nothing else includes. Every write that two
 * requests may race is a guarded transition (store__swap, store.c) or a
 * unique insert: docs/ARCHITECTURE.md lists them.
 *
 * A write that commits an operation carries the drafts of its events
 * (`const struct pending_list *ev`, NULL for none): they are stored in the
 * same write, in the document's `pending_events`, replacing the drafts it
 * held (events.h says why); a document read brings their ids back in its
 * `pending` member.
 */
#ifndef ORGD_STORE_H
#define ORGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct store store_t;

/* ---- store.c: the pool, indexes, locks, expiry ---- */

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

/* Database commands (round trips) this thread has sent since its last
 * reset: each request resets it at its start, and its log line reports it
 * (db_commands). Counted by the driver's command monitoring, which also
 * feeds orgd_mongo_commands_total. */
void store_thread_commands_reset(void);
unsigned long store_thread_commands(void);

/* Creates the unique indexes (organizations.name_key, admins.email,
 * memberships{admin_id, org_id}, invitations.pending_key, locks.key) and
 * the lookup ones, giving invitations stored before pending_key existed
 * theirs first; idempotent. */
bool store_ensure_indexes(store_t *s, struct error *e);

/* Locks (see store__swap) left by a process that died between taking one
 * and writing: those taken before `before_ms` and before the lock lifetime
 * (twice the socket timeout, plus margin). Counts them into *n, or removes
 * them (and counts those removed) when `remove`. */
bool store_locks_stale(store_t *s, int64_t before_ms, bool remove, int64_t *n, struct error *e);

/* An expired invitation is kept this long after its expiry, so that its
 * token answers 410 (expired), not 404 (unknown). */
#define STORE_INVITATION_GRACE_S (7 * 24 * 3600)

/* Deletes the sessions, rotations and throttling events whose expires_at
 * has passed, and invitations STORE_INVITATION_GRACE_S after theirs: what
 * a TTL index does, for servers without TTL indexes (FerretDB 1.x). Cheap
 * (indexed) and harmless where TTL indexes exist. *n gets how many went. */
bool store_expired_delete(store_t *s, int64_t now, int64_t *n, struct error *e);

/* ---- store_orgs.c: organizations, and what else belongs to one ---- */

/* description: NULL or "" for none. */
bool store_org_insert(store_t *s, const struct org *o, const char *description, struct error *e);
bool store_org_by_key(store_t *s, const char *name_key, struct org *out, bool *found,
                      struct error *e);
bool store_org_by_id(store_t *s, const char *id, struct org *out, bool *found, struct error *e);
/* The same, with the org's description (cap bytes, truncated) from the same read. */
bool store_org_by_id_described(store_t *s, const char *id, struct org *out, char *description,
                               size_t cap, bool *found, struct error *e);
bool store_org_by_key_described(store_t *s, const char *name_key, struct org *out,
                                char *description, size_t cap, bool *found, struct error *e);
/* The orgs among ids[0..n) that exist, with their descriptions, in any order. */
bool store_orgs_by_ids(store_t *s, const char (*ids)[ID_BUF], size_t n, struct org_described *out,
                       size_t *found, struct error *e);

/* The guarded transition of an org (store__swap): if the document still
 * has cur->version, replaces its name, name_key, collection, owner_id,
 * owner_email, state, updated_at and op with next's, and sets version to
 * cur->version + 1 (also written back into next->version). *applied tells
 * whether it matched. A unique-key clash is ERR_CONFLICT. */
bool store_org_swap(store_t *s, const struct org *cur, struct org *next, bool *applied,
                    struct error *e);
/* The same swap, also setting the description (NULL: unchanged): the
 * description is part of the org document, so it changes under the same
 * lock and version as everything else in it. */
bool store_org_swap_described(store_t *s, const struct org *cur, struct org *next,
                              const char *description, const struct pending_list *ev, bool *applied,
                              struct error *e);
/* Deletes the org document if it still has `version` (guarded too). */
bool store_org_delete(store_t *s, const char *id, int64_t version, bool *applied, struct error *e);

/* The orgs whose owner_id is account_id, at most max. */
bool store_orgs_owned_by(store_t *s, const char *account_id, struct org *out, size_t max, size_t *n,
                         struct error *e);
/* True (in *claimed) when an org other than except_id (NULL or "": any)
 * names `collection` as its collection or as either end of a rename in
 * progress. One query, served by the index on `collection`. On failure
 * *claimed is true: a caller that cannot tell must not drop anything. */
bool store_org_claiming(store_t *s, const char *collection, const char *except_id, bool *claimed,
                        struct error *e);
/* Calls fn for every org document (any state). fn returns false to stop. */
bool store_org_each(store_t *s, bool (*fn)(const struct org *o, void *ud), void *ud,
                    struct error *e);
/* Orgs not active whose op was last touched before `before_ms`, at most max. */
bool store_org_stuck(store_t *s, int64_t before_ms, struct org *out, size_t max, size_t *n,
                     struct error *e);
/* Counts orgs by state (for metrics). */
bool store_org_count_by_state(store_t *s, long counts[ORG_STATE_COUNT], struct error *e);

/* Invitations and org-scoped sessions that belong to an org (collections
 * "invitations" and "sessions"): delete them all / list the org ids they
 * point at (for the checker; account-scoped sessions are not listed). */
bool store_org_extras_delete(store_t *s, const char *org_id, struct error *e);
bool store_extras_each_org_id(store_t *s,
                              bool (*fn)(const char *collection, const char *org_id, void *ud),
                              void *ud, struct error *e);

/* ---- store_accounts.c: accounts (collection "admins") ---- */

bool store_account_insert(store_t *s, const struct account *a, const struct pending_list *ev,
                          struct error *e);
bool store_account_by_email(store_t *s, const char *email_key, struct account *out, bool *found,
                            struct error *e);
bool store_account_by_id(store_t *s, const char *id, struct account *out, bool *found,
                         struct error *e);
/* The accounts among ids[0..n) that exist (password_hash not read), in any order. */
bool store_accounts_by_ids(store_t *s, const char (*ids)[ID_BUF], size_t n, struct account *out,
                           size_t *found, struct error *e);
/* The guarded change of account cur (as read: its version): sets email
 * and/or password_hash (NULL: unchanged). *applied false: the account
 * changed (or went) since cur was read. ERR_CONFLICT if the e-mail belongs
 * to someone else. */
bool store_account_update(store_t *s, const struct account *cur, const char *email_key,
                          const char *password_hash, const struct pending_list *ev, bool *applied,
                          struct error *e);
/* Deletes the account if it has no membership in any org but
 * except_org_id (NULL: none excepted) and was made by /org/create;
 * *deleted says whether it did. */
bool store_account_delete_if_unattached(store_t *s, const char *id, const char *except_org_id,
                                        bool *deleted, struct error *e);
/* The ids among ids[0..n) of accounts made by /org/create (or older ones
 * without an origin): those that go with their last org. */
bool store_accounts_disposable(store_t *s, const char (*ids)[ID_BUF], size_t n, char (*out)[ID_BUF],
                               size_t *found, struct error *e);
/* Every account (password_hash not read), for the checker. */
bool store_account_each(store_t *s, bool (*fn)(const struct account *a, void *ud), void *ud,
                        struct error *e);

/* ---- store_memberships.c: memberships ---- */

bool store_membership_insert(store_t *s, const struct membership *m, const struct pending_list *ev,
                             struct error *e);
/* A membership being removed (removing_at set) is not found: nothing may
 * start from it. */
bool store_membership_get(store_t *s, const char *account_id, const char *org_id,
                          struct membership *out, bool *found, struct error *e);
/* An account's memberships, oldest first, at most max. */
bool store_memberships_of_account(store_t *s, const char *account_id, struct membership *out,
                                  size_t max, size_t *n, struct error *e);
/* account_id's memberships ordered by org id, those after after_org_id ("":
 * from the first), at most max. Keyset paging: an org created or deleted
 * meanwhile moves no other between pages. */
bool store_memberships_page(store_t *s, const char *account_id, const char *after_org_id,
                            struct membership *out, size_t max, size_t *n, struct error *e);
/* org_id's memberships ordered by account id, after after_account_id. */
bool store_members_page(store_t *s, const char *org_id, const char *after_account_id,
                        struct membership *out, size_t max, size_t *n, struct error *e);
/* Calls fn for every membership of org_id (org_id NULL: every membership). */
bool store_membership_each(store_t *s, const char *org_id,
                           bool (*fn)(const struct membership *m, void *ud), void *ud,
                           struct error *e);
/* A member of org_id holding `role`, not being removed, other than
 * except_account_id (NULL: any). */
bool store_member_with_role(store_t *s, const char *org_id, enum role role,
                            const char *except_account_id, struct membership *out, bool *found,
                            struct error *e);
/* Members of org_id holding `role`, those being removed not counted. */
bool store_members_count_role(store_t *s, const char *org_id, enum role role, int64_t *n,
                              struct error *e);
/* The guarded change of membership cur's role (as read: its version);
 * *applied false: it changed or went since. */
bool store_membership_set_role(store_t *s, const struct membership *cur, enum role role,
                               const struct pending_list *ev, bool *applied, struct error *e);
/* Marks membership cur (as read: its version) as being removed at `at`
 * (0: unmarks it), a guarded change; *applied false: it changed or went. */
bool store_membership_mark_removing(store_t *s, const struct membership *cur, int64_t at,
                                    const struct pending_list *ev, bool *applied, struct error *e);
/* Memberships whose removal began before before_ms, at most max. */
bool store_memberships_removing(store_t *s, int64_t before_ms, struct membership *out, size_t max,
                                size_t *n, struct error *e);
bool store_membership_delete(store_t *s, const char *account_id, const char *org_id,
                             struct error *e);
bool store_memberships_delete_org(store_t *s, const char *org_id, struct error *e);

/* ---- store_invitations.c: invitations (the token only as SHA-256) ---- */

/* ERR_CONFLICT when (org, e-mail) has an invitation pending or being
 * accepted already: one pending invitation per e-mail is the database's
 * rule (a unique index), not a read before the insert. */
bool store_invitation_insert(store_t *s, const struct invitation *v, const struct pending_list *ev,
                             struct error *e);
bool store_invitation_by_hash(store_t *s, const char *token_hash, struct invitation *out,
                              bool *found, struct error *e);
/* The invitation whose token `token_hash` was, before a resend replaced it. */
bool store_invitation_by_replaced_hash(store_t *s, const char *token_hash, struct invitation *out,
                                       bool *found, struct error *e);
bool store_invitation_by_id(store_t *s, const char *id, struct invitation *out, bool *found,
                            struct error *e);
/* The invitation that holds (org_id, email)'s pending slot (pending or
 * being accepted). */
bool store_invitation_holding(store_t *s, const char *org_id, const char *email,
                              struct invitation *out, bool *found, struct error *e);
/* Pending, unexpired invitations of org_id and/or to email (NULL: any),
 * newest first (by id), those before before_id ("" or NULL: from the
 * newest), at most max. */
bool store_invitations_pending(store_t *s, const char *org_id, const char *email, int64_t now,
                               const char *before_id, struct invitation *out, size_t max, size_t *n,
                               struct error *e);
/* The guarded transition of invitation cur (as read: its version) to `to`,
 * releasing its pending slot unless `to` is pending or accepting. `by`
 * (accepting: the joining account) and `at` stamp the move. *applied
 * false: it changed since cur was read. ERR_CONFLICT: back to pending while
 * another invitation holds the slot. */
bool store_invitation_move(store_t *s, const struct invitation *cur, enum invitation_status to,
                           const char *by, int64_t at, const struct pending_list *ev, bool *applied,
                           struct error *e);
/* The pending invitations of org_id that inviter_id made, at most max. */
/* A new token hash and expiry for a pending invitation (as read): a
 * guarded change, with its events. */
bool store_invitation_retoken(store_t *s, const struct invitation *cur, const char *token_hash,
                              int64_t expires_at, const struct pending_list *ev, bool *applied,
                              struct error *e);
bool store_invitations_by_inviter(store_t *s, const char *org_id, const char *inviter_id,
                                  struct invitation *out, size_t max, size_t *n, struct error *e);
/* Invitations left accepting since before before_ms, at most max. */
bool store_invitations_stuck(store_t *s, int64_t before_ms, struct invitation *out, size_t max,
                             size_t *n, struct error *e);

/* ---- store_sessions.c: sessions (never a token in clear) and rotations ---- */

bool store_session_insert(store_t *s, const struct session *x, struct error *e);
bool store_session_by_id(store_t *s, const char *id, struct session *out, bool *found,
                         struct error *e);
/* Replaces the refresh hash old_hash by new_hash (keeping old_hash as the
 * previous one, and now as last_used_at) if the session is still active
 * with old_hash; *applied says whether it was. Written only by the winner
 * of store_rotation_claim. */
bool store_session_rotate(store_t *s, const char *id, const char *old_hash, const char *new_hash,
                          int64_t now, const char *client, bool *applied, struct error *e);
/* Revokes session id if it is account_id's and active; *revoked says whether. */
bool store_session_revoke(store_t *s, const char *id, const char *account_id, enum session_end why,
                          int64_t now, bool *revoked, struct error *e);
/* Revokes every active session of account_id but except_id (NULL: none
 * excepted); *n gets how many. */
bool store_sessions_revoke_others(store_t *s, const char *account_id, const char *except_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e);
/* Revokes account_id's sessions scoped to org_id; *n how many. */
bool store_sessions_revoke_in_org(store_t *s, const char *account_id, const char *org_id,
                                  enum session_end why, int64_t now, int64_t *n, struct error *e);
/* account_id's active, unexpired sessions, the newest sign-in first (by
 * id), those before before_id ("" or NULL: from the newest), at most max. */
bool store_sessions_live(store_t *s, const char *account_id, int64_t now, const char *before_id,
                         struct session *out, size_t max, size_t *n, struct error *e);
bool store_sessions_delete_account(store_t *s, const char *account_id, struct error *e);
bool store_session_delete(store_t *s, const char *id, struct error *e);
/* Every session (refresh_hash and rotation_key not read), for the checker. */
bool store_session_each(store_t *s, bool (*fn)(const struct session *x, void *ud), void *ud,
                        struct error *e);

/* Rotated refresh tokens (collection "session_rotations", _id = the hash).
 * Claiming inserts the hash: the unique _id gives concurrent rotations of
 * one token exactly one winner (*won), on FerretDB too, whose updates are
 * read-then-write. */
bool store_rotation_claim(store_t *s, const char *hash, const char *session_id, int64_t now,
                          int64_t expires_at, bool *won, struct error *e);
/* The same claim made by an end of the session (see lib/sessions.c
 * end_one): marked so, since no rotation follows it. */
bool store_rotation_claim_end(store_t *s, const char *hash, const char *session_id, int64_t now,
                              int64_t expires_at, bool *won, struct error *e);
/* Who holds the claim of hash: *by_end, and when it was made (*at, Unix
 * ms); *found false if nobody does. */
bool store_rotation_claim_of(store_t *s, const char *hash, bool *by_end, int64_t *at, bool *found,
                             struct error *e);
/* The session a rotated-away hash belonged to; *found false if unknown. */
bool store_rotation_session(store_t *s, const char *hash, char session_id[ID_BUF], bool *found,
                            struct error *e);

/* ---- store_throttle.c: throttling events (collection "throttle_events") ---- */

#define THROTTLE_KEYS_MAX 2
/* Inserts one event now for each of keys[0..n) (n <= THROTTLE_KEYS_MAX),
 * in one command; their ids into ids. */
bool store_throttle_reserve(store_t *s, const char *const *keys, size_t n, int64_t now,
                            int64_t expires_at, char (*ids)[ID_BUF], struct error *e);
/* The events of each of keys[0..n) after since, into counts, in one command. */
bool store_throttle_counts(store_t *s, const char *const *keys, size_t n, int64_t since,
                           int64_t *counts, struct error *e);
/* The time of key's event number `skip` (0 = oldest) after since; 0 if none. */
bool store_throttle_nth(store_t *s, const char *key, int64_t since, int64_t skip, int64_t *at,
                        struct error *e);
/* Deletes the events ids[0..n) and, when clear_key is given, every event
 * of that key, in one command. */
bool store_throttle_release(store_t *s, const char (*ids)[ID_BUF], size_t n, const char *clear_key,
                            struct error *e);

/* ---- store_tenants.c: tenant collections ---- */

/* ERR_CONFLICT if it exists already, on every server (MongoDB 7's `create`
 * of an existing collection succeeds: existence is asked first). */
bool store_collection_create(store_t *s, const char *name, struct error *e);
/* A missing `from` is ERR_NOT_FOUND here (a move's own answer, not a
 * lookup's); ERR_CONFLICT if `to` exists. Never drops a target. */
bool store_collection_rename(store_t *s, const char *from, const char *to, struct error *e);
/* A missing collection is not an error. */
bool store_collection_drop(store_t *s, const char *name, struct error *e);
bool store_collection_exists(store_t *s, const char *name, bool *exists, struct error *e);
/* Calls fn for every collection whose name starts with "org_". */
bool store_collection_each_tenant(store_t *s, bool (*fn)(const char *name, void *ud), void *ud,
                                  struct error *e);

/* ---- store_import.c: a database the original FastAPI + MongoDB service wrote ---- */

typedef struct store_source store_source_t;

/* One of its `admins`, with its id as orgd's: an ObjectId as it is, any
 * other id mapped to one the same way on every run. */
struct source_account {
    char id[ID_BUF];
    char source_id[64]; /* as the source wrote it, for reports */
    char email[EMAIL_BUF + 64];
    char password_hash[PASSWORD_HASH_BUF];
    int64_t created_at; /* 0: the source has none */
};

/* One of its `organizations`, its id and its admin's mapped as above. */
struct source_org {
    char id[ID_BUF];
    char source_id[64];
    char name[256];
    char collection[256];
    char admin_id[ID_BUF];
    int64_t created_at;
};

/* A client for the source (read only). Caller closes with store_source_close. */
store_source_t *store_source_open(const char *uri, const char *db, struct error *e);
void store_source_close(store_source_t *src);
/* Calls fn for every admin / organization of the source, by _id; fn
 * returns false to stop. */
bool store_source_accounts(store_source_t *src,
                           bool (*fn)(const struct source_account *a, void *ud), void *ud,
                           struct error *e);
bool store_source_orgs(store_source_t *src, bool (*fn)(const struct source_org *o, void *ud),
                       void *ud, struct error *e);
bool store_source_count(store_source_t *src, const char *coll, int64_t *n, struct error *e);
/* Copies every document of the source's collection `from` into orgd's
 * `to`, each under its own _id: one already there (from an earlier run)
 * is kept, so a copy repeated after a crash finishes it. *total counts the
 * source's documents, *copied those this run added. */
bool store_source_copy(store_source_t *src, store_t *s, const char *from, const char *to,
                       int64_t *copied, int64_t *total, struct error *e);
/* orgd's record (collection "imports") that an import began copying into
 * org org_id's collection: made once, before the first document. */
bool store_import_marked(store_t *s, const char *org_id, bool *marked, struct error *e);
bool store_import_mark(store_t *s, const char *org_id, const char *source_id, struct error *e);

/* ---- store_events.c: the audit log (events.h) ---- */

enum event_insert { EVENT_INSERTED, EVENT_THERE_ALREADY, EVENT_SEQ_TAKEN };
/* Inserts r (org_id "" for an account's chain): EVENT_THERE_ALREADY when
 * its id is in the log, EVENT_SEQ_TAKEN when its (chain, seq) is. */
bool store_event_insert(store_t *s, const struct event_row *r, const char *org_id,
                        enum event_insert *res, struct error *e);
/* Inserts rows[0..n) in order, in one round trip, stopping at the first
 * that clashes (*inserted: how many went in before it; ERR_CONFLICT). */
bool store_events_insert_ordered(store_t *s, const struct event_row *rows,
                                 const char *const *org_ids, size_t n, size_t *inserted,
                                 struct error *e);
/* The newest event of a chain. */
bool store_event_head(store_t *s, const char *chain, struct event_row *out, bool *found,
                      struct error *e);
/* exists[i]: whether ids[i] is in the log. */
bool store_events_exist(store_t *s, const char (*ids)[ID_BUF], size_t n, bool *exists,
                        struct error *e);
/* A page of a chain, newest first: seq below before_seq (0: from the
 * newest), action equal to `action` or, ending in ".*", starting with what
 * is before the '*' (NULL: any), at most max. Caller frees each row. */
bool store_events_page(store_t *s, const char *chain, int64_t before_seq, const char *action,
                       struct event_row *out, size_t max, size_t *n, struct error *e);
/* Calls fn for each event of a chain (NULL: of every chain, by chain),
 * oldest first, one at a time (nothing is held in memory); fn returns
 * false to stop. The row is freed after fn returns. */
bool store_events_each(store_t *s, const char *chain, const char *action,
                       bool (*fn)(const struct event_row *r, void *ud), void *ud, struct error *e);
/* Deletes the events older than before_ms but the newest of each chain. */
bool store_events_sweep(store_t *s, int64_t before_ms, int64_t *deleted, struct error *e);

/* The drafts documents carry (organizations, admins, memberships,
 * invitations) written between since_ms and until_ms: fn(id, chain, at,
 * draft text) for each; fn returns false to stop. */
bool store_pending_each(store_t *s, int64_t since_ms, int64_t until_ms,
                        bool (*fn)(const char *id, const char *chain, int64_t at, const char *draft,
                                   void *ud),
                        void *ud, struct error *e);
/* The draft of event id, from the document that carries it. */
bool store_pending_find(store_t *s, const char *id, char *chain, size_t chain_cap, char **draft,
                        bool *found, struct error *e);

/* ---- store_webhooks.c: endpoints, the outbox (webhooks.h, delivery.h) ---- */

bool store_webhook_insert(store_t *s, const struct webhook *w, const struct pending_list *ev,
                          struct error *e);
bool store_webhook_by_id(store_t *s, const char *id, struct webhook *out, bool *found,
                         struct error *e);
/* The org's endpoints but deleted ones, by id after after_id ("" from the first). */
bool store_webhooks_of_org(store_t *s, const char *org_id, const char *after_id,
                           struct webhook *out, size_t max, size_t *n, struct error *e);
/* The guarded change of endpoint cur (as read) to next's url, actions,
 * enabled, deleted, disabled_reason, updated_at and failure counts. */
bool store_webhook_update(store_t *s, const struct webhook *cur, const struct webhook *next,
                          const struct pending_list *ev, bool *applied, struct error *e);
/* Queues d with its payload (the message's body), once per (message,
 * endpoint): *inserted false when it was queued already. */
bool store_delivery_insert(store_t *s, const struct delivery *d, const char *payload,
                           bool *inserted, struct error *e);
/* Pending deliveries due at now and not leased, the most overdue first,
 * but none to the endpoints skip[0..nskip) (being sent to already). */
bool store_deliveries_due(store_t *s, int64_t now, const char (*skip)[ID_BUF], size_t nskip,
                          struct delivery *out, size_t max, size_t *n, struct error *e);
/* Leases d (as read) until lease_until for this instance (a guarded
 * transition: of two instances one wins; *applied says which). */
bool store_delivery_claim(store_t *s, const struct delivery *d, int64_t lease_until,
                          const char *instance, bool *applied, struct error *e);
bool store_delivery_payload(store_t *s, const char *id, char **payload, struct error *e);
/* Records an attempt of d (leased: at `version`): its log gains a, its
 * state and next try are set, its lease ends. */
bool store_delivery_record(store_t *s, const struct delivery *d, int64_t version,
                           const struct delivery_attempt *a, enum delivery_state state,
                           int64_t next_at, bool *applied, struct error *e);
/* Pending again, due at `at` (a redelivery). */
bool store_delivery_reschedule(store_t *s, const struct delivery *d, int64_t at, bool *applied,
                               struct error *e);
bool store_delivery_by_id(store_t *s, const char *id, struct delivery *out, bool *found,
                          struct error *e);
/* An endpoint's deliveries, newest first, before before_id ("" from the newest). */
bool store_deliveries_of(store_t *s, const char *webhook_id, const char *before_id,
                         struct delivery *out, size_t max, size_t *n, struct error *e);
/* How many deliveries are pending, and when the oldest was queued (0: none). */
bool store_outbox_stats(store_t *s, int64_t *pending, int64_t *oldest_at, struct error *e);
/* Events the outbox has not taken in yet, oldest first; and taking one in. */
bool store_events_unfanned(store_t *s, struct event_row *out, size_t max, size_t *n,
                           struct error *e);
bool store_event_fanned(store_t *s, const char *id, struct error *e);

/* ---- store_mail.c: the mail outbox, reset and address-check tokens (mail.h) ---- */

bool store_mail_insert(store_t *s, const struct mail_item *m, const char *subject, const char *text,
                       const char *html, struct error *e);
/* Pending messages due at now and not leased, the most overdue first. */
bool store_mail_due(store_t *s, int64_t now, struct mail_item *out, size_t max, size_t *n,
                    struct error *e);
/* Leases m (as read): a guarded transition, one instance wins it. */
bool store_mail_claim(store_t *s, const struct mail_item *m, int64_t lease_until,
                      const char *instance, bool *applied, struct error *e);
/* The message's subject, text and HTML (malloc'd; NULL when gone). */
bool store_mail_parts(store_t *s, const char *id, char **subject, char **text, char **html,
                      struct error *e);
/* The end of an attempt of m (leased: at `version`): pending again at
 * next_at, or sent, failed or dropped, and then its parts are removed. */
bool store_mail_record(store_t *s, const struct mail_item *m, int64_t version,
                       enum mail_state state, int64_t next_at, const char *error, bool *applied,
                       struct error *e);
bool store_mail_pending(store_t *s, int64_t *n, struct error *e);

/* The live token of an account for a purpose (one at most). */
bool store_account_token_live(store_t *s, const char *account_id, enum token_purpose p,
                              struct account_token *out, bool *found, struct error *e);
/* Inserts t as the live token of its account and purpose: ERR_CONFLICT
 * while another is live (end it first: the newest replaces the older). */
bool store_account_token_insert(store_t *s, const struct account_token *t, struct error *e);
bool store_account_token_by_hash(store_t *s, const char *hash, struct account_token *out,
                                 bool *found, struct error *e);
bool store_account_token_by_id(store_t *s, const char *id, struct account_token *out, bool *found,
                               struct error *e);
/* Ends cur (as read): used or replaced; a guarded transition. */
bool store_account_token_end(store_t *s, const struct account_token *cur, bool *applied,
                             struct error *e);
/* Marks the account's address verified (a guarded change of cur, as read). */
bool store_account_verify(store_t *s, const struct account *cur, const struct pending_list *ev,
                          bool *applied, struct error *e);

/* A time the process keeps in the database by name (the recovery pass's
 * mark of how far it has looked). */
bool store_mark_get(store_t *s, const char *name, int64_t *at, bool *found, struct error *e);
bool store_mark_set(store_t *s, const char *name, int64_t at, struct error *e);

#endif
