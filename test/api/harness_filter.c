/* harness_filter.c — lets CTest run one API test program in parts.
 *
 * A program's cases run one after the other; the long ones (crash and
 * recovery, slow clients) are registered as several CTest tests, each
 * running some of the cases, so that `ctest -j` runs them side by side.
 * ORGD_TEST_ONLY and ORGD_TEST_SKIP hold a cmocka name pattern (* and ?);
 * this file, built into every API test program, hands them to cmocka
 * before main runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

__attribute__((constructor)) static void th_filter_from_environment(void)
{
    const char *only = getenv("ORGD_TEST_ONLY");
    const char *skip = getenv("ORGD_TEST_SKIP");
    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
    if (skip != NULL && skip[0] != '\0')
        cmocka_set_skip_filter(skip);
}
