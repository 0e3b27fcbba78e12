/* harness_mail.c — mail read back through Mailpit's API, and the
 * settings of a mail-on orgd: see harness_mail.h. */
#include "harness_mail.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness_http.h"
#include "testutil.h"

const char *th_smtp_url, *th_mailpit_api;

bool th_mail_setup(const char *program)
{
    th_smtp_url = getenv("ORGD_TEST_SMTP_URL");
    th_mailpit_api = getenv("ORGD_TEST_MAILPIT_API");
    if (th_smtp_url == NULL || th_smtp_url[0] == '\0' || th_mailpit_api == NULL ||
        th_mailpit_api[0] == '\0') {
        fprintf(stderr,
                "%s: ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API are not set "
                "(scripts/test sets them; or scripts/mail start and api-url): skipped\n",
                program);
        return false;
    }
    return true;
}

struct buf {
    char *p;
    size_t len;
};

static size_t buf_write(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    char *p = realloc(b->p, b->len + size * n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, size * n);
    b->p = p;
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* GET api + path (a Mailpit API at `api`); the body, or NULL unless 200. Caller frees. */
static char *mp_get_at(const char *api, const char *path)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", api, path);
    struct buf b = {0};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        free(b.p);
        return NULL;
    }
    return b.p != NULL ? b.p : strdup("");
}

static json_t *mp_json_at(const char *api, const char *path)
{
    char *text = mp_get_at(api, path);
    if (text == NULL)
        fail_msg("Mailpit did not answer GET %s%s", api, path);
    json_t *j = json_loads(text, 0, NULL);
    if (j == NULL)
        fail_msg("Mailpit's answer to %s is not JSON: %.300s", path, text);
    free(text);
    return j;
}

json_t *th_mp_list_at(const char *api, const char *to, const char *subject)
{
    char query[160], path[512];
    snprintf(query, sizeof query, "to:\"%s\"", to);
    char *q = curl_easy_escape(NULL, query, 0);
    snprintf(path, sizeof path, "/search?query=%s&limit=200", q);
    curl_free(q);
    json_t *j = mp_json_at(api, path), *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "messages"), i, m)
    {
        const char *s = json_string_value(json_object_get(m, "Subject"));
        if (subject == NULL || (s != NULL && strstr(s, subject) != NULL))
            json_array_append(out, m);
    }
    json_decref(j);
    return out;
}

json_t *th_mp_wait_at(const char *api, const char *to, const char *subject, size_t want,
                      int timeout_ms)
{
    int64_t until = tu_now_ms() + timeout_ms;
    for (;;) {
        json_t *l = th_mp_list_at(api, to, subject);
        if (json_array_size(l) >= want || tu_now_ms() > until) {
            if (json_array_size(l) < want)
                fail_msg("%zu of %zu mails (subject \"%s\") to %s came within %d ms",
                         json_array_size(l), want, subject ? subject : "", to, timeout_ms);
            return l;
        }
        json_decref(l);
        tu_sleep_ms(100);
    }
}

json_t *th_mp_wait(const char *to, const char *subject, size_t want)
{
    return th_mp_wait_at(th_mailpit_api, to, subject, want, TH_MAIL_WAIT_MS);
}

void th_mp_expect_exactly_at(const char *api, const char *to, const char *subject, size_t want)
{
    json_decref(th_mp_wait_at(api, to, subject, want, TH_MAIL_WAIT_MS));
    tu_sleep_ms(TH_MAIL_QUIET_MS);
    json_t *l = th_mp_list_at(api, to, subject);
    if (json_array_size(l) != want)
        fail_msg("%zu mails (subject \"%s\") to %s, not %zu", json_array_size(l),
                 subject ? subject : "", to, want);
    json_decref(l);
}

json_t *th_mp_message(const json_t *summary)
{
    char path[128];
    snprintf(path, sizeof path, "/message/%s", th_json_str(summary, "ID"));
    return mp_json_at(th_mailpit_api, path);
}

char *th_mp_raw(const json_t *summary)
{
    char path[128];
    snprintf(path, sizeof path, "/message/%s/raw", th_json_str(summary, "ID"));
    char *raw = mp_get_at(th_mailpit_api, path);
    if (raw == NULL)
        fail_msg("no raw message %s", path);
    return raw;
}

json_t *th_mp_newest(const char *to, const char *subject, size_t count)
{
    json_t *l = th_mp_wait(to, subject, count);
    json_t *m = th_mp_message(json_array_get(l, 0));
    json_decref(l);
    return m;
}

void th_mail_token_of(const json_t *message, char *out, size_t cap)
{
    const char *text = th_json_str(message, "Text");
    const char *p = strstr(text, "token=");
    if (p == NULL)
        fail_msg("no link with a token in the mail: %s", text);
    p += 6;
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_%");
    if (n < 40 || n >= cap)
        fail_msg("the link's token is %zu characters: %s", n, text);
    memcpy(out, p, n);
    out[n] = '\0';
    th_secret_remember(out);
}

const char *th_mail_raw_header(const char *raw, const char *name)
{
    size_t n = strlen(name);
    const char *end = strstr(raw, "\r\n\r\n");
    for (const char *p = raw; p != NULL && (end == NULL || p < end);) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p;
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return NULL;
}

const char *const *th_mail_env(const char *const *more)
{
    static char smtp[600];
    static const char *env[32];
    snprintf(smtp, sizeof smtp, "SMTP_URL=%s", th_smtp_url);
    const char *base[] = {smtp,
                          "MAIL_FROM=Orgd Tests <" TH_MAIL_FROM_ADDR ">",
                          "MAIL_RETRY_SCHEDULE=1,1,1,2,2,2",
                          "MAIL_PER_ADDRESS=0",
                          "MAIL_PER_EMAIL=0",
                          "PUBLIC_URL=http://orgd.test",
                          "ARGON2_MEMORY_KIB=1024",
                          "ARGON2_ITERATIONS=1",
                          NULL};
    size_t n = 0;
    for (size_t i = 0; more && more[i] && n < 16; i++)
        env[n++] = more[i];
    for (size_t i = 0; base[i]; i++)
        env[n++] = base[i];
    env[n] = NULL;
    return env;
}

json_t *th_accept_new(const struct th_orgd *o, const char *token, long want)
{
    return th_expect_json(o, "POST", "/invitations/accept", NULL,
                          json_pack("{s:s, s:s}", "token", token, "password", TU_PASSWORD), want);
}

void th_expect_problem_type(const struct th_orgd *o, const char *method, const char *path,
                            const char *bearer, json_t *body, long status, const char *type)
{
    json_t *j = th_expect_json(o, method, path, bearer, body, status);
    assert_string_equal(th_json_str(j, "type"), type);
    json_decref(j);
}

void th_owner_with_an_org(const struct th_orgd *o, const char *prefix, struct th_account *owner,
                          char org_id[32], char org_name[64])
{
    th_account_new(o, "owner", owner);
    th_org_new(o, owner->t.access, prefix, org_id, org_name);
}

json_t *th_invite_by_mail(const struct th_orgd *o, const char *token, const char *org_id,
                          const char *email)
{
    char path[160];
    snprintf(path, sizeof path, "/organization/%s/invite", org_id);
    return th_expect_json(o, "POST", path, token, json_pack("{s:s}", "email", email), 201);
}
