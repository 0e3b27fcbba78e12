/* hashbench.c — the argon2 bound of scripts/bench's login scenario: how
 * long one login's password check takes with orgd's own code (lib/password.h,
 * password_verify against a hash made by password_hash) and orgd's
 * parameters (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM from
 * the environment, else their defaults).
 *
 *   bench_hash [SAMPLES]
 *
 * Verifies SAMPLES times (default 15) one after another and takes the
 * median, then once per core at the same time for as long again, and
 * prints one line "BENCH_HASH {json}": the median milliseconds, the cores,
 * the bound cores / median (logins per second if hashing were all a login
 * did), and the rate measured with every core hashing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "password.h"

#define MAX_SAMPLES 1000

static const char pw[] = "correct horse battery staple";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The setting from the environment, else its default from config.c's table. */
static uint32_t setting(const char *name)
{
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        const char *n, *def, *help;
        for (size_t i = 0; config_setting_at(i, &n, &def, &help); i++) {
            if (strcmp(n, name) == 0) {
                value = def;
                break;
            }
        }
    }
    char *end = NULL;
    errno = 0;
    long v = value != NULL ? strtol(value, &end, 10) : -1;
    if (value == NULL || errno != 0 || end == value || *end != '\0' || v < 1 || v > 1L << 30) {
        fprintf(stderr, "bench_hash: %s: no usable value\n", name);
        exit(2);
    }
    return (uint32_t)v;
}

struct shared {
    hasher_t *h;
    const char *encoded;
    double until_ms;
};

struct counter {
    struct shared *s;
    pthread_t thread;
    long done;
    bool failed;
};

static bool verify_once(hasher_t *h, const char *encoded)
{
    struct error e = ERROR_INIT;
    bool match = false, rehash = false;
    return password_verify(h, encoded, pw, sizeof pw - 1, &match, &rehash, &e) && match;
}

static void *hash_until(void *arg)
{
    struct counter *c = arg;
    while (now_ms() < c->s->until_ms) {
        if (!verify_once(c->s->h, c->s->encoded)) {
            c->failed = true;
            break;
        }
        c->done++;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long samples = 15;
    if (argc > 1) {
        char *end = NULL;
        samples = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || samples < 1 || samples > MAX_SAMPLES) {
            fprintf(stderr, "usage: bench_hash [SAMPLES (1-%d)]\n", MAX_SAMPLES);
            return 2;
        }
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    struct password_params params = {setting("ARGON2_MEMORY_KIB"), setting("ARGON2_ITERATIONS"),
                                     setting("ARGON2_PARALLELISM")};
    struct error e = ERROR_INIT;
    hasher_t *h = hasher_new(params, (int)cores, 60000, &e);
    char encoded[PASSWORD_HASH_BUF];
    if (h == NULL || !password_hash(h, pw, sizeof pw - 1, encoded, &e)) {
        fprintf(stderr, "bench_hash: %s\n", e.message);
        return 1;
    }

    double ms[MAX_SAMPLES], total = 0;
    for (long i = 0; i < samples; i++) {
        double t0 = now_ms();
        if (!verify_once(h, encoded)) {
            fprintf(stderr, "bench_hash: the password did not verify\n");
            return 1;
        }
        ms[i] = now_ms() - t0;
        total += ms[i];
    }
    qsort(ms, (size_t)samples, sizeof ms[0], cmp_double);
    double median = ms[samples / 2];

    /* every core at once, for as long as the samples took */
    struct shared s = {h, encoded, 0};
    struct counter *c = calloc((size_t)cores, sizeof *c);
    if (c == NULL)
        return 1;
    double t0 = now_ms();
    s.until_ms = t0 + (total > 500 ? total : 500);
    for (long i = 0; i < cores; i++) {
        c[i].s = &s;
        if (pthread_create(&c[i].thread, NULL, hash_until, &c[i]) != 0)
            return 1;
    }
    long done = 0;
    bool failed = false;
    for (long i = 0; i < cores; i++) {
        pthread_join(c[i].thread, NULL);
        done += c[i].done;
        failed = failed || c[i].failed;
    }
    double parallel_rate = (double)done / ((now_ms() - t0) / 1e3);
    free(c);
    hasher_destroy(h);
    if (failed) {
        fprintf(stderr, "bench_hash: a parallel verify failed\n");
        return 1;
    }
    printf("BENCH_HASH {\"m_kib\":%u,\"t\":%u,\"p\":%u,\"samples\":%ld,\"median_ms\":%.2f,"
           "\"min_ms\":%.2f,\"cores\":%ld,\"bound_per_s\":%.1f,\"parallel_per_s\":%.1f}\n",
           params.m_kib, params.t, params.p, samples, median, ms[0], cores,
           (double)cores * 1000.0 / median, parallel_rate);
    return 0;
}
