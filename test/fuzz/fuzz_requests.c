/* libFuzzer target: every request parser, on any bytes. The parsers must
 * never crash, leak, or accept a body that is not an object of strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "requests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error e;
    const char *body = (const char *)data;

    struct create_request c;
    error_clear(&e);
    if (request_create_parse(body, size, &c, &e)) {
        /* accepted: every field is a bounded, NUL-free string */
        if (strlen(c.organization_name) < NAME_MIN || strlen(c.email) == 0 ||
            c.password.len < PASSWORD_MIN)
            abort();
    } else if (e.kind != ERR_MALFORMED && e.kind != ERR_INVALID) {
        abort();
    }

    struct login_request l;
    error_clear(&e);
    request_login_parse(body, size, &l, &e);

    struct update_request u;
    error_clear(&e);
    request_update_parse(body, size, NULL, &u, &e);
    error_clear(&e);
    request_update_parse(body, size, "acme", &u, &e);

    struct delete_request d;
    error_clear(&e);
    request_delete_parse(body, size, NULL, "Acme", &d, &e);
    return 0;
}
