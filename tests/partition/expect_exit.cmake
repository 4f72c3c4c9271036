# cmake -DEXPECT=<status> -DMATCH=<regex> -P expect_exit.cmake -- CMD ARGS...
# Runs CMD, fails unless it exits with EXPECT and its stderr matches MATCH:
# ctest alone cannot check both an exit status and a message.
set(cmd)
set(seen_sep FALSE)
foreach(i RANGE ${CMAKE_ARGC})
  if(seen_sep AND DEFINED CMAKE_ARGV${i})
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif("${CMAKE_ARGV${i}}" STREQUAL "--")
    set(seen_sep TRUE)
  endif()
endforeach()
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc ERROR_VARIABLE err
                OUTPUT_QUIET)
if(NOT rc EQUAL EXPECT)
  message(FATAL_ERROR "exit status ${rc}, expected ${EXPECT}; stderr: ${err}")
endif()
if(NOT err MATCHES "${MATCH}")
  message(FATAL_ERROR "stderr does not match '${MATCH}': ${err}")
endif()
