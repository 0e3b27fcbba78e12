/* The audit log (issue 22), from outside orgd: every operation of both
 * flows writes exactly its events, in the chain they belong to, naming who
 * did it, from where and in which request; an operation refused writes
 * nothing. No event holds a password, a token, a password hash or a
 * webhook secret. The chains verified, listed and checked:
 * test_events_chain.c; crashes: test_events_crashes.c; what they share:
 * harness_events.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_events.h"
#include "testutil.h"

/* A second loopback address (Linux routes 127/8 to lo), to show that the
 * client address is the peer's and not a constant. */
#define OTHER_ADDRESS "127.0.0.2"

/* ---- what an event must say ---- */

/* Fails unless ev is the sessions.ended event of an account whose `n`
 * other sessions a change (by `who`) ended for `reason`. Its actor may be
 * orgd itself (the ending is a consequence; the change has its own event)
 * or the change's actor. */
static void expect_sessions_ended(const json_t *ev, const char *account_id, const char *reason,
                                  long n, const struct actor *who)
{
    json_t *by_orgd = json_pack("{s:s}", "system", "orgd");
    bool by_system = json_equal(json_object_get(ev, "actor"), by_orgd);
    json_decref(by_orgd);
    /* expect_event knows the system by its recovery name: look at the rest
     * of a system's event with that actor in its place */
    json_t *copy = json_deep_copy(ev);
    if (by_system)
        json_object_set_new(copy, "actor", json_pack("{s:s}", "system", "recovery"));
    expect_event(
        copy, "sessions.ended", NULL, "account", account_id, by_system ? &RECOVERY : who,
        json_pack("{s:o, s:[n, I]}", "reason", pair(NULL, reason), "sessions", (json_int_t)n),
        NULL);
    json_decref(copy);
}

/* ---- a chain as a client follows it ---- */

/* A log read through its route: every look must find exactly the events
 * the steps since the last look wrote, appended after those seen. */
struct chain {
    const struct th_orgd *o;
    char path[200];
    size_t seen;
    json_t *fresh; /* the last look's new events, oldest first */
};

static void chain_at(struct chain *c, const struct th_orgd *o, const char *path)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    snprintf(c->path, sizeof c->path, "%s", path);
}

/* The events appended since the last look, which must be exactly n: the
 * i-th of them is chain_new(c, i). The events seen before must be as they
 * were (the log only grows). */
static void appended(struct chain *c, const char *token, size_t n)
{
    json_t *all = events_of(c->o, c->path, token);
    size_t size = json_array_size(all);
    if (size != c->seen + n) {
        char *text = dump(all);
        fprintf(stderr, "%s holds:\n%s\n", c->path, text);
        fail_msg("%s: %zu events, expected %zu and %zu new (all of them above)", c->path, size,
                 c->seen, n);
    }
    json_decref(c->fresh);
    c->fresh = json_array();
    for (size_t i = c->seen; i < size; i++)
        json_array_append(c->fresh, json_array_get(all, i));
    json_decref(all);
    c->seen = size;
}

static const json_t *chain_new(const struct chain *c, size_t i)
{
    return json_array_get(c->fresh, i);
}

/* The chain has not grown since the last look. */
static void unchanged(struct chain *c, const char *token)
{
    appended(c, token, 0);
}

static void chain_end(struct chain *c)
{
    json_decref(c->fresh);
    c->fresh = NULL;
}

/* Fails unless ev is invitation.revoked of invitation_id in org_id's
 * chain, by `by`, for `reason` ("revoked", or "replaced" by a new one). */
static void expect_invitation_revoked(const json_t *ev, const char *org_id,
                                      const char *invitation_id, const char *reason,
                                      const struct actor *by)
{
    expect_event(
        ev, "invitation.revoked", org_id, "invitation", invitation_id, by,
        json_pack("{s:o, s:o}", "status", pair("pending", "revoked"), "reason", pair(NULL, reason)),
        NULL);
}

/* The two events an accept appends to an org's chain, the last look's
 * new ones: invitation.accepted of invitation_id by account_id, then
 * member.added of account_id with `role`, both by `by`. */
static void expect_accepted_and_added(const struct chain *org, const char *org_id,
                                      const char *invitation_id, const char *account_id,
                                      const char *role, const struct actor *by)
{
    expect_event(chain_new(org, 0), "invitation.accepted", org_id, "invitation", invitation_id, by,
                 json_pack("{s:o, s:o}", "status", pair("pending", "accepted"), "account_id",
                           pair(NULL, account_id)),
                 NULL);
    expect_event(chain_new(org, 1), "member.added", org_id, "member", account_id, by,
                 json_pack("{s:o, s:o}", "role", pair(NULL, role), "invitation_id",
                           pair(NULL, invitation_id)),
                 NULL);
}

/* Opens c on the account's own log (GET /auth/events with its token)
 * and expects the one event there so far: account.created of the account
 * with its e-mail and `origin`, by `by`. */
static void own_log_begins_with_account_created(struct chain *c, const struct th_orgd *o,
                                                const struct th_account *account,
                                                const char *origin, const struct actor *by)
{
    chain_at(c, o, "/auth/events");
    appended(c, account->t.access, 1);
    expect_event(
        chain_new(c, 0), "account.created", NULL, "account", account->id, by,
        json_pack("{s:o, s:o}", "email", pair(NULL, account->email), "origin", pair(NULL, origin)),
        NULL);
}

/* Read from the database (the org's routes are gone with it): org_id's
 * chain holds one event more than `before`, org.deleted by `by` of the
 * org named `name` in `collection`, and the whole chain still verifies. */
static void expect_org_deleted_last_in_its_chain(const struct th_orgd *o, const char *org_id,
                                                 size_t before, const struct actor *by,
                                                 const char *name, const char *collection)
{
    char chain[64];
    chain_of_org(org_id, chain, sizeof chain);
    json_t *stored = db_events(o, chain, NULL, NULL);
    assert_int_equal(json_array_size(stored), before + 1);
    expect_event(
        json_array_get(stored, before), "org.deleted", org_id, "org", org_id, by,
        json_pack("{s:o, s:o}", "name", pair(name, NULL), "collection", pair(collection, NULL)),
        NULL);
    char *text = as_ndjson(stored);
    expect_python_verifies(text, org_id, before + 1, NULL);
    free(text);
    json_decref(stored);
}

/* ---- 1. every operation writes exactly its events ---- */

/* The org-first flow: /org/create, a login, a rename, a change of e-mail
 * and password, an invitation into the org, and the delete; and what is
 * refused on the way (a taken name, a wrong password, a delete by a
 * member) writes nothing. */
static void every_org_first_operation_writes_its_events(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    char name[64], email[96], coll[96], path[256], sid[32], rid[80];
    struct answer a;
    struct actor by;

    th_unique("Audit", name, sizeof name);
    snprintf(email, sizeof email, "%s@example.com", name);
    th_lower(email);
    th_collection_of(name, coll, sizeof coll);
    step(o, "POST", "/org/create", NULL,
         json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email, "password",
                   TU_PASSWORD),
         201, &a);
    snprintf(rid, sizeof rid, "%s", a.request_id);
    answer_free(&a);
    char *token = NULL;
    assert_int_equal(th_login(o, email, TU_PASSWORD, &token), 200);
    json_t *me = th_expect_json(o, "GET", "/auth/check", token, NULL, 200);
    char org_id[32], admin_id[32];
    snprintf(org_id, sizeof org_id, "%s", th_json_str(json_object_get(me, "organization"), "id"));
    snprintf(admin_id, sizeof admin_id, "%s", th_json_str(json_object_get(me, "admin"), "id"));
    json_decref(me);
    th_session_of(o, token, sid, sizeof sid);

    /* the create: org.created in the org's chain, account.created in the
     * new owner's, both by that owner (no session yet) in that request */
    struct chain org, mine;
    events_path(path, sizeof path, org_id);
    chain_at(&org, o, path);
    chain_at(&mine, o, "/auth/events");
    actor_set(&by, admin_id, NULL, rid, LOCAL);
    appended(&org, token, 1);
    expect_event(chain_new(&org, 0), "org.created", org_id, "org", org_id, &by,
                 json_pack("{s:o, s:o, s:o}", "name", pair(NULL, name), "collection",
                           pair(NULL, coll), "owner_id", pair(NULL, admin_id)),
                 json_pack("{s:o}", "display_name", pair(NULL, name)));
    appended(&mine, token, 1);
    expect_event(chain_new(&mine, 0), "account.created", NULL, "account", admin_id, &by,
                 json_pack("{s:o}", "email", pair(NULL, email)),
                 json_pack("{s:o}", "origin", pair(NULL, "org_create")));

    /* a login changes nothing: no event */
    char *again = NULL;
    assert_int_equal(th_login(o, email, TU_PASSWORD, &again), 200);
    free(again);
    unchanged(&org, token);
    unchanged(&mine, token);

    /* the org-first route to the same log shows the same events */
    snprintf(path, sizeof path, "/org/%s/events", name);
    char *by_name = ndjson_text(o, path, token);
    events_path(path, sizeof path, org_id);
    char *by_id = ndjson_text(o, path, token);
    assert_string_equal(by_name, by_id);
    free(by_name);
    free(by_id);

    /* the rename */
    char new_name[64], new_coll[96];
    th_unique("Renamed", new_name, sizeof new_name);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    step(o, "PUT", "/org/update", token, json_pack("{s:s}", "new_organization_name", new_name), 200,
         &a);
    actor_set(&by, admin_id, sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, token, 1);
    expect_event(
        chain_new(&org, 0), "org.renamed", org_id, "org", org_id, &by,
        json_pack("{s:o, s:o}", "name", pair(name, new_name), "collection", pair(coll, new_coll)),
        json_pack("{s:o}", "display_name", pair(name, new_name)));
    unchanged(&mine, token);

    /* refused: a taken name; a wrong current password */
    struct th_tenant other;
    th_tenant_new(o, &other, "Taken");
    th_expect_status(o, "PUT", "/org/update", token,
                     json_pack("{s:s}", "new_organization_name", other.name), 409);
    th_expect_status(o, "PUT", "/org/update", token,
                     json_pack("{s:s, s:s}", "email", "never@example.com", "current_password",
                               "not the password at all"),
                     401);
    unchanged(&org, token);
    unchanged(&mine, token);

    /* a change of e-mail and password: two account events, in the
     * account's chain only, and neither holds the password or its hash;
     * then the account's other session (the second login) ends, and
     * that is an account event too */
    char new_email[96];
    th_fresh_email("moved", new_email, sizeof new_email);
    step(o, "PUT", "/org/update", token,
         json_pack("{s:s, s:s, s:s}", "email", new_email, "password", "another horse battery",
                   "current_password", TU_PASSWORD),
         200, &a);
    actor_set(&by, admin_id, sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&mine, token, 3);
    expect_event(chain_new(&mine, 0), "account.email_changed", NULL, "account", admin_id, &by,
                 json_pack("{s:o}", "email", pair(email, new_email)), NULL);
    expect_event(chain_new(&mine, 1), "account.password_changed", NULL, "account", admin_id, &by,
                 json_object(), NULL);
    expect_sessions_ended(chain_new(&mine, 2), admin_id, "password_change", 1, &by);
    unchanged(&org, token);

    /* someone joins by invitation (the account-first case looks at these
     * events closely), and as a plain member may neither delete the org
     * nor read its log */
    struct th_account member;
    th_member_new(o, token, org_id, "member", "joiner", &member);
    appended(&org, token, 3);
    assert_string_equal(th_json_str(chain_new(&org, 0), "action"), "invitation.created");
    assert_string_equal(th_json_str(chain_new(&org, 1), "action"), "invitation.accepted");
    assert_string_equal(th_json_str(chain_new(&org, 2), "action"), "member.added");
    snprintf(path, sizeof path, "/org/delete/%s", new_name);
    th_expect_status(o, "DELETE", path, member.t.access, NULL, 403);
    events_path(path, sizeof path, org_id);
    th_expect_status(o, "GET", path, member.t.access, NULL, 403);
    unchanged(&org, token);

    /* the delete: org.deleted, the last event of its chain, which stays
     * (read from the database: the org and its routes are gone) */
    size_t before = org.seen;
    snprintf(path, sizeof path, "/org/delete/%s", new_name);
    step(o, "DELETE", path, token, NULL, 204, &a);
    actor_set(&by, admin_id, sid, a.request_id, LOCAL);
    answer_free(&a);
    events_path(path, sizeof path, org_id);
    th_expect_status(o, "GET", path, member.t.access, NULL, 404);
    expect_org_deleted_last_in_its_chain(o, org_id, before, &by, new_name, new_coll);
    chain_end(&org);
    chain_end(&mine);
    free(token);
    th_tenant_free(&other);
}

/* The account-first flow: sign-up, a new org, its description, its name,
 * invitations (made, revoked, replaced), accepts by an existing account and
 * by a new one, a role change, a removal, a leave, a password change; and
 * what is refused (an old token, the last owner's demotion, a taken slug,
 * a delete by a member, a wrong password) writes nothing. */
static void every_account_first_operation_writes_its_events(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    struct answer a;
    struct actor by;
    char path[256], rid[80];

    /* sign-up: account.created in the account's chain, by the account
     * itself, with no session yet; a sign-in writes nothing */
    struct th_account owner = {0};
    char owner_sid[32];
    th_fresh_email("owner", owner.email, sizeof owner.email);
    step(o, "POST", "/auth/signup", NULL,
         json_pack("{s:s, s:s}", "email", owner.email, "password", TU_PASSWORD), 201, &a);
    snprintf(owner.id, sizeof owner.id, "%s", th_json_str(a.json, "id"));
    actor_set(&by, owner.id, NULL, a.request_id, LOCAL);
    answer_free(&a);
    th_signin_ok(o, owner.email, TU_PASSWORD, &owner.t);
    th_session_of(o, owner.t.access, owner_sid, sizeof owner_sid);
    struct chain mine;
    own_log_begins_with_account_created(&mine, o, &owner, "signup", &by);
    struct th_tokens second;
    th_signin_ok(o, owner.email, TU_PASSWORD, &second);
    unchanged(&mine, owner.t.access);

    /* a new org, by name (display text) and description */
    char display[64], org_id[32], slug[64], coll[96];
    th_unique("Audit Ünïcode", display, sizeof display);
    step(o, "POST", "/organization/", owner.t.access,
         json_pack("{s:s, s:s}", "name", display, "description", "first"), 201, &a);
    snprintf(org_id, sizeof org_id, "%s", th_json_str(a.json, "id"));
    snprintf(slug, sizeof slug, "%s", th_json_str(a.json, "slug"));
    snprintf(coll, sizeof coll, "%s", th_json_str(a.json, "collection_name"));
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    struct chain org;
    events_path(path, sizeof path, org_id);
    chain_at(&org, o, path);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "org.created", org_id, "org", org_id, &by,
                 json_pack("{s:o, s:o, s:o, s:o}", "name", pair(NULL, slug), "display_name",
                           pair(NULL, display), "collection", pair(NULL, coll), "owner_id",
                           pair(NULL, owner.id)),
                 json_pack("{s:o}", "description", pair(NULL, "first")));
    unchanged(&mine, owner.t.access);

    /* its description, sent from another address: the event names it */
    char org_path[128];
    snprintf(org_path, sizeof org_path, "/organization/%s", org_id);
    step_from(o, OTHER_ADDRESS, "PUT", org_path, owner.t.access,
              json_pack("{s:s}", "description", "second"), 200, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, OTHER_ADDRESS);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "org.updated", org_id, "org", org_id, &by,
                 json_pack("{s:o}", "description", pair("first", "second")), NULL);

    /* its display name in other letter cases: the same slug, so no rename,
     * an org.updated of the display name */
    char shouted[64];
    snprintf(shouted, sizeof shouted, "%s", display);
    for (char *p = shouted; *p != '\0'; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
    step(o, "PUT", org_path, owner.t.access, json_pack("{s:s}", "name", shouted), 200, &a);
    assert_string_equal(th_json_str(a.json, "slug"), slug);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "org.updated", org_id, "org", org_id, &by,
                 json_pack("{s:o}", "display_name", pair(display, shouted)), NULL);
    snprintf(display, sizeof display, "%s", shouted);

    /* its name: a new slug, so a rename (collection and all) */
    char new_display[64], new_slug[64], new_coll[96];
    th_unique("Renamed", new_display, sizeof new_display);
    step(o, "PUT", org_path, owner.t.access, json_pack("{s:s}", "name", new_display), 200, &a);
    snprintf(new_slug, sizeof new_slug, "%s", th_json_str(a.json, "slug"));
    snprintf(new_coll, sizeof new_coll, "%s", th_json_str(a.json, "collection_name"));
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "org.renamed", org_id, "org", org_id, &by,
                 json_pack("{s:o, s:o, s:o}", "name", pair(slug, new_slug), "display_name",
                           pair(display, new_display), "collection", pair(coll, new_coll)),
                 NULL);

    /* invitations: to a new address (bob), to an existing account
     * (carol, as admin), one revoked (dave), one replaced (erin) */
    char invite[160], bob_email[96], dave_email[96], erin_email[96];
    snprintf(invite, sizeof invite, "%s/invite", org_path);
    struct th_account carol;
    th_account_new(o, "carol", &carol);
    char carol_sid[32];
    th_session_of(o, carol.t.access, carol_sid, sizeof carol_sid);
    struct th_invitation to_bob, to_carol, to_dave, to_erin, to_erin_again;
    th_fresh_email("bob", bob_email, sizeof bob_email);
    th_fresh_email("dave", dave_email, sizeof dave_email);
    th_fresh_email("erin", erin_email, sizeof erin_email);
    struct {
        const char *email;
        const char *role;
        struct th_invitation *inv;
    } invites[] = {
        {bob_email, NULL, &to_bob},
        {carol.email, "admin", &to_carol},
        {dave_email, "member", &to_dave},
        {erin_email, "member", &to_erin},
    };
    for (size_t i = 0; i < sizeof invites / sizeof invites[0]; i++) {
        json_t *body = invites[i].role ? json_pack("{s:s, s:s}", "email", invites[i].email, "role",
                                                   invites[i].role)
                                       : json_pack("{s:s}", "email", invites[i].email);
        step(o, "POST", invite, owner.t.access, body, 201, &a);
        struct th_invitation *inv = invites[i].inv;
        snprintf(inv->id, sizeof inv->id, "%s", th_json_str(a.json, "id"));
        snprintf(inv->token, sizeof inv->token, "%s", th_json_str(a.json, "token"));
        actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
        answer_free(&a);
        appended(&org, owner.t.access, 1);
        expect_event(chain_new(&org, 0), "invitation.created", org_id, "invitation", inv->id, &by,
                     json_pack("{s:o, s:o}", "email", pair(NULL, invites[i].email), "role",
                               pair(NULL, invites[i].role ? invites[i].role : "member")),
                     NULL);
    }
    snprintf(path, sizeof path, "%s/invitations/%s", org_path, to_dave.id);
    step(o, "DELETE", path, owner.t.access, NULL, 204, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_invitation_revoked(chain_new(&org, 0), org_id, to_dave.id, "revoked", &by);
    /* inviting erin again replaces her invitation: the old one revoked,
     * then the new one made, both by this one request */
    step(o, "POST", invite, owner.t.access,
         json_pack("{s:s, s:s}", "email", erin_email, "role", "admin"), 201, &a);
    snprintf(to_erin_again.id, sizeof to_erin_again.id, "%s", th_json_str(a.json, "id"));
    snprintf(to_erin_again.token, sizeof to_erin_again.token, "%s", th_json_str(a.json, "token"));
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 2);
    expect_invitation_revoked(chain_new(&org, 0), org_id, to_erin.id, "replaced", &by);
    expect_event(
        chain_new(&org, 1), "invitation.created", org_id, "invitation", to_erin_again.id, &by,
        json_pack("{s:o, s:o}", "email", pair(NULL, erin_email), "role", pair(NULL, "admin")),
        NULL);

    /* accepted by an existing account, with its bearer token */
    step(o, "POST", "/invitations/accept", carol.t.access,
         json_pack("{s:s}", "token", to_carol.token), 200, &a);
    actor_set(&by, carol.id, carol_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 2);
    expect_accepted_and_added(&org, org_id, to_carol.id, carol.id, "admin", &by);

    /* accepted by a new account (the accept makes it): account.created in
     * its own chain, the accept's two events in the org's, all by it, with
     * no session, in the one request */
    struct th_account bob = {0};
    snprintf(bob.email, sizeof bob.email, "%s", bob_email);
    step(o, "POST", "/invitations/accept", NULL,
         json_pack("{s:s, s:s}", "token", to_bob.token, "password", TU_PASSWORD), 200, &a);
    snprintf(bob.id, sizeof bob.id, "%s", th_json_str(a.json, "account_id"));
    actor_set(&by, bob.id, NULL, a.request_id, LOCAL);
    snprintf(rid, sizeof rid, "%s", a.request_id);
    answer_free(&a);
    appended(&org, owner.t.access, 2);
    expect_accepted_and_added(&org, org_id, to_bob.id, bob.id, "member", &by);
    th_signin_ok(o, bob.email, TU_PASSWORD, &bob.t);
    char bob_sid[32];
    th_session_of(o, bob.t.access, bob_sid, sizeof bob_sid);
    struct chain bobs;
    own_log_begins_with_account_created(&bobs, o, &bob, "invitation", &by);

    /* the replaced token is refused (410) and writes nothing; the new one
     * makes erin an admin */
    th_expect_status(o, "POST", "/invitations/accept", NULL,
                     json_pack("{s:s, s:s}", "token", to_erin.token, "password", TU_PASSWORD), 410);
    unchanged(&org, owner.t.access);
    step(o, "POST", "/invitations/accept", NULL,
         json_pack("{s:s, s:s}", "token", to_erin_again.token, "password", TU_PASSWORD), 200, &a);
    answer_free(&a);
    appended(&org, owner.t.access, 2);
    assert_string_equal(th_json_str(chain_new(&org, 0), "action"), "invitation.accepted");
    assert_string_equal(th_json_str(chain_new(&org, 1), "action"), "member.added");

    /* refused, and nothing written: the last owner's demotion, a slug that
     * is taken, a delete by a plain member, a wrong current password */
    char taken_id[32], taken_name[64];
    th_org_new(o, second.access, "Taken", taken_id, taken_name);
    json_t *taken = th_expect_json(o, "GET", "/organization/", second.access, NULL, 200);
    char taken_slug[64] = "";
    size_t i;
    json_t *item;
    json_array_foreach(taken, i, item)
    {
        if (strcmp(th_json_str(item, "id"), taken_id) == 0)
            snprintf(taken_slug, sizeof taken_slug, "%s", th_json_str(item, "slug"));
    }
    json_decref(taken);
    assert_true(taken_slug[0] != '\0');
    size_t owner_events = mine.seen;
    snprintf(path, sizeof path, "%s/members/%s", org_path, owner.id);
    th_expect_status(o, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "member"), 409);
    th_expect_status(o, "PUT", org_path, owner.t.access, json_pack("{s:s}", "slug", taken_slug),
                     409);
    th_expect_status(o, "DELETE", org_path, bob.t.access, NULL, 403);
    th_expect_status(o, "PUT", "/auth/password", owner.t.access,
                     json_pack("{s:s, s:s}", "current_password", "not the password at all",
                               "new_password", "yet another horse battery"),
                     401);
    unchanged(&org, owner.t.access);
    unchanged(&mine, owner.t.access);
    assert_int_equal(mine.seen, owner_events);

    /* a role change, a removal, a leave */
    snprintf(path, sizeof path, "%s/members/%s", org_path, bob.id);
    step(o, "PATCH", path, owner.t.access, json_pack("{s:s}", "role", "admin"), 200, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "member.role_changed", org_id, "member", bob.id, &by,
                 json_pack("{s:o}", "role", pair("member", "admin")), NULL);
    step(o, "DELETE", path, owner.t.access, NULL, 204, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "member.removed", org_id, "member", bob.id, &by,
                 json_pack("{s:o}", "role", pair("admin", NULL)), NULL);
    snprintf(path, sizeof path, "%s/members/%s", org_path, carol.id);
    step(o, "DELETE", path, carol.t.access, NULL, 204, &a);
    actor_set(&by, carol.id, carol_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&org, owner.t.access, 1);
    expect_event(chain_new(&org, 0), "member.left", org_id, "member", carol.id, &by,
                 json_pack("{s:o}", "role", pair("admin", NULL)), NULL);

    /* a password change: its event in the account's chain, and the end of
     * the account's other session (`second`); none in the org's */
    step(o, "PUT", "/auth/password", owner.t.access,
         json_pack("{s:s, s:s}", "current_password", TU_PASSWORD, "new_password",
                   "a brand new horse battery"),
         204, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    appended(&mine, owner.t.access, 2);
    expect_event(chain_new(&mine, 0), "account.password_changed", NULL, "account", owner.id, &by,
                 json_object(), NULL);
    expect_sessions_ended(chain_new(&mine, 1), owner.id, "password_change", 1, &by);
    unchanged(&org, owner.t.access);
    unchanged(&bobs, bob.t.access);

    /* and the whole of each chain verifies */
    char *text = ndjson_text(o, org.path, owner.t.access);
    expect_python_verifies(text, org_id, org.seen, NULL);
    free(text);
    text = ndjson_text(o, "/auth/events", owner.t.access);
    expect_python_verifies(text, NULL, mine.seen, NULL);
    free(text);

    /* the delete: org.deleted, the last event of the chain, which stays
     * (read from the database: the org's routes are gone with it) */
    size_t before = org.seen;
    step(o, "DELETE", org_path, owner.t.access, NULL, 204, &a);
    actor_set(&by, owner.id, owner_sid, a.request_id, LOCAL);
    answer_free(&a);
    th_expect_status(o, "GET", org.path, owner.t.access, NULL, 404);
    expect_org_deleted_last_in_its_chain(o, org_id, before, &by, new_slug, new_coll);
    unchanged(&mine, owner.t.access);
    chain_end(&org);
    chain_end(&mine);
    chain_end(&bobs);
}

/* ---- 2. no secret in any event ---- */

/* Webhook endpoints are made with a signing secret shown once: their
 * events (made, updated, deleted) record the URL and the actions, never
 * the secret. */
static void webhook_events_hold_no_signing_secret(void **state)
{
    (void)state;
    const char *env[] = {"WEBHOOK_ALLOW_HTTP=true", "WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    struct th_account owner;
    char org_id[32], org_name[64], path[200], hook[240];
    th_account_new(o, "owner", &owner);
    th_org_new(o, owner.t.access, "Hooked", org_id, org_name);
    snprintf(path, sizeof path, "/organization/%s/webhooks", org_id);
    json_t *j = th_expect_json(
        o, "POST", path, owner.t.access,
        json_pack("{s:s, s:[s]}", "url", "http://127.0.0.1:9/hook", "events", "member.*"), 201);
    const char *secret = th_json_str(j, "secret");
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    char bare[160];
    snprintf(bare, sizeof bare, "%s", secret + 6);
    snprintf(hook, sizeof hook, "%s/%s", path, th_json_str(j, "id"));
    json_decref(j);
    const char *also[] = {bare, NULL};
    expect_no_secret_in_events(o, also);
    th_expect_status(o, "PATCH", hook, owner.t.access,
                     json_pack("{s:[s, s]}", "events", "member.*", "org.*"), 200);
    th_expect_status(o, "DELETE", hook, owner.t.access, NULL, 204);
    char events[160];
    events_path(events, sizeof events, org_id);
    json_t *all = events_of(o, events, owner.t.access);
    json_t *made = filtered(all, "webhook.*");
    assert_int_equal(json_array_size(made), 3);
    assert_string_equal(th_json_str(json_array_get(made, 0), "action"), "webhook.created");
    assert_string_equal(th_json_str(json_array_get(made, 1), "action"), "webhook.updated");
    assert_string_equal(th_json_str(json_array_get(made, 2), "action"), "webhook.deleted");
    json_decref(made);
    json_decref(all);
    expect_no_secret_in_events(o, also);
    expect_every_chain_verifies(o);
    stop_orgd(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_org_first_operation_writes_its_events),
        cmocka_unit_test(every_account_first_operation_writes_its_events),
        cmocka_unit_test_teardown(webhook_events_hold_no_signing_secret, th_own_orgd_stop),
        cmocka_unit_test(no_event_holds_a_secret),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
