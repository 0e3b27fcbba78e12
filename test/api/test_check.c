/* `orgd check`: each kind of inconsistency, made by hand in the database,
 * is reported (exit 1, its kind named), `--repair` fixes it (exit 0), and a
 * plain check is clean again. Every scenario gets its own database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* A started orgd with two orgs (a has 5 documents, b 2), ready to be broken. */
struct scene {
    struct th_orgd o;
    struct th_tenant a, b;
    char a_coll[96], b_coll[96];
};

static void scene_start(struct scene *s)
{
    th_orgd_init(&s->o, NULL);
    assert_true(th_orgd_start(&s->o, NULL));
    th_tenant_new(&s->o, &s->a, "ChkA");
    th_tenant_new(&s->o, &s->b, "ChkB");
    th_collection_of(s->a.name, s->a_coll, sizeof s->a_coll);
    th_collection_of(s->b.name, s->b_coll, sizeof s->b_coll);
    assert_true(th_db_insert_docs(&s->o, s->a_coll, 5, "a"));
    assert_true(th_db_insert_docs(&s->o, s->b_coll, 2, "b"));
    th_expect_check_clean(&s->o);
}

static void scene_stop(struct scene *s)
{
    assert_int_equal(th_orgd_stop(&s->o), 0);
    th_tenant_free(&s->a);
    th_tenant_free(&s->b);
}

/* Whether a line of the check's report starts with `kind`, names `detail`
 * (when given) and says it was repaired. */
static bool line_repaired(const char *out, const char *kind, const char *detail)
{
    for (const char *p = out; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        if (strncmp(line, kind, strlen(kind)) == 0 && line[strlen(kind)] == ' ' &&
            (detail == NULL || strstr(line, detail) != NULL) && strstr(line, "[repaired]") != NULL)
            return true;
        p += n + (end != NULL);
    }
    return false;
}

/* check reports `kind` (and `detail`, when given) and exits 1; --repair
 * reports it repaired and exits 0; check is then clean. */
static void expect_found_and_repaired(struct scene *s, const char *kind, const char *detail)
{
    char out[8192];
    int code = th_orgd_check(&s->o, false, out, sizeof out);
    if (code != 1 || strstr(out, kind) == NULL || (detail && strstr(out, detail) == NULL))
        fail_msg("check: expected exit 1 naming %s%s%s, got %d:\n%s", kind, detail ? " and " : "",
                 detail ? detail : "", code, out);
    code = th_orgd_check(&s->o, true, out, sizeof out);
    if (code != 0 || !line_repaired(out, kind, detail))
        fail_msg(
            "check --repair: expected exit 0 and a line '%s ... %s ... [repaired]', got %d:\n%s",
            kind, detail ? detail : "", code, out);
    th_expect_check_clean(&s->o);
}

static mongoc_collection_t *coll_of(const struct th_orgd *o, mongoc_client_t *c, const char *name)
{
    return mongoc_client_get_collection(c, o->db, name);
}

static void db_exec(const struct th_orgd *o, const char *coll_name, const bson_t *doc,
                    const bson_t *filter, const bson_t *update, bool drop)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = coll_of(o, c, coll_name);
    bson_error_t e;
    bool ok = drop  ? mongoc_collection_drop(coll, &e)
              : doc ? mongoc_collection_insert_one(coll, doc, NULL, NULL, &e)
                    : mongoc_collection_update_one(coll, filter, update, NULL, NULL, &e);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    if (!ok)
        fail_msg("%s: %s", coll_name, e.message);
}

static void missing_collection(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    db_exec(&s.o, s.a_coll, NULL, NULL, NULL, true);
    assert_false(th_db_collection_exists(&s.o, s.a_coll));
    expect_found_and_repaired(&s, "missing_collection", s.a_coll);
    assert_true(th_db_collection_exists(&s.o, s.a_coll));
    char path[128];
    snprintf(path, sizeof path, "/org/%s", s.a.name);
    assert_int_equal(th_status_of(&s.o, "GET", path, s.a.token, NULL), 200);
    scene_stop(&s);
}

static void orphan_collection_is_kept_out_of_the_way(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    char stray[64], stray_coll[96];
    th_unique("stray", stray, sizeof stray);
    th_collection_of(stray, stray_coll, sizeof stray_coll);
    assert_true(th_db_insert_docs(&s.o, stray_coll, 4, "stray"));
    expect_found_and_repaired(&s, "orphan_collection", stray_coll);
    assert_false(th_db_collection_exists(&s.o, stray_coll));
    /* renamed, never dropped: the documents are still there */
    char **names = NULL;
    mongoc_client_t *c = th_db_client(&s.o);
    mongoc_database_t *db = mongoc_client_get_database(c, s.o.db);
    names = mongoc_database_get_collection_names_with_opts(db, NULL, NULL);
    char kept[128] = "";
    for (size_t i = 0; names && names[i]; i++)
        if (strncmp(names[i], "orphaned_", 9) == 0 && strstr(names[i], stray_coll + 4))
            snprintf(kept, sizeof kept, "%s", names[i]);
    bson_strfreev(names);
    mongoc_database_destroy(db);
    mongoc_client_destroy(c);
    assert_true(kept[0] != '\0');
    assert_int_equal(th_db_count(&s.o, kept, NULL), 4);
    /* the tenants' own collections were not touched */
    assert_int_equal(th_db_count(&s.o, s.a_coll, NULL), 5);
    assert_int_equal(th_db_count(&s.o, s.b_coll, NULL), 2);
    scene_stop(&s);
}

static void two_orgs_claiming_one_collection(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, s.b.id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *u = BCON_NEW("$set", "{", "collection", BCON_UTF8(s.a_coll), "}");
    db_exec(&s.o, "organizations", NULL, f, u, false);
    bson_destroy(f);
    bson_destroy(u);
    expect_found_and_repaired(&s, "wrong_collection", s.b.id);
    /* b points at its own collection again, and nobody's documents moved */
    assert_int_equal(th_db_count_str(&s.o, "organizations", "collection", s.a_coll), 1);
    assert_int_equal(th_db_count_str(&s.o, "organizations", "collection", s.b_coll), 1);
    assert_int_equal(th_db_count(&s.o, s.a_coll, NULL), 5);
    assert_int_equal(th_db_count(&s.o, s.b_coll, NULL), 2);
    scene_stop(&s);
}

static void dangling_links(const char *collection, const char *kind)
{
    struct scene s;
    scene_start(&s);
    bson_oid_t gone, admin;
    bson_oid_init(&gone, NULL);
    bson_oid_init_from_string(&admin, s.a.admin_id);
    int64_t now = (int64_t)time(NULL) * 1000;
    bson_t *doc;
    if (strcmp(collection, "memberships") == 0)
        doc = BCON_NEW("admin_id", BCON_OID(&admin), "org_id", BCON_OID(&gone), "role",
                       BCON_UTF8("admin"), "member_at", BCON_DATE_TIME(now));
    else
        doc = BCON_NEW("org_id", BCON_OID(&gone), "admin_id", BCON_OID(&admin), "status",
                       BCON_UTF8("active"), "expires_at", BCON_DATE_TIME(now + 3600000));
    db_exec(&s.o, collection, doc, NULL, NULL, false);
    bson_destroy(doc);
    char gone_hex[25];
    bson_oid_to_string(&gone, gone_hex);
    expect_found_and_repaired(&s, kind, gone_hex);
    assert_int_equal(th_db_count_oid(&s.o, collection, "org_id", gone_hex), 0);
    /* the real memberships are still there, and the owners still work */
    assert_int_equal(th_db_count_oid(&s.o, "memberships", "org_id", s.a.id), 1);
    assert_int_equal(th_status_of(&s.o, "GET", "/auth/check", s.a.token, NULL), 200);
    scene_stop(&s);
}

static void membership_without_org(void **state)
{
    (void)state;
    dangling_links("memberships", "membership_without_org");
}

static void session_without_org(void **state)
{
    (void)state;
    dangling_links("sessions", "session_without_org");
}

/* A session whose account is gone is reported and removed; a live
 * account's sessions (and an account-scoped one, with no org) are not. */
static void session_without_account(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    assert_int_equal(th_status_of(&s.o, "POST", "/auth/signup", NULL,
                                  "{\"email\":\"kept@example.com\",\"password\":\"" TU_PASSWORD
                                  "\"}"),
                     201);
    assert_int_equal(th_status_of(&s.o, "POST", "/auth/signin", NULL,
                                  "{\"email\":\"kept@example.com\",\"password\":\"" TU_PASSWORD
                                  "\"}"),
                     200);
    bson_oid_t gone, sid;
    bson_oid_init(&gone, NULL);
    bson_oid_init(&sid, NULL);
    int64_t now = (int64_t)time(NULL) * 1000;
    bson_t *doc = BCON_NEW("_id", BCON_OID(&sid), "admin_id", BCON_OID(&gone), "status",
                           BCON_UTF8("active"), "expires_at", BCON_DATE_TIME(now + 3600000));
    db_exec(&s.o, "sessions", doc, NULL, NULL, false);
    bson_destroy(doc);
    char sid_hex[25];
    bson_oid_to_string(&sid, sid_hex);
    expect_found_and_repaired(&s, "session_without_account", sid_hex);
    assert_int_equal(th_db_count_oid(&s.o, "sessions", "_id", sid_hex), 0);
    /* the tenants' sessions and the signed-up account's session remain */
    assert_int_equal(th_db_count(&s.o, "sessions", NULL), 3);
    assert_int_equal(th_status_of(&s.o, "GET", "/auth/check", s.a.token, NULL), 200);
    scene_stop(&s);
}

static void invitation_without_org(void **state)
{
    (void)state;
    dangling_links("invitations", "invitation_without_org");
}

static void admin_without_membership(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    bson_oid_t id;
    bson_oid_init(&id, NULL);
    char hex[25];
    bson_oid_to_string(&id, hex);
    bson_t *doc =
        BCON_NEW("_id", BCON_OID(&id), "email", BCON_UTF8("lonely@example.com"), "password_hash",
                 BCON_UTF8("x"), "created_at", BCON_DATE_TIME((int64_t)time(NULL) * 1000));
    db_exec(&s.o, "admins", doc, NULL, NULL, false);
    bson_destroy(doc);
    /* an account that signed up belongs to no org, and is no problem */
    assert_int_equal(th_status_of(&s.o, "POST", "/auth/signup", NULL,
                                  "{\"email\":\"loner@example.com\",\"password\":\"" TU_PASSWORD
                                  "\"}"),
                     201);
    expect_found_and_repaired(&s, "admin_without_membership", hex);
    assert_int_equal(th_db_count_oid(&s.o, "admins", "_id", hex), 0);
    assert_int_equal(th_db_count_str(&s.o, "admins", "email", "loner@example.com"), 1);
    assert_int_equal(th_db_count_oid(&s.o, "admins", "_id", s.a.admin_id), 1);
    scene_stop(&s);
}

static void stuck_operation_is_finished(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    /* recovery would get there by itself in a minute; check must not wait */
    th_db_make_stuck(&s.o, s.b.id, "deleting");
    expect_found_and_repaired(&s, "stuck_operation", s.b.id);
    assert_int_equal(th_db_count_oid(&s.o, "organizations", "_id", s.b.id), 0);
    assert_false(th_db_collection_exists(&s.o, s.b_coll));
    assert_int_equal(th_db_count(&s.o, s.a_coll, NULL), 5);
    scene_stop(&s);
}

/* The org's current version, straight from its document. */
static int64_t org_version(const struct th_orgd *o, const char *id)
{
    mongoc_client_t *c = th_db_client(o);
    mongoc_collection_t *coll = coll_of(o, c, "organizations");
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, id);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, f, NULL, NULL);
    const bson_t *doc;
    int64_t v = -1;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "version"))
        v = bson_iter_as_int64(&it);
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    return v;
}

/* A lock on an org's current version, as a writer that died between
 * taking it and writing would leave: the org answers 409 (retry) without
 * changing; a young lock is no problem for check (its writer may be alive),
 * an old one is, and --repair frees the org. */
static void stale_lock_freezes_its_org_until_repaired(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    int64_t version = org_version(&s.o, s.b.id);
    assert_true(version > 0);
    char key[96];
    snprintf(key, sizeof key, "organizations:%s:%lld", s.b.id, (long long)version);
    bson_oid_t lock;
    bson_oid_init(&lock, NULL);
    bson_t *doc = BCON_NEW("_id", BCON_OID(&lock), "key", BCON_UTF8(key), "at",
                           BCON_DATE_TIME((int64_t)time(NULL) * 1000));
    db_exec(&s.o, "locks", doc, NULL, NULL, false);
    bson_destroy(doc);

    char renamed[64], body[160], path[128];
    th_unique("ChkR", renamed, sizeof renamed);
    snprintf(body, sizeof body, "{\"new_organization_name\":\"%s\"}", renamed);
    struct th_resp r;
    assert_true(th_http_json(&s.o, "PUT", "/org/update", s.b.token, body, &r));
    assert_true(th_is_problem(&r, 409));
    char retry[16];
    assert_true(th_resp_header(&r, "Retry-After", retry, sizeof retry));
    th_resp_free(&r);
    assert_int_equal(org_version(&s.o, s.b.id), version);
    snprintf(path, sizeof path, "/org/%s", s.b.name);
    assert_int_equal(th_status_of(&s.o, "GET", path, s.b.token, NULL), 200);
    th_expect_check_clean(&s.o); /* young: its writer may still be at work */

    bson_t *f = BCON_NEW("_id", BCON_OID(&lock));
    bson_t *u =
        BCON_NEW("$set", "{", "at", BCON_DATE_TIME((int64_t)time(NULL) * 1000 - 600000), "}");
    db_exec(&s.o, "locks", NULL, f, u, false);
    bson_destroy(f);
    bson_destroy(u);
    expect_found_and_repaired(&s, "stale_lock", NULL);
    assert_int_equal(th_db_count(&s.o, "locks", NULL), 0);
    assert_int_equal(th_status_of(&s.o, "PUT", "/org/update", s.b.token, body), 200);
    scene_stop(&s);
}

static void several_problems_at_once(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    db_exec(&s.o, s.b_coll, NULL, NULL, NULL, true);
    char stray_coll[96];
    th_unique("org_many", stray_coll, sizeof stray_coll);
    assert_true(th_db_insert_docs(&s.o, stray_coll, 1, "x"));
    char out[8192];
    assert_int_equal(th_orgd_check(&s.o, false, out, sizeof out), 1);
    assert_non_null(strstr(out, "missing_collection"));
    assert_non_null(strstr(out, "orphan_collection"));
    assert_non_null(strstr(out, "2 problem(s) found"));
    assert_int_equal(th_orgd_check(&s.o, true, out, sizeof out), 0);
    th_expect_check_clean(&s.o);
    scene_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_collection),
        cmocka_unit_test(orphan_collection_is_kept_out_of_the_way),
        cmocka_unit_test(two_orgs_claiming_one_collection),
        cmocka_unit_test(membership_without_org),
        cmocka_unit_test(session_without_org),
        cmocka_unit_test(session_without_account),
        cmocka_unit_test(invitation_without_org),
        cmocka_unit_test(admin_without_membership),
        cmocka_unit_test(stuck_operation_is_finished),
        cmocka_unit_test(stale_lock_freezes_its_org_until_repaired),
        cmocka_unit_test(several_problems_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
