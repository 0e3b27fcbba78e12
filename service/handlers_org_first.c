/* handlers_org_first.c — the org-first routes: /org/create, /admin/login,
 * /org/{name} and /org/get, /org/update, /org/delete. An org is shown with
 * the original service's field names (organization_name, admin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers-private.h"
#include "org_first.h"
#include "requests.h"
#include "util.h"

/* An org as the org-first routes show it: orgd's own keys, and beside them
 * the original service's envelope (`status`, and `organization` with its
 * field names), which its clients read: additive, as `token` is beside
 * `access_token`. */
static json_t *org_json(const struct org_first_view *v)
{
    json_t *admin = json_pack("{s:s, s:s}", "id", v->owner.id, "email", v->owner.email);
    json_t *original =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "organization_name", v->org.name, "collection_name",
                  v->org.collection, "admin_id", v->owner.id, "admin_email", v->owner.email,
                  "created_at", handlers__time_json(v->org.created_at));
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "id", v->org.id,
                     "organization_name", v->org.name, "collection_name", v->org.collection,
                     "admin", admin, "created_at", handlers__time_json(v->org.created_at),
                     "updated_at", handlers__time_json(v->org.updated_at), "status", "success",
                     "organization", original);
}

/* The {name} of the path, validated (422 otherwise). */
static bool path_name(struct request *r, struct error *e)
{
    if (names_org_valid(r->param, strlen(r->param), "organization_name", e))
        return true;
    return error_set(e, ERR_INVALID, "request validation failed");
}

bool handle_org_create(struct request *r, struct error *e)
{
    struct create_request req;
    struct org_first_view v;
    bool ok = request_create_parse(r->body, r->body_len, &req, e) &&
              org_first_create(r->app, &req, r->client, &v, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    snprintf(r->org_id, sizeof r->org_id, "%s", v.org.id);
    http_add_header(r, "Location", "/org/%s", v.org.name);
    http_send_json(r, 201, org_json(&v));
    return true;
}

bool handle_login(struct request *r, struct error *e)
{
    struct login_request req;
    struct login_result res;
    memset(&res, 0, sizeof res);
    bool ok = request_login_parse(r->body, r->body_len, true, &req, e) &&
              org_first_login(r->app, &req, r->client, &res, e);
    secret_text_wipe(&req.password);
    if (!ok)
        return false;
    snprintf(r->org_id, sizeof r->org_id, "%s", res.org.id);
    http_send_json(r, 200, handlers__pair_json(&res.pair, &res.org, res.role));
    token_pair_wipe(&res.pair);
    return true;
}

static bool get_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    struct org_first_view v;
    if (!handlers__authenticate(r, &who, e) || !org_first_get(r->app, &who, name, &v, e))
        return false;
    http_send_json(r, 200, org_json(&v));
    return true;
}

bool handle_org_get(struct request *r, struct error *e)
{
    return path_name(r, e) && get_org(r, r->param, e);
}

bool handle_org_get_query(struct request *r, struct error *e)
{
    char name[NAME_BUF + 1];
    bool present = false;
    if (!http_query_param(r->query, "organization_name", name, sizeof name, &present, e))
        return false;
    if (!present)
        error_field(e, "organization_name", "is required");
    else
        names_org_valid(name, strlen(name), "organization_name", e);
    if (e->nfields > 0)
        return error_set(e, ERR_INVALID, "request validation failed");
    return get_org(r, name, e);
}

static bool update_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    struct update_request req;
    struct org_first_view v;
    bool ok = request_update_parse(r->body, r->body_len, name, &req, e) &&
              org_first_update(r->app, &who, &req, r->client, &v, e);
    secret_text_wipe(&req.password);
    secret_text_wipe(&req.current_password);
    if (!ok)
        return false;
    http_send_json(r, 200, org_json(&v));
    return true;
}

bool handle_org_update(struct request *r, struct error *e)
{
    return update_org(r, NULL, e);
}

bool handle_org_update_name(struct request *r, struct error *e)
{
    /* the name is validated by the parser, with the body */
    return update_org(r, r->param, e);
}

static bool delete_org(struct request *r, const char *name, struct error *e)
{
    struct caller who;
    if (!handlers__authenticate(r, &who, e))
        return false;
    char query_name[NAME_BUF + 1];
    bool present = false;
    struct delete_request req;
    if (!http_query_param(r->query, "organization_name", query_name, sizeof query_name, &present,
                          e) ||
        !request_delete_parse(r->body, r->body_len, name, present ? query_name : NULL, &req, e) ||
        !org_first_delete(r->app, &who, req.name, e))
        return false;
    http_send_empty(r, 204);
    return true;
}

bool handle_org_delete(struct request *r, struct error *e)
{
    return delete_org(r, NULL, e);
}

bool handle_org_delete_name(struct request *r, struct error *e)
{
    return delete_org(r, r->param, e);
}
