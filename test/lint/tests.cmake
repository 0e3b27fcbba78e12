# test/lint — style made mechanical (docs/STYLE.md): the banned functions,
# clang-format over every C file, and no include cycle among lib/'s modules.
# Included by test/CMakeLists.txt.
add_test(NAME lint.banned_functions COMMAND ${CMAKE_CURRENT_LIST_DIR}/banned-functions
         ${PROJECT_SOURCE_DIR})
add_test(NAME lint.format COMMAND ${CMAKE_CURRENT_LIST_DIR}/format ${PROJECT_SOURCE_DIR})
add_test(NAME lint.include_cycles COMMAND ${CMAKE_CURRENT_LIST_DIR}/include-cycles
         ${PROJECT_SOURCE_DIR})
