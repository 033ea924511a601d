# Warning and sanitizer flags for the project's own targets (never forced on consumers).
function(carcheck_project_flags target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 reports false -Wmismatched-new-delete on Asio's coroutine frames (which pair
    # their own operator new/delete) depending on inlining; see README, "Limits".
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(CARCHECK_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(CARCHECK_SANITIZERS)
    target_compile_options(${target} PRIVATE -fsanitize=${CARCHECK_SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${CARCHECK_SANITIZERS})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # The sanitizers' instrumentation makes g++ 12's flow analysis report uninitialised
      # values inside Asio and Beast that the unsanitized build does not see.
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
    if(CARCHECK_SANITIZERS MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang"
       AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 15)
      # clang 14's -fsanitize=function cannot emit coroutine functions ("Cannot represent a
      # difference across sections", llvm-project#49689); the other UBSan checks stay on.
      target_compile_options(${target} PRIVATE -fno-sanitize=function)
    endif()
    if(CARCHECK_SANITIZERS MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # g++ warns that TSan does not model std::atomic_thread_fence, which Asio uses.
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
  endif()
endfunction()

# Precompiled header shared by the heavy targets: Asio, Beast, SSL and JSON parse once.
function(carcheck_precompile target)
  target_precompile_headers(${target} PRIVATE
    <boost/asio.hpp> <boost/asio/ssl.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>
    <boost/beast/ssl.hpp> <boost/json.hpp>)
endfunction()
