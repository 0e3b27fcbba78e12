#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "routes.h"

static void literal_beats_parameter(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(routes_match("GET", "/org/get", &m), MATCH_OK);
    assert_int_equal(m.route->id, R_ORG_GET_QUERY);
    assert_int_equal(routes_match("GET", "/org/acme", &m), MATCH_OK);
    assert_int_equal(m.route->id, R_ORG_GET);
    assert_string_equal(m.param[0], "acme");
    assert_int_equal(routes_match("GET", "/org/create", &m), MATCH_METHOD);
    assert_string_equal(m.allow, "POST, OPTIONS");
    assert_int_equal(routes_match("DELETE", "/org/delete/a%2Fb", &m), MATCH_OK);
    assert_string_equal(m.param[0], "a%2Fb");
}

static void not_found(void **state)
{
    (void)state;
    struct route_match m;
    const char *paths[] = {"",         "/",         "/org",     "/org/",           "/org//",
                           "/org/a/b", "/healthz/", "/Healthz", "/org/update/a/b", "healthz"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (routes_match("GET", paths[i], &m) != MATCH_NOT_FOUND)
            fail_msg("'%s' matched", paths[i]);
}

static void head_is_get_and_options_lists(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(routes_match("HEAD", "/healthz", &m), MATCH_OK);
    assert_int_equal(routes_match("OPTIONS", "/org/acme", &m), MATCH_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, OPTIONS");
}

static void every_route_matches_itself(void **state)
{
    (void)state;
    for (size_t i = 0; i < routes_count; i++) {
        char path[128];
        const char *p = routes[i].pattern;
        size_t n = 0;
        while (*p) {
            if (*p == '{') {
                memcpy(path + n, "xyz", 3);
                n += 3;
                p = strchr(p, '}') + 1;
            } else {
                path[n++] = *p++;
            }
        }
        path[n] = '\0';
        struct route_match m;
        assert_int_equal(routes_match(routes[i].method, path, &m), MATCH_OK);
        assert_ptr_equal(m.route, &routes[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_beats_parameter),
        cmocka_unit_test(not_found),
        cmocka_unit_test(head_is_get_and_options_lists),
        cmocka_unit_test(every_route_matches_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
