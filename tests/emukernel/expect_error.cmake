# expect_error.cmake: cmake -DCASE=c -DEXPECT=text -DDIR=build -DMODULE=...
# -DDATA=... -P expect_error.cmake. Configures bad/ with CASE and passes
# when configuring fails with EXPECT in its messages (whitespace folded, as
# CMake wraps long messages).
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/bad -B ${DIR} -DCASE=${CASE}
          -DQV_MODULE=${MODULE} -DQUIVER_DATA_DIR=${DATA}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX REPLACE "[ \t\r\n]+" " " all "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "case ${CASE}: configuring succeeded; expected: ${EXPECT}")
endif()
string(FIND "${all}" "${EXPECT}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "case ${CASE}: expected '${EXPECT}' in:\n${all}")
endif()
message(STATUS "case ${CASE}: ${EXPECT}")
