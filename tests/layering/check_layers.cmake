# Run by CTest (lint.layers): builds the layer probes of tests/layering/CMakeLists.txt.
#  - every "own headers" probe must build;
#  - every forbidden probe must fail to compile, and the only errors may be includes that
#    are out of reach ("No such file or directory"); a direct include of another layer must
#    fail on exactly that include.
include(${EXPECTATIONS})

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target podpath_layer_probes_allowed
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a layer's own headers do not compile with what the layer may include:\n${out}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${FORBIDDEN} -- ${KEEP_GOING}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
set(problems "")
if(rc EQUAL 0)
  string(APPEND problems "  the forbidden-include probes built\n")
endif()
foreach(probe IN LISTS FORBIDDEN)
  if(NOT out MATCHES "${probe}\\.dir/[^\n]*Error")
    string(APPEND problems "  ${probe} compiled: its include is within reach\n")
  endif()
endforeach()
string(REGEX MATCHALL "[^\n]*error:[^\n]*" errors "${out}")
foreach(error IN LISTS errors)
  if(NOT error MATCHES "fatal error: [^ ]+: No such file or directory")
    string(APPEND problems "  another error than a missing include: ${error}\n")
  endif()
endforeach()
foreach(pattern IN LISTS EXPECTED)
  if(NOT out MATCHES "${pattern}")
    string(APPEND problems "  not failed as expected: ${pattern}\n")
  endif()
endforeach()
if(problems)
  message(FATAL_ERROR "the build does not enforce the layers:\n${problems}build output:\n${out}")
endif()
list(LENGTH FORBIDDEN count)
message(STATUS "layers enforced: ${count} includes out of a layer's reach fail to compile; every layer's own headers compile")
