/* mailer.h — sending the mail outbox over SMTP (libcurl), on a thread of
 * its own.
 *
 * Each message is claimed with a lease (a guarded transition: one
 * instance sends it; a dead instance's lease runs out and another does),
 * checked against what it stands on (mail.h: a message whose invitation
 * or token was replaced or used meanwhile is dropped, not sent), composed
 * (mail_compose) and handed to SMTP_URL: smtp:// with STARTTLS when the
 * server offers it (required with SMTP_REQUIRE_TLS), or smtps://. A
 * refusal or no answer is tried again on MAIL_RETRY_SCHEDULE, and has
 * failed after the last; a mail server that is down delays mail and loses
 * none. Metrics orgd_mail_sent_total{template}, orgd_mail_failures_total
 * and orgd_mail_outbox_pending. */
#ifndef ORGD_MAILER_H
#define ORGD_MAILER_H

#include "app.h"

typedef struct mailer mailer_t;

/* Starts the sender (NULL, and nothing runs, when mail is off). */
mailer_t *mailer_start(struct app *app);
void mailer_stop(mailer_t *m);

#endif
