/* Webhooks and SSRF: no endpoint leads inside, at creation and at each
 * attempt (a name that resolves elsewhere when sent to, a redirect); https
 * only unless allowed; an endpoint subscribes only to actions that exist.
 * The receiver (harness_webhooks.h) stands where orgd must not send. The
 * signed event and managing endpoints are test_webhooks.c; delivery that
 * survives outages, test_webhooks_outages.c. */
#include <setjmp.h>
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

static struct th_orgd *const O = &th_shared_orgd;

/* ---- no SSRF ---- */

/* Without WEBHOOK_ALLOWED_NETWORKS (and with http allowed, so that the
 * scheme is not what refuses), creation refuses every URL that leads to
 * loopback, private, link-local, CGNAT, multicast, reserved or unspecified
 * addresses, however the address is written, and one naming a host that
 * resolves to one (localhost); and a URL carrying credentials. A public
 * address is accepted: it is the address that is refused. PATCH checks
 * the same. */
static void creation_refuses_urls_that_lead_inside(void **state)
{
    (void)state;
    const char *env[] = {TH_WH_ALLOW_HTTP, NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    struct th_wh_tenant t;
    th_wh_tenant_new(o, &t, "Inside");
    char list[128];
    snprintf(list, sizeof list, "/organization/%s/webhooks", t.org);
    const char *inside[] = {
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.0.0.1:8000/hook",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::7f00:1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://0.0.0.0/",
        "http://0/",
        "http://255.255.255.255/",
        "http://198.18.0.1/",
        "https://127.0.0.1/",
    };
    for (size_t k = 0; k < sizeof inside / sizeof inside[0]; k++) {
        char body[256];
        snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"*\"]}", inside[k]);
        th_expect_problem(o, "POST", list, t.owner.t.access, body, 422, "url");
    }
    /* credentials, whatever the host: refused for them, not for the host */
    const char *with_credentials[] = {
        "https://user:pass@example.com/", "https://user:pass@93.184.215.14/",
        "https://user@93.184.215.14/", "https://:pass@93.184.215.14/"};
    for (size_t k = 0; k < sizeof with_credentials / sizeof with_credentials[0]; k++) {
        char body[256];
        snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"*\"]}", with_credentials[k]);
        struct th_resp r;
        assert_true(th_http_json(o, "POST", list, t.owner.t.access, body, &r));
        if (!th_is_problem(&r, 422) || !th_names_field(&r, "url") ||
            strstr(r.body, "credentials") == NULL)
            fail_msg("%s: expected a 422 about its credentials, got %ld: %s", with_credentials[k],
                     r.status, r.body);
        th_resp_free(&r);
    }
    th_expect_problem(o, "POST", list, t.owner.t.access,
                      "{\"url\":\"ftp://93.184.215.14/\",\"events\":[\"*\"]}", 422, "url");
    th_expect_problem(o, "POST", list, t.owner.t.access,
                      "{\"url\":\"not a url\",\"events\":[\"*\"]}", 422, "url");
    /* a public address is fine (nothing is sent: it subscribes to nothing
     * that happens here) */
    json_t *j = th_expect_json(
        o, "POST", list, t.owner.t.access,
        json_pack("{s:s, s:[s]}", "url", "http://93.184.215.14/hook", "events", "org.deleted"),
        201);
    th_secret_remember(th_json_str(j, "secret"));
    char path[200];
    snprintf(path, sizeof path, "%s/%s", list, th_json_str(j, "id"));
    json_decref(j);
    for (size_t k = 0; k < 4; k++) {
        char body[256];
        snprintf(body, sizeof body, "{\"url\":\"%s\"}", inside[k]);
        th_expect_problem(o, "PATCH", path, t.owner.t.access, body, 422, "url");
    }
    th_expect_status(o, "DELETE", path, t.owner.t.access, NULL, 204);
    j = th_list_all(o, list, t.owner.t.access, NULL);
    assert_int_equal(json_array_size(j), 0); /* none of the refused was made */
    json_decref(j);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* https only unless WEBHOOK_ALLOW_HTTP=true (the shared orgd has the
 * default). */
static void http_is_refused_unless_allowed(void **state)
{
    (void)state;
    struct th_wh_tenant t;
    th_wh_tenant_new(O, &t, "Https");
    char list[128];
    snprintf(list, sizeof list, "/organization/%s/webhooks", t.org);
    th_expect_problem(O, "POST", list, t.owner.t.access,
                      "{\"url\":\"http://93.184.215.14/hook\",\"events\":[\"org.deleted\"]}", 422,
                      "url");
    json_t *j = th_expect_json(
        O, "POST", list, t.owner.t.access,
        json_pack("{s:s, s:[s]}", "url", "https://93.184.215.14/hook", "events", "org.deleted"),
        201);
    char path[200];
    snprintf(path, sizeof path, "%s/%s", list, th_json_str(j, "id"));
    json_decref(j);
    th_expect_problem(O, "PATCH", path, t.owner.t.access, "{\"url\":\"http://93.184.215.14/\"}",
                      422, "url");
    th_expect_status(O, "DELETE", path, t.owner.t.access, NULL, 204);
}

/* POSTs, on the shared orgd as t's owner, an endpoint at a public https
 * URL subscribing to `events` (a JSON array's text); r holds the answer
 * (free it with th_resp_free). */
static void post_a_public_endpoint_subscribing_to(const struct th_wh_tenant *t, const char *events,
                                                  struct th_resp *r)
{
    char list[128], body[256];
    snprintf(list, sizeof list, "/organization/%s/webhooks", t->org);
    snprintf(body, sizeof body, "{\"url\":\"https://93.184.215.14/hook\",\"events\":%s}", events);
    assert_true(th_http_json(O, "POST", list, t->owner.t.access, body, r));
}

/* An endpoint subscribes to actions that exist (DESIGN's list), families
 * of them, or everything; a name that is no action (a typo) would be an
 * endpoint that silently never hears anything, so it is refused like any
 * other invalid field. On the shared orgd, with a public https URL
 * (nothing is ever sent: the endpoints are deleted at once). */
static void subscriptions_name_actions_that_exist(void **state)
{
    (void)state;
    struct th_wh_tenant t;
    th_wh_tenant_new(O, &t, "Actions");
    char list[128];
    snprintf(list, sizeof list, "/organization/%s/webhooks", t.org);
    const char *good[] = {"[\"*\"]", "[\"org.*\"]", "[\"member.removed\",\"org.renamed\"]",
                          "[\"webhook.disabled\"]"};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        struct th_resp r;
        post_a_public_endpoint_subscribing_to(&t, good[k], &r);
        if (r.status != 201)
            fail_msg("POST events %s answered %ld: %s", good[k], r.status, r.body);
        char path[200];
        snprintf(path, sizeof path, "%s/%s", list, th_json_str(r.json, "id"));
        th_resp_free(&r);
        th_expect_status(O, "DELETE", path, t.owner.t.access, NULL, 204);
    }
    /* a URL longer than orgd keeps */
    char *too_long = malloc(2300);
    int n = snprintf(too_long, 2300, "{\"url\":\"https://93.184.215.14/");
    for (; n < 2200; n++)
        too_long[n] = 'a';
    snprintf(too_long + n, 2300 - (size_t)n, "\",\"events\":[\"*\"]}");
    th_expect_problem(O, "POST", list, t.owner.t.access, too_long, 422, "url");
    free(too_long);
    const char *bad[] = {"[]",  "[\"\"]",         "[\"Org.renamed\"]",   "[\"org.**\"]",
                         "[7]", "[\"nonsense\"]", "[\"member.remove\"]", "[\"nothing.*\"]"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct th_resp r;
        post_a_public_endpoint_subscribing_to(&t, bad[k], &r);
        bool refused = (r.status == 422 || r.status == 400) && th_names_field(&r, "events");
        if (!refused)
            fail_msg("events %s: expected a 422 naming events, got %ld: %s", bad[k], r.status,
                     r.body);
        th_resp_free(&r);
    }
}

static void expect_refused_attempt(const json_t *ds, const char *address)
{
    json_t *a = th_wh_attempt(json_array_get(ds, 0), 0);
    const char *error = th_wh_str_of(a, "error");
    printf("# attempt: status %s, error \"%s\", state %s\n",
           json_is_null(json_object_get(a, "status")) ? "null" : "set", error,
           th_wh_str_of(json_array_get(ds, 0), "state"));
    if (strncmp(error, "refused", 7) != 0 || strstr(error, address) == NULL)
        fail_msg("the attempt's log says \"%s\", not that %s was refused", error, address);
    assert_true(json_is_null(json_object_get(a, "status")));
}

/* The check is made at every attempt, on the address connected to. An
 * endpoint on loopback, made while WEBHOOK_ALLOWED_NETWORKS allowed it, is
 * refused once orgd runs without it. And a host name that resolved to an
 * allowed address when the endpoint was made but resolves to another when
 * sent to (DNS rebinding; orgd-faults's ORGD_TEST_RESOLVE plays the
 * attacker's DNS) is refused at the attempt: the log says refused, and
 * the receiver listening at that address gets nothing. The control: with
 * that address allowed, the same endpoint's redelivery does reach it, so
 * it is the check, not the test's plumbing, that stopped it. */
static void each_attempt_checks_the_address_it_connects_to(void **state)
{
    (void)state;
    const char *not_allowed[] = {TH_WH_ALLOW_HTTP, TH_WH_QUICK_RETRIES, TH_WH_SHORT_TIMEOUT, NULL};
    struct th_wh_tenant t;
    struct th_wh_hook h;
    struct th_orgd *o =
        th_wh_start_orgd_with_an_endpoint(TH_WH_QUICK_RETRIES, &t, "Rebound", "inside", &h);
    assert_int_equal(th_orgd_stop(o), 0);
    assert_true(th_orgd_start(o, not_allowed));
    th_wh_describe(o, &t, "to loopback, now refused");
    json_t *ds = th_wh_wait_attempted(o, &t, &h, 10000);
    expect_refused_attempt(ds, "127.0.0.1");
    json_decref(ds);
    tu_sleep_ms(1500); /* a retry, if any, has come and gone */
    json_t *got = th_rx_arrivals(&th_rx, "inside");
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    assert_int_equal(th_orgd_stop(o), 0);
    th_wh_stop_everything(NULL);

    /* rebinding: localhost resolves to 127.0.0.1 (allowed) when made, to
     * 127.0.0.2 (loopback, not allowed) when sent to */
    th_rx_start(&th_rx_alt, "127.0.0.2", 0);
    char resolve[96];
    snprintf(resolve, sizeof resolve, "ORGD_TEST_RESOLVE=localhost:%d:127.0.0.2", th_rx_alt.port);
    const char *rebinding[] = {"WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32,::1/128",
                               TH_WH_ALLOW_HTTP,
                               TH_WH_QUICK_RETRIES,
                               TH_WH_SHORT_TIMEOUT,
                               resolve,
                               NULL};
    o = th_own_orgd_start(th_orgd_faults_bin(), rebinding);
    th_wh_tenant_new(o, &t, "Rebinding");
    char url[128], list[128];
    snprintf(url, sizeof url, "http://localhost:%d/hook/rebound", th_rx_alt.port);
    snprintf(list, sizeof list, "/organization/%s/webhooks", t.org);
    json_t *j = th_expect_json(o, "POST", list, t.owner.t.access,
                               json_pack("{s:s, s:[s]}", "url", url, "events", "org.*"), 201);
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "rebound");
    snprintf(h.id, sizeof h.id, "%s", th_json_str(j, "id"));
    snprintf(h.secret, sizeof h.secret, "%s", th_json_str(j, "secret"));
    snprintf(h.path, sizeof h.path, "%s/%s", list, h.id);
    th_secret_remember(h.secret);
    th_rx_secret(&th_rx_alt, "rebound", h.secret);
    json_decref(j);
    th_wh_describe(o, &t, "to a name that moved");
    ds = th_wh_wait_attempted(o, &t, &h, 10000);
    expect_refused_attempt(ds, "127.0.0.2");
    char redeliver[200];
    snprintf(redeliver, sizeof redeliver, "/organization/%s/deliveries/%s/redeliver", t.org,
             th_wh_str_of(json_array_get(ds, 0), "id"));
    char message[32];
    snprintf(message, sizeof message, "%s", th_wh_str_of(json_array_get(ds, 0), "message_id"));
    json_decref(ds);
    json_decref(th_wh_wait_settled(o, &t, &h, 1, 15000)); /* retries, if any, refused too */
    got = th_rx_arrivals(&th_rx_alt, "rebound");
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);

    /* the control: allowed, the same name reaches the receiver at 127.0.0.2 */
    assert_int_equal(th_orgd_stop(o), 0);
    const char *control[] = {"WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8",
                             TH_WH_ALLOW_HTTP,
                             TH_WH_QUICK_RETRIES,
                             TH_WH_SHORT_TIMEOUT,
                             resolve,
                             NULL};
    assert_true(th_orgd_start(o, control));
    th_expect_status(o, "POST", redeliver, t.owner.t.access, NULL, 202);
    json_t *ids = json_pack("[s]", message);
    json_decref(th_rx_wait_accepted(&th_rx_alt, "rebound", ids, 10000));
    json_decref(ids);
    assert_int_equal(th_orgd_stop(o), 0);
}

/* A receiver answering 302 to another address is not followed: the
 * attempt logs the 302 as a failure, and the address it points to gets
 * nothing, at this attempt or any retry. */
static void a_redirect_is_not_followed(void **state)
{
    (void)state;
    struct th_wh_tenant t;
    struct th_wh_hook h;
    struct th_orgd *o = th_wh_start_orgd_with_an_endpoint("WEBHOOK_RETRY_SCHEDULE=1,1", &t,
                                                          "Redirect", "redirecting", &h);
    char target[160], mode[200];
    th_rx_url(&th_rx, "target", target, sizeof target);
    th_rx_secret(&th_rx, "target", h.secret); /* it would verify there, were it sent */
    snprintf(mode, sizeof mode, "redirect:%s", target);
    th_rx_mode(&th_rx, "redirecting", mode);
    th_wh_describe(o, &t, "sent where it was told");
    json_t *ds = th_wh_wait_settled(o, &t, &h, 1, 15000);
    json_t *d = json_array_get(ds, 0);
    assert_string_equal(th_wh_str_of(d, "state"), "failed");
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 3);
    for (size_t k = 0; k < 3; k++) {
        json_t *a = th_wh_attempt(d, k);
        assert_int_equal(th_wh_status_of_attempt(a), 302);
        assert_false(json_is_null(json_object_get(a, "error")));
    }
    json_decref(ds);
    json_t *got = th_rx_arrivals(&th_rx, "redirecting");
    assert_int_equal(json_array_size(got), 3);
    json_decref(got);
    got = th_rx_arrivals(&th_rx, "target");
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    assert_int_equal(th_orgd_stop(o), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define OWN(test) cmocka_unit_test_teardown(test, th_wh_stop_everything)
    const struct CMUnitTest tests[] = {
        OWN(creation_refuses_urls_that_lead_inside),
        cmocka_unit_test(http_is_refused_unless_allowed),
        cmocka_unit_test(subscriptions_name_actions_that_exist),
        OWN(each_attempt_checks_the_address_it_connects_to),
        OWN(a_redirect_is_not_followed),
        cmocka_unit_test(th_case_no_secret_in_the_database),
        cmocka_unit_test(th_case_check_is_clean),
    };
#undef OWN
    return th_run_with_shared_orgd(tests);
}
