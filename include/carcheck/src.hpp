#ifndef CARCHECK_SRC_HPP
#define CARCHECK_SRC_HPP

// Include in exactly one translation unit of a program built with
// CARCHECK_SEPARATE_COMPILATION (src/carcheck.cpp does this for the CMake target).

#ifndef CARCHECK_SEPARATE_COMPILATION
#error "carcheck/src.hpp is for builds that define CARCHECK_SEPARATE_COMPILATION"
#endif

#include <carcheck/impl/error.ipp>
#include <carcheck/impl/model.ipp>
#include <carcheck/impl/recognition_reply.ipp>
#include <carcheck/impl/rate_limit.ipp>
#include <carcheck/impl/retry_policy.ipp>
#include <carcheck/impl/scheduler_core.ipp>
#include <carcheck/impl/scheduler.ipp>
#include <carcheck/impl/proxy.ipp>
#include <carcheck/impl/tls_socket.ipp>
#include <carcheck/impl/connector.ipp>
#include <carcheck/impl/connection_pool.ipp>
#include <carcheck/impl/client.ipp>

#endif
