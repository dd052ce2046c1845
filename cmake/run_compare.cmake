# Runs PROGRAM (under CHECKER if set), requires exit status 0, and compares its
# standard output with the file EXPECTED line by line.
if(CHECKER)
  separate_arguments(checker_args UNIX_COMMAND "${CHECKER}")
else()
  set(checker_args "")
endif()
execute_process(COMMAND ${checker_args} ${PROGRAM}
                RESULT_VARIABLE rc OUTPUT_VARIABLE got ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${rc}\nstdout:\n${got}\nstderr:\n${err}")
endif()
file(READ ${EXPECTED} want)
if(NOT got STREQUAL want)
  message(FATAL_ERROR "${PROGRAM}: output differs from ${EXPECTED}\n--- expected\n${want}\n--- got\n${got}")
endif()
message(STATUS "${PROGRAM}: output matches ${EXPECTED}")
