/* check_events.c — `orgd check` on the audit log: every chain verifies
 * (its first broken seq is named; --repair never rewrites history), every
 * draft old enough is in the log (--repair appends it), and the log agrees
 * with the data: an org's last name is the one its events say, an org
 * that is gone has its org.deleted, a membership's role is its last
 * event's and a member whose event says removed is gone. Orgs made before
 * the log existed (no chain) are not judged. */
#include "check_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "util.h"

/* What an org's chain says, as it is read (events come chain by chain). */
struct chain_facts {
    char org_id[ID_BUF];
    char name[NAME_BUF];
    bool created, deleted, broken;
    struct event_row prev; /* the previous event, its canonical text owned */
    bool has_prev;
    /* members: the last event of each account */
    struct member_fact {
        char account_id[ID_BUF];
        char role[16]; /* "" = removed */
    } * members;
    size_t nmembers, cap_members;
};

struct walk {
    const struct check_events_input *in;
    struct chain_facts c;
    char chain[EVENT_CHAIN_BUF];
    bool failed;
};

static void facts_reset(struct chain_facts *c)
{
    free(c->prev.canonical);
    free(c->members);
    memset(c, 0, sizeof *c);
}

static struct member_fact *member_fact(struct chain_facts *c, const char *account_id)
{
    for (size_t i = 0; i < c->nmembers; i++) {
        if (strcmp(c->members[i].account_id, account_id) == 0)
            return &c->members[i];
    }
    if (!array_reserve((void **)&c->members, &c->cap_members, c->nmembers, sizeof *c->members))
        return NULL;
    struct member_fact *f = &c->members[c->nmembers++];
    memset(f, 0, sizeof *f);
    snprintf(f->account_id, sizeof f->account_id, "%s", account_id);
    return f;
}

/* changes.<field>[1] of an event, or NULL. */
static const char *after(json_t *v, const char *field)
{
    return json_string_value(
        json_array_get(json_object_get(json_object_get(v, "changes"), field), 1));
}

static void learn(struct chain_facts *c, const struct event_row *r)
{
    json_t *v = json_loads(r->canonical, 0, NULL);
    const char *target = json_string_value(json_object_get(json_object_get(v, "target"), "id"));
    const char *a = r->action;
    if (strcmp(a, "org.created") == 0 || strcmp(a, "org.renamed") == 0) {
        if (after(v, "name") != NULL)
            snprintf(c->name, sizeof c->name, "%s", after(v, "name"));
        c->created = c->created || strcmp(a, "org.created") == 0;
        c->deleted = false;
        const char *owner = after(v, "owner_id");
        struct member_fact *f = owner ? member_fact(c, owner) : NULL;
        if (f != NULL)
            snprintf(f->role, sizeof f->role, "owner");
    } else if (strcmp(a, "org.deleted") == 0) {
        c->deleted = true;
    } else if (target != NULL &&
               (strcmp(a, "member.added") == 0 || strcmp(a, "member.role_changed") == 0)) {
        struct member_fact *f = member_fact(c, target);
        if (f != NULL && after(v, "role") != NULL)
            snprintf(f->role, sizeof f->role, "%s", after(v, "role"));
    } else if (target != NULL &&
               (strcmp(a, "member.removed") == 0 || strcmp(a, "member.left") == 0)) {
        struct member_fact *f = member_fact(c, target);
        if (f != NULL)
            f->role[0] = '\0';
    }
    json_decref(v);
}

static const struct org *org_of(const struct check_events_input *in, const char *id)
{
    for (size_t i = 0; i < in->norgs; i++) {
        if (strcmp(in->orgs[i].id, id) == 0)
            return &in->orgs[i];
    }
    return NULL;
}

static const struct membership *membership_of(const struct check_events_input *in,
                                              const char *org_id, const char *account_id)
{
    for (size_t i = 0; i < in->nmembers; i++) {
        const struct membership *m = &in->members[i];
        if (strcmp(m->org_id, org_id) == 0 && strcmp(m->account_id, account_id) == 0)
            return m;
    }
    return NULL;
}

/* At a chain's end: what it says against what is there. */
static void judge(struct walk *w)
{
    const struct check_events_input *in = w->in;
    struct chain_facts *c = &w->c;
    if (c->org_id[0] == '\0' || c->broken || !c->created)
        return;
    const struct org *o = org_of(in, c->org_id);
    bool settled = o == NULL || o->state == ORG_ACTIVE; /* one in progress is not judged */
    if (!settled)
        return;
    if (o == NULL && !c->deleted)
        in->found(in->run, "event_missing", false, "org %s is gone, and its log has no org.deleted",
                  c->org_id);
    if (o != NULL && c->deleted)
        in->found(in->run, "event_mismatch", false, "org %s is there, and its log says org.deleted",
                  c->org_id);
    if (o != NULL && c->name[0] != '\0' && strcmp(o->name, c->name) != 0)
        in->found(in->run, "event_mismatch", false, "org %s is named %s, and its log says %s",
                  c->org_id, o->name, c->name);
    for (size_t i = 0; o != NULL && i < c->nmembers; i++) {
        const struct member_fact *f = &c->members[i];
        const struct membership *m = membership_of(in, c->org_id, f->account_id);
        if (m != NULL && m->removing_at != 0)
            continue; /* a removal in progress */
        if (f->role[0] == '\0' && m != NULL)
            in->found(in->run, "event_mismatch", false,
                      "account %s is a member of org %s, and the log says it left or was removed",
                      f->account_id, c->org_id);
        else if (f->role[0] != '\0' && m == NULL)
            in->found(in->run, "event_missing", false,
                      "account %s is no member of org %s, and the log has no removal",
                      f->account_id, c->org_id);
        else if (m != NULL && strcmp(role_name(m->role), f->role) != 0)
            in->found(in->run, "event_mismatch", false,
                      "account %s is %s in org %s, and the log says %s", f->account_id,
                      role_name(m->role), c->org_id, f->role);
    }
    /* and every member came in by an event: the create (its owner) or an accept */
    for (size_t i = 0; o != NULL && i < in->nmembers; i++) {
        const struct membership *m = &in->members[i];
        bool known = false;
        for (size_t k = 0; !known && k < c->nmembers; k++)
            known = strcmp(c->members[k].account_id, m->account_id) == 0;
        if (strcmp(m->org_id, c->org_id) == 0 && !known)
            in->found(in->run, "event_missing", false,
                      "account %s is a member of org %s, and the log never added it", m->account_id,
                      c->org_id);
    }
}

static bool visit(const struct event_row *r, void *ud)
{
    struct walk *w = ud;
    struct chain_facts *c = &w->c;
    if (strcmp(r->chain, w->chain) != 0) {
        judge(w);
        facts_reset(c);
        snprintf(w->chain, sizeof w->chain, "%s", r->chain);
        if (strncmp(r->chain, "org:", 4) == 0)
            snprintf(c->org_id, sizeof c->org_id, "%s", r->chain + 4);
    }
    if (c->broken)
        return true; /* one report per chain: its first broken seq */
    char why[160];
    if (!event_verify(r, c->has_prev ? &c->prev : NULL, why, sizeof why)) {
        c->broken = true;
        w->in->found(w->in->run, "broken_chain", false, "chain %s: %s", r->chain, why);
        return true;
    }
    learn(c, r);
    free(c->prev.canonical);
    c->prev = *r;
    c->prev.canonical = r->canonical ? strdup(r->canonical) : NULL;
    c->has_prev = true;
    return true;
}

/* Drafts old enough that are not in the log. */
struct drafts {
    const struct check_events_input *in;
    char ids[64][ID_BUF];
    char chains[64][EVENT_CHAIN_BUF];
    size_t n;
    int missing;
    struct error *e;
    bool failed;
};

static bool flush_drafts(struct drafts *d)
{
    bool exists[64];
    if (!store_events_exist(d->in->app->store, (const char(*)[ID_BUF])d->ids, d->n, exists, d->e))
        return false;
    for (size_t i = 0; i < d->n; i++) {
        if (!exists[i]) {
            d->missing++;
            d->in->found(d->in->run, "unappended_event", d->in->repair,
                         "event %s of chain %s is a draft in its document, not in the log",
                         d->ids[i], d->chains[i]);
        }
    }
    d->n = 0;
    return true;
}

static bool take_draft(const char *id, const char *chain, int64_t at, const char *draft, void *ud)
{
    (void)at;
    (void)draft;
    struct drafts *d = ud;
    snprintf(d->ids[d->n], ID_BUF, "%s", id);
    snprintf(d->chains[d->n], EVENT_CHAIN_BUF, "%s", chain);
    if (++d->n == 64 && !flush_drafts(d))
        return !(d->failed = true);
    return true;
}

bool check_events(const struct check_events_input *in, struct error *e)
{
    struct drafts d = {.in = in, .e = e};
    if (!store_pending_each(in->app->store, 0, in->cutoff, take_draft, &d, e) || d.failed ||
        !flush_drafts(&d))
        return false;
    if (in->repair && d.missing > 0) {
        int appended = 0;
        if (!events_recover(in->app, 0, in->cutoff, &appended, e))
            return false;
    }
    struct walk w = {.in = in};
    bool ok = store_events_each(in->app->store, NULL, NULL, visit, &w, e);
    if (ok)
        judge(&w);
    facts_reset(&w.c);
    return ok;
}
