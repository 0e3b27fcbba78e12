#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_events.h"
#include "invitations.h"
#include "lifecycle.h"
#include "log.h"
#include "members.h"
#include "recovery.h"
#include "util.h"

/* A growable array of fixed-size records. */
struct vec {
    void *items;
    size_t n, cap, size;
    bool oom;
};

static void *vec_push(struct vec *v)
{
    if (!array_reserve(&v->items, &v->cap, v->n, v->size)) {
        v->oom = true;
        return NULL;
    }
    return (char *)v->items + v->n++ * v->size;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool vec_has(const struct vec *v, const char *s)
{
    return v->n > 0 && bsearch(s, v->items, v->n, v->size, cmp_str) != NULL;
}

static void vec_sort(struct vec *v)
{
    if (v->n > 1)
        qsort(v->items, v->n, v->size, cmp_str);
}

struct snapshot {
    struct vec orgs;            /* struct org */
    struct vec org_ids;         /* char[ID_BUF], sorted */
    struct vec account_ids;     /* char[ID_BUF], sorted */
    struct vec disposable;      /* char[ID_BUF]: accounts made by /org/create, which go with
                                   their last org */
    struct vec sessions;        /* struct session_link */
    struct vec collections;     /* char[COLLECTION_BUF], sorted */
    struct vec members;         /* struct membership */
    struct vec member_accounts; /* char[ID_BUF], sorted: admins with a membership */
    struct vec extras;          /* struct extra */
};

struct session_link {
    char id[ID_BUF];
    char account_id[ID_BUF];
};

struct extra {
    char collection[16];
    char org_id[ID_BUF];
};

static bool push_org(const struct org *o, void *ud)
{
    struct snapshot *s = ud;
    struct org *slot = vec_push(&s->orgs);
    char *id = vec_push(&s->org_ids);
    if (slot == NULL || id == NULL)
        return false;
    *slot = *o;
    memcpy(id, o->id, ID_BUF);
    return true;
}

static bool push_account(const struct account *a, void *ud)
{
    struct snapshot *s = ud;
    char *id = vec_push(&s->account_ids);
    if (id == NULL)
        return false;
    memcpy(id, a->id, ID_BUF);
    if (a->origin == ORIGIN_ORG_CREATE) {
        char *d = vec_push(&s->disposable);
        if (d == NULL)
            return false;
        memcpy(d, a->id, ID_BUF);
    }
    return true;
}

static bool push_session(const struct session *x, void *ud)
{
    struct session_link *slot = vec_push(&((struct snapshot *)ud)->sessions);
    if (slot == NULL)
        return false;
    memcpy(slot->id, x->id, ID_BUF);
    memcpy(slot->account_id, x->account_id, ID_BUF);
    return true;
}

static bool push_collection(const char *name, void *ud)
{
    char *slot = vec_push(&((struct snapshot *)ud)->collections);
    if (slot == NULL)
        return false;
    snprintf(slot, COLLECTION_BUF, "%s", name);
    return true;
}

static bool push_member(const struct membership *m, void *ud)
{
    struct snapshot *s = ud;
    struct membership *slot = vec_push(&s->members);
    char *id = vec_push(&s->member_accounts);
    if (slot == NULL || id == NULL)
        return false;
    *slot = *m;
    memcpy(id, m->account_id, ID_BUF);
    return true;
}

static bool push_extra(const char *collection, const char *org_id, void *ud)
{
    struct extra *slot = vec_push(&((struct snapshot *)ud)->extras);
    if (slot == NULL)
        return false;
    snprintf(slot->collection, sizeof slot->collection, "%s", collection);
    snprintf(slot->org_id, sizeof slot->org_id, "%s", org_id);
    return true;
}

static void snapshot_free(struct snapshot *s)
{
    free(s->orgs.items);
    free(s->org_ids.items);
    free(s->account_ids.items);
    free(s->disposable.items);
    free(s->sessions.items);
    free(s->collections.items);
    free(s->members.items);
    free(s->member_accounts.items);
    free(s->extras.items);
}

static bool snapshot_load(struct app *app, struct snapshot *s, struct error *e)
{
    memset(s, 0, sizeof *s);
    s->orgs.size = sizeof(struct org);
    s->org_ids.size = s->account_ids.size = s->member_accounts.size = s->disposable.size = ID_BUF;
    s->sessions.size = sizeof(struct session_link);
    s->collections.size = COLLECTION_BUF;
    s->members.size = sizeof(struct membership);
    s->extras.size = sizeof(struct extra);
    bool ok = store_org_each(app->store, push_org, s, e) &&
              store_account_each(app->store, push_account, s, e) &&
              store_collection_each_tenant(app->store, push_collection, s, e) &&
              store_membership_each(app->store, NULL, push_member, s, e) &&
              store_extras_each_org_id(app->store, push_extra, s, e) &&
              store_session_each(app->store, push_session, s, e);
    if (ok && (s->orgs.oom || s->org_ids.oom || s->account_ids.oom || s->collections.oom ||
               s->members.oom || s->member_accounts.oom || s->extras.oom || s->disposable.oom ||
               s->sessions.oom))
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    vec_sort(&s->org_ids);
    vec_sort(&s->account_ids);
    vec_sort(&s->collections);
    vec_sort(&s->member_accounts);
    return ok;
}

struct run {
    struct app *app;
    bool repair;
    check_report_fn report;
    void *ud;
    int problems;
};

static void found(void *run, const char *kind, bool repaired, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void found(void *run, const char *kind, bool repaired, const char *fmt, ...)
{
    struct run *r = run;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    r->problems++;
    if (r->report != NULL)
        r->report(kind, detail, repaired, r->ud);
    log_emit(repaired ? LOG_INFO : LOG_WARN, "check",
             json_pack("{s:s, s:s, s:b}", "problem", kind, "detail", detail, "repaired", repaired));
}

static const struct org *org_by_id(const struct snapshot *s, const char *id)
{
    const struct org *orgs = s->orgs.items;
    for (size_t i = 0; i < s->orgs.n; i++) {
        if (strcmp(orgs[i].id, id) == 0)
            return &orgs[i];
    }
    return NULL;
}

/* How many orgs claim `name` (as collection, or either end of an operation). */
static int claims(const struct snapshot *s, const char *name, const char **by)
{
    const struct org *orgs = s->orgs.items;
    int n = 0;
    for (size_t i = 0; i < s->orgs.n; i++) {
        const struct org *o = &orgs[i];
        if (strcmp(o->collection, name) == 0 || (o->has_op && o->state != ORG_ACTIVE &&
                                                 (strcmp(o->op.from_collection, name) == 0 ||
                                                  strcmp(o->op.to_collection, name) == 0))) {
            if (by != NULL && n == 0)
                *by = o->id;
            n++;
        }
    }
    return n;
}

static bool in_progress(const struct org *o, int64_t cutoff)
{
    return o->state != ORG_ACTIVE && o->op.touched_at >= cutoff;
}

static void check_orgs(struct run *r, const struct snapshot *s, int64_t cutoff)
{
    const struct org *orgs = s->orgs.items;
    for (size_t i = 0; i < s->orgs.n; i++) {
        const struct org *o = &orgs[i];
        struct error e = ERROR_INIT;
        if (o->state != ORG_ACTIVE) {
            if (o->op.touched_at >= cutoff)
                continue; /* in progress */
            bool done = false, fixed = false;
            enum recovery_action action;
            if (r->repair)
                fixed = recovery_one(r->app, o, &done, &action, &e) && done;
            char when[CLOCK_TEXT_BUF];
            clock_rfc3339(o->op.touched_at, when);
            found(r, "stuck_operation", fixed, "org %s (%s) stuck in state %s since %s", o->id,
                  o->name, org_state_name(o->state), when);
            continue;
        }
        char expected[COLLECTION_BUF];
        names_collection(o->name_key, expected);
        bool has_expected = vec_has(&s->collections, expected);
        if (strcmp(o->collection, expected) != 0) {
            bool fixed = false;
            if (r->repair) {
                /* move the recorded collection if it is only ours, else point at our own */
                const char *by = NULL;
                bool move = !has_expected && vec_has(&s->collections, o->collection) &&
                            claims(s, o->collection, &by) == 1;
                struct org next = *o;
                snprintf(next.collection, sizeof next.collection, "%s", expected);
                bool applied = false;
                fixed = (move ? store_collection_rename(r->app->store, o->collection, expected, &e)
                              : true) &&
                        store_org_swap(r->app->store, o, &next, &applied, &e) && applied;
                if (fixed && !move && !has_expected)
                    fixed = store_collection_create(r->app->store, expected, &e);
                has_expected = fixed || has_expected;
            }
            found(r, "wrong_collection", fixed, "org %s (%s) records collection %s instead of %s",
                  o->id, o->name, o->collection, expected);
            continue;
        }
        if (!has_expected) {
            bool fixed = r->repair && store_collection_create(r->app->store, expected, &e);
            found(r, "missing_collection", fixed, "org %s (%s) has no collection %s", o->id,
                  o->name, expected);
        }
        const char *by = NULL;
        if (claims(s, o->collection, &by) > 1 && strcmp(by, o->id) == 0) {
            /* reported once, by the first claimant; the others show up as
             * wrong_collection unless their key matches, which the unique
             * index rules out */
            found(r, "shared_collection", false, "collection %s is claimed by more than one org",
                  o->collection);
        }
    }
}

static void check_collections(struct run *r, const struct snapshot *s)
{
    const char(*names)[COLLECTION_BUF] = s->collections.items;
    for (size_t i = 0; i < s->collections.n; i++) {
        if (claims(s, names[i], NULL) > 0)
            continue;
        bool fixed = false;
        char moved[128];
        snprintf(moved, sizeof moved, "orphaned_%" PRId64 "_%s", clock_now_ms() / 1000,
                 names[i] + 4);
        if (r->repair) {
            /* a create that began after the snapshot read the orgs may own it
             * by now: ask again right before moving anything */
            struct error e = ERROR_INIT;
            bool claimed = true;
            if (!store_org_claiming(r->app->store, names[i], "", &claimed, &e) || claimed)
                continue;
            fixed = store_collection_rename(r->app->store, names[i], moved, &e);
        }
        found(r, "orphan_collection", fixed, "collection %s belongs to no org%s%s", names[i],
              fixed ? "; renamed to " : "", fixed ? moved : "");
    }
}

static void check_links(struct run *r, const struct snapshot *s, int64_t cutoff)
{
    const struct membership *ms = s->members.items;
    for (size_t i = 0; i < s->members.n; i++) {
        const struct membership *m = &ms[i];
        const struct org *o = org_by_id(s, m->org_id);
        if (o != NULL && in_progress(o, cutoff))
            continue;
        bool no_org = o == NULL, no_account = !vec_has(&s->account_ids, m->account_id);
        if (!no_org && !no_account)
            continue;
        struct error e = ERROR_INIT;
        bool fixed =
            r->repair && store_membership_delete(r->app->store, m->account_id, m->org_id, &e);
        if (no_org)
            found(r, "membership_without_org", fixed,
                  "membership of account %s points at missing org %s", m->account_id, m->org_id);
        else
            found(r, "membership_without_admin", fixed,
                  "membership in org %s points at missing account %s", m->org_id, m->account_id);
    }

    const struct extra *xs = s->extras.items;
    for (size_t i = 0; i < s->extras.n; i++) {
        struct error e = ERROR_INIT;
        struct org o;
        bool exists = true;
        /* the org may have been created after the snapshot read the orgs */
        if (vec_has(&s->org_ids, xs[i].org_id) ||
            !store_org_by_id(r->app->store, xs[i].org_id, &o, &exists, &e) || exists)
            continue;
        bool fixed = r->repair && store_org_extras_delete(r->app->store, xs[i].org_id, &e);
        found(r,
              strcmp(xs[i].collection, "sessions") == 0 ? "session_without_org"
                                                        : "invitation_without_org",
              fixed, "a document in %s points at missing org %s", xs[i].collection,
              xs[i].org_id[0] ? xs[i].org_id : "(none)");
    }

    const struct session_link *xs2 = s->sessions.items;
    for (size_t i = 0; i < s->sessions.n; i++) {
        struct error e = ERROR_INIT;
        struct account a;
        bool exists = true;
        /* the account may have signed up after the snapshot read the accounts */
        if (vec_has(&s->account_ids, xs2[i].account_id) ||
            !store_account_by_id(r->app->store, xs2[i].account_id, &a, &exists, &e) || exists)
            continue;
        bool fixed = r->repair && store_session_delete(r->app->store, xs2[i].id, &e);
        found(r, "session_without_account", fixed, "session %s belongs to missing account %s",
              xs2[i].id, xs2[i].account_id[0] ? xs2[i].account_id : "(none)");
    }

    /* only accounts made by /org/create must belong to an org */
    const char(*admins)[ID_BUF] = s->disposable.items;
    const struct org *orgs = s->orgs.items;
    for (size_t i = 0; i < s->disposable.n; i++) {
        if (vec_has(&s->member_accounts, admins[i]))
            continue;
        bool owner_in_progress = false;
        for (size_t j = 0; j < s->orgs.n && !owner_in_progress; j++)
            owner_in_progress =
                strcmp(orgs[j].owner_id, admins[i]) == 0 && orgs[j].state != ORG_ACTIVE;
        if (owner_in_progress)
            continue; /* a create or delete in progress (or stuck: reported above) */
        struct error e = ERROR_INIT;
        bool deleted = false;
        bool fixed =
            r->repair &&
            store_account_delete_if_unattached(r->app->store, admins[i], NULL, &deleted, &e) &&
            deleted;
        found(r, "admin_without_membership", fixed, "admin %s belongs to no org", admins[i]);
    }
}

/* Member removals a crash left half done. */
static bool check_removals(struct run *r, int64_t cutoff, struct error *e)
{
    struct membership stuck[32];
    size_t n = 0;
    if (!store_memberships_removing(r->app->store, cutoff, stuck, 32, &n, e))
        return false;
    int done = 0;
    if (n > 0 && r->repair && !members_recover(r->app, cutoff, &done, e))
        return false;
    for (size_t i = 0; i < n; i++)
        found(r, "stuck_removal", r->repair && (size_t)done == n,
              "removal of account %s from org %s left half done", stuck[i].account_id,
              stuck[i].org_id);
    return true;
}

/* Invitations a crash left between pending and accepted. */
static bool check_invitations(struct run *r, int64_t cutoff, struct error *e)
{
    struct invitation *stuck = calloc(INVITATIONS_STUCK_BATCH, sizeof *stuck);
    if (stuck == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    size_t n = 0;
    int done = 0;
    bool ok =
        store_invitations_stuck(r->app->store, cutoff, stuck, INVITATIONS_STUCK_BATCH, &n, e) &&
        (n == 0 || !r->repair || invitations_recover(r->app, cutoff, &done, e));
    for (size_t i = 0; ok && i < n; i++)
        found(r, "stuck_invitation", r->repair && (size_t)done == n,
              "invitation %s to org %s left half accepted", stuck[i].id, stuck[i].org_id);
    free(stuck);
    return ok;
}

bool check_run(struct app *app, bool repair, int64_t age_ms, check_report_fn report, void *ud,
               int *problems, struct error *e)
{
    *problems = 0;
    struct run r = {app, repair, report, ud, 0};
    int64_t cutoff = clock_now_ms() - age_ms;
    /* first, so that the stuck operations they hold can be recovered below */
    int64_t stale = 0;
    if (!store_locks_stale(app->store, cutoff, repair, &stale, e))
        return false;
    if (stale > 0)
        found(&r, "stale_lock", repair,
              "%" PRId64 " org lock(s) left by a process that died mid-write; each freezes "
              "its org (409) until removed",
              stale);
    if (!check_invitations(&r, cutoff, e) || !check_removals(&r, cutoff, e))
        return false;
    struct snapshot s;
    if (!snapshot_load(app, &s, e)) {
        snapshot_free(&s);
        *problems = r.problems;
        return false;
    }
    check_orgs(&r, &s, cutoff);
    if (repair && r.problems > 0) {
        /* the org repairs moved collections and links: judge the rest on
         * what is there now, or an org's own collection, which its
         * document pointed away from before the repair, would look orphaned */
        snapshot_free(&s);
        if (!snapshot_load(app, &s, e)) {
            snapshot_free(&s);
            *problems = r.problems;
            return false;
        }
    }
    check_collections(&r, &s);
    check_links(&r, &s, cutoff);
    const struct check_events_input events = {
        .app = app,
        .repair = repair,
        .cutoff = cutoff,
        .orgs = s.orgs.items,
        .norgs = s.orgs.n,
        .members = s.members.items,
        .nmembers = s.members.n,
        .run = &r,
        .found = found,
    };
    bool ok = check_events(&events, e);
    snapshot_free(&s);
    *problems = r.problems;
    return ok;
}
