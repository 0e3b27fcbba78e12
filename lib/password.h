/* password.h — argon2id hashing with a bounded number of hashes at once.
 *
 * A hash costs ~18 ms and 19 MiB at the default m=19456 KiB, t=2, p=1, so
 * at most `concurrency` run at the same time (default: one per core); a
 * request that cannot get a slot within `wait_ms` fails with ERR_UNAVAILABLE
 * (503 + Retry-After) instead of queueing without bound. Hashes are stored
 * as PHC strings ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") with a
 * 16-byte salt from getrandom(2). bcrypt hashes (accounts imported from
 * the original service) are verified, at their own cost, never made.
 */
#ifndef ORGD_PASSWORD_H
#define ORGD_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 128
#define PASSWORD_HASH_BUF 160

struct password_params {
    uint32_t m_kib;
    uint32_t t;
    uint32_t p;
};

typedef struct hasher hasher_t;

/* Creates the hasher: `concurrency` hashing threads (<= 0: the number of
 * cores), niced so that hashing yields the cores to everything else, and a
 * dummy hash used when an e-mail is unknown. A caller's hash or verify runs
 * on one of those threads while the caller waits. NULL with e set on
 * failure. Caller frees with hasher_destroy. */
hasher_t *hasher_new(struct password_params params, int concurrency, int wait_ms, struct error *e);
void hasher_destroy(hasher_t *h);

/* True if len bytes is an acceptable password length (8 to 128 bytes);
 * otherwise adds a field error for `field`. */
bool password_length_ok(size_t len, const char *field, struct error *e);

/* Hashes pw into out (PASSWORD_HASH_BUF bytes). */
bool password_hash(hasher_t *h, const char *pw, size_t len, char out[PASSWORD_HASH_BUF],
                   struct error *e);

/* Verifies pw against `encoded`; with encoded == NULL verifies against the
 * dummy hash so that an unknown account costs the same and never matches.
 * *needs_rehash is set when the stored parameters differ from the current ones. */
bool password_verify(hasher_t *h, const char *encoded, const char *pw, size_t len, bool *match,
                     bool *needs_rehash, struct error *e);

/* True if `encoded` is a bcrypt hash ($2a$, $2b$, $2y$): password_verify
 * checks those too, and asks for a rehash. */
bool password_is_bcrypt(const char *encoded);

/* At most max_waiting requests (>= 1) wait for a hashing slot; more are
 * refused at once (ERR_UNAVAILABLE, 503 + Retry-After). Default: no bound.
 * Call before any hashing. */
void hasher_limit_waiting(hasher_t *h, int max_waiting);

/* Hashes running right now (for metrics). */
int hasher_in_flight(hasher_t *h);

#endif
