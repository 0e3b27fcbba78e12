/* The ES256 key file and the key set tokens are signed and verified with:
 * every file orgd must refuse, the commands that change it, and tokens
 * across a rotation, including the algorithm confusions of RFC 8725. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjose/cjose.h>
#include <cmocka.h>

#include "forge.h"
#include "jwt.h"
#include "keyfile.h"

#define SUB "0123456789abcdef01234567"
#define SID "aaaabbbbccccddddeeeeffff"
#define NOW 1800000000
static const char secret[] = "0123456789abcdef0123456789abcdef";
static const char old_secret[] = "the secret before this one: 32 bytes+";

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/orgd-keys-XXXXXX");
    return mkdtemp(dir) == NULL;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void path_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* A fresh key file of n keys at path; their kids into kids (may be NULL). */
static void new_file(const char *path, int n, char kids[][KEYFILE_KID_BUF])
{
    unlink(path);
    for (int i = 0; i < n; i++) {
        char kid[KEYFILE_KID_BUF];
        bool created = false;
        struct error e = ERROR_INIT;
        if (!keyfile_new_key(path, NOW + i, kid, &created, &e))
            fail_msg("keys new: %s", e.message);
        assert_int_equal(created, i == 0);
        if (kids != NULL)
            snprintf(kids[i], KEYFILE_KID_BUF, "%s", kid);
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The message keyfile_load gives for text as a file (mode 0600). */
static void expect_refused(const char *text, const char *needle)
{
    char path[128];
    path_of("bad.json", path, sizeof path);
    write_file(path, text, 0600);
    struct keyfile kf;
    struct error e = ERROR_INIT;
    if (keyfile_load(path, &kf, &e)) {
        keyfile_free(&kf);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(e.kind, ERR_INVALID);
    if (strstr(e.message, needle) == NULL || strstr(e.message, path) == NULL)
        fail_msg("for %.80s: \"%s\" does not say \"%s\" and name the file", text, e.message,
                 needle);
    assert_null(strchr(e.message, '\n')); /* one line */
}

/* A JWK member of key i of a file's text, as JSON text (malloc'd). */
static char *member(const char *text, size_t i, const char *name)
{
    json_t *root = json_loads(text, 0, NULL);
    json_t *v = json_object_get(json_array_get(json_object_get(root, "keys"), i), name);
    char *out = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    json_decref(root);
    return out;
}

/* The file's text with key i's member `name` set to `json` (NULL: removed). */
static char *with_member(const char *text, size_t i, const char *name, const char *json)
{
    json_t *root = json_loads(text, 0, NULL);
    json_t *k = json_array_get(json_object_get(root, "keys"), i);
    if (json == NULL)
        json_object_del(k, name);
    else
        json_object_set_new(k, name, json_loads(json, JSON_DECODE_ANY, NULL));
    char *out = json_dumps(root, 0);
    json_decref(root);
    return out;
}

static void every_bad_file_is_one_clear_line(void **state)
{
    (void)state;
    char good_path[128];
    path_of("good.json", good_path, sizeof good_path);
    new_file(good_path, 2, NULL);
    char *good = read_text(good_path);

    expect_refused("", "is not a JWK Set");
    expect_refused("not json", "is not a JWK Set");
    expect_refused("[]", "not a JSON object");
    expect_refused("{}", "holds no keys");
    expect_refused("{\"keys\":[]}", "holds no keys");
    expect_refused("{\"keys\":{}}", "holds no keys");
    expect_refused("{\"keys\":[1]}", "key 1");

    struct {
        const char *name, *json, *says;
    } edits[] = {
        {"d", NULL, "public key only"},
        {"kid", NULL, "has no kid"},
        {"kid", "42", "has no kid"},
        {"kid", "\"../../etc/passwd\"", "has no kid"},
        {"kid", "\"\"", "has no kid"},
        {"kid", "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"",
         "has no kid"},
        {"kty", "\"oct\"", "kty"},
        {"kty", "\"RSA\"", "kty"},
        {"crv", "\"P-384\"", "curve \"P-384\""},
        {"crv", "\"secp256k1\"", "curve"},
        {"alg", "\"RS256\"", "not for ES256"},
        {"alg", "\"HS256\"", "not for ES256"},
        {"use", "\"enc\"", "not for ES256"},
        {"x", "\"AAAA\"", "not a valid P-256 key"},
        {"x", NULL, "public point"},
        {"orgd_created_at", "\"yesterday\"", "Unix time"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *text = with_member(good, 1, edits[i].name, edits[i].json);
        expect_refused(text, edits[i].says);
        free(text);
    }
    /* two keys, one kid */
    char *kid0 = member(good, 0, "kid");
    char *dup = with_member(good, 1, "kid", kid0);
    expect_refused(dup, "has the kid of key 1");
    free(dup);
    free(kid0);
    /* key 2's private part with key 1's public point */
    char *d1 = member(good, 1, "d");
    char *mismatched = with_member(good, 0, "d", d1);
    expect_refused(mismatched, "does not match");
    free(mismatched);
    free(d1);
    /* a P-384 key, well formed: another curve */
    cjose_err err;
    cjose_jwk_t *p384 = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_384, &err);
    char *p384_json = cjose_jwk_to_json(p384, true, &err);
    char set[2048];
    snprintf(set, sizeof set, "{\"keys\":[%.*s,\"kid\":\"p384\"}]}", (int)strlen(p384_json) - 1,
             p384_json);
    expect_refused(set, "P-384");
    free(p384_json);
    cjose_jwk_release(p384);

    /* a file others may read, or write: refused, and it says how to fix it */
    char path[128];
    path_of("open.json", path, sizeof path);
    write_file(path, good, 0644);
    struct keyfile kf;
    struct error e = ERROR_INIT;
    assert_false(keyfile_load(path, &kf, &e));
    assert_non_null(strstr(e.message, "chmod 600"));
    assert_int_equal(chmod(path, 0620), 0);
    assert_false(keyfile_load(path, &kf, &e));
    assert_int_equal(chmod(path, 0600), 0);
    assert_true(keyfile_load(path, &kf, &e));
    assert_int_equal(kf.n, 2);
    keyfile_free(&kf);
    /* no file, a directory */
    path_of("missing.json", path, sizeof path);
    assert_false(keyfile_load(path, &kf, &e));
    assert_non_null(strstr(e.message, "cannot be opened"));
    assert_false(keyfile_load(dir, &kf, &e));
    free(good);
}

static void the_published_key_has_public_members_only(void **state)
{
    (void)state;
    char path[128];
    path_of("pub.json", path, sizeof path);
    new_file(path, 1, NULL);
    struct keyfile kf;
    struct error e = ERROR_INIT;
    assert_true(keyfile_load(path, &kf, &e));
    json_t *pub = keyfile_public_jwk(&kf.keys[0]);
    const char *allowed[] = {"kty", "crv", "x", "y", "kid", "alg", "use"};
    assert_int_equal(json_object_size(pub), 7);
    for (size_t i = 0; i < 7; i++)
        assert_non_null(json_object_get(pub, allowed[i]));
    assert_string_equal(json_string_value(json_object_get(pub, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(pub, "use")), "sig");
    /* the kid is the RFC 7638 thumbprint: 43 base64url characters */
    assert_int_equal(strlen(kf.keys[0].kid), 43);
    json_decref(pub);
    keyfile_free(&kf);
}

static void commands_promote_and_retire(void **state)
{
    (void)state;
    char path[128], kids[3][KEYFILE_KID_BUF];
    path_of("rot.json", path, sizeof path);
    new_file(path, 3, kids);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct error e = ERROR_INIT;
    int64_t live = -1;
    /* the signing key cannot go; an unknown one is not found */
    assert_false(keyfile_retire(path, kids[0], NOW, 3600, &live, &e));
    assert_int_equal(e.kind, ERR_CONFLICT);
    assert_false(keyfile_retire(path, "no-such-kid", NOW, 3600, &live, &e));
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    assert_false(keyfile_promote(path, "no-such-kid", NOW, &e));
    assert_int_equal(e.kind, ERR_NOT_FOUND);
    /* a key that never signed goes without a warning */
    assert_true(keyfile_retire(path, kids[2], NOW, 3600, &live, &e));
    assert_int_equal(live, 0);
    /* promote: the new one signs, the old one records when it stopped */
    assert_true(keyfile_promote(path, kids[1], NOW + 10, &e));
    struct keyfile kf;
    assert_true(keyfile_load(path, &kf, &e));
    assert_int_equal(kf.n, 2);
    assert_string_equal(kf.keys[0].kid, kids[1]);
    assert_string_equal(kf.keys[1].kid, kids[0]);
    assert_int_equal(kf.keys[1].signed_until, NOW + 10);
    assert_int_equal(kf.keys[0].signed_until, 0);
    keyfile_free(&kf);
    /* retired within a token lifetime of that: a warning's time */
    assert_true(keyfile_retire(path, kids[0], NOW + 20, 3600, &live, &e));
    assert_int_equal(live, NOW + 10 + 3600);
    assert_true(keyfile_load(path, &kf, &e));
    assert_int_equal(kf.n, 1);
    keyfile_free(&kf);
    /* and the last key cannot go: it signs */
    assert_false(keyfile_retire(path, kids[1], NOW, 3600, &live, &e));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* no temporary file is left behind */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep tmp)\"", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- tokens ---- */

static jwt_t *es256(const char *path, const char *hmac, const char *previous)
{
    struct error e = ERROR_INIT;
    struct jwt_settings s = {.alg = JWT_ES256,
                             .secret = hmac ? hmac : "",
                             .secret_len = hmac ? strlen(hmac) : 0,
                             .previous_secrets = previous ? previous : "",
                             .keys_file = path,
                             .issuer = "orgd",
                             .ttl_seconds = 3600};
    jwt_t *j = jwt_new(&s, &e);
    if (j == NULL)
        fail_msg("jwt_new: %s", e.message);
    return j;
}

static jwt_t *hmac(const char *key, const char *previous)
{
    struct error e = ERROR_INIT;
    struct jwt_settings s = {.alg = JWT_HS256,
                             .secret = key,
                             .secret_len = strlen(key),
                             .previous_secrets = previous ? previous : "",
                             .issuer = "orgd",
                             .ttl_seconds = 3600};
    jwt_t *j = jwt_new(&s, &e);
    if (j == NULL)
        fail_msg("jwt_new: %s", e.message);
    return j;
}

static char *issue(jwt_t *j)
{
    struct jwt_claims c = {.sub = SUB, .sid = SID};
    struct error e = ERROR_INIT;
    char *token = NULL;
    assert_true(jwt_issue(j, &c, NOW, &token, &e));
    return token;
}

/* jwt_verify's answer: NULL when it verified, else its message (static). */
static const char *refusal(jwt_t *j, const char *token)
{
    static char why[256];
    struct error e = ERROR_INIT;
    struct jwt_claims c;
    if (jwt_verify(j, token, strlen(token), NOW, &c, &e))
        return NULL;
    snprintf(why, sizeof why, "%s", e.message);
    return why;
}

static json_t *header_of(const char *token)
{
    size_t n = strcspn(token, ".");
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    assert_true(cjose_base64url_decode(token, n, &raw, &raw_len, &err));
    json_t *h = json_loadb((const char *)raw, raw_len, 0, NULL);
    cjose_get_dealloc()(raw);
    return h;
}

/* whether the JSON text of v holds needle */
static bool dump_holds(const json_t *v, const char *needle)
{
    char *text = json_dumps(v, 0);
    assert_non_null(text);
    bool holds = strstr(text, needle) != NULL;
    free(text);
    return holds;
}

static const char payload[] = "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID
                              "\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800003600,"
                              "\"jti\":\"abc\"}";

static void es256_tokens_carry_a_kid_and_verify_across_a_rotation(void **state)
{
    (void)state;
    char path[128], kids[2][KEYFILE_KID_BUF];
    path_of("jwt.json", path, sizeof path);
    new_file(path, 1, kids);
    jwt_t *j = es256(path, NULL, NULL);
    char *before = issue(j);
    json_t *h = header_of(before);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kids[0]);
    json_decref(h);
    assert_null(refusal(j, before));
    /* the JWKS: the one key, public */
    json_t *set = jwt_jwks(j);
    assert_int_equal(json_array_size(json_object_get(set, "keys")), 1);
    assert_false(dump_holds(set, "\"d\""));
    json_decref(set);

    /* a new key: published, not signing */
    char kid[KEYFILE_KID_BUF];
    bool created;
    struct error e = ERROR_INIT;
    assert_true(keyfile_new_key(path, NOW, kid, &created, &e));
    assert_int_equal(jwt_reload(j, false, &e), JWT_RELOAD_DONE);
    assert_int_equal(jwt_reload(j, false, &e), JWT_RELOAD_UNCHANGED);
    assert_int_equal(jwt_key_count(j), 2);
    char *still_old = issue(j);
    h = header_of(still_old);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kids[0]);
    json_decref(h);
    /* promoted: it signs; both verify */
    assert_true(keyfile_promote(path, kid, NOW, &e));
    assert_int_equal(jwt_reload(j, true, &e), JWT_RELOAD_DONE);
    char *after = issue(j);
    h = header_of(after);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
    json_decref(h);
    assert_null(refusal(j, before));
    assert_null(refusal(j, after));
    /* retired: its tokens are refused at once, though verified (and cached) before */
    int64_t live;
    assert_true(keyfile_retire(path, kids[0], NOW, 3600, &live, &e));
    assert_int_equal(jwt_reload(j, false, &e), JWT_RELOAD_DONE);
    assert_string_equal(refusal(j, before), "token key is not known");
    assert_null(refusal(j, after));
    set = jwt_jwks(j);
    assert_int_equal(json_array_size(json_object_get(set, "keys")), 1);
    assert_false(dump_holds(set, kids[0]));
    json_decref(set);

    /* a broken file: the keys in use stay */
    write_file(path, "{\"keys\":[]}", 0600);
    assert_int_equal(jwt_reload(j, false, &e), JWT_RELOAD_FAILED);
    assert_non_null(strstr(e.message, "holds no keys"));
    assert_int_equal(jwt_reload(j, false, &e), JWT_RELOAD_UNCHANGED); /* one failure per version */
    assert_null(refusal(j, after));
    free(before);
    free(still_old);
    free(after);
    jwt_destroy(j);
}

static void confused_algorithms_and_hostile_kids_are_refused(void **state)
{
    (void)state;
    char path[128], kids[1][KEYFILE_KID_BUF];
    path_of("confuse.json", path, sizeof path);
    new_file(path, 1, kids);
    jwt_t *j = es256(path, secret, NULL);
    char *text = read_text(path);
    char *x = member(text, 0, "x"); /* "..." with quotes */
    char hdr[512];

    /* HS256 under the EC key's kid, keyed with its public point: the
     * classic confusion (RFC 8725 2.1) */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kids[0]);
    char *t = forge_jwt(hdr, payload, FORGE_HS256, x, strlen(x));
    assert_string_equal(refusal(j, t), "token algorithm is not accepted");
    free(t);
    /* ES256 under the HMAC secret's kid */
    char hs_kid[JWT_KID_BUF];
    jwt_hmac_kid(secret, strlen(secret), hs_kid);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", hs_kid);
    t = forge_jwt(hdr, payload, FORGE_HS256, secret, strlen(secret));
    assert_string_equal(refusal(j, t), "token algorithm is not accepted");
    free(t);
    /* the secret's own kid and alg: it verifies (tokens from before ES256) */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", hs_kid);
    t = forge_jwt(hdr, payload, FORGE_HS256, secret, strlen(secret));
    assert_null(refusal(j, t));
    free(t);
    /* and so does one with no kid at all (issued before kids) */
    t = forge_jwt("{\"alg\":\"HS256\"}", payload, FORGE_HS256, secret, strlen(secret));
    assert_null(refusal(j, t));
    free(t);

    /* kids that are no kid */
    char huge[8192];
    memset(huge, 'k', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    const char *bad_kids[] = {"42",
                              "null",
                              "[\"a\"]",
                              "{\"a\":1}",
                              "\"../../etc/passwd\"",
                              "\"a/b\"",
                              "\"\"",
                              "\"kid with spaces\"",
                              "\"k\\u0000\""};
    for (size_t i = 0; i < sizeof bad_kids / sizeof bad_kids[0]; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":%s}", bad_kids[i]);
        t = forge_jwt(hdr, payload, FORGE_HS256, secret, strlen(secret));
        const char *why = refusal(j, t);
        if (why == NULL)
            fail_msg("kid %s accepted", bad_kids[i]);
        free(t);
    }
    char *big_hdr = malloc(sizeof huge + 64);
    snprintf(big_hdr, sizeof huge + 64, "{\"alg\":\"ES256\",\"kid\":\"%.65s\"}", huge);
    t = forge_jwt(big_hdr, payload, FORGE_HS256, secret, strlen(secret));
    assert_string_equal(refusal(j, t), "token key id is malformed");
    free(t);
    snprintf(big_hdr, sizeof huge + 64, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", huge);
    t = forge_jwt(big_hdr, payload, FORGE_HS256, secret, strlen(secret));
    struct error e = ERROR_INIT;
    struct jwt_claims c;
    assert_false(jwt_verify(j, t, strlen(t), NOW, &c, &e)); /* past JWT_MAX_LEN: 400 */
    free(t);
    free(big_hdr);
    /* a well-formed kid nobody has */
    t = forge_jwt("{\"alg\":\"ES256\",\"kid\":\"nobody\"}", payload, FORGE_HS256, secret,
                  strlen(secret));
    assert_string_equal(refusal(j, t), "token key is not known");
    free(t);
    /* an ES256 token with its signature altered */
    char *good = issue(j);
    good[strlen(good) - 3] = good[strlen(good) - 3] == 'A' ? 'B' : 'A';
    assert_string_equal(refusal(j, good), "token signature is invalid");
    free(good);
    free(x);
    free(text);
    jwt_destroy(j);
}

static void hmac_secrets_rotate_with_previous_secrets(void **state)
{
    (void)state;
    jwt_t *old = hmac(old_secret, NULL);
    char *old_token = issue(old);
    json_t *h = header_of(old_token);
    char want[JWT_KID_BUF];
    jwt_hmac_kid(old_secret, strlen(old_secret), want);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), want);
    json_decref(h);
    /* the new secret signs; the old one verifies its tokens; no key is published */
    jwt_t *now = hmac(secret, old_secret);
    const char *why = refusal(now, old_token);
    if (why != NULL)
        fail_msg("the old secret's token: %s", why);
    char *new_token = issue(now);
    assert_null(refusal(now, new_token));
    assert_string_equal(refusal(old, new_token), "token key is not known");
    json_t *set = jwt_jwks(now);
    assert_int_equal(json_array_size(json_object_get(set, "keys")), 0);
    json_decref(set);
    /* without the old secret, its tokens are refused */
    jwt_t *later = hmac(secret, NULL);
    assert_string_equal(refusal(later, old_token), "token key is not known");
    assert_null(refusal(later, new_token));
    /* a kid-less token verifies against JWT_SECRET alone, never a previous one */
    char *legacy_old =
        forge_jwt("{\"alg\":\"HS256\"}", payload, FORGE_HS256, old_secret, strlen(old_secret));
    assert_string_equal(refusal(now, legacy_old), "token signature is invalid");
    free(legacy_old);
    free(old_token);
    free(new_token);
    jwt_destroy(old);
    jwt_destroy(now);
    jwt_destroy(later);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_bad_file_is_one_clear_line),
        cmocka_unit_test(the_published_key_has_public_members_only),
        cmocka_unit_test(commands_promote_and_retire),
        cmocka_unit_test(es256_tokens_carry_a_kid_and_verify_across_a_rotation),
        cmocka_unit_test(confused_algorithms_and_hostile_kids_are_refused),
        cmocka_unit_test(hmac_secrets_rotate_with_previous_secrets),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
