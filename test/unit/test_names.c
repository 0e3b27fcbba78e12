#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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
                          "ann@xn--bcher-kva.de"};
    const char *bad[] = {"", "a", "a@b", "@b.co", "a@.co", "a@b.", "a@@b.co", "a@b..co", "a b@c.de",
                         "a@b.co\n", "\"a\"@b.co", "a@b.co;", "<a@b.co>",
                         /* letters that look like others: refused, never a second account */
                         "\xc3\xa9@exemple.fr", /* e-acute */
                         "\xd0\xb0"
                         "da@example.com",           /* Cyrillic a */
                         "\xe2\x84\xaa@example.com", /* the Kelvin sign, K */
                         "stra\xc3\x9f"
                         "e@example.com",           /* sharp s */
                         "\xc4\xb0nci@example.com", /* dotted capital I */
                         "ann@b\xc3\xbc"
                         "cher.de"}; /* a domain not in its xn-- form */
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

/* Display text: NFC, so that two spellings of one text are one; no
 * bidirectional or zero-width formatting characters. */
static bool display(const char *in, char *out, size_t cap)
{
    struct error e;
    error_clear(&e);
    size_t len = strlen(in);
    snprintf(out, cap, "%s", in);
    return names_display_text(out, &len, cap, "username", &e) && len == strlen(out);
}

static void display_text_is_nfc_without_invisible_controls(void **state)
{
    (void)state;
    char out[64];
    /* e + combining acute is the precomposed e-acute */
    assert_true(display("Jose\xcc\x81", out, sizeof out));
    assert_string_equal(out, "Jos\xc3\xa9");
    assert_true(display("Grace Labs \xe2\x9c\xa8", out, sizeof out));
    assert_string_equal(out, "Grace Labs \xe2\x9c\xa8");
    const char *refused[] = {
        "admin\xe2\x80\xae"
        "gpj.exe", /* U+202E right-to-left override */
        "ad\xe2\x80\x8b"
        "min", /* U+200B zero-width space */
        "\xe2\x80\x8f"
        "ada",                          /* U+200F right-to-left mark */
        "ada\xe2\x81\xa6x\xe2\x81\xa9", /* U+2066 ... U+2069 isolate */
        "\xef\xbb\xbf"
        "ada", /* U+FEFF */
        "a\xe2\x80\x8d"
        "b", /* U+200D zero-width joiner */
        "\xd8\x9c"
        "x", /* U+061C Arabic letter mark */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (display(refused[i], out, sizeof out))
            fail_msg("refused[%zu] was taken", i);
    /* an NFC form that does not fit its buffer is refused, not cut */
    char small[4];
    assert_false(display("abc", small, 3));
}

/* An org's display name gives its slug (the name of its collection). */
static void slugs_come_from_display_names(void **state)
{
    (void)state;
    const struct {
        const char *display;
        int suffix;
        const char *slug;
    } cases[] = {
        {"Grace Labs", 1, "grace-labs"},
        {"Initech", 1, "Initech"}, /* an org name already: its own slug, as before */
        {"Caf\xc3\xa9 M\xc3\xbcller & Sons", 1, "cafe-muller-sons"}, /* accents dropped */
        {"Jose\xcc\x81", 1, "jose"},                                 /* NFD already */
        {"\xe6\x9d\xb1\xe4\xba\xac", 1, "org"},                      /* no ASCII letter at all */
        {"A", 1, "org-a"},                                           /* too short */
        {"--Grace   Labs!!", 1, "grace-labs"},
        {"create", 1, "create-org"}, /* a reserved word */
        {"Grace Labs", 2, "grace-labs-2"},
        {"Grace Labs", 12, "grace-labs-12"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char slug[NAME_BUF];
        names_slug_derive(cases[i].display, cases[i].suffix, slug);
        if (strcmp(slug, cases[i].slug) != 0)
            fail_msg("case %zu: \"%s\" gave \"%s\", expected \"%s\"", i, cases[i].display, slug,
                     cases[i].slug);
        struct error e;
        error_clear(&e);
        assert_true(names_org_valid(slug, strlen(slug), "slug", &e));
    }
    /* a long name is cut to an org name's length, suffix and all */
    char long_name[101], slug[NAME_BUF];
    memset(long_name, 'x', 100);
    long_name[100] = '\0';
    long_name[50] = ' ';
    names_slug_derive(long_name, 7, slug);
    assert_true(strlen(slug) <= NAME_MAX_LEN);
    assert_int_equal(strcmp(slug + strlen(slug) - 2, "-7"), 0);
    /* a new display name keeps the slug when it would give it, suffix or not */
    assert_true(names_slug_of("grace-labs", "Grace Labs"));
    assert_true(names_slug_of("grace-labs-3", "grace  labs"));
    assert_true(names_slug_of("Initech", "initech"));
    assert_false(names_slug_of("grace-labs", "Grace Lab"));
    assert_false(names_slug_of("grace-labs-x", "Grace Labs"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(org_names),
        cmocka_unit_test(embedded_nul_is_invalid),
        cmocka_unit_test(keys_and_collections),
        cmocka_unit_test(emails),
        cmocka_unit_test(display_text_is_nfc_without_invisible_controls),
        cmocka_unit_test(slugs_come_from_display_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
