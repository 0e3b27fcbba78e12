/* recovery.h — finishing or undoing operations that a crash or a lost
 * database interrupted.
 *
 * An org is stuck when it is not active and its operation was last touched
 * longer ago than `age_ms`. Recovery claims it with a compare-and-swap on its
 * version (setting op.touched_at and op.claimed_by), so when several orgd
 * instances run recovery at once each stuck org is handled by exactly one of
 * them; then it undoes a create, or finishes a rename or a delete (see lifecycle.h).
 */
#ifndef ORGD_RECOVERY_H
#define ORGD_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"

/* enum recovery_action and recovery_action_name are in model.h (metrics counts them) */

struct recovery_stats {
    long actions[RECOVERY_ACTION_COUNT];
};

/* One pass: removes expired org locks; deletes expired sessions, rotated
 * refresh-token records and throttling events (what a TTL index would do,
 * for servers without them); then finishes or undoes the stuck operations.
 * Returns false only if one of those lists could not be read. */
bool recovery_run(struct app *app, int64_t age_ms, struct recovery_stats *stats, struct error *e);

/* Claims and repairs one org (as read). *done tells whether this caller did
 * it (false: another instance had claimed it, or it changed). */
bool recovery_one(struct app *app, const struct org *o, bool *done, enum recovery_action *action,
                  struct error *e);

#endif
