#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void error_clear(struct error *e)
{
    if (e == NULL)
        return;
    e->kind = ERR_OK;
    e->message[0] = '\0';
    e->retry_after = 0;
    e->nfields = 0;
}

bool error_set(struct error *e, enum err_kind kind, const char *fmt, ...)
{
    if (e == NULL)
        return false;
    e->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

bool error_field(struct error *e, const char *field, const char *fmt, ...)
{
    if (e == NULL || e->nfields >= ERROR_MAX_FIELDS)
        return false;
    struct field_error *f = &e->fields[e->nfields++];
    snprintf(f->field, sizeof f->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return false;
}

const char *error_kind_name(enum err_kind kind)
{
    static const char *const names[] = {
#define X(k, s) s,
        ERROR_KINDS(X)
#undef X
    };
    if ((int)kind < 0 || kind >= ERR_KIND_COUNT)
        return "unknown";
    return names[kind];
}
