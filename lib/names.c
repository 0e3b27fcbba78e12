#include "names.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unictype.h>
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

bool names_display_name_valid(const char *name, size_t len, const char *field, struct error *e)
{
    size_t chars = 0;
    if (!count_chars(name, len, "", &chars))
        return error_field(e, field, "must not contain control characters");
    if (chars < 1 || chars > DISPLAY_NAME_MAX_CHARS)
        return error_field(e, field, "must be 1 to %d characters long", DISPLAY_NAME_MAX_CHARS);
    return true;
}

/* The slug of a display name, before any suffix (see names_slug_derive). */
static void slug_base(const char *display, char out[NAME_BUF])
{
    struct error scratch = ERROR_INIT;
    size_t len = strlen(display);
    if (names_org_valid(display, len, "name", &scratch)) {
        /* a name that is an org name already is its own slug, as it was
         * before display names: "Initech" keeps org_initech */
        memcpy(out, display, len + 1);
        return;
    }
    char slug[NAME_BUF];
    size_t n = 0, nfd_len = 0;
    uint8_t *nfd = u8_normalize(UNINORM_NFD, (const uint8_t *)display, len, NULL, &nfd_len);
    const uint8_t *s = nfd != NULL ? nfd : (const uint8_t *)display;
    size_t slen = nfd != NULL ? nfd_len : len;
    bool gap = false;
    for (size_t i = 0, step = 0; i < slen && n < NAME_MAX_LEN; i += step) {
        uint32_t cp = utf8_at(s + i, slen - i, &step);
        if (cp < 0x80 && isalnum((int)cp)) {
            if (gap && n > 0 && n < NAME_MAX_LEN - 1)
                slug[n++] = '-';
            slug[n++] = (char)tolower((int)cp);
            gap = false;
        } else if (!uc_is_general_category(cp, UC_CATEGORY_Mn)) {
            gap = true; /* an accent is dropped; anything else separates words */
        }
    }
    free(nfd);
    slug[n] = '\0';
    if (n < NAME_MIN) { /* a name in another script, or too short: org, org-x */
        size_t at = 3;
        memcpy(out, "org", at);
        if (n > 0) {
            out[at++] = '-';
            memcpy(out + at, slug, n);
            at += n;
        }
        out[at] = '\0';
    } else {
        memcpy(out, slug, n + 1);
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(out, reserved[i]) == 0)
            snprintf(out, NAME_BUF, "%s-org", reserved[i]);
}

void names_slug_derive(const char *display, int suffix, char out[NAME_BUF])
{
    char base[NAME_BUF];
    slug_base(display, base);
    if (suffix <= 1) {
        memcpy(out, base, NAME_BUF);
        return;
    }
    char tail[16];
    int tl = snprintf(tail, sizeof tail, "-%d", suffix);
    size_t keep = strlen(base);
    if (keep + (size_t)tl > NAME_MAX_LEN)
        keep = NAME_MAX_LEN - (size_t)tl;
    while (keep > 0 && base[keep - 1] == '-')
        keep--;
    snprintf(out, NAME_BUF, "%.*s%s", (int)keep, base, tail);
}

bool names_slug_of(const char *slug, const char *display)
{
    char base[NAME_BUF];
    slug_base(display, base);
    size_t n = strlen(base);
    if (strncasecmp(slug, base, n) != 0)
        return false;
    if (slug[n] == '\0')
        return true;
    if (slug[n] != '-' || slug[n + 1] == '\0')
        return false;
    for (const char *p = slug + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}
