/* test_docs — the /docs/{asset} allow-list of service/docs.c: exact names
 * only (no case folding, no path tricks), and every file it reads from the
 * docs directory is installed there by the build (scripts/node-deps).
 * Linked with docs.c built with -DORGD_UNITTEST, which makes the statics
 * declared in docs-private.h reachable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "docs-private.h"

static void allow_list_names_match_exactly(void **state)
{
    (void)state;
    for (size_t i = 0; i < docs__assets_count; i++) {
        const struct docs_asset *a = docs__asset_find(docs__assets[i].name);
        assert_non_null(a);
        assert_ptr_equal(a, &docs__assets[i]);
        assert_null(strchr(a->name, '/'));
        assert_true(a->name[0] != '.');
    }
    const char *refused[] = {
        "",
        ".",
        "..",
        "../swagger-ui.css",
        "./swagger-ui.css",
        "swagger-ui.css/",
        "/swagger-ui.css",
        "swagger-ui.css/..",
        "Swagger-UI.css",
        "swagger-ui.css ",
        "swagger-ui.css.map",
        "swagger-ui-bundle.js.map",
        "index.html",
        "swagger-ui.js",
        "oauth2-redirect.html",
        "package.json",
        "..%2fCMakeLists.txt",
        "../../../../etc/passwd",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (docs__asset_find(refused[i]) != NULL)
            fail_msg("'%s' must not be served", refused[i]);
    }
}

static void every_file_asset_is_installed(void **state)
{
    (void)state;
    for (size_t i = 0; i < docs__assets_count; i++) {
        if (docs__assets[i].builtin != NULL)
            continue;
        char path[1280];
        snprintf(path, sizeof path, "%s/%s", ORGD_DOCS_DIR, docs__assets[i].name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
            fail_msg("%s is not installed (scripts/node-deps copies it at configure time)", path);
        assert_true(st.st_size <= DOCS_ASSET_MAX);
    }
}

static void page_loads_only_allowed_assets(void **state)
{
    (void)state;
    /* every /docs/ URL the page names is on the list, and the page has no
     * inline script (the CSP allows none) */
    const char *p = docs__page;
    int found = 0;
    while ((p = strstr(p, "\"/docs/")) != NULL) {
        p += strlen("\"/docs/");
        const char *end = strchr(p, '"');
        assert_non_null(end);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(end - p), p);
        if (docs__asset_find(name) == NULL)
            fail_msg("the page loads /docs/%s, which is not on the allow-list", name);
        found++;
    }
    assert_true(found >= 4);
    assert_null(strstr(docs__page, "<script>"));
    assert_non_null(strstr(docs__initializer, "url: \"/openapi.yaml\""));
    assert_null(strstr(docs__csp, "unsafe-eval"));
    assert_true(strlen(docs__csp) < 256); /* fits http_add_header's value */
}

static void openapi_is_built_in(void **state)
{
    (void)state;
    assert_true(orgd_openapi_yaml_len > 1000);
    assert_memory_equal(orgd_openapi_yaml, "openapi: 3.1", 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allow_list_names_match_exactly),
        cmocka_unit_test(every_file_asset_is_installed),
        cmocka_unit_test(page_loads_only_allowed_assets),
        cmocka_unit_test(openapi_is_built_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
