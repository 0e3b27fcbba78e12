# test/unit — cmocka tests of pure modules (lib/ and service/): no database,
# no orgd process. Included by test/CMakeLists.txt.
set(UNIT_DIR ${CMAKE_CURRENT_LIST_DIR})

# orgd_unit_test(name [sources...]): unit/name.c plus sources, linked with
# the service library (and through it the core library) and test/support.
function(orgd_unit_test name)
  add_executable(${name} ${UNIT_DIR}/${name}.c ${ARGN})
  target_compile_options(${name} PRIVATE ${ORGD_WARNINGS} -Wno-format-truncation)
  target_link_libraries(${name} PRIVATE orgd_service orgd_test_support PkgConfig::CMOCKA)
  target_compile_definitions(${name} PRIVATE ORGD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME unit.${name} COMMAND ${name})
endfunction()

# lib/
orgd_unit_test(test_config)
orgd_unit_test(test_names)
orgd_unit_test(test_netaddr)
orgd_unit_test(test_roles)
orgd_unit_test(test_password)
orgd_unit_test(test_jwt)
orgd_unit_test(test_keys)
orgd_unit_test(test_mail)
orgd_unit_test(test_requests)
orgd_unit_test(test_jsonin)
orgd_unit_test(test_worker_stack)
orgd_unit_test(test_metrics)
orgd_unit_test(test_log)
orgd_unit_test(test_store_errors)
target_link_libraries(test_store_errors PRIVATE PkgConfig::MONGOC)
set_tests_properties(unit.test_metrics unit.test_log PROPERTIES TIMEOUT 60)

# service/
orgd_unit_test(test_problem)
orgd_unit_test(test_routes)
orgd_unit_test(test_http)

# service/docs.c's allow-list, page and CSP. The test links its own docs.c
# object, built with ORGD_UNITTEST so that the statics declared in
# docs-private.h are reachable (service/testable.h); the rest comes from
# orgd_service, whose docs.o the linker then never needs.
add_library(orgd_docs_unittest OBJECT ${PROJECT_SOURCE_DIR}/service/docs.c)
target_compile_definitions(orgd_docs_unittest PRIVATE ORGD_UNITTEST ORGD_DOCS_DIR="${ORGD_DOCS_DIR}")
target_compile_options(orgd_docs_unittest PRIVATE ${ORGD_WARNINGS})
target_link_libraries(orgd_docs_unittest PRIVATE orgd_service)
orgd_unit_test(test_docs)
# ORGD_DOCS_DIR: where the build put the files the allow-list names
target_compile_definitions(test_docs PRIVATE ORGD_UNITTEST ORGD_DOCS_DIR="${ORGD_DOCS_DIR}")
target_link_libraries(test_docs PRIVATE orgd_docs_unittest)
