/* Mail as it leaves orgd: templates filled (HTML-escaped in HTML), no
 * header a value could break, RFC 2047 for what is not ASCII, and a
 * multipart message whose parts decode back to what was rendered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mail.h"

static void templates_escape_html_and_flatten_lines(void **state)
{
    (void)state;
    json_t *vars = json_pack("{s:s, s:s, s:s}", "name", "<script>alert(1)</script> & \"x\"", "org",
                             "Acme\r\nBcc: victim@example.com", "missing_ok", "");
    char *html = mail_render("<p>{{name}} joined {{org}}{{absent}}</p>", vars, true);
    assert_string_equal(html, "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; "
                              "joined Acme  Bcc: victim@example.com</p>");
    char *text = mail_render("{{name}}|{{org}}", vars, false);
    assert_string_equal(text, "<script>alert(1)</script> & \"x\"|Acme  Bcc: victim@example.com");
    assert_null(strchr(text, '\n'));
    free(html);
    free(text);
    json_decref(vars);
}

static void headers_are_encoded_and_never_broken(void **state)
{
    (void)state;
    char *plain = mail_header_word("Hello there");
    assert_string_equal(plain, "Hello there");
    free(plain);
    char *word = mail_header_word("Grüße aus Zürich");
    assert_int_equal(strncmp(word, "=?UTF-8?B?", 10), 0);
    assert_null(strchr(word, '\n')); /* a short value needs no fold */
    free(word);
    /* a long value folds, each word decodes to whole characters */
    char long_value[400] = "";
    for (int i = 0; i < 60; i++)
        memcpy(long_value + 2 * i, "é", 3); /* two bytes and the NUL, overwritten by the next */
    char *folded = mail_header_word(long_value);
    assert_non_null(strstr(folded, "?=\r\n =?UTF-8?B?"));
    free(folded);
    /* a line break in any header value refuses the message */
    char *msg = NULL;
    assert_false(mail_compose("orgd <a@example.com>", "b@example.com", "Hi\r\nBcc: x@example.com",
                              "t", "<p>h</p>", "id@example.com", 0, &msg));
    assert_false(mail_compose("orgd <a@example.com>", "b@example.com\nBcc: x", "Hi", "t", "h",
                              "id@example.com", 0, &msg));
    assert_null(msg);
}

/* The base64 part after `type` in msg, decoded (malloc'd). */
static char *part(const char *msg, const char *type)
{
    const char *at = strstr(msg, type);
    assert_non_null(at);
    at = strstr(at, "\r\n\r\n");
    assert_non_null(at);
    at += 4;
    const char *end = strstr(at, "\r\n--");
    assert_non_null(end);
    char *b64 = calloc(1, (size_t)(end - at) + 1);
    size_t n = 0;
    for (const char *p = at; p < end; p++)
        if (*p != '\r' && *p != '\n')
            b64[n++] = *p;
    unsigned char *out = calloc(1, n + 4);
    int len = EVP_DecodeBlock(out, (unsigned char *)b64, (int)n);
    assert_true(len >= 0);
    while (len > 0 && n > 0 && b64[n - 1] == '=') { /* EVP counts the padding */
        len--;
        n--;
    }
    out[len] = '\0';
    free(b64);
    return (char *)out;
}

static void a_message_is_multipart_with_both_parts(void **state)
{
    (void)state;
    char *msg = NULL;
    const char *text = "Bonjour Zoë,\nvoici le lien: https://example.com/x?token=abc\n";
    const char *html = "<p>Bonjour Zoë</p>";
    assert_true(mail_compose("orgd <no-reply@example.com>", "zoe@example.com", "Invitation à Café",
                             text, html, "6b16abc@example.com", 1796649402000, &msg));
    assert_non_null(strstr(msg, "From: orgd <no-reply@example.com>\r\n"));
    assert_non_null(strstr(msg, "To: zoe@example.com\r\n"));
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
    assert_non_null(strstr(msg, "Date: Mon, 07 Dec 2026 13:16:42 +0000\r\n"));
    assert_non_null(strstr(msg, "Message-ID: <6b16abc@example.com>\r\n"));
    assert_non_null(strstr(msg, "MIME-Version: 1.0\r\n"));
    assert_non_null(strstr(msg, "Content-Type: multipart/alternative; boundary="));
    char *t = part(msg, "Content-Type: text/plain; charset=UTF-8");
    char *h = part(msg, "Content-Type: text/html; charset=UTF-8");
    assert_string_equal(t, text);
    assert_string_equal(h, html);
    /* every line of the message is short, as SMTP wants */
    for (const char *p = msg; *p;) {
        size_t len = strcspn(p, "\n");
        assert_true(len <= 998);
        p += len + (p[len] == '\n');
    }
    free(t);
    free(h);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(templates_escape_html_and_flatten_lines),
        cmocka_unit_test(headers_are_encoded_and_never_broken),
        cmocka_unit_test(a_message_is_multipart_with_both_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
