#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "requests.h"

static const char *field0(const struct error *e)
{
    return e->nfields > 0 ? e->fields[0].field : "";
}

static enum err_kind create_kind(const char *body, size_t len, struct error *e)
{
    struct create_request r;
    error_clear(e);
    return request_create_parse(body, len, &r, e) ? ERR_OK : e->kind;
}

#define CREATE(body) create_kind(body, sizeof(body) - 1, &e)

static void create_accepts_the_three_fields(void **state)
{
    (void)state;
    struct create_request r;
    struct error e;
    error_clear(&e);
    const char *b =
        "{\"organization_name\":\"Acme\",\"email\":\"a@b.co\",\"password\":\"12345678\"}";
    assert_true(request_create_parse(b, strlen(b), &r, &e));
    assert_string_equal(r.organization_name, "Acme");
    assert_string_equal(r.email, "a@b.co");
    assert_int_equal(r.password.len, 8);
    assert_string_equal(r.password.text, "12345678");
}

static void create_refuses_hostile_bodies(void **state)
{
    (void)state;
    struct error e;
    assert_int_equal(CREATE(""), ERR_INVALID);
    assert_int_equal(CREATE("{"), ERR_MALFORMED);
    assert_int_equal(CREATE("[]"), ERR_MALFORMED);
    assert_int_equal(CREATE("\"x\""), ERR_MALFORMED);
    assert_int_equal(CREATE("null"), ERR_MALFORMED);
    assert_int_equal(CREATE("{} {}"), ERR_MALFORMED);
    assert_int_equal(CREATE("{\"email\":{\"$ne\":null},\"organization_name\":\"abc\","
                            "\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_string_equal(field0(&e), "email");
    assert_int_equal(CREATE("{\"organization_name\":\"abc\",\"organization_name\":\"abd\","
                            "\"email\":\"a@b.co\",\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_int_equal(CREATE("{\"organization_name\":123,\"email\":\"a@b.co\","
                            "\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_string_equal(field0(&e), "organization_name");
    assert_int_equal(CREATE("{\"organization_name\":[\"abc\"],\"email\":\"a@b.co\","
                            "\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_int_equal(CREATE("{\"organization_name\":\"ab\\u0000c\",\"email\":\"a@b.co\","
                            "\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_int_equal(CREATE("{\"organization_name\":\"ab\xff\",\"email\":\"a@b.co\","
                            "\"password\":\"12345678\"}"),
                     ERR_MALFORMED);
    assert_int_equal(CREATE("{\"organization_name\":\"a$b\",\"email\":\"a@b.co\","
                            "\"password\":\"12345678\"}"),
                     ERR_INVALID);
    assert_string_equal(field0(&e), "organization_name");
    assert_int_equal(CREATE("{\"organization_name\":\"acme\",\"email\":\"a@b.co\","
                            "\"password\":\"1234567\"}"),
                     ERR_INVALID);
    assert_string_equal(field0(&e), "password");
    assert_int_equal(CREATE("{\"organization_name\":\"acme\",\"email\":\"a@b.co\","
                            "\"password\":\"12345678\",\"$where\":\"1\"}"),
                     ERR_INVALID);
    assert_string_equal(field0(&e), "$where");
    assert_string_equal(e.fields[0].message, "operators are not allowed");
    assert_int_equal(CREATE("{\"organization_name\":\"acme\",\"email\":\"a@b.co\","
                            "\"password\":\"12345678\",\"role\":\"root\"}"),
                     ERR_INVALID);
    assert_string_equal(field0(&e), "role");
    assert_int_equal(CREATE("{\"email\":\"a@b.co\"}"), ERR_INVALID);
    assert_int_equal(e.nfields, 2); /* both missing fields named */
    /* deep nesting is refused as a wrong type, without recursion trouble */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof deep, "{\"email\":");
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_not_equal(create_kind(deep, n, &e), ERR_OK);
}

static void password_bounds_count_bytes(void **state)
{
    (void)state;
    struct error e;
    char body[1024];
    /* 128 bytes OK, 129 not; multi-byte characters count as their bytes */
    char pw[200];
    memset(pw, 'x', 128);
    pw[128] = '\0';
    int n =
        snprintf(body, sizeof body,
                 "{\"organization_name\":\"acme\",\"email\":\"a@b.co\",\"password\":\"%s\"}", pw);
    assert_int_equal(create_kind(body, (size_t)n, &e), ERR_OK);
    pw[128] = 'x';
    pw[129] = '\0';
    n = snprintf(body, sizeof body,
                 "{\"organization_name\":\"acme\",\"email\":\"a@b.co\",\"password\":\"%s\"}", pw);
    assert_int_equal(create_kind(body, (size_t)n, &e), ERR_INVALID);
    /* four e-acute (8 bytes) is long enough */
    const char *utf8 = "{\"organization_name\":\"acme\",\"email\":\"a@b.co\","
                       "\"password\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}";
    assert_int_equal(create_kind(utf8, strlen(utf8), &e), ERR_OK);
}

static void login_needs_only_presence(void **state)
{
    (void)state;
    struct login_request r;
    struct error e;
    error_clear(&e);
    const char *ok = "{\"email\":\"whatever\",\"password\":\"x\"}";
    assert_true(request_login_parse(ok, strlen(ok), false, &r, &e));
    error_clear(&e);
    const char *missing = "{\"email\":\"a@b.co\"}";
    assert_false(request_login_parse(missing, strlen(missing), false, &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    error_clear(&e);
    const char *op = "{\"email\":{\"$gt\":\"\"},\"password\":\"x\"}";
    assert_false(request_login_parse(op, strlen(op), false, &r, &e));
    assert_int_equal(e.kind, ERR_MALFORMED);
}

static void signup_refresh_password_bodies(void **state)
{
    (void)state;
    struct error e = ERROR_INIT;
    struct signup_request su;
    const char *ok = "{\"email\":\"a@b.co\",\"password\":\"12345678\",\"username\":\"Ann\"}";
    assert_true(request_signup_parse(ok, strlen(ok), &su, &e));
    assert_string_equal(su.username, "Ann");
    const char *ctl = "{\"email\":\"a@b.co\",\"password\":\"12345678\",\"username\":\"a\\u0007\"}";
    assert_false(request_signup_parse(ctl, strlen(ctl), &su, &e));
    assert_string_equal(field0(&e), "username");
    error_clear(&e);
    const char *c1 = "{\"email\":\"a@b.co\",\"password\":\"12345678\",\"username\":\"a\\u0085\"}";
    assert_false(request_signup_parse(c1, strlen(c1), &su, &e));
    error_clear(&e);
    const char *empty = "{\"email\":\"a@b.co\",\"password\":\"12345678\",\"username\":\"\"}";
    assert_false(request_signup_parse(empty, strlen(empty), &su, &e));
    error_clear(&e);
    const char *bad_mail = "{\"email\":\"nope\",\"password\":\"12345678\"}";
    assert_false(request_signup_parse(bad_mail, strlen(bad_mail), &su, &e));
    assert_string_equal(field0(&e), "email");
    error_clear(&e);

    struct refresh_request rr;
    const char *body = "{\"refresh_token\":\"abc\"}";
    assert_true(request_refresh_parse(body, strlen(body), NULL, &rr, &e));
    assert_string_equal(rr.refresh_token, "abc");
    assert_true(request_refresh_parse("", 0, "abc", &rr, &e));
    assert_int_equal(rr.len, 3);
    assert_true(request_refresh_parse(body, strlen(body), "abc", &rr, &e));
    assert_false(request_refresh_parse(body, strlen(body), "abd", &rr, &e));
    assert_string_equal(field0(&e), "refresh_token");
    error_clear(&e);
    assert_false(request_refresh_parse("", 0, NULL, &rr, &e));
    assert_string_equal(field0(&e), "refresh_token");
    error_clear(&e);

    struct password_request pr;
    const char *pw = "{\"current_password\":\"x\",\"new_password\":\"short\"}";
    assert_false(request_password_parse(pw, strlen(pw), &pr, &e));
    assert_string_equal(field0(&e), "new_password");
    error_clear(&e);
    const char *pw_ok = "{\"current_password\":\"x\",\"new_password\":\"long enough\"}";
    assert_true(request_password_parse(pw_ok, strlen(pw_ok), &pr, &e));
}

static bool update(const char *body, const char *path, struct update_request *r, struct error *e)
{
    error_clear(e);
    return request_update_parse(body, strlen(body), path, r, e);
}

static void update_body_forms(void **state)
{
    (void)state;
    struct update_request r;
    struct error e;
    assert_true(update("{\"new_organization_name\":\"Beta\"}", NULL, &r, &e));
    assert_string_equal(r.old_name, "");
    assert_string_equal(r.new_name, "Beta");
    assert_true(update("{\"new_organization_name\":\"Beta\"}", "acme", &r, &e));
    assert_string_equal(r.old_name, "acme");
    assert_true(update("{\"old_organization_name\":\"acme\",\"new_organization_name\":\"Beta\"}",
                       NULL, &r, &e));
    assert_string_equal(r.old_name, "acme");
    assert_string_equal(r.new_name, "Beta");
    assert_true(update("{\"organization_name\":\"acme\",\"new_organization_name\":\"Beta\"}", NULL,
                       &r, &e));
    assert_string_equal(r.old_name, "acme");
    assert_string_equal(r.new_name, "Beta");
    assert_true(update("{\"organization_name\":\"Beta\",\"email\":\"n@b.co\","
                       "\"password\":\"new password\",\"current_password\":\"old one\"}",
                       NULL, &r, &e));
    assert_true(r.has_current_password);
    assert_int_equal(r.current_password.len, 7);
    assert_string_equal(r.old_name, "");
    assert_string_equal(r.new_name, "Beta");
    assert_true(r.has_email && r.has_password);
    assert_true(update("{\"password\":\"new password\",\"current_password\":\"x\"}", NULL, &r, &e));
    assert_string_equal(r.new_name, "");
    assert_true(update("{\"organization_name\":\"Beta\"}", "acme", &r, &e));
    assert_string_equal(r.old_name, "acme");
    assert_string_equal(r.new_name, "Beta");
}

static void update_refusals(void **state)
{
    (void)state;
    struct update_request r;
    struct error e;
    /* a credential change needs the current password; it is no use without one */
    assert_false(update("{\"password\":\"new password\"}", NULL, &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_string_equal(field0(&e), "current_password");
    assert_false(update("{\"email\":\"n@b.co\",\"current_password\":\"\"}", NULL, &r, &e));
    assert_string_equal(field0(&e), "current_password");
    assert_false(
        update("{\"new_organization_name\":\"beta\",\"current_password\":\"x\"}", NULL, &r, &e));
    assert_string_equal(field0(&e), "current_password");
    assert_false(update("{}", NULL, &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_false(update("", NULL, &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_false(update("{\"old_organization_name\":\"acme\"}", NULL, &r, &e));
    assert_string_equal(field0(&e), "new_organization_name");
    assert_false(update("{\"old_organization_name\":\"acme\",\"organization_name\":\"acme\","
                        "\"new_organization_name\":\"beta\"}",
                        NULL, &r, &e));
    assert_false(update("{\"old_organization_name\":\"other\",\"new_organization_name\":\"beta\"}",
                        "acme", &r, &e));
    assert_string_equal(field0(&e), "old_organization_name");
    assert_false(update("{\"new_organization_name\":\"system.x\"}", NULL, &r, &e));
    assert_string_equal(field0(&e), "new_organization_name");
    assert_false(update("{\"new_organization_name\":\"beta\"}", "a/b", &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    assert_false(update("{\"email\":\"not an email\"}", NULL, &r, &e));
    assert_string_equal(field0(&e), "email");
}

static void delete_sources_must_agree(void **state)
{
    (void)state;
    struct delete_request r;
    struct error e;
    error_clear(&e);
    assert_true(request_delete_parse("", 0, "Acme", NULL, &r, &e));
    assert_string_equal(r.name, "Acme");
    assert_true(request_delete_parse("", 0, NULL, "acme", &r, &e));
    const char *b = "{\"organization_name\":\"ACME\"}";
    assert_true(request_delete_parse(b, strlen(b), "acme", "Acme", &r, &e));
    assert_false(request_delete_parse(b, strlen(b), NULL, "other", &r, &e));
    error_clear(&e);
    assert_false(request_delete_parse("", 0, NULL, NULL, &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    error_clear(&e);
    assert_false(request_delete_parse("", 0, NULL, "../x", &r, &e));
    assert_int_equal(e.kind, ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_accepts_the_three_fields),
        cmocka_unit_test(create_refuses_hostile_bodies),
        cmocka_unit_test(password_bounds_count_bytes),
        cmocka_unit_test(login_needs_only_presence),
        cmocka_unit_test(signup_refresh_password_bodies),
        cmocka_unit_test(update_body_forms),
        cmocka_unit_test(update_refusals),
        cmocka_unit_test(delete_sources_must_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
