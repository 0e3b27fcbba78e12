/* store_accounts.c — admins, their memberships, and what else belongs to
 * an org (invitations and org-scoped sessions). */
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

static void admin_from_doc(const bson_t *doc, void *out)
{
    struct admin *a = out;
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
        else if (strcmp(k, "created_at") == 0)
            a->created_at = store__get_time(&it);
        else if (strcmp(k, "version") == 0)
            a->version = bson_iter_as_int64(&it);
    }
}

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
            store__copy_oid(&it, m->admin_id);
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
        } else if (strcmp(k, "version") == 0) {
            m->version = bson_iter_as_int64(&it);
        }
    }
}

/* ---- admins ---- */

bool store_admin_insert(store_t *s, const struct admin *a, struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", a->id);
    BCON_APPEND(&doc, "email", BCON_UTF8(a->email), "password_hash", BCON_UTF8(a->password_hash),
                "origin", BCON_UTF8(origin_name(a->origin)), "created_at",
                BCON_DATE_TIME(a->created_at), "version", BCON_INT64(1));
    if (a->username[0] != '\0')
        BSON_APPEND_UTF8(&doc, "username", a->username);
    bool ok = store__insert(s, C_ADMINS, &doc, "admin insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_admin_by_email(store_t *s, const char *email_key, struct admin *out, struct error *e)
{
    return store__find_by_utf8(s, C_ADMINS, "email", email_key, admin_from_doc, out,
                               "admin by email", e);
}

bool store_admin_by_id(store_t *s, const char *id, struct admin *out, struct error *e)
{
    return store__find_by_id(s, C_ADMINS, id, admin_from_doc, out, "admin by id", e);
}

bool store_admin_update(store_t *s, const struct admin *cur, const char *email_key,
                        const char *password_hash, bool *applied, struct error *e)
{
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (email_key != NULL)
        BSON_APPEND_UTF8(&set, "email", email_key);
    if (password_hash != NULL)
        BSON_APPEND_UTF8(&set, "password_hash", password_hash);
    bson_append_document_end(&update, &set);
    bool ok = store__swap(s, C_ADMINS, cur->id, cur->version, &update, applied, "admin update", e);
    bson_destroy(&update);
    return ok;
}

bool store_admin_delete_if_unattached(store_t *s, const char *id, const char *except_org_id,
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
    ok = store__write_op(s, C_ADMINS, STORE__DELETE_ONE, filter, NULL, &gone, "admin delete", e);
    bson_destroy(filter);
    *deleted = ok && gone == 1;
    return ok;
}

bool store_admin_each(store_t *s, bool (*fn)(const struct admin *a, void *ud), void *ud,
                      struct error *e)
{
    bson_t *opts = BCON_NEW("projection", "{", "password_hash", BCON_INT32(0), "}");
    struct store__cursor c = store__find(s, C_ADMINS, NULL, opts);
    struct admin a;
    while (store__cursor_next(&c, admin_from_doc, &a) && fn(&a, ud))
        ;
    bool ok = store__cursor_close(&c, "admin list", e);
    bson_destroy(opts);
    return ok;
}

/* ---- memberships ---- */

bool store_membership_insert(store_t *s, const struct membership *m, struct error *e)
{
    if (!store__indexes_ready(s, e))
        return false;
    bson_t doc = BSON_INITIALIZER;
    store__append_oid(&doc, "_id", m->id);
    store__append_oid(&doc, "admin_id", m->admin_id);
    store__append_oid(&doc, "org_id", m->org_id);
    BCON_APPEND(&doc, "role", BCON_UTF8(role_name(m->role)), "member_at",
                BCON_DATE_TIME(m->member_at), "version", BCON_INT64(1));
    bool ok = store__insert(s, C_MEMBERS, &doc, "membership insert", e);
    bson_destroy(&doc);
    return ok;
}

bool store_membership_get(store_t *s, const char *admin_id, const char *org_id,
                          struct membership *out, struct error *e)
{
    bson_oid_t a, o;
    if (!store__oid_from(admin_id, &a) || !store__oid_from(org_id, &o))
        return error_set(e, ERR_NOT_FOUND, "not found");
    /* a membership being removed is no longer one: nothing may start from it */
    bson_t *f = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o), "removing_at", "{",
                         "$exists", BCON_BOOL(false), "}");
    bool ok = store__find_one(s, C_MEMBERS, f, membership_from_doc, out, "membership get", e);
    bson_destroy(f);
    return ok;
}

bool store_memberships_of_admin(store_t *s, const char *admin_id, struct membership *out,
                                size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    bson_t *opts =
        BCON_NEW("sort", "{", "member_at", BCON_INT32(1), "}", "limit", BCON_INT64((int64_t)max));
    bool ok = store__find_many(s, C_MEMBERS, filter, opts, sizeof *out, membership_from_doc, out,
                               max, n, "memberships of admin", e);
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

/* Deletes every document of coll whose org_id is org_id; nothing (and no
 * error) when org_id is no ObjectId. */
static bool delete_by_org(store_t *s, const char *coll, const char *org_id, const char *what,
                          struct error *e)
{
    bson_oid_t o;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o));
    bool ok = store__write_op(s, coll, STORE__DELETE_MANY, filter, NULL, NULL, what, e);
    bson_destroy(filter);
    return ok;
}

bool store_memberships_delete_org(store_t *s, const char *org_id, struct error *e)
{
    return delete_by_org(s, C_MEMBERS, org_id, "memberships delete", e);
}

bool store_membership_delete(store_t *s, const char *admin_id, const char *org_id, struct error *e)
{
    bson_oid_t a, o;
    if (!store__oid_from(admin_id, &a) || !store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a), "org_id", BCON_OID(&o));
    bool ok = store__write_op(s, C_MEMBERS, STORE__DELETE_ONE, filter, NULL, NULL,
                              "membership delete", e);
    bson_destroy(filter);
    return ok;
}

/* ---- what else belongs to an org ---- */

bool store_org_extras_delete(store_t *s, const char *org_id, struct error *e)
{
    return delete_by_org(s, C_INVITATIONS, org_id, "invitations delete", e) &&
           delete_by_org(s, C_SESSIONS, org_id, "sessions delete", e);
}

static void org_id_from_doc(const bson_t *doc, void *out)
{
    char *id = out;
    bson_iter_t it;
    id[0] = '\0';
    if (bson_iter_init_find(&it, doc, "org_id"))
        store__copy_oid(&it, id);
}

bool store_extras_each_org_id(store_t *s,
                              bool (*fn)(const char *collection, const char *org_id, void *ud),
                              void *ud, struct error *e)
{
    const char *colls[] = {C_INVITATIONS, C_SESSIONS};
    bson_t *opts = BCON_NEW("projection", "{", "org_id", BCON_INT32(1), "}");
    /* account-scoped sessions belong to no org */
    bson_t *has_org = BCON_NEW("org_id", "{", "$exists", BCON_BOOL(true), "}");
    bool ok = true;
    for (size_t i = 0; ok && i < 2; i++) {
        struct store__cursor c = store__find(s, colls[i], has_org, opts);
        char id[ID_BUF];
        while (store__cursor_next(&c, org_id_from_doc, id) && fn(colls[i], id, ud))
            ;
        ok = store__cursor_close(&c, "extras list", e);
    }
    bson_destroy(opts);
    bson_destroy(has_org);
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

bool store_memberships_page(store_t *s, const char *admin_id, const char *after_org_id,
                            struct membership *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t a;
    if (!store__oid_from(admin_id, &a))
        return true;
    bson_t *filter = BCON_NEW("admin_id", BCON_OID(&a));
    bool ok = page_by(s, filter, "org_id", after_org_id, out, max, n, "memberships page", e);
    bson_destroy(filter);
    return ok;
}

bool store_members_page(store_t *s, const char *org_id, const char *after_admin_id,
                        struct membership *out, size_t max, size_t *n, struct error *e)
{
    *n = 0;
    bson_oid_t o;
    if (!store__oid_from(org_id, &o))
        return true;
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o));
    bool ok = page_by(s, filter, "admin_id", after_admin_id, out, max, n, "members page", e);
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
                               bool *applied, struct error *e)
{
    return membership_swap(s, cur, BCON_NEW("$set", "{", "role", BCON_UTF8(role_name(role)), "}"),
                           applied, "membership role", e);
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
                                    bool *applied, struct error *e)
{
    bson_t *update = at > 0 ? BCON_NEW("$set", "{", "removing_at", BCON_DATE_TIME(at), "}")
                            : BCON_NEW("$unset", "{", "removing_at", BCON_UTF8(""), "}");
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

bool store_admins_by_ids(store_t *s, const char (*ids)[ID_BUF], size_t n, struct admin *out,
                         size_t *found, struct error *e)
{
    *found = 0;
    if (n == 0)
        return true;
    bson_t filter = BSON_INITIALIZER;
    store__append_in_ids(&filter, "_id", ids, n);
    bson_t *opts = BCON_NEW("projection", "{", "password_hash", BCON_INT32(0), "}");
    bool ok = store__find_many(s, C_ADMINS, &filter, opts, sizeof *out, admin_from_doc, out, n,
                               found, "admins by ids", e);
    bson_destroy(&filter);
    bson_destroy(opts);
    return ok;
}

bool store_member_with_role(store_t *s, const char *org_id, enum role role,
                            const char *except_admin_id, struct membership *out, struct error *e)
{
    bson_oid_t o, x;
    if (!store__oid_from(org_id, &o))
        return error_set(e, ERR_NOT_FOUND, "not found");
    bson_t *filter = BCON_NEW("org_id", BCON_OID(&o), "role", BCON_UTF8(role_name(role)),
                              "removing_at", "{", "$exists", BCON_BOOL(false), "}");
    if (store__oid_from(except_admin_id, &x))
        BCON_APPEND(filter, "admin_id", "{", "$ne", BCON_OID(&x), "}");
    bool ok =
        store__find_one(s, C_MEMBERS, filter, membership_from_doc, out, "member with role", e);
    bson_destroy(filter);
    return ok;
}

static void id_from_doc(const bson_t *doc, void *out)
{
    bson_iter_t it;
    ((char *)out)[0] = '\0';
    if (bson_iter_init_find(&it, doc, "_id"))
        store__copy_oid(&it, out);
}

bool store_admins_disposable(store_t *s, const char (*ids)[ID_BUF], size_t n, char (*out)[ID_BUF],
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
    bool ok = store__find_many(s, C_ADMINS, &filter, opts, ID_BUF, id_from_doc, out, n, found,
                               "disposable admins", e);
    bson_destroy(&filter);
    bson_destroy(opts);
    return ok;
}
