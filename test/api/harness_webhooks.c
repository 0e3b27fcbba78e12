/* harness_webhooks.c — the webhook tests' receiver, orgd, endpoints,
 * events and deliveries: see harness_webhooks.h. */
#include "harness_webhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "testutil.h"

/* ---- the receiver ---- */

struct th_wh_receiver th_rx, th_rx_alt;
struct th_orgd th_wh_second;

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* Writes text to dir/sub/name whole (a rename), so that the receiver never
 * reads half of it. */
static void rx_write(const struct th_wh_receiver *r, const char *sub, const char *name,
                     const char *text)
{
    char path[700], tmp[720];
    snprintf(path, sizeof path, "%s/%s", r->dir, sub);
    make_dir(path);
    snprintf(path, sizeof path, "%s/%s/%s", r->dir, sub, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        fail_msg("cannot write %s: %s", tmp, strerror(errno));
    fputs(text, f);
    fclose(f);
    if (rename(tmp, path) != 0)
        fail_msg("rename %s: %s", tmp, strerror(errno));
}

void th_rx_secret(const struct th_wh_receiver *r, const char *name, const char *secret)
{
    rx_write(r, "secrets", name, secret);
}

void th_rx_mode(const struct th_wh_receiver *r, const char *name, const char *mode)
{
    rx_write(r, "control", name, mode);
}

static const char *receiver_script(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/test/api/webhook_receiver.py", th_source_dir());
    return path;
}

void th_rx_start(struct th_wh_receiver *r, const char *bind, int port)
{
    if (r->dir[0] == '\0') {
        const char *base = getenv("ORGD_TEST_LOG_DIR");
        snprintf(r->dir, sizeof r->dir, "%s/webhooks-XXXXXX", base ? base : "/tmp");
        if (mkdtemp(r->dir) == NULL)
            fail_msg("mkdtemp %s: %s", r->dir, strerror(errno));
    }
    snprintf(r->bind, sizeof r->bind, "%s", bind);
    char port_file[600], log_file[600], port_arg[16];
    snprintf(port_file, sizeof port_file, "%s/port", r->dir);
    snprintf(log_file, sizeof log_file, "%s/receiver.log", r->dir);
    snprintf(port_arg, sizeof port_arg, "%d", port);
    unlink(port_file);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* it dies with the test, as the harness's orgds do */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/bin/python3", "python3", receiver_script(), "--dir", r->dir, "--bind", bind,
              "--port", port_arg, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int waited = 0; waited < 10000; waited += 20) {
        FILE *f = fopen(port_file, "r");
        if (f != NULL) {
            char line[32] = "";
            char *end = NULL;
            if (fgets(line, sizeof line, f) != NULL)
                r->port = (int)strtol(line, &end, 10);
            fclose(f);
            if (end != NULL && end != line && r->port > 0)
                return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            fail_msg("the receiver exited at start (%d); see %s", st, log_file);
        }
        tu_sleep_ms(20);
    }
    fail_msg("the receiver did not listen within 10 s; see %s", log_file);
}

void th_rx_stop(struct th_wh_receiver *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

void th_rx_url(const struct th_wh_receiver *r, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "http://%s:%d/hook/%s", r->bind, r->port, name);
}

json_t *th_rx_arrivals(const struct th_wh_receiver *r, const char *name)
{
    json_t *all = json_array();
    char path[600];
    snprintf(path, sizeof path, "%s/arrivals.jsonl", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return all;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* being written: the next read sees it whole */
        json_t *a = json_loads(line, 0, NULL);
        if (a == NULL)
            fail_msg("the receiver wrote a line that is not JSON: %s", line);
        const char *at = json_string_value(json_object_get(a, "endpoint"));
        if (name == NULL || (at != NULL && strcmp(at, name) == 0))
            json_array_append(all, a);
        json_decref(a);
    }
    free(line);
    fclose(f);
    return all;
}

const char *th_wh_str_of(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

bool th_wh_accepted(const json_t *arrival)
{
    return json_integer_value(json_object_get(arrival, "answered")) == 200;
}

int th_wh_arrivals_of(const json_t *arrivals, const char *id, bool only_accepted)
{
    int n = 0;
    size_t i;
    json_t *a;
    json_array_foreach(arrivals, i, a)
    {
        if (strcmp(th_wh_str_of(a, "webhook_id"), id) == 0 && (!only_accepted || th_wh_accepted(a)))
            n++;
    }
    return n;
}

json_t *th_wh_accepted_arrival(const json_t *arrivals, const char *id)
{
    size_t i;
    json_t *a;
    json_array_foreach(arrivals, i, a)
    {
        if (strcmp(th_wh_str_of(a, "webhook_id"), id) == 0 && th_wh_accepted(a))
            return a;
    }
    return NULL;
}

json_t *th_rx_wait_accepted(const struct th_wh_receiver *r, const char *name, const json_t *ids,
                            int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *arrivals = th_rx_arrivals(r, name);
        size_t i, missing = 0;
        json_t *id;
        char which[1024] = "";
        size_t used = 0;
        json_array_foreach(ids, i, id)
        {
            if (th_wh_accepted_arrival(arrivals, json_string_value(id)) == NULL) {
                missing++;
                if (used < sizeof which - 30)
                    used += (size_t)snprintf(which + used, sizeof which - used, " %s",
                                             json_string_value(id));
            }
        }
        if (missing == 0)
            return arrivals;
        if (tu_now_ms() > until) {
            char *got = json_dumps(arrivals, JSON_COMPACT);
            fail_msg("endpoint %s: %zu of %zu events never arrived within %d ms:%s\narrivals: "
                     "%.3000s",
                     name, missing, json_array_size(ids), timeout_ms, which, got ? got : "");
        }
        json_decref(arrivals);
        tu_sleep_ms(100);
    }
}

json_t *th_rx_wait_count(const struct th_wh_receiver *r, const char *name, size_t n, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *arrivals = th_rx_arrivals(r, name);
        if (json_array_size(arrivals) >= n)
            return arrivals;
        if (tu_now_ms() > until)
            fail_msg("endpoint %s: %zu arrivals within %d ms, not %zu", name,
                     json_array_size(arrivals), timeout_ms, n);
        json_decref(arrivals);
        tu_sleep_ms(50);
    }
}

void th_rx_self_test(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", receiver_script(), "--self-test", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("webhook_receiver.py --self-test failed (%d): its verifier does not match the "
                 "Standard Webhooks test vector",
                 st);
}

long th_rx_post(const struct th_wh_receiver *r, const char *name, const char *id, const char *ts,
                const char *sig, const char *body)
{
    char url[256], h_id[128], h_ts[64], h_sig[256];
    th_rx_url(r, name, url, sizeof url);
    snprintf(h_id, sizeof h_id, "webhook-id: %s", id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "webhook-signature: %s", sig);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, h_id);
    h = curl_slist_append(h, h_ts);
    h = curl_slist_append(h, h_sig);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    fclose(sink);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* ---- orgd, its orgs and endpoints ---- */

int th_wh_stop_everything(void **state)
{
    (void)state;
    th_own_orgd_stop(NULL);
    if (th_wh_second.pid > 0)
        th_orgd_stop(&th_wh_second);
    memset(&th_wh_second, 0, sizeof th_wh_second);
    th_rx_stop(&th_rx);
    th_rx_stop(&th_rx_alt);
    memset(&th_rx, 0, sizeof th_rx);
    memset(&th_rx_alt, 0, sizeof th_rx_alt);
    return 0;
}

void th_wh_tenant_new(const struct th_orgd *o, struct th_wh_tenant *t, const char *prefix)
{
    th_account_new(o, prefix, &t->owner);
    th_org_new(o, t->owner.t.access, prefix, t->org, t->name);
}

void th_wh_hook_new(const struct th_orgd *o, const struct th_wh_tenant *t,
                    const struct th_wh_receiver *r, const char *name, const char *subscribed,
                    struct th_wh_hook *h)
{
    char url[256], path[160], location[200];
    th_rx_url(r, name, url, sizeof url);
    snprintf(path, sizeof path, "/organization/%s/webhooks", t->org);
    json_t *body = json_pack("{s:s, s:o}", "url", url, "events", json_loads(subscribed, 0, NULL));
    char *text = th_json_text(body);
    struct th_resp resp;
    assert_true(th_http_json(o, "POST", path, t->owner.t.access, text, &resp));
    if (resp.status != 201)
        fail_msg("POST %s %s answered %ld: %s", path, text, resp.status, resp.body);
    free(text);
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->id, sizeof h->id, "%s", th_json_str(resp.json, "id"));
    snprintf(h->secret, sizeof h->secret, "%s", th_json_str(resp.json, "secret"));
    snprintf(h->path, sizeof h->path, "/organization/%s/webhooks/%s", t->org, h->id);
    th_secret_remember(h->secret);
    th_rx_secret(r, name, h->secret);
    assert_true(th_resp_header(&resp, "Location", location, sizeof location));
    assert_string_equal(location, h->path);
    assert_string_equal(th_json_str(resp.json, "url"), url);
    assert_true(json_is_true(json_object_get(resp.json, "enabled")));
    /* whsec_ and 32 bytes in standard base64: 44 characters */
    if (strncmp(h->secret, "whsec_", 6) != 0 || strlen(h->secret) != 6 + 44)
        fail_msg("the secret is not whsec_ and 32 bytes of base64: %s", h->secret);
    th_resp_free(&resp);
}

struct th_orgd *th_wh_start_orgd_and_receiver(const char *retries)
{
    const char *env[] = {TH_WH_ALLOW_LOOPBACK, TH_WH_ALLOW_HTTP, retries, TH_WH_SHORT_TIMEOUT,
                         NULL};
    struct th_orgd *o = th_own_orgd_start(NULL, env);
    th_rx_start(&th_rx, "127.0.0.1", 0);
    return o;
}

struct th_orgd *th_wh_start_orgd_with_an_endpoint(const char *retries, struct th_wh_tenant *t,
                                                  const char *prefix, const char *name,
                                                  struct th_wh_hook *h)
{
    struct th_orgd *o = th_wh_start_orgd_and_receiver(retries);
    th_wh_tenant_new(o, t, prefix);
    th_wh_hook_new(o, t, &th_rx, name, "[\"org.*\"]", h);
    return o;
}

void th_wh_describe(const struct th_orgd *o, const struct th_wh_tenant *t, const char *text)
{
    char path[96];
    snprintf(path, sizeof path, "/organization/%s", t->org);
    th_expect_status(o, "PUT", path, t->owner.t.access, json_pack("{s:s}", "description", text),
                     200);
}

void th_wh_describe_numbered(const struct th_orgd *o, const struct th_wh_tenant *t,
                             const char *what, int from, int n, int pause_ms)
{
    for (int k = from; k < from + n; k++) {
        char text[64];
        snprintf(text, sizeof text, "%s %d", what, k);
        th_wh_describe(o, t, text);
        if (pause_ms > 0)
            tu_sleep_ms(pause_ms);
    }
}

json_t *th_wh_events_of(const struct th_orgd *o, const struct th_wh_tenant *t)
{
    char path[128];
    snprintf(path, sizeof path, "/organization/%s/events?limit=100", t->org);
    return th_list_all(o, path, t->owner.t.access, NULL);
}

json_t *th_wh_first_with(const json_t *items, const char *key, const char *value)
{
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (strcmp(th_wh_str_of(item, key), value) == 0)
            return item;
    }
    return NULL;
}

json_t *th_wh_event_by_id(const json_t *events, const char *id)
{
    return th_wh_first_with(events, "id", id);
}

json_int_t th_wh_seq_of(const json_t *ev)
{
    return json_integer_value(json_object_get(ev, "seq"));
}

json_int_t th_wh_created_seq(const json_t *events, const struct th_wh_hook *h)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(th_wh_str_of(ev, "action"), "webhook.created") == 0 &&
            strcmp(th_wh_str_of(json_object_get(ev, "target"), "id"), h->id) == 0)
            return th_wh_seq_of(ev);
    }
    fail_msg("no webhook.created event for endpoint %s", h->id);
    return 0;
}

json_t *th_wh_ids_after(const json_t *events, json_int_t after, const char *prefix)
{
    json_t *ids = json_array();
    for (size_t i = json_array_size(events); i-- > 0;) {
        json_t *ev = json_array_get(events, i);
        if (th_wh_seq_of(ev) > after &&
            strncmp(th_wh_str_of(ev, "action"), prefix, strlen(prefix)) == 0)
            json_array_append_new(ids, json_string(th_wh_str_of(ev, "id")));
    }
    return ids;
}

json_t *th_wh_deliveries_of(const struct th_orgd *o, const struct th_wh_tenant *t,
                            const struct th_wh_hook *h, int limit, size_t *pages)
{
    char path[256];
    snprintf(path, sizeof path, "%s/deliveries?limit=%d", h->path, limit);
    return th_list_all(o, path, t->owner.t.access, pages);
}

json_t *th_wh_wait_settled(const struct th_orgd *o, const struct th_wh_tenant *t,
                           const struct th_wh_hook *h, size_t n, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *ds = th_wh_deliveries_of(o, t, h, 100, NULL);
        size_t pending = 0, i;
        json_t *d;
        json_array_foreach(ds, i, d) pending += strcmp(th_wh_str_of(d, "state"), "pending") == 0;
        if (json_array_size(ds) >= n && pending == 0)
            return ds;
        if (tu_now_ms() > until) {
            char *text = json_dumps(ds, JSON_COMPACT);
            fail_msg("endpoint %s: %zu deliveries, %zu pending after %d ms (want %zu settled): "
                     "%.4000s",
                     h->name, json_array_size(ds), pending, timeout_ms, n, text ? text : "");
        }
        json_decref(ds);
        tu_sleep_ms(200);
    }
}

json_t *th_wh_attempt(const json_t *d, size_t i)
{
    return json_array_get(json_object_get(d, "log"), i);
}

long th_wh_status_of_attempt(const json_t *a)
{
    return (long)json_integer_value(json_object_get(a, "status"));
}

json_t *th_wh_wait_attempted(const struct th_orgd *o, const struct th_wh_tenant *t,
                             const struct th_wh_hook *h, int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *ds = th_wh_deliveries_of(o, t, h, 100, NULL);
        json_t *d = json_array_get(ds, 0);
        if (d != NULL && json_integer_value(json_object_get(d, "attempts")) > 0)
            return ds;
        if (tu_now_ms() > until)
            fail_msg("endpoint %s: no attempt within %d ms", h->name, timeout_ms);
        json_decref(ds);
        tu_sleep_ms(200);
    }
}

void th_wh_tally(const json_t *ds, int *failed, int *pending, int *attempts)
{
    *failed = *pending = *attempts = 0;
    size_t i;
    json_t *d;
    json_array_foreach(ds, i, d)
    {
        *failed += strcmp(th_wh_str_of(d, "state"), "failed") == 0;
        *pending += strcmp(th_wh_str_of(d, "state"), "pending") == 0;
        *attempts += (int)json_integer_value(json_object_get(d, "attempts"));
    }
}
