/* check_events.h — the audit log's part of `orgd check` (check.c calls
 * it with what it read): chains, drafts, and the log against the data. */
#ifndef ORGD_CHECK_EVENTS_H
#define ORGD_CHECK_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"

struct check_events_input {
    struct app *app;
    bool repair;
    int64_t cutoff; /* what is younger is in progress */
    const struct org *orgs;
    size_t norgs;
    const struct membership *members;
    size_t nmembers;
    void *run; /* check.c's, for found */
    void (*found)(void *run, const char *kind, bool repaired, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
};

/* Reports broken_chain (the first broken seq of a chain), unappended_event
 * (a draft older than the cutoff not in the log; appended with repair),
 * event_missing and event_mismatch (the log against the data). False only
 * when the database failed. */
bool check_events(const struct check_events_input *in, struct error *e);

#endif
