/* libFuzzer target: token verification, on a thread with a civetweb
 * worker's stack. The first byte picks what the rest of the input is:
 *   0: the whole token, any bytes: nothing the fuzzer makes may verify;
 *   1: the header's JSON text, in a token signed with the real key, so the
 *      fuzzer reaches the header parser (and alg checks) behind the shape checks;
 *   2: the payload's JSON text, signed with the real key, so the fuzzer
 *      reaches the claims parser that only runs after the signature verified.
 * Nothing may crash; a refusal is 401 (unauthorized) or 400 (malformed). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "forge.h"
#include "jwt.h"
#include "worker_stack.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define NOW 1800000000
static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char PAYLOAD[] =
    "{\"iss\":\"orgd\",\"sub\":\"0123456789abcdef01234567\",\"sid\":\"aaaabbbbccccddddeeeeffff\","
    "\"org\":\"76543210fedcba9876543210\","
    "\"role\":\"owner\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"ab\"}";

static jwt_t *verifier;

struct input {
    const uint8_t *data;
    size_t size;
};

static void *verify(void *arg)
{
    const struct input *in = arg;
    int mode = in->data[0] % 3;
    const char *rest = (const char *)in->data + 1;
    size_t rest_len = in->size - 1;

    char *token = NULL;
    if (mode == 0) {
        token = malloc(rest_len + 1);
        memcpy(token, rest, rest_len);
        token[rest_len] = '\0';
    } else {
        char *json = malloc(rest_len + 1); /* forge takes NUL-terminated text */
        memcpy(json, rest, rest_len);
        json[rest_len] = '\0';
        token = forge_jwt(mode == 1 ? json : HEADER, mode == 2 ? json : PAYLOAD, FORGE_HS256, KEY,
                          strlen(KEY));
        free(json);
    }
    size_t len = mode == 0 ? rest_len : strlen(token);
    struct error e;
    error_clear(&e);
    struct jwt_claims c;
    bool ok = jwt_verify(verifier, token, len, NOW, &c, &e);
    free(token);
    if (ok && mode == 0)
        abort(); /* the fuzzer cannot know the key: nothing it makes may verify */
    if (ok && (strlen(c.sub) != JWT_ID_BUF - 1 || strlen(c.sid) != JWT_ID_BUF - 1 ||
               (c.org[0] != '\0' && strlen(c.org) != JWT_ID_BUF - 1)))
        abort(); /* a verified token has well-formed ids */
    if (!ok && e.kind != ERR_UNAUTHORIZED && e.kind != ERR_MALFORMED)
        abort();
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (verifier == NULL) {
        struct error e;
        error_clear(&e);
        verifier = jwt_new(JWT_HS256, KEY, strlen(KEY), "orgd", 3600, &e);
        if (verifier == NULL)
            abort();
    }
    struct input in = {data, size};
    run_on_worker_stack(verify, &in);
    return 0;
}
