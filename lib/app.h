/* app.h — what every use case needs, built once at start and read-only
 * afterwards (shared by all request threads). */
#ifndef ORGD_APP_H
#define ORGD_APP_H

#include "config.h"
#include "jwt.h"
#include "password.h"
#include "session_cache.h"
#include "store.h"

struct app {
    const struct config *cfg; /* borrowed */
    store_t *store;
    hasher_t *hasher;
    jwt_t *jwt;
    session_cache_t *sessions; /* live sessions seen lately (SESSION_CACHE_MS) */
    char instance_id[33];      /* random per process: names recovery claims */
};

/* Builds store, hasher and JWT key from cfg (which must outlive the app).
 * Does not touch the network. False with e set on failure. */
bool app_init(struct app *app, const struct config *cfg, struct error *e);
void app_cleanup(struct app *app);

#endif
