#include "jsonin.h"

int jsonin_depth(const char *text, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return max + 1;
            if (depth > deepest)
                deepest = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

json_t *jsonin_load(const char *text, size_t len, const char *what, struct error *e)
{
    if (jsonin_depth(text, len, JSONIN_MAX_DEPTH) > JSONIN_MAX_DEPTH) {
        error_set(e, ERR_MALFORMED, "%s is nested deeper than %d levels", what, JSONIN_MAX_DEPTH);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root != NULL)
        return root;
    switch (json_error_code(&jerr)) {
    case json_error_duplicate_key:
        error_set(e, ERR_MALFORMED, "%s has a duplicate key", what);
        break;
    case json_error_invalid_utf8:
        error_set(e, ERR_MALFORMED, "%s is not valid UTF-8", what);
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        error_set(e, ERR_MALFORMED, "%s contains a NUL character", what);
        break;
    default:
        error_set(e, ERR_MALFORMED, "%s is not valid JSON (line %d, column %d)", what, jerr.line,
                  jerr.column);
    }
    return NULL;
}
