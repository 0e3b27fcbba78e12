#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level min_level = LOG_INFO;
/* Lines of at most PIPE_BUF bytes are one write each and share the lock;
 * a longer line (or the rest of a cut write) holds it alone, so that no
 * short line lands inside it. Writers first: a stream of short lines must
 * not keep a long one waiting for ever. */
static pthread_rwlock_t out_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

void log_set_level(enum log_level level)
{
    min_level = level;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_DEBUG:
        return "debug";
    case LOG_WARN:
        return "warn";
    case LOG_ERROR:
        return "error";
    default:
        return "info";
    }
}

static size_t b64url_run(const char *s)
{
    size_t n = 0;
    while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_')
        n++;
    return n;
}

bool log_looks_secret(const char *s)
{
    if (s == NULL)
        return false;
    if (strstr(s, "$argon2") != NULL)
        return true;
    /* a JWS header is base64url JSON, so it starts with "eyJ" ('{"') */
    for (const char *p = strstr(s, "eyJ"); p != NULL; p = strstr(p + 1, "eyJ")) {
        size_t header = b64url_run(p);
        if (header < 8 || p[header] != '.')
            continue;
        size_t payload = b64url_run(p + header + 1);
        if (payload > 0 && p[header + 1 + payload] == '.')
            return true;
    }
    return false;
}

/* Replaces every string value that looks secret, in objects and arrays
 * (to a small depth: our lines are flat). */
static void redact(json_t *v, int depth);

static void redact_value(json_t *child, int depth)
{
    if (json_is_string(child) && log_looks_secret(json_string_value(child)))
        json_string_set(child, "[redacted]");
    else
        redact(child, depth + 1);
}

static void redact(json_t *v, int depth)
{
    if (depth > 4)
        return;
    const char *key;
    size_t i;
    json_t *child;
    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            redact_value(child, depth);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            redact_value(child, depth);
        }
    }
}

char *log_format(enum log_level level, const char *msg, json_t *fields, int64_t ms)
{
    char when[CLOCK_TEXT_BUF];
    clock_rfc3339(ms, when);
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", when, "level", log_level_name(level), "msg",
                             log_looks_secret(msg) ? "[redacted]" : msg);
    if (line == NULL) {
        json_decref(fields);
        return NULL;
    }
    if (fields != NULL && json_is_object(fields))
        json_object_update_missing(line, fields);
    json_decref(fields);
    redact(line, 0);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(line);
    return text;
}

/* Writes the whole line: a write interrupted by a signal (a worker is
 * interrupted when its request is late) or cut short goes on. */
static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Writes text (a line without its newline, malloc'd, taken) and frees it. */
static void write_line(char *text)
{
    if (text == NULL)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* the NUL's place: one write for the whole line */
    /* One write of at most PIPE_BUF bytes is never interleaved with another
     * (a pipe guarantees it; a file's offset and a terminal's lock make it
     * so), and most lines are one: those share the lock, instead of every
     * worker queueing on it. A longer line, or the rest of a write cut
     * short, is written holding it alone. */
    size_t done = 0;
    if (len + 1 <= PIPE_BUF) {
        pthread_rwlock_rdlock(&out_lock);
        ssize_t n = write(STDERR_FILENO, text, len + 1);
        pthread_rwlock_unlock(&out_lock);
        done = n > 0 ? (size_t)n : 0;
    }
    if (done < len + 1) {
        pthread_rwlock_wrlock(&out_lock);
        write_all(STDERR_FILENO, text + done, len + 1 - done);
        pthread_rwlock_unlock(&out_lock);
    }
    free(text);
}

void log_emit(enum log_level level, const char *msg, json_t *fields)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    write_line(log_format(level, msg, fields, clock_now_ms()));
}

/* ---- flat lines without jansson (every request writes one) ---- */

/* Printable ASCII and not secret: written as it is, with " and \ escaped. */
static bool plain_text(const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return false;
    return !log_looks_secret(s);
}

static void put_text(char **out, const char *s)
{
    char *o = *out;
    *o++ = '"';
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    *o++ = '"';
    *out = o;
}

/* The fields as a jansson object, for the lines the fast path leaves. */
static json_t *fields_object(const struct log_field *f, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < n; i++)
        json_object_set_new(o, f[i].key,
                            f[i].text != NULL ? json_string(f[i].text)
                                              : json_integer((json_int_t)f[i].number));
    return o;
}

char *log_format_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n,
                        int64_t ms)
{
    /* what the fast path takes: keys and values of printable ASCII, nothing
     * secret, no key twice or named like the three every line has */
    size_t need = 64 + CLOCK_TEXT_BUF + 2 * strlen(msg);
    bool plain = plain_text(msg);
    for (size_t i = 0; plain && i < n; i++) {
        plain = plain_text(f[i].key) && strcmp(f[i].key, "time") != 0 &&
                strcmp(f[i].key, "level") != 0 && strcmp(f[i].key, "msg") != 0 &&
                (f[i].text == NULL || plain_text(f[i].text));
        for (size_t k = 0; plain && k < i; k++)
            plain = strcmp(f[k].key, f[i].key) != 0;
        need += 2 * strlen(f[i].key) + (f[i].text ? 2 * strlen(f[i].text) : 24) + 8;
    }
    if (!plain)
        return log_format(level, msg, fields_object(f, n), ms);
    char *line = malloc(need);
    if (line == NULL)
        return NULL;
    char *o = line, *end = line + need; /* need is counted above: nothing is cut */
    char when[CLOCK_TEXT_BUF];
    clock_rfc3339(ms, when);
    o += snprintf(o, (size_t)(end - o), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when,
                  log_level_name(level));
    put_text(&o, msg);
    for (size_t i = 0; i < n; i++) {
        *o++ = ',';
        put_text(&o, f[i].key);
        *o++ = ':';
        if (f[i].text != NULL)
            put_text(&o, f[i].text);
        else
            o += snprintf(o, (size_t)(end - o), "%lld", (long long)f[i].number);
    }
    *o++ = '}';
    *o = '\0';
    return line;
}

void log_emit_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n)
{
    if (log_enabled(level))
        write_line(log_format_fields(level, msg, f, n, clock_now_ms()));
}

void log_text(enum log_level level, const char *msg, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_emit(level, msg, json_pack("{s:s}", "detail", detail));
}
