#include "mail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

static const char *const template_names[MAIL_TEMPLATE_COUNT] = {
    [MAIL_INVITATION] = "invitation",
    [MAIL_INVITATION_RESENT] = "invitation_resent",
    [MAIL_PASSWORD_RESET] = "password_reset",
    [MAIL_VERIFY_EMAIL] = "verify_email",
    [MAIL_PASSWORD_CHANGED] = "password_changed",
    [MAIL_EMAIL_CHANGED] = "email_changed",
};

const char *mail_template_name(enum mail_template t)
{
    return (unsigned)t < MAIL_TEMPLATE_COUNT ? template_names[t] : "unknown";
}

bool mail_enabled(const struct app *app)
{
    return app->cfg->smtp_url[0] != '\0';
}

/* ---- a growing text ---- */

struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static char *done(struct text *t)
{
    if (t->failed) {
        free(t->p);
        return NULL;
    }
    return t->p != NULL ? t->p : strdup("");
}

/* ---- templates ---- */

static void put_value(struct text *t, const char *v, bool html)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 && *p != '\t') /* no value makes a line (or a header) of its own */
            put(t, " ", 1);
        else if (html && *p == '<')
            puts_(t, "&lt;");
        else if (html && *p == '>')
            puts_(t, "&gt;");
        else if (html && *p == '&')
            puts_(t, "&amp;");
        else if (html && *p == '"')
            puts_(t, "&quot;");
        else if (html && *p == '\'')
            puts_(t, "&#39;");
        else
            put(t, (const char *)p, 1);
    }
}

char *mail_render(const char *text, const json_t *vars, bool html)
{
    struct text t = {0};
    for (const char *p = text; *p;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (open == NULL || close == NULL) {
            puts_(&t, p);
            break;
        }
        put(&t, p, (size_t)(open - p));
        char name[64];
        size_t len = (size_t)(close - open - 2);
        if (len < sizeof name) {
            memcpy(name, open + 2, len);
            name[len] = '\0';
            const char *v = json_string_value(json_object_get(vars, name));
            if (v != NULL)
                put_value(&t, v, html);
        }
        p = close + 2;
    }
    return done(&t);
}

/* ---- headers and the body ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of data, lines of 76 (line_end "" for one line). */
static void put_base64(struct text *t, const unsigned char *data, size_t n, const char *line_end)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (i + 1 < n ? data[i + 1] : 0) << 8 |
                     (i + 2 < n ? data[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        put(t, q, 4);
        col += 4;
        if (line_end[0] != '\0' && col >= 76 && i + 3 < n) {
            puts_(t, line_end);
            col = 0;
        }
    }
}

static bool ascii_plain(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return false;
    }
    return true;
}

char *mail_header_word(const char *value)
{
    struct text t = {0};
    if (ascii_plain(value) && strstr(value, "=?") == NULL) {
        puts_(&t, value);
        return done(&t);
    }
    /* RFC 2047: =?UTF-8?B?...?= words of at most 75 characters, folded;
     * a word ends on a whole character (never inside a UTF-8 sequence) */
    const unsigned char *p = (const unsigned char *)value;
    size_t n = strlen(value);
    bool first = true;
    while (n > 0) {
        size_t take = n < 45 ? n : 45;
        while (take < n && (p[take] & 0xC0) == 0x80)
            take--;
        if (!first)
            puts_(&t, "\r\n ");
        puts_(&t, "=?UTF-8?B?");
        put_base64(&t, p, take, "");
        puts_(&t, "?=");
        p += take;
        n -= take;
        first = false;
    }
    return done(&t);
}

static bool has_line_break(const char *v)
{
    return strchr(v, '\r') != NULL || strchr(v, '\n') != NULL;
}

bool mail_compose(const char *from, const char *to, const char *subject, const char *text,
                  const char *html, const char *message_id, int64_t date_ms, char **out)
{
    *out = NULL;
    if (has_line_break(from) || has_line_break(to) || has_line_break(subject) ||
        has_line_break(message_id))
        return false;
    char date[64], boundary[48];
    time_t secs = (time_t)(date_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    unsigned char r[12];
    random_bytes(r, sizeof r);
    char hex[25];
    hex_encode(r, sizeof r, hex);
    snprintf(boundary, sizeof boundary, "orgd-%s", hex);
    char *subj = mail_header_word(subject);
    struct text t = {0};
    puts_(&t, "From: ");
    puts_(&t, from);
    puts_(&t, "\r\nTo: ");
    puts_(&t, to);
    puts_(&t, "\r\nSubject: ");
    puts_(&t, subj ? subj : "");
    puts_(&t, "\r\nDate: ");
    puts_(&t, date);
    puts_(&t, "\r\nMessage-ID: <");
    puts_(&t, message_id);
    puts_(&t, ">\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"");
    puts_(&t, boundary);
    puts_(&t, "\"\r\n\r\n");
    const char *parts[2] = {text, html}, *types[2] = {"text/plain", "text/html"};
    for (int i = 0; i < 2; i++) {
        puts_(&t, "--");
        puts_(&t, boundary);
        puts_(&t, "\r\nContent-Type: ");
        puts_(&t, types[i]);
        puts_(&t, "; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        put_base64(&t, (const unsigned char *)parts[i], strlen(parts[i]), "\r\n");
        puts_(&t, "\r\n");
    }
    puts_(&t, "--");
    puts_(&t, boundary);
    puts_(&t, "--\r\n");
    free(subj);
    *out = done(&t);
    return *out != NULL;
}

/* ---- templates from files ---- */

#ifndef ORGD_MAIL_DIR
#define ORGD_MAIL_DIR ""
#endif

static char *read_template(const struct app *app, enum mail_template tpl, const char *ext,
                           struct error *e)
{
    const char *dir =
        app->cfg->mail_templates_dir[0] ? app->cfg->mail_templates_dir : ORGD_MAIL_DIR;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.%s", dir, mail_template_name(tpl), ext);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        log_text(LOG_ERROR, "mail template missing", "%s", path);
        error_set(e, ERR_INVALID, "the mail template %s.%s cannot be read", mail_template_name(tpl),
                  ext);
        return NULL;
    }
    struct text t = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && t.len < 256 * 1024)
        put(&t, buf, n);
    fclose(f);
    char *s = done(&t);
    if (s == NULL)
        error_set(e, ERR_INTERNAL, "out of memory");
    return s;
}

void mail_link(const struct app *app, const char *what, const char *token, char *out, size_t cap)
{
    const struct config *cfg = app->cfg;
    const char *tpl = strcmp(what, "invitation") == 0       ? cfg->link_invitation
                      : strcmp(what, "password_reset") == 0 ? cfg->link_password_reset
                                                            : cfg->link_verify_email;
    if (tpl[0] == '\0') {
        const char *page = strcmp(what, "invitation") == 0       ? "invitation"
                           : strcmp(what, "password_reset") == 0 ? "password-reset"
                                                                 : "verify-email";
        size_t base = strlen(cfg->public_url);
        while (base > 0 && cfg->public_url[base - 1] == '/')
            base--;
        snprintf(out, cap, "%.*s/pages/%s?token=%s", (int)base, cfg->public_url, page, token);
        return;
    }
    const char *at = strstr(tpl, "{token}");
    if (at == NULL)
        snprintf(out, cap, "%s", tpl);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(at - tpl), tpl, token, at + 7);
}

bool mail_queue(struct app *app, enum mail_template tpl, const char *to, json_t *vars,
                const struct mail_check *check, struct error *e)
{
    char *subject_t = read_template(app, tpl, "subject", e);
    char *text_t = subject_t ? read_template(app, tpl, "txt", e) : NULL;
    char *html_t = text_t ? read_template(app, tpl, "html", e) : NULL;
    char *subject = html_t ? mail_render(subject_t, vars, false) : NULL;
    char *text = subject ? mail_render(text_t, vars, false) : NULL;
    char *html = text ? mail_render(html_t, vars, true) : NULL;
    bool ok = html != NULL;
    if (ok) {
        /* the subject is one line: the file's first, whatever follows */
        subject[strcspn(subject, "\r\n")] = '\0';
        struct mail_item m = {0};
        store_new_id(m.id);
        m.tpl = (int)tpl;
        snprintf(m.to, sizeof m.to, "%s", to);
        if (check != NULL && check->kind != NULL) {
            snprintf(m.check_kind, sizeof m.check_kind, "%s", check->kind);
            snprintf(m.check_id, sizeof m.check_id, "%s", check->id);
            snprintf(m.check_hash, sizeof m.check_hash, "%s", check->token_hash);
        }
        m.state = MAIL_PENDING;
        m.created_at = m.next_at = clock_now_ms();
        m.version = 1;
        ok = store_mail_insert(app->store, &m, subject, text, html, e);
    } else if (e->kind == ERR_OK) {
        error_set(e, ERR_INTERNAL, "out of memory");
    }
    free(subject_t);
    free(text_t);
    free(html_t);
    free(subject);
    free(text);
    free(html);
    return ok;
}
