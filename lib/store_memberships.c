/* store_memberships.c — memberships (an account's role in an org), read
 * one by one and in keyset pages, and their guarded changes: role, and the
 * mark a removal sets before it finishes. */
#include <mongoc/mongoc.h>
#include <string.h>

#include "store-private.h"

static void membership_from_doc(const bson_t *doc, void *out)
{
    struct membership *m = out;
    memset(m, 0, sizeof *m);
    m->role = ROLE_MEMBER;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0) {
            store__copy_oid(&it, m->id);
        } else if (strcmp(k, "admin_id") == 0) {
            store__copy_oid(&it, m->account_id);
        } else if (strcmp(k, "org_id") == 0) {
            store__copy_oid(&it, m->org_id);
        } else if (strcmp(k, "role") == 0) {
            char r[16];
            store__copy_utf8(&it, r, sizeof r);
            if (!role_parse(r, &m->role))
                m->role = ROLE_MEMBER; /* unknown: least privilege */
        } else if (strcmp(k, "member_at") == 0) {
            m->member_at = store__get_time(&it);
        } else if (strcmp(k, "removing_at") == 0) {
            m->removing_at = store__get_time(&it);
        } else if (strcmp(k, F_PENDING) == 0) {
            store__read_pending(&it, &m->pending);
        } else if (strcmp(k, "version") == 0) {
            m->version = bson_iter_as_int64(&it);
        }
    }
}

/* ---- memberships ---- */

bool store_membership_insert(store_t *s, const struct membership *m, const struct pending_list *ev,
                             struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", m->id);
    store__append_oid(&doc, "admin_id", m->account_id);
    store__append_oid(&doc, "org_id", m->org_id);
    BCON_APPEND(&doc, "role", BCON_UTF8(role_name(m->role)), "member_at",
                BCON_DATE_TIME(m->member_at), "version", BCON_INT64(1));
    store__append_pending(&doc, ev);
    bool ok = store__insert(s, C_MEMBERS, &doc, "membership insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_membership_get(store_t *s, const char *account_id, const char *org_id,
                          struct membership *out, bool *found, struct error *e)
{
    *found = false;
    bson_oid_t a, o;
    if (!store__oid_from(account_id, &a) || !store__oid_from(org_id, &o))
        return true;
    /* a membership being removed is no longer one: nothing may start from it */
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o), "removing_at", "{",
                         "$exists", BCON_BOOL(false), "}");
    bool ok =
        store__find_one(s, C_MEMBERS, f, membership_from_doc, out, found, "membership get", e);
    bson_destroy(f);
    return ok;
}

bool store_memberships_of_account(store_t *s, const char *account_id, struct membership *out,
                                  size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    bson_t *opts =
        BCON_NEW("sort", "{", "member_at", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_MEMBERS, filter, opts, sizeof *out, membership_from_doc, out,
                               max, n, "memberships of account", e);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

bool store_membership_each(store_t *s, const char *org_id,
                           bool (*fn)(const struct membership *m, void *ud), void *ud,
                           struct error *e)
{
    bson_t filter = BSON_INITIALIZER;
    if (org_id != NULL) {
        bson_oid_t o;
        if (!store__oid_from(org_id, &o)) {
            bson_destroy(&filter);
            return true;
        }
        BSON_APPEND_OID(&filter, "org_id", &o);
    }
    struct store__cursor c = store__find(s, C_MEMBERS, &filter, NULL);
    struct membership m;
    while (store__cursor_next(&c, membership_from_doc, &m) && fn(&m, ud))
        ;
    bool ok = store__cursor_close(&c, "membership list", e);
    bson_destroy(&filter);
    return ok;
}

bool store_memberships_delete_org(store_t *s, const char *org_id, struct error *e)
{
    return store__delete_by_oid(s, C_MEMBERS, "org_id", org_id, "memberships delete", e);
}

bool store_membership_delete(store_t *s, const char *account_id, const char *org_id,
                             struct error *e)
{
    bson_oid_t a, o;
    if (!store__oid_from(account_id, &a) || !store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = store__write_op(s, C_MEMBERS, STORE__DELETE_ONE, filter, NULL, NULL,
                              "membership delete", e);
    bson_destroy(filter);
    return ok;
}

/* ---- pages and roles (the account-first API) ---- */

/* Memberships matching filter, ordered by `key` (an ObjectId field), those
 * after `after` (hex; "" = from the start), at most max. Keyset paging: a
 * document created or deleted meanwhile moves no other one between pages. */
static bool page_by(store_t *s, bson_t *filter, const char *key, const char *after,
                    struct membership *out, size_t max, size_t *n, const char *what,
                    struct error *e)
{
    bson_oid_t a;
    if (after != NULL && after[0] != '\0' && store__oid_from(after, &a))
        BCON_APPEND(filter, key, "{", "$gt", BCON_OID(&a), "}");
    bson_t *opts =
        BCON_NEW("sort", "{", key, BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_MEMBERS, filter, opts, sizeof *out, membership_from_doc, out,
                               max, n, what, e);
    bson_destroy(opts);
    return ok;
}

bool store_memberships_page(store_t *s, const char *account_id, const char *after_org_id,
                            struct membership *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(account_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    bool ok = page_by(s, filter, "org_id", after_org_id, out, max, n, "memberships page", e);
    bson_destroy(filter);
    return ok;
}

bool store_members_page(store_t *s, const char *org_id, const char *after_account_id,
                        struct membership *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t o;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o));
    bool ok = page_by(s, filter, "admin_id", after_account_id, out, max, n, "members page", e);
    bson_destroy(filter);
    return ok;
}

/* The guarded write of one membership (as read: its version). */
static bool membership_swap(store_t *s, const struct membership *cur, bson_t *update, bool *applied,
                            const char *what, struct error *e)
{
    *applied = false;
    bool ok = store__swap(s, C_MEMBERS, cur->id, cur->version, update, applied, what, e);
    bson_destroy(update);
    return ok;
}

bool store_membership_set_role(store_t *s, const struct membership *cur, enum role role,
                               const struct pending_list *ev, bool *applied, struct error *e)
{
    bson_t *update = bson_new(), set;
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    BSON_APPEND_UTF8(&set, "role", role_name(role));
    store__append_pending(&set, ev);
    bson_append_document_end(update, &set);
    return membership_swap(s, cur, update, applied, "membership role", e);
}

bool store_members_count_role(store_t *s, const char *org_id, enum role role, int64_t *n,
                              struct error *e)
{
    *n = 0;
    bson_oid_t o;
    if (!store__oid_from(org_id, &o))
        return true;
    /* those staying: a member being removed is no longer counted */
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o), "role", BCON_UTF8(role_name(role)),
                              "removing_at", "{", "$exists", BCON_BOOL(false), "}");
    bool ok = store__count(s, C_MEMBERS, filter, n, "members by role", e);
    bson_destroy(filter);
    return ok;
}

bool store_membership_mark_removing(store_t *s, const struct membership *cur, int64_t at,
                                    const struct pending_list *ev, bool *applied, struct error *e)
{
    bson_t *update = bson_new(), set;
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    if (at > 0)
        BSON_APPEND_DATE_TIME(&set, "removing_at", at);
    store__append_pending(&set, ev);
    bson_append_document_end(update, &set);
    if (at == 0)
        BCON_APPEND(update, "$unset", "{", "removing_at", BCON_UTF8(""), "}");
    return membership_swap(s, cur, update, applied, "membership removing", e);
}

bool store_memberships_removing(store_t *s, int64_t before_ms, struct membership *out, size_t max,
                                size_t *n, struct error *e)
{
    bson_t *filter = BCON_NEW("removing_at", "{", "$lt", BCON_DATE_TIME(before_ms), "}");
    bool ok = store__find_many(s, C_MEMBERS, filter, NULL, sizeof *out, membership_from_doc, out,
                               max, n, "memberships being removed", e);
    bson_destroy(filter);
    return ok;
}

bool store_member_with_role(store_t *s, const char *org_id, enum role role,
                            const char *except_account_id, struct membership *out, bool *found,
                            struct error *e)
{
    *found = false;
    bson_oid_t o, x;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o), "role", BCON_UTF8(role_name(role)),
                              "removing_at", "{", "$exists", BCON_BOOL(false), "}");
    if (store__oid_from(except_account_id, &x))
        BCON_APPEND(filter, "admin_id", "{", "$ne", BCON_OID(&x), "}");
    bool ok = store__find_one(s, C_MEMBERS, filter, membership_from_doc, out, found,
                              "member with role", e);
    bson_destroy(filter);
    return ok;
}
