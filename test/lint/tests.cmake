# test/lint — style made mechanical (docs/STYLE.md): the banned functions,
# and clang-format over every C file. Included by test/CMakeLists.txt.
add_test(NAME lint.banned_functions COMMAND ${CMAKE_CURRENT_LIST_DIR}/banned-functions
         ${PROJECT_SOURCE_DIR})
add_test(NAME lint.format COMMAND ${CMAKE_CURRENT_LIST_DIR}/format ${PROJECT_SOURCE_DIR})
