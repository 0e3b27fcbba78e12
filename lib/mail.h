/* mail.h — the mail orgd sends: invitations, password resets, address
 * checks and notices, made from template files and queued in the outbox
 * (mailer.h sends them).
 *
 * A template is three files in MAIL_TEMPLATES_DIR: <name>.subject (one
 * line), <name>.txt and <name>.html, with {{variable}} places. Values are
 * put in as they are in the subject and the text (control characters
 * become spaces: no value can start a header or a line of its own in the
 * subject), and HTML-escaped in the HTML. A message is multipart/
 * alternative (text, then HTML, each base64 UTF-8), with From, To, Subject
 * (RFC 2047 when not ASCII), Date, Message-ID and MIME-Version headers;
 * no header takes a value with CR or LF in it.
 *
 * Queueing: the message, rendered, goes into the outbox with what it is
 * about (`check`): the sender sends it only if that still holds (an
 * invitation still pending with this token, a reset token still unused),
 * so a message queued for a change that then failed, or was overtaken, is
 * dropped rather than sent. Its body (which holds a one-time token) is
 * removed from the outbox once it is sent. */
#ifndef ORGD_MAIL_H
#define ORGD_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app.h"

enum mail_template {
    MAIL_INVITATION,
    MAIL_INVITATION_RESENT,
    MAIL_PASSWORD_RESET,
    MAIL_VERIFY_EMAIL,
    MAIL_PASSWORD_CHANGED,
    MAIL_EMAIL_CHANGED,
    MAIL_TEMPLATE_COUNT
};

/* "invitation", "invitation_resent", ... (the file names, and the metric label). */
const char *mail_template_name(enum mail_template t);

/* Whether mail is on (SMTP_URL is set). */
bool mail_enabled(const struct app *app);

/* What a queued message stands on: checked again before it is sent. */
struct mail_check {
    const char *kind; /* "invitation", "account_token", or NULL: none */
    const char *id;
    const char *token_hash; /* the one the message carries (it must still be the current one) */
};

/* Renders template t with vars (a JSON object of strings) for `to` and
 * queues it. ERR_INVALID when a template file is missing or unreadable
 * (logged with its path), ERR_UNAVAILABLE when the database is. */
bool mail_queue(struct app *app, enum mail_template t, const char *to, json_t *vars,
                const struct mail_check *check, struct error *e);

/* The link a message carries for `what` ("invitation", "password_reset",
 * "verify_email") and token: LINK_<WHAT> with {token} replaced, or
 * PUBLIC_URL and orgd's own page. */
void mail_link(const struct app *app, const char *what, const char *token, char *out, size_t cap);

/* ---- the message itself (pure; unit-tested) ---- */

/* Fills {{name}} places of text from vars; html: values HTML-escaped.
 * malloc'd, NULL when out of memory. A place with no value is left empty. */
char *mail_render(const char *text, const json_t *vars, bool html);

/* The whole RFC 5322 message (malloc'd): headers, and a multipart/
 * alternative body of text and html. False when a header value holds CR
 * or LF (never: the callers strip them; this is the last line). */
bool mail_compose(const char *from, const char *to, const char *subject, const char *text,
                  const char *html, const char *message_id, int64_t date_ms, char **out);

/* An RFC 2047 encoded word for a header value that is not plain ASCII (the
 * value as it is when it is). malloc'd. */
char *mail_header_word(const char *value);

#endif
