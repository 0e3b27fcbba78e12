/* harness_keys.c — signing keys as a test handles them: see harness_keys.h. */
#include "harness_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>

#include <cmocka.h>

#include "harness_flows.h"
#include "testutil.h"

char th_keydir[64];

void th_keydir_make(const char *name, char *path, size_t cap)
{
    snprintf(th_keydir, sizeof th_keydir, "/tmp/orgd-keys-XXXXXX");
    if (mkdtemp(th_keydir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(path, cap, "%s/%s", th_keydir, name);
}

void th_keydir_remove(void)
{
    if (th_keydir[0] == '\0')
        return;
    DIR *d = opendir(th_keydir);
    struct dirent *ent;
    while (d != NULL && (ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char path[400];
        snprintf(path, sizeof path, "%s/%s", th_keydir, ent->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(th_keydir);
    th_keydir[0] = '\0';
}

static void expect_mode_0600(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != 0600)
        fail_msg("%s has mode %04o, expected 0600", path, (unsigned)(st.st_mode & 07777));
}

long th_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] != '\0' ? strchr(alphabet, s[i]) : NULL;
        if (p == NULL)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (w == cap)
                return -1;
            out[w++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return (long)w;
}

/* The JOSE header of a compact token, parsed (caller decrefs); fails the
 * test unless it is a JSON object. */
static json_t *token_header(const char *token)
{
    const char *dot = strchr(token, '.');
    if (dot == NULL)
        fail_msg("not a JWT: %.100s", token);
    unsigned char raw[1024];
    long n = th_b64url_decode(token, (size_t)(dot - token), raw, sizeof raw);
    json_t *h = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    if (!json_is_object(h))
        fail_msg("a JWT whose header is not a JSON object: %.100s", token);
    return h;
}

void th_token_kid(const char *token, char out[TH_KID_BUF])
{
    json_t *h = token_header(token);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    if (kid == NULL || strlen(kid) >= TH_KID_BUF)
        fail_msg("a token orgd issued has no kid (of at most 64 characters): %s",
                 json_dumps(h, JSON_COMPACT));
    snprintf(out, TH_KID_BUF, "%s", kid);
    json_decref(h);
}

void th_token_alg(const char *token, char *out, size_t cap)
{
    json_t *h = token_header(token);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (alg == NULL)
        fail_msg("a token orgd issued has no alg");
    snprintf(out, cap, "%s", alg);
    json_decref(h);
}

void th_jwks_get(const struct th_orgd *o, struct th_resp *r)
{
    assert_true(th_http(o, "GET", "/.well-known/jwks.json", NULL, NULL, NULL, 0, NULL, r));
    if (r->status != 200 || !json_is_array(json_object_get(r->json, "keys")))
        fail_msg("GET /.well-known/jwks.json answered %ld: %s", r->status, r->body);
}

bool th_jwks_has(const struct th_orgd *o, const char *kid)
{
    struct th_resp r;
    th_jwks_get(o, &r);
    bool found = false;
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(r.json, "keys"), i, k)
    {
        const char *s = json_string_value(json_object_get(k, "kid"));
        found = found || (s != NULL && strcmp(s, kid) == 0);
    }
    th_resp_free(&r);
    return found;
}

int64_t th_wait_jwks(const struct th_orgd *o, const char *kid, bool present)
{
    int64_t start = tu_now_ms();
    while (th_jwks_has(o, kid) != present) {
        if (tu_now_ms() - start > TH_KEYS_WAIT_MS)
            fail_msg("%s's JWK Set %s key %s after %d ms", o->base,
                     present ? "still lacks" : "still holds", kid, TH_KEYS_WAIT_MS);
        tu_sleep_ms(100);
    }
    return tu_now_ms() - start;
}

int64_t th_wait_signing_kid(const struct th_orgd *o, const char *email, const char *kid,
                            struct th_tokens *t)
{
    int64_t start = tu_now_ms();
    for (;;) {
        char got[TH_KID_BUF];
        th_signin_ok(o, email, TU_PASSWORD, t);
        th_token_kid(t->access, got);
        if (strcmp(got, kid) == 0)
            return tu_now_ms() - start;
        if (tu_now_ms() - start > TH_KEYS_WAIT_MS)
            fail_msg("%s still signs with %s, not %s, after %d ms", o->base, got, kid,
                     TH_KEYS_WAIT_MS);
        tu_sleep_ms(100);
    }
}

/* ---- the `orgd keys` commands ---- */

void th_keys_ok(struct th_orgd *o, const char *verb, const char *kid, const char *file, char *out,
                size_t cap)
{
    const char *with_kid[] = {"keys", verb, kid, "--file", file, NULL};
    const char *without[] = {"keys", verb, "--file", file, NULL};
    int code = th_orgd_command(o, kid ? with_kid : without, NULL, out, cap);
    if (code != 0)
        fail_msg("orgd keys %s %s exited %d:\n%s", verb, kid ? kid : "", code, out);
    expect_mode_0600(file); /* every write of the file keeps it private */
}

size_t th_keys_list(struct th_orgd *o, const char *file, char (*kids)[TH_KID_BUF], size_t max)
{
    char out[4096];
    th_keys_ok(o, "list", NULL, file, out, sizeof out);
    size_t n = 0;
    char *line = strchr(out, '\n'); /* after the heading */
    while (line != NULL && line[1] != '\0' && n < max) {
        char kid[TH_KID_BUF], alg[16], role[16];
        if (sscanf(line + 1, "%64s %15s %15s", kid, alg, role) != 3)
            fail_msg("orgd keys list: a line that is no key: %s", line + 1);
        if (strcmp(role, n == 0 ? "signs" : "verifies") != 0 || strcmp(alg, "ES256") != 0)
            fail_msg("orgd keys list: key %zu is %s %s", n + 1, alg, role);
        snprintf(kids[n++], TH_KID_BUF, "%s", kid);
        line = strchr(line + 1, '\n');
    }
    return n;
}

void th_keys_new(struct th_orgd *o, const char *file, char kid[TH_KID_BUF])
{
    char out[2048];
    th_keys_ok(o, "new", NULL, file, out, sizeof out);
    const char *p = strstr(out, " with key "), *end = ",";
    if (p != NULL) {
        p += strlen(" with key ");
    } else if ((p = strstr(out, "added key ")) != NULL) {
        p += strlen("added key ");
        end = " ";
    } else {
        fail_msg("orgd keys new printed no kid:\n%s", out);
    }
    size_t len = strcspn(p, end);
    if (len == 0 || len >= TH_KID_BUF)
        fail_msg("orgd keys new printed no kid:\n%s", out);
    memcpy(kid, p, len);
    kid[len] = '\0';
    char kids[8][TH_KID_BUF];
    size_t n = th_keys_list(o, file, kids, 8);
    bool listed = false;
    for (size_t i = 0; i < n; i++)
        listed = listed || strcmp(kids[i], kid) == 0;
    if (!listed)
        fail_msg("orgd keys new made %s, which orgd keys list does not name", kid);
}

void th_keyfile_with(const char *file, size_t n, char (*kids)[TH_KID_BUF])
{
    struct th_orgd maker;
    th_orgd_init(&maker, NULL);
    for (size_t i = 0; i < n; i++)
        th_keys_new(&maker, file, kids[i]);
    json_t *set = json_load_file(file, 0, NULL);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(set, "keys"), i, k)
    {
        th_secret_remember(json_string_value(json_object_get(k, "d")));
    }
    json_decref(set);
}

struct th_orgd *th_es256_orgd_start(const char *file, const char *const *more)
{
    static char keys_file[512];
    snprintf(keys_file, sizeof keys_file, "JWT_KEYS_FILE=%s", file);
    const char *env[16] = {"JWT_ALGORITHM=ES256", keys_file};
    for (size_t i = 0; more && more[i] && i < 13; i++)
        env[2 + i] = more[i];
    return th_own_orgd_start(NULL, env);
}
