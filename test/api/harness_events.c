/* harness_events.c — the audit log as the test_events* programs look at
 * it: see harness_events.h. */
#include "harness_events.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* ---- requests whose answer a test looks at ---- */

void answer_free(struct answer *a)
{
    json_decref(a->json);
    a->json = NULL;
}

void step_from(const struct th_orgd *o, const char *source, const char *method, const char *path,
               const char *token, json_t *body, long want, struct answer *a)
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

void step(const struct th_orgd *o, const char *method, const char *path, const char *token,
          json_t *body, long want, struct answer *a)
{
    step_from(o, NULL, method, path, token, body, want, a);
}

json_t *pair(const char *before, const char *after)
{
    return json_pack("[s?, s?]", before, after);
}

char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* ---- reading the log as a client does ---- */

char *ndjson_text(const struct th_orgd *o, const char *path, const char *token)
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

json_t *ndjson_parse(const char *text)
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

json_t *events_of(const struct th_orgd *o, const char *path, const char *token)
{
    char *text = ndjson_text(o, path, token);
    json_t *all = ndjson_parse(text);
    free(text);
    return all;
}

json_t *filtered(const json_t *all, const char *action)
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

char *as_ndjson(const json_t *events)
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

/* ---- verifying a chain in Python, from its rendering alone ---- */

int verify_in_python(const char *text, const char *org_id, char *out, size_t cap)
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

void expect_python_verifies(const char *text, const char *org_id, size_t n, const char *head)
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

json_t *db_events(const struct th_orgd *o, const char *chain, const char *action,
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

size_t db_count_events(const struct th_orgd *o, const char *chain, const char *action,
                       const char *needle)
{
    json_t *evs = db_events(o, chain, action, needle);
    size_t n = json_array_size(evs);
    json_decref(evs);
    return n;
}

void chain_of_org(const char *org_id, char *out, size_t cap)
{
    snprintf(out, cap, "org:%s", org_id);
}

size_t expect_every_chain_verifies(const struct th_orgd *o)
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

/* ---- what an event must say ---- */

void actor_set(struct actor *a, const char *account_id, const char *session_id,
               const char *request_id, const char *client)
{
    memset(a, 0, sizeof *a);
    snprintf(a->account_id, sizeof a->account_id, "%s", account_id);
    snprintf(a->session_id, sizeof a->session_id, "%s", session_id ? session_id : "");
    snprintf(a->request_id, sizeof a->request_id, "%s", request_id);
    snprintf(a->client, sizeof a->client, "%s", client);
}

const struct actor RECOVERY = {.system = true};

static json_t *actor_json(const struct actor *a)
{
    if (a->system)
        return json_pack("{s:s}", "system", "recovery");
    return json_pack("{s:s, s:s?, s:s, s:s}", "account_id", a->account_id, "session_id",
                     a->session_id[0] ? a->session_id : NULL, "request_id", a->request_id,
                     "client_address", a->client);
}

void expect_event(const json_t *ev, const char *action, const char *org_id, const char *target_type,
                  const char *target_id, const struct actor *who, json_t *want, json_t *may)
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

size_t expect_no_secret_in_events(const struct th_orgd *o, const char *const *also)
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

void no_event_holds_a_secret(void **state)
{
    (void)state;
    size_t n = expect_no_secret_in_events(&th_shared_orgd, NULL);
    printf("# %zu events read, none holds a secret\n", n);
    size_t chains = expect_every_chain_verifies(&th_shared_orgd);
    printf("# %zu chains verified by verify_chain.py\n", chains);
}

/* ---- processes ---- */

void stop_orgd(struct th_orgd *o)
{
    const char *close_it[] = {"Connection: close", NULL};
    struct th_resp r;
    if (th_http(o, "GET", "/healthz", NULL, NULL, NULL, 0, close_it, &r))
        th_resp_free(&r);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* ---- an org's path helpers ---- */

void events_path(char *out, size_t cap, const char *org_id)
{
    snprintf(out, cap, "/organization/%s/events", org_id);
}
