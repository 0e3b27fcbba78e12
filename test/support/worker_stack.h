/* worker_stack.h — run a parser where production runs it: on a thread
 * whose stack is as small as a civetweb worker's (fuzz targets and unit
 * tests).
 *
 * Debian's civetweb 1.15 is built with USE_STACK_SIZE=102400: handlers run
 * on 100 KiB stacks, not on main's 8 MiB. A parser that recurses per
 * nesting level overflows there long before it would on main, so testing
 * on main hides exactly the crashes that matter. The unit test
 * test_worker_stack checks that civetweb's workers get no less than this.
 */
#ifndef ORGD_TEST_WORKER_STACK_H
#define ORGD_TEST_WORKER_STACK_H

#include <pthread.h>
#include <stdlib.h>

#define WORKER_STACK_BYTES 102400

/* Runs fn(arg) on a fresh thread with a WORKER_STACK_BYTES stack and waits
 * for it. Aborts if the thread cannot be made (a test must not silently
 * fall back to main's stack). */
static inline void run_on_worker_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES) != 0 ||
        pthread_create(&t, &attr, fn, arg) != 0)
        abort();
    pthread_attr_destroy(&attr);
    pthread_join(t, NULL);
}

#endif
