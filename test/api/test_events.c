/* The audit log (issue 22), from outside orgd: every operation of both
 * flows writes exactly its events, in the chain they belong to, naming who
 * did it, from where and in which request; an operation refused writes
 * nothing. Each chain verifies from the API alone, in another language
 * (verify_chain.py, run by /usr/bin/python3); the paged listing and its
 * filters show the same events. `orgd check` finds an edited text, an
 * edited hash and a deleted event. Twenty writers at once, on one
 * instance or two, leave each chain one line. A crash at every fault point
 * of every operation leaves the event of an operation that completed once
 * and that of an undone one never. No event holds a password, a token, a
 * password hash or a webhook secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* Where the tests' requests come from: what an event's client_address must say. */
#define LOCAL "127.0.0.1"
/* A second loopback address (Linux routes 127/8 to lo), to show that the
 * client address is the peer's and not a constant. */
#define OTHER_ADDRESS "127.0.0.2"

/* ---- requests whose answer a test looks at ---- */

/* An answer: its status, its JSON (owned) and its X-Request-Id, which an
 * event written by the request must name. */
struct answer {
    long status;
    json_t *json;
    char request_id[80];
};

static void answer_free(struct answer *a)
{
    json_decref(a->json);
    a->json = NULL;
}

/* One request (body taken; NULL sends none) from `source` (NULL: the
 * default address), which must answer `want` with an X-Request-Id. */
static void step_from(const struct th_orgd *o, const char *source, const char *method,
                      const char *path, const char *token, json_t *body, long want,
                      struct answer *a)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct th_resp r;
    bool answered = source != NULL ? th_http_from(o, source, method, path, token, text, NULL, &r)
                                   : th_http_json(o, method, path, token, text, &r);
    if (!answered)
        fail_msg("%s %s: no answer", method, path);
    if (r.status != want)
        fail_msg("%s %s %s: expected %ld, got %ld: %s", method, path, text ? text : "", want,
                 r.status, r.body);
    free(text);
    memset(a, 0, sizeof *a);
    a->status = r.status;
    a->json = json_incref(r.json);
    if (!th_resp_header(&r, "X-Request-Id", a->request_id, sizeof a->request_id) ||
        a->request_id[0] == '\0')
        fail_msg("%s %s: an answer without X-Request-Id", method, path);
    th_resp_free(&r);
}

static void step(const struct th_orgd *o, const char *method, const char *path, const char *token,
                 json_t *body, long want, struct answer *a)
{
    step_from(o, NULL, method, path, token, body, want, a);
}

/* [before, after] as an event's changes hold them (NULL: null). */
static json_t *pair(const char *before, const char *after)
{
    return json_pack("[s?, s?]", before, after);
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* ---- reading the log as a client does ---- */

/* GET path with Accept: application/x-ndjson, which must answer 200 in
 * that type, each line ended by a newline (a stream cut short has no
 * last newline). The raw text: caller frees. */
static char *ndjson_text(const struct th_orgd *o, const char *path, const char *token)
{
    const char *accept[] = {"Accept: application/x-ndjson", NULL};
    struct th_resp r;
    if (!th_http(o, "GET", path, token, NULL, NULL, 0, accept, &r))
        fail_msg("GET %s as NDJSON: no answer", path);
    if (r.status != 200)
        fail_msg("GET %s as NDJSON answered %ld: %s", path, r.status, r.body);
    char ct[128] = "";
    th_resp_header(&r, "Content-Type", ct, sizeof ct);
    if (strncmp(ct, "application/x-ndjson", 20) != 0)
        fail_msg("GET %s as NDJSON answered Content-Type \"%s\"", path, ct);
    if (r.len > 0 && r.body[r.len - 1] != '\n')
        fail_msg("GET %s as NDJSON: the stream ends mid-line: %s", path, r.body);
    char *text = strdup(r.body);
    th_resp_free(&r);
    return text;
}

/* The events of an NDJSON text, in its order (a new array). */
static json_t *ndjson_parse(const char *text)
{
    json_t *all = json_array();
    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        json_error_t err;
        json_t *ev = json_loadb(p, len, 0, &err);
        if (!json_is_object(ev))
            fail_msg("an NDJSON line that is no JSON object (%s): %.*s", err.text, (int)len, p);
        json_array_append_new(all, ev);
        p += len + (eol != NULL);
    }
    return all;
}

/* The whole log at path, oldest first (NDJSON). */
static json_t *events_of(const struct th_orgd *o, const char *path, const char *token)
{
    char *text = ndjson_text(o, path, token);
    json_t *all = ndjson_parse(text);
    free(text);
    return all;
}

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

/* The events of `all` whose action is `action`, or of its family when it
 * ends in ".*". */
static json_t *filtered(const json_t *all, const char *action)
{
    json_t *out = json_array();
    size_t len = strlen(action), i;
    bool family = len > 2 && strcmp(action + len - 2, ".*") == 0;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a != NULL && (family ? strncmp(a, action, len - 1) == 0 : strcmp(a, action) == 0))
            json_array_append(out, ev);
    }
    return out;
}

/* ---- verifying a chain in Python, from its rendering alone ---- */

/* Runs verify_chain.py on an NDJSON text (org_id NULL: any org); its exit
 * code, its one line of output into out. */
static int verify_in_python(const char *text, const char *org_id, char *out, size_t cap)
{
    const char *dir = getenv("ORGD_TEST_LOG_DIR");
    char file[600], cmd[1600];
    snprintf(file, sizeof file, "%s/events-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/test/api/verify_chain.py' '%s' '%s' 2>&1",
             th_source_dir(), file, org_id != NULL ? org_id : "-");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, cap - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    unlink(file);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Fails unless verify_chain.py accepts text as a whole chain of n events
 * of org_id (NULL: any) whose head is `head` (NULL: not checked). */
static void expect_python_verifies(const char *text, const char *org_id, size_t n, const char *head)
{
    char out[8192];
    int code = verify_in_python(text, org_id, out, sizeof out);
    if (code != 0)
        fail_msg("verify_chain.py refused the chain (exit %d): %s", code, out);
    json_t *j = json_loads(out, 0, NULL);
    if (json_integer_value(json_object_get(j, "events")) != (json_int_t)n)
        fail_msg("verify_chain.py verified %s; expected %zu events", out, n);
    const char *h = json_string_value(json_object_get(j, "head"));
    if (head != NULL && (h == NULL || strcmp(h, head) != 0))
        fail_msg("verify_chain.py ends at head %s, not %s", h ? h : "null", head);
    json_decref(j);
}

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

/* An event document rendered as the API renders it: its canonical
 * members, plus id and hash. */
static json_t *render_doc(const bson_t *doc)
{
    bson_iter_t it;
    const char *canonical = NULL, *hash = NULL;
    char id[25] = "";
    if (bson_iter_init_find(&it, doc, "canonical") && BSON_ITER_HOLDS_UTF8(&it))
        canonical = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "hash") && BSON_ITER_HOLDS_UTF8(&it))
        hash = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it))
        bson_oid_to_string(bson_iter_oid(&it), id);
    json_t *ev = canonical != NULL ? json_loads(canonical, 0, NULL) : NULL;
    if (!json_is_object(ev) || hash == NULL || id[0] == '\0') {
        char *text = bson_as_relaxed_extended_json(doc, NULL);
        fail_msg("an event document without canonical text, hash or id: %s", text);
    }
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "hash", json_string(hash));
    return ev;
}

/* The stored events matching: in `chain` and of `action` when not NULL,
 * and whose canonical text holds `needle` when not NULL; by chain, then
 * seq; rendered (a new array). */
static json_t *db_events(const struct th_orgd *o, const char *chain, const char *action,
                         const char *needle)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t filter = BSON_INITIALIZER;
    if (chain != NULL)
        BSON_APPEND_UTF8(&filter, "chain", chain);
    if (action != NULL)
        BSON_APPEND_UTF8(&filter, "action", action);
    bson_t *opts = BCON_NEW("sort", "{", "chain", BCON_INT32(1), "seq", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    json_t *out = json_array();
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        const char *canonical =
            bson_iter_init_find(&it, doc, "canonical") && BSON_ITER_HOLDS_UTF8(&it)
                ? bson_iter_utf8(&it, NULL)
                : "";
        if (needle == NULL || strstr(canonical, needle) != NULL)
            json_array_append_new(out, render_doc(doc));
    }
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e))
        fail_msg("reading events: %s", e.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return out;
}

static size_t db_count_events(const struct th_orgd *o, const char *chain, const char *action,
                              const char *needle)
{
    json_t *evs = db_events(o, chain, action, needle);
    size_t n = json_array_size(evs);
    json_decref(evs);
    return n;
}

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

/* The events of a list as NDJSON (caller frees). */
static char *as_ndjson(const json_t *events)
{
    char *out = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&out, &len);
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        char *line = json_dumps(ev, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    return out;
}

static void chain_of_org(const char *org_id, char *out, size_t cap)
{
    snprintf(out, cap, "org:%s", org_id);
}

static void chain_of_account(const char *account_id, char *out, size_t cap)
{
    snprintf(out, cap, "account:%s", account_id);
}

/* Every chain of o's database, as stored, verified by verify_chain.py:
 * what someone holding a dump of the log (and nothing of orgd) can do.
 * Returns how many chains there are. */
static size_t expect_every_chain_verifies(const struct th_orgd *o)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t empty = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("sort", "{", "chain", BCON_INT32(1), "seq", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &empty, opts, NULL);
    size_t chains = 0;
    char chain[80] = "";
    json_t *one = json_array();
    const bson_t *doc;
    bool more;
    do {
        more = mongoc_cursor_next(cur, &doc);
        bson_iter_t it;
        const char *next =
            more && bson_iter_init_find(&it, doc, "chain") && BSON_ITER_HOLDS_UTF8(&it)
                ? bson_iter_utf8(&it, NULL)
                : "";
        if ((!more || strcmp(next, chain) != 0) && json_array_size(one) > 0) {
            /* the end of a chain: verify it, with its org when it is one's */
            char *text = as_ndjson(one);
            expect_python_verifies(text, strncmp(chain, "org:", 4) == 0 ? chain + 4 : NULL,
                                   json_array_size(one), NULL);
            free(text);
            json_array_clear(one);
            chains++;
        }
        if (more) {
            snprintf(chain, sizeof chain, "%s", next);
            json_array_append_new(one, render_doc(doc));
        }
    } while (more);
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e))
        fail_msg("reading events: %s", e.message);
    json_decref(one);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return chains;
}

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

/* ---- what an event must say ---- */

/* Who an event must name: an account acting in a request (its session,
 * or "" for none), or the system (recovery). */
struct actor {
    bool system;
    char account_id[32];
    char session_id[32];
    char request_id[80];
    char client[48];
};

static void actor_set(struct actor *a, const char *account_id, const char *session_id,
                      const char *request_id, const char *client)
{
    memset(a, 0, sizeof *a);
    snprintf(a->account_id, sizeof a->account_id, "%s", account_id);
    snprintf(a->session_id, sizeof a->session_id, "%s", session_id ? session_id : "");
    snprintf(a->request_id, sizeof a->request_id, "%s", request_id);
    snprintf(a->client, sizeof a->client, "%s", client);
}

static const struct actor RECOVERY = {.system = true};

static json_t *actor_json(const struct actor *a)
{
    if (a->system)
        return json_pack("{s:s}", "system", "recovery");
    return json_pack("{s:s, s:s?, s:s, s:s}", "account_id", a->account_id, "session_id",
                     a->session_id[0] ? a->session_id : NULL, "request_id", a->request_id,
                     "client_address", a->client);
}

/* Fails unless ev is `action` on (target_type, target_id) in org_id's
 * chain (NULL: an account's, org_id null), by `who`, written just now,
 * with exactly the changes `want` (taken) plus, optionally, those of `may`
 * (taken, may be NULL): changes that may be recorded, each with the only
 * value it may have. */
static void expect_event(const json_t *ev, const char *action, const char *org_id,
                         const char *target_type, const char *target_id, const struct actor *who,
                         json_t *want, json_t *may)
{
    char *text = dump(ev);
    static const char *const members[] = {"org_id", "seq",     "at",        "actor", "action",
                                          "target", "changes", "prev_hash", "id",    "hash"};
    if (json_object_size(ev) != sizeof members / sizeof members[0])
        fail_msg("an event with other members than the hashed ones, id and hash: %s", text);
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        if (json_object_get(ev, members[i]) == NULL)
            fail_msg("an event without %s: %s", members[i], text);
    }
    const char *got = json_string_value(json_object_get(ev, "action"));
    if (got == NULL || strcmp(got, action) != 0)
        fail_msg("expected a %s event, got %s", action, text);
    const json_t *org = json_object_get(ev, "org_id");
    if (org_id != NULL ? !json_is_string(org) || strcmp(json_string_value(org), org_id) != 0
                       : !json_is_null(org))
        fail_msg("%s: expected org_id %s: %s", action, org_id ? org_id : "null", text);
    json_t *target = json_pack("{s:s, s:s}", "type", target_type, "id", target_id);
    if (!json_equal(json_object_get(ev, "target"), target))
        fail_msg("%s: expected target %s %s: %s", action, target_type, target_id, text);
    json_decref(target);
    json_t *actor = actor_json(who);
    if (!json_equal(json_object_get(ev, "actor"), actor)) {
        char *w = dump(actor);
        fail_msg("%s: expected actor %s: %s", action, w, text);
    }
    json_decref(actor);
    /* written now, by the clock orgd and this test share */
    int64_t at = th_epoch_ms(json_string_value(json_object_get(ev, "at")));
    int64_t now = (int64_t)time(NULL) * 1000;
    if (at > now + 5000 || at < now - 300000)
        fail_msg("%s: written at %lld, and it is %lld now: %s", action, (long long)at,
                 (long long)now, text);
    const json_t *changes = json_object_get(ev, "changes");
    if (!json_is_object(changes))
        fail_msg("%s: changes is no object: %s", action, text);
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        if (!json_equal(json_object_get(changes, k), v)) {
            char *w = dump(v);
            fail_msg("%s: expected changes.%s = %s: %s", action, k, w, text);
        }
    }
    json_object_foreach((json_t *)changes, k, v)
    {
        if (json_object_get(want, k) != NULL)
            continue;
        const json_t *allowed = may != NULL ? json_object_get(may, k) : NULL;
        if (allowed == NULL || !json_equal(allowed, v))
            fail_msg("%s: a change that should not be there (%s): %s", action, k, text);
    }
    json_decref(want);
    json_decref(may);
    free(text);
}

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

/* ---- no secret in an event ---- */

struct secret_scan {
    const char *text;
    char found[128];
};

static void scan_for(const char *secret, void *ud)
{
    struct secret_scan *s = ud;
    if (s->found[0] != '\0')
        return;
    const char *dot = strrchr(secret, '.');
    if (strstr(s->text, secret) != NULL ||
        (dot != NULL && strlen(dot + 1) >= 16 && strstr(s->text, dot + 1) != NULL))
        snprintf(s->found, sizeof s->found, "%.24s...", secret);
}

/* Fails if any stored event of o's database (the whole document, its
 * canonical text among it) holds a password a test sent, a token orgd
 * issued (or a JWT's signature), o's JWT secret, an argon2 hash, a webhook
 * secret (whsec_), or one of `also` (NULL-terminated, may be NULL); or if
 * there is no event to look at. Returns how many events were read. */
static size_t expect_no_secret_in_events(const struct th_orgd *o, const char *const *also)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, o->db, "events");
    bson_t empty = BSON_INITIALIZER;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &empty, NULL, NULL);
    const bson_t *doc;
    size_t n = 0;
    char found[512] = "";
    while (found[0] == '\0' && mongoc_cursor_next(cur, &doc)) {
        n++;
        char *text = bson_as_relaxed_extended_json(doc, NULL);
        struct secret_scan s = {text, ""};
        if (strstr(text, "$argon2") != NULL)
            snprintf(s.found, sizeof s.found, "an argon2 hash");
        else if (strstr(text, "whsec_") != NULL)
            snprintf(s.found, sizeof s.found, "a webhook secret");
        else if (strstr(text, o->secret) != NULL)
            snprintf(s.found, sizeof s.found, "the JWT secret");
        for (size_t i = 0; also != NULL && also[i] != NULL && s.found[0] == '\0'; i++) {
            if (strstr(text, also[i]) != NULL)
                snprintf(s.found, sizeof s.found, "%.24s...", also[i]);
        }
        if (s.found[0] == '\0')
            th_secrets_each(scan_for, &s);
        if (s.found[0] != '\0')
            snprintf(found, sizeof found, "%s in %.300s", s.found, text);
        bson_free(text);
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (found[0] != '\0')
        fail_msg("a secret in the audit log: %s", found);
    if (n == 0)
        fail_msg("no event in %s to look at: a scan of nothing proves nothing", o->db);
    return n;
}

/* ---- processes ---- */

/* Stops o, which must exit 0. Its shutdown waits for idle keep-alive
 * connections, and this thread's libcurl handle keeps one: one last
 * request with Connection: close ends it first, so that a stop takes
 * milliseconds, not seconds. */
static void stop_orgd(struct th_orgd *o)
{
    const char *close_it[] = {"Connection: close", NULL};
    struct th_resp r;
    if (th_http(o, "GET", "/healthz", NULL, NULL, NULL, 0, close_it, &r))
        th_resp_free(&r);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* ---- an org's path helpers ---- */

static void events_path(char *out, size_t cap, const char *org_id)
{
    snprintf(out, cap, "/organization/%s/events", org_id);
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

/* ---- 2. verifiable from the API alone; the listing shows the same ---- */

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

/* ---- 3. tampering is found ---- */

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

/* ---- 4. concurrency ---- */

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

/* ---- 5. crashes at every fault point ---- */

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

/* ---- 6. no secret in any event ---- */

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

/* Last on the shared orgd: every event the cases above wrote there, read
 * from the database, holds no password sent, no token received, no
 * password hash, no webhook secret. */
static void no_event_holds_a_secret(void **state)
{
    (void)state;
    size_t n = expect_no_secret_in_events(&th_shared_orgd, NULL);
    printf("# %zu events read, none holds a secret\n", n);
    size_t chains = expect_every_chain_verifies(&th_shared_orgd);
    printf("# %zu chains verified by verify_chain.py\n", chains);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_org_first_operation_writes_its_events),
        cmocka_unit_test(every_account_first_operation_writes_its_events),
        cmocka_unit_test(the_chain_verifies_from_the_api_alone),
        cmocka_unit_test(the_paged_listing_shows_the_same_events),
        cmocka_unit_test(reading_the_log_is_for_owners_and_admins),
        cmocka_unit_test_teardown(check_finds_an_edited_or_deleted_event, th_own_orgd_stop),
        cmocka_unit_test(twenty_writers_at_once_keep_one_chain),
        cmocka_unit_test_teardown(two_instances_at_once_keep_one_chain, th_own_orgd_stop),
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
        cmocka_unit_test_teardown(webhook_events_hold_no_signing_secret, th_own_orgd_stop),
        cmocka_unit_test(no_event_holds_a_secret),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
