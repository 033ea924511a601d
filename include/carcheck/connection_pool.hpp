#ifndef CARCHECK_CONNECTION_POOL_HPP
#define CARCHECK_CONNECTION_POOL_HPP

#include <carcheck/config.hpp>
#include <carcheck/detail/endpoint.hpp>
#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/proxy_target.hpp>
#include <carcheck/options.hpp>
#include <carcheck/pool_counters.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace carcheck {

namespace detail {
class pool_impl;
struct op_state;

/// Completion of a name resolution: the addresses in the resolver's order.
using resolve_handler = std::function<void(error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;
/// Resolves host and port and calls the handler once (from any thread). For tests: a name
/// with addresses chosen by the test (refusing or black-holed ones first).
using resolve_function = std::function<void(const std::string& host, std::uint16_t port, resolve_handler)>;
} // namespace detail

/// Settings of a connection_pool: one endpoint (scheme, host, port), a bound, deadlines.
struct pool_options {
    /// Upper bound of open connections. 16 keeps a backend service's uploads flowing
    /// without hammering one API host; raise it for very high-latency links.
    std::size_t max_connections = 16;
    timeout_options timeouts{};
    /// Connect through this HTTP proxy (a CONNECT tunnel per connection); none when empty.
    std::optional<detail::proxy_target> proxy{};
    /// Internal, for tests: replaces the system resolver (getaddrinfo on Asio's thread).
    detail::resolve_function resolve{};
};

/// A connection lent by a connection_pool: move-only; when destroyed it goes back to the
/// pool if return_to_pool() was called after a clean exchange, otherwise it is closed.
/// Destroy it on the pool's executor (the client does); elsewhere the release is posted.
class pooled_connection {
public:
    pooled_connection() = default;
    pooled_connection(pooled_connection&& other) noexcept
        : pool_(std::move(other.pool_)), conn_(std::exchange(other.conn_, nullptr)),
          reusable_(other.reusable_)
    {
    }
    pooled_connection& operator=(pooled_connection&& other) noexcept
    {
        if (this != &other) {
            reset();
            pool_ = std::move(other.pool_);
            conn_ = std::exchange(other.conn_, nullptr);
            reusable_ = other.reusable_;
        }
        return *this;
    }
    pooled_connection(const pooled_connection&) = delete;
    pooled_connection& operator=(const pooled_connection&) = delete;
    ~pooled_connection() { reset(); }

    bool valid() const noexcept { return conn_ != nullptr; }
    detail::http_connection& get() noexcept { return *conn_; }
    detail::http_connection* operator->() noexcept { return conn_; }

    /// True when the connection served an earlier exchange (a failure before any response
    /// byte may then be the server's idle close racing our request).
    bool was_reused() const noexcept { return conn_ && conn_->exchanges > 0; }

    /// The exchange finished cleanly and the server allows keep-alive.
    void mark_reusable() noexcept { reusable_ = true; }

    /// Gives the connection back (reusable or closed, as marked).
    CARCHECK_DECL void reset() noexcept;

private:
    friend class detail::pool_impl;
    friend class connection_pool;
    pooled_connection(std::shared_ptr<detail::pool_impl> pool, detail::http_connection* c)
        : pool_(std::move(pool)), conn_(c)
    {
    }

    std::shared_ptr<detail::pool_impl> pool_;
    detail::http_connection* conn_ = nullptr;
    bool reusable_ = false;
};

/// A bounded pool of keep-alive HTTP/1.1 connections to one endpoint, over TLS (with
/// certificate and host name verification, SNI and session resumption) or plain TCP.
///
/// Threading: all state lives on one strand made from the executor given at construction;
/// members may be called from any thread (work is dispatched to the strand). Handlers run
/// on their associated executors.
class connection_pool {
public:
    using executor_type = asio::any_io_executor;

    /// `tls_context` is used for https endpoints; it must outlive the pool.
    CARCHECK_DECL connection_pool(asio::any_io_executor ex, detail::endpoint ep,
                                  pool_options opts, std::shared_ptr<asio::ssl::context> tls_context);
    CARCHECK_DECL ~connection_pool();
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    /// The pool's strand.
    CARCHECK_DECL executor_type get_executor() const noexcept;

    /// Lends a connection: an idle one (most recently used first), else a new one while
    /// below max_connections, else the first to be returned (FIFO). Honours per-operation
    /// cancellation; fails with error::timeout after timeouts.pool_wait.
    template <class CompletionToken = asio::deferred_t>
    auto async_get_connection(CompletionToken&& token = {})
    {
        return asio::async_initiate<CompletionToken, void(error_code, pooled_connection)>(
            [this](auto handler) { this->start_get_connection(std::move(handler)); }, token);
    }

    /// Closes idle connections, fails waiters with client_closed, cancels exchanges in flight.
    CARCHECK_DECL void close();

    CARCHECK_DECL pool_counters counters() const;

    /// For the client: the implementation object shared with in-flight operations.
    const std::shared_ptr<detail::pool_impl>& impl() const noexcept { return impl_; }

private:
    CARCHECK_DECL void
    start_get_connection(asio::any_completion_handler<void(error_code, pooled_connection)> h);

    std::shared_ptr<detail::pool_impl> impl_;
};

} // namespace carcheck

#ifdef CARCHECK_HEADER_ONLY
// The definitions need pool_impl complete; its header includes them at its end.
#include <carcheck/detail/pool_impl.hpp>
#endif

#endif
