/* The permission table (lib/roles.c), pinned: the roles table in docs/API.md
 * says the same, and a change to either must be a change to both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "roles.h"

static void the_table(void **state)
{
    (void)state;
    /* one row per action: owner, admin, member */
    const struct {
        enum action a;
        bool owner, admin, member;
    } rows[] = {
        {ACT_READ, true, true, true},
        {ACT_RENAME, true, false, false},
        {ACT_DESCRIBE, true, true, false},
        {ACT_DELETE, true, false, false},
        {ACT_INVITE, true, true, false},
        {ACT_GRANT_OWNER, true, false, false},
        {ACT_SET_ROLE, true, false, false},
        {ACT_REMOVE_MEMBER, true, true, false},
        {ACT_REMOVE_PRIVILEGED, true, false, false},
        {ACT_CHANGE_CREDENTIALS, true, false, false},
        {ACT_READ_EVENTS, true, true, false},
        {ACT_MANAGE_WEBHOOKS, true, true, false},
    };
    assert_int_equal(sizeof rows / sizeof rows[0], ACT_COUNT);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(roles_may(ROLE_OWNER, rows[i].a), rows[i].owner);
        assert_int_equal(roles_may(ROLE_ADMIN, rows[i].a), rows[i].admin);
        assert_int_equal(roles_may(ROLE_MEMBER, rows[i].a), rows[i].member);
        assert_string_not_equal(action_name(rows[i].a), "unknown");
    }
    /* out of range: nobody may */
    assert_false(roles_may(ROLE_COUNT, ACT_READ));
    assert_false(roles_may(ROLE_OWNER, ACT_COUNT));
    assert_string_equal(action_name(ACT_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
