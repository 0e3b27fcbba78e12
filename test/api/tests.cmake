# test/api — black-box tests: the real orgd (and orgd-faults) binary on a
# free port, over HTTP with libcurl, against the database named by
# ORGD_TEST_MONGO_URI, looked at with libmongoc. Each test records its
# exchanges for the contract check (test/docs). Included by
# test/CMakeLists.txt.
set(API_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(orgd_harness STATIC ${API_DIR}/harness_orgd.c ${API_DIR}/harness_http.c
            ${API_DIR}/harness_flows.c ${API_DIR}/harness_db.c ${API_DIR}/harness_raw.c
            ${API_DIR}/harness_keys.c ${API_DIR}/harness_mail.c
            ${API_DIR}/harness_events.c
            ${API_DIR}/harness_webhooks.c)
target_include_directories(orgd_harness PUBLIC ${API_DIR})
target_compile_options(orgd_harness PRIVATE ${ORGD_WARNINGS} -Wno-format-truncation)
target_compile_definitions(orgd_harness PRIVATE
  ORGD_BIN="$<TARGET_FILE:orgd>" ORGD_FAULTS_BIN="$<TARGET_FILE:orgd-faults>"
  ORGD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_libraries(orgd_harness PUBLIC orgd_core orgd_test_support PkgConfig::CMOCKA
                      PkgConfig::CURL PkgConfig::MONGOC PkgConfig::JANSSON)

# orgd_api_test(name [PART part ONLY pattern | SKIP pattern]...): the black-box
# test api/name.c, as one CTest test, or as one CTest test per PART
# (api.name.part), each running the cases whose names match its ONLY
# pattern or do not match its SKIP pattern (harness_filter.c): the long
# programs run in parts side by side under ctest -j.
function(orgd_api_test name)
  add_executable(${name} ${API_DIR}/${name}.c ${API_DIR}/harness_filter.c)
  target_compile_options(${name} PRIVATE ${ORGD_WARNINGS} -Wno-format-truncation)
  target_link_libraries(${name} PRIVATE orgd_harness)
  add_dependencies(${name} orgd orgd-faults)
  set(env "ORGD_TEST_LOG_DIR=${TEST_LOG_DIR};ORGD_TEST_EXCHANGES_DIR=${TEST_EXCHANGES_DIR}")
  if(NOT ARGN)
    add_test(NAME api.${name} COMMAND ${name})
    set_tests_properties(api.${name} PROPERTIES ENVIRONMENT "${env}" TIMEOUT 400)
    return()
  endif()
  set(args ${ARGN})
  while(args)
    list(POP_FRONT args kw_part part kw_filter pattern)
    if(kw_filter STREQUAL "ONLY")
      set(filter "ORGD_TEST_ONLY=${pattern}")
    else()
      set(filter "ORGD_TEST_SKIP=${pattern}")
    endif()
    add_test(NAME api.${name}.${part} COMMAND ${name})
    set_tests_properties(api.${name}.${part} PROPERTIES ENVIRONMENT "${env};${filter}" TIMEOUT 400)
  endwhile()
endfunction()

orgd_api_test(test_platform)      # health, routing errors, shutdown, settings, readiness
orgd_api_test(test_orgs)          # the organization lifecycle
orgd_api_test(test_recovery       # crashes at every step, the database going away
  PART crashes ONLY "crash_*" PART database SKIP "crash_*")
orgd_api_test(test_races)         # concurrent requests on one name or org
orgd_api_test(test_races_invitations # revoke, accept, re-invite, expiry, delete: one winner each
  PART accepts ONLY "*accept*" PART other SKIP "*accept*")
orgd_api_test(test_races_accounts # password, e-mail, role change against removal: one winner each
  PART passwords ONLY "*password*" PART other SKIP "*password*")
orgd_api_test(test_check)         # `orgd check` and --repair
orgd_api_test(test_hostile)       # clients that try to crash, starve or bloat it
orgd_api_test(test_hostile_slow)  # slow senders, slow bodies, slow headers: no starving, no spinning
orgd_api_test(test_metrics_logs)  # GET /metrics and the JSON log lines
orgd_api_test(test_accounts)      # sign-up, sign-in answers, failed logins, login metrics
orgd_api_test(test_sessions)      # refresh, reuse, logout on every instance, the session list
orgd_api_test(test_session_races) # refreshes at once; logout and password change racing refreshes
orgd_api_test(test_credentials)   # password and e-mail changes end the other sessions
orgd_api_test(test_throttle)      # failed-login, sign-up and org-creation limits
orgd_api_test(test_account_first) # organizations by id: roles, members, several orgs, paging
orgd_api_test(test_invitations)   # invitations: tokens used, expired, revoked, replaced; accepts
orgd_api_test(test_account_first_recovery # crashes at every account-first fault point; recovery
  PART crashes_create ONLY "crash_create_*" PART crashes_accept ONLY "crash_accept_*"
  PART crashes_people ONLY "crash_?e*" PART crashes_owner ONLY "crash_o*"
  PART crashes_invite ONLY "crash_i*" PART other SKIP "crash_*")
orgd_api_test(test_import)       # orgd import of the original's database: bcrypt, conflicts, kills
orgd_api_test(test_events)        # the audit log: what each operation writes, refused ones nothing
orgd_api_test(test_events_chain)  # chains verified in Python, listing, check, 20 writers at once
orgd_api_test(test_events_crashes # the audit log through a crash at every fault point
  PART org_first ONLY "crash_org_first_*" PART account_first ONLY "crash_account_first_*"
  PART accept ONLY "crash_accept_*" PART people ONLY "crash_?e*"
  PART password ONLY "crash_password*" PART other SKIP "crash_*")
orgd_api_test(test_webhooks)      # webhooks: signatures, endpoints, /test, redelivery, 50 failures
orgd_api_test(test_webhooks_outages # receivers down, orgd killed, two instances, a hanging endpoint
  PART kills ONLY "outage_kill_*" PART receivers ONLY "outage_receiver_*" PART other SKIP "outage_*")
orgd_api_test(test_webhooks_ssrf) # webhooks: no SSRF at creation or any attempt; https; subscriptions
orgd_api_test(test_original_clients) # the originals' clients: envelope, arrays, display names
orgd_api_test(test_roundtrips)    # database round trips per route, from each request's log line
orgd_api_test(test_signing_keys)  # ES256 keys: the JWKS, kids, PyJWT across a rotation, hostile headers
orgd_api_test(test_signing_keys_files) # key files: two instances rotating one, refused, broken, reloads
orgd_api_test(test_email)         # e-mail through Mailpit: invitations, resets, checks, hostile values
orgd_api_test(test_email_servers) # mail off, a mail server that is down, two instances, one outbox

# The suite runs with ctest -j twice the cores (scripts/test): most API tests
# wait (on crashes, timeouts, slow clients) more than they compute. Those
# that measure time or CPU take two slots, so fewer run beside them.
set_tests_properties(api.test_hostile api.test_hostile_slow api.test_throttle api.test_orgs
                     api.test_roundtrips api.test_sessions api.test_session_races
                     api.test_webhooks_outages.other
                     PROPERTIES PROCESSORS 2)

# Label "backend": the tests whose outcome hangs on what the database does
# when two writers meet or it goes away (the guarded transitions, unique
# indexes, its error wording, outages, concurrent chains and outboxes).
# CI runs them on FerretDB's PostgreSQL backend, and the rest sanitized on
# SQLite, so that each API test runs once there (scripts/test).
set_tests_properties(api.test_races api.test_races_invitations.accepts
                     api.test_races_invitations.other api.test_races_accounts.passwords
                     api.test_races_accounts.other
                     api.test_session_races api.test_recovery.database api.test_check
                     api.test_import api.test_throttle api.test_events_chain
                     api.test_email_servers
                     PROPERTIES LABELS backend)
