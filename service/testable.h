/* testable.h — TESTABLE marks a file-local definition a unit test needs.
 *
 * In orgd it is `static`, so the module's internals stay its own. Built
 * with -DORGD_UNITTEST (only the unit test's copy of the object is), it
 * has external linkage, so the test links to it instead of #including the
 * .c file. The module's <name>_internal.h declares what it exposes, for
 * ORGD_UNITTEST builds only. */
#ifndef ORGD_TESTABLE_H
#define ORGD_TESTABLE_H

#ifdef ORGD_UNITTEST
#define TESTABLE
#else
#define TESTABLE static
#endif

#endif
