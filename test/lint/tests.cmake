# test/lint — the banned-function check of STYLE.md. Included by
# test/CMakeLists.txt.
add_test(NAME lint.banned_functions COMMAND ${CMAKE_CURRENT_LIST_DIR}/banned-functions
         ${PROJECT_SOURCE_DIR})
