/* core.h — what every use case needs, built once at start and read-only
 * afterwards (shared by all request threads). */
#ifndef ORGD_CORE_H
#define ORGD_CORE_H

#include "config.h"
#include "jwt.h"
#include "password.h"
#include "store.h"

struct core {
    const struct config *cfg; /* borrowed */
    store_t *store;
    hasher_t *hasher;
    jwt_t *jwt;
    char instance_id[33]; /* random per process: names recovery claims */
};

/* Builds store, hasher and JWT key from cfg (which must outlive the core).
 * Does not touch the network. False with e set on failure. */
bool core_init(struct core *c, const struct config *cfg, struct error *e);
void core_cleanup(struct core *c);

#endif
