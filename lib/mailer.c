#include "mailer.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "log.h"
#include "mail.h"
#include "metrics.h"
#include "util.h"

#define SMTP_TIMEOUT_MS 20000
#define LEASE_MS (SMTP_TIMEOUT_MS + 10000)
#define IDLE_WAIT_MS 500

struct mailer {
    struct app *app;
    atomic_bool stop;
    pthread_t thread;
};

/* The address in "Name <address>", or the whole value. */
static void bare_address(const char *from, char *out, size_t cap)
{
    const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt != NULL && gt != NULL)
        snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, cap, "%s", from);
}

struct upload {
    const char *data;
    size_t len, at;
};

static size_t read_message(char *buf, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t room = size * n, left = u->len - u->at;
    size_t take = left < room ? left : room;
    memcpy(buf, u->data + u->at, take);
    u->at += take;
    return take;
}

/* Hands the message to the SMTP server; "" in why when it took it. */
static void smtp_send(const struct config *cfg, const char *to, const char *message, char *why,
                      size_t cap)
{
    why[0] = '\0';
    char from[320], mail_from[330], rcpt[EMAIL_BUF + 2];
    bare_address(cfg->mail_from, from, sizeof from);
    snprintf(mail_from, sizeof mail_from, "<%s>", from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct upload u = {message, strlen(message), 0};
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    CURL *c = curl_easy_init();
    if (c == NULL || rcpts == NULL) {
        snprintf(why, cap, "out of memory");
    } else {
        curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(c, CURLOPT_USE_SSL,
                         cfg->smtp_require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY);
        if (cfg->smtp_username[0] != '\0') {
            curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_username);
            curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
        }
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)SMTP_TIMEOUT_MS);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK)
            snprintf(why, cap, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c);
}

/* Whether what the message stands on still holds (mail.h). */
static bool still_holds(struct app *app, const struct mail_item *m, bool *holds, struct error *e)
{
    *holds = true;
    bool found = false;
    if (strcmp(m->check_kind, "invitation") == 0) {
        struct invitation v;
        if (!store_invitation_by_id(app->store, m->check_id, &v, &found, e))
            return false;
        *holds = found && v.status == INV_PENDING && strcmp(v.token_hash, m->check_hash) == 0;
    } else if (strcmp(m->check_kind, "account_token") == 0) {
        struct account_token t;
        if (!store_account_token_by_id(app->store, m->check_id, &t, &found, e))
            return false;
        *holds = found && !t.ended && strcmp(t.token_hash, m->check_hash) == 0;
    }
    return true;
}

static int64_t next_try(const struct config *cfg, int n, int64_t now)
{
    return (size_t)n <= cfg->mail_retries ? now + cfg->mail_retry[n - 1] * 1000 : 0;
}

/* Sends one message this instance leased (at `version`). */
static void send_one(struct app *app, struct mail_item *m, int64_t version)
{
    struct error e = ERROR_INIT;
    char *subject = NULL, *text = NULL, *html = NULL, *message = NULL, why[200] = "";
    bool holds = true;
    if (!still_holds(app, m, &holds, &e) ||
        !store_mail_parts(app->store, m->id, &subject, &text, &html, &e))
        return; /* the database: the lease runs out, and it is tried again */
    enum mail_state state = MAIL_SENT;
    int64_t next = 0;
    if (!holds || subject == NULL || text == NULL || html == NULL) {
        state = MAIL_DROPPED;
        snprintf(why, sizeof why, "not sent: what it was about changed or ended");
    } else {
        char message_id[96], host[64] = "orgd";
        const char *at = strchr(app->cfg->mail_from, '@');
        if (at != NULL)
            snprintf(host, sizeof host, "%.*s", (int)strcspn(at + 1, ">"), at + 1);
        snprintf(message_id, sizeof message_id, "%s@%s", m->id, host);
        if (!mail_compose(app->cfg->mail_from, m->to, subject, text, html, message_id,
                          clock_now_ms(), &message)) {
            state = MAIL_DROPPED;
            snprintf(why, sizeof why, "not sent: a header would hold a line break");
        } else {
            FAULT("mail.before_send");
            smtp_send(app->cfg, m->to, message, why, sizeof why);
            FAULT("mail.after_send");
            if (why[0] != '\0') {
                next = next_try(app->cfg, m->attempts + 1, clock_now_ms());
                state = next > 0 ? MAIL_PENDING : MAIL_FAILED;
            }
        }
    }
    bool applied = false;
    store_mail_record(app->store, m, version, state, next, why, &applied, &e);
    const char *tpl = mail_template_name((enum mail_template)m->tpl);
    if (state == MAIL_SENT)
        metrics_mail_sent(tpl);
    else if (state != MAIL_DROPPED)
        metrics_mail_failure();
    log_emit(state == MAIL_SENT ? LOG_INFO : LOG_WARN,
             state == MAIL_SENT      ? "mail sent"
             : state == MAIL_DROPPED ? "mail dropped"
                                     : "mail not sent",
             json_pack("{s:s, s:s, s:i, s:s}", "mail_id", m->id, "template", tpl, "attempt",
                       m->attempts + 1, "error", why));
    free(subject);
    free(text);
    free(html);
    free(message);
}

static void *mailer_main(void *arg)
{
    struct mailer *ml = arg;
    struct app *app = ml->app;
    int64_t next_count = 0;
    while (!atomic_load(&ml->stop)) {
        struct mail_item due[8];
        size_t n = 0;
        struct error e = ERROR_INIT;
        int64_t now = clock_now_ms();
        bool worked = false;
        if (store_mail_due(app->store, now, due, 8, &n, &e)) {
            for (size_t i = 0; i < n && !atomic_load(&ml->stop); i++) {
                bool applied = false;
                if (store_mail_claim(app->store, &due[i], now + LEASE_MS, app->instance_id,
                                     &applied, &e) &&
                    applied) {
                    send_one(app, &due[i], due[i].version + 1);
                    worked = true;
                }
            }
        }
        if (clock_mono_ms() >= next_count) { /* the gauge, every few seconds */
            int64_t pending = 0;
            if (store_mail_pending(app->store, &pending, &e))
                metrics_set_mail_pending(pending);
            next_count = clock_mono_ms() + 2000;
        }
        if (!worked)
            usleep(IDLE_WAIT_MS * 1000);
    }
    return NULL;
}

mailer_t *mailer_start(struct app *app)
{
    if (!mail_enabled(app))
        return NULL;
    struct mailer *ml = calloc(1, sizeof *ml);
    if (ml == NULL)
        return NULL;
    ml->app = app;
    if (pthread_create(&ml->thread, NULL, mailer_main, ml) != 0) {
        log_text(LOG_ERROR, "mail sender not started", "%s", "pthread_create failed");
        free(ml);
        return NULL;
    }
    return ml;
}

void mailer_stop(mailer_t *ml)
{
    if (ml == NULL)
        return;
    atomic_store(&ml->stop, true);
    pthread_join(ml->thread, NULL);
    free(ml);
}
