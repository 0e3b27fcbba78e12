/* util.h — clock, randomness and small text helpers shared by the core. */
#ifndef ORGD_UTIL_H
#define ORGD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds since the epoch. */
int64_t clock_now_ms(void);

/* Monotonic milliseconds, for durations and deadlines. */
int64_t clock_mono_ms(void);

#define CLOCK_TEXT_BUF 64

/* `ms` since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-22T07:38:40.123Z"). */
void clock_rfc3339(int64_t ms, char out[CLOCK_TEXT_BUF]);

/* Fills buf with n bytes from getrandom(2). False only if the kernel fails. */
bool random_bytes(void *buf, size_t n);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const void *buf, size_t n, char *out);

/* The value of one hex digit (either case), or -1. */
int hex_digit(char c);

/* n bytes from 2n hex digits (either case); false on anything else. */
bool hex_decode(const char *hex, size_t n, void *out);

#define SHA256_HEX_BUF 65

/* The SHA-256 of n bytes; false only if libcrypto fails. */
bool sha256(const void *buf, size_t n, unsigned char out[32]);
/* SHA-256 of n bytes as lower-case hex: what the database keeps of a
 * secret token (refresh tokens, invitation tokens), never the token. */
void sha256_hex(const void *buf, size_t n, char out[SHA256_HEX_BUF]);

/* HMAC-SHA256 of n bytes under key; false only if libcrypto fails. */
bool hmac_sha256(const void *key, size_t key_len, const void *buf, size_t n, unsigned char out[32]);

/* Number of online cores, at least 1. */
int cpu_count(void);

/* Room for one more record in the growable array *items of n records of
 * `size` bytes, capacity *cap (doubled as needed, from 64). False when
 * out of memory; the array is unchanged then. */
bool array_reserve(void **items, size_t *cap, size_t n, size_t size);

#endif
