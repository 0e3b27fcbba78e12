#include "app.h"

#include <string.h>

#include "util.h"

bool app_init(struct app *c, const struct config *cfg, struct error *e)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    unsigned char id[16];
    if (!random_bytes(id, sizeof id))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    hex_encode(id, sizeof id, c->instance_id);
    c->store = store_new(cfg->mongo_uri, cfg->master_db, (int)cfg->mongo_timeout_ms, e);
    if (c->store == NULL)
        return false;
    struct password_params pp = {(uint32_t)cfg->argon2_memory_kib, (uint32_t)cfg->argon2_iterations,
                                 (uint32_t)cfg->argon2_parallelism};
    c->hasher = hasher_new(pp, (int)cfg->hash_concurrency, (int)cfg->hash_wait_ms, e);
    if (c->hasher == NULL) {
        app_cleanup(c);
        return false;
    }
    hasher_limit_waiting(c->hasher,
                         (int)(cfg->hash_queue > 0 ? cfg->hash_queue : cfg->threads / 2));
    c->jwt = jwt_new(cfg->jwt_algorithm, cfg->jwt_secret, cfg->jwt_secret_len, cfg->jwt_issuer,
                     cfg->jwt_expires_seconds, e);
    if (c->jwt == NULL) {
        app_cleanup(c);
        return false;
    }
    c->sessions = session_cache_new(cfg->session_cache_ms);
    if (c->sessions == NULL) {
        app_cleanup(c);
        return error_set(e, ERR_INTERNAL, "out of memory");
    }
    return true;
}

void app_cleanup(struct app *c)
{
    session_cache_destroy(c->sessions);
    c->sessions = NULL;
    jwt_destroy(c->jwt);
    hasher_destroy(c->hasher);
    store_destroy(c->store);
    c->jwt = NULL;
    c->hasher = NULL;
    c->store = NULL;
}
