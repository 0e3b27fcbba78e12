/* check.h — the consistency checker behind `orgd check [--repair]`.
 *
 * Verifies the invariants of docs/ARCHITECTURE.md: every active org has exactly its
 * collection (org_<name_key>, present); no org_* collection without an org;
 * no two orgs claiming one collection; no membership, invitation or token
 * pointing at a missing org (or a membership at a missing account); no
 * account made by /org/create left without any membership (reported as
 * admin_without_membership, the original service's word); no operation
 * stuck longer than the recovery age; no lock left by a writer that died
 * (store_locks_stale).
 * Operations younger than that are in progress, not problems.
 *
 * With repair, each problem is fixed: stuck operations by recovery; a
 * missing collection is created (empty); an org's wrong collection field is
 * corrected; an orphaned org_* collection is renamed to
 * orphaned_<unix time>_<name> (kept, out of the way, never dropped);
 * dangling memberships, invitations, tokens and admins are deleted.
 * It reads everything into memory: O(orgs + admins + memberships).
 */
#ifndef ORGD_CHECK_H
#define ORGD_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

/* kind: a stable word ("orphan_collection"...); detail: one line;
 * repaired: whether --repair fixed it. */
typedef void (*check_report_fn)(const char *kind, const char *detail, bool repaired, void *ud);

/* Runs one pass; *problems counts what was found (repaired or not).
 * False only if the database could not be read. */
bool check_run(struct app *app, bool repair, int64_t age_ms, check_report_fn report, void *ud,
               int *problems, struct error *e);

#endif
