#include "session_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    struct session x;
    int64_t seen_ms;
    bool used;
};

struct session_cache {
    int64_t staleness_ms;
    pthread_mutex_t lock;
    uint64_t epoch; /* forgets so far */
    struct slot slots[SESSION_CACHE_SLOTS];
};

/* FNV-1a of the id: session ids are ObjectIds, whose leading bytes are a
 * timestamp, so a hash of all of it spreads them. */
static size_t slot_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % SESSION_CACHE_SLOTS;
}

session_cache_t *session_cache_new(int64_t staleness_ms)
{
    session_cache_t *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return NULL;
    sc->staleness_ms = staleness_ms;
    pthread_mutex_init(&sc->lock, NULL);
    return sc;
}

void session_cache_destroy(session_cache_t *sc)
{
    if (sc == NULL)
        return;
    pthread_mutex_destroy(&sc->lock);
    free(sc);
}

bool session_cache_get(session_cache_t *sc, const char *id, int64_t now_ms, struct session *out)
{
    if (sc->staleness_ms <= 0)
        return false;
    struct slot *s = &sc->slots[slot_of(id)];
    pthread_mutex_lock(&sc->lock);
    bool hit = s->used && strcmp(s->x.id, id) == 0 && now_ms - s->seen_ms < sc->staleness_ms &&
               s->x.expires_at > now_ms;
    if (hit)
        *out = s->x;
    pthread_mutex_unlock(&sc->lock);
    return hit;
}

uint64_t session_cache_epoch(session_cache_t *sc)
{
    pthread_mutex_lock(&sc->lock);
    uint64_t epoch = sc->epoch;
    pthread_mutex_unlock(&sc->lock);
    return epoch;
}

void session_cache_put(session_cache_t *sc, const struct session *x, int64_t now_ms, uint64_t epoch)
{
    if (sc->staleness_ms <= 0)
        return;
    struct slot *s = &sc->slots[slot_of(x->id)];
    pthread_mutex_lock(&sc->lock);
    if (epoch != sc->epoch) { /* something was forgotten since the read began */
        pthread_mutex_unlock(&sc->lock);
        return;
    }
    s->x = *x;
    memset(s->x.refresh_hash, 0, sizeof s->x.refresh_hash); /* never needed from here */
    s->seen_ms = now_ms;
    s->used = true;
    pthread_mutex_unlock(&sc->lock);
}

void session_cache_forget(session_cache_t *sc, const char *id)
{
    struct slot *s = &sc->slots[slot_of(id)];
    pthread_mutex_lock(&sc->lock);
    sc->epoch++;
    if (s->used && strcmp(s->x.id, id) == 0)
        s->used = false;
    pthread_mutex_unlock(&sc->lock);
}

void session_cache_forget_account(session_cache_t *sc, const char *account_id, const char *org_id)
{
    pthread_mutex_lock(&sc->lock);
    sc->epoch++;
    for (size_t i = 0; i < SESSION_CACHE_SLOTS; i++) {
        struct slot *s = &sc->slots[i];
        if (s->used && strcmp(s->x.account_id, account_id) == 0 &&
            (org_id == NULL || strcmp(s->x.org_id, org_id) == 0))
            s->used = false;
    }
    pthread_mutex_unlock(&sc->lock);
}

void session_cache_forget_org(session_cache_t *sc, const char *org_id)
{
    pthread_mutex_lock(&sc->lock);
    sc->epoch++;
    for (size_t i = 0; i < SESSION_CACHE_SLOTS; i++) {
        if (sc->slots[i].used && strcmp(sc->slots[i].x.org_id, org_id) == 0)
            sc->slots[i].used = false;
    }
    pthread_mutex_unlock(&sc->lock);
}
