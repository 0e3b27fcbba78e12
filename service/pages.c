/* pages.c — the three small HTML pages the links in mail open:
 * /pages/invitation (accept: sign in, or make the account), /pages/
 * password-reset (choose a new password) and /pages/verify-email (confirm
 * the address). GET shows a form; POST (an HTML form, urlencoded) does it
 * through the same use cases as the API and shows what happened.
 *
 * No script, no external asset, no cookie: the form carries the mailed
 * token itself, which is what a forged form would lack (so no CSRF token
 * is needed), and the answer forbids everything a page may be made to do
 * (Content-Security-Policy: default-src 'none', the one style block by its
 * hash, forms to this origin only, no framing), and sends no Referer (the
 * token is in the URL). A GET changes nothing: mail scanners that open
 * links spend no token. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_mail.h"
#include "accounts.h"
#include "handlers-private.h"
#include "invitations.h"
#include "names.h"
#include "password.h"
#include "problem.h"
#include "util.h"

static const char STYLE[] =
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}label{display:block;margin:.8rem 0 .2rem}"
    "input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}.error{color:#a00}";

/* 'sha256-<base64>' of the style block, for the policy (made once). */
static const char *style_hash(void)
{
    static char hash[64];
    if (hash[0] == '\0') {
        unsigned char d[32];
        sha256(STYLE, sizeof STYLE - 1, d);
        unsigned char b64[48];
        int n = EVP_EncodeBlock(b64, d, sizeof d);
        snprintf(hash, sizeof hash, "'sha256-%.*s'", n, (const char *)b64);
    }
    return hash;
}

/* ---- building a page ---- */

struct page {
    char *p;
    size_t len, cap;
};

static void add(struct page *pg, const char *s)
{
    size_t n = strlen(s);
    if (pg->len + n + 1 > pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 4096;
        while (cap < pg->len + n + 1)
            cap *= 2;
        char *p = realloc(pg->p, cap);
        if (p == NULL)
            return;
        pg->p = p;
        pg->cap = cap;
    }
    memcpy(pg->p + pg->len, s, n + 1);
    pg->len += n;
}

/* s, HTML-escaped. */
static void add_text(struct page *pg, const char *s)
{
    char one[2] = {0};
    for (; *s; s++) {
        switch (*s) {
        case '<':
            add(pg, "&lt;");
            break;
        case '>':
            add(pg, "&gt;");
            break;
        case '&':
            add(pg, "&amp;");
            break;
        case '"':
            add(pg, "&quot;");
            break;
        case '\'':
            add(pg, "&#39;");
            break;
        default:
            one[0] = *s;
            add(pg, one);
        }
    }
}

static void begin(struct page *pg, const char *title)
{
    add(pg, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    add_text(pg, title);
    add(pg, "</title><style>");
    add(pg, STYLE);
    add(pg, "</style></head><body><main><h1>");
    add_text(pg, title);
    add(pg, "</h1>");
}

static void send_page(struct request *r, int status, struct page *pg)
{
    add(pg, "</main></body></html>\n");
    http_add_header(r, "Content-Security-Policy",
                    "default-src 'none'; style-src %s; form-action 'self'; base-uri 'none'; "
                    "frame-ancestors 'none'",
                    style_hash());
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "X-Frame-Options", "DENY");
    r->status = status;
    http_send_html(r, status, pg->p ? pg->p : "", pg->len);
    free(pg->p);
}

/* A page that says one thing (an error, or what was done). */
static bool say(struct request *r, int status, const char *title, const char *text, bool error)
{
    struct page pg = {0};
    begin(&pg, title);
    add(&pg, error ? "<p class=\"error\">" : "<p>");
    add_text(&pg, text);
    add(&pg, "</p>");
    send_page(r, status, &pg);
    return true;
}

/* The error as a page: its message, and a field's reason when there is one,
 * with the status (and Retry-After) the API gives the same error. */
static bool say_error(struct request *r, const char *title, const struct error *e)
{
    char text[sizeof e->message + sizeof e->fields[0].field + sizeof e->fields[0].message + 8];
    snprintf(text, sizeof text, "%s%s%s%s%s", e->message, e->nfields > 0 ? ": " : "",
             e->nfields > 0 ? e->fields[0].field : "", e->nfields > 0 ? " " : "",
             e->nfields > 0 ? e->fields[0].message : "");
    int status = problem_status(e->kind);
    if (status == 503 || status == 429 || e->kind == ERR_BUSY)
        http_add_header(r, "Retry-After", "%d", e->retry_after > 0 ? e->retry_after : 1);
    return say(r, status, title, text, true);
}

static void hidden_token(struct page *pg, const char *token)
{
    add(pg, "<input type=\"hidden\" name=\"token\" value=\"");
    add_text(pg, token);
    add(pg, "\">");
}

/* ---- the query and the form ---- */

/* The token of the link (?token=), 1-64 characters of base64url. */
static bool link_token(struct request *r, char *out, size_t cap, struct error *e)
{
    bool present = false;
    if (!http_query_param(r->query, "token", out, cap, &present, e))
        return false;
    size_t n = strlen(out);
    bool ok = present && n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= 'a' && out[i] <= 'z') ||
             (out[i] >= '0' && out[i] <= '9') || out[i] == '-' || out[i] == '_';
    return ok || error_set(e, ERR_NOT_FOUND, "this link is incomplete: open it from the message");
}

/* A field of the urlencoded form (absent: ""). */
static bool form_field(const struct request *r, const char *name, char *out, size_t cap,
                       struct error *e)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    for (const char *p = r->body; p != NULL && *p;) {
        size_t len = strcspn(p, "&");
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return http_decode(p + nlen + 1, len - nlen - 1, true, out, cap, name, e);
        p += len;
        if (*p == '&')
            p++;
    }
    return true;
}

/* True if s (len bytes) is well-formed UTF-8 (no overlong forms, surrogates
 * or code points past U+10FFFF), as the API's JSON requires of its strings;
 * otherwise adds a field error. A form's fields are bytes until checked. */
static bool utf8_field(const char *s, size_t len, const char *field, struct error *e)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        int n = c < 0x80                 ? 0
                : c >= 0xC2 && c <= 0xDF ? 1
                : (c & 0xF0) == 0xE0     ? 2
                : c >= 0xF0 && c <= 0xF4 ? 3
                                         : -1;
        if (n < 0 || end - p <= n)
            return error_field(e, field, "must be UTF-8 text");
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return error_field(e, field, "must be UTF-8 text");
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) ||
            (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return error_field(e, field, "must be UTF-8 text");
        p += n + 1;
    }
    return true;
}

/* A password of the form, checked as the API checks one: UTF-8, 8 to 128 bytes. */
static void password_field(const struct secret_text *pw, const char *field, struct error *e)
{
    if (utf8_field(pw->text, pw->len, field, e))
        password_length_ok(pw->len, field, e);
}

/* ---- /pages/password-reset ---- */

bool handle_page_reset(struct request *r, struct error *e)
{
    static const char title[] = "Choose a new password";
    char token[80];
    if (!link_token(r, token, sizeof token, e))
        return say_error(r, title, e);
    struct page pg = {0};
    begin(&pg, title);
    add(&pg, "<form method=\"post\" action=\"/pages/password-reset\">");
    hidden_token(&pg, token);
    add(&pg, "<label for=\"p1\">New password (8 characters or more)</label>"
             "<input id=\"p1\" name=\"password\" type=\"password\" autocomplete=\"new-password\" "
             "minlength=\"8\" required><label for=\"p2\">Once more</label>"
             "<input id=\"p2\" name=\"again\" type=\"password\" autocomplete=\"new-password\" "
             "minlength=\"8\" required><button type=\"submit\">Set the new password</button>"
             "</form><p>Every session of the account ends when the password changes.</p>");
    send_page(r, 200, &pg);
    return true;
}

bool handle_page_reset_post(struct request *r, struct error *e)
{
    static const char title[] = "Choose a new password";
    char token[80];
    struct secret_text pw = {0}, again = {0};
    bool ok = form_field(r, "token", token, sizeof token, e) &&
              form_field(r, "password", pw.text, sizeof pw.text, e) &&
              form_field(r, "again", again.text, sizeof again.text, e);
    pw.len = strlen(pw.text);
    if (ok && strcmp(pw.text, again.text) != 0)
        ok = error_set(e, ERR_INVALID, "the two passwords differ");
    else if (ok) {
        password_field(&pw, "password", e);
        ok = e->nfields == 0 || error_set(e, ERR_INVALID, "request validation failed");
    }
    ok = ok && account_mail_reset(r->app, token, &pw, e);
    secret_text_wipe(&pw);
    secret_text_wipe(&again);
    if (!ok)
        return say_error(r, title, e);
    return say(r, 200, "Password changed",
               "Your password has been changed, and every session of the account has ended. "
               "Sign in with the new password.",
               false);
}

/* ---- /pages/verify-email ---- */

bool handle_page_verify(struct request *r, struct error *e)
{
    static const char title[] = "Confirm your address";
    char token[80];
    if (!link_token(r, token, sizeof token, e))
        return say_error(r, title, e);
    struct page pg = {0};
    begin(&pg, title);
    add(&pg, "<form method=\"post\" action=\"/pages/verify-email\">");
    hidden_token(&pg, token);
    add(&pg, "<p>Confirm that this address is yours.</p>"
             "<button type=\"submit\">Confirm my address</button></form>");
    send_page(r, 200, &pg);
    return true;
}

bool handle_page_verify_post(struct request *r, struct error *e)
{
    static const char title[] = "Confirm your address";
    char token[80];
    if (!form_field(r, "token", token, sizeof token, e) || !account_mail_verify(r->app, token, e))
        return say_error(r, title, e);
    return say(r, 200, "Address confirmed", "Thank you: your e-mail address is confirmed.", false);
}

/* ---- /pages/invitation ---- */

bool handle_page_invitation(struct request *r, struct error *e)
{
    static const char title[] = "Join the organization";
    char token[80];
    struct invitation_preview v;
    if (!link_token(r, token, sizeof token, e) || !invitations_preview(r->app, token, &v, e))
        return say_error(r, title, e);
    struct page pg = {0};
    begin(&pg, title);
    add(&pg, "<p>You are invited to join <strong>");
    add_text(&pg, v.org_display_name);
    add(&pg, "</strong> as ");
    add_text(&pg, role_name(v.role));
    add(&pg, ", with the address <strong>");
    add_text(&pg, v.email);
    add(&pg, "</strong>.</p><form method=\"post\" action=\"/pages/invitation\">");
    hidden_token(&pg, token);
    if (v.has_account)
        add(&pg, "<p>Sign in to accept.</p><label for=\"pw\">Your password</label>"
                 "<input id=\"pw\" name=\"password\" type=\"password\" "
                 "autocomplete=\"current-password\" required>"
                 "<input type=\"hidden\" name=\"account\" value=\"existing\">"
                 "<button type=\"submit\">Sign in and join</button>");
    else
        add(&pg, "<p>Make your account to accept.</p><label for=\"un\">Your name (optional)</label>"
                 "<input id=\"un\" name=\"username\" autocomplete=\"name\">"
                 "<label for=\"pw\">Choose a password (8 characters or more)</label>"
                 "<input id=\"pw\" name=\"password\" type=\"password\" "
                 "autocomplete=\"new-password\" minlength=\"8\" required>"
                 "<input type=\"hidden\" name=\"account\" value=\"new\">"
                 "<button type=\"submit\">Make my account and join</button>");
    add(&pg, "</form>");
    send_page(r, 200, &pg);
    return true;
}

bool handle_page_invitation_post(struct request *r, struct error *e)
{
    static const char title[] = "Join the organization";
    struct accept_request req = {0};
    char mode[16];
    bool ok = form_field(r, "token", req.token, sizeof req.token, e) &&
              form_field(r, "password", req.password.text, sizeof req.password.text, e) &&
              form_field(r, "username", req.username, sizeof req.username, e) &&
              form_field(r, "account", mode, sizeof mode, e);
    req.token_len = strlen(req.token);
    req.password.len = strlen(req.password.text);
    req.has_password = true;
    bool existing = ok && strcmp(mode, "existing") == 0;
    if (ok) { /* what the API refuses (a hand-made form skips minlength): a sign-in
               * only an empty password (a wrong one looks like any other: 401) */
        size_t ulen = strlen(req.username);
        if (existing && req.password.len == 0)
            error_field(e, "password", "must not be empty");
        else if (!existing)
            password_field(&req.password, "password", e);
        if (existing) /* the sign-in form has no name: one sent is not the account's */
            req.username[0] = '\0';
        else if (ulen > 0 && utf8_field(req.username, ulen, "username", e) &&
                 names_display_text(req.username, &ulen, sizeof req.username, "username", e))
            names_username_valid(req.username, ulen, "username", e);
        ok = e->nfields == 0 || error_set(e, ERR_INVALID, "request validation failed");
    }
    struct acceptance out;
    if (ok)
        ok = existing ? invitations_accept_signed_in(r->app, &req, r->client, &out, e)
                      : invitations_accept(r->app, NULL, &req, r->client, &out, e);
    secret_text_wipe(&req.password);
    if (!ok && !existing && e->kind == ERR_CONFLICT) {
        /* the API's words for this send a person to a bearer token; the page
         * has a sign-in form for it. And a second click of the form, after
         * the first made the account and joined, is told just that. */
        struct invitation_preview v;
        struct error pe = ERROR_INIT;
        if (!invitations_preview(r->app, req.token, &v, &pe))
            return say_error(r, title, &pe);
        if (v.has_account) {
            error_clear(e);
            error_set(e, ERR_CONFLICT,
                      "an account with this address exists: open the link in the mail again "
                      "to sign in to it and join");
        }
    }
    if (!ok)
        return say_error(r, title, e);
    char text[DISPLAY_NAME_BUF + EMAIL_BUF + 96];
    snprintf(text, sizeof text,
             "You are now a member of %s, as %s. Sign in with %s and your password.",
             out.org.display_name, role_name(out.membership.role), out.account.email);
    return say(r, 200, "Welcome", text, false);
}
