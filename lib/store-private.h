/* store-private.h — what lib/store*.c share, and nothing else includes.
 *
 * store.c owns the pool, the translation of driver errors, the guarded
 * transition (store__swap) and the generic reads and writes below; the
 * other store_*.c files (one per collection, as store.h's sections say)
 * build their documents and filters and go through these. Functions named
 * store__verb are shared between those files; every other helper is
 * static in the file that uses it.
 */
#ifndef ORGD_STORE_PRIVATE_H
#define ORGD_STORE_PRIVATE_H

#include <mongoc/mongoc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "store.h"

struct store {
    mongoc_client_pool_t *pool;
    char db[64];
    atomic_bool indexed;         /* the unique indexes exist: names, e-mails, locks */
    atomic_bool locks_indexed;   /* the locks' unique index exists (store__swap may run) */
    atomic_bool ttl_unsupported; /* the server refused a TTL index (FerretDB 1.x) */
    int64_t lock_ttl_ms;         /* an org lock younger than this may still be in use */
};

/* The master database's own collections. */
#define C_ORGS "organizations"
#define C_ACCOUNTS "admins"
#define C_MEMBERS "memberships"
#define C_INVITATIONS "invitations"
#define C_SESSIONS "sessions"
#define C_ROTATIONS "session_rotations"
#define C_THROTTLE "throttle_events"
#define C_LOCKS "locks"
#define C_IMPORTS "imports" /* orgd import's markers: an org whose collection it copies */

/* Gives invitations stored before pending_key existed theirs (store_invitations.c);
 * store_ensure_indexes calls it before it makes pending_key unique. */
bool store__invitations_slot_legacy(store_t *s, struct error *e);

/* The server error codes the store tells apart, by their names in MongoDB's
 * error_codes.yml. Any other code is ERR_INTERNAL. */
enum mongo_error_code {
    /* FerretDB reports what its backend said as this code, with the
     * backend's words (store__worded_kind reads them) */
    MONGO_ERR_INTERNAL_ERROR = 1,
    MONGO_ERR_HOST_UNREACHABLE = 6,
    MONGO_ERR_HOST_NOT_FOUND = 7,
    MONGO_ERR_NAMESPACE_NOT_FOUND = 26,
    MONGO_ERR_NAMESPACE_EXISTS = 48,
    MONGO_ERR_NETWORK_TIMEOUT = 89,
    MONGO_ERR_SHUTDOWN_IN_PROGRESS = 91,
    MONGO_ERR_PRIMARY_STEPPED_DOWN = 189,
    MONGO_ERR_NOT_IMPLEMENTED = 238, /* FerretDB: a TTL index, among others */
    MONGO_ERR_EXCEEDED_TIME_LIMIT = 262,
    MONGO_ERR_SOCKET_EXCEPTION = 9001,
    MONGO_ERR_NOT_WRITABLE_PRIMARY = 10107,
    MONGO_ERR_DUPLICATE_KEY = 11000,
    MONGO_ERR_DUPLICATE_KEY_ON_UPDATE = 11001, /* older servers' E11001 */
    MONGO_ERR_INTERRUPTED_AT_SHUTDOWN = 11600,
    MONGO_ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE = 11602,
    MONGO_ERR_NOT_PRIMARY_NO_SECONDARY_OK = 13435,
    MONGO_ERR_NOT_PRIMARY_OR_SECONDARY = 13436,
};

/* One key's count (store_sessions.c, the throttle). */
struct store__key_count {
    char key[320];
    int64_t n;
};

/* ---- errors (store.c) ---- */

/* The kind a FerretDB InternalError's message gives it (its backend's
 * words: a unique clash, a backend going away), or ERR_INTERNAL. */
enum err_kind store__worded_kind(const char *message);

/* What a driver error means to us; logs and counts nothing. */
enum err_kind store__classify(const bson_error_t *be);

/* The one translation from a driver error to ours: logs it (naming the
 * operation `what`), counts it, fills *e. Always returns false, so that
 * `return ok || store__fail(...)` reads as the result. */
bool store__fail(struct error *e, const bson_error_t *be, const char *what);

/* Writes whose correctness rests on a unique index (names, e-mails,
 * memberships, org locks) call this first: true once the indexes exist. */
bool store__indexes_ready(store_t *s, struct error *e);

/* ---- connections ---- */

/* A client popped from the pool and one collection of the master database
 * (none when the name is NULL), for one call. */
struct store__conn {
    store_t *s;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
};

struct store__conn store__conn_open(store_t *s, const char *collection);
/* Destroys the collection and pushes the client back. */
void store__conn_close(struct store__conn *c);

/* One command on database `db` (by name); the reply is discarded. */
bool store__run_command(store_t *s, const char *db, const bson_t *cmd, const char *what,
                        struct error *e);

/* ---- documents <-> records ---- */

/* Fills the record at `out` (of the type its caller expects) from doc,
 * clearing every field the document lacks. */
typedef void (*store__from_doc_fn)(const bson_t *doc, void *out);

/* False for NULL or anything but 24 hex digits. */
bool store__oid_from(const char *hex, bson_oid_t *oid);
/* Appends key: ObjectId(hex), or nothing when hex is no ObjectId. */
void store__append_oid(bson_t *b, const char *key, const char *hex);
/* Appends key: {$in: [ObjectId(ids[0]), ...]} (ids that are no ObjectId left out). */
void store__append_in_ids(bson_t *b, const char *key, const char (*ids)[ID_BUF], size_t n);
/* The value at `it` as text, truncated to cap - 1 bytes; "" if it is no string. */
void store__copy_utf8(bson_iter_t *it, char *out, size_t cap);
/* The ObjectId at `it` as hex; "" if it is no ObjectId. */
void store__copy_oid(bson_iter_t *it, char out[ID_BUF]);
/* The date at `it` in ms since the epoch; 0 if it is no date. */
int64_t store__get_time(bson_iter_t *it);

/* ---- generic reads ---- */

/* Finds one document matching filter and converts it into out; *found
 * says whether there was one. False only when the database failed. */
bool store__find_one(store_t *s, const char *coll, const bson_t *filter, store__from_doc_fn conv,
                     void *out, bool *found, const char *what, struct error *e);
/* The same by _id (hex); not found also when id is no ObjectId. */
bool store__find_by_id(store_t *s, const char *coll, const char *id, store__from_doc_fn conv,
                       void *out, bool *found, const char *what, struct error *e);
/* The same by one text field's value. */
bool store__find_by_utf8(store_t *s, const char *coll, const char *field, const char *value,
                         store__from_doc_fn conv, void *out, bool *found, const char *what,
                         struct error *e);

/* A find's cursor and the pooled client it holds; read it with
 * store__cursor_next, always end it with store__cursor_close. One loop
 * shape serves every record type, and each caller calls its own typed
 * callback directly (C may not call a `bool (*)(const struct org *, void *)`
 * through a `bool (*)(const void *, void *)`). */
struct store__cursor {
    struct store__conn conn;
    mongoc_cursor_t *cur;
};

/* Starts a find on coll: filter NULL matches every document; opts as
 * find's (sort, limit, projection), NULL for none. Both are copied: the
 * caller may destroy them at once. Nothing is sent before the first read. */
struct store__cursor store__find(store_t *s, const char *coll, const bson_t *filter,
                                 const bson_t *opts);
/* Reads the next document and converts it into out (out NULL: reads it and
 * converts nothing). False at the end and on an error; close tells which. */
bool store__cursor_next(struct store__cursor *c, store__from_doc_fn conv, void *out);
/* Destroys the cursor and pushes the client back. False, with *e filled
 * (naming the operation `what` in the log), if the cursor failed. */
bool store__cursor_close(struct store__cursor *c, const char *what, struct error *e);

/* Converts the documents matching filter into out[0..max), an array of
 * records of item_size bytes; *n gets how many it filled, also on failure.
 * opts NULL asks the server for at most max documents. */
bool store__find_many(store_t *s, const char *coll, const bson_t *filter, const bson_t *opts,
                      size_t item_size, store__from_doc_fn conv, void *out, size_t max, size_t *n,
                      const char *what, struct error *e);

/* ---- generic writes ---- */

/* One insert; the driver's error, untranslated, in *be (for callers that
 * take a conflict as an answer, not an error). */
bool store__insert_raw(store_t *s, const char *coll, const bson_t *doc, bson_error_t *be);
bool store__insert(store_t *s, const char *coll, const bson_t *doc, const char *what,
                   struct error *e);

enum store__write_kind {
    STORE__UPDATE_ONE,
    STORE__UPDATE_MANY,
    STORE__DELETE_ONE,
    STORE__DELETE_MANY
};

/* update_one/many (with update) or delete_one/many (update NULL); *matched, when
 * not NULL, gets the matched or deleted count. */
bool store__write_op(store_t *s, const char *coll, enum store__write_kind kind,
                     const bson_t *filter, const bson_t *update, int64_t *matched, const char *what,
                     struct error *e);

/* Deletes every document of coll whose `field` is the ObjectId hex;
 * nothing (and no error) when hex is no ObjectId. */
bool store__delete_by_oid(store_t *s, const char *coll, const char *field, const char *hex,
                          const char *what, struct error *e);

/* update_one of the document filter matches, taking (and destroying) filter
 * and update; *applied: exactly one matched. */
bool store__update_one(store_t *s, const char *coll, bson_t *filter, bson_t *update, bool *applied,
                       const char *what, struct error *e);

/* The one guarded transition (the comment above it in store.c says why):
 * applies `update` (operators; `version` is incremented here) to the
 * document _id = id of coll if its version is still `version` (0: a
 * document written before versions, which has none); update NULL deletes
 * it instead. Atomic on FerretDB too: a unique insert into `locks` comes
 * first. *applied says whether it matched; a unique-key clash of the write
 * is ERR_CONFLICT. Every write to a document that two requests may change
 * goes through it (docs/ARCHITECTURE.md lists them). */
bool store__swap(store_t *s, const char *coll, const char *id, int64_t version,
                 const bson_t *update, bool *applied, const char *what, struct error *e);

/* ---- the outboxes: webhook deliveries and mail ----
 * Both keep entries {state, next_at, lease_until, attempts, version}: a
 * sender takes the due ones, leases one with a guarded swap (so one
 * instance sends it; a dead one's lease runs out), and records the
 * outcome. */

/* The filter of entries due at now: pending, next_at passed, unleased. */
bson_t *store__outbox_due(int64_t now);
/* Leases entry id of coll (as read at version) to instance until
 * lease_until. */
bool store__outbox_lease(store_t *s, const char *coll, const char *id, int64_t version,
                         int64_t lease_until, const char *instance, bool *applied, const char *what,
                         struct error *e);

/* ---- events a write carries (model.h's pending_* ) ---- */

#define C_EVENTS "events"
#define C_WEBHOOKS "webhooks"
#define C_DELIVERIES "deliveries"
#define C_MAIL "mail_outbox"
#define C_TOKENS "account_tokens"
#define F_PENDING "pending_events"

/* Appends `pending_events` (the drafts of ev, replacing the document's:
 * none when ev->n is 0) to a $set or an inserted document; nothing when
 * ev is NULL. */
void store__append_pending(bson_t *doc, const struct pending_list *ev);
/* Reads the ids of a document's `pending_events` (it at the key). */
void store__read_pending(bson_iter_t *it, struct pending_refs *out);

/* Counts the documents matching filter into *n (negative on failure). */
bool store__count(store_t *s, const char *coll, const bson_t *filter, int64_t *n, const char *what,
                  struct error *e);

#endif
