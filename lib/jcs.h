/* jcs.h — the JSON Canonicalization Scheme (RFC 8785) for what events
 * hold: objects with members sorted by their names' UTF-16 code units,
 * no white space, strings escaped as RFC 8785 3.2.2.2 says (only '"',
 * '\\' and the control characters; \b \t \n \f \r by name, the others
 * as \u00xx), integers in decimal. An event's hash is the SHA-256 of this
 * text, so anyone can recompute it with any JCS implementation. */
#ifndef ORGD_JCS_H
#define ORGD_JCS_H

#include <jansson.h>

/* The canonical text of v (malloc'd), or NULL when v holds what events
 * never hold (a real number: RFC 8785 formats those as ECMAScript does,
 * which orgd does not need) or memory runs out. */
char *jcs_dumps(const json_t *v);

#endif
