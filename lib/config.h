/* config.h — every setting, with its default, from the environment and
 * optionally a .env file (the real environment wins).
 *
 * One table in config.c names each setting, its default and its bounds;
 * .env.example and the README list the same table. An invalid value stops
 * the start with one line naming the setting (the value of a secret is
 * never echoed).
 */
#ifndef ORGD_CONFIG_H
#define ORGD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "jwt.h"
#include "log.h"
#include "netaddr.h"

#define CONFIG_SECRET_MAX 512
#define CONFIG_PREVIOUS_SECRETS_MAX 2047
#define CONFIG_RETRIES_MAX 16

struct config {
    char mongo_uri[1024];
    char master_db[64];
    char jwt_secret[CONFIG_SECRET_MAX + 1];
    size_t jwt_secret_len;
    enum jwt_alg jwt_algorithm;
    char jwt_keys_file[1024];                                   /* ES256: the JWK Set */
    char jwt_previous_secrets[CONFIG_PREVIOUS_SECRETS_MAX + 1]; /* HMAC: verify only */
    long jwt_expires_seconds;
    long refresh_token_seconds;  /* a session's lifetime, from its sign-in */
    long refresh_reuse_grace_ms; /* a retry of a refresh this soon is not a reuse */
    long invitation_seconds;     /* how long an invitation's token may be accepted */
    long session_cache_ms;       /* how long a session seen live is taken as live (0 = off) */
    char jwt_issuer[128];
    char host[64];
    long port;
    long threads;
    long max_body_bytes;
    long request_timeout_ms;
    long receiving_per_client; /* 0 = threads / 2 */
    long argon2_memory_kib;
    long argon2_iterations;
    long argon2_parallelism;
    long hash_concurrency; /* 0 = number of cores */
    long hash_wait_ms;
    long hash_queue; /* 0 = threads / 2 */
    long mongo_timeout_ms;
    /* throttling: 0 = no limit */
    long login_failures_per_account;
    long login_failures_per_address;
    long login_window_seconds;
    long signups_per_address;
    long org_creates_per_address;
    long signup_window_seconds;
    char trusted_proxies_text[1024];
    struct netaddr_trust trusted_proxies; /* parsed from trusted_proxies_text */
    char cors_origins[1024];              /* comma-separated; empty = CORS off; "*" = any */
    enum log_level log_level;
    long shutdown_timeout_seconds;
    long recovery_interval_seconds;
    long recovery_age_seconds;
    long events_retention_days; /* 0 = kept for ever */
    char webhook_allowed_text[1024];
    struct netaddr_trust webhook_allowed; /* parsed from webhook_allowed_text */
    int webhook_allow_http;               /* 0 false, 1 true */
    char webhook_retry_text[256];
    long webhook_retry[CONFIG_RETRIES_MAX]; /* seconds after each failed attempt */
    size_t webhook_retries;
    long webhook_timeout_seconds;
    long webhook_workers;
    /* mail (off while smtp_url is "") */
    char smtp_url[512];
    char smtp_username[256];
    char smtp_password[CONFIG_SECRET_MAX + 1];
    int smtp_require_tls; /* 0 false, 1 true */
    char mail_from[320];
    char mail_retry_text[256];
    long mail_retry[CONFIG_RETRIES_MAX];
    size_t mail_retries;
    char mail_templates_dir[1024]; /* "" = the one chosen at build time */
    char public_url[512];
    char link_invitation[512];
    char link_password_reset[512];
    char link_verify_email[512];
    int require_verified_email; /* 0 false, 1 true */
    long mail_per_address;      /* reset and check mails asked for, per client address, per hour */
    long mail_per_email;        /* ... per e-mail address */
    char docs_dir[1024];        /* Swagger UI assets; "" = the directory chosen at build time */
    long metrics_port;          /* 0 = /metrics on PORT; else on HOST:METRICS_PORT only */
    char fault_point[64];       /* honoured only by test builds (ORGD_FAULTS) */
};

/* Fills `out` from `envp` (NULL-terminated "NAME=value" strings, as environ)
 * and then, for settings the environment lacks, from the file at
 * `dotenv_path` (NULL or a missing file: skipped). Defaults fill the rest.
 * On failure returns false with ERR_INVALID in e: one field error naming the
 * setting (ENV_FILE for a malformed file) and the message as one line, e.g.
 * "PORT: must be an integer from 1 to 65535 (got \"abc\")". */
bool config_load(struct config *out, char *const *envp, const char *dotenv_path, struct error *e);

/* One setting's text as config_load would find it (the environment, then
 * the file, then the default), unchecked: for commands that need a
 * setting or two and not a whole valid configuration (`orgd keys`).
 * False (e set) only for a malformed file. */
bool config_lookup(char *const *envp, const char *dotenv_path, const char *name, char *out,
                   size_t cap, struct error *e);

/* Iterates the settings table: name, default as text, one-line description.
 * Returns false past the end. Used for `orgd --settings` and tests. */
bool config_setting_at(size_t i, const char **name, const char **def, const char **help);

#endif
