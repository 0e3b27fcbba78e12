#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static void decode(void **state)
{
    (void)state;
    char out[16];
    struct error e;
    error_clear(&e);
    assert_true(http_decode("a%2Fb", 5, false, out, sizeof out, "x", &e));
    assert_string_equal(out, "a/b");
    assert_true(http_decode("a+b%20c", 7, true, out, sizeof out, "x", &e));
    assert_string_equal(out, "a b c");
    assert_true(http_decode("a+b", 3, false, out, sizeof out, "x", &e));
    assert_string_equal(out, "a+b");
    assert_false(http_decode("a%2", 3, false, out, sizeof out, "x", &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
    error_clear(&e);
    assert_false(http_decode("a%zz", 4, false, out, sizeof out, "x", &e));
    error_clear(&e);
    assert_false(http_decode("a%00b", 5, false, out, sizeof out, "x", &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
    error_clear(&e);
    assert_false(http_decode("0123456789abcdefXYZ", 19, false, out, sizeof out, "x", &e));
    assert_int_equal(e.kind, ERR_INVALID);
}

static void query(void **state)
{
    (void)state;
    char out[64];
    bool present;
    struct error e;
    error_clear(&e);
    assert_true(http_query_param("a=1&organization_name=Ac%2Dme&b", "organization_name", out,
                                 sizeof out, &present, &e));
    assert_true(present);
    assert_string_equal(out, "Ac-me");
    assert_true(http_query_param("organization_names=x", "organization_name", out, sizeof out,
                                 &present, &e));
    assert_false(present);
    assert_true(http_query_param(NULL, "organization_name", out, sizeof out, &present, &e));
    assert_false(present);
    assert_true(
        http_query_param("organization_name", "organization_name", out, sizeof out, &present, &e));
    assert_true(present);
    assert_string_equal(out, "");
    assert_false(http_query_param("organization_name=a&organization_name=b", "organization_name",
                                  out, sizeof out, &present, &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode),
        cmocka_unit_test(query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
