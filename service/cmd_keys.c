/* cmd_keys.c — `orgd keys new|promote|retire|list [--file F]`: the ES256
 * signing keys of JWT_KEYS_FILE (lib/keyfile.h). The file is F, or the
 * JWT_KEYS_FILE of the settings (the environment, then .env). Running
 * instances pick a change up within a few seconds, or at once on SIGHUP.
 *
 * Rotation, with its waits (docs/OPERATIONS.md, "Rotating signing keys"):
 * new -> one JWKS cache lifetime -> promote -> one access-token lifetime
 * -> retire. Exit codes: 0 done, 1 refused (an unknown kid, the signing
 * key), 2 the file or the command line is wrong. */
#include "cmd_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "keyfile.h"
#include "util.h"

extern char **environ;

static int usage(void)
{
    fprintf(
        stderr,
        "usage: orgd keys new [--file F]           add a key (it verifies, and signs once\n"
        "                                          promoted; the first key of a new file signs)\n"
        "       orgd keys promote KID [--file F]   make KID the signing key\n"
        "       orgd keys retire KID [--file F]    remove KID (not the signing key)\n"
        "       orgd keys list [--file F]          the keys, the signing one first\n"
        "F defaults to JWT_KEYS_FILE (the environment, then .env).\n");
    return 2;
}

static void utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A setting as orgd would read it; "" when unset. */
static bool setting(const char *name, char *out, size_t cap)
{
    const char *env_file = getenv("ENV_FILE");
    struct error e = ERROR_INIT;
    if (config_lookup(environ, env_file ? env_file : ".env", name, out, cap, &e))
        return true;
    fprintf(stderr, "orgd keys: %s\n", e.message);
    return false;
}

static int list(const char *path)
{
    struct keyfile kf;
    struct error e = ERROR_INIT;
    if (!keyfile_load(path, &kf, &e)) {
        fprintf(stderr, "orgd keys: %s\n", e.message);
        return 2;
    }
    printf("%-44s %-6s %-9s %-21s %s\n", "KID", "ALG", "ROLE", "CREATED", "SIGNED UNTIL");
    for (size_t i = 0; i < kf.n; i++) {
        char created[32] = "-", until[32] = "-";
        if (kf.keys[i].created_at > 0)
            utc(kf.keys[i].created_at, created);
        if (kf.keys[i].signed_until > 0)
            utc(kf.keys[i].signed_until, until);
        printf("%-44s %-6s %-9s %-21s %s\n", kf.keys[i].kid, "ES256", i == 0 ? "signs" : "verifies",
               created, until);
    }
    keyfile_free(&kf);
    return 0;
}

static int fail(const struct error *e)
{
    fprintf(stderr, "orgd keys: %s\n", e->message);
    return e->kind == ERR_NOT_FOUND || e->kind == ERR_CONFLICT ? 1 : 2;
}

int cmd_keys(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *verb = argv[2], *kid = NULL, *file = NULL;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (kid == NULL && argv[i][0] != '-')
            kid = argv[i];
        else
            return usage();
    }
    bool wants_kid = strcmp(verb, "promote") == 0 || strcmp(verb, "retire") == 0;
    if ((wants_kid && kid == NULL) || (!wants_kid && kid != NULL))
        return usage();
    char path[1024];
    if (file != NULL)
        snprintf(path, sizeof path, "%s", file);
    else if (!setting("JWT_KEYS_FILE", path, sizeof path))
        return 2;
    if (path[0] == '\0') {
        fprintf(stderr, "orgd keys: which file? Give --file F, or set JWT_KEYS_FILE\n");
        return 2;
    }
    struct error e = ERROR_INIT;
    int64_t now = clock_now_ms() / 1000;
    if (strcmp(verb, "list") == 0)
        return list(path);
    if (strcmp(verb, "new") == 0) {
        char made[KEYFILE_KID_BUF];
        bool created = false;
        if (!keyfile_new_key(path, now, made, &created, &e))
            return fail(&e);
        if (created)
            printf("created %s with key %s, which signs\n", path, made);
        else
            printf(
                "added key %s to %s: it verifies and is published now, and signs once\n"
                "promoted. Wait until every verifier has it (the JWKS may be cached for 300 s),\n"
                "then: orgd keys promote %s\n",
                made, path, made);
        return 0;
    }
    if (strcmp(verb, "promote") == 0) {
        if (!keyfile_promote(path, kid, now, &e))
            return fail(&e);
        char ttl[32];
        if (!setting("JWT_EXPIRES_SECONDS", ttl, sizeof ttl))
            return 2;
        printf("key %s signs now. The tokens the key before it signed stay valid until they\n"
               "expire (JWT_EXPIRES_SECONDS, %s s); retire it after that.\n",
               kid, ttl);
        return 0;
    }
    if (strcmp(verb, "retire") == 0) {
        char ttl[32];
        if (!setting("JWT_EXPIRES_SECONDS", ttl, sizeof ttl))
            return 2;
        int64_t live_until = 0;
        if (!keyfile_retire(path, kid, now, strtol(ttl, NULL, 10), &live_until, &e))
            return fail(&e);
        printf("key %s retired: tokens it signed are refused from now on\n", kid);
        if (live_until > 0) {
            char when[32];
            utc(live_until, when);
            fprintf(stderr,
                    "warning: tokens it signed may still be live until %s (it stopped signing\n"
                    "less than JWT_EXPIRES_SECONDS ago): their clients get a 401 and refresh\n",
                    when);
        }
        return 0;
    }
    return usage();
}
