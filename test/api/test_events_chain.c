/* The audit log (issue 22), from outside orgd: each chain verifies from
 * the API alone, in another language (verify_chain.py, run by
 * /usr/bin/python3); the paged listing and its filters show the same
 * events, to owners and admins only. `orgd check` finds an edited text,
 * an edited hash and a deleted event. Twenty writers at once, on one
 * instance or two, leave each chain one line. No event holds a password,
 * a token, a password hash or a webhook secret. What each operation
 * writes: test_events.c; crashes: test_events_crashes.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_events.h"
#include "testutil.h"

/* ---- reading the log as a client does ---- */

/* The same array, last first. */
static json_t *reversed(const json_t *a)
{
    json_t *r = json_array();
    for (size_t i = json_array_size(a); i > 0; i--)
        json_array_append(r, json_array_get(a, i - 1));
    return r;
}

/* Fails unless the two lists hold the same events in the same order. */
static void expect_same_events(const json_t *got, const json_t *want, const char *what)
{
    if (json_equal(got, want))
        return;
    char *g = dump(got), *w = dump(want);
    fprintf(stderr, "%s:\n---- got ----\n%s\n---- expected ----\n%s\n", what, g, w);
    fail_msg("%s: the events differ (%zu got, %zu expected; both above)", what,
             json_array_size(got), json_array_size(want));
}

/* ---- verifying a chain in Python, from its rendering alone ---- */

/* Fails unless verify_chain.py refuses text, naming seq `seq` (0: any). */
static void expect_python_refuses(const char *text, const char *org_id, long seq)
{
    char out[8192];
    int code = verify_in_python(text, org_id, out, sizeof out);
    if (code != 1)
        fail_msg("verify_chain.py exited %d, not 1, on a broken chain: %s", code, out);
    json_t *j = json_loads(out, 0, NULL);
    if (seq != 0 && json_integer_value(json_object_get(j, "seq")) != seq)
        fail_msg("verify_chain.py found the break elsewhere than seq %ld: %s", seq, out);
    json_decref(j);
}

/* ---- the log as stored (collection `events`), read with libmongoc ---- */

/* One stored event's document, by chain and seq (a copy: caller
 * bson_destroy's); fails the test when there is none. */
static bson_t *db_event_doc(const struct th_orgd *o, const char *chain, int64_t seq)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t *filter = BCON_NEW("chain", BCON_UTF8(chain), "seq", BCON_INT64(seq));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_t *copy = mongoc_cursor_next(cur, &doc) ? bson_copy(doc) : NULL;
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (copy == NULL)
        fail_msg("no event %s seq %lld in the database", chain, (long long)seq);
    return copy;
}

/* A string field of a stored event (caller frees). */
static char *db_event_string(const struct th_orgd *o, const char *chain, int64_t seq,
                             const char *field)
{
    bson_t *doc = db_event_doc(o, chain, seq);
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, field) || !BSON_ITER_HOLDS_UTF8(&it))
        fail_msg("event %s seq %lld has no string %s", chain, (long long)seq, field);
    char *s = strdup(bson_iter_utf8(&it, NULL));
    bson_destroy(doc);
    return s;
}

/* Sets a string field of a stored event behind orgd's back. */
static void db_event_set(const struct th_orgd *o, const char *chain, int64_t seq, const char *field,
                         const char *value)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t *filter = BCON_NEW("chain", BCON_UTF8(chain), "seq", BCON_INT64(seq));
    bson_t *update = BCON_NEW("$set", "{", field, BCON_UTF8(value), "}");
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_update_one(coll, filter, update, NULL, &reply, &e);
    bson_iter_t it;
    bool matched =
        ok && bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) == 1;
    bson_destroy(&reply);
    bson_destroy(update);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!matched)
        fail_msg("could not set %s of event %s seq %lld: %s", field, chain, (long long)seq,
                 ok ? "no match" : e.message);
}

/* Deletes (deleting) or puts back (a document db_event_doc copied) one
 * stored event behind orgd's back. */
static void db_event_delete(const struct th_orgd *o, const char *chain, int64_t seq)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t *filter = BCON_NEW("chain", BCON_UTF8(chain), "seq", BCON_INT64(seq));
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_collection_delete_one(coll, filter, NULL, &reply, &e);
    bson_iter_t it;
    bool deleted =
        ok && bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 1;
    bson_destroy(&reply);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!deleted)
        fail_msg("could not delete event %s seq %lld: %s", chain, (long long)seq,
                 ok ? "no match" : e.message);
}

static void db_event_put_back(const struct th_orgd *o, const bson_t *doc)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_error_t e;
    bool ok = mongoc_collection_insert_one(coll, doc, NULL, NULL, &e);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!ok)
        fail_msg("could not put an event back: %s", e.message);
}

/* ---- 1. verifiable from the API alone; the listing shows the same ---- */

/* An org with a history long enough for several pages: descriptions in
 * every script and escape JSON has (RFC 8785 must agree with Python's
 * canonical form on them), invitations, members coming and going. Made
 * once, on the shared orgd, for the cases of this part. */
static struct history {
    bool made;
    struct th_account owner, admin, plain, gone;
    char org_id[32];
    char org_name[64];
    char events[160]; /* its log's route */
} history;

static struct history *history_made(void)
{
    struct history *h = &history;
    if (h->made)
        return h;
    const struct th_orgd *o = &th_shared_orgd;
    char path[320], org_path[128], email[96];
    th_account_new(o, "owner", &h->owner);
    th_org_new(o, h->owner.t.access, "Verify", h->org_id, h->org_name);
    snprintf(org_path, sizeof org_path, "/organization/%s", h->org_id);
    events_path(h->events, sizeof h->events, h->org_id);
    static const char *const descriptions[] = {
        "naïve café, 東京, Ελληνικά, עברית, emoji 😀 and 𝄞",
        "quotes \" backslash \\ slash / tab \t newline \n return \r",
        "<script>alert(1)</script> & ' \u2028 \u2029",
        "plain",
    };
    for (size_t i = 0; i < sizeof descriptions / sizeof descriptions[0]; i++)
        th_expect_status(o, "PUT", org_path, h->owner.t.access,
                         json_pack("{s:s}", "description", descriptions[i]), 200);
    th_member_new(o, h->owner.t.access, h->org_id, "admin", "admin", &h->admin);
    th_member_new(o, h->owner.t.access, h->org_id, "member", "plain", &h->plain);
    th_member_new(o, h->owner.t.access, h->org_id, "member", "gone", &h->gone);
    for (int i = 0; i < 12; i++) {
        struct th_invitation inv;
        th_fresh_email("pending", email, sizeof email);
        th_invite(o, h->owner.t.access, h->org_id, email, i % 2 ? "admin" : "member", &inv);
    }
    snprintf(path, sizeof path, "%s/members/%s", org_path, h->gone.id);
    th_expect_status(o, "DELETE", path, h->admin.t.access, NULL, 204);
    /* a change to the role it has: nothing changes, nothing is written */
    snprintf(path, sizeof path, "%s/members/%s", org_path, h->plain.id);
    th_expect_status(o, "PATCH", path, h->owner.t.access, json_pack("{s:s}", "role", "member"),
                     200);
    h->made = true;
    return h;
}

/* The whole log as NDJSON, oldest first: verify_chain.py recomputes every
 * hash, follows every prev_hash and counts seq from 1; and it is no rubber
 * stamp: one character changed, one line left out, two lines swapped, and
 * it refuses. */
static void the_chain_verifies_from_the_api_alone(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    struct history *h = history_made();
    char *text = ndjson_text(o, h->events, h->admin.t.access);
    json_t *all = ndjson_parse(text);
    size_t n = json_array_size(all);
    /* created, 4 descriptions, 3 x (invited, accepted, added), 12 invited,
     * removed */
    assert_int_equal(n, 1 + 4 + 9 + 12 + 1);
    const char *head = th_json_str(json_array_get(all, n - 1), "hash");
    expect_python_verifies(text, h->org_id, n, head);

    char *bent = strdup(text);
    char *at = strstr(bent, "pending_");
    assert_non_null(at);
    at[0] = 'P';
    expect_python_refuses(bent, h->org_id, 0);
    free(bent);
    json_t *less = json_deep_copy(all);
    json_array_remove(less, 5);
    char *cut = as_ndjson(less);
    expect_python_refuses(cut, h->org_id, 7);
    free(cut);
    json_decref(less);
    json_t *swapped = json_deep_copy(all);
    json_t *fifth = json_incref(json_array_get(swapped, 4));
    json_array_set(swapped, 4, json_array_get(swapped, 5));
    json_array_set_new(swapped, 5, fifth);
    char *swap = as_ndjson(swapped);
    expect_python_refuses(swap, h->org_id, 6);
    free(swap);
    json_decref(swapped);

    /* the org-first route (by name) streams the very same text */
    char path[320];
    snprintf(path, sizeof path, "/org/%s/events", h->org_name);
    char *by_name = ndjson_text(o, path, h->owner.t.access);
    assert_string_equal(by_name, text);
    free(by_name);

    /* an account's own log verifies the same way */
    char *mine = ndjson_text(o, "/auth/events", h->plain.t.access);
    expect_python_verifies(mine, NULL, 1, NULL);
    free(mine);
    json_decref(all);
    free(text);
}

/* The paged listing, newest first, followed by its Link headers, holds
 * the same events as the stream, whatever the page size and by either
 * route; so does a filtered listing (one action, or a family): every
 * page of it, the next ones included, holds only that action. */
static void the_paged_listing_shows_the_same_events(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    struct history *h = history_made();
    char path[320];
    json_t *all = events_of(o, h->events, h->owner.t.access);
    size_t n = json_array_size(all), pages = 0;
    json_t *newest_first = reversed(all);
    snprintf(path, sizeof path, "%s?limit=4", h->events);
    json_t *listed = th_list_all(o, path, h->owner.t.access, &pages);
    expect_same_events(listed, newest_first, "the listing 4 a page");
    assert_int_equal(pages, (n + 3) / 4);
    json_decref(listed);
    listed = th_list_all(o, h->events, h->owner.t.access, &pages);
    expect_same_events(listed, newest_first, "the listing 20 a page");
    assert_int_equal(pages, (n + 19) / 20);
    json_decref(listed);
    snprintf(path, sizeof path, "/org/%s/events?limit=7", h->org_name);
    listed = th_list_all(o, path, h->admin.t.access, NULL);
    expect_same_events(listed, newest_first, "the listing by name, 7 a page");
    json_decref(listed);
    json_decref(newest_first);

    static const char *const actions[] = {"member.removed", "member.*", "invitation.created",
                                          "org.*"};
    static const int limits[] = {100, 5, 1};
    for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++) {
        json_t *want = filtered(all, actions[k]);
        assert_true(json_array_size(want) > 0);
        snprintf(path, sizeof path, "%s?action=%s", h->events, actions[k]);
        json_t *streamed = events_of(o, path, h->owner.t.access);
        expect_same_events(streamed, want, "the filtered NDJSON stream");
        json_decref(streamed);
        json_t *want_newest = reversed(want);
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            char what[400];
            snprintf(path, sizeof path, "%s?action=%s&limit=%d", h->events, actions[k], limits[l]);
            snprintf(what, sizeof what, "GET %s, following its Link headers", path);
            listed = th_list_all(o, path, h->owner.t.access, NULL);
            expect_same_events(listed, want_newest, what);
            json_decref(listed);
        }
        json_decref(want_newest);
        json_decref(want);
    }
    json_decref(all);
}

/* Who may read an org's log, and what is refused: a bad action (422,
 * naming it), a bad cursor, a plain member (403, by both routes, as a
 * page or as a stream), one who left, no token (401), an org that does
 * not exist (404). */
static void reading_the_log_is_for_owners_and_admins(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    struct history *h = history_made();
    char path[320], by_name[160];
    snprintf(by_name, sizeof by_name, "/org/%s/events", h->org_name);
    th_expect_status(o, "GET", h->events, h->owner.t.access, NULL, 200);
    th_expect_status(o, "GET", h->events, h->admin.t.access, NULL, 200);
    th_expect_status(o, "GET", by_name, h->admin.t.access, NULL, 200);
    static const char *const bad[] = {"Member.*",  "*",       "member.**",
                                      "member.*x", ".member", "member.%25"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(path, sizeof path, "%s?action=%s", h->events, bad[k]);
        th_expect_problem(o, "GET", path, h->owner.t.access, NULL, 422, "action");
    }
    snprintf(path, sizeof path, "%s?cursor=zz", h->events);
    th_expect_problem(o, "GET", path, h->owner.t.access, NULL, 422, "cursor");
    th_expect_status(o, "GET", h->events, h->plain.t.access, NULL, 403);
    th_expect_status(o, "GET", by_name, h->plain.t.access, NULL, 403);
    struct th_resp r;
    const char *accept[] = {"Accept: application/x-ndjson", NULL};
    assert_true(th_http(o, "GET", h->events, h->plain.t.access, NULL, NULL, 0, accept, &r));
    if (!th_is_problem(&r, 403))
        fail_msg("a plain member asking for the NDJSON log got %ld: %s", r.status, r.body);
    th_resp_free(&r);
    th_expect_status(o, "GET", h->events, h->gone.t.access, NULL, 403);
    th_expect_status(o, "GET", h->events, NULL, NULL, 401);
    th_expect_status(o, "GET", "/organization/0123456789abcdef01234567/events", h->owner.t.access,
                     NULL, 404);
    th_expect_status(o, "GET", "/org/no_such_org_here/events", h->owner.t.access, NULL, 404);
}

/* ---- 2. tampering is found ---- */

/* Edits behind orgd's back, on an orgd of its own (its own database):
 * the canonical text of one event, the hash of another chain's event, a
 * chain's middle event deleted. `orgd check` names each chain and the seq
 * where it breaks, --repair rewrites nothing, and verify_chain.py finds
 * the same from the API. Each edit undone, check is clean again. */
static void check_finds_an_edited_or_deleted_event(void **state)
{
    (void)state;
    struct th_orgd *o = th_own_orgd_start(NULL, NULL);
    struct th_account owner;
    char a_id[32], a_name[64], a_path[128], a_events[160], a_chain[64], out[16384];
    th_account_new(o, "owner", &owner);
    th_org_new(o, owner.t.access, "Kept", a_id, a_name);
    snprintf(a_path, sizeof a_path, "/organization/%s", a_id);
    events_path(a_events, sizeof a_events, a_id);
    chain_of_org(a_id, a_chain, sizeof a_chain);
    th_expect_status(o, "PUT", a_path, owner.t.access,
                     json_pack("{s:s}", "description", "the original text"), 200);
    th_expect_status(o, "PUT", a_path, owner.t.access, json_pack("{s:s}", "description", "third"),
                     200);
    struct th_tenant b;
    th_tenant_new(o, &b, "Other");
    char b_chain[64];
    chain_of_org(b.id, b_chain, sizeof b_chain);
    th_expect_check_clean(o);

    /* (1) the canonical text of A's seq 2, edited to say something else */
    char *original = db_event_string(o, a_chain, 2, "canonical");
    char *edited = strdup(original);
    char *at = strstr(edited, "the original text");
    assert_non_null(at);
    memcpy(at, "the modified text", 17);
    db_event_set(o, a_chain, 2, "canonical", edited);
    char want[128];
    int code = th_orgd_check(o, false, out, sizeof out);
    snprintf(want, sizeof want, "chain %s: seq 2", a_chain);
    if (code != 1 || strstr(out, "broken_chain") == NULL || strstr(out, want) == NULL)
        fail_msg("an edited event: orgd check exited %d, expected 1 naming \"%s\":\n%s", code, want,
                 out);
    if (strstr(out, b_chain) != NULL)
        fail_msg("orgd check blames %s, which nobody touched:\n%s", b_chain, out);
    /* the API shows the edit, and anyone verifying finds it */
    char *text = ndjson_text(o, a_events, owner.t.access);
    assert_non_null(strstr(text, "the modified text"));
    expect_python_refuses(text, a_id, 2);
    free(text);
    /* --repair never rewrites history: still broken, the edit still there */
    code = th_orgd_check(o, true, out, sizeof out);
    if (code == 0 || strstr(out, want) == NULL)
        fail_msg("orgd check --repair exited %d on an edited event:\n%s", code, out);
    char *now = db_event_string(o, a_chain, 2, "canonical");
    assert_string_equal(now, edited);
    free(now);
    db_event_set(o, a_chain, 2, "canonical", original);
    th_expect_check_clean(o);

    /* (2) another chain's hash: B's seq 1 */
    char *hash = db_event_string(o, b_chain, 1, "hash");
    char *forged = strdup(hash);
    forged[0] = forged[0] == '0' ? '1' : '0';
    db_event_set(o, b_chain, 1, "hash", forged);
    code = th_orgd_check(o, false, out, sizeof out);
    snprintf(want, sizeof want, "chain %s: seq 1", b_chain);
    if (code != 1 || strstr(out, "broken_chain") == NULL || strstr(out, want) == NULL)
        fail_msg("an edited hash: orgd check exited %d, expected 1 naming \"%s\":\n%s", code, want,
                 out);
    if (strstr(out, a_chain) != NULL)
        fail_msg("orgd check blames %s, which is intact again:\n%s", a_chain, out);
    snprintf(a_events, sizeof a_events, "/organization/%s/events", b.id);
    text = ndjson_text(o, a_events, b.token);
    expect_python_refuses(text, b.id, 1);
    free(text);
    db_event_set(o, b_chain, 1, "hash", hash);
    th_expect_check_clean(o);

    /* (3) A's middle event (seq 2 of 3) deleted: the chain breaks where it
     * was (seq 3 no longer follows seq 1) */
    bson_t *kept = db_event_doc(o, a_chain, 2);
    db_event_delete(o, a_chain, 2);
    code = th_orgd_check(o, false, out, sizeof out);
    snprintf(want, sizeof want, "chain %s: seq 3", a_chain);
    char want2[128];
    snprintf(want2, sizeof want2, "chain %s: seq 2", a_chain);
    if (code != 1 || strstr(out, "broken_chain") == NULL ||
        (strstr(out, want) == NULL && strstr(out, want2) == NULL))
        fail_msg("a deleted event: orgd check exited %d, expected 1 naming \"%s\":\n%s", code, want,
                 out);
    events_path(a_events, sizeof a_events, a_id);
    text = ndjson_text(o, a_events, owner.t.access);
    expect_python_refuses(text, a_id, 3);
    free(text);
    db_event_put_back(o, kept);
    bson_destroy(kept);
    th_expect_check_clean(o);
    text = ndjson_text(o, a_events, owner.t.access);
    expect_python_verifies(text, a_id, 3, NULL);
    free(text);

    expect_no_secret_in_events(o, NULL);
    stop_orgd(o);
    free(original);
    free(edited);
    free(hash);
    free(forged);
    th_tenant_free(&b);
}

/* ---- 3. concurrency ---- */

/* Fails unless the org's chain verifies (API and Python), holds `n`
 * events, and no seq is stored twice. Returns the events (oldest first). */
static json_t *expect_one_line(const struct th_orgd *o, const char *org_id, const char *token,
                               size_t n)
{
    char path[160], chain[64];
    events_path(path, sizeof path, org_id);
    char *text = ndjson_text(o, path, token);
    json_t *all = ndjson_parse(text);
    if (json_array_size(all) != n)
        fail_msg("%s: %zu events, expected %zu", path, json_array_size(all), n);
    expect_python_verifies(text, org_id, n, NULL);
    free(text);
    chain_of_org(org_id, chain, sizeof chain);
    assert_int_equal(db_count_events(o, chain, NULL, NULL), n);
    return all;
}

/* The descriptions an org's org.updated events record, in seq order, must
 * follow one another: each change's `before` is the previous one's
 * `after`. A writer whose change came second must not be logged first. */
static void expect_descriptions_follow(const json_t *all, const char *first)
{
    const char *last = first;
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        if (strcmp(th_json_str(ev, "action"), "org.updated") != 0)
            continue;
        json_t *d = json_object_get(json_object_get(ev, "changes"), "description");
        const char *before = json_string_value(json_array_get(d, 0));
        if (before == NULL || last == NULL || strcmp(before, last) != 0) {
            char *text = dump(ev);
            fail_msg("seq %lld changes the description from \"%s\", but the log's previous "
                     "change left \"%s\": %s",
                     (long long)json_integer_value(json_object_get(ev, "seq")),
                     before ? before : "null", last ? last : "null", text);
        }
        last = json_string_value(json_array_get(d, 1));
    }
}

/* Twenty requests writing events of one org, released together: twenty
 * invitations, then twenty description changes. Every invitation gets its
 * event, every change that answered 200 gets one and no other does, and the
 * chain stays one line: seq 1, 2, 3... once each, every hash verifying. */
static void twenty_writers_at_once_keep_one_chain(void **state)
{
    (void)state;
    const struct th_orgd *o = &th_shared_orgd;
    struct th_account owner;
    char org_id[32], org_name[64], tag[32];
    th_account_new(o, "owner", &owner);
    th_org_new(o, owner.t.access, "Race", org_id, org_name);
    th_unique("r", tag, sizeof tag);
    struct th_call calls[20];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 20; i++) {
        calls[i].o = o;
        calls[i].method = "POST";
        calls[i].token = owner.t.access;
        snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s/invite", org_id);
        snprintf(calls[i].body, sizeof calls[i].body, "{\"email\":\"%s_%d@example.com\"}", tag, i);
    }
    th_race(calls, 20);
    for (int i = 0; i < 20; i++) {
        if (calls[i].status != 201)
            fail_msg("invitation %d answered %ld", i, calls[i].status);
    }
    json_t *all = expect_one_line(o, org_id, owner.t.access, 21);
    json_t *invited = filtered(all, "invitation.created");
    assert_int_equal(json_array_size(invited), 20);
    for (int i = 0; i < 20; i++) {
        char email[96];
        snprintf(email, sizeof email, "%s_%d@example.com", tag, i);
        size_t k, found = 0;
        json_t *ev;
        json_array_foreach(invited, k, ev)
        {
            json_t *e = json_object_get(json_object_get(ev, "changes"), "email");
            found += strcmp(json_string_value(json_array_get(e, 1)), email) == 0;
        }
        if (found != 1)
            fail_msg("the invitation of %s has %zu events", email, found);
    }
    json_decref(invited);
    json_decref(all);

    for (int i = 0; i < 20; i++) {
        calls[i].method = "PUT";
        snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s", org_id);
        snprintf(calls[i].body, sizeof calls[i].body, "{\"description\":\"change %d\"}", i);
    }
    th_race(calls, 20);
    size_t ok = 0;
    for (int i = 0; i < 20; i++) {
        if (calls[i].status == 200)
            ok++;
        else
            th_race_expect_lost(&calls[i], "a description change", 1);
    }
    assert_true(ok >= 1);
    all = expect_one_line(o, org_id, owner.t.access, 21 + ok);
    json_t *updated = filtered(all, "org.updated");
    if (json_array_size(updated) != ok)
        fail_msg("%zu description changes answered 200, and the log has %zu of them", ok,
                 json_array_size(updated));
    for (int i = 0; i < 20; i++) {
        char after[32];
        snprintf(after, sizeof after, "change %d", i);
        size_t k, found = 0;
        json_t *ev;
        json_array_foreach(updated, k, ev)
        {
            json_t *d = json_object_get(json_object_get(ev, "changes"), "description");
            found += strcmp(json_string_value(json_array_get(d, 1)), after) == 0;
        }
        if (found != (calls[i].status == 200 ? 1u : 0u))
            fail_msg("\"%s\" answered %ld and has %zu events", after, calls[i].status, found);
    }
    expect_descriptions_follow(all, "");
    json_decref(updated);
    json_decref(all);

    /* twenty role changes of one member at once, to admin and back: each
     * role_changed event starts from the role the one before it left (a
     * membership's events are in the order of its writes), and the last
     * one says the role it has; `orgd check` compares the two */
    struct th_account member;
    th_member_new(o, owner.t.access, org_id, "member", "racer", &member);
    for (int i = 0; i < 20; i++) {
        calls[i].method = "PATCH";
        snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s/members/%s", org_id,
                 member.id);
        snprintf(calls[i].body, sizeof calls[i].body, "{\"role\":\"%s\"}",
                 i % 2 ? "member" : "admin");
    }
    th_race(calls, 20);
    for (int i = 0; i < 20; i++) {
        if (calls[i].status != 200)
            th_race_expect_lost(&calls[i], "a role change", 1);
    }
    char path[200];
    snprintf(path, sizeof path, "/organization/%s", org_id);
    json_t *org = th_expect_json(o, "GET", path, owner.t.access, NULL, 200);
    const char *role = NULL;
    size_t k;
    json_t *m;
    json_array_foreach(json_object_get(org, "members"), k, m)
    {
        if (strcmp(th_json_str(m, "id"), member.id) == 0)
            role = th_json_str(m, "role");
    }
    assert_non_null(role);
    events_path(path, sizeof path, org_id);
    all = events_of(o, path, owner.t.access);
    json_t *changed = filtered(all, "member.role_changed");
    const char *last = "member";
    json_t *ev;
    json_array_foreach(changed, k, ev)
    {
        json_t *r = json_object_get(json_object_get(ev, "changes"), "role");
        const char *before = json_string_value(json_array_get(r, 0));
        const char *after = json_string_value(json_array_get(r, 1));
        if (before == NULL || after == NULL || strcmp(before, last) != 0 ||
            strcmp(before, after) == 0) {
            char *text = dump(ev);
            fail_msg("seq %lld changes the role from %s to %s, but the log's previous change "
                     "left %s: %s",
                     (long long)json_integer_value(json_object_get(ev, "seq")),
                     before ? before : "null", after ? after : "null", last, text);
        }
        last = after;
    }
    if (strcmp(last, role) != 0)
        fail_msg("the member is %s, and the log's last role change says %s", role, last);
    json_decref(changed);
    json_decref(all);
    json_decref(org);
    th_expect_check_clean(&th_shared_orgd);
}

/* Two orgd instances on one database, each remembering the chain's head
 * it last wrote: rounds of invitations and description changes split
 * between them, released together. Neither may fork the chain or lose an
 * event, whatever head it remembered. */
static void two_instances_at_once_keep_one_chain(void **state)
{
    (void)state;
    const struct th_orgd *a = &th_shared_orgd;
    struct th_orgd *b = &th_own_orgd;
    th_orgd_init(b, NULL);
    snprintf(b->db, sizeof b->db, "%s", a->db);
    snprintf(b->secret, sizeof b->secret, "%s", a->secret);
    assert_true(th_orgd_start(b, NULL));
    struct th_account owner;
    char org_id[32], org_name[64], tag[32];
    th_account_new(a, "owner", &owner);
    th_org_new(a, owner.t.access, "Twin", org_id, org_name);
    size_t expected = 1, changes = 0;
    for (int round = 0; round < 3; round++) {
        th_unique("t", tag, sizeof tag);
        struct th_call calls[20];
        memset(calls, 0, sizeof calls);
        for (int i = 0; i < 20; i++) {
            calls[i].o = i % 2 ? b : a;
            calls[i].token = owner.t.access;
            if (i < 14) {
                calls[i].method = "POST";
                snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s/invite", org_id);
                snprintf(calls[i].body, sizeof calls[i].body, "{\"email\":\"%s_%d@example.com\"}",
                         tag, i);
            } else {
                calls[i].method = "PUT";
                snprintf(calls[i].path, sizeof calls[i].path, "/organization/%s", org_id);
                snprintf(calls[i].body, sizeof calls[i].body,
                         "{\"description\":\"round %d change %d\"}", round, i);
            }
        }
        th_race(calls, 20);
        for (int i = 0; i < 20; i++) {
            if (i < 14 && calls[i].status != 201)
                fail_msg("round %d: invitation %d answered %ld", round, i, calls[i].status);
            if (i >= 14 && calls[i].status == 200)
                changes++;
            else if (i >= 14)
                th_race_expect_lost(&calls[i], "a description change", round);
        }
        expected += 14;
        json_t *all = expect_one_line(a, org_id, owner.t.access, expected + changes);
        json_decref(all);
        /* both instances stream the same log */
        char path[160];
        events_path(path, sizeof path, org_id);
        char *from_a = ndjson_text(a, path, owner.t.access);
        char *from_b = ndjson_text(b, path, owner.t.access);
        assert_string_equal(from_a, from_b);
        free(from_a);
        free(from_b);
    }
    json_t *all = expect_one_line(a, org_id, owner.t.access, expected + changes);
    json_t *updated = filtered(all, "org.updated");
    assert_int_equal(json_array_size(updated), changes);
    expect_descriptions_follow(all, "");
    json_decref(updated);
    json_decref(all);
    stop_orgd(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_chain_verifies_from_the_api_alone),
        cmocka_unit_test(the_paged_listing_shows_the_same_events),
        cmocka_unit_test(reading_the_log_is_for_owners_and_admins),
        cmocka_unit_test_teardown(check_finds_an_edited_or_deleted_event, th_own_orgd_stop),
        cmocka_unit_test(twenty_writers_at_once_keep_one_chain),
        cmocka_unit_test_teardown(two_instances_at_once_keep_one_chain, th_own_orgd_stop),
        cmocka_unit_test(no_event_holds_a_secret),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
