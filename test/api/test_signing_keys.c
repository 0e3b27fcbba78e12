/* Signing keys over HTTP and on disk: the JWK Set orgd publishes at
 * /.well-known/jwks.json (public members only, never a private `d` or an
 * HMAC secret; empty under HMAC), every token's `kid`, verification by a
 * JOSE library that is not orgd's (PyJWT's PyJWKClient, verify_jwks.py)
 * before, across and after a rotation made with the real `orgd keys`
 * commands, two instances sharing one key file while it rotates under
 * traffic, HMAC rotation with JWT_PREVIOUS_SECRETS, hostile `kid` and
 * `alg` headers (RFC 8725's confusion), and the key files orgd refuses at
 * start or keeps running past.
 *
 * Key files live in a private directory (mkdtemp, 0700) made by the real
 * `orgd keys new` (which writes them 0600); the teardown removes it. */
#include <dirent.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "forge.h"
#include "harness.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd; /* the default: HS256 with JWT_SECRET */

#define KID_BUF 65
#define WAIT_MS 10000 /* how long a running orgd may take to see a change of its key file */

/* ---- the private directory of a test's key files ---- */

static char keydir[64];       /* "" when there is none */
static struct th_orgd second; /* a second instance, on th_own_orgd's database */

/* A new private directory for key files; path: its file `name`. */
static void keydir_make(const char *name, char *path, size_t cap)
{
    snprintf(keydir, sizeof keydir, "/tmp/orgd-keys-XXXXXX");
    if (mkdtemp(keydir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(path, cap, "%s/%s", keydir, name);
}

static void keydir_remove(void)
{
    if (keydir[0] == '\0')
        return;
    DIR *d = opendir(keydir);
    struct dirent *ent;
    while (d != NULL && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char path[400];
        snprintf(path, sizeof path, "%s/%s", keydir, ent->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(keydir);
    keydir[0] = '\0';
}

/* The teardown of every case that starts orgds or makes key files: a
 * failed assertion leaves the case at once, and neither may outlive it. */
static void traffic_stop(void);
static int stop_orgds_remove_keys(void **state)
{
    traffic_stop();
    th_own_orgd_stop(state);
    if (second.pid > 0)
        th_orgd_stop(&second);
    keydir_remove();
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

static void expect_mode_0600(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != 0600)
        fail_msg("%s has mode %04o, expected 0600", path, (unsigned)(st.st_mode & 07777));
}

/* ---- tokens, decoded by hand ---- */

/* Decodes base64url (no padding) s[0..len) into out; its length, or -1. */
static long b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] != '\0' ? strchr(alphabet, s[i]) : NULL;
        if (p == NULL)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (w == cap)
                return -1;
            out[w++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)w;
}

/* The JOSE header of a compact token, parsed (caller decrefs); fails the
 * test unless it is a JSON object. */
static json_t *token_header(const char *token)
{
    const char *dot = strchr(token, '.');
    if (dot == NULL)
        fail_msg("not a JWT: %.100s", token);
    unsigned char raw[1024];
    long n = b64url_decode(token, (size_t)(dot - token), raw, sizeof raw);
    json_t *h = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    if (!json_is_object(h))
        fail_msg("a JWT whose header is not a JSON object: %.100s", token);
    return h;
}

/* The token's kid into out; fails the test unless it has a string one. */
static void token_kid(const char *token, char out[KID_BUF])
{
    json_t *h = token_header(token);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    if (kid == NULL || strlen(kid) >= KID_BUF)
        fail_msg("a token orgd issued has no kid (of at most 64 characters): %s",
                 json_dumps(h, JSON_COMPACT));
    snprintf(out, KID_BUF, "%s", kid);
    json_decref(h);
}

/* The token's alg, as token_kid. */
static void token_alg(const char *token, char *out, size_t cap)
{
    json_t *h = token_header(token);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (alg == NULL)
        fail_msg("a token orgd issued has no alg");
    snprintf(out, cap, "%s", alg);
    json_decref(h);
}

/* The payload of a token orgd issued, as its JSON text (caller frees): the
 * claims of a live session, for forged tokens that would pass but for
 * their header or signature. */
static char *token_payload(const char *token)
{
    return th_json_text(th_jwt_claims(token));
}

/* The kid of an HMAC secret, as jwt.h defines it: "hs-" and the first 16
 * hex digits of the secret's SHA-256. Computed here with OpenSSL. */
static void hmac_kid(const char *secret, char out[KID_BUF])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_true(EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL));
    int w = snprintf(out, KID_BUF, "hs-");
    for (int i = 0; i < 8; i++)
        w += snprintf(out + w, KID_BUF - (size_t)w, "%02x", md[i]);
}

/* ---- the JWK Set ---- */

/* GET /.well-known/jwks.json; fails the test unless it is a 200 whose body
 * is {"keys": [...]}. r is the answer (caller th_resp_free's). */
static void jwks_get(const struct th_orgd *o, struct th_resp *r)
{
    assert_true(th_http(o, "GET", "/.well-known/jwks.json", NULL, NULL, NULL, 0, NULL, r));
    if (r->status != 200 || !json_is_array(json_object_get(r->json, "keys")))
        fail_msg("GET /.well-known/jwks.json answered %ld: %s", r->status, r->body);
}

/* Whether o's JWK Set holds a key of this kid. */
static bool jwks_has(const struct th_orgd *o, const char *kid)
{
    struct th_resp r;
    jwks_get(o, &r);
    bool found = false;
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(r.json, "keys"), i, k)
    {
        const char *s = json_string_value(json_object_get(k, "kid"));
        found = found || (s != NULL && strcmp(s, kid) == 0);
    }
    th_resp_free(&r);
    return found;
}

/* Polls o's JWK Set (every 100 ms, WAIT_MS at most) until it holds the key
 * kid (present) or no longer does; fails the test otherwise. Returns the
 * milliseconds it took. */
static int64_t wait_jwks(const struct th_orgd *o, const char *kid, bool present)
{
    int64_t start = tu_now_ms();
    while (jwks_has(o, kid) != present) {
        if (tu_now_ms() - start > WAIT_MS)
            fail_msg("%s's JWK Set %s key %s after %d ms", o->base,
                     present ? "still lacks" : "still holds", kid, WAIT_MS);
        tu_sleep_ms(100);
    }
    return tu_now_ms() - start;
}

/* Signs in on o (every 100 ms, WAIT_MS at most) until the access token
 * carries kid; fails the test otherwise. t: that sign-in's tokens. */
static int64_t wait_signing_kid(const struct th_orgd *o, const char *email, const char *kid,
                                struct th_tokens *t)
{
    int64_t start = tu_now_ms();
    for (;;) {
        char got[KID_BUF];
        th_signin_ok(o, email, TU_PASSWORD, t);
        token_kid(t->access, got);
        if (strcmp(got, kid) == 0)
            return tu_now_ms() - start;
        if (tu_now_ms() - start > WAIT_MS)
            fail_msg("%s still signs with %s, not %s, after %d ms", o->base, got, kid, WAIT_MS);
        tu_sleep_ms(100);
    }
}

/* ---- the `orgd keys` commands ---- */

/* `orgd keys verb [kid] --file file` with o's settings; fails the test
 * unless it exits 0. Its output into out. */
static void keys_ok(struct th_orgd *o, const char *verb, const char *kid, const char *file,
                    char *out, size_t cap)
{
    const char *with_kid[] = {"keys", verb, kid, "--file", file, NULL};
    const char *without[] = {"keys", verb, "--file", file, NULL};
    int code = th_orgd_command(o, kid ? with_kid : without, NULL, out, cap);
    if (code != 0)
        fail_msg("orgd keys %s %s exited %d:\n%s", verb, kid ? kid : "", code, out);
    expect_mode_0600(file); /* every write of the file keeps it private */
}

/* The kids `orgd keys list` names, the signing one first; their number. */
static size_t keys_list(struct th_orgd *o, const char *file, char (*kids)[KID_BUF], size_t max)
{
    char out[4096];
    keys_ok(o, "list", NULL, file, out, sizeof out);
    size_t n = 0;
    char *line = strchr(out, '\n'); /* after the heading */
    while (line != NULL && line[1] != '\0' && n < max) {
        char kid[KID_BUF], alg[16], role[16];
        if (sscanf(line + 1, "%64s %15s %15s", kid, alg, role) != 3)
            fail_msg("orgd keys list: a line that is no key: %s", line + 1);
        if (strcmp(role, n == 0 ? "signs" : "verifies") != 0 || strcmp(alg, "ES256") != 0)
            fail_msg("orgd keys list: key %zu is %s %s", n + 1, alg, role);
        snprintf(kids[n++], KID_BUF, "%s", kid);
        line = strchr(line + 1, '\n');
    }
    return n;
}

/* `orgd keys new --file file`: the kid of the key it made, read from what
 * it printed and checked against `orgd keys list`. */
static void keys_new(struct th_orgd *o, const char *file, char kid[KID_BUF])
{
    char out[2048];
    keys_ok(o, "new", NULL, file, out, sizeof out);
    const char *p = strstr(out, " with key "), *end = ",";
    if (p != NULL) {
        p += strlen(" with key ");
    } else if ((p = strstr(out, "added key ")) != NULL) {
        p += strlen("added key ");
        end = " ";
    } else {
        fail_msg("orgd keys new printed no kid:\n%s", out);
    }
    size_t len = strcspn(p, end);
    if (len == 0 || len >= KID_BUF)
        fail_msg("orgd keys new printed no kid:\n%s", out);
    memcpy(kid, p, len);
    kid[len] = '\0';
    char kids[8][KID_BUF];
    size_t n = keys_list(o, file, kids, 8);
    bool listed = false;
    for (size_t i = 0; i < n; i++)
        listed = listed || strcmp(kids[i], kid) == 0;
    if (!listed)
        fail_msg("orgd keys new made %s, which orgd keys list does not name", kid);
}

/* A key file at `file` with n fresh keys (the first signs), made by `orgd
 * keys new` run with the settings of a throw-away orgd; their kids. Every
 * private `d` of it is remembered as a secret no orgd log may hold. */
static void keyfile_with(const char *file, size_t n, char (*kids)[KID_BUF])
{
    struct th_orgd maker;
    th_orgd_init(&maker, NULL);
    for (size_t i = 0; i < n; i++)
        keys_new(&maker, file, kids[i]);
    json_t *set = json_load_file(file, 0, NULL);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(set, "keys"), i, k)
    {
        th_secret_remember(json_string_value(json_object_get(k, "d")));
    }
    json_decref(set);
}

/* th_own_orgd under ES256 with the key file `file`, and JWT_SECRET as the
 * harness sets it (it then verifies only the HS256 tokens it signed);
 * `more`: further settings or NULL. */
static struct th_orgd *es256_orgd_start(const char *file, const char *const *more)
{
    static char keys_file[512];
    snprintf(keys_file, sizeof keys_file, "JWT_KEYS_FILE=%s", file);
    const char *env[16] = {"JWT_ALGORITHM=ES256", keys_file};
    for (size_t i = 0; more && more[i] && i < 13; i++)
        env[2 + i] = more[i];
    return th_own_orgd_start(NULL, env);
}

/* ---- PyJWT, verifying as another service would ---- */

#define PY_VERIFIED 0
#define PY_REFUSED 1
#define PY_NO_KEY 3

/* Runs verify_jwks.py on o's JWKS URL and token (no shell: argv as is);
 * returns its exit code, its one line in out. */
static int py_verify(const struct th_orgd *o, const char *token, char *out, size_t cap)
{
    char script[600], url[128];
    snprintf(script, sizeof script, "%s/test/api/verify_jwks.py", th_source_dir());
    snprintf(url, sizeof url, "%s/.well-known/jwks.json", o->base);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        char *argv[] = {"/usr/bin/python3", script, url, (char *)token, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(pipefd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(pipefd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 127 || WEXITSTATUS(st) == 2)
        fail_msg("verify_jwks.py did not run (is /usr/bin/python3 with python3-jwt there?): %s",
                 out);
    return WEXITSTATUS(st);
}

/* Fails the test unless PyJWT answers `want` for token. */
static void expect_py(const struct th_orgd *o, const char *token, int want, const char *what)
{
    char out[2048];
    int code = py_verify(o, token, out, sizeof out);
    if (code != want)
        fail_msg("PyJWT on %s: exit %d, expected %d: %s", what, code, want, out);
}

/* ---- the JWK Set ---- */

/* The members of a public EC JWK, and nothing else. */
static void expect_public_jwk(const json_t *k)
{
    static const char *const members[] = {"kty", "crv", "x", "y", "kid", "alg", "use"};
    char *text = json_dumps(k, JSON_COMPACT);
    if (json_object_size(k) != 7)
        fail_msg("a published key has %zu members, not kty, crv, x, y, kid, alg, use: %s",
                 json_object_size(k), text);
    for (size_t i = 0; i < 7; i++) {
        if (!json_is_string(json_object_get(k, members[i])))
            fail_msg("a published key lacks %s: %s", members[i], text);
    }
    assert_null(json_object_get(k, "d"));
    assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    free(text);
}

/* The JWKS of an ES256 orgd: 200, cacheable five minutes by anyone, each
 * key of the file published with its public members (its x and y as the
 * file holds them) and no byte of any private `d` nor of JWT_SECRET
 * anywhere in the body, in text, base64url or raw. */
static void jwks_publishes_public_members_only(void **state)
{
    (void)state;
    char file[128], kids[2][KID_BUF];
    keydir_make("keys.json", file, sizeof file);
    keyfile_with(file, 2, kids);
    struct th_orgd *o = es256_orgd_start(file, NULL);

    struct th_resp r;
    jwks_get(o, &r);
    char cc[128], ct[128];
    assert_true(th_resp_header(&r, "Cache-Control", cc, sizeof cc));
    if (strstr(cc, "max-age=300") == NULL || strstr(cc, "public") == NULL)
        fail_msg("Cache-Control: %s, expected public, max-age=300", cc);
    assert_true(th_resp_header(&r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "json"));
    assert_int_equal(json_object_size(r.json), 1); /* {"keys": [...]} and nothing else */

    json_t *held = json_load_file(file, 0, NULL);
    json_t *published = json_object_get(r.json, "keys");
    assert_int_equal(json_array_size(published), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *mine = json_array_get(json_object_get(held, "keys"), i);
        const json_t *k = NULL;
        for (size_t j = 0; j < json_array_size(published); j++) {
            const char *kid =
                json_string_value(json_object_get(json_array_get(published, j), "kid"));
            if (kid != NULL && strcmp(kid, kids[i]) == 0)
                k = json_array_get(published, j);
        }
        if (k == NULL)
            fail_msg("key %s of the file is not published: %s", kids[i], r.body);
        expect_public_jwk(k);
        assert_string_equal(json_string_value(json_object_get(k, "x")),
                            json_string_value(json_object_get(mine, "x")));
        assert_string_equal(json_string_value(json_object_get(k, "y")),
                            json_string_value(json_object_get(mine, "y")));

        /* the private part, in every form it could leak in */
        const char *d = json_string_value(json_object_get(mine, "d"));
        unsigned char raw[64];
        long n = b64url_decode(d, strlen(d), raw, sizeof raw);
        assert_int_equal(n, 32);
        if (strstr(r.body, d) != NULL || memmem(r.body, r.len, raw, (size_t)n) != NULL)
            fail_msg("the JWKS holds the private key d of %s", kids[i]);
    }
    json_decref(held);
    char *secret_b64 = forge_b64url(o->secret, strlen(o->secret));
    if (strstr(r.body, o->secret) != NULL || strstr(r.body, secret_b64) != NULL)
        fail_msg("the JWKS holds JWT_SECRET: %s", r.body);
    char kid[KID_BUF];
    hmac_kid(o->secret, kid);
    if (strstr(r.body, kid) != NULL) /* (every key is EC, checked above) */
        fail_msg("the JWKS publishes the HMAC key: %s", r.body);
    free(secret_b64);
    th_resp_free(&r);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* Under HMAC, a JWKS is an empty set: the secret is never published, in
 * any form; yet it is served, so that a verifier configured with it does
 * not break. */
static void jwks_is_empty_under_hmac(void **state)
{
    (void)state;
    struct th_resp r;
    jwks_get(O, &r);
    json_t *empty = json_pack("{s:[]}", "keys");
    if (!json_equal(r.json, empty))
        fail_msg("under HS256 the JWKS is %s, expected {\"keys\":[]}", r.body);
    json_decref(empty);
    char cc[128];
    assert_true(th_resp_header(&r, "Cache-Control", cc, sizeof cc));
    assert_non_null(strstr(cc, "max-age=300"));
    char *secret_b64 = forge_b64url(O->secret, strlen(O->secret));
    assert_null(strstr(r.body, O->secret));
    assert_null(strstr(r.body, secret_b64));
    free(secret_b64);
    th_resp_free(&r);
}

/* Every access token names the key that signed it, and under ES256 that
 * key is published: a sign-in's, a refresh's and an org-scoped token's;
 * under HMAC the kid is the secret's (jwt.h). */
static void every_token_names_a_published_key(void **state)
{
    (void)state;
    char file[128], kids[2][KID_BUF];
    keydir_make("keys.json", file, sizeof file);
    keyfile_with(file, 2, kids);
    struct th_orgd *o = es256_orgd_start(file, NULL);
    struct th_account a;
    th_account_new(o, "KidOf", &a);
    char org_id[32], org_name[64];
    th_org_new(o, a.t.access, "KidOrg", org_id, org_name);
    struct th_tokens refreshed, scoped;
    assert_int_equal(th_refresh(o, a.t.refresh, &refreshed), 200);
    th_org_login(o, &a, org_name, &scoped);
    const char *tokens[] = {a.t.access, refreshed.access, scoped.access};
    for (size_t i = 0; i < 3; i++) {
        char kid[KID_BUF], alg[16];
        token_kid(tokens[i], kid);
        token_alg(tokens[i], alg, sizeof alg);
        assert_string_equal(alg, "ES256");
        assert_string_equal(kid, kids[0]); /* the first key of the file signs */
        if (!jwks_has(o, kid))
            fail_msg("token %zu names kid %s, which the JWKS does not hold", i, kid);
        th_expect_alive(o, tokens[i]);
    }
    assert_int_equal(th_orgd_stop(o), 0);

    /* HMAC: the shared orgd's tokens carry the secret's kid */
    struct th_account h;
    th_account_new(O, "KidOfHmac", &h);
    char kid[KID_BUF], want[KID_BUF], alg[16];
    token_kid(h.t.access, kid);
    token_alg(h.t.access, alg, sizeof alg);
    hmac_kid(O->secret, want);
    assert_string_equal(kid, want);
    assert_string_equal(alg, "HS256");
}

/* ---- someone else's implementation, across a rotation ---- */

/* PyJWT verifies orgd's tokens from orgd's JWKS alone: before a rotation;
 * across it, the old key's token and the new key's both, while both are
 * published; after `retire`, the old key's token has no key in the JWKS
 * (and orgd refuses it), the new one's still verifies. Each change is
 * made by the real commands on the file the running orgd reads, and
 * picked up without a restart or a signal. A token PyJWT must refuse (a
 * changed signature) shows it really checks. */
static void another_implementation_verifies_across_a_rotation(void **state)
{
    (void)state;
    char file[128], old_kid[1][KID_BUF], new_kid[KID_BUF], out[4096];
    keydir_make("keys.json", file, sizeof file);
    struct stat st;
    assert_int_equal(stat(keydir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    keyfile_with(file, 1, old_kid);
    struct th_orgd *o = es256_orgd_start(file, NULL);
    char email[96];
    th_signup_fresh(o, "Rotate", email, sizeof email);

    /* before */
    struct th_tokens before;
    th_signin_ok(o, email, TU_PASSWORD, &before);
    char kid[KID_BUF];
    token_kid(before.access, kid);
    assert_string_equal(kid, old_kid[0]);
    expect_py(o, before.access, PY_VERIFIED, "a token before the rotation");
    /* one character of the signature changed: PyJWT checks it */
    char *tampered = strdup(before.access), py[2048];
    char *sig = strrchr(tampered, '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    if (py_verify(o, tampered, py, sizeof py) != PY_REFUSED ||
        strstr(py, "InvalidSignatureError") == NULL)
        fail_msg("PyJWT on a token whose signature was changed: %s", py);
    free(tampered);

    /* new: published at once, signs nothing yet */
    keys_new(o, file, new_kid);
    int64_t seen = wait_jwks(o, new_kid, true);
    struct th_tokens still_old;
    th_signin_ok(o, email, TU_PASSWORD, &still_old);
    token_kid(still_old.access, kid);
    assert_string_equal(kid, old_kid[0]);
    expect_py(o, before.access, PY_VERIFIED, "the old key's token, both keys published");

    /* promote: the new key signs; both keys' tokens verify */
    keys_ok(o, "promote", new_kid, file, out, sizeof out);
    char kids[4][KID_BUF];
    assert_int_equal(keys_list(o, file, kids, 4), 2);
    assert_string_equal(kids[0], new_kid);
    struct th_tokens after;
    int64_t signing = wait_signing_kid(o, email, new_kid, &after);
    assert_true(jwks_has(o, old_kid[0]));
    expect_py(o, before.access, PY_VERIFIED, "the old key's token after promote");
    expect_py(o, after.access, PY_VERIFIED, "the new key's token after promote");
    th_expect_alive(o, before.access);
    th_expect_alive(o, after.access);

    /* the signing key is not retired (nothing would sign), nor an unknown
     * one promoted: refusals (exit 1) that leave the file as it was */
    const char *retire_signing[] = {"keys", "retire", new_kid, "--file", file, NULL};
    const char *promote_unknown[] = {"keys", "promote", "no-such-kid", "--file", file, NULL};
    int code = th_orgd_command(o, retire_signing, NULL, out, sizeof out);
    if (code != 1)
        fail_msg("orgd keys retire of the signing key exited %d:\n%s", code, out);
    code = th_orgd_command(o, promote_unknown, NULL, out, sizeof out);
    if (code != 1)
        fail_msg("orgd keys promote of an unknown kid exited %d:\n%s", code, out);
    assert_int_equal(keys_list(o, file, kids, 4), 2);
    assert_string_equal(kids[0], new_kid);

    /* retire: the old key is gone from the JWKS and from orgd; the command
     * warns that tokens it signed a moment ago may still be live */
    keys_ok(o, "retire", old_kid[0], file, out, sizeof out);
    if (strstr(out, "warning") == NULL)
        fail_msg("orgd keys retire of a key that signed seconds ago did not warn:\n%s", out);
    int64_t gone = wait_jwks(o, old_kid[0], false);
    expect_py(o, before.access, PY_NO_KEY, "the retired key's token");
    expect_py(o, after.access, PY_VERIFIED, "the new key's token after retire");
    th_expect_refused(o, before.access);
    th_expect_alive(o, after.access);
    assert_int_equal(keys_list(o, file, kids, 4), 1);
    printf("# rotation seen by the running orgd: new in %lld ms, promote in %lld ms, retire in "
           "%lld ms\n",
           (long long)seen, (long long)signing, (long long)gone);
    assert_int_equal(th_orgd_stop(o), 0);
    keydir_remove();
}

/* ---- two instances, one key file, rotating under traffic ---- */

#define WORKERS 4 /* even ones sign in on A, odd ones on B */

struct traffic {
    const struct th_orgd *o[2];
    char email[96], org_id[32];
    char old_kid[KID_BUF];
    char new_kid[KID_BUF];   /* set (under lock) before it signs anything */
    char old_token[2][2048]; /* issued by A and B before the rotation */
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
    long n = dot ? b64url_decode(token, (size_t)(dot - token), raw, sizeof raw) : -1;
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

/* Waits (WAIT_MS at most) until every worker has done `rounds` more. */
static void wait_rounds(struct worker *w, long rounds)
{
    long from[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        from[i] = __atomic_load_n(&w[i].rounds, __ATOMIC_RELAXED);
    int64_t until = tu_now_ms() + WAIT_MS;
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
                         i, rounds, WAIT_MS, failures, first);
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
    char file[128], old_kid[1][KID_BUF], new_kid[KID_BUF], out[4096];
    keydir_make("keys.json", file, sizeof file);
    keyfile_with(file, 1, old_kid);
    /* cheap password hashes: the sign-ins are traffic here, not the subject */
    const char *const cheap[] = {"ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", NULL};
    struct th_orgd *a = es256_orgd_start(file, cheap);
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
    keys_new(a, file, new_kid);
    pthread_mutex_lock(&t->lock);
    snprintf(t->new_kid, sizeof t->new_kid, "%s", new_kid);
    pthread_mutex_unlock(&t->lock);
    wait_jwks(a, new_kid, true);
    wait_jwks(b, new_kid, true);
    wait_rounds(w, 2);
    keys_ok(a, "promote", new_kid, file, out, sizeof out);
    struct th_tokens new_a, new_b;
    wait_signing_kid(a, email, new_kid, &new_a);
    wait_signing_kid(b, email, new_kid, &new_b);
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
    keys_ok(b, "retire", old_kid[0], file, out, sizeof out);
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
        if (tu_now_ms() - start > WAIT_MS)
            fail_msg("%d s after retire, %d of the 4 old-token checks still pass", WAIT_MS / 1000,
                     4 - refused);
        tu_sleep_ms(100);
    }
    printf("# the retired key's tokens refused by both instances within %lld ms\n",
           (long long)(tu_now_ms() - start));
    for (int i = 0; i < 2; i++) {
        th_expect_refused(both[i], old_a.access);
        th_expect_refused(both[i], old_b.access);
        th_expect_alive(both[i], new_a.access);
        th_expect_alive(both[i], new_b.access);
        assert_false(jwks_has(both[i], old_kid[0]));
    }
    assert_int_equal(th_orgd_stop(b), 0);
    assert_int_equal(th_orgd_stop(a), 0);
    keydir_remove();
}

/* ---- HMAC rotation ---- */

/* HMAC deployments rotate too: restarted with JWT_SECRET=B and
 * JWT_PREVIOUS_SECRETS=A, orgd still takes A's tokens and signs with B
 * (each token's kid the secret's); restarted with B alone, A's tokens are
 * refused. A token from before kids (none in its header) verifies against
 * JWT_SECRET. The JWKS stays empty and holds neither secret. */
static void hmac_secrets_rotate_with_previous_secrets(void **state)
{
    (void)state;
    struct th_orgd *o = th_own_orgd_start(NULL, NULL);
    char secret_a[65], secret_b[65], kid_a[KID_BUF], kid_b[KID_BUF], kid[KID_BUF];
    snprintf(secret_a, sizeof secret_a, "%s", o->secret);
    snprintf(secret_b, sizeof secret_b, "B-%.62s", o->secret); /* another 64-byte secret */
    th_secret_remember(secret_b);
    hmac_kid(secret_a, kid_a);
    hmac_kid(secret_b, kid_b);
    struct th_account acc;
    th_account_new(o, "HmacRotate", &acc);
    token_kid(acc.t.access, kid);
    assert_string_equal(kid, kid_a);
    /* a token from before kids: the same claims, no kid, JWT_SECRET's MAC */
    char *payload = token_payload(acc.t.access);
    char *no_kid = forge_jwt("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, FORGE_HS256, secret_a,
                             strlen(secret_a));
    th_expect_alive(o, no_kid);
    assert_int_equal(th_orgd_stop(o), 0);

    char sb[128], prev[128];
    snprintf(sb, sizeof sb, "JWT_SECRET=%s", secret_b);
    snprintf(prev, sizeof prev, "JWT_PREVIOUS_SECRETS=%s", secret_a);
    const char *rotated[] = {sb, prev, NULL};
    assert_true(th_orgd_start(o, rotated));
    th_expect_alive(o, acc.t.access); /* nobody is logged out */
    struct th_tokens fresh;
    th_signin_ok(o, acc.email, TU_PASSWORD, &fresh);
    token_kid(fresh.access, kid);
    assert_string_equal(kid, kid_b);
    th_expect_alive(o, fresh.access);
    struct th_resp r;
    jwks_get(o, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "keys")), 0);
    assert_null(strstr(r.body, secret_a));
    assert_null(strstr(r.body, secret_b));
    th_resp_free(&r);
    assert_int_equal(th_orgd_stop(o), 0);

    const char *only_b[] = {sb, NULL};
    assert_true(th_orgd_start(o, only_b));
    th_expect_refused(o, acc.t.access);
    th_expect_alive(o, fresh.access);
    assert_int_equal(th_orgd_stop(o), 0);
    free(no_kid);
    free(payload);
}

/* ---- hostile headers ---- */

/* GET /auth/check with token on o: a 401 problem with the Bearer
 * challenge, and o alive and well afterwards. */
static void expect_refused_alive(const struct th_orgd *o, const char *token, const char *what)
{
    struct th_resp r;
    assert_true(th_http_json(o, "GET", "/auth/check", token, NULL, &r));
    if (r.status != 401 || !th_is_problem(&r, 401))
        fail_msg("%s: answered %ld: %s", what, r.status, r.body);
    th_resp_free(&r);
    assert_int_equal(th_status_of(o, "GET", "/healthz", NULL, NULL), 200);
}

/* A header forged with the claims of a live session, signed HS256 by key. */
static char *forged(const char *header, const char *payload, const void *key, size_t len)
{
    char *t = forge_jwt(header, payload, FORGE_HS256, key, len);
    assert_true(strlen(t) < 4096); /* refused for its header, not its length */
    return t;
}

/* Under ES256 with JWT_SECRET also set: tokens whose header names a key by
 * a kid that is huge, not a string, path-like, or carries a NUL; a token
 * naming the ES256 key with alg HS256, MACed with the public key (its x,
 * raw or as text, or the whole public JWK): RFC 8725's confusion; and an
 * ES256 header naming the HMAC secret's kid. Each carries the claims of a
 * live session and, but for its header, a MAC orgd would accept (the
 * controls show it), and each is a 401: never a 5xx, never a crash. Sent
 * one by one, then all at once. */
static void hostile_kids_and_alg_confusion_are_401(void **state)
{
    (void)state;
    char file[128], kids[1][KID_BUF];
    keydir_make("keys.json", file, sizeof file);
    keyfile_with(file, 1, kids);
    struct th_orgd *o = es256_orgd_start(file, NULL);
    struct th_account acc;
    th_account_new(o, "Hostile", &acc);
    char *payload = token_payload(acc.t.access);
    const char *s = o->secret;
    size_t slen = strlen(s);
    char hkid[KID_BUF], header[4096];

    /* controls: JWT_SECRET's own kid, and none (a token from before kids) */
    hmac_kid(s, hkid);
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", hkid);
    char *control = forged(header, payload, s, slen);
    th_expect_alive(o, control);
    free(control);
    control = forged("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, s, slen);
    th_expect_alive(o, control);
    free(control);

    char huge[2501];
    memset(huge, 'k', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    char long65[66];
    memset(long65, 'k', 65);
    long65[65] = '\0';
    /* kids that are strings but no kid orgd accepts, then kids that are
     * not strings (JSON values as they stand) */
    const char *string_kids[] = {huge, long65, ""};
    const char *json_kids[] = {"7", "-1e400", "{\"kid\":\"x\"}", "[\"a\"]", "null", "true"};
    char *hostile[64];
    const char *what[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof string_kids / sizeof string_kids[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", string_kids[i]);
        what[n] = i == 0 ? "a 2500-character kid" : i == 1 ? "a 65-character kid" : "an empty kid";
        hostile[n++] = forged(header, payload, s, slen);
    }
    for (size_t i = 0; i < sizeof json_kids / sizeof json_kids[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":%s}", json_kids[i]);
        what[n] = json_kids[i];
        hostile[n++] = forged(header, payload, s, slen);
    }
    const char *paths[] = {"../../etc/passwd", "/etc/passwd", "keys.json", "..", "hs-../../x"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", paths[i]);
        what[n] = paths[i];
        hostile[n++] = forged(header, payload, s, slen);
    }
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", file);
    what[n] = "the key file's path";
    hostile[n++] = forged(header, payload, s, slen);
    /* JWT_SECRET's kid with a NUL and more after it */
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\\u0000x\"}", hkid);
    what[n] = "the secret's kid, a NUL, more";
    hostile[n++] = forged(header, payload, s, slen);
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s \"}", hkid);
    what[n] = "the secret's kid and a space";
    hostile[n++] = forged(header, payload, s, slen);

    /* RFC 8725: the ES256 key's kid, alg HS256, MACed with its public key */
    struct th_resp r;
    jwks_get(o, &r);
    json_t *pub = json_array_get(json_object_get(r.json, "keys"), 0);
    const char *x = json_string_value(json_object_get(pub, "x"));
    unsigned char x_raw[64];
    long x_len = b64url_decode(x, strlen(x), x_raw, sizeof x_raw);
    assert_int_equal(x_len, 32);
    char *pub_text = json_dumps(pub, JSON_COMPACT);
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kids[0]);
    what[n] = "the ES256 kid, HS256 MACed with x as text";
    hostile[n++] = forged(header, payload, x, strlen(x));
    what[n] = "the ES256 kid, HS256 MACed with x's bytes";
    hostile[n++] = forged(header, payload, x_raw, (size_t)x_len);
    what[n] = "the ES256 kid, HS256 MACed with the public JWK";
    hostile[n++] = forged(header, payload, pub_text, strlen(pub_text));
    what[n] = "the ES256 kid, HS256 MACed with JWT_SECRET";
    hostile[n++] = forged(header, payload, s, slen);
    free(pub_text);
    th_resp_free(&r);
    /* and the reverse: an ES256 header naming the HMAC key, with a
     * signature of ES256's length (64 bytes: HS512 of the secret) */
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", hkid);
    what[n] = "alg ES256 naming the HMAC key";
    hostile[n++] = forge_jwt(header, payload, FORGE_HS512, s, slen);
    what[n] = "alg ES256 naming no key";
    hostile[n++] = forge_jwt("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload, FORGE_HS512, s, slen);
    snprintf(header, sizeof header, "{\"alg\":\"none\",\"kid\":\"%s\"}", kids[0]);
    what[n] = "alg none naming the ES256 key";
    hostile[n++] = forge_jwt(header, payload, FORGE_NONE, NULL, 0);

    for (size_t i = 0; i < n; i++)
        expect_refused_alive(o, hostile[i], what[i]);

    /* all at once, twice each */
    struct th_call calls[128];
    for (size_t i = 0; i < 2 * n; i++) {
        calls[i] = (struct th_call){.o = o, .method = "GET", .token = hostile[i % n]};
        snprintf(calls[i].path, sizeof calls[i].path, "/auth/check");
    }
    th_race(calls, 2 * n);
    for (size_t i = 0; i < 2 * n; i++) {
        if (calls[i].status != 401)
            fail_msg("%s, sent with the others at once: %ld", what[i % n], calls[i].status);
    }
    assert_int_equal(th_orgd_wait(o, 0), -1); /* still running */
    th_expect_alive(o, acc.t.access);
    for (size_t i = 0; i < n; i++)
        free(hostile[i]);
    free(payload);
    assert_int_equal(th_orgd_stop(o), 0);
    keydir_remove();
}

/* Under HMAC alone, the kid decides the key and the key the algorithm:
 * with JWT_SECRET's MAC, a token naming another kid (well-formed, of no
 * key) is refused, and so are an ES256 header naming the secret's kid (a
 * signature of ES256's length: the reverse confusion) and the secret's
 * kid with another HMAC alg. The control, HS256 with that kid, passes. */
static void hmac_takes_only_the_key_and_alg_its_kid_names(void **state)
{
    (void)state;
    struct th_account acc;
    th_account_new(O, "HmacConfusion", &acc);
    char *payload = token_payload(acc.t.access);
    char hkid[KID_BUF], header[256];
    hmac_kid(O->secret, hkid);
    size_t slen = strlen(O->secret);
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", hkid);
    char *control = forge_jwt(header, payload, FORGE_HS256, O->secret, slen);
    th_expect_alive(O, control);
    free(control);
    const struct {
        const char *alg;
        enum forge_mac mac;
    } cases[] = {{"ES256", FORGE_HS512}, {"HS512", FORGE_HS512}, {"HS384", FORGE_HS384}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 cases[i].alg, hkid);
        char *t = forge_jwt(header, payload, cases[i].mac, O->secret, slen);
        expect_refused_alive(O, t, cases[i].alg);
        free(t);
    }
    char other_kid[KID_BUF];
    hmac_kid("a secret that is not JWT_SECRET, 32+ bytes", other_kid);
    const char *unknown[] = {other_kid, "hs-0000000000000000", "orgd"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 unknown[i]);
        char *t = forge_jwt(header, payload, FORGE_HS256, O->secret, slen);
        expect_refused_alive(O, t, unknown[i]);
        free(t);
    }
    free(payload);
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
    char good[128], kids[2][KID_BUF];
    keydir_make("good.json", good, sizeof good);
    keyfile_with(good, 2, kids);
    th_secret_remember(P384_D);
    char *public_only = edited_set(good, drop_d);
    char *mismatched = edited_set(good, swap_d);
    char *good_text = read_file(good);
    struct {
        const char *name, *text; /* written to keydir/name (NULL: no file) */
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
        snprintf(path, sizeof path, "%s/%s", keydir, cases[i].name ? cases[i].name : "none");
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
    keydir_remove();
}

/* The reload counters of a scrape. */
static double reloads(const char *scrape, const char *result)
{
    char series[96];
    snprintf(series, sizeof series, "orgd_jwt_key_reloads_total{result=\"%s\"}", result);
    return th_metric_counter(scrape, series);
}

/* Waits (WAIT_MS at most) until o's reload counter `result` exceeds
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
        if (tu_now_ms() - start > WAIT_MS)
            fail_msg("no reload with result %s in %d ms", result, WAIT_MS);
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
    char file[128], kids[2][KID_BUF];
    keydir_make("keys.json", file, sizeof file);
    keyfile_with(file, 2, kids);
    char *good_text = read_file(file);
    char *public_only = edited_set(file, drop_d);
    struct th_orgd *o = es256_orgd_start(file, NULL);
    char *m = th_metrics_scrape(o);
    double loaded = th_metric_sample(m, "orgd_jwt_keys_loaded");
    assert_true(loaded == 3); /* the two keys of the file and JWT_SECRET */
    double errors = reloads(m, "error"), oks = reloads(m, "ok");
    free(m);
    struct th_account acc;
    th_account_new(o, "Broken", &acc);
    struct th_resp before;
    jwks_get(o, &before);

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
        char kid[KID_BUF];
        token_kid(fresh.access, kid);
        assert_string_equal(kid, kids[0]);
        th_expect_alive(o, fresh.access);
        struct th_resp now;
        jwks_get(o, &now);
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
    keydir_remove();
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
    char file[128], small[160], kids[1][KID_BUF], new_kid[1][KID_BUF];
    keydir_make("keys.json", file, sizeof file);
    snprintf(small, sizeof small, "%s/small.json", keydir);
    keyfile_with(file, 1, kids);
    keyfile_with(small, 1, new_kid);
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

    struct th_orgd *o = es256_orgd_start(file, NULL);
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
    char listed[4][KID_BUF];
    assert_int_equal(keys_list(o, file, listed, 4), 2);
    assert_string_equal(listed[0], new_kid[0]);
    int64_t start = tu_now_ms();
    for (;;) {
        struct th_tokens t;
        char kid[KID_BUF];
        th_signin_ok(o, email, TU_PASSWORD, &t);
        token_kid(t.access, kid);
        if (strcmp(kid, new_kid[0]) == 0)
            break;
        if (tu_now_ms() - start > WAIT_MS) {
            m = th_metrics_scrape(o);
            fail_msg("%d s after the file was replaced (during a reload), orgd still signs with "
                     "%s and holds %g keys; the file holds 2 and `orgd keys list` names %s first",
                     WAIT_MS / 1000, kid, th_metric_sample(m, "orgd_jwt_keys_loaded"), new_kid[0]);
        }
        tu_sleep_ms(200);
    }
    assert_int_equal(th_orgd_stop(o), 0);
    keydir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(jwks_publishes_public_members_only, stop_orgds_remove_keys),
        cmocka_unit_test(jwks_is_empty_under_hmac),
        cmocka_unit_test_teardown(every_token_names_a_published_key, stop_orgds_remove_keys),
        cmocka_unit_test_teardown(another_implementation_verifies_across_a_rotation,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(two_instances_rotate_without_refusing_a_token,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(hmac_secrets_rotate_with_previous_secrets,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(hostile_kids_and_alg_confusion_are_401, stop_orgds_remove_keys),
        cmocka_unit_test(hmac_takes_only_the_key_and_alg_its_kid_names),
        cmocka_unit_test_teardown(bad_key_files_refuse_to_start, stop_orgds_remove_keys),
        cmocka_unit_test_teardown(a_key_file_broken_while_running_keeps_the_keys,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(a_change_during_a_reload_is_not_lost, stop_orgds_remove_keys),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
