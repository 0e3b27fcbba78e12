/* handlers-private.h — what service/handlers.c and handlers_teams.c share,
 * and nothing else includes: bearer authentication and small renderers. */
#ifndef ORGD_HANDLERS_PRIVATE_H
#define ORGD_HANDLERS_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "sessions.h"

/* Bearer authentication. On failure e says why; r->token_missing or
 * r->token_refused says whose fault it was (for WWW-Authenticate). */
bool handlers__authenticate(struct request *r, struct caller *who, struct error *e);

/* ms since the epoch as an RFC 3339 string. */
json_t *handlers__time_json(int64_t ms);

/* A JSON string, or null for "". */
json_t *handlers__string_or_null(const char *s);

/* The account-first routes (service/handlers_teams.c). */
bool handlers_teams(struct request *r, struct error *e);
bool handlers_team_create(struct request *r, struct error *e);
bool handlers_team_get(struct request *r, struct error *e);
bool handlers_team_update(struct request *r, struct error *e);
bool handlers_team_delete(struct request *r, struct error *e);
bool handlers_team_invite(struct request *r, struct error *e);
bool handlers_team_invitations(struct request *r, struct error *e);
bool handlers_team_invitation_delete(struct request *r, struct error *e);
bool handlers_team_members(struct request *r, struct error *e);
bool handlers_team_member_role(struct request *r, struct error *e);
bool handlers_team_member_delete(struct request *r, struct error *e);
bool handlers_my_invitations(struct request *r, struct error *e);
bool handlers_invitation_accept(struct request *r, struct error *e);

#endif
