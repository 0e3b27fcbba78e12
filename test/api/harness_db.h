/* harness_db.h — the database an orgd uses, looked at and broken straight
 * through libmongoc (never through orgd's own store code); and private
 * databases (scripts/db) a test may stop, start and kill. */
#ifndef ORGD_TEST_HARNESS_DB_H
#define ORGD_TEST_HARNESS_DB_H

#include <mongoc/mongoc.h>
#include <stdbool.h>
#include <stdint.h>

#include "harness_orgd.h"

/* A client for o's MONGO_URI (caller: mongoc_client_destroy). */
mongoc_client_t *th_db_client(const struct th_orgd *o);
bool th_db_collection_exists(const struct th_orgd *o, const char *name);
/* Documents of `collection` in o's MASTER_DB matching filter (NULL: all);
 * -1 on error (printed). */
int64_t th_db_count(const struct th_orgd *o, const char *collection, const bson_t *filter);
/* Documents of `collection` whose `field` is the string / ObjectId (hex). */
int64_t th_db_count_str(const struct th_orgd *o, const char *collection, const char *field,
                        const char *value);
int64_t th_db_count_oid(const struct th_orgd *o, const char *collection, const char *field,
                        const char *hex);
/* Memberships of account `account_id` in org `org_id` (both hex) in o's
 * MASTER_DB: 0 or 1 unless a step left a duplicate, which is the point of
 * counting them. */
int64_t th_db_memberships_of(const struct th_orgd *o, const char *account_id, const char *org_id);
/* Active sessions of account `account_id` (hex) in o's MASTER_DB, its
 * admin_id stored as an ObjectId or as the hex: what a test counts after a
 * step that must have ended some, whatever the answers said. */
int64_t th_db_active_sessions_of(const struct th_orgd *o, const char *account_id);
/* The status of invitation `id` (hex) as its document holds it ("" when
 * there is no such document): what an invitation test checks after a
 * step, whatever the answers said. */
void th_db_invitation_status(const struct th_orgd *o, const char *id, char *out, size_t cap);
/* Puts org `id` into `state` (creating, renaming, deleting) with an
 * operation last touched a minute ago, as if an orgd had died in it. */
void th_db_make_stuck(const struct th_orgd *o, const char *id, const char *state);
/* Inserts n documents {i: k, tag: tag} into the collection. */
bool th_db_insert_docs(const struct th_orgd *o, const char *collection, int n, const char *tag);
/* A stable digest of the master database's collections and documents, for
 * "nothing changed" checks: every collection's name and document count,
 * and the organizations, admins and memberships documents themselves. Caller frees. */
char *th_db_snapshot(const struct th_orgd *o);
/* Fails the test if any document of any collection of o's MASTER_DB (as
 * relaxed extended JSON) holds a remembered secret (th_secret_remember:
 * every password sent, every token received): as it is; for a JWT, its
 * signature alone; and for one written in base64url, its bytes in hex or
 * in standard base64 (how a driver shows binary). Tokens may be stored
 * only as digests. */
void th_db_expect_no_secret(const struct th_orgd *o);

/* ---- a private database this test may stop and start ---- */

struct th_private_db {
    char dir[512];
    char uri[256];
};
bool th_private_db_start(struct th_private_db *d); /* first call creates it */
/* Starts d, then o (th_orgd_init'ed already) against it with extra_env. */
bool th_orgd_start_on(struct th_orgd *o, struct th_private_db *d, const char *const *extra_env);
bool th_private_db_stop(struct th_private_db *d);
/* SIGKILLs the database by its recorded pid: a crash, not a shutdown. */
bool th_private_db_kill(struct th_private_db *d);
void th_private_db_destroy(struct th_private_db *d); /* stop and remove */

#endif
