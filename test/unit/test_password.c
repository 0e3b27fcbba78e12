#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <argon2.h>

#include "password.h"

static const struct password_params fast = {1024, 1, 1};

static void hash_and_verify(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 2, 1000, &e);
    assert_non_null(h);
    char a[PASSWORD_HASH_BUF], b[PASSWORD_HASH_BUF];
    assert_true(password_hash(h, "correct horse", 13, a, &e));
    assert_true(password_hash(h, "correct horse", 13, b, &e));
    assert_string_not_equal(a, b); /* a fresh salt each time */
    assert_int_equal(strncmp(a, "$argon2id$v=19$m=1024,t=1,p=1$", 30), 0);
    bool match, rehash;
    assert_true(password_verify(h, a, "correct horse", 13, &match, &rehash, &e));
    assert_true(match);
    assert_false(rehash);
    assert_true(password_verify(h, a, "correct horsE", 13, &match, &rehash, &e));
    assert_false(match);
    hasher_destroy(h);
}

static void unknown_account_never_matches(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 1, 1000, &e);
    bool match = true, rehash = true;
    assert_true(password_verify(h, NULL, "anything at all", 15, &match, &rehash, &e));
    assert_false(match);
    assert_false(rehash);
    hasher_destroy(h);
}

static void changed_parameters_ask_for_a_rehash(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *old = hasher_new(fast, 1, 1000, &e);
    struct password_params stronger = {2048, 2, 1};
    hasher_t *now = hasher_new(stronger, 1, 1000, &e);
    char stored[PASSWORD_HASH_BUF];
    assert_true(password_hash(old, "password1", 9, stored, &e));
    bool match, rehash;
    assert_true(password_verify(now, stored, "password1", 9, &match, &rehash, &e));
    assert_true(match);
    assert_true(rehash);
    hasher_destroy(old);
    hasher_destroy(now);
}

static void garbage_hash_is_a_mismatch(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 1, 1000, &e);
    bool match = true, rehash = true;
    assert_true(password_verify(h, "not a hash", "password1", 9, &match, &rehash, &e));
    assert_false(match);
    hasher_destroy(h);
}

/* bcrypt hashes made by another implementation (Python's bcrypt module),
 * as the original service stored them: they verify, at their own cost,
 * and ask to be replaced by argon2id. */
static void bcrypt_hashes_of_another_implementation_verify(void **state)
{
    (void)state;
    const char *hashes[] = {
        "$2a$04$CFoFig06pVpFVskDU6aLqeOryMoCrvlbdiHF.4CtZfTY5XwTJ8r16",
        "$2b$04$cgU8/34I1uCC25yiHAbkvu04Em32ldgC5GiG60nLKwC.oWGQVbVna",
        /* $2y$ is PHP's name for $2b$: the same hash under another prefix */
        "$2y$04$cgU8/34I1uCC25yiHAbkvu04Em32ldgC5GiG60nLKwC.oWGQVbVna",
    };
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 1, 1000, &e);
    assert_non_null(h);
    const char *pw = "correct horse battery";
    for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
        bool match = false, rehash = false;
        assert_true(password_is_bcrypt(hashes[i]));
        assert_true(password_verify(h, hashes[i], pw, strlen(pw), &match, &rehash, &e));
        if (!match)
            fail_msg("hash %zu did not verify", i);
        assert_true(rehash);
        assert_true(
            password_verify(h, hashes[i], "correct horse batterY", 21, &match, &rehash, &e));
        assert_false(match);
    }
    /* a damaged bcrypt string never matches, and never crashes */
    bool match = true, rehash = false;
    assert_true(password_verify(h, "$2b$04$short", pw, strlen(pw), &match, &rehash, &e));
    assert_false(match);
    assert_false(password_is_bcrypt("$argon2id$v=19$m=1024,t=1,p=1$x$y"));
    hasher_destroy(h);
}

static void lengths(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    assert_false(password_length_ok(7, "password", &e));
    assert_true(password_length_ok(8, "password", &e));
    assert_true(password_length_ok(128, "password", &e));
    assert_false(password_length_ok(129, "password", &e));
}

struct slot_args {
    hasher_t *h;
    bool ok;
    enum err_kind kind;
};

static void *hash_in_thread(void *arg)
{
    struct slot_args *a = arg;
    struct error e;
    error_clear(&e);
    char out[PASSWORD_HASH_BUF];
    a->ok = password_hash(a->h, "password1", 9, out, &e);
    a->kind = e.kind;
    return NULL;
}

static void saturated_hasher_gives_unavailable(void **state)
{
    (void)state;
    /* one slot, no waiting, an expensive hash: the second caller is refused */
    struct error e;
    error_clear(&e);
    struct password_params slow = {65536, 3, 1};
    hasher_t *h = hasher_new(slow, 1, 0, &e);
    assert_non_null(h);
    struct slot_args a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct slot_args){h, false, ERR_OK};
        pthread_create(&t[i], NULL, hash_in_thread, &a[i]);
    }
    int refused = 0, done = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        done += a[i].ok;
        refused += !a[i].ok && a[i].kind == ERR_UNAVAILABLE;
    }
    assert_true(done >= 1);
    assert_true(refused >= 1);
    assert_int_equal(done + refused, 4);
    assert_int_equal(hasher_in_flight(h), 0);
    hasher_destroy(h);
}

struct waiter {
    hasher_t *h;
    bool ok;
    enum err_kind kind;
    int64_t ms;
};

static void *verify_in_thread(void *arg)
{
    struct waiter *w = arg;
    struct error e = ERROR_INIT;
    char out[PASSWORD_HASH_BUF];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    w->ok = password_hash(w->h, "password1", 9, out, &e);
    clock_gettime(CLOCK_MONOTONIC, &b);
    w->kind = e.kind;
    w->ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    return NULL;
}

/* With one slot and room for one waiter, of six requests at once one
 * hashes, one waits its turn and the rest are refused at once instead of
 * parking their threads for HASH_WAIT_MS. */
static void waiting_for_a_hash_is_bounded(void **state)
{
    (void)state;
    struct error e = ERROR_INIT;
    struct password_params slow = {65536, 3, 1}; /* a few hundred ms a hash */
    hasher_t *h = hasher_new(slow, 1, 10000, &e);
    assert_non_null(h);
    hasher_limit_waiting(h, 1);
    struct waiter w[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct waiter){.h = h};
        pthread_create(&t[i], NULL, verify_in_thread, &w[i]);
    }
    int done = 0, refused_fast = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        done += w[i].ok;
        refused_fast += !w[i].ok && w[i].kind == ERR_UNAVAILABLE && w[i].ms < 100;
    }
    assert_true(done >= 2);
    assert_int_equal(done + refused_fast, 6);
    assert_true(refused_fast >= 1);
    hasher_destroy(h);
}

/* Our PHC strings (hashed through argon2_ctx with our own memory) are the
 * reference library's: each side verifies what the other wrote. */
static void phc_strings_match_the_reference_library(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 1, 1000, &e);
    assert_non_null(h);
    for (int i = 0; i < 8; i++) {
        char pw[32];
        snprintf(pw, sizeof pw, "password-%d%s", i, i % 2 ? "\xc3\xa9" : "");
        char ours[PASSWORD_HASH_BUF], ref[PASSWORD_HASH_BUF];
        assert_true(password_hash(h, pw, strlen(pw), ours, &e));
        assert_int_equal(argon2id_verify(ours, pw, strlen(pw)), ARGON2_OK);
        assert_int_equal(argon2id_verify(ours, "not it!!", 8), ARGON2_VERIFY_MISMATCH);
        const unsigned char salt[16] = {(unsigned char)i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        assert_int_equal(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, sizeof salt, 32,
                                               ref, sizeof ref),
                         ARGON2_OK);
        bool match = false, rehash = true;
        assert_true(password_verify(h, ref, pw, strlen(pw), &match, &rehash, &e));
        assert_true(match);
        assert_false(rehash);
        assert_true(password_verify(h, ref, "not it!!", 8, &match, &rehash, &e));
        assert_false(match);
    }
    hasher_destroy(h);
}

/* Stored strings that are almost right are mismatches, never crashes. */
static void damaged_phc_strings_never_match(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    hasher_t *h = hasher_new(fast, 1, 1000, &e);
    char good[PASSWORD_HASH_BUF];
    assert_true(password_hash(h, "password1", 9, good, &e));
    const char *bad[] = {
        "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0",
        "$argon2id$v=19$m=,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        /* within uint32 but past the settings' bounds: refused, never hashed */
        "$argon2id$v=19$m=20000000,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=4000000000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=0$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$c2Fs!HNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$a",
        "$argon2id$v=19$m=1024,t=1,p=1$$",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool match = true, rehash = true;
        assert_true(password_verify(h, bad[i], "password1", 9, &match, &rehash, &e));
        assert_false(match);
    }
    good[strlen(good) - 2] = good[strlen(good) - 2] == 'A' ? 'B' : 'A'; /* one hash bit off */
    bool match = true, rehash = true;
    assert_true(password_verify(h, good, "password1", 9, &match, &rehash, &e));
    assert_false(match);
    hasher_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(unknown_account_never_matches),
        cmocka_unit_test(changed_parameters_ask_for_a_rehash),
        cmocka_unit_test(garbage_hash_is_a_mismatch),
        cmocka_unit_test(bcrypt_hashes_of_another_implementation_verify),
        cmocka_unit_test(lengths),
        cmocka_unit_test(saturated_hasher_gives_unavailable),
        cmocka_unit_test(phc_strings_match_the_reference_library),
        cmocka_unit_test(waiting_for_a_hash_is_bounded),
        cmocka_unit_test(damaged_phc_strings_never_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
