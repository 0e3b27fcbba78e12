#include "requests.h"

#include "jsonin.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One string field we accept. `out`/`cap` receive the value (cap includes
 * the NUL); `len` (optional) its length; `seen` whether it was present. */
struct field {
    const char *name;
    char *out;
    size_t cap;
    size_t *len;
    bool *seen;
};

static bool malformed(struct error *e, const char *what)
{
    return error_set(e, ERR_MALFORMED, "%s", what);
}

/* The fields[] entry for key, or NULL. */
static struct field *field_named(struct field *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].name, key) == 0)
            return &fields[i];
    }
    return NULL;
}

/* A key we do not take: a field error that names it only if it is short
 * and plain, never echoing a key that could be anything. */
static void unknown_key(struct error *e, const char *key)
{
    char shown[48];
    size_t klen = strlen(key);
    bool plain = klen < sizeof shown;
    for (size_t i = 0; plain && i < klen; i++)
        plain = (unsigned char)key[i] >= 0x20 && (unsigned char)key[i] < 0x7f;
    snprintf(shown, sizeof shown, "%s", plain ? key : "(unprintable)");
    error_field(e, shown, key[0] == '$' ? "operators are not allowed" : "is not a known field");
}

/* Takes one value into its field. Returns the kind of what was wrong with
 * it (ERR_OK, ERR_MALFORMED for a wrong type, ERR_INVALID if too long). */
static enum err_kind take_value(struct field *f, json_t *value, struct error *e)
{
    if (!json_is_string(value)) {
        error_field(e, f->name, "must be a string");
        return ERR_MALFORMED;
    }
    size_t vlen = json_string_length(value);
    *f->seen = true;
    if (vlen >= f->cap) {
        error_field(e, f->name, "is too long (at most %zu bytes)", f->cap - 1);
        return ERR_INVALID;
    }
    memcpy(f->out, json_string_value(value), vlen + 1);
    if (f->len)
        *f->len = vlen;
    return ERR_OK;
}

/* Parses body as one flat JSON object whose keys are all in fields[] and
 * whose values are all strings. Values longer than cap-1 bytes are a 422 on
 * that field. An empty body is an empty object. A wrong type anywhere makes
 * the whole a 400; otherwise unknown keys and long values make it a 422. */
static bool parse_fields(const char *body, size_t len, struct field *fields, size_t n,
                         struct error *e)
{
    for (size_t i = 0; i < n; i++) {
        *fields[i].seen = false;
        fields[i].out[0] = '\0';
        if (fields[i].len)
            *fields[i].len = 0;
    }
    if (len == 0)
        return true;
    json_t *root = jsonin_load(body, len, "request body", e);
    if (root == NULL)
        return false;
    if (!json_is_object(root)) {
        json_decref(root);
        return malformed(e, "request body must be a JSON object");
    }
    enum err_kind kind = ERR_OK;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        struct field *f = field_named(fields, n, key);
        enum err_kind k = ERR_INVALID;
        if (f == NULL)
            unknown_key(e, key);
        else
            k = take_value(f, value, e);
        if (k == ERR_MALFORMED || (k == ERR_INVALID && kind == ERR_OK))
            kind = k;
    }
    json_decref(root);
    if (kind == ERR_MALFORMED)
        return error_set(e, kind, "request body has fields of the wrong type");
    if (kind != ERR_OK)
        return error_set(e, kind, "request body has fields that are not accepted");
    return true;
}

static bool require(struct error *e, bool seen, const char *name)
{
    if (!seen)
        error_field(e, name, "is required");
    return seen;
}

static bool finish(struct error *e)
{
    if (e->nfields > 0)
        return error_set(e, ERR_INVALID, "request validation failed");
    return true;
}

bool request_create_parse(const char *body, size_t len, struct create_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t name_len = 0, email_len = 0;
    bool has_name, has_email, has_pw;
    struct field fields[] = {
        {"organization_name", out->organization_name, sizeof out->organization_name + 1, &name_len,
         &has_name},
        {"email", out->email, sizeof out->email, &email_len, &has_email},
        {"password", out->password.text, sizeof out->password.text, &out->password.len, &has_pw},
    };
    /* organization_name gets one spare byte so a 64-byte name is reported
     * by the name rule, not as "too long" for the buffer */
    char name_buf[NAME_BUF + 1];
    fields[0].out = name_buf;
    if (!parse_fields(body, len, fields, 3, e))
        return false;
    if (require(e, has_name, "organization_name"))
        names_org_valid(name_buf, name_len, "organization_name", e);
    if (require(e, has_email, "email"))
        names_email_valid(out->email, email_len, "email", e);
    if (require(e, has_pw, "password"))
        password_length_ok(out->password.len, "password", e);
    if (!finish(e))
        return false;
    memcpy(out->organization_name, name_buf, name_len + 1);
    return true;
}

bool request_login_parse(const char *body, size_t len, bool with_org, struct login_request *out,
                         struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t email_len = 0, org_len = 0;
    bool has_email, has_pw, has_org = false;
    char org[NAME_BUF + 1];
    struct field fields[] = {
        {"email", out->email, sizeof out->email, &email_len, &has_email},
        {"password", out->password.text, sizeof out->password.text, &out->password.len, &has_pw},
        {"organization_name", org, sizeof org, &org_len, &has_org},
    };
    if (!parse_fields(body, len, fields, with_org ? 3 : 2, e))
        return false;
    /* no format rules here: a wrong e-mail and a wrong password must look
     * the same, so only presence is checked */
    if (require(e, has_email, "email") && email_len == 0)
        error_field(e, "email", "must not be empty");
    if (require(e, has_pw, "password") && out->password.len == 0)
        error_field(e, "password", "must not be empty");
    if (has_org && names_org_valid(org, org_len, "organization_name", e))
        memcpy(out->organization_name, org, org_len + 1);
    return finish(e);
}

bool request_signup_parse(const char *body, size_t len, struct signup_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t email_len = 0, user_len = 0;
    bool has_email, has_pw, has_user;
    struct field fields[] = {
        {"email", out->email, sizeof out->email, &email_len, &has_email},
        {"password", out->password.text, sizeof out->password.text, &out->password.len, &has_pw},
        {"username", out->username, sizeof out->username, &user_len, &has_user},
    };
    if (!parse_fields(body, len, fields, 3, e))
        return false;
    if (require(e, has_email, "email"))
        names_email_valid(out->email, email_len, "email", e);
    if (require(e, has_pw, "password"))
        password_length_ok(out->password.len, "password", e);
    if (has_user &&
        names_display_text(out->username, &user_len, sizeof out->username, "username", e))
        names_username_valid(out->username, user_len, "username", e);
    return finish(e);
}

bool request_refresh_parse(const char *body, size_t len, const char *query_token,
                           struct refresh_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    bool has_body;
    struct field fields[] = {
        {"refresh_token", out->refresh_token, sizeof out->refresh_token, &out->len, &has_body},
    };
    if (!parse_fields(body, len, fields, 1, e))
        return false;
    if (query_token != NULL) {
        size_t qlen = strlen(query_token);
        if (has_body && (qlen != out->len || memcmp(query_token, out->refresh_token, qlen) != 0)) {
            error_field(e, "refresh_token", "the query and the body give different tokens");
            return finish(e);
        }
        if (qlen >= sizeof out->refresh_token) {
            error_field(e, "refresh_token", "is too long (at most %d bytes)",
                        REFRESH_TOKEN_FIELD_MAX);
            return finish(e);
        }
        memcpy(out->refresh_token, query_token, qlen + 1);
        out->len = qlen;
        has_body = true;
    }
    if (require(e, has_body, "refresh_token") && out->len == 0)
        error_field(e, "refresh_token", "must not be empty");
    return finish(e);
}

bool request_password_parse(const char *body, size_t len, struct password_request *out,
                            struct error *e)
{
    memset(out, 0, sizeof *out);
    bool has_cur, has_new;
    struct field fields[] = {
        {"current_password", out->current_password.text, sizeof out->current_password.text,
         &out->current_password.len, &has_cur},
        {"new_password", out->new_password.text, sizeof out->new_password.text,
         &out->new_password.len, &has_new},
    };
    if (!parse_fields(body, len, fields, 2, e))
        return false;
    if (require(e, has_cur, "current_password") && out->current_password.len == 0)
        error_field(e, "current_password", "must not be empty");
    if (require(e, has_new, "new_password"))
        password_length_ok(out->new_password.len, "new_password", e);
    return finish(e);
}

static bool same_name(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool request_update_parse(const char *body, size_t len, const char *path_name,
                          struct update_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    char org[NAME_BUF + 1], old[NAME_BUF + 1], nw[NAME_BUF + 1];
    size_t org_len = 0, old_len = 0, new_len = 0, email_len = 0;
    bool has_org, has_old, has_new;
    struct field fields[] = {
        {"organization_name", org, sizeof org, &org_len, &has_org},
        {"old_organization_name", old, sizeof old, &old_len, &has_old},
        {"new_organization_name", nw, sizeof nw, &new_len, &has_new},
        {"email", out->email, sizeof out->email, &email_len, &out->has_email},
        {"password", out->password.text, sizeof out->password.text, &out->password.len,
         &out->has_password},
        {"current_password", out->current_password.text, sizeof out->current_password.text,
         &out->current_password.len, &out->has_current_password},
    };
    if (path_name != NULL && !names_org_valid(path_name, strlen(path_name), "organization_name", e))
        return finish(e);
    if (!parse_fields(body, len, fields, 6, e))
        return false;

    const char *old_src = NULL, *old_field = NULL, *new_src = NULL, *new_field = NULL;
    size_t old_src_len = 0, new_src_len = 0;
    if (has_new) {
        new_src = nw, new_field = "new_organization_name";
        new_src_len = new_len;
        if (has_old && has_org) {
            error_field(e, "old_organization_name",
                        "give either old_organization_name or organization_name, not both");
        } else if (has_old) {
            old_src = old, old_src_len = old_len, old_field = "old_organization_name";
        } else if (has_org) {
            old_src = org, old_src_len = org_len, old_field = "organization_name";
        }
    } else {
        if (has_old)
            error_field(e, "new_organization_name", "is required with old_organization_name");
        if (has_org)
            new_src = org, new_src_len = org_len, new_field = "organization_name";
    }

    if (old_src != NULL && names_org_valid(old_src, old_src_len, old_field, e)) {
        if (path_name != NULL && !same_name(path_name, old_src))
            error_field(e, old_field, "does not match the organization in the path");
        else
            memcpy(out->old_name, old_src, old_src_len + 1);
    }
    if (new_src != NULL && names_org_valid(new_src, new_src_len, new_field, e))
        memcpy(out->new_name, new_src, new_src_len + 1);
    if (out->has_email)
        names_email_valid(out->email, email_len, "email", e);
    if (out->has_password)
        password_length_ok(out->password.len, "password", e);
    bool credentials = out->has_email || out->has_password;
    if (credentials && !out->has_current_password)
        error_field(e, "current_password", "is required to change the email or password");
    else if (credentials && out->current_password.len == 0)
        error_field(e, "current_password", "must not be empty");
    else if (!credentials && out->has_current_password)
        error_field(e, "current_password", "is only used with email or password");
    if (new_src == NULL && !out->has_email && !out->has_password && e->nfields == 0)
        error_field(e, "new_organization_name",
                    "is required (or give email or password to change)");
    if (out->old_name[0] == '\0' && path_name != NULL)
        snprintf(out->old_name, sizeof out->old_name, "%s", path_name);
    return finish(e);
}

bool request_delete_parse(const char *body, size_t len, const char *path_name,
                          const char *query_name, struct delete_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    char body_name[NAME_BUF + 1];
    size_t body_len = 0;
    bool has_body_name;
    struct field fields[] = {
        {"organization_name", body_name, sizeof body_name, &body_len, &has_body_name},
    };
    if (!parse_fields(body, len, fields, 1, e))
        return false;

    const char *chosen = NULL;
    const char *sources[3] = {path_name, query_name, has_body_name ? body_name : NULL};
    for (int i = 0; i < 3; i++) {
        if (sources[i] == NULL)
            continue;
        if (chosen == NULL) {
            chosen = sources[i];
            if (!names_org_valid(chosen, strlen(chosen), "organization_name", e))
                return finish(e);
        } else if (!same_name(chosen, sources[i])) {
            error_field(e, "organization_name",
                        "the path, query and body name different organizations");
            return finish(e);
        }
    }
    if (chosen == NULL) {
        error_field(e, "organization_name", "is required (in the path, the query or the body)");
        return finish(e);
    }
    memcpy(out->name, chosen, strlen(chosen) + 1);
    return true;
}

bool request_org_parse(const char *body, size_t len, bool create, struct org_request *out,
                       struct error *e)
{
    memset(out, 0, sizeof *out);
    char slug[NAME_BUF + 1];
    size_t name_len = 0, slug_len = 0, desc_len = 0;
    struct field fields[] = {
        {"name", out->name, sizeof out->name, &name_len, &out->has_name},
        {"slug", slug, sizeof slug, &slug_len, &out->has_slug},
        {"description", out->description, sizeof out->description, &desc_len,
         &out->has_description},
    };
    if (!parse_fields(body, len, fields, 3, e))
        return false;
    if (create)
        require(e, out->has_name, "name");
    if (out->has_name && names_display_text(out->name, &name_len, sizeof out->name, "name", e))
        names_display_name_valid(out->name, name_len, "name", e);
    if (out->has_slug && names_org_valid(slug, slug_len, "slug", e))
        memcpy(out->slug, slug, slug_len + 1);
    if (out->has_description &&
        names_display_text(out->description, &desc_len, sizeof out->description, "description", e))
        names_description_valid(out->description, desc_len, "description", e);
    if (!create && !out->has_name && !out->has_slug && !out->has_description && e->nfields == 0)
        error_field(e, "name", "give name, slug or description to change");
    return finish(e);
}

static bool role_field(const char *text, bool seen, const char *field, enum role *out,
                       struct error *e)
{
    if (!seen)
        return true;
    if (role_parse(text, out))
        return true;
    return error_field(e, field, "must be owner, admin or member");
}

bool request_invite_parse(const char *body, size_t len, struct invite_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    out->role = ROLE_MEMBER;
    char role[16];
    size_t email_len = 0;
    bool has_email, has_role;
    struct field fields[] = {
        {"email", out->email, sizeof out->email, &email_len, &has_email},
        {"role", role, sizeof role, NULL, &has_role},
    };
    if (!parse_fields(body, len, fields, 2, e))
        return false;
    if (require(e, has_email, "email"))
        names_email_valid(out->email, email_len, "email", e);
    role_field(role, has_role, "role", &out->role, e);
    return finish(e);
}

bool request_role_parse(const char *body, size_t len, enum role *out, struct error *e)
{
    char role[16];
    bool has_role;
    struct field fields[] = {{"role", role, sizeof role, NULL, &has_role}};
    if (!parse_fields(body, len, fields, 1, e))
        return false;
    if (require(e, has_role, "role"))
        role_field(role, true, "role", out, e);
    return finish(e);
}

bool request_accept_parse(const char *body, size_t len, struct accept_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t user_len = 0;
    bool has_token, has_user;
    struct field fields[] = {
        {"token", out->token, sizeof out->token, &out->token_len, &has_token},
        {"password", out->password.text, sizeof out->password.text, &out->password.len,
         &out->has_password},
        {"username", out->username, sizeof out->username, &user_len, &has_user},
    };
    if (!parse_fields(body, len, fields, 3, e))
        return false;
    if (require(e, has_token, "token") && out->token_len == 0)
        error_field(e, "token", "must not be empty");
    if (out->has_password)
        password_length_ok(out->password.len, "password", e);
    if (has_user && !out->has_password)
        error_field(e, "username", "is only used with password (a new account)");
    else if (has_user &&
             names_display_text(out->username, &user_len, sizeof out->username, "username", e))
        names_username_valid(out->username, user_len, "username", e);
    return finish(e);
}

bool request_email_parse(const char *body, size_t len, struct email_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t email_len = 0;
    bool has_email;
    struct field fields[] = {{"email", out->email, sizeof out->email, &email_len, &has_email}};
    if (!parse_fields(body, len, fields, 1, e))
        return false;
    if (require(e, has_email, "email"))
        names_email_valid(out->email, email_len, "email", e);
    return finish(e);
}

bool request_token_parse(const char *body, size_t len, bool with_password,
                         struct token_request *out, struct error *e)
{
    memset(out, 0, sizeof *out);
    size_t token_len = 0;
    bool has_token;
    struct field fields[] = {
        {"token", out->token, sizeof out->token, &token_len, &has_token},
        {"new_password", out->new_password.text, sizeof out->new_password.text,
         &out->new_password.len, &out->has_password},
    };
    if (!parse_fields(body, len, fields, with_password ? 2 : 1, e))
        return false;
    if (require(e, has_token, "token") && token_len == 0)
        error_field(e, "token", "must not be empty");
    if (with_password && require(e, out->has_password, "new_password"))
        password_length_ok(out->new_password.len, "new_password", e);
    return finish(e);
}

bool request_page_parse(const char *limit, const char *cursor, struct page_request *out,
                        struct error *e)
{
    memset(out, 0, sizeof *out);
    out->limit = 20;
    bool has_limit = limit != NULL, has_cursor = cursor != NULL;
    if (has_limit) {
        int v = 0;
        bool digits = limit[0] != '\0' && strlen(limit) <= 3; /* 1..100: no overflow */
        for (const char *p = limit; digits && *p; p++) {
            digits = *p >= '0' && *p <= '9';
            v = digits ? v * 10 + (*p - '0') : v;
        }
        if (!digits || v < 1 || v > 100)
            error_field(e, "limit", "must be an integer from 1 to 100");
        else
            out->limit = v;
    }
    if (has_cursor) {
        bool ok = strlen(cursor) == 24;
        for (const char *p = cursor; ok && *p; p++)
            ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
        if (!ok)
            error_field(e, "cursor", "is not a cursor this API returned");
        else
            memcpy(out->cursor, cursor, 25);
    }
    return finish(e);
}

bool request_event_action(const char *action, char out[40], struct error *e)
{
    out[0] = '\0';
    if (action == NULL || action[0] == '\0')
        return true;
    size_t len = strlen(action);
    bool ok = len < 40 && action[0] >= 'a' && action[0] <= 'z';
    for (size_t i = 0; ok && i < len; i++) {
        char c = action[i];
        bool star = c == '*' && i == len - 1 && i >= 2 && action[i - 1] == '.';
        ok = (c >= 'a' && c <= 'z') || c == '_' || c == '.' || star;
    }
    if (!ok) {
        error_field(e, "action", "must be an action (member.removed) or a family (member.*)");
        return finish(e);
    }
    memcpy(out, action, len + 1);
    return true;
}

void secret_text_wipe(struct secret_text *s)
{
    explicit_bzero(s->text, sizeof s->text);
    s->len = 0;
}
