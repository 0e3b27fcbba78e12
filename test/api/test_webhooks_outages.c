/* Webhook delivery that survives, seen from the receiver
 * (harness_webhooks.h): a receiver that is down or not listening for a
 * while, orgd killed mid-delivery, two instances on one database, and a
 * receiver that hangs, which slows neither requests nor other endpoints.
 * The signed event and managing endpoints are test_webhooks.c; no SSRF,
 * test_webhooks_ssrf.c.
 *
 * Every test runs its own orgd with short settings (WEBHOOK_RETRY_SCHEDULE
 * of seconds, WEBHOOK_TIMEOUT_SECONDS=2) and
 * WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8, because the receiver is on
 * loopback, which webhooks may not reach otherwise. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "harness_webhooks.h"
#include "testutil.h"

/* How long an attempt's lease lasts: WEBHOOK_TIMEOUT_SECONDS plus orgd's
 * 5 s of slack (delivery.c). A delivery whose sender died is sent again
 * after it. */
#define LEASE_MS 7000

/* Ids of the org.* events since endpoint h was made, oldest first: fails
 * the test unless there are n. */
static json_t *org_events_since(const json_t *events, const struct th_wh_hook *h, size_t n)
{
    json_t *ids = th_wh_ids_after(events, th_wh_created_seq(events, h), "org.");
    assert_int_equal(json_array_size(ids), n);
    return ids;
}

/* ---- delivery that survives ---- */

/* Checks the arrivals of `ids` (the events, oldest first) at an endpoint
 * after retries settled: each arrived, accepted, under its own event's id;
 * no seq arrived under two ids; sorted by seq they are contiguous. */
static void expect_every_event_once_in_seq(const json_t *events, const json_t *ids,
                                           const json_t *got)
{
    json_int_t lo = INT64_MAX, hi = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const json_t *ev = th_wh_event_by_id(events, json_string_value(v));
        json_t *a = th_wh_accepted_arrival(got, json_string_value(v));
        if (a == NULL)
            fail_msg("event %s never arrived", json_string_value(v));
        assert_true(json_is_true(json_object_get(a, "valid")));
        if (json_integer_value(json_object_get(a, "seq")) != th_wh_seq_of(ev))
            fail_msg("event %s arrived with seq %lld, not %lld", json_string_value(v),
                     (long long)json_integer_value(json_object_get(a, "seq")),
                     (long long)th_wh_seq_of(ev));
        lo = th_wh_seq_of(ev) < lo ? th_wh_seq_of(ev) : lo;
        hi = th_wh_seq_of(ev) > hi ? th_wh_seq_of(ev) : hi;
    }
    /* none twice under a different id, and every seq between */
    json_array_foreach(got, i, v)
    {
        json_int_t seq = json_integer_value(json_object_get(v, "seq"));
        const json_t *ev = th_wh_event_by_id(events, th_wh_str_of(v, "webhook_id"));
        if (ev == NULL || th_wh_seq_of(ev) != seq)
            fail_msg("an arrival with webhook-id %s and seq %lld is no event of the log",
                     th_wh_str_of(v, "webhook_id"), (long long)seq);
    }
    assert_int_equal(hi - lo + 1, (json_int_t)json_array_size(ids));
}

/* The receiver answers 500 for a while (down), then 2xx: every event
 * arrives once it is up, each under its own id, all seqs with none
 * missing; each delivery's log shows the 500s and then the 2xx; the
 * deliveries counter moves by as much. */
static void outage_receiver_down_for_a_while_gets_every_event_once_up(void **state)
{
    (void)state;
    struct th_wh_tenant t;
    struct th_wh_hook h;
    struct th_orgd *o = th_wh_start_orgd_with_an_endpoint("WEBHOOK_RETRY_SCHEDULE=1,1,2,2,2,2", &t,
                                                          "Down", "flaky", &h);
    th_rx_mode(&th_rx, "flaky", "down");
    char *before = th_metrics_scrape(o);
    enum { EVENTS = 10 };
    th_wh_describe_numbered(o, &t, "while down", 0, EVENTS, 100);
    tu_sleep_ms(3000); /* down for four seconds in all: three attempts each */
    th_rx_mode(&th_rx, "flaky", "ok");
    json_t *events = th_wh_events_of(o, &t);
    json_t *ids = org_events_since(events, &h, EVENTS);
    json_decref(th_rx_wait_accepted(&th_rx, "flaky", ids, 20000));
    json_t *ds = th_wh_wait_settled(o, &t, &h, EVENTS, 10000);
    tu_sleep_ms(500);
    json_t *got = th_rx_arrivals(&th_rx, "flaky");
    expect_every_event_once_in_seq(events, ids, got);

    int answered_500 = 0, logged_500 = 0, retried = 0;
    size_t i;
    json_t *v;
    json_array_foreach(got, i, v) answered_500 +=
        json_integer_value(json_object_get(v, "answered")) == 500;
    json_array_foreach(ds, i, v)
    {
        size_t n = json_array_size(json_object_get(v, "log"));
        assert_string_equal(th_wh_str_of(v, "state"), "delivered");
        assert_int_equal(json_integer_value(json_object_get(v, "attempts")), (json_int_t)n);
        for (size_t k = 0; k + 1 < n; k++) {
            if (th_wh_status_of_attempt(th_wh_attempt(v, k)) != 500)
                fail_msg("delivery %s: attempt %zu logs %ld, not the 500 it got",
                         th_wh_str_of(v, "id"), k + 1,
                         th_wh_status_of_attempt(th_wh_attempt(v, k)));
            logged_500++;
        }
        assert_int_equal(th_wh_status_of_attempt(th_wh_attempt(v, n - 1)), 200);
        retried += n > 1;
    }
    assert_int_equal(retried, EVENTS); /* every one met the receiver down */
    assert_int_equal(logged_500, answered_500);
    char *after = th_metrics_scrape(o);
    th_expect_counter_moved(before, after, "orgd_webhook_deliveries_total{result=\"delivered\"}",
                            EVENTS);
    th_expect_counter_moved(before, after, "orgd_webhook_deliveries_total{result=\"retrying\"}",
                            logged_500);
    th_expect_counter_moved(before, after, "orgd_webhook_deliveries_total{result=\"failed\"}", 0);
    /* the order they first got through in */
    printf("# first accepted, in order of arrival:");
    json_array_foreach(got, i, v)
    {
        if (th_wh_accepted(v))
            printf(" %lld", (long long)json_integer_value(json_object_get(v, "seq")));
    }
    printf(" (%d answers of 500 first)\n", answered_500);
    free(before);
    free(after);
    json_decref(got);
    json_decref(ds);
    json_decref(ids);
    json_decref(events);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* A receiver that is not running at all (the connection refused) is down
 * too: once it listens again, every event arrives, well within the retry
 * schedule. */
static void outage_receiver_not_listening_for_a_while_gets_every_event_once_up(void **state)
{
    (void)state;
    struct th_wh_tenant t;
    struct th_wh_hook h;
    struct th_orgd *o = th_wh_start_orgd_with_an_endpoint("WEBHOOK_RETRY_SCHEDULE=1,1,2,2,2,2", &t,
                                                          "Gone", "gone", &h);
    int port = th_rx.port;
    th_rx_stop(&th_rx);
    enum { EVENTS = 5 };
    th_wh_describe_numbered(o, &t, "nobody listens", 0, EVENTS, 0);
    tu_sleep_ms(2500);
    th_rx_start(&th_rx, "127.0.0.1",
                port); /* back on the same address, within the schedule's 10 s */
    json_t *events = th_wh_events_of(o, &t);
    json_t *ids = org_events_since(events, &h, EVENTS);
    int64_t until = tu_now_ms() + 15000;
    size_t arrived = 0;
    json_t *got = NULL;
    for (;;) {
        got = th_rx_arrivals(&th_rx, "gone");
        arrived = 0;
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) arrived +=
            th_wh_accepted_arrival(got, json_string_value(v)) != NULL;
        if (arrived == EVENTS || tu_now_ms() > until)
            break;
        json_decref(got);
        tu_sleep_ms(200);
    }
    if (arrived != EVENTS) {
        json_t *ds = th_wh_deliveries_of(o, &t, &h, 100, NULL);
        char *text = json_dumps(ds, JSON_COMPACT);
        fail_msg("%zu of %d events arrived once the receiver listened again; the deliveries: "
                 "%.3000s",
                 arrived, EVENTS, text);
    }
    expect_every_event_once_in_seq(events, ids, got);
    json_decref(got);
    json_decref(ids);
    json_decref(events);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* orgd is killed (SIGKILL) during an attempt; started again on the same
 * database, it sends the event again once the dead attempt's lease has run
 * out: the event arrives at least once, always under the same webhook-id,
 * and the delivery ends delivered. `fault`: the fault point (NULL: the test
 * kills orgd itself while the receiver hangs); `sent_before`: whether the
 * receiver saw the attempt that was cut short. */
static void killed_mid_delivery(const char *fault, bool sent_before)
{
    char fault_env[80];
    snprintf(fault_env, sizeof fault_env, "FAULT_POINT=%s", fault ? fault : "");
    const char *env[] = {TH_WH_ALLOW_LOOPBACK, TH_WH_ALLOW_HTTP, TH_WH_QUICK_RETRIES,
                         TH_WH_SHORT_TIMEOUT,  fault_env,        NULL};
    const char *again_env[] = {TH_WH_ALLOW_LOOPBACK, TH_WH_ALLOW_HTTP, TH_WH_QUICK_RETRIES,
                               TH_WH_SHORT_TIMEOUT, NULL};
    struct th_orgd *o = th_own_orgd_start(th_orgd_faults_bin(), env);
    th_rx_start(&th_rx, "127.0.0.1", 0);
    struct th_wh_tenant t;
    th_wh_tenant_new(o, &t, "Killed");
    struct th_wh_hook h;
    th_wh_hook_new(o, &t, &th_rx, "killed", "[\"org.*\"]", &h);
    if (fault == NULL)
        th_rx_mode(&th_rx, "killed", "hang:4");
    th_wh_describe(o, &t, "sent when it dies");
    json_t *events = th_wh_events_of(o, &t);
    const char *id = th_wh_str_of(json_array_get(events, 0), "id");
    if (fault == NULL) {
        json_decref(th_rx_wait_count(&th_rx, "killed", 1, 10000)); /* it is being sent: kill */
        kill(o->pid, SIGKILL);
    }
    int code = th_orgd_wait(o, 15000);
    if (code != 128 + SIGKILL)
        fail_msg("orgd did not die at %s: %d", fault ? fault : "the kill", code);
    json_t *got = th_rx_arrivals(&th_rx, "killed");
    assert_int_equal(th_wh_arrivals_of(got, id, false), sent_before ? 1 : 0);
    json_decref(got);
    th_rx_mode(&th_rx, "killed", "ok");

    assert_true(th_orgd_start(o, again_env));
    int64_t restarted = tu_now_ms();
    json_t *ids = json_pack("[s]", id);
    got = th_rx_wait_accepted(&th_rx, "killed", ids, LEASE_MS + 8000);
    printf("# %s: arrived again %lld ms after the restart\n", fault ? fault : "killed by pid",
           (long long)(tu_now_ms() - restarted));
    size_t i;
    json_t *v;
    json_array_foreach(got, i, v)
    {
        assert_string_equal(th_wh_str_of(v, "webhook_id"), id);
        assert_true(json_is_true(json_object_get(v, "valid")));
    }
    json_t *ds = th_wh_wait_settled(o, &t, &h, 1, 10000);
    assert_int_equal(json_array_size(ds), 1);
    assert_string_equal(th_wh_str_of(json_array_get(ds, 0), "message_id"), id);
    assert_string_equal(th_wh_str_of(json_array_get(ds, 0), "state"), "delivered");
    json_decref(ds);
    json_decref(got);
    json_decref(ids);
    json_decref(events);
    th_expect_check_clean(o);
    assert_int_equal(th_orgd_stop(o), 0);
}

static void outage_kill_after_sending_sends_it_again_under_the_same_id(void **state)
{
    (void)state;
    killed_mid_delivery("webhook.after_send", true);
}

static void outage_kill_before_sending_still_sends_it(void **state)
{
    (void)state;
    killed_mid_delivery("webhook.before_send", false);
}

static void outage_kill_while_the_receiver_hangs_sends_it_again(void **state)
{
    (void)state;
    killed_mid_delivery(NULL, true);
}

/* Two instances on one database, one endpoint, a steady stream of 30
 * changes sent to both in turn: each event is delivered exactly once
 * (the receiver answers every one 2xx, well within the timeout, so
 * nothing provokes a retry), and both instances did send some. */
static void two_instances_deliver_each_event_once(void **state)
{
    (void)state;
    const char *env[] = {TH_WH_ALLOW_LOOPBACK, TH_WH_ALLOW_HTTP, TH_WH_QUICK_RETRIES,
                         TH_WH_SHORT_TIMEOUT, NULL};
    struct th_orgd *a = th_own_orgd_start(NULL, env);
    th_wh_second = *a;
    th_wh_second.pid = 0;
    snprintf(th_wh_second.log_path, sizeof th_wh_second.log_path, "%s.second", a->log_path);
    if (!th_orgd_start(&th_wh_second, env))
        fail_msg("the second orgd did not start");
    th_rx_start(&th_rx, "127.0.0.1", 0);
    struct th_wh_tenant t;
    th_wh_tenant_new(a, &t, "Twice");
    struct th_wh_hook h;
    th_wh_hook_new(a, &t, &th_rx, "twice", "[\"org.*\"]", &h);
    /* each answer takes 300 ms, and an instance sends one at a time to an
     * endpoint: with a change every 100 ms, one instance alone could not
     * keep up, so both send, and the lease is what keeps them apart */
    th_rx_mode(&th_rx, "twice", "slow:0.3");
    char *before_a = th_metrics_scrape(a), *before_b = th_metrics_scrape(&th_wh_second);
    enum { EVENTS = 30 };
    for (int k = 0; k < EVENTS; k++) {
        char text[32];
        snprintf(text, sizeof text, "steady %d", k);
        th_wh_describe(k % 2 ? &th_wh_second : a, &t, text);
        tu_sleep_ms(100);
    }
    json_t *events = th_wh_events_of(a, &t);
    json_t *ids = org_events_since(events, &h, EVENTS);
    json_decref(th_rx_wait_accepted(&th_rx, "twice", ids, 20000));
    json_t *ds = th_wh_wait_settled(a, &t, &h, EVENTS, 10000);
    tu_sleep_ms(2000); /* a second sending of any would have come by now */
    json_t *got = th_rx_arrivals(&th_rx, "twice");
    size_t i;
    json_t *v;
    int twice = 0;
    json_array_foreach(ids, i, v)
    {
        int n = th_wh_arrivals_of(got, json_string_value(v), false);
        if (n != 1) {
            printf("# event %s arrived %d times\n", json_string_value(v), n);
            twice++;
        }
    }
    if (twice > 0 || json_array_size(got) != EVENTS)
        fail_msg("%d of %d events were not delivered exactly once (%zu arrivals)", twice, EVENTS,
                 json_array_size(got));
    assert_int_equal(json_array_size(ds), EVENTS);
    json_array_foreach(ds, i, v)
        assert_int_equal(json_integer_value(json_object_get(v, "attempts")), 1);
    char *after_a = th_metrics_scrape(a), *after_b = th_metrics_scrape(&th_wh_second);
    const char *series = "orgd_webhook_deliveries_total{result=\"delivered\"}";
    double by_a = th_metric_counter(after_a, series) - th_metric_counter(before_a, series);
    double by_b = th_metric_counter(after_b, series) - th_metric_counter(before_b, series);
    printf("# delivered by the first instance %.0f, by the second %.0f\n", by_a, by_b);
    assert_true(by_a + by_b == EVENTS);
    assert_true(by_a > 0 && by_b > 0);
    free(before_a);
    free(before_b);
    free(after_a);
    free(after_b);
    json_decref(got);
    json_decref(ds);
    json_decref(ids);
    json_decref(events);
    assert_int_equal(th_orgd_stop(&th_wh_second), 0);
    assert_int_equal(th_orgd_stop(a), 0);
}

/* ---- a slow endpoint delays only itself ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p99 (seconds) of n GET path, one after the other. */
static double p99_of(const struct th_orgd *o, const char *path, const char *token, int n)
{
    double *s = calloc((size_t)n, sizeof *s);
    for (int k = 0; k < n; k++) {
        struct th_resp r;
        assert_true(th_http_json(o, "GET", path, token, NULL, &r));
        assert_int_equal(r.status, 200);
        s[k] = r.seconds;
        th_resp_free(&r);
    }
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double p99 = s[(99 * n + 99) / 100 - 1];
    free(s);
    return p99;
}

/* How long, from `since`, until endpoint `name` of r has accepted every
 * webhook-id of ids; -1 if not within timeout_ms. *arrived: how many did. */
static int64_t time_to_accept(const struct th_wh_receiver *r, const char *name, const json_t *ids,
                              int64_t since, int timeout_ms, size_t *arrived)
{
    for (;;) {
        json_t *got = th_rx_arrivals(r, name);
        *arrived = 0;
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) *arrived +=
            th_wh_accepted_arrival(got, json_string_value(v)) != NULL;
        json_decref(got);
        int64_t now = tu_now_ms();
        if (*arrived == json_array_size(ids))
            return now - since;
        if (now > since + timeout_ms)
            return -1;
        tu_sleep_ms(50);
    }
}

/* One endpoint sleeps past WEBHOOK_TIMEOUT_SECONDS on every delivery and
 * has a backlog of them. Meanwhile requests are served as fast as when
 * idle: the p99 of GET /organization/{id} (400 requests) within 1.5x of
 * idle, measured while nothing but the hanging goes on (the backlog is
 * queued first). This machine is shared with other test runs, so idle is
 * measured twice, before the endpoint hangs and after it is gone, and the
 * larger is the baseline: a slowdown the hanging causes shows against
 * both. And an endpoint made meanwhile still gets a stream of events (all
 * within 5 s of the last) and then a new event promptly (within 3 s:
 * fan-out and sending each poll every half second), whatever the backlog
 * of the hanging one. */
static void a_hanging_endpoint_slows_neither_requests_nor_other_endpoints(void **state)
{
    (void)state;
    struct th_orgd *o = th_wh_start_orgd_and_receiver(TH_WH_QUICK_RETRIES);
    struct th_wh_tenant t;
    th_wh_tenant_new(o, &t, "Hanging");
    struct th_wh_hook slow, quick;
    th_wh_hook_new(o, &t, &th_rx, "slow", "[\"org.*\"]", &slow);
    char path[96];
    snprintf(path, sizeof path, "/organization/%s", t.org);
    enum { SAMPLES = 400, BACKLOG = 20, STREAM = 10 };
    p99_of(o, path, t.owner.t.access, 50); /* warm: connections, caches */
    double idle_before = p99_of(o, path, t.owner.t.access, SAMPLES);

    th_rx_mode(&th_rx, "slow", "hang:5");
    th_wh_describe_numbered(o, &t, "backlog", 0, BACKLOG, 0);
    int64_t backlog_made = tu_now_ms();
    json_decref(th_rx_wait_count(&th_rx, "slow", 1, 10000)); /* it hangs now */
    for (int64_t until = tu_now_ms() + 10000;;) {            /* and everything is queued */
        json_t *ds = th_wh_deliveries_of(o, &t, &slow, 100, NULL);
        size_t n = json_array_size(ds);
        json_decref(ds);
        if (n == BACKLOG)
            break;
        if (tu_now_ms() > until)
            fail_msg("%zu of %d deliveries queued after 10 s", n, BACKLOG);
        tu_sleep_ms(100);
    }
    double hanging = p99_of(o, path, t.owner.t.access, SAMPLES);
    /* it hung all along: its backlog is still there (each attempt takes
     * the whole timeout) */
    json_t *ds = th_wh_deliveries_of(o, &t, &slow, 100, NULL);
    int failed, pending, attempts;
    th_wh_tally(ds, &failed, &pending, &attempts);
    json_decref(ds);
    assert_true(pending > 0);

    /* the outbox gauges (counted every 5 s) show the backlog waiting */
    while (tu_now_ms() < backlog_made + 6000)
        tu_sleep_ms(100);
    char *scrape = th_metrics_scrape(o);
    double outbox = th_metric_sample(scrape, "orgd_webhook_outbox_pending");
    double oldest = th_metric_sample(scrape, "orgd_webhook_outbox_oldest_seconds");
    printf("# orgd_webhook_outbox_pending %.0f, orgd_webhook_outbox_oldest_seconds %.1f\n", outbox,
           oldest);
    assert_true(outbox >= 1);
    assert_true(oldest > 0);
    free(scrape);

    /* another endpoint: a stream, then one more event */
    th_wh_hook_new(o, &t, &th_rx, "quick", "[\"org.*\"]", &quick);
    th_wh_describe_numbered(o, &t, "stream", 0, STREAM, 0);
    int64_t stream_end = tu_now_ms();
    json_t *events = th_wh_events_of(o, &t);
    json_t *ids = org_events_since(events, &quick, STREAM);
    json_decref(events);
    size_t stream_arrived = 0, next_arrived = 0;
    int64_t stream_took = time_to_accept(&th_rx, "quick", ids, stream_end, 10000, &stream_arrived);
    th_wh_describe(o, &t, "the quick one should hear this");
    int64_t sent = tu_now_ms();
    events = th_wh_events_of(o, &t);
    json_t *next = json_pack("[s]", th_wh_str_of(json_array_get(events, 0), "id"));
    json_decref(events);
    int64_t next_took = time_to_accept(&th_rx, "quick", next, sent, 10000, &next_arrived);
    printf("# the other endpoint: %zu of the %d events of the stream in %s%lld ms of the last; "
           "the next event %s%lld ms\n",
           stream_arrived, STREAM, stream_took < 0 ? "not " : "",
           (long long)(stream_took < 0 ? 10000 : stream_took), next_took < 0 ? "not in " : "in ",
           (long long)(next_took < 0 ? 10000 : next_took));

    /* idle again: the slow endpoint gone, its last attempt over, the
     * other one caught up */
    th_expect_status(o, "DELETE", slow.path, t.owner.t.access, NULL, 204);
    json_decref(th_wh_wait_settled(o, &t, &quick, STREAM + 1, 20000));
    tu_sleep_ms(2500);
    double idle_after = p99_of(o, path, t.owner.t.access, SAMPLES);
    double idle = idle_before > idle_after ? idle_before : idle_after;
    printf("# p99 of GET /organization/{id}: %.2f ms idle before, %.2f ms with an endpoint "
           "hanging (%d of its deliveries pending, %d attempts made), %.2f ms idle after\n",
           idle_before * 1000, hanging * 1000, pending, attempts, idle_after * 1000);
    if (hanging > 1.5 * idle)
        fail_msg("p99 %.2f ms while an endpoint hangs, more than 1.5x the %.2f ms of idle",
                 hanging * 1000, idle * 1000);
    if (stream_took < 0 || stream_took > 5000)
        fail_msg("while one endpoint hung with a backlog, another had %zu of %d events 10 s after "
                 "the last was made",
                 stream_arrived, STREAM);
    if (next_took < 0 || next_took > 3000)
        fail_msg(
            "while one endpoint hung with a backlog, another endpoint of the org waited %s%lld "
            "ms for a new event",
            next_took < 0 ? "more than " : "", (long long)(next_took < 0 ? 10000 : next_took));
    json_decref(next);
    json_decref(ids);
    assert_int_equal(th_orgd_stop(o), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define OWN(test) cmocka_unit_test_teardown(test, th_wh_stop_everything)
    const struct CMUnitTest tests[] = {
        OWN(outage_receiver_down_for_a_while_gets_every_event_once_up),
        OWN(outage_receiver_not_listening_for_a_while_gets_every_event_once_up),
        OWN(outage_kill_after_sending_sends_it_again_under_the_same_id),
        OWN(outage_kill_before_sending_still_sends_it),
        OWN(outage_kill_while_the_receiver_hangs_sends_it_again),
        OWN(two_instances_deliver_each_event_once),
        OWN(a_hanging_endpoint_slows_neither_requests_nor_other_endpoints),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
#undef OWN
    return th_run_with_shared_orgd(tests);
}
