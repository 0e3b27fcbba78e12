/* The audit log (issue 22) through crashes: orgd-faults killed at every
 * fault point of every operation, then a normal orgd recovering, leaves
 * the event of an operation that completed once and that of an undone one
 * never; drafts a dead process left are appended once, first by the next
 * write of their document if it comes before recovery. After each, `orgd
 * check` is clean, every chain verifies in Python and no event holds a
 * secret. Each case has its own database and orgd, none the shared one.
 * What each operation writes: test_events.c; the chains, listing and
 * check: test_events_chain.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_events.h"
#include "testutil.h"

/* ---- the log as stored (collection `events`), read with libmongoc ---- */

/* Polls (up to timeout_ms) until the count of db_count_events is `want`;
 * returns the last count. */
static size_t wait_events(const struct th_orgd *o, const char *chain, const char *action,
                          const char *needle, size_t want, int timeout_ms)
{
    size_t n = db_count_events(o, chain, action, needle);
    for (int waited = 0; n != want && waited < timeout_ms; waited += 100) {
        tu_sleep_ms(100);
        n = db_count_events(o, chain, action, needle);
    }
    return n;
}

static void chain_of_account(const char *account_id, char *out, size_t cap)
{
    snprintf(out, cap, "account:%s", account_id);
}

/* ---- crashes at every fault point ---- */

/* Recovery at once and every second. Age 1 s, not 0, so that a recovery
 * pass never takes a live request's step for a crashed one. */
static const char *const FAST_RECOVERY[] = {"RECOVERY_AGE_SECONDS=1", "RECOVERY_INTERVAL_SECONDS=1",
                                            NULL};

/* A crash case's world: its own database, a normal orgd, and orgd-faults
 * on the same database for the one request that dies. */
struct crash {
    struct th_orgd o;
    struct th_orgd crashy;
    struct th_account owner; /* account-first: an owner, and their org */
    char id[32];
    char name[64];
    char org_path[128];
    char slug[64];  /* account-first: the org's slug */
    char coll[96];  /* and its collection */
    char chain[64]; /* the org's */
    struct th_tenant t;
};

/* The running case's world: static, so that the teardown can stop its
 * orgd processes when a failed assertion jumped out of the case. */
static struct crash crash;

static int crash_teardown(void **state)
{
    (void)state;
    if (crash.crashy.pid > 0)
        th_orgd_stop(&crash.crashy);
    if (crash.o.pid > 0)
        th_orgd_stop(&crash.o);
    th_tenant_free(&crash.t);
    return 0;
}

enum world { NOTHING, ACCOUNT_FIRST_ORG, ORG_FIRST_TENANT, ACCOUNT_ONLY };

static struct crash *crash_world(enum world kind)
{
    struct crash *w = &crash;
    memset(w, 0, sizeof *w);
    th_orgd_init(&w->o, NULL);
    assert_true(th_orgd_start(&w->o, NULL));
    if (kind == ACCOUNT_FIRST_ORG || kind == ACCOUNT_ONLY)
        th_account_new(&w->o, "owner", &w->owner);
    if (kind == ACCOUNT_FIRST_ORG) {
        th_org_new(&w->o, w->owner.t.access, "Crash", w->id, w->name);
        snprintf(w->org_path, sizeof w->org_path, "/organization/%s", w->id);
        json_t *j = th_expect_json(&w->o, "PUT", w->org_path, w->owner.t.access,
                                   json_pack("{s:s}", "description", "before"), 200);
        snprintf(w->slug, sizeof w->slug, "%s", th_json_str(j, "slug"));
        snprintf(w->coll, sizeof w->coll, "%s", th_json_str(j, "collection_name"));
        json_decref(j);
    }
    if (kind == ORG_FIRST_TENANT) {
        th_tenant_new(&w->o, &w->t, "Crash");
        snprintf(w->id, sizeof w->id, "%s", w->t.id);
        snprintf(w->name, sizeof w->name, "%s", w->t.name);
    }
    if (w->id[0] != '\0')
        chain_of_org(w->id, w->chain, sizeof w->chain);
    return w;
}

/* Stops the normal orgd, runs orgd-faults armed at `point` on the same
 * database, sends the request (body taken), and expects the process to
 * die there; then the normal orgd again, recovering promptly. */
static void crash_and_recover(struct crash *w, const char *point, const char *method,
                              const char *path, const char *token, json_t *body)
{
    stop_orgd(&w->o);
    struct th_orgd *crashy = &w->crashy;
    *crashy = w->o;
    crashy->binary = th_orgd_faults_bin();
    char arm[96];
    snprintf(arm, sizeof arm, "FAULT_POINT=%s", point);
    const char *env[] = {arm, NULL};
    assert_true(th_orgd_start(crashy, env));
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct th_resp r;
    if (th_http_json(crashy, method, path, token, text, &r))
        fail_msg("%s: %s %s answered %ld instead of dying", point, method, path, r.status);
    th_resp_free(&r);
    free(text);
    assert_int_equal(th_orgd_wait(crashy, 15000), 128 + 9); /* SIGKILL at the fault point */
    if (!th_orgd_log_contains(crashy, point))
        fail_msg("orgd-faults died, but not at %s", point);
    assert_true(th_orgd_start(&w->o, FAST_RECOVERY));
}

static int64_t orgs_not_active(const struct th_orgd *o)
{
    bson_t *f = BCON_NEW("state", "{", "$ne", BCON_UTF8("active"), "}");
    int64_t n = th_db_count(o, "organizations", f);
    bson_destroy(f);
    return n;
}

/* Waits until no org is mid-operation: recovery finished or undid it. */
static void wait_orgs_settled(const struct th_orgd *o, const char *point)
{
    for (int waited = 0; orgs_not_active(o) > 0 && waited < 20000; waited += 100)
        tu_sleep_ms(100);
    if (orgs_not_active(o) > 0)
        fail_msg("%s: an org is still mid-operation after 20 s", point);
}

/* Fails unless there are exactly `want` stored events of `action` (in
 * chain, if not NULL) naming `needle`, waiting up to a few seconds for
 * recovery to write what it writes (EVENTS_LAG_MS: drafts a dead process
 * left are appended once 5 s old). Returns them (caller decrefs). */
static json_t *expect_events_once(const struct th_orgd *o, const char *point, const char *chain,
                                  const char *action, const char *needle, size_t want)
{
    size_t got = wait_events(o, chain, action, needle, want, want > 0 ? 15000 : 0);
    if (got != want)
        fail_msg("%s: %zu %s events naming %s, expected %zu", point, got, action, needle, want);
    return db_events(o, chain, action, needle);
}

static void expect_count(const struct th_orgd *o, const char *point, const char *chain,
                         const char *action, const char *needle, size_t want)
{
    json_decref(expect_events_once(o, point, chain, action, needle, want));
}

/* The end of every crash case: nothing left for recovery (`orgd check` as
 * of now, RECOVERY_AGE_SECONDS=0: no operation in progress, no draft the
 * log lacks, the log agreeing with the data), every chain verifying in
 * Python, no secret in any event. */
static void crash_end(struct crash *w)
{
    char out[16384];
    const char *args[] = {"check", NULL}, *now[] = {"RECOVERY_AGE_SECONDS=0", NULL};
    int code = th_orgd_command(&w->o, args, now, out, sizeof out);
    if (code != 0 || strstr(out, "consistent") == NULL)
        fail_msg("orgd check after recovery exited %d:\n%s", code, out);
    th_expect_check_clean(&w->o);
    expect_every_chain_verifies(&w->o);
    expect_no_secret_in_events(&w->o, NULL);
    stop_orgd(&w->o);
}

/* POST /org/create, killed before it settled: recovery undoes it, so
 * neither its org nor its account has an event (and the log of the
 * bystander who signed up before holds just that sign-up). */
static void crash_org_first_create(const char *point)
{
    struct crash *w = crash_world(ACCOUNT_ONLY);
    char name[64], email[96];
    th_unique("Made", name, sizeof name);
    snprintf(email, sizeof email, "%s@example.com", name);
    th_lower(email);
    crash_and_recover(w, point, "POST", "/org/create", NULL,
                      json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email,
                                "password", TU_PASSWORD));
    wait_orgs_settled(&w->o, point);
    /* undone: the data says so */
    assert_int_equal(th_db_count(&w->o, "organizations", NULL), 0);
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", email), 0);
    expect_count(&w->o, point, NULL, NULL, name, 0);
    expect_count(&w->o, point, NULL, NULL, email, 0);
    expect_count(&w->o, point, NULL, NULL, NULL, 1);
    expect_count(&w->o, point, NULL, "account.created", w->owner.email, 1);
    crash_end(w);
}

/* POST /organization/, killed before it settled: undone, no event. */
static void crash_account_first_create(const char *point)
{
    struct crash *w = crash_world(ACCOUNT_ONLY);
    char name[64], mine[64];
    th_unique("Made", name, sizeof name);
    crash_and_recover(w, point, "POST", "/organization/", w->owner.t.access,
                      json_pack("{s:s, s:s}", "name", name, "description", "never"));
    wait_orgs_settled(&w->o, point);
    assert_int_equal(th_db_count(&w->o, "organizations", NULL), 0);
    expect_count(&w->o, point, NULL, NULL, name, 0);
    expect_count(&w->o, point, NULL, "org.created", NULL, 0);
    chain_of_account(w->owner.id, mine, sizeof mine);
    expect_count(&w->o, point, mine, NULL, NULL, 1); /* its sign-up */
    crash_end(w);
}

/* Drafts a dead process left in a document, met by the next write of
 * that document before recovery got to them: that write appends them
 * first (in their order), then its own, and recovery, coming later,
 * appends none of them again. The credentials of a rename killed at
 * rename.after_reserve are such drafts (their events are appended once
 * the rename is done); a password change right after the restart is the
 * next write of the account. */
static void the_next_write_appends_what_a_crash_left_first(void **state)
{
    (void)state;
    struct crash *w = crash_world(ORG_FIRST_TENANT);
    char new_name[64], new_email[96], account[64];
    th_unique("Renamed", new_name, sizeof new_name);
    th_fresh_email("moved", new_email, sizeof new_email);
    chain_of_account(w->t.admin_id, account, sizeof account);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t crashed_at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    crash_and_recover(w, "rename.after_reserve", "PUT", "/org/update", w->t.token,
                      json_pack("{s:s, s:s, s:s, s:s}", "organization_name", new_name, "email",
                                new_email, "password", "another horse battery", "current_password",
                                TU_PASSWORD));
    /* at once, before recovery's lag (5 s) is over */
    struct answer a;
    step(&w->o, "PUT", "/auth/password", w->t.token,
         json_pack("{s:s, s:s}", "current_password", "another horse battery", "new_password",
                   "a third horse battery"),
         204, &a);
    struct actor by;
    char sid[32];
    th_session_of(&w->o, w->t.token, sid, sizeof sid);
    actor_set(&by, w->t.admin_id, sid, a.request_id, LOCAL);
    answer_free(&a);
    /* the account's log as its owner reads it: created, then the crashed
     * request's two, then this request's one */
    json_t *all = events_of(&w->o, "/auth/events", w->t.token);
    if (json_array_size(all) != 4) {
        char *text = dump(all);
        fail_msg("the account's log holds %zu events, expected 4: %s", json_array_size(all), text);
    }
    assert_string_equal(th_json_str(json_array_get(all, 1), "action"), "account.email_changed");
    assert_string_equal(th_json_str(json_array_get(all, 2), "action"), "account.password_changed");
    expect_event(json_array_get(all, 3), "account.password_changed", NULL, "account", w->t.admin_id,
                 &by, json_object(), NULL);
    json_decref(all);
    /* a recovery pass that looked past the crash's drafts (the mark it
     * keeps in `marks` is past them) has appended nothing more */
    for (int waited = 0;; waited += 200) {
        int64_t mark = 0;
        mongoc_client_t *c = th_db_client(&w->o);
        mongoc_collection_t *coll = mongoc_client_get_collection(c, w->o.db, "marks");
        bson_t *f = BCON_NEW("_id", BCON_UTF8("events_recovered_until"));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, f, NULL, NULL);
        const bson_t *doc;
        bson_iter_t it;
        if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "at") &&
            BSON_ITER_HOLDS_DATE_TIME(&it))
            mark = bson_iter_date_time(&it);
        mongoc_cursor_destroy(cur);
        bson_destroy(f);
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(c);
        if (mark > crashed_at + 2000)
            break;
        if (waited > 20000)
            fail_msg("no recovery pass looked past the crash within 20 s");
        tu_sleep_ms(200);
    }
    wait_orgs_settled(&w->o, "rename.after_reserve");
    expect_count(&w->o, "rename.after_reserve", account, "account.email_changed", NULL, 1);
    expect_count(&w->o, "rename.after_reserve", account, "account.password_changed", NULL, 2);
    expect_count(&w->o, "rename.after_reserve", account, NULL, NULL, 4);
    expect_count(&w->o, "rename.after_reserve", w->chain, "org.renamed", new_name, 1);
    crash_end(w);
}

/* A rename (PUT /org/update) killed midway: recovery finishes it, and
 * writes its one org.renamed, as the system. */
static void crash_org_first_rename(const char *point)
{
    struct crash *w = crash_world(ORG_FIRST_TENANT);
    char new_name[64], key[64];
    th_unique("Renamed", new_name, sizeof new_name);
    snprintf(key, sizeof key, "%s", new_name);
    th_lower(key);
    crash_and_recover(w, point, "PUT", "/org/update", w->t.token,
                      json_pack("{s:s}", "new_organization_name", new_name));
    wait_orgs_settled(&w->o, point);
    assert_int_equal(th_db_count_str(&w->o, "organizations", "name_key", key), 1);
    json_t *evs = expect_events_once(&w->o, point, w->chain, "org.renamed", new_name, 1);
    char old_coll[96], new_coll[96];
    th_collection_of(w->name, old_coll, sizeof old_coll);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    expect_event(json_array_get(evs, 0), "org.renamed", w->id, "org", w->id, &RECOVERY,
                 json_pack("{s:o, s:o}", "name", pair(w->name, new_name), "collection",
                           pair(old_coll, new_coll)),
                 json_pack("{s:o}", "display_name", pair(w->name, new_name)));
    json_decref(evs);
    expect_count(&w->o, point, w->chain, NULL, NULL, 2);
    crash_end(w);
}

/* The original's update form, a new name with a new e-mail and password,
 * killed: before any write (update.after_checks) nothing happened and
 * nothing is logged; after the credentials and the name's reservation
 * (rename.after_reserve) both complete, so the rename's event (by
 * recovery) and the credentials' two (their drafts, appended by recovery)
 * are each logged once. */
static void crash_org_first_update_with_credentials(const char *point, bool completes)
{
    struct crash *w = crash_world(ORG_FIRST_TENANT);
    char new_name[64], key[64], new_email[96], account[64];
    th_unique("Renamed", new_name, sizeof new_name);
    snprintf(key, sizeof key, "%s", new_name);
    th_lower(key);
    th_fresh_email("moved", new_email, sizeof new_email);
    chain_of_account(w->t.admin_id, account, sizeof account);
    crash_and_recover(w, point, "PUT", "/org/update", w->t.token,
                      json_pack("{s:s, s:s, s:s, s:s}", "organization_name", new_name, "email",
                                new_email, "password", "another horse battery", "current_password",
                                TU_PASSWORD));
    wait_orgs_settled(&w->o, point);
    assert_int_equal(th_db_count_str(&w->o, "organizations", "name_key", key), completes ? 1 : 0);
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", new_email), completes ? 1 : 0);
    expect_count(&w->o, point, w->chain, "org.renamed", new_name, completes);
    expect_count(&w->o, point, account, "account.email_changed", new_email, completes);
    expect_count(&w->o, point, account, "account.password_changed", NULL, completes);
    if (completes) {
        json_t *evs = db_events(&w->o, account, "account.email_changed", NULL);
        const json_t *actor = json_object_get(json_array_get(evs, 0), "actor");
        assert_string_equal(th_json_str(actor, "account_id"), w->t.admin_id);
        json_decref(evs);
    }
    expect_count(&w->o, point, w->chain, NULL, NULL, completes ? 2 : 1);
    expect_count(&w->o, point, account, NULL, NULL, completes ? 3 : 1);
    crash_end(w);
}

/* PUT /organization/{id} with a new name and description, killed: before
 * any write nothing is logged; mid-rename, recovery finishes the rename
 * (one org.renamed, display name and all) and the description, never
 * written, has no event. */
static void crash_account_first_update(const char *point, bool renamed)
{
    struct crash *w = crash_world(ACCOUNT_FIRST_ORG);
    char new_name[64];
    th_unique("Renamed", new_name, sizeof new_name);
    crash_and_recover(w, point, "PUT", w->org_path, w->owner.t.access,
                      json_pack("{s:s, s:s}", "name", new_name, "description", "after"));
    wait_orgs_settled(&w->o, point);
    json_t *j = th_expect_json(&w->o, "GET", w->org_path, w->owner.t.access, NULL, 200);
    assert_string_equal(th_json_str(j, "name"), renamed ? new_name : w->name);
    assert_string_equal(th_json_str(j, "description"), "before");
    char slug[64], coll[96];
    snprintf(slug, sizeof slug, "%s", th_json_str(j, "slug"));
    snprintf(coll, sizeof coll, "%s", th_json_str(j, "collection_name"));
    json_decref(j);
    if (renamed) {
        json_t *evs = expect_events_once(&w->o, point, w->chain, "org.renamed", new_name, 1);
        expect_event(json_array_get(evs, 0), "org.renamed", w->id, "org", w->id, &RECOVERY,
                     json_pack("{s:o, s:o, s:o}", "name", pair(w->slug, slug), "display_name",
                               pair(w->name, new_name), "collection", pair(w->coll, coll)),
                     NULL);
        json_decref(evs);
    } else {
        assert_string_equal(slug, w->slug);
        expect_count(&w->o, point, w->chain, "org.renamed", NULL, 0);
    }
    expect_count(&w->o, point, w->chain, "org.updated", "after", 0);
    /* created, the description "before", and the rename if it happened */
    expect_count(&w->o, point, w->chain, NULL, NULL, renamed ? 3 : 2);
    crash_end(w);
}

/* A delete killed at any step after its mark: recovery finishes it, and
 * its org.deleted is the chain's last event, once. */
static void crash_delete(const char *point, bool org_first)
{
    struct crash *w = crash_world(org_first ? ORG_FIRST_TENANT : ACCOUNT_FIRST_ORG);
    char path[160];
    if (org_first)
        snprintf(path, sizeof path, "/org/delete/%s", w->name);
    crash_and_recover(w, point, "DELETE", org_first ? path : w->org_path,
                      org_first ? w->t.token : w->owner.t.access, NULL);
    wait_orgs_settled(&w->o, point);
    assert_int_equal(th_db_count_oid(&w->o, "organizations", "_id", w->id), 0);
    expect_count(&w->o, point, w->chain, "org.deleted", NULL, 1);
    json_t *all = db_events(&w->o, w->chain, NULL, NULL);
    const json_t *last = json_array_get(all, json_array_size(all) - 1);
    assert_string_equal(th_json_str(last, "action"), "org.deleted");
    json_decref(all);
    crash_end(w);
}

/* An account-first org's world (crash_world) with one invitation, as a
 * member, of a fresh e-mail (written to email). */
static struct crash *crash_world_with_an_invitation(char *email, size_t cap,
                                                    struct th_invitation *inv)
{
    struct crash *w = crash_world(ACCOUNT_FIRST_ORG);
    th_fresh_email("invitee", email, cap);
    th_invite(&w->o, w->owner.t.access, w->id, email, "member", inv);
    return w;
}

/* A re-invitation killed after it revoked the one it replaces: the revoke
 * happened (one invitation.revoked), the new invitation never did (no
 * second invitation.created). */
static void crash_reinvite(const char *point)
{
    char email[96], path[160];
    struct th_invitation old;
    struct crash *w = crash_world_with_an_invitation(email, sizeof email, &old);
    snprintf(path, sizeof path, "%s/invite", w->org_path);
    crash_and_recover(w, point, "POST", path, w->owner.t.access,
                      json_pack("{s:s, s:s}", "email", email, "role", "admin"));
    tu_sleep_ms(1100); /* a recovery pass */
    char status[32];
    th_db_invitation_status(&w->o, old.id, status, sizeof status);
    assert_string_equal(status, "revoked");
    assert_int_equal(th_db_count_str(&w->o, "invitations", "email", email), 1);
    json_t *evs = expect_events_once(&w->o, point, w->chain, "invitation.revoked", old.id, 1);
    json_t *reason = json_object_get(json_object_get(json_array_get(evs, 0), "changes"), "reason");
    assert_string_equal(json_string_value(json_array_get(reason, 1)), "replaced");
    json_decref(evs);
    expect_count(&w->o, point, w->chain, "invitation.created", email, 1);
    crash_end(w);
}

/* A revoke killed after it read the invitation: nothing written. */
static void crash_revoke(const char *point)
{
    char email[96], path[200];
    struct th_invitation inv;
    struct crash *w = crash_world_with_an_invitation(email, sizeof email, &inv);
    snprintf(path, sizeof path, "%s/invitations/%s", w->org_path, inv.id);
    crash_and_recover(w, point, "DELETE", path, w->owner.t.access, NULL);
    tu_sleep_ms(1100); /* a recovery pass, which must find nothing to log */
    char status[32];
    th_db_invitation_status(&w->o, inv.id, status, sizeof status);
    assert_string_equal(status, "pending");
    expect_count(&w->o, point, w->chain, "invitation.revoked", NULL, 0);
    crash_end(w);
}

/* An accept killed: after the account (a new one is made and logged
 * once; the invitation is untouched, so no accept is logged), or after the
 * membership (recovery finishes the accept: its two events, once, as the
 * system). */
static void crash_accept(const char *point, bool new_account, bool joins)
{
    struct crash *w = crash_world(ACCOUNT_FIRST_ORG);
    struct th_account invitee = {0};
    if (new_account)
        th_fresh_email("invitee", invitee.email, sizeof invitee.email);
    else
        th_account_new(&w->o, "invitee", &invitee);
    struct th_invitation inv;
    th_invite(&w->o, w->owner.t.access, w->id, invitee.email, "admin", &inv);
    crash_and_recover(
        w, point, "POST", "/invitations/accept", new_account ? NULL : invitee.t.access,
        new_account ? json_pack("{s:s, s:s}", "token", inv.token, "password", TU_PASSWORD)
                    : json_pack("{s:s}", "token", inv.token));
    char status[32] = "accepting";
    for (int waited = 0; strcmp(status, "accepting") == 0 && waited < 15000; waited += 100) {
        th_db_invitation_status(&w->o, inv.id, status, sizeof status);
        if (strcmp(status, "accepting") == 0)
            tu_sleep_ms(100);
    }
    assert_string_equal(status, joins ? "accepted" : "pending");
    /* the account: made once (the crash came after it), logged once */
    assert_int_equal(th_db_count_str(&w->o, "admins", "email", invitee.email), 1);
    expect_count(&w->o, point, NULL, "account.created", invitee.email, 1);
    json_t *evs = expect_events_once(&w->o, point, w->chain, "invitation.accepted", inv.id, joins);
    if (joins) {
        /* the account as the data has it: the membership the crash left */
        const char *account_id = json_string_value(json_array_get(
            json_object_get(json_object_get(json_array_get(evs, 0), "changes"), "account_id"), 1));
        assert_non_null(account_id);
        assert_int_equal(th_db_memberships_of(&w->o, account_id, w->id), 1);
        expect_event(json_array_get(evs, 0), "invitation.accepted", w->id, "invitation", inv.id,
                     &RECOVERY,
                     json_pack("{s:o, s:o}", "status", pair("pending", "accepted"), "account_id",
                               pair(NULL, account_id)),
                     NULL);
        json_t *added = expect_events_once(&w->o, point, w->chain, "member.added", inv.id, 1);
        expect_event(json_array_get(added, 0), "member.added", w->id, "member", account_id,
                     &RECOVERY,
                     json_pack("{s:o, s:o}", "role", pair(NULL, "admin"), "invitation_id",
                               pair(NULL, inv.id)),
                     NULL);
        json_decref(added);
    } else {
        assert_int_equal(th_db_count_oid(&w->o, "memberships", "org_id", w->id), 1);
        expect_count(&w->o, point, w->chain, "member.added", NULL, 0);
    }
    json_decref(evs);
    crash_end(w);
}

/* A removal or a leave killed after its mark: recovery finishes it, and
 * its event, written with the mark, is there once. */
static void crash_remove(const char *point, bool self)
{
    struct crash *w = crash_world(ACCOUNT_FIRST_ORG);
    struct th_account member;
    th_member_new(&w->o, w->owner.t.access, w->id, "member", "member", &member);
    char path[200];
    snprintf(path, sizeof path, "%s/members/%s", w->org_path, member.id);
    crash_and_recover(w, point, "DELETE", path, self ? member.t.access : w->owner.t.access, NULL);
    for (int waited = 0; th_db_memberships_of(&w->o, member.id, w->id) > 0 && waited < 15000;
         waited += 100)
        tu_sleep_ms(100);
    assert_int_equal(th_db_memberships_of(&w->o, member.id, w->id), 0);
    const char *action = self ? "member.left" : "member.removed";
    json_t *evs = expect_events_once(&w->o, point, w->chain, action, member.id, 1);
    const json_t *actor = json_object_get(json_array_get(evs, 0), "actor");
    assert_string_equal(th_json_str(actor, "account_id"), self ? member.id : w->owner.id);
    json_decref(evs);
    expect_count(&w->o, point, w->chain, self ? "member.removed" : "member.left", NULL, 0);
    crash_end(w);
}

/* A password change killed after the password was checked: nothing
 * written, the old password still works, no event. */
static void crash_password(const char *point)
{
    struct crash *w = crash_world(ACCOUNT_ONLY);
    char mine[64];
    crash_and_recover(w, point, "PUT", "/auth/password", w->owner.t.access,
                      json_pack("{s:s, s:s}", "current_password", TU_PASSWORD, "new_password",
                                "a brand new horse battery"));
    tu_sleep_ms(1100); /* a recovery pass, which must find nothing to log */
    struct th_tokens t;
    th_signin_ok(&w->o, w->owner.email, TU_PASSWORD, &t);
    chain_of_account(w->owner.id, mine, sizeof mine);
    expect_count(&w->o, point, mine, "account.password_changed", NULL, 0);
    expect_count(&w->o, point, mine, NULL, NULL, 1);
    crash_end(w);
}

#define CRASH_CASE(fn, call)                                                                       \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        call;                                                                                      \
    }

CRASH_CASE(crash_org_first_create_after_metadata, crash_org_first_create("create.after_metadata"))
CRASH_CASE(crash_org_first_create_after_admin, crash_org_first_create("create.after_admin"))
CRASH_CASE(crash_org_first_create_after_membership,
           crash_org_first_create("create.after_membership"))
CRASH_CASE(crash_org_first_create_after_collection,
           crash_org_first_create("create.after_collection"))
CRASH_CASE(crash_account_first_create_after_metadata,
           crash_account_first_create("create.after_metadata"))
CRASH_CASE(crash_account_first_create_after_membership,
           crash_account_first_create("create.after_membership"))
CRASH_CASE(crash_account_first_create_after_collection,
           crash_account_first_create("create.after_collection"))
CRASH_CASE(crash_org_first_rename_after_reserve, crash_org_first_rename("rename.after_reserve"))
CRASH_CASE(crash_org_first_rename_after_collection,
           crash_org_first_rename("rename.after_collection"))
CRASH_CASE(crash_org_first_update_after_checks,
           crash_org_first_update_with_credentials("update.after_checks", false))
CRASH_CASE(crash_org_first_update_with_credentials_after_reserve,
           crash_org_first_update_with_credentials("rename.after_reserve", true))
CRASH_CASE(crash_account_first_update_after_checks,
           crash_account_first_update("org_update.after_checks", false))
CRASH_CASE(crash_account_first_rename_after_reserve,
           crash_account_first_update("rename.after_reserve", true))
CRASH_CASE(crash_account_first_rename_after_collection,
           crash_account_first_update("rename.after_collection", true))
CRASH_CASE(crash_org_first_delete_after_mark, crash_delete("delete.after_mark", true))
CRASH_CASE(crash_org_first_delete_after_drop, crash_delete("delete.after_drop", true))
CRASH_CASE(crash_org_first_delete_after_admins, crash_delete("delete.after_admins", true))
CRASH_CASE(crash_org_first_delete_after_memberships, crash_delete("delete.after_memberships", true))
CRASH_CASE(crash_account_first_delete_after_mark, crash_delete("delete.after_mark", false))
CRASH_CASE(crash_account_first_delete_after_memberships,
           crash_delete("delete.after_memberships", false))
CRASH_CASE(crash_reinvite_after_replace, crash_reinvite("invite.after_replace"))
CRASH_CASE(crash_revoke_after_read, crash_revoke("revoke.after_read"))
CRASH_CASE(crash_accept_by_a_new_account_after_account,
           crash_accept("accept.after_account", true, false))
CRASH_CASE(crash_accept_by_a_new_account_after_membership,
           crash_accept("accept.after_membership", true, true))
CRASH_CASE(crash_accept_by_an_existing_account_after_account,
           crash_accept("accept.after_account", false, false))
CRASH_CASE(crash_accept_by_an_existing_account_after_membership,
           crash_accept("accept.after_membership", false, true))
CRASH_CASE(crash_remove_after_sessions, crash_remove("member_remove.after_sessions", false))
CRASH_CASE(crash_remove_after_membership, crash_remove("member_remove.after_membership", false))
CRASH_CASE(crash_leave_after_sessions, crash_remove("member_remove.after_sessions", true))
CRASH_CASE(crash_leave_after_membership, crash_remove("member_remove.after_membership", true))
CRASH_CASE(crash_password_after_check, crash_password("password.after_check"))

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(crash_org_first_create_after_metadata, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_create_after_admin, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_create_after_membership, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_create_after_collection, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_create_after_metadata, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_create_after_membership, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_create_after_collection, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_rename_after_reserve, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_rename_after_collection, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_update_after_checks, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_update_with_credentials_after_reserve,
                                  crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_update_after_checks, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_rename_after_reserve, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_rename_after_collection, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_delete_after_mark, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_delete_after_drop, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_delete_after_admins, crash_teardown),
        cmocka_unit_test_teardown(crash_org_first_delete_after_memberships, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_delete_after_mark, crash_teardown),
        cmocka_unit_test_teardown(crash_account_first_delete_after_memberships, crash_teardown),
        cmocka_unit_test_teardown(crash_reinvite_after_replace, crash_teardown),
        cmocka_unit_test_teardown(crash_revoke_after_read, crash_teardown),
        cmocka_unit_test_teardown(crash_accept_by_a_new_account_after_account, crash_teardown),
        cmocka_unit_test_teardown(crash_accept_by_a_new_account_after_membership, crash_teardown),
        cmocka_unit_test_teardown(crash_accept_by_an_existing_account_after_account,
                                  crash_teardown),
        cmocka_unit_test_teardown(crash_accept_by_an_existing_account_after_membership,
                                  crash_teardown),
        cmocka_unit_test_teardown(crash_remove_after_sessions, crash_teardown),
        cmocka_unit_test_teardown(crash_remove_after_membership, crash_teardown),
        cmocka_unit_test_teardown(crash_leave_after_sessions, crash_teardown),
        cmocka_unit_test_teardown(crash_leave_after_membership, crash_teardown),
        cmocka_unit_test_teardown(crash_password_after_check, crash_teardown),
        cmocka_unit_test_teardown(the_next_write_appends_what_a_crash_left_first, crash_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
