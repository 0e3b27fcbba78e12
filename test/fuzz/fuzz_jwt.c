/* libFuzzer target: token verification, on a thread with a civetweb
 * worker's stack. The first byte picks what the rest of the input is:
 *   0: the whole token, any bytes: nothing the fuzzer makes may verify;
 *   1: the header's JSON text, in a token signed with the real key, so the
 *      fuzzer reaches the header parser (and alg checks) behind the shape checks;
 *   2: the payload's JSON text, signed with the real key, so the fuzzer
 *      reaches the claims parser that only runs after the signature verified;
 *   3: the payload's JSON text, signed ES256 with the real EC key under its
 *      kid: the same parser behind the other algorithm's checks.
 * The verifier is ES256 (a key file made at start) with JWT_SECRET set,
 * so kid-less HS256 tokens (modes 1 and 2) verify as tokens from before
 * the move to ES256 do.
 * Nothing may crash; a refusal is 401 (unauthorized) or 400 (malformed). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "forge.h"
#include "jwt.h"
#include "keyfile.h"
#include "worker_stack.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define NOW 1800000000
static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char PAYLOAD[] =
    "{\"iss\":\"orgd\",\"sub\":\"0123456789abcdef01234567\",\"sid\":\"aaaabbbbccccddddeeeeffff\","
    "\"org\":\"76543210fedcba9876543210\","
    "\"role\":\"owner\",\"iat\":1800000000,\"nbf\":1800000000,\"exp\":1800003600,\"jti\":\"ab\"}";

static jwt_t *verifier;
static struct keyfile keys; /* the EC key, to sign mode 3's tokens */

/* A compact ES256 JWS of payload with the key file's key (malloc'd). */
static char *sign_es256(const char *payload)
{
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err);
    cjose_header_set(hdr, CJOSE_HDR_KID, keys.keys[0].kid, &err);
    cjose_jws_t *jws =
        cjose_jws_sign(keys.keys[0].jwk, hdr, (const uint8_t *)payload, strlen(payload), &err);
    const char *compact = NULL;
    char *out = jws && cjose_jws_export(jws, &compact, &err) ? strdup(compact) : NULL;
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    return out;
}

struct input {
    const uint8_t *data;
    size_t size;
};

static void *verify(void *arg)
{
    const struct input *in = arg;
    int mode = in->data[0] % 4;
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
        if (mode == 3)
            token = sign_es256(json);
        else
            token = forge_jwt(mode == 1 ? json : HEADER, mode == 2 ? json : PAYLOAD, FORGE_HS256,
                              KEY, strlen(KEY));
        free(json);
    }
    if (token == NULL)
        return NULL; /* cjose would not sign it (not UTF-8 enough for its JSON) */
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
        char path[64], kid[KEYFILE_KID_BUF];
        bool created = false;
        snprintf(path, sizeof path, "/tmp/orgd-fuzz-keys-%ld.json", (long)getpid());
        unlink(path);
        if (!keyfile_new_key(path, NOW, kid, &created, &e) || !keyfile_load(path, &keys, &e))
            abort();
        verifier = jwt_new(&(struct jwt_settings){.alg = JWT_ES256,
                                                  .secret = KEY,
                                                  .secret_len = strlen(KEY),
                                                  .keys_file = path,
                                                  .issuer = "orgd",
                                                  .ttl_seconds = 3600},
                           &e);
        unlink(path);
        if (verifier == NULL)
            abort();
    }
    struct input in = {data, size};
    run_on_worker_stack(verify, &in);
    return 0;
}
