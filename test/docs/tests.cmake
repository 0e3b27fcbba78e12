# test/docs — the OpenAPI file, the contract check, the /docs page and the
# Markdown documents' links.
# Included by test/CMakeLists.txt (after the api.* tests are registered).
# One place for every check that the documentation is true: the spec is
# lint-clean, names exactly the routes the code serves, matches every
# exchange the black-box tests recorded, and renders in a browser; and every
# link in README.md and docs/ leads to a file and heading that exist. The C
# tests of docs.c itself are unit tests (test/unit/test_docs.c).
#
#   docs.openapi_lint       Redocly CLI lints service/openapi.yaml (redocly.yaml)
#   docs.routes_match_spec  the route table and the spec list the same method+path pairs
#   docs.browser            Swagger UI in headless Chromium: create, login, authorize, get;
#                           sign up, sign in, refresh, create by id, invite, log out; then
#                           accept the invitation in a second browser context
#   docs.mail_pages         the pages the links in mail open, in headless Chromium: an
#                           invitation accepted, a password reset, an address confirmed
#                           (links read from Mailpit), hostile tokens and the headers
#                           (both Chromium tests: Chromium, orgd's start and stop, the
#                           verdict from harness_browser.mjs)
#   docs.exchanges_reset    (fixture) empties the exchanges dir before the tests that record
#   docs.contract           every exchange the api.* tests and docs.browser recorded
#                           matches the spec; runs after them all
#   docs.links              every relative link and #fragment in README.md and
#                           docs/**/*.md names a file, and a heading, that exist
#
# The node tools come from package-lock.json (scripts/node-deps, the build's
# node_deps target).

find_program(NODE_EXECUTABLE node)
if(NOT NODE_EXECUTABLE)
  set(NODE_EXECUTABLE node) # the tests fail with "not found", saying what is missing
endif()
set(DOCS_DIR ${CMAKE_CURRENT_SOURCE_DIR}/docs)
set(DOCS_SPEC ${PROJECT_SOURCE_DIR}/service/openapi.yaml)

add_test(NAME docs.openapi_lint
         COMMAND ${NODE_EXECUTABLE} ${PROJECT_SOURCE_DIR}/node_modules/@redocly/cli/bin/cli.js
                 lint --config ${PROJECT_SOURCE_DIR}/redocly.yaml ${DOCS_SPEC}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.openapi_lint PROPERTIES TIMEOUT 60
  ENVIRONMENT "REDOCLY_TELEMETRY=off;REDOCLY_SUPPRESS_UPDATE_NOTICE=true;NO_COLOR=1")

# ---- the Markdown documents: every link between them resolves (node alone, no npm)
add_test(NAME docs.links
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/links.mjs ${PROJECT_SOURCE_DIR})
set_tests_properties(docs.links PROPERTIES TIMEOUT 30)

add_executable(print_routes ${DOCS_DIR}/print_routes.c)
target_compile_options(print_routes PRIVATE ${ORGD_WARNINGS})
target_link_libraries(print_routes PRIVATE orgd_service)
add_test(NAME docs.routes_match_spec
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/routes.mjs $<TARGET_FILE:print_routes> ${DOCS_SPEC})
set_tests_properties(docs.routes_match_spec PROPERTIES TIMEOUT 30)

# ---- the README's "Try it", run as written against an orgd it starts (the
# webhook walkthrough included: its receiver must print a verified event)
add_test(NAME docs.readme COMMAND /usr/bin/python3 ${DOCS_DIR}/readme.py $<TARGET_FILE:orgd>)
set_tests_properties(docs.readme PROPERTIES TIMEOUT 180)

# ---- the browser test of /docs; skipped (77) only when Chromium is not installed.
# It records its exchanges too, so the contract check covers /docs and /openapi.yaml.
add_test(NAME docs.browser
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/browser.mjs $<TARGET_FILE:orgd>
                 ${CMAKE_BINARY_DIR}/docs-screenshot.png)
# PROCESSORS 2: Chromium takes both cores; the API tests' timing checks should not share them
set_tests_properties(docs.browser PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 90 PROCESSORS 2
  ENVIRONMENT "ORGD_TEST_LOG_DIR=${TEST_LOG_DIR};ORGD_TEST_EXCHANGES_DIR=${TEST_EXCHANGES_DIR}")

# ---- the pages the links in mail open (/pages/...), in Chromium, with mail read
# through the suite's Mailpit; skipped (77) only when Chromium is not installed
add_test(NAME docs.mail_pages
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/mail_pages.mjs $<TARGET_FILE:orgd>)
set_tests_properties(docs.mail_pages PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 90 PROCESSORS 2
  ENVIRONMENT "ORGD_TEST_LOG_DIR=${TEST_LOG_DIR}")

# ---- the contract check: reset the recordings, let every test that records
# run, then check them all. A recording test is any api.* test and any test
# whose environment names ORGD_TEST_EXCHANGES_DIR.
add_test(NAME docs.exchanges_reset
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/contract.mjs --reset ${TEST_EXCHANGES_DIR})
set_tests_properties(docs.exchanges_reset PROPERTIES FIXTURES_SETUP orgd_exchanges TIMEOUT 30)

get_property(_docs_all_tests DIRECTORY PROPERTY TESTS)
set(_docs_recorders)
foreach(_t IN LISTS _docs_all_tests)
  get_test_property(${_t} ENVIRONMENT _env)
  if(_t MATCHES "^api\\." OR "${_env}" MATCHES "ORGD_TEST_EXCHANGES_DIR")
    list(APPEND _docs_recorders ${_t})
  endif()
endforeach()
if(_docs_recorders)
  set_property(TEST ${_docs_recorders} APPEND PROPERTY FIXTURES_REQUIRED orgd_exchanges)
endif()

add_test(NAME docs.contract
         COMMAND ${NODE_EXECUTABLE} ${DOCS_DIR}/contract.mjs ${DOCS_SPEC} ${TEST_EXCHANGES_DIR})
set_tests_properties(docs.contract PROPERTIES DEPENDS "${_docs_recorders}" TIMEOUT 60)

