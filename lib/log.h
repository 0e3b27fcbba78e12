/* log.h — structured logs: one JSON object per line on stderr.
 *
 * Every line has "time" (RFC 3339, UTC, milliseconds), "level" and "msg";
 * callers add fields as a jansson object (a field named time, level or msg
 * never overwrites those). Lines are written whole under a lock, so
 * concurrent requests never interleave. Nothing secret is ever passed here:
 * callers log ids, names and kinds, never passwords, tokens, hashes or the
 * JWT secret. As a second line of defence, any string value that looks like
 * an argon2 hash or a JWT is written as "[redacted]".
 */
#ifndef ORGD_LOG_H
#define ORGD_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Severities, least severe first; LOG_LEVEL names them in lower case. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the least severe level written (default LOG_INFO). Call before threads start. */
void log_set_level(enum log_level level);

bool log_enabled(enum log_level level);

/* Writes one line. Takes ownership of `fields` (an object, or NULL). */
void log_emit(enum log_level level, const char *msg, json_t *fields);

/* Shorthand for a line with one "detail" text field. */
void log_text(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One field of a flat line: a text, or (text NULL) a number. */
struct log_field {
    const char *key;
    const char *text;
    int64_t number;
};

/* Writes one line of flat fields, in order: the same line log_emit writes
 * for the same fields, made without building a jansson object when every
 * key and text is plain printable ASCII (the request line of every
 * request). */
void log_emit_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n);

/* The line log_emit_fields would write at time ms; caller frees. */
char *log_format_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n,
                        int64_t ms);

const char *log_level_name(enum log_level level);

/* The line log_emit would write at time `ms` (Unix milliseconds), without
 * the newline, whatever the level. Takes ownership of `fields`. NULL if out
 * of memory; caller frees with free(). */
char *log_format(enum log_level level, const char *msg, json_t *fields, int64_t ms);

/* True if s holds something that must never be logged: an argon2 PHC
 * string ("$argon2") or a compact JWS ("eyJ<b64url>.<b64url>."). */
bool log_looks_secret(const char *s);

#endif
