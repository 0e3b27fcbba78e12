#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "forge.h"
#include "jwt.h"
#include "worker_stack.h"

static const char key[] = "0123456789abcdef0123456789abcdef";
#define SUB "0123456789abcdef01234567"
#define ORG "76543210fedcba9876543210"
#define SID "aaaabbbbccccddddeeeeffff"
#define NOW 1800000000

static jwt_t *make(void)
{
    struct error e;
    error_clear(&e);
    jwt_t *j = jwt_new(&(struct jwt_settings){.alg = JWT_HS256,
                                              .secret = key,
                                              .secret_len = 32,
                                              .issuer = "orgd",
                                              .ttl_seconds = 3600},
                       &e);
    assert_non_null(j);
    return j;
}

static char *payload(long iat, long nbf, long exp, const char *iss)
{
    char *p = malloc(512);
    snprintf(p, 512,
             "{\"iss\":\"%s\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"org\":\"" ORG
             "\",\"role\":\"owner\","
             "\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,\"jti\":\"abc\"}",
             iss, iat, nbf, exp);
    return p;
}

static bool verifies(jwt_t *j, const char *token, char *why, size_t cap)
{
    struct error e;
    error_clear(&e);
    struct jwt_claims c;
    bool ok = jwt_verify(j, token, strlen(token), NOW, &c, &e);
    if (!ok) {
        assert_int_equal(e.kind, ERR_UNAUTHORIZED);
        snprintf(why, cap, "%s", e.message);
    }
    return ok;
}

static void issue_then_verify(void **state)
{
    (void)state;
    jwt_t *j = make();
    struct jwt_claims c = {.sub = SUB, .sid = SID, .org = ORG, .role = "owner"};
    struct error e;
    error_clear(&e);
    char *token = NULL;
    assert_true(jwt_issue(j, &c, NOW, &token, &e));
    assert_int_equal(c.exp, NOW + 3600);
    assert_int_equal(strlen(c.jti), 32);
    struct jwt_claims back;
    assert_true(jwt_verify(j, token, strlen(token), NOW + 10, &back, &e));
    assert_string_equal(back.sub, SUB);
    assert_string_equal(back.org, ORG);
    assert_string_equal(back.role, "owner");
    assert_string_equal(back.sid, SID);
    assert_string_equal(back.jti, c.jti);
    /* a hand-made token with the same key verifies too: the format is standard */
    char *p = payload(NOW, NOW, NOW + 60, "orgd");
    char *forged = forge_jwt("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p, FORGE_HS256, key, 32);
    char why[256];
    assert_true(verifies(j, forged, why, sizeof why));
    free(p);
    free(forged);
    free(token);
    jwt_destroy(j);
}

static void refuses_every_bad_token(void **state)
{
    (void)state;
    jwt_t *j = make();
    char *good = payload(NOW, NOW, NOW + 60, "orgd");
    char *expired = payload(NOW - 7200, NOW - 7200, NOW - 31, "orgd");
    char *future = payload(NOW, NOW + 31, NOW + 3600, "orgd");
    char *wrong_iss = payload(NOW, NOW, NOW + 60, "someone-else");
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    struct {
        char *token;
        const char *why;
    } cases[] = {
        {forge_jwt("{\"alg\":\"none\",\"typ\":\"JWT\"}", good, FORGE_NONE, NULL, 0), "none"},
        {forge_jwt("{\"alg\":\"none\"}", good, FORGE_HS256, key, 32), "none, signed"},
        {forge_jwt("{\"alg\":\"HS384\"}", good, FORGE_HS384, key, 32), "HS384"},
        {forge_jwt("{\"alg\":\"HS512\"}", good, FORGE_HS512, key, 32), "HS512"},
        {forge_jwt("{\"alg\":\"hs256\"}", good, FORGE_HS256, key, 32), "alg case"},
        {forge_jwt("{\"typ\":\"JWT\"}", good, FORGE_HS256, key, 32), "no alg"},
        {forge_jwt("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", good, FORGE_HS256, key, 32), "crit"},
        {forge_jwt("{\"alg\":\"HS256\",\"alg\":\"none\"}", good, FORGE_HS256, key, 32), "dup alg"},
        {forge_jwt(hs256, good, FORGE_HS256, "another key, 32 bytes long......", 32), "wrong key"},
        {forge_jwt(hs256, expired, FORGE_HS256, key, 32), "expired"},
        {forge_jwt(hs256, future, FORGE_HS256, key, 32), "nbf"},
        {forge_jwt(hs256, wrong_iss, FORGE_HS256, key, 32), "iss"},
        {forge_jwt(hs256, "{\"sub\":\"x\"}", FORGE_HS256, key, 32), "claims missing"},
        {forge_jwt(hs256, "[1,2]", FORGE_HS256, key, 32), "payload not an object"},
        {forge_jwt(hs256, "not json", FORGE_HS256, key, 32), "payload not json"},
        {strdup("garbage"), "garbage"},
        {strdup("a.b.c"), "short segments"},
        {strdup("..."), "dots"},
        {strdup(""), "empty"},
        {strdup("eyJhbGciOiJIUzI1NiJ9.e30"), "two segments"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[256] = "";
        if (verifies(j, cases[i].token, why, sizeof why))
            fail_msg("accepted: %s", cases[i].why);
        free(cases[i].token);
    }
    /* truncated signature, and one character changed */
    char *token = forge_jwt(hs256, good, FORGE_HS256, key, 32);
    char why[256];
    assert_true(verifies(j, token, why, sizeof why));
    token[strlen(token) - 1] = '\0';
    assert_false(verifies(j, token, why, sizeof why));
    assert_string_equal(why, "token signature is invalid");
    free(token);
    token = forge_jwt(hs256, good, FORGE_HS256, key, 32);
    char *last = token + strlen(token) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_false(verifies(j, token, why, sizeof why));
    free(token);
    /* over the length bound: a malformed request (400), not a token to judge */
    char *huge = malloc(JWT_MAX_LEN + 2);
    memset(huge, 'a', JWT_MAX_LEN + 1);
    huge[JWT_MAX_LEN + 1] = '\0';
    struct error e;
    error_clear(&e);
    struct jwt_claims c;
    assert_false(jwt_verify(j, huge, JWT_MAX_LEN + 1, NOW, &c, &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
    assert_string_equal(e.message, "the token is longer than 4096 bytes");
    free(huge);
    free(good);
    free(expired);
    free(future);
    free(wrong_iss);
    jwt_destroy(j);
}

static void leeway_is_30_seconds(void **state)
{
    (void)state;
    jwt_t *j = make();
    char why[256];
    char *p = payload(NOW - 100, NOW + 29, NOW - 29, "orgd");
    char *t = forge_jwt("{\"alg\":\"HS256\"}", p, FORGE_HS256, key, 32);
    assert_true(verifies(j, t, why, sizeof why));
    free(p);
    free(t);
    p = payload(NOW - 100, NOW, NOW - 30, "orgd");
    t = forge_jwt("{\"alg\":\"HS256\"}", p, FORGE_HS256, key, 32);
    assert_false(verifies(j, t, why, sizeof why));
    assert_string_equal(why, "token has expired");
    free(p);
    free(t);
    jwt_destroy(j);
}

static void configured_algorithm_is_the_only_one(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    const char key64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    jwt_t *j = jwt_new(&(struct jwt_settings){.alg = JWT_HS512,
                                              .secret = key64,
                                              .secret_len = 64,
                                              .issuer = "orgd",
                                              .ttl_seconds = 3600},
                       &e);
    assert_non_null(j);
    struct jwt_claims c = {.sub = SUB, .sid = SID, .org = ORG, .role = "owner"};
    char *token = NULL;
    assert_true(jwt_issue(j, &c, NOW, &token, &e));
    struct jwt_claims back;
    assert_true(jwt_verify(j, token, strlen(token), NOW, &back, &e));
    char *p = payload(NOW, NOW, NOW + 60, "orgd");
    char *hs256 = forge_jwt("{\"alg\":\"HS256\"}", p, FORGE_HS256, key64, 64);
    assert_false(jwt_verify(j, hs256, strlen(hs256), NOW, &back, &e));
    free(hs256);
    free(p);
    free(token);
    jwt_destroy(j);
}

/* A header or a signed payload nested past the limit is refused as
 * malformed (400) before any parser recurses, on a worker-sized stack;
 * so is a token longer than the cap. */
static void *verify_deep_tokens(void *arg)
{
    jwt_t *j = arg;
    const int depths[] = {33, 1000};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        int n = depths[i];
        char *deep = malloc((size_t)n * 2 + 64);
        int o = snprintf(deep, 64, "{\"alg\":\"HS256\",\"x\":");
        for (int k = 0; k < n - 1; k++)
            deep[o++] = '[';
        for (int k = 0; k < n - 1; k++)
            deep[o++] = ']';
        deep[o++] = '}';
        deep[o] = '\0';
        char *p = payload(NOW, NOW, NOW + 60, "orgd");
        char *tokens[2] = {forge_jwt(deep, p, FORGE_HS256, key, 32),
                           forge_jwt("{\"alg\":\"HS256\"}", deep, FORGE_HS256, key, 32)};
        for (int t = 0; t < 2; t++) {
            struct error e;
            error_clear(&e);
            struct jwt_claims c;
            bool ok = jwt_verify(j, tokens[t], strlen(tokens[t]), NOW, &c, &e);
            assert_false(ok);
            if (strlen(tokens[t]) <= JWT_MAX_LEN)
                assert_non_null(strstr(e.message, "nested deeper than 32"));
            assert_int_equal(e.kind, ERR_MALFORMED);
            free(tokens[t]);
        }
        free(p);
        free(deep);
    }
    return NULL;
}

static void deep_tokens_are_refused_on_a_worker_stack(void **state)
{
    (void)state;
    jwt_t *j = make();
    run_on_worker_stack(verify_deep_tokens, j);
    jwt_destroy(j);
}

/* One token has one spelling: the spare bits of the signature's last
 * character must be zero. And time claims that would overflow arithmetic
 * (exp + leeway, iat * 1000) are refused even when signed with the key. */
static void non_canonical_and_absurd_tokens_are_refused(void **state)
{
    (void)state;
    jwt_t *j = make();
    char *good = payload(NOW, NOW, NOW + 60, "orgd");
    char *token = forge_jwt("{\"alg\":\"HS256\"}", good, FORGE_HS256, key, 32);
    char why[256];
    assert_true(verifies(j, token, why, sizeof why));
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *last = token + strlen(token) - 1;
    int idx = (int)(strchr(alphabet, *last) - alphabet);
    for (int spare = 1; spare < 4; spare++) { /* the same MAC bits, other spare bits */
        *last = alphabet[(idx & ~3) | spare];
        assert_false(verifies(j, token, why, sizeof why));
        assert_string_equal(why, "token signature is invalid");
    }
    free(token);
    const char *absurd[] = {
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"org\":\"" ORG
        "\",\"role\":\"owner\","
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":9223372036854775807,\"jti\":\"a\"}",
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"org\":\"" ORG
        "\",\"role\":\"owner\","
        "\"iat\":-4611686018427387904,\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"a\"}",
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"org\":\"" ORG
        "\",\"role\":\"owner\","
        "\"iat\":1800000000,\"nbf\":-1,\"exp\":1800003600,\"jti\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        token = forge_jwt("{\"alg\":\"HS256\"}", absurd[i], FORGE_HS256, key, 32);
        assert_false(verifies(j, token, why, sizeof why));
        assert_string_equal(why, "token claims are invalid");
        free(token);
    }
    free(good);
    jwt_destroy(j);
}

/* An account-scoped token carries no org and no role; every token names
 * its session, and org and role come together or not at all. */
static void scopes_and_sessions(void **state)
{
    (void)state;
    jwt_t *j = make();
    struct error e;
    error_clear(&e);
    struct jwt_claims c = {.sub = SUB, .sid = SID};
    char *token = NULL;
    assert_true(jwt_issue(j, &c, NOW, &token, &e));
    struct jwt_claims back;
    assert_true(jwt_verify(j, token, strlen(token), NOW, &back, &e));
    assert_string_equal(back.org, "");
    assert_string_equal(back.role, "");
    assert_string_equal(back.sid, SID);
    free(token);
    const char *bad[] = {
        /* no sid */
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"iat\":1800000000,\"nbf\":1800000000,"
        "\"exp\":1800003600,\"jti\":\"a\"}",
        /* org without role */
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"org\":\"" ORG "\","
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"a\"}",
        /* role without org */
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"" SID "\",\"role\":\"owner\","
        "\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"a\"}",
        /* a sid that is no id */
        "{\"iss\":\"orgd\",\"sub\":\"" SUB "\",\"sid\":\"x\",\"iat\":1800000000,"
        "\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"a\"}",
    };
    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        token = forge_jwt("{\"alg\":\"HS256\"}", bad[i], FORGE_HS256, key, 32);
        assert_false(verifies(j, token, why, sizeof why));
        assert_string_equal(why, "token claims are invalid");
        free(token);
    }
    jwt_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(issue_then_verify),
        cmocka_unit_test(refuses_every_bad_token),
        cmocka_unit_test(leeway_is_30_seconds),
        cmocka_unit_test(configured_algorithm_is_the_only_one),
        cmocka_unit_test(deep_tokens_are_refused_on_a_worker_stack),
        cmocka_unit_test(non_canonical_and_absurd_tokens_are_refused),
        cmocka_unit_test(scopes_and_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
