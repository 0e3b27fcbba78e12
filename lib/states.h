/* states.h — the closed sets of the model: the states of an org and an
 * invitation, the roles, how an account came to be, why a session ended,
 * what recovery did; each with its stable name (model.c). Apart from
 * model.h so that the modules that count them (metrics.h) need no record:
 * the records need the password module, which counts its hashes. */
#ifndef ORGD_STATES_H
#define ORGD_STATES_H

#include <stdbool.h>

enum org_state { ORG_CREATING, ORG_ACTIVE, ORG_RENAMING, ORG_DELETING, ORG_STATE_COUNT };

enum role { ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER, ROLE_COUNT };

/* How an account came to be: an account made by /org/create goes with its
 * last organization (as in the original service); the others stay. */
enum origin { ORIGIN_ORG_CREATE, ORIGIN_SIGNUP, ORIGIN_INVITATION, ORIGIN_COUNT };

/* pending -> accepting (the membership is being made; recovery finishes or
 * rolls back one left behind) -> accepted; pending -> revoked. */
enum invitation_status { INV_PENDING, INV_ACCEPTING, INV_ACCEPTED, INV_REVOKED, INV_STATUS_COUNT };

enum session_status { SESSION_ACTIVE, SESSION_REVOKED };

/* Why a session ended (the metric's label and the document's ended_reason). */
enum session_end {
    END_LOGOUT,          /* POST /auth/logout */
    END_REVOKED,         /* DELETE /auth/sessions/{id} */
    END_PASSWORD_CHANGE, /* another session of the account changed its credentials */
    END_REFRESH_REUSE,   /* a rotated refresh token was presented again */
    END_ACCESS_LOST,     /* refresh found the account, org or membership gone */
    END_MEMBER_REMOVED,  /* the account was removed from (or left) the session's org */
    END_COUNT
};

/* What recovery did with one interrupted operation. */
enum recovery_action {
    RECOVERY_UNDO_CREATE,
    RECOVERY_FINISH_RENAME,
    RECOVERY_FINISH_DELETE,
    RECOVERY_FINISH_ACCEPT,  /* an invitation accepted before a crash: marked accepted */
    RECOVERY_UNDO_ACCEPT,    /* an accept begun, no membership: the invitation pending again */
    RECOVERY_FINISH_REMOVAL, /* a member's removal begun: sessions ended, membership gone */
    RECOVERY_APPEND_EVENT,   /* a change's event its request did not append: appended */
    RECOVERY_FAILED,
    RECOVERY_ACTION_COUNT
};

/* Each set's stable lower-case names (static text), as stored and shown;
 * a parse of a name this version does not know is false. */
const char *org_state_name(enum org_state s);
bool org_state_parse(const char *s, enum org_state *out);
const char *role_name(enum role r);
bool role_parse(const char *s, enum role *out);
const char *origin_name(enum origin o);
bool origin_parse(const char *s, enum origin *out);
const char *invitation_status_name(enum invitation_status s);
bool invitation_status_parse(const char *s, enum invitation_status *out);
const char *session_end_name(enum session_end r);
const char *recovery_action_name(enum recovery_action a);

#endif
