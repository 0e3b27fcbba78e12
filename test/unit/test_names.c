#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static bool valid(const char *s)
{
    struct error e;
    error_clear(&e);
    return names_org_valid(s, strlen(s), "organization_name", &e);
}

static void org_names(void **state)
{
    (void)state;
    const char *good[] = {"abc",
                          "Acme",
                          "acme-corp",
                          "a_b",
                          "9lives",
                          "A1-_z",
                          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"};
    const char *bad[] = {"",
                         "ab",
                         "a$b",
                         "a.b",
                         "system.x",
                         "../x",
                         "_abc",
                         "-abc",
                         "a b",
                         "a/b",
                         "ab\xc3\xa9",
                         "create",
                         "GET",
                         "List",
                         "update",
                         "DELETE",
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
    assert_int_equal(strlen(good[6]), 63);
    assert_int_equal(strlen(bad[16]), 64);
}

static void embedded_nul_is_invalid(void **state)
{
    (void)state;
    struct error e;
    error_clear(&e);
    assert_false(names_org_valid("abc\0def", 7, "organization_name", &e));
    assert_int_equal(e.nfields, 1);
    assert_string_equal(e.fields[0].field, "organization_name");
}

static void keys_and_collections(void **state)
{
    (void)state;
    char key[NAME_BUF], coll[COLLECTION_BUF];
    names_org_key("Acme-Corp_9", key);
    assert_string_equal(key, "acme-corp_9");
    names_collection(key, coll);
    assert_string_equal(coll, "org_acme-corp_9");
}

static bool email_ok(const char *s)
{
    struct error e;
    error_clear(&e);
    return names_email_valid(s, strlen(s), "email", &e);
}

static void emails(void **state)
{
    (void)state;
    const char *good[] = {"a@b.co", "first.last+tag@example.com", "x@sub.domain.org",
                          "\xc3\xa9@exemple.fr"};
    const char *bad[] = {"",           "a",       "a@b",     "@b.co",    "a@.co",
                         "a@b.",       "a@@b.co", "a@b..co", "a b@c.de", "a@b.co\n",
                         "\"a\"@b.co", "a@b.co;", "<a@b.co>"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!email_ok(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (email_ok(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
    char key[EMAIL_BUF];
    names_email_key("Ann.Lee@Example.COM", key);
    assert_string_equal(key, "ann.lee@example.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(org_names),
        cmocka_unit_test(embedded_nul_is_invalid),
        cmocka_unit_test(keys_and_collections),
        cmocka_unit_test(emails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
