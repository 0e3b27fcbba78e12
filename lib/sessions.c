#include "sessions.h"

#include <cjose/cjose.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "faults.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

static const char *const SESSION_ENDED = "the session has ended";
static const char *const BAD_REFRESH = "the refresh token is not valid";

void token_pair_wipe(struct token_pair *p)
{
    if (p->access_token != NULL) {
        explicit_bzero(p->access_token, strlen(p->access_token));
        free(p->access_token);
        p->access_token = NULL;
    }
    explicit_bzero(p->refresh_token, sizeof p->refresh_token);
}

bool sessions_token_text(uint8_t *raw, size_t n, char *out, size_t cap, char hash[SESSION_HASH_BUF],
                         struct error *e)
{
    char *text = NULL;
    size_t len = 0;
    cjose_err err;
    bool ok = cjose_base64url_encode(raw, n, &text, &len, &err) && len < cap;
    explicit_bzero(raw, n);
    if (ok) {
        memcpy(out, text, len + 1);
        sha256_hex(out, len, hash);
    }
    if (text != NULL) {
        explicit_bzero(text, len);
        cjose_get_dealloc()(text);
    }
    return ok || error_set(e, ERR_INTERNAL, "cannot issue a token");
}

/* A new refresh token for session `sid` (hex) into out, its hash into hash. */
static bool refresh_token_new(const char *sid, char out[REFRESH_TOKEN_LEN + 1],
                              char hash[SESSION_HASH_BUF], struct error *e)
{
    uint8_t raw[REFRESH_TOKEN_BYTES];
    if (!hex_decode(sid, 12, raw) || !random_bytes(raw + 12, REFRESH_TOKEN_BYTES - 12))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    return sessions_token_text(raw, sizeof raw, out, REFRESH_TOKEN_LEN + 1, hash, e);
}

/* The refresh token that follows `token` in session x: the session id and
 * HMAC-SHA256(x's rotation key, token). Derived, not drawn, so that every
 * refresh sent with one token gets the same successor: the first writes
 * it, a retry within REFRESH_REUSE_GRACE_MS is answered with it (see
 * retry_answer). Only the server holds the key, so the chain cannot be
 * followed from a stolen token alone. A session from before rotation keys
 * draws its successor at random. */
static bool refresh_token_next(const struct session *x, const char *token, size_t len,
                               char out[REFRESH_TOKEN_LEN + 1], char hash[SESSION_HASH_BUF],
                               struct error *e)
{
    uint8_t key[32], raw[REFRESH_TOKEN_BYTES];
    if (x->rotation_key[0] == '\0' || !hex_decode(x->rotation_key, sizeof key, key))
        return refresh_token_new(x->id, out, hash, e);
    bool ok = hex_decode(x->id, 12, raw) && hmac_sha256(key, sizeof key, token, len, raw + 12);
    explicit_bzero(key, sizeof key);
    if (!ok)
        return error_set(e, ERR_INTERNAL, "cannot issue a token");
    return sessions_token_text(raw, sizeof raw, out, REFRESH_TOKEN_LEN + 1, hash, e);
}

/* The session id a refresh token names, or false when it cannot be one of ours. */
static bool refresh_token_sid(const char *token, size_t len, char sid[ID_BUF])
{
    if (len != REFRESH_TOKEN_LEN)
        return false;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    if (!cjose_base64url_decode(token, len, &raw, &raw_len, &err))
        return false;
    bool ok = raw_len == REFRESH_TOKEN_BYTES;
    if (ok)
        hex_encode(raw, 12, sid);
    explicit_bzero(raw, raw_len);
    cjose_get_dealloc()(raw);
    return ok;
}

static bool issue_access(struct app *app, const struct session *x, enum role role,
                         struct token_pair *out, struct error *e)
{
    struct jwt_claims claims = {0};
    memcpy(claims.sub, x->account_id, ID_BUF);
    memcpy(claims.sid, x->id, ID_BUF);
    if (x->org_id[0] != '\0') {
        memcpy(claims.org, x->org_id, ID_BUF);
        snprintf(claims.role, sizeof claims.role, "%s", role_name(role));
    }
    if (!jwt_issue(app->jwt, &claims, clock_now_ms() / 1000, &out->access_token, e))
        return false;
    out->expires_in = app->cfg->jwt_expires_seconds;
    out->session = *x;
    return true;
}

bool sessions_start(struct app *app, const struct account *a, const struct org *org, enum role role,
                    const char *client, struct token_pair *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    struct session x = {.status = SESSION_ACTIVE};
    store_new_id(x.id);
    memcpy(x.account_id, a->id, ID_BUF);
    if (org != NULL)
        memcpy(x.org_id, org->id, ID_BUF);
    x.created_at = x.last_used_at = clock_now_ms();
    x.expires_at = x.created_at + (int64_t)app->cfg->refresh_token_seconds * 1000;
    snprintf(x.client_address, sizeof x.client_address, "%s", client);
    uint8_t key[32];
    if (!random_bytes(key, sizeof key))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    hex_encode(key, sizeof key, x.rotation_key);
    explicit_bzero(key, sizeof key);
    if (!refresh_token_new(x.id, out->refresh_token, x.refresh_hash, e) ||
        !store_session_insert(app->store, &x, e) || !issue_access(app, &x, role, out, e)) {
        token_pair_wipe(out);
        return false;
    }
    return true;
}

/* The session a token names is still the one it was issued for, and live. */
static bool session_live(const struct session *x, const struct jwt_claims *claims, int64_t now)
{
    return x->status == SESSION_ACTIVE && x->expires_at > now &&
           strcmp(x->account_id, claims->sub) == 0 && strcmp(x->org_id, claims->org) == 0;
}

bool sessions_authenticate(struct app *app, const char *token, size_t len, struct caller *out,
                           struct error *e)
{
    memset(out, 0, sizeof *out);
    if (!jwt_verify(app->jwt, token, len, clock_now_ms() / 1000, &out->claims, e))
        return false;
    out->scoped = out->claims.org[0] != '\0';
    int64_t now = clock_now_ms();
    if (!session_cache_get(app->sessions, out->claims.sid, now, &out->session)) {
        uint64_t epoch = session_cache_epoch(app->sessions);
        bool found = false;
        if (!store_session_by_id(app->store, out->claims.sid, &out->session, &found, e))
            return false;
        if (!found)
            return error_set(e, ERR_UNAUTHORIZED, "%s", SESSION_ENDED);
        if (session_live(&out->session, &out->claims, now))
            session_cache_put(app->sessions, &out->session, now, epoch);
    }
    if (!session_live(&out->session, &out->claims, now))
        return error_set(e, ERR_UNAUTHORIZED, "%s", SESSION_ENDED);
    memcpy(out->account.id, out->claims.sub, ID_BUF);
    memcpy(out->org.id, out->claims.org, ID_BUF);
    out->role = ROLE_MEMBER; /* least, unless the token names a role we know */
    if (out->scoped)
        role_parse(out->claims.role, &out->role);
    return true;
}

bool sessions_account(struct app *app, const struct caller *who, struct account *out,
                      struct error *e)
{
    struct caller copy = *who;
    if (!sessions_load_account(app, &copy, e))
        return false;
    *out = copy.account;
    return true;
}

bool sessions_load_account(struct app *app, struct caller *who, struct error *e)
{
    if (who->account_loaded)
        return true;
    bool found = false;
    if (!store_account_by_id(app->store, who->claims.sub, &who->account, &found, e))
        return false;
    if (!found)
        return error_set(e, ERR_UNAUTHORIZED, "token is no longer valid");
    explicit_bzero(who->account.password_hash, sizeof who->account.password_hash);
    who->account_loaded = true;
    return true;
}

/* How long ending a session waits for a refresh that has claimed the
 * session's token to write its rotation. */
#define ROTATION_WAIT_MS 5000

/* Re-reads *x until its refresh hash is no longer `held` or it is no
 * longer active (true), or `until` (mono ms) passes with it unchanged
 * (true, hash still held); false on a database error. Reads at least once. */
static bool await_rotation(struct app *app, struct session *x, const char *held, int64_t until,
                           struct error *e)
{
    for (;;) {
        bool found = false;
        if (!store_session_by_id(app->store, x->id, x, &found, e))
            return false;
        if (!found) {
            x->status = SESSION_REVOKED; /* gone: nothing left to end */
            return true;
        }
        if (strcmp(x->refresh_hash, held) != 0 || x->status != SESSION_ACTIVE ||
            clock_mono_ms() >= until)
            return true;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Claims x's current refresh hash as an end's, after the rotation that
 * holds it if a refresh does (see end_one); x is re-read as needed. A
 * claim another end holds needs no wait: no rotation follows it. A
 * refresh's claim is waited for until ROTATION_WAIT_MS after it was made,
 * so a refresh that died after its claim costs the first end at most that.
 * False on a database error or a rotation not written in time: the caller
 * logs it and revokes all the same. */
static bool hold_rotations(struct app *app, struct session *x, struct error *e)
{
    while (x->status == SESSION_ACTIVE && x->refresh_hash[0] != '\0') {
        bool won = false, found = false, by_end = false;
        int64_t at = 0;
        if (!store_rotation_claim_end(app->store, x->refresh_hash, x->id, clock_now_ms(),
                                      x->expires_at, &won, e) ||
            (!won &&
             !store_rotation_claim_of(app->store, x->refresh_hash, &by_end, &at, &found, e)))
            return false;
        if (won || !found || by_end)
            return true;
        char held[SESSION_HASH_BUF];
        memcpy(held, x->refresh_hash, sizeof held);
        int64_t until = clock_mono_ms() + (at + ROTATION_WAIT_MS - clock_now_ms());
        if (!await_rotation(app, x, held, until, e))
            return false;
        if (x->status == SESSION_ACTIVE && strcmp(x->refresh_hash, held) == 0)
            return error_set(e, ERR_UNAVAILABLE,
                             "a refresh of the session claimed its token and never finished");
    }
    return true;
}

/* Holds x's rotations (above), logging a failure: an end goes ahead
 * whatever happens here, since not ending is worse than ending unguarded. */
static void hold_or_log(struct app *app, struct session *x)
{
    struct error he = ERROR_INIT;
    if (!hold_rotations(app, x, &he))
        log_emit(LOG_WARN, "session ended unguarded",
                 json_pack("{s:s, s:s}", "session_id", x->id, "error", he.message));
}

/* Ends session `read` (as read) of account_id (revoked: whether this call ended it).
 *
 * FerretDB applies an update as a read and then a write of the whole
 * document, so a refresh whose rotation read the session just before this
 * revocation was written would write it back active: a logout sent beside
 * a refresh was undone more often than not. A rotation first claims the
 * refresh hash it spends (store_rotation_claim, a unique insert), so ending
 * claims the current hash too: no rotation can start after that. If a
 * rotation holds the claim already, ending waits for it to be written and
 * claims the hash it wrote. The revocation then comes after every rotation
 * there can be. On MongoDB the claim is one insert more, and harmless. */
static bool end_one(struct app *app, const struct session *read, const char *account_id,
                    enum session_end why, bool *revoked, struct error *e)
{
    *revoked = false;
    struct session x = *read; /* as read, however long ago: the hold re-reads what it needs */
    hold_or_log(app, &x);
    bool ok = store_session_revoke(app->store, x.id, account_id, why, clock_now_ms(), revoked, e);
    /* after the write: a read that began before it cannot put the session back */
    session_cache_forget(app->sessions, x.id);
    return ok;
}

/* The account's event for sessions orgd ended (a consequence, so its
 * actor is orgd itself; the change that caused it has its own event):
 * session.reuse_detected, sessions.ended. Appended after the sessions
 * ended, not carried by their writes (a session is no document that
 * carries drafts): a process that dies between the two loses this one. */
static void sessions_event(struct app *app, const char *action, const char *account_id,
                           enum session_end why, int64_t n, const char *session_id)
{
    struct event ev;
    if (!event_draft(&ev, action, NULL, "account", account_id, NULL, NULL))
        return;
    event_change_str(&ev, "reason", NULL, session_end_name(why));
    if (session_id != NULL)
        event_change_str(&ev, "session_id", session_id, NULL);
    else
        event_change(&ev, "sessions", NULL, json_integer(n));
    struct error e = ERROR_INIT;
    if (!events_commit(app, &ev, 1, &e))
        log_emit(LOG_WARN, "event not written",
                 json_pack("{s:s, s:s, s:s}", "action", action, "account_id", account_id, "error",
                           e.message));
    event_free(&ev);
}

/* Ends session x for `why`, counting and logging it; a failure is logged
 * (the caller's answer is a refusal either way). */
static void end_session(struct app *app, const struct session *x, enum session_end why)
{
    struct error e = ERROR_INIT;
    bool revoked = false;
    bool ok = end_one(app, x, x->account_id, why, &revoked, &e);
    if (!ok) {
        log_emit(LOG_WARN, "session not ended",
                 json_pack("{s:s, s:s, s:s}", "session_id", x->id, "reason", session_end_name(why),
                           "error", e.message));
        return;
    }
    if (revoked)
        metrics_sessions_ended(why, 1);
    if (revoked && why == END_REFRESH_REUSE)
        sessions_event(app, "session.reuse_detected", x->account_id, why, 1, x->id);
    log_emit(why == END_REFRESH_REUSE ? LOG_WARN : LOG_INFO, "session ended",
             json_pack("{s:s, s:s, s:s}", "session_id", x->id, "account_id", x->account_id,
                       "reason", session_end_name(why)));
}

/* The account, and for a scoped session its org and membership, are still
 * there; if not, the session ends. */
static bool still_entitled(struct app *app, const struct session *x, struct refresh_result *out,
                           struct error *e)
{
    struct account a;
    struct membership m = {.role = ROLE_MEMBER};
    bool found = false;
    out->scoped = x->org_id[0] != '\0';
    bool ok = store_account_by_id(app->store, x->account_id, &a, &found, e);
    explicit_bzero(a.password_hash, sizeof a.password_hash);
    if (!ok)
        return false;
    if (found && out->scoped) {
        if (!store_org_by_id(app->store, x->org_id, &out->org, &found, e))
            return false;
        found = found && out->org.state != ORG_CREATING && out->org.state != ORG_DELETING;
        if (found && !store_membership_get(app->store, x->account_id, x->org_id, &m, &found, e))
            return false;
    }
    if (found) {
        out->role = m.role;
        return true;
    }
    end_session(app, x, END_ACCESS_LOST);
    return error_set(e, ERR_UNAUTHORIZED, "%s", SESSION_ENDED);
}

/* `token` was rotated away last in x (as read now), and is presented again
 * by `client` within the grace of that rotation: a client that sent two
 * refreshes at once, or retried one whose answer it never got. If the
 * rotation was this client's and is still the last one, the answer is the
 * pair it made: its successor token (derived again) and a fresh access
 * token. A token rotated again since is refused, the session kept. */
static bool retry_answer(struct app *app, const struct session *x, const char *token, size_t len,
                         const char *client, struct refresh_result *out, struct error *e)
{
    char hash[SESSION_HASH_BUF];
    if (x->rotation_key[0] == '\0' || strcmp(x->client_address, client) != 0 ||
        !refresh_token_next(x, token, len, out->pair.refresh_token, hash, e) ||
        strcmp(hash, x->refresh_hash) != 0) {
        explicit_bzero(out->pair.refresh_token, sizeof out->pair.refresh_token);
        return e->kind == ERR_OK &&
               error_set(e, ERR_UNAUTHORIZED, "the refresh token was already used");
    }
    if (!still_entitled(app, x, out, e) || !issue_access(app, x, out->role, &out->pair, e)) {
        token_pair_wipe(&out->pair);
        return false;
    }
    metrics_refresh_retry();
    return true;
}

/* A token that is not the session's current one. The one rotated away
 * last, presented again within REFRESH_REUSE_GRACE_MS from the address
 * that rotated it, is a retry (retry_answer); by a request that arrived
 * before that rotation was written, it lost a race (two refreshes sent
 * together): refused, the session kept. Any token the session rotated
 * away, presented later, is reuse: one of its holders is not the owner,
 * and the session ends. Anything else is unknown. */
static bool refuse_stale(struct app *app, const struct session *x, const char *token, size_t len,
                         const char *hash, const char *client, int64_t arrived_ms,
                         struct refresh_result *out, struct error *e)
{
    if (x->status != SESSION_ACTIVE)
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_REFRESH);
    bool ours = strcmp(hash, x->previous_hash) == 0;
    if (ours && arrived_ms - x->last_used_at <= app->cfg->refresh_reuse_grace_ms &&
        strcmp(client, x->client_address) == 0)
        return retry_answer(app, x, token, len, client, out, e);
    if (ours && arrived_ms <= x->last_used_at)
        return error_set(e, ERR_UNAUTHORIZED, "the refresh token was already used");
    if (!ours) {
        char owner[ID_BUF];
        if (!store_rotation_session(app->store, hash, owner, &ours, e))
            return false;
        ours = ours && strcmp(owner, x->id) == 0;
    }
    if (!ours)
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_REFRESH);
    end_session(app, x, END_REFRESH_REUSE);
    return error_set(e, ERR_UNAUTHORIZED,
                     "the refresh token was already used; the session has been ended");
}

/* A concurrent refresh with this token claimed it first: its rotation is
 * waited for (at most the grace), then this request is answered as a
 * retry of it, or refused. A rotation not written by then is a 409 to
 * retry: the retry will find it written. */
static bool lost_claim(struct app *app, struct session *x, const char *token, size_t len,
                       const char *hash, const char *client, int64_t arrived_ms,
                       struct refresh_result *out, struct error *e)
{
    long grace = app->cfg->refresh_reuse_grace_ms;
    if (!await_rotation(app, x, hash, clock_mono_ms() + (grace > 0 ? grace : 0), e))
        return false;
    if (x->status == SESSION_ACTIVE && strcmp(x->refresh_hash, hash) == 0) {
        if (grace <= 0)
            return error_set(e, ERR_UNAUTHORIZED, "the refresh token was already used");
        e->retry_after = 1;
        return error_set(e, ERR_BUSY, "a refresh with this token is under way; retry shortly");
    }
    return refuse_stale(app, x, token, len, hash, client, arrived_ms, out, e);
}

bool sessions_refresh(struct app *app, const char *token, size_t len, const char *client,
                      int64_t arrived_ms, struct refresh_result *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    char sid[ID_BUF], hash[SESSION_HASH_BUF];
    if (!refresh_token_sid(token, len, sid))
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_REFRESH);
    sha256_hex(token, len, hash);
    struct session x;
    bool found = false;
    if (!store_session_by_id(app->store, sid, &x, &found, e))
        return false;
    if (!found)
        return error_set(e, ERR_UNAUTHORIZED, "%s", BAD_REFRESH);
    int64_t now = clock_now_ms();
    if (strcmp(hash, x.refresh_hash) != 0)
        return refuse_stale(app, &x, token, len, hash, client, arrived_ms, out, e);
    if (x.status != SESSION_ACTIVE || x.expires_at <= now)
        return error_set(e, ERR_UNAUTHORIZED, "%s", SESSION_ENDED);
    if (!still_entitled(app, &x, out, e))
        return false;

    bool won = false;
    if (!store_rotation_claim(app->store, hash, x.id, now, x.expires_at, &won, e))
        return false;
    if (!won) /* a concurrent refresh with this token got there first */
        return lost_claim(app, &x, token, len, hash, client, arrived_ms, out, e);
    FAULT("refresh.after_claim");
    /* the new pair is made first and the rotation written last, stamped
     * with the time of the write: what answers the client then is only
     * rendering, so "arrived before the write" is "arrived before the
     * answer", the race a client can cause */
    struct session next = x;
    bool applied = false;
    snprintf(next.client_address, sizeof next.client_address, "%s", client);
    if (!refresh_token_next(&x, token, len, out->pair.refresh_token, next.refresh_hash, e) ||
        !issue_access(app, &next, out->role, &out->pair, e)) {
        token_pair_wipe(&out->pair);
        return false;
    }
    next.last_used_at = clock_now_ms();
    out->pair.session.last_used_at = next.last_used_at;
    if (!store_session_rotate(app->store, x.id, hash, next.refresh_hash, next.last_used_at, client,
                              &applied, e)) {
        token_pair_wipe(&out->pair);
        return false;
    }
    if (!applied) { /* ended meanwhile */
        token_pair_wipe(&out->pair);
        return error_set(e, ERR_UNAUTHORIZED, "%s", SESSION_ENDED);
    }
    return true;
}

bool sessions_logout(struct app *app, const struct caller *who, struct error *e)
{
    bool revoked = false;
    struct session x;
    bool found = false;
    if (!store_session_by_id(app->store, who->session.id, &x, &found,
                             e)) /* with its refresh hash */
        return false;
    if (!found)
        return true;
    if (!end_one(app, &x, who->account.id, END_LOGOUT, &revoked, e))
        return false;
    if (revoked)
        metrics_sessions_ended(END_LOGOUT, 1);
    return true;
}

bool sessions_list(struct app *app, const struct caller *who, const char *before,
                   struct session *out, size_t max, size_t *n, struct error *e)
{
    return store_sessions_live(app->store, who->account.id, clock_now_ms(), before, out, max, n, e);
}

bool sessions_revoke(struct app *app, const struct caller *who, const char *id, struct error *e)
{
    struct session x;
    bool revoked = false, found = false;
    if (!store_session_by_id(app->store, id, &x, &found, e))
        return false;
    if (found && strcmp(x.account_id, who->account.id) == 0 && x.expires_at > clock_now_ms()) {
        /* the id as stored: the path's may be spelt in capitals */
        if (!end_one(app, &x, who->account.id, END_REVOKED, &revoked, e))
            return false;
    }
    if (!revoked)
        return error_set(e, ERR_NOT_FOUND, "no such session");
    metrics_sessions_ended(END_REVOKED, 1);
    return true;
}

/* The most live sessions of one account a bulk end lists at a time. */
#define HELD_MAX 100

/* The account's live sessions that a bulk end is about (not keep_sid; only
 * org_id's when given), at most HELD_MAX, into a calloc'd array. */
static struct session *live_of(struct app *app, const char *account_id, const char *org_id,
                               const char *keep_sid, size_t *n, struct error *e)
{
    *n = 0;
    struct session *live = calloc(HELD_MAX, sizeof *live);
    size_t got = 0;
    if (live == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (!store_sessions_live(app->store, account_id, clock_now_ms(), NULL, live, HELD_MAX, &got,
                             e)) {
        free(live);
        return NULL;
    }
    for (size_t i = 0; i < got; i++)
        if ((keep_sid == NULL || strcmp(live[i].id, keep_sid) != 0) &&
            (org_id == NULL || strcmp(live[i].org_id, org_id) == 0))
            live[(*n)++] = live[i];
    return live;
}

bool sessions_end_all(struct app *app, const char *account_id, const char *org_id,
                      const char *keep_sid, enum session_end why, int64_t *ended, struct error *e)
{
    *ended = 0;
    /* first every live one's rotations held (best effort: see hold_or_log) */
    struct error le = ERROR_INIT;
    size_t n = 0;
    struct session *live = live_of(app, account_id, org_id, keep_sid, &n, &le);
    for (size_t i = 0; i < n; i++)
        hold_or_log(app, &live[i]);
    free(live);
    bool ok = org_id != NULL ? store_sessions_revoke_in_org(app->store, account_id, org_id, why,
                                                            clock_now_ms(), ended, e)
                             : store_sessions_revoke_others(app->store, account_id, keep_sid, why,
                                                            clock_now_ms(), ended, e);
    /* after the write (see end_session); keep_sid is forgotten too: its
     * next request asks the database once */
    session_cache_forget_account(app->sessions, account_id, org_id);
    if (!ok)
        return false;
    /* then any still live: begun after the list, or past its HELD_MAX */
    struct error se = ERROR_INIT;
    live = live_of(app, account_id, org_id, keep_sid, &n, &se);
    for (size_t i = 0; i < n; i++) {
        bool revoked = false;
        if (end_one(app, &live[i], account_id, why, &revoked, &se) && revoked)
            (*ended)++;
    }
    free(live);
    if (se.kind != ERR_OK)
        log_emit(LOG_WARN, "sessions not all ended",
                 json_pack("{s:s, s:s}", "account_id", account_id, "error", se.message));
    metrics_sessions_ended(why, *ended);
    if (*ended > 0)
        sessions_event(app, "sessions.ended", account_id, why, *ended, NULL);
    return true;
}

bool sessions_end_others(struct app *app, const char *account_id, const char *keep_sid,
                         struct error *e)
{
    int64_t n = 0;
    if (!sessions_end_all(app, account_id, NULL, keep_sid, END_PASSWORD_CHANGE, &n, e))
        return false;
    if (n > 0)
        log_emit(LOG_INFO, "sessions ended",
                 json_pack("{s:s, s:s, s:I}", "account_id", account_id, "reason",
                           session_end_name(END_PASSWORD_CHANGE), "sessions", (json_int_t)n));
    return true;
}
