/* metrics_page.c — GET /metrics in the Prometheus text format.
 *
 * The counters live in lib/metrics.c; this page adds hashes in flight from
 * the hasher. Organizations by state are counted by the maintenance thread
 * at most once a second (service/main.c), so a scrape sends no query: scraping
 * often costs the database nothing. A database that did not answer the
 * last count leaves them out (with orgd_mongo_up 0); the page is still a 200. Which port serves
 * this page is decided by the dispatcher (METRICS_PORT). */
#include "handlers.h"
#include "metrics.h"

#include <stdlib.h>

_Static_assert(R_COUNT <= METRICS_ROUTES_MAX, "lib/metrics.h: raise METRICS_ROUTES_MAX");

/* Far above any real page (every series of every route is a few hundred KiB). */
#define METRICS_PAGE_MAX (4u << 20)

bool handle_metrics(struct request *r, struct error *e)
{
    struct metrics_scrape x = {.hashes_in_flight = hasher_in_flight(r->app->hasher)};
    metrics_get_orgs(&x); /* counted by the maintenance thread: no query here */
    size_t len = 0;
    char *text = metrics_render(&x, METRICS_PAGE_MAX, &len);
    if (text == NULL)
        return error_set(e, ERR_UNAVAILABLE, "the metrics page could not be rendered");
    http_send_bytes(r, METRICS_CONTENT_TYPE, text, len);
    free(text);
    return true;
}
