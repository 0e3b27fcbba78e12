/* handlers.h — one function per route: parse, call one use case, render. */
#ifndef ORGD_HANDLERS_H
#define ORGD_HANDLERS_H

#include <stdatomic.h>

#include "http.h"

/* Set while the server drains on SIGTERM: /readyz answers 503. */
extern atomic_bool handlers_draining;

/* Runs the handler of r->route. */
void handlers_run(struct request *r);

#endif
