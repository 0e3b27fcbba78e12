/* harness_raw.h — HTTP as a hostile client writes it: plain sockets from
 * any loopback address, so that a test can send what libcurl never would
 * (slow bytes, broken framing, a body nobody reads) and read exactly what
 * orgd answered. Nothing here is recorded for the contract check. */
#ifndef ORGD_TEST_HARNESS_RAW_H
#define ORGD_TEST_HARNESS_RAW_H

#include <stddef.h>

/* A TCP connection to 127.0.0.1:port from the local address `source`
 * ("127.0.0.2": Linux routes all of 127/8 to lo); fails the test unless it
 * connects. Caller closes it. */
int th_connect_from(const char *source, int port);
/* Sends all of text on fd; fails the test if the connection will not take
 * it. */
void th_send_all(int fd, const char *text);
/* Appends what fd receives to out (*got bytes so far, NUL-terminated)
 * until `needle` is in it (NULL: until the peer closes), the peer closes,
 * or timeout_ms passes. */
void th_recv_until(int fd, char *out, size_t cap, size_t *got, const char *needle, int timeout_ms);

#endif
