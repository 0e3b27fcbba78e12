/* The two original services' clients against orgd: each original's
 * documented flow, with the answers read the way those clients read them
 * (r["organization"]["collection_name"], `for org in r.json()`, the word
 * "healthy", `message`), and each list paged by its Link header, as orgd's
 * own clients do. What such a client still sees differently is the table
 * in docs/API.md ("Differences from the two original services"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* ---- the org-first original (FastAPI + MongoDB) ---- */

/* The original's envelope as its clients read it: status, and organization
 * with the original's field names. */
static void expect_envelope(const json_t *j, const char *name, const char *email)
{
    assert_string_equal(th_json_str(j, "status"), "success");
    json_t *org = json_object_get(j, "organization");
    assert_true(json_is_object(org));
    assert_string_equal(th_json_str(org, "organization_name"), name);
    char coll[96];
    th_collection_of(name, coll, sizeof coll);
    assert_string_equal(th_json_str(org, "collection_name"), coll);
    assert_string_equal(th_json_str(org, "admin_email"), email);
    const json_t *admin = json_object_get(j, "admin");
    assert_string_equal(th_json_str(org, "admin_id"), th_json_str(admin, "id"));
    assert_string_equal(th_json_str(org, "created_at"), th_json_str(j, "created_at"));
    /* orgd's own keys stay beside it */
    assert_string_equal(th_json_str(j, "organization_name"), name);
    assert_string_equal(th_json_str(j, "collection_name"), coll);
}

static void the_org_first_clients_flow(void **state)
{
    (void)state;
    json_t *health = th_expect_json(&th_shared_orgd, "GET", "/health", NULL, NULL, 200);
    assert_string_equal(th_json_str(health, "status"), "healthy");
    json_decref(health);
    json_t *healthz = th_expect_json(&th_shared_orgd, "GET", "/healthz", NULL, NULL, 200);
    assert_string_equal(th_json_str(healthz, "status"), "ok");
    json_decref(healthz);

    char name[64], renamed[64], email[96], path[160];
    th_unique("Orig", name, sizeof name);
    th_unique("OrigNew", renamed, sizeof renamed);
    snprintf(email, sizeof email, "%s@example.com", name);
    th_lower(email);
    json_t *created = th_expect_json(&th_shared_orgd, "POST", "/org/create", NULL,
                                     json_pack("{s:s, s:s, s:s}", "organization_name", name,
                                               "email", email, "password", TU_PASSWORD),
                                     201);
    expect_envelope(created, name, email);
    json_decref(created);

    /* the original's client reads `token` from the login */
    json_t *login =
        th_expect_json(&th_shared_orgd, "POST", "/admin/login", NULL,
                       json_pack("{s:s, s:s}", "email", email, "password", TU_PASSWORD), 200);
    char token[2048];
    snprintf(token, sizeof token, "%s", th_json_str(login, "token"));
    assert_string_equal(token, th_json_str(login, "access_token"));
    json_decref(login);

    snprintf(path, sizeof path, "/org/get?organization_name=%s", name);
    json_t *got = th_expect_json(&th_shared_orgd, "GET", path, token, NULL, 200);
    expect_envelope(got, name, email);
    json_decref(got);
    /* the difference the table lists first: no token, no org */
    th_expect_status(&th_shared_orgd, "GET", path, NULL, NULL, 401);

    json_t *updated = th_expect_json(
        &th_shared_orgd, "PUT", "/org/update", token,
        json_pack("{s:s, s:s}", "organization_name", name, "new_organization_name", renamed), 200);
    expect_envelope(updated, renamed, email);
    json_decref(updated);

    snprintf(path, sizeof path, "/org/delete?organization_name=%s", renamed);
    th_expect_status(&th_shared_orgd, "DELETE", path, token, NULL, 204);
}

/* ---- the account-first original (FastAPI + SQLAlchemy) ---- */

static void the_account_first_clients_flow(void **state)
{
    (void)state;
    char email[96], invited[96];
    char who[64];
    th_unique("origa", who, sizeof who);
    snprintf(invited, sizeof invited, "%s-inv@example.com", who);
    snprintf(email, sizeof email, "%s@example.com", who);
    th_lower(email);
    th_lower(invited);
    json_t *signup = th_expect_json(&th_shared_orgd, "POST", "/auth/signup", NULL,
                                    json_pack("{s:s, s:s, s:s}", "email", email, "password",
                                              TU_PASSWORD, "username", "Grace Hopper"),
                                    201);
    assert_string_equal(th_json_str(signup, "message"), "account created");
    json_decref(signup);
    struct th_tokens t;
    th_signin_ok(&th_shared_orgd, email, TU_PASSWORD, &t);

    json_t *me = th_expect_json(&th_shared_orgd, "GET", "/auth/test_auth", t.access, NULL, 200);
    json_t *check = th_expect_json(&th_shared_orgd, "GET", "/auth/check", t.access, NULL, 200);
    assert_string_equal(th_json_str(json_object_get(me, "admin"), "email"), email);
    /* the same answer as /auth/check, but for the times it gives */
    assert_true(json_equal(json_object_get(me, "admin"), json_object_get(check, "admin")));
    assert_true(json_equal(json_object_get(me, "session"), json_object_get(check, "session")));
    json_decref(me);
    json_decref(check);
    th_expect_status(&th_shared_orgd, "GET", "/auth/test_auth", NULL, NULL, 401);

    /* display names as the original took them: spaces, Unicode */
    char tag[32], names[4][96];
    th_unique("t", tag, sizeof tag);
    const char *slug_tag = tag + 2; /* the random hex */
    snprintf(names[0], sizeof names[0], "Grace Labs %s", slug_tag);
    snprintf(names[1], sizeof names[1], "Café Ünïcode %s", slug_tag);
    snprintf(names[2], sizeof names[2], "日本の会社 %s", slug_tag);
    snprintf(names[3], sizeof names[3], "Grace Labs %s", slug_tag);
    char slugs[4][96];
    snprintf(slugs[0], sizeof slugs[0], "grace-labs-%s", slug_tag);
    snprintf(slugs[1], sizeof slugs[1], "cafe-unicode-%s", slug_tag);
    snprintf(slugs[2], sizeof slugs[2], "%s", slug_tag);
    snprintf(slugs[3], sizeof slugs[3], "grace-labs-%s-2", slug_tag); /* taken: a suffix */
    char ids[4][32];
    for (size_t i = 0; i < 4; i++) {
        json_t *org = th_expect_json(&th_shared_orgd, "POST", "/organization/", t.access,
                                     json_pack("{s:s}", "name", names[i]), 201);
        assert_string_equal(th_json_str(org, "name"), names[i]);
        assert_string_equal(th_json_str(org, "slug"), slugs[i]);
        char coll[128];
        snprintf(coll, sizeof coll, "org_%s", slugs[i]);
        assert_string_equal(th_json_str(org, "collection_name"), coll);
        assert_true(th_db_collection_exists(&th_shared_orgd, coll));
        snprintf(ids[i], sizeof ids[i], "%s", th_json_str(org, "id"));
        json_decref(org);
    }
    /* the original's client: for org in r.json() */
    size_t pages = 0;
    json_t *orgs = th_list_all(&th_shared_orgd, "/organization/?limit=3", t.access, &pages);
    assert_int_equal(json_array_size(orgs), 4);
    assert_int_equal(pages, 2);
    size_t i;
    json_t *org;
    json_array_foreach(orgs, i, org)
    {
        assert_string_equal(th_json_str(org, "id"), ids[i]); /* by id: creation order */
        assert_string_equal(th_json_str(org, "name"), names[i]);
        assert_string_equal(th_json_str(org, "role"), "owner");
    }
    json_decref(orgs);

    char path[128];
    snprintf(path, sizeof path, "/organization/%s/invite", ids[0]);
    json_t *invitation = th_expect_json(&th_shared_orgd, "POST", path, t.access,
                                        json_pack("{s:s}", "email", invited), 201);
    assert_string_equal(th_json_str(invitation, "message"), "invitation created");
    assert_string_equal(th_json_str(invitation, "status"), "pending");
    json_decref(invitation);

    snprintf(path, sizeof path, "/organization/%s/members", ids[0]);
    json_t *members = th_list_all(&th_shared_orgd, path, t.access, &pages);
    assert_int_equal(json_array_size(members), 1);
    assert_string_equal(th_json_str(json_array_get(members, 0), "email"), email);
    json_decref(members);
    for (size_t k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "/organization/%s", ids[k]);
        th_expect_status(&th_shared_orgd, "DELETE", path, t.access, NULL, 204);
    }
}

/* A display name changes without moving anything unless its slug does;
 * the org-first routes find the org by its slug. */
static void display_names_and_slugs(void **state)
{
    (void)state;
    struct th_account a;
    th_account_new(&th_shared_orgd, "disp", &a);
    char tag[32], name[96], slug[96], path[128], coll[128];
    th_unique("t", tag, sizeof tag);
    snprintf(name, sizeof name, "Grace Labs %s", tag + 2);
    json_t *org = th_expect_json(&th_shared_orgd, "POST", "/organization/", a.t.access,
                                 json_pack("{s:s, s:s}", "name", name, "description", "d"), 201);
    char id[32];
    snprintf(id, sizeof id, "%s", th_json_str(org, "id"));
    snprintf(slug, sizeof slug, "%s", th_json_str(org, "slug"));
    json_decref(org);
    snprintf(path, sizeof path, "/organization/%s", id);

    /* the same words, other spacing and case: the name changes, nothing moves */
    char respaced[96];
    snprintf(respaced, sizeof respaced, "grace   LABS %s", tag + 2);
    snprintf(coll, sizeof coll, "org_%s", slug);
    assert_true(th_db_insert_docs(&th_shared_orgd, coll, 3, "disp"));
    org = th_expect_json(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s}", "name", respaced), 200);
    assert_string_equal(th_json_str(org, "name"), respaced);
    assert_string_equal(th_json_str(org, "slug"), slug);
    json_decref(org);
    snprintf(coll, sizeof coll, "org_%s", slug);
    assert_int_equal(th_db_count(&th_shared_orgd, coll, NULL), 3);

    /* other words: a new slug, and the collection moves with every document */
    char renamed[96], new_slug[96];
    snprintf(renamed, sizeof renamed, "Grace Research %s", tag + 2);
    snprintf(new_slug, sizeof new_slug, "grace-research-%s", tag + 2);
    org = th_expect_json(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s}", "name", renamed), 200);
    assert_string_equal(th_json_str(org, "slug"), new_slug);
    json_decref(org);
    assert_false(th_db_collection_exists(&th_shared_orgd, coll));
    snprintf(coll, sizeof coll, "org_%s", new_slug);
    assert_int_equal(th_db_count(&th_shared_orgd, coll, NULL), 3);

    /* a new name with a slug given: the slug is the one given */
    char given[96];
    snprintf(given, sizeof given, "gr-%s", tag + 2);
    org = th_expect_json(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s, s:s}", "name", "Grace, again", "slug", given), 200);
    assert_string_equal(th_json_str(org, "name"), "Grace, again");
    assert_string_equal(th_json_str(org, "slug"), given);
    json_decref(org);

    /* the org-first routes know it by its slug; their rename changes the
     * slug and leaves a display name of its own */
    char by_slug[128], moved[96];
    snprintf(by_slug, sizeof by_slug, "/org/%s", given);
    json_t *first = th_expect_json(&th_shared_orgd, "GET", by_slug, a.t.access, NULL, 200);
    assert_string_equal(th_json_str(first, "organization_name"), given);
    json_decref(first);
    snprintf(moved, sizeof moved, "moved-%s", tag + 2);
    snprintf(by_slug, sizeof by_slug, "/org/update/%s", given);
    th_expect_status(&th_shared_orgd, "PUT", by_slug, a.t.access,
                     json_pack("{s:s}", "new_organization_name", moved), 200);
    org = th_expect_json(&th_shared_orgd, "GET", path, a.t.access, NULL, 200);
    assert_string_equal(th_json_str(org, "name"), "Grace, again");
    assert_string_equal(th_json_str(org, "slug"), moved);
    json_decref(org);
    org = th_expect_json(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s}", "slug", given), 200);
    json_decref(org);

    /* what a display name may not be, and what it may: 100 characters */
    char long_name[512] = "";
    for (int i = 0; i < 101; i++)
        memcpy(long_name + 2 * i, "é", 2); /* two bytes each */
    long_name[200] = '\0';
    org = th_expect_json(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s, s:s}", "name", long_name, "slug", given), 200);
    assert_string_equal(th_json_str(org, "name"), long_name);
    assert_string_equal(th_json_str(org, "slug"), given); /* given: kept */
    json_decref(org);
    memcpy(long_name + 200, "é", 3); /* 101 characters, and the NUL */
    const char *bad[] = {long_name, "", "tab\there", "line\nbreak"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        th_expect_status(&th_shared_orgd, "PUT", path, a.t.access,
                         json_pack("{s:s}", "name", bad[i]), 422);
    th_expect_status(&th_shared_orgd, "POST", "/organization/", a.t.access,
                     json_pack("{s:s, s:s}", "name", "ok", "slug", "Bad Slug!"), 422);
    /* a slug another org holds, given: 409 naming it */
    th_expect_status(&th_shared_orgd, "POST", "/organization/", a.t.access,
                     json_pack("{s:s, s:s}", "name", "copycat", "slug", given), 409);
    th_expect_status(&th_shared_orgd, "DELETE", path, a.t.access, NULL, 204);

    /* one name for many orgs: -2 to -4, then random numbers, each slug once */
    char team[96], slugs[7][96], ids[7][32];
    snprintf(team, sizeof team, "Team %s", tag + 2);
    for (int i = 0; i < 7; i++) {
        org = th_expect_json(&th_shared_orgd, "POST", "/organization/", a.t.access,
                             json_pack("{s:s}", "name", team), 201);
        snprintf(slugs[i], sizeof slugs[i], "%s", th_json_str(org, "slug"));
        snprintf(ids[i], sizeof ids[i], "%s", th_json_str(org, "id"));
        json_decref(org);
        char want[96];
        snprintf(want, sizeof want, i == 0 ? "team-%s" : "team-%s-%d", tag + 2, i + 1);
        if (i < 4)
            assert_string_equal(slugs[i], want);
        else
            assert_int_equal(strspn(slugs[i] + strlen("team-") + 9, "0123456789"),
                             strlen(slugs[i]) - strlen("team-") - 9);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(slugs[i], slugs[k]);
    }
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "/organization/%s", ids[i]);
        th_expect_status(&th_shared_orgd, "DELETE", path, a.t.access, NULL, 204);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_org_first_clients_flow),
        cmocka_unit_test(the_account_first_clients_flow),
        cmocka_unit_test(display_names_and_slugs),
    };
    return th_run_with_shared_orgd(tests);
}
