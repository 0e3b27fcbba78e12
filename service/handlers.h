/* handlers.h — one function per route (handlers-private.h names them):
 * parse, call one use case, render the result. A handler either sends its
 * response and returns true, or returns false with the error in e, and
 * handlers_run renders it as a problem: no handler or helper renders an
 * error itself. */
#ifndef ORGD_HANDLERS_H
#define ORGD_HANDLERS_H

#include <stdatomic.h>

#include "http.h"

/* Set while the server drains on SIGTERM: /readyz answers 503. */
extern atomic_bool handlers_draining;

/* Runs the handler of r->route; renders its error, if any. */
void handlers_run(struct request *r);

#endif
