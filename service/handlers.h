/* handlers.h — one function per route: parse, call one use case, render. */
#ifndef ORGD_HANDLERS_H
#define ORGD_HANDLERS_H

#include <stdatomic.h>

#include "http.h"

/* Set while the server drains on SIGTERM: /readyz answers 503. */
extern atomic_bool handlers_draining;

/* The operational pages, each in its own file:
 * service/docs.c (GET /openapi.yaml, /docs, /docs/{asset}) and
 * service/metrics_page.c (GET /metrics). */
void handlers_openapi(struct request *r);
void handlers_docs(struct request *r);
void handlers_docs_asset(struct request *r);
void handlers_metrics(struct request *r);

/* Runs the handler of r->route. */
void handlers_run(struct request *r);

#endif
