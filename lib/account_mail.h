/* account_mail.h — what reaches an account by mail: a way back in when
 * its password is forgotten, the check of its address, and notices of
 * changes to its credentials.
 *
 * Reset and check tokens are 32 random bytes (base64url), kept as their
 * SHA-256, one use, the newest replacing the older; a reset lasts an hour,
 * a check seven days. A forgot-password and a check-resend answer the same
 * whether or not the e-mail is registered, and take the same time: the
 * answer goes before the work (the handler sends 202, then calls these). */
#ifndef ORGD_ACCOUNT_MAIL_H
#define ORGD_ACCOUNT_MAIL_H

#include <stdbool.h>

#include "app.h"
#include "requests.h"
#include "sessions.h"

#define RESET_TOKEN_SECONDS 3600
#define VERIFY_TOKEN_SECONDS (7 * 86400)

/* 503 mail-disabled when mail is off (SMTP_URL unset). */
bool account_mail_required(const struct app *app, struct error *e);

/* Counts a request for mail from client about email (per address and per
 * e-mail, MAIL_PER_ADDRESS and MAIL_PER_EMAIL an hour): 429 past either. */
bool account_mail_throttle(struct app *app, const char *client, const char *email, struct error *e);

/* The reset mail, if email is an account's (after the 202: errors are logged). */
void account_mail_forgot(struct app *app, const char *email);
/* A new password with a reset token: one use; every session of the
 * account ends; event account.password_reset; a notice to the address.
 * 404 unknown token, 410 used, replaced or expired. */
bool account_mail_reset(struct app *app, const char *token, const struct secret_text *password,
                        struct error *e);

/* The check mail for account a (after a sign-up; errors logged). */
void account_mail_send_check(struct app *app, const struct account *a);
/* The check mail again, if email is an account's not yet verified (after the 202). */
void account_mail_resend_check(struct app *app, const char *email);
/* Proves the address: email_verified, event account.email_verified. 404
 * unknown token, 410 used, replaced or expired. */
bool account_mail_verify(struct app *app, const char *token, struct error *e);

/* Marks account id's address verified (an accepted invitation proved it),
 * with its event; nothing when it is already. Errors logged. */
void account_mail_proved(struct app *app, const char *account_id);

/* Notices, to the address (the old one for an e-mail change); errors logged. */
void account_mail_password_changed(struct app *app, const char *email);
void account_mail_email_changed(struct app *app, const char *old_email, const char *new_email);

#endif
