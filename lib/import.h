/* import.h — `orgd import`: takes over a database the original FastAPI +
 * MongoDB service wrote (`organizations {organization_name,
 * collection_name, admin_id}`, `admins {email, password}` with bcrypt
 * hashes), into orgd's MONGO_URI/MASTER_DB.
 *
 * Each source admin becomes an account (origin org_create: it goes with
 * its last org, as in the original), each organization an org whose owner
 * it is, and each tenant collection is copied, every document with its
 * own _id, into org_<lower-case name> (the source is only read). A bcrypt
 * hash signs in as it is, and is replaced by argon2id at the first login.
 *
 * What it cannot settle it reports and leaves out, without guessing: two
 * admins whose e-mails differ only in case, two orgs whose names do, a
 * name orgd refuses, an org whose admin is missing, an e-mail or a name
 * that orgd holds already for someone else, a collection orgd holds that
 * no import began.
 *
 * Idempotent and resumable: ids are the source's (an ObjectId as it is,
 * any other id mapped the same way on every run), every step inserts what
 * is not there yet, and the org document comes last, so a run after a
 * crash (or after a finished run) takes each org from where it stands.
 * The steps, with their fault points:
 *   the admin's account                       [import.after_account]
 *   the owner's membership                    [import.after_membership]
 *   a marker in `imports` (the copy is ours)
 *   the collection's documents                [import.after_collection]
 *   the org document, active                  [import.after_org]
 */
#ifndef ORGD_IMPORT_H
#define ORGD_IMPORT_H

#include <stdbool.h>

#include "app.h"

struct import_report {
    int orgs_imported, orgs_already, orgs_left_out;
    int accounts_imported, accounts_left_out;
    long long documents_copied;
};

/* One line of the report: kind ("imported", "already", "would import",
 * "left out") and what it is about. */
typedef void (*import_say_fn)(const char *kind, const char *detail, void *ud);

/* Imports (or, dry_run, reports what an import would do, writing nothing).
 * False only when a database failed (e says which); records left out are
 * in the report. */
bool import_run(struct app *app, const char *source_uri, const char *source_db, bool dry_run,
                import_say_fn say, void *ud, struct import_report *out, struct error *e);

#endif
