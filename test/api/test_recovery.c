/* Crash safety: kill orgd at every step of create, rename and delete, and
 * take the database away mid-operation; the org ends fully there or fully
 * gone (a rename fully old or fully new, with every document), and
 * `orgd check` agrees. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static const char *const FAST_RECOVERY[] = {"RECOVERY_AGE_SECONDS=1", "RECOVERY_INTERVAL_SECONDS=1",
                                            NULL};

static int64_t orgs_not_active(const struct th_orgd *o)
{
    bson_t *f = BCON_NEW("state", "{", "$ne", BCON_UTF8("active"), "}");
    int64_t n = th_db_count(o, "organizations", f);
    bson_destroy(f);
    return n;
}

static bool wait_until_settled(const struct th_orgd *o, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        if (orgs_not_active(o) == 0)
            return true;
        tu_sleep_ms(100);
    }
    return false;
}

/* ---- kill at every step ---- */

enum op { OP_CREATE, OP_RENAME, OP_DELETE };

static void crash_at(const char *point, enum op op)
{
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    struct th_tenant t = {0};
    char coll[96], new_name[64], new_coll[96], body[512], path[256];
    th_unique("New", new_name, sizeof new_name);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    if (op != OP_CREATE) {
        assert_true(th_orgd_start(&o, NULL));
        th_tenant_new(&o, &t, "Crash");
        th_collection_of(t.name, coll, sizeof coll);
        assert_true(th_db_insert_docs(&o, coll, 25, "keep"));
        assert_int_equal(th_orgd_stop(&o), 0);
    }

    /* the test build, armed */
    struct th_orgd crashy = o;
    crashy.binary = th_orgd_faults_bin();
    char arm[96];
    snprintf(arm, sizeof arm, "FAULT_POINT=%s", point);
    const char *env[] = {arm, NULL};
    assert_true(th_orgd_start(&crashy, env));
    struct th_resp r;
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", new_name);
    th_lower(email);
    if (op == OP_CREATE) {
        snprintf(body, sizeof body,
                 "{\"organization_name\":\"%s\",\"email\":\"%s\",\"password\":\"%s\"}", new_name,
                 email, TU_PASSWORD);
        th_http_json(&crashy, "POST", "/org/create", NULL, body, &r);
    } else if (op == OP_RENAME) {
        snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", new_name);
        th_http_json(&crashy, "PUT", "/org/update", t.token, body, &r);
    } else {
        snprintf(path, sizeof path, "/org/delete/%s", t.name);
        th_http_json(&crashy, "DELETE", path, t.token, NULL, &r);
    }
    th_resp_free(&r);
    assert_int_equal(th_orgd_wait(&crashy, 15000), 128 + 9); /* SIGKILL at the fault point */
    assert_true(th_orgd_log_contains(&crashy, point));
    /* it died mid-operation: the org is in a transitional state */
    assert_int_equal(orgs_not_active(&o), 1);

    /* a normal orgd finds it and finishes or undoes it */
    assert_true(th_orgd_start(&o, FAST_RECOVERY));
    if (!wait_until_settled(&o, 20000))
        fail_msg("%s: not recovered", point);
    /* the log line follows the last write: give it a moment */
    for (int i = 0; i < 50 && !th_orgd_log_contains(&o, "\"msg\":\"recovery\""); i++)
        tu_sleep_ms(20);
    assert_true(th_orgd_log_contains(&o, "\"msg\":\"recovery\""));

    if (op == OP_CREATE) {
        /* undone: no trace, and the name and e-mail are free again */
        char key[64];
        th_collection_of(new_name, key, sizeof key);
        assert_int_equal(th_db_count_str(&o, "organizations", "name_key", key + 4), 0);
        assert_int_equal(th_db_count_str(&o, "admins", "email", email), 0);
        assert_int_equal(th_db_count(&o, "memberships", NULL), 0);
        assert_false(th_db_collection_exists(&o, new_coll));
        assert_int_equal(th_create_org(&o, new_name, email, TU_PASSWORD), 201);
    } else if (op == OP_RENAME) {
        /* finished: the new name, with every document */
        assert_false(th_db_collection_exists(&o, coll));
        assert_true(th_db_collection_exists(&o, new_coll));
        assert_int_equal(th_db_count(&o, new_coll, NULL), 25);
        snprintf(path, sizeof path, "/org/%s", new_name);
        assert_int_equal(th_status_of(&o, "GET", path, t.token, NULL), 200);
        snprintf(path, sizeof path, "/org/%s", t.name);
        assert_int_equal(th_status_of(&o, "GET", path, t.token, NULL), 404);
    } else {
        /* finished: gone, with its owner and memberships */
        assert_false(th_db_collection_exists(&o, coll));
        assert_int_equal(th_db_count_oid(&o, "organizations", "_id", t.id), 0);
        assert_int_equal(th_db_count_oid(&o, "admins", "_id", t.admin_id), 0);
        assert_int_equal(th_db_count_oid(&o, "memberships", "org_id", t.id), 0);
        assert_int_equal(th_status_of(&o, "GET", "/auth/check", t.token, NULL), 401);
    }
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
    th_tenant_free(&t);
}

static void crash_create_after_metadata(void **s)
{
    (void)s;
    crash_at("create.after_metadata", OP_CREATE);
}
static void crash_create_after_admin(void **s)
{
    (void)s;
    crash_at("create.after_admin", OP_CREATE);
}
static void crash_create_after_membership(void **s)
{
    (void)s;
    crash_at("create.after_membership", OP_CREATE);
}
static void crash_create_after_collection(void **s)
{
    (void)s;
    crash_at("create.after_collection", OP_CREATE);
}
static void crash_rename_after_reserve(void **s)
{
    (void)s;
    crash_at("rename.after_reserve", OP_RENAME);
}
static void crash_rename_after_collection(void **s)
{
    (void)s;
    crash_at("rename.after_collection", OP_RENAME);
}
static void crash_delete_after_mark(void **s)
{
    (void)s;
    crash_at("delete.after_mark", OP_DELETE);
}
static void crash_delete_after_drop(void **s)
{
    (void)s;
    crash_at("delete.after_drop", OP_DELETE);
}
static void crash_delete_after_admins(void **s)
{
    (void)s;
    crash_at("delete.after_admins", OP_DELETE);
}
static void crash_delete_after_memberships(void **s)
{
    (void)s;
    crash_at("delete.after_memberships", OP_DELETE);
}

/* ---- the shipped binary has no fault points ---- */

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = strlen(needle), have = 0, cap = 1 << 20;
    char *buf = malloc(cap + n);
    bool found = false;
    size_t got;
    while (!found && (got = fread(buf + have, 1, cap, f)) > 0) {
        have += got;
        found = memmem(buf, have, needle, n) != NULL;
        if (have >= n) { /* keep the tail, in case the needle straddles reads */
            memmove(buf, buf + have - (n - 1), n - 1);
            have = n - 1;
        }
    }
    free(buf);
    fclose(f);
    return found;
}

static void shipped_binary_has_no_fault_points(void **state)
{
    (void)state;
    const char *points[] = {"create.after_metadata", "rename.after_collection", "delete.after_drop",
                            "fault point reached"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        assert_true(file_contains(th_orgd_faults_bin(), points[i]));
        if (file_contains(th_orgd_bin(), points[i]))
            fail_msg("orgd contains '%s'", points[i]);
    }
    /* and armed, it simply works (saying it ignores the setting) */
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    const char *env[] = {"FAULT_POINT=create.after_metadata", NULL};
    assert_true(th_orgd_start(&o, env));
    struct th_tenant t;
    th_tenant_new(&o, &t, "NoFault");
    assert_true(th_orgd_log_contains(&o, "FAULT_POINT ignored"));
    assert_int_equal(th_orgd_stop(&o), 0);
    th_tenant_free(&t);
}

/* ---- the database goes away ---- */

static void database_down_means_fast_503s(void **state)
{
    (void)state;
    struct th_private_db db = {0};
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start_on(&o, &db, NULL));
    struct th_tenant t;
    th_tenant_new(&o, &t, "Down");
    assert_true(th_private_db_stop(&db));

    char body[512], path[256];
    struct {
        const char *method;
        const char *path;
        const char *body;
        bool auth;
    } reqs[] = {
        {"POST", "/org/create",
         "{\"organization_name\":\"down_new\",\"email\":\"dn@example.com\","
         "\"password\":\"" TU_PASSWORD "\"}",
         false},
        {"POST", "/admin/login", NULL, false},
        {"GET", "/auth/check", NULL, true},
        {"GET", path, NULL, true},
        {"PUT", "/org/update", "{\"new_organization_name\":\"down_renamed\"}", true},
        {"DELETE", path, NULL, true},
        {"GET", "/readyz", NULL, false},
    };
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", t.email, TU_PASSWORD);
    reqs[1].body = body;
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        if (i == 3)
            snprintf(path, sizeof path, "/org/%s", t.name);
        if (i == 5)
            snprintf(path, sizeof path, "/org/delete/%s", t.name);
        struct th_resp r;
        assert_true(th_http_json(&o, reqs[i].method, reqs[i].path, reqs[i].auth ? t.token : NULL,
                                 reqs[i].body, &r));
        if (!th_is_problem(&r, 503))
            fail_msg("%s %s", reqs[i].method, reqs[i].path);
        char retry[16];
        assert_true(th_resp_header(&r, "Retry-After", retry, sizeof retry));
        if (r.seconds >= 3.0)
            fail_msg("%s %s took %.2f s", reqs[i].method, reqs[i].path, r.seconds);
        th_resp_free(&r);
    }
    assert_int_equal(th_status_of(&o, "GET", "/healthz", NULL, NULL), 200);

    assert_true(th_private_db_start(&db));
    assert_true(th_orgd_wait_ready(&o, 10000));
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(&o, "GET", path, t.token, NULL), 200);
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
    th_private_db_destroy(&db);
    th_tenant_free(&t);
}

/* The database crashes while an operation is paused between two steps: the
 * request answers 503, orgd stays up, and once the database is back the
 * same orgd finishes (rename, delete) or undoes (create) the operation. */
static void database_crash_mid_operation(enum op op, const char *point)
{
    struct th_private_db db = {0};
    struct th_orgd o;
    th_orgd_init(&o, th_orgd_faults_bin());
    char arm[96];
    snprintf(arm, sizeof arm, "FAULT_POINT=pause:%s", point);
    const char *env[] = {arm, "RECOVERY_AGE_SECONDS=1", "RECOVERY_INTERVAL_SECONDS=1", NULL};
    assert_true(th_orgd_start_on(&o, &db, env));
    struct th_tenant t = {0};
    char coll[96] = "", new_name[64], new_coll[96];
    th_unique("Mid", new_name, sizeof new_name);
    th_collection_of(new_name, new_coll, sizeof new_coll);
    if (op != OP_CREATE) {
        th_tenant_new(&o, &t, "Mid");
        th_collection_of(t.name, coll, sizeof coll);
        assert_true(th_db_insert_docs(&o, coll, 20, "keep"));
    }
    struct th_call c = {.o = &o, .token = t.token};
    if (op == OP_CREATE) {
        c.method = "POST";
        snprintf(c.path, sizeof c.path, "/org/create");
        snprintf(c.body, sizeof c.body,
                 "{\"organization_name\":\"%s\",\"email\":\"%s@example.com\",\"password\":\"%s\"}",
                 new_name, new_name, TU_PASSWORD);
    } else if (op == OP_RENAME) {
        c.method = "PUT";
        snprintf(c.path, sizeof c.path, "/org/update");
        snprintf(c.body, sizeof c.body, "{\"new_organization_name\":\"%s\"}", new_name);
    } else {
        c.method = "DELETE";
        snprintf(c.path, sizeof c.path, "/org/delete/%s", t.name);
    }
    th_call_start(&c);
    for (int i = 0; i < 100 && !th_orgd_log_contains(&o, "fault point reached: pausing"); i++)
        tu_sleep_ms(50);
    assert_true(th_orgd_log_contains(&o, "fault point reached: pausing"));
    assert_true(th_private_db_kill(&db));
    th_call_join(&c);
    if (c.status != 503 || c.retry_after[0] == '\0')
        fail_msg("%s: expected 503 with Retry-After, got %ld", point, c.status);
    assert_int_equal(th_status_of(&o, "GET", "/healthz", NULL, NULL), 200);

    assert_true(th_private_db_start(&db));
    if (!wait_until_settled(&o, 20000))
        fail_msg("%s: not recovered after the database came back", point);
    if (op == OP_CREATE) {
        assert_false(th_db_collection_exists(&o, new_coll));
        assert_int_equal(th_db_count(&o, "organizations", NULL), 0);
        assert_int_equal(th_db_count(&o, "admins", NULL), 0);
    } else if (op == OP_RENAME) {
        assert_false(th_db_collection_exists(&o, coll));
        assert_int_equal(th_db_count(&o, new_coll, NULL), 20);
        char path[256];
        snprintf(path, sizeof path, "/org/%s", new_name);
        assert_int_equal(th_status_of(&o, "GET", path, t.token, NULL), 200);
    } else {
        assert_false(th_db_collection_exists(&o, coll));
        assert_int_equal(th_db_count(&o, "organizations", NULL), 0);
    }
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
    th_private_db_destroy(&db);
    th_tenant_free(&t);
}

static void database_crash_mid_create(void **s)
{
    (void)s;
    database_crash_mid_operation(OP_CREATE, "create.after_membership");
}
static void database_crash_mid_rename(void **s)
{
    (void)s;
    database_crash_mid_operation(OP_RENAME, "rename.after_reserve");
}
static void database_crash_mid_delete(void **s)
{
    (void)s;
    database_crash_mid_operation(OP_DELETE, "delete.after_mark");
}

/* ---- a failed step undoes the earlier ones ---- */

/* A copy of the snapshot text without the lines that mention `needle`. */
static char *lines_without(const char *text, const char *needle)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1), *w = out;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        if (memmem(p, n, needle, strlen(needle)) == NULL) {
            memcpy(w, p, n);
            w += n;
        }
        p += n;
    }
    *w = '\0';
    return out;
}

static void orphan_collection_blocks_create_and_rename_cleanly(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start(&o, NULL));
    char taken[64], coll[96];
    th_unique("orphan", taken, sizeof taken);
    th_collection_of(taken, coll, sizeof coll);
    assert_true(th_db_insert_docs(&o, coll, 3, "not ours")); /* creates org_<taken> by hand */
    /* the master collections appear with their indexes: wait, so that the
     * snapshots below differ only by what the requests did */
    for (int i = 0; i < 100 && !th_orgd_log_contains(&o, "indexes ready"); i++)
        tu_sleep_ms(50);
    assert_true(th_orgd_log_contains(&o, "indexes ready"));

    char *before = th_db_snapshot(&o);
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", taken);
    assert_int_equal(th_create_org(&o, taken, email, TU_PASSWORD), 409);
    char *after = th_db_snapshot(&o);
    assert_string_equal(before, after); /* undone: no org, admin or membership left */
    free(before);
    free(after);

    struct th_tenant t;
    th_tenant_new(&o, &t, "Blocked");
    char own[96], body[256], path[256];
    th_collection_of(t.name, own, sizeof own);
    assert_true(th_db_insert_docs(&o, own, 4, "mine"));
    before = th_db_snapshot(&o);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", taken);
    struct th_resp r;
    assert_true(th_http_json(&o, "PUT", "/org/update", t.token, body, &r));
    assert_true(th_is_problem(&r, 409));
    th_resp_free(&r);
    snprintf(path, sizeof path, "/org/%s", t.name);
    assert_int_equal(th_status_of(&o, "GET", path, t.token, NULL), 200);
    assert_int_equal(th_db_count(&o, own, NULL), 4);
    assert_int_equal(th_db_count(&o, coll, NULL), 3);
    assert_int_equal(orgs_not_active(&o), 0);
    after = th_db_snapshot(&o);
    /* the org document's version and updated_at moved (reserve, then undo);
     * every other document and every collection's count did not */
    char org_line[96];
    snprintf(org_line, sizeof org_line, "{ \"_id\" : { \"$oid\" : \"%s\" }", t.id);
    assert_true(strstr(before, org_line) != NULL);
    char *b = lines_without(before, org_line), *a = lines_without(after, org_line);
    assert_string_equal(b, a);
    assert_true(strstr(a, own) != NULL);
    free(a);
    free(b);
    free(before);
    free(after);
    assert_int_equal(th_orgd_stop(&o), 0);
    th_tenant_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_create_after_metadata),
        cmocka_unit_test(crash_create_after_admin),
        cmocka_unit_test(crash_create_after_membership),
        cmocka_unit_test(crash_create_after_collection),
        cmocka_unit_test(crash_rename_after_reserve),
        cmocka_unit_test(crash_rename_after_collection),
        cmocka_unit_test(crash_delete_after_mark),
        cmocka_unit_test(crash_delete_after_drop),
        cmocka_unit_test(crash_delete_after_admins),
        cmocka_unit_test(crash_delete_after_memberships),
        cmocka_unit_test(shipped_binary_has_no_fault_points),
        cmocka_unit_test(database_down_means_fast_503s),
        cmocka_unit_test(database_crash_mid_create),
        cmocka_unit_test(database_crash_mid_rename),
        cmocka_unit_test(database_crash_mid_delete),
        cmocka_unit_test(orphan_collection_blocks_create_and_rename_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
