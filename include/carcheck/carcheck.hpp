#ifndef CARCHECK_CARCHECK_HPP
#define CARCHECK_CARCHECK_HPP

// Convenience header: what a user of carcheck::client touches. It stays light (no Beast, no
// OpenSSL, no socket headers), so a file that uses the client compiles about as fast as one
// that includes Asio and Boost.JSON. The parts usable on their own include Beast and are
// included where they are used: <carcheck/body/multipart_file_body.hpp>,
// <carcheck/body/base64_body.hpp> (Beast Body types) and <carcheck/scheduler.hpp>.
#include <carcheck/base64_encoding.hpp>
#include <carcheck/client.hpp>
#include <carcheck/diagnostics.hpp>
#include <carcheck/error.hpp>
#include <carcheck/model.hpp>
#include <carcheck/options.hpp>
#include <carcheck/pool_counters.hpp>
#include <carcheck/proxy.hpp>
#include <carcheck/rate_limit.hpp>
#include <carcheck/retry_policy.hpp>
#include <carcheck/scheduler_options.hpp>
#include <carcheck/with_diagnostics.hpp>

#endif
