/* bare_civetweb.c — the reference for orgd's GET /healthz in scripts/bench:
 * civetweb with the option values orgd's service/server.c gives it, and
 * one handler that answers GET /healthz with the bytes orgd sends (the
 * same headers and body, a fixed request id, written in one mg_write as
 * orgd writes them), doing nothing else. What
 * orgd adds per request (routing, request ids, logging, metrics, the
 * intake watchdog's bookkeeping) is the difference between the two.
 *
 *   bench_bare_civetweb PORT [THREADS [REQUEST_TIMEOUT_MS]]
 *
 * Listens on 127.0.0.1:PORT (THREADS 64 and 10000 ms by default, orgd's
 * defaults), prints nothing unless it cannot start (exit 1), and stops on
 * SIGTERM or SIGINT (exit 0).
 */
#include <civetweb.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char body[] = "{\"status\":\"ok\"}";

static int healthz(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "GET") != 0) {
        mg_send_http_error(conn, 405, "%s", "");
        return 405;
    }
    /* as orgd writes it (service/http.c): the whole answer in one write */
    char date[40], out[512];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nX-Request-Id: 00000000000000000000000000000000\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Date: %s\r\nConnection: keep-alive\r\n\r\n%s",
                     sizeof body - 1, date, body);
    mg_write(conn, out, (size_t)n);
    return 200;
}

/* A decimal argument in [min, max], or exit 2. */
static long number_arg(const char *text, long min, long max, const char *what)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench_bare_civetweb: %s must be %ld to %ld (got \"%s\")\n", what, min, max,
                text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_bare_civetweb PORT [THREADS [REQUEST_TIMEOUT_MS]]\n");
        return 2;
    }
    long port = number_arg(argv[1], 1, 65535, "PORT");
    long threads = argc > 2 ? number_arg(argv[2], 1, 1024, "THREADS") : 64;
    long timeout = argc > 3 ? number_arg(argv[3], 1, 3600000, "REQUEST_TIMEOUT_MS") : 10000;

    /* the signals are taken by sigwait below, in no worker (they inherit the mask) */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char ports[64], nthreads[16], ntimeout[16];
    snprintf(ports, sizeof ports, "127.0.0.1:%ld", port);
    snprintf(nthreads, sizeof nthreads, "%ld", threads);
    snprintf(ntimeout, sizeof ntimeout, "%ld", timeout);
    /* the values of service/server.c's start_civetweb */
    // clang-format off
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", nthreads,
        "request_timeout_ms", ntimeout,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "5000",
        "tcp_nodelay", "1",
        "max_request_size", "16384",
        "decode_url", "no",
        "enable_directory_listing", "no",
        "access_control_allow_origin", "",
        "access_control_allow_methods", "",
        "access_control_allow_headers", "",
        NULL,
    };
    // clang-format on
    struct mg_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    struct mg_init_data init = {.callbacks = &callbacks, .configuration_options = options};
    char err_text[256] = "";
    unsigned err_code = 0;
    struct mg_error_data err = {
        .code = &err_code, .text = err_text, .text_buffer_size = sizeof err_text};
    mg_init_library(0);
    struct mg_context *ctx = mg_start2(&init, &err);
    if (ctx == NULL) {
        fprintf(stderr, "bench_bare_civetweb: cannot listen on %s: %s\n", ports, err_text);
        return 1;
    }
    mg_set_request_handler(ctx, "/healthz$", healthz, NULL);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
