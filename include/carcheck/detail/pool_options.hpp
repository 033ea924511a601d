#ifndef CARCHECK_DETAIL_POOL_OPTIONS_HPP
#define CARCHECK_DETAIL_POOL_OPTIONS_HPP

#include <carcheck/config.hpp>
#include <carcheck/detail/proxy_target.hpp>
#include <carcheck/options.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace carcheck::detail {

/// Completion of a name resolution: the addresses in the resolver's order.
using resolve_handler = std::function<void(error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;
/// Resolves host and port and calls the handler once (from any thread). For tests: a name
/// with addresses chosen by the test (refusing or black-holed ones first).
using resolve_function = std::function<void(const std::string& host, std::uint16_t port, resolve_handler)>;

/// Settings of the client's connection pool: a bound, the deadlines, the way out.
struct pool_options {
    std::size_t max_connections = 64; // set from client_options::max_connections
    bool thread_safe = true;          // client_options::thread_safe: work on a strand
    timeout_options timeouts{};
    /// Connect through this HTTP proxy (a CONNECT tunnel per connection); none when empty.
    std::optional<proxy_target> proxy{};
    /// For tests: replaces the system resolver (getaddrinfo on Asio's thread).
    resolve_function resolve{};
};

} // namespace carcheck::detail

#endif
