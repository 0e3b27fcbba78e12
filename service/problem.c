#include "problem.h"

#include <stdio.h>

static const struct {
    enum err_kind kind;
    int status;
    const char *slug;
} kinds[] = {
    {ERR_MALFORMED, 400, "malformed-request"},
    {ERR_UNAUTHORIZED, 401, "unauthorized"},
    {ERR_FORBIDDEN, 403, "forbidden"},
    {ERR_NOT_FOUND, 404, "not-found"},
    {ERR_METHOD, 405, "method-not-allowed"},
    {ERR_TIMEOUT, 408, "request-timeout"},
    {ERR_CONFLICT, 409, "conflict"},
    {ERR_BUSY, 409, "operation-in-progress"},
    {ERR_GONE, 410, "gone"},
    {ERR_TOO_LARGE, 413, "body-too-large"},
    {ERR_MEDIA_TYPE, 415, "unsupported-media-type"},
    {ERR_EXPECTATION, 417, "expectation-failed"},
    {ERR_INVALID, 422, "validation-failed"},
    {ERR_RATE_LIMITED, 429, "rate-limited"},
    {ERR_UNAVAILABLE, 503, "unavailable"},
    {ERR_MAIL_DISABLED, 503, "mail-disabled"},
    {ERR_EMAIL_UNVERIFIED, 403, "email-unverified"},
    {ERR_INTERNAL, 500, "internal-error"},
};

static size_t find(enum err_kind kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (kinds[i].kind == kind)
            return i;
    }
    return sizeof kinds / sizeof kinds[0] - 1; /* internal */
}

int problem_status(enum err_kind kind)
{
    return kinds[find(kind)].status;
}

const char *problem_title(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

json_t *problem_body(const struct error *e)
{
    size_t i = find(e->kind);
    char type[96];
    snprintf(type, sizeof type, "urn:orgd:problem:%s", kinds[i].slug);
    const char *detail = e->message[0] != '\0' ? e->message : problem_title(kinds[i].status);
    json_t *body =
        json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", problem_title(kinds[i].status),
                  "status", kinds[i].status, "detail", detail);
    if (body != NULL && e->nfields > 0) {
        json_t *errors = json_array();
        for (int f = 0; f < e->nfields && f < ERROR_MAX_FIELDS; f++)
            json_array_append_new(errors, json_pack("{s:s, s:s}", "field", e->fields[f].field,
                                                    "message", e->fields[f].message));
        json_object_set_new(body, "errors", errors);
    }
    return body;
}
