/* handlers_events.c — the audit log: GET /organization/{id}/events,
 * GET /org/{name}/events (owners and admins) and GET /auth/events (the
 * caller's own account). A page at a time, newest first, paged by the
 * Link header as every list; or, with Accept: application/x-ndjson, every
 * event oldest first, one JSON object per line, sent as it is read. */
#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "handlers-private.h"
#include "log.h"

/* The client asked for the whole log as NDJSON. */
static bool wants_ndjson(const struct request *r)
{
    const char *accept = mg_get_header(r->conn, "Accept");
    return accept != NULL && strstr(accept, "application/x-ndjson") != NULL;
}

static bool stream_line(json_t *event, void *ud)
{
    struct request *r = ud;
    char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return false;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for its own NUL: the newline takes it */
    bool go = http_stream_write(r, text, len + 1);
    free(text);
    return go;
}

/* Answers chain's events as the request asks: a page, or all as NDJSON. */
static bool send_events(struct request *r, const char *chain, struct error *e)
{
    char action_text[64] = "", action[40];
    bool has_action = false;
    struct page_request page;
    if (!http_query_param(r->query, "action", action_text, sizeof action_text, &has_action, e) ||
        !request_event_action(has_action ? action_text : NULL, action, e))
        return false;
    if (wants_ndjson(r)) {
        /* the head goes first; a failure after it cuts the stream off
         * without its last chunk, and closes the connection: the client
         * sees a broken answer, never a short log that looks whole */
        http_stream_begin(r, "application/x-ndjson");
        struct error se = ERROR_INIT;
        if (audit_each(r->app, chain, action, stream_line, r, &se)) {
            http_stream_end(r);
        } else {
            r->close = true;
            log_emit(LOG_WARN, "event stream cut off",
                     json_pack("{s:s, s:s}", "chain", chain, "error", se.message));
        }
        return true;
    }
    if (!handlers__page(r, &page, e))
        return false;
    if (action[0] != '\0') /* the next page keeps it (request_event_action checked it) */
        snprintf(page.filter, sizeof page.filter, "action=%s", action);
    json_t *list = NULL;
    char next[25];
    if (!audit_page(r->app, chain, action, &page, &list, next, e))
        return false;
    handlers__send_page(r, list, next, &page);
    return true;
}

bool handle_organization_events(struct request *r, struct error *e)
{
    struct caller who;
    char chain[EVENT_CHAIN_BUF];
    const struct access_ref ref = {.id = r->param};
    return handlers__authenticate(r, &who, e) && audit_org_chain(r->app, &who, &ref, chain, e) &&
           send_events(r, chain, e);
}

bool handle_org_events(struct request *r, struct error *e)
{
    struct caller who;
    char chain[EVENT_CHAIN_BUF];
    if (!names_org_valid(r->param, strlen(r->param), "organization_name", e))
        return error_set(e, ERR_INVALID, "request validation failed");
    const struct access_ref ref = {.name = r->param};
    return handlers__authenticate(r, &who, e) && audit_org_chain(r->app, &who, &ref, chain, e) &&
           send_events(r, chain, e);
}

bool handle_auth_events(struct request *r, struct error *e)
{
    struct caller who;
    char chain[EVENT_CHAIN_BUF];
    if (!handlers__authenticate(r, &who, e))
        return false;
    audit_account_chain(&who, chain);
    return send_events(r, chain, e);
}
