/* names.h — organization names and e-mail addresses: validation and the
 * keys they are stored and compared under.
 *
 * An organization name is 3 to 63 characters of [A-Za-z0-9_-], starting with
 * a letter or digit, and not one of the words the routes use after /org/
 * (create, get, list, update, delete) in any case. Names are unique without
 * regard to case: the key is the ASCII lower-case name, and the tenant
 * collection is "org_" + key.
 */
#ifndef ORGD_NAMES_H
#define ORGD_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define NAME_MIN 3
#define NAME_MAX_LEN 63
#define NAME_BUF (NAME_MAX_LEN + 1)
#define COLLECTION_BUF (NAME_BUF + 4)
#define EMAIL_MAX_LEN 254
#define EMAIL_BUF (EMAIL_MAX_LEN + 1)
#define USERNAME_MAX_CHARS 64
#define USERNAME_BUF (USERNAME_MAX_CHARS * 4 + 1) /* UTF-8: at most 4 bytes a character */
#define DISPLAY_NAME_MAX_CHARS 100
#define DISPLAY_NAME_BUF (DISPLAY_NAME_MAX_CHARS * 4 + 1)

/* True if `name` (len bytes, need not be NUL-terminated) is a valid org
 * name. Otherwise adds a field error for `field` to e (kind ERR_INVALID). */
bool names_org_valid(const char *name, size_t len, const char *field, struct error *e);

/* Lower-cases a valid name into key (NAME_BUF bytes). */
void names_org_key(const char *name, char key[NAME_BUF]);

/* "org_" + key into out (COLLECTION_BUF bytes). */
void names_collection(const char *key, char out[COLLECTION_BUF]);

/* True if `email` looks like an address we accept: 3..254 bytes of ASCII
 * (letters of other scripts look like ours: an internationalized domain is
 * written in its xn-- form), one '@',
 * a non-empty local part of at most 64 bytes, a domain with a dot and no
 * empty labels, and no spaces, control characters, quotes or brackets.
 * Otherwise adds a field error. */
bool names_email_valid(const char *email, size_t len, const char *field, struct error *e);

/* Display text (usernames, descriptions, display names) as orgd keeps it,
 * so that two texts that look alike are one text or one is refused: NFC
 * (a precomposed e-acute and an e with a combining acute are one
 * spelling), and no bidirectional (U+202A-U+202E, U+2066-U+2069, U+200E,
 * U+200F, U+061C) or zero-width (U+200B-U+200D, U+2060-U+2064, U+FEFF,
 * U+180E) formatting characters. `text` (len bytes of valid UTF-8, cap the
 * buffer's size) is normalized in place and *len updated. False (a field
 * error) for such a character, or an NFC form that does not fit. */
bool names_display_text(char *text, size_t *len, size_t cap, const char *field, struct error *e);

/* True if `username` (len bytes of valid UTF-8, as jansson hands strings
 * over) is 1..USERNAME_MAX_CHARS characters with no control characters
 * (C0, DEL, C1). Usernames are for display: not unique, not a login.
 * Otherwise adds a field error. */
bool names_username_valid(const char *username, size_t len, const char *field, struct error *e);

/* True if `name` (len bytes of valid UTF-8, already through
 * names_display_text) is an org's display name: 1..DISPLAY_NAME_MAX_CHARS
 * characters with no control characters. Otherwise adds a field error. */
bool names_display_name_valid(const char *name, size_t len, const char *field, struct error *e);

/* The slug a display name gives (an org name by the rules above, so that
 * it names the collection): a display name that is an org name already
 * ("Initech") is its own slug; otherwise its letters and digits in ASCII
 * lower case,
 * accents dropped (NFD, then no combining marks), every other run of
 * characters one '-', at most NAME_MAX_LEN; "org" and "org-..." when too
 * short (a name in another script), "-org" after a reserved word. With
 * `suffix` > 1, "-<suffix>" is added (the base cut to fit): the next try
 * when the slug is taken. */
void names_slug_derive(const char *display, int suffix, char out[NAME_BUF]);

/* True if `slug` is what names_slug_derive gives `display` with some
 * suffix, without regard to case: a new display name that would keep the
 * slug moves nothing. */
bool names_slug_of(const char *slug, const char *display);

/* True if `text` (len bytes of valid UTF-8) is at most DESCRIPTION_MAX_CHARS
 * (model.h: 1000) characters with no control characters but tab and line
 * breaks. Empty is fine. Otherwise adds a field error. */
bool names_description_valid(const char *text, size_t len, const char *field, struct error *e);

/* ASCII lower-case copy of a valid address into out (EMAIL_BUF bytes). */
void names_email_key(const char *email, char out[EMAIL_BUF]);

#endif
