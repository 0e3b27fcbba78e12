#include "actions.h"

#include <string.h>

const char *const event_actions[EVENT_ACTIONS_COUNT] = {"org.created",
                                                        "org.renamed",
                                                        "org.updated",
                                                        "org.deleted",
                                                        "member.added",
                                                        "member.role_changed",
                                                        "member.removed",
                                                        "member.left",
                                                        "invitation.created",
                                                        "invitation.resent",
                                                        "invitation.revoked",
                                                        "invitation.accepted",
                                                        "webhook.created",
                                                        "webhook.updated",
                                                        "webhook.deleted",
                                                        "webhook.disabled",
                                                        "account.created",
                                                        "account.password_changed",
                                                        "account.password_reset",
                                                        "account.email_changed",
                                                        "account.email_verified",
                                                        "session.reuse_detected",
                                                        "sessions.ended"};
const size_t event_actions_n = EVENT_ACTIONS_COUNT;
_Static_assert(sizeof event_actions / sizeof event_actions[0] == EVENT_ACTIONS_COUNT,
               "EVENT_ACTIONS_COUNT counts event_actions");

bool event_action_pattern_known(const char *pattern)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t len = strlen(pattern);
    bool family = len >= 2 && strcmp(pattern + len - 2, ".*") == 0;
    for (size_t i = 0; i < event_actions_n; i++) {
        if (family ? strncmp(event_actions[i], pattern, len - 1) == 0
                   : strcmp(event_actions[i], pattern) == 0)
            return true;
    }
    return false;
}
