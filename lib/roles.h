/* roles.h — who may do what in an organization: the one permission table.
 *
 * Every use case asks roles_may() with the role the caller holds in the
 * database (never the token's claim). The roles table of docs/API.md is
 * this table; test/unit/test_roles.c pins it.
 */
#ifndef ORGD_ROLES_H
#define ORGD_ROLES_H

#include <stdbool.h>

#include "error.h"
#include "model.h"

enum action {
    ACT_READ,               /* the org, its members */
    ACT_RENAME,             /* a new name (and collection) */
    ACT_DESCRIBE,           /* a new description */
    ACT_DELETE,             /* the org and its collection */
    ACT_INVITE,             /* invite, list and revoke invitations */
    ACT_GRANT_OWNER,        /* invite as, or promote to, owner */
    ACT_SET_ROLE,           /* change a member's role */
    ACT_REMOVE_MEMBER,      /* remove a member whose role is member */
    ACT_REMOVE_PRIVILEGED,  /* remove an admin or an owner */
    ACT_CHANGE_CREDENTIALS, /* PUT /org/update with email/password (org-first) */
    ACT_READ_EVENTS,        /* the org's audit log */
    ACT_MANAGE_WEBHOOKS,    /* the org's webhook endpoints and their deliveries */
    ACT_COUNT
};

bool roles_may(enum role r, enum action a);

/* roles_may, or false with 403 "your role in this organization does not
 * allow <action>". */
bool roles_require(enum role r, enum action a, struct error *e);

/* Stable lower-case names, for the docs and errors ("rename"). */
const char *action_name(enum action a);

#endif
