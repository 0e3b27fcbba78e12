/* What each main route costs the database, in round trips, and the
 * session cache that saves authenticated requests one of them.
 *
 * orgd counts the commands each request sends (the driver's command
 * monitoring) and writes the count into the request's log line
 * (db_commands). This test sends one request per route with its own
 * X-Request-Id, reads the count back from the log and holds it to a budget:
 * an authorized read of an organization is two round trips, the session
 * check included; the writes are held to what they cost today, so that a
 * change that adds one is noticed. The throttling settings are production's
 * (the harness turns them off by default), so the counts are the ones a
 * deployment pays. The budgets are for a session cache miss
 * (SESSION_CACHE_MS=0); a warm cache saves the session read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static struct th_orgd own;

/* Sends one request and returns its round trips, failing the test unless
 * it answered `status`, spent at most `budget` on its own work, and at
 * most one more on the audit log for a write, none for a read (the log
 * line's events_db_commands, which db_commands includes). body (JSON) may
 * be NULL. */
static long costs(const char *what, const char *method, const char *path, const char *token,
                  const char *body, long status, long budget, struct th_resp *keep)
{
    static int n;
    char id[64], header[96];
    snprintf(id, sizeof id, "rt-%d-%08x", ++n, (unsigned)rand());
    snprintf(header, sizeof header, "X-Request-Id: %s", id);
    const char *headers[] = {header, NULL};
    struct th_resp r;
    assert_true(
        th_http(&own, method, path, token, NULL, body, body ? strlen(body) : 0, headers, &r));
    if (r.status != status)
        fail_msg("%s: %s %s answered %ld, not %ld: %s", what, method, path, r.status, status,
                 r.body);
    json_t *line = th_request_log_line(&own, id);
    if (line == NULL)
        fail_msg("%s: no log line for request %s", what, id);
    json_t *n_commands = json_object_get(line, "db_commands");
    assert_true(json_is_integer(n_commands));
    long all = (long)json_integer_value(n_commands);
    long events = (long)json_integer_value(json_object_get(line, "events_db_commands"));
    long got = all - events;
    json_decref(line);
    bool read = strcmp(method, "GET") == 0;
    printf("# %-44s %2ld round trips (budget %ld), and %ld for the audit log\n", what, got, budget,
           events);
    if (got > budget)
        fail_msg("%s costs %ld database round trips; its budget is %ld", what, got, budget);
    if (events > (read ? 0 : 1))
        fail_msg("%s costs the audit log %ld round trips; at most %d", what, events, read ? 0 : 1);
    if (keep != NULL)
        *keep = r;
    else
        th_resp_free(&r);
    return got;
}

static char *string_of(const struct th_resp *r, const char *key)
{
    const char *v = json_string_value(json_object_get(r->json, key));
    assert_non_null(v);
    return strdup(v);
}

static void routes_cost_what_they_should(void **state)
{
    (void)state;
    th_orgd_init(&own, NULL);
    /* production's throttling: its counters are part of what a login costs */
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=10",
                         "LOGIN_FAILURES_PER_ADDRESS=100",
                         "SIGNUPS_PER_ADDRESS=20",
                         "ORG_CREATES_PER_ADDRESS=20",
                         "SESSION_CACHE_MS=0",
                         NULL};
    assert_true(th_orgd_start(&own, env));
    struct th_tenant t;
    th_tenant_new(&own, &t, "Rt");
    char path[256], body[512];

    /* reads: two round trips, the session check included */
    costs("GET /healthz", "GET", "/healthz", NULL, NULL, 200, 0, NULL);
    snprintf(path, sizeof path, "/org/%s", t.name);
    long read = costs("GET /org/{name} (org token)", "GET", path, t.token, NULL, 200, 2, NULL);
    assert_int_equal(read, 2); /* the session, the org: no fewer can prove both */
    snprintf(path, sizeof path, "/org/get?organization_name=%s", t.name);
    costs("GET /org/get (org token)", "GET", path, t.token, NULL, 200, 2, NULL);
    costs("GET /auth/check (org token)", "GET", "/auth/check", t.token, NULL, 200, 4, NULL);

    /* the account-first flow */
    char email[96], name[64];
    th_fresh_email("rtacct", email, sizeof email);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, TU_PASSWORD);
    costs("POST /auth/signup", "POST", "/auth/signup", NULL, body, 201, 4, NULL);
    struct th_resp r;
    /* the attempt's places in the throttle's counts (one insert of both),
     * the counts (one aggregate), the account, the places given back, the
     * session: a burst of guesses is counted before any is hashed */
    costs("POST /auth/signin", "POST", "/auth/signin", NULL, body, 200, 5, &r);
    char *account = string_of(&r, "access_token");
    char *refresh = string_of(&r, "refresh_token");
    th_resp_free(&r);
    th_unique("RtById", name, sizeof name);
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"description\":\"d\"}", name);
    costs("POST /organization/", "POST", "/organization/", account, body, 201, 14, &r);
    char *org_id = string_of(&r, "id");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/org/%s", name);
    costs("GET /org/{name} (account token)", "GET", path, account, NULL, 200, 3, NULL);
    snprintf(path, sizeof path, "/organization/%s", org_id);
    costs("GET /organization/{id} (with members)", "GET", path, account, NULL, 200, 5, NULL);
    costs("GET /organization/", "GET", "/organization/", account, NULL, 200, 3, NULL);
    snprintf(path, sizeof path, "/organization/%s/members", org_id);
    costs("GET /organization/{id}/members", "GET", path, account, NULL, 200, 5, NULL);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    costs("POST /auth/refresh_token", "POST", "/auth/refresh_token", NULL, body, 200, 4, NULL);

    /* logins and the org-first writes */
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", t.email, TU_PASSWORD);
    /* the membership is read again after the session's insert (a removal
     * racing the login must not leave it a session) */
    costs("POST /admin/login", "POST", "/admin/login", NULL, body, 200, 8, NULL);
    char renamed[64];
    th_unique("RtNew", renamed, sizeof renamed);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", renamed);
    costs("PUT /org/update (rename)", "PUT", "/org/update", t.token, body, 200, 12, NULL);
    char other[64], other_email[96];
    th_unique("RtMade", other, sizeof other);
    snprintf(other_email, sizeof other_email, "%s@example.com", other);
    th_lower(other_email);
    snprintf(body, sizeof body,
             "{\"organization_name\":\"%s\",\"email\":\"%s\",\"password\":\"%s\"}", other,
             other_email, TU_PASSWORD);
    costs("POST /org/create", "POST", "/org/create", NULL, body, 201, 13, NULL);
    snprintf(path, sizeof path, "/org/delete/%s", renamed);
    costs("DELETE /org/delete/{name}", "DELETE", path, t.token, NULL, 204, 19, NULL);
    snprintf(path, sizeof path, "/organization/%s", org_id);
    costs("DELETE /organization/{id}", "DELETE", path, account, NULL, 204, 19, NULL);
    /* the session, the session again with its refresh hash, the claim of
     * that hash (so that no refresh in flight can write the session back
     * active: sessions.c end_one), the revocation */
    costs("POST /auth/logout", "POST", "/auth/logout", account, NULL, 204, 4, NULL);
    free(account);
    free(refresh);
    free(org_id);
    th_tenant_free(&t);
    th_expect_check_clean(&own);
    assert_int_equal(th_orgd_stop(&own), 0);
}

/* With the cache on (the default), a session seen live a moment ago is not
 * read again: a warm authorized read is one round trip, the org. */
static void a_cached_session_saves_a_round_trip(void **state)
{
    (void)state;
    th_orgd_init(&own, NULL);
    assert_true(th_orgd_start(&own, NULL));
    struct th_tenant t;
    th_tenant_new(&own, &t, "Warm");
    char path[128];
    snprintf(path, sizeof path, "/org/%s", t.name);
    costs("GET /org/{name} (first)", "GET", path, t.token, NULL, 200, 2, NULL);
    long warm = costs("GET /org/{name} (warm)", "GET", path, t.token, NULL, 200, 1, NULL);
    assert_int_equal(warm, 1);
    /* ended here, forgotten here: the very next request is refused */
    costs("POST /auth/logout", "POST", "/auth/logout", t.token, NULL, 204, 3, NULL);
    costs("GET /org/{name} (logged out)", "GET", path, t.token, NULL, 401, 1, NULL);
    th_tenant_free(&t);
    assert_int_equal(th_orgd_stop(&own), 0);
}

/* The price of the cache, as documented: a session ended on another
 * instance is refused here within SESSION_CACHE_MS; with 0, at once. */
static void another_instance_refuses_within_the_staleness(void **state)
{
    (void)state;
    struct th_orgd a, b, c;
    th_orgd_init(&a, NULL);
    assert_true(th_orgd_start(&a, NULL));
    const char *cached[] = {"SESSION_CACHE_MS=800", NULL};
    const char *uncached[] = {"SESSION_CACHE_MS=0", NULL};
    th_orgd_init(&b, NULL);
    th_orgd_init(&c, NULL);
    memcpy(b.db, a.db, sizeof b.db);
    memcpy(b.secret, a.secret, sizeof b.secret);
    memcpy(c.db, a.db, sizeof c.db);
    memcpy(c.secret, a.secret, sizeof c.secret);
    assert_true(th_orgd_start(&b, cached));
    assert_true(th_orgd_start(&c, uncached));
    struct th_tenant t;
    th_tenant_new(&a, &t, "Stale");
    char path[128];
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(&b, "GET", path, t.token, NULL), 200); /* b remembers it */
    assert_int_equal(th_status_of(&c, "GET", path, t.token, NULL), 200);
    assert_int_equal(th_status_of(&a, "POST", "/auth/logout", t.token, NULL), 204);
    int64_t ended = tu_now_ms();
    assert_int_equal(th_status_of(&c, "GET", path, t.token, NULL), 401); /* no cache: at once */
    long status = 200;
    while (status == 200 && tu_now_ms() - ended < 3000) {
        status = th_status_of(&b, "GET", path, t.token, NULL);
        if (status == 200)
            tu_sleep_ms(50);
    }
    int64_t took = tu_now_ms() - ended;
    printf("# the other instance refused the ended session after %lld ms (SESSION_CACHE_MS=800)\n",
           (long long)took);
    assert_int_equal(status, 401);
    assert_true(took <= 800 + 400); /* the window, plus a request's time */
    th_tenant_free(&t);
    assert_int_equal(th_orgd_stop(&c), 0);
    assert_int_equal(th_orgd_stop(&b), 0);
    assert_int_equal(th_orgd_stop(&a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_cost_what_they_should),
        cmocka_unit_test(a_cached_session_saves_a_round_trip),
        cmocka_unit_test(another_instance_refuses_within_the_staleness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
