#include "forge.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *forge_b64url(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

char *forge_jwt(const char *header, const char *payload, enum forge_mac mac, const void *key,
                size_t key_len)
{
    char *h = forge_b64url(header, strlen(header));
    char *p = forge_b64url(payload, strlen(payload));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", h, p);
    char *sig = NULL;
    if (mac == FORGE_NONE) {
        sig = calloc(1, 1);
    } else {
        const EVP_MD *md = mac == FORGE_HS256   ? EVP_sha256()
                           : mac == FORGE_HS384 ? EVP_sha384()
                                                : EVP_sha512();
        unsigned char out[EVP_MAX_MD_SIZE];
        unsigned int out_len = 0;
        HMAC(md, key, (int)key_len, (const unsigned char *)input, in_len, out, &out_len);
        sig = forge_b64url(out, out_len);
    }
    size_t total = in_len + 1 + strlen(sig) + 1;
    char *token = malloc(total);
    snprintf(token, total, "%s.%s", input, sig);
    free(h);
    free(p);
    free(input);
    free(sig);
    return token;
}
