/* worker_stack.h — run a fuzz input where production runs it: on a thread
 * whose stack is as small as a civetweb worker's.
 *
 * Debian's civetweb 1.15 is built with USE_STACK_SIZE=102400: handlers run
 * on 100 KiB stacks, not on main's 8 MiB. A parser that recurses per
 * nesting level overflows there long before it would on main, so fuzzing
 * on main hides exactly the crashes that matter. test_worker_stack (a unit
 * test) checks that civetweb's workers really get no more than this.
 */
#ifndef ORGD_FUZZ_WORKER_STACK_H
#define ORGD_FUZZ_WORKER_STACK_H

#include <pthread.h>
#include <stdlib.h>

#define WORKER_STACK_BYTES 102400

/* Runs fn(arg) on a fresh thread with a WORKER_STACK_BYTES stack and waits
 * for it. Aborts if the thread cannot be made (the fuzzer must not
 * silently fall back to main's stack). */
static inline void run_on_worker_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES) != 0 ||
        pthread_create(&t, &attr, fn, arg) != 0)
        abort();
    pthread_attr_destroy(&attr);
    pthread_join(t, NULL);
}

#endif
