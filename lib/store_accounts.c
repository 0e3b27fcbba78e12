/* store_accounts.c — accounts (collection "admins", the name the original
 * service gave it). Every change of an account is a guarded transition on
 * its version (store__swap). */
#include <mongoc/mongoc.h>
#include <string.h>

#include "store-private.h"

/* An origin this version does not know is treated as the one that keeps
 * the account (signup): deleting an account is the step that cannot be undone. */
static enum origin origin_from_iter(bson_iter_t *it)
{
    char text[16];
    enum origin o = ORIGIN_SIGNUP;
    store__copy_utf8(it, text, sizeof text);
    return origin_parse(text, &o) ? o : ORIGIN_SIGNUP;
}

static void account_from_doc(const bson_t *doc, void *out)
{
    struct account *a = out;
    memset(a, 0, sizeof *a);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            store__copy_oid(&it, a->id);
        else if (strcmp(k, "email") == 0)
            store__copy_utf8(&it, a->email, sizeof a->email);
        else if (strcmp(k, "username") == 0)
            store__copy_utf8(&it, a->username, sizeof a->username);
        else if (strcmp(k, "password_hash") == 0)
            store__copy_utf8(&it, a->password_hash, sizeof a->password_hash);
        else if (strcmp(k, "origin") == 0)
            a->origin = origin_from_iter(&it);
        else if (strcmp(k, "email_verified") == 0)
            a->email_verified = bson_iter_as_bool(&it);
        else if (strcmp(k, "created_at") == 0)
            a->created_at = store__get_time(&it);
        else if (strcmp(k, F_PENDING) == 0)
            store__read_pending(&it, &a->pending);
        else if (strcmp(k, "version") == 0)
            a->version = bson_iter_as_int64(&it);
    }
}

bool store_account_insert(store_t *s, const struct account *a, const struct pending_list *ev,
                          struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", a->id);
    BCON_APPEND(&doc, "email", BCON_UTF8(a->email), "password_hash", BCON_UTF8(a->password_hash),
                "origin", BCON_UTF8(origin_name(a->origin)), "created_at",
                BCON_DATE_TIME(a->created_at), "email_verified", BCON_BOOL(a->email_verified),
                "version", BCON_INT64(1));
    if (a->username[0] != '\0')
        BSON_APPEND_UTF8(&doc, "username", a->username);
    store__append_pending(&doc, ev);
    bool ok = store__insert(s, C_ACCOUNTS, &doc, "admin insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_account_by_email(store_t *s, const char *email_key, struct account *out, bool *found,
                            struct error *e)
{
    return store__find_by_utf8(s, C_ACCOUNTS, "email", email_key, account_from_doc, out, found,
                               "account by email", e);
}

bool store_account_by_id(store_t *s, const char *id, struct account *out, bool *found,
                         struct error *e)
{
    return store__find_by_id(s, C_ACCOUNTS, id, account_from_doc, out, found, "account by id", e);
}

bool store_account_update(store_t *s, const struct account *cur, const char *email_key,
                          const char *password_hash, const struct pending_list *ev, bool *applied,
                          struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (email_key != NULL) {
        BSON_APPEND_UTF8(&set, "email", email_key);
        /* a new address is not proved yet; the same one keeps its state */
        BSON_APPEND_BOOL(&set, "email_verified",
                         strcmp(email_key, cur->email) == 0 && cur->email_verified);
    }
    if (password_hash != NULL)
        BSON_APPEND_UTF8(&set, "password_hash", password_hash);
    store__append_pending(&set, ev);
    bson_append_document_end(&update, &set);
    bool ok =
        store__swap(s, C_ACCOUNTS, cur->id, cur->version, &update, applied, "admin update", e);
    bson_destroy(&update);
    return ok;
}

bool store_account_delete_if_unattached(store_t *s, const char *id, const char *except_org_id,
                                        bool *deleted, struct error *e)
{
    *deleted = false;
    bson_oid_t oid, except;
    if (!store__oid_from(id, &oid))
        return true;
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&oid));
    if (store__oid_from(except_org_id, &except)) {
        bson_t ne;
        BSON_APPEND_DOCUMENT_BEGIN(f, "org_id", &ne);
        BSON_APPEND_OID(&ne, "$ne", &except);
        bson_append_document_end(f, &ne);
    }
    int64_t n = 0;
    bool ok = store__count(s, C_MEMBERS, f, &n, "membership count", e);
    bson_destroy(f);
    if (!ok || n > 0)
        return ok;
    /* only accounts made by /org/create go with their organizations */
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "origin", "{", "$nin", "[",
                              BCON_UTF8(origin_name(ORIGIN_SIGNUP)),
                              BCON_UTF8(origin_name(ORIGIN_INVITATION)), "]", "}");
    int64_t gone = 0;
    ok = store__write_op(s, C_ACCOUNTS, STORE__DELETE_ONE, filter, NULL, &gone, "admin delete", e);
    bson_destroy(filter);
    *deleted = ok && gone == 1;
    return ok;
}

bool store_account_each(store_t *s, bool (*fn)(const struct account *a, void *ud), void *ud,
                        struct error *e)
{
    bson_t *opts = BCON_NEW("projection", "{", "password_hash", BCON_INT32(0), "}");
    struct store__cursor c = store__find(s, C_ACCOUNTS, NULL, opts);
    struct account a;
    while (store__cursor_next(&c, account_from_doc, &a) && fn(&a, ud))
        ;
    bool ok = store__cursor_close(&c, "account list", e);
    bson_destroy(opts);
    return ok;
}

bool store_accounts_by_ids(store_t *s, const char (*ids)[ID_BUF], size_t n, struct account *out,
                           size_t *found, struct error *e)
{
    *found = 0;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER;
    store__append_in_ids(&filter, "_id", ids, n);
    bson_t *opts = BCON_NEW("projection", "{", "password_hash", BCON_INT32(0), "}");
    bool ok = store__find_many(s, C_ACCOUNTS, &filter, opts, sizeof *out, account_from_doc, out, n,
                               found, "admins by ids", e);
    bson_destroy(&filter);
    bson_destroy(opts);
    return ok;
}

static void id_from_doc(const bson_t *doc, void *out)
{
    bson_iter_t it;
    ((char *)out)[0] = '\0';
    if (bson_iter_init_find(&it, doc, "_id"))
        store__copy_oid(&it, out);
}

bool store_accounts_disposable(store_t *s, const char (*ids)[ID_BUF], size_t n, char (*out)[ID_BUF],
                               size_t *found, struct error *e)
{
    *found = 0;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER;
    store__append_in_ids(&filter, "_id", ids, n);
    BCON_APPEND(&filter, "origin", "{", "$nin", "[", BCON_UTF8(origin_name(ORIGIN_SIGNUP)),
                BCON_UTF8(origin_name(ORIGIN_INVITATION)), "]", "}");
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
    bool ok = store__find_many(s, C_ACCOUNTS, &filter, opts, ID_BUF, id_from_doc, out, n, found,
                               "disposable admins", e);
    bson_destroy(&filter);
    bson_destroy(opts);
    return ok;
}
