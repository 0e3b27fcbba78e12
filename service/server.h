/* server.h — civetweb, started and stopped gracefully.
 *
 * One request handler receives every request (routing is ours, see
 * routes.h). On stop, new requests get 503 with Connection: close while
 * requests in flight — including one whose body is still arriving — finish,
 * up to a timeout; only then is civetweb stopped (mg_stop would cut a body
 * read short).
 */
#ifndef ORGD_SERVER_H
#define ORGD_SERVER_H

#include "app.h"

typedef struct server server_t;

server_t *server_start(struct app *app, struct error *e);

/* Stops accepting work, waits for in-flight requests (at most timeout_s),
 * then stops civetweb and frees the server. */
void server_stop(server_t *s, int timeout_s);

#endif
