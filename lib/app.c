#include "app.h"

#include <string.h>

#include "util.h"

bool app_init(struct app *app, const struct config *cfg, struct error *e)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    unsigned char id[16];
    if (!random_bytes(id, sizeof id))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    hex_encode(id, sizeof id, app->instance_id);
    app->store = store_new(cfg->mongo_uri, cfg->master_db, (int)cfg->mongo_timeout_ms, e);
    if (app->store == NULL)
        return false;
    struct password_params pp = {(uint32_t)cfg->argon2_memory_kib, (uint32_t)cfg->argon2_iterations,
                                 (uint32_t)cfg->argon2_parallelism};
    app->hasher = hasher_new(pp, (int)cfg->hash_concurrency, (int)cfg->hash_wait_ms, e);
    if (app->hasher == NULL) {
        app_cleanup(app);
        return false;
    }
    hasher_limit_waiting(app->hasher,
                         (int)(cfg->hash_queue > 0 ? cfg->hash_queue : cfg->threads / 2));
    const struct jwt_settings js = {
        .alg = cfg->jwt_algorithm,
        .secret = cfg->jwt_secret,
        .secret_len = cfg->jwt_secret_len,
        .previous_secrets = cfg->jwt_previous_secrets,
        .keys_file = cfg->jwt_keys_file,
        .issuer = cfg->jwt_issuer,
        .ttl_seconds = cfg->jwt_expires_seconds,
    };
    app->jwt = jwt_new(&js, e);
    if (app->jwt == NULL) {
        app_cleanup(app);
        return false;
    }
    app->sessions = session_cache_new(cfg->session_cache_ms);
    if (app->sessions == NULL) {
        app_cleanup(app);
        return error_set(e, ERR_INTERNAL, "out of memory");
    }
    return true;
}

void app_cleanup(struct app *app)
{
    session_cache_destroy(app->sessions);
    app->sessions = NULL;
    jwt_destroy(app->jwt);
    hasher_destroy(app->hasher);
    store_destroy(app->store);
    app->jwt = NULL;
    app->hasher = NULL;
    app->store = NULL;
}
