/* orgd import: a database in the original FastAPI + MongoDB service's
 * shape (`organizations {organization_name, collection_name, admin_id}`,
 * `admins {email, password}`), its bcrypt hashes made by another
 * implementation (Python's bcrypt module, Debian's python3-bcrypt), taken
 * over: the records converted, the tenant collections copied under orgd's
 * lower-case names with every document, what cannot be settled reported
 * and left out, a second run changing nothing, a run killed at every step
 * finished by the next, --dry-run writing nothing, and the old passwords
 * signing in (and being replaced by argon2id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

#define GRACE_PASSWORD "the old password of grace"
#define ADA_PASSWORD "the old password of ada"

static struct th_orgd target;

static int stop_target(void **state)
{
    (void)state;
    if (target.pid > 0)
        th_orgd_stop(&target);
    return 0;
}

/* bcrypt hashes of passwords[0..n) by Python's bcrypt module (cost 4:
 * a test, not a vault), into out. */
static void bcrypt_hashes(const char *const *passwords, size_t n, char (*out)[80])
{
    char cmd[1024];
    int used = snprintf(cmd, sizeof cmd,
                        "/usr/bin/python3 -c 'import bcrypt, sys\n"
                        "for p in sys.argv[1:]: print(bcrypt.hashpw(p.encode(), "
                        "bcrypt.gensalt(4, prefix=b\"2b\")).decode())'");
    for (size_t i = 0; i < n; i++)
        used += snprintf(cmd + used, sizeof cmd - (size_t)used, " '%s'", passwords[i]);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        if (fgets(out[i], 80, p) == NULL)
            fail_msg("python3-bcrypt gave no hash (is python3-bcrypt installed?)");
        out[i][strcspn(out[i], "\n")] = '\0';
        assert_int_equal(strncmp(out[i], "$2b$04$", 7), 0);
    }
    assert_int_equal(pclose(p), 0);
}

struct source_db {
    char name[64];
    bson_oid_t ada, grace, ada_upper, bob;
    bson_oid_t acme, initech, hooli, bad, umbrella, umbrella2;
};

static void insert(mongoc_database_t *db, const char *coll, bson_t *doc)
{
    mongoc_collection_t *c = mongoc_database_get_collection(db, coll);
    bson_error_t be;
    if (!mongoc_collection_insert_one(c, doc, NULL, NULL, &be))
        fail_msg("insert into %s: %s", coll, be.message);
    mongoc_collection_destroy(c);
    bson_destroy(doc);
}

static void fill(mongoc_database_t *db, const char *coll, int n)
{
    for (int i = 0; i < n; i++)
        insert(db, coll, BCON_NEW("i", BCON_INT32(i), "tag", BCON_UTF8(coll)));
}

/* The original's database, as its clients left it. */
static void source_write(const struct th_orgd *o, struct source_db *s)
{
    snprintf(s->name, sizeof s->name, "%s_src", o->db);
    const char *pw[] = {ADA_PASSWORD, GRACE_PASSWORD, "the password of the twin"};
    char hashes[3][80];
    bcrypt_hashes(pw, 3, hashes);
    mongoc_client_t *client = th_db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(client, s->name);
    bson_oid_t *ids[] = {&s->ada,     &s->grace, &s->ada_upper, &s->bob,      &s->acme,
                         &s->initech, &s->hooli, &s->bad,       &s->umbrella, &s->umbrella2};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        bson_oid_init(ids[i], NULL);
    char grace_hex[25];
    bson_oid_to_string(&s->grace, grace_hex);
    insert(db, "admins",
           BCON_NEW("_id", BCON_OID(&s->ada), "email", BCON_UTF8("Ada@Acme.io"), "password",
                    BCON_UTF8(hashes[0])));
    insert(db, "admins",
           BCON_NEW("_id", BCON_OID(&s->grace), "email", BCON_UTF8("grace@example.com"), "password",
                    BCON_UTF8(hashes[1])));
    /* the same e-mail but for its case: whose account is it? */
    insert(db, "admins",
           BCON_NEW("_id", BCON_OID(&s->ada_upper), "email", BCON_UTF8("ADA@acme.io"), "password",
                    BCON_UTF8(hashes[2])));
    /* a hash orgd cannot check */
    insert(db, "admins",
           BCON_NEW("_id", BCON_OID(&s->bob), "email", BCON_UTF8("bob@example.com"), "password",
                    BCON_UTF8("5f4dcc3b5aa765d61d8327deb882cf99")));
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->acme), "organization_name", BCON_UTF8("Acme"),
                    "collection_name", BCON_UTF8("org_Acme"), "admin_id", BCON_OID(&s->ada)));
    /* the admin's id as a string, as some of the original's clients stored it */
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->initech), "organization_name", BCON_UTF8("Initech"),
                    "collection_name", BCON_UTF8("org_initech"), "admin_id", BCON_UTF8(grace_hex)));
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->hooli), "organization_name", BCON_UTF8("Hooli"),
                    "collection_name", BCON_UTF8("org_Hooli"), "admin_id", BCON_OID(&s->grace)));
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->bad), "organization_name", BCON_UTF8("Bad Name!"),
                    "collection_name", BCON_UTF8("org_Bad Name!"), "admin_id",
                    BCON_OID(&s->grace)));
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->umbrella), "organization_name", BCON_UTF8("Umbrella"),
                    "collection_name", BCON_UTF8("org_umbrella"), "admin_id", BCON_OID(&s->grace)));
    insert(db, "organizations",
           BCON_NEW("_id", BCON_OID(&s->umbrella2), "organization_name", BCON_UTF8("UMBRELLA"),
                    "collection_name", BCON_UTF8("org_UMBRELLA"), "admin_id", BCON_OID(&s->grace)));
    fill(db, "org_Acme", 4);
    fill(db, "org_initech", 1200); /* more than one copy batch */
    fill(db, "org_Hooli", 3);
    fill(db, "org_umbrella", 2);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
}

static void source_drop(const struct th_orgd *o, const struct source_db *s)
{
    mongoc_client_t *client = th_db_client(o);
    mongoc_database_t *db = mongoc_client_get_database(client, s->name);
    mongoc_database_drop(db, NULL);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
}

/* `orgd import` (binary: o's) from s; its exit code, its output in out. */
static int import(struct th_orgd *o, const struct source_db *s, bool dry_run,
                  const char *const *env, char *out, size_t cap)
{
    const char *args[] = {"import",      "--source-uri", th_mongo_uri(),
                          "--source-db", s->name,        dry_run ? "--dry-run" : NULL,
                          NULL};
    return th_orgd_command(o, args, env, out, cap);
}

static void expect_line(const char *out, const char *needle)
{
    if (strstr(out, needle) == NULL)
        fail_msg("the import's report lacks \"%s\":\n%s", needle, out);
}

/* What a finished import of source_write's database holds. */
static void expect_imported(const struct th_orgd *o, const struct source_db *s)
{
    char initech[25], hooli[25], grace[25];
    bson_oid_to_string(&s->initech, initech);
    bson_oid_to_string(&s->hooli, hooli);
    bson_oid_to_string(&s->grace, grace);
    assert_int_equal(th_db_count(o, "organizations", NULL), 2);
    assert_int_equal(th_db_count_oid(o, "organizations", "_id", initech), 1);
    assert_int_equal(th_db_count_oid(o, "organizations", "_id", hooli), 1);
    assert_int_equal(th_db_count_str(o, "organizations", "name_key", "hooli"), 1);
    assert_int_equal(th_db_count(o, "org_initech", NULL), 1200);
    assert_int_equal(th_db_count(o, "org_hooli", NULL), 3);
    assert_false(th_db_collection_exists(o, "org_acme"));
    assert_int_equal(th_db_count(o, "admins", NULL), 1);
    assert_int_equal(th_db_count_str(o, "admins", "email", "grace@example.com"), 1);
    assert_int_equal(th_db_memberships_of(o, grace, initech), 1);
    assert_int_equal(th_db_memberships_of(o, grace, hooli), 1);
}

static void the_originals_database_is_taken_over(void **state)
{
    (void)state;
    th_orgd_init(&target, NULL);
    struct source_db s;
    source_write(&target, &s);
    char out[16384];

    /* a dry run says what would happen and writes nothing */
    assert_int_equal(import(&target, &s, true, NULL, out, sizeof out), 1);
    expect_line(out, "would import  organization");
    expect_line(out, "dry run: 2 organization(s) to import");
    assert_int_equal(th_db_count(&target, "organizations", NULL), 0);
    assert_int_equal(th_db_count(&target, "admins", NULL), 0);

    /* the import: 1 means records were left out, each said why */
    assert_int_equal(import(&target, &s, false, NULL, out, sizeof out), 1);
    expect_line(out, "differ only in case"); /* Ada's two e-mails, Umbrella's names */
    expect_line(out, "password hash is of a kind orgd cannot check"); /* bob */
    expect_line(out, "its name \"Bad Name!\"");
    expect_line(out, "its admin"); /* Acme: Ada was left out */
    expect_line(out, "done: 2 organization(s) imported");
    expect_line(out, "(1200 documents)");
    expect_imported(&target, &s);

    /* a second run changes nothing */
    char *before = th_db_snapshot(&target);
    assert_int_equal(import(&target, &s, false, NULL, out, sizeof out), 1);
    expect_line(out, "done: 0 organization(s) imported, 2 there already");
    char *after = th_db_snapshot(&target);
    assert_string_equal(before, after);
    free(before);
    free(after);
    th_expect_check_clean(&target);

    /* the old password signs in, and becomes argon2id */
    assert_true(th_orgd_start(&target, NULL));
    struct th_tokens t;
    json_t *j =
        th_expect_json(&target, "POST", "/admin/login", NULL,
                       json_pack("{s:s, s:s, s:s}", "email", "grace@example.com", "password",
                                 GRACE_PASSWORD, "organization_name", "Initech"),
                       200);
    snprintf(t.access, sizeof t.access, "%s", th_json_str(j, "access_token"));
    json_decref(j);
    bson_t *bcrypt = BCON_NEW("password_hash", "{", "$regex", BCON_UTF8("^\\$2b\\$"), "}");
    bson_t *argon = BCON_NEW("password_hash", "{", "$regex", BCON_UTF8("^\\$argon2id\\$"), "}");
    assert_int_equal(th_db_count(&target, "admins", bcrypt), 0);
    assert_int_equal(th_db_count(&target, "admins", argon), 1);
    bson_destroy(bcrypt);
    bson_destroy(argon);
    th_expect_status(&target, "GET", "/org/hooli", t.access, NULL, 403); /* scoped to Initech */
    th_expect_status(&target, "GET", "/org/Initech", t.access, NULL, 200);
    th_expect_status(&target, "POST", "/admin/login", NULL,
                     json_pack("{s:s, s:s, s:s}", "email", "grace@example.com", "password",
                               GRACE_PASSWORD, "organization_name", "Hooli"),
                     200);
    th_expect_status(&target, "POST", "/admin/login", NULL,
                     json_pack("{s:s, s:s, s:s}", "email", "grace@example.com", "password",
                               "not the old password", "organization_name", "Hooli"),
                     401);
    assert_int_equal(th_orgd_stop(&target), 0);
    th_expect_check_clean(&target);
    source_drop(&target, &s);
}

/* Killed at every step, the next run finishes what the first began. */
static void an_import_killed_at_every_step_is_finished_by_the_next(void **state)
{
    (void)state;
    const char *points[] = {"import.after_account", "import.after_membership",
                            "import.after_collection", "import.after_org"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        th_orgd_init(&target, th_orgd_faults_bin());
        struct source_db s;
        source_write(&target, &s);
        char env_point[96], out[16384];
        snprintf(env_point, sizeof env_point, "FAULT_POINT=%s", points[i]);
        const char *env[] = {env_point, NULL};
        int code = import(&target, &s, false, env, out, sizeof out);
        if (code != 137)
            fail_msg("%s: the import was not killed there (exit %d):\n%s", points[i], code, out);
        assert_int_equal(import(&target, &s, false, NULL, out, sizeof out), 1);
        expect_imported(&target, &s);
        th_expect_check_clean(&target);
        source_drop(&target, &s);
    }
}

/* A name or an e-mail orgd holds for someone else is left out, not merged. */
static void what_orgd_holds_already_is_left_out(void **state)
{
    (void)state;
    th_orgd_init(&target, NULL);
    assert_true(th_orgd_start(&target, NULL));
    /* orgd's own Hooli, and an account with grace's e-mail */
    assert_int_equal(th_create_org(&target, "hooli", "someone@example.com", TU_PASSWORD), 201);
    th_signup_ok(&target, "grace@example.com", TU_PASSWORD);
    assert_int_equal(th_orgd_stop(&target), 0);
    struct source_db s;
    source_write(&target, &s);
    char out[16384];
    assert_int_equal(import(&target, &s, false, NULL, out, sizeof out), 1);
    expect_line(out, "orgd has an organization named Hooli already");
    expect_line(out, "orgd has an account with its e-mail grace@example.com already");
    assert_int_equal(th_db_count(&target, "organizations", NULL), 1);
    assert_int_equal(th_db_count(&target, "org_hooli", NULL), 0);
    assert_false(th_db_collection_exists(&target, "org_initech"));
    th_expect_check_clean(&target);
    source_drop(&target, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(the_originals_database_is_taken_over, stop_target),
        cmocka_unit_test_teardown(an_import_killed_at_every_step_is_finished_by_the_next,
                                  stop_target),
        cmocka_unit_test_teardown(what_orgd_holds_already_is_left_out, stop_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
