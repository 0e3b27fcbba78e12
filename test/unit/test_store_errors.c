/* The store's translation of server errors into error kinds: by code, and
 * for FerretDB's InternalError (code 1) by its backend's words, on its
 * SQLite and its PostgreSQL backends alike. The messages are as the
 * servers wrote them (captured from FerretDB 1.24 on each backend). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store-private.h"

static enum err_kind kind_of(uint32_t domain, uint32_t code, const char *message)
{
    bson_error_t be = {.domain = domain, .code = code};
    snprintf(be.message, sizeof be.message, "%s", message);
    return store__classify(&be);
}

static void server_words_name_the_kind(void **state)
{
    (void)state;
    const struct {
        const char *message;
        enum err_kind kind;
    } cases[] = {
        /* a unique index clash on an update */
        {"[msg_update.go:133 handler.(*Handler).updateDocument] [update.go:114 "
         "common.UpdateDocument] UNIQUE constraint failed: admins.email",
         ERR_CONFLICT},
        {"[msg_update.go:133 handler.(*Handler).updateDocument] [update.go:114 "
         "common.UpdateDocument] [collection.go:227 postgresql.(*collection).UpdateAll] "
         "[collection.go:218 postgresql.(*collection).UpdateAll.func1] ERROR: duplicate key value "
         "violates unique constraint \"admins_7e2da4a5_email_unique_idx\" (SQLSTATE 23505)",
         ERR_CONFLICT},
        /* the backend went away, or FerretDB is shutting down */
        {"[msg_insert.go:168 handler.(*Handler).MsgInsert] failed to connect to `user=ferretdb "
         "database=postgres`: /tmp/db/pg/.s.PGSQL.5432 (/tmp/db/pg): dial error: dial unix "
         "/tmp/db/pg/.s.PGSQL.5432: connect: no such file or directory",
         ERR_UNAVAILABLE},
        {"[msg_insert.go:168 handler.(*Handler).MsgInsert] context canceled", ERR_UNAVAILABLE},
        {"FATAL: terminating connection due to administrator command (SQLSTATE 57P01)",
         ERR_UNAVAILABLE},
        {"FATAL: the database system is shutting down (SQLSTATE 57P03)", ERR_UNAVAILABLE},
        {"database is locked (5) (SQLITE_BUSY)", ERR_UNAVAILABLE},
        /* anything else is ours to look at */
        {"[msg_find.go:10 handler.MsgFind] something unexpected", ERR_INTERNAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum err_kind got =
            kind_of(MONGOC_ERROR_SERVER, MONGO_ERR_INTERNAL_ERROR, cases[i].message);
        if (got != cases[i].kind)
            fail_msg("case %zu: %s, expected %s: %s", i, error_kind_name(got),
                     error_kind_name(cases[i].kind), cases[i].message);
    }
}

static void codes_name_the_kind(void **state)
{
    (void)state;
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER, MONGO_ERR_DUPLICATE_KEY, "E11000"), ERR_CONFLICT);
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER, MONGO_ERR_SHUTDOWN_IN_PROGRESS, ""),
                     ERR_UNAVAILABLE);
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER, MONGO_ERR_NAMESPACE_NOT_FOUND, ""),
                     ERR_NOT_FOUND);
    assert_int_equal(kind_of(MONGOC_ERROR_STREAM, 0, "socket error"), ERR_UNAVAILABLE);
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER_SELECTION, 0, "No suitable servers"),
                     ERR_UNAVAILABLE);
    /* words count only where the code says nothing: a DuplicateKey's text
     * cannot make it anything but a conflict */
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER, MONGO_ERR_DUPLICATE_KEY, "context canceled"),
                     ERR_CONFLICT);
    /* and a real MongoDB error of another code is not read for them */
    assert_int_equal(kind_of(MONGOC_ERROR_SERVER, 2, "context canceled"), ERR_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_words_name_the_kind),
        cmocka_unit_test(codes_name_the_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
