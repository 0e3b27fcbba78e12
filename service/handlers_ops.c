/* handlers_ops.c — liveness and readiness (/healthz, /health, /readyz) and
 * the public keys (/.well-known/jwks.json). */
#include <stdatomic.h>

#include "handlers-private.h"
#include "handlers.h"

/* /health says "healthy", the word the original service's clients look
 * for; /healthz keeps "ok". Fixed bytes: no JSON library on this path. */
bool handle_health(struct request *r, struct error *e)
{
    (void)e;
    static const char healthy[] = "{\"status\":\"healthy\"}";
    http_send_bytes(r, "application/json", healthy, sizeof healthy - 1);
    return true;
}

bool handle_healthz(struct request *r, struct error *e)
{
    (void)e;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_send_bytes(r, "application/json", ok, sizeof ok - 1);
    return true;
}

/* The JWK Set other services verify tokens with: the public members of
 * each ES256 key (empty under HMAC: a secret is never published). A
 * verifier may keep it JWKS_MAX_AGE seconds, which is why a new key waits
 * that long before it signs (docs/OPERATIONS.md, rotating keys). */
#define JWKS_MAX_AGE 300

bool handle_jwks(struct request *r, struct error *e)
{
    json_t *set = jwt_jwks(r->app->jwt);
    if (set == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    http_add_header(r, "Cache-Control", "public, max-age=%d", JWKS_MAX_AGE);
    http_send_json(r, 200, set);
    return true;
}

bool handle_readyz(struct request *r, struct error *e)
{
    if (atomic_load(&handlers_draining)) {
        e->retry_after = 1;
        return error_set(e, ERR_UNAVAILABLE, "shutting down");
    }
    if (!store_ping(r->app->store, e))
        return false;
    http_send_json(r, 200, json_pack("{s:s}", "status", "ready"));
    return true;
}
