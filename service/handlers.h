/* handlers.h — one function per route: parse, call one use case, render
 * the result.
 *
 * A handler either sends its response and returns true, or returns false
 * with the error in e, and the dispatcher (handlers_run) renders it as a
 * problem: no handler or helper renders an error itself. */
#ifndef ORGD_HANDLERS_H
#define ORGD_HANDLERS_H

#include <stdatomic.h>

#include "http.h"

/* Set while the server drains on SIGTERM: /readyz answers 503. */
extern atomic_bool handlers_draining;

/* The operational pages, each in its own file:
 * service/docs.c (GET /openapi.yaml, /docs, /docs/{asset}) and
 * service/metrics_page.c (GET /metrics). */
bool handlers_openapi(struct request *r, struct error *e);
bool handlers_docs(struct request *r, struct error *e);
bool handlers_docs_asset(struct request *r, struct error *e);
bool handlers_metrics(struct request *r, struct error *e);

/* Runs the handler of r->route; renders its error, if any. */
void handlers_run(struct request *r);

#endif
