/* Slow clients cannot starve orgd or make it spin: senders that trickle a
 * body from one address while another client is served, a body that
 * trickles in for seconds at no CPU cost, and headers that never finish.
 * Each case runs its own orgd with a short REQUEST_TIMEOUT_MS, and measures
 * time or CPU. The other hostile clients are test_hostile.c. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testutil.h"

/* ---- slow senders ---- */

struct slow {
    int fd;
    int64_t started, closed_at; /* mono ms; closed_at 0 = still open */
    char resp[512];
    size_t resp_len;
};

struct slow_run {
    struct slow *conns;
    int n;
    int64_t until;
};

/* Sends each open connection one body byte a second and notes when orgd
 * closes it (EOF or reset), keeping what it answered. */
static void *drive_slow_senders(void *arg)
{
    struct slow_run *run = arg;
    int64_t next_byte = tu_now_ms() + 1000;
    for (;;) {
        int64_t now = tu_now_ms();
        int open = 0;
        for (int i = 0; i < run->n; i++) {
            struct slow *c = &run->conns[i];
            if (c->closed_at != 0)
                continue;
            open++;
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            if (poll(&p, 1, 0) > 0) {
                ssize_t k = recv(c->fd, c->resp + c->resp_len, sizeof c->resp - 1 - c->resp_len,
                                 MSG_DONTWAIT);
                if (k > 0) {
                    c->resp_len += (size_t)k;
                    c->resp[c->resp_len] = '\0';
                } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                    c->closed_at = now;
                }
            }
            if (c->closed_at == 0 && now >= next_byte &&
                send(c->fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
                c->closed_at = now;
        }
        if (now >= next_byte)
            next_byte += 1000;
        if (open == 0 || now > run->until)
            return NULL;
        tu_sleep_ms(20);
    }
}

static void slow_senders_cannot_starve_others(void **state)
{
    (void)state;
    enum { THREADS = 8, TIMEOUT_MS = 3000, SLOW = 2 * THREADS };
    const char *env[] = {"THREADS=8", "REQUEST_TIMEOUT_MS=3000", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);

    struct slow conns[SLOW];
    memset(conns, 0, sizeof conns);
    for (int i = 0; i < SLOW; i++) {
        conns[i].fd = th_connect_from("127.0.0.2", o->port);
        conns[i].started = tu_now_ms();
        th_send_all(conns[i].fd, "POST /admin/login HTTP/1.1\r\nHost: orgd\r\n"
                                 "Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{");
    }
    struct slow_run run = {conns, SLOW, tu_now_ms() + TIMEOUT_MS + 5000};
    pthread_t driver;
    assert_int_equal(pthread_create(&driver, NULL, drive_slow_senders, &run), 0);

    /* another client, on 127.0.0.1, is served promptly throughout */
    int probes = 0;
    double slowest = th_slowest_healthz_until(o, conns[0].started + TIMEOUT_MS + 1500, &probes);
    pthread_join(driver, NULL);
    printf("# %d /healthz probes during the slow senders, slowest %.3f s\n", probes, slowest);
    assert_true(slowest < 1.0);

    int timed_out = 0, refused = 0;
    for (int i = 0; i < SLOW; i++) {
        struct slow *c = &conns[i];
        if (c->closed_at == 0)
            fail_msg("slow connection %d still open after %d ms", i, TIMEOUT_MS + 5000);
        int64_t held = c->closed_at - c->started;
        if (held > TIMEOUT_MS + 1000)
            fail_msg("slow connection %d closed after %lld ms", i, (long long)held);
        timed_out += strncmp(c->resp, "HTTP/1.1 408 ", 13) == 0;
        refused += strncmp(c->resp, "HTTP/1.1 503 ", 13) == 0 && strstr(c->resp, "Retry-After:");
        close(c->fd);
    }
    printf("# %d slow senders: %d cut off at the deadline (408), %d taken back (503)\n", SLOW,
           timed_out, refused);
    assert_true(timed_out >= 1 && timed_out <= THREADS / 2);
    assert_int_equal(timed_out + refused, SLOW);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* CPU seconds (user + system) the process has used so far. */
static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long utime = 0, stime = 0;
    if (f != NULL) {
        /* fields 14 and 15; the name (field 2) has no spaces for orgd */
        if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                   &stime) != 2)
            utime = stime = 0;
        fclose(f);
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Waiting on a slow sender costs nothing: the watchdog sleeps until a
 * deadline instead of spinning (it once woke without pause while any body
 * had been arriving for 200 ms). */
static void a_slow_body_costs_no_cpu(void **state)
{
    (void)state;
    const char *env[] = {"REQUEST_TIMEOUT_MS=3000", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    int fd = th_connect_from("127.0.0.2", o->port);
    double before = cpu_seconds(o->pid);
    th_send_all(fd, "POST /admin/login HTTP/1.1\r\nHost: orgd\r\nContent-Type: application/json\r\n"
                    "Content-Length: 64\r\n\r\n{");
    for (int i = 0; i < 8; i++) { /* 2.4 s of a byte now and then */
        tu_sleep_ms(300);
        send(fd, "x", 1, MSG_NOSIGNAL);
    }
    double used = cpu_seconds(o->pid) - before;
    close(fd);
    printf("# orgd used %.2f s of CPU while one body trickled in for 2.4 s\n", used);
    assert_true(used < 0.5);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* Headers that never finish are a 408 problem at the deadline. */
static void slow_headers_get_a_timeout(void **state)
{
    (void)state;
    const char *env[] = {"REQUEST_TIMEOUT_MS=2000", NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    int fd = th_connect_from("127.0.0.2", o->port);
    int64_t started = tu_now_ms();
    th_send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    char out[1024] = "";
    size_t got = 0;
    th_recv_until(fd, out, sizeof out, &got, NULL, 6000);
    int64_t took = tu_now_ms() - started;
    close(fd);
    printf("# unfinished headers answered after %lld ms: %.40s\n", (long long)took, out);
    assert_true(took < 2000 + 1000);
    if (strncmp(out, "HTTP/1.1 408 ", 13) != 0 || strstr(out, "request-timeout") == NULL)
        fail_msg("expected a 408 problem, got: %.200s", out);
    assert_int_equal(th_orgd_stop(o), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(slow_senders_cannot_starve_others, th_own_orgd_stop),
        cmocka_unit_test_teardown(a_slow_body_costs_no_cpu, th_own_orgd_stop),
        cmocka_unit_test_teardown(slow_headers_get_a_timeout, th_own_orgd_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
