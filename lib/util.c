#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_rfc3339(int64_t ms, char out[CLOCK_TEXT_BUF])
{
    /* the date and time to the second change once a second: kept per thread */
    static _Thread_local int64_t shown_secs = INT64_MIN;
    static _Thread_local char date[32];
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) { /* before 1970: the second before, and what is left of it */
        secs--;
        frac += 1000;
    }
    if (secs != shown_secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        shown_secs = secs;
    }
    size_t n = strnlen(date, 20);
    memcpy(out, date, n);
    out[n] = '.';
    out[n + 1] = (char)('0' + frac / 100);
    out[n + 2] = (char)('0' + frac / 10 % 10);
    out[n + 3] = (char)('0' + frac % 10);
    out[n + 4] = 'Z';
    out[n + 5] = '\0';
}

bool random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += got;
        n -= (size_t)got;
    }
    return true;
}

void hex_encode(const void *buf, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hex_decode(const char *hex, size_t n, void *out)
{
    unsigned char *p = out;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* OpenSSL 3 looks the algorithm up in its providers on every EVP_Digest
 * given EVP_sha256(); fetched once, it is not (a tenth of a token check). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

bool sha256(const void *buf, size_t n, unsigned char out[32])
{
    pthread_once(&sha256_once, sha256_fetch);
    unsigned int md_len = 0;
    return EVP_Digest(buf, n, out, &md_len, sha256_md != NULL ? sha256_md : EVP_sha256(), NULL) ==
               1 &&
           md_len == 32;
}

void sha256_hex(const void *buf, size_t n, char out[SHA256_HEX_BUF])
{
    unsigned char md[32];
    if (!sha256(buf, n, md)) {
        /* cannot happen with a working libcrypto; a hash of nothing would
         * match nothing stored, so fail closed rather than abort */
        memset(out, 'x', SHA256_HEX_BUF - 1);
        out[SHA256_HEX_BUF - 1] = '\0';
        return;
    }
    hex_encode(md, 32, out);
}

bool hmac_sha256(const void *key, size_t key_len, const void *buf, size_t n, unsigned char out[32])
{
    unsigned int md_len = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, buf, n, out, &md_len) != NULL && md_len == 32;
}

int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

bool array_reserve(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t grown = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, grown * size);
    if (p == NULL)
        return false;
    *items = p;
    *cap = grown;
    return true;
}
