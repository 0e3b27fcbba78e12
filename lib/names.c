#include "names.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const reserved[] = {"create", "get", "list", "update", "delete"};

static bool is_name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-';
}

bool names_org_valid(const char *name, size_t len, const char *field, struct error *e)
{
    if (len < NAME_MIN || len > NAME_MAX_LEN)
        return error_field(e, field, "must be %d to %d characters long", NAME_MIN, NAME_MAX_LEN);
    if (!isalnum((unsigned char)name[0]))
        return error_field(e, field, "must start with a letter or a digit");
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char((unsigned char)name[i]))
            return error_field(e, field, "may contain only letters, digits, '_' and '-'");
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strlen(reserved[i]) == len && strncasecmp(name, reserved[i], len) == 0)
            return error_field(e, field, "'%s' is reserved", reserved[i]);
    }
    return true;
}

void names_org_key(const char *name, char key[NAME_BUF])
{
    size_t i = 0;
    for (; name[i] != '\0' && i < NAME_MAX_LEN; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[i] = '\0';
}

void names_collection(const char *key, char out[COLLECTION_BUF])
{
    snprintf(out, COLLECTION_BUF, "org_%s", key);
}

bool names_email_valid(const char *email, size_t len, const char *field, struct error *e)
{
    if (len < 3 || len > EMAIL_MAX_LEN)
        return error_field(e, field, "must be 3 to %d characters long", EMAIL_MAX_LEN);
    const char *at = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)email[i];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '(' || c == ')' || c == '<' || c == '>' ||
            c == '[' || c == ']' || c == ',' || c == ';' || c == ':' || c == '\\')
            return error_field(e, field, "is not a valid e-mail address");
        if (c == '@') {
            if (at != NULL)
                return error_field(e, field, "is not a valid e-mail address");
            at = email + i;
        }
    }
    if (at == NULL || at == email || at - email > 64)
        return error_field(e, field, "is not a valid e-mail address");
    const char *domain = at + 1;
    size_t dlen = len - (size_t)(domain - email);
    if (dlen < 3 || memchr(domain, '.', dlen) == NULL || domain[0] == '.' ||
        domain[dlen - 1] == '.')
        return error_field(e, field, "is not a valid e-mail address");
    for (size_t i = 1; i < dlen; i++) {
        if (domain[i] == '.' && domain[i - 1] == '.')
            return error_field(e, field, "is not a valid e-mail address");
    }
    return true;
}

void names_email_key(const char *email, char out[EMAIL_BUF])
{
    size_t i = 0;
    for (; email[i] != '\0' && i < EMAIL_MAX_LEN; i++)
        out[i] = (char)tolower((unsigned char)email[i]);
    out[i] = '\0';
}

/* Counts the characters of len bytes of UTF-8; false at a control
 * character (C0 but those allowed, DEL, C1). */
static bool count_chars(const char *s, size_t len, const char *allowed, size_t *chars)
{
    *chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool c1 = c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                  (unsigned char)s[i + 1] <= 0x9f;
        if (((c < 0x20 && strchr(allowed, c) == NULL) || c == 0x7f || c1) && c != 0)
            return false;
        if (c == 0)
            return false;
        if ((c & 0xc0) != 0x80) /* not a continuation byte: a new character */
            (*chars)++;
    }
    return true;
}

bool names_username_valid(const char *username, size_t len, const char *field, struct error *e)
{
    size_t chars = 0;
    if (!count_chars(username, len, "", &chars))
        return error_field(e, field, "must not contain control characters");
    if (chars < 1 || chars > USERNAME_MAX_CHARS)
        return error_field(e, field, "must be 1 to %d characters long", USERNAME_MAX_CHARS);
    return true;
}

bool names_description_valid(const char *text, size_t len, const char *field, struct error *e)
{
    size_t chars = 0;
    if (!count_chars(text, len, "\t\n\r", &chars))
        return error_field(e, field,
                           "must not contain control characters but tabs and line breaks");
    if (chars > 1000)
        return error_field(e, field, "must be at most 1000 characters long");
    return true;
}
