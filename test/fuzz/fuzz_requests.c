/* libFuzzer target: every request parser, on any bytes, on a thread with a
 * civetweb worker's stack. The parsers must never crash, leak, or accept a
 * body that is not an object of strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonin.h"
#include "requests.h"
#include "worker_stack.h"

struct input {
    const char *body;
    size_t size;
};

static void expect_refusal_kind(const struct error *e)
{
    if (e->kind != ERR_MALFORMED && e->kind != ERR_INVALID)
        abort();
}

static void *parse_all(void *arg)
{
    const struct input *in = arg;
    const char *body = in->body;
    size_t size = in->size;
    bool too_deep = jsonin_depth(body, size, JSONIN_MAX_DEPTH) > JSONIN_MAX_DEPTH;
    struct error e;

    struct create_request c;
    error_clear(&e);
    if (request_create_parse(body, size, &c, &e)) {
        /* accepted: every field is a bounded, NUL-free string */
        if (too_deep || strlen(c.organization_name) < NAME_MIN || strlen(c.email) == 0 ||
            c.password.len < PASSWORD_MIN)
            abort();
    } else {
        expect_refusal_kind(&e);
        if (too_deep && e.kind != ERR_MALFORMED) /* too deep is a 400, whatever else */
            abort();
    }

    struct login_request l;
    error_clear(&e);
    if (!request_login_parse(body, size, true, &l, &e))
        expect_refusal_kind(&e);

    struct signup_request su;
    error_clear(&e);
    if (!request_signup_parse(body, size, &su, &e))
        expect_refusal_kind(&e);

    struct refresh_request rr;
    error_clear(&e);
    if (!request_refresh_parse(body, size, NULL, &rr, &e))
        expect_refusal_kind(&e);
    else if (rr.len == 0 || strlen(rr.refresh_token) != rr.len)
        abort(); /* accepted: present, bounded, NUL-free */

    struct password_request pr;
    error_clear(&e);
    if (!request_password_parse(body, size, &pr, &e))
        expect_refusal_kind(&e);
    else if (pr.new_password.len < PASSWORD_MIN || pr.current_password.len == 0)
        abort();

    struct update_request u;
    error_clear(&e);
    if (!request_update_parse(body, size, NULL, &u, &e))
        expect_refusal_kind(&e);
    error_clear(&e);
    if (!request_update_parse(body, size, "acme", &u, &e))
        expect_refusal_kind(&e);

    struct delete_request d;
    error_clear(&e);
    if (!request_delete_parse(body, size, NULL, "Acme", &d, &e))
        expect_refusal_kind(&e);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {(const char *)data, size};
    run_on_worker_stack(parse_all, &in);
    return 0;
}
