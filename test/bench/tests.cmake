# test/bench — the tools of scripts/bench, and its smoke test. Included by
# test/CMakeLists.txt.
#
#   bench_bare_civetweb  civetweb with orgd's options and a bare /healthz: the
#                        reference for orgd's GET /healthz
#   bench_bare_mongo     the two round trips of an authorized read in a loop on
#                        a mongoc_client_pool (the reference for GET /org/{name});
#                        also seeds cloned organizations, counts them, drops the
#                        bench's database
#   bench_hash           one login's argon2id verify with orgd's lib/password.c and
#                        settings: the argon2 bound for the login scenario
#   bench_jwt            what one access token costs lib/jwt.c: a sign, a first
#                        verify and a verify of a token seen before, ES256 and HS256
#
#   bench.smoke          scripts/bench --smoke against this build: every scenario,
#                        about 5 s of load and tiny organization counts; passes when
#                        the bench ran and wrote its JSON. It asserts no performance
#                        target (machines vary): the full scripts/bench reports them.
#                        RUN_SERIAL: its load must not slow the timing-sensitive tests.
set(BENCH_DIR ${CMAKE_CURRENT_LIST_DIR})

add_executable(bench_bare_civetweb ${BENCH_DIR}/bare_civetweb.c)
target_compile_options(bench_bare_civetweb PRIVATE ${ORGD_WARNINGS})
target_include_directories(bench_bare_civetweb PRIVATE ${CIVETWEB_INCLUDE})
target_link_libraries(bench_bare_civetweb PRIVATE ${CIVETWEB_LIB} Threads::Threads)

add_executable(bench_bare_mongo ${BENCH_DIR}/bare_mongo.c)
target_compile_options(bench_bare_mongo PRIVATE ${ORGD_WARNINGS})
target_link_libraries(bench_bare_mongo PRIVATE PkgConfig::MONGOC Threads::Threads)

add_executable(bench_hash ${BENCH_DIR}/hashbench.c)
target_compile_options(bench_hash PRIVATE ${ORGD_WARNINGS})
target_link_libraries(bench_hash PRIVATE orgd_core)

add_executable(bench_jwt ${BENCH_DIR}/jwtbench.c)
target_compile_options(bench_jwt PRIVATE ${ORGD_WARNINGS})
target_link_libraries(bench_jwt PRIVATE orgd_core)

add_test(NAME bench.smoke
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/bench --smoke --build-dir ${CMAKE_BINARY_DIR})
set_tests_properties(bench.smoke PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)
