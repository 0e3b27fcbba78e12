/* events.h — the audit log: every change orgd makes is an event, written
 * by the step that makes the change, in a hash chain per organization
 * (and one per account for the account's own events).
 *
 * How one event gets written exactly once, with one round trip:
 *
 * 1. The step that commits an operation (the one write after which the
 *    operation is done, or finished by recovery: an org's settle to
 *    active, a membership's role swap, an invitation's accept, ...) puts
 *    the event's draft into that same write, in the document's
 *    `pending_events` (store.h: the `_evented` writes). An operation that
 *    is undone never made that write, so it has no event.
 * 2. Right after, the request appends the draft to its chain
 *    (events_commit): one insert into `events`, whose _id is the draft's
 *    id (so writing it twice writes it once) and whose (chain, seq) is
 *    unique: seq is the chain's head + 1 and prev_hash the head's hash,
 *    the head taken from this process's memory of it (read from the
 *    database when it has none, or when another writer got there first
 *    and the insert clashed). On MongoDB and FerretDB alike the unique
 *    index makes the chain one line: two writers cannot both append seq n.
 * 3. A process that died between 1 and 2 leaves the draft in the
 *    document; the recovery pass (events_recover) appends every draft of
 *    the last minutes not in `events` yet. A later evented write of the
 *    same document keeps the last EVENTS_PENDING_KEPT drafts, so none is
 *    lost before recovery sees it.
 *
 * An event's hash is the SHA-256 (hex) of the RFC 8785 canonical JSON of
 * its members but `id` and `hash` (jcs.h): org_id, seq, at, actor, action,
 * target, changes, prev_hash (null for the first of a chain). The API
 * shows exactly those members plus id and hash, so anyone can recompute
 * the chain from the API alone; `orgd check` does it for every chain.
 * `changes` is {field: [before, after]} and never holds a secret, a hash
 * or a token (event_change refuses such fields by name). */
#ifndef ORGD_EVENTS_H
#define ORGD_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "caller.h"
#include "model.h"

#define EVENT_ACTION_BUF 40
#define EVENT_HASH_BUF 65
#define EVENT_CHAIN_BUF 40    /* "org:<id>", "account:<id>" */
#define EVENTS_PENDING_KEPT 8 /* drafts a document keeps for recovery */

/* An event before its place in a chain: the draft a write carries. */
struct event {
    char id[ID_BUF];
    char chain[EVENT_CHAIN_BUF];
    json_t *body;   /* org_id, at, actor, action, target, changes (owned) */
    bool new_chain; /* the first of a chain made now (a new org's, a new account's):
                       appended as seq 1 without reading a head first */
};

/* ---- who acts: the request this thread serves ---- */

/* The service sets the request's id and client address for the thread
 * that serves it, and clears them after; events drafted meanwhile name
 * them. A thread without (recovery, maintenance) acts as the system. */
void events_context_set(const char *request_id, const char *client_address);
void events_context_clear(void);
/* A thread of orgd's own names itself as the actor of the events it
 * drafts ({"system": name}: "webhooks"); others are "recovery". */
void events_context_system(const char *name);

/* ---- drafting ---- */

/* A draft of `action` (e.g. "org.renamed") on target (type, id), in the
 * chain of org_id, or of the account target_id when org_id is NULL or "".
 * The actor: `who` (its account and session), or account_id alone (who
 * NULL: e.g. an account signing up), or the system (both NULL, or a
 * thread that serves no request: recovery). False only when memory runs out. */
bool event_draft(struct event *ev, const char *action, const char *org_id, const char *target_type,
                 const char *target_id, const struct caller *who, const char *account_id);
/* Adds {field: [before, after]} to its changes (steals both; NULL is
 * null). A field that names a secret (password, token, hash, secret) is
 * never recorded. */
void event_change(struct event *ev, const char *field, json_t *before, json_t *after);
void event_change_str(struct event *ev, const char *field, const char *before, const char *after);
void event_free(struct event *ev);

/* ---- the drafts a write carries ----
 *
 *     struct event_batch b = {0};
 *     struct event *ev = event_batch_add(&b);
 *     event_draft(ev, "member.role_changed", ...); event_change_str(ev, ...);
 *     if (!events_guard(app, &cur.pending, e)) ...        (a write that replaces drafts)
 *     ok = store_..._write(..., event_batch_list(&b), &applied, e);
 *     if (ok && applied) event_batch_commit(app, &b); else event_batch_drop(&b);
 */
struct event_batch {
    struct event ev[PENDING_MAX];
    size_t n;
    struct pending_draft items[PENDING_MAX];
    char *texts[PENDING_MAX];
    struct pending_list list;
};
/* The next event of the batch (NULL when it is full: PENDING_MAX). */
struct event *event_batch_add(struct event_batch *b);
/* The drafts as a store write takes them (NULL when out of memory: the
 * write then carries none, and the events are appended by the request
 * only: logged if that fails). */
const struct pending_list *event_batch_list(struct event_batch *b);
/* After the write applied: appends the events (failures logged: recovery
 * appends what is left), and frees the batch. */
void event_batch_commit(struct app *app, struct event_batch *b);
/* After a write that did not apply: frees the batch. */
void event_batch_drop(struct event_batch *b);
/* The ids of the batch's drafts, as the written document now holds them
 * (for a later step of the same operation that guards that document). */
void event_batch_refs(const struct event_batch *b, struct pending_refs *out);

/* Before a write that replaces a document's drafts: makes sure the drafts
 * it carries (as read) are in the chain. Costs nothing for drafts this
 * process appended itself; one read for others; more only for the draft
 * of a process that died before appending it. */
bool events_guard(struct app *app, const struct pending_refs *pending, struct error *e);

/* ---- writing ---- */

/* Appends each draft to its chain (see above): false (e set) only when
 * the database failed; a draft written already is no error. The change
 * the drafts record is done by then, so a caller logs a failure and goes
 * on: recovery writes what is left. */
bool events_commit(struct app *app, struct event *evs, size_t n, struct error *e);
/* Appends the drafts the documents written since `since_ms` still carry
 * and `events` lacks (the recovery pass); *written: how many. */
bool events_recover(struct app *app, int64_t since_ms, int64_t until_ms, int *appended,
                    struct error *e);

/* The database round trips this thread's event writing (appends and
 * guards) has cost since the last reset: each request resets it, and its
 * log line reports it (events_db_commands), so the bench can show what the
 * audit log adds to a write. */
void events_thread_commands_reset(void);
unsigned long events_thread_commands(void);

/* Forgets the chain heads this process remembers (tests; and a retention
 * sweep, which may delete a head it remembers). */
void events_forget_heads(void);

/* ---- the chain as stored (model.h's struct event_row) ---- */

void event_row_free(struct event_row *r);

/* The API's rendering: the canonical members, parsed, plus id and hash. */
json_t *event_render(const struct event_row *r);

/* Checks one stored event against its predecessor (NULL for the oldest
 * kept, whose prev_hash is taken as the anchor): the hash covers the
 * canonical text, which names this seq and the predecessor's hash. False
 * with why (one line) when it does not. */
bool event_verify(const struct event_row *r, const struct event_row *prev, char *why, size_t cap);

#endif
