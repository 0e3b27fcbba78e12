/* harness_raw.c — plain sockets to an orgd: see harness_raw.h. */
#include "harness_raw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cmocka.h>

#include "testutil.h"

int th_connect_from(const char *source, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, source, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    return fd;
}

void th_send_all(int fd, const char *text)
{
    size_t len = strlen(text), sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, text + sent, len - sent, MSG_NOSIGNAL);
        assert_true(n > 0);
        sent += (size_t)n;
    }
}

void th_recv_until(int fd, char *out, size_t cap, size_t *got, const char *needle, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    out[*got] = '\0';
    while (*got + 1 < cap && tu_now_ms() < until &&
           (needle == NULL || strstr(out, needle) == NULL)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t k = recv(fd, out + *got, cap - 1 - *got, 0);
        if (k <= 0)
            return;
        *got += (size_t)k;
        out[*got] = '\0';
    }
}
