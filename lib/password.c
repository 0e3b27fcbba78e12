#include "password.h"

#include <argon2.h>
#include <crypt.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* One hash or verify, handed to a hashing thread. */
struct hash_job {
    void (*run)(struct hash_job *job);
    const struct password_params *params;
    const char *pw;
    size_t len;
    const char *encoded; /* verify */
    char *out;           /* hash */
    struct error *e;     /* hash */
    bool ok;             /* hash */
    int rc;              /* verify */
    bool done;
    struct hash_job *next;
};

/* argon2 runs on a few threads of its own, niced (HASH_NICE), never on a
 * worker: a saturating login flood then yields the cores to the requests
 * that need none, and to the database, instead of doubling their latency. */
#define HASH_NICE 10
#define HASH_THREADS_MAX 256

struct hasher {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job queued, or stop */
    pthread_cond_t done; /* a job finished */
    struct hash_job *head, *tail;
    bool stop;
    int nthreads;
    pthread_t threads[HASH_THREADS_MAX];
    struct password_params params;
    int wait_ms;
    sem_t slots;
    atomic_int in_flight;
    atomic_int waiting; /* requests waiting for a slot */
    int max_waiting;    /* past this many, a request is refused at once */
    char prefix[64];    /* "$argon2id$v=19$m=19456,t=2,p=1$" for the current params */
    char dummy[PASSWORD_HASH_BUF];
};

static bool slot_wait(hasher_t *h);

static bool busy(struct error *e)
{
    e->retry_after = 1;
    metrics_hash_rejected();
    return error_set(e, ERR_UNAVAILABLE, "the service is busy; retry shortly");
}

/* A slot at once if one is free; else a place in a bounded queue, waiting
 * at most wait_ms. Without the bound, a flood of logins would park every
 * worker thread here and starve the requests that need no hash. */
static bool slot_take(hasher_t *h, struct error *e)
{
    if (sem_trywait(&h->slots) == 0) {
        atomic_fetch_add(&h->in_flight, 1);
        return true;
    }
    if (atomic_fetch_add(&h->waiting, 1) >= h->max_waiting) {
        atomic_fetch_sub(&h->waiting, 1);
        return busy(e);
    }
    bool ok = slot_wait(h);
    atomic_fetch_sub(&h->waiting, 1);
    if (!ok)
        return busy(e);
    atomic_fetch_add(&h->in_flight, 1);
    return true;
}

static bool slot_wait(hasher_t *h)
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
        if (errno != EINTR)
            return false;
    }
    return true;
}

static void slot_give(hasher_t *h)
{
    atomic_fetch_sub(&h->in_flight, 1);
    sem_post(&h->slots);
}

/* argon2's working memory (m KiB, 19 MiB by default) comes straight from
 * the kernel and goes straight back: through malloc, glibc would keep each
 * worker thread's freed block in that thread's arena (the mmap threshold
 * grows after the first free), and RSS would grow by m per worker. */
static int memory_map(uint8_t **memory, size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        *memory = NULL;
        return ARGON2_MEMORY_ALLOCATION_ERROR;
    }
    *memory = p;
    return ARGON2_OK;
}

static void memory_unmap(uint8_t *memory, size_t bytes)
{
    if (memory != NULL)
        munmap(memory, bytes);
}

/* The raw argon2id hash of pw with these parameters and salt, into out. */
static int argon2id_raw(const struct password_params *pp, uint32_t version, const char *pw,
                        size_t len, const uint8_t *salt, size_t salt_len, uint8_t *out,
                        size_t out_len)
{
    argon2_context ctx = {
        .out = out,
        .outlen = (uint32_t)out_len,
        .pwd = (uint8_t *)(uintptr_t)pw, /* read only: no ARGON2_FLAG_CLEAR_PASSWORD */
        .pwdlen = (uint32_t)len,
        .salt = (uint8_t *)(uintptr_t)salt,
        .saltlen = (uint32_t)salt_len,
        .t_cost = pp->t,
        .m_cost = pp->m_kib,
        .lanes = pp->p,
        .threads = pp->p,
        .version = version,
        .allocate_cbk = memory_map,
        .free_cbk = memory_unmap,
        .flags = ARGON2_DEFAULT_FLAGS,
    };
    return argon2_ctx(&ctx, Argon2_id);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 without padding (the PHC string format), NUL-terminated.
 * Returns the length written, or 0 if cap is too small. */
static size_t b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = (n * 4 + 2) / 3;
    if (need + 1 > cap)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = B64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = B64[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* Decodes n characters of unpadded base64 into out (cap bytes); returns the
 * number of bytes, or 0 when the text is not canonical base64 or too long. */
static size_t b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1 || (n * 3) / 4 > cap)
        return 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = in[i] != '\0' ? strchr(B64, in[i]) : NULL;
        if (p == NULL)
            return 0;
        acc = (acc << 6) | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) /* leftover bits must be zero */
        return 0;
    return o;
}

/* The largest parameters a stored hash may ask for: the settings' bounds. */
#define PHC_M_MAX 4194304u
#define PHC_T_MAX 64u
#define PHC_P_MAX 16u

/* A PHC string taken apart: "$argon2id$v=19$m=...,t=...,p=...$salt$hash". */
struct phc {
    uint32_t version;
    struct password_params params;
    uint8_t salt[64];
    size_t salt_len;
    uint8_t hash[64];
    size_t hash_len;
};

static bool parse_u32(const char **p, const char *prefix, uint32_t *out)
{
    size_t plen = strlen(prefix);
    if (strncmp(*p, prefix, plen) != 0)
        return false;
    const char *s = *p + plen;
    if (*s < '0' || *s > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    *p = end;
    return true;
}

static bool phc_parse(const char *text, struct phc *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    if (strncmp(p, "$argon2id$", 10) != 0)
        return false;
    p += 9;
    out->version = ARGON2_VERSION_10; /* strings without v= predate version 19 */
    if (strncmp(p, "$v=", 3) == 0 && (!parse_u32(&p, "$v=", &out->version)))
        return false;
    if (!parse_u32(&p, "$m=", &out->params.m_kib) || !parse_u32(&p, ",t=", &out->params.t) ||
        !parse_u32(&p, ",p=", &out->params.p) || *p != '$')
        return false;
    /* a stored string never makes orgd hash with more than its settings
     * allow (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM): a
     * damaged or planted hash must not take a slot or the memory for ever */
    if (out->params.m_kib > PHC_M_MAX || out->params.t > PHC_T_MAX || out->params.p < 1 ||
        out->params.p > PHC_P_MAX)
        return false;
    const char *salt = p + 1;
    const char *dollar = strchr(salt, '$');
    if (dollar == NULL)
        return false;
    out->salt_len = b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof out->salt);
    out->hash_len = b64_decode(dollar + 1, strlen(dollar + 1), out->hash, sizeof out->hash);
    return out->salt_len >= ARGON2_MIN_SALT_LENGTH && out->hash_len >= ARGON2_MIN_OUTLEN;
}

static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0; /* constant time: no early exit */
    for (size_t i = 0; i < n; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

static bool hash_raw(const struct password_params *pp, const char *pw, size_t len, char *out,
                     struct error *e)
{
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    if (!random_bytes(salt, sizeof salt))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    int rc = argon2id_raw(pp, ARGON2_VERSION_NUMBER, pw, len, salt, sizeof salt, hash, sizeof hash);
    if (rc != ARGON2_OK) {
        log_text(LOG_ERROR, "argon2 failed", "%s", argon2_error_message(rc));
        return error_set(e, ERR_INTERNAL, "password hashing failed");
    }
    char salt64[32], hash64[48];
    int n = snprintf(out, PASSWORD_HASH_BUF, "$argon2id$v=%d$m=%u,t=%u,p=%u$%s$%s",
                     ARGON2_VERSION_NUMBER, pp->m_kib, pp->t, pp->p,
                     b64_encode(salt, sizeof salt, salt64, sizeof salt64) ? salt64 : "",
                     b64_encode(hash, sizeof hash, hash64, sizeof hash64) ? hash64 : "");
    explicit_bzero(hash, sizeof hash);
    if (n < 0 || n >= PASSWORD_HASH_BUF)
        return error_set(e, ERR_INTERNAL, "password hashing failed");
    return true;
}

bool password_is_bcrypt(const char *encoded)
{
    return strncmp(encoded, "$2a$", 4) == 0 || strncmp(encoded, "$2b$", 4) == 0 ||
           strncmp(encoded, "$2y$", 4) == 0;
}

/* A bcrypt hash (as the original service stored them, `$2a$`, `$2b$`,
 * `$2y$`) checked through libcrypt (libxcrypt), at the hash's own cost:
 * an imported account signs in with its old password once, and the login
 * then stores argon2id in its place (needs_rehash). */
static int verify_bcrypt(const char *encoded, const char *pw, size_t len)
{
    char text[PASSWORD_MAX + 1];
    if (len > PASSWORD_MAX || memchr(pw, '\0', len) != NULL)
        return ARGON2_VERIFY_MISMATCH; /* crypt() reads a C string: no password with a NUL */
    memcpy(text, pw, len);
    text[len] = '\0';
    struct crypt_data *data = calloc(1, sizeof *data); /* 32 KiB: not on a worker's stack */
    const char *out = data != NULL ? crypt_r(text, encoded, data) : NULL;
    int rc = ARGON2_DECODING_FAIL;
    size_t n = strlen(encoded);
    if (out != NULL && out[0] != '*')
        rc = strlen(out) == n && same_bytes((const uint8_t *)out, (const uint8_t *)encoded, n)
                 ? ARGON2_OK
                 : ARGON2_VERIFY_MISMATCH;
    explicit_bzero(text, sizeof text);
    if (data != NULL)
        explicit_bzero(data, sizeof *data);
    free(data);
    return rc;
}

/* ARGON2_OK, ARGON2_VERIFY_MISMATCH, or another argon2 code when the stored
 * string cannot be read or hashed with. */
static int verify_raw(const char *encoded, const char *pw, size_t len)
{
    if (password_is_bcrypt(encoded))
        return verify_bcrypt(encoded, pw, len);
    struct phc phc;
    if (!phc_parse(encoded, &phc))
        return ARGON2_DECODING_FAIL;
    uint8_t computed[sizeof phc.hash];
    int rc = argon2id_raw(&phc.params, phc.version, pw, len, phc.salt, phc.salt_len, computed,
                          phc.hash_len);
    if (rc == ARGON2_OK && !same_bytes(computed, phc.hash, phc.hash_len))
        rc = ARGON2_VERIFY_MISMATCH;
    explicit_bzero(computed, sizeof computed);
    return rc;
}

/* CPU time this thread has used, in µs. */
static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *hash_thread(void *arg)
{
    hasher_t *h = arg;
    /* this thread only (Linux: a thread's own nice value); failing is harmless */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HASH_NICE);
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (h->head == NULL && !h->stop)
            pthread_cond_wait(&h->work, &h->lock);
        if (h->head == NULL)
            break;
        struct hash_job *job = h->head;
        h->head = job->next;
        if (h->head == NULL)
            h->tail = NULL;
        pthread_mutex_unlock(&h->lock);
        int64_t cpu0 = thread_cpu_us();
        job->run(job);
        metrics_hash_done(thread_cpu_us() - cpu0);
        pthread_mutex_lock(&h->lock);
        job->done = true;
        pthread_cond_broadcast(&h->done);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Runs job on a hashing thread and waits for it (the caller holds a slot,
 * so a thread is free for it). */
static void run_job(hasher_t *h, struct hash_job *job)
{
    pthread_mutex_lock(&h->lock);
    job->done = false;
    job->next = NULL;
    if (h->tail != NULL)
        h->tail->next = job;
    else
        h->head = job;
    h->tail = job;
    pthread_cond_signal(&h->work);
    while (!job->done)
        pthread_cond_wait(&h->done, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

static void run_hash(struct hash_job *job)
{
    job->ok = hash_raw(job->params, job->pw, job->len, job->out, job->e);
}

static void run_verify(struct hash_job *job)
{
    job->rc = verify_raw(job->encoded, job->pw, job->len);
}

hasher_t *hasher_new(struct password_params params, int concurrency, int wait_ms, struct error *e)
{
    hasher_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    h->params = params;
    h->wait_ms = wait_ms;
    h->max_waiting = INT_MAX;
    if (concurrency <= 0)
        concurrency = cpu_count();
    if (concurrency > HASH_THREADS_MAX)
        concurrency = HASH_THREADS_MAX;
    sem_init(&h->slots, 0, (unsigned)concurrency);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->done, NULL);
    for (int i = 0; i < concurrency; i++) {
        if (pthread_create(&h->threads[i], NULL, hash_thread, h) != 0) {
            error_set(e, ERR_INTERNAL, "cannot start the hashing threads");
            hasher_destroy(h);
            return NULL;
        }
        h->nthreads++;
    }
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
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_broadcast(&h->work);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    pthread_cond_destroy(&h->done);
    pthread_cond_destroy(&h->work);
    pthread_mutex_destroy(&h->lock);
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
    struct hash_job job = {
        .run = run_hash, .params = &h->params, .pw = pw, .len = len, .out = out, .e = e};
    run_job(h, &job);
    slot_give(h);
    return job.ok;
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
    struct hash_job job = {.run = run_verify, .encoded = encoded, .pw = pw, .len = len};
    run_job(h, &job);
    slot_give(h);
    int rc = job.rc;
    if (rc == ARGON2_OK) {
        *match = known;
        *needs_rehash = known && strncmp(encoded, h->prefix, strlen(h->prefix)) != 0;
    } else if (rc != ARGON2_VERIFY_MISMATCH) {
        /* a stored hash we cannot read: treat as a mismatch, but say so */
        log_text(LOG_WARN, "password hash unreadable", "%s", argon2_error_message(rc));
    }
    return true;
}

void hasher_limit_waiting(hasher_t *h, int max_waiting)
{
    h->max_waiting = max_waiting > 0 ? max_waiting : 1;
}

int hasher_in_flight(hasher_t *h)
{
    return atomic_load(&h->in_flight);
}
