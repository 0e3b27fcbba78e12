/* lifecycle.h — the operations that span several documents (create,
 * rename, delete of an org), as state machines on the org document, both
 * directions: the steps a request takes, and the finishing or undoing
 * that the request itself (after a failed step) and recovery (after a
 * crash) share. lifecycle.c opens with the states and the list
 * "transition -> function [fault point]".
 *
 * MongoDB without a replica set has no multi-document transactions, so
 * each operation first records what it is about to do in the org document
 * (state + op), then takes idempotent steps, then settles the org active
 * (or deletes it). The unique name_key index is the lock on a name.
 *
 * Errors: ERR_CONFLICT (409, a name or e-mail taken, or a collection that
 * belongs to no org), ERR_BUSY (409 with Retry-After), ERR_UNAVAILABLE
 * (503), ERR_INTERNAL.
 */
#ifndef ORGD_LIFECYCLE_H
#define ORGD_LIFECYCLE_H

#include <stdbool.h>

#include "app.h"
#include "events.h"
#include "model.h"

/* The record of a new org named `name` (its slug, for the account-first
 * flow) and shown as `display_name` (NULL: the name), owned by `owner`,
 * state creating, not yet stored. */
void lifecycle_draft(const char *name, const char *display_name, const struct account *owner,
                     struct org *out);

/* Creates drafted org o: the document (its unique name_key reserves the
 * name), new_owner's account when one is given (an /org/create), the
 * owner's membership, the collection, then active. A failed step undoes
 * the earlier ones. `field` names the name in errors. On success *o is the
 * org as stored. */
bool lifecycle_create(struct app *app, const struct caller *who, struct org *o,
                      const char *description, const struct account *new_owner, const char *field,
                      struct error *e);

/* 409 naming `field` when another org has new_name (a fast answer before
 * anything is written; the unique index decides a race). */
bool lifecycle_name_free(struct app *app, const struct org *o, const char *new_name,
                         const char *field, struct error *e);

/* Renames *o (as read) to new_name, shown as new_display_name (NULL: the
 * new name if the display name was the old name, else the display name
 * unchanged): the new name taken and the old one released in one write, the
 * collection moved with every document, then active. A change of case
 * alone is one write. On success *o is the org as stored. */
bool lifecycle_rename(struct app *app, const struct caller *who, struct org *o,
                      const char *new_name, const char *new_display_name, const char *field,
                      struct error *e);

/* Deletes org o (as read): marked deleting, its collection dropped (unless
 * another org claims it), its invitations and org-scoped sessions, the
 * accounts it made (by /org/create) left without an org, its memberships,
 * then its document. */
bool lifecycle_delete(struct app *app, const struct caller *who, const struct org *o,
                      struct error *e);

/* ---- what recovery (and check --repair) calls, on an org it claimed ---- */

/* Undoes a create: drops its collection (when drop_collection and no other
 * org claims it), its membership, its owner (if unattached) and the org
 * document. Idempotent. */
bool lifecycle_create_undo(struct app *app, const struct org *o, bool drop_collection,
                           struct error *e);
/* Finishes a rename recorded in o (state renaming) for who (NULL:
 * recovery): moves the collection unless already moved, then makes the
 * org active, with its event. If the move is
 * impossible (the target exists and is not ours), the rename is undone and
 * ERR_CONFLICT is returned. On return *o is the org as stored. */
bool lifecycle_rename_finish(struct app *app, const struct caller *who, struct org *o,
                             struct error *e);
/* Finishes a delete recorded in o (state deleting). Idempotent. */
bool lifecycle_delete_finish(struct app *app, const struct org *o, struct error *e);

/* Makes the org active again as `next` describes (state, op cleared; every
 * other field as given), by a guarded swap from *o, carrying the events of
 * the operation it ends (b; NULL: an operation undone, whose drafts, if
 * any, go). ERR_BUSY ("...while it was being <doing>") when o changed
 * meanwhile. On success *o is the org as stored. The one way an operation
 * ends with the org active. */
bool lifecycle_settle(struct app *app, struct org *o, struct org next, const char *doing,
                      struct event_batch *b, struct error *e);

/* Deletes account id if it was made by /org/create and has no org left but
 * except_org_id (NULL: none), then its sessions. Idempotent. Shared with a
 * member's removal (members.c). */
bool lifecycle_release_account(struct app *app, const char *id, const char *except_org_id,
                               struct error *e);

#endif
