#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int min_level = LOG_INFO;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int level)
{
    min_level = level;
}

bool log_enabled(int level)
{
    return level >= min_level;
}

const char *log_level_name(int level)
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

void log_emit(int level, const char *msg, json_t *fields)
{
    if (!log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char when[CLOCK_TEXT_BUF];
    clock_rfc3339(clock_now_ms(), when);
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", when, "level", log_level_name(level),
                             "msg", msg);
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    if (fields != NULL && json_is_object(fields))
        json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text == NULL)
        return;
    pthread_mutex_lock(&out_lock);
    fputs(text, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&out_lock);
    free(text);
}

void log_text(int level, const char *msg, const char *fmt, ...)
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
