#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum setting_type { T_STRING, T_LONG, T_ENUM };

struct setting {
    const char *name;
    enum setting_type type;
    const char *def; /* NULL: required */
    size_t offset;
    size_t size;         /* T_STRING: buffer size */
    long min, max;       /* T_LONG bounds; T_STRING byte-length bounds */
    const char *choices; /* T_ENUM: "a|b|c", stored as the index */
    bool (*check)(const char *value, char *why, size_t whylen); /* T_STRING extra check */
    bool secret;                                                /* never echo the value */
    const char *help;
};

static bool check_db_name(const char *v, char *why, size_t n);
static bool check_mongo_uri(const char *v, char *why, size_t n);
static bool check_ipv4(const char *v, char *why, size_t n);
static bool check_cors(const char *v, char *why, size_t n);
static bool check_printable(const char *v, char *why, size_t n);
static bool check_cidrs(const char *v, char *why, size_t n);
static bool check_secret(const char *v, char *why, size_t n);
static bool check_schedule(const char *v, char *why, size_t n);
static bool check_previous_secrets(const char *v, char *why, size_t n);
static bool check_smtp_url(const char *v, char *why, size_t n);
static bool check_mail_from(const char *v, char *why, size_t n);
static bool check_public_url(const char *v, char *why, size_t n);
static bool check_link(const char *v, char *why, size_t n);

#define OFF(f) offsetof(struct config, f)
#define SZ(f) sizeof(((struct config *)0)->f)

static const struct setting settings[] = {
    {"MONGO_URI", T_STRING, "mongodb://127.0.0.1:27017/", OFF(mongo_uri), SZ(mongo_uri), 10, 1023,
     NULL, check_mongo_uri, true, "MongoDB connection string (credentials are never logged)"},
    {"MASTER_DB", T_STRING, "master_db", OFF(master_db), SZ(master_db), 1, 63, NULL, check_db_name,
     false, "database holding organizations, admins and tenant collections"},
    {"JWT_SECRET", T_STRING, "", OFF(jwt_secret), SZ(jwt_secret), 0, CONFIG_SECRET_MAX, NULL,
     check_secret, true,
     "HMAC key for tokens, at least 32 bytes (required unless JWT_ALGORITHM is ES256; then it "
     "only verifies the HS256 tokens it signed before)"},
    {"JWT_ALGORITHM", T_ENUM, "", OFF(jwt_algorithm), 0, 0, 0, "HS256|HS384|HS512|ES256", NULL,
     false,
     "how tokens are signed: ES256 with JWT_KEYS_FILE's keys, or HMAC with JWT_SECRET "
     "(default: ES256 when JWT_KEYS_FILE is set, else HS256)"},
    {"JWT_KEYS_FILE", T_STRING, "", OFF(jwt_keys_file), SZ(jwt_keys_file), 0, 1023, NULL, NULL,
     false, "ES256: the JWK Set file of signing keys, mode 0600 (make one with `orgd keys new`)"},
    {"JWT_PREVIOUS_SECRETS", T_STRING, "", OFF(jwt_previous_secrets), SZ(jwt_previous_secrets), 0,
     CONFIG_PREVIOUS_SECRETS_MAX, NULL, check_previous_secrets, true,
     "HMAC: comma-separated former JWT_SECRETs, each at least 32 bytes; they verify, never sign"},
    {"JWT_EXPIRES_SECONDS", T_LONG, "3600", OFF(jwt_expires_seconds), 0, 60, 604800, NULL, NULL,
     false, "access token lifetime"},
    {"REFRESH_TOKEN_SECONDS", T_LONG, "1209600", OFF(refresh_token_seconds), 0, 60, 31536000, NULL,
     NULL, false, "session (refresh token) lifetime from sign-in; refreshing does not extend it"},
    {"REFRESH_REUSE_GRACE_MS", T_LONG, "2000", OFF(refresh_reuse_grace_ms), 0, 0, 60000, NULL, NULL,
     false,
     "a rotated refresh token presented again this soon, from the same address, is a retry: it "
     "gets the pair its rotation made, and the session goes on (0 = every reuse ends it)"},
    {"SESSION_CACHE_MS", T_LONG, "1000", OFF(session_cache_ms), 0, 0, 60000, NULL, NULL, false,
     "how long a session seen live is taken as live without asking the database (0 = always "
     "ask); a session ended on another instance is refused here at most this much later"},
    {"INVITATION_TTL_SECONDS", T_LONG, "604800", OFF(invitation_seconds), 0, 60, 31536000, NULL,
     NULL, false, "how long an invitation may be accepted (default 7 days)"},
    {"JWT_ISSUER", T_STRING, "orgd", OFF(jwt_issuer), SZ(jwt_issuer), 1, 127, NULL, check_printable,
     false, "the iss claim issued and required"},
    {"HOST", T_STRING, "127.0.0.1", OFF(host), SZ(host), 7, 15, NULL, check_ipv4, false,
     "IPv4 address to listen on (0.0.0.0 for all)"},
    {"PORT", T_LONG, "8000", OFF(port), 0, 1, 65535, NULL, NULL, false, "HTTP port"},
    {"THREADS", T_LONG, "64", OFF(threads), 0, 2, 1024, NULL, NULL, false,
     "worker threads (each serves one connection at a time)"},
    {"MAX_BODY_BYTES", T_LONG, "65536", OFF(max_body_bytes), 0, 256, 16777216, NULL, NULL, false,
     "largest request body; larger gets 413 before it is read"},
    {"REQUEST_TIMEOUT_MS", T_LONG, "10000", OFF(request_timeout_ms), 0, 100, 600000, NULL, NULL,
     false, "how long a client may take to send a request, headers and body together"},
    {"RECEIVING_PER_CLIENT", T_LONG, "0", OFF(receiving_per_client), 0, 0, 1024, NULL, NULL, false,
     "workers one client address may hold while its request bodies arrive; 0 = THREADS/2"},
    {"ARGON2_MEMORY_KIB", T_LONG, "19456", OFF(argon2_memory_kib), 0, 8, 4194304, NULL, NULL, false,
     "argon2id memory cost m (KiB)"},
    {"ARGON2_ITERATIONS", T_LONG, "2", OFF(argon2_iterations), 0, 1, 64, NULL, NULL, false,
     "argon2id time cost t"},
    {"ARGON2_PARALLELISM", T_LONG, "1", OFF(argon2_parallelism), 0, 1, 16, NULL, NULL, false,
     "argon2id lanes p"},
    {"HASH_CONCURRENCY", T_LONG, "0", OFF(hash_concurrency), 0, 0, 256, NULL, NULL, false,
     "password hashes at once; 0 = number of cores"},
    {"HASH_QUEUE", T_LONG, "0", OFF(hash_queue), 0, 0, 1024, NULL, NULL, false,
     "requests that may wait for a hashing slot; more get 503 at once; 0 = THREADS/2"},
    {"HASH_WAIT_MS", T_LONG, "5000", OFF(hash_wait_ms), 0, 0, 60000, NULL, NULL, false,
     "how long a request waits for a hashing slot before 503"},
    {"MONGO_TIMEOUT_MS", T_LONG, "2000", OFF(mongo_timeout_ms), 0, 100, 60000, NULL, NULL, false,
     "server selection and connect timeout; a dead database is a 503 this fast"},
    {"LOGIN_FAILURES_PER_ACCOUNT", T_LONG, "10", OFF(login_failures_per_account), 0, 0, 1000000,
     NULL, NULL, false, "failed logins per account (e-mail) per window, then 429; 0 = no limit"},
    {"LOGIN_FAILURES_PER_ADDRESS", T_LONG, "100", OFF(login_failures_per_address), 0, 0, 1000000,
     NULL, NULL, false, "failed logins per client address per window, then 429; 0 = no limit"},
    {"LOGIN_WINDOW_SECONDS", T_LONG, "900", OFF(login_window_seconds), 0, 1, 86400, NULL, NULL,
     false, "the window failed logins are counted in"},
    {"SIGNUPS_PER_ADDRESS", T_LONG, "20", OFF(signups_per_address), 0, 0, 1000000, NULL, NULL,
     false, "sign-ups per client address per window, then 429; 0 = no limit"},
    {"ORG_CREATES_PER_ADDRESS", T_LONG, "20", OFF(org_creates_per_address), 0, 0, 1000000, NULL,
     NULL, false, "POST /org/create per client address per window, then 429; 0 = no limit"},
    {"SIGNUP_WINDOW_SECONDS", T_LONG, "3600", OFF(signup_window_seconds), 0, 1, 86400, NULL, NULL,
     false, "the window sign-ups and org creations are counted in"},
    {"TRUSTED_PROXIES", T_STRING, "", OFF(trusted_proxies_text), SZ(trusted_proxies_text), 0, 1023,
     NULL, check_cidrs, false,
     "comma-separated CIDRs of proxies whose X-Forwarded-For names the client; empty = none"},
    {"CORS_ORIGINS", T_STRING, "", OFF(cors_origins), SZ(cors_origins), 0, 1023, NULL, check_cors,
     false, "comma-separated allowed origins, * for any; empty = no CORS"},
    {"LOG_LEVEL", T_ENUM, "info", OFF(log_level), 0, 0, 0, "debug|info|warn|error", NULL, false,
     "least severe level written"},
    {"SHUTDOWN_TIMEOUT_SECONDS", T_LONG, "20", OFF(shutdown_timeout_seconds), 0, 1, 3600, NULL,
     NULL, false, "on SIGTERM, how long in-flight requests may take to finish"},
    {"RECOVERY_INTERVAL_SECONDS", T_LONG, "30", OFF(recovery_interval_seconds), 0, 1, 86400, NULL,
     NULL, false, "how often interrupted operations are looked for"},
    {"RECOVERY_AGE_SECONDS", T_LONG, "60", OFF(recovery_age_seconds), 0, 0, 86400, NULL, NULL,
     false, "an operation older than this is taken as interrupted and finished or undone"},
    {"EVENTS_RETENTION_DAYS", T_LONG, "365", OFF(events_retention_days), 0, 0, 36500, NULL, NULL,
     false,
     "audit log events older than this are removed (the newest of each chain stays); 0 = "
     "kept for ever"},
    {"WEBHOOK_ALLOWED_NETWORKS", T_STRING, "", OFF(webhook_allowed_text), SZ(webhook_allowed_text),
     0, 1023, NULL, check_cidrs, false,
     "comma-separated CIDRs webhooks may be sent to although private, loopback or link-local "
     "(tests, private deployments); empty = none"},
    {"WEBHOOK_ALLOW_HTTP", T_ENUM, "false", OFF(webhook_allow_http), 0, 0, 0, "false|true", NULL,
     false, "true: webhook URLs may be http, not only https (tests, private networks)"},
    {"WEBHOOK_RETRY_SCHEDULE", T_STRING, "5,300,1800,7200,18000,36000", OFF(webhook_retry_text),
     SZ(webhook_retry_text), 1, 255, NULL, check_schedule, false,
     "seconds before each retry of a failed webhook delivery, comma-separated; after the last, "
     "the delivery has failed"},
    {"WEBHOOK_TIMEOUT_SECONDS", T_LONG, "10", OFF(webhook_timeout_seconds), 0, 1, 60, NULL, NULL,
     false, "how long one webhook attempt may take, connecting included"},
    {"WEBHOOK_WORKERS", T_LONG, "2", OFF(webhook_workers), 0, 0, 32, NULL, NULL, false,
     "threads sending webhooks (each sends one at a time; 0 = this instance sends none)"},
    {"SMTP_URL", T_STRING, "", OFF(smtp_url), SZ(smtp_url), 0, 511, NULL, check_smtp_url, false,
     "smtp://host:port (STARTTLS when offered) or smtps://host:port; empty = mail off"},
    {"SMTP_USERNAME", T_STRING, "", OFF(smtp_username), SZ(smtp_username), 0, 255, NULL,
     check_printable, false, "the SMTP login, if the server wants one"},
    {"SMTP_PASSWORD", T_STRING, "", OFF(smtp_password), SZ(smtp_password), 0, CONFIG_SECRET_MAX,
     NULL, NULL, true, "its password (never logged)"},
    {"SMTP_REQUIRE_TLS", T_ENUM, "false", OFF(smtp_require_tls), 0, 0, 0, "false|true", NULL, false,
     "true: an smtp:// server must offer STARTTLS, or nothing is sent"},
    {"MAIL_FROM", T_STRING, "orgd <no-reply@localhost>", OFF(mail_from), SZ(mail_from), 3, 319,
     NULL, check_mail_from, false, "the From of every message: an address, or Name <address>"},
    {"MAIL_RETRY_SCHEDULE", T_STRING, "5,60,300,1800,7200,21600", OFF(mail_retry_text),
     SZ(mail_retry_text), 1, 255, NULL, check_schedule, false,
     "seconds before each retry of a message the mail server did not take; after the last, it "
     "has failed"},
    {"MAIL_TEMPLATES_DIR", T_STRING, "", OFF(mail_templates_dir), SZ(mail_templates_dir), 0, 1023,
     NULL, NULL, false, "directory of the mail templates; empty = the ones chosen at build time"},
    {"PUBLIC_URL", T_STRING, "http://localhost:8000", OFF(public_url), SZ(public_url), 8, 511, NULL,
     check_public_url, false,
     "where people reach this orgd: the links in mail point at its pages under it"},
    {"LINK_INVITATION", T_STRING, "", OFF(link_invitation), SZ(link_invitation), 0, 511, NULL,
     check_link, false, "the invitation link, with {token}; empty = orgd's own page"},
    {"LINK_PASSWORD_RESET", T_STRING, "", OFF(link_password_reset), SZ(link_password_reset), 0, 511,
     NULL, check_link, false, "the password-reset link, with {token}; empty = orgd's page"},
    {"LINK_VERIFY_EMAIL", T_STRING, "", OFF(link_verify_email), SZ(link_verify_email), 0, 511, NULL,
     check_link, false, "the address-check link, with {token}; empty = orgd's page"},
    {"REQUIRE_VERIFIED_EMAIL", T_ENUM, "false", OFF(require_verified_email), 0, 0, 0, "false|true",
     NULL, false, "true: an account whose address is unproved cannot sign in (403)"},
    {"MAIL_PER_ADDRESS", T_LONG, "20", OFF(mail_per_address), 0, 0, 1000000, NULL, NULL, false,
     "reset and check mails (and invitation resends) asked for per client address per hour; 0 = "
     "no limit"},
    {"MAIL_PER_EMAIL", T_LONG, "5", OFF(mail_per_email), 0, 0, 1000000, NULL, NULL, false,
     "reset and check mails (and invitation resends) per e-mail address per hour; 0 = no limit"},
    {"DOCS_DIR", T_STRING, "", OFF(docs_dir), SZ(docs_dir), 0, 1023, NULL, NULL, false,
     "directory of the Swagger UI assets served at /docs; empty = the one chosen at build time"},
    {"METRICS_PORT", T_LONG, "0", OFF(metrics_port), 0, 0, 65535, NULL, NULL, false,
     "0 = /metrics on PORT; else /metrics only on this port (same HOST)"},
    {"FAULT_POINT", T_STRING, "", OFF(fault_point), SZ(fault_point), 0, 63, NULL, check_printable,
     false, "test builds only: kill the process at this step (pause:<step>: wait 3 s there)"},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

/* A refused setting: ERR_INVALID whose one field error names the setting
 * and whose message is "NAME: why", the line the service logs. */
static bool setting_error(struct error *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool setting_error(struct error *e, const char *name, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    error_field(e, name, "%s", why);
    return error_set(e, ERR_INVALID, "%s: %s", name, why);
}

bool config_setting_at(size_t i, const char **name, const char **def, const char **help)
{
    if (i >= NSETTINGS)
        return false;
    *name = settings[i].name;
    *def = settings[i].def ? settings[i].def : "";
    *help = settings[i].help;
    return true;
}

/* ---- value checks ---- */

/* A retry schedule: 1 to CONFIG_RETRIES_MAX whole seconds, 1 to 604800 each. */
static bool parse_schedule(const char *v, long *out, size_t *n, char *why, size_t whylen)
{
    *n = 0;
    for (const char *p = v;;) {
        char *end = NULL;
        long s = strtol(p, &end, 10);
        if (end == p || s < 1 || s > 604800 || *n == CONFIG_RETRIES_MAX ||
            (*end != ',' && *end != '\0')) {
            snprintf(why, whylen, "must be 1 to %d whole seconds (1 to 604800), comma-separated",
                     CONFIG_RETRIES_MAX);
            return false;
        }
        out[(*n)++] = s;
        if (*end == '\0')
            return true;
        p = end + 1;
    }
}

static bool check_schedule(const char *v, char *why, size_t n)
{
    long tmp[CONFIG_RETRIES_MAX];
    size_t count = 0;
    return parse_schedule(v, tmp, &count, why, n);
}

static bool check_smtp_url(const char *v, char *why, size_t n)
{
    if (v[0] == '\0' || strncmp(v, "smtp://", 7) == 0 || strncmp(v, "smtps://", 8) == 0)
        return check_printable(v, why, n);
    snprintf(why, n, "must be smtp://host:port or smtps://host:port");
    return false;
}

/* One line (it is a header), printable, with an @. */
/* An address (no spaces, one @), or `Name <address>` where Name is printable
 * ASCII (spaces allowed, written into the From header as given). */
static bool check_mail_from(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            snprintf(why, n, "may hold only printable ASCII");
            return false;
        }
    const char *lt = strchr(v, '<');
    size_t len = strlen(v);
    const char *addr = lt != NULL ? lt + 1 : v;
    size_t alen = lt != NULL ? len - (size_t)(addr - v) - 1 : len;
    if (lt != NULL && (v[len - 1] != '>' || strchr(addr, '<') != NULL))
        alen = 0; /* not Name <address> */
    const char *at = memchr(addr, '@', alen);
    bool ok = alen >= 3 && at != NULL && at > addr && at < addr + alen - 1 &&
              memchr(at + 1, '@', alen - (size_t)(at + 1 - addr)) == NULL;
    for (size_t i = 0; ok && i < alen; i++)
        ok = addr[i] != ' ' && addr[i] != '>';
    if (!ok)
        snprintf(why, n, "must be an address, or Name <address>");
    return ok;
}

static bool check_public_url(const char *v, char *why, size_t n)
{
    if ((strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
        strpbrk(v, "?#{}\"<> ") == NULL)
        return check_printable(v, why, n);
    snprintf(why, n, "must be an http(s) URL without query or fragment");
    return false;
}

static bool check_link(const char *v, char *why, size_t n)
{
    if (v[0] == '\0')
        return true;
    if ((strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0) &&
        strstr(v, "{token}") != NULL)
        return check_printable(v, why, n);
    snprintf(why, n, "must be an http(s) URL with {token} in it");
    return false;
}

static bool check_secret(const char *v, char *why, size_t n)
{
    size_t len = strlen(v);
    if (len > 0 && len < 32) {
        snprintf(why, n, "must be at least 32 bytes (got %zu)", len);
        return false;
    }
    return true;
}

static bool check_previous_secrets(const char *v, char *why, size_t n)
{
    for (int i = 1; *v != '\0'; i++) {
        size_t len = strcspn(v, ",");
        if (len < 32) {
            snprintf(why, n, "secret %d must be at least 32 bytes (got %zu)", i, len);
            return false;
        }
        v += len;
        if (*v == ',')
            v++;
    }
    return true;
}

static bool check_db_name(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            snprintf(why, n, "may hold only letters, digits, '_' and '-'");
            return false;
        }
    }
    return true;
}

static bool check_mongo_uri(const char *v, char *why, size_t n)
{
    if (strncmp(v, "mongodb://", 10) != 0 && strncmp(v, "mongodb+srv://", 14) != 0) {
        snprintf(why, n, "must start with mongodb:// or mongodb+srv://");
        return false;
    }
    return check_printable(v, why, n);
}

static bool check_ipv4(const char *v, char *why, size_t n)
{
    struct in_addr addr; /* dotted quad only: inet_pton takes no octal, hex or short forms */
    if (inet_pton(AF_INET, v, &addr) != 1) {
        snprintf(why, n, "must be an IPv4 address such as 127.0.0.1 or 0.0.0.0");
        return false;
    }
    return true;
}

static bool check_printable(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
            snprintf(why, n, "may hold only printable ASCII without spaces");
            return false;
        }
    }
    return true;
}

static bool check_cidrs(const char *v, char *why, size_t n)
{
    struct netaddr_trust t;
    return netaddr_trust_parse(v, &t, why, n);
}

static bool check_cors(const char *v, char *why, size_t n)
{
    if (!check_printable(v, why, n))
        return false;
    if (strcmp(v, "*") == 0 || v[0] == '\0')
        return true;
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!((len > 7 && strncmp(p, "http://", 7) == 0) ||
              (len > 8 && strncmp(p, "https://", 8) == 0))) {
            snprintf(why, n, "must be * or a comma-separated list of http(s):// origins");
            return false;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

/* ---- sources ---- */

/* A .env file read into memory: at most this many settings, each line at
 * most this long. Bigger files are refused with a clear message. */
#define DOTENV_MAX_LINES 256
#define DOTENV_LINE_MAX 2048

struct dotenv {
    size_t n;
    char *keys[DOTENV_MAX_LINES];
    char *values[DOTENV_MAX_LINES];
};

static void dotenv_free(struct dotenv *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->keys[i]);
        free(d->values[i]);
    }
    d->n = 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        s[--len] = '\0';
    return s;
}

static bool dotenv_read(struct dotenv *d, const char *path, struct error *e)
{
    d->n = 0;
    if (path == NULL)
        return true;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true; /* optional */
    char line[DOTENV_LINE_MAX];
    int lineno = 0;
    bool ok = true;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            setting_error(e, "ENV_FILE", "%s:%d: line longer than %d bytes", path, lineno,
                          DOTENV_LINE_MAX - 2);
            ok = false;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (eq == NULL || eq == s) {
            setting_error(e, "ENV_FILE", "%s:%d: expected NAME=value", path, lineno);
            ok = false;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        if (d->n == DOTENV_MAX_LINES) {
            setting_error(e, "ENV_FILE", "%s: more than %d settings", path, DOTENV_MAX_LINES);
            ok = false;
            break;
        }
        d->keys[d->n] = strdup(key);
        d->values[d->n] = strdup(value);
        if (d->keys[d->n] == NULL || d->values[d->n] == NULL) {
            free(d->keys[d->n]);
            free(d->values[d->n]);
            setting_error(e, "ENV_FILE", "%s: out of memory", path);
            ok = false;
            break;
        }
        d->n++;
    }
    fclose(f);
    if (!ok)
        dotenv_free(d);
    return ok;
}

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (; envp != NULL && *envp != NULL; envp++) {
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    }
    return NULL;
}

static const char *dotenv_lookup(const struct dotenv *d, const char *name)
{
    /* the last assignment wins, as in a shell */
    for (size_t i = d->n; i > 0; i--) {
        if (strcmp(d->keys[i - 1], name) == 0)
            return d->values[i - 1];
    }
    return NULL;
}

static bool set_string(char *field, const struct setting *s, const char *value, const char *shown,
                       struct error *e)
{
    char why[160];
    size_t len = strlen(value);
    if (s->min > 0 && (long)len < s->min)
        return setting_error(e, s->name, "must be at least %ld bytes (got %zu)", s->min, len);
    if ((long)len > s->max)
        return setting_error(e, s->name, "must be at most %ld bytes (got %zu)", s->max, len);
    if (s->check != NULL && !s->check(value, why, sizeof why))
        return setting_error(e, s->name, "%s %s", why, shown);
    memcpy(field, value, len + 1);
    return true;
}

static bool set_long(char *field, const struct setting *s, const char *value, const char *shown,
                     struct error *e)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    bool digits =
        isdigit((unsigned char)value[0]) || (value[0] == '-' && isdigit((unsigned char)value[1]));
    if (!digits || errno != 0 || end == NULL || *end != '\0' || v < s->min || v > s->max)
        return setting_error(e, s->name, "must be an integer from %ld to %ld %s", s->min, s->max,
                             shown);
    memcpy(field, &v, sizeof v);
    return true;
}

/* Stored as the index of the choice, which is the enum's value. */
static bool set_enum(char *field, const struct setting *s, const char *value, const char *shown,
                     struct error *e)
{
    int idx = 0;
    for (const char *p = s->choices; *p; idx++) {
        size_t len = strcspn(p, "|");
        if (strlen(value) == len && strncasecmp(value, p, len) == 0) {
            memcpy(field, &idx, sizeof idx);
            return true;
        }
        p += len;
        if (*p == '|')
            p++;
    }
    return setting_error(e, s->name, "must be one of %s %s", s->choices, shown);
}

static bool set_one(struct config *c, const struct setting *s, const char *value, struct error *e)
{
    char *field = (char *)c + s->offset;
    char shown[96]; /* the value quoted in messages, unless it is a secret */
    if (s->secret)
        snprintf(shown, sizeof shown, "(value not shown)");
    else {
        /* at most 60 bytes of it, control characters as '?': the message is one log line */
        char safe[61];
        size_t i = 0;
        for (; value[i] != '\0' && i < sizeof safe - 1; i++)
            safe[i] = (unsigned char)value[i] < 0x20 || value[i] == 0x7f ? '?' : value[i];
        safe[i] = '\0';
        snprintf(shown, sizeof shown, "(got \"%s\")", safe);
    }
    switch (s->type) {
    case T_STRING:
        return set_string(field, s, value, shown, e);
    case T_LONG:
        return set_long(field, s, value, shown, e);
    case T_ENUM: /* empty: not given, the first choice unless config_load decides */
        return value[0] == '\0' || set_enum(field, s, value, shown, e);
    }
    return false;
}

bool config_lookup(char *const *envp, const char *dotenv_path, const char *name, char *out,
                   size_t cap, struct error *e)
{
    struct dotenv d;
    if (!dotenv_read(&d, dotenv_path, e))
        return false;
    const char *value = env_lookup(envp, name);
    if (value == NULL)
        value = dotenv_lookup(&d, name);
    for (size_t i = 0; value == NULL && i < NSETTINGS; i++) {
        if (strcmp(settings[i].name, name) == 0)
            value = settings[i].def;
    }
    snprintf(out, cap, "%s", value ? value : "");
    dotenv_free(&d);
    return true;
}

bool config_load(struct config *out, char *const *envp, const char *dotenv_path, struct error *e)
{
    struct dotenv d;
    memset(out, 0, sizeof *out);
    if (!dotenv_read(&d, dotenv_path, e))
        return false;
    bool ok = true;
    for (size_t i = 0; i < NSETTINGS && ok; i++) {
        const struct setting *s = &settings[i];
        const char *value = env_lookup(envp, s->name);
        if (value == NULL)
            value = dotenv_lookup(&d, s->name);
        if (value == NULL)
            value = s->def;
        if (value == NULL) {
            setting_error(e, s->name,
                          "is required and not set (put it in the environment or .env)");
            ok = false;
            break;
        }
        ok = set_one(out, s, value, e);
    }
    /* a key file says ES256, unless JWT_ALGORITHM says otherwise */
    const char *alg = env_lookup(envp, "JWT_ALGORITHM");
    if (alg == NULL)
        alg = dotenv_lookup(&d, "JWT_ALGORITHM");
    bool alg_given = alg != NULL && alg[0] != '\0';
    if (ok && !alg_given && out->jwt_keys_file[0] != '\0')
        out->jwt_algorithm = JWT_ES256;
    dotenv_free(&d);
    if (ok) {
        char why[160];
        out->jwt_secret_len = strlen(out->jwt_secret);
        ok = netaddr_trust_parse(out->trusted_proxies_text, &out->trusted_proxies, why,
                                 sizeof why) &&
             netaddr_trust_parse(out->webhook_allowed_text, &out->webhook_allowed, why,
                                 sizeof why) &&
             parse_schedule(out->webhook_retry_text, out->webhook_retry, &out->webhook_retries, why,
                            sizeof why) &&
             parse_schedule(out->mail_retry_text, out->mail_retry, &out->mail_retries, why,
                            sizeof why);
    }
    if (ok && out->jwt_algorithm == JWT_ES256 && out->jwt_keys_file[0] == '\0')
        ok = setting_error(e, "JWT_KEYS_FILE",
                           "is required with JWT_ALGORITHM=ES256 (make one with `orgd keys new "
                           "--file PATH`)");
    if (ok && out->jwt_algorithm != JWT_ES256 && out->jwt_keys_file[0] != '\0')
        ok = setting_error(e, "JWT_KEYS_FILE",
                           "holds ES256 keys, but JWT_ALGORITHM is %s: set it to ES256, or unset "
                           "JWT_KEYS_FILE",
                           jwt_alg_name(out->jwt_algorithm));
    if (ok && out->jwt_algorithm != JWT_ES256 && out->jwt_secret_len == 0)
        ok = setting_error(e, "JWT_SECRET",
                           "is required and not set (put it in the environment or .env), unless "
                           "JWT_ALGORITHM=ES256 with JWT_KEYS_FILE");
    if (ok && out->argon2_memory_kib < 8 * out->argon2_parallelism) {
        setting_error(e, "ARGON2_MEMORY_KIB", "must be at least 8 x ARGON2_PARALLELISM (%ld)",
                      8 * out->argon2_parallelism);
        ok = false;
    }
    if (ok && out->metrics_port == out->port) {
        setting_error(e, "METRICS_PORT",
                      "must differ from PORT (%ld), or be 0 to serve /metrics on PORT", out->port);
        ok = false;
    }
    if (!ok) {
        memset(out->smtp_password, 0, sizeof out->smtp_password);
        memset(out->jwt_secret, 0, sizeof out->jwt_secret);
        memset(out->jwt_previous_secrets, 0, sizeof out->jwt_previous_secrets);
    }
    return ok;
}
