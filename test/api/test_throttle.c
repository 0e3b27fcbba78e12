/* Throttling of logins, sign-ups and org creations: counted in MongoDB per
 * account and per client address, shared by every instance, checked before
 * any password hash, reset by a good login, over after the window; the
 * client address from X-Forwarded-For only behind TRUSTED_PROXIES. Each
 * test runs its own orgd(s) with the limits it names (the harness turns
 * them all off by default). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* Fast hashing where the test is not about the cost of a hash. */
#define WEAK_HASH "ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1"
#define WRONG_PASSWORD "not the password"
#define NEW_PASSWORD "a brand new password"

/* The orgds a test starts; the teardown stops them if the test failed
 * before it could. */
static struct th_orgd a, b;

static int stop_all(void **state)
{
    (void)state;
    if (a.pid > 0)
        th_orgd_stop(&a);
    if (b.pid > 0)
        th_orgd_stop(&b);
    return 0;
}

static void start(struct th_orgd *o, const char *const *env)
{
    th_orgd_init(o, NULL);
    assert_true(th_orgd_start(o, env));
}

/* A second orgd on o's database and key. */
static void start_twin(struct th_orgd *twin, const struct th_orgd *o, const char *const *env)
{
    th_orgd_init(twin, NULL);
    snprintf(twin->db, sizeof twin->db, "%s", o->db);
    memcpy(twin->secret, o->secret, sizeof twin->secret);
    assert_true(th_orgd_start(twin, env));
}

/* The end of every test: the counters hold e-mails and addresses, never a
 * password or token; and orgd stops cleanly with none in its log. */
static void finish(struct th_orgd *o)
{
    th_db_expect_no_secret(o);
    assert_int_equal(th_orgd_stop(o), 0);
}

struct attempt {
    long status;
    long retry_after; /* -1: none */
    double seconds;
};

/* What a 429 must carry: a problem and Retry-After in 1..max seconds. */
static long retry_after_of(const struct th_resp *r, long max)
{
    char text[32];
    if (!th_is_problem(r, 429))
        fail_msg("not a 429 problem");
    if (!th_resp_header(r, "Retry-After", text, sizeof text))
        fail_msg("a 429 without Retry-After: %s", r->body);
    char *end;
    long s = strtol(text, &end, 10);
    if (end == text || *end != '\0' || s < 1 || s > max)
        fail_msg("Retry-After \"%s\" is not 1..%ld seconds", text, max);
    return s;
}

/* POST `route` {email, password} from `source` (NULL: the default
 * 127.0.0.1) with X-Forwarded-For `xff` (NULL: none). A 429 must be a
 * well-formed one (Retry-After within the 900 s window); on 200 t (if not
 * NULL) gets the tokens. (What a 401 carries is test_sessions'.) */
static struct attempt login_from(const struct th_orgd *o, const char *source, const char *route,
                                 const char *email, const char *password, const char *xff,
                                 struct th_tokens *t)
{
    json_t *j = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char header[256];
    snprintf(header, sizeof header, "X-Forwarded-For: %s", xff ? xff : "");
    const char *headers[] = {header, NULL};
    struct th_resp r;
    bool answered =
        source
            ? th_http_from(o, source, "POST", route, NULL, body, xff ? headers : NULL, &r)
            : th_http(o, "POST", route, NULL, NULL, body, strlen(body), xff ? headers : NULL, &r);
    free(body);
    if (!answered)
        fail_msg("%s from %s: no answer", route, source ? source : "127.0.0.1");
    struct attempt x = {r.status, -1, r.seconds};
    if (r.status == 429)
        x.retry_after = retry_after_of(&r, 900);
    if (r.status == 200 && t != NULL) {
        snprintf(t->access, sizeof t->access, "%s",
                 json_string_value(json_object_get(r.json, "access_token")));
        snprintf(t->refresh, sizeof t->refresh, "%s",
                 json_string_value(json_object_get(r.json, "refresh_token")));
    }
    th_resp_free(&r);
    return x;
}

static long login(const struct th_orgd *o, const char *route, const char *email,
                  const char *password)
{
    return login_from(o, NULL, route, email, password, NULL, NULL).status;
}

static long signin(const struct th_orgd *o, const char *email, const char *password)
{
    return login(o, "/auth/signin", email, password);
}

/* Asserts the status of the n-th attempt of a sequence, saying which. */
#define expect_status(got, want, what, n)                                                          \
    do {                                                                                           \
        long got_ = (got);                                                                         \
        if (got_ != (want))                                                                        \
            fail_msg("%s #%d: %ld, expected %ld", (what), (int)(n), got_, (long)(want));           \
    } while (0)

/* PUT /auth/password; returns the status. */
static long change_password(const struct th_orgd *o, const char *token, const char *current,
                            const char *next)
{
    json_t *j = json_pack("{s:s, s:s}", "current_password", current, "new_password", next);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    assert_true(th_http_json(o, "PUT", "/auth/password", token, body, &r));
    free(body);
    if (r.status == 429)
        retry_after_of(&r, 900);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

static int cmp_double(const void *x, const void *y)
{
    double l = *(const double *)x, r = *(const double *)y;
    return (l > r) - (l < r);
}

/* ---- per account ---- */

static void the_eleventh_bad_login_is_429_before_any_hash(void **state)
{
    (void)state;
    /* a hash that clearly costs something, so that skipping it shows */
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=10", "LOGIN_FAILURES_PER_ADDRESS=100",
                         "ARGON2_MEMORY_KIB=65536", "ARGON2_ITERATIONS=3", NULL};
    start(&a, env);
    char victim[96], bystander[96];
    th_signup_fresh(&a, "Victim", victim, sizeof victim);
    th_signup_fresh(&a, "Bystander", bystander, sizeof bystander);
    char *before = th_metrics_scrape(&a);

    double took[10];
    for (int i = 0; i < 10; i++) {
        struct attempt x = login_from(&a, NULL, "/auth/signin", victim, WRONG_PASSWORD, NULL, NULL);
        expect_status(x.status, 401, "bad login", i + 1);
        took[i] = x.seconds;
    }
    struct attempt eleventh =
        login_from(&a, NULL, "/auth/signin", victim, WRONG_PASSWORD, NULL, NULL);
    expect_status(eleventh.status, 429, "bad login", 11);
    qsort(took, 10, sizeof took[0], cmp_double);
    double median = (took[4] + took[5]) / 2;
    if (eleventh.seconds * 4 > median)
        fail_msg("the 429 took %.4f s, a 401 %.4f s (median): it did not skip the hash",
                 eleventh.seconds, median);

    /* the right password does not help, on either route, and costs no hash */
    struct attempt right = login_from(&a, NULL, "/auth/signin", victim, TU_PASSWORD, NULL, NULL);
    expect_status(right.status, 429, "right password", 1);
    if (right.seconds * 4 > median)
        fail_msg("the right password's 429 took %.4f s, a 401 %.4f s", right.seconds, median);
    expect_status(login(&a, "/admin/login", victim, TU_PASSWORD), 429, "/admin/login", 1);

    /* another account is not affected */
    expect_status(signin(&a, bystander, WRONG_PASSWORD), 401, "bystander bad", 1);
    expect_status(signin(&a, bystander, TU_PASSWORD), 200, "bystander good", 1);

    char *after = th_metrics_scrape(&a);
    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"ok\"}", 1);
    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"bad_credentials\"}", 11);
    th_expect_counter_moved(before, after, "orgd_logins_total{outcome=\"throttled\"}", 3);
    free(before);
    free(after);
    finish(&a);
}

static void the_limit_ends_with_its_window(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=3", "LOGIN_WINDOW_SECONDS=2", WEAK_HASH, NULL};
    start(&a, env);
    char email[96];
    th_signup_fresh(&a, "Window", email, sizeof email);
    for (int i = 0; i < 3; i++)
        expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login", i + 1);
    struct attempt x = login_from(&a, NULL, "/auth/signin", email, WRONG_PASSWORD, NULL, NULL);
    expect_status(x.status, 429, "bad login", 4);
    if (x.retry_after > 2)
        fail_msg("Retry-After %ld is past the 2 s window", x.retry_after);
    expect_status(signin(&a, email, TU_PASSWORD), 429, "right password", 1);
    /* a client that waits as told gets in */
    tu_sleep_ms((int)x.retry_after * 1000 + 300);
    expect_status(signin(&a, email, TU_PASSWORD), 200, "after Retry-After", 1);
    finish(&a);
}

static void instances_share_the_counts(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=3", WEAK_HASH, NULL};
    start(&a, env);
    start_twin(&b, &a, env);
    char email[96];
    th_signup_fresh(&a, "Shared", email, sizeof email);
    expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login on A", 1);
    expect_status(signin(&b, email, WRONG_PASSWORD), 401, "bad login on B", 2);
    expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login on A", 3);
    expect_status(signin(&b, email, TU_PASSWORD), 429, "right password on B", 4);
    expect_status(signin(&a, email, TU_PASSWORD), 429, "right password on A", 5);
    expect_status(login(&b, "/admin/login", email, WRONG_PASSWORD), 429, "/admin/login on B", 6);
    finish(&b);
    finish(&a);
}

static void a_good_login_clears_the_account_count(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=3", WEAK_HASH, NULL};
    start(&a, env);
    char email[96];
    th_signup_fresh(&a, "Clear", email, sizeof email);
    expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login", 1);
    expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login", 2);
    expect_status(signin(&a, email, TU_PASSWORD), 200, "good login", 3);
    /* three more failures are allowed again, not one */
    for (int i = 0; i < 3; i++)
        expect_status(signin(&a, email, WRONG_PASSWORD), 401, "bad login after a good one", i + 1);
    expect_status(signin(&a, email, WRONG_PASSWORD), 429, "bad login after a good one", 4);

    /* an e-mail nobody has is counted alike, so a 429 says nothing of
     * whether the account exists */
    char nobody[96];
    th_fresh_email("Nobody", nobody, sizeof nobody);
    for (int i = 0; i < 3; i++)
        expect_status(signin(&a, nobody, WRONG_PASSWORD), 401, "unknown e-mail", i + 1);
    expect_status(signin(&a, nobody, WRONG_PASSWORD), 429, "unknown e-mail", 4);
    finish(&a);
}

static void both_login_routes_share_the_account_count(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=3", WEAK_HASH, NULL};
    start(&a, env);
    struct th_tenant t;
    th_tenant_new(&a, &t, "Routes");
    expect_status(login(&a, "/admin/login", t.email, WRONG_PASSWORD), 401, "/admin/login", 1);
    expect_status(signin(&a, t.email, WRONG_PASSWORD), 401, "/auth/signin", 2);
    expect_status(login(&a, "/admin/login", t.email, WRONG_PASSWORD), 401, "/admin/login", 3);
    expect_status(login(&a, "/admin/login", t.email, TU_PASSWORD), 429, "/admin/login", 4);
    expect_status(signin(&a, t.email, TU_PASSWORD), 429, "/auth/signin", 5);
    th_tenant_free(&t);
    finish(&a);
}

static void a_wrong_current_password_is_a_failed_login(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=3", "LOGIN_FAILURES_PER_ADDRESS=5", WEAK_HASH,
                         NULL};
    start(&a, env);
    struct th_tenant t;
    th_tenant_new(&a, &t, "Current");
    struct th_tokens account;
    assert_int_equal(th_signin(&a, t.email, TU_PASSWORD, &account), 200);

    /* a stolen access token must not be a way to guess the password */
    expect_status(change_password(&a, account.access, WRONG_PASSWORD, NEW_PASSWORD), 401,
                  "PUT /auth/password", 1);
    expect_status(change_password(&a, account.access, WRONG_PASSWORD, NEW_PASSWORD), 401,
                  "PUT /auth/password", 2);
    char body[256];
    snprintf(body, sizeof body,
             "{\"password\":\"" NEW_PASSWORD "\",\"current_password\":\"" WRONG_PASSWORD "\"}");
    expect_status(th_status_of(&a, "PUT", "/org/update", t.token, body), 401, "PUT /org/update", 3);

    expect_status(signin(&a, t.email, TU_PASSWORD), 429, "sign-in", 4);
    expect_status(login(&a, "/admin/login", t.email, TU_PASSWORD), 429, "/admin/login", 5);
    expect_status(change_password(&a, account.access, TU_PASSWORD, NEW_PASSWORD), 429,
                  "PUT /auth/password, right password", 6);
    snprintf(body, sizeof body,
             "{\"password\":\"" NEW_PASSWORD "\",\"current_password\":\"" TU_PASSWORD "\"}");
    struct th_resp r;
    assert_true(th_http_json(&a, "PUT", "/org/update", t.token, body, &r));
    expect_status(r.status, 429, "PUT /org/update, right password", 7);
    retry_after_of(&r, 900);
    th_resp_free(&r);
    /* the session itself goes on */
    assert_int_equal(th_status_of(&a, "GET", "/auth/check", account.access, NULL), 200);

    /* the three failures counted for the address too: two more are its 5 */
    char nobody[96];
    th_fresh_email("CurrentNobody", nobody, sizeof nobody);
    expect_status(signin(&a, nobody, WRONG_PASSWORD), 401, "address failure", 4);
    expect_status(signin(&a, nobody, WRONG_PASSWORD), 401, "address failure", 5);
    expect_status(signin(&a, nobody, WRONG_PASSWORD), 429, "address failure", 6);
    th_tenant_free(&t);
    finish(&a);
}

/* ---- bursts ---- */

#define BURST 60

/* BURST wrong-password sign-ins released together (th_race), each from
 * the address sources[i] (NULL: the default) at the account emails[i].
 * Returns how many were checked (401: a hash ran and said no); every
 * other answer must be 429 or a busy 503. */
static int burst(const struct th_orgd *o, char (*emails)[96], char (*sources)[16])
{
    static struct th_call calls[BURST];
    for (int i = 0; i < BURST; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        calls[i].o = o;
        calls[i].method = "POST";
        calls[i].source = sources ? sources[i] : NULL;
        snprintf(calls[i].path, sizeof calls[i].path, "/auth/signin");
        snprintf(calls[i].body, sizeof calls[i].body, "{\"email\":\"%s\",\"password\":\"%s\"}",
                 emails[i], WRONG_PASSWORD);
    }
    th_race(calls, BURST);
    int checked = 0, throttled = 0, busy = 0;
    for (int i = 0; i < BURST; i++) {
        if (calls[i].status == 401)
            checked++;
        else if (calls[i].status == 429)
            throttled++;
        else if (calls[i].status == 503)
            busy++;
        else
            fail_msg("a guess of the burst answered %ld", calls[i].status);
    }
    printf("# %d guesses at once: %d checked (401), %d refused (429), %d turned away busy "
           "(503)\n",
           BURST, checked, throttled, busy);
    return checked;
}

/* Sixty guesses at one account, each from an address of its own, all at
 * once: a burst cannot pass the check before any of it is counted, since
 * each attempt reserves its place before it counts (throttle.h). At most
 * the limit is checked, with hashes enough for all sixty at once. */
static void a_burst_at_one_account_is_held_to_the_limit(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=10",
                         "LOGIN_FAILURES_PER_ADDRESS=100",
                         "HASH_QUEUE=64",
                         "THREADS=96",
                         WEAK_HASH,
                         NULL};
    start(&a, env);
    static char emails[BURST][96], sources[BURST][16];
    th_signup_fresh(&a, "Burst", emails[0], sizeof emails[0]);
    for (int i = 0; i < BURST; i++) {
        memcpy(emails[i], emails[0], sizeof emails[i]);
        snprintf(sources[i], sizeof sources[i], "127.0.1.%d", i + 1);
    }
    int checked = burst(&a, emails, sources);
    if (checked > 10)
        fail_msg("%d guesses at one account were checked; the limit is 10", checked);
    /* the failures counted are the ones checked (a refused guess gives its
     * place back, and may have crowded out one that would have been
     * checked): the right password is refused once all ten are spent */
    expect_status(signin(&a, emails[0], TU_PASSWORD), checked == 10 ? 429 : 200,
                  "right password after the burst", 1);
    finish(&a);
}

/* Sixty guesses at sixty accounts from one address, all at once: the
 * address's limit holds the same way. */
static void a_burst_from_one_address_is_held_to_the_limit(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ACCOUNT=10",
                         "LOGIN_FAILURES_PER_ADDRESS=10",
                         "HASH_QUEUE=64",
                         "THREADS=96",
                         WEAK_HASH,
                         NULL};
    start(&a, env);
    static char emails[BURST][96];
    /* one real account among the guessed ones: the closing scan for
     * secrets then has its documents to read even when the whole burst
     * was refused (as it may be: every attempt counts the others) */
    th_signup_fresh(&a, "BurstAddr", emails[0], sizeof emails[0]);
    for (int i = 1; i < BURST; i++)
        th_fresh_email("BurstAddr", emails[i], sizeof emails[i]);
    int checked = burst(&a, emails, NULL);
    if (checked > 10)
        fail_msg("%d guesses from one address were checked; the limit is 10", checked);
    finish(&a);
}

/* ---- per address ---- */

static void the_address_limit_spans_accounts(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ADDRESS=4", "LOGIN_FAILURES_PER_ACCOUNT=100",
                         WEAK_HASH, NULL};
    start(&a, env);
    char good[96], nobody[96];
    th_signup_fresh(&a, "Addr", good, sizeof good);
    for (int i = 0; i < 4; i++) {
        th_fresh_email("AddrNobody", nobody, sizeof nobody);
        expect_status(signin(&a, nobody, WRONG_PASSWORD), 401, "another account", i + 1);
    }
    th_fresh_email("AddrNobody", nobody, sizeof nobody);
    expect_status(signin(&a, nobody, WRONG_PASSWORD), 429, "another account", 5);
    /* the address is stopped, even with the right password */
    expect_status(signin(&a, good, TU_PASSWORD), 429, "right password from 127.0.0.1", 1);
    /* another address is not */
    expect_status(login_from(&a, "127.0.0.2", "/auth/signin", good, TU_PASSWORD, NULL, NULL).status,
                  200, "right password from 127.0.0.2", 1);
    expect_status(
        login_from(&a, "127.0.0.2", "/auth/signin", nobody, WRONG_PASSWORD, NULL, NULL).status, 401,
        "bad login from 127.0.0.2", 1);
    finish(&a);
}

static void signups_are_limited_per_address(void **state)
{
    (void)state;
    const char *env[] = {"SIGNUPS_PER_ADDRESS=3", WEAK_HASH, NULL};
    start(&a, env);
    char e1[96], e2[96], e3[96], e4[96];
    th_fresh_email("Flood", e1, sizeof e1);
    th_fresh_email("Flood", e2, sizeof e2);
    th_fresh_email("Flood", e3, sizeof e3);
    th_fresh_email("Flood", e4, sizeof e4);
    /* invalid attempts are not counted */
    expect_status(th_signup(&a, "not-an-email", TU_PASSWORD), 422, "invalid sign-up", 1);
    expect_status(th_signup(&a, e1, "short"), 422, "invalid sign-up", 2);
    /* valid ones are, whatever their outcome */
    expect_status(th_signup(&a, e1, TU_PASSWORD), 201, "sign-up", 1);
    expect_status(th_signup(&a, e2, TU_PASSWORD), 201, "sign-up", 2);
    expect_status(th_signup(&a, e1, TU_PASSWORD), 409, "sign-up", 3);
    json_t *j = json_pack("{s:s, s:s}", "email", e3, "password", TU_PASSWORD);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    assert_true(th_http_json(&a, "POST", "/auth/signup", NULL, body, &r));
    expect_status(r.status, 429, "sign-up", 4);
    retry_after_of(&r, 3600);
    th_resp_free(&r);
    assert_int_equal(th_db_count_str(&a, "admins", "email", e3), 0);
    /* another address may */
    assert_true(th_http_from(&a, "127.0.0.2", "POST", "/auth/signup", NULL, body, NULL, &r));
    expect_status(r.status, 201, "sign-up from 127.0.0.2", 1);
    th_resp_free(&r);
    free(body);
    /* the refused attempt added nothing, the address is still at its limit */
    expect_status(th_signup(&a, e4, TU_PASSWORD), 429, "sign-up", 5);
    /* and signing in is another count */
    expect_status(signin(&a, e1, TU_PASSWORD), 200, "sign-in", 1);
    finish(&a);
}

/* POST /org/create of `name` (owner name@example.com) from `source` (NULL:
 * 127.0.0.1); a 429's Retry-After into *retry_after. Returns the status. */
static long create_from_retry(const struct th_orgd *o, const char *source, const char *name,
                              long *retry_after)
{
    char email[96];
    snprintf(email, sizeof email, "%s@example.com", name);
    json_t *j = json_pack("{s:s, s:s, s:s}", "organization_name", name, "email", email, "password",
                          TU_PASSWORD);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct th_resp r;
    bool answered = source ? th_http_from(o, source, "POST", "/org/create", NULL, body, NULL, &r)
                           : th_http_json(o, "POST", "/org/create", NULL, body, &r);
    free(body);
    assert_true(answered);
    if (r.status == 429)
        *retry_after = retry_after_of(&r, 3600);
    long status = r.status;
    th_resp_free(&r);
    return status;
}

static long create_from(const struct th_orgd *o, const char *source, const char *name)
{
    long retry_after;
    return create_from_retry(o, source, name, &retry_after);
}

static void org_creations_are_limited_per_address(void **state)
{
    (void)state;
    const char *env[] = {"ORG_CREATES_PER_ADDRESS=2", "SIGNUPS_PER_ADDRESS=2",
                         "SIGNUP_WINDOW_SECONDS=3", WEAK_HASH, NULL};
    start(&a, env);
    char n1[64], n2[64], n3[64], n4[64], coll[96];
    th_unique("create", n1, sizeof n1);
    th_unique("create", n2, sizeof n2);
    th_unique("create", n3, sizeof n3);
    th_unique("create", n4, sizeof n4);
    expect_status(create_from(&a, NULL, n1), 201, "create", 1);
    expect_status(create_from(&a, NULL, n2), 201, "create", 2);
    long retry_after = 0;
    expect_status(create_from_retry(&a, NULL, n3, &retry_after), 429, "create", 3);
    if (retry_after > 3)
        fail_msg("Retry-After %ld is past the 3 s window", retry_after);
    th_collection_of(n3, coll, sizeof coll);
    assert_false(th_db_collection_exists(&a, coll));
    expect_status(create_from(&a, "127.0.0.2", n3), 201, "create from 127.0.0.2", 1);
    assert_true(th_db_collection_exists(&a, coll));
    /* signing up is counted apart */
    char email[96];
    th_signup_fresh(&a, "CreateSignup", email, sizeof email);
    /* a client that waits as told may create again */
    tu_sleep_ms((int)retry_after * 1000 + 300);
    expect_status(create_from(&a, NULL, n4), 201, "create after Retry-After", 1);
    finish(&a);
}

/* ---- the client address ---- */

/* The client_address of the session a sign-in with these headers made. */
static void expect_client_address(const struct th_orgd *o, const char *source, const char *xff,
                                  const char *email, const char *want)
{
    struct th_tokens t;
    expect_status(login_from(o, source, "/auth/signin", email, TU_PASSWORD, xff, &t).status, 200,
                  "sign-in", 1);
    json_t *list = th_list_all(o, "/auth/sessions", t.access, NULL);
    json_t *first = json_array_get(list, 0); /* the newest sign-in: this one */
    assert_true(json_is_true(json_object_get(first, "current")));
    const char *got = json_string_value(json_object_get(first, "client_address"));
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("from %s with X-Forwarded-For %s: client_address %s, expected %s",
                 source ? source : "127.0.0.1", xff ? xff : "(none)", got ? got : "(none)", want);
    json_decref(list);
}

static void a_trusted_proxy_names_the_client(void **state)
{
    (void)state;
    const char *env[] = {"TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32", "LOGIN_FAILURES_PER_ADDRESS=2",
                         WEAK_HASH, NULL};
    start(&a, env);
    char nobody[96], email[96];
    th_fresh_email("ProxyNobody", nobody, sizeof nobody);
    const char *route = "/auth/signin";
    for (int i = 0; i < 2; i++)
        expect_status(
            login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.5", NULL).status, 401,
            "from 203.0.113.5", i + 1);
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.5", NULL).status,
                  429, "from 203.0.113.5", 3);
    /* another forwarded client is counted apart */
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.6", NULL).status,
                  401, "from 203.0.113.6", 1);
    /* the rightmost entry counts: what the client itself put first does not */
    expect_status(
        login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "198.51.100.9, 203.0.113.5", NULL)
            .status,
        429, "forged first entry", 1);
    /* trusted proxies in the chain are skipped */
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD,
                             "203.0.113.5, 10.1.2.3, 127.0.0.1", NULL)
                      .status,
                  429, "through two more proxies", 1);
    /* the proxy's own requests are its own */
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, NULL, NULL).status, 401,
                  "no X-Forwarded-For", 1);
    /* a peer that is no trusted proxy cannot name a client */
    expect_status(
        login_from(&a, "127.0.0.2", route, nobody, WRONG_PASSWORD, "203.0.113.99", NULL).status,
        401, "untrusted peer", 1);
    expect_status(
        login_from(&a, "127.0.0.2", route, nobody, WRONG_PASSWORD, "203.0.113.99", NULL).status,
        401, "untrusted peer", 2);
    expect_status(
        login_from(&a, "127.0.0.2", route, nobody, WRONG_PASSWORD, "203.0.113.98", NULL).status,
        429, "untrusted peer", 3);

    /* and the session records the client, IPv6 too */
    th_signup_fresh(&a, "Proxy", email, sizeof email);
    expect_client_address(&a, NULL, "203.0.113.77", email, "203.0.113.77");
    expect_client_address(&a, NULL, "2001:db8::7", email, "2001:db8::7");
    expect_client_address(&a, NULL, NULL, email, "127.0.0.1");
    /* (127.0.0.2 is throttled by now) */
    expect_client_address(&a, "127.0.0.3", "203.0.113.77", email, "127.0.0.3");
    finish(&a);
}

static void without_trusted_proxies_the_header_is_ignored(void **state)
{
    (void)state;
    const char *env[] = {"LOGIN_FAILURES_PER_ADDRESS=2", WEAK_HASH, NULL};
    start(&a, env);
    char nobody[96], email[96];
    th_signup_fresh(&a, "NoProxy", email, sizeof email);
    th_fresh_email("NoProxyNobody", nobody, sizeof nobody);
    const char *route = "/auth/signin";
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.5", NULL).status,
                  401, "spoofed address", 1);
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.6", NULL).status,
                  401, "spoofed address", 2);
    expect_status(login_from(&a, NULL, route, nobody, WRONG_PASSWORD, "203.0.113.7", NULL).status,
                  429, "spoofed address", 3);
    expect_status(login_from(&a, NULL, route, email, TU_PASSWORD, NULL, NULL).status, 429,
                  "right password", 4);
    expect_client_address(&a, "127.0.0.2", "203.0.113.77", email, "127.0.0.2");
    finish(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(the_eleventh_bad_login_is_429_before_any_hash, stop_all),
        cmocka_unit_test_teardown(the_limit_ends_with_its_window, stop_all),
        cmocka_unit_test_teardown(instances_share_the_counts, stop_all),
        cmocka_unit_test_teardown(a_good_login_clears_the_account_count, stop_all),
        cmocka_unit_test_teardown(both_login_routes_share_the_account_count, stop_all),
        cmocka_unit_test_teardown(a_wrong_current_password_is_a_failed_login, stop_all),
        cmocka_unit_test_teardown(a_burst_at_one_account_is_held_to_the_limit, stop_all),
        cmocka_unit_test_teardown(a_burst_from_one_address_is_held_to_the_limit, stop_all),
        cmocka_unit_test_teardown(the_address_limit_spans_accounts, stop_all),
        cmocka_unit_test_teardown(signups_are_limited_per_address, stop_all),
        cmocka_unit_test_teardown(org_creations_are_limited_per_address, stop_all),
        cmocka_unit_test_teardown(a_trusted_proxy_names_the_client, stop_all),
        cmocka_unit_test_teardown(without_trusted_proxies_the_header_is_ignored, stop_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
