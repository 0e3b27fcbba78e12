/* jsonin: nesting is counted without recursion, and only text at most
 * JSONIN_MAX_DEPTH deep reaches jansson, on a worker-sized stack too. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonin.h"
#include "jwt.h"
#include "requests.h"
#include "worker_stack.h"

/* `open` repeated n times, then `close` n times, wrapped as {"k": ...}. */
static char *nested(const char *open, const char *close, int n)
{
    size_t ol = strlen(open), cl = strlen(close);
    size_t len = 6 + (ol + cl) * (size_t)n + 2;
    char *s = malloc(len);
    size_t o = 0;
    memcpy(s + o, "{\"k\":", 5), o += 5;
    for (int i = 0; i < n; i++)
        memcpy(s + o, open, ol), o += ol;
    s[o++] = '1';
    for (int i = 0; i < n; i++)
        memcpy(s + o, close, cl), o += cl;
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void depth_counts_levels(void **state)
{
    (void)state;
    assert_int_equal(jsonin_depth("1", 1, 32), 0);
    assert_int_equal(jsonin_depth("{}", 2, 32), 1);
    assert_int_equal(jsonin_depth("{\"a\":[1,{\"b\":[]}]}", 17, 32), 4);
    /* brackets inside strings, escaped quotes included, are text */
    const char *s = "{\"a\":\"[[[{{{\\\"[[[\",\"b\":[1]}";
    assert_int_equal(jsonin_depth(s, strlen(s), 32), 2);
    /* stops as soon as it passes max */
    assert_int_equal(jsonin_depth("[[[[[[", 6, 3), 4);
    /* stray closers never go below zero */
    assert_int_equal(jsonin_depth("]]]][", 5, 32), 1);
}

static void depth_limit_is_exactly_32(void **state)
{
    (void)state;
    struct error e;
    for (int n = 30; n <= 33; n++) {
        char *s = nested("[", "]", n - 1); /* the outer object is level 1 */
        error_clear(&e);
        json_t *v = jsonin_load(s, strlen(s), "request body", &e);
        if (n <= JSONIN_MAX_DEPTH) {
            assert_non_null(v);
        } else {
            assert_null(v);
            assert_int_equal(e.kind, ERR_MALFORMED);
            assert_non_null(strstr(e.message, "nested deeper than 32"));
        }
        json_decref(v);
        free(s);
    }
}

static void errors_are_named(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    assert_null(jsonin_load("{\"a\":1,\"a\":2}", 13, "request body", &e));
    assert_string_equal(e.message, "request body has a duplicate key");
    error_clear(&e);
    assert_null(jsonin_load("{\"a\":\"\xff\"}", 9, "request body", &e));
    assert_string_equal(e.message, "request body is not valid UTF-8");
    error_clear(&e);
    assert_null(jsonin_load("{\"a\":\"\\u0000\"}", 14, "token header", &e));
    assert_string_equal(e.message, "token header contains a NUL character");
    error_clear(&e);
    assert_null(jsonin_load("{", 1, "x", &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
}

/* Every parser a request reaches, on a worker's stack, with nesting far
 * past what jansson's recursion survives there. */
static void *parse_deep_inputs(void *arg)
{
    (void)arg;
    const int depths[] = {33, 1000, 10000, 100000};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        char *arrays = nested("[", "]", depths[i]);
        char *objects = nested("{\"a\":", "}", depths[i]);
        struct create_request c;
        struct error e;
        error_clear(&e);
        assert_false(request_create_parse(arrays, strlen(arrays), &c, &e));
        assert_int_equal(e.kind, ERR_MALFORMED);
        error_clear(&e);
        assert_false(request_create_parse(objects, strlen(objects), &c, &e));
        assert_int_equal(e.kind, ERR_MALFORMED);
        free(arrays);
        free(objects);
    }
    return NULL;
}

static void deep_bodies_on_a_worker_stack(void **state)
{
    (void)state;
    run_on_worker_stack(parse_deep_inputs, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(depth_counts_levels),
        cmocka_unit_test(depth_limit_is_exactly_32),
        cmocka_unit_test(errors_are_named),
        cmocka_unit_test(deep_bodies_on_a_worker_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
