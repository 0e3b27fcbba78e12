#include "roles.h"

/* Leaving an org needs no permission (anyone may, but its last owner). */
static const bool table[ROLE_COUNT][ACT_COUNT] = {
    [ROLE_OWNER] =
        {
            [ACT_READ] = true,
            [ACT_RENAME] = true,
            [ACT_DESCRIBE] = true,
            [ACT_DELETE] = true,
            [ACT_INVITE] = true,
            [ACT_GRANT_OWNER] = true,
            [ACT_SET_ROLE] = true,
            [ACT_REMOVE_MEMBER] = true,
            [ACT_REMOVE_PRIVILEGED] = true,
            [ACT_CHANGE_CREDENTIALS] = true,
            [ACT_READ_EVENTS] = true,
            [ACT_MANAGE_WEBHOOKS] = true,
        },
    [ROLE_ADMIN] =
        {
            [ACT_READ] = true,
            [ACT_DESCRIBE] = true,
            [ACT_INVITE] = true,
            [ACT_REMOVE_MEMBER] = true,
            [ACT_READ_EVENTS] = true,
            [ACT_MANAGE_WEBHOOKS] = true,
        },
    [ROLE_MEMBER] =
        {
            [ACT_READ] = true,
        },
};

static const char *const names[ACT_COUNT] = {
    [ACT_READ] = "read",
    [ACT_RENAME] = "rename",
    [ACT_DESCRIBE] = "describe",
    [ACT_DELETE] = "delete",
    [ACT_INVITE] = "invite",
    [ACT_GRANT_OWNER] = "grant_owner",
    [ACT_SET_ROLE] = "set_role",
    [ACT_REMOVE_MEMBER] = "remove_member",
    [ACT_REMOVE_PRIVILEGED] = "remove_privileged",
    [ACT_CHANGE_CREDENTIALS] = "change_credentials",
    [ACT_READ_EVENTS] = "read_events",
    [ACT_MANAGE_WEBHOOKS] = "manage_webhooks",
};

bool roles_may(enum role r, enum action a)
{
    return (unsigned)r < ROLE_COUNT && (unsigned)a < ACT_COUNT && table[r][a];
}

const char *action_name(enum action a)
{
    return (unsigned)a < ACT_COUNT ? names[a] : "unknown";
}

bool roles_require(enum role r, enum action a, struct error *e)
{
    if (roles_may(r, a))
        return true;
    return error_set(e, ERR_FORBIDDEN, "your role in this organization does not allow %s",
                     a == ACT_READ ? "this" : action_name(a));
}
