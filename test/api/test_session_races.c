/* Sessions raced over HTTP: one refresh token sent many times at once
 * (one rotation, shared), a refresh held open at a fault point while the
 * same token comes again, a spent token from another address, and a
 * logout or a password change sent together with refreshes of the
 * sessions it ends, which must never come back. Every race is released by
 * th_race, with each request's connection already open. The sessions
 * themselves are test_sessions.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd;

#define NEW_PASSWORD "a brand new password"
#define RACERS 16 /* refreshes of one token at once */
#define ROUNDS 20

/* c: POST /auth/refresh_token {refresh_token} on o, keeping the answer's
 * JSON (the caller json_decref's c->json). */
static void refresh_call(struct th_call *c, const struct th_orgd *o, const char *refresh)
{
    *c = (struct th_call){.o = o, .method = "POST", .want_json = true};
    snprintf(c->path, sizeof c->path, "/auth/refresh_token");
    snprintf(c->body, sizeof c->body, "{\"refresh_token\":\"%s\"}", refresh);
}

/* ---- concurrent refreshes ---- */

/* A client that sends one refresh many times at once (a retrying HTTP
 * stack, several tabs): one rotation happens, and every answer that is a
 * 200 carries its pair, the same refresh token; the others are 409s to
 * retry. The session never ends (REFRESH_REUSE_GRACE_MS: it is one
 * client, from one address, within the grace). Twenty rounds of sixteen
 * refreshes released together. */
static void concurrent_refreshes_share_one_rotation(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Race", email, sizeof email);
    int busy = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct th_tokens t;
        th_signin_ok(O, email, TU_PASSWORD, &t);
        struct th_call calls[RACERS];
        for (int i = 0; i < RACERS; i++)
            refresh_call(&calls[i], O, t.refresh);
        th_race(calls, RACERS);
        const char *pair = NULL;
        for (int i = 0; i < RACERS; i++) {
            if (calls[i].status == 409) {
                busy++;
                continue;
            }
            if (calls[i].status != 200)
                fail_msg("round %d: a refresh of one client answered %ld", round, calls[i].status);
            const char *refresh = th_json_str(calls[i].json, "refresh_token");
            if (pair == NULL)
                pair = refresh;
            if (strcmp(pair, refresh) != 0)
                fail_msg("round %d: two refreshes of one token answered two different refresh "
                         "tokens",
                         round);
            th_expect_alive(O, th_json_str(calls[i].json, "access_token"));
        }
        if (pair == NULL)
            fail_msg("round %d: no refresh of %d succeeded", round, RACERS);
        th_expect_alive(O, t.access);
        struct th_tokens next;
        assert_int_equal(th_refresh(O, pair, &next), 200);
        th_expect_alive(O, next.access);
        for (int i = 0; i < RACERS; i++)
            json_decref(calls[i].json);
    }
    printf("# %d of %d refreshes were told to retry (409)\n", busy, ROUNDS * RACERS);
}

/* The race made deterministic: the winner stops (fault point, 3 s) after
 * it has claimed the token and before it rotates. A second refresh with
 * the same token meanwhile waits the grace for the rotation, and is told
 * to retry (409); retried once the rotation is written, it gets the
 * winner's pair. After the grace the spent token is a reuse, and the
 * session ends. */
static void a_lost_race_keeps_the_session(void **state)
{
    (void)state;
    const char *env[] = {"FAULT_POINT=pause:refresh.after_claim", "REFRESH_REUSE_GRACE_MS=1500",
                         NULL};
    struct th_orgd *paused = th_own_orgd_start(th_orgd_faults_bin(), env);
    char email[96];
    th_signup_fresh(paused, "Paused", email, sizeof email);
    struct th_tokens t;
    th_signin_ok(paused, email, TU_PASSWORD, &t);
    struct th_call winner;
    refresh_call(&winner, paused, t.refresh);
    th_call_start(&winner);
    tu_sleep_ms(1000); /* the winner has claimed the token and waits */
    struct th_tokens retried;
    assert_int_equal(th_refresh(paused, t.refresh, &retried), 409);
    th_call_join(&winner);
    assert_int_equal(winner.status, 200);
    const char *pair = json_string_value(json_object_get(winner.json, "refresh_token"));
    assert_non_null(pair);
    /* retried within the grace, from the same address: the winner's pair */
    assert_int_equal(th_refresh(paused, t.refresh, &retried), 200);
    assert_string_equal(retried.refresh, pair);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", retried.access, NULL), 200);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", t.access, NULL), 200);
    /* after the grace the spent token is a reuse: the session ends */
    tu_sleep_ms(1700);
    struct th_tokens scratch;
    assert_int_equal(th_refresh(paused, t.refresh, &scratch), 401);
    assert_int_equal(th_status_of(paused, "GET", "/auth/check", t.access, NULL), 401);
    assert_int_equal(th_refresh(paused, pair, &scratch), 401);
    json_decref(winner.json);
    assert_int_equal(th_orgd_stop(paused), 0);
}

/* Within the grace, the same token from another address is no retry: it
 * is a reuse, and the session ends. */
static void a_spent_token_from_elsewhere_is_a_reuse(void **state)
{
    (void)state;
    char email[96], body[256];
    th_signup_fresh(O, "Elsewhere", email, sizeof email);
    struct th_tokens t, next;
    th_signin_ok(O, email, TU_PASSWORD, &t);
    assert_int_equal(th_refresh(O, t.refresh, &next), 200);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", t.refresh);
    struct th_resp r;
    assert_true(th_http_from(O, "127.0.0.2", "POST", "/auth/refresh_token", NULL, body, NULL, &r));
    assert_true(th_is_problem(&r, 401));
    th_resp_free(&r);
    th_expect_refused(O, next.access);
    assert_int_equal(th_refresh_status(O, next.refresh), 401);
}

/* ---- what ends a session, racing its refreshes ---- */

/* A logout sent together with a refresh of the same session. FerretDB
 * applies an update as a read and then a whole-document write, so a
 * rotation that read the session just before the logout's write would
 * write it back active: the logout must never be undone, whichever of the
 * two the database takes first. */
#define LOGOUT_RACES 60
static void a_logout_racing_a_refresh_is_not_undone(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "Racing", email, sizeof email);
    int undone = 0, refreshed = 0;
    for (int i = 0; i < LOGOUT_RACES; i++) {
        struct th_tokens t;
        th_signin_ok(O, email, TU_PASSWORD, &t);
        struct th_call calls[2];
        struct th_call *refresh = &calls[0], *logout = &calls[1];
        refresh_call(refresh, O, t.refresh);
        *logout = (struct th_call){.o = O, .method = "POST", .token = t.access};
        snprintf(logout->path, sizeof logout->path, "/auth/logout");
        logout->delay_ms = i % 3; /* a little either way of the refresh */
        th_race(calls, 2);
        assert_int_equal(logout->status, 204);
        if (refresh->status == 200) {
            refreshed++;
            struct th_tokens next;
            if (th_refresh(O, th_json_str(refresh->json, "refresh_token"), &next) == 200)
                undone++;
        } else {
            assert_int_equal(refresh->status, 401);
        }
        json_decref(refresh->json);
    }
    if (undone > 0)
        fail_msg("%d of %d logouts were undone by a refresh (%d refreshes went through first)",
                 undone, LOGOUT_RACES, refreshed);
}

/* The same for a password change, which ends the account's other
 * sessions at once: none of them refreshing at that moment may come back
 * (a thief's refresh racing the owner's change). The change hashes twice
 * before it ends anything, so the others refresh at staggered moments
 * around then. */
#define PASSWORD_RACES 6
#define OTHERS 8
static void a_password_change_racing_refreshes_is_not_undone(void **state)
{
    (void)state;
    char email[96];
    th_signup_fresh(O, "RacingPw", email, sizeof email);
    const char *pw[2] = {TU_PASSWORD, NEW_PASSWORD};
    int undone = 0, through = 0;
    for (int i = 0; i < PASSWORD_RACES; i++) {
        struct th_tokens mine, other[OTHERS];
        th_signin_ok(O, email, pw[i % 2], &mine);
        /* calls[0] the change, then a refresh of each other session */
        struct th_call calls[1 + OTHERS];
        struct th_call *change = &calls[0], *refresh = &calls[1];
        for (int k = 0; k < OTHERS; k++) {
            th_signin_ok(O, email, pw[i % 2], &other[k]);
            refresh_call(&refresh[k], O, other[k].refresh);
            refresh[k].delay_ms = 40 + k * 15 + i * 4;
        }
        *change = (struct th_call){.o = O, .method = "PUT", .token = mine.access};
        snprintf(change->path, sizeof change->path, "/auth/password");
        snprintf(change->body, sizeof change->body,
                 "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", pw[i % 2],
                 pw[(i + 1) % 2]);
        th_race(calls, 1 + OTHERS);
        assert_int_equal(change->status, 204);
        for (int k = 0; k < OTHERS; k++) {
            if (refresh[k].status == 200) {
                through++;
                struct th_tokens next;
                if (th_refresh(O, th_json_str(refresh[k].json, "refresh_token"), &next) == 200)
                    undone++;
            }
            json_decref(refresh[k].json);
        }
    }
    if (undone > 0)
        fail_msg("%d sessions came back after a password change ended them (%d refreshes went "
                 "through)",
                 undone, through);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_refreshes_share_one_rotation),
        cmocka_unit_test(a_spent_token_from_elsewhere_is_a_reuse),
        cmocka_unit_test_teardown(a_lost_race_keeps_the_session, th_own_orgd_stop),
        cmocka_unit_test(a_logout_racing_a_refresh_is_not_undone),
        cmocka_unit_test(a_password_change_racing_refreshes_is_not_undone),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
