#include "import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faults.h"
#include "log.h"
#include "names.h"
#include "password.h"
#include "util.h"

/* What one run knows of the source. */
struct source {
    struct source_account *accounts;
    size_t naccounts, cap_accounts;
    struct source_org *orgs;
    size_t norgs, cap_orgs;
    bool oom;
};

struct run {
    struct app *app;
    store_source_t *src;
    bool dry_run;
    import_say_fn say;
    void *ud;
    struct import_report *report;
};

static void say(struct run *r, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct run *r, const char *kind, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (r->say != NULL)
        r->say(kind, detail, r->ud);
}

static bool keep_account(const struct source_account *a, void *ud)
{
    struct source *s = ud;
    if (!array_reserve((void **)&s->accounts, &s->cap_accounts, s->naccounts, sizeof *a))
        return !(s->oom = true);
    s->accounts[s->naccounts++] = *a;
    return true;
}

static bool keep_org(const struct source_org *o, void *ud)
{
    struct source *s = ud;
    if (!array_reserve((void **)&s->orgs, &s->cap_orgs, s->norgs, sizeof *o))
        return !(s->oom = true);
    s->orgs[s->norgs++] = *o;
    return true;
}

static void source_free(struct source *s)
{
    for (size_t i = 0; i < s->naccounts; i++)
        explicit_bzero(s->accounts[i].password_hash, sizeof s->accounts[i].password_hash);
    free(s->accounts);
    free(s->orgs);
}

/* ---- what can be imported, decided before anything is written ---- */

/* Each account's e-mail as orgd keeps it, "" for one left out (said why). */
static void check_accounts(struct run *r, struct source *s, char (*keys)[EMAIL_BUF])
{
    for (size_t i = 0; i < s->naccounts; i++) {
        const struct source_account *a = &s->accounts[i];
        struct error e = ERROR_INIT;
        keys[i][0] = '\0';
        if (!names_email_valid(a->email, strlen(a->email), "email", &e)) {
            say(r, "left out", "admin %s: its e-mail \"%s\" %s", a->source_id, a->email,
                e.nfields > 0 ? e.fields[0].message : "is not valid");
            continue;
        }
        if (!password_is_bcrypt(a->password_hash) &&
            strncmp(a->password_hash, "$argon2id$", 10) != 0) {
            say(r, "left out", "admin %s (%s): its password hash is of a kind orgd cannot check",
                a->source_id, a->email);
            continue;
        }
        names_email_key(a->email, keys[i]);
    }
    /* two e-mails that differ only in case are one account to orgd: whose
     * is it? Neither, until a person decides */
    for (size_t i = 0; i < s->naccounts; i++) {
        for (size_t k = i + 1; keys[i][0] != '\0' && k < s->naccounts; k++) {
            if (strcmp(keys[i], keys[k]) != 0)
                continue;
            say(r, "left out",
                "admins %s and %s: their e-mails \"%s\" and \"%s\" differ only in case",
                s->accounts[i].source_id, s->accounts[k].source_id, s->accounts[i].email,
                s->accounts[k].email);
            keys[k][0] = '\0';
            keys[i][0] = '\0';
        }
    }
}

/* The org's admin among the accounts that can be imported, or -1. */
static long admin_of(const struct source *s, char (*keys)[EMAIL_BUF], const struct source_org *o)
{
    for (size_t i = 0; i < s->naccounts; i++)
        if (strcmp(s->accounts[i].id, o->admin_id) == 0)
            return keys[i][0] != '\0' ? (long)i : -1;
    return -1;
}

/* Whether each org can be imported (said why not). */
static void check_orgs(struct run *r, struct source *s, char (*keys)[EMAIL_BUF], bool *ok)
{
    for (size_t i = 0; i < s->norgs; i++) {
        const struct source_org *o = &s->orgs[i];
        struct error e = ERROR_INIT;
        ok[i] = false;
        if (!names_org_valid(o->name, strlen(o->name), "organization_name", &e))
            say(r, "left out", "organization %s: its name \"%s\" %s", o->source_id, o->name,
                e.nfields > 0 ? e.fields[0].message : "is not valid");
        else if (admin_of(s, keys, o) < 0)
            say(r, "left out", "organization %s (%s): its admin %s is missing or left out",
                o->source_id, o->name, o->admin_id);
        else
            ok[i] = true;
    }
    for (size_t i = 0; i < s->norgs; i++) {
        for (size_t k = i + 1; ok[i] && k < s->norgs; k++) {
            if (!ok[k] || strcasecmp(s->orgs[i].name, s->orgs[k].name) != 0)
                continue;
            say(r, "left out",
                "organizations %s and %s: their names \"%s\" and \"%s\" differ only in case, "
                "and would share one collection",
                s->orgs[i].source_id, s->orgs[k].source_id, s->orgs[i].name, s->orgs[k].name);
            ok[i] = ok[k] = false;
        }
    }
}

/* ---- the steps of one org ---- */

/* The admin's account: there already (an earlier run), inserted, or (an
 * e-mail or id orgd holds for someone else) left out. */
static bool step_account(struct run *r, const struct source_account *sa, const char *email_key,
                         bool *usable, struct error *e)
{
    store_t *st = r->app->store;
    struct account a;
    bool found = false;
    *usable = false;
    if (!store_account_by_id(st, sa->id, &a, &found, e))
        return false;
    if (found) {
        *usable = strcmp(a.email, email_key) == 0;
        if (!*usable)
            say(r, "left out", "admin %s: orgd has another account with its id", sa->source_id);
        return true;
    }
    if (!store_account_by_email(st, email_key, &a, &found, e))
        return false;
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (found) {
        say(r, "left out", "admin %s: orgd has an account with its e-mail %s already",
            sa->source_id, email_key);
        return true;
    }
    *usable = true;
    if (r->dry_run) {
        r->report->accounts_imported++;
        return true;
    }
    struct account fresh = {.origin = ORIGIN_ORG_CREATE, .version = 1};
    memcpy(fresh.id, sa->id, ID_BUF);
    memcpy(fresh.email, email_key, EMAIL_BUF);
    memcpy(fresh.password_hash, sa->password_hash, PASSWORD_HASH_BUF);
    fresh.created_at = sa->created_at > 0 ? sa->created_at : clock_now_ms();
    bool ok = store_account_insert(st, &fresh, NULL, e);
    explicit_bzero(fresh.password_hash, sizeof fresh.password_hash);
    if (ok)
        r->report->accounts_imported++;
    else if (e->kind == ERR_CONFLICT) /* the same, by a run beside this one */
        return store_account_by_id(st, sa->id, &a, usable, e);
    return ok;
}

/* The marker that says the org's collection is this import's to copy
 * into: inserted once; a collection orgd holds without one is not. */
static bool step_marker(struct run *r, const struct source_org *so, const char *collection,
                        bool *ours, struct error *e)
{
    bool marked = false, exists = false;
    if (!store_import_marked(r->app->store, so->id, &marked, e) ||
        !store_collection_exists(r->app->store, collection, &exists, e))
        return false;
    *ours = marked || !exists;
    if (!*ours) {
        say(r, "left out", "organization %s (%s): orgd holds a collection %s that no import began",
            so->source_id, so->name, collection);
        return true;
    }
    return r->dry_run || marked || store_import_mark(r->app->store, so->id, so->source_id, e);
}

static bool import_org(struct run *r, const struct source_org *so,
                       const struct source_account *admin, const char *email_key, struct error *e)
{
    store_t *st = r->app->store;
    struct org o;
    char key[NAME_BUF], collection[COLLECTION_BUF];
    bool found = false, usable = false, ours = false;
    if (!store_org_by_id(st, so->id, &o, &found, e))
        return false;
    if (found) { /* the org document comes last: it is all done */
        r->report->orgs_already++;
        say(r, "already", "organization %s (%s) as %s", so->source_id, so->name, o.id);
        return true;
    }
    names_org_key(so->name, key);
    names_collection(key, collection);
    if (!store_org_by_key(st, key, &o, &found, e))
        return false;
    if (found) {
        r->report->orgs_left_out++;
        say(r, "left out", "organization %s: orgd has an organization named %s already",
            so->source_id, so->name);
        return true;
    }
    if (!step_account(r, admin, email_key, &usable, e))
        return false;
    if (!usable) {
        r->report->orgs_left_out++;
        return true;
    }
    FAULT("import.after_account");
    struct membership m = {.role = ROLE_OWNER, .member_at = clock_now_ms()};
    memcpy(m.account_id, admin->id, ID_BUF);
    memcpy(m.org_id, so->id, ID_BUF);
    if (!r->dry_run && !store_membership_insert(st, &m, NULL, e)) {
        if (e->kind != ERR_CONFLICT) /* a conflict: an earlier run made it */
            return false;
        error_clear(e);
    }
    FAULT("import.after_membership");
    if (!step_marker(r, so, collection, &ours, e))
        return false;
    if (!ours) {
        r->report->orgs_left_out++;
        return true;
    }
    const char *from = so->collection[0] != '\0' ? so->collection : collection;
    int64_t copied = 0, total = 0;
    if (r->dry_run) {
        if (!store_source_count(r->src, from, &total, e))
            return false;
    } else if (!store_source_copy(r->src, st, from, collection, &copied, &total, e)) {
        return false;
    }
    FAULT("import.after_collection");
    r->report->documents_copied += r->dry_run ? total : copied;
    struct org fresh = {.state = ORG_ACTIVE, .version = 1};
    memcpy(fresh.id, so->id, ID_BUF);
    snprintf(fresh.name, sizeof fresh.name, "%.*s", NAME_MAX_LEN, so->name); /* checked: it fits */
    snprintf(fresh.display_name, sizeof fresh.display_name, "%s", so->name);
    memcpy(fresh.name_key, key, NAME_BUF);
    memcpy(fresh.collection, collection, COLLECTION_BUF);
    memcpy(fresh.owner_id, admin->id, ID_BUF);
    memcpy(fresh.owner_email, email_key, EMAIL_BUF);
    fresh.created_at = so->created_at > 0 ? so->created_at : clock_now_ms();
    fresh.updated_at = clock_now_ms();
    if (!r->dry_run && !store_org_insert(st, &fresh, NULL, e)) {
        if (e->kind != ERR_CONFLICT)
            return false;
        /* the same id (a run beside this one), or the name taken meanwhile */
        error_clear(e);
        r->report->orgs_left_out++;
        say(r, "left out", "organization %s: its name %s was taken during the import",
            so->source_id, so->name);
        return true;
    }
    FAULT("import.after_org");
    r->report->orgs_imported++;
    say(r, r->dry_run ? "would import" : "imported",
        "organization %s (%s) as %s, collection %s from %s (%lld documents), admin %s",
        so->source_id, so->name, so->id, collection, from, (long long)total, email_key);
    return true;
}

bool import_run(struct app *app, const char *source_uri, const char *source_db, bool dry_run,
                import_say_fn say_fn, void *ud, struct import_report *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct run r = {app, NULL, dry_run, say_fn, ud, out};
    if (strcmp(source_db, app->cfg->master_db) == 0 && strcmp(source_uri, app->cfg->mongo_uri) == 0)
        return error_set(e, ERR_INVALID,
                         "the source is orgd's own database (MASTER_DB): the original's "
                         "collections and orgd's have the same names; import from another one");
    r.src = store_source_open(source_uri, source_db, e);
    if (r.src == NULL)
        return false;
    struct source s = {0};
    bool ok = store_ensure_indexes(app->store, e) &&
              store_source_accounts(r.src, keep_account, &s, e) &&
              store_source_orgs(r.src, keep_org, &s, e);
    if (ok && s.oom)
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    char(*keys)[EMAIL_BUF] = ok ? calloc(s.naccounts ? s.naccounts : 1, EMAIL_BUF) : NULL;
    bool *importable = ok ? calloc(s.norgs ? s.norgs : 1, sizeof *importable) : NULL;
    if (ok && (keys == NULL || importable == NULL))
        ok = error_set(e, ERR_INTERNAL, "out of memory");
    if (ok) {
        check_accounts(&r, &s, keys);
        check_orgs(&r, &s, keys, importable);
    }
    for (size_t i = 0; ok && i < s.norgs; i++) {
        if (!importable[i]) {
            out->orgs_left_out++;
            continue;
        }
        long a = admin_of(&s, keys, &s.orgs[i]);
        ok = import_org(&r, &s.orgs[i], &s.accounts[a], keys[a], e);
    }
    for (size_t i = 0; ok && i < s.naccounts; i++)
        out->accounts_left_out += keys[i][0] == '\0';
    free(keys);
    free(importable);
    source_free(&s);
    store_source_close(r.src);
    return ok;
}
