/* handlers_webhooks.c — an org's webhook endpoints and their deliveries:
 * /organization/{id}/webhooks[/{webhook_id}[/deliveries|/test]] and
 * /organization/{id}/deliveries/{delivery_id}/redeliver (owners and
 * admins). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers-private.h"
#include "util.h"
#include "webhooks.h"

static json_t *time_or_null(int64_t ms)
{
    return ms > 0 ? handlers__time_json(ms) : json_null();
}

static json_t *webhook_json(const struct webhook *w, const char *secret)
{
    json_t *events = json_array();
    for (size_t i = 0; i < w->nevents; i++)
        json_array_append_new(events, json_string(w->events[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:i, s:o}", "id", w->id,
                          "organization_id", w->org_id, "url", w->url, "events", events,
                          "description", w->description, "enabled", w->enabled, "disabled_reason",
                          handlers__string_or_null(w->disabled_reason), "created_at",
                          handlers__time_json(w->created_at), "updated_at",
                          handlers__time_json(w->updated_at), "consecutive_failures",
                          w->consecutive_failures, "failing_since", time_or_null(w->failing_since));
    if (j != NULL && secret != NULL) /* shown this once */
        json_object_set_new(j, "secret", json_string(secret));
    return j;
}

static const char *state_name(enum delivery_state s)
{
    return s == DELIVERY_DELIVERED ? "delivered" : s == DELIVERY_FAILED ? "failed" : "pending";
}

static json_t *delivery_json(const struct delivery *d)
{
    json_t *log = json_array();
    for (int i = 0; i < d->nlast; i++) {
        const struct delivery_attempt *a = &d->last[i];
        json_array_append_new(
            log, json_pack("{s:o, s:o, s:I, s:o, s:s}", "at", handlers__time_json(a->at), "status",
                           a->status > 0 ? json_integer(a->status) : json_null(), "ms",
                           (json_int_t)a->ms, "error", handlers__string_or_null(a->error),
                           "response", a->response));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o}", "id", d->id,
                     "webhook_id", d->webhook_id, "organization_id", d->org_id, "message_id",
                     d->message_id, "action", d->action, "state", state_name(d->state), "attempts",
                     d->attempts, "created_at", handlers__time_json(d->created_at), "next_at",
                     d->state == DELIVERY_PENDING ? time_or_null(d->next_at) : json_null(), "log",
                     log);
}

/* A request's parsed body and the webhook it makes: 16 KB, on the heap
 * rather than the worker's stack (docs/STYLE.md, "Stack"). */
struct webhook_work {
    struct webhook_request req;
    struct webhook w;
};

static struct webhook_work *work_new(struct error *e)
{
    struct webhook_work *k = malloc(sizeof *k);
    if (k == NULL)
        error_set(e, ERR_INTERNAL, "out of memory");
    return k;
}

bool handle_webhooks_create(struct request *r, struct error *e)
{
    struct caller who;
    char secret[WEBHOOK_SECRET_BUF];
    struct webhook_work *k = work_new(e);
    bool ok = k != NULL && handlers__authenticate(r, &who, e) &&
              webhook_request_parse(r->body, r->body_len, true, &k->req, e) &&
              webhooks_create(r->app, &who, r->param, &k->req, &k->w, secret, e);
    if (ok) {
        http_add_header(r, "Location", "/organization/%s/webhooks/%s", k->w.org_id, k->w.id);
        http_send_json(r, 201, webhook_json(&k->w, secret));
        explicit_bzero(secret, sizeof secret);
    }
    free(k);
    return ok;
}

bool handle_webhooks_list(struct request *r, struct error *e)
{
    struct caller who;
    struct page_request page;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e))
        return false;
    size_t max = (size_t)page.limit + 1, n = 0;
    struct webhook *list = calloc(max, sizeof *list);
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = webhooks_list(r->app, &who, r->param, page.cursor, list, max, &n, e);
    if (ok) {
        json_t *items = json_array();
        for (size_t i = 0; i < n && i < (size_t)page.limit; i++)
            json_array_append_new(items, webhook_json(&list[i], NULL));
        handlers__send_page(r, items, n > (size_t)page.limit ? list[page.limit - 1].id : "", &page);
    }
    free(list);
    return ok;
}

bool handle_webhook_get(struct request *r, struct error *e)
{
    struct caller who;
    struct webhook_work *k = work_new(e);
    bool ok = k != NULL && handlers__authenticate(r, &who, e) &&
              webhooks_get(r->app, &who, r->param, r->param2, &k->w, e);
    if (ok)
        http_send_json(r, 200, webhook_json(&k->w, NULL));
    free(k);
    return ok;
}

bool handle_webhook_update(struct request *r, struct error *e)
{
    struct caller who;
    struct webhook_work *k = work_new(e);
    bool ok = k != NULL && handlers__authenticate(r, &who, e) &&
              webhook_request_parse(r->body, r->body_len, false, &k->req, e) &&
              webhooks_update(r->app, &who, r->param, r->param2, &k->req, &k->w, e);
    if (ok)
        http_send_json(r, 200, webhook_json(&k->w, NULL));
    free(k);
    return ok;
}

bool handle_webhook_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) ||
        !webhooks_delete(r->app, &who, r->param, r->param2, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_webhook_deliveries(struct request *r, struct error *e)
{
    struct caller who;
    struct page_request page;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e))
        return false;
    size_t max = (size_t)page.limit + 1, n = 0;
    struct delivery *list = calloc(max, sizeof *list);
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = webhooks_deliveries(r->app, &who, r->param, r->param2, page.cursor, list, max, &n, e);
    if (ok) {
        json_t *items = json_array();
        for (size_t i = 0; i < n && i < (size_t)page.limit; i++)
            json_array_append_new(items, delivery_json(&list[i]));
        handlers__send_page(r, items, n > (size_t)page.limit ? list[page.limit - 1].id : "", &page);
    }
    free(list);
    return ok;
}

bool handle_webhook_test(struct request *r, struct error *e)
{
    struct caller who;
    struct delivery *d = calloc(1, sizeof *d);
    if (d == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = handlers__authenticate(r, &who, e) &&
              webhooks_test(r->app, &who, r->param, r->param2, d, e);
    if (ok)
        http_send_json(r, 202, delivery_json(d));
    free(d);
    return ok;
}

bool handle_delivery_redeliver(struct request *r, struct error *e)
{
    struct caller who;
    struct delivery *d = calloc(1, sizeof *d);
    if (d == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = handlers__authenticate(r, &who, e) &&
              webhooks_redeliver(r->app, &who, r->param, r->param2, d, e);
    if (ok)
        http_send_json(r, 202, delivery_json(d));
    free(d);
    return ok;
}
