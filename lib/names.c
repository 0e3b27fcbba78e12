#include "names.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uninorm.h>

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
        if (c >= 0x80) /* letters from other scripts look like ours: one account would
                          look like another (a Cyrillic a, the Kelvin sign) */
            return error_field(e, field,
                               "must be ASCII: write an internationalized domain in its "
                               "xn-- (punycode) form");
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

/* The code point of the UTF-8 sequence at s (valid UTF-8, as jansson
 * hands strings over) and its length in *n. */
static uint32_t utf8_at(const unsigned char *s, size_t left, size_t *n)
{
    if (s[0] < 0x80 || left < 2) {
        *n = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *n = 2;
        return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (s[0] < 0xf0 || left < 4) {
        *n = left < 3 ? left : 3;
        return *n < 3
                   ? 0xfffd
                   : (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    }
    *n = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
           (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* Formatting characters that change how text around them looks or
 * reads while showing nothing: the bidirectional marks, embeddings,
 * overrides and isolates (U+202E turns "gpj.exe" into what reads
 * "exe.jpg"), and the zero-width ones (two names that differ only by one
 * look the same). */
static bool invisible_control(uint32_t cp)
{
    return cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff ||
           cp == 0x180e;
}

bool names_display_text(char *text, size_t *len, size_t cap, const char *field, struct error *e)
{
    for (size_t i = 0, n = 0; i < *len; i += n) {
        if (invisible_control(utf8_at((const unsigned char *)text + i, *len - i, &n)))
            return error_field(e, field,
                               "must not contain bidirectional or zero-width formatting "
                               "characters (U+%04X)",
                               (unsigned)utf8_at((const unsigned char *)text + i, *len - i, &n));
    }
    size_t out_len = 0;
    uint8_t *nfc = u8_normalize(UNINORM_NFC, (const uint8_t *)text, *len, NULL, &out_len);
    if (nfc == NULL)
        return error_field(e, field, "is not text orgd can normalize");
    bool fits = out_len < cap;
    if (fits) {
        memcpy(text, nfc, out_len);
        text[out_len] = '\0';
        *len = out_len;
    }
    free(nfc);
    return fits || error_field(e, field, "is too long");
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
