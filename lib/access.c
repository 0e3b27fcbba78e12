#include "access.h"

#include <stdio.h>
#include <string.h>

#include "names.h"

bool access_busy(struct error *e, const char *what)
{
    e->retry_after = 1;
    return error_set(e, ERR_BUSY, "the organization is being %s; retry shortly", what);
}

/* An account token's only org (see access.h). */
static bool only_org(struct app *app, const struct caller *who, struct org_described *o,
                     bool *found, struct error *e)
{
    struct membership ms[2];
    size_t n = 0;
    *found = false;
    if (!store_memberships_of_account(app->store, who->account.id, ms, 2, &n, e))
        return false;
    if (n > 1) {
        error_field(e, "organization_name", "is required: the account belongs to several");
        return error_set(e, ERR_INVALID, "request validation failed");
    }
    return n == 0 || store_org_by_id_described(app->store, ms[0].org_id, &o->org, o->description,
                                               sizeof o->description, found, e);
}

/* Step 1: the org the request names. */
static bool find_org(struct app *app, const struct caller *who, const struct access_ref *ref,
                     struct org_described *o, bool *found, struct error *e)
{
    if (ref->id != NULL)
        return store_org_by_id_described(app->store, ref->id, &o->org, o->description,
                                         sizeof o->description, found, e);
    if (ref->name != NULL && ref->name[0] != '\0') {
        char key[NAME_BUF];
        names_org_key(ref->name, key);
        return store_org_by_key_described(app->store, key, &o->org, o->description,
                                          sizeof o->description, found, e);
    }
    if (who->scoped)
        return store_org_by_id_described(app->store, who->org.id, &o->org, o->description,
                                         sizeof o->description, found, e);
    if (!only_org(app, who, o, found, e))
        return false;
    return *found || error_set(e, ERR_NOT_FOUND, "this account belongs to no organization");
}

bool access_org(struct app *app, const struct caller *who, const struct access_ref *ref,
                enum access_mode mode, struct org_described *o, struct membership *m,
                struct error *e)
{
    bool found = false;
    if (!find_org(app, who, ref, o, &found, e))
        return false;
    if (!found || o->org.state == ORG_CREATING || o->org.state == ORG_DELETING)
        return error_set(e, ERR_NOT_FOUND, "organization not found");
    if (who->scoped && strcmp(o->org.id, who->org.id) != 0)
        return error_set(e, ERR_FORBIDDEN, "this token is scoped to another organization");
    if (mode == ACCESS_READ && who->scoped) {
        memset(m, 0, sizeof *m);
        memcpy(m->account_id, who->account.id, ID_BUF);
        memcpy(m->org_id, o->org.id, ID_BUF);
        m->role = who->role;
    } else {
        if (!store_membership_get(app->store, who->account.id, o->org.id, m, &found, e))
            return false;
        if (!found)
            return error_set(e, ERR_FORBIDDEN, "you are not a member of this organization");
    }
    if (o->org.state == ORG_RENAMING && mode != ACCESS_WHOAMI)
        return access_busy(e, "renamed");
    return true;
}
