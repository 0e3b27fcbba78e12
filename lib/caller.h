/* caller.h — who is calling: what sessions.c establishes for a request
 * and what the events it writes name as their actor. A header of its own
 * so that events need not know sessions (sessions write events). */
#ifndef ORGD_CALLER_H
#define ORGD_CALLER_H

#include <stdbool.h>

#include "jwt.h"
#include "model.h"

/* Who is calling, established from a verified token and its session: one
 * database read. The account, org and membership are not read here (most
 * routes need one of them at most, and reading all three cost every
 * request three round trips): sessions_load_account reads the account for
 * the routes that show or check it; the org routes read the org and, when
 * they need a role, the membership. A live org-scoped session proves its
 * membership: removing a member ends their sessions in that org first. */
struct caller {
    struct jwt_claims claims;
    struct session session;
    struct account account; /* id only, until sessions_load_account (password_hash never) */
    bool account_loaded;
    bool scoped;    /* an org-scoped token (from /admin/login) */
    struct org org; /* scoped: only org.id (the token's org) */
    enum role role; /* scoped: the role the token was issued with (for reads only;
                       writes read the membership) */
};

#endif
