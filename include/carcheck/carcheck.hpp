#ifndef CARCHECK_CARCHECK_HPP
#define CARCHECK_CARCHECK_HPP

// Convenience header: the whole public API.
#include <carcheck/body/base64_body.hpp>
#include <carcheck/body/multipart_file_body.hpp>
#include <carcheck/client.hpp>
#include <carcheck/connection_pool.hpp>
#include <carcheck/diagnostics.hpp>
#include <carcheck/error.hpp>
#include <carcheck/model.hpp>
#include <carcheck/options.hpp>
#include <carcheck/rate_limit.hpp>
#include <carcheck/retry_policy.hpp>
#include <carcheck/scheduler.hpp>
#include <carcheck/with_diagnostics.hpp>

#endif
