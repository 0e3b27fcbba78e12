/* model.h — the records the core works with. Plain structs, no BSON:
 * the store (lib/store*.c) converts them to and from documents. Ids are 24
 * lower-case hex digits (a MongoDB ObjectId); times are milliseconds since
 * the epoch. */
#ifndef ORGD_MODEL_H
#define ORGD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"
#include "netaddr.h"
#include "password.h"
#include "states.h"

#define ID_BUF 25

/* ---- events a write carries (events.h says why) ---- */

#define PENDING_MAX 4 /* drafts one write carries, and one document keeps */

/* An event's draft as a write stores it in its document's
 * `pending_events`: what recovery appends to the chain if the process
 * dies before the request does. */
struct pending_draft {
    char id[ID_BUF];
    char chain[40];
    int64_t at;
    const char *draft; /* the draft's JSON text (events.c) */
};

/* The drafts one write carries (items NULL, n 0: none). */
struct pending_list {
    const struct pending_draft *items;
    size_t n;
};

/* One event of the audit log as stored: its place in its chain, and its
 * canonical text (what its hash covers: events.h). */
struct event_row {
    char id[ID_BUF];
    char chain[40];
    int64_t seq;
    int64_t at;
    char action[40];
    char *canonical; /* malloc'd; event_row_free */
    char hash[65];
};

/* The drafts a document carried when it was read: their ids, so that the
 * next write of it, which replaces them, makes sure they are in the chain
 * first (events_guard). */
struct pending_refs {
    int n;
    char id[PENDING_MAX][ID_BUF];
};

/* What an operation in progress needs to be finished or undone by anyone. */
struct org_op {
    int64_t started_at;
    int64_t touched_at;  /* started_at, or when recovery last claimed it */
    char claimed_by[33]; /* recovery instance that took it over, or "" */
    /* rename: where it comes from and where its collection goes */
    char from_name[NAME_BUF];
    char from_display_name[DISPLAY_NAME_BUF];
    char from_key[NAME_BUF];
    char from_collection[COLLECTION_BUF];
    char to_collection[COLLECTION_BUF];
};

struct org {
    char id[ID_BUF];
    char name[NAME_BUF]; /* the org-first organization_name, and the account-first slug: it
                            names the collection, and the org-first routes find it by it */
    char display_name[DISPLAY_NAME_BUF]; /* the account-first name: free display text;
                                            in documents without one, the name */
    char name_key[NAME_BUF];
    char collection[COLLECTION_BUF];
    char owner_id[ID_BUF];
    char owner_email[EMAIL_BUF]; /* the owner's e-mail, kept with the org so that showing
                                    it costs no read; "" in documents older than it */
    enum org_state state;
    int64_t created_at;
    int64_t updated_at;
    int64_t version;
    bool has_op; /* true in every state but active */
    struct org_op op;
    struct pending_refs pending;
};

struct account {
    char id[ID_BUF];
    char email[EMAIL_BUF];
    char username[USERNAME_BUF]; /* "" = none */
    char password_hash[PASSWORD_HASH_BUF];
    enum origin origin;  /* documents without one are org_create (older data) */
    bool email_verified; /* the address was proved: an accepted invitation or a check mail */
    int64_t created_at;
    int64_t version; /* every change is a guarded transition on it (0: none stored yet) */
    struct pending_refs pending;
};

struct membership {
    char id[ID_BUF]; /* the document's own */
    char account_id[ID_BUF];
    char org_id[ID_BUF];
    enum role role;
    int64_t member_at;
    int64_t removing_at; /* 0, or when a removal began (recovery finishes one left behind) */
    int64_t version;     /* every change is a guarded transition on it (0: none stored yet) */
    struct pending_refs pending;
};

#define DESCRIPTION_MAX_CHARS 1000
#define DESCRIPTION_BUF (DESCRIPTION_MAX_CHARS * 4 + 1) /* UTF-8 */

/* An org with its description (kept apart from struct org, which is copied
 * around a great deal, for the few places that show it). */
struct org_described {
    struct org org;
    char description[DESCRIPTION_BUF];
};

/* The secret tokens mailed or answered: invitations, and the reset and
 * address-check links (32 random bytes, base64url without padding). */
#define INVITATION_TOKEN_BYTES 32
#define INVITATION_TOKEN_LEN 43

/* An invitation to join an org with a role; the token itself is shown once
 * and only its SHA-256 is kept. */
struct invitation {
    char id[ID_BUF];
    char org_id[ID_BUF];
    char email[EMAIL_BUF]; /* lower-cased */
    enum role role;
    char invited_by[ID_BUF];
    enum invitation_status status;
    char token_hash[65];
    int64_t created_at;
    int64_t expires_at;
    int64_t accepted_at;       /* 0 = not accepted */
    char accepting_by[ID_BUF]; /* accepting: the account joining */
    int64_t accepting_at;      /* accepting: since when */
    int64_t version;           /* every change is a guarded transition on it (0: none stored yet) */
    struct pending_refs pending;
};

#define SESSION_HASH_BUF 65 /* SHA-256 as hex */

/* One sign-in: every token carries its id (the `sid` claim). */
struct session {
    char id[ID_BUF];
    char account_id[ID_BUF];
    char org_id[ID_BUF]; /* "" = account scope */
    char refresh_hash[SESSION_HASH_BUF];
    char previous_hash[SESSION_HASH_BUF]; /* the refresh token rotated away last, or "" */
    char rotation_key[SESSION_HASH_BUF];  /* hex of 32 random bytes the next refresh token is
                                             derived with (see sessions.c); "" in older sessions */
    enum session_status status;
    int64_t created_at;
    int64_t last_used_at;
    int64_t expires_at;
    char client_address[NETADDR_BUF];
};

/* ---- webhooks ---- */

#define WEBHOOK_URL_BUF 2049
#define WEBHOOK_EVENTS_MAX 32
#define WEBHOOK_SECRET_BUF 64 /* "whsec_" and 32 bytes in base64 */

/* An org's endpoint: where its events are sent, and which. */
struct webhook {
    char id[ID_BUF];
    char org_id[ID_BUF];
    char url[WEBHOOK_URL_BUF];
    char events[WEBHOOK_EVENTS_MAX][40]; /* the actions it subscribes to */
    size_t nevents;
    char description[DESCRIPTION_BUF];
    char secret[WEBHOOK_SECRET_BUF]; /* signs deliveries; shown once */
    bool enabled;
    bool deleted;
    char disabled_reason[128];
    int64_t created_at, updated_at;
    int64_t failing_since;    /* 0, or the first failure since the last success */
    int consecutive_failures; /* deliveries failed in a row */
    int64_t version;
    struct pending_refs pending;
};

enum delivery_state { DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED };

#define DELIVERY_ATTEMPTS_SHOWN 20
#define DELIVERY_RESPONSE_KEPT 1024

/* One try at sending a delivery. */
struct delivery_attempt {
    int64_t at;
    int status;                                /* the answer's HTTP status, 0 when there was none */
    int64_t ms;                                /* how long it took */
    char error[160];                           /* why it failed, "" when it did not */
    char response[DELIVERY_RESPONSE_KEPT + 1]; /* the start of the answer's body */
};

/* One message to one endpoint: an event (or a test), with its attempts. */
struct delivery {
    char id[ID_BUF];
    char webhook_id[ID_BUF];
    char org_id[ID_BUF];
    char message_id[ID_BUF]; /* webhook-id: the event's id (a test's own) */
    char action[40];
    enum delivery_state state;
    int attempts;
    int64_t created_at, next_at, lease_until;
    struct delivery_attempt last[DELIVERY_ATTEMPTS_SHOWN]; /* the latest, oldest first */
    int nlast;
    int64_t version;
};

/* ---- mail ---- */

enum mail_state { MAIL_PENDING, MAIL_SENT, MAIL_FAILED, MAIL_DROPPED };

/* A message in the outbox (its subject and parts are read apart). */
struct mail_item {
    char id[ID_BUF];
    int tpl; /* enum mail_template */
    char to[EMAIL_BUF];
    char check_kind[16]; /* what it stands on (mail.h): "", "invitation", "account_token" */
    char check_id[ID_BUF];
    char check_hash[65];
    enum mail_state state;
    int attempts;
    int64_t created_at, next_at, lease_until;
    char last_error[160];
    int64_t version;
};

enum token_purpose { TOKEN_RESET, TOKEN_VERIFY };

/* A password-reset or address-check token: only its SHA-256 is kept. */
struct account_token {
    char id[ID_BUF];
    char account_id[ID_BUF];
    char email[EMAIL_BUF]; /* the address it was mailed to: it dies if the account's changes */
    enum token_purpose purpose;
    char token_hash[65];
    int64_t created_at, expires_at;
    bool ended; /* used, or replaced by a newer one */
    int64_t version;
};

#endif
