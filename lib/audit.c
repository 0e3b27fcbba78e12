#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles.h"

bool audit_org_chain(struct app *app, const struct caller *who, const struct access_ref *ref,
                     char chain[EVENT_CHAIN_BUF], struct error *e)
{
    struct org_described o;
    struct membership m;
    if (!access_org(app, who, ref, ACCESS_ACT, &o, &m, e) ||
        !roles_require(m.role, ACT_READ_EVENTS, e))
        return false;
    snprintf(chain, EVENT_CHAIN_BUF, "org:%s", o.org.id);
    return true;
}

void audit_account_chain(const struct caller *who, char chain[EVENT_CHAIN_BUF])
{
    snprintf(chain, EVENT_CHAIN_BUF, "account:%s", who->account.id);
}

/* A cursor is the seq to continue below, as 24 hex digits (the shape of
 * every cursor of the API). */
static int64_t cursor_seq(const char *cursor)
{
    return cursor[0] != '\0' ? (int64_t)strtoll(cursor, NULL, 16) : 0;
}

bool audit_page(struct app *app, const char *chain, const char *action,
                const struct page_request *page, json_t **out, char next[25], struct error *e)
{
    *out = NULL;
    next[0] = '\0';
    size_t max = (size_t)page->limit + 1, n = 0; /* one more: is there a next page? */
    struct event_row *rows = calloc(max, sizeof *rows);
    if (rows == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok =
        store_events_page(app->store, chain, cursor_seq(page->cursor), action, rows, max, &n, e);
    json_t *list = ok ? json_array() : NULL;
    for (size_t i = 0; ok && i < n && i < (size_t)page->limit; i++) {
        json_t *v = event_render(&rows[i]);
        if (v != NULL)
            json_array_append_new(list, v);
    }
    if (ok && n > (size_t)page->limit)
        snprintf(next, 25, "%024llx", (unsigned long long)rows[page->limit - 1].seq);
    for (size_t i = 0; i < n; i++)
        event_row_free(&rows[i]);
    free(rows);
    *out = list;
    return ok;
}

struct each {
    bool (*fn)(json_t *event, void *ud);
    void *ud;
};

static bool render_each(const struct event_row *r, void *ud)
{
    struct each *w = ud;
    json_t *v = event_render(r);
    bool go = v == NULL || w->fn(v, w->ud);
    json_decref(v);
    return go;
}

bool audit_each(struct app *app, const char *chain, const char *action,
                bool (*fn)(json_t *event, void *ud), void *ud, struct error *e)
{
    struct each w = {fn, ud};
    return store_events_each(app->store, chain, action, render_each, &w, e);
}
