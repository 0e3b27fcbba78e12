/* Races: the unique name_key index and the conditional updates on the org
 * document are the only locks, so concurrent requests on one name or one
 * org must leave exactly one winner and a consistent database, whatever
 * the interleaving. Each race runs several rounds. */
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

/* ---- 32 creates of one name, in mixed case ---- */

#define CREATORS 32

static void concurrent_creates_of_one_name(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start(&o, NULL));
    for (int round = 0; round < 3; round++) {
        char base[64], key[64], coll[96];
        th_unique("race", base, sizeof base);
        snprintf(key, sizeof key, "%s", base);
        th_lower(key);
        th_collection_of(base, coll, sizeof coll);
        static struct th_call calls[CREATORS];
        for (int i = 0; i < CREATORS; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s", base);
            /* a different case pattern for each caller */
            for (size_t j = 0; name[j]; j++)
                if (((unsigned)i >> (j % 5)) & 1u)
                    name[j] = (char)((name[j] >= 'a' && name[j] <= 'z') ? name[j] - 32 : name[j]);
            memset(&calls[i], 0, sizeof calls[i]);
            calls[i].o = &o;
            calls[i].method = "POST";
            snprintf(calls[i].path, sizeof calls[i].path, "/org/create");
            snprintf(calls[i].body, sizeof calls[i].body,
                     "{\"organization_name\":\"%s\",\"email\":\"c%d_%s@example.com\","
                     "\"password\":\"%s\"}",
                     name, i, key, TU_PASSWORD);
        }
        th_race(calls, CREATORS);
        int won = 0, busy = 0;
        for (int i = 0; i < CREATORS; i++) {
            if (calls[i].status == 201)
                won++;
            else if (calls[i].status == 503 || calls[i].status == 429)
                busy++; /* turned away by a loaded machine's hash queue: not a winner */
            else if (calls[i].status != 409)
                fail_msg("round %d caller %d: status %ld", round, i, calls[i].status);
        }
        /* one winner, unless a loaded machine turned every one away */
        assert_int_equal(won, busy == CREATORS ? 0 : 1);
        assert_int_equal(th_db_count_str(&o, "organizations", "name_key", key), won);
        assert_int_equal(th_db_collection_exists(&o, coll), won == 1);
        /* the losers' admins were undone with their orgs */
        bson_t *f = BCON_NEW("email", "{", "$regex", BCON_UTF8(key), "}");
        assert_int_equal(th_db_count(&o, "admins", f), won);
        bson_destroy(f);
    }
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
}

/* ---- rename A->C against create C ---- */

static void rename_races_create_of_its_target(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start(&o, NULL));
    int rename_wins = 0, create_wins = 0;
    for (int round = 0; round < 8; round++) {
        struct th_tenant a;
        th_tenant_new(&o, &a, "RaceA");
        char a_coll[96], target[64], target_coll[96];
        th_collection_of(a.name, a_coll, sizeof a_coll);
        assert_true(th_db_insert_docs(&o, a_coll, 10, "a"));
        th_unique("RaceC", target, sizeof target);
        th_collection_of(target, target_coll, sizeof target_coll);

        struct th_call rename = {.o = &o, .method = "PUT", .token = a.token};
        snprintf(rename.path, sizeof rename.path, "/org/update");
        snprintf(rename.body, sizeof rename.body, "{\"new_organization_name\":\"%s\"}", target);
        struct th_call create = {.o = &o, .method = "POST"};
        snprintf(create.path, sizeof create.path, "/org/create");
        snprintf(create.body, sizeof create.body,
                 "{\"organization_name\":\"%s\",\"email\":\"%s@example.com\",\"password\":\"%s\"}",
                 target, target, TU_PASSWORD);
        /* create hashes a password before it claims the name; a growing head
         * start for it lets either side get there first */
        rename.delay_ms = round * 10;
        struct th_call both[2] = {create, rename};
        th_race(both, 2);
        create = both[0];
        rename = both[1];

        char path[256];
        if (rename.status == 200) {
            assert_int_equal(create.status, 409);
            rename_wins++;
            assert_false(th_db_collection_exists(&o, a_coll));
            assert_int_equal(th_db_count(&o, target_coll, NULL), 10);
            snprintf(path, sizeof path, "/org/%s", target);
            assert_int_equal(th_status_of(&o, "GET", path, a.token, NULL), 200);
        } else if (create.status == 201) {
            if (rename.status != 409)
                fail_msg("round %d: create won, rename got %ld", round, rename.status);
            create_wins++;
            assert_int_equal(th_db_count(&o, a_coll, NULL), 10);
            assert_int_equal(th_db_count(&o, target_coll, NULL), 0);
            assert_true(th_db_collection_exists(&o, target_coll));
            snprintf(path, sizeof path, "/org/%s", a.name);
            assert_int_equal(th_status_of(&o, "GET", path, a.token, NULL), 200);
        } else {
            fail_msg("round %d: nobody won (rename %ld, create %ld)", round, rename.status,
                     create.status);
        }
        char key[64];
        snprintf(key, sizeof key, "%s", target);
        th_lower(key);
        assert_int_equal(th_db_count_str(&o, "organizations", "name_key", key), 1);
        th_tenant_free(&a);
    }
    print_message("rename won %d, create won %d\n", rename_wins, create_wins);
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
}

/* ---- delete against rename of the same org ---- */

static void delete_races_rename_of_the_same_org(void **state)
{
    (void)state;
    struct th_orgd o;
    th_orgd_init(&o, NULL);
    assert_true(th_orgd_start(&o, NULL));
    int delete_wins = 0, rename_wins = 0;
    for (int round = 0; round < 6; round++) {
        struct th_tenant a;
        th_tenant_new(&o, &a, "RaceD");
        char a_coll[96], target[64], target_coll[96];
        th_collection_of(a.name, a_coll, sizeof a_coll);
        assert_true(th_db_insert_docs(&o, a_coll, 7, "d"));
        th_unique("RaceR", target, sizeof target);
        th_collection_of(target, target_coll, sizeof target_coll);

        struct th_call del = {.o = &o, .method = "DELETE", .token = a.token};
        snprintf(del.path, sizeof del.path, "/org/delete/%s", a.name);
        struct th_call ren = {.o = &o, .method = "PUT", .token = a.token};
        snprintf(ren.path, sizeof ren.path, "/org/update/%s", a.name);
        snprintf(ren.body, sizeof ren.body, "{\"new_organization_name\":\"%s\"}", target);
        struct th_call both[2] = {del, ren};
        both[round % 2].delay_ms = round % 3; /* either may start first */
        th_race(both, 2);
        del = both[0];
        ren = both[1];

        if (del.status == 204) {
            if (!th_race_lost(ren.status) && ren.status != 200)
                fail_msg("round %d: delete won, rename got %ld", round, ren.status);
            /* a rename that finished first and a delete by the old name
             * cannot both succeed */
            assert_int_not_equal(ren.status, 200);
            delete_wins++;
            assert_false(th_db_collection_exists(&o, a_coll));
            assert_false(th_db_collection_exists(&o, target_coll));
            assert_int_equal(th_db_count_oid(&o, "organizations", "_id", a.id), 0);
            assert_int_equal(th_db_count_oid(&o, "memberships", "org_id", a.id), 0);
            assert_int_equal(th_db_count_oid(&o, "admins", "_id", a.admin_id), 0);
            assert_int_equal(th_status_of(&o, "GET", "/auth/check", a.token, NULL), 401);
        } else if (ren.status == 200) {
            if (!th_race_lost(del.status))
                fail_msg("round %d: rename won, delete got %ld", round, del.status);
            rename_wins++;
            if (th_db_collection_exists(&o, a_coll) || th_db_count(&o, target_coll, NULL) != 7)
                fail_msg("round %d: rename won (delete %ld) but the documents did not move:\n%s",
                         round, del.status, th_db_snapshot(&o));
            char path[256];
            snprintf(path, sizeof path, "/org/%s", target);
            long got = th_status_of(&o, "GET", path, a.token, NULL);
            if (got != 200)
                fail_msg("round %d: rename won (delete %ld) but GET %s is %ld\n%s", round,
                         del.status, path, got, th_db_snapshot(&o));
        } else {
            fail_msg("round %d: nobody won (delete %ld, rename %ld)", round, del.status,
                     ren.status);
        }
        th_tenant_free(&a);
    }
    print_message("delete won %d, rename won %d\n", delete_wins, rename_wins);
    th_expect_check_clean(&o);
    assert_int_equal(th_orgd_stop(&o), 0);
}

/* ---- two instances recovering the same stuck orgs ---- */

#define STUCK 12

/* How many "recovery" log lines of o's log name org `id`. */
static int recoveries_of(const struct th_orgd *o, const char *id)
{
    FILE *f = fopen(o->log_path, "r");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    char needle[64];
    snprintf(needle, sizeof needle, "\"org_id\":\"%s\"", id);
    while (getline(&line, &cap, f) > 0)
        n += strstr(line, "\"msg\":\"recovery\"") != NULL && strstr(line, needle) != NULL &&
             strstr(line, "\"ok\":true") != NULL;
    free(line);
    fclose(f);
    return n;
}

struct starter {
    struct th_orgd *o;
    const char *const *env;
    bool ok;
    pthread_t thread;
};

static void *starter_main(void *arg)
{
    struct starter *s = arg;
    s->ok = th_orgd_start(s->o, s->env);
    return NULL;
}

static void two_instances_recover_each_org_once(void **state)
{
    (void)state;
    struct th_orgd a;
    th_orgd_init(&a, NULL);
    assert_true(th_orgd_start(&a, NULL));
    struct th_tenant t[STUCK];
    char colls[STUCK][96];
    for (int i = 0; i < STUCK; i++) {
        th_tenant_new(&a, &t[i], "Stuck");
        th_collection_of(t[i].name, colls[i], sizeof colls[i]);
        assert_true(th_db_insert_docs(&a, colls[i], 3, "s"));
    }
    assert_int_equal(th_orgd_stop(&a), 0);
    /* half died creating (undone), half deleting (finished) */
    for (int i = 0; i < STUCK; i++)
        th_db_make_stuck(&a, t[i].id, i % 2 ? "creating" : "deleting");

    struct th_orgd b = a; /* same database and secret, its own port and log */
    snprintf(b.log_path, sizeof b.log_path, "%s.second", a.log_path);
    unlink(b.log_path);
    unlink(a.log_path);
    const char *env[] = {"RECOVERY_AGE_SECONDS=5", "RECOVERY_INTERVAL_SECONDS=1", NULL};
    struct starter sa = {.o = &a, .env = env}, sb = {.o = &b, .env = env};
    pthread_create(&sa.thread, NULL, starter_main, &sa);
    pthread_create(&sb.thread, NULL, starter_main, &sb);
    pthread_join(sa.thread, NULL);
    pthread_join(sb.thread, NULL);
    assert_true(sa.ok && sb.ok);

    bool settled = false;
    for (int i = 0; i < 200 && !settled; i++) {
        settled = th_db_count(&a, "organizations", NULL) == 0;
        if (!settled)
            tu_sleep_ms(100);
    }
    assert_true(settled);
    tu_sleep_ms(1500); /* another recovery pass each: nothing left to do twice */
    int by_a = 0, by_b = 0;
    for (int i = 0; i < STUCK; i++) {
        int na = recoveries_of(&a, t[i].id), nb = recoveries_of(&b, t[i].id);
        if (na + nb != 1)
            fail_msg("org %s recovered %d times (a %d, b %d)", t[i].id, na + nb, na, nb);
        by_a += na;
        by_b += nb;
        assert_false(th_db_collection_exists(&a, colls[i]));
        assert_int_equal(th_db_count_oid(&a, "admins", "_id", t[i].admin_id), 0);
    }
    print_message("instance a recovered %d, instance b %d\n", by_a, by_b);
    assert_int_equal(th_db_count(&a, "memberships", NULL), 0);
    th_expect_check_clean(&a);
    assert_int_equal(th_orgd_stop(&a), 0);
    assert_int_equal(th_orgd_stop(&b), 0);
    for (int i = 0; i < STUCK; i++)
        th_tenant_free(&t[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_creates_of_one_name),
        cmocka_unit_test(rename_races_create_of_its_target),
        cmocka_unit_test(delete_races_rename_of_the_same_org),
        cmocka_unit_test(two_instances_recover_each_org_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
