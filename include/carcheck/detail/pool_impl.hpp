#ifndef CARCHECK_DETAIL_POOL_IMPL_HPP
#define CARCHECK_DETAIL_POOL_IMPL_HPP

#include <carcheck/config.hpp>
#include <carcheck/detail/connector.hpp>
#include <carcheck/detail/endpoint.hpp>
#include <carcheck/detail/http_connection.hpp>
#include <carcheck/detail/pool_options.hpp>
#include <carcheck/detail/op_state.hpp>
#include <carcheck/options.hpp>
#include <carcheck/pool_counters.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

// The connection pool is an internal part of the client: one bounded pool of keep-alive
// HTTP/1.1 connections to the client's endpoint, over TLS (certificate and host-name
// verification, SNI, session resumption) or plain TCP. Users see it through the client's
// options and connection_counters().

namespace carcheck::detail {

/// A request waiting for a connection; lives in the waiting coroutine's frame.
struct pool_waiter {
    explicit pool_waiter(const serial_executor& s) : timer(s) {}
    boost::asio::steady_timer timer; // expires at the pool-wait deadline; cancelled to wake
    http_connection* conn = nullptr; // handed over by the pool
    error_code ec;                   // or the failure of the connect made for it
    std::string failure;
};

struct acquire_result {
    error_code ec;
    std::string failure;
    http_connection* conn = nullptr;
};

/// The pool's state. Every member function runs on serial() (a strand unless
/// pool_options::thread_safe is off).
class pool_impl : public std::enable_shared_from_this<pool_impl> {
public:
    CARCHECK_DECL pool_impl(boost::asio::any_io_executor ex, endpoint ep, pool_options opts,
                            std::shared_ptr<boost::asio::ssl::context> ctx);

    /// Lends an idle connection that looks alive, at once; nullptr when there is none (or
    /// the pool is closed): then acquire() waits for one. What the usual request takes,
    /// without the coroutine frame of acquire().
    CARCHECK_DECL http_connection* take_idle() noexcept;

    /// Lends a connection. Emitting `cancel` (on serial(); any type) ends a wait for one
    /// with operation_aborted.
    CARCHECK_DECL boost::asio::awaitable<acquire_result> acquire(boost::asio::cancellation_slot cancel);

    /// Takes a connection back: kept idle when `reusable`, else closed.
    CARCHECK_DECL void release(http_connection* c, bool reusable) noexcept;

    CARCHECK_DECL void close();

    /// Background work until close() or cancellation: closes connections idle for longer
    /// than timeouts.idle. Completes with success after close(), operation_aborted when
    /// cancelled, already_started while another run is active.
    CARCHECK_DECL void run(boost::asio::any_completion_handler<void(error_code)> handler);

    const serial_executor& serial() const noexcept { return serial_; }
    /// The executor the client was given: where handlers without one of their own complete.
    const boost::asio::any_io_executor& user_executor() const noexcept { return user_; }
    const pool_options& options() const noexcept { return opts_; }
    pool_counters counters() const noexcept;
    bool closed() const noexcept { return closed_; }

private:
    void spawn_connects();
    boost::asio::awaitable<void> connect_one();
    void start_run(boost::asio::any_completion_handler<void(error_code)> handler);
    boost::asio::awaitable<error_code> run_loop();
    void close_expired() noexcept;
    void hand_over(http_connection* c);
    void destroy(http_connection* c) noexcept;
    void remember_session(http_connection& c) noexcept;
    bool expired(const http_connection& c, steady_clock::time_point now) const noexcept;

    boost::asio::any_io_executor user_;
    serial_executor serial_;
    endpoint ep_;
    pool_options opts_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
    std::string port_text_;

    std::vector<std::unique_ptr<http_connection>> all_;
    std::vector<http_connection*> idle_;      // most recently used at the back
    std::vector<std::shared_ptr<connector>> connecting_; // being established, for close()
    std::deque<pool_waiter*> waiters_;        // FIFO
    // TLS sessions to resume, newest at the back. OpenSSL recommends using a TLS 1.3 session
    // for one resumption only, so each new connection takes its own (the last one is kept
    // and shared rather than falling back to a full handshake).
    std::vector<ssl_session_ptr> sessions_;
    boost::asio::steady_timer* run_timer_ = nullptr; // while run() is active
    bool running_ = false;
    bool run_cancelled_ = false;
    bool closed_ = false;
    pool_counters counters_;
};

inline pool_counters pool_impl::counters() const noexcept
{
    pool_counters c = counters_;
    c.open = all_.size();
    c.idle = idle_.size();
    c.in_use = all_.size() - idle_.size();
    c.connecting = connecting_.size();
    return c;
}

} // namespace carcheck::detail

#ifdef CARCHECK_HEADER_ONLY
#include <carcheck/impl/connection_pool.ipp>
#include <carcheck/impl/connector.ipp>
#endif

#endif
