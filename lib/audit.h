/* audit.h — reading the audit log (events.h writes it): an org's events
 * for its owners and admins, an account's own for itself, a page at a
 * time (newest first) or all of them as they are read (oldest first). */
#ifndef ORGD_AUDIT_H
#define ORGD_AUDIT_H

#include <stdbool.h>

#include "access.h"
#include "app.h"
#include "events.h"
#include "requests.h"
#include "sessions.h"

/* The chain of the org ref names, if who may read it (owner or admin;
 * 403 otherwise, 404 no such org). */
bool audit_org_chain(struct app *app, const struct caller *who, const struct access_ref *ref,
                     char chain[EVENT_CHAIN_BUF], struct error *e);
/* The chain of who's own account. */
void audit_account_chain(const struct caller *who, char chain[EVENT_CHAIN_BUF]);

/* A page of chain (newest first): `action` as request_event_action
 * parsed it ("" any), after page->cursor (a previous page's next). The
 * rendered events into *out (a JSON array), the next cursor into next
 * ("" on the last page). */
bool audit_page(struct app *app, const char *chain, const char *action,
                const struct page_request *page, json_t **out, char next[25], struct error *e);

/* Every event of chain oldest first, rendered, to fn (which returns false
 * to stop: the client went away). */
bool audit_each(struct app *app, const char *chain, const char *action,
                bool (*fn)(json_t *event, void *ud), void *ud, struct error *e);

#endif
