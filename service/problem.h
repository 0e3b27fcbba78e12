/* problem.h — RFC 9457 problem details: the one place an error kind
 * becomes an HTTP status, and the one renderer every error response uses.
 *
 * Body: {"type","title","status","detail"} plus "errors":[{"field","message"}]
 * when the error names fields. `detail` is always present, so clients
 * written for FastAPI's {"detail": ...} keep working. Pure: no I/O.
 */
#ifndef ORGD_PROBLEM_H
#define ORGD_PROBLEM_H

#include <jansson.h>

#include "error.h"

/* Kinds only the HTTP layer meets. They continue lib/'s numbering so that
 * they travel in the same struct error and map to a status in the same
 * table; lib/ never sees them. */
#define ERR_METHOD ((enum err_kind)(ERR_KIND_COUNT + 0))      /* 405 */
#define ERR_TIMEOUT ((enum err_kind)(ERR_KIND_COUNT + 1))     /* 408 */
#define ERR_TOO_LARGE ((enum err_kind)(ERR_KIND_COUNT + 2))   /* 413 */
#define ERR_MEDIA_TYPE ((enum err_kind)(ERR_KIND_COUNT + 3))  /* 415 */
#define ERR_EXPECTATION ((enum err_kind)(ERR_KIND_COUNT + 4)) /* 417 */

/* HTTP status for an error kind (ERR_INTERNAL and unknown kinds: 500). */
int problem_status(enum err_kind kind);

/* Standard reason phrase for a status ("Not Found", "OK"); "Error" if unknown. */
const char *problem_title(int status);

/* The problem object for e. Caller owns the result (json_decref). */
json_t *problem_body(const struct error *e);

#endif
