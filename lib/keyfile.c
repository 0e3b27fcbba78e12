#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

bool keyfile_kid_valid(const char *kid, size_t len)
{
    if (len == 0 || len > KEYFILE_KID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void keyfile_free(struct keyfile *kf)
{
    for (size_t i = 0; i < kf->n; i++) {
        cjose_jwk_release(kf->keys[i].jwk);
        json_decref(kf->keys[i].json);
    }
    free(kf->keys);
    kf->keys = NULL;
    kf->n = 0;
}

static const char *str_member(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* The key signs a message and verifies it: its private part is its public
 * part's (cjose takes d, x and y as given). */
static bool key_signs(cjose_jwk_t *jwk)
{
    static const char probe[] = "orgd key check";
    cjose_err err;
    bool ok = false;
    cjose_header_t *hdr = cjose_header_new(&err);
    cjose_jws_t *jws = NULL;
    if (hdr != NULL && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err) &&
        (jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)probe, sizeof probe - 1, &err)) != NULL)
        ok = cjose_jws_verify(jws, jwk, &err);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    return ok;
}

/* Time members of orgd's own: absent is 0; anything else but a positive integer is refused. */
static bool time_member(const json_t *o, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(o, name);
    *out = 0;
    if (v == NULL)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* One key of the set, checked; what is wrong goes into why. */
static bool parse_key(json_t *k, struct keyfile_key *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *kid = str_member(k, "kid");
    const char *kty = str_member(k, "kty"), *crv = str_member(k, "crv");
    const char *alg = str_member(k, "alg"), *use = str_member(k, "use");
    if (!json_is_object(k))
        return snprintf(why, cap, "is not a JSON object"), false;
    if (kid == NULL || !keyfile_kid_valid(kid, strlen(kid)))
        return snprintf(why, cap, "has no kid of 1 to %d characters of [A-Za-z0-9._-]",
                        KEYFILE_KID_MAX),
               false;
    snprintf(out->kid, sizeof out->kid, "%s", kid);
    if (kty == NULL || strcmp(kty, "EC") != 0)
        return snprintf(why, cap, "is of kty \"%.16s\": orgd signs with EC P-256 keys (ES256)",
                        kty ? kty : "(none)"),
               false;
    if (crv == NULL || strcmp(crv, "P-256") != 0)
        return snprintf(why, cap, "is on curve \"%.16s\": orgd signs with P-256 (ES256)",
                        crv ? crv : "(none)"),
               false;
    if ((json_object_get(k, "alg") != NULL && (alg == NULL || strcmp(alg, "ES256") != 0)) ||
        (json_object_get(k, "use") != NULL && (use == NULL || strcmp(use, "sig") != 0)))
        return snprintf(why, cap, "is not for ES256 signatures (its alg or use says otherwise)"),
               false;
    if (str_member(k, "d") == NULL)
        return snprintf(why, cap, "is a public key only: orgd needs its private key (d)"), false;
    if (str_member(k, "x") == NULL || str_member(k, "y") == NULL)
        return snprintf(why, cap, "lacks its public point (x, y)"), false;
    if (!time_member(k, "orgd_created_at", &out->created_at) ||
        !time_member(k, "orgd_signed_until", &out->signed_until))
        return snprintf(why, cap, "has an orgd_ time that is not a Unix time"), false;
    /* cjose sees the standard members only */
    json_t *std = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x",
                            str_member(k, "x"), "y", str_member(k, "y"), "d", str_member(k, "d"));
    char *text = std ? json_dumps(std, JSON_COMPACT) : NULL;
    json_decref(std);
    cjose_err err;
    out->jwk = text ? cjose_jwk_import(text, strlen(text), &err) : NULL;
    free(text);
    if (out->jwk == NULL)
        return snprintf(why, cap, "is not a valid P-256 key"), false;
    /* the public point as cjose holds it must be the file's (what the JWKS
     * publishes), and the key must sign what it verifies */
    char *pub = cjose_jwk_to_json(out->jwk, false, &err);
    json_t *held = pub ? json_loads(pub, 0, NULL) : NULL;
    cjose_get_dealloc()(pub);
    bool same = held != NULL && str_member(held, "x") != NULL && str_member(held, "y") != NULL &&
                strcmp(str_member(held, "x"), str_member(k, "x")) == 0 &&
                strcmp(str_member(held, "y"), str_member(k, "y")) == 0;
    json_decref(held);
    if (!same || !key_signs(out->jwk)) {
        cjose_jwk_release(out->jwk);
        out->jwk = NULL;
        return snprintf(why, cap, "has a private key (d) that does not match its public point"),
               false;
    }
    out->json = json_incref(k);
    return true;
}

bool keyfile_parse(const char *text, size_t len, struct keyfile *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(root, "keys");
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return error_set(e, ERR_INVALID, "is not a JWK Set: %s",
                         root == NULL ? jerr.text : "not a JSON object");
    }
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        json_decref(root);
        return error_set(e, ERR_INVALID, "holds no keys (a JWK Set is {\"keys\": [...]})");
    }
    size_t n = json_array_size(keys);
    out->keys = calloc(n, sizeof *out->keys);
    if (out->keys == NULL) {
        json_decref(root);
        return error_set(e, ERR_INTERNAL, "out of memory");
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char why[160];
        if (!parse_key(json_array_get(keys, i), &out->keys[i], why, sizeof why)) {
            ok = error_set(e, ERR_INVALID, "key %zu%s%s%s %s", i + 1,
                           out->keys[i].kid[0] ? " (kid " : "", out->keys[i].kid,
                           out->keys[i].kid[0] ? ")" : "", why);
            break;
        }
        out->n++;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out->keys[j].kid, out->keys[i].kid) == 0)
                ok = error_set(e, ERR_INVALID, "key %zu has the kid of key %zu (%s)", i + 1, j + 1,
                               out->keys[i].kid);
        }
    }
    json_decref(root);
    if (!ok)
        keyfile_free(out);
    return ok;
}

/* The file's text, from an open descriptor; checks its mode and size. */
static char *read_fd(int fd, size_t *len, struct error *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return error_set(e, ERR_INVALID, "cannot be read: %s", strerror(errno)), NULL;
    if (!S_ISREG(st.st_mode))
        return error_set(e, ERR_INVALID, "is not a regular file"), NULL;
    if ((st.st_mode & 077) != 0)
        return error_set(e, ERR_INVALID,
                         "may be read or written by others (mode %04o): chmod 600 it",
                         (unsigned)(st.st_mode & 07777)),
               NULL;
    if (st.st_size > KEYFILE_MAX_BYTES)
        return error_set(e, ERR_INVALID, "is larger than %d bytes", KEYFILE_MAX_BYTES), NULL;
    char *text = malloc((size_t)st.st_size + 1);
    if (text == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory"), NULL;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = pread(fd, text + got, (size_t)st.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    text[got] = '\0';
    *len = got;
    return text;
}

/* Prefixes e's message with the file's name: the one line a person reads. */
static bool about_file(const char *path, struct error *e)
{
    char msg[sizeof e->message];
    snprintf(msg, sizeof msg, "%s", e->message);
    return error_set(e, e->kind, "key file %s %s", path, msg);
}

static bool load_fd(int fd, const char *path, struct keyfile *out, struct error *e)
{
    size_t len = 0;
    char *text = read_fd(fd, &len, e);
    bool ok = text != NULL && keyfile_parse(text, len, out, e);
    free(text);
    return ok || about_file(path, e);
}

bool keyfile_load(const char *path, struct keyfile *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set(e, ERR_INVALID, "cannot be opened: %s", strerror(errno));
        return about_file(path, e);
    }
    bool ok = load_fd(fd, path, out, e);
    close(fd);
    return ok;
}

json_t *keyfile_public_jwk(const struct keyfile_key *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x",
                     str_member(k->json, "x"), "y", str_member(k->json, "y"), "kid", k->kid, "alg",
                     "ES256", "use", "sig");
}

/* ---- writing ---- */

/* Writes root to path atomically (see keyfile.h). With exclusive, fails
 * (ERR_CONFLICT) if path exists by then, instead of replacing it. */
static bool write_atomic(const char *path, json_t *root, bool exclusive, struct error *e)
{
    char *text = json_dumps(root, JSON_INDENT(2));
    if (text == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(text);
        return error_set(e, ERR_INVALID, "cannot create %s: %s", tmp, strerror(errno));
    }
    size_t len = strlen(text), put = 0;
    while (put < len) {
        ssize_t w = write(fd, text + put, len - put);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        put += (size_t)w;
    }
    free(text);
    bool ok = put == len && write(fd, "\n", 1) == 1 && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (ok) {
        /* link fails when the name exists: a file made meanwhile is not replaced */
        ok = exclusive ? link(tmp, path) == 0 : rename(tmp, path) == 0;
        saved = errno;
    }
    unlink(tmp); /* after link, or after a failure; after rename it is gone already */
    if (!ok)
        return error_set(e, exclusive && saved == EEXIST ? ERR_CONFLICT : ERR_INVALID,
                         "cannot write %s: %s", path, strerror(saved));
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the rename itself survives a crash */
        close(dfd);
    }
    return true;
}

static json_t *set_json(const struct keyfile *kf)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < kf->n; i++)
        json_array_append(keys, kf->keys[i].json);
    return json_pack("{s:o}", "keys", keys);
}

/* The key file, locked: opened, flock'ed, and still the file at path (a
 * command that replaced it meanwhile unlinked the one we locked). -1 with
 * ERR_NOT_FOUND in e when there is none. */
static int lock_file(const char *path, struct error *e)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            error_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_INVALID, "cannot be opened: %s",
                      strerror(errno));
            return -1;
        }
        struct stat held, now;
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &held) == 0 && stat(path, &now) == 0 &&
            held.st_ino == now.st_ino && held.st_dev == now.st_dev)
            return fd;
        close(fd);
    }
    error_set(e, ERR_INVALID, "is being replaced again and again; try later");
    return -1;
}

/* A fresh P-256 key with its RFC 7638 thumbprint as kid. */
static json_t *fresh_key(int64_t now, char kid[KEYFILE_KID_BUF], struct error *e)
{
    cjose_err err;
    cjose_jwk_t *jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    char *text = jwk ? cjose_jwk_to_json(jwk, true, &err) : NULL;
    cjose_jwk_release(jwk);
    json_t *k = text ? json_loads(text, 0, NULL) : NULL;
    cjose_get_dealloc()(text);
    const char *x = str_member(k, "x"), *y = str_member(k, "y");
    if (x == NULL || y == NULL || str_member(k, "d") == NULL) {
        json_decref(k);
        return error_set(e, ERR_INTERNAL, "cannot make a P-256 key"), NULL;
    }
    /* RFC 7638: the SHA-256 of the required members, in this order, no spaces */
    char canon[400];
    snprintf(canon, sizeof canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    unsigned char digest[32];
    char *b64 = NULL;
    size_t b64_len = 0;
    if (!sha256(canon, strlen(canon), digest) ||
        !cjose_base64url_encode(digest, sizeof digest, &b64, &b64_len, &err) ||
        b64_len >= KEYFILE_KID_BUF) {
        cjose_get_dealloc()(b64);
        json_decref(k);
        return error_set(e, ERR_INTERNAL, "cannot name the key"), NULL;
    }
    memcpy(kid, b64, b64_len);
    kid[b64_len] = '\0';
    cjose_get_dealloc()(b64);
    json_t *key = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "kty", "EC", "crv",
                            "P-256", "kid", kid, "alg", "ES256", "use", "sig", "x", x, "y", y, "d",
                            str_member(k, "d"), "orgd_created_at", (json_int_t)now);
    json_decref(k);
    return key;
}

/* What a command does to the set it read; false (e set) leaves the file. */
typedef bool (*change_fn)(struct keyfile *kf, void *arg, struct error *e);

/* Locks the file, reads it, changes it and writes it back. */
static bool change_file(const char *path, change_fn change, void *arg, struct error *e)
{
    int fd = lock_file(path, e);
    if (fd < 0)
        return about_file(path, e);
    struct keyfile kf;
    bool ok = load_fd(fd, path, &kf, e);
    if (ok) {
        ok = change(&kf, arg, e);
        json_t *root = ok ? set_json(&kf) : NULL;
        ok = ok && write_atomic(path, root, false, e);
        json_decref(root);
        keyfile_free(&kf);
    }
    close(fd); /* releases the lock, after the rename */
    return ok;
}

static bool append(struct keyfile *kf, void *arg, struct error *e)
{
    json_t *key = arg;
    (void)e;
    struct keyfile_key *keys = realloc(kf->keys, (kf->n + 1) * sizeof *keys);
    if (keys == NULL)
        return error_set(e, ERR_INTERNAL, "out of memory");
    kf->keys = keys;
    memset(&keys[kf->n], 0, sizeof keys[kf->n]);
    keys[kf->n++].json = json_incref(key);
    return true;
}

bool keyfile_new_key(const char *path, int64_t now, char kid_out[KEYFILE_KID_BUF], bool *created,
                     struct error *e)
{
    *created = false;
    json_t *key = fresh_key(now, kid_out, e);
    if (key == NULL)
        return false;
    bool ok = change_file(path, append, key, e);
    if (!ok && e->kind == ERR_NOT_FOUND) { /* no file yet: this key is its first, and signs */
        error_clear(e);
        json_t *root = json_pack("{s:[O]}", "keys", key);
        ok = write_atomic(path, root, true, e);
        json_decref(root);
        *created = ok;
        if (!ok && e->kind == ERR_CONFLICT) { /* made meanwhile: append after all */
            error_clear(e);
            ok = change_file(path, append, key, e);
        }
    }
    json_decref(key);
    return ok;
}

static size_t find(const struct keyfile *kf, const char *kid)
{
    for (size_t i = 0; i < kf->n; i++) {
        if (strcmp(kf->keys[i].kid, kid) == 0)
            return i;
    }
    return kf->n;
}

struct promotion {
    const char *kid;
    int64_t now;
};

static bool promote(struct keyfile *kf, void *arg, struct error *e)
{
    const struct promotion *p = arg;
    size_t i = find(kf, p->kid);
    if (i == kf->n)
        return error_set(e, ERR_NOT_FOUND, "holds no key %s", p->kid);
    if (i == 0)
        return true; /* signs already */
    json_object_set_new(kf->keys[0].json, "orgd_signed_until", json_integer(p->now));
    json_object_del(kf->keys[i].json, "orgd_signed_until");
    struct keyfile_key k = kf->keys[i];
    memmove(&kf->keys[1], &kf->keys[0], i * sizeof k);
    kf->keys[0] = k;
    return true;
}

bool keyfile_promote(const char *path, const char *kid, int64_t now, struct error *e)
{
    struct promotion p = {kid, now};
    return change_file(path, promote, &p, e);
}

struct retirement {
    const char *kid;
    int64_t now;
    long ttl;
    int64_t *live_until;
};

static bool retire(struct keyfile *kf, void *arg, struct error *e)
{
    struct retirement *r = arg;
    size_t i = find(kf, r->kid);
    if (i == kf->n)
        return error_set(e, ERR_NOT_FOUND, "holds no key %s", r->kid);
    if (i == 0)
        return error_set(e, ERR_CONFLICT,
                         "key %s signs: promote another key first (orgd keys promote KID)", r->kid);
    int64_t until = kf->keys[i].signed_until;
    *r->live_until = until > 0 && until + r->ttl > r->now ? until + r->ttl : 0;
    cjose_jwk_release(kf->keys[i].jwk);
    json_decref(kf->keys[i].json);
    memmove(&kf->keys[i], &kf->keys[i + 1], (kf->n - i - 1) * sizeof kf->keys[0]);
    kf->n--;
    return true;
}

bool keyfile_retire(const char *path, const char *kid, int64_t now, long token_ttl,
                    int64_t *live_until, struct error *e)
{
    *live_until = 0;
    struct retirement r = {kid, now, token_ttl, live_until};
    return change_file(path, retire, &r, e);
}
