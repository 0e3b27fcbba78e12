/* metrics_page.c — GET /metrics in the Prometheus text format.
 *
 * The counters live in lib/metrics.c; this page adds what is read at scrape
 * time: hashes in flight from the hasher, organizations by state from the
 * database. A database that does not answer leaves those out (with
 * orgd_mongo_up 0) and the page is still a 200: a scrape must not fail
 * because one source is down. Which port serves this page is decided by the
 * dispatcher (METRICS_PORT). */
#include "handlers.h"
#include "metrics.h"

#include <stdlib.h>

_Static_assert(R_COUNT <= METRICS_ROUTES_MAX, "lib/metrics.h: raise METRICS_ROUTES_MAX");

/* Far above any real page (every series of every route is a few hundred KiB). */
#define METRICS_PAGE_MAX (4u << 20)

bool handlers_metrics(struct request *r, struct error *e)
{
    struct metrics_scrape x = {.hashes_in_flight = hasher_in_flight(r->app->hasher),
                               .db_known = true};
    struct error db = ERROR_INIT; /* a database that does not answer is a gauge, not an error */
    x.db_up = store_org_count_by_state(r->app->store, x.orgs, &db);
    size_t len = 0;
    char *text = metrics_render(&x, METRICS_PAGE_MAX, &len);
    if (text == NULL)
        return error_set(e, ERR_UNAVAILABLE, "the metrics page could not be rendered");
    http_send_bytes(r, METRICS_CONTENT_TYPE, text, len);
    free(text);
    return true;
}
