/* jwtbench.c — what one access token costs orgd's own code (lib/jwt.h):
 * signing one (jwt_issue), verifying a token seen for the first time
 * (parse, key lookup, signature), and verifying one seen before (the
 * table of tokens verified lately), with ES256 (a P-256 key made for the
 * run) and with HS256.
 *
 *   bench_jwt [N]
 *
 * Issues N tokens (default 2000) per algorithm, verifies each once, then
 * one of them N times, and prints one line "BENCH_JWT {json}" with the
 * microseconds per operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwt.h"
#include "keyfile.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct cost {
    double sign_us, verify_us, verify_seen_us;
};

static void measure(jwt_t *j, int n, struct cost *out)
{
    char **tokens = calloc((size_t)n, sizeof *tokens);
    struct error e = ERROR_INIT;
    struct jwt_claims c = {.sub = "0123456789abcdef01234567", .sid = "aaaabbbbccccddddeeeeffff"};
    int64_t now = (int64_t)time(NULL);
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        if (!jwt_issue(j, &c, now, &tokens[i], &e)) {
            fprintf(stderr, "bench_jwt: %s\n", e.message);
            exit(1);
        }
    }
    double t1 = now_us();
    struct jwt_claims back;
    for (int i = 0; i < n; i++) {
        if (!jwt_verify(j, tokens[i], strlen(tokens[i]), now, &back, &e)) {
            fprintf(stderr, "bench_jwt: %s\n", e.message);
            exit(1);
        }
    }
    double t2 = now_us();
    for (int i = 0; i < n; i++)
        (void)jwt_verify(j, tokens[0], strlen(tokens[0]), now, &back, &e);
    double t3 = now_us();
    out->sign_us = (t1 - t0) / n;
    out->verify_us = (t2 - t1) / n; /* n distinct tokens: each one new to the table */
    out->verify_seen_us = (t3 - t2) / n;
    for (int i = 0; i < n; i++)
        free(tokens[i]);
    free(tokens);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2000;
    if (n < 1 || n > 1000000)
        n = 2000;
    char path[64], kid[KEYFILE_KID_BUF];
    bool created = false;
    struct error e = ERROR_INIT;
    snprintf(path, sizeof path, "/tmp/orgd-bench-keys-%ld.json", (long)getpid());
    if (!keyfile_new_key(path, (int64_t)time(NULL), kid, &created, &e)) {
        fprintf(stderr, "bench_jwt: %s\n", e.message);
        return 1;
    }
    static const char secret[] = "bench secret, 32 bytes or more....";
    struct jwt_settings es = {
        .alg = JWT_ES256, .keys_file = path, .issuer = "orgd", .ttl_seconds = 3600};
    struct jwt_settings hs = {.alg = JWT_HS256,
                              .secret = secret,
                              .secret_len = sizeof secret - 1,
                              .issuer = "orgd",
                              .ttl_seconds = 3600};
    jwt_t *je = jwt_new(&es, &e);
    unlink(path);
    jwt_t *jh = je ? jwt_new(&hs, &e) : NULL;
    if (jh == NULL) {
        fprintf(stderr, "bench_jwt: %s\n", e.message);
        return 1;
    }
    struct cost ce, ch;
    measure(je, n, &ce);
    measure(jh, n, &ch);
    printf("BENCH_JWT {\"tokens\": %d, \"es256\": {\"sign_us\": %.1f, \"verify_us\": %.1f, "
           "\"verify_seen_us\": %.2f}, \"hs256\": {\"sign_us\": %.1f, \"verify_us\": %.1f, "
           "\"verify_seen_us\": %.2f}}\n",
           n, ce.sign_us, ce.verify_us, ce.verify_seen_us, ch.sign_us, ch.verify_us,
           ch.verify_seen_us);
    jwt_destroy(je);
    jwt_destroy(jh);
    return 0;
}
