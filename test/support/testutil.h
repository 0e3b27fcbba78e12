/* testutil.h — small helpers every kind of test needs, written once:
 * sleeping, a monotonic clock, a free loopback port, and the password the
 * API tests give the orgs they create. Independent of the code under test
 * (nothing here calls lib/ or service/). */
#ifndef ORGD_TEST_UTIL_H
#define ORGD_TEST_UTIL_H

#include <stdint.h>

/* The password of every org the tests create. A string literal, so that
 * tests can splice it into JSON texts; at least 8 characters, so that the
 * harness's log-leak check looks for it (shorter ones are hostile input). */
#define TU_PASSWORD "correct horse battery"

/* Sleeps at least ms milliseconds (resumes after signals). */
void tu_sleep_ms(int ms);

/* Milliseconds on the monotonic clock, for durations and deadlines. */
int64_t tu_now_ms(void);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * released; another process may still take it, so starters retry). Aborts,
 * saying why, if no socket can be had. */
int tu_free_port(void);

#endif
