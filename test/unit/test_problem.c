#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "problem.h"

static void kinds_map_to_the_contract_statuses(void **state)
{
    (void)state;
    assert_int_equal(problem_status(ERR_MALFORMED), 400);
    assert_int_equal(problem_status(ERR_UNAUTHORIZED), 401);
    assert_int_equal(problem_status(ERR_FORBIDDEN), 403);
    assert_int_equal(problem_status(ERR_NOT_FOUND), 404);
    assert_int_equal(problem_status(ERR_METHOD), 405);
    assert_int_equal(problem_status(ERR_CONFLICT), 409);
    assert_int_equal(problem_status(ERR_BUSY), 409);
    assert_int_equal(problem_status(ERR_TOO_LARGE), 413);
    assert_int_equal(problem_status(ERR_MEDIA_TYPE), 415);
    assert_int_equal(problem_status(ERR_INVALID), 422);
    assert_int_equal(problem_status(ERR_RATE_LIMITED), 429);
    assert_int_equal(problem_status(ERR_UNAVAILABLE), 503);
    assert_int_equal(problem_status(ERR_INTERNAL), 500);
    assert_int_equal(problem_status((enum err_kind)999), 500);
}

static void body_has_type_title_status_detail(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    error_set(&e, ERR_NOT_FOUND, "organization not found");
    json_t *b = problem_body(&e);
    assert_string_equal(json_string_value(json_object_get(b, "type")),
                        "urn:orgd:problem:not-found");
    assert_string_equal(json_string_value(json_object_get(b, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(b, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(b, "detail")), "organization not found");
    assert_null(json_object_get(b, "errors"));
    json_decref(b);
}

static void detail_is_never_missing(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    e.kind = ERR_FORBIDDEN;
    json_t *b = problem_body(&e);
    assert_string_equal(json_string_value(json_object_get(b, "detail")), "Forbidden");
    json_decref(b);
}

static void field_errors_are_listed(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    error_field(&e, "email", "is required");
    error_field(&e, "password", "must be %d to %d characters long", 8, 128);
    error_set(&e, ERR_INVALID, "request validation failed");
    json_t *b = problem_body(&e);
    json_t *errors = json_object_get(b, "errors");
    assert_int_equal(json_array_size(errors), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "field")),
                        "password");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "message")),
                        "must be 8 to 128 characters long");
    assert_int_equal(json_integer_value(json_object_get(b, "status")), 422);
    json_decref(b);
}

static void too_many_fields_are_capped(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    for (int i = 0; i < 20; i++)
        error_field(&e, "f", "x");
    error_set(&e, ERR_INVALID, "v");
    json_t *b = problem_body(&e);
    assert_int_equal(json_array_size(json_object_get(b, "errors")), ERROR_MAX_FIELDS);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds_map_to_the_contract_statuses),
        cmocka_unit_test(body_has_type_title_status_detail),
        cmocka_unit_test(detail_is_never_missing),
        cmocka_unit_test(field_errors_are_listed),
        cmocka_unit_test(too_many_fields_are_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
