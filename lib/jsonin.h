/* jsonin.h — untrusted JSON text in, a jansson value out, without letting
 * the text choose how deep any parser recurses.
 *
 * jansson's parser recurses once per nesting level (its own limit, 2048, is
 * far deeper than a civetweb worker's stack allows), and json_decref
 * recurses the same way. So every JSON text a client controls (request
 * bodies, JWT header and payload segments) is first scanned by a bounded,
 * non-recursive pass that counts nesting, and only text at most
 * JSONIN_MAX_DEPTH levels deep ever reaches jansson.
 */
#ifndef ORGD_JSONIN_H
#define ORGD_JSONIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The deepest nesting accepted: `{"a":[1]}` is 2 levels deep. */
#define JSONIN_MAX_DEPTH 32

/* The nesting depth of len bytes of JSON text: every `[` or `{` outside a
 * string opens a level. Stops counting (and returns max + 1) as soon as the
 * depth passes max. Malformed text is not judged here; jansson does that. */
int jsonin_depth(const char *text, size_t len, int max);

/* Parses len bytes as JSON with duplicate keys refused, after the depth
 * check. `what` names the text in messages ("request body", "token
 * header"). NULL with ERR_MALFORMED and a message safe to show a client on
 * any failure (too deep, not JSON, invalid UTF-8, NUL, duplicate key).
 * The caller owns the result (json_decref). */
json_t *jsonin_load(const char *text, size_t len, const char *what, struct error *e);

#endif
