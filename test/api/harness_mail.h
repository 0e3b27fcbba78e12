/* harness_mail.h — e-mail as the tests of it read it back (test_email*.c):
 * the messages Mailpit received, through its HTTP API (th_mp_*: listed
 * by recipient, waited for, decoded, raw), the token of a mailed link,
 * the settings of an orgd that mails to the suite's Mailpit, and the
 * steps those tests share. Not included by harness.h: only those tests
 * need it.
 *
 * The suite's mail server and Mailpit come from ORGD_TEST_SMTP_URL and
 * ORGD_TEST_MAILPIT_API (scripts/test sets both; th_mail_setup reads
 * them). One Mailpit serves the whole suite, so a test mails fresh
 * addresses only (th_fresh_email) and searches by recipient. */
#ifndef ORGD_TEST_HARNESS_MAIL_H
#define ORGD_TEST_HARNESS_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness_flows.h"
#include "harness_orgd.h"

#define TH_MAIL_FROM_ADDR "no-reply@orgd-mail.test"
#define TH_MAIL_WAIT_MS 15000 /* how long a mail may take to arrive */
#define TH_MAIL_QUIET_MS 1500 /* how long a test waits for a mail that must not come */

/* ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API, once th_mail_setup has
 * read them. */
extern const char *th_smtp_url, *th_mailpit_api;
/* Reads them; false, with a line on stderr naming `program` and that it
 * is skipped, unless both are set (main then returns 77). */
bool th_mail_setup(const char *program);

/* ---- Mailpit ---- */

/* The messages to `to` (newest first) whose subject holds `subject` (NULL:
 * any), as the search of the Mailpit API at `api` lists them. Caller
 * decrefs. */
json_t *th_mp_list_at(const char *api, const char *to, const char *subject);
/* Waits until `want` messages to `to` (with `subject` in theirs) are in
 * the Mailpit at api; fails the test if they do not come in time. The
 * list, newest first (caller decrefs). */
json_t *th_mp_wait_at(const char *api, const char *to, const char *subject, size_t want,
                      int timeout_ms);
/* th_mp_wait_at on the suite's Mailpit, TH_MAIL_WAIT_MS at most. */
json_t *th_mp_wait(const char *to, const char *subject, size_t want);
/* Fails unless exactly `want` mails to `to` (subject filter) are there now
 * and still after TH_MAIL_QUIET_MS. */
void th_mp_expect_exactly_at(const char *api, const char *to, const char *subject, size_t want);
/* One message of the suite's Mailpit, decoded (Text, HTML, Subject, From,
 * MessageID...). Caller decrefs. */
json_t *th_mp_message(const json_t *summary);
/* The message as received. Caller frees. */
char *th_mp_raw(const json_t *summary);
/* The newest mail to `to` with `subject`, waited for until there are
 * `count`, decoded. Caller decrefs. */
json_t *th_mp_newest(const char *to, const char *subject, size_t count);
/* The token of the link `?token=` in a mail's text (remembered as a
 * secret, so no log and no database document may hold it). */
void th_mail_token_of(const json_t *message, char *out, size_t cap);
/* A header of the raw message (the first line of it), from the name on;
 * NULL if none. */
const char *th_mail_raw_header(const char *raw, const char *name);

/* ---- orgd ---- */

/* The settings of a mail-on orgd: `more` first (the first of a name wins),
 * then the mail server of the suite, no mail throttle, and cheap password
 * hashing (what is tested here is mail, not argon2). Static: the result
 * holds until the next call. */
const char *const *th_mail_env(const char *const *more);
/* POST /invitations/accept of token with a password, as a new account;
 * fails the test unless it answers `want`. The answer (caller decrefs). */
json_t *th_accept_new(const struct th_orgd *o, const char *token, long want);
/* The request; fails the test unless it answers `status` with a problem of
 * this `type`. */
void th_expect_problem_type(const struct th_orgd *o, const char *method, const char *path,
                            const char *bearer, json_t *body, long status, const char *type);
/* A fresh account (owner) with an org of its own named after prefix. */
void th_owner_with_an_org(const struct th_orgd *o, const char *prefix, struct th_account *owner,
                          char org_id[32], char org_name[64]);
/* POST /organization/{org_id}/invite {"email": email} with token: fails
 * the test unless 201; returns the answer (caller decrefs). */
json_t *th_invite_by_mail(const struct th_orgd *o, const char *token, const char *org_id,
                          const char *email);

#endif
