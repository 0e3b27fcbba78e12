/* libFuzzer target: token verification on any bytes. Nothing but a token
 * signed with the key may verify; nothing may crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "jwt.h"

static jwt_t *verifier;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (verifier == NULL) {
        struct error e;
        error_clear(&e);
        verifier = jwt_new(JWT_HS256, "0123456789abcdef0123456789abcdef", 32, "orgd", 3600, &e);
        if (verifier == NULL)
            abort();
    }
    struct error e;
    error_clear(&e);
    struct jwt_claims c;
    if (jwt_verify(verifier, (const char *)data, size, 1800000000, &c, &e))
        abort(); /* the fuzzer cannot know the key: nothing it makes may verify */
    if (e.kind != ERR_UNAUTHORIZED)
        abort();
    return 0;
}
