/* handle_organization_list.c — the account-first routes: /organization/..., and
 * /invitations. Rendered with the original service's field names (name,
 * description, owner_id, created_date, members). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_first.h"
#include "handlers-private.h"
#include "invitations.h"
#include "members.h"
#include "requests.h"

static json_t *member_json(const struct member_view *v)
{
    return json_pack("{s:s, s:o, s:s, s:s, s:o}", "id", v->m.account_id, "username",
                     handlers__string_or_null(v->username), "email", v->email, "role",
                     role_name(v->m.role), "member_at", handlers__time_json(v->m.member_at));
}

static json_t *members_json(const struct member_view *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, member_json(&items[i]));
    return a;
}

/* An org as the account-first routes show it, with the caller's role:
 * `name` is the display text, `slug` the org name the collection is named
 * by and the org-first routes find the org by. */
static json_t *org_json(const struct org_described *o, enum role role)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "id", o->org.id, "name",
                     o->org.display_name, "slug", o->org.name, "description", o->description,
                     "owner_id", o->org.owner_id, "collection_name", o->org.collection,
                     "created_date", handlers__time_json(o->org.created_at), "updated_date",
                     handlers__time_json(o->org.updated_at), "role", role_name(role));
}

static json_t *org_view_json(const struct account_first_view *v)
{
    json_t *body = org_json(&v->org, v->role);
    if (body != NULL)
        json_object_set_new(body, "members", members_json(v->members, v->nmembers));
    return body;
}

json_t *handlers__invitation_json(const struct invitation_view *v)
{
    const struct invitation *i = &v->inv;
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", i->id, "organization_id", i->org_id,
        "organization_name", v->org_name, "email", i->email, "role", role_name(i->role), "status",
        invitation_status_name(i->status), "invited_by", i->invited_by, "created_at",
        handlers__time_json(i->created_at), "expires_at", handlers__time_json(i->expires_at));
    if (body != NULL && v->token[0] != '\0')
        json_object_set_new(body, "token", json_string(v->token));
    return body;
}

static void note_org(struct request *r, const char *id)
{
    snprintf(r->org_id, sizeof r->org_id, "%.24s", id); /* an id, or a path segment */
}

bool handle_organization_list(struct request *r, struct error *e)
{
    struct caller who;
    struct page_request page;
    struct account_first_page list;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e) ||
        !account_first_list(r->app, &who, &page, &list, e))
        return false;
    json_t *items = json_array();
    for (size_t i = 0; items != NULL && i < list.n; i++)
        json_array_append_new(items, org_json(&list.items[i].org, list.items[i].role));
    free(list.items);
    handlers__send_page(r, items, list.next_cursor, &page);
    return true;
}

/* Sends v (status) and frees it. */
static bool send_org(struct request *r, int status, struct account_first_view *v)
{
    note_org(r, v->org.org.id);
    if (status == 201)
        http_add_header(r, "Location", "/organization/%s", v->org.org.id);
    http_send_json(r, status, org_view_json(v));
    account_first_view_free(v);
    return true;
}

/* POST /organization/ (create) and PUT /organization/{id}. */
static bool write_org(struct request *r, bool create, struct error *e)
{
    struct caller who;
    struct org_request *req = malloc(sizeof *req); /* a description is 4 KiB: not on the stack */
    struct account_first_view v;
    if (req == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = handlers__authenticate(r, &who, e) &&
              request_org_parse(r->body, r->body_len, create, req, e) &&
              (create ? account_first_create(r->app, &who, req, r->client, &v, e)
                      : account_first_update(r->app, &who, r->param, req, &v, e));
    free(req);
    return ok && send_org(r, create ? 201 : 200, &v);
}

bool handle_organization_create(struct request *r, struct error *e)
{
    return write_org(r, true, e);
}

bool handle_organization_get(struct request *r, struct error *e)
{
    struct caller who;
    struct account_first_view v;
    return handlers__authenticate(r, &who, e) && account_first_get(r->app, &who, r->param, &v, e) &&
           send_org(r, 200, &v);
}

bool handle_organization_update(struct request *r, struct error *e)
{
    return write_org(r, false, e);
}

bool handle_organization_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) || !account_first_delete(r->app, &who, r->param, e))
        return false;
    note_org(r, r->param);
    http_send_empty(r, 204);
    return true;
}

bool handle_members(struct request *r, struct error *e)
{
    struct caller who;
    struct page_request page;
    struct member_page list;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e) ||
        !members_list(r->app, &who, r->param, &page, &list, e))
        return false;
    json_t *items = members_json(list.items, list.n);
    free(list.items);
    handlers__send_page(r, items, list.next_cursor, &page);
    return true;
}

bool handle_member_role(struct request *r, struct error *e)
{
    struct caller who;
    enum role role = ROLE_MEMBER;
    struct member_view v;
    if (!handlers__authenticate(r, &who, e) ||
        !request_role_parse(r->body, r->body_len, &role, e) ||
        !members_set_role(r->app, &who, r->param, r->param2, role, &v, e))
        return false;
    http_send_json(r, 200, member_json(&v));
    return true;
}

bool handle_member_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) ||
        !members_remove(r->app, &who, r->param, r->param2, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_invite(struct request *r, struct error *e)
{
    struct caller who;
    struct invite_request req;
    struct invitation_view v;
    if (!handlers__authenticate(r, &who, e) ||
        !request_invite_parse(r->body, r->body_len, &req, e) ||
        !invitations_create(r->app, &who, r->param, &req, &v, e))
        return false;
    note_org(r, v.inv.org_id);
    json_t *body = handlers__invitation_json(&v);
    /* message: what the account-first original answered, and its clients read */
    json_object_set_new(body, "message", json_string("invitation created"));
    http_send_json(r, 201, body);
    explicit_bzero(v.token, sizeof v.token);
    return true;
}

/* A page of the pending invitations of org r->param (mine: to the caller
 * instead), newest first. */
static bool list_invitations(struct request *r, bool mine, struct error *e)
{
    struct caller who;
    struct page_request page;
    if (!handlers__authenticate(r, &who, e) || !handlers__page(r, &page, e))
        return false;
    size_t limit = (size_t)page.limit, n = 0;
    /* one more than the page: there is a next page only if it came */
    struct invitation_view *list = calloc(limit + 1, sizeof *list);
    if (list == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    bool ok = mine ? invitations_mine(r->app, &who, page.cursor, list, limit + 1, &n, e)
                   : invitations_list(r->app, &who, r->param, page.cursor, list, limit + 1, &n, e);
    char next[ID_BUF] = "";
    if (ok && n > limit) {
        n = limit;
        memcpy(next, list[n - 1].inv.id, ID_BUF);
    }
    json_t *items = ok ? json_array() : NULL;
    for (size_t i = 0; items != NULL && i < n; i++)
        json_array_append_new(items, handlers__invitation_json(&list[i]));
    free(list);
    if (ok)
        handlers__send_page(r, items, next, &page);
    return ok;
}

bool handle_invitations(struct request *r, struct error *e)
{
    return list_invitations(r, false, e);
}

bool handle_invitation_delete(struct request *r, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e) ||
        !invitations_revoke(r->app, &who, r->param, r->param2, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_my_invitations(struct request *r, struct error *e)
{
    return list_invitations(r, true, e);
}

bool handle_invitation_accept(struct request *r, struct error *e)
{
    /* a bearer token is optional here: without one the body creates the account */
    struct caller who;
    bool signed_in = mg_get_header(r->conn, "Authorization") != NULL;
    if (signed_in && !handlers__authenticate(r, &who, e))
        return false;
    struct accept_request req;
    struct acceptance out;
    bool ok = request_accept_parse(r->body, r->body_len, &req, e) &&
              invitations_accept(r->app, signed_in ? &who : NULL, &req, r->client, &out, e);
    secret_text_wipe(&req.password);
    explicit_bzero(req.token, sizeof req.token);
    if (!ok)
        return false;
    note_org(r, out.org.id);
    http_send_json(r, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:b}", "organization_id",
                             out.org.id, "organization_name", out.org.name, "account_id",
                             out.account.id, "email", out.account.email, "username",
                             handlers__string_or_null(out.account.username), "role",
                             role_name(out.membership.role), "member_at",
                             handlers__time_json(out.membership.member_at), "account_created",
                             out.account_created));
    return true;
}
