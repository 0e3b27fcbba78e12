#include "password.h"

#include <argon2.h>
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define SALT_LEN 16
#define HASH_LEN 32

struct hasher {
    struct password_params params;
    int wait_ms;
    sem_t slots;
    atomic_int in_flight;
    char prefix[64]; /* "$argon2id$v=19$m=19456,t=2,p=1$" for the current params */
    char dummy[PASSWORD_HASH_BUF];
};

static bool slot_take(hasher_t *h, struct error *e)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += h->wait_ms / 1000;
    deadline.tv_nsec += (long)(h->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&h->slots, &deadline) != 0) {
        if (errno == EINTR)
            continue;
        e->retry_after = 1;
        metrics_hash_rejected();
        return error_set(e, ERR_UNAVAILABLE, "the service is busy; retry shortly");
    }
    atomic_fetch_add(&h->in_flight, 1);
    return true;
}

static void slot_give(hasher_t *h)
{
    atomic_fetch_sub(&h->in_flight, 1);
    sem_post(&h->slots);
}

static bool hash_raw(const struct password_params *pp, const char *pw, size_t len, char *out,
                     struct error *e)
{
    unsigned char salt[SALT_LEN];
    if (!random_bytes(salt, sizeof salt))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    int rc = argon2id_hash_encoded(pp->t, pp->m_kib, pp->p, pw, len, salt, sizeof salt, HASH_LEN,
                                   out, PASSWORD_HASH_BUF);
    if (rc != ARGON2_OK) {
        log_text(LOG_ERROR, "argon2 failed", "%s", argon2_error_message(rc));
        return error_set(e, ERR_INTERNAL, "password hashing failed");
    }
    return true;
}

hasher_t *hasher_new(struct password_params params, int concurrency, int wait_ms,
                     struct error *e)
{
    hasher_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    h->params = params;
    h->wait_ms = wait_ms;
    if (concurrency <= 0)
        concurrency = cpu_count();
    sem_init(&h->slots, 0, (unsigned)concurrency);
    snprintf(h->prefix, sizeof h->prefix, "$argon2id$v=%d$m=%u,t=%u,p=%u$", ARGON2_VERSION_NUMBER,
             params.m_kib, params.t, params.p);
    /* the dummy: a hash of random bytes nobody knows, with the current
     * parameters, so verifying against it costs what a real verify costs */
    unsigned char secret[24];
    char pw[2 * sizeof secret + 1];
    if (!random_bytes(secret, sizeof secret)) {
        error_set(e, ERR_INTERNAL, "no randomness available");
        hasher_destroy(h);
        return NULL;
    }
    hex_encode(secret, sizeof secret, pw);
    if (!hash_raw(&h->params, pw, strlen(pw), h->dummy, e)) {
        hasher_destroy(h);
        return NULL;
    }
    return h;
}

void hasher_destroy(hasher_t *h)
{
    if (h == NULL)
        return;
    sem_destroy(&h->slots);
    free(h);
}

bool password_length_ok(size_t len, const char *field, struct error *e)
{
    if (len < PASSWORD_MIN || len > PASSWORD_MAX)
        return error_field(e, field, "must be %d to %d characters long", PASSWORD_MIN,
                           PASSWORD_MAX);
    return true;
}

bool password_hash(hasher_t *h, const char *pw, size_t len, char out[PASSWORD_HASH_BUF],
                   struct error *e)
{
    if (!slot_take(h, e))
        return false;
    bool ok = hash_raw(&h->params, pw, len, out, e);
    slot_give(h);
    return ok;
}

bool password_verify(hasher_t *h, const char *encoded, const char *pw, size_t len, bool *match,
                     bool *needs_rehash, struct error *e)
{
    *match = false;
    *needs_rehash = false;
    bool known = encoded != NULL;
    if (!known)
        encoded = h->dummy;
    if (!slot_take(h, e))
        return false;
    int rc = argon2id_verify(encoded, pw, len);
    slot_give(h);
    if (rc == ARGON2_OK) {
        *match = known;
        *needs_rehash = known && strncmp(encoded, h->prefix, strlen(h->prefix)) != 0;
    } else if (rc != ARGON2_VERIFY_MISMATCH) {
        /* a stored hash we cannot read: treat as a mismatch, but say so */
        log_text(LOG_WARN, "password hash unreadable", "%s", argon2_error_message(rc));
    }
    return true;
}

int hasher_in_flight(hasher_t *h)
{
    return atomic_load(&h->in_flight);
}
