#include "intake.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

enum phase { IDLE, HEADERS, BODY, LINGER };

struct slot {
    pthread_t thread;
    bool taken; /* bound to one worker thread for the process's life */
    enum phase phase;
    int64_t deadline;   /* monotonic ms; meaningful unless IDLE */
    int64_t signaled;   /* last interrupt sent, 0 = none */
    int64_t since;      /* when BODY began */
    int64_t slow_at;    /* when a BODY still arriving counts as slow */
    bool evicted;       /* BODY taken back: too many slow ones from addr */
    bool first_request; /* HEADERS began at intake_connection_begin */
    char addr[INTAKE_ADDR_BUF];
};

struct intake {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the watchdog's: an earlier deadline, or stop */
    int64_t next_wake;   /* when the watchdog means to look next (INT64_MAX: idle) */
    pthread_t watchdog;
    bool stop;
    int per_client;
    long timeout_ms;
    int nslots;
    struct slot slots[];
};

/* Which slot the calling thread owns, in the one intake of this process. */
static _Thread_local struct slot *own_slot;

static int interrupt_signal(void)
{
    return SIGRTMIN + 1;
}

static void on_interrupt(int sig)
{
    (void)sig; /* its only job is to make the worker's poll(2) fail with EINTR */
}

/* The caller's slot, taken on first use; NULL if every slot is taken (more
 * threads than configured: such a thread is simply not bounded). */
static struct slot *slot_of_caller(intake_t *in)
{
    if (own_slot != NULL)
        return own_slot;
    for (int i = 0; i < in->nslots; i++) {
        if (!in->slots[i].taken) {
            in->slots[i].taken = true;
            in->slots[i].thread = pthread_self();
            own_slot = &in->slots[i];
            return own_slot;
        }
    }
    return NULL;
}

static void arm(intake_t *in, struct slot *s, enum phase phase, int64_t deadline)
{
    s->phase = phase;
    s->deadline = deadline;
    s->signaled = 0;
    s->since = clock_mono_ms();
    s->slow_at = s->since + INTAKE_SLOW_MS;
    s->evicted = false;
    int64_t due = phase == BODY && s->slow_at < deadline ? s->slow_at : deadline;
    if (due < in->next_wake) /* else the watchdog wakes in time anyway: no syscall per request */
        pthread_cond_signal(&in->wake);
}

static bool is_slow(const struct slot *s, int64_t now)
{
    return s->taken && s->phase == BODY && !s->evicted && now >= s->slow_at;
}

/* How many slow workers of s's address began their body before s. */
static int slow_ahead_of(const intake_t *in, const struct slot *s, int64_t now)
{
    int n = 0;
    for (int i = 0; i < in->nslots; i++) {
        const struct slot *o = &in->slots[i];
        if (o != s && is_slow(o, now) && strcmp(o->addr, s->addr) == 0 &&
            (o->since < s->since || (o->since == s->since && o < s)))
            n++;
    }
    return n;
}

static struct timespec mono_at(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    return ts;
}

/* Takes back the newest slow workers of any address past its share. */
static void evict_over_share(intake_t *in, int64_t now)
{
    for (int i = 0; i < in->nslots; i++) {
        struct slot *s = &in->slots[i];
        if (is_slow(s, now) && slow_ahead_of(in, s, now) >= in->per_client)
            s->evicted = true;
    }
}

/* Interrupts every worker past its deadline or taken back (again every
 * INTAKE_RESIGNAL_MS while it stays there); returns when to look next. */
static int64_t interrupt_late(intake_t *in, int64_t now)
{
    evict_over_share(in, now);
    int64_t next = INT64_MAX;
    for (int i = 0; i < in->nslots; i++) {
        struct slot *s = &in->slots[i];
        if (!s->taken || s->phase == IDLE)
            continue;
        bool late = now >= s->deadline || s->evicted;
        if (late && now - s->signaled >= INTAKE_RESIGNAL_MS) {
            pthread_kill(s->thread, interrupt_signal());
            s->signaled = now;
        }
        int64_t at = late ? s->signaled + INTAKE_RESIGNAL_MS : s->deadline;
        if (s->phase == BODY && !late && s->slow_at > now && s->slow_at < at)
            at = s->slow_at; /* when it turns slow (once it has, only the deadline matters) */
        if (at < next)
            next = at;
    }
    return next;
}

static void *watchdog_main(void *arg)
{
    intake_t *in = arg;
    pthread_mutex_lock(&in->lock);
    while (!in->stop) {
        int64_t next = interrupt_late(in, clock_mono_ms());
        in->next_wake = next;
        if (next == INT64_MAX) {
            pthread_cond_wait(&in->wake, &in->lock);
        } else {
            struct timespec ts = mono_at(next);
            pthread_cond_timedwait(&in->wake, &in->lock, &ts);
        }
    }
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

intake_t *intake_new(int slots, int per_client, long timeout_ms, struct error *e)
{
    intake_t *in = calloc(1, sizeof *in + (size_t)slots * sizeof in->slots[0]);
    if (in == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    in->nslots = slots;
    in->next_wake = INT64_MAX;
    in->per_client = per_client < 1 ? 1 : per_client;
    in->timeout_ms = timeout_ms;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted poll must fail, not resume */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = sigaction(interrupt_signal(), &sa, NULL) == 0 &&
              pthread_mutex_init(&in->lock, NULL) == 0 && pthread_cond_init(&in->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok || pthread_create(&in->watchdog, NULL, watchdog_main, in) != 0) {
        error_set(e, ERR_INTERNAL, "cannot start the request watchdog: %s", strerror(errno));
        free(in);
        return NULL;
    }
    return in;
}

void intake_destroy(intake_t *in)
{
    if (in == NULL)
        return;
    pthread_mutex_lock(&in->lock);
    in->stop = true;
    pthread_cond_signal(&in->wake);
    pthread_mutex_unlock(&in->lock);
    pthread_join(in->watchdog, NULL);
    pthread_cond_destroy(&in->wake);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

void intake_connection_begin(intake_t *in)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    if (s != NULL) {
        arm(in, s, HEADERS, clock_mono_ms() + in->timeout_ms);
        s->first_request = true;
    }
    pthread_mutex_unlock(&in->lock);
}

bool intake_headers_late(intake_t *in)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    bool late = s != NULL && s->phase == HEADERS && clock_mono_ms() >= s->deadline;
    pthread_mutex_unlock(&in->lock);
    return late;
}

int64_t intake_headers_done(intake_t *in)
{
    int64_t now = clock_mono_ms();
    int64_t deadline = now + in->timeout_ms;
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    if (s != NULL) {
        if (s->phase == HEADERS && s->first_request)
            deadline = s->deadline;
        s->phase = IDLE;
        s->first_request = false;
    }
    pthread_mutex_unlock(&in->lock);
    return deadline;
}

void intake_body_begin(intake_t *in, const char *addr, int64_t deadline_ms)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    if (s != NULL) {
        snprintf(s->addr, sizeof s->addr, "%s", addr);
        arm(in, s, BODY, deadline_ms);
        /* an address whose share is full of slow senders gets no grace
         * beyond what a body already sent takes to copy */
        if (slow_ahead_of(in, s, s->since) >= in->per_client) {
            s->slow_at = s->since + INTAKE_CROWDED_MS;
            if (s->slow_at < in->next_wake)
                pthread_cond_signal(&in->wake);
        }
    }
    pthread_mutex_unlock(&in->lock);
}

void intake_linger_begin(intake_t *in, int64_t deadline_ms)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    if (s != NULL)
        arm(in, s, LINGER, deadline_ms);
    pthread_mutex_unlock(&in->lock);
}

bool intake_body_cut(intake_t *in)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    bool cut = s != NULL && s->phase == BODY && s->evicted;
    pthread_mutex_unlock(&in->lock);
    return cut;
}

bool intake_body_end(intake_t *in, struct error *e)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    bool evicted = s != NULL && s->phase == BODY && s->evicted;
    if (s != NULL) {
        s->phase = IDLE;
        s->evicted = false;
    }
    pthread_mutex_unlock(&in->lock);
    if (evicted) {
        e->retry_after = 1;
        return error_set(e, ERR_UNAVAILABLE,
                         "too many slow requests from your address are being received; "
                         "retry shortly");
    }
    return true;
}

void intake_end(intake_t *in)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = slot_of_caller(in);
    if (s != NULL) {
        s->phase = IDLE;
        s->first_request = false;
    }
    pthread_mutex_unlock(&in->lock);
}
