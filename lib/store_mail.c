/* store_mail.c — the mail outbox (`mail_outbox`), the reset and
 * address-check tokens (`account_tokens`), and an account's
 * email_verified.
 *
 * A token's `slot` is "<account id>:<purpose>" while it is the live one,
 * its own id once it ended, under a unique index: one live token per
 * account and purpose is the database's rule, and the newest replaces the
 * older (as invitations' pending_key does). */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "util.h"

static const char *const mail_states[] = {"pending", "sent", "failed", "dropped"};
static const char *const purposes[] = {"reset", "verify"};

static void mail_from_doc(const bson_t *doc, void *out)
{
    struct mail_item *m = out;
    memset(m, 0, sizeof *m);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char text[16];
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, m->id);
        } else if (strcmp(k, "template") == 0) {
            m->tpl = (int)bson_iter_as_int64(&it);
        } else if (strcmp(k, "to") == 0) {
            store__copy_utf8(&it, m->to, sizeof m->to);
        } else if (strcmp(k, "check_kind") == 0) {
            store__copy_utf8(&it, m->check_kind, sizeof m->check_kind);
        } else if (strcmp(k, "check_id") == 0) {
            store__copy_oid(&it, m->check_id);
        } else if (strcmp(k, "check_hash") == 0) {
            store__copy_utf8(&it, m->check_hash, sizeof m->check_hash);
        } else if (strcmp(k, "state") == 0) {
            store__copy_utf8(&it, text, sizeof text);
            for (int i = 0; i < 4; i++)
                if (strcmp(text, mail_states[i]) == 0)
                    m->state = (enum mail_state)i;
        } else if (strcmp(k, "attempts") == 0) {
            m->attempts = (int)bson_iter_as_int64(&it);
        } else if (strcmp(k, "created_at") == 0) {
            m->created_at = store__get_time(&it);
        } else if (strcmp(k, "next_at") == 0) {
            m->next_at = store__get_time(&it);
        } else if (strcmp(k, "lease_until") == 0) {
            m->lease_until = store__get_time(&it);
        } else if (strcmp(k, "last_error") == 0) {
            store__copy_utf8(&it, m->last_error, sizeof m->last_error);
        } else if (strcmp(k, "version") == 0) {
            m->version = bson_iter_as_int64(&it);
        }
    }
}

bool store_mail_insert(store_t *s, const struct mail_item *m, const char *subject, const char *text,
                       const char *html, struct error *e)
{
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", m->id);
    BCON_APPEND(&doc, "template", BCON_INT32(m->tpl), "to", BCON_UTF8(m->to), "check_kind",
                BCON_UTF8(m->check_kind), "check_hash", BCON_UTF8(m->check_hash));
    store__append_oid(&doc, "check_id", m->check_id);
    BCON_APPEND(&doc, "subject", BCON_UTF8(subject), "text", BCON_UTF8(text), "html",
                BCON_UTF8(html), "state", BCON_UTF8(mail_states[m->state]), "attempts",
                BCON_INT32(0), "created_at", BCON_DATE_TIME(m->created_at), "next_at",
                BCON_DATE_TIME(m->next_at), "lease_until", BCON_DATE_TIME(0), "version",
                BCON_INT64(1));
    bool ok = store__insert(s, C_MAIL, &doc, "mail insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_mail_due(store_t *s, int64_t now, struct mail_item *out, size_t max, size_t *n,
                    struct error *e)
{
    bson_t *filter = store__outbox_due(now);
    bson_t *opts = BCON_NEW("sort", "{", "next_at", BCON_INT32(1), "}", "limit",
                            BCON_INT64((int64_t)max), "projection", "{", "subject", BCON_INT32(0),
                            "text", BCON_INT32(0), "html", BCON_INT32(0), "}");
    bool ok = store__find_many(s, C_MAIL, filter, opts, sizeof *out, mail_from_doc, out, max, n,
                               "mail due", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_mail_claim(store_t *s, const struct mail_item *m, int64_t lease_until,
                      const char *instance, bool *applied, struct error *e)
{
    return store__outbox_lease(s, C_MAIL, m->id, m->version, lease_until, instance, applied,
                               "mail claim", e);
}

bool store_mail_parts(store_t *s, const char *id, char **subject, char **text, char **html,
                      struct error *e)
{
    *subject = *text = *html = NULL;
    bson_oid_t oid;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    struct store__cursor c = store__find(s, C_MAIL, filter, NULL);
    const bson_t *doc;
    if (mongoc_cursor_next(c.cur, &doc)) {
        bson_iter_t it;
        char **slots[3] = {subject, text, html};
        const char *names[3] = {"subject", "text", "html"};
        for (int i = 0; i < 3; i++)
            if (bson_iter_init_find(&it, doc, names[i]) && BSON_ITER_HOLDS_UTF8(&it))
                *slots[i] = strdup(bson_iter_utf8(&it, NULL));
    }
    bson_destroy(filter);
    return store__cursor_close(&c, "mail parts", e);
}

bool store_mail_record(store_t *s, const struct mail_item *m, int64_t version,
                       enum mail_state state, int64_t next_at, const char *error, bool *applied,
                       struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BCON_APPEND(&set, "state", BCON_UTF8(mail_states[state]), "next_at", BCON_DATE_TIME(next_at),
                "lease_until", BCON_DATE_TIME(0), "attempts", BCON_INT32(m->attempts + 1),
                "last_error", BCON_UTF8(error), "updated_at", BCON_DATE_TIME(clock_now_ms()));
    bson_append_document_end(&update, &set);
    if (state != MAIL_PENDING) /* sent or given up: the one-time tokens it held go */
        BCON_APPEND(&update, "$unset", "{", "subject", BCON_UTF8(""), "text", BCON_UTF8(""), "html",
                    BCON_UTF8(""), "}");
    bool ok = store__swap(s, C_MAIL, m->id, version, &update, applied, "mail record", e);
    bson_destroy(&update);
    return ok;
}

bool store_mail_pending(store_t *s, int64_t *n, struct error *e)
{
    bson_t *filter = BCON_NEW("state", BCON_UTF8("pending"));
    bool ok = store__count(s, C_MAIL, filter, n, "mail pending", e);
    bson_destroy(filter);
    return ok;
}

/* ---- reset and address-check tokens ---- */

static void token_from_doc(const bson_t *doc, void *out)
{
    struct account_token *t = out;
    memset(t, 0, sizeof *t);
    t->ended = true; /* unknown: refuse */
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char text[16];
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, t->id);
        } else if (strcmp(k, "account_id") == 0) {
            store__copy_oid(&it, t->account_id);
        } else if (strcmp(k, "email") == 0) {
            store__copy_utf8(&it, t->email, sizeof t->email);
        } else if (strcmp(k, "purpose") == 0) {
            store__copy_utf8(&it, text, sizeof text);
            t->purpose = strcmp(text, "verify") == 0 ? TOKEN_VERIFY : TOKEN_RESET;
        } else if (strcmp(k, "token_hash") == 0) {
            store__copy_utf8(&it, t->token_hash, sizeof t->token_hash);
        } else if (strcmp(k, "created_at") == 0) {
            t->created_at = store__get_time(&it);
        } else if (strcmp(k, "expires_at") == 0) {
            t->expires_at = store__get_time(&it);
        } else if (strcmp(k, "ended") == 0) {
            t->ended = bson_iter_as_bool(&it);
        } else if (strcmp(k, "version") == 0) {
            t->version = bson_iter_as_int64(&it);
        }
    }
}

static void slot_of(const char *account_id, enum token_purpose p, char out[ID_BUF + 8])
{
    snprintf(out, ID_BUF + 8, "%s:%s", account_id, purposes[p]);
}

bool store_account_token_live(store_t *s, const char *account_id, enum token_purpose p,
                              struct account_token *out, bool *found, struct error *e)
{
    char slot[ID_BUF + 8];
    slot_of(account_id, p, slot);
    return store__find_by_utf8(s, C_TOKENS, "slot", slot, token_from_doc, out, found, "token live",
                               e);
}

bool store_account_token_insert(store_t *s, const struct account_token *t, struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    char slot[ID_BUF + 8];
    slot_of(t->account_id, t->purpose, slot);
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", t->id);
    store__append_oid(&doc, "account_id", t->account_id);
    BCON_APPEND(&doc, "email", BCON_UTF8(t->email), "purpose", BCON_UTF8(purposes[t->purpose]),
                "slot", BCON_UTF8(slot), "token_hash", BCON_UTF8(t->token_hash), "created_at",
                BCON_DATE_TIME(t->created_at), "expires_at", BCON_DATE_TIME(t->expires_at), "ended",
                BCON_BOOL(false), "version", BCON_INT64(1));
    bool ok = store__insert(s, C_TOKENS, &doc, "token insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_account_token_by_hash(store_t *s, const char *hash, struct account_token *out,
                                 bool *found, struct error *e)
{
    return store__find_by_utf8(s, C_TOKENS, "token_hash", hash, token_from_doc, out, found,
                               "token by hash", e);
}

bool store_account_token_by_id(store_t *s, const char *id, struct account_token *out, bool *found,
                               struct error *e)
{
    return store__find_by_id(s, C_TOKENS, id, token_from_doc, out, found, "token", e);
}

bool store_account_token_end(store_t *s, const struct account_token *cur, bool *applied,
                             struct error *e)
{
    bson_t *update = BCON_NEW("$set", "{", "ended", BCON_BOOL(true), "slot", BCON_UTF8(cur->id),
                              "ended_at", BCON_DATE_TIME(clock_now_ms()), "}");
    bool ok = store__swap(s, C_TOKENS, cur->id, cur->version, update, applied, "token end", e);
    bson_destroy(update);
    return ok;
}

bool store_account_verify(store_t *s, const struct account *cur, const struct pending_list *ev,
                          bool *applied, struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_BOOL(&set, "email_verified", true);
    store__append_pending(&set, ev);
    bson_append_document_end(&update, &set);
    bool ok = store__swap(s, C_ACCOUNTS, cur->id, cur->version, &update, applied, "verify", e);
    bson_destroy(&update);
    return ok;
}
