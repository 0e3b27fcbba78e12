/* Signing keys over HTTP, on one instance: the JWK Set orgd publishes at
 * /.well-known/jwks.json (public members only, never a private `d` or an
 * HMAC secret; empty under HMAC), every token's `kid`, verification by a
 * JOSE library that is not orgd's (PyJWT's PyJWKClient, verify_jwks.py)
 * before, across and after a rotation made with the real `orgd keys`
 * commands, HMAC rotation with JWT_PREVIOUS_SECRETS, and hostile `kid`
 * and `alg` headers (RFC 8725's confusion). Two instances sharing one key
 * file, and the key files orgd refuses at start or keeps running past, are
 * test_signing_keys_files.c's.
 *
 * Key files live in a private directory (mkdtemp, 0700) made by the real
 * `orgd keys new` (which writes them 0600); the teardown removes it
 * (harness_keys.h). */
#include <setjmp.h>
#include <stdarg.h>
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
#include "harness_keys.h"
#include "testutil.h"

static struct th_orgd *const O = &th_shared_orgd; /* the default: HS256 with JWT_SECRET */

/* The teardown of every case that starts an orgd or makes key files: a
 * failed assertion leaves the case at once, and neither may outlive it. */
static int stop_orgds_remove_keys(void **state)
{
    th_own_orgd_stop(state);
    th_keydir_remove();
    return 0;
}

/* ---- tokens, decoded by hand ---- */

/* The payload of a token orgd issued, as its JSON text (caller frees): the
 * claims of a live session, for forged tokens that would pass but for
 * their header or signature. */
static char *token_payload(const char *token)
{
    return th_json_text(th_jwt_claims(token));
}

/* The kid of an HMAC secret, as jwt.h defines it: "hs-" and the first 16
 * hex digits of the secret's SHA-256. Computed here with OpenSSL. */
static void hmac_kid(const char *secret, char out[TH_KID_BUF])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_true(EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL));
    int w = snprintf(out, TH_KID_BUF, "hs-");
    for (int i = 0; i < 8; i++)
        w += snprintf(out + w, TH_KID_BUF - (size_t)w, "%02x", md[i]);
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
    char file[128], kids[2][TH_KID_BUF];
    th_keydir_make("keys.json", file, sizeof file);
    th_keyfile_with(file, 2, kids);
    struct th_orgd *o = th_es256_orgd_start(file, NULL);

    struct th_resp r;
    th_jwks_get(o, &r);
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
        long n = th_b64url_decode(d, strlen(d), raw, sizeof raw);
        assert_int_equal(n, 32);
        if (strstr(r.body, d) != NULL || memmem(r.body, r.len, raw, (size_t)n) != NULL)
            fail_msg("the JWKS holds the private key d of %s", kids[i]);
    }
    json_decref(held);
    char *secret_b64 = forge_b64url(o->secret, strlen(o->secret));
    if (strstr(r.body, o->secret) != NULL || strstr(r.body, secret_b64) != NULL)
        fail_msg("the JWKS holds JWT_SECRET: %s", r.body);
    char kid[TH_KID_BUF];
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
    th_jwks_get(O, &r);
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
    char file[128], kids[2][TH_KID_BUF];
    th_keydir_make("keys.json", file, sizeof file);
    th_keyfile_with(file, 2, kids);
    struct th_orgd *o = th_es256_orgd_start(file, NULL);
    struct th_account a;
    th_account_new(o, "KidOf", &a);
    char org_id[32], org_name[64];
    th_org_new(o, a.t.access, "KidOrg", org_id, org_name);
    struct th_tokens refreshed, scoped;
    assert_int_equal(th_refresh(o, a.t.refresh, &refreshed), 200);
    th_org_login(o, &a, org_name, &scoped);
    const char *tokens[] = {a.t.access, refreshed.access, scoped.access};
    for (size_t i = 0; i < 3; i++) {
        char kid[TH_KID_BUF], alg[16];
        th_token_kid(tokens[i], kid);
        th_token_alg(tokens[i], alg, sizeof alg);
        assert_string_equal(alg, "ES256");
        assert_string_equal(kid, kids[0]); /* the first key of the file signs */
        if (!th_jwks_has(o, kid))
            fail_msg("token %zu names kid %s, which the JWKS does not hold", i, kid);
        th_expect_alive(o, tokens[i]);
    }
    assert_int_equal(th_orgd_stop(o), 0);

    /* HMAC: the shared orgd's tokens carry the secret's kid */
    struct th_account h;
    th_account_new(O, "KidOfHmac", &h);
    char kid[TH_KID_BUF], want[TH_KID_BUF], alg[16];
    th_token_kid(h.t.access, kid);
    th_token_alg(h.t.access, alg, sizeof alg);
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
    char file[128], old_kid[1][TH_KID_BUF], new_kid[TH_KID_BUF], out[4096];
    th_keydir_make("keys.json", file, sizeof file);
    struct stat st;
    assert_int_equal(stat(th_keydir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    th_keyfile_with(file, 1, old_kid);
    struct th_orgd *o = th_es256_orgd_start(file, NULL);
    char email[96];
    th_signup_fresh(o, "Rotate", email, sizeof email);

    /* before */
    struct th_tokens before;
    th_signin_ok(o, email, TU_PASSWORD, &before);
    char kid[TH_KID_BUF];
    th_token_kid(before.access, kid);
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
    th_keys_new(o, file, new_kid);
    int64_t seen = th_wait_jwks(o, new_kid, true);
    struct th_tokens still_old;
    th_signin_ok(o, email, TU_PASSWORD, &still_old);
    th_token_kid(still_old.access, kid);
    assert_string_equal(kid, old_kid[0]);
    expect_py(o, before.access, PY_VERIFIED, "the old key's token, both keys published");

    /* promote: the new key signs; both keys' tokens verify */
    th_keys_ok(o, "promote", new_kid, file, out, sizeof out);
    char kids[4][TH_KID_BUF];
    assert_int_equal(th_keys_list(o, file, kids, 4), 2);
    assert_string_equal(kids[0], new_kid);
    struct th_tokens after;
    int64_t signing = th_wait_signing_kid(o, email, new_kid, &after);
    assert_true(th_jwks_has(o, old_kid[0]));
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
    assert_int_equal(th_keys_list(o, file, kids, 4), 2);
    assert_string_equal(kids[0], new_kid);

    /* retire: the old key is gone from the JWKS and from orgd; the command
     * warns that tokens it signed a moment ago may still be live */
    th_keys_ok(o, "retire", old_kid[0], file, out, sizeof out);
    if (strstr(out, "warning") == NULL)
        fail_msg("orgd keys retire of a key that signed seconds ago did not warn:\n%s", out);
    int64_t gone = th_wait_jwks(o, old_kid[0], false);
    expect_py(o, before.access, PY_NO_KEY, "the retired key's token");
    expect_py(o, after.access, PY_VERIFIED, "the new key's token after retire");
    th_expect_refused(o, before.access);
    th_expect_alive(o, after.access);
    assert_int_equal(th_keys_list(o, file, kids, 4), 1);
    printf("# rotation seen by the running orgd: new in %lld ms, promote in %lld ms, retire in "
           "%lld ms\n",
           (long long)seen, (long long)signing, (long long)gone);
    assert_int_equal(th_orgd_stop(o), 0);
    th_keydir_remove();
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
    char secret_a[65], secret_b[65], kid_a[TH_KID_BUF], kid_b[TH_KID_BUF], kid[TH_KID_BUF];
    snprintf(secret_a, sizeof secret_a, "%s", o->secret);
    snprintf(secret_b, sizeof secret_b, "B-%.62s", o->secret); /* another 64-byte secret */
    th_secret_remember(secret_b);
    hmac_kid(secret_a, kid_a);
    hmac_kid(secret_b, kid_b);
    struct th_account acc;
    th_account_new(o, "HmacRotate", &acc);
    th_token_kid(acc.t.access, kid);
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
    th_token_kid(fresh.access, kid);
    assert_string_equal(kid, kid_b);
    th_expect_alive(o, fresh.access);
    struct th_resp r;
    th_jwks_get(o, &r);
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
    char file[128], kids[1][TH_KID_BUF];
    th_keydir_make("keys.json", file, sizeof file);
    th_keyfile_with(file, 1, kids);
    struct th_orgd *o = th_es256_orgd_start(file, NULL);
    struct th_account acc;
    th_account_new(o, "Hostile", &acc);
    char *payload = token_payload(acc.t.access);
    const char *s = o->secret;
    size_t slen = strlen(s);
    char hkid[TH_KID_BUF], header[4096];

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
    th_jwks_get(o, &r);
    json_t *pub = json_array_get(json_object_get(r.json, "keys"), 0);
    const char *x = json_string_value(json_object_get(pub, "x"));
    unsigned char x_raw[64];
    long x_len = th_b64url_decode(x, strlen(x), x_raw, sizeof x_raw);
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
    th_keydir_remove();
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
    char hkid[TH_KID_BUF], header[256];
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
    char other_kid[TH_KID_BUF];
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(jwks_publishes_public_members_only, stop_orgds_remove_keys),
        cmocka_unit_test(jwks_is_empty_under_hmac),
        cmocka_unit_test_teardown(every_token_names_a_published_key, stop_orgds_remove_keys),
        cmocka_unit_test_teardown(another_implementation_verifies_across_a_rotation,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(hmac_secrets_rotate_with_previous_secrets,
                                  stop_orgds_remove_keys),
        cmocka_unit_test_teardown(hostile_kids_and_alg_confusion_are_401, stop_orgds_remove_keys),
        cmocka_unit_test(hmac_takes_only_the_key_and_alg_its_kid_names),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
    return th_run_with_shared_orgd(tests);
}
