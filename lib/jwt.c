#include "jwt.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonin.h"
#include "log.h"
#include "util.h"

/* Tokens verified lately, by the SHA-256 of their text: a token presented
 * again (every request of a session presents the same one) skips the
 * parsing and the MAC; its times are checked again on every use. */
#define VERIFIED_SLOTS 1024

struct verified {
    unsigned char digest[32];
    struct jwt_claims claims;
    bool used;
};

struct jwt {
    pthread_mutex_t lock; /* the verified table only */
    struct verified verified[VERIFIED_SLOTS];
    enum jwt_alg alg;
    const char *alg_name;
    size_t sig_b64_len;      /* base64url length of the MAC, without padding */
    unsigned sig_spare_bits; /* bits of the last character that carry no MAC bit */
    cjose_jwk_t *jwk;
    char issuer[128];
    long ttl;
};

const char *jwt_alg_name(enum jwt_alg alg)
{
    switch (alg) {
    case JWT_HS384:
        return "HS384";
    case JWT_HS512:
        return "HS512";
    default:
        return "HS256";
    }
}

jwt_t *jwt_new(enum jwt_alg alg, const void *secret, size_t secret_len, const char *issuer,
               long ttl_seconds, struct error *e)
{
    jwt_t *j = calloc(1, sizeof *j);
    if (j == NULL) {
        error_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    j->alg = alg;
    j->alg_name = jwt_alg_name(alg);
    size_t mac_len = alg == JWT_HS512 ? 64 : alg == JWT_HS384 ? 48 : 32;
    j->sig_b64_len = (mac_len * 4 + 2) / 3;
    j->sig_spare_bits = (unsigned)(j->sig_b64_len * 6 - mac_len * 8);
    snprintf(j->issuer, sizeof j->issuer, "%s", issuer);
    j->ttl = ttl_seconds;
    cjose_err err;
    j->jwk = cjose_jwk_create_oct_spec(secret, secret_len, &err);
    if (j->jwk == NULL) {
        error_set(e, ERR_INTERNAL, "cannot create the JWT key: %s", err.message);
        free(j);
        return NULL;
    }
    return j;
}

void jwt_destroy(jwt_t *j)
{
    if (j == NULL)
        return;
    cjose_jwk_release(j->jwk);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

bool jwt_issue(const jwt_t *j, struct jwt_claims *c, int64_t now, char **out, struct error *e)
{
    *out = NULL;
    unsigned char id[16];
    if (!random_bytes(id, sizeof id))
        return error_set(e, ERR_INTERNAL, "no randomness available");
    hex_encode(id, sizeof id, c->jti);
    c->iat = now;
    c->nbf = now;
    c->exp = now + j->ttl;

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
    if (hdr != NULL && cjose_header_set(hdr, CJOSE_HDR_ALG, j->alg_name, &err) &&
        cjose_header_set(hdr, "typ", "JWT", &err) &&
        (jws = cjose_jws_sign(j->jwk, hdr, (const uint8_t *)text, strlen(text), &err)) != NULL &&
        cjose_jws_export(jws, &compact, &err)) {
        *out = strdup(compact);
        ok = *out != NULL;
    }
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

static bool verify_uncached(const jwt_t *j, const char *token, size_t len, int64_t now,
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
    pthread_mutex_unlock(&j->lock);
    if (hit)
        return times_ok(out, now, e);
    if (!verify_uncached(j, token, len, now, out, e))
        return false;
    pthread_mutex_lock(&j->lock);
    memcpy(v->digest, digest, 32);
    v->claims = *out;
    v->used = true;
    pthread_mutex_unlock(&j->lock);
    return true;
}

static bool verify_uncached(const jwt_t *j, const char *token, size_t len, int64_t now,
                            struct jwt_claims *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return reject(e, "a bearer token is required");
    if (len > JWT_MAX_LEN) /* a request no token of ours can be: 400, as an oversized body */
        return error_set(e, ERR_MALFORMED, "the token is longer than %d bytes", JWT_MAX_LEN);

    /* shape: three base64url segments, the last one exactly as long as our MAC */
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
    size_t sig_len = len - (size_t)(dot2 + 1 - token);
    if (sig_len != j->sig_b64_len || !last_char_canonical(token[len - 1], j->sig_spare_bits))
        return reject(e, "token signature is invalid");

    /* header: alg must be exactly ours; no critical extensions */
    json_t *hdr = segment_json(token, (size_t)(dot1 - token), "token header", e);
    if (hdr == NULL)
        return false;
    json_t *alg = json_object_get(hdr, "alg");
    json_t *typ = json_object_get(hdr, "typ");
    bool hdr_ok =
        json_is_string(alg) && strcmp(json_string_value(alg), j->alg_name) == 0 &&
        json_object_get(hdr, "crit") == NULL &&
        (typ == NULL || (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0));
    json_decref(hdr);
    if (!hdr_ok)
        return reject(e, "token algorithm is not accepted");

    /* signature, through cjose; the payload is not looked at before this */
    cjose_err err;
    cjose_jws_t *jws = cjose_jws_import(token, len, &err);
    if (jws == NULL)
        return reject(e, "token is malformed");
    if (!cjose_jws_verify(jws, j->jwk, &err)) {
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
