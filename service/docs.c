/* docs.c — GET /openapi.yaml (service/openapi.yaml, compiled in), GET /docs
 * (a Swagger UI page pointed at it) and GET /docs/{asset} (Swagger UI's
 * files, from the npm package swagger-ui-dist).
 *
 * The assets are a fixed allow-list: the request's name is only ever
 * compared with the table below, and the file opened is DOCS_DIR plus the
 * table's own name, so no request can reach another file. The page's
 * start-up script is built in, so the page works under a Content-Security-
 * Policy without inline scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docs-private.h"
#include "handlers.h"
#include "log.h"

#ifndef ORGD_DOCS_DIR
#define ORGD_DOCS_DIR ""
#endif

/* Same origin only; Swagger UI sets inline styles and uses data: images. */
TESTABLE const char docs__csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

TESTABLE const char docs__page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "  <meta charset=\"utf-8\">\n"
    "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "  <title>orgd API</title>\n"
    "  <link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
    "  <link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\" sizes=\"32x32\">\n"
    "  <link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-16x16.png\" sizes=\"16x16\">\n"
    "  <style>html { box-sizing: border-box; overflow-y: scroll; } "
    "*, *::before, *::after { box-sizing: inherit; } body { margin: 0; background: #fafafa; }"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "  <div id=\"swagger-ui\"></div>\n"
    "  <script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "  <script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\n"
    "  <script src=\"/docs/swagger-initializer.js\"></script>\n"
    "</body>\n"
    "</html>\n";

/* validatorUrl null: no badge fetched from the internet. */
TESTABLE const char docs__initializer[] =
    "window.onload = function () {\n"
    "  window.ui = SwaggerUIBundle({\n"
    "    url: \"/openapi.yaml\",\n"
    "    dom_id: \"#swagger-ui\",\n"
    "    deepLinking: true,\n"
    "    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n"
    "    plugins: [SwaggerUIBundle.plugins.DownloadUrl],\n"
    "    layout: \"StandaloneLayout\",\n"
    "    validatorUrl: null,\n"
    "    displayRequestDuration: true,\n"
    "    defaultModelsExpandDepth: 0\n"
    "  });\n"
    "};\n";

TESTABLE const struct docs_asset docs__assets[] = {
    {"swagger-ui.css", "text/css; charset=utf-8", NULL},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8", NULL},
    {"swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8", NULL},
    {"swagger-initializer.js", "text/javascript; charset=utf-8", docs__initializer},
    {"favicon-32x32.png", "image/png", NULL},
    {"favicon-16x16.png", "image/png", NULL},
};

#ifdef ORGD_UNITTEST
/* the test sees docs__assets through an extern declaration, which has no sizeof */
const size_t docs__assets_count = sizeof docs__assets / sizeof docs__assets[0];
#endif

/* The allow-list entry named exactly `name`, or NULL. */
TESTABLE const struct docs_asset *docs__asset_find(const char *name)
{
    for (size_t i = 0; i < sizeof docs__assets / sizeof docs__assets[0]; i++) {
        if (strcmp(docs__assets[i].name, name) == 0)
            return &docs__assets[i];
    }
    return NULL;
}

static const char *docs__dir(const struct request *r)
{
    const char *dir = r->app->cfg->docs_dir;
    return dir[0] != '\0' ? dir : ORGD_DOCS_DIR;
}

/* Reads the asset's file whole. NULL with e set on failure; on success the
 * caller frees the buffer. */
static char *docs__read(struct request *r, const struct docs_asset *a, size_t *len, struct error *e)
{
    char path[1280];
    int n = snprintf(path, sizeof path, "%s/%s", docs__dir(r), a->name);
    if (n < 0 || (size_t)n >= sizeof path) {
        error_set(e, ERR_NOT_FOUND, "%s is not installed", a->name);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > DOCS_ASSET_MAX) {
        log_emit(LOG_WARN, "docs asset missing",
                 json_pack("{s:s, s:s}", "path", path, "error",
                           fd < 0 ? strerror(errno) : "not a regular file of a sane size"));
        if (fd >= 0)
            close(fd);
        error_set(e, ERR_NOT_FOUND, "%s is not installed (see DOCS_DIR)", a->name);
        return NULL;
    }
    size_t want = (size_t)st.st_size, got = 0;
    char *data = malloc(want > 0 ? want : 1);
    while (data != NULL && got < want) {
        ssize_t k = read(fd, data + got, want - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (data == NULL || got != want) {
        free(data);
        error_set(e, ERR_UNAVAILABLE, "%s could not be read", a->name);
        return NULL;
    }
    *len = want;
    return data;
}

/* The files, read once (on their first request) and kept for the life of
 * the process: the disk is not on the request path, and the 1.5 MB bundle
 * is not read and freed per visit. A failed read is not kept, so a
 * DOCS_DIR that appears later is found. */
#define DOCS_ASSETS (sizeof docs__assets / sizeof docs__assets[0])
static pthread_mutex_t docs__lock = PTHREAD_MUTEX_INITIALIZER;
static char *docs__data[DOCS_ASSETS];
static size_t docs__len[DOCS_ASSETS];

static const char *docs__cached(struct request *r, const struct docs_asset *a, size_t *len,
                                struct error *e)
{
    size_t i = (size_t)(a - docs__assets);
    pthread_mutex_lock(&docs__lock);
    if (docs__data[i] == NULL)
        docs__data[i] = docs__read(r, a, &docs__len[i], e);
    const char *data = docs__data[i];
    *len = docs__len[i];
    pthread_mutex_unlock(&docs__lock);
    return data;
}

bool handle_openapi(struct request *r, struct error *e)
{
    (void)e;
    http_send_bytes(r, "application/yaml; charset=utf-8", orgd_openapi_yaml, orgd_openapi_yaml_len);
    return true;
}

bool handle_docs(struct request *r, struct error *e)
{
    (void)e;
    http_add_header(r, "Content-Security-Policy", "%s", docs__csp);
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_send_bytes(r, "text/html; charset=utf-8", docs__page, sizeof docs__page - 1);
    return true;
}

bool handle_docs_asset(struct request *r, struct error *e)
{
    const struct docs_asset *a = docs__asset_find(r->param);
    if (a == NULL)
        return error_set(e, ERR_NOT_FOUND, "no such file");
    if (a->builtin != NULL) {
        http_send_bytes(r, a->content_type, a->builtin, strlen(a->builtin));
        return true;
    }
    size_t len = 0;
    const char *data = docs__cached(r, a, &len, e);
    if (data == NULL)
        return false;
    /* the Swagger UI files change only with a new build: spare browsers the
     * 1.5 MB bundle on every visit (the page and the spec stay no-store) */
    http_add_header(r, "Cache-Control", "public, max-age=3600");
    http_send_bytes(r, a->content_type, data, len);
    return true;
}
