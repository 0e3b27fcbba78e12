#include "jcs.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_string(struct buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *named = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\b' ? "\\b"
                            : c == '\t' ? "\\t"
                            : c == '\n' ? "\\n"
                            : c == '\f' ? "\\f"
                            : c == '\r' ? "\\r"
                                        : NULL;
        if (named != NULL) {
            put(b, named, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* The next code point of UTF-8 text (jansson holds valid UTF-8 only). */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t cp;
    if (s[0] < 0x80) {
        cp = s[0];
        *p += 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        *p += 2;
    } else if ((s[0] & 0xF0) == 0xE0) {
        cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        *p += 3;
    } else {
        cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
             (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        *p += 4;
    }
    return cp;
}

/* The first UTF-16 code unit of a code point: what RFC 8785 sorts by (a
 * code point past U+FFFF is a surrogate pair, and sorts by its high one). */
static uint32_t first_unit(uint32_t cp, uint32_t *second)
{
    if (cp < 0x10000) {
        *second = 0;
        return cp;
    }
    cp -= 0x10000;
    *second = 0xDC00 | (cp & 0x3FF);
    return 0xD800 | (cp >> 10);
}

static int cmp_utf16(const void *a, const void *b)
{
    const unsigned char *x = *(const unsigned char *const *)a;
    const unsigned char *y = *(const unsigned char *const *)b;
    uint32_t xs = 0, ys = 0;
    for (;;) {
        uint32_t xu, yu;
        if (xs != 0) {
            xu = xs;
            xs = 0;
        } else {
            if (*x == '\0')
                return *y == '\0' && ys == 0 ? 0 : -1;
            xu = first_unit(next_cp(&x), &xs);
        }
        if (ys != 0) {
            yu = ys;
            ys = 0;
        } else {
            if (*y == '\0')
                return 1;
            yu = first_unit(next_cp(&y), &ys);
        }
        if (xu != yu)
            return xu < yu ? -1 : 1;
    }
}

static void put_value(struct buf *b, const json_t *v, int depth)
{
    if (depth > 64) {
        b->failed = true;
        return;
    }
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof *keys);
        if (keys == NULL) {
            b->failed = true;
            return;
        }
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_utf16);
        put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i > 0)
                put(b, ",", 1);
            put_string(b, keys[i], strlen(keys[i]));
            put(b, ":", 1);
            put_value(b, json_object_get(v, keys[i]), depth + 1);
        }
        put(b, "}", 1);
        free(keys);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                put(b, ",", 1);
            put_value(b, json_array_get(v, i), depth + 1);
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(b, num, strlen(num));
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_NULL:
        put(b, "null", 4);
        break;
    default: /* a real: not in events */
        b->failed = true;
    }
}

char *jcs_dumps(const json_t *v)
{
    struct buf b = {0};
    put_value(&b, v, 0);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
