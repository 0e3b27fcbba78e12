#include "recovery.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "invitations.h"
#include "lifecycle.h"
#include "log.h"
#include "members.h"
#include "metrics.h"
#include "util.h"

#define BATCH 64

bool recovery_one(struct app *app, const struct org *o, bool *done, enum recovery_action *action,
                  struct error *e)
{
    *done = false;
    *action = RECOVERY_FAILED;
    if (o->state == ORG_ACTIVE)
        return true;
    struct org claimed = *o;
    claimed.op.touched_at = clock_now_ms();
    snprintf(claimed.op.claimed_by, sizeof claimed.op.claimed_by, "%s", app->instance_id);
    bool applied = false;
    if (!store_org_swap(app->store, o, &claimed, &applied, e))
        return false;
    if (!applied)
        return true; /* someone else has it */
    *done = true;

    bool ok = false;
    switch (claimed.state) {
    case ORG_CREATING:
        *action = RECOVERY_UNDO_CREATE;
        ok = lifecycle_create_undo(app, &claimed, true, e);
        break;
    case ORG_RENAMING:
        *action = RECOVERY_FINISH_RENAME;
        ok = lifecycle_rename_finish(app, NULL, &claimed, e);
        break;
    case ORG_DELETING:
        *action = RECOVERY_FINISH_DELETE;
        ok = lifecycle_delete_finish(app, &claimed, e);
        break;
    default:
        break;
    }
    log_emit(ok ? LOG_INFO : LOG_ERROR, "recovery",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "action",
                       recovery_action_name(*action), "org_id", o->id, "organization_name", o->name,
                       "state", org_state_name(o->state), "instance", app->instance_id, "ok", ok,
                       "error", ok ? "" : e->message));
    if (!ok)
        *action = RECOVERY_FAILED;
    metrics_recovery_action(*action);
    return ok;
}

/* Drafts of the last minutes still carry a recent write's events if its
 * process died before appending them: a draft is looked for once it is
 * EVENTS_LAG_MS old (a live request appends its own within that), from
 * where the last pass stopped (its mark in the database, minus
 * EVENTS_OVERLAP_MS: passes of two instances overlap harmlessly). */
#define EVENTS_LAG_MS 5000
#define EVENTS_OVERLAP_MS (10 * 60 * 1000)
#define EVENTS_MARK "events_recovered_until"

static bool recover_events(struct app *app, struct error *e)
{
    int64_t mark = 0, until = clock_now_ms() - EVENTS_LAG_MS;
    bool found = false;
    if (!store_mark_get(app->store, EVENTS_MARK, &mark, &found, e))
        return false;
    int appended = 0;
    if (!events_recover(app, found ? mark - EVENTS_OVERLAP_MS : 0, until, &appended, e))
        return false;
    for (int i = 0; i < appended; i++)
        metrics_recovery_action(RECOVERY_APPEND_EVENT);
    if (appended > 0)
        log_emit(LOG_INFO, "recovery",
                 json_pack("{s:s, s:i, s:s}", "action", "append_event", "events", appended,
                           "instance", app->instance_id));
    return store_mark_set(app->store, EVENTS_MARK, until, e);
}

/* The retention sweep, at most once an hour per process: events older
 * than EVENTS_RETENTION_DAYS go, but the newest of each chain, whose hash
 * the next event names (the oldest kept anchors the chain: events.h). */
static bool sweep_events(struct app *app, struct error *e)
{
    static _Atomic int64_t last_sweep;
    int64_t now = clock_now_ms();
    if (app->cfg->events_retention_days == 0 || now - last_sweep < 3600 * 1000)
        return true;
    last_sweep = now;
    int64_t deleted = 0;
    if (!store_events_sweep(app->store, now - app->cfg->events_retention_days * 86400000LL,
                            &deleted, e))
        return false;
    if (deleted > 0) {
        events_forget_heads();
        log_emit(LOG_INFO, "events past their retention removed",
                 json_pack("{s:I, s:I}", "events", (json_int_t)deleted, "retention_days",
                           (json_int_t)app->cfg->events_retention_days));
    }
    return true;
}

bool recovery_run(struct app *app, int64_t age_ms, struct recovery_stats *stats, struct error *e)
{
    memset(stats, 0, sizeof *stats);
    int64_t expired = 0;
    if (!store_locks_stale(app->store, clock_now_ms() - age_ms, true, &expired, e))
        return false;
    if (expired > 0)
        log_emit(LOG_WARN, "expired org locks left by a process that died mid-write",
                 json_pack("{s:I}", "locks", (json_int_t)expired));
    int64_t swept = 0;
    if (!store_expired_delete(app->store, clock_now_ms(), &swept, e))
        return false;
    if (swept > 0)
        log_emit(LOG_DEBUG, "expired sessions and throttling events removed",
                 json_pack("{s:I}", "documents", (json_int_t)swept));
    int finished = 0;
    if (!invitations_recover(app, clock_now_ms() - age_ms, &finished, e) ||
        !members_recover(app, clock_now_ms() - age_ms, &finished, e))
        return false;
    struct org *stuck = calloc(BATCH, sizeof *stuck);
    if (stuck == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = true;
    /* each claimed org is touched now, so it is not listed again in this run:
     * a few batches always end */
    for (int round = 0; round < 16; round++) {
        size_t n = 0;
        if (!(ok = store_org_stuck(app->store, clock_now_ms() - age_ms, stuck, BATCH, &n, e)))
            break;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            bool done = false;
            enum recovery_action action;
            struct error oe = ERROR_INIT;
            recovery_one(app, &stuck[i], &done, &action, &oe);
            if (done)
                stats->actions[action]++;
        }
        if (n < BATCH)
            break;
    }
    free(stuck);
    return ok && recover_events(app, e) && sweep_events(app, e);
}
