#include "model.h"

#include <string.h>

static const char *const state_names[ORG_STATE_COUNT] = {"creating", "active", "renaming",
                                                         "deleting"};
static const char *const role_names[ROLE_COUNT] = {"owner", "admin", "member"};

static const char *const origin_names[ORIGIN_COUNT] = {"org_create", "signup", "invitation"};
static const char *const end_names[END_COUNT] = {"logout",        "revoked",     "password_change",
                                                 "refresh_reuse", "access_lost", "member_removed"};
static const char *const inv_names[INV_STATUS_COUNT] = {"pending", "accepting", "accepted",
                                                        "revoked"};

const char *invitation_status_name(enum invitation_status s)
{
    return (unsigned)s < INV_STATUS_COUNT ? inv_names[s] : "unknown";
}

bool invitation_status_parse(const char *s, enum invitation_status *out)
{
    for (int i = 0; i < INV_STATUS_COUNT; i++) {
        if (strcmp(s, inv_names[i]) == 0) {
            *out = (enum invitation_status)i;
            return true;
        }
    }
    return false;
}

const char *origin_name(enum origin o)
{
    return (unsigned)o < ORIGIN_COUNT ? origin_names[o] : "unknown";
}

bool origin_parse(const char *s, enum origin *out)
{
    for (int i = 0; i < ORIGIN_COUNT; i++) {
        if (strcmp(s, origin_names[i]) == 0) {
            *out = (enum origin)i;
            return true;
        }
    }
    return false;
}

const char *session_end_name(enum session_end r)
{
    return (unsigned)r < END_COUNT ? end_names[r] : "unknown";
}

const char *org_state_name(enum org_state s)
{
    return (unsigned)s < ORG_STATE_COUNT ? state_names[s] : "unknown";
}

bool org_state_parse(const char *s, enum org_state *out)
{
    for (int i = 0; i < ORG_STATE_COUNT; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum org_state)i;
            return true;
        }
    }
    return false;
}

const char *role_name(enum role r)
{
    return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

bool role_parse(const char *s, enum role *out)
{
    for (int i = 0; i < ROLE_COUNT; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum role)i;
            return true;
        }
    }
    return false;
}

const char *recovery_action_name(enum recovery_action a)
{
    switch (a) {
    case RECOVERY_UNDO_CREATE:
        return "undo_create";
    case RECOVERY_FINISH_RENAME:
        return "finish_rename";
    case RECOVERY_FINISH_DELETE:
        return "finish_delete";
    case RECOVERY_FINISH_ACCEPT:
        return "finish_accept";
    case RECOVERY_UNDO_ACCEPT:
        return "undo_accept";
    case RECOVERY_FINISH_REMOVAL:
        return "finish_removal";
    case RECOVERY_APPEND_EVENT:
        return "append_event";
    default:
        return "failed";
    }
}
