/* lifecycle.h — the multi-document operations as small state machines on the
 * organization document (creating, renaming, deleting -> active or gone).
 *
 * MongoDB without a replica set has no multi-document transactions, so each
 * operation first records what it is about to do in the org document
 * (state + op), then takes idempotent steps, then clears the state. The
 * same functions finish or undo an operation for the request that started
 * it and for recovery after a crash:
 *   creating -> undone   (the client never got its 201)
 *   renaming -> finished (the new name was reserved first, the old released)
 *   deleting -> finished (the collection may already be gone)
 * The unique name_key index is the lock on a name.
 */
#ifndef ORGD_LIFECYCLE_H
#define ORGD_LIFECYCLE_H

#include <stdbool.h>

#include "app.h"
#include "model.h"

/* Undoes a create: drops its collection (when drop_collection and no other
 * org claims it), its membership, its owner (if unattached) and the org
 * document. Idempotent. */
bool lifecycle_create_undo(struct app *c, const struct org *o, bool drop_collection,
                           struct error *e);

/* Makes the org active again as `next` describes (state, op cleared; every
 * other field as given), by a conditional swap from *o. ERR_BUSY ("...while
 * it was being <doing>") when o changed meanwhile. On success *o is the org
 * as stored. The one way an operation ends with the org active. */
bool lifecycle_settle(struct app *c, struct org *o, struct org next, const char *doing,
                      struct error *e);

/* Puts a renaming org back to its old name and collection (lifecycle_settle). */
bool lifecycle_rename_undo(struct app *c, struct org *o, struct error *e);

/* Finishes a rename recorded in o (state renaming): moves the collection
 * from op.from_collection to op.to_collection unless already moved, then
 * makes the org active. On return *o is the org as stored. If the move is
 * impossible (the target exists and is not ours), the rename is undone
 * when the old name is still free, and ERR_CONFLICT is returned. */
bool lifecycle_rename_finish(struct app *c, struct org *o, struct error *e);

/* Drops o's collection unless another org claims it (see
 * store_org_claiming): a collection some other organization document
 * names is that organization's data, and is kept (and logged). */
bool lifecycle_collection_drop_unclaimed(struct app *c, const struct org *o, struct error *e);

/* Deletes account id if it was made by /org/create and has no org left but
 * except_org_id (NULL: none), then its sessions. Idempotent. */
bool lifecycle_release_account(struct app *c, const char *id, const char *except_org_id,
                               struct error *e);

/* Finishes a delete recorded in o (state deleting): drops the collection,
 * invitations and org-scoped sessions, accounts made by /org/create left
 * without an org (with all their sessions), the memberships, then the org
 * document. Idempotent. The collection is
 * dropped only if no other org claims it. */
bool lifecycle_delete_finish(struct app *c, const struct org *o, struct error *e);
/* The same, after the collection is dropped (the request that dropped it
 * itself, so that it can undo when the drop fails). */
bool lifecycle_delete_rest(struct app *c, const struct org *o, struct error *e);

#endif
