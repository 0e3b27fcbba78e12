# Metrics and logs (issue 5): unit tests of lib/metrics.c and lib/log.c, and
# the black-box test of /metrics and the JSON log lines. Included by
# test/CMakeLists.txt after orgd_unit_test and orgd_api_test are defined;
# these mirror them for sources under test/ops/.

function(orgd_ops_unit_test name)
  add_executable(${name} ${CMAKE_CURRENT_LIST_DIR}/${name}.c)
  target_compile_options(${name} PRIVATE ${ORGD_WARNINGS} -Wno-format-truncation)
  target_link_libraries(${name} PRIVATE orgd_core PkgConfig::CMOCKA Threads::Threads)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES TIMEOUT 60)
endfunction()


orgd_ops_unit_test(test_metrics)
orgd_ops_unit_test(test_log)
orgd_api_test(test_ops ops)
