#include "jwt.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonin.h"
#include "keyfile.h"
#include "log.h"
#include "util.h"

/* Tokens verified lately, by the SHA-256 of their text: a token presented
 * again (every request of a session presents the same one) skips the
 * parsing and the signature check; its times are checked again on every
 * use. Emptied when the keys change, so a key taken away takes its tokens
 * with it at once. */
#define VERIFIED_SLOTS 1024

struct verified {
    unsigned char digest[32];
    struct jwt_claims claims;
    bool used;
};

/* One key: what it signs with and verifies. */
struct key {
    char kid[JWT_KID_BUF];
    enum jwt_alg alg;
    cjose_jwk_t *jwk;
    json_t *public_jwk; /* ES256 only: what the JWKS shows */
};

/* The keys in use, swapped whole: keys[0] signs; legacy verifies the
 * tokens without a kid (JWT_SECRET's, or none). */
struct keyring {
    struct key *keys;
    size_t n;
    const struct key *legacy;
};

/* What identifies the key file's version as read. */
struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct jwt {
    pthread_rwlock_t keys_lock; /* ring and file */
    struct keyring ring;
    struct file_id file;
    pthread_mutex_t lock; /* the verified table and its generation */
    struct verified verified[VERIFIED_SLOTS];
    unsigned generation; /* one more at every change of keys */
    struct jwt_settings cfg;
    char *secret, *previous, *keys_file; /* cfg's strings, owned */
    char issuer[128];
};

const char *jwt_alg_name(enum jwt_alg alg)
{
    switch (alg) {
    case JWT_HS384:
        return "HS384";
    case JWT_HS512:
        return "HS512";
    case JWT_ES256:
        return "ES256";
    default:
        return "HS256";
    }
}

/* The signature's length in bytes: the MAC's, or ES256's r and s. */
static size_t sig_bytes(enum jwt_alg alg)
{
    return alg == JWT_HS512 ? 64 : alg == JWT_HS384 ? 48 : alg == JWT_ES256 ? 64 : 32;
}

void jwt_hmac_kid(const void *secret, size_t len, char out[JWT_KID_BUF])
{
    /* "hs-" and 16 hex digits of the secret's SHA-256: a name, not a clue */
    char hex[SHA256_HEX_BUF];
    sha256_hex(secret, len, hex);
    snprintf(out, JWT_KID_BUF, "hs-%.16s", hex);
}

static void ring_free(struct keyring *r)
{
    for (size_t i = 0; i < r->n; i++) {
        cjose_jwk_release(r->keys[i].jwk);
        json_decref(r->keys[i].public_jwk);
    }
    free(r->keys);
    memset(r, 0, sizeof *r);
}

static bool ring_add_hmac(struct keyring *r, enum jwt_alg alg, const char *secret, size_t len,
                          struct error *e)
{
    struct key *k = &r->keys[r->n];
    cjose_err err;
    k->jwk = cjose_jwk_create_oct_spec((const uint8_t *)secret, len, &err);
    if (k->jwk == NULL)
        return error_set(e, ERR_INTERNAL, "cannot create the JWT key: %s", err.message);
    k->alg = alg;
    jwt_hmac_kid(secret, len, k->kid);
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->keys[i].kid, k->kid) == 0) { /* the same secret twice: once is enough */
            cjose_jwk_release(k->jwk);
            k->jwk = NULL;
            return true;
        }
    }
    r->n++;
    return true;
}

/* The HMAC secrets: JWT_SECRET (signing unless ES256 signs, and the
 * legacy key) and each of JWT_PREVIOUS_SECRETS, with alg. */
static bool ring_add_secrets(struct keyring *r, const jwt_t *j, enum jwt_alg alg, struct error *e)
{
    if (j->cfg.secret_len > 0) {
        if (!ring_add_hmac(r, alg, j->secret, j->cfg.secret_len, e))
            return false;
        r->legacy = &r->keys[r->n - 1];
    }
    for (const char *p = j->previous; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len > 0 && !ring_add_hmac(r, alg, p, len, e))
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

/* Builds the key set the settings name (the key file read now). */
static bool ring_build(const jwt_t *j, struct keyring *out, struct file_id *file, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t secrets = 1;
    for (const char *p = j->previous; p != NULL && *p != '\0'; p++)
        secrets += *p == ',';
    secrets += j->previous != NULL && j->previous[0] != '\0';
    struct keyfile kf = {0};
    if (j->cfg.alg == JWT_ES256) {
        /* the version there before the read: a file replaced while it is
         * read differs from it, and is read again at the next look (taken
         * after the read, it would be the new file's, and that file would
         * never be read) */
        struct stat st;
        if (stat(j->keys_file, &st) == 0)
            *file = (struct file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
        if (!keyfile_load(j->keys_file, &kf, e))
            return false;
    }
    out->keys = calloc(kf.n + secrets, sizeof *out->keys);
    bool ok = out->keys != NULL || error_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; ok && i < kf.n; i++) {
        struct key *k = &out->keys[out->n++];
        snprintf(k->kid, sizeof k->kid, "%s", kf.keys[i].kid);
        k->alg = JWT_ES256;
        k->jwk = kf.keys[i].jwk;
        kf.keys[i].jwk = NULL; /* the ring's now */
        k->public_jwk = keyfile_public_jwk(&kf.keys[i]);
        ok = k->public_jwk != NULL || error_set(e, ERR_INTERNAL, "out of memory");
    }
    keyfile_free(&kf);
    /* under ES256 the secrets verify what they signed before, with HS256 */
    ok = ok && ring_add_secrets(out, j, j->cfg.alg == JWT_ES256 ? JWT_HS256 : j->cfg.alg, e);
    if (ok && out->n == 0)
        ok = error_set(e, ERR_INVALID, "no key to sign tokens with");
    if (!ok)
        ring_free(out);
    return ok;
}

static char *dup_or_null(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

jwt_t *jwt_new(const struct jwt_settings *s, struct error *e)
{
    jwt_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    j->cfg = *s;
    const char *prev = s->previous_secrets ? s->previous_secrets : "";
    const char *file = s->keys_file ? s->keys_file : "";
    j->secret = dup_or_null(s->secret ? s->secret : "", s->secret ? s->secret_len : 0);
    j->previous = dup_or_null(prev, strlen(prev));
    j->keys_file = dup_or_null(file, strlen(file));
    snprintf(j->issuer, sizeof j->issuer, "%s", s->issuer);
    pthread_rwlock_init(&j->keys_lock, NULL);
    pthread_mutex_init(&j->lock, NULL);
    if (j->secret == NULL || j->previous == NULL || j->keys_file == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        jwt_destroy(j);
        return NULL;
    }
    if (!ring_build(j, &j->ring, &j->file, e)) {
        jwt_destroy(j);
        return NULL;
    }
    return j;
}

void jwt_destroy(jwt_t *j)
{
    if (j == NULL)
        return;
    ring_free(&j->ring);
    pthread_rwlock_destroy(&j->keys_lock);
    pthread_mutex_destroy(&j->lock);
    if (j->secret != NULL)
        explicit_bzero(j->secret, j->cfg.secret_len);
    free(j->secret);
    if (j->previous != NULL)
        explicit_bzero(j->previous, strlen(j->previous));
    free(j->previous);
    free(j->keys_file);
    free(j);
}

static bool same_file(const struct file_id *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

enum jwt_reload jwt_reload(jwt_t *j, bool force, struct error *e)
{
    if (j->cfg.alg != JWT_ES256)
        return JWT_RELOAD_UNCHANGED;
    struct stat st;
    pthread_rwlock_rdlock(&j->keys_lock);
    bool unchanged = stat(j->keys_file, &st) == 0 && same_file(&j->file, &st);
    pthread_rwlock_unlock(&j->keys_lock);
    if (unchanged && !force)
        return JWT_RELOAD_UNCHANGED;
    struct keyring ring, old;
    struct file_id file = {0};
    if (!ring_build(j, &ring, &file, e)) {
        /* not again until the file changes once more: one log line per
         * version (the version ring_build found before it read) */
        pthread_rwlock_wrlock(&j->keys_lock);
        j->file = file;
        pthread_rwlock_unlock(&j->keys_lock);
        return JWT_RELOAD_FAILED;
    }
    pthread_rwlock_wrlock(&j->keys_lock);
    old = j->ring;
    j->ring = ring;
    j->file = file;
    pthread_rwlock_unlock(&j->keys_lock);
    ring_free(&old);
    pthread_mutex_lock(&j->lock);
    memset(j->verified, 0, sizeof j->verified);
    j->generation++;
    pthread_mutex_unlock(&j->lock);
    return JWT_RELOAD_DONE;
}

size_t jwt_key_count(jwt_t *j)
{
    pthread_rwlock_rdlock(&j->keys_lock);
    size_t n = j->ring.n;
    pthread_rwlock_unlock(&j->keys_lock);
    return n;
}

json_t *jwt_jwks(jwt_t *j)
{
    json_t *keys = json_array();
    pthread_rwlock_rdlock(&j->keys_lock);
    for (size_t i = 0; keys != NULL && i < j->ring.n; i++) {
        if (j->ring.keys[i].public_jwk != NULL)
            json_array_append(keys, j->ring.keys[i].public_jwk);
    }
    pthread_rwlock_unlock(&j->keys_lock);
    return keys ? json_pack("{s:o}", "keys", keys) : NULL;
}

bool jwt_issue(jwt_t *j, struct jwt_claims *c, int64_t now, char **out, struct error *e)
{
    *out = NULL;
    unsigned char id[16];
    if (!random_bytes(id, sizeof id))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    hex_encode(id, sizeof id, c->jti);
    c->iat = now;
    c->nbf = now;
    c->exp = now + j->cfg.ttl_seconds;

    json_t *payload = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", j->issuer, "sub",
                                c->sub, "sid", c->sid, "iat", (json_int_t)c->iat, "nbf",
                                (json_int_t)c->nbf, "exp", (json_int_t)c->exp, "jti", c->jti);
    if (payload != NULL && c->org[0] != '\0') /* org-scoped: the org and the role held there */
        json_object_update_new(payload, json_pack("{s:s, s:s}", "org", c->org, "role", c->role));
    char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(payload);
    if (text == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");

    bool ok = false;
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    cjose_jws_t *jws = NULL;
    const char *compact = NULL;
    pthread_rwlock_rdlock(&j->keys_lock);
    const struct key *k = &j->ring.keys[0];
    if (hdr != NULL && cjose_header_set(hdr, CJOSE_HDR_ALG, jwt_alg_name(k->alg), &err) &&
        cjose_header_set(hdr, CJOSE_HDR_KID, k->kid, &err) &&
        cjose_header_set(hdr, "typ", "JWT", &err) &&
        (jws = cjose_jws_sign(k->jwk, hdr, (const uint8_t *)text, strlen(text), &err)) != NULL &&
        cjose_jws_export(jws, &compact, &err)) {
        *out = strdup(compact);
        ok = *out != NULL;
    }
    pthread_rwlock_unlock(&j->keys_lock);
    if (!ok) {
        log_text(LOG_ERROR, "jwt sign failed", "%s", err.message);
        error_set(e, ERR_INTERNAL, "cannot issue a token");
    }
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    free(text);
    return ok;
}

static bool b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The spare low bits of a signature's last base64url character are zero:
 * otherwise one token could be written four (HS256) or sixteen (HS512)
 * ways, and anything keyed on the token's text would see different ones. */
static bool last_char_canonical(char c, unsigned spare_bits)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = c != '\0' ? strchr(alphabet, c) : NULL;
    return p != NULL && (((unsigned)(p - alphabet)) & ((1u << spare_bits) - 1u)) == 0;
}

/* A time claim is a plausible Unix time in seconds: arithmetic on it (the
 * leeway, milliseconds for rendering) cannot overflow. */
static bool sane_time(int64_t t)
{
    return t >= 0 && t <= JWT_TIME_MAX;
}

static bool reject(struct error *e, const char *why)
{
    return error_set(e, ERR_UNAUTHORIZED, "%s", why);
}

/* Parses a decoded segment as one JSON object (duplicate keys refused,
 * nesting bounded before jansson sees it). NULL with e set when it is not
 * one: ERR_MALFORMED (400) when it is nested too deep, else ERR_UNAUTHORIZED. */
static json_t *claims_json(const uint8_t *raw, size_t raw_len, const char *what, struct error *e)
{
    if (jsonin_depth((const char *)raw, raw_len, JSONIN_MAX_DEPTH) > JSONIN_MAX_DEPTH) {
        /* refused as bodies are (400), before any parser recurses */
        error_set(e, ERR_MALFORMED, "the %s is nested deeper than %d levels", what,
                  JSONIN_MAX_DEPTH);
        return NULL;
    }
    json_t *obj = jsonin_load((const char *)raw, raw_len, what, e);
    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        error_clear(e);
        reject(e, "token is malformed");
        return NULL;
    }
    return obj;
}

/* Decodes a base64url segment, then as claims_json. */
static json_t *segment_json(const char *seg, size_t len, const char *what, struct error *e)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    if (!cjose_base64url_decode(seg, len, &raw, &raw_len, &err)) {
        reject(e, "token is malformed");
        return NULL;
    }
    json_t *obj = claims_json(raw, raw_len, what, e);
    cjose_get_dealloc()(raw);
    return obj;
}

static bool is_hex_id(const char *s)
{
    if (strlen(s) != JWT_ID_BUF - 1)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}

static bool copy_claim_string(json_t *claims, const char *name, char *out, size_t outlen)
{
    json_t *v = json_object_get(claims, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= outlen)
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static bool claim_int(json_t *claims, const char *name, int64_t *out)
{
    json_t *v = json_object_get(claims, name);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* The times of verified claims, at now (with the leeway). */
static bool times_ok(const struct jwt_claims *c, int64_t now, struct error *e)
{
    if (now >= c->exp + JWT_LEEWAY_SECONDS)
        return reject(e, "token has expired");
    if (c->nbf > now + JWT_LEEWAY_SECONDS || c->iat > now + JWT_LEEWAY_SECONDS)
        return reject(e, "token is not valid yet");
    return true;
}

static bool verify_uncached(jwt_t *j, const char *token, size_t len, int64_t now,
                            struct jwt_claims *out, struct error *e);

bool jwt_verify(jwt_t *j, const char *token, size_t len, int64_t now, struct jwt_claims *out,
                struct error *e)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > JWT_MAX_LEN)
        return verify_uncached(j, token, len, now, out, e);
    unsigned char digest[32];
    if (!sha256(token, len, digest))
        return verify_uncached(j, token, len, now, out, e);
    struct verified *v = &j->verified[(digest[0] | digest[1] << 8) % VERIFIED_SLOTS];
    pthread_mutex_lock(&j->lock);
    bool hit = v->used && memcmp(v->digest, digest, 32) == 0;
    if (hit)
        *out = v->claims;
    unsigned generation = j->generation;
    pthread_mutex_unlock(&j->lock);
    if (hit)
        return times_ok(out, now, e);
    if (!verify_uncached(j, token, len, now, out, e))
        return false;
    pthread_mutex_lock(&j->lock);
    if (j->generation == generation) { /* not if the keys changed meanwhile */
        memcpy(v->digest, digest, 32);
        v->claims = *out;
        v->used = true;
    }
    pthread_mutex_unlock(&j->lock);
    return true;
}

/* The key a token's header names, checked against the header: its kid (or
 * none: the legacy key) and its alg, which must be the key's own. The
 * key's jwk, retained (the caller releases it), and its alg; NULL with e
 * set otherwise. */
static cjose_jwk_t *key_for(jwt_t *j, json_t *hdr, enum jwt_alg *alg, struct error *e)
{
    json_t *jalg = json_object_get(hdr, "alg"), *jkid = json_object_get(hdr, "kid");
    json_t *typ = json_object_get(hdr, "typ");
    if (!json_is_string(jalg) || json_object_get(hdr, "crit") != NULL ||
        (typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)))
        return reject(e, "token algorithm is not accepted"), NULL;
    if (jkid != NULL && (!json_is_string(jkid) ||
                         !keyfile_kid_valid(json_string_value(jkid), json_string_length(jkid))))
        return reject(e, "token key id is malformed"), NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err err;
    pthread_rwlock_rdlock(&j->keys_lock);
    const struct key *k = jkid == NULL ? j->ring.legacy : NULL;
    for (size_t i = 0; jkid != NULL && i < j->ring.n; i++) {
        if (strcmp(j->ring.keys[i].kid, json_string_value(jkid)) == 0)
            k = &j->ring.keys[i];
    }
    /* the key decides the algorithm, never the token: an ES256 header
     * naming an HMAC key (or the reverse) is refused here (RFC 8725 3.1) */
    bool alg_ok = k != NULL && strcmp(json_string_value(jalg), jwt_alg_name(k->alg)) == 0;
    if (alg_ok) {
        jwk = cjose_jwk_retain(k->jwk, &err);
        *alg = k->alg;
    }
    pthread_rwlock_unlock(&j->keys_lock);
    if (k == NULL)
        return reject(e, jkid == NULL ? "token has no key id" : "token key is not known"), NULL;
    if (!alg_ok)
        return reject(e, "token algorithm is not accepted"), NULL;
    return jwk;
}

static bool verify_uncached(jwt_t *j, const char *token, size_t len, int64_t now,
                            struct jwt_claims *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return reject(e, "a bearer token is required");
    if (len > JWT_MAX_LEN) /* a request no token of ours can be: 400, as an oversized body */
        return error_set(e, ERR_MALFORMED, "the token is longer than %d bytes", JWT_MAX_LEN);

    /* shape: three base64url segments */
    const char *dot1 = NULL, *dot2 = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c == '.') {
            if (dot1 == NULL)
                dot1 = token + i;
            else if (dot2 == NULL)
                dot2 = token + i;
            else
                return reject(e, "token is malformed");
        } else if (!b64url_char(c)) {
            return reject(e, "token is malformed");
        }
    }
    if (dot1 == NULL || dot2 == NULL || dot1 == token || dot2 == dot1 + 1)
        return reject(e, "token is malformed");

    /* header: the key it names, and that key's algorithm */
    json_t *hdr = segment_json(token, (size_t)(dot1 - token), "token header", e);
    if (hdr == NULL)
        return false;
    enum jwt_alg alg = JWT_HS256;
    cjose_jwk_t *jwk = key_for(j, hdr, &alg, e);
    json_decref(hdr);
    if (jwk == NULL)
        return false;

    /* the signature segment exactly as long as that algorithm's, and
     * canonical; then the signature, through cjose. The payload is not
     * looked at before this. */
    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    size_t want_len = (sig_bytes(alg) * 4 + 2) / 3;
    unsigned spare_bits = (unsigned)(want_len * 6 - sig_bytes(alg) * 8);
    cjose_err err;
    cjose_jws_t *jws = NULL;
    bool sig_ok = sig_len == want_len && last_char_canonical(token[len - 1], spare_bits) &&
                  (jws = cjose_jws_import(token, len, &err)) != NULL &&
                  cjose_jws_verify(jws, jwk, &err);
    cjose_jwk_release(jwk);
    if (!sig_ok) {
        cjose_jws_release(jws);
        return reject(e, "token signature is invalid");
    }
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    json_t *claims = NULL;
    if (cjose_jws_get_plaintext(jws, &plain, &plain_len, &err))
        claims = claims_json(plain, plain_len, "token payload", e);
    else
        reject(e, "token is malformed");
    cjose_jws_release(jws);
    if (claims == NULL)
        return false;

    char iss[128];
    /* org and role come together (an org-scoped token) or not at all */
    bool scoped = json_object_get(claims, "org") != NULL || json_object_get(claims, "role") != NULL;
    bool ok = copy_claim_string(claims, "iss", iss, sizeof iss) &&
              copy_claim_string(claims, "sub", out->sub, sizeof out->sub) &&
              copy_claim_string(claims, "sid", out->sid, sizeof out->sid) &&
              (!scoped || (copy_claim_string(claims, "org", out->org, sizeof out->org) &&
                           copy_claim_string(claims, "role", out->role, sizeof out->role))) &&
              copy_claim_string(claims, "jti", out->jti, sizeof out->jti) &&
              claim_int(claims, "iat", &out->iat) && claim_int(claims, "nbf", &out->nbf) &&
              claim_int(claims, "exp", &out->exp);
    json_decref(claims);
    if (!ok || !is_hex_id(out->sub) || !is_hex_id(out->sid) || (scoped && !is_hex_id(out->org)) ||
        !sane_time(out->iat) || !sane_time(out->nbf) || !sane_time(out->exp))
        return reject(e, "token claims are invalid");
    if (strcmp(iss, j->issuer) != 0)
        return reject(e, "token issuer is not accepted");
    return times_ok(out, now, e);
}
