/* The stack the parser tests and fuzz targets run on (WORKER_STACK_BYTES)
 * is no larger than the one civetweb really gives its worker threads, so
 * what fits there fits in production. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <civetweb.h>
#include <cmocka.h>

#include "testutil.h"
#include "worker_stack.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t smallest, workers;

static void *on_thread(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    pthread_attr_t attr;
    size_t size = 0;
    if (thread_type == 1 && pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
        pthread_mutex_lock(&lock);
        if (workers++ == 0 || size < smallest)
            smallest = size;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void workers_get_at_least_the_stack_the_tests_use(void **state)
{
    (void)state;
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.init_thread = on_thread;
    const char *options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", NULL};
    mg_init_library(0);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    assert_non_null(ctx);
    for (int i = 0; i < 200; i++) { /* the workers start on their own threads */
        pthread_mutex_lock(&lock);
        size_t n = workers;
        pthread_mutex_unlock(&lock);
        if (n >= 4)
            break;
        tu_sleep_ms(10);
    }
    mg_stop(ctx);
    mg_exit_library();
    printf("# civetweb workers: %zu, smallest stack %zu bytes; tests use %d\n", workers, smallest,
           WORKER_STACK_BYTES);
    assert_int_equal(workers, 4);
    assert_true(smallest >= WORKER_STACK_BYTES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workers_get_at_least_the_stack_the_tests_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
