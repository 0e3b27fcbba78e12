# docker/Dockerfile and docker-compose.yml, checked without a Docker engine
# (none on the build machines). Registered in plain builds only: they check
# text and the shipped binary, which a sanitized build is not.
if(NOT ORGD_SANITIZE)
  set(DOCKER_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/docker)
  # structure: stages, non-root USER, HEALTHCHECK on /healthz, runtime-only packages, .dockerignore
  add_test(NAME docker.lint COMMAND ${DOCKER_TEST_DIR}/lint-dockerfile ${PROJECT_SOURCE_DIR})
  # every library orgd links (DT_NEEDED) is installed by the final stage
  add_test(NAME docker.runtime_libs COMMAND ${DOCKER_TEST_DIR}/check-runtime-libs
           ${PROJECT_SOURCE_DIR}/docker/Dockerfile $<TARGET_FILE:orgd>)
  # `docker-compose config` on docker-compose.yml, with a throwaway .env
  add_test(NAME docker.compose COMMAND ${DOCKER_TEST_DIR}/check-compose ${PROJECT_SOURCE_DIR})
  set_tests_properties(docker.lint docker.runtime_libs docker.compose PROPERTIES TIMEOUT 120)

  # hadolint is not packaged for Debian; used when someone has it on PATH
  find_program(HADOLINT_EXECUTABLE hadolint)
  if(HADOLINT_EXECUTABLE)
    add_test(NAME docker.hadolint COMMAND ${HADOLINT_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docker/Dockerfile)
  endif()
endif()
