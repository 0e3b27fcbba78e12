/* forge.h — hand-made JWTs for tests: any header, any payload, signed with
 * any HMAC (or not at all), independent of the code under test. */
#ifndef ORGD_TEST_FORGE_H
#define ORGD_TEST_FORGE_H

#include <stddef.h>

enum forge_mac { FORGE_NONE, FORGE_HS256, FORGE_HS384, FORGE_HS512 };

/* header and payload are JSON texts. Returns a malloc'd compact token. */
char *forge_jwt(const char *header, const char *payload, enum forge_mac mac, const void *key,
                size_t key_len);

/* base64url without padding; malloc'd. */
char *forge_b64url(const void *data, size_t len);

#endif
