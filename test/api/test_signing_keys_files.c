/* Signing keys in files, as running orgds read them: two instances
 * sharing one key file while it rotates under traffic (made with the real
 * `orgd keys` commands, picked up without a restart), the key files orgd
 * refuses at start, a file broken while orgd runs (the keys in use stay),
 * the reload a SIGHUP starts, and a change that lands during a reload.
 * The JWK Set, tokens' kids, PyJWT and hostile headers on one instance
 * are test_signing_keys.c's.
 *
 * Key files live in a private directory (mkdtemp, 0700) made by the real
 * `orgd keys new` (which writes them 0600); the teardown removes it
 * (harness_keys.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_keys.h"
#include "testutil.h"

static struct th_orgd second; /* a second instance, on th_own_orgd's database */

/* The teardown of every case that starts orgds or makes key files: a
 * failed assertion leaves the case at once, and neither may outlive it. */
static void traffic_stop(void);
static int stop_orgds_remove_keys(void **state)
{
    traffic_stop();
    th_own_orgd_stop(state);
    if (second.pid > 0)
        th_orgd_stop(&second);
    th_keydir_remove();
    return 0;
}

/* Writes text to path as an editor or a careless operator would replace
 * it: a temporary file of that mode, renamed over path. */
static void write_file(const char *path, const char *text, mode_t mode)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.writing", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fail_msg("open %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0); /* the mode exactly, whatever the umask */
    assert_int_equal(close(fd), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* The whole file at path (malloc'd, caller frees). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* ---- two instances, one key file, rotating under traffic ---- */

#define WORKERS 4 /* even ones sign in on A, odd ones on B */

struct traffic {
    const struct th_orgd *o[2];
    char email[96], org_id[32];
    char old_kid[TH_KID_BUF];
    char new_kid[TH_KID_BUF]; /* set (under lock) before it signs anything */
    char old_token[2][2048];  /* issued by A and B before the rotation */
    atomic_bool stop;
    pthread_mutex_t lock;
    long requests, signins, failures;
    /* tokens issued by instance [i] with the [0] old or [1] new key that
     * passed on the other one */
    long crossed[2][2];
    char first_failure[1024];
};

struct worker {
    struct traffic *t;
    int index;
    long rounds;
    pthread_t thread;
};

/* Static, not on the test's stack: a failed assertion leaves the test
 * while they run, and the teardown stops them (traffic_stop). */
static struct traffic traffic;
static struct worker workers[WORKERS];
static bool workers_running;

/* Records one request (and whether it answered what it should); no
 * assertion runs on a worker's thread. */
static bool tally(struct traffic *t, const struct th_resp *r, bool got, long want, const char *what,
                  int on)
{
    pthread_mutex_lock(&t->lock);
    t->requests++;
    bool ok = got && r->status == want;
    if (!ok && t->failures++ == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "%s on %s answered %ld: %.400s", what,
                 on ? "B" : "A", got ? r->status : -1L, r->body ? r->body : "");
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* Which key signed token: 0 the old, 1 the new, -1 another (a failure). */
static int key_of(struct traffic *t, const char *token)
{
    const char *dot = strchr(token, '.');
    unsigned char raw[512];
    long n = dot ? th_b64url_decode(token, (size_t)(dot - token), raw, sizeof raw) : -1;
    json_t *h = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    const char *kid = json_string_value(json_object_get(h, "kid"));
    pthread_mutex_lock(&t->lock);
    int which = kid == NULL                    ? -1
                : strcmp(kid, t->old_kid) == 0 ? 0
                : strcmp(kid, t->new_kid) == 0 ? 1
                                               : -1;
    if (which < 0 && t->failures++ == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "a token with kid %s",
                 kid ? kid : "(none)");
    pthread_mutex_unlock(&t->lock);
    json_decref(h);
    return which;
}

/* One worker: sign in on its instance, use the token on the other (the
 * session and an org read), refresh there, use that token back on the
 * first; and the other instance's token from before the rotation, which
 * must keep working until its key is retired. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct traffic *t = w->t;
    int mine = w->index % 2, other = 1 - mine;
    const struct th_orgd *here = t->o[mine], *there = t->o[other];
    char body[256], path[128];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", t->email, TU_PASSWORD);
    snprintf(path, sizeof path, "/organization/%s", t->org_id);
    while (!atomic_load(&t->stop)) {
        struct th_resp r;
        bool got = th_http_json(here, "POST", "/auth/signin", NULL, body, &r);
        if (!tally(t, &r, got, 200, "a sign-in", mine)) {
            th_resp_free(&r);
            continue;
        }
        char access[2048], refresh[256];
        snprintf(access, sizeof access, "%s",
                 json_string_value(json_object_get(r.json, "access_token")));
        snprintf(refresh, sizeof refresh, "{\"refresh_token\":\"%s\"}",
                 json_string_value(json_object_get(r.json, "refresh_token")));
        th_resp_free(&r);
        int key = key_of(t, access);

        got = th_http_json(there, "GET", "/auth/check", access, NULL, &r);
        bool ok = tally(t, &r, got, 200, "/auth/check with the other's token", other);
        th_resp_free(&r);
        got = th_http_json(there, "GET", path, access, NULL, &r);
        ok = tally(t, &r, got, 200, "an org read with the other's token", other) && ok;
        th_resp_free(&r);
        got = th_http_json(there, "POST", "/auth/refresh_token", NULL, refresh, &r);
        if (tally(t, &r, got, 200, "a refresh of the other's session", other)) {
            char back[2048];
            snprintf(back, sizeof back, "%s",
                     json_string_value(json_object_get(r.json, "access_token")));
            th_resp_free(&r);
            int back_key = key_of(t, back);
            got = th_http_json(here, "GET", "/auth/check", back, NULL, &r);
            if (tally(t, &r, got, 200, "/auth/check with the other's refreshed token", mine) &&
                back_key >= 0) {
                pthread_mutex_lock(&t->lock);
                t->crossed[other][back_key]++;
                pthread_mutex_unlock(&t->lock);
            }
        }
        th_resp_free(&r);
        got = th_http_json(here, "GET", "/auth/check", t->old_token[other], NULL, &r);
        tally(t, &r, got, 200, "/auth/check with the other's token from before the rotation", mine);
        th_resp_free(&r);
        pthread_mutex_lock(&t->lock);
        t->signins++;
        if (ok && key >= 0)
            t->crossed[mine][key]++;
        pthread_mutex_unlock(&t->lock);
        __atomic_fetch_add(&w->rounds, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Waits (TH_KEYS_WAIT_MS at most) until every worker has done `rounds` more. */
static void wait_rounds(struct worker *w, long rounds)
{
    long from[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        from[i] = __atomic_load_n(&w[i].rounds, __ATOMIC_RELAXED);
    int64_t until = tu_now_ms() + TH_KEYS_WAIT_MS;
    for (int i = 0; i < WORKERS; i++) {
        while (__atomic_load_n(&w[i].rounds, __ATOMIC_RELAXED) - from[i] < rounds) {
            if (tu_now_ms() > until) {
                char first[1024];
                pthread_mutex_lock(&traffic.lock);
                long failures = traffic.failures;
                snprintf(first, sizeof first, "%s", traffic.first_failure);
                pthread_mutex_unlock(&traffic.lock);
                fail_msg("worker %d did not do %ld rounds in %d ms (%ld failed requests; the "
                         "first: %s)",
                         i, rounds, TH_KEYS_WAIT_MS, failures, first);
            }
            tu_sleep_ms(20);
        }
    }
}

/* Stops the workers, if they run, and waits for them. */
static void traffic_stop(void)
{
    if (!workers_running)
        return;
    atomic_store(&traffic.stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    workers_running = false;
}

/* Two orgd processes on one database and one key file, rotated with the
 * commands while four threads sign in on one and use the token on the
 * other (the session, an org read, a refresh there and its token back):
 * no request that should pass is refused, tokens of both keys cross both
 * ways, and the tokens each issued before the rotation keep working on
 * the other until the old key is retired, when both refuse them within
 * seconds. The waits are the runbook's, shortened: the new key is
 * promoted once both publish it. */
static void two_instances_rotate_without_refusing_a_token(void **state)
{
    (void)state;
    char file[128], old_kid[1][TH_KID_BUF], new_kid[TH_KID_BUF], out[4096];
    th_keydir_make("keys.json", file, sizeof file);
    th_keyfile_with(file, 1, old_kid);
    /* cheap password hashes: the sign-ins are traffic here, not the subject */
    const char *const cheap[] = {"ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", NULL};
    struct th_orgd *a = th_es256_orgd_start(file, cheap);
    second = *a; /* the same database, secret and settings */
    second.pid = 0;
    snprintf(second.log_path, sizeof second.log_path, "%s.b", a->log_path);
    char keys_file[512];
    snprintf(keys_file, sizeof keys_file, "JWT_KEYS_FILE=%s", file);
    const char *env_b[] = {"JWT_ALGORITHM=ES256", keys_file, cheap[0], cheap[1], NULL};
    assert_true(th_orgd_start(&second, env_b));
    struct th_orgd *b = &second;

    char email[96], org_id[32], org_name[64];
    th_signup_fresh(a, "TwoKeys", email, sizeof email);
    struct th_tokens owner, old_a, old_b;
    th_signin_ok(a, email, TU_PASSWORD, &owner);
    th_org_new(a, owner.access, "TwoKeys", org_id, org_name);
    th_signin_ok(a, email, TU_PASSWORD, &old_a);
    th_signin_ok(b, email, TU_PASSWORD, &old_b);

    struct traffic *t = &traffic;
    struct worker *w = workers;
    memset(t, 0, sizeof *t);
    t->o[0] = a;
    t->o[1] = b;
    snprintf(t->email, sizeof t->email, "%s", email);
    snprintf(t->org_id, sizeof t->org_id, "%s", org_id);
    snprintf(t->old_token[0], sizeof t->old_token[0], "%s", old_a.access);
    snprintf(t->old_token[1], sizeof t->old_token[1], "%s", old_b.access);
    snprintf(t->old_kid, sizeof t->old_kid, "%s", old_kid[0]);
    pthread_mutex_init(&t->lock, NULL);
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.t = t, .index = i};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    workers_running = true;
    wait_rounds(w, 2);

    /* new, and wait until both publish it; then promote, and wait until
     * both sign with it */
    th_keys_new(a, file, new_kid);
    pthread_mutex_lock(&t->lock);
    snprintf(t->new_kid, sizeof t->new_kid, "%s", new_kid);
    pthread_mutex_unlock(&t->lock);
    th_wait_jwks(a, new_kid, true);
    th_wait_jwks(b, new_kid, true);
    wait_rounds(w, 2);
    th_keys_ok(a, "promote", new_kid, file, out, sizeof out);
    struct th_tokens new_a, new_b;
    th_wait_signing_kid(a, email, new_kid, &new_a);
    th_wait_signing_kid(b, email, new_kid, &new_b);
    wait_rounds(w, 3);
    traffic_stop();
    printf("# two instances, one key file: %ld requests (%ld rounds of sign-in, check, org read, "
           "refresh, check back, old token), %ld refused; tokens used on the other instance: "
           "A old %ld new %ld, B old %ld new %ld\n",
           t->requests, t->signins, t->failures, t->crossed[0][0], t->crossed[0][1],
           t->crossed[1][0], t->crossed[1][1]);
    if (t->failures > 0)
        fail_msg("%ld requests that should have passed did not; the first: %s", t->failures,
                 t->first_failure);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 2; k++) {
            if (t->crossed[i][k] == 0)
                fail_msg("no token of the %s key issued by %s was used on the other instance",
                         k ? "new" : "old", i ? "B" : "A");
        }
    }

    /* retire: the old tokens are refused on both within seconds */
    th_keys_ok(b, "retire", old_kid[0], file, out, sizeof out);
    int64_t start = tu_now_ms();
    const char *olds[] = {old_a.access, old_b.access};
    const struct th_orgd *both[] = {a, b};
    for (;;) {
        int refused = 0;
        for (int i = 0; i < 2; i++) {
            for (int k = 0; k < 2; k++) {
                long s = th_status_of(both[i], "GET", "/auth/check", olds[k], NULL);
                if (s != 200 && s != 401)
                    fail_msg("an old token on %s answered %ld", i ? "B" : "A", s);
                refused += s == 401;
            }
        }
        if (refused == 4)
            break;
        if (tu_now_ms() - start > TH_KEYS_WAIT_MS)
            fail_msg("%d s after retire, %d of the 4 old-token checks still pass",
                     TH_KEYS_WAIT_MS / 1000, 4 - refused);
        tu_sleep_ms(100);
    }
    printf("# the retired key's tokens refused by both instances within %lld ms\n",
           (long long)(tu_now_ms() - start));
    for (int i = 0; i < 2; i++) {
        th_expect_refused(both[i], old_a.access);
        th_expect_refused(both[i], old_b.access);
        th_expect_alive(both[i], new_a.access);
        th_expect_alive(both[i], new_b.access);
        assert_false(th_jwks_has(both[i], old_kid[0]));
    }
    assert_int_equal(th_orgd_stop(b), 0);
    assert_int_equal(th_orgd_stop(a), 0);
    th_keydir_remove();
}

/* ---- key files orgd refuses ---- */

/* The lines of o's log at level error, counted; the last one into out. */
static int error_lines(const struct th_orgd *o, char *out, size_t cap)
{
    FILE *f = fopen(o->log_path, "r");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t lcap = 0;
    int n = 0;
    out[0] = '\0';
    while (getline(&line, &lcap, f) > 0) {
        if (strstr(line, "\"level\":\"error\"") != NULL) {
            n++;
            snprintf(out, cap, "%s", line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

/* A P-256 JWK Set's text with its first key changed by `edit`. */
static char *edited_set(const char *file, void (*edit)(json_t *key, json_t *other))
{
    json_t *set = json_load_file(file, 0, NULL);
    json_t *keys = json_object_get(set, "keys");
    edit(json_array_get(keys, 0), json_array_get(keys, 1));
    json_array_remove(keys, 1);
    char *text = json_dumps(set, JSON_INDENT(2));
    json_decref(set);
    return text;
}

static void drop_d(json_t *key, json_t *other)
{
    (void)other;
    json_object_del(key, "d");
}

static void swap_d(json_t *key, json_t *other)
{
    json_object_set(key, "d", json_object_get(other, "d"));
}

/* A genuine P-384 private key (a test key, made for this file). */
#define P384_D "TUH7XYU4izM_7jL2QYky8Yh6SIhIAwaFmH3Dfi3o9tWonIVlfYqBYfecQjLwMA9o"
static const char p384_set[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\",\"alg\":\"ES384\","
    "\"x\":\"7EqpJFwDkp7ijMjD6VRoZ7_3hQhbQ204JwssitZhJdgMnx8WNPUOYzuhRGEshEof\","
    "\"y\":\"xzdZS8tcL7c9VFXKS9RBmSo8nXEnsd-Ruab41xTCu-V9z5k_8YwVcCFUCZ2a5xrb\","
    "\"d\":\"" P384_D "\"}]}";

/* orgd refuses to start, with one error line naming the problem (and the
 * file, when there is one), for: ES256 without a key file, a key file
 * under HS256, a file others may read, a missing, empty or malformed file,
 * an empty set, a public key only, a private key that is not its public
 * one's, a P-384 key. The private keys never reach the log. */
static void bad_key_files_refuse_to_start(void **state)
{
    (void)state;
    char good[128], kids[2][TH_KID_BUF];
    th_keydir_make("good.json", good, sizeof good);
    th_keyfile_with(good, 2, kids);
    th_secret_remember(P384_D);
    char *public_only = edited_set(good, drop_d);
    char *mismatched = edited_set(good, swap_d);
    char *good_text = read_file(good);
    struct {
        const char *name, *text; /* written to th_keydir/name (NULL: no file) */
        mode_t mode;
        const char *alg;               /* JWT_ALGORITHM, or NULL */
        bool keys_file;                /* JWT_KEYS_FILE set */
        const char *needle1, *needle2; /* what the line must say */
    } cases[] = {
        {NULL, NULL, 0, "ES256", false, "JWT_KEYS_FILE", "required"},
        {"hs.json", good_text, 0600, "HS256", true, "JWT_KEYS_FILE", "JWT_ALGORITHM"},
        {"open.json", good_text, 0644, "ES256", true, "open.json", "0644"},
        {"group.json", good_text, 0640, NULL, true, "group.json", "0640"},
        {"missing.json", NULL, 0, "ES256", true, "missing.json", "No such file"},
        {"empty.json", "", 0600, "ES256", true, "empty.json", "JWK Set"},
        {"malformed.json", "{\"keys\": [{\"kty\": \"EC\",", 0600, "ES256", true, "malformed.json",
         "JWK Set"},
        {"nokeys.json", "{\"keys\": []}", 0600, "ES256", true, "nokeys.json", "no keys"},
        {"array.json", "[]", 0600, "ES256", true, "array.json", "JWK Set"},
        {"public.json", public_only, 0600, "ES256", true, "public.json", "public"},
        {"mismatched.json", mismatched, 0600, "ES256", true, "mismatched.json", "does not match"},
        {"p384.json", p384_set, 0600, "ES256", true, "p384.json", "P-384"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], keys_file[300], alg[64];
        snprintf(path, sizeof path, "%s/%s", th_keydir, cases[i].name ? cases[i].name : "none");
        if (cases[i].text != NULL)
            write_file(path, cases[i].text, cases[i].mode);
        snprintf(keys_file, sizeof keys_file, "JWT_KEYS_FILE=%s", path);
        snprintf(alg, sizeof alg, "JWT_ALGORITHM=%s", cases[i].alg ? cases[i].alg : "");
        const char *env[] = {alg, cases[i].keys_file ? keys_file : "JWT_KEYS_FILE=", NULL};
        struct th_orgd o;
        th_orgd_init(&o, NULL);
        int code = th_orgd_run_to_exit(&o, env, 20000);
        const char *label = cases[i].name ? cases[i].name : "ES256 without a key file";
        if (code != 1 && code != 2)
            fail_msg("%s: orgd exited %d, expected a refusal (1 or 2)%s", label, code,
                     code == TH_LOG_LEAK ? ": its log holds a secret" : "");
        char line[2048];
        int errors = error_lines(&o, line, sizeof line);
        if (errors != 1)
            fail_msg("%s: %d error lines, expected one:\n%s", label, errors, line);
        if (strstr(line, cases[i].needle1) == NULL || strstr(line, cases[i].needle2) == NULL)
            fail_msg("%s: the line does not say \"%s\" and \"%s\": %s", label, cases[i].needle1,
                     cases[i].needle2, line);
        printf("# %s: %s", label, line);
    }
    free(public_only);
    free(mismatched);
    free(good_text);
    th_keydir_remove();
}

/* The reload counters of a scrape. */
static double reloads(const char *scrape, const char *result)
{
    char series[96];
    snprintf(series, sizeof series, "orgd_jwt_key_reloads_total{result=\"%s\"}", result);
    return th_metric_counter(scrape, series);
}

/* Waits (TH_KEYS_WAIT_MS at most) until o's reload counter `result` exceeds
 * `than`; fails the test otherwise. Returns the milliseconds it took. */
static int64_t wait_reload(const struct th_orgd *o, const char *result, double than)
{
    int64_t start = tu_now_ms();
    for (;;) {
        char *m = th_metrics_scrape(o);
        double v = reloads(m, result);
        free(m);
        if (v > than)
            return tu_now_ms() - start;
        if (tu_now_ms() - start > TH_KEYS_WAIT_MS)
            fail_msg("no reload with result %s in %d ms", result, TH_KEYS_WAIT_MS);
        tu_sleep_ms(100);
    }
}

/* A key file broken while orgd runs (malformed, then readable by others,
 * then a public key only) is logged, counted as an error, and the keys in
 * use stay: the tokens signed before verify, new ones are signed with the
 * same key, the JWKS is the same. The good file back is a reload; SIGHUP
 * reloads at once, changed or not. */
static void a_key_file_broken_while_running_keeps_the_keys(void **state)
{
    (void)state;
    char file[128], kids[2][TH_KID_BUF];
    th_keydir_make("keys.json", file, sizeof file);
    th_keyfile_with(file, 2, kids);
    char *good_text = read_file(file);
    char *public_only = edited_set(file, drop_d);
    struct th_orgd *o = th_es256_orgd_start(file, NULL);
    char *m = th_metrics_scrape(o);
    double loaded = th_metric_sample(m, "orgd_jwt_keys_loaded");
    assert_true(loaded == 3); /* the two keys of the file and JWT_SECRET */
    double errors = reloads(m, "error"), oks = reloads(m, "ok");
    free(m);
    struct th_account acc;
    th_account_new(o, "Broken", &acc);
    struct th_resp before;
    th_jwks_get(o, &before);

    const struct {
        const char *text;
        mode_t mode;
        const char *what;
    } broken[] = {
        {"{\"keys\": [", 0600, "malformed"},
        {good_text, 0644, "readable by others"},
        {public_only, 0600, "a public key only"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        write_file(file, broken[i].text, broken[i].mode);
        wait_reload(o, "error", errors);
        m = th_metrics_scrape(o);
        if (reloads(m, "error") != errors + 1 || reloads(m, "ok") != oks)
            fail_msg("%s: the reload counters moved by %g (error) and %g (ok), expected 1 and 0",
                     broken[i].what, reloads(m, "error") - errors, reloads(m, "ok") - oks);
        errors++;
        assert_true(th_metric_sample(m, "orgd_jwt_keys_loaded") == loaded);
        free(m);
        th_expect_alive(o, acc.t.access);
        struct th_tokens fresh;
        th_signin_ok(o, acc.email, TU_PASSWORD, &fresh);
        char kid[TH_KID_BUF];
        th_token_kid(fresh.access, kid);
        assert_string_equal(kid, kids[0]);
        th_expect_alive(o, fresh.access);
        struct th_resp now;
        th_jwks_get(o, &now);
        if (!json_equal(now.json, before.json))
            fail_msg("%s: the JWKS changed: %s", broken[i].what, now.body);
        th_resp_free(&now);
    }
    assert_true(th_orgd_log_contains(o, "signing keys not reloaded"));

    /* the good file back */
    write_file(file, good_text, 0600);
    wait_reload(o, "ok", oks);
    assert_true(th_orgd_log_contains(o, "signing keys reloaded"));
    th_expect_alive(o, acc.t.access);

    /* SIGHUP: a reload at once, though nothing changed */
    m = th_metrics_scrape(o);
    oks = reloads(m, "ok");
    free(m);
    assert_int_equal(kill(o->pid, SIGHUP), 0);
    int64_t took = wait_reload(o, "ok", oks);
    printf("# SIGHUP reloaded the keys in %lld ms\n", (long long)took);
    th_expect_alive(o, acc.t.access);
    assert_int_equal(th_orgd_wait(o, 0), -1);

    th_resp_free(&before);
    free(good_text);
    free(public_only);
    assert_int_equal(th_orgd_stop(o), 0);
    th_keydir_remove();
}

/* A change of the file that lands while orgd is reading it is not lost:
 * orgd reads the file again at its next check. The window is made wide
 * and the timing known: a large file (one key and 3000 copies of it under
 * other kids, ~0.3 s to read and check), a reload started by SIGHUP, and
 * the file replaced by a small one 20 ms later, whose first key is new. A
 * reload that took the replaced file's identity for the version it read
 * would keep the old set until the file changed again, though every
 * other instance and `orgd keys list` say otherwise. */
static void a_change_during_a_reload_is_not_lost(void **state)
{
    (void)state;
    char file[128], small[160], kids[1][TH_KID_BUF], new_kid[1][TH_KID_BUF];
    th_keydir_make("keys.json", file, sizeof file);
    snprintf(small, sizeof small, "%s/small.json", th_keydir);
    th_keyfile_with(file, 1, kids);
    th_keyfile_with(small, 1, new_kid);
    json_t *set = json_load_file(file, 0, NULL);
    json_t *keys = json_object_get(set, "keys");
    json_t *first = json_array_get(keys, 0);
    for (int i = 0; i < 3000; i++) {
        json_t *copy = json_deep_copy(first);
        json_object_set_new(copy, "kid", json_sprintf("copy-%d", i));
        json_array_append_new(keys, copy);
    }
    char *big = json_dumps(set, JSON_COMPACT);
    assert_true(strlen(big) < 1024 * 1024);
    write_file(file, big, 0600);
    free(big);
    /* the small file: the new key first (it signs), then the old one */
    json_t *next = json_load_file(small, 0, NULL);
    json_array_append(json_object_get(next, "keys"), first);
    char *next_text = json_dumps(next, JSON_INDENT(2));
    json_decref(next);
    json_decref(set);

    struct th_orgd *o = th_es256_orgd_start(file, NULL);
    char email[96];
    th_signup_fresh(o, "Reload", email, sizeof email);
    char *m = th_metrics_scrape(o);
    assert_true(th_metric_sample(m, "orgd_jwt_keys_loaded") == 3002); /* and JWT_SECRET */
    double oks = reloads(m, "ok");
    free(m);

    assert_int_equal(kill(o->pid, SIGHUP), 0);
    tu_sleep_ms(20);
    write_file(file, next_text, 0600);
    free(next_text);
    wait_reload(o, "ok", oks); /* the reload SIGHUP started */
    char listed[4][TH_KID_BUF];
    assert_int_equal(th_keys_list(o, file, listed, 4), 2);
    assert_string_equal(listed[0], new_kid[0]);
    int64_t start = tu_now_ms();
    for (;;) {
        struct th_tokens t;
        char kid[TH_KID_BUF];
        th_signin_ok(o, email, TU_PASSWORD, &t);
        th_token_kid(t.access, kid);
        if (strcmp(kid, new_kid[0]) == 0)
            break;
        if (tu_now_ms() - start > TH_KEYS_WAIT_MS) {
            m = th_metrics_scrape(o);
            fail_msg("%d s after the file was replaced (during a reload), orgd still signs with "
                     "%s and holds %g keys; the file holds 2 and `orgd keys list` names %s first",
                     TH_KEYS_WAIT_MS / 1000, kid, th_metric_sample(m, "orgd_jwt_keys_loaded"),
                     new_kid[0]);
        }
        tu_sleep_ms(200);
    }
    assert_int_equal(th_orgd_stop(o), 0);
    th_keydir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(two_instances_rotate_without_refusing_a_token,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(bad_key_files_refuse_to_start, stop_orgds_remove_keys),
        cmocka_unit_test_teardown(a_key_file_broken_while_running_keeps_the_keys,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(a_change_during_a_reload_is_not_lost, stop_orgds_remove_keys),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
